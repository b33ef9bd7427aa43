/*
 * kheap internals, shared by core.c (blocks over spans), pages.c (spans
 * from provider pages) and diag.c (stats, check, walk, dump).  Not part of
 * the interface.
 *
 * Block format
 * ------------
 * A heap (a span) is a run of pages, or the buffer given to
 * kheap_create_in.  It starts with a struct heap (the home heap also holds
 * the struct kheap right after it), then blocks fill it, and its last word
 * is a sentinel header.  KH_WORD is one word (sizeof(size_t)).
 *
 *     block *b ->  +------------------+  prev_size: the previous block's
 *                  | prev_size        |  footer, valid only while that
 *                  +------------------+  block is free (PREV_FREE set)
 *                  | size | flags     |  the one header word of a block
 *     payload  ->  +------------------+  in use; payload is KHEAP_ALIGN
 *                  | next_free        |  aligned
 *                  | back_link        |  (free blocks only)
 *                  | ...              |
 *                  +------------------+
 *                  | size (footer)    |  = next block's prev_size
 *     next b   ->  +------------------+
 *
 * A block's size is the distance from its header word to the next block's
 * header word, a multiple of KHEAP_ALIGN, so a block in use costs one word
 * and its payload runs up to the next header (its usable size is size - KH_WORD).
 * The free links and the footer live in the payload and in the next block's
 * prev_size slot, which are dead while the block is in use: that is why
 * prev_size comes *before* the size word.  With the footer, free finds the
 * previous block in O(1); with PREV_FREE in the next header, it knows
 * whether the footer is valid.
 *
 * Call-site tracing (KHEAP_TRACE=1) puts two more words in the header,
 * before the size word (and after the full tier's check word):
 *
 *                  | prev_size        |
 *                  | site             |  the call that last returned the
 *                  | seq              |  block, and that call's number in
 *                  | size | flags     |  the instance's allocation sequence
 *     payload  ->  +------------------+
 *
 * In the header, not at the block's end, because a header stays put when
 * realloc resizes in place and the core finds it in O(1) from a payload; before
 * the size word, so the size word still precedes the payload and every
 * walk reads it at the same place.  A block in use costs 3 words instead
 * of one (8 more bytes on 32-bit before rounding to KHEAP_ALIGN).  kheap_mark
 * records the sequence number; a block is "since the mark" iff its seq is
 * newer, so a mark is O(1) and the leak walk needs no bit per block.  The
 * words are written on every return of a block (trace_note in core.c) and
 * are stale while it is free; nothing reads them then.
 *
 * Flags sit in the low bits of size, free because sizes are multiples of
 * KHEAP_ALIGN (at least 8):
 *   FREE       the block is free and sits in the index
 *   PREV_FREE  the block before it is free (its footer is valid)
 *   SENTINEL   the heap's last word: size then holds the heap's byte length,
 *              so the heap header is found from any block that ends there
 *
 * Free-block index: TLSF's two levels.  A size maps to a first level (its
 * highest bit) and a second level (the next SL_LOG2 bits below it), which
 * together number its list: list_index(), with no branch.  Below
 * KH_SMALL_BLOCK every list holds one size.  A bitmap has a bit per list, in
 * 32-bit words, and a summary word a bit per non-empty word, so the first
 * non-empty list at or after any list is two bit scans away.  A search
 * starts at the list after the request's own, so any block found fits:
 * good fit in O(1), no list walked.
 *
 * The designated victim (dv, after dlmalloc): one free block kept out of the
 * index, where the last split left its rest or a new heap its space.  An
 * allocation tries, in order, the head of its own list (for the small lists,
 * which hold one size each, an exact fit), good fit, then the dv: the index
 * first keeps the footprint TLSF's, and the dv, like dlmalloc's top, serves
 * the rest by carving, with no list or bitmap touched.  A free next to the
 * dv only grows it; a freed block becomes the dv when there is none.  Of a
 * split's rest and the dv, the larger stays the dv and the other goes to
 * the index, so the dv is where the most room is.
 */
