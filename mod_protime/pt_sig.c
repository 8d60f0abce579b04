/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_sig: HMAC signatures of webhook deliveries (see pt_sig.h). */

#include "pt_sig.h"

#include <apr_base64.h>
#include <apr_cstr.h>
#include <apr_escape.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <errno.h>
#include <string.h>

/* The prefix of a Standard Webhooks key: "whsec_" and the key in base64. */
#define PT_SWH_KEY_PREFIX "whsec_"

static const EVP_MD *pt_sig_md(pt_hash_t alg)
{
    return alg == PT_HASH_SHA512 ? EVP_sha512() : EVP_sha256();
}

static apr_size_t pt_sig_digest_len(pt_hash_t alg)
{
    return (apr_size_t)EVP_MD_size(pt_sig_md(alg));
}

static int pt_sig_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

/* apr_base64_decode() stops quietly at the first character outside the
 * alphabet and ignores wrong padding, so the text is checked here first.
 * Returns the decoded length, or 0 if s[0..len) is not strict base64. */
static apr_size_t pt_sig_b64_check(const char *s, apr_size_t len)
{
    apr_size_t n = 0, pad;
    int last;

    while (n < len && pt_sig_b64_value(s[n]) >= 0) {
        ++n;
    }
    for (pad = 0; n + pad < len && s[n + pad] == '='; ++pad)
        ;
    if (n == 0 || n + pad != len || n % 4 == 1) {
        return 0;
    }
    if (pad && (pad > 2 || (n + pad) % 4 != 0)) {
        return 0;
    }
    /* Bits left over in the last character must be zero, otherwise several
     * texts would decode to the same bytes; no encoder produces them. */
    last = pt_sig_b64_value(s[n - 1]);
    if ((n % 4 == 2 && (last & 0x0f)) || (n % 4 == 3 && (last & 0x03))) {
        return 0;
    }
    return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

/* Returns the decoded length, or 0 if s[0..len) is not strict hex. */
static apr_size_t pt_sig_hex_check(const char *s, apr_size_t len)
{
    apr_size_t i;

    if (len == 0 || len % 2) {
        return 0;
    }
    for (i = 0; i < len; ++i) {
        if (!apr_isxdigit(s[i])) {
            return 0;
        }
    }
    return len / 2;
}

const char *pt_sig_decode_key(apr_pool_t *p, const char *text,
                              pt_encoding_t enc, pt_key_t *out)
{
    apr_size_t len = strlen(text), n;
    unsigned char *bytes;

    if (len == 0) {
        return "the key is empty";
    }
    switch (enc) {
    case PT_ENC_RAW:
        out->bytes = (const unsigned char *)apr_pstrmemdup(p, text, len);
        out->len = len;
        return NULL;
    case PT_ENC_BASE64:
        if (!pt_sig_b64_check(text, len)) {
            return "the key is not valid base64";
        }
        bytes = apr_palloc(p, apr_base64_decode_len(text));
        out->len = apr_base64_decode_binary(bytes, text);
        out->bytes = bytes;
        return NULL;
    case PT_ENC_HEX:
        if ((n = pt_sig_hex_check(text, len)) == 0) {
            return "the key is not valid hex";
        }
        bytes = apr_palloc(p, n);
        apr_unescape_hex(bytes, text, len, 0, NULL);
        out->bytes = bytes;
        out->len = n;
        return NULL;
    }
    return "unknown key encoding";
}

const char *pt_sig_decode_header(const char *value, pt_hash_t alg,
                                 pt_encoding_t enc, unsigned char *out,
                                 apr_size_t *out_len)
{
    apr_size_t want = pt_sig_digest_len(alg), len;
    const char *end;

    while (*value == ' ' || *value == '\t') {
        ++value;
    }
    if (apr_cstr_casecmpn(value, "sha256=", 7) == 0
        || apr_cstr_casecmpn(value, "sha512=", 7) == 0) {
        value += 7;
    }
    end = value + strlen(value);
    while (end > value && (end[-1] == ' ' || end[-1] == '\t')) {
        --end;
    }
    len = end - value;
    if (len == 0) {
        return "the signature is empty";
    }

    switch (enc) {
    case PT_ENC_BASE64:
        if ((len = pt_sig_b64_check(value, len)) == 0) {
            return "the signature is not valid base64";
        }
        if (len != want) {
            return "the signature has the wrong length";
        }
        /* Decoding stops at the padding or blank that ends the checked
         * text, so exactly want bytes are written. */
        *out_len = apr_base64_decode_binary(out, value);
        return NULL;
    case PT_ENC_HEX:
        if ((len = pt_sig_hex_check(value, len)) == 0) {
            return "the signature is not valid hex";
        }
        if (len != want) {
            return "the signature has the wrong length";
        }
        apr_unescape_hex(out, value, end - value, 0, NULL);
        *out_len = want;
        return NULL;
    case PT_ENC_RAW:
        break;
    }
    return "unsupported signature encoding";
}

/* HMAC(alg, key, data) into out; returns the digest length. */
static apr_size_t pt_sig_hmac(pt_hash_t alg, const pt_key_t *key,
                              const void *data, apr_size_t len,
                              unsigned char *out)
{
    unsigned int out_len = 0;

    /* An empty body may come as a NULL pointer, for which OpenSSL 3.0
     * silently produces no digest. */
    if (!HMAC(pt_sig_md(alg), key->bytes, (int)key->len,
              data ? data : (const void *)"", len, out, &out_len)) {
        return 0;
    }
    return out_len;
}

int pt_sig_verify(pt_hash_t alg, const pt_key_t *keys, int nkeys,
                  const void *body, apr_size_t len,
                  const unsigned char *sig, apr_size_t sig_len)
{
    unsigned char mac[PT_SIG_MAX_LEN];
    apr_size_t want = pt_sig_digest_len(alg);
    int i, found = -1;

    if (sig_len != want) {
        return -1;
    }
    /* Every key is tried so that the time taken does not tell which one
     * matched. */
    for (i = 0; i < nkeys; ++i) {
        if (pt_sig_hmac(alg, &keys[i], body, len, mac) == want
            && CRYPTO_memcmp(mac, sig, want) == 0 && found < 0) {
            found = i;
        }
    }
    return found;
}

const char *pt_sig_decode_scheme_key(apr_pool_t *p, const char *text,
                                     pt_scheme_t scheme, pt_encoding_t enc,
                                     pt_key_t *out)
{
    apr_size_t plen = sizeof(PT_SWH_KEY_PREFIX) - 1;

    if (scheme == PT_SCHEME_STANDARD_WEBHOOKS
        && strncmp(text, PT_SWH_KEY_PREFIX, plen) == 0) {
        return pt_sig_decode_key(p, text + plen, PT_ENC_BASE64, out);
    }
    return pt_sig_decode_key(p, text, enc, out);
}

pt_swh_time_t pt_sig_swh_check_time(const char *timestamp, apr_time_t now,
                                    apr_interval_time_t tolerance)
{
    const char *c;
    apr_int64_t sec, skew;

    for (c = timestamp; apr_isdigit(*c); ++c)
        ;
    if (c == timestamp || *c) {
        return PT_SWH_TIME_INVALID;
    }
    errno = 0;
    sec = apr_strtoi64(timestamp, NULL, 10);
    if (errno == ERANGE) {
        return PT_SWH_TIME_OUTSIDE;
    }
    skew = apr_time_sec(now) - sec;
    if (skew < 0) {
        skew = -skew;
    }
    return skew > tolerance / APR_USEC_PER_SEC ? PT_SWH_TIME_OUTSIDE
                                               : PT_SWH_TIME_OK;
}

int pt_sig_swh_sign(const pt_key_t *key, const char *id,
                    const char *timestamp, const void *body, apr_size_t len,
                    unsigned char *out)
{
    /* The body is fed as it lies rather than copied behind the id and the
     * timestamp; HMAC() takes only one piece, and HMAC_CTX is deprecated. */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, NULL,
                                                  key->bytes, key->len);
    size_t out_len = PT_SWH_SIG_LEN;
    int ok = ctx && pkey
        && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1
        && EVP_DigestSignUpdate(ctx, id, strlen(id)) == 1
        && EVP_DigestSignUpdate(ctx, ".", 1) == 1
        && EVP_DigestSignUpdate(ctx, timestamp, strlen(timestamp)) == 1
        && EVP_DigestSignUpdate(ctx, ".", 1) == 1
        && (len == 0 || EVP_DigestSignUpdate(ctx, body, len) == 1)
        && EVP_DigestSignFinal(ctx, out, &out_len) == 1
        && out_len == PT_SWH_SIG_LEN;

    EVP_PKEY_free(pkey);
    EVP_MD_CTX_free(ctx);
    return ok;
}

