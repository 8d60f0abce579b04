/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests for pt_event: body forms, validation rules, rejects. */
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "pt_collection.h"
#include "pt_event.h"
#include "tap.h"
#include "same_delivery.h"

static apr_pool_t *pool;

#define EV(d, i) (&APR_ARRAY_IDX((d)->events, (i), pt_event_t))
#define RJ(d, i) (&APR_ARRAY_IDX((d)->rejects, (i), pt_reject_t))

/* A valid bare object; the F_* macros build it with one field replaced. */
#define F_ID "\"id\":4711"
#define F_CV "\"changeVersion\":\"0000090200004BD0000B\""
#define F_DATE "\"date\":\"2025-07-15\""
#define F_TOD "\"timeOfDayInMinutes\":482"
#define F_STATUS "\"status\":\"AccessOk\""

/* The collection parse() parses for: NULL for pt_event_parse itself. */
static const char *collection;

static pt_delivery_t parse_len(const char *body, apr_size_t len)
{
    pt_delivery_t d;

    if (collection)
        pt_event_parse_collection(pool, collection, body, len, &d);
    else
        pt_event_parse(pool, body, len, &d);
    return d;
}

static pt_delivery_t parse(const char *body)
{
    return parse_len(body, strlen(body));
}

/* Bare object with the five required fields, each replaceable; a NULL
 * field is left out. */
static const char *bare(const char *id, const char *cv, const char *date,
                        const char *tod, const char *status,
                        const char *extra)
{
    const char *parts[6];
    const char *s = "{";
    int i, n = 0;

    parts[0] = id;
    parts[1] = cv;
    parts[2] = date;
    parts[3] = tod;
    parts[4] = status;
    parts[5] = extra;
    for (i = 0; i < 6; i++) {
        if (parts[i]) {
            s = apr_pstrcat(pool, s, n++ ? "," : "", parts[i], NULL);
        }
    }
    return apr_pstrcat(pool, s, "}", NULL);
}

static const char *with_id(const char *id)
{
    return bare(id, F_CV, F_DATE, F_TOD, F_STATUS, NULL);
}

static const char *with_cv(const char *cv)
{
    return bare(F_ID, cv, F_DATE, F_TOD, F_STATUS, NULL);
}

static const char *with_date(const char *date)
{
    return bare(F_ID, F_CV, date, F_TOD, F_STATUS, NULL);
}

static const char *with_tod(const char *tod)
{
    return bare(F_ID, F_CV, F_DATE, tod, F_STATUS, NULL);
}

static const char *with_status(const char *status)
{
    return bare(F_ID, F_CV, F_DATE, F_TOD, status, NULL);
}

static const char *with_extra(const char *extra)
{
    return bare(F_ID, F_CV, F_DATE, F_TOD, F_STATUS, extra);
}

static const char *repeat(const char *unit, int n)
{
    const char *s = "";
    int i;

    for (i = 0; i < n; i++) {
        s = apr_pstrcat(pool, s, unit, NULL);
    }
    return s;
}

/* The body yields exactly one event. */
static const pt_event_t *accepts(const char *body, const char *name)
{
    pt_delivery_t d = parse(body);

    ok(d.events->nelts == 1 && d.rejects->nelts == 0, "accepted: %s", name);
    if (d.rejects->nelts) {
        printf("#   reason: %s\n", RJ(&d, 0)->reason);
    }
    return d.events->nelts == 1 ? EV(&d, 0) : NULL;
}

/* The body yields no event and one reject whose reason is want. */
static void rejects(const char *body, const char *want, const char *name)
{
    pt_delivery_t d = parse(body);

    ok(d.events->nelts == 0 && d.rejects->nelts == 1, "rejected: %s", name);
    is_str(d.rejects->nelts ? RJ(&d, 0)->reason : NULL, want,
           "reason: %s", name);
}

/* The body is refused as a whole: one reject holding the raw bytes. */
static void not_json(const char *body, apr_size_t len, const char *want,
                     const char *name)
{
    pt_delivery_t d = parse_len(body, len);
    const pt_reject_t *r = d.rejects->nelts ? RJ(&d, 0) : NULL;

    ok(d.events->nelts == 0 && d.rejects->nelts == 1, "not JSON: %s", name);
    ok(r && r->body_len == len && memcmp(r->body, body, len) == 0
       && r->body != body, "raw body copied: %s", name);
    if (want) {
        is_str(r ? r->reason : NULL, want, "reason: %s", name);
    }
    else {
        ok(r && strncmp(r->reason, "not JSON: ", 10) == 0,
           "reason starts with 'not JSON': %s", name);
    }
}

