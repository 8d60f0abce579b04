/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_store: the SQL of mod_protime, run through apr_dbd (see pt_store.h).
 *
 * What apr_dbd_sqlite3 (apr-util 1.6 and 1.7) does shapes this file:
 *
 * - apr_dbd_transaction_start runs "BEGIN IMMEDIATE": the write lock is
 *   taken at BEGIN, never in the middle of a delivery. When BEGIN fails the
 *   driver still returns a transaction object and remembers it on the
 *   handle, so apr_dbd_transaction_end is needed all the same.
 * - Each sqlite3_step that returns SQLITE_BUSY is tried 16 times in all,
 *   with apr_sleep(100 ms) after each busy try, and every try first waits in
 *   SQLite's busy handler (PRAGMA busy_timeout) while holding apr_dbd's
 *   process-wide mutex. A statement facing a lock that stays taken thus
 *   fails after 16 * (busy_timeout + 100 ms); busy_timeout is chosen so that
 *   this stays near PT_SQLITE_BUSY_TIMEOUT_MS.
 * - apr_dbd_query treats a returned row as an error, hence apr_dbd_select
 *   for the PRAGMAs, whose rows are always read to the end.
 * - After a failed statement in a transaction, the driver refuses the
 *   following ones and ends the transaction with ROLLBACK.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <apr_atomic.h>
#include <apr_base64.h>
#include <apr_escape.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "pt_store.h"
#include "pt_clock.h"
#include "pt_schema.h"

#define PT_STORE_SQLITE_TRIES 16
/* PostgreSQL advisory lock key of the schema creation ("PT" in ASCII). */
#define PT_STORE_SCHEMA_LOCK 20564
/* The SQLSTATEs pt_store tells apart (PostgreSQL manual, appendix A). */
#define PT_STORE_SQLSTATE_DEADLOCK "40P01"
#define PT_STORE_SQLSTATE_NO_STATEMENT "26000"
/* Every transaction of the module's own on PostgreSQL starts with it. */
#define PT_STORE_PG_TIMEOUT_SQL                                         \
    "SET LOCAL statement_timeout = "                                    \
    APR_STRINGIFY(PT_PGSQL_STATEMENT_TIMEOUT_MS)
/* pt_store_checkpoint: at most this many passes while others write; a
 * pass that found no more than TAIL new frames (a page each) is the last,
 * and what remains is copied while they wait. */
#define PT_STORE_CHECKPOINT_PASSES 4
#define PT_STORE_CHECKPOINT_TAIL 64
#define PT_STORE_SQLITE_SLEEP_MS 100
#define PT_STORE_SQLITE_BUSY_MS                                         \
    (PT_SQLITE_BUSY_TIMEOUT_MS / PT_STORE_SQLITE_TRIES                  \
     > PT_STORE_SQLITE_SLEEP_MS                                         \
     ? PT_SQLITE_BUSY_TIMEOUT_MS / PT_STORE_SQLITE_TRIES                \
       - PT_STORE_SQLITE_SLEEP_MS                                       \
     : 0)

/* A Delete keeps the row's last data columns and payload; an
 * InsertOrUpdate replaces them all, NULLs included. */
#define PT_STORE_DATA(col)                                              \
    col " = CASE WHEN excluded.deleted = 1 THEN c." col                 \
    " ELSE excluded." col " END, "

/* The changeVersion rule in one statement per table, so that concurrent
 * writers (other processes, other servers) never interleave a read and a
 * write. The comparison takes the collation of c.change_version: BINARY in
 * SQLite, "C" in PostgreSQL, bytes in both. %pDd makes PostgreSQL type the
 * date parameter as date; SQLite binds it as text like %s. */
static const char pt_store_upsert_sql[] =
    "INSERT INTO protime_access_clockings AS c"
    " (id, change_version, deleted, person_id, date, time_of_day_minutes,"
    " terminal_id, status, person_refs, terminal_refs, payload, updated_at)"
    " VALUES (%lld, %s, %d, %lld, %pDd, %d, %lld, %s, %s, %s, %s, %lld)"
    " ON CONFLICT (id) DO UPDATE SET"
    " change_version = excluded.change_version,"
    " deleted = excluded.deleted, "
    PT_STORE_DATA("person_id")
    PT_STORE_DATA("date")
    PT_STORE_DATA("time_of_day_minutes")
    PT_STORE_DATA("terminal_id")
    PT_STORE_DATA("status")
    PT_STORE_DATA("person_refs")
    PT_STORE_DATA("terminal_refs")
    PT_STORE_DATA("payload")
    "updated_at = excluded.updated_at"
    " WHERE excluded.change_version > c.change_version";

/* The same rule for every other collection, whose data is kept whole; it
 * differs from the statement above only in its key and its columns. data
 * is jsonb in PostgreSQL, which takes text only by an explicit cast, and
 * TEXT in SQLite, where the same cast would turn it into a number (the
 * type name "jsonb" has NUMERIC affinity): hence a text per dialect, the
 * SQLite one in pt_store_statements, PostgreSQL's chosen when preparing. */
#define PT_STORE_RECORDS_UPSERT(json_type)                              \
    "INSERT INTO protime_records AS c"                                  \
    " (collection, id, change_version, deleted, data, updated_at)"      \
    " VALUES (%s, %lld, %s, %d, CAST(%s AS " json_type "), %lld)"       \
    " ON CONFLICT (collection, id) DO UPDATE SET"                       \
    " change_version = excluded.change_version,"                        \
    " deleted = excluded.deleted, "                                     \
    PT_STORE_DATA("data")                                               \
    "updated_at = excluded.updated_at"                                  \
    " WHERE excluded.change_version > c.change_version"

static const char pt_store_records_upsert_sql[] =
    PT_STORE_RECORDS_UPSERT("TEXT");
static const char pt_store_records_upsert_pgsql[] =
    PT_STORE_RECORDS_UPSERT("jsonb");

static const char pt_store_quarantine_sql[] =
    "INSERT INTO protime_quarantine (received_at, reason, body, body_encoding)"
    " VALUES (%lld, %s, %s, %s)";

/* The subscription job's state (pt_sub). */
static const char pt_store_sub_select_sql[] =
    "SELECT webhook_id, webhook_key, state, valid_until, created_at,"
    " checked_at, retire_at FROM protime_subscriptions"
    " WHERE tenant = %s AND destination_url = %s ORDER BY created_at";

static const char pt_store_sub_keys_sql[] =
    "SELECT webhook_key FROM protime_subscriptions"
    " WHERE tenant = %s AND destination_url = %s AND valid_until > %lld";

static const char pt_store_sub_insert_sql[] =
    "INSERT INTO protime_subscriptions (webhook_id, tenant, destination_url,"
    " webhook_key, state, valid_until, created_at, checked_at, retire_at)"
    " VALUES (%s, %s, %s, %s, %s, %lld, %lld, %lld, %lld)";

static const char pt_store_sub_update_sql[] =
    "UPDATE protime_subscriptions SET state = %s, valid_until = %lld,"
    " checked_at = %lld, retire_at = %lld WHERE webhook_id = %s";

static const char pt_store_sub_delete_sql[] =
    "DELETE FROM protime_subscriptions WHERE webhook_id = %s";

static const char pt_store_sync_select_sql[] =
    "SELECT pending, window_from, next_link, rows_applied, pages,"
    " started_at, finished_at FROM protime_sync"
    " WHERE tenant = %s AND destination_url = %s";

static const char pt_store_sync_save_sql[] =
    "INSERT INTO protime_sync (tenant, destination_url, pending, window_from,"
    " next_link, rows_applied, pages, started_at, finished_at)"
    " VALUES (%s, %s, %d, %s, %s, %lld, %lld, %lld, %lld)"
    " ON CONFLICT (tenant, destination_url) DO UPDATE SET"
    " pending = excluded.pending, window_from = excluded.window_from,"
    " next_link = excluded.next_link, rows_applied = excluded.rows_applied,"
    " pages = excluded.pages, started_at = excluded.started_at,"
    " finished_at = excluded.finished_at";

/* Reconciliation by delta (pt_store_delta_load, pt_store_delta_save). */
static const char pt_store_delta_select_sql[] =
    "SELECT collection, delta_link, next_link, synced_at, updated_at"
    " FROM protime_delta WHERE tenant = %s AND destination_url = %s";

static const char pt_store_delta_save_sql[] =
    "INSERT INTO protime_delta (tenant, destination_url, collection,"
    " delta_link, next_link, synced_at, updated_at)"
    " VALUES (%s, %s, %s, %s, %s, %lld, %lld)"
    " ON CONFLICT (tenant, destination_url) DO UPDATE SET"
    " collection = excluded.collection, delta_link = excluded.delta_link,"
    " next_link = excluded.next_link, synced_at = excluded.synced_at,"
    " updated_at = excluded.updated_at";

