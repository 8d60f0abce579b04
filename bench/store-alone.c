/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* store-alone: what storing a delivery costs with nothing else around it.
 * One thread parses the bench's deliveries as the handler does
 * (pt_event_parse), then commits them through pt_store_commit into a new
 * SQLite database, as the group commit's writer does, batch after batch,
 * with pt_store_checkpoint every PT_STORE_CHECKPOINT_COMMITS commits; no
 * httpd, no HTTP, no queue, no other process. Only the commits and the
 * checkpoints are timed. Prints the CPU time (user and system, from
 * getrusage) and the wall-clock time a delivery took:
 *
 *   make bench/store-alone
 *   bench/store-alone bench/out/deliveries-N.tsv 10 FULL 100000
 *
 * Arguments: the deliveries file of bench/make-deliveries.pl, the batch
 * (deliveries a transaction), FULL or NORMAL (ProtimeSQLiteSynchronous),
 * and how many deliveries (its first lines). The database is created in a
 * new directory under $TMPDIR (default /var/tmp, a disk rather than a
 * tmpfs) and removed at the end. bench/README.md ("What storing costs")
 * has what it measured. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <apr_dbd.h>
#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "pt_clock.h"
#include "pt_event.h"
#include "pt_store.h"

static int store_alone_lock(void *unused)
{
    return 0;
}

static void store_alone_unlock(void *unused)
{
}

static apr_time_t store_alone_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return apr_time_from_sec(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
           + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static void store_alone_fail(const char *what, const char *err)
{
    fprintf(stderr, "store-alone: %s: %s\n", what, err ? err : "failed");
    exit(1);
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *pool;
    apr_file_t *in;
    pt_store_conn_t conn = { 0 };
    pt_store_job_t *jobs, **batch;
    const char *tmp = getenv("TMPDIR"), *err = NULL;
    char *dir, line[64 * 1024];
    apr_time_t cpu, wall;
    int batch_size, sync_full, n, i, loaded = 0, commits = 0;

    if (argc != 5 || (batch_size = atoi(argv[2])) < 1
        || (n = atoi(argv[4])) < 1
        || (strcmp(argv[3], "FULL") && strcmp(argv[3], "NORMAL"))) {
        fprintf(stderr, "usage: store-alone DELIVERIES BATCH FULL|NORMAL "
                "COUNT\n");
        return 2;
    }
    sync_full = !strcmp(argv[3], "FULL");
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);
    apr_dbd_init(pool);

    jobs = apr_pcalloc(pool, n * sizeof(*jobs));
    batch = apr_pcalloc(pool, batch_size * sizeof(*batch));
    if (apr_file_open(&in, argv[1], APR_FOPEN_READ | APR_FOPEN_BUFFERED, 0,
                      pool) != APR_SUCCESS)
        store_alone_fail(argv[1], "cannot open");
    /* "signature<TAB>body" lines; the signature is not checked here. */
    while (loaded < n
           && apr_file_gets(line, sizeof(line), in) == APR_SUCCESS) {
        char *body = strchr(line, '\t');
        pt_delivery_t *d = apr_pcalloc(pool, sizeof(*d));

        if (!body)
            continue;
        body++;
        body[strcspn(body, "\n")] = '\0';
        pt_event_parse(pool, body, strlen(body), d);
        jobs[loaded++].delivery = d;
    }
    if (loaded < n)
        store_alone_fail(argv[1], "fewer lines than asked for");

    dir = apr_pstrcat(pool, tmp ? tmp : "/var/tmp", "/store-alone.XXXXXX",
                      NULL);
    if (!mkdtemp(dir))
        store_alone_fail(dir, "cannot create");
    if (apr_dbd_get_driver(pool, "sqlite3", &conn.driver) != APR_SUCCESS)
        store_alone_fail("apr_dbd sqlite3 driver", "not found");
    if (apr_dbd_open_ex(conn.driver, pool,
                        apr_pstrcat(pool, dir, "/protime.db", NULL),
                        &conn.handle, &err) != APR_SUCCESS)
        store_alone_fail("opening the database", err);
    conn.dialect = PT_DB_SQLITE3;
    conn.prepared = apr_hash_make(pool);
    if ((err = pt_store_create_schema(pool, &conn)) != NULL
        || (err = pt_store_prepare(pool, &conn, sync_full)) != NULL)
        store_alone_fail("setting up the database", err);

    cpu = store_alone_cpu();
    wall = pt_clock_monotonic();
    for (i = 0; i < n; i += batch_size) {
        apr_pool_t *p;
        int k, m = n - i < batch_size ? n - i : batch_size;

        for (k = 0; k < m; k++)
            batch[k] = &jobs[i + k];
        apr_pool_create(&p, pool);
        if (pt_store_commit(p, &conn, batch, m, apr_time_now(), NULL) != 1) {
            /* Retried job by job (pt_store_commit): name one that failed. */
            for (k = 0; k < m - 1 && !batch[k]->error; k++)
                ;
            store_alone_fail("committing", batch[k]->error);
        }
        if (++commits % PT_STORE_CHECKPOINT_COMMITS == 0
            && (err = pt_store_checkpoint(p, &conn, store_alone_lock,
                                          store_alone_unlock, NULL)) != NULL)
            store_alone_fail("checkpoint", err);
        apr_pool_destroy(p);
    }
    cpu = store_alone_cpu() - cpu;
    wall = pt_clock_monotonic() - wall;
    /* Every event a row of its own: the bench's deliveries are inserts. */
    for (i = 0; i < n; i++) {
        const apr_array_header_t *events = jobs[i].delivery->events;

        if (!events || jobs[i].applied != events->nelts)
            store_alone_fail(apr_psprintf(pool, "delivery %d", i + 1),
                             "not every event was applied");
    }
    printf("store-alone: %d deliveries, batches of %d, synchronous=%s: "
           "%.1f us of CPU and %.1f us of wall-clock time a delivery\n",
           n, batch_size, argv[3], (double)cpu / n, (double)wall / n);

    apr_dbd_close(conn.driver, conn.handle);
    for (i = 0; i < 3; i++) {
        static const char *const files[] = { "", "-wal", "-shm" };

        apr_file_remove(apr_pstrcat(pool, dir, "/protime.db", files[i], NULL),
                        pool);
    }
    apr_dir_remove(dir, pool);
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}
