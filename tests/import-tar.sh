#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# composefs import-tar: every tar feature, one at a time, against the same
# tree written to disk and built by mkcomposefs (same image digest); tar
# names a conforming unpacker rewrites; hostile tars (a clear error naming
# the entry, nothing named, never a crash or a hang).
set -u
. "$(dirname "$0")/tap.sh"

cfs_require_tool COMPOSEFS composefs
cfs_require_tool MKCOMPOSEFS mkcomposefs
cfs_require_tool DUMP composefs-dump
cfs_require_tool INFO composefs-info
tap_require_commands tar python3 gzip zstd xz
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
cd "$work" || exit 1
unset COMPOSEFS_REPO

cfs() { "$COMPOSEFS" --repo "$work/repo" "$@"; }
cfs init >/dev/null || exit 1
root=false
[ "$(id -u)" -eq 0 ] && root=true

# same_as_disk DESC DIR TARFILE [import-tar input]: importing TARFILE gives
# the image mkcomposefs --hardlinks makes of DIR
n=0
same_as_disk()
{
	local desc="$1" dir="$2" tarfile="$3" want got
	n=$((n + 1))
	want=$("$MKCOMPOSEFS" --hardlinks --print-digest-only "$dir" 2>&1)
	if [ "${#want}" -ne 64 ]; then
		tap_not_ok "$desc" "mkcomposefs failed: $want"
		return
	fi
	if [ "$tarfile" = - ]; then
		got=$(cfs import-tar - "t$n" 2>&1 <"$4")
	else
		got=$(cfs import-tar "$tarfile" "t$n" 2>&1)
	fi
	if [ "$got" = "$want" ]; then
		tap_ok "$desc"
	else
		cfs export "t$n" got.img 2>/dev/null
		"$MKCOMPOSEFS" --hardlinks "$dir" want.img 2>/dev/null
		tap_not_ok "$desc" "digest $got, mkcomposefs $want
$(diff <("$DUMP" --text want.img - 2>&1) <("$DUMP" --text got.img - 2>&1) | head -20)"
	fi
}

# a tree of plain files and directories of every interesting size
mkdir -p plain/a/b/c plain/empty-dir
for size in 0 1 63 64 65 4095 4096 4097 100000 1048576; do
	head -c "$size" /dev/urandom >"plain/f$size"
done
echo hello >plain/a/b/c/deep
chmod 4755 plain/f1
chmod 1777 plain/a
chmod 0600 plain/f63
chmod 0000 plain/f65
touch -d '2001-02-03 04:05:06.123456789' plain/f4096 plain/a/b
touch -d '1960-01-01 00:00:00' plain/f64
tar --format=pax -cf plain.tar -C plain .
same_as_disk "regular files of 0 to 1 MiB, directories, modes, pax sub-second and negative mtimes" plain plain.tar

# whole_seconds DIR: a copy of DIR with the sub-second part of every mtime
# dropped, as formats without pax records keep them
whole_seconds()
{
	rm -rf "$1-s"
	cp -a "$1" "$1-s"
	find "$1-s" -depth -print0 | while IFS= read -r -d '' f; do
		touch -h -d "@$(stat -c %Y "$f")" "$f"
	done
}
whole_seconds plain
tar --format=gnu -cf plain-gnu.tar -C plain-s .
same_as_disk "the same as a gnu tar" plain-s plain-gnu.tar
rm plain-s/f64 # ustar has no negative times
touch -d "@$(stat -c %Y plain)" plain-s
tar --format=ustar -cf plain-ustar.tar -C plain-s .
same_as_disk "the same as a ustar tar" plain-s plain-ustar.tar

gzip -c plain.tar >plain.tar.gz
zstd -q -c plain.tar >plain.tar.zst
xz -c plain.tar >plain.tar.xz
same_as_disk "gzip, told by its bytes" plain plain.tar.gz
same_as_disk "zstd" plain plain.tar.zst
same_as_disk "xz" plain plain.tar.xz
same_as_disk "from standard input (-)" plain - plain.tar.zst
# gzip in two members, and gzip followed by zeros
half=$(($(stat -c %s plain.tar) / 2))
{ head -c "$half" plain.tar | gzip -c; tail -c +$((half + 1)) plain.tar | gzip -c; } >two-members.tar.gz
same_as_disk "gzip in two members" plain two-members.tar.gz
{ cat plain.tar.gz; head -c 4096 /dev/zero; } >padded.tar.gz
same_as_disk "gzip followed by zeros" plain padded.tar.gz

