/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_storage.c: storage glue between the handler, the
 * subscription job, mod_dbd and pt_store (see mod_protime_storage.h).
 *
 * Three things live here.
 *
 * 1. Connections come from mod_dbd (ap_dbd_open, one batch, read or write
 *    at a time: see protime_storage_open), and our statements are prepared
 *    lazily, on the first use of each connection, into a hash of our own
 *    kept with the connection (protime_storage_ready). Not into the
 *    connection's "prepared" hash: mod_dbd shares that with every module,
 *    and preparing ours again after a PostgreSQL restart must not touch
 *    another module's labels. Not with ap_dbd_prepare either: mod_dbd
 *    prepares before anything could create the tables, and a PostgreSQL
 *    that is down at startup must not leave us without statements for the
 *    life of the connection pool. Nor in the dbd post_connect hook: it runs
 *    for every connection of every module, in databases that are none of
 *    our business.
 *
 * 2. One group commit for the whole server. Each delivery must be
 *    committed before it is answered, and a commit is the expensive part
 *    (an fsync with synchronous=FULL, a WAL flush on PostgreSQL). So a
 *    delivery puts its events, as parsed, into the queue in shared memory
 *    (pt_queue.h), whichever process it arrived in, and waits for the
 *    writers' mutex. Whoever holds the mutex commits everything queued by
 *    every process in one transaction and leaves each delivery its result;
 *    a delivery that gets the mutex after it was committed by someone else
 *    answers at once. It is the shape of PostgreSQL's WAL flush: one
 *    commit for many deliveries under load, no added wait when idle, and
 *    no process's page cache thrown away by another's turn more often than
 *    there are commits. The queue holds deliveries as the process they
 *    arrived in parsed them (pt_delivery_pack): parsing them again in the
 *    writer would lengthen every commit, the mutex held. The mutex is
 *    robust: a writer killed in the middle of its commit releases it, and
 *    the next holder commits what the dead one had taken again (the
 *    changeVersion rule makes a second commit harmless). A delivery larger
 *    than a slot, or one that finds the queue full, is committed by its own
 *    request, with whatever is queued. pt_store_commit retries each
 *    delivery alone if the shared transaction fails quickly, so one bad
 *    delivery never costs the others.
 *
 * 3. SQLite set-up. SQLite takes one writer at a time; processes that find
 *    the lock taken would sleep and poll in SQLite's busy handler, which
 *    ruins latency. Our writers instead queue on the writers' mutex ("Mutex
 *    protime-db" tunes it). The database file is created by the parent at
 *    startup, with the schema and WAL mode, and handed to the User that
 *    children run as, so that "DBDriver sqlite3" and "DBDParams <file>" are
 *    all an administrator has to write.
 *
 * 4. Connections that stop working without telling. mod_dbd drops a
 *    connection only when apr_dbd_check_conn fails, and it never fails for
 *    SQLite (it asks whether the handle is open), while a PostgreSQL
 *    server that stops answering leaves libpq waiting for ever. So an
 *    SQLite connection whose file was removed or replaced, or that opened
 *    it read-only, is opened again in place (protime_storage_reopen), and
 *    a PostgreSQL call that has not answered by its deadline has its
 *    socket shut down (protime_deadlines_expire), which makes it fail and
 *    mod_dbd reconnect. Both answer 503 until the database works again.
 */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <util_cfgtree.h>
#include <util_mutex.h>
#include <unixd.h>
#include <apr_file_info.h>
#include <apr_global_mutex.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <mod_watchdog.h>
#include <errno.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include "mod_protime.h"
#include "mod_protime_config.h"
#include "mod_protime_shm.h"
#include "mod_protime_storage.h"
#include "pt_clock.h"

APLOG_USE_MODULE(protime);

#define PROTIME_DB_MUTEX_TYPE "protime-db"

/* Userdata of a mod_dbd connection's pool: our state of it. */
#define PROTIME_CONN_KEY "mod_protime_conn"

/* Longest a PostgreSQL connection may be held without its server
 * answering: twice what the server lets one of our statements run
 * (PT_PGSQL_STATEMENT_TIMEOUT_MS). A server that has not answered by then
 * is not answering: a frozen host, or a network partition. */
#define PROTIME_PGSQL_DEADLINE \
    apr_time_from_msec(2 * PT_PGSQL_STATEMENT_TIMEOUT_MS)
/* How often each child looks for calls past their deadline. */
#define PROTIME_DEADLINE_CHECK apr_time_from_msec(500)
#define PROTIME_DEADLINE_WATCHDOG "_protime_deadlines_"

/* How often a connection tries to open its SQLite file again, at most. */
#define PROTIME_REOPEN_INTERVAL apr_time_from_sec(1)

/* A PostgreSQL connection in use, while its deadline runs. The socket is
 * a duplicate of libpq's, ours to shut down and to close: libpq may close
 * its own at any time, and the number could then name another file. */
typedef struct protime_deadline protime_deadline;
struct protime_deadline {
    protime_deadline *next;
    server_rec *s;
    int socket;
    apr_time_t until;               /* pt_clock_monotonic() */
};

/* What the module keeps with each mod_dbd connection. */
typedef struct {
    apr_pool_t *statements_pool;
    apr_hash_t *prepared;           /* NULL until readied */
    apr_time_t reopened_at;         /* SQLite, pt_clock_monotonic() */
    protime_deadline deadline;      /* PostgreSQL, while in use */
} protime_conn;

