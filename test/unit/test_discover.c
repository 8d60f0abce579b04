/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests of pt_discover: each scheme found, the hint it gives, no
 * match, headers that hold no signature, and the bounds on the work. */

#include "pt_discover.h"
#include "tap.h"

#include <apr_base64.h>
#include <apr_escape.h>
#include <apr_general.h>
#include <apr_strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define BODY "{\"changeType\":\"Delete\",\"data\":{\"id\":1,\"changeVersion\":\"a\"}}"
#define KEY "test-key-one"

static apr_pool_t *pool;

/* HMAC of data with KEY, hex or base64. */
static const char *mac(const EVP_MD *md, const char *data, int hex)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char *b64;

    HMAC(md, KEY, (int)strlen(KEY), (const unsigned char *)data,
         strlen(data), out, &len);
    if (hex)
        return apr_pescape_hex(pool, out, len, 0);
    b64 = apr_palloc(pool, apr_base64_encode_len((int)len));
    apr_base64_encode_binary(b64, out, (int)len);
    return b64;
}

/* The request headers every delivery has, and then name: value pairs. */
static apr_table_t *headers(const char *name, const char *value, ...)
{
    apr_table_t *t = apr_table_make(pool, 8);
    va_list ap;

    apr_table_setn(t, "Host", "hooks.example.com");
    apr_table_setn(t, "Content-Type", "application/json");
    apr_table_setn(t, "Content-Length", "60");
    va_start(ap, value);
    while (name) {
        apr_table_addn(t, name, value);
        name = va_arg(ap, const char *);
        if (name)
            value = va_arg(ap, const char *);
    }
    va_end(ap);
    return t;
}

static pt_key_t keys[PT_DISCOVER_MAX_KEYS + 2];
static int nkeys;

/* The hint for a request with these headers and BODY, "(no candidate)"
 * when the scan finds none, "(no match)" when none verifies. */
static const char *hint_of(apr_table_t *t, const char *body, int *hmacs)
{
    pt_discover_t *d = pt_discover_scan(pool, apr_table_elts(t));
    const char *hint;

    if (!d)
        return "(no candidate)";
    hint = pt_discover_try(d, body, strlen(body), keys, nkeys, hmacs);
    return hint ? hint : "(no match)";
}

static void use_key(const char *text)
{
    keys[0].bytes = (const unsigned char *)text;
    keys[0].len = strlen(text);
    nkeys = 1;
}

static void test_body_forms(void)
{
    const char *sig;

    use_key(KEY);
    sig = mac(EVP_sha256(), BODY, 1);
    is_str(hint_of(headers("X-Hub-Signature-256",
                           apr_pstrcat(pool, "sha256=", sig, NULL), NULL),
                   BODY, NULL),
           "ProtimeSignatureHeader X-Hub-Signature-256, "
           "ProtimeSignatureEncoding hex, ProtimeSignatureAlgorithm sha256",
           "hex SHA-256 after sha256=, GitHub's form");
    is_str(hint_of(headers("X-Signature", mac(EVP_sha512(), BODY, 0), NULL),
                   BODY, NULL),
           "ProtimeSignatureHeader X-Signature, "
           "ProtimeSignatureEncoding base64, ProtimeSignatureAlgorithm sha512",
           "base64 SHA-512");
    is_str(hint_of(headers("X-Sig", apr_pstrcat(pool, "sha512=",
                                                mac(EVP_sha512(), BODY, 1),
                                                NULL), NULL),
                   BODY, NULL),
           "ProtimeSignatureHeader X-Sig, "
           "ProtimeSignatureEncoding hex, ProtimeSignatureAlgorithm sha512",
           "hex SHA-512 after sha512=");
    is_str(hint_of(headers("X-Sig", apr_pstrcat(pool, "v1=", sig, NULL),
                           NULL), BODY, NULL),
           "HMAC-SHA256 over the body, signature in X-Sig (hex, in a "
           "\"v1=\" entry): not supported by a directive yet",
           "a v1= prefix, which ProtimeSignatureHeader does not strip, is "
           "said to be unsupported");
    is_str(hint_of(headers("X-Sig", mac(EVP_sha256(), "", 1), NULL), "",
                   NULL),
           "ProtimeSignatureHeader X-Sig, ProtimeSignatureEncoding hex, "
           "ProtimeSignatureAlgorithm sha256", "an empty body");
}

