/*
 * kheap region shim: see region.h for the contract.
 *
 * Layout of [start, end), both rounded inwards to whole pages:
 *
 *     start                                                              end
 *     | header | owners | bitmap |    | break ->       free       <- runs  |
 *     '------- meta pages -----------' ^ the break's start
 *
 * The header always takes exactly the first 64 bytes (the smallest page
 * size).  Then, for every 32 pages of the region (the last group rounded
 * up), 32 owner bytes and one 32-bit bitmap word: the owner bytes of all
 * pages first, so owns() finds page i's at a fixed offset, 64 + i, then the
 * bitmap.  The number of meta pages,
 * ceil((64 + 36 * ceil(pages / 32)) / page_size), is thus the same on 32-
 * and 64-bit targets and tests can state it exactly.
 *
 * Both arrays cover the whole region, meta pages included (their entries
 * stay 0), so a page's index is simply its index from start.  A set bit
 * means a map()/grow() caller holds the page; its owner byte says which
 * client, 1..63, and is 0 exactly when the bit is clear.  The bits past the
 * last page, in the last word, are set too (their owner bytes stay 0), so
 * that a scan needs no mask to see that nothing is free beyond the end.
 * The break is not in either array: it owns every page from the break's
 * start up to the page holding its last byte.  Invariant: no mapped page
 * lies below that "break floor"; sbrk refuses to cross a mapped page and
 * map()/grow() never go below it, which is all it takes for the two to meet
 * cleanly.
 *
 * A provider's ctx is the region's address plus its client id: the region
 * is aligned to its page size, at least 64, so the low six bits are free and
 * both come back with a mask.  The header's two `clients` words have bit
 * id set while that client is live (32-bit words: no 64-bit shift, which
 * Cortex-M0 would take from libgcc).
 *
 * The bitmap is what map() searches: it looks at each word from the top
 * down once, with a bit scan and a few shifts (see find_top_run); marking
 * or testing a run touches each of its words once.  The owner bytes are
 * what owns() reads (a mask, a subtraction, a shift, a bound and one byte)
 * and what unmap()/grow() check before they change anything; map, unmap
 * and grow write or compare them four to a word store.  No count of mapped
 * pages is kept: usage_get, O(pages) anyway, counts the bits, and the calls
 * the allocator makes stay shorter.
 *
 * Concurrency (region.h states the contract): everything but owns() runs
 * between the region's lock hooks.  owns() reads an owner byte with no lock,
 * so every store to an owner byte is an atomic (relaxed) store, and a store
 * never covers a byte outside the run being changed: the bytes of pages a
 * client holds change only through that client's own calls.
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

/* "krg2": catches a stray pointer passed as a region or provider ctx (and
 * a region laid out by the one-bit-per-page shim before owner bytes). */
#define REGION_MAGIC 0x6b726732u
#define REGION_HEADER_BYTES 64u
#define REGION_MIN_PAGE 64u
#define WORD_SHIFT 5u
#define WORD_BITS (1u << WORD_SHIFT)
#define WORD_MASK (WORD_BITS - 1)
#define ALL_MAPPED UINT32_MAX
#define ALL_FREE 0u
/* Meta bytes per 32 pages: 32 owner bytes and a bitmap word. */
#define GROUP_BYTES (WORD_BITS + 4u)
/* A ctx's low bits: the client id. */
#define CLIENT_MASK ((uintptr_t)REGION_MIN_PAGE - 1)
#define NO_CLIENT 0u

/* Four owner bytes at once; may alias the byte array. */
typedef uint32_t __attribute__((may_alias)) owner_word;

struct kheap_region {
    union {
        struct {
            uint32_t magic;
            uint8_t shift;        /* log2(page_size) */
            size_t pages;         /* pages in [start, end), meta included */
            uintptr_t brk;        /* current break, the break's start <= brk <= the end */
            size_t floor;         /* first page the break does not touch */
            uint32_t clients[2];  /* bit i set: client i is live (bit 0 never) */
            uintptr_t (*lock)(void *ctx);
            void (*unlock)(void *ctx, uintptr_t saved);
            void *lock_ctx;
        };
        unsigned char header_bytes[REGION_HEADER_BYTES];
    };
    /* Owner bytes, ceil(pages / 32) * 32 of them, then the bitmap. */
    uint8_t owner[];
};

_Static_assert(offsetof(struct kheap_region, owner) == REGION_HEADER_BYTES,
               "the owner bytes must start at byte 64 so meta page counts are target independent");
_Static_assert(REGION_HEADER_BYTES <= REGION_MIN_PAGE,
               "the header must fit the smallest page");
_Static_assert(KHEAP_REGION_CLIENTS == CLIENT_MASK,
               "client ids are what a ctx's low bits can carry");