/* Most deliveries one transaction takes: bounds the wait of the last one. */
#define PROTIME_MAX_BATCH 64

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *protime_dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *protime_dbd_close;
static apr_global_mutex_t *protime_storage_mutex;
static pt_queue_t *protime_queue;

/* The connections of this process in use with a deadline (one per thread
 * at most), under protime_deadlines_lock. */
static apr_thread_mutex_t *protime_deadlines_lock;
static protime_deadline *protime_deadlines;
static int protime_uses_pgsql;      /* a server of this generation does */

void protime_storage_pre_config(apr_pool_t *pconf)
{
    ap_mutex_register(pconf, PROTIME_DB_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

/* What the configuration says about one server's database. */
typedef struct {
    const char *driver;         /* DBDriver, NULL if not set here */
    const char *params;         /* DBDParams */
    int uses_webhook;           /* a SetHandler protime-webhook inside */
} protime_storage_decl;

/* Collects DBDriver, DBDParams and protime-webhook handlers below d, not
 * descending into <VirtualHost> (those are servers of their own). */
static void protime_scan(apr_pool_t *p, const ap_directive_t *d,
                         protime_storage_decl *decl)
{
    for (; d; d = d->next) {
        const char *args = d->args;

        if (!strcasecmp(d->directive, "<VirtualHost"))
            continue;
        if (!strcasecmp(d->directive, "DBDriver"))
            decl->driver = ap_getword_conf(p, &args);
        else if (!strcasecmp(d->directive, "DBDParams"))
            decl->params = ap_getword_conf(p, &args);
        else if (protime_is_webhook_handler(p, d))
            decl->uses_webhook = 1;
        if (d->first_child)
            protime_scan(p, d->first_child, decl);
    }
}

/* Whether User may write (want_write) or search a file or directory, as
 * the kernel would decide from owner, group and mode. */
static int protime_user_may(const apr_finfo_t *fi, int want_write)
{
    if (fi->user == ap_unixd_config.user_id)
        return (fi->protection & (want_write ? APR_UWRITE : APR_UEXECUTE)) != 0;
    if (fi->group == ap_unixd_config.group_id)
        return (fi->protection & (want_write ? APR_GWRITE : APR_GEXECUTE)) != 0;
    return (fi->protection & (want_write ? APR_WWRITE : APR_WEXECUTE)) != 0;
}

/* The first directory above path (inclusive) that User cannot search, or
 * NULL: a 0700 parent hides the database from the children. */
static const char *protime_unsearchable_parent(apr_pool_t *p, const char *dir)
{
    char *d = apr_pstrdup(p, dir);

    for (;;) {
        apr_finfo_t fi;
        char *slash;

        if (apr_stat(&fi, *d ? d : "/", APR_FINFO_OWNER | APR_FINFO_PROT, p)
            == APR_SUCCESS && !protime_user_may(&fi, 0))
            return *d ? d : "/";
        if ((slash = strrchr(d, '/')) == NULL)
            return NULL;
        *slash = '\0';
    }
}

static void protime_chown_if_exists(apr_pool_t *p, server_rec *s,
                                    const char *path)
{
    if (chown(path, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0
        && errno != ENOENT)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, PTLOGNO(00401)
                     "cannot hand %s to User %s", path,
                     ap_unixd_config.user_name);
}

/* The directory that holds path ("/a" for "/a/b"). */
static const char *protime_parent_dir(apr_pool_t *p, const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash == path ? "/" : apr_pstrndup(p, path, slash - path);
}

/* Where an SQLite database goes, as protime_sqlite_check found it. */
typedef struct {
    const char *dir;            /* its directory; NULL: not a plain file */
    const char *missing;        /* the topmost directory to create, or NULL */
} protime_sqlite_place;

/* Whether the children may write in dir: as root, User's rights as the
 * kernel will judge them; else the process's own, which the children keep. */
static int protime_writable(const char *dir, const apr_finfo_t *fi,
                            int as_root)
{
    return as_root ? protime_user_may(fi, 1)
                   : access(dir, W_OK | X_OK) == 0;
}

/* Checks, changing nothing, that the SQLite database at path can be set up
 * and then written by the children; logs why not. Run by apachectl
 * configtest and by the first reading of the configuration at start, which
 * report on the terminal (the error log is not open yet) and fail before
 * httpd detaches; then again by protime_sqlite_setup, the situation may
 * have changed since. */
static apr_status_t protime_sqlite_check(apr_pool_t *p, server_rec *s,
                                         const char *path,
                                         protime_sqlite_place *place)
{
    int as_root = (geteuid() == 0);
    const char *who, *existing, *closed;
    char *name;
    apr_finfo_t fi;
    apr_status_t rv;

    /* Who the children will be. */
    if (as_root)
        who = apr_pstrcat(p, "User ", ap_unixd_config.user_name, NULL);
    else
        who = apr_uid_name_get(&name, geteuid(), p) == APR_SUCCESS
              ? name : "the user httpd runs as";
    place->dir = place->missing = NULL;
    if (!strcmp(path, ":memory:") || !strncmp(path, "file:", 5))
        return APR_SUCCESS;
    if (*path != '/') {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTLOGNO(00415)
                     "DBDParams %s: a relative SQLite path is taken from /, "
                     "where httpd runs, not from ServerRoot; give the "
                     "absolute path, e.g. /var/lib/apache2/protime/"
                     "protime.db", path);
        return APR_EBADPATH;
    }
    place->dir = protime_parent_dir(p, path);
    for (existing = place->dir;
         APR_STATUS_IS_ENOENT(rv = apr_stat(&fi, existing, APR_FINFO_OWNER
                                            | APR_FINFO_PROT | APR_FINFO_TYPE,
                                            p));
         existing = protime_parent_dir(p, existing))
        place->missing = existing;
    if (rv == APR_SUCCESS && fi.filetype != APR_DIR)
        rv = APR_ENOTDIR;
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PTLOGNO(00404)
                     "DBDParams %s: cannot use directory %s", path, existing);
        return rv;
    }
    if (place->missing) {
        if (!as_root && access(existing, W_OK | X_OK) != 0) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, errno, s, PTLOGNO(00416)
                         "DBDParams %s: %s cannot create directory %s in %s; "
                         "create it, or move the database", path, who,
                         place->missing, existing);
            return APR_EACCES;
        }
    }
    else if (!protime_writable(place->dir, &fi, as_root)) {
        /* SQLite creates its -wal and -shm files next to the database. We
         * will not take over a shared directory such as /var/lib/apache2. */
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTLOGNO(00405)
                     "DBDParams %s: directory %s is not writable by %s, "
                     "and SQLite must create its -wal and -shm files there; "
                     "put the database in a directory of its own (it is "
                     "created for you if missing)", path, place->dir, who);
        return APR_EACCES;
    }
    if (as_root && (closed = protime_unsearchable_parent(p, existing))) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTLOGNO(00413)
                     "DBDParams %s: %s cannot enter directory %s; "
                     "allow it (chmod o+x, or a group) or move the database",
                     path, who, closed);
        return APR_EACCES;
    }
    return APR_SUCCESS;
}

