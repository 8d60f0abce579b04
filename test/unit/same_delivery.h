/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* same_delivery.h: whether two parsed deliveries are the same, field by
 * field: what test_event checks of a packed delivery's round trip, and
 * fuzz_event of any input's. */
#ifndef PT_SAME_DELIVERY_H
#define PT_SAME_DELIVERY_H

#include <string.h>

#include "pt_event.h"

/* Whether two strings are both NULL or equal. */
static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Whether two deliveries hold the same events and rejects. */
static int same_delivery(const pt_delivery_t *a, const pt_delivery_t *b)
{
    int i;

    if (a->events->nelts != b->events->nelts
        || a->rejects->nelts != b->rejects->nelts)
        return 0;
    for (i = 0; i < a->events->nelts; i++) {
        const pt_event_t *x = &APR_ARRAY_IDX(a->events, i, pt_event_t);
        const pt_event_t *y = &APR_ARRAY_IDX(b->events, i, pt_event_t);

        if (!same_str(x->collection, y->collection) || x->change != y->change
            || x->id != y->id || !same_str(x->change_version, y->change_version)
            || !same_str(x->date, y->date) || x->time_of_day != y->time_of_day
            || x->has_person != y->has_person || x->person_id != y->person_id
            || x->has_terminal != y->has_terminal
            || x->terminal_id != y->terminal_id
            || !same_str(x->status, y->status)
            || !same_str(x->person_refs, y->person_refs)
            || !same_str(x->terminal_refs, y->terminal_refs)
            || !same_str(x->payload, y->payload))
            return 0;
    }
    for (i = 0; i < a->rejects->nelts; i++) {
        const pt_reject_t *x = &APR_ARRAY_IDX(a->rejects, i, pt_reject_t);
        const pt_reject_t *y = &APR_ARRAY_IDX(b->rejects, i, pt_reject_t);

        if (!same_str(x->reason, y->reason) || x->body_len != y->body_len
            || memcmp(x->body, y->body, x->body_len))
            return 0;
    }
    return 1;
}

#endif
