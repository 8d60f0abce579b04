/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_text: what counts as printable, for text that ends up in a header,
 * a log line or a stored reason.
 *
 * Pure unit: APR only. Printable means printable ASCII, 0x20 to 0x7E, the
 * same in every locale (apr_isprint follows the C library's): no control
 * character that could end a line or a header, no byte of a UTF-8
 * sequence that a terminal or a log reader might take for something else.
 */
#ifndef PT_TEXT_H
#define PT_TEXT_H

#include <apr_pools.h>

/* Whether each of the len bytes at s is printable. */
int pt_text_is_printable(const char *s, apr_size_t len);

/* A NUL-terminated copy of the len bytes at s in which each byte that is
 * not printable has become '?'. */
char *pt_text_printable(apr_pool_t *p, const char *s, apr_size_t len);

#endif /* PT_TEXT_H */
