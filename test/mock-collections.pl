#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# The mock Protime API (tools/protime-simulator, through t/lib/ProtimeMock.pm)
# does what the tests of issue 19 count on, point by point: a webhook for
# each collection mod_protime/pt_collection.c names, and deliveries of its
# own collection only; lists paged with nextLink, and with the delta
# parameter a deltaLink on the last page; delta queries answering every
# later change, in order, on one page, with a new link also when empty;
# 410 DeltaExpired after --delta-ttl, after POST /_mock/expire-deltas and
# after a newer delta of the collection; POST /_mock/change delivered
# signed to a listener of this script (whose HMAC check counts it), or,
# with lose, to nobody but the delta queries; and what /_mock/state and
# --log say of it all.
# Usage: perl test/mock-collections.pl
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use HTTP::Daemon ();
use HTTP::Tiny ();
use JSON::PP ();
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(sleep);
use POSIX ();
use ProtimeMock;
use ProtimeScript;

my $DELTA_TTL = 3;              # seconds; the mock's --delta-ttl
my $json = JSON::PP->new->utf8->canonical;
my $tmp = tempdir('mock-collections.XXXXXX', TMPDIR => 1, CLEANUP => 1);

# The collections as mod_protime knows them.
my ($names) = slurp("$FindBin::Bin/../mod_protime/pt_collection.c")
    =~ /pt_collection_names\[\]\s*=\s*\{(.*?)\};/s;
my @collections = $names =~ /"([a-z-]+)"/g;
push @collections, 'access-clockings' if $names =~ /PT_COLLECTION_ACCESS_CLOCKINGS/;
ok(@collections == 18, 'pt_collection.c names 18 collections', "found: @collections");

my $mock = ProtimeMock->start(https => 0, page_size => 2, delta_ttl => $DELTA_TTL,
                              clockings => 4, seed => { people => 5, absences => 3 },
                              log => "$tmp/mock.log");
my $http = HTTP::Tiny->new(agent => 'mock-collections/1', timeout => 30, keep_alive => 0);
my $base = $mock->http_url;
my $api = $base . $mock->api_path;

# --- the token ---------------------------------------------------------

my $res = $http->post_form($base . $mock->token_path,
                           { grant_type => 'client_credentials', client_id => 'mod_protime',
                             client_secret => 'simulator-secret' });
my $token = $res->{success} ? $json->decode($res->{content})->{access_token} : undef;
ok(defined $token, 'the token endpoint hands out an access token', "$res->{status} $res->{content}");
my %auth = (headers => { Authorization => "Bearer $token", 'Content-Type' => 'application/json' });

sub get {
    my ($url) = @_;
    my $r = $http->get($url =~ m{^/} ? "$base$url" : $url, \%auth);
    return ($r->{status}, eval { $json->decode($r->{content}) } || {});
}

# --- webhooks, one per collection, to a listener of ours ----------------

