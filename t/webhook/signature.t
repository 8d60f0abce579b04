# Signatures: every way a delivery can be signed wrongly gets 401 and stores
# nothing; every configured way of signing it rightly is accepted; the log
# names the header and the reason but never a key or a signature.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use Digest::SHA qw(hmac_sha512_hex hmac_sha256_hex);
use ProtimeTest;

plan tests => 43, need_lwp;

my $next = 200000;
my @sent_signatures;
my $log_start = error_log_size();

# Delivers a fresh event and returns (answer, id).
sub try_sig {
    my (%o) = @_;
    my $id = ++$next;
    my $body = json_of(event($id, '0001'));
    my $sig = exists $o{sig} ? (ref $o{sig} ? $o{sig}->($body) : $o{sig})
                             : sign($body);
    push @sent_signatures, $sig if defined $sig && length $sig > 8;
    my $res = deliver($body, signature => $sig, path => $o{path},
                      headers => $o{headers});
    return ($res, $id);
}

sub refused {
    my ($name, %o) = @_;
    my ($res, $id) = try_sig(%o);
    ok t_cmp($res->code, 401, "$name: 401");
    ok t_cmp(row($id), undef, "$name: nothing stored");
    return $res;
}

sub accepted {
    my ($name, %o) = @_;
    my ($res, $id) = try_sig(%o);
    ok t_cmp($res->code, 204, "$name: 204");
    ok t_cmp((row($id) || {})->{change_version}, '0001', "$name: stored");
}

my $failures = status_json()->{counters}{signature_failures};

# Wrong ways.
my $res = refused('no signature header', sig => undef);
ok t_cmp($res->header('WWW-Authenticate') // '', qr/HMAC/,
         'no signature header: WWW-Authenticate');
refused('garbage signature', sig => 'not-a-signature');
refused('signature of another body', sig => sign('{"other":1}'));
refused('signature made with another key', sig => sub { sign($_[0], 'other-key') });
refused('hex signature where base64 is configured',
        sig => sub { hmac_sha256_hex($_[0], $ProtimeTest::KEY) });
refused('truncated base64 signature', sig => sub { substr(sign($_[0]), 0, 20) });
refused('one byte of the signature changed', sig => sub {
    my $s = sign($_[0]);
    substr($s, 5, 1) = substr($s, 5, 1) eq 'A' ? 'B' : 'A';
    $s });
ok t_cmp(status_json()->{counters}{signature_failures} - $failures, 7,
         'each 401 counted as a signature failure');

# Right ways on /hook: key from the configuration and from the environment,
# with the prefixes and blanks a sender may add.
accepted('key from env:', sig => sub { sign($_[0], $ProtimeTest::ENV_KEY) });
accepted('"sha256=" prefix', sig => sub { 'sha256=' . sign($_[0]) });
accepted('"SHA256=" prefix', sig => sub { 'SHA256=' . sign($_[0]) });
accepted('surrounding blanks', sig => sub { '  ' . sign($_[0]) . ' ' });

# /hook-custom: header X-Custom-Signature, sha512, hex; keys base64-decoded
# from a file ("key-from-file") and from a program ("second-key").
for my $case (['file: key', 'key-from-file'], ['exec: key', 'second-key']) {
    my ($name, $key) = @$case;
    my $id = ++$next;
    my $body = json_of(event($id, '0001'));
    my $r = deliver($body, path => '/hook-custom', signature => undef,
                    headers => { 'X-Custom-Signature' => hmac_sha512_hex($body, $key) });
    ok t_cmp($r->code, 204, "/hook-custom, $name: 204");
    ok t_cmp((row($id) || {})->{change_version}, '0001', "/hook-custom, $name: stored");
}
{
    my $id = ++$next;
    my $body = json_of(event($id, '0001'));
    my $r = deliver($body, path => '/hook-custom', signature => undef,
                    headers => { 'X-Custom-Signature' => uc hmac_sha512_hex($body, 'second-key') });
    ok t_cmp($r->code, 204, '/hook-custom, upper-case hex: 204');

    $id = ++$next;
    $body = json_of(event($id, '0001'));
    $r = deliver($body, path => '/hook-custom', signature => hmac_sha512_hex($body, 'second-key'));
    ok t_cmp($r->code, 401, '/hook-custom, right signature in the default header: 401');

    $id = ++$next;
    $body = json_of(event($id, '0001'));
    $r = deliver($body, path => '/hook-custom', signature => undef,
                 headers => { 'X-Custom-Signature' => hmac_sha256_hex($body, 'second-key') });
    ok t_cmp($r->code, 401, '/hook-custom, sha256 where sha512 is configured: 401');
    ok t_cmp(row($id), undef, '/hook-custom, sha256: nothing stored');

    $id = ++$next;
    $body = json_of(event($id, '0001'));
    $r = deliver($body, path => '/hook-custom', signature => undef,
                 headers => { 'X-Custom-Signature' => hmac_sha512_hex($body, 'c2Vjb25kLWtleQ==') });
    ok t_cmp($r->code, 401, '/hook-custom, the key text instead of its decoded bytes: 401');
}

# ProtimeRequireSignature Off: unsigned accepted; a wrong signature is not.
{
    my ($r, $id) = try_sig(path => '/hook-unsigned', sig => undef);
    ok t_cmp($r->code, 204, 'ProtimeRequireSignature Off: unsigned delivery: 204');
    ok t_cmp((row($id) || {})->{change_version}, '0001',
             'ProtimeRequireSignature Off: stored');
}

# No key at all while signatures are required.
{
    my $before = error_log_size();
    my ($r, $id) = try_sig(path => '/hook-nokey');
    ok t_cmp($r->code, 401, 'no ProtimeWebhookKey: 401');
    ok t_cmp(row($id), undef, 'no ProtimeWebhookKey: nothing stored');
    ok t_cmp(error_log_since($before), qr/set ProtimeWebhookKey/,
             'no ProtimeWebhookKey: the log says what to set');
}

# The log: one line per refusal naming the header and a reason; no secret.
my $log = error_log_since($log_start);
ok t_cmp(scalar(() = $log =~ /PT00304: delivery refused: X-Protime-Signature: /g) >= 8, 1,
         'each refusal logged with its id and the header name');
ok t_cmp($log, qr/signature matches no key/, 'the log gives the reason');
my @secrets = ('test-key-one', 'test-key-from-env', 'key-from-file', 'second-key',
               'a2V5LWZyb20tZmlsZQ==', 'c2Vjb25kLWtleQ==');
my @leaked = grep { index($log, $_) >= 0 } @secrets;
ok t_cmp(scalar(@leaked), 0, 'no key anywhere in the error log'
         . (@leaked ? " (found: @leaked)" : ''));
# At LogLevel trace, httpd itself logs request headers; our lines must not.
my $ours = join '', grep { /\[protime:/ } split /^/, $log;
@leaked = grep { index($ours, $_) >= 0 } @sent_signatures;
ok t_cmp(scalar(@leaked), 0, 'no signature in the lines of mod_protime'
         . (@leaked ? " (found: @leaked)" : ''));
ok t_cmp(scalar(@sent_signatures) > 10 && length($ours) > 0, 1,
         'the log checks saw the signatures sent and the module\'s lines');