#ifndef KHEAP_HEAP_INTERNAL_H
#define KHEAP_HEAP_INTERNAL_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bits.h"
#include "kheap.h"


/* Second-level lists per power of two: 8 keeps the worst-case waste of a
 * good fit under 1/8 of the request while the index stays small. */
#ifndef KHEAP_SL_LOG2
#define KHEAP_SL_LOG2 3
#endif

/* Blocks are smaller than 2^KHEAP_MAX_BLOCK_LOG2 bytes; requests beyond
 * fail.  It sizes the index: small boards lower it to save RAM. */
#ifndef KHEAP_MAX_BLOCK_LOG2
#if SIZE_MAX > 0xffffffffu
#define KHEAP_MAX_BLOCK_LOG2 47
#else
#define KHEAP_MAX_BLOCK_LOG2 31
#endif
#endif

/* Default heap size in bytes (rounded up to whole pages).  Small, because
 * an embedded heap is judged by its footprint: a heap grows in place where
 * the provider can, and a new one costs only its header and sentinel. */
#ifndef KHEAP_DEFAULT_HEAP_BYTES
#define KHEAP_DEFAULT_HEAP_BYTES 4096u
#endif

/* Default large threshold: a quarter of a heap, but never below this, so
 * that small heaps do not send every middling request to a heap of its
 * own (and a page of its own). */
#ifndef KHEAP_DEFAULT_LARGE_BYTES
#define KHEAP_DEFAULT_LARGE_BYTES 4096u
#endif

#define KH_WORD ((size_t)sizeof(size_t))
#define KH_ALIGN ((size_t)KHEAP_ALIGN)

#define KH_FLAG_FREE ((size_t)1)
#define KH_FLAG_PREV_FREE ((size_t)2)
#define KH_FLAG_SENTINEL ((size_t)4)
#define KH_FLAG_MASK ((size_t)7)

#define KH_HEAP_MAGIC ((size_t)0x6b686561u) /* "khea" */
#define KH_HEAP_HOME 1u                     /* holds the instance; never returned */
#define KH_HEAP_LARGE 2u                    /* one large request; never kept spare */
#define KH_HEAP_TOP_TAKEN 4u                /* a grow at its top failed; cleared by a top trim */

typedef struct block {
    size_t prev_size;
#if KHEAP_HARDEN
    size_t check;  /* size ^ secret ^ address: an overwritten header shows */
#endif
#if KHEAP_TRACE
    const void *site;
    size_t seq;
#endif
    size_t size;
    struct block *next_free;
    /* The link that points at this block: its list's head or the previous
     * block's next_free.  Unlinking needs neither the list nor a branch on
     * being first (as Linux's hlist). */
    struct block **back_link;
} block;

/* From a block to its payload; the header a block in use pays for (the size
 * word, the check word in the full tier, the site and seq words when
 * tracing). */
#define KH_PAYLOAD_OFF (offsetof(block, next_free))
#define KH_HDR (KH_PAYLOAD_OFF - KH_WORD)

/* What a request pays beyond its bytes: the header, and in the full tier
 * the trailing canary's word. */
#define KH_REQ_OVERHEAD ((size_t)KHEAP_BLOCK_OVERHEAD)

/* The smallest block holds the header, both links and the footer. */
#define KH_MIN_BLOCK ((KH_PAYLOAD_OFF + 2 * KH_WORD + KH_ALIGN - 1) & ~(KH_ALIGN - 1))

#define KH_SL_COUNT (1u << KHEAP_SL_LOG2)
#define KH_ALIGN_LOG2 (KH_ALIGN == 8 ? 3 : KH_ALIGN == 16 ? 4 : KH_ALIGN == 32 ? 5 : 6)
#define KH_FL_SHIFT (KHEAP_SL_LOG2 + KH_ALIGN_LOG2)
#define KH_SMALL_BLOCK ((size_t)1 << KH_FL_SHIFT)
#define KH_FL_COUNT (KHEAP_MAX_BLOCK_LOG2 - KH_FL_SHIFT + 1)
#define KH_LIST_COUNT (KH_FL_COUNT * KH_SL_COUNT)
/* One word more than the lists need, so a search may start one past the
 * last list without a bounds test. */
