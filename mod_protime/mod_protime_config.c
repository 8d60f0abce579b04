/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_config.c: the directive table, and config create/merge
 * (see mod_protime_config.h). */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <apr_lib.h>
#include <apr_fnmatch.h>

#include "mod_protime.h"
#include "mod_protime_config.h"
#include "pt_collection.h"
#include "pt_curl.h"
#include "pt_date.h"
#include "pt_sub.h"
#include "pt_value.h"

APLOG_USE_MODULE(protime);

#define PROTIME_DEFAULT_SIGNATURE_HEADER "X-Protime-Signature"
#define PROTIME_DEFAULT_MAX_BODY 1048576
#define PROTIME_MAX_BODY_LIMIT (APR_INT64_C(1) << 30)
#define PROTIME_DEFAULT_RENEW_BEFORE apr_time_from_sec(86400)
#define PROTIME_DEFAULT_CHECK_INTERVAL apr_time_from_sec(3600)
#define PROTIME_MIN_CHECK_INTERVAL apr_time_from_sec(1)
#define PROTIME_DEFAULT_RECONCILE_INTERVAL apr_time_from_sec(3600)
#define PROTIME_DEFAULT_SIGNATURE_TOLERANCE apr_time_from_sec(300)
#define PROTIME_DEFAULT_HTTP_TIMEOUT 10
#define PROTIME_MAX_HTTP_TIMEOUT 300

protime_dir_conf *protime_dir_config(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &protime_module);
}

protime_srv_conf *protime_srv_config(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &protime_module);
}

const protime_srv_conf *protime_subscribing_config(const server_rec *s)
{
    const protime_srv_conf *sc = protime_srv_config(s);

    return sc->sub || !ap_server_conf ? sc : protime_srv_config(ap_server_conf);
}

const char *protime_signature_header(const protime_dir_conf *dc)
{
    return dc->signature_header ? dc->signature_header
                                : PROTIME_DEFAULT_SIGNATURE_HEADER;
}

pt_hash_t protime_algorithm(const protime_dir_conf *dc)
{
    return dc->algorithm == PROTIME_UNSET ? PT_HASH_SHA256
                                          : (pt_hash_t)dc->algorithm;
}

pt_encoding_t protime_signature_encoding(const protime_dir_conf *dc)
{
    return dc->signature_encoding == PROTIME_UNSET
           ? PT_ENC_BASE64 : (pt_encoding_t)dc->signature_encoding;
}

pt_encoding_t protime_key_encoding(const protime_dir_conf *dc)
{
    return dc->key_encoding == PROTIME_UNSET
           ? PT_ENC_RAW : (pt_encoding_t)dc->key_encoding;
}

int protime_require_signature(const protime_dir_conf *dc)
{
    return dc->require_signature != 0;      /* UNSET means On */
}

pt_scheme_t protime_signature_scheme(const protime_dir_conf *dc)
{
    return dc->signature_scheme == PROTIME_UNSET
           ? PT_SCHEME_HMAC_BODY : (pt_scheme_t)dc->signature_scheme;
}

apr_interval_time_t protime_signature_tolerance(const protime_dir_conf *dc)
{
    return dc->signature_tolerance == PROTIME_UNSET
           ? PROTIME_DEFAULT_SIGNATURE_TOLERANCE : dc->signature_tolerance;
}

apr_off_t protime_max_body(const protime_dir_conf *dc)
{
    return dc->max_body == PROTIME_UNSET ? PROTIME_DEFAULT_MAX_BODY
                                         : dc->max_body;
}

int protime_capture_refused(const protime_dir_conf *dc)
{
    return dc->capture_refused == 1;
}

const char *protime_collection(const protime_dir_conf *dc)
{
    return dc->collection ? dc->collection : PT_COLLECTION_ACCESS_CLOCKINGS;
}

const char *protime_location(const protime_dir_conf *dc)
{
    return dc->location ? dc->location : "(server config)";
}

int protime_sqlite_sync_full(const protime_srv_conf *sc)
{
    return sc->sqlite_sync_full == PROTIME_UNSET ? 1 : sc->sqlite_sync_full;
}

int protime_subscribes(const protime_srv_conf *sc)
{
    return sc->subscribe == 1;
}

static const char *protime_domain(const protime_srv_conf *sc)
{
    return sc->sandbox == 1 ? "myprotimesandbox.eu" : "myprotime.eu";
}

const char *protime_api_url(apr_pool_t *p, const protime_srv_conf *sc)
{
    if (sc->api_url)
        return sc->api_url;
    return apr_psprintf(p, "https://%s.%s/connector/protimeapi/api/v1",
                        sc->tenant ? sc->tenant : "", protime_domain(sc));
}

const char *protime_token_url(apr_pool_t *p, const protime_srv_conf *sc)
{
    if (sc->token_url)
        return sc->token_url;
    return apr_psprintf(p, "https://authentication.%s/tenants/%s/connect/token",
                        protime_domain(sc), sc->tenant ? sc->tenant : "");
}

const char *protime_user_agent(apr_pool_t *p, const protime_srv_conf *sc,
                               const server_rec *s)
{
    if (sc->user_agent)
        return sc->user_agent;
    return apr_psprintf(p, "mod_protime/" PROTIME_VERSION " (%s)",
                        s->server_hostname ? s->server_hostname : "Apache");
}

apr_interval_time_t protime_renew_before(const protime_srv_conf *sc)
{
    return sc->renew_before == PROTIME_UNSET ? PROTIME_DEFAULT_RENEW_BEFORE
                                             : sc->renew_before;
}

const apr_array_header_t *protime_collections(apr_pool_t *p,
                                              const protime_srv_conf *sc)
{
    apr_array_header_t *only;

    if (sc->collections)
        return sc->collections;
    only = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(only, const char *) = PT_COLLECTION_ACCESS_CLOCKINGS;
    return only;
}

const char *protime_destination(apr_pool_t *p, const protime_srv_conf *sc,
                                const char *collection)
{
    return pt_sub_destination(p, sc->destination_url,
                              sc->destinations
                              ? apr_table_get(sc->destinations, collection)
                              : NULL,
                              protime_collections(p, sc)->nelts, collection);
}

apr_interval_time_t protime_reconcile_interval(const protime_srv_conf *sc)
{
    return sc->reconcile_interval == PROTIME_UNSET
           ? PROTIME_DEFAULT_RECONCILE_INTERVAL : sc->reconcile_interval;
}