/* Removes what protime_sqlite_setup created before it failed: the database
 * files, then the directories it made, innermost first. */
static void protime_sqlite_undo(apr_pool_t *p, const char *path,
                                const protime_sqlite_place *place)
{
    const char *dir = place->dir;

    apr_file_remove(path, p);
    apr_file_remove(apr_pstrcat(p, path, "-wal", NULL), p);
    apr_file_remove(apr_pstrcat(p, path, "-shm", NULL), p);
    for (;;) {
        apr_dir_remove(dir, p);
        if (!strcmp(dir, place->missing))
            break;
        dir = protime_parent_dir(p, dir);
    }
}

/* Creates the SQLite database with its schema in WAL mode, and when httpd
 * starts as root, gives it (and the directories created for it) to User.
 * Creates nothing unless protime_sqlite_check found everything in order,
 * and leaves nothing behind when it fails. */
static apr_status_t protime_sqlite_setup(apr_pool_t *p, server_rec *s,
                                         const char *path)
{
    const apr_dbd_driver_t *driver;
    pt_store_conn_t conn;
    protime_sqlite_place place;
    const char *err;
    apr_status_t rv;
    int as_root = (geteuid() == 0);

    if ((rv = protime_sqlite_check(p, s, path, &place)) != APR_SUCCESS)
        return rv;
    if (!place.dir) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, PTLOGNO(00402)
                     "DBDParams %s: not a plain file name, left as it is",
                     path);
        return APR_SUCCESS;
    }
    if (place.missing) {
        const char *dir = place.dir;

        rv = apr_dir_make_recursive(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                     | APR_FPROT_UEXECUTE | APR_FPROT_GREAD
                                     | APR_FPROT_GEXECUTE, p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PTLOGNO(00403)
                         "DBDParams %s: cannot create directory %s", path,
                         place.dir);
            protime_sqlite_undo(p, path, &place);
            return rv;
        }
        /* Each of them, or User could not enter the inner ones. */
        for (; as_root; dir = protime_parent_dir(p, dir)) {
            protime_chown_if_exists(p, s, dir);
            if (!strcmp(dir, place.missing))
                break;
        }
    }

    memset(&conn, 0, sizeof(conn));
    conn.dialect = PT_DB_SQLITE3;
    rv = apr_dbd_get_driver(p, "sqlite3", &driver);
    if (rv == APR_SUCCESS)
        rv = apr_dbd_open(driver, p, path, &conn.handle);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PTLOGNO(00406)
                     "DBDParams %s: cannot open the SQLite database (is the "
                     "libaprutil1-dbd-sqlite3 package installed?)", path);
        if (place.missing)
            protime_sqlite_undo(p, path, &place);
        return rv;
    }
    conn.driver = driver;
    err = pt_store_create_schema(p, &conn);
    apr_dbd_close(driver, conn.handle);
    /* Not fatal: every new connection of the children runs the same DDL,
     * and a database kept busy (a restart under load, a long backup) must
     * not keep httpd from starting. */
    if (err)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PTLOGNO(00407)
                     "DBDParams %s: schema not checked at startup, the "
                     "children will: %s", path, err);
    if (as_root) {
        protime_chown_if_exists(p, s, path);
        protime_chown_if_exists(p, s, apr_pstrcat(p, path, "-wal", NULL));
        protime_chown_if_exists(p, s, apr_pstrcat(p, path, "-shm", NULL));
    }
    return APR_SUCCESS;
}

