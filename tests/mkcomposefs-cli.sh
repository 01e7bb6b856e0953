#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# mkcomposefs as a command: options, exit codes, where the image goes, what
# is left behind on failure.
set -u
. "$(dirname "$0")/tap.sh"

MKCOMPOSEFS=$(cfs_tool mkcomposefs) || exit 1
work=$(mktemp -d)
trap 'umount "$work/fullfs" 2>/dev/null; rm -rf -- "$work"' EXIT
cd "$work" || exit 1

printf '/ 0 40755 2 0 0 0 0.0 - - -\n/f 5 100644 1 0 0 0 0.0 - hello -\n' >tree.dump
mkdir -p src/sub
head -c 10000 /dev/urandom >src/sub/file
ln -s sub/file src/link


tap_expect 0 "--help" "$MKCOMPOSEFS" --help
tap_expect 0 "--version" "$MKCOMPOSEFS" --version
tap_expect 1 "unknown option is a usage error (status 1, as the reference's)" "$MKCOMPOSEFS" --no-such-option src x.img
tap_expect 1 "missing image argument is a usage error" "$MKCOMPOSEFS" src
tap_expect 1 "too many arguments" "$MKCOMPOSEFS" src a.img b.img
tap_expect 1 "--threads=0 is refused" "$MKCOMPOSEFS" --threads=0 src x.img
tap_expect 1 "--min-version=2 is refused" "$MKCOMPOSEFS" --min-version=2 src x.img
tap_expect 1 "--print-digest-only takes no image" "$MKCOMPOSEFS" --print-digest-only src x.img
tap_expect 1 "a missing source fails" "$MKCOMPOSEFS" no-such-dir x.img
tap_expect 1 "a regular file is not a source directory" "$MKCOMPOSEFS" tree.dump x.img
tap_expect 1 "writing onto a directory fails" "$MKCOMPOSEFS" src src
if [ -z "$(ls -A | grep -v -x -e tree.dump -e src)" ]; then
	tap_ok "failed runs leave no files behind"
else
	tap_not_ok "failed runs leave no files behind" "$(ls -A)"
fi

"$MKCOMPOSEFS" --from-file tree.dump a.img
"$MKCOMPOSEFS" --from-file - - <tree.dump >b.img
if cmp -s a.img b.img; then
	tap_ok "image to stdout from stdin equals the image file"
else
	tap_not_ok "image to stdout from stdin equals the image file"
fi

