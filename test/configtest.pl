#!/usr/bin/perl
# apachectl configtest against the built module: every bad value of every
# directive fails with a message that names the directive; good values pass.
# Usage: perl test/configtest.pl /path/to/mod_protime.so
use strict;
use warnings;
use File::Temp qw(tempdir);

my $so = shift or die "usage: $0 mod_protime.so\n";
my $httpd = $ENV{PROTIME_HTTPD} || "apache2";
chomp(my $modules = `apxs -q LIBEXECDIR`);
my $dir = tempdir(CLEANUP => 1);
open my $kf, '>', "$dir/key" or die; print $kf "a2V5\n"; close $kf;

# [directive line, where ("loc" or "srv"), expected: "ok" or a regexp]
my @cases = (
    ['ProtimeWebhookKey literal-key', 'loc', 'ok'],
    ["ProtimeWebhookKey file:$dir/key", 'loc', 'ok'],
    ['ProtimeWebhookKey file:/nonexistent/key', 'loc', qr/ProtimeWebhookKey: .*nonexistent/],
    ['ProtimeWebhookKey env:PROTIME_CONFIGTEST_UNSET', 'loc', qr/ProtimeWebhookKey: .*PROTIME_CONFIGTEST_UNSET/],
    ['ProtimeWebhookKey "exec:/nonexistent/program"', 'loc', qr/ProtimeWebhookKey: /],
    ['ProtimeWebhookKey ""', 'loc', qr/ProtimeWebhookKey\b/],
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
    ['ProtimeSQLiteSynchronous Full', 'srv', 'ok'],
    ['ProtimeSQLiteSynchronous off', 'srv', qr/ProtimeSQLiteSynchronous: expects Normal or Full/],
    ['ProtimeSQLiteSynchronous Full', 'loc', qr/ProtimeSQLiteSynchronous /],
);

my ($n, $failed) = (0, 0);
for my $case (@cases) {
    my ($line, $where, $want) = @$case;
    my $body = $where eq 'loc'
        ? "<Location /hook>\n    SetHandler protime-webhook\n    $line\n</Location>\n"
        : "$line\n";
    open my $fh, '>', "$dir/httpd.conf" or die;
    print $fh <<CONF;
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule dbd_module $modules/mod_dbd.so
LoadModule protime_module $so
ServerName localhost
ServerRoot $dir
PidFile $dir/httpd.pid
ErrorLog $dir/error_log
Listen 127.0.0.1:1
DBDriver sqlite3
DBDParams $dir/db/protime.db
$body
CONF
    close $fh;
    my $out = `$httpd -t -f $dir/httpd.conf 2>&1`;
    my $rc = $? >> 8;
    my $good = ref $want ? ($rc != 0 && $out =~ $want) : ($rc == 0);
    $n++;
    (my $name = $line) =~ s/\n/; /g;
    print +($good ? '' : 'not '), "ok $n - configtest [$where] $name: ",
        (ref $want ? 'refused, naming the directive' : 'accepted'), "\n";
    unless ($good) {
        $failed++;
        print "#   rc=$rc: $_\n" for split /\n/, $out;
    }
}
print "1..$n\n", $n - $failed, " passed, $failed failed\n";
exit($failed ? 1 : 0);
