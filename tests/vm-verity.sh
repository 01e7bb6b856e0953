#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# The kernel's fs-verity path, end to end, in a VM: a stock Debian kernel
# with fs-verity (tests/vm/kernel.sh fetches it once into a cache) boots
# under QEMU (software emulation) with busybox and our tools from the build
# in an initramfs, and an ext4 disk with the verity feature holding a source
# tree. tests/vm/init.sh then, inside the VM: fills a store with
# `mkcomposefs --digest-store` (which enables fs-verity on every object) and
# checks each object's kernel digest against ours; enables fs-verity on the
# image; mounts with `mount.composefs -o verity`, `digest=` (true and
# wrong; an image or objects without fs-verity refused), `weakdigest=` and
# `tryverity`, reading every file; then tampers with three objects (one
# without fs-verity, one with other content, one with a data block
# corrupted on the disk) and checks that each fails with EIO while the
# other files still read. The same for SHA-512 (mkcomposefs
# --hash-alg=sha512): objects with SHA-512 fs-verity named by it, the
# image's kernel digest, `digest=` of 128 hex digits mounting with
# verity=require, a wrong one refused, a tampered object EIO. Its results come back over a second serial port
# and are relayed here as TAP.
#
# No root needed. Skips (1..0 # SKIP reason) without QEMU, busybox,
# mkfs.ext4 or a kernel, and in a sanitizer build (see below).
#
# Usage: tests/vm-verity.sh [--shell] [--keep]
#   --shell   after the checks, a shell in the VM on this terminal
#   --keep    keep the work directory (console log, initramfs, disk image)
# By hand it uses the tools of build/ in the source tree; CFS_BUILDDIR
# (set by meson) or MKCOMPOSEFS, MOUNT_COMPOSEFS, COMPOSEFS_INFO and
# VERITY_HELPER choose others. CFS_VM_TIMEOUT (seconds, default 240)
# bounds the VM's run; CFS_VM_CACHE is where the kernel is kept.

set -euo pipefail

tests_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/tap.sh
. "$tests_dir/tap.sh"

shell=false
keep=false
for arg in "$@"; do
	case "$arg" in
	--shell) shell=true ;;
	--keep) keep=true ;;
	*)
		echo "usage: $0 [--shell] [--keep]" >&2
		exit 2
		;;
	esac
done

if [ -z "${CFS_BUILDDIR:-}" ]; then
	CFS_BUILDDIR=$(cd "$tests_dir/.." && pwd)/build
fi
declare -A tool
for name in mkcomposefs mount.composefs composefs-info; do
	tool[$name]=$(cfs_tool "$name")
done
tool[verity-helper]=${VERITY_HELPER:-$CFS_BUILDDIR/tests/verity-helper}
for name in "${!tool[@]}"; do
	if [ ! -x "${tool[$name]}" ] && [ "$name" = mount.composefs ]; then
		# The VM skips its mount checks, saying so.
		unset "tool[$name]"
	elif [ ! -x "${tool[$name]}" ]; then
		echo "Bail out! $name not found at ${tool[$name]} (build first)"
		exit 1
	fi
done

# Under ASan the tools would take twice the VM's time and test nothing of
# the kernel's path that the plain build does not.
if ldd "${tool[mkcomposefs]}" 2>/dev/null | grep -q 'libasan'; then
	tap_skip_all "the VM test runs in the plain build only (this build has ASan; the kernel path is the same)"
fi

qemu="qemu-system-x86_64"
for program in "$qemu:qemu-system-x86" busybox:busybox-static \
	mkfs.ext4:e2fsprogs timeout:coreutils; do
	if ! command -v "${program%%:*}" >/dev/null; then
		tap_skip_all "${program%%:*} is not installed (Debian package ${program#*:})"
	fi
done
if [ "$(uname -m)" != x86_64 ]; then
	tap_skip_all "the VM test boots an x86_64 kernel; this machine is $(uname -m)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cfs-vm-verity.XXXXXX")
qemu_pid=""
cleanup()
{
	if [ -n "$qemu_pid" ]; then
		kill "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	if $keep; then
		echo "# work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- the kernel -----------------------------------------------------------------

kernel_status=0
kernel_dir=$(bash "$tests_dir/vm/kernel.sh" 2>"$work/kernel.log") ||
	kernel_status=$?
if [ "$kernel_status" -eq 77 ]; then
	tap_skip_all "no kernel with fs-verity: $(tail -n 1 "$work/kernel.log" | sed 's/^vm kernel: //')"
elif [ "$kernel_status" -ne 0 ]; then
	echo "Bail out! tests/vm/kernel.sh failed ($kernel_status): $(tail -n 1 "$work/kernel.log")"
	exit 1
fi
if [ -f "$kernel_dir/vmlinux" ]; then
	kernel=$kernel_dir/vmlinux
else
	kernel=$kernel_dir/vmlinuz
fi

# --- the initramfs ----------------------------------------------------------------

root=$work/initramfs
mkdir -p "$root"/{bin,cfs/bin,lib/modules,proc,sys,dev,tmp}

# copy_with_libraries FILE DIR: FILE into DIR of the initramfs, and the
# shared libraries it loads (and the dynamic loader) where ldd finds them.
copy_with_libraries()
{
	local file="$1" library
	cp "$file" "$root$2/"
	for library in $(ldd "$file" 2>/dev/null |
		sed -n 's|.*=> \(/[^ ]*\) .*|\1|p; s|^[[:space:]]*\(/[^ ]*\) .*|\1|p'); do
		if [ ! -e "$root$library" ]; then
			mkdir -p "$root$(dirname "$library")"
			cp -L "$library" "$root$library"
		fi
		# our own library, where the tools' $ORIGIN/../lib finds it
		case "$library" in
		*/libcomposefs.so.* | */libcomposefs-repo.so.*)
			mkdir -p "$root/cfs/lib"
			cp -L "$library" "$root/cfs/lib/"
			;;
		esac
	done
}
busybox=$(command -v busybox)
copy_with_libraries "$busybox" /bin
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
for name in "${!tool[@]}"; do
	copy_with_libraries "${tool[$name]}" /cfs/bin
