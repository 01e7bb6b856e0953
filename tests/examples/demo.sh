#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# A composefs image from start to finish: install the dependencies, build,
# make a small sample tree, turn it into an image plus an object store with
# mkcomposefs, mount it (EROFS + overlayfs, the store as data-only layer),
# list it, read a file, unmount.
#
# Run as root (installing packages and mounting need it); as another user
# it builds the image and stops before mounting. MKCOMPOSEFS=path uses
# another mkcomposefs than the one built here.

set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

step()
{
	printf '\n==> %s\n' "$*"
}

is_root=
[ "$(id -u)" -eq 0 ] && is_root=1

step "Dependencies"
bash tests/install-deps.sh

mkcomposefs=${MKCOMPOSEFS:-}
if [ -z "$mkcomposefs" ]; then
	step "Build"
	if [ -d build/meson-private ]; then
		meson setup --reconfigure build >/dev/null
	else
		meson setup build >/dev/null
	fi
	ninja -C build
	mkcomposefs="$root/build/tools/mkcomposefs"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/composefs-demo.XXXXXX")
mounted=()
cleanup()
{
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[$i]}" || umount -l "${mounted[$i]}" || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

step "Sample tree in $work/tree"
tree="$work/tree"
mkdir -p "$tree/etc" "$tree/usr/bin" "$tree/usr/share/doc"
printf 'Hello from a composefs image.\n' >"$tree/etc/motd"
printf '#!/bin/sh\necho hello\n' >"$tree/usr/bin/hello"
chmod 755 "$tree/usr/bin/hello"
# Content over 64 bytes goes to the object store; two equal files share one.
seq 1 2000 >"$tree/usr/share/doc/numbers.txt"
cp "$tree/usr/share/doc/numbers.txt" "$tree/usr/share/doc/numbers-copy.txt"
ln -s ../usr/share/doc/numbers.txt "$tree/etc/numbers"
ls -lR "$tree"

step "mkcomposefs --digest-store=$work/store --print-digest $tree $work/demo.cfs"
digest=$("$mkcomposefs" --digest-store="$work/store" --print-digest "$tree" "$work/demo.cfs")
echo "image:  $work/demo.cfs ($(stat -c %s "$work/demo.cfs") bytes)"
echo "digest: $digest"
echo "objects in the store:"
(cd "$work/store" && find . -type f -printf '  %P (%s bytes)\n' | sort)

if [ -z "$is_root" ]; then
	step "Not root: mounting needs root, stopping here"
	exit 0
fi

step "Mount: EROFS on a loop device, overlayfs on top with the store as data-only layer"
mkdir -p "$work/erofs" "$work/mnt"
mount -t erofs -o ro,loop "$work/demo.cfs" "$work/erofs"
mounted+=("$work/erofs")
mount -t overlay overlay \
	-o "ro,metacopy=on,redirect_dir=follow,lowerdir=$work/erofs::$work/store" "$work/mnt"
mounted+=("$work/mnt")
findmnt -R "$work/erofs" || true
findmnt -R "$work/mnt" || true

step "ls -lR $work/mnt"
ls -lR "$work/mnt"

step "cat $work/mnt/etc/motd; head -n 3 $work/mnt/etc/numbers"
cat "$work/mnt/etc/motd"
head -n 3 "$work/mnt/etc/numbers"

step "Unmount"
umount "$work/mnt"
umount "$work/erofs"
mounted=()

composefs=$(dirname "$mkcomposefs")/composefs
if [ -x "$composefs" ]; then
	repo="$work/repo"
	step "A repository: two versions of the tree share their objects"
	"$composefs" --repo "$repo" init
	"$composefs" --repo "$repo" add "$tree" demo-1
	printf 'Version 2.\n' >"$tree/etc/motd"
	seq 1 3000 >"$tree/usr/share/doc/more-numbers.txt"
	"$composefs" --repo "$repo" add "$tree" demo-2
	"$composefs" --repo "$repo" images
	step "composefs mount demo-2 (checked against its digest)"
	"$composefs" --repo "$repo" mount demo-2 "$work/mnt"
	mounted+=("$work/mnt")
	cat "$work/mnt/etc/motd"
	umount "$work/mnt"
	mounted=()
	step "composefs rm demo-1; composefs gc; composefs fsck"
	"$composefs" --repo "$repo" rm demo-1
	"$composefs" --repo "$repo" gc
	"$composefs" --repo "$repo" fsck
fi
echo "done"
