# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use DBI ();
use File::Copy ();

# A batch that gets no usable connection (SPEC.md section 3): the SQLite
# file overwritten with something that is not a database, or a schema
# whose statements cannot be prepared. Either way 503 with Retry-After,
# nothing stored, storage_errors + 1 and PT00307 saying why; and once the
# file is right again, the same delivery is stored, without a restart.
# On the protime_fragile server (t/conf/extra.conf.in), whose every batch
# opens a connection of its own: a connection readied once would keep its
# statements. The other failures (a lock held past the wait, a statement
# refused, a commit refused, a batch behind one that gave up) are in
# t/webhook/storage.t. Ids 810000+.

plan tests => 13, need_lwp;

Apache::TestRequest::module('protime_fragile');

my $file = Apache::Test::vars('serverroot') . '/db/fragile.db';
my $saved = "$file.saved";

sub errors { status_json()->{counters}{storage_errors} // 0 }
sub fragile_rows {
    my ($id) = @_;
    my $h = DBI->connect("dbi:SQLite:dbname=$file", '', '',
                         { RaiseError => 1, PrintError => 0 });
    my ($n) = $h->selectrow_array(
        'SELECT count(*) FROM protime_access_clockings WHERE id = ?', undef, $id);
    $h->disconnect;
    return $n;
}
# The file only, its WAL and shared memory gone: no connection is open
# between deliveries here.
sub replace_file {
    my ($from) = @_;
    unlink "$file-wal", "$file-shm";
    File::Copy::copy($from, $file) or die "copy $from: $!";
}

ok t_cmp(deliver(event(810001, 'a1'))->code, 204, 'warm-up delivery: 204');
File::Copy::copy($file, $saved) or die "copy $file: $!";

# 1. No usable connection: the file is not a database.
{
    my $garbage = "$file.garbage";
    open my $fh, '>', $garbage or die "$garbage: $!";
    print $fh "This is not an SQLite database.\n" x 128;
    close $fh;
    replace_file($garbage);
    my $errors = errors();
    my $log = error_log_size();
    my $res = deliver(event(810002, 'b1'));
    ok t_cmp($res->code, 503, 'file not a database: 503');
    ok t_cmp($res->header('Retry-After') // 'none', qr/^[1-9]\d*$/,
             'file not a database: Retry-After in seconds');
    ok t_cmp(errors() - $errors, 1, 'file not a database: storage_errors grew by 1');
    ok t_cmp(error_log_since($log), qr/PT00307: delivery not stored, answering 503: .*not a database/,
             'file not a database: PT00307 says why');
    replace_file($saved);
    ok t_cmp(fragile_rows(810002), 0, 'file not a database: the event is not stored');
    ok t_cmp(deliver(event(810002, 'b1'))->code, 204, 'the database back: the same delivery: 204');
    ok t_cmp(fragile_rows(810002), 1, 'the database back: stored');
}

# 2. No usable connection: a statement cannot be prepared (a column the
# module writes is missing; the schema's CREATE ... IF NOT EXISTS passes).
{
    my $h = DBI->connect("dbi:SQLite:dbname=$file", '', '', { RaiseError => 1, PrintError => 0 });
    $h->do('ALTER TABLE protime_quarantine RENAME COLUMN reason TO why');
    $h->disconnect;
    my $errors = errors();
    my $log = error_log_size();
    my $res = deliver(event(810003, 'c1'));
    ok t_cmp($res->code, 503, 'statement not prepared: 503');
    ok t_cmp($res->header('Retry-After') // 'none', qr/^[1-9]\d*$/,
             'statement not prepared: Retry-After in seconds');
    ok t_cmp(errors() - $errors, 1, 'statement not prepared: storage_errors grew by 1');
    ok t_cmp(error_log_since($log), qr/PT00307: delivery not stored, answering 503: .*preparing.*reason/,
             'statement not prepared: PT00307 names the statement');
    ok t_cmp(fragile_rows(810003), 0, 'statement not prepared: the event is not stored');
    replace_file($saved);
}
unlink $saved, "$file.garbage";
