/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_status.c: the protime-status handler, and the module's part
 * of /server-status (see mod_protime_status.h).
 */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mod_status.h>
#include <apr_strings.h>
#include <jansson.h>

#include "mod_protime.h"
#include "mod_protime_config.h"
#include "mod_protime_shm.h"
#include "mod_protime_status.h"
#include "mod_protime_subscription.h"

APLOG_USE_MODULE(protime);

static const struct {
    const char *name;   /* JSON key; Prometheus name is protime_<name>_total */
    const char *label;  /* /server-status?auto: Protime<label> */
    const char *help;
} protime_counter_info[PROTIME_C_COUNT] = {
    { "deliveries_received", "DeliveriesReceived", "Requests that reached a protime-webhook location." },
    { "events_applied", "EventsApplied", "Events that changed a row (deletes included)." },
    { "events_stale", "EventsStale", "Events ignored as duplicates or older versions." },
    { "events_deleted", "EventsDeleted", "Delete events applied." },
    { "quarantined", "Quarantined", "Bodies or events stored in protime_quarantine." },
    { "signature_failures", "SignatureFailures", "Deliveries refused with 401 (signature missing or wrong)." },
    { "rejected", "Rejected", "Deliveries refused for method, content type, coding, size or a broken body (405, 415, 501, 413, 400)." },
    { "storage_errors", "StorageErrors", "Deliveries answered 503 because the database failed." },
    { "commits", "Commits", "Database transactions committed (one holds many deliveries under load)." },
};

