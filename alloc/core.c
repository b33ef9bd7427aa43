/*
 * kheap's core: blocks over spans.  The block format, the free-block index
 * and the designated victim are described in heap_internal.h; a span is a
 * struct heap, blocks, and a sentinel.  The core knows no pages and no
 * provider: where it needs memory, or a freed block ends a span, it asks
 * the page layer through the instance's `layer` (its contract is at the
 * top of pages.h; pages.c is the one that serves kheap_create).  An
 * instance over a fixed buffer (kheap_create_in, at the end) has no layer:
 * one span, never grown, never given back.
 */
#include "pages.h"

/* The paths every alloc and free take are inlined into one body (a call
 * costs a push, a pop and argument moves on Cortex-M: about a fifth of an
 * operation); the paths that reach the page layer stay out of line.  An
 * -Os build leaves the choice to the compiler (HOT/SHARED/COLD: pages.h). */

/* ------------------------------------------------ detection (full tier) */

/* Corruption found inside an operation: the instance stops (every later
 * call fails) rather than follow a pointer it cannot trust; the report
 * goes to the panic hook once the lock is released. */
COLD void corrupt(kheap *h, kheap_misuse what, const void *addr)
{
    if (!h->broken && h->pending_what == KHEAP_MISUSE_NONE) {
        h->pending_what = what;
        h->pending_addr = addr;
        h->exit_work = true;
    }
    h->broken = true;
}

/* Only the full tier detects corruption, so only there can an instance
 * stop: in the basic tier every test of it compiles away. */
HOT bool stopped(const kheap *h) { return KHEAP_HARDEN && h->broken; }

static bool is_list_head(const kheap *h, block *const *at)
{
    return (uintptr_t)at - (uintptr_t)h->lists < sizeof h->lists;
}

/* The links around b agree with it (the unlink check): the link b's
 * back_link names is a list head or a free block's and points at b, and
 * the next block's back_link names b's next_free. */
HOT bool links_intact(const kheap *h, const block *b, const block *next, block *const *back)
{
    const block *holder = (const block *)(const void *)((const char *)back - KH_PAYLOAD_OFF);
    return link_plausible(h, next) &&
           (next == NULL || back_get(h, &next->back_link) == &b->next_free) &&
           (is_list_head(h, back) || link_plausible(h, holder)) &&
           link_get(h, back) == b;
}
HOT bool poison_intact(kheap *h, const char *from, const char *to)
{
    if (KHEAP_HARDEN)
        for (const size_t *w = (const size_t *)(const void *)from; (const char *)w < to; w++)
            if (*w != POISON_WORD) {
                const char *c = (const char *)w;
                while ((unsigned char)*c == POISON)
                    c++;
                corrupt(h, KHEAP_MISUSE_WRITE_AFTER_FREE, c);
                return false;
            }
    return true;
}
/* ------------------------------------------------------------ index */

/* The index and the blocks keep no statistics of their own: free bytes and
 * counts are derived when asked (diag.c), so the hot paths pay for none.
 * A list's bits change only when it turns empty or non-empty. */
SHARED void index_insert(kheap *h, block *b, size_t size)
{
    unsigned i = list_index(size);
    block **head = &h->lists[i];
    block *first = link_get(h, head);
    link_set(h, &b->next_free, first);
    back_set(h, &b->back_link, head);
    if (first != NULL) {
        back_set(h, &first->back_link, &b->next_free);
    } else {
        uint32_t *word = &h->map[i >> 5];
        if (*word == 0)
            h->map_summary |= (size_t)1 << (i >> 5);
        *word |= (uint32_t)1 << (i & 31);
    }
    link_set(h, head, b);
}

/* List i has just become empty: clear its bits. */
SHARED void index_emptied(kheap *h, unsigned i)
{
    unsigned w = i >> 5;
    h->map[w] &= ~((uint32_t)1 << (i & 31));
    if (h->map[w] == 0)
        h->map_summary &= ~((size_t)1 << w);
}

/* Takes free block b out of its list. */
SHARED void index_remove(kheap *h, block *b)
{
    block *next = link_get(h, &b->next_free);
    block **back = back_get(h, &b->back_link);
    if (KHEAP_HARDEN && !links_intact(h, b, next, back)) {
        corrupt(h, KHEAP_MISUSE_LIST_LINK, block_payload(b));
        return;
    }
    link_set(h, back, next);
    if (next != NULL)
        back_set(h, &next->back_link, back);
    else if (is_list_head(h, back))
        index_emptied(h, (unsigned)(back - h->lists));
}

/* Takes the head of non-empty list i out of the index; NULL when it or its
 * links turn out to be corrupt (full tier).  index_remove's work, for the
 * case every allocation from the index is: the caller knows the list, so
 * there is no back link to follow and no list-head test to make. */
