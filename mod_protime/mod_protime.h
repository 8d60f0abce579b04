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

/* Per server: storage. */
typedef struct {
    int sqlite_sync_full;           /* PRAGMA synchronous: FULL (1) or NORMAL (0) */
    struct protime_committer *committer;    /* per child, from child_init */
} protime_srv_conf;

/* Getters apply the defaults, so that a value set to its default in a
 * <Location> still overrides an enclosing one. */
const char *protime_signature_header(const protime_dir_conf *dc);
pt_hash_t protime_algorithm(const protime_dir_conf *dc);
pt_encoding_t protime_signature_encoding(const protime_dir_conf *dc);
int protime_require_signature(const protime_dir_conf *dc);
apr_off_t protime_max_body(const protime_dir_conf *dc);
int protime_sqlite_sync_full(const protime_srv_conf *sc);

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

/* When a transaction last gave up on an SQLite lock held by another
 * program (shared memory, see mod_protime_db.c). */
apr_time_t protime_sqlite_gave_up_at(void);
void protime_set_sqlite_gave_up_at(apr_time_t when);
int protime_status_handler(request_rec *r);

/* Storage glue (mod_protime_db.c). */
apr_status_t protime_db_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                    server_rec *s);
void protime_db_child_init(apr_pool_t *pchild, server_rec *s);
void protime_db_pre_config(apr_pool_t *pconf);

/* Applies a parsed delivery: queues it with the concurrent deliveries of this
 * process and returns once it is committed or rolled back (job->error). */
void protime_db_store(request_rec *r, pt_store_job_t *job);

/* The webhook handler (mod_protime_webhook.c). */
int protime_webhook_handler(request_rec *r);

#endif /* MOD_PROTIME_H */