static void test_forms(void)
{
    const char *ev1 = "{\"changeType\":\"InsertOrUpdate\",\"data\":"
        "{\"changeVersion\":\"0000090200004BD0000B\",\"id\":4711,"
        "\"person\":{\"id\":123152,\"externalReferences\":"
        "{\"@badge-number\":\"6767676\"}},"
        "\"date\":\"2025-07-15\",\"timeOfDayInMinutes\":482,"
        "\"terminal\":{\"id\":12,\"externalReferences\":"
        "{\"@external-code\":\"GATE-1\"}},\"status\":\"AccessOk\"}}";
    const char *del = "{\"changeType\":\"Delete\",\"data\":"
        "{\"changeVersion\":\"0000090200004BD0000C\",\"id\":1001}}";
    const pt_event_t *e;
    pt_delivery_t d;

    e = accepts(ev1, "single InsertOrUpdate event");
    if (e) {
        is_int(e->change, PT_CHANGE_UPSERT, "change is upsert");
        is_int(e->id, 4711, "id");
        is_str(e->change_version, "0000090200004BD0000B", "changeVersion");
        is_str(e->date, "2025-07-15", "date");
        is_int(e->time_of_day, 482, "timeOfDayInMinutes");
        is_int(e->has_person, 1, "has_person");
        is_int(e->person_id, 123152, "person id");
        is_str(e->person_refs, "{\"@badge-number\":\"6767676\"}",
               "person refs serialized");
        is_int(e->has_terminal, 1, "has_terminal");
        is_int(e->terminal_id, 12, "terminal id");
        is_str(e->terminal_refs, "{\"@external-code\":\"GATE-1\"}",
               "terminal refs serialized");
        is_str(e->status, "AccessOk", "status");
        is_str(e->payload,
               "{\"changeVersion\":\"0000090200004BD0000B\",\"id\":4711,"
               "\"person\":{\"id\":123152,\"externalReferences\":"
               "{\"@badge-number\":\"6767676\"}},"
               "\"date\":\"2025-07-15\",\"timeOfDayInMinutes\":482,"
               "\"terminal\":{\"id\":12,\"externalReferences\":"
               "{\"@external-code\":\"GATE-1\"}},\"status\":\"AccessOk\"}",
               "payload is data, compact, keys in received order");
    }

    e = accepts(bare(F_ID, F_CV, F_DATE, F_TOD, F_STATUS, NULL),
                "bare object");
    if (e) {
        is_int(e->change, PT_CHANGE_UPSERT, "bare object is an upsert");
        is_int(e->id, 4711, "bare object id");
        is_int(e->has_person, 0, "person absent");
        is_int(e->has_terminal, 0, "terminal absent");
        ok(e->person_refs == NULL && e->terminal_refs == NULL,
           "no refs when absent");
        is_str(e->payload, "{\"id\":4711,\"changeVersion\":"
               "\"0000090200004BD0000B\",\"date\":\"2025-07-15\","
               "\"timeOfDayInMinutes\":482,\"status\":\"AccessOk\"}",
               "bare object payload is the object itself");
    }

    d = parse(apr_pstrcat(pool, "[", ev1, ",", del, "]", NULL));
    is_int(d.events->nelts, 2, "array of events: two events");
    is_int(d.rejects->nelts, 0, "array of events: no reject");
    if (d.events->nelts == 2) {
        is_int(EV(&d, 0)->id, 4711, "array keeps order (1)");
        is_int(EV(&d, 1)->id, 1001, "array keeps order (2)");
        is_int(EV(&d, 1)->change, PT_CHANGE_DELETE, "second is a delete");
    }

    d = parse(apr_pstrcat(pool, "[", with_id("\"id\":1"), ",", del, ",",
                          with_id("\"id\":3"), "]", NULL));
    is_int(d.events->nelts, 3, "array mixing events and bare objects");
    is_int(d.rejects->nelts, 0, "mixed array: no reject");
    if (d.events->nelts == 3) {
        is_int(EV(&d, 0)->id, 1, "mixed order (1)");
        is_int(EV(&d, 1)->id, 1001, "mixed order (2)");
        is_int(EV(&d, 2)->id, 3, "mixed order (3)");
        is_int(EV(&d, 0)->change, PT_CHANGE_UPSERT, "bare in array upsert");
        is_int(EV(&d, 1)->change, PT_CHANGE_DELETE, "event in array delete");
    }

    d = parse(apr_pstrcat(pool, "{\"value\":[", del, ",",
                          with_id("\"id\":2"), "]}", NULL));
    is_int(d.events->nelts, 2, "value envelope: two events");
    is_int(d.rejects->nelts, 0, "value envelope: no reject");
    if (d.events->nelts == 2) {
        is_int(EV(&d, 0)->id, 1001, "envelope order (1)");
        is_int(EV(&d, 1)->id, 2, "envelope order (2)");
    }

    d = parse("[]");
    ok(d.events->nelts == 0 && d.rejects->nelts == 0,
       "empty array: nothing");
    d = parse("{\"value\":[]}");
    ok(d.events->nelts == 0 && d.rejects->nelts == 0,
       "empty envelope: nothing");

    /* "value" that is not an array is just a field of a bare object. */
    e = accepts(with_extra("\"value\":5"), "value not an array: bare object");
    if (e) {
        ok(strstr(e->payload, "\"value\":5") != NULL,
           "value kept in payload");
    }

    d = parse("[1,\"x\",null,[]]");
    is_int(d.rejects->nelts, 4, "array of non-objects: four rejects");
    if (d.rejects->nelts == 4) {
        is_str(RJ(&d, 0)->reason, "item 1: not an object", "number item");
        is_str(RJ(&d, 0)->body, "1", "number item body");
        is_str(RJ(&d, 1)->body, "\"x\"", "string item body");
        is_str(RJ(&d, 2)->body, "null", "null item body");
        is_str(RJ(&d, 3)->reason, "item 4: not an object", "array item");
        is_str(RJ(&d, 3)->body, "[]", "array item body");
        is_int(RJ(&d, 3)->body_len, 2, "array item body_len");
    }
    d = parse("{\"value\":[{\"id\":1}, 7]}");
    is_int(d.rejects->nelts, 2, "envelope items rejected individually");
    if (d.rejects->nelts == 2) {
        is_str(RJ(&d, 0)->reason, "item 1: changeVersion: missing",
               "envelope item 1 reason");
        is_str(RJ(&d, 1)->reason, "item 2: not an object",
               "envelope item 2 reason");
    }
}