SHARED block *index_pop(kheap *h, unsigned i)
{
    block **head = &h->lists[i];
    block *b = link_get(h, head);
    if (KHEAP_HARDEN && !link_plausible(h, b)) {
        corrupt(h, KHEAP_MISUSE_LIST_HEAD,
                block_payload(b));
        return NULL;
    }
    block *next = link_get(h, &b->next_free);
    if (KHEAP_HARDEN && !links_intact(h, b, next, head)) {
        corrupt(h, KHEAP_MISUSE_LIST_LINK, block_payload(b));
        return NULL;
    }
    link_set(h, head, next);
    if (next != NULL)
        back_set(h, &next->back_link, head);
    else
        index_emptied(h, i);
    return b;
}

/* The first non-empty list at or after list i (i <= KH_LIST_COUNT), or
 * KH_LIST_COUNT when there is none: two bit scans. */
HOT unsigned index_search(const kheap *h, unsigned i)
{
    unsigned w = i >> 5;
    uint32_t bits = h->map[w] & (~(uint32_t)0 << (i & 31));
    if (bits == 0) {
        size_t words = h->map_summary & (~(size_t)1 << w);
        if (words == 0)
            return KH_LIST_COUNT;
        w = ffs_size(words);
        /* The summary has no bit past the map; this tells the compiler so. */
        if (w >= KH_MAP_WORDS)
            return KH_LIST_COUNT;
        bits = h->map[w];
    }
    return (w << 5) + ffs32(bits);
}

/* ------------------------------------------------------------ blocks */

/* Block bytes for a request, or 0 when it cannot be met at all. */
HOT size_t request_block_size(size_t request)
{
    if (request >= KH_MAX_BLOCK - 2 * KH_ALIGN - KH_REQ_OVERHEAD)
        return 0;
    size_t size = align_up(request + KH_REQ_OVERHEAD, KH_ALIGN);
    return size < KH_MIN_BLOCK ? KH_MIN_BLOCK : size;
}

/* Puts b, a free block of `size` bytes between blocks in use, where the
 * next allocation looks: it becomes the dv when there is none or it is
 * larger (the old dv then goes to the index), else it goes to the index. */
SHARED void block_place(kheap *h, block *b, size_t size)
{
    block *dv = h->dv;
    if (dv == NULL || block_size(dv) < size) {
        h->dv = b;
        if (dv == NULL)
            return;
        b = dv;
        size = block_size(dv);
    }
    index_insert(h, b, size);
}

/* A free block of at least `need` bytes taken out of the index (or no
 * longer the dv), or NULL: the head of need's own list when it fits, else
 * good fit (the lists after need's own hold only blocks that fit), else the
 * dv.  Good fit before the dv keeps the footprint where TLSF's is; the dv
 * serves what the index cannot, without a split's insert. */
HOT block *block_take(kheap *h, size_t need)
{
    unsigned i = list_index(need);
    block *b = list_head(h, i);
    if (KHEAP_HARDEN && !link_plausible(h, b)) {
        corrupt(h, KHEAP_MISUSE_LIST_HEAD,
                block_payload(b));
        return NULL;
    }
    if (b != NULL && block_size(b) >= need)
        return index_pop(h, i);
    i = index_search(h, i + 1);
    if (i < KH_LIST_COUNT)
        return index_pop(h, i);
    b = h->dv;
    if (b == NULL || block_size(b) < need)
        return NULL;
    if (KHEAP_HARDEN && !link_plausible(h, b)) {
        corrupt(h, KHEAP_MISUSE_FREE_HEADER,
                block_payload(b));
        return NULL;
    }
    h->dv = NULL;
    return b;
}

/* Hands out b (free, out of the index, not the dv, next block not free):
 * keeps `need` bytes and places the rest when it can stand as a block. */
SHARED void block_use(kheap *h, block *b, size_t need, bool split)
{
    size_t word = b->size;
    size_t size = word & ~KH_FLAG_MASK;
    block *next = (block *)(void *)((char *)b + size);
    poison_intact(h, poison_start(b), (char *)b + need);
    if (split && size - need >= KH_MIN_BLOCK) {
        /* The rest stays free before `next`, whose PREV_FREE stays set. */
        block *rest = (block *)(void *)((char *)b + need);
        hdr_set(h, rest, (size - need) | KH_FLAG_FREE);
        next->prev_size = size - need;
        block_place(h, rest, size - need);
        size = need;
    } else {
        hdr_set(h, next, next->size & ~KH_FLAG_PREV_FREE);
    }
    hdr_set(h, b, size | (word & KH_FLAG_PREV_FREE));
    use_grew(h, size);
    if (KHEAP_STATS)
        h->use.allocs++;
}

