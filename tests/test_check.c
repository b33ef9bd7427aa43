/*
 * The judge judged: kheap_check is what every other case trusts, so each of
 * its verdicts gets a case that injects exactly the corruption it names
 * (through the internal structures, alloc/heap_internal.h), expects
 * kheap_check to fail with exactly that text, puts the bytes back and
 * expects a clean bill again before the instance is closed (so every page
 * still goes back).
 *
 * The verdicts are spelled out here, not taken from diag.c: a reworded or
 * reordered check shows as a failure to look at.  Verdicts that only the
 * full tier has (header check words, canaries) have cases only in that
 * build, so the case count differs per tier rather than a basic build
 * passing cases it cannot run.
 *
 * Every case starts from one small layout in the home heap:
 *
 *     [a used][b free][c used][d free][e used][rest: the dv][sentinel]
 *
 * with b and d in one list (d first: inserts go to the head), so a block in
 * use, a listed free block with a neighbour on each side, a list of two and
 * the designated victim are all at hand.
 */
#include "../alloc/heap_internal.h"
#include "ktest.h"
#include "test_support.h"

#define REQ 40u
#define NBLK 5

/* The verdicts, as diag.c words them. */
#define V_SIZE "block size below the minimum or not a multiple of KHEAP_ALIGN"
#define V_PAST "block runs past its heap's sentinel"
#define V_PREV_FREE "PREV_FREE flag disagrees with the previous block"
#define V_MISALIGNED "block payload misaligned"
#define V_HDR_CHECK "header check word is wrong: a write over this header"
#define V_TWO_FREE "two free blocks side by side: missed coalesce"
#define V_FOOTER "free block's footer disagrees with its size"
#define V_CANARY "a block's trailing canary was changed: a write past its end"
#define V_MAGIC "heap header magic is wrong"
#define V_OWNER "heap header names another instance"
#define V_PAGES_ZERO "heap page count is zero"
#define V_HEAP_ALIGN "heap is not page aligned"
#define V_BOUNDS "heap lies outside the instance's bounds"
#define V_SENTINEL "heap sentinel is missing or has the wrong length"
#define V_FIRST "heap's first block lies outside it"
#define V_SENTINEL_PREV "sentinel's PREV_FREE flag disagrees with the last block"
#define V_SUMMARY "summary bitmap disagrees with its word of list bits"
#define V_LIST_BIT "list bitmap disagrees with its list"
#define V_TOO_MANY "free lists hold more blocks than the heaps (a cycle or a stale entry)"
#define V_LISTED_IN_USE "a block in a free list is marked in use"
#define V_DV_LISTED "the designated victim is also in a free list"
#define V_WRONG_CLASS "a free block sits in the wrong size class"
#define V_FREE_HDR_CHECK "a free block's header check word is wrong"
#define V_BACK_LINK "free list back link is broken"
#define V_LINK_OUTSIDE "a free list links outside the instance's heaps"
#define V_NOT_HEAP_FREE "a free list holds a block that is not one of the heaps' free blocks"
#define V_PAST_LAST "list bitmap marks a list past the last"
#define V_MISSING "a free block is missing from the free lists"
#define V_HEAP_BACK "heap list back link is broken"
#define V_HEAP_COUNT "heap list longer than the heap count (a cycle?)"
#define V_NO_HOME "the home heap is missing from the heap list"
#define V_DV_NOT_FREE "the designated victim is not a free block of any heap"
#define V_IN_USE "stats of bytes in use disagree with the heaps"
#define V_BLOCK_BYTES "block bytes counted by the heaps disagree with the instance's total"
#define V_PAGES "stats of pages or heaps disagree with the heap list"
#define V_ALLOCS "allocs - frees differs from the blocks in use"
#define V_NULL "NULL instance"
#define V_STOPPED "instance stopped after detecting corruption"

typedef struct fx {
    kt_heap t;
    kheap *h;
    heap *home;
    char *p[NBLK];     /* a..e; b and d are free */
    block *b[NBLK];
    block *rest;       /* the dv */
    block *sentinel;
    unsigned list;     /* d -> b -> NULL */
    unsigned panics;   /* reports a case caused on purpose */
} fx;

