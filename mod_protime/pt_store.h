/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_store: the SQL of mod_protime, run through apr_dbd.
 *
 * Pure unit: APR, APR-util DBD and jansson only, and libpq's header for the
 * one libpq call it makes (pt_store.c says why and how). The same code
 * serves the module (connections from mod_dbd), the unit tests
 * (apr_dbd_open on a test database) and the subscription job.
 *
 * The changeVersion rule lives in one statement per table: "protime_upsert"
 * for access clockings (protime_access_clockings, per id), and
 * "protime_records_upsert" for every other collection (protime_records, per
 * collection and id; an event's collection picks the table). The row keeps
 * the change with the highest changeVersion, compared as bytes (C
 * collation). A lower or equal version changes nothing. A Delete keeps the row
 * as a tombstone (deleted = 1, its changeVersion, the last data columns kept)
 * so that an older InsertOrUpdate cannot bring it back; a newer one does.
 */
#ifndef PT_STORE_H
#define PT_STORE_H

#include <apr_pools.h>
#include <apr_hash.h>
#include <apr_tables.h>
#include <apr_dbd.h>
#include "pt_event.h"

typedef enum {
    PT_DB_SQLITE3 = 0,
    PT_DB_PGSQL = 1
} pt_dialect_t;

/* Labels of the prepared statements. */
#define PT_STMT_UPSERT      "protime_upsert"
#define PT_STMT_RECORDS_UPSERT "protime_records_upsert"
#define PT_STMT_QUARANTINE  "protime_quarantine"
#define PT_STMT_SUB_SELECT  "protime_sub_select"
#define PT_STMT_SUB_KEYS    "protime_sub_keys"
#define PT_STMT_SUB_INSERT  "protime_sub_insert"
#define PT_STMT_SUB_UPDATE  "protime_sub_update"
#define PT_STMT_SUB_DELETE  "protime_sub_delete"
#define PT_STMT_SYNC_SELECT "protime_sync_select"
#define PT_STMT_SYNC_SAVE   "protime_sync_save"
#define PT_STMT_DELTA_SELECT "protime_delta_select"
#define PT_STMT_DELTA_SAVE  "protime_delta_save"
#define PT_STMT_LEASE_TAKE  "protime_lease_take"
#define PT_STMT_LEASE_SELECT "protime_lease_select"
#define PT_STMT_REFUSED_INSERT "protime_refused_insert"
#define PT_STMT_REFUSED_TRIM "protime_refused_trim"

/* How often SQLite waits for a lock held by another program before it gives
 * up with SQLITE_BUSY (milliseconds). Our own writers queue on a mutex. */
#define PT_SQLITE_BUSY_TIMEOUT_MS 2000

/* Longest a PostgreSQL statement of ours may run, lock waits included
 * (SET LOCAL statement_timeout), so that a request never waits unboundedly
 * for a lock another program holds. */
#define PT_PGSQL_STATEMENT_TIMEOUT_MS 5000

/* A connection with its prepared statements. */
typedef struct {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    pt_dialect_t dialect;
    apr_hash_t *prepared;       /* label -> apr_dbd_prepared_t* */
} pt_store_conn_t;

/* Maps an apr_dbd driver name ("sqlite3", "pgsql") to a dialect. Returns
 * NULL on success, else an error naming the supported drivers. */
const char *pt_store_dialect(const char *driver_name, pt_dialect_t *out);

/* Creates the tables when missing (idempotent; CREATE ... IF NOT EXISTS) and,
 * for SQLite, switches the file to WAL mode. Returns NULL or an error. */
const char *pt_store_create_schema(apr_pool_t *p, const pt_store_conn_t *c);

/* Per-connection settings (SQLite: busy_timeout, synchronous = sync_full ?
 * FULL : NORMAL, no automatic WAL checkpoints, see below, and a WAL kept
 * to PT_STORE_WAL_LIMIT bytes once it starts over; PostgreSQL:
 * nothing) then prepares every statement into c->prepared (which must
 * exist) under its label, from p (whose lifetime must be the connection's).
 * Returns NULL or an error. pt_store_commit prepares them again when
 * SQLite or PostgreSQL lost them; should that fail with SQLite,
 * c->prepared is left empty, and the connection's user must call
 * pt_store_prepare again. */
#define PT_STORE_WAL_LIMIT (64 * 1024 * 1024)
const char *pt_store_prepare(apr_pool_t *p, pt_store_conn_t *c, int sync_full);

/* SQLite copies its WAL back into the database file every so often. Left to
 * itself it does so inside a COMMIT, while the write lock is held, which
 * stalls every waiting delivery for tens of milliseconds. So connections
 * prepared here do not checkpoint by themselves: their user calls
 * pt_store_checkpoint about every PT_STORE_CHECKPOINT_COMMITS commits,
 * outside any transaction.
 *
 * Copying is not enough: SQLite starts the WAL over only when a writer
 * finds every frame of it copied, which never happens while others keep
 * writing during the copy, and the WAL then grows without bound. So
 * pt_store_checkpoint copies (PRAGMA wal_checkpoint(PASSIVE)) in passes
 * while others write, each pass taking what the previous one left, and
 * copies the last few frames with lock(baton) held; lock must keep every
 * writer of this database that the caller knows of out until
 * unlock(baton), and returns 0 when it did; it may put another connection
 * to the same database into *c meanwhile (a caller whose writers take
 * their lock before a connection gives c's back first), and the last pass
 * runs on that one. That last pass copies all of the WAL and syncs the
 * database file; the next commit then starts the WAL over, and PRAGMA
 * journal_size_limit (set by pt_store_prepare) gives back the space a
 * burst made it take. Returns NULL or an error; does nothing
 * for PostgreSQL. */
#define PT_STORE_CHECKPOINT_COMMITS 1000
const char *pt_store_checkpoint(apr_pool_t *p, const pt_store_conn_t *c,
                                int (*lock)(void *baton),
                                void (*unlock)(void *baton), void *baton);

/* The SQLSTATE (5 characters, from p) in err, an error of pt_store's
 * from a PostgreSQL connection whose libpq put it in the message
 * (PQERRORS_VERBOSE: "ERROR:  40P01: deadlock detected"), else NULL. */
const char *pt_store_sqlstate(apr_pool_t *p, const char *err);

/* Why c, an SQLite connection that still answers, no longer stores
 * anything where it should (a message from p naming the file), or NULL,
 * always for PostgreSQL: its database file was removed or replaced since
 * c opened it, and commits would go to a file no one will read again; or
 * c has the file open read-only, as SQLite opens, silently and for good,
 * a file that is not writable at the time. Either lasts as long as c:
 * the database must be opened again (pt_store_sqlite_file names it). */
const char *pt_store_sqlite_stale(apr_pool_t *p, const pt_store_conn_t *c);

/* The file c's SQLite database is in, as c opened it; NULL if none. */
const char *pt_store_sqlite_file(const pt_store_conn_t *c);

/* The socket of c's PostgreSQL connection, or -1 (SQLite, no libpq found,
 * no connection). */
int pt_store_pg_socket(const pt_store_conn_t *c);

/* What applying one delivery did. */
typedef struct {
    const pt_delivery_t *delivery;  /* in */
    int applied;        /* events that changed a row (deletes included) */
    int deletes;        /* of which Deletes */
    int stale;          /* duplicates and older versions: nothing changed */
    int quarantined;    /* rejects stored in protime_quarantine */
    const char *error;  /* NULL when committed, else why it was rolled back */
} pt_store_job_t;

/* Applies the jobs' events (upserts) and rejects (quarantine rows) in one
 * transaction. If that transaction fails and there was more than one job,
 * each job is retried in a transaction of its own, so that one bad job never
 * fails the others. On return every job has either error == NULL (committed)
 * or error set and its counts zeroed (nothing of it stored). now_us is the
 * updated_at / received_at value (Unix microseconds). Returns the number of
 * transactions committed (1 when the shared one succeeded). When the shared
 * transaction failed only after PT_STORE_WAITED or longer, it failed for
 * waiting (a lock held elsewhere, a timeout, a slow network), not because of
 * a job's data: then no job is retried alone, which would only multiply the
 * wait, and *waited (if not NULL) is set to 1, else to 0.
 *
 * Retried as a whole first: after statements the connection lost (SQLite:
 * the schema changed; PostgreSQL: apr_dbd_pgsql revived the connection
 * with PQreset, SQLSTATE 26000), prepared again; PostgreSQL, after being
 * chosen as a deadlock's victim (40P01), up to PT_STORE_DEADLOCK_TRIES
 * runs in all. */
#define PT_STORE_WAITED apr_time_from_msec(500)
#define PT_STORE_DEADLOCK_TRIES 3
int pt_store_commit(apr_pool_t *p, const pt_store_conn_t *c,
                    pt_store_job_t **jobs, int njobs, apr_int64_t now_us,
                    int *waited);

/* Marks jobs[0 .. n) as not stored, as pt_store_commit leaves a failed
 * job: counts zeroed, error set (it must outlive the jobs' readers). For
 * a caller's own reasons to fail a batch: no connection, a lock held
 * elsewhere, a database file replaced while the batch was committed. */
void pt_store_fail_jobs(pt_store_job_t **jobs, int n, const char *error);

/* ---- subscription state (pt_sub) -------------------------------------- */

typedef enum {
    PT_WEBHOOK_ACTIVE = 0,      /* the one in use */
    PT_WEBHOOK_RETIRING,        /* replaced; deleted at Protime at retire_at */
    PT_WEBHOOK_RETIRED          /* deleted at Protime; key kept to valid_until */
} pt_webhook_state_t;

/* A row of protime_subscriptions. Times are apr_time_t (microseconds). */
typedef struct {
    const char *webhook_id;
    const char *key;
    pt_webhook_state_t state;
    apr_time_t valid_until;
    apr_time_t created_at;
    apr_time_t checked_at;      /* last confirmed at Protime */
    apr_time_t retire_at;       /* 0 unless retiring */
} pt_store_webhook_t;

/* The row of protime_sync; all zero (pending 0) when there is none. */
typedef struct {
    int pending;
    const char *window_from;    /* YYYY-MM-DD, NULL before the first window */
    const char *next_link;      /* NULL: the window starts from its beginning */
    apr_int64_t rows;
    apr_int64_t pages;
    apr_time_t started_at;
    apr_time_t finished_at;
} pt_store_sync_t;

/* The webhooks of tenant and destination, oldest first, into *out (an
 * array of pt_store_webhook_t). Returns NULL or an error. */
const char *pt_store_webhooks(apr_pool_t *p, const pt_store_conn_t *c,
                              const char *tenant, const char *destination,
                              apr_array_header_t **out);

/* The keys (const char *) of the webhooks of tenant and destination that
 * are valid at now: what deliveries may be signed with. */
const char *pt_store_webhook_keys(apr_pool_t *p, const pt_store_conn_t *c,
                                  const char *tenant, const char *destination,
                                  apr_time_t now, apr_array_header_t **out);

const char *pt_store_sync_load(apr_pool_t *p, const pt_store_conn_t *c,
                               const char *tenant, const char *destination,
                               pt_store_sync_t *out);

/* One change of the subscription state, made in one transaction so that a
 * crash never leaves half of it: a webhook to insert (with its key, before
 * anything relies on it), one to update (state, times), one to delete (by
 * id), and the sync row to write. Each part may be NULL. */
typedef struct {
    const pt_store_webhook_t *insert;
    const pt_store_webhook_t *update;
    const char *remove;
    const pt_store_sync_t *sync;
} pt_store_sub_change_t;

const char *pt_store_sub_save(apr_pool_t *p, const pt_store_conn_t *c,
                              const char *tenant, const char *destination,
                              const pt_store_sub_change_t *change);

/* The lease "name" (one per subscription): taken for owner until `until`
 * when nobody holds it, its holder let it expire (before now), or owner
 * holds it already (a renewal), in one statement, so that of several
 * servers asking at once exactly one gets it. *held tells whether owner
 * holds it now; *holder and *holder_until (if not NULL) who does, and
 * until when. One statement in its own transaction. */
const char *pt_store_lease(apr_pool_t *p, const pt_store_conn_t *c,
                           const char *name, const char *owner,
                           apr_time_t now, apr_time_t until, int *held,
                           const char **holder, apr_time_t *holder_until);

/* ---- reconciliation by delta (pt_sub) ---------------------------------- */

/* The row of protime_delta for a tenant and destination; all NULL and 0
 * when there is none. A delta follows one full re-synchronisation, the
 * one that finished at synced_at: while it is being started, next_link is
 * the next page of the list that starts it; once started, delta_link is
 * what to fetch next, and updated_at when it was last stored. */
typedef struct {
    const char *collection;
    const char *delta_link;
    const char *next_link;
    apr_time_t synced_at;
    apr_time_t updated_at;
} pt_store_delta_t;

const char *pt_store_delta_load(apr_pool_t *p, const pt_store_conn_t *c,
                                const char *tenant, const char *destination,
                                pt_store_delta_t *out);
/* Writes the row, in a statement of its own. */
const char *pt_store_delta_save(apr_pool_t *p, const pt_store_conn_t *c,
                                const char *tenant, const char *destination,
                                const pt_store_delta_t *d);

/* ---- refused deliveries, for support (ProtimeCaptureRefused) ----------- */

/* protime_refused keeps this many deliveries per location, and of each
 * body its first PT_STORE_REFUSED_BODY bytes, and its first
 * PT_STORE_REFUSED_HEADERS headers, each name and value cut to
 * PT_STORE_REFUSED_VALUE bytes: a row stays below 30 KB, whatever the
 * request was. */
#define PT_STORE_REFUSED_KEEP 20
#define PT_STORE_REFUSED_BODY 4096
#define PT_STORE_REFUSED_HEADERS 40
#define PT_STORE_REFUSED_VALUE 256

/* A delivery refused for its signature, as it arrived. */
typedef struct {
    const char *location;
    const char *reason;
    const apr_table_t *headers;
    const char *signature_header;   /* cut, whatever its name */
    const char *body;
    apr_size_t body_len;
} pt_store_refused_t;

/* Stores r in protime_refused at now_us and deletes the rows of its
 * location but the last PT_STORE_REFUSED_KEEP, in one transaction. The
 * headers go in with the values cut to their length of the signature
 * header and of every header whose name looks secret (Authorization,
 * Cookie, anything with "signature", "secret", "token", "key" and the
 * like): the table must not hold what would let its reader sign or log
 * in. Returns NULL or an error. */
const char *pt_store_capture(apr_pool_t *p, const pt_store_conn_t *c,
                             const pt_store_refused_t *r, apr_int64_t now_us);

#endif /* PT_STORE_H */