/* Cluster election (pt_store_lease). */
static const char pt_store_lease_take_sql[] =
    "INSERT INTO protime_lease AS l (name, owner, expires_at)"
    " VALUES (%s, %s, %lld)"
    " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
    " expires_at = excluded.expires_at"
    " WHERE l.owner = excluded.owner OR l.expires_at < %lld";

static const char pt_store_lease_select_sql[] =
    "SELECT owner, expires_at FROM protime_lease WHERE name = %s";

/* Refused deliveries (pt_store_capture). The second keeps the last
 * PT_STORE_REFUSED_KEEP of a location: ids grow with every insert. */
static const char pt_store_refused_insert_sql[] =
    "INSERT INTO protime_refused (location, received_at, reason, headers,"
    " body, body_encoding, body_length)"
    " VALUES (%s, %lld, %s, %s, %s, %s, %lld)";

static const char pt_store_refused_trim_sql[] =
    "DELETE FROM protime_refused WHERE location = %s AND id NOT IN"
    " (SELECT id FROM protime_refused WHERE location = %s"
    " ORDER BY id DESC LIMIT " APR_STRINGIFY(PT_STORE_REFUSED_KEEP) ")";

/* The upsert comes last: the module takes its presence in the prepared
 * hash to mean that the connection is ready. */
static const struct {
    const char *label;
    const char *sql;
} pt_store_statements[] = {
    { PT_STMT_QUARANTINE, pt_store_quarantine_sql },
    { PT_STMT_SUB_SELECT, pt_store_sub_select_sql },
    { PT_STMT_SUB_KEYS, pt_store_sub_keys_sql },
    { PT_STMT_SUB_INSERT, pt_store_sub_insert_sql },
    { PT_STMT_SUB_UPDATE, pt_store_sub_update_sql },
    { PT_STMT_SUB_DELETE, pt_store_sub_delete_sql },
    { PT_STMT_SYNC_SELECT, pt_store_sync_select_sql },
    { PT_STMT_SYNC_SAVE, pt_store_sync_save_sql },
    { PT_STMT_DELTA_SELECT, pt_store_delta_select_sql },
    { PT_STMT_DELTA_SAVE, pt_store_delta_save_sql },
    { PT_STMT_LEASE_TAKE, pt_store_lease_take_sql },
    { PT_STMT_LEASE_SELECT, pt_store_lease_select_sql },
    { PT_STMT_REFUSED_INSERT, pt_store_refused_insert_sql },
    { PT_STMT_REFUSED_TRIM, pt_store_refused_trim_sql },
    { PT_STMT_RECORDS_UPSERT, pt_store_records_upsert_sql },
    { PT_STMT_UPSERT, pt_store_upsert_sql }
};

const char *pt_store_dialect(const char *driver_name, pt_dialect_t *out)
{
    if (driver_name && strcmp(driver_name, "sqlite3") == 0) {
        *out = PT_DB_SQLITE3;
        return NULL;
    }
    if (driver_name && strcmp(driver_name, "pgsql") == 0) {
        *out = PT_DB_PGSQL;
        return NULL;
    }
    return "unsupported DBDriver: mod_protime works with sqlite3 and pgsql";
}

/* "what: msg" on one line: libpq's messages span lines (ERROR, DETAIL)
 * and end with a newline, and the error goes to one log line. */
static const char *pt_store_one_line(apr_pool_t *p, const char *what,
                                     const char *msg)
{
    char *s = apr_psprintf(p, "%s: %s", what,
                           msg && *msg ? msg : "unknown database error");
    char *e;

    for (e = s; *e; e++) {
        if (apr_iscntrl(*e))
            *e = ' ';
    }
    while (e > s && e[-1] == ' ')
        *--e = '\0';
    return s;
}

/* "what: <the driver's last error>", read before anything else runs on the
 * connection and overwrites it. */
static const char *pt_store_error(apr_pool_t *p, const pt_store_conn_t *c,
                                  int rv, const char *what)
{
    return pt_store_one_line(p, what, apr_dbd_error(c->driver, c->handle, rv));
}

/* A function of libpq or libsqlite3, found in the process by name (why,
 * at pt_store_pg_verbosity and pt_store_sqlite_file), remembered in *found
 * once found: dlsym searches every object httpd loaded, and the commit
 * path asks at every batch. Not remembered while missing: the library
 * comes with the first use of its apr_dbd driver, which APR keeps loaded
 * for the life of the process. */
static void *pt_store_symbol(volatile void **found, const char *name)
{
    void *fn = apr_atomic_casptr(found, NULL, NULL);

    if (!fn && (fn = dlsym(RTLD_DEFAULT, name)) != NULL)
        apr_atomic_casptr(found, fn, NULL);
    return fn;
}

/* PostgreSQL's errors are told apart by their SQLSTATE, never by their
 * text, which the server translates (lc_messages). apr_dbd hands out only
 * the text (libpq's PQerrorMessage), and libpq puts the SQLSTATE into it
 * at PQERRORS_VERBOSE, after the severity, whatever the language:
 * "FEHLER:  40P01: Verklemmung (Deadlock) entdeckt". The verbosity belongs
 * to the connection, which mod_dbd shares with other modules: it is set
 * for pt_store_commit's statements only and put back after them.
 *
 * libpq is not linked: a site on SQLite must not need it. It is looked up
 * in the process, where the apr_dbd_pgsql driver brought it: APR loads
 * the driver, and with it libpq, RTLD_GLOBAL (apr_dso_load). Should it not
 * be found there, the errors keep their default form and no SQLSTATE is
 * found in them: a deadlock's victim is not run again, and a connection
 * whose session the server ended keeps failing until mod_dbd replaces it.
 *
 * Sets the verbosity of c's libpq connection and returns the one it had,
 * or -1 (not PostgreSQL, or no libpq found); a verbosity of -1 does
 * nothing. */
static int pt_store_pg_verbosity(const pt_store_conn_t *c, int verbosity)
{
    static volatile void *found;
    PGVerbosity (*set)(PGconn *, PGVerbosity);
    PGconn *conn;

    if (c->dialect != PT_DB_PGSQL || verbosity < 0)
        return -1;
    set = (PGVerbosity (*)(PGconn *, PGVerbosity))
          pt_store_symbol(&found, "PQsetErrorVerbosity");
    conn = apr_dbd_native_handle(c->driver, c->handle);
    return set && conn ? (int)set(conn, (PGVerbosity)verbosity) : -1;
}

const char *pt_store_sqlstate(apr_pool_t *p, const char *err)
{
    /* "<severity>:  <SQLSTATE>: <message>", after pt_store_error's
     * "what: ": the severity ends with the first colon and two spaces. */
    const char *s = err ? strstr(err, ":  ") : NULL;
    int i;

    if (!s)
        return NULL;
    s += 3;
    for (i = 0; i < 5; i++) {
        if (!apr_isdigit(s[i]) && !apr_isupper(s[i]))
            return NULL;
    }
    return s[5] == ':' ? apr_pstrmemdup(p, s, 5) : NULL;
}

int pt_store_pg_socket(const pt_store_conn_t *c)
{
    static volatile void *found;
    int (*socket_of)(const PGconn *);
    PGconn *conn;

    if (c->dialect != PT_DB_PGSQL)
        return -1;
    socket_of = (int (*)(const PGconn *))pt_store_symbol(&found, "PQsocket");
    conn = apr_dbd_native_handle(c->driver, c->handle);
    return socket_of && conn ? socket_of(conn) : -1;
}

/* What an SQLite connection knows of its file, apr_dbd has no way to ask:
 * SQLite's C API, looked up in the process as libpq is above (the
 * apr_dbd_sqlite3 driver brought it), so that the module neither links
 * libsqlite3 nor needs its header. These functions and the constant are
 * part of SQLite's stable interface since 3.8.3. Not found: NULL, and
 * pt_store_sqlite_stale finds nothing wrong, as before. */
#define PT_SQLITE_FCNTL_HAS_MOVED 20            /* SQLITE_FCNTL_HAS_MOVED */
typedef int (*pt_sqlite_file_control_fn)(void *db, const char *schema,
                                         int op, void *arg);
typedef int (*pt_sqlite_db_readonly_fn)(void *db, const char *schema);
typedef const char *(*pt_sqlite_db_filename_fn)(void *db, const char *schema);

static void *pt_store_sqlite_db(const pt_store_conn_t *c)
{
    return c->dialect == PT_DB_SQLITE3
           ? apr_dbd_native_handle(c->driver, c->handle) : NULL;
}

const char *pt_store_sqlite_file(const pt_store_conn_t *c)
{
    static volatile void *found;
    void *db = pt_store_sqlite_db(c);
    pt_sqlite_db_filename_fn filename = (pt_sqlite_db_filename_fn)
        pt_store_symbol(&found, "sqlite3_db_filename");
    const char *file = db && filename ? filename(db, "main") : NULL;

    /* "" for a temporary or in-memory database */
    return file && *file ? file : NULL;
}

