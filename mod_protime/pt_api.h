/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_api: the Protime API client (OAuth2 client credentials, webhooks,
 * the lists of the collections and their deltas).
 *
 * Pure unit: APR and jansson only. HTTP goes through a small transport
 * interface (pt_http_t): pt_curl.c provides libcurl, the unit tests a fake.
 * Every call sends the configured User-Agent, refuses http:// URLs unless
 * allow_insecure is set, and retries on its own: 429 and 503 after their
 * Retry-After, other 5xx and transport failures after an exponential backoff
 * with jitter, a 401 once with a fresh token. The creation of a webhook,
 * which is not idempotent, is retried only after 401, 429 and 503: after
 * no answer or another 5xx, Protime may have created it, and the caller
 * finds it by listing the webhooks. Log messages and errors never
 * contain the client secret, a token or a webhook key.
 */
#ifndef PT_API_H
#define PT_API_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "pt_log.h"

/* ---- transport ---------------------------------------------------------- */

typedef struct {
    const char *method;             /* "GET", "POST", "DELETE" */
    const char *url;                /* absolute */
    apr_array_header_t *headers;    /* of const char *, "Name: value" */
    const char *body;               /* NULL for none */
    apr_size_t body_len;
} pt_http_request_t;

typedef struct {
    int status;                     /* HTTP status; 0 when none arrived */
    const char *body;               /* NUL-terminated; "" when empty */
    apr_size_t body_len;
    const char *location;           /* Location header, or NULL */
    apr_interval_time_t retry_after;/* the wait a Retry-After asked for,
                                     * > 0; -1 when there was none */
    const char *error;              /* why no response arrived (status 0) */
} pt_http_response_t;

/* Performs one request, allocating the response from p. Returns
 * APR_SUCCESS when a response arrived, whatever its status; otherwise an
 * error with resp->status 0 and resp->error set (connection refused,
 * timeout, TLS verification failed, response larger than allowed, ...). */
typedef apr_status_t pt_http_perform_fn(void *baton, apr_pool_t *p,
                                        const pt_http_request_t *req,
                                        pt_http_response_t *resp);

typedef struct {
    pt_http_perform_fn *perform;
    void *baton;
} pt_http_t;

/* ---- client ------------------------------------------------------------- */

/* Waits before a retry. Returns 0 to go on, non-zero to give up now (the
 * server is stopping). The glue sleeps in small slices; tests record. */
typedef int pt_api_sleep_fn(void *baton, apr_interval_time_t how_long);

/* Scopes asked for with the token when the configuration names none:
 * webhooks, and access clockings (pt_api_scope for others). */
#define PT_API_SCOPE "connector-protimeapi-webhooks.read "              \
                     "connector-protimeapi-webhooks.write "             \
                     "connector-protimeapi-access-clockings.read"

/* Attempts per call, the first included. */
#define PT_API_TRIES 4
/* First backoff after a 5xx or a transport failure; doubles each time,
 * with the actual wait drawn between half and all of it. */
#define PT_API_BACKOFF apr_time_from_sec(1)
/* A Retry-After longer than this is not waited for inside a call: the call
 * fails with err->retry_after set, and the caller reschedules. */
#define PT_API_MAX_INLINE_WAIT apr_time_from_sec(30)
/* Response bodies larger than this are refused (by the transport). */
#define PT_API_MAX_RESPONSE (8 * 1024 * 1024)

typedef struct {
    const char *api_url;            /* e.g. https://acme.myprotime.eu/connector/protimeapi/api/v1 */
    const char *token_url;
    const char *client_id;
    const char *client_secret;
    const char *user_agent;
    int allow_insecure;             /* accept http:// URLs */
    pt_http_t http;
    const pt_log_t *log;            /* NULL: nothing logged; messages
                                     * are redacted */
    pt_api_sleep_fn *sleep;         /* may be NULL: apr_sleep */
    void *baton;                    /* for sleep, random and now */
    /* Random numbers for the jitter; NULL uses apr_generate_random_bytes. */
    unsigned (*random)(void *baton);
    /* The longest one attempt can take (the transport's timeout), and the
     * clock (NULL: apr_time_now): for pt_api_set_deadline. */
    apr_interval_time_t attempt_timeout;
    apr_time_t (*now)(void *baton);
    /* The collection whose webhooks the client creates and lists (NULL:
     * access-clockings), and the scopes its token asks for (NULL:
     * PT_API_SCOPE). */
    const char *collection;
    const char *scope;
} pt_api_config_t;

/* The scopes for the webhooks and for reading each of the collections
 * (an array of const char *): connector-protimeapi-<collection>.read. */
const char *pt_api_scope(apr_pool_t *p, const apr_array_header_t *collections);

/* The client: configuration plus the cached token. It keeps a pool of its
 * own (a subpool of the pool given to pt_api_create) for the token, so that
 * one client can live as long as the process and be used call after call;
 * it is not thread-safe (the subscription job uses it from one thread). */
typedef struct pt_api_t pt_api_t;

/* Checks the configuration (URLs absolute, https unless allow_insecure,
 * credentials present). Returns NULL and sets *out, or an error. */
const char *pt_api_create(apr_pool_t *p, const pt_api_config_t *cfg,
                          pt_api_t **out);

