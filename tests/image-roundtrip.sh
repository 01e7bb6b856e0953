#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# The image reader through its tools, on every golden dump: dump -> image
# (mkcomposefs) -> `composefs-info dump` gives the dump back (as the library
# parses and prints it, up to what an image cannot keep: see
# dump-normalize.py), that text makes the identical image again, so do
# composefs-dump's text and `composefs-dump --image`; ls, objects and
# missing-objects print what the dump says they should (dump-expect.py).
# Then measure-file, hard-link names, --filter, and errors.
set -u
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/assets.sh"

MKCOMPOSEFS=$(cfs_tool mkcomposefs) || exit 1
INFO=$(cfs_tool composefs-info) || exit 1
DUMP=$(cfs_tool composefs-dump) || exit 1
REPRINT=${DUMP_REPRINT:-${CFS_BUILDDIR:-}/tests/dump-reprint}
TESTS=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d)
trap 'umount "$work/fullfs" 2>/dev/null; rm -rf -- "$work"' EXIT

normalize() { python3 "$TESTS/dump-normalize.py" "$@"; }
expect() { python3 "$TESTS/dump-expect.py" "$@"; }
image_version() { od -An -tu4 -j12 -N4 "$1" | tr -d ' '; }

# cmp_files DESCRIPTION EXPECTED ACTUAL: ok, or not ok with the first lines
# of the difference
cmp_files()
{
	if cmp -s "$2" "$3"; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "$(diff "$2" "$3" | head -n 6 | cut -c 1-200)"
	fi
}

golden()
{
	local f="$1" name v img
	local -a strict_arg=()

	name=$(basename "$f")
	golden_strict "$f" && strict_arg=(--strict)

	img="$work/$name.img"
	if ! golden_read "$f" | golden_mk "$f" --from-file - "$img" 2>"$work/err"; then
		tap_not_ok "$name: image built" "$(cat "$work/err")"
		return
	fi
	v=$(image_version "$img")

	# composefs-info dump gives back the dump as parsed
	"$INFO" dump "$img" >"$work/info" 2>"$work/err" ||
		tap_not_ok "$name: composefs-info dump" "$(cat "$work/err")"
	golden_read "$f" | "$REPRINT" "${strict_arg[@]}" >"$work/parsed"
	normalize "$v" "$work/parsed" >"$work/parsed.norm"
	if cmp -s "$work/parsed" "$work/info"; then
		tap_ok "$name: composefs-info dump prints the dump as parsed"
	else
		normalize "$v" "$work/info" >"$work/info.norm"
		cmp_files "$name: composefs-info dump prints the dump as parsed, up to what the image keeps" \
			"$work/parsed.norm" "$work/info.norm"
	fi

	# which makes the same image again, as composefs-dump's text does
	CFS_PARSE_STRICT=1 "$MKCOMPOSEFS" --min-version="$v" --max-version="$v" \
		--from-file "$work/info" "$work/again.img" 2>"$work/err"
	cmp_files "$name: the printed dump makes the identical image" "$img" "$work/again.img"
	"$DUMP" --text "$img" "$work/text" 2>"$work/err"
	CFS_PARSE_STRICT=1 "$MKCOMPOSEFS" --min-version="$v" --max-version="$v" \
		--from-file "$work/text" "$work/again.img" 2>"$work/err"
	cmp_files "$name: composefs-dump's text makes the identical image" "$img" "$work/again.img"
	"$DUMP" --image "$img" "$work/again.img" 2>"$work/err"
	cmp_files "$name: composefs-dump --image re-encodes it byte for byte" "$img" "$work/again.img"

	# ls and objects, as the dump says
	expect ls "$work/parsed.norm" >"$work/expected"
	"$INFO" ls "$img" >"$work/actual" 2>&1
	cmp_files "$name: composefs-info ls" "$work/expected" "$work/actual"
	expect objects "$work/parsed.norm" >"$work/objects"
	"$INFO" objects "$img" >"$work/actual" 2>&1
	cmp_files "$name: composefs-info objects" "$work/objects" "$work/actual"

	# missing-objects: one object in three under one basedir, one in three
	# under another, the rest missing (not for the largest dumps: making
	# the files would take longer than all the rest)
	if [ -s "$work/objects" ] && [ "$(wc -l <"$work/objects")" -le 10000 ]; then
		rm -rf "$work/b1" "$work/b2"
		python3 - "$work/objects" "$work/b1" "$work/b2" "$work/missing" <<-'EOF'
			import os, sys
			objs = open(sys.argv[1], 'rb').read().split(b'\n')[:-1]
			with open(sys.argv[4], 'wb') as missing:
			    for i, o in enumerate(objs):
			        if i % 3 == 2:
			            missing.write(o + b'\n')
			            continue
			        p = os.path.join(sys.argv[2 + i % 3].encode(), o.lstrip(b'/'))
			        os.makedirs(os.path.dirname(p), exist_ok=True)
			        open(p, 'wb').close()
		EOF
		"$INFO" --basedir="$work/b1" --basedir="$work/b2" missing-objects \
			"$img" >"$work/actual" 2>&1
		cmp_files "$name: composefs-info missing-objects" "$work/missing" "$work/actual"
		rm -rf "$work/b1" "$work/b2"
	fi
	rm -f "$img" "$work/again.img"
}