digest=$("$MKCOMPOSEFS" --from-file --print-digest tree.dump c.img)
only=$("$MKCOMPOSEFS" --from-file --print-digest-only tree.dump)
if [ "$digest" = "$only" ] && [ ${#digest} -eq 64 ] && cmp -s a.img c.img; then
	tap_ok "--print-digest and --print-digest-only agree"
else
	tap_not_ok "--print-digest and --print-digest-only agree" "$digest / $only"
fi
if command -v fsverity >/dev/null; then
	if [ "$(fsverity digest --compact a.img)" = "$digest" ]; then
		tap_ok "printed digest is the image's fs-verity digest"
	else
		tap_not_ok "printed digest is the image's fs-verity digest"
	fi
else
	tap_skip "printed digest is the image's fs-verity digest" "fsverity not installed"
fi

# A symlink as IMAGE: the image goes where it points, the link stays.
ln -s target.img link.img
"$MKCOMPOSEFS" --from-file tree.dump link.img
if [ -L link.img ] && cmp -s a.img target.img; then
	tap_ok "an IMAGE symlink is followed, not replaced"
else
	tap_not_ok "an IMAGE symlink is followed, not replaced"
fi

# A character device or a pipe is written in place, never replaced.
if [ "$(id -u)" -eq 0 ]; then
	mknod null c 1 3
	mknod full c 1 7
	tap_expect 0 "writing to a null device" "$MKCOMPOSEFS" --from-file tree.dump null
	tap_expect 1 "writing to a full device fails" "$MKCOMPOSEFS" --from-file tree.dump full
	if [ -c null ] && [ -c full ]; then
		tap_ok "device nodes are still devices afterwards"
	else
		tap_not_ok "device nodes are still devices afterwards" "$(ls -l null full)"
	fi
else
	tap_skip "writing to devices" "needs root to make device nodes"
fi
mkfifo pipe
cat pipe >from-pipe.img &
"$MKCOMPOSEFS" --from-file tree.dump pipe
wait
if [ -p pipe ] && cmp -s a.img from-pipe.img; then
	tap_ok "a named pipe as IMAGE is written in place"
else
	tap_not_ok "a named pipe as IMAGE is written in place"
fi

# An existing image is replaced whole, and only on success.
"$MKCOMPOSEFS" src d.img
cp d.img d.before
printf '/ 0 40755 2 0 0 0 0.0 - - -\n/bad 0 777 1 0 0 0 0.0 - - -\n' >bad.dump
tap_expect 1 "a bad dump fails" "$MKCOMPOSEFS" --from-file bad.dump d.img
if cmp -s d.img d.before && [ -z "$(ls -A | grep '^\.d\.img')" ]; then
	tap_ok "a failed run keeps the existing image and leaves no temporary file"
else
	tap_not_ok "a failed run keeps the existing image and leaves no temporary file"
fi

# Threads do not change the image.
"$MKCOMPOSEFS" --threads=1 --digest-store=store1 src t1.img
"$MKCOMPOSEFS" --threads=7 --digest-store=store2 src t7.img
if cmp -s t1.img t7.img && diff -r store1 store2 >/dev/null; then
	tap_ok "--threads=1 and --threads=7 give the same image and store"
else
	tap_not_ok "--threads=1 and --threads=7 give the same image and store"
fi
if [ -z "$(find store1 store2 -name '.tmp-*')" ] &&
	[ "$(find store1 -type f | wc -l)" -eq 1 ]; then
	tap_ok "the store holds one object and no temporary files"
else
	tap_not_ok "the store holds one object and no temporary files" "$(find store1)"
fi

# Files rewritten while mkcomposefs reads them: what lands in the store is
# what was hashed (one read feeds both), so every object matches its name.
mkdir -p churn
for i in 1 2 3 4; do head -c 1048576 /dev/urandom >"churn/f$i"; done
python3 - churn 4 <<'EOF' &
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
end = time.time() + 4
while time.time() < end:
    for i in range(1, n + 1):
        with open(f"{d}/f{i}", "r+b") as f:
            for off in range(0, 1048576, 65536):
                f.seek(off)
                f.write(os.urandom(65536))
EOF
churner=$!
runs=0
while kill -0 "$churner" 2>/dev/null; do
	"$MKCOMPOSEFS" --digest-store=churn-store churn churn.img 2>/dev/null
	runs=$((runs + 1))
done
wait "$churner"
INFO=$(cfs_tool composefs-info)
bad=$(cd churn-store && for f in */*; do
	[ "$("$INFO" measure-file "$f" | cut -c1-64)" = "${f%%/*}${f#*/}" ] || echo "$f"
done)
n=$(find churn-store -type f | wc -l)
if [ "$runs" -ge 2 ] && [ "$n" -ge 4 ] && [ -z "$bad" ]; then
	tap_ok "files rewritten during $runs runs: all $n objects match their names"
else
	tap_not_ok "files rewritten during the runs: every object matches its name" \
		"$runs runs, $n objects, mismatched: $bad"
fi

# Killed while it writes: no temporary file left (the dump comes from a
# pipe that is kept open, so mkcomposefs waits with its output open). The
# output is an anonymous file in the image's directory, so even SIGKILL
# leaves nothing.
mkfifo slow-input
# output_open PID: the process has a file open in this directory that is
# its output (anonymous: "#INODE (deleted)", or a named temporary)
output_open()
{
	local fd
	for fd in /proc/"$1"/fd/*; do
		case "$(readlink "$fd")" in
		"$work"/\#*" (deleted)" | "$work"/.tmp-*) return 0 ;;
		esac
	done
	return 1
}
for sig in TERM INT HUP KILL; do
	rm -f killed.img
	files_before=$(ls -A)
	# (a background job of a script starts with SIGINT ignored: undo that)
	env --default-signal=INT "$MKCOMPOSEFS" --from-file slow-input killed.img 2>/dev/null &
	pid=$!
	exec 3>slow-input
	opened=no
	for _ in $(seq 50); do
		output_open "$pid" && opened=yes && break
		sleep 0.1
	done
	kill -s "$sig" "$pid"
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	exec 3>&-
	left=$(diff <(printf '%s\n' "$files_before") <(ls -A))
	if [ "$opened" = yes ] && [ -z "$left" ] && [ ! -e killed.img ] && [ $rc -gt 128 ]; then
		tap_ok "SIG$sig while writing: no image and no temporary file left, the signal ends it (status $rc)"
	else
		tap_not_ok "SIG$sig while writing: no image and no temporary file left, the signal ends it" \
			"output open: $opened, status $rc, left: $left"
	fi
done

# A full filesystem: a clear error, the old image kept, and nothing
# half-written left, neither an image nor an object.
if [ "$(id -u)" -ne 0 ]; then
	tap_skip "a full filesystem" "needs root to mount a small tmpfs"
elif ! mkdir fullfs || ! mount -t tmpfs -o size=1m tmpfs fullfs; then
	tap_skip "a full filesystem" "cannot mount a tmpfs"
else
	mkdir big
	head -c 700000 /dev/urandom >big/a
	head -c 700000 /dev/urandom >big/b
	echo old >fullfs/image
	# no_space DESCRIPTION ARGS...: mkcomposefs ARGS fails as it should
	no_space()
	{
		local description="$1: status 1, ENOSPC named, old image kept, nothing half-written left" rc left
		shift
		"$MKCOMPOSEFS" "$@" 2>err
		rc=$?
		left=$(find fullfs -name '.*')
		if [ $rc -eq 1 ] && grep -q "No space left on device" err &&
			[ "$(cat fullfs/image)" = old ] && [ -z "$left" ]; then
			tap_ok "$description"
		else
			tap_not_ok "$description" "status $rc: $(cat err); left: $left"
		fi
	}
	no_space "--digest-store on a full filesystem" --digest-store=fullfs/store big fullfs/image
	rm -rf fullfs/store
	head -c 1500000 /dev/zero >fullfs/filler 2>/dev/null
	no_space "an image on a full filesystem" --from-file tree.dump fullfs/image
	umount fullfs
fi

# A tree 3000 levels deep: the path (6 KB) fails, and the message keeps the
# path's start and end around "..." and the reason, in one short line.
python3 - deep <<'EOF_PY'
import os, sys
os.mkdir(sys.argv[1])
fd = os.open(sys.argv[1], os.O_RDONLY)
for _ in range(3000):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = nfd
os.close(fd)
EOF_PY
"$MKCOMPOSEFS" deep deep.img 2>err
rc=$?
msg=$(cat err)
if [ $rc -eq 1 ] && [ "${#msg}" -lt 1100 ] && [[ "$msg" == "mkcomposefs: deep/d/d/d/"* ]] &&
	[[ "$msg" == *"/d/d/d...d/d/d/"* || "$msg" == *"/d/d/d.../d/d/d"* ]] &&
	[[ "$msg" =~ /d:\ [a-z\ ]+:\ File\ name\ too\ long$ ]]; then
	tap_ok "a tree 3000 levels deep: path cut in the middle, reason kept (${msg: -60})"
else
	tap_not_ok "a tree 3000 levels deep: path cut in the middle, reason kept" "status $rc, ${#msg} bytes: ${msg:0:100} ... ${msg: -100}"
fi
rm -rf deep

tap_done
