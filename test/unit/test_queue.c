/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests for pt_queue: the slots' life, a full queue, an owner that
 * gives up, owners and writers that die, and processes racing for the
 * same slots, in shared memory as the server's processes use it. */
#include <signal.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "pt_queue.h"
#include "tap.h"

static apr_pool_t *pool;
static pt_queue_t *queue;

/* A delivery of one event with this id, and a member of pad bytes more
 * that its payload keeps: a larger packed delivery. */
static pt_delivery_t delivery(apr_int64_t id, int pad)
{
    pt_delivery_t d;
    char *note = apr_palloc(pool, pad + 1);
    const char *body;

    memset(note, 'n', pad);
    note[pad] = '\0';
    body = apr_psprintf(pool, "{\"id\":%" APR_INT64_T_FMT ","
                        "\"changeVersion\":\"1\",\"date\":\"2026-12-03\","
                        "\"timeOfDayInMinutes\":600,\"status\":\"AccessOk\","
                        "\"note\":\"%s\"}", id, note);
    pt_event_parse(pool, body, strlen(body), &d);
    return d;
}

/* The id of the one event a taken slot holds; -1 when it holds no such
 * thing. */
static apr_int64_t taken_id(int slot)
{
    apr_size_t len;
    apr_time_t arrived;
    const char *packed = pt_queue_packed(queue, slot, &len, &arrived);
    pt_delivery_t d;

    if (!pt_delivery_unpack(pool, packed, len, &d) || d.events->nelts != 1)
        return -1;
    return APR_ARRAY_IDX(d.events, 0, pt_event_t).id;
}

/* Finishes every slot a writer takes now; returns how many. */
static int write_all(void)
{
    int slots[PT_QUEUE_SLOTS];
    pt_queue_result_t result;
    int i, n, total = 0;

    memset(&result, 0, sizeof(result));
    while ((n = pt_queue_take(queue, slots, 64)) > 0) {
        for (i = 0; i < n; i++)
            pt_queue_finish(queue, slots[i], &result);
        total += n;
    }
    return total;
}

/* How many deliveries the queue takes now before it is full; frees them
 * again. */
static int free_slots(void)
{
    pt_delivery_t d = delivery(1, 0);
    int slots[PT_QUEUE_SLOTS + 1];
    int i, n = 0;

    while (n <= PT_QUEUE_SLOTS && (slots[n] = pt_queue_put(queue, &d, 0)) >= 0)
        n++;
    for (i = 0; i < n; i++)
        pt_queue_free(queue, slots[i]);
    return n;
}

static void test_life(void)
{
    pt_delivery_t d = delivery(4711, 0);
    pt_queue_result_t result, got;
    int slots[PT_QUEUE_SLOTS];
    apr_size_t len;
    apr_time_t arrived;
    int slot = pt_queue_put(queue, &d, 1234);

    ok(slot >= 0 && slot < PT_QUEUE_SLOTS, "a delivery is queued");
    ok(!pt_queue_done(queue, slot, &got), "not done before a writer took it");
    is_int(pt_queue_take(queue, slots, 64), 1, "a writer takes it");
    is_int(slots[0], slot, "the slot it was put in");
    is_int(taken_id(slot), 4711, "it holds the delivery as parsed");
    pt_queue_packed(queue, slot, &len, &arrived);
    is_int(arrived, 1234, "and when it arrived");
    is_int(pt_queue_take(queue, slots, 64), 1,
           "a writer after one that died in the commit takes it again");
    ok(!pt_queue_done(queue, slot, &got), "not done before it is finished");

    memset(&result, 0, sizeof(result));
    result.applied = 3;
    result.stale = 2;
    result.failed = 1;
    apr_cpystrn(result.error, "the database is gone", sizeof(result.error));
    pt_queue_finish(queue, slot, &result);
    ok(pt_queue_done(queue, slot, &got), "done once finished");
    ok(got.applied == 3 && got.stale == 2 && got.failed == 1
       && !strcmp(got.error, "the database is gone"),
       "its owner reads the writer's result");
    is_int(pt_queue_take(queue, slots, 64), 0,
           "a done slot is not taken again");
    pt_queue_free(queue, slot);
    is_int(free_slots(), PT_QUEUE_SLOTS, "once freed, every slot is free");

    slot = pt_queue_put(queue, &d, 0);
    ok(pt_queue_abandon(queue, slot), "a delivery not yet taken is abandoned");
    is_int(pt_queue_take(queue, slots, 64), 0, "and no writer takes it");
    is_int(free_slots(), PT_QUEUE_SLOTS, "its slot is free again");

    /* An owner that gives up after a writer took its delivery (it could
     * not take the writers' mutex) never reads the result: the writer's
     * finish frees the slot, in a process that lives on. */
    slot = pt_queue_put(queue, &d, 0);
    is_int(pt_queue_take(queue, slots, 64), 1, "a writer takes a delivery");
    ok(!pt_queue_abandon(queue, slot), "its owner gives up too late");
    pt_queue_finish(queue, slot, &result);
    is_int(free_slots(), PT_QUEUE_SLOTS,
           "the writer's finish frees the slot of an owner that gave up");
    slot = pt_queue_put(queue, &d, 0);
    write_all();
    ok(!pt_queue_abandon(queue, slot), "an owner gives up once it is done");
    is_int(free_slots(), PT_QUEUE_SLOTS, "and its slot is free");
}

