/* Empty call targets for the bench's overhead measurement (bench.h).  In a
 * file of their own so the compiler cannot see that they do nothing. */
#include "bench.h"

void *bench_nothing1(size_t n) { (void)n; return NULL; }
void bench_nothing_free(void *p) { (void)p; }
void *bench_nothing2(void *a, size_t n) { (void)a; (void)n; return NULL; }
void *bench_nothing_al(size_t a, size_t n) { (void)a; (void)n; return NULL; }
void *bench_nothing_h1(void *h, size_t n) { (void)h; (void)n; return NULL; }
void bench_nothing_hfree(void *h, void *p) { (void)h; (void)p; }
void *bench_nothing_h2(void *h, void *a, size_t n) { (void)h; (void)a; (void)n; return NULL; }
void *bench_nothing_hal(void *h, size_t a, size_t n) { (void)h; (void)a; (void)n; return NULL; }
