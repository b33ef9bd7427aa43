/*
 * kheap's page layer: spans from provider pages.  Heaps (spans of whole
 * pages) are mapped, grown in place at the top, extended down over a run
 * mapped right below, trimmed, kept spare or given back; a large request
 * gets a heap of its own.  kheap_create builds an instance over it.
 *
 * The core below (core.c) offers, with the instance locked:
 *   - the block format and the index (heap_internal.h): hdr_set,
 *     block_set_size, poison_fill; a span's blocks are laid out here, by
 *     heap_setup, and the core takes them over from there;
 *   - kh_block_unfree(h, b): takes free block b out of the index or the dv;
 *   - every block it hands this layer through `layer` (pages.h) is free,
 *     merged with its free neighbours and in neither the index nor the dv;
 *     every block this layer returns is the same, and the core places it
 *     (index or dv) or uses it; this layer never touches a block in use
 *     but the one of a large heap (resize_own);
 *   - h->block_bytes, h->stats.pages/heaps and the bounds h->first/h->span
 *     are this layer's to keep: the core and diag.c only read them.
 */
#include "pages.h"

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
/* Full tier: the last few runs given back, so a double free of a block in
 * them is reported instead of reading pages that are gone (core.c reads
 * them: released_holds). */
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
#else
static void released_note(kheap *h, uintptr_t start, size_t bytes) { (void)h, (void)start, (void)bytes; }
static void released_forget(kheap *h, uintptr_t start, size_t bytes) { (void)h, (void)start, (void)bytes; }
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

/* Extends hp in place by enough pages for its last block to be free and at
 * least `extra` bytes larger than the free space it ends with now.
 * Returns that last block (free, out of the index and the dv), or NULL
 * with nothing changed when the provider cannot grow the run. */
