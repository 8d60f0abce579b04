# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

package ProtimeScript;
# Helpers of the test scripts that run their own httpd, outside
# Apache::Test (test/pgsql-reconnect.pl, test/pgsql-freeze.pl and
# test/cluster.pl, next to the tests' private PostgreSQL;
# test/child-exit.pl): TAP lines ending in the
# "N passed, N failed" line that tools/run-tests adds up, files, free ports
# and the head of their httpd.conf, and stopping and starting that
# PostgreSQL the way it was started.
use strict;
use warnings;
use POSIX ();
use IO::Socket::INET;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64);
use FindBin ();
use Exporter 'import';

our @EXPORT = qw(ok note failures done_testing slurp free_port httpd_conf_head
                 httpd_start httpd_stop webhook_location clocking post_signed build_shim preload_var
                 pg_stop pg_start);

my ($n, $failed) = (0, 0);

# The prototype gives the first argument scalar context: a failed match,
# ok($log =~ /.../, $name), is then false, not an empty list that would
# shift $name into its place.
sub ok($;$$) {
    my ($good, $name, $detail) = @_;
    $n++;
    print +($good ? '' : 'not '), "ok $n - ", $name // '', "\n";
    if (!$good) { $failed++; print "#   $_\n" for split /\n/, $detail // '' }
    return $good;
}
sub note { print "# $_\n" for split /\n/, join '', @_ }
sub failures { $failed }

# Prints the plan and the closing line; returns the exit status.
sub done_testing {
    print "1..$n\n", $n - $failed, " passed, $failed failed\n";
    return $failed ? 1 : 0;
}

# A file's content; '' when it cannot be read (not there yet).
sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return <$fh>;
}

# A TCP port on 127.0.0.1 that was free a moment ago.
sub free_port {
    return IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Listen => 1, ReuseAddr => 1)->sockport;
}

# The head of a test server's httpd.conf: the modules the receiver needs,
# under the MPM asked for (event by default), and where its files go:
# httpd_conf_head(so => ..., root => ..., port => ..., [mpm, pidfile,
# errorlog, loglevel]).
sub httpd_conf_head {
    my (%c) = @_;
    chomp(my $modules = `apxs -q LIBEXECDIR`);
    my $mpm = $c{mpm} // 'event';
    my $pidfile = $c{pidfile} // "$c{root}/httpd.pid";
    my $errorlog = $c{errorlog} // "$c{root}/error_log";
    my $loglevel = $c{loglevel} // 'warn';
    return <<CONF;
LoadModule mpm_${mpm}_module $modules/mod_mpm_$mpm.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule dbd_module $modules/mod_dbd.so
LoadModule protime_module $c{so}
ServerName localhost
ServerRoot $c{root}
PidFile $pidfile
ErrorLog $errorlog
LogLevel $loglevel
Listen 127.0.0.1:$c{port}
CONF
}

my $httpd = $ENV{PROTIME_HTTPD} || 'apache2';

# Starts the httpd of $conf (with %env set) and waits for its port; dies
# when it does not start.
# Starts httpd on $conf and waits until it listens on $port; returns the
# parent's pid, from the PidFile the configuration names.
sub httpd_start {
    my ($conf, $port, %env) = @_;
    local @ENV{keys %env} = values %env;
    system($httpd, '-f', $conf, '-k', 'start') == 0 or die "httpd did not start\n";
    for (1 .. 50) { last if IO::Socket::INET->new("127.0.0.1:$port"); select undef, undef, undef, 0.1 }
    my ($pidfile) = slurp($conf) =~ /^PidFile\s+(\S+)/m or return;
    for (1 .. 50) {
        my ($pid) = slurp($pidfile) =~ /(\d+)/;
        return $pid if $pid;
        select undef, undef, undef, 0.1;
    }
    die "httpd wrote no pid file\n";
}

