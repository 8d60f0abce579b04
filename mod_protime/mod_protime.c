/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime.c: the module record, and every hook of the module, each
 * calling the parts it concerns (the layout: mod_protime.h).
 */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mod_status.h>
#include <apr_allocator.h>
#include <apr_thread_mutex.h>
#include <stdlib.h>
#include <jansson.h>

#include "mod_protime.h"
#include "mod_protime_config.h"
#include "mod_protime_shm.h"
#include "mod_protime_status.h"
#include "mod_protime_storage.h"
#include "mod_protime_subscription.h"
#include "mod_protime_webhook.h"

static int protime_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp)
{
    protime_storage_pre_config(pconf);
    return OK;
}

/* What the directives alone cannot tell: checked before every start, and
 * by apachectl configtest. */
static int protime_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                apr_pool_t *ptemp, server_rec *s)
{
    if (protime_config_check(s, ptemp) != APR_SUCCESS
        || protime_storage_check(ptemp, s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    return OK;
}

static int protime_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    /* The first pass at startup runs in a process that is about to go away
     * (httpd reads its configuration twice, and detaches in between):
     * nothing to set up yet. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;

    /* jansson seeds its hash function lazily, which is not thread-safe:
     * seed it here, in the parent, before any child thread parses JSON. */
    json_object_seed(0);

    if (protime_shm_init(s) != APR_SUCCESS
        || protime_storage_post_config(pconf, ptemp, s) != APR_SUCCESS
        || protime_subscription_post_config(pconf, ptemp, s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PTLOGNO(00101)
                 "mod_protime/%s ready (jansson %s)", PROTIME_VERSION,
                 JANSSON_VERSION);
    return OK;
}

/* The module's background jobs (the subscription job, the deadlines of
 * PostgreSQL calls) run in mod_watchdog's threads, and their database work
 * makes and frees pools under mod_dbd's, which descend from pchild. The
 * prefork MPM gives pchild's allocator no mutex, since its children serve
 * requests with one thread: the job's pools and the requests' then shared
 * an allocator without a lock, which corrupted it, and a child crashed as
 * it exited (t/subscription/apidown.t under prefork). Set before any of
 * mod_watchdog's threads starts; APR drops it when pchild, the allocator's
 * owner, is destroyed. */
static void protime_child_allocator(apr_pool_t *pchild, server_rec *s)
{
    apr_allocator_t *allocator = apr_pool_allocator_get(pchild);
    apr_thread_mutex_t *mutex;
    apr_status_t rv;

    if (!allocator || apr_allocator_mutex_get(allocator))
        return;
    rv = apr_thread_mutex_create(&mutex, APR_THREAD_MUTEX_DEFAULT, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, PTLOGNO(00102)
                     "cannot create the mutex of the child's allocator; "
                     "exiting");
        exit(APEXIT_CHILDSICK);
    }
    apr_allocator_mutex_set(allocator, mutex);
}

static void protime_child_init(apr_pool_t *pchild, server_rec *s)
{
    protime_storage_child_init(pchild, s);
    protime_subscription_child_init(pchild, s);
}

static int protime_handler(request_rec *r)
{
    if (!r->handler)
        return DECLINED;
    if (!strcmp(r->handler, PROTIME_WEBHOOK_HANDLER))
        return protime_webhook_handler(r);
    if (!strcmp(r->handler, PROTIME_STATUS_HANDLER))
        return protime_status_handler(r);
    return DECLINED;
}

/* No file stands behind the module's handlers, so the walk of the file
 * system that core's map_to_storage does for every request (stat() calls
 * and the merging of <Directory> sections) is wasted on them, and a
 * measurable share of a delivery's time (bench/README.md). As mod_proxy
 * and mod_jk do for their URLs, the module answers map_to_storage itself
 * for a request whose <Location> or <If> sets one of its handlers.
 * map_to_storage runs on the server's configuration, before core walks
 * <Location> again for the URL as translate_name left it (mod_rewrite's
 * [PT] may have changed it); so the module does that walk first, as core
 * will, reads SetHandler as core's fixups will, and puts the server's
 * configuration back for whoever comes next. TRACE is left to core, which
 * answers it according to TraceEnable. */
static int protime_map_to_storage(request_rec *r)
{
    ap_conf_vector_t *server_conf = r->per_dir_config;
    const core_dir_config *core;
    const char *handler = NULL, *err = NULL;

    if (r->method_number == M_TRACE)
        return DECLINED;
    if (ap_location_walk(r) == OK && ap_if_walk(r) == OK) {
        core = ap_get_core_module_config(r->per_dir_config);
        if (core->expr_handler)
            handler = ap_expr_str_exec(r, core->expr_handler, &err);
    }
    r->per_dir_config = server_conf;
    if (err || !handler)
        return DECLINED;
    return !strcmp(handler, PROTIME_WEBHOOK_HANDLER)
           || !strcmp(handler, PROTIME_STATUS_HANDLER) ? OK : DECLINED;
}

static void protime_register_hooks(apr_pool_t *p)
{
    static const char *const after_dbd[] = { "mod_dbd.c", NULL };

    ap_hook_pre_config(protime_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(protime_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* Before mod_watchdog's post_config (APR_HOOK_LAST), which starts the
     * watchdogs registered by then. */
    ap_hook_post_config(protime_post_config, after_dbd, NULL,
                        APR_HOOK_MIDDLE);
    ap_hook_child_init(protime_child_allocator, NULL, NULL,
                       APR_HOOK_REALLY_FIRST);
    ap_hook_child_init(protime_child_init, after_dbd, NULL, APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(protime_map_to_storage, NULL, NULL,
                           APR_HOOK_FIRST);
    ap_hook_handler(protime_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, protime_server_status, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

/* AP_MODULE_FLAG_ALWAYS_MERGE: without it, httpd hands a <VirtualHost>
 * that sets none of the module's directives the main server's
 * configuration itself, and ProtimeSubscribe, which virtual hosts do not
 * inherit, would count that host as a second subscriber. */
AP_DECLARE_MODULE(protime) = {
    STANDARD20_MODULE_STUFF,
    protime_create_dir_conf,
    protime_merge_dir_conf,
    protime_create_srv_conf,
    protime_merge_srv_conf,
    protime_cmds,
    protime_register_hooks,
    AP_MODULE_FLAG_ALWAYS_MERGE
};
