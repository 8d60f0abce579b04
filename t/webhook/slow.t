# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Slow bodies (issue 17, item 7): a client that sends its body a few bytes
# a second, or stops sending, holds a worker for as long as it likes unless
# someone ends it; without mod_reqtimeout (the test server has none) that
# is the module. After 10 s, a body that came slower than 8 KiB/s on
# average gets 408, also when the client stopped in the middle of a read;
# a body that keeps above that rate is stored however long it takes. The
# three run at once, and a normal delivery is served meanwhile. Ids 995000+.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use IO::Select ();
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);

plan tests => 10, need_lwp;

my $GRACE = 10;             # seconds before the floor applies
my $SLACK = 3;              # a loaded machine's scheduling

sub head_of {
    my ($body) = @_;
    return "POST /hook HTTP/1.1\r\nHost: " . Apache::TestRequest::hostport()
         . "\r\nContent-Type: application/json\r\nX-Protime-Signature: "
         . sign($body) . "\r\nContent-Length: " . length($body) . "\r\n\r\n";
}

# In a child: sends the head, then the body in pieces of $size bytes every
# $every seconds (all of it, or $stop_after pieces), and reads the answer.
# Prints "status seconds" to the pipe it returns, seconds counted from the
# end of the head.
sub slow_client {
    my (%o) = @_;
    pipe my $rd, my $wr or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid) {
        close $wr;
        return $rd;
    }
    close $rd;
    my ($code, $t0) = ('none', time);
    eval {
        local $SIG{PIPE} = 'IGNORE';
        my $sock = Apache::TestRequest::vhost_socket() or die "no socket";
        setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
        syswrite $sock, head_of($o{body});
        $t0 = time;
        my $sel = IO::Select->new($sock);
        my ($off, $pieces, $in) = (0, 0, '');
        my $until = $t0 + $GRACE + 40;
        while (time < $until) {
            if ($off < length $o{body}
                && !($o{stop_after} && $pieces >= $o{stop_after})) {
                my $n = syswrite $sock, $o{body}, $o{size}, $off;
                last unless $n;
                $off += $n;
                $pieces++;
            }
            # An answer may come before the body is all sent.
            if ($sel->can_read($o{every})) {
                my $n = sysread $sock, my $buf, 65536;
                last unless $n;
                $in .= $buf;
                last if $in =~ /\r\n\r\n/;
            }
        }
        ($code) = $in =~ m{^HTTP/1\.1 (\d{3})};
        $code //= 'none';
    };
    print $wr sprintf "%s %.1f\n", $code, time - $t0;
    close $wr;
    POSIX::_exit(0);
}

# A JSON text padded with blanks after its first byte to $size bytes.
sub padded {
    my ($json, $size) = @_;
    substr($json, 1, 0) = ' ' x ($size - length $json);
    return $json;
}

sub result_of {
    my ($rd) = @_;
    my $line = <$rd> // 'none 0';
    close $rd;
    return split ' ', $line;
}

my $before = status_json()->{counters};
my $log_at = error_log_size();

# 1000 bytes at 4 bytes a second: 250 s without the floor.
my $trickle = slow_client(body => padded(json_of(event(995001, 's1')), 1000),
                          size => 2, every => 0.5);
# 100 bytes, then nothing: the server's Timeout without the floor.
my $stalled = slow_client(body => padded(json_of(event(995002, 's1')), 1000),
                          size => 100, every => 0.5, stop_after => 1);
# 150 KB at 10 KB/s for 15 s: slow, but above the floor all along.
my $steady_body = padded(json_of([ map { event(995100 + $_, 's1') } 1 .. 130 ]), 150_000);
my $steady = slow_client(body => $steady_body, size => 10_000, every => 1);

sleep 1;
my $t = time;
my $res = deliver(event(995003, 's1'));
ok t_cmp($res->code, 204, 'a normal delivery is served while the slow ones read');
ok t_cmp(time - $t < 5, 1, '... at once');

my ($code, $secs) = result_of($trickle);
ok t_cmp($code, 408, 'a body at 4 bytes/s: 408');
ok t_cmp($secs >= $GRACE - 0.5 && $secs < $GRACE + $SLACK, 1,
         "... after the $GRACE s grace, not later (took $secs s)");
($code, $secs) = result_of($stalled);
ok t_cmp($code, 408, 'a body that stops coming: 408');
ok t_cmp($secs < $GRACE + $SLACK, 1,
         "... within the grace, not the server's Timeout (took $secs s)");
($code, $secs) = result_of($steady);
ok t_cmp($code, 204, sprintf('a body of %d bytes at 10 KB/s: stored (took %s s)',
                             length $steady_body, $secs));
ok t_cmp(rows_count('id BETWEEN 995101 AND 995230'), 130, '... all its 130 events');
1 while waitpid(-1, POSIX::WNOHANG()) > 0;

my $after = status_json()->{counters};
ok t_cmp($after->{rejected} - $before->{rejected}, 2, 'both counted in rejected');
my @lines = grep { /PT00310:/ } split /\n/, error_log_since($log_at);
ok t_cmp(scalar(grep { /\[protime:info\].*PT00310: .*too slow/ } @lines), 2,
         'each logged at info') or t_debug(join "\n", @lines);
