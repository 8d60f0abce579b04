# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

package ProtimeMock;
# Starts tools/protime-simulator (the mock Protime API) or attaches to a
# running one, and wraps its control API (/_mock/...) for .t files and
# scripts.
#
#   use ProtimeMock;
#   my $mock = ProtimeMock->start(clockings => 500, deliver => 3,
#                                 seed => { people => 20 }, delta_ttl => 2);
#   my $api  = $mock->https_url . '/connector/protimeapi/api/v1';   # CA: $mock->ca_file
#   $mock->fail(method => 'POST', path => '/webhooks$', status => 503,
#               retry_after => 1, times => 2);
#   my $state = $mock->state;                   # tokens_issued, webhooks, requests, ...
#   my $c = $mock->change(collection => 'people', id => 3, lose => 1);
#   $mock->stop;                                # also done when the object goes away
#
#   my $mock = ProtimeMock->attach($ready_file);   # one the test runner started
#
# Every control call dies if the simulator does not answer 2xx, and returns
# the decoded JSON answer. Core Perl only (HTTP::Tiny, JSON::PP).
use strict;
use warnings;

use HTTP::Tiny ();
use JSON::PP ();
use File::Spec ();
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

my $json = JSON::PP->new->utf8->canonical;

# tools/protime-simulator of this tree: t/lib/ProtimeMock.pm -> ../../tools
sub program {
    return $ENV{PROTIME_SIMULATOR} if $ENV{PROTIME_SIMULATOR};
    my $top = File::Spec->rel2abs(dirname(__FILE__) . '/../..');
    return "$top/tools/protime-simulator";
}

