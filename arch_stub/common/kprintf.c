/* kprintf.c - kernsim's freestanding formatter, shared by both builds so the sim and
 * the serial console print byte-identical text. */
#include <arch/console.h>

struct out {
    char *buf;
    size_t size;
    size_t len; /* characters produced, even past size */
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void pad(struct out *o, char c, int n)
{
    while (n-- > 0)
        put(o, c);
}

static void put_num(struct out *o, uint64_t v, unsigned base, bool upper, bool neg, int width,
                    bool zero, bool left)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    int len = n + (neg ? 1 : 0);
    if (!left && !zero)
        pad(o, ' ', width - len);
    if (neg)
        put(o, '-');
    if (!left && zero)
        pad(o, '0', width - len);
    while (n)
        put(o, tmp[--n]);
    if (left)
        pad(o, ' ', width - len);
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = {buf, size, 0};
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(&o, *fmt);
            continue;
        }
        bool left = false, zero = false;
        int width = 0, prec = -1, lng = 0;
        for (;; fmt++) {
            if (fmt[1] == '-')
                left = true;
            else if (fmt[1] == '0')
                zero = true;
            else
                break;
        }
        while (fmt[1] >= '0' && fmt[1] <= '9')
            width = width * 10 + (*++fmt - '0');
        if (fmt[1] == '.') {
            fmt++;
            prec = 0;
            if (fmt[1] == '*') {
                fmt++;
                prec = va_arg(ap, int);
            }
            while (fmt[1] >= '0' && fmt[1] <= '9')
                prec = prec * 10 + (*++fmt - '0');
        }
        while (fmt[1] == 'l' || fmt[1] == 'z') {
            fmt++;
            lng = 2;
        }
        char c = *++fmt;
        if (c == '\0')
            break;
        uint64_t u;
        switch (c) {
        case 'c':
            pad(&o, ' ', left ? 0 : width - 1);
            put(&o, (char)va_arg(ap, int));
            pad(&o, ' ', left ? width - 1 : 0);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int n = 0;
            while (s[n] && (prec < 0 || n < prec))
                n++;
            pad(&o, ' ', left ? 0 : width - n);
            for (int i = 0; i < n; i++)
                put(&o, s[i]);
            pad(&o, ' ', left ? width - n : 0);
            break;
        }
        case 'd':
        case 'i': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            put_num(&o, u, 10, false, v < 0, width, zero, left);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
            u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            put_num(&o, u, c == 'u' ? 10 : 16, c == 'X', false, width, zero, left);
            break;
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_num(&o, (uintptr_t)va_arg(ap, void *), 16, false, false, 16, true, false);
            break;
        case '%':
            put(&o, '%');
            break;
        default: /* unknown conversion: print it as written, never guess an argument */
            put(&o, '%');
            put(&o, c);
            break;
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return (int)o.len;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int kprintf(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    arch_console_write(line, len);
    return n;
}

size_t kstrlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int kstrncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i] || !a[i])
            return (unsigned char)a[i] - (unsigned char)b[i];
    }
    return 0;
}

int kstrcmp(const char *a, const char *b)
{
    return kstrncmp(a, b, (size_t)-1);
}

const char *kstrstr(const char *hay, const char *needle)
{
    size_t n = kstrlen(needle);
    for (; *hay; hay++) {
        if (kstrncmp(hay, needle, n) == 0)
            return hay;
    }
    return n ? NULL : hay;
}
