/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_sub: the subscription lifecycle (see pt_sub.h). */
#include <string.h>

#include <apr_escape.h>
#include <apr_general.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include <openssl/evp.h>

#include "pt_sub.h"
#include "pt_clock.h"
#include "pt_collection.h"
#include "pt_date.h"
#include "pt_event.h"

/* First wait after a failed step; doubles with each further failure. */
#define PT_SUB_FIRST_BACKOFF apr_time_from_sec(5)

static unsigned pt_sub_random(const pt_sub_env_t *env)
{
    unsigned r = 0;

    if (env->random)
        return env->random(env->baton);
    apr_generate_random_bytes((unsigned char *)&r, sizeof(r));
    return r;
}

/* A wait drawn between lo_percent and 100 percent of d: jobs of several
 * servers started together drift apart instead of calling Protime in step. */
static apr_interval_time_t pt_sub_jitter(const pt_sub_env_t *env,
                                         apr_interval_time_t d, int lo_percent)
{
    apr_interval_time_t lo = d / 100 * lo_percent;

    if (d <= lo)
        return d;
    return lo + (apr_interval_time_t)(pt_sub_random(env)
                                      % (apr_uint64_t)(d - lo + 1));
}

static void pt_sub_copy(char *dst, apr_size_t size, const char *src)
{
    apr_cpystrn(dst, src ? src : "", size);
}

const char *pt_sub_default_sync_from(apr_pool_t *p, apr_time_t now)
{
    apr_time_exp_t tm;

    apr_time_exp_gmt(&tm, now);
    return apr_psprintf(p, "%04d-01-01", tm.tm_year + 1900 - 1);
}

const char *pt_sub_delta_from(apr_pool_t *p, const char *sync_from,
                              apr_time_t now)
{
    const char *earliest = pt_sub_default_sync_from(p, now);

    /* YYYY-MM-DD: the text order is the date order. */
    return sync_from && strcmp(sync_from, earliest) > 0 ? sync_from
                                                        : earliest;
}

const char *pt_sub_destination(apr_pool_t *p, const char *url,
                               const char *own, int n,
                               const char *collection)
{
    apr_size_t len;

    if (own)
        return own;
    if (n <= 1 || !url)
        return url;
    for (len = strlen(url); len > 0 && url[len - 1] == '/'; len--)
        ;
    return apr_pstrcat(p, apr_pstrmemdup(p, url, len), "/", collection,
                       NULL);
}

static const char *pt_sub_collection(const pt_sub_config_t *cfg)
{
    return cfg->collection ? cfg->collection
                           : PT_COLLECTION_ACCESS_CLOCKINGS;
}

/* Access clockings are read in date windows (Protime requires a date
 * filter); the other collections whole. */
static int pt_sub_windowed(const pt_sub_config_t *cfg)
{
    return !strcmp(pt_sub_collection(cfg), PT_COLLECTION_ACCESS_CLOCKINGS);
}

/* A full re-synchronisation owed from now on: *owed is *sync started
 * over, from ProtimeSyncFrom or, for a collection read whole, from the
 * start. Returns where it starts, for the log. */
static const char *pt_sub_owe_sync(const pt_sub_config_t *cfg,
                                   const pt_store_sync_t *sync,
                                   apr_time_t now, pt_store_sync_t *owed)
{
    *owed = *sync;
    owed->pending = 1;
    owed->window_from = pt_sub_windowed(cfg) ? cfg->sync_from : NULL;
    owed->next_link = NULL;
    owed->rows = owed->pages = 0;
    owed->started_at = now;
    return owed->window_from ? owed->window_from : "the start";
}

/* ---- steps ---------------------------------------------------------------- */

/* Records a failed step; returns the wait before the next one. */
static apr_interval_time_t pt_sub_failed(const pt_sub_env_t *env,
                                         const pt_sub_config_t *cfg,
                                         apr_pool_t *p, apr_time_t now,
                                         pt_sub_status_t *st,
                                         const pt_api_error_t *aerr,
                                         const char *what)
{
    apr_interval_time_t wait = PT_SUB_FIRST_BACKOFF;
    int i;

    st->failures++;
    for (i = 1; i < st->failures && wait < PT_SUB_MAX_BACKOFF; i++)
        wait *= 2;
    if (wait > PT_SUB_MAX_BACKOFF)
        wait = PT_SUB_MAX_BACKOFF;
    if (wait > cfg->check_interval)
        wait = cfg->check_interval;
    wait = pt_sub_jitter(env, wait, 50);
    /* Honoured up to the longest backoff: a longer one (a maintenance
     * page's date, a proxy's) would park the job past the webhook's
     * renewal, and Protime can say so again in 5 minutes. */
    if (aerr && aerr->retry_after > wait)
        wait = aerr->retry_after < PT_SUB_MAX_BACKOFF ? aerr->retry_after
                                                      : PT_SUB_MAX_BACKOFF;
    pt_sub_copy(st->state, sizeof(st->state), "error");
    pt_sub_copy(st->last_error, sizeof(st->last_error), what);
    st->last_error_at = now;
    pt_log_error(env->log, PT_LOG_ERR, APR_SUCCESS, p, PTLOGNO(00701)
                 "subscription for %s: %s; next try in %" APR_TIME_T_FMT " s",
                 cfg->destination_url, what, apr_time_sec(wait) + 1);
    return wait;
}

