/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests of pt_curl against a tiny HTTP/1.1 server run in a child
 * process on 127.0.0.1. */

#include "pt_curl.h"
#include "tap.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <curl/curl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static apr_pool_t *pool;
static pid_t server_pid;
static int server_port;

/* ---- the server --------------------------------------------------------- */

static void server_reply(int fd, int status, const char *headers,
                         const char *body, size_t len)
{
    char *head = apr_psprintf(pool, "HTTP/1.1 %d X\r\nContent-Length: %lu\r\n"
                              "Connection: close\r\n%s\r\n", status,
                              (unsigned long)len, headers);

    if (write(fd, head, strlen(head)) < 0 || write(fd, body, len) < 0) {
        return;
    }
}

/* Reads one request (headers and a Content-Length body) into buf; returns
 * its length, or -1. */
static long server_read(int fd, char *buf, size_t size)
{
    size_t len = 0, want = 0;
    char *end = NULL, *c;
    ssize_t n;

    while (len < size - 1) {
        if ((n = read(fd, buf + len, size - 1 - len)) <= 0) {
            return -1;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            want = (size_t)(end + 4 - buf);
            for (c = buf; c < end; ++c) {
                if (strncasecmp(c, "\r\nContent-Length:", 17) == 0) {
                    want += strtoul(c + 17, NULL, 10);
                    break;
                }
            }
        }
        if (end && len >= want) {
            return (long)len;
        }
    }
    return -1;
}

/* The credentials the server accepts as a proxy: "user:p%41ss:x" (a %
 * that must not be URL-decoded, a colon inside the password). */
#define PROXY_USER "user:p%41ss:x"
#define PROXY_AUTH "Proxy-Authorization: Basic dXNlcjpwJTQxc3M6eA=="

/* The head of the CONNECT that opened the tunnel being served, echoed in
 * front of the request that comes through it. */
static char server_connect[4096];

static void server_handle(int fd)
{
    char buf[65536];
    static char big[4096];
    long len = server_read(fd, buf, sizeof(buf));

    if (len < 0) {
        return;
    }
    if (strncmp(buf, "CONNECT ", 8) == 0) {
        /* A proxy that tunnels to this same server. */
        if (!strstr(buf, "\r\n" PROXY_AUTH "\r\n")) {
            server_reply(fd, 407, "Proxy-Authenticate: Basic realm=\"t\"\r\n",
                         "", 0);
            close(fd);
            return;
        }
        apr_cpystrn(server_connect, buf, sizeof(server_connect));
        if (write(fd, "HTTP/1.1 200 Connection established\r\n\r\n", 39)
            < 0) {
            return;
        }
        server_handle(fd);
        server_connect[0] = '\0';
        return;
    }
    if (strncmp(buf, "GET /hang ", 10) == 0) {
        /* Keeps the connection open without an answer: the client times
         * out. The descriptor leaks into the next requests on purpose. */
        return;
    }
    if (strncmp(buf, "GET /big ", 9) == 0) {
        memset(big, 'x', sizeof(big));
        server_reply(fd, 200, "", big, sizeof(big));
    }
    else if (strstr(buf, " /created ")) {
        server_reply(fd, 201, "location: /api/v1/webhooks/abc?x=1 \r\n"
                     "RETRY-AFTER:\t 7 \r\n", "{}", 2);
    }
    else if (strstr(buf, " /status/503 ")) {
        server_reply(fd, 503, "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
                     "down", 4);
    }
    else if (strstr(buf, " /status/429 ")) {
        char date[APR_RFC822_DATE_LEN];

        apr_rfc822_date(date, apr_time_now() + apr_time_from_sec(30));
        server_reply(fd, 429, apr_psprintf(pool, "Retry-After: %s\r\n", date),
                     "", 0);
    }
    else if (strstr(buf, " /status/204 ")) {
        server_reply(fd, 204, "", "", 0);
    }
    else {
        /* Echoes the request, after the CONNECT it came through. */
        char *echo = apr_pstrcat(pool, server_connect, buf, NULL);

        server_reply(fd, 200, "Content-Type: text/plain\r\n", echo,
                     strlen(echo));
    }
    close(fd);
}

static void server_start(void)
{
    struct sockaddr_in addr;
    socklen_t alen = sizeof(addr);
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof(addr)) != 0
        || listen(s, 16) != 0
        || getsockname(s, (struct sockaddr *)&addr, &alen) != 0) {
        printf("# cannot listen on 127.0.0.1\n");
        exit(1);
    }
    server_port = ntohs(addr.sin_port);
    fflush(stdout);
    if ((server_pid = fork()) < 0) {
        printf("# cannot fork\n");
        exit(1);
    }
    if (server_pid == 0) {
        /* Never outlives a test run that went wrong. */
        alarm(30);
        for (;;) {
            int fd = accept(s, NULL, NULL);

            if (fd >= 0) {
                server_handle(fd);
            }
        }
    }
    close(s);
}

