/*
 * kheap: a freestanding heap allocator for kernels and embedded targets.
 *
 * An instance holds heaps (page runs from a kheap_provider, each with a
 * header) that hold blocks (one header word each while in use).  Free blocks
 * sit in a two-level segregated index, so alloc and free take constant time
 * whatever the heap size; the only calls that can take longer are the ones
 * that ask the provider for pages or give them back.
 *
 * Every function is safe to call concurrently on one instance when the config
 * supplies lock hooks.  No function prints; misuse goes to the panic hook.
 * An instance created by a build with other options (KHEAP_HARDEN,
 * KHEAP_TRACE, KHEAP_ALIGN, the index size, the word size) is refused by every function:
 * it touches nothing and returns its failure value (kheap_check says why).
 */
#ifndef KHEAP_H
#define KHEAP_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "page.h"

/* A project may put its compile-time settings in a header of its own. */
#ifdef KHEAP_CONFIG_HEADER
#include KHEAP_CONFIG_HEADER
#endif

/* Build profiles: what each call pays for, chosen at compile time.  A
 * profile sets the options below; a build may still set any of them
 * itself.
 *   KHEAP_PROFILE_LEAN     no misuse checks (a bad pointer is undefined
 *                          behaviour, as with newlib), no statistics but the
 *                          pages and heaps the page layer keeps anyway, no
 *                          lock hooks (kheap_create refuses a config with
 *                          them): the smallest and fastest build
 *   KHEAP_PROFILE_DEFAULT  the basic misuse tier, statistics, lock hooks
 *   KHEAP_PROFILE_FULL     the full misuse tier (KHEAP_HARDEN), statistics,
 *                          lock hooks
 * KHEAP_HARDEN=1 alone still means the full profile. */
#define KHEAP_PROFILE_LEAN 0
#define KHEAP_PROFILE_DEFAULT 1
#define KHEAP_PROFILE_FULL 2
#ifndef KHEAP_PROFILE
#if defined(KHEAP_HARDEN) && KHEAP_HARDEN
#define KHEAP_PROFILE KHEAP_PROFILE_FULL
#else
#define KHEAP_PROFILE KHEAP_PROFILE_DEFAULT
#endif
#endif

/* Misuse detection.  KHEAP_CHECKS 1, the basic tier: cheap checks of the
 * pointer and the headers around it on every free, realloc and
 * usable_size.  KHEAP_HARDEN 1, the full tier, on top: a check word in
 * every header and safe-linked free lists, both keyed by a per-instance
 * secret, freed memory poisoned and verified when handed out again, and a
 * trailing canary after every request, verified when it is freed. */
#ifndef KHEAP_HARDEN
#define KHEAP_HARDEN (KHEAP_PROFILE == KHEAP_PROFILE_FULL)
#endif
#ifndef KHEAP_CHECKS
#define KHEAP_CHECKS (KHEAP_PROFILE != KHEAP_PROFILE_LEAN)
#endif
/* Statistics the hot paths keep: bytes in use and their peak, allocs and
 * frees.  Without them kheap_stats derives bytes and blocks in use by a
 * walk of the heaps and reports peak_in_use_bytes, allocs and frees as 0. */
#ifndef KHEAP_STATS
#define KHEAP_STATS (KHEAP_PROFILE != KHEAP_PROFILE_LEAN)
#endif
/* The config's lock hooks are called; without, they must be NULL. */
#ifndef KHEAP_LOCKS
#define KHEAP_LOCKS (KHEAP_PROFILE != KHEAP_PROFILE_LEAN)
#endif

/* Call-site tracing, chosen at compile time, orthogonal to the tier.  1:
 * every block in use also records the call that last returned it (its
 * site: the return address of kheap_alloc and its kin, or the tag an _at
 * variant was given) and when (an allocation sequence number), two header
 * words, so kheap_leaks can group what is still live since kheap_mark by
 * site and kheap_dump names each block's site.  0: none of it, and the
 * build is what it was without the option. */
#ifndef KHEAP_TRACE
#define KHEAP_TRACE 0
#endif

/* Every pointer kheap returns is aligned to this: alignof(max_align_t)
 * unless a build sets it, to a power of two from 8 to 64.  Lower than
 * max_align_t's only where nothing stored needs more: the host suite sets 8
 * on -m32 to run the Cortex-M geometry (4-byte words, 8-byte alignment)
 * without QEMU. */
#ifndef KHEAP_ALIGN
#define KHEAP_ALIGN (alignof(max_align_t))
#endif

/* Bytes a block in use costs beyond the request (before rounding to
 * KHEAP_ALIGN): one header word; in the full tier a check word and the
 * trailing canary's word too; with KHEAP_TRACE the site and sequence
 * words. */
