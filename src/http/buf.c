/*
 * corio_http_buf: the growable byte string every part of the HTTP module
 * builds its output in. Capacity grows geometrically so a buffer reused for
 * many responses stops allocating once it has seen the largest one.
 */
#include <corio_http.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int corio_http_buf_reserve(corio_http_buf *b, size_t n)
{
    /* +1 keeps room for the terminating NUL the buffer always maintains. */
    if (n > SIZE_MAX / 2 - b->len - 1)
        return -ENOMEM;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int corio_http_buf_append(corio_http_buf *b, const void *p, size_t n)
{
    int rc = corio_http_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int corio_http_buf_puts(corio_http_buf *b, const char *s)
{
    return corio_http_buf_append(b, s, strlen(s));
}

int corio_http_buf_vprintf(corio_http_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    /* First try in the room we already have; most calls fit. */
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return -EINVAL;
    }
    if ((size_t)n >= room) {
        int rc = corio_http_buf_reserve(b, (size_t)n);
        if (rc < 0) {
            va_end(ap2);
            return rc;
        }
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

int corio_http_buf_printf(corio_http_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = corio_http_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void corio_http_buf_consume(corio_http_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void corio_http_buf_clear(corio_http_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void corio_http_buf_free(corio_http_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