/* Full tier: a pointer into one of the last few runs the page layer gave
 * back (pages.c notes them) is a double free, reported without reading
 * pages that are gone. */
#if KHEAP_HARDEN
static bool released_holds(const kheap *h, uintptr_t a)
{
    for (unsigned i = 0; i < 4; i++)
        if (a >= h->released[i][0] && a < h->released[i][1])
            return true;
    return false;
}
#else
static bool released_holds(const kheap *h, uintptr_t a) { (void)h, (void)a; return false; }
#endif

void kh_block_refree(kheap *h, block *b)
{
    if (h->dv == NULL)
        h->dv = b;
    else
        index_insert(h, b, block_size(b));
}

/* Takes free block b out of the index, or out of the dv. */
void kh_block_unfree(kheap *h, block *b)
{
    if (b == h->dv)
        h->dv = NULL;
    else
        index_remove(h, b);
}
/* b: a block leaving use, its bytes poisoned (full tier).  Marks it free,
 * merges it with free neighbours and puts the result where it belongs: in
 * the dv when it touched the dv, to the page layer when it ends a span
 * (which may give pages back), else in the index.  Sizes travel in locals: every header word is read once
 * and written once. */
HOT void block_free(kheap *h, block *b)
{
    size_t word = b->size;
    size_t size = word & ~KH_FLAG_MASK;
    block *next = (block *)(void *)((char *)b + size);
    size_t next_word = next->size;
    block *dv = h->dv;
    bool in_dv = false;
    if (next_word & KH_FLAG_FREE) {
        size_t next_size = next_word & ~KH_FLAG_MASK;
        if (next == dv)
            in_dv = true;
        else
            index_remove(h, next);
        poison_fill((char *)next, poison_start(next));
        size += next_size;
        next = (block *)(void *)((char *)b + size);
        next_word = next->size;
    }
    if (word & KH_FLAG_PREV_FREE) {
        size_t prev_size = b->prev_size;
        block *prev = (block *)(void *)((char *)b - prev_size);
        if (prev == dv)
            in_dv = true;
        else
            index_remove(h, prev);
        /* A second free of b must still read as a double free (where
         * the profile checks for one). */
        if (KHEAP_CHECKS)
            hdr_set(h, b, word | KH_FLAG_FREE);
        poison_fill((char *)b, poison_start(b));
        b = prev;
        size += prev_size;
    }
    /* No two free blocks touch, so the merged block's predecessor is in use. */
    hdr_set(h, b, size | KH_FLAG_FREE);
    hdr_set(h, next, next_word | KH_FLAG_PREV_FREE);
    next->prev_size = size;
    /* Only a block that ends its heap can give pages back. */
    if ((next_word & KH_FLAG_SENTINEL) && h->layer != NULL) {
        if (in_dv)
            h->dv = NULL;
        b = h->layer->edge_freed(h, b, next);
        if (b == NULL)
            return;
        size = block_size(b);
    }
    /* A freed block becomes the dv only when it touched it or there is
     * none: splits, not frees, choose the dv, as in dlmalloc. */
    if (in_dv || h->dv == NULL)
        h->dv = b;
    else
        index_insert(h, b, size);
}

/* alloc's way to the page layer, out of line so the index path stays lean:
 * a large request gets a span of its own (the block is not split), any
 * other a block the page layer finds room for (pages.h: refill).  Without
 * a page layer (kheap_create_in) there is no more memory. */
COLD void *alloc_from_layer(kheap *h, size_t need, size_t request)
{
    bool large = need >= h->large_threshold;
    block *b = h->layer != NULL ? h->layer->refill(h, need, large ? KH_ALIGN : 0) : NULL;
    if (b == NULL)
        return NULL;
    block_use(h, b, need, !large);
    canary_set(h, b, request);
    return stopped(h) ? NULL : block_payload(b);
}

HOT void *alloc_locked(kheap *h, size_t size)
{
    size_t need = request_block_size(size);
    if (need != 0 && !stopped(h)) {
        block *b = block_take(h, need);
        if (b != NULL) {
            block_use(h, b, need, true);
            canary_set(h, b, size);
            if (!stopped(h))
                return block_payload(b);
        } else if (!stopped(h)) {
            void *p = alloc_from_layer(h, need, size);
            if (p != NULL)
                return p;
        }
    }
    h->stats.failed++;
    return NULL;
}

/* --------------------------------------------------- validating pointers */

/* May the words [from, to] be read?  Only the provider can say whether a
 * page is held now (the instance's bounds cover pages that went back, and
 * on a shared region other instances' pages); where it has no owns(),
 * every page in the bounds counts as held.  `near` is an address already
 * found held (or NULL): a word in its page needs no call, and most do. */