head -c $(($(stat -c %s plain.tar) / 2)) plain.tar >truncated-for-mk.tar
# mkcomposefs --from-tar: the same reader, without a repository
want=$("$MKCOMPOSEFS" --hardlinks --print-digest-only plain)
got=$("$MKCOMPOSEFS" --from-tar --print-digest-only plain.tar.zst 2>&1)
tap_check "mkcomposefs --from-tar gives the image of the same tree" test "$got" = "$want"
rm -rf tar-store
got=$("$MKCOMPOSEFS" --from-tar --digest-store=tar-store --print-digest - plain-from-stdin.img <plain.tar.gz 2>&1)
if [ "$got" = "$want" ] && [ -s plain-from-stdin.img ] &&
	[ "$(find tar-store -type f | wc -l)" -eq "$(find plain -type f -size +64c | wc -l)" ]; then
	tap_ok "mkcomposefs --from-tar - --digest-store: the image, and one object per file over 64 bytes"
else
	tap_not_ok "mkcomposefs --from-tar - --digest-store: the image, and one object per file over 64 bytes" \
		"$got; $(find tar-store -type f | wc -l) objects"
fi
tap_expect 1 "mkcomposefs --from-tar of a damaged tar fails" "$MKCOMPOSEFS" --from-tar truncated-for-mk.tar out.img
tap_expect 1 "mkcomposefs --from-tar with --from-file is a usage error" "$MKCOMPOSEFS" --from-tar --from-file plain.tar out.img

mkdir links
echo target >links/file
head -c 5000 /dev/urandom >links/big
ln -s file links/rel
ln -s /etc/passwd links/abs
ln -s "$(printf 'x%.0s' $(seq 1 300))" links/long-target
ln links/big links/big-link
mkdir links/d
ln links/big links/d/another
ln links/file links/d/small-link
tar --format=pax -cf links.tar -C links .
same_as_disk "symlinks, and hard links kept as hard links" links links.tar

mkdir longnames
long=$(printf 'n%.0s' $(seq 1 200))
mkdir -p "longnames/$long/$long"
echo deep >"longnames/$long/$long/$long"
ln -s "$long" "longnames/$long/link"
tar --format=pax -cf long-pax.tar -C longnames .
same_as_disk "names past 100 bytes (pax)" longnames long-pax.tar
whole_seconds longnames
tar --format=gnu -cf long-gnu.tar -C longnames-s .
same_as_disk "names past 100 bytes (gnu)" longnames-s long-gnu.tar

mkdir sparse
truncate -s 20M sparse/holes
echo middle | dd of=sparse/holes bs=1 seek=10000000 conv=notrunc 2>/dev/null
truncate -s 1M sparse/all-hole
tar --format=pax -S -cf sparse.tar -C sparse .
same_as_disk "sparse files (holes read as zeros)" sparse sparse.tar

if $root; then
	mkdir special
	mknod special/null c 1 3
	mknod special/loop b 7 200
	mknod special/big-minor c 240 70000
	mkfifo special/fifo
	echo x >special/owned
	chown 1234:5678 special/owned special/fifo
	chown 4000000000:4000000001 special/null
	tar --format=pax -cf special.tar -C special .
	same_as_disk "devices, a FIFO, owners (also past 2^31) from the headers" special special.tar

	mkdir xattrs
	echo x >xattrs/file
	setfattr -n user.one -v first xattrs/file
	setfattr -n user.bin -v 0x00ff00 xattrs/file
	setfattr -n trusted.thing -v secret xattrs/file
	setfattr -n trusted.overlay.opaque -v y xattrs
	mkdir xattrs/d
	setfattr -n trusted.overlay.redirect -v /elsewhere xattrs/d
	setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 xattrs/file
	tar --format=pax --xattrs --xattrs-include='*' -cf xattrs.tar -C xattrs .
	same_as_disk "xattrs (user, trusted, security; overlay ones escaped)" xattrs xattrs.tar
