# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# The module's tables on PostgreSQL (SPEC.md section 4): change_version
# compares as bytes because its column has the "C" collation, whatever the
# database's default; date is a DATE, not text. Only when the main server
# stores in PostgreSQL (tools/run-tests, third pass). Ids 950000+.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use ProtimeTest;

plan tests => 5,
    need need_lwp,
         { 'the main server stores in SQLite: these checks are for PostgreSQL'
               => sub { db_driver() eq 'pgsql' } };

# The module creates its tables on its first connection.
ok t_cmp(deliver(event(950001, 'a_b', date => '2024-02-29'))->code, 204,
         'a delivery: 204');

sub column {
    my ($column) = @_;
    return db()->selectrow_hashref(
        q{SELECT data_type, collation_name FROM information_schema.columns
          WHERE table_schema = current_schema()
            AND table_name = 'protime_access_clockings' AND column_name = ?},
        undef, $column) || {};
}

my $cv = column('change_version');
ok t_cmp($cv->{collation_name} // 'NULL (the database default)', 'C',
         'change_version has the collation "C"');
ok t_cmp(column('date')->{data_type} // 'no column', 'date', 'date is of type date');

# What the types mean: byte order where a locale would fold or skip "_",
# and a date that reads back as one.
ok t_cmp(deliver(event(950001, 'ab', date => '2024-02-29'))->code, 204, '"ab" after "a_b": 204');
my ($cv_now, $date) = db()->selectrow_array(
    q{SELECT change_version, to_char(date, 'YYYY-MM-DD') FROM protime_access_clockings
      WHERE id = 950001});
ok t_cmp("$cv_now $date", 'ab 2024-02-29', '"ab" beats "a_b" (bytes), date kept as a date');