const char *pt_store_sqlite_stale(apr_pool_t *p, const pt_store_conn_t *c)
{
    static volatile void *found_file_control, *found_readonly;
    void *db = pt_store_sqlite_db(c);
    pt_sqlite_file_control_fn file_control;
    pt_sqlite_db_readonly_fn readonly;
    const char *file;
    int moved = 0;

    if (!db || !(file = pt_store_sqlite_file(c)))
        return NULL;
    /* SQLite compares the inode at the path with the open file's. */
    file_control = (pt_sqlite_file_control_fn)
        pt_store_symbol(&found_file_control, "sqlite3_file_control");
    if (file_control
        && file_control(db, "main", PT_SQLITE_FCNTL_HAS_MOVED, &moved) == 0
        && moved)
        return apr_psprintf(p, "the database file %s was removed or replaced "
                            "after this connection opened it", file);
    readonly = (pt_sqlite_db_readonly_fn)
        pt_store_symbol(&found_readonly, "sqlite3_db_readonly");
    if (readonly && readonly(db, "main") == 1)
        return apr_psprintf(p, "the database file %s was not writable when "
                            "this connection opened it, and SQLite opened "
                            "it read-only", file);
    return NULL;
}

/* Whether err is a PostgreSQL error of that SQLSTATE. */
static int pt_store_pg_error_is(apr_pool_t *p, const pt_store_conn_t *c,
                                const char *err, const char *sqlstate)
{
    const char *got;

    if (c->dialect != PT_DB_PGSQL)
        return 0;
    got = pt_store_sqlstate(p, err);
    return got && !strcmp(got, sqlstate);
}

static const char *pt_store_begin(apr_pool_t *p, const pt_store_conn_t *c,
                                  apr_dbd_transaction_t **trans);
static const char *pt_store_end(apr_pool_t *p, const pt_store_conn_t *c,
                                apr_dbd_transaction_t *trans,
                                const char *err);

/* Runs a PRAGMA through apr_dbd_select; *value (if asked) gets the first
 * column of its first row, or NULL. */
static const char *pt_store_pragma(apr_pool_t *p, const pt_store_conn_t *c,
                                   const char *sql, const char **value)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *v = NULL;
    int rv;

    rv = apr_dbd_select(c->driver, p, c->handle, &res, sql, 0);
    if (rv)
        return pt_store_error(p, c, rv, sql);
    /* Read every row: the statement is only finished at the end. */
    while (apr_dbd_get_row(c->driver, p, res, &row, -1) == 0) {
        if (!v)
            v = apr_pstrdup(p, apr_dbd_get_entry(c->driver, row, 0));
    }
    if (value)
        *value = v;
    return NULL;
}

/* SQLite: how long one try of a statement waits for another writer. */
static const char *pt_store_busy_timeout(apr_pool_t *p,
                                         const pt_store_conn_t *c)
{
    return pt_store_pragma(p, c, apr_psprintf(p, "PRAGMA busy_timeout=%d",
                                              PT_STORE_SQLITE_BUSY_MS), NULL);
}

/* PostgreSQL: whether the schema script has run, in one transaction: then
 * the table it creates last exists, also after a version of the module
 * that added a table at its end. DDL on tables in use takes locks that
 * deadlock with the writers', so it runs only when needed. */
static int pt_store_pg_schema_done(apr_pool_t *p, const pt_store_conn_t *c)
{
    static const char create[] = "CREATE TABLE IF NOT EXISTS ";
    const char *const *sql;
    const char *last = NULL;
    int nrows = 0;

    for (sql = pt_schema_pgsql; *sql; sql++) {
        if (!strncmp(*sql, create, sizeof(create) - 1))
            last = *sql + sizeof(create) - 1;
    }
    return last
           && apr_dbd_query(c->driver, c->handle, &nrows, apr_psprintf(p,
                            "SELECT 1 FROM pg_class WHERE relname = '%.*s'"
                            " AND relkind = 'r' AND pg_table_is_visible(oid)",
                            (int)strcspn(last, " ("), last)) == 0
           && nrows == 1;
}

const char *pt_store_create_schema(apr_pool_t *p, const pt_store_conn_t *c)
{
    const char *const *sql;
    const char *err, *mode;
    int rv, nrows;

    if (c->dialect == PT_DB_SQLITE3) {
        /* Other processes may be writing (a graceful restart under load):
         * wait for them as every statement of ours does. */
        if ((err = pt_store_busy_timeout(p, c)) != NULL)
            return err;
        /* Readers then never block the writer. The mode is a property of
         * the file and persists; asking first avoids the exclusive lock
         * that setting it takes. */
        err = pt_store_pragma(p, c, "PRAGMA journal_mode", &mode);
        if (!err && (!mode || strcmp(mode, "wal") != 0))
            err = pt_store_pragma(p, c, "PRAGMA journal_mode=WAL", &mode);
        if (err)
            return err;
        if (!mode || strcmp(mode, "wal") != 0)
            return apr_psprintf(p, "the SQLite database cannot use WAL mode "
                                "(journal_mode is %s)", mode ? mode : "?");
        sql = pt_schema_sqlite3;
    }
    else {
        apr_dbd_transaction_t *trans;

        /* Every new connection runs the DDL, several at once when the
         * server starts, and CREATE ... IF NOT EXISTS is not safe against
         * itself in PostgreSQL: one at a time, under a transaction-scoped
         * advisory lock, and never waiting without limit for a table lock
         * another program holds (pt_store_begin's statement_timeout). */
        if (pt_store_pg_schema_done(p, c))
            return NULL;
        if ((err = pt_store_begin(p, c, &trans)) != NULL)
            return err;
        /* apr_dbd_query: apr_dbd_pgsql takes a returned row for success,
         * and its sequential selects leave the connection busy. */
        rv = apr_dbd_query(c->driver, c->handle, &nrows,
                           "SELECT pg_advisory_xact_lock("
                           APR_STRINGIFY(PT_STORE_SCHEMA_LOCK) ")");
        if (rv)
            err = pt_store_error(p, c, rv, "pg_advisory_xact_lock");
        /* Another connection may have run it while we waited. */
        else if (pt_store_pg_schema_done(p, c))
            return pt_store_end(p, c, trans, NULL);
        for (sql = pt_schema_pgsql; *sql && !err; sql++) {
            rv = apr_dbd_query(c->driver, c->handle, &nrows, *sql);
            if (rv)
                err = pt_store_error(p, c, rv,
                                     apr_psprintf(p, "creating the schema "
                                                  "(%.60s)", *sql));
        }
        return pt_store_end(p, c, trans, err);
    }
    for (; *sql; sql++) {
        rv = apr_dbd_query(c->driver, c->handle, &nrows, *sql);
        if (rv)
            return pt_store_error(p, c, rv,
                                  apr_psprintf(p, "creating the schema "
                                               "(%.60s)", *sql));
    }
    return NULL;
}

/* Prepares the statements missing from c->prepared, from p. */
static const char *pt_store_prepare_statements(apr_pool_t *p,
                                               const pt_store_conn_t *c)
{
    apr_size_t i;

    for (i = 0; i < sizeof(pt_store_statements)
                    / sizeof(pt_store_statements[0]); i++) {
        const char *label = pt_store_statements[i].label;
        const char *sql = pt_store_statements[i].sql;
        apr_dbd_prepared_t *stmt = NULL;
        int rv;

        /* Done by an earlier call that failed further on: PostgreSQL would
         * refuse a second PREPARE of the same name. */
        if (apr_hash_get(c->prepared, label, APR_HASH_KEY_STRING))
            continue;
        if (c->dialect == PT_DB_PGSQL
            && !strcmp(label, PT_STMT_RECORDS_UPSERT))
            sql = pt_store_records_upsert_pgsql;
        rv = apr_dbd_prepare(c->driver, p, c->handle, sql, label, &stmt);
        if (rv)
            return pt_store_error(p, c, rv,
                                  apr_pstrcat(p, "preparing ", label, NULL));
        apr_hash_set(c->prepared, label, APR_HASH_KEY_STRING, stmt);
    }
    return NULL;
}

const char *pt_store_prepare(apr_pool_t *p, pt_store_conn_t *c, int sync_full)
{
    const char *err;

    if (c->dialect == PT_DB_SQLITE3) {
        if ((err = pt_store_busy_timeout(p, c)) != NULL)
            return err;
        err = pt_store_pragma(p, c, sync_full ? "PRAGMA synchronous=FULL"
                                              : "PRAGMA synchronous=NORMAL",
                              NULL);
        if (!err)
            err = pt_store_pragma(p, c, "PRAGMA wal_autocheckpoint=0", NULL);
        if (!err)
            err = pt_store_pragma(p, c, apr_psprintf(p,
                                      "PRAGMA journal_size_limit=%d",
                                      PT_STORE_WAL_LIMIT), NULL);
        if (err)
            return err;
    }
    else {
        apr_dbd_transaction_t *trans;

        /* PREPARE waits for the tables' locks: within a transaction, for
         * its statement_timeout. The statements outlive it. */
        if ((err = pt_store_begin(p, c, &trans)) != NULL)
            return err;
        return pt_store_end(p, c, trans, pt_store_prepare_statements(p, c));
    }
    return pt_store_prepare_statements(p, c);
}

