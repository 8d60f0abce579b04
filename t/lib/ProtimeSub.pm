# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

package ProtimeSub;
# Helpers for the subscription tests (t/subscription/*.t): the mock Protime
# API that tools/run-tests started, the servers of t/conf/extra.conf.in
# that subscribe to it (protime_sub over http, protime_sub_tls over https),
# their status, their databases, and restarts of the whole test server.
use strict;
use warnings FATAL => 'all';

use Apache::Test ();
use Apache::TestRequest ();
use DBI ();
use JSON::PP ();
use Time::HiRes ();
use ProtimeMock;
use ProtimeTest qw(sign json_of server_pid);
use Exporter 'import';

our @EXPORT = qw(mock sub_status sub_prometheus sub_db wait_for deliver_to
                 webhooks_for destination_of live_webhooks graceful_restart
                 full_restart settle);

my $mock;
sub mock {
    $mock //= ProtimeMock->attach($ENV{PROTIME_MOCK_READY}
                                  // die "PROTIME_MOCK_READY is not set\n");
    return $mock;
}

# The destination URL that server $vhost subscribed with.
sub destination_of {
    my ($vhost) = @_;
    my $hostport = Apache::TestRequest::module2url($vhost, { path => '/hook' });
    return $hostport;
}

# GET /protime-status of $vhost, decoded.
sub sub_status {
    my ($vhost) = @_;
    my $old = Apache::TestRequest::module($vhost);
    my $res = Apache::TestRequest::GET('/protime-status');
    Apache::TestRequest::module($old);
    return undef unless $res->is_success;
    return JSON::PP::decode_json($res->content);
}

sub sub_prometheus {
    my ($vhost) = @_;
    my $old = Apache::TestRequest::module($vhost);
    my $res = Apache::TestRequest::GET('/protime-status?format=prometheus');
    Apache::TestRequest::module($old);
    return $res->content;
}

# POST a body signed with $key to $path (default /hook) of $vhost; returns
# the response.
sub deliver_to {
    my ($vhost, $body, $key, $path) = @_;
    $body = json_of($body) if ref $body;
    my $old = Apache::TestRequest::module($vhost);
    my $res = Apache::TestRequest::POST($path // '/hook', content => $body,
        'Content-Type' => 'application/json',
        'X-Protime-Signature' => sign($body, $key));
    Apache::TestRequest::module($old);
    return $res;
}

# A handle on the database of $vhost (sub.db, sub-tls.db, sub-proxy.db,
# sub-multi.db).
my %dbh;
sub sub_db {
    my ($vhost) = @_;
    my %file = (protime_sub => 'sub.db', protime_sub_tls => 'sub-tls.db',
                protime_sub_proxy => 'sub-proxy.db',
                protime_sub_multi => 'sub-multi.db');
    return $dbh{$vhost} //= do {
        my $file = Apache::Test::vars('serverroot') . "/db/$file{$vhost}";
        my $dbh = DBI->connect("dbi:SQLite:dbname=$file", '', '',
                               { RaiseError => 1, PrintError => 0 });
        $dbh->sqlite_busy_timeout(5000);
        $dbh;
    };
}

# The mock's webhooks (deleted ones too) for $vhost's destination.
sub webhooks_for {
    my ($vhost) = @_;
    my $dest = destination_of($vhost);
    return grep { $_->{destinationUrl} eq $dest } @{ mock()->state->{webhooks} };
}

sub live_webhooks {
    return grep { !$_->{deleted} } webhooks_for(@_);
}

# Polls $cond every 0.2 s for up to $seconds; returns its last true value,
# or false on timeout.
sub wait_for {
    my ($cond, $seconds) = @_;
    my $stop = Time::HiRes::time() + ($seconds // 20);
    while (1) {
        my $v = eval { $cond->() };
        return $v if $v;
        return 0 if Time::HiRes::time() > $stop;
        Time::HiRes::sleep(0.2);
    }
}

# Waits until $vhost's job is active with a webhook that the mock knows
# live and the database holds as active (and, with $not, another one than
# $not); returns the status's subscription.
sub settle {
    my ($vhost, $seconds, $not) = @_;
    return wait_for(sub {
        my $s = sub_status($vhost) or return;
        my $sub = $s->{subscription} or return;
        my $id = $sub->{webhook_id} or return;
        return unless ($sub->{state} // '') eq 'active';
        return if defined $not && $id eq $not;
        return unless grep { $_->{id} eq $id } live_webhooks($vhost);
        my ($state) = sub_db($vhost)->selectrow_array(
            'SELECT state FROM protime_subscriptions WHERE webhook_id = ?',
            undef, $id);
        return ($state // '') eq 'active' ? $sub : undef;
    }, $seconds);
}

sub _wait_answering {
    return wait_for(sub {
        my $res = Apache::TestRequest::GET('/protime-status');
        $res->code == 200;
    }, 30);
}

# SIGUSR1, then waits until the new generation answers.
sub graceful_restart {
    kill 'USR1', server_pid() or die "no server to restart";
    Time::HiRes::sleep(1);
    return _wait_answering();
}

# Stops the server and starts it again: a new parent, new children, new
# shared memory; only the database remains.
sub full_restart {
    my $server = Apache::Test::config()->server;
    $server->stop;
    $server->start or die "server did not start again";
    return _wait_answering();
}

1;
