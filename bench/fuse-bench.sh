#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# composefs-fuse against the kernel mount of the same image:
#  - `ls -lR` of the 64k-entry CentOS Stream 9 tree, warm and cold (caches
#    dropped before each run);
#  - sequential read of a 1 GiB object with verify=full, verify=none and the
#    kernel mount, each from a fresh mount, with the object in the page cache
#    (warm) and not (cold).
# Prints a table of medians with min and max. Needs root (kernel mount,
# dropping caches).
#
# Environment: BUILD (default build/), DUMP (the dump), WORKDIR (scratch,
# default /var/tmp/cfs-fuse-bench), LS_RUNS (default 10), READ_RUNS
# (default 5), BASELINE_FUSE (another FUSE server to time beside ours,
# such as the reference implementation's composefs-fuse).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
BUILD=${BUILD:-$top/build}
MKCOMPOSEFS=${MKCOMPOSEFS:-$BUILD/tools/mkcomposefs}
FUSE=${COMPOSEFS_FUSE:-$BUILD/tools/composefs-fuse}
DUMP=${DUMP:-$top/../shared/assets/upstream-composefs/cs9-x86_64-developer.dump.gz}
WORKDIR=${WORKDIR:-/var/tmp/cfs-fuse-bench}
LS_RUNS=${LS_RUNS:-10}
READ_RUNS=${READ_RUNS:-5}
# another composefs-fuse to compare with (the reference implementation's
# takes -o source=IMAGE,basedir=DIR MOUNTPOINT), or empty
BASELINE_FUSE=${BASELINE_FUSE:-}

