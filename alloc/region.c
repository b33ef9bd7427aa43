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

/* ---------------------------------------------------------------- bits */

/* Leading zeros of x, 32 for 0, which the word scan relies on. */
#ifdef __ARM_FEATURE_CLZ
static unsigned clz32(uint32_t x)
{
    /* GCC knows ARM's CLZ gives 32 for 0: this is one instruction. */
    return x != 0 ? (unsigned)__builtin_clz(x) : 32u;
}
#else
/* ARMv6-M has no CLZ and libgcc's __clzsi2 may not be linked: a binary
 * search, five steps whatever x is.  Hosts use it too, so the host suite
 * runs the code a Cortex-M0 runs. */
static unsigned clz32(uint32_t x)
{
    unsigned n = WORD_BITS;
    for (unsigned s = WORD_BITS / 2; s != 0; s >>= 1) {
        if ((x >> s) != 0) {
            x >>= s;
            n -= s;
        }
    }
    return n - x;
}
#endif

/* Index of the highest set bit; x != 0. */
static unsigned high_bit(uint32_t x)
{
    return WORD_MASK - clz32(x);
}

/* The bit i is set iff bits i .. i + n - 1 of `free` all are: where a run
 * of n free pages could start.  0 for n >= 32, which only a whole word
 * could hold.  Doubling the covered length each step keeps it to five
 * steps. */
static uint32_t run_starts(uint32_t free, size_t n)
{
    if (n >= WORD_BITS)
        return 0;
    for (size_t covered = 1; covered < n;) {
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

static kheap_region *region_valid(void *ctx)
{
    kheap_region *r = ctx;
    return region_ok(r) ? r : NULL;
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

/* The page index of `addr` from start if it is a page boundary (an address
 * below start wraps to one past any page), else SIZE_MAX. */
static size_t boundary_index(const kheap_region *r, const void *addr)
{
    uintptr_t off = (uintptr_t)addr - (uintptr_t)r;
    if ((off & (((uintptr_t)1 << r->shift) - 1)) != 0)
        return SIZE_MAX;
    return (size_t)(off >> r->shift);
}

/* True iff every page of [first, first + n) is in the state `want`
 * (ALL_MAPPED or ALL_FREE); with `flip`, it then goes to the other state
 * (the caller knows the check holds: a run that fails it part-way would be
 * left half flipped).  The caller has checked the range lies inside the
 * region. */
static bool run_check(kheap_region *r, size_t first, size_t n, uint32_t want, bool flip)
{
    while (n != 0) {
        unsigned bit = (unsigned)first & WORD_MASK;
        size_t k = WORD_BITS - bit < n ? WORD_BITS - bit : n;
        uint32_t mask = (UINT32_MAX >> (WORD_BITS - k)) << bit;
        uint32_t *w = &r->bits[first >> WORD_SHIFT];
        if (((*w ^ want) & mask) != 0)
            return false;
        if (flip)
            *w ^= mask;
        first += k;
        n -= k;
    }
    return true;
}

/* All or nothing: [first, first + n) goes from `want` to the other state
 * iff it is wholly in `want` now. */
static bool run_take(kheap_region *r, size_t first, size_t n, uint32_t want)
{
    return run_check(r, first, n, want, false) && run_check(r, first, n, want, true);
}

static bool page_mapped(const kheap_region *r, size_t index)
{
    return (r->bits[index >> WORD_SHIFT] >> (index & WORD_MASK)) & 1u;
}

/* The first page of the highest run of n free pages at or above the break
 * floor, or 0 (always a meta page) if there is none.
 *
 * One visit per word, from the top down.  `top` is one past the free pages
 * that reach down to the word's top from above; with the word's leading
 * free bits they may already be n long.  Else a run may lie inside the
 * word, below its highest mapped page (run_starts finds its top one), or
 * begin in its trailing free bits and carry on into the word below.  The
 * floor is only compared against the run found: any run below it would be
 * lower still. */
static size_t find_top_run(const kheap_region *r, size_t n)
{
    size_t floor = brk_floor(r);
    size_t base = (r->pages - 1) & ~(size_t)WORD_MASK;
    size_t top = base + WORD_BITS, first;
    for (;; base -= WORD_BITS) {
        uint32_t m = r->bits[base >> WORD_SHIFT];
        /* top >= base + 32, so this cannot wrap. */
        if (top + clz32(m) - WORD_BITS - base >= n) {
            first = top - n;
            break;
        }
        uint32_t starts = run_starts(~m, n);
        if (starts != 0) {
            first = base + high_bit(starts);
            break;
        }
        if (m != ALL_FREE)
            top = base + high_bit(m & (0u - m));
        if (base <= floor)
            return 0;
    }
    return first >= floor ? first : 0;
}

/* ---------------------------------------------------------------- provider */

static void *region_map(void *ctx, size_t pages)
{
    kheap_region *r = region_valid(ctx);
    size_t first;
    if (r == NULL || pages == 0 || (first = find_top_run(r, pages)) == 0)
        return NULL;
    run_check(r, first, pages, ALL_FREE, true);
    return (void *)page_addr(r, first);
}

/* All or nothing: a range that is not wholly mapped is a caller bug, and
 * freeing the part that is could hand someone else's pages out twice.  Meta
 * and break pages have clear bits, so they fail the check like free ones. */
static void region_unmap(void *ctx, void *addr, size_t pages)
{
    kheap_region *r = region_valid(ctx);
    if (r == NULL)
        return;
    size_t first = boundary_index(r, addr);
    if (first < r->pages && pages <= r->pages - first)
        run_take(r, first, pages, ALL_MAPPED);
}

/* `end` must close a page the caller holds; the pages after it must be
 * inside the region and free.  They are then above the break floor too,
 * since the held page is. */
static bool region_grow(void *ctx, void *end, size_t pages)
{
    kheap_region *r = region_valid(ctx);
    if (r == NULL || pages == 0)
        return false;
    size_t first = boundary_index(r, end);
    return first - 1 < r->pages && pages <= r->pages - first &&
           page_mapped(r, first - 1) && run_take(r, first, pages, ALL_FREE);
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
    for (size_t w = 0; w < words; w++)
        r->bits[w] = ALL_FREE;
    if ((pages & WORD_MASK) != 0)
        r->bits[words - 1] = ALL_MAPPED << (pages & WORD_MASK);
    return r;
}

/* ---------------------------------------------------------------- sbrk */

static bool brk_can_rise(kheap_region *r, uintptr_t up)
{
    uintptr_t end = page_addr(r, r->pages);
    if (up > end - r->brk)
        return false;
    size_t from = brk_floor(r);
    size_t to = r->meta + pages_covering(r->brk + up - r->brk_start, r->shift);
    return run_check(r, from, to - from, ALL_FREE, false);
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
    size_t floor = brk_floor(r), mapped = 0, run = 0, best = 0;
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