apr_interval_time_t protime_check_interval(const protime_srv_conf *sc)
{
    return sc->check_interval == PROTIME_UNSET
           ? PROTIME_DEFAULT_CHECK_INTERVAL : sc->check_interval;
}

int protime_http_timeout(const protime_srv_conf *sc)
{
    return sc->http_timeout == PROTIME_UNSET ? PROTIME_DEFAULT_HTTP_TIMEOUT
                                             : sc->http_timeout;
}

int protime_allow_insecure(const protime_srv_conf *sc)
{
    return sc->allow_insecure == 1;
}

void *protime_create_dir_conf(apr_pool_t *p, char *dir)
{
    protime_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    dc->key_count = PROTIME_UNSET;
    dc->algorithm = PROTIME_UNSET;
    dc->signature_encoding = PROTIME_UNSET;
    dc->key_encoding = PROTIME_UNSET;
    dc->require_signature = PROTIME_UNSET;
    dc->signature_scheme = PROTIME_UNSET;
    dc->signature_tolerance = PROTIME_UNSET;
    dc->max_body = PROTIME_UNSET;
    dc->capture_refused = PROTIME_UNSET;
    dc->location = dir ? apr_pstrdup(p, dir) : NULL;
    return dc;
}

#define PROTIME_MERGE(field) \
    (add->field != PROTIME_UNSET ? add->field : base->field)
#define PROTIME_MERGE_PTR(field) \
    (add->field != NULL ? add->field : base->field)

void *protime_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const protime_dir_conf *base = basev, *add = addv;
    protime_dir_conf *dc = apr_palloc(p, sizeof(*dc));

    /* Keys are a set: an inner location that names keys replaces the outer
     * ones, which is what an administrator rotating them expects. */
    dc->keys = PROTIME_MERGE_PTR(keys);
    dc->key_texts = PROTIME_MERGE_PTR(key_texts);
    dc->key_count = PROTIME_MERGE(key_count);
    dc->signature_header = PROTIME_MERGE_PTR(signature_header);
    dc->algorithm = PROTIME_MERGE(algorithm);
    dc->signature_encoding = PROTIME_MERGE(signature_encoding);
    dc->key_encoding = PROTIME_MERGE(key_encoding);
    dc->require_signature = PROTIME_MERGE(require_signature);
    dc->signature_scheme = PROTIME_MERGE(signature_scheme);
    dc->signature_tolerance = PROTIME_MERGE(signature_tolerance);
    dc->max_body = PROTIME_MERGE(max_body);
    dc->capture_refused = PROTIME_MERGE(capture_refused);
    dc->collection = PROTIME_MERGE_PTR(collection);
    dc->location = PROTIME_MERGE_PTR(location);
    return dc;
}

void *protime_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    protime_srv_conf *sc = apr_pcalloc(p, sizeof(*sc));

    sc->sqlite_sync_full = PROTIME_UNSET;
    sc->sandbox = PROTIME_UNSET;
    sc->subscribe = PROTIME_UNSET;
    sc->renew_before = PROTIME_UNSET;
    sc->check_interval = PROTIME_UNSET;
    sc->reconcile_interval = PROTIME_UNSET;
    sc->http_timeout = PROTIME_UNSET;
    sc->allow_insecure = PROTIME_UNSET;
    return sc;
}

void *protime_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    const protime_srv_conf *base = basev, *add = addv;
    protime_srv_conf *sc = apr_pcalloc(p, sizeof(*sc));

    sc->sqlite_sync_full = PROTIME_MERGE(sqlite_sync_full);
    sc->tenant = PROTIME_MERGE_PTR(tenant);
    sc->sandbox = PROTIME_MERGE(sandbox);
    sc->api_url = PROTIME_MERGE_PTR(api_url);
    sc->token_url = PROTIME_MERGE_PTR(token_url);
    sc->client_id = PROTIME_MERGE_PTR(client_id);
    sc->client_secret = PROTIME_MERGE_PTR(client_secret);
    sc->user_agent = PROTIME_MERGE_PTR(user_agent);
    /* Not inherited: one server runs the subscription of a destination. */
    sc->subscribe = add->subscribe;
    sc->collections = PROTIME_MERGE_PTR(collections);
    sc->destination_url = PROTIME_MERGE_PTR(destination_url);
    sc->destinations = PROTIME_MERGE_PTR(destinations);
    sc->reconcile_interval = PROTIME_MERGE(reconcile_interval);
    sc->external_references = PROTIME_MERGE_PTR(external_references);
    sc->renew_before = PROTIME_MERGE(renew_before);
    sc->check_interval = PROTIME_MERGE(check_interval);
    sc->sync_from = PROTIME_MERGE_PTR(sync_from);
    sc->ca_file = PROTIME_MERGE_PTR(ca_file);
    sc->proxy = PROTIME_MERGE_PTR(proxy);
    sc->proxy_user = PROTIME_MERGE_PTR(proxy_user);
    sc->http_timeout = PROTIME_MERGE(http_timeout);
    sc->allow_insecure = PROTIME_MERGE(allow_insecure);
    return sc;
}

static protime_srv_conf *protime_srv(cmd_parms *cmd)
{
    return protime_srv_config(cmd->server);
}

/* Names the directive in every configuration error. */
static const char *protime_cmd_error(cmd_parms *cmd, const char *msg)
{
    return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, msg);
}

/* Decodes the configured key texts with the location's key encoding and
 * scheme. Run again when ProtimeKeyEncoding or ProtimeSignatureScheme
 * follows the keys in the same section. */
static const char *protime_decode_keys(cmd_parms *cmd, protime_dir_conf *dc)
{
    int i;

    if (!dc->key_texts)
        return NULL;
    dc->keys = apr_array_make(cmd->pool, dc->key_texts->nelts,
                              sizeof(pt_key_t));
    for (i = 0; i < dc->key_texts->nelts; i++) {
        const char *text = APR_ARRAY_IDX(dc->key_texts, i, const char *);
        pt_key_t *key = apr_array_push(dc->keys);
        const char *err = pt_sig_decode_scheme_key(cmd->pool, text,
                                                   protime_signature_scheme(dc),
                                                   protime_key_encoding(dc),
                                                   key);
        if (err)
            return apr_psprintf(cmd->pool, "ProtimeWebhookKey #%d: %s "
                                "(ProtimeKeyEncoding %s)", i + 1, err,
                                protime_key_encoding(dc) == PT_ENC_HEX ? "hex"
                                : protime_key_encoding(dc) == PT_ENC_BASE64
                                ? "base64" : "raw");
    }
    return NULL;
}

