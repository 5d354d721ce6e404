/*
 * The request parser: llhttp does the parsing; this file turns its
 * callbacks into whole requests, enforces the limits and maps its errors to
 * HTTP statuses.
 *
 * Storage. llhttp reports pieces of the request ("spans") as pointers into
 * the bytes being fed, and a piece may be split across feeds, so everything
 * is copied into one buffer, p->store: the target, then each header name and
 * value (each NUL-terminated), then the body. Positions are recorded as
 * offsets while the buffer may still move (realloc) and turned into pointers
 * only when the request is handed out; the buffer is then left alone until
 * the next feed. Its size is bounded by max_head + max_body plus one NUL per
 * field.
 *
 * Head limit. The head (request line and headers) must fit in max_head
 * bytes. While the head is incomplete, each llhttp_execute() call is given
 * at most the remaining allowance; if the allowance runs out before llhttp
 * reports the end of the headers, the head is too large. This counts exactly
 * the bytes llhttp consumed for the head, whitespace and empty lines before
 * the request line included, without trusting any span arithmetic.
 *
 * One request at a time. on_message_complete returns HPE_PAUSED, so
 * llhttp_execute() stops right after a request and reports where; the
 * caller handles that request and feeds the remaining bytes again. That is
 * what makes pipelining work and keeps the reported request stable.
 */
#include <corio_http.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#define DEF_MAX_HEAD (8u * 1024)
#define DEF_MAX_HEADERS 100u
#define DEF_MAX_BODY (1u << 20)
/* Chunk extensions (";name=value" after a chunk size) carry nothing this
 * server uses; the bytes of all of one request's extensions are capped so
 * that a client cannot stream them for the whole body timeout. */
#define MAX_CHUNK_EXT 4096u

/* Where the parser is in the current request. */
enum {
    PH_HEAD = 0,  /* reading a request head (possibly not started yet) */
    PH_BODY,      /* head done; reading the body (or trailers) */
    PH_READY,     /* a complete request was reported; the next feed starts
                     the next one */
    PH_DEAD       /* an error was reported; nothing more is parsed */
};

/* Which header span arrived last, to tell a new header from the
 * continuation of a split one. */
enum { HS_NONE = 0, HS_NAME, HS_VALUE };

/* A header's position in p->store while the store may still move. */
typedef struct hoff {
    size_t name, name_len;
    size_t value, value_len;
} hoff;

/* Allocated by corio_http_parser_create(), freed by
 * corio_http_parser_destroy(). */
struct corio_http_parser {
    llhttp_t ll;                /* llhttp's state; ll.data points back here */
    corio_http_limits lim;      /* effective limits (defaults filled in) */
    corio_http_buf store;       /* target, header names/values, body */
    hoff *hoffs;                /* header positions, nh used, hcap allocated */
    size_t nh, hcap;
    corio_http_header *hdrs;    /* pointer form of hoffs, built on report */
    size_t hdrs_cap;
    size_t target_len;          /* the target starts at store offset 0 */
    size_t body_off, body_len;  /* body position in store (PH_BODY on) */
    size_t head_used;           /* head bytes consumed in PH_HEAD */
    size_t trailer_bytes;       /* trailer bytes seen (not stored) */
    size_t ext_bytes;           /* chunk-extension bytes of this request */
    int phase;                  /* PH_* */
    int hstate;                 /* HS_*: last header span kind */
    int event;                  /* set by a callback: what to report */
    int err;                    /* 0, or the negative error once dead */
    int status;                 /* HTTP status for err */
    const char *reason;         /* static text for err */
    int expect;                 /* "Expect: 100-continue" seen */
    int reported;               /* req holds a reported request */
    corio_http_request req;     /* the last reported request */
};

static int fail(corio_http_parser *p, int err, int status, const char *why)
{
    if (!p->err) {
        p->err = err;
        p->status = status;
        p->reason = why;
    }
    p->phase = PH_DEAD;
    p->reported = 0;
    return p->err;
}

static corio_http_parser *P(llhttp_t *ll)
{
    return (corio_http_parser *)ll->data;
}

/* ---- llhttp callbacks -------------------------------------------------- */

