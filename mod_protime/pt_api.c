/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_api: the Protime API client (see pt_api.h). */

#include "pt_api.h"
#include "pt_clock.h"

#include <apr_cstr.h>
#include <apr_escape.h>
#include <apr_general.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <jansson.h>

#include <stdlib.h>
#include <string.h>

#include "pt_collection.h"
#include "pt_date.h"
#include "pt_text.h"

/* A server that keeps sending nextLink must not keep a call going for
 * ever. */
#define PT_API_MAX_PAGES 100
/* Protime's error texts are cut to this many bytes in messages. */
#define PT_API_MAX_TEXT 200
/* Longest token lifetime believed, so that the expiry cannot overflow. */
#define PT_API_MAX_TTL (366 * 86400)
#define PT_API_REDACTED "[redacted]"

struct pt_api_t {
    pt_api_config_t cfg;
    const char *api_url;            /* without a trailing slash */
    const char *api_path;           /* its path, "" for the root */
    const char *origin;             /* scheme://host[:port] of api_url */
    apr_pool_t *token_pool;         /* cleared whenever the token goes */
    const char *token;              /* NULL when none is cached */
    apr_time_t token_until;         /* used while pt_clock_monotonic() is
                                     * before */
    apr_time_t deadline;            /* 0: none (pt_api_set_deadline) */
    const char *deadline_what;
};

/* ---- helpers ------------------------------------------------------------ */

/* Whether s can go into a request line or a header as it is: printable,
 * and without a blank, which would end the URL or the token. */
static int pt_api_is_word(const char *s)
{
    return pt_text_is_printable(s, strlen(s)) && !strchr(s, ' ');
}

/* Percent-encodes everything but RFC 3986's unreserved characters, for a
 * path segment or a query value. Not APR's escapes:
 * apr_pescape_path_segment leaves '&', '=' and '+' as they are, which a
 * query value cannot, and apr_pescape_urlencoded writes a blank as '+',
 * which means a blank only in a form body. */
static const char *pt_api_escape(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;

    for (; *s; ++s) {
        unsigned char c = (unsigned char)*s;

        if (apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 0x0f];
        }
    }
    *o = '\0';
    return out;
}

/* Replaces every occurrence of needle in text (a pool string) by
 * PT_API_REDACTED. */
static const char *pt_api_redact_one(apr_pool_t *p, const char *text,
                                     const char *needle)
{
    apr_size_t n;
    const char *hit;
    char *out;

    if (!needle || !*needle || !(hit = strstr(text, needle))) {
        return text;
    }
    n = strlen(needle);
    out = apr_pstrmemdup(p, text, hit - text);
    for (;;) {
        const char *next;

        out = apr_pstrcat(p, out, PT_API_REDACTED, NULL);
        text = hit + n;
        if (!(next = strstr(text, needle))) {
            break;
        }
        out = apr_pstrcat(p, out, apr_pstrmemdup(p, text, next - text),
                          NULL);
        hit = next;
    }
    return apr_pstrcat(p, out, text, NULL);
}

/* Makes text from outside (a server's error text, a transport error) fit
 * for a message: printable, at most PT_API_MAX_TEXT bytes, without the
 * client secret, the cached token or the token a request used. */
static const char *pt_api_redact(pt_api_t *a, apr_pool_t *p,
                                 const char *text, const char *token)
{
    apr_size_t len;

    text = pt_api_redact_one(p, text, a->cfg.client_secret);
    text = pt_api_redact_one(p, text, a->token);
    text = pt_api_redact_one(p, text, token);
    /* Made printable and cut only after redacting: a secret with a byte
     * replaced or cut off would no longer be found. */
    len = strlen(text);
    if (len > PT_API_MAX_TEXT) {
        return apr_pstrcat(p, pt_text_printable(p, text, PT_API_MAX_TEXT),
                           "...", NULL);
    }
    return pt_text_printable(p, text, len);
}

static apr_status_t pt_api_fail(pt_api_error_t *err, apr_status_t rv,
                                int status, const char *message)
{
    err->status = status;
    err->message = message;
    return rv;
}

static const char *pt_api_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    }
    return NULL;
}

static const char *pt_api_status_text(apr_pool_t *p, int status)
{
    const char *reason = pt_api_reason(status);

    return reason ? apr_psprintf(p, "%d %s", status, reason)
                  : apr_psprintf(p, "status %d", status);
}

/* Parses a body that should be a JSON object; NULL when it is not. */
static json_t *pt_api_json_object(const pt_http_response_t *resp)
{
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);

    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* A copy of the string member name of o, NULL when absent or empty. */
static const char *pt_api_member(apr_pool_t *p, const json_t *o,
                                 const char *name)
{
    const json_t *j = json_object_get(o, name);

    if (!json_is_string(j) || json_string_length(j) == 0) {
        return NULL;
    }
    return apr_pstrmemdup(p, json_string_value(j), json_string_length(j));
}

