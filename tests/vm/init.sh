#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# /init of the VM that tests/vm-verity.sh boots: a kernel with fs-verity,
# busybox, our tools, and a disk (/dev/vda, ext4 with the verity feature)
# holding the source tree src/. Runs the checks of the kernel's fs-verity
# path with our mkcomposefs, mount.composefs and composefs-info, then powers
# off.
#
# Results go to the second serial port (/dev/ttyS1) as TAP lines without
# numbers ("ok - ...", "not ok - ...", "# ..."), which the host numbers and
# relays, then "VM-DONE" when every check has run. Tool output and kernel
# messages go to the console (ttyS0). With cfs.shell on the kernel command
# line a shell on the console follows the checks.

PATH=/cfs/bin:/bin
export PATH

mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mkdir -p /disk /mnt/cfs

exec 3>/dev/ttyS1

disk=/disk
src=$disk/src
store=$disk/store
image=$disk/image.cfs
mnt=/mnt/cfs

# --- results ----------------------------------------------------------------

ok()
{
	echo "ok - $1" >&3
	echo "vm: ok - $1"
}

# not_ok DESCRIPTION [DIAGNOSTICS]: a failure; a "# TODO" (an expected
# failure, counted as skipped) when the last mount_cfs failed for a
# reason mount_cfs knows ($mount_todo).
not_ok()
{
	if [ -n "$mount_todo" ]; then
		echo "not ok - $1 # TODO $mount_todo" >&3
		echo "vm: not ok - $1 # TODO $mount_todo"
	else
		echo "not ok - $1" >&3
		echo "vm: not ok - $1"
	fi
	if [ -n "${2:-}" ]; then
		printf '%s\n' "$2" | sed 's/^/# /' >&3
		printf '%s\n' "$2"
	fi
	mount_todo=""
}

diag()
{
	printf '%s\n' "$1" | sed 's/^/# /' >&3
}

# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check()
{
	desc=$1
	shift
	if out=$("$@" 2>&1); then
		ok "$desc"
	else
		not_ok "$desc" "$(printf 'failed: %s\n%s' "$*" "$out")"
	fi
}

finish()
{
	cd /
	umount "$mnt" 2>/dev/null
	umount "$disk" 2>/dev/null
	sync
	if grep -qw cfs.shell /proc/cmdline; then
		echo "vm: checks done; a shell (exit to power off)"
		setsid cttyhack sh
	fi
	poweroff -f
}

# A step every later check needs failed: say so and stop.
bail()
{
	not_ok "$1" "${2:-}"
	diag "the checks after this one need it: stopping"
	finish
}

# --- helpers ------------------------------------------------------------------

# mount_cfs OPTIONS [IMAGE]: mount.composefs on $mnt; its output in $out.
# A failure the kernel explains with a known limitation that
# mount.composefs should work around sets $mount_todo to say so.
mount_todo=""
mount_cfs()
{
	mount_todo=""
	before=$(dmesg | grep -c 'failed to clone lowerpath')
	out=$(mount.composefs -o "$1" "${2:-$image}" "$mnt" 2>&1) && return 0
	if [ "$(dmesg | grep -c 'failed to clone lowerpath')" != "$before" ]; then
		mount_todo="mount.composefs: this kernel's overlayfs refuses the detached EROFS mount as a layer (failed to clone lowerpath); it must be attached first"
	fi
	return 1
}

is_mounted()
{
	grep -q " $mnt " /proc/mounts
}

overlay_options()
{
	grep " $mnt overlay " /proc/mounts | cut -d' ' -f4
}