/* Finds the database of each server that needs one (a protime-webhook
 * location, or ProtimeSubscribe On) in the configuration tree and checks
 * it: mod_dbd loaded, DBDriver and DBDParams set, a driver mod_protime
 * speaks, an SQLite file that User will be able to use. mod_dbd keeps its
 * configuration to itself, and the parent must know the SQLite file
 * before any child opens it: hence the reading of the tree, as mod_info
 * reads it. With setup (post_config) it also sets up the SQLite files;
 * without (check_config, apachectl configtest included) it only checks.
 * Logs why not and returns an error. */
static apr_status_t protime_storage_resolve(int setup, apr_pool_t *ptemp,
                                            server_rec *s)
{
    protime_storage_decl main_decl = { NULL, NULL, 0 };
    apr_hash_t *sqlite_done = apr_hash_make(ptemp);
    server_rec *sp;
    apr_status_t rv;

    protime_uses_pgsql = 0;
    protime_scan(ptemp, ap_conftree, &main_decl);

    for (sp = s; sp; sp = sp->next) {
        protime_storage_decl decl = main_decl;
        const ap_directive_t *block = sp == s ? NULL
                                      : protime_vhost_block(ap_conftree, sp);
        protime_srv_conf *sc = protime_srv_config(sp);
        pt_dialect_t dialect;
        const char *err;

        if (block) {
            protime_storage_decl own = { NULL, NULL, 0 };
            protime_scan(ptemp, block->first_child, &own);
            decl.uses_webhook = own.uses_webhook;
            if (own.driver)
                decl.driver = own.driver;
            if (own.params)
                decl.params = own.params;
        }
        if (!decl.uses_webhook && !protime_subscribes(sc))
            continue;
        if (!ap_find_linked_module("mod_dbd.c")) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00408)
                         "SetHandler " PROTIME_WEBHOOK_HANDLER " needs "
                         "mod_dbd: LoadModule dbd_module (a2enmod dbd)");
            return APR_EGENERAL;
        }
        if (!decl.driver || !decl.params) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00409)
                         "SetHandler " PROTIME_WEBHOOK_HANDLER " and "
                         "ProtimeSubscribe need a database: set DBDriver "
                         "(sqlite3 or pgsql) and DBDParams for server %s",
                         sp->server_hostname ? sp->server_hostname
                                             : "(default)");
            return APR_EGENERAL;
        }
        if ((err = pt_store_dialect(decl.driver, &dialect)) != NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00410)
                         "DBDriver %s: %s", decl.driver, err);
            return APR_EGENERAL;
        }
        if (dialect == PT_DB_PGSQL)
            protime_uses_pgsql = 1;
        /* A call in progress has a deadline of ours; a new connection
         * (mod_dbd's, or libpq's PQreset of a dropped one) has only
         * libpq's. */
        if (dialect == PT_DB_PGSQL && !setup
            && !strstr(decl.params, "connect_timeout")
            && !getenv("PGCONNECT_TIMEOUT"))
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sp, PTLOGNO(00417)
                         "DBDParams has no connect_timeout: should the "
                         "PostgreSQL server stop answering, every new "
                         "connection, and the deliveries waiting for it, "
                         "would wait until it answers again; add "
                         "connect_timeout=5");
        if (dialect == PT_DB_SQLITE3
            && !apr_hash_get(sqlite_done, decl.params, APR_HASH_KEY_STRING)) {
            protime_sqlite_place place;

            rv = setup ? protime_sqlite_setup(ptemp, sp, decl.params)
                       : protime_sqlite_check(ptemp, sp, decl.params, &place);
            if (rv != APR_SUCCESS)
                return rv;
            apr_hash_set(sqlite_done, decl.params, APR_HASH_KEY_STRING, "");
        }
    }
    return APR_SUCCESS;
}

apr_status_t protime_storage_check(apr_pool_t *ptemp, server_rec *s)
{
    return protime_storage_resolve(0, ptemp, s);
}

/* Shuts down the socket of every PostgreSQL call of this process past its
 * deadline: libpq then finds the connection lost, the call fails (503),
 * and mod_dbd's next check of the connection makes libpq connect again
 * (PQreset), within the connect_timeout of DBDParams. Runs in a
 * mod_watchdog thread of each child. */
static apr_status_t protime_deadlines_expire(int state, void *data,
                                             apr_pool_t *p)
{
    apr_time_t now = pt_clock_monotonic();
    protime_deadline *d;

    if (state != AP_WATCHDOG_STATE_RUNNING)
        return APR_SUCCESS;
    apr_thread_mutex_lock(protime_deadlines_lock);
    for (d = protime_deadlines; d; d = d->next) {
        if (d->until > now)
            continue;
        shutdown(d->socket, SHUT_RDWR);
        d->until = APR_INT64_MAX;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, d->s, PTLOGNO(00418)
                     "the PostgreSQL server has not answered for %d s: "
                     "connection dropped, deliveries answered 503 until it "
                     "answers again",
                     (int)apr_time_sec(PROTIME_PGSQL_DEADLINE));
    }
    apr_thread_mutex_unlock(protime_deadlines_lock);
    return APR_SUCCESS;
}

/* With PostgreSQL, a mod_watchdog thread in each child enforces the
 * deadlines. Without mod_watchdog, calls have none (a warning says so). */