#define KHEAP_BLOCK_OVERHEAD (sizeof(size_t) * (1 + 2 * KHEAP_HARDEN + 2 * KHEAP_TRACE))

typedef struct kheap kheap;

/* What the panic hook is told: a code per likely bug; kheap_misuse_text
 * (diag.c) gives its message, so an image that prints none carries no
 * strings.  The first group is misuse of one call (the call changes
 * nothing); from KHEAP_MISUSE_WRITE_AFTER_FREE on, corruption found inside
 * an operation (full tier: the instance stops). */
typedef enum kheap_misuse {
    KHEAP_MISUSE_NONE = 0,  /* nothing found */
    KHEAP_MISUSE_MISALIGNED,  /* misaligned pointer */
    KHEAP_MISUSE_FOREIGN,  /* foreign pointer: outside every heap */
    KHEAP_MISUSE_GIVEN_BACK,  /* double free: its heap was given back */
    KHEAP_MISUSE_NOT_HELD,  /* not in a page the instance holds: a double free after its heap went back? */
    KHEAP_MISUSE_HEADER_CHECK,  /* header check failed: double free, or a write over the header */
    KHEAP_MISUSE_DOUBLE_FREE,  /* double free */
    KHEAP_MISUSE_NOT_A_BLOCK,  /* not a block (interior pointer or bad header) */
    KHEAP_MISUSE_NEXT_OVERFLOW,  /* overflow into the next block's header */
    KHEAP_MISUSE_DOUBLE_FREE_MERGED,  /* double free after a merge, or overflow into the next header */
    KHEAP_MISUSE_PREV_UNDERFLOW,  /* underflow into the header (bad previous footer) */
    KHEAP_MISUSE_CANARY,  /* write past the end of the block: the trailing canary was changed */
    KHEAP_MISUSE_LOCK_TOO_DEEP,  /* the newlib glue: __malloc_lock nested too deep */
    KHEAP_MISUSE_UNLOCK_UNPAIRED,  /* the newlib glue: __malloc_unlock without __malloc_lock */
    KHEAP_MISUSE_WRITE_AFTER_FREE,  /* write after free: freed memory was changed */
    KHEAP_MISUSE_LIST_LINK,  /* free list link corrupted: a write after free? */
    KHEAP_MISUSE_LIST_HEAD,  /* free list head corrupted: a write over a freed block's header? */
    KHEAP_MISUSE_FREE_HEADER,  /* free block header corrupted: an overflow from the block before it? */
} kheap_misuse;

/* Called with the likely bug (KHEAP_MISUSE_DOUBLE_FREE, say) and the
 * address involved.  It may return (tests do): the operation then does
 * nothing further and returns its failure value. */
typedef void (*kheap_panic_fn)(void *ctx, kheap_misuse what, const void *addr);

typedef struct kheap_config {
    kheap_provider provider;
    /* Optional lock hooks, both or neither.  lock returns state that unlock
     * restores, so they nest (on Cortex-M: save PRIMASK, disable, restore). */
    uintptr_t (*lock)(void *ctx);
    void (*unlock)(void *ctx, uintptr_t saved);
    void *lock_ctx;
    /* Optional; without it misuse is ignored after detection. */
    kheap_panic_fn panic;
    void *panic_ctx;
    /* Full tier: the key mixed into header check words and free-list links.
     * Give it some entropy where there is any; 0 derives one from the
     * instance's address. */
    uintptr_t secret;
    /* Pages a new heap gets at least; 0 picks a default (4 KiB worth).
     * When the provider cannot give that many, a heap gets just enough. */
    size_t heap_pages;
    /* Requests of at least this many bytes that no free block fits get a
     * heap of their own that goes back to the provider on free; 0 picks a
     * default (a quarter of a heap, at least 4 KiB). */
    size_t large_threshold;
    /* Pages go back to the provider only through kheap_trim: free never
     * calls the provider for a normal heap (no top trim, no empty heap given
     * back), so no free is slower than its O(1) path but a large block's
     * (its heap goes back with it).  false: free gives back a normal heap's
     * whole free pages at its top beyond one, and empty heaps but one. */
    bool trim_by_call;
} kheap_config;

typedef struct kheap_stats {
    size_t in_use_bytes;      /* block bytes in use, headers included */
    size_t free_bytes;        /* block bytes free */
    size_t peak_in_use_bytes; /* highest in_use_bytes so far */
    size_t blocks_in_use;
    size_t free_blocks;
    size_t largest_free;      /* largest request that succeeds without the provider */
    size_t pages;             /* pages held from the provider */
    size_t peak_pages;
    size_t heaps;
    size_t allocs;            /* blocks handed out, realloc moves included */
    size_t frees;             /* blocks freed, realloc moves included */
    size_t failed;            /* requests that could not be met (NULL answers;
                                 not realloc(p, 0), not misuse) */
} kheap_stats;

