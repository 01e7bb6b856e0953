#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# A stock Debian kernel with fs-verity for the VM test (tests/vm-verity.sh):
# the newest linux-image-amd64 of bookworm-backports, fetched once with
# apt-get from Debian's archive and unpacked (never installed) into a cache
# outside the source tree. Prints the directory that holds it:
#
#   version     the kernel release (uname -r)
#   vmlinux     the uncompressed kernel (boots through PVH), or else
#   vmlinuz     the compressed one
#   config      its build configuration
#   modules/    the modules the test loads, decompressed, and "order", the
#               order to load them in (modules built into this kernel are
#               left out)
#
# Usage: tests/vm/kernel.sh [--refresh]
#   --refresh   look for a newer kernel even when one is cached
#
# The cache is $CFS_VM_CACHE, else /var/cache/composefs-c-vm as root, else
# ${XDG_CACHE_HOME:-~/.cache}/composefs-c-vm. apt uses a source list and
# package lists of its own there: the machine's apt setup is not changed.
# Needs no root. Exits 77 with the reason on stderr when no kernel can be
# had (no network and nothing cached, not amd64, no apt-get...).

set -euo pipefail

# The modules the test needs, in the order they load (dependencies first).
modules=(crc16 crc32c_generic libcrc32c mbcache jbd2 ext4 virtio_blk loop
	overlay erofs)

refresh=false
case "${1:-}" in
--refresh) refresh=true ;;
"") ;;
*)
	echo "usage: $0 [--refresh]" >&2
	exit 2
	;;
esac

unavailable()
{
	echo "vm kernel: $*" >&2
	exit 77
}

if [ -n "${CFS_VM_CACHE:-}" ]; then
	cache=$CFS_VM_CACHE
elif [ "$(id -u)" -eq 0 ]; then
	cache=/var/cache/composefs-c-vm
else
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/composefs-c-vm
fi

for tool in apt-get apt-cache dpkg-deb tar xz flock; do
	command -v "$tool" >/dev/null ||
		unavailable "$tool is not installed"
done
arch=$(dpkg --print-architecture 2>/dev/null || true)
[ "$arch" = amd64 ] || unavailable "needs an amd64 machine, this is '$arch'"

mkdir -p "$cache" || unavailable "cannot create the cache $cache"
exec 9>"$cache/lock"
flock 9

# The kernel cached last, if it is complete.
cached=""
if [ -f "$cache/current" ]; then
	cached="$cache/$(cat "$cache/current")"
	[ -f "$cached/modules/order" ] || cached=""
fi
if [ -n "$cached" ] && ! $refresh; then
	printf '%s\n' "$cached"
	exit 0
fi

# apt with its own sources and lists under the cache: bookworm-backports
# only, fetched as any user, trusted through Debian's archive keyring.
apt_dir="$cache/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
signed_by=""
[ -f "$keyring" ] && signed_by="[signed-by=$keyring] "
printf 'deb %shttp://deb.debian.org/debian bookworm-backports main\n' \
	"$signed_by" >"$apt_dir/sources.list"
apt_options=(
	-o "Dir::Etc::SourceList=$apt_dir/sources.list"
	-o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
	-o "Dir::State::Lists=$apt_dir/lists"
	-o "Dir::Cache=$apt_dir"
	-o "Dir::Cache::Archives=$apt_dir/archives"
	-o "Dir::Cache::pkgcache="
	-o "Dir::Cache::srcpkgcache="
	-o "APT::Get::List-Cleanup=false"
	-o "Acquire::Languages=none"
)
if [ "$(id -u)" -eq 0 ]; then
	# The download goes to a directory of root's, not the _apt user's.
	apt_options+=(-o "APT::Sandbox::User=root")
fi

# Falls back to the cached kernel when the archive cannot be reached.
fetch_failed()
{
	if [ -n "$cached" ]; then
		echo "vm kernel: $*; using the cached $(basename "$cached")" >&2
		printf '%s\n' "$cached"
		exit 0
	fi
	unavailable "$*"
}

echo "vm kernel: updating the package list of bookworm-backports" >&2
if ! apt-get "${apt_options[@]}" -q --error-on=any update \
	>"$apt_dir/update.log" 2>&1; then
	fetch_failed "apt-get update failed (see $apt_dir/update.log)"
