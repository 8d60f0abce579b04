/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests of pt_api against a fake transport: scripted responses,
 * recorded requests, sleeps and log lines. */

#include "pt_api.h"
#include "tap.h"

#include <apr_general.h>
#include <apr_strings.h>

#include <stdlib.h>

#define SECRET "s3cr3t-CLIENT/+&="
#define TOKEN1 "tok-SECRET-1"
#define TOKEN2 "tok-SECRET-2"
#define KEY "whkey-SECRET"
#define UA "ProtimeTest/1 (Acme)"
#define API "https://acme.myprotime.eu/connector/protimeapi/api/v1"
#define TOKEN_URL                                                       \
    "https://authentication.myprotime.eu/tenants/acme/connect/token"
#define TOKEN_BODY(tok, ttl)                                            \
    "{\"access_token\":\"" tok "\",\"expires_in\":" #ttl                \
    ",\"token_type\":\"Bearer\",\"scope\":\"x\"}"

#define MAX_SCRIPT 16
#define MAX_REQS 32

typedef struct {
    int status;                     /* 0: transport failure */
    const char *body;
    const char *location;
    apr_interval_time_t retry_after;    /* -1: none */
} fake_resp_t;

typedef struct {
    const char *method, *url, *body;
    apr_array_header_t *headers;
} fake_req_t;

static apr_pool_t *pool;

static struct {
    fake_resp_t script[MAX_SCRIPT];
    int nscript, next;
    fake_req_t reqs[MAX_REQS];
    int nreqs;
    apr_interval_time_t sleeps[MAX_SCRIPT];
    int nsleeps;
    int sleep_result;
    int use_random;                 /* else random() gives rand_value */
    unsigned rand_value;
    apr_array_header_t *logs;
    int logs_not_debug;             /* lines logged at another level */
    apr_time_t clock;               /* the client's (fake_now) */
    apr_interval_time_t attempt_takes;  /* each request moves it so far */
} fake;

static apr_status_t fake_perform(void *baton, apr_pool_t *p,
                                 const pt_http_request_t *req,
                                 pt_http_response_t *resp)
{
    fake_req_t *r = &fake.reqs[fake.nreqs < MAX_REQS ? fake.nreqs++ : 0];
    const fake_resp_t *s;

    fake.clock += fake.attempt_takes;
    r->method = apr_pstrdup(pool, req->method);
    r->url = apr_pstrdup(pool, req->url);
    r->body = req->body ? apr_pstrmemdup(pool, req->body, req->body_len)
                        : NULL;
    r->headers = apr_array_copy(pool, req->headers);

    memset(resp, 0, sizeof(*resp));
    resp->body = "";
    resp->retry_after = -1;
    if (fake.next >= fake.nscript) {
        resp->error = "script exhausted";
        return APR_EGENERAL;
    }
    s = &fake.script[fake.next++];
    if (s->status == 0) {
        resp->error = s->body ? s->body : "Connection refused";
        return APR_EGENERAL;
    }
    resp->status = s->status;
    if (s->body) {
        resp->body = s->body;
        resp->body_len = strlen(s->body);
    }
    resp->location = s->location;
    resp->retry_after = s->retry_after;
    return APR_SUCCESS;
}

static void fake_log_print(void *baton, const char *file, int line,
                           pt_log_level_t level, apr_status_t rv,
                           apr_pool_t *p, const char *fmt, va_list ap)
{
    APR_ARRAY_PUSH(fake.logs, const char *) = apr_pvsprintf(pool, fmt, ap);
    fake.logs_not_debug += level != PT_LOG_DEBUG;
}

static const pt_log_t fake_log = { NULL, fake_log_print, NULL };

static int fake_sleep(void *baton, apr_interval_time_t how_long)
{
    if (fake.nsleeps < MAX_SCRIPT) {
        fake.sleeps[fake.nsleeps++] = how_long;
    }
    fake.clock += how_long;
    return fake.sleep_result;
}

static apr_time_t fake_now(void *baton)
{
    return fake.clock;
}

static unsigned fake_random(void *baton)
{
    return fake.rand_value;
}

static unsigned real_random(void *baton)
{
    return (unsigned)random();
}

static void reset(void)
{
    memset(&fake, 0, sizeof(fake));
    fake.logs = apr_array_make(pool, 8, sizeof(const char *));
}

/* retry_after: the Retry-After in seconds, as pt_curl gives it, or NULL. */
static void script(int status, const char *body, const char *location,
                   const char *retry_after)
{
    fake_resp_t *s = &fake.script[fake.nscript++];

    s->status = status;
    s->body = body;
    s->location = location;
    s->retry_after = retry_after ? apr_time_from_sec(atoi(retry_after)) : -1;
}

static void config(pt_api_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->api_url = API;
    cfg->token_url = TOKEN_URL;
    cfg->client_id = "acme client";
    cfg->client_secret = SECRET;
    cfg->user_agent = UA;
    cfg->http.perform = fake_perform;
    cfg->log = &fake_log;
    cfg->sleep = fake_sleep;
    cfg->random = fake_random;
    cfg->now = fake_now;
}

static pt_api_t *client(void)
{
    pt_api_config_t cfg;
    pt_api_t *a = NULL;
    const char *err;

    config(&cfg);
    if (fake.use_random) {
        cfg.random = real_random;
    }
    if ((err = pt_api_create(pool, &cfg, &a)) != NULL) {
        printf("# cannot create the client: %s\n", err);
        exit(1);
    }
    return a;
}

static int has_header(const fake_req_t *r, const char *line)
{
    int i;

    for (i = 0; r->headers && i < r->headers->nelts; ++i) {
        if (strcmp(APR_ARRAY_IDX(r->headers, i, const char *), line) == 0) {
            return 1;
        }
    }
    return 0;
}

static int contains(const char *s, const char *needle)
{
    return s && strstr(s, needle) != NULL;
}

static int is_token_request(const fake_req_t *r)
{
    return strcmp(r->url, TOKEN_URL) == 0;
}

