#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# A hung PostgreSQL (a hung host, a network partition): the postmaster of
# the tests' private cluster and all its processes stopped with SIGSTOP,
# under a real httpd (event MPM, DBDriver pgsql) that has stored a few
# deliveries. PostgreSQL's own statement_timeout cannot end a wait on a
# server that does not run, so the module must bound it on its side:
# 20 deliveries fired at once, and 2 more once those are answered, each
# get an answer within 30 s (503 with Retry-After; a 204 only for a change
# that is stored), the error log says at error level that the database
# did not answer, and protime-status, asked 1.5 s into the freeze,
# answers within 3 s: it never waits on the database. Once PostgreSQL runs
# again (SIGCONT), deliveries are stored again within 15 s, without a
# restart of httpd, and every change acknowledged before, during and after
# the freeze is in the database.
# The bound assumed: a statement that has not answered after 10 s is given
# up and its connection dropped, a new connection gives up after
# connect_timeout (3 s here, in DBDParams), and what queued behind a batch
# that gave up gives up with it; 30 s leaves room for that and for
# queueing on this shared machine.
# Usage: perl test/pgsql-freeze.pl mod_protime.so PGDIR CONNINFO
# (never as root: tools/run-tests runs it as its unprivileged test user).
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/lib";
use ProtimeScript;
use File::Spec ();
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use POSIX ();
use DBI;

# What the error log must say: the module dropped the connection.
my $DID_NOT_ANSWER = qr/\[protime:error\] .*PT00418: the PostgreSQL server has not answered for \d+ s: connection dropped/;

my $WAVE = 20;              # deliveries fired at once into the frozen database
my $LATE = 2;               # fired once those are answered: a fresh attempt
my $LATE_AT = 14;           # ... or at the latest this long into the freeze
my $CLIENT_TIMEOUT = 60;    # how long a client waits before it gives up
my $ANSWER_WITHIN = 30;     # the most a delivery may wait during the freeze
my $STATUS_AT = 1.5;        # when into the freeze the status is asked
my $STATUS_WITHIN = 3;
my $BACK_WITHIN = 15;       # after SIGCONT, until a delivery is stored again

my ($so, $pgdir, $conninfo) = @ARGV;
die "usage: $0 mod_protime.so PGDIR CONNINFO\n" unless $conninfo;
die "$0: do not run as root (tools/run-tests runs it as its unprivileged "
  . "test user)\n" if $> == 0;
$so = File::Spec->rel2abs($so);
my $main_pid = $$;
my $dir = tempdir(CLEANUP => 1);
my $port = free_port();
my $key = 'pgsql-freeze-key';
my $hook = "http://127.0.0.1:$port/hook";

