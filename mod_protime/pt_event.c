/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_event: parsing and validation of Protime deliveries.
 * See pt_event.h for the accepted body forms and, in pt_event_t, what
 * each field must hold.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <jansson.h>

#include "pt_collection.h"
#include "pt_date.h"
#include "pt_event.h"
#include "pt_text.h"

/* Longest jansson message kept in a reason. jansson quotes at most 20 bytes
 * of the offending token, and that token comes straight from the body, so
 * the message is also made printable before it is logged or echoed back. */
#define PT_EVENT_MAX_ERROR 100

#define PT_EVENT_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* Longest member name quoted in a reason; it comes from the body. */
#define PT_EVENT_MAX_NAME 40

/* The members an event and an envelope are made of; a member named
 * otherwise that is not an annotation is not understood. A bare object
 * has no such list: all of it is the change's, kept in the payload. */
static const char *const pt_event_event_members[] = {
    "changeType", "data", NULL
};
static const char *const pt_event_envelope_members[] = { "value", NULL };
/* An object with any of these is a change, whatever its "value" holds. */
static const char *const pt_event_change_members[] = {
    "id", "changeVersion", "changeType", "data", NULL
};

/* Reason for a body jansson refused, e.g.
 * "not JSON: duplicate object key near '"id"' (line 1, column 18)". */
static const char *pt_event_json_error(apr_pool_t *p, const json_error_t *err)
{
    /* jansson keeps its error code in the last byte of text, so the text
     * proper is bounded by the byte before it. */
    const char *end = memchr(err->text, '\0', sizeof(err->text) - 1);
    apr_size_t len = end ? (apr_size_t)(end - err->text)
                         : sizeof(err->text) - 1;
    const char *msg = pt_text_printable(p, err->text,
                                        len < PT_EVENT_MAX_ERROR
                                        ? len : PT_EVENT_MAX_ERROR);

    if (err->line < 0) {
        return apr_pstrcat(p, "not JSON: ", msg, NULL);
    }
    return apr_psprintf(p, "not JSON: %s (line %d, column %d)", msg,
                        err->line, err->column);
}

/* Serializes j into the pool; NULL only when jansson cannot (out of
 * memory). Through a buffer on the stack, which holds most events: one
 * pass and a copy, where json_dumps would grow a heap buffer step by step
 * and hand it over to be copied and freed. */
static const char *pt_event_dump(apr_pool_t *p, const json_t *j,
                                 size_t flags, apr_size_t *len)
{
    char buf[2048];
    char *s;
    size_t n = json_dumpb(j, buf, sizeof(buf), flags);

    if (n == 0)
        return NULL;
    s = apr_palloc(p, n + 1);
    if (n <= sizeof(buf))
        memcpy(s, buf, n);
    else if (json_dumpb(j, s, n, flags) != n)
        return NULL;
    s[n] = '\0';
    *len = n;
    return s;
}