static void test_create_validation(void)
{
    pt_api_config_t cfg;
    pt_api_t *a;
    const char *err;

    config(&cfg);
    is_str(pt_api_create(pool, &cfg, &a), NULL, "valid configuration");

    cfg.api_url = "http://acme.example/api/v1";
    err = pt_api_create(pool, &cfg, &a);
    ok(contains(err, "must use https"), "http API URL refused: %s", err);
    cfg.allow_insecure = 1;
    is_str(pt_api_create(pool, &cfg, &a), NULL,
           "http API URL accepted with allow_insecure");
    cfg.api_url = "ftp://acme.example/api";
    ok(pt_api_create(pool, &cfg, &a) != NULL,
       "ftp refused even with allow_insecure");

    config(&cfg);
    cfg.token_url = "http://auth.example/token";
    ok(contains(pt_api_create(pool, &cfg, &a), "must use https"),
       "http token URL refused");
    cfg.token_url = "/tenants/acme/connect/token";
    ok(contains(pt_api_create(pool, &cfg, &a), "not an absolute URL"),
       "relative token URL refused");
    cfg.token_url = NULL;
    ok(pt_api_create(pool, &cfg, &a) != NULL, "missing token URL refused");

    config(&cfg);
    cfg.api_url = API "?x=1";
    ok(pt_api_create(pool, &cfg, &a) != NULL, "API URL with query refused");

    config(&cfg);
    cfg.client_secret = "";
    is_str(pt_api_create(pool, &cfg, &a), "the client secret is not set",
           "empty secret refused");
    cfg.client_secret = NULL;
    is_str(pt_api_create(pool, &cfg, &a), "the client secret is not set",
           "missing secret refused");
    config(&cfg);
    cfg.client_id = "";
    is_str(pt_api_create(pool, &cfg, &a), "the client id is not set",
           "empty client id refused");
    config(&cfg);
    cfg.user_agent = "";
    ok(pt_api_create(pool, &cfg, &a) != NULL, "empty User-Agent refused");
    cfg.user_agent = "UA\r\nX-Evil: 1";
    ok(pt_api_create(pool, &cfg, &a) != NULL, "multi-line User-Agent refused");
    config(&cfg);
    cfg.http.perform = NULL;
    is_str(pt_api_create(pool, &cfg, &a), "no HTTP transport",
           "missing transport refused");
}

static void test_token(void)
{
    pt_api_t *a;
    pt_api_error_t err;
    apr_array_header_t *list;
    const char *token = NULL;
    int i, n_token = 0, all_headers = 1;

    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    for (i = 0; i < 3; ++i) {
        script(200, "{\"value\":[]}", NULL, NULL);
    }
    is_int(pt_api_token(a, pool, &token, &err), APR_SUCCESS, "token fetched");
    is_str(token, TOKEN1, "token value");
    for (i = 0; i < 3; ++i) {
        is_int(pt_api_webhook_list(a, pool, &list, &err), APR_SUCCESS,
               "list %d", i);
    }
    is_int(fake.nreqs, 4, "one token request for three API calls");
    for (i = 0; i < fake.nreqs; ++i) {
        n_token += is_token_request(&fake.reqs[i]);
    }
    is_int(n_token, 1, "exactly one token request");

    is_str(fake.reqs[0].method, "POST", "token request is a POST");
    is_str(fake.reqs[0].body,
           "grant_type=client_credentials&client_id=acme+client"
           "&client_secret=s3cr3t-CLIENT%2f%2b%26%3d"
           "&scope=connector-protimeapi-webhooks.read+"
           "connector-protimeapi-webhooks.write+"
           "connector-protimeapi-access-clockings.read",
           "token request form fields, form-encoded");
    ok(has_header(&fake.reqs[0],
                  "Content-Type: application/x-www-form-urlencoded"),
       "token request content type");
    ok(!has_header(&fake.reqs[0], "Authorization: Bearer " TOKEN1),
       "no bearer on the token request");

    for (i = 0; i < fake.nreqs; ++i) {
        const fake_req_t *r = &fake.reqs[i];

        if (!has_header(r, "User-Agent: " UA)
            || !has_header(r, "Accept: application/json")
            || (!is_token_request(r)
                && !has_header(r, "Authorization: Bearer " TOKEN1))) {
            all_headers = 0;
        }
    }
    ok(all_headers, "User-Agent, Accept and Authorization on every request");
    ok(!has_header(&fake.reqs[1], "Content-Type: application/json"),
       "no Content-Type without a body");

    /* 1 s lifetime: used for 0.9 s (a tenth of it kept as margin). */
    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1), NULL, NULL);
    script(200, "{\"value\":[]}", NULL, NULL);
    script(200, "{\"value\":[]}", NULL, NULL);
    script(200, TOKEN_BODY(TOKEN2, 1), NULL, NULL);
    script(200, "{\"value\":[]}", NULL, NULL);
    pt_api_webhook_list(a, pool, &list, &err);
    pt_api_webhook_list(a, pool, &list, &err);
    is_int(fake.nreqs, 3, "short-lived token reused at once");
    apr_sleep(apr_time_from_msec(950));
    is_int(pt_api_webhook_list(a, pool, &list, &err), APR_SUCCESS,
           "call after expiry");
    is_int(fake.nreqs, 5, "expired token fetched again");
    ok(is_token_request(&fake.reqs[3]), "the fourth request is the token");
    ok(has_header(&fake.reqs[4], "Authorization: Bearer " TOKEN2),
       "new token used");

    /* Token answers that are refused. */
    reset();
    a = client();
    script(200, "{\"access_token\":\"x\",\"token_type\":\"Bearer\"}", NULL,
           NULL);
    script(200, "{\"access_token\":\"x\",\"expires_in\":60,"
           "\"token_type\":\"mac\"}", NULL, NULL);
    script(200, "not json", NULL, NULL);
    script(200, "{\"access_token\":\"a b\",\"expires_in\":60}", NULL, NULL);
    ok(pt_api_token(a, pool, &token, &err) != APR_SUCCESS
       && contains(err.message, "expires_in"), "no expires_in: %s",
       err.message);
    ok(pt_api_token(a, pool, &token, &err) != APR_SUCCESS
       && contains(err.message, "Bearer"), "wrong token type: %s",
       err.message);
    ok(pt_api_token(a, pool, &token, &err) != APR_SUCCESS
       && contains(err.message, "not a JSON object"), "not JSON: %s",
       err.message);
    ok(pt_api_token(a, pool, &token, &err) != APR_SUCCESS
       && contains(err.message, "header value"), "token with a blank: %s",
       err.message);
}

