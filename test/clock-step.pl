#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# The wall clock stepped back: a transaction gives up waiting for a lock
# another program holds on the SQLite database (503), the lock goes, and
# the server's wall clock steps back 600 s (test/clock-shift-shim.c), as
# NTP or a resumed virtual machine may step it. The deliveries that follow
# must be stored at once: the give-up, and every wait and deadline, are
# measured on a clock that only goes forward. Then a step forward.
# Usage: perl test/clock-step.pl mod_protime.so
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/lib";
use ProtimeScript;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(time);
use DBI;

my ($so) = @ARGV;
die "usage: $0 mod_protime.so\n" unless $so;
my $key = 'clock-step-key';
my $dir = tempdir(CLEANUP => 1);
my $shim = build_shim($dir, 'clock-shift-shim');
my $shift = "$dir/shift";
my $port = free_port();
my $db = "$dir/db/protime.db";

open my $fh, '>', "$dir/httpd.conf" or die;
print $fh httpd_conf_head(so => $so, root => $dir, port => $port), <<CONF;
StartServers 2
DBDriver sqlite3
DBDParams $db
@{[webhook_location($key)]}
CONF
close $fh;
httpd_start("$dir/httpd.conf", $port, preload_var() => $shim, CLOCK_SHIFT_FILE => $shift);

my $http = HTTP::Tiny->new(timeout => 20);
sub deliver {
    return post_signed($http, "http://127.0.0.1:$port/hook", $key, clocking($_[0], 'v1'))->{status};
}
sub set_shift { open my $s, '>', $shift or die; print $s "$_[0]\n"; close $s }

ok(deliver(1) == 204, 'a delivery is stored');
my $lock = DBI->connect("dbi:SQLite:dbname=$db", '', '', { RaiseError => 1, AutoCommit => 1 });
$lock->do('BEGIN EXCLUSIVE');
my $t0 = time;
my $locked = deliver(2);
ok($locked == 503, sprintf('database locked by another program: 503 after %.1f s', time - $t0),
   "got $locked");
$lock->do('ROLLBACK');
$lock->disconnect;

set_shift(-600);
my @back = map { deliver(100 + $_) } 1 .. 10;
ok(!grep({ $_ != 204 } @back), 'wall clock stepped back 600 s: the next deliveries are stored',
   "answers: @back");
set_shift(600);
my @fwd = map { deliver(200 + $_) } 1 .. 10;
ok(!grep({ $_ != 204 } @fwd), 'and stepped forward 600 s: stored too', "answers: @fwd");

httpd_stop("$dir/httpd.conf", "$dir/httpd.pid");
if (failures() && open my $log, '<', "$dir/error_log") {
    print "# error_log: $_" for grep { !/AH00489|AH00094|AH00491|AH00558/ } <$log>;
}
exit done_testing();