done
# The tools may have been built under other names (MKCOMPOSEFS=...).
for name in "${!tool[@]}"; do
	if [ "$(basename "${tool[$name]}")" != "$name" ]; then
		mv "$root/cfs/bin/$(basename "${tool[$name]}")" "$root/cfs/bin/$name"
	fi
done

cp "$kernel_dir"/modules/*.ko "$kernel_dir/modules/order" "$root/lib/modules/"
cp "$tests_dir/vm/init.sh" "$root/init"
chmod 755 "$root/init"
(cd "$root" && find . | "$busybox" cpio -o -H newc) >"$work/initramfs.cpio" \
	2>"$work/cpio.log"

# --- the object disk: ext4 with the verity feature, the source tree on it ----

# Files of every size class: inline, empty, within a block, across blocks,
# large; two with the same content (one object); a symlink. a.bin, b.bin and
# c.bin are the ones init.sh tampers with.
stage=$work/stage
mkdir -p "$stage/src/dir/sub"
random_file()
{
	head -c "$2" /dev/urandom >"$stage/src/$1"
}
printf 'small enough to live in the image\n' >"$stage/src/small.txt"
: >"$stage/src/empty"
random_file a.bin 5000
random_file b.bin 12288
random_file c.bin $((3 * 4096 + 100))
random_file dir/d.bin $((1024 * 1024))
random_file dir/sub/e.bin 70000
random_file dup1 9000
cp "$stage/src/dup1" "$stage/src/dir/dup2"
ln -s dir/d.bin "$stage/src/link"
if ! mkfs.ext4 -q -F -b 4096 -O verity -L cfs-objects -d "$stage" \
	"$work/disk.img" 64M >"$work/mkfs.log" 2>&1; then
	echo "Bail out! mkfs.ext4 failed: $(cat "$work/mkfs.log")"
	exit 1
fi
rm -rf "$stage"

# --- boot ---------------------------------------------------------------------

tap_diag "kernel $(cat "$kernel_dir/version") from $kernel_dir, $(basename "$kernel")"
append="console=ttyS0 panic=-1 quiet"
qemu_args=(-accel tcg -M q35 -smp 1 -m 1G -nodefaults -display none
	-no-reboot -kernel "$kernel" -initrd "$work/initramfs.cpio"
	-drive "file=$work/disk.img,if=none,format=raw,id=objects,cache=unsafe"
	-device "virtio-blk-pci,drive=objects")
start=$(date +%s)
if $shell; then
	"$qemu" "${qemu_args[@]}" -append "$append cfs.shell" \
		-serial mon:stdio -serial "file:$work/tap.log"
else
	timeout --kill-after=10 "${CFS_VM_TIMEOUT:-240}" \
		"$qemu" "${qemu_args[@]}" -append "$append" \
		-serial "file:$work/console.log" -serial "file:$work/tap.log" \
		</dev/null >"$work/qemu.log" 2>&1 &
	qemu_pid=$!
	qemu_status=0
	wait "$qemu_pid" || qemu_status=$?
	qemu_pid=""
fi
seconds=$(($(date +%s) - start))

# --- relay the VM's results -----------------------------------------------------

vm_done=false
touch "$work/tap.log"
while IFS= read -r line; do
	line=${line%$'\r'}
	case "$line" in
	"ok - "*" # SKIP "*)
		line=${line#ok - }
		tap_skip "vm: ${line%% # SKIP *}" "${line#* # SKIP }"
		;;
	"ok - "*) tap_ok "vm: ${line#ok - }" ;;
	"not ok - "*" # TODO "*)
		# A known failure, reported as such (counted as skipped).
		TAP_COUNT=$((TAP_COUNT + 1))
		printf 'not ok %d - vm: %s\n' "$TAP_COUNT" "${line#not ok - }"
		;;
	"not ok - "*) tap_not_ok "vm: ${line#not ok - }" ;;
	"#"*) printf '%s\n' "$line" ;;
	VM-DONE) vm_done=true ;;
	esac
done <"$work/tap.log"

if $vm_done; then
	tap_ok "the VM ran every check ($seconds s)"
elif $shell; then
	tap_not_ok "the VM ran every check"
else
	detail="QEMU exit status $qemu_status after $seconds s"
	[ "$qemu_status" -eq 124 ] && detail="timed out after $seconds s"
	tap_not_ok "the VM ran every check" "$(printf '%s\n%s\nconsole (last 40 lines):\n%s' \
		"$detail" "$(cat "$work/qemu.log")" \
		"$(tail -n 40 "$work/console.log" 2>/dev/null | tr -d '\r')")"
fi
if [ "$TAP_FAILED" -gt 0 ] && $vm_done && [ -f "$work/console.log" ]; then
	tap_diag "$(printf 'console (last 40 lines):\n%s' \
		"$(tail -n 40 "$work/console.log" | tr -d '\r')")"
fi
tap_done