typedef struct kheap_block_info {
    const void *heap;  /* start of the heap holding the block */
    void *ptr;         /* the payload (what alloc returned, for a block in use) */
    size_t size;       /* bytes from ptr to the next block's header: usable
                          size in use, what an alloc could get when free */
    bool in_use;
} kheap_block_info;

/* Return false to stop the walk. */
typedef bool (*kheap_walk_fn)(void *ctx, const kheap_block_info *block);
/* Receives text in pieces; `len` bytes, not NUL terminated. */
typedef void (*kheap_out_fn)(void *ctx, const char *text, size_t len);

/* Creates an instance whose own state lives in the first pages it maps.
 * Returns NULL iff the config is invalid (no map/unmap, page size not a
 * power of two or below 64, only one lock hook) or the provider has no
 * pages.  Not locked: no other call may use the instance before it returns. */
kheap *kheap_create(const kheap_config *config);

/* Creates an instance over a buffer the caller owns (a static array, a
 * linker-defined region): the instance's state and one span of blocks lie
 * in [buffer, buffer + bytes), and nothing else is ever used: no provider,
 * no growth, no request gets a heap of its own.  Any alignment: the
 * instance starts at the first KHEAP_ALIGN boundary and the span ends at
 * the last one.  config may be NULL, or carry only the lock and panic hooks
 * and the secret: its provider, heap_pages and large_threshold all zero.
 * Returns NULL iff buffer is NULL, buffer + bytes wraps, the config carries
 * anything else (or one lock hook), or the aligned buffer cannot hold the
 * instance and one minimum block: the instance is mostly the index's list
 * heads (about 1 KiB with 4-byte words and the default index, 2.7 KiB
 * with 8-byte words; less where KHEAP_MAX_BLOCK_LOG2 is lowered).  A span longer
 * than the largest block the index takes is cut there.  Its stats count
 * the span as one heap of KHEAP_ALIGN-byte pages.  kheap_destroy on it
 * touches nothing: the buffer is the caller's again.  Not locked. */
kheap *kheap_create_in(void *buffer, size_t bytes, const kheap_config *config);

/* Gives every page back to the provider (an instance from kheap_create_in:
 * nothing to give back, nothing touched); every pointer from the instance
 * becomes invalid.  NULL is ignored.  Not locked: nothing else may use the
 * instance any more.  O(heaps). */
void kheap_destroy(kheap *heap);

/* Returns a block of at least `size` usable bytes aligned to KHEAP_ALIGN;
 * size 0 gets a unique minimum block.  Returns NULL iff the request cannot
 * be met (too large for size arithmetic, or the provider has no pages), with
 * the instance unchanged.  Constant time unless it asks the provider. */
void *kheap_alloc(kheap *heap, size_t size);

/* Gives back to the provider every page the instance can spare now: each
 * empty heap but the home heap (the spare too), and the whole free pages
 * at each heap's top (a heap keeps the pages it was mapped with).  Returns
 * the pages given back; 0 for an instance over a buffer.  O(heaps), a
 * provider call per heap trimmed: the owner calls it when it can wait
 * (kheap_config.trim_by_call keeps frees from ever doing so). */
size_t kheap_trim(kheap *heap);

/* kheap_alloc(n * size) with the bytes zeroed; NULL when n * size
 * overflows. */
void *kheap_calloc(kheap *heap, size_t n, size_t size);

/* Resizes the block at `ptr` keeping min(old, new) bytes: in place when the
 * block or its free neighbour allows, otherwise by moving.  ptr NULL acts as
 * kheap_alloc; size 0 frees ptr and returns NULL.  On failure returns NULL
 * and leaves the old block untouched.  A ptr that is not a live block of
 * this instance goes to the panic hook and returns NULL. */
void *kheap_realloc(kheap *heap, void *ptr, size_t size);

/* Returns a block of at least `size` bytes whose address is a multiple of
 * `align`, any power of two (below KHEAP_ALIGN counts as KHEAP_ALIGN).
 * NULL iff align is not a power of two or the request cannot be met.
 * Constant time unless it asks the provider. */
void *kheap_aligned_alloc(kheap *heap, size_t align, size_t size);

/* Frees a block.  NULL is ignored.  A double free or a pointer that is not a
 * live block of this instance goes to the panic hook and changes nothing:
 * detected by O(1) tests of the pointer (alignment, the instance's address
 * range) and of the header and its neighbours, so a wild pointer whose
 * bytes happen to look like a live block can pass.  Constant time unless it
 * gives pages back. */
void kheap_free(kheap *heap, void *ptr);