/* One PASSIVE checkpoint pass: copies what the WAL holds when it starts,
 * never waiting for anyone, and syncs the database file when that was all
 * of the WAL. *frames gets the WAL's length in frames, unless *busy: the
 * pass could not start, because a commit was just updating the WAL's index
 * or another connection was checkpointing. The PRAGMA's one row is
 * (busy, log, checkpointed). */
static const char *pt_store_checkpoint_pass(apr_pool_t *p,
                                            const pt_store_conn_t *c,
                                            int *frames, int *busy)
{
    static const char sql[] = "PRAGMA wal_checkpoint(PASSIVE)";
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rv;

    *frames = 0;
    *busy = 1;
    rv = apr_dbd_select(c->driver, p, c->handle, &res, sql, 0);
    if (rv)
        return pt_store_error(p, c, rv, sql);
    while (apr_dbd_get_row(c->driver, p, res, &row, -1) == 0) {
        const char *b = apr_dbd_get_entry(c->driver, row, 0);
        const char *log = apr_dbd_get_entry(c->driver, row, 1);

        *busy = !b || apr_atoi64(b) != 0;
        *frames = log ? (int)apr_atoi64(log) : 0;
    }
    return NULL;
}

const char *pt_store_checkpoint(apr_pool_t *p, const pt_store_conn_t *c,
                                int (*lock)(void *baton),
                                void (*unlock)(void *baton), void *baton)
{
    const char *err;
    int pass, frames, copied_to = 0, busy;

    if (c->dialect != PT_DB_SQLITE3)
        return NULL;
    /* apr_dbd_sqlite3 holds one mutex for the whole process around each
     * statement, this PRAGMA's copy included: the other connections of
     * this process wait for each pass, those of other processes do not.
     * bench/README.md has what that costs ("Checkpoints through
     * apr_dbd"). */
    for (pass = 0; pass < PT_STORE_CHECKPOINT_PASSES; pass++) {
        if ((err = pt_store_checkpoint_pass(p, c, &frames, &busy)) != NULL)
            return err;
        if (busy)
            continue;
        /* Shorter than what we copied: a commit started it over. */
        if (frames < copied_to)
            return NULL;
        /* A short pass: what writers add during the next is shorter yet,
         * short enough to hold them up for. */
        if (frames - copied_to <= PT_STORE_CHECKPOINT_TAIL)
            break;
        copied_to = frames;
    }
    /* The last pass, with no writer of ours, copies all of the WAL and
     * syncs the database file, the pages of the passes before it
     * included. */
    if (lock(baton) != 0)
        return "wal_checkpoint: cannot keep the writers out for the last "
               "frames";
    err = pt_store_checkpoint_pass(p, c, &frames, &busy);
    unlock(baton);
    return err;
}

/* SQLite: apr_dbd_sqlite3 prepares with the legacy sqlite3_prepare(), whose
 * statements fail for good ("database schema has changed", then "not an
 * error") once any connection has changed the schema, e.g. an
 * administrator's CREATE INDEX or VACUUM: SQLite cannot recompile them.
 * Returns 1 when err is that and the statements were prepared again, into
 * the pool of the prepared hash, which lives as long as the connection. */
static int pt_store_reprepared(apr_pool_t *p, const pt_store_conn_t *c,
                               const char *err)
{
    /* PostgreSQL: apr_dbd_pgsql revives a connection the server dropped
     * (a restart) with PQreset, on the same handle: the session, and the
     * statements prepared in it, are gone, while our hash still holds
     * them. */
    if (c->dialect == PT_DB_PGSQL) {
        if (!pt_store_pg_error_is(p, c, err, PT_STORE_SQLSTATE_NO_STATEMENT))
            return 0;
    }
    else if (!strstr(err, "database schema has changed")) {
        return 0;
    }
    apr_hash_clear(c->prepared);
    if (pt_store_prepare_statements(apr_hash_pool_get(c->prepared), c) == NULL)
        return 1;
    /* SQLite: some prepared, some not, is of no use, and none of it lives
     * in the database; empty, the hash tells the connection's user to
     * prepare them all again (pt_store.h). PostgreSQL's session keeps the
     * names prepared, which a second PREPARE would refuse: the hash keeps
     * them too, and the next try prepares only the rest. */
    if (c->dialect == PT_DB_SQLITE3)
        apr_hash_clear(c->prepared);
    return 0;
}

/* The quarantine's text for a body: the body itself when it is text that
 * any database takes (valid UTF-8 without NUL), else its base64. NULL when
 * the body is too large to encode. */
static const char *pt_store_body(apr_pool_t *p, const char *body,
                                 apr_size_t len, const char **encoding)
{
    json_t *utf8 = NULL;
    char *b64;

    /* json_stringn checks UTF-8 and would accept NUL bytes. */
    if (!memchr(body, '\0', len) && (utf8 = json_stringn(body, len))) {
        json_decref(utf8);
        *encoding = "utf-8";
        return apr_pstrmemdup(p, body, len);
    }
    if (len > (apr_size_t)INT_MAX / 4 * 3 - 2)
        return NULL;
    b64 = apr_palloc(p, apr_base64_encode_len((int)len));
    apr_base64_encode(b64, body, (int)len);
    *encoding = "base64";
    return b64;
}

/* The upsert of an event, as errors name it: "protime_upsert (id 82)". */
static const char *pt_store_upsert_what(apr_pool_t *p, const pt_event_t *ev)
{
    return apr_psprintf(p, "%s (%s%sid %" APR_INT64_T_FMT ")",
                        ev->collection ? PT_STMT_RECORDS_UPSERT
                                       : PT_STMT_UPSERT,
                        ev->collection ? ev->collection : "",
                        ev->collection ? " " : "", ev->id);
}

/* Sets a job's counts back to nothing, and its outcome to err: before it
 * is run (err NULL), and when its transaction failed. */
static void pt_store_reset(pt_store_job_t *job, const char *err)
{
    job->applied = job->deletes = job->stale = job->quarantined = 0;
    job->error = err;
}

/* Counts an applied upsert in its job: changed, or stale. */
static void pt_store_count(pt_store_job_t *job, const pt_event_t *ev,
                           int changed)
{
    if (changed) {
        job->applied++;
        if (ev->change == PT_CHANGE_DELETE)
            job->deletes++;
    }
    else {
        job->stale++;
    }
}

/* Applies one event by the changeVersion rule of its collection's table;
 * *nrows is 1 when it changed the row, 0 when it was stale. */
static const char *pt_store_upsert(apr_pool_t *p, const pt_store_conn_t *c,
                                   const pt_event_t *ev, apr_int64_t now_us,
                                   int *nrows)
{
    const char *label = ev->collection ? PT_STMT_RECORDS_UPSERT
                                       : PT_STMT_UPSERT;
    apr_dbd_prepared_t *upsert = apr_hash_get(c->prepared, label,
                                              APR_HASH_KEY_STRING);
    int deleted = (ev->change == PT_CHANGE_DELETE);
    int rv;

    if (!upsert)
        return "the statements are not prepared (pt_store_prepare)";
    if (ev->collection)
        rv = apr_dbd_pvbquery(c->driver, p, c->handle, nrows, upsert,
                              ev->collection, &ev->id, ev->change_version,
                              &deleted, ev->payload, &now_us);
    else
        rv = apr_dbd_pvbquery(c->driver, p, c->handle, nrows, upsert,
                              &ev->id, ev->change_version, &deleted,
                              ev->has_person ? &ev->person_id : NULL,
                              ev->date,
                              deleted ? NULL : &ev->time_of_day,
                              ev->has_terminal ? &ev->terminal_id : NULL,
                              ev->status, ev->person_refs, ev->terminal_refs,
                              ev->payload, &now_us);
    if (rv)
        return pt_store_error(p, c, rv, pt_store_upsert_what(p, ev));
    return NULL;
}