/* Members beside those of each form: nothing is dropped unseen. */
static void test_stray(void)
{
    const char *del = "{\"changeType\":\"Delete\",\"data\":"
        "{\"changeVersion\":\"0000090200004BD0000C\",\"id\":1001}}";
    const char *body;
    const pt_event_t *e;
    pt_delivery_t d;

    /* The fault of issue 17, item 6: a clocking that also has "value": []
     * was an envelope of nothing. */
    e = accepts(with_extra("\"value\":[]"), "bare object with value []");
    if (e) {
        is_int(e->id, 4711, "bare object with value []: its id");
        ok(strstr(e->payload, "\"value\":[]") != NULL,
           "bare object with value []: value kept in payload");
    }
    e = accepts(bare(F_ID, F_CV, F_DATE, F_TOD, F_STATUS,
                     "\"value\":[{\"id\":1}],\"@odata.etag\":\"x\""),
                "bare object with value of items and an annotation");
    if (e) {
        ok(strstr(e->payload, "\"value\":[{\"id\":1}]") != NULL
           && strstr(e->payload, "\"@odata.etag\":\"x\"") != NULL,
           "bare object: every member kept in payload");
    }
    /* An object of a change that does not validate is quarantined, never
     * an empty envelope. */
    rejects("{\"id\":5,\"value\":[]}", "item 1: changeVersion: missing",
            "id and value []: a bare object");
    rejects("{\"changeVersion\":\"v\",\"value\":[]}",
            "item 1: id: missing", "changeVersion and value []: a bare object");
    rejects("{\"data\":{\"id\":5},\"value\":[]}", "item 1: id: missing",
            "data and value []: a bare object");

    /* An event: changeType, data and annotations only. */
    rejects("{\"changeType\":\"Delete\",\"value\":[],\"data\":"
            "{\"id\":5,\"changeVersion\":\"v\"}}",
            "item 1: event: unexpected member \"value\"",
            "event with value []");
    body = apr_pstrcat(pool, "{\"changeType\":\"InsertOrUpdate\",\"data\":",
                       with_id("\"id\":6"), ",\"value\":[", del, "]}", NULL);
    rejects(body, "item 1: event: unexpected member \"value\"",
            "event with an event in value: neither applied");
    d = parse(body);
    ok(d.rejects->nelts == 1 && strcmp(RJ(&d, 0)->body, body) == 0,
       "event with stray member: kept whole in the reject");
    rejects("{\"changeType\":\"Delete\",\"data\":{\"id\":5,"
            "\"changeVersion\":\"v\"},\"id\":7}",
            "item 1: event: unexpected member \"id\"", "event with id beside data");
    rejects("{\"changeType\":\"Delete\",\"data\":{\"id\":5,"
            "\"changeVersion\":\"v\"},\"a\\nb\":1}",
            "item 1: event: unexpected member \"a?b\"",
            "member name made printable in the reason");
    e = accepts("{\"@odata.etag\":\"W/1\",\"changeType\":\"Delete\","
                "\"data\":{\"id\":5,\"changeVersion\":\"v\"}}",
                "event with an annotation");
    if (e) {
        is_int(e->id, 5, "event with an annotation: id from data");
    }

    /* Array items: each by its own form. */
    d = parse(apr_pstrcat(pool, "[", with_extra("\"value\":[]"), ",",
                          "{\"changeType\":\"Delete\",\"data\":{\"id\":5,"
                          "\"changeVersion\":\"v\"},\"extra\":true}]", NULL));
    ok(d.events->nelts == 1 && d.rejects->nelts == 1,
       "array: bare object with value applied, event with extra rejected");
    if (d.rejects->nelts == 1) {
        is_str(RJ(&d, 0)->reason, "item 2: event: unexpected member \"extra\"",
               "array: the event's reject is item 2");
    }

    /* An envelope: value and annotations only. */
    d = parse(apr_pstrcat(pool, "{\"@odata.context\":\"x\",\"value\":[",
                          del, "],\"@odata.nextLink\":\"y\"}", NULL));
    ok(d.events->nelts == 1 && d.rejects->nelts == 0,
       "envelope with annotations: its event applied");
    body = apr_pstrcat(pool, "{\"value\":[", del, "],\"nextLink\":\"/more\"}",
                       NULL);
    d = parse(body);
    ok(d.events->nelts == 0 && d.rejects->nelts == 1,
       "envelope with nextLink: rejected whole, its event not applied");
    if (d.rejects->nelts == 1) {
        is_str(RJ(&d, 0)->reason, "envelope: unexpected member \"nextLink\"",
               "envelope with nextLink: reason");
        ok(RJ(&d, 0)->body_len == strlen(body)
           && memcmp(RJ(&d, 0)->body, body, strlen(body)) == 0,
           "envelope with nextLink: the body as received");
    }
    d = parse("{\"value\":[],\"clocking\":{\"id\":1}}");
    ok(d.events->nelts == 0 && d.rejects->nelts == 1,
       "empty envelope with a stray member: rejected, not nothing");
    d = parse(apr_pstrcat(pool, "{\"value\":[", with_extra("\"value\":[]"),
                          ",{\"changeType\":\"Delete\",\"data\":{\"id\":5,"
                          "\"changeVersion\":\"v\"},\"value\":[]}]}", NULL));
    ok(d.events->nelts == 1 && d.rejects->nelts == 1,
       "envelope items with stray members: each by its own form");
    if (d.rejects->nelts == 1) {
        is_str(RJ(&d, 0)->reason, "item 2: event: unexpected member \"value\"",
               "envelope item 2 rejected");
    }
}

static void test_mixed(void)
{
    const char *bad_date = with_date("\"date\":\"2026-02-30\"");
    const char *bad_cv = "{\"changeType\":\"Delete\",\"data\":"
        "{\"id\":9,\"changeVersion\":\"\"}}";
    pt_delivery_t d;

    d = parse(apr_pstrcat(pool, "[", with_id("\"id\":1"), ",", bad_date,
                          ",", with_id("\"id\":3"), ",", bad_cv, "]", NULL));
    is_int(d.events->nelts, 2, "mixed valid and invalid: two events");
    is_int(d.rejects->nelts, 2, "mixed valid and invalid: two rejects");
    if (d.events->nelts == 2 && d.rejects->nelts == 2) {
        is_int(EV(&d, 0)->id, 1, "valid event 1 kept");
        is_int(EV(&d, 1)->id, 3, "valid event 3 kept");
        is_str(RJ(&d, 0)->reason, "item 2: date: not a calendar date",
               "reject numbered by delivery position");
        is_str(RJ(&d, 0)->body, bad_date, "reject body is the item JSON");
        is_int(RJ(&d, 0)->body_len, strlen(bad_date), "reject body_len");
        is_str(RJ(&d, 1)->reason,
               "item 4: changeVersion: not 1..64 printable ASCII characters",
               "delete reject numbered 4");
        is_str(RJ(&d, 1)->body, bad_cv, "delete reject body is the event");
    }
}

static void test_id(void)
{
    const pt_event_t *e;

    rejects(with_id("\"id\":0"), "item 1: id: out of range 1..2^63-1",
            "id 0");
    e = accepts(with_id("\"id\":1"), "id 1");
    if (e) {
        is_int(e->id, 1, "id 1 value");
    }
    e = accepts(with_id("\"id\":9223372036854775807"), "id 2^63-1");
    if (e) {
        ok(e->id == APR_INT64_C(9223372036854775807), "id 2^63-1 value");
    }
    not_json(with_id("\"id\":9223372036854775808"),
             strlen(with_id("\"id\":9223372036854775808")), NULL,
             "id 2^63 is too big for jansson");
    rejects(with_id("\"id\":-1"), "item 1: id: out of range 1..2^63-1",
            "id -1");
    rejects(with_id("\"id\":-9223372036854775808"),
            "item 1: id: out of range 1..2^63-1", "id -2^63");
    rejects(with_id("\"id\":1.0"), "item 1: id: not an integer", "id real");
    rejects(with_id("\"id\":1e3"), "item 1: id: not an integer",
            "id exponent");
    rejects(with_id("\"id\":\"5\""), "item 1: id: not an integer",
            "id string");
    rejects(with_id("\"id\":null"), "item 1: id: not an integer", "id null");
    rejects(with_id(NULL), "item 1: id: missing", "id missing");
}

