#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Greps the logs a test run left for every secret it used: the configured
# webhook keys and client secret, and each webhook key and access token the
# mock Protime API handed out (from its GET /_mock/state, saved to a file).
# A secret may appear in no log line, whatever the log level.
#
# Usage: perl test/secrets-in-logs.pl --state mock-state.json
#            --secret TEXT ... --secret-file FILE ... LOGFILE ...
use strict;
use warnings;
use Getopt::Long;
use JSON::PP ();
use MIME::Base64 qw(decode_base64);

my ($state_file, @literal, @files);
GetOptions('state=s' => \$state_file, 'secret=s' => \@literal,
           'secret-file=s' => \@files) or die "bad arguments\n";
my @logs = grep { -f $_ } @ARGV;

# [what, text]
my @secrets = map { ["configured secret #" . ($_ + 1), $literal[$_]] } 0 .. $#literal;
for my $f (@files) {
    open my $fh, '<', $f or die "$f: $!\n";
    chomp(my $line = <$fh> // '');
    push @secrets, ["first line of $f", $line];
    # A base64 key file: its bytes are the key too.
    push @secrets, ["decoded $f", decode_base64($line)] if $line =~ m{^[A-Za-z0-9+/]{12,}={0,2}$};
}
my ($keys, $tokens) = (0, 0);
if ($state_file) {
    my $state = JSON::PP->new->decode(do { local (@ARGV, $/) = $state_file; <> });
    for my $w (@{ $state->{webhooks} || [] }) {
        push @secrets, ["key of webhook $w->{id}", $w->{key}];
        $keys++;
    }
    for my $t (@{ $state->{tokens} || [] }) {
        push @secrets, ['an access token', $t];
        $tokens++;
    }
}

my ($n, $failed) = (0, 0);
my %log = map { $_ => do { local (@ARGV, $/) = $_; <> } // '' } @logs;
$n++;
if (@logs && grep { length $log{$_} } @logs) {
    print "ok $n - ", scalar(@logs), " logs to search, $keys webhook keys and $tokens tokens from the mock\n";
} else {
    $failed++;
    print "not ok $n - no log to search (@ARGV)\n";
}
for my $s (@secrets) {
    my ($what, $text) = @$s;
    next unless defined $text && length $text >= 6;
    my @hits = grep { index($log{$_}, $text) >= 0 } @logs;
    $n++;
    if (@hits) {
        $failed++;
        print "not ok $n - $what appears in @hits\n";
    } else {
        print "ok $n - $what appears in no log\n";
    }
}
print "1..$n\n", $n - $failed, " passed, $failed failed\n";
exit($failed ? 1 : 0);
