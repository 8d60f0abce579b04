/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_log: how the pure units log, without knowing who writes the lines.
 *
 * As mod_md's md_log.h: the library hands file, line, level, status and a
 * format to a sink; the httpd glue's sink (mod_protime_log.c) passes them
 * to ap_log_error, the unit tests' sinks record them. Every message starts
 * with its log id, PTLOGNO(nnnnn).
 *
 * The sink travels with each client (pt_api_config_t.log, pt_sub_env_t.log)
 * rather than being installed once per process: each server that
 * subscribes runs its job in a thread of its own and logs to its own error
 * log at its own LogLevel, which one process-wide sink could not tell
 * apart.
 */
#ifndef PT_LOG_H
#define PT_LOG_H

#include <stdarg.h>

#include <apr_errno.h>
#include <apr_pools.h>

/* Our own log ids: "PT" so they are never mistaken for httpd's "AH" ids. */
#define PTLOGNO(n) "PT" #n ": "

/* httpd's numbering (APLOG_EMERG ... APLOG_TRACE8), so that the glue passes
 * a level on as it is. */
typedef enum {
    PT_LOG_EMERG = 0,
    PT_LOG_ALERT,
    PT_LOG_CRIT,
    PT_LOG_ERR,
    PT_LOG_WARNING,
    PT_LOG_NOTICE,
    PT_LOG_INFO,
    PT_LOG_DEBUG,
    PT_LOG_TRACE1,
    PT_LOG_TRACE2,
    PT_LOG_TRACE3,
    PT_LOG_TRACE4,
    PT_LOG_TRACE5,
    PT_LOG_TRACE6,
    PT_LOG_TRACE7,
    PT_LOG_TRACE8
} pt_log_level_t;

#define PT_LOG_MARK __FILE__, __LINE__

/* Whether a message at level would be written. */
typedef int pt_log_level_fn(void *baton, pt_log_level_t level);

/* Writes one message, formatting fmt with ap; called only for levels that
 * are on. rv, when not APR_SUCCESS, is the status the message is about. */
typedef void pt_log_print_fn(void *baton, const char *file, int line,
                             pt_log_level_t level, apr_status_t rv,
                             apr_pool_t *p, const char *fmt, va_list ap);

typedef struct {
    pt_log_level_fn *is_level;      /* NULL: every level is on */
    pt_log_print_fn *print;
    void *baton;
} pt_log_t;

/* 0 when log is NULL (nothing is logged) or level is off. */
int pt_log_is_level(const pt_log_t *log, pt_log_level_t level);

/* Hands the message to log's sink if level is on. The arguments have been
 * evaluated by then: callers use pt_log_error, which evaluates them only
 * when the level is on. */
void pt_log_perror(const pt_log_t *log, const char *file, int line,
                   pt_log_level_t level, apr_status_t rv, apr_pool_t *p,
                   const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

#define pt_log_error(log, level, rv, p, ...)                              \
    do {                                                                  \
        if (pt_log_is_level((log), (level)))                              \
            pt_log_perror((log), PT_LOG_MARK, (level), (rv), (p),         \
                          __VA_ARGS__);                                   \
    } while (0)

#endif /* PT_LOG_H */
