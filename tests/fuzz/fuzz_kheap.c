/*
 * libFuzzer harness for kheap.
 *
 * The input is a little program: a 9-byte header configures three
 * instances, then each byte picks an instance and an operation, and the
 * bytes after it are the operation's arguments.  Running out of input ends
 * the program (every read past the end yields 0).
 *
 * Each instance runs on its own region shim (kheap_region_init over a static
 * buffer, 64 KiB to 4 MiB, page size 64..4096) wrapped by a provider that
 * refuses map or grow on demand, sometimes with grow hidden, with optional
 * nesting lock hooks and a panic hook that aborts on any report outside
 * the misuse ops (see "misuse" below: each of those must make exactly one
 * report, of the right kind, at the pointer passed).  Under ASan the pages the
 * region has not handed out are poisoned, so the allocator touching a page
 * it does not hold is reported; fresh pages are filled with garbage.
 *
 * A shadow model keeps every live block's address, size and stamp seed.
 * Checked: the stamp before free/realloc and the kept prefix after realloc,
 * zeroes from calloc, alignment, usable_size >= size, NULL only where the
 * provider refused or the request cannot fit the region (and always for
 * huge sizes and bad alignments), a failed realloc leaves its block intact,
 * kheap_check after every operation, stats against the model and against
 * the pages the provider handed out, walk and dump against the model, at
 * most one empty spare heap, and every page back after kheap_destroy.
 *
 * Any violation prints what failed and aborts, which libFuzzer reports as
 * a crash.  Build with -DFUZZ_REPLAY_MAIN for a plain program that runs each
 * file named on its command line (gcc, no libFuzzer needed); with
 * FUZZ_TRACE=1 in the environment it prints every operation.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../alloc/kheap.h"
#include "../../alloc/region.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(FUZZ_ASAN)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(a, n) ASAN_POISON_MEMORY_REGION((a), (n))
#define UNPOISON(a, n) ASAN_UNPOISON_MEMORY_REGION((a), (n))
#else
#define POISON(a, n) ((void)(a), (void)(n))
#define UNPOISON(a, n) ((void)(a), (void)(n))
#endif

/* The harness's byte loops (stamps, zero checks) would cost a coverage
 * callback per byte and teach the fuzzer nothing. */
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))
#else
#define NO_COVERAGE
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Header bytes of a block in use (older headers have no macro: one word). */
#ifdef KHEAP_BLOCK_OVERHEAD
#define BLOCK_OVERHEAD KHEAP_BLOCK_OVERHEAD
#else
#define BLOCK_OVERHEAD sizeof(size_t)
#endif

/* The misuse op that overflows a block into the next block's header leaves
 * the instance possibly corrupt and ends the input.  -DFUZZ_OVERFLOW=0
 * builds it as a no-op (its argument bytes are still read), so the rest of
 * the harness can run while an overflow finding is open. */
#ifndef FUZZ_OVERFLOW
#define FUZZ_OVERFLOW 1
#endif

#define WORD sizeof(size_t)
/* The header words right below a payload: the size word, and in the full
 * tier a check word below it (README, "Blocks"). */
#define HDR_BYTES (WORD * (1 + KHEAP_HARDEN))
#define FLAG_FREE ((size_t)1)
#define FLAG_PREV_FREE ((size_t)2)
#define FLAG_SENTINEL ((size_t)4)
#define FLAG_MASK ((size_t)7)

#define NINST 3
#define REGION_MAX ((size_t)4 << 20)
#define BUF_BYTES (REGION_MAX + 4096)
#define MIN_PAGE 64
#define MAX_PAGES (REGION_MAX / MIN_PAGE)
#define MAX_LIVE 384
#define MAX_WALK 4096
#define BRK_CAP ((size_t)256 << 10)
#define DUMP_CAP ((size_t)1 << 20)

/* ------------------------------------------------------------ input */

typedef struct input {
    const uint8_t *p;
    size_t n, i;
} input;

static bool in_more(const input *in) { return in->i < in->n; }
static uint8_t in_u8(input *in) { return in->i < in->n ? in->p[in->i++] : 0; }
static uint16_t in_u16(input *in)
{
    uint16_t lo = in_u8(in);
    return (uint16_t)(lo | (uint16_t)in_u8(in) << 8);
}
static uint32_t in_u32(input *in)
{
    uint32_t lo = in_u16(in);
    return lo | (uint32_t)in_u16(in) << 16;
}

/* ------------------------------------------------------------ state */

typedef struct live {
    unsigned char *p;
    size_t size;    /* bytes stamped with seed */
    uint32_t seed;
} live;

typedef struct inst {
    int id;
    unsigned char *buf;
    kheap_region *region;
    kheap_provider real;
    unsigned char *rstart, *rend;  /* the region's page-rounded bounds */
    size_t region_bytes, page_size;
    unsigned char garbage;
    bool grow_hidden, use_lock;
    /* provider wrapper */
    unsigned map_mode, grow_mode;  /* 0 ok, 1 fail next, 2 fail all, 3 fail odd calls */
    unsigned long map_calls, grow_calls, refusals;
    size_t held;                   /* pages handed to the instance, not returned */
    uint8_t held_map[MAX_PAGES / 8];
    int lock_depth;
    /* sbrk model */
    uintptr_t brk_start, brk;
    uintptr_t lo_held, hi_held;    /* bounds of every page handed out since create */
    /* instance and shadow model */
    kheap *h;
    live blocks[MAX_LIVE];
    size_t nlive;
    /* misuse */
    unsigned char *freed;          /* the block freed last, while nothing can have reused it */
    size_t freed_size;
    bool expect_report;            /* a misuse call is running: the panic hook records */
    int reports;
    const char *report_what;
    const void *report_addr;
    bool overflowed;               /* the instance may be corrupt: no more calls but destroy */
    bool overflow_silent;          /* and it was: a forged header passed the basic tests */
} inst;

static unsigned char bufs[NINST][BUF_BYTES] __attribute__((aligned(4096)));
static inst insts[NINST];
static uint32_t seed_counter;
static unsigned long op_index;
static const char *op_name = "setup";
static bool trace;