static apr_status_t protime_deadlines_init(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    ap_watchdog_t *watchdog;
    apr_status_t rv;

    protime_deadlines_lock = NULL;
    protime_deadlines = NULL;
    if (!protime_uses_pgsql)
        return APR_SUCCESS;
    if (!get_instance || !register_callback) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PTLOGNO(00419)
                     "without mod_watchdog, a PostgreSQL server that stops "
                     "answering holds deliveries until it answers again: "
                     "LoadModule watchdog_module");
        return APR_SUCCESS;
    }
    /* Before any child: the watchdog thread may run before our
     * child_init. */
    rv = apr_thread_mutex_create(&protime_deadlines_lock,
                                 APR_THREAD_MUTEX_DEFAULT, pconf);
    if (rv == APR_SUCCESS)
        rv = get_instance(&watchdog, PROTIME_DEADLINE_WATCHDOG, 0, 0, pconf);
    if (rv == APR_SUCCESS)
        rv = register_callback(watchdog, PROTIME_DEADLINE_CHECK, NULL,
                               protime_deadlines_expire);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PTLOGNO(00420)
                     "cannot set up the deadlines of PostgreSQL calls");
        protime_deadlines_lock = NULL;
    }
    return rv;
}

apr_status_t protime_storage_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                         server_rec *s)
{
    apr_status_t rv;

    protime_dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    protime_dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    apr_dbd_init(pconf);
    if ((rv = protime_storage_resolve(1, ptemp, s)) != APR_SUCCESS)
        return rv;
    if ((rv = protime_deadlines_init(pconf, s)) != APR_SUCCESS)
        return rv;

    if ((rv = protime_shm_queue_init(pconf, s, &protime_queue)) != APR_SUCCESS)
        return rv;
    rv = ap_global_mutex_create(&protime_storage_mutex, NULL,
                                PROTIME_DB_MUTEX_TYPE, NULL, s, pconf, 0);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PTLOGNO(00411)
                     "cannot create the " PROTIME_DB_MUTEX_TYPE " mutex");
        return rv;
    }
    /* The one mechanism that a process killed while holding it (kill -9,
     * the OOM killer, a crash in the commit) leaves taken for good: every
     * delivery would then wait until httpd is stopped. */
    if (!strcmp(apr_global_mutex_name(protime_storage_mutex), "posixsem"))
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PTLOGNO(00426)
                     "Mutex posixsem " PROTIME_DB_MUTEX_TYPE ": a server "
                     "process killed while it commits would leave every "
                     "later delivery waiting; use default, pthread, fcntl "
                     "or flock");
    return APR_SUCCESS;
}

void protime_storage_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    rv = apr_global_mutex_child_init(&protime_storage_mutex,
                                     apr_global_mutex_lockfile(protime_storage_mutex),
                                     pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, PTLOGNO(00412)
                     "cannot reopen the " PROTIME_DB_MUTEX_TYPE " mutex in "
                     "the child; exiting");
        /* else the parent would spawn failing children forever */
        exit(APEXIT_CHILDSICK);
    }
}

/* The module's state of a mod_dbd connection, made on its first use. */
static protime_conn *protime_conn_of(ap_dbd_t *dbd)
{
    protime_conn *pc = NULL;

    apr_pool_userdata_get((void **)&pc, PROTIME_CONN_KEY, dbd->pool);
    if (!pc) {
        pc = apr_pcalloc(dbd->pool, sizeof(*pc));
        pc->deadline.socket = -1;
        apr_pool_userdata_setn(pc, PROTIME_CONN_KEY, NULL, dbd->pool);
    }
    return pc;
}

/* Readies a connection on its first use: tables when missing, SQLite
 * pragmas, our statements in a pool of ours under the connection's, so
 * that they live and die with the connection. A connection that could
 * not be readied is tried again on its next use, with the pool of the
 * failed try given back. Later uses return at once. */
static const char *protime_storage_ready(apr_pool_t *p,
                                         const protime_srv_conf *sc,
                                         ap_dbd_t *dbd, protime_conn *pc,
                                         pt_store_conn_t *conn)
{
    const char *err;

    conn->handle = dbd->handle;
    if ((conn->prepared = pc->prepared) != NULL
        && apr_hash_count(pc->prepared))
        return NULL;
    /* Emptied by a failed try to prepare them again (pt_store.h). */
    if (pc->statements_pool)
        apr_pool_destroy(pc->statements_pool);
    pc->prepared = NULL;
    apr_pool_create(&pc->statements_pool, dbd->pool);
    apr_pool_tag(pc->statements_pool, "protime_statements");
    conn->prepared = apr_hash_make(pc->statements_pool);
    if ((err = pt_store_create_schema(pc->statements_pool, conn)) != NULL
        || (err = pt_store_prepare(pc->statements_pool, conn,
                                   protime_sqlite_sync_full(sc)))) {
        err = apr_pstrdup(p, err);      /* from the pool given back */
        apr_pool_destroy(pc->statements_pool);
        pc->statements_pool = NULL;
        return err;
    }
    pc->prepared = conn->prepared;
    return NULL;
}

static apr_status_t protime_close_handle(void *data)
{
    const pt_store_conn_t *old = data;

    return apr_dbd_close(old->driver, old->handle);
}

