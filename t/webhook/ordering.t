# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use List::Util qw(shuffle);

# Ordering and idempotency (SPEC.md section 3): per id the highest
# changeVersion wins, compared as bytes; a Delete leaves a tombstone that an
# older InsertOrUpdate cannot resurrect and a newer one revives. Ids 600000+.

plan tests => 72, need_lwp;

sub counter { status_json()->{counters}{$_[0]} // 0 }
sub snap {
    my ($id) = @_;
    my $r = row($id) or return 'no row';
    return join '|', map { $_ . '=' . ($r->{$_} // 'NULL') } sort keys %$r;
}
sub cv { (row($_[0]) || {})->{change_version} // 'no row' }
sub col { (row($_[0]) || {})->{$_[1]} }

# Same version twice: the second is a stale duplicate.
{
    ok t_cmp(deliver(event(600001, 'v1', status => 'AccessOk'))->code, 204, 'dup: first 204');
    my $before = snap(600001);
    my ($stale, $applied) = (counter('events_stale'), counter('events_applied'));
    my $res = deliver(event(600001, 'v1', status => 'AccessRefused', person => { id => 9 }));
    ok t_cmp($res->code, 204, 'dup: the same version again: 204');
    ok t_cmp(snap(600001), $before, 'dup: the row is unchanged (data and updated_at)');
    ok t_cmp(counter('events_stale') - $stale, 1, 'dup: events_stale grew by 1');
    ok t_cmp(counter('events_applied') - $applied, 0, 'dup: events_applied did not grow');
}

# Lower after higher is ignored; higher applies.
{
    ok t_cmp(deliver(event(600002, 'v5', status => 'AlarmCode'))->code, 204, 'lower: v5 204');
    my $before = snap(600002);
    my $stale = counter('events_stale');
    ok t_cmp(deliver(event(600002, 'v3', status => 'OutZone'))->code, 204, 'lower: v3 after v5: 204');
    ok t_cmp(snap(600002), $before, 'lower: v3 after v5 changes nothing');
    ok t_cmp(counter('events_stale') - $stale, 1, 'lower: counted as stale');
    my $old_at = col(600002, 'updated_at');
    select undef, undef, undef, 0.01;
    ok t_cmp(deliver(event(600002, 'v7', status => 'OutZone', timeOfDayInMinutes => 5))->code, 204,
             'higher: v7 204');
    ok t_cmp(cv(600002), 'v7', 'higher: change_version v7');
    ok t_cmp(col(600002, 'status') . ' ' . col(600002, 'time_of_day_minutes'), 'OutZone 5',
             'higher: the data columns are v7\'s');
    ok t_cmp(col(600002, 'updated_at') > $old_at ? 1 : 0, 1, 'higher: updated_at moved on');
}

# Byte-wise comparison: [id, first, second, winner, why].
my @bytes = (
    [600010, 'A', 'B', 'B', '"B" after "A"'],
    [600011, 'Z', 'a', 'a', '"a" beats "Z" (0x61 > 0x5A)'],
    [600012, 'a', 'Z', 'a', '"Z" after "a" is ignored'],
    [600013, 'a', 'B', 'a', '"B" after "a" is ignored (no case folding)'],
    [600014, '9', '10', '9', '"10" loses to "9"'],
    [600015, '10', '9', '9', '"9" beats "10"'],
    [600016, '0000090200004BD0000A', '0000090200004BD0000B', '0000090200004BD0000B',
     '"...0000B" beats "...0000A"'],
    [600017, '0000090200004BD0000B', '0000090200004BD0000A', '0000090200004BD0000B',
     '"...0000A" after "...0000B" is ignored'],
    [600018, 'v1', 'v10', 'v10', 'a longer string with the same prefix is higher'],
    [600019, 'a_b', 'ab', 'ab', '"ab" beats "a_b" (0x62 > 0x5F, no locale)'],
    [600020, '~', 'zzzz', '~', '"~" beats "zzzz"'],
);
for my $c (@bytes) {
    my ($id, $first, $second, $winner, $why) = @$c;
    my $r1 = deliver(event($id, $first, status => "s-$first"))->code;
    my $r2 = deliver(event($id, $second, status => "s-$second"))->code;
    ok t_cmp("$r1 $r2", '204 204', "bytes $why: both 204");
    ok t_cmp(cv($id) . ' ' . col($id, 'status'), "$winner s-$winner", "bytes: $why");
}

# Delete: a tombstone keeping the data columns.
{
    my $ins = event(600030, 'v1', person => { id => 55, externalReferences => { hr => 'X' } },
                    status => 'AccessOk', date => '2026-05-05', timeOfDayInMinutes => 600);
    ok t_cmp(deliver($ins)->code, 204, 'delete: insert v1');
    my $before = row(600030) || {};
    my $deleted = counter('events_deleted');
    ok t_cmp(deliver(delete_event(600030, 'v2'))->code, 204, 'delete: Delete v2: 204');
    my $r = row(600030) || {};
    ok t_cmp($r->{deleted}, 1, 'delete: deleted = 1');
    ok t_cmp($r->{change_version}, 'v2', 'delete: change_version is the delete\'s');
    ok t_cmp(join('|', map { $r->{$_} // 'NULL' }
                  qw(person_id date time_of_day_minutes terminal_id status person_refs payload)),
             join('|', map { $before->{$_} // 'NULL' }
                  qw(person_id date time_of_day_minutes terminal_id status person_refs payload)),
             'delete: the data columns and payload are kept');
    ok t_cmp(counter('events_deleted') - $deleted, 1, 'delete: events_deleted grew by 1');

    my $tomb = snap(600030);
    ok t_cmp(deliver(event(600030, 'v1z', status => 'AccessRefused'))->code, 204,
             'delete: older InsertOrUpdate after it: 204');
    ok t_cmp(snap(600030), $tomb, 'delete: an older InsertOrUpdate does not resurrect it');
    ok t_cmp(deliver(event(600030, 'v2'))->code, 204, 'delete: InsertOrUpdate of the same version: 204');
    ok t_cmp(snap(600030), $tomb, 'delete: an InsertOrUpdate of the delete\'s version does not resurrect it');
    ok t_cmp(deliver(delete_event(600030, 'v2'))->code, 204, 'delete: the same Delete again: 204');
    ok t_cmp(snap(600030), $tomb, 'delete: the same Delete again changes nothing');

    ok t_cmp(deliver(event(600030, 'v3', person => { id => 77 }, status => 'WrongPinCode'))->code, 204,
             'delete: newer InsertOrUpdate: 204');
    $r = row(600030) || {};
    ok t_cmp($r->{deleted}, 0, 'delete: revived (deleted = 0)');
    ok t_cmp(join(' ', map { $r->{$_} // 'NULL' } qw(change_version person_id status person_refs)),
             'v3 77 WrongPinCode NULL', 'delete: revived with the new data');
}

# Delete of an unknown id: a tombstone row.
{
    ok t_cmp(deliver(delete_event(600031, 'k5'))->code, 204, 'unknown delete: 204');
    my $r = row(600031) || {};
    ok t_cmp(($r->{deleted} // 'no row') . ' ' . ($r->{change_version} // ''), '1 k5',
             'unknown delete: a tombstone row with the delete\'s version');
    ok t_cmp($r->{person_id}, undef, 'unknown delete: no person');
    ok t_cmp(deliver(event(600031, 'k4'))->code, 204, 'unknown delete: older insert 204');
    ok t_cmp(cv(600031) . ' ' . col(600031, 'deleted'), 'k5 1',
             'unknown delete: an older InsertOrUpdate stays buried');
    ok t_cmp(deliver(event(600031, 'k6', status => 'AntiPassbackError'))->code, 204,
             'unknown delete: newer insert 204');
    ok t_cmp(cv(600031) . ' ' . col(600031, 'deleted') . ' ' . col(600031, 'status'),
             'k6 0 AntiPassbackError', 'unknown delete: a newer InsertOrUpdate revives it');
}

# Delete with a version lower than (or equal to) the row's: ignored.
{
    ok t_cmp(deliver(event(600032, 'm5', status => 'AccessOk'))->code, 204, 'low delete: insert m5');
    my $before = snap(600032);
    ok t_cmp(deliver(delete_event(600032, 'm4'))->code, 204, 'low delete: Delete m4: 204');
    ok t_cmp(snap(600032), $before, 'low delete: a lower Delete is ignored (deleted stays 0)');
    ok t_cmp(deliver(delete_event(600032, 'm5'))->code, 204, 'low delete: Delete m5: 204');
    ok t_cmp(col(600032, 'deleted'), 0, 'low delete: a Delete of the same version is ignored');
}

# One delivery holding several versions of one id, in random order.
{
    my @versions = map { sprintf 'r%02d', $_ } 1 .. 12;
    my @items = map { $_ eq 'r06' ? delete_event(600040, $_)
                                  : event(600040, $_, status => "s-$_", timeOfDayInMinutes => 0 + substr($_, 1)) }
                @versions;
    my $ok = 1;
    for my $round (1 .. 5) {
        my $id = 600040 + $round;
        my @mine = map { my %e = %$_; $e{data} = { %{ $_->{data} }, id => $id }; \%e } @items;
        my $code = deliver([ shuffle @mine ])->code;
        my $r = row($id) || {};
        my $got = join ' ', $code, map { $r->{$_} // 'NULL' } qw(change_version deleted status time_of_day_minutes);
        ok t_cmp($got, '204 r12 0 s-r12 12', "one delivery, 12 versions of one id shuffled (round $round): the highest wins");
    }
    # The highest is a Delete.
    for my $round (1 .. 3) {
        my $id = 600050 + $round;
        my @mine = ((map { event($id, "q$_") } 1 .. 4), delete_event($id, 'q5'));
        my $code = deliver([ shuffle @mine ])->code;
        ok t_cmp($code . ' ' . cv($id) . ' ' . col($id, 'deleted'), '204 q5 1',
                 "one delivery, the highest version a Delete (round $round): deleted");
    }
}

# The same across deliveries in random order, one event each.
{
    my @ids = (600060 .. 600063);
    my @sends = shuffle map { my $id = $_; map { [$id, sprintf 'p%02d', $_] } 1 .. 8 } @ids;
    my %codes;
    $codes{ deliver(event($_->[0], $_->[1], status => "s-$_->[1]"))->code }++ for @sends;
    ok t_cmp(join(',', map { "$_:$codes{$_}" } sort keys %codes), '204:32',
             'separate deliveries in random order: all 204');
    ok t_cmp(join(' ', map { cv($_) . '/' . col($_, 'status') } @ids),
             join(' ', map { 'p08/s-p08' } @ids), 'separate deliveries in random order: p08 wins everywhere');
}