# A database of its own on the tests' cluster, dropped at the end.
my $dbname = "protime_freeze_$$";
(my $db_conninfo = $conninfo) =~ s/\bdbname=\S+/dbname=$dbname/;
$db_conninfo .= " dbname=$dbname" unless $db_conninfo =~ /\bdbname=/;
sub admin_dbh {
    return DBI->connect("dbi:Pg:$conninfo", '', '',
                        { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
}

# ---- freezing PostgreSQL ----------------------------------------------------

sub postmaster_pid {
    my ($pid) = slurp("$pgdir/data/postmaster.pid") =~ /^(\d+)/;
    return $pid;
}

# The fields of /proc/PID/stat after the command name: (state, ppid).
sub proc_stat {
    my ($pid) = @_;
    my ($after) = slurp("/proc/$pid/stat") =~ /.*\) (.*)/s or return;
    return split ' ', $after, 3;
}

sub children_of {
    my ($parent) = @_;
    opendir my $dh, '/proc' or die "/proc: $!\n";
    return grep { /^\d+$/ && ((proc_stat($_))[1] // 0) == $parent } readdir $dh;
}

# Every process stopped, so that a failing run never leaves the cluster
# stopped behind it.
my %frozen;

# The postmaster first, so that it forks no new backend meanwhile; then its
# children, looked for again until no new one turns up.
sub freeze {
    my $pm = postmaster_pid() or die "no postmaster.pid in $pgdir/data\n";
    kill 'STOP', $pm or die "cannot stop the postmaster $pm: $!\n";
    $frozen{$pm} = 1;
    for (1 .. 5) {
        my @new = grep { !$frozen{$_} } children_of($pm);
        last unless @new;
        kill 'STOP', @new;
        $frozen{$_} = 1 for @new;
    }
    return $pm;
}

sub thaw {
    return unless %frozen;
    my $pm = postmaster_pid();
    my @all = (keys %frozen, $pm ? ($pm, children_of($pm)) : ());
    kill 'CONT', @all;
    %frozen = ();
}

# ---- httpd ------------------------------------------------------------------

# Two children with 16 threads each, and no more: the deliveries held in
# the freeze take 22 threads, and the status needs one of the others (a
# child started during the freeze would not serve before mod_dbd's
# child_init gave up connecting).
(my $dbd_params = "$db_conninfo connect_timeout=3") =~ s/"/\\"/g;
open my $fh, '>', "$dir/httpd.conf" or die;
print $fh httpd_conf_head(so => $so, root => $dir, port => $port), <<CONF;
StartServers 2
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32
MinSpareThreads 4
MaxSpareThreads 32
DBDriver pgsql
DBDParams "$dbd_params"
@{[webhook_location($key)]}
<Location /status>
    SetHandler protime-status
</Location>
CONF
close $fh;

my ($created_db, $httpd_started) = (0, 0);
END {
    my $rc = $?;
    if ($$ == $main_pid) {
        thaw();
        httpd_stop("$dir/httpd.conf", "$dir/httpd.pid") if $httpd_started;
        if ($created_db) {
            eval { admin_dbh()->do(qq(DROP DATABASE IF EXISTS "$dbname" WITH (FORCE))) };
            note("could not drop $dbname: $@") if $@;
        }
    }
    $? = $rc;
}
$SIG{INT} = $SIG{TERM} = sub { exit 2 };

admin_dbh()->do(qq(CREATE DATABASE "$dbname"));
$created_db = 1;
$httpd_started = 1;
httpd_start("$dir/httpd.conf", $port);
my $httpd_pid;
for (1 .. 50) { last if ($httpd_pid) = slurp("$dir/httpd.pid") =~ /(\d+)/; sleep 0.1 }
die "httpd wrote no pid file\n" unless $httpd_pid;

# ---- clients ------------------------------------------------------------------

# Each request runs in a process of its own, which writes
# "status seconds retry-after sent answered" into $dir/res.NAME when its
# answer came (status 599: HTTP::Tiny's, no answer in $CLIENT_TIMEOUT).
my (%client, %sent);        # pid -> name; name -> [id, version]
sub client {
    my ($name, $request) = @_;
    my $pid = fork // die "fork: $!\n";
    if (!$pid) {
        my $http = HTTP::Tiny->new(timeout => $CLIENT_TIMEOUT, keep_alive => 0);
        my $t0 = time;
        my $res = $request->($http);
        my $t1 = time;
        if (open my $out, '>', "$dir/res.$name.tmp") {
            printf $out "%d %.3f %s %.3f %.3f\n", $res->{status}, $t1 - $t0,
                $res->{headers}{'retry-after'} // '-', $t0, $t1;
            close $out;
            rename "$dir/res.$name.tmp", "$dir/res.$name";
        }
        POSIX::_exit(0);
    }
    $client{$pid} = $name;
    return $pid;
}

sub fire {
    my ($name, $id, $version) = @_;
    $sent{$name} = [$id, $version];
    client($name, sub { post_signed($_[0], $hook, $key, clocking($id, $version)) });
}

# Reaps the clients that are done; returns how many still run.
sub reap {
    while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) { delete $client{$pid} }
    return scalar keys %client;
}

sub result {
    my ($name) = @_;
    my ($status, $took, $retry, $t0, $t1) = split ' ', slurp("$dir/res.$name");
    return { status => $status // 599, took => $took, retry => $retry,
             sent => $t0, answered => $t1 };
}

sub answered { -e "$dir/res.$_[0]" }

# One delivery from this process: its answer.
my $http = HTTP::Tiny->new(timeout => $BACK_WITHIN, keep_alive => 0);
sub deliver { post_signed($http, $hook, $key, clocking(@_)) }

# ---- before the freeze ----------------------------------------------------

my %acked;                  # id -> version, every change answered 204
my @before;
for my $id (1 .. 6) {
    my $res = deliver($id, 'v1');
    push @before, $res->{status};
    $acked{$id} = 'v1' if $res->{status} == 204;
}
ok(!grep({ $_ != 204 } @before), 'before the freeze: 6 deliveries stored (204)',
   "answers: @before");
my $status = $http->get("http://127.0.0.1:$port/status");
ok($status->{status} == 200, 'before the freeze: protime-status answers 200',
   "got $status->{status}");
my $log_from = (-s "$dir/error_log") || 0;

# ---- the freeze ---------------------------------------------------------------

my $pm = freeze();
sleep 0.1;
my @running = grep { ((proc_stat($_))[0] // '') ne 'T' } keys %frozen;
ok(!@running && keys %frozen > 1,
   sprintf('PostgreSQL frozen: the postmaster and %d processes of it stopped',
           keys(%frozen) - 1),
   "not stopped: @running");
my $t_freeze = time;

my @wave = map { "wave$_" } 1 .. $WAVE;
fire("wave$_", 100 + $_, 'v1') for 1 .. $WAVE;
sleep $STATUS_AT - (time - $t_freeze) if time - $t_freeze < $STATUS_AT;
client('status', sub { $_[0]->get("http://127.0.0.1:$port/status") });

# The late ones once the wave is answered: with the module's bound, then
# after it gave up, on a connection it dropped or on one that hangs still.
until (!grep({ !answered($_) } @wave) || time - $t_freeze >= $LATE_AT) {
    reap();
    sleep 0.1;
}
my @late = map { "late$_" } 1 .. $LATE;
fire("late$_", 200 + $_, 'v1') for 1 .. $LATE;
my @during = (@wave, @late);

# Until every request of the freeze is answered, or the last one waited
# its $ANSWER_WITHIN.
my $give_up = time + $ANSWER_WITHIN + 1;
until (!grep({ !answered($_) } @during, 'status') || time >= $give_up) {
    reap();
    sleep 0.1;
}
my $t_thaw = time;
thaw();

# ---- after it -----------------------------------------------------------------

# Deliveries until one is stored, while the clients still waiting get
# their answers.
my (@after, $back);
for (my $n = 1; time - $t_thaw < $BACK_WITHIN; $n++) {
    my $res = deliver(300 + $n, 'v1');
    push @after, $res->{status};
    if ($res->{status} == 204) {
        $acked{300 + $n} = 'v1';
        $back = time - $t_thaw;
        last;
    }
    sleep 0.5;
}
ok(defined $back, sprintf('after SIGCONT: a delivery is stored (204) within %d s',
                          $BACK_WITHIN),
   "answers: @after");
note(sprintf('after SIGCONT: stored again %.1f s later, answers: %s', $back, "@after"))
    if defined $back;
while (reap()) { sleep 0.1 }

# ---- what the freeze did --------------------------------------------------------

my $st = result('status');
ok($st->{status} == 200 && $st->{took} <= $STATUS_WITHIN,
   "during the freeze: protime-status answers 200 within $STATUS_WITHIN s",
   sprintf('got %d after %.1f s', $st->{status}, $st->{took} // -1));

my $dbh = DBI->connect("dbi:Pg:$db_conninfo", '', '', { RaiseError => 1, PrintError => 0 });
my %stored = map { @$_ } @{ $dbh->selectall_arrayref(
    'SELECT id, change_version FROM protime_access_clockings') };
$dbh->disconnect;

my (@slow, @bad, %count);
for my $name (@during) {
    my $r = result($name);
    my ($id, $version) = @{ $sent{$name} };
    if ($r->{status} == 599) {
        $count{unanswered}++;
        push @slow, sprintf('%s: no answer after %.1f s', $name, $r->{took} // -1);
        next;
    }
    push @slow, sprintf('%s: %d after %.1f s', $name, $r->{status}, $r->{took})
        if $r->{took} > $ANSWER_WITHIN;
    if ($r->{status} == 204) {
        $acked{$id} = $version;
        $count{acked}++;
        $count{acked_after_thaw}++ if $r->{answered} > $t_thaw;
        push @bad, "$name: 204, not stored" unless ($stored{$id} // '') eq $version;
    }
    elsif ($r->{status} == 503) {
        $count{refused}++;
        push @bad, "$name: 503 without Retry-After" unless $r->{retry} =~ /^\d+$/;
    }
    else {
        push @bad, "$name: $r->{status}";
    }
}
my @took = sort { $a <=> $b } map { result($_)->{took} // 0 } @during;
ok(!@slow, sprintf('during the freeze: all %d deliveries answered within %d s',
                   scalar @during, $ANSWER_WITHIN),
   join "\n", @slow);
ok(!@bad, 'during the freeze: each answer is 503 with Retry-After, or 204 for a '
   . 'stored change', join "\n", @bad);
my $log = substr(slurp("$dir/error_log"), $log_from);
ok(scalar($log =~ $DID_NOT_ANSWER), 'the error log says at error level that the database '
   . 'did not answer', "no line matches $DID_NOT_ANSWER");

my @lost = grep { ($stored{$_} // '') ne $acked{$_} } sort { $a <=> $b } keys %acked;
ok(!@lost, sprintf('every change acknowledged before, during and after the freeze '
                   . 'is stored (%d)', scalar keys %acked),
   'lost: ' . join(' ', @lost));
ok(kill(0, $httpd_pid), 'httpd still running');

note(sprintf('freeze of %.1f s; status: %d after %.1f s; deliveries during the '
             . 'freeze: %d sent, %d answered 503, %d acknowledged (204; %d of them '
             . 'after SIGCONT), %d unanswered; answers took %.1f to %.1f s',
             $t_thaw - $t_freeze, $st->{status}, $st->{took} // -1, scalar @during,
             $count{refused} // 0, $count{acked} // 0, $count{acked_after_thaw} // 0,
             $count{unanswered} // 0, $took[0], $took[-1]));
note(sprintf('acknowledged during the fault: %d, lost: %d',
             $count{acked} // 0, scalar @lost));
if (failures()) {
    print "# error_log: $_\n" for grep { !/AH00489|AH00094|AH00491|AH00558/ }
                                    split /\n/, $log;
}
exit done_testing();