/* Opens the SQLite database of a stale connection (why: see
 * pt_store_sqlite_stale) again, in place, as mod_dbd itself revives a
 * PostgreSQL connection (PQreset): mod_dbd has no way to drop one
 * connection, and never finds an SQLite connection bad itself. The new
 * handle takes the old one's place in the ap_dbd_t, where mod_dbd will
 * close it with the connection. The old one is closed now, unless another
 * module prepared statements on it through mod_dbd (dbd->prepared): those
 * keep it until the connection goes. Not tried while the file plainly
 * cannot be written (its directory missing, as after an rm -rf; still
 * read-only), nor more than once in PROTIME_REOPEN_INTERVAL, so that a
 * fault that lasts costs neither an open nor memory for each delivery. */
static const char *protime_storage_reopen(apr_pool_t *p, server_rec *s,
                                          ap_dbd_t *dbd, protime_conn *pc,
                                          pt_store_conn_t *conn,
                                          const char *why)
{
    const char *file = apr_pstrdup(p, pt_store_sqlite_file(conn));
    const char *dir = protime_parent_dir(p, file);
    apr_time_t now = pt_clock_monotonic();
    pt_store_conn_t *old;
    apr_dbd_t *fresh;
    const char *err = NULL;

    if (now - pc->reopened_at < PROTIME_REOPEN_INTERVAL)
        return why;
    pc->reopened_at = now;
    if (access(dir, W_OK | X_OK) != 0
        || (access(file, F_OK) == 0 && access(file, R_OK | W_OK) != 0)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s, PTLOGNO(00421)
                     "%s, and it cannot be opened again yet", why);
        return why;
    }
    if (apr_dbd_open_ex(dbd->driver, dbd->pool, file, &fresh, &err)
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PTLOGNO(00422)
                     "%s, and opening it again failed: %s", why,
                     err ? err : "(no reason given)");
        return why;
    }
    old = apr_pmemdup(dbd->pool, conn, sizeof(*conn));
    dbd->handle = conn->handle = fresh;
    if (apr_hash_count(dbd->prepared))
        apr_pool_cleanup_register(dbd->pool, old, protime_close_handle,
                                  apr_pool_cleanup_null);
    else
        protime_close_handle(old);
    /* Our statements belonged to the old handle. */
    if (pc->statements_pool)
        apr_pool_destroy(pc->statements_pool);
    pc->statements_pool = NULL;
    pc->prepared = NULL;
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PTLOGNO(00423)
                 "%s: opened it again", why);
    return NULL;
}

