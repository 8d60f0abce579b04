# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# ProtimeProxy: the job reaches Protime through a forward proxy, in a
# CONNECT tunnel, with the credentials of ProtimeProxyUser; the TLS to
# Protime is still verified end to end. A refusal by the proxy is reported
# naming the proxy, never its password.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use MIME::Base64 qw(encode_base64);
use ProtimeTest qw(error_log_size error_log_since);
use ProtimeSub;
use ProtimeProxy;

plan tests => 16, need_lwp;

my $vhost = 'protime_sub_proxy';
my $user = 'mod_protime';
my $password = 'proxy-pw-' . int(rand 1e9);
my $auth = 'Basic ' . encode_base64("$user:$password", '');
my $proxy = ProtimeProxy->start(user => $user, password => $password);
my $url = $proxy->url;
my ($mock_port) = $ENV{PROTIME_MOCK_HTTPS_URL} =~ /:(\d+)$/
    or die "PROTIME_MOCK_HTTPS_URL is not set\n";
my $mock = "127.0.0.1:$mock_port";
my $logs = Apache::Test::vars('t_logs');
my $log_start = error_log_size();

# The file t/conf/extra.conf.in includes in $vhost, then a graceful
# restart; none at all with no arguments.
sub configure {
    my (%o) = @_;
    unlink "$logs/proxy-test.conf", "$logs/proxy-user.txt";
    if (%o) {
        open my $uf, '>', "$logs/proxy-user.txt" or die "$logs: $!";
        print $uf "$user:$o{password}\n";
        close $uf;
        open my $cf, '>', "$logs/proxy-test.conf" or die "$logs: $!";
        print $cf "ProtimeSubscribe On\nProtimeProxy $url\n",
            "ProtimeProxyUser file:$logs/proxy-user.txt\n",
            "<Location /hook>\n    SetHandler protime-webhook\n</Location>\n";
        print $cf "ProtimeCACertificateFile $ENV{PROTIME_MOCK_CA}\n" if $o{ca};
        close $cf;
    }
    graceful_restart() or die "the server did not come back\n";
}

sub error_matching {
    my ($re) = @_;
    return wait_for(sub {
        my $s = sub_status($vhost) or return;
        my $sub = $s->{subscription} or return;
        return ($sub->{last_error} // '') =~ $re ? $sub : undef;
    }, 30);
}

# The CONNECTs the proxy saw since $from of them.
sub connects_since {
    my ($from) = @_;
    my @c = $proxy->connects;
    return @c[$from .. $#c];
}

# Wrong credentials: the proxy answers 407.
configure(password => "wrong-$password", ca => 1);
my $err = error_matching(qr/407/);
t_debug('last error: ' . ($err ? $err->{last_error} : 'none'));
ok t_cmp(ref $err, 'HASH', 'credentials refused by the proxy: an error');
ok t_cmp($err && $err->{state}, 'error', 'the subscription is in error');
ok t_cmp($err && $err->{last_error}, qr/through proxy \Q$url\E/,
         'that names the proxy');
my @seen = connects_since(0);
ok t_cmp(scalar(grep { $_->{status} == 407 && $_->{target} eq $mock } @seen)
         > 0, 1, "the proxy refused a CONNECT to $mock");
ok t_cmp(scalar(webhooks_for($vhost)), 0, 'nothing created');

# The right credentials, but Protime's certificate is not trusted (the
# system's CAs): the tunnel does not stand in for verification.
my $from = @seen;
configure(password => $password);
$err = error_matching(qr/certificate|SSL/i);
t_debug('last error: ' . ($err ? $err->{last_error} : 'none'));
ok t_cmp(ref $err, 'HASH', 'an untrusted certificate through the proxy is an error');
ok t_cmp($err && $err->{last_error}, qr/through proxy \Q$url\E/,
         'that names the proxy');
@seen = connects_since($from);
ok t_cmp(scalar(grep { $_->{status} == 200 && $_->{target} eq $mock
                       && $_->{auth} eq $auth } @seen) > 0, 1,
         'the tunnel itself was opened');
ok t_cmp(scalar(webhooks_for($vhost)), 0, 'nothing created');

# The right credentials and CA: subscribed, every call through the proxy.
$from += @seen;
configure(password => $password, ca => 1);
my $sub = settle($vhost, 30);
ok t_cmp(ref $sub, 'HASH', 'subscribed through the proxy');
ok t_cmp(scalar(live_webhooks($vhost)), 1, 'one webhook at Protime');
@seen = connects_since($from);
ok t_cmp(scalar(@seen) > 0, 1, 'the proxy tunnelled the calls');
ok t_cmp(scalar(grep { $_->{target} ne $mock } @seen), 0,
         "each CONNECT for $mock");
ok t_cmp(scalar(grep { $_->{auth} ne $auth || $_->{status} != 200 } @seen), 0,
         'each with the credentials of ProtimeProxyUser, each accepted');

my $log = error_log_since($log_start);
ok t_cmp($log, qr/through proxy \Q$url\E/, 'the error_log names the proxy');
ok t_cmp(index($log, $password), -1, 'but holds no proxy password');

# The server as the other tests expect it.
configure();
$proxy->stop;
