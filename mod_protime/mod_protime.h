/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime: httpd glue shared by the module's source files.
 *
 * The glue is kept thin: signatures (pt_sig), events (pt_event), SQL
 * (pt_store) and configuration values (pt_value) know nothing of httpd and
 * are unit-tested on their own. What is here binds them to requests,
 * directives, mod_dbd and shared memory.
 */
#ifndef MOD_PROTIME_H
#define MOD_PROTIME_H

#include <httpd.h>
#include <http_config.h>
#include <apr_dbd.h>        /* before mod_dbd.h, which does not include it */
#include <mod_dbd.h>

#include "pt_sig.h"
#include "pt_event.h"
#include "pt_store.h"
#include "pt_sub.h"

#define PROTIME_VERSION "0.1.0"
#define PROTIME_WEBHOOK_HANDLER "protime-webhook"
#define PROTIME_STATUS_HANDLER "protime-status"

/* Our own log ids: "PT" so they are never mistaken for httpd's "AH" ids. */
#define PTLOGNO(n) "PT" #n ": "

/* Seconds Protime is asked to wait before it delivers again after a 503. */
#define PROTIME_RETRY_AFTER "5"

#define PROTIME_UNSET (-1)

extern module AP_MODULE_DECLARE_DATA protime_module;

/* Per <Location>: how deliveries are checked. */
typedef struct {
    apr_array_header_t *keys;       /* of pt_key_t; NULL when unset */
    apr_array_header_t *key_texts;  /* the keys as configured, to re-decode */
    const char *signature_header;
    int algorithm;                  /* pt_hash_t */
    int signature_encoding;         /* pt_encoding_t */
    int key_encoding;               /* pt_encoding_t */
    int require_signature;
    apr_off_t max_body;
} protime_dir_conf;

/* Per server: storage, and the subscription with its API client. */
typedef struct {
    int sqlite_sync_full;           /* PRAGMA synchronous: FULL (1) or NORMAL (0) */
    struct protime_committer *committer;    /* per child, from child_init */

    const char *tenant;
    int sandbox;                    /* ProtimeEnvironment sandbox */
    const char *api_url;            /* as configured; see protime_api_url */
    const char *token_url;
    const char *client_id;
    const char *client_secret;      /* resolved; never logged */
    const char *user_agent;
    int subscribe;
    const char *destination_url;
    const char *external_references;
    apr_interval_time_t renew_before;
    apr_interval_time_t check_interval;
    const char *sync_from;
    const char *ca_file;
    int http_timeout;               /* seconds */
    int allow_insecure;
    struct protime_sub *sub;        /* the running job, when subscribing */
    const char *db_driver;          /* DBDriver and DBDParams as read from */
    const char *db_params;          /* the configuration (post_config) */
} protime_srv_conf;

/* Getters apply the defaults, so that a value set to its default in a
 * <Location> still overrides an enclosing one. */
const char *protime_signature_header(const protime_dir_conf *dc);
pt_hash_t protime_algorithm(const protime_dir_conf *dc);
pt_encoding_t protime_signature_encoding(const protime_dir_conf *dc);
pt_encoding_t protime_key_encoding(const protime_dir_conf *dc);
int protime_require_signature(const protime_dir_conf *dc);
apr_off_t protime_max_body(const protime_dir_conf *dc);
int protime_sqlite_sync_full(const protime_srv_conf *sc);
int protime_subscribes(const protime_srv_conf *sc);
const char *protime_api_url(apr_pool_t *p, const protime_srv_conf *sc);
const char *protime_token_url(apr_pool_t *p, const protime_srv_conf *sc);
const char *protime_user_agent(apr_pool_t *p, const protime_srv_conf *sc,
                               const server_rec *s);
apr_interval_time_t protime_renew_before(const protime_srv_conf *sc);
apr_interval_time_t protime_check_interval(const protime_srv_conf *sc);
int protime_http_timeout(const protime_srv_conf *sc);
int protime_allow_insecure(const protime_srv_conf *sc);

/* Cross-directive checks, run by check_config (apachectl configtest too). */
int protime_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                         apr_pool_t *ptemp, server_rec *s);

extern const command_rec protime_cmds[];
void *protime_create_dir_conf(apr_pool_t *p, char *dir);
void *protime_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
void *protime_create_srv_conf(apr_pool_t *p, server_rec *s);
void *protime_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);

