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
 * 2. Group commit. Each delivery must be committed before it is answered,
 *    and a commit is the expensive part (an fsync with synchronous=FULL).
 *    So the deliveries that arrive while a commit is under way in this
 *    process queue up, and the next thread to find no commit running takes
 *    all of them into one transaction (leader/follower): one commit for many
 *    deliveries under load, no added wait when idle. pt_store_commit retries
 *    each delivery alone if the shared transaction fails quickly, so one bad
 *    delivery never costs the others.
 *
 * 3. SQLite set-up. SQLite takes one writer at a time; processes that find
 *    the lock taken would sleep and poll in SQLite's busy handler, which
 *    ruins latency. Our writers instead queue on a global mutex ("Mutex
 *    protime-db" tunes it). The database file is created by the parent at
 *    startup, with the schema and WAL mode, and handed to the User that
 *    children run as, so that "DBDriver sqlite3" and "DBDParams <file>" are
 *    all an administrator has to write.
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
#include <errno.h>
#include <unistd.h>

#include "mod_protime.h"
#include "mod_protime_config.h"
#include "mod_protime_shm.h"
#include "mod_protime_storage.h"

APLOG_USE_MODULE(protime);

#define PROTIME_DB_MUTEX_TYPE "protime-db"

/* Userdata of a mod_dbd connection's pool: our statements on it. */
#define PROTIME_STATEMENTS_KEY "mod_protime_statements"

/* Most deliveries one transaction takes: bounds the wait of the last one. */
#define PROTIME_MAX_BATCH 64

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *protime_dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *protime_dbd_close;
static apr_global_mutex_t *protime_storage_mutex;

/* Where a delivery stands in its process's group commit. */
typedef enum {
    PROTIME_QUEUED,             /* waits for a leader to take it */
    PROTIME_LEAD,               /* is to commit what is queued */
    PROTIME_DONE                /* committed, or its job holds the error */
} protime_turn;

/* A delivery waiting for its commit. Each has its own mutex and condition,
 * so that a finished commit wakes exactly the deliveries it holds, plus the
 * oldest waiting one to lead the next: waking every waiter each time would
 * cost more than the commits themselves. A woken delivery takes only its
 * own mutex: were turn guarded by the committer's lock, every delivery the
 * leader woke would block on that lock, still held by the leader waking
 * the others, and be woken once more (bench/README.md has the figures). */
typedef struct protime_pending {
    pt_store_job_t *job;
    apr_time_t arrived;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *wake;
    protime_turn turn;
    struct protime_pending *next;
} protime_pending;

struct protime_committer {
    apr_thread_mutex_t *lock;
    protime_pending *head;
    protime_pending **tail;
    int committing;
    int commits_unchecked;      /* since this process's last checkpoint */
};

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

static int protime_is_webhook_handler(apr_pool_t *p, const ap_directive_t *d)
{
    const char *args = d->args;

    return !strcasecmp(d->directive, "SetHandler")
           && !strcasecmp(ap_getword_conf(p, &args), PROTIME_WEBHOOK_HANDLER);
}

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

/* The <VirtualHost> block that defined s, found in the configuration tree
 * the way mod_info reads it. */
static const ap_directive_t *protime_vhost_block(const ap_directive_t *d,
                                                 const server_rec *s)
{
    for (; d; d = d->next) {
        const ap_directive_t *found;

        if (!strcasecmp(d->directive, "<VirtualHost")
            && (unsigned)d->line_num == s->defn_line_number
            && s->defn_name && !strcmp(d->filename, s->defn_name))
            return d;
        if (d->first_child
            && (found = protime_vhost_block(d->first_child, s)) != NULL)
            return found;
    }
    return NULL;
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

/* Creates the SQLite database with its schema in WAL mode, and when httpd
 * starts as root, gives it (and a directory we created for it) to User. */
static apr_status_t protime_sqlite_setup(apr_pool_t *p, server_rec *s,
                                         const char *path)
{
    const apr_dbd_driver_t *driver;
    pt_store_conn_t conn;
    const char *dir, *err, *slash;
    apr_finfo_t fi;
    apr_status_t rv;
    int as_root = (geteuid() == 0);

    if (!strcmp(path, ":memory:") || !strncmp(path, "file:", 5)) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, PTLOGNO(00402)
                     "DBDParams %s: not a plain file name, left as it is",
                     path);
        return APR_SUCCESS;
    }
    slash = strrchr(path, '/');
    dir = slash ? (slash == path ? "/" : apr_pstrndup(p, path, slash - path))
                : ".";
    rv = apr_stat(&fi, dir, APR_FINFO_OWNER | APR_FINFO_PROT | APR_FINFO_TYPE,
                  p);
    if (APR_STATUS_IS_ENOENT(rv)) {
        rv = apr_dir_make_recursive(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                     | APR_FPROT_UEXECUTE | APR_FPROT_GREAD
                                     | APR_FPROT_GEXECUTE, p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PTLOGNO(00403)
                         "DBDParams %s: cannot create directory %s", path, dir);
            return rv;
        }
        if (as_root)
            protime_chown_if_exists(p, s, dir);
    }
    else if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PTLOGNO(00404)
                     "DBDParams %s: cannot stat directory %s", path, dir);
        return rv;
    }
    else if (as_root && !protime_user_may(&fi, 1)) {
        /* SQLite creates its -wal and -shm files next to the database. We
         * will not take over a shared directory such as /var/lib/apache2. */
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTLOGNO(00405)
                     "DBDParams %s: directory %s is not writable by User %s, "
                     "and SQLite must create its -wal and -shm files there; "
                     "put the database in a directory of its own (it is "
                     "created for you if missing)", path, dir,
                     ap_unixd_config.user_name);
        return APR_EACCES;
    }

    if (as_root && (slash = protime_unsearchable_parent(p, dir)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTLOGNO(00413)
                     "DBDParams %s: User %s cannot enter directory %s; "
                     "allow it (chmod o+x, or a group) or move the database",
                     path, ap_unixd_config.user_name, slash);
        return APR_EACCES;
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
 * speaks. mod_dbd keeps its configuration to itself, and the parent must
 * know the SQLite file before any child opens it: hence the reading of
 * the tree, as mod_info reads it. With setup (post_config) it also sets
 * up the SQLite files; without (check_config, apachectl configtest
 * included) it only checks. Logs why not and returns an error. */
static apr_status_t protime_storage_resolve(int setup, apr_pool_t *ptemp,
                                            server_rec *s)
{
    protime_storage_decl main_decl = { NULL, NULL, 0 };
    apr_hash_t *sqlite_done = apr_hash_make(ptemp);
    server_rec *sp;
    apr_status_t rv;

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
        if (!setup)
            continue;
        if (dialect == PT_DB_SQLITE3
            && !apr_hash_get(sqlite_done, decl.params, APR_HASH_KEY_STRING)) {
            rv = protime_sqlite_setup(ptemp, sp, decl.params);
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

apr_status_t protime_storage_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                         server_rec *s)
{
    apr_status_t rv;

    protime_dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    protime_dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    apr_dbd_init(pconf);
    if ((rv = protime_storage_resolve(1, ptemp, s)) != APR_SUCCESS)
        return rv;

    rv = ap_global_mutex_create(&protime_storage_mutex, NULL, PROTIME_DB_MUTEX_TYPE,
                                NULL, s, pconf, 0);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PTLOGNO(00411)
                     "cannot create the " PROTIME_DB_MUTEX_TYPE " mutex");
        return rv;
    }
    return APR_SUCCESS;
}

