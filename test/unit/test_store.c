/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* test_store: pt_store against a real SQLite file through apr_dbd, and
 * against PostgreSQL when PROTIME_TEST_PGSQL holds a libpq conninfo string
 * (the tables then live in a schema of their own, dropped at the end). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <apr_base64.h>
#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <apr_time.h>

#include "pt_store.h"
#include "tap.h"

static apr_pool_t *pool;
static apr_int64_t clock_us = APR_INT64_C(1700000000000000);

/* An InsertOrUpdate with every column set. */
static pt_event_t upsert(apr_int64_t id, const char *version)
{
    pt_event_t ev;

    memset(&ev, 0, sizeof(ev));
    ev.change = PT_CHANGE_UPSERT;
    ev.id = id;
    ev.change_version = version;
    ev.date = "2026-02-10";
    ev.time_of_day = 480;
    ev.has_person = 1;
    ev.person_id = 7;
    ev.has_terminal = 1;
    ev.terminal_id = 3;
    ev.status = "AccessOk";
    ev.person_refs = "{\"badge\":\"B1\"}";
    ev.terminal_refs = "{\"door\":\"D1\"}";
    ev.payload = apr_psprintf(pool, "{\"id\":%" APR_INT64_T_FMT
                              ",\"changeVersion\":\"%s\",\"status\":\"AccessOk\"}",
                              id, version);
    return ev;
}

static pt_event_t delete(apr_int64_t id, const char *version)
{
    pt_event_t ev;

    memset(&ev, 0, sizeof(ev));
    ev.change = PT_CHANGE_DELETE;
    ev.id = id;
    ev.change_version = version;
    ev.payload = apr_psprintf(pool, "{\"id\":%" APR_INT64_T_FMT
                              ",\"changeVersion\":\"%s\"}", id, version);
    return ev;
}

static pt_store_job_t *job_of(const pt_event_t *evs, int nev,
                              const pt_reject_t *rjs, int nrj)
{
    pt_delivery_t *d = apr_pcalloc(pool, sizeof(*d));
    pt_store_job_t *job = apr_pcalloc(pool, sizeof(*job));
    int i;

    d->events = apr_array_make(pool, nev + 1, sizeof(pt_event_t));
    d->rejects = apr_array_make(pool, nrj + 1, sizeof(pt_reject_t));
    for (i = 0; i < nev; i++)
        APR_ARRAY_PUSH(d->events, pt_event_t) = evs[i];
    for (i = 0; i < nrj; i++)
        APR_ARRAY_PUSH(d->rejects, pt_reject_t) = rjs[i];
    job->delivery = d;
    /* Garbage that pt_store_commit must overwrite. */
    job->applied = job->deletes = job->stale = job->quarantined = -1;
    job->error = "not run";
    return job;
}

/* What the last commit() said of waiting (pt_store_commit's *waited). */
static int last_waited;

static int commit(const pt_store_conn_t *c, pt_store_job_t **jobs, int n)
{
    apr_pool_t *p;
    int commits;

    apr_pool_create(&p, pool);
    last_waited = -1;
    commits = pt_store_commit(p, c, jobs, n, ++clock_us, &last_waited);
    /* Errors must survive the commit pool. */
    apr_pool_destroy(p);
    return commits;
}

static pt_store_job_t *commit1(const pt_store_conn_t *c, pt_event_t ev)
{
    pt_store_job_t *job = job_of(&ev, 1, NULL, 0);

    commit(c, &job, 1);
    return job;
}

/* First column of the first row, "(no row)" or "(null)". */
static const char *q(const pt_store_conn_t *c, const char *fmt, ...)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *v = "(no row)", *e;
    char *sql;
    va_list ap;
    int rv;

    va_start(ap, fmt);
    sql = apr_pvsprintf(pool, fmt, ap);
    va_end(ap);
    rv = apr_dbd_select(c->driver, pool, c->handle, &res, sql, 0);
    if (rv)
        return apr_psprintf(pool, "(error: %s)",
                            apr_dbd_error(c->driver, c->handle, rv));
    while (apr_dbd_get_row(c->driver, pool, res, &row, -1) == 0) {
        if (!strcmp(v, "(no row)")) {
            e = apr_dbd_get_entry(c->driver, row, 0);
            v = e ? apr_pstrdup(pool, e) : "(null)";
        }
    }
    return v;
}

/* A column of a clocking as text, "NULL" for SQL NULL (the same in both
 * dialects). */
static const char *col(const pt_store_conn_t *c, apr_int64_t id,
                       const char *column)
{
    return q(c, "SELECT COALESCE(CAST(%s AS TEXT), 'NULL')"
             " FROM protime_access_clockings WHERE id = %" APR_INT64_T_FMT,
             column, id);
}

static int exec(const pt_store_conn_t *c, const char *sql)
{
    int nrows;

    return apr_dbd_query(c->driver, c->handle, &nrows, sql);
}

/* Stores v1 then v2 under id; returns what the second one did. */
static int second_applies(const pt_store_conn_t *c, apr_int64_t id,
                          const char *v1, const char *v2)
{
    pt_store_job_t *job = commit1(c, upsert(id, v1));

    if (job->applied != 1)
        return -1;
    job = commit1(c, upsert(id, v2));
    return job->error ? -1 : job->applied;
}

static void setup(const pt_store_conn_t *cc, const char *db)
{
    pt_store_conn_t *c = (pt_store_conn_t *)cc;

    is_str(pt_store_create_schema(pool, c), NULL, "%s: schema created", db);
    is_str(pt_store_create_schema(pool, c), NULL, "%s: schema again", db);
    is_str(pt_store_prepare(pool, c, 1), NULL, "%s: statements prepared", db);
    is_str(pt_store_prepare(pool, c, 0), NULL,
           "%s: prepare again is harmless", db);
}

