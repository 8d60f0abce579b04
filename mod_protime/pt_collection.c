/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_collection: the Protime collections (see pt_collection.h). */

#include <string.h>

#include "pt_collection.h"

const char *const pt_collection_names[] = {
    "absence-definitions", "absence-groups", "absences",
    PT_COLLECTION_ACCESS_CLOCKINGS, "activity-durations", "assignments",
    "break-definitions", "breaks", "calculated-totals", "clockings",
    "contracts", "counter-definitions", "counter-groups", "counters",
    "paid-presences", "people", "shift-definitions", "work-interruptions",
    NULL
};

int pt_collection_known(const char *name)
{
    const char *const *n;

    for (n = pt_collection_names; name && *n; n++) {
        if (!strcmp(*n, name))
            return 1;
    }
    return 0;
}
