# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# ProtimeCaptureRefused (SPEC.md section 8): a delivery refused for its
# signature is still refused, and kept in protime_refused with its headers,
# the secret ones cut to their length, and the start of its body; at most
# one a second per location, the last 20 per location; nothing where the
# directive is Off. Event ids 960000+.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use ProtimeTest;
use JSON::PP ();
use Time::HiRes qw(time sleep);

plan tests => 28, need_lwp;

my $path = '/hook-capture';
my @secrets = ($ProtimeTest::KEY, 'not-the-key', 'Bearer tok-secret-123',
               'crumb=secret-cookie');
# When the last captured delivery was answered (its capture came before),
# and when it was sent (its capture came after).
my ($last_capture, $sent_at) = (0, 0);

sub captured {
    my ($where) = @_;
    return db()->selectall_arrayref(
        'SELECT * FROM protime_refused WHERE location = ? ORDER BY id',
        { Slice => {} }, $where // $path);
}

sub last_row { (captured())[0][-1] }

# Headers of a row: lower-case name => value.
sub headers_of {
    my ($row) = @_;
    return { map { (lc $_->[0] => $_->[1]) }
             @{ JSON::PP::decode_json($row->{headers}) } };
}

# Sends a refused delivery once the last capture is a second old.
sub refused_delivery {
    my ($body, %o) = @_;
    my $wait = $last_capture + 1.1 - time;
    sleep $wait if $wait > 0;
    $sent_at = time;
    my $res = deliver($body, path => $path, signature => undef, %o);
    $last_capture = time;
    return $res;
}

# ---- a wrong signature: refused, kept, the signature cut to its length

my $body = json_of(event(960001, '0001'));
my $sig = sign($body, 'not-the-key');
push @secrets, $sig;
my $res = refused_delivery($body, signature => $sig,
                           headers => { Authorization => 'Bearer tok-secret-123',
                                        Cookie => 'crumb=secret-cookie',
                                        'X-Trace' => 'keep-me' });
ok t_cmp($res->code, 401, 'a wrong signature: still 401');
ok t_cmp($res->header('WWW-Authenticate') // '', qr/HMAC/, '... with WWW-Authenticate');
ok t_cmp(row(960001), undef, '... the event not stored');
my $row = last_row();
ok t_cmp($row && $row->{body}, $body, '... the body kept in protime_refused');
ok t_cmp($row && "$row->{body_length} $row->{body_encoding}",
         length($body) . ' utf-8', '... with its length');
ok t_cmp($row && $row->{reason}, qr/matches no key/, '... and why it was refused');
my $h = $row ? headers_of($row) : {};
ok t_cmp($h->{'x-protime-signature'}, '<cut: ' . length($sig) . ' bytes>',
         '... the signature header cut to its length');
ok t_cmp($h->{authorization}, '<cut: 21 bytes>', '... Authorization cut');
ok t_cmp($h->{cookie}, '<cut: 19 bytes>', '... Cookie cut');
ok t_cmp($h->{'x-trace'}, 'keep-me', '... other headers kept as sent');
ok t_cmp($h->{'content-type'}, 'application/json', '... Content-Type too');

# ---- no signature header, then a burst within the second

$body = json_of(event(960002, '0001'));
my $before = @{ captured() };
$res = refused_delivery($body);
my $started = $sent_at;
ok t_cmp($res->code, 401, 'no signature header: 401');
ok t_cmp(last_row()->{reason}, 'no signature header', '... kept, with its reason');
my @burst = map { deliver("burst $_", path => $path, signature => undef)->code } 1 .. 5;
my $elapsed = time - $started;
ok t_cmp("@burst", '401 401 401 401 401', 'five more at once: all 401');
skip($elapsed >= 0.9 ? "the burst took ${elapsed}s, not within the second" : '',
     sub { t_cmp(scalar @{ captured() }, $before + 1,
                 '... none of them kept: one capture a second') });

# ---- a large body: its first 4 KiB

$body = '[' . join(',', ('"0123456789"') x 600) . ']';
refused_delivery($body);
$row = last_row();
ok t_cmp($row && length($row->{body}) . " $row->{body_length}",
         '4096 ' . length($body), 'a large body: its first 4096 bytes kept, and its length');
ok t_cmp($row && $row->{body}, substr($body, 0, 4096), '... as sent');

# ---- a delivery that is accepted is not kept

$before = @{ captured() };
sleep 1.1;
ok t_cmp(deliver(event(960005, '0001'), path => $path)->code, 204,
         'a correctly signed delivery: 204');
ok t_cmp(scalar @{ captured() }, $before, '... not kept in protime_refused');

# ---- no secret anywhere in the table (before the rows above are replaced)

my $all = join "\n", map { join ' ', map { $_ // '' } values %$_ }
    @{ db()->selectall_arrayref('SELECT * FROM protime_refused', { Slice => {} }) };
ok t_cmp(length $all > 0, 1, 'the table has rows to look through');
my @found = grep { index($all, $_) >= 0 } @secrets;
ok t_cmp("@found", '', 'neither a key, a signature, a token nor a cookie in protime_refused');
ok t_cmp(scalar(grep { /<cut: \d+ bytes>/ } $all), 1, '... where the cut values say their length');

# ---- the last 20 of the location

my @codes = grep { $_ != 401 } map { refused_delivery("refused $_")->code } 1 .. 25;
ok t_cmp("@codes", '', '25 more refused deliveries, a second apart: all 401');
my @bodies = map { $_->{body} } @{ captured() };
ok t_cmp(scalar @bodies, 20, '... 20 kept');
ok t_cmp("@bodies", join(' ', map { "refused $_" } 6 .. 25), '... the last 20');

# ---- ProtimeCaptureRefused Off (the default) keeps nothing

$res = deliver(json_of(event(960003, '0001')), signature => undef);
ok t_cmp($res->code, 401, '/hook, without ProtimeCaptureRefused: 401');
$res = deliver(json_of(event(960004, '0001')), key => 'not-the-key');
ok t_cmp($res->code, 401, '... also for a wrong signature');
ok t_cmp(db()->selectrow_array(
             'SELECT count(*) FROM protime_refused WHERE location <> ?', undef, $path),
         0, '... nothing kept for any other location');
