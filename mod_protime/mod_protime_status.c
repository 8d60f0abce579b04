/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_status.c: counters shared by all server processes, and the
 * protime-status handler that shows them as JSON or Prometheus text.
 *
 * The counters live in one anonymous shared memory segment created by the
 * parent and inherited by every child, so each increment is already the
 * server-wide sum. The segment belongs to the process pool, not to pconf:
 * it survives graceful restarts, and Prometheus counters do not drop to zero
 * each time the configuration is reloaded.
 */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <jansson.h>

#include "mod_protime.h"

APLOG_USE_MODULE(protime);

#define PROTIME_SHM_KEY "mod_protime_counters"

/* The status of one subscription. The job's thread writes it, any process
 * reads it: seq is odd while a write is under way, and a reader that saw
 * it change copies again. */
struct protime_status_slot {
    volatile apr_uint32_t seq;
    char tenant[64];
    char destination[512];      /* "" when the slot is free */
    pt_sub_status_t status;
};

/* The shared segment: counters, then the few values processes share. */
typedef struct {
    volatile apr_uint64_t counters[PROTIME_C_COUNT];
    volatile apr_uint64_t db_gave_up_at;        /* apr_time_t */
    struct protime_status_slot slots[PROTIME_MAX_SUBSCRIPTIONS];
} protime_shared_t;

static protime_shared_t *protime_shared;

static const struct {
    const char *name;   /* JSON key; Prometheus name is protime_<name>_total */
    const char *help;
} protime_counter_info[PROTIME_C_COUNT] = {
    { "deliveries_received", "Requests that reached a protime-webhook location." },
    { "events_applied", "Events that changed a row (deletes included)." },
    { "events_stale", "Events ignored as duplicates or older versions." },
    { "events_deleted", "Delete events applied." },
    { "quarantined", "Bodies or events stored in protime_quarantine." },
    { "signature_failures", "Deliveries refused with 401 (signature missing or wrong)." },
    { "rejected", "Deliveries refused for method, content type, coding, size or a broken body (405, 415, 501, 413, 400)." },
    { "storage_errors", "Deliveries answered 503 because the database failed." },
    { "commits", "Database transactions committed (one holds many deliveries under load)." },
};

apr_status_t protime_counters_init(server_rec *s)
{
    apr_pool_t *pproc = s->process->pool;
    apr_size_t size = sizeof(protime_shared_t);
    apr_shm_t *shm = NULL;
    apr_status_t rv;

    apr_pool_userdata_get((void **)&shm, PROTIME_SHM_KEY, pproc);
    /* A reload may bring a module with more counters than the segment has. */
    if (!shm || apr_shm_size_get(shm) < size) {
        rv = apr_shm_create(&shm, size, NULL, pproc);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, PTLOGNO(00201)
                         "cannot create the shared memory for counters");
            return rv;
        }
        memset(apr_shm_baseaddr_get(shm), 0, size);
        apr_pool_userdata_set(shm, PROTIME_SHM_KEY, apr_pool_cleanup_null,
                              pproc);
    }
    protime_shared = apr_shm_baseaddr_get(shm);
    return APR_SUCCESS;
}

void protime_count(protime_counter_t which, apr_uint64_t n)
{
    if (protime_shared && n)
        apr_atomic_add64(&protime_shared->counters[which], n);
}

static apr_uint64_t protime_counter(protime_counter_t which)
{
    return protime_shared
           ? apr_atomic_read64(&protime_shared->counters[which]) : 0;
}

apr_time_t protime_db_gave_up_at(void)
{
    return protime_shared
           ? (apr_time_t)apr_atomic_read64(&protime_shared->db_gave_up_at)
           : 0;
}

void protime_set_db_gave_up_at(apr_time_t when)
{
    if (protime_shared)
        apr_atomic_set64(&protime_shared->db_gave_up_at,
                         (apr_uint64_t)when);
}

struct protime_status_slot *protime_status_slot(const char *tenant,
                                                const char *destination)
{
    struct protime_status_slot *free_slot = NULL;
    int i;

    if (!protime_shared)
        return NULL;
    /* Called by the parent only (post_config): nobody writes meanwhile. */
    for (i = 0; i < PROTIME_MAX_SUBSCRIPTIONS; i++) {
        struct protime_status_slot *slot = &protime_shared->slots[i];

        if (!slot->destination[0]) {
            if (!free_slot)
                free_slot = slot;
        }
        else if (!strncmp(slot->tenant, tenant, sizeof(slot->tenant) - 1)
                 && !strncmp(slot->destination, destination,
                             sizeof(slot->destination) - 1)) {
            return slot;
        }
    }
    if (free_slot) {
        apr_cpystrn(free_slot->tenant, tenant, sizeof(free_slot->tenant));
        apr_cpystrn(free_slot->destination, destination,
                    sizeof(free_slot->destination));
        memset(&free_slot->status, 0, sizeof(free_slot->status));
    }
    return free_slot;
}

void protime_status_publish(struct protime_status_slot *slot,
                            const pt_sub_status_t *st)
{
    apr_atomic_inc32(&slot->seq);
    memcpy(&slot->status, st, sizeof(*st));
    apr_atomic_inc32(&slot->seq);
}

void protime_status_read(struct protime_status_slot *slot, pt_sub_status_t *st)
{
    for (;;) {
        apr_uint32_t seq = apr_atomic_read32(&slot->seq);

        if (seq & 1) {
            apr_thread_yield();
            continue;
        }
        memcpy(st, &slot->status, sizeof(*st));
        if (apr_atomic_read32(&slot->seq) == seq)
            return;
    }
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

    if (!protime_sub_status(r->server, &st))
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
    apr_time_exp_t tm;

    if (!t)
        return json_null();
    apr_time_exp_gmt(&tm, t);
    apr_snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
    return json_string(buf);
}

static json_t *protime_json_str(const char *s)
{
    return *s ? json_string(s) : json_null();
}

static void protime_status_json_sub(request_rec *r, json_t *root)
{
    json_t *sub, *sync;
    pt_sub_status_t st;

    if (!protime_sub_status(r->server, &st)) {
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
