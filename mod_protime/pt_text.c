/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_text: what counts as printable (see pt_text.h). */

#include "pt_text.h"

static int pt_text_printable_byte(char c)
{
    return (unsigned char)c >= 0x20 && (unsigned char)c <= 0x7E;
}

int pt_text_is_printable(const char *s, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (!pt_text_printable_byte(s[i])) {
            return 0;
        }
    }
    return 1;
}

char *pt_text_printable(apr_pool_t *p, const char *s, apr_size_t len)
{
    char *out = apr_palloc(p, len + 1);
    apr_size_t i;

    for (i = 0; i < len; i++) {
        out[i] = pt_text_printable_byte(s[i]) ? s[i] : '?';
    }
    out[len] = '\0';
    return out;
}