COLD block *heap_grow(kheap *h, heap *hp, size_t extra)
{
    size_t ps = h->page_size;
    size_t pages = pages_for(h, extra);
    if (h->config.provider.grow == NULL || pages == 0 || (hp->flags & KH_HEAP_TOP_TAKEN) ||
        extra >= KH_MAX_BLOCK || hp->pages + pages >= (KH_MAX_BLOCK >> h->page_shift))
        return NULL;
    char *end = heap_end(hp, ps);
    /* A provider that maps top down has usually put another run right
     * above: one failed call says so, and the heap asks no more until its
     * own top trim frees the pages above it. */
    if (!h->config.provider.grow(h->config.provider.ctx, end, pages)) {
        hp->flags |= KH_HEAP_TOP_TAKEN;
        return NULL;
    }
    block *s = heap_sentinel(hp, ps);
    block *b;
    if (block_prev_is_free(s)) {
        b = (block *)(void *)((char *)s - s->prev_size);
        kh_block_unfree(h, b);
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
    hp->flags &= ~KH_HEAP_TOP_TAKEN;
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

/* b: a merged free block of hp, out of the index, that ends at hp's
 * sentinel.  Gives the heap, or the whole free pages at its top, back to the
 * provider where the policy says so: an empty heap goes back unless it is
 * the one spare; a heap keeps base_pages while it lives (a large heap: what
 * it uses), and while it holds blocks one free page as slack, so a free and
 * an alloc at its top do not unmap and map the same page in turn.  Pages a
 * heap took in below (heap_extend_down) go back only with the whole heap:
 * telling a first block from any other would mean reading the word before
 * it, which belongs to a live block (another thread's data).  Returns the
 * block that still stands (smaller), or NULL when none does.  `by_call`
 * (kheap_trim): every empty heap but the home heap goes, the spare too, and
 * a heap in use keeps no free page at its top. */
static inline __attribute__((always_inline)) block *heap_give_back(kheap *h, heap *hp, block *b, bool by_call)
{
    bool empty = b == hp->first;
    if (empty && !(hp->flags & KH_HEAP_HOME)) {
        bool keep = !by_call && !(hp->flags & KH_HEAP_LARGE) &&
                    (h->spare == NULL || h->spare == hp || !heap_is_empty(h->spare, h->page_size));
        if (!keep) {
            heap_release(h, hp);
            return NULL;
        }
        h->spare = hp;
    }
    if (hp->pages <= hp->base_pages && !(hp->flags & KH_HEAP_LARGE))
        return b;
    size_t slack = by_call || empty || (hp->flags & KH_HEAP_LARGE) ? 0 : 1;
    return heap_trim(h, hp, b, slack) ? NULL : b;
}

/* With trim_by_call a normal heap gives nothing back here: kheap_trim
 * does, when its owner calls it. */
static __attribute__((noinline, cold)) block *heap_edge_freed(kheap *h, block *b, block *next)
{
    heap *hp = heap_of_sentinel(next);
    if (h->config.trim_by_call && !(hp->flags & KH_HEAP_LARGE))
        return b;
    return heap_give_back(h, hp, b, false);
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
        kh_block_unfree(h, old_first);
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
    use_grew(h, size - old);
    if (pages < had) {
        h->stats.pages -= had - pages;
        released_note(h, (uintptr_t)heap_end(hp, ps), (had - pages) * ps);
        h->config.provider.unmap(h->config.provider.ctx, heap_end(hp, ps), had - pages);
    }
    return true;
}

/* ------------------------------------------------ the layer, for the core */

static block *pages_refill(kheap *h, size_t need, size_t align)
{
    return align != 0 ? large_map(h, need, align) : normal_from_provider(h, need);
}

static block *pages_grow(kheap *h, block *sentinel, size_t extra)
{
    return heap_grow(h, heap_of_sentinel(sentinel), extra);
}

static int pages_resize_own(kheap *h, block *b, size_t need)
{
    heap *hp = large_heap_of(b);
    return hp == NULL ? -1 : large_resize(h, hp, b, need);
}

static void pages_release_all(kheap *h)
{
    kheap_provider provider = h->config.provider;
    heap *hp = h->heaps;
    while (hp != NULL) {
        heap *next = hp->next;
        hp->magic = 0;
        provider.unmap(provider.ctx, hp, hp->pages);
        hp = next;
    }
}

/* kheap_trim: each normal heap whose last block is free gives back what it
 * can; the block that still stands goes back where a free puts it.  Large
 * heaps hold their one block in use (they went back when it was freed). */
static size_t pages_trim(kheap *h)
{
    size_t before = h->stats.pages;
    for (heap *hp = h->heaps, *next; hp != NULL; hp = next) {
        next = hp->next;
        block *s = heap_sentinel(hp, h->page_size);
        if ((hp->flags & KH_HEAP_LARGE) || !block_prev_is_free(s))
            continue;
        block *b = (block *)(void *)((char *)s - s->prev_size);
        kh_block_unfree(h, b);
        b = heap_give_back(h, hp, b, true);
        if (b != NULL)
            kh_block_refree(h, b);
    }
    return before - h->stats.pages;
}

/* Not static: `make size` counts the malloc family from the functions
 * alloc and free can reach, and the core reaches these only through this
 * table (bench/size.sh names it as a root, as it does the region's
 * provider). */
const struct kh_layer kh_pages_layer = {
    .refill = pages_refill,
    .edge_freed = heap_edge_freed,
    .grow = pages_grow,
    .resize_own = pages_resize_own,
    .release_all = pages_release_all,
    .trim = pages_trim,
};

/* ------------------------------------------------------------ interface */

static bool config_valid(const kheap_config *c)
{
    size_t ps = c->provider.page_size;
    return c->provider.map != NULL && c->provider.unmap != NULL &&
           (c->lock == NULL) == (c->unlock == NULL) && (KHEAP_LOCKS || c->lock == NULL) &&
           ps >= 64 && (ps & (ps - 1)) == 0 && ps < KH_MAX_BLOCK;
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
    h->exit_work = KHEAP_LOCKS && config->unlock != NULL;
    h->large_threshold = config->large_threshold != 0 ? config->large_threshold
                         : quarter > KHEAP_DEFAULT_LARGE_BYTES ? quarter
                                                               : KHEAP_DEFAULT_LARGE_BYTES;
    h->dv = heap_setup(h, base, pages, header, KH_HEAP_HOME);
    h->top = h->heaps;
    h->layer = &kh_pages_layer;
    return h;
}