static void die(const inst *s, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void die(const inst *s, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kheap fuzz: op %lu (%s) on instance %d: ", op_index, op_name,
            s != NULL ? s->id : -1);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define ENSURE(s, cond, ...) do { if (!(cond)) die((s), __VA_ARGS__); } while (0)

static void tracef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tracef(const char *fmt, ...)
{
    if (!trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ stamps */

static inline unsigned char stamp_byte(uint32_t seed, size_t i)
{
    return (unsigned char)(seed + (uint32_t)i * 7u + (uint32_t)(i >> 8) * 13u);
}

NO_COVERAGE static void stamp(unsigned char *p, size_t from, size_t to, uint32_t seed)
{
    for (size_t i = from; i < to; i++)
        p[i] = stamp_byte(seed, i);
}

NO_COVERAGE static void verify(const inst *s, const unsigned char *p, size_t n, uint32_t seed, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != stamp_byte(seed, i))
            die(s, "%s: block %p byte %zu of %zu is 0x%02x, expected 0x%02x", what,
                (const void *)p, i, n, p[i], stamp_byte(seed, i));
}

static inline unsigned char brk_byte(uintptr_t a) { return (unsigned char)(a ^ (a >> 8) ^ 0x5a); }

/* ------------------------------------------------------------ provider */

static size_t page_index(const inst *s, const void *addr)
{
    return (size_t)((const unsigned char *)addr - s->rstart) / s->page_size;
}

static bool held_bit(const inst *s, size_t i) { return (s->held_map[i / 8] >> (i % 8)) & 1u; }

static void set_held(inst *s, size_t first, size_t n, bool on)
{
    for (size_t i = first; i < first + n; i++) {
        ENSURE(s, held_bit(s, i) != on, "page %zu %s twice", i, on ? "handed out" : "given back");
        if (on)
            s->held_map[i / 8] |= (uint8_t)(1u << (i % 8));
        else
            s->held_map[i / 8] &= (uint8_t)~(1u << (i % 8));
    }
}

static bool inject(unsigned *mode, unsigned long call)
{
    switch (*mode) {
    case 1: *mode = 0; return true;
    case 2: return true;
    case 3: return (call & 1) != 0;
    default: return false;
    }
}

/* The lowest address map/grow may hand out: the page above the break. */
static uintptr_t brk_floor(const inst *s)
{
    uintptr_t ps = s->page_size;
    return (s->brk + ps - 1) & ~(ps - 1);
}

static void took_pages(inst *s, void *p, size_t pages)
{
    size_t bytes = pages * s->page_size;
    unsigned char *c = p;
    ENSURE(s, ((uintptr_t)c & (s->page_size - 1)) == 0, "provider run %p not page aligned", p);
    ENSURE(s, c >= s->rstart && bytes <= (size_t)(s->rend - c), "provider run %p outside region", p);
    ENSURE(s, (uintptr_t)c >= brk_floor(s), "provider run %p below the break %p", p, (void *)s->brk);
    set_held(s, page_index(s, c), pages, true);
    if (s->lo_held == 0 || (uintptr_t)c < s->lo_held)
        s->lo_held = (uintptr_t)c;
    if ((uintptr_t)c + bytes > s->hi_held)
        s->hi_held = (uintptr_t)c + bytes;
    UNPOISON(c, bytes);
    memset(c, s->garbage, bytes);
    s->held += pages;
}

static void *w_map(void *ctx, size_t pages)
{
    inst *s = ctx;
    ENSURE(s, pages > 0, "map(0)");
    if (inject(&s->map_mode, s->map_calls++)) {
        s->refusals++;
        return NULL;
    }
    void *p = s->real.map(s->real.ctx, pages);
    if (p == NULL) {
        s->refusals++;
        return NULL;
    }
    took_pages(s, p, pages);
    return p;
}

static void w_unmap(void *ctx, void *addr, size_t pages)
{
    inst *s = ctx;
    unsigned char *c = addr;
    size_t bytes = pages * s->page_size;
    ENSURE(s, pages > 0, "unmap(%p, 0)", addr);
    ENSURE(s, ((uintptr_t)c & (s->page_size - 1)) == 0, "unmap(%p) not page aligned", addr);
    ENSURE(s, c >= s->rstart && pages <= (size_t)(s->rend - c) / s->page_size,
           "unmap(%p, %zu) outside region", addr, pages);
    set_held(s, page_index(s, c), pages, false);
    memset(c, 0xdd, bytes);
    POISON(c, bytes);
    s->real.unmap(s->real.ctx, addr, pages);
    s->held -= pages;
}

static bool w_grow(void *ctx, void *end, size_t pages)
{
    inst *s = ctx;
    unsigned char *c = end;
    ENSURE(s, pages > 0, "grow(%p, 0)", end);
    ENSURE(s, ((uintptr_t)c & (s->page_size - 1)) == 0 && c > s->rstart && c <= s->rend,
           "grow(%p) end not a page boundary in the region", end);
    ENSURE(s, held_bit(s, page_index(s, c) - 1), "grow(%p): the page before end is not held", end);
    if (inject(&s->grow_mode, s->grow_calls++) || !s->real.grow(s->real.ctx, end, pages)) {
        s->refusals++;
        return false;
    }
    took_pages(s, end, pages);
    return true;
}

/* The region's answer, checked against the model of what this instance
 * holds. */
static bool w_owns(void *ctx, const void *addr)
{
    inst *s = ctx;
    const unsigned char *c = addr;
    bool held = c >= s->rstart && c < s->rend && held_bit(s, page_index(s, (void *)(uintptr_t)c));
    bool real = s->real.owns(s->real.ctx, addr);
    ENSURE(s, real == held, "owns(%p) says %d, the model %d", addr, real, held);
    return real;
}

static uintptr_t w_lock(void *ctx)
{
    inst *s = ctx;
    return (uintptr_t)s->lock_depth++;
}

static void w_unlock(void *ctx, uintptr_t saved)
{
    inst *s = ctx;
    ENSURE(s, s->lock_depth > 0 && (uintptr_t)(s->lock_depth - 1) == saved,
           "unlock(%zu) at depth %d", (size_t)saved, s->lock_depth);
    s->lock_depth--;
}

/* Outside a misuse call any report is a bug; inside one the report is
 * recorded for misuse_check(), and a second one fails at once. */
static void w_panic(void *ctx, kheap_misuse code, const void *addr)
{
    inst *s = ctx;
    const char *what = kheap_misuse_text(code);
    if (!s->expect_report)
        die(s, "panic hook called without misuse: %s (%p)", what, addr);
    ENSURE(s, s->lock_depth == 0, "panic hook called with the lock held (depth %d): %s (%p)",
           s->lock_depth, what, addr);
    ENSURE(s, s->reports == 0, "a second report for one misuse call: '%s' (%p) after '%s' (%p)",
           what, addr, s->report_what, s->report_addr);
    s->reports++;
    s->report_what = what;
    s->report_addr = addr;
}

/* ------------------------------------------------------------ set-up */

static const size_t region_sizes[8] = {
    (size_t)1 << 20, (size_t)2 << 20, (size_t)3 << 20, (size_t)4 << 20,
    (size_t)1 << 20, (size_t)4 << 20, (size_t)256 << 10, (size_t)64 << 10,
};
static const size_t heap_pages_opt[8] = {0, 1, 2, 3, 4, 8, 32, 128};
static const size_t threshold_opt[8] = {0, 64, 200, 1024, 4096, 16384, 65536, (size_t)1 << 20};

static void region_setup(inst *s, uint8_t a, uint8_t c)
{
    s->page_size = (size_t)1 << (6 + (a & 7) % 7);
    s->grow_hidden = (a & 8) != 0;
    s->use_lock = (a & 16) != 0;
    s->region_bytes = region_sizes[a >> 5];
    s->garbage = (unsigned char)(a ^ c ^ 0xa5);
    unsigned char *start = s->buf + (size_t)c * 16;
    unsigned char *end = start + s->region_bytes;

    /* Between inputs the whole buffer is poisoned: open just enough for the
     * region's bookkeeping (64 bytes, then an owner byte and a bit per page
     * in groups of 32 pages), after rounding the start up to a page. */
    size_t pages_max = s->region_bytes / s->page_size;
    size_t meta_room = 64 + 36 * ((pages_max + 31) / 32) + s->page_size;
    UNPOISON(start, meta_room);
    s->region = kheap_region_init(start, end, s->page_size);
    ENSURE(s, s->region != NULL, "kheap_region_init(%p, %p, %zu) failed", (void *)start,
           (void *)end, s->page_size);
    uintptr_t mask = s->page_size - 1;
    s->rstart = (unsigned char *)s->region;
    s->rend = (unsigned char *)((uintptr_t)end & ~mask);
    ENSURE(s, (uintptr_t)s->rstart == (((uintptr_t)start + mask) & ~mask),
           "region %p does not start at the first page boundary of %p", (void *)s->rstart,
           (void *)start);
    /* The break starts right above the bookkeeping. */
    unsigned char *meta_end = kheap_region_sbrk(s->region, 0);
    size_t pages = (size_t)(s->rend - s->rstart) / s->page_size;
    size_t meta_bytes = 64 + 36 * ((pages + 31) / 32);
    ENSURE(s, meta_end == s->rstart + ((meta_bytes + mask) & ~mask),
           "sbrk(0) %p is not the end of the meta pages", (void *)meta_end);
    if (s->garbage & 1) {
        /* O(pages): not on every input. */
        kheap_region_usage u;
        kheap_region_usage_get(s->region, &u);
        ENSURE(s, u.page_size == s->page_size && u.pages_total == pages && u.pages_mapped == 0 &&
                  u.pages_brk == 0 && u.pages_meta * s->page_size == (size_t)(meta_end - s->rstart) &&
                  u.pages_free == u.pages_total - u.pages_meta && u.largest_free_run == u.pages_free,
               "fresh region usage is off");
    }
    POISON(start, (size_t)(s->rstart - start));
    if (meta_end < start + meta_room)
        POISON(meta_end, (size_t)(start + meta_room - meta_end));
    s->real = kheap_region_provider(s->region);
    ENSURE(s, s->real.page_size == s->page_size && s->real.grow != NULL, "region provider is off");
    memset(s->held_map, 0, sizeof s->held_map);
    s->held = 0;
    s->brk_start = s->brk = (uintptr_t)meta_end;
}

static void instance_create(inst *s, uint8_t b)
{
    kheap_config cfg = {
        .provider = {
            .ctx = s,
            .page_size = s->page_size,
            .map = w_map,
            .unmap = w_unmap,
            .grow = s->grow_hidden ? NULL : w_grow,
            .owns = w_owns,
            .unmap_spans_runs = true,
        },
        .panic = w_panic,
        .panic_ctx = s,
        .heap_pages = heap_pages_opt[b & 7],
        .large_threshold = threshold_opt[(b >> 3) & 7],
    };
    if (s->use_lock) {
        cfg.lock = w_lock;
        cfg.unlock = w_unlock;
        cfg.lock_ctx = s;
    }
    if (b & 64)
        s->map_mode = 1;
    unsigned long refusals = s->refusals;
    s->nlive = 0;
    s->freed = NULL;
    s->overflowed = false;
    s->overflow_silent = false;
    s->lo_held = s->hi_held = 0;
    s->h = kheap_create(&cfg);
    tracef("  create inst %d page %zu region %zu grow %s lock %s heap_pages %zu threshold %zu -> %p\n",
           s->id, s->page_size, s->region_bytes, s->grow_hidden ? "hidden" : "yes",
           s->use_lock ? "yes" : "no", cfg.heap_pages, cfg.large_threshold, (void *)s->h);
    ENSURE(s, s->h != NULL || s->refusals != refusals, "kheap_create failed with pages to spare");
    ENSURE(s, s->h != NULL || s->held == 0, "failed kheap_create kept %zu pages", s->held);
}

/* After an overflow that went unreported (a forged header that looks like
 * a block in use, which the basic tier's O(1) tests cannot tell from the
 * truth) free may have written wherever the forged size led: past the
 * block's own heap into the next one's header when heaps lie side by side,
 * the home heap's included, which holds the instance and its provider.
 * Such an instance is not destroyed (destroy would follow its heap list and
 * call the provider it holds); its pages go back from the model, so the
 * region is whole for the next input. */
static void release_from_model(inst *s)
{
    for (size_t i = 0; i < MAX_PAGES && s->held != 0; i++)
        if (held_bit(s, i))
            w_unmap(s, s->rstart + i * s->page_size, 1);
}

static void instance_destroy(inst *s)
{
    if (s->overflow_silent)
        release_from_model(s);
    else
        kheap_destroy(s->h);
    s->h = NULL;
    s->nlive = 0;
    s->freed = NULL;
    ENSURE(s, s->held == 0, "kheap_destroy kept %zu pages", s->held);
}

/* Gives the break back, checks the region is whole again and poisons its
 * bookkeeping: the buffer is then wholly poisoned, as between inputs. */
static void region_teardown(inst *s)
{
    if (s->brk != s->brk_start) {
        void *r = kheap_region_sbrk(s->region, -(intptr_t)(s->brk - s->brk_start));
        ENSURE(s, (uintptr_t)r == s->brk, "sbrk back to the start returned %p", r);
        POISON((void *)s->brk_start, s->brk - s->brk_start);
        s->brk = s->brk_start;
    }
    kheap_region_usage u;
    kheap_region_usage_get(s->region, &u);
    ENSURE(s, u.pages_mapped == 0 && u.pages_brk == 0 && u.pages_free == u.pages_total - u.pages_meta &&
              u.largest_free_run == u.pages_free,
           "region not whole at the end: mapped %zu brk %zu free %zu of %zu", u.pages_mapped,
           u.pages_brk, u.pages_free, u.pages_total - u.pages_meta);
    POISON(s->rstart, s->brk_start - (uintptr_t)s->rstart);
}

/* ------------------------------------------------------------ model checks */

static void check_instance(inst *s)
{
    ENSURE(s, s->lock_depth == 0, "lock depth %d after the call", s->lock_depth);
    if (s->h == NULL) {
        ENSURE(s, s->held == 0, "no instance but %zu pages held", s->held);
        return;
    }
    const char *why = NULL;
    if (!kheap_check(s->h, &why))
        die(s, "kheap_check: %s", why != NULL ? why : "(no reason)");
    kheap_stats st;
    kheap_stats_get(s->h, &st);
    ENSURE(s, st.blocks_in_use == s->nlive, "stats blocks_in_use %zu, model %zu", st.blocks_in_use,
           s->nlive);
    ENSURE(s, st.allocs - st.frees == st.blocks_in_use, "allocs %zu - frees %zu != in use %zu",
           st.allocs, st.frees, st.blocks_in_use);
    ENSURE(s, st.pages == s->held, "stats pages %zu, provider handed out %zu", st.pages, s->held);
    ENSURE(s, st.peak_pages >= st.pages && st.peak_in_use_bytes >= st.in_use_bytes,
           "peak below current");
    ENSURE(s, st.heaps >= 1 && st.heaps <= st.pages, "heaps %zu for %zu pages", st.heaps, st.pages);
    size_t want = 0;
    for (size_t i = 0; i < s->nlive; i++)
        want += s->blocks[i].size + BLOCK_OVERHEAD;
    ENSURE(s, st.in_use_bytes >= want, "in_use_bytes %zu below the model's %zu", st.in_use_bytes, want);
    ENSURE(s, st.in_use_bytes + st.free_bytes <= st.pages * s->page_size,
           "in use + free bytes exceed the pages held");
    ENSURE(s, st.largest_free <= st.free_bytes, "largest_free %zu > free_bytes %zu",
           st.largest_free, st.free_bytes);
    ENSURE(s, (st.free_blocks == 0) == (st.free_bytes == 0), "free blocks/bytes disagree");
}

static void check_align(const inst *s, const void *p, size_t align, const char *what)
{
    if (align < KHEAP_ALIGN)
        align = KHEAP_ALIGN;
    ENSURE(s, ((uintptr_t)p & (align - 1)) == 0, "%s returned %p, not aligned to %zu", what, p, align);
    ENSURE(s, (const unsigned char *)p >= s->rstart && (const unsigned char *)p < s->rend,
           "%s returned %p outside the region", what, p);
}

static void check_usable(inst *s, const void *p, size_t size, const char *what)
{
    size_t u = kheap_usable_size(s->h, p);
    ENSURE(s, u >= size, "%s: usable_size(%p) %zu < %zu", what, p, u, size);
    ENSURE(s, u <= (size_t)(s->rend - (const unsigned char *)p),
           "%s: usable_size(%p) %zu runs past the region", what, p, u);
}

static kheap_stats stats_now(inst *s)
{
    kheap_stats st;
    kheap_stats_get(s->h, &st);
    return st;
}

static size_t failed_count(inst *s) { return stats_now(s).failed; }

/* A request that is not met leaves the instance as it was, but for the
 * failed count. */
static void check_unchanged(inst *s, const kheap_stats *before, const char *what)
{
    kheap_stats now = stats_now(s), was = *before;
    ENSURE(s, now.failed == was.failed + 1, "%s returned NULL: failed %zu -> %zu", what,
           was.failed, now.failed);
    now.failed = was.failed;
    ENSURE(s, memcmp(&now, &was, sizeof now) == 0,
           "%s returned NULL but changed the instance: in_use %zu->%zu free %zu->%zu "
           "blocks %zu->%zu free_blocks %zu->%zu largest %zu->%zu pages %zu->%zu heaps %zu->%zu",
           what, was.in_use_bytes, now.in_use_bytes, was.free_bytes, now.free_bytes,
           was.blocks_in_use, now.blocks_in_use, was.free_blocks, now.free_blocks,
           was.largest_free, now.largest_free, was.pages, now.pages, was.heaps, now.heaps);
}

/* A request of `size` bytes may get NULL iff the provider refused during
 * the call or the region cannot hold it; above the region it must. */
static void check_null(inst *s, const void *p, size_t size, unsigned long refusals_before,
                       const kheap_stats *before, const char *what)
{
    if (p == NULL) {
        ENSURE(s, size > s->region_bytes || s->refusals != refusals_before,
               "%s(%zu) returned NULL though the provider never refused", what, size);
        check_unchanged(s, before, what);
    } else {
        size_t failed = failed_count(s);
        ENSURE(s, size <= s->region_bytes, "%s(%zu) returned %p for more than the region holds",
               what, size, p);
        ENSURE(s, failed == before->failed, "%s succeeded: failed %zu -> %zu", what,
               before->failed, failed);
    }
}

static void model_add(inst *s, void *p, size_t size)
{
    ENSURE(s, s->nlive < MAX_LIVE, "model full");
    for (size_t i = 0; i < s->nlive; i++)
        ENSURE(s, s->blocks[i].p != p, "%p handed out while live", p);
    uint32_t seed = seed_counter += 0x9e3779b9u;
    stamp(p, 0, size, seed);
    s->blocks[s->nlive++] = (live){p, size, seed};
}

static void model_remove(inst *s, size_t i)
{
    s->blocks[i] = s->blocks[--s->nlive];
}

/* A valid free: the block stays the double-free candidate until an
 * operation that could reuse its memory (see op_def.keeps_freed). */
static void note_freed(inst *s, unsigned char *p, size_t size)
{
    s->freed = p;
    s->freed_size = size;
}

/* ------------------------------------------------------------ sizes */

static size_t huge_size(input *in)
{
    uint8_t k = in_u8(in);
    switch (k & 7) {
    case 0: return SIZE_MAX - (k >> 3);
    case 1: return SIZE_MAX / 2;
    case 2: return SIZE_MAX / 2 + 1 + (k >> 3);
    case 3: return ((size_t)1 << (8 * sizeof(size_t) - 2)) - (k >> 3);
#if SIZE_MAX > 0xffffffffu
    case 4: return ((size_t)1 << 47) - (size_t)(k >> 3) * 8;
    case 5: return ((size_t)1 << 47) - 2 * 64 - sizeof(size_t) - (k >> 3);
#else
    case 4: return ((size_t)1 << 31) - (size_t)(k >> 3) * 8;
    case 5: return ((size_t)1 << 31) - 2 * 64 - sizeof(size_t) - (k >> 3);
#endif
    case 6: return REGION_MAX + 1 + (size_t)(k >> 3) * 4096;
    default: return SIZE_MAX - 4096 * (size_t)(k >> 3);
    }
}

static size_t gen_size(inst *s, input *in)
{
    uint8_t k = in_u8(in);
    if (k < 170)
        return in_u16(in) % 513;
    if (k < 225)
        return in_u16(in) % 65537;
    if (k < 240)
        return in_u32(in) % (((size_t)1 << 20) + 1);
    if (k < 246)
        return s->region_bytes - in_u16(in) % (s->region_bytes / 2);
    return huge_size(in);
}

/* Payloads this big are stamped and verified; bigger ones cannot exist. */
static bool fits(const inst *s, size_t size) { return size <= s->region_bytes; }

/* ------------------------------------------------------------ operations */

static void op_alloc(inst *s, input *in)
{
    size_t size = gen_size(s, in);
    if (s->nlive >= MAX_LIVE)
        return;
    unsigned long r0 = s->refusals;
    kheap_stats f0 = stats_now(s);
    void *p = kheap_alloc(s->h, size);
    tracef("  alloc(%zu) -> %p\n", size, p);
    check_null(s, p, size, r0, &f0, "alloc");
    if (p != NULL) {
        check_align(s, p, KHEAP_ALIGN, "alloc");
        check_usable(s, p, size, "alloc");
        model_add(s, p, size);
    }
}

NO_COVERAGE static size_t first_nonzero(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] == 0)
        i++;
    return i;
}

