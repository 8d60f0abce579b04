# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use ProtimeTest;

plan tests => 3, need_lwp;

my $res = deliver(event(1, '0001'));
ok t_cmp($res->code, 204, 'a signed event is stored: 204');
my $row = row(1);
ok t_cmp($row && $row->{change_version}, '0001', 'the row holds its changeVersion');
ok t_cmp(status_json()->{counters}{events_applied} >= 1, 1, 'the status counts it');
