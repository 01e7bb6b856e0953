#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# composefs-fuse: the tree it serves equals the kernel mount's, contents are
# verified block by block, bad objects and images are refused, and it works
# without root.
#
# Needs root (to build the source tree and for the kernel mount it is
# compared with), /dev/fuse and fusermount3; skips visibly otherwise.
set -uo pipefail

tests_dir=$(cd "$(dirname "$0")" && pwd)
. "$tests_dir/tap.sh"
. "$tests_dir/assets.sh"

tap_require_root
[ -c /dev/fuse ] || tap_skip_all "no /dev/fuse"
tap_require_commands fusermount3
tap_require_fs erofs overlay fuse

MKCOMPOSEFS=$(cfs_tool mkcomposefs) || exit 1
FUSE=$(cfs_tool composefs-fuse) || exit 1
[ -x "$FUSE" ] || tap_skip_all "composefs-fuse not built (no libfuse3)"
manifest=(python3 "$tests_dir/manifest.py")

work=$(mktemp -d "${TMPDIR:-/tmp}/cfs-fuse.XXXXXX")
chmod 755 "$work"
fuse_pids=()

mounts_under_work()
{
	awk -v prefix="$work/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | tac
}

cleanup()
{
	local dir pid
	for dir in $(mounts_under_work); do
		fusermount3 -u "$dir" 2>/dev/null || umount "$dir" 2>/dev/null ||
			umount -l "$dir" 2>/dev/null || true
	done
	for pid in "${fuse_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for loop in $(losetup -j "$work/tree.img" -O NAME -n 2>/dev/null); do
		losetup -d "$loop" 2>/dev/null || true
	done
	# the mode of /dev/fuse, changed for the unprivileged tests, comes
	# back however the test ends
	[ -n "${old_mode:-}" ] && chmod "$old_mode" /dev/fuse
	[ -n "$(mounts_under_work)" ] || rm -rf "$work"
}
trap cleanup EXIT

# wait_mounted DIR: until DIR is a mount point (5 s at most)
wait_mounted()
{
	local i
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$1" && return 0
		sleep 0.05
	done
	return 1
}

# fuse_mount_bg LOG IMAGE DIR OPTIONS: composefs-fuse in the foreground, in
# the background, its messages in LOG; sets fuse_pid
fuse_mount_bg()
{
	local log="$1" image="$2" dir="$3" opts="$4"
	mkdir -p "$dir"
	"$FUSE" -f -o "$opts" "$image" "$dir" 2>"$log" &
	fuse_pid=$!
	fuse_pids+=("$fuse_pid")
	wait_mounted "$dir"
}

unmount()
{
	fusermount3 -u "$1" 2>/dev/null || umount "$1"
}

# ---------------------------------------------------------------------------
# The generated tree: FUSE view = kernel view = source

src="$work/src"
store="$work/store"
if ! out=$(python3 "$tests_dir/gen-tree.py" "$src" 2>&1); then
	tap_not_ok "source tree generated" "$out"
	tap_done
	exit 1
fi
"$MKCOMPOSEFS" --hardlinks --digest-store="$store" "$src" "$work/tree.img"
chmod -R a+rX "$store"
chmod a+r "$work/tree.img"

mkdir -p "$work/meta" "$work/kernel"
mount -t erofs -o ro,loop "$work/tree.img" "$work/meta" &&
	mount -t overlay overlay -o "ro,metacopy=on,redirect_dir=follow,lowerdir=$work/meta::$store" "$work/kernel"
"${manifest[@]}" --hardlinks "$work/kernel" >"$work/kernel.manifest"
"${manifest[@]}" --hardlinks --whiteouts-as-files "$src" >"$work/src.manifest"

for mode in full open none; do
	if fuse_mount_bg "$work/fuse-$mode.log" "$work/tree.img" "$work/fuse-$mode" "basedir=$store,verify=$mode"; then
		"${manifest[@]}" --hardlinks "$work/fuse-$mode" >"$work/fuse-$mode.manifest"
		if d=$(diff "$work/kernel.manifest" "$work/fuse-$mode.manifest"); then
			tap_ok "verify=$mode: FUSE view equals the kernel mount's ($(wc -l <"$work/kernel.manifest") entries)"
		else
			tap_not_ok "verify=$mode: FUSE view equals the kernel mount's" "$(printf '%s\n' "$d" | head -n 20)"
		fi
		unmount "$work/fuse-$mode"
	else
		tap_not_ok "verify=$mode: mount" "$(cat "$work/fuse-$mode.log")"
	fi
