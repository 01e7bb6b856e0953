#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Repository benchmark: each job against its baseline, the two taking turns
# run by run; medians (min-max) and their ratio.
#
#   bench/repo-bench.sh
#
#  1. fsck of a repository of 1 GiB in 10240 objects, against sha256sum of
#     the same files on as many workers as processors (the floor: fsck must
#     read and hash every byte; goal within 1.3x), and against openssl's
#     SHA-256 (which uses the processor's SHA instructions) the same way
#  2. gc of a repository of 48k objects in 8 images after removing 4 names:
#     time and peak memory (no baseline)
#  3. composefs add of a tree into an empty repository against
#     mkcomposefs --digest-store of the same tree into an empty store (goal:
#     at most 10% more)
#  4. an add killed with kill -9 halfway, then run again: the second run
#     against a full add (goal: at most 0.6)
#
# Jobs 3 and 4 write into a new ext4 filesystem (a loop-mounted file) for
# every run when run as root (see fresh()).
#
# Environment:
#   COMPOSEFS, MKCOMPOSEFS  the tools (default: build/tools/)
#   RUNS          runs per figure (default 5)
#   TREE_SOURCE   what job 3 and 4 add (default /usr/share), copied once
#   WORKDIR       scratch space, kept between runs for the generated data
#                 (default /var/tmp/composefs-repo-bench)
#   JOBS          which jobs to run (default "1 2 3 4")
#   SETTLE        seconds to wait after a sync before a timed write job
#                 (default 2)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
COMPOSEFS=${COMPOSEFS:-$top/build/tools/composefs}
MKCOMPOSEFS=${MKCOMPOSEFS:-$top/build/tools/mkcomposefs}
RUNS=${RUNS:-5}
TREE_SOURCE=${TREE_SOURCE:-/usr/share}
WORKDIR=${WORKDIR:-/var/tmp/composefs-repo-bench}
JOBS=${JOBS:-1 2 3 4}
mkdir -p "$WORKDIR"
cd "$WORKDIR"

