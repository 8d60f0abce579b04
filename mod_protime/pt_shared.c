/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_shared.c: waiting on memory that every process of the server shares
 * (see pt_shared.h). */
#include <apr_atomic.h>
#include <apr_thread_proc.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "pt_clock.h"
#include "pt_shared.h"

/* A claim's word: 0 free, PT_CLAIM_DONE, or its claimer's pid times two. */
#define PT_CLAIM_DONE 1u

int pt_process_gone(pid_t pid)
{
    return pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH);
}

apr_uint32_t pt_seqlock_write_begin(pt_seqlock_t *l)
{
    apr_uint32_t seq = apr_atomic_read32(&l->seq);

    /* Odd already when the last writer died in its write: another odd
     * value all the same, so that a reader that copied meanwhile copies
     * again. */
    seq += (seq & 1) ? 2 : 1;
    apr_atomic_set32(&l->writer, (apr_uint32_t)getpid());
    apr_atomic_xchg32(&l->seq, seq);
    return seq;
}

void pt_seqlock_write_end(pt_seqlock_t *l, apr_uint32_t seq)
{
    apr_atomic_xchg32(&l->seq, seq + 1);
}

apr_uint32_t pt_seqlock_read_begin(pt_seqlock_t *l)
{
    apr_time_t until = 0;
    apr_uint32_t seq;

    while ((seq = apr_atomic_read32(&l->seq)) & 1) {
        apr_time_t now = pt_clock_monotonic();

        if (!until)
            until = now + PT_SEQLOCK_WAIT;
        else if (now >= until)
            break;
        if (pt_process_gone((pid_t)apr_atomic_read32(&l->writer)))
            break;
        apr_thread_yield();
    }
    return seq;
}

int pt_seqlock_read_again(pt_seqlock_t *l, apr_uint32_t seq)
{
    return apr_atomic_read32(&l->seq) != seq;
}

int pt_claim(volatile apr_uint32_t *word)
{
    apr_uint32_t me = (apr_uint32_t)getpid() << 1;

    for (;;) {
        /* Read first: a compare-and-swap writes the line every reader
         * reads. */
        apr_uint32_t w = apr_atomic_read32(word);

        if (w == PT_CLAIM_DONE)
            return 0;
        if (w == 0) {
            if (apr_atomic_cas32(word, me, 0) == 0)
                return 1;
        }
        else if (pt_process_gone((pid_t)(w >> 1))) {
            apr_atomic_cas32(word, 0, w);
        }
        else {
            apr_thread_yield();
        }
    }
}

void pt_claim_done(volatile apr_uint32_t *word)
{
    apr_atomic_xchg32(word, PT_CLAIM_DONE);
}

int pt_claim_is_done(volatile apr_uint32_t *word)
{
    return apr_atomic_read32(word) == PT_CLAIM_DONE;
}
