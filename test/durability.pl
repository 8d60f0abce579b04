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
use HTTP::Tiny;

my ($so) = @ARGV;
die "usage: $0 mod_protime.so\n" unless $so;
my $key = 'durability-key';
my $dir = tempdir(CLEANUP => 1);
my $shim = build_shim($dir, 'fsync-count-shim');

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
@{[webhook_location($key)]}
CONF
    close $fh;
    my $log = "$root/fsyncs";
    httpd_start("$root/httpd.conf", $port, preload_var() => $shim, FSYNC_COUNT_LOG => $log);
    my $http = HTTP::Tiny->new(timeout => 10);
    # The first delivery readies a connection (schema, pragmas): not counted.
    my @codes;
    for my $id (1 .. 31) {
        unlink $log if $id == 2;
        push @codes, post_signed($http, "http://127.0.0.1:$port/hook", $key,
                                 clocking($id, 'v1'))->{status};
    }
    my $syncs = length slurp($log);
    httpd_stop("$root/httpd.conf", "$root/httpd.pid");
    ok(!grep({ $_ != 204 } @codes), "$name: 31 deliveries stored", "answers: @codes");
    return $syncs;
}

my $default = syncs_for('default', '');
ok($default >= 30, "by default, each of 30 acknowledged deliveries was synced to disk ($default syncs)");
my $normal = syncs_for('normal', 'ProtimeSQLiteSynchronous Normal');
ok($normal < 3, "ProtimeSQLiteSynchronous Normal: the opt-in syncs no commit ($normal syncs)");
exit done_testing();
