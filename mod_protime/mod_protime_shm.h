/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_shm: the memory every process of the server shares.
 *
 * One anonymous segment, created by the parent and inherited by every
 * child, holds what must be the same in all of them: the counters of the
 * status page, the storage's "gave up waiting" mark, and one status slot
 * per subscription. This unit owns it; the others write and read it only
 * through these functions.
 */
#ifndef MOD_PROTIME_SHM_H
#define MOD_PROTIME_SHM_H

#include <httpd.h>

#include "pt_sub.h"

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

/* Attaches the segment, creating it on the first start. It belongs to the
 * process pool, not to pconf, so that it outlives graceful restarts:
 * Prometheus counters must not drop to zero at each reload. Parent only,
 * in post_config. */
apr_status_t protime_shm_init(server_rec *s);

void protime_count(protime_counter_t which, apr_uint64_t n);
apr_uint64_t protime_counter(protime_counter_t which);

/* When a storage transaction last gave up waiting for a lock that another
 * program held (0: never): the batches queued behind it give up too,
 * instead of waiting a timeout each. */
apr_time_t protime_shm_gave_up_at(void);
void protime_shm_set_gave_up_at(apr_time_t when);

/* One status slot per subscribing server, found again by tenant and
 * destination after a graceful restart. Returns NULL when all slots are
 * taken. Parent only, in post_config. */
#define PROTIME_MAX_SUBSCRIPTIONS 32
struct protime_status_slot *protime_shm_slot(const char *tenant,
                                      const char *destination);
/* The job's thread publishes; any thread of any process reads. */
void protime_shm_publish(struct protime_status_slot *slot,
                         const pt_sub_status_t *st);
void protime_shm_read(struct protime_status_slot *slot, pt_sub_status_t *st);

#endif /* MOD_PROTIME_SHM_H */