static int on_message_begin(llhttp_t *ll)
{
    corio_http_parser *p = P(ll);
    /* The store is emptied when the previous request is released (start of
     * the next feed), so only the per-request fields need resetting. */
    p->hstate = HS_NONE;
    p->expect = 0;
    return 0;
}

static int append(corio_http_parser *p, const char *at, size_t len)
{
    if (corio_http_buf_append(&p->store, at, len) < 0) {
        fail(p, -ENOMEM, 500, "out of memory");
        return -1;
    }
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    corio_http_parser *p = P(ll);
    p->target_len += len;
    return append(p, at, len);
}

static int on_url_complete(llhttp_t *ll)
{
    return append(P(ll), "", 1);
}

/* RFC 9110 5.6.2: tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Terminates the open header's value (an empty value may never get a value
 * span) and trims the trailing whitespace llhttp leaves in it. */
static int close_header(corio_http_parser *p)
{
    if (p->hstate == HS_NONE)
        return 0;
    hoff *h = &p->hoffs[p->nh - 1];
    if (p->hstate == HS_NAME) { /* name without any value callback */
        h->name_len = p->store.len - h->name;
        if (append(p, "", 1) < 0)
            return -1;
        h->value = p->store.len;
    }
    /* RFC 9110 5.1: a field name is a token. llhttp 8 lets a space inside
     * a name through ("Bad Name: x"); a proxy in front of us might read that
     * differently, so it is refused here. */
    if (h->name_len == 0) {
        fail(p, -EBADMSG, 400, "empty header name");
        return -1;
    }
    for (size_t i = 0; i < h->name_len; i++) {
        if (!is_tchar((unsigned char)p->store.data[h->name + i])) {
            fail(p, -EBADMSG, 400, "invalid character in header name");
            return -1;
        }
    }
    size_t vlen = p->store.len - h->value;
    while (vlen && (p->store.data[h->value + vlen - 1] == ' ' ||
                    p->store.data[h->value + vlen - 1] == '\t'))
        vlen--;
    p->store.len = h->value + vlen;
    h->value_len = vlen;
    p->hstate = HS_NONE;
    return append(p, "", 1);
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    corio_http_parser *p = P(ll);
    if (p->phase == PH_BODY) { /* a trailer: counted, not kept */
        p->trailer_bytes += len;
        if (p->trailer_bytes > p->lim.max_head) {
            fail(p, -EMSGSIZE, 431, "trailer fields too large");
            return -1;
        }
        return 0;
    }
    if (p->hstate != HS_NAME) {
        if (close_header(p) < 0)
            return -1;
        if (p->nh == p->lim.max_headers) {
            fail(p, -EMSGSIZE, 431, "too many header fields");
            return -1;
        }
        if (p->nh == p->hcap) {
            size_t cap = p->hcap ? p->hcap * 2 : 16;
            hoff *n = realloc(p->hoffs, cap * sizeof *n);
            if (!n) {
                fail(p, -ENOMEM, 500, "out of memory");
                return -1;
            }
            p->hoffs = n;
            p->hcap = cap;
        }
        hoff *h = &p->hoffs[p->nh++];
        memset(h, 0, sizeof *h);
        h->name = p->store.len;
        p->hstate = HS_NAME;
    }
    return append(p, at, len);
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    corio_http_parser *p = P(ll);
    if (p->phase == PH_BODY) {
        p->trailer_bytes += len;
        if (p->trailer_bytes > p->lim.max_head) {
            fail(p, -EMSGSIZE, 431, "trailer fields too large");
            return -1;
        }
        return 0;
    }
    if (p->hstate == HS_NAME) {
        hoff *h = &p->hoffs[p->nh - 1];
        h->name_len = p->store.len - h->name;
        if (append(p, "", 1) < 0)
            return -1;
        h->value = p->store.len;
        p->hstate = HS_VALUE;
    }
    return append(p, at, len);
}

static int on_header_value_complete(llhttp_t *ll)
{
    corio_http_parser *p = P(ll);
    if (p->phase == PH_BODY)
        return 0;
    return close_header(p);
}

/* Builds p->req from the offsets. Called when a request (or the head of a
 * 100-continue one) is handed out: the store does not move until the next
 * feed. */