/* The checks both dialects must pass. */
static void core(const pt_store_conn_t *c, const char *db)
{
    pt_store_job_t *job, *jobs[3];
    pt_event_t ev, evs[3];
    pt_reject_t rjs[3];
    apr_int64_t t;
    char *decoded;
    int n;

    /* Insert. */
    job = commit1(c, upsert(1, "A"));
    is_str(job->error, NULL, "%s: insert committed", db);
    ok(job->applied == 1 && job->stale == 0 && job->deletes == 0
       && job->quarantined == 0, "%s: insert counted as applied", db);
    is_str(col(c, 1, "change_version"), "A", "%s: change_version", db);
    is_str(col(c, 1, "deleted"), "0", "%s: deleted = 0", db);
    is_str(col(c, 1, "person_id"), "7", "%s: person_id", db);
    is_str(col(c, 1, "date"), "2026-02-10", "%s: date", db);
    is_str(col(c, 1, "time_of_day_minutes"), "480", "%s: time of day", db);
    is_str(col(c, 1, "terminal_id"), "3", "%s: terminal_id", db);
    is_str(col(c, 1, "status"), "AccessOk", "%s: status", db);
    is_str(col(c, 1, "person_refs"), "{\"badge\":\"B1\"}",
           "%s: person_refs", db);
    is_str(col(c, 1, "terminal_refs"), "{\"door\":\"D1\"}",
           "%s: terminal_refs", db);
    is_str(col(c, 1, "payload"), upsert(1, "A").payload, "%s: payload", db);
    t = clock_us;
    is_str(col(c, 1, "updated_at"),
           apr_psprintf(pool, "%" APR_INT64_T_FMT, t), "%s: updated_at", db);

    /* Same and lower versions change nothing. */
    ev = upsert(1, "A");
    ev.status = "AccessRefused";
    job = commit1(c, ev);
    ok(!job->error && job->applied == 0 && job->stale == 1,
       "%s: same version again is stale", db);
    is_str(col(c, 1, "status"), "AccessOk", "%s: ... row unchanged", db);
    is_str(col(c, 1, "updated_at"),
           apr_psprintf(pool, "%" APR_INT64_T_FMT, t),
           "%s: ... updated_at unchanged", db);
    job = commit1(c, upsert(1, "B"));
    ok(!job->error && job->applied == 1, "%s: higher version applies", db);
    is_str(col(c, 1, "change_version"), "B", "%s: ... stored", db);
    ev = upsert(1, "A");
    ev.status = "AccessRefused";
    job = commit1(c, ev);
    ok(!job->error && job->applied == 0 && job->stale == 1,
       "%s: lower version is stale", db);
    is_str(col(c, 1, "change_version"), "B", "%s: ... version kept", db);
    is_str(col(c, 1, "status"), "AccessOk", "%s: ... data kept", db);

    /* Byte order, whatever the database's default collation. */
    is_int(second_applies(c, 100, "A", "B"), 1, "%s: \"B\" > \"A\"", db);
    is_int(second_applies(c, 101, "Z", "a"), 1, "%s: \"a\" > \"Z\"", db);
    is_int(second_applies(c, 102, "a", "Z"), 0, "%s: \"Z\" < \"a\"", db);
    is_int(second_applies(c, 103, "a", "B"), 0, "%s: \"B\" < \"a\"", db);
    is_int(second_applies(c, 104, "9", "10"), 0, "%s: \"10\" < \"9\"", db);
    is_int(second_applies(c, 105, "abc", "abcd"), 1,
           "%s: longer with the same prefix is greater", db);
    is_int(second_applies(c, 106, "abcd", "abc"), 0,
           "%s: shorter with the same prefix is lower", db);
    is_int(second_applies(c, 107, "2026-01-01T10:00:00.000001",
                          "2026-01-01T10:00:00.000002"), 1,
           "%s: timestamp-like versions", db);

    /* Delete: tombstone keeping the data columns. */
    commit1(c, upsert(10, "0001"));
    job = commit1(c, delete(10, "0002"));
    ok(!job->error && job->applied == 1 && job->deletes == 1
       && job->stale == 0, "%s: delete applied and counted", db);
    is_str(col(c, 10, "deleted"), "1", "%s: ... tombstone", db);
    is_str(col(c, 10, "change_version"), "0002",
           "%s: ... with the delete's version", db);
    ok(!strcmp(col(c, 10, "person_id"), "7")
       && !strcmp(col(c, 10, "date"), "2026-02-10")
       && !strcmp(col(c, 10, "time_of_day_minutes"), "480")
       && !strcmp(col(c, 10, "terminal_id"), "3")
       && !strcmp(col(c, 10, "status"), "AccessOk")
       && !strcmp(col(c, 10, "person_refs"), "{\"badge\":\"B1\"}")
       && !strcmp(col(c, 10, "terminal_refs"), "{\"door\":\"D1\"}"),
       "%s: ... data columns kept", db);
    is_str(col(c, 10, "payload"), upsert(10, "0001").payload,
           "%s: ... payload kept", db);
    is_str(col(c, 10, "updated_at"),
           apr_psprintf(pool, "%" APR_INT64_T_FMT, clock_us),
           "%s: ... updated_at moved", db);
    job = commit1(c, delete(10, "0002"));
    ok(!job->error && job->applied == 0 && job->deletes == 0
       && job->stale == 1, "%s: same delete again is stale", db);
    job = commit1(c, upsert(10, "0001z"));
    ok(!job->error && job->applied == 0 && job->stale == 1,
       "%s: older InsertOrUpdate after the delete is stale", db);
    is_str(col(c, 10, "deleted"), "1", "%s: ... no resurrection", db);
    ev = upsert(10, "0003");
    ev.has_person = ev.has_terminal = 0;
    ev.person_refs = ev.terminal_refs = NULL;
    ev.status = "UnknownBadge";
    ev.date = "2026-02-11";
    ev.time_of_day = 0;
    job = commit1(c, ev);
    ok(!job->error && job->applied == 1 && job->deletes == 0,
       "%s: newer InsertOrUpdate after the delete applies", db);
    is_str(col(c, 10, "deleted"), "0", "%s: ... revived", db);
    ok(!strcmp(col(c, 10, "person_id"), "NULL")
       && !strcmp(col(c, 10, "terminal_id"), "NULL")
       && !strcmp(col(c, 10, "person_refs"), "NULL")
       && !strcmp(col(c, 10, "terminal_refs"), "NULL"),
       "%s: ... NULL person and terminal overwrite the old ones", db);
    ok(!strcmp(col(c, 10, "status"), "UnknownBadge")
       && !strcmp(col(c, 10, "date"), "2026-02-11")
       && !strcmp(col(c, 10, "time_of_day_minutes"), "0")
       && !strcmp(col(c, 10, "payload"), ev.payload),
       "%s: ... new data and payload", db);

    /* Delete of an id never seen. */
    job = commit1(c, delete(20, "v1"));
    ok(!job->error && job->applied == 1 && job->deletes == 1,
       "%s: delete of an unknown id applied", db);
    is_str(col(c, 20, "deleted"), "1", "%s: ... tombstone inserted", db);
    ok(!strcmp(col(c, 20, "person_id"), "NULL")
       && !strcmp(col(c, 20, "date"), "NULL")
       && !strcmp(col(c, 20, "time_of_day_minutes"), "NULL")
       && !strcmp(col(c, 20, "terminal_id"), "NULL")
       && !strcmp(col(c, 20, "status"), "NULL")
       && !strcmp(col(c, 20, "person_refs"), "NULL"),
       "%s: ... with NULL data columns", db);
    is_str(col(c, 20, "payload"), delete(20, "v1").payload,
           "%s: ... and the delete's payload", db);
    job = commit1(c, upsert(20, "v0"));
    ok(!job->error && job->stale == 1,
       "%s: ... an older InsertOrUpdate stays out", db);

    /* Quarantine. */
    rjs[0].reason = "item 1: date: not a calendar date";
    rjs[0].body = "{\"id\":5,\"date\":\"2026-02-30\",\"note\":\"caf\xc3\xa9\"}";
    rjs[0].body_len = strlen(rjs[0].body);
    rjs[1].reason = "not JSON";
    rjs[1].body = "a\0b\"'\\";
    rjs[1].body_len = 6;
    rjs[2].reason = "not JSON";
    rjs[2].body = "\xff\xfe{\"x\":1}";
    rjs[2].body_len = 9;
    evs[0] = upsert(50, "1");
    job = job_of(evs, 1, rjs, 3);
    commit(c, &job, 1);
    ok(!job->error && job->applied == 1 && job->quarantined == 3,
       "%s: events and rejects of one delivery stored", db);
    n = atoi(q(c, "SELECT MIN(id) FROM protime_quarantine"));
    is_str(q(c, "SELECT body_encoding FROM protime_quarantine WHERE id = %d",
             n), "utf-8", "%s: UTF-8 body stored as text", db);
    is_str(q(c, "SELECT body FROM protime_quarantine WHERE id = %d", n),
           rjs[0].body, "%s: ... verbatim", db);
    is_str(q(c, "SELECT reason FROM protime_quarantine WHERE id = %d", n),
           rjs[0].reason, "%s: ... with its reason", db);
    is_str(q(c, "SELECT received_at FROM protime_quarantine WHERE id = %d",
             n), apr_psprintf(pool, "%" APR_INT64_T_FMT, clock_us),
           "%s: ... and received_at", db);
    is_str(q(c, "SELECT body_encoding FROM protime_quarantine WHERE id = %d",
             n + 1), "base64", "%s: body with NUL stored as base64", db);
    decoded = apr_palloc(pool, 64);
    ok(apr_base64_decode_len(q(c, "SELECT body FROM protime_quarantine"
                               " WHERE id = %d", n + 1)) <= 64
       && apr_base64_decode(decoded, q(c, "SELECT body FROM"
                                       " protime_quarantine WHERE id = %d",
                                       n + 1)) == 6
       && !memcmp(decoded, rjs[1].body, 6), "%s: ... decodes to it", db);
    is_str(q(c, "SELECT body_encoding FROM protime_quarantine WHERE id = %d",
             n + 2), "base64", "%s: invalid UTF-8 stored as base64", db);
    ok(apr_base64_decode(decoded, q(c, "SELECT body FROM protime_quarantine"
                                    " WHERE id = %d", n + 2)) == 9
       && !memcmp(decoded, rjs[2].body, 9), "%s: ... decodes to it", db);

    /* Several jobs in one transaction. */
    evs[0] = upsert(60, "1");
    evs[1] = delete(61, "1");
    jobs[0] = job_of(evs, 2, NULL, 0);
    evs[0] = upsert(60, "0");
    jobs[1] = job_of(evs, 1, rjs, 1);
    evs[0] = upsert(62, "1");
    jobs[2] = job_of(evs, 1, NULL, 0);
    is_int(commit(c, jobs, 3), 1, "%s: three jobs, one transaction", db);
    ok(!jobs[0]->error && jobs[0]->applied == 2 && jobs[0]->deletes == 1
       && jobs[0]->stale == 0 && jobs[0]->quarantined == 0,
       "%s: ... first job counted", db);
    ok(!jobs[1]->error && jobs[1]->applied == 0 && jobs[1]->stale == 1
       && jobs[1]->quarantined == 1, "%s: ... second job counted", db);
    ok(!jobs[2]->error && jobs[2]->applied == 1,
       "%s: ... third job counted", db);
    is_str(q(c, "SELECT COUNT(*) FROM protime_access_clockings"
             " WHERE id IN (60, 61, 62)"), "3", "%s: ... rows there", db);

    /* A failing job (payload NULL violates NOT NULL) fails alone. */
    n = atoi(q(c, "SELECT COUNT(*) FROM protime_quarantine"));
    evs[0] = upsert(70, "1");
    jobs[0] = job_of(evs, 1, NULL, 0);
    evs[0] = upsert(71, "1");
    evs[1] = upsert(72, "1");
    evs[1].payload = NULL;
    jobs[1] = job_of(evs, 2, rjs, 1);
    evs[0] = upsert(73, "1");
    jobs[2] = job_of(evs, 1, rjs, 1);
    is_int(commit(c, jobs, 3), 2,
           "%s: a bad job: the two others committed alone", db);
    is_int(last_waited, 0, "%s: ... a fast failure is not one for waiting", db);
    ok(!jobs[0]->error && jobs[0]->applied == 1,
       "%s: ... first job committed", db);
    ok(!jobs[2]->error && jobs[2]->applied == 1 && jobs[2]->quarantined == 1,
       "%s: ... third job committed", db);
    ok(jobs[1]->error && strstr(jobs[1]->error, PT_STMT_UPSERT " (id 72)")
       && strstr(jobs[1]->error, "payload"),
       "%s: ... bad job has the error: %s", db,
       jobs[1]->error ? jobs[1]->error : "(none)");
    ok(jobs[1]->applied == 0 && jobs[1]->deletes == 0 && jobs[1]->stale == 0
       && jobs[1]->quarantined == 0, "%s: ... and counts zeroed", db);
    is_str(q(c, "SELECT COUNT(*) FROM protime_access_clockings"
             " WHERE id IN (70, 71, 72, 73)"), "2",
           "%s: ... nothing of the bad job stored", db);
    is_int(atoi(q(c, "SELECT COUNT(*) FROM protime_quarantine")), n + 1,
           "%s: ... not even its reject", db);

    job = job_of(evs + 1, 1, NULL, 0);
    is_int(commit(c, &job, 1), 0, "%s: a bad job alone: no commit", db);
    ok(job->error && job->applied == 0,
       "%s: ... error set, counts zeroed", db);
    job = commit1(c, upsert(74, "1"));
    ok(!job->error && job->applied == 1,
       "%s: the connection works after failures", db);
}

