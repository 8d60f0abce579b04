/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_subscription.c: the subscription job, and the keys it gives
 * the webhook handler (see mod_protime_subscription.h).
 *
 * Process model. The job (pt_sub_step) runs in a mod_watchdog singleton:
 * in one child of the server at a time, in a thread of its own, never in
 * the parent and never in post_config, so that a Protime that is slow or
 * down cannot delay startup, a graceful restart or a request. mod_watchdog
 * elects the child with a global mutex; when that child exits, another
 * takes over. Every step reloads its state from the database, so nothing
 * is lost in the move; only the status (and the cached token) is in
 * memory, the status also in shared memory for the protime-status handler
 * of every process.
 *
 * Each collection a server (virtual host) subscribes to has a job, with
 * its webhook, destination, lease and state, and a watchdog instance of
 * its own, hence a thread of its own: a step blocks its thread for a few
 * API calls and their retries (each bounded by ProtimeHTTPTimeout, aborted
 * when the server stops) or a sync budget, and one tenant whose Protime is
 * unreachable, or one collection's long re-synchronisation, must not hold
 * up the others. The jobs of a server are a list, from its configuration's
 * sub.
 *
 * Keys. A delivery may be signed with the key of any webhook the job
 * created and has not retired. Each process caches the keys of its
 * servers, and reads them again when the job says they changed (a counter
 * in shared memory), when a signature matched none of them (at most once a
 * second: another server sharing the database may have rotated), and every
 * minute.
 */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <util_cfgtree.h>
#include <ap_mpm.h>
#include <mod_watchdog.h>
#include <apr_atomic.h>
#include <apr_network_io.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "mod_protime.h"
#include "mod_protime_config.h"
#include "mod_protime_log.h"
#include "mod_protime_shm.h"
#include "mod_protime_storage.h"
#include "mod_protime_subscription.h"
#include "pt_clock.h"
#include "pt_curl.h"
#include "pt_sub.h"

APLOG_USE_MODULE(protime);

/* Watchdog instances are named PROTIME_WATCHDOG_NAME-<n>. */
#define PROTIME_WATCHDOG_NAME "protime"

/* The first step waits this long after the child starts. */
#define PROTIME_FIRST_STEP apr_time_from_msec(500)
/* Shortest wait between steps (a sync that goes on, a due rotation). */
#define PROTIME_MIN_STEP apr_time_from_msec(100)
/* How long one step may read pages of a re-synchronisation. */
#define PROTIME_SYNC_BUDGET apr_time_from_sec(5)
/* Keys are read again at least this often, and at most this often when a
 * signature matched none of them. */
#define PROTIME_KEYS_MAX_AGE apr_time_from_sec(60)
#define PROTIME_KEYS_RETRY apr_time_from_sec(1)
/* The lease lasts three steps of an owner at rest (steps come at most a
 * check interval, and at most a minute, apart) but no less than this, so
 * that a step slowed by retries does not lose it, and no less than two
 * attempts of an API call: a change at Protime is sent only if it can end
 * within the lease (pt_sub_fence). */
#define PROTIME_LEASE_STEP apr_time_from_sec(60)
#define PROTIME_MIN_LEASE apr_time_from_sec(10)

struct protime_sub {
    struct protime_sub *next;       /* the server's next collection */
    const char *collection;
    server_rec *s;
    ap_watchdog_t *watchdog;
    pt_sub_config_t cfg;
    pt_api_config_t api_cfg;
    pt_curl_options_t curl;
    pt_log_t log;                   /* of pt_api and pt_sub: to s */
    pt_api_t *api;                  /* watchdog thread only */
    apr_pool_t *pool;               /* the job's: the client, its token */
    pt_sub_status_t status;         /* watchdog thread only */
    struct protime_status_slot *slot;
    /* The step running (watchdog thread only): the pool of its
     * connections, and the connection of its current read or write. */
    apr_pool_t *step_pool;
    ap_dbd_t *dbd;
    pt_store_conn_t conn;
    int dbd_locked;                 /* with the writers' mutex */
    /* The keys, per process (child_init). */
    apr_thread_mutex_t *keys_lock;
    apr_pool_t *keys_pool;
    apr_array_header_t *keys;       /* of const char *, as stored */
    apr_uint32_t keys_seen;         /* keys_changed they reflect */
    apr_time_t keys_loaded_at;      /* pt_clock_monotonic(); 0: never */
    int keys_failed;                /* the last read of them failed */
    /* Held while a step runs. A child that exits does not wait for
     * mod_watchdog's threads (their pools outlive pchild), so it would run
     * the process's exit handlers, OpenSSL's among them, under a step that
     * is using libcurl. Our pre-cleanup of pchild instead tells the steps
     * to stop and waits for them on this lock. From the process pool: the
     * thread may still take it after pchild is gone. */
    apr_thread_mutex_t *step_lock;
};

