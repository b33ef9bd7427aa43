/*
 * kheap diagnostics: statistics, the invariant checker, the heap walk and
 * the text dump.  Kept apart from core.c so a firmware image that never
 * calls them does not carry them (and `make size` can count them apart).
 */
#include "heap_internal.h"

/* Every walk here is bounded, and follows no pointer it has not checked:
 * a broken heap (a write after free that links a block to itself, a
 * forged size) must not hang a call that holds the lock, with interrupts
 * masked on target, or send it into memory that is not the instance's.
 * A stopped instance (the full tier saw corruption) is not walked at all:
 * only its counters are reported. */

/* Most blocks the heaps could hold: every block spans at least KH_ALIGN. */
static size_t blocks_bound(const kheap *h)
{
    return h->block_bytes / KH_ALIGN + 1;
}

/* The largest request that succeeds without the provider: the dv, or the
 * head of the highest non-empty class.  A request up to that head either
 * searches into its class or, being of that class itself, gets the head
 * probed (core.c). */
static size_t largest_free(const kheap *h)
{
    size_t dv = h->dv != NULL && link_plausible(h, h->dv) ? block_room(h->dv) : 0;
    if (h->map_summary == 0)
        return dv;
    unsigned w = fls_size(h->map_summary);
    if (w >= KH_MAP_WORDS || h->map[w] == 0)
        return dv;
    const block *b = list_head(h, (w << 5) + fls32(h->map[w]));
    size_t head = b != NULL && link_plausible(h, b) ? block_room(b) : 0;
    return head > dv ? head : dv;
}

/* Free blocks: the listed ones and the dv; a list stops counting at a
 * link that cannot be a free block of ours, or past any count the heaps
 * could hold (a cycle). */
static size_t free_blocks_listed(const kheap *h)
{
    size_t n = h->dv != NULL, bound = blocks_bound(h);
    for (unsigned i = 0; i < KH_LIST_COUNT; i++)
        for (const block *b = list_head(h, i); b != NULL && n < bound; b = link_get(h, &b->next_free)) {
            if (!link_plausible(h, b))
                break;
            n++;
        }
    return n;
}

static void in_use_walked(const kheap *h, size_t *bytes, size_t *blocks);

/* The figures the hot paths do not keep, derived from the ones they do;
 * without KHEAP_STATS, the bytes and blocks in use from a walk. */
static kheap_stats stats_derived(const kheap *h)
{
    kheap_stats s = {0};
    s.pages = h->stats.pages;
    s.peak_pages = h->stats.peak_pages;
    s.heaps = h->stats.heaps;
    s.failed = h->stats.failed;
    if (KHEAP_STATS) {
        s.in_use_bytes = h->use.in_use_bytes;
        s.peak_in_use_bytes = h->use.peak_in_use_bytes;
        s.allocs = h->use.allocs;
        s.frees = h->use.frees;
        s.blocks_in_use = s.allocs - s.frees;
    } else if (!h->broken) {
        in_use_walked(h, &s.in_use_bytes, &s.blocks_in_use);
    }
    s.free_bytes = h->block_bytes - s.in_use_bytes;
    /* A stopped instance hands nothing out, and its lists are not read. */
    if (!h->broken) {
        s.free_blocks = free_blocks_listed(h);
        s.largest_free = largest_free(h);
    }
    return s;
}

void kheap_stats_get(kheap *h, kheap_stats *stats)
{
    if (!same_layout(h) || stats == NULL)
        return;
    uintptr_t saved = kheap_lock(h);
    *stats = stats_derived(h);
    kheap_unlock(h, saved);
}

/* What is wrong with heap hp's header, sentinel or first-block pointer, or
 * NULL: where it lies is tested before any of it is read.  The checker
 * reports it; the walk and the dump stop at such a heap. */
static const char *heap_header_why(const kheap *h, const heap *hp)
{
    if (((uintptr_t)hp & (h->page_size - 1)) != 0)
        return "heap is not page aligned";
    if ((uintptr_t)hp + KH_PAYLOAD_OFF < h->first || (uintptr_t)hp + KH_PAYLOAD_OFF - h->first >= h->span)
        return "heap lies outside the instance's bounds";
    if (hp->magic != KH_HEAP_MAGIC)
        return "heap header magic is wrong";
    if (hp->owner != h)
        return "heap header names another instance";
    if (hp->pages == 0 || hp->base_pages == 0)
        return "heap page count is zero";
    if (hp->pages > (((uintptr_t)h->first + h->span - (uintptr_t)hp) >> h->page_shift))
        return "heap lies outside the instance's bounds";
    const block *s = heap_sentinel(hp, h->page_size);
    if (!block_is_sentinel(s) || block_size(s) != hp->pages * h->page_size || !hdr_ok(h, s))
        return "heap sentinel is missing or has the wrong length";
    if ((char *)hp->first < (char *)(hp + 1) - KH_WORD || (char *)hp->first >= (char *)s)
        return "heap's first block lies outside it";
    return NULL;
}

