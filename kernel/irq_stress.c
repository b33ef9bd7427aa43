/*
 * The interrupt stress image: a timer interrupt and the main loop allocate
 * and free on the same kheap instance at once (issue 6, "Interrupts and
 * threads, on target").
 *
 * The instance's lock hooks mask interrupts the way a kernel would (PRIMASK
 * on M-profile, CPSR.I on A-profile; kernel/irq.h) and keep a depth count.
 * Every tick the interrupt handler frees the oldest block of its own ring
 * (after checking its stamp) and allocates a new one (alloc, calloc or
 * aligned); the main loop does random alloc/calloc/aligned/realloc/free on
 * its own slots, stamping every payload and checking the stamp before
 * every realloc and free.  Around each kheap call the main loop sets
 * in_kheap_call; the unlock hook says, just before it unmasks, whether a
 * tick is pending.  From those the handler counts
 *   - ticks that arrived while the main loop was inside a kheap call, and
 *     the kheap operations it did on the instance from there;
 *   - ticks that the lock held off and that were taken the moment the
 *     unlock hook unmasked;
 *   - ticks that arrived with the lock held (must be none).
 * The end: timer off, interrupts masked, kheap_check, every stamp checked,
 * everything freed, the instance destroyed and every page back.
 *
 * Output is the ktest protocol ("ok N - name", "not ok N - name: ...",
 * "N passed, M failed") so tests/run_boards.sh reads it like the suite.
 */
#include "board.h"
#include "console.h"
#include "stack.h"
#include "irq.h"

#include <stdbool.h>
#include <stddef.h>

#include "../alloc/kheap.h"
#include "../alloc/region.h"

/* Main-loop operations (each one kheap call); the handler's come on top. */
#ifndef IRQ_MAIN_OPS
#define IRQ_MAIN_OPS 100000ul
#endif
/* Timer period in timer counts (mk/irqtest.mk sets it per board). */
#ifndef IRQ_TICK_PERIOD
#define IRQ_TICK_PERIOD 200u
#endif
#define IRQ_MIN_TOTAL_OPS 100000ul
#define IRQ_CALIBRATE_STEPS 1000000ul
/* At least this many ticks, and this share of them (1 in N) arriving
 * while the main loop is inside a kheap call. */
#define IRQ_MIN_TICKS 1000ul
#define IRQ_MID_CALL_SHARE 20ul
/* A kheap_check and a block count against the stats every so often. */
#define IRQ_CHECK_EVERY 10000ul

/* Slots for the main loop's blocks: workload_for uses 256 on the boards
 * with megabytes, 64 and 24 on the small ones (small pages), where the
 * array's RAM comes out of the heap region. */
#define MAX_MAIN_SLOTS (BOARD_PAGE_SIZE >= 4096u ? 256u : 64u)
#define ISR_RING 8u
#define ISR_MAX_SIZE 48u
#define ISR_ALIGN 32u

/* Paint that must be left at the stack's bottom at the end. */
#define STACK_MIN_SPARE 128u

enum { MARK_NONE, MARK_UNLOCKED, MARK_PENDING };

/* ---------------------------------------------------------------- shared
 * Written by one side, read by the other: volatile, 32-bit, so each access
 * is one load or store on every core here. */
static kheap *volatile heap;
static volatile uint32_t in_kheap_call; /* main loop is inside a kheap call */
static volatile uint32_t lock_depth;    /* lock hooks' nesting */
static volatile uint32_t unlock_marker; /* MARK_*: set by unlock just before it unmasks */
static volatile uint32_t in_isr;
static volatile uint32_t isr_work;      /* the handler allocates only while set */

static struct {
    volatile uint32_t ticks;
    volatile uint32_t ticks_mid_call;    /* main loop was inside a kheap call */
    volatile uint32_t ticks_deferred;    /* held off by the lock, taken at unlock */
    volatile uint32_t ticks_after_unlock;/* came right after an unlock, not pending at it */
    volatile uint32_t ticks_in_lock;     /* lock held: must stay 0 */
    volatile uint32_t ops;
    volatile uint32_t ops_mid_call;      /* done while the main loop was inside kheap */
    volatile uint32_t nulls;
    volatile uint32_t stamp_errors;
    volatile uint32_t zero_errors;
    volatile uint32_t align_errors;
} isr;

