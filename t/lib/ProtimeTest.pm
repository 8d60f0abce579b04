# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

package ProtimeTest;
# Helpers shared by the Apache::Test files of mod_protime: signed deliveries,
# events, and a look into the database the server writes.
use strict;
use warnings FATAL => 'all';

use Apache::Test ();
use Apache::TestRequest ();
use Digest::SHA qw(hmac_sha256 hmac_sha512);
use MIME::Base64 qw(encode_base64 decode_base64);
use JSON::PP ();
use DBI ();
use Exporter 'import';
use File::Temp ();
use POSIX ();

our @EXPORT = qw(sign swh_headers deliver deliver_raw event delete_event bare json_of
                 db db_driver db_connect row rows_count quarantine_since quarantine_max
                 status_json error_log_since error_log_size server_pid
                 answer counts in_clients);

# The keys of t/conf/extra.conf.in.
our $KEY = 'test-key-one';
our $ENV_KEY = 'test-key-from-env';

my $json = JSON::PP->new->canonical(1);

sub json_of { $json->encode($_[0]) }

# The JSON answer of a delivery (202 and its reasons), or one whose
# "applied" says what came instead; "applied=N stale=N quarantined=N".
sub answer {
    my ($res) = @_;
    my $a = eval { JSON::PP->new->decode($res->content) };
    return $a || { applied => 'no JSON answer: ' . $res->content, reasons => [] };
}
sub counts {
    my ($a) = @_;
    return join ' ', map { "$_=" . ($a->{$_} // 'undef') } qw(applied stale quarantined);
}

# Runs $client->($i) for i = 1..$n in $n client processes at once, each
# with a user agent of its own (a connection per request; with $timeout,
# at most that many seconds a request, so that an answer that never comes
# fails the caller's checks instead of holding up the suite). Returns what
# each client returned, in order of i; undef for one that did not finish.
sub in_clients {
    my ($n, $client, $timeout) = @_;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my @kids;
    for my $i (1 .. $n) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            Apache::TestRequest::user_agent(reset => 1, keep_alive => 0,
                                            $timeout ? (timeout => $timeout) : ());
            my $out = $client->($i);
            open my $fh, '>', "$dir/$i" or POSIX::_exit(3);
            print $fh $out;
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    waitpid $_, 0 for @kids;
    my @out;
    for my $i (1 .. $n) {
        my $fh;
        push @out, open($fh, '<', "$dir/$i") ? do { local $/; scalar <$fh> } : undef;
    }
    return @out;
}

# base64(HMAC-SHA256(key, body)), the default scheme.
sub sign {
    my ($body, $key) = @_;
    return encode_base64(hmac_sha256($body, $key // $KEY), '');
}

# The Standard Webhooks headers that sign a body: swh_headers($body,
# key => ..., id => ..., timestamp => ... (default now)). A key
# "whsec_<base64>" is the base64 after the prefix, any other its text.
sub swh_headers {
    my ($body, %o) = @_;
    my $key = $o{key} // $KEY;
    $key = decode_base64($1) if $key =~ /^whsec_(.*)\z/s;
    my $id = $o{id} // 'msg_' . join '', map { ('a' .. 'z')[rand 26] } 1 .. 24;
    my $ts = $o{timestamp} // int time;
    return ('webhook-id' => $id, 'webhook-timestamp' => $ts,
            'webhook-signature'
                => 'v1,' . encode_base64(hmac_sha256("$id.$ts.$body", $key), ''));
}

# POSTs a body (a string, or a structure to encode) signed with $KEY unless
# told otherwise: deliver($body, path => ..., key => ..., signature => ...,
# content_type => ..., headers => {...}).
sub deliver {
    my ($body, %o) = @_;
    $body = json_of($body) if ref $body;
    my $path = $o{path} // '/hook';
    my %h = ('Content-Type' => exists $o{content_type} ? $o{content_type}
                                                       : 'application/json');
    delete $h{'Content-Type'} unless defined $h{'Content-Type'};
    my $sig = exists $o{signature} ? $o{signature} : sign($body, $o{key});
    $h{'X-Protime-Signature'} = $sig if defined $sig;
    %h = (%h, %{ $o{headers} || {} });
    return Apache::TestRequest::POST($path, content => $body, %h);
}

# Sends bytes exactly as given over a raw socket (chunked bodies, broken
# headers) and returns the status code, or undef if the server said nothing.
sub deliver_raw {
    my ($request) = @_;
    my $sock = Apache::TestRequest::vhost_socket() or die "no socket";
    print $sock $request;
    my $status_line = <$sock>;
    close $sock;
    return undef unless defined $status_line;
    return $status_line =~ m{^HTTP/1\.\d (\d{3})} ? $1 : undef;
}

sub event {
    my ($id, $version, %data) = @_;
    return { changeType => 'InsertOrUpdate',
             data => { id => $id, changeVersion => $version,
                       date => '2026-11-20', timeOfDayInMinutes => 482,
                       person => { id => 123152 }, terminal => { id => 12 },
                       status => 'AccessOk', %data } };
}

sub delete_event {
    my ($id, $version) = @_;
    return { changeType => 'Delete',
             data => { id => $id, changeVersion => $version } };
}

# A bare access-clocking object: the data of an InsertOrUpdate.
sub bare { return event(@_)->{data} }

# The database of the main server, as tools/run-tests configures it through
# PROTIME_TEST_DBDRIVER and PROTIME_TEST_DBDPARAMS (t/conf/extra.conf.in):
# sqlite3 with the file's path (the default: t/db/protime.db), or pgsql with
# a libpq conninfo string.
sub db_driver { $ENV{PROTIME_TEST_DBDRIVER} || 'sqlite3' }

# A new connection to that database, of the caller's own (RaiseError, and
# AutoCommit unless told otherwise). Strings come back as the bytes stored,
# with either driver.
sub db_connect {
    my (%attr) = @_;
    my $driver = db_driver();
    my $params = $ENV{PROTIME_TEST_DBDPARAMS};
    my %common = (RaiseError => 1, PrintError => 0, AutoCommit => 1, %attr);
    if ($driver eq 'pgsql') {
        die "PROTIME_TEST_DBDPARAMS (a libpq conninfo) is not set\n" unless $params;
        # DBD::Pg takes the libpq keywords separated by ';'.
        my $dsn = 'dbi:Pg:' . join ';', split ' ', $params;
        return DBI->connect($dsn, '', '', { pg_enable_utf8 => 0, %common });
    }
    die "PROTIME_TEST_DBDRIVER $driver: the tests know sqlite3 and pgsql\n"
        unless $driver eq 'sqlite3';
    my $file = $params || Apache::Test::vars('serverroot') . '/db/protime.db';
    my $h = DBI->connect("dbi:SQLite:dbname=$file", '', '',
                         { sqlite_use_immediate_transaction => 0, %common });
    $h->sqlite_busy_timeout(5000);
    return $h;
}

my $dbh;
sub db {
    return $dbh if $dbh;
    $dbh = db_connect();
    # SQLite gets its tables when httpd starts; PostgreSQL when a server
    # process first connects to it. A test that looks before any delivery
    # reached the database (a 401, a 415) makes one that stores nothing.
    if (db_driver() eq 'pgsql') {
        for my $try (1 .. 50) {
            last if $dbh->selectrow_array(
                q{SELECT to_regclass('protime_access_clockings') IS NOT NULL
                         AND to_regclass('protime_quarantine') IS NOT NULL});
            deliver('[]') if $try == 1;
            select undef, undef, undef, 0.1;
        }
    }
    return $dbh;
}

sub row {
    my ($id) = @_;
    return db()->selectrow_hashref(
        'SELECT * FROM protime_access_clockings WHERE id = ?', undef, $id);
}

sub rows_count {
    my ($where, @bind) = @_;
    return db()->selectrow_array(
        'SELECT count(*) FROM protime_access_clockings'
        . ($where ? " WHERE $where" : ''), undef, @bind);
}

sub quarantine_max {
    return db()->selectrow_array('SELECT coalesce(max(id), 0) FROM protime_quarantine');
}

# Quarantine rows with an id above $since, oldest first.
sub quarantine_since {
    my ($since) = @_;
    return db()->selectall_arrayref(
        'SELECT * FROM protime_quarantine WHERE id > ? ORDER BY id',
        { Slice => {} }, $since);
}

sub status_json {
    my $res = Apache::TestRequest::GET('/protime-status');
    return JSON::PP::decode_json($res->content);
}

# The pid of the test server's parent process.
sub server_pid {
    open my $fh, '<', Apache::Test::vars('t_logs') . '/httpd.pid' or return;
    chomp(my $pid = <$fh> // '');
    return $pid;
}

sub error_log_file { Apache::Test::vars('t_logs') . '/error_log' }

sub error_log_size { -s error_log_file() || 0 }

# What the server logged since error_log_size() returned $offset.
sub error_log_since {
    my ($offset) = @_;
    open my $fh, '<', error_log_file() or return '';
    seek $fh, $offset, 0;
    local $/;
    return scalar <$fh> // '';
}

1;