/* A heap from the instance's list that may be walked: its header passes
 * and its first block is aligned.  The list itself is walked at most
 * stats.heaps steps. */
static bool heap_walkable(const kheap *h, const heap *hp)
{
    return heap_header_why(h, hp) == NULL &&
           ((uintptr_t)block_payload(hp->first) & (KH_ALIGN - 1)) == 0;
}

/* The block after b in heap hp, its sentinel, or NULL when b's size would
 * step outside hp or not forward. */
static const block *block_step(const kheap *h, const heap *hp, const block *b)
{
    size_t size = block_size(b);
    const block *s = heap_sentinel(hp, h->page_size);
    if (size < KH_MIN_BLOCK || (size & (KH_ALIGN - 1)) != 0 || size > (size_t)((const char *)s - (const char *)b))
        return NULL;
    return block_next(b);
}

/* ------------------------------------------------------------ reports */

/* In the order of kheap_misuse; a static assert keeps them in step. */
static const char *const misuse_texts[] = {
    "no misuse",
    "misaligned pointer",
    "foreign pointer: outside every heap",
    "double free: its heap was given back",
    "not in a page the instance holds: a double free after its heap went back?",
    "header check failed: double free, or a write over the header",
    "double free",
    "not a block (interior pointer or bad header)",
    "overflow into the next block's header",
    "double free after a merge, or overflow into the next header",
    "underflow into the header (bad previous footer)",
    "write past the end of the block: the trailing canary was changed",
    "__malloc_lock nested too deep",
    "__malloc_unlock without __malloc_lock",
    "write after free: freed memory was changed",
    "free list link corrupted: a write after free?",
    "free list head corrupted: a write over a freed block's header?",
    "free block header corrupted: an overflow from the block before it?",
};
_Static_assert(sizeof misuse_texts / sizeof misuse_texts[0] == KHEAP_MISUSE_FREE_HEADER + 1,
               "a message for every kheap_misuse code");

const char *kheap_misuse_text(kheap_misuse what)
{
    return (unsigned)what < sizeof misuse_texts / sizeof misuse_texts[0] ? misuse_texts[what]
                                                                          : "unknown misuse";
}

/* ------------------------------------------------------------ check */

typedef struct check_totals {
    size_t in_use_bytes, free_bytes, blocks_in_use, free_blocks, pages, heaps;
    uintptr_t free_sum;  /* the heaps' free blocks but the dv, their addresses added */
    bool dv_seen;
} check_totals;

static const char *check_block(const kheap *h, const heap *hp, const block *b,
                               bool prev_free, check_totals *t)
{
    size_t size = block_size(b);
    uintptr_t end = (uintptr_t)heap_end(hp, h->page_size);
    if (size < KH_MIN_BLOCK || size % KH_ALIGN != 0)
        return "block size below the minimum or not a multiple of KHEAP_ALIGN";
    if ((uintptr_t)b + size > end - KH_PAYLOAD_OFF)
        return "block runs past its heap's sentinel";
    if (block_prev_is_free(b) != prev_free)
        return "PREV_FREE flag disagrees with the previous block";
    if ((uintptr_t)block_payload(b) % KH_ALIGN != 0)
        return "block payload misaligned";
    if (!hdr_ok(h, b))
        return "header check word is wrong: a write over this header";
    if (block_is_free(b)) {
        if (prev_free)
            return "two free blocks side by side: missed coalesce";
        if (block_next(b)->prev_size != size)
            return "free block's footer disagrees with its size";
        t->free_bytes += size;
        t->free_blocks++;
        t->dv_seen |= b == h->dv;
        if (b != h->dv)
            t->free_sum += (uintptr_t)b;
    } else {
        if (canary_broken(h, b) != NULL)
            return "a block's trailing canary was changed: a write past its end";
        t->in_use_bytes += size;
        t->blocks_in_use++;
    }
    return NULL;
}

