#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# A flood of unsigned deliveries while the database is gone, at a server
# that subscribes itself. A process whose cached keys do not match reads
# the subscription's keys from the database again, at most about once a
# second (SPEC §3); that bound must hold also when the read fails, or each
# request of the flood waits for the database and logs a warning
# (PT00611). Under the event MPM, with one kept-alive connection, so one
# process: the job creates its webhook, the database's directory is
# removed, then unsigned deliveries for 2 s must all be answered 401, with
# at most three failed reads logged.
# Usage: perl test/keys-reread.pl mod_protime.so
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny ();
use Time::HiRes qw(time sleep);
use ProtimeMock;
use ProtimeScript;

my ($so) = @ARGV;
die "usage: $0 mod_protime.so\n" unless $so;
my $FLOOD = 2;          # seconds of unsigned deliveries
my $MAX_READS = 3;      # failed reads that 2 s allow: one at its start,
                        # one a second after, and one for the clock's edge
my $root = tempdir('keys-reread.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $mock = ProtimeMock->start(https => 0, log => "$root/mock.log");
my $port = free_port();
my $api = $mock->http_url . $mock->api_path;
my $token = $mock->http_url . $mock->token_path;
my $tenant = $mock->tenant;
mkdir "$root/db" or die "$root/db: $!\n";
open my $fh, '>', "$root/httpd.conf" or die "$root/httpd.conf: $!\n";
print $fh httpd_conf_head(so => $so, root => $root, port => $port,
                          loglevel => 'notice'), <<CONF;
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
DBDriver sqlite3
DBDParams $root/db/protime.db
ProtimeSubscribe On
ProtimeTenant $tenant
ProtimeAPIURL $api
ProtimeTokenURL $token
ProtimeClientID mod_protime
ProtimeClientSecret simulator-secret
ProtimeAllowInsecureAPI On
ProtimeDestinationURL http://127.0.0.1:$port/hook
ProtimeCheckInterval 2s
<Location /hook>
    SetHandler protime-webhook
</Location>
CONF
close $fh;

my $pid = httpd_start("$root/httpd.conf", $port);
END { httpd_stop("$root/httpd.conf", "$root/httpd.pid") if $pid; $mock->stop if $mock }

# The webhook, once the job has stored it (PT00703), and a little more for
# the step to end and publish that the keys changed.
my $created;
for (1 .. 300) {
    last if $created = slurp("$root/error_log") =~ /PT00703: created webhook/;
    sleep 0.1;
}
ok($created, 'the job created its webhook', slurp("$root/error_log"));
sleep 2;

remove_tree("$root/db");
my $http = HTTP::Tiny->new(agent => 'keys-reread/1', timeout => 15,
                           keep_alive => 1);
my (%status, $sent);
my $until = time + $FLOOD;
while (time < $until) {
    my $res = $http->post("http://127.0.0.1:$port/hook",
                          { content => '{}',
                            headers => { 'Content-Type' => 'application/json' } });
    $status{$res->{status}}++;
    $sent++;
}
my $log = slurp("$root/error_log");
my $reads = () = $log =~ /PT00611: cannot read the subscription's keys/g;
ok(($status{401} // 0) == $sent && $sent >= 20,
   "every unsigned delivery answered 401 ($sent sent)",
   join ', ', map { "$_: $status{$_}" } sort keys %status);
ok($reads >= 1, 'the failed read of the keys is logged', $log);
ok($reads <= $MAX_READS,
   "at most $MAX_READS failed reads of the keys in $FLOOD s ($reads)",
   $log);
ok(kill(0, $pid), 'httpd still running');
exit done_testing();
