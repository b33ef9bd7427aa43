/*
 * kheap region shim: see region.h for the contract.
 *
 * Layout of [start, end), both rounded inwards to whole pages:
 *
 *     start                                                            end
 *     | header | bitmap |     | break ->          free          <- runs  |
 *     '---- meta pages -----' ^ brk_start
 *
 * The header always takes exactly the first 64 bytes (the smallest page
 * size) and the bitmap follows it, so the number of meta pages,
 * ceil((64 + 4 * ceil(pages / 32)) / page_size), is the same on 32- and
 * 64-bit targets and tests can state it exactly.
 *
 * The bitmap has one bit per page of the whole region, meta pages included
 * (their bits stay 0), so a page's bit index is simply its index from start.
 * A set bit means a map()/grow() caller holds the page.  The bits past the
 * last page, in the last word, are set too, so that a scan needs no mask to
 * see that nothing is free beyond the end.  The break is not in the bitmap:
 * it owns every page from brk_start up to the page holding its last byte.
 * Invariant: no mapped page lies below that "break floor"; sbrk refuses to
 * cross a mapped page and map()/grow() never go below it, which is all it
 * takes for the two to meet cleanly.
 *
 * The provider calls work a 32-page word at a time: map() looks at each
 * word from the top down once, with a bit scan and a few shifts (see
 * find_top_run), and marking or testing a run touches each of its words
 * once.  No count of mapped pages is kept: usage_get, O(pages) anyway,
 * counts the bits, and the calls the allocator makes stay shorter.
 *
 * Everything is done in uintptr_t and shifts: no division (Cortex-M0 has no
 * divide instruction and we may not call libgcc's), and every bound is
 * checked before an addition could wrap.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bits.h"
#include "region.h"

/* "krg1": catches a stray pointer passed as a region or provider ctx. */
#define REGION_MAGIC 0x6b726731u
#define REGION_HEADER_BYTES 64u
#define REGION_MIN_PAGE 64u
#define WORD_SHIFT 5u
#define WORD_BITS (1u << WORD_SHIFT)
#define WORD_MASK (WORD_BITS - 1)
#define ALL_MAPPED UINT32_MAX
#define ALL_FREE 0u

struct kheap_region {
    union {
        struct {
            uint32_t magic;
            uint32_t shift;       /* log2(page_size) */
            size_t pages;         /* pages in [start, end), meta included */
            size_t meta;          /* pages holding header and bitmap */
            uintptr_t brk_start;  /* first byte above the meta pages */
            uintptr_t brk;        /* current break, brk_start <= brk <= the end */
            size_t floor;         /* first page the break does not touch */
        };
        unsigned char header_bytes[REGION_HEADER_BYTES];
    };
    uint32_t bits[];
};

_Static_assert(offsetof(struct kheap_region, bits) == REGION_HEADER_BYTES,
               "the bitmap must start at byte 64 so meta page counts are target independent");
_Static_assert(REGION_HEADER_BYTES <= REGION_MIN_PAGE,
               "the header must fit the smallest page");

/* ---------------------------------------------------------------- bits */

/* Bit i of the result is set iff bits i .. i + n - 1 of `free` all are:
 * where a run of n free pages could start.  `free` must have a clear bit,
 * so no run is 32 long and the loop ends (free gone to 0) before a shift
 * could reach 32.  Each step doubles the length covered: five at most. */
static uint32_t run_starts(uint32_t free, size_t n)
{
    for (size_t covered = 1; covered < n && free != 0;) {
        size_t step = n - covered < covered ? n - covered : covered;
        free &= free >> step;
        covered += step;
    }
    return free;
}

/* ---------------------------------------------------------------- helpers */

static bool region_ok(const kheap_region *r)
{
    return r != NULL && r->magic == REGION_MAGIC;
}

static uintptr_t page_addr(const kheap_region *r, size_t index)
{
    return (uintptr_t)r + ((uintptr_t)index << r->shift);
}

/* Pages needed to cover `bytes`, rounding up without an addition that could
 * wrap. */
static size_t pages_covering(uintptr_t bytes, unsigned shift)
{
    uintptr_t mask = ((uintptr_t)1 << shift) - 1;
    return (size_t)((bytes >> shift) + ((bytes & mask) != 0));
}

/* The break floor for a break at `brk`: the index of the first page it
 * does not touch, the lowest that map() or grow() may hand out. */