static const char *check_heap(const kheap *h, const heap *hp, check_totals *t)
{
    const char *header = heap_header_why(h, hp);
    if (header != NULL)
        return header;
    const block *s = heap_sentinel(hp, h->page_size);
    bool prev_free = false;
    const block *b = hp->first;
    while (b != s) {
        const char *why = check_block(h, hp, b, prev_free, t);
        if (why != NULL)
            return why;
        prev_free = block_is_free(b);
        b = block_next(b);
    }
    if (block_prev_is_free(s) != prev_free)
        return "sentinel's PREV_FREE flag disagrees with the last block";
    t->pages += hp->pages;
    t->heaps++;
    return NULL;
}

/* The bytes and blocks in use of every heap that passes the checker, for
 * a profile whose hot paths keep no count; the heap list is followed at
 * most stats.heaps steps. */
static void in_use_walked(const kheap *h, size_t *bytes, size_t *blocks)
{
    check_totals t = {0};
    size_t heaps = 0;
    for (const heap *hp = h->heaps; hp != NULL && heaps++ < h->stats.heaps; hp = hp->next)
        if (check_heap(h, hp, &t) != NULL)
            break;
    *bytes = t.in_use_bytes;
    *blocks = t.blocks_in_use;
}

/* The lists must hold exactly the heaps' free blocks (but the dv): as many,
 * with the same addresses added up, so a forged entry standing in for a
 * real one shows even when its header and links are consistent. */
static const char *check_index(const kheap *h, size_t free_blocks, uintptr_t free_sum)
{
    size_t listed = 0;
    uintptr_t listed_sum = 0;
    for (unsigned w = 0; w < KH_MAP_WORDS; w++)
        if ((h->map[w] != 0) != ((h->map_summary >> w) & 1u))
            return "summary bitmap disagrees with its word of list bits";
    for (unsigned i = 0; i < KH_LIST_COUNT; i++) {
        block *const *back = &h->lists[i];
        if ((list_head(h, i) != NULL) != ((h->map[i >> 5] >> (i & 31)) & 1u))
            return "list bitmap disagrees with its list";
        for (const block *b = list_head(h, i); b != NULL; b = link_get(h, &b->next_free)) {
            if (++listed > free_blocks)
                return "free lists hold more blocks than the heaps (a cycle or a stale entry)";
            uintptr_t a = (uintptr_t)block_payload(b);
            if ((a & (KH_ALIGN - 1)) != 0 || a - h->first >= h->span)
                return "a free list links outside the instance's heaps";
            if (!block_is_free(b))
                return "a block in a free list is marked in use";
            listed_sum += (uintptr_t)b;
            if (b == h->dv)
                return "the designated victim is also in a free list";
            if (list_index(block_size(b)) != i)
                return "a free block sits in the wrong size class";
            if (!hdr_ok(h, b))
                return "a free block's header check word is wrong";
            if (back_get(h, &b->back_link) != back)
                return "free list back link is broken";
            back = &b->next_free;
        }
    }
    if (h->map[KH_MAP_WORDS - 1] >> (KH_LIST_COUNT & 31) != 0)
        return "list bitmap marks a list past the last";
    if (listed != free_blocks)
        return "a free block is missing from the free lists";
    if (listed_sum != free_sum)
        return "a free list holds a block that is not one of the heaps' free blocks";
    return NULL;
}

static const char *check_locked(const kheap *h)
{
    check_totals t = {0};
    const heap *prev = NULL;
    bool home_seen = false;
    for (const heap *hp = h->heaps; hp != NULL; hp = hp->next) {
        if (hp->prev != prev)
            return "heap list back link is broken";
        const char *why = check_heap(h, hp, &t);
        if (why != NULL)
            return why;
        if (hp->flags & KH_HEAP_HOME)
            home_seen = true;
        prev = hp;
        if (t.heaps > h->stats.heaps)
            return "heap list longer than the heap count (a cycle?)";
    }
    if (!home_seen)
        return "the home heap is missing from the heap list";
    if (h->dv != NULL && !t.dv_seen)
        return "the designated victim is not a free block of any heap";
    const char *why = check_index(h, t.free_blocks - (h->dv != NULL), t.free_sum);
    if (why != NULL)
        return why;
    if (KHEAP_STATS && t.in_use_bytes != h->use.in_use_bytes)
        return "stats of bytes in use disagree with the heaps";
    if (t.in_use_bytes + t.free_bytes != h->block_bytes)
        return "block bytes counted by the heaps disagree with the instance's total";
    if (t.pages != h->stats.pages || t.heaps != h->stats.heaps)
        return "stats of pages or heaps disagree with the heap list";
    if (KHEAP_STATS && h->use.allocs - h->use.frees != t.blocks_in_use)
        return "allocs - frees differs from the blocks in use";
    return NULL;
}

