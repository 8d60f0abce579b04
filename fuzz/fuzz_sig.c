/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* libFuzzer target: signature header and key decoding, and verification.
 *
 * The first byte picks the algorithm and the encodings; the rest is split
 * at the first NUL into a header value and a body. A decoded header must
 * have the digest's length; a verification must agree with a plain
 * comparison against the HMAC computed here. The same text is also read
 * as a Standard Webhooks signature header, timestamp and key.
 */
#include <apr_base64.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pt_sig.h"

static apr_pool_t *fuzz_pool;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&fuzz_pool, NULL);
    return 0;
}

/* OpenSSL's HMAC, the reference pt_sig_verify is checked against. */
static const EVP_MD *fuzz_md(pt_hash_t alg)
{
    return alg == PT_HASH_SHA512 ? EVP_sha512() : EVP_sha256();
}

static apr_size_t fuzz_hmac(pt_hash_t alg, const pt_key_t *key,
                            const void *data, apr_size_t len,
                            unsigned char *out)
{
    unsigned int out_len = 0;

    if (!HMAC(fuzz_md(alg), key->bytes, (int)key->len,
              data ? data : (const void *)"", len, out, &out_len))
        abort();
    return out_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const pt_encoding_t header_encs[] = { PT_ENC_BASE64, PT_ENC_HEX };
    static const pt_encoding_t key_encs[] = { PT_ENC_RAW, PT_ENC_BASE64, PT_ENC_HEX };
    apr_pool_t *p;
    pt_hash_t alg;
    pt_encoding_t header_enc, key_enc;
    const uint8_t *nul, *body;
    const char *text;
    size_t text_len, body_len;
    unsigned char sig[PT_SIG_MAX_LEN], mac[PT_SIG_MAX_LEN];
    apr_size_t sig_len = 0, mac_len;
    pt_key_t keys[2];
    int nkeys = 0, match;

    if (size < 1)
        return 0;
    alg = (data[0] & 1) ? PT_HASH_SHA512 : PT_HASH_SHA256;
    header_enc = header_encs[(data[0] >> 1) & 1];
    key_enc = key_encs[((data[0] >> 2) & 3) % 3];
    data++, size--;

    apr_pool_create(&p, fuzz_pool);
    nul = memchr(data, '\0', size);
    text_len = nul ? (size_t)(nul - data) : size;
    text = apr_pstrmemdup(p, (const char *)data, text_len);
    body = nul ? nul + 1 : data + size;
    body_len = nul ? size - text_len - 1 : 0;

    /* The same text as a header value and as a key. */
    if (!pt_sig_decode_header(text, alg, header_enc, sig, &sig_len)
        && (int)sig_len != EVP_MD_size(fuzz_md(alg)))
        abort();
    if (!pt_sig_decode_key(p, text, key_enc, &keys[nkeys])) {
        if (keys[nkeys].len == 0)
            abort();
        nkeys++;
    }
    keys[nkeys].bytes = (const unsigned char *)"fixed-second-key";
    keys[nkeys].len = 16;
    nkeys++;

    /* The body signed with the last key verifies as that key; a decoded
     * header verifies as the key whose HMAC it equals, if any. */
    mac_len = fuzz_hmac(alg, &keys[nkeys - 1], body, body_len, mac);
    if (pt_sig_verify(alg, keys, nkeys, body, body_len, mac, mac_len) < 0)
        abort();
    if (sig_len) {
        match = pt_sig_verify(alg, keys, nkeys, body, body_len, sig, sig_len);
        if (match >= 0) {
            fuzz_hmac(alg, &keys[match], body, body_len, mac);
            if (memcmp(mac, sig, sig_len) != 0)
                abort();
        }
    }

    /* Whatever the header holds before it, a valid v1 signature of the
     * body verifies; the text as a key decodes to at least one byte. */
    {
        unsigned char swh[PT_SWH_SIG_LEN];
        char b64[64];
        pt_key_t k;

        pt_sig_swh_check_time(text, apr_time_now(), apr_time_from_sec(300));
        if (!pt_sig_decode_scheme_key(p, text, PT_SCHEME_STANDARD_WEBHOOKS,
                                      key_enc, &k) && k.len == 0)
            abort();
        if (!pt_sig_swh_sign(&keys[nkeys - 1], "msg_1", "1", body, body_len,
                             swh))
            abort();
        apr_base64_encode_binary(b64, swh, sizeof(swh));
        if (pt_sig_swh_verify(keys, nkeys, "msg_1", "1", body, body_len,
                              pt_sig_swh_parse(p, apr_pstrcat(p, text, " v1,",
                                                              b64, NULL))) < 0)
            abort();
    }
    apr_pool_destroy(p);
    return 0;
}