# Our end of the webhooks: counts POSTs per path, and those whose
# X-Protime-Signature is the HMAC of the body with that path's webhook key.
# The listening socket is made first (its port goes into destinationUrl),
# the child that serves it once the keys are known.
my $daemon = HTTP::Daemon->new(LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
    or die "HTTP::Daemon: $!\n";
my $hook = 'http://127.0.0.1:' . $daemon->sockport . '/hook';
my %webhook;                    # collection -> {id, key}
for my $c (@collections) {
    my $r = $http->post("$api/webhooks", { %auth, content => $json->encode(
        { destinationUrl => "$hook/$c", collectionName => $c }) });
    my $w = eval { $json->decode($r->{content}) } || {};
    $webhook{$c} = $w if $r->{status} == 201 && $w->{key};
}
ok(keys %webhook == @collections, 'POST /webhooks creates a webhook for each collection',
   join ' ', grep { !$webhook{$_} } @collections);
$res = $http->post("$api/webhooks", { %auth, content => $json->encode(
    { destinationUrl => "$hook/x", collectionName => 'no-such-collection' }) });
ok($res->{status} == 400 && $res->{content} =~ /"InvalidCollectionName"/,
   'an unknown collection: 400 InvalidCollectionName', "$res->{status} $res->{content}");

my $received = "$tmp/received";
my $listener = fork // die "fork: $!\n";
if ($listener == 0) {
    my %key = map { ("/hook/$_" => $webhook{$_}{key}) } keys %webhook;
    open my $out, '>>', $received or die "$received: $!\n";
    $out->autoflush(1);
    while (my $conn = $daemon->accept) {
        while (my $req = $conn->get_request) {
            my $body = $req->content;
            my $sig = $req->header('X-Protime-Signature') // '';
            my $k = $key{$req->uri->path};
            my $good = defined $k && $sig eq encode_base64(hmac_sha256($body, $k), '');
            print {$out} $json->encode({ path => $req->uri->path, verified => $good ? 1 : 0,
                                         body => $body }), "\n";
            $conn->send_response(HTTP::Response->new(204));
        }
        $conn->close;
    }
    POSIX::_exit(0);
}
$daemon->close;

# The POSTs the listener got, from the $from-th on: ({path, verified, body}, ...).
sub received {
    my ($from) = @_;
    my @all = map { $json->decode($_) } grep { length } split /\n/, slurp($received);
    return @all[($from // 0) .. $#all];
}

# --- lists: nextLink, and deltaLink with delta ---------------------------

# Follows nextLink from $url; returns the pages.
sub pages {
    my ($url) = @_;
    my @pages;
    while (defined $url && @pages < 20) {
        my ($status, $page) = get($url);
        push @pages, { status => $status, %$page };
        $url = $page->{nextLink};
    }
    return @pages;
}

my @p = pages("$api/people");
ok(@p == 3 && !grep({ $_->{status} != 200 } @p), 'people: 5 records, 2 a page: 3 pages of 200',
   join ' ', map { $_->{status} } @p);
ok(join(',', map { $_->{id} } map { @{ $_->{value} } } @p) eq '1,2,3,4,5',
   'the pages hold ids 1..5 in order');
ok(!grep({ exists $_->{deltaLink} } @p), 'without delta, no page carries a deltaLink');
my @fields = sort keys %{ $p[0]{value}[0] // {} };
ok("@fields" =~ /\bchangeVersion\b.*\bemployeeNumber\b.*\bfirstName\b.*\bid\b.*\blastName\b/,
   'a person has id, changeVersion, firstName, lastName and employeeNumber', "@fields");

@p = pages("$api/people?delta");
ok(@p == 3 && !defined $p[-1]{nextLink} && defined $p[-1]{deltaLink}
   && !grep({ defined $_->{deltaLink} } @p[0 .. $#p - 1]),
   'with delta, the last page (only) carries a deltaLink, and no nextLink');
ok(!grep({ $_->{nextLink} !~ /[?&]delta(?:&|$)/ } @p[0 .. $#p - 1]), 'each nextLink keeps delta');
my $link = $p[-1]{deltaLink} // '';
ok($link =~ m{^/connector/protimeapi/api/v1/delta/people\?deltaToken=[A-Za-z0-9_-]+$},
   'the deltaLink is $API/delta/people?deltaToken=..., relative to the host', $link);

my @days = map { POSIX::strftime('%Y-%m-%d', gmtime(time + $_ * 86400)) } -365, 0;
@p = pages("$api/access-clockings?filter=" . HTTP::Tiny->www_form_urlencode(
           { x => "date ge '$days[0]' and date le '$days[1]'" }) =~ s/^x=//r . '&delta');
ok(@p >= 2 && !@{ $p[0]{value} } && defined $p[0]{nextLink} && defined $p[-1]{deltaLink},
   'access-clockings with delta: the empty first page, a deltaLink on the last',
   $json->encode(\@p));
sub clockings_filter { HTTP::Tiny->www_form_urlencode({ x => $_[0] }) =~ s/^x=//r }
@p = pages("$api/access-clockings?filter=" . clockings_filter("date ge '$days[0]'") . '&delta');
ok(@p >= 2 && defined $p[-1]{deltaLink},
   'a delta of access-clockings may leave the end date open', $json->encode(\@p));
my ($open_status) = get("$api/access-clockings?filter=" . clockings_filter("date ge '$days[0]'"));
ok($open_status == 400, 'a list without delta needs the end date: 400', $open_status);
my ($person_status) = get("$api/access-clockings?filter="
                          . clockings_filter("date ge '$days[0]' and person eq 123100") . '&delta');
ok($person_status == 400, 'a delta with a person filter: 400', $person_status);

# --- delta: the changes after a token, one page, a new link --------------

my @made = ($mock->change(collection => 'people'),
            $mock->change(collection => 'people', id => 2),
            $mock->change(collection => 'people', id => 1, changeType => 'Delete'));
$mock->change(collection => 'absences');                    # another collection
my ($status, $delta) = get($link);
ok($status == 200, 'the delta answers 200', $status);
ok(join(' ', map { "$_->{changeType}:$_->{data}{id}:$_->{data}{changeVersion}" } @{ $delta->{value} })
   eq join(' ', map { "$_->{changeType}:$_->{id}:$_->{changeVersion}" } @made),
   'it holds the three changes of people, in order, with their changeVersion, and no other',
   $json->encode($delta));
ok(!exists $delta->{nextLink} && defined $delta->{deltaLink} && $delta->{deltaLink} ne $link,
   'one page, and a new deltaLink');
my @deleted = grep { $_->{changeType} eq 'Delete' } @{ $delta->{value} };
ok(@deleted == 1 && join(',', sort keys %{ $deleted[0]{data} }) eq 'changeVersion,id',
   'a Delete carries only id and changeVersion');
($status, my $empty) = get($delta->{deltaLink});
ok($status == 200 && ref $empty->{value} eq 'ARRAY' && !@{ $empty->{value} }
   && defined $empty->{deltaLink} && $empty->{deltaLink} ne $delta->{deltaLink},
   'no change since: an empty value, still a new deltaLink', $json->encode($empty));
($status) = get($empty->{deltaLink} =~ s{/delta/people}{/delta/absences}r);
ok($status == 400, 'the token of another collection: 400', $status);

# --- expiry: by a newer delta, by /_mock/expire-deltas, by the ttl -------

sub expired {
    my ($url, $name) = @_;
    my ($s, $body) = get($url);
    return ok($s == 410 && ($body->{error}{code} // '') eq 'DeltaExpired',
              "$name: 410 DeltaExpired", "$s " . $json->encode($body));
}

my $older = $empty->{deltaLink};
@p = pages("$api/people?delta");
my $newer = $p[-1]{deltaLink};
expired($older, 'a token of the delta before a newer one');
($status) = get($newer);
ok($status == 200, 'the newer delta answers', $status);

my $before = (pages("$api/absences?delta"))[-1]{deltaLink};
$mock->expire_deltas;
expired($before, 'a token issued before POST /_mock/expire-deltas');
my $after = (pages("$api/absences?delta"))[-1]{deltaLink};
($status) = get($after);
ok($status == 200, 'one issued after it answers', $status);

my $ttl_link = (pages("$api/people?delta"))[-1]{deltaLink};
($status) = get($ttl_link);
ok($status == 200, 'a fresh token answers', $status);
my $live = $mock->state->{collections}{people}{delta} // {};
ok(defined $live->{issued} && !$live->{expired}, '/_mock/state: an active delta, not expired',
   $json->encode($live));
sleep $DELTA_TTL + 0.3;
expired($ttl_link, "a token $DELTA_TTL s (--delta-ttl) old");
ok($mock->state->{collections}{people}{delta}{expired}, '/_mock/state: that delta expired');

# --- /_mock/change: delivered, signed, to its collection's webhooks only -

my $got = () = received();
my $c = $mock->change(collection => 'people', id => 3);
my @new = received($got);
ok(@{ $c->{deliveries} } == 1 && $c->{deliveries}[0]{webhook} eq $webhook{people}{id}
   && $c->{deliveries}[0]{status} == 204,
   'a change of people is delivered to the people webhook, which answered 204',
   $json->encode($c));
ok(@new == 1 && $new[0]{path} eq '/hook/people' && $new[0]{verified},
   'the listener got one POST, at /hook/people, whose HMAC verifies with its key',
   $json->encode(\@new));
my $event = eval { $json->decode($new[0]{body} // '') } || {};
ok(($event->{changeType} // '') eq 'InsertOrUpdate' && ($event->{data}{id} // 0) == 3
   && ($event->{data}{changeVersion} // '') eq $c->{changeVersion},
   'its body is the change: InsertOrUpdate, id 3, the new changeVersion', $new[0]{body});

my $since = (pages("$api/people?delta"))[-1]{deltaLink};
$got = () = received();
my $lost = $mock->change(collection => 'people', lose => JSON::PP::true);
ok(!@{ $lost->{deliveries} }, 'lose: no delivery', $json->encode($lost));
sleep 0.2;
ok(!received($got), 'lose: the listener got nothing');
($status, $delta) = get($since);
ok($status == 200 && @{ $delta->{value} } == 1 && $delta->{value}[0]{data}{id} == $lost->{id}
   && $delta->{value}[0]{data}{changeVersion} eq $lost->{changeVersion},
   'lose: the delta shows the change', $json->encode($delta));

my @d = $mock->deliver(collection => 'absences', count => 2);
@new = received($got);
ok(@d == 2 && @new == 2 && !grep({ $_->{path} ne '/hook/absences' || !$_->{verified} } @new),
   '/_mock/deliver collection => absences: two signed POSTs to the absences webhook only',
   $json->encode(\@new));

# --- what /_mock/state and --log say ------------------------------------

my $state = $mock->state->{collections};
ok(keys %$state == @collections && !grep({ !$state->{$_} } @collections),
   '/_mock/state has every collection');
ok($state->{people}{records} == 6 && $state->{absences}{records} == 6,
   '/_mock/state counts the records: people 5 + 1 - 1 + 1, absences 3 + 1 + 2',
   "people $state->{people}{records}, absences $state->{absences}{records}");
my @log = split /\n/, slurp("$tmp/mock.log");
my $calls = grep { m{^GET /connector/protimeapi/api/v1/delta/people \d+$} } @log;
ok($calls == $state->{people}{delta_calls} && $calls == 7,
   '--log has each delta call of people, as many as /_mock/state counts',
   "log $calls, state $state->{people}{delta_calls}");
ok(grep({ m{^GET /connector/protimeapi/api/v1/delta/people 410$} } @log) == 2,
   '--log shows the two 410 answers of people');

kill 'TERM', $listener;
waitpid $listener, 0;
$mock->stop;
exit done_testing();
