/*
 * kheap bit scans, for the free index (heap_internal.h) and the region
 * shim's page map (region.c): the only arithmetic either needs beyond
 * shifts and masks.  Not part of the interface.
 */
#ifndef KHEAP_BITS_H
#define KHEAP_BITS_H

#include <stdint.h>

/* Index of the highest / lowest set bit of x; x != 0. */
#if defined(__arm__) && !defined(__ARM_FEATURE_CLZ)
/* ARMv6-M has no CLZ; a fixed five-step search keeps the bound constant
 * and keeps libgcc's __clzsi2 out of the link. */
static inline unsigned fls32(uint32_t x)
{
    unsigned r = 0;
    if (x & 0xffff0000u) { x >>= 16; r += 16; }
    if (x & 0xff00u) { x >>= 8; r += 8; }
    if (x & 0xf0u) { x >>= 4; r += 4; }
    if (x & 0xcu) { x >>= 2; r += 2; }
    if (x & 0x2u) r += 1;
    return r;
}
static inline unsigned ffs32(uint32_t x) { return fls32(x & (0u - x)); }
#else
static inline unsigned fls32(uint32_t x) { return 31u - (unsigned)__builtin_clz(x); }
static inline unsigned ffs32(uint32_t x) { return (unsigned)__builtin_ctz(x); }
#endif

#endif
