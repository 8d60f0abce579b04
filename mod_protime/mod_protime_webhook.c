/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_webhook.c: the protime-webhook handler.
 *
 * Order matters: method, content type and transfer coding, then the body
 * under its limit and its content coding, then the signature over the raw
 * bytes, and only then JSON. A correctly signed delivery is never thrown
 * away: what does not validate goes to the quarantine and the answer is
 * 202, because a 4xx would make Protime retry a poison event until it
 * disables the subscription. 2xx only ever follows a commit; a storage
 * failure is 503 with Retry-After so that Protime delivers again.
 */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <jansson.h>

#include "mod_protime.h"
#include "mod_protime_config.h"
#include "mod_protime_shm.h"
#include "mod_protime_storage.h"
#include "mod_protime_subscription.h"
#include "mod_protime_webhook.h"
#include "pt_clock.h"
#include "pt_discover.h"
#include "pt_event.h"

APLOG_USE_MODULE(protime);

/* Reasons listed in a 202 answer; the quarantine table has all of them. */
#define PROTIME_MAX_REASONS 20

/* Anyone can send unsigned deliveries, as fast as the network allows:
 * each refusal is logged at info, and at warn one line a location and
 * interval sums them up, so that they cannot fill a disk. */
#define PROTIME_REFUSAL_SUMMARY_INTERVAL apr_time_from_sec(60)

/* Signature discovery costs up to 128 HMACs of the body (pt_discover.h): at
 * most one run a location and interval, whatever arrives. */
#define PROTIME_DISCOVERY_INTERVAL apr_time_from_sec(60)

/* ProtimeCaptureRefused: at most one refused delivery a location and
 * interval becomes a database write, so that a flood of unsigned requests
 * costs no more writes than a trickle. Support needs a few examples, not
 * each one. */
#define PROTIME_CAPTURE_INTERVAL apr_time_from_sec(1)

/* A body must come at this rate on average, once it has had the grace to
 * start: a 1 MiB body then holds a worker for at most 128 s, not for as
 * long as a client sending a byte now and then likes. Protime's
 * deliveries are a few KiB, sent from a data centre. */
#define PROTIME_BODY_GRACE apr_time_from_sec(10)
#define PROTIME_MIN_BODY_RATE 8192      /* bytes per second */

static int protime_json_content_type(const char *ct)
{
    const char *end;
    apr_size_t len = 0;

    if (!ct)
        return 1;   /* Protime's content type is undocumented: allow none */
    end = ct + strcspn(ct, ";");
    while (end > ct && apr_isspace(end[-1]))
        end--;
    len = end - ct;
    if (len == 16 && !strncasecmp(ct, "application/json", 16))
        return 1;
    /* application/<anything>+json */
    return len > 17 && !strncasecmp(ct, "application/", 12)
           && !strncasecmp(end - 5, "+json", 5)
           && !memchr(ct + 12, '/', len - 12);
}

/* Whether the transfer coding is at most one chunked: httpd takes
 * "gzip, chunked" off its chunks and hands on the still-compressed bytes,
 * which would then fail the signature check as if forged. */
static int protime_only_chunked(apr_pool_t *p, const char *te)
{
    const char *item;
    int n = 0;

    if (!te)
        return 1;
    while ((item = ap_get_list_item(p, &te)) != NULL)
        if (strcmp(item, "chunked") || n++)
            return 0;
    return 1;
}

/* Whether the body has no content coding but identity. Asked after the
 * body is read, because mod_deflate's input filter (SetInputFilter DEFLATE)
 * removes Content-Encoding only once it starts inflating. */
static int protime_identity_coding(apr_pool_t *p, const char *ce)
{
    const char *item;

    while (ce && (item = ap_get_list_item(p, &ce)) != NULL)
        if (strcmp(item, "identity"))
            return 0;
    return 1;
}

/* Refuses a delivery for the coding its header names, quoting the header's
 * value escaped: the client chose it. */
static int protime_refuse_coding(request_rec *r, const char *header,
                                 const char *value, const char *why,
                                 int status)
{
    protime_count(PROTIME_C_REJECTED, 1);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PTLOGNO(00308)
                  "delivery refused: %s \"%s\" %s", header,
                  ap_escape_logitem(r->pool, value), why);
    return status;
}

