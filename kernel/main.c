/*
 * The test kernel: the tests/ suite on a board, over serial.
 *
 * Banner, a region over the linker's [__heap_start, __heap_end), the suite
 * (ktest prints "ok N"/"not ok N" and "N passed, M failed"), then a check
 * that every page came back.  The exit status is 0 iff nothing failed and
 * nothing leaked; tests/run_boards.sh reads both.
 */
#include "board.h"
#include "console.h"
#include "libc.h"
#include "selftest.h"

#include <stdbool.h>

#include "../alloc/kheap.h"
#include "../alloc/region.h"
#include "../tests/ktest.h"
#include "stack.h"

static void banner(void)
{
    size_t heap_bytes = (size_t)(__heap_end - __heap_start);
    kprintf("kheap test kernel: board %s, cpu %s, %zu-byte words, %zu-byte alignment\n",
            BOARD_NAME, BOARD_CPU, sizeof(size_t), (size_t)KHEAP_ALIGN);
    kprintf("kernel: heap region %p-%p, %zu KiB, page size %u, %zu pages\n",
            (void *)__heap_start, (void *)__heap_end, heap_bytes / 1024,
            (unsigned)BOARD_PAGE_SIZE, heap_bytes / BOARD_PAGE_SIZE);
    kprintf("kernel: stack %p-%p (%zu bytes), stress ops %lu\n", (void *)__stack_bottom,
            (void *)__stack_top, (size_t)(__stack_top - __stack_bottom),
            (unsigned long)BOARD_STRESS_OPS);
}

static void print_usage(const char *when, const kheap_region_usage *u)
{
    kprintf("kernel: pages %s: total %zu, meta %zu, mapped %zu, brk %zu, free %zu, "
            "largest free run %zu\n", when, u->pages_total, u->pages_meta,
            u->pages_mapped, u->pages_brk, u->pages_free, u->largest_free_run);
}

/* The freestanding kernel has no C library (kernel/libc.h); the newlib
 * kernels' kernel/syscalls.c overrides these. */
__attribute__((weak)) bool libc_init(kheap_region *region)
{
    (void)region;
    return true;
}

__attribute__((weak)) size_t libc_pages_held(void)
{
    return 0;
}

/* True iff the suite gave every page back: nothing mapped but what the C
 * library holds, break at 0. */
static bool pages_all_back(const kheap_region *region)
{
    kheap_region_usage u;
    kheap_region_usage_get(region, &u);
    print_usage("after", &u);
    size_t held = libc_pages_held();
    if (u.pages_mapped == held && u.pages_brk == 0)
        return true;
    kprintf("kernel: FAIL: pages not given back: %zu mapped (%zu held by the C library), "
            "%zu brk\n", u.pages_mapped, held, u.pages_brk);
    return false;
}

static size_t run_suite(kheap_region *region)
{
    const kheap_provider client = kheap_region_provider(region);
    const ktest_env env = {
        .region = region,
        .region_provider = &client,
        .stress_ops = BOARD_STRESS_OPS,
        .write = console_write,
        .os_provider = NULL,
        .guard_provider = NULL,
        .read_faults = NULL,
        .name = BOARD_NAME,
    };
    return ktest_run_filtered(&env, ktest_suite, ktest_suite_count, NULL);
}

_Noreturn void kernel_main(void)
{
    stack_paint();
    uart_init();
    arch_init();
    banner();
    kheap_region *region = kheap_region_init(__heap_start, __heap_end, BOARD_PAGE_SIZE);
    if (region == NULL) {
        kputs("kernel: FAIL: kheap_region_init refused the heap region\n");
        board_exit(EXIT_SETUP_FAILED);
    }
    if (!libc_init(region))
        board_exit(EXIT_SETUP_FAILED);
    kheap_region_usage before;
    kheap_region_usage_get(region, &before);
    print_usage("before", &before);
    selftest_run();
    size_t failed = run_suite(region);
    bool back = pages_all_back(region);
    kprintf("kernel: stack used %zu of %zu bytes\n", stack_used(),
            (size_t)(__stack_top - __stack_bottom));
    int status = failed == 0 && back ? EXIT_PASS : EXIT_TESTS_FAILED;
    kprintf("kernel: exit %d\n", status);
    board_exit(status);
}