else
	tap_skip "devices, a FIFO, owners from the headers" "needs root to make the tree on disk"
	tap_skip "xattrs (user, trusted, security; overlay ones escaped)" "needs root to make the tree on disk"
fi

# ------------------------------------------------------------------
# Names as a conforming unpacker takes them, and repeated entries:
# crafted tars against trees made to match.

cat >craft.py <<'EOF'
import io, sys, tarfile
def add(t, name, data=None, kind=tarfile.REGTYPE, link="", mode=0o644, mtime=1000):
    i = tarfile.TarInfo(name)
    i.type = kind
    i.mode = mode
    i.mtime = mtime
    i.linkname = link
    if data is not None:
        i.size = len(data)
        t.addfile(i, io.BytesIO(data))
    else:
        t.addfile(i)
case = sys.argv[1]
with tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT) as t:
    if case == "names":
        add(t, "./", kind=tarfile.DIRTYPE, mode=0o755, mtime=7)
        add(t, "/abs", kind=tarfile.DIRTYPE, mode=0o755)
        add(t, "/abs/file", b"absolute\n")
        add(t, "../../up", b"up\n")
        add(t, "a/./b/../c", b"dots\n")
        add(t, "a", kind=tarfile.DIRTYPE, mode=0o700, mtime=5)
        add(t, "dup", b"first version, long enough to be an object........\n" * 3)
        add(t, "dup", b"second\n", mode=0o600)
        add(t, "d2", kind=tarfile.DIRTYPE, mode=0o755)
        add(t, "d2/keep", b"kept\n")
        add(t, "d2", kind=tarfile.DIRTYPE, mode=0o711, mtime=9)
        add(t, "f2d", b"a file first\n")
        add(t, "f2d", kind=tarfile.DIRTYPE, mode=0o755)
        add(t, "f2d/in", b"inside\n")
    elif case == "parents":
        add(t, "x/y/z", b"deep\n")
    elif case == "link-self":
        add(t, "a", b"a\n")
        add(t, "b", kind=tarfile.LNKTYPE, link="b")
    elif case == "link-later":
        add(t, "a", kind=tarfile.LNKTYPE, link="b")
        add(t, "b", b"b\n")
    elif case == "link-missing":
        add(t, "a", kind=tarfile.LNKTYPE, link="nowhere/at/all")
    elif case == "link-dir":
        add(t, "d", kind=tarfile.DIRTYPE)
        add(t, "a", kind=tarfile.LNKTYPE, link="d")
    elif case == "not-dir":
        add(t, "f", b"file\n")
        add(t, "f/g", b"under a file\n")
    elif case == "many":
        for i in range(int(sys.argv[3])):
            add(t, "d%03d/f%d" % (i % 1000, i), b"")
EOF

python3 craft.py names names.tar
mkdir -p names-tree/abs names-tree/a names-tree/d2 names-tree/f2d
echo absolute >names-tree/abs/file
echo up >names-tree/up
echo dots >names-tree/a/c
echo second >names-tree/dup
echo kept >names-tree/d2/keep
echo inside >names-tree/f2d/in
chmod 600 names-tree/dup
chmod 700 names-tree/a
chmod 711 names-tree/d2
touch -d @1000 names-tree/abs/file names-tree/up names-tree/a/c names-tree/dup \
	names-tree/d2/keep names-tree/f2d/in names-tree/abs names-tree/f2d
touch -d @5 names-tree/a
touch -d @9 names-tree/d2
touch -d @7 names-tree
same_as_disk "absolute names, '..' kept inside, later entries replace earlier ones (a directory keeps its children)" names-tree names.tar

python3 craft.py parents parents.tar
tap_expect 0 "a tar without its parent directories imports" cfs import-tar parents.tar parents
cfs export parents parents.img
"$DUMP" --text parents.img parents.dump
# path size mode nlink uid gid rdev mtime: the root, x and x/y
if [ "$(awk '$1 == "/" || $1 == "/x" || $1 == "/x/y" { print $3, $5, $6, $8 }' parents.dump | sort -u)" = "40755 0 0 0.0" ] &&
	[ "$(grep -c '^/x' parents.dump)" -eq 3 ]; then
	tap_ok "missing parents and the root: mode 0755, owner 0:0, mtime 0"