/* How long after its start a body of which used bytes came is too slow,
 * if no more comes. */
static apr_interval_time_t protime_body_deadline(apr_size_t used)
{
    apr_interval_time_t due = (apr_interval_time_t)used * APR_USEC_PER_SEC
                              / PROTIME_MIN_BODY_RATE;

    return due > PROTIME_BODY_GRACE ? due : PROTIME_BODY_GRACE;
}

/* One read of the body, ending when the body falls below the rate floor
 * at the latest: then *too_slow is set, and the status is APR_TIMEUP. The
 * socket's timeout, as mod_reqtimeout sets it, is the one bound the core
 * and mod_ssl honour inside a read. Not on an HTTP/2 stream, whose socket
 * is its connection's: there the floor is checked between reads, and the
 * server's Timeout bounds each. */
static apr_status_t protime_read_until(request_rec *r, apr_bucket_brigade *bb,
                                       apr_interval_time_t left, int *too_slow)
{
    apr_socket_t *sock = r->connection->master
                         ? NULL : ap_get_conn_socket(r->connection);
    apr_interval_time_t timeout = 0;
    apr_status_t rv;
    int ours = 0;

    if (sock) {
        apr_socket_timeout_get(sock, &timeout);
        if ((ours = timeout < 0 || left < timeout))
            apr_socket_timeout_set(sock, left);
    }
    rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                        APR_BLOCK_READ, HUGE_STRING_LEN);
    if (ours)
        apr_socket_timeout_set(sock, timeout);
    *too_slow = ours && rv == APR_TIMEUP;
    return rv;
}

/* Reads the whole body into one buffer, never more than max bytes, and
 * only while it comes at PROTIME_MIN_BODY_RATE after the grace. The
 * request is readied as httpd's own handlers ready theirs
 * (ap_setup_client_block: Content-Length checked against LimitRequestBody
 * and parsed into r->remaining); then a known length above the limit is
 * refused before anything is read, and sizes the buffer. A chunked or
 * inflated body is counted as it arrives: r->remaining is 0 for
 * chunked bodies. The brigade API rather than ap_get_client_block,
 * whose -1 hides what failed: a filter that already answered
 * (AP_FILTER_ERROR) must not be answered again. */
static int protime_read_body(request_rec *r, apr_off_t max,
                             char **body, apr_size_t *len)
{
    apr_bucket_brigade *bb;
    apr_size_t used = 0, cap;
    apr_time_t start = pt_clock_monotonic();
    char *buf;
    int eos = 0, status = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);

    if (status != OK)
        return status;
    if (r->remaining > max) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PTLOGNO(00301)
                      "body of %" APR_OFF_T_FMT " bytes is over "
                      "ProtimeMaxBodySize %" APR_OFF_T_FMT, r->remaining, max);
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    cap = r->remaining > 0 ? (apr_size_t)r->remaining : HUGE_STRING_LEN;
    buf = apr_palloc(r->pool, cap + 1);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!eos) {
        apr_bucket *b;
        apr_interval_time_t left = start + protime_body_deadline(used)
                                   - pt_clock_monotonic();
        int too_slow = left <= 0;
        apr_status_t rv = too_slow ? APR_TIMEUP
                          : protime_read_until(r, bb, left, &too_slow);

        if (too_slow) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PTLOGNO(00310)
                          "body too slow: %" APR_SIZE_T_FMT " bytes in %"
                          APR_TIME_T_FMT " s, under %d bytes/s after the "
                          "first %" APR_TIME_T_FMT " s", used,
                          apr_time_sec(pt_clock_monotonic() - start),
                          PROTIME_MIN_BODY_RATE,
                          apr_time_sec(PROTIME_BODY_GRACE));
            return HTTP_REQUEST_TIME_OUT;
        }
        if (rv != APR_SUCCESS) {
            /* AP_FILTER_ERROR: a filter (the chunk decoder) has already
             * said what was wrong; it is not an APR status to print. */
            ap_log_rerror(APLOG_MARK, APLOG_INFO,
                          rv == AP_FILTER_ERROR ? 0 : rv, r, PTLOGNO(00302)
                          "reading the delivery body failed%s",
                          rv == AP_FILTER_ERROR ? " (malformed chunked "
                          "encoding, or over the server's limits)" : "");
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t n;

            if (APR_BUCKET_IS_EOS(b)) {
                eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b))
                continue;
            rv = apr_bucket_read(b, &data, &n, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, PTLOGNO(00312)
                              "reading the delivery body failed after %"
                              APR_SIZE_T_FMT " bytes", used);
                return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
            }
            if ((apr_off_t)(used + n) > max) {
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PTLOGNO(00303)
                              "body is over ProtimeMaxBodySize %"
                              APR_OFF_T_FMT " as read (chunked, or "
                              "inflated by SetInputFilter DEFLATE)", max);
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
            if (used + n > cap) {
                char *bigger;
                while (used + n > cap)
                    cap *= 2;
                if ((apr_off_t)cap > max)
                    cap = (apr_size_t)max;
                bigger = apr_palloc(r->pool, cap + 1);
                memcpy(bigger, buf, used);
                buf = bigger;
            }
            memcpy(buf + used, data, n);
            used += n;
        }
        apr_brigade_cleanup(bb);
    }
    buf[used] = '\0';
    *body = buf;
    *len = used;
    return OK;
}

