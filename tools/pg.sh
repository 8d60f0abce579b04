# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# A private PostgreSQL cluster for the tests: initdb into a scratch
# directory, listening only on a Unix socket in that directory, stopped by
# pg_stop. Sourced by tools/run-tests; never run as root (initdb refuses).
pg_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# pg_start DIR: starts the cluster and prints its libpq conninfo string.
pg_start() {
    local dir=$1 bin
    bin=$(pg_bindir)
    [[ -x $bin/initdb ]] || { echo "PostgreSQL server binaries not found" >&2; return 1; }
    "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; return 1; }
    "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-c listen_addresses='' -k $dir -c fsync=on -c synchronous_commit=on" start >/dev/null \
        || { cat "$dir/server.log" >&2; return 1; }
    echo "host=$dir dbname=postgres user=postgres"
}

pg_stop() {
    local dir=$1
    [[ -d $dir/data ]] && "$(pg_bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
    return 0
}
