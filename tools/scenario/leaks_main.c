/*
 * The leak-report scenario (`make leaks`): a kernel image of its own, built
 * with KHEAP_TRACE=1, that runs a small "firmware" whose functions allocate
 * through kheap: most of them give back everything they take, a few known
 * ones leak.  After kheap_mark and the workload it prints kheap_leaks'
 * report over serial, one line per call site:
 *
 *     leaks begin word=4 sites=N
 *     leak site=0x... blocks=N bytes=N
 *     leaks end
 *
 * and tests/leaks/check.sh resolves each site with addr2line and compares
 * names, counts and bytes with tests/leaks/expected.  What the seeded
 * leaks are is stated there, not here: this file only has to produce them.
 * Exit status 0 iff the report fit the table, kheap_check held and no
 * misuse was reported.
 *
 * Sizes are small (under 1 KiB in all) so the 16 KiB micro:bit runs it,
 * and chosen so that on 32-bit a request's usable size is the request
 * itself (a multiple of 8 plus 4): the report's bytes are usable bytes.
 */
#include "../../kernel/board.h"
#include "../../kernel/console.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../alloc/kheap.h"
#include "../../alloc/region.h"

#if !KHEAP_TRACE
#error "the leak scenario needs KHEAP_TRACE=1 (mk/leaks.mk builds it so)"
#endif

static kheap *heap;
static bool misuse_seen;

/* Where the leaked pointers go: the program "forgot" them, but storing
 * each one after the call keeps the call from being a tail call, whose
 * return address would be the caller's caller. */
static void *volatile kept[16];
static unsigned kept_n;

static void keep(void *p)
{
    kept[kept_n++ % 16] = p;
}

/* ------------------------------------------------ the balanced majority */

#define BALANCED(name, size) \
    static __attribute__((noinline)) void name(void) \
    { \
        char *p = kheap_alloc(heap, (size)); \
        if (p != NULL) \
            p[0] = 1; \
        kheap_free(heap, p); \
    }
BALANCED(read_sensor, 24)
BALANCED(format_line, 60)
BALANCED(queue_event, 12)
BALANCED(decode_packet, 92)
BALANCED(hash_block, 44)
BALANCED(log_message, 28)

static __attribute__((noinline)) void resize_table(void)
{
    char *p = kheap_calloc(heap, 4, 10);
    p = kheap_realloc(heap, p, 120);
    kheap_free(heap, p);
}

static __attribute__((noinline)) void aligned_dma(void)
{
    void *p = kheap_aligned_alloc(heap, 32, 48);
    kheap_free(heap, p);
}

/* ------------------------------------------------ the seeded leaks */

/* 20 bytes on each call, forgotten. */
static __attribute__((noinline)) void parse_config(void)
{
    keep(kheap_alloc(heap, 20));
}

/* A zeroed 36-byte session that is never closed. */
static __attribute__((noinline)) void open_session(void)
{
    keep(kheap_calloc(heap, 3, 12));
}

/* A buffer grown by realloc and dropped: its site is the realloc. */
static __attribute__((noinline)) void grow_buffer(void)
{
    char *p = kheap_alloc(heap, 12);
    keep(kheap_realloc(heap, p, 100));
}

static void panic_hook(void *ctx, kheap_misuse what, const void *addr)
{
    (void)ctx;
    kprintf("leaks: kheap panic: %s at %p\n", kheap_misuse_text(what), addr);
    misuse_seen = true;
}

static void print_leak(void *ctx, const kheap_leak *leak)
{
    (void)ctx;
    if (leak->other)
        kprintf("leak other blocks=%zu bytes=%zu\n", leak->blocks, leak->bytes);
    else
        kprintf("leak site=%p blocks=%zu bytes=%zu\n", leak->site, leak->blocks, leak->bytes);
}

/* Counts the report's groups without printing, to say how many first. */
static void count_leak(void *ctx, const kheap_leak *leak)
{
    (void)leak;
    ++*(size_t *)ctx;
}

_Noreturn void kernel_main(void)
{
    uart_init();
    arch_init();
    kprintf("kheap leak scenario: board %s, cpu %s\n", BOARD_NAME, BOARD_CPU);
    kheap_region *region = kheap_region_init(__heap_start, __heap_end, BOARD_PAGE_SIZE);
    kheap_config cfg = {.panic = panic_hook};
    if (region != NULL) {
        cfg.provider = kheap_region_provider(region);
        heap = kheap_create(&cfg);
    }
    if (heap == NULL) {
        kputs("leaks: FAIL: no instance\n");
        board_exit(EXIT_SETUP_FAILED);
    }

    /* Start-up allocations live for good: before the mark, not leaks. */
    for (int i = 0; i < 3; i++)
        keep(kheap_alloc(heap, 64));
    kheap_mark(heap);

    for (int round = 0; round < 4; round++) {
        read_sensor();
        format_line();
        queue_event();
        decode_packet();
        hash_block();
        log_message();
        resize_table();
        aligned_dma();
        if (round < 3)
            parse_config();
        if (round % 2 == 0)
            open_session();
    }
    grow_buffer();

    size_t sites = 0;
    size_t calls = kheap_leaks(heap, count_leak, &sites);
    kprintf("leaks begin word=%zu sites=%zu\n", sizeof(size_t), sites);
    kheap_leaks(heap, print_leak, NULL);
    kputs("leaks end\n");
    const char *why = NULL;
    bool ok = kheap_check(heap, &why);
    kprintf("leaks: kheap_check %s%s\n", ok ? "ok" : "FAILED: ", ok ? "" : why);
    int status = ok && !misuse_seen && calls == sites ? EXIT_PASS : EXIT_TESTS_FAILED;
    kprintf("leaks: exit %d\n", status);
    board_exit(status);
}
