/* See stack.h. */
#include "stack.h"

#include <stdint.h>

#include "board.h"

#define STACK_PAINT 0x5a5aa5a5u
/* Left unpainted below the current SP: the painting code's own frame. */
#define STACK_PAINT_MARGIN 64u

static uint32_t *stack_pointer(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

void stack_paint(void)
{
    uint32_t *limit = stack_pointer() - STACK_PAINT_MARGIN / sizeof(uint32_t);
    for (volatile uint32_t *p = (uint32_t *)(void *)__stack_bottom; p < limit; p++)
        *p = STACK_PAINT;
}

size_t stack_used(void)
{
    const uint32_t *p = (const uint32_t *)(const void *)__stack_bottom;
    while (p < (const uint32_t *)(const void *)__stack_top && *p == STACK_PAINT)
        p++;
    return (size_t)(__stack_top - (const char *)p);
}
