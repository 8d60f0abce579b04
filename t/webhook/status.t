# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# protime-status: counters summed over all server processes, as JSON and
# in the Prometheus text format; the same in mod_status's /server-status.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;

plan tests => 30, need_lwp;

my @names = qw(deliveries_received events_applied events_stale events_deleted
               quarantined signature_failures rejected storage_errors commits);

sub counters { status_json()->{counters} }

# How much each counter moved while $code ran.
sub delta {
    my ($code) = @_;
    my $before = counters();
    $code->();
    my $after = counters();
    return { map { $_ => $after->{$_} - $before->{$_} } @names };
}

my $c = counters();
ok t_cmp(join(',', grep { defined $c->{$_} && $c->{$_} =~ /^\d+$/ } @names),
         join(',', @names), 'JSON has every counter as a number');

my $d = delta(sub { deliver(event(300001, '0001')) });
ok t_cmp($d->{events_applied}, 1, 'a stored event: events_applied +1');
ok t_cmp($d->{deliveries_received}, 1, '... deliveries_received +1');
ok t_cmp($d->{commits} >= 1, 1, '... a commit');

$d = delta(sub { deliver(event(300001, '0001')) });
ok t_cmp($d->{events_stale}, 1, 'the same again: events_stale +1');
ok t_cmp($d->{events_applied}, 0, '... events_applied unchanged');

$d = delta(sub { deliver(delete_event(300001, '0002')) });
ok t_cmp($d->{events_deleted}, 1, 'a Delete: events_deleted +1');
ok t_cmp($d->{events_applied}, 1, '... also an applied event');

$d = delta(sub { deliver(event(300002, '0001'), signature => 'wrong') });
ok t_cmp($d->{signature_failures}, 1, 'a 401: signature_failures +1');

$d = delta(sub { deliver(event(300003, '0001'), content_type => 'text/plain') });
ok t_cmp($d->{rejected}, 1, 'a 415: rejected +1');

$d = delta(sub { GET '/hook' });
ok t_cmp($d->{rejected}, 1, 'a 405: rejected +1');

$d = delta(sub { deliver('{not json') });
ok t_cmp($d->{quarantined}, 1, 'a quarantined body: quarantined +1');

# Prometheus: the same figures, text format.
my $res = GET '/protime-status?format=prometheus';
ok t_cmp($res->code, 200, 'prometheus: 200');
ok t_cmp($res->header('Content-Type'), qr{^text/plain}, 'prometheus: text/plain');
my $text = $res->content;
ok t_cmp($text, qr/^# TYPE protime_events_applied_total counter$/m,
         'prometheus: TYPE line');
ok t_cmp($text, qr/^# HELP protime_events_applied_total \S/m, 'prometheus: HELP line');
my ($prom) = $text =~ /^protime_events_applied_total (\d+)$/m;
ok t_cmp($prom, counters()->{events_applied}, 'prometheus: same value as the JSON');
ok t_cmp(scalar(() = $text =~ /^protime_\w+_total \d+$/mg), scalar(@names),
         'prometheus: one sample per counter');

$res = POST '/protime-status', content => '';
ok t_cmp($res->code, 405, 'POST to the status handler: 405');
ok t_cmp($res->header('Allow') // '', qr/\bGET\b/, '... Allow names GET');

# Summed over processes: 40 deliveries from 4 clients on fresh connections
# land in several server processes; the counter sees all of them.
my $before = counters()->{events_applied};
my @kids;
for my $k (0 .. 3) {
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        Apache::TestRequest::user_agent(reset => 1, keep_alive => 0);
        my $bad = 0;
        for my $i (1 .. 10) {
            $bad++ unless deliver(event(300100 + $k * 10 + $i, '0001'))->code == 204;
        }
        require POSIX;
        POSIX::_exit($bad);
    }
    push @kids, $pid;
}
my $bad = 0;
for (@kids) { waitpid $_, 0; $bad += $? >> 8 }
ok t_cmp($bad, 0, '40 deliveries from 4 clients: all 204');
ok t_cmp(counters()->{events_applied} - $before, 40,
         'events_applied grew by exactly 40, whichever process stored them');

# mod_status's page: the module's section, the same figures.
my %label = (deliveries_received => 'DeliveriesReceived', events_applied => 'EventsApplied',
             events_stale => 'EventsStale', events_deleted => 'EventsDeleted',
             quarantined => 'Quarantined', signature_failures => 'SignatureFailures',
             rejected => 'Rejected', storage_errors => 'StorageErrors', commits => 'Commits');
deliver(event(300200, '0001'));
$c = counters();
$res = GET '/server-status?auto';
ok t_cmp($res->code, 200, '/server-status?auto: 200');
my %auto = $res->content =~ /^(Protime\w+): (.*)$/mg;
ok t_cmp(join(',', grep { defined $auto{"Protime$label{$_}"} } @names), join(',', @names),
         '?auto: a line for every counter');
ok t_cmp($auto{ProtimeEventsApplied}, $c->{events_applied},
         '?auto: events applied, as protime-status has them');
ok t_cmp($auto{ProtimeCommits}, $c->{commits}, '?auto: commits, the same');
# The suite's subscribing virtual hosts, each with its state.
my @dest = grep { /^ProtimeSubscription\d+Destination$/ } keys %auto;
ok t_cmp(scalar(@dest) >= 3, 1, '?auto: one subscription per subscribing server');
ok t_cmp(join(',', map { my ($n) = /(\d+)/; $auto{"ProtimeSubscription${n}State"} =~
                          /^(starting|active|syncing|standby|error)$/ ? 'ok' : 'bad' } @dest),
         join(',', ('ok') x @dest), '?auto: every subscription has a state');
$res = GET '/server-status';
ok t_cmp($res->content, qr{<h2>mod_protime</h2>}, 'HTML: the module has its section');
ok t_cmp($res->content, qr{<th align="left">events_applied</th><td align="right">$c->{events_applied}</td>},
         'HTML: with the counters');
