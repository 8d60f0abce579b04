# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Debian packages mod_protime needs. PROTIME_DEMO_DEPS: to build the module
# and run tools/demo (Apache, SQLite, the simulator's Perl modules, curl);
# all tools/demo installs, so that trying the module does not pull in the
# test tool chain. PROTIME_DEPS adds what the tests, the benchmark and the
# Debian package (debian/, test/debian-package.sh, which also runs lintian
# on it) need; sourced by tools/run-tests and bench/run.
PROTIME_DEMO_DEPS="build-essential autoconf automake libtool pkg-config
  apache2 apache2-dev libaprutil1-dbd-sqlite3
  libjansson-dev libcurl4-openssl-dev libssl-dev libpq-dev
  sqlite3 perl libio-socket-ssl-perl libhttp-message-perl curl"
PROTIME_DEPS="$PROTIME_DEMO_DEPS
  libaprutil1-dbd-pgsql libapache2-mod-perl2 libwww-perl libjson-perl
  libdbi-perl libdbd-sqlite3-perl libdbd-pg-perl libhttp-daemon-perl
  dpkg-dev debhelper lintian
  openssl postgresql wrk clang libclang-rt-14-dev
  valgrind locales"

# The tests run PostgreSQL's messages in German too (lc_messages; see
# test/unit/test_store.c and test/pgsql-reconnect.pl): the server needs the
# locale among the system's.
PROTIME_TEST_LOCALE=de_DE.UTF-8

# Installs whatever of PROTIME_DEPS is missing, and PROTIME_TEST_LOCALE
# (as root), else says what to install and fails.
protime_install_deps() {
    protime_install_packages $PROTIME_DEPS
    protime_install_locale
}

# Installs whatever of the packages named is missing (as root), else says
# what to install and fails.
protime_install_packages() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    if [[ $(id -u) != 0 ]]; then
        echo "missing Debian packages: ${missing[*]}" >&2
        echo "install them as root: apt-get install ${missing[*]}" >&2
        return 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
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
