#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Mount benchmark, the comparison of the composefs proposal: `ls -lR` over
# the same 64k-entry tree (CentOS Stream 9 developer image) mounted as
#   (a) composefs: our mount.composefs (EROFS image + overlayfs over the
#       object store)
#   (b) overlayfs over a squashfs image of the tree whose files carry the
#       trusted.overlay.metacopy/redirect xattrs, over the same store
#   (c) a plain EROFS image of the tree (mkfs.erofs, sparse files as
#       chunk-based files with holes), mounted from the file
#   (d) optionally the baseline command BASELINE_MOUNT on the composefs
#       image, e.g. another build of mount.composefs
# cold (page cache, dentries and inodes dropped before each run) and warm,
# plus the time to mount. Prints a table (median, min, max) and writes a PNG
# chart. As root; installs its own dependencies (squashfs-tools, erofs-utils,
# gnuplot-nox) with apt-get when they are missing.
#
#   bench/mount-bench.sh
#
# Environment:
#   MKCOMPOSEFS       default build/tools/mkcomposefs
#   MOUNT_COMPOSEFS   default build/tools/mount.composefs
#   BASELINE_MOUNT    a mount.composefs-like command for (d) (called as
#                     CMD -o basedir=STORE IMAGE TARGET); none by default
#   DUMP              the tree (default: cs9-x86_64-developer.dump.gz from
#                     ../shared/assets/upstream-composefs)
#   COLD_RUNS         default 20
#   WARM_RUNS         default 40
#   MOUNT_RUNS        default 20
#   WORKDIR           scratch space (default: a new temporary directory;
#                     about 100 MB; kept when given, reused if complete)
#   CHART             the PNG to write (default $WORKDIR/mount-bench.png)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
MKCOMPOSEFS=${MKCOMPOSEFS:-$top/build/tools/mkcomposefs}
MOUNT_COMPOSEFS=${MOUNT_COMPOSEFS:-$top/build/tools/mount.composefs}
BASELINE_MOUNT=${BASELINE_MOUNT:-}
DUMP=${DUMP:-$top/../shared/assets/upstream-composefs/cs9-x86_64-developer.dump.gz}
COLD_RUNS=${COLD_RUNS:-20}
WARM_RUNS=${WARM_RUNS:-40}
MOUNT_RUNS=${MOUNT_RUNS:-20}
keep_workdir=${WORKDIR:+yes}
WORKDIR=${WORKDIR:-$(mktemp -d /var/tmp/cfs-mount-bench.XXXXXX)}
CHART=${CHART:-$WORKDIR/mount-bench.png}

[ "$(id -u)" -eq 0 ] || { echo "mount-bench: needs root" >&2; exit 1; }
for tool in "$MKCOMPOSEFS" "$MOUNT_COMPOSEFS"; do
	[ -x "$tool" ] || { echo "mount-bench: no $tool (build first)" >&2; exit 1; }
done
[ -r "$DUMP" ] || { echo "mount-bench: no dump at $DUMP" >&2; exit 1; }

# Dependencies, installed here and not by CI.
missing=()
command -v mksquashfs >/dev/null || missing+=(squashfs-tools)
command -v mkfs.erofs >/dev/null || missing+=(erofs-utils)
command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } ||
		echo "mount-bench: could not install ${missing[*]}; going on without" >&2
fi
command -v mksquashfs >/dev/null && command -v mkfs.erofs >/dev/null ||
	{ echo "mount-bench: needs mksquashfs and mkfs.erofs" >&2; exit 1; }

mkdir -p "$WORKDIR"
cd "$WORKDIR"
mkdir -p mnt-composefs mnt-squashfs mnt-erofs mnt-baseline sq

cleanup()
{
	local dir
	for dir in "$WORKDIR"/mnt-* "$WORKDIR/sq"; do
		mountpoint -q "$dir" && umount "$dir"
	done
	[ -n "$keep_workdir" ] || rm -rf "$WORKDIR"
}
trap cleanup EXIT

# --- the three images, over one store ---------------------------------------