static void test_full(void)
{
    pt_delivery_t d = delivery(1, 0);
    pt_delivery_t large = delivery(2, PT_QUEUE_BODY);
    int slots[PT_QUEUE_SLOTS];
    char seen[PT_QUEUE_SLOTS] = { 0 };
    int i, n = 0, distinct = 1;

    is_int(pt_queue_put(queue, &large, 0), -1,
           "a delivery larger than a slot is not queued");
    is_int(free_slots(), PT_QUEUE_SLOTS, "and takes no slot");

    for (i = 0; i < PT_QUEUE_SLOTS; i++)
        n += pt_queue_put(queue, &d, 0) >= 0;
    is_int(n, PT_QUEUE_SLOTS, "the queue holds %d deliveries",
           PT_QUEUE_SLOTS);
    is_int(pt_queue_put(queue, &d, 0), -1, "one more is refused");
    is_int(pt_queue_take(queue, slots, 64), 64, "a writer takes at most max");
    for (i = 0; i < 64; i++) {
        distinct &= !seen[slots[i]];
        seen[slots[i]] = 1;
    }
    ok(distinct, "each slot once");
    is_int(write_all(), PT_QUEUE_SLOTS, "the next batches take the rest");
    for (i = 0; i < PT_QUEUE_SLOTS; i++)
        pt_queue_free(queue, i);
    is_int(free_slots(), PT_QUEUE_SLOTS, "all free once their owners read");
}

/* More queued than a batch takes, and newer deliveries keep coming: a
 * full batch's leftovers go first in the next one, rather than wait
 * behind whatever lands in the slots a writer looks at first. */
static void test_fair(void)
{
    pt_delivery_t older = delivery(1, 0), newer = delivery(2, 0);
    int slots[PT_QUEUE_SLOTS];
    pt_queue_result_t result;
    int i, n, left_behind = 0;

    memset(&result, 0, sizeof(result));
    for (i = 0; i < PT_QUEUE_SLOTS; i++)
        pt_queue_put(queue, &older, 0);
    n = pt_queue_take(queue, slots, 64);
    for (i = 0; i < n; i++) {
        pt_queue_finish(queue, slots[i], &result);
        pt_queue_free(queue, slots[i]);
    }
    for (i = 0; i < n; i++)
        pt_queue_put(queue, &newer, 0);
    n = pt_queue_take(queue, slots, 64);
    for (i = 0; i < n; i++)
        left_behind += taken_id(slots[i]) == 1;
    is_int(left_behind, 64,
           "the next batch takes what a full batch left behind first");
    for (i = 0; i < n; i++)
        pt_queue_finish(queue, slots[i], &result);
    is_int(write_all(), 64, "and the one after it the newer deliveries");
    for (i = 0; i < PT_QUEUE_SLOTS; i++)
        pt_queue_free(queue, i);
    is_int(free_slots(), PT_QUEUE_SLOTS, "all free again");
}

/* A process that queues a delivery and dies before it is answered. */
static void test_dead_owner(void)
{
    pt_delivery_t d = delivery(99, 0);
    int slots[PT_QUEUE_SLOTS];
    pid_t pid = fork();
    int mine;

    if (pid == 0)
        _exit(pt_queue_put(queue, &d, 0) >= 0 ? 0 : 1);
    waitpid(pid, NULL, 0);
    is_int(pt_queue_take(queue, slots, 64), 1,
           "the delivery of a dead process is still committed");
    is_int(taken_id(slots[0]), 99, "the one it queued");
    pt_queue_finish(queue, slots[0], &(pt_queue_result_t){ 0 });
    mine = pt_queue_put(queue, &d, 0);
    is_int(write_all(), 1, "a living owner's delivery is committed");
    is_int(pt_queue_take(queue, slots, 64), 0, "nothing left to take");
    is_int(free_slots(), PT_QUEUE_SLOTS - 1,
           "the dead process's slot is freed by the next writer; "
           "a living owner's result is kept");
    pt_queue_free(queue, mine);
    is_int(free_slots(), PT_QUEUE_SLOTS, "until it reads it");
}

