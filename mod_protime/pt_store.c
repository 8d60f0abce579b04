/* pt_store: the SQL of mod_protime, run through apr_dbd (see pt_store.h).
 *
 * Notes on apr_dbd_sqlite3 (apr-util 1.6 and 1.7), which shape this file:
 *
 * - apr_dbd_transaction_start runs "BEGIN IMMEDIATE", so the write lock is
 *   taken at BEGIN, never later in the middle of a delivery. If BEGIN fails
 *   the driver still hands back a transaction object (and remembers it on
 *   the handle), so apr_dbd_transaction_end must be called all the same.
 * - Every sqlite3_step that returns SQLITE_BUSY is retried by the driver up
 *   to 16 times in all, with apr_sleep(100 ms) between the tries, and each
 *   try first runs SQLite's own busy handler (PRAGMA busy_timeout). One
 *   statement against a lock that is not released thus waits
 *   16 * (busy_timeout + 100 ms); we set busy_timeout so that this total
 *   stays near PT_SQLITE_BUSY_TIMEOUT_MS.
 * - A step that returns a row is an error for apr_dbd_query, hence
 *   apr_dbd_select for the PRAGMAs that answer with one.
 * - Once a statement fails inside a transaction, the driver refuses every
 *   further one with the same error and ends the transaction with ROLLBACK.
 */
#include <limits.h>
#include <string.h>

#include <apr_base64.h>
#include <apr_strings.h>
#include <jansson.h>

#include "pt_store.h"
#include "pt_schema.h"

#define PT_STORE_SQLITE_TRIES 16
#define PT_STORE_SQLITE_SLEEP_MS 100

/* Data columns: a Delete keeps the row's last values (and its payload), an
 * InsertOrUpdate replaces them all, NULLs included. */
#define PT_STORE_DATA(col) \
    col " = CASE WHEN excluded.deleted = 1 THEN c." col \
    " ELSE excluded." col " END, "

/* The changeVersion rule, in one statement so that concurrent writers
 * (other processes, other servers) cannot interleave a read and a write.
 * The comparison takes the collation of c.change_version: BINARY in SQLite,
 * "C" in PostgreSQL, i.e. bytes in both. The date goes as %pDd so that
 * PostgreSQL types the parameter as date (SQLite binds it as text). */
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

static const char pt_store_quarantine_sql[] =
    "INSERT INTO protime_quarantine"
    " (received_at, reason, body, body_encoding)"
    " VALUES (%lld, %s, %s, %s)";

static const struct {
    const char *label;
    const char *sql;
} pt_store_statements[] = {
    { PT_STMT_UPSERT, pt_store_upsert_sql },
    { PT_STMT_QUARANTINE, pt_store_quarantine_sql }
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
    return apr_psprintf(NULL == driver_name ? NULL : NULL, "%s", "")
           ? NULL : NULL;
}
