/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* tap.h: the few macros the unit tests need to print TAP.
 * Each test program ends with "N passed, N failed" and exits 1 on failure. */
#ifndef PT_TAP_H
#define PT_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_run, tap_failed;

#define ok(cond, ...) do {                                              \
        int ok_ = (cond) ? 1 : 0;                                       \
        ++tap_run;                                                      \
        if (!ok_) ++tap_failed;                                         \
        printf("%sok %d - ", ok_ ? "" : "not ", tap_run);               \
        printf(__VA_ARGS__);                                            \
        printf("\n");                                                   \
        if (!ok_) printf("#   failed at %s line %d: %s\n",              \
                         __FILE__, __LINE__, #cond);                     \
    } while (0)

#define is_str(got, want, ...) do {                                     \
        const char *g_ = (got), *w_ = (want);                           \
        ok((g_ == NULL && w_ == NULL)                                   \
           || (g_ && w_ && strcmp(g_, w_) == 0), __VA_ARGS__);          \
        if (!((g_ == NULL && w_ == NULL) || (g_ && w_ && !strcmp(g_, w_)))) \
            printf("#   got: %s\n#   want: %s\n", g_ ? g_ : "(null)",   \
                   w_ ? w_ : "(null)");                                 \
    } while (0)

#define is_int(got, want, ...) do {                                     \
        long long g_ = (long long)(got), w_ = (long long)(want);        \
        ok(g_ == w_, __VA_ARGS__);                                      \
        if (g_ != w_) printf("#   got: %lld\n#   want: %lld\n", g_, w_); \
    } while (0)

static int tap_done(void)
{
    printf("1..%d\n", tap_run);
    printf("%d passed, %d failed\n", tap_run - tap_failed, tap_failed);
    return tap_failed ? 1 : 0;
}

#endif /* PT_TAP_H */
