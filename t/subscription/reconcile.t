# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Reconciliation by delta (protime_sub_multi, ProtimeReconcileInterval 2s):
# a change Protime gave up delivering (the mock's lose) is applied by the
# next reconciliation and counted in protime_reconciled_total{collection};
# one that was delivered is not counted again; an expired delta token
# leads to a full re-synchronisation and a new delta.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest qw(error_log_size error_log_since);
use ProtimeSub;

plan tests => 17, need_lwp;

my $vhost = 'protime_sub_multi';
my $db = sub_db($vhost);
my $log_start = error_log_size();

sub sub_by {
    my ($collection) = @_;
    my $s = sub_status($vhost) or return;
    my ($p) = grep { $_->{collection} eq $collection } @{ $s->{subscriptions} || [] };
    return $p;
}
sub people { sub_by('people') }
sub stored_version {
    my ($collection, $id) = @_;
    return $collection eq 'access-clockings'
        ? $db->selectrow_array('SELECT change_version FROM '
              . 'protime_access_clockings WHERE id = ?', undef, $id)
        : $db->selectrow_array('SELECT change_version FROM protime_records '
              . 'WHERE collection = ? AND id = ?', undef, $collection, $id);
}

my $ready = wait_for(sub {
    my $p = people() or return;
    return ($p->{state} // '') eq 'active' && $p->{reconcile}{delta} ? $p : undef;
}, 60);
ok $ready;
t_debug('people has a delta after its full re-synchronisation');
my $before = $ready->{reconcile}{reconciled_total};

# Delivered: applied by the webhook, not a repair.
my $delivered = mock()->change(collection => 'people');
ok t_cmp(join(',', map { $_->{status} } @{ $delivered->{deliveries} }), '204',
         'a change delivered');
# Lost: Protime gave up on it.
my $lost = mock()->change(collection => 'people', lose => 1);
ok t_cmp(scalar @{ $lost->{deliveries} }, 0, 'a change lost');
ok t_cmp(stored_version('people', $lost->{id}) // '', qr/^(?!\Q$lost->{changeVersion}\E$)/,
         'not stored by any delivery');
ok wait_for(sub { (stored_version('people', $lost->{id}) // '') eq $lost->{changeVersion} }, 20);
t_debug('the next reconciliation stored the lost change');
my $p = wait_for(sub {
    my $p = people() or return;
    return $p->{reconcile}{reconciled_total} > $before ? $p : undef;
}, 10);
ok t_cmp($p && $p->{reconcile}{reconciled_total}, $before + 1,
         'counted once: the delivered change was no repair');
ok $p && $p->{reconcile}{reconciled_at};
my $prom = sub_prometheus($vhost);
ok t_cmp($prom, qr/^protime_reconciled_total\{collection="people"\} \Q@{[$before + 1]}\E$/m,
         'prometheus: protime_reconciled_total{collection="people"}');
ok t_cmp($prom, qr/^protime_reconciled_total\{collection="access-clockings"\} \d+$/m,
         'prometheus: one for access-clockings too');
ok t_cmp(error_log_since($log_start),
         qr/PT00713: reconciliation for \S+\/hook\/people repaired 1 of/,
         'the repair is logged, as a warning a webhook missed something');

# Access clockings are reconciled the same way.
my $ac = mock()->change(collection => 'access-clockings', lose => 1);
ok wait_for(sub { (stored_version('access-clockings', $ac->{id}) // '') eq $ac->{changeVersion} }, 20);
t_debug('a lost access clocking is repaired too');

# The delta expires: a full re-synchronisation, then a new delta; for
# access clockings too, which the mock expires with people's.
my $synced = people()->{sync}{finished_at};
my $ac_synced = sub_by('access-clockings')->{sync}{finished_at};
my $starts = mock()->state->{collections}{people}{delta}{issued};
$log_start = error_log_size();
mock()->expire_deltas();
my $again = wait_for(sub {
    my $p = people() or return;
    return ($p->{sync}{finished_at} // '') ne ($synced // '')
           && !$p->{sync}{running} && $p->{reconcile}{delta} ? $p : undef;
}, 40);
ok $again;
t_debug('a full re-synchronisation followed');
ok t_cmp(error_log_since($log_start),
         qr/PT00712: reconciliation for \S+\/hook\/people: Protime no longer knows the delta \(.*410.*\); full re-synchronisation/,
         'the expiry is logged');
my $state = wait_for(sub {
    my $d = mock()->state->{collections}{people}{delta};
    return $d && !$d->{expired} && $d->{issued} > $starts ? $d : undef;
}, 20);
ok $state;
t_debug('a new delta was started');
# And it works: another lost change is repaired.
my $lost2 = mock()->change(collection => 'people', lose => 1);
ok wait_for(sub { (stored_version('people', $lost2->{id}) // '') eq $lost2->{changeVersion} }, 20);
t_debug('the new delta repairs');
ok t_cmp(people()->{state}, 'active', 'people: active');
# Access clockings re-synchronised and have a new delta too (before the
# next test reads the mock's requests).
ok wait_for(sub {
    my $a = sub_by('access-clockings') or return;
    return ($a->{sync}{finished_at} // '') ne ($ac_synced // '')
           && !$a->{sync}{running} && $a->{reconcile}{delta}
           && $a->{state} eq 'active';
}, 40);
t_debug('access clockings re-synchronised after the expiry too');