static int build(corio_http_parser *p)
{
    if (p->nh > p->hdrs_cap) {
        corio_http_header *n = realloc(p->hdrs, p->nh * sizeof *n);
        if (!n)
            return fail(p, -ENOMEM, 500, "out of memory");
        p->hdrs = n;
        p->hdrs_cap = p->nh;
    }
    const char *base = p->store.data ? p->store.data : "";
    for (size_t i = 0; i < p->nh; i++) {
        p->hdrs[i].name = base + p->hoffs[i].name;
        p->hdrs[i].name_len = p->hoffs[i].name_len;
        p->hdrs[i].value = base + p->hoffs[i].value;
        p->hdrs[i].value_len = p->hoffs[i].value_len;
    }
    corio_http_request *r = &p->req;
    r->method = llhttp_method_name((llhttp_method_t)p->ll.method);
    r->target = base;
    r->target_len = p->target_len;
    r->version_major = p->ll.http_major;
    r->version_minor = p->ll.http_minor;
    r->headers = p->hdrs;
    r->nheaders = p->nh;
    if (p->phase == PH_READY) {
        r->body = base + p->body_off;
        r->body_len = p->body_len;
    } else {
        r->body = "";
        r->body_len = 0;
    }
    r->keep_alive = llhttp_should_keep_alive(&p->ll) &&
                    p->ll.method != HTTP_CONNECT;
    r->expect_continue = p->expect;
    r->chunked = (p->ll.flags & F_CHUNKED) != 0;
    p->reported = 1;
    return 0;
}

static int name_is(const corio_http_parser *p, const hoff *h, const char *n)
{
    size_t len = strlen(n);
    return h->name_len == len &&
           strncasecmp(p->store.data + h->name, n, len) == 0;
}

/* The header checks llhttp leaves to its user:
 * - Host (RFC 9112 3.2): an HTTP/1.1 request carries exactly one; two are
 *   never valid. A request without one, or with two, is answered 400.
 * - Transfer-Encoding (RFC 9112 6.1, RFC 9110 15.6.2): this server decodes
 *   only "chunked". llhttp frames "gzip, chunked" as chunked and hands the
 *   still-compressed body out as if no coding had been applied; any coding
 *   other than chunked is answered 501 instead. */
static int check_framing(corio_http_parser *p)
{
    size_t hosts = 0;
    for (size_t i = 0; i < p->nh; i++) {
        const hoff *h = &p->hoffs[i];
        if (name_is(p, h, "host")) {
            hosts++;
            continue;
        }
        if (!name_is(p, h, "transfer-encoding"))
            continue;
        const char *v = p->store.data + h->value, *end = v + h->value_len;
        while (v < end) { /* each comma-separated coding */
            while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
                v++;
            /* chunked has no parameters: "chunked;x=1" is another
             * coding as far as this server is concerned. */
            const char *t = v;
            while (v < end && *v != ',' && *v != ' ' && *v != '\t')
                v++;
            if (v > t && !((size_t)(v - t) == 7 &&
                           strncasecmp(t, "chunked", 7) == 0)) {
                fail(p, -ENOSYS, 501, "transfer coding not implemented "
                     "(only chunked is)");
                return -1;
            }
        }
    }
    if (hosts > 1 || (hosts == 0 && p->ll.http_minor >= 1)) {
        fail(p, -EBADMSG, 400, hosts ? "more than one Host header field"
                                     : "HTTP/1.1 request without Host");
        return -1;
    }
    return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
    corio_http_parser *p = P(ll);
    if (close_header(p) < 0)
        return -1;
    /* llhttp accepts versions like 0.9 or 2.0 on the request line; this is
     * an HTTP/1.x server. */
    if (ll->http_major != 1) {
        fail(p, -EPROTONOSUPPORT, 505, "HTTP version not supported");
        return -1;
    }
    if (check_framing(p) < 0)
        return -1;
    if ((ll->flags & F_CONTENT_LENGTH) && !(ll->flags & F_CHUNKED) &&
        ll->content_length > p->lim.max_body) {
        fail(p, -EFBIG, 413, "request body too large");
        return -1;
    }
    p->phase = PH_BODY;
    p->body_off = p->store.len;
    p->body_len = 0;
    p->trailer_bytes = 0;
    p->ext_bytes = 0;
    int has_body = (ll->flags & F_CHUNKED) || ll->content_length > 0;
    /* RFC 9110 10.1.1: 100-continue is the only expectation; a server may
     * ignore it for a request without content. */
    for (size_t i = 0; i < p->nh; i++) {
        const hoff *h = &p->hoffs[i];
        if (h->name_len == 6 &&
            strncasecmp(p->store.data + h->name, "expect", 6) == 0 &&
            h->value_len == 12 &&
            strncasecmp(p->store.data + h->value, "100-continue", 12) == 0)
            p->expect = 1;
    }
    if (p->expect && has_body) {
        if (build(p) < 0)
            return -1;
        p->event = CORIO_HTTP_CONTINUE;
        return HPE_PAUSED;
    }
    return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    corio_http_parser *p = P(ll);
    if (len > p->lim.max_body - p->body_len) {
        fail(p, -EFBIG, 413, "request body too large");
        return -1;
    }
    p->body_len += len;
    return append(p, at, len);
}

