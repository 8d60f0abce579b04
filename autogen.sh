#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

# Generates ./configure from a git checkout (release tarballs ship it).
set -e
cd "$(dirname "$0")"
mkdir -p m4
exec autoreconf --force --install
