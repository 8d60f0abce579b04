# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use POSIX ();
use Time::HiRes ();

# Storage failures (SPEC.md section 3): a database that is busy or refuses a
# write gives 503 with Retry-After after a bounded wait, the transaction is
# rolled back (nothing half-applied), and the module recovers by itself.
# Ids 800000+.
#
# The same on either database of the main server: on SQLite another
# connection holds the file's write lock (BEGIN EXCLUSIVE) and the module
# gives up after its busy timeout; on PostgreSQL another connection holds
# protime_access_clockings in ACCESS EXCLUSIVE mode and the module's
# statements give up after their statement_timeout
# (PT_PGSQL_STATEMENT_TIMEOUT_MS, 5 s).

plan tests => 46, need_lwp;

sub counter { status_json()->{counters}{$_[0]} // 0 }

my $pg = db_driver() eq 'pgsql';

# The server has a connection and its statements (and, on PostgreSQL, its
# tables) before we lock.
ok t_cmp(deliver(event(800001, 'a1'))->code, 204, 'warm-up delivery: 204');

# A connection of our own, never ProtimeTest::db(): it holds the lock.
my $lock = db_connect();

# Takes the lock that keeps the module from writing, until unlock_db().
sub lock_db {
    if ($pg) {
        $lock->begin_work;
        $lock->do('LOCK TABLE protime_access_clockings IN ACCESS EXCLUSIVE MODE');
    }
    else {
        $lock->do('BEGIN EXCLUSIVE');
    }
}
sub unlock_db { $pg ? $lock->rollback : $lock->do('ROLLBACK') }

# A trigger that refuses to store the event with id $id, and its removal.
sub refuse_id {
    my ($id) = @_;
    if ($pg) {
        $lock->do(qq{CREATE FUNCTION protime_test_refuse() RETURNS trigger
                     LANGUAGE plpgsql AS \$\$
                     BEGIN
                         IF NEW.id = $id THEN RAISE EXCEPTION 'refused by the test'; END IF;
                         RETURN NEW;
                     END \$\$});
        $lock->do(q{CREATE TRIGGER protime_test_refuse BEFORE INSERT ON protime_access_clockings
                    FOR EACH ROW EXECUTE FUNCTION protime_test_refuse()});
    }
    else {
        $lock->do(qq{CREATE TRIGGER protime_test_refuse BEFORE INSERT ON protime_access_clockings
                     WHEN NEW.id = $id BEGIN SELECT RAISE(ABORT, 'refused by the test'); END});
    }
}
sub refuse_none {
    if ($pg) {
        $lock->do('DROP TRIGGER protime_test_refuse ON protime_access_clockings');
        $lock->do('DROP FUNCTION protime_test_refuse()');
    }
    else {
        $lock->do('DROP TRIGGER protime_test_refuse');
    }
}

sub timed_deliver {
    my ($body) = @_;
    my $t0 = Time::HiRes::time();
    my $res = deliver($body);
    return ($res, Time::HiRes::time() - $t0);
}

# 1. One event while the database is locked.
my ($latency, $concurrent_max);
{
    my $errors = counter('storage_errors');
    lock_db();
    my ($res, $took) = timed_deliver(event(800002, 'b1'));
    $latency = $took;
    unlock_db();
    ok t_cmp($res->code, 503, 'database locked: 503');
    ok t_cmp($res->header('Retry-After') // 'none', qr/^[1-9]\d*$/,
             'database locked: Retry-After in seconds');
    ok t_cmp($took < 10 ? 1 : 0, 1, sprintf('database locked: answered in %.2f s (< 10 s)', $took));
    ok t_cmp(rows_count('id = 800002'), 0, 'database locked: the event is not stored');
    ok t_cmp(counter('storage_errors') - $errors, 1, 'database locked: storage_errors grew by 1');
    my $res2 = deliver(event(800002, 'b1'));
    ok t_cmp($res2->code, 204, 'lock released: the same delivery again: 204');
    ok t_cmp((row(800002) || {})->{change_version}, 'b1', 'lock released: stored (no restart)');
}

# 2. Three events while the database is locked: none stored; then all.
{
    my @three = (event(800011, 'c1'), event(800012, 'c1'), delete_event(800001, 'a2'));
    lock_db();
    my ($res, $took) = timed_deliver(\@three);
    unlock_db();
    ok t_cmp($res->code, 503, 'three events, database locked: 503');
    ok t_cmp($took < 10 ? 1 : 0, 1, sprintf('three events: answered in %.2f s', $took));
    ok t_cmp(rows_count('id IN (800011, 800012)') . ' ' . (row(800001) || {})->{change_version},
             '0 a1', 'three events: none of the three applied');
    my $res2 = deliver(\@three);
    ok t_cmp($res2->code, 204, 'three events again after the lock: 204');
    ok t_cmp(rows_count('id IN (800011, 800012)') . ' ' . (row(800001) || {})->{deleted},
             '2 1', 'three events again: all three applied');
}

# 3. Concurrent deliveries (group commit, several server processes) while
# locked: each gets 503 within the same bound, nothing stored, then each is
# stored when delivered again.
{
    lock_db();
    # Each client waits at most 20 s for its answer.
    my @answers = in_clients(8, sub {
        my ($i) = @_;
        my ($res, $took) = timed_deliver([event(800020 + $i, 'd1'), event(800030 + $i, 'd1')]);
        return sprintf "%d %.3f", $res->code, $took;
    }, 20);
    unlock_db();
    my (@codes, @times);
    for (grep { defined } @answers) {
        my ($c, $t) = split ' ', $_;
        push @codes, $c;
        push @times, $t;
    }
    my $max = 0;
    $_ > $max and $max = $_ for @times;
    $concurrent_max = $max;
    ok t_cmp(join(',', @codes), join(',', (503) x 8), 'eight concurrent deliveries while locked: all 503');
    ok t_cmp($max < 10 ? 1 : 0, 1, 'eight concurrent deliveries while locked: each answered in under 10 s'
             . ' (seconds: ' . join(' ', sort { $a <=> $b } @times) . ')');
    ok t_cmp(rows_count('id BETWEEN 800021 AND 800038'), 0, 'concurrent while locked: nothing stored');
    my @again = map { deliver([event(800020 + $_, 'd1'), event(800030 + $_, 'd1')])->code } 1 .. 8;
    ok t_cmp(join(',', @again), join(',', (204) x 8), 'concurrent deliveries again: 204');
    ok t_cmp(rows_count('id BETWEEN 800021 AND 800038'), 16, 'concurrent deliveries again: all stored');
}

# 4. A lock held only briefly: the module waits a little and stores.
{
    lock_db();
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        Apache::TestRequest::user_agent(reset => 1, keep_alive => 0);
        my $code = deliver(event(800040, 'e1'))->code;
        POSIX::_exit($code == 204 ? 0 : $code == 503 ? 1 : 2);
    }
    Time::HiRes::sleep(0.3);
    unlock_db();
    waitpid $pid, 0;
    ok t_cmp($? >> 8, 0, 'lock released after 0.3 s: 204');
    ok t_cmp((row(800040) || {})->{change_version}, 'e1', 'lock released after 0.3 s: stored');
}