HOT bool words_held(const kheap *h, const void *near, const void *from, const void *to)
{
    bool (*owns)(void *, const void *) = h->config.provider.owns;
    uintptr_t ps = h->page_size;
    if (near != NULL && (((uintptr_t)near ^ (uintptr_t)from) | ((uintptr_t)near ^ (uintptr_t)to)) < ps)
        return true;
    if (owns == NULL)
        return true;
    /* The newest normal heap, where most blocks live, is held whole as
     * long as it is the instance's (its trims shrink hp->pages first), so
     * words inside it need no call. */
    const heap *top = h->top;
    if (top != NULL) {
        uintptr_t base = (uintptr_t)top, bytes = (uintptr_t)top->pages << h->page_shift;
        if ((uintptr_t)from - base < bytes && (uintptr_t)to - base < bytes)
            return true;
    }
    if ((near == NULL || ((uintptr_t)near ^ (uintptr_t)from) >= ps) && !owns(h->config.provider.ctx, from))
        return false;
    return ((uintptr_t)from ^ (uintptr_t)to) < ps || owns(h->config.provider.ctx, to);
}

/* The words of b's header, from the first to the size word. */
#define HDR_FIRST(b) ((const char *)(b) + KH_PAYLOAD_OFF - KH_HDR)
#define HDR_SIZE(b) ((const char *)(b) + KH_PAYLOAD_OFF - KH_WORD)

/* The checks of a next block that claims to be free or the sentinel: what
 * free will follow from it must hold, so that a forged size word sends
 * free neither outside the pages held nor through a block that is not
 * there.  A free block's footer and the next header's PREV_FREE must agree
 * with its size; a sentinel's size must lead back to its heap's header. */
static kheap_misuse next_validate(const kheap *h, const block *next, size_t next_word)
{
    size_t size = next_word & ~KH_FLAG_MASK;
    uintptr_t at = (uintptr_t)next;
    if (next_word & KH_FLAG_FREE) {
        const block *after = (const block *)(at + size);
        /* after's header must end inside the instance's bounds: with no
         * owns() (a buffer instance) nothing else keeps the read in. */
        if (size > h->first + h->span - KH_PAYLOAD_OFF - at ||
            !words_held(h, HDR_SIZE(next), after, HDR_SIZE(after)) ||
            after->prev_size != size || !(after->size & KH_FLAG_PREV_FREE) || !hdr_ok(h, after))
            return KHEAP_MISUSE_NEXT_OVERFLOW;
    } else {
        uintptr_t hp = at + KH_PAYLOAD_OFF - size;
        if (size > at + KH_PAYLOAD_OFF - (h->first - KH_PAYLOAD_OFF) || (hp & (h->page_size - 1)) != 0 ||
            !words_held(h, HDR_SIZE(next), (const void *)hp, (const char *)hp + sizeof(heap) - 1) ||
            ((const heap *)hp)->magic != KH_HEAP_MAGIC || ((const heap *)hp)->owner != h ||
            ((const heap *)hp)->pages << h->page_shift != size)
            return KHEAP_MISUSE_NEXT_OVERFLOW;
    }
    return KHEAP_MISUSE_NONE;
}

/* Checks that p is the payload of a live block of h, as far as cheap tests
 * tell, reading no word before the provider (where it can tell) says its
 * page is held: the pointer, its header, the next header and what free
 * will follow from it, and (when the previous block is free) the footer
 * free will merge through.  Returns KHEAP_MISUSE_NONE, or the likely bug,
 * from the first test that fails. */
