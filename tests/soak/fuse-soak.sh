#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# composefs-fuse under attack, run by hand (not part of the suite):
#
#   tests/soak/fuse-soak.sh [SECONDS]        (default 600; as root)
#
# Eight readers walk the mount and read every file again and again while
# the store is vandalised: objects flipped, truncated, deleted, replaced by
# FIFOs and symlinks, then put back; and the image file is truncated,
# overwritten and put back. The server must not crash or hang, its resident
# memory must stay flat, every read must give the right bytes or EIO (ENOENT
# for a deleted object), each
# failing file must be logged once, files put back must read again, and
# SIGTERM must stop it. Prints the figures and exits 1 on any failure.
set -euo pipefail

seconds=${1:-600}
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${CFS_BUILDDIR:-$top/build}
FUSE=${COMPOSEFS_FUSE:-$build/tools/composefs-fuse}
MKCOMPOSEFS=${MKCOMPOSEFS:-$build/tools/mkcomposefs}
work=$(mktemp -d /var/tmp/fuse-soak.XXXXXX)
server=
cleanup()
{
	fusermount3 -u "$work/mnt" 2>/dev/null || umount -l "$work/mnt" 2>/dev/null || true
	[ -n "$server" ] && kill -KILL "$server" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/tree" "$work/mnt"
python3 - "$work/tree" <<'EOF'
import os, random, sys
rnd = random.Random(7)
for i in range(300):
    d = os.path.join(sys.argv[1], f"d{i % 10}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(rnd.randbytes(rnd.choice([100, 5000, 70000, 300000, 1100000])))
EOF
"$MKCOMPOSEFS" --digest-store="$work/store" "$work/tree" "$work/image.cfs"
cp -a "$work/store" "$work/pristine"
cp "$work/image.cfs" "$work/image.pristine"
(cd "$work/tree" && find . -type f -exec sha256sum {} + | sort -k2) >"$work/expected"

"$FUSE" -f -o "basedir=$work/store" "$work/image.cfs" "$work/mnt" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do mountpoint -q "$work/mnt" && break; sleep 0.05; done
mountpoint -q "$work/mnt" || { echo "not mounted: $(cat "$work/server.log")"; exit 1; }

# The readers: counts of good reads, EIO and wrong data, every 5 s.
python3 - "$work/mnt" "$work/expected" "$seconds" "$work/readers.out" <<'EOF' &
import errno, hashlib, multiprocessing as mp, os, sys, time
mnt, expected_file, seconds, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
expected = {}
for line in open(expected_file):
    h, p = line.split(None, 1)
    expected[p.strip()[2:]] = h
def reader(k, good, eio, wrong, other, beat):
    end = time.time() + seconds
    names = sorted(expected)
    while time.time() < end:
        for rel in (names if k % 2 else reversed(names)):
            try:
                with open(os.path.join(mnt, rel), "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()
                if h == expected[rel]:
                    good.value += 1
                else:
                    wrong.value += 1
            except OSError as e:
                # a damaged object is EIO, a missing one ENOENT
                if e.errno in (errno.EIO, errno.ENOENT):
                    eio.value += 1
                else:
                    other.value += 1
            beat.value = time.time()
            if time.time() >= end:
                break
counters = [[mp.Value("q", 0, lock=False) for _ in range(4)] for _ in range(8)]
beats = [mp.Value("d", time.time(), lock=False) for _ in range(8)]
procs = [mp.Process(target=reader, args=(k, *counters[k], beats[k])) for k in range(8)]
for p in procs: p.start()
hung = 0
while any(p.is_alive() for p in procs):
    time.sleep(5)
    now = time.time()
    stalled = [k for k in range(8) if procs[k].is_alive() and now - beats[k].value > 30]
    if stalled:
        hung = 1
        print("readers stalled for 30 s:", stalled, flush=True)
        for k in stalled: procs[k].kill()
tot = [sum(c[i].value for c in counters) for i in range(4)]
with open(out, "w") as f:
    f.write(f"good={tot[0]} eio={tot[1]} wrong={tot[2]} other={tot[3]} hung={hung}\n")
EOF
readers=$!

# The vandal, and the server's resident memory once a second.
python3 - "$work/store" "$work/pristine" "$work/image.cfs" "$work/image.pristine" "$seconds" "$server" "$work/rss" <<'EOF'
import os, random, shutil, stat, sys, time
store, pristine, image, image_orig, seconds, pid, rss_out = sys.argv[1:]
seconds, rnd = float(seconds), random.Random(11)
objects = [os.path.join(dp, f)[len(store) + 1:] for dp, _, fs in os.walk(store) for f in fs]
damaged, end, last_rss, last_image = set(), time.time() + seconds, 0, 0
rss = open(rss_out, "w")
def restore(o):
    p = os.path.join(store, o)
    if os.path.islink(p) or not os.path.isdir(p):
        try: os.unlink(p)
        except FileNotFoundError: pass
    else:
        os.rmdir(p)
    shutil.copy2(os.path.join(pristine, o), p)
while time.time() < end:
    o = rnd.choice(objects)
    p = os.path.join(store, o)
    if o in damaged:
        restore(o); damaged.discard(o)
    else:
        what = rnd.choice(["flip", "truncate", "delete", "fifo", "symlink", "dir"])
        if what == "flip":
            with open(p, "r+b") as f:
                size = os.fstat(f.fileno()).st_size
                at = rnd.randrange(max(size, 1))
                f.seek(at); b = f.read(1) or b"\0"; f.seek(at); f.write(bytes([b[0] ^ 0x55]))
        elif what == "truncate":
            os.truncate(p, rnd.randrange(max(os.path.getsize(p), 1)))
        else:
            os.unlink(p)
            if what == "fifo": os.mkfifo(p)
            elif what == "symlink": os.symlink("/etc/passwd", p)
            elif what == "dir": os.mkdir(p)
        damaged.add(o)
    now = time.time()
    if now - last_image > 5:
        last_image = now
        with open(image, "r+b") as f:
            f.truncate(0)
            f.write(os.urandom(50000))
        shutil.copy(image_orig, image)
    if now - last_rss >= 1:
        last_rss = now
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                rss.write(line.split()[1] + "\n"); rss.flush()
    time.sleep(0.02)
for o in list(damaged):
    restore(o)
EOF
wait "$readers"

status=0
read -r result <"$work/readers.out"
echo "readers: $result"
case "$result" in
*"wrong=0 other=0 hung=0"*) ;;
*) echo "FAIL: wrong data, unexpected errors or a hang"; status=1 ;;
esac
python3 - "$work/rss" <<'EOF' || status=1
import sys
v = [int(x) for x in open(sys.argv[1]) if x.strip()]
q = len(v) // 4 or 1
first, last = sum(v[:q]) / q, sum(v[-q:]) / q
print(f"server RSS: {len(v)} samples, min {min(v)} KB, max {max(v)} KB, "
      f"first quarter {first:.0f} KB, last quarter {last:.0f} KB")
if last > first * 1.25 + 2048:
    print("FAIL: resident memory grew"); sys.exit(1)
EOF
files_logged=$(grep -o 'd[0-9]/f[0-9]*' "$work/server.log" | sort | uniq -d | wc -l)
echo "log: $(wc -l <"$work/server.log") lines; files logged more than once: $files_logged"
[ "$files_logged" -eq 0 ] || { echo "FAIL: a file was logged more than once"; status=1; }
# everything put back reads right again
if (cd "$work/mnt" && sha256sum -c --quiet "$work/expected" >/dev/null 2>&1); then
	echo "after repair: every file reads right"
else
	echo "FAIL: files put back do not read right"
	status=1
fi
kill -TERM "$server"
for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server" 2>/dev/null || mountpoint -q "$work/mnt"; then
	echo "FAIL: SIGTERM did not stop the server within 5 s"
	status=1
else
	wait "$server" || true
	echo "SIGTERM: server gone, mount gone"
fi
server=
exit $status