static void test_version(void)
{
    const char *msg =
        "item 1: changeVersion: not 1..64 printable ASCII characters";
    const pt_event_t *e;

    rejects(with_cv("\"changeVersion\":\"\""), msg, "changeVersion empty");
    e = accepts(with_cv("\"changeVersion\":\"a\""), "changeVersion 1 char");
    if (e) {
        is_str(e->change_version, "a", "changeVersion 1 char value");
    }
    e = accepts(with_cv(apr_pstrcat(pool, "\"changeVersion\":\"",
                                    repeat("x", 64), "\"", NULL)),
                "changeVersion 64 chars");
    if (e) {
        is_int(strlen(e->change_version), 64, "changeVersion 64 kept");
    }
    rejects(with_cv(apr_pstrcat(pool, "\"changeVersion\":\"",
                                repeat("x", 65), "\"", NULL)),
            msg, "changeVersion 65 chars");
    accepts(with_cv("\"changeVersion\":\" ~\""),
            "changeVersion space and tilde");
    rejects(with_cv("\"changeVersion\":\"a\\tb\""), msg,
            "changeVersion control char");
    rejects(with_cv("\"changeVersion\":\"a\\u007fb\""), msg,
            "changeVersion DEL");
    rejects(with_cv("\"changeVersion\":\"caf\\u00e9\""), msg,
            "changeVersion non-ASCII");
    rejects(with_cv("\"changeVersion\":12"),
            "item 1: changeVersion: not a string", "changeVersion number");
    rejects(with_cv(NULL), "item 1: changeVersion: missing",
            "changeVersion missing");
}

static void test_date(void)
{
    const char *shape = "item 1: date: not YYYY-MM-DD";
    const char *cal = "item 1: date: not a calendar date";
    const pt_event_t *e;

    e = accepts(with_date("\"date\":\"2024-02-29\""), "event on leap day");
    if (e) {
        is_str(e->date, "2024-02-29", "leap day kept");
    }
    rejects(with_date("\"date\":\"2023-02-29\""), cal, "event 2023-02-29");
    rejects(with_date("\"date\":\"2026-02-30\""), cal, "event 2026-02-30");
    rejects(with_date("\"date\":\"2026-13-01\""), cal, "event month 13");
    rejects(with_date("\"date\":\"2026-01-00\""), cal, "event day 00");
    rejects(with_date("\"date\":\"2026-1-1\""), shape, "event short date");
    rejects(with_date("\"date\":\"2026-01-01 \""), shape,
            "event date trailing space");
    rejects(with_date("\"date\":\"2026-0x-01\""), shape,
            "event letters in date");
    rejects(with_date("\"date\":20260101"), "item 1: date: not a string",
            "event date number");
    rejects(with_date(NULL), "item 1: date: missing", "event date missing");
}

static void test_time(void)
{
    const char *range = "item 1: timeOfDayInMinutes: out of range 0..1439";
    const pt_event_t *e;

    rejects(with_tod("\"timeOfDayInMinutes\":-1"), range, "time -1");
    e = accepts(with_tod("\"timeOfDayInMinutes\":0"), "time 0");
    if (e) {
        is_int(e->time_of_day, 0, "time 0 value");
    }
    e = accepts(with_tod("\"timeOfDayInMinutes\":1439"), "time 1439");
    if (e) {
        is_int(e->time_of_day, 1439, "time 1439 value");
    }
    rejects(with_tod("\"timeOfDayInMinutes\":1440"), range, "time 1440");
    rejects(with_tod("\"timeOfDayInMinutes\":4294967296"), range,
            "time 2^32 (no truncation to int)");
    rejects(with_tod("\"timeOfDayInMinutes\":60.0"),
            "item 1: timeOfDayInMinutes: not an integer", "time real");
    rejects(with_tod("\"timeOfDayInMinutes\":\"60\""),
            "item 1: timeOfDayInMinutes: not an integer", "time string");
    rejects(with_tod(NULL), "item 1: timeOfDayInMinutes: missing",
            "time missing");
}

static void test_refs(void)
{
    const pt_event_t *e;

    e = accepts(with_extra("\"person\":null"), "person null");
    if (e) {
        is_int(e->has_person, 0, "person null: has_person 0");
        ok(e->person_refs == NULL, "person null: no refs");
    }
    e = accepts(with_extra("\"person\":{\"id\":-5}"),
                "person id any integer");
    if (e) {
        is_int(e->has_person, 1, "person object: has_person 1");
        is_int(e->person_id, -5, "person id value");
        ok(e->person_refs == NULL, "person without refs: NULL refs");
    }
    e = accepts(with_extra("\"person\":{\"id\":1,\"externalReferences\":null}"),
                "person externalReferences null");
    if (e) {
        ok(e->person_refs == NULL, "null externalReferences: NULL refs");
    }
    e = accepts(with_extra("\"person\":{\"id\":1,\"externalReferences\":{}}"),
                "person externalReferences empty");
    if (e) {
        is_str(e->person_refs, "{}", "empty externalReferences kept");
    }
    rejects(with_extra("\"person\":{}"), "item 1: person.id: missing",
            "person without id");
    rejects(with_extra("\"person\":{\"id\":\"7\"}"),
            "item 1: person.id: not an integer", "person id string");
    rejects(with_extra("\"person\":{\"id\":7.5}"),
            "item 1: person.id: not an integer", "person id real");
    rejects(with_extra("\"person\":7"),
            "item 1: person: not an object or null", "person number");
    rejects(with_extra("\"person\":{\"id\":7,\"externalReferences\":"
                       "{\"@badge-number\":123}}"),
            "item 1: person.externalReferences: a value is not a string",
            "person externalReferences non-string value");
    rejects(with_extra("\"person\":{\"id\":7,\"externalReferences\":"
                       "{\"a\":\"x\",\"b\":null}}"),
            "item 1: person.externalReferences: a value is not a string",
            "person externalReferences null value");
    rejects(with_extra("\"person\":{\"id\":7,\"externalReferences\":"
                       "[\"x\"]}"),
            "item 1: person.externalReferences: not an object",
            "person externalReferences array");

    e = accepts(with_extra("\"terminal\":{\"id\":12,\"externalReferences\":"
                           "{\"z\":\"1\",\"@external-code\":\"GATE \\u00e9\"},"
                           "\"name\":\"x\"}"),
                "terminal with refs");
    if (e) {
        is_int(e->has_terminal, 1, "terminal has_terminal");
        is_int(e->terminal_id, 12, "terminal id");
        is_str(e->terminal_refs,
               "{\"z\":\"1\",\"@external-code\":\"GATE \xc3\xa9\"}",
               "terminal refs compact, in order");
        is_int(e->has_person, 0, "terminal only: no person");
    }
    rejects(with_extra("\"terminal\":{\"name\":\"x\"}"),
            "item 1: terminal.id: missing", "terminal without id");
    rejects(with_extra("\"terminal\":{\"id\":1,\"externalReferences\":"
                       "{\"a\":true}}"),
            "item 1: terminal.externalReferences: a value is not a string",
            "terminal externalReferences non-string value");
    e = accepts(with_extra("\"terminal\":null"), "terminal null");
    if (e) {
        is_int(e->has_terminal, 0, "terminal null: has_terminal 0");
    }
}

