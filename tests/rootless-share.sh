#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Rootless mounts that share the page cache (composefs-fuse -o shared, the
# default of `composefs mount` in a user namespace of one's own), made by an
# unprivileged user in `unshare -Urm`: one object server under overlayfs
# mounts, the view equal to the kernel mount's, binaries run and mmap works,
# a tampered block reads as EIO, unmounting leaves no server behind, and a
# killed object server gives errors (no hang) and is replaced by the next
# mount.
#
# Needs root (to make the tree, the kernel mount it is compared with, and a
# /dev/fuse node the user may open: /dev/fuse is 0600 here, so a node of its
# own is bound over it in the user's mount namespace, leaving /dev/fuse as it
# is), unshare, setpriv and nsenter; skips visibly otherwise.
set -uo pipefail

tests_dir=$(cd "$(dirname "$0")" && pwd)
. "$tests_dir/tap.sh"
. "$tests_dir/assets.sh"

tap_require_root
[ -c /dev/fuse ] || tap_skip_all "no /dev/fuse"
tap_require_commands unshare setpriv nsenter python3
tap_require_fs erofs overlay fuse

CFS=$(cfs_tool composefs) || exit 1
FUSE=$(cfs_tool composefs-fuse) || exit 1
[ -x "$FUSE" ] || tap_skip_all "composefs-fuse not built (no libfuse3)"
manifest=(python3 "$tests_dir/manifest.py")
user=nobody
uid=$(id -u $user)
gid=$(id -g $user)

work=$(mktemp -d "${TMPDIR:-/tmp}/cfs-share.XXXXXX")
chmod 755 "$work"
holder=

in_ns()
{
	nsenter -t "$holder" -U -m -- env -u XDG_RUNTIME_DIR "$@"
}

