/* mod_protime_config.c: the directive table, and config create/merge.
 *
 * Every scalar starts UNSET and merges as "add wins when set"; defaults are
 * applied by the getters. That way a <Location> can set a value back to its
 * default inside one that changed it.
 */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <apr_strings.h>

#include "mod_protime.h"
#include "pt_value.h"

APLOG_USE_MODULE(protime);

#define PROTIME_DEFAULT_SIGNATURE_HEADER "X-Protime-Signature"
#define PROTIME_DEFAULT_MAX_BODY 1048576
#define PROTIME_MAX_BODY_LIMIT (APR_INT64_C(1) << 30)

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

static pt_encoding_t protime_key_encoding(const protime_dir_conf *dc)
{
    return dc->key_encoding == PROTIME_UNSET
           ? PT_ENC_RAW : (pt_encoding_t)dc->key_encoding;
}

int protime_require_signature(const protime_dir_conf *dc)
{
    return dc->require_signature != 0;      /* UNSET means On */
}

apr_off_t protime_max_body(const protime_dir_conf *dc)
{
    return dc->max_body == PROTIME_UNSET ? PROTIME_DEFAULT_MAX_BODY
                                         : dc->max_body;
}

int protime_sqlite_sync_full(const protime_srv_conf *sc)
{
    return sc->sqlite_sync_full == PROTIME_UNSET ? 0 : sc->sqlite_sync_full;
}

void *protime_create_dir_conf(apr_pool_t *p, char *dir)
{
    protime_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    dc->algorithm = PROTIME_UNSET;
    dc->signature_encoding = PROTIME_UNSET;
    dc->key_encoding = PROTIME_UNSET;
    dc->require_signature = PROTIME_UNSET;
    dc->max_body = PROTIME_UNSET;
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
    dc->signature_header = PROTIME_MERGE_PTR(signature_header);
    dc->algorithm = PROTIME_MERGE(algorithm);
    dc->signature_encoding = PROTIME_MERGE(signature_encoding);
    dc->key_encoding = PROTIME_MERGE(key_encoding);
    dc->require_signature = PROTIME_MERGE(require_signature);
    dc->max_body = PROTIME_MERGE(max_body);
    return dc;
}

void *protime_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    protime_srv_conf *sc = apr_pcalloc(p, sizeof(*sc));

    sc->sqlite_sync_full = PROTIME_UNSET;
    return sc;
}

void *protime_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    const protime_srv_conf *base = basev, *add = addv;
    protime_srv_conf *sc = apr_pcalloc(p, sizeof(*sc));

    sc->sqlite_sync_full = PROTIME_MERGE(sqlite_sync_full);
    return sc;
}

/* Names the directive in every configuration error. */
static const char *protime_cmd_error(cmd_parms *cmd, const char *msg)
{
    return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, msg);
}

/* Decodes the configured key texts with the location's key encoding. Run
 * again when ProtimeKeyEncoding follows the keys in the same section. */
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
        const char *err = pt_sig_decode_key(cmd->pool, text,
                                            protime_key_encoding(dc), key);
        if (err)
            return apr_psprintf(cmd->pool, "ProtimeWebhookKey #%d: %s "
                                "(ProtimeKeyEncoding %s)", i + 1, err,
                                protime_key_encoding(dc) == PT_ENC_HEX ? "hex"
                                : protime_key_encoding(dc) == PT_ENC_BASE64
                                ? "base64" : "raw");
    }
    return NULL;
}

static const char *protime_set_webhook_key(cmd_parms *cmd, void *dcv,
                                           const char *arg)
{
    protime_dir_conf *dc = dcv;
    const char *secret, *err;
    /* The first configuration pass at startup (and apachectl configtest)
     * only checks an exec: program; it runs once the configuration is read
     * for real. */
    int run_exec = ap_state_query(AP_SQ_MAIN_STATE)
                   != AP_SQ_MS_CREATE_PRE_CONFIG;

    err = pt_value_secret(cmd->pool, arg, run_exec, &secret);
    if (err)
        return protime_cmd_error(cmd, err);
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
    protime_srv_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                &protime_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    return err ? err : protime_choose(cmd, arg, protime_sqlite_syncs,
                                      &sc->sqlite_sync_full);
}

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
    AP_INIT_FLAG("ProtimeRequireSignature", protime_set_require_signature,
                 NULL, RSRC_CONF | ACCESS_CONF,
                 "On (default): unsigned deliveries get 401"),
    AP_INIT_TAKE1("ProtimeMaxBodySize", protime_set_max_body, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Largest delivery body in bytes (default 1048576)"),
    AP_INIT_TAKE1("ProtimeSQLiteSynchronous", protime_set_sqlite_sync, NULL,
                  RSRC_CONF,
                  "SQLite durability: Normal (default; survives crashes of "
                  "httpd) or Full (also survives power loss)"),
    {NULL}
};
