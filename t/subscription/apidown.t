# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Protime unreachable: httpd starts all the same and serves deliveries at
# once; the job reports the error and recovers by itself. 429 and 503 are
# retried after Retry-After, other 5xx after a backoff.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use Time::HiRes ();
use ProtimeTest qw(deliver event error_log_size error_log_since);
use ProtimeSub;

plan tests => 12, need_lwp;

my $vhost = 'protime_sub';
my $sub = settle($vhost, 30);
ok $sub;
my $log_start = error_log_size();

# An outage across a full restart.
mock()->down(12);
my $t0 = Time::HiRes::time();
full_restart();
my $took = Time::HiRes::time() - $t0;
ok $took < 10;
t_debug(sprintf 'the server answered %.1f s after the restart began', $took);
ok t_cmp(deliver(event(883001, '0001'))->code, 204,
         'deliveries are served while Protime is down');
my $err = wait_for(sub {
    my $s = sub_status($vhost) or return;
    return $s->{subscription}{state} eq 'error' ? $s->{subscription} : undef;
}, 20);
ok t_cmp(ref $err, 'HASH', 'the status reports the error');
t_debug('last_error: ' . ($err ? $err->{last_error} // 'undef' : 'none'));
ok t_cmp($err && $err->{last_error}, qr/503/, 'naming what Protime answered');
ok $err && $err->{next_check};
ok t_cmp(sub_prometheus($vhost), qr/^protime_subscription_state\{collection="access-clockings",state="error"\} 1$/m,
         'prometheus: error');
ok settle($vhost, 40);
t_debug('recovered once Protime was back');

# Retry-After on 429, backoff on 500: force a call by losing the webhook.
my $before = scalar @{ mock()->state->{requests} };
mock()->fail(method => 'GET', path => '/webhooks$', status => 429,
             retry_after => 2, times => 1);
mock()->fail(method => 'POST', path => '/webhooks$', status => 500, times => 2);
my $lost = settle($vhost, 20)->{webhook_id};
sub_db($vhost)->do('DELETE FROM protime_subscriptions');
ok settle($vhost, 40, $lost);
my @reqs = @{ mock()->state->{requests} }[$before .. $#{ mock()->state->{requests} }];
my @list = grep { $_->{method} eq 'GET' && $_->{path} =~ m{/webhooks$} } @reqs;
my @create = grep { $_->{method} eq 'POST' && $_->{path} =~ m{/webhooks$} } @reqs;
ok @list >= 2 && $list[0]{status} == 429
   && $list[1]{time} - $list[0]{time} >= 1.9;
t_debug(sprintf 'list retried %.2f s after the 429 (Retry-After: 2)',
        @list >= 2 ? $list[1]{time} - $list[0]{time} : -1);
ok @create >= 3 && $create[0]{status} == 500 && $create[1]{status} == 500
   && $create[1]{time} - $create[0]{time} >= 0.45
   && $create[2]{time} - $create[1]{time} >= 0.95;
t_debug(sprintf 'create retried after %.2f s and %.2f s (backoff 0.5-1, 1-2)',
        @create >= 3 ? ($create[1]{time} - $create[0]{time},
                        $create[2]{time} - $create[1]{time}) : (-1, -1));
my $log = error_log_since($log_start);
ok t_cmp(index($log, 'simulator-secret'), -1, 'no client secret in the log');