/* The one place a secret's value is resolved (pt_value_secret), relative
 * file: and exec: paths taken from ServerRoot as in every other directive.
 * The first configuration pass at startup, apachectl configtest included,
 * only checks an exec: program and sets *secret to NULL; the program runs
 * once the configuration is read for real. */
static const char *protime_secret(cmd_parms *cmd, const char *spec,
                                  const char **secret)
{
    int run_exec = ap_state_query(AP_SQ_MAIN_STATE)
                   != AP_SQ_MS_CREATE_PRE_CONFIG;
    const char *err;
    apr_finfo_t fi;

    if ((!strncmp(spec, "file:", 5) || !strncmp(spec, "exec:", 5))
        && spec[5] && spec[5] != '/' && !apr_isspace(spec[5])) {
        /* exec: takes arguments after the program */
        apr_size_t len = spec[0] == 'e' ? strcspn(spec + 5, " \t") + 5
                                        : strlen(spec);
        const char *path = ap_server_root_relative(cmd->pool,
                               apr_pstrmemdup(cmd->pool, spec + 5, len - 5));
        if (!path)
            return protime_cmd_error(cmd, "invalid path");
        spec = apr_pstrcat(cmd->pool, apr_pstrndup(cmd->pool, spec, 5), path,
                           spec + len, NULL);
    }
    else if (*spec == '/' && apr_stat(&fi, spec, APR_FINFO_TYPE, cmd->pool)
             == APR_SUCCESS && fi.filetype == APR_REG)
        /* A literal may start with '/'; the path of an existing file is
         * most likely a file: forgotten. Not an error, and the value is
         * not shown: it may be a secret after all. */
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server, PTLOGNO(00508)
                     "%s at %s:%d: the value is taken literally, and it is "
                     "the path of an existing file; to read the secret from "
                     "the file, write file: before the path", cmd->cmd->name,
                     cmd->directive->filename, cmd->directive->line_num);
    err = pt_value_secret(cmd->pool, spec, run_exec, secret);
    return err ? protime_cmd_error(cmd, err) : NULL;
}

static const char *protime_set_collection(cmd_parms *cmd, void *dcv,
                                          const char *arg)
{
    protime_dir_conf *dc = dcv;
    const char *const *n;
    const char *known = NULL;

    if (!pt_collection_known(arg)) {
        for (n = pt_collection_names; *n; n++)
            known = known ? apr_pstrcat(cmd->temp_pool, known, ", ", *n, NULL)
                          : *n;
        return apr_psprintf(cmd->pool, "ProtimeCollection: unknown "
                            "collection '%s'; Protime's are: %s", arg, known);
    }
    dc->collection = arg;
    return NULL;
}

static const char *protime_set_webhook_key(cmd_parms *cmd, void *dcv,
                                           const char *arg)
{
    protime_dir_conf *dc = dcv;
    const char *secret, *err = protime_secret(cmd, arg, &secret);

    if (err)
        return err;
    dc->key_count = dc->key_count == PROTIME_UNSET ? 1 : dc->key_count + 1;
    if (!secret)
        return NULL;
    if (!dc->key_texts)
        dc->key_texts = apr_array_make(cmd->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(dc->key_texts, const char *) = secret;
    return protime_decode_keys(cmd, dc);
}

static const char *protime_set_signature_header(cmd_parms *cmd, void *dcv,
                                                const char *arg)
{
    protime_dir_conf *dc = dcv;

    if (!*arg || ap_strchr_c(arg, ':') || ap_strchr_c(arg, ' '))
        return protime_cmd_error(cmd, "expects a header name");
    dc->signature_header = arg;
    return NULL;
}

/* A keyword argument: its value from a NULL-terminated table, or an error
 * that lists the keywords. */
typedef struct {
    const char *name;
    int value;
} protime_choice;

static const char *protime_choose(cmd_parms *cmd, const char *arg,
                                  const protime_choice *choices, int *out)
{
    const char *names = NULL;
    const protime_choice *c;

    for (c = choices; c->name; c++) {
        if (!strcasecmp(arg, c->name)) {
            *out = c->value;
            return NULL;
        }
        names = names ? apr_pstrcat(cmd->pool, names, c[1].name ? ", " : " or ",
                                    c->name, NULL)
                      : c->name;
    }
    return protime_cmd_error(cmd, apr_pstrcat(cmd->pool, "expects ", names,
                                              NULL));
}

static const protime_choice protime_algorithms[] = {
    { "sha256", PT_HASH_SHA256 }, { "sha512", PT_HASH_SHA512 }, { NULL, 0 }
};
static const protime_choice protime_signature_encodings[] = {
    { "base64", PT_ENC_BASE64 }, { "hex", PT_ENC_HEX }, { NULL, 0 }
};
static const protime_choice protime_key_encodings[] = {
    { "raw", PT_ENC_RAW }, { "base64", PT_ENC_BASE64 }, { "hex", PT_ENC_HEX },
    { NULL, 0 }
};
static const protime_choice protime_signature_schemes[] = {
    { "hmac-body", PT_SCHEME_HMAC_BODY },
    { "standard-webhooks", PT_SCHEME_STANDARD_WEBHOOKS }, { NULL, 0 }
};
static const protime_choice protime_sqlite_syncs[] = {
    { "Normal", 0 }, { "Full", 1 }, { NULL, 0 }
};

static const char *protime_set_algorithm(cmd_parms *cmd, void *dcv,
                                         const char *arg)
{
    protime_dir_conf *dc = dcv;

    return protime_choose(cmd, arg, protime_algorithms, &dc->algorithm);
}

static const char *protime_set_signature_encoding(cmd_parms *cmd, void *dcv,
                                                  const char *arg)
{
    protime_dir_conf *dc = dcv;

    return protime_choose(cmd, arg, protime_signature_encodings,
                          &dc->signature_encoding);
}

static const char *protime_set_key_encoding(cmd_parms *cmd, void *dcv,
                                            const char *arg)
{
    protime_dir_conf *dc = dcv;
    const char *err = protime_choose(cmd, arg, protime_key_encodings,
                                     &dc->key_encoding);

    return err ? err : protime_decode_keys(cmd, dc);
}

static const char *protime_set_signature_scheme(cmd_parms *cmd, void *dcv,
                                                const char *arg)
{
    protime_dir_conf *dc = dcv;
    const char *err = protime_choose(cmd, arg, protime_signature_schemes,
                                     &dc->signature_scheme);

    return err ? err : protime_decode_keys(cmd, dc);
}

static const char *protime_set_signature_tolerance(cmd_parms *cmd, void *dcv,
                                                   const char *arg)
{
    protime_dir_conf *dc = dcv;
    apr_interval_time_t d;
    const char *err = pt_value_duration(arg, &d);

    if (err)
        return protime_cmd_error(cmd, err);
    if (d < apr_time_from_sec(1))
        return protime_cmd_error(cmd, "must be at least 1s");
    dc->signature_tolerance = d;
    return NULL;
}

static const char *protime_set_require_signature(cmd_parms *cmd, void *dcv,
                                                 int flag)
{
    protime_dir_conf *dc = dcv;

    dc->require_signature = flag;
    if (!flag && ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server, PTLOGNO(00501)
                     "ProtimeRequireSignature Off at %s:%d: unsigned "
                     "deliveries are accepted there",
                     cmd->directive->filename, cmd->directive->line_num);
    return NULL;
}

static const char *protime_set_max_body(cmd_parms *cmd, void *dcv,
                                        const char *arg)
{
    protime_dir_conf *dc = dcv;
    const char *err = pt_value_size(arg, 1, PROTIME_MAX_BODY_LIMIT,
                                    &dc->max_body);

    return err ? protime_cmd_error(cmd, apr_pstrcat(cmd->pool, err,
                                   " (1 byte to 1G)", NULL)) : NULL;
}

static const char *protime_set_sqlite_sync(cmd_parms *cmd, void *dummy,
                                           const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    return err ? err : protime_choose(cmd, arg, protime_sqlite_syncs,
                                      &protime_srv(cmd)->sqlite_sync_full);
}

/* ---- server directives: the subscription and its API client ---------- */

/* A server directive's value goes into the string field at offset
 * cmd->info. */
static const char *protime_set_server_string(cmd_parms *cmd, void *dummy,
                                             const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (err)
        return err;
    if (!*arg)
        return protime_cmd_error(cmd, "expects a value");
    *(const char **)((char *)protime_srv(cmd) + (apr_size_t)cmd->info) = arg;
    return NULL;
}

static const char *protime_set_server_flag(cmd_parms *cmd, void *dummy,
                                           int flag)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (err)
        return err;
    *(int *)((char *)protime_srv(cmd) + (apr_size_t)cmd->info) = flag;
    return NULL;
}

