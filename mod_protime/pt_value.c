/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_value: parsing of configuration values (see pt_value.h). */

#include "pt_value.h"

#include <apr_env.h>
#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Reads at most PT_SECRET_MAX + 1 bytes of f, so that an overlong value can
 * be told from one that just fits, and keeps the first line. *too_long, if
 * given, tells whether f had more than PT_SECRET_MAX bytes. */
static const char *pt_value_first_line(apr_pool_t *p, apr_file_t *f,
                                       const char *what, const char **out,
                                       int *too_long)
{
    char *buf = apr_palloc(p, PT_SECRET_MAX + 1);
    apr_size_t n = 0, len;
    apr_status_t rv;
    char errbuf[120];

    rv = apr_file_read_full(f, buf, PT_SECRET_MAX + 1, &n);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(p, "cannot read %s: %s", what,
                            apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    for (len = 0; len < n && buf[len] != '\n'; ++len)
        ;
    if (too_long) {
        *too_long = (n > PT_SECRET_MAX);
    }
    if (len > PT_SECRET_MAX) {
        return apr_psprintf(p, "the secret in %s is longer than %d bytes",
                            what, PT_SECRET_MAX);
    }
    if (len > 0 && buf[len - 1] == '\r') {
        --len;
    }
    /* A NUL would silently cut the secret short once used as a string. */
    if (memchr(buf, '\0', len)) {
        return apr_psprintf(p, "the secret in %s contains a NUL byte", what);
    }
    buf[len] = '\0';
    *out = buf;
    return NULL;
}

static const char *pt_value_file(apr_pool_t *p, const char *path,
                                 const char **out)
{
    apr_file_t *f;
    apr_status_t rv;
    const char *err;
    char errbuf[120];

    if (!*path) {
        return "file: needs a path";
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot open %s: %s", path,
                            apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    err = pt_value_first_line(p, f, path, out, NULL);
    apr_file_close(f);
    return err;
}

static const char *pt_value_env(apr_pool_t *p, const char *name,
                                const char **out)
{
    char *value;

    if (!*name) {
        return "env: needs a variable name";
    }
    if (apr_env_get(&value, name, p) != APR_SUCCESS) {
        return apr_psprintf(p, "environment variable %s is not set", name);
    }
    *out = value;
    return NULL;
}

static const char *pt_value_check_program(apr_pool_t *p, const char *path)
{
    apr_finfo_t finfo;
    apr_status_t rv;
    char errbuf[120];

    rv = apr_stat(&finfo, path, APR_FINFO_TYPE, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot access program %s: %s", path,
                            apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    /* access() asks the kernel, which also knows about ACLs and root's
     * special case, rather than guessing from the mode bits. */
    if (finfo.filetype != APR_REG || access(path, X_OK) != 0) {
        return apr_psprintf(p, "%s is not an executable file", path);
    }
    return NULL;
}

/* Not httpd's ap_get_exec_line, which would serve otherwise: it ignores
 * the program's exit status, so a helper that fails after printing
 * something would hand that over as the key, and it waits for the program
 * after reading at most 8 KiB of its first line, so one that keeps writing
 * would hold httpd's start for ever. */
static const char *pt_value_exec(apr_pool_t *p, const char *cmdline,
                                 int run_exec, const char **out)
{
    char **argv;
    apr_procattr_t *attr;
    apr_proc_t proc;
    apr_exit_why_e why;
    apr_status_t rv;
    const char *err;
    char errbuf[120];
    int code, too_long = 0;

    if (apr_tokenize_to_argv(cmdline, &argv, p) != APR_SUCCESS
        || !argv[0] || !*argv[0]) {
        return "exec: needs a program";
    }
    if ((err = pt_value_check_program(p, argv[0])) != NULL) {
        return err;
    }
    if (!run_exec) {
        *out = NULL;
        return NULL;
    }

    /* APR_PROGRAM_ENV: no shell and no PATH search, but the environment is
     * kept, as secret helpers (vault, pass, ...) usually need it. stdin and
     * stderr are inherited so that the program can report its problems. */
    if ((rv = apr_procattr_create(&attr, p)) != APR_SUCCESS
        || (rv = apr_procattr_io_set(attr, APR_NO_PIPE, APR_FULL_BLOCK,
                                     APR_NO_PIPE)) != APR_SUCCESS
        || (rv = apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV))
           != APR_SUCCESS
        || (rv = apr_proc_create(&proc, argv[0], (const char *const *)argv,
                                 NULL, attr, p)) != APR_SUCCESS) {
        return apr_psprintf(p, "cannot run %s: %s", argv[0],
                            apr_strerror(rv, errbuf, sizeof(errbuf)));
    }

    err = pt_value_first_line(p, proc.out, argv[0], out, &too_long);
    apr_file_close(proc.out);
    /* A program with more to write might never exit (SIGPIPE can be
     * ignored); its output is refused anyway. */
    if (too_long) {
        apr_proc_kill(&proc, SIGKILL);
    }
    rv = apr_proc_wait(&proc, &code, &why, APR_WAIT);
    if (rv != APR_CHILD_DONE) {
        return apr_psprintf(p, "cannot wait for %s: %s", argv[0],
                            apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    if (too_long) {
        return apr_psprintf(p, "the output of %s is longer than %d bytes",
                            argv[0], PT_SECRET_MAX);
    }
    if (APR_PROC_CHECK_SIGNALED(why)) {
        return apr_psprintf(p, "%s was killed by signal %d", argv[0], code);
    }
    if (code != 0) {
        return apr_psprintf(p, "%s exited with status %d", argv[0], code);
    }
    return err;
}

const char *pt_value_secret(apr_pool_t *p, const char *spec, int run_exec,
                            const char **out)
{
    const char *err = NULL, *value = spec;

    if (strncmp(spec, "file:", 5) == 0) {
        err = pt_value_file(p, spec + 5, &value);
    }
    else if (strncmp(spec, "env:", 4) == 0) {
        err = pt_value_env(p, spec + 4, &value);
    }
    else if (strncmp(spec, "exec:", 5) == 0) {
        err = pt_value_exec(p, spec + 5, run_exec, &value);
    }
    if (err) {
        return err;
    }
    /* value is NULL when the program was only checked, not run. */
    if (value && !*value) {
        return "the secret is empty";
    }
    *out = value;
    return NULL;
}

/* Reads the decimal digits at *s, advancing *s past them, into *out. Values
 * too large for 64 bits saturate, which every caller's limit rejects.
 * Returns 0 if there is no digit. */
static int pt_value_digits(const char **s, apr_uint64_t *out)
{
    const char *start = *s;
    apr_uint64_t v = 0;

    for (; apr_isdigit(**s); ++*s) {
        unsigned d = **s - '0';

        v = v > (APR_UINT64_MAX - d) / 10 ? APR_UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return *s != start;
}

const char *pt_value_duration(const char *text, apr_interval_time_t *out)
{
    const char *s = text;
    apr_uint64_t v;
    apr_int64_t unit;

    if (!pt_value_digits(&s, &v)) {
        return "the duration must be a non-negative number with an "
               "optional unit s, m, h or d";
    }
    switch (*s) {
    case '\0':
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        unit = 0;
        break;
    }
    if (unit == 0 || (*s && s[1])) {
        return "the duration must be a non-negative number with an "
               "optional unit s, m, h or d";
    }
    /* apr_interval_time_t counts microseconds. */
    unit *= APR_USEC_PER_SEC;
    if (v > (apr_uint64_t)(APR_INT64_MAX / unit)) {
        return "the duration is too large";
    }
    *out = (apr_interval_time_t)v * unit;
    return NULL;
}

const char *pt_value_size(const char *text, apr_off_t min, apr_off_t max,
                          apr_off_t *out)
{
    const char *s = text;
    apr_uint64_t v;
    int shift;

    if (!pt_value_digits(&s, &v)) {
        return "the size must be a number of bytes with an optional "
               "K, M or G suffix";
    }
    switch (*s) {
    case '\0':
        shift = 0;
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        shift = -1;
        break;
    }
    if (shift < 0 || (*s && s[1])) {
        return "the size must be a number of bytes with an optional "
               "K, M or G suffix";
    }
    /* Compared before shifting, so that the shift cannot overflow. */
    if (v > ((apr_uint64_t)max >> shift)) {
        return "the size is too large";
    }
    if ((apr_off_t)(v << shift) < min) {
        return "the size is too small";
    }
    *out = (apr_off_t)(v << shift);
    return NULL;
}
