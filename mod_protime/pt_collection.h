/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_collection: the Protime collections a webhook can subscribe to.
 *
 * Pure unit. The names are those of Protime's webhooks reference
 * (../shared/reference/protime-api.md, section 11): the collectionName of
 * POST /webhooks, the path of the collection's REST and delta endpoints,
 * and the <collection> of its scope connector-protimeapi-<collection>.read.
 * Access clockings have a typed table of their own; every other collection
 * is kept as received (protime_records).
 */
#ifndef PT_COLLECTION_H
#define PT_COLLECTION_H

#define PT_COLLECTION_ACCESS_CLOCKINGS "access-clockings"

/* The known names, in alphabetical order, NULL-terminated. */
extern const char *const pt_collection_names[];

/* Whether name is one of pt_collection_names (compared exactly: Protime's
 * names are lower case). */
int pt_collection_known(const char *name);

#endif /* PT_COLLECTION_H */
