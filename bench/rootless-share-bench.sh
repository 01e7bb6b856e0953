#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Page-cache cost of a shared file through rootless mounts, beside the
# kernel mount, same run: one repository, four names whose images share a
# 256 MiB file (each has a small file of its own too), mounted with
# `composefs --repo R mount NAME DIR`
#  - as root: the kernel mount (EROFS + overlayfs);
#  - as an unprivileged user in `unshare -Urm`, -o noshared: composefs-fuse
#    as it serves an image on its own (the baseline);
#  - the same, by default: composefs-fuse -o shared (one object server).
# For each: the growth of `Cached:` in /proc/meminfo (caches dropped first)
# when the file is read through 1 and through 4 mounts, in copies of the
# file (medians of RUNS), and the read speed through one mount, cold (caches
# dropped) and warm (medians of RUNS); and on a fifth name, a copy of
# LS_TREE (default /usr/include) with a binary: `ls -lR` cold and warm, 20
# runs of the binary (`ls --version`), and the big file read through mmap.
#
# Needs root (the kernel mount, dropping caches; the rootless mounts are made
# by USER_NAME, default nobody; /dev/fuse here is 0600, so (rather than a
# chmod that other programs may undo)
# back: a node of /dev/fuse's that only the user may open is bound over it
# in the user's mount namespace instead). Environment: BUILD (default build/), WORKDIR (default
# /var/tmp/cfs-share-bench), SIZE_MB (default 256), RUNS (default 3).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
BUILD=${BUILD:-$top/build}
CFS=$BUILD/tools/composefs
WORKDIR=${WORKDIR:-/var/tmp/cfs-share-bench}
SIZE_MB=${SIZE_MB:-256}
LS_TREE=${LS_TREE:-/usr/include}
RUNS=${RUNS:-3}
USER_NAME=${USER_NAME:-nobody}

[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
[ -x "$CFS" ] && [ -x "$BUILD/tools/composefs-fuse" ] ||
	{ echo "build first ($BUILD)" >&2; exit 1; }

uid=$(id -u "$USER_NAME")
gid=$(id -g "$USER_NAME")
as_user=(setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all)
holder=
cleanup()
{
	teardown
}
trap cleanup EXIT

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; sleep 0.5; }
cached_kb() { awk '$1 == "Cached:" { print $2 }' /proc/meminfo; }

rm -rf "$WORKDIR"
mkdir -p "$WORKDIR"
chmod 755 "$WORKDIR"
cd "$WORKDIR"
echo "making a repository with four images sharing a ${SIZE_MB} MiB file"
head -c "${SIZE_MB}M" /dev/urandom >big
"$CFS" --repo repo init >/dev/null
for n in 1 2 3 4; do
	mkdir -p "src$n/usr"
	ln big "src$n/usr/big"
	echo "image $n" >"src$n/own"
	"$CFS" --repo repo add "src$n" "n$n" >/dev/null
	mkdir -p "m$n"
done
mkdir -p src5/bin m5
cp -a "$LS_TREE" src5/tree
cp /bin/ls src5/bin/ls
"$CFS" --repo repo add src5 n5 >/dev/null
rm -rf big src1 src2 src3 src4 src5
mkdir -p state
chown -R "$uid:$gid" repo m1 m2 m3 m4 m5 state
mknod fuse c "$((16#$(stat -c %t /dev/fuse)))" "$((16#$(stat -c %T /dev/fuse)))"
chown "$uid:$gid" fuse
chmod 600 fuse

# in_ns CMD...: CMD in the mount namespace of the mounts (as root, whose
# reads overlayfs passes on with the mounter's rights)
in_ns()
{
	if [ -n "$holder" ]; then
		nsenter -t "$holder" -U -m -- "$@"
	else
		"$@"
	fi
}

# setup KIND: the four names mounted on m1..m4
setup()
{
	local kind="$1" i
	case "$kind" in
	kernel)
		for i in 1 2 3 4 5; do "$CFS" --repo repo mount "n$i" "m$i"; done
		;;
	*)
		local opt=""
		[ "$kind" = fuse ] && opt="-o noshared"
		# what the kernel mounts left (mount records) is the user's too
		chown -R "$uid:$gid" repo
		rm -f state/ready
		unshare -m --propagation private sh -c \
			'mount --bind fuse /dev/fuse && exec "$@"' sh \
			"${as_user[@]}" env -u XDG_RUNTIME_DIR unshare -Urm bash -c "
			for i in 1 2 3 4 5; do
				'$CFS' --repo repo mount $opt n\$i m\$i || exit 1
			done
			echo ok >state/ready
			exec sleep 100000" &
		holder=$!
		for ((i = 0; i < 200; i++)); do
			[ -e state/ready ] && break
			kill -0 "$holder" 2>/dev/null || { echo "mounting failed" >&2; exit 1; }
			sleep 0.05
		done
		;;
	esac
}