# A protime-webhook location at $path (default /hook) that checks
# signatures with $key.
sub webhook_location {
    my ($key, $path) = @_;
    $path //= '/hook';
    return "<Location $path>\n    SetHandler protime-webhook\n"
         . "    ProtimeWebhookKey $key\n</Location>\n";
}

# Stops it, and waits until its pid file is gone.
sub httpd_stop {
    my ($conf, $pidfile) = @_;
    system($httpd, '-f', $conf, '-k', 'stop');
    for (1 .. 100) { last unless -f $pidfile; select undef, undef, undef, 0.1 }
}

# The body of one signed change: an InsertOrUpdate of access clocking $id.
sub clocking {
    my ($id, $version) = @_;
    return qq({"changeType":"InsertOrUpdate","data":{"id":$id,"changeVersion":"$version",)
         . qq("date":"2026-11-26","timeOfDayInMinutes":480,"person":{"id":7},)
         . qq("terminal":{"id":3},"status":"AccessOk"}});
}

# POSTs $body to $url, signed with $key as the module checks by default;
# returns HTTP::Tiny's response.
sub post_signed {
    my ($http, $url, $key, $body) = @_;
    return $http->post($url, { content => $body,
        headers => { 'Content-Type' => 'application/json',
                     'X-Protime-Signature' => encode_base64(hmac_sha256($body, $key), '') } });
}

# Builds test/$name.c into $dir/$name.so, an LD_PRELOAD shim; returns it.
sub build_shim {
    my ($dir, $name) = @_;
    my $so = "$dir/$name.so";
    system($ENV{CC} || 'cc', '-shared', '-fPIC', '-o', $so,
           "$FindBin::Bin/$name.c", '-ldl') == 0 or die "cannot build test/$name.c\n";
    return $so;
}

# The variable a shim goes into: under the sanitizers' wrapper
# (tools/run-tests), which preloads their runtimes, PROTIME_PRELOAD.
sub preload_var { $ENV{PROTIME_HTTPD} ? 'PROTIME_PRELOAD' : 'LD_PRELOAD' }

my $pgbin;
sub pg_bin {
    chomp($pgbin //= `ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1`);
    return $pgbin;
}

# Runs a command with its stdout (not TAP) thrown away; returns its status.
sub quiet {
    my $pid = fork // die "fork: $!\n";
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        { exec @_ }
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return $?;
}

# The options the cluster in $pgdir runs with, to start it again exactly
# so: from postmaster.opts (what pg_ctl start was given), else
# tools/pg.sh's.
sub pg_start_options {
    my ($pgdir) = @_;
    my @args;
    if (open my $fh, '<', "$pgdir/data/postmaster.opts") {
        my $line = do { local $/; <$fh> };
        @args = $line =~ /"((?:[^"\\]|\\.)*)"/g;
        my @keep;
        for (my $i = 0; $i < @args; $i++) {
            if ($args[$i] eq '-D') { $i++; next }
            push @keep, $args[$i];
        }
        @args = @keep;
    }
    @args = ('-c', "listen_addresses=", '-k', $pgdir, '-c', 'fsync=on',
             '-c', 'synchronous_commit=on') unless @args;
    return join ' ', map { "'" . s/'/'\\''/gr . "'" } @args;
}

# Stops the cluster in $pgdir (fast); returns the options to start it with.
sub pg_stop {
    my ($pgdir) = @_;
    my $opts = pg_start_options($pgdir);
    quiet(pg_bin() . '/pg_ctl', '-D', "$pgdir/data", '-m', 'fast', '-w', 'stop') == 0
        or die "pg_ctl stop failed\n";
    return $opts;
}

# Starts it again with those options, waiting until it accepts connections.
sub pg_start {
    my ($pgdir, $opts) = @_;
    quiet(pg_bin() . '/pg_ctl', '-D', "$pgdir/data", '-l', "$pgdir/server.log",
          '-w', '-o', $opts, 'start') == 0 or die "pg_ctl start failed\n";
}

1;