/* Set when this child exits: steps stop at their next API call. */
static volatile apr_uint32_t protime_child_exiting;

static APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *protime_wd_get_instance;
static APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *protime_wd_register;
static APR_OPTIONAL_FN_TYPE(ap_watchdog_set_callback_interval) *protime_wd_interval;
static int protime_subscribing;     /* servers with a job, this generation */
static const char *protime_owner;   /* this server among those sharing a
                                     * database: host:root:config */

static int protime_stopping(void)
{
    int state = AP_MPMQ_RUNNING;

    if (apr_atomic_read32(&protime_child_exiting))
        return 1;
    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS
           && state == AP_MPMQ_STOPPING;
}

static int protime_sub_abort(void *baton)
{
    return protime_stopping();
}

/* Waits between retries in short slices, so that a stopping server is not
 * held up by a Retry-After. */
static int protime_sub_sleep(void *baton, apr_interval_time_t how_long)
{
    apr_time_t until = pt_clock_monotonic() + how_long;

    while (!protime_stopping()) {
        apr_time_t left = until - pt_clock_monotonic();
        if (left <= 0)
            return 0;
        apr_sleep(left < apr_time_from_msec(100) ? left
                                                 : apr_time_from_msec(100));
    }
    return 1;
}

/* A connection of mod_dbd's pool for one read or write of a step (see
 * pt_sub_env_t): the step holds it only as long as the database work, and
 * never while it waits on Protime, so that the job takes no more of the
 * pool than a delivery does. The step's pool lends the memory; the watchdog
 * thread runs one step at a time, so one ap_dbd_t at a time too. */
static const pt_store_conn_t *protime_sub_acquire(void *baton, int write,
                                                  const char **err)
{
    struct protime_sub *sub = baton;

    sub->dbd_locked = 0;
    sub->dbd = write ? protime_storage_open_write(sub->step_pool, sub->s,
                                                  &sub->conn, err,
                                                  &sub->dbd_locked)
                     : protime_storage_open(sub->step_pool, sub->s,
                                            &sub->conn, err);
    return sub->dbd ? &sub->conn : NULL;
}

static void protime_sub_release(void *baton, const pt_store_conn_t *conn,
                                int write)
{
    struct protime_sub *sub = baton;

    protime_storage_close_write(sub->step_pool, sub->s, sub->dbd,
                                sub->dbd_locked);
}

/* One step of the job. */
static apr_interval_time_t protime_sub_run(struct protime_sub *sub,
                                           apr_pool_t *ptemp)
{
    protime_srv_conf *sc = protime_srv_config(sub->s);
    pt_sub_env_t env;
    const char *err;

    if (!sub->api) {
        if ((err = pt_api_create(sub->pool, &sub->api_cfg, &sub->api))) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, sub->s, PTLOGNO(00602)
                         "subscription: %s", err);
            return protime_check_interval(sc);
        }
    }
    memset(&env, 0, sizeof(env));
    sub->step_pool = ptemp;
    env.api = sub->api;
    env.acquire = protime_sub_acquire;
    env.release = protime_sub_release;
    env.log = &sub->log;
    env.baton = sub;
    env.sync_budget = PROTIME_SYNC_BUDGET;
    env.owner = protime_owner;
    env.lease = 3 * (sub->cfg.check_interval < PROTIME_LEASE_STEP
                     ? sub->cfg.check_interval : PROTIME_LEASE_STEP);
    if (env.lease < PROTIME_MIN_LEASE)
        env.lease = PROTIME_MIN_LEASE;
    if (env.lease < 2 * sub->api_cfg.attempt_timeout)
        env.lease = 2 * sub->api_cfg.attempt_timeout;
    return pt_sub_step(ptemp, &sub->cfg, &env, apr_time_now(), &sub->status);
}

