/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_storage: the module's database, through mod_dbd.
 *
 * Connections come from mod_dbd's pool (ap_dbd_open), each held for one
 * batch, one read or one write, never across a wait on anything else.
 * The module's statements live in a cache of its own on each connection,
 * never in the "prepared" hash that mod_dbd shares among the modules.
 */
#ifndef MOD_PROTIME_STORAGE_H
#define MOD_PROTIME_STORAGE_H

#include <httpd.h>
#include <apr_dbd.h>        /* before mod_dbd.h, which does not include it */
#include <mod_dbd.h>

#include "pt_store.h"

/* pre_config: registers the writers' mutex ("Mutex protime-db"). */
void protime_storage_pre_config(apr_pool_t *pconf);
/* check_config: each server that needs a database (a protime-webhook
 * location, or ProtimeSubscribe On) has mod_dbd, DBDriver and DBDParams,
 * with a driver the module speaks; an SQLite file at an absolute path, in
 * a directory that User can write (or that can be created) and enter.
 * Logs what is wrong; creates nothing. */
apr_status_t protime_storage_check(apr_pool_t *ptemp, server_rec *s);
/* post_config: the same, then the SQLite files are created, with their
 * schema, and handed to User; the writers' mutex is created. */
apr_status_t protime_storage_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                         server_rec *s);
void protime_storage_child_init(apr_pool_t *pchild, server_rec *s);

/* A connection of mod_dbd's pool, readied for the module's statements
 * (tables created, statements prepared on first use), into *conn; NULL
 * with *err set when there is none. Give it back with
 * protime_storage_close as soon as the work is done. */
ap_dbd_t *protime_storage_open(apr_pool_t *p, server_rec *s,
                               pt_store_conn_t *conn, const char **err);
void protime_storage_close(server_rec *s, ap_dbd_t *dbd);

/* A connection for a write outside the group commit (the subscription
 * job's, a captured refusal), as protime_storage_open; with SQLite, the
 * writers' mutex is held too, so that the write waits behind the group
 * commit rather than in SQLite's busy handler. Give both back with
 * protime_storage_close_write(p, s, dbd, *locked), which counts the write
 * toward the WAL's checkpoint, as the group commit counts its batches. */
ap_dbd_t *protime_storage_open_write(apr_pool_t *p, server_rec *s,
                                     pt_store_conn_t *conn, const char **err,
                                     int *locked);
void protime_storage_close_write(apr_pool_t *p, server_rec *s, ap_dbd_t *dbd,
                                 int locked);

/* Applies job->delivery: queues it with the concurrent deliveries of every
 * process of the server and returns once it is committed or rolled back
 * (job->error). */
void protime_storage_store(request_rec *r, pt_store_job_t *job);

/* Stores a delivery refused for its signature in protime_refused
 * (pt_store_capture), in a transaction of its own, outside the group
 * commit. Returns NULL or the error. */
const char *protime_storage_capture(request_rec *r,
                                    const pt_store_refused_t *refused);

#endif /* MOD_PROTIME_STORAGE_H */