done
# security.* names no file of the image has: "not supported" (what lets
# ls -l stop asking per file); one that a file has: served
if fuse_mount_bg "$work/sec.log" "$work/tree.img" "$work/sec" "basedir=$store"; then
	if out=$(python3 - "$work/sec/files/size-4097" <<'EOF' 2>&1
import errno, os, sys
f = sys.argv[1]
assert os.getxattr(f, "security.test") == b"security value"
try:
    os.getxattr(f, "security.selinux")
    sys.exit("security.selinux: no error")
except OSError as e:
    assert e.errno == errno.EOPNOTSUPP, e
try:
    os.getxattr(f, "user.nothing")
    sys.exit("user.nothing: no error")
except OSError as e:
    assert e.errno == errno.ENODATA, e
# no file of this image has an ACL: not supported, for files and directories
for p in (f, os.path.dirname(f)):
    for n in ("system.posix_acl_access", "system.posix_acl_default"):
        try:
            os.getxattr(p, n)
            sys.exit(f"{p} {n}: no error")
        except OSError as e:
            assert e.errno == errno.EOPNOTSUPP, (p, n, e)
EOF
	); then
		tap_ok "getxattr: a security.* name or an ACL no file has is not supported, a security.* name a file has is served, other absent names ENODATA"
	else
		tap_not_ok "getxattr: a security.* name or an ACL no file has is not supported, a security.* name a file has is served, other absent names ENODATA" "$out"
	fi
	# st_blocks as EROFS gives them (whole 4 KiB blocks), for every name
	# both mounts have
	if out=$(python3 - "$work/meta" "$work/sec" <<'EOF' 2>&1
import os, sys
def blocks(top):
    r = {}
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(d, n)
            r[os.path.relpath(p, top)] = os.lstat(p).st_blocks
    return r
a, b = blocks(sys.argv[1]), blocks(sys.argv[2])
common = set(a) & set(b)
assert len(common) > 100, len(common)
bad = [(n, a[n], b[n]) for n in sorted(common) if a[n] != b[n]]
assert not bad, bad[:10]
assert any(a[n] > 8 for n in common)
print(len(common))
EOF
	); then
		tap_ok "st_blocks equal EROFS's ($out names)"
	else
		tap_not_ok "st_blocks equal EROFS's" "$out"
	fi
	# as root the mount reads ahead 4 MiB (the kernel's 128 KiB leaves a
	# core idle while verifying); its device is its own
	ra=$(cat "/sys/class/bdi/$(mountpoint -d "$work/sec")/read_ahead_kb" 2>&1)
	if [ "$ra" = 4096 ]; then
		tap_ok "the mount reads ahead 4 MiB"
	else
		tap_not_ok "the mount reads ahead 4 MiB" "read_ahead_kb: $ra"
	fi
	unmount "$work/sec"
else
	tap_not_ok "getxattr of security.* names: mount" "$(cat "$work/sec.log")"
fi
if d=$(diff "$work/src.manifest" "$work/kernel.manifest"); then
	tap_ok "the kernel view equals the source"
else
	tap_not_ok "the kernel view equals the source" "$(printf '%s\n' "$d" | head -n 20)"
fi

# Eight threads listing and reading at once get the right data.
# the reference's form: the image as -o source=, the mount point alone
for order in before after; do
	mkdir -p "$work/src-$order"
	if [ $order = before ]; then
		"$FUSE" -o "source=$work/tree.img,basedir=$store" "$work/src-$order" 2>"$work/src-$order.log"
	else
		"$FUSE" "$work/src-$order" -o "source=$work/tree.img,basedir=$store" 2>"$work/src-$order.log"
	fi
	if mountpoint -q "$work/src-$order" &&
		cmp -s "$work/src-$order/files/size-4097" "$src/files/size-4097"; then
		tap_ok "-o source=IMAGE with the mount point $order the option serves the image"
	else
		tap_not_ok "-o source=IMAGE with the mount point $order the option serves the image" "$(cat "$work/src-$order.log")"
	fi
	unmount "$work/src-$order" 2>/dev/null
