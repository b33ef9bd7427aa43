/* The kernel console: text to the board's UART, with its own formatting
 * because there is no libc. */
#ifndef KERNEL_CONSOLE_H
#define KERNEL_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>

/* Writes len bytes; "\n" goes out as "\r\n" for terminals in raw mode. */
void console_write(const char *text, size_t len);
void kputs(const char *s);
/* printf subset: %s %c %d %u %x %p %zu (also %lu %lx %ld %zx %%), with
 * optional '-' and '0' flags and a width: "%08x", "%-10s". */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);

#endif
