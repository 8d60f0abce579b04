# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Debian packages mod_protime needs to build, test and run its demo and
# benchmark, and to build its Debian package (debian/, test/debian-package.sh,
# which also runs lintian on it); sourced by tools/run-tests, tools/demo and
# bench/run.
PROTIME_DEPS="build-essential autoconf automake libtool pkg-config
  apache2 apache2-dev libaprutil1-dbd-sqlite3 libaprutil1-dbd-pgsql
  libjansson-dev libcurl4-openssl-dev libssl-dev libpq-dev
  sqlite3 perl libapache2-mod-perl2 libwww-perl libjson-perl
  libdbi-perl libdbd-sqlite3-perl libdbd-pg-perl libhttp-daemon-perl
  dpkg-dev debhelper lintian
  libio-socket-ssl-perl openssl postgresql wrk curl clang libclang-rt-14-dev
  valgrind locales"

# The tests run PostgreSQL's messages in German too (lc_messages; see
# test/unit/test_store.c and test/pgsql-reconnect.pl): the server needs the
# locale among the system's.
PROTIME_TEST_LOCALE=de_DE.UTF-8

# Installs whatever of PROTIME_DEPS is missing (as root), else says what to
# install and fails.
protime_install_deps() {
    local missing=()
    local p
    for p in $PROTIME_DEPS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$p")
    done
    if ((${#missing[@]})); then
        if [[ $(id -u) != 0 ]]; then
            echo "missing Debian packages: ${missing[*]}" >&2
            echo "install them as root: apt-get install ${missing[*]}" >&2
            return 1
        fi
        echo "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
    protime_install_locale
}

# Compiles PROTIME_TEST_LOCALE (as root) unless the system has it.
protime_install_locale() {
    local name=${PROTIME_TEST_LOCALE%%.*}
    locale -a | grep -qix "$name.utf-\?8" && return 0
    if [[ $(id -u) != 0 ]]; then
        echo "missing locale $PROTIME_TEST_LOCALE; as root: localedef -i $name -f UTF-8 $PROTIME_TEST_LOCALE" >&2
        return 1
    fi
    echo "compiling locale: $PROTIME_TEST_LOCALE"
    localedef -i "$name" -f UTF-8 "$PROTIME_TEST_LOCALE"
}
