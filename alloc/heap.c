/*
 * kheap: the malloc family over heaps of pages.  The block format, the
 * free-block index and the designated victim are described in
 * heap_internal.h.
 */
#include "heap_internal.h"

/* The paths every alloc and free take are inlined into one body (a call
 * costs a push, a pop and argument moves on Cortex-M: about a fifth of an
 * operation); the paths that reach the provider stay out of line.  An -Os
 * build leaves the choice to the compiler. */
#ifdef __OPTIMIZE_SIZE__
#define HOT static inline
/* Called from several places: one copy in an -Os build. */
#define SHARED static __attribute__((noinline))
#else
#define HOT static inline __attribute__((always_inline))
#define SHARED HOT
#endif
#define COLD static __attribute__((noinline, cold))

static size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

/* ------------------------------------------------ detection (full tier) */

/* Corruption found inside an operation: the instance stops (every later
 * call fails) rather than follow a pointer it cannot trust; the report
 * goes to the panic hook once the lock is released. */
COLD void corrupt(kheap *h, const char *what, const void *addr)
{
    if (!h->broken && h->pending_what == NULL) {
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

HOT bool poison_intact(kheap *h, const char *from, const char *to)
{
    if (KHEAP_HARDEN)
        for (const size_t *w = (const size_t *)(const void *)from; (const char *)w < to; w++)
            if (*w != POISON_WORD) {
                const char *c = (const char *)w;
                while ((unsigned char)*c == POISON)
                    c++;
                corrupt(h, "write after free: freed memory was changed", c);
                return false;
            }
    return true;
}

/* Where a free block's poison lies: past its links, up to its footer. */
static char *poison_start(const block *b) { return (char *)block_payload(b) + 2 * KH_WORD; }

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
        corrupt(h, "free list link corrupted: a write after free?", block_payload(b));
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
        corrupt(h, "free list head corrupted: a write over a freed block's header?",
                block_payload(b));
        return NULL;
    }
    block *next = link_get(h, &b->next_free);
    if (KHEAP_HARDEN && !links_intact(h, b, next, head)) {
        corrupt(h, "free list link corrupted: a write after free?", block_payload(b));
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

HOT void block_set_size(const kheap *h, block *b, size_t size)
{
    hdr_set(h, b, size | (b->size & KH_FLAG_MASK));
}

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
        corrupt(h, "free list head corrupted: a write over a freed block's header?",
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
        corrupt(h, "free block header corrupted: an overflow from the block before it?",
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
    h->use.in_use_bytes += size;
    h->use.allocs++;
    if (h->use.in_use_bytes > h->use.peak_in_use_bytes)
        h->use.peak_in_use_bytes = h->use.in_use_bytes;
}

/* ------------------------------------------------------------ heaps */

static void released_forget(kheap *h, uintptr_t start, size_t bytes);

static void note_pages(kheap *h, const void *start, size_t pages)
{
    uintptr_t first = (uintptr_t)start + KH_PAYLOAD_OFF, end = (uintptr_t)start + pages * h->page_size;
    uintptr_t old_end = h->first + h->span;
    if (h->first == 0 || first < h->first)
        h->first = first;
    h->span = (end > old_end ? end : old_end) - h->first;
    h->stats.pages += pages;
    if (h->stats.pages > h->stats.peak_pages)
        h->stats.peak_pages = h->stats.pages;
}

/* Offset of the first payload in a heap whose header takes header_bytes. */
static size_t first_payload_offset(size_t header_bytes)
{
    return align_up(header_bytes + KH_HDR, KH_ALIGN);
}

/* Pages for a heap whose first block must be at least `size` bytes, or 0
 * when that is more than a heap may hold. */
static size_t heap_pages_for(const kheap *h, size_t header_bytes, size_t size)
{
    size_t bytes = first_payload_offset(header_bytes) + size;
    if (size >= KH_MAX_BLOCK || bytes >= KH_MAX_BLOCK)
        return 0;
    return pages_for(h, bytes);
}

/* Lays a heap over fresh pages: header, one free block (not in the index),
 * sentinel.  Links it first in the instance's list. */
COLD block *heap_setup(kheap *h, void *base, size_t pages, size_t header_bytes, unsigned flags)
{
    heap *hp = base;
    size_t bytes = pages * h->page_size;
    size_t first = first_payload_offset(header_bytes);
    block *b = (block *)(void *)((char *)base + first - KH_PAYLOAD_OFF);
    hp->magic = KH_HEAP_MAGIC;
    hp->pages = pages;
    hp->base_pages = pages;
    hp->owner = h;
    hp->first = b;
    hp->flags = flags;

    hdr_set(h, b, (bytes - first) | KH_FLAG_FREE);
    h->block_bytes += bytes - first;
    poison_fill(poison_start(b), (char *)base + bytes - KH_PAYLOAD_OFF);
    released_forget(h, (uintptr_t)base, bytes);
    block *s = heap_sentinel(hp, h->page_size);
    s->prev_size = bytes - first;
    hdr_set(h, s, bytes | KH_FLAG_SENTINEL | KH_FLAG_PREV_FREE);
    hp->prev = NULL;
    hp->next = h->heaps;
    if (h->heaps != NULL)
        h->heaps->prev = hp;
    h->heaps = hp;
    h->stats.heaps++;
    note_pages(h, base, pages);
    return b;
}

/* Full tier: the last few runs given back, so a double free of a block in
 * them is reported instead of reading pages that are gone. */
#if KHEAP_HARDEN
static void released_note(kheap *h, uintptr_t start, size_t bytes)
{
    unsigned i = h->released_next++ % 4;
    h->released[i][0] = start;
    h->released[i][1] = start + bytes;
}

static void released_forget(kheap *h, uintptr_t start, size_t bytes)
{
    for (unsigned i = 0; i < 4; i++)
        if (h->released[i][0] < start + bytes && start < h->released[i][1])
            h->released[i][0] = h->released[i][1] = 0;
}

static bool released_holds(const kheap *h, uintptr_t a)
{
    for (unsigned i = 0; i < 4; i++)
        if (a >= h->released[i][0] && a < h->released[i][1])
            return true;
    return false;
}
#else
static void released_note(kheap *h, uintptr_t start, size_t bytes) { (void)h, (void)start, (void)bytes; }
static void released_forget(kheap *h, uintptr_t start, size_t bytes) { (void)h, (void)start, (void)bytes; }
static bool released_holds(const kheap *h, uintptr_t a) { (void)h, (void)a; return false; }
#endif

COLD void heap_release(kheap *h, heap *hp)
{
    if (hp->prev != NULL)
        hp->prev->next = hp->next;
    else
        h->heaps = hp->next;
    if (hp->next != NULL)
        hp->next->prev = hp->prev;
    if (h->top == hp)
        h->top = NULL;
    if (h->spare == hp)
        h->spare = NULL;
    h->stats.pages -= hp->pages;
    h->stats.heaps--;
    h->block_bytes -= block_size(hp->first);
    hp->magic = 0;
    released_note(h, (uintptr_t)hp, hp->pages * h->page_size);
    h->config.provider.unmap(h->config.provider.ctx, hp, hp->pages);
}

/* Takes free block b out of the index, or out of the dv. */
static void block_unfree(kheap *h, block *b)
{
    if (b == h->dv)
        h->dv = NULL;
    else
        index_remove(h, b);
}

/* Extends hp in place by enough pages for its last block to be free and at
 * least `extra` bytes larger than the free space it ends with now.
 * Returns that last block (free, out of the index and the dv), or NULL
 * with nothing changed when the provider cannot grow the run. */
COLD block *heap_grow(kheap *h, heap *hp, size_t extra)
{
    size_t ps = h->page_size;
    size_t pages = pages_for(h, extra);
    if (h->config.provider.grow == NULL || pages == 0 ||
        extra >= KH_MAX_BLOCK || hp->pages + pages >= (KH_MAX_BLOCK >> h->page_shift))
        return NULL;
    char *end = heap_end(hp, ps);
    if (!h->config.provider.grow(h->config.provider.ctx, end, pages))
        return NULL;
    block *s = heap_sentinel(hp, ps);
    block *b;
    if (block_prev_is_free(s)) {
        b = (block *)(void *)((char *)s - s->prev_size);
        block_unfree(h, b);
        block_set_size(h, b, block_size(b) + pages * ps);
    } else {
        b = s;
        hdr_set(h, b, (pages * ps) | KH_FLAG_FREE);
    }
    hp->pages += pages;
    h->block_bytes += pages * ps;
    note_pages(h, end, pages);
    released_forget(h, (uintptr_t)end, pages * ps);
    poison_fill(b == s ? poison_start(b) : (char *)s, (char *)heap_sentinel(hp, ps));
    s = heap_sentinel(hp, ps);
    s->prev_size = block_size(b);
    hdr_set(h, s, (hp->pages * ps) | KH_FLAG_SENTINEL | KH_FLAG_PREV_FREE);
    return b;
}

static bool heap_is_empty(const heap *hp, size_t page_size)
{
    return block_is_free(hp->first) && block_next(hp->first) == heap_sentinel(hp, page_size);
}

/* How many of the `whole` free pages at an end of hp go back: those beyond
 * `slack`, while hp keeps base_pages (a large heap, which holds one block:
 * one page). */
static size_t trim_count(const heap *hp, size_t whole, size_t slack)
{
    size_t room = hp->pages - ((hp->flags & KH_HEAP_LARGE) ? 1 : hp->base_pages);
    if (whole <= slack)
        return 0;
    whole -= slack;
    return whole < room ? whole : room;
}

/* Gives the whole free pages at the top of hp back (trim_count says how
 * many); b is hp's free last block, merged and out of the index.  Returns
 * false when b still stands (the caller places it), true when trimming
 * used it up (its header word is then the sentinel). */
COLD bool heap_trim(kheap *h, heap *hp, block *b, size_t slack)
{
    size_t ps = h->page_size;
    char *end = heap_end(hp, ps);
    char *payload = block_payload(b);
    char *new_end = (char *)align_up((uintptr_t)payload, ps);
    size_t kept = (size_t)(new_end - payload);
    if ((kept != 0 && kept < KH_MIN_BLOCK) || (kept == 0 && b == hp->first))
        new_end += ps;
    if (new_end >= end)
        return false;
    size_t cut = trim_count(hp, (size_t)(end - new_end) >> h->page_shift, slack);
    if (cut == 0)
        return false;
    new_end = end - cut * ps;
    kept = (size_t)(new_end - payload);
    hp->pages -= cut;
    h->block_bytes -= cut * ps;
    h->stats.pages -= cut;
    block *s = heap_sentinel(hp, ps);
    if (kept == 0) {
        /* b's header word becomes the sentinel: the block before b is in
         * use, so PREV_FREE stays clear. */
        hdr_set(h, s, (hp->pages * ps) | KH_FLAG_SENTINEL | (b->size & KH_FLAG_PREV_FREE));
    } else {
        block_set_size(h, b, kept);
        s->prev_size = kept;
        hdr_set(h, s, (hp->pages * ps) | KH_FLAG_SENTINEL | KH_FLAG_PREV_FREE);
    }
    released_note(h, (uintptr_t)new_end, cut * ps);
    h->config.provider.unmap(h->config.provider.ctx, new_end, cut);
    return kept == 0;
}

/* Moves hp's header to `to` (inside hp, page aligned) and fixes every link
 * to it; the caller sets what else changes. */
COLD heap *heap_move(kheap *h, heap *hp, heap *to)
{
    *to = *hp;
    hp->magic = 0;
    if (to->prev != NULL)
        to->prev->next = to;
    else
        h->heaps = to;
    if (to->next != NULL)
        to->next->prev = to;
    if (h->top == hp)
        h->top = to;
    if (h->spare == hp)
        h->spare = to;
    return to;
}

/* b: a merged free block, out of the index, that ends at the sentinel
 * `next`.  Gives the heap, or the whole free pages at its top, back to the
 * provider where the policy says so: an empty heap goes back unless it is
 * the one spare; a heap keeps base_pages while it lives (a large heap: what
 * it uses), and while it holds blocks one free page as slack, so a free and
 * an alloc at its top do not unmap and map the same page in turn.  Pages a
 * heap took in below (heap_extend_down) go back only with the whole heap:
 * telling a first block from any other would mean reading the word before
 * it, which belongs to a live block (another thread's data).  Returns the
 * block that still stands (smaller), or NULL when none does. */
COLD block *heap_edge_freed(kheap *h, block *b, block *next)
{
    heap *hp = heap_of_sentinel(next);
    bool empty = b == hp->first;
    if (empty && !(hp->flags & KH_HEAP_HOME)) {
        bool keep = !(hp->flags & KH_HEAP_LARGE) &&
                    (h->spare == NULL || h->spare == hp || !heap_is_empty(h->spare, h->page_size));
        if (!keep) {
            heap_release(h, hp);
            return NULL;
        }
        h->spare = hp;
    }
    if (hp->pages <= hp->base_pages && !(hp->flags & KH_HEAP_LARGE))
        return b;
    size_t slack = empty || (hp->flags & KH_HEAP_LARGE) ? 0 : 1;
    return heap_trim(h, hp, b, slack) ? NULL : b;
}

/* b: a block leaving use, its bytes poisoned (full tier).  Marks it free,
 * merges it with free neighbours and puts the result where it belongs: in
 * the dv when it touched the dv, back to the provider when the policy says
 * so, else in the index.  Sizes travel in locals: every header word is read once
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
        /* A second free of b must still read as a double free. */
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
    if (next_word & KH_FLAG_SENTINEL) {
        if (in_dv)
            h->dv = NULL;
        b = heap_edge_freed(h, b, next);
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

/* The run [base, base + pages) ends where normal heap hp begins (a
 * provider that maps top down, as the region shim and Linux do, puts a new
 * run there): hp takes it in as its new bottom.  Its header moves down to
 * base and the old header's bytes join the free space, so the heaps stay
 * one and nothing is lost at a boundary.  Returns hp's first block, free and
 * out of the index: the new pages and the old first block when it was
 * free. */
COLD block *heap_extend_down(kheap *h, heap *hp, char *base, size_t pages)
{
    size_t ps = h->page_size, bytes = pages * ps;
    block *old_first = hp->first;
    heap *nh = heap_move(h, hp, (heap *)(void *)base);
    nh->pages += pages;
    nh->first = (block *)(void *)((char *)old_first - bytes);
    block *b = nh->first, *next = old_first;
    size_t size = bytes;
    if (block_is_free(old_first)) {
        block_unfree(h, old_first);
        size += block_size(old_first);
        next = block_next(old_first);
    }
    hdr_set(h, b, size | KH_FLAG_FREE);
    hdr_set(h, next, next->size | KH_FLAG_PREV_FREE);
    next->prev_size = size;
    block *s = heap_sentinel(nh, ps);
    hdr_set(h, s, (nh->pages * ps) | (s->size & KH_FLAG_MASK));
    h->block_bytes += bytes;
    released_forget(h, (uintptr_t)base, bytes);
    note_pages(h, base, pages);
    poison_fill(poison_start(b), (char *)next);
    return b;
}

/* A new normal heap of `pages` pages (fewer, min_pages, when the provider
 * has no more), or the run taken into the newest heap when it lies right
 * below it and the provider can take such joined runs back as one. */
COLD block *heap_add(kheap *h, size_t pages, size_t min_pages)
{
    char *base = h->config.provider.map(h->config.provider.ctx, pages);
    if (base == NULL && pages > min_pages)
        base = h->config.provider.map(h->config.provider.ctx, pages = min_pages);
    if (base == NULL)
        return NULL;
    heap *top = h->top;
    if (top != NULL && h->config.provider.unmap_spans_runs && !(top->flags & KH_HEAP_HOME) &&
        base + pages * h->page_size == (char *)top &&
        top->pages + pages < (KH_MAX_BLOCK >> h->page_shift))
        return heap_extend_down(h, top, base, pages);
    block *b = heap_setup(h, base, pages, sizeof(heap), 0);
    h->top = h->heaps;
    return b;
}

/* A heap of its own for one large block of `need` bytes whose payload is
 * a multiple of `align` (a power of two; KH_ALIGN for a plain request).  The
 * run is mapped with room to slide the payload up to that multiple; the
 * whole pages before the page that takes the header and after the block go
 * straight back, so the heap holds the block and nothing else ever lands
 * there (its free pages would otherwise pin it).  Returns the block, free
 * and out of the index, or NULL. */
COLD block *large_map(kheap *h, size_t need, size_t align)
{
    size_t ps = h->page_size, off0 = first_payload_offset(sizeof(heap));
    size_t slide = align > KH_ALIGN ? align - KH_ALIGN : 0;
    if (need >= KH_MAX_BLOCK || slide >= KH_MAX_BLOCK || off0 + slide >= KH_MAX_BLOCK - need)
        return NULL;
    size_t run = pages_for(h, off0 + slide + need);
    char *base = h->config.provider.map(h->config.provider.ctx, run);
    if (base == NULL)
        return NULL;
    uintptr_t payload = align_up((uintptr_t)base + off0, align);
    char *hp = (char *)((payload - off0) & ~(uintptr_t)(ps - 1));
    size_t lead = (size_t)(hp - base) >> h->page_shift;
    size_t pages = pages_for(h, (size_t)(payload - (uintptr_t)hp) + need);
    if (lead != 0)
        h->config.provider.unmap(h->config.provider.ctx, base, lead);
    if (run - lead > pages)
        h->config.provider.unmap(h->config.provider.ctx, hp + pages * ps, run - lead - pages);
    return heap_setup(h, hp, pages, (size_t)(payload - (uintptr_t)hp) - KH_HDR, KH_HEAP_LARGE);
}

/* A free block of at least `need` bytes (need below the large threshold)
 * from the provider, by growing the newest heap in place, at its top or at
 * its bottom, or from a new heap.  Grown or new space is used directly, not
 * searched for: `need` is enough there, without the search's rounding up
 * to a class. */
COLD block *normal_from_provider(kheap *h, size_t need)
{
    if (h->top != NULL) {
        block *s = heap_sentinel(h->top, h->page_size);
        size_t tail = block_prev_is_free(s) ? s->prev_size : 0;
        block *b = heap_grow(h, h->top, need > tail ? need - tail : 0);
        if (b != NULL)
            return b;
    }
    size_t min_pages = heap_pages_for(h, sizeof(heap), need);
    if (min_pages == 0)
        return NULL;
    return heap_add(h, min_pages < h->heap_pages ? h->heap_pages : min_pages, min_pages);
}

/* alloc's way to the provider, out of line so the index path stays lean:
 * a large request gets a heap of its own (the block is not split), any
 * other grows or adds a normal heap. */
COLD void *alloc_from_provider(kheap *h, size_t need, size_t request)
{
    bool large = need >= h->large_threshold;
    block *b = large ? large_map(h, need, KH_ALIGN) : normal_from_provider(h, need);
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
            void *p = alloc_from_provider(h, need, size);
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
    size_t ps = h->page_size;
    if (owns == NULL)
        return true;
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
static const char *next_validate(const kheap *h, const block *next, size_t next_word)
{
    size_t size = next_word & ~KH_FLAG_MASK;
    uintptr_t at = (uintptr_t)next;
    if (next_word & KH_FLAG_FREE) {
        const block *after = (const block *)(at + size);
        if (size > h->first + h->span - at || !words_held(h, HDR_SIZE(next), after, HDR_SIZE(after)) ||
            after->prev_size != size || !(after->size & KH_FLAG_PREV_FREE) || !hdr_ok(h, after))
            return "overflow into the next block's header";
    } else {
        uintptr_t hp = at + KH_PAYLOAD_OFF - size;
        if (size > at + KH_PAYLOAD_OFF - (h->first - KH_PAYLOAD_OFF) || (hp & (h->page_size - 1)) != 0 ||
            !words_held(h, HDR_SIZE(next), (const void *)hp, (const char *)hp + sizeof(heap) - 1) ||
            ((const heap *)hp)->magic != KH_HEAP_MAGIC || ((const heap *)hp)->owner != h ||
            ((const heap *)hp)->pages << h->page_shift != size)
            return "overflow into the next block's header";
    }
    return NULL;
}

/* Checks that p is the payload of a live block of h, as far as cheap tests
 * tell, reading no word before the provider (where it can tell) says its
 * page is held: the pointer, its header, the next header and what free
 * will follow from it, and (when the previous block is free) the footer
 * free will merge through.  Returns NULL, or a message naming the likely
 * bug, from the first test that fails. */
HOT const char *block_validate(const kheap *h, const void *p, block **out)
{
    uintptr_t a = (uintptr_t)p;
    size_t off = a - h->first;
    if (a % KH_ALIGN != 0)
        return "misaligned pointer";
    if (off >= h->span)
        return "foreign pointer: outside every heap";
    if (released_holds(h, a))
        return "double free: its heap was given back";
    block *b = block_from_payload(p);
    if (!words_held(h, NULL, HDR_FIRST(b), HDR_SIZE(b)))
        return "not in a page the instance holds: a double free after its heap went back?";
    if (!hdr_ok(h, b))
        return "header check failed: double free, or a write over the header";
    size_t word = b->size;
    if (word & KH_FLAG_FREE)
        return "double free";
    /* Flags are below KH_MIN_BLOCK and a sentinel's word is at least a page,
     * so `word < KH_MIN_BLOCK` is "size below the minimum" in one compare. */
    if ((word & (KH_FLAG_SENTINEL | ((KH_ALIGN - 1) & ~KH_FLAG_MASK))) != 0 || word < KH_MIN_BLOCK ||
        (word & ~KH_FLAG_MASK) > h->span - off)
        return "not a block (interior pointer or bad header)";
    const block *next = (const block *)(a - KH_PAYLOAD_OFF + (word & ~KH_FLAG_MASK));
    if (!words_held(h, HDR_SIZE(b), HDR_FIRST(next), HDR_SIZE(next)))
        return "not a block (interior pointer or bad header)";
    size_t next_word = next->size;
    if (!hdr_ok(h, next) || next_word < KH_MIN_BLOCK || (next_word & (KH_ALIGN - 1) & ~KH_FLAG_MASK) != 0)
        return "overflow into the next block's header";
    if (next_word & KH_FLAG_PREV_FREE)
        return "double free after a merge, or overflow into the next header";
    if (next_word & (KH_FLAG_FREE | KH_FLAG_SENTINEL)) {
        const char *why = next_validate(h, next, next_word);
        if (why != NULL)
            return why;
    }
    if (word & KH_FLAG_PREV_FREE) {
        /* The previous block's header must be exactly "free, this size",
         * and lie at or above the lowest page ever held: prev_size <= off
         * puts prev at or above first - KH_PAYLOAD_OFF, that page's start. */
        if (!words_held(h, HDR_FIRST(b), b, b))
            return "underflow into the header (bad previous footer)";
        size_t prev_size = b->prev_size;
        if ((prev_size & (KH_ALIGN - 1)) != 0 || prev_size < KH_MIN_BLOCK || prev_size > off)
            return "underflow into the header (bad previous footer)";
        const block *prev = (const block *)(a - KH_PAYLOAD_OFF - prev_size);
        if (!words_held(h, b, HDR_FIRST(prev), HDR_SIZE(prev)) ||
            prev->size != (prev_size | KH_FLAG_FREE) || !hdr_ok(h, prev))
            return "underflow into the header (bad previous footer)";
    }
    *out = b;
    return NULL;
}

/* Misuse of one call: nothing was changed, the instance carries on. */
COLD void misuse(kheap *h, const char *what, const void *addr)
{
    if (h->pending_what == NULL) {
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
        misuse(h, "write past the end of the block: the trailing canary was changed", at);
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
    const char *what = h->pending_what;
    const void *addr = h->pending_addr;
    h->pending_what = NULL;
    h->pending_addr = NULL;
    h->exit_work = h->config.unlock != NULL;
    kheap_unlock(h, saved);
    if (what != NULL && h->config.panic != NULL)
        h->config.panic(h->config.panic_ctx, what, addr);
}

/* Ends a locked call.  One test covers both reasons to do more than
 * return: an unlock hook (exit_work is set for good) or a report pending
 * (set with it). */
HOT void leave(kheap *h, uintptr_t saved)
{
    if (h->exit_work)
        leave_slow(h, saved);
}

static void block_free_call(kheap *h, block *b);

/* Takes used block b out of use: the statistics, then block_free, inlined
 * on kheap_free's path and called elsewhere (`inlined` is a constant at
 * every call, so the other branch compiles away). */
HOT void free_locked(kheap *h, block *b, bool inlined)
{
    poison_fill(poison_start(b), (char *)block_next(b));
    h->use.in_use_bytes -= block_size(b);
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
    h->use.in_use_bytes -= size - need;
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
        if (!block_is_sentinel(after) ||
            heap_grow(h, heap_of_sentinel(after), need - size - next_free) == NULL)
            return false;
        next = block_next(b);
    } else {
        block_unfree(h, next);
        if (stopped(h))
            return false;
    }
    block_set_size(h, b, size + block_size(next));
    hdr_set(h, block_next(b), block_next(b)->size & ~KH_FLAG_PREV_FREE);
    h->use.in_use_bytes += block_size(next);
    block_shrink(h, b, need);
    if (h->use.in_use_bytes > h->use.peak_in_use_bytes)
        h->use.peak_in_use_bytes = h->use.in_use_bytes;
    return true;
}

/* The large heap whose one block is b (in use), or NULL: found through
 * b's next header, the sentinel, never through the bytes before b. */
static heap *large_heap_of(const block *b)
{
    const block *next = block_next(b);
    if (!block_is_sentinel(next))
        return NULL;
    heap *hp = heap_of_sentinel(next);
    return (hp->flags & KH_HEAP_LARGE) && hp->first == b ? hp : NULL;
}

/* Resizes b, the one block of large heap hp, in place to hold `need`
 * bytes: the whole pages past it go back, or the provider grows the run,
 * so the heap stays exactly the block's.  False, nothing changed, when the
 * run cannot grow. */
static bool large_resize(kheap *h, heap *hp, block *b, size_t need)
{
    size_t ps = h->page_size, start = (size_t)((char *)block_payload(b) - (char *)hp);
    if (need >= KH_MAX_BLOCK - start)
        return false;
    size_t pages = pages_for(h, start + need), had = hp->pages;
    char *end = heap_end(hp, ps);
    if (pages > had) {
        if (h->config.provider.grow == NULL ||
            !h->config.provider.grow(h->config.provider.ctx, end, pages - had))
            return false;
        note_pages(h, end, pages - had);
        released_forget(h, (uintptr_t)end, (pages - had) * ps);
    } else if (pages == had) {
        return true;
    }
    size_t old = block_size(b);
    hp->pages = pages;
    block *s = heap_sentinel(hp, ps);
    hdr_set(h, s, (pages * ps) | KH_FLAG_SENTINEL);
    size_t size = (size_t)((char *)s - (char *)b);
    block_set_size(h, b, size);
    h->block_bytes += size - old;
    h->use.in_use_bytes += size - old;
    if (h->use.in_use_bytes > h->use.peak_in_use_bytes)
        h->use.peak_in_use_bytes = h->use.in_use_bytes;
    if (pages < had) {
        h->stats.pages -= had - pages;
        released_note(h, (uintptr_t)heap_end(hp, ps), (had - pages) * ps);
        h->config.provider.unmap(h->config.provider.ctx, heap_end(hp, ps), had - pages);
    }
    return true;
}

/* ------------------------------------------------------------ interface */

static bool config_valid(const kheap_config *c)
{
    size_t ps = c->provider.page_size;
    return c->provider.map != NULL && c->provider.unmap != NULL &&
           (c->lock == NULL) == (c->unlock == NULL) &&
           ps >= 64 && (ps & (ps - 1)) == 0 && ps < KH_MAX_BLOCK;
}

#if KHEAP_HARDEN
/* A key when the caller gives none: the instance's address, mixed so that
 * nearby instances get unrelated keys. */
static uintptr_t secret_from(uintptr_t x)
{
    x ^= x >> 7;
    x *= (uintptr_t)0x9e3779b97f4a7c15u;
    x ^= x >> 13;
    return x | 1u;
}
#endif

static size_t home_header_bytes(void)
{
    return align_up(sizeof(heap), alignof(struct kheap)) + sizeof(struct kheap);
}

kheap *kheap_create(const kheap_config *config)
{
    if (config == NULL || !config_valid(config))
        return NULL;
    /* Only the page geometry is needed before the instance exists. */
    kheap geometry;
    geometry.page_size = config->provider.page_size;
    geometry.page_shift = fls_size(geometry.page_size);
    size_t header = home_header_bytes();
    size_t min_pages = pages_for(&geometry, first_payload_offset(header) + KH_MIN_BLOCK);
    size_t heap_pages = config->heap_pages != 0 ? config->heap_pages
                                                : pages_for(&geometry, KHEAP_DEFAULT_HEAP_BYTES);
    size_t max_pages = (KH_MAX_BLOCK >> geometry.page_shift) - 1;
    if (heap_pages > max_pages)
        heap_pages = max_pages;
    size_t pages = heap_pages > min_pages ? heap_pages : min_pages;
    char *base = config->provider.map(config->provider.ctx, pages);
    if (base == NULL && pages > min_pages) {
        pages = min_pages;
        base = config->provider.map(config->provider.ctx, pages);
    }
    if (base == NULL)
        return NULL;

    kheap *h = (kheap *)(void *)(base + align_up(sizeof(heap), alignof(struct kheap)));
    __builtin_memset(h, 0, sizeof *h);
    h->layout = KH_LAYOUT;
    h->config = *config;
#if KHEAP_HARDEN
    h->secret = config->secret != 0 ? config->secret : secret_from((uintptr_t)h);
#endif
    h->page_size = geometry.page_size;
    h->page_shift = geometry.page_shift;
    h->heap_pages = heap_pages;
    size_t quarter = (heap_pages << h->page_shift) / 4;
    h->exit_work = config->unlock != NULL;
    h->large_threshold = config->large_threshold != 0 ? config->large_threshold
                         : quarter > KHEAP_DEFAULT_LARGE_BYTES ? quarter
                                                               : KHEAP_DEFAULT_LARGE_BYTES;
    h->dv = heap_setup(h, base, pages, header, KH_HEAP_HOME);
    h->top = h->heaps;
    return h;
}

void kheap_destroy(kheap *h)
{
    if (!usable(h))
        return;
    kheap_provider provider = h->config.provider;
    heap *hp = h->heaps;
    while (hp != NULL) {
        heap *next = hp->next;
        hp->magic = 0;
        provider.unmap(provider.ctx, hp, hp->pages);
        hp = next;
    }
}

void *kheap_alloc(kheap *h, size_t size)
{
    if (!usable(h))
        return NULL;
    uintptr_t saved = kheap_lock(h);
    void *p = alloc_locked(h, size);
    leave(h, saved);
    return p;
}

void *kheap_calloc(kheap *h, size_t n, size_t size)
{
    if (!usable(h))
        return NULL;
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        uintptr_t saved = kheap_lock(h);
        h->stats.failed++;
        kheap_unlock(h, saved);
        return NULL;
    }
    void *p = kheap_alloc(h, bytes);
    if (p != NULL)
        __builtin_memset(p, 0, bytes);
    return p;
}

void kheap_free(kheap *h, void *p)
{
    if (!usable(h) || p == NULL)
        return;
    uintptr_t saved = kheap_lock(h);
    block *b = NULL;
    const char *bad = stopped(h) ? NULL : block_validate(h, p, &b);
    if (bad != NULL)
        misuse(h, bad, p);
    else if (!stopped(h) && !canary_reported(h, b))
        free_locked(h, b, true);
    leave(h, saved);
}

void *kheap_realloc(kheap *h, void *p, size_t size)
{
    if (!usable(h))
        return NULL;
    if (p == NULL)
        return kheap_alloc(h, size);
    if (size == 0) {
        kheap_free(h, p);
        return NULL;
    }
    uintptr_t saved = kheap_lock(h);
    block *b = NULL;
    const char *bad = stopped(h) ? "instance stopped after detecting corruption"
                                : block_validate(h, p, &b);
    void *result = NULL;
    if (bad != NULL && !stopped(h)) {
        misuse(h, bad, p);
    } else if (bad == NULL && !canary_reported(h, b)) {
        size_t need = request_block_size(size);
        size_t had = block_request(h, b);
        heap *large = large_heap_of(b);
        if (need != 0 && (large != NULL ? large_resize(h, large, b, need)
                                        : block_resize_in_place(h, b, need))) {
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
    leave(h, saved);
    return result;
}

void *kheap_aligned_alloc(kheap *h, size_t align, size_t size)
{
    if (!usable(h))
        return NULL;
    if (align == 0 || (align & (align - 1)) != 0) {
        uintptr_t saved = kheap_lock(h);
        h->stats.failed++;
        kheap_unlock(h, saved);
        return NULL;
    }
    if (align <= KH_ALIGN)
        return kheap_alloc(h, size);
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
            b = large_map(h, need, align);
        } else {
            b = block_take(h, total);
            if (b == NULL && !stopped(h))
                b = normal_from_provider(h, total);
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
    leave(h, saved);
    return p;
}

size_t kheap_usable_size(kheap *h, const void *p)
{
    if (!usable(h) || p == NULL)
        return 0;
    uintptr_t saved = kheap_lock(h);
    block *b = NULL;
    const char *bad = stopped(h) ? NULL : block_validate(h, p, &b);
    size_t usable = bad == NULL && !stopped(h) && !canary_reported(h, b)
                        ? block_request(h, b) : 0;
    if (bad != NULL)
        misuse(h, bad, p);
    leave(h, saved);
    return usable;
}