void protime_storage_child_init(apr_pool_t *pchild, server_rec *s)
{
    server_rec *sp;
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
    for (sp = s; sp; sp = sp->next) {
        struct protime_committer *c = apr_pcalloc(pchild, sizeof(*c));

        apr_thread_mutex_create(&c->lock, APR_THREAD_MUTEX_DEFAULT, pchild);
        c->tail = &c->head;
        protime_srv_config(sp)->committer = c;
    }
}

/* Readies a connection on its first use: tables when missing, SQLite
 * pragmas, our statements in a hash of ours in the userdata of the
 * connection's pool, so that they live and die with the connection. A
 * connection that could not be readied is tried again on its next use,
 * with the pool of the failed try given back. Later uses find the hash
 * and return at once. */
static const char *protime_storage_ready(ap_dbd_t *dbd,
                                         const protime_srv_conf *sc,
                                         pt_store_conn_t *conn)
{
    apr_hash_t *prepared = NULL;
    apr_pool_t *p;
    const char *err;

    if ((err = pt_store_dialect(apr_dbd_name(dbd->driver), &conn->dialect)))
        return err;
    conn->driver = dbd->driver;
    conn->handle = dbd->handle;
    apr_pool_userdata_get((void **)&prepared, PROTIME_STATEMENTS_KEY,
                          dbd->pool);
    if ((conn->prepared = prepared) != NULL)
        return NULL;
    apr_pool_create(&p, dbd->pool);
    apr_pool_tag(p, "protime_statements");
    conn->prepared = apr_hash_make(p);
    if ((err = pt_store_create_schema(p, conn)) != NULL
        || (err = pt_store_prepare(p, conn, protime_sqlite_sync_full(sc)))) {
        apr_pool_destroy(p);
        return err;
    }
    apr_pool_userdata_setn(conn->prepared, PROTIME_STATEMENTS_KEY, NULL,
                           dbd->pool);
    return NULL;
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

    if (!dbd) {
        *err = "no database connection (mod_dbd logged why)";
        return NULL;
    }
    if ((*err = protime_storage_ready(dbd, protime_srv_config(s),
                                      conn)) != NULL) {
        protime_dbd_close(s, dbd);
        return NULL;
    }
    return dbd;
}