HOT kheap_misuse block_validate(const kheap *h, const void *p, block **out)
{
    uintptr_t a = (uintptr_t)p;
    size_t off = a - h->first;
    if (a % KH_ALIGN != 0)
        return KHEAP_MISUSE_MISALIGNED;
    if (off >= h->span)
        return KHEAP_MISUSE_FOREIGN;
    if (released_holds(h, a))
        return KHEAP_MISUSE_GIVEN_BACK;
    block *b = block_from_payload(p);
    if (!words_held(h, NULL, HDR_FIRST(b), HDR_SIZE(b)))
        return KHEAP_MISUSE_NOT_HELD;
    if (!hdr_ok(h, b))
        return KHEAP_MISUSE_HEADER_CHECK;
    size_t word = b->size;
    if (word & KH_FLAG_FREE)
        return KHEAP_MISUSE_DOUBLE_FREE;
    /* Flags are below KH_MIN_BLOCK and a sentinel's word is at least a page,
     * so `word < KH_MIN_BLOCK` is "size below the minimum" in one compare. */
    if ((word & (KH_FLAG_SENTINEL | ((KH_ALIGN - 1) & ~KH_FLAG_MASK))) != 0 || word < KH_MIN_BLOCK ||
        (word & ~KH_FLAG_MASK) > h->span - off)
        return KHEAP_MISUSE_NOT_A_BLOCK;
    const block *next = (const block *)(a - KH_PAYLOAD_OFF + (word & ~KH_FLAG_MASK));
    if (!words_held(h, HDR_SIZE(b), HDR_FIRST(next), HDR_SIZE(next)))
        return KHEAP_MISUSE_NOT_A_BLOCK;
    size_t next_word = next->size;
    if (!hdr_ok(h, next) || next_word < KH_MIN_BLOCK || (next_word & (KH_ALIGN - 1) & ~KH_FLAG_MASK) != 0)
        return KHEAP_MISUSE_NEXT_OVERFLOW;
    if (next_word & KH_FLAG_PREV_FREE)
        return KHEAP_MISUSE_DOUBLE_FREE_MERGED;
    if (next_word & (KH_FLAG_FREE | KH_FLAG_SENTINEL)) {
        kheap_misuse why = next_validate(h, next, next_word);
        if (why != KHEAP_MISUSE_NONE)
            return why;
    }
    if (word & KH_FLAG_PREV_FREE) {
        /* The previous block's header must be exactly "free, this size",
         * and lie at or above the lowest page ever held: prev_size <= off
         * puts prev at or above first - KH_PAYLOAD_OFF, that page's start. */
        if (!words_held(h, HDR_FIRST(b), b, b))
            return KHEAP_MISUSE_PREV_UNDERFLOW;
        size_t prev_size = b->prev_size;
        if ((prev_size & (KH_ALIGN - 1)) != 0 || prev_size < KH_MIN_BLOCK || prev_size > off)
            return KHEAP_MISUSE_PREV_UNDERFLOW;
        const block *prev = (const block *)(a - KH_PAYLOAD_OFF - prev_size);
        if (!words_held(h, b, HDR_FIRST(prev), HDR_SIZE(prev)) ||
            prev->size != (prev_size | KH_FLAG_FREE) || !hdr_ok(h, prev))
            return KHEAP_MISUSE_PREV_UNDERFLOW;
    }
    *out = b;
    return KHEAP_MISUSE_NONE;
}

/* The block whose payload p is: checked by block_validate where the
 * profile has checks (KHEAP_MISUSE_NONE, or why not), taken on trust where it has none. */
HOT kheap_misuse pointer_check(const kheap *h, const void *p, block **out)
{
    if (KHEAP_CHECKS)
        return block_validate(h, p, out);
    *out = block_from_payload(p);
    return KHEAP_MISUSE_NONE;
}

/* Misuse of one call: nothing was changed, the instance carries on. */
COLD void misuse(kheap *h, kheap_misuse what, const void *addr)
{
    if (h->pending_what == KHEAP_MISUSE_NONE) {
        h->pending_what = what;
        h->pending_addr = addr;
        h->exit_work = true;
    }
}

/* Full tier: a changed trailing canary is reported (the block stays as it
 * is: freeing it would hide the overflow's evidence). */
HOT bool canary_reported(kheap *h, const block *b)
{
    const void *at = canary_broken(h, b);
    if (at != NULL)
        misuse(h, KHEAP_MISUSE_CANARY, at);
    return at != NULL;
}

/* Hands this call's detection, if any, to the panic hook after unlocking:
 * outside the lock, so a hook that prints or dumps may call into the
 * instance.  The report is taken out of the instance before the unlock, so
 * a call that runs between the unlock and the hook (an interrupt, another
 * thread) can neither deliver it nor have its own lost: each call reports
 * exactly what it found. */
COLD void leave_slow(kheap *h, uintptr_t saved)
{
    kheap_misuse what = h->pending_what;
    const void *addr = h->pending_addr;
    h->pending_what = KHEAP_MISUSE_NONE;
    h->pending_addr = NULL;
    h->exit_work = KHEAP_LOCKS && h->config.unlock != NULL;
    kheap_unlock(h, saved);
    if (what != KHEAP_MISUSE_NONE && h->config.panic != NULL)
        h->config.panic(h->config.panic_ctx, what, addr);
}

/* Ends a locked call.  One test covers both reasons to do more than
 * return: an unlock hook (exit_work is set for good) or a report pending
 * (set with it).  A profile with neither hooks nor checks has neither. */
HOT void leave(kheap *h, uintptr_t saved)
{
    if ((KHEAP_LOCKS || KHEAP_CHECKS) && h->exit_work)
        leave_slow(h, saved);
}

static void block_free_call(kheap *h, block *b);