/* Runs one job's statements in the current transaction and counts. */
static const char *pt_store_apply(apr_pool_t *p, const pt_store_conn_t *c,
                                  pt_store_job_t *job, apr_int64_t now_us)
{
    apr_dbd_prepared_t *quarantine;
    const pt_delivery_t *d = job->delivery;
    const char *err;
    int i, rv;

    quarantine = apr_hash_get(c->prepared, PT_STMT_QUARANTINE,
                              APR_HASH_KEY_STRING);
    if (!quarantine)
        return "the statements are not prepared (pt_store_prepare)";

    pt_store_reset(job, NULL);
    for (i = 0; d->events && i < d->events->nelts; i++) {
        const pt_event_t *ev = &APR_ARRAY_IDX(d->events, i, pt_event_t);
        int nrows = 0;

        if ((err = pt_store_upsert(p, c, ev, now_us, &nrows)) != NULL)
            return err;
        pt_store_count(job, ev, nrows > 0);
    }
    for (i = 0; d->rejects && i < d->rejects->nelts; i++) {
        const pt_reject_t *rj = &APR_ARRAY_IDX(d->rejects, i, pt_reject_t);
        const char *body, *encoding;
        int nrows = 0;

        body = pt_store_body(p, rj->body, rj->body_len, &encoding);
        if (!body)
            return PT_STMT_QUARANTINE ": body too large";
        rv = apr_dbd_pvbquery(c->driver, p, c->handle, &nrows, quarantine,
                              &now_us, rj->reason, body, encoding);
        if (rv)
            return pt_store_error(p, c, rv, PT_STMT_QUARANTINE);
        job->quarantined++;
    }
    return NULL;
}

/* PostgreSQL: a whole batch in one round trip, with libpq's pipeline mode
 * (libpq 14 and later): BEGIN, the timeout, every statement and COMMIT are
 * sent at once and their results read after. The writers' mutex is held
 * from BEGIN to COMMIT, and on PostgreSQL it is the round trips, not the
 * CPU, that make that time. The statements are the same prepared ones
 * (apr_dbd_pgsql names them by their labels), their parameters the text
 * apr_dbd_pgsql would have made of them. libpq's functions are looked up
 * as above; without them (an older libpq) each statement goes through
 * apr_dbd as before. */
typedef struct {
    int (*enter)(PGconn *);
    int (*leave)(PGconn *);
    int (*sync)(PGconn *);
    int (*send_sql)(PGconn *, const char *, int, const Oid *,
                    const char *const *, const int *, const int *, int);
    int (*send)(PGconn *, const char *, int, const char *const *,
                const int *, const int *, int);
    PGresult *(*result)(PGconn *);
    ExecStatusType (*status)(const PGresult *);
    char *(*tuples)(PGresult *);
    char *(*message)(const PGresult *);
    char *(*conn_message)(const PGconn *);
    void (*clear)(PGresult *);
} pt_store_pipeline_fns;

static const pt_store_pipeline_fns *pt_store_pipeline(void)
{
    /* Once complete, published for every thread: writers and the
     * subscription job's full re-synchronisation commit at the same time.
     * Looked up again while not found: libpq comes with the first
     * PostgreSQL connection, and may not be there yet at the first call. */
    static volatile void *published;
    pt_store_pipeline_fns fns, *copy;

    if ((copy = apr_atomic_casptr(&published, NULL, NULL)) != NULL)
        return copy;
    *(void **)&fns.enter = dlsym(RTLD_DEFAULT, "PQenterPipelineMode");
    *(void **)&fns.leave = dlsym(RTLD_DEFAULT, "PQexitPipelineMode");
    *(void **)&fns.sync = dlsym(RTLD_DEFAULT, "PQpipelineSync");
    *(void **)&fns.send_sql = dlsym(RTLD_DEFAULT, "PQsendQueryParams");
    *(void **)&fns.send = dlsym(RTLD_DEFAULT, "PQsendQueryPrepared");
    *(void **)&fns.result = dlsym(RTLD_DEFAULT, "PQgetResult");
    *(void **)&fns.status = dlsym(RTLD_DEFAULT, "PQresultStatus");
    *(void **)&fns.tuples = dlsym(RTLD_DEFAULT, "PQcmdTuples");
    *(void **)&fns.message = dlsym(RTLD_DEFAULT, "PQresultErrorMessage");
    *(void **)&fns.conn_message = dlsym(RTLD_DEFAULT, "PQerrorMessage");
    *(void **)&fns.clear = dlsym(RTLD_DEFAULT, "PQclear");
    if (!fns.enter || !fns.leave || !fns.sync || !fns.send_sql || !fns.send
        || !fns.result || !fns.status || !fns.tuples || !fns.message
        || !fns.conn_message || !fns.clear
        || !(copy = malloc(sizeof(*copy))))
        return NULL;
    /* Kept for the life of the process; a thread that lost the race frees
     * its own. */
    *copy = fns;
    if (apr_atomic_casptr(&published, copy, NULL) != NULL)
        free(copy);
    return (const pt_store_pipeline_fns *)apr_atomic_casptr(&published, NULL,
                                                            NULL);
}

/* One statement sent in the pipeline, and what its result counts for. */
typedef struct {
    pt_store_job_t *job;            /* NULL: BEGIN, the timeout or COMMIT */
    const pt_event_t *ev;           /* NULL: not an upsert */
    const char *label;              /* what errors name, but for upserts */
} pt_store_sent;

/* The statement of st, as errors name it. */
static const char *pt_store_sent_what(apr_pool_t *p, const pt_store_sent *st)
{
    return st->ev ? pt_store_upsert_what(p, st->ev) : st->label;
}

