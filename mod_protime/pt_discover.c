/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_discover: finds how a refused delivery was signed (see pt_discover.h). */

#include "pt_discover.h"

#include <apr_lib.h>
#include <apr_strings.h>

#include <string.h>

/* Longer header names are not signature headers, and would not fit the
 * hint's place in shared memory. */
#define PT_DISCOVER_MAX_NAME 64
/* Unix seconds or an ISO 8601 time fit; anything longer is no timestamp. */
#define PT_DISCOVER_MAX_STAMP 40
/* Entries of one header value looked at (Standard Webhooks sends several,
 * space separated). */
#define PT_DISCOVER_MAX_ENTRIES 4

typedef struct {
    const char *header;
    /* The part of the value the signature was in, when it was not the
     * whole value (which is what ProtimeSignatureHeader reads): "v1=",
     * "v1,"; NULL for the whole value. */
    const char *part;
    pt_hash_t alg;
    pt_encoding_t enc;
    unsigned char sig[PT_SIG_MAX_LEN];
    apr_size_t len;
} pt_discover_candidate;

typedef struct {
    const char *value;
    const char *header;
    int t_part;         /* the "t=" part of header, not a header of its own */
} pt_discover_stamp;

struct pt_discover_t {
    apr_pool_t *pool;
    pt_discover_candidate cand[PT_DISCOVER_MAX_CANDIDATES];
    int ncand;
    pt_discover_stamp stamp[PT_DISCOVER_MAX_TIMESTAMPS];
    int nstamp;
    const char *webhook_id, *webhook_timestamp;
};

/* Adds text as a candidate if it decodes to a digest's length. */
static void pt_discover_add(pt_discover_t *d, const char *header,
                            const char *part, const char *text)
{
    static const struct {
        pt_hash_t alg;
        pt_encoding_t enc;
    } tries[] = {
        { PT_HASH_SHA256, PT_ENC_HEX }, { PT_HASH_SHA512, PT_ENC_HEX },
        { PT_HASH_SHA256, PT_ENC_BASE64 }, { PT_HASH_SHA512, PT_ENC_BASE64 },
    };
    pt_discover_candidate *c;
    apr_size_t i;

    if (d->ncand == PT_DISCOVER_MAX_CANDIDATES)
        return;
    c = &d->cand[d->ncand];
    for (i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        if (!pt_sig_decode_header(text, tries[i].alg, tries[i].enc, c->sig,
                                  &c->len)) {
            c->header = header;
            c->part = part;
            c->alg = tries[i].alg;
            c->enc = tries[i].enc;
            d->ncand++;
            return;
        }
    }
}

static void pt_discover_add_stamp(pt_discover_t *d, const char *header,
                                  const char *value, int t_part)
{
    apr_size_t len = strlen(value);

    if (d->nstamp == PT_DISCOVER_MAX_TIMESTAMPS || len == 0
        || len > PT_DISCOVER_MAX_STAMP)
        return;
    d->stamp[d->nstamp].value = value;
    d->stamp[d->nstamp].header = header;
    d->stamp[d->nstamp].t_part = t_part;
    d->nstamp++;
}

/* "t=...,v1=...,v0=..." (Stripe's form): the t= part is a timestamp, each v1=
 * part a candidate. */
static void pt_discover_parts(pt_discover_t *d, const char *header,
                              char *entry)
{
    char *state, *item;
    int n = 0;

    for (item = apr_strtok(entry, ",", &state);
         item && n < PT_DISCOVER_MAX_ENTRIES;
         item = apr_strtok(NULL, ",", &state), n++) {
        if (!strncmp(item, "t=", 2))
            pt_discover_add_stamp(d, header, item + 2, 1);
        else if (!strncmp(item, "v1=", 3))
            pt_discover_add(d, header, "a t=...,v1=... header", item + 3);
    }
}

/* One header's candidates: the whole value, or its space-separated
 * entries, each without a "v1," or "v1=" prefix. */
