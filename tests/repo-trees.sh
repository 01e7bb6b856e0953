#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# composefs mount --fuse keeps the Merkle trees it verified in the
# repository's trees/ and uses them at the next mount (an object changed
# since reads as EIO block by block instead of failing its open, which
# shows the object was not hashed whole again); fsck checks them (a bad
# one, a FIFO, a stray name, a tree of an object that is gone), --repair
# removes what is bad, and gc removes the trees of the objects it removes.
#
# Needs root (the repository's FUSE mount), /dev/fuse and fusermount3.
set -u

tests_dir=$(cd "$(dirname "$0")" && pwd)
. "$tests_dir/tap.sh"

tap_require_root
[ -c /dev/fuse ] || tap_skip_all "no /dev/fuse"
tap_require_commands fusermount3 python3 fsverity
cfs_require_tool COMPOSEFS composefs
FUSE=$(cfs_tool composefs-fuse) || exit 1
[ -x "$FUSE" ] || tap_skip_all "composefs-fuse not built (no libfuse3)"
work=$(mktemp -d)
trap 'fusermount3 -u "$work/m" 2>/dev/null; rm -rf -- "$work"' EXIT
cd "$work" || exit 1
unset COMPOSEFS_REPO
cfs() { "$COMPOSEFS" --repo "$work/repo" "$@"; }

# expect_fsck DESCRIPTION STATUS PATTERN [fsck options]: fsck exits with
# STATUS (within 10 s) and its output matches PATTERN (extended regexp)
expect_fsck()
{
	local what="$1" want="$2" pattern="$3" out rc
	shift 3
	out=$(timeout 10 "$COMPOSEFS" --repo "$work/repo" fsck "$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ] && grep -Eq -- "$pattern" <<<"$out"; then
		tap_ok "$what"
	else
		tap_not_ok "$what" "status $rc: $out"
	fi
}

# unmount_m: unmount m and wait (10 s at most) for its server to end, which
# writes the Merkle trees it verified as it goes
unmount_m()
{
	local pids=() p i alive
	for p in $(pgrep -f composefs-fuse); do
		if ls -l "/proc/$p/fd" 2>/dev/null | grep -q -- "$work/"; then
			pids+=("$p")
		fi
	done
	fusermount3 -u m
	for ((i = 0; i < 100; i++)); do
		alive=0
		for p in "${pids[@]}"; do
			kill -0 "$p" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && return 0
		sleep 0.1
	done
	tap_diag "the server of m has not ended 10 s after unmounting"
}

mkdir src
head -c $((3 * 1024 * 1024 + 100)) /dev/urandom >src/big
echo small >src/small
cfs init >/dev/null
cfs add src one >/dev/null || exit 1
hex=$(fsverity digest --compact src/big)
obj="repo/objects/${hex:0:2}/${hex:2}"
tree="repo/trees/$hex"
blocks=$(((3 * 1024 * 1024 + 100 + 4095) / 4096))
[ -f "$obj" ] || tap_diag "object $obj of src/big not found"

mkdir m
if cfs mount --fuse one m && cmp -s m/big src/big; then
	tap_ok "composefs mount --fuse serves the file"
else
	tap_not_ok "composefs mount --fuse serves the file"
fi
unmount_m
if [ -f "$tree" ] && [ "$(stat -c %s "$tree")" -eq $((blocks * 32)) ]; then
	tap_ok "its verified Merkle tree is kept as trees/HEX ($blocks leaves)"
else
	tap_not_ok "its verified Merkle tree is kept as trees/HEX" "$(ls -la repo/trees 2>&1)"
fi
expect_fsck "fsck knows the tree: nothing reported" 0 ": 0 problems"

# The next mount takes the tree from disk: with the object's last block
# changed, the open succeeds (a rebuild would hash the whole object and
# refuse it) and only that block fails.
python3 - "$obj" <<'EOF_PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(-50, os.SEEK_END)
    b = f.read(1)
    f.seek(-50, os.SEEK_END)
    f.write(bytes([b[0] ^ 0xff]))
EOF_PY
cfs mount --fuse one m
if out=$(python3 - m/big src/big <<'EOF_PY' 2>&1
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
want = open(sys.argv[2], "rb").read()
assert os.pread(fd, 65536, 0) == want[:65536], "first blocks"
try:
    os.pread(fd, 4096, len(want) - 50)
except OSError as e:
    assert e.errno == errno.EIO, e
else:
    raise AssertionError("the changed block was served")
print("ok")
EOF_PY
); then
	tap_ok "a second mount uses the kept tree: open without rehashing, the changed block is EIO"
else
	tap_not_ok "a second mount uses the kept tree: open without rehashing, the changed block is EIO" "$out"
fi
unmount_m
cp src/big "$obj" # put the object back

# fsck: damaged trees are reported, and removed by --repair
cp "$tree" good-tree
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100); b = f.read(1); f.seek(100); f.write(bytes([b[0] ^ 1]))' "$tree"
zeros=$(printf '0%.0s' $(seq 64))
mkfifo "repo/trees/$zeros"
echo junk >repo/trees/junk
head -c 64 /dev/zero >"repo/trees/$(printf 'f%.0s' $(seq 64))"
expect_fsck "fsck: a tree whose leaves are not its object's is bad-tree" 1 "bad-tree: trees/$hex: its leaves do not give the object's digest"
expect_fsck "fsck: a FIFO at a tree's name is bad-tree, at once" 1 "bad-tree: trees/$zeros: a Merkle tree that is not a regular file"
expect_fsck "fsck: a name that is no digest is stray-tree" 1 "stray-tree: trees/junk"
expect_fsck "fsck: the tree of an object not there is orphan-tree" 1 "orphan-tree: trees/f{64}"
expect_fsck "fsck --repair removes them" 1 "4 problems" --repair
if [ -z "$(ls -A repo/trees)" ]; then
	tap_ok "after --repair the trees directory is empty"
else
	tap_not_ok "after --repair the trees directory is empty" "$(ls -A repo/trees)"
fi
expect_fsck "then fsck finds nothing" 0 ": 0 problems"

# gc: the trees of objects it removes go with them, others stay
cp good-tree "$tree"
mkdir src2
echo other >src2/small
head -c 100000 /dev/urandom >src2/other
cfs add src2 two >/dev/null
cfs mount --fuse two m && cat m/other >/dev/null
unmount_m
n_before=$(ls repo/trees | wc -l)
cfs rm one
out=$(cfs gc 2>&1)
if [ "$n_before" -eq 2 ] && [ ! -e "$tree" ] && [ "$(ls repo/trees | wc -l)" -eq 1 ]; then
	tap_ok "gc removes the tree of the object it removes, keeps the other ($out)"
else
	tap_not_ok "gc removes the tree of the object it removes, keeps the other" "$n_before before; $out; $(ls repo/trees)"
fi
expect_fsck "after gc fsck finds nothing" 0 ": 0 problems"

tap_done