static const char *protime_set_tenant(cmd_parms *cmd, void *dummy,
                                      const char *arg)
{
    const char *c;

    /* It becomes a host name label: letters, digits and hyphens. */
    for (c = arg; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-')
            break;
    }
    if (!*arg || *c || c - arg > 63 || *arg == '-' || c[-1] == '-')
        return protime_cmd_error(cmd, "expects the tenant name of your "
                                 "myProtime address (acme for "
                                 "https://acme.myprotime.eu)");
    return protime_set_server_string(cmd, dummy, arg);
}

static const protime_choice protime_environments[] = {
    { "production", 0 }, { "sandbox", 1 }, { NULL, 0 }
};

static const char *protime_set_environment(cmd_parms *cmd, void *dummy,
                                           const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    return err ? err : protime_choose(cmd, arg, protime_environments,
                                      &protime_srv(cmd)->sandbox);
}

/* An absolute http or https URL with a host; whether http is allowed is
 * decided with ProtimeAllowInsecureAPI, in protime_config_check. */
static const char *protime_set_url(cmd_parms *cmd, void *dummy,
                                   const char *arg)
{
    apr_uri_t uri;

    if (apr_uri_parse(cmd->pool, arg, &uri) != APR_SUCCESS || !uri.scheme
        || !uri.hostname || !*uri.hostname
        || (strcasecmp(uri.scheme, "https") && strcasecmp(uri.scheme, "http")))
        return protime_cmd_error(cmd, "expects an absolute https:// URL");
    if (uri.fragment)
        return protime_cmd_error(cmd, "the URL must not have a #fragment");
    /* Credentials would end up in logs; blanks are no part of a URL. */
    if (uri.user || uri.password)
        return protime_cmd_error(cmd, "the URL must not hold credentials");
    if (strpbrk(arg, " \t"))
        return protime_cmd_error(cmd, "the URL must not contain blanks");
    /* The API's paths are appended to it. */
    if (cmd->info == (void *)APR_OFFSETOF(protime_srv_conf, api_url)) {
        apr_size_t n = strlen(arg);
        while (n > 1 && arg[n - 1] == '/')
            n--;
        arg = apr_pstrndup(cmd->pool, arg, n);
    }
    return protime_set_server_string(cmd, dummy, arg);
}

/* A secret (literal, file:, env: or exec:) into the string field at
 * offset cmd->info. */
static const char *protime_set_server_secret(cmd_parms *cmd, void *dummy,
                                             const char *arg)
{
    const char *secret, *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (err || (err = protime_secret(cmd, arg, &secret)) != NULL)
        return err;
    /* Checked but not run yet (first pass): any placeholder will do. */
    *(const char **)((char *)protime_srv(cmd) + (apr_size_t)cmd->info) =
        secret ? secret : "";
    return NULL;
}

static const char *protime_set_proxy_user(cmd_parms *cmd, void *dummy,
                                          const char *arg)
{
    const char *err = protime_set_server_secret(cmd, dummy, arg);
    const char *v = protime_srv(cmd)->proxy_user;

    /* "" is the placeholder of a program not run yet. */
    if (!err && *v && (*v == ':' || !strchr(v, ':')))
        return protime_cmd_error(cmd, "expects user:password (the value "
                                 "is not shown)");
    return err;
}

/* The URL of a forward proxy: http://host:port, or https://host:port when
 * libcurl can talk TLS to a proxy. */