done

if ! fuse_mount_bg "$work/threads.log" "$work/tree.img" "$work/threads" "basedir=$store"; then
	tap_not_ok "8 threads listing and reading at once get correct data" \
		"mount failed: $(cat "$work/threads.log")"
elif out=$(python3 - "$work/threads" "$work/kernel.manifest" <<'EOF' 2>&1
import hashlib, os, sys, threading
root, expected = sys.argv[1], {}
for line in open(sys.argv[2], encoding="utf-8", errors="surrogateescape"):
    fields = line.split(" ")
    for f in fields[1:]:
        if f.startswith("sha256="):
            expected[fields[0]] = f[7:].strip()
failures = []
checked = [0] * 8
def worker(seed):
    for rounds in range(3):
        for dirpath, dirs, files in os.walk(root):
            for name in sorted(files, reverse=bool(seed % 2)):
                path = os.path.join(dirpath, name)
                rel = "/" + os.path.relpath(path, root)
                if rel not in expected or os.path.islink(path):
                    continue
                if not os.path.isfile(path):
                    continue
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    while chunk := f.read(65536 + seed * 4096):
                        h.update(chunk)
                if h.hexdigest() != expected[rel]:
                    failures.append(rel)
                checked[seed] += 1
threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
if failures:
    print("wrong content:", failures[:5]); sys.exit(1)
# each thread must have read every file the manifest has content for, three
# times: an empty or half-served mount is a failure
# (paths the manifest escapes, \\xNN, are not looked up above)
want = 3 * sum(1 for k in expected if "\\" not in k)
if len(expected) == 0 or any(c < want for c in checked):
    print("files read per thread:", checked, "expected", want); sys.exit(1)
print(f"{checked[0]} files read by each thread")
EOF
); then
	tap_ok "8 threads listing and reading at once get correct data ($out)"
else
	tap_not_ok "8 threads listing and reading at once get correct data" "$out"
fi
unmount "$work/threads"
umount "$work/kernel" "$work/meta"

# ---------------------------------------------------------------------------
# Verification

vsrc="$work/vsrc"
vstore="$work/vstore"
mkdir -p "$vsrc"
head -c $((3 * 4096)) /dev/urandom >"$vsrc/three-blocks"
head -c 10000 /dev/urandom >"$vsrc/wrong-content"
head -c 10000 /dev/urandom >"$vsrc/wrong-size"
head -c 10000 /dev/urandom >"$vsrc/missing"
head -c 20000 /dev/urandom >"$vsrc/open-mode"
head -c 10000 /dev/urandom >"$vsrc/fifo-object"
"$MKCOMPOSEFS" --digest-store="$vstore" "$vsrc" "$work/v.img"
# object_of NAME: the store object of $vsrc/NAME
object_of()
{
	local d
	d=$(fsverity digest --compact "$vsrc/$1")
	printf '%s/%s/%s\n' "$vstore" "${d:0:2}" "${d:2}"
}
if ! command -v fsverity >/dev/null; then
	tap_skip "verification checks" "fsverity(1) is not installed"
