/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_curl: the libcurl transport of pt_api (see pt_curl.h). */

#include "pt_curl.h"

#include <apr_cstr.h>
#include <apr_strings.h>
#include <curl/curl.h>

#include <stdlib.h>
#include <string.h>

/* One request's state, shared with libcurl's callbacks. */
typedef struct {
    const pt_curl_options_t *opts;
    apr_pool_t *p;
    char *body;                     /* malloc'ed: it grows in steps */
    apr_size_t len, cap;
    int too_large;
    const char *location;
} pt_curl_state_t;

/* Longest Retry-After passed on: a year, far above any wait the caller
 * makes, and far below an overflow of apr_time_t. */
#define PT_CURL_MAX_RETRY_AFTER (366 * 86400)

static size_t pt_curl_write(char *data, size_t size, size_t n, void *baton)
{
    pt_curl_state_t *st = baton;
    apr_size_t add = size * n;

    if (add > st->opts->max_response - st->len) {
        st->too_large = 1;
        return 0;
    }
    if (st->len + add > st->cap) {
        apr_size_t cap = st->cap ? st->cap : 16384;
        char *grown;

        while (cap < st->len + add) {
            cap *= 2;
        }
        if (!(grown = realloc(st->body, cap))) {
            return 0;
        }
        st->body = grown;
        st->cap = cap;
    }
    memcpy(st->body + st->len, data, add);
    st->len += add;
    return add;
}

/* The value of header line [line, line + len) if its name is name,
 * trimmed; NULL otherwise. */
static const char *pt_curl_header_value(apr_pool_t *p, const char *line,
                                        apr_size_t len, const char *name)
{
    apr_size_t n = strlen(name);
    const char *v, *end = line + len;

    if (len <= n || line[n] != ':' || apr_cstr_casecmpn(line, name, n) != 0) {
        return NULL;
    }
    for (v = line + n + 1; v < end && (*v == ' ' || *v == '\t'); ++v)
        ;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '
                       || end[-1] == '\t')) {
        --end;
    }
    return apr_pstrmemdup(p, v, end - v);
}

static size_t pt_curl_header(char *line, size_t size, size_t n, void *baton)
{
    pt_curl_state_t *st = baton;
    apr_size_t len = size * n;
    const char *v;

    /* A new status line (after a 100 Continue, say): only the headers of
     * the last response count. */
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        st->location = NULL;
    }
    else if ((v = pt_curl_header_value(st->p, line, len, "Location"))) {
        st->location = v;
    }
    return len;
}

static int pt_curl_progress(void *baton, curl_off_t dltotal, curl_off_t dlnow,
                            curl_off_t ultotal, curl_off_t ulnow)
{
    pt_curl_state_t *st = baton;

    return st->opts->abort(st->opts->baton) ? 1 : 0;
}

