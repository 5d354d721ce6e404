/*
 * The response writer: a corio_http_response in, HTTP/1.1 bytes out. It
 * owns message framing (Content-Length, Connection: close) so that a
 * handler cannot get it wrong, and it refuses header names and values that
 * would let a caller inject extra header lines.
 */
#include <corio_http.h>

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void corio_http_response_init(corio_http_response *r)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
}

void corio_http_response_clear(corio_http_response *r)
{
    r->status = 200;
    r->close = 0;
    corio_http_buf_clear(&r->headers);
    corio_http_buf_clear(&r->body);
}

void corio_http_response_free(corio_http_response *r)
{
    corio_http_buf_free(&r->headers);
    corio_http_buf_free(&r->body);
    r->status = 200;
    r->close = 0;
}

/* RFC 9110 5.6.2: token = 1*tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int corio_http_response_header(corio_http_response *r, const char *name,
                               const char *value)
{
    if (!name || !*name || !value)
        return -EINVAL;
    for (const unsigned char *s = (const unsigned char *)name; *s; s++)
        if (!is_tchar(*s))
            return -EINVAL;
    /* RFC 9110 5.5: no control characters but HTAB; CR and LF above all,
     * which would start a header line of the caller's choosing. */
    for (const unsigned char *s = (const unsigned char *)value; *s; s++)
        if ((*s < 0x20 && *s != '\t') || *s == 0x7f)
            return -EINVAL;
    if (strcasecmp(name, "content-length") == 0 ||
        strcasecmp(name, "transfer-encoding") == 0)
        return -EINVAL;
    size_t mark = r->headers.len;
    int rc = corio_http_buf_puts(&r->headers, name);
    if (rc == 0)
        rc = corio_http_buf_append(&r->headers, ": ", 2);
    if (rc == 0)
        rc = corio_http_buf_puts(&r->headers, value);
    if (rc == 0)
        rc = corio_http_buf_append(&r->headers, "\r\n", 2);
    if (rc < 0) { /* leave no half-written line behind */
        r->headers.len = mark;
        if (r->headers.data)
            r->headers.data[mark] = '\0';
    }
    return rc;
}

int corio_http_response_set(corio_http_response *r, int status,
                            const char *content_type, const char *body,
                            size_t len)
{
    if (status < 100 || status > 599)
        return -EINVAL;
    r->status = status;
    if (content_type) {
        int rc = corio_http_response_header(r, "Content-Type", content_type);
        if (rc < 0)
            return rc;
    }
    corio_http_buf_clear(&r->body);
    if (!body)
        return 0;
    if (len == (size_t)-1)
        len = strlen(body);
    return corio_http_buf_append(&r->body, body, len);
}

const char *corio_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* Decimal digits of v into the end of buf; returns the first digit. */
static char *utoa(char *end, uint64_t v)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

int corio_http_response_write(const corio_http_response *r, unsigned flags,
                              corio_http_buf *out)
{
    int st = r->status;
    if (st < 100 || st > 599)
        return -EINVAL;
    /* RFC 9112 6.3: these never carry content, and must not announce it. */
    int bodyless = st < 200 || st == 204 || st == 304;
    const char *reason = corio_http_reason(st);
    size_t need = 64 + strlen(reason) + r->headers.len + 48 +
                  ((bodyless || (flags & CORIO_HTTP_WRITE_HEAD)) ? 0
                                                                  : r->body.len);
    int rc = corio_http_buf_reserve(out, need);
    if (rc < 0)
        return rc;
    char num[24];
    char *d = utoa(num + sizeof num, (uint64_t)st);
    corio_http_buf_append(out, "HTTP/1.1 ", 9);
    corio_http_buf_append(out, d, (size_t)(num + sizeof num - d));
    corio_http_buf_append(out, " ", 1);
    corio_http_buf_puts(out, reason);
    corio_http_buf_append(out, "\r\n", 2);
    if (r->headers.len)
        corio_http_buf_append(out, r->headers.data, r->headers.len);
    if (!bodyless) {
        d = utoa(num + sizeof num, (uint64_t)r->body.len);
        corio_http_buf_append(out, "Content-Length: ", 16);
        corio_http_buf_append(out, d, (size_t)(num + sizeof num - d));
        corio_http_buf_append(out, "\r\n", 2);
    }
    if (r->close)
        corio_http_buf_append(out, "Connection: close\r\n", 19);
    corio_http_buf_append(out, "\r\n", 2);
    if (!bodyless && !(flags & CORIO_HTTP_WRITE_HEAD) && r->body.len)
        corio_http_buf_append(out, r->body.data, r->body.len);
    return 0;
}

char *corio_http_date(char out[30], int64_t t)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                    "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm)) {
        tt = 0;
        gmtime_r(&tt, &tm);
    }
    /* Built by hand: strftime's %a/%b follow the locale; HTTP wants
     * English. */
    int y = tm.tm_year + 1900;
    if (y < 0)
        y = 0;
    if (y > 9999)
        y = 9999;
    out[0] = days[tm.tm_wday][0];
    out[1] = days[tm.tm_wday][1];
    out[2] = days[tm.tm_wday][2];
    out[3] = ',';
    out[4] = ' ';
    out[5] = (char)('0' + tm.tm_mday / 10);
    out[6] = (char)('0' + tm.tm_mday % 10);
    out[7] = ' ';
    memcpy(out + 8, months[tm.tm_mon], 3);
    out[11] = ' ';
    out[12] = (char)('0' + y / 1000);
    out[13] = (char)('0' + y / 100 % 10);
    out[14] = (char)('0' + y / 10 % 10);
    out[15] = (char)('0' + y % 10);
    out[16] = ' ';
    out[17] = (char)('0' + tm.tm_hour / 10);
    out[18] = (char)('0' + tm.tm_hour % 10);
    out[19] = ':';
    out[20] = (char)('0' + tm.tm_min / 10);
    out[21] = (char)('0' + tm.tm_min % 10);
    out[22] = ':';
    out[23] = (char)('0' + tm.tm_sec / 10);
    out[24] = (char)('0' + tm.tm_sec % 10);
    memcpy(out + 25, " GMT", 5); /* includes the NUL */
    return out;
}
