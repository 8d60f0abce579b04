/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_event: parsing and validation of Protime deliveries.
 *
 * Pure unit: APR and jansson only. A delivery body is one of
 *   { "changeType": "InsertOrUpdate"|"Delete", "data": { ... } }   one event
 *   { "id": ..., "changeVersion": ..., ... }                       bare object (InsertOrUpdate)
 *   [ <event or bare object>, ... ]                                 array of either
 *   { "value": [ <event or bare object>, ... ] }                    envelope
 * An object is an envelope when its "value" is an array and it has no id,
 * changeVersion, changeType or data; otherwise it is an item: an event if
 * it has changeType, else a bare object. Every member of a bare object is
 * the change's and goes into the payload ("value" included). An event
 * and an envelope may carry annotations (members named "@...", such as
 * "@odata.context") besides their own members, which are ignored; any
 * other member could hold a change that would be lost, so an event with
 * one is rejected, and an envelope with one is rejected whole, body as
 * received, none of its items applied.
 * Parsing never throws anything away: every item that is not a valid event
 * becomes a reject with its reason and its own JSON text, so the caller can
 * quarantine it while applying the valid events of the same delivery. A
 * body jansson refuses is not split into items: it becomes one reject.
 */
#ifndef PT_EVENT_H
#define PT_EVENT_H

#include <apr_pools.h>
#include <apr_tables.h>

/* Longest changeVersion (ASCII bytes) and status (characters). */
#define PT_EVENT_MAX_VERSION 64
#define PT_EVENT_MAX_STATUS 64
/* More rejects than this in one delivery become one: the whole body. */
#define PT_EVENT_MAX_REJECTS 100

typedef enum {
    PT_CHANGE_UPSERT = 0,   /* "InsertOrUpdate" */
    PT_CHANGE_DELETE = 1    /* "Delete" */
} pt_change_t;

/* One validated change. Strings are NUL-terminated, from the parse pool.
 * For a Delete, and for every change of a collection other than access
 * clockings, only collection, change, id, change_version and payload are
 * set; the other pointers are NULL and the has_ flags 0. */
typedef struct {
    const char *collection;         /* NULL for access clockings */
    pt_change_t change;
    apr_int64_t id;                 /* 1 .. 2^63-1 */
    const char *change_version;     /* 1 .. 64 printable ASCII characters */
    const char *date;               /* YYYY-MM-DD, a real calendar date */
    int time_of_day;                /* 0 .. 1439 */
    int has_person;                 /* person present and not null */
    apr_int64_t person_id;
    int has_terminal;
    apr_int64_t terminal_id;
    const char *status;             /* 1 .. 64 characters, stored as given */
    const char *person_refs;        /* person.externalReferences as compact JSON, or NULL */
    const char *terminal_refs;      /* terminal.externalReferences likewise */
    const char *payload;            /* the data object as compact JSON, keys in received order */
} pt_event_t;

/* Something that could not be applied: stored in the quarantine. */
typedef struct {
    const char *reason;     /* e.g. "item 2: date: not a calendar date" */
    const char *body;       /* the item's JSON text, or the raw body when it is not JSON */
    apr_size_t body_len;
} pt_reject_t;

typedef struct {
    apr_array_header_t *events;     /* of pt_event_t, in delivery order */
    apr_array_header_t *rejects;    /* of pt_reject_t */
} pt_delivery_t;

/* Parses body (len bytes, need not be NUL-terminated) into out, allocating
 * from p. A body that is not valid JSON (syntax, a duplicate object key
 * anywhere, invalid UTF-8, NUL escapes, integers out of range), or that is
 * JSON of another shape, becomes a single reject holding the raw body, with
 * jansson's message in its reason; so do the rejects of a delivery with
 * more than PT_EVENT_MAX_REJECTS of them, which would otherwise cost a
 * quarantine row each. */
void pt_event_parse(apr_pool_t *p, const char *body, apr_size_t len,
                    pt_delivery_t *out);

/* pt_event_parse for a delivery of collection, one of pt_collection_names
 * (the caller checks; the pointer is kept in each event). NULL or
 * PT_COLLECTION_ACCESS_CLOCKINGS is pt_event_parse itself. Any other
 * collection's body has the same forms, but only what every collection's
 * change has is validated: id (1 .. 2^63-1), changeVersion (as above) and
 * changeType; the rest of data is kept as sent, in the payload. Its
 * rejects' reasons start with the collection ("people: item 2: id:
 * missing"). */
void pt_event_parse_collection(apr_pool_t *p, const char *collection,
                               const char *body, apr_size_t len,
                               pt_delivery_t *out);

/* A delivery as parsed, packed into cap bytes at buf for another process
 * to commit without parsing the body again (mod_protime_shm.h's queue).
 * Returns the bytes used, or 0 when it needs more than cap. */
apr_size_t pt_delivery_pack(const pt_delivery_t *d, char *buf, apr_size_t cap);
/* The delivery packed in len bytes at buf, copied into p. Returns 0 when
 * buf is not one whole packed delivery. */
int pt_delivery_unpack(apr_pool_t *p, const char *buf, apr_size_t len,
                       pt_delivery_t *out);

#endif /* PT_EVENT_H */