/* Chunk extensions are parsed by llhttp and dropped; only their size is
 * bounded (MAX_CHUNK_EXT per request, the ';' of each counted too). */
static int count_ext(corio_http_parser *p, size_t len)
{
    if (len > MAX_CHUNK_EXT - p->ext_bytes) {
        fail(p, -EFBIG, 413, "chunk extensions too large");
        return -1;
    }
    p->ext_bytes += len;
    return 0;
}

static int on_chunk_ext_data(llhttp_t *ll, const char *at, size_t len)
{
    (void)at;
    return count_ext(P(ll), len);
}

static int on_chunk_ext_name_complete(llhttp_t *ll)
{
    return count_ext(P(ll), 1);
}

static int on_message_complete(llhttp_t *ll)
{
    corio_http_parser *p = P(ll);
    p->phase = PH_READY;
    if (p->store.len == 0 && append(p, "", 0) < 0) /* ensure data != NULL */
        return -1;
    if (build(p) < 0)
        return -1;
    p->event = CORIO_HTTP_REQUEST;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_extension_name = on_chunk_ext_data,
    .on_chunk_extension_value = on_chunk_ext_data,
    .on_chunk_extension_name_complete = on_chunk_ext_name_complete,
    .on_message_complete = on_message_complete,
};

/* ---- public ------------------------------------------------------------ */

int corio_http_parser_create(corio_http_parser **pp,
                             const corio_http_limits *lim)
{
    *pp = NULL;
    corio_http_parser *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    if (lim)
        p->lim = *lim;
    if (!p->lim.max_head)
        p->lim.max_head = DEF_MAX_HEAD;
    if (!p->lim.max_headers)
        p->lim.max_headers = DEF_MAX_HEADERS;
    if (!p->lim.max_body)
        p->lim.max_body = DEF_MAX_BODY;
    /* The store holds head and body together; keep its size computable. */
    if (p->lim.max_head > SIZE_MAX / 8 || p->lim.max_body > SIZE_MAX / 8 ||
        p->lim.max_headers > SIZE_MAX / 8 / sizeof(hoff)) {
        free(p);
        return -EINVAL;
    }
    llhttp_init(&p->ll, HTTP_REQUEST, &settings);
    p->ll.data = p;
    *pp = p;
    return 0;
}

void corio_http_parser_destroy(corio_http_parser *p)
{
    if (!p)
        return;
    corio_http_buf_free(&p->store);
    free(p->hoffs);
    free(p->hdrs);
    free(p);
}

/* Forgets the request that was reported, so the next one can be stored. */
static void release(corio_http_parser *p)
{
    corio_http_buf_clear(&p->store);
    p->nh = 0;
    p->target_len = 0;
    p->body_off = p->body_len = 0;
    p->head_used = 0;
    p->hstate = HS_NONE;
    p->reported = 0;
    p->phase = PH_HEAD;
}

static int llhttp_failure(corio_http_parser *p, llhttp_errno_t e)
{
    if (p->err) /* one of our callbacks failed and said why */
        return fail(p, p->err, p->status, p->reason);
    switch (e) {
    case HPE_INVALID_METHOD:
        return fail(p, -ENOSYS, 501, "unknown method");
    default:
        /* llhttp's reason is a static string ("Invalid header value
         * char", ...): precise and safe to hand out. */
        return fail(p, -EBADMSG, 400,
                    llhttp_get_error_reason(&p->ll)
                        ? llhttp_get_error_reason(&p->ll)
                        : "malformed request");
    }
}