static const char *protime_set_proxy(cmd_parms *cmd, void *dummy,
                                     const char *arg)
{
    const char *usage = pt_curl_https_proxy()
        ? "expects http://host:port or https://host:port"
        : "expects http://host:port (this libcurl cannot reach a proxy over "
          "https)";
    apr_uri_t uri;

    if (apr_uri_parse(cmd->pool, arg, &uri) != APR_SUCCESS || !uri.scheme
        || !uri.hostname || !*uri.hostname
        || (strcasecmp(uri.scheme, "http")
            && (strcasecmp(uri.scheme, "https") || !pt_curl_https_proxy())))
        return protime_cmd_error(cmd, usage);
    if (uri.user || uri.password)
        return protime_cmd_error(cmd, "the URL must not hold credentials: "
                                 "set them with ProtimeProxyUser");
    /* Without one, libcurl would pick 1080, which no HTTP proxy uses. */
    if (!uri.port_str || !*uri.port_str)
        return protime_cmd_error(cmd, apr_pstrcat(cmd->pool, usage,
                                 ", with the port", NULL));
    if ((uri.path && strcmp(uri.path, "/")) || uri.query || uri.fragment
        || strpbrk(arg, " \t"))
        return protime_cmd_error(cmd, apr_pstrcat(cmd->pool, usage,
                                 ", nothing after the port", NULL));
    return protime_set_server_string(cmd, dummy, arg);
}

/* (people,@badge-number)(terminals,@external-code): one or more
 * (collection,reference) pairs, as Protime's query option takes them. */
static const char *protime_set_external_references(cmd_parms *cmd,
                                                   void *dummy,
                                                   const char *arg)
{
    const char *c = arg;

    while (*c == '(') {
        const char *comma = strchr(c, ','), *close = strchr(c, ')');
        const char *q;

        if (!comma || !close || comma > close || comma == c + 1
            || close == comma + 1)
            break;
        for (q = c + 1; q < close; q++) {
            if (q != comma && !apr_isalnum(*q) && !strchr("@-_.", *q))
                break;
        }
        if (q < close)
            break;
        c = close + 1;
    }
    if (c == arg || *c)
        return protime_cmd_error(cmd, "expects (collection,reference) pairs, "
                                 "e.g. (people,@badge-number)"
                                 "(terminals,@external-code)");
    return protime_set_server_string(cmd, dummy, arg);
}

static const char *protime_set_duration(cmd_parms *cmd, void *dummy,
                                        const char *arg)
{
    apr_interval_time_t *field = (apr_interval_time_t *)
        ((char *)protime_srv(cmd) + (apr_size_t)cmd->info);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    apr_interval_time_t d;

    if (err)
        return err;
    if ((err = pt_value_duration(arg, &d)) != NULL)
        return protime_cmd_error(cmd, err);
    if (d < PROTIME_MIN_CHECK_INTERVAL)
        return protime_cmd_error(cmd, "must be at least 1s");
    *field = d;
    return NULL;
}

/* One name of ProtimeCollections (ITERATE). */
static const char *protime_set_collections(cmd_parms *cmd, void *dummy,
                                          const char *arg)
{
    protime_srv_conf *sc = protime_srv(cmd);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    int i;

    if (err)
        return err;
    if (!pt_collection_known(arg))
        return protime_cmd_error(cmd, apr_pstrcat(cmd->pool, "unknown "
                                 "collection ", arg, " (see the README for "
                                 "the names Protime knows)", NULL));
    if (!sc->collections)
        sc->collections = apr_array_make(cmd->pool, 4, sizeof(const char *));
    for (i = 0; i < sc->collections->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(sc->collections, i, const char *), arg))
            return protime_cmd_error(cmd, apr_pstrcat(cmd->pool, arg,
                                     " is named twice", NULL));
    APR_ARRAY_PUSH(sc->collections, const char *) = arg;
    return NULL;
}

/* ProtimeDestinationURL url: the destination, or the base of several;
 * ProtimeDestinationURL url collection: the destination of one. */
static const char *protime_set_destination(cmd_parms *cmd, void *dummy,
                                           const char *url,
                                           const char *collection)
{
    protime_srv_conf *sc = protime_srv(cmd);
    const char *err, *single = sc->destination_url;

    if (!collection)
        return protime_set_url(cmd, dummy, url);
    if (!pt_collection_known(collection))
        return protime_cmd_error(cmd, apr_pstrcat(cmd->pool, "unknown "
                                 "collection ", collection, NULL));
    if (sc->destinations && apr_table_get(sc->destinations, collection))
        return protime_cmd_error(cmd, apr_pstrcat(cmd->pool, "the "
                                 "destination of ", collection,
                                 " is given twice", NULL));
    /* Checked as the single form is, into a field of its own. */
    if ((err = protime_set_url(cmd, dummy, url)) != NULL)
        return err;
    if (!sc->destinations)
        sc->destinations = apr_table_make(cmd->pool, 4);
    apr_table_setn(sc->destinations, collection, sc->destination_url);
    sc->destination_url = single;
    return NULL;
}

/* A duration, or Off (0). */
static const char *protime_set_reconcile_interval(cmd_parms *cmd,
                                                  void *dummy,
                                                  const char *arg)
{
    if (!strcasecmp(arg, "Off")) {
        const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

        if (!err)
            protime_srv(cmd)->reconcile_interval = 0;
        return err;
    }
    return protime_set_duration(cmd, dummy, arg);
}

static const char *protime_set_sync_from(cmd_parms *cmd, void *dummy,
                                         const char *arg)
{
    if (pt_date_parse(arg, NULL) != PT_DATE_OK)
        return protime_cmd_error(cmd, "expects a date, YYYY-MM-DD");
    return protime_set_server_string(cmd, dummy, arg);
}

static const char *protime_set_ca_file(cmd_parms *cmd, void *dummy,
                                       const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t fi;

    if (!path || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->pool) != APR_SUCCESS
        || fi.filetype != APR_REG)
        return protime_cmd_error(cmd, apr_pstrcat(cmd->pool, "cannot read "
                                 "the file ", arg, NULL));
    return protime_set_server_string(cmd, dummy, path);
}