/* Writes one change of the state as a writer. */
static const char *pt_sub_save(apr_pool_t *p, const pt_sub_config_t *cfg,
                               const pt_sub_env_t *env,
                               const pt_store_sub_change_t *change)
{
    const pt_store_conn_t *conn;
    const char *err;

    if ((conn = env->acquire(env->baton, 1, &err)) == NULL)
        return err;
    err = pt_store_sub_save(p, conn, cfg->tenant, cfg->destination_url,
                            change);
    env->release(env->baton, conn, 1);
    return err;
}

/* Writes the position of the re-synchronisation as a writer. */
static const char *pt_sub_save_sync(apr_pool_t *p, const pt_sub_config_t *cfg,
                                    const pt_sub_env_t *env,
                                    pt_store_sync_t *sync)
{
    pt_store_sub_change_t change;

    memset(&change, 0, sizeof(change));
    change.sync = sync;
    return pt_sub_save(p, cfg, env, &change);
}

static const char *pt_sub_api_error(apr_pool_t *p, const char *what,
                                    const pt_api_error_t *aerr)
{
    return apr_pstrcat(p, what, ": ", aerr->message ? aerr->message
                                                    : "failed", NULL);
}

/* Renew-before as it applies to w: at most half its lifetime, so that a
 * short-lived webhook is not replaced the moment it is created. */
static apr_interval_time_t pt_sub_renew_before(const pt_sub_config_t *cfg,
                                               const pt_store_webhook_t *w)
{
    apr_interval_time_t half = (w->valid_until - w->created_at) / 2;

    return cfg->renew_before < half ? cfg->renew_before
                                    : (half > 0 ? half : 0);
}

/* The owner as the status shows it, in id (PT_SUB_OWNER_ID_LEN + 1
 * bytes): the first hex digits of the SHA-256 of its text. The text names
 * the host, ServerRoot and configuration file, which whoever may read the
 * status need not learn; the error log pairs the two (PT00710). An owner
 * that cannot be hashed shows as "". */
static void pt_sub_owner_id(const char *owner, char *id)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    id[0] = '\0';
    if (owner && EVP_Digest(owner, strlen(owner), md, &len, EVP_sha256(),
                            NULL) == 1 && len >= PT_SUB_OWNER_ID_LEN / 2)
        apr_escape_hex(id, md, PT_SUB_OWNER_ID_LEN / 2, 0, NULL);
}

/* Takes or renews the lease; *held tells whether this server may act. */
static const char *pt_sub_lease(apr_pool_t *p, const pt_sub_config_t *cfg,
                                const pt_sub_env_t *env, apr_time_t now,
                                pt_sub_status_t *st, int *held)
{
    const pt_store_conn_t *conn;
    const char *holder = NULL, *err;
    char id[PT_SUB_OWNER_ID_LEN + 1];
    apr_time_t until = 0;

    *held = 1;
    if (!env->owner)
        return NULL;
    if ((conn = env->acquire(env->baton, 1, &err)) == NULL)
        return err;
    err = pt_store_lease(p, conn, apr_pstrcat(p, cfg->tenant, " ",
                                              cfg->destination_url, NULL),
                         env->owner, now, now + env->lease, held, &holder,
                         &until);
    env->release(env->baton, conn, 1);
    if (err)
        return apr_pstrcat(p, "the lease: ", err, NULL);
    pt_sub_owner_id(holder, id);
    if (holder && strcmp(st->owner, id) != 0)
        pt_log_error(env->log, PT_LOG_NOTICE, APR_SUCCESS, p, PTLOGNO(00710)
                     "the subscription for %s is run by owner %s: %s",
                     cfg->destination_url, id, holder);
    if (!*held && !strcmp(st->state, "active"))
        pt_log_error(env->log, PT_LOG_NOTICE, APR_SUCCESS, p, PTLOGNO(00708)
                     "owner %s now runs the subscription for %s; standing by",
                     holder ? id : "of another server",
                     cfg->destination_url);
    pt_sub_copy(st->owner, sizeof(st->owner), id);
    st->lease_until = until;
    return NULL;
}

/* What a step that outlasted its lease stops with (pt_sub_fence). */
static const char pt_sub_lease_gone[] = "the step outlasted its lease";

/* Before each change at Protime. A step acts only while its lease is
 * unbroken: one held up by a slow Protime may outlast it, and another
 * server may then have taken the lease and changed the webhooks since this
 * step read them. Renews the lease while it holds, and bounds the calls of
 * the change by it (pt_api_set_deadline), retries included, until the
 * change lifts the bound: the reads that follow are not bound by the
 * lease. */
static const char *pt_sub_fence(apr_pool_t *p, const pt_sub_config_t *cfg,
                                const pt_sub_env_t *env, pt_sub_status_t *st)
{
    apr_time_t now;
    const char *err;
    int held;

    if (!env->owner)
        return NULL;
    now = env->clock ? env->clock(env->baton) : apr_time_now();
    if (now >= st->lease_until)
        return pt_sub_lease_gone;
    if ((err = pt_sub_lease(p, cfg, env, now, st, &held)) != NULL)
        return err;
    if (!held)
        return pt_sub_lease_gone;
    pt_api_set_deadline(env->api, st->lease_until, "the lease");
    return NULL;
}

