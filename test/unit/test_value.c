/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests of pt_value: secrets, durations and sizes. */

#include "pt_value.h"
#include "tap.h"

#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_strings.h>

#include <stdlib.h>
#include <unistd.h>

static apr_pool_t *pool;

/* Resolves spec and returns the secret, or "!" and the error. */
static const char *secret(const char *spec, int run_exec)
{
    const char *out = "unset", *err = pt_value_secret(pool, spec, run_exec,
                                                       &out);

    if (err) {
        return apr_pstrcat(pool, "!", err, NULL);
    }
    return out;
}

static apr_status_t remove_temp(void *name)
{
    unlink(name);
    return APR_SUCCESS;
}

/* Writes len bytes of data to a new temporary file with permissions perms,
 * removed when the pool goes, and returns its name. */
static const char *temp_file(const char *data, apr_size_t len,
                             apr_fileperms_t perms)
{
    char *name = apr_pstrdup(pool, "/tmp/pt_valueXXXXXX");
    apr_file_t *f;

    if (apr_file_mktemp(&f, name, APR_FOPEN_CREATE | APR_FOPEN_WRITE
                        | APR_FOPEN_EXCL, pool) != APR_SUCCESS
        || apr_file_write_full(f, data, len, NULL) != APR_SUCCESS
        || apr_file_close(f) != APR_SUCCESS
        || apr_file_perms_set(name, perms) != APR_SUCCESS) {
        printf("# cannot write a temporary file\n");
        exit(1);
    }
    apr_pool_cleanup_register(pool, name, remove_temp, apr_pool_cleanup_null);
    return name;
}

#define RW (APR_FPROT_UREAD | APR_FPROT_UWRITE)
#define text_file(s) temp_file(s, sizeof(s) - 1, RW)
#define SCRIPT "#!/bin/sh\nprintf 'one\\r\\ntwo\\n'\n"

