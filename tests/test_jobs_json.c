/*
 * corio-jobs' JSON (apps/corio-jobs/json.c): every way a POST /jobs body can be
 * wrong gets the right class (400 malformed / 422 invalid) and a message;
 * valid bodies normalise; stored specs parse back; jobs render as JSON.
 */
#include "testutil.h"

#include "jobs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *body;
    int rc;            /* 0, -EBADMSG (400), -EINVAL (422) */
    const char *want;  /* normalised spec, or a substring of the error */
} cases[] = {
    /* valid */
    {"{\"type\":\"sleep\",\"seconds\":2.5}", 0, "{\"seconds\":2.5}"},
    {"{\"type\":\"sleep\",\"seconds\":3}", 0, "{\"seconds\":3.0}"},
    {" {\"seconds\": 0, \"type\": \"sleep\"} \n", 0, "{\"seconds\":0.0}"},
    {"{\"type\":\"hash\",\"bytes\":50000000}", 0, "{\"bytes\":50000000}"},
    {"{\"type\":\"fetch\",\"urls\":[\"http://a/\",\"https://b/x?y=1\"]}", 0,
     "{\"urls\":[\"http://a/\",\"https://b/x?y=1\"]}"},
    {"{\"type\":\"command\",\"argv\":[\"echo\",\"hi there\"]}", 0,
     "{\"argv\":[\"echo\",\"hi there\"]}"},
    /* how it runs: not part of the spec */
    {"{\"type\":\"sleep\",\"seconds\":1,\"max_attempts\":3,"
     "\"retry_backoff\":0.5}", 0, "{\"seconds\":1.0}"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"queue\":\"slow.q-1\","
     "\"priority\":-100}", 0, "{\"seconds\":1.0}"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"unique_key\":\"order-42\"}", 0,
     "{\"seconds\":1.0}"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"timeout\":2.5}", 0,
     "{\"seconds\":1.0}"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"delay\":2.5}", 0,
     "{\"seconds\":1.0}"},
    {"{\"type\":\"sleep\",\"seconds\":1,"
     "\"run_at\":\"2030-01-01T00:00:00.25Z\"}", 0, "{\"seconds\":1.0}"},
    /* malformed: 400 */
    {"", -EBADMSG, "empty"},
    {"{", -EBADMSG, "malformed JSON"},
    {"{\"type\":\"sleep\",}", -EBADMSG, "malformed JSON"},
    {"{\"type\":\"sleep\"} x", -EBADMSG, "malformed JSON"},
    {"{\"type\":\"sleep\",\"type\":\"hash\"}", -EBADMSG, "duplicate"},
    {"{\"type\":\"sl\\u0000eep\"}", -EBADMSG, "malformed JSON"},
    {"\xff\xfe{}", -EBADMSG, "malformed JSON"},
    {"{\"type\":\"hash\",\"bytes\":99999999999999999999999}", -EBADMSG,
     "malformed JSON"},
    /* invalid: 422 */
    {"[]", -EINVAL, "JSON object"},
    {"\"sleep\"", -EINVAL, "JSON object"},
    {"null", -EINVAL, "JSON object"},
    {"{}", -EINVAL, "missing field 'type'"},
    {"{\"type\":1}", -EINVAL, "'type' must be a string"},
    {"{\"type\":\"nap\"}", -EINVAL, "unknown job type 'nap'"},
    {"{\"type\":\"SLEEP\",\"seconds\":1}", -EINVAL, "unknown job type"},
    {"{\"type\":\"sleep\"}", -EINVAL, "needs 'seconds'"},
    {"{\"type\":\"sleep\",\"seconds\":\"2\"}", -EINVAL, "must be a number"},
    {"{\"type\":\"sleep\",\"seconds\":-1}", -EINVAL, "between 0 and"},
    {"{\"type\":\"sleep\",\"seconds\":1e9}", -EINVAL, "between 0 and"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"second\":2}", -EINVAL,
     "unknown field 'second'"},
    {"{\"type\":\"sleep\",\"bytes\":1}", -EINVAL, "unknown field 'bytes'"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"max_attempts\":0}", -EINVAL,
     "'max_attempts' must be an integer from 1 to 1000"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"max_attempts\":2.5}", -EINVAL,
     "'max_attempts'"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"retry_backoff\":-1}", -EINVAL,
     "'retry_backoff'"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"queue\":\"Slow\"}", -EINVAL,
     "'queue' must be a name"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"queue\":\"\"}", -EINVAL,
     "'queue'"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"unique_key\":\"a b\"}", -EINVAL,
     "'unique_key' must be 1 to 255 printable ASCII"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"unique_key\":\"\"}", -EINVAL,
     "'unique_key'"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"timeout\":0}", -EINVAL,
     "'timeout' must be a number of seconds"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"timeout\":\"5\"}", -EINVAL,
     "'timeout'"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"priority\":101}", -EINVAL,
     "'priority' must be an integer from -100 to 100"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"priority\":1.5}", -EINVAL,
     "'priority'"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"delay\":-1}", -EINVAL,
     "'delay' must be a number of seconds"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"delay\":1e10}", -EINVAL,
     "'delay'"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"delay\":1,"
     "\"run_at\":\"2030-01-01T00:00:00Z\"}", -EINVAL, "not both"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"run_at\":\"2030-01-01 00:00\"}",
     -EINVAL, "RFC 3339"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"run_at\":\"2030-01-01T00:00:00+02:00\"}",
     -EINVAL, "in UTC"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"run_at\":\"2030-02-30T00:00:00Z\"}",
     -EINVAL, "RFC 3339"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"run_at\":5}", -EINVAL, "RFC 3339"},
    {"{\"type\":\"sleep\",\"seconds\":1,\"retry_backoff\":\"1\"}", -EINVAL,
     "'retry_backoff'"},
    {"{\"type\":\"hash\",\"bytes\":1.5}", -EINVAL, "must be an integer"},
    {"{\"type\":\"hash\",\"bytes\":-5}", -EINVAL, "between 0 and"},
    {"{\"type\":\"hash\",\"bytes\":1099511627776}", -EINVAL, "between 0 and"},
    {"{\"type\":\"hash\"}", -EINVAL, "needs 'bytes'"},
    {"{\"type\":\"fetch\",\"urls\":\"http://a/\"}", -EINVAL, "array of strings"},
    {"{\"type\":\"fetch\",\"urls\":[]}", -EINVAL, "1 to 100"},
    {"{\"type\":\"fetch\",\"urls\":[1]}", -EINVAL, "urls[0] must be a string"},
    {"{\"type\":\"fetch\",\"urls\":[\"ftp://x/\"]}", -EINVAL, "http:// or"},
    {"{\"type\":\"fetch\",\"urls\":[\"file:///etc/passwd\"]}", -EINVAL,
     "http:// or"},
    {"{\"type\":\"fetch\",\"urls\":[\"http://a/ b\"]}", -EINVAL, "space"},
    {"{\"type\":\"fetch\",\"urls\":[\"\"]}", -EINVAL, "1 to 2048"},
    {"{\"type\":\"command\"}", -EINVAL, "needs 'argv'"},
    {"{\"type\":\"command\",\"argv\":[]}", -EINVAL, "1 to 256"},
    {"{\"type\":\"command\",\"argv\":[\"ls\",null]}", -EINVAL,
     "argv[1] must be a string"},
    {"{\"type\":\"command\",\"argv\":[\"\"]}", -EINVAL, "1 to 4096"},
};