else
	head -c 10000 /dev/urandom >"$(object_of wrong-content)"
	head -c 9999 /dev/urandom >"$(object_of wrong-size)"
	rm -f "$(object_of missing)"
	rm -f "$(object_of fifo-object)" && mkfifo "$(object_of fifo-object)"

	fuse_mount_bg "$work/v.log" "$work/v.img" "$work/v" "basedir=$vstore"
	obj=$(object_of three-blocks)
	if out=$(python3 - "$work/v/three-blocks" "$obj" "$vsrc/three-blocks" <<'EOF' 2>&1
import errno, os, sys
path, obj, orig = sys.argv[1:]
data = open(orig, "rb").read()
fd = os.open(path, os.O_RDONLY)          # verified here, whole
with open(obj, "r+b") as f:              # then one byte of block 1 flips
    f.seek(4096 + 100)
    b = f.read(1)
    f.seek(4096 + 100)
    f.write(bytes([b[0] ^ 0xff]))
assert os.pread(fd, 4096, 0) == data[:4096], "block 0"
assert os.pread(fd, 4096, 8192) == data[8192:], "block 2"
try:
    os.pread(fd, 4096, 4096)
except OSError as e:
    assert e.errno == errno.EIO, e
else:
    raise AssertionError("block 1 was served")
print("ok")
EOF
	); then
		tap_ok "verify=full: a block changed after open fails with EIO, other blocks still read"
	else
		tap_not_ok "verify=full: a block changed after open fails with EIO, other blocks still read" "$out"
	fi
	if grep -q "three-blocks" "$work/v.log" && grep -q "block 1" "$work/v.log"; then
		tap_ok "the failure is logged with the file and the block ($(grep -m1 'block 1' "$work/v.log"))"
	else
		tap_not_ok "the failure is logged with the file and the block" "$(cat "$work/v.log")"
	fi
	for f in wrong-content wrong-size missing; do
		if out=$(cat "$work/v/$f" 2>&1 >/dev/null); then
			tap_not_ok "verify=full: $f fails at open" "it was served"
		else
			tap_ok "verify=full: $f fails at open (${out##*: })"
		fi
	done
	out=$(timeout 10 cat "$work/v/fifo-object" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && printf '%s' "$out" | grep -q "Input/output error"; then
		tap_ok "a FIFO at an object's name fails at once with EIO, never blocks"
	else
		tap_not_ok "a FIFO at an object's name fails at once with EIO, never blocks" "status $rc: $out"
	fi
	for _ in 1 2 3 4 5; do cat "$work/v/wrong-content" >/dev/null 2>&1; done
	n=$(grep -c "wrong-content" "$work/v.log")
	if [ "$n" -eq 1 ]; then
		tap_ok "six failed opens of one file are logged once"
	else
		tap_not_ok "six failed opens of one file are logged once" "$n lines: $(cat "$work/v.log")"
	fi
	unmount "$work/v"

	# open mode checks the whole object at open; none serves it as it is
	obj=$(object_of open-mode)
	python3 -c "
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(15000); b = f.read(1); f.seek(15000); f.write(bytes([b[0] ^ 1]))" "$obj"
	fuse_mount_bg "$work/vo.log" "$work/v.img" "$work/vo" "basedir=$vstore,verify=open"
	if cat "$work/vo/open-mode" >/dev/null 2>&1; then
		tap_not_ok "verify=open: a changed object fails at open"
	else
		tap_ok "verify=open: a changed object fails at open"
	fi
	unmount "$work/vo"
	fuse_mount_bg "$work/vn.log" "$work/v.img" "$work/vn" "basedir=$vstore,verify=none"
	if cmp -s "$work/vn/open-mode" "$obj"; then
		tap_ok "verify=none: the object is served as the store has it"
	else
		tap_not_ok "verify=none: the object is served as the store has it"
	fi
	unmount "$work/vn"

	# Nothing in the tree cache can block the server: a FIFO where a
	# tree file would be is ignored (the tree is rebuilt from the
	# verified object and saved in its place), a FIFO as the tree cache
	# or a base directory is refused at start, and SIGTERM still stops
	# the server at once.
	trees="$work/trees"
	mkdir -p "$trees"
	d=$(fsverity digest --compact "$vsrc/three-blocks")
	mkfifo "$trees/$d"
	obj=$(object_of three-blocks)
	cp "$vsrc/three-blocks" "$obj" # undo the flipped byte above
	fuse_mount_bg "$work/tc.log" "$work/v.img" "$work/tc" "basedir=$vstore,treecache=$trees"
	tc_pid=$fuse_pid
	start=$SECONDS
	out=$(timeout 10 cat "$work/tc/three-blocks" | cmp - "$vsrc/three-blocks" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && [ $((SECONDS - start)) -lt 5 ] && [ -f "$trees/$d" ] &&
		[ "$(stat -c %s "$trees/$d")" -eq $((3 * 32)) ]; then
		tap_ok "a FIFO in the tree cache: the file reads at once and a tree file replaces the FIFO"
	else
		tap_not_ok "a FIFO in the tree cache: the file reads at once and a tree file replaces the FIFO" \
			"status $rc: $out; $(ls -l "$trees"); $(cat "$work/tc.log")"
	fi
	out=$(timeout 10 cat "$work/tc/fifo-object" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "fifo-object.*not a regular file" "$work/tc.log"; then
		tap_ok "with a tree cache, a FIFO at an object's name fails at once: $(grep -m1 fifo-object "$work/tc.log")"
	else
		tap_not_ok "with a tree cache, a FIFO at an object's name fails at once" "status $rc: $out; $(cat "$work/tc.log")"
	fi
	# a tree file that is a directory or holds the wrong leaves is
	# ignored as well (the object is still verified)
	rm -f "$trees/$d" && mkdir "$trees/$d"
	fuse_mount_bg "$work/tc2.log" "$work/v.img" "$work/tc2" "basedir=$vstore,treecache=$trees"
	if timeout 10 cat "$work/tc2/three-blocks" | cmp -s - "$vsrc/three-blocks"; then
		tap_ok "a directory in the tree cache at a tree's name: the file still reads"
	else
		tap_not_ok "a directory in the tree cache at a tree's name: the file still reads" "$(cat "$work/tc2.log")"
	fi
	unmount "$work/tc2"
	kill -TERM "$tc_pid"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$tc_pid" 2>/dev/null || break
		sleep 0.05
	done
	if ! kill -0 "$tc_pid" 2>/dev/null && ! mountpoint -q "$work/tc"; then
		tap_ok "after the FIFO reads, SIGTERM stops the server and unmounts within 5 s"
	else
		tap_not_ok "after the FIFO reads, SIGTERM stops the server and unmounts within 5 s" "$(cat "$work/tc.log")"
		kill -KILL "$tc_pid" 2>/dev/null
		umount -l "$work/tc" 2>/dev/null
	fi
	mkfifo "$work/fifo-dir"
	for opt in "treecache=$work/fifo-dir" "basedir=$work/fifo-dir"; do
		mkdir -p "$work/tcx"
		out=$(timeout 10 "$FUSE" -f -o "basedir=$vstore,$opt" "$work/v.img" "$work/tcx" 2>&1)
		rc=$?
		if [ "$rc" -eq 1 ] && grep -q "fifo-dir: not a directory" <<<"$out" && ! mountpoint -q "$work/tcx"; then
			tap_ok "a FIFO given as ${opt%%=*}: refused at once ($out)"
		else
			tap_not_ok "a FIFO given as ${opt%%=*}: refused at once" "status $rc: $out"
			umount -l "$work/tcx" 2>/dev/null
		fi
	done
fi

# ---------------------------------------------------------------------------
# POSIX ACLs are enforced as by the kernel mount

if command -v setfacl >/dev/null; then
	asrc="$work/asrc"
	mkdir -p "$asrc"
	echo secret >"$asrc/for-nobody"
	echo secret >"$asrc/not-for-nobody"
	chmod 0600 "$asrc/for-nobody" "$asrc/not-for-nobody"
	setfacl -m u:nobody:r "$asrc/for-nobody"
	"$MKCOMPOSEFS" --digest-store="$work/astore" "$asrc" "$work/acl.img"
	chmod -R a+rX "$work/astore"
	fuse_mount_bg "$work/acl.log" "$work/acl.img" "$work/acl" "basedir=$work/astore"
	nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	if [ "$("${nobody[@]}" cat "$work/acl/for-nobody" 2>&1)" = secret ] &&
		! "${nobody[@]}" cat "$work/acl/not-for-nobody" >/dev/null 2>&1; then
		tap_ok "an ACL entry grants access, its absence denies it"
	else
		tap_not_ok "an ACL entry grants access, its absence denies it" \
			"$(getfacl "$work/acl/for-nobody" 2>&1)"
	fi
	if out=$(getfacl -n "$work/acl/for-nobody" 2>&1) &&
		grep -qx 'user:65534:r--' <<<"$out"; then
		tap_ok "getfacl shows the image's ACL"
	else
		tap_not_ok "getfacl shows the image's ACL" "$out"
	fi
	unmount "$work/acl"
	# -o noacl (the reference's option): the modes alone decide, and
	# ACLs are not supported
	fuse_mount_bg "$work/noacl.log" "$work/acl.img" "$work/acl" "basedir=$work/astore,noacl"
	if ! "${nobody[@]}" cat "$work/acl/for-nobody" >/dev/null 2>&1 &&
		[ "$(cat "$work/acl/for-nobody" 2>&1)" = secret ]; then
		tap_ok "noacl: the ACL entry grants nothing, the modes decide"
	else
		tap_not_ok "noacl: the ACL entry grants nothing, the modes decide" "$(cat "$work/noacl.log")"
	fi
	if out=$(getfattr -n system.posix_acl_access "$work/acl/for-nobody" 2>&1); then
		tap_not_ok "noacl: the ACL xattr is not supported" "$out"
	else
		case "$out" in
		*"Operation not supported"*) tap_ok "noacl: the ACL xattr is not supported" ;;
		*) tap_not_ok "noacl: the ACL xattr is not supported" "$out" ;;
		esac
	fi
	unmount "$work/acl"
else
	tap_skip "ACLs enforced" "setfacl (package acl) not installed"
fi

# ---------------------------------------------------------------------------
# Refusals: digests, hostile images, bad options

digest=$("$MKCOMPOSEFS" --print-digest-only --from-file - <<<'/ 0 40755 2 0 0 0 0.0 - - -')
printf '/ 0 40755 2 0 0 0 0.0 - - -\n/f 3 100644 1 0 0 0 0.0 - abc -\n' |
	"$MKCOMPOSEFS" --from-file - "$work/small.img"
right=$(fsverity digest --compact "$work/small.img" 2>/dev/null || echo)
if [ -n "$right" ]; then
	mkdir -p "$work/d"
	if "$FUSE" -o "digest=$right" "$work/small.img" "$work/d" && [ "$(cat "$work/d/f")" = abc ]; then
		tap_ok "digest= with the image's digest mounts"
	else
		tap_not_ok "digest= with the image's digest mounts"
	fi
	unmount "$work/d" 2>/dev/null
	if out=$("$FUSE" -o "digest=$digest" "$work/small.img" "$work/d" 2>&1); then
		unmount "$work/d"
		tap_not_ok "a wrong digest= is refused"
	elif grep -q "$right" <<<"$out" && grep -q "$digest" <<<"$out"; then
		tap_ok "a wrong digest= is refused, naming both digests"
	else
		tap_not_ok "a wrong digest= is refused, naming both digests" "$out"
	fi
else
	tap_skip "digest= checks" "fsverity(1) is not installed to measure the image"
fi

head -c 3000 "$work/tree.img" >"$work/truncated.img"
cp "$work/small.img" "$work/badmagic.img"
printf 'XXXX' | dd of="$work/badmagic.img" conv=notrunc status=none
cp "$work/small.img" "$work/badroot.img"
printf '\xff\xff' | dd of="$work/badroot.img" bs=1 seek=$((1024 + 14)) conv=notrunc status=none
mkdir -p "$work/h"
for bad in truncated badmagic badroot; do
	if out=$("$FUSE" "$work/$bad.img" "$work/h" 2>&1); then
		unmount "$work/h"
		tap_not_ok "hostile image ($bad) refused at mount"
	elif mountpoint -q "$work/h"; then
		tap_not_ok "hostile image ($bad) refused at mount" "something is mounted"
	else
		tap_ok "hostile image ($bad) refused at mount: ${out##*: }"
	fi
done
expect_status()
{
	local want="$1" what="$2" out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ] && [ -n "$out" ]; then
		tap_ok "$what (status $rc: $(head -n1 <<<"$out"))"
	else
		tap_not_ok "$what" "status $rc: $out"
	fi
}
expect_status 1 "verify=bogus is a usage error (status 1, as the reference's tools)" "$FUSE" -o verify=bogus "$work/small.img" "$work/h"
expect_status 1 "a missing image is an error" "$FUSE" "$work/nope.img" "$work/h"
expect_status 1 "an unreadable basedir is an error" "$FUSE" -o basedir=/nonexistent "$work/small.img" "$work/h"

