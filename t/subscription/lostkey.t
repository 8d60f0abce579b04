# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# A webhook at Protime for our destination whose key the database does not
# hold (a crash between its creation and the commit, a restored backup) is
# deleted and replaced: nothing here could verify what it signs.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest qw(event error_log_size error_log_since);
use ProtimeSub;

plan tests => 8, need_lwp;

my $vhost = 'protime_sub';
my $sub = settle($vhost, 30);
ok $sub;
my $first = $sub->{webhook_id};
my $log_start = error_log_size();

# The database forgets its webhooks, and another one whose key nobody has
# shows up for our destination.
my $foreign = mock()->create_webhook(destinationUrl => destination_of($vhost));
sub_db($vhost)->do('DELETE FROM protime_subscriptions');

my $new = wait_for(sub {
    my @live = live_webhooks($vhost);
    return @live == 1 && $live[0]{id} ne $first && $live[0]{id} ne $foreign->{id}
           ? $live[0] : undef;
}, 20);
ok t_cmp(ref $new, 'HASH', 'a new webhook replaced the lost ones');
my %gone = map { $_->{id} => $_->{deleted} } webhooks_for($vhost);
ok t_cmp($gone{$first} ? 1 : 0, 1, 'the webhook whose key was lost is deleted');
ok t_cmp($gone{$foreign->{id}} ? 1 : 0, 1, 'and so is the foreign one');
ok t_cmp(error_log_since($log_start), qr/key is not in the database \(lost\)/,
         'the loss is logged');
ok t_cmp(deliver_to($vhost, event(882001, '0001'), $foreign->{key})->code, 401,
         'the foreign key is not accepted');
my $ok = wait_for(sub { deliver_to($vhost, event(882002, '0001'), $new->{key})->code == 204 }, 5);
ok t_cmp($ok ? 1 : 0, 1, 'the new key is');
ok settle($vhost, 20);