/* A change of another collection: data kept whole, as pt_event gives it. */
static pt_event_t record(const char *collection, apr_int64_t id,
                         const char *version, pt_change_t change,
                         const char *name)
{
    pt_event_t ev;

    memset(&ev, 0, sizeof(ev));
    ev.collection = collection;
    ev.change = change;
    ev.id = id;
    ev.change_version = version;
    ev.payload = apr_psprintf(pool, "{\"id\":%" APR_INT64_T_FMT
                              ",\"changeVersion\":\"%s\",\"firstName\":"
                              "\"%s\"}", id, version, name);
    return ev;
}

/* A column of protime_records as text, "NULL" for SQL NULL. */
static const char *rcol(const pt_store_conn_t *c, const char *collection,
                        apr_int64_t id, const char *column)
{
    return q(c, "SELECT COALESCE(CAST(%s AS TEXT), 'NULL')"
             " FROM protime_records WHERE collection = '%s'"
             " AND id = %" APR_INT64_T_FMT, column, collection, id);
}

/* One change of a record; 1 when it was applied, 0 when stale, -1 on
 * error. */
static int rapply(const pt_store_conn_t *c, pt_event_t ev)
{
    pt_store_job_t *job = commit1(c, ev);

    if (job->error) {
        printf("#   error: %s\n", job->error);
        return -1;
    }
    return job->applied;
}

/* protime_records: the changeVersion rule of access clockings, per
 * collection and id, data kept as sent. */
static void records(const pt_store_conn_t *c, const char *db)
{
    pt_store_job_t *job;
    pt_event_t evs[2];

    is_int(rapply(c, record("people", 4711, "B", PT_CHANGE_UPSERT, "Ann")), 1,
           "%s: records: insert applied", db);
    is_str(rcol(c, "people", 4711, "change_version"), "B",
           "%s: records: ... change_version", db);
    is_str(rcol(c, "people", 4711, "deleted"), "0",
           "%s: records: ... deleted = 0", db);
    is_str(q(c, "SELECT COUNT(*) FROM protime_records WHERE collection ="
             " 'people' AND id = 4711 AND data = CAST('{\"id\":4711,"
             "\"changeVersion\":\"B\",\"firstName\":\"Ann\"}' AS %s)",
             c->dialect == PT_DB_PGSQL ? "jsonb" : "TEXT"), "1",
           "%s: records: ... data is the payload", db);
    is_str(rcol(c, "people", 4711, "updated_at"),
           apr_psprintf(pool, "%" APR_INT64_T_FMT, clock_us),
           "%s: records: ... updated_at", db);
    is_str(q(c, "SELECT COUNT(*) FROM protime_access_clockings"
             " WHERE id = 4711"), "0",
           "%s: records: ... and no access clocking", db);

    is_int(rapply(c, record("people", 4711, "B", PT_CHANGE_UPSERT, "Bob")), 0,
           "%s: records: equal version is stale", db);
    is_int(rapply(c, record("people", 4711, "A", PT_CHANGE_UPSERT, "Bob")), 0,
           "%s: records: lower version is stale", db);
    is_str(rcol(c, "people", 4711, "change_version"), "B",
           "%s: records: ... version kept", db);
    ok(strstr(rcol(c, "people", 4711, "data"), "Ann") != NULL,
       "%s: records: ... data kept", db);
    is_int(rapply(c, record("people", 4711, "a", PT_CHANGE_UPSERT, "Cy")), 1,
           "%s: records: higher version (bytes: \"a\" > \"B\") applies", db);
    ok(strstr(rcol(c, "people", 4711, "data"), "Cy") != NULL,
       "%s: records: ... data replaced", db);

    job = commit1(c, record("people", 4711, "b", PT_CHANGE_DELETE, "gone"));
    ok(!job->error && job->applied == 1 && job->deletes == 1
       && job->stale == 0, "%s: records: delete applied and counted", db);
    is_str(rcol(c, "people", 4711, "deleted"), "1",
           "%s: records: ... tombstone", db);
    is_str(rcol(c, "people", 4711, "change_version"), "b",
           "%s: records: ... with the delete's version", db);
    ok(strstr(rcol(c, "people", 4711, "data"), "Cy") != NULL,
       "%s: records: ... data kept", db);
    is_int(rapply(c, record("people", 4711, "a", PT_CHANGE_UPSERT, "Old")),
           0, "%s: records: older insert after the delete is stale", db);
    is_str(rcol(c, "people", 4711, "deleted"), "1",
           "%s: records: ... still a tombstone", db);
    is_int(rapply(c, record("people", 4711, "c", PT_CHANGE_UPSERT, "New")),
           1, "%s: records: newer insert after the delete applies", db);
    is_str(rcol(c, "people", 4711, "deleted"), "0",
           "%s: records: ... alive again", db);
    ok(strstr(rcol(c, "people", 4711, "data"), "New") != NULL,
       "%s: records: ... with its data", db);

    job = commit1(c, record("people", 4712, "1", PT_CHANGE_DELETE, "x"));
    ok(!job->error && job->applied == 1 && job->deletes == 1,
       "%s: records: delete of an unknown id leaves a tombstone", db);
    is_int(rapply(c, record("people", 4712, "0", PT_CHANGE_UPSERT, "Old")),
           0, "%s: records: ... that an older insert cannot undo", db);

    /* The same id in two collections, and in access clockings. */
    is_int(rapply(c, record("absences", 4711, "A", PT_CHANGE_UPSERT, "Abs")),
           1, "%s: records: the same id in another collection applies", db);
    is_str(rcol(c, "absences", 4711, "change_version"), "A",
           "%s: records: ... a row of its own", db);
    is_str(rcol(c, "people", 4711, "change_version"), "c",
           "%s: records: ... the person's row untouched", db);
    is_int(rapply(c, upsert(4711, "A")), 1,
           "%s: records: an access clocking with that id applies", db);
    is_str(rcol(c, "people", 4711, "change_version"), "c",
           "%s: records: ... the person's row untouched", db);

    /* Both tables in one job, counted together. */
    evs[0] = record("people", 4713, "1", PT_CHANGE_UPSERT, "Dee");
    evs[1] = upsert(4713, "1");
    job = job_of(evs, 2, NULL, 0);
    is_int(commit(c, &job, 1), 1, "%s: records: a mixed job commits", db);
    ok(!job->error && job->applied == 2,
       "%s: records: ... both applied (%d)", db, job->applied);

    /* The people view, and the README's query through it. */
    is_str(q(c, "SELECT first_name FROM protime_people WHERE id = 4713"),
           "Dee", "%s: records: protime_people has the first name", db);
    is_str(q(c, "SELECT COUNT(*) FROM protime_people WHERE id = 4711"), "1",
           "%s: records: ... and only people", db);
    evs[0] = upsert(4714, "1");
    evs[0].person_id = 4713;
    commit1(c, evs[0]);
    is_str(q(c, "SELECT p.first_name FROM protime_access_clockings a"
             " JOIN protime_people p ON p.id = a.person_id"
             " WHERE a.id = 4714"), "Dee",
           "%s: records: a clocking JOINs its person's name", db);
}