enum { A, B, C, D, E };

static bool fx_fail(fx *f, const ktest_env *env, const char *what)
{
    ktest_fail_msg(__FILE__, __LINE__, "the starting layout", "as described", what);
    kt_close(&f->t, env);
    return false;
}

/* Opens the instance and builds the layout above; false (after a recorded
 * failure, and with everything given back) when it does not come out so. */
static bool fx_open(fx *f, const ktest_env *env)
{
    kt_opts o = {.bytes = 16 * 1024, .page_size = 128, .large_threshold = 1024};
    if (!kt_open(&f->t, env, &o))
        return false;
    kheap *h = f->h = f->t.h;
    f->panics = 0;
    for (int i = 0; i < NBLK; i++) {
        f->p[i] = kheap_alloc(h, REQ);
        if (f->p[i] == NULL)
            return fx_fail(f, env, "an allocation failed");
        f->b[i] = block_from_payload(f->p[i]);
    }
    kheap_free(h, f->p[B]);
    kheap_free(h, f->p[D]);
    f->home = h->heaps;
    if (f->home == NULL || f->home->next != NULL || !(f->home->flags & KH_HEAP_HOME))
        return fx_fail(f, env, "more than the home heap");
    f->sentinel = heap_sentinel(f->home, h->page_size);
    for (int i = 0; i + 1 < NBLK; i++)
        if (block_next(f->b[i]) != f->b[i + 1])
            return fx_fail(f, env, "blocks a..e not side by side");
    if (f->home->first != f->b[A])
        return fx_fail(f, env, "a is not the heap's first block");
    f->rest = block_next(f->b[E]);
    if (h->dv != f->rest || block_next(f->rest) != f->sentinel)
        return fx_fail(f, env, "the rest after e is not the dv");
    f->list = list_index(block_size(f->b[B]));
    if (list_head(h, f->list) != f->b[D] || link_get(h, &f->b[D]->next_free) != f->b[B] ||
        link_get(h, &f->b[B]->next_free) != NULL)
        return fx_fail(f, env, "b and d are not the list d -> b");
    if (!KT_CHECK(h))
        return fx_fail(f, env, "inconsistent before any corruption");
    return true;
}

/* Every injection was undone: the checker is satisfied again, and the
 * instance frees and closes as usual. */
static void fx_close(fx *f, const ktest_env *env)
{
    const char *why = "not written";
    KT_TRUE(kheap_check(f->h, &why));
    KT_STR_EQ(NULL, why);
    kheap_free(f->h, f->p[A]);
    kheap_free(f->h, f->p[C]);
    kheap_free(f->h, f->p[E]);
    KT_EQ(f->panics, f->t.panic.count);
    KT_CHECK(f->h);
    kt_close(&f->t, env);
}

static void expect_verdict_at(kheap *h, const char *want, const char *file, int line)
{
    const char *why = NULL;
    if (kheap_check(h, &why))
        ktest_fail_msg(file, line, "kheap_check(h, &why)", "false", "true");
    if (!ktest_streq(want, why))
        ktest_fail_str(file, line, "why", want, why);
}
#define EXPECT_VERDICT(f, want) expect_verdict_at((f)->h, (want), __FILE__, __LINE__)

/* A header rewritten consistently (in the full tier its check word too),
 * so the checker gets past the check word to the test at issue. */
static void set_word(fx *f, block *b, size_t v) { hdr_set(f->h, b, v); }

/* ------------------------------------------------------------ blocks */

static void c_block_size(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    block *a = f.b[A];
    size_t saved = a->size;
    set_word(&f, a, saved & KH_FLAG_MASK);                     /* size 0 */
    EXPECT_VERDICT(&f, V_SIZE);
    set_word(&f, a, (KH_MIN_BLOCK - KH_ALIGN) | (saved & KH_FLAG_MASK));
    EXPECT_VERDICT(&f, V_SIZE);
    /* Off KHEAP_ALIGN: only where it exceeds the flag bits (16-byte
     * alignment); with 8 the flags mask every size to a multiple of it. */
    if (KH_ALIGN > KH_FLAG_MASK + 1) {
        set_word(&f, a, saved + KH_FLAG_MASK + 1);
        EXPECT_VERDICT(&f, V_SIZE);
    }
    set_word(&f, a, saved);
    fx_close(&f, env);
}

