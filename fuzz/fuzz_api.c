/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* libFuzzer target: the Protime API client against hostile answers.
 *
 * A fake transport serves the answers from the input; the client runs its
 * calls against them: token, webhook create, list, get, delete, and pages
 * of access clockings following their nextLinks. The properties checked
 * are the ones a broken or hostile API must never break: the bearer token
 * goes to the API's own host only (as libcurl itself would parse the URL),
 * no header line carries a line break, the client secret appears in no
 * message, and what a successful call returns is usable.
 *
 * Each answer in the input is: a status byte, a flags byte (1: a
 * Retry-After line follows, 2: a Location line follows), those lines
 * ending in '\n', then the body up to "\n--\n" or the end.
 */
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pt_api.h"

#define FUZZ_SECRET "fuzz-client-secret-0a1b2c"
#define FUZZ_API_HOST "api.fuzz.example"

typedef struct {
    const uint8_t *data;
    size_t size;
} fuzz_input_t;

static apr_pool_t *fuzz_pool;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&fuzz_pool, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

/* The next line of the input (without its '\n'), from p. */
static const char *fuzz_line(apr_pool_t *p, fuzz_input_t *in)
{
    const uint8_t *nl = memchr(in->data, '\n', in->size);
    size_t n = nl ? (size_t)(nl - in->data) : in->size;
    const char *line = apr_pstrmemdup(p, (const char *)in->data, n);

    in->data += nl ? n + 1 : n;
    in->size -= nl ? n + 1 : n;
    return line;
}

/* Where libcurl would send the request: its host must be the API's. */
static void fuzz_check_destination(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;

    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        abort();    /* a token is about to go to a URL curl cannot parse */
    if (strcmp(scheme, "https") != 0 || strcasecmp(host, FUZZ_API_HOST) != 0)
        abort();
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK
        && strcmp(port, "443") != 0)
        abort();
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

static apr_status_t fuzz_perform(void *baton, apr_pool_t *p,
                                 const pt_http_request_t *req,
                                 pt_http_response_t *resp)
{
    static const int statuses[] = { 200, 201, 204, 400, 401, 404, 429, 500,
                                    503, 0, 302, 200 };
    fuzz_input_t *in = baton;
    const uint8_t *end;
    int i, flags;

    for (i = 0; i < req->headers->nelts; i++) {
        const char *h = APR_ARRAY_IDX(req->headers, i, const char *);
        if (strpbrk(h, "\r\n"))
            abort();
        if (strncasecmp(h, "Authorization:", 14) == 0)
            fuzz_check_destination(req->url);
    }
    memset(resp, 0, sizeof(*resp));
    if (in->size < 2) {
        resp->error = "the fuzz input is exhausted";
        return APR_EGENERAL;
    }
    resp->status = statuses[in->data[0] % (sizeof(statuses) / sizeof(*statuses))];
    flags = in->data[1];
    in->data += 2, in->size -= 2;
    /* As pt_curl gives it: seconds, > 0, at most a year; or -1. */
    resp->retry_after = -1;
    if (flags & 1) {
        apr_int64_t secs = apr_atoi64(fuzz_line(p, in));
        if (secs > 0)
            resp->retry_after = apr_time_from_sec(secs % (366 * 86400) + 1);
    }
    if (flags & 2)
        resp->location = fuzz_line(p, in);
    end = memmem(in->data, in->size, "\n--\n", 4);
    resp->body_len = end ? (size_t)(end - in->data) : in->size;
    resp->body = apr_pstrmemdup(p, (const char *)in->data, resp->body_len);
    in->data += end ? resp->body_len + 4 : resp->body_len;
    in->size -= end ? resp->body_len + 4 : resp->body_len;
    if (resp->status == 0) {
        resp->error = resp->body;
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

static void fuzz_check_message(const char *msg)
{
    if (msg && strstr(msg, FUZZ_SECRET))
        abort();
}

static void fuzz_log_print(void *baton, const char *file, int line,
                           pt_log_level_t level, apr_status_t rv,
                           apr_pool_t *p, const char *fmt, va_list ap)
{
    fuzz_check_message(apr_pvsprintf(p, fmt, ap));
}

static const pt_log_t fuzz_log = { NULL, fuzz_log_print, NULL };

static int fuzz_sleep(void *baton, apr_interval_time_t how_long)
{
    if (how_long < 0)
        abort();
    return 0;
}

static unsigned fuzz_random(void *baton)
{
    return 12345;
}

static void fuzz_check_items(const char *items)
{
    json_t *j = json_loads(items, 0, NULL);

    if (!json_is_array(j))
        abort();
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input_t in = { data, size };
    pt_api_config_t cfg;
    pt_api_t *a;
    pt_api_error_t err;
    pt_webhook_t w;
    apr_array_header_t *list;
    const char *items, *next = NULL;
    apr_pool_t *p;
    int page;

    apr_pool_create(&p, fuzz_pool);
    memset(&cfg, 0, sizeof(cfg));
    cfg.api_url = "https://" FUZZ_API_HOST "/connector/protimeapi/api/v1";
    cfg.token_url = "https://login.fuzz.example/connect/token";
    cfg.client_id = "fuzz-client";
    cfg.client_secret = FUZZ_SECRET;
    cfg.user_agent = "mod_protime-fuzz";
    cfg.http.perform = fuzz_perform;
    cfg.http.baton = &in;
    cfg.log = &fuzz_log;
    cfg.sleep = fuzz_sleep;
    cfg.random = fuzz_random;
    if (pt_api_create(p, &cfg, &a) != NULL)
        abort();

    if (pt_api_webhook_create(a, p, "https://hooks.fuzz.example/protime",
                              "Person,Terminal", &w, &err) == APR_SUCCESS) {
        if (!w.id || !*w.id || !w.key || !*w.key)
            abort();
    }
    else if (!err.message)
        abort();
    fuzz_check_message(err.message);

    memset(&err, 0, sizeof(err));
    if (pt_api_webhook_list(a, p, &list, &err) != APR_SUCCESS && !err.message)
        abort();
    fuzz_check_message(err.message);

    if (pt_api_webhook_get(a, p, "wh-1", &w, &err) != APR_SUCCESS && !err.message)
        abort();
    fuzz_check_message(err.message);

    if (pt_api_webhook_delete(a, p, "wh-1", &err) != APR_SUCCESS && !err.message)
        abort();
    fuzz_check_message(err.message);

    for (page = 0; page < 4; page++) {
        if (pt_api_clockings_page(a, p, "2025-01-01", "2025-12-31",
                                  "(people,@badge-number)", next,
                                  &items, &next, &err) != APR_SUCCESS) {
            if (!err.message)
                abort();
            fuzz_check_message(err.message);
            break;
        }
        fuzz_check_items(items);
        if (!next)
            break;
    }
    apr_pool_destroy(p);
    return 0;
}