static int starts_with(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static void test_literal_file_env(void)
{
    const char *name, *got;
    char *big;

    is_str(secret("s3cret", 1), "s3cret", "literal");
    is_str(secret("filename", 1), "filename", "no prefix means literal");
    is_str(secret("", 1), "!the secret is empty", "empty literal");

    name = text_file("first\nsecond\n");
    is_str(secret(apr_pstrcat(pool, "file:", name, NULL), 1), "first",
           "file: first line");
    name = text_file("crlf\r\nsecond\r\n");
    is_str(secret(apr_pstrcat(pool, "file:", name, NULL), 1), "crlf",
           "file: CRLF removed");
    name = text_file("no newline");
    is_str(secret(apr_pstrcat(pool, "file:", name, NULL), 1), "no newline",
           "file: without a final newline");
    name = text_file(" keep blanks \t\n");
    is_str(secret(apr_pstrcat(pool, "file:", name, NULL), 1),
           " keep blanks \t", "file: blanks kept");
    name = text_file("");
    is_str(secret(apr_pstrcat(pool, "file:", name, NULL), 1),
           "!the secret is empty", "file: empty file");
    name = text_file("\nsecond\n");
    is_str(secret(apr_pstrcat(pool, "file:", name, NULL), 1),
           "!the secret is empty", "file: empty first line");
    name = text_file("a\0b\n");
    ok(starts_with(secret(apr_pstrcat(pool, "file:", name, NULL), 1),
                   "!the secret in /tmp/pt_value"), "file: NUL byte refused");
    got = secret("file:/nonexistent/pt_value", 1);
    ok(starts_with(got, "!cannot open /nonexistent/pt_value: "),
       "file: missing file (%s)", got);
    is_str(secret("file:", 1), "!file: needs a path", "file: without path");

    big = apr_palloc(pool, PT_SECRET_MAX + 2);
    memset(big, 'x', PT_SECRET_MAX + 1);
    big[PT_SECRET_MAX] = '\n';
    name = temp_file(big, PT_SECRET_MAX + 1, RW);
    is_int(strlen(secret(apr_pstrcat(pool, "file:", name, NULL), 1)),
           PT_SECRET_MAX, "file: longest secret");
    big[PT_SECRET_MAX] = 'x';
    name = temp_file(big, PT_SECRET_MAX + 1, RW);
    got = secret(apr_pstrcat(pool, "file:", name, NULL), 1);
    ok(starts_with(got, "!the secret in ") && strstr(got, "is longer than"),
       "file: secret too long (%.60s)", got);

    setenv("PT_TEST_SECRET", "from env", 1);
    is_str(secret("env:PT_TEST_SECRET", 1), "from env", "env:");
    setenv("PT_TEST_SECRET", "", 1);
    is_str(secret("env:PT_TEST_SECRET", 1), "!the secret is empty",
           "env: empty variable");
    unsetenv("PT_TEST_SECRET");
    is_str(secret("env:PT_TEST_SECRET", 1),
           "!environment variable PT_TEST_SECRET is not set", "env: unset");
    is_str(secret("env:", 1), "!env: needs a variable name", "env: no name");
}

static void test_exec(void)
{
    const char *name, *got, *out;

    is_str(secret("exec:/bin/echo hello  world", 1), "hello world",
           "exec: arguments split");
    is_str(secret("exec:/bin/echo 'hello  world'", 1), "hello  world",
           "exec: quoted argument");
    name = temp_file(SCRIPT, sizeof(SCRIPT) - 1,
                     APR_FPROT_UREAD | APR_FPROT_UEXECUTE);
    is_str(secret(apr_pstrcat(pool, "exec:", name, NULL), 1), "one",
           "exec: script, first line, CRLF removed");
    setenv("PT_TEST_SECRET", "inherited", 1);
    is_str(secret("exec:/bin/sh -c 'echo $PT_TEST_SECRET'", 1), "inherited",
           "exec: environment kept");
    unsetenv("PT_TEST_SECRET");

    got = secret("exec:/bin/sh -c 'echo topsecret; exit 3'", 1);
    is_str(got, "!/bin/sh exited with status 3", "exec: non-zero exit");
    ok(!strstr(got, "topsecret"), "exec: error does not quote the output");
    is_str(secret("exec:/bin/false", 1), "!/bin/false exited with status 1",
           "exec: exit 1");
    is_str(secret("exec:/bin/sh -c 'kill -9 $$'", 1),
           "!/bin/sh was killed by signal 9", "exec: killed by a signal");
    is_str(secret("exec:/bin/true", 1), "!the secret is empty",
           "exec: no output");
    is_str(secret("exec:/bin/sh -c 'while :; do echo xxxxxxxxxxxxxxx; done'",
                  1),
           apr_psprintf(pool, "!the output of /bin/sh is longer than %d bytes",
                        PT_SECRET_MAX),
           "exec: endless output is cut off");

    name = text_file("#!/bin/sh\necho hi\n");
    got = secret(apr_pstrcat(pool, "exec:", name, NULL), 1);
    is_str(got, apr_pstrcat(pool, "!", name, " is not an executable file",
                            NULL), "exec: file without execute permission");
    got = secret(apr_pstrcat(pool, "exec:", name, NULL), 0);
    is_str(got, apr_pstrcat(pool, "!", name, " is not an executable file",
                            NULL), "exec: check only, not executable");
    is_str(secret("exec:/tmp", 0), "!/tmp is not an executable file",
           "exec: a directory");
    got = secret("exec:/nonexistent/program arg", 0);
    ok(starts_with(got, "!cannot access program /nonexistent/program: "),
       "exec: missing program (%s)", got);
    is_str(secret("exec:", 1), "!exec: needs a program", "exec: nothing");
    is_str(secret("exec:   ", 0), "!exec: needs a program", "exec: blanks");

    out = "unset";
    ok(pt_value_secret(pool, "exec:/bin/false", 0, &out) == NULL
       && out == NULL, "exec: check only succeeds without running");
}

/* Parses a duration and returns its seconds, or -1 on error. */
static long long seconds(const char *text)
{
    apr_interval_time_t t = -2;

    if (pt_value_duration(text, &t)) {
        return -1;
    }
    return t % APR_USEC_PER_SEC ? -3 : t / APR_USEC_PER_SEC;
}

static void test_duration(void)
{
    apr_interval_time_t t;

    is_int(seconds("90"), 90, "no unit means seconds");
    is_int(seconds("30s"), 30, "s");
    is_int(seconds("15m"), 900, "m");
    is_int(seconds("2h"), 7200, "h");
    is_int(seconds("1d"), 86400, "d");
    is_int(seconds("0"), 0, "zero");
    is_int(seconds("007m"), 420, "leading zeros");
    is_int(seconds("9223372036854"), 9223372036854LL, "largest seconds");
    is_int(seconds("106751991d"), 106751991LL * 86400, "largest days");

    ok(pt_value_duration("1s", &t) == NULL && t == APR_USEC_PER_SEC,
       "value is in microseconds");
    is_str(pt_value_duration("9223372036855", &t),
           "the duration is too large", "seconds overflow");
    is_str(pt_value_duration("106751992d", &t), "the duration is too large",
           "days overflow");
    is_str(pt_value_duration("153722867281m", &t), "the duration is too large",
           "minutes overflow");
    is_str(pt_value_duration("99999999999999999999999999h", &t),
           "the duration is too large", "beyond 64 bits");
    is_str(pt_value_duration("", &t), "the duration must be a non-negative "
           "number with an optional unit s, m, h or d", "empty");
    is_int(seconds("-5"), -1, "negative");
    is_int(seconds("abc"), -1, "junk");
    is_int(seconds("h"), -1, "unit alone");
    is_int(seconds("5x"), -1, "unknown unit");
    is_int(seconds("5H"), -1, "upper-case unit");
    is_int(seconds("1hh"), -1, "two units");
    is_int(seconds("1h30m"), -1, "combined units");
    is_int(seconds("1.5h"), -1, "fraction");
    is_int(seconds(" 5"), -1, "leading blank");
    is_int(seconds("5 s"), -1, "blank before unit");
    is_int(seconds("+5"), -1, "plus sign");
}

/* Parses a size within [min, max] and returns it, or -1 on error. */
static long long size(const char *text, apr_off_t min, apr_off_t max)
{
    apr_off_t n = -2;

    return pt_value_size(text, min, max, &n) ? -1 : n;
}

static void test_size(void)
{
    const apr_off_t big = APR_INT64_MAX;
    apr_off_t n;

    is_int(size("1048576", 1, big), 1048576, "plain bytes");
    is_int(size("0", 0, big), 0, "zero");
    is_int(size("1k", 1, big), 1024, "k");
    is_int(size("3K", 1, big), 3072, "K");
    is_int(size("2m", 1, big), 2097152, "m");
    is_int(size("2M", 1, big), 2097152, "M");
    is_int(size("1g", 1, big), 1073741824, "g");
    is_int(size("5G", 1, big), 5368709120LL, "G");
    is_int(size("1M", 1024, 1048576), 1048576, "max is inclusive");
    is_int(size("1K", 1024, 1048576), 1024, "min is inclusive");

    is_str(pt_value_size("1048577", 1024, 1048576, &n),
           "the size is too large", "above max");
    is_str(pt_value_size("2M", 1024, 1048576, &n), "the size is too large",
           "above max with suffix");
    is_str(pt_value_size("1023", 1024, 1048576, &n), "the size is too small",
           "below min");
    is_str(pt_value_size("8589934592G", 0, big, &n), "the size is too large",
           "suffix overflows 64 bits");
    is_str(pt_value_size("8589934591G", 0, big, &n), NULL,
           "largest number of G");
    is_str(pt_value_size("99999999999999999999999", 0, big, &n),
           "the size is too large", "number beyond 64 bits");
    is_str(pt_value_size("", 0, big, &n), "the size must be a number of "
           "bytes with an optional K, M or G suffix", "empty");
    is_int(size("-1", 0, big), -1, "negative");
    is_int(size("K", 0, big), -1, "suffix alone");
    is_int(size("1KB", 0, big), -1, "KB");
    is_int(size("1T", 0, big), -1, "unknown suffix");
    is_int(size("1.5M", 0, big), -1, "fraction");
    is_int(size("1 K", 0, big), -1, "blank before suffix");
}

int main(int argc, const char *const *argv)
{
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);

    test_literal_file_env();
    test_exec();
    test_duration();
    test_size();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
