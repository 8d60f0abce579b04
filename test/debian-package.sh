#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# The Debian package, end to end: builds libapache2-mod-protime from a copy
# of the tree with `dpkg-buildpackage -us -uc` (the source package too, for
# lintian's checks of debian/copyright), runs lintian on both, installs it
# with dpkg -i, enables it with a2enmod, starts a private httpd (a free
# loopback port, everything in a scratch directory; not the system's Apache)
# that loads the module through the links a2enmod made, sends it one signed
# delivery with curl and finds the row with sqlite3, configtests the
# system's configuration with the module enabled, then disables and purges
# the package and checks that its files are gone.
#
# Needs root (apt-get, dpkg -i, a2enmod). Installs the Build-Depends and the
# tools it uses when they are missing; those stay installed. Everything else
# is left as it was found, on failure too: the package is purged, and the
# a2enmod state of protime and dbd (links and markers) is put back. Like any
# Apache module package, installing and purging restart the system's Apache
# if it is running (apache2-maintscript-helper).
#
# Prints "ok N - ..." / "not ok N - ..." lines and ends with
# "N passed, M failed"; exits nonzero when a check failed.
#
#   test/debian-package.sh
#   PROTIME_DEB_KEEP=1 test/debian-package.sh    keep the scratch directory
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
pkg=libapache2-mod-protime
mods_avail=/etc/apache2/mods-available
mods_enabled=/etc/apache2/mods-enabled
statedir=/var/lib/apache2/module

n=0 passed=0 failed=0
ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
diag() { sed 's/^/# /'; }
# has_words TEXT WORD...: TEXT holds every WORD, delimited by blanks,
# commas or newlines.
has_words() {
    local words w
    words=$(tr ', ' '\n\n' <<<"$1")
    shift
    for w in "$@"; do grep -qxF -- "$w" <<<"$words" || return 1; done
}
not_grep() { ! grep -q "$@"; }
is_2xx() { [[ $1 == 2[0-9][0-9] ]]; }
finish() {
    echo "$passed passed, $failed failed"
    ((failed == 0))
    exit $?
}

if [[ $(id -u) != 0 ]]; then
    not_ok "run as root: apt-get, dpkg -i and a2enmod need it"
    finish
fi
# dpkg's state of the package: empty or not-installed when it has none.
pkg_status() { dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null; }
pkg_absent() { [[ $(pkg_status) == "" || $(pkg_status) == not-installed ]]; }
if ! pkg_absent; then
    not_ok "$pkg is not installed before the test (it is $(pkg_status); the test would replace and purge it)"
    finish
fi
# Files of a `make install`, which the package would overwrite and its purge
# delete.
for f in /usr/lib/apache2/modules/mod_protime.so "$mods_avail/protime.load" \
         "$mods_avail/protime.conf" /usr/share/mod_protime; do
    if [[ -e $f ]]; then
        not_ok "no mod_protime installed outside the package ($f exists: make uninstall first)"
        finish
    fi
done

# The a2enmod state of a module: its links in mods-enabled and its markers.
a2state() {
    local f
    for f in "$mods_enabled/$1.load" "$mods_enabled/$1.conf"; do
        if [[ -L $f || -e $f ]]; then echo "link $f $(readlink "$f")"; fi
    done
    for f in "$statedir"/*/"$1"; do
        if [[ -e $f ]]; then echo "marker $f"; fi
    done
}
# enabled FILE...: each is a link in mods-enabled to the same file in
# mods-available, as a2enmod makes them; not_enabled FILE...: none is there.
enabled() {
    local f
    for f in "$@"; do
        [[ -L $mods_enabled/$f && $(readlink -f "$mods_enabled/$f") == "$mods_avail/$f" ]] || return 1
    done
}
not_enabled() {
    local f
    for f in "$@"; do [[ ! -e $mods_enabled/$f && ! -L $mods_enabled/$f ]] || return 1; done
}
# Puts a module's a2enmod state back as a2state printed it.
a2restore() {
    local m=$1 saved=$2 kind path target
    [[ $(a2state "$m") == "$saved" ]] && return 0
    rm -f "$mods_enabled/$m.load" "$mods_enabled/$m.conf" "$statedir"/*/"$m"
    while read -r kind path target; do
        case $kind in
            link) ln -s "$target" "$path" ;;
            marker) mkdir -p "$(dirname "$path")" && touch "$path" ;;
        esac
    done <<<"$saved"
}
# Everything a2enmod, a2dismod and the maintainer scripts may change.
apache_state() {
    find "$mods_enabled" /etc/apache2/conf-enabled /etc/apache2/sites-enabled \
        /var/lib/apache2 -printf '%p %l\n' 2>/dev/null | sort
}

