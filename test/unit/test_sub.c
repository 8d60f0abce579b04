/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* test_sub: the subscription lifecycle (pt_sub_step) against a fake Protime
 * (a pt_http_t that answers like the API) and a real SQLite database
 * through apr_dbd. Time is the test's: every step is given its "now", and
 * the fake's validUntil values follow the same clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "pt_sub.h"
#include "tap.h"

static apr_pool_t *pool;
static apr_time_t now;
/* The time the steps of the two servers of section 10 see (test_clock),
 * and their client's: requests and waits may move it. */
static apr_time_t clock_now;

#define SEC(n) apr_time_from_sec(n)
#define DAY SEC(86400)

/* ---- the fake Protime --------------------------------------------------- */

typedef struct {
    char id[32];
    char key[48];
    char status[16];
    apr_time_t valid_until;
    int deleted;
    char destination[128];
} fake_hook_t;

static struct {
    fake_hook_t hooks[32];
    int nhooks;
    int created;
    int tokens;
    apr_interval_time_t lifetime;
    int create_status;          /* answer POST /webhooks with this, 0: 201 */
    apr_interval_time_t create_retry_after; /* 0: none */
    int list_status;            /* answer GET /access-clockings with this */
    int nitems;                 /* clockings 1..nitems */
    int generation;             /* bumps every changeVersion */
    int page_size;
    char windows[16][24];       /* "from..to" of each first page */
    int nwindows;
    int pages;
    int repeated_pages;         /* the same page of a window asked twice */
    int loop_page;              /* > 0: its nextLink leads to itself */
    int last_tomorrow;          /* the last clocking is dated tomorrow */
    char seen[64][16];          /* "from#page" of the last 64 pages */
    /* The next GET of one webhook takes this long, and owner (if set)
     * takes the lease meanwhile. */
    apr_interval_time_t slow_get;
    const char *slow_get_owner;
    /* Each POST /webhooks takes this long (clock_now); counted, and when
     * the last one ended. */
    apr_interval_time_t create_takes;
    int create_calls;
    apr_time_t create_ended;
    /* The next POST /webhooks creates the webhook, but its answer never
     * comes (a timeout). */
    int create_lost;
    /* People (section 12): how many, the lists that started a delta, the
     * delta calls, what the next one answers, and whether it is gone. */
    int npeople;
    int people_lists, delta_starts, delta_calls, delta_seq;
    const char *delta_changes;
    int delta_gone;
    char last_token[16];
} fake;

static void fake_reset(void)
{
    memset(&fake, 0, sizeof(fake));
    fake.lifetime = 30 * DAY;
    fake.nitems = 25;
    fake.page_size = 10;
}

static long days_of(apr_time_t t)
{
    return (long)(apr_time_sec(t) / 86400);
}