bool kheap_check(kheap *h, const char **why)
{
    const char *bad = h == NULL ? "NULL instance"
                      : "instance created by a build with other layout options";
    if (same_layout(h)) {
        uintptr_t saved = kheap_lock(h);
        bad = h->broken ? "instance stopped after detecting corruption" : check_locked(h);
        kheap_unlock(h, saved);
    }
    if (why != NULL)
        *why = bad;
    return bad == NULL;
}

/* ------------------------------------------------------------ walk */

void kheap_walk(kheap *h, kheap_walk_fn fn, void *ctx)
{
    if (!same_layout(h) || fn == NULL)
        return;
    uintptr_t saved = kheap_lock(h);
    bool going = !h->broken;
    size_t heaps = 0;
    for (const heap *hp = h->heaps; hp != NULL && going && heaps++ < h->stats.heaps; hp = hp->next) {
        if (!heap_walkable(h, hp))
            break;
        const block *s = heap_sentinel(hp, h->page_size);
        for (const block *b = hp->first; b != NULL && b != s && going; b = block_step(h, hp, b)) {
            kheap_block_info info = {
                .heap = hp,
                .ptr = block_payload(b),
                .size = block_is_free(b) ? block_room(b) : block_request(h, b),
                .in_use = !block_is_free(b),
            };
            going = fn(ctx, &info);
        }
    }
    kheap_unlock(h, saved);
}

/* ------------------------------------------------------------ dump */

typedef struct dump_out {
    kheap_out_fn fn;
    void *ctx;
} dump_out;

static void put_str(const dump_out *o, const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    o->fn(o->ctx, s, n);
}

/* Decimal by subtracting powers of ten: no division, which Cortex-M0 lacks. */
static void put_dec(const dump_out *o, size_t v)
{
    size_t pows[3 * sizeof(size_t)];
    char buf[3 * sizeof(size_t)];
    unsigned k = 0;
    size_t n = 0;
    pows[0] = 1;
    while (pows[k] <= SIZE_MAX / 10 && pows[k] * 10 <= v) {
        pows[k + 1] = pows[k] * 10;
        k++;
    }
    for (;;) {
        char d = '0';
        while (v >= pows[k]) {
            v -= pows[k];
            d++;
        }
        buf[n++] = d;
        if (k-- == 0)
            break;
    }
    o->fn(o->ctx, buf, n);
}

