/* See console.h.  Numbers are formatted in unsigned long: 32 bits on the
 * 32-bit boards, so no 64-bit division helpers are pulled in; 64 bits on
 * AArch64, which divides in hardware. */
#include "console.h"

#include <stdbool.h>

#include "board.h"

void console_write(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n')
            uart_putc('\r');
        uart_putc(text[i]);
    }
}

void kputs(const char *s)
{
    while (*s != '\0')
        console_write(s++, 1);
}

typedef struct spec {
    bool left;      /* '-': pad on the right */
    bool zero_pad;  /* '0': pad numbers with zeros after the sign */
    unsigned width;
} spec;

static void pad(size_t len, unsigned width, char c)
{
    for (size_t i = len; i < width; i++)
        console_write(&c, 1);
}

/* Writes prefix (a sign, or nothing) and body padded to the spec's width. */
static void emit(const spec *sp, const char *prefix, size_t plen, const char *body, size_t blen)
{
    size_t len = plen + blen;
    if (sp->left) {
        console_write(prefix, plen);
        console_write(body, blen);
        pad(len, sp->width, ' ');
    } else if (sp->zero_pad) {
        console_write(prefix, plen);
        pad(len, sp->width, '0');
        console_write(body, blen);
    } else {
        pad(len, sp->width, ' ');
        console_write(prefix, plen);
        console_write(body, blen);
    }
}

static void put_unsigned(const spec *sp, unsigned long v, unsigned base, bool negative)
{
    char buf[3 * sizeof v];
    size_t i = sizeof buf;
    do {
        unsigned d = (unsigned)(v % base);
        buf[--i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v != 0);
    emit(sp, "-", negative ? 1 : 0, buf + i, sizeof buf - i);
}

static void put_string(const spec *sp, const char *s)
{
    size_t n = 0;
    if (s == NULL)
        s = "(null)";
    while (s[n] != '\0')
        n++;
    spec text = *sp;
    text.zero_pad = false;
    emit(&text, "", 0, s, n);
}

static const char *parse_spec(const char *f, spec *sp)
{
    sp->left = false;
    sp->zero_pad = false;
    sp->width = 0;
    for (;; f++) {
        if (*f == '-')
            sp->left = true;
        else if (*f == '0')
            sp->zero_pad = true;
        else
            break;
    }
    while (*f >= '0' && *f <= '9')
        sp->width = sp->width * 10 + (unsigned)(*f++ - '0');
    return f;
}

/* One conversion at `f` (after '%' and the spec); returns what follows it. */
static const char *convert(const char *f, const spec *sp, va_list *ap)
{
    bool wide = false; /* 'l' or 'z': both are unsigned long wide here */
    if (*f == 'l' || *f == 'z') {
        wide = true;
        f++;
    }
    switch (*f) {
    case 'd': {
        long v = wide ? va_arg(*ap, long) : va_arg(*ap, int);
        put_unsigned(sp, v < 0 ? 0ul - (unsigned long)v : (unsigned long)v, 10, v < 0);
        break;
    }
    case 'u':
        put_unsigned(sp, wide ? va_arg(*ap, unsigned long) : va_arg(*ap, unsigned), 10, false);
        break;
    case 'x':
        put_unsigned(sp, wide ? va_arg(*ap, unsigned long) : va_arg(*ap, unsigned), 16, false);
        break;
    case 'p': {
        spec ptr = { .left = false, .zero_pad = true, .width = 2 * sizeof(void *) };
        console_write("0x", 2);
        put_unsigned(&ptr, (unsigned long)(uintptr_t)va_arg(*ap, void *), 16, false);
        break;
    }
    case 'c': {
        char c = (char)va_arg(*ap, int);
        console_write(&c, 1);
        break;
    }
    case 's':
        put_string(sp, va_arg(*ap, const char *));
        break;
    case '%':
        console_write("%", 1);
        break;
    default: /* unknown: print it as it stands so the mistake shows */
        console_write("%?", 2);
        if (*f == '\0')
            return f;
        console_write(f, 1);
        break;
    }
    return f + 1;
}

void kvprintf(const char *fmt, va_list ap)
{
    va_list args;
    va_copy(args, ap);
    while (*fmt != '\0') {
        const char *lit = fmt;
        while (*fmt != '\0' && *fmt != '%')
            fmt++;
        console_write(lit, (size_t)(fmt - lit));
        if (*fmt == '\0')
            break;
        spec sp;
        fmt = parse_spec(fmt + 1, &sp);
        fmt = convert(fmt, &sp, &args);
    }
    va_end(args);
}

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
}
