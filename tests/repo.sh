#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# The composefs command: every verb with good and bad input, fsck against
# planted damage, gc, mounts by name, kill -9 at random moments, and adds
# running beside a gc.
set -u
. "$(dirname "$0")/tap.sh"

cfs_require_tool COMPOSEFS composefs
cfs_require_tool MKCOMPOSEFS mkcomposefs
cfs_require_tool INFO composefs-info
work=$(mktemp -d)
cleanup()
{
	umount "$work/mnt" 2>/dev/null
	umount "$work/mnt2" 2>/dev/null
	umount "$work/other" 2>/dev/null
	[ -n "${ns_pid:-}" ] && kill "$ns_pid" 2>/dev/null
	umount "$work/ro" 2>/dev/null
	rm -rf -- "$work"
}
trap cleanup EXIT
cd "$work" || exit 1
unset COMPOSEFS_REPO

cfs() { "$COMPOSEFS" --repo "$work/repo" "$@"; }


# expect_output DESCRIPTION PATTERN: the last expect's output matches
expect_output()
{
	if printf '%s\n' "$out" | grep -q -e "$2"; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "no '$2' in: $out"
	fi
}

# make_tree DIR SEED N: N files of 1 to 64 KiB of seeded random bytes, a
# few small ones, a symlink, a subdirectory
make_tree()
{
	python3 - "$1" "$2" "$3" <<'EOF'
import os, random, sys
root, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
os.makedirs(root + "/sub", exist_ok=True)
for i in range(n):
    d = root + ("/sub" if i % 3 else "")
    with open(f"{d}/f{i}", "wb") as f:
        f.write(rnd.randbytes(rnd.randint(1024, 65536)))
with open(root + "/small", "w") as f:
    f.write("inline\n")
os.symlink("sub/f1", root + "/link")
EOF
}

# no_tmp_files DIR: no leftover of an interrupted write anywhere in DIR
no_tmp_files()
{
	[ -z "$(find "$1" -name '.tmp-*' -print -quit)" ]
}

