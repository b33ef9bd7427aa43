/* The host drop-in malloc: the C library's allocation functions on one
 * global kheap instance over mmap (see kheap_dropin.h and the README's
 * "Host drop-in").
 *
 * This file runs inside malloc, so nothing in it may allocate: no stdio, no
 * dlsym, no lazily initialised libc state.  The instance is created on the
 * first call (double-checked under a mutex, published with release order);
 * the lock hooks take a plain pthread mutex, which is enough because kheap
 * never takes its lock re-entrantly; pthread_atfork keeps fork() safe.
 * Errors follow glibc: ENOMEM when memory runs out, EINVAL for a bad
 * alignment, realloc(p, 0) frees and returns NULL. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <unistd.h>

#include "kheap_dropin.h"
#include "mmap_provider.h"

/* The library is built with -fvisibility=hidden: only these are exported. */
#define EXPORT __attribute__((visibility("default")))

static pthread_mutex_t heap_mutex = PTHREAD_MUTEX_INITIALIZER;  /* the lock hooks */
static pthread_mutex_t init_mutex = PTHREAD_MUTEX_INITIALIZER;  /* creating the instance */
static kheap *global_heap;  /* read with acquire, written once with release */
static mmap_provider_state provider_state;
static size_t os_page;      /* valloc/pvalloc alignment; set before global_heap */
static int stats_fd = -1;   /* KHEAP_STATS=1: where the exit line goes */
static int leaks_fd = -1;   /* KHEAP_LEAKS=1: where the leak report goes */

/* The call site each exported function records (KHEAP_TRACE=1, as in
 * libkheap-trace.so): its return address, i.e. the program's call; the
 * static helpers below pass it on to kheap's _at calls.  In the untraced
 * library the _at calls drop it and this costs nothing. */
#define CALLER __builtin_return_address(0)

/* ------------------------------------------------------------ hooks */

static uintptr_t glue_lock(void *ctx)
{
    pthread_mutex_lock(ctx);
    return 0;
}

static void glue_unlock(void *ctx, uintptr_t saved)
{
    (void)saved;
    pthread_mutex_unlock(ctx);
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Appends s to buf[*len] within cap; returns the new length. */
static size_t append(char *buf, size_t len, size_t cap, const char *s)
{
    while (*s != '\0' && len < cap)
        buf[len++] = *s++;
    return len;
}

static size_t append_hex(char *buf, size_t len, size_t cap, uintptr_t v)
{
    char digits[2 * sizeof v];
    size_t n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    len = append(buf, len, cap, "0x");
    while (n > 0 && len < cap)
        buf[len++] = digits[--n];
    return len;
}

static size_t append_dec(char *buf, size_t len, size_t cap, size_t v)
{
    char digits[3 * sizeof v];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0 && len < cap)
        buf[len++] = digits[--n];
    return len;
}

/* Misuse kheap detected (double free, foreign pointer, overwritten header):
 * one line on stderr naming it and the address, then abort.  kheap calls it
 * with its lock released. */
static void glue_panic(void *ctx, kheap_misuse what, const void *addr)
{
    (void)ctx;
    char line[256];
    size_t len = append(line, 0, sizeof line - 1, "kheap: ");
    len = append(line, len, sizeof line - 1, kheap_misuse_text(what));
    len = append(line, len, sizeof line - 1, " at ");
    len = append_hex(line, len, sizeof line - 1, (uintptr_t)addr);
    line[len++] = '\n';
    write_all(STDERR_FILENO, line, len);
    abort();
}

/* ------------------------------------------------------------ the instance */

static void fork_prepare(void)
{
    pthread_mutex_lock(&heap_mutex);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&heap_mutex);
}

/* The child has one thread, the one that forked and holds the lock. */
static void fork_child(void)
{
    pthread_mutex_unlock(&heap_mutex);
}

/* The full tier's key, from the kernel's entropy: getrandom, or where it
 * cannot answer (no such call, no entropy yet) the 16 random bytes the
 * kernel gives every process at exec (AT_RANDOM).  The instance's address,
 * kheap's own fallback, is what an attacker learns first. */
