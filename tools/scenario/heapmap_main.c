/*
 * The heap-picture scenario: a kernel image of its own (no test suite) that
 * fragments a kheap instance and frees it again, printing a dump at four
 * points for tools/heapmap.py (`make heapmap`) and stopping at
 * heapmap_breakpoint() for the debugger (`make debug`, tests/tools/test_gdb.sh).
 *
 * Each dump is kheap_dump's text with the region's page map spliced in
 * after its `kheap-dump begin` line (tools/DUMP-FORMAT.md):
 *
 *     label point=N name=NAME
 *     region start=0x... end=0x... page_size=N pages=N meta=N mapped=N brk=N free=N largest_free_run=N
 *     pages first=I count=N kind=K        one line per run of pages of one kind
 *
 * Sizes scale with the board's heap region, so the same scenario pictures a
 * 4 MiB mps2 and a 16 KiB micro:bit.  Exit status 0 iff kheap_check held at
 * every point and every page came back.
 */
#include "../../kernel/board.h"
#include "../../kernel/console.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../alloc/kheap.h"
#include "../../alloc/region.h"

#define MAX_OBJECTS 96
/* The largest share of the region the scenario allocates. */
#define BUDGET_CAP (32u * 1024u)

/* What the debugger walks (tools/gdb/kheap.py: `kheap` with no argument). */
kheap *kheap_debug_instance;
kheap_region *kheap_debug_region;

static kheap_region *region;
static void *objects[MAX_OBJECTS];
static size_t object_count;
static void *large_object;
static uint32_t rng_state = 0x2545f491u;
static bool all_checks_ok = true;

/* The debugger stops here once the heap is fragmented (`break
 * heapmap_breakpoint`); noinline and the empty asm keep it a real call. */
__attribute__((noinline, used)) void heapmap_breakpoint(void);
__attribute__((noinline, used)) void heapmap_breakpoint(void)
{
    __asm__ volatile("" ::: "memory");
}