/* pt_store_capture: what protime_refused keeps of a refused delivery, and
 * that it keeps PT_STORE_REFUSED_KEEP of them per location. */
static void refused(const pt_store_conn_t *c, const char *db)
{
    apr_table_t *h = apr_table_make(pool, 8);
    pt_store_refused_t r;
    char *big, *body;
    int i;

    apr_table_add(h, "Host", "example.com");
    apr_table_add(h, "Content-Type", "application/json");
    apr_table_add(h, "X-Protime-Signature",
                  "c2lnbmF0dXJlLXZhbHVlLTQ0LWJ5dGVzLWxvbmctLS0t");
    apr_table_add(h, "Authorization", "Bearer abc");
    apr_table_add(h, "Cookie", "s=1");
    apr_table_add(h, "X-Api-Key", "k");
    apr_table_add(h, "X-Sig", "zz");
    apr_table_add(h, "webhook-id", "msg_1");
    apr_table_add(h, "X-Latin", "caf\xe9");
    memset(&r, 0, sizeof(r));
    r.location = "/hook";
    r.reason = "no signature header";
    r.headers = h;
    r.signature_header = "x-sig";
    r.body = "{\"a\":1}";
    r.body_len = 7;
    is_str(pt_store_capture(pool, c, &r, clock_us), NULL,
           "%s: a refused delivery captured", db);
    is_str(q(c, "SELECT headers FROM protime_refused"),
           "[[\"Host\",\"example.com\"],"
           "[\"Content-Type\",\"application/json\"],"
           "[\"X-Protime-Signature\",\"<cut: 44 bytes>\"],"
           "[\"Authorization\",\"<cut: 10 bytes>\"],"
           "[\"Cookie\",\"<cut: 3 bytes>\"],"
           "[\"X-Api-Key\",\"<cut: 1 bytes>\"],"
           "[\"X-Sig\",\"<cut: 2 bytes>\"],"
           "[\"webhook-id\",\"msg_1\"],"
           "[\"X-Latin\",\"caf\\\\xe9\"]]",
           "%s: ... headers in order, secret values cut, bytes escaped", db);
    is_str(q(c, "SELECT location || ' ' || reason || ' '"
             " || CAST(received_at AS TEXT) || ' ' || body || ' '"
             " || body_encoding || ' ' || CAST(body_length AS TEXT)"
             " FROM protime_refused"),
           apr_psprintf(pool, "/hook no signature header %" APR_INT64_T_FMT
                        " {\"a\":1} utf-8 7", clock_us),
           "%s: ... location, reason, time, body", db);

    /* 'a', then two-byte characters: byte 4096 is the second of one. */
    big = apr_palloc(pool, 5001);
    big[0] = 'a';
    for (i = 1; i < 5001; i += 2) {
        big[i] = '\xc3';
        big[i + 1] = '\xa9';
    }
    r.body = big;
    r.body_len = 5001;
    is_str(pt_store_capture(pool, c, &r, clock_us), NULL,
           "%s: a 5001-byte body captured", db);
    is_str(q(c, "SELECT CAST(length(body) AS TEXT) || ' ' || body_encoding"
             " || ' ' || CAST(body_length AS TEXT) FROM protime_refused"
             " ORDER BY id DESC"), "2048 utf-8 5001",
           "%s: ... its first 4095 bytes, never half a character", db);
    r.body = "\xff\x00";
    r.body_len = 2;
    is_str(pt_store_capture(pool, c, &r, clock_us), NULL,
           "%s: a binary body captured", db);
    is_str(q(c, "SELECT body || ' ' || body_encoding FROM protime_refused"
             " ORDER BY id DESC"), "/wA= base64", "%s: ... in base64", db);

    /* As many headers as httpd lets through, each as long: a row of
     * about 800 KB a second, were they kept whole. */
    h = apr_table_make(pool, 100);
    big = apr_palloc(pool, 8001);
    memset(big, 'a', 8000);
    big[8000] = '\0';
    for (i = 0; i < 100; i++)
        apr_table_add(h, apr_psprintf(pool, "X-Pad-%02d", i), big);
    body = "[";
    for (i = 0; i < PT_STORE_REFUSED_HEADERS; i++)
        body = apr_psprintf(pool, "%s[\"X-Pad-%02d\",\"%.*s<cut: 8000 "
                            "bytes>\"],", body, i, PT_STORE_REFUSED_VALUE,
                            big);
    body = apr_psprintf(pool, "%s[\"<cut>\",\"<%d more headers>\"]]", body,
                        100 - PT_STORE_REFUSED_HEADERS);
    r.location = "/hook-c";
    r.headers = h;
    is_str(pt_store_capture(pool, c, &r, clock_us), NULL,
           "%s: a delivery of 100 headers of 8000 bytes captured", db);
    is_str(q(c, "SELECT headers FROM protime_refused ORDER BY id DESC"), body,
           "%s: ... its first %d headers, each cut to %d bytes", db,
           PT_STORE_REFUSED_HEADERS, PT_STORE_REFUSED_VALUE);

    r.location = "/hook-b";
    for (i = 0; i < PT_STORE_REFUSED_KEEP + 5; i++) {
        body = apr_itoa(pool, i);
        r.body = body;
        r.body_len = strlen(body);
        if (pt_store_capture(pool, c, &r, clock_us + i) != NULL)
            break;
    }
    is_int(i, PT_STORE_REFUSED_KEEP + 5, "%s: %d more captured", db, i);
    is_str(q(c, "SELECT CAST(COUNT(*) AS TEXT) || ' ' || CAST(MIN(body_length)"
             " AS TEXT) FROM protime_refused WHERE location = '/hook-b'"),
           apr_psprintf(pool, "%d 1", PT_STORE_REFUSED_KEEP),
           "%s: ... the last %d kept", db, PT_STORE_REFUSED_KEEP);
    is_str(q(c, "SELECT body FROM protime_refused WHERE location = '/hook-b'"
             " ORDER BY id"), "5", "%s: ... the oldest five gone", db);
    is_str(q(c, "SELECT COUNT(*) FROM protime_refused"
             " WHERE location = '/hook'"), "3",
           "%s: ... the other location's rows untouched", db);
}

/* Whether the bytes of file hold text (the database file, not its WAL). */
static int file_contains(const char *file, const char *text)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t len = 0;
    char *buf;
    int found = 0;

    if (apr_file_open(&f, file, APR_FOPEN_READ, 0, pool) != APR_SUCCESS)
        return 0;
    if (apr_file_info_get(&fi, APR_FINFO_SIZE, f) == APR_SUCCESS) {
        buf = apr_palloc(pool, (apr_size_t)fi.size + 1);
        apr_file_read_full(f, buf, (apr_size_t)fi.size, &len);
        found = memmem(buf, len, text, strlen(text)) != NULL;
    }
    apr_file_close(f);
    return found;
}

/* A writer that commits without a pause, as a busy server does: four
 * events a transaction, each commit under the lock that pt_store_checkpoint
 * is given. Everything it uses is its own: APR pools are not shared
 * between threads. */
