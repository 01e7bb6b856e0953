#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# mount.composefs mounted and unmounted many times, run by hand (as root):
#
#   tests/soak/mount-cycle.sh [COUNT]        (default 1000)
#
# Alternates the plain mount and one with weakdigest= (a sealed copy of the
# image), checks each mount shows the tree, and afterwards that no mount,
# loop device, EROFS superblock or open descriptor is left behind.
set -euo pipefail

count=${1:-1000}
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${CFS_BUILDDIR:-$top/build}
MOUNT=${MOUNT_COMPOSEFS:-$build/tools/mount.composefs}
MKCOMPOSEFS=${MKCOMPOSEFS:-$build/tools/mkcomposefs}
work=$(mktemp -d /var/tmp/mount-cycle.XXXXXX)
trap 'umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/tree/sub" "$work/mnt"
head -c 100000 /dev/urandom >"$work/tree/sub/file"
digest=$("$MKCOMPOSEFS" --print-digest --digest-store="$work/store" "$work/tree" "$work/image.cfs")

loops_before=$(losetup -a | wc -l)
erofs_before=$(ls /sys/fs/erofs 2>/dev/null | wc -l)
mounts_before=$(wc -l </proc/self/mountinfo)
fds_before=$(ls /proc/$$/fd | wc -l)
start=$(date +%s.%N)
for i in $(seq 1 "$count"); do
	opts="basedir=$work/store"
	[ $((i % 2)) -eq 0 ] && opts="$opts,weakdigest=$digest"
	"$MOUNT" -o "$opts" "$work/image.cfs" "$work/mnt"
	cmp -s "$work/mnt/sub/file" "$work/tree/sub/file" || { echo "FAIL: mount $i shows wrong data"; exit 1; }
	umount "$work/mnt"
done
end=$(date +%s.%N)
sleep 2 # a loop device goes with its EROFS superblock, a moment later
loops_after=$(losetup -a | wc -l)
erofs_after=$(ls /sys/fs/erofs 2>/dev/null | wc -l)
mounts_after=$(wc -l </proc/self/mountinfo)
fds_after=$(ls /proc/$$/fd | wc -l)
echo "$count mounts and unmounts in $(python3 -c "print(f'{$end - $start:.1f}')") s"
echo "loop devices: $loops_before before, $loops_after after"
echo "EROFS superblocks: $erofs_before before, $erofs_after after"
echo "mounts: $mounts_before before, $mounts_after after"
echo "descriptors of this shell: $fds_before before, $fds_after after"
if [ "$loops_after" -gt "$loops_before" ] || [ "$erofs_after" -gt "$erofs_before" ] ||
	[ "$mounts_after" -gt "$mounts_before" ] || [ "$fds_after" -gt "$fds_before" ]; then
	echo "FAIL: something was left behind"
	exit 1
fi
echo "nothing left behind"