static const char *date_of(apr_pool_t *p, long days)
{
    apr_time_exp_t tm;

    apr_time_exp_gmt(&tm, apr_time_from_sec((apr_time_t)days * 86400));
    return apr_psprintf(p, "%04d-%02d-%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday);
}

static const char *iso_of(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t tm;

    apr_time_exp_gmt(&tm, t);
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d+00:00",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Clocking i is dated (500 - i * 500 / nitems) days before now: the items
 * span two yearly windows from 1 January of last year (in 2026, 17 items in
 * 2025, 8 in 2026). */
static const char *item_date(apr_pool_t *p, int i)
{
    /* The last one's local date may be tomorrow's in UTC. */
    if (i == fake.nitems && fake.last_tomorrow)
        return date_of(p, days_of(now) + 1);
    return date_of(p, days_of(now) - 500 + (long)i * 500 / fake.nitems);
}

static fake_hook_t *fake_find(const char *id)
{
    int i;

    for (i = 0; i < fake.nhooks; i++) {
        if (!strcmp(fake.hooks[i].id, id))
            return &fake.hooks[i];
    }
    return NULL;
}

static int fake_live(void)
{
    int i, n = 0;

    for (i = 0; i < fake.nhooks; i++)
        n += !fake.hooks[i].deleted;
    return n;
}

static const char *fake_hook_json(apr_pool_t *p, const fake_hook_t *h)
{
    return apr_psprintf(p, "{\"id\":\"%s\",\"validUntil\":\"%s\","
                        "\"status\":\"%s\",\"destinationUrl\":\"%s\","
                        "\"collectionName\":\"access-clockings\"}", h->id,
                        iso_of(p, h->valid_until),
                        h->valid_until <= now ? "Disabled" : h->status,
                        h->destination);
}

static void answer(pt_http_response_t *resp, int status, const char *body)
{
    resp->status = status;
    resp->body = body ? body : "";
    resp->body_len = strlen(resp->body);
}

static void fake_create(apr_pool_t *p, const pt_http_request_t *req,
                        pt_http_response_t *resp)
{
    fake_hook_t *h;
    const char *dest = strstr(req->body, "\"destinationUrl\"");
    char buf[128] = "";

    fake.create_calls++;
    clock_now += fake.create_takes;
    fake.create_ended = clock_now;
    if (fake.create_status) {
        resp->retry_after = fake.create_retry_after
                            ? fake.create_retry_after : -1;
        answer(resp, fake.create_status,
               "{\"error\":{\"code\":\"Unavailable\",\"message\":\"down\"}}");
        return;
    }
    if (dest)
        sscanf(dest, "\"destinationUrl\":\"%127[^\"]", buf);
    h = &fake.hooks[fake.nhooks++];
    fake.created++;
    apr_snprintf(h->id, sizeof(h->id), "wh-%d", fake.nhooks);
    apr_snprintf(h->key, sizeof(h->key), "key-%d-secret", fake.nhooks);
    apr_cpystrn(h->status, "Enabled", sizeof(h->status));
    apr_cpystrn(h->destination, buf, sizeof(h->destination));
    h->valid_until = now + fake.lifetime;
    if (fake.create_lost) {
        fake.create_lost = 0;
        resp->error = "Operation timed out";
        return;
    }
    resp->location = apr_pstrcat(p, "/api/v1/webhooks/", h->id, NULL);
    answer(resp, 201, apr_psprintf(p, "{\"key\":\"%s\",\"validUntil\":\"%s\","
                                   "\"status\":\"Enabled\"}", h->key,
                                   iso_of(p, h->valid_until)));
}

static void fake_clockings(apr_pool_t *p, const char *query,
                           pt_http_response_t *resp)
{
    char from[11] = "", to[11] = "";
    const char *f = strstr(query, "date%20ge%20%27");
    const char *ct = strstr(query, "continuationToken=");
    int page = ct ? atoi(ct + 18) : 0, i, n = 0, shown = 0, more = 0;
    const char *items = "";

    if (fake.list_status) {
        answer(resp, fake.list_status, "{}");
        return;
    }
    if (!f || sscanf(f, "date%%20ge%%20%%27%10[0-9-]%%27%%20and%%20date%%20"
                     "le%%20%%27%10[0-9-]", from, to) != 2) {
        answer(resp, 400, "{\"error\":{\"code\":\"InvalidFilter\"}}");
        return;
    }
    for (i = 0; i < fake.pages && i < 64; i++) {
        if (!strcmp(fake.seen[i], apr_psprintf(p, "%s#%d", from, page)))
            fake.repeated_pages++;
    }
    if (fake.pages < 64)
        apr_snprintf(fake.seen[fake.pages], 16, "%s#%d", from, page);
    if (page == 0 && fake.nwindows < 16)
        apr_snprintf(fake.windows[fake.nwindows++], 24, "%s..%s", from, to);
    fake.pages++;
    for (i = 1; i <= fake.nitems; i++) {
        const char *d = item_date(p, i);

        if (strcmp(d, from) < 0 || strcmp(d, to) > 0)
            continue;
        n++;
        /* Page 0 is empty (not the end), then page_size items a page. */
        if (page == 0 || n <= (page - 1) * fake.page_size)
            continue;
        if (n > page * fake.page_size) {
            more = 1;
            continue;
        }
        items = apr_psprintf(p, "%s%s{\"changeVersion\":\"%020d\",\"id\":%d,"
                             "\"person\":{\"id\":100},\"date\":\"%s\","
                             "\"timeOfDayInMinutes\":60,\"terminal\":{\"id\":5},"
                             "\"status\":\"AccessOk\"}", items,
                             shown++ ? "," : "",
                             fake.generation * 100000 + i, i, d);
    }
    if (page == 0 && n > 0)
        more = 1;
    if (fake.loop_page && page == fake.loop_page)
        page--;                 /* its nextLink leads to itself */
    answer(resp, 200, apr_psprintf(p, "{\"value\":[%s]%s}", items,
                                   more ? apr_psprintf(p, ",\"nextLink\":"
                                   "\"/api/v1/access-clockings?filter=date%%20"
                                   "ge%%20%%27%s%%27%%20and%%20date%%20le%%20"
                                   "%%27%s%%27&continuationToken=%d\"", from,
                                   to, page + 1) : ""));
}

/* GET /api/v1/people[?delta][&c=page]: ten a page, and with delta the
 * last page carries a deltaLink. */
static void fake_people(apr_pool_t *p, const char *query,
                        pt_http_response_t *resp)
{
    const char *c = strstr(query, "c=");
    int page = c ? atoi(c + 2) : 0, delta = strstr(query, "delta") != NULL;
    int i, last = (page + 1) * 10 >= fake.npeople;
    const char *items = "";

    if (page == 0)
        fake.people_lists++;
    if (page == 0 && delta)
        fake.delta_starts++;
    for (i = page * 10 + 1; i <= fake.npeople && i <= (page + 1) * 10; i++)
        items = apr_psprintf(p, "%s%s{\"id\":%d,\"changeVersion\":"
                             "\"%020d\",\"firstName\":\"P%d\"}", items,
                             i > page * 10 + 1 ? "," : "", i,
                             fake.generation * 100000 + i, i);
    answer(resp, 200, apr_psprintf(p, "{\"value\":[%s]%s}", items,
           !last ? apr_psprintf(p, ",\"nextLink\":\"/api/v1/people?%s"
                                "c=%d\"", delta ? "delta&" : "", page + 1)
           : delta ? apr_psprintf(p, ",\"deltaLink\":\"/api/v1/delta/"
                                  "people?deltaToken=%d\"", ++fake.delta_seq)
           : ""));
}

/* GET /api/v1/delta/people?deltaToken=N */
static void fake_delta(apr_pool_t *p, const char *query,
                       pt_http_response_t *resp)
{
    const char *t = strstr(query, "deltaToken=");

    fake.delta_calls++;
    apr_cpystrn(fake.last_token, t ? t + 11 : "", sizeof(fake.last_token));
    if (fake.delta_gone) {
        answer(resp, 410, "{\"error\":{\"code\":\"DeltaExpired\","
               "\"message\":\"The delta token has expired.\"}}");
        return;
    }
    answer(resp, 200, apr_psprintf(p, "{\"value\":[%s],\"deltaLink\":"
                                   "\"/api/v1/delta/people?deltaToken=%d\"}",
                                   fake.delta_changes ? fake.delta_changes
                                                      : "",
                                   ++fake.delta_seq));
    fake.delta_changes = NULL;
}

static pt_store_conn_t conn;
static pt_sub_config_t cfg;

static void fake_slow_get(apr_pool_t *p)
{
    int held;

    clock_now += fake.slow_get;
    fake.slow_get = 0;
    if (fake.slow_get_owner)
        pt_store_lease(p, &conn, apr_pstrcat(p, cfg.tenant, " ",
                                             cfg.destination_url, NULL),
                       fake.slow_get_owner, clock_now, clock_now + SEC(30),
                       &held, NULL, NULL);
    fake.slow_get_owner = NULL;
}

static apr_status_t fake_perform(void *baton, apr_pool_t *p,
                                 const pt_http_request_t *req,
                                 pt_http_response_t *resp)
{
    const char *path = req->url + strlen("http://fake.test");
    const char *q = strchr(path, '?');
    char *bare = q ? apr_pstrndup(p, path, q - path) : apr_pstrdup(p, path);
    fake_hook_t *h;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after = -1;
    if (!strcmp(path, "/token")) {
        fake.tokens++;
        answer(resp, 200, "{\"access_token\":\"tok-very-secret\","
               "\"expires_in\":1800,\"token_type\":\"Bearer\"}");
    }
    else if (!strcmp(bare, "/api/v1/webhooks")) {
        if (!strcmp(req->method, "POST")) {
            fake_create(p, req, resp);
        }
        else {
            const char *list = "";
            int i, n = 0;
            for (i = 0; i < fake.nhooks; i++) {
                if (!fake.hooks[i].deleted)
                    list = apr_pstrcat(p, list, n++ ? "," : "",
                                       fake_hook_json(p, &fake.hooks[i]),
                                       NULL);
            }
            answer(resp, 200, apr_pstrcat(p, "{\"value\":[", list, "]}",
                                          NULL));
        }
    }
    else if (!strncmp(bare, "/api/v1/webhooks/", 17)) {
        h = fake_find(bare + 17);
        if (!h || h->deleted)
            answer(resp, 404, "{\"error\":{\"code\":\"NotFound\"}}");
        else if (!strcmp(req->method, "DELETE")) {
            h->deleted = 1;
            answer(resp, 204, NULL);
        }
        else {
            if (fake.slow_get)
                fake_slow_get(p);
            answer(resp, 200, fake_hook_json(p, h));
        }
    }
    else if (!strcmp(bare, "/api/v1/access-clockings")) {
        fake_clockings(p, q ? q : "", resp);
    }
    else if (!strcmp(bare, "/api/v1/people")) {
        fake_people(p, q ? q : "", resp);
    }
    else if (!strcmp(bare, "/api/v1/delta/people")) {
        fake_delta(p, q ? q : "", resp);
    }
    else {
        answer(resp, 404, "{}");
    }
    return APR_SUCCESS;
}

/* ---- the environment ---------------------------------------------------- */

static char logged[16384];
static int lock_fails;

static void test_log_print(void *baton, const char *file, int line,
                           pt_log_level_t level, apr_status_t rv,
                           apr_pool_t *p, const char *fmt, va_list ap)
{
    apr_size_t used = strlen(logged);

    apr_vsnprintf(logged + used, sizeof(logged) - used, fmt, ap);
    apr_cpystrn(logged + strlen(logged), "\n",
                sizeof(logged) - strlen(logged));
}

static const pt_log_t test_log = { NULL, test_log_print, NULL };

static int test_sleep(void *baton, apr_interval_time_t d)
{
    clock_now += d;
    return 0;
}

/* The connection of the test, counting the writes still holding it. */
static int writers_out;

static const pt_store_conn_t *test_acquire(void *baton, int write,
                                           const char **err)
{
    if (write && lock_fails) {
        *err = "cannot take the database lock";
        return NULL;
    }
    writers_out += write;
    return &conn;
}

static void test_release(void *baton, const pt_store_conn_t *c, int write)
{
    writers_out -= write;
}

static unsigned test_random(void *baton)
{
    return 0x7fffffffu;
}

static apr_time_t test_clock(void *baton)
{
    return clock_now;
}

static pt_api_t *api;
static pt_sub_env_t env;

static apr_interval_time_t step(pt_sub_status_t *st)
{
    apr_pool_t *p;
    apr_interval_time_t next;

    apr_pool_create(&p, pool);
    next = pt_sub_step(p, &cfg, &env, now, st);
    apr_pool_destroy(p);
    return next;
}

/* Stores a full re-synchronisation owed from sync_from, at next_link
 * (NULL: from the window's first page). */
static void owe_sync(const char *next_link)
{
    pt_store_sync_t sync;
    pt_store_sub_change_t ch;

    memset(&sync, 0, sizeof(sync));
    sync.pending = 1;
    sync.window_from = cfg.sync_from;
    sync.next_link = next_link;
    memset(&ch, 0, sizeof(ch));
    ch.sync = &sync;
    pt_store_sub_save(pool, &conn, cfg.tenant, cfg.destination_url, &ch);
}

static long long count(const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    long long n = -1;

    if (apr_dbd_select(conn.driver, pool, conn.handle, &res, sql, 0))
        return -2;
    while (apr_dbd_get_row(conn.driver, pool, res, &row, -1) == 0)
        n = apr_atoi64(apr_dbd_get_entry(conn.driver, row, 0));
    return n;
}

static int nkeys(void)
{
    apr_array_header_t *keys;

    if (pt_store_webhook_keys(pool, &conn, cfg.tenant, cfg.destination_url,
                              now, &keys))
        return -1;
    return keys->nelts;
}

static int has_key(const char *key)
{
    apr_array_header_t *keys;
    int i;

    if (pt_store_webhook_keys(pool, &conn, cfg.tenant, cfg.destination_url,
                              now, &keys))
        return 0;
    for (i = 0; i < keys->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(keys, i, const char *), key))
            return 1;
    }
    return 0;
}

