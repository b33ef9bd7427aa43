/* A program with known leaks for the drop-in's KHEAP_LEAKS=1 report
 * (tests/dropin/run.sh): three functions leak, four give back all they
 * take.  Built with -rdynamic so dladdr can name its functions; no stdio,
 * whose buffers would be blocks of the C library's own.
 *   leak_names   3 x malloc(24)
 *   leak_table   2 x calloc(5, 8)
 *   leak_grow    1 x realloc(malloc(16), 104): the realloc is the site
 * On x86-64 with tracing a block's usable size is 16n + 8 bytes, and these
 * requests are of that form: the report's bytes are 72, 80 and 104. */
#include <stdlib.h>

void *volatile kept[8];
static int kept_n;

/* Each stores the block after the call, so the call is not a tail call
 * and its return address lies in the function that called malloc. */
#define KEEP(p) (kept[kept_n++ & 7] = (p))

__attribute__((noinline)) void leak_names(void) { KEEP(malloc(24)); }
__attribute__((noinline)) void leak_table(void) { KEEP(calloc(5, 8)); }
__attribute__((noinline)) void leak_grow(void) { KEEP(realloc(malloc(16), 104)); }

__attribute__((noinline)) void balanced_copy(void)
{
    char *p = malloc(200);
    KEEP(p);
    free(p);
}
__attribute__((noinline)) void balanced_resize(void)
{
    char *p = calloc(4, 10);
    p = realloc(p, 300);
    KEEP(p);
    free(p);
}
__attribute__((noinline)) void balanced_aligned(void)
{
    void *p = aligned_alloc(64, 128);
    KEEP(p);
    free(p);
}
__attribute__((noinline)) void balanced_many(void)
{
    void *p[32];
    for (int i = 0; i < 32; i++)
        p[i] = malloc((size_t)(8 * i + 1));
    for (int i = 0; i < 32; i++)
        free(p[i]);
}

int main(void)
{
    for (int i = 0; i < 3; i++) {
        balanced_copy();
        balanced_resize();
        balanced_aligned();
        balanced_many();
        leak_names();
        if (i < 2)
            leak_table();
    }
    leak_grow();
    return 0;
}
