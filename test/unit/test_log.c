/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests for pt_log: what a sink is given, and that nothing is
 * formatted, nor any argument evaluated, when the level is off. */
#include <apr_general.h>
#include <apr_strings.h>

#include "pt_log.h"
#include "tap.h"

static apr_pool_t *pool;

static struct {
    int calls;
    const char *file;
    int line;
    pt_log_level_t level;
    apr_status_t rv;
    apr_pool_t *p;
    const char *msg;
} seen;

static pt_log_level_t threshold = PT_LOG_WARNING;
static int evaluated;

static int test_is_level(void *baton, pt_log_level_t level)
{
    return level <= *(pt_log_level_t *)baton;
}

static void test_print(void *baton, const char *file, int line,
                       pt_log_level_t level, apr_status_t rv, apr_pool_t *p,
                       const char *fmt, va_list ap)
{
    ++seen.calls;
    seen.file = file;
    seen.line = line;
    seen.level = level;
    seen.rv = rv;
    seen.p = p;
    seen.msg = apr_pvsprintf(pool, fmt, ap);
}

/* An argument whose evaluation shows. */
static const char *costly(void)
{
    ++evaluated;
    return "costly";
}

int main(void)
{
    pt_log_t log = { test_is_level, test_print, &threshold };
    pt_log_t all = { NULL, test_print, NULL };
    int line;

    apr_initialize();
    apr_pool_create(&pool, NULL);

    /* 1. A level that is on: the sink sees where, how bad, why, and the
     * message with its id. */
    line = __LINE__ + 1;
    pt_log_error(&log, PT_LOG_ERR, APR_ETIMEDOUT, pool, PTLOGNO(99901)
                 "%s took %d s", costly(), 3);
    is_int(seen.calls, 1, "a level that is on reaches the sink");
    is_str(seen.file, __FILE__, "with the caller's file");
    is_int(seen.line, line, "and line");
    is_int(seen.level, PT_LOG_ERR, "the level");
    is_int(seen.rv, APR_ETIMEDOUT, "the status");
    ok(seen.p == pool, "the pool");
    is_str(seen.msg, "PT99901: costly took 3 s", "the message, id first");
    is_int(evaluated, 1, "arguments evaluated once");
    is_int(PT_LOG_WARNING, 4, "levels use httpd's numbering (warning 4)");
    is_int(PT_LOG_TRACE8, 15, "(trace8 15)");

    /* 2. A level that is off: neither the sink nor the arguments. */
    memset(&seen, 0, sizeof(seen));
    evaluated = 0;
    pt_log_error(&log, PT_LOG_DEBUG, APR_SUCCESS, pool, PTLOGNO(99902)
                 "%s", costly());
    is_int(seen.calls, 0, "a level that is off does not reach the sink");
    is_int(evaluated, 0, "nor are its arguments evaluated");
    pt_log_perror(&log, PT_LOG_MARK, PT_LOG_INFO, APR_SUCCESS, pool,
                  PTLOGNO(99903) "%s", "plain");
    is_int(seen.calls, 0, "pt_log_perror asks the level too");
    threshold = PT_LOG_DEBUG;
    pt_log_error(&log, PT_LOG_DEBUG, APR_SUCCESS, pool, PTLOGNO(99904)
                 "%s", costly());
    is_int(seen.calls, 1, "the sink decides: debug once it is on");
    is_int(evaluated, 1, "then evaluated");

    /* 3. No log at all, or a sink without a level check. */
    memset(&seen, 0, sizeof(seen));
    evaluated = 0;
    pt_log_error(NULL, PT_LOG_EMERG, APR_SUCCESS, pool, PTLOGNO(99905)
                 "%s", costly());
    ok(seen.calls == 0 && evaluated == 0, "a NULL log logs nothing");
    ok(!pt_log_is_level(NULL, PT_LOG_EMERG), "and no level is on for it");
    pt_log_error(&all, PT_LOG_TRACE8, APR_SUCCESS, pool, PTLOGNO(99906)
                 "%s", "all");
    ok(seen.calls == 1 && seen.level == PT_LOG_TRACE8,
       "without is_level every level is on");

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