static apr_status_t protime_sub_watchdog(int state, void *data,
                                         apr_pool_t *ptemp)
{
    struct protime_sub *sub = data;
    apr_interval_time_t next;

    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        /* This child now holds the job: carry on from what the previous
         * holder published. */
        if (sub->slot)
            protime_shm_read(sub->slot, &sub->status);
        sub->status.checked_at = 0;     /* confirm at Protime first */
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, sub->s, PTLOGNO(00604)
                     "subscription job for %s runs in process %" APR_PID_T_FMT,
                     sub->cfg.destination_url, getpid());
        break;
    case AP_WATCHDOG_STATE_RUNNING:
        if (!sub->step_lock)
            break;
        apr_thread_mutex_lock(sub->step_lock);
        if (apr_atomic_read32(&protime_child_exiting)) {
            apr_thread_mutex_unlock(sub->step_lock);
            break;
        }
        next = protime_sub_run(sub, ptemp);
        /* OpenSSL frees a thread's state (its random generators, its
         * error queue) in a destructor when the thread ends. This thread
         * ends as the child exits, and nothing waits for it: the
         * destructor can run while OpenSSL's atexit cleanup frees the same
         * memory, a double free (test/child-exit.pl). Freed here, under
         * the lock the child's exit waits for, the thread has nothing left
         * for the destructor; a later step builds it again. */
        OPENSSL_thread_stop();
        if (next < PROTIME_MIN_STEP)
            next = PROTIME_MIN_STEP;
        sub->status.next_check = apr_time_now() + next;
        /* Under the lock the child's exit waits for: an exit must not end
         * the process in the middle of the write. */
        if (sub->slot)
            protime_shm_publish(sub->slot, &sub->status);
        apr_thread_mutex_unlock(sub->step_lock);
        protime_wd_interval(sub->watchdog, next, sub, protime_sub_watchdog);
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        break;
    }
    /* Anything else would stop mod_watchdog from calling us again. */
    return APR_SUCCESS;
}

static apr_status_t protime_curl_cleanup(void *unused)
{
    curl_global_cleanup();
    return APR_SUCCESS;
}

/* Builds the job of one collection of a subscribing server. */
static struct protime_sub *protime_sub_make(apr_pool_t *pconf, server_rec *s,
                                            protime_srv_conf *sc,
                                            const char *collection)
{
    struct protime_sub *sub = apr_pcalloc(pconf, sizeof(*sub));

    sub->s = s;
    sub->collection = collection;
    protime_log_bridge(&sub->log, s);
    sub->cfg.tenant = sc->tenant;
    sub->cfg.collection = collection;
    sub->cfg.destination_url = protime_destination(pconf, sc, collection);
    sub->cfg.reconcile_interval = protime_reconcile_interval(sc);
    sub->cfg.external_references = sc->external_references;
    sub->cfg.renew_before = protime_renew_before(sc);
    sub->cfg.check_interval = protime_check_interval(sc);
    sub->cfg.sync_from = sc->sync_from
                         ? sc->sync_from
                         : pt_sub_default_sync_from(pconf, apr_time_now());

    sub->curl.timeout_sec = protime_http_timeout(sc);
    sub->curl.ca_file = sc->ca_file;
    sub->curl.proxy = sc->proxy;
    sub->curl.proxy_user = sc->proxy_user;
    sub->curl.allow_insecure = protime_allow_insecure(sc);
    sub->curl.abort = protime_sub_abort;
    sub->curl.baton = sub;
    pt_curl_transport(pconf, &sub->curl, &sub->api_cfg.http);

    sub->api_cfg.api_url = protime_api_url(pconf, sc);
    sub->api_cfg.token_url = protime_token_url(pconf, sc);
    sub->api_cfg.client_id = sc->client_id;
    sub->api_cfg.client_secret = sc->client_secret;
    sub->api_cfg.user_agent = protime_user_agent(pconf, sc, s);
    sub->api_cfg.allow_insecure = protime_allow_insecure(sc);
    sub->api_cfg.log = &sub->log;
    sub->api_cfg.sleep = protime_sub_sleep;
    sub->api_cfg.baton = sub;
    sub->api_cfg.attempt_timeout = apr_time_from_sec(sub->curl.timeout_sec);
    sub->api_cfg.collection = collection;
    sub->api_cfg.scope = pt_api_scope(pconf, protime_collections(pconf, sc));

    /* Used by the watchdog thread only, in whichever child holds it. */
    apr_pool_create(&sub->pool, pconf);
    apr_pool_tag(sub->pool, "protime_sub");
    sub->slot = protime_shm_slot(sc->tenant, sub->cfg.destination_url);
    if (!sub->slot)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PTLOGNO(00605)
                     "more than %d subscriptions: the status of %s is not "
                     "shown", PROTIME_MAX_SUBSCRIPTIONS,
                     sub->cfg.destination_url);
    return sub;
}

