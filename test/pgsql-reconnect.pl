#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# The module on PostgreSQL, and a database that goes away and comes back:
# a real httpd with DBDriver pgsql on the tests' private cluster stores a
# signed delivery (tables created on first use), answers 503 with
# Retry-After while PostgreSQL is stopped, and stores again once it is back,
# without a restart of httpd. mod_authn_dbd shares mod_dbd's connections
# with the module (its statement prepared by mod_dbd, in the hash mod_dbd
# keeps for every module): it must log users in before the outage and
# after it, however often the module prepared its own statements again.
# Then, PostgreSQL restarted between two deliveries and speaking German
# (lc_messages), the statements the revived connection lost are prepared
# again (told by SQLSTATE, not by the text).
# Usage: perl test/pgsql-reconnect.pl mod_protime.so PGDIR CONNINFO
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/lib";
use ProtimeScript;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Digest::SHA ();
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use DBI;

my ($so, $pgdir, $conninfo) = @ARGV;
die "usage: $0 mod_protime.so PGDIR CONNINFO\n" unless $conninfo;
my $dir = tempdir(CLEANUP => 1);
my $port = free_port();
my $key = 'pgsql-test-key';
(my $dbd_params = $conninfo) =~ s/"/\\"/g;
chomp(my $modules = `apxs -q LIBEXECDIR`);

open my $fh, '>', "$dir/httpd.conf" or die;
print $fh httpd_conf_head(so => $so, root => $dir, port => $port), <<CONF;
StartServers 1
DBDriver pgsql
DBDParams "$dbd_params"
# A small pool, so that the module and mod_authn_dbd meet on the same
# connections.
DBDMin 0
DBDKeep 1
DBDMax 2
DBDExptime 2
LoadModule auth_basic_module $modules/mod_auth_basic.so
LoadModule authn_core_module $modules/mod_authn_core.so
LoadModule authn_dbd_module $modules/mod_authn_dbd.so
LoadModule authz_user_module $modules/mod_authz_user.so
<Location /private>
    SetHandler protime-status
    AuthType Basic
    AuthName private
    AuthBasicProvider dbd
    AuthDBDUserPWQuery "SELECT password FROM protime_test_users WHERE name = %s"
    Require valid-user
</Location>
@{[webhook_location($key)]}
CONF
close $fh;

my $http = HTTP::Tiny->new(timeout => 20);
sub deliver {
    my ($id, $version) = @_;
    my $t0 = time;
    my $res = post_signed($http, "http://127.0.0.1:$port/hook", $key, clocking($id, $version));
    return ($res, time - $t0);
}

sub pg {
    my $dbh = DBI->connect("dbi:Pg:$conninfo", '', '', { RaiseError => 1, PrintError => 0 });
    return $dbh;
}

sub stored_version {
    my ($id) = @_;
    return pg()->selectrow_array(
        'SELECT change_version FROM protime_access_clockings WHERE id = ?', undef, $id);
}

# {SHA} is one of the hashes apr_password_validate knows.
pg()->do('CREATE TABLE protime_test_users (name text PRIMARY KEY, password text NOT NULL)');
pg()->do('INSERT INTO protime_test_users VALUES (?, ?)', undef, 'alice',
         '{SHA}' . encode_base64(Digest::SHA::sha1('wonderland'), ''));
my $auth = 'Basic ' . encode_base64('alice:wonderland', '');
sub login { $http->get("http://127.0.0.1:$port/private", { headers => { Authorization => $auth } })->{status} }

httpd_start("$dir/httpd.conf", $port);

