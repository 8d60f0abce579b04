#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# The server's one writer killed in the middle of its commit. Four clients
# keep delivering signed changes, to ids of their own and to ids they share,
# to an httpd whose processes all queue into one group commit
# (ProtimeSQLiteSynchronous at its default, Full; children recycled by
# MaxConnectionsPerChild meanwhile). The test finds the process that holds
# SQLite's write lock (the WAL's write lock in the -shm file, in
# /proc/locks: a transaction is open) and kills it with SIGKILL, again and
# again. Then every acknowledged change must be in the database, every
# shared id at its highest version, and no request may have waited past its
# timeout. Under the event MPM and under prefork. Then, that Mutex posixsem
# protime-db, which such a kill would leave taken, is warned about.
# Usage: perl test/kill-writer.pl mod_protime.so
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/lib";
use ProtimeScript;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use POSIX ();
use DBI;

my ($so) = @ARGV;
die "usage: $0 mod_protime.so\n" unless $so;
my $key = 'kill-writer-key';
my $CLIENTS = 4;
my $SECONDS = $ENV{KW_SECONDS} || 8;
my $TIMEOUT = 15;       # a request that takes longer has hung

# The pid that holds a POSIX write lock on byte 120 of the -shm file (SQLite's
# WAL_WRITE_LOCK: a write transaction is open), or undef.
sub writer_pid {
    my ($inode) = @_;
    open my $fh, '<', '/proc/locks' or return;
    while (my $line = <$fh>) {
        my ($pid, $dev, $start) =
            $line =~ /POSIX\s+ADVISORY\s+WRITE\s+(\d+)\s+(\S+)\s+(\d+)\s/ or next;
        my ($ino) = $dev =~ /:(\d+)$/;
        return $pid if $ino == $inode && $start == 120;
    }
    return;
}

sub run_model {
    my ($mpm) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $port = free_port();
    my $db = "$dir/db/protime.db";
    my $model = $mpm eq 'event'
        ? "StartServers 3\nThreadsPerChild 8\nMaxRequestWorkers 24\nServerLimit 4\n"
        : "StartServers 5\nMinSpareServers 5\nMaxSpareServers 10\nMaxRequestWorkers 12\n";
    open my $fh, '>', "$dir/httpd.conf" or die;
    print $fh httpd_conf_head(so => $so, root => $dir, port => $port, mpm => $mpm), <<CONF;
$model
MaxConnectionsPerChild 40
KeepAlive Off
DBDriver sqlite3
DBDParams $db
@{[webhook_location($key)]}
CONF
    close $fh;
    my $parent = httpd_start("$dir/httpd.conf", $port);

    # Each client: ids of its own (base + n) and four ids all share, with
    # rising versions; writes "id version" per acknowledged change, and
    # "HANG seconds" for a request past its timeout.
    my @kids;
    my $until = time + $SECONDS;
    for my $c (1 .. $CLIENTS) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $http = HTTP::Tiny->new(timeout => $TIMEOUT, keep_alive => 0);
            open my $out, '>', "$dir/acked.$c" or die;
            $out->autoflush(1);
            my $n = 0;
            while (time < $until) {
                $n++;
                my ($id, $version) = $n % 3
                    ? (1_000_000 * $c + $n, sprintf('v%06d', 1))
                    : (900 + $n % 4, sprintf('v%06d-%d', $n, $c));
                my $t0 = time;
                my $res = post_signed($http, "http://127.0.0.1:$port/hook", $key,
                                      clocking($id, $version));
                my $took = time - $t0;
                print $out "HANG $took\n" if $took >= $TIMEOUT - 1;
                print $out "$id $version\n" if $res->{status} =~ /^2/;
            }
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }

    # Kill the writer whenever one is found in its transaction.
    my ($kills, $inode) = (0, undef);
    while (time < $until - 1) {
        $inode = (stat "$db-shm")[1];
        my $pid = $inode && writer_pid($inode);
        # The parent writes too, once, when it sets the database up.
        if ($pid && $pid != $parent && kill 0, $pid) {
            kill 'KILL', $pid;
            $kills++;
            sleep 0.25;
        }
        else {
            sleep 0.002;
        }
    }
    waitpid $_, 0 for @kids;

    my (%acked, @hangs);
    my $acks = 0;
    for my $c (1 .. $CLIENTS) {
        open my $in, '<', "$dir/acked.$c" or next;
        while (<$in>) {
            if (/^HANG (\S+)/) { push @hangs, $1; next }
            my ($id, $v) = split;
            $acks++;
            $acked{$id} = $v if !defined $acked{$id} || $v gt $acked{$id};
        }
    }
    my $dbh = DBI->connect("dbi:SQLite:dbname=$db", '', '', { RaiseError => 1 });
    my %stored = map { @$_ } @{ $dbh->selectall_arrayref(
        'SELECT id, change_version FROM protime_access_clockings') };
    my @lost = grep { !defined $stored{$_} || $stored{$_} lt $acked{$_} } keys %acked;
    my $running = kill 0, $parent;
    ok($kills >= 3, "$mpm: the writer killed in its transaction $kills times");
    ok($acks > 100, "$mpm: $acks changes acknowledged meanwhile");
    ok(!@lost, "$mpm: no acknowledged change lost", 'lost: ' . join(' ', (sort @lost)[0 .. 9]));
    ok(!@hangs, "$mpm: no request waited past its timeout of $TIMEOUT s",
       'took: ' . join(' ', @hangs));
    ok($running, "$mpm: httpd still running");

    # After the kills, one more delivery is stored at once.
    my $res = post_signed(HTTP::Tiny->new(timeout => 5), "http://127.0.0.1:$port/hook",
                          $key, clocking(42, 'v1'));
    ok($res->{status} == 204, "$mpm: a delivery after the kills is stored (204)", "got $res->{status}");
    note("$mpm: $kills kills, $acks acknowledged, " . scalar(keys %acked) . " ids");

    httpd_stop("$dir/httpd.conf", "$dir/httpd.pid");
    if (failures() && open my $log, '<', "$dir/error_log") {
        my @lines = grep { !/AH00489|AH00094|AH00491|AH00558|AH00052|AH00169/ } <$log>;
        print "# error_log: $_" for @lines[0 .. ($#lines < 30 ? $#lines : 30)];
    }
}

for my $mpm (qw(event prefork)) { run_model($mpm) }

# The one Mutex mechanism under which such a kill leaves the writers' lock
# taken for good is warned about as httpd starts.
{
    my $dir = tempdir(CLEANUP => 1);
    my $port = free_port();
    open my $fh, '>', "$dir/httpd.conf" or die;
    print $fh httpd_conf_head(so => $so, root => $dir, port => $port), <<CONF;
Mutex posixsem protime-db
DBDriver sqlite3
DBDParams $dir/db/protime.db
@{[webhook_location($key)]}
CONF
    close $fh;
    httpd_start("$dir/httpd.conf", $port);
    httpd_stop("$dir/httpd.conf", "$dir/httpd.pid");
    my $log = slurp("$dir/error_log");
    ok($log =~ /PT00426: Mutex posixsem protime-db: a server process killed/,
       'Mutex posixsem protime-db is warned about', $log);
}
exit done_testing();
