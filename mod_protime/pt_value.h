/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_value: parsing of configuration values (secrets, durations, sizes).
 *
 * Pure unit: APR only. Every function returns NULL on success or an error
 * message that a directive handler can prefix with the directive's name.
 * Messages never quote a secret.
 */
#ifndef PT_VALUE_H
#define PT_VALUE_H

#include <apr_pools.h>
#include <apr_time.h>

/* Longest secret accepted from a file or a program, in bytes. */
#define PT_SECRET_MAX 65536

/* Resolves a secret specification:
 *   "file:/path"          first line of the file (trailing CR/LF removed)
 *   "env:NAME"            the environment variable NAME
 *   "exec:/path [args]"   first line of the program's standard output; the
 *                         program must exit 0. Arguments are split as the
 *                         shell would for plain words and quotes
 *                         (apr_tokenize_to_argv). With run_exec == 0 the
 *                         program is only checked to be an executable file
 *                         and *out is set to NULL.
 *   anything else         the literal text.
 * An empty result is an error. */
const char *pt_value_secret(apr_pool_t *p, const char *spec, int run_exec,
                            const char **out);

/* Parses a duration: a non-negative decimal number with an optional unit
 * s, m, h or d (seconds without unit), e.g. "90", "30s", "15m", "1h", "1d".
 * Overflow, junk, a negative or empty value is an error. */
const char *pt_value_duration(const char *text, apr_interval_time_t *out);

/* Parses a size in bytes: a decimal number with an optional K, M or G suffix
 * (powers of 1024, either case). Must be between min and max inclusive. */
const char *pt_value_size(const char *text, apr_off_t min, apr_off_t max,
                          apr_off_t *out);

#endif /* PT_VALUE_H */
