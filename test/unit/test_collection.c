/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests of pt_collection: the names Protime's webhooks accept. */

#include <string.h>

#include "pt_collection.h"
#include "tap.h"

int main(void)
{
    const char *const *n;
    int count = 0, sorted = 1;

    for (n = pt_collection_names; *n; n++) {
        count++;
        if (n != pt_collection_names && strcmp(n[-1], *n) >= 0)
            sorted = 0;
    }
    is_int(count, 18, "the 18 collections of the webhooks reference");
    ok(sorted, "in alphabetical order, each once");
    ok(pt_collection_known("access-clockings"), "access-clockings is known");
    ok(pt_collection_known("people"), "people is known");
    ok(pt_collection_known("work-interruptions"), "the last one is known");
    ok(!pt_collection_known("persons"), "persons (the name before 05/05/2025) is not");
    ok(!pt_collection_known("People"), "names are compared exactly");
    ok(!pt_collection_known("access-clocking"), "nor a prefix");
    ok(!pt_collection_known(""), "nor the empty name");
    ok(!pt_collection_known(NULL), "nor NULL");
    return tap_done();
}