static void pt_discover_header(pt_discover_t *d, const char *name,
                               const char *value)
{
    char *copy, *state, *entry;
    int n = 0;

    if (strchr(value, ',') == NULL && strncmp(value, "v1=", 3)
        && !strchr(value, ' ')) {
        pt_discover_add(d, name, NULL, value);
        return;
    }
    copy = apr_pstrdup(d->pool, value);
    for (entry = apr_strtok(copy, " \t", &state);
         entry && n < PT_DISCOVER_MAX_ENTRIES;
         entry = apr_strtok(NULL, " \t", &state), n++) {
        if (!strncmp(entry, "v1,", 3))
            pt_discover_add(d, name, "a \"v1,\" entry", entry + 3);
        else if (strchr(entry, ','))
            pt_discover_parts(d, name, entry);
        else if (!strncmp(entry, "v1=", 3))
            pt_discover_add(d, name, "a \"v1=\" entry", entry + 3);
        else
            pt_discover_add(d, name, "one of several entries", entry);
    }
}

/* Whether a header name may go into a hint: short, and printable ASCII
 * (the hint goes to the error log and into JSON). */
static int pt_discover_is_name(const char *name)
{
    apr_size_t i;

    for (i = 0; name[i]; i++)
        if (i == PT_DISCOVER_MAX_NAME || !apr_isgraph(name[i])
            || (unsigned char)name[i] > 0x7e)
            return 0;
    return i > 0;
}

/* Whether name ends in "-Timestamp", in any case. */
static int pt_discover_is_stamp_header(const char *name)
{
    apr_size_t len = strlen(name);

    return len > 10 && !strcasecmp(name + len - 10, "-timestamp");
}

pt_discover_t *pt_discover_scan(apr_pool_t *p,
                                const apr_array_header_t *headers)
{
    const apr_table_entry_t *h = (const apr_table_entry_t *)headers->elts;
    pt_discover_t *d = apr_pcalloc(p, sizeof(*d));
    int i;

    d->pool = p;
    for (i = 0; i < headers->nelts && i < PT_DISCOVER_MAX_HEADERS; i++) {
        if (!h[i].key || !h[i].val || !pt_discover_is_name(h[i].key))
            continue;
        if (!strcasecmp(h[i].key, "webhook-id"))
            d->webhook_id = h[i].val;
        if (!strcasecmp(h[i].key, "webhook-timestamp"))
            d->webhook_timestamp = h[i].val;
        if (pt_discover_is_stamp_header(h[i].key))
            pt_discover_add_stamp(d, h[i].key, h[i].val, 0);
        else
            pt_discover_header(d, h[i].key, h[i].val);
    }
    return d->ncand ? d : NULL;
}

int pt_discover_candidates(const pt_discover_t *d)
{
    return d ? d->ncand : 0;
}

/* What an HMAC was computed over. */
typedef enum {
    PT_DISCOVER_BODY,
    PT_DISCOVER_STAMP_BODY,     /* timestamp "." body */
    PT_DISCOVER_ID_STAMP_BODY   /* webhook-id "." webhook-timestamp "." body */
} pt_discover_form_t;

typedef struct {
    pt_discover_form_t form;
    const pt_discover_stamp *stamp;     /* PT_DISCOVER_STAMP_BODY */
    const char *data;
    apr_size_t len;
} pt_discover_content;

static const char *pt_discover_join(apr_pool_t *p, const char *a,
                                    const char *b, const void *body,
                                    apr_size_t len, apr_size_t *out_len)
{
    apr_size_t la = strlen(a), lb = b ? strlen(b) + 1 : 0;
    char *buf = apr_palloc(p, la + 1 + lb + len);

    memcpy(buf, a, la);
    buf[la] = '.';
    if (b) {
        memcpy(buf + la + 1, b, lb - 1);
        buf[la + lb] = '.';
    }
    if (len)
        memcpy(buf + la + 1 + lb, body, len);
    *out_len = la + 1 + lb + len;
    return buf;
}

