# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Signature discovery (issue 18, B): a delivery that matches no key under
# the configured scheme is still refused with 401, but when it verifies
# with one of the location's keys under another common scheme, a warning
# (PT00320) and protime-status's "signature_hint" name the directives that
# would accept it. Discovery runs at most once a minute per location, and
# only for requests that carry something like a signature, so a flood
# costs at most one run (PT00321 at debug counts the runs).
#
# The deliveries come from tools/protime-simulator, signed in the scheme
# its --signature-scheme names. Each case has a location of its own
# (t/conf/extra.conf.in). Event ids 960000 and up.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use Digest::SHA qw(hmac_sha256_hex);
use ProtimeTest;
use ProtimeMock;

plan tests => 24, need_lwp;

my $KEY = 'test-key-one';       # the key of every /hook-discover* location
my $next_id = 960000;

# Delivers one event to $path through a simulator signing in $scheme;
# returns the status and the event's id.
sub deliver_signed {
    my ($path, $scheme, %o) = @_;
    my $mock = ProtimeMock->start(https => 0, signature_scheme => $scheme,
                                  signature_header => $o{header});
    my $id = ++$next_id;
    my ($r) = $mock->deliver(url => 'http://' . Apache::TestRequest::hostport() . $path,
                             key => $o{key} // $KEY,
                             events => [event($id, '0001')]);
    $mock->stop;
    return ($r->{status}, $id);
}

sub lines_matching {
    my ($text, $re) = @_;
    return grep { /$re/ } split /\n/, $text;
}

# ---------------------------------------------------- hex in X-Hub-Signature-256

my $log_at = error_log_size();
my ($status, $id) = deliver_signed('/hook-discover', 'hex-sha256',
                                   header => 'X-Hub-Signature-256');
ok t_cmp($status, 401, 'hex signature in X-Hub-Signature-256: still 401');
ok t_cmp(row($id), undef, 'and nothing stored');
my $grown = error_log_since($log_at);
my @warned = lines_matching($grown, qr/PT00320:/);
ok t_cmp(scalar @warned, 1, 'one discovery warning') or t_debug($grown);
my $warning = $warned[0] // '';
ok t_cmp($warning, qr/\[protime:warn\]/, 'at warn');
ok t_cmp($warning, qr{refused at /hook-discover }, 'naming the location');
ok t_cmp($warning, qr/ProtimeSignatureHeader X-Hub-Signature-256\b/,
         'naming ProtimeSignatureHeader X-Hub-Signature-256');
ok t_cmp($warning, qr/ProtimeSignatureEncoding hex\b/,
         'and ProtimeSignatureEncoding hex');
# The test server traces httpd's own work; the module's lines are ours.
my $ours = join "\n", lines_matching($grown, qr/\[protime:/);
ok t_cmp($ours =~ /$KEY/ ? 1 : 0, 0, 'the key is not in the module\'s log');
ok t_cmp($ours =~ /[0-9a-f]{64}/ ? 1 : 0, 0, 'nor the signature');

my $hint = status_json()->{signature_hint};
ok t_cmp(ref $hint eq 'HASH' && $hint->{location}, '/hook-discover',
         'protime-status: signature_hint of /hook-discover');
ok t_cmp($hint && $hint->{hint},
         qr/ProtimeSignatureHeader X-Hub-Signature-256.*ProtimeSignatureEncoding hex/,
         'protime-status: the same directives');

# Within the minute the location is not looked at again.
$log_at = error_log_size();
($status) = deliver_signed('/hook-discover', 'hex-sha256', header => 'X-Hub-Signature-256');
$grown = error_log_since($log_at);
ok t_cmp($status, 401, 'a second such delivery: 401');
ok t_cmp(scalar(lines_matching($grown, qr/PT0032[01]:/)), 0,
         'no second discovery within the minute');

# ------------------------------------------ timestamp.body: no directive yet

$log_at = error_log_size();
($status) = deliver_signed('/hook-discover-stamp', 'timestamp-body',
                           header => 'Stripe-Signature');
@warned = lines_matching(error_log_since($log_at), qr/PT00320:/);
ok t_cmp($status, 401, 't=...,v1=... (Stripe-like): 401');
ok t_cmp($warned[0] // '',
         qr{/hook-discover-stamp .*HMAC-SHA256 over timestamp\.body, signature in Stripe-Signature .*timestamp from the t= part of Stripe-Signature: not supported by a directive yet},
         'the warning says plainly that no directive supports it');

# -------------------- Standard Webhooks: ProtimeSignatureScheme names it

$log_at = error_log_size();
($status, $id) = deliver_signed('/hook-discover-swh', 'standard-webhooks');
@warned = lines_matching(error_log_since($log_at), qr/PT00320:/);
ok t_cmp($status, 401, 'webhook-id, webhook-timestamp, webhook-signature: 401');
ok t_cmp($warned[0] // '',
         qr{/hook-discover-swh .*: ProtimeSignatureScheme standard-webhooks \(it got 401},
         'the warning names ProtimeSignatureScheme standard-webhooks');
ok t_cmp(status_json()->{signature_hint}{hint}, 'ProtimeSignatureScheme standard-webhooks',
         'and so does the status');

# --------------------------------------------------- a flood: one run at most

my $body = json_of(delete_event(++$next_id, '0001'));
my $flood = sub {
    my (%h) = @_;
    my @codes = map { Apache::TestRequest::POST('/hook-discover-flood', content => $body,
                          'Content-Type' => 'application/json', %h)->code } 1 .. 200;
    return scalar grep { $_ == 401 } @codes;
};
$log_at = error_log_size();
ok t_cmp($flood->(), 200, '200 unsigned deliveries: 401');
ok t_cmp(scalar(lines_matching(error_log_since($log_at),
                               qr{PT00321: signature discovery at /hook-discover-flood:})),
         0, 'unsigned: no discovery run');
$log_at = error_log_size();
ok t_cmp($flood->('X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($body, 'not-the-key')),
         200, '200 deliveries signed with another key: 401');
ok t_cmp(scalar(lines_matching(error_log_since($log_at),
                               qr{PT00321: signature discovery at /hook-discover-flood: 1 candidate signature, 1 HMACs, no match})),
         1, 'one discovery run for all 200, of one HMAC');

# ------------------------------------------------------ the wrong key: no hint

$log_at = error_log_size();
($status) = deliver_signed('/hook-discover-wrong', 'hex-sha256',
                           header => 'X-Hub-Signature-256', key => 'not-the-key');
$grown = error_log_since($log_at);
ok t_cmp(scalar(lines_matching($grown, qr{PT00321: signature discovery at /hook-discover-wrong: .*no match})),
         1, 'signed with another key: discovery ran, and found nothing');
ok t_cmp(status_json()->{signature_hint}{location}, '/hook-discover-swh',
         'and left no hint: the latest is still the one before');
