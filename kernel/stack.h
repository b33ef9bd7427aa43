/*
 * How deep a run went: the unused stack is painted at start, and what is
 * left of the paint at the end bounds the deepest point (boards with 16 KiB
 * of RAM care).  Used by every kernel image that runs tests.
 */
#ifndef KERNEL_STACK_H
#define KERNEL_STACK_H

#include <stddef.h>

/* Paints the stack below the caller's frame; call first thing. */
void stack_paint(void);
/* Bytes of the stack that were written since stack_paint. */
size_t stack_used(void);

#endif
