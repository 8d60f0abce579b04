/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_shm.c: the memory every process of the server shares (see
 * mod_protime_shm.h). */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>

#include "mod_protime.h"
#include "mod_protime_shm.h"
#include "pt_shared.h"

APLOG_USE_MODULE(protime);

#define PROTIME_SHM_KEY "mod_protime_shm"

/* The status of one subscription, written by the job's thread. */
struct protime_status_slot {
    pt_seqlock_t lock;
    char tenant[64];
    char destination[512];      /* "" when the slot is free */
    pt_sub_status_t status;
};

typedef struct protime_status_slot protime_status_slot;

/* The refusals of one location, named by the first process that refuses
 * a delivery there (pt_claim). */
typedef struct {
    volatile apr_uint32_t named;
    char location[256];
    volatile apr_uint64_t counts[PROTIME_R_COUNT];
    volatile apr_uint64_t last_summary;         /* apr_time_t; 0: none */
    volatile apr_uint64_t last_discovery;       /* apr_time_t; 0: none */
    /* The hint discovery found. */
    pt_seqlock_t hint_lock;
    apr_time_t hint_at;
    char hint[PROTIME_HINT_LEN];
    volatile apr_uint64_t last_capture;         /* apr_time_t; 0: none */
} protime_refusal_entry;

typedef struct {
    volatile apr_uint64_t counters[PROTIME_C_COUNT];
    volatile apr_uint64_t gave_up_at;           /* apr_time_t */
    volatile apr_uint32_t commits;
    protime_status_slot slots[PROTIME_MAX_SUBSCRIPTIONS];
    /* The last one is PROTIME_OTHER_LOCATIONS. */
    protime_refusal_entry refusals[PROTIME_MAX_REFUSAL_LOCATIONS + 1];
} protime_shared_t;

static protime_shared_t *protime_shared;

