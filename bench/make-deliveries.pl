#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Writes N pre-signed, distinct Protime deliveries for bench/deliveries.lua,
# one a line: "<signature>\t<body>\n", where signature is
# base64(HMAC-SHA256(key, body)), the module's default scheme (see
# t/lib/ProtimeTest.pm). Each body is one InsertOrUpdate event with its own id
# (FIRST_ID + line number - 1), so that every 2xx of a run adds exactly one
# row to protime_access_clockings.
#
#   bench/make-deliveries.pl KEY COUNT OUTFILE
#
# Core Perl only; the bodies are built with sprintf (the fields are known to
# need no JSON escaping), which keeps a million deliveries to a few seconds.
use strict;
use warnings;
use Digest::SHA qw(hmac_sha256_base64);

my ($key, $count, $out) = @ARGV;
die "usage: $0 KEY COUNT OUTFILE\n"
    unless defined $out && $count =~ /^[1-9][0-9]*$/;

use constant FIRST_ID => 1_000_001;
use constant CLOCKINGS_PER_DAY => 20_000;

my @status = (('AccessOk') x 12, 'AccessRefused', 'WrongPinCode',
              'AntiPassbackError', 'OutZone', 'UnknownBadgeNumber');
my @days_in = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31);  # 2026

my $tmp = "$out.tmp.$$";
open my $fh, '>', $tmp or die "$tmp: $!\n";
binmode $fh;
for my $n (0 .. $count - 1) {
    my $id = FIRST_ID + $n;
    # As a live stream: 20,000 clockings a day, in the order they happen.
    my $doy = int($n / CLOCKINGS_PER_DAY) % 365;
    my $month = 0;
    $doy -= $days_in[$month++] while $doy >= $days_in[$month];
    my $person = 100_000 + ($n * 7919) % 50_000;
    my $status = $status[$n % @status];
    my $body = sprintf(
        '{"changeType":"InsertOrUpdate","data":{"id":%d,'
        . '"changeVersion":"26%014X","date":"2026-%02d-%02d",'
        . '"timeOfDayInMinutes":%d,'
        . '"person":{"id":%d,"externalReferences":{"badge":"B%07d"}},'
        . '"terminal":{"id":%d},"status":"%s","direction":"%s",'
        . '"source":"bench"}}',
        $id, $n, $month + 1, $doy + 1,
        int(($n % CLOCKINGS_PER_DAY) * 1440 / CLOCKINGS_PER_DAY),
        $person, $person, 1 + $n % 40, $status,
        $n % 2 ? 'Out' : 'In');
    # Digest::SHA leaves base64 unpadded; a 32-byte digest needs one '='.
    print $fh hmac_sha256_base64($body, $key), "=\t", $body, "\n"
        or die "$tmp: $!\n";
}
close $fh or die "$tmp: $!\n";
rename $tmp, $out or die "$out: $!\n";