/* Main-side counts. */
static struct {
    uint32_t ops, allocs, callocs, aligned, reallocs, frees, nulls;
    uint32_t stamp_errors, zero_errors, align_errors, size_errors;
    uint32_t checks, check_failures, count_mismatches;
    uint32_t unlocks_pending;  /* unlock hook found a tick pending (main loop only) */
    uint32_t lock_calls;
} m;

static volatile uint32_t panics;
static const char *volatile panic_what;
static const void *volatile panic_addr;

/* ---------------------------------------------------------------- helpers */

static uint32_t rng_next(uint32_t *state)
{
    /* xorshift32 */
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* Stamps: a word sequence from the seed (payloads are KHEAP_ALIGN aligned),
 * the tail byte by byte with the bytes the next word would have had
 * (little-endian), so any prefix of a stamp is the stamp of that length:
 * what a realloc keeps can be checked against the old seed. */
static void stamp(void *p, size_t n, uint32_t seed)
{
    uint32_t *w = p;
    uint32_t x = seed | 1u;
    size_t words = n / 4;
    for (size_t i = 0; i < words; i++) {
        w[i] = x;
        x = x * 1664525u + 1013904223u;
    }
    unsigned char *b = p;
    for (size_t i = words * 4; i < n; i++)
        b[i] = (unsigned char)(x >> (8 * (i & 3)));
}

static bool stamp_ok(const void *p, size_t n, uint32_t seed)
{
    const uint32_t *w = p;
    uint32_t x = seed | 1u;
    size_t words = n / 4;
    for (size_t i = 0; i < words; i++) {
        if (w[i] != x)
            return false;
        x = x * 1664525u + 1013904223u;
    }
    const unsigned char *b = p;
    for (size_t i = words * 4; i < n; i++)
        if (b[i] != (unsigned char)(x >> (8 * (i & 3))))
            return false;
    return true;
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* ---------------------------------------------------------------- hooks */

static uintptr_t lock_hook(void *ctx)
{
    (void)ctx;
    uintptr_t saved = irq_save_disable();
    lock_depth++;
    if (!in_isr)
        m.lock_calls++;
    return saved;
}

static void unlock_hook(void *ctx, uintptr_t saved)
{
    (void)ctx;
    lock_depth--;
    if (irq_saved_enabled(saved)) {
        /* Still masked here: a pending tick is one the lock held off, and
         * it is taken right after the restore, with the marker still set. */
        bool pending = irq_timer_pending();
        if (pending && !in_isr)
            m.unlocks_pending++;
        unlock_marker = pending ? MARK_PENDING : MARK_UNLOCKED;
        irq_restore(saved);
        unlock_marker = MARK_NONE;
    } else {
        irq_restore(saved);
    }
}

static void panic_hook(void *ctx, kheap_misuse what, const void *addr)
{
    (void)ctx;
    if (panics++ == 0) {
        panic_what = kheap_misuse_text(what);
        panic_addr = addr;
    }
}

/* ---------------------------------------------------------------- handler */

typedef struct isr_slot {
    void *p;
    uint32_t size;
    uint32_t seed;
} isr_slot;

static isr_slot isr_ring[ISR_RING];
static uint32_t isr_next;
static uint32_t isr_rng = 0x2545f491u;

static void isr_step(bool mid_call)
{
    isr_slot *s = &isr_ring[isr_next];
    isr_next = (isr_next + 1) % ISR_RING;
    kheap *h = heap;
    uint32_t ops = 0;
    if (s->p != NULL) {
        if (!stamp_ok(s->p, s->size, s->seed))
            isr.stamp_errors++;
        kheap_free(h, s->p);
        s->p = NULL;
        ops++;
    }
    uint32_t r = rng_next(&isr_rng);
    uint32_t size = 1 + r % ISR_MAX_SIZE;
    void *p;
    switch ((r >> 12) & 7u) {
    case 0:
        p = kheap_calloc(h, 1, size);
        if (p != NULL && !all_zero(p, size))
            isr.zero_errors++;
        break;
    case 1:
        p = kheap_aligned_alloc(h, ISR_ALIGN, size);
        if (p != NULL && (uintptr_t)p % ISR_ALIGN != 0)
            isr.align_errors++;
        break;
    default:
        p = kheap_alloc(h, size);
        break;
    }
    ops++;
    if (p == NULL) {
        isr.nulls++;
    } else {
        if ((uintptr_t)p % KHEAP_ALIGN != 0)
            isr.align_errors++;
        s->p = p;
        s->size = size;
        s->seed = r;
        stamp(p, size, r);
    }
    isr.ops += ops;
    if (mid_call)
        isr.ops_mid_call += ops;
}

/* The timer's interrupt (kernel/timer_systick.c, or kernel/gic.c for the
 * GIC timers). */
void irq_tick(void)
{
    uint32_t marker = unlock_marker;
    bool mid_call = in_kheap_call != 0;
    isr.ticks++;
    if (lock_depth != 0)
        isr.ticks_in_lock++;
    if (mid_call)
        isr.ticks_mid_call++;
    if (marker == MARK_PENDING)
        isr.ticks_deferred++;
    else if (marker == MARK_UNLOCKED)
        isr.ticks_after_unlock++;
    if (isr_work) {
        in_isr = 1;
        isr_step(mid_call);
        in_isr = 0;
    }
}

/* ---------------------------------------------------------------- main loop */

typedef struct main_slot {
    unsigned char *p;
    uint32_t size;
    uint32_t seed;
} main_slot;

static main_slot slots[MAX_MAIN_SLOTS];
static uint32_t nslots, small_max, big_max, align_max;
static uint32_t main_rng = 0x6b43a9b5u;

/* Sizes scale with the heap: 13 KiB on microbit, about 56 KiB on
 * lm3s6965evb, megabytes elsewhere (there the big ones pass the large
 * threshold and get heaps of their own). */
static void workload_for(size_t heap_bytes)
{
    if (heap_bytes >= 1024u * 1024u) {
        nslots = 256; small_max = 512; big_max = 24 * 1024; align_max = 256;
    } else if (heap_bytes >= 32u * 1024u) {
        nslots = 64; small_max = 256; big_max = 3 * 1024; align_max = 128;
    } else {
        nslots = 24; small_max = 96; big_max = 640; align_max = 64;
    }
    if (nslots > MAX_MAIN_SLOTS)
        nslots = MAX_MAIN_SLOTS;
}

static uint32_t pick_size(uint32_t r)
{
    if ((r & 31u) == 0)
        return 1 + (r >> 5) % big_max;
    return 1 + (r >> 5) % small_max;
}

/* Each wrapper is one kheap call with in_kheap_call set around it. */
static void *call_alloc(size_t size)
{
    in_kheap_call = 1;
    void *p = kheap_alloc(heap, size);
    in_kheap_call = 0;
    return p;
}

static void *call_calloc(size_t n, size_t size)
{
    in_kheap_call = 1;
    void *p = kheap_calloc(heap, n, size);
    in_kheap_call = 0;
    return p;
}

static void *call_aligned(size_t align, size_t size)
{
    in_kheap_call = 1;
    void *p = kheap_aligned_alloc(heap, align, size);
    in_kheap_call = 0;
    return p;
}

static void *call_realloc(void *old, size_t size)
{
    in_kheap_call = 1;
    void *p = kheap_realloc(heap, old, size);
    in_kheap_call = 0;
    return p;
}

static void call_free(void *p)
{
    in_kheap_call = 1;
    kheap_free(heap, p);
    in_kheap_call = 0;
}

static void main_fill(main_slot *s, unsigned char *p, uint32_t size, uint32_t seed)
{
    s->p = p;
    s->size = size;
    s->seed = seed;
    stamp(p, size, seed);
}

static void main_op(void)
{
    uint32_t r = rng_next(&main_rng);
    main_slot *s = &slots[r % nslots];
    uint32_t r2 = rng_next(&main_rng);
    uint32_t kind = r2 & 15u;
    uint32_t size = pick_size(r2 >> 4);
    uint32_t seed = rng_next(&main_rng);
    unsigned char *p;

    if (s->p == NULL) {
        if (kind < 9) {
            p = call_alloc(size);
            m.allocs++;
        } else if (kind < 11) {
            p = call_calloc(1, size);
            m.callocs++;
            if (p != NULL && !all_zero(p, size))
                m.zero_errors++;
        } else if (kind < 14) {
            uint32_t align = KHEAP_ALIGN << ((r2 >> 28) % 6);
            if (align > align_max)
                align = align_max;
            p = call_aligned(align, size);
            m.aligned++;
            if (p != NULL && (uintptr_t)p % align != 0)
                m.align_errors++;
        } else {
            p = call_realloc(NULL, size);
            m.reallocs++;
        }
        if (p == NULL) {
            m.nulls++;
        } else {
            if ((uintptr_t)p % KHEAP_ALIGN != 0)
                m.align_errors++;
            main_fill(s, p, size, seed);
        }
    } else {
        if (!stamp_ok(s->p, s->size, s->seed))
            m.stamp_errors++;
        if (kind < 8) {
            call_free(s->p);
            m.frees++;
            s->p = NULL;
        } else if (kind == 8) {
            p = call_realloc(s->p, 0); /* frees */
            m.reallocs++;
            if (p != NULL)
                m.size_errors++;
            s->p = NULL;
        } else {
            p = call_realloc(s->p, size);
            m.reallocs++;
            if (p == NULL) {
                m.nulls++; /* the old block stays, stamp and all */
            } else {
                uint32_t keep = size < s->size ? size : s->size;
                if (!stamp_ok(p, keep, s->seed))
                    m.stamp_errors++;
                main_fill(s, p, size, seed);
            }
        }
    }
    m.ops++;
}

static uint32_t main_live(void)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < nslots; i++)
        n += slots[i].p != NULL;
    return n;
}