int corio_http_parser_feed(corio_http_parser *p, const char *data, size_t len,
                           size_t *used)
{
    *used = 0;
    if (p->phase == PH_DEAD)
        return p->err;
    if (p->phase == PH_READY)
        release(p);
    else if (p->reported) /* the 100-continue head: the body follows */
        p->reported = 0;

    const char *pos = data, *end = data + len;
    while (pos < end) {
        size_t n = (size_t)(end - pos);
        int in_head = p->phase == PH_HEAD;
        if (in_head) {
            size_t allow = p->lim.max_head - p->head_used;
            if (allow == 0) {
                *used = (size_t)(pos - data);
                return fail(p, -EMSGSIZE, 431, "request head too large");
            }
            if (n > allow)
                n = allow;
        }
        p->event = 0;
        llhttp_errno_t e = llhttp_execute(&p->ll, pos, n);
        size_t u;
        if (e == HPE_OK) {
            u = n;
        } else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
            u = (size_t)(llhttp_get_error_pos(&p->ll) - pos);
        } else {
            *used = (size_t)(pos - data);
            return llhttp_failure(p, e);
        }
        if (in_head && p->phase == PH_HEAD)
            p->head_used += u;
        pos += u;
        if (e == HPE_PAUSED) {
            llhttp_resume(&p->ll);
        } else {
            /* An Upgrade (or CONNECT) request is complete; what follows
             * would be another protocol. This server never switches
             * protocols (RFC 9110 7.8 lets it ignore Upgrade), so it goes on
             * parsing HTTP/1.1; a CONNECT gets keep_alive 0 and its
             * connection is closed after the answer. */
            llhttp_resume_after_upgrade(&p->ll);
            if (!p->event && p->phase != PH_READY)
                continue;
        }
        if (p->event) {
            *used = (size_t)(pos - data);
            return p->event;
        }
    }
    *used = len;
    if (p->phase == PH_HEAD && p->head_used >= p->lim.max_head)
        return fail(p, -EMSGSIZE, 431, "request head too large");
    return CORIO_HTTP_NEED_MORE;
}

const corio_http_request *corio_http_parser_request(const corio_http_parser *p)
{
    return p->reported ? &p->req : NULL;
}

int corio_http_parser_finish(corio_http_parser *p)
{
    if (p->phase == PH_DEAD)
        return p->err;
    if (p->phase == PH_READY || (p->phase == PH_HEAD && p->head_used == 0))
        return 0;
    return fail(p, -EBADMSG, 400, "connection closed mid-request");
}

int corio_http_parser_status(const corio_http_parser *p, const char **reason)
{
    if (reason)
        *reason = p->err ? p->reason : NULL;
    return p->err ? p->status : 0;
}

void corio_http_parser_reset(corio_http_parser *p)
{
    release(p);
    p->err = 0;
    p->status = 0;
    p->reason = NULL;
    llhttp_init(&p->ll, HTTP_REQUEST, &settings);
    p->ll.data = p;
}

int corio_http_parser_busy(const corio_http_parser *p)
{
    if (p->phase == PH_HEAD)
        return p->head_used > 0 ? CORIO_HTTP_IN_HEAD : 0;
    return p->phase == PH_BODY ? CORIO_HTTP_IN_BODY : 0;
}

const char *corio_http_request_header(const corio_http_request *r,
                                      const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->nheaders; i++)
        if (r->headers[i].name_len == n &&
            strncasecmp(r->headers[i].name, name, n) == 0)
            return r->headers[i].value;
    return NULL;
}

const struct sockaddr *corio_http_request_peer(const corio_http_request *r,
                                              size_t *len)
{
    const struct sockaddr *a = r->peer_len ? r->peer : NULL;
    if (len)
        *len = a ? r->peer_len : 0;
    return a;
}

int corio_http_error_status(int err)
{
    switch (err) {
    case -EBADMSG: return 400;
    case -EMSGSIZE: return 431;
    case -EFBIG: return 413;
    case -ENOSYS: return 501;
    case -EPROTONOSUPPORT: return 505;
    default: return 500;
    }
}