# 5. A write error in the middle of a delivery (a trigger refuses the
# second of three events): 503, none of the three stored; once the trigger
# is gone (another schema change) the module stores the same delivery.
{
    my $errors = counter('storage_errors');
    my $log = error_log_size();
    refuse_id(800052);
    my @three = (event(800051, 'f1'), event(800052, 'f1'), event(800053, 'f1'));
    my ($res, $took) = timed_deliver(\@three);
    ok t_cmp($res->code, 503, 'write error on event 2 of 3: 503');
    ok t_cmp($res->header('Retry-After') // 'none', qr/^[1-9]\d*$/, 'write error: Retry-After');
    ok t_cmp(rows_count('id IN (800051, 800052, 800053)'), 0, 'write error: none of the three stored');
    ok t_cmp(counter('storage_errors') - $errors, 1, 'write error: storage_errors grew by 1');
    ok t_cmp(error_log_since($log), qr/refused by the test/, 'write error: the error log says why');
    # A single event that does not hit the trigger still goes through.
    ok t_cmp(deliver(event(800054, 'f1'))->code, 204, 'write error: another delivery meanwhile: 204');
    refuse_none();
    ok t_cmp(deliver(\@three)->code, 204, 'trigger dropped: the same delivery again: 204');
    ok t_cmp(rows_count('id IN (800051, 800052, 800053)'), 3, 'trigger dropped: all three stored');
}

# 6. Recovery everywhere: deliveries over fresh connections reach every
# server process, and all of them store.
{
    Apache::TestRequest::user_agent(reset => 1, keep_alive => 0);
    my @codes = map { deliver(event(800100 + $_, 'g1'))->code } 1 .. 20;
    my %c; $c{$_}++ for @codes;
    ok t_cmp(join(',', map { "$_:$c{$_}" } sort keys %c), '204:20', 'after the failures: 20 deliveries, all 204');
    ok t_cmp(rows_count('id BETWEEN 800101 AND 800120'), 20, 'after the failures: all stored');
}

# 7. A delivery that arrived while an earlier transaction was still
# waiting for the lock gives up with it, without a wait of its own: in the
# same process it is queued behind that transaction, in another it waits
# for the SQLite mutex that transaction holds (on PostgreSQL it may wait
# out its own statement_timeout instead).
{
    my $errors = counter('storage_errors');
    my $log = error_log_size();
    lock_db();
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        Apache::TestRequest::user_agent(reset => 1, keep_alive => 0, timeout => 20);
        my $code = deliver(event(800061, 'h1'))->code;
        POSIX::_exit($code == 503 ? 0 : 1);
    }
    Time::HiRes::sleep(0.5);
    Apache::TestRequest::user_agent(reset => 1, keep_alive => 0, timeout => 20);
    my ($res, $took) = timed_deliver(event(800062, 'h1'));
    waitpid $pid, 0;
    my $first = $? >> 8;
    unlock_db();
    ok t_cmp($first, 0, 'the delivery that waited for the lock: 503');
    ok t_cmp($res->code, 503, 'a delivery behind it: 503');
    ok t_cmp($res->header('Retry-After') // 'none', qr/^[1-9]\d*$/, 'a delivery behind it: Retry-After');
    ok t_cmp($took < 10 ? 1 : 0, 1, sprintf('a delivery behind it: answered in %.2f s', $took));
    ok t_cmp(rows_count('id IN (800061, 800062)'), 0, 'neither stored');
    ok t_cmp(counter('storage_errors') - $errors, 2, 'storage_errors grew by 2');
    my $said = error_log_since($log);
    if ($pg) {
        ok t_cmp($said, qr/PT00307: delivery not stored, answering 503/, 'PT00307 for both');
    }
    else {
        ok t_cmp($said, qr/PT00307: delivery not stored, answering 503: .*an earlier transaction gave up waiting/,
                 'PT00307: it gave up with the earlier transaction');
    }
    ok t_cmp(deliver([event(800061, 'h1'), event(800062, 'h1')])->code, 204,
             'both again after the lock: 204');
}

# 8. A commit refused: on PostgreSQL a deferred constraint trigger fails
# at COMMIT, after every statement succeeded. (SQLite checks nothing at
# COMMIT that another program can set up on the module's connections.)
if (!$pg) {
    skip('a commit refused: PostgreSQL only', 1) for 1 .. 5;
}
else {
    my $errors = counter('storage_errors');
    my $log = error_log_size();
    $lock->do(q{CREATE FUNCTION protime_test_refuse_commit() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.id = 800071 THEN RAISE EXCEPTION 'commit refused by the test'; END IF;
                    RETURN NULL;
                END $$});
    $lock->do(q{CREATE CONSTRAINT TRIGGER protime_test_refuse_commit
                AFTER INSERT ON protime_access_clockings DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW EXECUTE FUNCTION protime_test_refuse_commit()});
    my $res = deliver([event(800072, 'i1'), event(800071, 'i1')]);
    $lock->do('DROP TRIGGER protime_test_refuse_commit ON protime_access_clockings');
    $lock->do('DROP FUNCTION protime_test_refuse_commit()');
    ok t_cmp($res->code, 503, 'commit refused: 503');
    ok t_cmp($res->header('Retry-After') // 'none', qr/^[1-9]\d*$/, 'commit refused: Retry-After');
    ok t_cmp(rows_count('id IN (800071, 800072)'), 0, 'commit refused: neither event stored');
    ok t_cmp(counter('storage_errors') - $errors, 1, 'commit refused: storage_errors grew by 1');
    ok t_cmp(error_log_since($log), qr/PT00307: .*commit refused by the test/,
             'commit refused: PT00307 says why');
}

# 9. A body larger than a slot of the shared queue (8 KiB) is committed by
# the request that brought it, with whatever the queue holds meanwhile.
{
    my @many = map { event(800200 + $_, 'h1', status => 'AccessOk' . ('x' x 40)) } 1 .. 60;
    my $body = ProtimeTest::json_of(\@many);
    ok t_cmp(length($body) > 8 * 1024, 1, 'a delivery of ' . length($body) . ' bytes: larger than a queue slot');
    ok t_cmp(deliver(\@many)->code, 204, '... 204');
    ok t_cmp(rows_count('id BETWEEN 800201 AND 800260'), 60, '... all 60 events stored');
}

$lock->disconnect;
t_debug(sprintf 'measured 503 latency with the database locked: %.2f s alone, %.2f s at most with 8 concurrent',
        $latency, $concurrent_max // -1);