static void test_webhook_create(void)
{
    static const char *const names[] = {
        "key", "webhookKey", "privateKey", "secret"
    };
    pt_api_t *a;
    pt_api_error_t err;
    pt_webhook_t w;
    apr_size_t i;

    for (i = 0; i < sizeof(names) / sizeof(*names); ++i) {
        reset();
        a = client();
        script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
        script(201, apr_psprintf(pool, "{\"id\":\"wh-1\",\"%s\":\"" KEY "\","
                                 "\"validUntil\":"
                                 "\"2025-03-31T12:30:00+02:00\","
                                 "\"status\":\"Enabled\"}", names[i]),
               NULL, NULL);
        is_int(pt_api_webhook_create(a, pool, "https://hook.example/pt", NULL,
                                     &w, &err), APR_SUCCESS,
               "create with %s", names[i]);
        is_str(w.key, KEY, "key from %s", names[i]);
    }
    is_str(w.id, "wh-1", "id from the body");
    is_str(w.status, "Enabled", "status");
    is_int(w.valid_until, apr_time_from_sec(1743417000), /* 10:30Z */
           "validUntil parsed");
    is_str(fake.reqs[1].method, "POST", "create is a POST");
    is_str(fake.reqs[1].url, API "/webhooks", "create URL without references");
    is_str(fake.reqs[1].body,
           "{\"destinationUrl\":\"https://hook.example/pt\","
           "\"collectionName\":\"access-clockings\"}", "create body");
    ok(has_header(&fake.reqs[1], "Content-Type: application/json"),
       "create content type");

    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(201, "{\"key\":\"" KEY "\"}",
           "/connector/protimeapi/api/v1/webhooks/a7d853ea-89eb?x=1", NULL);
    is_int(pt_api_webhook_create(a, pool, "https://hook.example/pt",
                                 "(people,@badge-number)(terminals,"
                                 "@external-code)", &w, &err),
           APR_SUCCESS, "create with references");
    is_str(w.id, "a7d853ea-89eb", "id from Location");
    is_int(w.valid_until, 0, "no validUntil");
    is_str(w.status, NULL, "no status");
    is_str(fake.reqs[1].url, API "/webhooks?externalReferences="
           "%28people%2C%40badge-number%29%28terminals%2C%40external-code%29",
           "externalReferences in the query");

    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(201, "{\"id\":\"wh-2\"}", NULL, NULL);
    script(201, "{\"key\":\"" KEY "\"}", NULL, NULL);
    script(400, "{\"error\":{\"code\":\"InvalidDestination\","
           "\"message\":\"bad URL\"}}", NULL, NULL);
    ok(pt_api_webhook_create(a, pool, "https://hook.example/pt", NULL, &w,
                             &err) != APR_SUCCESS, "missing key: error");
    is_str(w.id, "wh-2", "missing key: id still known");
    is_str(err.message, "POST /webhooks: 201 Created without a webhook key",
           "missing key: message");
    ok(pt_api_webhook_create(a, pool, "https://hook.example/pt", NULL, &w,
                             &err) != APR_SUCCESS, "missing id: error");
    ok(!contains(err.message, KEY), "missing id: key not in the message");
    is_int(err.status, 201, "missing id: status");
    ok(pt_api_webhook_create(a, pool, "https://hook.example/pt", NULL, &w,
                             &err) != APR_SUCCESS, "400: error");
    is_str(err.message, "POST /webhooks: 400 Bad Request (InvalidDestination: "
           "bad URL)", "400: message with Protime's error");
    is_int(fake.nreqs, 4, "400 not retried");
    script(400, "{\"error\":{\"code\":\"Bad\",\"message\":"
           "\"bad\\r\\nURL caf\\u00e9\"}}", NULL, NULL);
    pt_api_webhook_create(a, pool, "https://hook.example/pt", NULL, &w, &err);
    is_str(err.message, "POST /webhooks: 400 Bad Request (Bad: bad??URL "
           "caf?\?)", "Protime's error text made printable");
}