static void c_block_past_sentinel(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    block *a = f.b[A], *e = f.b[E];
    size_t saved_a = a->size, saved_e = e->size;
    /* e swallows the dv and reaches one KH_ALIGN past the sentinel's word. */
    size_t to_sentinel = (size_t)((char *)f.sentinel - (char *)e);
    set_word(&f, e, (to_sentinel + KH_ALIGN) | (saved_e & KH_FLAG_MASK));
    EXPECT_VERDICT(&f, V_PAST);
    set_word(&f, e, saved_e);
    set_word(&f, a, f.home->pages * f.h->page_size);    /* the whole heap from a */
    EXPECT_VERDICT(&f, V_PAST);
    set_word(&f, a, saved_a);
    fx_close(&f, env);
}

static void c_block_prev_free_flag(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    size_t a = f.b[A]->size, c = f.b[C]->size;
    set_word(&f, f.b[A], a | KH_FLAG_PREV_FREE);       /* nothing before a */
    EXPECT_VERDICT(&f, V_PREV_FREE);
    set_word(&f, f.b[A], a);
    set_word(&f, f.b[C], c & ~KH_FLAG_PREV_FREE);      /* b before c is free */
    EXPECT_VERDICT(&f, V_PREV_FREE);
    set_word(&f, f.b[C], c);
    fx_close(&f, env);
}

static void c_block_misaligned(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    /* Blocks are whole multiples of KHEAP_ALIGN apart, so only a heap's
     * first-block pointer can put a payload off alignment: moved up one
     * word, its header word is a's first payload word, which says "a
     * minimum block, nothing free before it". */
    if (KH_ALIGN <= KH_WORD) {
        ktest_fail_msg(__FILE__, __LINE__, "KHEAP_ALIGN > sizeof(size_t)",
                       "a word that is not a multiple of KHEAP_ALIGN", "none: rewrite this case");
    } else {
        size_t *word = (size_t *)(void *)f.p[A];
        size_t saved = *word;
        *word = KH_MIN_BLOCK;
        f.home->first = (block *)(void *)((char *)f.b[A] + KH_WORD);
        EXPECT_VERDICT(&f, V_MISALIGNED);
        f.home->first = f.b[A];
        *word = saved;
    }
    fx_close(&f, env);
}

#if KHEAP_HARDEN
static void c_block_header_check_word(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    block *c = f.b[C];
    c->check ^= (size_t)1 << 20;    /* the size word alone is fine */
    EXPECT_VERDICT(&f, V_HDR_CHECK);
    c->check ^= (size_t)1 << 20;
    size_t saved = c->size;
    c->size = saved ^ KH_ALIGN;        /* a size written without its check word */
    EXPECT_VERDICT(&f, V_HDR_CHECK);
    c->size = saved;
    fx_close(&f, env);
}
#endif

static void c_block_two_free_side_by_side(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    size_t saved = f.b[C]->size;
    set_word(&f, f.b[C], saved | KH_FLAG_FREE);        /* c after free b */
    EXPECT_VERDICT(&f, V_TWO_FREE);
    set_word(&f, f.b[C], saved);
    fx_close(&f, env);
}

static void c_block_footer(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    block *c = f.b[C];              /* c->prev_size is b's footer */
    size_t saved = c->prev_size;
    c->prev_size = saved + KH_ALIGN;
    EXPECT_VERDICT(&f, V_FOOTER);
    c->prev_size = saved;
    fx_close(&f, env);
}

/* The sentinel's prev_size is the last free block's footer; a zero there
 * is "a footer that disagrees" before check_heap's own test for a missing
 * one can run (a heap's last block always ends at the sentinel).  That
 * test is unreachable: this case pins what is reported instead. */
static void c_block_last_footer_zero(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    size_t saved = f.sentinel->prev_size;
    f.sentinel->prev_size = 0;
    EXPECT_VERDICT(&f, V_FOOTER);
    f.sentinel->prev_size = saved;
    fx_close(&f, env);
}