# compare_tree DIR [SKIP...]: DIR holds the names of $src and every
# regular file and symlink in it reads as in $src, except the files SKIP.
# What differs in $out.
compare_tree()
{
	dir=$1
	shift
	skip=" $* "
	if ! out=$( (cd "$src" && find . | sort) >/tmp/src.list 2>&1 &&
		(cd "$dir" && find . | sort) >/tmp/mnt.list 2>&1 &&
		diff /tmp/src.list /tmp/mnt.list 2>&1); then
		out=$(printf 'the names differ:\n%s' "$out")
		return 1
	fi
	files=0
	out=""
	for name in $(cd "$src" && find . -type f | sed 's|^\./||'); do
		case "$skip" in
		*" $name "*) continue ;;
		esac
		files=$((files + 1))
		if ! cmp "$src/$name" "$dir/$name" >/tmp/cmp.out 2>&1; then
			out="$out$name: $(cat /tmp/cmp.out)
"
		fi
	done
	for name in $(cd "$src" && find . -type l | sed 's|^\./||'); do
		if [ "$(readlink "$src/$name")" != "$(readlink "$dir/$name")" ]; then
			out="$out$name: symlink target differs
"
		fi
	done
	[ -z "$out" ]
}

# object_of FILE: the object in $store holding the content of $src/FILE.
object_of()
{
	digest=$(composefs-info measure-file "$src/$1") || return 1
	echo "$store/$(echo "$digest" | cut -c1-2)/$(echo "$digest" | cut -c3-)"
}

# --- the kernel -----------------------------------------------------------------

out=""
module_list=$(tr '\n' ' ' </lib/modules/order | sed 's/ $//')
for module in $module_list; do
	if ! msg=$(insmod "/lib/modules/$module.ko" 2>&1); then
		out="$out$module: $msg
"
	fi
done
if [ -n "$out" ]; then
	bail "kernel modules load ($module_list)" "$out"
fi
ok "kernel $(uname -r): modules load ($module_list)"

if [ -d /proc/sys/fs/verity ]; then
	ok "the kernel has fs-verity"
else
	bail "the kernel has fs-verity" "no /proc/sys/fs/verity"
fi

# virtio_blk finds the disk as it loads; give udev-less /dev a moment.
n=0
while [ ! -b /dev/vda ] && [ "$n" -lt 50 ]; do
	sleep 0.1
	n=$((n + 1))
done
if out=$(mount -t ext4 /dev/vda "$disk" 2>&1); then
	ok "the object disk mounts (ext4 with the verity feature)"
else
	bail "the object disk mounts (ext4 with the verity feature)" "$out"
fi

# --- the store: fs-verity on every object ------------------------------------

# mkcomposefs enables fs-verity on each object it adds, where the
# filesystem has it, and checks the kernel's digest against the name.
if out=$(mkcomposefs --print-digest --digest-store="$store" "$src" \
	"$image" 2>&1); then
	image_digest=$(printf '%s\n' "$out" | tail -n 1)
	ok "mkcomposefs --digest-store fills a store on ext4 with fs-verity"
else
	bail "mkcomposefs --digest-store fills a store on ext4 with fs-verity" "$out"
fi

objects=$(cd "$store" && find . -type f | sed 's|^\./||' | sort)
if [ "$objects" = "$(composefs-info objects "$image")" ]; then
	ok "the store holds exactly the image's $(echo "$objects" | wc -l) objects"
else
	not_ok "the store holds exactly the image's objects" \
		"$(printf 'store:\n%s\nimage:\n%s' "$objects" \
			"$(composefs-info objects "$image" 2>&1)")"
fi

for object in $objects; do
	name=$(echo "$object" | tr -d /)
	kernel=$(verity-helper measure "$store/$object" 2>&1)
	ours=$(composefs-info measure-file "$store/$object" 2>&1)
	if [ "$kernel" = "$name" ] && [ "$ours" = "$name" ]; then
		ok "object $(echo "$name" | cut -c1-12)...: fs-verity on, the kernel's digest is ours and its name"
	else
		not_ok "object $name: fs-verity on, the kernel's digest is ours and its name" \
			"$(printf 'kernel: %s\nours:   %s' "$kernel" "$ours")"
	fi
done

# The image itself gets fs-verity with the library's enable call.
if out=$(verity-helper enable "$image" 2>&1) &&
	out=$(verity-helper measure "$image" 2>&1) &&
	[ "$out" = "$image_digest" ]; then
	ok "the image has fs-verity; the kernel's digest is mkcomposefs's"
