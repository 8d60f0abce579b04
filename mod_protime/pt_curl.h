/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_curl: the libcurl transport of pt_api (pt_http_t).
 *
 * Pure unit: APR and libcurl only. One easy handle per request, no handle
 * kept between requests (the subscription job makes a few calls an hour).
 * Each request: CURLOPT_NOSIGNAL, connect and total timeouts, https only
 * (http too when allow_insecure), peer and host verification always on,
 * optional CA file, no redirects followed, the response body capped at
 * max_response bytes, Location and Retry-After captured. The caller runs
 * curl_global_init once per process before the first request.
 *
 * Proxy: the one in the options, or none. libcurl would otherwise take one
 * from the environment (http_proxy, https_proxy, all_proxy, no_proxy),
 * which httpd's children inherit from whatever started httpd; an
 * administrator expects the configuration to be the only source. Every
 * request goes through a CONNECT tunnel, http:// ones too, so the proxy
 * relays TLS and never reads a request (the client secret, a token), and
 * the origin's certificate is verified as without a proxy.
 */
#ifndef PT_CURL_H
#define PT_CURL_H

#include "pt_api.h"

typedef struct {
    long timeout_sec;               /* whole request; connect gets the same */
    const char *ca_file;            /* NULL: the system's CAs */
    int allow_insecure;             /* also allow http:// */
    apr_size_t max_response;        /* bytes; 0 means PT_API_MAX_RESPONSE */
    /* The forward proxy, "http://host:port" or "https://host:port"
     * (checked by the configuration: no credentials, nothing after the
     * port); NULL for none. An https proxy is verified against ca_file
     * too. Failures name it. */
    const char *proxy;
    const char *proxy_user;         /* "user:password" for Basic auth at
                                     * the proxy, or NULL; never logged */
    /* Called during transfers; returning non-zero aborts the transfer
     * (the server is stopping). May be NULL. */
    int (*abort)(void *baton);
    void *baton;
} pt_curl_options_t;

/* Whether this libcurl can talk TLS to the proxy itself (https://). */
int pt_curl_https_proxy(void);

/* Fills http with a transport that uses a copy of opts made from p. */
void pt_curl_transport(apr_pool_t *p, const pt_curl_options_t *opts,
                       pt_http_t *http);

#endif /* PT_CURL_H */