static apr_status_t pt_curl_perform(void *baton, apr_pool_t *p,
                                    const pt_http_request_t *req,
                                    pt_http_response_t *resp)
{
    const pt_curl_options_t *opts = baton;
    pt_curl_state_t st;
    struct curl_slist *headers = NULL, *h;
    char errbuf[CURL_ERROR_SIZE];
    CURL *curl;
    CURLcode rc = CURLE_OK;
    long status = 0;
    curl_off_t retry_after = 0;
    int i, post = req->body || strcmp(req->method, "POST") == 0;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after = -1;
    memset(&st, 0, sizeof(st));
    st.opts = opts;
    st.p = p;
    errbuf[0] = '\0';

    if (!(curl = curl_easy_init())) {
        resp->body = "";
        resp->error = "cannot create a curl handle";
        return APR_ENOMEM;
    }
    for (i = 0; i < req->headers->nelts; ++i) {
        if (!(h = curl_slist_append(headers, APR_ARRAY_IDX(req->headers, i,
                                                           const char *)))) {
            rc = CURLE_OUT_OF_MEMORY;
            break;
        }
        headers = h;
    }
    /* An empty Expect stops curl from waiting for a 100 Continue before
     * sending a larger body. */
    if (rc == CURLE_OK && (h = curl_slist_append(headers, "Expect:"))) {
        headers = h;
    }

#define PT_CURL_SET(opt, val)                                           \
    if (rc == CURLE_OK) {                                               \
        rc = curl_easy_setopt(curl, opt, val);                          \
    }
    PT_CURL_SET(CURLOPT_ERRORBUFFER, errbuf);
    PT_CURL_SET(CURLOPT_URL, req->url);
    PT_CURL_SET(CURLOPT_NOSIGNAL, 1L);
    PT_CURL_SET(CURLOPT_TIMEOUT, opts->timeout_sec);
    PT_CURL_SET(CURLOPT_CONNECTTIMEOUT, opts->timeout_sec);
#if CURL_AT_LEAST_VERSION(7, 85, 0)
    PT_CURL_SET(CURLOPT_PROTOCOLS_STR,
                opts->allow_insecure ? "http,https" : "https");
#else
    PT_CURL_SET(CURLOPT_PROTOCOLS, opts->allow_insecure
                ? (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)
                : (long)CURLPROTO_HTTPS);
#endif
    PT_CURL_SET(CURLOPT_SSL_VERIFYPEER, 1L);
    PT_CURL_SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (opts->ca_file) {
        PT_CURL_SET(CURLOPT_CAINFO, opts->ca_file);
    }
    /* "" (no proxy) also keeps libcurl from taking one from the
     * environment; an empty no-proxy list from skipping it for hosts that
     * no_proxy names. */
    PT_CURL_SET(CURLOPT_PROXY, opts->proxy ? opts->proxy : "");
    PT_CURL_SET(CURLOPT_NOPROXY, "");
    /* A tunnel for http:// URLs too (see pt_curl.h); an https proxy is
     * verified as the origin is. */
    if (opts->proxy) {
        PT_CURL_SET(CURLOPT_HTTPPROXYTUNNEL, 1L);
        PT_CURL_SET(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
        PT_CURL_SET(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
        if (opts->ca_file) {
            PT_CURL_SET(CURLOPT_PROXY_CAINFO, opts->ca_file);
        }
    }
    if (opts->proxy_user && rc == CURLE_OK) {
        /* libcurl URL-decodes the proxy's user name and password (a % in
         * a password would change): each goes in escaped. The name ends
         * at the first colon, the password may hold more. */
        const char *u = opts->proxy_user, *colon = strchr(u, ':');
        char *name = curl_easy_escape(curl, colon ? apr_pstrmemdup(p, u,
                                                        colon - u) : u, 0);
        char *pass = curl_easy_escape(curl, colon ? colon + 1 : "", 0);

        rc = name && pass ? curl_easy_setopt(curl, CURLOPT_PROXYUSERPWD,
                                             apr_pstrcat(p, name, ":", pass,
                                                         NULL))
                          : CURLE_OUT_OF_MEMORY;
        curl_free(name);
        curl_free(pass);
    }
    PT_CURL_SET(CURLOPT_FOLLOWLOCATION, 0L);
    PT_CURL_SET(CURLOPT_HTTPHEADER, headers);
    PT_CURL_SET(CURLOPT_WRITEFUNCTION, pt_curl_write);
    PT_CURL_SET(CURLOPT_WRITEDATA, &st);
    PT_CURL_SET(CURLOPT_HEADERFUNCTION, pt_curl_header);
    PT_CURL_SET(CURLOPT_HEADERDATA, &st);
    if (opts->abort) {
        PT_CURL_SET(CURLOPT_XFERINFOFUNCTION, pt_curl_progress);
        PT_CURL_SET(CURLOPT_XFERINFODATA, &st);
        PT_CURL_SET(CURLOPT_NOPROGRESS, 0L);
    }
    if (post) {
        PT_CURL_SET(CURLOPT_POSTFIELDSIZE_LARGE,
                    (curl_off_t)(req->body ? req->body_len : 0));
        PT_CURL_SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
    }
    /* curl picks POST with a body, GET without; any other method is
     * named. */
    if (strcmp(req->method, post ? "POST" : "GET") != 0) {
        PT_CURL_SET(CURLOPT_CUSTOMREQUEST, req->method);
    }
#undef PT_CURL_SET

    if (rc == CURLE_OK) {
        rc = curl_easy_perform(curl);
    }
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        /* curl reads both forms, seconds and an HTTP date. It says 0 for
         * none, and for 0 or a date gone by: those get the caller's own
         * backoff. */
        curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after);
    }
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);

    if (rc != CURLE_OK || status == 0) {
        free(st.body);
        resp->body = "";
        resp->error = st.too_large
            ? apr_psprintf(p, "response larger than %" APR_SIZE_T_FMT
                           " bytes", opts->max_response)
            : apr_pstrdup(p, errbuf[0] ? errbuf : rc != CURLE_OK
                          ? curl_easy_strerror(rc) : "no HTTP status");
        /* curl's messages do not say whether the proxy or the origin
         * failed ("Failed to connect to ... port ..."). */
        if (opts->proxy) {
            resp->error = apr_psprintf(p, "%s (through proxy %s)",
                                       resp->error, opts->proxy);
        }
        return rc == CURLE_OPERATION_TIMEDOUT ? APR_TIMEUP
             : rc == CURLE_ABORTED_BY_CALLBACK ? APR_EINTR : APR_EGENERAL;
    }
    resp->body = st.len ? apr_pstrmemdup(p, st.body, st.len) : "";
    free(st.body);
    resp->status = (int)status;
    resp->body_len = st.len;
    resp->location = st.location;
    resp->retry_after = retry_after <= 0 ? -1
        : apr_time_from_sec(retry_after < PT_CURL_MAX_RETRY_AFTER
                            ? retry_after : PT_CURL_MAX_RETRY_AFTER);
    return APR_SUCCESS;
}

int pt_curl_https_proxy(void)
{
    return (curl_version_info(CURLVERSION_NOW)->features
            & CURL_VERSION_HTTPS_PROXY) != 0;
}

void pt_curl_transport(apr_pool_t *p, const pt_curl_options_t *opts,
                       pt_http_t *http)
{
    pt_curl_options_t *o = apr_pmemdup(p, opts, sizeof(*o));

    if (opts->ca_file) {
        o->ca_file = apr_pstrdup(p, opts->ca_file);
    }
    if (opts->proxy) {
        o->proxy = apr_pstrdup(p, opts->proxy);
    }
    if (opts->proxy_user) {
        o->proxy_user = apr_pstrdup(p, opts->proxy_user);
    }
    if (!o->max_response) {
        o->max_response = PT_API_MAX_RESPONSE;
    }
    http->perform = pt_curl_perform;
    http->baton = o;
}