#define KH_MAP_WORDS ((KH_LIST_COUNT >> 5) + 1)
#define KH_MAX_BLOCK ((size_t)1 << KHEAP_MAX_BLOCK_LOG2)

_Static_assert((KH_ALIGN & (KH_ALIGN - 1)) == 0 && KH_ALIGN >= 8 && KH_ALIGN <= 64,
              "flags need 3 free low bits; KH_ALIGN_LOG2 covers 8..64");
_Static_assert(((size_t)1 << KH_ALIGN_LOG2) == KH_ALIGN, "KH_ALIGN_LOG2 matches KH_ALIGN");
_Static_assert(KH_MIN_BLOCK > KH_FLAG_MASK && KH_MIN_BLOCK <= 64,
               "a header word below KH_MIN_BLOCK means a bad size: flags stay below it and a "
               "sentinel's word (a heap's length, at least a 64-byte page) above it");
_Static_assert(KH_ALIGN % KH_WORD == 0, "block boundaries are word boundaries (poison goes by words)");
_Static_assert(offsetof(block, size) + KH_WORD == KH_PAYLOAD_OFF, "payload follows the size word");
_Static_assert(KH_HDR == KH_WORD * (1 + KHEAP_HARDEN + 2 * KHEAP_TRACE),
               "a header is one word, one more in the full tier, two more when tracing");
_Static_assert(KH_REQ_OVERHEAD == KH_HDR + KH_WORD * KHEAP_HARDEN, "the full tier adds the canary word");
_Static_assert(sizeof(block) <= KH_MIN_BLOCK + KH_WORD, "a free block's links fit a minimum block");
_Static_assert(KHEAP_SL_LOG2 >= 1 && KHEAP_SL_LOG2 <= 5, "at most 32 lists per power of two");
_Static_assert(KH_FL_COUNT >= 1 && KH_MAP_WORDS <= 8 * sizeof(size_t), "the summary bitmap is one size_t");
_Static_assert(KHEAP_MAX_BLOCK_LOG2 < 8 * sizeof(size_t), "KH_MAX_BLOCK fits size_t");
_Static_assert(KHEAP_MAX_BLOCK_LOG2 < 128 && KHEAP_HARDEN <= 1 && KHEAP_CHECKS <= 1 &&
               KHEAP_STATS <= 1 && KHEAP_LOCKS <= 1 && KHEAP_TRACE <= 1, "KH_LAYOUT has room for every option");
_Static_assert(KHEAP_CHECKS || !KHEAP_HARDEN, "the full tier builds on the basic tier's checks");

typedef struct heap {
    size_t magic;
    size_t pages;       /* pages held now */
    size_t base_pages;  /* pages when mapped: trimming stops here */
    struct heap *next;  /* the instance's heaps, newest first */
    struct heap *prev;
    struct kheap *owner;
    block *first;
    unsigned flags;     /* KH_HEAP_HOME, KH_HEAP_LARGE, KH_HEAP_TOP_TAKEN */
} heap;

/* What this build's options make of the block format and the instance:
 * kheap_create records it in the instance's first word, where every build
 * finds it, and every entry point compares.  An instance handed to code
 * built with other options (the tier, KHEAP_ALIGN, the index's size, the
 * word size) is refused, not misread: that code cannot even trust where
 * the instance keeps its panic hook, so it touches nothing and returns its
 * failure value.  The profile's options count too: code without the
 * checks, the statistics or the lock hooks would skip what the instance's
 * other users rely on.  Bits 16, 17, 20 and 23 (KHEAP_TRACE, KHEAP_CHECKS,
 * KHEAP_STATS, KHEAP_LOCKS) are clear in 0x6b6c0000. */
