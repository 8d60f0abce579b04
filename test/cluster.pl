#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Several Apache nodes on one PostgreSQL, one subscription per collection:
# two httpd instances with the same subscriptions (ProtimeSubscribe On,
# ProtimeCollections access-clockings people, a destination each: the
# "load balancer" URLs) against the mock Protime API, both
# on a fresh database of the tests' private cluster. Exactly one runs the
# job (it holds the lease, "active"), the other stands by ("standby") and
# publishes what the database says; both accept deliveries signed with the
# subscription's keys; a rotation and a re-synchronisation happen once for
# the cluster; when the owner stops, the other takes over without a new
# webhook; people have one webhook for the cluster too, through all of
# that; a stopped database is 503 and then works again without a
# restart of httpd, also when PostgreSQL restarts while no delivery comes
# (pooled connections that libpq's PQreset revives have lost the
# statements prepared on them).
# Usage: perl test/cluster.pl mod_protime.so PGDIR CONNINFO
# (never as root: tools/run-tests runs it as its unprivileged test user).
use strict;
use warnings;
use FindBin ();
use File::Spec ();
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use IO::Socket::INET;
use HTTP::Tiny;
use JSON::PP ();
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use List::Util qw(shuffle max);
use POSIX ();
use Time::Local ();
use DBI;
use ProtimeMock;
use ProtimeScript;

my ($so, $pgdir, $conninfo) = @ARGV;
die "usage: $0 mod_protime.so PGDIR CONNINFO\n" unless $conninfo;
die "$0: do not run as root (httpd would switch users; tools/run-tests "
  . "runs this test as its unprivileged user)\n" if $> == 0;
die "$0: $so: no such module\n" unless -f $so;
$so = File::Spec->rel2abs($so);

my $main_pid = $$;
my $t_start = time;
my $httpd = $ENV{PROTIME_HTTPD} || 'apache2';
my $json = JSON::PP->new->utf8->canonical;
my $http = HTTP::Tiny->new(timeout => 20, keep_alive => 0);

# Polls $cond every 0.2 s for up to $seconds: (last true value, elapsed),
# or (false, elapsed) on timeout.
sub wait_for {
    my ($cond, $seconds) = @_;
    my $t0 = time;
    while (1) {
        my $v = eval { $cond->() };
        return ($v, time - $t0) if $v;
        return (undef, time - $t0) if time - $t0 > $seconds;
        sleep 0.2;
    }
}

# ---------------------------------------------------------------------------
# PostgreSQL: a database of our own on the given cluster

my $dbname = "protime_cluster_$$";
(my $db_conninfo = $conninfo) =~ s/\bdbname=\S+/dbname=$dbname/;
$db_conninfo .= " dbname=$dbname" unless $db_conninfo =~ /\bdbname=/;