static void test_webhook_list_get_delete(void)
{
    pt_api_t *a;
    pt_api_error_t err;
    pt_webhook_t w, *ws;
    apr_array_header_t *list;

    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(200, "{\"value\":[{\"id\":\"a\",\"status\":\"Enabled\","
           "\"destinationUrl\":\"https://h/1\","
           "\"collectionName\":\"access-clockings\","
           "\"validUntil\":\"2025-03-31T12:30:00+02:00\"}],"
           "\"nextLink\":\"/connector/protimeapi/api/v1/webhooks?page=2\"}",
           NULL, NULL);
    script(200, "{\"value\":[],\"nextLink\":\"https://ACME.myprotime.eu:443"
           "/connector/protimeapi/api/v1/webhooks?page=3\"}", NULL, NULL);
    script(200, "{\"value\":[{\"id\":\"b\",\"status\":\"Disabled\"}]}", NULL,
           NULL);
    is_int(pt_api_webhook_list(a, pool, &list, &err), APR_SUCCESS, "list");
    is_int(list->nelts, 2, "two webhooks over three pages");
    ws = (pt_webhook_t *)list->elts;
    is_str(ws[0].id, "a", "first id");
    is_str(ws[0].destination_url, "https://h/1", "first destination");
    is_str(ws[0].collection, "access-clockings", "first collection");
    ok(ws[0].valid_until > 0, "first validUntil");
    is_str(ws[1].status, "Disabled", "second status");
    is_str(fake.reqs[1].url, API "/webhooks?filter=collection-name%20eq%20"
           "%27access-clockings%27", "list filter");
    is_str(fake.reqs[2].url, "https://acme.myprotime.eu/connector/protimeapi"
           "/api/v1/webhooks?page=2", "relative nextLink on the API host");
    is_str(fake.reqs[3].url, "https://ACME.myprotime.eu:443/connector/"
           "protimeapi/api/v1/webhooks?page=3",
           "absolute nextLink, same host");

    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(200, "{\"value\":[],\"nextLink\":\"https://evil.example/x\"}",
           NULL, NULL);
    script(200, "{\"value\":[],\"nextLink\":\"//evil.example/x\"}", NULL,
           NULL);
    ok(pt_api_webhook_list(a, pool, &list, &err) != APR_SUCCESS
       && contains(err.message, "away from"), "other host refused: %s",
       err.message);
    ok(pt_api_webhook_list(a, pool, &list, &err) != APR_SUCCESS,
       "scheme-relative nextLink refused");
    is_int(fake.nreqs, 3, "nothing sent to the other host");

    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(200, "{\"id\":\"a b\",\"status\":\"Enabled\"}", NULL, NULL);
    script(404, "{\"error\":{\"code\":\"NotFound\",\"message\":\"gone\"}}",
           NULL, NULL);
    is_int(pt_api_webhook_get(a, pool, "a b", &w, &err), APR_SUCCESS, "get");
    is_str(w.status, "Enabled", "get status");
    is_str(fake.reqs[1].url, API "/webhooks/a%20b", "get URL, id escaped");
    is_int(pt_api_webhook_get(a, pool, "x", &w, &err), APR_NOTFOUND,
           "get 404 -> APR_NOTFOUND");
    is_int(err.status, 404, "get 404 status");
    is_int(fake.nreqs, 3, "404 not retried");

    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(204, NULL, NULL, NULL);
    script(404, NULL, NULL, NULL);
    script(200, NULL, NULL, NULL);
    script(403, NULL, NULL, NULL);
    is_int(pt_api_webhook_delete(a, pool, "a", &err), APR_SUCCESS,
           "delete 204");
    is_str(fake.reqs[1].method, "DELETE", "delete method");
    is_str(fake.reqs[1].url, API "/webhooks/a", "delete URL");
    is_int(pt_api_webhook_delete(a, pool, "a", &err), APR_SUCCESS,
           "delete 404 succeeds");
    is_int(pt_api_webhook_delete(a, pool, "a", &err), APR_SUCCESS,
           "delete 200");
    ok(pt_api_webhook_delete(a, pool, "a", &err) != APR_SUCCESS,
       "delete 403 fails");
    is_str(err.message, "DELETE /webhooks/a: 403 Forbidden", "403 message");
}

static void test_clockings(void)
{
    pt_api_t *a;
    pt_api_error_t err;
    const char *items = NULL, *next = NULL;

    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(200, "{\"value\": [ ], \"nextLink\":"
           "\"/connector/protimeapi/api/v1/access-clockings?c=2\"}", NULL,
           NULL);
    script(200, "{\"value\": [ {\"id\": 1, \"a\" : [1, 2]} ]}", NULL, NULL);
    script(200, "{\"items\":[]}", NULL, NULL);
    is_int(pt_api_clockings_page(a, pool, "2025-01-01", "2025-01-31", NULL, NULL,
                                 &items, &next, &err), APR_SUCCESS,
           "first page");
    is_str(fake.reqs[1].url, API "/access-clockings?filter=date%20ge%20"
           "%272025-01-01%27%20and%20date%20le%20%272025-01-31%27",
           "first page filter");
    is_str(items, "[]", "empty value");
    is_str(next, "/connector/protimeapi/api/v1/access-clockings?c=2",
           "empty value with nextLink is not the end");
    is_int(pt_api_clockings_page(a, pool, NULL, NULL, NULL, next, &items, &next,
                                 &err), APR_SUCCESS, "second page");
    is_str(fake.reqs[2].url, "https://acme.myprotime.eu/connector/protimeapi"
           "/api/v1/access-clockings?c=2", "relative nextLink followed");
    is_str(items, "[{\"id\":1,\"a\":[1,2]}]", "value as compact JSON");
    is_str(next, NULL, "last page");
    ok(pt_api_clockings_page(a, pool, "2025-01-01", "2025-01-31", NULL, NULL,
                             &items, &next, &err) != APR_SUCCESS
       && contains(err.message, "value array"), "missing value: %s",
       err.message);

    is_int(pt_api_clockings_page(a, pool, "2025-1-01", "2025-01-31", NULL, NULL,
                                 &items, &next, &err), APR_EINVAL,
           "bad from date");
    is_int(pt_api_clockings_page(a, pool, "2025-01-01", "2025-02-30", NULL, NULL,
                                 &items, &next, &err), APR_EINVAL,
           "bad to date");
    is_int(pt_api_clockings_page(a, pool, "2025-01-01", NULL, NULL, NULL,
                                 &items, &next, &err), APR_EINVAL,
           "missing to date");
    is_int(fake.nreqs, 4, "bad dates send nothing");

    /* The webhook's external references, asked for on the first page; a
     * nextLink carries its own query on. */
    script(200, "{\"value\": []}", NULL, NULL);
    is_int(pt_api_clockings_page(a, pool, "2025-01-01", "2025-01-31",
                                 "(people,@badge-number)", NULL, &items,
                                 &next, &err), APR_SUCCESS,
           "first page with external references");
    is_str(fake.reqs[4].url, API "/access-clockings?filter=date%20ge%20"
           "%272025-01-01%27%20and%20date%20le%20%272025-01-31%27"
           "&externalReferences=%28people%2C%40badge-number%29",
           "external references in the query");
    script(200, "{\"value\": []}", NULL, NULL);
    is_int(pt_api_clockings_page(a, pool, NULL, NULL, "(people,@badge-number)",
                                 "/connector/protimeapi/api/v1/access-"
                                 "clockings?c=3", &items, &next, &err),
           APR_SUCCESS, "next page with external references");
    is_str(fake.reqs[5].url, "https://acme.myprotime.eu/connector/protimeapi"
           "/api/v1/access-clockings?c=3", "nextLink followed as given");
}