/* What the summaries call each reason of a refusal. */
static const char *const protime_refusal_names[PROTIME_R_COUNT] = {
    "no signature header",              /* PROTIME_R_NO_HEADER */
    "no key to check it with",          /* PROTIME_R_NO_KEY */
    "signature header not decodable",   /* PROTIME_R_UNDECODABLE */
    "signature matches no key",         /* PROTIME_R_NO_MATCH */
    "timestamp outside tolerance",      /* PROTIME_R_STALE */
};

/* Counts a refusal at the location, and writes the location's summary at
 * warn when it is due: at its first refusal, at once, for that may be a
 * wrong key rather than an attack; then at most once an interval. */
static void protime_summarise_refusal(request_rec *r,
                                      const protime_dir_conf *dc,
                                      protime_refusal_t reason)
{
    protime_refusal_summary_t sum;
    apr_uint64_t total = 0;
    const char *counts = "";
    int i;

    if (!protime_shm_refuse(protime_location(dc), reason,
                            pt_clock_monotonic(),
                            PROTIME_REFUSAL_SUMMARY_INTERVAL, &sum))
        return;
    for (i = 0; i < PROTIME_R_COUNT; i++) {
        const char *one;

        if (!sum.counts[i])
            continue;
        total += sum.counts[i];
        one = apr_psprintf(r->pool, "%" APR_UINT64_T_FMT " %s",
                           sum.counts[i], protime_refusal_names[i]);
        counts = apr_pstrcat(r->pool, counts, *counts ? ", " : "", one, NULL);
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, PTLOGNO(00309)
                  "%" APR_UINT64_T_FMT " deliver%s refused at %s %s: %s "
                  "(each is logged at LogLevel protime:info)", total,
                  total == 1 ? "y" : "ies", sum.location,
                  sum.since ? apr_psprintf(r->pool, "in the last %"
                                           APR_TIME_T_FMT " s",
                                           apr_time_sec(sum.since))
                            : "(the first there since httpd started)",
                  counts);
}

/* The headers ProtimeSignatureScheme standard-webhooks reads. */
static const char *const protime_swh_headers[] = {
    "webhook-id", "webhook-timestamp", "webhook-signature"
};

/* A delivery's signature, decoded as the location's scheme has it. */
typedef struct {
    unsigned char sig[PT_SIG_MAX_LEN];      /* hmac-body */
    apr_size_t sig_len;
    const char *id, *timestamp;             /* standard-webhooks */
    apr_array_header_t *sigs;               /* its v1 signatures */
} protime_signature_t;

/* The value of the signature header, or NULL when it (under
 * standard-webhooks: any of the scheme's headers) is missing; *header is
 * the header a refusal names. */
static const char *protime_signature_value(request_rec *r,
                                           const protime_dir_conf *dc,
                                           const char **header)
{
    const char *value = NULL;
    int i;

    if (protime_signature_scheme(dc) != PT_SCHEME_STANDARD_WEBHOOKS) {
        *header = protime_signature_header(dc);
        return apr_table_get(r->headers_in, *header);
    }
    for (i = 0; i < (int)(sizeof(protime_swh_headers)
                          / sizeof(protime_swh_headers[0])); i++) {
        *header = protime_swh_headers[i];
        if (!(value = apr_table_get(r->headers_in, *header)))
            break;
    }
    return value;
}