sub admin_dbh {
    return DBI->connect("dbi:Pg:$conninfo", '', '',
                        { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
}
my $dbh_cache;
sub pg {
    $dbh_cache = undef if $dbh_cache && !$dbh_cache->ping;
    $dbh_cache //= DBI->connect("dbi:Pg:$db_conninfo", '', '',
                                { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
    return $dbh_cache;
}

my $created_db = 0;
{
    my $admin = admin_dbh();
    $admin->do(qq(CREATE DATABASE "$dbname"));
    $admin->disconnect;
    $created_db = 1;
}

# ---------------------------------------------------------------------------
# The mock Protime API

my $mock = ProtimeMock->start(tenant => 'test', https => 0);
my $mock_url = $mock->http_url;

# ---------------------------------------------------------------------------
# Two httpd nodes

sub opts_file {
    open my $fh, '<', "$pgdir/data/postmaster.opts" or return '';
    return do { local $/; <$fh> };
}

my %node;
my @names = qw(A B);
for my $name (@names) {
    my $dir = tempdir("protime-cluster-$name.XXXXXX", TMPDIR => 1, CLEANUP => 1);
    $node{$name} = { name => $name, dir => $dir, port => free_port(),
                     conf => "$dir/httpd.conf", pidfile => "$dir/httpd.pid",
                     log => "$dir/error_log", ua => "mod_protime-cluster-test/$name" };
}
$node{B}{port} = free_port() while $node{B}{port} == $node{A}{port};
my $dest = "http://127.0.0.1:$node{A}{port}/hook";
my $dest_people = "http://127.0.0.1:$node{A}{port}/hook-people";
(my $dbd_params = $db_conninfo) =~ s/"/\\"/g;

for my $nd (values %node) {
    open my $fh, '>', $nd->{conf} or die "$nd->{conf}: $!\n";
    print $fh httpd_conf_head(so => $so, root => $nd->{dir},
                              port => $nd->{port}, pidfile => $nd->{pidfile},
                              errorlog => $nd->{log},
                              loglevel => 'notice protime:debug'), <<CONF;
# One child: its keys cache is the one every delivery meets.
ServerLimit 1
StartServers 1
ThreadsPerChild 25
MaxRequestWorkers 25
MinSpareThreads 1
MaxSpareThreads 25
DBDriver pgsql
DBDParams "$dbd_params"
ProtimeSubscribe On
ProtimeTenant test
ProtimeAPIURL $mock_url/connector/protimeapi/api/v1
ProtimeTokenURL $mock_url/tenants/test/connect/token
ProtimeClientID mod_protime
ProtimeClientSecret simulator-secret
ProtimeAllowInsecureAPI On
ProtimeCollections access-clockings people
ProtimeDestinationURL $dest access-clockings
ProtimeDestinationURL $dest_people people
ProtimeUserAgent "$nd->{ua}"
ProtimeCheckInterval 2s
ProtimeRenewBefore 10s
ProtimeSyncFrom 2020-01-01
ProtimeHTTPTimeout 5
<Location /hook>
    SetHandler protime-webhook
</Location>
<Location /hook-people>
    SetHandler protime-webhook
    ProtimeCollection people
</Location>
<Location /status>
    SetHandler protime-status
</Location>
CONF
    close $fh;
}

sub node_pid {
    my ($nd) = @_;
    open my $fh, '<', $nd->{pidfile} or return;
    chomp(my $pid = <$fh> // '');
    return $pid =~ /^\d+$/ ? $pid : undef;
}

sub start_node {
    my ($nd) = @_;
    system($httpd, '-f', $nd->{conf}, '-k', 'start') == 0
        or die "httpd $nd->{name} did not start (see $nd->{log})\n";
    $nd->{running} = 1;
}

sub stop_node {
    my ($nd) = @_;
    return unless $nd->{running};
    my $pid = node_pid($nd);
    system($httpd, '-f', $nd->{conf}, '-k', 'stop');
    my $t0 = time;
    while (time - $t0 < 15) {
        last unless -f $nd->{pidfile} || ($pid && kill 0, $pid);
        sleep 0.1;
    }
    if ($pid && kill 0, $pid) { kill 'KILL', $pid }
    $nd->{running} = 0;
}

END {
    my $rc = $?;
    if ($$ == $main_pid) {
        for my $nd (values %node) { eval { stop_node($nd) } }
        eval { $mock->stop if $mock };
        if ($created_db) {
            eval {
                my $admin = admin_dbh();
                $admin->do(qq(DROP DATABASE IF EXISTS "$dbname" WITH (FORCE)));
                $admin->disconnect;
            };
            note("could not drop $dbname: $@") if $@;
        }
    }
    $? = $rc;
}
$SIG{INT} = $SIG{TERM} = sub { exit 2 };

sub status_of {
    my ($nd) = @_;
    my $res = $http->get("http://127.0.0.1:$nd->{port}/status");
    return unless $res->{status} == 200;
    return eval { $json->decode($res->{content}) };
}

sub sub_of { my $s = status_of($_[0]) or return; return $s->{subscription} }

# The subscription of people, as a node shows it.
sub people_of {
    my $s = status_of($_[0]) or return;
    my ($p) = grep { $_->{collection} eq 'people' } @{ $s->{subscriptions} || [] };
    return $p;
}

# "2026-11-26T20:13:59Z" (or with an offset) -> Unix time.
sub iso_time {
    my ($t) = @_;
    return unless defined $t && $t =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)?$/;
    my $u = Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1);
    if ($7 && $7 ne 'Z') {
        my ($sign, $h, $m) = $7 =~ /([+-])(\d\d):?(\d\d)/;
        $u -= ($sign eq '-' ? -1 : 1) * ($h * 3600 + $m * 60);
    }
    return $u;
}

sub sign { encode_base64(hmac_sha256($_[0], $_[1]), '') }

sub event_body {
    my ($id, $version, $type) = @_;
    $type //= 'InsertOrUpdate';
    return qq({"changeType":"Delete","data":{"changeVersion":"$version","id":$id}})
        if $type eq 'Delete';
    return qq({"changeType":"InsertOrUpdate","data":{"changeVersion":"$version","id":$id,)
         . qq("person":{"id":1},"date":"2026-01-05","timeOfDayInMinutes":60,)
         . qq("terminal":{"id":2},"status":"AccessOk"}});
}

# POSTs a signed delivery to a node: (status, seconds).
sub deliver {
    my ($nd, $key, $id, $version, $type, $client) = @_;
    my $body = event_body($id, $version, $type);
    my $t0 = time;
    my $res = ($client // $http)->post("http://127.0.0.1:$nd->{port}/hook", {
        content => $body,
        headers => { 'Content-Type' => 'application/json',
                     'X-Protime-Signature' => sign($body, $key) } });
    return ($res->{status}, time - $t0);
}

sub webhooks { grep { $_->{destinationUrl} eq $dest } @{ $mock->state->{webhooks} } }
sub live_webhooks { grep { !$_->{deleted} } webhooks() }
sub people_webhooks { grep { $_->{destinationUrl} eq $dest_people } @{ $mock->state->{webhooks} } }
sub live_people_webhooks { grep { !$_->{deleted} } people_webhooks() }

# The node that runs the job of people, the one that stands by, and the
# webhook both show: when they agree.
sub people_pair {
    my %p = map { $_ => people_of($node{$_}) } grep { $node{$_}{running} } @names;
    my ($own) = grep { ($p{$_}{state} // '') eq 'active' } keys %p or return;
    my @stb = grep { ($p{$_}{state} // '') eq 'standby' } keys %p;
    return unless @stb == keys(%p) - 1 && $p{$own}{webhook_id};
    return if grep { ($p{$_}{webhook_id} // '') ne $p{$own}{webhook_id} } @stb;
    return { owner => $own, webhook => $p{$own}{webhook_id} };
}
sub key_of { my ($id) = @_; my ($w) = grep { $_->{id} eq $id } webhooks(); return $w && $w->{key} }
sub key_of_people { my ($id) = @_; my ($w) = grep { $_->{id} eq $id } people_webhooks(); return $w && $w->{key} }

sub stored {
    my ($id) = @_;
    return pg()->selectrow_hashref(
        'SELECT change_version, deleted FROM protime_access_clockings WHERE id = ?',
        undef, $id);
}

sub protime_log {
    my ($nd) = @_;
    open my $fh, '<', $nd->{log} or return '';
    # Not the debug lines (every API call); a message repeated in a row once,
    # with its count.
    my (@out, $last, $times);
    my $flush = sub { push @out, $last . ($times > 1 ? "  [$times times in a row]\n" : "\n") if defined $last };
    for (grep { /\[protime:/ && !/\[protime:debug\]/ } <$fh>) {
        chomp;
        (my $msg = $_) =~ s/^\[[^\]]*\] \[[^\]]*\] \[pid [^\]]*\] (?:\[client [^\]]*\] )?//;
        (my $prev = $last // '') =~ s/^\[[^\]]*\] \[[^\]]*\] \[pid [^\]]*\] (?:\[client [^\]]*\] )?//;
        if (defined $last && $msg eq $prev) { $times++; next }
        $flush->();
        ($last, $times) = ($_, 1);
    }
    $flush->();
    return join '', @out;
}

# Which node a status names as owner, by the state they publish.
sub owner_and_standby {
    my %s = map { $_ => sub_of($node{$_}) } @names;
    return unless $s{A} && $s{B};
    my ($own) = grep { $s{$_}{state} eq 'active' } @names;
    my ($stb) = grep { $s{$_}{state} eq 'standby' } @names;
    return unless $own && $stb && $own ne $stb;
    return ($own, $stb, \%s);
}

start_node($node{$_}) for @names;
for my $nd (values %node) {
    my ($up) = wait_for(sub { IO::Socket::INET->new("127.0.0.1:$nd->{port}") }, 10);
    die "httpd $nd->{name} does not answer on $nd->{port}\n" unless $up;
}

# ---------------------------------------------------------------------------
# 1. One owner, one standby, one webhook

my ($pair, $t1) = wait_for(sub {
    my ($own, $stb, $s) = owner_and_standby() or return;
    my ($o, $b) = ($s->{$own}, $s->{$stb});
    return unless $o->{webhook_id} && ($b->{webhook_id} // '') eq $o->{webhook_id};
    return unless $o->{owner} && ($b->{owner} // '') eq $o->{owner};
    return [$own, $stb, $o];
}, 30);
ok($pair, sprintf('one node active, the other standby, same owner and webhook (after %.1f s)', $t1),
   join "\n", map { "$_: " . $json->encode(sub_of($node{$_}) // {}) } @names)
    or die_early();
my ($owner, $standby, $sub1) = @$pair;
my $webhook1 = $sub1->{webhook_id};
note("owner: node $owner ($sub1->{owner}), standby: node $standby, webhook $webhook1");
my @wh = webhooks();
ok(@wh == 1 && live_webhooks() == 1 && $wh[0]{id} eq $webhook1,
   sprintf('exactly one webhook at the mock for the destination (%d created, %d live)',
           scalar @wh, scalar live_webhooks()),
   join "\n", map { "$_->{id} deleted=" . ($_->{deleted} ? 1 : 0) } @wh);
my ($people1, $t1p) = wait_for(sub {
    my $p = people_pair() or return;
    return live_people_webhooks() == 1 ? $p : undef;
}, 30);
ok($people1 && (live_people_webhooks())[0]{id} eq $people1->{webhook}
   && (live_people_webhooks())[0]{collectionName} eq 'people',
   sprintf('people: one node runs it, the other stands by, one webhook of people '
           . 'for the cluster (after %.1f s)', $t1p),
   join "\n", map { "$_: " . $json->encode(people_of($node{$_}) // {}) } @names);
ok(people_webhooks() == 1, sprintf('people: exactly one webhook created (%d)',
                                   scalar people_webhooks()));
{
    # Each collection's reads come from the node that runs its job; a node
    # that runs neither calls nothing.
    my $reqs = $mock->state->{requests};
    my $ua_of = sub { my ($r) = @_; my ($nm) = grep { ($r->{user_agent} // '') =~ m{\Q$node{$_}{ua}\E} } @names; $nm // '?' };
    my %lists;
    for my $r (@$reqs) {
        next unless $r->{path} =~ m{/(access-clockings|people)$};
        $lists{$1}{ $ua_of->($r) }++;
    }
    my $p_owner = $people1 ? $people1->{owner} : '?';
    ok(keys(%{ $lists{'access-clockings'} || {} }) == 1 && $lists{'access-clockings'}{$owner}
       && keys(%{ $lists{people} || {} }) == 1 && $lists{people}{$p_owner},
       "each collection is read by the node that runs its job (access-clockings: $owner, people: $p_owner)",
       $json->encode(\%lists));
    my $by_standby = grep { $ua_of->($_) eq $standby } @$reqs;
    ok($p_owner ne $owner || $by_standby == 0,
       "a node that runs no job calls nothing ($by_standby calls by $standby)");
}

sub die_early {
    for my $nm (@names) {
        note("error_log of node $nm:\n" . protime_log($node{$nm}));
    }
    done_testing();
    exit 1;
}

# ---------------------------------------------------------------------------
# 2. Both nodes accept deliveries signed with the webhook's key

my $key1 = key_of($webhook1);
for my $i (0, 1) {
    my $nm = $names[$i];
    my $id = 100001 + $i;
    my ($code) = deliver($node{$nm}, $key1, $id, sprintf('%020d', 1));
    ok($code == 204, "node $nm: a delivery signed with the key is stored (204)", "got $code");
    my $row = stored($id);
    ok($row && $row->{change_version} eq sprintf('%020d', 1) && !$row->{deleted},
       "node $nm: row $id is in PostgreSQL");
}

# ---------------------------------------------------------------------------
# 3. Ordering across nodes: 40 ids x 6 versions, shuffled, 4 clients

sub run_clients {
    my ($key, @jobs) = @_;       # jobs: [node name, id, version, type]
    my $out = tempdir('protime-cluster-clients.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my @pids;
    for my $c (0 .. 3) {
        my $pid = fork // die "fork: $!\n";
        if (!$pid) {
            my $client = HTTP::Tiny->new(timeout => 20, keep_alive => 1);
            open my $fh, '>', "$out/$c" or POSIX::_exit(1);
            for (my $i = $c; $i < @jobs; $i += 4) {
                my ($nm, $id, $v, $type) = @{ $jobs[$i] };
                my ($code) = deliver($node{$nm}, $key, $id, $v, $type, $client);
                print $fh "$code $nm $id $v\n";
            }
            close $fh;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    waitpid $_, 0 for @pids;
    my @answers;
    for my $c (0 .. 3) {
        open my $fh, '<', "$out/$c" or next;
        push @answers, map { chomp; [split / /] } <$fh>;
    }
    return @answers;
}

my @ids = map { 880000 + $_ } 1 .. 40;
my $ver = sub { sprintf '%020d', $_[0] };
my @jobs = shuffle map { my $id = $_; map { [$names[int rand 2], $id, $ver->($_)] } 1 .. 6 } @ids;
my $t3 = time;
my @answers = run_clients($key1, @jobs);
my @bad = grep { $_->[0] !~ /^2\d\d$/ } @answers;
my %per_node; $per_node{$_->[1]}++ for @answers;
ok(@answers == 240 && !@bad,
   sprintf('240 shuffled deliveries over both nodes (A %d, B %d), 4 clients: every answer 2xx (%.1f s)',
           $per_node{A} // 0, $per_node{B} // 0, time - $t3),
   sprintf('%d answers, not 2xx: %s', scalar @answers,
           join(', ', map { "$_->[0] from $_->[1] for $_->[2]/$_->[3]" } @bad[0 .. ($#bad < 9 ? $#bad : 9)])));
{
    my %have = map { $_->[0] => $_->[1] } @{ pg()->selectall_arrayref(
        'SELECT id, change_version FROM protime_access_clockings WHERE id BETWEEN 880001 AND 880040 AND deleted = 0') };
    my @wrong = grep { ($have{$_} // '') ne $ver->(6) } @ids;
    ok(!@wrong, sprintf('each of the 40 ids holds its highest version (%d of 40)', 40 - @wrong),
       join ', ', map { "$_: " . ($have{$_} // 'none') } @wrong);
}
{
    my @del = @ids[0 .. 4];
    my @djobs = map { [$names[int rand 2], $_, $ver->(7), 'Delete'] } @del;
    my @older = shuffle map { my $id = $_; map { [$names[int rand 2], $id, $ver->($_)] } 3 .. 6 } @del;
    my @a1 = run_clients($key1, @djobs);
    my @a2 = run_clients($key1, @older);
    my @bad = grep { $_->[0] !~ /^2\d\d$/ } @a1, @a2;
    ok(!@bad && @a1 + @a2 == 25, sprintf('5 Deletes, then %d older InsertOrUpdates: every answer 2xx', scalar @older),
       join ', ', map { "$_->[0] from $_->[1] for $_->[2]/$_->[3]" } @bad);
    my @wrong = grep { my $r = stored($_); !$r || !$r->{deleted} || $r->{change_version} ne $ver->(7) } @del;
    ok(!@wrong, 'deleted rows stay deleted (deleted=1, the Delete\'s version)',
       join ', ', map { my $r = stored($_); "$_: " . ($r ? "deleted=$r->{deleted} $r->{change_version}" : 'none') } @wrong);
}

# ---------------------------------------------------------------------------
# 4. Rotation, once for the cluster

$mock->webhook($webhook1, expires_in => 16);
my $t4 = time;
my ($rot, $t4r) = wait_for(sub {
    my @w = webhooks();
    my ($old) = grep { $_->{id} eq $webhook1 } @w;
    my @new = grep { $_->{id} ne $webhook1 } @w;
    return unless @new && $old->{deleted};
    return { new => $new[0]{id}, count => scalar @w, new_count => scalar @new };
}, 30);
ok($rot, sprintf('rotation: a successor, and the old webhook deleted at the mock after the overlap (%.1f s)', $t4r));
my $webhook2 = $rot ? $rot->{new} : undef;
sleep 2 if $rot;        # anyone who would rotate again has had time to
my @w4 = webhooks();
ok(@w4 == 2 && live_webhooks() == 1,
   sprintf('rotation: exactly one successor (%d webhooks for the destination, %d live)',
           scalar @w4, scalar live_webhooks()),
   join "\n", map { "$_->{id} deleted=" . ($_->{deleted} ? 1 : 0) . " created $_->{created_at}" } @w4);
if ($webhook2) {
    my $key2 = key_of($webhook2);
    my ($agree, $t4a) = wait_for(sub {
        2 == grep { (sub_of($node{$_})->{webhook_id} // '') eq $webhook2 } @names;
    }, 15);
    ok($agree, sprintf('rotation: both nodes show webhook %s (%.1f s)', $webhook2, $t4a));
    for my $i (0, 1) {
        my ($code) = deliver($node{$names[$i]}, $key2, 100011 + $i, $ver->(1));
        ok($code == 204, "rotation: node $names[$i] accepts the new key (204)", "got $code");
    }
}
else {
    ok(0, 'rotation: both nodes show the successor') for 1 .. 3;
}

# ---------------------------------------------------------------------------
# 5. Re-synchronisation, once for the cluster

sub day { POSIX::strftime('%Y-%m-%d', gmtime(time - $_[0] * 86400)) }
my @items = map {
    { id => 990000 + $_, changeVersion => sprintf('%020d', 5000 + $_),
      person => { id => 42 }, date => day($_ * 24), timeOfDayInMinutes => 60,
      terminal => { id => 7 }, status => 'AccessOk' }
} 1 .. 30;
$mock->clockings(items => \@items);
$mock->config(page_size => 7);
my $requests_before = scalar @{ $mock->state->{requests} };
my $cur5 = $webhook2 // $webhook1;
$mock->webhook($cur5, status => 'Disabled');
my ($synced, $t5) = wait_for(sub {
    my %s = map { $_ => sub_of($node{$_}) } @names;
    my ($own) = grep { ($s{$_}{state} // '') eq 'active' } @names or return;
    my $st = status_of($node{$own});
    my $id = $st->{subscription}{webhook_id} // '';
    return unless $id && $id ne $cur5 && $st->{sync}{finished_at} && !$st->{sync}{running};
    my %have = map { $_->[0] => $_->[1] } @{ pg()->selectall_arrayref(
        'SELECT id, change_version FROM protime_access_clockings WHERE id BETWEEN 990001 AND 990030') };
    return unless 30 == grep { ($have{$_->{id}} // '') eq $_->{changeVersion} } @items;
    return { id => $id, owner => $own, sync => $st->{sync} };
}, 40);
ok($synced, sprintf('re-sync: a new webhook and the 30 rows with their versions in PostgreSQL (%.1f s)', $t5),
   join "\n", map { "$_: " . $json->encode(status_of($node{$_}) // {}) } @names);
my $webhook3 = $synced ? $synced->{id} : undef;
sleep 1;
my $state5 = $mock->state;
my @w5 = grep { $_->{destinationUrl} eq $dest } @{ $state5->{webhooks} };
my @live5 = grep { !$_->{deleted} } @w5;
ok(@w5 == 3 && @live5 == 1 && $webhook3 && $live5[0]{id} eq $webhook3,
   sprintf('re-sync: exactly one new webhook (%d for the destination, %d live)', scalar @w5, scalar @live5),
   join "\n", map { "$_->{id} deleted=" . ($_->{deleted} ? 1 : 0) . " created $_->{created_at}" } @w5);
{
    my @reqs = @{ $state5->{requests} }[$requests_before .. $#{ $state5->{requests} }];
    # Without the pages of the delta that follows (with delta).
    my @pages = grep { $_->{path} =~ m{/access-clockings$}
                       && ($_->{query} // '') !~ /(?:^|&)delta(?:&|=|$)/ } @reqs;
    my %times;
    $times{ $_->{path} . '?' . ($_->{query} // '') }++ for @pages;
    my @twice = grep { $times{$_} > 1 } sort keys %times;
    ok(@pages > 0 && !@twice,
       sprintf('re-sync: each of the %d pages requested exactly once', scalar keys %times),
       join "\n", map { "$times{$_} x $_" } @twice);
    my %by;
    for my $r (@pages) {
        my ($nm) = grep { ($r->{user_agent} // '') =~ m{\Q$node{$_}{ua}\E} } @names;
        $by{$nm // '?'}++;
    }
    ok(keys %by == 1 && $synced && $by{$synced->{owner}},
       're-sync: every page read by the owner (' . join(', ', map { "$_: $by{$_}" } sort keys %by) . ')');
    ok($synced && $synced->{sync}{rows} >= 30 && $synced->{sync}{pages} == scalar(@pages),
       sprintf('re-sync: status counts %s rows, %s pages',
               $synced ? $synced->{sync}{rows} : '?', $synced ? $synced->{sync}{pages} : '?'));
}

# ---------------------------------------------------------------------------
# 6. The owner stops: the other takes over, no new webhook

my ($own6, $stb6, $s6) = owner_and_standby();
my ($pair6) = $own6 ? [$own6, $stb6, $s6] : wait_for(sub { my @r = owner_and_standby(); @r ? \@r : undef }, 15);
($own6, $stb6, $s6) = @{ $pair6 // [] };
my $current6 = $webhook3 // ($own6 ? $s6->{$own6}{webhook_id} : undef);
if ($own6 && $current6) {
    my $old_owner = $s6->{$own6}{owner};
    my $count6 = scalar webhooks();
    note("stopping node $own6 (owner $old_owner); node $stb6 stands by");
    my $t6 = time;
    stop_node($node{$own6});
    my $stopped = time - $t6;
    my ($took, $t6b) = wait_for(sub {
        my $s = sub_of($node{$stb6}) or return;
        return $s->{state} eq 'active' && $s->{owner} && $s->{owner} ne $old_owner ? $s : undef;
    }, 20);
    my $since_stop = time - $t6;
    ok($took, sprintf('takeover: node %s active as owner %.1f s after the stop (stop took %.1f s; lease 10 s)',
                      $stb6, $since_stop, $stopped),
       $json->encode(sub_of($node{$stb6}) // {}));
    ok($took && ($took->{webhook_id} // '') eq $current6,
       "takeover: node $stb6 carries on with webhook $current6",
       $took ? "shows " . ($took->{webhook_id} // 'none') : '');
    sleep 2;
    my @w6 = webhooks();
    ok(@w6 == $count6 && live_webhooks() == 1,
       sprintf('takeover: no new webhook (%d for the destination, %d live)', scalar @w6, scalar live_webhooks()));
    my ($code) = deliver($node{$stb6}, key_of($current6), 100021, $ver->(1));
    ok($code == 204, "takeover: node $stb6 accepts the current key (204)", "got $code");
    # People: run by the node that is left, with the same webhook.
    my ($p6, $t6p) = wait_for(sub {
        my $p = people_of($node{$stb6}) or return;
        return ($p->{state} // '') eq 'active' ? $p : undef;
    }, 20);
    ok($p6 && $people1 && ($p6->{webhook_id} // '') eq $people1->{webhook}
       && people_webhooks() == 1,
       sprintf('takeover: node %s runs people too, with its one webhook (%.1f s)', $stb6, $t6p),
       $json->encode($p6 // {}));
    my $person = '{"changeType":"InsertOrUpdate","data":{"changeVersion":"'
               . $ver->(1) . '","id":100041,"firstName":"Ada"}}';
    my $pkey = $people1 ? key_of_people($people1->{webhook}) : 'none';
    my $res = $http->post("http://127.0.0.1:$node{$stb6}{port}/hook-people", {
        content => $person,
        headers => { 'Content-Type' => 'application/json',
                     'X-Protime-Signature' => sign($person, $pkey) } });
    my $stored = pg()->selectrow_array(q{SELECT count(*) FROM protime_records }
                                       . q{WHERE collection = 'people' AND id = 100041});
    ok($res->{status} == 204 && $stored == 1,
       "takeover: node $stb6 stores a person signed with people's key",
       "got $res->{status}, $stored rows");
}
else {
    ok(0, 'takeover: no owner/standby pair to test with') for 1 .. 6;
}

# ---------------------------------------------------------------------------
# 7. The database stops and comes back

my ($survivor) = grep { $node{$_}{running} } @names;
my $key7 = $current6 ? key_of($current6) : undef;
if ($survivor && $key7) {
    my $nd = $node{$survivor};
    my ($warm) = deliver($nd, $key7, 100031, $ver->(1));
    note("before the outage: $warm");
    $dbh_cache = undef;
    my $opts_before = opts_file();
    my $opts = pg_stop($pgdir);
    note("PostgreSQL options: $opts");
    # Down for 4 s: longer than the owner's steps (a third of the lease),
    # so that its job meets the outage too.
    my (@down, %states);
    my $t7d = time;
    my $i = 0;
    while (time - $t7d < 4) {
        my ($code, $took) = deliver($nd, $key7, 100032, $ver->(++$i));
        push @down, [$code, $took];
        my $s = sub_of($nd);
        $states{$s->{state}}++ if $s;
        sleep 0.15;
    }
    my $max_took = max map { $_->[1] } @down;
    my %codes; $codes{$_->[0]}++ for @down;
    my $codes = join ', ', map { "$codes{$_} x $_" } sort keys %codes;
    ok(!grep({ $_->[0] != 503 } @down),
       sprintf('database down: node %s answers 503 to each of %d deliveries in 4 s (%s), slowest in %.2f s',
               $survivor, scalar @down, $codes, $max_took));
    ok(!grep({ $_->[0] =~ /^2/ } @down), 'database down: never 2xx');
    note('states shown while the database was down: ' . join ', ', map { "$_ ($states{$_})" } sort keys %states);
    my $t7 = time;
    pg_start($pgdir, $opts);
    my $pg_up = time - $t7;
    my $up_at = time;
    ok(opts_file() eq $opts_before, 'database back: PostgreSQL runs with the options it had',
       "before: $opts_before\nafter: " . opts_file());
    my @codes;
    my ($back, $t7b) = wait_for(sub {
        my ($code) = deliver($nd, $key7, 100032, $ver->(99));
        push @codes, $code;
        $code == 204;
    }, 20);
    my %after; $after{$_}++ for @codes;
    ok($back, sprintf('database back: 204 again %.1f s after it was up (start took %.1f s), no httpd restart',
                      $t7b, $pg_up),
       sprintf('%d answers in %.1f s: %s', scalar @codes, $t7b, join ', ', map { "$after{$_} x $_" } sort keys %after));
    note(sprintf('answers after the restart of PostgreSQL (%.1f s): %s', $t7b, join ' ', @codes));
    my $row = eval { stored(100032) };
    ok($row && $row->{change_version} eq $ver->(99), 'database back: the row is there',
       'row: ' . ($row ? $row->{change_version} : 'none'));
    # A step after the outage renewed the lease: lease_until moved past
    # the restart by (almost) a whole lease.
    my ($active, $t7c) = wait_for(sub {
        my $s = sub_of($nd) or return;
        return unless $s->{state} eq 'active' && $s->{lease_until};
        my $until = iso_time($s->{lease_until}) or return;
        return $until >= int($up_at) + 9;
    }, 25);
    ok($active, sprintf('database back: the subscription is active again, lease renewed (%.1f s)', $t7c),
       $json->encode(sub_of($nd) // {}));

    # PostgreSQL restarted while no delivery came (a nightly restart, a
    # failover): the pooled connections find out on their next use.
    my @warm = run_clients($key7, map { [$survivor, 100100 + $_, $ver->(1)] } 1 .. 40);
    my @wbad = grep { $_->[0] != 204 } @warm;
    note(sprintf('%d concurrent deliveries to node %s before the restart: %d not 204',
                 scalar @warm, $survivor, scalar @wbad));
    my $t7r = time;
    pg_start($pgdir, pg_stop($pgdir));
    my $restart = time - $t7r;
    my @rcodes;
    my ($rback, $t7e) = wait_for(sub {
        my ($code) = deliver($nd, $key7, 100033, $ver->(scalar @rcodes + 1));
        push @rcodes, $code;
        $code == 204;
    }, 20);
    my %ra; $ra{$_}++ for @rcodes;
    ok($rback, sprintf('idle restart of PostgreSQL (%.1f s): 204 again after %.1f s and %d answers (%s)',
                       $restart, $t7e, scalar @rcodes, join ', ', map { "$ra{$_} x $_" } sort keys %ra));
    ok(!grep({ !/^(?:204|503)$/ } @rcodes), 'idle restart of PostgreSQL: only 503 until then');
}
else {
    ok(0, 'database: no running node to test with') for 1 .. 8;
}

# ---------------------------------------------------------------------------

if (failures()) {
    for my $nm (@names) {
        note("[protime: lines of node $nm:\n" . protime_log($node{$nm}));
    }
}
note(sprintf('took %.1f s', time - $t_start));
exit done_testing();
