#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# The writers' mutex and mod_dbd's connections, taken in one order only.
# One child of 8 threads, and mod_dbd's pool at one connection (DBDMax 1):
# a WAL checkpoint every 1000 commits, and refused deliveries captured
# (ProtimeCaptureRefused), each need a connection and the mutex while six
# clients keep delivering. A thread that held the connection and waited
# for the mutex, while the mutex's holder waited for the connection, would
# hang every request of the server for good. Every request must be
# answered, past two checkpoints, and every 2xx be a row.
# Usage: perl test/lock-order.pl mod_protime.so
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/lib";
use ProtimeScript;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use DBI;
use POSIX ();

my ($so) = @ARGV;
die "usage: $0 mod_protime.so\n" unless $so;
my $key = 'lock-order-key';
my $CLIENTS = 6;
my $COMMITS = 2500;     # past two checkpoints
my $LIMIT = 120;        # seconds for all of it (sanitizers slow it down)
my $TIMEOUT = 15;       # a request that takes longer has hung

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $port = free_port();
open my $fh, '>', "$dir/httpd.conf" or die;
print $fh httpd_conf_head(so => $so, root => $dir, port => $port), <<CONF;
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
DBDriver sqlite3
DBDParams $dir/db/protime.db
DBDMin 0
DBDKeep 1
DBDMax 1
ProtimeSQLiteSynchronous Normal
<Location /hook>
    SetHandler protime-webhook
    ProtimeWebhookKey $key
    ProtimeCaptureRefused On
</Location>
<Location /protime-status>
    SetHandler protime-status
</Location>
CONF
close $fh;
httpd_start("$dir/httpd.conf", $port);

my $stop = "$dir/stop";
my @kids;
for my $c (1 .. $CLIENTS) {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my $http = HTTP::Tiny->new(timeout => $TIMEOUT, keep_alive => 1);
        my ($n, $ok, $other, $hung) = (0, 0, 0, 0);
        open my $acked, '>', "$dir/acked-$c" or die;
        until (-e $stop) {
            $n++;
            my $id = 1_000_000 * $c + $n;
            # Now and then one refused, which the module captures.
            my $r = post_signed($http, "http://127.0.0.1:$port/hook",
                                $n % 40 ? $key : 'not-the-key',
                                clocking($id, '0001'));
            if ($r->{status} == 599) { $hung++; last }
            if ($r->{status} =~ /^2/) { $ok++; print $acked "$id\n" }
            elsif ($r->{status} != 401) { $other++ }
        }
        close $acked;
        open my $out, '>', "$dir/client-$c" or die;
        print $out "$n $ok $other $hung\n";
        exit 0;
    }
    push @kids, $pid;
}

my $http = HTTP::Tiny->new(timeout => 5);
my ($commits, $started) = (0, time);
while (time - $started < $LIMIT) {
    my $r = $http->get("http://127.0.0.1:$port/protime-status");
    if ($r->{status} == 200) {
        my $s = eval { JSON::PP::decode_json($r->{content}) };
        $commits = $s->{counters}{commits} // $commits if $s;
    }
    last if $commits >= $COMMITS;
    sleep 0.5;
}
my $took = time - $started;
open my $s, '>', $stop or die;
close $s;
my $until = time + $TIMEOUT + 5;
while (@kids && time < $until) {
    @kids = grep { waitpid($_, POSIX::WNOHANG()) == 0 } @kids;
    sleep 0.2;
}
kill 'KILL', @kids if @kids;
waitpid $_, 0 for @kids;
httpd_stop("$dir/httpd.conf", "$dir/httpd.pid");

my ($sent, $acked, $other, $hung) = (0, 0, 0, 0);
for my $c (1 .. $CLIENTS) {
    my ($n, $ok, $o, $h) = split ' ', slurp("$dir/client-$c") || "0 0 0 1";
    ($sent, $acked, $other, $hung) = ($sent + $n, $acked + $ok, $other + $o,
                                      $hung + $h);
}
note(sprintf "%d deliveries, %d acknowledged, %d commits in %.1f s",
             $sent, $acked, $commits, $took);
ok($hung == 0 && !@kids, 'no request hung',
   "$hung request(s) got no answer within $TIMEOUT s"
   . (@kids ? ', and ' . @kids . ' client(s) never returned' : ''));
ok($commits >= $COMMITS, "past $COMMITS commits (a checkpoint every 1000)",
   "only $commits commits in $LIMIT s: the server stopped committing");
ok($other == 0, 'every delivery answered 2xx, or 401 when refused',
   "$other answered otherwise");
my $dbh = DBI->connect("dbi:SQLite:dbname=$dir/db/protime.db", '', '',
                       { RaiseError => 1, PrintError => 0 });
my %row = map { $_->[0] => 1 } @{ $dbh->selectall_arrayref(
    'SELECT id FROM protime_access_clockings') };
my @missing = grep { !$row{$_} }
              map { split /\n/, slurp("$dir/acked-$_") } 1 .. $CLIENTS;
ok(!@missing, 'every 2xx a row', scalar(@missing) . ' acknowledged, not stored');
my ($captured) = $dbh->selectrow_array('SELECT COUNT(*) FROM protime_refused');
ok($captured > 0, 'refused deliveries were captured meanwhile',
   'no refused delivery captured');
$dbh->disconnect;
exit done_testing();
