#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Durable by default: with no ProtimeSQLiteSynchronous at all, each of 30
# deliveries sent one after another is on the disk before its 204 (SQLite
# syncs its log at every commit), so it survives a power cut; with
# "ProtimeSQLiteSynchronous Normal", the opt-in, nothing is synced for
# them. test/fsync-count-shim.c counts the fsync() and fdatasync() calls
# of the server's processes.
# Usage: perl test/durability.pl mod_protime.so
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
use Time::HiRes qw(sleep);

my ($so) = @ARGV;
die "usage: $0 mod_protime.so\n" unless $so;
my $httpd = $ENV{PROTIME_HTTPD} || 'apache2';
my $key = 'durability-key';
my $dir = tempdir(CLEANUP => 1);
my $shim = "$dir/fsync-count-shim.so";
system($ENV{CC} || 'cc', '-shared', '-fPIC', '-o', $shim,
       "$FindBin::Bin/fsync-count-shim.c", '-ldl') == 0
    or die "cannot build test/fsync-count-shim.c\n";
# The sanitizers' wrapper (tools/run-tests) preloads its runtimes, then
# PROTIME_PRELOAD.
my $preload = $ENV{PROTIME_HTTPD} ? 'PROTIME_PRELOAD' : 'LD_PRELOAD';

# Syncs counted while 30 deliveries are stored, one after another, by a
# server with $directive (none: the defaults).
sub syncs_for {
    my ($name, $directive) = @_;
    my $root = "$dir/$name";
    mkdir $root;
    my $port = free_port();
    open my $fh, '>', "$root/httpd.conf" or die;
    print $fh httpd_conf_head(so => $so, root => $root, port => $port), <<CONF;
StartServers 2
DBDriver sqlite3
DBDParams $root/db/protime.db
$directive
<Location /hook>
    SetHandler protime-webhook
    ProtimeWebhookKey $key
</Location>
CONF
    close $fh;
    my $log = "$root/fsyncs";
    {
        local $ENV{$preload} = $shim;
        local $ENV{FSYNC_COUNT_LOG} = $log;
        system($httpd, '-f', "$root/httpd.conf", '-k', 'start') == 0 or die "httpd did not start\n";
    }
    for (1 .. 50) { last if IO::Socket::INET->new("127.0.0.1:$port"); sleep 0.1 }
    my $http = HTTP::Tiny->new(timeout => 10);
    # The first delivery readies a connection (schema, pragmas): not counted.
    my @codes;
    for my $id (1 .. 31) {
        my $body = qq({"changeType":"InsertOrUpdate","data":{"id":$id,"changeVersion":"v1",)
                 . qq("date":"2026-11-26","timeOfDayInMinutes":480,"person":{"id":7},)
                 . qq("terminal":{"id":3},"status":"AccessOk"}});
        unlink $log if $id == 2;
        push @codes, $http->post("http://127.0.0.1:$port/hook", { content => $body,
            headers => { 'Content-Type' => 'application/json',
                         'X-Protime-Signature' => encode_base64(hmac_sha256($body, $key), '') } })->{status};
    }
    my $syncs = length slurp($log);
    system($httpd, '-f', "$root/httpd.conf", '-k', 'stop');
    for (1 .. 100) { last unless -f "$root/httpd.pid"; sleep 0.1 }
    ok(!grep({ $_ != 204 } @codes), "$name: 31 deliveries stored", "answers: @codes");
    return $syncs;
}

my $default = syncs_for('default', '');
ok($default >= 30, "by default, each of 30 acknowledged deliveries was synced to disk ($default syncs)");
my $normal = syncs_for('normal', 'ProtimeSQLiteSynchronous Normal');
ok($normal < 3, "ProtimeSQLiteSynchronous Normal: the opt-in syncs no commit ($normal syncs)");
exit done_testing();
