#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# fs-verity digest throughput: our SHA-512 Merkle tree (composefs-info
# --hash-alg=sha512 measure-file) against a plain SHA-512 of the same
# bytes (openssl dgst -sha512), against our SHA-256 one and against
# fsverity-utils (fsverity digest, libfsverity), all in the same run, the
# jobs taking turns run by run, the file in the page cache.
#
#   bench/digest-bench.sh
#
# Environment:
#   BUILD      our build (default build/)
#   SIZE_MB    size of the file hashed (default 512)
#   RUNS       runs per job (default 7; the median is reported)
#   WORKDIR    scratch space (default: a new temporary directory)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
BUILD=${BUILD:-$top/build}
INFO=$BUILD/tools/composefs-info
SIZE_MB=${SIZE_MB:-512}
RUNS=${RUNS:-7}
WORKDIR=${WORKDIR:-$(mktemp -d)}
mkdir -p "$WORKDIR"
trap 'rm -f "$WORKDIR/data"' EXIT

[ -x "$INFO" ] || { echo "no $INFO (build first)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is needed" >&2; exit 1; }

data=$WORKDIR/data
head -c "$((SIZE_MB << 20))" /dev/urandom >"$data"
cat "$data" >/dev/null

names=("ours sha512" "openssl dgst -sha512" "ours sha256" "openssl dgst -sha256")
cmds=("$INFO --hash-alg=sha512 measure-file $data"
	"openssl dgst -sha512 $data"
	"$INFO measure-file $data"
	"openssl dgst -sha256 $data")
if command -v fsverity >/dev/null; then
	names+=("fsverity digest sha512" "fsverity digest sha256")
	cmds+=("fsverity digest --hash-alg=sha512 $data"
		"fsverity digest --hash-alg=sha256 $data")
	# the digests agree before anything is timed
	ours=$("$INFO" --hash-alg=sha512 measure-file "$data")
	theirs=$(fsverity digest --compact --hash-alg=sha512 "$data")
	[ "$ours" = "$theirs" ] || { echo "SHA-512 digests differ: $ours vs $theirs" >&2; exit 1; }
fi

# indexed, so that "${times[@]}" keeps the jobs' order
times=()
for i in "${!cmds[@]}"; do
	times[i]=""
done
for ((run = 0; run < RUNS; run++)); do
	for i in "${!cmds[@]}"; do
		start=$(date +%s%N)
		# shellcheck disable=SC2086
		${cmds[$i]} >/dev/null
		end=$(date +%s%N)
		times[$i]+="$(((end - start) / 1000)) "
	done
done

echo "file:     $SIZE_MB MiB of random bytes, in the page cache"
echo "runs:     $RUNS per job, taking turns (median, min-max)"
echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
# the hash functions' own speed here, the ceiling of any Merkle tree
for alg in sha512 sha256; do
	speed=$(openssl speed -evp "$alg" -bytes 16384 -seconds 1 2>/dev/null |
		awk -v a="$alg" '$1 == a { print $2 }')
	echo "openssl speed -evp $alg (16 KiB): ${speed:-?} (1000s of bytes/s)"
done
echo
python3 - "$SIZE_MB" "${#cmds[@]}" "${names[@]}" "${times[@]}" <<'EOF'
import statistics, sys
size_mb = int(sys.argv[1])
n = int(sys.argv[2])
names = sys.argv[3:3 + n]
runs = [[int(x) / 1e6 for x in t.split()] for t in sys.argv[3 + n:3 + 2 * n]]
med = [statistics.median(r) for r in runs]
print(f"| {'job':<24} | {'time':<22} | {'MiB/s':>7} | vs openssl -sha512 | vs ours sha256 |")
print(f"|{'-'*26}|{'-'*24}|{'-'*9}|{'-'*20}|{'-'*16}|")
for name, r, m in zip(names, runs, med):
    print(f"| {name:<24} | {m:6.3f} s ({min(r):.3f}-{max(r):.3f}) | "
          f"{size_mb / m:7.0f} | {m / med[1]:17.2f}x | {m / med[2]:13.2f}x |")
EOF