/* Deletes, at Protime, webhooks for our destination that the database does
 * not know: their keys are lost, and Protime would sign deliveries that no
 * key here verifies. */
static const char *pt_sub_delete_unknown(apr_pool_t *p,
                                         const pt_sub_config_t *cfg,
                                         const pt_sub_env_t *env,
                                         apr_array_header_t *ours,
                                         pt_sub_status_t *st,
                                         pt_api_error_t *aerr)
{
    apr_array_header_t *remote;
    const char *err;
    apr_status_t rv;
    int i, j;

    if (pt_api_webhook_list(env->api, p, &remote, aerr) != APR_SUCCESS)
        return pt_sub_api_error(p, "listing the webhooks", aerr);
    for (i = 0; i < remote->nelts; i++) {
        const pt_webhook_t *w = &APR_ARRAY_IDX(remote, i, pt_webhook_t);
        int known = 0;

        if (!w->id || !w->destination_url
            || strcmp(w->destination_url, cfg->destination_url) != 0
            || (w->collection
                && strcmp(w->collection, pt_sub_collection(cfg))))
            continue;
        for (j = 0; j < ours->nelts && !known; j++)
            known = !strcmp(APR_ARRAY_IDX(ours, j, pt_store_webhook_t)
                            .webhook_id, w->id);
        if (known)
            continue;
        if ((err = pt_sub_fence(p, cfg, env, st)) != NULL)
            return err;
        pt_log_error(env->log, PT_LOG_WARNING, APR_SUCCESS, p, PTLOGNO(00702)
                     "webhook %s at Protime calls %s but its key is not in "
                     "the database (lost); deleting it before creating a "
                     "new one", w->id, cfg->destination_url);
        rv = pt_api_webhook_delete(env->api, p, w->id, aerr);
        pt_api_set_deadline(env->api, 0, NULL);
        if (rv != APR_SUCCESS)
            return pt_sub_api_error(p, apr_pstrcat(p, "deleting webhook ",
                                                   w->id, NULL), aerr);
    }
    return NULL;
}

/* Creates a webhook at Protime and fills w (state active). */
static const char *pt_sub_create(apr_pool_t *p, const pt_sub_config_t *cfg,
                                 const pt_sub_env_t *env, apr_time_t now,
                                 pt_store_webhook_t *w, pt_api_error_t *aerr)
{
    pt_webhook_t created;

    memset(&created, 0, sizeof(created));
    if (pt_api_webhook_create(env->api, p, cfg->destination_url,
                              cfg->external_references, &created, aerr)
        != APR_SUCCESS) {
        pt_api_error_t ignored;

        /* Created without a usable key: nobody could verify it. */
        if (created.id)
            pt_api_webhook_delete(env->api, p, created.id, &ignored);
        return pt_sub_api_error(p, "creating the webhook", aerr);
    }
    if (created.valid_until <= now) {
        pt_api_error_t ignored;

        pt_api_webhook_delete(env->api, p, created.id, &ignored);
        aerr->retry_after = 0;
        return "creating the webhook: Protime answered without a future "
               "validUntil";
    }
    memset(w, 0, sizeof(*w));
    w->webhook_id = created.id;
    w->key = created.key;
    w->state = PT_WEBHOOK_ACTIVE;
    w->valid_until = created.valid_until;
    w->created_at = now;
    w->checked_at = now;
    return NULL;
}

/* Stores w (and the rest of change) or, failing that, deletes w at
 * Protime again: a webhook whose key is not stored is worse than none. */
static const char *pt_sub_persist(apr_pool_t *p, const pt_sub_config_t *cfg,
                                  const pt_sub_env_t *env,
                                  const pt_store_webhook_t *w,
                                  pt_store_sub_change_t *change)
{
    const char *err;

    change->insert = w;
    if ((err = pt_sub_save(p, cfg, env, change)) != NULL) {
        pt_api_error_t ignored;

        pt_api_webhook_delete(env->api, p, w->webhook_id, &ignored);
        return apr_pstrcat(p, "storing the new webhook (deleted it again): ",
                           err, NULL);
    }
    return NULL;
}

/* No live webhook: create one, owe a full re-synchronisation. dead is the
 * id of the row of the webhook that died, removed in the same transaction. */
static const char *pt_sub_replace(apr_pool_t *p, const pt_sub_config_t *cfg,
                                  const pt_sub_env_t *env, apr_time_t now,
                                  apr_array_header_t *ours, const char *dead,
                                  pt_store_sync_t *sync,
                                  pt_sub_status_t *st, pt_api_error_t *aerr)
{
    pt_store_webhook_t *w = apr_pcalloc(p, sizeof(*w));
    pt_store_sub_change_t change;
    pt_store_sync_t owed;
    const char *err, *sync_start;

    if ((err = pt_sub_delete_unknown(p, cfg, env, ours, st, aerr)) != NULL
        || (err = pt_sub_fence(p, cfg, env, st)) != NULL)
        return err;
    err = pt_sub_create(p, cfg, env, now, w, aerr);
    pt_api_set_deadline(env->api, 0, NULL);
    if (err)
        return err;
    sync_start = pt_sub_owe_sync(cfg, sync, now, &owed);
    memset(&change, 0, sizeof(change));
    change.remove = dead;
    change.sync = &owed;
    if ((err = pt_sub_persist(p, cfg, env, w, &change)) != NULL)
        return err;
    *sync = owed;
    st->keys_changed++;
    pt_log_error(env->log, PT_LOG_NOTICE, APR_SUCCESS, p, PTLOGNO(00703)
                 "created webhook %s for %s, valid until %s; full "
                 "re-synchronisation from %s follows",
                 w->webhook_id, cfg->destination_url,
                 pt_date_format(p, w->valid_until), sync_start);
    APR_ARRAY_PUSH(ours, pt_store_webhook_t) = *w;
    return NULL;
}