static void put_hex(const dump_out *o, uintptr_t v)
{
    char buf[2 + 2 * sizeof(uintptr_t)];
    size_t i = sizeof buf;
    do {
        unsigned d = (unsigned)(v & 15u);
        buf[--i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v >>= 4;
    } while (v != 0);
    buf[--i] = 'x';
    buf[--i] = '0';
    o->fn(o->ctx, buf + i, sizeof buf - i);
}

static void put_field(const dump_out *o, const char *name, size_t v)
{
    put_str(o, " ");
    put_str(o, name);
    put_str(o, "=");
    put_dec(o, v);
}

static void put_addr(const dump_out *o, const char *name, const void *p)
{
    put_str(o, " ");
    put_str(o, name);
    put_str(o, "=");
    put_hex(o, (uintptr_t)p);
}

/* The end of a block line: its state, and with tracing the site of a
 * block in use. */
#if KHEAP_TRACE
static void put_state(const dump_out *o, const block *b)
{
    if (block_is_free(b)) {
        put_str(o, " state=free\n");
    } else {
        put_str(o, " state=used");
        put_addr(o, "site", b->site);
        put_str(o, "\n");
    }
}
#else
static void put_state(const dump_out *o, const block *b)
{
    put_str(o, block_is_free(b) ? " state=free\n" : " state=used\n");
}
#endif

/* One heap's lines; a block whose size steps outside the heap ends them
 * with a "broken" line naming where. */
static void dump_heap(const kheap *h, const heap *hp, const dump_out *o)
{
    put_str(o, "heap");
    put_addr(o, "addr", hp);
    put_field(o, "pages", hp->pages);
    put_field(o, "bytes", hp->pages * h->page_size);
    put_str(o, (hp->flags & KH_HEAP_HOME) ? " kind=home\n"
               : (hp->flags & KH_HEAP_LARGE) ? " kind=large\n" : " kind=normal\n");
    const block *s = heap_sentinel(hp, h->page_size);
    const block *b = hp->first;
    while (b != s) {
        put_str(o, "block");
        put_field(o, "offset", (uintptr_t)block_payload(b) - (uintptr_t)hp);
        put_field(o, "size", block_is_free(b) ? block_room(b) : block_request(h, b));
        put_state(o, b);
        const block *next = block_step(h, hp, b);
        if (next == NULL) {
            put_str(o, "broken");
            put_field(o, "offset", (uintptr_t)block_payload(b) - (uintptr_t)hp);
            put_str(o, " why=size\n");
            return;
        }
        b = next;
    }
}

void kheap_dump(kheap *h, kheap_out_fn out, void *ctx)
{
    if (!same_layout(h) || out == NULL)
        return;
    const dump_out o = {out, ctx};
    uintptr_t saved = kheap_lock(h);
    const kheap_stats stats = stats_derived(h);
    const kheap_stats *st = &stats;
    put_str(&o, "kheap-dump begin");
    put_addr(&o, "instance", h);
    put_field(&o, "page_size", h->page_size);
    put_str(&o, "\n");
    size_t heaps = 0;
    if (h->broken)
        put_str(&o, "stopped why=corruption\n");
    for (const heap *hp = h->heaps; hp != NULL && !h->broken && heaps++ < h->stats.heaps;
         hp = hp->next) {
        if (!heap_walkable(h, hp)) {
            put_str(&o, "broken");
            put_addr(&o, "addr", hp);
            put_str(&o, " why=heap\n");
            break;
        }
        dump_heap(h, hp, &o);
    }
    put_str(&o, "stats");
    put_field(&o, "in_use", st->in_use_bytes);
    put_field(&o, "free", st->free_bytes);
    put_field(&o, "largest_free", st->largest_free);
    put_field(&o, "peak_in_use", st->peak_in_use_bytes);
    put_field(&o, "pages", st->pages);
    put_field(&o, "heaps", st->heaps);
    put_field(&o, "allocs", st->allocs);
    put_field(&o, "frees", st->frees);
    put_field(&o, "failed", st->failed);
    put_str(&o, "\nkheap-dump end\n");
    kheap_unlock(h, saved);
}

/* ------------------------------------------------------------ leaks */
#if KHEAP_TRACE

void kheap_mark(kheap *h)
{
    if (!usable(h))
        return;
    uintptr_t saved = kheap_lock(h);
    h->trace_mark = h->trace_seq;
    kheap_unlock(h, saved);
}

/* The leak walk's table: a site per entry, the last one the "other"
 * group of every site that came after the table filled. */
typedef struct leak_table {
    const kheap *h;
    size_t used;
    kheap_leak site[KHEAP_LEAK_SITES + 1];
} leak_table;

/* kheap_walk's callback, under the instance's lock: the mark and the
 * sequence cannot move during the walk. */
static bool leak_visit(void *ctx, const kheap_block_info *info)
{
    leak_table *t = ctx;
    if (!info->in_use)
        return true;
    const block *b = block_from_payload(info->ptr);
    size_t mark = t->h->trace_mark;
    if (b->seq - mark - 1 >= t->h->trace_seq - mark)
        return true;
    size_t i = 0;
    while (i < t->used && t->site[i].site != b->site)
        i++;
    if (i == t->used) {
        if (t->used < KHEAP_LEAK_SITES) {
            t->site[i].site = b->site;
            t->used++;
        } else {
            i = KHEAP_LEAK_SITES;
            t->site[i].other = true;
        }
    }
    t->site[i].blocks++;
    t->site[i].bytes += info->size;
    return true;
}

size_t kheap_leaks(kheap *h, kheap_leak_fn fn, void *ctx)
{
    if (!usable(h) || fn == NULL)
        return 0;
    leak_table t = {.h = h};
    kheap_walk(h, leak_visit, &t);
    size_t calls = t.used + t.site[KHEAP_LEAK_SITES].other;
    for (size_t i = 0; i < t.used; i++)
        fn(ctx, &t.site[i]);
    if (t.site[KHEAP_LEAK_SITES].other)
        fn(ctx, &t.site[KHEAP_LEAK_SITES]);
    return calls;
}
#endif