/* Processes killed at any moment of queueing deliveries, some in the
 * middle of copying one in: no slot is lost. */
static void test_killed_owners(void)
{
    pt_delivery_t d = delivery(7, PT_QUEUE_BODY / 2);
    int round, queued = 0;

    for (round = 0; round < 200; round++) {
        pid_t pid = fork();

        if (pid == 0) {
            for (;;) {
                int slot = pt_queue_put(queue, &d, 0);

                if (slot >= 0)
                    pt_queue_free(queue, slot);
            }
        }
        usleep(200 + rand() % 800);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        queued += write_all();
        write_all();            /* frees what the killed one left */
    }
    is_int(free_slots(), PT_QUEUE_SLOTS,
           "200 processes killed while queueing leave every slot free "
           "(%d deliveries they left queued were committed)", queued);
}

/* Two processes put and abandon (as when the writers' mutex fails) or wait
 * for their results, while this one takes and finishes as the writer: for
 * a second, or RACE_ROUNDS deliveries each. */
#define RACE_ROUNDS 200000
#define RACE_ID(i, round) (((i) + 1) * 1000000000LL + (round))
static void test_race(void)
{
    /* Which deliveries each owner took back before a writer took them,
     * and which the writer took. */
    char *cancelled = mmap(NULL, 2 * RACE_ROUNDS, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *committed;
    int i, bad = 0, both = 0, taken = 0, status, exited = 0, exited_ok = 1;
    int slots[PT_QUEUE_SLOTS];
    pt_queue_result_t result;
    apr_time_t until = apr_time_now() + apr_time_from_sec(1);

    memset(&result, 0, sizeof(result));
    for (i = 0; i < 2; i++) {
        if (fork() == 0) {
            int round;

            alarm(60);
            for (round = 0; round < RACE_ROUNDS && apr_time_now() < until;
                 round++) {
                pt_delivery_t mine = delivery(RACE_ID(i, round), 0);
                pt_queue_result_t got;
                int slot = pt_queue_put(queue, &mine, 0);

                apr_pool_clear(pool);
                if (slot < 0)
                    continue;
                if (round % 2) {
                    /* Too late, the slot is the writer's to free. */
                    if (pt_queue_abandon(queue, slot))
                        cancelled[i * RACE_ROUNDS + round] = 1;
                    continue;
                }
                while (!pt_queue_done(queue, slot, &got))
                    sched_yield();
                pt_queue_free(queue, slot);
            }
            _exit(0);
        }
    }
    committed = calloc(2, RACE_ROUNDS);
    alarm(60);
    for (;;) {
        int n = pt_queue_take(queue, slots, 64);

        for (i = 0; i < n; i++) {
            apr_int64_t id = taken_id(slots[i]);
            apr_int64_t owner = id / 1000000000LL - 1;
            apr_int64_t round = id % 1000000000LL;

            /* Only a slot its owner queued, whole. */
            if ((owner == 0 || owner == 1) && round < RACE_ROUNDS)
                committed[owner * RACE_ROUNDS + round] = 1;
            else
                bad++;
            pt_queue_finish(queue, slots[i], &result);
        }
        taken += n;
        apr_pool_clear(pool);
        if (waitpid(-1, &status, WNOHANG) > 0) {
            exited_ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
            if (++exited == 2)
                break;
        }
    }
    alarm(0);
    for (i = 0; i < 2 * RACE_ROUNDS; i++)
        both += cancelled[i] && committed[i];
    ok(exited_ok, "every owner got its result or gave up");
    is_int(bad, 0, "the writer took only whole, queued deliveries "
           "(%d taken)", taken);
    is_int(both, 0, "and none that its owner had taken back");
    write_all();
    is_int(free_slots(), PT_QUEUE_SLOTS,
           "no slot is lost to the race of abandon, take and finish");
    munmap(cancelled, 2 * RACE_ROUNDS);
    free(committed);
}

int main(void)
{
    void *mem;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    mem = mmap(NULL, pt_queue_size(), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return 1;
    queue = pt_queue_init(mem);
    test_life();
    test_full();
    test_fair();
    test_dead_owner();
    test_killed_owners();
    test_race();
    return tap_done();
}
