/*
 * kheap on-target benchmark: one image per allocator (bench.h's adapter),
 * this main in every one.  It runs one trace per boot, named on the QEMU
 * command line (-semihosting-config ...,arg=<trace>), and prints
 * machine-readable lines that bench/run.sh gathers into
 * build/bench/results.csv and the console table.
 *
 * Counting: QEMU runs with -icount shift=10, so every guest instruction
 * advances virtual time by 1024 ns, and the CMSDK APB timer 0 (25 MHz,
 * 40 ns a tick) counts down 25.6 ticks per instruction.  A call's count is
 * round(ticks * 40 / 1024) minus the same measure of an empty call of the
 * same shape.  The start of every run calibrates the measure against
 * straight-line blocks of known length and prints the result.
 *
 * Traces come from one seeded xorshift32 generator per trace, so every
 * allocator sees the same requests; only where an allocator fails a
 * request (which changes its live set) can its later choices differ.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../kernel/board.h"
#include "../kernel/console.h"
#include "../alloc/region.h"
#include "bench.h"

/* ---------------------------------------------------------------- counter */

/* CMSDK APB timer 0 on the MPS2 boards (QEMU hw/arm/mps2.c: at
 * 0x40000000, clocked at SYSCLK_FRQ = 25 MHz). */
#ifndef BENCH_TIMER_BASE
#define BENCH_TIMER_BASE 0x40000000u
#endif
#define TIMER_CTRL   (*(volatile uint32_t *)(BENCH_TIMER_BASE + 0x0))
#define TIMER_VALUE  (*(volatile uint32_t *)(BENCH_TIMER_BASE + 0x4))
#define TIMER_RELOAD (*(volatile uint32_t *)(BENCH_TIMER_BASE + 0x8))

static void timer_start(void)
{
    TIMER_CTRL = 0;
    TIMER_RELOAD = 0xffffffffu;
    TIMER_VALUE = 0xffffffffu;
    TIMER_CTRL = 1; /* enable, no interrupt */
}

/* 40 ns ticks to 1024 ns instructions, rounded to nearest. */
static uint32_t ticks_to_insns(uint32_t ticks)
{
    return (uint32_t)(((uint64_t)ticks * 5u + 64u) >> 7);
}

/* The measured call sequence, the same for real and empty calls: the
 * function and its arguments are in registers before the first read. */
#define TIMED(ticks, call_expr, ...)                                     \
    do {                                                                 \
        __asm__ volatile("" : "+r"(fn) __VA_OPT__(,) __VA_ARGS__);       \
        uint32_t t0_ = TIMER_VALUE;                                      \
        call_expr;                                                       \
        uint32_t t1_ = TIMER_VALUE;                                      \
        (ticks) = t0_ - t1_;                                             \
    } while (0)

static __attribute__((noinline)) uint32_t t_malloc(void *(*fn)(size_t), size_t n, void **out)
{
    uint32_t t;
    void *r;
    TIMED(t, r = fn(n), "+r"(n));
    *out = r;
    return t;
}

static __attribute__((noinline)) uint32_t t_free(void (*fn)(void *), void *p)
{
    uint32_t t;
    TIMED(t, fn(p), "+r"(p));
    return t;
}

static __attribute__((noinline)) uint32_t t_realloc(void *(*fn)(void *, size_t), void *p,
                                                    size_t n, void **out)
{
    uint32_t t;
    void *r;
    TIMED(t, r = fn(p, n), "+r"(p), "+r"(n));
    *out = r;
    return t;
}

static __attribute__((noinline)) uint32_t t_memalign(void *(*fn)(size_t, size_t), size_t a,
                                                     size_t n, void **out)
{
    uint32_t t;
    void *r;
    TIMED(t, r = fn(a, n), "+r"(a), "+r"(n));
    *out = r;
    return t;
}

/* Straight-line blocks of known length for the calibration. */
#define ADDS_1 "adds r0, r0, #1\n\t"
static __attribute__((noinline)) uint32_t t_block0(void)
{
    uint32_t t0 = TIMER_VALUE;
    __asm__ volatile("" ::: "r0", "memory");
    uint32_t t1 = TIMER_VALUE;
    return t0 - t1;
}
/* A block of exactly n adds between the two timer reads (.rept wants a
 * constant, hence a macro). */