apr_status_t protime_shm_init(server_rec *s)
{
    apr_pool_t *pproc = s->process->pool;
    apr_size_t size = sizeof(protime_shared_t);
    apr_shm_t *shm = NULL;
    apr_status_t rv;

    apr_pool_userdata_get((void **)&shm, PROTIME_SHM_KEY, pproc);
    /* A reload may bring a module whose segment is laid out otherwise. */
    if (!shm || apr_shm_size_get(shm) != size) {
        rv = apr_shm_create(&shm, size, NULL, pproc);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, PTLOGNO(00201)
                         "cannot create the module's shared memory");
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

apr_uint64_t protime_counter(protime_counter_t which)
{
    return protime_shared
           ? apr_atomic_read64(&protime_shared->counters[which]) : 0;
}

apr_time_t protime_shm_gave_up_at(void)
{
    return protime_shared
           ? (apr_time_t)apr_atomic_read64(&protime_shared->gave_up_at) : 0;
}

apr_uint32_t protime_shm_commits_add(apr_uint32_t n)
{
    return protime_shared ? apr_atomic_add32(&protime_shared->commits, n) + n
                          : n;
}

void protime_shm_set_gave_up_at(apr_time_t when)
{
    if (protime_shared)
        apr_atomic_set64(&protime_shared->gave_up_at, (apr_uint64_t)when);
}

/* Whether the entry is named for location, naming it so if it was free. */
static int protime_refusal_entry_is(protime_refusal_entry *e,
                                    const char *location)
{
    if (pt_claim(&e->named)) {
        apr_cpystrn(e->location, location, sizeof(e->location));
        pt_claim_done(&e->named);
        return 1;
    }
    return !strncmp(e->location, location, sizeof(e->location) - 1);
}

/* The entry of a location, claiming the first free one for it if it has
 * none yet. Entries are claimed in order and never freed, so a location
 * that reaches a free entry has none further on. */
static protime_refusal_entry *protime_refusal_entry_of(const char *location)
{
    protime_refusal_entry *e = protime_shared->refusals;
    int i;

    for (i = 0; i < PROTIME_MAX_REFUSAL_LOCATIONS; i++, e++)
        if (protime_refusal_entry_is(e, location))
            return e;
    protime_refusal_entry_is(e, PROTIME_OTHER_LOCATIONS);
    return e;
}

int protime_shm_refuse(const char *location, protime_refusal_t why,
                       apr_time_t now, apr_interval_time_t interval,
                       protime_refusal_summary_t *summary)
{
    protime_refusal_entry *e;
    apr_uint64_t last;
    int i;

    if (!protime_shared)
        return 0;
    e = protime_refusal_entry_of(location);
    apr_atomic_inc64(&e->counts[why]);
    last = apr_atomic_read64(&e->last_summary);
    if (last && now - (apr_time_t)last < interval)
        return 0;
    /* Of the threads that find the interval over, one writes the summary. */
    if (apr_atomic_cas64(&e->last_summary, (apr_uint64_t)now, last) != last)
        return 0;
    for (i = 0; i < PROTIME_R_COUNT; i++)
        summary->counts[i] = apr_atomic_xchg64(&e->counts[i], 0);
    summary->since = last ? now - (apr_time_t)last : 0;
    summary->location = e->location;
    return 1;
}

/* Whether *last (an apr_time_t; 0: never) is interval or more before now,
 * and if so, moves it to now: of the threads, in whichever process, that
 * find the interval over, one gets 1. */
static int protime_shm_turn(volatile apr_uint64_t *last_at, apr_time_t now,
                            apr_interval_time_t interval)
{
    apr_uint64_t last = apr_atomic_read64(last_at);

    if (last && now - (apr_time_t)last < interval)
        return 0;
    return apr_atomic_cas64(last_at, (apr_uint64_t)now, last) == last;
}

int protime_shm_discovery_due(const char *location, apr_time_t now,
                              apr_interval_time_t interval)
{
    if (!protime_shared)
        return 0;
    return protime_shm_turn(&protime_refusal_entry_of(location)->last_discovery,
                            now, interval);
}

int protime_shm_capture_due(const char *location, apr_time_t now,
                            apr_interval_time_t interval)
{
    if (!protime_shared)
        return 0;
    return protime_shm_turn(&protime_refusal_entry_of(location)->last_capture,
                            now, interval);
}

void protime_shm_set_hint(const char *location, const char *text,
                          apr_time_t found_at)
{
    protime_refusal_entry *e;
    apr_uint32_t seq;

    if (!protime_shared)
        return;
    e = protime_refusal_entry_of(location);
    /* One writer a location and discovery interval: no lock needed
     * between writers, only the readers' sequence. */
    seq = pt_seqlock_write_begin(&e->hint_lock);
    apr_cpystrn(e->hint, text, sizeof(e->hint));
    e->hint_at = found_at;
    pt_seqlock_write_end(&e->hint_lock, seq);
}

int protime_shm_latest_hint(protime_hint_t *out)
{
    int i;

    out->found_at = 0;
    if (!protime_shared)
        return 0;
    for (i = 0; i <= PROTIME_MAX_REFUSAL_LOCATIONS; i++) {
        protime_refusal_entry *e = &protime_shared->refusals[i];
        apr_uint32_t seq;
        protime_hint_t h;

        if (!pt_claim_is_done(&e->named))
            continue;
        do {
            seq = pt_seqlock_read_begin(&e->hint_lock);
            h.found_at = e->hint_at;
            memcpy(h.text, e->hint, sizeof(h.text));
        } while (pt_seqlock_read_again(&e->hint_lock, seq));
        if (h.found_at > out->found_at) {
            h.text[sizeof(h.text) - 1] = '\0';
            apr_cpystrn(h.location, e->location, sizeof(h.location));
            *out = h;
        }
    }
    return out->found_at != 0;
}


protime_status_slot *protime_shm_slot(const char *tenant,
                                      const char *destination)
{
    protime_status_slot *free_slot = NULL;
    int i;

    if (!protime_shared)
        return NULL;
    /* The parent alone calls this: nobody writes meanwhile. */
    for (i = 0; i < PROTIME_MAX_SUBSCRIPTIONS; i++) {
        protime_status_slot *slot = &protime_shared->slots[i];

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

void protime_shm_publish(protime_status_slot *slot, const pt_sub_status_t *st)
{
    apr_uint32_t seq = pt_seqlock_write_begin(&slot->lock);

    memcpy(&slot->status, st, sizeof(*st));
    pt_seqlock_write_end(&slot->lock, seq);
}

void protime_shm_read(protime_status_slot *slot, pt_sub_status_t *st)
{
    apr_uint32_t seq;

    do {
        seq = pt_seqlock_read_begin(&slot->lock);
        memcpy(st, &slot->status, sizeof(*st));
    } while (pt_seqlock_read_again(&slot->lock, seq));
}

/* ---- the queue of deliveries -------------------------------------------- */

apr_status_t protime_shm_queue_init(apr_pool_t *pconf, server_rec *s,
                                    pt_queue_t **queue)
{
    apr_shm_t *shm;
    apr_status_t rv = apr_shm_create(&shm, pt_queue_size(), NULL, pconf);

    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, PTLOGNO(00202)
                     "cannot create the shared memory of the delivery "
                     "queue");
        return rv;
    }
    *queue = pt_queue_init(apr_shm_baseaddr_get(shm));
    return APR_SUCCESS;
}