_Static_assert(KHEAP_REGION_CLIENTS < 64, "the clients words have a bit per id");

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

static kheap_region *region_of(const void *ctx)
{
    return (kheap_region *)((uintptr_t)ctx & ~CLIENT_MASK);
}

static unsigned client_of(const void *ctx)
{
    return (unsigned)((uintptr_t)ctx & CLIENT_MASK);
}

/* Under the lock: id names a live client of r. */
static bool client_live(const kheap_region *r, unsigned id)
{
    return id != NO_CLIENT && ((r->clients[id >> 5] >> (id & 31u)) & 1u) != 0;
}

static uintptr_t region_lock(const kheap_region *r)
{
    return r->lock != NULL ? r->lock(r->lock_ctx) : 0;
}

static void region_unlock(const kheap_region *r, uintptr_t saved)
{
    if (r->lock != NULL)
        r->unlock(r->lock_ctx, saved);
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

/* Bitmap words (and groups of 32 owner bytes) for a region of `pages`. */
static size_t words_for(size_t pages)
{
    return pages_covering(pages, WORD_SHIFT);
}

/* Meta pages for a region of `pages` pages of 1 << shift bytes: not kept in
 * the header, which has no room for it on 64-bit targets. */
static size_t meta_for(size_t pages, unsigned shift)
{
    return pages_covering(REGION_HEADER_BYTES + (uintptr_t)words_for(pages) * GROUP_BYTES, shift);
}

static size_t meta_of(const kheap_region *r)
{
    return meta_for(r->pages, r->shift);
}

static uint32_t *bits_of(kheap_region *r)
{
    return (uint32_t *)(void *)(r->owner + words_for(r->pages) * WORD_BITS);
}

static const uint32_t *cbits_of(const kheap_region *r)
{
    return (const uint32_t *)(const void *)(r->owner + words_for(r->pages) * WORD_BITS);
}

/* The break floor for a break at `brk`: the index of the first page it
 * does not touch, the lowest that map() or grow() may hand out. */
static size_t floor_of(const kheap_region *r, uintptr_t brk)
{
    size_t meta = meta_of(r);
    return meta + pages_covering(brk - page_addr(r, meta), r->shift);
}

/* ---------------------------------------------------------------- owners */

/* The owner bytes of [first, first + n): a byte at a time up to a word
 * boundary, then whole words, then the last bytes; never a store to a byte
 * outside the run (owns() may be reading it for another client). */
static void owner_set(kheap_region *r, size_t first, size_t n, unsigned id)
{
    uint8_t *b = r->owner + first, *end = b + n;
    uint32_t word = (uint32_t)id * 0x01010101u;
    for (; b != end && ((uintptr_t)b & 3u) != 0; b++)
        __atomic_store_n(b, (uint8_t)id, __ATOMIC_RELAXED);
    for (; end - b >= 4; b += 4)
        __atomic_store_n((owner_word *)(void *)b, word, __ATOMIC_RELAXED);
    for (; b != end; b++)
        __atomic_store_n(b, (uint8_t)id, __ATOMIC_RELAXED);
}

/* True iff every page of [first, first + n) is client id's.  Reads under
 * the lock, where no owner byte changes. */
static bool owner_all(const kheap_region *r, size_t first, size_t n, unsigned id)
{
    const uint8_t *b = r->owner + first, *end = b + n;
    uint32_t word = (uint32_t)id * 0x01010101u;
    for (; b != end && ((uintptr_t)b & 3u) != 0; b++)
        if (*b != id)
            return false;
    for (; end - b >= 4; b += 4)
        if (*(const owner_word *)(const void *)b != word)
            return false;
    for (; b != end; b++)
        if (*b != id)
            return false;
    return true;
}

/* Flips [first, first + n) to the other state iff every page of it is in
 * the state `want` (ALL_MAPPED or ALL_FREE) now; else puts back the words
 * it had flipped and returns false, so the call is all or nothing in one
 * pass.  The caller has checked the range lies inside the region. */
static bool run_flip(uint32_t *bits, size_t first, size_t n, uint32_t want)
{
    for (size_t i = first, left = n; left != 0;) {
        unsigned bit = (unsigned)i & WORD_MASK;
        size_t k = WORD_BITS - bit < left ? WORD_BITS - bit : left;
        uint32_t mask = (UINT32_MAX >> (WORD_BITS - k)) << bit;
        uint32_t *w = &bits[i >> WORD_SHIFT];
        if (((*w ^ want) & mask) != 0) {
            run_flip(bits, first, i - first, ~want);
            return false;
        }
        *w ^= mask;
        i += k;
        left -= k;
    }
    return true;
}

static bool page_mapped(const uint32_t *bits, size_t index)
{
    return (bits[index >> WORD_SHIFT] >> (index & WORD_MASK)) & 1u;
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
static size_t find_top_run(const kheap_region *r, const uint32_t *bits, size_t n)
{
    size_t base = (r->pages - 1) & ~(size_t)WORD_MASK, above = 0;
    for (;; base -= WORD_BITS) {
        uint32_t m = bits[base >> WORD_SHIFT];
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
    kheap_region *r = region_of(ctx);
    unsigned id = client_of(ctx);
    if (!region_ok(r) || pages == 0)
        return NULL;
    void *run = NULL;
    uintptr_t saved = region_lock(r);
    uint32_t *bits = bits_of(r);
    size_t first;
    if (client_live(r, id) && (first = find_top_run(r, bits, pages)) >= r->floor) {
        run_flip(bits, first, pages, ALL_FREE);
        owner_set(r, first, pages, id);
        run = (void *)page_addr(r, first);
    }
    region_unlock(r, saved);
    return run;
}

/* unmap and grow are one call: the `pages` pages from the boundary `at`
 * change state iff they lie inside the region and all are in the state
 * `want` now.  grow (want ALL_FREE) also needs the page before `at` held
 * by the same client: the run it extends, so the new pages lie above the
 * break floor too.  unmap (want ALL_MAPPED) needs every page held by the
 * calling client, which implies its bit is set; meta and break pages have
 * owner byte 0 and fail like free ones.  All or nothing matters: freeing
 * the part of a bad range that is held could hand someone else's pages out
 * twice. */
static bool flip_at(void *ctx, const void *at, size_t pages, uint32_t want)
{
    kheap_region *r = region_of(ctx);
    unsigned id = client_of(ctx);
    if (!region_ok(r))
        return false;
    /* An address below the region wraps to an offset past its end; pages
     * == 0 wraps in pages - 1. */
    uintptr_t off = (uintptr_t)at - (uintptr_t)r;
    size_t first = (size_t)(off >> r->shift);
    if (((uintptr_t)first << r->shift) != off || first - 1 >= r->pages ||
        pages - 1 >= r->pages - first)
        return false;
    bool done = false;
    uintptr_t saved = region_lock(r);
    if (client_live(r, id)) {
        if (want == ALL_MAPPED) {
            done = owner_all(r, first, pages, id);
            if (done) {
                run_flip(bits_of(r), first, pages, ALL_MAPPED);
                owner_set(r, first, pages, NO_CLIENT);
            }
        } else if (r->owner[first - 1] == id) {
            done = run_flip(bits_of(r), first, pages, ALL_FREE);
            if (done)
                owner_set(r, first, pages, id);
        }
    }
    region_unlock(r, saved);
    return done;
}

static void region_unmap(void *ctx, void *addr, size_t pages)
{
    flip_at(ctx, addr, pages, ALL_MAPPED);
}

static bool region_grow(void *ctx, void *end, size_t pages)
{
    return flip_at(ctx, end, pages, ALL_FREE);
}

/* No lock, no magic check (ctx comes from kheap_region_provider): one
 * owner byte, read atomically, against the client id.  An address outside
 * the region wraps to an index past the end. */
static bool region_owns(void *ctx, const void *addr)
{
    const kheap_region *r = region_of(ctx);
    size_t index = (size_t)(((uintptr_t)addr - (uintptr_t)r) >> r->shift);
    return index < r->pages &&
           __atomic_load_n(&r->owner[index], __ATOMIC_RELAXED) == client_of(ctx);
}

kheap_provider kheap_region_provider(kheap_region *r)
{
    kheap_provider p = { 0 };
    if (!region_ok(r))
        return p;
    uintptr_t saved = region_lock(r);
    /* The lowest free id: bit 0 stands for NO_CLIENT and is never free. */
    uint32_t free_lo = ~(r->clients[0] | 1u), free_hi = ~r->clients[1];
    unsigned id = free_lo != 0 ? ffs32(free_lo)
                : free_hi != 0 ? 32u + ffs32(free_hi)
                : KHEAP_REGION_CLIENTS + 1;
    if (id <= KHEAP_REGION_CLIENTS) {
        r->clients[id >> 5] |= 1u << (id & 31u);
        p.ctx = (void *)((uintptr_t)r + id);
        p.page_size = (size_t)1 << r->shift;
        p.map = region_map;
        p.unmap = region_unmap;
        p.grow = region_grow;
        p.unmap_spans_runs = true;  /* the bitmap takes back any held pages */
        p.owns = region_owns;
    }
    region_unlock(r, saved);
    return p;
}

bool kheap_region_provider_release(const kheap_provider *p)
{
    if (p == NULL || p->map != region_map)
        return false;
    kheap_region *r = region_of(p->ctx);
    unsigned id = client_of(p->ctx);
    if (!region_ok(r))
        return false;
    uintptr_t saved = region_lock(r);
    bool done = client_live(r, id);
    for (size_t i = 0; done && i < r->pages; i++)
        done = r->owner[i] != id;
    if (done)
        r->clients[id >> 5] &= ~(1u << (id & 31u));
    region_unlock(r, saved);
    return done;
}

bool kheap_region_set_lock(kheap_region *r, uintptr_t (*lock)(void *ctx),
                           void (*unlock)(void *ctx, uintptr_t saved), void *ctx)
{
    if (!region_ok(r) || (lock == NULL) != (unlock == NULL))
        return false;
    r->lock = lock;
    r->unlock = unlock;
    r->lock_ctx = ctx;
    return true;
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
    size_t words = words_for(pages);
    size_t meta = meta_for(pages, shift);
    if (pages <= meta)
        return NULL;

    kheap_region *r = (kheap_region *)s;
    r->magic = REGION_MAGIC;
    r->shift = (uint8_t)shift;
    r->pages = pages;
    r->brk = page_addr(r, meta);
    r->floor = meta;
    r->clients[0] = r->clients[1] = 0;
    r->lock = NULL;
    r->unlock = NULL;
    r->lock_ctx = NULL;
    owner_word *owners = (owner_word *)(void *)r->owner;
    for (size_t w = 0; w < words * (WORD_BITS / 4); w++)
        owners[w] = 0;
    uint32_t *bits = bits_of(r);
    for (size_t w = 0; w < words; w++)
        bits[w] = ALL_FREE;
    if ((pages & WORD_MASK) != 0)
        bits[words - 1] = ALL_MAPPED << (pages & WORD_MASK);
    return r;
}

/* ---------------------------------------------------------------- sbrk */

void *kheap_region_sbrk(kheap_region *r, intptr_t incr)
{
    if (!region_ok(r))
        return (void *)-1;
    uintptr_t saved = region_lock(r);
    uintptr_t old = r->brk, start = page_addr(r, meta_of(r)), next = old;
    bool ok;
    if (incr >= 0) {
        ok = (uintptr_t)incr <= page_addr(r, r->pages) - old;
        if (ok)
            next = old + (uintptr_t)incr;
    } else {
        /* -(incr + 1) + 1 negates INTPTR_MIN without overflow. */
        uintptr_t down = (uintptr_t)(-(incr + 1)) + 1;
        ok = down <= old - start;
        if (ok)
            next = old - down;
    }
    /* Rising, the break may only take free pages; falling, this is empty. */
    const uint32_t *bits = bits_of(r);
    size_t floor = floor_of(r, next);
    for (size_t i = r->floor; ok && i < floor; i++)
        ok = !page_mapped(bits, i);
    if (ok) {
        r->brk = next;
        r->floor = floor;
    }
    region_unlock(r, saved);
    return ok ? (void *)old : (void *)-1;
}

/* ---------------------------------------------------------------- usage */

static size_t popcount32(uint32_t v)
{
    size_t n = 0;
    for (; v != 0; v &= v - 1)
        n++;
    return n;
}

void kheap_region_usage_get(const kheap_region *r, kheap_region_usage *usage)
{
    if (usage == NULL)
        return;
    if (!region_ok(r)) {
        usage->page_size = usage->pages_total = usage->pages_meta = 0;
        usage->pages_mapped = usage->pages_brk = usage->pages_free = 0;
        usage->largest_free_run = usage->clients = 0;
        return;
    }
    uintptr_t saved = region_lock(r);
    const uint32_t *bits = cbits_of(r);
    size_t meta = meta_of(r), floor = r->floor, mapped = 0, run = 0, best = 0;
    for (size_t i = floor; i < r->pages; i++) {
        bool held = page_mapped(bits, i);
        mapped += held;
        run = held ? 0 : run + 1;
        if (run > best)
            best = run;
    }
    usage->page_size = (size_t)1 << r->shift;
    usage->pages_total = r->pages;
    usage->pages_meta = meta;
    usage->pages_mapped = mapped;
    usage->pages_brk = floor - meta;
    usage->pages_free = r->pages - floor - mapped;
    usage->largest_free_run = best;
    usage->clients = popcount32(r->clients[0]) + popcount32(r->clients[1]);
    region_unlock(r, saved);
}

char kheap_region_page_kind(const kheap_region *r, size_t index)
{
    if (!region_ok(r) || index >= r->pages)
        return '?';
    uintptr_t saved = region_lock(r);
    char kind = index < meta_of(r) ? 'R'
              : index < r->floor ? 'B'
              : page_mapped(cbits_of(r), index) ? 'M' : 'F';
    region_unlock(r, saved);
    return kind;
}