#define KH_LAYOUT ((size_t)0x6b6c0000u | (size_t)KHEAP_TRACE << 16 | (size_t)KHEAP_HARDEN << 15 | \
                (size_t)KHEAP_CHECKS << 17 | (size_t)KHEAP_STATS << 20 | (size_t)KHEAP_LOCKS << 23 | \
                (size_t)KHEAP_MAX_BLOCK_LOG2 << 8 | (size_t)KH_ALIGN_LOG2 << 4 | \
                (size_t)KHEAP_SL_LOG2 << 1 | (sizeof(size_t) == 8))

struct kheap {
    size_t layout;           /* KH_LAYOUT of the build that created it */
    /* What every alloc and free reads comes first: small offsets. */
    block *dv;               /* the designated victim: free, not in the index, or NULL */
    /* Bounds of every page ever held, for a cheap wild-pointer test: the
     * lowest payload address they could hold, and the bytes from there to
     * their end (a payload p is in them iff p - first < span). */
    uintptr_t first;
    size_t span;
    /* What alloc and free count, side by side. */
    struct {
        size_t frees, in_use_bytes, allocs, peak_in_use_bytes;
    } use;
    bool exit_work;          /* leaving a call must unlock or report: see leave() */
    /* What the cold paths count; the rest of kheap_stats is derived when
     * asked (diag.c). */
    struct {
        size_t pages, peak_pages, heaps, failed;
    } stats;
    kheap_config config;
    size_t map_summary;      /* bit w: map[w] != 0 */
    uint32_t map[KH_MAP_WORDS]; /* bit i % 32 of map[i / 32]: list i is not empty */
    size_t page_size;
    unsigned page_shift;     /* page_size == 1 << page_shift: no division on cores without it */
    size_t heap_pages;
    size_t large_threshold;  /* in block bytes */
    const struct kh_layer *layer; /* the page layer (pages.h), or NULL: a fixed span */
    heap *heaps;             /* every heap; the home heap is last */
    heap *top;               /* most recent normal heap: the one grown in place */
    heap *spare;             /* an empty heap kept for the next request, or NULL */
    bool broken;             /* corruption seen: every later call fails (fail-stop) */
    kheap_misuse pending_what; /* a detection not yet reported to the panic hook */
    const void *pending_addr;
#if KHEAP_HARDEN
    uintptr_t secret;        /* mixed into header checks, free links and canaries */
    uintptr_t released[4][2]; /* runs of heaps given back lately */
    unsigned released_next;
#endif
#if KHEAP_TRACE
    size_t trace_seq;        /* allocations so far: the newest block's seq */
    size_t trace_mark;       /* trace_seq at the last kheap_mark */
#endif
    size_t block_bytes;      /* bytes of every block of every heap, free or not */
    block *lists[KH_LIST_COUNT];
};

/* h was created by a build with the same layout options (and is not
 * NULL): what every diagnostic asks before it reads the instance. */
static inline bool same_layout(const kheap *h)
{
    return h != NULL && h->layout == KH_LAYOUT;
}

/* h can be used by the malloc family: not NULL and, where the profile
 * checks misuse, same_layout.  The lean profile takes the instance on
 * trust, as it takes a pointer to free (the test is 6 instructions a call
 * on Cortex-M3: the layout word's constant takes two to load). */
static inline bool usable(const kheap *h)
{
    return KHEAP_CHECKS ? same_layout(h) : h != NULL;
}

/* The full tier's per-instance key; the basic tier has none. */
static inline uintptr_t key_of(const kheap *h)
{
#if KHEAP_HARDEN
    return h->secret;
#else
    (void)h;
    return 0;
#endif
}

