/* make size: a program that uses the whole malloc family of kheap over the
 * region shim and its set-up (and, with -DSIZE_DIAG, stats/check/walk/dump),
 * so the link keeps exactly what they need: size.sh's "everything" figure.
 * size.sh takes the family (linked on its own, with only the family as
 * roots) out of it to get the set-up part, and stops if this program does
 * not keep every section the family does: keep calling all of it. */
#include "kheap.h"
#include "region.h"

extern char heap_area[];
char heap_area[65536] __attribute__((aligned(4096)));
void *volatile sink;
int main(void);

#ifdef SIZE_DIAG
static bool walk_fn(void *ctx, const kheap_block_info *b) { (void)ctx; (void)b; return true; }
static void out_fn(void *ctx, const char *t, size_t n) { (void)ctx; (void)t; (void)n; }
#endif

int main(void)
{
    kheap_region *r = kheap_region_init(heap_area, heap_area + sizeof heap_area, 4096);
    kheap_config c = { .provider = kheap_region_provider(r) };
    kheap *h = kheap_create(&c);
    sink = kheap_alloc(h, 10);
    sink = kheap_calloc(h, 1, 20);
    sink = kheap_realloc(h, sink, 40);
    sink = kheap_aligned_alloc(h, 64, 10);
    sink = (void *)kheap_usable_size(h, sink);
    kheap_free(h, sink);
#ifdef SIZE_DIAG
    kheap_stats s;
    kheap_stats_get(h, &s);
    sink = (void *)(uintptr_t)kheap_check(h, NULL);
    kheap_walk(h, walk_fn, NULL);
    kheap_dump(h, out_fn, NULL);
#endif
    kheap_destroy(h);
    return 0;
}
