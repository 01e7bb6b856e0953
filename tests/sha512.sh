#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# SHA-512 fs-verity digests through the tools, checked against
# fsverity-utils: mkcomposefs --hash-alg=sha512 (the printed digest is the
# image's `fsverity digest --hash-alg=sha512`, objects are named by 128 hex
# digits and have those digests; the metacopy xattr's bytes are checked by
# test-writer), composefs-info --hash-alg measure-file, dumps of 128-hex
# digests back into the same image, bad algorithms and mixed digests
# refused. As root: the kernel mount of a SHA-512 image (mount.composefs
# weakdigest= of 128 hex digits: content right, a wrong digest refused,
# digest= and hash-alg= of the other algorithm refused) and composefs-fuse
# checking SHA-512 objects and image digests (a tampered object reads as
# EIO, a wrong digest= is refused).
#
# Needs fsverity (fsverity-utils); skips (1..0 # SKIP) without. The mount
# steps are skipped, visibly, without root, EROFS, overlayfs or FUSE.

set -uo pipefail

tests_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/tap.sh
. "$tests_dir/tap.sh"

tap_require_commands fsverity
mkcomposefs=$(cfs_tool mkcomposefs) || exit 1
info=$(cfs_tool composefs-info) || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/cfs-sha512.XXXXXX")
cleanup()
{
	local m
	for m in "$work"/mnt-*; do
		[ -d "$m" ] || continue
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1

fsv512() { fsverity digest --compact --hash-alg=sha512 "$1"; }

mkdir -p src/dir src/empty
head -c 300000 /dev/urandom >src/big
head -c 4097 /dev/urandom >src/dir/odd
head -c 4096 /dev/urandom >src/dir/block
printf 'small' >src/small
cp src/big src/dir/same-as-big
ln -s dir/odd src/link

# --- mkcomposefs --hash-alg=sha512 --digest-store

printed=$("$mkcomposefs" --hash-alg=sha512 --digest-store=store \
	--print-digest src image.cfs 2>&1)
if [ "${#printed}" -eq 128 ] && [ "$printed" = "$(fsv512 image.cfs)" ]; then
	tap_ok "--print-digest with sha512 is the image's fsverity digest --hash-alg=sha512 (128 hex)"
else
	tap_not_ok "--print-digest with sha512" "printed '$printed', fsverity: $(fsv512 image.cfs)"
fi

bad=""
n=0
while IFS= read -r obj; do
	n=$((n + 1))
	name=${obj#store/}
	name=${name/\//}
	[[ $obj =~ ^store/[0-9a-f]{2}/[0-9a-f]{126}$ ]] || bad+="badly named: $obj"$'\n'
	[ "$(fsv512 "$obj")" = "$name" ] || bad+="digest of $obj is $(fsv512 "$obj")"$'\n'
done < <(find store -type f | sort)
if [ "$n" -eq 3 ] && [ -z "$bad" ]; then
	tap_ok "the store holds 3 objects named ab/<126 hex> by their SHA-512 fs-verity digests"
else
	tap_not_ok "SHA-512 objects" "$n objects; $bad"
fi

big512=$(fsv512 src/big)
line=$("$info" dump image.cfs | grep '^/big ')
if printf '%s' "$line" | grep -q " ${big512:0:2}/${big512:2} - $big512\$"; then
	tap_ok "the dump carries the 128-hex digest and object path"
else
	tap_not_ok "the dump carries the 128-hex digest" "$line"
fi

# --- measure-file

out=$("$info" --hash-alg=sha512 measure-file src/big src/dir/odd)
want=$(printf '%s\n%s' "$big512" "$(fsv512 src/dir/odd)")
if [ "$out" = "$want" ]; then
	tap_ok "composefs-info --hash-alg=sha512 measure-file gives fsverity's digests"
else
	tap_not_ok "measure-file sha512" "got: $out; want: $want"
fi
if [ "$("$info" measure-file src/big)" = "$(fsverity digest --compact src/big)" ]; then
	tap_ok "measure-file without --hash-alg stays SHA-256"
else
	tap_not_ok "measure-file default" "$("$info" measure-file src/big)"
fi
tap_expect 1 "composefs-info --hash-alg=md5 is a usage error (status 1, as the reference's tools)" \
	"$info" --hash-alg=md5 measure-file src/big

# --- dumps of SHA-512 digests

"$info" dump image.cfs >image.dump
again=$("$mkcomposefs" --hash-alg=sha512 --from-file --print-digest \
	image.dump again.cfs 2>&1)
if [ "$again" = "$printed" ] && cmp -s image.cfs again.cfs; then
	tap_ok "the dump written back with --hash-alg=sha512 gives the same image, byte for byte"
else
	tap_not_ok "dump round trip" "$again vs $printed"
fi
only=$("$mkcomposefs" --hash-alg=sha512 --from-file --print-digest-only \
	image.dump 2>&1)
if [ "$only" = "$printed" ]; then
	tap_ok "--print-digest-only with sha512"
else
	tap_not_ok "--print-digest-only with sha512" "$only"
fi

out=$("$mkcomposefs" --from-file image.dump mixed.cfs 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "has a sha512 digest, the image is written with sha256" &&
	[ ! -e mixed.cfs ]; then
	tap_ok "SHA-512 digests in a SHA-256 image are refused, nothing written"
	tap_diag "$out"
else
	tap_not_ok "mixed digests refused" "status $rc: $out"
fi

# --- the default and bad usage

sha256=$("$mkcomposefs" --print-digest-only src 2>&1)
if [ "${#sha256}" -eq 64 ] &&
	[ "$sha256" = "$("$mkcomposefs" --hash-alg=sha256 --print-digest-only src)" ]; then
	tap_ok "without --hash-alg images and digests stay SHA-256"
else
	tap_not_ok "SHA-256 default" "$sha256"
fi
tap_expect 1 "--hash-alg=sha1 is a usage error (status 1, as the reference's tools)" \
	"$mkcomposefs" --hash-alg=sha1 --print-digest-only src
out=$("$mkcomposefs" --hash-alg=sha1 --print-digest-only src 2>&1)
if printf '%s' "$out" | grep -q "unknown hash algorithm 'sha1'"; then
	tap_ok "the message names the algorithm"
else
	tap_not_ok "the message names the algorithm" "$out"
fi

# a SHA-256 store asked for SHA-512 objects: the store's objects are
# SHA-256 ones, and the new ones go in beside them under their names
"$mkcomposefs" --digest-store=store256 src image256.cfs
"$mkcomposefs" --hash-alg=sha512 --digest-store=store256 src image512.cfs
n256=$(find store256 -type f | awk -F/ 'length($3) == 62' | wc -l)
n512=$(find store256 -type f | awk -F/ 'length($3) == 126' | wc -l)
if [ "$n256" -eq 3 ] && [ "$n512" -eq 3 ]; then
	tap_ok "SHA-256 and SHA-512 objects of the same files live side by side in a store"
else
	tap_not_ok "side by side" "$n256 SHA-256 and $n512 SHA-512 objects"
fi

# --- mounts (root) -----------------------------------------------------------

have_fs() { grep -qw "$1" /proc/filesystems || modprobe "$1" >/dev/null 2>&1; grep -qw "$1" /proc/filesystems; }

# same_content MOUNTPOINT: the files read back as the source's
same_content()
{
	cmp -s "$1/big" src/big && cmp -s "$1/dir/odd" src/dir/odd &&
		cmp -s "$1/dir/same-as-big" src/big && [ "$(cat "$1/small")" = small ]
}

mount_composefs=$(cfs_tool mount.composefs) || exit 1
composefs_fuse=$(cfs_tool composefs-fuse 2>/dev/null) || composefs_fuse=""
wrong=$(printf '%s' "$printed" | tr '0-9a-f' '1-9a-f0')

if [ "$(id -u)" -ne 0 ]; then
	tap_skip "kernel mount of a SHA-512 image" "needs root"
elif ! have_fs erofs || ! have_fs overlay; then
	tap_skip "kernel mount of a SHA-512 image" "no EROFS or overlayfs in this kernel"
else
	mkdir mnt-k
	if out=$("$mount_composefs" -o "basedir=$work/store,weakdigest=$printed" \
		image.cfs mnt-k 2>&1) && same_content mnt-k; then
		tap_ok "mount.composefs weakdigest=<128 hex> mounts the SHA-512 image, contents right"
	else
		tap_not_ok "kernel mount of a SHA-512 image" "$out"
	fi
	umount mnt-k 2>/dev/null
	out=$("$mount_composefs" -o "basedir=$work/store,weakdigest=$wrong" \
		image.cfs mnt-k 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && printf '%s' "$out" | grep -q "wrong fs-verity" &&
		! mountpoint -q mnt-k; then
		tap_ok "a wrong 128-hex digest is refused, nothing mounted"
		tap_diag "$out"
	else
		tap_not_ok "a wrong SHA-512 digest is refused" "status $rc: $out"
		umount mnt-k 2>/dev/null
	fi
	out=$("$mount_composefs" -o "basedir=$work/store,weakdigest=$printed,hash-alg=sha256" \
		image.cfs mnt-k 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && printf '%s' "$out" | grep -q "is no sha256 digest"; then
		tap_ok "hash-alg=sha256 with a 128-hex digest is a usage error"
	else
		tap_not_ok "hash-alg= against the digest's length" "status $rc: $out"
		umount mnt-k 2>/dev/null
	fi
	# the SHA-256 digest of the same image is not its SHA-512 one
	sha256_of_image=$(fsverity digest --compact image.cfs)
	out=$("$mount_composefs" -o "basedir=$work/store,weakdigest=$sha256_of_image,hash-alg=sha512" \
		image.cfs mnt-k 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && ! mountpoint -q mnt-k; then
		tap_ok "the image's SHA-256 digest with hash-alg=sha512 is refused"
	else
		tap_not_ok "a digest of the other algorithm is refused" "status $rc: $out"
		umount mnt-k 2>/dev/null
	fi
fi

if [ "$(id -u)" -ne 0 ]; then
	tap_skip "composefs-fuse with SHA-512 objects" "needs root"
elif [ -z "$composefs_fuse" ] || [ ! -x "$composefs_fuse" ]; then
	tap_skip "composefs-fuse with SHA-512 objects" "composefs-fuse is not built"
elif ! have_fs fuse || [ ! -e /dev/fuse ]; then
	tap_skip "composefs-fuse with SHA-512 objects" "no FUSE here"
else
	mkdir mnt-f
	if out=$("$composefs_fuse" -o "basedir=$work/store,digest=$printed" \
		image.cfs mnt-f 2>&1) && same_content mnt-f; then
		tap_ok "composefs-fuse digest=<128 hex> serves the SHA-512 image, every block checked"
	else
		tap_not_ok "composefs-fuse of a SHA-512 image" "$out"
	fi
	umount mnt-f 2>/dev/null
	out=$("$composefs_fuse" -o "basedir=$work/store,digest=$wrong" \
		image.cfs mnt-f 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && printf '%s' "$out" | grep -q "expected $wrong" &&
		! mountpoint -q mnt-f; then
		tap_ok "composefs-fuse refuses a wrong 128-hex digest"
	else
		tap_not_ok "composefs-fuse wrong SHA-512 digest" "status $rc: $out"
		umount mnt-f 2>/dev/null
	fi

	# one byte of the big object changed, in a copy of the store
	cp -a store tampered
	obj=tampered/${big512:0:2}/${big512:2}
	printf 'X' | dd of="$obj" bs=1 seek=200000 conv=notrunc status=none
	for mode in full open; do
		"$composefs_fuse" -o "basedir=$work/tampered,verify=$mode" \
			image.cfs mnt-f 2>/dev/null
		err=$(cat mnt-f/big 2>&1 >/dev/null)
		if [ -n "$err" ] && printf '%s' "$err" | grep -q "Input/output error" &&
			cmp -s mnt-f/dir/odd src/dir/odd; then
			tap_ok "verify=$mode: the tampered SHA-512 object reads as EIO, the others read"
		else
			tap_not_ok "verify=$mode: tampered SHA-512 object" "cat said: $err"
		fi
		umount mnt-f 2>/dev/null
	done
fi

tap_done