static size_t floor_of(const kheap_region *r, uintptr_t brk)
{
    return r->meta + pages_covering(brk - r->brk_start, r->shift);
}

/* Flips [first, first + n) to the other state iff every page of it is in
 * the state `want` (ALL_MAPPED or ALL_FREE) now; else puts back the words
 * it had flipped and returns false, so the call is all or nothing in one
 * pass.  The caller has checked the range lies inside the region. */
static bool run_flip(kheap_region *r, size_t first, size_t n, uint32_t want)
{
    for (size_t i = first, left = n; left != 0;) {
        unsigned bit = (unsigned)i & WORD_MASK;
        size_t k = WORD_BITS - bit < left ? WORD_BITS - bit : left;
        uint32_t mask = (UINT32_MAX >> (WORD_BITS - k)) << bit;
        uint32_t *w = &r->bits[i >> WORD_SHIFT];
        if (((*w ^ want) & mask) != 0) {
            run_flip(r, first, i - first, ~want);
            return false;
        }
        *w ^= mask;
        i += k;
        left -= k;
    }
    return true;
}

static bool page_mapped(const kheap_region *r, size_t index)
{
    return (r->bits[index >> WORD_SHIFT] >> (index & WORD_MASK)) & 1u;
}

/* The first page of the highest run of n free pages, or 0 if there is none;
 * the caller compares it against the break floor.  Meta and break pages
 * have clear bits and look free here: a run found reaching below the floor
 * means none lies above it.  Past the floor, those clear pages complete a
 * run within n / 32 + 1 words, unless word 0 comes first, so the loop can
 * do without a floor test of its own.
 *
 * One visit per word, from the top down.  `above` free pages reach down to
 * the word's top from the words above; with the word's leading free bits
 * they may already be n (when nothing reaches down, run_starts sees a run
 * at the word's top as well, and one bit scan fewer matters without CLZ).
 * Else a run may lie inside the word, below its highest mapped page, or
 * begin in its trailing free bits and go on into the word below. */
static size_t find_top_run(const kheap_region *r, size_t n)
{
    size_t base = (r->pages - 1) & ~(size_t)WORD_MASK, above = 0;
    for (;; base -= WORD_BITS) {
        uint32_t m = r->bits[base >> WORD_SHIFT];
        if (m == ALL_FREE) {
            above += WORD_BITS;
            if (above >= n)
                return base + above - n;
        } else {
            if (above != 0 && above + (WORD_MASK - fls32(m)) >= n)
                return base + WORD_BITS + above - n;
            uint32_t starts = run_starts(~m, n);
            if (starts != 0)
                return base + fls32(starts);
            above = ffs32(m);
        }
        if (base == 0)
            return 0;
    }
}

/* ---------------------------------------------------------------- provider */

static void *region_map(void *ctx, size_t pages)
{
    kheap_region *r = ctx;
    size_t first;
    if (!region_ok(r) || pages == 0 || (first = find_top_run(r, pages)) < r->floor)
        return NULL;
    run_flip(r, first, pages, ALL_FREE);
    return (void *)page_addr(r, first);
}

/* unmap and grow are one call: the `pages` pages from the boundary `at`
 * change state iff they lie inside the region and all are in the state
 * `want` now.  grow (want ALL_FREE) also needs the page before `at` held:
 * the run it extends, so the new pages lie above the break floor too.  For
 * unmap, meta and break pages have clear bits and fail like free ones, and
 * all or nothing matters: freeing the part of a bad range that is mapped
 * could hand someone else's pages out twice. */
static bool flip_at(void *ctx, const void *at, size_t pages, uint32_t want)
{
    kheap_region *r = ctx;
    if (!region_ok(r))
        return false;
    /* An address below the region wraps to an offset past its end; pages
     * == 0 wraps in pages - 1. */
    uintptr_t off = (uintptr_t)at - (uintptr_t)r;
    size_t first = (size_t)(off >> r->shift);
    if (((uintptr_t)first << r->shift) != off || first - 1 >= r->pages ||
        pages - 1 >= r->pages - first)
        return false;
    if (want == ALL_FREE && !page_mapped(r, first - 1))
        return false;
    return run_flip(r, first, pages, want);
}

static void region_unmap(void *ctx, void *addr, size_t pages)
{
    flip_at(ctx, addr, pages, ALL_MAPPED);
}

static bool region_grow(void *ctx, void *end, size_t pages)
{
    return flip_at(ctx, end, pages, ALL_FREE);
}

