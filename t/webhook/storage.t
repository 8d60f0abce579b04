use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use DBI ();
use File::Temp ();
use POSIX ();
use Time::HiRes ();

# Storage failures (SPEC.md section 3): a database that is busy or refuses a
# write gives 503 with Retry-After after a bounded wait, the transaction is
# rolled back (nothing half-applied), and the module recovers by itself.
# Ids 800000+.

plan tests => 30, need_lwp;

sub counter { status_json()->{counters}{$_[0]} // 0 }

# A connection of our own, never ProtimeTest::db(): it holds the lock.
my $file = Apache::Test::vars('serverroot') . '/db/protime.db';
my $lock = DBI->connect("dbi:SQLite:dbname=$file", '', '',
                        { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
$lock->sqlite_busy_timeout(5000);

# The server has a connection and its statements before we lock.
ok t_cmp(deliver(event(800001, 'a1'))->code, 204, 'warm-up delivery: 204');

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
    $lock->do('BEGIN EXCLUSIVE');
    my ($res, $took) = timed_deliver(event(800002, 'b1'));
    $latency = $took;
    $lock->do('ROLLBACK');
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
    $lock->do('BEGIN EXCLUSIVE');
    my ($res, $took) = timed_deliver(\@three);
    $lock->do('ROLLBACK');
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
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    $lock->do('BEGIN EXCLUSIVE');
    my @kids;
    for my $i (1 .. 8) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            Apache::TestRequest::user_agent(reset => 1, keep_alive => 0);
            my ($res, $took) = timed_deliver([event(800020 + $i, 'd1'), event(800030 + $i, 'd1')]);
            open my $fh, '>', "$dir/$i" or POSIX::_exit(3);
            printf $fh "%d %.3f\n", $res->code, $took;
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    waitpid $_, 0 for @kids;
    $lock->do('ROLLBACK');
    my (@codes, @times);
    for my $i (1 .. 8) {
        open my $fh, '<', "$dir/$i" or next;
        my ($c, $t) = split ' ', scalar <$fh>;
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
    $lock->do('BEGIN EXCLUSIVE');
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        Apache::TestRequest::user_agent(reset => 1, keep_alive => 0);
        my $code = deliver(event(800040, 'e1'))->code;
        POSIX::_exit($code == 204 ? 0 : $code == 503 ? 1 : 2);
    }
    Time::HiRes::sleep(0.3);
    $lock->do('ROLLBACK');
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
    $lock->do(q{CREATE TRIGGER protime_test_refuse BEFORE INSERT ON protime_access_clockings
                WHEN NEW.id = 800052 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END});
    my @three = (event(800051, 'f1'), event(800052, 'f1'), event(800053, 'f1'));
    my ($res, $took) = timed_deliver(\@three);
    ok t_cmp($res->code, 503, 'write error on event 2 of 3: 503');
    ok t_cmp($res->header('Retry-After') // 'none', qr/^[1-9]\d*$/, 'write error: Retry-After');
    ok t_cmp(rows_count('id IN (800051, 800052, 800053)'), 0, 'write error: none of the three stored');
    ok t_cmp(counter('storage_errors') - $errors, 1, 'write error: storage_errors grew by 1');
    ok t_cmp(error_log_since($log), qr/refused by the test/, 'write error: the error log says why');
    # A single event that does not hit the trigger still goes through.
    ok t_cmp(deliver(event(800054, 'f1'))->code, 204, 'write error: another delivery meanwhile: 204');
    $lock->do('DROP TRIGGER protime_test_refuse');
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

$lock->disconnect;
t_debug(sprintf 'measured 503 latency with the database locked: %.2f s alone, %.2f s at most with 8 concurrent',
        $latency, $concurrent_max // -1);