#if KHEAP_HARDEN
static void c_block_canary(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    /* The byte after the request: a canary byte, or (when the request
     * fills the block) the first byte of the canary word. */
    char *c = f.p[E] + REQ;
    c[0] ^= 1;
    EXPECT_VERDICT(&f, V_CANARY);
    c[0] ^= 1;
    size_t *word = canary_word(f.b[E]);
    *word ^= (size_t)1 << 8;        /* the recorded request changed */
    EXPECT_VERDICT(&f, V_CANARY);
    *word ^= (size_t)1 << 8;
    fx_close(&f, env);
}
#endif

/* ------------------------------------------------------------ heaps */

static void c_heap_magic(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    f.home->magic ^= 1;
    EXPECT_VERDICT(&f, V_MAGIC);
    f.home->magic ^= 1;
    fx_close(&f, env);
}

static void c_heap_owner(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    kheap *other = (kheap *)(void *)f.p[A];
    f.home->owner = other;
    EXPECT_VERDICT(&f, V_OWNER);
    f.home->owner = f.h;
    fx_close(&f, env);
}

static void c_heap_pages_zero(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    size_t pages = f.home->pages, base = f.home->base_pages;
    f.home->pages = 0;
    EXPECT_VERDICT(&f, V_PAGES_ZERO);
    f.home->pages = pages;
    f.home->base_pages = 0;
    EXPECT_VERDICT(&f, V_PAGES_ZERO);
    f.home->base_pages = base;
    fx_close(&f, env);
}

static void c_heap_not_page_aligned(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    /* A heap header that is right in every field the checker reads before
     * the alignment, at an address that is not a page's: of two side by
     * side at most one can start a page. */
    heap fakes[2];
    heap *fake = ((uintptr_t)&fakes[0] & (f.h->page_size - 1)) != 0 ? &fakes[0] : &fakes[1];
    *fake = (heap){.magic = KH_HEAP_MAGIC, .pages = 1, .base_pages = 1, .next = f.home,
                   .prev = NULL, .owner = f.h, .first = NULL, .flags = 0};
    f.h->heaps = fake;
    EXPECT_VERDICT(&f, V_HEAP_ALIGN);
    f.h->heaps = f.home;
    fx_close(&f, env);
}

static void c_heap_outside_bounds(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    size_t span = f.h->span;
    uintptr_t first = f.h->first;
    f.h->span = (uintptr_t)f.sentinel - first;   /* ends a word short of the heap */
    EXPECT_VERDICT(&f, V_BOUNDS);
    f.h->span = span;
    f.h->first = (uintptr_t)f.home + KH_PAYLOAD_OFF + 1;  /* starts just past it */
    EXPECT_VERDICT(&f, V_BOUNDS);
    f.h->first = first;
    fx_close(&f, env);
}

static void c_heap_sentinel(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    block *s = f.sentinel;
    size_t saved = s->size;
    set_word(&f, s, saved & ~KH_FLAG_SENTINEL);
    EXPECT_VERDICT(&f, V_SENTINEL);
    set_word(&f, s, saved + f.h->page_size);
    EXPECT_VERDICT(&f, V_SENTINEL);
    set_word(&f, s, saved);
#if KHEAP_HARDEN
    s->check ^= 1;
    EXPECT_VERDICT(&f, V_SENTINEL);
    s->check ^= 1;
#endif
    fx_close(&f, env);
}

static void c_heap_first_block(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    f.home->first = f.sentinel;
    EXPECT_VERDICT(&f, V_FIRST);
    f.home->first = (block *)(void *)f.home;
    EXPECT_VERDICT(&f, V_FIRST);
    f.home->first = f.b[A];
    fx_close(&f, env);
}

static void c_heap_sentinel_prev_free(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    size_t saved = f.sentinel->size;    /* the dv before it is free */
    set_word(&f, f.sentinel, saved & ~KH_FLAG_PREV_FREE);
    EXPECT_VERDICT(&f, V_SENTINEL_PREV);
    set_word(&f, f.sentinel, saved);
    fx_close(&f, env);
}

/* ------------------------------------------------------------ index */