static uintptr_t entropy_secret(void)
{
    uintptr_t secret = 0;
    if (getrandom(&secret, sizeof secret, GRND_NONBLOCK) != (ssize_t)sizeof secret) {
        const void *at_random = (const void *)getauxval(AT_RANDOM);
        if (at_random != NULL)
            memcpy(&secret, at_random, sizeof secret);
    }
    return secret;
}

static kheap *heap_create(void)
{
    pthread_mutex_lock(&init_mutex);
    kheap *h = __atomic_load_n(&global_heap, __ATOMIC_RELAXED);
    bool created = false;
    if (h == NULL) {
        long ps = sysconf(_SC_PAGESIZE);
        os_page = ps > 0 ? (size_t)ps : 4096;
        kheap_config config = {
            .provider = mmap_provider(&provider_state, KHEAP_DROPIN_PAGE_SIZE),
            .lock = glue_lock,
            .unlock = glue_unlock,
            .lock_ctx = &heap_mutex,
            .panic = glue_panic,
            .secret = entropy_secret(),
        };
        config.heap_pages = KHEAP_DROPIN_HEAP_BYTES / config.provider.page_size;
        if (config.heap_pages == 0)
            config.heap_pages = 1;
        config.large_threshold = KHEAP_DROPIN_LARGE_THRESHOLD;
        h = kheap_create(&config);
        if (h != NULL) {
            __atomic_store_n(&global_heap, h, __ATOMIC_RELEASE);
            created = true;
        }
    }
    pthread_mutex_unlock(&init_mutex);
    /* After publishing, outside init_mutex: should pthread_atfork allocate,
     * that malloc finds the instance and does not come back here. */
    if (created)
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    return h;
}

static inline kheap *heap_get(void)
{
    kheap *h = __atomic_load_n(&global_heap, __ATOMIC_ACQUIRE);
    return h != NULL ? h : heap_create();
}

kheap *kheap_dropin_instance(void)
{
    return heap_get();
}

static bool env_is_1(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] == '1' && v[1] == '\0';
}

static bool stats_wanted(void) { return env_is_1("KHEAP_STATS"); }
static bool leaks_wanted(void) { return env_is_1("KHEAP_LEAKS"); }

/* KHEAP_LEAKS=1: at exit, one line per call site that still holds blocks
 * it got after start-up,
 *     kheap: leak SYMBOL+0xOFF (OBJECT) blocks=N bytes=N site=0xADDR
 * with SYMBOL and OBJECT from dladdr (a program's own functions need
 * -rdynamic to have a name; "?" when there is none), then
 *     kheap: leaks sites=N blocks=N bytes=N
 * Only libkheap-trace.so records sites; libkheap.so says so instead. */
#if KHEAP_TRACE
static void leak_mark(kheap *h)
{
    kheap_mark(h);
}

typedef struct leak_totals {
    int fd;
    size_t sites, blocks, bytes;
} leak_totals;

static void leak_line(void *ctx, const kheap_leak *leak)
{
    leak_totals *t = ctx;
    char line[512];
    size_t cap = sizeof line - 1;
    size_t len = append(line, 0, cap, "kheap: leak ");
    Dl_info info;
    if (leak->other) {
        len = append(line, len, cap, "(sites beyond the report's table)");
    } else if (dladdr(leak->site, &info) != 0 && info.dli_sname != NULL) {
        len = append(line, len, cap, info.dli_sname);
        len = append(line, len, cap, "+");
        len = append_hex(line, len, cap, (uintptr_t)leak->site - (uintptr_t)info.dli_saddr);
        len = append(line, len, cap, " (");
        len = append(line, len, cap, info.dli_fname != NULL ? info.dli_fname : "?");
        len = append(line, len, cap, ")");
    } else {
        len = append(line, len, cap, "?");
    }
    len = append(line, len, cap, " blocks=");
    len = append_dec(line, len, cap, leak->blocks);
    len = append(line, len, cap, " bytes=");
    len = append_dec(line, len, cap, leak->bytes);
    len = append(line, len, cap, " site=");
    len = append_hex(line, len, cap, (uintptr_t)leak->site);
    line[len++] = '\n';
    write_all(t->fd, line, len);
    t->sites++;
    t->blocks += leak->blocks;
    t->bytes += leak->bytes;
}