# ProtimeMock->start(%opts): spawns the simulator on free ports, http and
# https, and waits until it is ready. Options are the simulator's, with
# underscores or dashes (tenant, client_id, client_secret, valid_for,
# token_ttl, page_size, clockings, deliver, log, signature_header,
# signature_scheme, delta_ttl), plus:
#   seed     records to seed: { COLLECTION => N, ... }, or "COLLECTION=N"
#            strings (one, or an array ref of them), each a --seed
#   tls_dir  where the test CA lives (default: a temporary directory)
#   https    0 for no https listener (default 1)
#   dir      where the ready file goes (default: a temporary directory)
#   timeout  seconds to wait for readiness (default 30)
sub start {
    my ($class, %o) = @_;
    my $tmp = tempdir('protime-mock.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $dir = delete $o{dir} // $tmp;
    my $tls_dir = delete $o{tls_dir} // "$tmp/tls";
    my $https = delete $o{https} // 1;
    my $timeout = delete $o{timeout} // 30;
    my $ready = "$dir/protime-mock-ready.$$." . int(rand 1e9) . '.json';
    my @args = ('--http-port', 0, '--tls-dir', $tls_dir, '--ready-file', $ready);
    push @args, '--https-port', 0 if $https;
    my $seed = delete $o{seed} // [];
    push @args, map { ('--seed', $_) }
                ref $seed eq 'HASH' ? map { "$_=$seed->{$_}" } sort keys %$seed
              : ref $seed eq 'ARRAY' ? @$seed : $seed;
    for my $k (sort keys %o) {
        next unless defined $o{$k};
        (my $flag = $k) =~ tr/_/-/;
        push @args, "--$flag", $o{$k};
    }
    my $pid = fork // die "ProtimeMock: fork: $!\n";
    if ($pid == 0) {
        # Never on the test's stdout: that is TAP.
        open STDOUT, '>', '/dev/null';
        { exec $^X, program(), @args }
        warn "ProtimeMock: exec: $!\n";
        POSIX::_exit(127);
    }
    my $deadline = time + $timeout;
    until (-s $ready) {
        if (waitpid($pid, WNOHANG) == $pid) {
            die "ProtimeMock: the simulator exited (status $?) before it was ready\n";
        }
        if (time > $deadline) {
            kill 'TERM', $pid;
            waitpid $pid, 0;
            die "ProtimeMock: the simulator was not ready after $timeout s\n";
        }
        sleep 0.05;
    }
    my $self = $class->_from_ready($ready);
    $self->{owner} = $$;                # only this process stops it
    $self->{child} = $pid;
    $self->{tmp} = $tmp;
    return $self;
}

# ProtimeMock->attach($ready_file[, $timeout]): a simulator started by
# someone else; waits up to $timeout seconds (default 30) for the file.
sub attach {
    my ($class, $ready, $timeout) = @_;
    my $deadline = time + ($timeout // 30);
    sleep 0.05 until -s $ready || time > $deadline;
    die "ProtimeMock: no ready file $ready\n" unless -s $ready;
    return $class->_from_ready($ready);
}

sub _from_ready {
    my ($class, $ready) = @_;
    open my $fh, '<', $ready or die "ProtimeMock: $ready: $!\n";
    my $info = $json->decode(do { local $/; <$fh> });
    return bless { %$info, ready_file => $ready,
                   http => HTTP::Tiny->new(agent => 'ProtimeMock/1', timeout => 60,
                                           keep_alive => 0) }, $class;
}

sub pid       { $_[0]{pid} }
sub tenant    { $_[0]{tenant} }
sub ca_file   { $_[0]{ca_file} }
sub http_port { $_[0]{http_port} }
sub https_port { $_[0]{https_port} }
sub http_url  { "http://127.0.0.1:$_[0]{http_port}" }
sub https_url { defined $_[0]{https_port} ? "https://127.0.0.1:$_[0]{https_port}" : undef }

# Convenience: where mod_protime should be pointed at.
sub api_path  { '/connector/protimeapi/api/v1' }
sub token_path { "/tenants/$_[0]{tenant}/connect/token" }

# A control call: method, path under /_mock, optional body; returns the
# decoded answer or dies.
sub _call {
    my ($self, $method, $path, $body) = @_;
    my %req = (headers => { 'Content-Type' => 'application/json' });
    $req{content} = $json->encode($body // {}) if $method eq 'POST';
    my $res = $self->{http}->request($method, $self->http_url . "/_mock$path", \%req);
    die "ProtimeMock: $method /_mock$path: $res->{status} $res->{reason} $res->{content}\n"
        unless $res->{success};
    return length $res->{content} ? $json->decode($res->{content}) : {};
}

# {tokens_issued, webhooks => [...], requests => [...], clockings,
#  collections => {NAME => {records, changes, delta_calls, delta => {issued, expired}|null}},
#  deliveries => [...], config}
sub state { $_[0]->_call(GET => '/state') }

# config(valid_for => S, token_ttl => S, page_size => N, delta_ttl => S)
sub config { my ($self, %h) = @_; $self->_call(POST => '/config', \%h) }

# fail(method => 'POST', path => REGEX, query => REGEX, status => 503,
#      retry_after => 1, times => 2, body => ..., delay => S); fail(clear => 1)
#      drops all rules. query is matched against the raw query string.
sub fail { my ($self, %h) = @_; $self->_call(POST => '/fail', \%h) }

# webhook($id, status => 'Disabled', validUntil => ISO, expires_in => S, deleted => 0|1)
sub webhook {
    my ($self, $id, %h) = @_;
    my $enc = $id =~ s/([^A-Za-z0-9\-._~])/sprintf '%%%02X', ord $1/ger;
    return $self->_call(POST => "/webhook/$enc", \%h);
}

# create_webhook(destinationUrl => URL[, collectionName, externalReferences,
# validUntil, status]): the webhook, key included.
sub create_webhook { my ($self, %h) = @_; $self->_call(POST => '/webhooks', \%h) }

# clockings(count => N) | (items => [...]) | (bump => [ids])
sub clockings { my ($self, %h) = @_; $self->_call(POST => '/clockings', \%h) }

# records(collection => NAME, count => N | items => [...] | bump => [ids]):
# what clockings() does, for any collection.
sub records { my ($self, %h) = @_; $self->_call(POST => '/records', \%h) }

# change(collection => NAME[, id => N, changeType => 'Delete', lose => 1]):
# one change, delivered at once to the collection's enabled webhooks (to
# none with lose); returns {id, changeVersion, changeType, deliveries}.
sub change { my ($self, %h) = @_; $self->_call(POST => '/change', \%h) }

# Every delta token issued so far answers 410 DeltaExpired from now on.
sub expire_deltas { $_[0]->_call(POST => '/expire-deltas') }

# deliver(webhook => ID, collection => NAME, count => N | events => [...],
# key => K, url => URL):
# returns the list of results {webhook, status, id, changeVersion}.
sub deliver {
    my ($self, %h) = @_;
    return @{ $self->_call(POST => '/deliver', \%h)->{results} };
}

sub reset { $_[0]->_call(POST => '/reset') }
sub down  { my ($self, $s) = @_; $self->_call(POST => '/down', { seconds => $s // 0 }) }
sub expire_tokens { $_[0]->_call(POST => '/expire-tokens') }

# Stops a simulator this process started (SIGTERM, then SIGKILL after 5 s).
sub stop {
    my ($self) = @_;
    return unless $self->{child} && ($self->{owner} // 0) == $$;
    my $pid = delete $self->{child};
    kill 'TERM', $pid;
    my $deadline = time + 5;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) { kill 'KILL', $pid; waitpid $pid, 0; last }
        sleep 0.05;
    }
    return 1;
}

sub DESTROY { local ($?, $@, $!); $_[0]->stop }

1;