apr_array_header_t *pt_sig_swh_parse(apr_pool_t *p, const char *value)
{
    apr_array_header_t *sigs = apr_array_make(p, 2, PT_SWH_SIG_LEN);

    while (*value) {
        apr_size_t n = strcspn(value, " \t");

        /* The checked text ends at a blank or the end, where decoding
         * stops, so exactly PT_SWH_SIG_LEN bytes are written. */
        if (n > 3 && strncmp(value, "v1,", 3) == 0
            && pt_sig_b64_check(value + 3, n - 3) == PT_SWH_SIG_LEN) {
            apr_base64_decode_binary(apr_array_push(sigs), value + 3);
        }
        value += n;
        value += strspn(value, " \t");
    }
    return sigs;
}

int pt_sig_swh_verify(const pt_key_t *keys, int nkeys, const char *id,
                      const char *timestamp, const void *body,
                      apr_size_t len, const apr_array_header_t *sigs)
{
    unsigned char mac[PT_SWH_SIG_LEN];
    int i, j, found = -1;

    /* As in pt_sig_verify, every key and every signature is tried. */
    for (i = 0; i < nkeys; ++i) {
        if (!pt_sig_swh_sign(&keys[i], id, timestamp, body, len, mac)) {
            continue;
        }
        for (j = 0; j < sigs->nelts; ++j) {
            if (CRYPTO_memcmp(mac, sigs->elts + j * PT_SWH_SIG_LEN,
                              PT_SWH_SIG_LEN) == 0 && found < 0) {
                found = i;
            }
        }
    }
    return found;
}
