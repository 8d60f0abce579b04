#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# apachectl configtest against the built module: every bad value of every
# directive fails with a message that names the directive; good values pass.
# Usage: perl test/configtest.pl /path/to/mod_protime.so
use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Socket::INET;

my $so = shift or die "usage: $0 mod_protime.so\n";
my $httpd = $ENV{PROTIME_HTTPD} || "apache2";
chomp(my $modules = `apxs -q LIBEXECDIR`);
my $dir = tempdir(CLEANUP => 1);
# As root, User (not root) must be able to enter it to reach the database.
chmod 0755, $dir;
my $root = $> == 0;
open my $kf, '>', "$dir/key" or die; print $kf "a2V5\n"; close $kf;
open my $cf, '>', "$dir/ca.pem" or die; print $cf "# CA bundle\n"; close $cf;
delete $ENV{PROTIME_CONFIGTEST_UNSET};
$ENV{PROTIME_CONFIGTEST_SECRET} = 's3cret';
$ENV{PROTIME_CONFIGTEST_PROXY_USER} = 'user:s3cret';
open my $pf, '>', "$dir/proxy-user" or die; print $pf "user:s3cret\n"; close $pf;

# A subscription with everything it needs, and a <VirtualHost> of the
# listener holding the given lines.
my $sub = "ProtimeTenant acme\nProtimeClientID client-1\n"
    . "ProtimeClientSecret s3cret\n"
    . "ProtimeDestinationURL https://hooks.example.com/hook";
sub vhost {
    my ($name, @lines) = @_;
    return join "\n", "<VirtualHost 127.0.0.1:1>", "    ServerName $name",
        (map { "    $_" } map { split /\n/ } @lines), "</VirtualHost>";
}
my $long = 'a' x 64;

# SQLite directories the children could not use: one that is not
# writable, one that cannot be entered.
mkdir "$dir/ro", 0555 or die;
mkdir "$dir/closed", 0 or die;
mkdir "$dir/shared", 0755 or die;
mkdir "$dir/private", 0700 or die;
chmod 0555, "$dir/ro"; chmod 0, "$dir/closed";
END { chmod 0755, "$dir/closed" if $dir }    # for File::Temp's clean-up
# As root, the User the children would run as.
my ($user) = grep { defined getpwnam $_ } qw(www-data nobody);
my $as_user = $user ? "User $user\nGroup #" . (getpwnam $user)[3] . "\n" : '';
my $webhook = "<Location /hook>\n    SetHandler protime-webhook\n</Location>";