/* Takes used block b out of use: the statistics, then block_free, inlined
 * on kheap_free's path and called elsewhere (`inlined` is a constant at
 * every call, so the other branch compiles away). */
HOT void free_locked(kheap *h, block *b, bool inlined)
{
    poison_fill(poison_start(b), (char *)block_next(b));
    use_shrank(h, block_size(b));
    if (KHEAP_STATS)
        h->use.frees++;
    if (inlined)
        block_free(h, b);
    else
        block_free_call(h, b);
}

/* One out-of-line body each of the alloc and free paths for realloc and
 * aligned_alloc, whose own work dwarfs a call: only kheap_alloc and
 * kheap_free carry the paths inlined. */
static __attribute__((noinline)) void *alloc_locked_call(kheap *h, size_t size)
{
    return alloc_locked(h, size);
}

static __attribute__((noinline)) void block_free_call(kheap *h, block *b)
{
    block_free(h, b);
}

/* Shrinks used block b to `need` bytes, freeing the rest when it can stand
 * as a block. */
static void block_shrink(kheap *h, block *b, size_t need)
{
    size_t size = block_size(b);
    if (size - need < KH_MIN_BLOCK)
        return;
    block *rest = (block *)(void *)((char *)b + need);
    hdr_set(h, rest, size - need);
    block_set_size(h, b, need);
    poison_fill(poison_start(rest), (char *)b + size);
    use_shrank(h, size - need);
    block_free_call(h, rest);
}

/* Resizes used block b to `need` bytes without moving it: into a free next
 * block, or by growing its heap when b ends it.  False, nothing changed,
 * when neither has room. */
static bool block_resize_in_place(kheap *h, block *b, size_t need)
{
    size_t size = block_size(b);
    if (need <= size) {
        block_shrink(h, b, need);
        return true;
    }
    block *next = block_next(b);
    size_t next_free = block_is_free(next) ? block_size(next) : 0;
    if (size + next_free < need) {
        block *after = next_free != 0 ? block_next(next) : next;
        if (!block_is_sentinel(after) || h->layer == NULL ||
            h->layer->grow(h, (block *)after, need - size - next_free) == NULL)
            return false;
        next = block_next(b);
    } else {
        kh_block_unfree(h, next);
        if (stopped(h))
            return false;
    }
    block_set_size(h, b, size + block_size(next));
    hdr_set(h, block_next(b), block_next(b)->size & ~KH_FLAG_PREV_FREE);
    if (KHEAP_STATS)
        h->use.in_use_bytes += block_size(next);
    block_shrink(h, b, need);
    use_peak(h);
    return true;
}

/* ------------------------------------------------ call sites (KHEAP_TRACE) */

/* With tracing, the bodies of kheap_alloc, _calloc, _realloc and
 * _aligned_alloc are their _at variants (KH_AT names them), which take the
 * site as a last parameter (KH_SITE_PARAM, passed on as KH_SITE_ARG) and
 * record it in the block they return (KH_NOTE, under the lock); the plain
 * calls, at the end of this file, pass their return address.  Without
 * tracing all four expand to what the code was before the option. */
#if KHEAP_TRACE
#define KH_AT(name) name##_at
#define KH_SITE_PARAM , const void *site
#define KH_SITE_ARG , site
#define KH_NOTE(h, p) trace_note(h, p, site)
HOT void trace_note(kheap *h, void *p, const void *site)
{
    if (p != NULL) {
        block *b = block_from_payload(p);
        b->site = site;
        b->seq = ++h->trace_seq;
    }
}
#else
#define KH_AT(name) name
#define KH_SITE_PARAM
#define KH_SITE_ARG
#define KH_NOTE(h, p) ((void)0)
#endif

/* ------------------------------------------------------------ interface */

void kheap_destroy(kheap *h)
{
    if (!usable(h) || h->layer == NULL)
        return;
    h->layer->release_all(h);
}

size_t kheap_trim(kheap *h)
{
    if (!usable(h))
        return 0;
    uintptr_t saved = kheap_lock(h);
    size_t pages = h->layer != NULL && !stopped(h) ? h->layer->trim(h) : 0;
    leave(h, saved);
    return pages;
}

/* A request refused before it reached the heaps (a size or an alignment no
 * block can have): counted as failed, under the lock like every count. */
static void *refused(kheap *h)
{
    uintptr_t saved = kheap_lock(h);
    h->stats.failed++;
    kheap_unlock(h, saved);
    return NULL;
}

void *KH_AT(kheap_alloc)(kheap *h, size_t size KH_SITE_PARAM)
{
    if (!usable(h))
        return NULL;
    uintptr_t saved = kheap_lock(h);
    void *p = alloc_locked(h, size);
    KH_NOTE(h, p);
    leave(h, saved);
    return p;
}