/* Other collections: the scope, the list URLs, the webhooks of one
 * collection, deltas and their expiry. */
static void test_collections(void)
{
    pt_api_config_t cfg;
    pt_api_t *a;
    pt_api_error_t err;
    pt_api_list_t l;
    pt_api_page_t page;
    pt_webhook_t w;
    apr_array_header_t *names = apr_array_make(pool, 2, sizeof(char *));
    apr_array_header_t *list;

    APR_ARRAY_PUSH(names, const char *) = "access-clockings";
    APR_ARRAY_PUSH(names, const char *) = "people";
    is_str(pt_api_scope(pool, names), "connector-protimeapi-webhooks.read "
           "connector-protimeapi-webhooks.write "
           "connector-protimeapi-access-clockings.read "
           "connector-protimeapi-people.read",
           "scope: the webhooks and every collection's read");

    memset(&l, 0, sizeof(l));
    l.collection = "people";
    is_str(pt_api_list_url(pool, API, &l), API "/people",
           "list URL of another collection: no filter");
    l.delta = 1;
    is_str(pt_api_list_url(pool, API, &l), API "/people?delta",
           "starting its delta");
    l.external_references = "(people,@badge-number)";
    is_str(pt_api_list_url(pool, API, &l), API "/people?externalReferences="
           "%28people%2C%40badge-number%29&delta", "with external references");
    memset(&l, 0, sizeof(l));
    l.collection = "access-clockings";
    l.from = "2025-01-01";
    l.delta = 1;
    is_str(pt_api_list_url(pool, API, &l), API "/access-clockings?filter="
           "date%20ge%20%272025-01-01%27&delta",
           "access clockings' delta: from a date, open-ended");
    l.from = NULL;
    is_str(pt_api_list_url(pool, API, &l), NULL,
           "access clockings need a date");
    l.from = "2025-02-30";
    is_str(pt_api_list_url(pool, API, &l), NULL, "a real one");

    reset();
    config(&cfg);
    cfg.collection = "people";
    cfg.scope = pt_api_scope(pool, names);
    if (pt_api_create(pool, &cfg, &a) != NULL) {
        printf("Bail out! client\n");
        exit(1);
    }
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(201, "{\"id\":\"w1\",\"key\":\"" KEY "\","
           "\"validUntil\":\"2030-01-01T00:00:00Z\"}", NULL, NULL);
    script(200, "{\"value\":[]}", NULL, NULL);
    is_int(pt_api_webhook_create(a, pool, "https://h.example/protime/people",
                                 NULL, &w, &err), APR_SUCCESS,
           "create a webhook of people");
    ok(contains(fake.reqs[0].body, "connector-protimeapi-people.read"),
       "the token asks for the configured scope");
    is_str(fake.reqs[1].body, "{\"destinationUrl\":\"https://h.example/"
           "protime/people\",\"collectionName\":\"people\"}",
           "collectionName is the client's collection");
    is_int(pt_api_webhook_list(a, pool, &list, &err), APR_SUCCESS, "list");
    is_str(fake.reqs[2].url, API "/webhooks?filter=collection-name%20eq%20"
           "%27people%27", "listed by the client's collection");

    /* A list with delta: pages, then the deltaLink on the last. */
    script(200, "{\"value\":[{\"id\":1}],\"nextLink\":"
           "\"/connector/protimeapi/api/v1/people?delta&c=2\"}", NULL, NULL);
    script(200, "{\"value\":[],\"deltaLink\":\"/connector/protimeapi/"
           "api/v1/delta/people?deltaToken=T1\"}", NULL, NULL);
    memset(&l, 0, sizeof(l));
    l.delta = 1;
    is_int(pt_api_list_page(a, pool, &l, NULL, &page, &err), APR_SUCCESS,
           "first page of the delta's start");
    is_str(fake.reqs[3].url, API "/people?delta", "the client's collection");
    is_str(page.delta_link, NULL, "no deltaLink before the last page");
    is_int(pt_api_list_page(a, pool, &l, page.next, &page, &err),
           APR_SUCCESS, "its last page");
    is_str(page.delta_link, "/connector/protimeapi/api/v1/delta/people?"
           "deltaToken=T1", "carries the deltaLink");

    script(200, "{\"value\":[{\"changeType\":\"Delete\",\"data\":"
           "{\"id\":1,\"changeVersion\":\"2\"}}],\"deltaLink\":"
           "\"/connector/protimeapi/api/v1/delta/people?deltaToken=T2\"}",
           NULL, NULL);
    is_int(pt_api_delta_page(a, pool, page.delta_link, &page, &err),
           APR_SUCCESS, "a delta");
    is_str(fake.reqs[5].url, "https://acme.myprotime.eu/connector/protimeapi"
           "/api/v1/delta/people?deltaToken=T1", "at the deltaLink");
    is_str(page.items, "[{\"changeType\":\"Delete\",\"data\":{\"id\":1,"
           "\"changeVersion\":\"2\"}}]", "its changes");
    is_str(page.delta_link, "/connector/protimeapi/api/v1/delta/people?"
           "deltaToken=T2", "and the next deltaLink");
    script(200, "{\"value\":[]}", NULL, NULL);
    ok(pt_api_delta_page(a, pool, page.delta_link, &page, &err)
       != APR_SUCCESS && contains(err.message, "no deltaLink"),
       "a delta without the next deltaLink fails: %s", err.message);
    is_int(pt_api_delta_page(a, pool, "https://elsewhere.example/delta/"
                             "people?deltaToken=T", &page, &err), APR_EINVAL,
           "a deltaLink off the API's host is not followed");
    is_int(pt_api_delta_expired(&err), 0, "which is no expiry");

    script(410, "{\"error\":{\"code\":\"DeltaExpired\",\"message\":"
           "\"gone\"}}", NULL, NULL);
    ok(pt_api_delta_page(a, pool, "/connector/protimeapi/api/v1/delta/"
                         "people?deltaToken=T2", &page, &err) != APR_SUCCESS,
       "410 fails");
    is_str(err.code, "DeltaExpired", "with Protime's error code");
    ok(pt_api_delta_expired(&err), "410: expired");
    memset(&err, 0, sizeof(err));
    err.status = 400;
    err.code = "InvalidDeltaToken";
    err.message = "GET /delta/people: 400 Bad Request (The delta token has "
                  "expired)";
    ok(pt_api_delta_expired(&err), "a 400 that says so: expired");
    err.message = "GET /delta/people: 400 Bad Request";
    ok(!pt_api_delta_expired(&err), "a 400 that does not: not expired");
    err.code = "TokenExpired";
    ok(pt_api_delta_expired(&err), "a 400 whose code says so: expired");
    err.status = 401;
    ok(!pt_api_delta_expired(&err), "401 is the access token's");
    err.status = 503;
    ok(!pt_api_delta_expired(&err), "5xx: not expired");
}