static void test_status(void)
{
    const char *msg = "item 1: status: not 1..64 characters";
    const pt_event_t *e;

    rejects(with_status("\"status\":\"\""), msg, "status empty");
    e = accepts(with_status(apr_pstrcat(pool, "\"status\":\"",
                                        repeat("s", 64), "\"", NULL)),
                "status 64 ASCII characters");
    rejects(with_status(apr_pstrcat(pool, "\"status\":\"",
                                    repeat("s", 65), "\"", NULL)),
            msg, "status 65 characters");
    /* 64 two-byte and 64 four-byte characters: 128 and 256 bytes. */
    e = accepts(with_status(apr_pstrcat(pool, "\"status\":\"",
                                        repeat("\xc3\xa9", 64), "\"", NULL)),
                "status 64 two-byte characters");
    if (e) {
        is_int(strlen(e->status), 128, "multibyte status kept whole");
    }
    accepts(with_status(apr_pstrcat(pool, "\"status\":\"",
                                    repeat("\\ud83d\\ude00", 64), "\"",
                                    NULL)),
            "status 64 astral characters (escaped surrogates)");
    rejects(with_status(apr_pstrcat(pool, "\"status\":\"",
                                    repeat("\xc3\xa9", 65), "\"", NULL)),
            msg, "status 65 two-byte characters");
    e = accepts(with_status("\"status\":\"UnknownBadgeNumber\""),
                "status UnknownBadgeNumber");
    e = accepts(with_status("\"status\":\"SomethingNew\""),
                "unknown status");
    if (e) {
        is_str(e->status, "SomethingNew", "unknown status kept as given");
    }
    rejects(with_status("\"status\":1"), "item 1: status: not a string",
            "status number");
    rejects(with_status(NULL), "item 1: status: missing", "status missing");
}

static void test_change_type(void)
{
    const pt_event_t *e;

    e = accepts("{\"changeType\":\"Delete\",\"data\":"
                "{\"id\":77,\"changeVersion\":\"v2\"}}",
                "Delete with only id and changeVersion");
    if (e) {
        is_int(e->change, PT_CHANGE_DELETE, "delete change");
        is_int(e->id, 77, "delete id");
        is_str(e->change_version, "v2", "delete changeVersion");
        ok(e->date == NULL && e->status == NULL && e->person_refs == NULL
           && e->terminal_refs == NULL && !e->has_person
           && !e->has_terminal, "delete: other columns empty");
        is_str(e->payload, "{\"id\":77,\"changeVersion\":\"v2\"}",
               "delete payload");
    }
    e = accepts("{\"changeType\":\"Delete\",\"data\":{\"id\":77,"
                "\"changeVersion\":\"v2\",\"date\":\"bad\","
                "\"timeOfDayInMinutes\":9999,\"person\":5,\"status\":\"\"}}",
                "Delete does not validate other fields");
    if (e) {
        ok(e->date == NULL && e->status == NULL && !e->has_person,
           "delete ignores other fields for columns");
        ok(strstr(e->payload, "\"date\":\"bad\"") != NULL,
           "delete keeps other fields in payload");
    }
    rejects("{\"changeType\":\"Delete\",\"data\":{\"id\":77,"
            "\"changeVersion\":\"a\\nb\"}}",
            "item 1: changeVersion: not 1..64 printable ASCII characters",
            "Delete with bad changeVersion");
    rejects("{\"changeType\":\"Delete\",\"data\":{\"changeVersion\":\"v\"}}",
            "item 1: id: missing", "Delete without id");
    rejects("{\"changeType\":\"Delete\",\"data\":{\"id\":0,"
            "\"changeVersion\":\"v\"}}",
            "item 1: id: out of range 1..2^63-1", "Delete with id 0");
    rejects("{\"changeType\":\"Delete\",\"data\":{\"id\":1}}",
            "item 1: changeVersion: missing", "Delete without changeVersion");
    rejects("{\"changeType\":\"InsertOrUpdate\",\"data\":{\"id\":1,"
            "\"changeVersion\":\"v\"}}",
            "item 1: date: missing", "InsertOrUpdate needs date");
    rejects("{\"changeType\":\"Upsert\",\"data\":{\"id\":1,"
            "\"changeVersion\":\"v\"}}",
            "item 1: changeType: not InsertOrUpdate or Delete",
            "unknown changeType");
    rejects("{\"changeType\":\"delete\",\"data\":{\"id\":1,"
            "\"changeVersion\":\"v\"}}",
            "item 1: changeType: not InsertOrUpdate or Delete",
            "changeType is case-sensitive");
    rejects("{\"changeType\":1,\"data\":{\"id\":1,\"changeVersion\":\"v\"}}",
            "item 1: changeType: not a string", "changeType number");
    rejects("{\"changeType\":null,\"data\":{\"id\":1,"
            "\"changeVersion\":\"v\"}}",
            "item 1: changeType: not a string", "changeType null");
    rejects("{\"changeType\":\"Delete\",\"data\":[1]}",
            "item 1: data: not an object", "data array");
    rejects("{\"changeType\":\"Delete\",\"data\":null}",
            "item 1: data: not an object", "data null");
    rejects("{\"changeType\":\"Delete\"}", "item 1: data: missing",
            "data missing");
}