/* ISO 8601 UTC into buf, "" for 0. */
static const char *protime_iso_time(char buf[APR_RFC822_DATE_LEN],
                                    apr_time_t t)
{
    apr_time_exp_t tm;

    buf[0] = '\0';
    if (t) {
        apr_time_exp_gmt(&tm, t);
        apr_snprintf(buf, APR_RFC822_DATE_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
    }
    return buf;
}

/* Seconds since the epoch, for JSON and Prometheus; 0 stays 0. */
static double protime_seconds(apr_time_t t)
{
    return t ? (double)t / APR_USEC_PER_SEC : 0;
}

/* One gauge (or counter) of every subscription, labelled with its
 * collection. */
#define PROTIME_PROM_HEAD(name, type, help)                                   \
    ap_rputs("# HELP " name " " help "\n# TYPE " name " " type "\n", r)

static void protime_status_prometheus_sub(request_rec *r)
{
    apr_array_header_t *views = protime_subscription_views(r->pool,
                                    protime_subscribing_config(r->server));
    static const char *const states[] = {
        "starting", "active", "syncing", "standby", "error", NULL
    };
    int i, k;

#define PROTIME_EACH(fmt, ...)                                                \
    for (i = 0; i < views->nelts; i++) {                                      \
        const protime_sub_view *v = &APR_ARRAY_IDX(views, i,                  \
                                                   protime_sub_view);         \
        const pt_sub_status_t *st = &v->status;                               \
        ap_rprintf(r, fmt, v->collection, __VA_ARGS__);                       \
    }

    if (!views->nelts)
        return;
    PROTIME_PROM_HEAD("protime_subscription_state", "gauge",
                      "The subscription's state (1 for the current one).");
    for (k = 0; states[k]; k++) {
        PROTIME_EACH("protime_subscription_state{collection=\"%s\","
                     "state=\"%s\"} %d\n", states[k],
                     !strcmp(st->state, states[k]))
    }
    PROTIME_PROM_HEAD("protime_subscription_valid_until_seconds", "gauge",
                      "When the webhook expires (Unix time).");
    PROTIME_EACH("protime_subscription_valid_until_seconds{collection=\"%s\"}"
                 " %.0f\n", protime_seconds(st->valid_until))
    PROTIME_PROM_HEAD("protime_subscription_next_check_seconds", "gauge",
                      "When the job runs next (Unix time).");
    PROTIME_EACH("protime_subscription_next_check_seconds{collection=\"%s\"}"
                 " %.0f\n", protime_seconds(st->next_check))
    PROTIME_PROM_HEAD("protime_subscription_failures", "gauge",
                      "Consecutive failed steps of the job.");
    PROTIME_EACH("protime_subscription_failures{collection=\"%s\"} %d\n",
                 st->failures)
    PROTIME_PROM_HEAD("protime_subscription_last_error_seconds", "gauge",
                      "When the job last failed (Unix time).");
    PROTIME_EACH("protime_subscription_last_error_seconds{collection=\"%s\"}"
                 " %.0f\n", protime_seconds(st->last_error_at))
    PROTIME_PROM_HEAD("protime_sync_running", "gauge",
                      "1 while a full re-synchronisation is under way.");
    PROTIME_EACH("protime_sync_running{collection=\"%s\"} %d\n",
                 st->sync_running)
    PROTIME_PROM_HEAD("protime_sync_rows", "gauge",
                      "Rows read by the running or last re-synchronisation.");
    PROTIME_EACH("protime_sync_rows{collection=\"%s\"} %" APR_INT64_T_FMT
                 "\n", st->sync_rows)
    PROTIME_PROM_HEAD("protime_sync_pages", "gauge",
                      "Pages read by the running or last re-synchronisation.");
    PROTIME_EACH("protime_sync_pages{collection=\"%s\"} %" APR_INT64_T_FMT
                 "\n", st->sync_pages)
    PROTIME_PROM_HEAD("protime_sync_finished_seconds", "gauge",
                      "When the last re-synchronisation finished (Unix "
                      "time).");
    PROTIME_EACH("protime_sync_finished_seconds{collection=\"%s\"} %.0f\n",
                 protime_seconds(st->sync_finished_at))
    PROTIME_PROM_HEAD("protime_reconciled_total", "counter",
                      "Changes reconciliation applied that no delivery had "
                      "brought (a webhook missed them).");
    PROTIME_EACH("protime_reconciled_total{collection=\"%s\"} %"
                 APR_UINT64_T_FMT "\n", st->reconciled)
    PROTIME_PROM_HEAD("protime_reconciled_seconds", "gauge",
                      "When the last delta was fetched (Unix time).");
    PROTIME_EACH("protime_reconciled_seconds{collection=\"%s\"} %.0f\n",
                 protime_seconds(st->reconciled_at))
#undef PROTIME_EACH
}

/* ISO 8601 UTC, or JSON null for 0. */
static json_t *protime_json_time(apr_pool_t *p, apr_time_t t)
{
    char buf[APR_RFC822_DATE_LEN];

    return t ? json_string(protime_iso_time(buf, t)) : json_null();
}

static json_t *protime_json_str(const char *s)
{
    return *s ? json_string(s) : json_null();
}

/* One subscription's object: its state and webhook, and its last full
 * re-synchronisation in "sync" and reconciliation in "reconcile". */
static json_t *protime_json_sub(request_rec *r, const protime_sub_view *v)
{
    const pt_sub_status_t *st = &v->status;
    json_t *sub = json_object(), *sync = json_object(), *rec = json_object();

    json_object_set_new(sub, "collection", json_string(v->collection));
    json_object_set_new(sub, "destination", json_string(v->destination));
    json_object_set_new(sub, "state", json_string(st->state));
    json_object_set_new(sub, "webhook_id", protime_json_str(st->webhook_id));
    json_object_set_new(sub, "valid_until",
                        protime_json_time(r->pool, st->valid_until));
    json_object_set_new(sub, "checked_at",
                        protime_json_time(r->pool, st->checked_at));
    json_object_set_new(sub, "last_error", protime_json_str(st->last_error));
    json_object_set_new(sub, "last_error_at",
                        protime_json_time(r->pool, st->last_error_at));
    json_object_set_new(sub, "failures", json_integer(st->failures));
    json_object_set_new(sub, "next_check",
                        protime_json_time(r->pool, st->next_check));
    json_object_set_new(sub, "owner", protime_json_str(st->owner));
    json_object_set_new(sub, "lease_until",
                        protime_json_time(r->pool, st->lease_until));

    json_object_set_new(sync, "running", json_boolean(st->sync_running));
    json_object_set_new(sync, "window_from",
                        protime_json_str(st->sync_window));
    json_object_set_new(sync, "rows", json_integer(st->sync_rows));
    json_object_set_new(sync, "pages", json_integer(st->sync_pages));
    json_object_set_new(sync, "started_at",
                        protime_json_time(r->pool, st->sync_started_at));
    json_object_set_new(sync, "finished_at",
                        protime_json_time(r->pool, st->sync_finished_at));
    json_object_set_new(sub, "sync", sync);

    json_object_set_new(rec, "delta", json_boolean(st->delta_ready));
    json_object_set_new(rec, "reconciled_at",
                        protime_json_time(r->pool, st->reconciled_at));
    json_object_set_new(rec, "reconciled_total",
                        json_integer((json_int_t)st->reconciled));
    json_object_set_new(sub, "reconcile", rec);
    return sub;
}

/* "subscriptions": one object per collection. "subscription" and "sync"
 * stay for the first collection (access-clockings by default), as they
 * were before there were several. */
static void protime_status_json_sub(request_rec *r, json_t *root)
{
    apr_array_header_t *views = protime_subscription_views(r->pool,
                                    protime_subscribing_config(r->server));
    json_t *all = json_array();
    int i;

    for (i = 0; i < views->nelts; i++)
        json_array_append_new(all, protime_json_sub(r,
                              &APR_ARRAY_IDX(views, i, protime_sub_view)));
    if (views->nelts) {
        json_t *first = json_deep_copy(json_array_get(all, 0));
        json_t *sync = json_incref(json_object_get(first, "sync"));

        json_object_del(first, "sync");
        json_object_set_new(root, "subscription", first);
        json_object_set_new(root, "sync", sync);
    }
    else {
        json_object_set_new(root, "subscription", json_null());
    }
    json_object_set_new(root, "subscriptions", all);
}

/* The directives that would accept refused deliveries, when signature
 * discovery found a match (mod_protime_webhook.c); null otherwise. */
static void protime_status_json_hint(request_rec *r, json_t *root)
{
    protime_hint_t h;
    json_t *hint;

    if (!protime_shm_latest_hint(&h)) {
        json_object_set_new(root, "signature_hint", json_null());
        return;
    }
    hint = json_object();
    json_object_set_new(hint, "location", json_string(h.location));
    json_object_set_new(hint, "hint", json_string(h.text));
    json_object_set_new(hint, "found_at",
                        protime_json_time(r->pool, h.found_at));
    json_object_set_new(root, "signature_hint", hint);
}

static int protime_status_prometheus(request_rec *r)
{
    int i;

    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    for (i = 0; i < PROTIME_C_COUNT; i++) {
        ap_rprintf(r, "# HELP protime_%s_total %s\n"
                   "# TYPE protime_%s_total counter\n"
                   "protime_%s_total %" APR_UINT64_T_FMT "\n",
                   protime_counter_info[i].name, protime_counter_info[i].help,
                   protime_counter_info[i].name, protime_counter_info[i].name,
                   protime_counter((protime_counter_t)i));
    }
    protime_status_prometheus_sub(r);
    return OK;
}

static int protime_status_json(request_rec *r)
{
    json_t *root = json_object(), *counters = json_object();
    char *text;
    int i;

    for (i = 0; i < PROTIME_C_COUNT; i++)
        json_object_set_new(counters, protime_counter_info[i].name,
                            json_integer((json_int_t)protime_counter(
                                (protime_counter_t)i)));
    json_object_set_new(root, "module", json_string("mod_protime/"
                                                    PROTIME_VERSION));
    json_object_set_new(root, "counters", counters);
    protime_status_json_sub(r, root);
    protime_status_json_hint(r, root);
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return HTTP_INTERNAL_SERVER_ERROR;
    ap_set_content_type(r, "application/json");
    ap_rputs(text, r);
    ap_rputs("\n", r);
    free(text);
    return OK;
}

int protime_status_handler(request_rec *r)
{
    ap_allow_methods(r, REPLACE_ALLOW, "GET", NULL);
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->args && ap_strstr_c(r->args, "format=prometheus"))
        return protime_status_prometheus(r);
    return protime_status_json(r);
}

