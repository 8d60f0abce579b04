/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_shared: waiting on memory that every process of the server shares,
 * for a process that may die while the others wait on it.
 *
 * A process can die at any instruction: killed (kill -9, the OOM killer),
 * crashed, or a child that exits while one of its threads writes
 * (mod_watchdog does not wait for its threads). What it was writing must
 * not keep the others waiting for ever, so each wait below knows the pid
 * of whom it waits for, and ends when that process is gone.
 */
#ifndef PT_SHARED_H
#define PT_SHARED_H

#include <apr.h>
#include <sys/types.h>

/* Whether the process pid is gone (killed, or exited). */
int pt_process_gone(pid_t pid);

/* A sequence lock: one writer at a time (the caller sees to that),
 * readers that never hold it up and copy again when a write came
 * between. A reader waits out a write only while its writer lives, and at
 * most PT_SEQLOCK_WAIT (a pid reused meanwhile); then it takes what it
 * finds. All zero is a lock no one wrote. */
typedef struct {
    volatile apr_uint32_t seq;          /* odd while written */
    volatile apr_uint32_t writer;       /* pid of the last writer */
} pt_seqlock_t;

#define PT_SEQLOCK_WAIT APR_USEC_PER_SEC

/* Brackets a write: returns what to pass to pt_seqlock_write_end. */
apr_uint32_t pt_seqlock_write_begin(pt_seqlock_t *l);
void pt_seqlock_write_end(pt_seqlock_t *l, apr_uint32_t seq);
/* Brackets a read: copy what the lock guards after read_begin, and again
 * (from read_begin) while read_again says so. */
apr_uint32_t pt_seqlock_read_begin(pt_seqlock_t *l);
int pt_seqlock_read_again(pt_seqlock_t *l, apr_uint32_t seq);

/* A claim, for what the first process to come writes once and all others
 * then read (a name): the word goes from 0 to claimed by that process, to
 * done. pt_claim returns 1 when the caller claimed it and must write, then
 * call pt_claim_done; else 0, once the word is done. It waits while
 * another process that lives holds the claim, and takes over the claim of
 * one that is gone. */
int pt_claim(volatile apr_uint32_t *word);
void pt_claim_done(volatile apr_uint32_t *word);
/* Whether the word is done, without waiting. */
int pt_claim_is_done(volatile apr_uint32_t *word);

#endif /* PT_SHARED_H */