# The image file truncated, then rewritten, under a running server: it goes
# on serving what it loaded (it holds a copy, not a mapping of the file).
cp "$work/small.img" "$work/moving.img"
fuse_mount_bg "$work/moving.log" "$work/moving.img" "$work/mv" "basedir=$store"
before=$(cd "$work/mv" && find . -type f -exec sha256sum {} + | sort)
truncate -s 0 "$work/moving.img"
after_truncate=$(cd "$work/mv" && find . -type f -exec sha256sum {} + | sort)
head -c 100000 /dev/urandom >"$work/moving.img"
after_rewrite=$(cd "$work/mv" && find . -type f -exec sha256sum {} + | sort)
if [ -n "$before" ] && [ "$before" = "$after_truncate" ] && [ "$before" = "$after_rewrite" ] &&
	kill -0 "$fuse_pid" 2>/dev/null; then
	tap_ok "the image truncated and rewritten under the server: same files served, server alive"
else
	tap_not_ok "the image truncated and rewritten under the server: same files served, server alive" \
		"before: $before; after truncate: $after_truncate; log: $(cat "$work/moving.log")"
fi
unmount "$work/mv"

# As root the mount is like the kernel's: devices and setuid work, so a
# system tree runs in a chroot (its /dev/null opens); -o nodev restricts it.
busybox=$(command -v busybox || true)
# (ldd fails on a static program)
if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
	tap_skip "a program runs in a chroot into the FUSE mount" "no static busybox (package busybox-static)"