static const char *state_of(const char *id)
{
    apr_array_header_t *hooks;
    int i;

    if (pt_store_webhooks(pool, &conn, cfg.tenant, cfg.destination_url,
                          &hooks))
        return "error";
    for (i = 0; i < hooks->nelts; i++) {
        const pt_store_webhook_t *w = &APR_ARRAY_IDX(hooks, i,
                                                     pt_store_webhook_t);
        if (!strcmp(w->webhook_id, id))
            return w->state == PT_WEBHOOK_ACTIVE ? "active"
                   : w->state == PT_WEBHOOK_RETIRING ? "retiring" : "retired";
    }
    return "none";
}

/* A client of the fake Protime for a collection (NULL: access clockings). */
static pt_api_t *fake_api(const char *collection)
{
    pt_api_config_t ac;
    pt_api_t *client;

    memset(&ac, 0, sizeof(ac));
    ac.api_url = "http://fake.test/api/v1";
    ac.token_url = "http://fake.test/token";
    ac.client_id = "client";
    ac.client_secret = "client-very-secret";
    ac.user_agent = "test_sub/1";
    ac.allow_insecure = 1;
    ac.http.perform = fake_perform;
    ac.log = &test_log;
    ac.sleep = test_sleep;
    ac.random = test_random;
    ac.now = test_clock;
    ac.attempt_timeout = SEC(20);
    ac.collection = collection;
    if (pt_api_create(pool, &ac, &client)) {
        printf("Bail out! pt_api_create\n");
        exit(1);
    }
    return client;
}