/* Arms the deadline of a PostgreSQL connection about to be used. */
static void protime_deadline_arm(server_rec *s, protime_conn *pc,
                                 const pt_store_conn_t *conn)
{
    int fd;

    if (!protime_deadlines_lock || (fd = pt_store_pg_socket(conn)) < 0
        || (pc->deadline.socket = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        return;
    pc->deadline.s = s;
    pc->deadline.until = pt_clock_monotonic() + PROTIME_PGSQL_DEADLINE;
    apr_thread_mutex_lock(protime_deadlines_lock);
    pc->deadline.next = protime_deadlines;
    protime_deadlines = &pc->deadline;
    apr_thread_mutex_unlock(protime_deadlines_lock);
}

static void protime_deadline_disarm(protime_conn *pc)
{
    protime_deadline **d;

    if (pc->deadline.socket < 0)
        return;
    apr_thread_mutex_lock(protime_deadlines_lock);
    for (d = &protime_deadlines; *d != &pc->deadline; d = &(*d)->next)
        ;
    *d = pc->deadline.next;
    apr_thread_mutex_unlock(protime_deadlines_lock);
    close(pc->deadline.socket);
    pc->deadline.socket = -1;
}

/* mod_dbd's pool hands out the connection released last first, so one
 * batch after another runs on the same connection. For SQLite that is
 * what keeps its page cache, which is thrown away whenever another
 * connection has written: a batch on a connection of its own would read
 * most of its pages again. Hence a connection for each batch, given back
 * right after it, rather than one for the request (ap_dbd_acquire). */
ap_dbd_t *protime_storage_open(apr_pool_t *p, server_rec *s,
                               pt_store_conn_t *conn, const char **err)
{
    ap_dbd_t *dbd = protime_dbd_open ? protime_dbd_open(p, s) : NULL;
    const protime_srv_conf *sc = protime_srv_config(s);
    protime_conn *pc;
    const char *why;

    if (!dbd) {
        *err = "no database connection (mod_dbd logged why)";
        return NULL;
    }
    if ((*err = pt_store_dialect(apr_dbd_name(dbd->driver), &conn->dialect))) {
        protime_dbd_close(s, dbd);
        return NULL;
    }
    conn->driver = dbd->driver;
    conn->handle = dbd->handle;
    pc = protime_conn_of(dbd);
    protime_deadline_arm(s, pc, conn);
    *err = protime_storage_ready(p, sc, dbd, pc, conn);
    if (!*err && (why = pt_store_sqlite_stale(p, conn)) != NULL
        && !(*err = protime_storage_reopen(p, s, dbd, pc, conn, why))
        && !(*err = protime_storage_ready(p, sc, dbd, pc, conn)))
        *err = pt_store_sqlite_stale(p, conn);
    if (*err) {
        protime_storage_close(s, dbd);
        return NULL;
    }
    return dbd;
}

void protime_storage_close(server_rec *s, ap_dbd_t *dbd)
{
    protime_deadline_disarm(protime_conn_of(dbd));
    protime_dbd_close(s, dbd);
}

/* The writers' mutex is taken before a connection, never while one is
 * held: the writer that holds the mutex may be waiting for the last
 * connection of mod_dbd's pool (DBDMax), which would then never come. So
 * the mutex first, then a connection; NULL, with the mutex let go, when
 * there is none. */
static ap_dbd_t *protime_storage_open_locked(apr_pool_t *p, server_rec *s,
                                             pt_store_conn_t *conn,
                                             const char **err)
{
    ap_dbd_t *dbd;

    if (apr_global_mutex_lock(protime_storage_mutex) != APR_SUCCESS) {
        *err = "cannot take the writers' mutex";
        return NULL;
    }
    if ((dbd = protime_storage_open(p, s, conn, err)) == NULL)
        apr_global_mutex_unlock(protime_storage_mutex);
    return dbd;
}

/* The dialect is only known from a connection: an SQLite one is given
 * back, and taken again with the mutex (protime_storage_open_locked). */
ap_dbd_t *protime_storage_open_write(apr_pool_t *p, server_rec *s,
                                     pt_store_conn_t *conn, const char **err,
                                     int *locked)
{
    ap_dbd_t *dbd = protime_storage_open(p, s, conn, err);

    *locked = 0;
    if (!dbd || conn->dialect != PT_DB_SQLITE3)
        return dbd;
    protime_storage_close(s, dbd);
    dbd = protime_storage_open_locked(p, s, conn, err);
    *locked = dbd != NULL;
    return dbd;
}

static void protime_storage_close_locked(server_rec *s, ap_dbd_t *dbd)
{
    protime_storage_close(s, dbd);
    apr_global_mutex_unlock(protime_storage_mutex);
}

static void protime_checkpoint(apr_pool_t *p, server_rec *s);

/* Whether commits more bring the server's count to a checkpoint. */
static int protime_checkpoint_due(int commits)
{
    return protime_shm_commits_add(commits) % PT_STORE_CHECKPOINT_COMMITS
           < (apr_uint32_t)commits;
}

void protime_storage_close_write(apr_pool_t *p, server_rec *s, ap_dbd_t *dbd,
                                 int locked)
{
    if (!locked) {
        protime_storage_close(s, dbd);
        return;
    }
    protime_storage_close_locked(s, dbd);
    /* Counted as a batch is: a server that receives no deliveries, only
     * these writes, must copy its WAL back too, or the WAL grows without
     * bound. */
    if (protime_checkpoint_due(1))
        protime_checkpoint(p, s);
}

const char *protime_storage_capture(request_rec *r,
                                    const pt_store_refused_t *refused)
{
    pt_store_conn_t conn;
    const char *err;
    int locked;
    ap_dbd_t *dbd = protime_storage_open_write(r->pool, r->server, &conn,
                                               &err, &locked);

    if (!dbd)
        return err;
    err = pt_store_capture(r->pool, &conn, refused, apr_time_now());
    protime_storage_close_write(r->pool, r->server, dbd, locked);
    return err;
}

/* Commits one batch, the writers' mutex held; returns the number of
 * transactions committed. */
static int protime_commit_batch(request_rec *r, pt_store_job_t **jobs, int n,
                                apr_time_t arrived)
{
    pt_store_conn_t conn;
    const char *err;
    apr_time_t opening = pt_clock_monotonic();
    ap_dbd_t *dbd = protime_storage_open(r->pool, r->server, &conn, &err);
    apr_pool_t *p;
    int commits, waited;

    if (!dbd) {
        /* Long in coming (a server that does not answer, libpq's
         * connect_timeout): later writers would wait as long. */
        if (pt_clock_monotonic() - opening >= PT_STORE_WAITED)
            protime_shm_set_gave_up_at(pt_clock_monotonic());
        pt_store_fail_jobs(jobs, n, err);
        return 0;
    }
    /* A batch whose deliveries arrived before another batch gave up
     * waiting (a lock held by another program, a statement timeout) gives
     * up with it: else each writer in turn would wait a timeout.
     * Deliveries that come later try again. */
    if (arrived < protime_shm_gave_up_at()) {
        pt_store_fail_jobs(jobs, n, "the database is locked by another "
                           "program, or too slow: an earlier transaction "
                           "gave up waiting");
        protime_storage_close(r->server, dbd);
        return 0;
    }
    apr_pool_create(&p, r->pool);
    commits = pt_store_commit(p, &conn, jobs, n, apr_time_now(), &waited);
    /* Nothing committed after a long wait: the lock is held elsewhere. */
    if (commits == 0 && waited)
        protime_shm_set_gave_up_at(pt_clock_monotonic());
    /* Committed into a file that was removed or replaced meanwhile: it is
     * not at the configured path, and no 2xx may say it is. The next
     * batch opens the database again (protime_storage_open). */
    if (commits && (err = pt_store_sqlite_stale(r->pool, &conn)) != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PTLOGNO(00424)
                      "%s while a batch was committed: its %d deliveries "
                      "are answered 503", err, n);
        pt_store_fail_jobs(jobs, n, err);
    }
    apr_pool_destroy(p);
    protime_storage_close(r->server, dbd);
    protime_count(PROTIME_C_COMMITS, commits);
    return commits;
}

/* The connection of a checkpoint, which its last pass takes again after
 * the writers' mutex (protime_storage_open_locked says why). */
typedef struct {
    apr_pool_t *p;
    server_rec *s;
    ap_dbd_t *dbd;
    pt_store_conn_t conn;
} protime_checkpointer;

static int protime_checkpoint_lock(void *baton)
{
    protime_checkpointer *cp = baton;
    const char *err;

    protime_storage_close(cp->s, cp->dbd);
    cp->dbd = protime_storage_open_locked(cp->p, cp->s, &cp->conn, &err);
    return cp->dbd ? 0 : -1;
}

static void protime_checkpoint_unlock(void *baton)
{
    protime_checkpointer *cp = baton;

    protime_storage_close_locked(cp->s, cp->dbd);
    cp->dbd = NULL;
}

/* Copies the WAL back into the database and lets it start over
 * (pt_store_checkpoint), after this request handed the lead over; the last
 * frames are copied under the mutex every SQLite writer of this server
 * takes. */
static void protime_checkpoint(apr_pool_t *p, server_rec *s)
{
    protime_checkpointer cp;
    const char *err;

    memset(&cp, 0, sizeof(cp));
    cp.p = p;
    cp.s = s;
    cp.dbd = protime_storage_open(p, s, &cp.conn, &err);
    if (cp.dbd) {
        err = pt_store_checkpoint(p, &cp.conn, protime_checkpoint_lock,
                                  protime_checkpoint_unlock, &cp);
        /* Still the first connection: no last pass was needed. */
        if (cp.dbd)
            protime_storage_close(s, cp.dbd);
    }
    if (err)
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PTLOGNO(00414)
                     "WAL checkpoint: %s", err);
}