typedef struct {
    pt_store_conn_t c;
    apr_pool_t *pool;
    apr_thread_mutex_t *lock;
    volatile int stop;
    volatile int commits;
    int commits_at_unlock;      /* when pt_store_checkpoint let it go on */
    const char *error;
} busy_writer;

static void *APR_THREAD_FUNC busy_writer_main(apr_thread_t *t, void *data)
{
    busy_writer *w = data;
    apr_pool_t *iter;
    apr_int64_t id = 1000000;

    apr_pool_create(&iter, w->pool);
    while (!w->stop && !w->error) {
        pt_delivery_t d = { 0 };
        pt_store_job_t job = { 0 }, *jobs[1] = { &job };
        int i;

        apr_pool_clear(iter);
        d.events = apr_array_make(iter, 4, sizeof(pt_event_t));
        for (i = 0; i < 4; i++) {
            pt_event_t *ev = apr_array_push(d.events);

            memset(ev, 0, sizeof(*ev));
            ev->change = PT_CHANGE_UPSERT;
            ev->id = ++id;
            ev->change_version = "1";
            ev->date = "2026-02-10";
            ev->person_id = id % 997;
            ev->has_person = 1;
            ev->payload = apr_psprintf(iter, "{\"id\":%" APR_INT64_T_FMT
                                       "}", id);
        }
        d.rejects = apr_array_make(iter, 1, sizeof(pt_reject_t));
        job.delivery = &d;
        apr_thread_mutex_lock(w->lock);
        if (pt_store_commit(iter, &w->c, jobs, 1, 1, NULL) != 1)
            w->error = apr_pstrdup(w->pool, job.error);
        else
            w->commits++;
        apr_thread_mutex_unlock(w->lock);
    }
    /* A return, not apr_thread_exit: ASan takes the frame that
     * pthread_exit unwinds for one still in use. */
    return NULL;
}

static int busy_writer_lock(void *baton)
{
    busy_writer *w = baton;

    return apr_thread_mutex_lock(w->lock) == APR_SUCCESS ? 0 : -1;
}

static void busy_writer_unlock(void *baton)
{
    busy_writer *w = baton;

    w->commits_at_unlock = w->commits;
    apr_thread_mutex_unlock(w->lock);
}

/* The WAL's length in frames, as a PASSIVE checkpoint reports it in the
 * second column of its row (busy, log, checkpointed); -1 on error. */
static int wal_frames(const pt_store_conn_t *c)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *log = NULL;

    if (apr_dbd_select(c->driver, pool, c->handle, &res,
                       "PRAGMA wal_checkpoint(PASSIVE)", 0))
        return -1;
    while (apr_dbd_get_row(c->driver, pool, res, &row, -1) == 0)
        log = apr_pstrdup(pool, apr_dbd_get_entry(c->driver, row, 1));
    return log ? atoi(log) : -1;
}

/* SQLite starts its WAL over only when a writer finds all of it copied.
 * With writes going on during every copy, that needs pt_store_checkpoint's
 * last pass under the writers' lock; without it the WAL grows forever. */
static void sqlite_wal_starts_over(const apr_dbd_driver_t *driver,
                                   const char *path, pt_store_conn_t *c)
{
    busy_writer w = { 0 };
    apr_allocator_t *allocator;
    apr_thread_t *thread;
    apr_status_t rv;
    const char *err = NULL;
    int round, frames, after, mark = 0;

    apr_allocator_create(&allocator);
    apr_pool_create_ex(&w.pool, NULL, NULL, allocator);
    apr_allocator_owner_set(allocator, w.pool);
    w.c = *c;
    w.c.prepared = apr_hash_make(w.pool);
    ok(apr_dbd_open_ex(driver, w.pool, path, &w.c.handle, &err) == 0
       && pt_store_prepare(w.pool, &w.c, 0) == NULL,
       "sqlite3: a second connection for a busy writer");
    apr_thread_mutex_create(&w.lock, APR_THREAD_MUTEX_DEFAULT, pool);
    apr_thread_create(&thread, NULL, busy_writer_main, &w, pool);

    for (round = 0; round < 20 && !err; round++) {
        int before = w.commits;

        /* Let the writer fill the WAL, then copy while it keeps writing. */
        while (w.commits < before + 50 && !w.error)
            apr_sleep(1000);
        /* Where the WAL may start over: after the last pass, under the
         * lock; or, when a commit started it over during a pass (and
         * nothing was left to lock for), anywhere in the call. */
        w.commits_at_unlock = -1;
        mark = w.commits;
        err = pt_store_checkpoint(pool, c, busy_writer_lock,
                                  busy_writer_unlock, &w);
        if (w.commits_at_unlock >= 0)
            mark = w.commits_at_unlock;
    }
    is_str(err, NULL, "sqlite3: 20 checkpoints while a writer commits");
    while (w.commits < mark + 5 && !w.error)
        apr_sleep(1000);
    w.stop = 1;
    apr_thread_join(&rv, thread);
    is_str(w.error, NULL, "sqlite3: ... the writer's %d commits all worked",
           w.commits);

    frames = wal_frames(c);
    after = w.commits - mark;
    printf("# WAL: %d frames after %d commits, %d of them after the last "
           "checkpoint\n", frames, w.commits, after);
    ok(frames > 0 && frames <= after * 16,
       "sqlite3: ... the WAL holds only the commits after the last "
       "checkpoint (%d frames for %d commits)", frames, after);
    is_str(q(c, "SELECT COUNT(*) FROM protime_access_clockings"
             " WHERE id > 1000000"), apr_itoa(pool, w.commits * 4),
           "sqlite3: ... and every event of them is stored");
    apr_dbd_close(driver, w.c.handle);
    apr_pool_destroy(w.pool);
}

/* A connection outlives its file: removed, replaced, or opened read-only.
 * pt_store_sqlite_stale must say so, naming the file. */
static void sqlite_stale(const apr_dbd_driver_t *driver)
{
    const char *path = apr_psprintf(pool, "/tmp/test_store.%ld.stale.db",
                                    (long)getpid());
    pt_store_conn_t c, c2;
    const char *err = NULL, *why;

    memset(&c, 0, sizeof(c));
    c.driver = driver;
    c.dialect = PT_DB_SQLITE3;
    c2 = c;
    unlink(path);
    ok(apr_dbd_open_ex(driver, pool, path, &c.handle, &err) == 0
       && exec(&c, "CREATE TABLE t (x)") == 0,
       "sqlite3 stale: database opened: %s", err ? err : path);
    is_str(pt_store_sqlite_file(&c), path, "sqlite3 stale: its file named");
    is_str(pt_store_sqlite_stale(pool, &c), NULL,
           "sqlite3 stale: a fresh connection is not");
    is_int(unlink(path), 0, "sqlite3 stale: file removed");
    why = pt_store_sqlite_stale(pool, &c);
    ok(why && strstr(why, "removed or replaced") && strstr(why, path),
       "sqlite3 stale: ... the connection says so: %s", why ? why : "NULL");
    ok(apr_dbd_open_ex(driver, pool, path, &c2.handle, &err) == 0
       && exec(&c2, "CREATE TABLE t (x)") == 0,
       "sqlite3 stale: another file created at the path");
    is_str(pt_store_sqlite_stale(pool, &c2), NULL,
           "sqlite3 stale: ... its own connection is not stale");
    ok(pt_store_sqlite_stale(pool, &c) != NULL,
       "sqlite3 stale: ... the first one still is (replaced)");
    apr_dbd_close(driver, c.handle);
    apr_dbd_close(driver, c2.handle);

    /* Root writes whatever the mode says: no read-only open to see. */
    if (geteuid() == 0) {
        printf("# skipped as root: SQLite opening a read-only file\n");
    }
    else {
        ok(chmod(path, 0444) == 0
           && apr_dbd_open_ex(driver, pool, path, &c.handle, &err) == 0,
           "sqlite3 stale: file made read-only, then opened");
        why = pt_store_sqlite_stale(pool, &c);
        ok(why && strstr(why, "read-only") && strstr(why, path),
           "sqlite3 stale: ... the connection says so: %s",
           why ? why : "NULL");
        chmod(path, 0644);
        ok(pt_store_sqlite_stale(pool, &c) != NULL,
           "sqlite3 stale: ... and still does once the file is writable");
        apr_dbd_close(driver, c.handle);
    }
    unlink(path);
}

