#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# mkcomposefs benchmark: time and peak memory against a baseline command run
# side by side, and digest throughput against plain SHA-256 of the same bytes.
#
#   bench/mkcomposefs-bench.sh [BASELINE_MKCOMPOSEFS]
#
# Environment:
#   MKCOMPOSEFS   the tool under test (default: build/tools/mkcomposefs)
#   BASELINE      the baseline mkcomposefs (or the first argument); without one
#                 only our own figures are printed
#   DUMP          the dump to build from (default: the 64k-entry CentOS
#                 Stream 9 tree from ../shared/assets/upstream-composefs)
#   TREE          the directory for --digest-store runs (default: a copy of
#                 $TREE_SOURCE made once under $WORKDIR)
#   TREE_SOURCE   what to copy when TREE is not given (default /usr/share:
#                 ~1 GB, ~57k files here; /usr itself is 8.6 GB)
#   RUNS          runs per measurement (default 7; the median is reported)
#   STORE_RUNS    runs filling an empty store (default 3)
#   STORE_COLD    when set, the page cache is dropped before each of those
#                 (root only): the tree is read from disk
#   WORKDIR       scratch space (default: a new temporary directory)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
MKCOMPOSEFS=${MKCOMPOSEFS:-$top/build/tools/mkcomposefs}
BASELINE=${1:-${BASELINE:-}}
DUMP=${DUMP:-$top/../shared/assets/upstream-composefs/cs9-x86_64-developer.dump.gz}
RUNS=${RUNS:-7}
WORKDIR=${WORKDIR:-$(mktemp -d)}
mkdir -p "$WORKDIR"

[ -x "$MKCOMPOSEFS" ] || { echo "no mkcomposefs at $MKCOMPOSEFS (build first)" >&2; exit 1; }

# shellcheck source=bench/stats.sh
. "$here/stats.sh"

echo "mkcomposefs under test: $MKCOMPOSEFS"
echo "baseline:               ${BASELINE:-none}"
echo "runs per figure:        $RUNS (median, min-max)"
echo
printf '| %-34s | %-24s | %-24s | %-6s | %-10s | %-10s | %-6s |\n' \
	"job" "ours" "baseline" "time" "ours peak" "base peak" "memory"
printf '|%s|\n' "------------------------------------|--------------------------|--------------------------|--------|------------|------------|--------"

# 1. --from-file on the 64k-entry dump
if [ -f "$DUMP" ]; then
	dump="$WORKDIR/bench.dump"
	case "$DUMP" in *.gz) zcat "$DUMP" >"$dump" ;; *) cp "$DUMP" "$dump" ;; esac
	run_stats ours "$MKCOMPOSEFS" --from-file "$dump" "$WORKDIR/ours.img"
	base=
	if [ -n "$BASELINE" ]; then
		run_stats base "$BASELINE" --from-file "$dump" "$WORKDIR/base.img"
		cmp -s "$WORKDIR/ours.img" "$WORKDIR/base.img" || echo "WARNING: images differ" >&2
	fi
	row "--from-file $(basename "$DUMP")" "$ours" "$base"
else
	echo "(no dump at $DUMP: --from-file skipped)"
fi

# 2. --digest-store on a large real tree
if [ -z "${TREE:-}" ]; then
	TREE="$WORKDIR/tree-copy"
	if [ ! -d "$TREE" ]; then
		cp -a "${TREE_SOURCE:-/usr/share}" "$TREE" 2>/dev/null || true
	fi
fi
files=$(find "$TREE" -type f | wc -l)
bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
# Filling an empty store is mostly disk writes, and noisy: runs alternate
# between the two tools, each into a fresh store after a sync, and the
# median of STORE_RUNS (default 3) is reported.
median_of()
{
	python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin.read().strip().splitlines()]
t = [float(r[0]) for r in rows]; m = [int(r[1]) for r in rows]
print(f"{statistics.median(t):.2f} {min(t):.2f} {max(t):.2f} {int(statistics.median(m))}")'
}
: >"$WORKDIR/fill-ours.txt"
: >"$WORKDIR/fill-base.txt"
# cold: drop the page cache before each run (needs root), so that the tree is
# read from disk as after a fresh checkout; STORE_COLD=1.
settle()
{
	sync
	if [ -n "${STORE_COLD:-}" ]; then
		echo 3 >/proc/sys/vm/drop_caches
	fi
}
for ((i = 0; i < ${STORE_RUNS:-3}; i++)); do
	rm -rf "$WORKDIR/store-ours" "$WORKDIR/store-base"
	settle
	/usr/bin/time -o "$WORKDIR/time.txt" -f '%e %M' "$MKCOMPOSEFS" \
		--digest-store="$WORKDIR/store-ours" "$TREE" "$WORKDIR/ours-tree.img" >/dev/null 2>&1 || true
	tail -n1 "$WORKDIR/time.txt" >>"$WORKDIR/fill-ours.txt"
	if [ -n "$BASELINE" ]; then
		settle
		/usr/bin/time -o "$WORKDIR/time.txt" -f '%e %M' "$BASELINE" \
			--digest-store="$WORKDIR/store-base" "$TREE" "$WORKDIR/base-tree.img" >/dev/null 2>&1 || true
		tail -n1 "$WORKDIR/time.txt" >>"$WORKDIR/fill-base.txt"
	fi
done
ours=$(median_of <"$WORKDIR/fill-ours.txt")
base=
[ -n "$BASELINE" ] && base=$(median_of <"$WORKDIR/fill-base.txt")
row "--digest-store, empty store${STORE_COLD:+, cold}" "$ours" "$base"
run_stats ours "$MKCOMPOSEFS" --digest-store="$WORKDIR/store-ours" "$TREE" "$WORKDIR/ours-tree.img"
base=
if [ -n "$BASELINE" ]; then
	run_stats base "$BASELINE" --digest-store="$WORKDIR/store-base" "$TREE" "$WORKDIR/base-tree.img"
	cmp -s "$WORKDIR/ours-tree.img" "$WORKDIR/base-tree.img" || echo "WARNING: tree images differ" >&2
fi
row "--digest-store, objects present" "$ours" "$base"
echo
echo "tree: $TREE, $files files, $bytes bytes"

# 3. Hashing throughput: our digests of every file (2 threads) against plain
# SHA-256 of the same bytes, also on 2 workers, with the files in page cache.
cat $(find "$TREE" -type f) >/dev/null 2>&1 || true
run_stats ours "$MKCOMPOSEFS" --threads=2 --print-digest-only "$TREE"
run_stats plain bash -c "find '$TREE' -type f -print0 | xargs -0 -P2 -n 2000 openssl dgst -sha256 -r"
read -r om _ _ _ <<<"$ours"
read -r pm _ _ _ <<<"$plain"
python3 - "$bytes" "$om" "$pm" <<'EOF'
import sys
b, o, p = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print()
print("| hashing (2 threads, warm cache)     | seconds | MB/s   |")
print("|-------------------------------------|---------|--------|")
print(f"| mkcomposefs --print-digest-only     | {o:7.3f} | {b/o/1e6 if o else 0:6.0f} |")
print(f"| plain SHA-256 (openssl dgst, -P2)   | {p:7.3f} | {b/p/1e6 if p else 0:6.0f} |")
print(f"ratio (ours / plain SHA-256): {o/p if p else 0:.2f}x  (target <= 1.3x)")
EOF
