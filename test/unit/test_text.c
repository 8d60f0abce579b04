/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests of pt_text: the printable check and copy. */

#include "pt_text.h"
#include "tap.h"

#include <apr_general.h>

static apr_pool_t *pool;

static void test_is_printable(void)
{
    char all[0x7F - 0x20];
    int c;

    for (c = 0x20; c < 0x7F; c++) {
        all[c - 0x20] = (char)c;
    }
    ok(pt_text_is_printable(all, sizeof(all)), "0x20 to 0x7E are printable");
    ok(pt_text_is_printable("", 0), "nothing is printable");
    ok(!pt_text_is_printable("a\x1f", 2), "0x1F is not");
    ok(!pt_text_is_printable("a\x7f", 2), "DEL is not");
    ok(!pt_text_is_printable("\x80", 1), "0x80 is not");
    ok(!pt_text_is_printable("caf\xc3\xa9", 5), "UTF-8 is not");
    ok(!pt_text_is_printable("a\r\nb", 4), "CR LF is not");
    ok(!pt_text_is_printable("ab\0c", 4), "a NUL inside the length is not");
    ok(pt_text_is_printable("ab\ncd", 2), "only len bytes are looked at");
}

static void test_printable(void)
{
    is_str(pt_text_printable(pool, "plain text ~", 12), "plain text ~",
           "printable text is copied as it is");
    is_str(pt_text_printable(pool, "a\r\nb\tc\x7f", 7), "a??b?c?",
           "control characters become '?'");
    is_str(pt_text_printable(pool, "caf\xc3\xa9\xff", 6), "caf???",
           "bytes above 0x7E become '?'");
    is_str(pt_text_printable(pool, "ab\0cd", 5), "ab?cd",
           "a NUL becomes '?' and the rest is kept");
    is_str(pt_text_printable(pool, "abcdef", 3), "abc",
           "only len bytes are copied, NUL-terminated");
}

int main(int argc, const char *const *argv)
{
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);

    test_is_printable();
    test_printable();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