static void c_index_summary(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    size_t saved = f.h->map_summary;
    f.h->map_summary ^= (size_t)1 << (f.list >> 5);     /* b and d's word */
    EXPECT_VERDICT(&f, V_SUMMARY);
    f.h->map_summary = saved | ((size_t)1 << (KH_MAP_WORDS - 1)) | 1u;
    if (saved != f.h->map_summary)                      /* an empty word marked */
        EXPECT_VERDICT(&f, V_SUMMARY);
    f.h->map_summary = saved;
    fx_close(&f, env);
}

/* An empty list in the same bitmap word as b and d's. */
static unsigned empty_neighbour(const fx *f)
{
    return (f->list & 31) != 31 && f->list + 1 < KH_LIST_COUNT ? f->list + 1 : f->list - 1;
}

static void c_index_list_bit(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    unsigned i = f.list, j = empty_neighbour(&f);
    KT_NULL(list_head(f.h, j));
    uint32_t saved = f.h->map[i >> 5];
    f.h->map[j >> 5] |= (uint32_t)1 << (j & 31);        /* an empty list marked */
    EXPECT_VERDICT(&f, V_LIST_BIT);
    f.h->map[i >> 5] = saved & ~((uint32_t)1 << (i & 31));
    if (f.h->map[i >> 5] != 0)                          /* a full list unmarked */
        EXPECT_VERDICT(&f, V_LIST_BIT);
    f.h->map[i >> 5] = saved;
    fx_close(&f, env);
}

static void c_index_cycle(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    link_set(f.h, &f.b[B]->next_free, f.b[D]);          /* d -> b -> d -> ... */
    EXPECT_VERDICT(&f, V_TOO_MANY);
    link_set(f.h, &f.b[B]->next_free, NULL);
    fx_close(&f, env);
}

static void c_index_block_in_use(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    link_set(f.h, &f.h->lists[f.list], f.b[C]);
    EXPECT_VERDICT(&f, V_LISTED_IN_USE);
    link_set(f.h, &f.h->lists[f.list], f.b[D]);
    fx_close(&f, env);
}

static void c_index_dv_listed(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    link_set(f.h, &f.h->lists[f.list], f.rest);
    EXPECT_VERDICT(&f, V_DV_LISTED);
    link_set(f.h, &f.h->lists[f.list], f.b[D]);
    fx_close(&f, env);
}

static void c_index_wrong_class(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    /* The list d -> b moved, links and bits consistent, one class over. */
    unsigned i = f.list, j = empty_neighbour(&f);
    uint32_t saved = f.h->map[i >> 5];
    f.h->lists[i] = NULL;
    link_set(f.h, &f.h->lists[j], f.b[D]);
    back_set(f.h, &f.b[D]->back_link, &f.h->lists[j]);
    f.h->map[i >> 5] = (saved & ~((uint32_t)1 << (i & 31))) | (uint32_t)1 << (j & 31);
    EXPECT_VERDICT(&f, V_WRONG_CLASS);
    f.h->lists[j] = NULL;
    link_set(f.h, &f.h->lists[i], f.b[D]);
    back_set(f.h, &f.b[D]->back_link, &f.h->lists[i]);
    f.h->map[i >> 5] = saved;
    fx_close(&f, env);
}

#if KHEAP_HARDEN
static void c_index_free_header_check_word(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    /* Every block of a heap has its check word tested by the heap walk
     * first, and a link outside the heaps is refused before it is read, so
     * only a listed block the walk never sees reaches this test: a forged
     * entry inside the payload of block a, in use. */
    block *fake = (block *)(void *)((char *)f.p[A] + KH_ALIGN - KH_PAYLOAD_OFF);
    block saved = *fake;
    fake->size = block_size(f.b[D]) | KH_FLAG_FREE;
    fake->check = hdr_check_of(f.h, fake, fake->size) ^ KH_ALIGN;
    link_set(f.h, &fake->next_free, NULL);
    back_set(f.h, &fake->back_link, &f.h->lists[f.list]);
    link_set(f.h, &f.h->lists[f.list], fake);
    EXPECT_VERDICT(&f, V_FREE_HDR_CHECK);
    *fake = saved;
    link_set(f.h, &f.h->lists[f.list], f.b[D]);
    fx_close(&f, env);
}
#endif