/* Asks Protime about the active webhook. Returns NULL and sets *dead to why
 * it no longer delivers (or NULL while it does), else an error. */
static const char *pt_sub_check(apr_pool_t *p, const pt_sub_config_t *cfg,
                                const pt_sub_env_t *env, apr_time_t now,
                                pt_store_webhook_t *active,
                                const char **dead, pt_api_error_t *aerr)
{
    pt_store_sub_change_t change;
    pt_webhook_t remote;
    apr_status_t rv;

    *dead = NULL;
    memset(&remote, 0, sizeof(remote));
    rv = pt_api_webhook_get(env->api, p, active->webhook_id, &remote, aerr);
    if (rv == APR_NOTFOUND)
        *dead = "it is gone at Protime";
    else if (rv != APR_SUCCESS)
        return pt_sub_api_error(p, "checking the webhook", aerr);
    else if (remote.valid_until && remote.valid_until <= now)
        *dead = "it expired";
    else if (remote.status && !strcmp(remote.status, "Disabled"))
        *dead = "Protime disabled it";
    if (*dead) {
        pt_api_error_t ignored;

        pt_log_error(env->log, PT_LOG_WARNING, APR_SUCCESS, p, PTLOGNO(00704)
                     "webhook %s for %s no longer delivers: %s; replacing "
                     "it and re-synchronising",
                     active->webhook_id, cfg->destination_url, *dead);
        /* A disabled webhook is of no use to anybody: tidy up. */
        if (rv == APR_SUCCESS)
            pt_api_webhook_delete(env->api, p, active->webhook_id, &ignored);
        return NULL;
    }
    active->checked_at = now;
    if (remote.valid_until)
        active->valid_until = remote.valid_until;
    memset(&change, 0, sizeof(change));
    change.update = active;
    return pt_sub_save(p, cfg, env, &change);
}

/* Replaces the active webhook before it expires: the successor first, both
 * keys accepted, the old one deleted at Protime after the overlap. */
static const char *pt_sub_rotate(apr_pool_t *p, const pt_sub_config_t *cfg,
                                 const pt_sub_env_t *env, apr_time_t now,
                                 pt_store_webhook_t *active,
                                 apr_array_header_t *ours,
                                 pt_sub_status_t *st, pt_api_error_t *aerr)
{
    pt_store_webhook_t *w = apr_pcalloc(p, sizeof(*w));
    pt_store_webhook_t old = *active;
    pt_store_sub_change_t change;
    apr_interval_time_t overlap = pt_sub_renew_before(cfg, active) / 2;
    const char *err;

    /* A successor whose creation failed after Protime made it (no answer)
     * is one the database does not know. */
    if ((err = pt_sub_delete_unknown(p, cfg, env, ours, st, aerr)) != NULL
        || (err = pt_sub_fence(p, cfg, env, st)) != NULL)
        return err;
    err = pt_sub_create(p, cfg, env, now, w, aerr);
    pt_api_set_deadline(env->api, 0, NULL);
    if (err)
        return err;
    if (overlap > PT_SUB_MAX_OVERLAP)
        overlap = PT_SUB_MAX_OVERLAP;
    old.state = PT_WEBHOOK_RETIRING;
    old.retire_at = now + overlap;
    memset(&change, 0, sizeof(change));
    change.update = &old;
    if ((err = pt_sub_persist(p, cfg, env, w, &change)) != NULL)
        return err;
    *active = old;
    st->keys_changed++;
    pt_log_error(env->log, PT_LOG_NOTICE, APR_SUCCESS, p, PTLOGNO(00705)
                 "renewed: webhook %s replaces %s for %s; both keys are "
                 "accepted, %s is deleted at Protime in %" APR_TIME_T_FMT
                 " s", w->webhook_id, old.webhook_id, cfg->destination_url,
                 old.webhook_id, apr_time_sec(overlap));
    APR_ARRAY_PUSH(ours, pt_store_webhook_t) = *w;
    return NULL;
}

/* Deletes at Protime the retiring webhooks whose overlap is over, and
 * forgets the rows whose keys can no longer sign anything. */