static const char *pt_store_text_int(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

/* Queues one event's upsert, with the parameters of pt_store_upsert. */
static int pt_store_send_upsert(apr_pool_t *p, const pt_store_pipeline_fns *pq,
                                PGconn *conn, const pt_event_t *ev,
                                apr_int64_t now_us)
{
    int deleted = (ev->change == PT_CHANGE_DELETE);
    const char *v[12];

    if (ev->collection) {
        v[0] = ev->collection;
        v[1] = pt_store_text_int(p, ev->id);
        v[2] = ev->change_version;
        v[3] = deleted ? "1" : "0";
        v[4] = ev->payload;
        v[5] = pt_store_text_int(p, now_us);
        return pq->send(conn, PT_STMT_RECORDS_UPSERT, 6, v, NULL, NULL, 0);
    }
    v[0] = pt_store_text_int(p, ev->id);
    v[1] = ev->change_version;
    v[2] = deleted ? "1" : "0";
    v[3] = ev->has_person ? pt_store_text_int(p, ev->person_id) : NULL;
    v[4] = ev->date;
    v[5] = deleted ? NULL : pt_store_text_int(p, ev->time_of_day);
    v[6] = ev->has_terminal ? pt_store_text_int(p, ev->terminal_id) : NULL;
    v[7] = ev->status;
    v[8] = ev->person_refs;
    v[9] = ev->terminal_refs;
    v[10] = ev->payload;
    v[11] = pt_store_text_int(p, now_us);
    return pq->send(conn, PT_STMT_UPSERT, 12, v, NULL, NULL, 0);
}

/* Notes what the next statement sent is, for its result. */
static pt_store_sent *pt_store_expect(apr_array_header_t *sent,
                                      pt_store_job_t *job,
                                      const pt_event_t *ev, const char *label)
{
    pt_store_sent *st = apr_array_push(sent);

    st->job = job;
    st->ev = ev;
    st->label = label;
    return st;
}

/* Queues a statement without parameters (BEGIN, the timeout, COMMIT).
 * Returns NULL, or the error named by label. */
static const char *pt_store_send_sql(apr_pool_t *p,
                                     const pt_store_pipeline_fns *pq,
                                     PGconn *conn, apr_array_header_t *sent,
                                     const char *sql, const char *label)
{
    pt_store_expect(sent, NULL, NULL, label);
    if (!pq->send_sql(conn, sql, 0, NULL, NULL, NULL, NULL, 0))
        return pt_store_one_line(p, label, pq->conn_message(conn));
    return NULL;
}

/* Runs jobs[0 .. njobs) in one transaction, in one round trip: what
 * pt_store_begin, pt_store_apply for every job and pt_store_end do, but
 * that on an error the transaction is left for the caller to roll back.
 * *begin_failed as pt_store_run's. */
static const char *pt_store_run_pipelined(apr_pool_t *p,
                                          const pt_store_conn_t *c,
                                          const pt_store_pipeline_fns *pq,
                                          pt_store_job_t **jobs, int njobs,
                                          apr_int64_t now_us,
                                          int *begin_failed)
{
    PGconn *conn = apr_dbd_native_handle(c->driver, c->handle);
    apr_array_header_t *sent = apr_array_make(p, 16, sizeof(pt_store_sent));
    const char *err = NULL;
    int i, j, k, nulls = 0, opening;

    if (!conn || !pq->enter(conn)) {
        *begin_failed = 1;
        return "cannot enter libpq's pipeline mode";
    }
    if ((err = pt_store_send_sql(p, pq, conn, sent, "BEGIN", "BEGIN"))
        || (err = pt_store_send_sql(p, pq, conn, sent,
                                    PT_STORE_PG_TIMEOUT_SQL, "BEGIN")))
        *begin_failed = 1;
    /* A failing BEGIN or timeout blames none of the jobs. */
    opening = sent->nelts;
    for (i = 0; i < njobs && !err; i++) {
        pt_store_job_t *job = jobs[i];
        const pt_delivery_t *d = job->delivery;

        pt_store_reset(job, NULL);
        for (j = 0; d->events && j < d->events->nelts && !err; j++) {
            const pt_event_t *ev = &APR_ARRAY_IDX(d->events, j, pt_event_t);
            pt_store_sent *st = pt_store_expect(sent, job, ev, NULL);

            if (!pt_store_send_upsert(p, pq, conn, ev, now_us))
                err = pt_store_one_line(p, pt_store_sent_what(p, st),
                                        pq->conn_message(conn));
        }
        for (j = 0; d->rejects && j < d->rejects->nelts && !err; j++) {
            const pt_reject_t *rj = &APR_ARRAY_IDX(d->rejects, j,
                                                   pt_reject_t);
            pt_store_sent *st;
            const char *v[4];

            v[0] = pt_store_text_int(p, now_us);
            v[1] = rj->reason;
            v[2] = pt_store_body(p, rj->body, rj->body_len, &v[3]);
            if (!v[2]) {
                err = PT_STMT_QUARANTINE ": body too large";
                break;
            }
            st = pt_store_expect(sent, job, NULL, PT_STMT_QUARANTINE);
            if (!pq->send(conn, PT_STMT_QUARANTINE, 4, v, NULL, NULL, 0))
                err = pt_store_one_line(p, pt_store_sent_what(p, st),
                                        pq->conn_message(conn));
        }
    }
    if (!err)
        err = pt_store_send_sql(p, pq, conn, sent, "COMMIT", "COMMIT");
    if (!pq->sync(conn) && !err)
        err = pt_store_one_line(p, "sync", pq->conn_message(conn));
    /* Each statement's result and a NULL after it, then the sync's. A
     * statement that failed aborts those after it, up to the sync. Two
     * NULLs in a row: the connection is gone, nothing more will come. */
    for (k = 0; nulls < 2; ) {
        PGresult *res = pq->result(conn);
        ExecStatusType status;

        if (!res) {
            nulls++;
            continue;
        }
        nulls = 0;
        status = pq->status(res);
        if (status == PGRES_PIPELINE_SYNC) {
            pq->clear(res);
            break;
        }
        if (k < sent->nelts && status == PGRES_COMMAND_OK) {
            pt_store_sent *st = &APR_ARRAY_IDX(sent, k, pt_store_sent);

            if (st->ev)
                pt_store_count(st->job, st->ev, atoi(pq->tuples(res)) > 0);
            else if (st->job)
                st->job->quarantined++;
        }
        else if (status != PGRES_PIPELINE_ABORTED && !err) {
            err = pt_store_one_line(p, k < sent->nelts
                                       ? pt_store_sent_what(p,
                                             &APR_ARRAY_IDX(sent, k,
                                                            pt_store_sent))
                                       : "pipeline",
                                    pq->message(res));
            *begin_failed = (k < opening);
        }
        k++;
        pq->clear(res);
    }
    if (!pq->leave(conn)) {
        /* Results still pending on a connection that answers no more.
         * Left in pipeline mode, the connection would refuse every later
         * statement while mod_dbd saw nothing wrong with it: shut down,
         * it fails its check and mod_dbd opens another. */
        int fd = pt_store_pg_socket(c);

        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        if (!err)
            err = "cannot leave libpq's pipeline mode";
    }
    if (!err && k < sent->nelts) {
        err = pt_store_one_line(p, "pipeline", pq->conn_message(conn));
        *begin_failed = (k < opening);
    }
    return err;
}

/* Starts a transaction. Returns NULL or the error, with *trans for
 * pt_store_end (SQLite; NULL for PostgreSQL). */
static const char *pt_store_begin(apr_pool_t *p, const pt_store_conn_t *c,
                                  apr_dbd_transaction_t **trans)
{
    const char *err = NULL;
    int rv, nrows;

    *trans = NULL;
    /* PostgreSQL gets BEGIN and COMMIT as plain statements: apr_dbd_pgsql's
     * transaction_start dereferences a NULL transaction when BEGIN gets an
     * error result, as from a server that went away, and that would kill
     * the child instead of answering 503. */
    if (c->dialect != PT_DB_PGSQL) {
        rv = apr_dbd_transaction_start(c->driver, p, c->handle, trans);
        if (rv) {
            err = pt_store_error(p, c, rv, "BEGIN");
            /* The driver remembers the failed transaction on the handle. */
            pt_store_end(p, c, *trans, err);
        }
        return err;
    }
    /* The timeout for this transaction only: the connection may serve
     * other modules of the server, whose timeouts are theirs to set. Both
     * in one round trip; a ROLLBACK after a BEGIN that failed only warns. */
    rv = apr_dbd_query(c->driver, c->handle, &nrows,
                       "BEGIN; " PT_STORE_PG_TIMEOUT_SQL);
    if (rv) {
        err = pt_store_error(p, c, rv, "BEGIN");
        apr_dbd_query(c->driver, c->handle, &nrows, "ROLLBACK");
    }
    return err;
}

/* Ends the transaction: rolls back when err is set, else commits. Returns
 * NULL when it committed, else the error. */
static const char *pt_store_end(apr_pool_t *p, const pt_store_conn_t *c,
                                apr_dbd_transaction_t *trans, const char *err)
{
    int pgsql = (c->dialect == PT_DB_PGSQL);
    int rv, nrows;

    if (err) {
        if (pgsql) {
            apr_dbd_query(c->driver, c->handle, &nrows, "ROLLBACK");
        }
        else if (trans) {
            apr_dbd_transaction_mode_set(c->driver, trans,
                                         APR_DBD_TRANSACTION_ROLLBACK);
            apr_dbd_transaction_end(c->driver, p, trans);
        }
        return err;
    }
    rv = pgsql ? apr_dbd_query(c->driver, c->handle, &nrows, "COMMIT")
               : apr_dbd_transaction_end(c->driver, p, trans);
    if (rv) {
        err = pt_store_error(p, c, rv, "COMMIT");
        /* SQLite keeps the transaction open when COMMIT fails (busy), while
         * the driver has forgotten it; PostgreSQL has ended it already and
         * only warns. */
        apr_dbd_query(c->driver, c->handle, &nrows, "ROLLBACK");
    }
    return err;
}

/* Applies jobs[0 .. njobs) in one transaction. Returns NULL when it
 * committed, else the error, the transaction rolled back; *begin_failed
 * tells that BEGIN itself failed, which blames none of the jobs. */
static const char *pt_store_run(apr_pool_t *p, const pt_store_conn_t *c,
                                pt_store_job_t **jobs, int njobs,
                                apr_int64_t now_us, int *begin_failed)
{
    apr_dbd_transaction_t *trans;
    const pt_store_pipeline_fns *pq;
    const char *err;
    int i;

    *begin_failed = 0;
    if (c->dialect == PT_DB_PGSQL && (pq = pt_store_pipeline()) != NULL) {
        err = pt_store_run_pipelined(p, c, pq, jobs, njobs, now_us,
                                     begin_failed);
        /* A ROLLBACK after the transaction ended (a failed COMMIT, or a
         * failed BEGIN) only warns. */
        return err ? pt_store_end(p, c, NULL, err) : NULL;
    }
    if ((err = pt_store_begin(p, c, &trans)) != NULL) {
        *begin_failed = 1;
        return err;
    }
    for (i = 0; i < njobs && !err; i++)
        err = pt_store_apply(p, c, jobs[i], now_us);
    return pt_store_end(p, c, trans, err);
}

void pt_store_fail_jobs(pt_store_job_t **jobs, int n, const char *error)
{
    int i;

    for (i = 0; i < n; i++)
        pt_store_reset(jobs[i], error);
}

/* The error must outlive p (the caller may destroy p before the job's own
 * request reads it), so it goes to the pool of the job's delivery. */
static void pt_store_fail(apr_pool_t *p, pt_store_job_t *job, const char *err)
{
    const pt_delivery_t *d = job->delivery;
    apr_pool_t *jp = d->events ? d->events->pool
                   : d->rejects ? d->rejects->pool : p;

    pt_store_reset(job, apr_pstrdup(jp, err));
}

int pt_store_commit(apr_pool_t *p, const pt_store_conn_t *c,
                    pt_store_job_t **jobs, int njobs, apr_int64_t now_us,
                    int *waited)
{
    const char *err;
    int i, commits = 0, begin_failed = 0, long_wait, tries;
    int verbosity = pt_store_pg_verbosity(c, PQERRORS_VERBOSE);
    apr_time_t started = pt_clock_monotonic();

    err = pt_store_run(p, c, jobs, njobs, now_us, &begin_failed);
    if (err && pt_store_reprepared(p, c, err))
        err = pt_store_run(p, c, jobs, njobs, now_us, &begin_failed);
    /* PostgreSQL: batches of other processes or servers that upsert the
     * same ids in another order may deadlock; the server then rolls back
     * one of them after deadlock_timeout. The other has gone on by then:
     * run the victim again, from its start. */
    for (tries = 1; err && tries < PT_STORE_DEADLOCK_TRIES
                    && pt_store_pg_error_is(p, c, err,
                                            PT_STORE_SQLSTATE_DEADLOCK);
         tries++) {
        started = pt_clock_monotonic();
        err = pt_store_run(p, c, jobs, njobs, now_us, &begin_failed);
    }
    long_wait = err && pt_clock_monotonic() - started >= PT_STORE_WAITED;
    if (waited)
        *waited = long_wait;
    if (!err) {
        commits = 1;
    }
    else {
        for (i = 0; i < njobs; i++) {
            /* After a failed BEGIN (database locked or unreachable) no job
             * is to blame either. */
            if (njobs > 1 && !begin_failed && !long_wait) {
                err = pt_store_run(p, c, &jobs[i], 1, now_us, &begin_failed);
                if (!err) {
                    commits++;
                    continue;
                }
            }
            pt_store_fail(p, jobs[i], err);
        }
    }
    pt_store_pg_verbosity(c, verbosity);
    return commits;
}

/* ---- subscription state ------------------------------------------------ */

static const char *const pt_store_webhook_states[] = {
    "active", "retiring", "retired"
};

static apr_dbd_prepared_t *pt_store_stmt(const pt_store_conn_t *c,
                                         const char *label)
{
    return apr_hash_get(c->prepared, label, APR_HASH_KEY_STRING);
}

#define PT_STORE_NOT_PREPARED "the statements are not prepared (pt_store_prepare)"

/* Runs a prepared select with binary arguments; every row goes to
 * take(baton, row), and all rows are read, which finishes the statement. */
static const char *pt_store_select(apr_pool_t *p, const pt_store_conn_t *c,
                                   const char *label,
                                   void (*take)(apr_pool_t *, void *,
                                                const apr_dbd_driver_t *,
                                                apr_dbd_row_t *),
                                   void *baton, const void **args)
{
    apr_dbd_prepared_t *stmt = pt_store_stmt(c, label);
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rv;

    if (!stmt)
        return PT_STORE_NOT_PREPARED;
    rv = apr_dbd_pbselect(c->driver, p, c->handle, &res, stmt, 0, args);
    if (rv)
        return pt_store_error(p, c, rv, label);
    while (apr_dbd_get_row(c->driver, p, res, &row, -1) == 0)
        take(p, baton, c->driver, row);
    return NULL;
}

/* Column n of a row as text from p (NULL for SQL NULL), or as a number. */
static const char *pt_store_text(apr_pool_t *p, const apr_dbd_driver_t *d,
                                 apr_dbd_row_t *row, int n)
{
    const char *v = apr_dbd_get_entry(d, row, n);

    return v ? apr_pstrdup(p, v) : NULL;
}

static apr_int64_t pt_store_int(const apr_dbd_driver_t *d, apr_dbd_row_t *row,
                                int n)
{
    const char *v = apr_dbd_get_entry(d, row, n);

    return v ? apr_atoi64(v) : 0;
}

static void pt_store_take_webhook(apr_pool_t *p, void *baton,
                                  const apr_dbd_driver_t *d,
                                  apr_dbd_row_t *row)
{
    apr_array_header_t *out = baton;
    pt_store_webhook_t *w = apr_array_push(out);
    const char *state = apr_dbd_get_entry(d, row, 2);
    int i;

    w->webhook_id = pt_store_text(out->pool, d, row, 0);
    w->key = pt_store_text(out->pool, d, row, 1);
    w->state = PT_WEBHOOK_RETIRED;
    for (i = 0; i < 3; i++) {
        if (state && !strcmp(state, pt_store_webhook_states[i]))
            w->state = (pt_webhook_state_t)i;
    }
    w->valid_until = pt_store_int(d, row, 3);
    w->created_at = pt_store_int(d, row, 4);
    w->checked_at = pt_store_int(d, row, 5);
    w->retire_at = pt_store_int(d, row, 6);
    (void)p;
}

const char *pt_store_webhooks(apr_pool_t *p, const pt_store_conn_t *c,
                              const char *tenant, const char *destination,
                              apr_array_header_t **out)
{
    const void *args[] = { tenant, destination };

    *out = apr_array_make(p, 2, sizeof(pt_store_webhook_t));
    return pt_store_select(p, c, PT_STMT_SUB_SELECT, pt_store_take_webhook,
                           *out, args);
}

static void pt_store_take_key(apr_pool_t *p, void *baton,
                              const apr_dbd_driver_t *d, apr_dbd_row_t *row)
{
    apr_array_header_t *out = baton;
    const char *key = pt_store_text(out->pool, d, row, 0);

    if (key && *key)
        APR_ARRAY_PUSH(out, const char *) = key;
    (void)p;
}

const char *pt_store_webhook_keys(apr_pool_t *p, const pt_store_conn_t *c,
                                  const char *tenant, const char *destination,
                                  apr_time_t now, apr_array_header_t **out)
{
    apr_int64_t now64 = now;
    const void *args[] = { tenant, destination, &now64 };

    *out = apr_array_make(p, 2, sizeof(const char *));
    return pt_store_select(p, c, PT_STMT_SUB_KEYS, pt_store_take_key, *out,
                           args);
}

static void pt_store_take_sync(apr_pool_t *p, void *baton,
                               const apr_dbd_driver_t *d, apr_dbd_row_t *row)
{
    pt_store_sync_t *s = baton;

    s->pending = (int)pt_store_int(d, row, 0);
    s->window_from = pt_store_text(p, d, row, 1);
    s->next_link = pt_store_text(p, d, row, 2);
    s->rows = pt_store_int(d, row, 3);
    s->pages = pt_store_int(d, row, 4);
    s->started_at = pt_store_int(d, row, 5);
    s->finished_at = pt_store_int(d, row, 6);
}

const char *pt_store_sync_load(apr_pool_t *p, const pt_store_conn_t *c,
                               const char *tenant, const char *destination,
                               pt_store_sync_t *out)
{
    const void *args[] = { tenant, destination };

    memset(out, 0, sizeof(*out));
    return pt_store_select(p, c, PT_STMT_SYNC_SELECT, pt_store_take_sync,
                           out, args);
}

/* Runs a prepared statement that changes rows. */
static const char *pt_store_exec(apr_pool_t *p, const pt_store_conn_t *c,
                                 const char *label, const void **args)
{
    apr_dbd_prepared_t *stmt = pt_store_stmt(c, label);
    int rv, nrows = 0;

    if (!stmt)
        return PT_STORE_NOT_PREPARED;
    rv = apr_dbd_pbquery(c->driver, p, c->handle, &nrows, stmt, args);
    return rv ? pt_store_error(p, c, rv, label) : NULL;
}

static const char *pt_store_sub_apply(apr_pool_t *p, const pt_store_conn_t *c,
                                      const char *tenant,
                                      const char *destination,
                                      const pt_store_sub_change_t *ch)
{
    const char *err = NULL;

    if (ch->remove) {
        const void *args[] = { ch->remove };
        err = pt_store_exec(p, c, PT_STMT_SUB_DELETE, args);
    }
    if (!err && ch->update) {
        const pt_store_webhook_t *w = ch->update;
        apr_int64_t valid = w->valid_until, checked = w->checked_at,
                    retire = w->retire_at;
        const void *args[] = { pt_store_webhook_states[w->state], &valid,
                               &checked, &retire, w->webhook_id };
        err = pt_store_exec(p, c, PT_STMT_SUB_UPDATE, args);
    }
    if (!err && ch->insert) {
        const pt_store_webhook_t *w = ch->insert;
        apr_int64_t valid = w->valid_until, created = w->created_at,
                    checked = w->checked_at, retire = w->retire_at;
        const void *args[] = { w->webhook_id, tenant, destination, w->key,
                               pt_store_webhook_states[w->state], &valid,
                               &created, &checked, &retire };
        err = pt_store_exec(p, c, PT_STMT_SUB_INSERT, args);
    }
    if (!err && ch->sync) {
        const pt_store_sync_t *s = ch->sync;
        int pending = s->pending;
        apr_int64_t rows = s->rows, pages = s->pages,
                    started = s->started_at, finished = s->finished_at;
        const void *args[] = { tenant, destination, &pending, s->window_from,
                               s->next_link, &rows, &pages, &started,
                               &finished };
        err = pt_store_exec(p, c, PT_STMT_SYNC_SAVE, args);
    }
    return err;
}

const char *pt_store_sub_save(apr_pool_t *p, const pt_store_conn_t *c,
                              const char *tenant, const char *destination,
                              const pt_store_sub_change_t *change)
{
    apr_dbd_transaction_t *trans;
    const char *err;

    if ((err = pt_store_begin(p, c, &trans)) != NULL)
        return err;
    err = pt_store_sub_apply(p, c, tenant, destination, change);
    return pt_store_end(p, c, trans, err);
}

/* ---- reconciliation by delta -------------------------------------------- */

static void pt_store_take_delta(apr_pool_t *p, void *baton,
                                const apr_dbd_driver_t *d, apr_dbd_row_t *row)
{
    pt_store_delta_t *out = baton;

    out->collection = pt_store_text(p, d, row, 0);
    out->delta_link = pt_store_text(p, d, row, 1);
    out->next_link = pt_store_text(p, d, row, 2);
    out->synced_at = pt_store_int(d, row, 3);
    out->updated_at = pt_store_int(d, row, 4);
}

const char *pt_store_delta_load(apr_pool_t *p, const pt_store_conn_t *c,
                                const char *tenant, const char *destination,
                                pt_store_delta_t *out)
{
    const void *args[] = { tenant, destination };

    memset(out, 0, sizeof(*out));
    return pt_store_select(p, c, PT_STMT_DELTA_SELECT, pt_store_take_delta,
                           out, args);
}

const char *pt_store_delta_save(apr_pool_t *p, const pt_store_conn_t *c,
                                const char *tenant, const char *destination,
                                const pt_store_delta_t *d)
{
    apr_int64_t synced = d->synced_at, updated = d->updated_at;
    const void *args[] = { tenant, destination, d->collection, d->delta_link,
                           d->next_link, &synced, &updated };

    return pt_store_exec(p, c, PT_STMT_DELTA_SAVE, args);
}

/* ---- cluster election --------------------------------------------------- */

typedef struct {
    const char *owner;
    apr_time_t until;
} pt_store_lease_row_t;

static void pt_store_take_lease(apr_pool_t *p, void *baton,
                                const apr_dbd_driver_t *d, apr_dbd_row_t *row)
{
    pt_store_lease_row_t *l = baton;

    l->owner = pt_store_text(p, d, row, 0);
    l->until = pt_store_int(d, row, 1);
}

const char *pt_store_lease(apr_pool_t *p, const pt_store_conn_t *c,
                           const char *name, const char *owner,
                           apr_time_t now, apr_time_t until, int *held,
                           const char **holder, apr_time_t *holder_until)
{
    apr_dbd_prepared_t *stmt = pt_store_stmt(c, PT_STMT_LEASE_TAKE);
    apr_int64_t until64 = until, now64 = now;
    const void *take[] = { name, owner, &until64, &now64 };
    const void *select[] = { name };
    pt_store_lease_row_t row = { NULL, 0 };
    const char *err;
    int rv, nrows = 0;

    *held = 0;
    if (!stmt)
        return PT_STORE_NOT_PREPARED;
    rv = apr_dbd_pbquery(c->driver, p, c->handle, &nrows, stmt, take);
    if (rv)
        return pt_store_error(p, c, rv, PT_STMT_LEASE_TAKE);
    *held = (nrows > 0);
    err = pt_store_select(p, c, PT_STMT_LEASE_SELECT, pt_store_take_lease,
                          &row, select);
    if (err)
        return err;
    if (holder)
        *holder = row.owner;
    if (holder_until)
        *holder_until = row.until;
    return NULL;
}

/* ---- refused deliveries ------------------------------------------------ */

/* What a header's name holds when its value may be a secret: credentials
 * (Authorization, Proxy-Authorization, X-Auth-Token, cookies, sessions)
 * and what a sender signs with or signs (X-Api-Key, X-Hub-Signature-256,
 * webhook-signature). Compared in lower case. */
static const char *const pt_store_secret_words[] = {
    "auth", "cookie", "session", "password", "secret", "token", "key",
    "signature", NULL
};

static int pt_store_secret_header(apr_pool_t *p, const char *name,
                                  const char *signature_header)
{
    const char *const *word;
    char *lower = apr_pstrdup(p, name), *ch;

    if (signature_header && !strcasecmp(name, signature_header))
        return 1;
    for (ch = lower; *ch; ch++)
        *ch = apr_tolower(*ch);
    for (word = pt_store_secret_words; *word; word++) {
        if (strstr(lower, *word))
            return 1;
    }
    return 0;
}

/* How much of text (len bytes) fits in max bytes: max, less the start of
 * a UTF-8 character cut there, which would turn text into escapes or
 * base64. */
static apr_size_t pt_store_utf8_cut(const char *text, apr_size_t len,
                                    apr_size_t max)
{
    int back;

    if (len <= max)
        return len;
    for (back = 0; back < 3 && ((unsigned char)text[max] & 0xC0) == 0x80;
         back++)
        max--;
    return max;
}

/* A header's name or value as a JSON string: itself when it is UTF-8,
 * else with the other bytes written \xNN; its first
 * PT_STORE_REFUSED_VALUE bytes when it is longer, and its length. */
static json_t *pt_store_json_text(apr_pool_t *p, const char *text)
{
    apr_size_t len = strlen(text);
    json_t *s;

    if (len > PT_STORE_REFUSED_VALUE)
        text = apr_psprintf(p, "%.*s<cut: %" APR_SIZE_T_FMT " bytes>",
                            (int)pt_store_utf8_cut(text, len,
                                                   PT_STORE_REFUSED_VALUE),
                            text, len);
    s = json_string(text);
    return s ? s : json_string(apr_pescape_echo(p, text, 0));
}

/* The headers as a JSON array of [name, value], secret values cut to
 * their length (pt_store_capture); NULL if jansson fails. */
static const char *pt_store_refused_headers(apr_pool_t *p,
                                            const apr_table_t *headers,
                                            const char *signature_header)
{
    const apr_array_header_t *arr = apr_table_elts(headers);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    json_t *list = json_array();
    const char *out = NULL;
    char *text;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        const char *value = e[i].val ? e[i].val : "";

        if (!e[i].key)
            continue;
        if (json_array_size(list) == PT_STORE_REFUSED_HEADERS) {
            json_array_append_new(list, json_pack("[ss]", "<cut>",
                apr_psprintf(p, "<%d more headers>", arr->nelts - i)));
            break;
        }
        if (pt_store_secret_header(p, e[i].key, signature_header))
            value = apr_psprintf(p, "<cut: %" APR_SIZE_T_FMT " bytes>",
                                 strlen(value));
        json_array_append_new(list, json_pack("[oo]",
                                              pt_store_json_text(p, e[i].key),
                                              pt_store_json_text(p, value)));
    }
    if ((text = json_dumps(list, JSON_COMPACT)) != NULL) {
        out = apr_pstrdup(p, text);
        free(text);
    }
    json_decref(list);
    return out;
}