my ($res) = deliver(1001, 'v1');
ok($res->{status} == 204, 'PostgreSQL: a signed delivery is stored (204)', "got $res->{status}");
ok((stored_version(1001) // '') eq 'v1', 'PostgreSQL: the row is there, tables created on first use');
my $collation = pg()->selectrow_array(
    "SELECT collation_name FROM information_schema.columns WHERE table_name = 'protime_access_clockings' AND column_name = 'change_version'");
ok(($collation // '') eq 'C', 'PostgreSQL: change_version compares in C collation');
my $type = pg()->selectrow_array(
    "SELECT data_type FROM information_schema.columns WHERE table_name = 'protime_access_clockings' AND column_name = 'date'");
ok(($type // '') eq 'date', 'PostgreSQL: date is a DATE');
($res) = deliver(1001, 'v0');
ok($res->{status} == 204 && stored_version(1001) eq 'v1', 'PostgreSQL: an older version changes nothing');

my @logins = map { login() } 1 .. 4;
ok(!grep({ $_ != 200 } @logins), 'mod_authn_dbd on the same pool logs in', "answers: @logins");

my $pg_opts = pg_stop($pgdir);
my ($down, $took) = deliver(1002, 'v1');
ok($down->{status} == 503, 'PostgreSQL stopped: 503', "got $down->{status}");
ok(($down->{headers}{'retry-after'} // '') =~ /^\d+$/, 'PostgreSQL stopped: Retry-After');
ok($took < 10, sprintf('PostgreSQL stopped: answered in %.2f s', $took));

pg_start($pgdir, $pg_opts);
# The first request after the outage may find a broken pooled connection,
# which mod_dbd then replaces: Protime would simply deliver again.
my @codes;
for my $try (1 .. 5) {
    my ($r) = deliver(1002, 'v1');
    push @codes, $r->{status};
    last if $r->{status} == 204;
    sleep 0.5;
}
ok($codes[-1] == 204, 'PostgreSQL back: stored again without restarting httpd',
   "answers: @codes");
ok((stored_version(1002) // '') eq 'v1', 'PostgreSQL back: the row is there');
note("answers after the restart of PostgreSQL: @codes");
# Every connection of the pool in turn: the module's statements prepared
# again on each, mod_authn_dbd's left as mod_dbd made them.
for (1 .. 6) { deliver(1003, "v$_") }
# mod_dbd checks a connection when it hands it out and, after the
# restart, reconnects it (PQreset), which loses every statement prepared
# on it. The module prepares its own again; mod_authn_dbd cannot, so a
# connection that came back from the outage serves it again only once
# mod_dbd replaced it (DBDExptime: here 2 s of rest). What must never
# happen is what the module once did: clear mod_dbd's hash of every
# module's statements, "A prepared statement could not be found".
my @at_once = map { login() } 1 .. 2;
note("mod_authn_dbd on the connections that came back: @at_once");
sleep 3;
my (@after, $found_missing);
for (1 .. 8) { push @after, login() }
ok(!grep({ $_ != 200 } @after), 'mod_authn_dbd logs in again after the restart',
   "answers: @after");
($res) = deliver(1004, 'v1');
ok($res->{status} == 204 && (stored_version(1004) // '') eq 'v1',
   'and the module still stores on the same pool', "got $res->{status}");
if (open my $log, '<', "$dir/error_log") {
    $found_missing = grep { /prepared statement could not be found/ } <$log>;
}
ok(!$found_missing, "no module's statement went missing from mod_dbd's hash");

httpd_stop("$dir/httpd.conf", "$dir/httpd.pid");

# PostgreSQL restarted between two deliveries, and speaking German: the
# pooled connection finds the server gone (one 503), then mod_dbd's check
# revives it with PQreset on the same handle, in a new session without the
# module's prepared statements, which the module must tell from the German
# message. On an httpd of its own with one child and one connection, so
# that the delivery after the restart always gets that connection: the
# event MPM's spare threads would start more children, each with a pool,
# and a new connection would need no reprepare.
$port = free_port();
open $fh, '>', "$dir/german.conf" or die;
print $fh httpd_conf_head(so => $so, root => $dir, port => $port), <<CONF;
StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
MinSpareThreads 1
MaxSpareThreads 4
DBDriver pgsql
DBDParams "$dbd_params"
DBDMin 1
DBDKeep 1
DBDMax 1
@{[webhook_location($key)]}
CONF
close $fh;
httpd_start("$dir/german.conf", $port);
($res) = deliver(2001, 'v1');
ok($res->{status} == 204, 'before the restart in German: stored', "got $res->{status}");
my $german = 'de_DE.UTF-8';
my $log_from = -s "$pgdir/server.log";
pg_stop($pgdir);
pg_start($pgdir, "$pg_opts -c lc_messages=$german");
ok((pg()->selectrow_array('SHOW lc_messages') // '') eq $german,
   "PostgreSQL restarted with lc_messages $german");
@codes = ();
for my $try (1 .. 5) {
    my ($r) = deliver(2002, 'v1');
    push @codes, $r->{status};
    last if $r->{status} == 204;
    sleep 0.5;
}
ok($codes[-1] == 204, 'PostgreSQL back in German: stored again', "answers: @codes");
ok((stored_version(2002) // '') eq 'v1', 'PostgreSQL back in German: the row is there');
note("answers after the restart in German: @codes");
my $lost = substr(slurp("$pgdir/server.log"), $log_from)
    =~ /vorbereitete Anweisung \S*protime_upsert\S* existiert nicht/ ? 1 : 0;
ok($lost, 'PostgreSQL back in German: it was the lost statements, told apart in German');
httpd_stop("$dir/german.conf", "$dir/httpd.pid");
# The tests after this one get the server as it was.
pg_stop($pgdir);
pg_start($pgdir, $pg_opts);
pg()->do('DROP TABLE protime_access_clockings, protime_quarantine, protime_test_users');
if (failures() && open my $log, '<', "$dir/error_log") {
    print "# error_log: $_" for grep { !/AH00489|AH00094|AH00491|AH00558/ } <$log>;
}
exit done_testing();
