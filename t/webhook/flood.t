# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Unsigned and forged deliveries must not fill the disk (issue 17, item 3):
# anyone can send them, as fast as the network allows. At the default
# LogLevel warn a burst of thousands adds one summary line per location
# and minute, not a line each; signature_failures still counts every one;
# at LogLevel info each refusal has its line.
#
# /hook-flood and /hook-flood-info (t/conf/extra.conf.in) serve no other
# test, so their first refusal is this test's.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use IO::Select ();
use Time::HiRes ();

plan tests => 13, need_lwp;

# The refusals of one burst, in this order: no signature header, a
# signature that matches no key, a signature header that does not decode.
my %BURST = (none => 1500, wrong => 1400, malformed => 100);
my $PER_CONNECTION = 100;       # httpd's MaxKeepAliveRequests

# A delivery's request for one refusal.
sub request_of {
    my ($path, $kind) = @_;
    my $body = '{"changeType":"Delete","data":{"id":990001,"changeVersion":"f1"}}';
    my $sig = $kind eq 'none' ? ''
            : $kind eq 'wrong' ? "X-Protime-Signature: " . sign($body, 'not-the-key') . "\r\n"
            : "X-Protime-Signature: !!not base64!!\r\n";
    return "POST $path HTTP/1.1\r\nHost: " . Apache::TestRequest::hostport()
         . "\r\nContent-Type: application/json\r\n$sig"
         . "Content-Length: " . length($body) . "\r\n\r\n$body";
}

# Sends the requests pipelined, $PER_CONNECTION per connection, and
# returns the status codes of the answers.
sub send_all {
    my (@requests) = @_;
    my @codes;
    while (my @batch = splice @requests, 0, $PER_CONNECTION) {
        my $sock = Apache::TestRequest::vhost_socket() or die "no socket: $!";
        local $SIG{PIPE} = 'IGNORE';
        my $out = join '', @batch;
        my $sel = IO::Select->new($sock);
        my ($in, $off) = ('', 0);
        my $until = Time::HiRes::time() + 30;
        while (Time::HiRes::time() < $until) {
            my $got = () = $in =~ m{^HTTP/1\.1 \d{3}}mg;
            last if $got >= @batch;
            my ($r, $w) = IO::Select->select($sel, $off < length $out ? $sel : undef,
                                             undef, 1);
            if ($w && @$w) {
                my $n = syswrite($sock, $out, 65536, $off);
                $off += $n if $n;
            }
            if ($r && @$r) {
                my $n = sysread($sock, my $buf, 65536);
                last unless $n;
                $in .= $buf;
            }
        }
        close $sock;
        push @codes, $in =~ m{^HTTP/1\.1 (\d{3})}mg;
    }
    return @codes;
}

# The module's lines about deliveries (PT003..) that name a location.
sub lines_about {
    my ($text, $re) = @_;
    return grep { /$re/ } split /\n/, $text;
}

my $sent = 0;
$sent += $_ for values %BURST;
my $before = status_json()->{counters}{signature_failures};
my $log_at = error_log_size();
my $t0 = Time::HiRes::time();
my @codes = send_all((map { request_of('/hook-flood', 'none') } 1 .. $BURST{none}),
                     (map { request_of('/hook-flood', 'wrong') } 1 .. $BURST{wrong}),
                     (map { request_of('/hook-flood', 'malformed') } 1 .. $BURST{malformed}));
my $took = Time::HiRes::time() - $t0;
t_debug(sprintf "%d refusals in %.1f s", scalar @codes, $took);
ok t_cmp(scalar(grep { $_ == 401 } @codes), $sent, "all $sent unsigned or forged deliveries got 401");
ok t_cmp(status_json()->{counters}{signature_failures} - $before, $sent,
         'signature_failures counted every one of them');

my $grown = error_log_since($log_at);
my @refusals = lines_about($grown, qr/PT00304:/);
my @summaries = lines_about($grown, qr/PT00309:/);
ok t_cmp(scalar @refusals, 0, 'no refusal line of its own at LogLevel warn');
ok t_cmp(scalar @summaries, 1, 'one summary line for the burst')
    or t_debug(join "\n", @summaries);
ok t_cmp($summaries[0] // '', qr/\[protime:warn\]/, 'the summary is at warn');
# The first refusal at a location is summarised at once: it may be a
# misconfigured key rather than an attack.
ok t_cmp($summaries[0] // '',
         qr{PT00309: 1 delivery refused at /hook-flood .*: 1 no signature header},
         'the first summary names the location and counts the first refusal');
# The test server logs at trace8, and httpd itself traces each request
# before it knows its location; what a server at the default LogLevel warn
# would have written are the lines at warn and above.
my @warned = grep { /\[\w+:(?:emerg|alert|crit|error|warn)\]/ } split /\n/, $grown;
ok t_cmp(scalar @warned <= 3, 1,
         sprintf 'at LogLevel warn the error log would have grown by %d lines',
                 scalar @warned) or t_debug(join "\n", grep { defined } @warned[0 .. 4]);

# Within the minute: counted, not logged.
$log_at = error_log_size();
@codes = send_all(map { request_of('/hook-flood', 'wrong') } 1 .. 200);
$grown = error_log_since($log_at);
ok t_cmp(scalar(grep { $_ == 401 } @codes), 200, '200 more: 401');
ok t_cmp(scalar(lines_about($grown, qr/PT0030[49]:/)), 0,
         'no second summary within the minute');

# At LogLevel info (the location's own: LogLevel warn protime:info) each
# refusal has its line, naming the reason.
$log_at = error_log_size();
@codes = send_all((map { request_of('/hook-flood-info', 'none') } 1 .. 20),
                  (map { request_of('/hook-flood-info', 'wrong') } 1 .. 30));
$grown = error_log_since($log_at);
@refusals = lines_about($grown, qr/PT00304:/);
ok t_cmp(scalar(grep { $_ == 401 } @codes), 50, 'LogLevel protime:info: 50 refusals');
ok t_cmp(scalar @refusals, 50, 'a line for each refusal');
ok t_cmp(scalar(grep { /\[protime:info\].*PT00304: delivery refused: X-Protime-Signature: signature matches no key/ } @refusals),
         30, 'at info, naming the reason');
ok t_cmp(scalar(lines_about($grown, qr{PT00309: 1 delivery refused at /hook-flood-info })), 1,
         'and a summary of its own: per location');