static const char *protime_set_http_timeout(cmd_parms *cmd, void *dummy,
                                            const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    char *end;
    long v;

    if (err)
        return err;
    v = strtol(arg, &end, 10);
    if (!apr_isdigit(*arg) || *end || v < 1 || v > PROTIME_MAX_HTTP_TIMEOUT)
        return protime_cmd_error(cmd, "expects seconds, 1 to "
                                 APR_STRINGIFY(PROTIME_MAX_HTTP_TIMEOUT));
    protime_srv(cmd)->http_timeout = (int)v;
    return NULL;
}

int protime_is_webhook_handler(apr_pool_t *p, const ap_directive_t *d)
{
    const char *args = d->args;

    return !strcasecmp(d->directive, "SetHandler")
           && !strcasecmp(ap_getword_conf(p, &args), PROTIME_WEBHOOK_HANDLER);
}

const ap_directive_t *protime_vhost_block(const ap_directive_t *d,
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

static int protime_sets_webhook_handler(apr_pool_t *p, const ap_directive_t *d)
{
    for (; d; d = d->next)
        if (protime_is_webhook_handler(p, d)
            || (d->first_child
                && protime_sets_webhook_handler(p, d->first_child)))
            return 1;
    return 0;
}

/* Whether the <Location> (or <LocationMatch>) section entry applies to a
 * request for path, as core's location walk decides. */
static int protime_location_covers(const core_dir_config *entry,
                                   const char *path)
{
    apr_size_t len = strlen(entry->d);

    if (entry->r)
        return !ap_regexec(entry->r, path, 0, NULL, 0);
    if (entry->d_is_fnmatch)
        return apr_fnmatch(entry->d, path, APR_FNM_PATHNAME) == APR_SUCCESS;
    return len && !strncmp(entry->d, path, len)
           && (entry->d[len - 1] == '/' || path[len] == '/'
               || path[len] == '\0');
}

/* The module's configuration of the location block of server sp, as a
 * request for its own path gets it: the server's, then every <Location>
 * section that covers the path, in the order core merges them. For a
 * <LocationMatch> only the sections with the same pattern. */
static const protime_dir_conf *protime_location_config(apr_pool_t *p,
                                                       server_rec *sp,
                                                       const char *path,
                                                       int is_regex)
{
    const core_server_config *csc =
        ap_get_core_module_config(sp->module_config);
    ap_conf_vector_t **sec = (ap_conf_vector_t **)csc->sec_url->elts;
    const protime_dir_conf *dc = ap_get_module_config(sp->lookup_defaults,
                                                      &protime_module);
    int i;

    for (i = 0; i < csc->sec_url->nelts; i++) {
        const core_dir_config *entry = ap_get_core_module_config(sec[i]);
        /* NULL in a section without a directive of the module */
        void *own = ap_get_module_config(sec[i], &protime_module);

        if (own && (is_regex ? !strcmp(entry->d, path)
                             : protime_location_covers(entry, path)))
            dc = protime_merge_dir_conf(p, (void *)dc, own);
    }
    return dc;
}

/* Every protime-webhook <Location> among the directives d of server sp
 * must have a key to check signatures with: of its own, of a location that
 * covers it, of its server, or the subscription's (ProtimeSubscribe On in
 * sp or in the main server). Else each signed delivery gets 401. */
/* Whether sc subscribes to collection. */
static int protime_subscribes_to(apr_pool_t *p, const protime_srv_conf *sc,
                                 const char *collection)
{
    const apr_array_header_t *collections = protime_collections(p, sc);
    int i;

    for (i = 0; i < collections->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(collections, i, const char *), collection))
            return 1;
    return 0;
}

/* subscriber: the configuration whose subscriptions' keys the locations
 * of sp accept (protime_subscribing_config), NULL when none subscribes. */