#define T_BLOCK(n) \
    static __attribute__((noinline)) uint32_t t_block##n(void) \
    { \
        uint32_t t0 = TIMER_VALUE; \
        __asm__ volatile(".rept " #n "\n\t" ADDS_1 ".endr" ::: "r0", "cc", "memory"); \
        uint32_t t1 = TIMER_VALUE; \
        return t0 - t1; \
    }
T_BLOCK(37)
T_BLOCK(1000)
T_BLOCK(10000)

/* ---------------------------------------------------------------- stats */

enum { K_MALLOC, K_FREE, K_REALLOC, K_MEMALIGN, K_COUNT };
static const char *const kind_names[K_COUNT] = { "malloc", "free", "realloc", "memalign" };

typedef struct kstat {
    uint32_t n, max, max_o1, n_provider;
    uint64_t sum;
} kstat;

static kstat stats[K_COUNT];
static uint32_t empty_insns[K_COUNT];
static uint32_t failed;
static const bench_allocator *A = &bench_adapter;

static void record(int kind, uint32_t ticks, bool provider)
{
    uint32_t raw = ticks_to_insns(ticks);
    uint32_t insns = raw > empty_insns[kind] ? raw - empty_insns[kind] : 0;
    kstat *s = &stats[kind];
    s->n++;
    s->sum += insns;
    if (insns > s->max)
        s->max = insns;
    if (provider)
        s->n_provider++;
    else if (insns > s->max_o1)
        s->max_o1 = insns;
}

static void *do_malloc(size_t n)
{
    void *p;
    uint32_t pc = bench_provider_calls;
    uint32_t t = t_malloc(A->malloc, n, &p);
    record(K_MALLOC, t, bench_provider_calls != pc);
    if (p == NULL)
        failed++;
    return p;
}

static void do_free(void *p)
{
    uint32_t pc = bench_provider_calls;
    uint32_t t = t_free(A->free, p);
    record(K_FREE, t, bench_provider_calls != pc);
}

static void *do_realloc(void *p, size_t n)
{
    void *q;
    uint32_t pc = bench_provider_calls;
    uint32_t t = t_realloc(A->realloc, p, n, &q);
    record(K_REALLOC, t, bench_provider_calls != pc);
    if (q == NULL)
        failed++;
    return q;
}

static void *do_memalign(size_t a, size_t n)
{
    void *p;
    uint32_t pc = bench_provider_calls;
    uint32_t t = t_memalign(A->memalign, a, n, &p);
    record(K_MEMALIGN, t, bench_provider_calls != pc);
    if (p == NULL)
        failed++;
    return p;
}

/* The smallest count an empty call of each shape takes (it should not
 * vary; the run prints min and max). */
static void measure_empty(void)
{
    uint32_t lo[K_COUNT], hi[K_COUNT];
    for (int k = 0; k < K_COUNT; k++) {
        lo[k] = UINT32_MAX;
        hi[k] = 0;
    }
    void *p;
    for (int i = 0; i < 64; i++) {
        uint32_t v[K_COUNT];
        v[K_MALLOC] = ticks_to_insns(t_malloc(A->empty_malloc, 24, &p));
        v[K_FREE] = ticks_to_insns(t_free(A->empty_free, &p));
        v[K_REALLOC] = ticks_to_insns(t_realloc(A->empty_realloc, &p, 24, &p));
        v[K_MEMALIGN] = ticks_to_insns(t_memalign(A->empty_memalign, 64, 24, &p));
        for (int k = 0; k < K_COUNT; k++) {
            if (v[k] < lo[k])
                lo[k] = v[k];
            if (v[k] > hi[k])
                hi[k] = v[k];
        }
    }
    for (int k = 0; k < K_COUNT; k++) {
        empty_insns[k] = lo[k];
        kprintf("EMPTY,%s,%u,%u\n", kind_names[k], (unsigned)lo[k], (unsigned)hi[k]);
    }
}

static void calibrate(void)
{
    /* Each block's ticks less the empty block's: should be exactly
     * N * 25.6 ticks (N * 1024 / 40), i.e. N instructions. */
    uint32_t base = t_block0();
    uint32_t b37 = t_block37(), b1k = t_block1000(), b10k = t_block10000();
    kprintf("CALIB,empty_ticks=%u,n37_ticks=%u,n1000_ticks=%u,n10000_ticks=%u,"
            "n37_insns=%u,n1000_insns=%u,n10000_insns=%u\n",
            (unsigned)base, (unsigned)(b37 - base), (unsigned)(b1k - base),
            (unsigned)(b10k - base), (unsigned)(ticks_to_insns(b37) - ticks_to_insns(base)),
            (unsigned)(ticks_to_insns(b1k) - ticks_to_insns(base)),
            (unsigned)(ticks_to_insns(b10k) - ticks_to_insns(base)));
}

#include "traces.h"

/* ---------------------------------------------------------------- driver */

/* ---------------------------------------------------------------- driver */


/* SYS_GET_CMDLINE: QEMU hands back its -semihosting-config arg=... words. */
static const char *cmdline(void)
{
    static char buf[128];
    struct { char *buf; uint32_t len; } args = { buf, sizeof buf - 1 };
    register uintptr_t r0 __asm__("r0") = 0x15;
    register void *r1 __asm__("r1") = &args;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    if (r0 != 0)
        return "";
    buf[args.len < sizeof buf ? args.len : sizeof buf - 1] = '\0';
    const char *last = buf;
    for (const char *c = buf; *c != '\0'; c++)
        if (*c == ' ')
            last = c + 1;
    return last;
}

static bool streq(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b)
        a++, b++;
    return *a == *b;
}

