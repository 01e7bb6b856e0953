#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Build and test everything: the plain build (build/) and an ASan+UBSan build
# (build-asan/) each run the whole meson test suite, then the format check
# runs. The last line counts every TAP result of all of it:
# "N passed, N failed, N skipped". Exits 1 when anything failed.
#
# Tests that need root (kernel mounts) are skipped, and counted as skipped,
# when not run as root.

set -euo pipefail

cd "$(dirname "$0")/.."

# setup_and_test DIR [MESON-OPTION...]: configure DIR (reconfigure when it
# exists), build it and run the test suite; failures are left to the count.
setup_and_test()
{
	local dir="$1"
	shift
	echo "=== $dir: configure and build"
	rm -f "$dir/meson-logs/testlog.json"
	# A build tree that cannot be reconfigured (or a failed setup's
	# leftovers) is set up afresh.
	if ! { [ -f "$dir/meson-private/coredata.dat" ] &&
		meson setup --reconfigure "$dir" "$@"; }; then
		rm -rf "$dir"
		if ! meson setup "$dir" "$@"; then
			echo "run-all: configuring $dir failed"
			return 0
		fi
	fi
	if ! ninja -C "$dir"; then
		echo "run-all: building $dir failed"
		return 0
	fi
	echo "=== $dir: test"
	meson test -C "$dir" --print-errorlogs || true
}

setup_and_test build

ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	setup_and_test build-asan -Db_sanitize=address,undefined -Db_lundef=false

echo "=== format check"
mkdir -p build
format_status=0
tests/format-check.sh || format_status=$?
case "$format_status" in
0) echo "ok 1 - format" ;;
77) echo "ok 1 - format # SKIP clang-format is not installed" ;;
*) echo "not ok 1 - format" ;;
esac | tee build/format-check.tap

echo "=== results"
exec python3 tests/count-tap.py \
	build/meson-logs/testlog.json \
	build-asan/meson-logs/testlog.json \
	build/format-check.tap