# objects_in_use: the sorted objects every named image uses
objects_in_use()
{
	local hex
	for hex in $(cat repo/names/* 2>/dev/null | sort -u); do
		"$INFO" objects "repo/images/$hex"
	done | sort -u
}

# objects_on_disk: every file under objects/, as ab/cdef...
objects_on_disk()
{
	(cd repo/objects && find . -type f -printf '%P\n' | sort)
}

# ------------------------------------------------------------------
# Verbs

mkdir src1 src2
make_tree src1 1 20
make_tree src2 2 20
cp src1/sub/f2 src2/sub/shared-copy # one object in both images

tap_expect 1 "a repository that does not exist is refused" cfs images
expect_output "... saying so" "no repository at"
tap_expect 0 "init" cfs init
tap_expect 1 "a second init is refused" cfs init
expect_output "... saying so" "already a composefs repository"
[ -f repo/composefs-repository ] && [ -d repo/objects ] && [ -d repo/images ] && [ -d repo/names ]
tap_check "init makes the documented layout" test $? -eq 0
mkdir notempty && touch notempty/x
tap_expect 1 "init refuses a directory holding something else" \
	"$COMPOSEFS" --repo notempty init

tap_expect 0 "add a directory" cfs add src1 one
d1=$out
tap_expect 0 "add a second directory" cfs add src2 two
d2=$out
ref1=$("$MKCOMPOSEFS" --print-digest src1 ref1.cfs)
if [ "$d1" = "$ref1" ]; then
	tap_ok "add prints the digest mkcomposefs gives the same tree"
else
	tap_not_ok "add prints the digest mkcomposefs gives the same tree" "$d1 vs $ref1"
fi
tap_expect 0 "export" cfs export one one.cfs
tap_check "the exported image is mkcomposefs's, byte for byte" cmp one.cfs ref1.cfs
tap_expect 0 "export to stdout" sh -c "'$COMPOSEFS' --repo '$work/repo' export two - >two.cfs"
tap_check "... and has the digest add printed" \
	test "$("$INFO" measure-file two.cfs | cut -d' ' -f1)" = "$d2"

tap_expect 0 "adding the same tree under the same name again" cfs add src1 one
expect_output "... is a no-op with the same digest" "$d1"
tap_expect 1 "a taken name is not moved to another image" cfs add src2 one
expect_output "... saying so" "taken by image $d1"
tap_check "... and still names the first image" test "$(cat repo/names/one)" = "$d1"
tap_expect 0 "--replace moves a name" cfs add --replace src2 one
tap_check "... to the new image" test "$(cat repo/names/one)" = "$d2"
tap_expect 0 "--replace back" cfs add --replace src1 one

tap_expect 2 "a name with a slash is a usage error" cfs add src1 a/b
tap_expect 2 "a name starting with a dot is a usage error" cfs add src1 .hidden
tap_expect 2 "add without a name is a usage error" cfs add src1
tap_expect 2 "an unknown command is a usage error" cfs frobnicate
tap_expect 2 "an unknown option is a usage error" cfs images --frob
tap_expect 0 "--help" cfs --help
tap_expect 0 "add --help" cfs add --help
tap_expect 1 "export of an unknown name fails" cfs export nosuch x.cfs
expect_output "... naming it" "no image named 'nosuch'"
tap_check "... writing nothing" test ! -e x.cfs
tap_expect 1 "rm of an unknown name fails" cfs rm nosuch
tap_expect 1 "add of a missing directory fails" cfs add no-such-dir three
tap_check "... naming nothing" test ! -e repo/names/three

# images: counts and sharing
tap_expect 0 "images --json" cfs images --json
printf '%s\n' "$out" >images.json
python3 - "$work" >check.out 2>&1 <<'EOF'
import json, os, subprocess, sys
work = sys.argv[1]
data = json.load(open(f"{work}/images.json"))["images"]
by = {i["name"]: i for i in data}
assert sorted(by) == ["one", "two"], by
def objects(name):
    size = {}
    for root, _, files in os.walk(f"{work}/{name}"):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p) and os.path.getsize(p) > 64:
                h = subprocess.run(["sha256sum", p], capture_output=True, text=True).stdout.split()[0]
                size[h] = os.path.getsize(p)
    return size
o1, o2 = objects("src1"), objects("src2")
for name, mine, other in (("one", o1, o2), ("two", o2, o1)):
    i = by[name]
    assert i["objects"] == len(mine), (name, i, len(mine))
    assert i["object_bytes"] == sum(mine.values()), (name, i)
    shared = sum(s for h, s in mine.items() if h in other)
    assert shared > 0
    assert i["shared_bytes"] == shared, (name, i, shared)
    assert i["unique_bytes"] == i["object_bytes"] - shared, (name, i)
print("ok")
EOF
tap_check "images counts objects, bytes, shared and unique bytes right" grep -qx ok check.out
tap_diag <check.out
tap_expect 0 "images as a table" cfs images
expect_output "... one line per name" "^two  *$d2"

# --from-file: a dump whose objects are in the repository
"$INFO" dump one.cfs >one.dump
tap_expect 0 "add --from-file a dump of an image of the repository" cfs add --from-file one.dump one-again
expect_output "... gives the same digest" "$d1"
printf '/ 0 40755 2 0 0 0 0.0 - - -\n/f 100000 100644 1 0 0 0 0.0 %s - %s\n' \
	"ab/$(printf '%062d' 0)" "ab$(printf '%062d' 0)" >missing.dump
tap_expect 1 "add --from-file of a dump whose object is missing fails" cfs add --from-file missing.dump nope
expect_output "... naming the object" "ab/0000"
tap_check "... naming nothing" test ! -e repo/names/nope

# repositories of another format, or not repositories
cp -a repo future
echo "composefs-repository 99" >future/composefs-repository
tap_expect 1 "a repository of an unknown format is refused" "$COMPOSEFS" --repo future images
expect_output "... naming the format" "format 99"
rm -rf future
mkdir plain
tap_expect 1 "a directory that is no repository is refused" "$COMPOSEFS" --repo plain images
expect_output "... saying so" "not a composefs repository"
tap_expect 0 "COMPOSEFS_REPO chooses the repository" env COMPOSEFS_REPO="$work/repo" "$COMPOSEFS" images
if [ "$(id -u)" -eq 0 ]; then
	chmod 755 "$work"
	mkdir -p xdg && chown 65534:65534 xdg
	tap_expect 0 "a user's init goes to \$XDG_DATA_HOME/composefs" \
		env -u COMPOSEFS_REPO XDG_DATA_HOME="$work/xdg" setpriv --reuid=65534 --regid=65534 --clear-groups "$COMPOSEFS" init
	tap_check "... there" test -f xdg/composefs/composefs-repository
else
	tap_skip "a user's init goes to \$XDG_DATA_HOME/composefs" "needs root to switch users"
fi

# a read-only repository: reading works, writing fails clearly
if [ "$(id -u)" -eq 0 ] && mkdir ro && mount --bind repo ro && mount -o remount,bind,ro ro; then
	tap_expect 0 "a read-only repository lists its images" "$COMPOSEFS" --repo ro images
	tap_expect 0 "... exports them" "$COMPOSEFS" --repo ro export one ro.cfs
	tap_expect 0 "... checks clean" "$COMPOSEFS" --repo ro fsck
	tap_expect 1 "... refuses an add" "$COMPOSEFS" --repo ro add src1 more
	expect_output "... saying why" "Read-only file system"
	tap_expect 1 "... refuses an rm" "$COMPOSEFS" --repo ro rm one
	umount ro
else
	tap_skip "a read-only repository" "needs root for a read-only bind mount"
fi

tap_expect 0 "fsck of a sound repository" cfs fsck
tap_expect 0 "fsck --json" cfs fsck --json
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["problems"]==[] and d["names"]==3 and d["images"]==2, d' "$out"
tap_check "... says so in JSON" test $? -eq 0

# gc
tap_expect 0 "rm" cfs rm two
tap_check "... removes the name" test ! -e repo/names/two
before=$(objects_on_disk)
tap_expect 0 "gc --dry-run" cfs gc --dry-run
expect_output "... lists the image that would go" "images/$d2"
tap_check "... removes nothing" test "$(objects_on_disk)" = "$before" -a -e "repo/images/$d2"
tap_expect 0 "gc" cfs gc
expect_output "... counts what went" "removed 1 images"
tap_check "... leaves exactly the objects the named images use" \
	test "$(objects_on_disk)" = "$(objects_in_use)"
tap_check "... and removes the unnamed image" test ! -e "repo/images/$d2"
tap_check "... keeping the shared object" \
	test -e "repo/objects/$("$INFO" measure-file src2/sub/shared-copy | cut -c1-2)/$("$INFO" measure-file src2/sub/shared-copy | cut -c3-64)"
tap_expect 0 "fsck after gc" cfs fsck
tap_expect 0 "add what gc removed, again" cfs add src2 two

# ------------------------------------------------------------------
# fsck against planted damage

# plant NAME KIND DESCRIPTION CMD: copy the repository, damage it with CMD
# (run inside the copy), check that fsck reports KIND and exits 1 within
# 20 s, and that fsck --repair, gc and an add of both trees make it clean.
plant()
{
	local kind="$1" description="$2" cmd="$3" rc
	rm -rf damaged && cp -a repo damaged
	(cd damaged && eval "$cmd")
	out=$(timeout 20 "$COMPOSEFS" --repo damaged fsck 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && printf '%s\n' "$out" | grep -q "^$kind: "; then
		tap_ok "fsck finds $description ($kind)"
	else
		tap_not_ok "fsck finds $description ($kind)" "status $rc: $out"
	fi
	out=$(timeout 20 "$COMPOSEFS" --repo damaged fsck --repair 2>&1
		timeout 20 "$COMPOSEFS" --repo damaged gc 2>&1
		"$COMPOSEFS" --repo damaged add src1 one 2>&1
		"$COMPOSEFS" --repo damaged add src2 two 2>&1
		timeout 20 "$COMPOSEFS" --repo damaged fsck 2>&1)
	if timeout 20 "$COMPOSEFS" --repo damaged fsck >/dev/null 2>&1; then
		tap_ok "... repaired: fsck, gc and adding again make it clean"
	else
		tap_not_ok "... repaired: fsck, gc and adding again make it clean" "$out"
	fi
}

obj=$(cd repo/objects && find . -type f -size +20k -printf '%P\n' | sort | head -1)
plant corrupt-object "a flipped byte" \
	"chmod u+w objects/$obj; printf '\\x55' | dd of=objects/$obj bs=1 seek=1000 conv=notrunc status=none"
plant corrupt-object "a truncated object" "truncate -s 100 objects/$obj"
plant not-regular "an object replaced by a symlink" "rm objects/$obj; ln -s /etc/passwd objects/$obj"
plant not-regular "an object replaced by a FIFO" "rm objects/$obj; mkfifo objects/$obj"
plant not-regular "an object replaced by a directory" "rm objects/$obj; mkdir objects/$obj"
plant missing-object "a missing object" "rm objects/$obj"
plant stray "a stray file" "echo hello >objects/${obj%%/*}/README"
plant stray "an object outside its fan-out directory" "cp objects/$obj objects/${obj/\//}"
plant dangling-name "a dangling name" "echo $(printf '%064d' 7) >names/ghost"
plant bad-name "a name that is not a digest" "echo garbage >names/garbage"
plant corrupt-image "a corrupt image" \
	"chmod u+w images/$d1; printf 'XXXX' | dd of=images/$d1 bs=1 seek=1100 conv=notrunc status=none"
plant corrupt-image "an image swapped for another" "cp images/$d2 images/$d1"
plant leftover "a leftover temporary file" "echo x >objects/${obj%%/*}/.tmp-0123456789abcdef"

# a FIFO must not block a quarantined add either
rm -rf damaged && cp -a repo damaged
rm "damaged/objects/$obj" && mkfifo "damaged/objects/$obj"
tap_expect 0 "an add replaces a FIFO at an object's name" timeout 20 "$COMPOSEFS" --repo damaged add src1 again
tap_expect 0 "... leaving the repository clean" timeout 20 "$COMPOSEFS" --repo damaged fsck

# ------------------------------------------------------------------
# Mounts by name

if [ "$(id -u)" -eq 0 ] && grep -qw erofs /proc/filesystems; then
	mkdir -p mnt
	tap_expect 0 "mount by name (kernel)" cfs mount one mnt
	if mountpoint -q mnt && [ -n "$(ls mnt)" ]; then
		tap_check "... shows the tree" diff -r src1 mnt
		umount mnt
	else
		tap_not_ok "... shows the tree" "nothing mounted"
	fi
	cp -a repo swapped
	cp "swapped/images/$d2" "swapped/images/$d1"
	tap_expect 1 "a swapped image file is refused (kernel)" "$COMPOSEFS" --repo swapped mount one mnt
	expect_output "... naming the digests" "$d1"
	tap_check "... and nothing is mounted" sh -c '! mountpoint -q mnt'
	if [ -c /dev/fuse ] && [ -x "$(cfs_tool composefs-fuse)" ]; then
		tap_expect 0 "mount --fuse by name" env COMPOSEFS_FUSE="$(cfs_tool composefs-fuse)" "$COMPOSEFS" --repo "$work/repo" mount --fuse one mnt
		if mountpoint -q mnt && [ -n "$(ls mnt)" ]; then
			tap_check "... shows the tree" diff -r src1 mnt
			umount mnt
		else
			tap_not_ok "... shows the tree" "nothing mounted"
		fi
		tap_expect 1 "a swapped image file is refused (FUSE)" env COMPOSEFS_FUSE="$(cfs_tool composefs-fuse)" "$COMPOSEFS" --repo swapped mount --fuse one mnt
		tap_check "... and nothing is mounted" sh -c '! mountpoint -q mnt'
	else
		tap_skip "mount --fuse by name" "no /dev/fuse or no composefs-fuse"
	fi
	tap_expect 2 "upperdir without workdir is a usage error" cfs mount -o upperdir=/tmp one mnt
	rm -rf swapped
else
	tap_skip "mount by name" "needs root and EROFS"
fi

# ------------------------------------------------------------------
# A mounted image is a root for gc while the mount exists

# mounted_gc KIND MOUNT-OPTIONS...: mount the image "m" of a repository of
# its own, remove its name, gc, then read every file of the mount
mounted_gc()
{
	local kind=$1 n
	shift
	rm -rf mrepo msrc && mkdir -p mnt
	make_tree msrc 4242 300
	"$COMPOSEFS" --repo mrepo init && "$COMPOSEFS" --repo mrepo add msrc m >/dev/null || return
	n=$(find mrepo/objects -type f | wc -l)
	tap_expect 0 "mount by name ($kind)" "$@" "$COMPOSEFS" --repo "$work/mrepo" mount "${mopts[@]}" m mnt
	tap_check "... is recorded in mounts/" test "$(ls mrepo/mounts | wc -l)" -eq 1
	tap_expect 0 "... rm of its name" "$COMPOSEFS" --repo mrepo rm m
	tap_expect 0 "... gc while mounted" "$COMPOSEFS" --repo mrepo gc
	tap_check "... keeps all $n objects" test "$(find mrepo/objects -type f | wc -l)" -eq "$n"
	tap_check "... every file of the mount reads as it was" diff -r msrc mnt
	umount mnt
	tap_expect 0 "... gc after the unmount" "$COMPOSEFS" --repo mrepo gc
	tap_check "... removes the objects, the image and the record" \
		test -z "$(find mrepo/objects mrepo/images mrepo/mounts -type f)"
}

if [ "$(id -u)" -eq 0 ] && grep -qw erofs /proc/filesystems; then
	mopts=()
	mounted_gc kernel env
	if [ -c /dev/fuse ] && [ -x "$(cfs_tool composefs-fuse)" ]; then
		mopts=(--fuse)
		mounted_gc FUSE env COMPOSEFS_FUSE="$(cfs_tool composefs-fuse)"
	else
		tap_skip "a FUSE mount survives gc" "no /dev/fuse or no composefs-fuse"
	fi

	# a mount in another mount namespace is found there; once no process
	# is in that namespace, the mount and its record are gone
	rm -rf mrepo msrc ready && mkdir -p mnt2
	make_tree msrc 4343 50
	"$COMPOSEFS" --repo mrepo init && "$COMPOSEFS" --repo mrepo add msrc m >/dev/null
	n=$(find mrepo/objects -type f | wc -l)
	unshare -m --propagation private sh -c \
		'"$1" --repo mrepo mount m mnt2 && touch ready && exec sleep 60' sh "$COMPOSEFS" &
	ns_pid=$!
	for _ in $(seq 100); do [ -e ready ] && break; sleep 0.1; done
	tap_check "a mount in another namespace is made" test -e ready
	"$COMPOSEFS" --repo mrepo rm m
	tap_expect 0 "... gc from this namespace" "$COMPOSEFS" --repo mrepo gc
	tap_check "... keeps its $n objects" test "$(find mrepo/objects -type f | wc -l)" -eq "$n"
	tap_check "... which read through it" nsenter -t "$ns_pid" -m -w diff -r msrc mnt2
	kill "$ns_pid" && wait "$ns_pid" 2>/dev/null
	tap_expect 0 "... gc once that namespace is gone" "$COMPOSEFS" --repo mrepo gc
	tap_check "... drops the stale record and the objects" \
		test -z "$(find mrepo/objects mrepo/images mrepo/mounts -type f)"

	# a record whose mount is gone but whose ID a new mount took
	"$COMPOSEFS" --repo mrepo add msrc m >/dev/null
	"$COMPOSEFS" --repo mrepo mount m mnt
	rec=$(ls mrepo/mounts)
	umount mnt
	mkdir -p other && mount -t tmpfs none other
	id=$(awk -v p="$work/other" '$5 == p { print $1 }' /proc/self/mountinfo)
	sed "2s/^[0-9]*/$id/" "mrepo/mounts/$rec" >"mrepo/mounts/$id"
	"$COMPOSEFS" --repo mrepo rm m
	tap_expect 0 "a gc with records of mounts gone (one ID taken by another mount)" "$COMPOSEFS" --repo mrepo gc
	tap_check "... drops them and what they kept" \
		test -z "$(find mrepo/objects mrepo/images mrepo/mounts -type f)"
	umount other
	rm -rf mrepo msrc ready
else
	tap_skip "a mounted image survives gc" "needs root and EROFS"
fi

# ------------------------------------------------------------------
# kill -9 at random moments

rm -rf repo crash-src && mkdir crash-src
make_tree crash-src/a 10 120
make_tree crash-src/b 11 120
cfs init >/dev/null
cfs add crash-src/a base >/dev/null
killed=0
for round in $(seq 1 50); do
	# (the tool itself in the background, not a shell function, so that
	# the kill reaches it)
	if [ $((round % 5)) -eq 0 ]; then
		"$COMPOSEFS" --repo "$work/repo" gc >/dev/null 2>&1 &
	else
		# each round a tree of its own: new objects to write
		rm -rf crash-src/r && make_tree crash-src/r $((100 + round)) 200
		"$COMPOSEFS" --repo "$work/repo" add --replace crash-src/r "round$((round % 3))" >/dev/null 2>&1 &
	fi
	pid=$!
	sleep "0.$(printf '%03d' $((RANDOM % 80)))"
	kill -9 "$pid" 2>/dev/null && killed=$((killed + 1))
	wait "$pid" 2>/dev/null
done
tap_diag "$killed of 50 runs killed before they finished"
if [ "$killed" -ge 10 ]; then
	tap_ok "at least 10 of the 50 runs were killed while they worked ($killed)"
else
	tap_not_ok "at least 10 of the 50 runs were killed while they worked" "only $killed"
fi
tap_check "after 50 killed adds and gcs, no temporary file is left" no_tmp_files repo
tap_expect 0 "... fsck is clean" cfs fsck
tap_expect 0 "... gc runs" cfs gc
tap_check "... after which every object is used by a named image" \
	test "$(objects_on_disk)" = "$(objects_in_use)"
tap_check "... and none of them is missing" test -z "$(comm -13 <(objects_on_disk) <(objects_in_use))"
tap_expect 0 "... and fsck is clean" cfs fsck

# an interrupted mkcomposefs --digest-store keeps its finished batches and
# leaves no temporary file in the store
rm -rf store && make_tree crash-src/m 12 2000
"$MKCOMPOSEFS" --digest-store=store crash-src/m m.cfs &
pid=$!
for _ in $(seq 1 100); do
	[ "$(find store -type f 2>/dev/null | wc -l)" -ge 256 ] && break
	sleep 0.02
done
if kill -9 "$pid" 2>/dev/null; then
	tap_diag "mkcomposefs killed with $(find store -type f | wc -l) objects in place"
else
	tap_diag "mkcomposefs finished before it could be killed"
fi
wait "$pid" 2>/dev/null
n=$(find store -type f | wc -l)
tap_check "a killed mkcomposefs --digest-store leaves no temporary file" no_tmp_files store
tap_check "... nor a temporary image" test -z "$(ls -A | grep '^\.m\.cfs')"
if [ "$n" -ge 256 ]; then
	tap_ok "... and keeps the objects of its finished batches ($n)"
else
	tap_not_ok "... and keeps the objects of its finished batches" "$n objects"
fi
tap_check "... every one whole" sh -c "cd store && for f in */*; do [ \"\$('$INFO' measure-file \"\$f\" | cut -d' ' -f1)\" = \"\${f%%/*}\${f#*/}\" ] || exit 1; done"

# ------------------------------------------------------------------
# Four adds and a gc at once

failures=""
for round in 1 2 3; do
	pids=()
	for k in 1 2 3 4; do
		rm -rf "crash-src/c$k" && make_tree "crash-src/c$k" $((round * 10 + k)) 40
		cp crash-src/a/sub/f1 "crash-src/c$k/shared"
	done
	for k in 1 2 3 4; do
		cfs add --replace "crash-src/c$k" "c$k" >"add$k.out" 2>&1 &
		pids+=($!)
	done
	cfs gc >gc.out 2>&1 &
	pids+=($!)
	# a check beside them finds nothing wrong in what they do
	cfs fsck >fsck.out 2>&1 &
	pids+=($!)
	for pid in "${pids[@]}"; do
		wait "$pid" || failures="$failures round $round: $(cat add*.out gc.out fsck.out)"
	done
done
if [ -z "$failures" ]; then
	tap_ok "four adds, a gc and an fsck at once all succeed, three times"
else
	tap_not_ok "four adds, a gc and an fsck at once all succeed, three times" "$failures"
fi
tap_expect 0 "... and fsck is clean (no named image misses an object)" cfs fsck
tap_expect 0 "... gc" cfs gc
tap_check "... leaves exactly what the named images use" \
	test "$(objects_on_disk)" = "$(objects_in_use)"

# a command that has to wait for the lock says so
exec 9>repo/lock
flock -x 9
cfs images >wait.out 2>&1 &
pid=$!
sleep 0.5
flock -u 9
exec 9>&-
wait "$pid"
out=$(cat wait.out)
expect_output "a command waiting for the lock says so" "waiting for the lock"

# mkcomposefs into a repository's objects follows the locking protocol
exec 9>repo/lock
flock -x 9
"$MKCOMPOSEFS" --digest-store=repo/objects crash-src/c1 direct.cfs >mk.out 2>&1 &
pid=$!
sleep 0.5
if kill -0 "$pid" 2>/dev/null && [ ! -e direct.cfs ]; then
	tap_ok "mkcomposefs --digest-store=REPO/objects waits while gc holds the repository"
else
	tap_not_ok "mkcomposefs --digest-store=REPO/objects waits while gc holds the repository" "$(cat mk.out)"
fi
flock -u 9
exec 9>&-
wait "$pid"
tap_check "... and goes on once it is free" test -s direct.cfs
out=$(cat mk.out)
expect_output "... saying it waits" "waiting for the lock"

tap_done
