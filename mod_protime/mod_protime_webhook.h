/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_webhook: the protime-webhook handler. */
#ifndef MOD_PROTIME_WEBHOOK_H
#define MOD_PROTIME_WEBHOOK_H

#include <httpd.h>

/* Seconds Protime is asked to wait before it delivers again after a 503. */
#define PROTIME_RETRY_AFTER "5"

int protime_webhook_handler(request_rec *r);

#endif /* MOD_PROTIME_WEBHOOK_H */