/* Why a call failed. */
typedef struct {
    int status;                     /* last HTTP status, 0 if none arrived */
    apr_interval_time_t retry_after;/* > 0: the server asked us to wait this long */
    const char *message;            /* human-readable, redacted */
    const char *code;               /* Protime's error code, or NULL */
} pt_api_error_t;

/* A webhook as Protime describes it. Strings may be NULL when absent. */
typedef struct {
    const char *id;
    const char *key;                /* only in the creation answer */
    const char *status;             /* "Enabled", "Disabled", "Uninitialized", ... */
    const char *destination_url;
    const char *collection;
    apr_time_t valid_until;         /* 0 when absent or unparsable */
} pt_webhook_t;

/* Returns a valid access token, from the cache while it has more than
 * a minute (or a tenth of its lifetime, if shorter) to live, else from the
 * token endpoint. On failure returns an APR error and fills err. */
apr_status_t pt_api_token(pt_api_t *a, apr_pool_t *p, const char **token,
                          pt_api_error_t *err);

/* From now on, until lifted with deadline 0, no attempt is sent that could
 * end after deadline (attempt_timeout from its start), and no retry is
 * waited for that could: such a call fails with APR_TIMEUP, its message
 * naming the deadline as what (e.g. "the lease"). The subscription job
 * bounds each change at Protime by its lease this way, so that no change
 * it began as the owner reaches Protime after another server took over. */
void pt_api_set_deadline(pt_api_t *a, apr_time_t deadline, const char *what);

/* POST /webhooks[?externalReferences=...] with destinationUrl and
 * collectionName (the client's collection). Expects 201. The key is read from the
 * body's "key" (else "webhookKey", "privateKey", "secret"), the id from
 * "id" (else the last path segment of Location), validUntil from
 * "validUntil". A 201 without a key or an id is an error (the caller should
 * then delete what it can identify: out->id is set when known). */
apr_status_t pt_api_webhook_create(pt_api_t *a, apr_pool_t *p,
                                   const char *destination_url,
                                   const char *external_references,
                                   pt_webhook_t *out, pt_api_error_t *err);

/* GET /webhooks?filter=collection-name eq '<the client's collection>', following
 * nextLink; *out is an array of pt_webhook_t. */
apr_status_t pt_api_webhook_list(pt_api_t *a, apr_pool_t *p,
                                 apr_array_header_t **out,
                                 pt_api_error_t *err);

/* GET /webhooks/{id}. A 404 returns APR_NOTFOUND with err->status 404. */
apr_status_t pt_api_webhook_get(pt_api_t *a, apr_pool_t *p, const char *id,
                                pt_webhook_t *out, pt_api_error_t *err);

/* DELETE /webhooks/{id}. 200, 204, and 404 (already gone) succeed. */
apr_status_t pt_api_webhook_delete(pt_api_t *a, apr_pool_t *p,
                                   const char *id, pt_api_error_t *err);

/* ---- lists and deltas --------------------------------------------------- */

/* What a list call reads: a collection (NULL: the client's), for
 * access-clockings the date window (filter=date ge 'from' [and date le
 * 'to'], YYYY-MM-DD; to NULL leaves it open, as starting a delta does),
 * externalReferences when not NULL or empty, and with delta set a
 * deltaLink on the last page. */
typedef struct {
    const char *collection;
    const char *from;
    const char *to;
    const char *external_references;
    int delta;
} pt_api_list_t;

/* The URL of the first page of a list call under api_url (no trailing
 * slash); NULL when access-clockings lacks a valid from (or to, when
 * set). */
const char *pt_api_list_url(apr_pool_t *p, const char *api_url,
                            const pt_api_list_t *list);

/* One page of a list or of a delta. items is the page's "value" array as
 * compact JSON text (for pt_event_parse); next its nextLink, delta_link
 * its deltaLink, each NULL when absent. */
typedef struct {
    const char *items;
    const char *next;
    const char *delta_link;
} pt_api_page_t;

/* One page of GET /<collection>: the first of list when next_link is
 * NULL, else the page next_link names (a path relative to the API's host,
 * or an absolute URL on that same host; it carries the query on). An
 * empty "value" is not the end; the last page has no nextLink. */
apr_status_t pt_api_list_page(pt_api_t *a, apr_pool_t *p,
                              const pt_api_list_t *list,
                              const char *next_link, pt_api_page_t *out,
                              pt_api_error_t *err);

/* GET of a deltaLink (on the API's host, as a nextLink): the changes since
 * it was issued, {changeType, data} items, and the next deltaLink, which a
 * 200 must carry. */
apr_status_t pt_api_delta_page(pt_api_t *a, apr_pool_t *p,
                               const char *delta_link, pt_api_page_t *out,
                               pt_api_error_t *err);

/* Whether a failed delta call says its token is no longer valid: 410
 * Gone, or another 4xx (but 401, the access token's, and 429) whose error
 * code or message speaks of expiry. Then only a full re-synchronisation
 * and a new delta catch up. */
int pt_api_delta_expired(const pt_api_error_t *err);

/* One page of GET /access-clockings in the window [from, to], with
 * externalReferences when set; or the page next_link names
 * (pt_api_list_page). *next is NULL on the last page. */
apr_status_t pt_api_clockings_page(pt_api_t *a, apr_pool_t *p,
                                   const char *from, const char *to,
                                   const char *external_references,
                                   const char *next_link,
                                   const char **items, const char **next,
                                   pt_api_error_t *err);

#endif /* PT_API_H */