static void server_stop(void)
{
    kill(server_pid, SIGTERM);
    waitpid(server_pid, NULL, 0);
}

/* ---- the client --------------------------------------------------------- */

static int abort_calls;

static int abort_now(void *baton)
{
    ++abort_calls;
    return *(int *)baton;
}

static apr_status_t perform(const pt_curl_options_t *opts, const char *method,
                            const char *url, const char *body,
                            pt_http_response_t *resp)
{
    pt_http_t http;
    pt_http_request_t req;

    pt_curl_transport(pool, opts, &http);
    req.method = method;
    req.url = url[0] == '/' ? apr_psprintf(pool, "http://127.0.0.1:%d%s",
                                           server_port, url)
                            : url;
    req.headers = apr_array_make(pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(req.headers, const char *) = "User-Agent: PtTest/1";
    APR_ARRAY_PUSH(req.headers, const char *) = "X-Test: yes";
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    return http.perform(http.baton, pool, &req, resp);
}

static int contains(const char *s, const char *needle)
{
    return s && strstr(s, needle) != NULL;
}

static void test_methods(const pt_curl_options_t *opts)
{
    pt_http_response_t resp;

    is_int(perform(opts, "GET", "/echo?a=1", NULL, &resp), APR_SUCCESS,
           "GET");
    is_int(resp.status, 200, "GET status");
    ok(contains(resp.body, "GET /echo?a=1 HTTP/1.1\r\n"), "GET request line");
    ok(contains(resp.body, "\r\nUser-Agent: PtTest/1\r\n"),
       "User-Agent sent");
    ok(contains(resp.body, "\r\nX-Test: yes\r\n"), "header sent");
    is_int(resp.body_len, strlen(resp.body), "body length");
    ok(resp.body[resp.body_len] == '\0', "body NUL-terminated");
    is_str(resp.location, NULL, "no Location");
    is_int(resp.retry_after, -1, "no Retry-After");

    is_int(perform(opts, "POST", "/echo", "{\"a\":1}", &resp), APR_SUCCESS,
           "POST");
    ok(contains(resp.body, "POST /echo HTTP/1.1\r\n"), "POST request line");
    ok(contains(resp.body, "\r\nContent-Length: 7\r\n"), "POST length");
    ok(contains(resp.body, "\r\n\r\n{\"a\":1}"), "POST body");
    ok(!contains(resp.body, "Expect:"), "no Expect header");

    is_int(perform(opts, "DELETE", "/echo/1", NULL, &resp), APR_SUCCESS,
           "DELETE");
    ok(contains(resp.body, "DELETE /echo/1 HTTP/1.1\r\n"),
       "DELETE request line");

    is_int(perform(opts, "POST", "/created", "x", &resp), APR_SUCCESS,
           "201");
    is_int(resp.status, 201, "201 passed through");
    is_str(resp.location, "/api/v1/webhooks/abc?x=1", "Location, trimmed");
    is_int(resp.retry_after, apr_time_from_sec(7),
           "Retry-After, any case, in blanks");
    is_str(resp.body, "{}", "201 body");

    is_int(perform(opts, "GET", "/status/503", NULL, &resp), APR_SUCCESS,
           "503 is a response");
    is_int(resp.status, 503, "503 passed through");
    is_int(resp.retry_after, -1, "Retry-After: a date gone by is none");
    is_str(resp.body, "down", "503 body");

    is_int(perform(opts, "GET", "/status/429", NULL, &resp), APR_SUCCESS,
           "429 is a response");
    ok(resp.retry_after > apr_time_from_sec(25)
       && resp.retry_after <= apr_time_from_sec(30),
       "Retry-After date 30 s ahead: %g s", resp.retry_after / 1e6);

    is_int(perform(opts, "DELETE", "/status/204", NULL, &resp), APR_SUCCESS,
           "204");
    is_int(resp.status, 204, "204 passed through");
    is_str(resp.body, "", "empty body is \"\"");
    is_int(resp.body_len, 0, "empty body length");
}

static void test_limits(const pt_curl_options_t *base)
{
    pt_curl_options_t opts = *base;
    pt_http_response_t resp;
    apr_time_t start;
    int stop = 1;

    opts.max_response = 1000;
    ok(perform(&opts, "GET", "/big", NULL, &resp) != APR_SUCCESS,
       "body over max_response refused");
    is_int(resp.status, 0, "status 0");
    is_str(resp.error, "response larger than 1000 bytes", "size error");
    opts.max_response = 4096;
    is_int(perform(&opts, "GET", "/big", NULL, &resp), APR_SUCCESS,
           "body of exactly max_response accepted");
    is_int(resp.body_len, 4096, "whole body");

    opts = *base;
    opts.allow_insecure = 0;
    ok(perform(&opts, "GET", "/echo", NULL, &resp) != APR_SUCCESS,
       "http refused without allow_insecure");
    is_int(resp.status, 0, "http refused: status 0");
    ok(contains(resp.error, "http"), "http refused: %s", resp.error);

    opts = *base;
    opts.abort = abort_now;
    opts.baton = &stop;
    ok(perform(&opts, "GET", "/echo", NULL, &resp) != APR_SUCCESS,
       "abort callback returning 1 aborts");
    is_int(resp.status, 0, "aborted: status 0");
    ok(abort_calls > 0, "abort callback called");
    stop = 0;
    is_int(perform(&opts, "GET", "/echo", NULL, &resp), APR_SUCCESS,
           "abort callback returning 0 lets the request through");

    opts = *base;
    start = apr_time_now();
    ok(perform(&opts, "GET", "/hang", NULL, &resp) != APR_SUCCESS,
       "unanswered request times out");
    start = apr_time_now() - start;
    ok(start >= apr_time_from_msec(900) && start < apr_time_from_msec(2500),
       "timed out after %g s", start / 1e6);
    is_int(resp.status, 0, "timeout: status 0");
    ok(resp.error && *resp.error, "timeout: %s", resp.error);

    ok(perform(&opts, "GET", "http://127.0.0.1:1/", NULL, &resp)
       != APR_SUCCESS && resp.status == 0, "connection refused: %s",
       resp.error);
}

static void test_proxy(const pt_curl_options_t *base)
{
    pt_curl_options_t opts = *base;
    pt_http_response_t resp;
    const char *proxy = apr_psprintf(pool, "http://127.0.0.1:%d",
                                     server_port);

    /* The environment names proxies that refuse every connection, then
     * hosts to reach without one: none of it may count. */
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    setenv("HTTPS_PROXY", "http://127.0.0.1:1", 1);
    setenv("ALL_PROXY", "http://127.0.0.1:1", 1);
    setenv("all_proxy", "http://127.0.0.1:1", 1);
    is_int(perform(&opts, "GET", "/echo", NULL, &resp), APR_SUCCESS,
           "no proxy configured: the environment's is not used");
    ok(!contains(resp.body, "CONNECT"), "no tunnel without a proxy");

    setenv("no_proxy", "*", 1);
    setenv("NO_PROXY", "*", 1);
    opts.proxy = proxy;
    opts.proxy_user = PROXY_USER;
    is_int(perform(&opts, "POST", "http://origin.test:8080/echo", "{}",
                   &resp), APR_SUCCESS, "through the proxy");
    is_int(resp.status, 200, "the origin's status: %s", resp.error);
    ok(contains(resp.body, "CONNECT origin.test:8080 HTTP/1.1\r\n"),
       "a CONNECT tunnel for http:// too, despite no_proxy=*");
    ok(contains(resp.body, "\r\n" PROXY_AUTH "\r\n"),
       "Basic credentials, name and password as given");
    ok(contains(resp.body, "\r\n\r\nPOST /echo HTTP/1.1\r\n"),
       "the request inside the tunnel");

    opts.proxy_user = "user:wrong-secret";
    ok(perform(&opts, "GET", "http://origin.test:8080/echo", NULL, &resp)
       != APR_SUCCESS, "credentials refused (407)");
    is_int(resp.status, 0, "407: no origin status");
    ok(contains(resp.error, "407")
       && contains(resp.error, apr_pstrcat(pool, "through proxy ", proxy,
                                           NULL)), "407 names the proxy: %s",
       resp.error);
    ok(!contains(resp.error, "wrong-secret"), "but not the password");

    opts.proxy_user = NULL;
    ok(perform(&opts, "GET", "http://origin.test:8080/echo", NULL, &resp)
       != APR_SUCCESS, "no credentials: 407");

    opts.proxy = "http://127.0.0.1:1";
    opts.proxy_user = PROXY_USER;
    ok(perform(&opts, "GET", "/echo", NULL, &resp) != APR_SUCCESS
       && contains(resp.error, "through proxy http://127.0.0.1:1"),
       "a proxy that refuses connections is named: %s", resp.error);

    unsetenv("http_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("ALL_PROXY");
    unsetenv("all_proxy");
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
}

int main(int argc, const char *const *argv)
{
    pt_curl_options_t opts;

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    server_start();

    memset(&opts, 0, sizeof(opts));
    opts.timeout_sec = 1;
    opts.allow_insecure = 1;
    test_methods(&opts);
    test_limits(&opts);
    test_proxy(&opts);

    server_stop();
    curl_global_cleanup();
    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
