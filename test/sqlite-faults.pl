#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Two faults of the SQLite database under load, each with three clients
# delivering signed changes to ids of their own, under the event MPM and
# under prefork.
#
# Read-only for a moment: the database, its -wal and -shm made read-only
# (chmod 444), a graceful restart, whose new children open their
# connections meanwhile, and writable again 3 s later. SQLite opens a file
# it cannot write read-only without a word, and such a connection stays
# read-only ("attempt to write a readonly database"): the module must give
# it up, so that deliveries are stored again within seconds, and lose
# none it acknowledged.
#
# Removed: the database's directory removed (rm -rf) and, seconds later,
# made again. Connections opened before keep committing into the unlinked
# files; the module must see that the file at the configured path is gone
# or another one, answer 503 with Retry-After and log an error while it is
# gone, and store into the database at that path (created again with its
# schema) once the directory is back: no acknowledgement for a change that
# is not in the file at the configured path.
#
# Run it as an unprivileged user: root writes read-only files.
# Usage: perl test/sqlite-faults.pl mod_protime.so
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/lib";
use ProtimeScript;
use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use POSIX ();
use DBI;

# The error_log line the module writes when a connection finds its
# database file removed (PT00421 when its directory is missing, PT00424
# when it was removed under a commit).
my $REMOVED_LOG_RE = qr/\[protime:error\].*PT0042[14]: the database file \S+protime\.db was removed or replaced/;

my ($so) = @ARGV;
die "usage: $0 mod_protime.so\n" unless $so;
die "$0: run it as an unprivileged user (root writes read-only files), e.g. "
    . "runuser -u protime-test -- perl $0 $so\n" if $> == 0;
my $key = 'sqlite-faults-key';
my $CLIENTS = 3;
my $TIMEOUT = 15;       # HTTP::Tiny's, per request
my $BEFORE = 1.5;       # seconds of deliveries before a fault
my $FAULT = 3;          # seconds the fault lasts
my $AFTER = 8;          # seconds of deliveries after it ends
my $RECOVER = 5;        # seconds after it within which deliveries must be stored again

# A server of the MPM asked for, on SQLite in $dir/db; returns its
# httpd.conf, port and parent's pid.
sub start_server {
    my ($dir, $mpm) = @_;
    my $port = free_port();
    # Room in the scoreboard for the old children of a graceful restart.
    my $model = $mpm eq 'event'
        ? "StartServers 2\nThreadsPerChild 8\nMaxRequestWorkers 16\nServerLimit 4\n"
          . "MinSpareThreads 4\nMaxSpareThreads 16\n"
        : "StartServers 3\nMinSpareServers 3\nMaxSpareServers 6\nMaxRequestWorkers 8\n";
    open my $fh, '>', "$dir/httpd.conf" or die;
    print $fh httpd_conf_head(so => $so, root => $dir, port => $port, mpm => $mpm), <<CONF;
$model
KeepAlive Off
DBDriver sqlite3
DBDParams $dir/db/protime.db
@{[webhook_location($key)]}
CONF
    close $fh;
    my $parent = httpd_start("$dir/httpd.conf", $port);
    return ("$dir/httpd.conf", $port, $parent);
}

# Forks the clients: each delivers changes to ids of its own, one after
# another, until $dir/stop exists, and writes a line for each answer:
# "sent answered status has-Retry-After id".
sub start_clients {
    my ($dir, $port) = @_;
    my @pids;
    for my $c (1 .. $CLIENTS) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $http = HTTP::Tiny->new(timeout => $TIMEOUT, keep_alive => 0);
            open my $out, '>', "$dir/answers.$c" or die;
            $out->autoflush(1);
            my $n = 0;
            until (-e "$dir/stop") {
                my $id = 1_000_000 * $c + ++$n;
                my $sent = time;
                my $res = post_signed($http, "http://127.0.0.1:$port/hook", $key,
                                      clocking($id, 'v1'));
                printf $out "%.4f %.4f %d %d %d\n", $sent, time, $res->{status},
                    defined $res->{headers}{'retry-after'} ? 1 : 0, $id;
            }
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    return @pids;
}

# Stops the clients; returns their answers, in the order they were sent.
sub stop_clients {
    my ($dir, @pids) = @_;
    open my $stop, '>', "$dir/stop" or die;
    close $stop;
    waitpid $_, 0 for @pids;
    my @answers;
    for my $c (1 .. $CLIENTS) {
        open my $in, '<', "$dir/answers.$c" or next;
        while (<$in>) {
            my ($sent, $answered, $status, $ra, $id) = split;
            push @answers, { sent => $sent, answered => $answered, status => $status,
                             ra => $ra, id => $id };
        }
    }
    return sort { $a->{sent} <=> $b->{sent} } @answers;
}

sub stored { $_[0]{status} =~ /^2/ }

