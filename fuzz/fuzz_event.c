/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* libFuzzer target: a delivery body through pt_event_parse.
 *
 * Whatever the bytes, parsing must return, account for the body (at least
 * one event or reject unless the body is an empty batch), and produce only
 * events that satisfy the validation table: those are the properties the
 * handler relies on when it writes them to the database. The delivery must
 * also come back whole from the packed form the queue of the group commit
 * carries (pt_delivery_pack), and unpacking any bytes must return.
 */
#include <apr_general.h>
#include <apr_pools.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pt_date.h"
#include "pt_event.h"
#include "same_delivery.h"

static apr_pool_t *fuzz_pool;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&fuzz_pool, NULL);
    return 0;
}

/* Characters of a UTF-8 string: the bytes that do not continue one. */
static size_t fuzz_utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* The stored JSON texts must be JSON again. */
static void fuzz_check_json(const char *text)
{
    json_t *j;

    if (!text)
        return;
    j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (!j)
        abort();
    json_decref(j);
}

static void fuzz_check_event(const pt_event_t *e)
{
    size_t n;

    if (e->id < 1 || !e->change_version || !e->payload)
        abort();
    n = strlen(e->change_version);
    if (n < 1 || n > PT_EVENT_MAX_VERSION)
        abort();
    for (; n > 0; n--)
        if (e->change_version[n - 1] < 0x20 || e->change_version[n - 1] > 0x7e)
            abort();
    fuzz_check_json(e->payload);
    if (e->change == PT_CHANGE_DELETE)
        return;
    if (!e->date || pt_date_parse(e->date, NULL) != PT_DATE_OK || !e->status
        || fuzz_utf8_chars(e->status) < 1
        || fuzz_utf8_chars(e->status) > PT_EVENT_MAX_STATUS
        || e->time_of_day < 0 || e->time_of_day > 1439)
        abort();
    fuzz_check_json(e->person_refs);
    fuzz_check_json(e->terminal_refs);
}

/* The delivery comes back whole from its packed form. */
static void fuzz_check_packed(apr_pool_t *p, const pt_delivery_t *d,
                              size_t size)
{
    apr_size_t cap = 8 * size + 4096, used;
    char *buf = apr_palloc(p, cap);
    pt_delivery_t back;

    used = pt_delivery_pack(d, buf, cap);
    if (!used)
        return;
    if (!pt_delivery_unpack(p, buf, used, &back) || !same_delivery(d, &back))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    pt_delivery_t d, unpacked;
    int i;

    apr_pool_create(&p, fuzz_pool);
    pt_event_parse(p, (const char *)data, size, &d);
    for (i = 0; i < d.events->nelts; i++)
        fuzz_check_event(&APR_ARRAY_IDX(d.events, i, pt_event_t));
    for (i = 0; i < d.rejects->nelts; i++) {
        const pt_reject_t *r = &APR_ARRAY_IDX(d.rejects, i, pt_reject_t);
        if (!r->reason || !*r->reason || !r->body)
            abort();
    }
    fuzz_check_packed(p, &d, size);
    (void)pt_delivery_unpack(p, (const char *)data, size, &unpacked);
    /* The date parsers on their own, on the input as a string. */
    if (size < 48) {
        char s[48];
        apr_time_t t;

        memcpy(s, data, size);
        s[size] = '\0';
        (void)pt_date_parse(s, &t);
        (void)pt_date_parse_time(s, &t);
    }
    apr_pool_destroy(p);
    return 0;
}