else
	mkdir -p "$work/croot/bin" "$work/croot/dev"
	cp "$busybox" "$work/croot/bin/busybox"
	mknod "$work/croot/dev/null" c 1 3
	chmod 666 "$work/croot/dev/null"
	"$MKCOMPOSEFS" --digest-store="$work/cstore" "$work/croot" "$work/croot.img"
	fuse_mount_bg "$work/croot.log" "$work/croot.img" "$work/cr" "basedir=$work/cstore"
	out=$(chroot "$work/cr" /bin/busybox sh -c 'echo 42 >/dev/null && echo ran' 2>&1)
	if [ "$out" = ran ]; then
		tap_ok "a program runs in a chroot into the FUSE mount and opens its /dev/null"
	else
		tap_not_ok "a program runs in a chroot into the FUSE mount and opens its /dev/null" \
			"$out; $(grep composefs /proc/mounts)"
	fi
	unmount "$work/cr"
	fuse_mount_bg "$work/croot2.log" "$work/croot.img" "$work/cr2" "basedir=$work/cstore,nodev"
	if out=$(chroot "$work/cr2" /bin/busybox sh -c 'echo 42 >/dev/null && echo ran' 2>&1); then
		tap_not_ok "-o nodev: the chroot's /dev/null does not open" "$out"
	else
		tap_ok "-o nodev: the chroot's /dev/null does not open (${out##*: })"
	fi
	unmount "$work/cr2"
