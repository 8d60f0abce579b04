#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# A server stopped while its subscription job is calling Protime over
# https. mod_watchdog ends the job's thread only as the child exits, so
# OpenSSL's state of that thread must be gone before the child's exit
# handlers run: OpenSSL's atexit cleanup frees it too, and the thread's own
# destructor, running at the same time, would free it twice. That timing
# is rare; test/openssl-exit-shim.c makes it certain. Under each MPM, a few
# times: the job hangs in a TLS handshake with a Protime that never
# answers, the server stops, and no thread may free OpenSSL state after
# OpenSSL's cleanup (nor may glibc or the sanitizers see a double free).
# Usage: perl test/child-exit.pl mod_protime.so
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/lib";
use ProtimeScript;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);

my ($so) = @ARGV;
die "usage: $0 mod_protime.so\n" unless $so;
my $dir = tempdir(CLEANUP => 1);
my $shim = "$dir/openssl-exit-shim.so";
system($ENV{CC} || 'cc', '-shared', '-fPIC', '-o', $shim,
       "$FindBin::Bin/openssl-exit-shim.c", '-ldl') == 0
    or die "cannot build test/openssl-exit-shim.c\n";

# Protime that accepts connections and never answers.
my $hole = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Listen => 16) or die "listen: $!\n";
my $hole_port = $hole->sockport;
my $hole_pid = fork // die "fork: $!\n";
if (!$hole_pid) {
    my @held;
    while (my $c = $hole->accept) {
        push @held, $c;
        open my $fh, '>>', "$dir/accepted" or next;
        print $fh "1\n";
        close $fh;
    }
    POSIX::_exit(0);
}
close $hole;
END { if ($hole_pid) { local $?; kill 'TERM', $hole_pid; waitpid $hole_pid, 0 } }

# The sanitizers' wrapper (tools/run-tests) adds PROTIME_PRELOAD after
# their runtimes, which must come first.
my $httpd = $ENV{PROTIME_HTTPD} || 'apache2';
my $preload = $ENV{PROTIME_HTTPD} ? 'PROTIME_PRELOAD' : 'LD_PRELOAD';

sub run_httpd {
    my ($conf, $shim_log, @args) = @_;
    local $ENV{$preload} = $shim;
    local $ENV{OPENSSL_EXIT_SHIM_LOG} = $shim_log;
    return system($httpd, '-f', $conf, @args);
}

for my $mpm (qw(event prefork)) {
    for my $round (1 .. 2) {
        my $root = "$dir/$mpm-$round";
        mkdir $root or die "$root: $!\n";
        my $port = free_port();
        open my $fh, '>', "$root/httpd.conf" or die;
        print $fh httpd_conf_head(so => $so, root => $root, port => $port,
                                  mpm => $mpm), <<CONF;
StartServers 1
DBDriver sqlite3
DBDParams $root/protime.db
ProtimeSubscribe On
ProtimeTenant test
ProtimeAPIURL https://127.0.0.1:$hole_port/connector/protimeapi/api/v1
ProtimeTokenURL https://127.0.0.1:$hole_port/tenants/test/connect/token
ProtimeClientID mod_protime
ProtimeClientSecret child-exit-secret
ProtimeDestinationURL https://localhost/hook
ProtimeHTTPTimeout 30
CONF
        close $fh;
        my $shim_log = "$root/shim.log";
        my $calls = () = slurp("$dir/accepted") =~ /\n/g;
        run_httpd("$root/httpd.conf", $shim_log, '-k', 'start') == 0
            or die "httpd ($mpm) did not start\n";
        my $pid;
        for (1 .. 100) { last if ($pid = slurp("$root/httpd.pid")) =~ /\d/; sleep 0.1 }
        chomp $pid;
        # The job's first call is in its TLS handshake once Protime took it.
        for (1 .. 100) {
            last if (() = slurp("$dir/accepted") =~ /\n/g) > $calls;
            sleep 0.1;
        }
        sleep 0.3;
        run_httpd("$root/httpd.conf", $shim_log, '-k', 'stop');
        my $t0 = time;
        sleep 0.1 while kill(0, $pid) && time - $t0 < 20;
        my $stopped = !kill(0, $pid);
        my $log = slurp("$root/error_log");
        my $shim_said = slurp($shim_log);
        my $what = "$mpm, round $round";
        ok $stopped, "$what: httpd stopped";
        ok $log =~ /PT00701: .*the server is stopping/,
           "$what: the job was calling Protime when the server stopped", $log;
        ok $shim_said =~ /watching OpenSSL's thread destructor/,
           "$what: the shim stands between OpenSSL and its thread destructor",
           $shim_said;
        ok $shim_said !~ /after OPENSSL_cleanup/,
           "$what: no thread freed OpenSSL state after OpenSSL's cleanup",
           $shim_said;
        my @corrupt = grep { /double free|corrupted|invalid (?:chunk|pointer|size)|free\(\)|malloc/i }
                      split /\n/, $log;
        ok !@corrupt, "$what: no heap corruption in the error log",
           join "\n", @corrupt;
    }
}
exit done_testing();