/* Usable bytes of a live block (at least what was asked for; in the full
 * tier exactly that, since the bytes after it are the canary); 0 for NULL.
 * Constant time. */
size_t kheap_usable_size(kheap *heap, const void *ptr);

/* Fills *stats.  Constant time but for free_blocks, which counts the free
 * lists: O(free blocks) (the hot paths keep no count of their own). */
void kheap_stats_get(kheap *heap, kheap_stats *stats);

/* Walks every heap, block and free list and checks every invariant.  Returns
 * true iff all hold; otherwise false with *why (when why is not NULL) naming
 * the first broken one.  O(blocks). */
bool kheap_check(kheap *heap, const char **why);

/* Calls fn for every block of every heap in address order within a heap.
 * The instance stays locked during the walk: fn must not call into it. */
void kheap_walk(kheap *heap, kheap_walk_fn fn, void *ctx);

/* Writes a line-oriented text map of the instance (heaps, blocks, stats)
 * through out (with KHEAP_TRACE, each block in use with its site).  Locked
 * like kheap_walk. */
void kheap_dump(kheap *heap, kheap_out_fn out, void *ctx);

/* The message for `what`, naming the likely bug ("double free"); "unknown
 * misuse" for a value that is no code.  In diag.c, with the rest of the
 * text: an image that never prints a report does not link it. */
const char *kheap_misuse_text(kheap_misuse what);

/* ------------------------------------------------------------ call sites
 * The _at variants are kheap_alloc, kheap_calloc, kheap_realloc and
 * kheap_aligned_alloc recording `site` as the block's call site instead of
 * their own return address: for wrappers (a libc's malloc, the host
 * drop-in) that pass their caller's.  Without KHEAP_TRACE they are the
 * plain calls and the site is dropped, so a wrapper calls them in every
 * build.  A realloc records its site whether it moves the block or not: a
 * block's site is the call that last returned it. */
#if KHEAP_TRACE
void *kheap_alloc_at(kheap *heap, size_t size, const void *site);
void *kheap_calloc_at(kheap *heap, size_t n, size_t size, const void *site);
void *kheap_realloc_at(kheap *heap, void *ptr, size_t size, const void *site);
void *kheap_aligned_alloc_at(kheap *heap, size_t align, size_t size, const void *site);

/* Starts a leak period: kheap_leaks reports only blocks returned after the
 * latest mark (before any mark: since kheap_create).  Constant time: it
 * records the allocation sequence number, which every block also holds.
 * The sequence is a size_t and wraps; a period of more than SIZE_MAX
 * allocations is misreported. */
void kheap_mark(kheap *heap);

/* The blocks of one site in a leak report.  `other`: the blocks of every
 * site that did not fit the walk's table (site is NULL then). */
typedef struct kheap_leak {
    const void *site;
    size_t blocks;
    size_t bytes;   /* usable bytes (the full tier: requested bytes) */
    bool other;
} kheap_leak;
typedef void (*kheap_leak_fn)(void *ctx, const kheap_leak *leak);

/* Sites a leak walk tells apart: its table lives on the caller's stack
 * (3 words a site), so the walk allocates nothing from any heap. */
#ifndef KHEAP_LEAK_SITES
#define KHEAP_LEAK_SITES 16
#endif

/* Groups the blocks in use that were returned since the last kheap_mark by
 * site, in the order each site is first met walking the heaps, and calls
 * fn once per site after unlocking (fn may call into the instance).  When
 * more than KHEAP_LEAK_SITES sites leaked, the blocks of the sites met
 * after the table filled come in one last call with `other` set.  Returns
 * the number of calls made (0: no leak), or 0 for an unusable instance.
 * O(blocks * KHEAP_LEAK_SITES). */
size_t kheap_leaks(kheap *heap, kheap_leak_fn fn, void *ctx);

/* The site of a live block, NULL when ptr is NULL; a pointer that is not
 * a live block of this instance goes to the panic hook and returns NULL.
 * Constant time. */
const void *kheap_site_of(kheap *heap, const void *ptr);
#else
static inline void *kheap_alloc_at(kheap *heap, size_t size, const void *site)
{
    (void)site;
    return kheap_alloc(heap, size);
}
static inline void *kheap_calloc_at(kheap *heap, size_t n, size_t size, const void *site)
{
    (void)site;
    return kheap_calloc(heap, n, size);
}
static inline void *kheap_realloc_at(kheap *heap, void *ptr, size_t size, const void *site)
{
    (void)site;
    return kheap_realloc(heap, ptr, size);
}
static inline void *kheap_aligned_alloc_at(kheap *heap, size_t align, size_t size, const void *site)
{
    (void)site;
    return kheap_aligned_alloc(heap, align, size);
}
#endif

#endif