else
	tap_not_ok "missing parents and the root: mode 0755, owner 0:0, mtime 0" "$(head -3 parents.dump)"
fi

# ------------------------------------------------------------------
# Hostile tars

# refused DESC PATTERN NAME FILE: import-tar fails, saying PATTERN, and
# NAME stays unnamed
refused()
{
	local desc="$1" pattern="$2" name="$3" file="$4"
	tap_expect 1 "$desc: refused" cfs import-tar "$file" "$name"
	if printf '%s\n' "$out" | grep -q -e "$pattern"; then
		tap_ok "$desc: the message says '$pattern'"
	else
		tap_not_ok "$desc: the message says '$pattern'" "$out"
	fi
	if cfs images | grep -q "^$name "; then
		tap_not_ok "$desc: nothing named" "$(cfs images)"
	else
		tap_ok "$desc: nothing named"
	fi
}

for c in link-self link-later link-missing link-dir; do
	python3 craft.py $c $c.tar
done
refused "hard link to itself" "entry 2 'b'.*hard link" h1 link-self.tar
refused "hard link to a later entry" "entry 1 'a'.*hard link to 'b'" h2 link-later.tar
refused "hard link to a name that does not exist" "hard link to 'nowhere/at/all'" h3 link-missing.tar
refused "hard link to a directory" "entry 2 'a'.*hard link to 'd'" h4 link-dir.tar
python3 craft.py not-dir not-dir.tar
refused "an entry under a file" "'f/g'.*not a directory" h5 not-dir.tar

# entries below a symlink of the same layer follow it inside the root;
# a loop of symlinks is refused
python3 - symloop.tar <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for name, target in (("x", "y"), ("y", "/x")):
        ti = tarfile.TarInfo(name)
        ti.type, ti.linkname = tarfile.SYMTYPE, target
        t.addfile(ti)
    ti = tarfile.TarInfo("x/file")
    t.addfile(ti, io.BytesIO(b""))
EOF
refused "an entry below a loop of symlinks" "entry 3 'x/file'.*more than 40 symlinks" h5b symloop.tar

head -c $(($(stat -c %s plain.tar) / 2)) plain.tar >truncated.tar
refused "truncated tar" "truncated\|Truncated" h6 truncated.tar
head -c $(($(stat -c %s plain.tar.gz) / 2)) plain.tar.gz >truncated.tar.gz
refused "truncated gzip" "truncated\|Truncated\|unexpected end\|Damaged" h7 truncated.tar.gz

{ cat plain.tar.gz; echo garbage; } >trailing.tar.gz
refused "gzip followed by other bytes" "after the end of the gzip\|trailing\|garbage" h12 trailing.tar.gz
python3 - plain.tar.gz badcrc.tar.gz <<'EOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[-8] ^= 0xff  # the CRC-32 in the trailer
open(sys.argv[2], "wb").write(data)
EOF
refused "gzip whose CRC does not match" "checksum\|crc\|CRC" h13 badcrc.tar.gz

# a bad header checksum in the middle: the second header's checksum field
python3 - plain.tar badsum.tar <<'EOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
# find the second ustar header and break its checksum
pos = data.find(b"ustar", 512 + 257) - 257
data[pos + 148:pos + 156] = b"0000000\0"
open(sys.argv[2], "wb").write(data)
EOF
refused "a bad header checksum" "checksum\|Damaged\|damaged" h8 badsum.tar

# a size past the end: a header claiming 1 GiB followed by little
python3 - big-size.tar <<'EOF'
import sys, tarfile
i = tarfile.TarInfo("huge")
i.size = 1 << 30
hdr = i.tobuf(tarfile.USTAR_FORMAT)
open(sys.argv[1], "wb").write(hdr + b"x" * 4096)
EOF
refused "a size past the end of the stream" "huge" h9 big-size.tar

python3 - deep.tar <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    i = tarfile.TarInfo("d/" * 3000 + "f")
    i.size = 1
    t.addfile(i, io.BytesIO(b"x"))
