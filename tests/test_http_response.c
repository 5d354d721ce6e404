/*
 * The HTTP response writer and byte buffers (src/http/response.c, buf.c):
 * framing, bodiless statuses, HEAD, header injection, dates.
 */
#include "testutil.h"

#include <corio_http.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void test_buf(void **state)
{
    corio_http_buf b = CORIO_HTTP_BUF_INIT;
    assert_int_equal(corio_http_buf_puts(&b, "abc"), 0);
    assert_int_equal(corio_http_buf_printf(&b, "-%d-%s", 42, "x"), 0);
    assert_string_equal(b.data, "abc-42-x");
    assert_int_equal(b.len, 8);
    /* Longer than the free room: the formatted text must be complete. */
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(corio_http_buf_printf(&b, "%s!", big), 0);
    assert_int_equal(b.len, 8 + 999 + 1);
    assert_int_equal(b.data[b.len - 1], '!');
    assert_int_equal(b.data[b.len], '\0');
    corio_http_buf_consume(&b, 3);
    assert_int_equal(b.len, 1005);
    assert_memory_equal(b.data, "-42-x", 5);
    corio_http_buf_consume(&b, 5000);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(corio_http_buf_append(&b, "\0\1", 2), 0);
    assert_int_equal(b.len, 2);
    corio_http_buf_clear(&b);
    assert_int_equal(b.len, 0);
    assert_true(b.cap > 0);
    assert_int_equal(corio_http_buf_reserve(&b, SIZE_MAX - 4), -ENOMEM);
    corio_http_buf_free(&b);
    assert_null(b.data);
    corio_http_buf_free(&b); /* twice is fine */
}