/* Decodes the signature of a delivery whose headers are there. Returns
 * NULL, or why it cannot be checked with *reason and *header set. */
static const char *protime_decode_signature(request_rec *r,
                                            const protime_dir_conf *dc,
                                            const char *value,
                                            protime_signature_t *sig,
                                            const char **header,
                                            protime_refusal_t *reason)
{
    apr_time_t now;
    apr_interval_time_t tolerance = protime_signature_tolerance(dc);

    *reason = PROTIME_R_UNDECODABLE;
    if (protime_signature_scheme(dc) != PT_SCHEME_STANDARD_WEBHOOKS)
        return pt_sig_decode_header(value, protime_algorithm(dc),
                                    protime_signature_encoding(dc), sig->sig,
                                    &sig->sig_len);
    now = apr_time_now();
    sig->id = apr_table_get(r->headers_in, protime_swh_headers[0]);
    sig->timestamp = apr_table_get(r->headers_in, protime_swh_headers[1]);
    switch (pt_sig_swh_check_time(sig->timestamp, now, tolerance)) {
    case PT_SWH_TIME_INVALID:
        *header = protime_swh_headers[1];
        return "not Unix seconds";
    case PT_SWH_TIME_OUTSIDE:
        /* Only digits: safe to show, and it tells a wrong clock. */
        *header = protime_swh_headers[1];
        *reason = PROTIME_R_STALE;
        return apr_psprintf(r->pool, "timestamp outside tolerance: %s, "
                            "this server's clock %" APR_TIME_T_FMT ", "
                            "ProtimeSignatureTolerance %" APR_TIME_T_FMT
                            " s", sig->timestamp, apr_time_sec(now),
                            apr_time_sec(tolerance));
    case PT_SWH_TIME_OK:
        break;
    }
    sig->sigs = pt_sig_swh_parse(r->pool, value);
    return sig->sigs->nelts ? NULL : "no v1,<base64> signature of 32 bytes";
}

/* Whether one of the keys made the delivery's signature. */
static int protime_verify_signature(const protime_dir_conf *dc,
                                    const apr_array_header_t *keys,
                                    const char *body, apr_size_t len,
                                    const protime_signature_t *sig)
{
    const pt_key_t *k = (const pt_key_t *)keys->elts;

    if (protime_signature_scheme(dc) == PT_SCHEME_STANDARD_WEBHOOKS)
        return pt_sig_swh_verify(k, keys->nelts, sig->id, sig->timestamp,
                                 body, len, sig->sigs) >= 0;
    return pt_sig_verify(protime_algorithm(dc), k, keys->nelts, body, len,
                         sig->sig, sig->sig_len) >= 0;
}

/* Tries the common signature schemes with the location's keys on a
 * delivery about to get 401, and when one verifies, says which directives
 * would accept it (PT00320, and the status's "signature_hint"). Only a
 * request that carries something like a signature takes the location's
 * turn: unsigned ones cost no HMAC, and cannot keep a real delivery from
 * being looked at. */
static void protime_discover_signature(request_rec *r,
                                       const protime_dir_conf *dc,
                                       const apr_array_header_t *keys,
                                       const char *body, apr_size_t len)
{
    const char *location = protime_location(dc), *hint;
    pt_discover_t *d = pt_discover_scan(r->pool,
                                        apr_table_elts(r->headers_in));
    int hmacs = 0;

    if (!d || !protime_shm_discovery_due(location, pt_clock_monotonic(),
                                         PROTIME_DISCOVERY_INTERVAL))
        return;
    hint = pt_discover_try(d, body, len, (const pt_key_t *)keys->elts,
                           keys->nelts, &hmacs);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTLOGNO(00321)
                  "signature discovery at %s: %d candidate signature%s, "
                  "%d HMACs, %s", location, pt_discover_candidates(d),
                  pt_discover_candidates(d) == 1 ? "" : "s", hmacs,
                  hint ? "a match" : "no match");
    if (!hint)
        return;
    protime_shm_set_hint(location, hint, apr_time_now());
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, PTLOGNO(00320)
                  "a delivery refused at %s verifies with one of its keys "
                  "under another signature scheme: %s (it got 401; "
                  "looked for at most once a minute)", location,
                  ap_escape_logitem(r->pool, hint));
}

