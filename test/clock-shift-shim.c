/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* An LD_PRELOAD shim for test/clock-step.pl: the wall clock of the process
 * (gettimeofday, clock_gettime on CLOCK_REALTIME) is moved by the number of
 * seconds written in the file CLOCK_SHIFT_FILE names, read at every call, as
 * NTP or a resumed virtual machine would step it. CLOCK_MONOTONIC is left
 * alone, as the kernel leaves it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long clock_shift_seconds(void)
{
    const char *file = getenv("CLOCK_SHIFT_FILE");
    char buf[32];
    ssize_t n;
    int fd;

    if (!file || (fd = open(file, O_RDONLY)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

/* The kernel's clocks through the system call itself, not dlsym: the
 * sanitizers' allocator reads the clock while it allocates, and dlsym may
 * allocate. */
int clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = (int)syscall(SYS_clock_gettime, id, ts);

    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += clock_shift_seconds();
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz)
{
    struct timespec ts;

    if (!tv)
        return 0;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}