void protime_storage_close(server_rec *s, ap_dbd_t *dbd)
{
    protime_dbd_close(s, dbd);
}

int protime_storage_lock(void)
{
    return apr_global_mutex_lock(protime_storage_mutex) == APR_SUCCESS ? 0 : -1;
}

void protime_storage_unlock(void)
{
    apr_global_mutex_unlock(protime_storage_mutex);
}

static void protime_fail_jobs(pt_store_job_t **jobs, int n, const char *error)
{
    int i;

    for (i = 0; i < n; i++)
        jobs[i]->error = error;
}

/* Commits one batch; returns the number of transactions committed. */
static int protime_commit_batch(request_rec *r, pt_store_job_t **jobs, int n,
                                apr_time_t arrived)
{
    pt_store_conn_t conn;
    const char *err;
    ap_dbd_t *dbd = protime_storage_open(r->pool, r->server, &conn, &err);
    apr_pool_t *p;
    int locked = 0, commits, waited;

    if (!dbd) {
        protime_fail_jobs(jobs, n, err);
        return 0;
    }
    if (conn.dialect == PT_DB_SQLITE3)
        locked = (protime_storage_lock() == 0);
    /* A batch whose deliveries arrived before another batch gave up
     * waiting (a lock held by another program, a statement timeout) gives
     * up with it: else the n-th batch in the queue (this process's
     * committer, and for SQLite the mutex) would wait n timeouts.
     * Deliveries that come later try again. */
    if (arrived < protime_shm_gave_up_at()) {
        if (locked)
            protime_storage_unlock();
        protime_fail_jobs(jobs, n, "the database is locked by another "
                          "program, or too slow: an earlier transaction "
                          "gave up waiting");
        protime_storage_close(r->server, dbd);
        return 0;
    }
    apr_pool_create(&p, r->pool);
    commits = pt_store_commit(p, &conn, jobs, n, apr_time_now(), &waited);
    /* Nothing committed after a long wait: the lock is held elsewhere. */
    if (commits == 0 && waited)
        protime_shm_set_gave_up_at(apr_time_now());
    if (locked)
        protime_storage_unlock();
    apr_pool_destroy(p);
    protime_storage_close(r->server, dbd);
    protime_count(PROTIME_C_COMMITS, commits);
    return commits;
}