/* Keeps the refused delivery in protime_refused when the location asks for
 * it and its capture is due. A failure is logged and changes nothing else:
 * the delivery is refused all the same. */
static void protime_capture_refused_delivery(request_rec *r,
                                             const protime_dir_conf *dc,
                                             const char *why,
                                             const char *body, apr_size_t len)
{
    pt_store_refused_t refused;
    const char *err;

    if (!protime_capture_refused(dc)
        || !protime_shm_capture_due(protime_location(dc),
                                    pt_clock_monotonic(),
                                    PROTIME_CAPTURE_INTERVAL))
        return;
    refused.location = protime_location(dc);
    refused.reason = why;
    refused.headers = r->headers_in;
    refused.signature_header = protime_signature_header(dc);
    refused.body = body;
    refused.body_len = len;
    if ((err = protime_storage_capture(r, &refused)) != NULL)
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PTLOGNO(00322)
                      "refused delivery not captured (ProtimeCaptureRefused):"
                      " %s", err);
}

/* Adds to keys those of the webhooks the subscription created, as this
 * location decodes them; read again from the database first when reload
 * asks for it (at most about once a second). */
static void protime_add_subscription_keys(request_rec *r,
                                          const protime_dir_conf *dc,
                                          int reload,
                                          apr_array_header_t *keys)
{
    protime_subscription_keys(r, protime_collection(dc),
                              protime_signature_scheme(dc),
                              protime_key_encoding(dc), reload, keys);
}

/* 401 unless the delivery's signature matches one of the keys. The log
 * names the header and the reason, never a key or the signature itself. */
static int protime_check_signature(request_rec *r, const protime_dir_conf *dc,
                                   const char *body, apr_size_t len)
{
    const char *header, *value = protime_signature_value(r, dc, &header);
    apr_array_header_t *keys = apr_array_make(r->pool, 4, sizeof(pt_key_t));
    protime_signature_t sig;
    const char *why;
    protime_refusal_t reason;

    if (dc->keys)
        apr_array_cat(keys, dc->keys);
    protime_add_subscription_keys(r, dc, 0, keys);
    /* None yet: the job may have just created the first webhook. */
    if (value && keys->nelts == 0)
        protime_add_subscription_keys(r, dc, 1, keys);
    if (!value) {
        if (!protime_require_signature(dc))
            return OK;
        why = protime_signature_scheme(dc) == PT_SCHEME_STANDARD_WEBHOOKS
              ? "no such header (ProtimeSignatureScheme standard-webhooks "
                "needs webhook-id, webhook-timestamp and webhook-signature)"
              : "no signature header";
        reason = PROTIME_R_NO_HEADER;
    }
    else if (keys->nelts == 0) {
        if (!protime_require_signature(dc))
            return OK;
        why = "no key to check it with (set ProtimeWebhookKey, or wait for "
              "the subscription)";
        reason = PROTIME_R_NO_KEY;
    }
    else if ((why = protime_decode_signature(r, dc, value, &sig, &header,
                                             &reason)) == NULL) {
        int nconf = dc->keys ? dc->keys->nelts : 0;

        if (protime_verify_signature(dc, keys, body, len, &sig))
            return OK;
        /* The subscription may have a key this process has not read yet. */
        keys->nelts = nconf;
        protime_add_subscription_keys(r, dc, 1, keys);
        if (keys->nelts > nconf
            && protime_verify_signature(dc, keys, body, len, &sig))
            return OK;
        why = "signature matches no key";
        reason = PROTIME_R_NO_MATCH;
    }
    protime_count(PROTIME_C_SIGNATURE_FAILURES, 1);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PTLOGNO(00304)
                  "delivery refused: %s: %s", header, why);
    protime_summarise_refusal(r, dc, reason);
    if (keys->nelts > 0)
        protime_discover_signature(r, dc, keys, body, len);
    protime_capture_refused_delivery(r, dc, why, body, len);
    apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                   "HMAC realm=\"protime-webhook\"");
    return HTTP_UNAUTHORIZED;
}

