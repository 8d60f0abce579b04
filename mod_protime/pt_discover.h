/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_discover: finds how a refused delivery was signed.
 *
 * Pure unit: APR and OpenSSL only, no httpd. Protime's signature scheme is
 * not published (reference/protime-api.md §2, §10); when a delivery
 * matches no key under the configured scheme, this tries the common ones
 * with every key the location knows, and says which directives would
 * accept the delivery. Any header whose value, without a known prefix
 * ("sha256=", "sha512=", "v1,", "v1=", or the v1= parts of "t=...,v1=..."),
 * decodes as base64 or hex to 32 or 64 bytes is a candidate signature,
 * checked as HMAC-SHA256 or HMAC-SHA512 over the raw body, over
 * "timestamp.body" (the timestamp from a "*-Timestamp" header or a "t="
 * part), and over "id.timestamp.body" (Standard Webhooks).
 *
 * The work is bounded by the PT_DISCOVER_MAX_* limits below, whatever the
 * request holds: at most candidates x contents x keys HMACs.
 */
#ifndef PT_DISCOVER_H
#define PT_DISCOVER_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "pt_sig.h"

#define PT_DISCOVER_MAX_HEADERS 32      /* headers looked at */
#define PT_DISCOVER_MAX_CANDIDATES 4    /* signature values tried */
#define PT_DISCOVER_MAX_TIMESTAMPS 2    /* timestamps tried */
#define PT_DISCOVER_MAX_KEYS 8          /* keys tried */

/* The signature-like values of a request's headers. */
typedef struct pt_discover_t pt_discover_t;

/* Looks through headers (apr_table_entry_t, as apr_table_elts() gives
 * them) for signature-like values and timestamps; cheap, no HMAC. Returns
 * NULL when no header holds a candidate signature, so a caller can leave
 * requests that carry none (an unsigned flood) without further cost. */
pt_discover_t *pt_discover_scan(apr_pool_t *p,
                                const apr_array_header_t *headers);

/* How many candidate signatures the scan kept. */
int pt_discover_candidates(const pt_discover_t *d);

/* Checks each candidate against each signed content and key, comparing in
 * constant time. Returns the hint for the first match, from d's pool: the
 * directives that would accept such deliveries, or a plain statement of
 * the scheme when no directive supports it yet. It names headers, never
 * key bytes or signature values. NULL when nothing matches. *hmacs (if
 * not NULL) receives the number of HMACs computed. */
const char *pt_discover_try(pt_discover_t *d, const void *body,
                            apr_size_t len, const pt_key_t *keys, int nkeys,
                            int *hmacs);

#endif /* PT_DISCOVER_H */
