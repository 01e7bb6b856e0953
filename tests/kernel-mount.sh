#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Build images with mkcomposefs from a source tree holding every kind of
# entry, mount them with the kernel (EROFS on a loop device, overlayfs with
# the object store as a data-only lower layer) and compare what the mount
# shows with the source, entry by entry (tests/manifest.py).
#
# Needs root, EROFS and overlayfs; prints "1..0 # SKIP reason" otherwise.
# MKCOMPOSEFS=path runs it against another mkcomposefs.

set -euo pipefail

tests_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/tap.sh
. "$tests_dir/tap.sh"

manifest=("python3" "$tests_dir/manifest.py")

tap_require_root
tap_require_fs erofs overlay
tap_require_commands python3 losetup setfattr
mkcomposefs= # set by cfs_require_tool
cfs_require_tool mkcomposefs mkcomposefs

work=$(mktemp -d "${TMPDIR:-/tmp}/cfs-kernel-mount.XXXXXX")
src="$work/src"
store="$work/store"
mounted=()

unmount_all()
{
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" 2>/dev/null || true
	done
	mounted=()
}

# Mount points under $work, most recent first (whatever a failed step left).
mounts_under_work()
{
	awk -v prefix="$work/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | tac
}

cleanup()
{
	local image loop dir
	unmount_all
	for dir in $(mounts_under_work); do
		umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null || true
	done
	for image in "$work"/*.img; do
		[ -e "$image" ] || continue
		for loop in $(losetup -j "$image" -O NAME -n 2>/dev/null); do
			losetup -d "$loop" 2>/dev/null || true
		done
	done
	if [ -n "$(mounts_under_work)" ]; then
		echo "# leaving $work in place: something is still mounted there" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# The source tree

make_tree()
{
	python3 "$tests_dir/gen-tree.py" "$1"
}

# ---------------------------------------------------------------------------
# Helpers

# mount_image IMAGE DIR: mount IMAGE (EROFS, loop) and the overlay on DIR.
mount_image()
{
	local image="$1" dir="$2"
	mkdir -p "$dir.erofs" "$dir"
	mount -t erofs -o ro,loop "$image" "$dir.erofs" || return 1
	mounted+=("$dir.erofs")
	mount -t overlay overlay \
		-o "ro,metacopy=on,redirect_dir=follow,lowerdir=$dir.erofs::$store" "$dir" ||
		return 1
	mounted+=("$dir")
}

# compare_manifests DESCRIPTION EXPECTED ACTUAL: one TAP result, the diff as
# diagnostics on failure.
compare_manifests()
{
	local description="$1" expected="$2" actual="$3" difference
	if difference=$(diff -u "$expected" "$actual"); then
		tap_ok "$description"
	else
		tap_not_ok "$description" \
			"$(printf '%s\n' "$difference" | head -n 100; echo "($(printf '%s\n' "$difference" | wc -l) diff lines)")"
	fi
}

# build_image NAME [OPTION...]: build $work/NAME.img from the source; one TAP
# result for the build and one for fsck.erofs. Returns 1 when the build fails.
build_image()
{
	local name="$1" image="$work/$1.img" output description
	shift
	description="$name: mkcomposefs${*:+ $*} builds an image"
	if ! output=$("$mkcomposefs" "$@" --digest-store="$store" "$src" "$image" 2>&1); then
		tap_not_ok "$description" "$output"
		return 1
	fi
	tap_ok "$description"
	if command -v fsck.erofs >/dev/null; then
		tap_check "$name: fsck.erofs accepts the image" fsck.erofs "$image"
	else
		tap_skip "$name: fsck.erofs accepts the image" "fsck.erofs is not installed"
	fi
}

# check_variant NAME MKCOMPOSEFS-OPTIONS SOURCE-MANIFEST-OPTIONS
#     MOUNT-MANIFEST-OPTIONS DESCRIPTION
# Build an image with the options, mount it and compare its manifest with the
# source's, transformed as the options say the image should differ.
check_variant()
{
	local name="$1" mkopts="$2" srcopts="$3" mntopts="$4" description="$5"
	local dir="$work/mnt-$1" output
	# shellcheck disable=SC2086 # the option lists are split on purpose
	if ! build_image "$name" $mkopts; then
		tap_skip "$name: $description" "no image"
		return
	fi
	if ! mount_image "$work/$name.img" "$dir" 2>"$work/mount.err"; then
		tap_not_ok "$name: $description" "mount failed: $(cat "$work/mount.err")"
		unmount_all
		return
	fi
	# shellcheck disable=SC2086
	"${manifest[@]}" $srcopts -o "$work/$name.expected" "$src"
	# shellcheck disable=SC2086
	if ! output=$("${manifest[@]}" $mntopts -o "$work/$name.actual" "$dir" 2>&1); then
		tap_not_ok "$name: $description" "reading the mount failed: $output"
	else
		compare_manifests "$name: $description" "$work/$name.expected" "$work/$name.actual"
	fi
	unmount_all
}

# ---------------------------------------------------------------------------
# The checks

if ! output=$(make_tree "$src" 2>&1); then
	tap_not_ok "source tree generated" "$output"
	tap_done
	exit 1
fi
mkdir -p "$store"
tap_ok "source tree generated ($(find "$src" | wc -l) entries)"

# The plain image: every check in turn.
if build_image default; then
	dir="$work/mnt-default"
	if mount_image "$work/default.img" "$dir" 2>"$work/mount.err"; then
		tap_ok "default: mount EROFS (loop) and overlayfs with the store as data-only layer"
		"${manifest[@]}" --whiteouts-as-files -o "$work/default.expected" "$src"
		if output=$("${manifest[@]}" --whiteouts-as-files -o "$work/default.actual" "$dir" 2>&1); then
			compare_manifests "default: mount matches the source (metadata, xattrs, content)" \
				"$work/default.expected" "$work/default.actual"
			grep 'overlay\.' "$work/default.expected" >"$work/default.expected-overlay" || true
			grep 'overlay\.' "$work/default.actual" >"$work/default.actual-overlay" || true
			compare_manifests "default: overlay xattrs in the mount are the source's own and whiteout marks only" \
				"$work/default.expected-overlay" "$work/default.actual-overlay"
		else
			tap_not_ok "default: mount matches the source (metadata, xattrs, content)" \
				"reading the mount failed: $output"
			tap_skip "default: overlay xattrs in the mount are the source's own and whiteout marks only" \
				"mount not readable"
		fi
		# Without --hardlinks each link is a file of its own, as with the
		# reference mkcomposefs.
		if [ "$(stat -c %i "$dir/hardlinks/big")" != "$(stat -c %i "$dir/hardlinks/big-2")" ]; then
			tap_ok "default: hard links become separate files"
		else
			tap_not_ok "default: hard links become separate files" \
				"$(stat -c '%n: inode %i, %h links' "$dir/hardlinks/big" "$dir/hardlinks/big-2")"
		fi
		size=$(stat -c %s "$dir/files/sparse-100M")
		if [ "$size" -eq $((100 << 20)) ] &&
			[ "$(dd if="$dir/files/sparse-100M" bs=1 skip=$((50 << 20)) count=3 status=none)" = xyz ]; then
			tap_ok "default: sparse file reads back through the store"
		else
			tap_not_ok "default: sparse file reads back through the store" "size $size"
		fi
	else
		tap_not_ok "default: mount EROFS (loop) and overlayfs with the store as data-only layer" \
			"$(cat "$work/mount.err")"
	fi
	unmount_all
	leftover=$(mounts_under_work)
	loops=$(losetup -j "$work/default.img" 2>/dev/null || true)
	if [ -z "$leftover" ] && [ -z "$loops" ]; then
		tap_ok "default: no mounts or loop devices left after umount"
	else
		tap_not_ok "default: no mounts or loop devices left after umount" "$leftover$loops"
	fi
fi

# Every object in the store is named after its fs-verity digest.
if command -v fsverity >/dev/null; then
	bad=$(cd "$store" && find . -type f -printf '%P\n' | sort | while read -r object; do
		digest=$(fsverity digest --compact "$object")
		[ "${object/\//}" = "$digest" ] || echo "$object has digest $digest"
	done)
	count=$(find "$store" -type f | wc -l)
	if [ -z "$bad" ] && [ "$count" -gt 0 ]; then
		tap_ok "store: $count objects, each named after its fs-verity digest"
	else
		tap_not_ok "store: $count objects, each named after its fs-verity digest" "$bad"
	fi
else
	tap_skip "store: objects named after their fs-verity digest" "fsverity is not installed"
fi

# Hard links are kept with --hardlinks (without it each link is its own file).
check_variant hardlinks "--hardlinks" "--whiteouts-as-files --hardlinks" "--hardlinks" \
	"mount keeps the source's hard link groups"

check_variant use-epoch "--use-epoch" "--whiteouts-as-files --zero-mtime" "" \
	"mount matches the source with every mtime 0"
check_variant skip-xattrs "--skip-xattrs" "--whiteouts-as-files --skip-xattrs" "" \
	"mount matches the source without its xattrs"
check_variant user-xattrs "--user-xattrs" "--whiteouts-as-files --user-xattrs" "" \
	"mount matches the source with only user.* xattrs"
# --skip-devices leaves out every device, the 0:0 whiteouts too.
check_variant skip-devices "--skip-devices" "--skip-devices" "" \
	"mount matches the source without character and block devices"

tap_done
