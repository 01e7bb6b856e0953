#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Install what building and testing needs on Debian 12 (apt-get, as root).
# Does nothing when every package is already installed; as another user it
# only says what is missing.

set -euo pipefail

packages=(
	meson ninja-build gcc clang pkg-config
	libssl-dev libfsverity-dev libcmocka-dev libfuse3-dev fuse3 libarchive-dev
	erofs-utils fsverity attr acl mount kmod util-linux openssl xxd
	clang-format python3
	qemu-system-x86 busybox-static e2fsprogs xz-utils zstd strace
	libjson-c-dev libisal-dev skopeo umoci docker-registry debootstrap
)

missing=()
for package in "${packages[@]}"; do
	if ! dpkg-query -W -f '${db:Status-Status}\n' "$package" 2>/dev/null | grep -qx installed; then
		missing+=("$package")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages are installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: not root, not installing; missing: ${missing[*]}" >&2
	echo "install-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3; do
	if apt-get update && apt-get install -y "${missing[@]}" </dev/null; then
		exit 0
	fi
	echo "install-deps: apt-get failed (attempt $attempt of 3)" >&2
	sleep $((attempt * 10))
done
exit 1
