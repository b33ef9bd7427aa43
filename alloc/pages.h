/*
 * The seam between kheap's two layers.  Not part of the interface.
 *
 *   core.c   blocks over spans: the block format and index of
 *            heap_internal.h, take/split, free/merge, pointer validation,
 *            the malloc family's entry points, kheap_create_in (one span
 *            over a caller's buffer, no page layer at all).
 *   pages.c  spans from provider pages: heaps that grow, trim and go back,
 *            large blocks in heaps of their own, kheap_create.
 *
 * A span is a struct heap followed by blocks and ended by a sentinel (the
 * layout heap_internal.h describes).  The core reaches the page layer only
 * through the instance's `layer` pointer, set by kheap_create and left NULL
 * by kheap_create_in, so a program that only uses kheap_create_in links no
 * page-layer code at all.  With `layer` NULL the core behaves as a page
 * layer that never has memory: refill fails, nothing is given back, no
 * block grows in place past its span, destroy leaves the memory alone.
 *
 * The page layer's contract to the core (every call is made with the
 * instance locked, from a state where every block is where the block
 * format says, and it may only return after restoring that state):
 *
 *   refill(h, need, align)
 *       align == 0: a free block of at least `need` bytes (need below
 *       large_threshold) in a span the core may split: out of the index,
 *       not the dv, its next block in use or the sentinel.  align != 0 (a
 *       power of two, at least KH_ALIGN): a span of its own holding one
 *       block of at least `need` bytes whose payload is a multiple of
 *       align; the core uses it whole (never splits it).  NULL, nothing
 *       changed, when the provider has no pages.
 *   edge_freed(h, b, next)
 *       b: a merged free block, out of the index and not the dv, that ends
 *       at the sentinel `next`.  May shrink b (pages go back) or release its
 *       whole span.  Returns the block that still stands (free, out of the
 *       index: the core places it), or NULL when none does.
 *   grow(h, s, extra)
 *       s: a span's sentinel.  Extends that span in place so its last block
 *       is free and at least `extra` bytes larger than the free space it
 *       ends with now; returns that block (out of the index and the dv), or
 *       NULL with nothing changed.
 *   resize_own(h, b, need)
 *       b: a block in use.  -1 when b is not a block with a span of its own
 *       (the core resizes it as any other); else resizes that span in place
 *       to hold `need` block bytes: 1 done (b's size and the use counters
 *       updated), 0 nothing changed.
 *   release_all(h)
 *       kheap_destroy: every span goes back to the provider.
 *   trim(h)
 *       kheap_trim: gives back every page it can (empty spans but the
 *       home span, free whole pages at span tops); returns how many.  The
 *       core places the blocks that still stand (kh_block_refree).
 */
#ifndef KHEAP_PAGES_H
#define KHEAP_PAGES_H

#include "heap_internal.h"

struct kh_layer {
    block *(*refill)(kheap *h, size_t need, size_t align);
    block *(*edge_freed)(kheap *h, block *b, block *next);
    block *(*grow)(kheap *h, block *sentinel, size_t extra);
    int (*resize_own)(kheap *h, block *b, size_t need);
    void (*release_all)(kheap *h);
    size_t (*trim)(kheap *h);
};

/* The page layer over a provider: what kheap_create puts in `layer`. */
extern const struct kh_layer kh_pages_layer;

/* What the core offers the page layer beyond heap_internal.h: takes free
 * block b out of the index, or out of the dv (core.c). */
void kh_block_unfree(kheap *h, block *b);
/* ...and puts free block b (merged, out of the index and the dv) where a
 * free puts it: the dv when there is none, else the index. */
void kh_block_refree(kheap *h, block *b);

/* Hot-path inlining (see core.c); the page layer's functions are COLD. */
#ifdef __OPTIMIZE_SIZE__
#define HOT static inline
/* Called from several places: one copy in an -Os build. */
#define SHARED static __attribute__((noinline))
#else
#define HOT static inline __attribute__((always_inline))
#define SHARED HOT
#endif
#define COLD static __attribute__((noinline, cold))

static inline size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

HOT void block_set_size(const kheap *h, block *b, size_t size)
{
    hdr_set(h, b, size | (b->size & KH_FLAG_MASK));
}

#define POISON 0xa5u
#define POISON_WORD ((size_t)-1 / 0xffu * POISON)

/* Freed memory is filled with POISON and verified when handed out again,
 * so a write after free shows at the next allocation of those bytes.  Every
 * poisoned range starts and ends on a word boundary (block sizes are
 * multiples of KHEAP_ALIGN), so both go a word at a time. */
HOT void poison_fill(char *from, char *to)
{
    if (KHEAP_HARDEN)
        for (size_t *w = (size_t *)(void *)from; (char *)w < to; w++)
            *w = POISON_WORD;
}

/* Where a free block's poison lies: past its links, up to its footer. */
static inline char *poison_start(const block *b) { return (char *)block_payload(b) + 2 * KH_WORD; }

/* Offset of the first payload in a span whose header takes header_bytes. */
static inline size_t first_payload_offset(size_t header_bytes)
{
    return align_up(header_bytes + KH_HDR, KH_ALIGN);
}

/* The header of the span that holds the instance: its struct heap, then
 * the struct kheap. */
static inline size_t home_header_bytes(void)
{
    return align_up(sizeof(heap), alignof(struct kheap)) + sizeof(struct kheap);
}

#if KHEAP_HARDEN
/* A key when the caller gives none: the instance's address, mixed so that
 * nearby instances get unrelated keys. */
static inline uintptr_t secret_from(uintptr_t x)
{
    x ^= x >> 7;
    x *= (uintptr_t)0x9e3779b97f4a7c15u;
    x ^= x >> 13;
    return x | 1u;
}
#endif

#endif