static void op_calloc(inst *s, input *in)
{
    size_t n, size;
    uint8_t k = in_u8(in);
    if (k < 200) {
        n = in_u8(in) % 17;
        size = gen_size(s, in) % 4097;
    } else if (k < 230) {
        n = (size_t)in_u16(in) + 1;
        size = in_u8(in) + 1;
    } else {
        /* n * size overflows */
        n = SIZE_MAX / 2 + 1 + in_u8(in);
        size = 2 + in_u8(in);
    }
    if (s->nlive >= MAX_LIVE)
        return;
    size_t bytes;
    bool overflow = __builtin_mul_overflow(n, size, &bytes);
    unsigned long r0 = s->refusals;
    kheap_stats f0 = stats_now(s);
    unsigned char *p = kheap_calloc(s->h, n, size);
    tracef("  calloc(%zu, %zu) -> %p\n", n, size, (void *)p);
    if (overflow) {
        ENSURE(s, p == NULL, "calloc(%zu, %zu) overflows but returned %p", n, size, (void *)p);
        check_unchanged(s, &f0, "calloc (overflow)");
        return;
    }
    check_null(s, p, bytes, r0, &f0, "calloc");
    if (p == NULL)
        return;
    check_align(s, p, KHEAP_ALIGN, "calloc");
    check_usable(s, p, bytes, "calloc");
    size_t nz = first_nonzero(p, bytes);
    ENSURE(s, nz == bytes, "calloc(%zu, %zu) = %p: byte %zu is 0x%02x", n, size, (void *)p, nz, p[nz]);
    model_add(s, p, bytes);
}