static void setup(const char *dbfile)
{
    const apr_dbd_driver_t *driver;

    unlink(dbfile);
    apr_dbd_init(pool);
    if (apr_dbd_get_driver(pool, "sqlite3", &driver)
        || apr_dbd_open(driver, pool, dbfile, &conn.handle)) {
        printf("Bail out! cannot open %s\n", dbfile);
        exit(1);
    }
    conn.driver = driver;
    conn.dialect = PT_DB_SQLITE3;
    conn.prepared = apr_hash_make(pool);
    if (pt_store_create_schema(pool, &conn)
        || pt_store_prepare(pool, &conn, 0)) {
        printf("Bail out! schema\n");
        exit(1);
    }

    api = fake_api(NULL);

    cfg.tenant = "acme";
    cfg.destination_url = "https://hooks.example/protime";
    cfg.external_references = "(people,@badge-number)";
    cfg.renew_before = DAY;
    cfg.check_interval = SEC(3600);
    cfg.sync_from = pt_sub_default_sync_from(pool, now);

    env.api = api;
    env.acquire = test_acquire;
    env.release = test_release;
    env.log = &test_log;
    env.sync_budget = SEC(60);
    env.random = test_random;
}

/* A step of one of the servers of section 10, at time t. */
static apr_interval_time_t step_at(pt_sub_env_t *e, apr_time_t t,
                                   pt_sub_status_t *status)
{
    clock_now = t;
    return pt_sub_step(pool, &cfg, e, t, status);
}

