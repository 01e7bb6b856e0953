#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# mount.composefs and the library's mount API against the real kernel: mount
# images built by mkcomposefs from a generated tree (tests/mount-tree.py) and
# compare the mount with the source (tests/manifest.py); several object
# stores, digest=, verity and tryverity, upperdir/workdir, ro, mount(8)
# through `mount -t composefs`, idmap; and that nothing is left behind: no
# mount, no loop device, no EROFS superblock, also after 50 cycles, after a
# failure, after a missing object or a corrupt image.
#
# Needs root, EROFS and overlayfs; prints "1..0 # SKIP reason" otherwise.
# MOUNT_COMPOSEFS=path and MKCOMPOSEFS=path run it against other builds.

set -uo pipefail

tests_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/tap.sh
. "$tests_dir/tap.sh"

manifest=("python3" "$tests_dir/manifest.py")

tap_require_root
tap_require_fs erofs overlay
tap_require_commands python3 losetup sha256sum strace
mkcomposefs= mcfs= # set by cfs_require_tool
cfs_require_tool mkcomposefs mkcomposefs
cfs_require_tool mcfs mount.composefs

work=$(mktemp -d "${TMPDIR:-/tmp}/cfs-mount.XXXXXX")
# A name of our own for the image: the sealed copy behind a digest= mount
# carries it ("/memfd:composefs:NAME"), so our loop devices can be told
# from those of anything else running.
tag="cfs-mount-test-${work##*.}"
image="$work/$tag.img"
src="$work/src"
store="$work/store"
mnt="$work/mnt"
sbin_link=""
userns_pid=""

mounts_under_work()
{
	awk -v prefix="$work/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | tac
}

our_loops()
{
	losetup -a 2>/dev/null | grep -F -e "$tag" -e "$work/" || true
}

erofs_superblocks()
{
	ls /sys/fs/erofs 2>/dev/null | grep -vx features | sort || true
}