static apr_status_t protime_check_locations(apr_pool_t *p, server_rec *sp,
                                            const ap_directive_t *d,
                                            const protime_srv_conf *subscriber)
{
    for (; d; d = d->next) {
        const char *args, *path;
        const protime_dir_conf *dc;
        int is_regex;

        if (strcasecmp(d->directive, "<Location")
            && strcasecmp(d->directive, "<LocationMatch"))
            continue;
        if (!protime_sets_webhook_handler(p, d->first_child))
            continue;
        /* A section's arguments end with its '>'. */
        args = apr_pstrndup(p, d->args, strrchr(d->args, '>') - d->args);
        path = ap_getword_conf(p, &args);
        is_regex = !strcasecmp(d->directive, "<LocationMatch");
        if (!strcmp(path, "~")) {
            path = ap_getword_conf(p, &args);
            is_regex = 1;
        }
        dc = protime_location_config(p, sp, path, is_regex);
        if (protime_require_signature(dc) && dc->key_count <= 0
            && subscriber
            && !protime_subscribes_to(p, subscriber, protime_collection(dc))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00522)
                         "%s %s> at %s:%d: SetHandler "
                         PROTIME_WEBHOOK_HANDLER " has no ProtimeWebhookKey "
                         "and receives %s, which ProtimeCollections does not "
                         "name, so no subscription key would sign its "
                         "deliveries and every one would get 401",
                         d->directive, path, d->filename, d->line_num,
                         protime_collection(dc));
            return APR_EGENERAL;
        }
        if (protime_require_signature(dc) && dc->key_count <= 0
            && !subscriber) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00509)
                         "%s %s> at %s:%d: SetHandler "
                         PROTIME_WEBHOOK_HANDLER " has no ProtimeWebhookKey "
                         "and server %s does not subscribe, so every "
                         "delivery would get 401; set ProtimeWebhookKey, or "
                         "ProtimeSubscribe On in this server or in the main "
                         "server", d->directive, path, d->filename,
                         d->line_num, sp->server_hostname
                         ? sp->server_hostname : "?");
            return APR_EGENERAL;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t protime_check_webhook_keys(server_rec *s, apr_pool_t *p)
{
    const protime_srv_conf *main_sc = protime_srv_config(s);
    server_rec *sp;

    for (sp = s; sp; sp = sp->next) {
        const ap_directive_t *d = ap_conftree;

        if (sp != s) {
            const ap_directive_t *block = protime_vhost_block(ap_conftree, sp);

            if (!block)
                continue;
            d = block->first_child;
        }
        if (protime_check_locations(p, sp, d,
                protime_subscribes(protime_srv_config(sp))
                ? protime_srv_config(sp)
                : protime_subscribes(main_sc) ? main_sc : NULL)
            != APR_SUCCESS)
            return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

/* An http:// URL where https is required, or NULL. */
static const char *protime_insecure_url(const char *url)
{
    return url && !strncasecmp(url, "http://", 7) ? url : NULL;
}

apr_status_t protime_config_check(server_rec *s, apr_pool_t *ptemp)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    server_rec *sp;

    for (sp = s; sp; sp = sp->next) {
        protime_srv_conf *sc = protime_srv_config(sp);
        const apr_array_header_t *collections = protime_collections(ptemp,
                                                                    sc);
        const char *needed[] = { sc->tenant ? NULL : "ProtimeTenant",
            sc->client_id ? NULL : "ProtimeClientID",
            sc->client_secret ? NULL : "ProtimeClientSecret", NULL };
        const char *missing = NULL, *insecure, *key, *other;
        const apr_array_header_t *own;
        int i;

        if (!protime_subscribes(sc))
            continue;
        for (i = 0; i < collections->nelts; i++)
            if (!protime_destination(ptemp, sc, APR_ARRAY_IDX(collections, i,
                                                              const char *)))
                needed[3] = !sc->destinations ? "ProtimeDestinationURL"
                    : apr_pstrcat(ptemp, "ProtimeDestinationURL (for ",
                                  APR_ARRAY_IDX(collections, i, const char *),
                                  ")", NULL);
        /* All at once: one configtest to find them all. */
        for (i = 0; i < (int)(sizeof(needed) / sizeof(needed[0])); i++)
            if (needed[i])
                missing = missing ? apr_pstrcat(ptemp, missing, ", ",
                                                needed[i], NULL)
                                  : needed[i];
        if (missing) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00502)
                         "ProtimeSubscribe On needs %s (server %s)", missing,
                         sp->server_hostname ? sp->server_hostname : "?");
            return APR_EGENERAL;
        }
        own = sc->destinations ? apr_table_elts(sc->destinations) : NULL;
        for (i = 0; own && i < own->nelts; i++) {
            const char *c = APR_ARRAY_IDX(own, i, apr_table_entry_t).key;
            int j, named = 0;

            for (j = 0; j < collections->nelts && !named; j++)
                named = !strcmp(APR_ARRAY_IDX(collections, j, const char *),
                                c);
            if (!named) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00521)
                             "ProtimeDestinationURL %s %s: %s is not among "
                             "the ProtimeCollections of server %s",
                             APR_ARRAY_IDX(own, i, apr_table_entry_t).val, c,
                             c, sp->server_hostname ? sp->server_hostname
                                                    : "?");
                return APR_EGENERAL;
            }
        }
        if (sc->proxy_user && !sc->proxy) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00507)
                         "ProtimeProxyUser without ProtimeProxy (server %s)",
                         sp->server_hostname ? sp->server_hostname : "?");
            return APR_EGENERAL;
        }
        if (!ap_find_linked_module("mod_dbd.c")) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00503)
                         "ProtimeSubscribe On needs mod_dbd for its state: "
                         "LoadModule dbd_module (a2enmod dbd)");
            return APR_EGENERAL;
        }
        for (i = 0; i < collections->nelts; i++) {
            const char *c = APR_ARRAY_IDX(collections, i, const char *);
            const char *dest = protime_destination(ptemp, sc, c);

            if (!protime_allow_insecure(sc)
                && ((insecure = protime_insecure_url(dest))
                    || (insecure = protime_insecure_url(sc->api_url))
                    || (insecure = protime_insecure_url(sc->token_url)))) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00504)
                             "%s %s: Protime is reached, and calls back, "
                             "over https only (ProtimeAllowInsecureAPI On "
                             "allows http for tests and local simulators)",
                             insecure == dest ? "ProtimeDestinationURL"
                             : insecure == sc->api_url ? "ProtimeAPIURL"
                                                       : "ProtimeTokenURL",
                             insecure);
                return APR_EGENERAL;
            }
            /* The state is kept by tenant and destination. */
            key = apr_pstrcat(ptemp, sc->tenant, " ", dest, NULL);
            if ((other = apr_hash_get(seen, key, APR_HASH_KEY_STRING))) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, PTLOGNO(00505)
                             "ProtimeDestinationURL %s: already subscribed "
                             "for tenant %s by %s; one subscription per "
                             "destination", dest, sc->tenant, other);
                return APR_EGENERAL;
            }
            apr_hash_set(seen, key, APR_HASH_KEY_STRING,
                         apr_psprintf(ptemp, "server %s (%s)",
                                      sp->server_hostname
                                      ? sp->server_hostname : "?", c));
        }
        if (protime_allow_insecure(sc))
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sp, PTLOGNO(00506)
                         "ProtimeAllowInsecureAPI On: http:// is allowed for "
                         "the Protime API; for tests and simulators only");
    }
    return protime_check_webhook_keys(s, ptemp);
}

#define PROTIME_SRV(field) ((void *)APR_OFFSETOF(protime_srv_conf, field))

