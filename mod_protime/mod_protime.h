/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime: receives Protime's webhook deliveries, verifies them and
 * stores every change exactly once through mod_dbd, and keeps its own
 * Protime subscription alive.
 *
 * The pure units (pt_*.c, built as libprotime) know nothing of httpd and
 * are unit-tested on their own. The httpd glue binds them to the server;
 * each glue file has its header, and the arrows between them run one way:
 *
 *   mod_protime.c               the module record and every hook; calls
 *                               each part's check and init
 *   mod_protime_config.c        the directive table, per-server and
 *                               per-location configuration, their defaults
 *   mod_protime_shm.c           the memory all processes share: counters,
 *                               the storage's give-up mark, status slots,
 *                               the segment of the queue of deliveries to
 *                               commit (pt_queue.h)
 *   mod_protime_storage.c       mod_dbd: connections, the module's own
 *                               prepared statements, the server's one
 *                               group commit, the SQLite file set up at
 *                               startup
 *   mod_protime_subscription.c  the subscription job (run by mod_watchdog)
 *                               and the keys it gives the webhook
 *   mod_protime_webhook.c       the protime-webhook handler
 *   mod_protime_status.c        the protime-status handler and the
 *                               module's part of /server-status
 *   mod_protime_log.c           the error log, as the pure units' sink
 *                               (pt_log.h)
 *
 * Who calls whom (tools/glue-arrows prints it from the built objects):
 *
 *   mod_protime   -> every other file
 *   webhook       -> subscription, storage, shm, config
 *   subscription  -> storage, shm, config, log
 *   storage       -> shm, config
 *   status        -> shm, config
 *   shm, config, log -> none
 */
#ifndef MOD_PROTIME_H
#define MOD_PROTIME_H

#include <httpd.h>
#include <http_config.h>

#include "pt_log.h"       /* PTLOGNO, shared with the pure units */

#define PROTIME_VERSION "0.1.0"
#define PROTIME_WEBHOOK_HANDLER "protime-webhook"
#define PROTIME_STATUS_HANDLER "protime-status"

extern module AP_MODULE_DECLARE_DATA protime_module;

#endif /* MOD_PROTIME_H */
