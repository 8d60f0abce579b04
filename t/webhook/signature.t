# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use Digest::SHA qw(hmac_sha256_hex hmac_sha512 hmac_sha512_hex);
use MIME::Base64 qw(encode_base64);

# Signature checks of the protime-webhook handler (SPEC 2 and 3): 401 for
# a missing or wrong signature, nothing stored, every configured key and
# every verifier knob honoured, and neither keys nor signatures in the log.
# Event ids 200000 and up.

plan tests => 67, need_lwp;

my $next_id = 200000;
sub next_id { return ++$next_id }

my $log_start = error_log_size();
my $failures_start = status_json()->{counters}{signature_failures};
my @sent;           # every signature value sent, to look for in the log
my %refused;        # header name => number of 401 answers expected

sub send_event {
    my ($id, %o) = @_;
    my $body = json_of(event($id, '0001'));
    my $sig = exists $o{signature} ? $o{signature} : sign($body, $o{key});
    push @sent, $sig if defined $sig;
    return deliver($body, %o, signature => $sig);
}

# One refused delivery: 401 and nothing stored.
sub refused {
    my ($what, $id, $res, $header) = @_;
    $refused{ $header // 'X-Protime-Signature' }++;
    ok t_cmp($res->code, 401, "$what: 401");
    ok t_cmp(row($id), undef, "$what: nothing stored");
}

sub accepted {
    my ($what, $id, $res) = @_;
    ok t_cmp($res->code, 204, "$what: 204");
    my $row = row($id);
    ok t_cmp($row && $row->{change_version}, '0001', "$what: stored");
}

# ------------------------------------------------------------------ /hook

{
    my $id = next_id();
    my $res = send_event($id, signature => undef);
    refused('no signature header', $id, $res);
    ok t_cmp($res->header('WWW-Authenticate') // '', qr/\S/,
             'no signature header: WWW-Authenticate is present');

    $id = next_id();
    refused('a wrong signature', $id,
            send_event($id, signature => sign('something else entirely')
                                         =~ tr/A-Za-z/B-ZAb-za/r));

    $id = next_id();
    refused('the signature of another body', $id,
            send_event($id, signature => sign(json_of(event($id, '0002')))));

    $id = next_id();
    refused('a signature made with another key', $id,
            send_event($id, key => 'not-a-configured-key'));

    $id = next_id();
    my $body = json_of(event($id, '0001'));
    my $bad = sign($body);
    substr($bad, 5, 1) = substr($bad, 5, 1) eq 'A' ? 'B' : 'A';
    push @sent, $bad;
    refused('one character of the signature changed', $id,
            deliver($body, signature => $bad));

    $id = next_id();
    accepted('signed with test-key-one', $id, send_event($id));

    $id = next_id();
    accepted('signed with the env: key', $id,
             send_event($id, key => $ProtimeTest::ENV_KEY));

    $id = next_id();
    $body = json_of(event($id, '0001'));
    push @sent, 'sha256=' . sign($body);
    accepted('"sha256=" prefix', $id,
             deliver($body, signature => 'sha256=' . sign($body)));

    $id = next_id();
    $body = json_of(event($id, '0001'));
    push @sent, 'SHA256=' . sign($body);
    accepted('"SHA256=" prefix', $id,
             deliver($body, signature => 'SHA256=' . sign($body)));

    $id = next_id();
    $body = json_of(event($id, '0001'));
    push @sent, sign($body);
    accepted('blanks around the signature', $id,
             deliver($body, signature => " \t" . sign($body) . "\t "));

    $id = next_id();
    $body = json_of(event($id, '0001'));
    my $sig = hmac_sha256_hex($body, $ProtimeTest::KEY);
    push @sent, $sig;
    refused('a hex signature where base64 is configured', $id,
            deliver($body, signature => $sig));

    $id = next_id();
    $body = json_of(event($id, '0001'));
    $sig = sign($body);
    $sig =~ s/=+$//;
    $sig = substr($sig, 0, -4);
    push @sent, $sig;
    refused('a truncated base64 signature', $id,
            deliver($body, signature => $sig));

    $id = next_id();
    $body = json_of(event($id, '0001'));
    $sig = sign($body) . sign($body);
    push @sent, $sig;
    refused('a doubled base64 signature', $id,
            deliver($body, signature => $sig));

    $id = next_id();
    $body = json_of(event($id, '0001'));
    $sig = sign($body);
    substr($sig, 10, 1) = '!';
    push @sent, $sig;
    refused('a signature with a character outside base64', $id,
            deliver($body, signature => $sig));

    $id = next_id();
    refused('an empty signature header', $id, send_event($id, signature => ''));

    # The signature covers the bytes as sent: one more blank is other bytes.
    $id = next_id();
    $body = json_of(event($id, '0001'));
    (my $other = $body) =~ s/^\{/{ /;
    $sig = sign($body);
    push @sent, $sig;
    refused('the signature of the body before a blank was added', $id,
            deliver($other, signature => $sig));
}

# ----------------------------------------------------------- /hook-custom

{
    my $custom = sub {
        my ($id, $key, %o) = @_;
        my $body = json_of(event($id, '0001'));
        my $sig = $o{sig} ? $o{sig}->($body) : hmac_sha512_hex($body, $key);
        push @sent, $sig;
        my $header = $o{header} // 'X-Custom-Signature';
        return deliver($body, path => '/hook-custom', signature => undef,
                       headers => { $header => $sig });
    };

    my $id = next_id();
    accepted('/hook-custom: sha512 hex with the file: key', $id,
             $custom->($id, 'key-from-file'));

    $id = next_id();
    accepted('/hook-custom: sha512 hex with the exec: key', $id,
             $custom->($id, 'second-key'));

    $id = next_id();
    accepted('/hook-custom: upper-case hex', $id,
             $custom->($id, undef,
                       sig => sub { uc hmac_sha512_hex($_[0], 'second-key') }));

    $id = next_id();
    accepted('/hook-custom: "sha512=" prefix', $id,
             $custom->($id, undef, sig => sub {
                 'sha512=' . hmac_sha512_hex($_[0], 'key-from-file') }));

    $id = next_id();
    my $res = $custom->($id, 'key-from-file', header => 'X-Protime-Signature');
    refused('/hook-custom: the right signature in the default header', $id,
            $res, 'X-Custom-Signature');
    ok t_cmp($res->header('WWW-Authenticate') // '', qr/\S/,
             '/hook-custom: WWW-Authenticate is present');

    $id = next_id();
    refused('/hook-custom: sha256 hex', $id,
            $custom->($id, undef,
                      sig => sub { hmac_sha256_hex($_[0], 'key-from-file') }),
            'X-Custom-Signature');

    $id = next_id();
    refused('/hook-custom: the base64 key text used as raw key bytes', $id,
            $custom->($id, 'a2V5LWZyb20tZmlsZQ=='), 'X-Custom-Signature');

    $id = next_id();
    refused('/hook-custom: sha512 in base64', $id,
            $custom->($id, undef, sig => sub {
                encode_base64(hmac_sha512($_[0], 'second-key'), '') }),
            'X-Custom-Signature');

    $id = next_id();
    refused('/hook-custom: signed with the /hook key', $id,
            $custom->($id, 'test-key-one'), 'X-Custom-Signature');
}

# ------------------------------------------- /hook-unsigned, /hook-nokey

{
    my $id = next_id();
    accepted('/hook-unsigned: an unsigned delivery', $id,
             send_event($id, path => '/hook-unsigned', signature => undef));

    # In a server whose subscription never got a webhook, hence no key (a
    # location without keys in a server that does not subscribe is refused
    # at start).
    my $old = Apache::TestRequest::module('protime_sub_badca');
    $id = next_id();
    my $before = error_log_size();
    refused('/hook-nokey: a signed delivery', $id,
            send_event($id, path => '/hook-nokey'));
    ok t_cmp(error_log_since($before), qr/set ProtimeWebhookKey/,
             '/hook-nokey: the error log says to set ProtimeWebhookKey');

    $id = next_id();
    refused('/hook-nokey: an unsigned delivery', $id,
            send_event($id, path => '/hook-nokey', signature => undef));
    Apache::TestRequest::module($old);
}

# ------------------------------------------------------- counter and log

{
    my $n = 0;
    $n += $_ for values %refused;
    ok t_cmp(status_json()->{counters}{signature_failures} - $failures_start,
             $n, "signature_failures grew by the $n refusals");

    my $log = error_log_since($log_start);
    my @secrets = ('test-key-one', 'test-key-from-env', 'key-from-file',
                   'second-key');
    my @forms = map { (encode_base64($_, ''), unpack('H*', $_)) } @secrets;
    my @leaks = grep { index($log, $_) >= 0 } @secrets, @forms;
    ok t_cmp("@leaks", '', 'the whole error log shows no key, raw, base64 or hex');

    # Apache::Test runs httpd at LogLevel trace8, where httpd itself
    # (http_request.c, [http:trace4]) dumps every request header, signature
    # included. What must not leak is what the module logs.
    my @own = grep { /\[protime:/ } split /\n/, $log;
    ok t_cmp(scalar @own >= $n, 1, 'the module logged its refusals');
    my $own = join "\n", @own;

    my %seen;
    my @sigs = grep { length $_ >= 16 && !$seen{$_}++ } @sent;
    ok t_cmp(scalar @sigs > 20, 1, 'many signatures were sent');
    my @logged = grep { index($own, $_) >= 0 } @sigs;
    ok t_cmp("@logged", '', 'the module logs no signature that was sent');
    my @halves = grep { index($own, $_) >= 0 }
                 map { substr($_, 0, int(length($_) / 2)) } @sigs;
    ok t_cmp("@halves", '', 'the module logs no half of a signature');

    for my $header (sort keys %refused) {
        my @lines = grep { /delivery refused: \Q$header\E: \S/ } @own;
        ok t_cmp(scalar @lines, $refused{$header},
                 "one log line per 401 naming $header and a reason");
    }
}