else
	not_ok "the image has fs-verity; the kernel's digest is mkcomposefs's" \
		"$(printf 'mkcomposefs: %s\nkernel: %s' "$image_digest" "$out")"
fi

# --- mounts with verity ---------------------------------------------------------

if ! command -v mount.composefs >/dev/null; then
	echo "ok - the mount checks # SKIP mount.composefs is not built" >&3
	echo VM-DONE >&3
	finish
fi

if mount_cfs "basedir=$store,verity"; then
	ok "mount.composefs -o verity mounts"
	case ",$(overlay_options)," in
	*,verity=require,*) ok "the overlay enforces verity=require" ;;
	*) not_ok "the overlay enforces verity=require" "$(overlay_options)" ;;
	esac
	if compare_tree "$mnt"; then
		ok "with verity every file reads as in the source ($files files)"
	else
		not_ok "with verity every file reads as in the source" "$out"
	fi
	umount "$mnt"
else
	not_ok "mount.composefs -o verity mounts" "$out"
fi

# The true digest with its first hex digit changed.
case "$image_digest" in
0*) wrong_digest=1${image_digest#?} ;;
*) wrong_digest=0${image_digest#?} ;;
esac
# digest= alone implies verity, as the reference's does.
if mount_cfs "basedir=$store,digest=$image_digest"; then
	case ",$(overlay_options)," in
	*,verity=require,*) ok "digest= alone implies verity (the overlay has verity=require)" ;;
	*) not_ok "digest= alone implies verity (the overlay has verity=require)" "$(overlay_options)" ;;
	esac
	if compare_tree "$mnt"; then
		ok "digest= with the image's true digest mounts; every file reads"
	else
		not_ok "digest= with the image's true digest mounts; every file reads" "$out"
	fi
	umount "$mnt"
else
	not_ok "digest= with the image's true digest mounts; every file reads" "$out"
fi
if mount_cfs "basedir=$store,digest=$wrong_digest"; then
	not_ok "digest= with another digest is refused" "it mounted"
	umount "$mnt"
elif is_mounted; then
	not_ok "digest= with another digest is refused" "failed, but left a mount: $out"
	umount "$mnt"
else
	case "$out" in
	*"Image has wrong fs-verity"*"$wrong_digest"*)
		ok "digest= with another digest is refused (Image has wrong fs-verity)"
		diag "$out"
		;;
	*) not_ok "digest= with another digest is refused (Image has wrong fs-verity, naming the digests)" "$out" ;;
	esac
fi

# The same image without fs-verity (on tmpfs): digest= refuses it, as the
# reference's does; weakdigest= measures a sealed copy of it.
cp "$image" /tmp/image.cfs
if mount_cfs "basedir=$store,digest=$image_digest" /tmp/image.cfs ||
	is_mounted; then
	not_ok "digest= refuses an image without fs-verity, with its true digest" "it mounted"
	umount "$mnt"
else
	case "$out" in
	*"Image has no fs-verity"*) ok "digest= refuses an image without fs-verity, with its true digest (Image has no fs-verity)" ;;
	*) not_ok "digest= refuses an image without fs-verity, with its true digest (Image has no fs-verity)" "$out" ;;
	esac
fi
if mount_cfs "basedir=$store,verity,weakdigest=$image_digest" /tmp/image.cfs &&
	compare_tree "$mnt"; then
	ok "weakdigest= on an image without fs-verity (tmpfs) mounts; every file reads"
else
	not_ok "weakdigest= on an image without fs-verity (tmpfs) mounts; every file reads" "$out"
fi
is_mounted && umount "$mnt"
if mount_cfs "basedir=$store,weakdigest=$wrong_digest" /tmp/image.cfs ||
	is_mounted; then
	not_ok "weakdigest= with another digest is refused for an image without fs-verity" "$out"
	umount "$mnt"
else
	case "$out" in
	*"$wrong_digest"*) ok "weakdigest= with another digest is refused for an image without fs-verity" ;;
	*) not_ok "weakdigest= with another digest is refused for an image without fs-verity (naming the digests)" "$out" ;;
	esac
