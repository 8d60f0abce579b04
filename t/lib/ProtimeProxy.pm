# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

package ProtimeProxy;
# A forward proxy for the tests: CONNECT only, Basic credentials, tunnels
# to 127.0.0.1 only, on a free loopback port. Each CONNECT it saw is
# recorded, with the Proxy-Authorization sent and the status answered.
#
#   my $proxy = ProtimeProxy->start(user => 'u', password => 'p');
#   $proxy->url;                    # http://127.0.0.1:<port>
#   my @c = $proxy->connects;       # { target, auth, status }, oldest first
#   $proxy->stop;                   # also done when the object goes away
#
# Core Perl only: each connection in a process of its own, relayed with
# IO::Select.
use strict;
use warnings;

use IO::Select ();
use IO::Socket::INET ();
use File::Temp qw(tempfile);
use MIME::Base64 qw(encode_base64);
use POSIX qw(_exit);

sub start {
    my ($class, %o) = @_;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                       Listen => 16, ReuseAddr => 1)
        or die "cannot listen on 127.0.0.1: $!";
    my (undef, $log) = tempfile('protime-proxy.XXXXXX', TMPDIR => 1, UNLINK => 1);
    my $want = 'Basic ' . encode_base64("$o{user}:$o{password}", '');
    my $pid = fork // die "cannot fork: $!";
    if (!$pid) {
        $SIG{CHLD} = 'IGNORE';
        while (1) {
            my $client = $listen->accept or next;
            my $child = fork;
            if (defined $child && !$child) {
                _serve($client, $want, $log);
                _exit(0);
            }
            close $client;
        }
    }
    my $self = bless { pid => $pid, owner => $$, log => $log,
                       port => $listen->sockport }, $class;
    close $listen;
    return $self;
}

sub url { 'http://127.0.0.1:' . $_[0]{port} }

sub connects {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return;
    my @c;
    while (<$fh>) {
        chomp;
        my ($target, $auth, $status) = split /\t/;
        push @c, { target => $target, auth => $auth, status => $status };
    }
    return @c;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid} && $$ == $self->{owner};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub DESTROY { $_[0]->stop }

sub _record {
    my ($log, @fields) = @_;
    open my $fh, '>>', $log or return;
    print $fh join("\t", @fields), "\n";
    close $fh;
}

sub _serve {
    my ($client, $want, $log) = @_;
    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        sysread($client, $head, 4096, length $head) or return;
    }
    my ($target) = $head =~ m{^CONNECT (\S+) HTTP/1\.[01]\r\n};
    my ($auth) = $head =~ m{\r\nProxy-Authorization:[ \t]*([^\r\n]*)}i;
    $auth //= '-';
    my ($host, $port) = ($target // '') =~ /^(127\.0\.0\.1):(\d+)$/;
    my $upstream;
    my $status = !defined $target ? 405
        : $auth ne $want ? 407
        : !defined $host ? 403
        : ($upstream = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port))
            ? 200 : 502;
    _record($log, $target // '-', $auth, $status);
    if ($status != 200) {
        my $extra = $status == 407 ? "Proxy-Authenticate: Basic realm=\"test\"\r\n" : '';
        syswrite $client, "HTTP/1.1 $status Refused\r\n${extra}Content-Length: 0\r\n"
            . "Connection: close\r\n\r\n";
        return;
    }
    syswrite $client, "HTTP/1.1 200 Connection established\r\n\r\n";
    # Bytes the client sent after the head belong to the tunnel.
    my ($rest) = $head =~ /\r\n\r\n(.*)\z/s;
    syswrite $upstream, $rest if length $rest;
    my $sel = IO::Select->new($client, $upstream);
    while (1) {
        my @ready = $sel->can_read(60) or return;
        for my $from (@ready) {
            my $to = $from == $client ? $upstream : $client;
            my $n = sysread $from, my $buf, 65536;
            return unless $n;
            syswrite $to, $buf or return;
        }
    }
}

1;
