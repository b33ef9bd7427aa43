/* Host runner for the suite: the same cases the test kernel runs, over a
 * region laid on an mmap'd buffer, plus the mmap provider.
 * Usage: ktest [filter]   (runs the cases whose name contains filter)
 * KTEST_STRESS_OPS=n sets the stress cases' operation count (1,000,000). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host_provider.h"
#include "ktest.h"

#define HOST_REGION_BYTES ((size_t)64 << 20)
#define HOST_PAGE_SIZE 4096u
/* Address space the guard provider reserves (PROT_NONE until mapped). */
#define HOST_GUARD_BYTES ((size_t)256 << 20)

/* The stress cases' length: KTEST_STRESS_OPS, a positive count, else the
 * default.  An emulated run (tests/run32.sh under qemu-i386) asks fewer. */
static unsigned long stress_ops(void)
{
    const char *s = getenv("KTEST_STRESS_OPS");
    char *end = NULL;
    unsigned long n = s != NULL ? strtoul(s, &end, 10) : 0;
    return n != 0 && end != NULL && *end == '\0' ? n : 1000000ul;
}

static void write_stdout(const char *text, size_t len)
{
    fwrite(text, 1, len, stdout);
}

int main(int argc, char **argv)
{
    void *mem = mmap(NULL, HOST_REGION_BYTES, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    kheap_region *region = kheap_region_init(mem, (char *)mem + HOST_REGION_BYTES, HOST_PAGE_SIZE);
    if (region == NULL) {
        fputs("kheap_region_init failed\n", stderr);
        return 2;
    }
    const kheap_provider client = kheap_region_provider(region);
    host_provider_state os_state = {0};
    kheap_provider os = host_provider(&os_state, 0);
    guard_provider_state guard_state = {0};
    kheap_provider guard = guard_provider(&guard_state, HOST_GUARD_BYTES);
    if (guard.page_size == 0) {
        fputs("guard_provider: cannot reserve the range\n", stderr);
        return 2;
    }
    ktest_env env = {
        .region = region,
        .region_provider = &client,
        .stress_ops = stress_ops(),
        .write = write_stdout,
        .os_provider = &os,
        .guard_provider = &guard,
        .read_faults = host_read_faults,
        .name = "host",
    };
    const char *filter = argc > 1 ? argv[1] : NULL;
    size_t failed = ktest_run_filtered(&env, ktest_suite, ktest_suite_count, filter);
    fflush(stdout);
    guard_provider_close(&guard_state);
    munmap(mem, HOST_REGION_BYTES);
    return failed == 0 ? 0 : 1;
}
