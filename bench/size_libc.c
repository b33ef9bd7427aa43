/* make size: a program that uses the C library's malloc family (malloc,
 * free, realloc, calloc, memalign) over a trivial _sbrk, so the link keeps
 * exactly the libc members they need.  bench/size.sh reads the map. */
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>

static char area[4096];
static char *brk = area;
void *volatile sink;
void *_sbrk(ptrdiff_t incr);
void *sbrk(ptrdiff_t incr);
int main(void);

void *_sbrk(ptrdiff_t incr)
{
    char *old = brk;
    if (incr > area + sizeof area - brk || incr < area - brk)
        return (void *)-1;
    brk += incr;
    return old;
}
void *sbrk(ptrdiff_t incr) { return _sbrk(incr); }

int main(void)
{
    sink = malloc(10);
    sink = calloc(1, 20);
    sink = realloc(sink, 40);
    sink = memalign(64, 10);
    free(sink);
    return 0;
}
