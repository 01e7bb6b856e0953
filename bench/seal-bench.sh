#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# What seals cost: `composefs oci seal` and the seal checks of `oci import`
# against a plain `oci import` of the same image, the jobs taking turns run
# by run; medians (min-max) and their ratio to the baseline.
#
#   bench/seal-bench.sh          (as root: debootstrap makes the image's tree)
#
# The image is the Debian minbase tree of bench/oci-bench.sh (its cache
# under WORKDIR is shared), packed as a one-layer gzip OCI image.
#
#  1. `oci seal` into an empty repository (the image computed, a sealed copy
#     written), unsigned and signed (RSA 2048), against `oci import` into an
#     empty repository
#  2. `oci import` of the sealed, signed copy into an empty repository,
#     with --trusted-cert (the seal and its signature checked), against
#     `oci import` of the unsealed image
#  3. the same two into a repository that has the layer already (the seal
#     checked on an image computed from the kept layer, no tar read)
#
# Files come from the page cache (each layout is read once before); every
# run gets a new repository directory, removed after it, in SCRATCH: a
# tmpfs by default, so that what is measured is the work a seal adds (the
# image computed, digests, signatures, JSON, blobs), not the disk's mood.
#
# Environment:
#   COMPOSEFS     the tool (default: build/tools/composefs)
#   RUNS          runs per figure (default 5)
#   HASH_ALG      the repositories' algorithm, sha256 or sha512 (default
#                 sha256)
#   WORKDIR       scratch space and the cached tree (default
#                 /var/tmp/composefs-oci-bench, shared with oci-bench.sh)
#   SCRATCH       where repositories and layouts are written (default
#                 /dev/shm/composefs-seal-bench; removed after)
#   MIRROR, SUITE debootstrap's mirror and suite (default
#                 http://deb.debian.org/debian, bookworm)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
COMPOSEFS=${COMPOSEFS:-$top/build/tools/composefs}
RUNS=${RUNS:-5}
HASH_ALG=${HASH_ALG:-sha256}
WORKDIR=${WORKDIR:-/var/tmp/composefs-oci-bench}
SCRATCH=${SCRATCH:-/dev/shm/composefs-seal-bench}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}

for cmd in /usr/bin/time tar gzip openssl python3; do
	command -v "$cmd" >/dev/null || { echo "needs $cmd" >&2; exit 1; }
done
[ -x "$COMPOSEFS" ] || { echo "no $COMPOSEFS (build first)" >&2; exit 1; }

mkdir -p "$WORKDIR"
cd "$WORKDIR"
say() { echo "$*" >&2; }

if [ ! -d rootfs ]; then
	[ "$(id -u)" -eq 0 ] || { echo "run as root (debootstrap), or give a WORKDIR with rootfs/" >&2; exit 1; }
	say "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes)"
	rm -rf rootfs.tmp
	debootstrap --variant=minbase "$SUITE" rootfs.tmp "$MIRROR" >debootstrap.log 2>&1 ||
		{ tail -n 20 debootstrap.log >&2; exit 1; }
	mv rootfs.tmp rootfs
fi

scratch=$SCRATCH
rm -rf "$scratch"
mkdir -p "$scratch"
cleanup() { rm -rf "$scratch"; }
trap cleanup EXIT
cd "$scratch"

say "packing the tree as a one-layer OCI image"
tar -C "$WORKDIR/rootfs" --numeric-owner --sort=name --format=pax \
	--exclude=./dev --exclude=./proc --exclude=./sys \
	--exclude=./var/cache/apt --exclude=./var/lib/apt/lists \
	-cf layer.tar .
python3 "$top/tests/oci/ocitool.py" build src t layer.tar:gzip
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem \
	-subj "/CN=seal bench" -days 2 2>/dev/null
