/*
 * The bench's traces, shared by the target bench (bench/bench_main.c) and
 * the host bench (bench/host_bench.c) so both run the very same requests.
 * The includer defines do_malloc, do_free, do_realloc, do_memalign (each
 * measures one call and counts failures) and the counters live_bytes and
 * peak_live.  Included once per program: everything here is static.
 */
#ifndef BENCH_TRACES_H
#define BENCH_TRACES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static void *do_malloc(size_t n);
static void do_free(void *p);
static void *do_realloc(void *p, size_t n);
static void *do_memalign(size_t a, size_t n);
static size_t live_bytes, peak_live;

/* ---------------------------------------------------------------- traces */

static uint32_t rng;
static uint32_t rnd(void)
{
    uint32_t x = rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng = x;
}

/* Sizes spread log-uniformly over [lo, hi): a random octave, then a
 * uniform size inside it. */
static size_t size_log(size_t lo, size_t hi)
{
    unsigned octaves = 0;
    while ((lo << (octaves + 1)) <= hi)
        octaves++;
    size_t base = lo << (rnd() % octaves);
    size_t s = base + rnd() % base;
    return s < hi ? s : hi - 1;
}

#define MAX_SLOTS 4096
typedef struct slot {
    void *p;
    size_t n;
} slot;
static slot slots[MAX_SLOTS];
static unsigned live;

static void live_add(void *p, size_t n)
{
    slots[live].p = p;
    slots[live].n = n;
    live++;
    live_bytes += n;
    if (live_bytes > peak_live)
        peak_live = live_bytes;
}

static void live_free(unsigned i)
{
    do_free(slots[i].p);
    live_bytes -= slots[i].n;
    slots[i] = slots[--live];
}

static void free_all(void)
{
    while (live > 0)
        live_free(live - 1);
}

typedef struct mix {
    unsigned ops, max_live, realloc_pct;
    size_t lo, hi, live_cap;
    bool aligned;
} mix;

/* The live set wanders: a new target count every 500 operations; below it
 * mostly allocate, above it free. */
static void run_mix(const mix *m)
{
    unsigned target = 1;
    for (unsigned op = 0; op < m->ops; op++) {
        if (op % 500 == 0)
            target = 1 + rnd() % m->max_live;
        uint32_t r = rnd(), pick = rnd();
        size_t n = size_log(m->lo, m->hi);
        size_t a = (size_t)8 << (rnd() % 8);
        if (live > 0 && r % 100 < m->realloc_pct) {
            unsigned i = pick % live;
            if (live_bytes - slots[i].n + n > m->live_cap)
                n = slots[i].n;
            void *q = do_realloc(slots[i].p, n);
            if (q != NULL) {
                live_bytes = live_bytes - slots[i].n + n;
                if (live_bytes > peak_live)
                    peak_live = live_bytes;
                slots[i].p = q;
                slots[i].n = n;
            }
        } else if (live < target && live < MAX_SLOTS && live_bytes + n <= m->live_cap &&
                   (r >> 8) % 8 != 0) {
            void *p = m->aligned ? do_memalign(a, n) : do_malloc(n);
            if (p != NULL)
                live_add(p, n);
        } else if (live > 0) {
            live_free(pick % live);
        }
    }
    free_all();
}

static unsigned frag_successes;

/* Fill the arena alternating 16- and 256-byte blocks, free the 256s, then
 * count how many 512-byte requests succeed. */
static void run_frag(void)
{
    static void *big[MAX_SLOTS / 2];
    unsigned nbig = 0;
    while (live < MAX_SLOTS - 1 && nbig < MAX_SLOTS / 2) {
        void *s = do_malloc(16);
        if (s == NULL)
            break;
        live_add(s, 16);
        void *b = do_malloc(256);
        if (b == NULL)
            break;
        big[nbig++] = b;
        live_bytes += 256;
        if (live_bytes > peak_live)
            peak_live = live_bytes;
    }
    for (unsigned i = 0; i < nbig; i++) {
        do_free(big[i]);
        live_bytes -= 256;
    }
    while (live < MAX_SLOTS) {
        void *p = do_malloc(512);
        if (p == NULL)
            break;
        live_add(p, 512);
        frag_successes++;
    }
    free_all();
}

/* Thousands of small free holes (each pinned by a small block in use),
 * then larger requests: first-fit lists have to walk past the holes. */
static void run_holes(void)
{
    static void *holes[2000];
    for (unsigned i = 0; i < 2000; i++) {
        size_t n = 8 + rnd() % 41;
        holes[i] = do_malloc(n);
        void *pin = do_malloc(16);
        if (pin != NULL)
            live_add(pin, 16);
        if (holes[i] != NULL)
            live_bytes += n;
    }
    for (unsigned i = 0; i < 2000; i++)
        if (holes[i] != NULL)
            do_free(holes[i]);
    unsigned pinned = live;
    live_bytes = (size_t)pinned * 16;
    for (unsigned op = 0; op < 4000; op++) {
        uint32_t r = rnd();
        size_t n = 128 + rnd() % 897;
        if (live - pinned < 100 && (r & 1)) {
            void *p = do_malloc(n);
            if (p != NULL)
                live_add(p, n);
        } else if (live > pinned) {
            live_free(pinned + r % (live - pinned));
        }
    }
    free_all();
}

/* ---------------------------------------------------------------- table */

typedef struct trace {
    const char *name;
    size_t arena;       /* usable bytes; 0: the whole heap region */
    mix m;              /* run_mix parameters, when fn is NULL */
    void (*fn)(void);
    uint32_t seed;
} trace;

#define KiB ((size_t)1024)
#define NOCAP ((size_t)-1)
static const trace traces[] = {
    { "mixed", 256 * KiB, { 20000, 384, 10, 8, 1025, NOCAP, false }, NULL, 0x1234567u },
    { "small", 256 * KiB, { 20000, 512, 0, 8, 65, NOCAP, false }, NULL, 0x2345678u },
    { "frag", 256 * KiB, { 0 }, run_frag, 0x3456789u },
    { "holes", 512 * KiB, { 0 }, run_holes, 0x456789au },
    { "aligned", 256 * KiB, { 10000, 200, 0, 8, 513, NOCAP, true }, NULL, 0x56789abu },
    { "mixed-16k", 16 * KiB, { 20000, 64, 10, 8, 1025, 6 * KiB, false }, NULL, 0x6789abcu },
    { "mixed-4m", 0, { 20000, 64, 10, 8, 1025, 6 * KiB, false }, NULL, 0x6789abcu },
    /* The 256 KiB traces again over the whole region (4 MiB on the
     * default board): a bound that grows with the region shows here. */
    { "mixed.4m", 0, { 20000, 384, 10, 8, 1025, NOCAP, false }, NULL, 0x1234567u },
    { "small.4m", 0, { 20000, 512, 0, 8, 65, NOCAP, false }, NULL, 0x2345678u },
    { "aligned.4m", 0, { 10000, 200, 0, 8, 513, NOCAP, true }, NULL, 0x56789abu },
};
#define NTRACES (sizeof traces / sizeof traces[0])

#endif
