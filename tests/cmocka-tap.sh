#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Run a cmocka test program with TAP output. cmocka 1.1 reports a skipped
# test as "not ok N # SKIP", which TAP consumers (meson among them) read as a
# failure; a skip is "ok N # SKIP reason". Everything else passes unchanged,
# and the program's exit status is kept.
set -o pipefail
export CMOCKA_MESSAGE_OUTPUT=TAP
"$@" | sed -u -e 's/^not ok \([0-9][0-9]*\)\(.*\)# SKIP/ok \1\2# SKIP/'