static void test_timestamp_forms(void)
{
    const char *signed_ = "1700000000." BODY;

    use_key(KEY);
    is_str(hint_of(headers("Stripe-Signature",
                           apr_pstrcat(pool, "t=1700000000,v1=",
                                       mac(EVP_sha256(), signed_, 1),
                                       ",v0=00", NULL), NULL), BODY, NULL),
           "HMAC-SHA256 over timestamp.body, signature in Stripe-Signature "
           "(hex, in a t=...,v1=... header), timestamp from the t= part of "
           "Stripe-Signature: not supported by a directive yet",
           "t=...,v1=... (Stripe's form)");
    is_str(hint_of(headers("X-Request-TIMESTAMP", "1700000000",
                           "X-Signature", mac(EVP_sha512(), signed_, 0),
                           NULL), BODY, NULL),
           "HMAC-SHA512 over timestamp.body, signature in X-Signature "
           "(base64), timestamp header X-Request-TIMESTAMP: not supported by "
           "a directive yet", "timestamp from a *-Timestamp header");
    is_str(hint_of(headers("X-Signature", mac(EVP_sha256(), signed_, 0),
                           NULL), BODY, NULL),
           "(no match)", "no timestamp in the request: no match");
}

/* The example of the Standard Webhooks specification
 * (github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md
 * and its libraries' tests). */
static void test_standard_webhooks(void)
{
    static const char secret[] = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    static const char body[] = "{\"test\": 2432232314}";
    static const char sig[] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    unsigned char *bytes = apr_palloc(pool, apr_base64_decode_len(secret));

    keys[0].len = apr_base64_decode_binary(bytes, secret);
    keys[0].bytes = bytes;
    nkeys = 1;
    is_str(hint_of(headers("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                           "webhook-timestamp", "1614265330",
                           "webhook-signature", sig, NULL), body, NULL),
           "ProtimeSignatureScheme standard-webhooks",
           "the specification's example");
    is_str(hint_of(headers("Webhook-Id", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                           "Webhook-Timestamp", "1614265330",
                           "Webhook-Signature",
                           apr_pstrcat(pool, "v1,Kdh3t4Ex0e2Tdb5vZF6Da0Z9C"
                                       "fDeLzmFqdJ5ZOdCm8s= ", sig, NULL),
                           NULL), body, NULL),
           "ProtimeSignatureScheme standard-webhooks",
           "any of several space-separated entries, header names in any "
           "case");
    is_str(hint_of(headers("webhook-id", "msg_other",
                           "webhook-timestamp", "1614265330",
                           "webhook-signature", sig, NULL), body, NULL),
           "(no match)", "another message id: no match");
}

static void test_no_match(void)
{
    const char *sig;
    int hmacs = -1;

    use_key("not-the-key");
    sig = mac(EVP_sha256(), BODY, 1);
    is_str(hint_of(headers("X-Hub-Signature-256", sig, NULL), BODY, &hmacs),
           "(no match)", "signed with another key: no match");
    is_int(hmacs, 1, "one HMAC: one candidate, one key, the body alone");
    nkeys = 0;
    is_str(hint_of(headers("X-Hub-Signature-256", sig, NULL), BODY, &hmacs),
           "(no match)", "no key: no match");
    is_int(hmacs, 0, "no key: no HMAC");
}

static void test_no_candidate(void)
{
    use_key(KEY);
    is_str(hint_of(headers(NULL, NULL), BODY, NULL), "(no candidate)",
           "an unsigned request has no candidate");
    is_str(hint_of(headers("X-Protime-Signature", "!!not base64!!",
                           "X-Other", "sha256=abcd",
                           /* 48 bytes: no digest's length */
                           "X-Long", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUZHSElKS0xNTk9QUVJTVFVW",
                           "X-Commas", ",,, , v1=, v1,",
                           "X-Timestamp", "1700000000", NULL),
                   BODY, NULL),
           "(no candidate)", "garbage headers have no candidate");
}

