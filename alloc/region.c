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
 * A set bit means a map()/grow() caller holds the page.  The break is not in
 * the bitmap: it owns every page from brk_start up to the page holding its
 * last byte.  Invariant: no mapped page lies below that "break floor";
 * sbrk refuses to cross a mapped page and map()/grow() never go below it,
 * which is all it takes for the two to meet cleanly.
 *
 * Everything is done in uintptr_t and shifts: no division (Cortex-M0 has no
 * divide instruction and we may not call libgcc's), and every bound is
 * checked before an addition could wrap.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "region.h"

/* "krg1": catches a stray pointer passed as a region or provider ctx. */
#define REGION_MAGIC 0x6b726731u
#define REGION_HEADER_BYTES 64u
#define REGION_MIN_PAGE 64u
#define WORD_BITS 32u

struct kheap_region {
    union {
        struct {
            uint32_t magic;
            uint32_t shift;       /* log2(page_size) */
            uintptr_t end;        /* rounded end of the region */
            size_t pages;         /* pages in [start, end), meta included */
            size_t meta;          /* pages holding header and bitmap */
            size_t mapped;        /* bits set in the bitmap */
            uintptr_t brk_start;  /* first byte above the meta pages */
            uintptr_t brk;        /* current break, brk_start <= brk <= end */
        };
        unsigned char header_bytes[REGION_HEADER_BYTES];
    };
    uint32_t bits[];
};

_Static_assert(offsetof(struct kheap_region, bits) == REGION_HEADER_BYTES,
               "the bitmap must start at byte 64 so meta page counts are target independent");
_Static_assert(REGION_HEADER_BYTES <= REGION_MIN_PAGE,
               "the header must fit the smallest page");

/* ---------------------------------------------------------------- helpers */

static bool region_ok(const kheap_region *r)
{
    return r != NULL && r->magic == REGION_MAGIC;
}

static kheap_region *region_valid(void *ctx)
{
    kheap_region *r = ctx;
    return region_ok(r) ? r : NULL;
}

static uintptr_t page_mask(const kheap_region *r)
{
    return ((uintptr_t)1 << r->shift) - 1;
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

/* Index of the first page the break does not touch: the lowest page map()
 * or grow() may hand out. */
static size_t brk_floor(const kheap_region *r)
{
    return r->meta + pages_covering(r->brk - r->brk_start, r->shift);
}

static bool page_mapped(const kheap_region *r, size_t index)
{
    return (r->bits[index / WORD_BITS] >> (index % WORD_BITS)) & 1u;
}

static void mark_run(kheap_region *r, size_t first, size_t n, bool mapped)
{
    for (size_t i = first; i < first + n; i++) {
        uint32_t bit = (uint32_t)1 << (i % WORD_BITS);
        if (mapped)
            r->bits[i / WORD_BITS] |= bit;
        else
            r->bits[i / WORD_BITS] &= ~bit;
    }
    if (mapped)
        r->mapped += n;
    else
        r->mapped -= n;
}

/* True iff every page of [first, first + n) has the bit state `mapped`;
 * the caller has checked the range lies inside the region. */
static bool run_is(const kheap_region *r, size_t first, size_t n, bool mapped)
{
    for (size_t i = first; i < first + n; i++)
        if (page_mapped(r, i) != mapped)
            return false;
    return true;
}

/* The page index of `addr` if it is page aligned and names a page map()
 * could ever hand out (above the meta pages, below end); else false. */
static bool page_index_of(const kheap_region *r, uintptr_t addr, size_t *index)
{
    if ((addr & page_mask(r)) != 0 || addr < r->brk_start || addr >= r->end)
        return false;
    *index = (size_t)((addr - (uintptr_t)r) >> r->shift);
    return true;
}

/* Scans down from the top for the first (so highest) run of n free pages
 * at or above `floor`.  Whole words that are all taken, or all free and
 * still short of n, are stepped over in one go, so a mostly full or mostly
 * empty region costs a word per 32 pages. */
static bool find_top_run(const kheap_region *r, size_t floor, size_t n, size_t *first)
{
    size_t run = 0;
    if (n > r->pages - floor)
        return false;
    for (size_t i = r->pages; i > floor;) {
        i--;
        if (i % WORD_BITS == WORD_BITS - 1 && i - (WORD_BITS - 1) >= floor) {
            uint32_t w = r->bits[i / WORD_BITS];
            if (w == UINT32_MAX || (w == 0 && run + WORD_BITS < n)) {
                run = w == 0 ? run + WORD_BITS : 0;
                i -= WORD_BITS - 1;
                continue;
            }
        }
        if (page_mapped(r, i)) {
            run = 0;
        } else if (++run == n) {
            *first = i;
            return true;
        }
    }
    return false;
}

static size_t largest_free_run(const kheap_region *r)
{
    size_t best = 0, run = 0;
    for (size_t i = brk_floor(r); i < r->pages; i++) {
        run = page_mapped(r, i) ? 0 : run + 1;
        if (run > best)
            best = run;
    }
    return best;
}

/* ---------------------------------------------------------------- provider */

static void *region_map(void *ctx, size_t pages)
{
    kheap_region *r = region_valid(ctx);
    size_t first;
    if (r == NULL || pages == 0 || !find_top_run(r, brk_floor(r), pages, &first))
        return NULL;
    mark_run(r, first, pages, true);
    return (void *)page_addr(r, first);
}

/* All or nothing: a range that is not wholly mapped is a caller bug, and
 * freeing the part that is could hand someone else's pages out twice. */
static void region_unmap(void *ctx, void *addr, size_t pages)
{
    kheap_region *r = region_valid(ctx);
    size_t first;
    if (r == NULL || pages == 0 || !page_index_of(r, (uintptr_t)addr, &first) ||
        pages > r->pages - first || !run_is(r, first, pages, true))
        return;
    mark_run(r, first, pages, false);
}

/* `end` must close a page the caller holds; the pages after it must be
 * inside the region and free.  They are then above the break floor too,
 * since the held page is. */
static bool region_grow(void *ctx, void *end, size_t pages)
{
    kheap_region *r = region_valid(ctx);
    uintptr_t e = (uintptr_t)end;
    if (r == NULL || pages == 0 || (e & page_mask(r)) != 0 ||
        e <= r->brk_start || e > r->end)
        return false;
    size_t first = (size_t)((e - (uintptr_t)r) >> r->shift);
    if (!page_mapped(r, first - 1) || pages > r->pages - first ||
        !run_is(r, first, pages, false))
        return false;
    mark_run(r, first, pages, true);
    return true;
}

kheap_provider kheap_region_provider(kheap_region *region)
{
    kheap_region *r = region_valid(region);
    kheap_provider p = {
        .ctx = region,
        .page_size = r != NULL ? (size_t)1 << r->shift : 0,
        .map = region_map,
        .unmap = region_unmap,
        .grow = region_grow,
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
    size_t words = pages / WORD_BITS + (pages % WORD_BITS != 0);
    size_t meta = pages_covering(REGION_HEADER_BYTES + (uintptr_t)words * sizeof(uint32_t), shift);
    if (pages <= meta)
        return NULL;

    kheap_region *r = (kheap_region *)s;
    r->magic = REGION_MAGIC;
    r->shift = shift;
    r->end = e;
    r->pages = pages;
    r->meta = meta;
    r->mapped = 0;
    r->brk_start = page_addr(r, meta);
    r->brk = r->brk_start;
    for (size_t w = 0; w < words; w++)
        r->bits[w] = 0;
    return r;
}

/* ---------------------------------------------------------------- sbrk */

static bool brk_can_rise(const kheap_region *r, uintptr_t up)
{
    if (up > r->end - r->brk)
        return false;
    size_t from = brk_floor(r);
    size_t to = r->meta + pages_covering(r->brk + up - r->brk_start, r->shift);
    return run_is(r, from, to - from, false);
}

void *kheap_region_sbrk(kheap_region *region, intptr_t incr)
{
    kheap_region *r = region_valid(region);
    if (r == NULL)
        return (void *)-1;
    uintptr_t old = r->brk;
    if (incr >= 0) {
        if (!brk_can_rise(r, (uintptr_t)incr))
            return (void *)-1;
        r->brk = old + (uintptr_t)incr;
    } else {
        /* -(incr + 1) + 1 negates INTPTR_MIN without overflow. */
        uintptr_t down = (uintptr_t)(-(incr + 1)) + 1;
        if (down > old - r->brk_start)
            return (void *)-1;
        r->brk = old - down;
    }
    return (void *)old;
}

/* ---------------------------------------------------------------- usage */

void kheap_region_usage_get(const kheap_region *region, kheap_region_usage *usage)
{
    const kheap_region *r = region;
    if (usage == NULL)
        return;
    if (!region_ok(r)) {
        usage->page_size = usage->pages_total = usage->pages_meta = 0;
        usage->pages_mapped = usage->pages_brk = usage->pages_free = 0;
        usage->largest_free_run = 0;
        return;
    }
    size_t brk_pages = brk_floor(r) - r->meta;
    usage->page_size = (size_t)1 << r->shift;
    usage->pages_total = r->pages;
    usage->pages_meta = r->meta;
    usage->pages_mapped = r->mapped;
    usage->pages_brk = brk_pages;
    usage->pages_free = r->pages - r->meta - r->mapped - brk_pages;
    usage->largest_free_run = largest_free_run(r);
}

char kheap_region_page_kind(const kheap_region *region, size_t index)
{
    const kheap_region *r = region;
    if (!region_ok(r) || index >= r->pages)
        return '?';
    if (index < r->meta)
        return 'R';
    if (index < brk_floor(r))
        return 'B';
    return page_mapped(r, index) ? 'M' : 'F';
}
