/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_shm: the memory every process of the server shares.
 *
 * Anonymous segments, created by the parent and inherited by every child,
 * hold what must be the same in all of them: the counters of the status
 * page, the storage's "gave up waiting" mark, one status slot per
 * subscription, and the queue of deliveries waiting for their commit. This
 * unit owns them; the others write and read them only through these
 * functions, and the queue through pt_queue.h's.
 */
#ifndef MOD_PROTIME_SHM_H
#define MOD_PROTIME_SHM_H

#include <httpd.h>

#include "pt_queue.h"
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

/* Why a delivery's signature was refused: the summaries count each. */
typedef enum {
    PROTIME_R_NO_HEADER = 0,
    PROTIME_R_NO_KEY,
    PROTIME_R_UNDECODABLE,
    PROTIME_R_NO_MATCH,
    PROTIME_R_STALE,                /* signed timestamp outside tolerance */
    PROTIME_R_COUNT
} protime_refusal_t;

/* Refusals of one location since its last summary. */
typedef struct {
    const char *location;           /* or PROTIME_OTHER_LOCATIONS */
    apr_uint64_t counts[PROTIME_R_COUNT];
    apr_interval_time_t since;      /* since the last summary; 0: none yet */
} protime_refusal_summary_t;

/* Locations with a table entry of their own; the refusals of any more are
 * summed up in one more entry, named PROTIME_OTHER_LOCATIONS. Entries are
 * never given back: locations change only with the configuration. */
#define PROTIME_MAX_REFUSAL_LOCATIONS 64
#define PROTIME_OTHER_LOCATIONS "(other locations)"

/* Counts one refusal at a location (its path; "now" on a monotonic clock),
 * for all processes and threads. Returns 1 when the caller is to log the
 * summary it fills in, which restarts the counts: on the first refusal at
 * a location, then on the first that comes interval or more after the
 * last summary, so at most one a location and interval. */
int protime_shm_refuse(const char *location, protime_refusal_t why,
                       apr_time_t now, apr_interval_time_t interval,
                       protime_refusal_summary_t *summary);

/* Whether signature discovery (pt_discover) may run at a location now:
 * 1 for at most one caller a location and interval, the first one at
 * once. */
int protime_shm_discovery_due(const char *location, apr_time_t now,
                              apr_interval_time_t interval);

/* What discovery last found at a location. */
#define PROTIME_HINT_LEN 256
typedef struct {
    char location[256];
    char text[PROTIME_HINT_LEN];
    apr_time_t found_at;            /* apr_time_now(); 0: none */
} protime_hint_t;

/* Keeps a location's hint (cut to PROTIME_HINT_LEN), found at found_at. */
void protime_shm_set_hint(const char *location, const char *text,
                          apr_time_t found_at);
/* The most recently found hint of all locations; 0 when there is none. */
int protime_shm_latest_hint(protime_hint_t *out);

/* Whether a refused delivery at a location (its path; "now" on a
 * monotonic clock) is to be captured (ProtimeCaptureRefused): the first
 * there, then the first that comes interval or more after the last
 * capture, whichever process or thread it arrives in. */
int protime_shm_capture_due(const char *location, apr_time_t now,
                            apr_interval_time_t interval);

/* When a storage transaction last gave up waiting for a lock that another
 * program held (0: never), on pt_clock_monotonic(): the batches queued
 * behind it give up too, instead of waiting a timeout each. */
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

/* The queue of deliveries waiting for the server's one writer (pt_queue.h),
 * in a segment of each generation's own, as the writers' mutex is. Parent
 * only, in post_config. */
apr_status_t protime_shm_queue_init(apr_pool_t *pconf, server_rec *s,
                                    pt_queue_t **queue);

/* Adds n to the server's count of commits since it started; returns the
 * new count (modulo 2^32). */
apr_uint32_t protime_shm_commits_add(apr_uint32_t n);

#endif /* MOD_PROTIME_SHM_H */