static void test_retries(void)
{
    pt_api_t *a;
    pt_api_error_t err;
    pt_webhook_t w;
    apr_array_header_t *list;
    int i;

    /* 503 with Retry-After 2, then success. */
    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(503, NULL, NULL, "2");
    script(200, "{\"value\":[]}", NULL, NULL);
    is_int(pt_api_webhook_list(a, pool, &list, &err), APR_SUCCESS,
           "503 then 200");
    is_int(fake.nsleeps, 1, "one sleep");
    is_int(fake.sleeps[0], apr_time_from_sec(2), "slept the Retry-After");

    /* A 429 without a wait to honour (none, 0 or a date gone by, all
     * alike in pt_curl): the backoff. */
    reset();
    a = client();
    fake.rand_value = 0;
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(429, NULL, NULL, NULL);
    script(200, "{\"value\":[]}", NULL, NULL);
    is_int(pt_api_webhook_list(a, pool, &list, &err), APR_SUCCESS,
           "429 without Retry-After then 200");
    is_int(fake.nreqs, 3, "retried");
    is_int(fake.nsleeps, 1, "after one wait");
    is_int(fake.sleeps[0], apr_time_from_msec(500), "of the backoff");

    /* A long Retry-After is left to the caller. */
    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(429, "{\"error\":{\"code\":\"TooMany\",\"message\":\"slow\"}}",
           NULL, "3600");
    ok(pt_api_webhook_list(a, pool, &list, &err) != APR_SUCCESS,
       "429 with a long Retry-After fails");
    is_int(fake.nsleeps, 0, "no sleep");
    is_int(err.retry_after, apr_time_from_sec(3600), "retry_after 3600 s");
    is_int(err.status, 429, "status 429");
    ok(contains(err.message, "429 Too Many Requests (TooMany: slow)"),
       "message: %s", err.message);

    /* 500 four times: backoff 1, 2, 4 s, each drawn from its upper half. */
    reset();
    fake.use_random = 1;
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    for (i = 0; i < 4; ++i) {
        script(500, NULL, NULL, NULL);
    }
    ok(pt_api_webhook_list(a, pool, &list, &err) != APR_SUCCESS,
       "500 x4 fails");
    is_int(fake.nreqs, 5, "four attempts");
    is_int(fake.nsleeps, 3, "three sleeps");
    for (i = 0; i < 3; ++i) {
        apr_interval_time_t full = apr_time_from_sec(1) << i;

        ok(fake.sleeps[i] >= full / 2 && fake.sleeps[i] <= full,
           "backoff %d in [%g, %g] s: %g", i + 1, full / 2e6, full / 1e6,
           fake.sleeps[i] / 1e6);
    }
    is_str(err.message, "GET /webhooks: 500 Internal Server Error after 4 "
           "tries", "exhausted message");
    is_int(err.status, 500, "exhausted status");

    /* 503 without Retry-After and transport failures use the backoff;
     * the injected random number picks the shortest wait. */
    reset();
    a = client();
    fake.rand_value = 0;
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(503, "{\"error\":{\"code\":\"Maintenance\",\"message\":\"down\"}}",
           NULL, NULL);
    script(0, "Connection refused", NULL, NULL);
    script(0, "Operation timed out", NULL, NULL);
    script(0, "Connection reset", NULL, NULL);
    ok(pt_api_webhook_list(a, pool, &list, &err) != APR_SUCCESS,
       "transport failures fail");
    is_int(fake.sleeps[0], apr_time_from_msec(500), "backoff 0.5 s");
    is_int(fake.sleeps[1], apr_time_from_sec(1), "backoff 1 s");
    is_int(fake.sleeps[2], apr_time_from_sec(2), "backoff 2 s");
    is_str(err.message, "GET /webhooks: Connection reset (earlier: 503 "
           "Service Unavailable (Maintenance: down)) after 4 tries",
           "transport message, naming what the server answered before");
    is_int(err.status, 0, "no status");

    /* The creation of a webhook is sent again only when Protime surely
     * did not create it: after 503 (and 429, 401), not after no answer or
     * a 500, which may come after it did; a second webhook would be one
     * whose key the database does not know. */
    reset();
    a = client();
    fake.rand_value = 0;
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(503, NULL, NULL, NULL);
    script(0, "Operation timed out", NULL, NULL);
    script(201, "{\"id\":\"wh-2\",\"key\":\"k\"}", NULL, NULL);
    ok(pt_api_webhook_create(a, pool, "https://h/", NULL, &w, &err)
       != APR_SUCCESS, "create: 503, then no answer: fails");
    is_int(fake.nreqs, 3, "sent again after the 503, not after the timeout");
    is_str(err.message, "POST /webhooks: Operation timed out (earlier: 503 "
           "Service Unavailable); not retried: it may have been carried out",
           "and says why");
    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(500, NULL, NULL, NULL);
    script(201, "{\"id\":\"wh-2\",\"key\":\"k\"}", NULL, NULL);
    ok(pt_api_webhook_create(a, pool, "https://h/", NULL, &w, &err)
       != APR_SUCCESS && fake.nreqs == 2, "create: a 500 is not sent again");
    is_int(err.status, 500, "its status kept");
    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(429, NULL, NULL, "1");
    script(201, "{\"id\":\"wh-2\",\"key\":\"k\"}", NULL, NULL);
    ok(pt_api_webhook_create(a, pool, "https://h/", NULL, &w, &err)
       == APR_SUCCESS && fake.nreqs == 3, "create: a 429 is sent again");

    /* Only transport failures: nothing answered to name. */
    reset();
    a = client();
    fake.rand_value = 0;
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(0, "Connection refused", NULL, NULL);
    script(0, "Connection refused", NULL, NULL);
    script(0, "Connection refused", NULL, NULL);
    script(0, "Operation timed out", NULL, NULL);
    ok(pt_api_webhook_list(a, pool, &list, &err) != APR_SUCCESS,
       "transport failures fail");
    is_str(err.message, "GET /webhooks: Operation timed out after 4 tries",
           "transport message alone");

    /* The token endpoint answers 503 three times, then the last try times
     * out (the sanitized run of t/subscription/apidown.t): the message
     * still names the 503. */
    reset();
    a = client();
    script(503, NULL, NULL, "1");
    script(503, NULL, NULL, "1");
    script(503, NULL, NULL, "1");
    script(0, "Operation timed out after 5000 milliseconds with 0 bytes "
           "received", NULL, NULL);
    ok(pt_api_webhook_list(a, pool, &list, &err) != APR_SUCCESS,
       "token: 503s then a timeout fail");
    ok(contains(err.message, "503 Service Unavailable")
       && contains(err.message, "timed out"), "both named: %s", err.message);

    /* 401 on an API call: a new token, one retry. */
    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(401, NULL, NULL, NULL);
    script(200, TOKEN_BODY(TOKEN2, 1800), NULL, NULL);
    script(200, "{\"value\":[]}", NULL, NULL);
    is_int(pt_api_webhook_list(a, pool, &list, &err), APR_SUCCESS,
           "401 then new token then 200");
    is_int(fake.nreqs, 4, "token, call, token, call");
    ok(is_token_request(&fake.reqs[2]), "token fetched again");
    ok(has_header(&fake.reqs[3], "Authorization: Bearer " TOKEN2),
       "retried with the new token");
    is_int(fake.nsleeps, 0, "no wait before the retry");

    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(401, NULL, NULL, NULL);
    script(200, TOKEN_BODY(TOKEN2, 1800), NULL, NULL);
    script(401, NULL, NULL, NULL);
    ok(pt_api_webhook_list(a, pool, &list, &err) != APR_SUCCESS,
       "401 twice fails");
    is_int(fake.nreqs, 4, "401 retried only once");
    is_int(err.status, 401, "401 status");

    /* 400 is not retried. */
    reset();
    a = client();
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(400, "{\"validationErrors\":[]}", NULL, NULL);
    ok(pt_api_webhook_list(a, pool, &list, &err) != APR_SUCCESS,
       "400 fails");
    is_int(fake.nreqs, 2, "400 not retried");
    is_str(err.message, "GET /webhooks: 400 Bad Request", "400 message");

    /* The server is stopping. */
    reset();
    a = client();
    fake.sleep_result = 1;
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(503, NULL, NULL, "1");
    script(200, "{\"value\":[]}", NULL, NULL);
    ok(pt_api_webhook_list(a, pool, &list, &err) != APR_SUCCESS,
       "sleep returning non-zero gives up");
    is_int(fake.nreqs, 2, "no retry after the sleep said stop");
    ok(contains(err.message, "stopping"), "stop message: %s", err.message);

    /* Retries on the token endpoint too; its body never shown. */
    reset();
    a = client();
    script(503, NULL, NULL, "1");
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(200, "{\"value\":[]}", NULL, NULL);
    is_int(pt_api_webhook_list(a, pool, &list, &err), APR_SUCCESS,
           "token 503 retried");
    is_int(fake.nreqs, 3, "three requests");
}

