/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* An LD_PRELOAD shim for test/durability.pl: each fsync() and fdatasync()
 * of the process appends one byte to the file FSYNC_COUNT_LOG names, so
 * that the test can count how often the disk was asked to persist, then
 * calls the real one. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static void fsync_count_note(void)
{
    const char *log = getenv("FSYNC_COUNT_LOG");
    int fd;

    if (!log || (fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644)) < 0)
        return;
    (void)!write(fd, ".", 1);
    close(fd);
}

int fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

    fsync_count_note();
    return real(fd);
}

int fdatasync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

    fsync_count_note();
    return real(fd);
}