/* " (code: message)" from Protime's {"error":{"code","message"}}, redacted,
 * or "". Nothing else of a body is ever shown. */
static const char *pt_api_server_error(pt_api_t *a, apr_pool_t *p,
                                       const pt_http_response_t *resp,
                                       const char *token,
                                       const char **code_out)
{
    json_t *j = pt_api_json_object(resp);
    const json_t *e = json_object_get(j, "error");
    const char *code = NULL, *msg = NULL, *text;

    if (json_is_object(e)) {
        code = pt_api_member(p, e, "code");
        msg = pt_api_member(p, e, "message");
    }
    json_decref(j);
    if (code_out) {
        *code_out = code ? pt_api_redact(a, p, code, token) : NULL;
    }
    if (!code && !msg) {
        return "";
    }
    text = code && msg ? apr_pstrcat(p, code, ": ", msg, NULL)
                       : code ? code : msg;
    return apr_pstrcat(p, " (", pt_api_redact(a, p, text, token), ")", NULL);
}

/* The OAuth error code of a token endpoint's answer, if it is one of
 * RFC 6749's: a fixed word, so it is shown while the body itself (which
 * may carry a token) never is. */
static const char *pt_api_oauth_error(apr_pool_t *p,
                                      const pt_http_response_t *resp)
{
    static const char *const codes[] = {
        "invalid_request", "invalid_client", "invalid_grant",
        "unauthorized_client", "unsupported_grant_type", "invalid_scope"
    };
    json_t *j = pt_api_json_object(resp);
    const json_t *e = json_object_get(j, "error");
    const char *found = "";
    apr_size_t i;

    for (i = 0; json_is_string(e) && i < sizeof(codes) / sizeof(*codes);
         ++i) {
        if (strcmp(json_string_value(e), codes[i]) == 0) {
            found = apr_pstrcat(p, " (", codes[i], ")", NULL);
            break;
        }
    }
    json_decref(j);
    return found;
}

/* The path of url without query and fragment, fit for a message: a
 * nextLink comes from the server and may hold anything, the client secret
 * and the token included. With short_form the API's own path prefix goes
 * too, so that messages say "GET /webhooks/1". */
static const char *pt_api_path(pt_api_t *a, apr_pool_t *p, const char *url,
                               int short_form)
{
    const char *s = strstr(url, "://"), *path;
    apr_size_t n = strlen(a->api_path);

    if (s) {
        s += 3;
        s += strcspn(s, "/?#");
    }
    else {
        s = url;
    }
    path = apr_pstrmemdup(p, s, strcspn(s, "?#"));
    if (short_form && n && strncmp(path, a->api_path, n) == 0
        && (path[n] == '/' || path[n] == '\0')) {
        path += n;
    }
    return *path ? pt_api_redact(a, p, path, NULL) : "/";
}

/* ---- requests ----------------------------------------------------------- */

static unsigned pt_api_random(pt_api_t *a)
{
    unsigned r;

    if (a->cfg.random) {
        return a->cfg.random(a->cfg.baton);
    }
    /* Without random bytes the wait is the shortest allowed, still a
     * wait. */
    if (apr_generate_random_bytes((unsigned char *)&r, sizeof(r))
        != APR_SUCCESS) {
        return 0;
    }
    return r;
}

/* The wait after the given failed attempt (1 for the first): the
 * backoff doubles with each attempt, and the actual wait is drawn between
 * half and all of it so that clients do not come back in step. */
static apr_interval_time_t pt_api_backoff(pt_api_t *a, int attempt)
{
    apr_interval_time_t full = PT_API_BACKOFF << (attempt - 1);
    apr_interval_time_t half = full / 2;

    return half + (apr_interval_time_t)(pt_api_random(a)
                                        % (apr_uint64_t)(full - half + 1));
}

/* Whether an attempt started after waiting `wait` would end by the
 * deadline, if there is one. */
static int pt_api_in_time(pt_api_t *a, apr_interval_time_t wait)
{
    apr_time_t now;

    if (!a->deadline) {
        return 1;
    }
    now = a->cfg.now ? a->cfg.now(a->cfg.baton) : apr_time_now();
    return now + wait + a->cfg.attempt_timeout <= a->deadline;
}

void pt_api_set_deadline(pt_api_t *a, apr_time_t deadline, const char *what)
{
    a->deadline = deadline;
    a->deadline_what = what;
}

/* Forgets the cached token (a 401 says it is no longer valid). */
static void pt_api_forget_token(pt_api_t *a)
{
    a->token = NULL;
    apr_pool_clear(a->token_pool);
}

static apr_array_header_t *pt_api_headers(pt_api_t *a, apr_pool_t *p,
                                          const char *token,
                                          const char *content_type)
{
    apr_array_header_t *h = apr_array_make(p, 4, sizeof(const char *));

    APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(p, "User-Agent: ",
                                                  a->cfg.user_agent, NULL);
    APR_ARRAY_PUSH(h, const char *) = "Accept: application/json";
    if (token) {
        APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(p, "Authorization: "
                                                      "Bearer ", token, NULL);
    }
    if (content_type) {
        APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(p, "Content-Type: ",
                                                      content_type, NULL);
    }
    return h;
}

