# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# SPEC §3: a process whose cached keys match nothing re-reads the
# subscription's keys before it answers 401. That holds for a process that
# has read no key at all (no webhook yet) too: once the job has created
# the first webhook, its deliveries are accepted, even while the job's step
# still runs its re-synchronisation and has not told the other processes.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use Time::HiRes ();
use ProtimeTest qw(event);
use ProtimeSub;

plan tests => 6, need_lwp;

my $vhost = 'protime_sub';
ok settle($vhost, 30);

# No webhook in the database, and Protime down: the new processes find no
# key. The re-synchronisation that follows the next webhook's creation
# hangs for 4.5 s (the simulator answers nothing else meanwhile); only
# this server's reads from 2020 (ProtimeSyncFrom), the others' from later.
sub_db($vhost)->do('DELETE FROM protime_subscriptions');
mock()->fail(method => 'GET', path => '/v1/access-clockings$',
             query => '2020-01-01', status => 503, delay => 4.5, times => 1);
mock()->down(15);
full_restart();

# One connection throughout, so one server process: the one that read the
# empty list.
Apache::TestRequest::user_agent(reset => 1, keep_alive => 1, timeout => 30);
# /subhook has no key of its own: the subscription's only.
my $res = deliver_to($vhost, event(884101, '0001'), 'not a key of ours',
                     '/subhook');
ok t_cmp($res->code, 401, 'no webhook yet: 401');
t_debug('answer: ' . $res->content);
ok t_cmp($res->header('Connection') // '', qr/^(?!close)/i,
         'the connection stays open');

my $pinged = Time::HiRes::time();
my $key = wait_for(sub {
    # Keep the connection open: httpd closes it after 5 s idle
    # (KeepAliveTimeout), or after 100 requests (MaxKeepAliveRequests).
    if (Time::HiRes::time() - $pinged >= 2) {
        Apache::TestRequest::module($vhost);
        Apache::TestRequest::GET('/subhook');
        $pinged = Time::HiRes::time();
    }
    my ($k) = sub_db($vhost)->selectrow_array(
        "SELECT webhook_key FROM protime_subscriptions WHERE state = 'active'");
    return $k;
}, 45);
ok $key;
t_debug('the job created a webhook once Protime was back');

my $sent = Time::HiRes::time();
$res = deliver_to($vhost, event(884102, '0001'), $key, '/subhook');
ok t_cmp($res->code, 204, "the first webhook's key is accepted at once");
# Else the job's step had ended, and told every process of the key.
my ($hung) = (grep { $_->{method} eq 'GET' && $_->{status} == 503
                     && $_->{path} =~ m{/v1/access-clockings$} }
              @{ mock()->state->{requests} })[-1];
my $into = $hung ? $sent - $hung->{time} : -1;
t_debug(sprintf 'delivered %.1f s into the 4.5 s the re-synchronisation hung',
                $into);
ok t_cmp($into >= 0 && $into < 4 ? 1 : 0, 1,
         'while the re-synchronisation still hung (else this proves nothing)');

Apache::TestRequest::user_agent(reset => 1, keep_alive => 0);
mock()->fail(clear => 1);
settle($vhost, 40) or t_debug('the job did not settle again');
