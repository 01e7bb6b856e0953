#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# composefs-info and composefs-dump benchmark: reading a large image (the
# 64k-entry CentOS Stream 9 tree) with our tools and with a baseline
# composefs-info run side by side; time and peak memory, and whether both
# print the same.
#
#   bench/info-bench.sh [BASELINE_COMPOSEFS_INFO]
#
# Environment:
#   BUILD      our build (default build/)
#   BASELINE   the baseline composefs-info (or the first argument); without
#              one only our own figures are printed
#   DUMP       the dump to make the image from (default: cs9-x86_64-developer
#              from ../shared/assets/upstream-composefs)
#   RUNS       runs per figure (default 9; the median is reported)
#   WORKDIR    scratch space (default: a new temporary directory)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
BUILD=${BUILD:-$top/build}
INFO=$BUILD/tools/composefs-info
DUMPTOOL=$BUILD/tools/composefs-dump
MKCOMPOSEFS=$BUILD/tools/mkcomposefs
BASELINE=${1:-${BASELINE:-}}
DUMP=${DUMP:-$top/../shared/assets/upstream-composefs/cs9-x86_64-developer.dump.gz}
RUNS=${RUNS:-9}
WORKDIR=${WORKDIR:-$(mktemp -d)}
mkdir -p "$WORKDIR"

for t in "$INFO" "$DUMPTOOL" "$MKCOMPOSEFS"; do
	[ -x "$t" ] || { echo "no $t (build first)" >&2; exit 1; }
done
[ -f "$DUMP" ] || { echo "no dump at $DUMP" >&2; exit 1; }

# shellcheck source=bench/stats.sh
. "$here/stats.sh"

img="$WORKDIR/image.cfs"
zcat -f "$DUMP" | "$MKCOMPOSEFS" --from-file - "$img"

echo "image:           $(basename "$DUMP") -> $(stat -c %s "$img") bytes"
echo "ours:            $INFO"
echo "baseline:        ${BASELINE:-none}"
echo "runs per figure: $RUNS (median, min-max), image in the page cache"
echo
printf '| %-34s | %-24s | %-24s | %-6s | %-10s | %-10s | %-6s |\n' \
	"job" "ours" "baseline" "time" "ours peak" "base peak" "memory"
printf '|%s|\n' "------------------------------------|--------------------------|--------------------------|--------|------------|------------|--------"

same=()
ours= # set by run_stats
for cmd in dump ls objects; do
	run_stats ours "$INFO" "$cmd" "$img"
	base=
	if [ -n "$BASELINE" ]; then
		run_stats base "$BASELINE" "$cmd" "$img"
		"$INFO" "$cmd" "$img" >"$WORKDIR/ours.txt"
		"$BASELINE" "$cmd" "$img" >"$WORKDIR/base.txt"
		if cmp -s "$WORKDIR/ours.txt" "$WORKDIR/base.txt"; then
			same+=("$cmd: same output")
		else
			same+=("$cmd: OUTPUT DIFFERS")
		fi
	fi
	row "composefs-info $cmd" "$ours" "$base"
done
run_stats ours "$DUMPTOOL" --text "$img" "$WORKDIR/text.dump"
row "composefs-dump (text)" "$ours"
echo
for s in "${same[@]}"; do echo "$s"; done
