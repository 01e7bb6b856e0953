#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# OCI import benchmark: `composefs oci import` against its baselines, each
# pair taking turns run by run; medians (min-max) and their ratio.
#
#   bench/oci-bench.sh          (as root)
#
# The image is a Debian minbase tree (debootstrap --variant=minbase, without
# apt's package cache and lists, /dev, /proc and /sys, as container images
# ship it), packed as OCI image layouts: one layer, and three layers (usr/,
# etc/, the rest), each compressed with gzip and with zstd.
#
#  1. import into an empty repository against `umoci unpack` followed by
#     `mkcomposefs --hardlinks --digest-store` into an empty store (goal: at
#     least 3x faster, a ratio of at most 0.33); `umoci raw unpack` (no mtree
#     manifest, no runtime config) is shown too
#  2. the same import against the floor: decompressing every layer and
#     hashing the tar stream (`zcat LAYER | sha256sum`, `zstdcat` for zstd;
#     goal: at most 1.5x); with `openssl dgst -sha256` (SHA instructions)
#     too, as coreutils' sha256sum can be the slower half of the pipe
#  3. a second image that shares the first two layers of the three-layer
#     image (its last layer changes a file, adds one and whites out one),
#     imported after the first: its time against the first import (goal: at
#     most 0.10); the same for umoci + mkcomposefs into the first's store
#  4. peak memory of importing a layer holding one big file (BIG_MB MiB)
#     against a layer holding one small file (goal: no growth with the
#     file's size; at most 16 MB more, whatever BIG_MB is)
#  5. import as composefs-rs's image (its transform, the default) against
#     `--as-unpacked`, and into a SHA-512 repository against a SHA-256 one
#
# Warm figures: the layer blobs are read once before the runs and come from
# the page cache. Every run that writes gets a new, empty ext4 filesystem (a
# loop-mounted file under WORKDIR, on disk), so no run inherits the inode or
# block allocation of the one before.
#
# Environment:
#   COMPOSEFS, MKCOMPOSEFS  the tools (default: build/tools/)
#   UMOCI         umoci (default: from PATH)
#   RUNS          runs per figure (default 5)
#   JOBS          which jobs to run (default "1 2 3 4 5")
#   BIG_MB        size of the big file of job 4 in MiB (default 1024)
#   WORKDIR       scratch space and cache of the Debian tree and the image
#                 layouts, kept between runs (default
#                 /var/tmp/composefs-oci-bench; not a tmpfs)
#   MIRROR, SUITE debootstrap's mirror and suite (default
#                 http://deb.debian.org/debian, bookworm)
#   SETTLE        seconds to wait after a sync before a timed write run
#                 (default 1)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
COMPOSEFS=${COMPOSEFS:-$top/build/tools/composefs}
MKCOMPOSEFS=${MKCOMPOSEFS:-$top/build/tools/mkcomposefs}
UMOCI=${UMOCI:-$(command -v umoci || true)}
RUNS=${RUNS:-5}
JOBS=${JOBS:-1 2 3 4 5}
BIG_MB=${BIG_MB:-1024}
WORKDIR=${WORKDIR:-/var/tmp/composefs-oci-bench}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}

[ "$(id -u)" -eq 0 ] || { echo "run as root (debootstrap, umoci unpack, loop mounts)" >&2; exit 1; }
for tool in "$MKCOMPOSEFS" "$UMOCI"; do
	[ -x "$tool" ] || { echo "no ${tool:-umoci} (build first, or install umoci)" >&2; exit 1; }
done
for cmd in /usr/bin/time debootstrap zstd gzip tar mkfs.ext4 python3; do
	command -v "$cmd" >/dev/null || { echo "needs $cmd" >&2; exit 1; }
done
if [ "$(findmnt -n -o FSTYPE -T "$(dirname "$WORKDIR")" 2>/dev/null)" = tmpfs ]; then
	echo "WORKDIR $WORKDIR is on a tmpfs; use a directory on disk" >&2
	exit 1
fi

# Without `oci import` in the tool only the baselines run.
if [ -x "$COMPOSEFS" ] && "$COMPOSEFS" --help 2>&1 | grep -q '^ *oci'; then
	have_ours=1
else
	have_ours=0
	echo "no 'oci import' in $COMPOSEFS: baseline figures only" >&2
fi