static const char *pt_sub_retire(apr_pool_t *p, const pt_sub_config_t *cfg,
                                 const pt_sub_env_t *env, apr_time_t now,
                                 apr_array_header_t *ours,
                                 pt_sub_status_t *st, pt_api_error_t *aerr)
{
    int i;

    for (i = 0; i < ours->nelts; i++) {
        pt_store_webhook_t *w = &APR_ARRAY_IDX(ours, i, pt_store_webhook_t);
        pt_store_sub_change_t change;
        const char *err;

        memset(&change, 0, sizeof(change));
        if (w->state != PT_WEBHOOK_ACTIVE && w->valid_until <= now) {
            change.remove = w->webhook_id;
            st->keys_changed++;
        }
        else if (w->state == PT_WEBHOOK_RETIRING && w->retire_at <= now) {
            apr_status_t rv;

            if ((err = pt_sub_fence(p, cfg, env, st)) != NULL)
                return err;
            rv = pt_api_webhook_delete(env->api, p, w->webhook_id, aerr);
            pt_api_set_deadline(env->api, 0, NULL);
            if (rv != APR_SUCCESS)
                return pt_sub_api_error(p, apr_pstrcat(p, "deleting the "
                                        "replaced webhook ", w->webhook_id,
                                        NULL), aerr);
            pt_log_error(env->log, PT_LOG_NOTICE, APR_SUCCESS, p,
                         PTLOGNO(00706) "deleted the replaced webhook %s at "
                         "Protime", w->webhook_id);
            w->state = PT_WEBHOOK_RETIRED;
            change.update = w;
        }
        else {
            continue;
        }
        if ((err = pt_sub_save(p, cfg, env, &change)) != NULL)
            return err;
    }
    return NULL;
}

/* Applies one page of a list or a delta with the changeVersion rule;
 * adds its events to *rows, and those that changed a row to *applied
 * (when not NULL). */
static const char *pt_sub_apply_page(apr_pool_t *p,
                                     const pt_sub_config_t *cfg,
                                     const pt_sub_env_t *env,
                                     const char *items, apr_time_t now,
                                     apr_int64_t *rows, apr_uint64_t *applied)
{
    const pt_store_conn_t *conn;
    pt_delivery_t delivery;
    pt_store_job_t job, *jobs[1];
    const char *err;

    pt_event_parse_collection(p, pt_sub_collection(cfg), items,
                              strlen(items), &delivery);
    memset(&job, 0, sizeof(job));
    job.delivery = &delivery;
    jobs[0] = &job;
    if ((conn = env->acquire(env->baton, 1, &err)) == NULL)
        return err;
    pt_store_commit(p, conn, jobs, 1, now, NULL);
    env->release(env->baton, conn, 1);
    if (job.error)
        return job.error;
    *rows += delivery.events->nelts;
    if (applied)
        *applied += (apr_uint64_t)job.applied;
    return NULL;
}

/* Whether a stored nextLink or deltaLink failed for good: refused before
 * it was sent (not a URL of the API's host), or answered with a 4xx that
 * is not about the token, a timeout or the rate (a continuation gone stale
 * over an outage). Read again at each step, it would fail for ever; the
 * caller starts over from what it can build itself. */
static int pt_sub_link_dead(apr_status_t rv, const pt_api_error_t *aerr)
{
    if (rv == APR_EINVAL && aerr->status == 0)
        return 1;
    return aerr->status >= 400 && aerr->status < 500 && aerr->status != 401
           && aerr->status != 408 && aerr->status != 429;
}

/* Reads what re-synchronisation owes, page by page, for at most the
 * budget. Returns NULL (sync->pending tells whether more is owed) or an
 * error; the position reached is stored either way. */
static const char *pt_sub_sync(apr_pool_t *p, const pt_sub_config_t *cfg,
                               const pt_sub_env_t *env, apr_time_t now,
                               pt_store_sync_t *sync, pt_sub_status_t *st,
                               pt_api_error_t *aerr)
{
    apr_time_t started = pt_clock_monotonic();
    /* The last date a clocking can have now: a clocking's date is local
     * time, and where it is ahead of UTC (Protime's customers are in
     * Europe) it is tomorrow's already before UTC's midnight. */
    apr_time_t last = pt_date_midnight(now) + PT_DATE_DAY;
    apr_pool_t *page_pool;
    const char *err = NULL;
    int read = 0;

    apr_pool_create(&page_pool, p);
    while (sync->pending && !err) {
        apr_time_t from = 0, to = 0;
        const char *items = NULL, *next = NULL;
        int windowed = pt_sub_windowed(cfg);

        /* One page at least, so that every step gets on. */
        if (read && pt_clock_monotonic() - started >= env->sync_budget)
            break;
        read++;
        apr_pool_clear(page_pool);
        if (windowed) {
            if (!sync->window_from)
                sync->window_from = cfg->sync_from;
            if (pt_date_parse(sync->window_from, &from) != PT_DATE_OK) {
                err = "re-synchronisation: bad window start in protime_sync";
                break;
            }
            to = pt_date_add_years(from, 1) - PT_DATE_DAY;  /* a year at most */
            if (to > last)
                to = last;
            pt_sub_copy(st->sync_window, sizeof(st->sync_window),
                        sync->window_from);
        }
        if (!windowed || from <= last) {
            apr_status_t rv;

            if (windowed) {
                rv = pt_api_clockings_page(env->api, page_pool,
                                           sync->window_from,
                                           pt_date_format(page_pool, to),
                                           cfg->external_references,
                                           sync->next_link, &items, &next,
                                           aerr);
            }
            else {
                pt_api_list_t list;
                pt_api_page_t page;

                memset(&list, 0, sizeof(list));
                list.external_references = cfg->external_references;
                rv = pt_api_list_page(env->api, page_pool, &list,
                                      sync->next_link, &page, aerr);
                items = page.items;
                next = page.next;
            }
            if (rv != APR_SUCCESS) {
                err = pt_sub_api_error(p, "re-synchronisation", aerr);
                if (!sync->next_link || !pt_sub_link_dead(rv, aerr))
                    break;
                /* The window starts over: rows read twice change
                 * nothing. */
                sync->next_link = NULL;
                err = apr_pstrcat(p, err, "; the window starts over", NULL);
                pt_sub_save_sync(page_pool, cfg, env, sync);
                break;
            }
            if ((err = pt_sub_apply_page(page_pool, cfg, env, items, now,
                                         &sync->rows, NULL)) != NULL) {
                err = apr_pstrcat(p, "re-synchronisation: ", err, NULL);
                break;
            }
            sync->pages++;
        }
        if (next && sync->next_link && !strcmp(next, sync->next_link)) {
            /* Read again and again at full speed, otherwise. */
            err = "re-synchronisation: Protime's nextLink leads to the page "
                  "just read; the window starts over";
            sync->next_link = NULL;
            pt_sub_save_sync(page_pool, cfg, env, sync);
            break;
        }
        if (next) {
            sync->next_link = apr_pstrdup(p, next);
        }
        else if (!windowed || from > last || to >= last) {
            sync->pending = 0;
            sync->next_link = NULL;
            sync->finished_at = apr_time_now();
        }
        else {
            sync->window_from = pt_date_format(p, to + PT_DATE_DAY);
            sync->next_link = NULL;
        }
        if ((err = pt_sub_save_sync(page_pool, cfg, env, sync)) != NULL)
            err = apr_pstrdup(p, err);
        pt_log_error(env->log, sync->pending ? PT_LOG_INFO : PT_LOG_NOTICE,
                     APR_SUCCESS, p, PTLOGNO(00707) "re-synchronisation for "
                     "%s: %s, %" APR_INT64_T_FMT " pages, %" APR_INT64_T_FMT
                     " rows", cfg->destination_url,
                     !sync->pending ? "finished"
                     : sync->window_from ? apr_psprintf(p, "window from %s",
                                                        sync->window_from)
                     : "under way", sync->pages, sync->rows);
    }
    apr_pool_destroy(page_pool);
    return err;
}