static int protime_checkpoint_lock(void *unused)
{
    return protime_storage_lock();
}

static void protime_checkpoint_unlock(void *unused)
{
    protime_storage_unlock();
}

/* Copies the WAL back into the database and lets it start over
 * (pt_store_checkpoint), after this request handed the lead over; the last
 * frames are copied under the mutex every SQLite writer of this server
 * takes. */
static void protime_checkpoint(request_rec *r)
{
    pt_store_conn_t conn;
    const char *err;
    ap_dbd_t *dbd = protime_storage_open(r->pool, r->server, &conn, &err);

    if (dbd) {
        err = pt_store_checkpoint(r->pool, &conn, protime_checkpoint_lock,
                                  protime_checkpoint_unlock, NULL);
        protime_storage_close(r->server, dbd);
    }
    if (err)
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTLOGNO(00414)
                      "WAL checkpoint: %s", err);
}

static void protime_give_turn(protime_pending *p, protime_turn turn)
{
    apr_thread_mutex_lock(p->lock);
    p->turn = turn;
    apr_thread_cond_signal(p->wake);
    apr_thread_mutex_unlock(p->lock);
}

void protime_storage_store(request_rec *r, pt_store_job_t *job)
{
    struct protime_committer *c = protime_srv_config(r->server)->committer;
    protime_pending me = { job, 0, NULL, NULL, PROTIME_QUEUED, NULL };
    int checkpoint = 0;

    me.arrived = apr_time_now();
    apr_thread_mutex_create(&me.lock, APR_THREAD_MUTEX_DEFAULT, r->pool);
    apr_thread_cond_create(&me.wake, r->pool);
    apr_thread_mutex_lock(c->lock);
    *c->tail = &me;
    c->tail = &me.next;
    if (!c->committing) {
        c->committing = 1;
        me.turn = PROTIME_LEAD;
    }
    apr_thread_mutex_unlock(c->lock);
    for (;;) {
        pt_store_job_t *jobs[PROTIME_MAX_BATCH];
        protime_pending *batch[PROTIME_MAX_BATCH], *next;
        protime_turn turn;
        int n = 0, i, commits;
        apr_time_t arrived = APR_INT64_MAX;

        apr_thread_mutex_lock(me.lock);
        while (me.turn == PROTIME_QUEUED)
            apr_thread_cond_wait(me.wake, me.lock);
        turn = me.turn;
        apr_thread_mutex_unlock(me.lock);
        if (turn == PROTIME_DONE)
            break;
        /* Lead: take what is queued, our own delivery included. */
        apr_thread_mutex_lock(c->lock);
        while (c->head && n < PROTIME_MAX_BATCH) {
            batch[n] = c->head;
            jobs[n++] = c->head->job;
            if (c->head->arrived < arrived)
                arrived = c->head->arrived;
            c->head = c->head->next;
        }
        if (!c->head)
            c->tail = &c->head;
        apr_thread_mutex_unlock(c->lock);

        commits = protime_commit_batch(r, jobs, n, arrived);

        /* The lead passes straight to the oldest delivery still queued, if
         * any, and it is woken first: the next commit is what the queue
         * waits for. */
        apr_thread_mutex_lock(c->lock);
        next = c->head;
        if (!next)
            c->committing = 0;
        c->commits_unchecked += commits;
        if (c->commits_unchecked >= PT_STORE_CHECKPOINT_COMMITS) {
            c->commits_unchecked = 0;
            checkpoint = 1;
        }
        apr_thread_mutex_unlock(c->lock);
        if (next)
            protime_give_turn(next, PROTIME_LEAD);
        me.turn = PROTIME_DONE;     /* in the batch: no one else writes it */
        for (i = 0; i < n; i++)
            if (batch[i] != &me)
                protime_give_turn(batch[i], PROTIME_DONE);
    }
    /* The next batch is already on its way: only this delivery's answer
     * waits for the checkpoint, and only once in many commits. */
    if (checkpoint)
        protime_checkpoint(r);
}
