/* Misuse that kheap must catch under the preload.  Prints the address it is
 * about to misuse on stdout first, so the script can compare it with the
 * line kheap writes before it aborts.
 *   misuse double-free   frees a block twice
 *   misuse foreign       frees a pointer kheap never handed out
 * Exits 0 only if kheap failed to stop it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "double-free";
    static char not_ours[64] __attribute__((aligned(16)));
    void *volatile keep_before = malloc(64);
    void *volatile p = malloc(64);
    void *volatile keep_after = malloc(64);
    (void)keep_before;
    (void)keep_after;
    if (strcmp(what, "foreign") == 0)
        p = not_ours + 16;
    printf("%p\n", p);
    fflush(stdout);
    if (strcmp(what, "double-free") == 0)
        free(p);
    free(p);
    return 0;
}