# The ids in the database at $db (none when it has no table).
sub stored_ids {
    my ($db) = @_;
    return {} unless -f $db;
    my $dbh = DBI->connect("dbi:SQLite:dbname=$db", '', '', { RaiseError => 1, PrintError => 0 });
    my $ids = eval { $dbh->selectcol_arrayref('SELECT id FROM protime_access_clockings') } || [];
    $dbh->disconnect;
    return { map { $_ => 1 } @$ids };
}

# "204 x12, 503 x40 (Retry-After on 40)"
sub tally {
    my %n;
    $n{$_->{status}}++ for @_;
    my $ra = grep { $_->{status} == 503 && $_->{ra} } @_;
    return (join(', ', map { "$_ x$n{$_}" } sort keys %n) || 'none')
         . ($n{503} ? " (Retry-After on $ra)" : '');
}

# The first of @after (sent after $t) to be stored: how long after $t it
# was answered, or undef.
sub stored_again_after {
    my ($t, @after) = @_;
    my ($first) = grep { stored($_) } @after;
    return $first && $first->{answered} - $t;
}

# The error_log from byte $from on, without httpd's own start and stop lines.
sub log_lines {
    my ($dir, $from) = @_;
    return grep { !/AH00489|AH00094|AH00491|AH00558|AH00493|AH00169|AH00171|AH00292/ }
           split /^/, substr(slurp("$dir/error_log"), $from // 0);
}

sub show_log {
    my ($dir) = @_;
    my (%seen, @lines);
    # The same message again and again (for other clients and ids): once,
    # with its count.
    for (log_lines($dir)) {
        (my $msg = $_) =~ s/^\[[^\]]*\] //;
        $msg =~ s/\[(?:pid|client) [^\]]*\] //g;
        (my $kind = $msg) =~ s/\(id \d+\)/(id N)/g;
        push @lines, [$kind, $msg] unless $seen{$kind}++;
    }
    printf "# error_log: (%dx) %s", $seen{$_->[0]}, $_->[1]
        for @lines[0 .. ($#lines < 20 ? $#lines : 20)];
}

sub run_readonly {
    my ($mpm) = @_;
    my $failed_before = failures();
    my $dir = tempdir(CLEANUP => 1);
    my $db = "$dir/db/protime.db";
    my ($conf, $port, $parent) = start_server($dir, $mpm);
    my @clients = start_clients($dir, $port);
    sleep $BEFORE;
    my @files = grep { -e } ($db, "$db-wal", "$db-shm");
    my $t_ro = time;
    chmod 0444, @files;
    kill 'USR1', $parent;       # apachectl -k graceful
    sleep $FAULT;
    chmod 0644, @files;
    my $t_rw = time;
    sleep $AFTER;
    my @answers = stop_clients($dir, @clients);
    my $running = kill 0, $parent;
    httpd_stop($conf, "$dir/httpd.pid");
    my $ids = stored_ids($db);

    my @before = grep { $_->{answered} < $t_ro } @answers;
    my @during = grep { $_->{sent} >= $t_ro && $_->{answered} <= $t_rw } @answers;
    my @after = grep { $_->{sent} >= $t_rw } @answers;
    my @late = grep { $_->{sent} >= $t_rw + $RECOVER } @after;
    my @acked = grep { stored($_) } @answers;
    my @lost = grep { !$ids->{$_->{id}} } @acked;
    my $again = stored_again_after($t_rw, @after);

    ok(@before && !grep({ !stored($_) } @before), "$mpm, read-only: deliveries stored before the fault",
       'answers: ' . tally(@before));
    ok($running, "$mpm, read-only: httpd running after its graceful restart");
    ok(defined $again && $again <= $RECOVER,
       sprintf("$mpm, read-only: deliveries stored again within $RECOVER s of chmod 644 (%s)",
               defined $again ? sprintf('after %.1f s', $again) : 'never'),
       'answers after chmod 644: ' . tally(@after));
    ok(@late >= 10 && !grep({ !stored($_) } @late),
       sprintf("$mpm, read-only: every delivery from $RECOVER s after chmod 644 on stored (%d of %d)",
               scalar(grep { stored($_) } @late), scalar @late),
       'answers: ' . tally(@late));
    ok(!@lost, "$mpm, read-only: every acknowledged change is in the database",
       'lost: ' . join(' ', map { $_->{id} } @lost[0 .. ($#lost < 9 ? $#lost : 9)]));
    note("$mpm, read-only: while read-only: " . tally(@during)
         . "; after chmod 644: " . tally(@after));
    note("$mpm, read-only: " . scalar(@acked) . ' acknowledged, ' . scalar(@lost) . ' lost');
    show_log($dir) if failures() > $failed_before;
}

sub run_removed {
    my ($mpm) = @_;
    my $failed_before = failures();
    my $dir = tempdir(CLEANUP => 1);
    my $dbdir = "$dir/db";
    my $db = "$dbdir/protime.db";
    my ($conf, $port, $parent) = start_server($dir, $mpm);
    my @clients = start_clients($dir, $port);
    sleep $BEFORE;
    my ($mode, $uid, $gid) = (stat $dbdir)[2, 4, 5];
    my $log_from = -s "$dir/error_log";
    my $t_rm = time;
    # As rm -rf does, the files go first and the directory last: a child
    # that notices the file gone in between opens a new one there, and
    # the directory is then not empty. Removed again until it is gone.
    my $tries = 0;
    while (-d $dbdir && $tries++ < 50) {
        remove_tree($dbdir, { error => \my $ignored });
    }
    die "cannot remove $dbdir\n" if -d $dbdir;
    note("$mpm, removed: the directory was gone after $tries removals") if $tries > 1;
    my $t_gone = time;
    # The directory is watched while it is missing: a module that made it
    # again itself would end the fault there.
    my ($t_missing, $made_by_module) = ($t_gone, 0);
    while (time < $t_gone + $FAULT) {
        my $now = time;
        if (-d $dbdir) { $made_by_module = 1; last }
        $t_missing = $now;
        sleep 0.05;
    }
    if (!$made_by_module) {
        mkdir $dbdir or die "mkdir $dbdir: $!\n";
        chmod $mode & 07777, $dbdir;
        chown $uid, $gid, $dbdir;
    }
    my $t_back = time;
    sleep $AFTER;
    my @answers = stop_clients($dir, @clients);
    my @log = log_lines($dir, $log_from);
    httpd_stop($conf, "$dir/httpd.pid");
    my $ids = stored_ids($db);

    # Answered before the rm began: in the file the administrator removed.
    my @before = grep { $_->{answered} < $t_rm } @answers;
    # Sent and answered while the directory was missing.
    my @during = grep { $_->{sent} >= $t_gone && $_->{answered} <= $t_missing } @answers;
    my @after = grep { $_->{sent} >= $t_back } @answers;
    my @late = grep { $_->{sent} >= $t_back + $RECOVER } @after;
    # Every change sent after the rm that got a 2xx must be in the file.
    my @owed = grep { $_->{sent} >= $t_gone && stored($_) } @answers;
    my @lost = grep { !$ids->{$_->{id}} } @owed;
    my $again = stored_again_after($t_back, @after);

    ok(@before && !grep({ !stored($_) } @before), "$mpm, removed: deliveries stored before the fault",
       'answers: ' . tally(@before));
    ok(!grep({ stored($_) } @during),
       sprintf("$mpm, removed: no delivery acknowledged while the directory was missing (%d of %d)",
               scalar(grep { stored($_) } @during), scalar @during),
       'answers: ' . tally(@during));
    ok(@during && !grep({ $_->{status} != 503 || !$_->{ra} } @during),
       "$mpm, removed: every delivery meanwhile answered 503 with Retry-After",
       'answers: ' . tally(@during));
    ok(scalar(grep { /$REMOVED_LOG_RE/ } @log),
       "$mpm, removed: an error in the error_log says the database is gone",
       "no line matches $REMOVED_LOG_RE");
    ok(defined $again && $again <= $RECOVER,
       sprintf("$mpm, removed: deliveries stored again within $RECOVER s of mkdir (%s)",
               defined $again ? sprintf('after %.1f s', $again) : 'never'),
       'answers after mkdir: ' . tally(@after));
    ok(@late >= 10 && !grep({ !stored($_) } @late),
       sprintf("$mpm, removed: every delivery from $RECOVER s after mkdir on stored (%d of %d)",
               scalar(grep { stored($_) } @late), scalar @late),
       'answers: ' . tally(@late));
    ok(!@lost,
       sprintf("$mpm, removed: every change acknowledged after the rm is in the database at "
               . "its path (%d of %d)", @owed - @lost, scalar @owed),
       'lost: ' . join(' ', map { $_->{id} } @lost[0 .. ($#lost < 9 ? $#lost : 9)]));
    note("$mpm, removed: the module made the directory again itself") if $made_by_module;
    note("$mpm, removed: while missing: " . tally(@during) . '; after mkdir: ' . tally(@after));
    note(sprintf("$mpm, removed: %d acknowledged during the fault, %d acknowledged after the "
                 . "rm in all, %d of those lost; %d acknowledged before the rm (removed with "
                 . "the directory, not counted)",
                 scalar(grep { stored($_) } @during), scalar @owed, scalar @lost,
                 scalar(grep { stored($_) } @before)));
    show_log($dir) if failures() > $failed_before;
}

for my $mpm (qw(event prefork)) {
    run_readonly($mpm);
    run_removed($mpm);
}
exit done_testing();
