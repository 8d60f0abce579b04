/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_log: how the pure units log (see pt_log.h). */
#include "pt_log.h"

int pt_log_is_level(const pt_log_t *log, pt_log_level_t level)
{
    if (!log || !log->print) {
        return 0;
    }
    return !log->is_level || log->is_level(log->baton, level);
}

void pt_log_perror(const pt_log_t *log, const char *file, int line,
                   pt_log_level_t level, apr_status_t rv, apr_pool_t *p,
                   const char *fmt, ...)
{
    va_list ap;

    if (!pt_log_is_level(log, level)) {
        return;
    }
    va_start(ap, fmt);
    log->print(log->baton, file, line, level, rv, p, fmt, ap);
    va_end(ap);
}