# [directive line(s), where ("loc" or "srv"), expected: "ok" or a regexp,
#  options: {nodbd => 1} leaves mod_dbd out, {nodriver => 1} the main
#  server's DBDriver and DBDParams, {dbdparams => ...} sets another;
#  {nokey => 1} leaves out the key that the main server otherwise gives
#  every location; {warns => 1}: accepted, with the message expected;
#  {root => 1}: only as root (User applies), {nonroot => 1}: only not;
#  {conf => ...}: lines before the others; {secret => ...}: a value that no
#  message may show; {absent => path}: configtest leaves no path behind]
my @cases = (
    ['ProtimeWebhookKey literal-key', 'loc', 'ok'],
    ["ProtimeWebhookKey file:$dir/key", 'loc', 'ok'],
    ['ProtimeWebhookKey file:/nonexistent/key', 'loc', qr/ProtimeWebhookKey: .*nonexistent/],
    ['ProtimeWebhookKey env:PROTIME_CONFIGTEST_UNSET', 'loc', qr/ProtimeWebhookKey: .*PROTIME_CONFIGTEST_UNSET/],
    ['ProtimeWebhookKey "exec:/nonexistent/program"', 'loc', qr/ProtimeWebhookKey: /],
    ['ProtimeWebhookKey ""', 'loc', qr/ProtimeWebhookKey\b/],
    # The path of a key file, file: forgotten: a warning (a literal key may
    # start with '/'), which does not show the value.
    ["ProtimeWebhookKey $dir/key", 'loc',
     qr/PT00508: ProtimeWebhookKey at \S+httpd\.conf:\d+: .*path of an existing file.*write file: before the path/,
     {warns => 1, secret => "$dir/key"}],
    ['ProtimeWebhookKey /no/such/file', 'loc', 'ok'],
    # A webhook location must have a key to check signatures with.
    ['ProtimeRequireSignature On', 'loc',
     qr{PT00509: <Location /hook> at \S+httpd\.conf:\d+: SetHandler protime-webhook has no ProtimeWebhookKey and server localhost does not subscribe.*set ProtimeWebhookKey, or ProtimeSubscribe On in this server or in the main server},
     {nokey => 1}],
    ['ProtimeRequireSignature Off', 'loc', 'ok', {nokey => 1}],
    ['ProtimeWebhookKey literal-key', 'loc', 'ok', {nokey => 1}],
    # A program runs only at start: its key counts already.
    ['ProtimeWebhookKey "exec:/bin/echo k"', 'loc', 'ok', {nokey => 1}],
    ["<Location />\n    ProtimeWebhookKey literal-key\n</Location>\n$webhook",
     'srv', 'ok', {nokey => 1}],
    ["<Location /hook/>\n    ProtimeWebhookKey literal-key\n</Location>\n$webhook",
     'srv', qr/PT00509: <Location \/hook> /, {nokey => 1}],
    ["<Location /ho>\n    ProtimeWebhookKey literal-key\n</Location>\n$webhook",
     'srv', qr/PT00509: <Location \/hook> /, {nokey => 1}],
    ["<LocationMatch ^/h>\n    ProtimeWebhookKey literal-key\n</LocationMatch>\n$webhook",
     'srv', 'ok', {nokey => 1}],
    ["<LocationMatch ^/hook\$>\n    SetHandler protime-webhook\n</LocationMatch>",
     'srv', qr/PT00509: <LocationMatch \^\/hook\$> /, {nokey => 1}],
    ["ProtimeWebhookKey literal-key\n$webhook", 'srv', 'ok', {nokey => 1}],
    ["$sub\nProtimeSubscribe On\n" . vhost('a.example', $webhook), 'srv', 'ok', {nokey => 1}],
    ["$sub\n" . vhost('a.example', 'ProtimeSubscribe On', $webhook), 'srv', 'ok',
     {nokey => 1}],
    ["$sub\n" . vhost('a.example', 'ProtimeSubscribe On') . "\n$webhook", 'srv',
     qr/PT00509: <Location \/hook> .* server localhost does not subscribe/,
     {nokey => 1}],
    ["$sub\n" . vhost('a.example', $webhook), 'srv',
     qr/PT00509: <Location \/hook> .* server a\.example does not subscribe/,
     {nokey => 1}],
    ['ProtimeSignatureHeader X-Sig', 'loc', 'ok'],
    ['ProtimeSignatureHeader "X Sig"', 'loc', qr/ProtimeSignatureHeader: /],
    ['ProtimeSignatureAlgorithm sha512', 'loc', 'ok'],
    ['ProtimeSignatureAlgorithm md5', 'loc', qr/ProtimeSignatureAlgorithm: expects sha256 or sha512/],
    ['ProtimeSignatureEncoding hex', 'loc', 'ok'],
    ['ProtimeSignatureEncoding base32', 'loc', qr/ProtimeSignatureEncoding: expects base64 or hex/],
    ["ProtimeKeyEncoding base64\nProtimeWebhookKey file:$dir/key", 'loc', 'ok'],
    ['ProtimeKeyEncoding utf8', 'loc', qr/ProtimeKeyEncoding: expects raw, base64 or hex/],
    ["ProtimeWebhookKey not-hex\nProtimeKeyEncoding hex", 'loc', qr/ProtimeWebhookKey #1: .*hex/],
    ['ProtimeRequireSignature Off', 'loc', 'ok'],
    ['ProtimeRequireSignature maybe', 'loc', qr/ProtimeRequireSignature /],
    ['ProtimeMaxBodySize 64K', 'loc', 'ok'],
    ['ProtimeMaxBodySize 0', 'loc', qr/ProtimeMaxBodySize: /],
    ['ProtimeMaxBodySize 2G', 'loc', qr/ProtimeMaxBodySize: /],
    ['ProtimeMaxBodySize lots', 'loc', qr/ProtimeMaxBodySize: /],
    ['ProtimeSignatureScheme standard-webhooks', 'loc', 'ok'],
    ['ProtimeSignatureScheme hmac-body', 'loc', 'ok'],
    ['ProtimeSignatureScheme standard-webhooks', 'srv', 'ok'],
    ['ProtimeSignatureScheme svix', 'loc', qr/ProtimeSignatureScheme: expects hmac-body or standard-webhooks/],
    # A whsec_ key is the base64 after the prefix, under standard-webhooks
    # only, whichever directive comes first.
    ["ProtimeSignatureScheme standard-webhooks\nProtimeWebhookKey whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 'loc', 'ok'],
    ["ProtimeSignatureScheme standard-webhooks\nProtimeWebhookKey whsec_not*base64", 'loc', qr/ProtimeWebhookKey #1: the key is not valid base64/],
    ["ProtimeWebhookKey whsec_not*base64\nProtimeSignatureScheme standard-webhooks", 'loc', qr/ProtimeWebhookKey #1: the key is not valid base64/],
    ['ProtimeWebhookKey whsec_not*base64', 'loc', 'ok'],
    ['ProtimeSignatureTolerance 5m', 'loc', 'ok'],
    ['ProtimeSignatureTolerance 90', 'loc', 'ok'],
    ['ProtimeSignatureTolerance 1h', 'srv', 'ok'],
    ['ProtimeSignatureTolerance 0', 'loc', qr/ProtimeSignatureTolerance: must be at least 1s/],
    ['ProtimeSignatureTolerance -1', 'loc', qr/ProtimeSignatureTolerance: the duration must be/],
    ['ProtimeSignatureTolerance soon', 'loc', qr/ProtimeSignatureTolerance: the duration must be/],
    ['ProtimeSignatureTolerance 99999999999999999999d', 'loc', qr/ProtimeSignatureTolerance: the duration is too large/],
    ['ProtimeCaptureRefused On', 'loc', 'ok'],
    ['ProtimeCaptureRefused Off', 'loc', 'ok'],
    ['ProtimeCaptureRefused On', 'srv', 'ok'],
    ['ProtimeCaptureRefused yes', 'loc', qr/ProtimeCaptureRefused must be On or Off/],
    ['ProtimeCaptureRefused', 'loc', qr/ProtimeCaptureRefused must be On or Off/],
    ['ProtimeCollection people', 'loc', 'ok'],
    ['ProtimeCollection access-clockings', 'loc', 'ok'],
    ['ProtimeCollection work-interruptions', 'loc', 'ok'],
    ['ProtimeCollection people', 'srv', 'ok'],
    ['ProtimeCollection persons', 'loc',
     qr/ProtimeCollection: unknown collection 'persons'; Protime's are: absence-definitions, .*access-clockings, .*people, .*work-interruptions/],
    ['ProtimeCollection People', 'loc', qr/ProtimeCollection: unknown collection 'People'/],
    ['ProtimeCollection', 'loc', qr/ProtimeCollection takes one argument/],
    ['ProtimeCollection people clockings', 'loc', qr/ProtimeCollection takes one argument/],
    ['ProtimeSQLiteSynchronous Full', 'srv', 'ok'],
    ['ProtimeSQLiteSynchronous off', 'srv', qr/ProtimeSQLiteSynchronous: expects Normal or Full/],
    ['ProtimeSQLiteSynchronous Full', 'loc', qr/ProtimeSQLiteSynchronous /],

    # Server config and <VirtualHost>: the subscription and its API client.
    ['ProtimeTenant acme', 'srv', 'ok'],
    ['ProtimeTenant acme-2', 'srv', 'ok'],
    ['ProtimeTenant ' . ('a' x 63), 'srv', 'ok'],
    ['ProtimeTenant a.b', 'srv', qr/ProtimeTenant: expects the tenant name/],
    ['ProtimeTenant acme-', 'srv', qr/ProtimeTenant: expects the tenant name/],
    ['ProtimeTenant -x', 'srv', qr/ProtimeTenant: expects the tenant name/],
    ["ProtimeTenant $long", 'srv', qr/ProtimeTenant: expects the tenant name/],
    ['ProtimeTenant "a b"', 'srv', qr/ProtimeTenant: /],
    ['ProtimeTenant ""', 'srv', qr/ProtimeTenant\b/],
    [vhost('a.example', 'ProtimeTenant acme'), 'srv', 'ok'],
    ['ProtimeTenant acme', 'loc', qr/ProtimeTenant\b.*not allowed/],
    ['ProtimeEnvironment production', 'srv', 'ok'],
    ['ProtimeEnvironment sandbox', 'srv', 'ok'],
    ['ProtimeEnvironment test', 'srv', qr/ProtimeEnvironment: expects production or sandbox/],
    ['ProtimeEnvironment sandbox', 'loc', qr/ProtimeEnvironment\b.*not allowed/],
    ['ProtimeAPIURL https://acme.example.com/api/v1/', 'srv', 'ok'],
    ['ProtimeAPIURL http://127.0.0.1:8080/api', 'srv', 'ok'],
    ['ProtimeAPIURL /connector/protimeapi/api/v1', 'srv', qr/ProtimeAPIURL: expects an absolute https:\/\/ URL/],
    ['ProtimeAPIURL ftp://acme.example.com/api', 'srv', qr/ProtimeAPIURL: expects an absolute https:\/\/ URL/],
    ['ProtimeAPIURL https://user:pw\@acme.example.com/api', 'srv', qr/ProtimeAPIURL: the URL must not hold credentials/],
    ['ProtimeAPIURL "https://a b/api"', 'srv', qr/ProtimeAPIURL: the URL must not contain blanks/],
    ['ProtimeAPIURL https:///api', 'srv', qr/ProtimeAPIURL: expects an absolute https:\/\/ URL/],
    ['ProtimeAPIURL https://acme.example.com/api#top', 'srv', qr/ProtimeAPIURL: the URL must not have a #fragment/],
    ['ProtimeTokenURL https://auth.example.com/connect/token', 'srv', 'ok'],
    ['ProtimeTokenURL connect/token', 'srv', qr/ProtimeTokenURL: expects an absolute https:\/\/ URL/],
    ['ProtimeTokenURL ftp://auth.example.com/token', 'srv', qr/ProtimeTokenURL: expects an absolute https:\/\/ URL/],
    ['ProtimeTokenURL https://auth.example.com/token#x', 'srv', qr/ProtimeTokenURL: the URL must not have a #fragment/],
    ['ProtimeDestinationURL https://hooks.example.com/hook', 'srv', 'ok'],
    ['ProtimeDestinationURL /hook', 'srv', qr/ProtimeDestinationURL: expects an absolute https:\/\/ URL/],
    ['ProtimeDestinationURL ftp://hooks.example.com/hook', 'srv', qr/ProtimeDestinationURL: expects an absolute https:\/\/ URL/],
    ['ProtimeDestinationURL https://hooks.example.com/hook#f', 'srv', qr/ProtimeDestinationURL: the URL must not have a #fragment/],
    ['ProtimeDestinationURL https://hooks.example.com/hook', 'loc', qr/ProtimeDestinationURL\b.*not allowed/],
    ['ProtimeClientID client-1', 'srv', 'ok'],
    ['ProtimeClientID ""', 'srv', qr/ProtimeClientID\b/],
    ['ProtimeClientSecret s3cret', 'srv', 'ok'],
    ["ProtimeClientSecret file:$dir/key", 'srv', 'ok'],
    ['ProtimeClientSecret env:PROTIME_CONFIGTEST_SECRET', 'srv', 'ok'],
    ['ProtimeClientSecret "exec:/bin/echo s3cret"', 'srv', 'ok'],
    ['ProtimeClientSecret file:/nonexistent/secret', 'srv', qr/ProtimeClientSecret: .*nonexistent/],
    ['ProtimeClientSecret env:PROTIME_CONFIGTEST_UNSET', 'srv', qr/ProtimeClientSecret: .*PROTIME_CONFIGTEST_UNSET/],
    ['ProtimeClientSecret "exec:/nonexistent/program"', 'srv', qr/ProtimeClientSecret: .*nonexistent/],
    ["ProtimeClientSecret exec:$dir/key", 'srv', qr/ProtimeClientSecret: .*not an executable/],
    ['ProtimeClientSecret ""', 'srv', qr/ProtimeClientSecret\b/],
    ['ProtimeClientSecret s3cret', 'loc', qr/ProtimeClientSecret\b.*not allowed/],
    ['ProtimeUserAgent "acme-sync/1.0 (ops@example.com)"', 'srv', 'ok'],
    ['ProtimeUserAgent ""', 'srv', qr/ProtimeUserAgent\b/],
    ['ProtimeSubscribe Off', 'srv', 'ok'],
    ['ProtimeSubscribe maybe', 'srv', qr/ProtimeSubscribe /],
    ['ProtimeSubscribe Off', 'loc', qr/ProtimeSubscribe\b.*not allowed/],
    ['ProtimeExternalReferences "(people,@badge-number)(terminals,@external-code)"', 'srv', 'ok'],
    ['ProtimeExternalReferences people', 'srv', qr/ProtimeExternalReferences: expects \(collection,reference\) pairs/],
    ['ProtimeExternalReferences "(people)"', 'srv', qr/ProtimeExternalReferences: expects \(collection,reference\) pairs/],
    ['ProtimeExternalReferences "(people,@x"', 'srv', qr/ProtimeExternalReferences: expects \(collection,reference\) pairs/],
    ['ProtimeExternalReferences "(people,@x)junk"', 'srv', qr/ProtimeExternalReferences: /],
    ['ProtimeExternalReferences "(,@x)"', 'srv', qr/ProtimeExternalReferences: /],
    ['ProtimeExternalReferences "(people,)"', 'srv', qr/ProtimeExternalReferences: /],
    (map { ["$_ 1d", 'srv', 'ok'], ["$_ 90m", 'srv', 'ok'], ["$_ 30s", 'srv', 'ok'],
           ["$_ 3600", 'srv', 'ok'],
           ["$_ 0", 'srv', qr/$_: must be at least 1s/],
           ["$_ -1", 'srv', qr/$_: the duration must be/],
           ["$_ soon", 'srv', qr/$_: the duration must be/],
           ["$_ 1w", 'srv', qr/$_: the duration must be/],
           ["$_ 1dd", 'srv', qr/$_: the duration must be/],
           ["$_ 99999999999999999999d", 'srv', qr/$_: the duration is too large/],
           ["$_ 1d", 'loc', qr/$_\b.*not allowed/] }
        qw(ProtimeRenewBefore ProtimeCheckInterval)),
    ['ProtimeCollections people', 'srv', 'ok'],
    ['ProtimeCollections access-clockings people clockings', 'srv', 'ok'],
    ["ProtimeCollections access-clockings\nProtimeCollections people", 'srv', 'ok'],
    ['ProtimeCollections persons', 'srv', qr/ProtimeCollections: unknown collection persons/],
    ['ProtimeCollections People', 'srv', qr/ProtimeCollections: unknown collection People/],
    ['ProtimeCollections people clockings people', 'srv', qr/ProtimeCollections: people is named twice/],
    ["ProtimeCollections people\nProtimeCollections people", 'srv', qr/ProtimeCollections: people is named twice/],
    ['ProtimeCollections', 'srv', qr/ProtimeCollections requires at least one argument/],
    ['ProtimeCollections people', 'loc', qr/ProtimeCollections\b.*not allowed/],
    ['ProtimeDestinationURL https://hooks.example.com/p people', 'srv', 'ok'],
    ['ProtimeDestinationURL https://hooks.example.com/p persons', 'srv',
     qr/ProtimeDestinationURL: unknown collection persons/],
    ['ProtimeDestinationURL /p people', 'srv', qr/ProtimeDestinationURL: expects an absolute https:\/\/ URL/],
    ["ProtimeDestinationURL https://hooks.example.com/p people\n"
        . "ProtimeDestinationURL https://hooks.example.com/q people", 'srv',
     qr/ProtimeDestinationURL: the destination of people is given twice/],
    ['ProtimeDestinationURL https://hooks.example.com/p people clockings', 'srv',
     qr/ProtimeDestinationURL takes 1-2 arguments/],
    ['ProtimeReconcileInterval 1h', 'srv', 'ok'],
    ['ProtimeReconcileInterval 30s', 'srv', 'ok'],
    ['ProtimeReconcileInterval Off', 'srv', 'ok'],
    ['ProtimeReconcileInterval off', 'srv', 'ok'],
    ['ProtimeReconcileInterval 0', 'srv', qr/ProtimeReconcileInterval: must be at least 1s/],
    ['ProtimeReconcileInterval soon', 'srv', qr/ProtimeReconcileInterval: the duration must be/],
    ['ProtimeReconcileInterval 1h', 'loc', qr/ProtimeReconcileInterval\b.*not allowed/],
    ['ProtimeReconcileInterval Off', 'loc', qr/ProtimeReconcileInterval\b.*not allowed/],
    ['ProtimeSyncFrom 2024-01-01', 'srv', 'ok'],
    ['ProtimeSyncFrom 2024-02-29', 'srv', 'ok'],
    ['ProtimeSyncFrom 2024-02-30', 'srv', qr/ProtimeSyncFrom: expects a date, YYYY-MM-DD/],
    ['ProtimeSyncFrom 2023-02-29', 'srv', qr/ProtimeSyncFrom: expects a date, YYYY-MM-DD/],
    ['ProtimeSyncFrom yesterday', 'srv', qr/ProtimeSyncFrom: expects a date, YYYY-MM-DD/],
    ['ProtimeSyncFrom 2024-01-01T00:00', 'srv', qr/ProtimeSyncFrom: expects a date, YYYY-MM-DD/],
    ["ProtimeCACertificateFile $dir/ca.pem", 'srv', 'ok'],
    ['ProtimeCACertificateFile ca.pem', 'srv', 'ok'],    # relative to ServerRoot
    ['ProtimeCACertificateFile /nonexistent/ca.pem', 'srv', qr/ProtimeCACertificateFile: cannot read the file \/nonexistent/],
    ["ProtimeCACertificateFile $dir", 'srv', qr/ProtimeCACertificateFile: cannot read the file/],
    ['ProtimeProxy http://proxy.example.com:3128', 'srv', 'ok'],
    ['ProtimeProxy http://proxy.example.com:3128/', 'srv', 'ok'],
    ['ProtimeProxy http://[::1]:3128', 'srv', 'ok'],
    ['ProtimeProxy https://proxy.example.com:3129', 'srv', 'ok'],
    [vhost('a.example', 'ProtimeProxy http://proxy.example.com:3128'), 'srv', 'ok'],
    ['ProtimeProxy http://proxy.example.com', 'srv', qr/ProtimeProxy: expects http:\/\/host:port.*, with the port/],
    ['ProtimeProxy proxy.example.com:3128', 'srv', qr/ProtimeProxy: expects http:\/\/host:port/],
    ['ProtimeProxy socks5://proxy.example.com:1080', 'srv', qr/ProtimeProxy: expects http:\/\/host:port/],
    ['ProtimeProxy ftp://proxy.example.com:21', 'srv', qr/ProtimeProxy: expects http:\/\/host:port/],
    ['ProtimeProxy http://:3128', 'srv', qr/ProtimeProxy: expects http:\/\/host:port/],
    ['ProtimeProxy http://proxy.example.com:port', 'srv', qr/ProtimeProxy: expects http:\/\/host:port/],
    ['ProtimeProxy http://u:pw\@proxy.example.com:3128', 'srv', qr/ProtimeProxy: the URL must not hold credentials: set them with ProtimeProxyUser/],
    ['ProtimeProxy http://u\@proxy.example.com:3128', 'srv', qr/ProtimeProxy: the URL must not hold credentials/],
    ['ProtimeProxy http://proxy.example.com:3128/path', 'srv', qr/ProtimeProxy: .*nothing after the port/],
    ['ProtimeProxy http://proxy.example.com:3128?x=1', 'srv', qr/ProtimeProxy: .*nothing after the port/],
    ['ProtimeProxy http://proxy.example.com:3128#f', 'srv', qr/ProtimeProxy: .*nothing after the port/],
    ['ProtimeProxy "http://proxy example.com:3128"', 'srv', qr/ProtimeProxy: /],
    ['ProtimeProxy ""', 'srv', qr/ProtimeProxy\b/],
    ['ProtimeProxy http://proxy.example.com:3128', 'loc', qr/ProtimeProxy\b.*not allowed/],
    ['ProtimeProxyUser user:s3cret', 'srv', 'ok'],
    ['ProtimeProxyUser user:s3:cr%et', 'srv', 'ok'],
    ['ProtimeProxyUser env:PROTIME_CONFIGTEST_PROXY_USER', 'srv', 'ok'],
    ['ProtimeProxyUser "exec:/bin/echo user:s3cret"', 'srv', 'ok'],
    ["ProtimeProxyUser file:$dir/proxy-user", 'srv', 'ok'],
    ['ProtimeProxyUser s3cret-without-colon', 'srv', qr/ProtimeProxyUser: expects user:password \(the value is not shown\)/],
    ['ProtimeProxyUser :s3cret-without-user', 'srv', qr/ProtimeProxyUser: expects user:password/],
    # A program runs only when httpd starts, as for ProtimeClientSecret:
    # configtest cannot see what it prints.
    ['ProtimeProxyUser "exec:/bin/echo s3cret-without-colon"', 'srv', 'ok'],
    ["ProtimeProxyUser file:$dir/key", 'srv', qr/ProtimeProxyUser: expects user:password/],
    ['ProtimeProxyUser env:PROTIME_CONFIGTEST_UNSET', 'srv', qr/ProtimeProxyUser: .*PROTIME_CONFIGTEST_UNSET/],
    ['ProtimeProxyUser file:/nonexistent/proxy-user', 'srv', qr/ProtimeProxyUser: .*nonexistent/],
    ['ProtimeProxyUser ""', 'srv', qr/ProtimeProxyUser\b/],
    ['ProtimeProxyUser user:s3cret', 'loc', qr/ProtimeProxyUser\b.*not allowed/],
    ['ProtimeHTTPTimeout 10', 'srv', 'ok'],
    ['ProtimeHTTPTimeout 300', 'srv', 'ok'],
    ['ProtimeHTTPTimeout 0', 'srv', qr/ProtimeHTTPTimeout: expects seconds, 1 to 300/],
    ['ProtimeHTTPTimeout 301', 'srv', qr/ProtimeHTTPTimeout: expects seconds, 1 to 300/],
    ['ProtimeHTTPTimeout x', 'srv', qr/ProtimeHTTPTimeout: expects seconds, 1 to 300/],
    ['ProtimeHTTPTimeout 10s', 'srv', qr/ProtimeHTTPTimeout: expects seconds/],
    ['ProtimeHTTPTimeout -5', 'srv', qr/ProtimeHTTPTimeout: expects seconds/],
    ['ProtimeHTTPTimeout 10', 'loc', qr/ProtimeHTTPTimeout\b.*not allowed/],
    ['ProtimeAllowInsecureAPI On', 'srv', 'ok'],
    ['ProtimeAllowInsecureAPI Off', 'srv', 'ok'],
    ['ProtimeAllowInsecureAPI yes', 'srv', qr/ProtimeAllowInsecureAPI /],

    # Checks across directives, run by the check_config hook (logged to
    # stderr, not returned as a syntax error).
    ["ProtimeSubscribe On\n$sub", 'srv', 'ok'],
    ["ProtimeSubscribe On\n$sub\nProtimeEnvironment sandbox\n"
        . "ProtimeExternalReferences (people,\@badge-number)\n"
        . "ProtimeRenewBefore 2d\nProtimeCheckInterval 15m\n"
        . "ProtimeSyncFrom 2024-01-01\nProtimeCACertificateFile $dir/ca.pem\n"
        . "ProtimeHTTPTimeout 30\nProtimeUserAgent test/1.0", 'srv', 'ok'],
    ["ProtimeSubscribe On\nProtimeClientID c\nProtimeClientSecret s\n"
        . "ProtimeDestinationURL https://hooks.example.com/hook",
        'srv', qr/ProtimeSubscribe On needs ProtimeTenant/],
    ["ProtimeSubscribe On\nProtimeTenant acme\nProtimeClientSecret s\n"
        . "ProtimeDestinationURL https://hooks.example.com/hook",
        'srv', qr/ProtimeSubscribe On needs ProtimeClientID/],
    ["ProtimeSubscribe On\nProtimeTenant acme\nProtimeClientID c\n"
        . "ProtimeDestinationURL https://hooks.example.com/hook",
        'srv', qr/ProtimeSubscribe On needs ProtimeClientSecret/],
    ["ProtimeSubscribe On\nProtimeTenant acme\nProtimeClientID c\n"
        . "ProtimeClientSecret s", 'srv', qr/ProtimeSubscribe On needs ProtimeDestinationURL/],
    ['ProtimeSubscribe On', 'srv',
     qr/ProtimeSubscribe On needs ProtimeTenant, ProtimeClientID, ProtimeClientSecret, ProtimeDestinationURL \(server localhost\)/],
    ["ProtimeSubscribe On\n$sub\nProtimeProxy http://proxy.example.com:3128\n"
        . "ProtimeProxyUser user:s3cret", 'srv', 'ok'],
    ["ProtimeSubscribe On\n$sub\nProtimeProxyUser user:s3cret", 'srv',
        qr/PT00507: ProtimeProxyUser without ProtimeProxy/],
    ["ProtimeProxyUser user:s3cret\n" . vhost('a.example', "ProtimeSubscribe On\n$sub",
        'ProtimeProxy http://proxy.example.com:3128'), 'srv', 'ok'],
    ["ProtimeSubscribe On\n$sub", 'srv', qr/ProtimeSubscribe On needs mod_dbd/, {nodbd => 1}],
    # What would otherwise stop httpd only at start, after a configtest
    # that said Syntax OK.
    ["ProtimeSubscribe On\n$sub", 'srv', qr/PT00409: .*need a database: set DBDriver/,
     {nodriver => 1}],
    ['ProtimeRequireSignature On', 'loc', qr/PT00409: .*need a database: set DBDriver/,
     {nodriver => 1}],
    ['ProtimeRequireSignature On', 'loc', qr/PT00408: SetHandler protime-webhook needs mod_dbd/,
     {nodbd => 1}],
    ["$sub\n" . vhost('a.example', 'ProtimeSubscribe On', 'DBDriver sqlite3',
                      "DBDParams $dir/db/a.db"), 'srv', 'ok', {nodriver => 1}],
    ["$sub\n" . vhost('a.example', 'ProtimeSubscribe On'), 'srv',
     qr/PT00409: .*need a database: set DBDriver .*server a\.example/, {nodriver => 1}],
    # PostgreSQL: a new connection waits for a server that does not answer
    # only as long as connect_timeout says.
    ["ProtimeWebhookKey literal-key\nDBDriver pgsql\nDBDParams \"host=/nonexistent dbname=x\"\n$webhook", 'srv',
     qr/PT00417: DBDParams has no connect_timeout: .*add connect_timeout=5/,
     {nodriver => 1, warns => 1}],
    ["ProtimeWebhookKey literal-key\nDBDriver pgsql\nDBDParams \"host=/nonexistent dbname=x connect_timeout=5\"\n$webhook",
     'srv', 'ok', {nodriver => 1}],
    ["$sub\nProtimeSubscribe On\nProtimeDestinationURL http://hooks.example.com/hook",
        'srv', qr/ProtimeDestinationURL http:\/\/hooks\.example\.com\/hook: .*https/],
    ["$sub\nProtimeSubscribe On\nProtimeAPIURL http://127.0.0.1:8080/api",
        'srv', qr/ProtimeAPIURL http:\/\/127\.0\.0\.1:8080\/api: .*https/],
    ["$sub\nProtimeSubscribe On\nProtimeTokenURL http://127.0.0.1:8080/token",
        'srv', qr/ProtimeTokenURL http:\/\/127\.0\.0\.1:8080\/token: .*https/],
    ["$sub\nProtimeSubscribe On\nProtimeDestinationURL http://hooks.example.com/hook\n"
        . "ProtimeAPIURL http://127.0.0.1:8080/api\nProtimeTokenURL http://127.0.0.1:8080/token\n"
        . "ProtimeAllowInsecureAPI On", 'srv', 'ok'],
    ["$sub\nProtimeSubscribe On\nProtimeDestinationURL http://hooks.example.com/hook\n"
        . "ProtimeAllowInsecureAPI Off", 'srv', qr/ProtimeDestinationURL http:.*https/],
    # Several collections: a base URL, or a URL of each.
    ["ProtimeSubscribe On\n$sub\nProtimeCollections access-clockings people", 'srv', 'ok'],
    ["ProtimeSubscribe On\nProtimeTenant acme\nProtimeClientID c\nProtimeClientSecret s\n"
        . "ProtimeCollections access-clockings people\n"
        . "ProtimeDestinationURL https://hooks.example.com/a access-clockings\n"
        . "ProtimeDestinationURL https://hooks.example.com/p people", 'srv', 'ok'],
    ["ProtimeSubscribe On\nProtimeTenant acme\nProtimeClientID c\nProtimeClientSecret s\n"
        . "ProtimeCollections access-clockings people\n"
        . "ProtimeDestinationURL https://hooks.example.com/p people", 'srv',
     qr/ProtimeSubscribe On needs ProtimeDestinationURL \(for access-clockings\)/],
    ["ProtimeSubscribe On\n$sub\nProtimeCollections people\n"
        . "ProtimeDestinationURL https://hooks.example.com/c clockings", 'srv',
     qr/PT00521: ProtimeDestinationURL https:\/\/hooks\.example\.com\/c clockings: clockings is not among the ProtimeCollections/],
    ["ProtimeSubscribe On\n$sub\nProtimeCollections access-clockings people\n"
        . "ProtimeDestinationURL https://hooks.example.com/hook/access-clockings people", 'srv',
     qr/ProtimeDestinationURL https:\/\/hooks\.example\.com\/hook\/access-clockings: already subscribed for tenant acme by server .*one subscription per destination/],
    ["ProtimeSubscribe On\n$sub\nProtimeCollections access-clockings people\n"
        . "ProtimeDestinationURL http://hooks.example.com/p people", 'srv',
     qr/ProtimeDestinationURL http:\/\/hooks\.example\.com\/p: .*https/],
    # A location without a key whose collection is not subscribed to.
    ["ProtimeSubscribe On\n$sub\nProtimeCollections access-clockings people\n"
        . "<Location /hook/people>\n    SetHandler protime-webhook\n"
        . "    ProtimeCollection people\n</Location>", 'srv', 'ok', {nokey => 1}],
    ["ProtimeSubscribe On\n$sub\n"
        . "<Location /hook/people>\n    SetHandler protime-webhook\n"
        . "    ProtimeCollection people\n</Location>", 'srv',
     qr/PT00522: <Location \/hook\/people> at .*: SetHandler protime-webhook has no ProtimeWebhookKey and receives people, which ProtimeCollections does not name/,
     {nokey => 1}],
    # In <VirtualHost>: values are inherited from the main server, the
    # subscription itself is not.
    ["$sub\nProtimeSubscribe On\n" . vhost('a.example', 'ProtimeTenant other'), 'srv', 'ok'],
    # A virtual host without any of the module's directives is no second
    # subscriber (httpd would hand it the main server's configuration).
    ["$sub\nProtimeSubscribe On\n" . vhost('a.example', 'ServerAdmin a@a.example'), 'srv', 'ok'],
    ["$sub\n" . vhost('a.example', 'ProtimeSubscribe On'), 'srv', 'ok'],
    [vhost('a.example', 'ProtimeSubscribe On', 'ProtimeTenant acme'), 'srv',
        qr/ProtimeSubscribe On needs ProtimeClientID, ProtimeClientSecret, ProtimeDestinationURL \(server a\.example\)/],
    ["$sub\n" . vhost('a.example', 'ProtimeSubscribe On',
        'ProtimeDestinationURL http://hooks.example.com/a'), 'srv',
        qr/ProtimeDestinationURL http:\/\/hooks\.example\.com\/a: .*https/],
    ["$sub\n" . vhost('a.example', 'ProtimeSubscribe On')
        . "\n" . vhost('b.example', 'ProtimeSubscribe On'), 'srv',
        qr/ProtimeDestinationURL https:\/\/hooks\.example\.com\/hook: already subscribed for tenant acme by server .*one subscription per destination/],
    [vhost('a.example', 'ProtimeSubscribe On', $sub)
        . "\n" . vhost('b.example', 'ProtimeSubscribe On', $sub), 'srv',
        qr/one subscription per destination/],
    ["$sub\nProtimeSubscribe On\n" . vhost('a.example', 'ProtimeSubscribe On'), 'srv',
        qr/one subscription per destination/],
    ["$sub\n" . vhost('a.example', 'ProtimeSubscribe On')
        . "\n" . vhost('b.example', 'ProtimeSubscribe On',
                       'ProtimeDestinationURL https://hooks.example.com/b'), 'srv', 'ok'],
    ["$sub\n" . vhost('a.example', 'ProtimeSubscribe On')
        . "\n" . vhost('b.example', 'ProtimeSubscribe On', 'ProtimeTenant other'), 'srv', 'ok'],

    # The SQLite file: an absolute path (mod_dbd would open a relative one
    # from /), in a directory the children can write and enter, created
    # only when httpd starts.
    ['ProtimeRequireSignature On', 'loc',
     qr{PT00415: DBDParams protime/protime\.db: a relative SQLite path is taken from /.*give the absolute path},
     {dbdparams => 'protime/protime.db'}],
    ['ProtimeRequireSignature On', 'loc', 'ok',
     {dbdparams => "$dir/fresh/a/b/x.db", absent => "$dir/fresh"}],
    ['ProtimeRequireSignature On', 'loc',
     qr{PT00405: DBDParams \S+/ro/x\.db: directory \S+/ro is not writable by \S+.*directory of its own},
     {dbdparams => "$dir/ro/x.db", conf => $as_user}],
    ['ProtimeRequireSignature On', 'loc',
     qr{PT00416: DBDParams \S+/ro/sub/x\.db: \S+ cannot create directory \S+/ro/sub in \S+/ro},
     {dbdparams => "$dir/ro/sub/x.db", nonroot => 1}],
    ['ProtimeRequireSignature On', 'loc',
     qr{PT00404: DBDParams \S+/closed/sub/x\.db: cannot use directory \S+/closed/sub},
     {dbdparams => "$dir/closed/sub/x.db", nonroot => 1}],
    ['ProtimeRequireSignature On', 'loc',
     qr{PT00405: DBDParams \S+/shared/x\.db: directory \S+/shared is not writable by User },
     {dbdparams => "$dir/shared/x.db", conf => $as_user, root => 1}],
    ['ProtimeRequireSignature On', 'loc',
     qr{PT00413: DBDParams \S+/private/new/x\.db: User \S+ cannot enter directory \S+/private; allow it},
     {dbdparams => "$dir/private/new/x.db", conf => $as_user, root => 1,
      absent => "$dir/private/new"}],
);

sub write_conf {
    my ($line, $where, $opt, $listen) = @_;
    my ($dbdmod, $dbd) = $opt->{nodbd} ? ('', '')
        : ("LoadModule dbd_module $modules/mod_dbd.so\n",
           "DBDriver sqlite3\nDBDParams "
           . ($opt->{dbdparams} // "$dir/db/protime.db") . "\n");
    $dbd = '' if $opt->{nodriver};
    $dbd .= "ProtimeWebhookKey server-level-key\n"
        if $where eq 'loc' && !$opt->{nokey};
    my $body = $where eq 'loc'
        ? "<Location /hook>\n    SetHandler protime-webhook\n    $line\n</Location>\n"
        : "$line\n";
    my $conf = $opt->{conf} // '';
    $listen //= 1;
    open my $fh, '>', "$dir/httpd.conf" or die;
    print $fh <<CONF;
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
${dbdmod}LoadModule protime_module $so
ServerName localhost
ServerRoot $dir
PidFile $dir/httpd.pid
ErrorLog $dir/error_log
Listen 127.0.0.1:$listen
$conf$dbd$body
CONF
    close $fh;
}

my ($n, $failed) = (0, 0);
my %refused;    # directive => number of cases refused naming it
my @secrets = ('s3cret', 'a2V5', 'literal-key', 'server-level-key');
for my $case (@cases) {
    my ($line, $where, $want, $opt) = @$case;
    $opt ||= {};
    (my $name = $line) =~ s/\n/; /g;
    $name .= " (DBDParams $opt->{dbdparams})" if $opt->{dbdparams};
    if ($opt->{root} && !$root || $opt->{nonroot} && $root) {
        $n++;
        print "ok $n # skip ", ($root ? 'as root' : 'needs root'), ": $name\n";
        next;
    }
    write_conf($line, $where, $opt);
    my $out = `$httpd -t -f $dir/httpd.conf 2>&1`;
    my $rc = $? >> 8;
    my $good = !ref $want ? ($rc == 0 && $out !~ /PT00508|PT00417/)
        : $opt->{warns} ? ($rc == 0 && $out =~ $want)
        : ($rc != 0 && $out =~ $want);
    $refused{$1}++ if $good && ref $want && !$opt->{warns}
        && $line =~ /^(Protime\w+)/;
    # An error message shows the directive, never the secret it was given.
    my @leaked = grep { index($out, $_) >= 0 } @secrets,
        $opt->{secret} // ();
    $good &&= !@leaked;
    # configtest creates nothing.
    $good &&= !-e $opt->{absent} if $opt->{absent};
    $n++;
    print +($good ? '' : 'not '), "ok $n - configtest [$where] $name: ",
        (!ref $want ? 'accepted' : $opt->{warns} ? 'accepted, with a warning'
                                 : 'refused, naming the directive'), "\n";
    unless ($good) {
        $failed++;
        print "#   rc=$rc: $_\n" for split /\n/, $out;
    }
}

# Where the children could not use the SQLite directory, a start fails in
# the foreground, before httpd detaches: a non-zero status, the reason on
# the terminal, no httpd left running, and no directory left behind.
{
    my $port = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Listen => 1)->sockport;
    my ($params, $want, $made) = $root
        ? ("$dir/private/new/x.db", qr/PT00413: /, "$dir/private/new")
        : ("$dir/ro/sub/x.db", qr/PT00416: /, "$dir/ro/sub");
    write_conf('ProtimeRequireSignature On', 'loc',
               {dbdparams => $params, conf => $root ? $as_user : ''}, $port);
    my $out = `$httpd -k start -f $dir/httpd.conf 2>&1`;
    my $rc = $? >> 8;
    my $running = -e "$dir/httpd.pid";
    system $httpd, '-k', 'stop', '-f', "$dir/httpd.conf" if $running;
    my $good = $rc != 0 && $out =~ $want && !$running && !-e $made;
    $n++;
    print +($good ? '' : 'not '), "ok $n - httpd -k start with DBDParams $params: ",
        "fails at once, saying why on the terminal, creating nothing\n";
    unless ($good) {
        $failed++;
        print "#   rc=$rc running=", ($running ? 1 : 0), " created=",
            (-e $made ? 1 : 0), ": $_\n" for split /\n/, $out;
    }
}

# Every directive the module registers (httpd -L lists them) has at least
# one bad value above that configtest refuses with the directive's name.
open my $lf, '>', "$dir/list.conf" or die;
print $lf "LoadModule mpm_event_module $modules/mod_mpm_event.so\n",
    "LoadModule protime_module $so\nServerRoot $dir\nServerName localhost\n",
    "ErrorLog $dir/error_log\n";
close $lf;
my @directives = `$httpd -L -f $dir/list.conf 2>&1` =~ /^(Protime\w+)/mg;
$n++;
my @untested = grep { !$refused{$_} } @directives;
if (@directives >= 20 && !@untested) {
    print "ok $n - each of the ", scalar(@directives), " directives has a refused case\n";
} else {
    $failed++;
    print "not ok $n - directives without a refused case: @untested (", scalar(@directives), " listed)\n";
}
print "1..$n\n", $n - $failed, " passed, $failed failed\n";
exit($failed ? 1 : 0);