/* A duplicate key anywhere: jansson refuses the body, which is quarantined
 * whole like any other body that is not JSON, valid siblings included. */
static void test_duplicate_keys(void)
{
    const char *valid = "{\"id\":5,\"changeVersion\":\"v\",\"date\":"
        "\"2026-01-01\",\"timeOfDayInMinutes\":1,\"status\":\"x\"}";
    const char *dup = "{\"id\":6,\"changeVersion\":\"v\",\"id\":7}";
    const char *body;

    body = apr_psprintf(pool, "[%s,%s]", valid, dup);
    not_json(body, strlen(body),
             "not JSON: duplicate object key near '\"id\"' "
             "(line 1, column 118)",
             "an array item with a duplicate key, beside a valid one");
    body = apr_psprintf(pool, "{\"value\":[%s,{\"changeType\":\"Delete\","
                        "\"data\":{\"id\":8,\"changeVersion\":\"a\","
                        "\"changeVersion\":\"b\"}}]}", valid);
    not_json(body, strlen(body),
             "not JSON: duplicate object key near '\"changeVersion\"' "
             "(line 1, column 168)",
             "an envelope item with a duplicate key, beside a valid one");
    body = apr_psprintf(pool, "{\"value\":[%s],\"value\":[%s]}", valid,
                        valid);
    not_json(body, strlen(body), NULL, "an envelope with two value members");
    not_json(dup, strlen(dup), NULL, "a single event with a duplicate key");
}

/* Many bad items: one quarantine row with the whole body, not one each. */
static void test_many_rejects(void)
{
    const char *valid = "{\"id\":5,\"changeVersion\":\"v\",\"date\":"
        "\"2026-01-01\",\"timeOfDayInMinutes\":1,\"status\":\"x\"}";
    char *body;
    pt_delivery_t d;
    int i;

    body = apr_pstrcat(pool, "[", valid, NULL);
    for (i = 0; i < PT_EVENT_MAX_REJECTS; i++) {
        body = apr_pstrcat(pool, body, ",1", NULL);
    }
    d = parse(apr_pstrcat(pool, body, "]", NULL));
    ok(d.events->nelts == 1 && d.rejects->nelts == PT_EVENT_MAX_REJECTS,
       "%d bad items: a reject each", PT_EVENT_MAX_REJECTS);
    body = apr_pstrcat(pool, body, ",2]", NULL);
    d = parse(body);
    ok(d.events->nelts == 1 && d.rejects->nelts == 1,
       "one more: the valid event applied, one reject (%d)", d.rejects->nelts);
    ok(d.rejects->nelts == 1 && RJ(&d, 0)->body_len == strlen(body)
       && !memcmp(RJ(&d, 0)->body, body, strlen(body)),
       "that reject holds the whole body");
    is_str(d.rejects->nelts ? RJ(&d, 0)->reason : NULL,
           "101 items failed validation, the whole body is kept; the first: "
           "item 2: not an object", "its reason counts them");
}

static void test_not_json(void)
{
    const char *dup = "{\"id\":1,\"changeVersion\":\"v\",\"id\":2}";
    const char *utf = "{\"id\":1,\"changeVersion\":\"\xff\xfe\"}";
    const char *big = apr_pstrcat(pool, "{\"", repeat("k", 300), "\":!}",
                                  NULL);
    const char *nul = "{\"id\":1}\0{\"id\":2}";
    pt_delivery_t d;

    not_json(dup, strlen(dup),
             "not JSON: duplicate object key near '\"id\"' "
             "(line 1, column 32)", "duplicate keys");
    not_json(utf, strlen(utf), NULL, "invalid UTF-8");
    not_json("{\"a\":\"\\u0000\"}", 14, NULL, "\\u0000 escape");
    not_json("{\"id\":1,\"changeVer", 18, NULL, "truncated JSON");
    not_json("hello world", 11,
             "not JSON: '[' or '{' expected near 'hello' "
             "(line 1, column 5)", "non-JSON text");
    not_json("42", 2, NULL, "scalar number body");
    not_json("\"x\"", 3, NULL, "scalar string body");
    not_json("null", 4, NULL, "null body");
    not_json("", 0, NULL, "empty body");
    not_json("[1] x", 5, NULL, "trailing garbage");
    not_json(nul, 17, NULL, "embedded NUL byte");

    d = parse_len(big, strlen(big));
    ok(d.rejects->nelts == 1 && strlen(RJ(&d, 0)->reason) < 120,
       "reason stays short for a long token");
    d = parse_len("\x01\x80\xff", 3);
    ok(d.rejects->nelts == 1 && strspn(RJ(&d, 0)->reason,
           " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
           "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~")
       == strlen(RJ(&d, 0)->reason), "reason is printable ASCII");

    pt_event_parse(pool, NULL, 0, &d);
    ok(d.events->nelts == 0 && d.rejects->nelts == 1
       && RJ(&d, 0)->body_len == 0, "NULL body is an empty body");
}

