# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Faults under load: a graceful restart, and a child killed with SIGKILL,
# while clients keep delivering. The server must keep answering, and every
# delivery that was answered 2xx must be in the table.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use File::Temp ();
use POSIX ();
use Time::HiRes ();
use ProtimeTest;

plan tests => 9, need_lwp;

# Children of the server (their parent is the server's pid).
sub children {
    my $parent = server_pid() or return;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        # pid (comm) state ppid ...: comm may hold blanks and parentheses,
        # so the fields are read after its last ")".
        my ($pid, $ppid) = (<$fh> // '') =~ /^(\d+) \(.*\) \S+ (\d+) /s or next;
        push @kids, $pid if $ppid == $parent;
    }
    return @kids;
}

# Starts $n clients delivering distinct ids from $base on for $seconds;
# each writes the ids answered 2xx to a file. Returns (dir, pids).
sub start_clients {
    my ($base, $n, $seconds) = @_;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my @pids;
    for my $k (0 .. $n - 1) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            Apache::TestRequest::user_agent(reset => 1, keep_alive => 0,
                                            timeout => 15);
            open my $out, '>', "$dir/$k" or POSIX::_exit(2);
            my $stop = Time::HiRes::time() + $seconds;
            my $id = $base + $k * 100000;
            while (Time::HiRes::time() < $stop) {
                $id++;
                my $res = eval { deliver(event($id, '0001')) };
                print $out "$id " . ($res ? $res->code : 0) . "\n" if $res;
            }
            close $out;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    return ($dir, @pids);
}

sub answered_2xx {
    my ($dir) = @_;
    my (@ok, $other);
    for my $f (glob "$dir/*") {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            my ($id, $code) = split;
            if ($code =~ /^2/) { push @ok, $id } else { $other++ }
        }
    }
    return (\@ok, $other // 0);
}

sub missing {
    my ($ids) = @_;
    return grep { !row($_) } @$ids;
}

# 1. Graceful restart (SIGUSR1 to the parent) in the middle of the load.
{
    my $applied_before = status_json()->{counters}{events_applied};
    my ($dir, @pids) = start_clients(900_000_000, 4, 3);
    Time::HiRes::sleep(1);
    kill 'USR1', server_pid();
    waitpid $_, 0 for @pids;
    my ($ok) = answered_2xx($dir);
    # Every delivery of the clients was new: the counter, kept in shared
    # memory of the parent, went on counting across the restart (at most one
    # more per client: stored, but its answer lost).
    my $counted = status_json()->{counters}{events_applied} - $applied_before;
    ok t_cmp($counted >= @$ok && $counted <= @$ok + 4 ? 1 : 0, 1,
             "graceful restart: the counters survive it ($counted counted, "
             . scalar(@$ok) . ' answered 2xx)');
    ok t_cmp(scalar(@$ok) > 20, 1,
             'graceful restart under load: deliveries went on (' . scalar(@$ok) . ' answered 2xx)');
    my @lost = missing($ok);
    ok t_cmp(scalar(@lost), 0, 'graceful restart: every 2xx is stored'
             . (@lost ? " (missing: @lost[0 .. ($#lost < 9 ? $#lost : 9)])" : ''));
    ok t_cmp(deliver(event(901_999_999, '0001'))->code, 204,
             'graceful restart: the server answers afterwards');
}

# 2. A child killed with SIGKILL in the middle of the load.
{
    # Let the restarted generation settle before picking a victim.
    Time::HiRes::sleep(1);
    my ($dir, @pids) = start_clients(910_000_000, 4, 3);
    Time::HiRes::sleep(1);
    my @kids = children();
    ok t_cmp(scalar(@kids) >= 1, 1, 'SIGKILL: found the server\'s children');
    kill 'KILL', $kids[0] if @kids;
    waitpid $_, 0 for @pids;
    my ($ok, $other) = answered_2xx($dir);
    ok t_cmp(scalar(@$ok) > 20, 1,
             'SIGKILL: deliveries went on (' . scalar(@$ok) . " answered 2xx, $other not)");
    my @lost = missing($ok);
    ok t_cmp(scalar(@lost), 0, 'SIGKILL: every 2xx is stored'
             . (@lost ? " (missing: @lost[0 .. ($#lost < 9 ? $#lost : 9)])" : ''));
    ok t_cmp(kill(0, $kids[0]) ? 1 : 0, 0, 'SIGKILL: the child is gone');
    ok t_cmp(deliver(event(911_999_999, '0001'))->code, 204,
             'SIGKILL: the server answers afterwards');
}
