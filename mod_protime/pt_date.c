/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_date: calendar dates and ISO 8601 date-times (see pt_date.h). */

#include "pt_date.h"

#include <apr_date.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include <string.h>

/* After 400 years the Gregorian calendar repeats, day for day. */
#define PT_DATE_CYCLE_YEARS 400
#define PT_DATE_CYCLE apr_time_from_sec((apr_int64_t)146097 * 86400)

/* The decimal number of the n digits at s (already checked to be digits). */
static int pt_date_num(const char *s, int n)
{
    int v = 0;

    while (n-- > 0) {
        v = v * 10 + (*s++ - '0');
    }
    return v;
}

/* apr_time_exp_gmt_get for any year: APR counts from 1970 only, so an
 * earlier time is carried forward by whole cycles, converted, and carried
 * back. As in APR, a day past the end of its month runs over into the
 * next one. */
static apr_status_t pt_date_to_time(const apr_time_exp_t *xt, apr_time_t *t)
{
    apr_time_exp_t later = *xt;
    int cycles = 0;
    apr_status_t rv;

    if (xt->tm_year < 70) {
        cycles = (70 - xt->tm_year + PT_DATE_CYCLE_YEARS - 1)
                 / PT_DATE_CYCLE_YEARS;
    }
    later.tm_year += cycles * PT_DATE_CYCLE_YEARS;
    if ((rv = apr_time_exp_gmt_get(t, &later)) == APR_SUCCESS) {
        *t -= cycles * PT_DATE_CYCLE;
    }
    return rv;
}

/* Reads the date at text (shape already checked) into xt, and tells
 * whether it is a day of the calendar: APR lets a day run over, so the day
 * is converted and read back. */
static int pt_date_fields(const char *text, apr_time_exp_t *xt,
                          apr_time_t *day)
{
    apr_time_exp_t back;

    memset(xt, 0, sizeof(*xt));
    xt->tm_year = pt_date_num(text, 4) - 1900;
    xt->tm_mon = pt_date_num(text + 5, 2) - 1;
    xt->tm_mday = pt_date_num(text + 8, 2);
    if (xt->tm_year < 1 - 1900 || xt->tm_mday < 1
        || pt_date_to_time(xt, day) != APR_SUCCESS) {
        return 0;
    }
    apr_time_exp_gmt(&back, *day);
    return back.tm_year == xt->tm_year && back.tm_mon == xt->tm_mon
           && back.tm_mday == xt->tm_mday;
}

pt_date_check_t pt_date_parse(const char *text, apr_time_t *day)
{
    apr_time_exp_t xt;
    apr_time_t t;

    if (!text || !apr_date_checkmask(text, "####-##-##")) {
        return PT_DATE_MALFORMED;
    }
    if (!pt_date_fields(text, &xt, &t)) {
        return PT_DATE_NO_SUCH_DAY;
    }
    if (day) {
        *day = t;
    }
    return PT_DATE_OK;
}

const char *pt_date_format(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t xt;

    apr_time_exp_gmt(&xt, t);
    return apr_psprintf(p, "%04d-%02d-%02d", xt.tm_year + 1900,
                        xt.tm_mon + 1, xt.tm_mday);
}

apr_time_t pt_date_midnight(apr_time_t t)
{
    apr_time_exp_t xt;

    apr_time_exp_gmt(&xt, t);
    xt.tm_hour = xt.tm_min = xt.tm_sec = xt.tm_usec = 0;
    pt_date_to_time(&xt, &t);
    return t;
}

apr_time_t pt_date_add_years(apr_time_t day, int years)
{
    apr_time_exp_t xt;

    apr_time_exp_gmt(&xt, day);
    xt.tm_year += years;
    pt_date_to_time(&xt, &day);
    return day;
}

int pt_date_parse_time(const char *text, apr_time_t *out)
{
    apr_time_exp_t xt;
    apr_time_t day;
    apr_int32_t scale = 100000;
    const char *c;

    /* RFC 3339 allows a lowercase 't' and 'z'. */
    if (!text || !apr_date_checkmask(text, "####-##-##*")
        || (text[10] != 'T' && text[10] != 't')
        || !apr_date_checkmask(text + 11, "##:##:##*")
        || !pt_date_fields(text, &xt, &day)) {
        return 0;
    }
    xt.tm_hour = pt_date_num(text + 11, 2);
    xt.tm_min = pt_date_num(text + 14, 2);
    xt.tm_sec = pt_date_num(text + 17, 2);
    c = text + 19;
    if (*c == '.') {
        if (!apr_isdigit(*++c)) {
            return 0;
        }
        for (; apr_isdigit(*c); ++c) {
            xt.tm_usec += (*c - '0') * scale;
            scale /= 10;
        }
    }
    if ((*c == 'Z' || *c == 'z') && c[1] == '\0') {
        xt.tm_gmtoff = 0;
    }
    else if ((*c == '+' || *c == '-') && apr_date_checkmask(c + 1, "##:##")
             && pt_date_num(c + 1, 2) <= 23 && pt_date_num(c + 4, 2) <= 59) {
        xt.tm_gmtoff = (*c == '-' ? -1 : 1)
                       * (pt_date_num(c + 1, 2) * 3600
                          + pt_date_num(c + 4, 2) * 60);
    }
    else {
        return 0;
    }
    if (xt.tm_hour > 23 || xt.tm_min > 59 || xt.tm_sec > 59) {
        return 0;
    }
    return pt_date_to_time(&xt, out) == APR_SUCCESS;
}
