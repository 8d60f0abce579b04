/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_sub: the subscription lifecycle (README, "Subscription"), one step at
 * a time.
 *
 * Pure unit: pt_api for Protime, pt_store for the state, pt_event for the
 * re-synchronised items. The module runs pt_sub_step from a mod_watchdog
 * singleton; the unit tests run it against a fake Protime and a real
 * SQLite database. Nothing is kept in memory between steps but the status
 * it publishes: every step starts from what the database says, so that the
 * job may move to another process, or restart, at any point.
 *
 * A step, in order:
 *  0. Take or renew the subscription's lease; a server that does not hold
 *     it only publishes what the database says ("standby"). Before each
 *     change at Protime the lease is renewed again, and the step stops
 *     ("standby") when it ran out meanwhile: another server may have taken
 *     it and changed the webhooks since this step read them. The change's
 *     calls, retries included, must end within the renewed lease.
 *  1. Without an active webhook: delete the webhooks Protime has for our
 *     destination whose key we do not hold (lost in a crash between the
 *     creation and its commit), create one, and store its id, key and
 *     validUntil, together with a full re-synchronisation owed, before
 *     anything else. A new webhook with no live predecessor may have missed
 *     changes; only re-reading the collection closes that gap.
 *  2. Every check interval, ask Protime about the active webhook. Gone,
 *     Disabled or expired: forget it and go to 1.
 *  3. From validUntil - renew_before: create the successor and store it as
 *     active with the old one retiring, in one transaction; both keys are
 *     accepted from then on. The old webhook is deleted at Protime after an
 *     overlap (retire_at), so that deliveries it still owes arrive; its key
 *     stays accepted until its validUntil.
 *  4. Owed re-synchronisation: GET /access-clockings in windows of at most a
 *     year from sync_from to tomorrow (UTC), or GET /<collection> for the
 *     others, following nextLink, each page applied with the changeVersion
 *     rule and the position stored after it, so that a restart resumes
 *     where it stopped. A step syncs for at most its budget, then asks to
 *     run again at once.
 *  5. Reconciliation (reconcile_interval > 0): after each full
 *     re-synchronisation, start a delta (the list again, with delta, from
 *     pt_sub_delta_from for access clockings), applied the same way; its
 *     last page carries the deltaLink. Then every reconcile_interval, fetch
 *     the changes since that link, apply them, and store the new one. What
 *     they changed is what the webhook missed: counted in the status. A
 *     delta Protime no longer knows (pt_api_delta_expired) owes a full
 *     re-synchronisation.
 */
#ifndef PT_SUB_H
#define PT_SUB_H

#include <apr_pools.h>
#include <apr_time.h>

#include "pt_api.h"
#include "pt_store.h"

typedef struct {
    const char *tenant;
    const char *destination_url;
    const char *external_references;   /* NULL for none */
    apr_interval_time_t renew_before;
    apr_interval_time_t check_interval;
    const char *sync_from;              /* YYYY-MM-DD */
    const char *collection;             /* NULL: access-clockings; the
                                         * api's collection too */
    apr_interval_time_t reconcile_interval; /* 0: no reconciliation */
} pt_sub_config_t;

/* Hex digits of the owner's id in the status: 48 bits, so that the few
 * servers sharing a database never show the same id. */
#define PT_SUB_OWNER_ID_LEN 12

/* What the status handler shows. Fixed-size so that it can live in shared
 * memory; strings are truncated, always NUL-terminated. */
