/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests for pt_shared: a sequence lock and a claim in shared memory,
 * whose writer or claimer lives and finishes, or dies halfway. Each wait
 * runs under alarm(): a reader that waits for ever on a dead process ends
 * the program, and the test fails. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_general.h>
#include <apr_time.h>

#include "pt_clock.h"
#include "pt_shared.h"
#include "tap.h"

typedef struct {
    pt_seqlock_t lock;
    char text[64];
    volatile apr_uint32_t claim;
    char name[64];
} shared_t;

static shared_t *shared;

/* What a reader copies under the lock; how long it waited, in ms. */
static apr_time_t read_text(char *out)
{
    apr_time_t start = pt_clock_monotonic();
    apr_uint32_t seq;

    alarm(10);
    do {
        seq = pt_seqlock_read_begin(&shared->lock);
        memcpy(out, shared->text, sizeof(shared->text));
    } while (pt_seqlock_read_again(&shared->lock, seq));
    alarm(0);
    return (pt_clock_monotonic() - start) / 1000;
}

static void write_text(const char *text)
{
    apr_uint32_t seq = pt_seqlock_write_begin(&shared->lock);

    strcpy(shared->text, text);
    pt_seqlock_write_end(&shared->lock, seq);
}

/* Runs fn in a child process and waits for it to end. */
static void in_child(void (*fn)(void))
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        fn();
        _exit(0);
    }
    waitpid(pid, &status, 0);
}

static void die_in_write(void)
{
    pt_seqlock_write_begin(&shared->lock);
    strcpy(shared->text, "half");
    _exit(0);
}

static void test_seqlock(void)
{
    char got[64];
    apr_time_t waited;
    pid_t pid;

    write_text("first");
    read_text(got);
    is_str(got, "first", "a reader copies what was written");

    in_child(die_in_write);
    waited = read_text(got);
    ok(waited < 500, "a writer that died in its write keeps no reader "
       "waiting (%" APR_TIME_T_FMT " ms)", waited);
    is_str(got, "half", "the reader takes what it left");
    write_text("second");
    read_text(got);
    is_str(got, "second", "the next writer's write is read whole");
    ok(!(shared->lock.seq & 1), "and leaves the lock even");

    /* A writer that lives is waited for, however slow. */
    pid = fork();
    if (pid == 0) {
        apr_uint32_t seq = pt_seqlock_write_begin(&shared->lock);

        strcpy(shared->text, "slow, ha");
        apr_sleep(apr_time_from_msec(300));
        strcpy(shared->text, "slow, whole");
        pt_seqlock_write_end(&shared->lock, seq);
        _exit(0);
    }
    while (!(apr_atomic_read32(&shared->lock.seq) & 1))
        apr_sleep(1000);
    waited = read_text(got);
    is_str(got, "slow, whole", "a live writer's write is waited for "
           "(%" APR_TIME_T_FMT " ms)", waited);
    waitpid(pid, NULL, 0);
}

static void die_claiming(void)
{
    if (pt_claim(&shared->claim)) {
        strcpy(shared->name, "ha");
        _exit(0);
    }
}

static void test_claim(void)
{
    pid_t pid;
    int mine;

    in_child(die_claiming);
    alarm(10);
    mine = pt_claim(&shared->claim);
    alarm(0);
    ok(mine, "the claim of a process that died is taken over");
    strcpy(shared->name, "/hook");
    pt_claim_done(&shared->claim);
    ok(pt_claim_is_done(&shared->claim), "and done");
    ok(!pt_claim(&shared->claim), "a done claim is not claimed again");
    is_str(shared->name, "/hook", "and keeps its name");

    /* A claimer that lives is waited for. */
    shared->claim = 0;
    pid = fork();
    if (pid == 0) {
        if (pt_claim(&shared->claim)) {
            apr_sleep(apr_time_from_msec(300));
            strcpy(shared->name, "/other");
            pt_claim_done(&shared->claim);
        }
        _exit(0);
    }
    while (!apr_atomic_read32(&shared->claim))
        apr_sleep(1000);
    alarm(10);
    mine = pt_claim(&shared->claim);
    alarm(0);
    ok(!mine, "a live claimer's claim is not taken");
    is_str(shared->name, "/other", "its name is read once it is written");
    waitpid(pid, NULL, 0);
}

int main(void)
{
    /* What passed before an alarm ends the program is printed. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return 1;
    memset(shared, 0, sizeof(*shared));
    ok(pt_process_gone(0) && !pt_process_gone(getpid()),
       "pid 0 is nobody, this process lives");
    test_seqlock();
    test_claim();
    return tap_done();
}
