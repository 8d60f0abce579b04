# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use JSON::PP ();
use MIME::Base64 qw(decode_base64);
use Time::HiRes ();

# The validation table of SPEC.md section 3: a signed event that fails it is
# quarantined with its reason and the answer is 202; its valid siblings are
# still applied. A body that is not JSON is quarantined verbatim. Ids 500000+.

my $canon = JSON::PP->new->canonical(1);
sub canon { $canon->encode($_[0]) }
# UTF-8 bytes to send (ProtimeTest::json_of leaves characters).
sub enc { JSON::PP->new->utf8->canonical(1)->encode($_[0]) }
sub canon_text {
    my ($text) = @_;
    return undef unless defined $text;
    my $d = utf8::is_utf8($text) ? JSON::PP->new : JSON::PP->new->utf8;
    my $v = eval { $d->allow_nonref(1)->decode($text) };
    return defined $v || !$@ ? $canon->allow_nonref(1)->encode($v) : "undecodable: $text";
}

my $n = 0;      # numbers the cases: sibling 500000+n, bad item 500500+n

# Invalid items, each [label, item, the reason's field].
my $long65 = 'A' x 65;
my @bad = (
    ['id 0',                 bare(0, 'b'),                       'id'],
    ['id negative',          bare(-5, 'b'),                      'id'],
    ['id real 1.5',          bare(1.5, 'b'),                     'id'],
    ['id a string',          bare('500777', 'b'),                'id'],
    ['id missing',           do { my $o = bare(1, 'b'); delete $o->{id}; $o }, 'id'],
    ['changeVersion empty',  undef, 'changeVersion', changeVersion => ''],
    ['changeVersion 65 chars', undef, 'changeVersion', changeVersion => $long65],
    ['changeVersion control char', undef, 'changeVersion', changeVersion => "v\x01"],
    ['changeVersion non-ASCII', undef, 'changeVersion', changeVersion => "v\x{e9}"],
    ['changeVersion a number', undef, 'changeVersion', changeVersion => 42],
    ['changeVersion missing', undef, 'changeVersion', changeVersion => undef],
    ['date 2026-02-30',      undef, 'date', date => '2026-02-30'],
    ['date 2023-02-29',      undef, 'date', date => '2023-02-29'],
    ['date 2026-1-5',        undef, 'date', date => '2026-1-5'],
    ['date with a time',     undef, 'date', date => '2026-01-05T00:00:00'],
    ['date missing',         undef, 'date', date => undef],
    ['timeOfDayInMinutes -1',   undef, 'timeOfDayInMinutes', timeOfDayInMinutes => -1],
    ['timeOfDayInMinutes 1440', undef, 'timeOfDayInMinutes', timeOfDayInMinutes => 1440],
    ['timeOfDayInMinutes string', undef, 'timeOfDayInMinutes', timeOfDayInMinutes => '482'],
    ['timeOfDayInMinutes real', undef, 'timeOfDayInMinutes', timeOfDayInMinutes => 480.5],
    ['person id a string',   undef, 'person\.id', person => { id => 'x' }],
    ['person without id',    undef, 'person\.id', person => { name => 'Jan' }],
    ['person not an object', undef, 'person', person => 123152],
    ['person.externalReferences non-string value', undef, 'person\.externalReferences',
        person => { id => 1, externalReferences => { hr => 'E-1', badge => 17 } }],
    ['terminal id a string', undef, 'terminal\.id', terminal => { id => '12' }],
    ['terminal.externalReferences non-string value', undef, 'terminal\.externalReferences',
        terminal => { id => 12, externalReferences => { site => undef } }],
    ['status empty',         undef, 'status', status => ''],
    ['status 65 chars',      undef, 'status', status => 'S' x 65],
    ['status a number',      undef, 'status', status => 3],
);