cfs() { "$COMPOSEFS" --repo "$@"; }
cfs repo-prep init --hash-alg="$HASH_ALG" >/dev/null
cfs repo-prep oci seal --sign-key key.pem --sign-cert cert.pem oci:src:t oci:sealed:t >/dev/null
cat src/blobs/sha256/* sealed/blobs/sha256/* >/dev/null
layer_mb=$(du -m --apparent-size src/blobs/sha256 | cut -f1)

# a repository that has the layer: made before each run that wants it
with_layer()
{
	rm -rf "$1"
	cfs "$1" init --hash-alg="$HASH_ALG" >/dev/null
	cfs "$1" oci import oci:src:t warm >/dev/null
}
empty()
{
	rm -rf "$1"
	cfs "$1" init --hash-alg="$HASH_ALG" >/dev/null
}

jobs=(import seal seal-signed import-unsealed import-sealed warm-import-unsealed warm-import-sealed)
declare -A cmdline prep times mems
cmdline[import]="oci import oci:src:t img"
cmdline[seal]="oci seal oci:src:t oci:out:t"
cmdline[seal-signed]="oci seal --sign-key key.pem --sign-cert cert.pem oci:src:t oci:out:t"
cmdline[import-unsealed]="oci import oci:src:t img"
cmdline[import-sealed]="oci import --trusted-cert cert.pem oci:sealed:t img"
cmdline[warm-import-unsealed]="oci import oci:src:t img"
cmdline[warm-import-sealed]="oci import --trusted-cert cert.pem oci:sealed:t img"
for j in "${jobs[@]}"; do
	case $j in
	warm-*) prep[$j]=with_layer ;;
	*) prep[$j]=empty ;;
	esac
done

say "$RUNS runs of ${#jobs[@]} jobs, taking turns (layer: $layer_mb MB gzip)"
for ((i = 0; i < RUNS; i++)); do
	for j in "${jobs[@]}"; do
		"${prep[$j]}" "repo-$j"
		rm -rf out
		# shellcheck disable=SC2086 # the command line splits on purpose
		/usr/bin/time -o time.txt -f '%e %M' "$COMPOSEFS" --repo "repo-$j" ${cmdline[$j]} >/dev/null
		read -r t m <time.txt
		times[$j]="${times[$j]:-} $t"
		mems[$j]="${mems[$j]:-} $m"
		rm -rf "repo-$j"
	done
done

stats()
{
	python3 - "$1" "$2" <<'EOF'
import statistics, sys
t = [float(x) for x in sys.argv[1].split()]
m = [int(x) for x in sys.argv[2].split()]
print(f"{statistics.median(t):.3f} {min(t):.3f} {max(t):.3f} {int(statistics.median(m)) // 1024}")
EOF
}
row()
{
	local name="$1" job="$2" base="$3" om omin omax omem bm bmin bmax bmem
	read -r om omin omax omem <<<"$(stats "${times[$job]}" "${mems[$job]}")"
	read -r bm bmin bmax bmem <<<"$(stats "${times[$base]}" "${mems[$base]}")"
	printf '| %s | %s s (%s-%s) | %s s (%s-%s) | %.2fx | %s MB vs %s MB |\n' \
		"$name" "$om" "$omin" "$omax" "$bm" "$bmin" "$bmax" \
		"$(python3 -c "print($om / $bm if $bm else 0)")" "$omem" "$bmem"
}
echo
echo "Medians (min-max) of $RUNS runs, taking turns; Debian $SUITE minbase, one gzip layer of $layer_mb MB; $HASH_ALG repositories"
echo
echo "| job | time | baseline | ratio | peak memory |"
echo "| --- | --- | --- | --- | --- |"
row "\`oci seal\`, empty repository / \`oci import\`" seal import
row "\`oci seal\` signed (RSA 2048) / \`oci import\`" seal-signed import
row "\`oci import --trusted-cert\` of the sealed copy / of the unsealed image" import-sealed import-unsealed
row "the same, layer in the repository already" warm-import-sealed warm-import-unsealed