EOF
refused "a name longer than PATH_MAX (3000 directories deep)" "longer than 4096 bytes" h14 deep.tar

head -c 10000 /dev/urandom >garbage
refused "not a tar at all" "garbage" h10 garbage
: >empty-file
refused "an empty file" "empty-file" h11 empty-file

tap_expect 2 "a missing NAME is a usage error" cfs import-tar plain.tar
tap_expect 1 "a missing file names it" cfs import-tar no-such.tar x
if printf '%s\n' "$out" | grep -q "no-such.tar"; then
	tap_ok "the message names the missing file"
else
	tap_not_ok "the message names the missing file" "$out"
fi

# 100k entries in 1000 directories
python3 craft.py many many.tar 100000
start=$(date +%s)
tap_expect 0 "100,000 entries import" cfs import-tar many.tar many
elapsed=$(($(date +%s) - start))
tap_diag "100,000 entries: ${elapsed}s"
cfs export many many.img
count=$("$DUMP" --text many.img - | wc -l)
if [ "$count" -eq 101001 ]; then
	tap_ok "...all of them (and 1000 directories and the root)"
else
	tap_not_ok "...all of them (and 1000 directories and the root)" "$count lines"
fi

# one directory of 20,000 entries in random order, 5,000 of them given
# again (files replaced by directories and the other way round): the
# tree is what the last entries say, in name order
python3 - shuffled.tar shuffled.expect <<'EOF'
import io, random, sys, tarfile
rng = random.Random(7)
names = ["n%06d" % i for i in range(20000)]
rng.shuffle(names)
final = {}
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    def put(name, kind, data=b""):
        i = tarfile.TarInfo(name)
        i.type = kind
        i.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        i.size = len(data)
        t.addfile(i, io.BytesIO(data))
    for n in names:
        put("d/" + n, tarfile.REGTYPE, n.encode())
        final["/d/" + n] = "f"
    for n in rng.sample(names, 5000):
        if rng.random() < 0.5:
            put("d/" + n, tarfile.DIRTYPE)
            put("d/" + n + "/inside", tarfile.REGTYPE, b"x")
            final["/d/" + n] = "d"
            final["/d/" + n + "/inside"] = "f"
        else:
            put("d/" + n, tarfile.REGTYPE, b"again " + n.encode())
            final["/d/" + n] = "f"
            final.pop("/d/" + n + "/inside", None)
with open(sys.argv[2], "w") as o:
    for path in sorted(final):
        o.write(path + " " + final[path] + "\n")
EOF
tap_expect 0 "a directory of 20,000 entries in random order, 5,000 given again, imports" cfs import-tar shuffled.tar shuffled
cfs export shuffled shuffled.img
"$DUMP" --text shuffled.img - | awk '$1 ~ /^\/d\// { t = substr($3, 1, 1) == "4" ? "d" : "f"; print $1, t }' | LC_ALL=C sort >shuffled.got
if cmp -s shuffled.got shuffled.expect; then
	tap_ok "... as the last entries say ($(wc -l <shuffled.got) entries)"
else
	tap_not_ok "... as the last entries say" "$(diff shuffled.expect shuffled.got | head -10)"
fi

# a 4 GiB sparse file: streamed, never held
mkdir huge
truncate -s 4G huge/sparse
echo end >>huge/sparse
tar --format=pax -S -cf huge.tar -C huge .
same_as_disk "a 4 GiB sparse file" huge huge.tar

# ------------------------------------------------------------------
# Hard links name what their target held at that point of the stream

# relink.py FILE LAST: 'a' (200 bytes), 'b' a hard link to 'a', 'c' one to
# 'b', then 'a' again as LAST: a file of 300 other bytes, a symlink or a
# directory (with a file in it)
cat >relink.py <<'EOF'
import io, sys, tarfile
out, last = sys.argv[1], sys.argv[2]
def reg(t, name, data):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, 1000000000
    t.addfile(ti, io.BytesIO(data))
