# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Renewal before validUntil - ProtimeRenewBefore (10 s here): the successor
# is created first, both keys are accepted while they overlap, the old
# webhook is deleted at Protime after the overlap, and its key is accepted
# until its own validUntil.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest qw(event);
use ProtimeSub;

plan tests => 13, need_lwp;

my $vhost = 'protime_sub';
my $sub = settle($vhost, 30);
ok $sub;
my $old = $sub->{webhook_id};
my ($old_hook) = grep { $_->{id} eq $old } webhooks_for($vhost);

# Protime shortens its life: 16 s left, so renewal is due in about 6 s.
mock()->webhook($old, expires_in => 16);
my $new = wait_for(sub {
    my @others = grep { $_->{id} ne $old } live_webhooks($vhost);
    return @others == 1 ? $others[0] : undef;
}, 20);
ok t_cmp(ref $new, 'HASH', 'a successor was created before validUntil');
my ($still) = grep { $_->{id} eq $old } live_webhooks($vhost);
ok t_cmp(ref $still, 'HASH', 'the old webhook still exists meanwhile');

my $db = sub_db($vhost);
my %state = map { @$_ } @{ $db->selectall_arrayref(
    'SELECT webhook_id, state FROM protime_subscriptions') };
ok t_cmp($state{$new->{id}}, 'active', 'the successor is active');
ok t_cmp($state{$old}, 'retiring', 'the old one retiring');

ok t_cmp(deliver_to($vhost, event(881001, '0001'), $old_hook->{key})->code,
         204, 'overlap: the old key is accepted');
ok t_cmp(deliver_to($vhost, event(881002, '0001'), $new->{key})->code,
         204, 'overlap: the new key is accepted');
my @r = (mock()->deliver(webhook => $old, count => 1),
         mock()->deliver(webhook => $new->{id}, count => 1));
ok t_cmp(join(',', map { $_->{status} } @r), '204,204',
         'deliveries of both webhooks are accepted');

ok wait_for(sub {
    my ($w) = grep { $_->{id} eq $old } webhooks_for($vhost);
    return $w && $w->{deleted};
}, 15);
t_debug('the old webhook was deleted at Protime after the overlap');
ok t_cmp($db->selectrow_array('SELECT state FROM protime_subscriptions '
                              . 'WHERE webhook_id = ?', undef, $old),
         'retired', 'and is retired here');
ok t_cmp(scalar(live_webhooks($vhost)), 1, 'one live webhook left');
ok t_cmp(sub_status($vhost)->{subscription}{webhook_id}, $new->{id},
         'status shows the successor');
# Until its validUntil, a late delivery it signed still verifies.
ok t_cmp(deliver_to($vhost, event(881003, '0001'), $old_hook->{key})->code,
         204, 'retired key accepted until its validUntil');