/* Who this server is among those sharing a database: host, ServerRoot
 * and configuration file. The same after any restart, graceful or not, so
 * that a restarted server finds its own lease; two servers on one host
 * differ by their ServerRoot or configuration file. */
static const char *protime_owner_id(apr_pool_t *pconf)
{
    char host[256];

    if (apr_gethostname(host, sizeof(host), pconf) != APR_SUCCESS)
        apr_cpystrn(host, "localhost", sizeof(host));
    /* The file of the configuration's first directive: the main one. */
    return apr_psprintf(pconf, "%s:%s:%s", host, ap_server_root,
                        ap_conftree && ap_conftree->filename
                        ? ap_conftree->filename : "");
}

apr_status_t protime_subscription_post_config(apr_pool_t *pconf,
                                              apr_pool_t *ptemp,
                                              server_rec *s)
{
    server_rec *sp;
    apr_status_t rv;
    int curl_ready = 0;

    protime_subscribing = 0;
    protime_owner = protime_owner_id(pconf);
    for (sp = s; sp; sp = sp->next) {
        protime_srv_conf *sc = protime_srv_config(sp);
        const apr_array_header_t *collections;
        struct protime_sub **tail = &sc->sub;
        int i;

        sc->sub = NULL;
        if (!protime_subscribes(sc))
            continue;
        if (!protime_subscribing) {
            protime_wd_get_instance =
                APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
            protime_wd_register =
                APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
            protime_wd_interval =
                APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_set_callback_interval);
            if (!protime_wd_get_instance || !protime_wd_register
                || !protime_wd_interval) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00606)
                             "ProtimeSubscribe On needs mod_watchdog "
                             "(LoadModule watchdog_module)");
                return APR_EGENERAL;
            }
        }
        if (!curl_ready) {
            /* Once per generation, in the parent, before any thread. */
            if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00608)
                             "curl_global_init failed");
                return APR_EGENERAL;
            }
            apr_pool_cleanup_register(pconf, NULL, protime_curl_cleanup,
                                      apr_pool_cleanup_null);
            curl_ready = 1;
        }
        collections = protime_collections(pconf, sc);
        for (i = 0; i < collections->nelts; i++) {
            struct protime_sub *sub;
            ap_watchdog_t *watchdog;

            rv = protime_wd_get_instance(&watchdog,
                                         apr_psprintf(pconf, "%s-%d",
                                                      PROTIME_WATCHDOG_NAME,
                                                      ++protime_subscribing),
                                         0, 1, pconf);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, rv, sp, PTLOGNO(00607)
                             "cannot create the subscription watchdog");
                return rv;
            }
            sub = protime_sub_make(pconf, sp, sc,
                                   APR_ARRAY_IDX(collections, i,
                                                 const char *));
            sub->watchdog = watchdog;
            *tail = sub;
            tail = &sub->next;
            rv = protime_wd_register(watchdog, PROTIME_FIRST_STEP, sub,
                                     protime_sub_watchdog);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, rv, sp, PTLOGNO(00609)
                             "cannot register the subscription job");
                return rv;
            }
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, sp, PTLOGNO(00610)
                         "subscription for tenant %s, collection %s, "
                         "destination %s, API %s", sc->tenant, sub->collection,
                         sub->cfg.destination_url, sub->api_cfg.api_url);
        }
    }
    return APR_SUCCESS;
}

static apr_status_t protime_sub_child_exit(void *data)
{
    server_rec *sp;

    apr_atomic_set32(&protime_child_exiting, 1);
    /* Waits for the running steps, which now stop at their next call. */
    for (sp = data; sp; sp = sp->next) {
        struct protime_sub *sub;

        for (sub = protime_srv_config(sp)->sub; sub; sub = sub->next) {
            if (sub->step_lock) {
                apr_thread_mutex_lock(sub->step_lock);
                apr_thread_mutex_unlock(sub->step_lock);
            }
        }
    }
    return APR_SUCCESS;
}