kheap_provider kheap_region_provider(kheap_region *r)
{
    kheap_provider p = {
        .ctx = r,
        .page_size = region_ok(r) ? (size_t)1 << r->shift : 0,
        .map = region_map,
        .unmap = region_unmap,
        .grow = region_grow,
        .unmap_spans_runs = true,  /* the bitmap takes back any held pages */
    };
    return p;
}

/* ---------------------------------------------------------------- set-up */

static bool is_page_size(size_t page_size)
{
    return page_size >= REGION_MIN_PAGE && (page_size & (page_size - 1)) == 0;
}

static unsigned log2_exact(size_t power_of_two)
{
    unsigned shift = 0;
    while (((size_t)1 << shift) != power_of_two)
        shift++;
    return shift;
}

kheap_region *kheap_region_init(void *start, void *end, size_t page_size)
{
    if (!is_page_size(page_size))
        return NULL;
    unsigned shift = log2_exact(page_size);
    uintptr_t mask = (uintptr_t)page_size - 1;
    uintptr_t s = (uintptr_t)start, e = (uintptr_t)end & ~mask;
    if (s > UINTPTR_MAX - mask)
        return NULL;
    s = (s + mask) & ~mask;
    /* A region at address 0 would be indistinguishable from failure. */
    if (s == 0 || e <= s)
        return NULL;
    size_t pages = (size_t)((e - s) >> shift);
    size_t words = pages_covering(pages, WORD_SHIFT);
    size_t meta = pages_covering(REGION_HEADER_BYTES + (uintptr_t)words * sizeof(uint32_t), shift);
    if (pages <= meta)
        return NULL;

    kheap_region *r = (kheap_region *)s;
    r->magic = REGION_MAGIC;
    r->shift = shift;
    r->pages = pages;
    r->meta = meta;
    r->brk_start = page_addr(r, meta);
    r->brk = r->brk_start;
    r->floor = meta;
    for (size_t w = 0; w < words; w++)
        r->bits[w] = ALL_FREE;
    if ((pages & WORD_MASK) != 0)
        r->bits[words - 1] = ALL_MAPPED << (pages & WORD_MASK);
    return r;
}

/* ---------------------------------------------------------------- sbrk */

void *kheap_region_sbrk(kheap_region *r, intptr_t incr)
{
    if (!region_ok(r))
        return (void *)-1;
    uintptr_t old = r->brk, next;
    if (incr >= 0) {
        if ((uintptr_t)incr > page_addr(r, r->pages) - old)
            return (void *)-1;
        next = old + (uintptr_t)incr;
    } else {
        /* -(incr + 1) + 1 negates INTPTR_MIN without overflow. */
        uintptr_t down = (uintptr_t)(-(incr + 1)) + 1;
        if (down > old - r->brk_start)
            return (void *)-1;
        next = old - down;
    }
    /* Rising, the break may only take free pages; falling, this is empty. */
    size_t floor = floor_of(r, next);
    for (size_t i = r->floor; i < floor; i++)
        if (page_mapped(r, i))
            return (void *)-1;
    r->brk = next;
    r->floor = floor;
    return (void *)old;
}

/* ---------------------------------------------------------------- usage */

void kheap_region_usage_get(const kheap_region *r, kheap_region_usage *usage)
{
    if (usage == NULL)
        return;
    if (!region_ok(r)) {
        usage->page_size = usage->pages_total = usage->pages_meta = 0;
        usage->pages_mapped = usage->pages_brk = usage->pages_free = 0;
        usage->largest_free_run = 0;
        return;
    }
    size_t floor = r->floor, mapped = 0, run = 0, best = 0;
    for (size_t i = floor; i < r->pages; i++) {
        bool held = page_mapped(r, i);
        mapped += held;
        run = held ? 0 : run + 1;
        if (run > best)
            best = run;
    }
    usage->page_size = (size_t)1 << r->shift;
    usage->pages_total = r->pages;
    usage->pages_meta = r->meta;
    usage->pages_mapped = mapped;
    usage->pages_brk = floor - r->meta;
    usage->pages_free = r->pages - floor - mapped;
    usage->largest_free_run = best;
}

char kheap_region_page_kind(const kheap_region *r, size_t index)
{
    if (!region_ok(r) || index >= r->pages)
        return '?';
    if (index < r->meta)
        return 'R';
    if (index < r->floor)
        return 'B';
    return page_mapped(r, index) ? 'M' : 'F';
}