static void test_hint_is_not_secret(void)
{
    const char *sig, *hint;

    use_key(KEY);
    sig = mac(EVP_sha256(), BODY, 0);
    hint = hint_of(headers("X-Signature", sig, NULL), BODY, NULL);
    ok(!strstr(hint, sig) && !strstr(hint, KEY),
       "the hint names neither the signature nor the key: %s", hint);
}

static void test_bounds(void)
{
    apr_table_t *t = headers(NULL, NULL);
    const char *sig, *bad = mac(EVP_sha256(), "other", 1);
    pt_discover_t *d;
    int i, hmacs = 0;

    use_key(KEY);
    sig = mac(EVP_sha256(), BODY, 1);
    for (i = 0; i < PT_DISCOVER_MAX_CANDIDATES; i++)
        apr_table_addn(t, apr_psprintf(pool, "X-Bad-%d", i), bad);
    apr_table_addn(t, "X-Good", sig);
    d = pt_discover_scan(pool, apr_table_elts(t));
    is_int(pt_discover_candidates(d), PT_DISCOVER_MAX_CANDIDATES,
           "at most %d candidates are kept", PT_DISCOVER_MAX_CANDIDATES);
    is_str(pt_discover_try(d, BODY, strlen(BODY), keys, nkeys, &hmacs), NULL,
           "a signature after them is not tried");

    /* Two timestamps and a webhook-id: four contents, the most there are. */
    t = headers("A-Timestamp", "1", "B-Timestamp", "2", "C-Timestamp", "3",
                "webhook-id", "x", "webhook-timestamp", "4", NULL);
    for (i = 0; i < 2 * PT_DISCOVER_MAX_CANDIDATES; i++)
        apr_table_addn(t, apr_psprintf(pool, "X-Bad-%d", i), bad);
    for (i = 0; i < PT_DISCOVER_MAX_KEYS + 2; i++) {
        keys[i].bytes = (const unsigned char *)"k";
        keys[i].len = 1;
    }
    nkeys = PT_DISCOVER_MAX_KEYS + 2;
    is_str(hint_of(t, BODY, &hmacs), "(no match)", "many candidates, "
           "timestamps and keys: no match");
    is_int(hmacs, PT_DISCOVER_MAX_CANDIDATES * (2 + PT_DISCOVER_MAX_TIMESTAMPS)
                  * PT_DISCOVER_MAX_KEYS,
           "the HMACs are bounded by candidates x contents x keys");

    keys[PT_DISCOVER_MAX_KEYS].bytes = (const unsigned char *)KEY;
    keys[PT_DISCOVER_MAX_KEYS].len = strlen(KEY);
    is_str(hint_of(headers("X-Good", sig, NULL), BODY, NULL), "(no match)",
           "keys after the first %d are not tried", PT_DISCOVER_MAX_KEYS);

    t = headers(NULL, NULL);
    for (i = apr_table_elts(t)->nelts; i < PT_DISCOVER_MAX_HEADERS; i++)
        apr_table_addn(t, apr_psprintf(pool, "X-Filler-%d", i), "-");
    apr_table_addn(t, "X-Good", sig);
    is_str(hint_of(t, BODY, NULL), "(no candidate)",
           "headers after the first %d are not looked at",
           PT_DISCOVER_MAX_HEADERS);
    use_key(KEY);
    is_str(hint_of(headers(apr_pstrcat(pool, "X-",
                                       apr_psprintf(pool, "%070d", 0), NULL),
                           sig, NULL), BODY, NULL), "(no candidate)",
           "nor headers with names longer than a hint has room for");
    is_str(hint_of(headers("X-Sig\xc3\xa9", sig, NULL), BODY, NULL),
           "(no candidate)", "nor headers with names outside ASCII");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_body_forms();
    test_timestamp_forms();
    test_standard_webhooks();
    test_no_match();
    test_no_candidate();
    test_hint_is_not_secret();
    test_bounds();
    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