static void test_payload(void)
{
    const pt_event_t *e;

    e = accepts("{\"zeta\":[1,{\"b\":2,\"a\":1}],\"status\":\"AccessOk\","
                "\"id\":5,\"date\":\"2025-01-01\",\"changeVersion\":\"c\","
                "\"timeOfDayInMinutes\":1,\"alpha\":null}",
                "unknown fields accepted");
    if (e) {
        is_str(e->payload,
               "{\"zeta\":[1,{\"b\":2,\"a\":1}],\"status\":\"AccessOk\","
               "\"id\":5,\"date\":\"2025-01-01\",\"changeVersion\":\"c\","
               "\"timeOfDayInMinutes\":1,\"alpha\":null}",
               "payload keeps key order and unknown fields");
    }
    e = accepts("{\"changeType\":\"InsertOrUpdate\",\"data\":{ \"id\" : 5 ,"
                "\n\"changeVersion\":\"c\",\"date\":\"2025-01-01\","
                "\"timeOfDayInMinutes\":1,\"status\":\"\\u00e9\"},"
                "\"@odata.etag\":1}",
                "whitespace and escapes");
    if (e) {
        is_str(e->payload, "{\"id\":5,\"changeVersion\":\"c\","
               "\"date\":\"2025-01-01\",\"timeOfDayInMinutes\":1,"
               "\"status\":\"\xc3\xa9\"}",
               "payload is compact data only");
        is_str(e->status, "\xc3\xa9", "escaped status decoded to UTF-8");
    }
    /* Serialized on the stack up to 2 KiB; longer ones take a second
     * pass: both ways give the same text, to the byte. */
    {
        const char *long_ref = repeat("0123456789", 300);
        const char *refs = apr_psprintf(pool, "{\"hr\":\"%s\"}", long_ref);
        const char *body = with_extra(apr_psprintf(pool,
                               "\"person\":{\"id\":1,\"externalReferences\":"
                               "%s},\"note\":\"%s\"", refs, long_ref));

        e = accepts(body, "payload and references over 2 KiB");
        if (e) {
            ok(e->payload && strlen(e->payload) == strlen(body)
               && strcmp(e->payload, body) == 0,
               "a payload over 2 KiB is the object, whole (%d bytes)",
               (int)strlen(body));
            is_str(e->person_refs, refs,
                   "references over 2 KiB are whole");
        }
    }
}

/* ---- another collection: the common part only ------------------------- */

#define PEOPLE "people"
/* A person: valid as a people record, but not as an access clocking. */
#define PERSON "{\"id\":123152,\"changeVersion\":\"00000A\"," \
    "\"firstName\":\"Ann\",\"lastName\":\"Lee\",\"employeeNumber\":\"E7\"}"

static void test_collection_forms(void)
{
    const char *event = "{\"changeType\":\"InsertOrUpdate\",\"data\":"
        PERSON ",\"@odata.etag\":\"x\"}";
    const char *del = "{\"changeType\":\"Delete\",\"data\":"
        "{\"id\":9,\"changeVersion\":\"v9\",\"anything\":[1]}}";
    const pt_event_t *e;
    pt_delivery_t d;

    collection = PEOPLE;
    e = accepts(event, "people: event with an annotation");
    if (e) {
        is_str(e->collection, PEOPLE, "event: collection kept");
        is_int(e->change, PT_CHANGE_UPSERT, "event: InsertOrUpdate");
        is_int(e->id, 123152, "event: id");
        is_str(e->change_version, "00000A", "event: changeVersion");
        is_str(e->payload, PERSON, "event: payload is data as sent");
        ok(e->date == NULL && e->status == NULL && !e->has_person
           && !e->has_terminal && e->person_refs == NULL
           && e->terminal_refs == NULL, "event: no access-clocking columns");
    }
    e = accepts(PERSON, "bare object");
    if (e) {
        is_str(e->payload, PERSON, "bare object: payload is the object");
        is_int(e->change, PT_CHANGE_UPSERT, "bare object: InsertOrUpdate");
    }
    e = accepts(del, "Delete");
    if (e) {
        is_int(e->change, PT_CHANGE_DELETE, "Delete: change");
        is_str(e->payload, "{\"id\":9,\"changeVersion\":\"v9\","
               "\"anything\":[1]}", "Delete: payload as sent");
    }

    d = parse(apr_pstrcat(pool, "[", PERSON, ",", del, "]", NULL));
    ok(d.events->nelts == 2 && d.rejects->nelts == 0
       && EV(&d, 0)->id == 123152 && EV(&d, 1)->id == 9,
       "array: both, in order");
    d = parse(apr_pstrcat(pool, "{\"@odata.context\":\"c\",\"value\":[",
                          del, ",", PERSON, "]}", NULL));
    ok(d.events->nelts == 2 && d.rejects->nelts == 0
       && EV(&d, 0)->id == 9 && EV(&d, 1)->id == 123152
       && !strcmp(EV(&d, 1)->collection, PEOPLE),
       "envelope with an annotation: both, in order");

    /* The same body is an access clocking's reject and a person. */
    collection = NULL;
    rejects(PERSON, "item 1: date: missing",
            "a person is not an access clocking");
    pt_event_parse_collection(pool, PT_COLLECTION_ACCESS_CLOCKINGS, PERSON,
                              strlen(PERSON), &d);
    ok(d.events->nelts == 0 && d.rejects->nelts == 1
       && !strcmp(RJ(&d, 0)->reason, "item 1: date: missing"),
       "access-clockings by name is pt_event_parse");
    pt_event_parse_collection(pool, NULL, with_id("\"id\":3"),
                              strlen(with_id("\"id\":3")), &d);
    ok(d.events->nelts == 1 && EV(&d, 0)->collection == NULL
       && EV(&d, 0)->status != NULL,
       "NULL collection: an access clocking, collection NULL");
}