static uint32_t isr_live(void)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < ISR_RING; i++)
        n += isr_ring[i].p != NULL;
    return n;
}

/* Mid-run: kheap_check with the timer running (it takes the lock itself),
 * then, masked, the block count against both sides' live blocks. */
static void periodic_check(void)
{
    const char *why = NULL;
    m.checks++;
    in_kheap_call = 1;
    bool ok = kheap_check(heap, &why);
    in_kheap_call = 0;
    if (!ok) {
        if (m.check_failures++ == 0)
            kprintf("irq: kheap_check failed after %lu ops: %s\n", (unsigned long)m.ops,
                    why != NULL ? why : "?");
    }
    uintptr_t saved = irq_save_disable();
    kheap_stats st;
    kheap_stats_get(heap, &st);
    uint32_t live = main_live() + isr_live();
    irq_restore(saved);
    if (st.blocks_in_use != live) {
        if (m.count_mismatches++ == 0)
            kprintf("irq: %zu blocks in use, the two sides hold %lu\n", st.blocks_in_use,
                    (unsigned long)live);
    }
}

/* Two instructions a step on every core here.  GCC hands Thumb-1 inline
 * assembly over in divided syntax. */
#if defined(__aarch64__)
#define SPIN_ASM "1:\n\tsubs %w0, %w0, #1\n\tb.ne 1b"
#define SPIN_REG "+r"
#elif defined(__thumb__) && !defined(__thumb2__)
#define SPIN_ASM ".syntax unified\n1:\n\tsubs %0, %0, #1\n\tbne 1b\n\t.syntax divided"
#define SPIN_REG "+l"
#else
#define SPIN_ASM "1:\n\tsubs %0, %0, #1\n\tbne 1b"
#define SPIN_REG "+l"
#endif
static void spin(uint32_t steps)
{
    __asm__ volatile(SPIN_ASM : SPIN_REG(steps) :: "cc");
}