def link(t, name, target):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.LNKTYPE, target, 0o644, 1000000000
    t.addfile(ti)
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    ti = tarfile.TarInfo(".")
    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1000000000
    t.addfile(ti)
    reg(t, "a", bytes(range(200)))
    link(t, "b", "a")
    link(t, "c", "b")
    if last == "file":
        reg(t, "a", b"x" * 300)
    elif last == "symlink":
        ti = tarfile.TarInfo("a")
        ti.type, ti.linkname, ti.mtime = tarfile.SYMTYPE, "elsewhere", 1000000000
        t.addfile(ti)
    elif last == "dir":
        ti = tarfile.TarInfo("a")
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1000000000
        t.addfile(ti)
        reg(t, "a/inside", b"y" * 100)
    elif last == "link-again":
        # 'a' a link to 'c': the first inode under three names again
        reg(t, "a", b"x" * 300)
        link(t, "a", "c")
EOF
for last in file symlink dir link-again; do
	python3 relink.py "relink-$last.tar" "$last"
	mkdir "relink-$last"
	if ! tar -xf "relink-$last.tar" -C "relink-$last"; then
		tap_not_ok "a hard link's target given again as a $last: GNU tar extracts it" ""
		continue
	fi
	same_as_disk "a hard link's target given again as a $last: the tree GNU tar extracts" \
		"relink-$last" "relink-$last.tar"
	want=$("$MKCOMPOSEFS" --hardlinks --print-digest-only "relink-$last")
	got=$("$MKCOMPOSEFS" --from-tar --print-digest-only "relink-$last.tar" 2>&1)
	tap_check "... and mkcomposefs --from-tar gives it too" test "$got" = "$want"
done
# what GNU tar gives, spelled out: 'b' and 'c' one inode of the first 200
# bytes (link count 2), 'a' the 300 new ones
"$MKCOMPOSEFS" --from-tar relink-file.tar relink-file.img
"$DUMP" --text relink-file.img - | awk '$1 != "/" { print $1, $2, $4, $NF }' >relink.got
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(200)))' >first200
head -c 300 /dev/zero | tr '\0' x >new300
first=$("$INFO" measure-file first200)
want="/a 300 1 $("$INFO" measure-file new300)
/b 200 2 $first
/c 200 2 $first"
if [ "$(cat relink.got)" = "$want" ]; then
	tap_ok "'b' and 'c': one inode of the first 200 bytes, link count 2; 'a': the 300 new bytes"
else
	tap_not_ok "'b' and 'c': one inode of the first 200 bytes, link count 2; 'a': the 300 new bytes" \
		"$(diff <(echo "$want") relink.got)"
fi

# ------------------------------------------------------------------
# Sparse files: holes cost time in the tree's height, not their size

