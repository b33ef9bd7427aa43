/*
 * A firmware image that uses kheap only over a fixed buffer
 * (kheap_create_in): tests/core_alone/check.sh links it with every alloc/
 * object on the command line and --gc-sections, and asserts that nothing of
 * the page layer (pages.c) or the region shim survives: the core stands
 * alone.
 */
#include "../../alloc/kheap.h"

static unsigned char buffer[4096] __attribute__((aligned(8)));

int main(void)
{
    kheap *h = kheap_create_in(buffer, sizeof buffer, NULL);
    void *p = kheap_alloc(h, 10);
    void *q = kheap_calloc(h, 4, 10);
    void *r = kheap_aligned_alloc(h, 64, 100);
    p = kheap_realloc(h, p, 200);
    kheap_free(h, q);
    kheap_free(h, r);
    kheap_free(h, p);
    kheap_destroy(h);
    return p == NULL;
}