/* A list head pointing outside every page the instance holds (here at a
 * block on the stack): refused before a word of it is read. */
static void c_index_link_outside(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    block fake = {0};
    fake.size = block_size(f.b[D]) | KH_FLAG_FREE;
    link_set(f.h, &fake.next_free, NULL);
    back_set(f.h, &fake.back_link, &f.h->lists[f.list]);
    link_set(f.h, &f.h->lists[f.list], &fake);
    EXPECT_VERDICT(&f, V_LINK_OUTSIDE);
    link_set(f.h, &f.h->lists[f.list], f.b[D]);
    fx_close(&f, env);
}

/* A consistent forged entry, inside the payload of block a (in use),
 * standing in for free block b in its list: as many listed blocks as the
 * heaps have, each plausible, but not the heaps' own. */
static void c_index_stand_in(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    block *fake = (block *)(void *)((char *)f.p[A] + KH_ALIGN - KH_PAYLOAD_OFF);
    block saved = *fake;
    hdr_set(f.h, fake, block_size(f.b[B]) | KH_FLAG_FREE);
    link_set(f.h, &fake->next_free, NULL);
    back_set(f.h, &fake->back_link, &f.b[D]->next_free);
    link_set(f.h, &f.b[D]->next_free, fake);
    EXPECT_VERDICT(&f, V_NOT_HEAP_FREE);
    link_set(f.h, &f.b[D]->next_free, f.b[B]);
    *fake = saved;
    fx_close(&f, env);
}

static void c_index_back_link(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    block *b = f.b[B];      /* second in its list: its back link is d's next_free */
    back_set(f.h, &b->back_link, &f.h->lists[f.list]);
    EXPECT_VERDICT(&f, V_BACK_LINK);
    back_set(f.h, &b->back_link, &f.b[D]->next_free);
    block *d = f.b[D];      /* first: its back link is the list head */
    back_set(f.h, &d->back_link, &b->next_free);
    EXPECT_VERDICT(&f, V_BACK_LINK);
    back_set(f.h, &d->back_link, &f.h->lists[f.list]);
    fx_close(&f, env);
}

static void c_index_past_last_list(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    uint32_t saved = f.h->map[KH_MAP_WORDS - 1];
    size_t summary = f.h->map_summary;
    f.h->map[KH_MAP_WORDS - 1] |= (uint32_t)1 << (KH_LIST_COUNT & 31);
    f.h->map_summary |= (size_t)1 << (KH_MAP_WORDS - 1);   /* and its word marked */
    EXPECT_VERDICT(&f, V_PAST_LAST);
    f.h->map[KH_MAP_WORDS - 1] = saved;
    f.h->map_summary = summary;
    fx_close(&f, env);
}

static void c_index_missing(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    link_set(f.h, &f.b[D]->next_free, NULL);            /* b dropped */
    EXPECT_VERDICT(&f, V_MISSING);
    link_set(f.h, &f.b[D]->next_free, f.b[B]);
    f.h->dv = NULL;                                     /* the dv forgotten */
    EXPECT_VERDICT(&f, V_MISSING);
    f.h->dv = f.rest;
    fx_close(&f, env);
}

/* ------------------------------------------------------------ instance */

static void c_heap_list_back_link(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    f.home->prev = f.home;
    EXPECT_VERDICT(&f, V_HEAP_BACK);
    f.home->prev = NULL;
    /* A cycle comes back to a heap whose prev is not the last one seen. */
    f.home->next = f.home;
    EXPECT_VERDICT(&f, V_HEAP_BACK);
    f.home->next = NULL;
    fx_close(&f, env);
}

/* Only an undercounted stats.heaps gets here: a cycle in the heap list,
 * which the text guesses at, is caught by the back links first (above). */
static void c_heap_list_longer_than_count(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    size_t saved = f.h->stats.heaps;
    f.h->stats.heaps = saved - 1;
    EXPECT_VERDICT(&f, V_HEAP_COUNT);
    f.h->stats.heaps = saved;
    fx_close(&f, env);
}