static inline size_t block_size(const block *b) { return b->size & ~KH_FLAG_MASK; }
static inline bool block_is_free(const block *b) { return (b->size & KH_FLAG_FREE) != 0; }
static inline bool block_prev_is_free(const block *b) { return (b->size & KH_FLAG_PREV_FREE) != 0; }
static inline bool block_is_sentinel(const block *b) { return (b->size & KH_FLAG_SENTINEL) != 0; }
static inline block *block_next(const block *b) { return (block *)(void *)((char *)b + block_size(b)); }
static inline void *block_payload(const block *b) { return (char *)b + KH_PAYLOAD_OFF; }
static inline block *block_from_payload(const void *p) { return (block *)(void *)((char *)p - KH_PAYLOAD_OFF); }
/* The largest request a block can hold. */
static inline size_t block_room(const block *b) { return block_size(b) - KH_REQ_OVERHEAD; }
static inline char *heap_end(const heap *hp, size_t page_size)
{
    return (char *)hp + hp->pages * page_size;
}
/* The sentinel's block pointer: its size word is the heap's last word. */
static inline size_t pages_for(const kheap *h, size_t bytes)
{
    return (bytes >> h->page_shift) + ((bytes & (h->page_size - 1)) != 0);
}
static inline block *heap_sentinel(const heap *hp, size_t page_size)
{
    return (block *)(void *)(heap_end(hp, page_size) - KH_PAYLOAD_OFF);
}
static inline heap *heap_of_sentinel(const block *s)
{
    return (heap *)(void *)((char *)s + KH_PAYLOAD_OFF - block_size(s));
}

/* Every write of a header goes through hdr_set, so the full tier's check
 * word can never lag behind the size word it vouches for. */
#if KHEAP_HARDEN
static inline size_t hdr_check_of(const kheap *h, const block *b, size_t v)
{
    return v ^ key_of(h) ^ (uintptr_t)b;
}
static inline void hdr_set(const kheap *h, block *b, size_t v)
{
    b->size = v;
    b->check = hdr_check_of(h, b, v);
}
static inline bool hdr_ok(const kheap *h, const block *b)
{
    return b->check == hdr_check_of(h, b, b->size);
}
#else
static inline void hdr_set(const kheap *h, block *b, size_t v)
{
    (void)h;
    b->size = v;
}
static inline bool hdr_ok(const kheap *h, const block *b)
{
    (void)h;
    (void)b;
    return true;
}
#endif

/* Free-list links, list heads included.  In the full tier they are stored
 * xor the secret and their own address (safe-linking), so a forged or
 * overwritten link decodes to garbage that link_plausible() rejects; a
 * stored 0 stays NULL, so a zeroed instance starts with empty lists. */
static inline uintptr_t link_code(const kheap *h, const void *at, uintptr_t v)
{
#if KHEAP_HARDEN
    return v != 0 ? v ^ key_of(h) ^ (uintptr_t)at : 0;
#else
    (void)h;
    (void)at;
    return v;
#endif
}
static inline block *link_get(const kheap *h, block *const *at)
{
    return (block *)link_code(h, at, (uintptr_t)*at);
}
static inline void link_set(const kheap *h, block **at, block *v)
{
    *at = (block *)link_code(h, at, (uintptr_t)v);
}
static inline block **back_get(const kheap *h, block **const *at)
{
    return (block **)link_code(h, at, (uintptr_t)*at);
}
static inline void back_set(const kheap *h, block ***at, block **v)
{
    *at = (block **)link_code(h, at, (uintptr_t)v);
}

/* A pointer taken from a free-list link (or the dv) could be a free block
 * of ours: aligned, inside the pages the instance has held, a free header.
 * Tested before a link is followed wherever a bad one must not be (the full
 * tier's hot paths, every diagnostic walk). */
static inline bool link_plausible(const kheap *h, const block *b)
{
    uintptr_t a = (uintptr_t)b;
    return b == NULL ||
           ((a + KH_PAYLOAD_OFF) % KH_ALIGN == 0 && a + KH_PAYLOAD_OFF - h->first < h->span &&
            hdr_ok(h, b) && block_is_free(b));
}

/* The first block of list i, or NULL. */
static inline block *list_head(const kheap *h, unsigned i)
{
    return link_get(h, &h->lists[i]);
}

/* fls32 and ffs32 over a size_t; x != 0. */
static inline unsigned fls_size(size_t x)
{
#if SIZE_MAX > 0xffffffffu
    if (x >> 32)
        return 32 + fls32((uint32_t)(x >> 32));
#endif
    return fls32((uint32_t)x);
}

