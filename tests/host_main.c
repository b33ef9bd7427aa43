/* Host runner for the suite: the same cases the test kernel runs, over a
 * region laid on an mmap'd buffer, plus the mmap provider.
 * Usage: ktest [filter]   (runs the cases whose name contains filter) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host_provider.h"
#include "ktest.h"

#define HOST_REGION_BYTES ((size_t)64 << 20)
#define HOST_PAGE_SIZE 4096u

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
    host_provider_state os_state = {0};
    kheap_provider os = host_provider(&os_state, 0);
    ktest_env env = {
        .region = region,
        .stress_ops = 1000000,
        .write = write_stdout,
        .os_provider = &os,
        .name = "host",
    };
    const char *filter = argc > 1 ? argv[1] : NULL;
    size_t failed = ktest_run_filtered(&env, ktest_suite, ktest_suite_count, filter);
    fflush(stdout);
    munmap(mem, HOST_REGION_BYTES);
    return failed == 0 ? 0 : 1;
}