const command_rec protime_cmds[] = {
    AP_INIT_TAKE1("ProtimeWebhookKey", protime_set_webhook_key, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "A key that delivery signatures are checked against; may "
                  "repeat. Literal, file:/path, env:NAME or exec:/program"),
    AP_INIT_TAKE1("ProtimeSignatureHeader", protime_set_signature_header,
                  NULL, RSRC_CONF | ACCESS_CONF,
                  "Request header holding the signature "
                  "(default " PROTIME_DEFAULT_SIGNATURE_HEADER ")"),
    AP_INIT_TAKE1("ProtimeSignatureAlgorithm", protime_set_algorithm, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "HMAC hash: sha256 (default) or sha512"),
    AP_INIT_TAKE1("ProtimeSignatureEncoding", protime_set_signature_encoding,
                  NULL, RSRC_CONF | ACCESS_CONF,
                  "Encoding of the signature header: base64 (default) or hex"),
    AP_INIT_TAKE1("ProtimeKeyEncoding", protime_set_key_encoding, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "How key text becomes HMAC key bytes: raw (default), "
                  "base64 or hex"),
    AP_INIT_TAKE1("ProtimeSignatureScheme", protime_set_signature_scheme,
                  NULL, RSRC_CONF | ACCESS_CONF,
                  "hmac-body (default: HMAC of the raw body in "
                  "ProtimeSignatureHeader) or standard-webhooks (webhook-id, "
                  "webhook-timestamp, webhook-signature)"),
    AP_INIT_TAKE1("ProtimeSignatureTolerance", protime_set_signature_tolerance,
                  NULL, RSRC_CONF | ACCESS_CONF,
                  "How far a signed timestamp may be from now, either way "
                  "(default 5m)"),
    AP_INIT_FLAG("ProtimeRequireSignature", protime_set_require_signature,
                 NULL, RSRC_CONF | ACCESS_CONF,
                 "On (default): unsigned deliveries get 401"),
    AP_INIT_TAKE1("ProtimeMaxBodySize", protime_set_max_body, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Largest delivery body in bytes (default 1048576)"),
    AP_INIT_FLAG("ProtimeCaptureRefused", ap_set_flag_slot,
                 (void *)APR_OFFSETOF(protime_dir_conf, capture_refused),
                 RSRC_CONF | ACCESS_CONF,
                 "On: keep the last deliveries refused for their signature "
                 "in protime_refused, for Protime's support (default Off)"),
    AP_INIT_TAKE1("ProtimeCollection", protime_set_collection, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "The Protime collection whose deliveries this location "
                  "receives (default " PT_COLLECTION_ACCESS_CLOCKINGS ")"),
    AP_INIT_TAKE1("ProtimeSQLiteSynchronous", protime_set_sqlite_sync, NULL,
                  RSRC_CONF,
                  "SQLite durability: Full (default; every acknowledged "
                  "change survives a power cut) or Normal (faster; survives "
                  "crashes of httpd, not of the machine)"),
    AP_INIT_TAKE1("ProtimeTenant", protime_set_tenant, PROTIME_SRV(tenant),
                  RSRC_CONF, "Tenant: acme for https://acme.myprotime.eu"),
    AP_INIT_TAKE1("ProtimeEnvironment", protime_set_environment, NULL,
                  RSRC_CONF, "production (default, myprotime.eu) or sandbox "
                  "(myprotimesandbox.eu)"),
    AP_INIT_TAKE1("ProtimeAPIURL", protime_set_url, PROTIME_SRV(api_url),
                  RSRC_CONF, "Base URL of the Protime API (default from "
                  "tenant and environment)"),
    AP_INIT_TAKE1("ProtimeTokenURL", protime_set_url, PROTIME_SRV(token_url),
                  RSRC_CONF, "OAuth2 token endpoint (default from tenant and "
                  "environment)"),
    AP_INIT_TAKE1("ProtimeClientID", protime_set_server_string,
                  PROTIME_SRV(client_id), RSRC_CONF,
                  "OAuth2 client id for the Protime API"),
    AP_INIT_TAKE1("ProtimeClientSecret", protime_set_server_secret,
                  PROTIME_SRV(client_secret), RSRC_CONF,
                  "OAuth2 client secret: literal, file:/path, env:NAME or "
                  "exec:/program"),
    AP_INIT_TAKE1("ProtimeUserAgent", protime_set_server_string,
                  PROTIME_SRV(user_agent), RSRC_CONF,
                  "User-Agent of API calls (default mod_protime/<version> "
                  "(<ServerName>))"),
    AP_INIT_FLAG("ProtimeSubscribe", protime_set_server_flag,
                 PROTIME_SRV(subscribe), RSRC_CONF,
                 "On: create and maintain the webhook subscription "
                 "(default Off)"),
    AP_INIT_TAKE12("ProtimeDestinationURL", protime_set_destination,
                   PROTIME_SRV(destination_url), RSRC_CONF,
                   "Public https URL of the protime-webhook location; with "
                   "several collections the base of theirs (<url>/"
                   "<collection>), or with a collection after it, that "
                   "collection's own"),
    AP_INIT_ITERATE("ProtimeCollections", protime_set_collections, NULL,
                    RSRC_CONF,
                    "The Protime collections to subscribe to, one webhook "
                    "each (default access-clockings)"),
    AP_INIT_TAKE1("ProtimeReconcileInterval", protime_set_reconcile_interval,
                  PROTIME_SRV(reconcile_interval), RSRC_CONF,
                  "How often the changes since the last delta are fetched "
                  "and applied (default 1h; Off: never)"),
    AP_INIT_TAKE1("ProtimeExternalReferences", protime_set_external_references,
                  PROTIME_SRV(external_references), RSRC_CONF,
                  "External references asked for at creation, e.g. "
                  "(people,@badge-number)(terminals,@external-code)"),
    AP_INIT_TAKE1("ProtimeRenewBefore", protime_set_duration,
                  PROTIME_SRV(renew_before), RSRC_CONF,
                  "Replace the webhook this long before validUntil "
                  "(default 1d)"),
    AP_INIT_TAKE1("ProtimeSyncFrom", protime_set_sync_from,
                  PROTIME_SRV(sync_from), RSRC_CONF,
                  "Earliest date of a full re-synchronisation (default 1 "
                  "January of the previous year)"),
    AP_INIT_TAKE1("ProtimeCACertificateFile", protime_set_ca_file,
                  PROTIME_SRV(ca_file), RSRC_CONF,
                  "CA certificates for the Protime API (default: the "
                  "system's)"),
    AP_INIT_TAKE1("ProtimeProxy", protime_set_proxy, PROTIME_SRV(proxy),
                  RSRC_CONF, "Forward proxy for the calls to Protime, "
                  "http://host:port (default: none; the environment's "
                  "http_proxy and the like are not used)"),
    AP_INIT_TAKE1("ProtimeProxyUser", protime_set_proxy_user,
                  PROTIME_SRV(proxy_user), RSRC_CONF,
                  "user:password for the proxy (Basic): literal, "
                  "file:/path, env:NAME or exec:/program"),
    AP_INIT_TAKE1("ProtimeHTTPTimeout", protime_set_http_timeout, NULL,
                  RSRC_CONF, "Timeout of one API call in seconds (default 10)"),
    AP_INIT_TAKE1("ProtimeCheckInterval", protime_set_duration,
                  PROTIME_SRV(check_interval), RSRC_CONF,
                  "How often the subscription is checked at Protime "
                  "(default 1h)"),
    AP_INIT_FLAG("ProtimeAllowInsecureAPI", protime_set_server_flag,
                 PROTIME_SRV(allow_insecure), RSRC_CONF,
                 "On: allow http:// API, token and destination URLs (tests "
                 "and local simulators only; default Off)"),
    {NULL}
};
