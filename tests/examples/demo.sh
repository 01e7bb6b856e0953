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

	step "A container image: an OCI layout made here with umoci, two tags sharing their base layer"
	oci="$work/oci"
	umoci init --layout "$oci"
	umoci new --image "$oci:v1"
	umoci unpack --image "$oci:v1" "$work/bundle1" >/dev/null
	cp -a "$tree/." "$work/bundle1/rootfs/"
	umoci repack --image "$oci:v1" "$work/bundle1"
	umoci unpack --image "$oci:v1" "$work/bundle2" >/dev/null
	printf 'Version 3, in a layer of its own.\n' >"$work/bundle2/rootfs/etc/motd"
	rm "$work/bundle2/rootfs/usr/share/doc/numbers-copy.txt"
	umoci repack --image "$oci:v2" "$work/bundle2"
	rm -rf "$work/bundle1" "$work/bundle2"
	cat "$oci/index.json"; echo

	step "composefs oci import: the layers stream into the store, nothing is unpacked"
	"$composefs" --repo "$repo" oci import -v "oci:$oci:v1" app-1
	"$composefs" --repo "$repo" oci import -v "oci:$oci:v2" app-2
	"$composefs" --repo "$repo" images

	step "composefs mount app-2 (kernel: EROFS + overlayfs)"
	"$composefs" --repo "$repo" mount app-2 "$work/mnt"
	mounted+=("$work/mnt")
	findmnt "$work/mnt" || true
	ls -l "$work/mnt/etc" "$work/mnt/usr/share/doc"
	cat "$work/mnt/etc/motd"
	umount "$work/mnt"
	mounted=()

	if command -v setpriv >/dev/null && [ -c /dev/fuse ] &&
		[ -x "$(dirname "$mkcomposefs")/composefs-fuse" ]; then
		step "Without root: the user nobody imports the same image into a repository of its own and mounts it with composefs-fuse (every byte checked against its digest)"
		user="$work/user"
		mkdir -p "$user/mnt"
		cp -a "$oci" "$user/oci"
		chown -R nobody:nogroup "$user"
		chmod 755 "$work"
		as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
		# distributions ship /dev/fuse 0666 (some machines have 0600)
		fuse_mode=$(stat -c %a /dev/fuse)
		chmod 0666 /dev/fuse
		as_nobody "$composefs" --repo "$user/repo" init
		as_nobody "$composefs" --repo "$user/repo" oci import "oci:$user/oci:v2" app
		as_nobody "$composefs" --repo "$user/repo" mount app "$user/mnt"
		mounted+=("$user/mnt")
		findmnt "$user/mnt" || true
		as_nobody cat "$user/mnt/etc/motd"
		as_nobody head -n 3 "$user/mnt/usr/share/doc/numbers.txt"
		as_nobody fusermount3 -u "$user/mnt"
		mounted=()
		chmod "$fuse_mode" /dev/fuse
	fi
fi
echo "done"
