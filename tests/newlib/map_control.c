/* The map check's control (mk/newlib.mk): an ordinary newlib program that
 * gets newlib's own malloc, so tests/newlib/map_check.sh must reject its
 * map. */
#include <stdlib.h>
#include <string.h>

int main(void)
{
    char *p = strdup("control");
    int bad = p == NULL;
    free(p);
    return bad;
}
