#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Valgrind's memcheck over the C unit tests and over the module in httpd:
# each unit test binary given, then one httpd process (-X, SQLite) that
# answers a range of deliveries (stored, re-sent, stale, deleted, badly
# signed, not JSON, invalid, too large, in a refused coding) and its status
# in JSON and in the Prometheus format. Any memcheck error fails; so does a
# leak in a unit test (httpd leaves its pools to exit, so there leaks are
# not looked for).
# Usage: perl test/valgrind.pl mod_protime.so test/unit/test_x ...
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/lib";
use ProtimeScript;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use HTTP::Tiny;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Time::HiRes qw(time sleep);

my ($so, @units) = @ARGV;
die "usage: $0 mod_protime.so test/unit/test_x ...\n" unless $so;
my $dir = tempdir(CLEANUP => 1);
my @memcheck = ('valgrind', '--tool=memcheck', '--num-callers=30');

# "ERROR SUMMARY: N errors" of a memcheck log; the log when not 0.
sub memcheck_errors {
    my ($log) = @_;
    my $text = slurp($log);
    my ($n) = $text =~ /ERROR SUMMARY: (\d+) errors/;
    return (defined $n ? $n : -1, $text);
}

for my $unit (@units) {
    my $log = "$dir/" . ($unit =~ s{.*/}{}r) . '.memcheck';
    my $out = `@memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect --log-file=$log $unit 2>&1`;
    my ($passed, $failed) = $out =~ /^(\d+) passed, (\d+) failed$/m;
    my ($errors, $text) = memcheck_errors($log);
    ok(defined $failed && $failed == 0 && $passed > 0,
       "$unit under memcheck: its tests pass", $out =~ /^not ok.*$/mg);
    ok($errors == 0, "$unit under memcheck: no error, no leak ($errors)",
       $text);
}

# httpd -X: one process, its worker threads, under memcheck.
my $key = 'valgrind-test-key';
my $port = free_port();
open my $fh, '>', "$dir/httpd.conf" or die;
print $fh httpd_conf_head(so => $so, root => $dir, port => $port), <<CONF;
DBDriver sqlite3
DBDParams $dir/db/protime.db
<Location /hook>
    SetHandler protime-webhook
    ProtimeWebhookKey $key
    ProtimeMaxBodySize 2K
</Location>
<Location /status>
    SetHandler protime-status
</Location>
CONF
close $fh;

my $log = "$dir/httpd.memcheck";
my $pid = fork // die "fork: $!\n";
if (!$pid) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', "$dir/stderr";
    { exec @memcheck, '--leak-check=no', "--log-file=$log", 'apache2', '-X',
           '-f', "$dir/httpd.conf" }
    POSIX::_exit(127);
}
my $up;
for (1 .. 600) {
    last if ($up = IO::Socket::INET->new("127.0.0.1:$port"));
    last if waitpid($pid, POSIX::WNOHANG()) == $pid;
    sleep 0.1;
}
ok($up, 'httpd -X under memcheck answers', slurp("$dir/stderr") . slurp("$dir/error_log"));

my $http = HTTP::Tiny->new(timeout => 60);
sub post {
    my ($body, %h) = @_;
    my $sig = delete $h{signature} // encode_base64(hmac_sha256($body, $key), '');
    return $http->post("http://127.0.0.1:$port/hook", { content => $body,
        headers => { 'Content-Type' => 'application/json',
                     'X-Protime-Signature' => $sig, %h } })->{status};
}
sub clocking_change {
    my ($type, $id, $version) = @_;
    return qq({"changeType":"$type","data":{"id":$id,"changeVersion":"$version",)
         . qq("date":"2026-11-26","timeOfDayInMinutes":480,"person":{"id":7},)
         . qq("terminal":{"id":3},"status":"AccessOk"}});
}

my %cases = (
    'stored'           => [204, post(clocking_change('InsertOrUpdate', 1, 'v2'))],
    're-sent'          => [204, post(clocking_change('InsertOrUpdate', 1, 'v2'))],
    'stale'            => [204, post(clocking_change('InsertOrUpdate', 1, 'v1'))],
    'deleted'          => [204, post(qq({"changeType":"Delete","data":{"id":1,"changeVersion":"v3"}}))],
    'badly signed'     => [401, post(clocking_change('InsertOrUpdate', 2, 'v1'), signature => 'AAAA')],
    'not JSON'         => [202, post('{"changeType":')],
    'invalid'          => [202, post(qq({"changeType":"InsertOrUpdate","data":{"id":5}}))],
    'too large'        => [413, post(clocking_change('InsertOrUpdate', 3, 'v1') . (' ' x 4096))],
    'a refused coding' => [415, post(clocking_change('InsertOrUpdate', 4, 'v1'), 'Content-Encoding' => 'gzip')],
);
for my $case (sort keys %cases) {
    my ($want, $got) = @{ $cases{$case} };
    ok($got == $want, "$case: $want", "got $got");
}
my $json = $http->get("http://127.0.0.1:$port/status");
ok($json->{status} == 200 && $json->{content} =~ /"counters"/, 'status: JSON');
my $prom = $http->get("http://127.0.0.1:$port/status?format=prometheus");
ok($prom->{status} == 200 && $prom->{content} =~ /^protime_/m, 'status: Prometheus');

kill 'TERM', $pid;
my $t0 = time;
sleep 0.2 while waitpid($pid, POSIX::WNOHANG()) == 0 && time - $t0 < 120;
my ($errors, $text) = memcheck_errors($log);
ok($errors == 0, "httpd under memcheck: no error ($errors)", $text);
exit done_testing();
