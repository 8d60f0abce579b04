/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_subscription: the subscription job, and the keys it gives
 * the webhook handler.
 */
#ifndef MOD_PROTIME_SUBSCRIPTION_H
#define MOD_PROTIME_SUBSCRIPTION_H

#include <httpd.h>

#include "pt_sig.h"

/* post_config: a mod_watchdog job for each server with ProtimeSubscribe
 * On, and its status slot. */
apr_status_t protime_subscription_post_config(apr_pool_t *pconf,
                                              apr_pool_t *ptemp,
                                              server_rec *s);
void protime_subscription_child_init(apr_pool_t *pchild, server_rec *s);

/* The keys of the server's own subscription that are valid now, decoded
 * with enc as the scheme takes keys, appended to keys (of pt_key_t).
 * reload forces a fresh read from the database (after a signature matched
 * no key). */
void protime_subscription_keys(request_rec *r, pt_scheme_t scheme,
                               pt_encoding_t enc, int reload,
                               apr_array_header_t *keys);

#endif /* MOD_PROTIME_SUBSCRIPTION_H */
