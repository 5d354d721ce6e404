/*
 * The test-only PKI shared by the TLS suites (test_net_tls, test_multi_tls):
 * generated for corio's tests, valid until 2126; the keys are public: never
 * trust them anywhere else. CA: "corio test CA"; server: CN=localhost, SAN
 * DNS:localhost, IP:127.0.0.1. Static data: each including file gets its
 * own copy, which is what a test binary wants.
 */
#ifndef CORIO_TEST_PKI_H
#define CORIO_TEST_PKI_H

static const char TEST_CA_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhzCCAS2gAwIBAgIUMfK1mkDMFFhaWbemotjvIk1fscowCgYIKoZIzj0EAwIw\n"
    "GDEWMBQGA1UEAwwNY29yaW8gdGVzdCBDQTAgFw0yNjExMjMwNjAyMjlaGA8yMTI2\n"
    "MTAzMDA2MDIyOVowGDEWMBQGA1UEAwwNY29yaW8gdGVzdCBDQTBZMBMGByqGSM49\n"
    "AgEGCCqGSM49AwEHA0IABEcJnrT43g8AL1PtS9Bz6B79op4SllQktwI2xY5Tzo6s\n"
    "UVOLWuwlncXGgVUTj/0Ytn0sNkdLuQ+itUHCsfV3x8KjUzBRMB0GA1UdDgQWBBQ7\n"
    "rLatRP8qEf/bLeyR3N+ASku1TzAfBgNVHSMEGDAWgBQ7rLatRP8qEf/bLeyR3N+A\n"
    "Sku1TzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIEKyTwXSkcZ5\n"
    "cZQ3AOR0IqjMKtFMqvmyw4TE68lqseOTAiEAtD6rapti/LkgRukhTRsE8C0YZ3UO\n"
    "GEerx9uqQVXnKyU=\n"
    "-----END CERTIFICATE-----\n";
static const char TEST_SERVER_CERT_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBxzCCAW2gAwIBAgIUNiyDEgvuL9ajKJ1K/9qz1HGzLg4wCgYIKoZIzj0EAwIw\n"
    "GDEWMBQGA1UEAwwNY29yaW8gdGVzdCBDQTAgFw0yNjExMjMwNjAyMjlaGA8yMTI2\n"
    "MTAzMDA2MDIyOVowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYI\n"
    "KoZIzj0DAQcDQgAET3/gwf6mjpBVSXGR0hQlCbrhxvr7QsKRe/gUE4I3UifzPBcr\n"
    "fkyAviUm/5J8+5HFJIKc9opBX5i3N86CPacKo6OBljCBkzAaBgNVHREEEzARggls\n"
    "b2NhbGhvc3SHBH8AAAEwCQYDVR0TBAIwADALBgNVHQ8EBAMCB4AwHQYDVR0lBBYw\n"
    "FAYIKwYBBQUHAwEGCCsGAQUFBwMCMB0GA1UdDgQWBBTqqsy9NHne4+pfFMtX51YQ\n"
    "QE3SjDAfBgNVHSMEGDAWgBQ7rLatRP8qEf/bLeyR3N+ASku1TzAKBggqhkjOPQQD\n"
    "AgNIADBFAiBWkIfxwDzQzn4mumR8vTa9lHiJnYz3PsUGc+2cRTceNQIhAPUgCgN4\n"
    "XvhZ89wp5QlOC64njTw4OnSVVyzmpc+KpQAq\n"
    "-----END CERTIFICATE-----\n";
static const char TEST_SERVER_KEY_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyM9j+B8rgabKn1q4\n"
    "JkE7kDxEdOm05s9sHoFUss8BmnShRANCAARPf+DB/qaOkFVJcZHSFCUJuuHG+vtC\n"
    "wpF7+BQTgjdSJ/M8Fyt+TIC+JSb/knz7kcUkgpz2ikFfmLc3zoI9pwqj\n"
    "-----END PRIVATE KEY-----\n";

#endif