fi

# SIGTERM unmounts cleanly.
fuse_mount_bg "$work/term.log" "$work/small.img" "$work/t" "basedir=$store"
kill -TERM "$fuse_pid"
wait "$fuse_pid"
rc=$?
if [ $rc -eq 0 ] && ! mountpoint -q "$work/t"; then
	tap_ok "SIGTERM: exits 0 and the mount is gone"
else
	tap_not_ok "SIGTERM: exits 0 and the mount is gone" "status $rc, $(mountpoint "$work/t")"
fi
# A foreground start says nothing (libfuse once warned "Ignoring invalid
# max threads value 4294967295" at every start, given an unset value);
# libfuse's thread options still work.
if [ ! -s "$work/term.log" ]; then
	tap_ok "a foreground start and stop print nothing"
else
	tap_not_ok "a foreground start and stop print nothing" "$(cat "$work/term.log")"
fi
fuse_mount_bg "$work/thr.log" "$work/small.img" "$work/thr" "basedir=$store,max_threads=2,max_idle_threads=1"
if [ -n "$(ls "$work/thr")" ] && [ ! -s "$work/thr.log" ]; then
	tap_ok "-o max_threads=2,max_idle_threads=1: serves, prints nothing"
else
	tap_not_ok "-o max_threads=2,max_idle_threads=1: serves, prints nothing" "$(cat "$work/thr.log")"
fi
unmount "$work/thr"

# ---------------------------------------------------------------------------
# Without root: fusermount3, and a user namespace with no helper

user=nobody
as_user=(setpriv --reuid="$(id -u $user)" --regid="$(id -g $user)" --clear-groups --inh-caps=-all)
# /dev/fuse is 0600 here; distributions ship it 0666, which unprivileged
# mounts need (libfuse opens it before it falls back to fusermount3).
old_mode=$(stat -c %a /dev/fuse)
chmod 0666 /dev/fuse
mkdir -p "$work/u"
chown "$user" "$work/u"
if out=$("${as_user[@]}" "$FUSE" -o "basedir=$store" "$work/tree.img" "$work/u" 2>&1) &&
	[ "$("${as_user[@]}" cat "$work/u/files/size-1" | sha256sum)" = "$(sha256sum <"$src/files/size-1")" ]; then
	tap_ok "an unprivileged user mounts through fusermount3 and reads"