static void test_sqlite(void)
{
    const apr_dbd_driver_t *driver;
    pt_store_conn_t c, c2;
    const char *path, *err = NULL;
    pt_store_job_t *jobs[2], *job;
    busy_writer writers = { 0 };
    apr_time_t t0, elapsed;
    pt_event_t ev;
    int rv;

    rv = apr_dbd_get_driver(pool, "sqlite3", &driver);
    ok(rv == APR_SUCCESS, "sqlite3 driver loaded");
    if (rv != APR_SUCCESS)
        return;
    path = apr_psprintf(pool, "/tmp/test_store.%ld.db", (long)getpid());
    unlink(path);
    memset(&c, 0, sizeof(c));
    c.driver = driver;
    c.dialect = PT_DB_SQLITE3;
    c.prepared = apr_hash_make(pool);
    rv = apr_dbd_open_ex(driver, pool, path, &c.handle, &err);
    ok(rv == APR_SUCCESS, "sqlite3 database opened: %s", err ? err : path);
    if (rv != APR_SUCCESS)
        return;

    setup(&c, "sqlite3");
    is_str(q(&c, "PRAGMA journal_mode"), "wal", "sqlite3: WAL mode on");
    is_str(q(&c, "PRAGMA synchronous"), "1", "sqlite3: synchronous NORMAL");
    is_str(q(&c, "PRAGMA wal_autocheckpoint"), "0",
           "sqlite3: no checkpoint inside a COMMIT");
    core(&c, "sqlite3");
    records(&c, "sqlite3");
    refused(&c, "sqlite3");

    /* A commit stays in the WAL until pt_store_checkpoint copies it into
     * the database file itself. */
    ev = upsert(91, "checkpoint-marker-5f3a");
    jobs[0] = job_of(&ev, 1, NULL, 0);
    is_int(commit(&c, jobs, 1), 1, "sqlite3: a commit to checkpoint");
    ok(!file_contains(path, "checkpoint-marker-5f3a"),
       "sqlite3: ... not yet in the database file");
    apr_thread_mutex_create(&writers.lock, APR_THREAD_MUTEX_DEFAULT, pool);
    is_str(pt_store_checkpoint(pool, &c, busy_writer_lock, busy_writer_unlock,
                               &writers), NULL, "sqlite3: pt_store_checkpoint");
    ok(file_contains(path, "checkpoint-marker-5f3a"),
       "sqlite3: ... now in the database file");

    /* Another program changes the schema: our statements, prepared with
     * the legacy sqlite3_prepare(), must be prepared again. */
    c2 = c;
    c2.prepared = apr_hash_make(pool);
    rv = apr_dbd_open_ex(driver, pool, path, &c2.handle, &err);
    ok(rv == APR_SUCCESS && exec(&c2, "CREATE INDEX test_status"
                                 " ON protime_access_clockings (status)") == 0,
       "sqlite3: second connection changed the schema");
    job = commit1(&c, upsert(90, "1"));
    ok(!job->error && job->applied == 1,
       "sqlite3: ... commit still works: %s",
       job->error ? job->error : "no error");
    job = commit1(&c, upsert(90, "2"));
    ok(!job->error && job->applied == 1, "sqlite3: ... and again");

    /* Prepared again, some statements fail (a table renamed): none may
     * stay, so that the connection's user prepares them all again once the
     * table is back, rather than fail every batch for good. */
    ok(exec(&c2, "ALTER TABLE protime_refused RENAME TO protime_refused_away")
       == 0, "sqlite3: second connection renamed a table");
    job = commit1(&c, upsert(90, "3"));
    ok(job->error != NULL, "sqlite3: ... the commit fails: %s",
       job->error ? job->error : "no error");
    is_int((int)apr_hash_count(c.prepared), 0,
           "sqlite3: ... and leaves no statement prepared");
    ok(exec(&c2, "ALTER TABLE protime_refused_away RENAME TO protime_refused")
       == 0, "sqlite3: the table is back");
    is_str(pt_store_prepare(pool, &c, 0), NULL,
           "sqlite3: ... the statements are prepared again");
    job = commit1(&c, upsert(90, "3"));
    ok(!job->error && job->applied == 1, "sqlite3: ... and commits work: %s",
       job->error ? job->error : "no error");

    /* Another program holds the write lock: the commit must fail within a
     * bounded time and store nothing. */
    ok(exec(&c2, "BEGIN EXCLUSIVE") == 0,
       "sqlite3: second connection holds an exclusive lock");
    ev = upsert(80, "1");
    jobs[0] = job_of(&ev, 1, NULL, 0);
    ev = upsert(81, "1");
    jobs[1] = job_of(&ev, 1, NULL, 0);
    t0 = apr_time_now();
    is_int(commit(&c, jobs, 2), 0, "sqlite3: locked: nothing committed");
    is_int(last_waited, 1, "sqlite3: ... reported as a failure for waiting");
    elapsed = apr_time_now() - t0;
    printf("# commit against a locked database failed after %d ms: %s\n",
           (int)apr_time_as_msec(elapsed),
           jobs[0]->error ? jobs[0]->error : "(no error)");
    ok(jobs[0]->error && jobs[1]->error && strstr(jobs[0]->error, "BEGIN")
       && jobs[0]->applied == 0 && jobs[1]->applied == 0,
       "sqlite3: ... both jobs have the error, counts zeroed");
    ok(elapsed < apr_time_from_msec(PT_SQLITE_BUSY_TIMEOUT_MS + 2000),
       "sqlite3: ... within PT_SQLITE_BUSY_TIMEOUT_MS + 2 s (%d ms)",
       (int)apr_time_as_msec(elapsed));
    is_str(q(&c, "SELECT COUNT(*) FROM protime_access_clockings"
             " WHERE id IN (80, 81)"), "0", "sqlite3: ... nothing stored");
    ok(exec(&c2, "ROLLBACK") == 0, "sqlite3: lock released");
    jobs[0]->error = "not run";
    is_int(commit(&c, jobs, 1), 1, "sqlite3: commit works again");
    is_str(jobs[0]->error, NULL, "sqlite3: ... without error");

    apr_dbd_close(driver, c2.handle);
    is_str(q(&c, "PRAGMA journal_size_limit"),
           apr_itoa(pool, PT_STORE_WAL_LIMIT),
           "sqlite3: the WAL is cut back to PT_STORE_WAL_LIMIT bytes");
    sqlite_wal_starts_over(driver, path, &c);
    sqlite_stale(driver);
    apr_dbd_close(driver, c.handle);
    unlink(path);
    unlink(apr_pstrcat(pool, path, "-wal", NULL));
    unlink(apr_pstrcat(pool, path, "-shm", NULL));
}

/* The module shuts down the socket of a PostgreSQL call that has waited
 * too long (a frozen server): the call must then fail at once. */
static void pgsql_socket(const apr_dbd_driver_t *driver, const char *conninfo,
                         const pt_store_conn_t *c)
{
    pt_store_conn_t c2 = *c, lite = *c;
    const char *err = NULL;
    int fd, type = 0;
    socklen_t len = sizeof(type);
    apr_time_t t0;

    lite.dialect = PT_DB_SQLITE3;
    is_int(pt_store_pg_socket(&lite), -1, "pgsql socket: none for SQLite");
    ok(apr_dbd_open_ex(driver, pool, conninfo, &c2.handle, &err) == 0,
       "pgsql socket: second connection: %s", err ? err : "ok");
    fd = pt_store_pg_socket(&c2);
    ok(fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0
       && type == SOCK_STREAM, "pgsql socket: a stream socket (%d)", fd);
    ok(fd != pt_store_pg_socket(c), "pgsql socket: ... of its own");
    ok(exec(&c2, "SELECT 1") == 0, "pgsql socket: the connection works");
    ok(shutdown(fd, SHUT_RDWR) == 0, "pgsql socket: shut down");
    t0 = apr_time_now();
    ok(exec(&c2, "SELECT 1") != 0
       && apr_time_now() - t0 < apr_time_from_sec(2),
       "pgsql socket: ... the next statement fails at once");
    ok(exec(c, "SELECT 1") == 0, "pgsql socket: the first one still works");
    apr_dbd_close(driver, c2.handle);
}

/* Another program holds a lock on the table: the commit must fail within
 * PT_PGSQL_STATEMENT_TIMEOUT_MS (plus slack), store nothing, and work again
 * once the lock is gone. */