mkdir -p "$WORKDIR"
cd "$WORKDIR"
layout=$WORKDIR/oci/debian
biglayout=$WORKDIR/oci/bigfile-$BIG_MB

# shellcheck disable=SC2317 # called by the trap
cleanup()
{
	umount "$WORKDIR/fs" 2>/dev/null || true
	rm -f "$WORKDIR/fs.img"
}
trap cleanup EXIT

say()
{
	echo "$*" >&2
}

# -- the Debian tree and the image layouts, made once ----------------------

if [ ! -d rootfs ]; then
	say "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes)"
	rm -rf rootfs.tmp
	debootstrap --variant=minbase "$SUITE" rootfs.tmp "$MIRROR" >debootstrap.log 2>&1 ||
		{ tail -n 20 debootstrap.log >&2; exit 1; }
	mv rootfs.tmp rootfs
fi

# layer_tar NAME DIR [TAR OPTIONS AND MEMBERS...]: tars/NAME.tar, made once
layer_tar()
{
	local name="$1" dir="$2"
	shift 2
	[ -f "tars/$name.tar" ] && return 0
	mkdir -p tars
	tar -C "$dir" --numeric-owner --sort=name --format=pax \
		--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
		--xattrs --xattrs-include='*' -cf "tars/$name.tar.tmp" "$@"
	mv "tars/$name.tar.tmp" "tars/$name.tar"
}