/* 202 with {"applied","stale","quarantined","reasons"} when part of the
 * delivery went to the quarantine. */
static int protime_answer_quarantined(request_rec *r, const pt_store_job_t *job)
{
    const apr_array_header_t *rejects = job->delivery->rejects;
    json_t *answer = json_object(), *reasons = json_array();
    char *text;
    int i;

    for (i = 0; i < rejects->nelts && i < PROTIME_MAX_REASONS; i++) {
        const pt_reject_t *rej = &APR_ARRAY_IDX(rejects, i, pt_reject_t);
        json_array_append_new(reasons, json_string(rej->reason));
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, PTLOGNO(00305)
                      "quarantined: %s", rej->reason);
    }
    json_object_set_new(answer, "applied", json_integer(job->applied));
    json_object_set_new(answer, "stale", json_integer(job->stale));
    json_object_set_new(answer, "quarantined",
                        json_integer(job->quarantined));
    json_object_set_new(answer, "reasons", reasons);
    text = json_dumps(answer, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(answer);
    r->status = HTTP_ACCEPTED;
    ap_set_content_type(r, "application/json");
    if (text) {
        ap_rputs(text, r);
        free(text);
    }
    return OK;
}

int protime_webhook_handler(request_rec *r)
{
    const protime_dir_conf *dc = protime_dir_config(r);
    pt_delivery_t delivery;
    pt_store_job_t job;
    char *body = NULL;
    const char *te, *ce;
    apr_size_t len = 0;
    int status;

    protime_count(PROTIME_C_DELIVERIES, 1);
    /* The Allow header of a 405 comes from allowed_methods, not allowed. */
    ap_allow_methods(r, REPLACE_ALLOW, "POST", NULL);
    if (r->method_number != M_POST) {
        protime_count(PROTIME_C_REJECTED, 1);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PTLOGNO(00311)
                      "request refused: method %s (deliveries are POSTs)",
                      ap_escape_logitem(r->pool, r->method));
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!protime_json_content_type(apr_table_get(r->headers_in,
                                                 "Content-Type"))) {
        protime_count(PROTIME_C_REJECTED, 1);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PTLOGNO(00306)
                      "delivery refused: Content-Type is not JSON");
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    te = apr_table_get(r->headers_in, "Transfer-Encoding");
    if (!protime_only_chunked(r->pool, te))
        return protime_refuse_coding(r, "Transfer-Encoding", te,
                                     "is not implemented, only chunked",
                                     HTTP_NOT_IMPLEMENTED);
    status = protime_read_body(r, protime_max_body(dc), &body, &len);
    if (status != OK) {
        protime_count(PROTIME_C_REJECTED, 1);
        return status;
    }
    ce = apr_table_get(r->headers_in, "Content-Encoding");
    if (!protime_identity_coding(r->pool, ce)) {
        /* RFC 7694: name the codings this resource takes. */
        apr_table_setn(r->err_headers_out, "Accept-Encoding", "identity");
        return protime_refuse_coding(r, "Content-Encoding", ce,
                                     "is not decoded here (SetInputFilter "
                                     "DEFLATE decodes gzip)",
                                     HTTP_UNSUPPORTED_MEDIA_TYPE);
    }
    status = protime_check_signature(r, dc, body, len);
    if (status != OK)
        return status;

    pt_event_parse_collection(r->pool, protime_collection(dc), body, len,
                              &delivery);
    memset(&job, 0, sizeof(job));
    job.delivery = &delivery;
    protime_storage_store(r, &job);
    if (job.error) {
        protime_count(PROTIME_C_STORAGE_ERRORS, 1);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PTLOGNO(00307)
                      "delivery not stored, answering 503: %s", job.error);
        apr_table_setn(r->err_headers_out, "Retry-After",
                       PROTIME_RETRY_AFTER);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    protime_count(PROTIME_C_APPLIED, job.applied);
    protime_count(PROTIME_C_DELETES, job.deletes);
    protime_count(PROTIME_C_STALE, job.stale);
    protime_count(PROTIME_C_QUARANTINED, job.quarantined);
    if (job.quarantined)
        return protime_answer_quarantined(r, &job);
    r->status = HTTP_NO_CONTENT;
    return OK;
}