static void pgsql_locked(const apr_dbd_driver_t *driver, const char *conninfo,
                         const char *schema, const pt_store_conn_t *c)
{
    pt_store_conn_t c2 = *c;
    pt_store_job_t *jobs[2];
    pt_event_t ev;
    apr_time_t t0, elapsed;
    const char *err = NULL;

    ok(apr_dbd_open_ex(driver, pool, conninfo, &c2.handle, &err) == 0
       && exec(&c2, apr_psprintf(pool, "SET search_path TO %s", schema)) == 0
       && exec(&c2, "BEGIN") == 0
       && exec(&c2, "LOCK TABLE protime_access_clockings"
                    " IN ACCESS EXCLUSIVE MODE") == 0,
       "pgsql: second connection locks the table");
    ev = upsert(82, "1");
    jobs[0] = job_of(&ev, 1, NULL, 0);
    ev = upsert(83, "1");
    jobs[1] = job_of(&ev, 1, NULL, 0);
    t0 = apr_time_now();
    is_int(commit(c, jobs, 2), 0, "pgsql: locked: nothing committed");
    is_int(last_waited, 1, "pgsql: ... reported as a failure for waiting");
    elapsed = apr_time_now() - t0;
    printf("# pgsql: commit against a locked table failed after %d ms: %s\n",
           (int)apr_time_as_msec(elapsed),
           jobs[0]->error ? jobs[0]->error : "(no error)");
    ok(jobs[0]->error && jobs[1]->error && strstr(jobs[0]->error, "timeout"),
       "pgsql: ... both jobs fail with the statement timeout");
    ok(elapsed < apr_time_from_msec(PT_PGSQL_STATEMENT_TIMEOUT_MS + 2000),
       "pgsql: ... within PT_PGSQL_STATEMENT_TIMEOUT_MS + 2 s, no retry alone (%d ms)",
       (int)apr_time_as_msec(elapsed));
    ok(exec(&c2, "ROLLBACK") == 0, "pgsql: lock released");
    is_str(q(c, "SELECT COUNT(*) FROM protime_access_clockings"
             " WHERE id IN (82, 83)"), "0", "pgsql: ... nothing stored");
    jobs[0]->error = "not run";
    is_int(commit(c, jobs, 1), 1, "pgsql: commit works again");
    is_str(jobs[0]->error, NULL, "pgsql: ... without error");
    apr_dbd_close(driver, c2.handle);
}

/* The locale of the messages of the PostgreSQL sessions in pgsql_german:
 * the server needs it among its operating system's locales (tools/deps.sh
 * provides it). */
#define GERMAN "de_DE.UTF-8"

/* Runs sql on c until its first column reads want (1), or 10 s passed (0). */
static int wait_for(const pt_store_conn_t *c, const char *want,
                    const char *sql)
{
    int i;

    for (i = 0; i < 1000; i++) {
        if (!strcmp(q(c, "%s", sql), want))
            return 1;
        apr_sleep(apr_time_from_msec(10));
    }
    return 0;
}

/* The victim of a deadlock, in a thread of its own: one job with a pool
 * of its own, the main thread meanwhile holding the other end. */
typedef struct {
    pt_store_conn_t c;
    apr_pool_t *pool;
    pt_store_job_t job;
    int commits;
} deadlock_victim;

static void *APR_THREAD_FUNC deadlock_victim_main(apr_thread_t *t, void *data)
{
    deadlock_victim *v = data;
    pt_store_job_t *jobs[1] = { &v->job };

    v->commits = pt_store_commit(v->pool, &v->c, jobs, 1, 2, NULL);
    return NULL;
}

/* A connection of pt_store whose server speaks German; its search_path
 * and lc_messages in the conninfo, so that a reset session gets them too. */
static int german_conn(const apr_dbd_driver_t *driver, const char *conninfo,
                       const char *schema, pt_store_conn_t *de)
{
    const char *err = NULL;

    de->prepared = apr_hash_make(pool);
    ok(apr_dbd_open_ex(driver, pool,
                       apr_psprintf(pool, "%s options='-c search_path=%s"
                                    " -c lc_messages=" GERMAN "'",
                                    conninfo, schema), &de->handle, &err) == 0
       && pt_store_prepare(pool, de, 0) == NULL,
       "pgsql " GERMAN ": connected, statements prepared (%s)",
       err ? err : "ok");
    return err == NULL;
}

/* What pt_store tells apart among PostgreSQL's errors, a server that
 * speaks German: statements gone with the session of a connection that
 * apr_dbd_pgsql revived (PQreset), and a transaction chosen as a
 * deadlock's victim. */
static void pgsql_german(const apr_dbd_driver_t *driver, const char *conninfo,
                         const char *schema, const pt_store_conn_t *c)
{
    pt_store_conn_t de = *c, c2 = *c;
    deadlock_victim v;
    apr_allocator_t *allocator;
    apr_thread_t *thread;
    apr_status_t rv;
    pt_store_job_t *job;
    pt_delivery_t *d;
    const char *err = NULL, *pid;

    if (!german_conn(driver, conninfo, schema, &de))
        return;
    rv = exec(&de, "SELECT no_such_column");
    if ((err = apr_dbd_error(driver, de.handle, rv)) == NULL)
        err = "";
    ok(rv && strstr(err, "existiert nicht") != NULL,
       "pgsql " GERMAN ": the server's messages are German: %s",
       apr_pstrmemdup(pool, err, strcspn(err, "\n")));

    /* The server ends the session; mod_dbd's check of the connection
     * (apr_dbd_check_conn) then resets it on the same handle. */
    pid = q(&de, "SELECT pg_backend_pid()");
    is_str(q(c, "SELECT CAST(pg_terminate_backend(%s) AS TEXT)", pid), "true",
           "pgsql " GERMAN ": session %s ended by the server", pid);
    ok(wait_for(c, "0", apr_psprintf(pool, "SELECT COUNT(*) FROM"
                                     " pg_stat_activity WHERE pid = %s",
                                     pid)),
       "pgsql " GERMAN ": ... and gone");
    job = commit1(&de, upsert(84, "1"));
    ok(job->error != NULL, "pgsql " GERMAN ": the connection is lost: %s",
       job->error ? job->error : "(no error)");
    ok(apr_dbd_check_conn(driver, pool, de.handle) == APR_SUCCESS,
       "pgsql " GERMAN ": ... and reset (apr_dbd_check_conn)");
    job = commit1(&de, upsert(84, "1"));
    ok(!job->error && job->applied == 1,
       "pgsql " GERMAN ": the statements are prepared again, the commit "
       "works: %s", job->error ? job->error : "ok");

    /* A deadlock: the victim (de, in a thread) upserts 85 then 86; c2
     * holds 86, and asks for 85 once the victim waits, so that the
     * victim's deadlock_timeout runs out first. Run again at once, it may
     * take 85 before c2 woke up: c2, waiting first then, is the next
     * victim, and de commits all the same. */
    apr_dbd_close(driver, de.handle);
    if (!german_conn(driver, conninfo, schema, &de))
        return;
    job = commit1(&de, upsert(85, "1"));
    job = commit1(&de, upsert(86, "1"));
    ok(apr_dbd_open_ex(driver, pool, conninfo, &c2.handle, &err) == 0
       && exec(&c2, apr_psprintf(pool, "SET search_path TO %s", schema)) == 0
       && exec(&c2, "BEGIN") == 0
       && exec(&c2, "UPDATE protime_access_clockings SET status = 'c2'"
                    " WHERE id = 86") == 0,
       "pgsql " GERMAN ": a second connection holds row 86");
    pid = q(&de, "SELECT pg_backend_pid()");
    apr_allocator_create(&allocator);
    apr_pool_create_ex(&v.pool, NULL, NULL, allocator);
    apr_allocator_owner_set(allocator, v.pool);
    v.c = de;
    memset(&v.job, 0, sizeof(v.job));
    d = apr_pcalloc(v.pool, sizeof(*d));
    d->events = apr_array_make(v.pool, 2, sizeof(pt_event_t));
    APR_ARRAY_PUSH(d->events, pt_event_t) = upsert(85, "2");
    APR_ARRAY_PUSH(d->events, pt_event_t) = upsert(86, "2");
    v.job.delivery = d;
    v.commits = -1;
    apr_thread_create(&thread, NULL, deadlock_victim_main, &v, pool);
    ok(wait_for(c, "Lock", apr_psprintf(pool, "SELECT wait_event_type FROM"
                                        " pg_stat_activity WHERE pid = %s",
                                        pid)),
       "pgsql " GERMAN ": the victim waits for row 86");
    rv = exec(&c2, "UPDATE protime_access_clockings SET status = 'c2'"
                   " WHERE id = 85");
    printf("# pgsql " GERMAN ": the second connection asked for row 85: "
           "%s\n", rv ? "chosen as a victim in its turn" : "got it");
    ok(exec(&c2, "ROLLBACK") == 0, "pgsql " GERMAN ": the second connection "
       "lets go");
    apr_thread_join(&rv, thread);
    is_int(v.commits, 1, "pgsql " GERMAN ": the victim ran again and "
           "committed: %s", v.job.error ? v.job.error : "ok");
    is_str(q(c, "SELECT string_agg(change_version, ',' ORDER BY id) FROM"
             " protime_access_clockings WHERE id IN (85, 86)"), "2,2",
           "pgsql " GERMAN ": ... both rows stored");
    apr_pool_destroy(v.pool);
    apr_dbd_close(driver, c2.handle);
    apr_dbd_close(driver, de.handle);
}