step()
{
	printf '%-58s' "$1..." >&2
	local start=$SECONDS
	shift
	if ! "$@" >step.log 2>&1; then
		echo " failed:" >&2
		cat step.log >&2
		exit 1
	fi
	echo " $((SECONDS - start)) s" >&2
}

if [ ! -e ready ]; then
	rm -rf store tree-erofs tree-overlay ./*.img
	step "object store (sparse objects)" python3 "$here/dump-to-tree.py" store "$DUMP" store
	step "composefs image (mkcomposefs --from-file)" \
		bash -c 'zcat -f "$1" | "$2" --from-file - composefs.img' _ "$DUMP" "$MKCOMPOSEFS"
	step "tree with overlay xattrs" python3 "$here/dump-to-tree.py" tree "$DUMP" tree-overlay --overlay
	step "squashfs image of it (mksquashfs)" \
		mksquashfs tree-overlay overlay.squashfs -noappend -xattrs -quiet -no-progress
	step "plain tree" python3 "$here/dump-to-tree.py" tree "$DUMP" tree-erofs
	step "plain EROFS image (mkfs.erofs --chunksize=4096)" \
		mkfs.erofs --chunksize=4096 -Eforce-inode-compact plain.erofs tree-erofs
	rm -rf tree-overlay tree-erofs
	touch ready
fi

# --- mounting and unmounting each -------------------------------------------

# Plain EROFS straight from the file, as mount.composefs does, so that the
# comparison isolates what composefs adds: overlayfs and its object lookups.
# (mount(8) would put a loop device under a regular file.) A small C
# program, so that its mount time is not a Python start-up.
if [ ! -x erofs-file-mount ]; then
	cc -O2 -o erofs-file-mount -x c - <<'EOF'
#define _GNU_SOURCE
#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>

int main(int argc, char **argv)
{
	char source[64];
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC), fs, mnt;

	if (fd < 0 || (fs = fsopen("erofs", FSOPEN_CLOEXEC)) < 0)
		err(1, "%s", argv[1]);
	snprintf(source, sizeof(source), "/proc/self/fd/%d", fd);
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", source, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
	    (mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY)) < 0 ||
	    move_mount(mnt, "", AT_FDCWD, argv[2], MOVE_MOUNT_F_EMPTY_PATH) < 0)
		err(1, "mounting %s", argv[1]);
	return 0;
}
EOF
fi

# do_mount CONFIG: mount it on mnt-CONFIG
do_mount()
{
	local mnt="$WORKDIR/mnt-$1"
	case "$1" in
	composefs) "$MOUNT_COMPOSEFS" -o basedir="$WORKDIR/store" composefs.img "$mnt" ;;
	baseline) $BASELINE_MOUNT -o basedir="$WORKDIR/store" composefs.img "$mnt" ;;
	squashfs)
		mount -t squashfs -o ro,loop overlay.squashfs sq &&
			mount -t overlay overlay -o "ro,metacopy=on,redirect_dir=follow,lowerdir=$WORKDIR/sq::$WORKDIR/store" "$mnt"
		;;
	erofs) ./erofs-file-mount plain.erofs "$mnt" ;;
	esac
}

do_umount()
{
	umount "$WORKDIR/mnt-$1"
	if [ "$1" = squashfs ]; then
		umount sq
	fi
}

now_ns()
{
	date +%s%N
}

# stats SCALE VALUES...: "median min max" of the nanosecond VALUES divided
# by SCALE, 3 decimals
stats()
{
	python3 -c '
import statistics, sys
scale = float(sys.argv[1])
v = [int(x) / scale for x in sys.argv[2:]]
print("%.3f %.3f %.3f" % (statistics.median(v), min(v), max(v)))' "$@"
}

configs=(composefs squashfs erofs)
[ -n "$BASELINE_MOUNT" ] && configs+=(baseline)
declare -A names=(
	[composefs]="(a) composefs (our mount.composefs)"
	[squashfs]="(b) overlayfs over squashfs"
	[erofs]="(c) plain EROFS"
	[baseline]="(d) baseline: ${BASELINE_MOUNT##*/}"
)
declare -A short_names=(
	[composefs]="(a) composefs"
	[squashfs]="(b) overlay+squashfs"
	[erofs]="(c) plain EROFS"
	[baseline]="(d) baseline"
)

