#!/bin/sh
# Generates ./configure from a git checkout (release tarballs ship it).
set -e
cd "$(dirname "$0")"
mkdir -p m4
exec autoreconf --force --install