static void c_home_missing(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    f.home->flags &= ~KH_HEAP_HOME;
    EXPECT_VERDICT(&f, V_NO_HOME);
    f.home->flags |= KH_HEAP_HOME;
    fx_close(&f, env);
}

static void c_dv_not_free(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    f.h->dv = f.b[C];
    EXPECT_VERDICT(&f, V_DV_NOT_FREE);
    f.h->dv = f.rest;
    fx_close(&f, env);
}

static void KT_PROFILED c_stats_in_use(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    f.h->use.in_use_bytes += KH_ALIGN;
    EXPECT_VERDICT(&f, V_IN_USE);
    f.h->use.in_use_bytes -= KH_ALIGN;
    fx_close(&f, env);
}

static void c_stats_block_bytes(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    f.h->block_bytes -= KH_ALIGN;
    EXPECT_VERDICT(&f, V_BLOCK_BYTES);
    f.h->block_bytes += KH_ALIGN;
    fx_close(&f, env);
}

static void c_stats_pages_heaps(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    f.h->stats.pages++;
    EXPECT_VERDICT(&f, V_PAGES);
    f.h->stats.pages--;
    f.h->stats.heaps++;
    EXPECT_VERDICT(&f, V_PAGES);
    f.h->stats.heaps--;
    fx_close(&f, env);
}

static void KT_PROFILED c_stats_allocs_frees(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    f.h->use.allocs++;
    EXPECT_VERDICT(&f, V_ALLOCS);
    f.h->use.allocs--;
    f.h->use.frees++;
    EXPECT_VERDICT(&f, V_ALLOCS);
    f.h->use.frees--;
    fx_close(&f, env);
}

static void c_null_instance(const ktest_env *env)
{
    (void)env;
    const char *why = NULL;
    KT_FALSE(kheap_check(NULL, &why));
    KT_STR_EQ(V_NULL, why);
    KT_FALSE(kheap_check(NULL, NULL));
}

static void c_stopped(const ktest_env *env)
{
    fx f;
    if (!fx_open(&f, env))
        return;
    /* The flag itself (only the full tier ever sets it: the basic tier
     * detects no corruption inside an operation). */
    f.h->broken = true;
    EXPECT_VERDICT(&f, V_STOPPED);
    f.h->broken = false;
#if KHEAP_HARDEN
    /* And through a detection: a write after free over d's link, found
     * when d is handed out again. */
    void **link = (void **)(void *)f.p[D];
    void *saved = *link;
    *link = f.p[A];
    KT_NULL(kheap_alloc(f.h, REQ));
    KT_EQ(1, f.t.panic.count);
    KT_PTR_EQ(f.p[D], f.t.panic.addr);
    EXPECT_VERDICT(&f, V_STOPPED);
    *link = saved;
    f.h->broken = false;
    f.panics = 1;
#endif
    fx_close(&f, env);
}

/* ------------------------------------------------------------ healthy */

static void c_healthy_after_workload(const ktest_env *env)
{
    kt_heap t;
    kt_opts o = {.bytes = 64 * 1024, .page_size = 128, .heap_pages = 8, .large_threshold = 512};
    if (!kt_open(&t, env, &o))
        return;
    kheap *h = t.h;
    /* A large block kept throughout: a heap of its own beside the home,
     * whose free space (a 1 KiB heap's worth) it does not fit. */
    void *big = kheap_alloc(h, 2048);
    KT_NONNULL(big);
    KT_EQ(2, kt_stats(h).heaps);
    enum { SLOTS = 24 };
    char *p[SLOTS] = {0};
    uint32_t rng = 0x5eed;
    size_t max = t.room / 16;
    for (unsigned op = 0; op < 600 && !ktest_case_failed(); op++) {
        unsigned i = ktest_rand(&rng) % SLOTS;
        size_t n = kt_log_size(&rng, max);
        switch (ktest_rand(&rng) % 6) {
        case 0:
        case 1:
            if (p[i] == NULL)
                p[i] = kheap_alloc(h, n);
            break;
        case 2:
            if (p[i] == NULL)
                p[i] = kheap_calloc(h, 1, n);
            break;
        case 3:
            if (p[i] == NULL)
                p[i] = kheap_aligned_alloc(h, (size_t)KHEAP_ALIGN << (ktest_rand(&rng) % 4), n);
            break;
        case 4: {
            char *q = kheap_realloc(h, p[i], n);
            if (q != NULL)
                p[i] = q;
            break;
        }
        default:
            kheap_free(h, p[i]);
            p[i] = NULL;
            break;
        }
        const char *why = "not written";
        bool ok = kheap_check(h, &why);
        if (!ok || why != NULL) {
            KT_TRUE(ok);
            KT_STR_EQ(NULL, why);
        }
    }
    kheap_stats s = kt_stats(h);
    KT_TRUE(KHEAP_STATS ? s.allocs > 100 : s.allocs == 0);
    KT_TRUE(KHEAP_STATS ? s.frees > 50 : s.frees == 0);
    KT_TRUE(s.heaps >= 2);
    for (unsigned i = 0; i < SLOTS; i++)
        kheap_free(h, p[i]);
    kheap_free(h, big);
    const char *why = "not written";
    KT_TRUE(kheap_check(h, &why));
    KT_STR_EQ(NULL, why);
    KT_EQ(0, t.panic.count);
    kt_close(&t, env);
}