/* Commits what the queue holds, and own (NULL, or a delivery that is not
 * in the queue), the writers' mutex held. Returns whether a checkpoint is
 * due. */
static int protime_write(request_rec *r, pt_store_job_t *own)
{
    int slots[PROTIME_MAX_BATCH];
    pt_store_job_t *queued[PROTIME_MAX_BATCH];      /* one per slot */
    pt_store_job_t *batch[PROTIME_MAX_BATCH + 1];
    apr_time_t arrived = own ? pt_clock_monotonic() : APR_INT64_MAX;
    apr_pool_t *p;
    int i, n, nbatch = 0, commits;

    apr_pool_create(&p, r->pool);
    n = pt_queue_take(protime_queue, slots, PROTIME_MAX_BATCH);
    for (i = 0; i < n; i++) {
        pt_store_job_t *job = apr_pcalloc(p, sizeof(*job));
        pt_delivery_t *delivery = apr_pcalloc(p, sizeof(*delivery));
        apr_time_t when;
        apr_size_t len;
        const char *packed = pt_queue_packed(protime_queue, slots[i], &len,
                                             &when);

        queued[i] = job;
        job->delivery = delivery;
        if (!pt_delivery_unpack(p, packed, len, delivery)) {
            /* Only memory that something else wrote into could do it. */
            job->error = "the queued delivery could not be read back";
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PTLOGNO(00425)
                          "%s: answering it 503", job->error);
            continue;
        }
        batch[nbatch++] = job;
        if (when < arrived)
            arrived = when;
    }
    if (own)
        batch[nbatch++] = own;
    commits = nbatch ? protime_commit_batch(r, batch, nbatch, arrived) : 0;
    for (i = 0; i < n; i++) {
        const pt_store_job_t *job = queued[i];
        pt_queue_result_t result;

        result.applied = job->applied;
        result.deletes = job->deletes;
        result.stale = job->stale;
        result.quarantined = job->quarantined;
        result.failed = job->error != NULL;
        apr_cpystrn(result.error, job->error ? job->error : "",
                    sizeof(result.error));
        pt_queue_finish(protime_queue, slots[i], &result);
    }
    apr_pool_destroy(p);
    return protime_checkpoint_due(commits);
}

void protime_storage_store(request_rec *r, pt_store_job_t *job)
{
    int slot = pt_queue_put(protime_queue, job->delivery,
                            pt_clock_monotonic());
    int checkpoint = 0;
    pt_queue_result_t result;

    for (;;) {
        if (apr_global_mutex_lock(protime_storage_mutex) != APR_SUCCESS) {
            job->error = "cannot take the writers' mutex";
            /* Answered 503 either way: a writer that took the delivery
             * already may commit it, and frees the slot as it finishes. */
            if (slot >= 0)
                pt_queue_abandon(protime_queue, slot);
            slot = -1;
            break;
        }
        if (slot >= 0 && pt_queue_done(protime_queue, slot, &result)) {
            apr_global_mutex_unlock(protime_storage_mutex);
            break;
        }
        checkpoint |= protime_write(r, slot >= 0 ? NULL : job);
        apr_global_mutex_unlock(protime_storage_mutex);
        /* Committed ourselves, or in the batch we just wrote (unless the
         * queue held more than one batch: then the mutex again). */
        if (slot < 0 || pt_queue_done(protime_queue, slot, &result))
            break;
    }
    if (slot >= 0) {
        if (pt_queue_done(protime_queue, slot, &result)) {
            job->applied = result.applied;
            job->deletes = result.deletes;
            job->stale = result.stale;
            job->quarantined = result.quarantined;
            job->error = result.failed ? apr_pstrdup(r->pool, result.error)
                                       : NULL;
        }
        pt_queue_free(protime_queue, slot);
    }
    /* The next batch is already on its way: only this delivery's answer
     * waits for the checkpoint, and only once in many commits. */
    if (checkpoint)
        protime_checkpoint(r->pool, r->server);
}