for tool in "$COMPOSEFS" "$MKCOMPOSEFS"; do
	[ -x "$tool" ] || { echo "no $tool (build first)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }

# timed FILE CMD...: append "seconds peak_kb" of CMD to FILE; CMD must succeed
timed()
{
	local file="$1"
	shift
	/usr/bin/time -o time.txt -f '%e %M' "$@" >/dev/null 2>cmd.err ||
		{ echo "failed: $*" >&2; cat cmd.err >&2; exit 1; }
	tail -n1 time.txt >>"$file"
}

# fresh: an empty ext4 filesystem at $WORKDIR/fs for the next write run
# (as root; otherwise an empty directory after a sync). ext4 does not reuse
# an inode freed in the last 5 minutes while its inode table block is
# dirty, and scans past each one: a run that creates 58k files where 58k
# were just deleted spends seconds in the inode allocator, whoever writes.
# A new filesystem each time keeps that out of the comparison.
fresh()
{
	if [ "$(id -u)" -eq 0 ]; then
		umount "$WORKDIR/fs" 2>/dev/null || true
		rm -f "$WORKDIR/fs.img"
		truncate -s 8G "$WORKDIR/fs.img"
		mkfs.ext4 -q -F "$WORKDIR/fs.img"
		mkdir -p "$WORKDIR/fs"
		mount -o loop "$WORKDIR/fs.img" "$WORKDIR/fs"
	else
		rm -rf "$WORKDIR/fs" && mkdir -p "$WORKDIR/fs"
	fi
	sync
	sleep "${SETTLE:-2}"
}

# summary FILE: "median min max median_peak_kb"
summary()
{
	python3 - "$1" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
t = [float(r[0]) for r in rows]
m = [int(r[1]) for r in rows]
print(f"{statistics.median(t):.3f} {min(t):.3f} {max(t):.3f} {int(statistics.median(m))}")
EOF
}

# row NAME OURS_FILE [BASE_FILE]
row()
{
	local o b om omin omax omem bm bmin bmax bmem
	o=$(summary "$2")
	read -r om omin omax omem <<<"$o"
	if [ -n "${3:-}" ]; then
		b=$(summary "$3")
		read -r bm bmin bmax bmem <<<"$b"
		printf '| %-46s | %7s s (%s-%s) | %7s s (%s-%s) | %5.2fx | %6d MB |\n' \
			"$1" "$om" "$omin" "$omax" "$bm" "$bmin" "$bmax" \
			"$(python3 -c "print($om/$bm)")" $((omem / 1024))
	else
		printf '| %-46s | %7s s (%s-%s) | %-26s | %6s | %6d MB |\n' \
			"$1" "$om" "$omin" "$omax" "-" "-" $((omem / 1024))
	fi
}

echo "composefs:  $COMPOSEFS"
echo "runs:       $RUNS per figure, ours and the baseline taking turns"
echo "processors: $(nproc)"
echo
printf '| %-46s | %-26s | %-26s | %-6s | %-9s |\n' job ours baseline ratio "our peak"
echo "|------------------------------------------------|----------------------------|----------------------------|--------|-----------|"

# 1. fsck against sha256sum
if [[ " $JOBS " == *" 1 "* ]]; then
	if [ ! -f fsck-repo/composefs-repository ]; then
		rm -rf fsck-data fsck-repo && mkdir -p fsck-data
		head -c $((1024 * 1024 * 1024)) /dev/urandom | (cd fsck-data && split -b 102400 -a 4 - f)
		"$COMPOSEFS" --repo fsck-repo init >/dev/null
		"$COMPOSEFS" --repo fsck-repo add fsck-data data >/dev/null
		rm -rf fsck-data
	fi
	n=$(find fsck-repo/objects -type f | wc -l)
	# both read from the page cache: one warm-up each
	"$COMPOSEFS" --repo fsck-repo fsck >/dev/null 2>&1
	rm -f fsck.ours fsck.base fsck.ssl
	for ((i = 0; i < RUNS; i++)); do
		timed fsck.ours "$COMPOSEFS" --repo fsck-repo fsck
		timed fsck.base sh -c "find fsck-repo/objects -type f -print0 | xargs -0 -P$(nproc) -n 256 sha256sum"
		timed fsck.ssl sh -c "find fsck-repo/objects -type f -print0 | xargs -0 -P$(nproc) -n 256 openssl dgst -sha256"
	done
	row "fsck, 1 GiB in $n objects / sha256sum" fsck.ours fsck.base
	row "fsck, same / openssl dgst -sha256 (SHA-NI)" fsck.ours fsck.ssl
fi

# 2. gc of 48k objects after removing half the images
if [[ " $JOBS " == *" 2 "* ]]; then
	if [ ! -f gc-repo/composefs-repository ]; then
		rm -rf gc-repo gc-src
		"$COMPOSEFS" --repo gc-repo init >/dev/null
		for k in $(seq 1 8); do
			python3 - "gc-src/$k" "$k" <<'EOF'
import os, sys
root, k = sys.argv[1], int(sys.argv[2])
for d in range(60):
    os.makedirs(f"{root}/d{d}", exist_ok=True)
    for f in range(100):
        with open(f"{root}/d{d}/f{f}", "wb") as out:
            out.write((f"image {k} dir {d} file {f} " * 8).encode())
EOF
			"$COMPOSEFS" --repo gc-repo add "gc-src/$k" "img$k" >/dev/null
		done
		rm -rf gc-src
	fi
	n=$(find gc-repo/objects -type f | wc -l)
	rm -f gc.ours
	for ((i = 0; i < RUNS; i++)); do
		rm -rf gc-copy && cp -a gc-repo gc-copy
		"$COMPOSEFS" --repo gc-copy rm img1 img3 img5 img7
		sync
		timed gc.ours "$COMPOSEFS" --repo gc-copy gc
	done
	left=$(find gc-copy/objects -type f | wc -l)
	row "gc, $n objects, 4 of 8 images removed ($left left)" gc.ours
	rm -rf gc-copy
fi

# 3. add against mkcomposefs --digest-store, both into empty stores
if [[ " $JOBS " == *" 3 "* || " $JOBS " == *" 4 "* ]]; then
	if [ ! -d tree ]; then
		cp -a "$TREE_SOURCE" tree.tmp && mv tree.tmp tree
	fi
	files=$(find tree -type f | wc -l)
	size=$(du -sm tree | cut -f1)
fi
if [[ " $JOBS " == *" 3 "* ]]; then
	rm -f add.ours add.base
	for ((i = 0; i < RUNS; i++)); do
		fresh
		timed add.base "$MKCOMPOSEFS" --digest-store=fs/store tree fs/store.cfs
		fresh
		"$COMPOSEFS" --repo fs/repo init >/dev/null
		timed add.ours "$COMPOSEFS" --repo fs/repo add tree t
	done
	row "add / mkcomposefs --digest-store ($files files, $size MB)" add.ours add.base
fi

# 4. an add killed halfway, then run again, against a full add
if [[ " $JOBS " == *" 4 "* ]]; then
	rm -f rerun.ours rerun.base
	for ((i = 0; i < RUNS; i++)); do
		fresh
		"$COMPOSEFS" --repo fs/repo init >/dev/null
		timed rerun.base "$COMPOSEFS" --repo fs/repo add tree t
		# halfway through a typical full run: the median so far
		full=$(summary rerun.base | cut -d' ' -f1)
		fresh
		"$COMPOSEFS" --repo fs/repo init >/dev/null
		"$COMPOSEFS" --repo fs/repo add tree t >/dev/null 2>&1 &
		pid=$!
		sleep "$(python3 -c "print($full / 2)")"
		kill -9 "$pid" 2>/dev/null || echo "(run $i finished before the kill)" >&2
		wait "$pid" 2>/dev/null || true
		echo "  killed with $(find fs/repo/objects -type f | wc -l) objects in place" >&2
		sync
		timed rerun.ours "$COMPOSEFS" --repo fs/repo add tree t
	done
	row "add again after kill -9 halfway / full add" rerun.ours rerun.base
fi
[ "$(id -u)" -eq 0 ] && umount "$WORKDIR/fs" 2>/dev/null && rm -f "$WORKDIR/fs.img"
exit 0
