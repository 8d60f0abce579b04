/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_log: the httpd sink of the pure units' logging (pt_log.h). */
#ifndef MOD_PROTIME_LOG_H
#define MOD_PROTIME_LOG_H

#include <httpd.h>

#include "pt_log.h"

/* Fills log so that the units' messages go to s's error log, at s's
 * LogLevel for protime, with the units' file and line; to the main
 * server's when s is NULL. log must live as long as the units use it. */
void protime_log_bridge(pt_log_t *log, server_rec *s);

#endif /* MOD_PROTIME_LOG_H */