static void test_write_basic(void **state)
{
    corio_http_response r;
    corio_http_response_init(&r);
    assert_int_equal(corio_http_response_set(&r, 202, "application/json",
                                             "{\"id\":\"1\"}", (size_t)-1),
                     0);
    assert_int_equal(corio_http_response_header(&r, "Location", "/jobs/1"), 0);
    corio_http_buf out = CORIO_HTTP_BUF_INIT;
    assert_int_equal(corio_http_response_write(&r, 0, &out), 0);
    assert_string_equal(out.data, "HTTP/1.1 202 Accepted\r\n"
                                  "Content-Type: application/json\r\n"
                                  "Location: /jobs/1\r\n"
                                  "Content-Length: 10\r\n\r\n"
                                  "{\"id\":\"1\"}");
    /* HEAD: same head, no body bytes. Responses append. */
    size_t first = out.len;
    r.close = 1;
    assert_int_equal(corio_http_response_write(&r, CORIO_HTTP_WRITE_HEAD, &out),
                     0);
    assert_string_equal(out.data + first, "HTTP/1.1 202 Accepted\r\n"
                                          "Content-Type: application/json\r\n"
                                          "Location: /jobs/1\r\n"
                                          "Content-Length: 10\r\n"
                                          "Connection: close\r\n\r\n");
    corio_http_response_clear(&r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.close, 0);
    corio_http_buf_clear(&out);
    assert_int_equal(corio_http_response_write(&r, 0, &out), 0);
    assert_string_equal(out.data, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    corio_http_buf_free(&out);
    corio_http_response_free(&r);
}

static void test_bodiless_statuses(void **state)
{
    static const int sts[] = {100, 204, 304};
    for (size_t i = 0; i < 3; i++) {
        corio_http_response r;
        corio_http_response_init(&r);
        r.status = sts[i];
        corio_http_buf_puts(&r.body, "ignored");
        corio_http_buf out = CORIO_HTTP_BUF_INIT;
        assert_int_equal(corio_http_response_write(&r, 0, &out), 0);
        assert_null(strstr(out.data, "Content-Length"));
        assert_null(strstr(out.data, "ignored"));
        assert_int_equal(memcmp(out.data + out.len - 4, "\r\n\r\n", 4), 0);
        corio_http_buf_free(&out);
        corio_http_response_free(&r);
    }
    corio_http_response r;
    corio_http_response_init(&r);
    corio_http_buf out = CORIO_HTTP_BUF_INIT;
    r.status = 99;
    assert_int_equal(corio_http_response_write(&r, 0, &out), -EINVAL);
    r.status = 600;
    assert_int_equal(corio_http_response_write(&r, 0, &out), -EINVAL);
    assert_int_equal(out.len, 0);
    assert_int_equal(corio_http_response_set(&r, 1000, NULL, NULL, 0), -EINVAL);
    assert_string_equal(corio_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(corio_http_reason(299), "Unknown");
    corio_http_response_free(&r);
}

/* A header line can never be split or framing overridden by the caller. */
static void test_header_injection(void **state)
{
    corio_http_response r;
    corio_http_response_init(&r);
    assert_int_equal(corio_http_response_header(&r, "X", "a\r\nSet-Cookie: x"),
                     -EINVAL);
    assert_int_equal(corio_http_response_header(&r, "X", "a\nb"), -EINVAL);
    assert_int_equal(corio_http_response_header(&r, "X", "a\x7f"), -EINVAL);
    assert_int_equal(corio_http_response_header(&r, "X: y", "a"), -EINVAL);
    assert_int_equal(corio_http_response_header(&r, "", "a"), -EINVAL);
    assert_int_equal(corio_http_response_header(&r, "A\r\nB", "a"), -EINVAL);
    assert_int_equal(corio_http_response_header(&r, "content-length", "5"),
                     -EINVAL);
    assert_int_equal(
        corio_http_response_header(&r, "Transfer-Encoding", "chunked"),
        -EINVAL);
    assert_int_equal(r.headers.len, 0);
    assert_int_equal(corio_http_response_header(&r, "X-Ok", "tab\there"), 0);
    assert_string_equal(r.headers.data, "X-Ok: tab\there\r\n");
    corio_http_response_free(&r);
}

/* What the writer produces, the parser's sibling must accept: write a
 * response, then check its framing by hand. */
static void test_content_length_matches(void **state)
{
    corio_http_response r;
    corio_http_response_init(&r);
    for (size_t n = 0; n < 3000; n += 997) {
        corio_http_buf_clear(&r.body);
        for (size_t i = 0; i < n; i++)
            corio_http_buf_append(&r.body, "q", 1);
        corio_http_buf out = CORIO_HTTP_BUF_INIT;
        assert_int_equal(corio_http_response_write(&r, 0, &out), 0);
        const char *cl = strstr(out.data, "Content-Length: ");
        assert_non_null(cl);
        assert_int_equal(strtoul(cl + 16, NULL, 10), n);
        const char *end = strstr(out.data, "\r\n\r\n");
        assert_int_equal(out.len - (size_t)(end + 4 - out.data), n);
        corio_http_buf_free(&out);
    }
    corio_http_response_free(&r);
}

static void test_date(void **state)
{
    char d[30];
    assert_string_equal(corio_http_date(d, 784111777),
                        "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_string_equal(corio_http_date(d, 0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_string_equal(corio_http_date(d, 1709251199),
                        "Thu, 29 Feb 2024 23:59:59 GMT");
    assert_int_equal(strlen(d), 29);
}

static void test_error_status(void **state)
{
    assert_int_equal(corio_http_error_status(-EBADMSG), 400);
    assert_int_equal(corio_http_error_status(-EFBIG), 413);
    assert_int_equal(corio_http_error_status(-EMSGSIZE), 431);
    assert_int_equal(corio_http_error_status(-ENOSYS), 501);
    assert_int_equal(corio_http_error_status(-EPROTONOSUPPORT), 505);
    assert_int_equal(corio_http_error_status(-ENOMEM), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_write_basic),
        cmocka_unit_test(test_bodiless_statuses),
        cmocka_unit_test(test_header_injection),
        cmocka_unit_test(test_content_length_matches),
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_error_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