cleanup()
{
	local dir loop
	for dir in $(mounts_under_work); do
		umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null || true
	done
	for loop in $(our_loops | cut -d: -f1); do
		losetup -d "$loop" 2>/dev/null || true
	done
	[ -n "$sbin_link" ] && rm -f "$sbin_link"
	[ -n "$userns_pid" ] && kill "$userns_pid" 2>/dev/null
	if [ -n "$(mounts_under_work)" ]; then
		echo "# leaving $work in place: something is still mounted there" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# leftovers: what a mount left behind after its umount; empty when nothing.
# The loop device of a sealed copy goes when the EROFS superblock does,
# which may take the kernel a moment. A superblock cannot be told from that
# of another program's EROFS mount made meanwhile (meson runs this test
# alone), so a new one only counts when it is still there 3 s later.
leftovers()
{
	local i out
	for ((i = 0; i < 150; i++)); do
		out="$(mounts_under_work)$(our_loops)$(comm -13 <(printf '%s\n' "$erofs_before") <(erofs_superblocks))"
		[ -z "$out" ] && return 0
		sleep 0.02
	done
	printf '%s\n' "$out"
}

# check_clean DESCRIPTION: one TAP line, nothing left behind.
check_clean()
{
	local left
	left=$(leftovers)
	if [ -z "$left" ]; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "left behind: $left"
	fi
}

# mount_ok DESCRIPTION OPTIONS [IMAGE [TARGET]]: mount.composefs succeeds.
mount_ok()
{
	local output
	if output=$("$mcfs" -o "$2" "${3:-$image}" "${4:-$mnt}" 2>&1); then
		tap_ok "$1"
	else
		tap_not_ok "$1" "mount.composefs -o $2: $output"
		return 1
	fi
}

# mount_fails DESCRIPTION OPTIONS PATTERN [IMAGE]: exit status 1, a message
# matching PATTERN (grep -E), and nothing mounted.
mount_fails()
{
	local output status=0
	output=$("$mcfs" -o "$2" "${4:-$image}" "$mnt" 2>&1) || status=$?
	if [ "$status" -eq 1 ] && printf '%s\n' "$output" | grep -qE "$3" &&
		[ -z "$(mounts_under_work)" ]; then
		tap_ok "$1"
		tap_diag "$output"
	else
		tap_not_ok "$1" "status $status, output: $output$(mounts_under_work)"
	fi
}

# compare DESCRIPTION DIR [MANIFEST-OPTION...]: DIR shows the source tree.
compare()
{
	local description="$1" dir="$2" difference
	shift 2
	if ! "${manifest[@]}" --hardlinks "$@" -o "$work/actual" "$dir" 2>"$work/manifest.err"; then
		tap_not_ok "$description" "reading the mount: $(cat "$work/manifest.err")"
	elif difference=$(diff -u "$work/expected" "$work/actual"); then
		tap_ok "$description"
	else
		tap_not_ok "$description" "$(printf '%s\n' "$difference" | head -n 60)"
	fi
}

unmount()
{
	umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
}

# ---------------------------------------------------------------------------

erofs_before=$(erofs_superblocks)

if ! output=$(python3 "$tests_dir/mount-tree.py" "$src" 2>&1); then
	tap_not_ok "source tree generated" "$output"
	tap_done
	exit 1
fi
tap_ok "source tree generated ($(find "$src" | wc -l) entries)"
mkdir -p "$mnt"
if ! digest=$("$mkcomposefs" --hardlinks --print-digest --digest-store="$store" "$src" "$image" 2>&1); then
	tap_not_ok "mkcomposefs builds the image" "$digest"
	tap_done
	exit 1
fi
tap_ok "mkcomposefs builds the image ($(find "$store" -type f | wc -l) objects)"
"${manifest[@]}" --hardlinks --whiteouts-as-files -o "$work/expected" "$src"
image_sum=$(sha256sum <"$image")
store_sum=$(cd "$store" && find . -type f | sort | xargs sha256sum | sha256sum)

# --- the plain mount --------------------------------------------------------

erofs_mounts_before=$(grep -c ' - erofs ' /proc/self/mountinfo)
if mount_ok "mount.composefs mounts the image (basedir=STORE)" "basedir=$store"; then
	compare "the mount shows the source tree (metadata, xattrs, hard links, content)" "$mnt"
	fstype=$(awk -v m="$mnt" '$5 == m { for (i = 7; $i != "-"; i++); print $(i + 1), $(i + 2) }' /proc/self/mountinfo)
	if [ "$fstype" = "overlay composefs" ] &&
		[ "$(grep -c ' - erofs ' /proc/self/mountinfo)" -eq "$erofs_mounts_before" ] &&
		[ "$(mounts_under_work | wc -l)" -eq 1 ]; then
		tap_ok "only the overlay is visible: the EROFS mount is attached nowhere"
	else
		tap_not_ok "only the overlay is visible: the EROFS mount is attached nowhere" \
			"$(grep -e erofs -e "$work" /proc/self/mountinfo)"
	fi
	unmount
fi
check_clean "after umount no mount, loop device or EROFS superblock is left"

# An image on a block device (here a loop device of our own) mounts the same.
if dev=$(losetup --find --show --read-only "$image" 2>&1); then
	if mount_ok "an image on a block device mounts" "basedir=$store" "$dev"; then
		compare "an image on a block device: the mount shows the source tree" "$mnt"
		unmount
	fi
	losetup -d "$dev"
else
	tap_skip "an image on a block device mounts" "no loop device: $dev"
fi
check_clean "after an image on a block device, nothing is left"

# --- several object stores --------------------------------------------------

# Every other object in a second store, the rest in the first.
mkdir -p "$work/store-a" "$work/store-b"
cp -al "$store/." "$work/store-a/"
cp -al "$store/." "$work/store-b/"
i=0
while read -r object; do
	if ((i++ % 2)); then rm "$work/store-a/$object"; else rm "$work/store-b/$object"; fi
done < <(cd "$store" && find . -type f | sort)
if mount_ok "two stores (basedir=A:B), objects split between them" "basedir=$work/store-a:$work/store-b"; then
	compare "two stores: the mount shows the whole source tree" "$mnt"
	unmount
fi

# A store whose name holds the option separators, escaped.
odd_store="$work/odd,st:ore\\x"
cp -al "$store" "$odd_store"
odd_escaped=$(printf '%s' "$odd_store" | sed 's/[,:\\]/\\&/g')
if mount_ok "a basedir named with ',' ':' '\\' (escaped as \\, \\: \\\\)" "basedir=$odd_escaped"; then
	if cmp -s "$mnt/files/size-70000" "$src/files/size-70000"; then
		tap_ok "odd store name: objects read from it"
	else
		tap_not_ok "odd store name: objects read from it"
	fi
	unmount
fi

# --- digest= and weakdigest= -----------------------------------------------

# digest= is the reference's: the image file must have fs-verity (a file in
# a temporary directory has none here, on any kernel), whatever the digest,
# and the refusal comes before anything about the objects.
mount_fails "digest=: an image without fs-verity is refused, with the right digest too" \
	"basedir=$store,digest=$digest" "^mount.composefs: Failed to mount composefs $image: Image has no fs-verity\$"
wrong=$(printf '%s' "$digest" | tr '0-9a-f' '1-9a-f0')
mount_fails "digest=: an image without fs-verity is refused with a wrong digest" \
	"basedir=$store,digest=$wrong" "Image has no fs-verity"
mount_fails "digest= that is not 64 hex digits is a usage error" \
	"basedir=$store,digest=abc" "invalid digest"
mount_fails "digest= and weakdigest= exclude each other" \
	"basedir=$store,digest=$digest,weakdigest=$digest" "exclude each other"

if mount_ok "weakdigest= with the image's digest mounts" "basedir=$store,weakdigest=$digest"; then
	compare "weakdigest=: the mount shows the source tree" "$mnt"
	if our_loops | grep -q "memfd:composefs:$tag"; then
		tap_ok "weakdigest=: the measured sealed copy is what is mounted (loop device over it)"
	else
		tap_not_ok "weakdigest=: the measured sealed copy is what is mounted (loop device over it)" "$(losetup -a)"
	fi
	unmount
fi
check_clean "weakdigest=: after umount the loop device and the copy are gone"

cp "$image" "$work/changing.img"
if mount_ok "weakdigest=: mount a copy of the image" "basedir=$store,weakdigest=$digest" "$work/changing.img"; then
	head -c 8192 /dev/urandom | dd of="$work/changing.img" conv=notrunc status=none
	truncate -s 4096 "$work/changing.img"
	if "${manifest[@]}" --hardlinks -o "$work/actual" "$mnt" && diff -q "$work/expected" "$work/actual" >/dev/null; then
		tap_ok "weakdigest=: overwriting the image file afterwards does not change the mount"
	else
		tap_not_ok "weakdigest=: overwriting the image file afterwards does not change the mount"
	fi
	unmount
fi

mount_fails "weakdigest= with another digest is refused, naming both digests" \
	"basedir=$store,weakdigest=$wrong" "Image has wrong fs-verity.*$digest.*$wrong"
mount_fails "weakdigest= that is not 64 hex digits is a usage error" \
	"basedir=$store,weakdigest=abc" "invalid digest"

# --- signature= and signed-by= ---------------------------------------------

helper=${VERITY_HELPER:-$CFS_BUILDDIR/tests/verity-helper}
if ! command -v openssl >/dev/null || [ ! -x "$helper" ]; then
	tap_skip "signature= and signed-by=" "openssl or $helper is missing"
elif ! { openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/k1.pem" \
	-out "$work/c1.pem" -subj /CN=one -days 2 2>/dev/null &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/k2.pem" \
		-out "$work/c2.pem" -subj /CN=two -days 2 2>/dev/null &&
	"$helper" sign "sha256:$digest" "$work/k1.pem" "$work/c1.pem" >"$work/image.sig" &&
	"$helper" sign "sha256:$wrong" "$work/k1.pem" "$work/c1.pem" >"$work/wrong.sig"; }; then
	tap_not_ok "signatures of the image's digest are made" "openssl or verity-helper failed"
else
	if mount_ok "weakdigest= with a signature of the digest by a trusted certificate mounts" \
		"basedir=$store,weakdigest=$digest,signature=$work/image.sig,signed-by=$work/c2.pem:$work/c1.pem"; then
		compare "signed: the mount shows the source tree" "$mnt"
		unmount
	fi
	mount_fails "a signature by another certificate is refused" \
		"basedir=$store,weakdigest=$digest,signature=$work/image.sig,signed-by=$work/c2.pem" \
		"Image has no valid signature: its digest $digest"
	mount_fails "a signature of another digest is refused" \
		"basedir=$store,weakdigest=$digest,signature=$work/wrong.sig,signed-by=$work/c1.pem" \
		"Image has no valid signature"
	mount_fails "signature= alone needs an image with fs-verity, as digest= does" \
		"basedir=$store,signature=$work/image.sig,signed-by=$work/c1.pem" "Image has no fs-verity"
	mount_fails "signature= without signed-by= is a usage error" \
		"basedir=$store,weakdigest=$digest,signature=$work/image.sig" "go together"
	mount_fails "a missing signature file is refused, naming it" \
		"basedir=$store,weakdigest=$digest,signature=$work/none.sig,signed-by=$work/c1.pem" "none.sig"
fi

# --- verity and tryverity ---------------------------------------------------

if [ -d /proc/sys/fs/verity ]; then
	tap_skip "verity is refused on a kernel without fs-verity" "this kernel has fs-verity"
else
	mount_fails "verity is refused on a kernel without fs-verity, pointing to tryverity and composefs-fuse" \
		"basedir=$store,verity" "kernel has no fs-verity.*tryverity.*composefs-fuse"
fi
if mount_ok "tryverity mounts" "basedir=$store,tryverity"; then
	if find "$mnt" -type f -exec cat {} + >/dev/null; then
		tap_ok "tryverity: every file reads (no verity=require where the kernel cannot verify)"
	else
		tap_not_ok "tryverity: every file reads (no verity=require where the kernel cannot verify)" \
			"$(grep "$mnt" /proc/self/mountinfo)"
	fi
	unmount
fi

# --- upperdir, workdir, ro --------------------------------------------------

mkdir -p "$work/upper" "$work/work"
if mount_ok "upperdir= and workdir= give a writable mount" \
	"basedir=$store,upperdir=$work/upper,workdir=$work/work"; then
	if echo new >"$mnt/new-file" && echo changed >"$mnt/files/size-4097" &&
		rm "$mnt/files/size-1" && [ "$(cat "$mnt/files/size-4097")" = changed ]; then
		tap_ok "upperdir: create, change and delete files through the mount"
	else
		tap_not_ok "upperdir: create, change and delete files through the mount"
	fi
	unmount
	if [ "$(cat "$work/upper/new-file" 2>&1)" = new ] &&
		[ "$(cat "$work/upper/files/size-4097" 2>&1)" = changed ] &&
		[ "$(stat -c %F:%t:%T "$work/upper/files/size-1" 2>&1)" = "character special file:0:0" ]; then
		tap_ok "upperdir: after umount the changes are in the upper directory"
	else
		tap_not_ok "upperdir: after umount the changes are in the upper directory" "$(ls -lR "$work/upper")"
	fi
	if [ "$(sha256sum <"$image")" = "$image_sum" ] &&
		[ "$(cd "$store" && find . -type f | sort | xargs sha256sum | sha256sum)" = "$store_sum" ]; then
		tap_ok "upperdir: the image and the store are unchanged"
	else
		tap_not_ok "upperdir: the image and the store are unchanged"
	fi
fi
if mount_ok "ro with an upperdir mounts" "basedir=$store,upperdir=$work/upper,workdir=$work/work,ro"; then
	output=$(touch "$mnt/another" 2>&1)
	if [ -e "$work/upper/another" ] || ! printf '%s' "$output" | grep -q "Read-only"; then
		tap_not_ok "ro: writing fails with EROFS" "$output"
	elif [ "$(cat "$mnt/new-file")" = new ]; then
		tap_ok "ro: writing fails with EROFS, the upper layer shows"
	else
		tap_not_ok "ro: writing fails with EROFS, the upper layer shows" "new-file not seen"
	fi
	unmount
fi
if mount_ok "ro mounts" "basedir=$store,ro"; then
	if awk -v m="$mnt" '$5 == m { exit !($6 ~ /^ro(,|$)/) }' /proc/self/mountinfo; then
		tap_ok "ro: the mount is read-only"
	else
		tap_not_ok "ro: the mount is read-only" "$(grep "$mnt" /proc/self/mountinfo)"
	fi
	unmount
fi
check_clean "upperdir, ro: nothing left after umount"

# upperdir and workdir on two mounts: refused up front with a message that
# says so (overlayfs' EINVAL says nothing), and no second attempt with the
# EROFS layer attached (the retry is only for a refused detached layer)
mkdir -p "$work/upper-x" /dev/shm/cfs-test-work.$$
# (LeakSanitizer cannot run under ptrace: off for this one run)
out=$(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -f -e trace=move_mount -o "$work/strace.log" \
	"$mcfs" -o "basedir=$store,upperdir=$work/upper-x,workdir=/dev/shm/cfs-test-work.$$" "$image" "$mnt" 2>&1)
rc=$?
rmdir /dev/shm/cfs-test-work.$$
if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "different mounts" &&
	! grep -q "move_mount(" "$work/strace.log" && ! mountpoint -q "$mnt"; then
	tap_ok "upperdir and workdir on different mounts: refused, saying so, nothing attached"
else
	tap_not_ok "upperdir and workdir on different mounts: refused, saying so, nothing attached" \
		"status $rc: $out; $(grep move_mount "$work/strace.log")"
fi

# --- mount(8) ---------------------------------------------------------------

helper=/sbin/mount.composefs
if [ -e "$helper" ] && [ "$(readlink -f "$helper")" != "$(readlink -f "$mcfs")" ]; then
	tap_skip "mount -t composefs runs our helper" "another $helper is installed"
elif ! command -v mount >/dev/null; then
	tap_skip "mount -t composefs runs our helper" "mount(8) is not installed"
else
	if [ ! -e "$helper" ]; then
		ln -s "$(readlink -f "$mcfs")" "$helper" && sbin_link="$helper"
	fi
	if output=$(mount -t composefs "$image" "$mnt" -o "basedir=$store" 2>&1) &&
		cmp -s "$mnt/hardlinks/big" "$src/hardlinks/big"; then
		tap_ok "mount -t composefs IMAGE TARGET -o basedir=STORE (through $helper)"
	else
		tap_not_ok "mount -t composefs IMAGE TARGET -o basedir=STORE (through $helper)" "$output"
	fi
	if output=$(umount "$mnt" 2>&1); then
		check_clean "umount TARGET cleans up everything"
	else
		tap_not_ok "umount TARGET cleans up everything" "$output"
	fi
	if [ -n "$sbin_link" ]; then
		rm -f "$sbin_link"
		sbin_link=""
	fi
fi

# --- idmap ------------------------------------------------------------------

if command -v unshare >/dev/null && unshare --user true 2>/dev/null; then
	unshare --user sleep 60 &
	userns_pid=$!
	sleep 0.2
	echo "0 100000 65536" >"/proc/$userns_pid/uid_map" &&
		echo "0 100000 65536" >"/proc/$userns_pid/gid_map"
	if mount_ok "idmap=/proc/PID/ns/user mounts" "basedir=$store,idmap=/proc/$userns_pid/ns/user"; then
		owner=$(stat -c %u:%g "$mnt/dirs/a")
		if [ "$owner" = "101234:105678" ] && cmp -s "$mnt/hardlinks/big" "$src/hardlinks/big"; then
			tap_ok "idmap: owners are mapped (1234:5678 shows as $owner)"
		else
			tap_not_ok "idmap: owners are mapped" "1234:5678 shows as $owner"
		fi
		unmount
	fi
	kill "$userns_pid" 2>/dev/null
	wait "$userns_pid" 2>/dev/null
	userns_pid=""
else
	tap_skip "idmap mounts" "cannot create a user namespace"
fi

# --- failures ---------------------------------------------------------------

# A missing object: the mount works, opening that file fails.
cp -al "$store" "$work/store-missing"
victim=$(cd "$work/store-missing" && find . -type f -size 70000c | head -n 1)
rm "$work/store-missing/$victim"
if mount_ok "a store missing an object still mounts" "basedir=$work/store-missing"; then
	output=$(cat "$mnt/files/size-70000" 2>&1 >/dev/null)
	status=$?
	if [ "$status" -ne 0 ] && printf '%s' "$output" | grep -qE "Input/output error|No such file" &&
		cmp -s "$mnt/hardlinks/big" "$src/hardlinks/big"; then
		tap_ok "missing object: opening its file fails ($output), others read"
	else
		tap_not_ok "missing object: opening its file fails, others read" "status $status: $output"
	fi
	unmount
fi

head -c 3000 "$image" >"$work/truncated.img"
mount_fails "a truncated image is refused before anything is mounted" \
	"basedir=$store" "not a valid composefs image" "$work/truncated.img"
cp "$image" "$work/bad-magic.img"
printf '\x00\x00\x00\x00' | dd of="$work/bad-magic.img" conv=notrunc status=none
mount_fails "an image with a bad magic is refused before anything is mounted" \
	"basedir=$store" "not a valid composefs image" "$work/bad-magic.img"
mount_fails "a missing object directory is refused" \
	"basedir=$work/no-such-store" "no-such-store"
check_clean "failures leave nothing behind"

# --- 50 cycles --------------------------------------------------------------

mountinfo_lines=$(wc -l </proc/self/mountinfo)
failed=""
start=$(date +%s%N)
for ((i = 0; i < 50; i++)); do
	opts="basedir=$store"
	((i % 2)) && opts="$opts,weakdigest=$digest"
	if ! output=$("$mcfs" -o "$opts" "$image" "$mnt" 2>&1) || [ ! -e "$mnt/files/size-1" ]; then
		failed="cycle $i: $output"
		break
	fi
	if ! umount "$mnt"; then
		failed="cycle $i: umount failed"
		break
	fi
done
elapsed=$((($(date +%s%N) - start) / 1000000))
if [ -z "$failed" ]; then
	tap_ok "50 mount/umount cycles, every other with weakdigest= ($elapsed ms)"
else
	tap_not_ok "50 mount/umount cycles, every other with weakdigest=" "$failed"
fi
check_clean "50 cycles: no mount, loop device or EROFS superblock left"
if [ "$(wc -l </proc/self/mountinfo)" -eq "$mountinfo_lines" ]; then
	tap_ok "50 cycles: the mount table is as before"
else
	tap_not_ok "50 cycles: the mount table is as before"
fi

# --- command line -----------------------------------------------------------

tap_check "--help describes the options" bash -c '"$1" --help | grep -q "basedir=DIR"' _ "$mcfs"
tap_check "--version" bash -c '"$1" --version | grep -q "mount.composefs"' _ "$mcfs"
status=0
output=$("$mcfs" "$image" 2>&1) || status=$?
if [ "$status" -eq 1 ] && printf '%s' "$output" | grep -q "Try"; then
	tap_ok "a missing TARGET is a usage error (status 1)"
else
	tap_not_ok "a missing TARGET is a usage error (status 1)" "status $status: $output"
fi
mount_fails "an unknown option is refused" "basedir=$store,bogus" "unknown mount option 'bogus'"
mount_fails "no basedir is refused" "ro" "basedir"
mount_fails "upperdir without workdir is refused" "basedir=$store,upperdir=$work/upper" "workdir"
if output=$("$mcfs" -s -o "basedir=$store,bogus,defaults,x-systemd.foo" "$image" "$mnt" 2>&1); then
	tap_ok "-s ignores unknown options"
	unmount
else
	tap_not_ok "-s ignores unknown options" "$output"
fi
if output=$("$mcfs" -f -n -v -o "basedir=$store" "$image" "$mnt" 2>&1) && [ -z "$(mounts_under_work)" ]; then
	tap_ok "-f checks and mounts nothing (with -n -v)"
else
	tap_not_ok "-f checks and mounts nothing (with -n -v)" "$output"
	unmount
fi
check_clean "the end: nothing left behind"

tap_done
