# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use JSON::PP ();
use Time::HiRes ();

# The four body forms of SPEC.md section 3 and the columns of section 4,
# and what each form does with members it does not have (pt_event.h).
# Ids 400000+.

plan tests => 79, need_lwp;

my $canon = JSON::PP->new->canonical(1);
# A JSON text in canonical form, to compare structures as strings.
sub canon_text {
    my ($text) = @_;
    return undef unless defined $text;
    my $d = utf8::is_utf8($text) ? JSON::PP->new : JSON::PP->new->utf8;
    return $canon->encode($d->decode($text));
}
# UTF-8 bytes of a structure (ProtimeTest::json_of leaves characters, which
# LWP refuses when they are wide).
sub utf8_json { JSON::PP->new->utf8->canonical(1)->encode($_[0]) }
sub canon { $canon->encode($_[0]) }

sub now_us { int(Time::HiRes::time() * 1_000_000) }

# updated_at is Unix microseconds of the last minute (a value in seconds or
# milliseconds would be far below, one in the future far above).
sub recent_us {
    my ($v) = @_;
    return 0 unless defined $v && $v =~ /^\d+$/;
    my $now = now_us();
    return ($v <= $now + 5_000_000 && $v >= $now - 60_000_000) ? 1 : 0;
}

# 1. One event, {"changeType": ..., "data": {...}}, with references and
# fields the module does not know.
{
    my $ev = event(400001, '0000090200004BD00001',
                   date => '2026-03-14', timeOfDayInMinutes => 1439,
                   person => { id => 123152,
                               externalReferences => { hr => 'E-77', payroll => '0042' } },
                   terminal => { id => 12, description => 'Main door',
                                 externalReferences => { site => 'Gent' } },
                   status => 'AccessRefused',
                   somethingNew => { nested => [1, 'two', undef, JSON::PP::true] },
                   comment => "caf\x{e9} \x{263a}");
    my $res = deliver(utf8_json($ev));
    ok t_cmp($res->code, 204, 'single event: 204');
    my $r = row(400001) || {};
    ok t_cmp($r->{change_version}, '0000090200004BD00001', 'single event: change_version');
    ok t_cmp($r->{deleted}, 0, 'single event: deleted = 0');
    ok t_cmp($r->{person_id}, 123152, 'single event: person_id');
    ok t_cmp($r->{date}, '2026-03-14', 'single event: date');
    ok t_cmp($r->{time_of_day_minutes}, 1439, 'single event: time_of_day_minutes');
    ok t_cmp($r->{terminal_id}, 12, 'single event: terminal_id');
    ok t_cmp($r->{status}, 'AccessRefused', 'single event: status');
    ok t_cmp(canon_text($r->{person_refs}), canon({ hr => 'E-77', payroll => '0042' }),
             'single event: person_refs is the JSON of person.externalReferences');
    ok t_cmp(canon_text($r->{terminal_refs}), canon({ site => 'Gent' }),
             'single event: terminal_refs is the JSON of terminal.externalReferences');
    ok t_cmp(canon_text($r->{payload}), canon($ev->{data}),
             'single event: payload equals the data object sent, unknown fields kept');
    ok t_cmp(recent_us($r->{updated_at}), 1,
             "single event: updated_at is Unix microseconds of the last minute ("
             . ($r->{updated_at} // 'undef') . ")");
}

# 2. A bare access-clocking object: an InsertOrUpdate.
{
    my $obj = bare(400002, 'v1', person => undef, terminal => { id => 7 },
                   status => 'UnknownBadge', extra => 'kept');
    my $res = deliver($obj);
    ok t_cmp($res->code, 204, 'bare object: 204');
    my $r = row(400002) || {};
    ok t_cmp($r->{change_version}, 'v1', 'bare object: change_version');
    ok t_cmp($r->{deleted}, 0, 'bare object: deleted = 0');
    ok t_cmp($r->{person_id}, undef, 'bare object: person null -> person_id NULL');
    ok t_cmp($r->{person_refs}, undef, 'bare object: person null -> person_refs NULL');
    ok t_cmp($r->{terminal_id}, 7, 'bare object: terminal_id');
    ok t_cmp($r->{terminal_refs}, undef, 'bare object: no externalReferences -> terminal_refs NULL');
    ok t_cmp($r->{status}, 'UnknownBadge', 'bare object: status UnknownBadge stored as given');
    ok t_cmp(canon_text($r->{payload}), canon($obj), 'bare object: payload equals the object sent');
}

# 3. An array mixing events and bare objects; all in one transaction.
{
    my $absent = bare(400006, 'w6', status => 'UnknownBadgeNumber');
    delete $absent->{person};
    delete $absent->{terminal};
    my @items = (event(400003, 'w3', timeOfDayInMinutes => 0),
                 bare(400004, 'w4', date => '2024-02-29'),
                 event(400005, 'w5', person => undef),
                 $absent);
    my $res = deliver(\@items);
    ok t_cmp($res->code, 204, 'array of events and bare objects: 204');
    ok t_cmp(rows_count('id BETWEEN 400003 AND 400006'), 4,
             'array: all four rows are there right after the 204');
    my %r = map { $_ => (row($_) || {}) } 400003 .. 400006;
    ok t_cmp($r{400003}{change_version}, 'w3', 'array item 1 (event): change_version');
    ok t_cmp($r{400003}{time_of_day_minutes}, 0, 'array item 1: time_of_day_minutes 0');
    ok t_cmp($r{400004}{change_version}, 'w4', 'array item 2 (bare): change_version');
    ok t_cmp($r{400004}{date}, '2024-02-29', 'array item 2: date');
    ok t_cmp($r{400004}{person_id}, 123152, 'array item 2: person_id');
    ok t_cmp($r{400005}{person_id}, undef, 'array item 3: person null -> person_id NULL');
    ok t_cmp($r{400005}{terminal_id}, 12, 'array item 3: terminal_id');
    ok t_cmp($r{400006}{person_id}, undef, 'array item 4: person absent -> person_id NULL');
    ok t_cmp($r{400006}{terminal_id}, undef, 'array item 4: terminal absent -> terminal_id NULL');
    ok t_cmp($r{400006}{status}, 'UnknownBadgeNumber', 'array item 4: status UnknownBadgeNumber stored as given');
    ok t_cmp(canon_text($r{400006}{payload}), canon($absent), 'array item 4: payload');
    my %stamps = map { ($r{$_}{updated_at} // 'undef') => 1 } 400003 .. 400006;
    ok t_cmp(scalar(keys %stamps), 1,
             'array: the four rows share one updated_at (one transaction)');
    ok t_cmp(recent_us($r{400003}{updated_at}), 1, 'array: updated_at is recent, in microseconds');
}

# 4. The {"value": [...]} envelope holding either kind.
{
    my @items = (event(400007, 'x7', status => 'UnknownBadge'),
                 bare(400008, 'x8', status => 'UnknownBadgeNumber'),
                 event(400009, 'x9', status => 'SomethingProtimeAddedLater'),
                 bare(400010, 'x10', status => "\x{c9}tat \x{263a}"));
    my $res = deliver(utf8_json({ value => \@items }));
    ok t_cmp($res->code, 204, 'value envelope: 204');
    ok t_cmp(rows_count('id BETWEEN 400007 AND 400010'), 4, 'value envelope: four rows');
    my %r = map { $_ => (row($_) || {}) } 400007 .. 400010;
    ok t_cmp($r{400007}{status}, 'UnknownBadge', 'envelope: UnknownBadge stored');
    ok t_cmp($r{400008}{status}, 'UnknownBadgeNumber', 'envelope: UnknownBadgeNumber stored');
    ok t_cmp($r{400009}{status}, 'SomethingProtimeAddedLater', 'envelope: an unknown status is stored as given');
    my $st = $r{400010}{status};
    utf8::decode($st) if defined $st && !utf8::is_utf8($st);
    ok t_cmp($st, "\x{c9}tat \x{263a}", 'envelope: a non-ASCII status is stored as given');
    ok t_cmp($r{400007}{change_version}, 'x7', 'envelope item 1: change_version');
    ok t_cmp($r{400008}{change_version}, 'x8', 'envelope item 2 (bare): change_version');
    ok t_cmp($r{400008}{deleted}, 0, 'envelope item 2: deleted = 0');
    ok t_cmp(canon_text($r{400009}{payload}), canon($items[2]{data}), 'envelope item 3: payload is the data object');
}

# 5. The envelope with a Delete among the events.
{
    my $res = deliver({ value => [ delete_event(400010, 'x99'),
                                   event(400011, 'y1') ] });
    ok t_cmp($res->code, 204, 'envelope with a Delete: 204');
    my $r = row(400010) || {};
    ok t_cmp($r->{deleted}, 1, 'envelope Delete: deleted = 1');
    ok t_cmp($r->{change_version}, 'x99', 'envelope Delete: change_version of the delete');
    ok t_cmp((row(400011) || {})->{change_version}, 'y1', 'envelope Delete: its sibling stored');
}

# 6. Empty deliveries store nothing and are fine.
{
    my $before = rows_count();
    my $q = quarantine_max();
    my $res = deliver('[]');
    ok t_cmp($res->code, 204, 'empty array: 204');
    ok t_cmp(rows_count(), $before, 'empty array: nothing stored');
    $res = deliver('{"value":[]}');
    ok t_cmp($res->code, 204, 'empty envelope: 204');
    ok t_cmp(rows_count(), $before, 'empty envelope: nothing stored');
    ok t_cmp(quarantine_max(), $q, 'empty deliveries: nothing quarantined');
}

# 7. A large delivery in one transaction: every row present after the 204,
# all with the same updated_at.
{
    my @items = map { $_ % 2 ? event(400100 + $_, sprintf('z%03d', $_))
                             : bare(400100 + $_, sprintf('z%03d', $_)) } 0 .. 199;
    my $res = deliver(\@items);
    ok t_cmp($res->code, 204, '200 events in one delivery: 204');
    ok t_cmp(rows_count('id BETWEEN 400100 AND 400299'), 200,
             '200 events: all rows present after the 204');
    my ($stamps) = db()->selectrow_array(
        'SELECT count(DISTINCT updated_at) FROM protime_access_clockings'
        . ' WHERE id BETWEEN 400100 AND 400299');
    ok t_cmp($stamps, 1, '200 events: one updated_at (one transaction)');
    ok t_cmp((row(400299) || {})->{change_version}, 'z199', '200 events: the last one stored');
}

# 8. Members beside those of each form: every signed delivery ends stored,
# stale or quarantined, never answered 204 with nothing kept (issue 17,
# item 6). $code, rows stored, quarantine rows, and the first reason.
sub outcome {
    my ($body, $where) = @_;
    my $q = quarantine_max();
    my $res = deliver($body);
    my $rows = quarantine_since($q);
    my $answer = $res->code == 202 ? JSON::PP::decode_json($res->content) : {};
    return ($res->code, rows_count($where), scalar(@$rows),
            $rows->[0] ? $rows->[0]{reason} : undef, $rows->[0], $answer);
}
{
    # A clocking that also carries "value": [] is a bare object, stored
    # with "value" in its payload (it used to be an empty envelope: 204,
    # nothing stored, nothing quarantined).
    my $obj = bare(400501, 's1', value => []);
    my ($code, $rows, $quar) = outcome($obj, 'id = 400501');
    ok t_cmp("$code $rows $quar", '204 1 0', 'bare object with "value": []: 204, stored');
    ok t_cmp(canon_text((row(400501) || {})->{payload}), canon($obj),
             'bare object with "value": []: payload has every member');

    # Not a valid clocking, with "value": []: quarantined, not nothing.
    ($code, $rows, $quar, my $why) = outcome({ id => 400502, value => [] }, 'id = 400502');
    ok t_cmp("$code $rows $quar", '202 0 1', 'id and "value": []: 202, quarantined');
    ok t_cmp($why, 'item 1: changeVersion: missing', 'id and "value": []: the reason');

    # An event with a member beside changeType and data: kept whole in
    # the quarantine, the event in its stray "value" not lost unseen.
    my $ev = event(400503, 's3');
    $ev->{value} = [ event(400504, 's4') ];
    ($code, $rows, $quar, $why, my $qrow, my $answer) =
        outcome($ev, 'id IN (400503, 400504)');
    ok t_cmp("$code $rows $quar", '202 0 1', 'event with a stray "value": 202, one quarantine row');
    ok t_cmp($why, 'item 1: event: unexpected member "value"', 'event with a stray member: the reason');
    ok t_cmp(canon_text($qrow ? $qrow->{body} : undef), canon($ev),
             'event with a stray member: the quarantine holds all of it');
    ok t_cmp(($answer->{applied} // -1) . ' ' . ($answer->{quarantined} // -1), '0 1',
             'event with a stray member: the answer counts it quarantined');

    # An event with an annotation: stored.
    $ev = event(400505, 's5');
    $ev->{'@odata.etag'} = 'W/"1"';
    ($code, $rows, $quar) = outcome($ev, 'id = 400505');
    ok t_cmp("$code $rows $quar", '204 1 0', 'event with an "@" annotation: 204, stored');

    # Array items, each by its own form.
    my $odd = event(400507, 's7');
    $odd->{received} = '2026-12-02';
    ($code, $rows, $quar, $why) =
        outcome([ bare(400506, 's6', value => []), $odd, event(400508, 's8') ],
                'id BETWEEN 400506 AND 400508');
    ok t_cmp("$code $rows $quar", '202 2 1', 'array with stray members: two stored, one quarantined');
    ok t_cmp($why, 'item 2: event: unexpected member "received"', 'array: the quarantined item');
    ok t_cmp(rows_count('id = 400507'), 0, 'array: the event with a stray member is not stored');

    # An envelope with OData annotations: its items stored.
    ($code, $rows, $quar) = outcome({ '@odata.context' => 'x', '@odata.nextLink' => 'y',
                                      value => [ event(400509, 's9') ] }, 'id = 400509');
    ok t_cmp("$code $rows $quar", '204 1 0', 'envelope with annotations: 204, stored');

    # An envelope with any other member: the whole body quarantined as
    # received, none of its items applied.
    my $body = utf8_json({ value => [ event(400510, 's10') ], nextLink => '/more' });
    ($code, $rows, $quar, $why, $qrow) = outcome($body, 'id = 400510');
    ok t_cmp("$code $rows $quar", '202 0 1', 'envelope with nextLink: 202, quarantined whole');
    ok t_cmp($why, 'envelope: unexpected member "nextLink"', 'envelope with nextLink: the reason');
    ok t_cmp($qrow ? $qrow->{body} : undef, $body, 'envelope with nextLink: the body as received');
    ($code, $rows, $quar) = outcome({ value => [], clocking => bare(400511, 's11') }, 'id = 400511');
    ok t_cmp("$code $rows $quar", '202 0 1', 'empty envelope with a stray member: quarantined, not 204');

    # Envelope items with stray members, each by its own form.
    my $stray = delete_event(400512, 's12');
    $stray->{value} = [];
    ($code, $rows, $quar, $why) =
        outcome({ value => [ bare(400513, 's13', value => [ 1 ]), $stray ] },
                'id IN (400512, 400513)');
    ok t_cmp("$code $rows $quar", '202 1 1', 'envelope items with stray members: one stored, one quarantined');
    ok t_cmp($why, 'item 2: event: unexpected member "value"', 'envelope items: the quarantined one');
    ok t_cmp(canon_text((row(400513) || {})->{payload}), canon(bare(400513, 's13', value => [ 1 ])),
             'envelope items: the bare object keeps its "value" in the payload');
}