teardown()
{
	local i
	for i in 1 2 3 4 5; do
		in_ns umount "$WORKDIR/m$i" 2>/dev/null || true
	done
	if [ -n "$holder" ]; then
		kill "$holder" 2>/dev/null || true
		wait "$holder" 2>/dev/null || true
		holder=
	fi
	sleep 0.5
}

# copies N: page cache growth reading the file through m1..mN, in copies
copies()
{
	local n="$1" before after i
	drop
	before=$(cached_kb)
	for ((i = 1; i <= n; i++)); do
		in_ns cat "$WORKDIR/m$i/usr/big" >/dev/null
	done
	after=$(cached_kb)
	awk -v b="$before" -v a="$after" -v s="$SIZE_MB" \
		'BEGIN { printf "%.2f\n", (a - b) / 1024 / s }'
}

# seconds CMD...
seconds()
{
	local s e
	s=$(date +%s.%N)
	"$@" >/dev/null
	e=$(date +%s.%N)
	awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

runs_of_binary()
{
	local i
	for ((i = 0; i < 20; i++)); do
		in_ns "$WORKDIR/m5/bin/ls" --version >/dev/null
	done
}

mmap_read()
{
	in_ns python3 -c '
import mmap, sys
with open(sys.argv[1], "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
    for i in range(0, len(m), 4096):
        m[i]' "$WORKDIR/m1/usr/big"
}

declare -A result more
for kind in kernel fuse shared; do
	echo "measuring: $kind"
	setup "$kind"
	one=() four=() cold=() warm=() lscold=() lswarm=() exe=() mm=()
	for ((r = 0; r < RUNS; r++)); do
		one+=("$(copies 1)")
		four+=("$(copies 4)")
		drop
		cold+=("$(seconds in_ns cat "$WORKDIR/m1/usr/big")")
		warm+=("$(seconds in_ns cat "$WORKDIR/m1/usr/big")")
		warm+=("$(seconds in_ns cat "$WORKDIR/m1/usr/big")")
		mm+=("$(seconds mmap_read)")
		drop
		lscold+=("$(seconds in_ns ls -lR "$WORKDIR/m5")")
		lswarm+=("$(seconds in_ns ls -lR "$WORKDIR/m5")")
		exe+=("$(seconds runs_of_binary)")
	done
	more[$kind]="$(median "${lscold[@]}") $(median "${lswarm[@]}") $(median "${exe[@]}") $(median "${mm[@]}")"
	result[$kind]="$(median "${one[@]}") $(median "${four[@]}") $(median "${cold[@]}") $(median "${warm[@]}")"
	teardown
done

echo
echo "${SIZE_MB} MiB shared file, medians of $RUNS runs"
echo "| mount | page cache, 1 mount | page cache, 4 mounts | cold read | warm read |"
echo "| --- | --- | --- | --- | --- |"
for kind in kernel fuse shared; do
	read -r one four cold warm <<<"${result[$kind]}"
	case $kind in
	kernel) label="kernel (root)" ;;
	fuse) label="composefs-fuse, -o noshared (rootless)" ;;
	shared) label="composefs-fuse -o shared (rootless default)" ;;
	esac
	awk -v l="$label" -v o="$one" -v f="$four" -v c="$cold" -v w="$warm" \
		-v s="$SIZE_MB" -v fw="${result[fuse]##* }" 'BEGIN {
		printf "| %s | %.2f copies | %.2f copies | %.3f s (%.0f MiB/s) | %.3f s (%.0f MiB/s, %.2fx noshared) |\n",
			l, o, f, c, s / c, w, s / w, w / fw }'
done

echo
echo "$(find "$LS_TREE" | wc -l) entries of $LS_TREE, medians of $RUNS runs (warm: after the cold run)"
echo "| mount | ls -lR cold | ls -lR warm | 20 runs of ls --version | mmap read of the big file, warm |"
echo "| --- | --- | --- | --- | --- |"
for kind in kernel fuse shared; do
	read -r lc lw ex mm <<<"${more[$kind]}"
	case $kind in
	kernel) label="kernel (root)" ;;
	fuse) label="composefs-fuse, -o noshared (rootless)" ;;
	shared) label="composefs-fuse -o shared (rootless default)" ;;
	esac
	echo "| $label | $lc s | $lw s | $ex s | $mm s |"
done