static size_t pick(inst *s, input *in) { return in_u16(in) % s->nlive; }

static void op_free(inst *s, input *in)
{
    if (s->nlive == 0) {
        kheap_free(s->h, NULL);
        return;
    }
    size_t i = pick(s, in);
    live b = s->blocks[i];
    tracef("  free(%p) size %zu\n", (void *)b.p, b.size);
    verify(s, b.p, b.size, b.seed, "before free");
    kheap_free(s->h, b.p);
    model_remove(s, i);
    note_freed(s, b.p, b.size);
}

static void op_realloc(inst *s, input *in)
{
    uint8_t k = in_u8(in);
    size_t i = SIZE_MAX;
    live old = {NULL, 0, 0};
    if (s->nlive > 0 && k >= 16) {
        i = pick(s, in);
        old = s->blocks[i];
    }
    size_t size;
    switch (k & 3) {
    case 0: size = 0; break;                                   /* to 0: frees */
    case 1: size = old.size == 0 ? 0 : in_u16(in) % old.size;  /* shrink */
        if (k & 4) size = old.size;
        break;
    case 2: size = old.size + in_u16(in) % 1024; break;        /* grow a little */
    default: size = gen_size(s, in); break;
    }
    if (old.p == NULL && s->nlive >= MAX_LIVE)
        return;
    size_t old_usable = 0;
    if (old.p != NULL) {
        verify(s, old.p, old.size, old.seed, "before realloc");
        old_usable = kheap_usable_size(s->h, old.p);
    }
    unsigned long r0 = s->refusals;
    kheap_stats f0 = stats_now(s);
    unsigned char *p = kheap_realloc(s->h, old.p, size);
    tracef("  realloc(%p size %zu, %zu) -> %p\n", (void *)old.p, old.size, size, (void *)p);
    if (old.p != NULL && size == 0) {
        ENSURE(s, p == NULL, "realloc(%p, 0) returned %p", (void *)old.p, (void *)p);
        model_remove(s, i);
        note_freed(s, old.p, old.size);
        return;
    }
    if (old.p == NULL) {
        check_null(s, p, size, r0, &f0, "realloc(NULL)");
        if (p != NULL) {
            check_align(s, p, KHEAP_ALIGN, "realloc(NULL)");
            check_usable(s, p, size, "realloc(NULL)");
            model_add(s, p, size);
        }
        return;
    }
    if (p == NULL) {
        ENSURE(s, size > old.size, "realloc(%p, %zu) shrinking from %zu failed", (void *)old.p,
               size, old.size);
        check_null(s, p, size, r0, &f0, "realloc");
        verify(s, old.p, old.size, old.seed, "after failed realloc");
        ENSURE(s, kheap_usable_size(s->h, old.p) == old_usable,
               "failed realloc changed usable_size(%p) from %zu", (void *)old.p, old_usable);
        return;
    }
    check_null(s, p, size, r0, &f0, "realloc");
    check_align(s, p, KHEAP_ALIGN, "realloc");
    verify(s, p, old.size < size ? old.size : size, old.seed, "prefix kept by realloc");
    check_usable(s, p, size, "realloc");
    uint32_t seed = seed_counter += 0x9e3779b9u;
    stamp(p, 0, size, seed);
    s->blocks[i] = (live){p, size, seed};
    for (size_t j = 0; j < s->nlive; j++)
        ENSURE(s, j == i || s->blocks[j].p != p, "realloc returned live block %p", (void *)p);
    if (p != old.p)
        note_freed(s, old.p, old.size);
}

static void op_aligned(inst *s, input *in)
{
    uint8_t k = in_u8(in);
    size_t align;
    bool bad = false, vast = false;
    if (k < 232) {
        align = (size_t)1 << (k % 17);
    } else {
        static const size_t odd[] = {0, 3, 6, 24, 48, 96, 4095, 65535, 65537, 12288, SIZE_MAX,
                                     SIZE_MAX / 2};
        switch (k & 15) {
        case 12: align = (size_t)1 << 22; vast = true; break;
        case 13: align = (size_t)1 << 30; vast = true; break;
        case 14: align = ((size_t)1 << (8 * sizeof(size_t) - 1)); vast = true; break;
        case 15: align = ((size_t)1 << (8 * sizeof(size_t) - 8)); vast = true; break;
        default: align = odd[k & 15]; bad = true; break;
        }
    }
    size_t size = gen_size(s, in);
    if (s->nlive >= MAX_LIVE)
        return;
    unsigned long r0 = s->refusals;
    kheap_stats f0 = stats_now(s);
    void *p = kheap_aligned_alloc(s->h, align, size);
    tracef("  aligned_alloc(%zu, %zu) -> %p\n", align, size, p);
    if (bad) {
        ENSURE(s, p == NULL, "aligned_alloc(%zu, %zu): bad alignment but got %p", align, size, p);
        check_unchanged(s, &f0, "aligned_alloc (bad alignment)");
        return;
    }
    if (vast) {
        if (p == NULL) {
            check_unchanged(s, &f0, "aligned_alloc (vast alignment)");
            return;
        }
        ENSURE(s, fits(s, size), "aligned_alloc(%zu, %zu) returned %p", align, size, p);
    } else {
        check_null(s, p, size, r0, &f0, "aligned_alloc");
        if (p == NULL)
            return;
    }
    check_align(s, p, align, "aligned_alloc");
    check_usable(s, p, size, "aligned_alloc");
    model_add(s, p, size);
}

static void op_usable(inst *s, input *in)
{
    if (s->nlive == 0) {
        ENSURE(s, kheap_usable_size(s->h, NULL) == 0, "usable_size(NULL) != 0");
        return;
    }
    size_t i = pick(s, in);
    live *b = &s->blocks[i];
    size_t u = kheap_usable_size(s->h, b->p);
    tracef("  usable_size(%p) = %zu (asked %zu)\n", (void *)b->p, u, b->size);
    ENSURE(s, u >= b->size, "usable_size(%p) %zu < %zu", (void *)b->p, u, b->size);
    /* The whole usable size is ours: stamp it and keep it in the model. */
    stamp(b->p, b->size, u, b->seed);
    b->size = u;
}

typedef struct walk_ctx {
    inst *s;
    size_t n, stop_after, calls;
    kheap_block_info blocks[MAX_WALK];
} walk_ctx;

static walk_ctx walk_buf;