/* ---------------------------------------------------------------- report */

static unsigned passed, failed, case_no;

static void check(bool ok, const char *name, const char *detail)
{
    case_no++;
    if (ok) {
        passed++;
        kprintf("ok %u - %s\n", case_no, name);
    } else {
        failed++;
        kprintf("not ok %u - %s: %s\n", case_no, name, detail);
    }
}

static bool pages_all_back(const kheap_region *region)
{
    kheap_region_usage u;
    kheap_region_usage_get(region, &u);
    kprintf("irq: pages after: total %zu, meta %zu, mapped %zu, brk %zu, free %zu\n",
            u.pages_total, u.pages_meta, u.pages_mapped, u.pages_brk, u.pages_free);
    return u.pages_mapped == 0 && u.pages_brk == 0;
}

_Noreturn void kernel_main(void)
{
    stack_paint();
    uart_init();
    arch_init();
    size_t heap_bytes = (size_t)(__heap_end - __heap_start);
    kprintf("kheap irq stress: board %s, cpu %s\n", BOARD_NAME, BOARD_CPU);
    kheap_region *region = kheap_region_init(__heap_start, __heap_end, BOARD_PAGE_SIZE);
    if (region == NULL) {
        kputs("irq: FAIL: kheap_region_init refused the heap region\n");
        board_exit(EXIT_SETUP_FAILED);
    }
    const kheap_config config = {
        .provider = kheap_region_provider(region),
        .lock = lock_hook,
        .unlock = unlock_hook,
        .panic = panic_hook,
    };
    heap = kheap_create(&config);
    if (heap == NULL) {
        kputs("irq: FAIL: kheap_create refused the config\n");
        board_exit(EXIT_SETUP_FAILED);
    }
    workload_for(heap_bytes);
    uint32_t hz = irq_timer_hz();
    kprintf("irq: heap %zu KiB, page %u; main %lu ops on %lu slots (sizes to %lu, big to %lu); "
            "timer period %lu counts",
            heap_bytes / 1024, (unsigned)BOARD_PAGE_SIZE, (unsigned long)IRQ_MAIN_OPS,
            (unsigned long)nslots, (unsigned long)small_max, (unsigned long)big_max,
            (unsigned long)IRQ_TICK_PERIOD);
    if (hz != 0)
        kprintf(" at %lu Hz", (unsigned long)hz);
    kputs("\n");

    /* ------------------------------------------------ the run */
    bool started = irq_timer_start(IRQ_TICK_PERIOD);
    if (started) {
        irq_enable();
        /* How often it ticks, in instructions (QEMU -icount makes time a
         * count of them): ticks over a loop of two-instruction steps. */
        uint32_t before = isr.ticks;
        spin(IRQ_CALIBRATE_STEPS);
        uint32_t calib = isr.ticks - before;
        kprintf("irq: %lu ticks over %lu instructions of busy loop", (unsigned long)calib,
                (unsigned long)(2 * IRQ_CALIBRATE_STEPS));
        if (calib != 0)
            kprintf(" (one per %lu)", (unsigned long)(2 * IRQ_CALIBRATE_STEPS / calib));
        kputs("\n");
        uintptr_t saved = irq_save_disable();
        isr.ticks = 0;
        isr.ticks_after_unlock = 0;
        isr_work = 1;
        irq_restore(saved);
    }
    for (unsigned long i = 0; started && i < IRQ_MAIN_OPS; i++) {
        main_op();
        if ((i + 1) % IRQ_CHECK_EVERY == 0)
            periodic_check();
    }
    (void)irq_save_disable();
    irq_timer_stop();
    isr_work = 0;

    uint32_t ticks = isr.ticks;
    unsigned long total_ops = (unsigned long)m.ops + isr.ops;
    kprintf("irq: main ops %lu (alloc %lu, calloc %lu, aligned %lu, realloc %lu, free %lu, "
            "NULL %lu), lock calls %lu\n",
            (unsigned long)m.ops, (unsigned long)m.allocs, (unsigned long)m.callocs,
            (unsigned long)m.aligned, (unsigned long)m.reallocs, (unsigned long)m.frees,
            (unsigned long)m.nulls, (unsigned long)m.lock_calls);
    kprintf("irq: ticks %lu: mid-call %lu, held off by the lock and taken at unlock %lu "
            "(unlocks that found one pending %lu), right after an unlock %lu, in the lock %lu\n",
            (unsigned long)ticks, (unsigned long)isr.ticks_mid_call,
            (unsigned long)isr.ticks_deferred, (unsigned long)m.unlocks_pending,
            (unsigned long)isr.ticks_after_unlock, (unsigned long)isr.ticks_in_lock);
    kprintf("irq: handler ops %lu (%lu while the main loop was inside kheap), NULL %lu; "
            "total ops %lu\n",
            (unsigned long)isr.ops, (unsigned long)isr.ops_mid_call, (unsigned long)isr.nulls,
            total_ops);

    check(started, "timer starts", "irq_timer_start refused the period");
    check(ticks >= IRQ_MIN_TICKS, "timer interrupts fired", "fewer ticks than IRQ_MIN_TICKS");
    check(total_ops >= IRQ_MIN_TOTAL_OPS && isr.ops >= ticks,
          "at least 100000 operations, every tick allocating",
          "too few operations, or ticks without a handler operation");
    check(isr.ticks_in_lock == 0, "no tick while the lock was held",
          "a tick came in with the lock hooks' interrupts masked");
    check(isr.ticks_mid_call > 0 && isr.ticks_mid_call >= ticks / IRQ_MID_CALL_SHARE,
          "ticks arrived mid kheap call", "too few ticks inside main-loop kheap calls");
    check(isr.ops_mid_call > 0, "handler used the instance while a main-loop call was in it",
          "no handler operation inside a main-loop kheap call");
    check(isr.ticks_deferred > 0 && isr.ticks_deferred == m.unlocks_pending,
          "ticks held off by the lock were taken at unlock",
          "pending ticks at unlock and ticks taken at unlock differ, or none");
    if (m.stamp_errors + m.zero_errors + m.align_errors + m.size_errors != 0)
        kprintf("irq: main loop: %lu stamp, %lu zeroing, %lu alignment, %lu realloc(p, 0) errors\n",
                (unsigned long)m.stamp_errors, (unsigned long)m.zero_errors,
                (unsigned long)m.align_errors, (unsigned long)m.size_errors);
    if (isr.stamp_errors + isr.zero_errors + isr.align_errors != 0)
        kprintf("irq: handler: %lu stamp, %lu zeroing, %lu alignment errors\n",
                (unsigned long)isr.stamp_errors, (unsigned long)isr.zero_errors,
                (unsigned long)isr.align_errors);
    check(m.stamp_errors == 0 && m.zero_errors == 0 && m.align_errors == 0 &&
          m.size_errors == 0, "main-loop stamps, zeroing and alignment",
          "a main-loop block was overwritten, not zeroed or misaligned");
    check(isr.stamp_errors == 0 && isr.zero_errors == 0 && isr.align_errors == 0,
          "handler stamps, zeroing and alignment",
          "a handler block was overwritten, not zeroed or misaligned");
    check(m.checks > 0 && m.check_failures == 0 && m.count_mismatches == 0,
          "kheap_check and block counts during the run",
          "kheap_check failed or the stats' block count disagreed mid-run");

    /* ------------------------------------------------ the end, masked */
    const char *why = NULL;
    bool clean = kheap_check(heap, &why);
    if (!clean)
        kprintf("irq: kheap_check: %s\n", why != NULL ? why : "?");
    check(clean, "kheap_check clean at the end", "kheap_check failed");

    uint32_t end_errors = 0;
    for (uint32_t i = 0; i < nslots; i++)
        if (slots[i].p != NULL) {
            if (!stamp_ok(slots[i].p, slots[i].size, slots[i].seed))
                end_errors++;
            kheap_free(heap, slots[i].p);
            slots[i].p = NULL;
        }
    for (uint32_t i = 0; i < ISR_RING; i++)
        if (isr_ring[i].p != NULL) {
            if (!stamp_ok(isr_ring[i].p, isr_ring[i].size, isr_ring[i].seed))
                end_errors++;
            kheap_free(heap, isr_ring[i].p);
            isr_ring[i].p = NULL;
        }
    check(end_errors == 0, "every live block's stamp at the end", "a live block was overwritten");

    kheap_stats st;
    kheap_stats_get(heap, &st);
    kprintf("irq: stats: allocs %zu, frees %zu, failed %zu, peak in use %zu, peak pages %zu\n",
            st.allocs, st.frees, st.failed, st.peak_in_use_bytes, st.peak_pages);
    clean = kheap_check(heap, &why);
    check(clean && st.blocks_in_use == 0 && st.in_use_bytes == 0 && st.allocs == st.frees,
          "all blocks freed, kheap_check clean", "blocks left in use or check failed");
    check(panics == 0, "no misuse reported", panic_what != NULL ? panic_what : "panic hook called");
    if (panics != 0)
        kprintf("irq: panic hook: %s at %p (%lu calls)\n", panic_what, panic_addr,
                (unsigned long)panics);

    kheap_destroy(heap);
    heap = NULL;
    check(pages_all_back(region), "every page back to the region", "pages still mapped");
    size_t spare = (size_t)(__stack_top - __stack_bottom) - stack_used();
    kprintf("irq: stack used %zu of %zu bytes\n", (size_t)(__stack_top - __stack_bottom) - spare,
            (size_t)(__stack_top - __stack_bottom));
    check(spare >= STACK_MIN_SPARE, "stack stayed in bounds", "stack nearly or fully used");

    kprintf("%u passed, %u failed\n", passed, failed);
    board_exit(failed == 0 ? EXIT_PASS : EXIT_TESTS_FAILED);
}
