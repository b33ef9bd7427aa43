/*
 * memcpy, memmove, memset and memcmp: the compiler emits calls to them (and
 * alloc/ uses them) but there is no libc.  Built with -fno-builtin and
 * -fno-tree-loop-distribute-patterns (mk/target.mk) so GCC does not turn
 * these loops back into calls to themselves.  Word-sized when both sides are
 * aligned: tests fill and copy whole pages.
 */
#include <stddef.h>
#include <stdint.h>

/* may_alias: the words overlay objects of any type. */
typedef uint32_t __attribute__((may_alias)) word;

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

static int both_aligned(const void *a, const void *b)
{
    return (((uintptr_t)a | (uintptr_t)b) & (sizeof(word) - 1)) == 0;
}

static void copy_forward(unsigned char *d, const unsigned char *s, size_t n)
{
    if (both_aligned(d, s)) {
        for (; n >= sizeof(word); n -= sizeof(word), d += sizeof(word), s += sizeof(word))
            *(word *)(void *)d = *(const word *)(const void *)s;
    }
    while (n-- != 0)
        *d++ = *s++;
}

static void copy_backward(unsigned char *d, const unsigned char *s, size_t n)
{
    d += n;
    s += n;
    if (both_aligned(d, s)) {
        for (; n >= sizeof(word); n -= sizeof(word)) {
            d -= sizeof(word);
            s -= sizeof(word);
            *(word *)(void *)d = *(const word *)(const void *)s;
        }
    }
    while (n-- != 0)
        *--d = *--s;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    copy_forward(dst, src, n);
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    if ((uintptr_t)dst - (uintptr_t)src >= n)
        copy_forward(dst, src, n); /* dst below src, or no overlap */
    else
        copy_backward(dst, src, n);
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    unsigned char b = (unsigned char)c;
    while (n != 0 && ((uintptr_t)d & (sizeof(word) - 1)) != 0) {
        *d++ = b;
        n--;
    }
    word w = b * (word)0x01010101u;
    for (; n >= sizeof(word); n -= sizeof(word), d += sizeof(word))
        *(word *)(void *)d = w;
    while (n-- != 0)
        *d++ = b;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}