saved_dbd=$(a2state dbd)
saved_protime=$(a2state protime)
saved_markerdirs=$(find "$statedir" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort)
saved_all=$(apache_state)
# The a2enmod state of protime and dbd as it was, and no marker directory
# (enabled_by_admin, ...) that a2enmod or a2dismod made for them.
restore_a2state() {
    local d
    a2restore protime "$saved_protime"
    a2restore dbd "$saved_dbd"
    for d in "$statedir"/*/; do
        d=${d%/}
        grep -qxF -- "$d" <<<"$saved_markerdirs" || rmdir "$d" 2>/dev/null
    done
}

work=$(mktemp -d /tmp/protime-deb.XXXXXX)
chmod 755 "$work"
httpd_conf=$work/httpd/httpd.conf
httpd_pid=$work/httpd/httpd.pid

stop_httpd() {
    local pid
    [[ -f $httpd_pid ]] || return 0
    pid=$(cat "$httpd_pid" 2>/dev/null)
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
    apache2 -f "$httpd_conf" -k stop 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}
# On every exit: the private httpd stopped, the package purged, the a2enmod
# state put back, the scratch directory removed.
cleanup() {
    trap - EXIT INT TERM
    stop_httpd
    if ! pkg_absent; then
        echo "# cleanup: purging $pkg"
        dpkg --purge "$pkg" 2>&1 | diag
    fi
    restore_a2state
    if [[ -n ${PROTIME_DEB_KEEP:-} ]]; then
        echo "# kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_install() {
    ((apt_updated)) || { apt-get update -q >/dev/null 2>&1; apt_updated=1; }
    apt-get install -y -q --no-install-recommends "$@" >"$work/apt.log" 2>&1 \
        || { diag <"$work/apt.log"; return 1; }
}

# The tools this test uses, then the copy of the tree and its Build-Depends.
tools="dpkg-dev debhelper apache2 curl sqlite3 openssl libaprutil1-dbd-sqlite3 lintian"
missing=()
for p in $tools; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "# installing: ${missing[*]}"
    apt_install "${missing[@]}" || { not_ok "apt-get install ${missing[*]}"; finish; }
fi

# Only what the repository holds (tools/source-files): no .git and no build
# products of a developer's build.
src=$work/src
mkdir -p "$src"
"$top/tools/source-files" | tar -C "$top" --null -T - -cf - | tar -C "$src" -xf -
products=$(cd "$src" && find . \( -name '*.o' -o -name '*.lo' -o -name '*.la' -o -name .libs \
    -o -name config.status -o -path ./Makefile -o -path ./configure -o -path ./debian/$pkg \) -print)
check "a copy of the tree without build products (configure, Makefile, objects)" test -z "$products"
[[ -z $products ]] || echo "$products" | diag

build_deps=$(cd "$src" && perl -MDpkg::Control::Info -e \
    'print Dpkg::Control::Info->new("debian/control")->get_source->{"Build-Depends"} // ""')
if ! (cd "$src" && dpkg-checkbuilddeps >/dev/null 2>&1); then
    echo "# installing the Build-Depends: $(echo $build_deps)"
    ((apt_updated)) || { apt-get update -q >/dev/null 2>&1; apt_updated=1; }
    apt-get satisfy -y -q --no-install-recommends "$build_deps" >"$work/apt.log" 2>&1 || diag <"$work/apt.log"
fi
builddeps_ok() { (cd "$src" && dpkg-checkbuilddeps); }
check "the Build-Depends are installed (dpkg-checkbuilddeps)" builddeps_ok

version=$(cd "$src" && dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
deb=$work/${pkg}_${version}_${arch}.deb
changes=$work/${pkg}_${version}_${arch}.changes
start=$SECONDS
if (cd "$src" && dpkg-buildpackage -us -uc) >"$work/build.log" 2>&1 && [[ -f $deb && -f $changes ]]; then
    ok "dpkg-buildpackage -us -uc builds the source and $(basename "$deb") ($((SECONDS - start)) s)"
else
    not_ok "dpkg-buildpackage -us -uc builds the source and $(basename "$deb")"
    tail -40 "$work/build.log" | diag
    finish
fi

contents=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's,^\./,/,')
want="/usr/lib/apache2/modules/mod_protime.so $mods_avail/protime.load $mods_avail/protime.conf
      /usr/share/mod_protime/schema-sqlite3.sql /usr/share/mod_protime/schema-pgsql.sql"
missing_files=()
for f in $want; do grep -qx "$f" <<<"$contents" || missing_files+=("$f"); done
check "the package holds mod_protime.so, protime.load, protime.conf and the schema files" \
    test ${#missing_files[@]} -eq 0
((${#missing_files[@]} == 0)) || echo "missing: ${missing_files[*]}" | diag
depends=$(dpkg-deb -f "$deb" Depends)
check "it depends on apache2-api-20120211 (dh_apache2) and on its libraries (shlibs)" \
    has_words "$depends" apache2-api-20120211 libjansson4
echo "Depends: $depends" | diag
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)
check "protime.load and protime.conf are conffiles" \
    has_words "$conffiles" "$mods_avail/protime.load" "$mods_avail/protime.conf"
if command -v lintian >/dev/null; then
    # The .changes: the binary packages and the source package, whose
    # checks are the ones that read debian/copyright's licences.
    lintian -E "$changes" 2>/dev/null >"$work/lintian.log"
    check "lintian finds no error in the source and binary packages" not_grep '^E:' "$work/lintian.log"
    diag <"$work/lintian.log"
fi

# The system's configuration before: configtested again with the module
# enabled, if it was valid to begin with.
apache2ctl -t >"$work/configtest-before.log" 2>&1
configtest_before=$?

if dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1; then
    ok "dpkg -i installs it"
else
    not_ok "dpkg -i installs it"
    diag <"$work/dpkg-i.log"
    finish
fi
check "its postinst enables protime and dbd (apache2-maintscript-helper)" \
    enabled protime.load protime.conf dbd.load

a2dismod -q protime >"$work/a2dismod.log" 2>&1
check "a2dismod protime removes its links" not_enabled protime.load protime.conf
if a2enmod protime >"$work/a2enmod.log" 2>&1; then
    ok "a2enmod protime"
else
    not_ok "a2enmod protime"
fi
diag <"$work/a2enmod.log"
check "the links protime.load, protime.conf and dbd.load are in mods-enabled" \
    enabled protime.load protime.conf dbd.load

if ((configtest_before == 0)); then
    if apache2ctl -t >"$work/configtest.log" 2>&1; then
        ok "apache2ctl -t: the system's configuration with protime enabled"
    else
        not_ok "apache2ctl -t: the system's configuration with protime enabled"
        diag <"$work/configtest.log"
    fi
else
    echo "# skip: the system's configuration failed apache2ctl -t before the package was installed:"
    diag <"$work/configtest-before.log"
fi

# A private httpd: its own ServerRoot, pid file, logs and port, loading the
# module and mod_dbd through the links a2enmod made.
port=$(perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1) or exit 1; print $s->sockport')
key="deb-test-key-$$-$RANDOM"
db=$work/db/protime.db
modules=/usr/lib/apache2/modules
mkdir -p "$work/httpd/logs" "$work/httpd/run"
cat >"$httpd_conf" <<CONF
# test/debian-package.sh: a private httpd with the installed package.
ServerRoot $work/httpd
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile $httpd_pid
DefaultRuntimeDir $work/httpd/run
ErrorLog $work/httpd/logs/error_log
LogLevel warn protime:info
User www-data
Group www-data
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
# What a2enmod protime enabled, as /etc/apache2/apache2.conf includes it.
Include $mods_enabled/dbd.load
Include $mods_enabled/protime.load
Include $mods_enabled/protime.conf

DBDriver sqlite3
DBDParams $db

<Location /hook>
    SetHandler protime-webhook
    ProtimeWebhookKey $key
</Location>
CONF

if apache2 -t -f "$httpd_conf" >"$work/configtest-private.log" 2>&1; then
    ok "apache2 -t: a configuration using the installed module"
else
    not_ok "apache2 -t: a configuration using the installed module"
    diag <"$work/configtest-private.log"
fi
if apache2 -f "$httpd_conf" -k start >"$work/start.log" 2>&1; then
    up=0
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && { up=1; break; }
        sleep 0.1
    done
    check "the private httpd answers on 127.0.0.1:$port" test $up = 1
else
    not_ok "the private httpd starts"
    diag <"$work/start.log"
    tail -20 "$work/httpd/logs/error_log" 2>/dev/null | diag
fi

# One access clocking, as t/lib/ProtimeTest.pm's event(4242, '0001'),
# signed with base64(HMAC-SHA256(key, body)).
body='{"changeType":"InsertOrUpdate","data":{"changeVersion":"0001","date":"2026-11-20","id":4242,"person":{"id":123152},"status":"AccessOk","terminal":{"id":12},"timeOfDayInMinutes":482}}'
printf '%s' "$body" >"$work/body.json"
sig=$(openssl dgst -sha256 -hmac "$key" -binary <"$work/body.json" | base64 -w0)
deliver() {
    curl -s -o "$work/response" -w '%{http_code}' -H 'Content-Type: application/json' \
        -H "X-Protime-Signature: $1" --data-binary @"$work/body.json" "http://127.0.0.1:$port/hook"
}
code=$(deliver "$(printf '%s' wrong | base64)")
check "a delivery with a wrong signature is refused: $code" test "$code" = 401
code=$(deliver "$sig")
check "the signed delivery is accepted: $code" is_2xx "$code"
[[ $code == 2?? ]] || { diag <"$work/response"; tail -20 "$work/httpd/logs/error_log" | diag; }
row=$(sqlite3 -separator '|' "$db" \
    "SELECT id, change_version, deleted, person_id, date, time_of_day_minutes, terminal_id, status
       FROM protime_access_clockings" 2>&1)
check "sqlite3 finds its row in $db: $row" test "$row" = "4242|0001|0|123152|2026-11-20|482|12|AccessOk"

if stop_httpd; then ok "the private httpd stops"; else not_ok "the private httpd stops"; fi

a2dismod -q protime >"$work/a2dismod.log" 2>&1
check "a2dismod protime" not_enabled protime.load protime.conf
if dpkg --purge "$pkg" >"$work/purge.log" 2>&1; then
    ok "dpkg --purge $pkg"
else
    not_ok "dpkg --purge $pkg"
    diag <"$work/purge.log"
fi
left=()
for f in /usr/lib/apache2/modules/mod_protime.so "$mods_avail/protime.load" "$mods_avail/protime.conf" \
         /usr/share/mod_protime /usr/share/doc/$pkg "$mods_enabled/protime.load" "$mods_enabled/protime.conf" \
         "$statedir"/*/protime; do
    [[ -e $f || -L $f ]] && left+=("$f")
done
check "its files, links and a2enmod markers are gone" test ${#left[@]} -eq 0
((${#left[@]} == 0)) || echo "left: ${left[*]}" | diag
check "dpkg no longer knows $pkg" pkg_absent

restore_a2state
check "mods-enabled and the a2enmod state are as before" test "$(apache_state)" = "$saved_all"
[[ $(apache_state) == "$saved_all" ]] || diff <(echo "$saved_all") <(apache_state) | diag

finish