/* Every message and log line of a session whose servers echo secrets. */
/* pt_api_set_deadline: no attempt is sent, and no retry waited for, that
 * could end after the deadline; lifted, a call has its four tries again. */
static void test_deadline(void)
{
    pt_api_config_t cfg;
    pt_api_error_t err;
    pt_api_t *a = NULL;
    apr_time_t deadline;
    apr_status_t rv;
    int i;

    reset();
    config(&cfg);
    cfg.attempt_timeout = apr_time_from_sec(5);
    if (pt_api_create(pool, &cfg, &a) != NULL) {
        printf("# cannot create the client\n");
        exit(1);
    }

    fake.clock = apr_time_from_sec(1000);
    pt_api_set_deadline(a, fake.clock + apr_time_from_sec(4), "the lease");
    memset(&err, 0, sizeof(err));
    rv = pt_api_webhook_delete(a, pool, "wh-1", &err);
    is_int(rv, APR_TIMEUP, "deadline closer than one attempt: the call fails");
    is_int(fake.nreqs, 0, "nothing is sent, no token request either");
    ok(contains(err.message, "not sent: it could end after the lease"),
       "the message names the deadline");

    /* Attempts take 3 s, the first wait 0.5 s, the second 1 s: with 12 s
     * left, the token and one retry fit, another retry would not. */
    fake.clock = apr_time_from_sec(2000);
    fake.attempt_takes = apr_time_from_sec(3);
    deadline = fake.clock + apr_time_from_sec(12);
    pt_api_set_deadline(a, deadline, "the lease");
    script(200, TOKEN_BODY("tok-deadline", 3600), NULL, NULL);
    for (i = 0; i < 4; ++i) {
        script(503, NULL, NULL, NULL);
    }
    memset(&err, 0, sizeof(err));
    rv = pt_api_webhook_delete(a, pool, "wh-1", &err);
    is_int(rv, APR_TIMEUP, "a retry that could end after it is not made");
    is_int(fake.nreqs, 3, "the token, then two attempts");
    is_int(fake.nsleeps, 1, "one wait");
    ok(fake.clock <= deadline, "every attempt ended by the deadline");
    is_int(err.status, 503, "the last status is kept");
    ok(contains(err.message, "503")
       && contains(err.message, "not retried: another try could end after "
                                "the lease"), "and the message says why");

    pt_api_set_deadline(a, 0, NULL);
    fake.nreqs = 0;
    memset(&err, 0, sizeof(err));
    rv = pt_api_webhook_delete(a, pool, "wh-1", &err);
    is_int(rv, APR_EGENERAL, "lifted: the call fails only after its tries");
    is_int(fake.nreqs, 4, "all four tries are made");
    ok(contains(err.message, "after 4 tries"), "and counted");
}