void protime_subscription_child_init(apr_pool_t *pchild, server_rec *s)
{
    server_rec *sp;

    if (protime_subscribing)
        apr_pool_pre_cleanup_register(pchild, s, protime_sub_child_exit);

    for (sp = s; sp; sp = sp->next) {
        struct protime_sub *sub;

        for (sub = protime_srv_config(sp)->sub; sub; sub = sub->next) {
            apr_thread_mutex_create(&sub->keys_lock, APR_THREAD_MUTEX_DEFAULT,
                                    pchild);
            apr_thread_mutex_create(&sub->step_lock, APR_THREAD_MUTEX_DEFAULT,
                                    s->process->pool);
            apr_pool_create(&sub->keys_pool, pchild);
        }
    }
}

/* Reads the keys again from the database; keeps the old ones on failure. */
static void protime_sub_load_keys(request_rec *r, struct protime_sub *sub,
                                  apr_uint32_t changed, apr_time_t now,
                                  apr_time_t loaded_at)
{
    apr_array_header_t *keys;
    pt_store_conn_t conn;
    const char *err;
    ap_dbd_t *dbd = protime_storage_open(r->pool, r->server, &conn, &err);
    int i;

    if (dbd) {
        err = pt_store_webhook_keys(r->pool, &conn, sub->cfg.tenant,
                                    sub->cfg.destination_url, now, &keys);
        protime_storage_close(r->server, dbd);
    }
    sub->keys_loaded_at = loaded_at;
    sub->keys_failed = err != NULL;
    if (err) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, PTLOGNO(00611)
                      "cannot read the subscription's keys: %s", err);
        return;
    }
    apr_pool_clear(sub->keys_pool);
    sub->keys = apr_array_make(sub->keys_pool, keys->nelts,
                               sizeof(const char *));
    for (i = 0; i < keys->nelts; i++)
        APR_ARRAY_PUSH(sub->keys, const char *) =
            apr_pstrdup(sub->keys_pool, APR_ARRAY_IDX(keys, i, const char *));
    sub->keys_seen = changed;
}

void protime_subscription_keys(request_rec *r, const char *collection,
                               pt_scheme_t scheme, pt_encoding_t enc,
                               int reload, apr_array_header_t *keys)
{
    struct protime_sub *sub = protime_subscribing_config(r->server)->sub;
    /* Which keys are valid goes by the wall clock, as validUntil does; how
     * old the cache is, by the clock that only goes forward. */
    apr_time_t now = apr_time_now(), age, tick = pt_clock_monotonic();
    pt_sub_status_t st;
    int i;

    while (sub && strcmp(sub->collection, collection))
        sub = sub->next;
    if (!sub || !sub->keys_lock)
        return;
    memset(&st, 0, sizeof(st));
    if (sub->slot)
        protime_shm_read(sub->slot, &st);
    apr_thread_mutex_lock(sub->keys_lock);
    age = tick - sub->keys_loaded_at;
    /* Once a read failed, at most one a second, whatever asks for it: else
     * each request of a flood, signed or not, would wait for a database
     * that is down, and log it. */
    if (!sub->keys_loaded_at || age >= PROTIME_KEYS_MAX_AGE
        || (st.keys_changed != sub->keys_seen
            && (!sub->keys_failed || age >= PROTIME_KEYS_RETRY))
        || (reload && age >= PROTIME_KEYS_RETRY))
        protime_sub_load_keys(r, sub, st.keys_changed, now, tick);
    for (i = 0; sub->keys && i < sub->keys->nelts; i++) {
        pt_key_t key;

        /* A key that does not decode with this location's
         * ProtimeKeyEncoding cannot have signed anything here. */
        if (!pt_sig_decode_scheme_key(r->pool, APR_ARRAY_IDX(sub->keys, i,
                                                             const char *),
                                      scheme, enc, &key))
            APR_ARRAY_PUSH(keys, pt_key_t) = key;
    }
    apr_thread_mutex_unlock(sub->keys_lock);
}

apr_array_header_t *protime_subscription_views(apr_pool_t *p,
                                               const protime_srv_conf *sc)
{
    apr_array_header_t *views = apr_array_make(p, 2,
                                               sizeof(protime_sub_view));
    const struct protime_sub *sub;

    for (sub = sc->sub; sub; sub = sub->next) {
        protime_sub_view *v = apr_array_push(views);

        memset(v, 0, sizeof(*v));
        v->collection = sub->collection;
        v->destination = sub->cfg.destination_url;
        if (sub->slot)
            protime_shm_read(sub->slot, &v->status);
        if (!v->status.state[0])
            apr_cpystrn(v->status.state, "starting", sizeof(v->status.state));
    }
    return views;
}