static bool walk_fn(void *ctx, const kheap_block_info *b)
{
    walk_ctx *w = ctx;
    inst *s = w->s;
    ENSURE(s, !s->use_lock || s->lock_depth > 0, "walk callback without the lock");
    w->calls++;
    if (w->n < MAX_WALK)
        w->blocks[w->n++] = *b;
    return w->stop_after == 0 || w->calls < w->stop_after;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

static void op_walk(inst *s, input *in)
{
    walk_ctx *w = &walk_buf;
    uint8_t k = in_u8(in);
    w->s = s;
    w->n = w->calls = 0;
    w->stop_after = k < 200 ? 0 : (size_t)(k - 199);
    kheap_walk(s->h, walk_fn, w);
    kheap_stats st;
    kheap_stats_get(s->h, &st);
    size_t total = st.blocks_in_use + st.free_blocks;
    if (w->stop_after != 0) {
        size_t want = total < w->stop_after ? total : w->stop_after;
        ENSURE(s, w->calls == want, "walk stopping after %zu: %zu calls (of %zu blocks)",
               w->stop_after, w->calls, total);
        return;
    }
    ENSURE(s, w->calls == total, "walk saw %zu blocks, stats say %zu", w->calls, total);
    if (w->n < w->calls)
        return;
    static void *used[MAX_WALK], *model[MAX_LIVE];
    size_t nused = 0, empty_heaps = 0, heap_used = 0;
    for (size_t i = 0; i < w->n; i++) {
        const kheap_block_info *b = &w->blocks[i];
        ENSURE(s, ((uintptr_t)b->ptr & (KHEAP_ALIGN - 1)) == 0, "walk: payload %p misaligned", b->ptr);
        ENSURE(s, (unsigned char *)b->ptr >= s->rstart && (unsigned char *)b->ptr + b->size <= s->rend,
               "walk: block %p+%zu outside the region", b->ptr, b->size);
        bool new_heap = i == 0 || b->heap != w->blocks[i - 1].heap;
        if (!new_heap) {
            const kheap_block_info *a = &w->blocks[i - 1];
            ENSURE(s, (uintptr_t)a->ptr + a->size < (uintptr_t)b->ptr,
                   "walk: block %p+%zu overlaps %p", a->ptr, a->size, b->ptr);
        } else {
            if (i > 0 && heap_used == 0)
                empty_heaps++;
            heap_used = 0;
        }
        if (b->in_use) {
            used[nused++] = b->ptr;
            heap_used++;
        }
    }
    /* The last heap is the home heap, which is never given back. */
    ENSURE(s, empty_heaps <= 1, "walk: %zu empty heaps besides the home heap", empty_heaps);
    ENSURE(s, nused == s->nlive, "walk: %zu blocks in use, model %zu", nused, s->nlive);
    for (size_t i = 0; i < s->nlive; i++)
        model[i] = s->blocks[i].p;
    qsort(used, nused, sizeof used[0], cmp_ptr);
    qsort(model, s->nlive, sizeof model[0], cmp_ptr);
    for (size_t i = 0; i < nused; i++)
        ENSURE(s, used[i] == model[i], "walk: block in use %p, model has %p", used[i], model[i]);
    for (size_t i = 0; i < w->n; i++)
        if (w->blocks[i].in_use)
            ENSURE(s, kheap_usable_size(s->h, w->blocks[i].ptr) == w->blocks[i].size,
                   "walk size %zu of %p differs from usable_size", w->blocks[i].size,
                   w->blocks[i].ptr);
}

typedef struct dump_ctx {
    inst *s;
    size_t len;
    bool truncated;
    char text[DUMP_CAP];
} dump_ctx;

static dump_ctx dump_buf;

static void dump_fn(void *ctx, const char *text, size_t len)
{
    dump_ctx *d = ctx;
    ENSURE(d->s, !d->s->use_lock || d->s->lock_depth > 0, "dump output without the lock");
    ENSURE(d->s, len > 0 && len < 4096, "dump piece of %zu bytes", len);
    if (d->len + len >= DUMP_CAP) {
        d->truncated = true;
        return;
    }
    memcpy(d->text + d->len, text, len);
    d->len += len;
}

static void op_dump(inst *s, input *in)
{
    (void)in;
    dump_ctx *d = &dump_buf;
    d->s = s;
    d->len = 0;
    d->truncated = false;
    kheap_dump(s->h, dump_fn, d);
    if (d->truncated)
        return;
    d->text[d->len] = '\0';
    static const char begin[] = "kheap-dump begin instance=", end[] = "\nkheap-dump end\n";
    ENSURE(s, strncmp(d->text, begin, sizeof begin - 1) == 0, "dump does not start with '%s'", begin);
    ENSURE(s, d->len >= sizeof end && strcmp(d->text + d->len - (sizeof end - 1), end) == 0,
           "dump does not end with 'kheap-dump end'");
    size_t used = 0, heaps = 0;
    for (const char *l = d->text; *l != '\0';) {
        const char *nl = strchr(l, '\n');
        ENSURE(s, nl != NULL, "dump: unterminated line");
        if (strncmp(l, "block offset=", 13) == 0) {
            const char *st = strstr(l, " state=");
            ENSURE(s, st != NULL && st < nl, "dump: block line without state");
            used += strncmp(st, " state=used\n", 12) == 0;
        } else if (strncmp(l, "heap addr=", 10) == 0) {
            heaps++;
        }
        l = nl + 1;
    }
    kheap_stats st;
    kheap_stats_get(s->h, &st);
    ENSURE(s, used == s->nlive, "dump: %zu used blocks, model %zu", used, s->nlive);
    ENSURE(s, heaps == st.heaps, "dump: %zu heaps, stats %zu", heaps, st.heaps);
}

static void op_faults(inst *s, input *in)
{
    uint8_t k = in_u8(in);
    s->map_mode = k & 3;
    s->grow_mode = (k >> 2) & 3;
    tracef("  faults map %u grow %u\n", s->map_mode, s->grow_mode);
}

static void op_free_all(inst *s, input *in)
{
    uint8_t k = in_u8(in);
    while (s->nlive > 0) {
        size_t i = (k & 1) ? s->nlive - 1 : (k & 2) ? 0 : (size_t)(k * 31u) % s->nlive;
        live b = s->blocks[i];
        verify(s, b.p, b.size, b.seed, "before free (all)");
        kheap_free(s->h, b.p);
        model_remove(s, i);
        note_freed(s, b.p, b.size);
        check_instance(s);
    }
    kheap_stats st;
    kheap_stats_get(s->h, &st);
    tracef("  free all: heaps %zu pages %zu free blocks %zu\n", st.heaps, st.pages, st.free_blocks);
    ENSURE(s, st.in_use_bytes == 0, "all freed but in_use_bytes %zu", st.in_use_bytes);
    ENSURE(s, st.heaps <= 2, "all freed but %zu heaps kept (home + one spare at most)", st.heaps);
    ENSURE(s, st.free_blocks == st.heaps, "all freed: %zu free blocks in %zu heaps", st.free_blocks,
           st.heaps);
}

static void op_recreate(inst *s, input *in)
{
    uint8_t a = in_u8(in), b = in_u8(in), c = in_u8(in);
    tracef("  destroy inst %d (%zu live)\n", s->id, s->nlive);
    instance_destroy(s);
    s->map_mode = s->grow_mode = 0;
    if (a & 128) {
        /* A fresh region with new geometry; give the break back first. */
        region_teardown(s);
        region_setup(s, (uint8_t)(a & 127), c);
    } else {
        kheap_region_usage u;
        kheap_region_usage_get(s->region, &u);
        ENSURE(s, u.pages_mapped == 0, "region has %zu pages mapped after destroy", u.pages_mapped);
    }
    instance_create(s, b);
}

NO_COVERAGE static void fill_brk(uintptr_t from, uintptr_t to)
{
    for (uintptr_t a = from; a < to; a++)
        *(unsigned char *)a = brk_byte(a);
}

NO_COVERAGE static void verify_brk(inst *s, uintptr_t from, uintptr_t to)
{
    for (uintptr_t a = from; a < to; a++)
        ENSURE(s, *(unsigned char *)a == brk_byte(a), "break byte %p overwritten",
               (void *)a);
}

static void op_sbrk(inst *s, input *in)
{
    uint8_t k = in_u8(in);
    intptr_t incr;
    uintptr_t have = s->brk - s->brk_start;
    if (k < 100)
        incr = (intptr_t)(in_u16(in) % (BRK_CAP - have + 1 < 65536 ? BRK_CAP - have + 1 : 65536));
    else if (k < 200)
        incr = -(intptr_t)(have == 0 ? 0 : in_u32(in) % (have + 1));
    else if (k < 230)
        incr = (k & 1) ? -(intptr_t)(have + 1 + in_u8(in)) : (intptr_t)s->region_bytes + in_u8(in);
    else
        incr = (k & 1) ? INTPTR_MIN + in_u8(in) : INTPTR_MAX - in_u8(in);
    bool must_fail = incr < 0 ? (uintptr_t)(-(incr + 1)) + 1 > have
                              : (uintptr_t)incr > (uintptr_t)(s->rend - (unsigned char *)s->brk);
    if (incr > 0 && !must_fail && have + (uintptr_t)incr > BRK_CAP)
        return;
    verify_brk(s, s->brk_start, s->brk);
    uintptr_t old = s->brk;
    void *r = kheap_region_sbrk(s->region, incr);
    tracef("  sbrk(%jd) -> %p\n", (intmax_t)incr, r);
    if (r == (void *)-1) {
        ENSURE(s, (uintptr_t)kheap_region_sbrk(s->region, 0) == old, "failed sbrk moved the break");
        return;
    }
    ENSURE(s, !must_fail, "sbrk(%jd) should have failed", (intmax_t)incr);
    ENSURE(s, (uintptr_t)r == old, "sbrk returned %p, break was %p", r, (void *)old);
    s->brk = old + (uintptr_t)incr;
    ENSURE(s, (uintptr_t)kheap_region_sbrk(s->region, 0) == s->brk, "sbrk(0) disagrees");
    if (incr > 0) {
        /* The new break pages must not be held by anyone. */
        for (size_t i = page_index(s, (void *)old);
             s->rstart + i * s->page_size < (unsigned char *)s->brk; i++)
            ENSURE(s, !held_bit(s, i), "sbrk handed out page %zu that map() gave the heap", i);
        UNPOISON((void *)old, (size_t)incr);
        fill_brk(old, s->brk);
    } else if (incr < 0) {
        POISON((void *)s->brk, old - s->brk);
    }
}

static void op_verify_all(inst *s, input *in)
{
    (void)in;
    for (size_t i = 0; i < s->nlive; i++) {
        verify(s, s->blocks[i].p, s->blocks[i].size, s->blocks[i].seed, "verify all");
        check_usable(s, s->blocks[i].p, s->blocks[i].size, "verify all");
    }
    verify_brk(s, s->brk_start, s->brk);
}

static void op_stats(inst *s, input *in)
{
    (void)in;
    kheap_stats st;
    kheap_stats_get(s->h, &st);
    /* largest_free is exact: a request of that size succeeds without the
     * provider. */
    if (st.largest_free == 0 || s->nlive >= MAX_LIVE)
        return;
    unsigned long r0 = s->refusals, calls = s->map_calls + s->grow_calls;
    void *p = kheap_alloc(s->h, st.largest_free);
    tracef("  stats: largest_free %zu -> alloc %p\n", st.largest_free, p);
    ENSURE(s, p != NULL && s->refusals == r0 && s->map_calls + s->grow_calls == calls,
           "alloc(largest_free %zu) needed the provider (got %p)", st.largest_free, p);
    check_align(s, p, KHEAP_ALIGN, "alloc(largest_free)");
    check_usable(s, p, st.largest_free, "alloc(largest_free)");
    model_add(s, p, st.largest_free);
}

/* ------------------------------------------------------------ misuse */

/* Each misuse op makes one call that breaks the API's contract.  The panic
 * hook must then be called exactly once, with the pointer passed and one of
 * the texts expected for that misuse (kheap.h: "goes to the panic hook and
 * changes nothing"), and the instance must be as it was: kheap_stats
 * identical, and kheap_check after the op as after every op.  What was done
 * is counted and printed at the end (misuse_tally_print). */

enum { M_DOUBLE_FREE, M_INTERIOR, M_FOREIGN, M_OVERFLOW, M_KINDS };
static const char *const misuse_names[M_KINDS] = {"double free", "interior", "foreign", "overflow"};
static struct {
    unsigned long ops[M_KINDS];  /* misuse calls made */
    unsigned long reports;       /* reports checked (one per call, or none for a valid overflow) */
    unsigned long skipped;       /* misuse ops with nothing to misuse (no freed block, no live one...) */
    unsigned long overflow_silent; /* overflows whose header was left valid and nothing reported */
} tally;

static const char *const texts_misaligned[] = {"misaligned pointer", NULL};
static const char *const texts_foreign[] = {"foreign pointer: outside every heap", NULL};
/* A block that ended its heap may have been trimmed away at a page boundary:
 * the word below a page-aligned pointer is then the heap's new sentinel. */
static const char *const texts_double_free[] = {
    "double free",
    "not a block (interior pointer or bad header)",
    "header check failed: double free, or a write over the header",
    "double free after a merge, or overflow into the next header",
    "double free: its heap was given back",
    "not in a page the instance holds: a double free after its heap went back?",
    NULL,
};
static const char *const texts_gone[] = {
    "not in a page the instance holds: a double free after its heap went back?",
    "double free: its heap was given back",
    NULL,
};
static const char *const texts_not_block[] = {"not a block (interior pointer or bad header)", NULL};
static const char *const texts_free_flag[] = {"double free", NULL};
static const char *const texts_header_check[] = {
    "header check failed: double free, or a write over the header", NULL};
/* What the call after an overflow into the next header may report. */
static const char *const texts_overflow[] = {
    "overflow into the next block's header",
    "double free after a merge, or overflow into the next header",
    "header check failed: double free, or a write over the header",
    "not a block (interior pointer or bad header)",
    "double free",
    "underflow into the header (bad previous footer)",
    "write past the end of the block: the trailing canary was changed",
    "free block header corrupted: an overflow from the block before it?",
    "free list link corrupted: a write after free?",
    NULL,
};

enum { CALL_FREE, CALL_REALLOC, CALL_USABLE };
static const char *const call_names[] = {"free", "realloc", "usable_size"};

static bool text_in(const char *what, const char *const *texts)
{
    for (; *texts != NULL; texts++)
        if (strcmp(what, *texts) == 0)
            return true;
    return false;
}

static void report_expected(inst *s, const char *kind, int call, const void *ptr,
                            const char *const *texts)
{
    ENSURE(s, s->reports == 1, "%s: %s(%p) made no report", kind, call_names[call], ptr);
    ENSURE(s, text_in(s->report_what, texts), "%s: %s(%p) reported '%s', expected '%s'%s", kind,
           call_names[call], ptr, s->report_what, texts[0], texts[1] != NULL ? " or another" : "");
    tally.reports++;
}

/* Makes the misuse call and checks its one report, at ptr exactly, and
 * that nothing changed. */
static void misuse_call(inst *s, int kind, int call, void *ptr, size_t rsize,
                        const char *const *texts)
{
    const char *name = misuse_names[kind];
    kheap_stats before = stats_now(s);
    s->expect_report = true;
    s->reports = 0;
    switch (call) {
    case CALL_FREE:
        kheap_free(s->h, ptr);
        break;
    case CALL_REALLOC: {
        void *r = kheap_realloc(s->h, ptr, rsize);
        ENSURE(s, r == NULL, "%s: realloc(%p, %zu) returned %p", name, ptr, rsize, r);
        break;
    }
    default: {
        size_t u = kheap_usable_size(s->h, ptr);
        ENSURE(s, u == 0, "%s: usable_size(%p) returned %zu", name, ptr, u);
        break;
    }
    }
    s->expect_report = false;
    tally.ops[kind]++;
    tracef("  %s: %s(%p) -> %d report(s): %s (%p)\n", name, call_names[call], ptr, s->reports,
           s->reports != 0 ? s->report_what : "-", s->reports != 0 ? s->report_addr : NULL);
    report_expected(s, name, call, ptr, texts);
    ENSURE(s, s->report_addr == ptr, "%s: %s(%p) reported '%s' at %p, not at the pointer passed",
           name, call_names[call], ptr, s->report_what, s->report_addr);
    kheap_stats after = stats_now(s);
    ENSURE(s, memcmp(&before, &after, sizeof before) == 0,
           "%s: %s(%p) was reported but changed the instance: in_use %zu->%zu free %zu->%zu "
           "blocks %zu->%zu free_blocks %zu->%zu pages %zu->%zu allocs %zu->%zu frees %zu->%zu "
           "failed %zu->%zu", name, call_names[call], ptr, before.in_use_bytes, after.in_use_bytes,
           before.free_bytes, after.free_bytes, before.blocks_in_use, after.blocks_in_use,
           before.free_blocks, after.free_blocks, before.pages, after.pages, before.allocs,
           after.allocs, before.frees, after.frees, before.failed, after.failed);
}

/* Every page of [from, to) is in the region and held by the instance. */
static bool range_held(const inst *s, uintptr_t from, uintptr_t to)
{
    if (from >= to || from < (uintptr_t)s->rstart || to > (uintptr_t)s->rend)
        return false;
    for (size_t i = page_index(s, (void *)from); i <= page_index(s, (void *)(to - 1)); i++)
        if (!held_bit(s, i))
            return false;
    return true;
}

static size_t load_word(const unsigned char *at)
{
    size_t w;
    memcpy(&w, at, sizeof w);
    return w;
}

static void store_word(unsigned char *at, size_t w) { memcpy(at, &w, sizeof w); }

/* Double free (or realloc/usable_size) of the block freed last.  Only while
 * the pages under it and its old neighbours are still held: a heap given
 * back is issue 11's known gap, not this op's business.  The block's old
 * header and the next one lie within [p - 4 words, p + size + 128). */
static void op_double_free(inst *s, input *in)
{
    uint8_t k = in_u8(in);
    uint16_t rsize = in_u16(in);
    unsigned char *p = s->freed;
    if (p == NULL) {
        tracef("  double free: no block freed since the last reuse\n");
        tally.skipped++;
        return;
    }
    /* Pages that went back (and were not taken again since, or s->freed
     * would be NULL) must be reported from the provider's owns(), unread. */
    bool gone = !range_held(s, (uintptr_t)p - 4 * WORD, (uintptr_t)p);
    misuse_call(s, M_DOUBLE_FREE, k % 3, p, rsize % 1024, gone ? texts_gone : texts_double_free);
}

/* A pointer into a live block.  Misaligned: always "misaligned pointer".
 * Aligned (p + k, ALIGN <= k <= size): the word below p + k, where a header
 * would be, is the block's own data; the op may forge it.  In the full tier
 * the check word below it cannot match; in the basic tier the word decides
 * the report (kheap.h: a pointer whose bytes look like a live block can
 * pass, so a plausible word skips the call). */
static void op_interior(inst *s, input *in)
{
    uint8_t k = in_u8(in), forge = in_u8(in);
    uint16_t r = in_u16(in), off = in_u16(in), rsize = in_u16(in);
    if (s->nlive == 0) {
        tally.skipped++;
        return;
    }
    live *b = &s->blocks[r % s->nlive];
    int call = k % 3;
    if ((k & 4) || b->size < KHEAP_ALIGN) {
        size_t d = 1 + (size_t)off % (b->size + 64);
        if (d % KHEAP_ALIGN == 0)
            d++;
        misuse_call(s, M_INTERIOR, call, (void *)((uintptr_t)b->p + d), rsize % 1024,
                    texts_misaligned);
        return;
    }
    size_t d = KHEAP_ALIGN * (1 + (size_t)off % (b->size / KHEAP_ALIGN));
    unsigned char *word_at = b->p + d - WORD;
    size_t w;
    switch (forge & 7) {
    case 0: w = load_word(word_at); break;                      /* the data as it is */
    case 1: w = 0; break;
    case 2: w = 2 * KHEAP_ALIGN | FLAG_FREE; break;              /* looks freed */
    case 3: w = 4 * KHEAP_ALIGN | FLAG_SENTINEL; break;
    case 4: w = SIZE_MAX & ~FLAG_MASK; break;
    case 5: w = KHEAP_ALIGN > 8 ? 2 * KHEAP_ALIGN + 8 : 8; break;  /* not a multiple of ALIGN */
    case 6: w = KHEAP_ALIGN / 2; break;                         /* below any block */
    default: w = (size_t)s->region_bytes + KHEAP_ALIGN; break;  /* past the region */
    }
    store_word(word_at, w);
    const char *const *texts;
    size_t bytes = w & ~FLAG_MASK;
    if (KHEAP_HARDEN)
        texts = texts_header_check;
    else if (w & FLAG_FREE)
        texts = texts_free_flag;
    else if ((w & FLAG_SENTINEL) || bytes % KHEAP_ALIGN != 0 || bytes < 2 * WORD ||
             bytes > s->region_bytes)
        texts = texts_not_block;
    else
        texts = NULL;
    if (texts != NULL)
        misuse_call(s, M_INTERIOR, call, b->p + d, rsize % 1024, texts);
    else {
        tracef("  interior: %p + %zu: word %#zx could be a header, not called\n", (void *)b->p,
               d, w);
        tally.skipped++;
    }
    stamp(b->p, d - WORD, d, b->seed);
}

/* A pointer kheap never handed out: the harness's static buffer, its stack,
 * just below the lowest or at/above the highest page the instance ever
 * held, or another instance's live block; aligned or not. */
static unsigned char foreign_static[256] __attribute__((aligned(64)));

static void op_foreign(inst *s, input *in)
{
    uint8_t k = in_u8(in), j = in_u8(in);
    uint16_t rsize = in_u16(in);
    unsigned char on_stack[256] __attribute__((aligned(64)));
    uintptr_t a;
    switch (k % 5) {
    case 0: a = (uintptr_t)foreign_static + 64 * (j % 4); break;
    case 1: a = (uintptr_t)on_stack + 64 * (j % 4); break;
    case 2: a = s->lo_held - KHEAP_ALIGN * (1 + j % 4); break;
    case 3: a = s->hi_held + KHEAP_ALIGN * (j % 4); break;
    default: {
        const inst *o = &insts[(s->id + 1 + j % (NINST - 1)) % NINST];
        a = o->h != NULL && o->nlive > 0 ? (uintptr_t)o->blocks[j % o->nlive].p
                                          : (uintptr_t)foreign_static;
        break;
    }
    }
    bool misaligned = (k & 8) != 0;
    if (misaligned)
        a += 1 + (j >> 2) % (KHEAP_ALIGN - 1);
    on_stack[0] = 0;
    misuse_call(s, M_FOREIGN, (k >> 4) % 3, (void *)a, rsize % 1024,
                misaligned ? texts_misaligned : texts_foreign);
}

/* Writes past the end of a live block into the next block's header (a live
 * block's, a free block's or the heap's sentinel), then makes one call on
 * the block or, when it is live, on the neighbour.  The call must report
 * once (a text of texts_overflow, an address between the block and the end
 * of the neighbour's header) or, only where the header was left valid,
 * succeed without a report.  The instance may be corrupt after it: the
 * input ends; a reported overflow changed nothing, so the instance is
 * destroyed, and after a silent one its pages go back from the model
 * (instance_destroy).  Acts on 1 in 8 of its bytes: an
 * op that ends the input must not cut every long input short. */
static bool input_over;

/* The end of the heap that holds the block at payload p: the address of
 * its sentinel's size word, found by two walks (the heap, then its last
 * block). */
typedef struct heap_end_walk {
    const void *p, *heap;
    uintptr_t end;
} heap_end_walk;

static bool heap_of_block(void *ctx, const kheap_block_info *b)
{
    heap_end_walk *w = ctx;
    if (b->ptr == w->p)
        w->heap = b->heap;
    return w->heap == NULL;
}

static bool heap_end_of(void *ctx, const kheap_block_info *b)
{
    heap_end_walk *w = ctx;
    if (b->heap == w->heap && (uintptr_t)b->ptr + b->size > w->end)
        w->end = (uintptr_t)b->ptr + b->size;
    return true;
}

static uintptr_t heap_size_word_end(inst *s, const void *p)
{
    heap_end_walk w = {p, NULL, 0};
    kheap_walk(s->h, heap_of_block, &w);
    if (w.heap != NULL)
        kheap_walk(s->h, heap_end_of, &w);
    return w.end;
}

static void op_overflow(inst *s, input *in)
{
    uint8_t go = in_u8(in), pat = in_u8(in), how = in_u8(in);
    uint16_t r = in_u16(in);
    if (!FUZZ_OVERFLOW || go >= 32)
        return;
    if (s->nlive == 0) {
        tally.skipped++;
        return;
    }
    live b = s->blocks[r % s->nlive];
    unsigned char *p = b.p;
    size_t own = load_word(p - WORD), bytes = own & ~FLAG_MASK;
    ENSURE(s, !(own & (FLAG_FREE | FLAG_SENTINEL)) && bytes % KHEAP_ALIGN == 0 && bytes >= 2 * WORD,
           "overflow: live block %p has header word %#zx", (void *)p, own);
    unsigned char *size_at = p - WORD + bytes;      /* the next header's size word */
    unsigned char *hdr = size_at + WORD - HDR_BYTES; /* the next header's first byte */
    ENSURE(s, range_held(s, (uintptr_t)hdr, (uintptr_t)size_at + WORD),
           "overflow: the header after %p (at %p) is not on a held page", (void *)p, (void *)hdr);
    size_t orig = load_word(size_at), orig_bytes = orig & ~FLAG_MASK;
    ENSURE(s, orig_bytes % KHEAP_ALIGN == 0 && orig_bytes >= 2 * WORD &&
                  range_held(s, (uintptr_t)size_at, (uintptr_t)size_at + WORD) &&
                  (!(orig & FLAG_FREE) ||
                   range_held(s, (uintptr_t)size_at, (uintptr_t)size_at + orig_bytes + WORD)),
           "overflow: the header after %p (at %p) is %#zx before the overflow", (void *)p,
           (void *)size_at, orig);
    long nb = -1;
    for (size_t i = 0; i < s->nlive; i++)
        if (s->blocks[i].p == size_at + WORD)
            nb = (long)i;
    ENSURE(s, nb >= 0 || (orig & (FLAG_FREE | FLAG_SENTINEL)),
           "overflow: the block after %p (header %#zx at %p) is neither live, free nor the sentinel",
           (void *)p, orig, (void *)size_at);

    /* Where the neighbour's heap ends, walked before the write: a walk over
     * a forged header would follow it. */
    uintptr_t nb_heap_end = !KHEAP_HARDEN && nb >= 0 ? heap_size_word_end(s, size_at + WORD) : 0;

    /* The write: a fill from the end of the request through n bytes of the
     * header (a linear overflow), or a forged size word (a targeted one). */
    static unsigned char saved[1 << 16];
    unsigned char *from = p + b.size, *to;
    size_t n = 1 + (size_t)(pat >> 3) % HDR_BYTES;
    if ((pat & 7) < 4) {
        to = hdr + n;
        if ((size_t)(to - from) > sizeof saved) {
            tally.skipped++;
            return;
        }
    } else {
        from = size_at;
        to = size_at + WORD;
    }
    memcpy(saved, from, (size_t)(to - from));
    unsigned char hdr_before[2 * sizeof(size_t)];
    memcpy(hdr_before, hdr, HDR_BYTES);
    size_t forged = orig;
    switch (pat & 7) {
    case 0: memset(from, 0, (size_t)(to - from)); break;
    case 1: memset(from, 0xff, (size_t)(to - from)); break;
    case 2: memset(from, 0x41, (size_t)(to - from)); break;
    case 3: stamp(p, b.size, (size_t)(to - p), b.seed); break;       /* the data runs on */
    case 4: forged = 2 * orig_bytes | (orig & FLAG_MASK); break;
    case 5: forged = orig | FLAG_FREE; break;
    case 6: forged = (orig_bytes + KHEAP_ALIGN) | (orig & FLAG_MASK); break;
    default: forged = orig ^ (size_t)1 << (3 + (pat >> 3) % (8 * WORD - 3)); break;  /* one bit */
    }
    if ((pat & 7) >= 4)
        store_word(size_at, forged);
    size_t now = load_word(size_at), now_bytes = now & ~FLAG_MASK;
    bool header_same = memcmp(hdr_before, hdr, HDR_BYTES) == 0;
    bool all_same = memcmp(saved, from, (size_t)(to - from)) == 0;
    bool on_neighbour = (how & 1) && nb >= 0;
    unsigned char *target = on_neighbour ? size_at + WORD : p;

    /* Left valid: in the full tier the header is the same and, when the
     * block itself is freed, so is its canary (check words and canaries see
     * any change; freeing the neighbour reads only its own header).  In the
     * basic tier the header is the
     * same, or it is now a well-formed header of a block in use (no flag, a
     * size that is a multiple of KHEAP_ALIGN): the O(1) tests cannot tell
     * that from the truth (kheap.h: bytes that look like a live block can
     * pass), and no free trusts more of it than that.  A free flag, a
     * sentinel's size, a free block's size, a misaligned or tiny size are
     * what free must report. */
    bool valid;
    if (KHEAP_HARDEN)
        valid = header_same && (on_neighbour || all_same);
    else
        valid = header_same || ((now & FLAG_MASK) == 0 && now_bytes % KHEAP_ALIGN == 0 &&
                                now_bytes >= 2 * WORD);
    tracef("  overflow: block %p size %zu, pattern %u, %zu bytes at %p: next header %#zx -> %#zx "
           "(%s), then free(%p)%s\n", (void *)p, b.size, pat & 7u, (size_t)(to - from),
           (void *)from, orig, now, nb >= 0 ? "live" : (orig & FLAG_SENTINEL) ? "sentinel" : "free",
           (void *)target, valid ? ", header left valid" : "");

    /* A forged size the basic tier cannot tell from the truth, on the block
     * that is freed, leads free past the block's own heap when it reaches
     * beyond that heap's sentinel: free then writes the flag and the footer
     * into whatever lies there, the next heap's header, or the home heap's
     * instance, whose lock hooks the very call then unlocks with.  That is
     * the basic tier's documented limit, not a finding: undone, skipped. */
    if (!KHEAP_HARDEN && valid && on_neighbour && now_bytes != orig_bytes &&
        (uintptr_t)size_at + now_bytes > nb_heap_end) {
        memcpy(from, saved, (size_t)(to - from));
        tally.skipped++;
        return;
    }

    s->overflowed = true;
    input_over = true;
    s->expect_report = true;
    s->reports = 0;
    kheap_free(s->h, target);
    s->expect_report = false;
    tally.ops[M_OVERFLOW]++;
    tracef("  overflow: free(%p) -> %d report(s): %s (%p)\n", (void *)target, s->reports,
           s->reports != 0 ? s->report_what : "-", s->reports != 0 ? s->report_addr : NULL);
    if (s->reports == 0) {
        ENSURE(s, valid, "overflow not reported: pattern %u wrote %zu bytes at %p (block %p size %zu), "
                         "next header %#zx -> %#zx, and free(%p) returned without a report",
               pat & 7u, (size_t)(to - from), (void *)from, (void *)p, b.size, orig, now,
               (void *)target);
        tally.overflow_silent++;
        s->overflow_silent = true;
        return;
    }
    report_expected(s, "overflow", CALL_FREE, target, texts_overflow);
    const unsigned char *a = s->report_addr;
    ENSURE(s, a == target || (a >= p && a <= size_at + 2 * WORD),
           "overflow: free(%p) reported '%s' at %p, outside [%p, %p]", (void *)target,
           s->report_what, (const void *)a, (void *)p, (void *)(size_at + 2 * WORD));
}

typedef void (*op_fn)(inst *, input *);
typedef struct op_def {
    const char *name;
    op_fn fn;
    unsigned weight;
    bool keeps_freed;  /* cannot reuse the memory of the block freed last */
} op_def;

/* make_corpus.py's SLOT table follows these weights. */
static const op_def ops[] = {
    {"alloc", op_alloc, 15, false},       {"calloc", op_calloc, 4, false},
    {"realloc", op_realloc, 9, false},    {"aligned_alloc", op_aligned, 6, false},
    {"free", op_free, 13, true},          {"usable_size", op_usable, 2, true},
    {"stats", op_stats, 2, false},        {"walk", op_walk, 2, true},
    {"dump", op_dump, 1, true},           {"faults", op_faults, 2, true},
    {"recreate", op_recreate, 1, false},  {"free_all", op_free_all, 1, true},
    {"sbrk", op_sbrk, 1, true},           {"verify_all", op_verify_all, 1, true},
    {"double_free", op_double_free, 1, true}, {"interior", op_interior, 1, true},
    {"foreign", op_foreign, 1, true},     {"overflow", op_overflow, 1, true},
};
#define NOPS (sizeof ops / sizeof ops[0])
static const op_def *op_table[64];

static void build_op_table(void)
{
    size_t n = 0;
    for (size_t i = 0; i < NOPS; i++)
        for (unsigned w = 0; w < ops[i].weight && n < 64; w++)
            op_table[n++] = &ops[i];
    ENSURE(NULL, n == 64, "the op weights fill %zu of 64 slots", n);
}

/* One line: what the misuse ops did, so a run that made none shows. */
static void misuse_tally_line(const char *prefix)
{
    unsigned long total = 0;
    for (int k = 0; k < M_KINDS; k++)
        total += tally.ops[k];
    fprintf(stderr, "%smisuse: %lu calls (double free %lu, interior %lu, foreign %lu, overflow %lu%s), "
                    "%lu reports checked, %lu overflows left their header valid, %lu skipped\n",
            prefix, total, tally.ops[M_DOUBLE_FREE], tally.ops[M_INTERIOR], tally.ops[M_FOREIGN],
            tally.ops[M_OVERFLOW], FUZZ_OVERFLOW ? "" : ", built out", tally.reports,
            tally.overflow_silent, tally.skipped);
}

#ifndef FUZZ_REPLAY_MAIN
/* libFuzzer ends with exit(): the line follows its final statistics. */
static void misuse_tally_print(void) { misuse_tally_line("fuzz "); }
#endif

/* ------------------------------------------------------------ entry */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size, 0};
    if (op_table[0] == NULL) {
        build_op_table();
#ifndef FUZZ_REPLAY_MAIN
        atexit(misuse_tally_print);
#endif
        POISON(bufs, sizeof bufs);
        const char *t = getenv("FUZZ_TRACE");
        trace = t != NULL && *t != '\0' && *t != '0';
    }
    op_index = 0;
    op_name = "setup";
    input_over = false;
    /* Stamps are data the misuse ops read (a forged header, an overflow
     * that runs on): the same input must stamp the same bytes. */
    seed_counter = 0;
    uint8_t cfg[NINST][3];
    for (int i = 0; i < NINST; i++)
        for (int j = 0; j < 3; j++)
            cfg[i][j] = in_u8(&in);
    for (int i = 0; i < NINST; i++) {
        inst *s = &insts[i];
        memset(s, 0, offsetof(inst, held_map));
        s->id = i;
        s->buf = bufs[i];
        s->lock_depth = 0;
        region_setup(s, cfg[i][0], cfg[i][2]);
        instance_create(s, cfg[i][1]);
        s->map_mode = 0;
        check_instance(s);
    }
    while (in_more(&in) && op_index < 100000) {
        uint8_t b = in_u8(&in);
        inst *s = &insts[(b >> 6) % NINST];
        const op_def *op = op_table[b & 63];
        op_index++;
        op_name = op->name;
        tracef("op %lu: %s on %d\n", op_index, op->name, s->id);
        if (s->h == NULL && op->fn != op_recreate && op->fn != op_sbrk && op->fn != op_faults)
            continue;
        if (!op->keeps_freed)
            s->freed = NULL;
        op->fn(s, &in);
        if (input_over)
            break;
        check_instance(s);
    }
    op_name = "teardown";
    for (int i = 0; i < NINST; i++) {
        inst *s = &insts[i];
        if (s->h != NULL && !s->overflowed)
            op_verify_all(s, &in);
        verify_brk(s, s->brk_start, s->brk);
        instance_destroy(s);
        region_teardown(s);
    }
    return 0;
}

