/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_queue: the deliveries that wait for the server's one writer (see
 * mod_protime_storage.c), in memory that every process of the server
 * shares.
 *
 * A fixed number of slots, each holding one delivery as parsed
 * (pt_delivery_pack). Every process puts into it and waits; the writer of
 * the moment, holding the writers' mutex, takes what is queued, commits
 * it, and leaves each slot its result for its owner to read and free.
 * A slot goes FREE -> FILLING -> QUEUED -> TAKEN -> DONE -> FREE, or from
 * QUEUED back to FREE when its owner gives up before a writer took it, or
 * from TAKEN to FREE when it gives up after.
 * Its phase and its owner's pid are one atomic word, and each step that
 * two processes could race for is a compare-and-swap of it. So a process
 * killed at any instruction leaves slots whose owner is known: the next
 * writer frees them (or commits what they queued), and takes again what a
 * writer took before it died. Nothing waits for a dead process, and no
 * slot is lost to one.
 */
#ifndef PT_QUEUE_H
#define PT_QUEUE_H

#include <apr_time.h>

#include "pt_event.h"

#define PT_QUEUE_SLOTS 128
#define PT_QUEUE_BODY (8 * 1024)

typedef struct pt_queue pt_queue_t;

/* What a writer left in a slot for its owner. */
typedef struct {
    int applied, deletes, stale, quarantined;
    int failed;
    char error[256];
} pt_queue_result_t;

/* The bytes a queue needs, and the queue made empty in mem, which is that
 * large, suitably aligned (shared memory's base), and mapped at the same
 * place in every process that uses it. */
apr_size_t pt_queue_size(void);
pt_queue_t *pt_queue_init(void *mem);

/* Packs delivery into a free slot and queues it, arrived on
 * pt_clock_monotonic(); returns the slot, or -1 when it does not fit in a
 * slot or no slot is free. */
int pt_queue_put(pt_queue_t *q, const pt_delivery_t *delivery,
                 apr_time_t arrived);
/* With the writers' mutex held: marks the queued slots taken, and those a
 * writer took before it died, at most max of them, into slots; returns how
 * many. A batch that max cut short leaves the rest to be taken first by
 * the next. Slots whose owner died after their commit are freed on the
 * way. */
int pt_queue_take(pt_queue_t *q, int *slots, int max);
/* The packed delivery of a taken slot. */
const char *pt_queue_packed(pt_queue_t *q, int slot, apr_size_t *len,
                            apr_time_t *arrived);
/* With the writers' mutex held: the result of a taken slot. */
void pt_queue_finish(pt_queue_t *q, int slot,
                     const pt_queue_result_t *result);
/* Whether a writer finished the slot; if so, its result into *result. */
int pt_queue_done(pt_queue_t *q, int slot, pt_queue_result_t *result);
/* By its owner, once done (or never queued): the slot is free again. */
void pt_queue_free(pt_queue_t *q, int slot);
/* By an owner that will not wait for its result: returns 1, and the slot
 * is free, when no writer took it yet (its delivery will not be
 * committed); else 0, and the slot is the writer's to free as it finishes
 * it (its delivery may be committed). */
int pt_queue_abandon(pt_queue_t *q, int slot);

#endif /* PT_QUEUE_H */
