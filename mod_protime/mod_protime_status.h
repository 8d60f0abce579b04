/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_status: what the module shows of itself, read from the
 * shared memory only, never from the database or the network: the
 * protime-status handler (JSON, or Prometheus text), and the module's part
 * of mod_status's /server-status page (HTML, and ?auto text).
 */
#ifndef MOD_PROTIME_STATUS_H
#define MOD_PROTIME_STATUS_H

#include <httpd.h>

int protime_status_handler(request_rec *r);
/* mod_status's status_hook. */
int protime_server_status(request_rec *r, int flags);

#endif /* MOD_PROTIME_STATUS_H */
