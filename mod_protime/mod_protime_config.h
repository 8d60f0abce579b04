/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_config: the directive table and the module's configuration.
 *
 * Every scalar starts UNSET and merges as "add wins when set"; the getters
 * apply the defaults. That way a <Location> can set a value back to its
 * default inside one that changed it.
 */
#ifndef MOD_PROTIME_CONFIG_H
#define MOD_PROTIME_CONFIG_H

#include <httpd.h>
#include <http_config.h>
#include <util_cfgtree.h>

#include "pt_sig.h"

#define PROTIME_UNSET (-1)

/* Per <Location>: how deliveries are checked. */
typedef struct {
    apr_array_header_t *keys;       /* of pt_key_t; NULL when unset */
    apr_array_header_t *key_texts;  /* the keys as configured, to re-decode */
    int key_count;                  /* ProtimeWebhookKey lines, exec: ones
                                     * included before their program ran */
    const char *signature_header;
    int algorithm;                  /* pt_hash_t */
    int signature_encoding;         /* pt_encoding_t */
    int key_encoding;               /* pt_encoding_t */
    int require_signature;
    int signature_scheme;           /* pt_scheme_t */
    apr_interval_time_t signature_tolerance;
    apr_off_t max_body;
    int capture_refused;            /* ProtimeCaptureRefused */
    const char *collection;         /* ProtimeCollection; NULL when unset */
    const char *location;           /* the section's path; NULL at server level */
} protime_dir_conf;

/* Per server: storage, and the subscription with its API client. */
typedef struct {
    int sqlite_sync_full;           /* PRAGMA synchronous: FULL (1) or NORMAL (0) */

    const char *tenant;
    int sandbox;                    /* ProtimeEnvironment sandbox */
    const char *api_url;            /* as configured; see protime_api_url */
    const char *token_url;
    const char *client_id;
    const char *client_secret;      /* resolved; never logged */
    const char *user_agent;
    int subscribe;
    apr_array_header_t *collections;    /* ProtimeCollections, of const
                                         * char *; NULL: access-clockings */
    const char *destination_url;        /* or the base of several */
    apr_table_t *destinations;          /* per collection; NULL: none */
    apr_interval_time_t reconcile_interval; /* 0: Off */
    const char *external_references;
    apr_interval_time_t renew_before;
    apr_interval_time_t check_interval;
    const char *sync_from;
    const char *ca_file;
    const char *proxy;              /* ProtimeProxy URL, or NULL */
    const char *proxy_user;         /* resolved user:password; never logged */
    int http_timeout;               /* seconds */
    int allow_insecure;

    /* Set after the configuration is read, by the part that owns it. */
    struct protime_sub *sub;        /* the subscription of the first
                                     * collection, when subscribing; the
                                     * others follow it (mod_protime_
                                     * subscription.c) */
} protime_srv_conf;

protime_dir_conf *protime_dir_config(const request_rec *r);
protime_srv_conf *protime_srv_config(const server_rec *s);
/* The configuration of the server whose subscription the locations of s
 * serve: its own, else the main server's (ProtimeSubscribe is not
 * inherited by virtual hosts, but the destination may well be served by
 * one). */
const protime_srv_conf *protime_subscribing_config(const server_rec *s);

/* Getters apply the defaults. */
const char *protime_signature_header(const protime_dir_conf *dc);
pt_hash_t protime_algorithm(const protime_dir_conf *dc);
pt_encoding_t protime_signature_encoding(const protime_dir_conf *dc);
pt_encoding_t protime_key_encoding(const protime_dir_conf *dc);
int protime_require_signature(const protime_dir_conf *dc);
pt_scheme_t protime_signature_scheme(const protime_dir_conf *dc);
apr_interval_time_t protime_signature_tolerance(const protime_dir_conf *dc);
apr_off_t protime_max_body(const protime_dir_conf *dc);
int protime_capture_refused(const protime_dir_conf *dc);
/* The collection whose deliveries the location receives, one of
 * pt_collection_names. */
const char *protime_collection(const protime_dir_conf *dc);
/* What the error log calls the location: its <Location> (or <Directory>,
 * <LocationMatch>...) path. */
const char *protime_location(const protime_dir_conf *dc);
int protime_sqlite_sync_full(const protime_srv_conf *sc);
int protime_subscribes(const protime_srv_conf *sc);
const char *protime_api_url(apr_pool_t *p, const protime_srv_conf *sc);
const char *protime_token_url(apr_pool_t *p, const protime_srv_conf *sc);
const char *protime_user_agent(apr_pool_t *p, const protime_srv_conf *sc,
                               const server_rec *s);
apr_interval_time_t protime_renew_before(const protime_srv_conf *sc);
apr_interval_time_t protime_check_interval(const protime_srv_conf *sc);
/* ProtimeCollections (an array of const char *), and the destination URL
 * of the webhook of one of them (NULL when none is configured). */
const apr_array_header_t *protime_collections(apr_pool_t *p,
                                              const protime_srv_conf *sc);
const char *protime_destination(apr_pool_t *p, const protime_srv_conf *sc,
                                const char *collection);
/* 0 when reconciliation is Off. */
apr_interval_time_t protime_reconcile_interval(const protime_srv_conf *sc);
int protime_http_timeout(const protime_srv_conf *sc);
int protime_allow_insecure(const protime_srv_conf *sc);

/* Reading the configuration tree, as mod_info does, for what the
 * directives of other modules say: whether d is "SetHandler
 * protime-webhook"; the <VirtualHost> block below d that defined s. */
int protime_is_webhook_handler(apr_pool_t *p, const ap_directive_t *d);
const ap_directive_t *protime_vhost_block(const ap_directive_t *d,
                                          const server_rec *s);

/* The checks across directives (check_config, apachectl configtest too):
 * the subscription's, and that every protime-webhook location has a key to
 * check signatures with. Logs what is wrong and returns an error. */
apr_status_t protime_config_check(server_rec *s, apr_pool_t *ptemp);

extern const command_rec protime_cmds[];
void *protime_create_dir_conf(apr_pool_t *p, char *dir);
void *protime_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
void *protime_create_srv_conf(apr_pool_t *p, server_rec *s);
void *protime_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);

#endif /* MOD_PROTIME_CONFIG_H */
