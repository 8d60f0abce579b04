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
#include <jansson.h>

#include "mod_protime.h"

APLOG_USE_MODULE(protime);

#define PROTIME_SHM_KEY "mod_protime_counters"

/* The shared segment: counters, then the few values processes share. */
typedef struct {
    volatile apr_uint64_t counters[PROTIME_C_COUNT];
    volatile apr_uint64_t sqlite_gave_up_at;    /* apr_time_t */
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
    { "rejected", "Deliveries refused for method, content type, size or a broken body (405, 413, 415, 400)." },
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

apr_time_t protime_sqlite_gave_up_at(void)
{
    return protime_shared
           ? (apr_time_t)apr_atomic_read64(&protime_shared->sqlite_gave_up_at)
           : 0;
}

void protime_set_sqlite_gave_up_at(apr_time_t when)
{
    if (protime_shared)
        apr_atomic_set64(&protime_shared->sqlite_gave_up_at,
                         (apr_uint64_t)when);
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