int main(void)
{
    char dbfile[] = "/tmp/test_sub.XXXXXX";
    pt_sub_status_t st, fresh;
    apr_interval_time_t next;
    char first_key[48], first_id[32];
    int fd, i;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    now = apr_time_from_sec(1780000000);    /* 2026-05-28 */
    fd = mkstemp(dbfile);
    close(fd);
    fake_reset();
    setup(dbfile);

    /* 1. First start: create, store, re-synchronise everything. */
    memset(&st, 0, sizeof(st));
    next = step(&st);
    is_str(st.state, "active", "first step: active");
    is_int(fake.created, 1, "one webhook created");
    is_str(st.webhook_id, "wh-1", "status shows its id");
    ok(st.valid_until == now + fake.lifetime, "status shows validUntil");
    is_str(state_of("wh-1"), "active", "stored as active");
    ok(has_key("key-1-secret"), "its key is stored and accepted");
    is_int(count("SELECT count(*) FROM protime_access_clockings"), 25,
           "re-synchronisation stored every clocking");
    is_int(st.sync_rows, 25, "status: 25 rows");
    ok(!st.sync_running && st.sync_finished_at > 0, "status: sync finished");
    is_int(fake.nwindows, 2, "two windows read");
    {
        long y1, m1, d1, y2, m2, d2;
        int w;
        for (w = 0; w < fake.nwindows; w++) {
            sscanf(fake.windows[w], "%ld-%ld-%ld..%ld-%ld-%ld", &y1, &m1, &d1,
                   &y2, &m2, &d2);
            ok((y2 - y1) * 372 + (m2 - m1) * 31 + (d2 - d1) < 372,
               "window %s spans at most a year", fake.windows[w]);
        }
        ok(!strncmp(fake.windows[0], cfg.sync_from, 10),
           "first window starts at sync_from (%s)", fake.windows[0]);
    }
    is_int(fake.pages, 3 + 2, "empty first pages were followed");
    ok(next > SEC(2700) && next <= SEC(3600),
       "next step within the check interval (%" APR_TIME_T_FMT " s)",
       apr_time_sec(next));
    is_int(fake.tokens, 1, "one token for the whole step");

    /* 2. Restarts, graceful or not, create nothing. */
    now += SEC(10);
    memset(&fresh, 0, sizeof(fresh));
    step(&fresh);
    is_str(fresh.state, "active", "after a restart: active");
    is_int(fake.created, 1, "no second webhook after a restart");
    is_str(fresh.webhook_id, "wh-1", "the stored webhook is reused");
    now += SEC(10);
    step(&fresh);
    is_int(fake.created, 1, "nor on the next step");
    is_int(fake.tokens, 1, "the token is reused across steps");

    /* 3. Lost key: the database lost its row, Protime still calls us. */
    {
        pt_store_sub_change_t ch;
        memset(&ch, 0, sizeof(ch));
        ch.remove = "wh-1";
        ok(pt_store_sub_save(pool, &conn, cfg.tenant, cfg.destination_url,
                             &ch) == NULL, "row of wh-1 removed");
    }
    now += SEC(10);
    memset(&st, 0, sizeof(st));
    step(&st);
    ok(fake_find("wh-1")->deleted, "the webhook whose key was lost is deleted");
    is_int(fake.created, 2, "and replaced");
    is_int(fake_live(), 1, "one webhook left at Protime");
    is_str(st.webhook_id, "wh-2", "status shows the replacement");
    ok(strstr(logged, "wh-1") && strstr(logged, "lost"), "the loss is logged");
    is_str(st.state, "active", "active again (re-sync done)");

    /* 4. Rotation before validUntil - renew_before. */
    apr_cpystrn(first_id, "wh-2", sizeof(first_id));
    apr_cpystrn(first_key, fake_find("wh-2")->key, sizeof(first_key));
    now = fake_find("wh-2")->valid_until - DAY + SEC(1);
    fake.nwindows = 0;
    next = step(&st);
    is_int(fake.created, 3, "rotation created a successor");
    is_str(state_of("wh-3"), "active", "the successor is active");
    is_str(state_of(first_id), "retiring", "the old one is retiring");
    ok(has_key(first_key) && has_key("key-3-secret"),
       "both keys accepted during the overlap");
    ok(!fake_find(first_id)->deleted, "the old webhook still delivers");
    is_int(fake.nwindows, 0, "a rotation needs no re-synchronisation");
    ok(next <= DAY / 2, "next step at the end of the overlap");
    now += DAY / 2;
    step(&st);
    ok(fake_find(first_id)->deleted, "after the overlap the old webhook is "
       "deleted at Protime");
    is_str(state_of(first_id), "retired", "and retired here");
    ok(has_key(first_key), "its key is accepted until its validUntil");
    now += DAY;
    step(&st);
    is_str(state_of(first_id), "none", "expired: forgotten");
    is_int(nkeys(), 1, "one key left");
    is_int(fake_live(), 1, "one webhook at Protime");

    /* 5. Disabled: replace, then re-read every page with the changes. */
    apr_cpystrn(fake_find("wh-3")->status, "Disabled", 16);
    fake.generation = 1;
    fake.nwindows = 0;
    fake.pages = 0;
    fake.repeated_pages = 0;
    now += SEC(3600);
    step(&st);
    is_int(fake.created, 4, "disabled webhook replaced");
    ok(fake_find("wh-3")->deleted, "the disabled one is deleted");
    is_int(fake.nwindows, 2, "full re-synchronisation after Disabled");
    is_int(fake.repeated_pages, 0, "each page read once");
    is_int(count("SELECT count(*) FROM protime_access_clockings WHERE "
                 "change_version LIKE '%100%'"), 25,
           "every row has the newer version");
    ok(strstr(logged, "Protime disabled it") != NULL, "Disabled is logged");

    /* 6. Expired while we were down. */
    now = fake_find("wh-4")->valid_until + SEC(1);
    memset(&st, 0, sizeof(st));
    step(&st);
    is_int(fake.created, 5, "expired webhook replaced");
    ok(strstr(logged, "it expired") != NULL, "expiry is logged");

    /* 7. The sync resumes where it stopped, one page a step. */
    {
        int steps = 0;

        owe_sync(NULL);
        env.sync_budget = 0;
        fake.pages = 0;
        fake.repeated_pages = 0;
        do {
            memset(&st, 0, sizeof(st));     /* a restart between steps */
            st.checked_at = now;
            next = step(&st);
            steps++;
        } while (st.sync_running && steps < 50);
        env.sync_budget = SEC(60);
        ok(fake.pages >= 5, "several pages (%d)", fake.pages);
        is_int(steps, fake.pages, "one page per step with no budget");
        is_int(fake.repeated_pages, 0, "no page read twice");
        is_int(st.sync_pages, fake.pages, "status counts the pages");
        ok(!st.sync_running, "finished");
    }

    /* 7b. A stored nextLink that can no longer be read, and one that
     * leads to the page just read: the window starts over, once, and the
     * re-synchronisation ends; it is neither stuck nor read in a loop. */
    {
        static const char *const dead[] = {
            "https://elsewhere.example/api/v1/access-clockings?x=1",
            "/api/v1/access-clockings?filter=date%20ge%20%272026-01-01%27"
            "%20and%20date%20le%20%272026-12-31%27&continuationToken=2",
        };
        int k, steps;

        for (k = 0; k < 3; k++) {
            owe_sync(k < 2 ? dead[k] : NULL);
            fake.list_status = k == 1 ? 404 : 0;  /* gone stale */
            fake.loop_page = k == 2 ? 1 : 0;
            fake.pages = 0;
            memset(&st, 0, sizeof(st));
            st.checked_at = now;
            step(&st);
            ok(strstr(st.last_error, "starts over") != NULL,
               "%s: the step fails, and says the window starts over (%s)",
               k == 0 ? "a nextLink to another host"
               : k == 1 ? "a nextLink answered 404" : "a nextLink to itself",
               st.last_error);
            ok(fake.pages <= 3, "... after %d pages read", fake.pages);
            is_int(count("SELECT count(*) FROM protime_sync WHERE pending = 1"
                         " AND next_link IS NULL"), 1,
                   "... the link is dropped, the window kept");
            fake.list_status = 0;
            fake.loop_page = 0;
            steps = 0;
            do {
                memset(&st, 0, sizeof(st));
                st.checked_at = now;
                step(&st);
            } while (st.sync_running && ++steps < 10);
            ok(!st.sync_running && !strcmp(st.state, "active"),
               "... and the next step finishes it (%s)", st.state);
        }
    }

    /* 7c. A clocking whose local date is tomorrow's in UTC (Europe, after
     * midnight) is read by the re-synchronisation too. */
    {
        int steps = 0;

        owe_sync(NULL);
        fake.last_tomorrow = 1;
        fake.generation++;
        do {
            memset(&st, 0, sizeof(st));
            st.checked_at = now;
            step(&st);
        } while (st.sync_running && ++steps < 10);
        is_int(count(apr_psprintf(pool, "SELECT count(*) FROM "
                                  "protime_access_clockings WHERE id = %d "
                                  "AND date = '%s'", fake.nitems,
                                  date_of(pool, days_of(now) + 1))), 1,
               "a clocking dated tomorrow (UTC) is re-synchronised");
        fake.last_tomorrow = 0;
    }

    /* 8. Failures: backoff, Retry-After, nothing half-done. */
    {
        pt_store_sub_change_t ch;
        memset(&ch, 0, sizeof(ch));
        ch.remove = "wh-5";
        pt_store_sub_save(pool, &conn, cfg.tenant, cfg.destination_url, &ch);
    }
    fake.create_status = 500;
    memset(&st, 0, sizeof(st));
    next = step(&st);
    is_str(st.state, "error", "create failing: error");
    ok(strstr(st.last_error, "500") != NULL, "last error names the status "
       "(%s)", st.last_error);
    ok(next >= SEC(2) && next <= SEC(5), "first backoff 2.5-5 s");
    next = step(&st);
    ok(next > SEC(5) && next <= SEC(10), "second backoff 5-10 s");
    is_int(st.failures, 2, "failures counted");
    fake.create_status = 429;
    fake.create_retry_after = SEC(120);
    next = step(&st);
    ok(next >= SEC(120), "Retry-After 120 honoured (%" APR_TIME_T_FMT " s)",
       apr_time_sec(next));
    /* A maintenance page's date a month ahead must not park the job past
     * the webhook's renewal. */
    fake.create_retry_after = SEC(30 * 86400);
    next = step(&st);
    ok(next >= SEC(120) && next <= PT_SUB_MAX_BACKOFF,
       "Retry-After of 30 days waited at most %" APR_TIME_T_FMT " s (%"
       APR_TIME_T_FMT " s)", apr_time_sec(PT_SUB_MAX_BACKOFF),
       apr_time_sec(next));
    fake.create_status = 0;
    i = fake.created;
    lock_fails = 1;
    step(&st);
    lock_fails = 0;
    is_int(fake.created, i + 1, "created while the database cannot be "
           "written");
    ok(fake_find(apr_psprintf(pool, "wh-%d", fake.nhooks))->deleted,
       "so it was deleted again at once");
    is_str(st.state, "error", "and the step failed");
    step(&st);
    is_str(st.state, "active", "recovers");
    is_int(st.failures, 0, "failures reset");
    is_int(fake_live(), 1, "exactly one webhook at Protime");

    /* 9. Secrets never logged. */
    ok(!strstr(logged, "secret"), "no key and no client secret in the log");
    ok(!strstr(logged, "tok-very"), "no token in the log");

    /* 10. Two servers on one database: one runs the job, the other
     * stands by and takes over when the first stops renewing its lease. */
    {
        pt_sub_env_t a = env, b = env;
        pt_sub_status_t sa, sb;
        int created;
        /* The first 12 hex digits of the SHA-256 of each owner's text. */
        const char *id_a = "09cb62b2c329", *id_b = "92ce91498b7a";
        const char *log_a = "is run by owner 09cb62b2c329: node-a/1/aa";
        const char *since = logged + strlen(logged);

        a.owner = "node-a/1/aa";
        b.owner = "node-b/2/bb";
        a.lease = b.lease = SEC(30);
        a.clock = b.clock = test_clock;
        memset(&sa, 0, sizeof(sa));
        memset(&sb, 0, sizeof(sb));
        now += SEC(60);
        step_at(&a, now, &sa);
        is_str(sa.state, "active", "node a: active");
        created = fake.created;
        next = step_at(&b, now + SEC(1), &sb);
        is_str(sb.state, "standby", "node b: standby");
        is_str(sb.owner, id_a, "node b shows node a's id as the owner, "
               "not its text");
        is_str(sa.owner, id_a, "and so does node a");
        is_str(sb.webhook_id, sa.webhook_id, "and the same webhook");
        ok(next <= SEC(15), "node b looks again within half the lease");
        is_int(fake.created, created, "node b created nothing");
        now += SEC(20);
        next = step_at(&a, now, &sa);
        ok(next <= SEC(10), "the owner renews within a third of the lease");
        step_at(&b, now + SEC(1), &sb);
        is_str(sb.state, "standby", "a renewed lease keeps node b waiting");
        ok(strstr(since, log_a) != NULL, "the log pairs node a's id with "
           "its text");
        ok(strstr(since, log_a) && strstr(strstr(since, log_a) + 1, log_a)
           && !strstr(strstr(strstr(since, log_a) + 1, log_a) + 1, log_a),
           "once for each node's status, not at every step");
        now += SEC(31);     /* node a stopped */
        step_at(&b, now, &sb);
        is_str(sb.state, "active", "node b took the lease over");
        is_str(sb.owner, id_b, "and is the owner");
        is_int(fake.created, created, "with the same webhook");
        step_at(&a, now + SEC(1), &sa);
        is_str(sa.state, "standby", "node a, back, stands by");
        ok(strstr(logged, "owner 92ce91498b7a now runs") != NULL,
           "the hand-over is logged, with the new owner's id");
        ok(strstr(since, "is run by owner 92ce91498b7a: node-b/2/bb") != NULL,
           "and the log pairs that id with node b's text");
        is_int(fake_live(), 1, "one webhook for the cluster");

        /* A step that Protime holds up past its lease, while the other
         * server takes the lease over: it must not change the webhooks it
         * read before. Node b's webhook is disabled, so a step replaces it
         * after its check; the check takes 31 s. */
        apr_cpystrn(fake_find(sb.webhook_id)->status, "Disabled", 16);
        created = fake.created;
        now += SEC(3600);           /* the check is due */
        fake.slow_get = SEC(31);
        fake.slow_get_owner = "node-a/1/aa";
        next = step_at(&b, now, &sb);
        is_int(fake.created, created, "a step past its lease creates no "
               "webhook");
        is_str(sb.state, "standby", "it stands by");
        ok(next == 0, "and starts over at once");
        ok(strstr(logged, "PT00709") != NULL, "saying why");
        step_at(&a, clock_now, &sa);
        is_str(sa.state, "active", "the new owner replaces the webhook");
        is_int(fake.created, created + 1, "once");
        step_at(&b, clock_now + SEC(1), &sb);
        is_str(sb.state, "standby", "node b stands by");
        is_int(fake_live(), 1, "still one webhook for the cluster");

        /* A change at Protime is sent, and retried, only while it can end
         * within the lease (30 s; attempts of at most 20 s): Protime
         * answers the creation with 503, after 8 s each time. One retry
         * fits, the next would not. */
        apr_cpystrn(fake_find(sa.webhook_id)->status, "Disabled", 16);
        created = fake.created;
        now = clock_now + SEC(3600);    /* the check is due */
        fake.create_status = 503;
        fake.create_retry_after = 0;
        fake.create_takes = SEC(8);
        fake.create_calls = 0;
        step_at(&a, now, &sa);
        is_int(fake.create_calls, 2, "a creation that could outlast the "
               "lease is not retried");
        ok(fake.create_ended <= sa.lease_until,
           "no attempt ended after the lease");
        is_str(sa.state, "error", "the step failed");
        ok(strstr(sa.last_error, "could end after the lease") != NULL,
           "saying why");
        fake.create_status = 0;
        fake.create_takes = 0;
        step_at(&a, clock_now + SEC(10), &sa);
        is_str(sa.state, "active", "the next step replaces the webhook");
        is_int(fake.created, created + 1, "once");
        is_int(fake_live(), 1, "one webhook for the cluster");
    }

    /* 11. Default sync start. */
    is_str(pt_sub_default_sync_from(pool, apr_time_from_sec(1780000000)),
           "2025-01-01", "default ProtimeSyncFrom: 1 January last year");
    is_str(pt_sub_delta_from(pool, "2020-01-01",
                             apr_time_from_sec(1780000000)),
           "2025-01-01", "a delta starts no earlier than 1 January last year");
    is_str(pt_sub_delta_from(pool, "2025-06-01",
                             apr_time_from_sec(1780000000)),
           "2025-06-01", "nor earlier than ProtimeSyncFrom");

    /* Destinations of several collections. */
    is_str(pt_sub_destination(pool, "https://h.example/protime", NULL, 1,
                              "people"), "https://h.example/protime",
           "one collection: the URL itself");
    is_str(pt_sub_destination(pool, "https://h.example/protime/", NULL, 2,
                              "people"), "https://h.example/protime/people",
           "several: a base");
    is_str(pt_sub_destination(pool, "https://h.example/protime",
                              "https://h.example/p", 2, "people"),
           "https://h.example/p", "a collection's own URL first");
    is_str(pt_sub_destination(pool, NULL, NULL, 2, "people"), NULL,
           "none configured");

    /* 12. Another collection, reconciled by delta. */
    {
        pt_sub_config_t people = cfg;
        pt_sub_env_t e = env;
        pt_store_delta_t d;
        pt_sub_status_t sp;
        apr_interval_time_t wait;

        e.api = fake_api("people");
        e.owner = NULL;
        people.collection = "people";
        people.destination_url = "https://hooks.example/protime/people";
        people.reconcile_interval = SEC(60);
        fake.npeople = 25;
        fake.generation = 1;
        logged[0] = '\0';
        now += DAY;
        memset(&sp, 0, sizeof(sp));
        wait = pt_sub_step(pool, &people, &e, now, &sp);
        is_str(sp.state, "active", "people: active");
        is_int(count("SELECT count(*) FROM protime_records WHERE "
                     "collection = 'people'"), 25,
               "people: every person stored");
        is_int(fake.people_lists, 2, "people: a full list, then a delta's");
        is_int(fake.delta_starts, 1, "people: one delta started");
        pt_store_delta_load(pool, &conn, people.tenant,
                            people.destination_url, &d);
        is_str(d.delta_link, "/api/v1/delta/people?deltaToken=1",
               "people: the last page's deltaLink is stored");
        ok(sp.delta_ready, "status: a delta is ready");
        ok(wait > 0 && wait <= SEC(60), "the next step comes by the "
           "reconcile interval (%" APR_TIME_T_FMT " s)", apr_time_sec(wait));

        now += SEC(30);
        pt_sub_step(pool, &people, &e, now, &sp);
        is_int(fake.delta_calls, 0, "no delta before the interval");

        /* Person 3 changed and nobody delivered it; person 4's change was
         * delivered already. */
        fake.delta_changes = apr_psprintf(pool,
            "{\"changeType\":\"InsertOrUpdate\",\"data\":{\"id\":3,"
            "\"changeVersion\":\"%020d\",\"firstName\":\"Q3\"}},"
            "{\"changeType\":\"InsertOrUpdate\",\"data\":{\"id\":4,"
            "\"changeVersion\":\"%020d\",\"firstName\":\"P4\"}}",
            2 * 100000 + 3, 1 * 100000 + 4);
        now += SEC(31);
        pt_sub_step(pool, &people, &e, now, &sp);
        is_int(fake.delta_calls, 1, "the delta is fetched when due");
        is_str(fake.last_token, "1", "at the stored link");
        ok(sp.reconciled == 1, "one change repaired (%" APR_UINT64_T_FMT
           "), the one no delivery brought", sp.reconciled);
        is_int(count("SELECT count(*) FROM protime_records WHERE "
                     "collection = 'people' AND id = 3 AND data LIKE "
                     "'%Q3%'"), 1, "and stored");
        pt_store_delta_load(pool, &conn, people.tenant,
                            people.destination_url, &d);
        is_str(d.delta_link, "/api/v1/delta/people?deltaToken=2",
               "the new deltaLink is stored");
        ok(strstr(logged, "PT00713") != NULL, "the repair is logged");

        /* The delta expired: a full re-synchronisation, then a new one. */
        fake.delta_gone = 1;
        now += SEC(61);
        wait = pt_sub_step(pool, &people, &e, now, &sp);
        is_str(sp.state, "syncing", "410: a full re-synchronisation owed");
        is_int(wait, 0, "at once");
        ok(strstr(logged, "PT00712") != NULL, "the expiry is logged");
        fake.delta_gone = 0;
        pt_sub_step(pool, &people, &e, now + SEC(1), &sp);
        is_str(sp.state, "active", "then active again");
        is_int(fake.people_lists, 4, "the list read again, then a new "
               "delta's");
        is_int(fake.delta_starts, 2, "a new delta started");
        ok(sp.reconciled == 1, "the re-read is not counted as repairs");

        /* A deltaLink that is no URL of the API's host would fail at each
         * step for ever: a full re-synchronisation instead. */
        pt_store_delta_load(pool, &conn, people.tenant,
                            people.destination_url, &d);
        d.delta_link = "https://elsewhere.example/delta?deltaToken=9";
        pt_store_delta_save(pool, &conn, people.tenant,
                            people.destination_url, &d);
        now += SEC(61);
        wait = pt_sub_step(pool, &people, &e, now, &sp);
        is_str(sp.state, "syncing", "a deltaLink to another host: a full "
               "re-synchronisation owed");
        ok(strstr(logged, "the delta's link can no longer be read") != NULL,
           "and logged so");
        pt_sub_step(pool, &people, &e, now + SEC(1), &sp);
        is_str(sp.state, "active", "then active again");
        is_int(fake.delta_starts, 3, "with a new delta");
    }

    /* 13. A rotation whose creation got no answer, though Protime made
     * the webhook: that one's key is not here, and the next step deletes
     * it before it creates the successor. */
    {
        char active[32];
        int live;

        memset(&st, 0, sizeof(st));
        now += SEC(3600);
        step(&st);
        apr_cpystrn(active, st.webhook_id, sizeof(active));
        live = fake_live();
        now = fake_find(active)->valid_until - DAY + SEC(1);
        fake.create_lost = 1;
        i = fake.created;
        step(&st);
        is_str(st.state, "error", "a rotation whose creation got no answer "
               "fails (%s)", st.last_error);
        is_int(fake.created, i + 1, "though Protime created it, once");
        now += SEC(10);
        step(&st);
        ok(fake_find(apr_psprintf(pool, "wh-%d", i + 1))->deleted,
           "the next step deletes it");
        is_str(state_of(apr_psprintf(pool, "wh-%d", i + 2)), "active",
               "and creates the successor");
        is_int(fake_live(), live + 1, "the old one and its successor live "
               "at Protime, no other");
    }

    is_int(writers_out, 0, "every connection taken to write was handed "
           "back");
    apr_dbd_close(conn.driver, conn.handle);
    unlink(dbfile);
    return tap_done();
}