# make_image LAYOUT TAG COMPRESSION TAR...: an image of those layers (in
# order) under TAG in the OCI layout LAYOUT; blobs shared by tags are
# written once
make_image()
{
	python3 - "$@" <<'EOF'
import hashlib, json, os, platform, subprocess, sys

layout, tag, comp, tars = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
blobs = os.path.join(layout, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()

def put_blob(data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(blobs, digest)
    if not os.path.exists(path):
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.rename(path + ".tmp", path)
    return {"digest": "sha256:" + digest, "size": len(data)}

def layer(tar):
    # the compressed blob of a tar is remembered beside it
    memo = f"{tar}.{comp}.json"
    if os.path.exists(memo):
        with open(memo) as f:
            return json.load(f)
    cmd = {"gzip": ["gzip", "-n", "-c"], "zstd": ["zstd", "-q", "-c", "-3"]}[comp]
    tmp = os.path.join(blobs, "layer.tmp")
    with open(tar, "rb") as src, open(tmp, "wb") as dst:
        subprocess.run(cmd, stdin=src, stdout=dst, check=True)
    digest = sha256_file(tmp)
    size = os.path.getsize(tmp)
    os.rename(tmp, os.path.join(blobs, digest))
    info = {"diff_id": "sha256:" + sha256_file(tar),
            "descriptor": {"mediaType": f"application/vnd.oci.image.layer.v1.tar+{comp}",
                           "digest": "sha256:" + digest, "size": size}}
    with open(memo, "w") as f:
        json.dump(info, f)
    return info

layers = [layer(t) for t in tars]
created = "2024-01-01T00:00:00Z"
config = {
    "created": created, "architecture": arch, "os": "linux",
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
               "Cmd": ["bash"]},
    "rootfs": {"type": "layers", "diff_ids": [l["diff_id"] for l in layers]},
    "history": [{"created": created, "created_by": os.path.basename(t)} for t in tars],
}
def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(mediaType="application/vnd.oci.image.config.v1+json",
                   **put_blob(canonical(config))),
    "layers": [l["descriptor"] for l in layers],
}
desc = dict(mediaType="application/vnd.oci.image.manifest.v1+json",
            **put_blob(canonical(manifest)),
            annotations={"org.opencontainers.image.ref.name": tag})
index_path = os.path.join(layout, "index.json")
index = {"schemaVersion": 2, "manifests": []}
if os.path.exists(index_path):
    with open(index_path) as f:
        index = json.load(f)
index["manifests"] = [m for m in index["manifests"]
                      if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
index["manifests"].append(desc)
with open(index_path + ".tmp", "w") as f:
    json.dump(index, f, indent=2)
os.rename(index_path + ".tmp", index_path)
with open(os.path.join(layout, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
EOF
}

# layer_blobs LAYOUT TAG: the paths of the image's layer blobs, in order
layer_blobs()
{
	python3 - "$1" "$2" <<'EOF'
import json, os, sys
layout, tag = sys.argv[1], sys.argv[2]
def blob(digest):
    return os.path.join(layout, "blobs", *digest.split(":", 1))
with open(os.path.join(layout, "index.json")) as f:
    index = json.load(f)
for m in index["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
        with open(blob(m["digest"])) as f:
            for l in json.load(f)["layers"]:
                print(blob(l["digest"]))
EOF
}

if [ ! -f "$layout/.complete" ]; then
	say "packing the Debian tree as OCI images in $layout"
	rm -rf "$layout" tars/debian-*
	skip=('--exclude=./dev/*' '--exclude=./proc/*' '--exclude=./sys/*'
		'--exclude=./var/cache/apt/archives/*.deb'
		'--exclude=./var/lib/apt/lists/*')
	layer_tar debian-all rootfs "${skip[@]}" .
	layer_tar debian-usr rootfs ./usr
	layer_tar debian-rest rootfs "${skip[@]}" --exclude=./usr --exclude=./etc .
	layer_tar debian-etc rootfs ./etc
	# the changed last layer: etc/ with one file changed and one added,
	# and a whiteout of a file of the second layer
	rm -rf etc-b && mkdir -p etc-b
	cp -a rootfs/etc etc-b/etc
	echo "a changed line" >>etc-b/etc/motd
	echo "a new file" >etc-b/etc/oci-bench-release
	for d in var var/log; do
		mkdir -p "etc-b/$d"
		chmod --reference="rootfs/$d" "etc-b/$d"
		chown --reference="rootfs/$d" "etc-b/$d"
	done
	: >etc-b/var/log/.wh.dpkg.log
	touch -r rootfs/var/log etc-b/var/log
	touch -r rootfs/var etc-b/var
	layer_tar debian-etc-b etc-b ./etc ./var
	rm -rf etc-b
	for comp in gzip zstd; do
		make_image "$layout" "one-$comp" "$comp" tars/debian-all.tar
		make_image "$layout" "three-$comp" "$comp" \
			tars/debian-usr.tar tars/debian-rest.tar tars/debian-etc.tar
		make_image "$layout" "three-b-$comp" "$comp" \
			tars/debian-usr.tar tars/debian-rest.tar tars/debian-etc-b.tar
	done
	rm -f tars/debian-*
	touch "$layout/.complete"
fi

if [[ " $JOBS " == *" 4 "* && ! -f "$biglayout/.complete" ]]; then
	say "making a layer with a $BIG_MB MiB file and one with a small file"
	rm -rf "$biglayout" big-src tars/big-* tars/small-*
	mkdir -p big-src/big/data big-src/small/data
	head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >big-src/big/data/file
	head -c 65536 /dev/urandom >big-src/small/data/file
	layer_tar "big-$BIG_MB" big-src/big ./data
	layer_tar small big-src/small ./data
	make_image "$biglayout" big gzip "tars/big-$BIG_MB.tar"
	make_image "$biglayout" small gzip tars/small.tar
	rm -rf big-src tars/big-* tars/small*
	touch "$biglayout/.complete"
fi
rmdir tars 2>/dev/null || true

# -- timing -----------------------------------------------------------------

# timed FILE CMD...: append "seconds peak_kb" of CMD to FILE; CMD must
# succeed. Its output stays in out.txt and cmd.err.
timed()
{
	local file="$1" start end
	shift
	start=$EPOCHREALTIME
	/usr/bin/time -o time.txt -f '%M' "$@" >out.txt 2>cmd.err ||
		{ echo "failed: $*" >&2; cat cmd.err >&2; exit 1; }
	end=$EPOCHREALTIME
	echo "$(python3 -c "print(f'{$end - $start:.3f}')") $(tail -n1 time.txt)" >>"$file"
}

# fresh: an empty ext4 filesystem at $WORKDIR/fs for the next write run
fresh()
{
	umount "$WORKDIR/fs" 2>/dev/null || true
	rm -f "$WORKDIR/fs.img"
	truncate -s $((BIG_MB * 2 / 1024 + 8))G "$WORKDIR/fs.img"
	mkfs.ext4 -q -F "$WORKDIR/fs.img"
	mkdir -p "$WORKDIR/fs"
	mount -o loop "$WORKDIR/fs.img" "$WORKDIR/fs"
	sync
	sleep "${SETTLE:-1}"
}

# fresh_repo [ALG]: a new filesystem holding an empty repository at fs/repo
# (of fs-verity digests of ALG, default sha256)
fresh_repo()
{
	fresh
	"$COMPOSEFS" --repo fs/repo init --hash-alg="${1:-sha256}" >/dev/null
}

# warm LAYOUT: read every blob once, so that the runs find them cached
warm()
{
	cat "$1"/blobs/sha256/* >/dev/null
}

# ours LAYOUT TAG FILE [NAME]: import into fs/repo
ours()
{
	timed "$3" "$COMPOSEFS" --repo fs/repo oci import --as-unpacked -v "oci:$1:$2" "${4:-$2}"
}

# transformed LAYOUT TAG FILE: import into fs/repo as composefs-rs's image
# (the transform of an OCI image, format version 1)
transformed()
{
	timed "$3" "$COMPOSEFS" --repo fs/repo oci import -v "oci:$1:$2" "$2"
}

# baseline LAYOUT TAG FILE [raw]: umoci (raw) unpack and mkcomposefs into
# fs/store; appends the sum of the times and the larger peak to FILE, the
# unpack alone to FILE.unpack
baseline()
{
	rm -rf fs/bundle
	if [ "${4:-}" = raw ]; then
		mkdir -p fs/bundle
		timed "$3.unpack" "$UMOCI" raw unpack --image "$1:$2" fs/bundle/rootfs
	else
		timed "$3.unpack" "$UMOCI" unpack --image "$1:$2" fs/bundle
	fi
	timed "$3.mk" "$MKCOMPOSEFS" --hardlinks --digest-store=fs/store \
		--print-digest fs/bundle/rootfs fs/image.cfs
	paste -d' ' <(tail -n1 "$3.unpack") <(tail -n1 "$3.mk") |
		awk '{ printf "%.3f %d\n", $1 + $3, ($2 > $4 ? $2 : $4) }' >>"$3"
}

# floor FILE LAYOUT TAG [HASH]: decompress and hash every layer, one after
# another, with sha256sum (or the command HASH)
floor()
{
	local file="$1" blobs cat=zcat
	mapfile -t blobs < <(layer_blobs "$2" "$3")
	[[ "$3" == *zstd ]] && cat=zstdcat
	# shellcheck disable=SC2016 # expanded by the inner shell
	timed "$file" sh -c 'cat=$1 hash=$2; shift 2; for l; do $cat "$l" | $hash; done' \
		sh "$cat" "${4:-sha256sum}" "${blobs[@]}"
}

# summary FILE: "median min max median_peak_kb"
summary()
{
	python3 - "$1" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
t = [float(r[0]) for r in rows]
m = [int(r[1]) for r in rows]
print(f"{statistics.median(t):.3f} {min(t):.3f} {max(t):.3f} {int(statistics.median(m))}")
EOF
}

# row NAME OURS_FILE BASE_FILE [time|memory LIMIT]: a table row, the ratio
# ours/baseline of the median times (or of the median peaks, for memory)
# and whether it is within LIMIT (for memory: our peak at most LIMIT MB
# above the baseline's)
table=$WORKDIR/table.txt
: >"$table"
row()
{
	local name="$1" o b om omin omax omem bm bmin bmax bmem ratio goal=- met=-
	o=$(summary "$2")
	b=$(summary "$3")
	read -r om omin omax omem <<<"$o"
	read -r bm bmin bmax bmem <<<"$b"
	if [ "${4:-time}" = memory ]; then
		ratio=$(python3 -c "print(f'{$omem / $bmem:.2f}')")
	else
		ratio=$(python3 -c "print(f'{$om / $bm:.2f}' if $bm else 'inf')")
	fi
	if [ "${4:-time}" = memory ]; then
		goal="+<=$5 MB"
		met=$( ((omem - bmem <= $5 * 1024)) && echo yes || echo NO)
	elif [ -n "${5:-}" ]; then
		goal="<= $5"
		met=$(python3 -c "print('yes' if float('$ratio') <= $5 else 'NO')")
	fi
	printf '| %-56s | %5s s (%s-%s) | %5s s (%s-%s) | %5sx%s | %-8s | %-3s | %6d MB | %6d MB |\n' \
		"$name" "$om" "$omin" "$omax" "$bm" "$bmin" "$bmax" "$ratio" \
		"$([ "${4:-time}" = memory ] && echo ' mem' || echo '    ')" \
		"$goal" "$met" $((omem / 1024)) $((bmem / 1024)) >>"$table"
	tail -n1 "$table" >&2
}

notes=()

# same_digest BASE_DIGEST: whether the import just timed made the image the
# baseline made
same_digest()
{
	local ours
	ours=$(grep -v '^layer' out.txt | grep -oE '[0-9a-f]{64}' | tail -n1 || true)
	if [ "$ours" = "$1" ]; then
		echo "the same image digest as umoci unpack + mkcomposefs"
	else
		echo "image digest ${ours:-?} differs from umoci unpack + mkcomposefs's $1"
	fi
}

# blob_mb LAYOUT TAG: the size of the image's layer blobs, in MB
blob_mb()
{
	local total=0 l
	for l in $(layer_blobs "$1" "$2"); do
		total=$((total + $(stat -c %s "$l")))
	done
	echo $((total / 1024 / 1024))
}

say "warming the page cache with the layer blobs"
warm "$layout"
[ -d "$biglayout" ] && warm "$biglayout"

echo "composefs:   $COMPOSEFS$([ $have_ours = 1 ] || echo ' (no oci import: baselines only)')"
echo "mkcomposefs: $MKCOMPOSEFS"
echo "umoci:       $UMOCI ($("$UMOCI" --version 2>&1 | head -n1))"
echo "image:       Debian $SUITE minbase, $(zstdcat "$(layer_blobs "$layout" one-zstd)" | tar -t | wc -l) entries, $(($(zstdcat "$(layer_blobs "$layout" one-zstd)" | wc -c) / 1048576)) MB of tar ($(blob_mb "$layout" one-gzip) MB gzip, $(blob_mb "$layout" one-zstd) MB zstd)"
echo "runs:        $RUNS per figure, ours and the baseline taking turns"
echo "cache:       warm (the layer blobs come from the page cache); a new ext4 per write run"
echo "processors:  $(nproc), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo

# umoci_reads TAG: whether umoci can unpack the image (0.4.7 reads no zstd
# layers); one it cannot gets no umoci baseline
umoci_reads()
{
	local rc=0
	rm -rf probe-bundle
	"$UMOCI" raw unpack --image "$layout:$1" probe-bundle >/dev/null 2>&1 || rc=1
	rm -rf probe-bundle
	return $rc
}

if [[ " $JOBS " == *" 1 "* || " $JOBS " == *" 2 "* ]]; then
	for tag in one-gzip three-gzip one-zstd three-zstd; do
		f=job1.$tag
		rm -f "$f".*
		with_umoci=0
		if [[ " $JOBS " == *" 1 "* ]] && umoci_reads "$tag"; then
			with_umoci=1
		elif [[ " $JOBS " == *" 1 "* ]]; then
			notes+=("$("$UMOCI" --version | head -n1) cannot unpack $tag: no baseline for it")
		fi
		mb=$(blob_mb "$layout" "$tag")
		say "== $tag ($mb MB of layer blobs)"
		for ((i = 0; i < RUNS; i++)); do
			if [ $with_umoci = 1 ]; then
				fresh
				baseline "$layout" "$tag" "$f.umoci"
				base_digest=$(tail -n1 out.txt)
				fresh
				baseline "$layout" "$tag" "$f.raw" raw
			fi
			if [ $have_ours = 1 ]; then
				fresh_repo
				ours "$layout" "$tag" "$f.ours"
				if [ "$i" = 0 ] && [ $with_umoci = 1 ]; then
					notes+=("$tag: $(same_digest "$base_digest")")
				fi
			fi
			if [[ " $JOBS " == *" 2 "* ]]; then
				floor "$f.floor" "$layout" "$tag"
				floor "$f.ssl" "$layout" "$tag" "openssl dgst -sha256"
			fi
		done
		if [ $have_ours = 1 ]; then
			if [ $with_umoci = 1 ]; then
				row "1. import $tag / umoci unpack + mkcomposefs" "$f.ours" "$f.umoci" time 0.33
				row "   import $tag / umoci raw unpack + mkcomposefs" "$f.ours" "$f.raw"
			fi
			if [[ " $JOBS " == *" 2 "* ]]; then
				row "2. import $tag / decompress + sha256sum" "$f.ours" "$f.floor" time 1.5
				row "   same / decompress + openssl dgst -sha256" "$f.ours" "$f.ssl"
			fi
		fi
		if [ $with_umoci = 1 ]; then
			row "   umoci unpack alone / mkcomposefs alone ($tag)" "$f.umoci.unpack" "$f.umoci.mk"
			row "   umoci unpack + mkcomposefs / floor ($tag)" "$f.umoci" "$f.floor"
		fi
	done
fi

# 3. a second image sharing two of three layers, after the first
if [[ " $JOBS " == *" 3 "* ]]; then
	for comp in gzip zstd; do
		f=job3.$comp
		rm -f "$f".*
		with_umoci=0
		umoci_reads "three-b-$comp" && with_umoci=1
		say "== three-$comp, then three-b-$comp"
		for ((i = 0; i < RUNS; i++)); do
			if [ $with_umoci = 1 ]; then
				fresh
				baseline "$layout" "three-$comp" "$f.base-first"
				baseline "$layout" "three-b-$comp" "$f.base-second"
				base_digest=$(tail -n1 out.txt)
			fi
			if [ $have_ours = 1 ]; then
				fresh_repo
				ours "$layout" "three-$comp" "$f.first" first
				ours "$layout" "three-b-$comp" "$f.second" second
				reused=$(cat out.txt cmd.err | grep -c 'reused' || true)
				if [ "$i" = 0 ]; then
					notes+=("three-b-$comp after three-$comp: $reused of 3 layers reused")
					[ $with_umoci = 1 ] && notes+=("three-b-$comp: $(same_digest "$base_digest")")
				fi
			fi
		done
		if [ $have_ours = 1 ]; then
			row "3. second image ($comp), 2 of 3 layers shared / first" "$f.second" "$f.first" time 0.10
			[ $with_umoci = 1 ] &&
				row "   same second import / umoci + mkcomposefs's second" "$f.second" "$f.base-second"
		fi
		[ $with_umoci = 1 ] &&
			row "   umoci + mkcomposefs: second / first ($comp)" "$f.base-second" "$f.base-first"
	done
fi

# 4. peak memory with a big file against a small one
if [[ " $JOBS " == *" 4 "* && $have_ours = 1 ]]; then
	f=job4
	rm -f "$f".*
	say "== a layer with a $BIG_MB MiB file, a layer with a 64 KiB file"
	for ((i = 0; i < RUNS; i++)); do
		fresh_repo
		ours "$biglayout" big "$f.big"
		fresh_repo
		ours "$biglayout" small "$f.small"
		if [[ " $JOBS " == *" 2 "* ]]; then
			floor "$f.floor" "$biglayout" big
			floor "$f.ssl" "$biglayout" big "openssl dgst -sha256"
		fi
	done
	row "4. peak RSS: import $BIG_MB MiB file / 64 KiB file" "$f.big" "$f.small" memory 16
	if [[ " $JOBS " == *" 2 "* ]]; then
		row "   import $BIG_MB MiB file / decompress + sha256sum" "$f.big" "$f.floor" time 1.5
		row "   same / decompress + openssl dgst -sha256" "$f.big" "$f.ssl"
	fi
fi

# 5. composefs-rs's image of the OCI image (the default) against the tree as
# unpacked, and the same into a SHA-512 repository
if [[ " $JOBS " == *" 5 "* && $have_ours = 1 ]]; then
	for tag in one-gzip three-gzip; do
		f=job5.$tag
		rm -f "$f".*
		say "== $tag: transformed, as unpacked, SHA-512"
		for ((i = 0; i < RUNS; i++)); do
			fresh_repo
			ours "$layout" "$tag" "$f.unpacked"
			fresh_repo
			transformed "$layout" "$tag" "$f.xform"
			fresh_repo sha512
			transformed "$layout" "$tag" "$f.x512"
		done
		row "5. import $tag, composefs-rs's image / --as-unpacked" "$f.xform" "$f.unpacked"
		row "   same, SHA-512 repository / SHA-256 repository" "$f.x512" "$f.xform"
	done
fi

echo
printf '| %-56s | %-22s | %-22s | %-10s | %-8s | %-3s | %-9s | %-9s |\n' \
	job ours baseline ratio goal met "our peak" "base peak"
printf '|%s|\n' "----------------------------------------------------------|------------------------|------------------------|------------|----------|-----|-----------|-----------"
cat "$table"
if [ ${#notes[@]} -gt 0 ]; then
	echo
	printf '%s\n' "${notes[@]}"
fi
exit 0