static void leak_report(int fd)
{
    leak_totals t = {fd, 0, 0, 0};
    kheap *h = __atomic_load_n(&global_heap, __ATOMIC_ACQUIRE);
    if (h != NULL)
        kheap_leaks(h, leak_line, &t);
    char line[128];
    size_t cap = sizeof line - 1;
    size_t len = append(line, 0, cap, "kheap: leaks sites=");
    len = append_dec(line, len, cap, t.sites);
    len = append(line, len, cap, " blocks=");
    len = append_dec(line, len, cap, t.blocks);
    len = append(line, len, cap, " bytes=");
    len = append_dec(line, len, cap, t.bytes);
    line[len++] = '\n';
    write_all(fd, line, len);
}
#else
static void leak_mark(kheap *h)
{
    (void)h;
}

static void leak_report(int fd)
{
    static const char line[] = "kheap: KHEAP_LEAKS=1 needs the traced library, libkheap-trace.so\n";
    write_all(fd, line, sizeof line - 1);
}
#endif

/* Creates the instance while the process is most likely single-threaded, so
 * the fork handlers are in place before any thread can fork.  With
 * KHEAP_STATS=1 it keeps a copy of stderr for the exit line: programs built
 * on gnulib (sort, ls, ...) close stderr before they exit. */
__attribute__((constructor)) static void glue_init(void)
{
    kheap *h = heap_get();
    if (stats_wanted())
        stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 10);
    if (leaks_wanted()) {
        leaks_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 10);
        /* What the C library set up before this library is not the
         * program's to free. */
        leak_mark(h);
    }
}

__attribute__((destructor)) static void glue_leaks(void)
{
    if (leaks_wanted())
        leak_report(leaks_fd >= 0 ? leaks_fd : STDERR_FILENO);
}

/* KHEAP_STATS=1: one line on stderr at exit, so a test can tell that kheap
 * served the program. */
__attribute__((destructor)) static void glue_report(void)
{
    if (!stats_wanted())
        return;
    int fd = stats_fd >= 0 ? stats_fd : STDERR_FILENO;
    kheap *h = __atomic_load_n(&global_heap, __ATOMIC_ACQUIRE);
    kheap_stats s = {0};
    if (h != NULL)
        kheap_stats_get(h, &s);
    pthread_mutex_lock(&heap_mutex);  /* the provider counts change under it */
    mmap_provider_state p = provider_state;
    pthread_mutex_unlock(&heap_mutex);
    const struct {
        const char *name;
        size_t value;
    } fields[] = {
        {"allocs=", s.allocs},
        {" frees=", s.frees},
        {" pages=", s.pages},
        {" peak_pages=", s.peak_pages},
        {" peak_in_use=", s.peak_in_use_bytes},
        {" heaps=", s.heaps},
        {" failed=", s.failed},
        /* the provider's calls: runs mapped, grown in place, unmapped */
        {" maps=", p.maps},
        {" grows=", p.grows},
        {" unmaps=", p.unmaps},
    };
    char line[256];
    size_t cap = sizeof line - 1;
    size_t len = append(line, 0, cap, "kheap: ");
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        len = append(line, len, cap, fields[i].name);
        len = append_dec(line, len, cap, fields[i].value);
    }
    len = append(line, len, cap, " pid=");
    len = append_dec(line, len, cap, (size_t)getpid());
    line[len++] = '\n';
    write_all(fd, line, len);
}

/* ------------------------------------------------------------ malloc family */

static inline void *or_enomem(void *p)
{
    if (p == NULL)
        errno = ENOMEM;
    return p;
}