typedef struct {
    char state[16];             /* see pt_sub_step */
    char webhook_id[96];
    apr_time_t valid_until;
    char last_error[256];       /* "" when the last step succeeded */
    apr_time_t last_error_at;
    apr_time_t next_check;      /* when the next step runs */
    apr_time_t checked_at;      /* last confirmed at Protime */
    int failures;               /* consecutive failed steps */
    int sync_running;
    char sync_window[11];       /* YYYY-MM-DD: the window being read */
    apr_int64_t sync_rows;      /* of the running or the last sync */
    apr_int64_t sync_pages;
    apr_time_t sync_started_at;
    apr_time_t sync_finished_at;
    apr_uint32_t keys_changed;  /* bumped whenever the accepted keys change */
    apr_uint32_t webhooks_seen; /* hash of the stored webhook ids */
    char owner[PT_SUB_OWNER_ID_LEN + 1];    /* the server that runs the
                                 * job (lease), as an opaque id: hex digits
                                 * of a hash of its text, which only the
                                 * error log shows (PT00710) */
    apr_time_t lease_until;     /* until when it holds the lease */
    int delta_ready;            /* a deltaLink is stored */
    apr_time_t reconciled_at;   /* when the last delta was fetched */
    apr_uint64_t reconciled;    /* events reconciliation applied that
                                 * changed a row: changes no delivery
                                 * brought, since the server started */
} pt_sub_status_t;

/* What a step needs from its caller. */
typedef struct {
    pt_api_t *api;
    /* A connection, statements prepared, for one read or one write
     * transaction, handed back with release right after it: a step waits
     * on Protime for seconds at a time and must hold none of the server's
     * pooled connections meanwhile. For a write (write = 1) it also keeps
     * the receiver's writers out until release: SQLite takes one writer at
     * a time. Returns NULL and sets *err when there is no connection. */
    const pt_store_conn_t *(*acquire)(void *baton, int write,
                                      const char **err);
    void (*release)(void *baton, const pt_store_conn_t *conn, int write);
    const pt_log_t *log;            /* NULL: nothing logged */
    void *baton;                    /* for acquire, release, random, clock */
    apr_interval_time_t sync_budget;    /* how long a step may sync */
    /* Election among servers sharing the database: the job acts only while
     * this server (owner, unique to it) holds the subscription's lease,
     * which each step renews for `lease`; the others stand by. */
    const char *owner;
    apr_interval_time_t lease;
    unsigned (*random)(void *baton);    /* jitter; NULL: apr's */
    /* The time during a step, for the lease (NULL: apr_time_now): a step
     * that waits on Protime may outlast its lease. The same clock as the
     * api's (pt_api_config_t.now), which bounds changes by the lease. */
    apr_time_t (*clock)(void *baton);
} pt_sub_env_t;

/* Longest wait after failures (the check interval, if shorter). */
#define PT_SUB_MAX_BACKOFF apr_time_from_sec(300)
/* The overlap a replaced webhook keeps before it is deleted at Protime,
 * at most: deliveries it owes still arrive, signed with its key. */
#define PT_SUB_MAX_OVERLAP apr_time_from_sec(3600)

/* Runs one step at time now and updates *status (state "active",
 * "syncing", "standby", "error"). Returns how long to wait before the next step:
 * the check interval with jitter, less when a rotation, a retirement or a
 * sync is due, a backoff after failures, Protime's Retry-After when it
 * sent one. */
apr_interval_time_t pt_sub_step(apr_pool_t *p, const pt_sub_config_t *cfg,
                                const pt_sub_env_t *env, apr_time_t now,
                                pt_sub_status_t *status);

/* The default of ProtimeSyncFrom: 1 January of the year before now's. */
const char *pt_sub_default_sync_from(apr_pool_t *p, apr_time_t now);

/* Where a delta of access clockings starts (filter=date ge '<it>'):
 * sync_from, but no earlier than Protime allows, 1 January of the year
 * before now's. */
const char *pt_sub_delta_from(apr_pool_t *p, const char *sync_from,
                              apr_time_t now);

/* The destination URL of collection's webhook, when the server subscribes
 * to n collections: own (given for this collection) if not NULL; else
 * url itself for a single collection; else url as a base,
 * url/<collection>. */
const char *pt_sub_destination(apr_pool_t *p, const char *url,
                               const char *own, int n,
                               const char *collection);

#endif /* PT_SUB_H */
