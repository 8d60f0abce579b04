# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# ProtimeCollections access-clockings people on one server
# (protime_sub_multi): a webhook each, at <ProtimeDestinationURL>/<collection>,
# each protime-webhook location accepting the keys of its own
# collection's subscription only, people stored in protime_records, and
# the status showing both.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest qw(sign json_of event);
use ProtimeSub;

plan tests => 20, need_lwp;

my $vhost = 'protime_sub_multi';
my $base = Apache::TestRequest::module2url($vhost, { path => '/hook' });

sub subs_by_collection {
    my $s = sub_status($vhost) or return;
    return { map { $_->{collection} => $_ } @{ $s->{subscriptions} || [] } };
}

my $by = wait_for(sub {
    my $by = subs_by_collection() or return;
    my $active = grep { ($_->{state} // '') eq 'active' && $_->{webhook_id} }
                 values %$by;
    return $active == 2 ? $by : undef;
}, 60) || {};
ok t_cmp(join(',', sort keys %$by), 'access-clockings,people',
         'both collections subscribed and active');
my $st = sub_status($vhost);
ok t_cmp(join(',', map { $_->{collection} } @{ $st->{subscriptions} }),
         'access-clockings,people', 'status: one object per collection, '
         . 'in ProtimeCollections order');
ok t_cmp($st->{subscription}{collection}, 'access-clockings',
         '"subscription" is still the first one');
ok t_cmp($by->{people}{destination}, "$base/people",
         'the destination of people: <base>/people');

my @hooks = grep { !$_->{deleted} && index($_->{destinationUrl}, "$base/") == 0 }
            @{ mock()->state->{webhooks} };
ok t_cmp(scalar(@hooks), 2, 'two live webhooks');
my %hook = map { $_->{collectionName} => $_ } @hooks;
ok t_cmp($hook{people}{destinationUrl}, "$base/people",
         'people: its own destination');
ok t_cmp($hook{'access-clockings'}{destinationUrl}, "$base/access-clockings",
         'access-clockings: its own destination');
ok t_cmp($hook{people}{id}, $by->{people}{webhook_id},
         'status: the webhook of people');
ok t_cmp(scalar(grep { $_->{destinationUrl} eq $base } @{ mock()->state->{webhooks} }),
         0, 'nothing subscribed at the base itself');

sub post {
    my ($path, $body, $key) = @_;
    $body = json_of($body);
    my $old = Apache::TestRequest::module($vhost);
    my $res = Apache::TestRequest::POST($path, content => $body,
        'Content-Type' => 'application/json',
        'X-Protime-Signature' => sign($body, $key));
    Apache::TestRequest::module($old);
    return $res->code;
}

my $person = { changeType => 'InsertOrUpdate',
               data => { id => 990001, changeVersion => '00000000000000000001',
                         firstName => 'Ada', lastName => 'Lovelace',
                         employeeNumber => 'E-1' } };
my $ac_key = $hook{'access-clockings'}{key};
my $people_key = $hook{people}{key};
ok t_cmp(post('/hook/people', $person, $people_key), 204,
         "people's location accepts people's key");
ok t_cmp(post('/hook/people', $person, $ac_key), 401,
         "and refuses access-clockings' key");
ok t_cmp(post('/hook/access-clockings', event(990002, '0001'), $people_key),
         401, "access-clockings' location refuses people's key");
ok t_cmp(post('/hook/access-clockings', event(990002, '0001'), $ac_key),
         204, 'and accepts its own');
my $db = sub_db($vhost);
ok t_cmp(scalar $db->selectrow_array(
    q{SELECT count(*) FROM protime_records WHERE collection = 'people' AND id = 990001}),
    1, 'the person is stored in protime_records');
ok t_cmp(scalar $db->selectrow_array(
    'SELECT count(*) FROM protime_access_clockings WHERE id = 990002'),
    1, 'the clocking in protime_access_clockings');

# What the mock's webhook of people delivers reaches people's location.
my $change = mock()->change(collection => 'people');
ok t_cmp(join(',', map { $_->{status} } @{ $change->{deliveries} || [] }),
         '204', "a change of people delivered by people's webhook: 204");
ok t_cmp(scalar $db->selectrow_array(
    q{SELECT change_version FROM protime_records WHERE collection = 'people' AND id = ?},
    undef, $change->{id}), $change->{changeVersion}, 'and stored');

# Each subscription keeps its own state, by its destination.
ok t_cmp(scalar $db->selectrow_array(
    'SELECT count(DISTINCT destination_url) FROM protime_subscriptions'), 2,
         'two subscriptions in the database');

# Other servers of the suite start deltas of access-clockings at the same
# mock, and only one delta per collection lives (as at Protime): the 410
# this gives sends access-clockings back into a full re-synchronisation
# ("syncing") now and then. Wait for a scrape with both active.
my $active = qr/^protime_subscription_state\{collection="[a-z-]+",state="active"\} 1$/m;
my $prom = wait_for(sub {
    my $p = sub_prometheus($vhost);
    return (() = $p =~ /$active/g) == 2 ? $p : undef;
}, 20) || sub_prometheus($vhost);
ok t_cmp($prom, qr/^protime_subscription_state\{collection="people",state="active"\} 1$/m,
         'prometheus: the state of people');
ok t_cmp($prom, qr/^protime_subscription_state\{collection="access-clockings",state="active"\} 1$/m,
         'prometheus: the state of access-clockings');