void *KH_AT(kheap_calloc)(kheap *h, size_t n, size_t size KH_SITE_PARAM)
{
    if (!usable(h))
        return NULL;
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes))
        return refused(h);
    void *p = KH_AT(kheap_alloc)(h, bytes KH_SITE_ARG);
    if (p != NULL)
        __builtin_memset(p, 0, bytes);
    return p;
}

/* The live block whose payload p is, for free, realloc, usable_size and
 * site_of, with the instance locked; NULL when the instance has stopped,
 * or (reported as misuse) when p is no live block. */
HOT block *live_block(kheap *h, const void *p)
{
    block *b = NULL;
    if (stopped(h))
        return NULL;
    kheap_misuse bad = pointer_check(h, p, &b);
    if (bad != KHEAP_MISUSE_NONE) {
        misuse(h, bad, p);
        return NULL;
    }
    return b;
}

void kheap_free(kheap *h, void *p)
{
    if (!usable(h) || p == NULL)
        return;
    uintptr_t saved = kheap_lock(h);
    block *b = live_block(h, p);
    if (b != NULL && !canary_reported(h, b))
        free_locked(h, b, true);
    leave(h, saved);
}

void *KH_AT(kheap_realloc)(kheap *h, void *p, size_t size KH_SITE_PARAM)
{
    if (!usable(h))
        return NULL;
    if (p == NULL)
        return KH_AT(kheap_alloc)(h, size KH_SITE_ARG);
    if (size == 0) {
        kheap_free(h, p);
        return NULL;
    }
    uintptr_t saved = kheap_lock(h);
    block *b = live_block(h, p);
    void *result = NULL;
    if (b != NULL && !canary_reported(h, b)) {
        size_t need = request_block_size(size);
        size_t had = block_request(h, b);
        int own = need != 0 && h->layer != NULL ? h->layer->resize_own(h, b, need) : -1;
        if (need != 0 && (own >= 0 ? own != 0 : block_resize_in_place(h, b, need))) {
            canary_set(h, b, size);
            result = p;
        } else if (need != 0 && (result = alloc_locked_call(h, size)) != NULL) {
            size_t keep = had < size ? had : size;
            __builtin_memcpy(result, p, keep);
            free_locked(h, b, false);
        } else if (need == 0) {
            h->stats.failed++;
        }
    }
    KH_NOTE(h, result);
    leave(h, saved);
    return result;
}

void *KH_AT(kheap_aligned_alloc)(kheap *h, size_t align, size_t size KH_SITE_PARAM)
{
    if (!usable(h))
        return NULL;
    if (align == 0 || (align & (align - 1)) != 0)
        return refused(h);
    if (align <= KH_ALIGN)
        return KH_AT(kheap_alloc)(h, size KH_SITE_ARG);
    uintptr_t saved = kheap_lock(h);
    size_t need = request_block_size(size);
    /* A large request gets a heap of its own with the payload aligned in
     * it.  Any other takes a block with room to slide the payload up to an
     * aligned address while leaving a gap that is either nothing or a block
     * of its own, in a normal heap, where the gap and the rest serve other
     * requests. */
    size_t total = need + align + KH_MIN_BLOCK;
    bool large = need >= h->large_threshold;
    block *b = NULL;
    if (need != 0 && align < KH_MAX_BLOCK && total > need && total < KH_MAX_BLOCK && !stopped(h)) {
        if (large) {
            b = h->layer != NULL ? h->layer->refill(h, need, align) : NULL;
        } else {
            b = block_take(h, total);
            if (b == NULL && !stopped(h) && h->layer != NULL)
                b = h->layer->refill(h, total, 0);
        }
    }
    if (b == NULL || stopped(h)) {
        h->stats.failed++;
        leave(h, saved);
        return NULL;
    }
    uintptr_t payload = (uintptr_t)block_payload(b);
    uintptr_t aligned = align_up(payload, align);
    if (aligned != payload && aligned - payload < KH_MIN_BLOCK)
        aligned = align_up(payload + KH_MIN_BLOCK, align);
    size_t gap = (size_t)(aligned - payload);
    if (gap != 0) {
        block *moved = (block *)(void *)((char *)b + gap);
        hdr_set(h, moved, (block_size(b) - gap) | KH_FLAG_FREE | KH_FLAG_PREV_FREE);
        moved->prev_size = gap;
        block_set_size(h, b, gap);
        block_place(h, b, gap);
        b = moved;
    }
    block_use(h, b, need, !large);
    canary_set(h, b, size);
    void *p = stopped(h) ? NULL : block_payload(b);
    KH_NOTE(h, p);
    leave(h, saved);
    return p;
}

