/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* mod_protime_log: the httpd sink of the pure units' logging (see
 * mod_protime_log.h), as mod_md's log_print is for md_log. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_main.h>
#include <apr_strings.h>

#include "mod_protime_log.h"

APLOG_USE_MODULE(protime);

/* pt_log.h promises httpd's numbering: a level is passed on as it is. */
typedef char protime_log_levels_match[(PT_LOG_EMERG == APLOG_EMERG
                                       && PT_LOG_ERR == APLOG_ERR
                                       && PT_LOG_DEBUG == APLOG_DEBUG
                                       && PT_LOG_TRACE8 == APLOG_TRACE8)
                                      ? 1 : -1];

static const server_rec *protime_log_server(void *baton)
{
    return baton ? baton : ap_server_conf;
}

static int protime_log_is_level(void *baton, pt_log_level_t level)
{
    const server_rec *s = protime_log_server(baton);

    return APLOG_IS_LEVEL(s, (int)level);
}

static void protime_log_print(void *baton, const char *file, int line,
                              pt_log_level_t level, apr_status_t rv,
                              apr_pool_t *p, const char *fmt, va_list ap)
{
    char msg[HUGE_STRING_LEN];

    /* pt_log asked protime_log_is_level first: this is formatted only when
     * it is written. */
    apr_vsnprintf(msg, sizeof(msg), fmt, ap);
    ap_log_error(file, line, APLOG_MODULE_INDEX, (int)level, rv,
                 protime_log_server(baton), "%s", msg);
}

void protime_log_bridge(pt_log_t *log, server_rec *s)
{
    log->is_level = protime_log_is_level;
    log->print = protime_log_print;
    log->baton = s;
}