echo "tree: $DUMP"
[ -n "$BASELINE_MOUNT" ] && echo "baseline: $BASELINE_MOUNT"
echo "runs: $COLD_RUNS cold (caches dropped before each), $WARM_RUNS warm, $MOUNT_RUNS mounts"
echo "kernel: $(uname -r); $(nproc) CPUs"
# The configurations take turns, run by run, so that whatever else the
# machine does spreads over all of them alike.
declare -A cold warm mounts
for config in "${configs[@]}"; do
	cold[$config]="" warm[$config]="" mounts[$config]=""
done
printf '%-58s' "mount times..." >&2
start=$SECONDS
for ((i = 0; i < MOUNT_RUNS; i++)); do
	for config in "${configs[@]}"; do
		sync
		t0=$(now_ns)
		do_mount "$config"
		mounts[$config]+=" $(($(now_ns) - t0))"
		do_umount "$config"
	done
done
echo " $((SECONDS - start)) s" >&2
for config in "${configs[@]}"; do
	do_mount "$config"
done
entries=$(find "$WORKDIR/mnt-composefs" | wc -l)
printf '%-58s' "cold ls -lR..." >&2
start=$SECONDS
for ((i = 0; i < COLD_RUNS; i++)); do
	for config in "${configs[@]}"; do
		sync
		echo 3 >/proc/sys/vm/drop_caches
		t0=$(now_ns)
		ls -lR "$WORKDIR/mnt-$config" >/dev/null
		cold[$config]+=" $(($(now_ns) - t0))"
	done
done
echo " $((SECONDS - start)) s" >&2
printf '%-58s' "warm ls -lR..." >&2
start=$SECONDS
for config in "${configs[@]}"; do
	ls -lR "$WORKDIR/mnt-$config" >/dev/null
done
for ((i = 0; i < WARM_RUNS; i++)); do
	for config in "${configs[@]}"; do
		t0=$(now_ns)
		ls -lR "$WORKDIR/mnt-$config" >/dev/null
		warm[$config]+=" $(($(now_ns) - t0))"
	done
done
echo " $((SECONDS - start)) s" >&2
for config in "${configs[@]}"; do
	do_umount "$config"
done
echo

echo "ls -lR, seconds: median (min-max); mount: milliseconds"
printf '| %-40s | %-22s | %-22s | %-20s |\n' "mount" "cold ls -lR" "warm ls -lR" "mount time"
printf '|%s|%s|%s|%s|\n' "------------------------------------------" "------------------------" \
	"------------------------" "----------------------"
: >chart.dat
for config in "${configs[@]}"; do
	# shellcheck disable=SC2086 # the lists are split on purpose
	read -r cm cmin cmax wm wmin wmax mm mmin mmax <<<"$(stats 1e9 ${cold[$config]}) $(stats 1e9 ${warm[$config]}) $(stats 1e6 ${mounts[$config]})"
	printf '| %-40s | %5s s (%s-%s) | %5s s (%s-%s) | %s ms (%s-%s) |\n' "${names[$config]}" \
		"$cm" "$cmin" "$cmax" "$wm" "$wmin" "$wmax" "$mm" "$mmin" "$mmax"
	printf '"%s" %s %s %s %s %s %s\n' "${short_names[$config]}" "$cm" "$cmin" "$cmax" "$wm" "$wmin" "$wmax" >>chart.dat
done

if command -v gnuplot >/dev/null; then
	gnuplot <<EOF
set terminal pngcairo size 900,500 noenhanced
set output "$CHART"
set title "ls -lR of the ${entries}-entry CentOS Stream 9 tree (median, min-max)"
set ylabel "seconds"
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.6 border -1
set yrange [0:*]
set key top right
set xtics noenhanced
plot "chart.dat" using 2:3:4:xtic(1) title "cold", "" using 5:6:7 title "warm"
EOF
	echo
	echo "chart: $CHART"
else
	echo "no gnuplot: no chart" >&2
fi