/* Counters shared by every process of the server (mod_protime_status.c). */
typedef enum {
    PROTIME_C_DELIVERIES = 0,       /* requests reaching protime-webhook */
    PROTIME_C_APPLIED,              /* events that changed a row */
    PROTIME_C_STALE,                /* duplicates and older versions */
    PROTIME_C_DELETES,              /* applied Deletes (also in APPLIED) */
    PROTIME_C_QUARANTINED,          /* bodies or events put in quarantine */
    PROTIME_C_SIGNATURE_FAILURES,   /* 401 */
    PROTIME_C_REJECTED,             /* 405, 413, 415, 400 */
    PROTIME_C_STORAGE_ERRORS,       /* 503 */
    PROTIME_C_COMMITS,              /* database transactions committed */
    PROTIME_C_COUNT
} protime_counter_t;

apr_status_t protime_counters_init(server_rec *s);
void protime_count(protime_counter_t which, apr_uint64_t n);

/* When a transaction last gave up after waiting (a lock held by another
 * program, a timeout): shared memory, see mod_protime_db.c. */
apr_time_t protime_db_gave_up_at(void);
void protime_set_db_gave_up_at(apr_time_t when);
int protime_status_handler(request_rec *r);

/* Storage glue (mod_protime_db.c). check_config checks what post_config
 * will rely on, so that apachectl configtest catches it. */
apr_status_t protime_db_check_config(apr_pool_t *ptemp, server_rec *s);
apr_status_t protime_db_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                    server_rec *s);
void protime_db_child_init(apr_pool_t *pchild, server_rec *s);
void protime_db_pre_config(apr_pool_t *pconf);

/* A connection of mod_dbd readied for our statements (tables created,
 * statements prepared on first use). Returns NULL or an error. */
const char *protime_db_ready(ap_dbd_t *dbd, const protime_srv_conf *sc,
                             pt_store_conn_t *conn);
/* mod_dbd's connection of the request (ap_dbd_acquire), or NULL. */
ap_dbd_t *protime_db_acquire(request_rec *r);
/* A connection of its own for the subscription job, opened with the
 * server's DBDriver and DBDParams and readied like the others: the job
 * blocks on Protime for seconds at a time, and must not hold one of
 * mod_dbd's pooled connections meanwhile (nor at child exit, when mod_dbd
 * destroys its pool). Returns NULL or an error. */
const char *protime_db_connect(apr_pool_t *p, server_rec *s,
                               pt_store_conn_t *conn);
void protime_db_disconnect(pt_store_conn_t *conn);
/* The SQLite writers' lock, for writers outside the group commit. */
int protime_db_lock(void *unused);
void protime_db_unlock(void *unused);

/* Applies a parsed delivery: queues it with the concurrent deliveries of this
 * process and returns once it is committed or rolled back (job->error). */
void protime_db_store(request_rec *r, pt_store_job_t *job);

/* The subscription job (mod_protime_watchdog.c). */
apr_status_t protime_sub_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                     server_rec *s);
void protime_sub_child_init(apr_pool_t *pchild, server_rec *s);
/* The keys of the server's own subscription that are valid now, decoded
 * with enc, appended to keys (of pt_key_t). reload forces a fresh read
 * from the database (after a signature matched no key). */
void protime_sub_keys(request_rec *r, pt_encoding_t enc, int reload,
                      apr_array_header_t *keys);
/* The status of the server's subscription, or NULL (not subscribing). */
int protime_sub_status(const server_rec *s, pt_sub_status_t *out);

/* Status slots in the shared segment (mod_protime_status.c): one per
 * subscribing server, found again by tenant and destination after a
 * graceful restart. Returns NULL when all slots are taken. */
#define PROTIME_MAX_SUBSCRIPTIONS 32
struct protime_status_slot *protime_status_slot(const char *tenant,
                                                const char *destination);
void protime_status_publish(struct protime_status_slot *slot,
                            const pt_sub_status_t *st);
void protime_status_read(struct protime_status_slot *slot,
                         pt_sub_status_t *st);

/* The webhook handler (mod_protime_webhook.c). */
int protime_webhook_handler(request_rec *r);

#endif /* MOD_PROTIME_H */
