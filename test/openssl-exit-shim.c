/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* openssl-exit-shim: an LD_PRELOAD library for test/child-exit.pl that
 * makes the worst timing of a process exit certain. OpenSSL frees each
 * thread's state in a thread-exit destructor, and everything, that state
 * included, in OPENSSL_cleanup() at exit. A thread that ends while the
 * process exits may run its destructor after that cleanup: a double free.
 *
 * Here OpenSSL's destructor waits (up to 500 ms) for OPENSSL_cleanup() to
 * finish, and OPENSSL_cleanup() waits 200 ms before it starts, so that any
 * thread that still holds OpenSSL state when the process exits frees it
 * afterwards. Such a thread is reported, and the double free then happens
 * for real: the sanitizers or glibc report it. Reports go to the file
 * named by OPENSSL_EXIT_SHIM_LOG, else to stderr.
 *
 * Both functions are reached through the dynamic linker: OpenSSL creates
 * its key with pthread_key_create() and registers OPENSSL_cleanup with
 * atexit() by address. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void (*shim_openssl_destructor)(void *);
static volatile int shim_cleanup_done, shim_pending;

static void shim_report(const char *what)
{
    const char *name = getenv("OPENSSL_EXIT_SHIM_LOG");
    FILE *out = name ? fopen(name, "a") : NULL;

    fprintf(out ? out : stderr, "openssl-exit-shim: pid %d: %s\n",
            (int)getpid(), what);
    if (out)
        fclose(out);
}

static void shim_late_destructor(void *state)
{
    int i;

    __sync_fetch_and_add(&shim_pending, 1);
    for (i = 0; i < 500 && !shim_cleanup_done; i++)
        usleep(1000);
    if (shim_cleanup_done)
        shim_report("a thread freed its OpenSSL state after OPENSSL_cleanup");
    shim_openssl_destructor(state);
    __sync_fetch_and_sub(&shim_pending, 1);
}

int pthread_key_create(pthread_key_t *key, void (*destructor)(void *))
{
    static int (*real)(pthread_key_t *, void (*)(void *));
    Dl_info info;

    if (!real)
        real = (int (*)(pthread_key_t *, void (*)(void *)))
               dlsym(RTLD_NEXT, "pthread_key_create");
    if (destructor && dladdr((void *)destructor, &info) && info.dli_fname
        && strstr(info.dli_fname, "libcrypto")) {
        shim_report("watching OpenSSL's thread destructor");
        shim_openssl_destructor = destructor;
        destructor = shim_late_destructor;
    }
    return real(key, destructor);
}

void OPENSSL_cleanup(void)
{
    void (*real)(void) = (void (*)(void))dlsym(RTLD_NEXT, "OPENSSL_cleanup");
    int i;

    usleep(200000);
    real();
    shim_cleanup_done = 1;
    /* Keeps the process until the late destructors are done, so that what
     * they do is seen. */
    for (i = 0; i < 1000 && shim_pending; i++)
        usleep(1000);
}