if [ -d "$ASSETS" ]; then
	while read -r f <&3; do
		golden "$f"
	done 3< <(golden_dumps)
	# objects of several images: each once, sorted
	for f in config.dump.gz cs9-x86_64-minimal.dump.gz special.dump; do
		[ -f "$ASSETS/$f" ] || continue
		"$MKCOMPOSEFS" --from-file <(zcat -f "$ASSETS/$f") "$work/$f.img"
		zcat -f "$ASSETS/$f" | "$REPRINT"
	done | expect objects >"$work/expected"
	"$INFO" objects "$work"/*.img >"$work/actual" 2>&1
	cmp_files "composefs-info objects of three images together" "$work/expected" "$work/actual"
	rm -f "$work"/*.img
else
	tap_skip "golden dumps" "reference test assets not found at $ASSETS"
fi

# --- measure-file: the fs-verity digest of a file's content
mkdir "$work/files"
head -c 0 /dev/zero >"$work/files/empty"
head -c 100 /dev/zero | tr '\0' 'h' >"$work/files/small"
head -c 4096 /dev/zero | tr '\0' 'a' >"$work/files/block"
head -c 1000000 /dev/zero | tr '\0' 'b' >"$work/files/big"
out=$("$INFO" measure-file "$work/files/empty" 2>&1)
if [ "$out" = 3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95 ]; then
	tap_ok "measure-file: the digest of an empty file"
else
	tap_not_ok "measure-file: the digest of an empty file" "$out"
fi
# mkcomposefs names each object by the digest of its file
"$MKCOMPOSEFS" --digest-store="$work/store" "$work/files" "$work/files.img"
for f in small block big; do
	printf '%s\n' "$work/files/$f"
done >"$work/list"
"$INFO" measure-file $(cat "$work/list") | sed 's#^\(..\)#\1/#' | sort >"$work/expected"
"$INFO" objects "$work/files.img" >"$work/actual"
cmp_files "measure-file: the digests mkcomposefs names the objects by" "$work/expected" "$work/actual"
if command -v fsverity >/dev/null; then
	fsverity digest --compact "$work"/files/* >"$work/expected" 2>&1
	"$INFO" measure-file "$work"/files/* >"$work/actual" 2>&1
	cmp_files "measure-file: as fsverity digest computes them" "$work/expected" "$work/actual"
else
	tap_skip "measure-file: as fsverity digest computes them" "fsverity not installed"
fi
"$INFO" measure-file "$work/files/nonexistent" >/dev/null 2>"$work/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "composefs-info: .*nonexistent" "$work/err"; then
	tap_ok "measure-file: a missing file is an error naming it"
else
	tap_not_ok "measure-file: a missing file is an error naming it" "status $rc: $(cat "$work/err")"
fi

# --- hard links: composefs-info shows the first name met depth-first as
# the file (as the reference does), composefs-dump the one the image was
# written with, so that its text gives back the same image
cat >"$work/links.dump" <<'EOF'
/ 4096 40755 3 0 0 0 0.0 - - -
/a 4096 40755 3 0 0 0 0.0 - - -
/a/b 4096 40755 2 0 0 0 0.0 - - -
/a/b/f 0 @100644 2 0 0 0 0.0 /c - -
/c 5 100644 2 0 0 0 0.0 - hello -
EOF
"$MKCOMPOSEFS" --from-file "$work/links.dump" "$work/links.img"
"$INFO" dump "$work/links.img" >"$work/actual"
cat >"$work/expected" <<'EOF'
/ 4096 40755 3 0 0 0 0.0 - - -
/a 40 40755 3 0 0 0 0.0 - - -
/a/b 40 40755 2 0 0 0 0.0 - - -
/a/b/f 5 100644 2 0 0 0 0.0 - hello -
/c 5 @100644 2 0 0 0 0.0 /a/b/f hello -
EOF
cmp_files "hard links: composefs-info dump names the first one met the file" "$work/expected" "$work/actual"
"$INFO" ls "$work/links.img" >"$work/actual"
printf '/a/\t\n/a/b/\t\n/a/b/f\n/c\n' >"$work/expected"
cmp_files "hard links: composefs-info ls" "$work/expected" "$work/actual"
"$DUMP" --text "$work/links.img" "$work/text"
"$MKCOMPOSEFS" --from-file "$work/text" "$work/again.img"
cmp_files "hard links: composefs-dump's text gives the same image" "$work/links.img" "$work/again.img"

# --- a fifo given a size (found by fuzzing): the image stores none, but the
# size made the writer choose an extended inode, which the text must keep
printf '/ 4096 40755 2 0 0 0 0.0 - - -\n/fifo 8589934592 10644 1 0 0 0 0.0 - - -\n' >"$work/fifo.dump"
"$MKCOMPOSEFS" --from-file "$work/fifo.dump" "$work/fifo.img"
"$INFO" dump "$work/fifo.img" | tail -n 1 >"$work/actual"
printf '/fifo 0 10644 1 0 0 0 0.0 - - -\n' >"$work/expected"
cmp_files "a sized fifo: composefs-info dump shows no size" "$work/expected" "$work/actual"
"$DUMP" --text "$work/fifo.img" "$work/text"
"$MKCOMPOSEFS" --from-file "$work/text" "$work/again.img"
cmp_files "a sized fifo: composefs-dump's text gives the same image" "$work/fifo.img" "$work/again.img"
"$DUMP" --image "$work/fifo.img" "$work/again.img"
cmp_files "a sized fifo: composefs-dump --image gives the same image" "$work/fifo.img" "$work/again.img"

# --- --filter: top-level entries by name
cat >"$work/filter.dump" <<'EOF'
/ 4096 40755 4 0 0 0 0.0 - - -
/bin 4096 40755 2 0 0 0 0.0 - - -
/bin/sh 100 100755 1 0 0 0 0.0 11/22 - -
/etc 4096 40755 2 0 0 0 0.0 - - -
/etc/passwd 0 @100644 0 0 0 0 0.0 /usr/passwd - -
/usr 4096 40755 2 0 0 0 0.0 - - -
/usr/passwd 200 100644 2 0 0 0 0.0 33/44 - -
/x 10 100644 1 0 0 0 0.0 55/66 - -
EOF
"$MKCOMPOSEFS" --from-file "$work/filter.dump" "$work/filter.img"
"$INFO" --filter=usr --filter=x ls "$work/filter.img" >"$work/actual"
printf '/usr/\t\n/usr/passwd\t@ 33/44\n/x\t@ 55/66\n' >"$work/expected"
cmp_files "--filter: only the named top-level entries" "$work/expected" "$work/actual"
"$INFO" objects --filter=etc "$work/filter.img" >"$work/actual"
printf '33/44\n' >"$work/expected"
cmp_files "--filter: a hard link's file outside the filter" "$work/expected" "$work/actual"
"$INFO" dump --filter=etc "$work/filter.img" >"$work/actual"
printf '/ 4096 40755 5 0 0 0 0.0 - - -\n/etc 45 40755 2 0 0 0 0.0 - - -\n/etc/passwd 200 100644 2 0 0 0 0.0 33/44 - -\n' >"$work/expected"
cmp_files "--filter: dump" "$work/expected" "$work/actual"
"$INFO" --filter=a/b ls "$work/filter.img" >/dev/null 2>"$work/err"
rc=$?
if [ $rc -eq 1 ] && [ -s "$work/err" ]; then
	tap_ok "--filter: a path is bad usage"
else
	tap_not_ok "--filter: a path is bad usage" "status $rc"
fi

# --- errors: usage, unreadable and hostile images, nothing left behind
check_status()
{
	local description="$1" want="$2" pattern="$3" rc
	shift 3
	"$@" >"$work/out" 2>"$work/err"
	rc=$?
	if [ $rc -eq "$want" ] && grep -q -- "$pattern" "$work/err"; then
		tap_ok "$description"
	else
		tap_not_ok "$description" "status $rc (want $want): $(head -c 300 "$work/err")"
	fi
}
check_status "composefs-info: no command is bad usage" 1 "composefs-info: " "$INFO"
check_status "composefs-info: an unknown command is bad usage" 1 "unknown command" "$INFO" frob "$work/filter.img"
check_status "composefs-info: no image is bad usage" 1 "no image" "$INFO" ls
check_status "composefs-info: an unknown option is bad usage" 1 "help" "$INFO" --frob ls "$work/filter.img"
check_status "composefs-info: a missing image" 1 "composefs-info: $work/none: No such file" "$INFO" ls "$work/none"
check_status "composefs-info: a missing basedir" 1 "basedir" "$INFO" --basedir="$work/none" missing-objects "$work/filter.img"
head -c 5000 "$work/filter.img" >"$work/short.img"
check_status "composefs-info: a truncated image, named, with the reader's message" 1 \
	"composefs-info: $work/short.img: image truncated" "$INFO" dump "$work/short.img"
cp "$work/filter.img" "$work/loop.img"
python3 - "$work/loop.img" <<'EOF'
# the root's entry "bin" made to point at the root itself
import struct, sys
data = bytearray(open(sys.argv[1], 'rb').read())
root = struct.unpack_from('<H', data, 1024 + 14)[0]
at = data.find(b'bin')
count = struct.unpack_from('<H', data, at - at % 4096 + 8)[0] // 12
base = at - at % 4096
for i in range(count):
    off = struct.unpack_from('<H', data, base + 12 * i + 8)[0]
    if data[base + off:base + off + 3] == b'bin':
        struct.pack_into('<Q', data, base + 12 * i, root)
open(sys.argv[1], 'wb').write(data)
EOF
check_status "composefs-info: a directory containing itself" 1 "loop.img: directory .* appears twice" "$INFO" ls "$work/loop.img"
printf 'old\n' >"$work/keep"
check_status "composefs-dump: a hostile image" 1 "composefs-dump: $work/loop.img: " "$DUMP" --text "$work/loop.img" "$work/keep"
if [ "$(cat "$work/keep")" = old ] && [ -z "$(find "$work" -name '.keep*')" ]; then
	tap_ok "composefs-dump: a failure leaves the destination as it was and no temporary file"
else
	tap_not_ok "composefs-dump: a failure leaves the destination as it was and no temporary file"
fi
check_status "composefs-dump: one argument is bad usage" 1 "no destination" "$DUMP" "$work/filter.img"
check_status "composefs-dump: three arguments are bad usage" 1 "too many" "$DUMP" a b c
for tool in "$INFO" "$DUMP"; do
	tap_check "$(basename "$tool") --help" "$tool" --help
	tap_check "$(basename "$tool") --version" "$tool" --version
done
"$DUMP" --text "$work/filter.img" - >"$work/actual"
"$INFO" dump "$work/filter.img" >"$work/expected"
cmp_files "composefs-dump: - is standard output" "$work/expected" "$work/actual"
"$DUMP" --image "$work/filter.img" "$work/keep"
cmp_files "composefs-dump --image replaces an existing file" "$work/filter.img" "$work/keep"
rm -f "$work/keep"
"$DUMP" "$work/filter.img" "$work/keep"
cmp_files "composefs-dump IMAGE DEST re-encodes, as the reference's does" "$work/filter.img" "$work/keep"
check_status "composefs-info: a directory is no image" 1 "not a regular file or block device" "$INFO" ls "$work"

# --- an image on a block device (its size is not in st_size)
if [ "$(id -u)" -ne 0 ] || ! command -v losetup >/dev/null; then
	tap_skip "an image on a block device" "needs root and losetup"
elif ! dev=$(losetup --find --show --read-only "$work/filter.img" 2>"$work/err"); then
	tap_skip "an image on a block device" "no loop device: $(cat "$work/err")"
else
	"$INFO" dump "$dev" >"$work/actual" 2>&1
	"$INFO" dump "$work/filter.img" >"$work/expected"
	losetup -d "$dev"
	cmp_files "an image on a block device (a loop device) reads as the file" "$work/expected" "$work/actual"
fi

# --- a full filesystem: the error named, the destination kept
if [ "$(id -u)" -ne 0 ]; then
	tap_skip "writing to a full filesystem" "needs root to mount a small tmpfs"
elif ! mkdir "$work/fullfs" || ! mount -t tmpfs -o size=64k tmpfs "$work/fullfs"; then
	tap_skip "writing to a full filesystem" "cannot mount a tmpfs"
else
	# a text bigger than the filesystem
	python3 -c '
import sys
print("/ 4096 40755 2 0 0 0 0.0 - - -")
for i in range(3000):
    print("/file-with-a-long-name-%05d 0 100644 1 0 0 0 0.0 - - -" % i)
' >"$work/many.dump"
	"$MKCOMPOSEFS" --from-file "$work/many.dump" "$work/many.img"
	printf 'old\n' >"$work/fullfs/text"
	check_status "composefs-dump: a full filesystem is named (ENOSPC)" 1 \
		"composefs-dump: .*No space left on device" "$DUMP" --text "$work/many.img" "$work/fullfs/text"
	if [ "$(cat "$work/fullfs/text")" = old ] && [ -z "$(find "$work/fullfs" -name '.*')" ]; then
		tap_ok "composefs-dump: on a full filesystem the destination is kept, no temporary file left"
	else
		tap_not_ok "composefs-dump: on a full filesystem the destination is kept, no temporary file left" \
			"$(ls -la "$work/fullfs")"
	fi
	"$INFO" dump "$work/many.img" >"$work/fullfs/info" 2>"$work/err"
	rc=$?
	if [ $rc -eq 1 ] && grep -q "No space left on device" "$work/err"; then
		tap_ok "composefs-info: standard output on a full filesystem is an error (ENOSPC)"
	else
		tap_not_ok "composefs-info: standard output on a full filesystem is an error (ENOSPC)" \
			"status $rc: $(cat "$work/err")"
	fi
	umount "$work/fullfs"
fi

tap_done