[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
for t in "$MKCOMPOSEFS" "$FUSE"; do
	[ -x "$t" ] || { echo "missing $t (build first)" >&2; exit 1; }
done

mkdir -p "$WORKDIR"
cd "$WORKDIR"
cleanup()
{
	for m in fuse bfuse kernel meta rfuse rkernel rmeta; do
		mountpoint -q "$m" && { fusermount3 -u "$m" 2>/dev/null || umount "$m"; }
	done
	true
}
trap cleanup EXIT
mkdir -p fuse kernel meta rfuse rkernel rmeta

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# time_of CMD...: seconds taken
time_of()
{
	local s e
	s=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	e=$(date +%s.%N)
	awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}

stats()
{
	python3 -c '
import statistics, sys
t = [float(x) for x in sys.argv[1:]]
print(f"{statistics.median(t):.3f} {min(t):.3f} {max(t):.3f}")' "$@"
}

row()
{
	read -r med min max <<<"$2"
	printf '| %-42s | %8s | %8s | %8s |%s\n' "$1" "$med" "$min" "$max" "${3:-}"
}

# --- the cs9 tree: image and placeholder objects of the right sizes
if [ ! -f cs9.img ]; then
	zcat "$DUMP" >cs9.dump
	"$MKCOMPOSEFS" --from-file cs9.dump cs9.img
	python3 - cs9.dump store <<'EOF'
import os, sys
store = sys.argv[2]
for line in open(sys.argv[1], "rb"):
    f = line.split(b" ")
    if len(f) < 11 or f[2].startswith(b"@") or not f[2].startswith(b"10"):
        continue
    if f[8] == b"-" or f[9] != b"-":
        continue
    p = os.path.join(store.encode(), f[8])
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as o:
        o.truncate(int(f[1]))
EOF
fi

echo "composefs-fuse: $FUSE"
echo
printf '| %-42s | %8s | %8s | %8s |\n' "job (seconds)" "median" "min" "max"
printf '|%s|\n' "--------------------------------------------|----------|----------|----------"

mount -t erofs -o ro,loop cs9.img meta
mount -t overlay overlay -o ro,metacopy=on,redirect_dir=follow,lowerdir=meta::store kernel
"$FUSE" -o basedir=store cs9.img fuse
modes=(kernel fuse)
if [ -n "$BASELINE_FUSE" ]; then
	mkdir -p bfuse
	"$BASELINE_FUSE" -o source=cs9.img,basedir=store bfuse
	modes+=(bfuse)
fi

# runs interleaved: one of each mode, then the next round
declare -A warm cold tw tc
for m in "${modes[@]}"; do ls -lR "$m" >/dev/null; done
for ((i = 0; i < LS_RUNS; i++)); do
	for m in "${modes[@]}"; do tw[$m]+=" $(time_of ls -lR "$m")"; done
done
for ((i = 0; i < LS_RUNS; i++)); do
	for m in "${modes[@]}"; do
		drop
		tc[$m]+=" $(time_of ls -lR "$m")"
	done
done
for m in "${modes[@]}"; do
	# shellcheck disable=SC2086
	warm[$m]=$(stats ${tw[$m]})
	# shellcheck disable=SC2086
	cold[$m]=$(stats ${tc[$m]})
done
ratio() { python3 -c "print(f'{float(\"$1\".split()[0]) / float(\"$2\".split()[0]):.2f}x')"; }
row "ls -lR cs9 (64k entries), kernel, warm" "${warm[kernel]}"
row "ls -lR cs9, composefs-fuse, warm" "${warm[fuse]}" " $(ratio "${warm[fuse]}" "${warm[kernel]}") of kernel (target <= 1.3x)"
row "ls -lR cs9, kernel, cold" "${cold[kernel]}"
row "ls -lR cs9, composefs-fuse, cold" "${cold[fuse]}" " $(ratio "${cold[fuse]}" "${cold[kernel]}") of kernel (target <= 1.6x)"
if [ -n "$BASELINE_FUSE" ]; then
	row "ls -lR cs9, baseline FUSE server, warm" "${warm[bfuse]}" " ours $(ratio "${warm[fuse]}" "${warm[bfuse]}") of it"
	row "ls -lR cs9, baseline FUSE server, cold" "${cold[bfuse]}" " ours $(ratio "${cold[fuse]}" "${cold[bfuse]}") of it"
	fusermount3 -u bfuse
fi
fusermount3 -u fuse
umount kernel meta

# --- a 1 GiB object
if [ ! -f big.img ]; then
	mkdir -p bigsrc
	head -c 1G /dev/urandom >bigsrc/big
	"$MKCOMPOSEFS" --digest-store=bigstore bigsrc big.img
	rm -rf bigsrc
fi
obj=$(find bigstore -type f | head -n1)

read_once()
{
	# mount, read everything, unmount: a fresh mount each time
	local how="$1" cache="$2" s e
	case "$how" in
	kernel)
		mount -t erofs -o ro,loop big.img rmeta
		mount -t overlay overlay -o ro,metacopy=on,redirect_dir=follow,lowerdir=rmeta::bigstore rkernel
		dir=rkernel
		;;
	cached)
		"$FUSE" -o "basedir=bigstore,verify=full,treecache=$WORKDIR/trees" big.img rfuse
		dir=rfuse
		;;
	*)
		"$FUSE" -o "basedir=bigstore,verify=$how" big.img rfuse
		dir=rfuse
		;;
	esac
	if [ "$cache" = cold ]; then drop; else cat "$obj" >/dev/null; fi
	s=$(date +%s.%N)
	dd if="$dir/big" of=/dev/null bs=1M status=none
	e=$(date +%s.%N)
	if [ "$how" = kernel ]; then umount rkernel rmeta; else fusermount3 -u rfuse; fi
	awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}

declare -A rd
rm -rf "$WORKDIR/trees"
read_once cached warm >/dev/null # keeps the tree for the runs below
for cache in warm cold; do
	for how in kernel none full cached; do
		t=()
		for ((i = 0; i < READ_RUNS; i++)); do t+=("$(read_once "$how" "$cache")"); done
		rd[$how-$cache]=$(stats "${t[@]}")
	done
done
mbps() { python3 -c "print(f' {1024 / float(\"$1\".split()[0]):.0f} MiB/s')"; }
for cache in warm cold; do
	row "read 1 GiB, kernel mount, $cache" "${rd[kernel-$cache]}" "$(mbps "${rd[kernel-$cache]}")"
	row "read 1 GiB, fuse verify=none, $cache" "${rd[none-$cache]}" "$(mbps "${rd[none-$cache]}")"
	row "read 1 GiB, fuse verify=full, $cache" "${rd[full-$cache]}" "$(mbps "${rd[full-$cache]}"), $(ratio "${rd[kernel-$cache]}" "${rd[full-$cache]}") of kernel throughput (target, warm: >= 1.0 GB/s = 954 MiB/s)"
	row "read 1 GiB, fuse verify=full, tree on disk, $cache" "${rd[cached-$cache]}" "$(mbps "${rd[cached-$cache]}"), $(ratio "${rd[kernel-$cache]}" "${rd[cached-$cache]}") of kernel throughput"
done
