/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_clock: a time that only goes forward, for waits and deadlines.
 *
 * apr_time_now() is the wall clock, which NTP, an administrator or a
 * resumed virtual machine may step back or forth at any moment: a wait or
 * a deadline measured with it could end at once or last as long as the
 * step. Times that are stored or shown stay on the wall clock; how long
 * something took, and until when to wait, use this one. CLOCK_MONOTONIC is
 * the same for every process of the machine.
 */
#ifndef PT_CLOCK_H
#define PT_CLOCK_H

#include <time.h>
#include <apr_time.h>

/* Microseconds since some fixed point (the boot, on Linux). */
static inline apr_time_t pt_clock_monotonic(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_time_t)ts.tv_sec * APR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

#endif /* PT_CLOCK_H */