# the processes of the user's mount namespace but the holder: the servers
servers()
{
	local ns pid
	ns=$(readlink "/proc/$holder/ns/mnt")
	for pid in $(pgrep -u "$uid" 'composefs'); do
		[ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$ns" ] || continue
		[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" = Z ] && continue
		echo "$pid"
	done
}

cleanup()
{
	local m
	if [ -n "$holder" ]; then
		for m in $(nsenter -t "$holder" -m awk -v p="$work/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | tac); do
			nsenter -t "$holder" -m umount -l "$m" 2>/dev/null
		done
		for pid in $(servers); do
			kill -9 "$pid" 2>/dev/null
		done
		kill "$holder" 2>/dev/null
		wait "$holder" 2>/dev/null
	fi
	mountpoint -q "$work/kernel" && umount "$work/kernel"
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# wait_until SECONDS CMD...: until CMD succeeds
wait_until()
{
	local t="$1" i
	shift
	for ((i = 0; i < t * 20; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# --- the repository: two names sharing their objects ---------------------
src="$work/src"
repo="$work/repo"
if ! out=$(python3 "$tests_dir/gen-tree.py" "$src" 2>&1); then
	tap_not_ok "source tree generated" "$out"
	tap_done
	exit 1
fi
mkdir -p "$src/bin"
cp /bin/ls "$src/bin/ls"
head -c 300000 /dev/urandom >"$src/tamper-me"
"$CFS" --repo "$repo" init >/dev/null &&
	"$CFS" --repo "$repo" add --hardlinks "$src" tree >/dev/null &&
	echo other >"$work/other" && mkdir "$work/src2" &&
	cp -a "$src/files" "$src/bin" "$work/src2/" &&
	"$CFS" --repo "$repo" add "$work/src2" tree2 >/dev/null ||
	{ tap_not_ok "repository made"; tap_done; exit 1; }

mkdir -p "$work/kernel"
"$CFS" --repo "$repo" mount tree "$work/kernel" &&
	"${manifest[@]}" --hardlinks "$work/kernel" >"$work/kernel.manifest"
umount "$work/kernel"
mkdir -p "$work/s1" "$work/s2" "$work/s3" "$work/s5"
chown -R "$uid:$gid" "$repo" "$work/s1" "$work/s2" "$work/s3" "$work/s5"

# --- the user's namespace -------------------------------------------------
mknod "$work/fuse" c "$((16#$(stat -c %t /dev/fuse)))" "$((16#$(stat -c %T /dev/fuse)))"
chown "$uid:$gid" "$work/fuse"
chmod 600 "$work/fuse"
unshare -m --propagation private sh -c 'mount --bind "$0" /dev/fuse && exec "$@"' \
	"$work/fuse" setpriv --reuid="$uid" --regid="$gid" --clear-groups \
	--inh-caps=-all unshare -Urm sleep 100000 &
holder=$!
own_userns() { [ "$(readlink /proc/$holder/ns/user)" != "$(readlink /proc/self/ns/user)" ]; }
if ! wait_until 5 own_userns; then
	tap_skip_all "no user namespace for $user"
fi

if out=$(in_ns "$CFS" --repo "$repo" mount tree "$work/s1" 2>&1) &&
	out2=$(in_ns "$CFS" --repo "$repo" mount tree2 "$work/s2" 2>&1); then
	tap_ok "composefs mount in a user namespace mounts two names (no EROFS there)"
else
	tap_not_ok "composefs mount in a user namespace mounts two names (no EROFS there)" "$out ${out2:-}"
	tap_done
	exit 1
fi
info=$(nsenter -t "$holder" -m cat /proc/self/mountinfo)
n_objs=$(grep -c ' - fuse.composefs-objects ' <<<"$info")
n_ovl=$(grep -c " - overlay .*userxattr" <<<"$info")
if [ "$n_objs" = 1 ] && [ "$n_ovl" = 2 ] && [ "$(servers | wc -l)" = 3 ]; then
	tap_ok "both are overlayfs (userxattr) over one object mount: 3 servers"
else
	tap_not_ok "both are overlayfs (userxattr) over one object mount: 3 servers" \
		"object mounts $n_objs, overlays $n_ovl, servers $(servers | wc -l)"
fi

# the view, read as root in that namespace. Two rules of the kernel for a
# user namespace's mounts leave things out of both sides: overlayfs reads
# its layers with the mounter's rights, so no trusted.* xattrs, and FUSE
# shows only the owners the namespace maps (the image's 0 is the user,
# any other the overflow ID), checked on their own below.
normalized()
{
	sed -E 's/ uid=[0-9]+ gid=[0-9]+//; s/(=|,)trusted\.[^=]*=[0-9a-f]*/\1/g;
		s/xattrs=,+/xattrs=/; s/,+( |$)/\1/; s/ xattrs=( |$)/\1/' "$1"
}
nsenter -t "$holder" -m "${manifest[@]}" --hardlinks "$work/s1" >"$work/s1.manifest" 2>&1
if d=$(diff <(normalized "$work/kernel.manifest") <(normalized "$work/s1.manifest")); then
	tap_ok "the view equals the kernel mount's: types, modes, sizes, contents, times, xattrs, hard links, devices, whiteouts ($(wc -l <"$work/kernel.manifest") entries)"
else
	tap_not_ok "the view equals the kernel mount's" "$(head -n 20 <<<"$d" | cut -c1-300)"
fi
if [ "$(in_ns stat -c %u:%g "$work/s1/files/size-4097")" = 0:0 ] &&
	[ "$(in_ns stat -c %u:%g "$work/s1/files/size-65")" = 65534:65534 ]; then
	tap_ok "owners: the image's root is the namespace's root, others the overflow ID"
else
	tap_not_ok "owners: the image's root is the namespace's root, others the overflow ID" \
		"$(in_ns stat -c %u:%g "$work/s1/files/size-4097" "$work/s1/files/size-65")"
fi
if out=$(grep -c 'user\.' "$work/s1.manifest") && [ "$out" -gt 0 ] &&
	grep -q 'user.overlay.redirect=' "$work/s1.manifest"; then
	tap_ok "the image's user.* xattrs are shown ($out entries; its user.overlay.* ones too)"
else
	tap_not_ok "the image's user.* xattrs are shown"
fi

# binaries run, mmap works, for the user
if out=$(in_ns "$work/s1/bin/ls" "$work/s1/files" 2>&1) && grep -q size-4097 <<<"$out"; then
	tap_ok "a binary of the mount runs"
else
	tap_not_ok "a binary of the mount runs" "$out"
fi
if out=$(in_ns python3 -c '
import hashlib, mmap, sys
with open(sys.argv[1], "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
    print(hashlib.sha256(m).hexdigest())' "$work/s2/files/size-4097" 2>&1) &&
	[ "$out" = "$(sha256sum <"$src/files/size-4097" | cut -d' ' -f1)" ]; then
	tap_ok "mmap of a file reads its content"
else
	tap_not_ok "mmap of a file reads its content" "$out"
fi
if in_ns cmp -s "$work/s1/files/size-4097" "$work/s2/files/size-4097" &&
	in_ns cmp -s "$work/s1/tamper-me" "$src/tamper-me"; then
	tap_ok "both names read the shared files"
else
	tap_not_ok "both names read the shared files"
fi

# a block changed on disk after the first read: EIO, not its bytes
# (the only object of that size: its content is random)
obj=$(cd "$repo/objects" && find . -type f -size 300000c | head -n1)
printf 'X' | dd of="$repo/objects/$obj" bs=1 seek=200000 conv=notrunc status=none
sync
echo 3 >/proc/sys/vm/drop_caches
if out=$(in_ns cat "$work/s1/tamper-me" 2>&1 >/dev/null); then
	tap_not_ok "a tampered block reads as EIO" "read succeeded"
elif grep -q "Input/output error" <<<"$out"; then
	tap_ok "a tampered block reads as EIO"
else
	tap_not_ok "a tampered block reads as EIO" "$out"
fi
if in_ns dd if="$work/s1/tamper-me" of=/dev/null bs=4096 count=40 status=none; then
	tap_ok "the object's other blocks still read"
else
	tap_not_ok "the object's other blocks still read"
fi

# composefs-fuse -o shared directly uses the same object server
image="$repo/images/$(cat "$repo/names/tree")"
if out=$(in_ns "$FUSE" -o "shared,basedir=$repo/objects" "$image" "$work/s3" 2>&1) &&
	in_ns cmp -s "$work/s3/files/size-4097" "$src/files/size-4097" &&
	[ "$(nsenter -t "$holder" -m grep -c ' - fuse.composefs-objects ' /proc/self/mountinfo)" = 1 ]; then
	tap_ok "composefs-fuse -o shared mounts over the same object server"
else
	tap_not_ok "composefs-fuse -o shared mounts over the same object server" "$out"
fi

# the object server serves whatever digest algorithm names an object: a
# SHA-512 object (128 hex digits) read, verified, through the object mount
if command -v fsverity >/dev/null; then
	head -c 50000 /dev/urandom >"$work/o512"
	d=$(fsverity digest --hash-alg=sha512 "$work/o512" | sed 's/^sha512://; s/ .*//')
	wrong=${d:0:127}$([ "${d:127}" = 0 ] && echo 1 || echo 0)
	install -D -m 644 "$work/o512" "$repo/objects/${d:0:2}/${d:2}"
	install -D -m 644 "$work/o512" "$repo/objects/${wrong:0:2}/${wrong:2}"
	objmnt=$(nsenter -t "$holder" -m awk '/ - fuse.composefs-objects / { print $5 }' /proc/self/mountinfo)
	if in_ns cmp -s "$objmnt/${d:0:2}/${d:2}" "$work/o512" &&
		! in_ns cat "$objmnt/${wrong:0:2}/${wrong:2}" >/dev/null 2>&1; then
		tap_ok "a SHA-512 object is served verified, one whose name is not its digest is not"
	else
		tap_not_ok "a SHA-512 object is served verified, one whose name is not its digest is not" "$objmnt"
	fi
else
	tap_skip "a SHA-512 object is served verified" "fsverity is not installed"
fi

# an image of SHA-512 digests, its objects in the same store, mounts over
# the same object server (the objects copied in by hand: the SHA-256
# repository's own tools refuse to mix algorithms)
MKCOMPOSEFS=$(cfs_tool mkcomposefs)
if "$MKCOMPOSEFS" --hash-alg=sha512 --digest-store="$work/store512" "$work/src2" "$work/img512" 2>"$work/mk512.err" &&
	cp -a "$work/store512/." "$repo/objects/"; then
	chmod -R a+rX "$repo/objects" "$work/img512"
	mkdir -p "$work/s4" && chown "$uid:$gid" "$work/s4"
	if out=$(in_ns "$FUSE" -o "shared,basedir=$repo/objects" "$work/img512" "$work/s4" 2>&1) &&
		in_ns cmp -s "$work/s4/files/size-4097" "$src/files/size-4097" &&
		[ "$(nsenter -t "$holder" -m grep -c ' - fuse.composefs-objects ' /proc/self/mountinfo)" = 1 ]; then
		tap_ok "an image of SHA-512 digests mounts over the same object server"
	else
		tap_not_ok "an image of SHA-512 digests mounts over the same object server" "$out"
	fi
	in_ns umount "$work/s4"
else
	tap_skip "an image of SHA-512 digests mounts over the same object server" "$(head -c 100 "$work/mk512.err")"
fi

# whether a mount of ours is left in the namespace: the object server's, an
# image's metadata (under the user's runtime directory), an overlay
ours_mounted()
{
	nsenter -t "$holder" -m grep -q -e ' - fuse.composefs-objects ' \
		-e " $work/s" -e " /tmp/composefs-fuse-$uid/" /proc/self/mountinfo
}

# a mount that does not verify gets an object server of its own: a
# verifying mount never reads through it
if out=$(in_ns "$CFS" --repo "$repo" mount -o verify=none tree2 "$work/s5" 2>&1) &&
	[ "$(nsenter -t "$holder" -m grep -c ' - fuse.composefs-objects ' /proc/self/mountinfo)" = 2 ] &&
	! in_ns cat "$work/s1/tamper-me" >/dev/null 2>&1; then
	tap_ok "verify=none gets an object server of its own; the verified mounts still refuse the tampered block"
else
	tap_not_ok "verify=none gets an object server of its own; the verified mounts still refuse the tampered block" "$out"
fi
in_ns umount "$work/s5"

# unmounting all leaves no server and no mount
in_ns umount "$work/s1" "$work/s2" "$work/s3"
no_servers() { [ -z "$(servers)" ]; }
if wait_until 5 no_servers &&
	! ours_mounted; then
	tap_ok "unmounting leaves no server and no mount behind"
else
	tap_not_ok "unmounting leaves no server and no mount behind" \
		"$(servers) $(nsenter -t "$holder" -m grep composefs /proc/self/mountinfo)"
fi

# a killed object server: errors, not a hang; the next mount replaces it
in_ns "$CFS" --repo "$repo" mount tree "$work/s1" >/dev/null 2>&1
in_ns cat "$work/s1/files/size-4097" >/dev/null
objsrv=$(for p in $(servers); do [ "$(cat /proc/$p/comm)" = composefs-objs ] && echo "$p"; done)
if [ -n "$objsrv" ]; then
	kill -9 $objsrv
	echo 3 >/proc/sys/vm/drop_caches
	timeout 20 nsenter -t "$holder" -U -m cat "$work/s1/files/size-4097" >/dev/null 2>"$work/killed.err"
	rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 124 ]; then
		tap_ok "a killed object server: reads fail at once ($(head -c 80 "$work/killed.err"))"
	else
		tap_not_ok "a killed object server: reads fail at once" "exit status $rc"
	fi
else
	tap_not_ok "a killed object server: reads fail at once" "no object server found"
fi
if out=$(in_ns "$CFS" --repo "$repo" mount tree2 "$work/s2" 2>&1) &&
	in_ns cmp -s "$work/s2/files/size-4097" "$src/files/size-4097"; then
	tap_ok "the next mount replaces the dead object server"
else
	tap_not_ok "the next mount replaces the dead object server" "$out"
fi
in_ns umount "$work/s1" "$work/s2"
if wait_until 5 no_servers &&
	! ours_mounted; then
	tap_ok "unmounting then leaves no server and no mount behind"
else
	tap_not_ok "unmounting then leaves no server and no mount behind" "$(servers)"
fi

# a namespace whose user leaves without unmounting: its servers notice that
# only they are left, detach the mounts and end (within some 10 s)
mkdir -p "$work/s7" && chown "$uid:$gid" "$work/s7" && : >"$work/ns5" && chown "$uid:$gid" "$work/ns5"
unshare -m --propagation private sh -c 'mount --bind "$0" /dev/fuse && exec "$@"' \
	"$work/fuse" setpriv --reuid="$uid" --regid="$gid" --clear-groups \
	--inh-caps=-all unshare -Urm sh -c '
		"$0" --repo "$1" mount tree "$2" && cat "$2/files/size-4097" >/dev/null &&
		readlink /proc/self/ns/mnt >"$3"' "$CFS" "$repo" "$work/s7" "$work/ns5"
ns5=$(cat "$work/ns5")
in_ns5()
{
	local pid
	for pid in $(pgrep -u "$uid" 'composefs'); do
		[ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$ns5" ] &&
			[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ] && echo "$pid"
	done
}
no_servers5() { [ -z "$(in_ns5)" ]; }
if [ -n "$ns5" ] && [ -n "$(in_ns5)" ] && wait_until 30 no_servers5; then
	tap_ok "a namespace left without unmounting: its servers end by themselves"
else
	tap_not_ok "a namespace left without unmounting: its servers end by themselves" \
		"namespace '$ns5', servers: $(in_ns5)"
fi

# root's -o shared mount (in the initial namespace) is readable by others:
# the roots of the FUSE mounts have their modes before overlayfs takes them
mkdir -p "$work/s6"
if out=$("$CFS" --repo "$repo" mount -o shared tree "$work/s6" 2>&1) &&
	setpriv --reuid="$uid" --regid="$gid" --clear-groups cmp "$work/s6/files/size-4097" "$src/files/size-4097" &&
	setpriv --reuid="$uid" --regid="$gid" --clear-groups ls "$work/s6/dirs" >/dev/null; then
	tap_ok "root's shared mount reads for another user"
else
	tap_not_ok "root's shared mount reads for another user" "$out"
fi
umount "$work/s6" 2>/dev/null

tap_done
