/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_subscription: the subscription job, and the keys it gives
 * the webhook handler.
 */
#ifndef MOD_PROTIME_SUBSCRIPTION_H
#define MOD_PROTIME_SUBSCRIPTION_H

#include <httpd.h>

#include "mod_protime_config.h"
#include "pt_sig.h"
#include "pt_sub.h"

/* post_config: a mod_watchdog job for each server with ProtimeSubscribe
 * On, and its status slot. */
apr_status_t protime_subscription_post_config(apr_pool_t *pconf,
                                              apr_pool_t *ptemp,
                                              server_rec *s);
void protime_subscription_child_init(apr_pool_t *pchild, server_rec *s);

/* The keys of the server's own subscription to collection that are valid
 * now, decoded with enc as the scheme takes keys, appended to keys (of
 * pt_key_t). reload forces a fresh read from the database (after a
 * signature matched no key). */
void protime_subscription_keys(request_rec *r, const char *collection,
                               pt_scheme_t scheme, pt_encoding_t enc,
                               int reload, apr_array_header_t *keys);

/* One subscription of a server, as its job last published it. */
typedef struct {
    const char *collection;
    const char *destination;
    pt_sub_status_t status;         /* state "starting" before the first
                                     * step */
} protime_sub_view;

/* The subscriptions of sc, one per collection in ProtimeCollections'
 * order, as an array of protime_sub_view; empty when sc does not
 * subscribe. */
apr_array_header_t *protime_subscription_views(apr_pool_t *p,
                                               const protime_srv_conf *sc);

#endif /* MOD_PROTIME_SUBSCRIPTION_H */