else
	tap_not_ok "an unprivileged user mounts through fusermount3 and reads" "$out"
fi
"${as_user[@]}" fusermount3 -u "$work/u" 2>/dev/null || umount "$work/u" 2>/dev/null

if command -v unshare >/dev/null && out=$("${as_user[@]}" unshare -Urm sh -c "
	'$FUSE' -o basedir='$store' '$work/tree.img' '$work/u' &&
	cat '$work/u/files/size-4097' | sha256sum &&
	ls '$work/u/many' | wc -l &&
	umount '$work/u'" 2>&1) &&
	grep -q "$(sha256sum <"$src/files/size-4097" | cut -d' ' -f1)" <<<"$out"; then
	tap_ok "inside unshare -Urm, an unprivileged user mounts with no helper"
else
	tap_not_ok "inside unshare -Urm, an unprivileged user mounts with no helper" "$out"
fi
chmod "$old_mode" /dev/fuse

# ---------------------------------------------------------------------------
# The golden dumps: metadata as the kernel shows it (objects are
# placeholders of the right size: their contents are unknown)

if [ -d "$ASSETS" ]; then
	for f in "$ASSETS"/*.dump "$ASSETS"/*.dump.gz; do
		name=$(basename "$f")
		case "$name" in should-fail-* | special_v1.dump | bigfile*.dump | honggfuzz-bigfile*) continue ;; esac
		gstore="$work/gstore"
		rm -rf "$gstore" "$work/g.img"
		if ! out=$(golden_read "$f" | "$MKCOMPOSEFS" --from-file - "$work/g.img" 2>&1); then
			tap_not_ok "$name: image built for the FUSE comparison" "$out"
			continue
		fi
		golden_read "$f" | python3 -c '
import os, sys
store = sys.argv[1]
for line in sys.stdin.buffer:
    f = line.split(b" ")
    if len(f) < 11 or f[2].startswith(b"@") or not f[2].startswith(b"10"):
        continue
    if f[8] == b"-" or f[9] != b"-":
        continue
    p = os.path.join(store.encode(), f[8].replace(b"\\x2d", b"-"))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as o:
        o.truncate(int(f[1]))
' "$gstore"
		mkdir -p "$gstore" "$work/gm" "$work/gk" "$work/gf"
		if ! { mount -t erofs -o ro,loop "$work/g.img" "$work/gm" &&
			mount -t overlay overlay -o "ro,metacopy=on,redirect_dir=follow,lowerdir=$work/gm::$gstore" "$work/gk"; }; then
			umount "$work/gm" 2>/dev/null
			tap_not_ok "$name: kernel mount for the FUSE comparison"
			continue
		fi
		"${manifest[@]}" --no-content --hardlinks "$work/gk" >"$work/gk.manifest" 2>&1
		umount "$work/gk" "$work/gm"
		if ! fuse_mount_bg "$work/gf.log" "$work/g.img" "$work/gf" "basedir=$gstore,verify=none"; then
			tap_not_ok "$name: FUSE mount" "$(cat "$work/gf.log")"
			continue
		fi
		"${manifest[@]}" --no-content --hardlinks "$work/gf" >"$work/gf.manifest" 2>&1
		unmount "$work/gf"
		# the manifest of a mount holds at least its root: one line
		# per entry, and a mount that showed nothing differs from one
		# that showed the tree
		if [ ! -s "$work/gk.manifest" ]; then
			tap_not_ok "$name: FUSE view equals the kernel mount's" "empty kernel manifest"
		elif d=$(diff "$work/gk.manifest" "$work/gf.manifest"); then
			tap_ok "$name: FUSE view equals the kernel mount's ($(wc -l <"$work/gk.manifest") entries)"
		else
			tap_not_ok "$name: FUSE view equals the kernel mount's" "$(head -n 20 <<<"$d")"
		fi
	done
else
	tap_skip "golden dumps through FUSE" "reference assets not found at $ASSETS"
fi

if [ -z "$(mounts_under_work)" ]; then
	tap_ok "nothing left mounted"
else
	tap_not_ok "nothing left mounted" "$(mounts_under_work)"
fi
tap_done