/* Writes the delta row as a writer. */
static const char *pt_sub_save_delta(apr_pool_t *p,
                                     const pt_sub_config_t *cfg,
                                     const pt_sub_env_t *env,
                                     const pt_store_delta_t *d)
{
    const pt_store_conn_t *conn;
    const char *err;

    if ((conn = env->acquire(env->baton, 1, &err)) == NULL)
        return err;
    err = pt_store_delta_save(p, conn, cfg->tenant, cfg->destination_url, d);
    env->release(env->baton, conn, 1);
    return err;
}

/* Starts the delta that follows the last full re-synchronisation: pages
 * of the list with delta, applied like a sync, the position stored after
 * each, for at most the budget; the last page's deltaLink is stored. */
static const char *pt_sub_delta_start(apr_pool_t *p,
                                      const pt_sub_config_t *cfg,
                                      const pt_sub_env_t *env, apr_time_t now,
                                      pt_store_delta_t *d,
                                      pt_api_error_t *aerr)
{
    apr_time_t started = pt_clock_monotonic();
    apr_pool_t *page_pool;
    pt_api_list_t list;
    apr_status_t rv;
    const char *err = NULL;
    apr_int64_t rows = 0;
    int read = 0;

    memset(&list, 0, sizeof(list));
    list.external_references = cfg->external_references;
    list.delta = 1;
    if (pt_sub_windowed(cfg))
        list.from = pt_sub_delta_from(p, cfg->sync_from, now);
    apr_pool_create(&page_pool, p);
    while (!d->delta_link && !err) {
        pt_api_page_t page;

        if (read && pt_clock_monotonic() - started >= env->sync_budget)
            break;
        read++;
        apr_pool_clear(page_pool);
        if ((rv = pt_api_list_page(env->api, page_pool, &list, d->next_link,
                                   &page, aerr)) != APR_SUCCESS) {
            err = pt_sub_api_error(p, "starting the delta", aerr);
            /* As pt_sub_sync does with its window. */
            if (d->next_link && pt_sub_link_dead(rv, aerr)) {
                d->next_link = NULL;
                err = apr_pstrcat(p, err, "; the delta starts over", NULL);
                pt_sub_save_delta(page_pool, cfg, env, d);
            }
            break;
        }
        if ((err = pt_sub_apply_page(page_pool, cfg, env, page.items, now,
                                     &rows, NULL)) != NULL) {
            err = apr_pstrcat(p, "starting the delta: ", err, NULL);
            break;
        }
        if (page.next && d->next_link && !strcmp(page.next, d->next_link)) {
            err = "starting the delta: Protime's nextLink leads to the page "
                  "just read; the delta starts over";
            d->next_link = NULL;
            pt_sub_save_delta(page_pool, cfg, env, d);
            break;
        }
        if (page.next) {
            d->next_link = apr_pstrdup(p, page.next);
        }
        else if (page.delta_link) {
            d->delta_link = apr_pstrdup(p, page.delta_link);
            d->next_link = NULL;
        }
        else {
            err = "starting the delta: the last page carries no deltaLink";
            break;
        }
        d->updated_at = now;
        if ((err = pt_sub_save_delta(page_pool, cfg, env, d)) != NULL)
            err = apr_pstrdup(p, err);
    }
    apr_pool_destroy(page_pool);
    if (!err && d->delta_link)
        pt_log_error(env->log, PT_LOG_INFO, APR_SUCCESS, p, PTLOGNO(00711)
                     "reconciliation for %s: delta started (%d pages read "
                     "in this step)", cfg->destination_url, read);
    return err;
}

