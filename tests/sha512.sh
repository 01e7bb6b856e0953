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
dumptool=$(cfs_tool composefs-dump) || exit 1
if "$dumptool" image.cfs rewritten.cfs && cmp -s image.cfs rewritten.cfs &&
	"$dumptool" --text image.cfs exact.dump &&
	"$mkcomposefs" --hash-alg=sha512 --from-file exact.dump exact.cfs &&
	cmp -s image.cfs exact.cfs; then
	tap_ok "composefs-dump rewrites a SHA-512 image byte for byte, and its --text makes it again"
else
	tap_not_ok "composefs-dump of a SHA-512 image" "$(ls -l image.cfs rewritten.cfs exact.cfs 2>&1)"
fi
only=$("$mkcomposefs" --hash-alg=sha512 --from-file --print-digest-only \
	image.dump 2>&1)
if [ "$only" = "$printed" ]; then
	tap_ok "--print-digest-only with sha512"
else
	tap_not_ok "--print-digest-only with sha512" "$only"
fi

guessed=$("$mkcomposefs" --from-file --print-digest image.dump guessed.cfs 2>&1)
if [ "$guessed" = "$printed" ] && cmp -s image.cfs guessed.cfs; then
	tap_ok "without --hash-alg a dump of SHA-512 digests gives its SHA-512 image"
else
	tap_not_ok "the dump's algorithm by default" "$guessed vs $printed"
