/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_sig: HMAC signatures of webhook deliveries.
 *
 * Pure unit: APR and OpenSSL only, no httpd. Protime's exact scheme is not
 * published, so algorithm, header encoding and key encoding are parameters
 * (README, "Directives"); the defaults are base64(HMAC-SHA256(key, raw
 * body)).
 */
#ifndef PT_SIG_H
#define PT_SIG_H

#include <apr_pools.h>

/* The largest digest we produce (SHA-512). */
#define PT_SIG_MAX_LEN 64

typedef enum {
    PT_HASH_SHA256 = 0,
    PT_HASH_SHA512 = 1
} pt_hash_t;

typedef enum {
    PT_ENC_RAW = 0,     /* key text used as bytes, as written (keys only) */
    PT_ENC_BASE64 = 1,
    PT_ENC_HEX = 2
} pt_encoding_t;

/* HMAC key bytes. */
typedef struct {
    const unsigned char *bytes;
    apr_size_t len;
} pt_key_t;

/* Turns key text into key bytes allocated from p. Returns NULL on success,
 * else a message for the administrator that never quotes the key. An empty
 * key, or (base64/hex) one that does not decode strictly, is an error. */
const char *pt_sig_decode_key(apr_pool_t *p, const char *text,
                              pt_encoding_t enc, pt_key_t *out);

/* Decodes a signature header value into out (PT_SIG_MAX_LEN bytes of room).
 * Surrounding blanks and an optional "sha256=" or "sha512=" prefix (any case)
 * are ignored; the rest must be strict base64 (standard alphabet, padding
 * optional) or hex (either case) and exactly as long as alg's digest
 * (32 or 64 bytes). Returns NULL on success, else a short reason that does not quote
 * the value. */
const char *pt_sig_decode_header(const char *value, pt_hash_t alg,
                                 pt_encoding_t enc, unsigned char *out,
                                 apr_size_t *out_len);

/* Checks sig against HMAC(key, body) for each of the nkeys keys, comparing in
 * constant time (CRYPTO_memcmp). Returns the index of the first key that
 * matches, or -1. */
int pt_sig_verify(pt_hash_t alg, const pt_key_t *keys, int nkeys,
                  const void *body, apr_size_t len,
                  const unsigned char *sig, apr_size_t sig_len);

#endif /* PT_SIG_H */
