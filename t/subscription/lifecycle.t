# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# The subscription over its life: created once at startup, with the id,
# key and validUntil stored before use; deliveries signed with its key
# accepted without any ProtimeWebhookKey; the same webhook (and key) after a
# graceful and after a full restart; one token for many calls; the status.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest qw(event error_log_size error_log_since);
use ProtimeSub;
use JSON::PP ();

plan tests => 30, need_lwp;

my $vhost = 'protime_sub';
my $log_start = error_log_size();

my $sub = settle($vhost, 30);
ok t_cmp(ref $sub, 'HASH', 'the job subscribed at startup');
my @hooks = live_webhooks($vhost);
ok t_cmp(scalar(@hooks), 1, 'exactly one live webhook');
my $created = scalar webhooks_for($vhost);
my $first_request = scalar @{ mock()->state->{requests} };
my $hook = $hooks[0];
ok t_cmp(JSON::PP->new->canonical->encode($hook->{externalReferences}),
         '{"people":["@badge-number"],"terminals":["@external-code"]}',
         'ProtimeExternalReferences passed on creation');
ok t_cmp($hook->{collectionName}, 'access-clockings', 'for access-clockings');

my $row = sub_db($vhost)->selectrow_hashref(
    'SELECT * FROM protime_subscriptions WHERE webhook_id = ?', undef,
    $hook->{id});
ok t_cmp($row && $row->{state}, 'active', 'stored as active');
ok t_cmp($row && $row->{webhook_key}, $hook->{key}, 'with the key Protime gave');
ok $row && $row->{valid_until} > time * 1e6;

# What Protime sends, signed with the subscription's key, and our own.
my @results = mock()->deliver(webhook => $hook->{id}, count => 2);
ok t_cmp(join(',', map { $_->{status} } @results), '204,204',
         "the mock's signed deliveries are accepted");
my $ev = event(880001, '0001');
ok t_cmp(deliver_to($vhost, $ev, $hook->{key})->code, 204,
         'a delivery signed with the stored key: 204');
ok t_cmp(deliver_to($vhost, $ev, 'not-the-key')->code, 401,
         'another key: 401');
ok t_cmp(sub_db($vhost)->selectrow_array(
    'SELECT count(*) FROM protime_access_clockings WHERE id = 880001'), 1,
         'stored');

# Status.
my $st = sub_status($vhost);
# The owner is an opaque id: the host, ServerRoot and configuration file
# it stands for are only in the error log, paired with the same id.
my $owner = $st->{subscription}{owner} // '';
ok t_cmp($owner, qr/^[0-9a-f]{12}$/, 'status: the owner is a 12-hex-digit id');
my $root = Apache::Test::vars('serverroot');
ok t_cmp(index(JSON::PP->new->encode($st), $root), -1, 'status: ServerRoot is nowhere in it');
ok t_cmp(error_log_since(0), qr/PT00710: the subscription for \S+ is run by owner \Q$owner\E: [^\n]*\Q$root\E/,
         'error log: the id paired with the full owner text');
ok t_cmp($st->{subscription}{webhook_id}, $hook->{id}, 'status: webhook id');
ok $st->{subscription}{valid_until} =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
ok t_cmp($st->{subscription}{last_error}, undef, 'status: no error');
ok $st->{subscription}{next_check};
ok t_cmp(ref $st->{sync}, 'HASH', 'status: sync section');
my $prom = sub_prometheus($vhost);
ok t_cmp($prom, qr/^protime_subscription_state\{collection="access-clockings",state="active"\} 1$/m,
         'prometheus: state');
ok t_cmp($prom, qr/^protime_subscription_valid_until_seconds\{collection="access-clockings"\} [1-9]\d+$/m,
         'prometheus: validUntil');

# Restarts never create a second webhook; the key keeps working at once.
graceful_restart();
sleep 3;    # the job has run in the new generation (check interval 2 s)
ok t_cmp(scalar(webhooks_for($vhost)), $created, 'graceful restart: no new webhook');
my $generation_start = scalar @{ mock()->state->{requests} };
my $generation_log = error_log_size();
full_restart();
ok t_cmp(deliver_to($vhost, event(880002, '0001'), $hook->{key})->code, 204,
         'full restart: the stored key is accepted at once');
sleep 3;
ok t_cmp(scalar(webhooks_for($vhost)), $created, 'full restart: no new webhook');
$sub = settle($vhost, 20);
ok t_cmp($sub && $sub->{webhook_id}, $hook->{id}, 'the same webhook after both');

# Calls carry our User-Agent, and one token serves many of them: wait for
# three checks of this generation, made with the token of its first call.
my (@api, @tokens, @requests);
wait_for(sub {
    my $all = mock()->state->{requests};
    @requests = @$all[$first_request .. $#$all];
    my @ours = grep { ($_->{user_agent} // '') =~ /^mod_protime-tests/ }
               @$all[$generation_start .. $#$all];
    @api = grep { $_->{path} =~ m{/api/v1/} } @ours;
    @tokens = grep { $_->{path} =~ m{/connect/token$} } @ours;
    return @api >= 3;
}, 20);
ok t_cmp(scalar(@api) >= 3 ? 1 : 0, 1, 'three API calls after the restart');
ok t_cmp(scalar(grep { ($_->{user_agent} // '') eq '' } @requests),
         0, 'every call has a User-Agent');
# One token per process that ran the job: prefork may stop the child
# that ran it, and the job then asks for a token of its own elsewhere
# (PT00604 names each process it runs in).
my $dest = destination_of($vhost);
my $processes = () = error_log_since($generation_log)
    =~ /PT00604: subscription job for \Q$dest\E runs in process/g;
ok t_cmp(scalar(@tokens) <= ($processes || 1) && scalar(@tokens) < scalar(@api) ? 1 : 0, 1,
         sprintf('one token per process that ran the job, reused: %d token(s), '
                 . '%d process(es), %d API calls', scalar(@tokens), $processes, scalar(@api)));

# Nothing secret in the error log.
my $log = error_log_since($log_start);
ok t_cmp(index($log, 'simulator-secret'), -1, 'client secret never logged');
ok t_cmp(index($log, $hook->{key}), -1, 'webhook key never logged');