size_t kheap_usable_size(kheap *h, const void *p)
{
    if (!usable(h) || p == NULL)
        return 0;
    uintptr_t saved = kheap_lock(h);
    block *b = live_block(h, p);
    size_t usable = b != NULL && !canary_reported(h, b) ? block_request(h, b) : 0;
    leave(h, saved);
    return usable;
}

#if KHEAP_TRACE
/* The plain calls record their own return address: the caller's call. */
#define KH_CALLER __builtin_return_address(0)
void *kheap_alloc(kheap *h, size_t size) { return kheap_alloc_at(h, size, KH_CALLER); }
void *kheap_calloc(kheap *h, size_t n, size_t size) { return kheap_calloc_at(h, n, size, KH_CALLER); }
void *kheap_realloc(kheap *h, void *p, size_t size) { return kheap_realloc_at(h, p, size, KH_CALLER); }
void *kheap_aligned_alloc(kheap *h, size_t align, size_t size)
{
    return kheap_aligned_alloc_at(h, align, size, KH_CALLER);
}

const void *kheap_site_of(kheap *h, const void *p)
{
    if (!usable(h) || p == NULL)
        return NULL;
    uintptr_t saved = kheap_lock(h);
    block *b = live_block(h, p);
    const void *site = b != NULL ? b->site : NULL;
    leave(h, saved);
    return site;
}
#endif

/* ------------------------------------------------ an instance over a buffer */

/* The config kheap_create_in takes: NULL, or only hooks (and the key). */
static bool config_fixed_valid(const kheap_config *c)
{
    const kheap_provider *p = &c->provider;
    return p->ctx == NULL && p->page_size == 0 && p->map == NULL && p->unmap == NULL &&
           p->grow == NULL && !p->unmap_spans_runs && p->owns == NULL &&
           c->heap_pages == 0 && c->large_threshold == 0 &&
           (c->lock == NULL) == (c->unlock == NULL) && (KHEAP_LOCKS || c->lock == NULL);
}

kheap *kheap_create_in(void *buffer, size_t bytes, const kheap_config *config)
{
    if (buffer == NULL || (config != NULL && !config_fixed_valid(config)))
        return NULL;
    uintptr_t start = align_up((uintptr_t)buffer, KH_ALIGN);
    uintptr_t end = (uintptr_t)buffer + bytes;
    if (end < (uintptr_t)buffer || start < (uintptr_t)buffer)
        return NULL;
    end &= ~(uintptr_t)(KH_ALIGN - 1);
    /* The span is one "heap" of KH_ALIGN-byte pages: its sentinel holds
     * its length, which must stay a valid block size. */
    size_t len = end > start ? (size_t)(end - start) : 0;
    if (len >= KH_MAX_BLOCK)
        len = KH_MAX_BLOCK - KH_ALIGN;
    size_t header = home_header_bytes(), first = first_payload_offset(header);
    if (len < first + KH_MIN_BLOCK)
        return NULL;

    char *base = (char *)start;
    heap *hp = (heap *)(void *)base;
    kheap *h = (kheap *)(void *)(base + align_up(sizeof(heap), alignof(struct kheap)));
    __builtin_memset(h, 0, sizeof *h);
    h->layout = KH_LAYOUT;
    if (config != NULL)
        h->config = *config;
#if KHEAP_HARDEN
    h->secret = h->config.secret != 0 ? h->config.secret : secret_from((uintptr_t)h);
#endif
    h->page_size = KH_ALIGN;
    h->page_shift = KH_ALIGN_LOG2;
    h->exit_work = KHEAP_LOCKS && h->config.unlock != NULL;
    h->large_threshold = SIZE_MAX; /* no heap of its own: everything is split from the span */

    block *b = (block *)(void *)(base + first - KH_PAYLOAD_OFF);
    hp->magic = KH_HEAP_MAGIC;
    hp->pages = hp->base_pages = len >> KH_ALIGN_LOG2;
    hp->next = hp->prev = NULL;
    hp->owner = h;
    hp->first = b;
    hp->flags = KH_HEAP_HOME;
    hdr_set(h, b, (len - first) | KH_FLAG_FREE);
    poison_fill(poison_start(b), base + len - KH_PAYLOAD_OFF);
    block *s = heap_sentinel(hp, KH_ALIGN);
    s->prev_size = len - first;
    hdr_set(h, s, len | KH_FLAG_SENTINEL | KH_FLAG_PREV_FREE);

    h->heaps = hp;
    h->block_bytes = len - first;
    h->first = start + KH_PAYLOAD_OFF;
    h->span = len - KH_PAYLOAD_OFF;
    h->stats.pages = h->stats.peak_pages = hp->pages;
    h->stats.heaps = 1;
    h->dv = b;
    return h;
}
