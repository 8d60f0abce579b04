/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests of pt_sig: key and header decoding, HMAC, verification, and
 * the Standard Webhooks scheme. */

#include "pt_sig.h"
#include "tap.h"

#include <apr_base64.h>
#include <apr_escape.h>
#include <apr_general.h>
#include <apr_strings.h>

/* RFC 4231 test case 2. */
#define JEFE_DATA "what do ya want for nothing?"
#define JEFE_256_HEX \
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
#define JEFE_256_B64 "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
#define JEFE_512_HEX \
    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554" \
    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
#define JEFE_512_B64 \
    "Fkt6e/z4GeLjlfvnO1bgo4e9ZCIugx/WECcM1+olBVSXWL91wFqZSm0DT2X48Ob9" \
    "yuqxo01Ka0tjbgcKOLznNw=="

/* The test vector of the Standard Webhooks specification and of its
 * reference libraries (standard-webhooks/standard-webhooks). */
#define SWH_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SWH_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SWH_TIMESTAMP "1614265330"
#define SWH_BODY "{\"test\": 2432232314}"
#define SWH_SIG_B64 "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static apr_pool_t *pool;

static const char *hex(const unsigned char *bytes, apr_size_t len)
{
    return apr_pescape_hex(pool, bytes, len, 0);
}

/* Decodes a header value and returns its hex form, or the error prefixed
 * with "!", so one is_str() checks both outcome and bytes. */
static const char *hdr(const char *value, pt_hash_t alg, pt_encoding_t enc)
{
    unsigned char out[PT_SIG_MAX_LEN];
    apr_size_t len = 0;
    const char *err = pt_sig_decode_header(value, alg, enc, out, &len);

    if (err) {
        return apr_pstrcat(pool, "!", err, NULL);
    }
    return hex(out, len);
}

/* Decodes key text and returns the key bytes as hex, or "!" and the error. */
static const char *key(const char *text, pt_encoding_t enc)
{
    pt_key_t k;
    const char *err = pt_sig_decode_key(pool, text, enc, &k);

    if (err) {
        return apr_pstrcat(pool, "!", err, NULL);
    }
    return hex(k.bytes, k.len);
}

static void test_keys(void)
{
    is_str(key("Jefe", PT_ENC_RAW), "4a656665", "raw key is its bytes");
    is_str(key(" a ", PT_ENC_RAW), "206120", "raw key keeps blanks");
    is_str(key("SmVmZQ==", PT_ENC_BASE64), "4a656665", "base64 key");
    is_str(key("SmVmZQ", PT_ENC_BASE64), "4a656665", "unpadded base64 key");
    is_str(key("4a656665", PT_ENC_HEX), "4a656665", "hex key");
    is_str(key("4A656665", PT_ENC_HEX), "4a656665", "upper-case hex key");
    is_str(key("", PT_ENC_RAW), "!the key is empty", "empty raw key");
    is_str(key("", PT_ENC_BASE64), "!the key is empty", "empty base64 key");
    is_str(key("", PT_ENC_HEX), "!the key is empty", "empty hex key");
    is_str(key("SmVmZQ=", PT_ENC_BASE64), "!the key is not valid base64",
           "base64 key with short padding");
    is_str(key("SmVm!Q==", PT_ENC_BASE64), "!the key is not valid base64",
           "base64 key with a bad character");
    is_str(key("SmVmZQ== ", PT_ENC_BASE64), "!the key is not valid base64",
           "base64 key with a trailing blank");
    is_str(key("4a65666", PT_ENC_HEX), "!the key is not valid hex",
           "odd-length hex key");
    is_str(key("4a65666g", PT_ENC_HEX), "!the key is not valid hex",
           "hex key with a bad character");
}

/* Whether the digest given in hex is key's HMAC of data: pt_sig_verify
 * accepts it. */
static int signs(pt_hash_t alg, const pt_key_t *k, const char *data,
                 apr_size_t len, const char *digest_hex)
{
    unsigned char sig[PT_SIG_MAX_LEN];
    apr_size_t sig_len = 0;

    return !pt_sig_decode_header(digest_hex, alg, PT_ENC_HEX, sig, &sig_len)
           && pt_sig_verify(alg, k, 1, data, len, sig, sig_len) == 0;
}

