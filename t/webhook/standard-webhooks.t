# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use ProtimeMock;

# ProtimeSignatureScheme standard-webhooks (SPEC 8): webhook-id,
# webhook-timestamp and webhook-signature "v1,<base64>" over
# id.timestamp.body; several signatures of which any may match; raw and
# whsec_ keys; ProtimeSignatureTolerance. /hook-swh has the keys
# test-key-one and the specification's whsec_ test key, and a tolerance of
# 2m; /hook-swh-default the whsec_ key and the default 5m.
# Event ids 970000 and up.

plan tests => 47, need_lwp;

my $WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

my $next_id = 970000;
sub next_id { return ++$next_id }

my $log_start = error_log_size();
my $failures_start = status_json()->{counters}{signature_failures};
my $refusals = 0;

# POSTs event $id to $path with the Standard Webhooks headers of
# swh_headers(%o), changed by $edit (a sub on the headers) if given.
sub send_swh {
    my ($id, $path, $edit, %o) = @_;
    my $body = json_of(event($id, '0001'));
    my %h = swh_headers($body, %o);
    $edit->(\%h) if $edit;
    return deliver($body, path => $path, signature => undef, headers => \%h);
}

sub accepted {
    my ($what, $id, $res) = @_;
    ok t_cmp($res->code, 204, "$what: 204");
    my $row = row($id);
    ok t_cmp($row && $row->{change_version}, '0001', "$what: stored");
}

sub refused {
    my ($what, $id, $res) = @_;
    $refusals++;
    ok t_cmp($res->code, 401, "$what: 401");
    ok t_cmp(row($id), undef, "$what: nothing stored");
}

# ------------------------------------------------------------- accepted

my $id;

accepted('signed with the raw key', $id = next_id(),
         send_swh($id, '/hook-swh'));
accepted('signed with the whsec_ key', $id = next_id(),
         send_swh($id, '/hook-swh', undef, key => $WHSEC));
accepted('several signatures, the last one valid', $id = next_id(),
         send_swh($id, '/hook-swh', sub {
             $_[0]{'webhook-signature'} = 'v1,Zm9yZ2VkIHNpZ25hdHVyZSBvZiAzMiBieXRlcyEhISE= '
                 . "v1a,c2lnbmVk $_[0]{'webhook-signature'}";
         }));
accepted('several signatures, the first one valid', $id = next_id(),
         send_swh($id, '/hook-swh', sub {
             $_[0]{'webhook-signature'} .= ' v1,Zm9yZ2VkIHNpZ25hdHVyZSBvZiAzMiBieXRlcyEhISE=';
         }));
accepted('a timestamp 100 s old, tolerance 2m', $id = next_id(),
         send_swh($id, '/hook-swh', undef, timestamp => time - 100));
accepted('a timestamp 290 s old, default tolerance', $id = next_id(),
         send_swh($id, '/hook-swh-default', undef, key => $WHSEC,
                  timestamp => time - 290));

# -------------------------------------------------------------- refused

my $log_refused = error_log_size();
refused('signed with another key', $id = next_id(),
        send_swh($id, '/hook-swh', undef, key => 'another-key'));
refused('the signature of another id', $id = next_id(),
        send_swh($id, '/hook-swh', sub { $_[0]{'webhook-id'} .= 'x' }));
refused('several signatures, none valid', $id = next_id(),
        send_swh($id, '/hook-swh', sub {
            $_[0]{'webhook-signature'} = 'v1,Zm9yZ2VkIHNpZ25hdHVyZSBvZiAzMiBieXRlcyEhISE= '
                . 'v2,' . substr($_[0]{'webhook-signature'}, 3);
        }));
refused('a timestamp 130 s old, tolerance 2m', $id = next_id(),
        send_swh($id, '/hook-swh', undef, timestamp => time - 130));
refused('a timestamp 130 s ahead, tolerance 2m', $id = next_id(),
        send_swh($id, '/hook-swh', undef, timestamp => time + 130));
refused('a timestamp 310 s old, default tolerance', $id = next_id(),
        send_swh($id, '/hook-swh-default', undef, key => $WHSEC,
                 timestamp => time - 310));
refused('a timestamp that is not Unix seconds', $id = next_id(),
        send_swh($id, '/hook-swh', undef, timestamp => '2026-12-02T21:00:00Z'));
for my $h (qw(webhook-id webhook-timestamp webhook-signature)) {
    refused("no $h header", $id = next_id(),
            send_swh($id, '/hook-swh', sub { delete $_[0]{$h} }));
}
{
    # hmac-body's header means nothing under standard-webhooks.
    my $body = json_of(event($id = next_id(), '0001'));
    refused('only X-Protime-Signature', $id, deliver($body, path => '/hook-swh'));
}
my $log = error_log_since($log_refused);
ok t_cmp($log, qr{PT00304: delivery refused: webhook-timestamp: timestamp outside tolerance: \d+, this server's clock \d+, ProtimeSignatureTolerance 120 s},
         'the log says the timestamp is outside the tolerance');
ok t_cmp($log, qr{PT00304: delivery refused: webhook-timestamp: timestamp outside tolerance: .*ProtimeSignatureTolerance 300 s},
         'the default tolerance is 300 s');
ok t_cmp($log, qr{PT00304: delivery refused: webhook-timestamp: not Unix seconds},
         'the log says the timestamp is not Unix seconds');
for my $h (qw(webhook-id webhook-timestamp webhook-signature)) {
    ok t_cmp($log, qr{\[protime:info\] .*PT00304: delivery refused: \Q$h\E: no such header},
             "the log names the missing $h at info");
}
my @no_match = $log =~ /PT00304: delivery refused: webhook-signature: signature matches no key/g;
ok t_cmp(scalar @no_match, 3, 'three refusals logged as matching no key');
ok t_cmp($log, qr{PT00309: \d+ deliver(?:y|ies) refused at /hook-swh-default .*timestamp outside tolerance},
         'the refusal summary counts the stale timestamp');
ok t_cmp(status_json()->{counters}{signature_failures} - $failures_start,
         $refusals, "signature_failures grew by the $refusals refusals");

# --------------------------------------------------- the simulator signs

{
    my $mock = ProtimeMock->start(signature_scheme => 'standard-webhooks',
                                  https => 0);
    my $url = 'http://' . Apache::TestRequest::hostport() . '/hook-swh';
    my @ids = (next_id(), next_id());
    my @r = $mock->deliver(url => $url, key => $WHSEC,
                           events => [map { event($_, '0001') } @ids]);
    ok t_cmp(join(' ', map { $_->{status} } @r), '204 204',
             'tools/protime-simulator --signature-scheme standard-webhooks: 204');
    ok t_cmp(join(' ', map { my $row = row($_); $row ? $row->{change_version} : '-' } @ids),
             '0001 0001', 'the simulator\'s deliveries are stored');
    @r = $mock->deliver(url => $url, key => 'another-key',
                        events => [event($id = next_id(), '0001')]);
    ok t_cmp($r[0]{status}, 401, 'the simulator with another key: 401');
    ok t_cmp(row($id), undef, 'the simulator with another key: nothing stored');
}
