/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_sig: HMAC signatures of webhook deliveries.
 *
 * Pure unit: APR and OpenSSL only, no httpd. Protime's exact scheme is not
 * published, so algorithm, header encoding and key encoding are parameters
 * (README, "Directives"); the defaults are base64(HMAC-SHA256(key, raw
 * body)). The Standard Webhooks scheme (https://www.standardwebhooks.com)
 * is the other choice: its own headers, signed content and key form.
 */
#ifndef PT_SIG_H
#define PT_SIG_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

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

/* ProtimeSignatureScheme. */
typedef enum {
    PT_SCHEME_HMAC_BODY = 0,            /* HMAC of the raw body, one header */
    PT_SCHEME_STANDARD_WEBHOOKS = 1     /* webhook-id, -timestamp, -signature */
} pt_scheme_t;

/* Standard Webhooks signatures are HMAC-SHA256. */
#define PT_SWH_SIG_LEN 32

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

/* As pt_sig_decode_key, and under the Standard Webhooks scheme a key
 * written "whsec_<base64>", the form its senders hand out, is the base64
 * after the prefix, whatever enc says. */
const char *pt_sig_decode_scheme_key(apr_pool_t *p, const char *text,
                                     pt_scheme_t scheme, pt_encoding_t enc,
                                     pt_key_t *out);

typedef enum {
    PT_SWH_TIME_OK = 0,         /* at most the tolerance from now */
    PT_SWH_TIME_INVALID,        /* not decimal Unix seconds */
    PT_SWH_TIME_OUTSIDE         /* further from now, either way */
} pt_swh_time_t;

/* Checks a webhook-timestamp value, Unix seconds, against now. */
pt_swh_time_t pt_sig_swh_check_time(const char *timestamp, apr_time_t now,
                                    apr_interval_time_t tolerance);

/* HMAC-SHA256(key, id "." timestamp "." body) into out (PT_SWH_SIG_LEN
 * bytes). Returns 0 if OpenSSL failed, else 1. */
int pt_sig_swh_sign(const pt_key_t *key, const char *id,
                    const char *timestamp, const void *body, apr_size_t len,
                    unsigned char *out);

/* The signatures of a webhook-signature header: its space-separated
 * "v1,<base64>" entries. Entries of other versions, and v1 entries that are
 * not strict base64 of PT_SWH_SIG_LEN bytes, are skipped. Returns an array
 * (maybe empty) of PT_SWH_SIG_LEN-byte elements allocated from p. */
apr_array_header_t *pt_sig_swh_parse(apr_pool_t *p, const char *value);

/* Checks the signatures sigs (from pt_sig_swh_parse) against each of the
 * nkeys keys, comparing in constant time; any signature may match. Returns
 * the index of the first key that matches, or -1. */
int pt_sig_swh_verify(const pt_key_t *keys, int nkeys, const char *id,
                      const char *timestamp, const void *body,
                      apr_size_t len, const apr_array_header_t *sigs);

#endif /* PT_SIG_H */