static void test_hmac(void)
{
    pt_key_t k;

    pt_sig_decode_key(pool, "Jefe", PT_ENC_RAW, &k);
    ok(signs(PT_HASH_SHA256, &k, JEFE_DATA, strlen(JEFE_DATA), JEFE_256_HEX),
       "RFC 4231 case 2, HMAC-SHA256");
    ok(signs(PT_HASH_SHA512, &k, JEFE_DATA, strlen(JEFE_DATA), JEFE_512_HEX),
       "RFC 4231 case 2, HMAC-SHA512");
    ok(!signs(PT_HASH_SHA256, &k, JEFE_DATA, strlen(JEFE_DATA),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3844"),
       "a digest one bit off is refused");
    ok(signs(PT_HASH_SHA256, &k, NULL, 0,
             "923598ca6d64af2a5dba79dcd021a8a0fe5c5f557519adaaf0ad532d4506dd30"),
       "HMAC of an empty body given as NULL");

    /* RFC 4231 test case 1: a binary key given as hex. */
    pt_sig_decode_key(pool, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
                      PT_ENC_HEX, &k);
    ok(signs(PT_HASH_SHA256, &k, "Hi There", 8,
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
       "RFC 4231 case 1 with a hex key");
}

static void test_header(void)
{
    const pt_hash_t s256 = PT_HASH_SHA256, s512 = PT_HASH_SHA512;
    const pt_encoding_t b64 = PT_ENC_BASE64, hex = PT_ENC_HEX;

    is_str(hdr(JEFE_256_B64, s256, b64), JEFE_256_HEX, "base64 header");
    is_str(hdr("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM", s256, b64),
           JEFE_256_HEX, "unpadded base64 header");
    is_str(hdr(JEFE_512_B64, s512, b64), JEFE_512_HEX, "SHA-512 base64");
    is_str(hdr("sha256=" JEFE_256_B64, s256, b64), JEFE_256_HEX,
           "sha256= prefix");
    is_str(hdr("SHA256=" JEFE_256_B64, s256, b64), JEFE_256_HEX,
           "SHA256= prefix");
    is_str(hdr("sha512=" JEFE_256_B64, s256, b64), JEFE_256_HEX,
           "sha512= prefix with SHA-256");
    is_str(hdr("Sha256=" JEFE_512_HEX, s512, hex), JEFE_512_HEX,
           "sha256= prefix with SHA-512");
    is_str(hdr(" \t" JEFE_256_B64 "\t ", s256, b64), JEFE_256_HEX,
           "surrounding blanks");
    is_str(hdr("  sha256=" JEFE_256_HEX "  ", s256, hex), JEFE_256_HEX,
           "blanks around a prefixed value");
    is_str(hdr(JEFE_256_HEX, s256, hex), JEFE_256_HEX, "lower-case hex");
    is_str(hdr("5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843",
               s256, hex), JEFE_256_HEX, "upper-case hex");

    is_str(hdr("", s256, b64), "!the signature is empty", "empty header");
    is_str(hdr(" \t ", s256, b64), "!the signature is empty", "blank header");
    is_str(hdr("sha256=", s256, b64), "!the signature is empty",
           "prefix alone");
    is_str(hdr("sha256=sha256=" JEFE_256_B64, s256, b64),
           "!the signature is not valid base64", "only one prefix is removed");
    is_str(hdr("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOE*=", s256, b64),
           "!the signature is not valid base64", "bad base64 character");
    is_str(hdr("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM==", s256, b64),
           "!the signature is not valid base64", "too much padding");
    is_str(hdr("Fkt6e/z4GeLjlfvnO1bgo4e9ZCIugx/WECcM1+olBVSXWL91wFqZSm0DT2X48Ob9"
               "yuqxo01Ka0tjbgcKOLznNw=", s512, b64),
           "!the signature is not valid base64", "too little padding");
    is_str(hdr("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmD=nexYuWTsOEM", s256, b64),
           "!the signature is not valid base64", "padding in the middle");
    is_str(hdr("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEN=", s256, b64),
           "!the signature is not valid base64", "non-zero trailing bits");
    is_str(hdr("W9zBRr9gdU5qBCQm CJV1x1oAPwidJzmDnexYuWTsOEM=", s256, b64),
           "!the signature is not valid base64", "blank inside");
    is_str(hdr("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=", s256, hex),
           "!the signature is not valid hex", "base64 where hex is expected");
    is_str(hdr(JEFE_256_HEX "0", s256, hex), "!the signature is not valid hex",
           "odd-length hex");
    is_str(hdr(JEFE_256_B64, s512, b64), "!the signature has the wrong length",
           "SHA-256 signature for SHA-512");
    is_str(hdr(JEFE_512_B64, s256, b64), "!the signature has the wrong length",
           "SHA-512 signature for SHA-256");
    is_str(hdr(JEFE_256_HEX "00", s256, hex),
           "!the signature has the wrong length", "hex one byte too long");
    is_str(hdr(JEFE_256_B64, s256, PT_ENC_RAW),
           "!unsupported signature encoding", "raw is not a header encoding");
}

static void test_verify(void)
{
    unsigned char sig[PT_SIG_MAX_LEN];
    apr_size_t len;
    pt_key_t keys[3];

    pt_sig_decode_key(pool, "not Jefe", PT_ENC_RAW, &keys[0]);
    pt_sig_decode_key(pool, "Jefe", PT_ENC_RAW, &keys[1]);
    pt_sig_decode_key(pool, "SmVmZQ==", PT_ENC_BASE64, &keys[2]);

    pt_sig_decode_header(JEFE_256_B64, PT_HASH_SHA256, PT_ENC_BASE64,
                         sig, &len);
    is_int(pt_sig_verify(PT_HASH_SHA256, keys + 1, 1, JEFE_DATA,
                         strlen(JEFE_DATA), sig, len), 0, "single key matches");
    is_int(pt_sig_verify(PT_HASH_SHA256, keys, 3, JEFE_DATA,
                         strlen(JEFE_DATA), sig, len), 1,
           "second key matches, first match wins");
    is_int(pt_sig_verify(PT_HASH_SHA256, keys, 1, JEFE_DATA,
                         strlen(JEFE_DATA), sig, len), -1, "wrong key");
    is_int(pt_sig_verify(PT_HASH_SHA256, keys, 0, JEFE_DATA,
                         strlen(JEFE_DATA), sig, len), -1, "no keys");
    is_int(pt_sig_verify(PT_HASH_SHA256, keys, 3, JEFE_DATA,
                         strlen(JEFE_DATA) - 1, sig, len), -1,
           "truncated body");
    is_int(pt_sig_verify(PT_HASH_SHA512, keys, 3, JEFE_DATA,
                         strlen(JEFE_DATA), sig, len), -1,
           "SHA-256 signature checked as SHA-512");
    is_int(pt_sig_verify(PT_HASH_SHA256, keys, 3, JEFE_DATA,
                         strlen(JEFE_DATA), sig, len - 1), -1,
           "short signature");
    sig[31] ^= 0x01;
    is_int(pt_sig_verify(PT_HASH_SHA256, keys, 3, JEFE_DATA,
                         strlen(JEFE_DATA), sig, len), -1, "tampered last byte");
    sig[31] ^= 0x01;
    sig[0] ^= 0x80;
    is_int(pt_sig_verify(PT_HASH_SHA256, keys, 3, JEFE_DATA,
                         strlen(JEFE_DATA), sig, len), -1,
           "tampered first byte");

    pt_sig_decode_header("sha512=" JEFE_512_HEX, PT_HASH_SHA512, PT_ENC_HEX,
                         sig, &len);
    is_int(pt_sig_verify(PT_HASH_SHA512, keys, 3, JEFE_DATA,
                         strlen(JEFE_DATA), sig, len), 1, "SHA-512 in hex");
}

/* Decodes key text as the scheme takes it: hex bytes, or "!" and the
 * error. */
static const char *scheme_key(const char *text, pt_scheme_t scheme,
                              pt_encoding_t enc)
{
    pt_key_t k;
    const char *err = pt_sig_decode_scheme_key(pool, text, scheme, enc, &k);

    if (err) {
        return apr_pstrcat(pool, "!", err, NULL);
    }
    return hex(k.bytes, k.len);
}

static void test_swh_keys(void)
{
    const char *bytes = scheme_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                   PT_SCHEME_HMAC_BODY, PT_ENC_BASE64);

    is_str(scheme_key(SWH_SECRET, PT_SCHEME_STANDARD_WEBHOOKS, PT_ENC_RAW),
           bytes, "whsec_ key: the base64 after the prefix, key encoding raw");
    is_str(scheme_key(SWH_SECRET, PT_SCHEME_STANDARD_WEBHOOKS,
                      PT_ENC_BASE64), bytes,
           "whsec_ key: the base64 after the prefix, key encoding base64");
    is_str(scheme_key(SWH_SECRET, PT_SCHEME_HMAC_BODY, PT_ENC_RAW),
           hex((const unsigned char *)SWH_SECRET, strlen(SWH_SECRET)),
           "hmac-body: a whsec_ key is raw text as before");
    is_str(scheme_key("Jefe", PT_SCHEME_STANDARD_WEBHOOKS, PT_ENC_RAW),
           "4a656665", "standard-webhooks: a raw key is its bytes");
    is_str(scheme_key("SmVmZQ==", PT_SCHEME_STANDARD_WEBHOOKS,
                      PT_ENC_BASE64), "4a656665",
           "standard-webhooks: a base64 key without prefix");
    is_str(scheme_key("whsec_", PT_SCHEME_STANDARD_WEBHOOKS, PT_ENC_RAW),
           "!the key is empty", "whsec_ alone is an empty key");
    is_str(scheme_key("whsec_not*base64", PT_SCHEME_STANDARD_WEBHOOKS,
                      PT_ENC_RAW), "!the key is not valid base64",
           "whsec_ with no base64 after it");
}

static void test_swh_sign(void)
{
    unsigned char mac[PT_SWH_SIG_LEN];
    char b64[64];
    pt_key_t k;

    pt_sig_decode_scheme_key(pool, SWH_SECRET, PT_SCHEME_STANDARD_WEBHOOKS,
                             PT_ENC_RAW, &k);
    ok(pt_sig_swh_sign(&k, SWH_ID, SWH_TIMESTAMP, SWH_BODY,
                       strlen(SWH_BODY), mac), "test vector: signs");
    apr_base64_encode_binary(b64, mac, sizeof(mac));
    is_str(apr_pstrcat(pool, "v1,", b64, NULL), "v1," SWH_SIG_B64,
           "test vector: the published signature");

    pt_sig_decode_key(pool, "Jefe", PT_ENC_RAW, &k);
    ok(pt_sig_swh_sign(&k, "", "", NULL, 0, mac), "empty id and body sign");
    /* HMAC-SHA256("Jefe", "..") */
    is_str(hex(mac, sizeof(mac)),
           "33875df095f379dd5896f16ea925b42a1e29e57d20fc7f73140e7fd8d2da1ee2",
           "empty id, timestamp and body: HMAC of \"..\"");
}

/* How many signatures a webhook-signature header yields. */
static int nsigs(const char *value)
{
    return pt_sig_swh_parse(pool, value)->nelts;
}

static void test_swh_parse(void)
{
    apr_array_header_t *sigs = pt_sig_swh_parse(pool, "v1," SWH_SIG_B64);

    is_int(sigs->nelts, 1, "one v1 signature");
    is_str(hex((unsigned char *)sigs->elts, PT_SWH_SIG_LEN),
           "83484cf52b04f8e4cf2531adfed9882ad4b2665137b852442d594d20e2c9d4e1",
           "its bytes");
    is_int(nsigs("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE"), 1,
           "padding optional");
    is_int(nsigs("v1,bm9wZQ== v1," SWH_SIG_B64 " v1a,abc v2," SWH_SIG_B64),
           1, "a short v1, a v1a and a v2 entry are skipped");
    is_int(nsigs("  v1," SWH_SIG_B64 "   v1," SWH_SIG_B64 " "), 2,
           "several blanks between entries");
    is_int(nsigs(""), 0, "empty header");
    is_int(nsigs(SWH_SIG_B64), 0, "no version");
    is_int(nsigs("V1," SWH_SIG_B64), 0, "the version is lower case");
    is_int(nsigs("v1," SWH_SIG_B64 ","), 0, "a trailing comma");
    is_int(nsigs("v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE="), 0,
           "URL-safe base64 is not the scheme's");
}

static void test_swh_verify(void)
{
    const char *body = SWH_BODY;
    apr_size_t len = strlen(body);
    apr_array_header_t *one = pt_sig_swh_parse(pool, "v1," SWH_SIG_B64);
    apr_array_header_t *several = pt_sig_swh_parse(pool,
        "v1,Zm9yZ2VkIHNpZ25hdHVyZSBvZiAzMiBieXRlcyEhISE= v1," SWH_SIG_B64);
    apr_array_header_t *none = pt_sig_swh_parse(pool,
        "v1,Zm9yZ2VkIHNpZ25hdHVyZSBvZiAzMiBieXRlcyEhISE=");
    pt_key_t keys[2];

    pt_sig_decode_key(pool, "another key", PT_ENC_RAW, &keys[0]);
    pt_sig_decode_scheme_key(pool, SWH_SECRET, PT_SCHEME_STANDARD_WEBHOOKS,
                             PT_ENC_RAW, &keys[1]);

    is_int(pt_sig_swh_verify(keys, 2, SWH_ID, SWH_TIMESTAMP, body, len, one),
           1, "test vector verifies with the second key");
    is_int(pt_sig_swh_verify(keys, 1, SWH_ID, SWH_TIMESTAMP, body, len, one),
           -1, "wrong key");
    is_int(pt_sig_swh_verify(keys, 2, SWH_ID, SWH_TIMESTAMP, body, len,
                             several), 1, "several signatures, one valid");
    is_int(pt_sig_swh_verify(keys, 2, SWH_ID, SWH_TIMESTAMP, body, len,
                             none), -1, "several signatures, none valid");
    is_int(pt_sig_swh_verify(keys, 2, SWH_ID, SWH_TIMESTAMP, body, len - 1,
                             one), -1, "truncated body");
    is_int(pt_sig_swh_verify(keys, 2, "msg_other", SWH_TIMESTAMP, body, len,
                             one), -1, "another webhook-id");
    is_int(pt_sig_swh_verify(keys, 2, SWH_ID, "1614265331", body, len, one),
           -1, "another timestamp");
    is_int(pt_sig_swh_verify(keys, 2, SWH_ID ".1614265330", "", body, len,
                             one), -1, "the dot moved: id and timestamp "
           "are not just concatenated with the body");
    is_int(pt_sig_swh_verify(keys, 0, SWH_ID, SWH_TIMESTAMP, body, len, one),
           -1, "no keys");
}

static void test_swh_time(void)
{
    apr_time_t now = apr_time_from_sec(1614265330);
    apr_interval_time_t tol = apr_time_from_sec(300);

    is_int(pt_sig_swh_check_time("1614265330", now, tol), PT_SWH_TIME_OK,
           "now");
    is_int(pt_sig_swh_check_time("1614265030", now, tol), PT_SWH_TIME_OK,
           "tolerance before");
    is_int(pt_sig_swh_check_time("1614265630", now, tol), PT_SWH_TIME_OK,
           "tolerance after");
    is_int(pt_sig_swh_check_time("1614265029", now, tol),
           PT_SWH_TIME_OUTSIDE, "a second too old");
    is_int(pt_sig_swh_check_time("1614265631", now, tol),
           PT_SWH_TIME_OUTSIDE, "a second too new");
    is_int(pt_sig_swh_check_time("99999999999999999999999", now, tol),
           PT_SWH_TIME_OUTSIDE, "beyond 64 bits");
    is_int(pt_sig_swh_check_time("", now, tol),
           PT_SWH_TIME_INVALID, "empty");
    is_int(pt_sig_swh_check_time("-1614265330", now, tol),
           PT_SWH_TIME_INVALID, "a sign");
    is_int(pt_sig_swh_check_time("1614265330.5", now, tol),
           PT_SWH_TIME_INVALID, "a fraction");
    is_int(pt_sig_swh_check_time("2021-02-25T15:02:10Z", now, tol),
           PT_SWH_TIME_INVALID, "a date");
}

int main(int argc, const char *const *argv)
{
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);

    test_keys();
    test_hmac();
    test_header();
    test_verify();
    test_swh_keys();
    test_swh_sign();
    test_swh_parse();
    test_swh_verify();
    test_swh_time();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
