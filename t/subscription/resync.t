# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Disabled or expired: a new webhook, then a full re-synchronisation that
# pages through GET /access-clockings in windows of at most a year (the
# mock refuses longer ones) from ProtimeSyncFrom (2020-01-01 here),
# following every nextLink (the first page of each window is empty), and
# applies each item with the changeVersion rule.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use POSIX ();
use ProtimeTest qw(error_log_size error_log_since);
use ProtimeSub;

plan tests => 20, need_lwp;

my $vhost = 'protime_sub';
my $db = sub_db($vhost);

# 40 clockings over the last two years, 7 to a page.
sub day { POSIX::strftime('%Y-%m-%d', gmtime(time - $_[0] * 86400)) }
my @items = map {
    { id => 770000 + $_, changeVersion => sprintf('%020d', 1000 + $_),
      person => { id => 42 }, date => day($_ * 18), timeOfDayInMinutes => 60,
      terminal => { id => 7 }, status => 'AccessOk' }
} 1 .. 40;
mock()->clockings(items => \@items);
mock()->config(page_size => 7);

sub synced {
    my ($version_of) = @_;
    my %have = map { @$_ } @{ $db->selectall_arrayref(
        'SELECT id, change_version FROM protime_access_clockings '
        . 'WHERE id BETWEEN 770001 AND 770040') };
    return 40 == grep { ($have{$_->{id}} // '') eq $version_of->($_) } @items;
}

my $log_start = error_log_size();
my $sub = settle($vhost, 30);
ok $sub;
my $first = $sub->{webhook_id};
my $requests_before = scalar @{ mock()->state->{requests} };

# Protime disables the webhook.
mock()->webhook($first, status => 'Disabled');
my $second = wait_for(sub {
    my $s = sub_status($vhost) or return;
    my $id = $s->{subscription}{webhook_id} // '';
    return $id ne $first && $s->{sync}{finished_at} && !$s->{sync}{running}
           && $s->{subscription}{state} eq 'active' ? $id : undef;
}, 40);
ok $second;
t_debug("replaced $first by $second");
my ($old) = grep { $_->{id} eq $first } webhooks_for($vhost);
ok t_cmp($old->{deleted} ? 1 : 0, 1, 'the disabled webhook was deleted');
ok t_cmp(scalar(live_webhooks($vhost)), 1, 'one live webhook');
ok synced(sub { $_[0]{changeVersion} }), 1;
t_debug('every clocking was stored by the re-synchronisation');
# The vhost's ProtimeExternalReferences, asked for by the re-sync too.
my ($refs) = $db->selectrow_array(
    'SELECT person_refs FROM protime_access_clockings WHERE id = 770001');
ok t_cmp($refs // 'NULL', '{"@badge-number":"67670042"}',
         're-synchronised rows carry the external references');

# The re-synchronisation's pages, this server's (its User-Agent); those
# with delta start the delta that follows it (t/subscription/reconcile.t).
my @lists = grep { $_->{path} =~ m{/access-clockings$}
                   && ($_->{user_agent} // '') =~ m{^mod_protime-tests/}
                   && ($_->{query} // '') !~ /(?:^|&)delta(?:&|=|$)/ }
            @{ mock()->state->{requests} }[$requests_before .. $#{ mock()->state->{requests} }];
ok t_cmp(scalar(grep { $_->{status} != 200 } @lists), 0,
         'no window was refused (each at most a year)');
my @firsts = grep { ($_->{query} // '') !~ /continuationToken/ } @lists;
ok t_cmp(scalar(grep { ($_->{query} // '') !~ /externalReferences=/ } @lists), 0,
         'every page asked for the external references');
# The pages there are: an empty first page in each window with items, then
# one per 7 items.
# The last window ends tomorrow (UTC), the last date a clocking can have
# somewhere ahead of UTC: on 31 December, one more window.
my ($windows, $pages) = (0, 0);
my $last_year = (gmtime(time + 86400))[5] + 1900;
for my $year (2020 .. $last_year) {
    my $n = grep { $_->{date} =~ /^$year-/ } @items;
    $windows++;
    $pages += $n ? 1 + int(($n + 6) / 7) : 1;
}
ok t_cmp(scalar(@firsts), $windows, 'one window a year from 2020-01-01');
ok t_cmp(scalar(@lists), $pages, 'every nextLink followed, each page once');

my $st = sub_status($vhost);
ok t_cmp($st->{sync}{rows}, 40, 'status: 40 rows');
ok t_cmp($st->{sync}{pages}, scalar(@lists), 'status: every page counted');
ok $st->{sync}{finished_at} =~ /^\d{4}-/;
my $prom = sub_prometheus($vhost);
ok t_cmp($prom, qr/^protime_sync_rows\{collection="access-clockings"\} 40$/m, 'prometheus: sync rows');
my $log = error_log_since($log_start);
ok t_cmp($log, qr/Protime disabled it/, 'the reason is logged');
ok t_cmp($log, qr/re-synchronisation for \S+: finished, \d+ pages, 40 rows/,
         'the end of the sync is logged');

# Changes made while no webhook delivered, then the webhook expires.
mock()->clockings(bump => [770001 .. 770040]);
my %bumped = map { $_->{id} => 1 } @items;
mock()->webhook($second, validUntil => '2020-01-01T00:00:00+00:00');
ok wait_for(sub {
    my $s = sub_status($vhost) or return;
    return ($s->{subscription}{webhook_id} // '') ne $second
           && $s->{sync}{finished_at} && !$s->{sync}{running};
}, 40);
t_debug('the expired webhook was replaced and the table re-read');
ok t_cmp(error_log_since($log_start), qr/it expired/, 'expiry is logged');
my %version = map { @$_ } @{ $db->selectall_arrayref(
    'SELECT id, change_version FROM protime_access_clockings '
    . 'WHERE id BETWEEN 770001 AND 770040') };
ok t_cmp(scalar(grep { $version{$_->{id}} gt $_->{changeVersion} } @items), 40,
         'every row moved to the newer version');
ok t_cmp(scalar(live_webhooks($vhost)), 1, 'still one live webhook');

mock()->config(page_size => 50);
