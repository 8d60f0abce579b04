# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use JSON::PP ();

# A collection other than access clockings (ProtimeCollection people, at
# /hook-people): what storage.t, validation.t and ordering.t show for
# access clockings holds for it in protime_records, with the common part of
# an item checked (id, changeVersion, changeType) and the rest kept as sent.
# Then the view protime_people and the README's JOIN. Ids 970000+.

my $canon = JSON::PP->new->canonical(1);
sub canon { $canon->encode($_[0]) }
# The stored data, whatever its form (SQLite: the text as received;
# PostgreSQL: jsonb's own spacing and key order), canonical.
sub canon_text {
    my ($text) = @_;
    return 'no data' unless defined $text;
    my $v = eval { JSON::PP->new->utf8(!utf8::is_utf8($text))->decode($text) };
    return $v ? canon($v) : "undecodable: $text";
}
sub counter { status_json()->{counters}{$_[0]} // 0 }

sub person {
    my ($id, $version, %data) = @_;
    return { id => $id, changeVersion => $version, firstName => 'Ann',
             lastName => 'Lee', employeeNumber => "E$id", %data };
}
sub person_event {
    my ($id, $version, %data) = @_;
    return { changeType => 'InsertOrUpdate', data => person($id, $version, %data) };
}
sub to_people { deliver($_[0], path => '/hook-people', @_[1 .. $#_]) }

sub record {
    my ($id, $collection) = @_;
    return db()->selectrow_hashref(
        'SELECT * FROM protime_records WHERE collection = ? AND id = ?',
        undef, $collection // 'people', $id);
}
sub records_count {
    my ($where, @bind) = @_;
    return db()->selectrow_array(
        "SELECT count(*) FROM protime_records WHERE $where", undef, @bind);
}
sub snap {
    my $r = record($_[0]) or return 'no row';
    return join '|', map { "$_=" . ($_ eq 'data' ? canon_text($r->{$_}) : $r->{$_} // 'NULL') }
                     sort keys %$r;
}
sub cv { (record($_[0]) || {})->{change_version} // 'no row' }
sub data_of { canon_text((record($_[0]) || {})->{data}) }

# The common rules, each [label, bad item, the field its reason names].
my @bad = (
    ['id 0',                   person(0, 'b'),                        'id'],
    ['id negative',            person(-5, 'b'),                       'id'],
    ['id real 1.5',            person(1.5, 'b'),                      'id'],
    ['id a string',            person('970777', 'b'),                 'id'],
    ['id missing',             do { my $o = person(1, 'b'); delete $o->{id}; $o }, 'id'],
    ['changeVersion empty',    person(970501, ''),                    'changeVersion'],
    ['changeVersion 65 chars', person(970502, 'A' x 65),              'changeVersion'],
    ['changeVersion control char', person(970503, "v\x01"),           'changeVersion'],
    ['changeVersion a number', person(970504, 42),                    'changeVersion'],
    ['changeVersion missing',  do { my $o = person(970505, 'b'); delete $o->{changeVersion}; $o },
                               'changeVersion'],
    ['changeType Upsert',      { changeType => 'Upsert', data => person(970506, 'b') }, 'changeType'],
    ['data not an object',     { changeType => 'InsertOrUpdate', data => ['x'] }, 'data'],
    ['data missing',           { changeType => 'InsertOrUpdate' },    'data'],
    ['Delete with id 0',       { changeType => 'Delete', data => { id => 0, changeVersion => 'b' } }, 'id'],
    ['a stray member beside changeType', { %{ person_event(970507, 'b') }, extra => 1 }, 'event'],
);

plan tests => 17 + 8 * @bad + 4 + 8 + 6 + 4 + 4 + 3 + 5, need_lwp;

# 1. The changeVersion rule (ordering.t). 17 assertions.
{
    my $applied = counter('events_applied');
    my $stale = counter('events_stale');
    my $deleted = counter('events_deleted');
    ok t_cmp(to_people(person_event(970001, 'B'))->code, 204, 'insert: 204');
    my $r = record(970001) || {};
    ok t_cmp(join(' ', map { $r->{$_} // 'NULL' } qw(collection id change_version deleted)),
             'people 970001 B 0', 'insert: a people row in protime_records');
    ok t_cmp(data_of(970001), canon(person(970001, 'B')), 'insert: data is the item as sent');
    ok t_cmp(rows_count('id = 970001'), 0, 'insert: no access clocking');
    ok t_cmp(counter('events_applied') - $applied, 1, 'insert: events_applied grew by 1');

    my $before = snap(970001);
    ok t_cmp(to_people(person_event(970001, 'B', firstName => 'Bob'))->code, 204, 'duplicate: 204');
    ok t_cmp(snap(970001), $before, 'duplicate: the row is unchanged (data and updated_at)');
    ok t_cmp(to_people(person_event(970001, 'A', firstName => 'Bob'))->code, 204, 'lower: 204');
    ok t_cmp(snap(970001), $before, 'lower: the row is unchanged');
    ok t_cmp(counter('events_stale') - $stale, 2, 'duplicate and lower: events_stale grew by 2');

    ok t_cmp(to_people(person_event(970001, 'a', firstName => 'Cy'))->code, 204,
             'higher ("a" > "B" as bytes): 204');
    ok t_cmp(cv(970001) . ' ' . data_of(970001), 'a ' . canon(person(970001, 'a', firstName => 'Cy')),
             'higher: version and data replaced');

    ok t_cmp(to_people({ changeType => 'Delete', data => { id => 970001, changeVersion => 'b' } })->code,
             204, 'delete: 204');
    $r = record(970001) || {};
    ok t_cmp(($r->{deleted} // '') . ' ' . ($r->{change_version} // '') . ' ' . data_of(970001),
             '1 b ' . canon(person(970001, 'a', firstName => 'Cy')),
             "delete: a tombstone with the delete's version, the last data kept");
    ok t_cmp(counter('events_deleted') - $deleted, 1, 'delete: events_deleted grew by 1');
    to_people(person_event(970001, 'a1', firstName => 'Old'));
    ok t_cmp(snap(970001) =~ /deleted=1/ && cv(970001) eq 'b' ? 1 : 0, 1,
             'an older insert after the delete: still a tombstone');
    to_people(person_event(970001, 'c', firstName => 'New'));
    ok t_cmp((($r = record(970001) || {})->{deleted} // 'NULL') . ' ' . data_of(970001),
             '0 ' . canon(person(970001, 'c', firstName => 'New')),
             'a newer insert after the delete: alive again, with its data');
}

# 2. The common rules (validation.t): a bad item is quarantined with a
# reason naming the collection, its valid sibling applied; 202. 8 each.
my $n = 0;
for my $case (@bad) {
    my ($label, $item, $field) = @$case;
    $n++;
    my $sib = 970100 + $n;
    my $q = quarantine_max();
    my $res = to_people([person($sib, "sib$n"), $item]);
    ok t_cmp($res->code, 202, "$label: 202");
    my $a = answer($res);
    ok t_cmp(counts($a), 'applied=1 stale=0 quarantined=1', "$label: counts in the answer");
    my $reasons = $a->{reasons} || [];
    ok t_cmp(scalar(@$reasons) . ' ' . ($reasons->[0] // ''), qr/^1 people: item 2: $field\b/,
             "$label: one reason, naming the collection, item 2 and the field");
    ok t_cmp(cv($sib), "sib$n", "$label: the valid sibling is stored");
    ok t_cmp(records_count("collection = 'people' AND id BETWEEN 970501 AND 970599"), 0,
             "$label: the bad item is not stored");
    my $qr = quarantine_since($q);
    ok t_cmp(scalar(@$qr), 1, "$label: one quarantine row");
    ok t_cmp(($qr->[0] || {})->{reason} // 'none', $reasons->[0] // 'no reason',
             "$label: the quarantine row has the reason");
    ok t_cmp(canon_text(($qr->[0] || {})->{body}), canon($item),
             "$label: the quarantine body is the item's JSON");
}

# 3. What access clockings refuse is kept as sent. 4 assertions.
{
    my $odd = person(970201, 'o1', date => '2026-02-30', status => '', person => 5,
                     timeOfDayInMinutes => -1, nested => { list => [1, undef, 'x'] });
    my $q = quarantine_max();
    ok t_cmp(to_people($odd)->code, 204, 'fields access clockings refuse: 204');
    ok t_cmp(quarantine_max(), $q, '... nothing quarantined');
    ok t_cmp(data_of(970201), canon($odd), '... the data kept as sent');
    ok t_cmp(to_people(person(9223372036854775807, 'max'))->code . ' ' . cv(9223372036854775807),
             '204 max', 'id 2^63-1 is stored');
}

# 4. The body forms: an array, an envelope with annotations, several of
# each; a body that is not JSON. 8 assertions.
{
    my $res = to_people([person(970301, 'e1'), { changeType => 'Delete',
                         data => { id => 970302, changeVersion => 'e1' } }]);
    ok t_cmp($res->code . ' ' . cv(970301) . ' ' . (record(970302) || {})->{deleted},
             '204 e1 1', 'an array of a bare object and a Delete: both applied');
    $res = to_people({ '@odata.context' => 'https://example/people',
                       value => [person_event(970303, 'e1'), person(970304, 'e1'),
                                 person_event(970301, 'e2', lastName => 'Kay')] });
    ok t_cmp($res->code, 204, 'an envelope with an annotation: 204');
    ok t_cmp(join(' ', map { cv($_) } 970303, 970304, 970301), 'e1 e1 e2',
             '... its three items applied');
    ok t_cmp(data_of(970301), canon(person(970301, 'e2', lastName => 'Kay')), '... in order');
    $res = to_people({ value => [person(970305, 'e1')], nextPage => 2 });
    ok t_cmp($res->code . ' ' . cv(970305), '202 no row',
             'an envelope with a stray member: 202, nothing applied');
    ok t_cmp(answer($res)->{reasons}[0] // '', qr/^people: envelope: unexpected member "nextPage"/,
             '... the reason names the collection');
    my $q = quarantine_max();
    $res = to_people('{not json');
    ok t_cmp($res->code . ' ' . (answer($res)->{reasons}[0] // ''), qr/^202 people: not JSON/,
             'not JSON: 202, the reason names the collection');
    ok t_cmp((quarantine_since($q)->[0] || {})->{body} // '', '{not json',
             '... the body quarantined verbatim');
}

# 5. The location decides the collection: a body does not say which it
# belongs to, and its shape is common. 6 assertions.
{
    my $clocking = event(970401, 'k1');
    ok t_cmp(to_people($clocking)->code, 204, 'an access clocking sent to /hook-people: 204');
    ok t_cmp(data_of(970401), canon($clocking->{data}), '... stored as a people record');
    ok t_cmp(rows_count('id = 970401'), 0, '... and not as an access clocking');
    my $res = deliver(person_event(970402, 'k1'));
    ok t_cmp($res->code, 202, 'a person sent to /hook (access clockings): 202');
    ok t_cmp(answer($res)->{reasons}[0] // '', qr/^item 1: date: missing/,
             '... refused by the access-clocking rules, no collection named');
    ok t_cmp(records_count('id = 970402'), 0, '... and not stored in protime_records');
}

# 6. Signatures as on every location. 4 assertions.
{
    my $q = quarantine_max();
    ok t_cmp(to_people(person(970410, 's1'), signature => undef)->code, 401, 'unsigned: 401');
    ok t_cmp(to_people(person(970410, 's1'), key => 'wrong key')->code, 401, 'wrong key: 401');
    ok t_cmp(cv(970410) . ' ' . quarantine_max(), "no row $q", '... nothing stored or quarantined');
    ok t_cmp(to_people(person(970410, 's1'))->code . ' ' . cv(970410), '204 s1',
             'signed with the location\'s key: stored');
}

# 7. A body larger than a slot of the shared queue (storage.t, 9): the
# request commits it itself, for its location's collection. 4 assertions.
{
    my @many = map { person(970600 + $_, 'q1', note => 'x' x 100) } 1 .. 60;
    my $body = ProtimeTest::json_of(\@many);
    ok t_cmp(length($body) > 8 * 1024 ? 1 : 0, 1, 'a delivery of ' . length($body) . ' bytes');
    ok t_cmp(to_people($body)->code, 204, '... 204');
    ok t_cmp(records_count("collection = 'people' AND id BETWEEN 970601 AND 970660"), 60,
             '... all 60 stored as people');
    ok t_cmp(rows_count('id BETWEEN 970601 AND 970660'), 0, '... none as an access clocking');
}

# 8. Concurrent deliveries of both collections, from several clients: the
# server's writer commits them in batches, each body for its own
# location's collection. 3 assertions.
{
    my @codes = map { defined($_) ? split(' ', $_) : 'none' } in_clients(8, sub {
        my ($i) = @_;
        return join ' ', map { $_ % 2
            ? to_people([person(970700 + 10 * $i + $_, 'w1')])->code
            : deliver([event(970700 + 10 * $i + $_, 'w1')])->code } 1 .. 6;
    }, 20);
    my %c; $c{$_}++ for @codes;
    ok t_cmp(join(',', map { "$_:$c{$_}" } sort keys %c), '204:48', '48 concurrent deliveries: all 204');
    ok t_cmp(records_count("collection = 'people' AND id BETWEEN 970711 AND 970796 AND id % 2 = 1"), 24,
             '... the 24 people in protime_records');
    ok t_cmp(rows_count('id BETWEEN 970711 AND 970796 AND id % 2 = 0') . ' '
             . records_count('id BETWEEN 970711 AND 970796 AND id % 2 = 0') . ' '
             . rows_count('id BETWEEN 970711 AND 970796 AND id % 2 = 1'), '24 0 0',
             '... the 24 clockings in protime_access_clockings, nothing in the other table');
}

# 9. The view, and the README's query joining a clocking to its person.
# 5 assertions.
{
    to_people(person(970900, 'p1', firstName => 'Ada', lastName => 'Byron', employeeNumber => 'E-17'));
    my $p = db()->selectrow_hashref('SELECT * FROM protime_people WHERE id = 970900') || {};
    ok t_cmp(join('|', map { $p->{$_} // 'NULL' } qw(id first_name last_name employee_number deleted)),
             '970900|Ada|Byron|E-17|0', 'protime_people: id, names, employee number, deleted');
    ok t_cmp(db()->selectrow_array("SELECT count(*) FROM protime_people WHERE id = 970401"), 1,
             'protime_people: a row per person');
    ok t_cmp(deliver(event(970900, 'p1', person => { id => 970900 }))->code, 204,
             'an access clocking of that person: 204');

    my $readme = Apache::Test::vars('top_dir') . '/README.md';
    open my $fh, '<', $readme or die "$readme: $!";
    my $text = do { local $/; <$fh> };
    my ($sql) = $text =~ /```sql\n(-- Who clocked on a day, by name\n.*?)```/s;
    ok t_cmp($sql // 'not found', qr/JOIN protime_people/, "the README's JOIN query");
    my $rows = db()->selectall_arrayref($sql // 'SELECT 1', { Slice => {} });
    my @ada = grep { ($_->{first_name} // '') eq 'Ada' } @$rows;
    ok t_cmp(join('|', map { $_->{last_name} . ' ' . $_->{employee_number} . ' '
                             . $_->{time_of_day_minutes} . ' ' . $_->{status} } @ada),
             'Byron E-17 482 AccessOk', "... gives the clocking with its person's name");
}