/* How pt_api_send sends a request. */
#define PT_API_AUTH 1           /* an API call, with the bearer token */
#define PT_API_ONCE 2           /* not idempotent (see pt_api.h) */

/* Sends a request, retrying as pt_api.h describes, until a response comes
 * that is not retried (any status, 4xx included: the caller judges it).
 * how is PT_API_AUTH, PT_API_ONCE or both. what ("GET /webhooks") starts
 * the messages. Returns an error, err filled, when no such response
 * came. */
static apr_status_t pt_api_send(pt_api_t *a, apr_pool_t *p,
                                const char *what, const char *method,
                                const char *url, const char *content_type,
                                const char *body, int how,
                                pt_http_response_t *resp, pt_api_error_t *err)
{
    int auth = how & PT_API_AUTH;
    const char *path = pt_api_path(a, p, url, 0);
    /* What the server last answered to a retried attempt: named when a
     * later attempt gets no answer (a timeout, a reset, the server
     * stopping), so that the message still says what the server said. */
    const char *answered = NULL;
    int attempt, refreshed = 0;

    for (attempt = 1; ; ++attempt) {
        pt_http_request_t req;
        const char *token = NULL, *failure;
        apr_interval_time_t wait;
        apr_time_t start;
        apr_status_t rv;

        if (attempt == 1 && !pt_api_in_time(a, 0)) {
            return pt_api_fail(err, APR_TIMEUP, 0,
                               apr_psprintf(p, "%s: not sent: it could end "
                                            "after %s", what,
                                            a->deadline_what));
        }
        if (auth && (rv = pt_api_token(a, p, &token, err)) != APR_SUCCESS) {
            return rv;
        }
        req.method = method;
        req.url = url;
        req.headers = pt_api_headers(a, p, token, body ? content_type : NULL);
        req.body = body;
        req.body_len = body ? strlen(body) : 0;
        memset(resp, 0, sizeof(*resp));

        start = pt_clock_monotonic();
        rv = a->cfg.http.perform(a->cfg.http.baton, p, &req, resp);
        if (rv != APR_SUCCESS || resp->status == 0) {
            resp->status = 0;
            failure = pt_api_redact(a, p, resp->error ? resp->error
                                    : "no response", token);
            /* The transport's reason says more than its status, mostly
             * APR_EGENERAL, would. */
            pt_log_error(a->cfg.log, PT_LOG_DEBUG, APR_SUCCESS, p,
                         PTLOGNO(00801)
                         "%s %s: failed in %" APR_TIME_T_FMT " ms: %s",
                         method, path,
                         apr_time_as_msec(pt_clock_monotonic() - start),
                         failure);
            wait = pt_api_backoff(a, attempt);
            if (answered) {
                failure = apr_pstrcat(p, failure, " (earlier: ", answered,
                                      ")", NULL);
            }
        }
        else {
            int renew = resp->status == 401 && auth && !refreshed;

            pt_log_error(a->cfg.log, PT_LOG_DEBUG, APR_SUCCESS, p,
                         PTLOGNO(00802) "%s %s: %d in %" APR_TIME_T_FMT " ms",
                         method, path, resp->status,
                         apr_time_as_msec(pt_clock_monotonic() - start));
            if (!renew && resp->status != 429 && resp->status < 500) {
                return APR_SUCCESS;
            }
            failure = apr_pstrcat(p, pt_api_status_text(p, resp->status),
                                  auth ? pt_api_server_error(a, p, resp, token,
                                                             NULL)
                                       : pt_api_oauth_error(p, resp), NULL);
            answered = failure;
            if (renew) {
                /* The token may have been revoked or have expired early:
                 * one more try with a new one, at once. */
                pt_api_forget_token(a);
                refreshed = 1;
                wait = 0;
            }
            else if (resp->status == 429 || resp->status == 503) {
                wait = resp->retry_after;
                if (wait > PT_API_MAX_INLINE_WAIT) {
                    err->retry_after = wait;
                    return pt_api_fail(err, APR_EGENERAL, resp->status,
                                       apr_psprintf(p, "%s: %s, retry after "
                                                    "%" APR_TIME_T_FMT " s",
                                                    what, failure,
                                                    apr_time_sec(wait)));
                }
                if (wait < 0) {
                    wait = pt_api_backoff(a, attempt);
                }
            }
            else {
                wait = pt_api_backoff(a, attempt);
            }
        }

        if (attempt >= PT_API_TRIES) {
            return pt_api_fail(err, APR_EGENERAL, resp->status,
                               apr_psprintf(p, "%s: %s after %d tries", what,
                                            failure, attempt));
        }
        /* No answer, or a 5xx but 503, may come after the server did it:
         * sent again, it would be done twice. */
        if ((how & PT_API_ONCE) && resp->status != 401
            && resp->status != 429 && resp->status != 503) {
            return pt_api_fail(err, APR_EGENERAL, resp->status,
                               apr_psprintf(p, "%s: %s; not retried: it may "
                                            "have been carried out", what,
                                            failure));
        }
        if (!pt_api_in_time(a, wait)) {
            return pt_api_fail(err, APR_TIMEUP, resp->status,
                               apr_psprintf(p, "%s: %s; not retried: another "
                                            "try could end after %s", what,
                                            failure, a->deadline_what));
        }
        if (wait > 0 && !a->cfg.sleep) {
            apr_sleep(wait);
        }
        else if (wait > 0 && a->cfg.sleep(a->cfg.baton, wait) != 0) {
            return pt_api_fail(err, APR_EINTR, resp->status,
                               apr_psprintf(p, "%s: %s; not retried: the "
                                            "server is stopping", what,
                                            failure));
        }
    }
}