/* Reconciliation, once no full re-synchronisation is owed (pt_sub.h,
 * step 5). Sets *due to the wait before the next one; owes a full
 * re-synchronisation in *sync when the delta expired. */
static const char *pt_sub_reconcile(apr_pool_t *p, const pt_sub_config_t *cfg,
                                    const pt_sub_env_t *env, apr_time_t now,
                                    pt_store_sync_t *sync,
                                    pt_sub_status_t *st,
                                    pt_api_error_t *aerr,
                                    apr_interval_time_t *due)
{
    const pt_store_conn_t *conn;
    pt_store_delta_t d;
    pt_api_page_t page;
    apr_int64_t rows = 0;
    apr_uint64_t applied = 0;
    apr_status_t rv;
    const char *err;

    *due = cfg->reconcile_interval;
    if ((conn = env->acquire(env->baton, 0, &err)) == NULL)
        return err;
    err = pt_store_delta_load(p, conn, cfg->tenant, cfg->destination_url, &d);
    env->release(env->baton, conn, 0);
    if (err)
        return apr_pstrcat(p, "reading the delta: ", err, NULL);
    if (d.synced_at != sync->finished_at) {
        /* A full re-synchronisation since: a new delta follows it. */
        memset(&d, 0, sizeof(d));
        d.synced_at = sync->finished_at;
    }
    d.collection = pt_sub_collection(cfg);
    if (!d.delta_link) {
        err = pt_sub_delta_start(p, cfg, env, now, &d, aerr);
        st->delta_ready = d.delta_link != NULL;
        if (!err && !d.delta_link)
            *due = 0;           /* more pages to read */
        return err;
    }
    st->delta_ready = 1;
    if (now < d.updated_at + cfg->reconcile_interval) {
        *due = d.updated_at + cfg->reconcile_interval - now;
        return NULL;
    }
    if ((rv = pt_api_delta_page(env->api, p, d.delta_link, &page, aerr))
        != APR_SUCCESS) {
        pt_store_sync_t owed;
        const char *sync_start;

        if (!pt_sub_link_dead(rv, aerr))
            return pt_sub_api_error(p, "reconciliation", aerr);
        sync_start = pt_sub_owe_sync(cfg, sync, now, &owed);
        pt_log_error(env->log, PT_LOG_WARNING, APR_SUCCESS, p, PTLOGNO(00712)
                     "reconciliation for %s: %s (%s); full "
                     "re-synchronisation from %s follows",
                     cfg->destination_url,
                     pt_api_delta_expired(aerr)
                     ? "Protime no longer knows the delta"
                     : "the delta's link can no longer be read",
                     aerr->message, sync_start);
        if ((err = pt_sub_save_sync(p, cfg, env, &owed)) != NULL)
            return err;
        *sync = owed;
        st->delta_ready = 0;
        *due = 0;
        return NULL;
    }
    if ((err = pt_sub_apply_page(p, cfg, env, page.items, now, &rows,
                                 &applied)) != NULL)
        return apr_pstrcat(p, "reconciliation: ", err, NULL);
    d.delta_link = page.delta_link;
    d.updated_at = now;
    if ((err = pt_sub_save_delta(p, cfg, env, &d)) != NULL)
        return err;
    st->reconciled += applied;
    st->reconciled_at = now;
    if (applied)
        pt_log_error(env->log, PT_LOG_WARNING, APR_SUCCESS, p, PTLOGNO(00713)
                     "reconciliation for %s repaired %" APR_UINT64_T_FMT
                     " of %" APR_INT64_T_FMT " changes: no delivery had "
                     "brought them", cfg->destination_url, applied, rows);
    return NULL;
}

/* Notices a change of the stored webhooks made by another server (or by
 * us): the webhook handlers then read their keys again. */
static void pt_sub_notice_webhooks(pt_sub_status_t *st,
                                   const apr_array_header_t *ours)
{
    apr_uint32_t h = (apr_uint32_t)ours->nelts;
    int i;

    for (i = 0; i < ours->nelts; i++) {
        const pt_store_webhook_t *w = &APR_ARRAY_IDX(ours, i,
                                                     pt_store_webhook_t);
        apr_ssize_t len = (apr_ssize_t)strlen(w->webhook_id);

        h = h * 33 + apr_hashfunc_default(w->webhook_id, &len) + w->state;
    }
    if (h != st->webhooks_seen) {
        st->webhooks_seen = h;
        st->keys_changed++;
    }
}

static void pt_sub_publish(pt_sub_status_t *st, const pt_store_webhook_t *a,
                           const pt_store_sync_t *sync)
{
    pt_sub_copy(st->webhook_id, sizeof(st->webhook_id),
                a ? a->webhook_id : NULL);
    st->valid_until = a ? a->valid_until : 0;
    st->checked_at = a ? a->checked_at : 0;
    st->sync_running = sync->pending;
    st->sync_rows = sync->rows;
    st->sync_pages = sync->pages;
    st->sync_started_at = sync->started_at;
    st->sync_finished_at = sync->finished_at;
    if (!sync->pending)
        st->sync_window[0] = '\0';
}