fi
rm -f /tmp/image.cfs

# --- SHA-512: objects, image, digest= and verity=require ---------------------

# The same tree with --hash-alg=sha512 into a store of its own on the
# disk: each object gets SHA-512 fs-verity, the overlay's metacopy
# attributes SHA-512 digests, which overlayfs checks with verity=require.
store512=$disk/store512
image512=$disk/image512.cfs
if out=$(mkcomposefs --hash-alg=sha512 --print-digest \
	--digest-store="$store512" "$src" "$image512" 2>&1); then
	image512_digest=$(printf '%s\n' "$out" | tail -n 1)
	ok "mkcomposefs --hash-alg=sha512 --digest-store fills a store with SHA-512 fs-verity"
else
	bail "mkcomposefs --hash-alg=sha512 --digest-store fills a store" "$out"
fi
out=""
n512=0
for object in $(cd "$store512" && find . -type f | sed 's|^\./||' | sort); do
	name=$(echo "$object" | tr -d /)
	kernel=$(verity-helper measure "$store512/$object" 2>&1)
	ours=$(composefs-info --hash-alg=sha512 measure-file "$store512/$object" 2>&1)
	n512=$((n512 + 1))
	if [ "$kernel" != "$name" ] || [ "$ours" != "$name" ] || [ "${#name}" -ne 128 ]; then
		out="$out$object: kernel $kernel, ours $ours
"
	fi
done
if [ -z "$out" ] && [ "$n512" -gt 0 ]; then
	ok "each of the $n512 SHA-512 objects: the kernel's SHA-512 digest is ours and its 128-hex name"
else
	not_ok "SHA-512 objects: the kernel's digest is ours and the name" "$out"
fi
if out=$(verity-helper enable --sha512 "$image512" 2>&1) &&
	out=$(verity-helper measure "$image512" 2>&1) &&
	[ "$out" = "$image512_digest" ]; then
	ok "the SHA-512 image has fs-verity; the kernel's digest is mkcomposefs's (128 hex)"
else
	not_ok "the SHA-512 image's kernel digest is mkcomposefs's" \
		"$(printf 'mkcomposefs: %s\nkernel: %s' "$image512_digest" "$out")"
fi
if command -v mount.composefs >/dev/null; then
	if mount_cfs "basedir=$store512,digest=$image512_digest" "$image512"; then
		case ",$(overlay_options)," in
		*,verity=require,*) ok "digest=<128 hex>: the overlay has verity=require" ;;
		*) not_ok "digest=<128 hex>: the overlay has verity=require" "$(overlay_options)" ;;
		esac
		if compare_tree "$mnt"; then
			ok "verity=require over SHA-512 objects: every file reads ($files files)"
		else
			not_ok "verity=require over SHA-512 objects: every file reads" "$out"
		fi
		umount "$mnt"
	else
		not_ok "mount.composefs digest=<128 hex> of the SHA-512 image" "$out"
	fi
	case "$image512_digest" in
	0*) wrong512=1${image512_digest#?} ;;
	*) wrong512=0${image512_digest#?} ;;
	esac
	if mount_cfs "basedir=$store512,digest=$wrong512" "$image512" || is_mounted; then
		not_ok "another 128-hex digest is refused" "$out"
		is_mounted && umount "$mnt"
	else
		case "$out" in
		*"Image has wrong fs-verity"*) ok "another 128-hex digest is refused (Image has wrong fs-verity)" ;;
		*) not_ok "another 128-hex digest is refused (Image has wrong fs-verity)" "$out" ;;
		esac
	fi
	# a SHA-512 object replaced by other bytes with SHA-512 fs-verity of
	# their own: EIO at open, the other files read
	if object=$(digest=$(composefs-info --hash-alg=sha512 measure-file "$src/b.bin") &&
		echo "$store512/$(echo "$digest" | cut -c1-2)/$(echo "$digest" | cut -c3-)") &&
		size=$(stat -c %s "$object") && rm -f "$object" &&
		head -c "$size" /dev/urandom >"$object" &&
		verity-helper enable --sha512 "$object" >/dev/null 2>&1 &&
		mount_cfs "basedir=$store512,digest=$image512_digest" "$image512"; then
		r=$(verity-helper read "$mnt/b.bin" 2>&1)
		if [ "$r" = "open: EIO" ] && compare_tree "$mnt" b.bin; then
			ok "verity=require: a tampered SHA-512 object is EIO at open, the other files read"
		else
			not_ok "verity=require: a tampered SHA-512 object is EIO at open" "b.bin: $r; $out"
		fi
		umount "$mnt"
	else
		not_ok "a tampered SHA-512 object: set up and mount" "$out"
	fi
