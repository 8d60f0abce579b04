/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_queue.c: the deliveries that wait for the server's one writer (see
 * pt_queue.h). */
#include <apr_atomic.h>
#include <string.h>
#include <unistd.h>

#include "pt_queue.h"
#include "pt_shared.h"

/* A slot's phase; its state is the phase and its owner's pid in one
 * 32-bit word (see pt_queue.h). Not 64 bits: on some 32-bit platforms APR
 * emulates 64-bit atomics with a mutex of the process, which other
 * processes do not see. Pids need 29 bits at most: Linux's are below 2^22,
 * FreeBSD's below 10^5. */
typedef enum {
    PT_SLOT_FREE = 0,           /* owner 0 */
    PT_SLOT_FILLING,            /* its owner copies a body in */
    PT_SLOT_QUEUED,             /* waits for a writer */
    PT_SLOT_TAKEN,              /* in a writer's commit */
    PT_SLOT_DONE                /* result set, for its owner to read */
} pt_slot_phase;

#define PT_SLOT(owner, phase) (((apr_uint32_t)(owner) << 3) | (phase))
#define PT_SLOT_PHASE(state) ((pt_slot_phase)((state) & 7))
#define PT_SLOT_OWNER(state) ((pid_t)((state) >> 3))
#define PT_SLOT_MAX_OWNER ((pid_t)(0xffffffffu >> 3))

typedef struct {
    volatile apr_uint32_t state;        /* PT_SLOT(owner, phase) */
    apr_time_t arrived;
    apr_size_t len;
    pt_queue_result_t result;
    char packed[PT_QUEUE_BODY];
} pt_queue_slot;

struct pt_queue {
    volatile apr_uint32_t next_free;    /* where to look first */
    apr_uint32_t next_take;     /* the writer's, with the writers' mutex */
    pt_queue_slot slots[PT_QUEUE_SLOTS];
};

apr_size_t pt_queue_size(void)
{
    return sizeof(pt_queue_t);
}

pt_queue_t *pt_queue_init(void *mem)
{
    memset(mem, 0, sizeof(pt_queue_t));
    return mem;
}

int pt_queue_put(pt_queue_t *q, const pt_delivery_t *delivery,
                 apr_time_t arrived)
{
    pid_t me = getpid();
    apr_uint32_t start = apr_atomic_inc32(&q->next_free), i;

    if (me > PT_SLOT_MAX_OWNER)
        return -1;              /* committed by its own request, then */
    for (i = 0; i < PT_QUEUE_SLOTS; i++) {
        int n = (int)((start + i) % PT_QUEUE_SLOTS);
        pt_queue_slot *slot = &q->slots[n];

        if (apr_atomic_cas32(&slot->state, PT_SLOT(me, PT_SLOT_FILLING),
                             PT_SLOT(0, PT_SLOT_FREE))
            != PT_SLOT(0, PT_SLOT_FREE))
            continue;
        slot->len = pt_delivery_pack(delivery, slot->packed,
                                     sizeof(slot->packed));
        if (!slot->len) {
            pt_queue_free(q, n);
            return -1;
        }
        slot->arrived = arrived;
        /* The exchange is a full barrier: a writer that sees QUEUED sees
         * the delivery too. */
        apr_atomic_xchg32(&slot->state, PT_SLOT(me, PT_SLOT_QUEUED));
        return n;
    }
    return -1;
}

int pt_queue_take(pt_queue_t *q, int *slots, int max)
{
    int start = (int)(q->next_take % PT_QUEUE_SLOTS), i, n = 0;

    for (i = 0; i < PT_QUEUE_SLOTS && n < max; i++) {
        int at = (start + i) % PT_QUEUE_SLOTS;
        pt_queue_slot *slot = &q->slots[at];
        apr_uint32_t state = apr_atomic_read32(&slot->state);
        pid_t owner = PT_SLOT_OWNER(state);

        switch (PT_SLOT_PHASE(state)) {
        case PT_SLOT_QUEUED:
            /* Unless its owner abandoned it meanwhile. */
            if (apr_atomic_cas32(&slot->state, PT_SLOT(owner, PT_SLOT_TAKEN),
                                 state) == state)
                slots[n++] = at;
            break;
        case PT_SLOT_TAKEN:
            /* Taken, with the mutex free: its writer died in the commit,
             * which may or may not have reached the disk. Committing it
             * again is safe, the changeVersion rule finds it stale. */
            slots[n++] = at;
            break;
        case PT_SLOT_FILLING:
        case PT_SLOT_DONE:
            /* Its owner is gone. Freed only as it was read: an owner
             * that freed it just before it exited may have let another
             * process claim it meanwhile. */
            if (pt_process_gone(owner))
                apr_atomic_cas32(&slot->state, PT_SLOT(0, PT_SLOT_FREE),
                                 state);
            break;
        case PT_SLOT_FREE:
            break;
        }
    }
    /* A full batch may have left deliveries behind: the next writer
     * starts where this one stopped, so that those are taken before
     * newer ones, and none waits more than a few batches. */
    q->next_take = (apr_uint32_t)((start + i) % PT_QUEUE_SLOTS);
    return n;
}

const char *pt_queue_packed(pt_queue_t *q, int slot, apr_size_t *len,
                            apr_time_t *arrived)
{
    *len = q->slots[slot].len;
    *arrived = q->slots[slot].arrived;
    return q->slots[slot].packed;
}

void pt_queue_finish(pt_queue_t *q, int slot, const pt_queue_result_t *result)
{
    pt_queue_slot *s = &q->slots[slot];
    apr_uint32_t state;

    s->result = *result;
    /* Besides the writer, only an owner that abandons the slot changes a
     * taken slot: then nobody reads the result, and the slot is free. */
    do {
        state = apr_atomic_read32(&s->state);
    } while (apr_atomic_cas32(&s->state,
                              PT_SLOT_OWNER(state)
                              ? PT_SLOT(PT_SLOT_OWNER(state), PT_SLOT_DONE)
                              : PT_SLOT(0, PT_SLOT_FREE),
                              state) != state);
}

int pt_queue_done(pt_queue_t *q, int slot, pt_queue_result_t *result)
{
    if (PT_SLOT_PHASE(apr_atomic_read32(&q->slots[slot].state))
        != PT_SLOT_DONE)
        return 0;
    *result = q->slots[slot].result;
    return 1;
}

void pt_queue_free(pt_queue_t *q, int slot)
{
    apr_atomic_xchg32(&q->slots[slot].state, PT_SLOT(0, PT_SLOT_FREE));
}

int pt_queue_abandon(pt_queue_t *q, int slot)
{
    pt_queue_slot *s = &q->slots[slot];

    for (;;) {
        apr_uint32_t state = apr_atomic_read32(&s->state);

        switch (PT_SLOT_PHASE(state)) {
        case PT_SLOT_QUEUED:
            if (apr_atomic_cas32(&s->state, PT_SLOT(0, PT_SLOT_FREE), state)
                == state)
                return 1;
            break;              /* a writer took it meanwhile */
        case PT_SLOT_TAKEN:
            /* Owner 0: the writer's finish frees it (a writer that died
             * leaves it taken, and the next one finishes it). */
            if (apr_atomic_cas32(&s->state, PT_SLOT(0, PT_SLOT_TAKEN), state)
                == state)
                return 0;
            break;              /* finished meanwhile */
        default:
            /* DONE: only its owner changes it now. */
            apr_atomic_xchg32(&s->state, PT_SLOT(0, PT_SLOT_FREE));
            return 0;
        }
    }
}