static inline bool power_of_two(size_t a)
{
    return a != 0 && (a & (a - 1)) == 0;
}

/* An alignment that is already a power of two; NULL + ENOMEM on failure. */
static void *aligned(size_t align, size_t size, const void *site)
{
    kheap *h = heap_get();
    if (h == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    return or_enomem(align <= KHEAP_ALIGN ? kheap_alloc_at(h, size, site)
                                          : kheap_aligned_alloc_at(h, align, size, site));
}

/* The exported functions below call these, never each other: a call to an
 * exported (interposable) name would go through the PLT, and glibc declares
 * them leaf functions, which a function that may call back into this file
 * is not. */
static void *glue_malloc(size_t size, const void *site)
{
    kheap *h = heap_get();
    return or_enomem(h != NULL ? kheap_alloc_at(h, size, site) : NULL);
}

static void glue_free(void *ptr)
{
    if (ptr == NULL)
        return;
    /* No instance yet means ptr cannot be ours: kheap_free on a fresh one
     * reports it as foreign. */
    kheap *h = heap_get();
    if (h != NULL)
        kheap_free(h, ptr);
}

/* glibc: realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns
 * NULL; on failure the old block stays and errno is ENOMEM. */
static void *glue_realloc(void *ptr, size_t size, const void *site)
{
    if (ptr == NULL)
        return glue_malloc(size, site);
    if (size == 0) {
        glue_free(ptr);
        return NULL;
    }
    kheap *h = heap_get();
    return or_enomem(h != NULL ? kheap_realloc_at(h, ptr, size, site) : NULL);
}

EXPORT void *malloc(size_t size)
{
    return glue_malloc(size, CALLER);
}

EXPORT void free(void *ptr)
{
    glue_free(ptr);
}

EXPORT void *calloc(size_t n, size_t size)
{
    kheap *h = heap_get();
    return or_enomem(h != NULL ? kheap_calloc_at(h, n, size, CALLER) : NULL);
}

EXPORT void *realloc(void *ptr, size_t size)
{
    return glue_realloc(ptr, size, CALLER);
}

EXPORT void *reallocarray(void *ptr, size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return glue_realloc(ptr, bytes, CALLER);
}

/* C11/C17 and glibc 2.38: the alignment must be a power of two, else NULL
 * and EINVAL. */
EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (!power_of_two(align)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned(align, size, CALLER);
}

/* glibc's memalign: an alignment that is not a power of two is rounded up to
 * the next one; only one too large to round (above SIZE_MAX / 2 + 1) is
 * EINVAL. */
EXPORT void *memalign(size_t align, size_t size)
{
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = KHEAP_ALIGN;
    while (a < align)
        a <<= 1;
    return aligned(a, size, CALLER);
}

/* POSIX: EINVAL unless align is a power-of-two multiple of sizeof(void *),
 * ENOMEM when memory runs out; *memptr is written only on success and errno
 * is left alone. */
EXPORT int posix_memalign(void **memptr, size_t align, size_t size)
{
    if (!power_of_two(align) || align % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = aligned(align, size, CALLER);
    errno = saved;
    if (p == NULL)
        return ENOMEM;
    *memptr = p;
    return 0;
}

static size_t page_alignment(void)
{
    (void)heap_get();  /* sets os_page */
    return os_page != 0 ? os_page : 4096;
}

EXPORT void *valloc(size_t size)
{
    return aligned(page_alignment(), size, CALLER);
}

/* valloc with the size rounded up to whole pages (0 stays 0, as in glibc). */
EXPORT void *pvalloc(size_t size)
{
    size_t page = page_alignment();
    if (size > SIZE_MAX - (page - 1)) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned(page, (size + page - 1) & ~(page - 1), CALLER);
}

EXPORT size_t malloc_usable_size(void *ptr)
{
    if (ptr == NULL)
        return 0;
    kheap *h = heap_get();
    return h != NULL ? kheap_usable_size(h, ptr) : 0;
}