fi

# --- a store without fs-verity (tmpfs): verity refused, tryverity mounts -------

cp -a "$store" /tmp/store
if mount_cfs "basedir=/tmp/store,verity"; then
	not_ok "verity is refused for a store on a filesystem without fs-verity" "it mounted"
	umount "$mnt"
else
	case "$out" in
	*"no fs-verity"*)
		ok "verity is refused for a store on a filesystem without fs-verity"
		diag "$out"
		;;
	*) not_ok "verity is refused for a store on a filesystem without fs-verity (saying why)" "$out" ;;
	esac
fi
if mount_cfs "basedir=/tmp/store,digest=$image_digest" || is_mounted; then
	not_ok "digest= is refused for a store on a filesystem without fs-verity" "it mounted"
	is_mounted && umount "$mnt"
else
	case "$out" in
	*"no fs-verity"*)
		ok "digest= is refused for a store on a filesystem without fs-verity"
		diag "$out"
		;;
	*) not_ok "digest= is refused for a store on a filesystem without fs-verity (saying why)" "$out" ;;
	esac
fi
if mount_cfs "basedir=/tmp/store,weakdigest=$image_digest"; then
	case ",$(overlay_options)," in
	*,verity=require,*) not_ok "weakdigest= on a store without fs-verity mounts as tryverity" "$(overlay_options)" ;;
	*) ok "weakdigest= on a store without fs-verity mounts as tryverity" ;;
	esac
	umount "$mnt"
else
	not_ok "weakdigest= on a store without fs-verity mounts as tryverity" "$out"
fi
if mount_cfs "basedir=/tmp/store,tryverity"; then
	case ",$(overlay_options)," in
	*,verity=require,*)
		not_ok "tryverity on a store without fs-verity mounts without verity=require" \
			"$(overlay_options)"
		;;
	*) ok "tryverity on a store without fs-verity mounts without verity=require" ;;
	esac
	if compare_tree "$mnt"; then
		ok "with tryverity every file reads as in the source ($files files)"
	else
		not_ok "with tryverity every file reads as in the source" "$out"
	fi
	umount "$mnt"
else
	not_ok "tryverity on a store without fs-verity mounts without verity=require" "$out"
fi
rm -rf /tmp/store

# --- objects that do not hold what the image says ------------------------------

# a.bin: its object copied without fs-verity.
# b.bin: its object other bytes of the same size, with fs-verity.
# c.bin: its object's block 1 overwritten on the disk, behind ext4's back.
if ! { object_a=$(object_of a.bin) && object_b=$(object_of b.bin) &&
	object_c=$(object_of c.bin); }; then
	bail "the objects of a.bin, b.bin and c.bin are found"
fi

out=$( {
	cp "$object_a" /tmp/object && rm -f "$object_a" &&
		cp /tmp/object "$object_a" &&
		head -c "$(stat -c %s "$object_b")" /dev/urandom >/tmp/object &&
		rm -f "$object_b" && cp /tmp/object "$object_b" &&
		verity-helper enable "$object_b" &&
		block=$(verity-helper block "$object_c" 1) &&
		umount "$disk" &&
		dd if=/dev/urandom of=/dev/vda bs=4096 seek="$block" count=1 \
			conv=notrunc,fsync 2>/dev/null &&
		mount -t ext4 /dev/vda "$disk"
} 2>&1) || bail "the objects of a.bin, b.bin and c.bin are tampered with" "$out"
rm -f /tmp/object
if ! grep -q " $disk " /proc/mounts; then
	bail "the object disk is mounted again after the tampering"