/* The region over [__heap_start, ...) whose usable pages (the region's own
 * bookkeeping taken off) are `arena` bytes; the whole heap region when
 * arena is 0 or does not fit. */
static char *arena_end(size_t arena, size_t *usable)
{
    size_t ps = BOARD_PAGE_SIZE;
    for (size_t meta = 1; arena != 0 && meta < 8; meta++) {
        char *end = __heap_start + arena + meta * ps;
        if (end > __heap_end)
            break;
        kheap_region *r = kheap_region_init(__heap_start, end, ps);
        kheap_region_usage u;
        kheap_region_usage_get(r, &u);
        if (u.pages_meta == meta) {
            *usable = arena;
            return end;
        }
    }
    kheap_region *r = kheap_region_init(__heap_start, __heap_end, ps);
    kheap_region_usage u;
    kheap_region_usage_get(r, &u);
    *usable = (u.pages_total - u.pages_meta) * ps;
    return __heap_end;
}

_Noreturn void kernel_main(void)
{
    uart_init();
    arch_init();
    timer_start();
    const char *name = cmdline();
    const trace *t = NULL;
    for (size_t i = 0; i < NTRACES; i++)
        if (streq(name, traces[i].name))
            t = &traces[i];
    if (t == NULL) {
        kprintf("bench: unknown trace '%s'; traces:", name);
        for (size_t i = 0; i < NTRACES; i++)
            kprintf(" %s", traces[i].name);
        kputs("\n");
        board_exit(EXIT_SETUP_FAILED);
    }
    calibrate();
    size_t usable;
    char *end = arena_end(t->arena, &usable);
    if (A->init(__heap_start, end, BOARD_PAGE_SIZE) != 0) {
        kprintf("bench: %s: set-up failed over %p-%p\n", A->name, (void *)__heap_start,
                (void *)end);
        board_exit(EXIT_SETUP_FAILED);
    }
    measure_empty();
    rng = t->seed;
    if (t->fn != NULL)
        t->fn();
    else
        run_mix(&t->m);

    uint32_t calls = 0, max = 0;
    uint64_t sum = 0;
    for (int k = 0; k < K_COUNT; k++) {
        const kstat *s = &stats[k];
        calls += s->n;
        sum += s->sum;
        if (s->max > max)
            max = s->max;
        uint32_t avg10 = s->n ? (uint32_t)((s->sum * 10 + s->n / 2) / s->n) : 0;
        kprintf("KIND,%s,%s,%s,%s,%u,%u.%u,%u,%u,%u\n", BOARD_NAME, A->name, t->name,
                kind_names[k], (unsigned)s->n, (unsigned)(avg10 / 10), (unsigned)(avg10 % 10),
                (unsigned)s->max, (unsigned)s->max_o1, (unsigned)s->n_provider);
    }
    uint32_t avg10 = calls ? (uint32_t)((sum * 10 + calls / 2) / calls) : 0;
    uint32_t malloc_max = stats[K_MALLOC].max > stats[K_MEMALIGN].max ? stats[K_MALLOC].max
                                                                      : stats[K_MEMALIGN].max;
    /* board,allocator,trace,calls,avg_insn,max_insn,malloc_max,free_max,failed,
     * peak_footprint,peak_live */
    kprintf("RESULT,%s,%s,%s,%u,%u.%u,%u,%u,%u,%u,%zu,%zu\n", BOARD_NAME, A->name, t->name,
            (unsigned)calls, (unsigned)(avg10 / 10), (unsigned)(avg10 % 10), (unsigned)max,
            (unsigned)malloc_max, (unsigned)stats[K_FREE].max, (unsigned)failed,
            A->peak_footprint(), peak_live);
    kprintf("EXTRA,%s,%s,%s,arena=%zu,frag512=%u\n", BOARD_NAME, A->name, t->name, usable,
            frag_successes);
    board_exit(EXIT_PASS);
}