/* The hint for a candidate that matched over a content. */
static const char *pt_discover_hint(apr_pool_t *p,
                                    const pt_discover_candidate *c,
                                    const pt_discover_content *ct)
{
    const char *alg = c->alg == PT_HASH_SHA512 ? "sha512" : "sha256";
    const char *enc = c->enc == PT_ENC_HEX ? "hex" : "base64";
    const char *where = apr_psprintf(p, "signature in %s (%s%s%s)",
                                     c->header, enc, c->part ? ", in " : "",
                                     c->part ? c->part : "");
    const char *mac = c->alg == PT_HASH_SHA512 ? "HMAC-SHA512"
                                               : "HMAC-SHA256";

    switch (ct->form) {
    case PT_DISCOVER_BODY:
        if (c->part)
            return apr_psprintf(p, "%s over the body, %s: not supported by "
                                "a directive yet", mac, where);
        return apr_psprintf(p, "ProtimeSignatureHeader %s, "
                            "ProtimeSignatureEncoding %s, "
                            "ProtimeSignatureAlgorithm %s", c->header, enc,
                            alg);
    case PT_DISCOVER_STAMP_BODY:
        return apr_psprintf(p, "%s over timestamp.body, %s, timestamp %s "
                            "%s: not supported by a directive yet", mac,
                            where, ct->stamp->t_part ? "from the t= part of"
                                                     : "header",
                            ct->stamp->header);
    case PT_DISCOVER_ID_STAMP_BODY:
        if (!strcasecmp(c->header, "webhook-signature") && c->part
            && !strcmp(c->part, "a \"v1,\" entry") && c->enc == PT_ENC_BASE64
            && c->alg == PT_HASH_SHA256)
            return "ProtimeSignatureScheme standard-webhooks";
        return apr_psprintf(p, "%s over id.timestamp.body (webhook-id, "
                            "webhook-timestamp), %s: not supported by a "
                            "directive yet", mac, where);
    }
    return NULL;
}

const char *pt_discover_try(pt_discover_t *d, const void *body,
                            apr_size_t len, const pt_key_t *keys, int nkeys,
                            int *hmacs)
{
    pt_discover_content contents[2 + PT_DISCOVER_MAX_TIMESTAMPS];
    int ncontents = 0, i, j, n = 0;
    const char *hint = NULL;

    if (nkeys > PT_DISCOVER_MAX_KEYS)
        nkeys = PT_DISCOVER_MAX_KEYS;
    contents[ncontents].form = PT_DISCOVER_BODY;
    contents[ncontents].data = body;
    contents[ncontents++].len = len;
    for (i = 0; i < d->nstamp; i++) {
        pt_discover_content *ct = &contents[ncontents++];

        ct->form = PT_DISCOVER_STAMP_BODY;
        ct->stamp = &d->stamp[i];
        ct->data = pt_discover_join(d->pool, d->stamp[i].value, NULL, body,
                                    len, &ct->len);
    }
    if (d->webhook_id && d->webhook_timestamp) {
        pt_discover_content *ct = &contents[ncontents++];

        ct->form = PT_DISCOVER_ID_STAMP_BODY;
        ct->data = pt_discover_join(d->pool, d->webhook_id,
                                    d->webhook_timestamp, body, len,
                                    &ct->len);
    }
    for (i = 0; i < ncontents && !hint && nkeys > 0; i++) {
        for (j = 0; j < d->ncand && !hint; j++) {
            const pt_discover_candidate *c = &d->cand[j];

            n += nkeys;
            if (pt_sig_verify(c->alg, keys, nkeys, contents[i].data,
                              contents[i].len, c->sig, c->len) >= 0)
                hint = pt_discover_hint(d->pool, c, &contents[i]);
        }
    }
    if (hmacs)
        *hmacs = n;
    return hint;
}