# sparse_tar.py FILE REALSIZE [OFFSET LEN DATA]: a PAX sparse tar (format
# 1.0) of one file 'bomb' of REALSIZE bytes, all hole but LEN bytes of
# DATA at OFFSET when given
cat >sparse_tar.py <<'EOF'
import io, sys, tarfile
out, realsize = sys.argv[1], int(sys.argv[2])
pieces = [(int(sys.argv[3]), int(sys.argv[4]))] if len(sys.argv) > 3 else []
data = sys.argv[5].encode() if len(sys.argv) > 5 else b""
smap = "%d\n" % len(pieces) + "".join("%d\n%d\n" % p for p in pieces)
body = smap.encode()
body += b"\0" * (-len(body) % 512) + data[: sum(l for _, l in pieces)]
ti = tarfile.TarInfo("bomb")
ti.size = len(body)
ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                  "GNU.sparse.name": "bomb",
                  "GNU.sparse.realsize": str(realsize)}
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    t.addfile(ti, io.BytesIO(body))
EOF
# timed COMMAND...: run it (under a timeout); $out, $rc and $ms (wall time)
timed()
{
	local t0=$EPOCHREALTIME t1
	out=$(timeout 20 "$@" 2>&1)
	rc=$?
	t1=$EPOCHREALTIME
	ms=$(((10#${t1/./} - 10#${t0/./}) / 1000))
}
python3 sparse_tar.py bomb60.tar $((1 << 60))
timed "$COMPOSEFS" --repo "$work/repo" import-tar bomb60.tar bomb60
if [ "$rc" -eq 1 ] && [ "$ms" -lt 1000 ] &&
	printf '%s\n' "$out" | grep -q "entry 1 'bomb'.*1152921504606846976 bytes.*more than a composefs image can describe (2^53"; then
	tap_ok "a 10 KB tar claiming a 2^60-byte sparse file is refused in $ms ms, naming the entry and the limit"
else
	tap_not_ok "a 10 KB tar claiming a 2^60-byte sparse file is refused in well under a second" "exit $rc after $ms ms: $out"
fi
timed "$MKCOMPOSEFS" --from-tar bomb60.tar bomb60.img
if [ "$rc" -eq 1 ] && [ "$ms" -lt 1000 ] && [ ! -e bomb60.img ] &&
	printf '%s\n' "$out" | grep -q "bomb.*more than a composefs image"; then
	tap_ok "... and by mkcomposefs --from-tar ($ms ms), nothing written"
else
	tap_not_ok "... and by mkcomposefs --from-tar" "exit $rc after $ms ms: $out"
fi
# the largest size an image describes: 2^53 bytes, a hole and "end"
python3 sparse_tar.py bomb53.tar $((1 << 53)) $(((1 << 53) - 3)) 3 end
timed "$MKCOMPOSEFS" --from-tar bomb53.tar bomb53.img
size=$("$DUMP" --text bomb53.img - 2>/dev/null | awk '$1 == "/bomb" { print $2 }')
if [ "$rc" -eq 0 ] && [ "$ms" -lt 1000 ] && [ "$size" = $((1 << 53)) ]; then
	tap_ok "a 2^53-byte sparse file (the largest an image describes) makes an image in $ms ms"
else
	tap_not_ok "a 2^53-byte sparse file makes an image in well under a second" "exit $rc after $ms ms, size $size: $out"
fi
# into a store, the store's filesystem has the last word (ext4: 16 TiB)
timed "$COMPOSEFS" --repo "$work/repo" import-tar bomb53.tar bomb53
if [ "$ms" -lt 1000 ] && { [ "$rc" -eq 0 ] ||
	printf '%s\n' "$out" | grep -q "entry 1 'bomb'.*more than the store's filesystem holds"; }; then
	tap_ok "... into a repository in $ms ms: imported, or refused naming the entry and the store's filesystem (exit $rc)"
else
	tap_not_ok "... into a repository in well under a second" "exit $rc after $ms ms: $out"
fi

# 1 GiB of holes around some data: the object's digest is that of the
# same bytes read plainly by fsverity(1)
mkdir sparse1g
truncate -s 1G sparse1g/f
head -c 100000 /dev/urandom | dd of=sparse1g/f bs=4096 seek=12345 conv=notrunc 2>/dev/null
echo tail | dd of=sparse1g/f bs=1 seek=$(((1 << 30) - 10)) conv=notrunc 2>/dev/null
echo head | dd of=sparse1g/f bs=1 seek=77 conv=notrunc 2>/dev/null
tar --format=pax -S -cf sparse1g.tar -C sparse1g .
timed "$COMPOSEFS" --repo "$work/repo" import-tar sparse1g.tar sparse1g
cfs export sparse1g sparse1g.img 2>/dev/null
got=$("$DUMP" --text sparse1g.img - 2>/dev/null | awk '$1 == "/f" { print $NF }')
if command -v fsverity >/dev/null; then
	want=$(fsverity digest --compact --hash-alg=sha256 --block-size=4096 sparse1g/f)
	if [ "$rc" -eq 0 ] && [ "$got" = "$want" ] && [ "$ms" -lt 1000 ]; then
		tap_ok "a 1 GiB sparse file imports in $ms ms with the digest fsverity(1) reads"
	else
		tap_not_ok "a 1 GiB sparse file imports in well under a second with the digest fsverity(1) reads" \
			"exit $rc after $ms ms: $out; digest $got, fsverity $want"
	fi
else
	tap_skip "a 1 GiB sparse file's digest against fsverity(1)" "fsverity(1) not installed"
fi
same_as_disk "... and the image of that tree written to disk" sparse1g sparse1g.tar

# after all the failures: gc takes what they left, fsck is clean
tap_expect 0 "gc after the failed imports" cfs gc
tap_expect 0 "fsck is clean" cfs fsck

tap_done