static void test_submissions(void **state)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jobs_submission s;
        char err[256] = "";
        int rc = jobs_parse_submission(cases[i].body, strlen(cases[i].body),
                                       &s, err, sizeof err);
        if (rc != cases[i].rc) {
            fprintf(stderr, "case %zu %s: rc %d (%s)\n", i, cases[i].body, rc,
                    err);
            fail();
        }
        if (rc == 0) {
            assert_string_equal(s.spec, cases[i].want);
            if (s.type == JOBS_COMMAND)
                assert_string_equal(s.prog, "echo");
            else
                assert_null(s.prog);
            jobs_submission_free(&s);
        } else {
            assert_null(s.spec);
            if (!strstr(err, cases[i].want)) {
                fprintf(stderr, "case %zu %s: message '%s' lacks '%s'\n", i,
                        cases[i].body, err, cases[i].want);
                fail();
            }
        }
    }
}

/* Bodies with embedded NULs and deep nesting are refused, not crashed on. */
static void test_hostile_bodies(void **state)
{
    jobs_submission s;
    char err[256];
    const char nul[] = "{\"type\":\"sleep\",\"seconds\":1}\0garbage";
    assert_int_equal(jobs_parse_submission(nul, sizeof nul - 1, &s, err,
                                           sizeof err),
                     -EBADMSG);
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[depth * 2] = '\0';
    assert_int_equal(jobs_parse_submission(deep, depth * 2, &s, err,
                                           sizeof err),
                     -EBADMSG);
    free(deep);
    /* Overlong argv in all: 300 strings of 300 bytes. */
    size_t cap = 200000, n = 0;
    char *big = malloc(cap);
    n += (size_t)sprintf(big, "{\"type\":\"command\",\"argv\":[");
    for (int i = 0; i < 250; i++) {
        big[n++] = '"';
        memset(big + n, 'a', 300);
        n += 300;
        n += (size_t)sprintf(big + n, "\"%s", i < 249 ? "," : "]}");
    }
    assert_int_equal(jobs_parse_submission(big, n, &s, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "bytes in all"));
    free(big);
    /* err may be NULL. */
    assert_int_equal(jobs_parse_submission("{", 1, &s, NULL, 0), -EBADMSG);
}

