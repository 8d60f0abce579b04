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

/* The status of the subscription of sc, as its job last published it; 0
 * when sc has none. */
static int protime_sub_status(const protime_srv_conf *sc, pt_sub_status_t *out)
{
    if (!sc->sub)
        return 0;
    memset(out, 0, sizeof(*out));
    if (sc->status_slot)
        protime_shm_read(sc->status_slot, out);
    if (!out->state[0])
        apr_cpystrn(out->state, "starting", sizeof(out->state));
    return 1;
}

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

static void protime_status_prometheus_sub(request_rec *r)
{
    pt_sub_status_t st;
    static const char *const states[] = {
        "starting", "active", "syncing", "standby", "error", NULL
    };
    int i;

    if (!protime_sub_status(protime_subscribing_config(r->server), &st))
        return;
    ap_rputs("# HELP protime_subscription_state The subscription's state "
             "(1 for the current one).\n"
             "# TYPE protime_subscription_state gauge\n", r);
    for (i = 0; states[i]; i++)
        ap_rprintf(r, "protime_subscription_state{state=\"%s\"} %d\n",
                   states[i], !strcmp(st.state, states[i]));
    ap_rprintf(r, "# HELP protime_subscription_valid_until_seconds When the "
               "webhook expires (Unix time).\n"
               "# TYPE protime_subscription_valid_until_seconds gauge\n"
               "protime_subscription_valid_until_seconds %.0f\n"
               "# HELP protime_subscription_next_check_seconds When the job "
               "runs next (Unix time).\n"
               "# TYPE protime_subscription_next_check_seconds gauge\n"
               "protime_subscription_next_check_seconds %.0f\n"
               "# HELP protime_subscription_failures Consecutive failed "
               "steps of the job.\n"
               "# TYPE protime_subscription_failures gauge\n"
               "protime_subscription_failures %d\n"
               "# HELP protime_subscription_last_error_seconds When the job "
               "last failed (Unix time).\n"
               "# TYPE protime_subscription_last_error_seconds gauge\n"
               "protime_subscription_last_error_seconds %.0f\n"
               "# HELP protime_sync_running 1 while a full "
               "re-synchronisation is under way.\n"
               "# TYPE protime_sync_running gauge\n"
               "protime_sync_running %d\n"
               "# HELP protime_sync_rows Rows read by the running or last "
               "re-synchronisation.\n"
               "# TYPE protime_sync_rows gauge\n"
               "protime_sync_rows %" APR_INT64_T_FMT "\n"
               "# HELP protime_sync_pages Pages read by the running or last "
               "re-synchronisation.\n"
               "# TYPE protime_sync_pages gauge\n"
               "protime_sync_pages %" APR_INT64_T_FMT "\n"
               "# HELP protime_sync_finished_seconds When the last "
               "re-synchronisation finished (Unix time).\n"
               "# TYPE protime_sync_finished_seconds gauge\n"
               "protime_sync_finished_seconds %.0f\n",
               protime_seconds(st.valid_until), protime_seconds(st.next_check),
               st.failures, protime_seconds(st.last_error_at),
               st.sync_running, st.sync_rows, st.sync_pages,
               protime_seconds(st.sync_finished_at));
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

static void protime_status_json_sub(request_rec *r, json_t *root)
{
    json_t *sub, *sync;
    pt_sub_status_t st;

    if (!protime_sub_status(protime_subscribing_config(r->server), &st)) {
        json_object_set_new(root, "subscription", json_null());
        return;
    }
    sub = json_object();
    json_object_set_new(sub, "state", json_string(st.state));
    json_object_set_new(sub, "webhook_id", protime_json_str(st.webhook_id));
    json_object_set_new(sub, "valid_until",
                        protime_json_time(r->pool, st.valid_until));
    json_object_set_new(sub, "checked_at",
                        protime_json_time(r->pool, st.checked_at));
    json_object_set_new(sub, "last_error", protime_json_str(st.last_error));
    json_object_set_new(sub, "last_error_at",
                        protime_json_time(r->pool, st.last_error_at));
    json_object_set_new(sub, "failures", json_integer(st.failures));
    json_object_set_new(sub, "next_check",
                        protime_json_time(r->pool, st.next_check));
    json_object_set_new(sub, "owner", protime_json_str(st.owner));
    json_object_set_new(sub, "lease_until",
                        protime_json_time(r->pool, st.lease_until));
    json_object_set_new(root, "subscription", sub);

    sync = json_object();
    json_object_set_new(sync, "running", json_boolean(st.sync_running));
    json_object_set_new(sync, "window_from", protime_json_str(st.sync_window));
    json_object_set_new(sync, "rows", json_integer(st.sync_rows));
    json_object_set_new(sync, "pages", json_integer(st.sync_pages));
    json_object_set_new(sync, "started_at",
                        protime_json_time(r->pool, st.sync_started_at));
    json_object_set_new(sync, "finished_at",
                        protime_json_time(r->pool, st.sync_finished_at));
    json_object_set_new(root, "sync", sync);
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
                                      const protime_srv_conf *sc,
                                      const pt_sub_status_t *st)
{
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
                   n, sc->destination_url, n, st->state, n, valid, n, next,
                   n, st->failures, n, st->sync_running);
        return;
    }
    ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
               "<td>%s</td><td>%d</td><td>%s</td></tr>\n",
               ap_escape_html(r->pool, sc->destination_url),
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
        const protime_srv_conf *sc = protime_srv_config(sp);
        pt_sub_status_t st;

        if (!protime_sub_status(sc, &st))
            continue;
        if (!n++ && !(flags & AP_STATUS_SHORT))
            ap_rputs("<table border=\"1\">\n<tr><th>destination</th>"
                     "<th>state</th><th>webhook</th><th>valid until</th>"
                     "<th>next check</th><th>failures</th>"
                     "<th>last error</th></tr>\n", r);
        protime_server_status_sub(r, flags, n, sc, &st);
    }
    if (n && !(flags & AP_STATUS_SHORT))
        ap_rputs("</table>\n", r);
    return OK;
}
