/*
 * Fuzzes the stream's delimited reads: readuntil/readline, read,
 * readexactly and fill/peek/consume, over a real socketpair, with the
 * writer cutting the input into random chunks.
 *
 * Input layout: [seplen-1 (2 bits) | ...][nops][chunk seed][sep bytes]
 * [op bytes][payload]. Bytes of the separator and the payload are mapped
 * onto a 4-letter alphabet ("a\r\nx") so separators occur often.
 *
 * Invariants checked after every call, against the payload itself: every
 * byte comes out exactly once and in order (nothing lost, nothing
 * duplicated); readuntil returns through the FIRST separator, fails with
 * CORIO_ETOOLONG exactly when no separator ends within the limit (and then
 * consumes nothing), and with CORIO_EEOF exactly when the stream ends
 * without one (handing over the rest); readexactly returns CORIO_EEOF with
 * the true partial count; peek shows the next unread bytes.
 */
#include <corio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char ALPHA[4] = {'a', '\r', '\n', 'x'};

typedef struct fz {
    const uint8_t *ops;
    size_t nops;
    uint32_t seed;
    char sep[4];
    size_t seplen;
    char *payload;
    size_t len;
    corio_stream *r, *w;
} fz;

#define CHECK(c)                                                         \
    do {                                                                 \
        if (!(c)) {                                                      \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                     \
        }                                                                \
    } while (0)

static void *writer(void *arg)
{
    fz *f = arg;
    uint32_t x = f->seed * 2654435761u + 1;
    size_t off = 0;
    while (off < f->len) {
        size_t n;
        x = x * 1103515245u + 12345u;
        n = 1 + (x >> 16) % 23;
        if (n > f->len - off)
            n = f->len - off;
        CHECK(corio_stream_write(f->w, f->payload + off, n) == 0);
        off += n;
        if ((x >> 8) & 1)
            corio_yield(); /* let the reader see a partial chunk */
    }
    CHECK(corio_stream_close(f->w) == 0);
    return NULL;
}

/* First index of sep in p[0..n), or -1. */
static long first_sep(const char *p, size_t n, const char *sep, size_t seplen)
{
    const char *h = seplen <= n ? memmem(p, n, sep, seplen) : NULL;
    return h ? (long)(h - p) : -1;
}

static void *reader(void *arg)
{
    fz *f = arg;
    size_t pos = 0, k = 0;
    char buf[128];
    int eof = 0, stuck = 0;
    while (!eof) {
        uint8_t op = f->nops ? f->ops[k++ % f->nops] : 0;
        size_t arg8 = 1 + (size_t)(op >> 2) % 48;
        const char *rest = f->payload + pos;
        size_t left = f->len - pos;
        size_t got = 0;
        int rc;
        ssize_t n;
        if (stuck)
            op = (uint8_t)((op & ~3u) | 1u); /* after an overrun: read on */
        stuck = 0;
        switch (op & 3) {
        case 0: { /* readuntil with cap arg8 */
            long i = first_sep(rest, left, f->sep, f->seplen);
            rc = corio_stream_readuntil(f->r, buf, arg8, f->sep, f->seplen, &got);
            if (i >= 0 && (size_t)i + f->seplen <= arg8) {
                CHECK(rc == 0);
                CHECK(got == (size_t)i + f->seplen);
            } else if (left >= arg8) {
                CHECK(rc == CORIO_ETOOLONG);
                CHECK(got == 0);
                stuck = 1;
            } else {
                CHECK(rc == CORIO_EEOF);
                CHECK(got == left);
                eof = 1;
            }
            break;
        }
        case 1: /* read up to arg8 */
            n = corio_stream_read(f->r, buf, arg8);
            CHECK(n >= 0);
            if (n == 0) {
                CHECK(left == 0);
                eof = 1;
            }
            got = (size_t)n;
            break;
        case 2: /* readexactly arg8 */
            rc = corio_stream_readexactly(f->r, buf, arg8, &got);
            if (left >= arg8) {
                CHECK(rc == 0 && got == arg8);
            } else {
                CHECK(rc == CORIO_EEOF && got == left);
                eof = 1;
            }
            break;
        default: { /* fill, peek, consume part of it */
            size_t blen;
            const char *p;
            n = corio_stream_fill(f->r);
            CHECK(n >= 0);
            p = corio_stream_peek(f->r, &blen);
            CHECK(blen <= left);
            if (blen)
                CHECK(memcmp(p, rest, blen) == 0);
            if (n == 0 && blen == 0) {
                CHECK(left == 0);
                eof = 1;
            }
            got = blen < arg8 ? blen : arg8;
            memcpy(buf, p ? p : "", got);
            corio_stream_consume(f->r, got);
            break;
        }
        }
        CHECK(got <= left);
        CHECK(memcmp(buf, rest, got) == 0); /* in order, none lost/duplicated */
        pos += got;
    }
    CHECK(pos == f->len);
    return NULL;
}

static void *fuzz_main(void *arg)
{
    fz *f = arg;
    int sv[2];
    corio_task *w, *r;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(corio_stream_open_fd(&f->r, sv[0], 0) == 0);
    CHECK(corio_stream_open_fd(&f->w, sv[1], 0) == 0);
    w = corio_spawn(writer, f);
    r = corio_spawn(reader, f);
    CHECK(corio_await(w, NULL) == 0);
    CHECK(corio_await(r, NULL) == 0);
    corio_stream_close(f->r);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f;
    size_t i, hdr;
    if (size < 3)
        return 0;
    memset(&f, 0, sizeof f);
    f.seplen = 1 + (data[0] & 3);
    f.nops = data[1];
    f.seed = data[2];
    hdr = 3 + f.seplen;
    if (size < hdr)
        return 0;
    for (i = 0; i < f.seplen; i++)
        f.sep[i] = ALPHA[data[3 + i] & 3];
    if (f.nops > size - hdr)
        f.nops = size - hdr;
    f.ops = data + hdr;
    f.len = size - hdr - f.nops;
    f.payload = malloc(f.len + 1);
    for (i = 0; i < f.len; i++)
        f.payload[i] = ALPHA[data[hdr + f.nops + i] & 3];
    CHECK(corio_run(fuzz_main, &f, NULL) == 0);
    free(f.payload);
    return 0;
}