static void test_pgsql(void)
{
    const char *conninfo = getenv("PROTIME_TEST_PGSQL");
    const apr_dbd_driver_t *driver;
    const char *schema, *err = NULL;
    pt_store_conn_t c;
    int rv;

    if (!conninfo || !*conninfo) {
        printf("# skip pgsql (set PROTIME_TEST_PGSQL to a conninfo string)\n");
        return;
    }
    rv = apr_dbd_get_driver(pool, "pgsql", &driver);
    ok(rv == APR_SUCCESS, "pgsql driver loaded");
    if (rv != APR_SUCCESS)
        return;
    memset(&c, 0, sizeof(c));
    c.driver = driver;
    c.dialect = PT_DB_PGSQL;
    c.prepared = apr_hash_make(pool);
    rv = apr_dbd_open_ex(driver, pool, conninfo, &c.handle, &err);
    ok(rv == APR_SUCCESS, "pgsql: connected: %s", err ? err : "ok");
    if (rv != APR_SUCCESS)
        return;
    schema = apr_psprintf(pool, "protime_test_%ld", (long)getpid());
    ok(exec(&c, apr_psprintf(pool, "CREATE SCHEMA %s", schema)) == 0
       && exec(&c, apr_psprintf(pool, "SET search_path TO %s", schema)) == 0,
       "pgsql: private schema %s", schema);

    setup(&c, "pgsql");
    is_str(q(&c, "SELECT collation_name FROM information_schema.columns"
             " WHERE table_schema = current_schema()"
             " AND table_name = 'protime_access_clockings'"
             " AND column_name = 'change_version'"), "C",
           "pgsql: change_version has the C collation");
    printf("# pgsql: database default: 'a' > 'Z' is %s\n",
           q(&c, "SELECT CAST('a' > 'Z' AS TEXT)"));
    is_str(q(&c, "SELECT collation_name FROM information_schema.columns"
             " WHERE table_schema = current_schema()"
             " AND table_name = 'protime_records'"
             " AND column_name = 'change_version'"), "C",
           "pgsql: records: change_version has the C collation");
    is_str(q(&c, "SELECT data_type FROM information_schema.columns"
             " WHERE table_schema = current_schema()"
             " AND table_name = 'protime_records'"
             " AND column_name = 'data'"), "jsonb",
           "pgsql: records: data is jsonb");
    core(&c, "pgsql");
    records(&c, "pgsql");
    refused(&c, "pgsql");
    /* A database of a version without the last tables of today's schema,
     * and without the view that comes with them. */
    ok(exec(&c, "DROP TABLE protime_records CASCADE") == 0
       && exec(&c, "DROP TABLE protime_delta") == 0,
       "pgsql: protime_records and protime_delta dropped, as before they "
       "existed");
    is_str(pt_store_create_schema(pool, &c), NULL,
           "pgsql: ... the schema created again");
    is_str(q(&c, "SELECT COUNT(*) FROM protime_people"), "0",
           "pgsql: ... with protime_records and protime_people");
    is_str(q(&c, "SELECT COUNT(*) FROM protime_delta"), "0",
           "pgsql: ... and protime_delta");
    /* One of the version before protime_delta only. */
    ok(exec(&c, "DROP TABLE protime_delta") == 0,
       "pgsql: protime_delta dropped, as before it existed");
    is_str(pt_store_create_schema(pool, &c), NULL,
           "pgsql: ... the schema created again");
    is_str(q(&c, "SELECT COUNT(*) FROM protime_delta"), "0",
           "pgsql: ... with protime_delta");

    pgsql_locked(driver, conninfo, schema, &c);
    pgsql_german(driver, conninfo, schema, &c);
    pgsql_socket(driver, conninfo, &c);

    ok(exec(&c, apr_psprintf(pool, "DROP SCHEMA %s CASCADE", schema)) == 0,
       "pgsql: private schema dropped");
    apr_dbd_close(driver, c.handle);
}

/* pt_store_sqlstate: libpq's verbose messages, as pt_store_error passes
 * them on (one line, "what: " first), in any language. */
static void test_sqlstate(void)
{
    is_str(pt_store_sqlstate(pool, "protime_upsert (id 86): ERROR:  40P01: "
                             "deadlock detected  DETAIL:  Process 1 waits"),
           "40P01", "sqlstate: English");
    is_str(pt_store_sqlstate(pool, "protime_upsert (id 86): FEHLER:  40P01: "
                             "Verklemmung (Deadlock) entdeckt"),
           "40P01", "sqlstate: German");
    is_str(pt_store_sqlstate(pool, "protime_upsert (id 84): "
                             "\xd0\x9e\xd0\xa8\xd0\x98\xd0\x91\xd0\x9a\xd0\x90:  26000: "
                             "\xd0\xbf\xd0\xbe\xd0\xb4\xd0\xb3\xd0\xbe\xd1\x82\xd0\xbe\xd0\xb2\xd0\xbb\xd0\xb5\xd0\xbd\xd0\xbd\xd1\x8b\xd0\xb9 ..."),
           "26000", "sqlstate: Russian (a severity not in ASCII)");
    is_str(pt_store_sqlstate(pool, "COMMIT: ERROR:  23505: duplicate key"),
           "23505", "sqlstate: after a what without parentheses");
    is_str(pt_store_sqlstate(pool, "protime_upsert (id 86): ERROR:  "
                             "deadlock detected"), NULL,
           "sqlstate: none in a message of the default verbosity");
    is_str(pt_store_sqlstate(pool, "BEGIN: server closed the connection "
                             "unexpectedly"), NULL,
           "sqlstate: none in libpq's own errors");
    is_str(pt_store_sqlstate(pool, "BEGIN: ERROR:  40P0"), NULL,
           "sqlstate: none when cut short");
    is_str(pt_store_sqlstate(pool, "BEGIN: ERROR:  40p01: x"), NULL,
           "sqlstate: digits and capitals only");
    is_str(pt_store_sqlstate(pool, NULL), NULL, "sqlstate: none in NULL");
}

/* A batch failed by its caller ends as pt_store_commit leaves a failed
 * job. */
static void test_fail_jobs(void)
{
    pt_event_t ev = upsert(1, "A");
    pt_store_job_t *jobs[2];
    int i;

    jobs[0] = job_of(&ev, 1, NULL, 0);
    jobs[1] = job_of(&ev, 1, NULL, 0);
    jobs[1]->applied = 1;
    jobs[1]->error = NULL;
    pt_store_fail_jobs(jobs, 2, "no connection");
    for (i = 0; i < 2; i++) {
        ok(jobs[i]->applied == 0 && jobs[i]->deletes == 0
           && jobs[i]->stale == 0 && jobs[i]->quarantined == 0,
           "failed job %d: counts zeroed", i);
        is_str(jobs[i]->error, "no connection", "failed job %d: its error", i);
    }
}

int main(void)
{
    pt_dialect_t d;

    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    apr_dbd_init(pool);

    ok(pt_store_dialect("sqlite3", &d) == NULL && d == PT_DB_SQLITE3,
       "dialect sqlite3");
    ok(pt_store_dialect("pgsql", &d) == NULL && d == PT_DB_PGSQL,
       "dialect pgsql");
    ok(pt_store_dialect("mysql", &d) != NULL, "dialect mysql refused");

    test_sqlstate();
    test_fail_jobs();
    test_sqlite();
    test_pgsql();
    return tap_done();
}