fi

# read_result FILE: what verity-helper read says about FILE in the mount.
read_result()
{
	verity-helper read "$mnt/$1" 2>&1
}

dmesg -c >/dev/null
if mount_cfs "basedir=$store,verity"; then
	ok "mount.composefs -o verity mounts over the tampered store"
	r=$(read_result a.bin)
	if [ "$r" = "open: EIO" ]; then
		ok "an object without fs-verity: EIO at open"
	else
		not_ok "an object without fs-verity: EIO at open" "$r"
	fi
	r=$(read_result b.bin)
	if [ "$r" = "open: EIO" ]; then
		ok "an object whose content does not match its digest: EIO at open"
	else
		not_ok "an object whose content does not match its digest: EIO at open" "$r"
	fi
	r=$(read_result c.bin)
	if [ "$r" = "read block 1: EIO" ]; then
		ok "a data block corrupted on disk: block 0 reads, EIO at the read of block 1"
	else
		not_ok "a data block corrupted on disk: block 0 reads, EIO at the read of block 1" "$r"
	fi
	if compare_tree "$mnt" a.bin b.bin c.bin; then
		ok "the other files still read as in the source ($files files)"
	else
		not_ok "the other files still read as in the source" "$out"
	fi
	umount "$mnt"
	diag "$(printf 'what the kernel said:\n%s' "$(dmesg | grep -i verity)")"
else
	not_ok "mount.composefs -o verity mounts over the tampered store" "$out"
fi

# digest= implies verity: the object copied without fs-verity is refused.
if mount_cfs "basedir=$store,digest=$image_digest"; then
	r=$(read_result a.bin)
	if [ "$r" = "open: EIO" ]; then
		ok "digest=: an object without fs-verity is refused (EIO at open)"
	else
		not_ok "digest=: an object without fs-verity is refused (EIO at open)" "$r"
	fi
	umount "$mnt"
else
	not_ok "digest=: an object without fs-verity is refused (EIO at open)" "$out"
fi

# Without the verity option overlayfs checks no digest: the wrong bytes of
# b.bin are served, which shows the EIO above is fs-verity's. c.bin still
# fails: ext4 verifies every block of a file with fs-verity, whoever reads.
if mount_cfs "basedir=$store"; then
	if verity-helper read "$mnt/b.bin" >/dev/null &&
		! cmp -s "$src/b.bin" "$mnt/b.bin" &&
		[ "$(read_result c.bin)" = "read block 1: EIO" ]; then
		ok "without verity: b.bin's wrong bytes are served, c.bin's bad block still fails in ext4"
	else
		not_ok "without verity: b.bin's wrong bytes are served, c.bin's bad block still fails in ext4" \
			"$(printf 'b.bin: %s\nc.bin: %s' "$(read_result b.bin)" "$(read_result c.bin)")"
	fi
	umount "$mnt"
else
	not_ok "mount.composefs without verity mounts over the tampered store" "$out"
fi

# tryverity where the store's filesystem has fs-verity enforces it.
if mount_cfs "basedir=$store,tryverity"; then
	if [ "$(read_result a.bin)" = "open: EIO" ] &&
		[ "$(read_result b.bin)" = "open: EIO" ]; then
		ok "tryverity on a store with fs-verity enforces it (a.bin, b.bin: EIO)"
	else
		not_ok "tryverity on a store with fs-verity enforces it (a.bin, b.bin: EIO)" \
			"$(printf 'options: %s\na.bin: %s\nb.bin: %s' "$(overlay_options)" \
				"$(read_result a.bin)" "$(read_result b.bin)")"
	fi
	umount "$mnt"
else
	not_ok "tryverity on a store with fs-verity mounts" "$out"
fi

echo VM-DONE >&3
finish