static const char *pt_store_capture_run(apr_pool_t *p,
                                        const pt_store_conn_t *c,
                                        const void **insert,
                                        const void **trim)
{
    apr_dbd_transaction_t *trans;
    const char *err;

    if ((err = pt_store_begin(p, c, &trans)) != NULL)
        return err;
    err = pt_store_exec(p, c, PT_STMT_REFUSED_INSERT, insert);
    if (!err)
        err = pt_store_exec(p, c, PT_STMT_REFUSED_TRIM, trim);
    return pt_store_end(p, c, trans, err);
}

const char *pt_store_capture(apr_pool_t *p, const pt_store_conn_t *c,
                             const pt_store_refused_t *r, apr_int64_t now_us)
{
    const char *headers = pt_store_refused_headers(p, r->headers,
                                                   r->signature_header);
    const char *raw = r->body ? r->body : "";
    apr_size_t len = r->body ? r->body_len : 0;
    apr_int64_t length = (apr_int64_t)len;
    const char *body, *encoding, *err;
    const void *insert[7], *trim[2];
    int verbosity;

    if (!headers)
        return PT_STMT_REFUSED_INSERT ": the headers cannot be written as "
               "JSON";
    body = pt_store_body(p, raw,
                         pt_store_utf8_cut(raw, len, PT_STORE_REFUSED_BODY),
                         &encoding);
    insert[0] = r->location;
    insert[1] = &now_us;
    insert[2] = r->reason;
    insert[3] = headers;
    insert[4] = body;
    insert[5] = encoding;
    insert[6] = &length;
    trim[0] = trim[1] = r->location;
    verbosity = pt_store_pg_verbosity(c, PQERRORS_VERBOSE);
    err = pt_store_capture_run(p, c, insert, trim);
    if (err && pt_store_reprepared(p, c, err))
        err = pt_store_capture_run(p, c, insert, trim);
    pt_store_pg_verbosity(c, verbosity);
    return err;
}