/* xorshift32: deterministic, no division. */
static uint32_t rng(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

/* ------------------------------------------------------------ the dump */

static void put_region_lines(void)
{
    kheap_region_usage u;
    kheap_region_usage_get(region, &u);
    kprintf("region start=%p end=%p page_size=%zu pages=%zu meta=%zu mapped=%zu brk=%zu "
            "free=%zu largest_free_run=%zu\n",
            (void *)__heap_start, (void *)(__heap_start + u.pages_total * u.page_size),
            u.page_size, u.pages_total, u.pages_meta, u.pages_mapped, u.pages_brk,
            u.pages_free, u.largest_free_run);
    size_t first = 0;
    while (first < u.pages_total) {
        char kind = kheap_region_page_kind(region, first);
        size_t n = 1;
        while (first + n < u.pages_total && kheap_region_page_kind(region, first + n) == kind)
            n++;
        kprintf("pages first=%zu count=%zu kind=%c\n", first, n, kind);
        first += n;
    }
}

typedef struct splice {
    bool done;
    unsigned point;
    const char *name;
} splice;

/* kheap_dump's output function: passes the text through and, once the
 * `kheap-dump begin` line has ended, adds the label and the region lines. */
static void dump_out(void *ctx, const char *text, size_t len)
{
    splice *s = ctx;
    size_t i = 0;
    if (!s->done) {
        while (i < len && text[i] != '\n')
            i++;
        if (i == len) {
            console_write(text, len);
            return;
        }
        i++;
        console_write(text, i);
        s->done = true;
        kprintf("label point=%u name=%s\n", s->point, s->name);
        put_region_lines();
    }
    console_write(text + i, len - i);
}

static void point(kheap *h, unsigned n, const char *name)
{
    splice s = {false, n, name};
    kheap_dump(h, dump_out, &s);
    const char *why = NULL;
    bool ok = kheap_check(h, &why);
    kprintf("heapmap: point %u (%s): kheap_check %s%s\n", n, name, ok ? "ok" : "FAILED: ",
            ok ? "" : why);
    all_checks_ok &= ok;
}

/* ------------------------------------------------------------ the scenario */

/* The objects come from three functions by size, so the picture (and the
 * debugger's `kheap leaks`) has call sites to tell apart: the image is
 * built with KHEAP_TRACE=1 (mk/heapmap.mk).  Each counts its block after
 * the call, so the call is not a tail call and the site is its own, and
 * in a counter of its own, so the compiler cannot fold the three into
 * one body. */
static volatile unsigned made[3];
#define OBJECT_MAKER(name, n) \
    static __attribute__((noinline)) void *name(kheap *h, size_t size) \
    { \
        void *p = kheap_alloc(h, size); \
        made[n]++; \
        return p; \
    }
OBJECT_MAKER(new_token, 0)
OBJECT_MAKER(new_record, 1)
OBJECT_MAKER(new_buffer, 2)

static void *new_object(kheap *h, size_t size, size_t max_object)
{
    return size < max_object / 4 ? new_token(h, size)
           : size < max_object / 2 ? new_record(h, size) : new_buffer(h, size);
}

static void panic_hook(void *ctx, kheap_misuse what, const void *addr)
{
    (void)ctx;
    kprintf("heapmap: kheap panic: %s at %p\n", kheap_misuse_text(what), addr);
    all_checks_ok = false;
}

static size_t pow2_floor(size_t v)
{
    size_t p = 1;
    while (p <= v / 2)
        p <<= 1;
    return p;
}

_Noreturn void kernel_main(void)
{
    uart_init();
    arch_init();
    kprintf("kheap heapmap scenario: board %s, cpu %s\n", BOARD_NAME, BOARD_CPU);
    region = kheap_region_init(__heap_start, __heap_end, BOARD_PAGE_SIZE);
    if (region == NULL) {
        kputs("heapmap: FAIL: kheap_region_init refused the heap region\n");
        board_exit(EXIT_SETUP_FAILED);
    }
    kheap_debug_region = region;
    kheap_region_usage u;
    kheap_region_usage_get(region, &u);
    size_t usable = u.pages_free * u.page_size;
    size_t budget = usable / 4 < BUDGET_CAP ? usable / 4 : BUDGET_CAP;
    size_t page = u.page_size;

    /* Heaps of a quarter of the budget, so the scenario spans several;
     * requests of an eighth of it get a heap of their own. */
    kheap_config cfg = {
        .provider = kheap_region_provider(region),
        .panic = panic_hook,
        .heap_pages = (budget / 4 + page - 1) / page,
        .large_threshold = budget / 8,
    };
    kheap *h = kheap_create(&cfg);
    if (h == NULL) {
        kputs("heapmap: FAIL: kheap_create\n");
        board_exit(EXIT_SETUP_FAILED);
    }
    kheap_debug_instance = h;

    /* What a libc's sbrk would hold beside the heap: two pages. */
    void *brk = kheap_region_sbrk(region, (intptr_t)(2 * page));
    bool brk_held = brk != (void *)-1;

    point(h, 1, "fresh");

    /* Fragment: objects of assorted sizes up to 3/4 of the budget, one
     * request bigger than a heap (a heap of its own), then every other
     * object freed. */
    size_t max_object = pow2_floor(budget / 32);
    size_t total = 0;
    while (object_count < MAX_OBJECTS && total < budget - budget / 4) {
        size_t size = 8 + (rng() & (max_object - 1));
        void *p = new_object(h, size, max_object);
        if (p == NULL)
            break;
        objects[object_count++] = p;
        total += size;
    }
    large_object = new_buffer(h, budget / 4 + budget / 16);
    for (size_t i = 0; i < object_count; i += 2) {
        kheap_free(h, objects[i]);
        objects[i] = NULL;
    }
    point(h, 2, "fragmented");
    heapmap_breakpoint();

    /* Partial frees: the large block and every third survivor. */
    kheap_free(h, large_object);
    large_object = NULL;
    for (size_t i = 1; i < object_count; i += 6) {
        kheap_free(h, objects[i]);
        objects[i] = NULL;
    }
    point(h, 3, "partly-freed");

    for (size_t i = 0; i < object_count; i++) {
        kheap_free(h, objects[i]);
        objects[i] = NULL;
    }
    if (brk_held)
        kheap_region_sbrk(region, -(intptr_t)(2 * page));
    point(h, 4, "all-freed");

    kheap_debug_instance = NULL;
    kheap_destroy(h);
    kheap_region_usage_get(region, &u);
    bool back = u.pages_mapped == 0 && u.pages_brk == 0;
    kprintf("heapmap: %zu objects, pages back: %s\n", object_count, back ? "yes" : "NO");
    int status = all_checks_ok && back ? EXIT_PASS : EXIT_TESTS_FAILED;
    kprintf("heapmap: exit %d\n", status);
    board_exit(status);
}