static void test_params(void **state)
{
    jobs_params p;
    assert_int_equal(jobs_params_parse(JOBS_SLEEP, "{\"seconds\":2.5}", &p), 0);
    assert_true(p.seconds == 2.5);
    jobs_params_free(&p);
    assert_int_equal(jobs_params_parse(JOBS_HASH, "{\"bytes\":123}", &p), 0);
    assert_int_equal(p.bytes, 123);
    jobs_params_free(&p);
    assert_int_equal(jobs_params_parse(JOBS_COMMAND,
                                       "{\"argv\":[\"a\",\"b c\"]}", &p), 0);
    assert_int_equal(p.nstr, 2);
    assert_string_equal(p.strv[1], "b c");
    assert_null(p.strv[2]);
    jobs_params_free(&p);
    /* A corrupt row is refused by the same rules. */
    assert_int_equal(jobs_params_parse(JOBS_SLEEP, "{\"seconds\":-4}", &p),
                     -EINVAL);
    assert_int_equal(jobs_params_parse(JOBS_SLEEP, "not json", &p), -EINVAL);
    assert_int_equal(jobs_params_parse(JOBS_HASH, "{\"seconds\":1}", &p),
                     -EINVAL);
    assert_int_equal(jobs_params_parse(99, "{}", &p), -EINVAL);
    assert_int_equal(jobs_params_parse(JOBS_SLEEP, NULL, &p), -EINVAL);
}

static void test_parse_time(void **state)
{
    int64_t ms = 0;
    assert_int_equal(jobs_parse_time("2024-05-01T12:00:00.123Z", &ms), 0);
    assert_int_equal(ms, 1714564800123LL);
    assert_int_equal(jobs_parse_time("2024-05-01T12:00:00Z", &ms), 0);
    assert_int_equal(ms, 1714564800000LL);
    assert_int_equal(jobs_parse_time("2024-05-01T12:00:00.5+00:00", &ms), 0);
    assert_int_equal(ms, 1714564800500LL);
    assert_int_equal(jobs_parse_time("2024-05-01T12:00:00.123456Z", &ms), 0);
    assert_int_equal(ms, 1714564800123LL);
    char buf[32];
    assert_string_equal(jobs_format_time(buf, 1714564800123LL),
                        "2024-05-01T12:00:00.123Z");
    const char *bad[] = {"", "2024-05-01", "2024-05-01T12:00:00",
                         "2024-05-01T12:00:00.Z", "2024-13-01T12:00:00Z",
                         "2024-04-31T12:00:00Z", "2024-05-01T12:00:00-01:00",
                         "1969-12-31T23:59:59Z", "2024-05-01T12:00:00Zjunk"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(jobs_parse_time(bad[i], &ms), -EINVAL);
}

static void test_job_json(void **state)
{
    jobs_job *j = jobs_job_new(JOBS_SLEEP, "{\"seconds\":1.0}");
    j->created_ms = 1714564800123LL;
    json_t *o = jobs_job_json(j);
    char *t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    char want[512];
    snprintf(want, sizeof want,
             "{\"attempts\":0,\"created_at\":\"2024-05-01T12:00:00.123Z\","
             "\"error\":null,\"errors\":[],\"finished_at\":null,"
             "\"id\":\"%s\",\"max_attempts\":1,\"priority\":0,"
             "\"progress\":null,\"queue\":\"default\","
             "\"result\":null,\"retry_backoff\":1.0,\"run_at\":null,"
             "\"spec\":{\"seconds\":1.0},\"started_at\":null,"
             "\"status\":\"created\",\"timeout\":null,"
             "\"type\":\"sleep\",\"unique_key\":null}",
             j->id);
    assert_string_equal(t, want);
    free(t);
    json_decref(o);
    j->status = JOBS_FAILED;
    jobs_job_set_error(j, "boom \"quoted\"");
    jobs_job_set_result(j, "{\"partial\":[1,2]}");
    j->finished_ms = j->created_ms + 1000;
    o = jobs_job_json(j);
    assert_string_equal(json_string_value(json_object_get(o, "error")),
                        "boom \"quoted\"");
    assert_int_equal(json_integer_value(json_array_get(
                         json_object_get(json_object_get(o, "result"),
                                         "partial"), 1)),
                     2);
    assert_string_equal(json_string_value(json_object_get(o, "finished_at")),
                        "2024-05-01T12:00:01.123Z");
    json_decref(o);
    /* Progress, as a handler reports it (not stored). */
    j->has_progress = 1;
    j->progress = 0.5;
    j->progress_msg = strdup("half");
    o = jobs_job_json(j);
    json_t *p = json_object_get(o, "progress");
    tu_assert_near(json_number_value(json_object_get(p, "fraction")), 0.5,
                   1e-9);
    assert_string_equal(json_string_value(json_object_get(p, "message")),
                        "half");
    json_decref(o);
    jobs_job *c = jobs_job_clone(j);
    assert_string_equal(c->error, j->error);
    assert_true(c->error != j->error);
    assert_string_equal(c->progress_msg, "half");
    assert_true(c->progress_msg != j->progress_msg);
    jobs_job_free(c);
    jobs_job_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submissions),
        cmocka_unit_test(test_hostile_bodies),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_job_json),
        cmocka_unit_test(test_parse_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