static void test_collection_rules(void)
{
    const char *cv = "people: item 1: changeVersion: "
        "not 1..64 printable ASCII characters";
    const char *range = "people: item 1: id: out of range 1..2^63-1";
    const pt_event_t *e;
    pt_delivery_t d;

    collection = PEOPLE;
    accepts("{\"id\":1,\"changeVersion\":\"v\"}",
            "id and changeVersion only");
    e = accepts("{\"id\":9223372036854775807,\"changeVersion\":\"v\","
                "\"date\":\"not a date\",\"status\":\"\","
                "\"person\":5,\"timeOfDayInMinutes\":-1}",
                "the access-clocking rules do not apply");
    if (e) {
        ok(e->id == APR_INT64_C(9223372036854775807), "id 2^63-1");
        ok(strstr(e->payload, "\"date\":\"not a date\"") != NULL,
           "the rest is kept as sent");
    }
    rejects("{\"id\":0,\"changeVersion\":\"v\"}", range, "id 0");
    rejects("{\"id\":-4,\"changeVersion\":\"v\"}", range,
            "id negative");
    rejects("{\"id\":\"4\",\"changeVersion\":\"v\"}",
            "people: item 1: id: not an integer", "id a string");
    rejects("{\"id\":1.5,\"changeVersion\":\"v\"}",
            "people: item 1: id: not an integer", "id a real");
    rejects("{\"changeVersion\":\"v\"}", "people: item 1: id: missing",
            "id missing");
    rejects("{\"id\":1,\"changeVersion\":\"\"}", cv,
            "changeVersion empty");
    rejects(apr_pstrcat(pool, "{\"id\":1,\"changeVersion\":\"",
                        repeat("x", 65), "\"}", NULL), cv,
            "changeVersion 65 characters");
    rejects("{\"id\":1,\"changeVersion\":\"a\\tb\"}", cv,
            "changeVersion not printable");
    rejects("{\"id\":1,\"changeVersion\":7}",
            "people: item 1: changeVersion: not a string",
            "changeVersion a number");
    rejects("{\"id\":1}", "people: item 1: changeVersion: missing",
            "changeVersion missing");
    rejects("{\"changeType\":\"Update\",\"data\":"
            "{\"id\":1,\"changeVersion\":\"v\"}}",
            "people: item 1: changeType: not InsertOrUpdate or Delete",
            "changeType unknown");
    rejects("{\"changeType\":\"Delete\",\"data\":5}",
            "people: item 1: data: not an object", "data not object");
    rejects("{\"changeType\":\"Delete\",\"data\":"
            "{\"id\":1,\"changeVersion\":\"v\"},\"extra\":1}",
            "people: item 1: event: unexpected member \"extra\"",
            "event with a stray member");

    d = parse("[{\"id\":1,\"changeVersion\":\"v\"},3,"
              "{\"id\":2,\"changeVersion\":\"v\"}]");
    ok(d.events->nelts == 2 && d.rejects->nelts == 1
       && !strcmp(RJ(&d, 0)->reason, "people: item 2: not an object")
       && !strcmp(RJ(&d, 0)->body, "3"),
       "a bad item among good ones: its own reject, numbered");
    d = parse("{\"value\":[],\"next\":1}");
    ok(d.events->nelts == 0 && d.rejects->nelts == 1
       && !strcmp(RJ(&d, 0)->reason,
                  "people: envelope: unexpected member \"next\""),
       "envelope with a stray member: rejected whole, collection named");
    d = parse("nope");
    ok(d.rejects->nelts == 1
       && !strncmp(RJ(&d, 0)->reason, "people: not JSON: ", 18)
       && RJ(&d, 0)->body_len == 4,
       "not JSON: one reject with the body, collection named");
    collection = NULL;
}

/* Packs what body parses into, checks it unpacks to the same, and that
 * every shorter buffer is refused, by the packer and by the unpacker. */
static void packs(const char *coll, const char *body, apr_size_t len,
                  const char *what)
{
    char buf[8192];
    pt_delivery_t d, back;
    apr_size_t used, cap;
    int short_refused = 1;

    collection = coll;
    d = parse_len(body, len);
    collection = NULL;
    used = pt_delivery_pack(&d, buf, sizeof(buf));
    ok(used > 0, "%s: packed (%d events, %d rejects, %lu bytes)", what,
       d.events->nelts, d.rejects->nelts, (unsigned long)used);
    ok(pt_delivery_unpack(pool, buf, used, &back) && same_delivery(&d, &back),
       "%s: unpacks to the same delivery", what);
    for (cap = 0; cap < used; cap++) {
        char small[8192];
        pt_delivery_t cut;

        if (pt_delivery_pack(&d, small, cap) != 0
            || pt_delivery_unpack(pool, buf, cap, &cut))
            short_refused = 0;
    }
    ok(short_refused, "%s: refused by every buffer shorter than %lu bytes",
       what, (unsigned long)used);
    buf[used] = 'x';
    ok(!pt_delivery_unpack(pool, buf, used + 1, &back),
       "%s: a byte too many is refused", what);
}

static void test_packed(void)
{
    const char *clockings = "[{\"changeType\":\"InsertOrUpdate\",\"data\":"
        "{\"changeVersion\":\"0000090200004BD0000B\",\"id\":4711,"
        "\"person\":{\"id\":123152,\"externalReferences\":"
        "{\"@badge-number\":\"6767676\"}},"
        "\"date\":\"2025-07-15\",\"timeOfDayInMinutes\":482,"
        "\"terminal\":{\"id\":12,\"externalReferences\":"
        "{\"@external-code\":\"GATE-1\"}},\"status\":\"AccessOk\"}},"
        "{\"changeType\":\"Delete\",\"data\":"
        "{\"changeVersion\":\"0000090200004BD0000C\",\"id\":1001}},"
        "{\"changeType\":\"InsertOrUpdate\",\"data\":{\"id\":5,"
        "\"changeVersion\":\"1\",\"date\":\"2025-02-30\","
        "\"timeOfDayInMinutes\":1,\"status\":\"x\"}},"
        "{\"id\":6,\"changeVersion\":\"2\",\"date\":\"2025-07-15\","
        "\"timeOfDayInMinutes\":0,\"status\":\"\\u00e9\",\"person\":null}]";
    const char people[] = "{\"value\":[{\"changeType\":\"InsertOrUpdate\","
        "\"data\":{\"id\":123100,\"changeVersion\":\"7\","
        "\"firstName\":\"Ann\"}},{\"changeType\":\"Delete\",\"data\":"
        "{\"id\":123101,\"changeVersion\":\"8\"}},{\"data\":{}}]}";
    const char not_json[] = "not json\0with a NUL";
    pt_delivery_t d, back;
    char big[9000], buf[8192];

    packs(NULL, clockings, strlen(clockings),
          "clockings, a Delete and a reject");
    packs("people", people, sizeof(people) - 1, "people");
    packs(NULL, not_json, sizeof(not_json) - 1, "a body that is not JSON");
    packs(NULL, "[]", 2, "no event at all");

    /* A delivery larger than a queue slot is refused, not cut. */
    memset(big, 'a', sizeof(big));
    memcpy(big, "{\"id\":1,\"changeVersion\":\"1\",\"date\":\"2025-07-15\","
           "\"timeOfDayInMinutes\":0,\"status\":\"", 80);
    d = parse_len(big, sizeof(big));
    is_int((int)pt_delivery_pack(&d, buf, sizeof(buf)), 0,
           "a delivery larger than the buffer is not packed");
    ok(!pt_delivery_unpack(pool, "", 0, &back), "an empty buffer is refused");
}

int main(int argc, const char *const *argv)
{
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);

    test_forms();
    test_stray();
    test_mixed();
    test_id();
    test_version();
    test_date();
    test_time();
    test_refs();
    test_status();
    test_change_type();
    test_not_json();
    test_duplicate_keys();
    test_many_rejects();
    test_payload();
    test_collection_forms();
    test_collection_rules();
    test_packed();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