static void test_secrets(void)
{
    pt_api_t *a;
    pt_api_error_t err;
    pt_webhook_t w;
    apr_array_header_t *list, *messages;
    const char *items, *next, *token;
    int i, clean = 1;

    reset();
    a = client();
    messages = apr_array_make(pool, 8, sizeof(const char *));
#define COLLECT() (APR_ARRAY_PUSH(messages, const char *) = err.message)
    script(400, "{\"error\":\"invalid_client\",\"error_description\":"
           "\"bad secret " SECRET "\",\"access_token\":\"" TOKEN1 "\"}",
           NULL, NULL);
    pt_api_token(a, pool, &token, &err);
    COLLECT();
    is_str(err.message, "cannot get an access token: POST /tenants/acme/"
           "connect/token: 400 Bad Request (invalid_client)",
           "token error shows the OAuth code only");
    for (i = 0; i < 4; ++i) {
        script(500, "{\"error\":{\"code\":\"" TOKEN1 "\",\"message\":\""
               SECRET "\"}}", NULL, NULL);
    }
    pt_api_webhook_list(a, pool, &list, &err);
    COLLECT();
    script(0, "failed for client_secret=" SECRET, NULL, NULL);
    script(0, "failed: " SECRET, NULL, NULL);
    script(200, TOKEN_BODY(TOKEN1, 1800), NULL, NULL);
    script(200, "{\"error\":{\"code\":\"x\"}}", NULL, NULL);
    pt_api_clockings_page(a, pool, "2025-01-01", "2025-01-02", NULL, NULL, &items,
                          &next, &err);
    COLLECT();
    script(201, "{\"key\":\"" KEY "\"}", NULL, NULL);
    pt_api_webhook_create(a, pool, "https://h/", NULL, &w, &err);
    COLLECT();
    script(201, "{\"key\":\"" KEY "\",\"id\":\"x\"}", NULL, NULL);
    pt_api_webhook_create(a, pool, "https://h/", NULL, &w, &err);
    is_str(w.key, KEY, "the key is handed over");
    script(401, "{\"error\":{\"code\":\"Unauthorized\",\"message\":\"token "
           TOKEN1 " expired\"}}", NULL, NULL);
    script(200, TOKEN_BODY(TOKEN2, 1800), NULL, NULL);
    script(401, "{\"error\":{\"code\":\"Unauthorized\",\"message\":\"token "
           TOKEN2 " refused\"}}", NULL, NULL);
    pt_api_webhook_get(a, pool, "x", &w, &err);
    COLLECT();
    is_str(err.message, "GET /webhooks/x: 401 Unauthorized (Unauthorized: "
           "token [redacted] refused)", "token in an error text redacted");
    script(400, "{\"error\":{\"code\":\"Bad\",\"message\":\"" SECRET " "
           TOKEN2 "\"}}", NULL, NULL);
    pt_api_webhook_delete(a, pool, "x", &err);
    COLLECT();
    /* Found by fuzz_api: the path of a nextLink, which the server writes,
     * went into messages as it was, secret or token included. */
    script(404, "", NULL, NULL);
    pt_api_clockings_page(a, pool, NULL, NULL, NULL,
                          "/connector/protimeapi/api/v1/" SECRET "/" TOKEN2
                          "/access-clockings?page=2", &items, &next, &err);
    COLLECT();
    ok(contains(err.message, "GET /[redacted]/[redacted]/access-clockings: "
                "404"), "a nextLink's path redacted: %s", err.message);
#undef COLLECT

    for (i = 0; i < messages->nelts; ++i) {
        const char *m = APR_ARRAY_IDX(messages, i, const char *);

        printf("# message: %s\n", m ? m : "(null)");
        if (!m || contains(m, SECRET) || contains(m, TOKEN1)
            || contains(m, TOKEN2) || contains(m, KEY)) {
            clean = 0;
        }
    }
    ok(clean, "no message holds the secret, a token or the key");
    clean = fake.logs->nelts > 10;
    for (i = 0; i < fake.logs->nelts; ++i) {
        const char *m = APR_ARRAY_IDX(fake.logs, i, const char *);

        if (contains(m, SECRET) || contains(m, TOKEN1) || contains(m, TOKEN2)
            || contains(m, KEY)) {
            printf("# log: %s\n", m);
            clean = 0;
        }
    }
    ok(clean, "no log line holds the secret, a token or the key (%d lines)",
       fake.logs->nelts);
    ok(contains(APR_ARRAY_IDX(fake.logs, 0, const char *),
                "POST /tenants/acme/connect/token: 400 in ")
       && contains(APR_ARRAY_IDX(fake.logs, 0, const char *), " ms"),
       "log line: method, path, status, duration");
    ok(!strncmp(APR_ARRAY_IDX(fake.logs, 0, const char *), "PT00802: ", 9)
       && fake.logs_not_debug == 0, "with its id, at debug");
}

int main(int argc, const char *const *argv)
{
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);
    srandom((unsigned)apr_time_now());

    test_create_validation();
    test_token();
    test_webhook_create();
    test_webhook_list_get_delete();
    test_clockings();
    test_collections();
    test_retries();
    test_deadline();
    test_secrets();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