my @changetype = (
    ['changeType Upsert', { changeType => 'Upsert', data => 'FILL' }, 'changeType'],
    ['changeType 5',      { changeType => 5, data => 'FILL' },        'changeType'],
    ['data not an object', { changeType => 'InsertOrUpdate', data => ['x'] }, 'data'],
    ['data missing',      { changeType => 'InsertOrUpdate' },         'data'],
    ['Delete with id 0',  { changeType => 'Delete', data => { id => 0, changeVersion => 'b' } }, 'id'],
    ['Delete without changeVersion', { changeType => 'Delete', data => { id => 'FILLID' } }, 'changeVersion'],
);

plan tests => 8 * (@bad + @changetype) + 4 * 7 + 14 + 6 * 7 + 6, need_lwp;

# Sends [sibling, bad] and checks the 202, the answer, the sibling and the
# quarantine row. $raw_bad is the bad item's JSON text when it cannot be
# built as a structure. 8 assertions.
sub bad_case {
    my ($label, $bad, $field, $raw_bad) = @_;
    $n++;
    my $sib_id = 500000 + $n;
    my $bad_id = 500500 + $n;
    my $sibling = event($sib_id, "sib$n");
    my $body = defined $raw_bad
        ? '[' . enc($sibling) . ",$raw_bad]"
        : enc([$sibling, $bad]);
    my $q = quarantine_max();
    my $res = deliver($body);
    ok t_cmp($res->code, 202, "$label: 202");
    my $a = answer($res);
    ok t_cmp(counts($a), 'applied=1 stale=0 quarantined=1', "$label: counts in the answer");
    my $reasons = $a->{reasons} || [];
    ok t_cmp(scalar(@$reasons) . ' ' . ($reasons->[0] // ''), qr/^1 item 2: $field\b/,
             "$label: one reason, naming item 2 and the field");
    ok t_cmp((row($sib_id) || {})->{change_version}, "sib$n", "$label: the valid sibling is stored");
    ok t_cmp(rows_count('id = ?', $bad_id), 0, "$label: the bad event is not stored");
    my $qr = quarantine_since($q);
    ok t_cmp(scalar(@$qr), 1, "$label: one quarantine row");
    my $row = $qr->[0] || {};
    ok t_cmp($row->{reason}, $reasons->[0] // 'no reason', "$label: the quarantine row has the reason");
    my $expected = defined $raw_bad ? canon_text($raw_bad) : canon($bad);
    ok t_cmp(($row->{body_encoding} // '') . ' ' . (canon_text($row->{body}) // ''),
             "utf-8 $expected", "$label: the quarantine body is the item's JSON");
}

for my $case (@bad) {
    my ($label, $item, $field, %override) = @$case;
    my $bad_id = 500500 + $n + 1;
    if (!$item) {
        $item = bare($bad_id, "bad$bad_id");
        while (my ($k, $v) = each %override) {
            if (defined $v) { $item->{$k} = $v } else { delete $item->{$k} }
        }
    }
    bad_case($label, $item, $field);
}
for my $case (@changetype) {
    my ($label, $item, $field) = @$case;
    my $bad_id = 500500 + $n + 1;
    $item->{data} = bare($bad_id, "bad$bad_id") if ($item->{data} // '') eq 'FILL';
    $item->{data}{id} = $bad_id if ref $item->{data} eq 'HASH' && ($item->{data}{id} // '') eq 'FILLID';
    bad_case($label, $item, $field);
}

# Values at the edge of the rules are valid: 204 and stored, with a
# sibling. 4 assertions each.
sub good_case {
    my ($label, $item, $id, $check) = @_;
    $n++;
    my $sib_id = 500000 + $n;
    my $q = quarantine_max();
    my $res = deliver(enc([event($sib_id, "sib$n"), $item]));
    ok t_cmp($res->code, 204, "$label: 204");
    ok t_cmp((row($sib_id) || {})->{change_version}, "sib$n", "$label: the sibling is stored");
    ok t_cmp(quarantine_max(), $q, "$label: nothing quarantined");
    my $r = row($id) || {};
    ok t_cmp($check->($r), 1, "$label: stored as sent");
}

good_case('id 2^63-1', bare(9223372036854775807, 'val-max-id'), 9223372036854775807,
          sub { ($_[0]{change_version} // '') eq 'val-max-id' ? 1 : 0 });
good_case('date 2024-02-29', bare(500901, 'g1', date => '2024-02-29'), 500901,
          sub { ($_[0]{date} // '') eq '2024-02-29' ? 1 : 0 });
good_case('date 2000-02-29', bare(500902, 'g1', date => '2000-02-29'), 500902,
          sub { ($_[0]{date} // '') eq '2000-02-29' ? 1 : 0 });
good_case('timeOfDayInMinutes 1439', bare(500903, 'g1', timeOfDayInMinutes => 1439), 500903,
          sub { ($_[0]{time_of_day_minutes} // '') eq '1439' ? 1 : 0 });
good_case('changeVersion 64 printable chars', bare(500904, '~' . ('z' x 62) . ' '), 500904,
          sub { ($_[0]{change_version} // '') eq '~' . ('z' x 62) . ' ' ? 1 : 0 });
good_case('a Delete with only id and changeVersion', delete_event(500905, 'd1'), 500905,
          sub { ($_[0]{deleted} // '') eq '1' && ($_[0]{change_version} // '') eq 'd1' ? 1 : 0 });
good_case('status of 64 two-byte characters (128 bytes)',
          { changeType => 'InsertOrUpdate', data => bare(500906, 'g1', status => "\x{e9}" x 64) },
          500906, sub { my $s = $_[0]{status} // ''; utf8::decode($s);
                        $s eq ("\x{e9}" x 64) ? 1 : 0 });

# Several bad items and a stale one in one delivery. 14 assertions.
{
    my $q = quarantine_max();
    my $res = deliver(enc([ event(500950, 'm1'),
                                bare(500951, 'm1', date => '2026-13-01'),
                                event(500952, 'm1'),
                                bare(500953, 'm1', status => ''),
                                event(500001, 'sib1'),     # stored above: stale
                                'a string item',
                                delete_event(500954, 'm1') ]));
    ok t_cmp($res->code, 202, 'mixed delivery: 202');
    my $a = answer($res);
    ok t_cmp(counts($a), 'applied=3 stale=1 quarantined=3', 'mixed delivery: applied 3, stale 1, quarantined 3');
    my @r = @{ $a->{reasons} || [] };
    ok t_cmp(scalar(@r), 3, 'mixed delivery: three reasons');
    ok t_cmp($r[0] // '', qr/^item 2: date\b/, 'mixed delivery: reason 1 names item 2 and date');
    ok t_cmp($r[1] // '', qr/^item 4: status\b/, 'mixed delivery: reason 2 names item 4 and status');
    ok t_cmp($r[2] // '', qr/^item 6: /, 'mixed delivery: reason 3 names item 6');
    ok t_cmp(rows_count('id IN (500950, 500952, 500954)'), 3, 'mixed delivery: the valid items are stored');
    ok t_cmp(rows_count('id IN (500951, 500953)'), 0, 'mixed delivery: the invalid items are not');
    my $qr = quarantine_since($q);
    ok t_cmp(scalar(@$qr), 3, 'mixed delivery: three quarantine rows');
    ok t_cmp(join('|', map { $_->{reason} } @$qr), join('|', @r),
             'mixed delivery: the quarantine holds the three reasons');
    ok t_cmp(canon_text($qr->[2]{body}), canon('a string item'),
             'mixed delivery: a string item is quarantined as its JSON');
    ok t_cmp(canon_text($qr->[0]{body}), canon(bare(500951, 'm1', date => '2026-13-01')),
             'mixed delivery: quarantine body of item 2');
    my $now = int(Time::HiRes::time() * 1e6);
    my $ra = $qr->[0]{received_at} // 0;
    ok t_cmp(($ra > $now - 60e6 && $ra <= $now + 5e6) ? 1 : 0, 1,
             "mixed delivery: received_at is recent Unix microseconds ($ra)");
    ok t_cmp((row(500954) || {})->{deleted}, 1, 'mixed delivery: the Delete is applied');
}

# Bodies that are not JSON (or not of a known shape): 202, nothing
# applied, the raw body in the quarantine. 6 assertions each.
sub body_case {
    my ($label, $body, $encoding, $reason_re) = @_;
    my $q = quarantine_max();
    my $before = rows_count();
    my $res = deliver($body);
    ok t_cmp($res->code, 202, "$label: 202");
    my $a = answer($res);
    ok t_cmp(counts($a), 'applied=0 stale=0 quarantined=1', "$label: applied 0, quarantined 1");
    ok t_cmp($a->{reasons}[0] // '', $reason_re, "$label: the reason");
    ok t_cmp(rows_count(), $before, "$label: nothing stored");
    my $qr = quarantine_since($q);
    my $row = $qr->[0] || {};
    ok t_cmp(scalar(@$qr) . ' ' . ($row->{body_encoding} // ''), "1 $encoding",
             "$label: one quarantine row, body_encoding $encoding");
    my $stored = $row->{body} // '';
    $stored = decode_base64($stored) if $encoding eq 'base64';
    utf8::encode($stored) if utf8::is_utf8($stored);
    ok t_cmp(unpack('H*', $stored), unpack('H*', $body), "$label: the quarantine holds the exact body");
}

body_case('not JSON', '{not json', 'utf-8', qr/^not JSON/);
body_case('truncated JSON', '[{"changeType":"InsertOrUpdate","data":{"id":500960,"changeVersion":"t', 'utf-8', qr/^not JSON/);
body_case('duplicate keys',
          '{"changeType":"InsertOrUpdate","data":{"id":500961,"id":500962,"changeVersion":"d",'
          . '"date":"2026-01-05","timeOfDayInMinutes":1,"status":"AccessOk"}}',
          'utf-8', qr/^not JSON: duplicate/);
body_case('invalid UTF-8',
          "{\"changeType\":\"InsertOrUpdate\",\"data\":{\"id\":500963,\"changeVersion\":\"u\","
          . "\"date\":\"2026-01-05\",\"timeOfDayInMinutes\":1,\"status\":\"Acc\xff\xfe\xc3\"}}",
          'base64', qr/^not JSON/);
body_case('a JSON string scalar', '"InsertOrUpdate"', 'utf-8', qr/^not JSON/);
body_case('an id above 2^63-1',
          '{"id":9223372036854775808,"changeVersion":"b","date":"2026-01-05",'
          . '"timeOfDayInMinutes":1,"status":"AccessOk"}', 'utf-8', qr/^not JSON/);
body_case('a NUL byte', "[\0]", 'base64', qr/^not JSON/);

# Unsigned or wrongly signed garbage is refused, never quarantined.
{
    my $q = quarantine_max();
    my $res = deliver('{not json', signature => undef);
    ok t_cmp($res->code, 401, 'unsigned garbage on /hook: 401');
    ok t_cmp(quarantine_max(), $q, 'unsigned garbage: not quarantined');
    $res = deliver('{not json', key => 'wrong key');
    ok t_cmp($res->code, 401, 'wrongly signed garbage on /hook: 401');
    ok t_cmp(quarantine_max(), $q, 'wrongly signed garbage: not quarantined');
    $res = deliver(enc([event(500970, 'u1'), bare(0, 'x')]), signature => undef);
    ok t_cmp($res->code, 401, 'unsigned delivery with a bad item: 401');
    ok t_cmp(quarantine_max() . ' ' . rows_count('id = 500970'), "$q 0",
             'unsigned delivery: nothing quarantined, nothing stored');
}