static int pt_event_is_member(const char *name, const char *const *names)
{
    for (; *names; names++) {
        if (strcmp(name, *names) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Reason naming the first member of obj that is not one of known and not
 * an annotation, or NULL when there is none. An annotation, by OData's
 * convention, has a name starting with "@" ("@odata.context",
 * "@odata.nextLink"): it says something about the object and holds no
 * change. Any other member might hold one, so an object that carries it
 * is not taken apart: it is kept whole in the quarantine instead of
 * having a part of it dropped unseen. */
static const char *pt_event_stray(apr_pool_t *p, const json_t *obj,
                                  const char *const *known,
                                  const char *form)
{
    const char *name;
    json_t *v;

    json_object_foreach((json_t *)obj, name, v) {
        if (name[0] != '@' && !pt_event_is_member(name, known)) {
            apr_size_t len = strlen(name);

            return apr_psprintf(p, "%s: unexpected member \"%s\"", form,
                                pt_text_printable(p, name,
                                                  len < PT_EVENT_MAX_NAME
                                                  ? len : PT_EVENT_MAX_NAME));
        }
    }
    return NULL;
}

/* Whether root is an envelope: "value" an array, and no member of a
 * change beside it. An object with id or changeVersion is a bare object
 * whose "value" is one of its fields, one with changeType an event. */
static int pt_event_is_envelope(const json_t *root)
{
    const char *const *m;

    if (!json_is_array(json_object_get(root, "value"))) {
        return 0;
    }
    for (m = pt_event_change_members; *m; m++) {
        if (json_object_get(root, *m)) {
            return 0;
        }
    }
    return 1;
}

/* A reject holding len bytes of the body as received. */
static void pt_event_reject_body(apr_pool_t *p, pt_delivery_t *out,
                                 const char *reason, const char *body,
                                 apr_size_t len)
{
    pt_reject_t *r = apr_array_push(out->rejects);

    r->reason = reason;
    r->body = apr_pstrmemdup(p, body, len);
    r->body_len = len;
}

static void pt_event_reject(apr_pool_t *p, pt_delivery_t *out, int item,
                            const char *why, const json_t *j)
{
    pt_reject_t *r = apr_array_push(out->rejects);

    r->reason = apr_psprintf(p, "item %d: %s", item, why);
    r->body = pt_event_dump(p, j, PT_EVENT_DUMP_FLAGS | JSON_ENCODE_ANY,
                            &r->body_len);
    if (!r->body) {
        r->body = "";
        r->body_len = 0;
    }
}

/* Reads the integer member name of obj into *v; returns NULL or a reason.
 * range names [min, max] in the reason. */
static const char *pt_event_get_int(apr_pool_t *p, const json_t *obj,
                                    const char *name, json_int_t min,
                                    json_int_t max, const char *range,
                                    json_int_t *v)
{
    const json_t *j = json_object_get(obj, name);

    if (!j) {
        return apr_pstrcat(p, name, ": missing", NULL);
    }
    if (!json_is_integer(j)) {
        return apr_pstrcat(p, name, ": not an integer", NULL);
    }
    *v = json_integer_value(j);
    if (*v < min || *v > max) {
        return apr_pstrcat(p, name, ": out of range ", range, NULL);
    }
    return NULL;
}

/* Reads the string member name of obj into *v (bytes in *len). */
static const char *pt_event_get_str(apr_pool_t *p, const json_t *obj,
                                    const char *name, const char **v,
                                    apr_size_t *len)
{
    const json_t *j = json_object_get(obj, name);

    if (!j) {
        return apr_pstrcat(p, name, ": missing", NULL);
    }
    if (!json_is_string(j)) {
        return apr_pstrcat(p, name, ": not a string", NULL);
    }
    *v = json_string_value(j);
    *len = json_string_length(j);
    return NULL;
}

static const char *pt_event_version(apr_pool_t *p, const json_t *data,
                                    pt_event_t *ev)
{
    const char *s, *why;
    apr_size_t len;

    if ((why = pt_event_get_str(p, data, "changeVersion", &s, &len))) {
        return why;
    }
    if (len < 1 || len > PT_EVENT_MAX_VERSION
        || !pt_text_is_printable(s, len)) {
        return "changeVersion: not 1..64 printable ASCII characters";
    }
    ev->change_version = apr_pstrmemdup(p, s, len);
    return NULL;
}

/* person or terminal: absent/null, or an object with an integer id and
 * optional externalReferences whose values are strings. */
static const char *pt_event_ref(apr_pool_t *p, const json_t *data,
                                const char *name, int *has,
                                apr_int64_t *id, const char **refs)
{
    const json_t *j = json_object_get(data, name);
    const json_t *ext, *val;
    const char *key, *why;
    json_int_t v;
    apr_size_t len;

    if (!j || json_is_null(j)) {
        return NULL;
    }
    if (!json_is_object(j)) {
        return apr_pstrcat(p, name, ": not an object or null", NULL);
    }
    if ((why = pt_event_get_int(p, j, "id", APR_INT64_MIN,
                                APR_INT64_MAX, "", &v))) {
        return apr_pstrcat(p, name, ".", why, NULL);
    }
    ext = json_object_get(j, "externalReferences");
    if (ext && !json_is_null(ext)) {
        if (!json_is_object(ext)) {
            return apr_pstrcat(p, name, ".externalReferences: not an object",
                               NULL);
        }
        json_object_foreach((json_t *)ext, key, val) {
            if (!json_is_string(val)) {
                return apr_pstrcat(p, name, ".externalReferences: "
                                   "a value is not a string", NULL);
            }
        }
        *refs = pt_event_dump(p, ext, PT_EVENT_DUMP_FLAGS, &len);
        if (!*refs) {
            return apr_pstrcat(p, name, ".externalReferences: "
                               "cannot serialize", NULL);
        }
    }
    *has = 1;
    *id = v;
    return NULL;
}

/* What every collection's change has: id and changeVersion. */
static const char *pt_event_validate_common(apr_pool_t *p, const json_t *data,
                                            pt_event_t *ev)
{
    const char *why;
    json_int_t v;

    if ((why = pt_event_get_int(p, data, "id", 1, APR_INT64_MAX,
                                "1..2^63-1", &v))) {
        return why;
    }
    ev->id = v;
    return pt_event_version(p, data, ev);
}

static const char *pt_event_validate(apr_pool_t *p, const json_t *data,
                                     pt_event_t *ev)
{
    const char *s, *why;
    apr_size_t len, i, chars;
    json_int_t v;

    if ((why = pt_event_validate_common(p, data, ev))) {
        return why;
    }
    /* Only access clockings have typed columns to fill. The rest of
     * another collection's data is kept as sent, in the payload; so is
     * that of a Delete, which documents only id and changeVersion. */
    if (ev->collection || ev->change == PT_CHANGE_DELETE) {
        return NULL;
    }

    if ((why = pt_event_get_str(p, data, "date", &s, &len))) {
        return why;
    }
    /* jansson rejects \u0000, so len == strlen(s) and s is a C string. */
    switch (pt_date_parse(s, NULL)) {
    case PT_DATE_MALFORMED:
        return "date: not YYYY-MM-DD";
    case PT_DATE_NO_SUCH_DAY:
        return "date: not a calendar date";
    case PT_DATE_OK:
        break;
    }
    ev->date = apr_pstrmemdup(p, s, len);

    if ((why = pt_event_get_int(p, data, "timeOfDayInMinutes", 0, 1439,
                                "0..1439", &v))) {
        return why;
    }
    ev->time_of_day = (int)v;

    if ((why = pt_event_ref(p, data, "person", &ev->has_person,
                            &ev->person_id, &ev->person_refs))) {
        return why;
    }
    if ((why = pt_event_ref(p, data, "terminal", &ev->has_terminal,
                            &ev->terminal_id, &ev->terminal_refs))) {
        return why;
    }

    if ((why = pt_event_get_str(p, data, "status", &s, &len))) {
        return why;
    }
    /* Characters, not bytes: jansson has checked the UTF-8, so counting
     * the bytes that start a sequence counts code points. */
    for (i = 0, chars = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            chars++;
        }
    }
    if (chars < 1 || chars > PT_EVENT_MAX_STATUS) {
        return "status: not 1..64 characters";
    }
    ev->status = apr_pstrmemdup(p, s, len);
    return NULL;
}

/* One item of the delivery: an event or a bare object; n counts from 1. */
static void pt_event_item(apr_pool_t *p, const char *collection,
                          const json_t *item, int n, pt_delivery_t *out)
{
    pt_event_t ev;
    const json_t *data = item;
    const json_t *ct;
    const char *why = NULL;
    apr_size_t len;

    memset(&ev, 0, sizeof(ev));
    ev.collection = collection;
    ev.change = PT_CHANGE_UPSERT;
    if (!json_is_object(item)) {
        why = "not an object";
    }
    else if ((ct = json_object_get(item, "changeType")) != NULL) {
        data = json_object_get(item, "data");
        if (!json_is_string(ct)) {
            why = "changeType: not a string";
        }
        else if (strcmp(json_string_value(ct), "InsertOrUpdate") == 0) {
            ev.change = PT_CHANGE_UPSERT;
        }
        else if (strcmp(json_string_value(ct), "Delete") == 0) {
            ev.change = PT_CHANGE_DELETE;
        }
        else {
            why = "changeType: not InsertOrUpdate or Delete";
        }
        if (!why && !data) {
            why = "data: missing";
        }
        else if (!why && !json_is_object(data)) {
            why = "data: not an object";
        }
        if (!why) {
            why = pt_event_stray(p, item, pt_event_event_members, "event");
        }
    }
    if (!why) {
        why = pt_event_validate(p, data, &ev);
    }
    if (!why) {
        ev.payload = pt_event_dump(p, data, PT_EVENT_DUMP_FLAGS, &len);
        if (!ev.payload) {
            why = "data: cannot serialize";
        }
    }
    if (why) {
        pt_event_reject(p, out, n, why, item);
        return;
    }
    *(pt_event_t *)apr_array_push(out->events) = ev;
}

static void pt_event_items(apr_pool_t *p, const char *collection,
                           const json_t *arr, pt_delivery_t *out)
{
    size_t i;

    for (i = 0; i < json_array_size(arr); i++) {
        pt_event_item(p, collection, json_array_get(arr, i), (int)(i + 1),
                      out);
    }
}

/* Replaces too many rejects by one holding the whole body: a delivery of
 * a million bad items must not cost a million quarantine rows. */
static void pt_event_cap_rejects(apr_pool_t *p, const char *body,
                                 apr_size_t len, pt_delivery_t *out)
{
    const char *first;
    int n = out->rejects->nelts;

    if (n <= PT_EVENT_MAX_REJECTS) {
        return;
    }
    first = APR_ARRAY_IDX(out->rejects, 0, pt_reject_t).reason;
    apr_array_clear(out->rejects);
    pt_event_reject_body(p, out,
                         apr_psprintf(p, "%d items failed validation, the "
                                      "whole body is kept; the first: %s",
                                      n, first),
                         body, len);
}

/* Names the collection in the reasons of a collection other than access
 * clockings: their rows share protime_quarantine with those of access
 * clockings, whose reasons stay as they always were. */
static void pt_event_name_rejects(apr_pool_t *p, const char *collection,
                                  pt_delivery_t *out)
{
    int i;

    if (!collection) {
        return;
    }
    for (i = 0; i < out->rejects->nelts; i++) {
        pt_reject_t *r = &APR_ARRAY_IDX(out->rejects, i, pt_reject_t);

        r->reason = apr_pstrcat(p, collection, ": ", r->reason, NULL);
    }
}

void pt_event_parse_collection(apr_pool_t *p, const char *collection,
                               const char *body, apr_size_t len,
                               pt_delivery_t *out)
{
    json_error_t err;
    json_t *root;
    const char *stray;

    if (collection && !strcmp(collection, PT_COLLECTION_ACCESS_CLOCKINGS)) {
        collection = NULL;
    }
    out->events = apr_array_make(p, 4, sizeof(pt_event_t));
    out->rejects = apr_array_make(p, 1, sizeof(pt_reject_t));
    if (!body) {
        body = "";
        len = 0;
    }

    /* Without JSON_DECODE_ANY jansson accepts only an object or an array,
     * so a scalar body is refused here like any other non-JSON body; so is
     * a body with a duplicate key anywhere, siblings and all. */
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        pt_event_reject_body(p, out, pt_event_json_error(p, &err), body, len);
    }
    else {
        if (json_is_array(root)) {
            pt_event_items(p, collection, root, out);
        }
        else if (pt_event_is_envelope(root)) {
            stray = pt_event_stray(p, root, pt_event_envelope_members,
                                   "envelope");
            if (stray) {
                pt_event_reject_body(p, out, stray, body, len);
            }
            else {
                pt_event_items(p, collection, json_object_get(root, "value"),
                               out);
            }
        }
        else {
            pt_event_item(p, collection, root, 1, out);
        }
        json_decref(root);
        pt_event_cap_rejects(p, body, len, out);
    }
    pt_event_name_rejects(p, collection, out);
}

void pt_event_parse(apr_pool_t *p, const char *body, apr_size_t len,
                    pt_delivery_t *out)
{
    pt_event_parse_collection(p, NULL, body, len, out);
}

/* ---- the packed form ----------------------------------------------------
 *
 * A packed delivery is a count of events and of rejects, then each event
 * (its numbers as one pt_event_numbers, then its strings) and each reject
 * (reason, body). A string is its length as an apr_uint32_t, or
 * PT_EVENT_PACKED_NULL for NULL, then its bytes without the NUL. Numbers
 * are in the machine's own order: the packer and the unpacker are the same
 * build on the same machine.
 */
#define PT_EVENT_PACKED_NULL 0xffffffffU

typedef struct {
    apr_int64_t id, person_id, terminal_id;
    apr_int32_t change, time_of_day, has_person, has_terminal;
} pt_event_numbers;

typedef struct {
    char *buf;
    apr_size_t cap, used;
    int overflow;
} pt_event_packer;

static void pt_event_put(pt_event_packer *w, const void *data, apr_size_t len)
{
    if (w->overflow || len > w->cap - w->used) {
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->used, data, len);
    w->used += len;
}

static void pt_event_put_bytes(pt_event_packer *w, const char *s,
                               apr_size_t len)
{
    apr_uint32_t n = s ? (apr_uint32_t)len : PT_EVENT_PACKED_NULL;

    if (s && len >= PT_EVENT_PACKED_NULL) {
        w->overflow = 1;
        return;
    }
    pt_event_put(w, &n, sizeof(n));
    if (s)
        pt_event_put(w, s, len);
}

static void pt_event_put_string(pt_event_packer *w, const char *s)
{
    pt_event_put_bytes(w, s, s ? strlen(s) : 0);
}

apr_size_t pt_delivery_pack(const pt_delivery_t *d, char *buf, apr_size_t cap)
{
    pt_event_packer w = { buf, cap, 0, 0 };
    apr_uint32_t counts[2];
    int i;

    counts[0] = (apr_uint32_t)d->events->nelts;
    counts[1] = (apr_uint32_t)d->rejects->nelts;
    pt_event_put(&w, counts, sizeof(counts));
    for (i = 0; i < d->events->nelts; i++) {
        const pt_event_t *ev = &APR_ARRAY_IDX(d->events, i, pt_event_t);
        pt_event_numbers n;

        memset(&n, 0, sizeof(n));
        n.id = ev->id;
        n.person_id = ev->person_id;
        n.terminal_id = ev->terminal_id;
        n.change = ev->change;
        n.time_of_day = ev->time_of_day;
        n.has_person = ev->has_person;
        n.has_terminal = ev->has_terminal;
        pt_event_put(&w, &n, sizeof(n));
        pt_event_put_string(&w, ev->collection);
        pt_event_put_string(&w, ev->change_version);
        pt_event_put_string(&w, ev->date);
        pt_event_put_string(&w, ev->status);
        pt_event_put_string(&w, ev->person_refs);
        pt_event_put_string(&w, ev->terminal_refs);
        pt_event_put_string(&w, ev->payload);
    }
    for (i = 0; i < d->rejects->nelts; i++) {
        const pt_reject_t *r = &APR_ARRAY_IDX(d->rejects, i, pt_reject_t);

        pt_event_put_string(&w, r->reason);
        pt_event_put_bytes(&w, r->body, r->body_len);
    }
    return w.overflow ? 0 : w.used;
}

typedef struct {
    const char *buf;
    apr_size_t len, pos;
} pt_event_unpacker;

static int pt_event_get(pt_event_unpacker *r, void *out, apr_size_t len)
{
    if (len > r->len - r->pos)
        return 0;
    memcpy(out, r->buf + r->pos, len);
    r->pos += len;
    return 1;
}

/* A string of the packed form, copied into p with a NUL (NULL stays
 * NULL); *len its length. Returns 0 when the packed form ends first. */
static int pt_event_get_bytes(apr_pool_t *p, pt_event_unpacker *r,
                              const char **s, apr_size_t *len)
{
    apr_uint32_t n;

    if (!pt_event_get(r, &n, sizeof(n)))
        return 0;
    if (n == PT_EVENT_PACKED_NULL) {
        *s = NULL;
        *len = 0;
        return 1;
    }
    if (n > r->len - r->pos)
        return 0;
    *s = apr_pstrmemdup(p, r->buf + r->pos, n);
    *len = n;
    r->pos += n;
    return 1;
}

static int pt_event_get_string(apr_pool_t *p, pt_event_unpacker *r,
                               const char **s)
{
    apr_size_t len;

    return pt_event_get_bytes(p, r, s, &len);
}

int pt_delivery_unpack(apr_pool_t *p, const char *buf, apr_size_t len,
                       pt_delivery_t *out)
{
    pt_event_unpacker r = { buf, len, 0 };
    apr_uint32_t counts[2], i;

    if (!pt_event_get(&r, counts, sizeof(counts))
        /* each event and reject takes more than one byte */
        || counts[0] > len || counts[1] > len)
        return 0;
    out->events = apr_array_make(p, (int)counts[0], sizeof(pt_event_t));
    out->rejects = apr_array_make(p, (int)counts[1], sizeof(pt_reject_t));
    for (i = 0; i < counts[0]; i++) {
        pt_event_t *ev = apr_array_push(out->events);
        pt_event_numbers n;

        if (!pt_event_get(&r, &n, sizeof(n))
            || !pt_event_get_string(p, &r, &ev->collection)
            || !pt_event_get_string(p, &r, &ev->change_version)
            || !pt_event_get_string(p, &r, &ev->date)
            || !pt_event_get_string(p, &r, &ev->status)
            || !pt_event_get_string(p, &r, &ev->person_refs)
            || !pt_event_get_string(p, &r, &ev->terminal_refs)
            || !pt_event_get_string(p, &r, &ev->payload))
            return 0;
        ev->id = n.id;
        ev->person_id = n.person_id;
        ev->terminal_id = n.terminal_id;
        ev->change = (pt_change_t)n.change;
        ev->time_of_day = n.time_of_day;
        ev->has_person = n.has_person;
        ev->has_terminal = n.has_terminal;
    }
    for (i = 0; i < counts[1]; i++) {
        pt_reject_t *rj = apr_array_push(out->rejects);

        if (!pt_event_get_string(p, &r, &rj->reason)
            || !pt_event_get_bytes(p, &r, &rj->body, &rj->body_len))
            return 0;
    }
    return r.pos == len;
}