apr_interval_time_t pt_sub_step(apr_pool_t *p, const pt_sub_config_t *cfg,
                                const pt_sub_env_t *env, apr_time_t now,
                                pt_sub_status_t *st)
{
    apr_array_header_t *ours;
    pt_store_webhook_t *active = NULL;
    pt_store_sync_t sync;
    pt_api_error_t aerr;
    apr_interval_time_t next, reconcile_due = 0;
    const pt_store_conn_t *conn;
    const char *err, *dead = NULL;
    int i, held;

    memset(&aerr, 0, sizeof(aerr));
    if ((conn = env->acquire(env->baton, 0, &err)) != NULL) {
        if ((err = pt_store_webhooks(p, conn, cfg->tenant,
                                     cfg->destination_url, &ours)) == NULL)
            err = pt_store_sync_load(p, conn, cfg->tenant,
                                     cfg->destination_url, &sync);
        env->release(env->baton, conn, 0);
    }
    if (err)
        return pt_sub_failed(env, cfg, p, now, st, NULL,
                             apr_pstrcat(p, "reading the state: ", err, NULL));
    for (i = 0; i < ours->nelts; i++) {
        pt_store_webhook_t *w = &APR_ARRAY_IDX(ours, i, pt_store_webhook_t);

        if (w->state == PT_WEBHOOK_ACTIVE)
            active = w;     /* the newest, should there be several */
    }
    pt_sub_notice_webhooks(st, ours);
    if ((err = pt_sub_lease(p, cfg, env, now, st, &held)) != NULL)
        return pt_sub_failed(env, cfg, p, now, st, NULL, err);
    if (!held) {
        /* Another server runs the job: show its work, and come back in
         * time to take over should it stop renewing. */
        pt_sub_publish(st, active, &sync);
        pt_sub_copy(st->state, sizeof(st->state), "standby");
        st->last_error[0] = '\0';
        st->failures = 0;
        return pt_sub_jitter(env, env->lease / 2, 50);
    }

    if (active && (active->valid_until <= now
                   || now - active->checked_at >= cfg->check_interval
                   || st->checked_at == 0)) {
        if ((err = pt_sub_check(p, cfg, env, now, active, &dead, &aerr)))
            goto failed;
    }
    if (!active || dead) {
        if ((err = pt_sub_replace(p, cfg, env, now, ours,
                                  dead ? active->webhook_id : NULL, &sync,
                                  st, &aerr)) != NULL)
            goto failed;
        active = &APR_ARRAY_IDX(ours, ours->nelts - 1, pt_store_webhook_t);
    }
    else if (now >= active->valid_until - pt_sub_renew_before(cfg, active)) {
        if ((err = pt_sub_rotate(p, cfg, env, now, active, ours, st, &aerr)))
            goto failed;
        active = &APR_ARRAY_IDX(ours, ours->nelts - 1, pt_store_webhook_t);
    }
    if ((err = pt_sub_retire(p, cfg, env, now, ours, st, &aerr)) != NULL)
        goto failed;
    pt_sub_publish(st, active, &sync);
    if (sync.pending) {
        err = pt_sub_sync(p, cfg, env, now, &sync, st, &aerr);
        pt_sub_publish(st, active, &sync);
        if (err)
            goto failed;
    }
    if (!sync.pending && cfg->reconcile_interval > 0) {
        err = pt_sub_reconcile(p, cfg, env, now, &sync, st, &aerr,
                               &reconcile_due);
        pt_sub_publish(st, active, &sync);
        if (err)
            goto failed;
    }

    pt_sub_copy(st->state, sizeof(st->state),
                sync.pending ? "syncing" : "active");
    st->last_error[0] = '\0';
    st->failures = 0;
    if (sync.pending)
        return 0;
    next = pt_sub_jitter(env, cfg->check_interval, 75);
    if (cfg->reconcile_interval > 0 && reconcile_due < next)
        next = reconcile_due;
    /* Renew the lease well before it runs out. */
    if (env->owner && next > env->lease / 3)
        next = env->lease / 3;
    if (active->valid_until - pt_sub_renew_before(cfg, active) - now < next)
        next = active->valid_until - pt_sub_renew_before(cfg, active) - now;
    for (i = 0; i < ours->nelts; i++) {
        const pt_store_webhook_t *w = &APR_ARRAY_IDX(ours, i,
                                                     pt_store_webhook_t);

        if (w->state == PT_WEBHOOK_RETIRING && w->retire_at - now < next)
            next = w->retire_at - now;
    }
    return next > 0 ? next : 0;

failed:
    if (err == pt_sub_lease_gone) {
        /* Not a failure of this server: the next step starts over from
         * the database, as the owner or standing by. */
        pt_log_error(env->log, PT_LOG_NOTICE, APR_SUCCESS, p, PTLOGNO(00709)
                     "the step for %s waited on Protime past its lease "
                     "(%" APR_TIME_T_FMT " s); it stops before its next "
                     "change at Protime, and the next step starts over",
                     cfg->destination_url, apr_time_sec(env->lease));
        pt_sub_publish(st, active, &sync);
        pt_sub_copy(st->state, sizeof(st->state), "standby");
        return 0;
    }
    return pt_sub_failed(env, cfg, p, now, st, &aerr, err);
}