fi
# linux-image-amd64 depends on the versioned package of the current kernel.
package=$({ apt-cache "${apt_options[@]}" depends linux-image-amd64 2>/dev/null ||
	true; } | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' |
	head -n 1)
[ -n "$package" ] ||
	fetch_failed "no linux-image-amd64 in bookworm-backports"
release=${package#linux-image-}
target="$cache/$release"
if [ -f "$target/modules/order" ]; then
	printf '%s\n' "$release" >"$cache/current"
	printf '%s\n' "$target"
	exit 0
fi

echo "vm kernel: downloading $package" >&2
rm -rf "$apt_dir/download" "$target.new"
mkdir -p "$apt_dir/download" "$target.new/modules"
if ! (cd "$apt_dir/download" &&
	apt-get "${apt_options[@]}" -q download "$package" \
		>"$apt_dir/download.log" 2>&1); then
	rm -rf "$apt_dir/download" "$target.new"
	fetch_failed "apt-get download $package failed (see $apt_dir/download.log)"
fi

# Unpack only the kernel, its config and the modules the test loads.
unpack="$target.new/unpack"
mkdir -p "$unpack"
patterns=("./boot/vmlinuz-$release" "./boot/config-$release")
for module in "${modules[@]}"; do
	patterns+=("*/$module.ko*")
done
dpkg-deb --fsys-tarfile "$apt_dir"/download/*.deb |
	tar -x -C "$unpack" --wildcards "${patterns[@]}" 2>/dev/null || true
rm -rf "$apt_dir/download"
if [ ! -f "$unpack/boot/vmlinuz-$release" ]; then
	rm -rf "$target.new"
	fetch_failed "$package has no /boot/vmlinuz-$release"
fi
mv "$unpack/boot/vmlinuz-$release" "$target.new/vmlinuz"
mv "$unpack/boot/config-$release" "$target.new/config"
if ! grep -qx 'CONFIG_FS_VERITY=y' "$target.new/config"; then
	rm -rf "$target.new"
	fetch_failed "$package is built without fs-verity"
fi

for module in "${modules[@]}"; do
	file=$(find "$unpack" -name "$module.ko*" | head -n 1)
	if [ -z "$file" ]; then
		# Built in, or not needed by this kernel (libcrc32c is gone
		# from newer ones): nothing to load.
		continue
	fi
	case "$file" in
	*.ko.xz) xz -dc "$file" >"$target.new/modules/$module.ko" ;;
	*.ko.zst)
		command -v zstd >/dev/null ||
			unavailable "zstd is not installed (needed for $file)"
		zstd -qdc "$file" >"$target.new/modules/$module.ko"
		;;
	*.ko) cp "$file" "$target.new/modules/$module.ko" ;;
	*) continue ;;
	esac
	printf '%s\n' "$module" >>"$target.new/modules/order"
done
rm -rf "$unpack"

# The uncompressed kernel boots faster under emulation (PVH entry). The
# bzImage header gives where its compressed payload is; Debian compresses
# with zstd and appends the 4-byte uncompressed size, which zstd does not
# want to see.
extract_payload()
{
	python3 - "$1" "$2" <<'EOF'
import struct
import sys

data = open(sys.argv[1], "rb").read()
setup_sects = data[0x1F1] or 4
offset, length = struct.unpack_from("<II", data, 0x248)
start = (setup_sects + 1) * 512 + offset
payload = data[start : start + length]
if payload[:4] != b"\x28\xb5\x2f\xfd":
    sys.exit("not zstd")
open(sys.argv[2], "wb").write(payload[:-4])
EOF
}
if command -v zstd >/dev/null && command -v python3 >/dev/null; then
	if ! { extract_payload "$target.new/vmlinuz" "$target.new/payload" &&
		zstd -qd "$target.new/payload" -o "$target.new/vmlinux"; }; then
		echo "vm kernel: cannot uncompress the kernel; booting vmlinuz" >&2
		rm -f "$target.new/vmlinux"
	fi
	rm -f "$target.new/payload"
fi

printf '%s\n' "$release" >"$target.new/version"
rm -rf "$target"
mv "$target.new" "$target"
printf '%s\n' "$release" >"$cache/current"
# Older kernels are not needed any more.
for old in "$cache"/*/version; do
	[ -e "$old" ] || continue
	old=$(dirname "$old")
	[ "$old" = "$target" ] || rm -rf "$old"
done
printf '%s\n' "$target"