fi
out=$("$mkcomposefs" --hash-alg=sha256 --from-file image.dump mixed.cfs 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "has a sha512 digest, the image is written with sha256" &&
	[ ! -e mixed.cfs ]; then
	tap_ok "SHA-512 digests in a SHA-256 image (--hash-alg=sha256) are refused, nothing written"
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

# --- repositories -------------------------------------------------------------

composefs=$(cfs_tool composefs) || exit 1
cfs() { "$composefs" --repo "$work/repo" "$@"; }

cfs init --hash-alg=sha512 >/dev/null
if [ "$(cat repo/composefs-repository)" = "composefs-repository 1 sha512" ]; then
	tap_ok "composefs init --hash-alg=sha512 records the algorithm in the marker"
else
	tap_not_ok "the marker records sha512" "$(cat repo/composefs-repository)"
fi
added=$(cfs add src tree 2>&1)
if [ "$added" = "$printed" ] || [ "$added" = "$("$mkcomposefs" --hash-alg=sha512 --print-digest-only src)" ]; then
	tap_ok "add prints the 128-hex digest mkcomposefs --hash-alg=sha512 gives"
else
	tap_not_ok "add in a SHA-512 repository" "$added"
fi
bad=""
n=0
while IFS= read -r obj; do
	n=$((n + 1))
	name=${obj#repo/objects/}
	name=${name/\//}
	[ "$(fsv512 "$obj")" = "$name" ] || bad+="$obj "
done < <(find repo/objects -type f | sort)
if [ "$n" -eq 3 ] && [ -z "$bad" ] && [ -f "repo/images/$added" ] &&
	[ "$(fsv512 "repo/images/$added")" = "$added" ] &&
	[ "$(cat repo/names/tree)" = "$added" ]; then
	tap_ok "its objects, image and name are of SHA-512 digests"
else
	tap_not_ok "SHA-512 repository contents" "$n objects, bad: $bad"
fi
cfs export tree exported.cfs
if [ "$(fsv512 exported.cfs)" = "$added" ] &&
	cfs images | grep -q "$added" &&
	cfs images --json | grep -q "\"digest\": \"$added\""; then
	tap_ok "export checks and writes the image; images lists its 128-hex digest"
else
	tap_not_ok "export and images" "$(cfs images 2>&1)"
fi
if out=$(cfs fsck 2>&1); then
	tap_ok "fsck of the SHA-512 repository finds nothing wrong"
else
	tap_not_ok "fsck of a SHA-512 repository" "$out"
fi
obj=repo/objects/${big512:0:2}/${big512:2}
cp "$obj" saved-object
chmod u+w "$obj"
printf 'X' | dd of="$obj" bs=1 seek=1000 conv=notrunc status=none
out=$(cfs fsck 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && printf '%s' "$out" | grep -q "corrupt-object: objects/${big512:0:2}/${big512:2}"; then
	tap_ok "fsck finds a changed SHA-512 object by its 126-hex name"
else
	tap_not_ok "fsck finds a changed SHA-512 object" "status $rc: $out"
fi
cat saved-object >"$obj"

# mixing refused
out=$("$mkcomposefs" --digest-store=repo/objects src other.cfs 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "give --hash-alg=sha512" &&
	[ "$(find repo/objects -type f | wc -l)" -eq 3 ]; then
	tap_ok "mkcomposefs --digest-store into it without --hash-alg=sha512 is refused, nothing written"
	tap_diag "$out"
else
	tap_not_ok "SHA-256 objects into a SHA-512 repository" "status $rc: $out"
fi
"$mkcomposefs" --digest-store=store256b src image256b.cfs
"$info" dump image256b.cfs >sha256.dump
cp -r store256b/. repo/objects/ 2>/dev/null
out=$(cfs add --from-file sha256.dump from256 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "not a path of the store's layout (sha512" &&
	[ ! -e repo/names/from256 ]; then
	tap_ok "a dump of SHA-256 digests is refused by a SHA-512 repository, no name made"
	tap_diag "$out"
else
	tap_not_ok "SHA-256 dump into a SHA-512 repository" "status $rc: $out"
fi
out=$(cfs fsck 2>&1)
if printf '%s' "$out" | grep -q "stray: objects/.*not named as an object of the repository's algorithm (sha512)"; then
	tap_ok "fsck reports SHA-256 objects put into it as stray"
else
	tap_not_ok "fsck reports SHA-256 objects" "$out"
fi
find repo/objects -type f | awk -F/ 'length($4) == 62' | xargs rm -f

# gc
mkdir other
head -c 7000 /dev/urandom >other/own
cp src/dir/odd other/shared
"$mkcomposefs" --hash-alg=sha512 --digest-store=repo/objects other other.cfs >/dev/null
cfs add --from-file <("$info" dump other.cfs) other >/dev/null
cfs rm tree
out=$(cfs gc 2>&1)
left=$(find repo/objects -type f | wc -l)
odd512=$(fsv512 src/dir/odd)
if [ "$left" -eq 2 ] && [ -f "repo/objects/${odd512:0:2}/${odd512:2}" ] &&
	[ ! -e "repo/objects/${big512:0:2}/${big512:2}" ] &&
	[ ! -e "repo/images/$added" ] && cfs fsck >/dev/null 2>&1; then
	tap_ok "gc removes the image and the SHA-512 objects only it used, keeps the shared one"
else
	tap_not_ok "gc in a SHA-512 repository" "$left objects left: $out"
fi

# import-tar
tar -C src -cf tree.tar .
tar_digest=$(cfs import-tar tree.tar fromtar 2>&1)
if [[ $tar_digest =~ ^[0-9a-f]{128}$ ]] && [ "$(fsv512 "repo/images/$tar_digest")" = "$tar_digest" ] &&
	[ -f "repo/objects/${big512:0:2}/${big512:2}" ] && cfs fsck >/dev/null 2>&1; then
	tap_ok "import-tar into a SHA-512 repository writes SHA-512 objects and image"
else
	tap_not_ok "import-tar into a SHA-512 repository" "$tar_digest"
fi
mk_tar=$("$mkcomposefs" --hash-alg=sha512 --from-tar --print-digest-only tree.tar 2>&1)
if [ "$mk_tar" = "$tar_digest" ]; then
	tap_ok "mkcomposefs --from-tar --hash-alg=sha512 without a store gives import-tar's digest"
else
	tap_not_ok "mkcomposefs --from-tar --hash-alg=sha512 without a store" "$mk_tar vs $tar_digest"
fi

# the marker: an unknown algorithm is refused, naming it
mkdir bad-repo
cp -r repo/. bad-repo/
echo "composefs-repository 1 md5" >bad-repo/composefs-repository
out=$("$composefs" --repo "$work/bad-repo" images 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && printf '%s' "$out" | grep -q "unknown fs-verity algorithm 'md5'"; then
	tap_ok "a marker naming an unknown algorithm is refused, naming it"
else
	tap_not_ok "unknown algorithm in the marker" "status $rc: $out"
fi
tap_expect 2 "init --hash-alg=sha1 is a usage error" "$composefs" --repo "$work/r3" init --hash-alg=sha1

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

if [ "$(id -u)" -ne 0 ]; then
	tap_skip "composefs mount of a SHA-512 repository's image" "needs root"
elif ! have_fs erofs || ! have_fs overlay; then
	tap_skip "composefs mount of a SHA-512 repository's image" "no EROFS or overlayfs"
else
	mkdir mnt-r
	cfs add src tree >/dev/null
	if out=$(cfs mount tree mnt-r 2>&1) && same_content mnt-r; then
		tap_ok "composefs mount (kernel) of a SHA-512 repository's image, contents right"
	else
		tap_not_ok "composefs mount of a SHA-512 image" "$out"
	fi
	umount mnt-r 2>/dev/null
	if [ -n "$composefs_fuse" ] && [ -e /dev/fuse ]; then
		if out=$(cfs mount --fuse tree mnt-r 2>&1) && same_content mnt-r; then
			tap_ok "composefs mount --fuse of it, every block checked with SHA-512"
		else
			tap_not_ok "composefs mount --fuse of a SHA-512 image" "$out"
		fi
		umount mnt-r 2>/dev/null
	fi
fi

tap_done