static inline unsigned ffs_size(size_t x)
{
#if SIZE_MAX > 0xffffffffu
    if ((uint32_t)x == 0)
        return 32 + ffs32((uint32_t)(x >> 32));
#endif
    return ffs32((uint32_t)x);
}

/* The full tier's trailing canary: a block in use ends with a word holding
 * the requested size (xor the secret and the payload's address), and the
 * bytes between the request's end and that word are KH_CANARY, so a write past
 * the end of the request shows when the block is freed or checked. */
#define KH_CANARY 0x5cu

static inline size_t *canary_word(const block *b)
{
    return (size_t *)(void *)((char *)block_payload(b) + block_size(b) - KH_HDR - KH_WORD);
}

static inline void canary_set(const kheap *h, block *b, size_t request)
{
    if (!KHEAP_HARDEN)
        return;
    size_t *word = canary_word(b);
    for (char *c = (char *)block_payload(b) + request; c < (char *)word; c++)
        *c = (char)KH_CANARY;
    *word = request ^ key_of(h) ^ (uintptr_t)block_payload(b);
}

/* Bytes the caller asked for (full tier) or may use (basic tier) in the
 * block in use b; in the full tier, SIZE_MAX when the canary word itself
 * was overwritten. */
static inline size_t block_request(const kheap *h, const block *b)
{
    if (!KHEAP_HARDEN)
        return block_size(b) - KH_HDR;
    size_t request = *canary_word(b) ^ key_of(h) ^ (uintptr_t)block_payload(b);
    return request <= block_room(b) ? request : SIZE_MAX;
}

/* NULL when b's canary is intact, else the first byte that changed. */
static inline const void *canary_broken(const kheap *h, const block *b)
{
    if (!KHEAP_HARDEN)
        return NULL;
    size_t request = block_request(h, b);
    const char *word = (const char *)canary_word(b);
    if (request == SIZE_MAX)
        return word;
    for (const char *c = (const char *)block_payload(b) + request; c < word; c++)
        if ((unsigned char)*c != KH_CANARY)
            return c;
    return NULL;
}

/* The list that holds free blocks of `size` bytes (size < KH_MAX_BLOCK).  Its
 * first level is fls(size) - KH_FL_SHIFT + 1, or 0 below KH_SMALL_BLOCK, where
 * the lists step by KH_ALIGN: or-ing KH_SMALL_BLOCK in folds that case into the
 * general one, so the mapping takes no branch. */
static inline unsigned list_index(size_t size)
{
    unsigned shift = fls_size(size | KH_SMALL_BLOCK) - KHEAP_SL_LOG2;
    return ((shift - KH_ALIGN_LOG2) << KHEAP_SL_LOG2) + (unsigned)(size >> shift);
}

/* Lock hooks: both set or both NULL, and NULL without KHEAP_LOCKS
 * (kheap_create checks). */
static inline uintptr_t kheap_lock(kheap *h)
{
    return KHEAP_LOCKS && h->config.lock != NULL ? h->config.lock(h->config.lock_ctx) : 0;
}
static inline void kheap_unlock(kheap *h, uintptr_t saved)
{
    if (KHEAP_LOCKS && h->config.unlock != NULL)
        h->config.unlock(h->config.lock_ctx, saved);
    (void)saved;
}

/* The statistics the hot paths keep (KHEAP_STATS): bytes in use went up
 * or down by `bytes`; use_peak after a change that may set a new peak. */
static inline void use_peak(kheap *h)
{
    if (KHEAP_STATS && h->use.in_use_bytes > h->use.peak_in_use_bytes)
        h->use.peak_in_use_bytes = h->use.in_use_bytes;
}
static inline void use_shrank(kheap *h, size_t bytes)
{
    if (KHEAP_STATS)
        h->use.in_use_bytes -= bytes;
}
static inline void use_grew(kheap *h, size_t bytes)
{
    if (KHEAP_STATS)
        h->use.in_use_bytes += bytes;
    use_peak(h);
}

#endif