#ifdef FUZZ_REPLAY_MAIN
/* -m first: fail unless the inputs made every kind of misuse call (the
 * overflow only when it is built in) and checked a report. */
int main(int argc, char **argv)
{
    static uint8_t data[1 << 20];
    bool want_misuse = argc > 1 && strcmp(argv[1], "-m") == 0;
    int first = want_misuse ? 2 : 1;
    for (int i = first; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            perror(argv[i]);
            return 2;
        }
        size_t n = fread(data, 1, sizeof data, f);
        fclose(f);
        fprintf(stderr, "replay %s (%zu bytes)\n", argv[i], n);
        LLVMFuzzerTestOneInput(data, n);
    }
    char done[64];
    snprintf(done, sizeof done, "replayed %d input(s): ok; ", argc - first);
    misuse_tally_line(done);
    if (want_misuse) {
        for (int k = 0; k < M_KINDS; k++)
            if (tally.ops[k] == 0 && (k != M_OVERFLOW || FUZZ_OVERFLOW)) {
                fprintf(stderr, "replay: no %s misuse call in these inputs\n", misuse_names[k]);
                return 1;
            }
        if (tally.reports == 0) {
            fprintf(stderr, "replay: no report checked\n");
            return 1;
        }
    }
    return 0;
}
#endif