/* One subscription's line in /server-status: a table row, or with ?auto
 * (AP_STATUS_SHORT) "Key: value" lines numbered from 1. */
static void protime_server_status_sub(request_rec *r, int flags, int n,
                                      const protime_sub_view *v)
{
    const pt_sub_status_t *st = &v->status;
    char valid[APR_RFC822_DATE_LEN], next[APR_RFC822_DATE_LEN];

    protime_iso_time(valid, st->valid_until);
    protime_iso_time(next, st->next_check);
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "ProtimeSubscription%dDestination: %s\n"
                   "ProtimeSubscription%dState: %s\n"
                   "ProtimeSubscription%dValidUntil: %s\n"
                   "ProtimeSubscription%dNextCheck: %s\n"
                   "ProtimeSubscription%dFailures: %d\n"
                   "ProtimeSubscription%dSyncRunning: %d\n",
                   n, v->destination, n, st->state, n, valid, n, next,
                   n, st->failures, n, st->sync_running);
        return;
    }
    ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
               "<td>%s</td><td>%d</td><td>%s</td></tr>\n",
               ap_escape_html(r->pool, v->destination),
               ap_escape_html(r->pool, st->state),
               ap_escape_html(r->pool, st->webhook_id), valid, next,
               st->failures, ap_escape_html(r->pool, st->last_error));
}

int protime_server_status(request_rec *r, int flags)
{
    server_rec *sp;
    int i, n = 0;

    if (flags & AP_STATUS_SHORT) {
        for (i = 0; i < PROTIME_C_COUNT; i++)
            ap_rprintf(r, "Protime%s: %" APR_UINT64_T_FMT "\n",
                       protime_counter_info[i].label,
                       protime_counter((protime_counter_t)i));
    }
    else {
        ap_rputs("<hr />\n<h2>mod_protime</h2>\n<table>\n", r);
        for (i = 0; i < PROTIME_C_COUNT; i++)
            ap_rprintf(r, "<tr><th align=\"left\">%s</th>"
                       "<td align=\"right\">%" APR_UINT64_T_FMT "</td></tr>\n",
                       protime_counter_info[i].name,
                       protime_counter((protime_counter_t)i));
        ap_rputs("</table>\n", r);
    }
    for (sp = ap_server_conf; sp; sp = sp->next) {
        apr_array_header_t *views = protime_subscription_views(r->pool,
                                        protime_srv_config(sp));

        for (i = 0; i < views->nelts; i++) {
            if (!n++ && !(flags & AP_STATUS_SHORT))
                ap_rputs("<table border=\"1\">\n<tr><th>destination</th>"
                         "<th>state</th><th>webhook</th><th>valid until</th>"
                         "<th>next check</th><th>failures</th>"
                         "<th>last error</th></tr>\n", r);
            protime_server_status_sub(r, flags, n,
                                      &APR_ARRAY_IDX(views, i,
                                                     protime_sub_view));
        }
    }
    if (n && !(flags & AP_STATUS_SHORT))
        ap_rputs("</table>\n", r);
    return OK;
}