/* The message for a response with a status the caller does not expect. */
static apr_status_t pt_api_unexpected(pt_api_t *a, apr_pool_t *p,
                                      const char *what,
                                      const pt_http_response_t *resp,
                                      pt_api_error_t *err)
{
    const char *detail = pt_api_server_error(a, p, resp, NULL, &err->code);

    return pt_api_fail(err, resp->status == 404 ? APR_NOTFOUND : APR_EGENERAL,
                       resp->status,
                       apr_pstrcat(p, what, ": ",
                                   pt_api_status_text(p, resp->status),
                                   detail, NULL));
}

static const char *pt_api_what(pt_api_t *a, apr_pool_t *p, const char *method,
                               const char *url)
{
    return apr_pstrcat(p, method, " ", pt_api_path(a, p, url, 1), NULL);
}

/* A GET of url that must answer 200 with a JSON object, in *out. */
static apr_status_t pt_api_get_object(pt_api_t *a, apr_pool_t *p,
                                      const char *url, json_t **out,
                                      pt_api_error_t *err)
{
    const char *what = pt_api_what(a, p, "GET", url);
    pt_http_response_t resp;
    apr_status_t rv;

    rv = pt_api_send(a, p, what, "GET", url, NULL, NULL, PT_API_AUTH, &resp,
                     err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (resp.status != 200) {
        return pt_api_unexpected(a, p, what, &resp, err);
    }
    if (!(*out = pt_api_json_object(&resp))) {
        return pt_api_fail(err, APR_EGENERAL, resp.status,
                           apr_pstrcat(p, what, ": the answer is not a JSON "
                                       "object", NULL));
    }
    return APR_SUCCESS;
}

/* The URL a nextLink names: a path on the API's host, or an absolute URL
 * on that same host (anything else could send the token elsewhere). */
static const char *pt_api_next_url(pt_api_t *a, apr_pool_t *p,
                                   const char *link, pt_api_error_t *err)
{
    apr_uri_t uri;

    if (!pt_api_is_word(link)) {
        err->message = "the nextLink is not a valid URL";
        return NULL;
    }
    if (link[0] == '/' && link[1] != '/') {
        return apr_pstrcat(p, a->origin, link, NULL);
    }
    if (apr_uri_parse(p, link, &uri) == APR_SUCCESS && uri.scheme
        && uri.hostname
        && apr_cstr_casecmp(apr_uri_unparse(p, &uri,
                                            APR_URI_UNP_OMITPATHINFO
                                            | APR_URI_UNP_OMITUSERINFO),
                            a->origin) == 0) {
        return link;
    }
    err->message = "the nextLink leads away from the API's host";
    return NULL;
}

/* ---- client and token --------------------------------------------------- */

static const char *pt_api_check_url(apr_pool_t *p, const char *what,
                                    const char *url, int allow_insecure,
                                    apr_uri_t *uri)
{
    if (!url || !*url) {
        return apr_psprintf(p, "the %s is not set", what);
    }
    if (!pt_api_is_word(url)
        || apr_uri_parse(p, url, uri) != APR_SUCCESS || !uri->scheme
        || !uri->hostname || !*uri->hostname) {
        return apr_psprintf(p, "the %s is not an absolute URL: %s", what,
                            url);
    }
    if (apr_cstr_casecmp(uri->scheme, "https") != 0
        && (apr_cstr_casecmp(uri->scheme, "http") != 0 || !allow_insecure)) {
        return apr_psprintf(p, "the %s must use https: %s", what, url);
    }
    return NULL;
}

const char *pt_api_create(apr_pool_t *p, const pt_api_config_t *cfg,
                          pt_api_t **out)
{
    pt_api_t *a;
    apr_uri_t uri;
    const char *err;
    char *api_url;
    apr_size_t n;

    if ((err = pt_api_check_url(p, "token URL", cfg->token_url,
                                cfg->allow_insecure, &uri)) != NULL
        || (err = pt_api_check_url(p, "API URL", cfg->api_url,
                                   cfg->allow_insecure, &uri)) != NULL) {
        return err;
    }
    /* Request URLs are made by appending to the API URL. */
    if (uri.query || uri.fragment) {
        return apr_psprintf(p, "the API URL must not have a query or a "
                            "fragment: %s", cfg->api_url);
    }
    if (!cfg->client_id || !*cfg->client_id) {
        return "the client id is not set";
    }
    if (!cfg->client_secret || !*cfg->client_secret) {
        return "the client secret is not set";
    }
    /* Each ends up in a header line. */
    if (!cfg->user_agent || !*cfg->user_agent
        || !pt_text_is_printable(cfg->user_agent, strlen(cfg->user_agent))) {
        return "the User-Agent is not set or not a single line";
    }
    if (!cfg->http.perform) {
        return "no HTTP transport";
    }

    a = apr_pcalloc(p, sizeof(*a));
    a->cfg = *cfg;
    a->cfg.token_url = apr_pstrdup(p, cfg->token_url);
    a->cfg.client_id = apr_pstrdup(p, cfg->client_id);
    a->cfg.client_secret = apr_pstrdup(p, cfg->client_secret);
    a->cfg.user_agent = apr_pstrdup(p, cfg->user_agent);
    a->cfg.collection = apr_pstrdup(p, cfg->collection
                                       ? cfg->collection
                                       : PT_COLLECTION_ACCESS_CLOCKINGS);
    a->cfg.scope = cfg->scope ? apr_pstrdup(p, cfg->scope) : NULL;
    api_url = apr_pstrdup(p, cfg->api_url);
    for (n = strlen(api_url); n > 0 && api_url[n - 1] == '/'; --n) {
        api_url[n - 1] = '\0';
    }
    a->cfg.api_url = a->api_url = api_url;
    a->origin = apr_uri_unparse(p, &uri, APR_URI_UNP_OMITPATHINFO
                                | APR_URI_UNP_OMITUSERINFO);
    /* The origin is rebuilt by APR (default port dropped, brackets), so
     * the path is looked for in the URL rather than after the origin. */
    a->api_path = strstr(api_url, "://") + 3;
    a->api_path += strcspn(a->api_path, "/");
    if (apr_pool_create(&a->token_pool, p) != APR_SUCCESS) {
        return "cannot create a pool";
    }
    *out = a;
    return NULL;
}

/* Takes the token out of a 200 answer of the token endpoint. Messages
 * never quote the body. */
static const char *pt_api_read_token(pt_api_t *a, apr_pool_t *p,
                                     const pt_http_response_t *resp,
                                     apr_time_t start)
{
    json_t *j = pt_api_json_object(resp);
    const json_t *tok, *ttl, *type;
    const char *why = NULL;
    json_int_t secs = 0;

    if (!j) {
        return "the answer is not a JSON object";
    }
    tok = json_object_get(j, "access_token");
    ttl = json_object_get(j, "expires_in");
    type = json_object_get(j, "token_type");
    if (!json_is_string(tok) || json_string_length(tok) == 0) {
        why = "the answer has no access_token";
    }
    else if (type && (!json_is_string(type)
                      || apr_cstr_casecmp(json_string_value(type),
                                          "Bearer") != 0)) {
        why = "the token_type is not Bearer";
    }
    else if (!json_is_integer(ttl) || (secs = json_integer_value(ttl)) <= 0) {
        why = "the answer has no positive expires_in";
    }
    else if (!pt_api_is_word(json_string_value(tok))) {
        /* The token goes into a header line as it is. */
        why = "the access_token is not a valid header value";
    }
    if (!why) {
        apr_interval_time_t life, margin;

        if (secs > PT_API_MAX_TTL) {
            secs = PT_API_MAX_TTL;
        }
        life = apr_time_from_sec(secs);
        margin = life / 10 < apr_time_from_sec(60) ? life / 10
                                                   : apr_time_from_sec(60);
        a->token = apr_pstrdup(a->token_pool, json_string_value(tok));
        a->token_until = start + life - margin;
    }
    json_decref(j);
    return why;
}

apr_status_t pt_api_token(pt_api_t *a, apr_pool_t *p, const char **token,
                          pt_api_error_t *err)
{
    const char *what, *why;
    pt_http_response_t resp;
    apr_time_t start;
    apr_status_t rv;

    memset(err, 0, sizeof(*err));
    if (a->token && pt_clock_monotonic() < a->token_until) {
        *token = apr_pstrdup(p, a->token);
        return APR_SUCCESS;
    }
    pt_api_forget_token(a);
    what = pt_api_what(a, p, "POST", a->cfg.token_url);
    start = pt_clock_monotonic();
    rv = pt_api_send(a, p, what, "POST", a->cfg.token_url,
                     "application/x-www-form-urlencoded",
                     apr_pstrcat(p, "grant_type=client_credentials&client_id=",
                                 apr_pescape_urlencoded(p, a->cfg.client_id),
                                 "&client_secret=",
                                 apr_pescape_urlencoded(p,
                                                        a->cfg.client_secret),
                                 "&scope=",
                                 apr_pescape_urlencoded(p, a->cfg.scope
                                                        ? a->cfg.scope
                                                        : PT_API_SCOPE),
                                 NULL),
                     0, &resp, err);
    if (rv == APR_SUCCESS && resp.status != 200) {
        rv = pt_api_fail(err, APR_EGENERAL, resp.status,
                         apr_pstrcat(p, what, ": ",
                                     pt_api_status_text(p, resp.status),
                                     pt_api_oauth_error(p, &resp), NULL));
    }
    else if (rv == APR_SUCCESS
             && (why = pt_api_read_token(a, p, &resp, start)) != NULL) {
        rv = pt_api_fail(err, APR_EGENERAL, resp.status,
                         apr_pstrcat(p, what, ": ", why, NULL));
    }
    if (rv != APR_SUCCESS) {
        err->message = apr_pstrcat(p, "cannot get an access token: ",
                                   err->message, NULL);
        return rv;
    }
    *token = apr_pstrdup(p, a->token);
    return APR_SUCCESS;
}

/* ---- webhooks ----------------------------------------------------------- */

static void pt_api_read_webhook(apr_pool_t *p, const json_t *o,
                                pt_webhook_t *w)
{
    /* The creation answer's name for the key is not documented. */
    static const char *const key_names[] = {
        "key", "webhookKey", "privateKey", "secret"
    };
    const char *until;
    apr_size_t i;

    w->id = pt_api_member(p, o, "id");
    for (i = 0; !w->key && i < sizeof(key_names) / sizeof(*key_names); ++i) {
        w->key = pt_api_member(p, o, key_names[i]);
    }
    w->status = pt_api_member(p, o, "status");
    w->destination_url = pt_api_member(p, o, "destinationUrl");
    w->collection = pt_api_member(p, o, "collectionName");
    until = pt_api_member(p, o, "validUntil");
    if (!until || !pt_date_parse_time(until, &w->valid_until)) {
        w->valid_until = 0;
    }
}

/* The last path segment of a Location, e.g. the id in
 * /connector/protimeapi/api/v1/webhooks/{id}?x=y; NULL if there is none. */
static const char *pt_api_location_id(apr_pool_t *p, const char *location)
{
    apr_size_t end = strcspn(location, "?#"), start;

    while (end > 0 && location[end - 1] == '/') {
        --end;
    }
    for (start = end; start > 0 && location[start - 1] != '/'; --start)
        ;
    if (start == end) {
        return NULL;
    }
    return apr_pstrmemdup(p, location + start, end - start);
}

apr_status_t pt_api_webhook_create(pt_api_t *a, apr_pool_t *p,
                                   const char *destination_url,
                                   const char *external_references,
                                   pt_webhook_t *out, pt_api_error_t *err)
{
    const char *url = apr_pstrcat(p, a->api_url, "/webhooks", NULL), *what;
    pt_http_response_t resp;
    json_t *j;
    char *dump;
    const char *body;
    apr_status_t rv;

    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    if (!destination_url || !*destination_url) {
        return pt_api_fail(err, APR_EINVAL, 0, "no destination URL");
    }
    what = pt_api_what(a, p, "POST", url);
    if (external_references && *external_references) {
        url = apr_pstrcat(p, url, "?externalReferences=",
                          pt_api_escape(p, external_references), NULL);
    }
    j = json_pack("{s:s, s:s}", "destinationUrl", destination_url,
                  "collectionName", a->cfg.collection);
    if (!j || !(dump = json_dumps(j, JSON_COMPACT))) {
        json_decref(j);
        return pt_api_fail(err, APR_EINVAL, 0,
                           "the destination URL is not valid UTF-8");
    }
    json_decref(j);
    body = apr_pstrdup(p, dump);
    free(dump);

    rv = pt_api_send(a, p, what, "POST", url, "application/json", body,
                     PT_API_AUTH | PT_API_ONCE, &resp, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (resp.status != 201 && resp.status != 200) {
        return pt_api_unexpected(a, p, what, &resp, err);
    }
    if ((j = pt_api_json_object(&resp)) != NULL) {
        pt_api_read_webhook(p, j, out);
        json_decref(j);
    }
    if (!out->id && resp.location) {
        out->id = pt_api_location_id(p, resp.location);
    }
    if (!j || !out->key || !out->id) {
        return pt_api_fail(err, APR_EGENERAL, resp.status,
                           apr_pstrcat(p, what, ": ",
                                       pt_api_status_text(p, resp.status),
                                       !j ? " but the answer is not a JSON "
                                            "object"
                                       : !out->key ? " without a webhook key"
                                       : " without a webhook id", NULL));
    }
    return APR_SUCCESS;
}

apr_status_t pt_api_webhook_list(pt_api_t *a, apr_pool_t *p,
                                 apr_array_header_t **out,
                                 pt_api_error_t *err)
{
    const char *url = apr_pstrcat(p, a->api_url, "/webhooks?filter=",
                                  pt_api_escape(p, apr_pstrcat(p,
                                                "collection-name eq '",
                                                a->cfg.collection, "'",
                                                NULL)),
                                  NULL);
    apr_array_header_t *list = apr_array_make(p, 4, sizeof(pt_webhook_t));
    int page;

    memset(err, 0, sizeof(*err));
    for (page = 0; page < PT_API_MAX_PAGES; ++page) {
        const char *what = pt_api_what(a, p, "GET", url), *link;
        const json_t *value, *item;
        json_t *j;
        apr_size_t i;
        apr_status_t rv;

        if ((rv = pt_api_get_object(a, p, url, &j, err)) != APR_SUCCESS) {
            return rv;
        }
        value = json_object_get(j, "value");
        if (!json_is_array(value)) {
            json_decref(j);
            return pt_api_fail(err, APR_EGENERAL, 200,
                               apr_pstrcat(p, what, ": the answer has no "
                                           "value array", NULL));
        }
        json_array_foreach(value, i, item) {
            pt_webhook_t *w;

            if (json_is_object(item)) {
                w = apr_array_push(list);
                memset(w, 0, sizeof(*w));
                pt_api_read_webhook(p, item, w);
            }
        }
        link = pt_api_member(p, j, "nextLink");
        json_decref(j);
        if (!link) {
            *out = list;
            return APR_SUCCESS;
        }
        if (!(url = pt_api_next_url(a, p, link, err))) {
            err->status = 200;
            err->message = apr_pstrcat(p, what, ": ", err->message, NULL);
            return APR_EGENERAL;
        }
    }
    return pt_api_fail(err, APR_EGENERAL, 200,
                       apr_psprintf(p, "GET /webhooks: more than %d pages",
                                    PT_API_MAX_PAGES));
}

apr_status_t pt_api_webhook_get(pt_api_t *a, apr_pool_t *p, const char *id,
                                pt_webhook_t *out, pt_api_error_t *err)
{
    json_t *j;
    apr_status_t rv;

    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    if (!id || !*id) {
        return pt_api_fail(err, APR_EINVAL, 0, "no webhook id");
    }
    rv = pt_api_get_object(a, p, apr_pstrcat(p, a->api_url, "/webhooks/",
                                             pt_api_escape(p, id), NULL),
                           &j, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    pt_api_read_webhook(p, j, out);
    json_decref(j);
    return APR_SUCCESS;
}

apr_status_t pt_api_webhook_delete(pt_api_t *a, apr_pool_t *p,
                                   const char *id, pt_api_error_t *err)
{
    const char *url, *what;
    pt_http_response_t resp;
    apr_status_t rv;

    memset(err, 0, sizeof(*err));
    if (!id || !*id) {
        return pt_api_fail(err, APR_EINVAL, 0, "no webhook id");
    }
    url = apr_pstrcat(p, a->api_url, "/webhooks/", pt_api_escape(p, id),
                      NULL);
    what = pt_api_what(a, p, "DELETE", url);
    rv = pt_api_send(a, p, what, "DELETE", url, NULL, NULL, PT_API_AUTH,
                     &resp, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (resp.status != 200 && resp.status != 204 && resp.status != 404) {
        return pt_api_unexpected(a, p, what, &resp, err);
    }
    return APR_SUCCESS;
}

/* ---- lists and deltas --------------------------------------------------- */

const char *pt_api_scope(apr_pool_t *p, const apr_array_header_t *collections)
{
    const char *scope = "connector-protimeapi-webhooks.read "
                        "connector-protimeapi-webhooks.write";
    int i;

    for (i = 0; i < collections->nelts; ++i) {
        scope = apr_pstrcat(p, scope, " connector-protimeapi-",
                            APR_ARRAY_IDX(collections, i, const char *),
                            ".read", NULL);
    }
    return scope;
}

const char *pt_api_list_url(apr_pool_t *p, const char *api_url,
                            const pt_api_list_t *list)
{
    const char *url = apr_pstrcat(p, api_url, "/",
                                  pt_api_escape(p, list->collection), NULL);
    const char *sep = "?";

    if (strcmp(list->collection, PT_COLLECTION_ACCESS_CLOCKINGS) == 0) {
        /* Protime refuses this list without a date filter. */
        const char *filter;

        if (!list->from || pt_date_parse(list->from, NULL) != PT_DATE_OK
            || (list->to && pt_date_parse(list->to, NULL) != PT_DATE_OK)) {
            return NULL;
        }
        filter = apr_pstrcat(p, "date ge '", list->from, "'", NULL);
        if (list->to) {
            filter = apr_pstrcat(p, filter, " and date le '", list->to, "'",
                                 NULL);
        }
        url = apr_pstrcat(p, url, "?filter=", pt_api_escape(p, filter), NULL);
        sep = "&";
    }
    if (list->external_references && *list->external_references) {
        url = apr_pstrcat(p, url, sep, "externalReferences=",
                          pt_api_escape(p, list->external_references), NULL);
        sep = "&";
    }
    if (list->delta) {
        url = apr_pstrcat(p, url, sep, "delta", NULL);
    }
    return url;
}

/* GET of url, one page of a list or a delta, into out. */
static apr_status_t pt_api_page(pt_api_t *a, apr_pool_t *p, const char *url,
                                pt_api_page_t *out, pt_api_error_t *err)
{
    const char *what = pt_api_what(a, p, "GET", url);
    const json_t *value;
    json_t *j;
    char *dump;
    apr_status_t rv;

    memset(out, 0, sizeof(*out));
    if ((rv = pt_api_get_object(a, p, url, &j, err)) != APR_SUCCESS) {
        return rv;
    }
    value = json_object_get(j, "value");
    if (!json_is_array(value) || !(dump = json_dumps(value, JSON_COMPACT))) {
        json_decref(j);
        return pt_api_fail(err, APR_EGENERAL, 200,
                           apr_pstrcat(p, what, ": the answer has no value "
                                       "array", NULL));
    }
    out->items = apr_pstrdup(p, dump);
    free(dump);
    out->next = pt_api_member(p, j, "nextLink");
    out->delta_link = pt_api_member(p, j, "deltaLink");
    json_decref(j);
    return APR_SUCCESS;
}

apr_status_t pt_api_list_page(pt_api_t *a, apr_pool_t *p,
                              const pt_api_list_t *list,
                              const char *next_link, pt_api_page_t *out,
                              pt_api_error_t *err)
{
    pt_api_list_t l = *list;
    const char *url;

    memset(err, 0, sizeof(*err));
    if (!l.collection) {
        l.collection = a->cfg.collection;
    }
    if (next_link) {
        if (!(url = pt_api_next_url(a, p, next_link, err))) {
            return APR_EINVAL;
        }
    }
    else if (!(url = pt_api_list_url(p, a->api_url, &l))) {
        return pt_api_fail(err, APR_EINVAL, 0,
                           "the clocking window needs YYYY-MM-DD dates");
    }
    return pt_api_page(a, p, url, out, err);
}

apr_status_t pt_api_delta_page(pt_api_t *a, apr_pool_t *p,
                               const char *delta_link, pt_api_page_t *out,
                               pt_api_error_t *err)
{
    const char *url;
    apr_status_t rv;

    memset(err, 0, sizeof(*err));
    if (!delta_link || !(url = pt_api_next_url(a, p, delta_link, err))) {
        return pt_api_fail(err, APR_EINVAL, 0, "the deltaLink is not a URL "
                           "on the API's host");
    }
    if ((rv = pt_api_page(a, p, url, out, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!out->delta_link) {
        return pt_api_fail(err, APR_EGENERAL, 200,
                           apr_pstrcat(p, pt_api_what(a, p, "GET", url),
                                       ": the answer has no deltaLink",
                                       NULL));
    }
    return APR_SUCCESS;
}

/* Whether s holds "expired", in any case. */
static int pt_api_says_expired(const char *s)
{
    static const char word[] = "expired";

    for (; s && *s; ++s) {
        if (apr_cstr_casecmpn(s, word, sizeof(word) - 1) == 0) {
            return 1;
        }
    }
    return 0;
}

int pt_api_delta_expired(const pt_api_error_t *err)
{
    if (err->status == 410) {
        return 1;
    }
    return err->status >= 400 && err->status < 500 && err->status != 401
           && err->status != 429
           && (pt_api_says_expired(err->code)
               || pt_api_says_expired(err->message));
}

/* ---- access clockings --------------------------------------------------- */

apr_status_t pt_api_clockings_page(pt_api_t *a, apr_pool_t *p,
                                   const char *from, const char *to,
                                   const char *external_references,
                                   const char *next_link,
                                   const char **items, const char **next,
                                   pt_api_error_t *err)
{
    pt_api_list_t list;
    pt_api_page_t page;
    apr_status_t rv;

    memset(&list, 0, sizeof(list));
    list.collection = PT_COLLECTION_ACCESS_CLOCKINGS;
    list.from = from;
    list.to = to;
    list.external_references = external_references;
    if (!next_link && !to) {
        memset(err, 0, sizeof(*err));
        return pt_api_fail(err, APR_EINVAL, 0,
                           "the clocking window needs two YYYY-MM-DD dates");
    }
    rv = pt_api_list_page(a, p, &list, next_link, &page, err);
    if (rv == APR_SUCCESS) {
        *items = page.items;
        *next = page.next;
    }
    return rv;
}
