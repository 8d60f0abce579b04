# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# The API over https: verified against ProtimeCACertificateFile; without
# the right CA every call fails and nothing is created.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest qw(event);
use ProtimeSub;

plan tests => 5, need_lwp;

my $sub = settle('protime_sub_tls', 30);
ok t_cmp(ref $sub, 'HASH', 'subscribed over https with the test CA');
my ($hook) = live_webhooks('protime_sub_tls');
ok t_cmp(deliver_to('protime_sub_tls', event(884001, '0001'), $hook->{key})->code,
         204, 'and its key is accepted');

my $bad = wait_for(sub {
    my $s = sub_status('protime_sub_badca') or return;
    return $s->{subscription}{state} eq 'error' ? $s->{subscription} : undef;
}, 30);
ok t_cmp(ref $bad, 'HASH', 'an untrusted certificate is an error');
ok t_cmp($bad && $bad->{last_error}, qr/certificate|SSL/i,
         'that names the certificate');
ok t_cmp(scalar(webhooks_for('protime_sub_badca')), 0, 'and creates nothing');
