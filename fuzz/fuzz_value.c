/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* libFuzzer target: configuration values (durations, sizes, secrets).
 *
 * The text goes through each parser; a success must yield a value in the
 * documented range. Secrets are tried as literals, as env: names, and as
 * the content of a file: of our own (a fuzzer-made file: path could name a
 * FIFO or a device and block; exec: with run_exec 0 only looks at the file).
 */
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pt_value.h"

static apr_pool_t *fuzz_pool;
static char fuzz_secret_file[64];

static void fuzz_remove_secret_file(void)
{
    unlink(fuzz_secret_file);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&fuzz_pool, NULL);
    setenv("PROTIME_FUZZ_SECRET", "from-the-environment", 1);
    snprintf(fuzz_secret_file, sizeof(fuzz_secret_file),
             "/tmp/protime-fuzz-secret.%ld", (long)getpid());
    atexit(fuzz_remove_secret_file);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *text, *secret;
    apr_interval_time_t duration;
    apr_off_t bytes;

    apr_pool_create(&p, fuzz_pool);
    text = apr_pstrmemdup(p, (const char *)data, size);

    if (!pt_value_duration(text, &duration) && duration < 0)
        abort();
    if (!pt_value_size(text, 1, APR_INT64_C(1) << 40, &bytes)
        && (bytes < 1 || bytes > APR_INT64_C(1) << 40))
        abort();
    if (!pt_value_size(text, 0, 1024, &bytes) && (bytes < 0 || bytes > 1024))
        abort();

    if (strncmp(text, "file:", 5) != 0) {
        if (!pt_value_secret(p, text, 0, &secret)
            && strncmp(text, "exec:", 5) != 0 && (!secret || !*secret))
            abort();
    }
    if (!pt_value_secret(p, apr_pstrcat(p, "env:", text, NULL), 0, &secret)
        && (!secret || !*secret))
        abort();

    /* The bytes as a secret file: its first line, without its line end. */
    {
        FILE *f = fopen(fuzz_secret_file, "wb");
        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
            abort();
        if (!pt_value_secret(p, apr_pstrcat(p, "file:", fuzz_secret_file, NULL),
                             0, &secret)
            && (!secret || !*secret || strchr(secret, '\n')
                || strlen(secret) > PT_SECRET_MAX))
            abort();
    }
    apr_pool_destroy(p);
    return 0;
}