static const ktest_case cases[] = {
    {"check: size below the minimum or off KHEAP_ALIGN", c_block_size},
    {"check: a block running past the sentinel", c_block_past_sentinel},
    {"check: a PREV_FREE flag that disagrees", c_block_prev_free_flag},
    {"check: a misaligned payload", c_block_misaligned},
#if KHEAP_HARDEN
    {"check(full): a header's check word", c_block_header_check_word},
#endif
    {"check: two free blocks side by side", c_block_two_free_side_by_side},
    {"check: a free block's footer", c_block_footer},
    {"check: a zeroed last footer is a footer mismatch", c_block_last_footer_zero},
#if KHEAP_HARDEN
    {"check(full): a trailing canary", c_block_canary},
#endif
    {"check: heap magic", c_heap_magic},
    {"check: heap owner", c_heap_owner},
    {"check: heap page count zero", c_heap_pages_zero},
    {"check: a heap not page aligned", c_heap_not_page_aligned},
    {"check: a heap outside the instance's bounds", c_heap_outside_bounds},
    {"check: the heap sentinel", c_heap_sentinel},
    {"check: a heap's first block outside it", c_heap_first_block},
    {"check: the sentinel's PREV_FREE flag", c_heap_sentinel_prev_free},
    {"check: the summary bitmap", c_index_summary},
    {"check: a list bitmap bit", c_index_list_bit},
    {"check: a free-list cycle", c_index_cycle},
    {"check: a block in use in a free list", c_index_block_in_use},
    {"check: the designated victim in a free list", c_index_dv_listed},
    {"check: a free block in the wrong size class", c_index_wrong_class},
#if KHEAP_HARDEN
    {"check(full): a listed free block's check word", c_index_free_header_check_word},
#endif
    {"check: a free-list link outside the instance's heaps", c_index_link_outside},
    {"check: a consistent forged entry standing in for a free block", c_index_stand_in},
    {"check: a free-list back link", c_index_back_link},
    {"check: a bitmap bit past the last list", c_index_past_last_list},
    {"check: a free block missing from the lists", c_index_missing},
    {"check: the heap list's back links", c_heap_list_back_link},
    {"check: a heap count below the heap list", c_heap_list_longer_than_count},
    {"check: the home heap missing", c_home_missing},
    {"check: a designated victim that is not free", c_dv_not_free},
#if KHEAP_STATS
    {"check: stats of bytes in use", c_stats_in_use},
#endif
    {"check: the instance's block bytes", c_stats_block_bytes},
    {"check: stats of pages and heaps", c_stats_pages_heaps},
#if KHEAP_STATS
    {"check: allocs - frees", c_stats_allocs_frees},
#endif
    {"check: a NULL instance", c_null_instance},
    {"check: a stopped instance", c_stopped},
    {"check: a healthy instance after a varied workload passes", c_healthy_after_workload},
};

const ktest_group tests_check = {cases, sizeof cases / sizeof cases[0]};
