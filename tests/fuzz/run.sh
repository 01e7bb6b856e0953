#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Fuzz with libFuzzer (clang), AddressSanitizer and UBSan:
#
#   tests/fuzz/run.sh TARGET SECONDS   fuzz TARGET for SECONDS
#   tests/fuzz/run.sh TARGET merge     minimise the corpus (see below)
#   tests/fuzz/run.sh TARGET seed      make seed inputs from the golden
#                                      dumps and images of them
#
# TARGET is fuzz-dump-parse (composefs-dump text), fuzz-image (images) or
# fuzz-tar (tar layers, applied as an OCI import applies them).
# The build goes to build-fuzz/ (FUZZ_BUILDDIR), apart from the others. The
# fuzzer runs on one core under nice, starts from tests/fuzz/corpus-*/ and
# regress-*/ and keeps the new inputs it finds in build-fuzz/corpus-*/;
# crashing inputs go to build-fuzz/artifacts/ (once fixed, add them to
# tests/fuzz/regress-*/). "merge" then replaces tests/fuzz/corpus-*/ with
# the smallest set of inputs, old and new, that covers as much (libFuzzer
# -merge=1). Images are kept gzip'd (NAME.gz). More libFuzzer options may
# follow SECONDS.
set -euo pipefail

usage()
{
	echo "usage: $0 fuzz-dump-parse|fuzz-image|fuzz-tar SECONDS|merge|seed [LIBFUZZER-OPTION...]" >&2
	exit 2
}

[ $# -ge 2 ] || usage
target=$1
what=$2
shift 2
case "$target" in
fuzz-image) corpus=corpus-image regress=regress-image extra=(tests/walk-image.c) ;;
fuzz-dump-parse) corpus=corpus-dump regress=regress-dump extra=() ;;
fuzz-tar) corpus=corpus-tar regress=regress-tar extra=() ;;
*) usage ;;
esac
case "$what" in
merge | seed) ;;
*[!0-9]* | "") usage ;;
esac

self=$(readlink -f "$0")
cd "$(dirname "$self")/../.."
build=${FUZZ_BUILDDIR:-build-fuzz}

# The library through meson (instrumented for coverage, sanitized), the
# target linked with libFuzzer's main by hand; one build at a time when both
# targets start together (a lock on this script).
exec 9<"$self"
flock 9
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Dtests=false \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
ninja -C "$build" lib/libcomposefs-internal.a >/dev/null
clang -g -O1 -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Iinclude -Ilib -I"$build" "tests/fuzz/$target.c" "${extra[@]}" \
	"$build/lib/libcomposefs-internal.a" \
	$(pkg-config --libs libcrypto libarchive json-c) \
	$(pkg-config --exists libisal && pkg-config --libs libisal) -lpthread \
	-o "$build/$target"
flock -u 9
mkdir -p "$build/$corpus" "$build/artifacts"

# The inputs kept in the repository, as files libFuzzer can read: images
# are kept gzip'd (mostly zeros), so they are unpacked into build-fuzz/.
kept_inputs()
{
	if [ "$target" = fuzz-image ]; then
		rm -rf "$build/kept-image"
		mkdir -p "$build/kept-image"
		for f in tests/fuzz/corpus-image/* tests/fuzz/regress-image/*; do
			case "$f" in
			*.gz) gzip -dc -- "$f" >"$build/kept-image/$(basename "$f" .gz)" ;;
			*) [ -f "$f" ] && cp -- "$f" "$build/kept-image/" ;;
			esac
		done
		echo "$build/kept-image"
	else
		echo "tests/fuzz/$corpus tests/fuzz/$regress"
	fi
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case "$what" in
seed)
	# Small golden dumps as they are, and images our writer makes of
	# them: into build-fuzz/corpus-*/, for a merge.
	assets=${CFS_ASSETS:-../shared/assets/upstream-composefs}
	mk=${MKCOMPOSEFS:-build/tools/mkcomposefs}
	seeds=$(mktemp -d)
	cp "$assets"/*.dump "$seeds/"
	# and one with a bit of everything: hard links, a whiteout below the
	# root, devices, shared and inline xattrs, a directory of many blocks
	{
		echo "/ 4096 40755 4 0 0 0 0.0 - - - user.a=1 security.selinux=x"
		echo "/d 4096 40755 2 10 20 0 1.2 - - - user.a=1 security.selinux=x"
		echo "/d/wh 0 20000 1 0 0 0 0.0 - - -"
		echo "/d/f 100 100644 2 0 0 0 0.0 ab/cdef - 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef trusted.overlay.x=y"
		echo "/d/in 5 100644 1 0 0 0 0.0 - hello - user.b=\\x00\\xff"
		echo "/dev 0 20644 1 0 0 259 0.0 - - -"
		echo "/fifo 0 10644 1 0 0 0 0.0 - - -"
		echo "/link 0 @100644 0 0 0 0 0.0 /d/f - -"
		echo "/sym 3 120777 1 0 0 0 0.0 d/f - -"
		echo "/many 4096 40755 2 0 0 0 0.0 - - -"
		for i in $(seq 200); do
			echo "/many/entry-with-a-longer-name-$i 0 100644 1 0 0 0 0.0 - - -"
		done
	} >"$seeds/everything.dump"
	for f in "$seeds"/*.dump; do
		[ "$(stat -c %s "$f")" -le 40000 ] || continue
		name=$(basename "$f")
		if [ "$target" = fuzz-dump-parse ]; then
			cp "$f" "$build/$corpus/seed-$name"
			continue
		fi
		for v in 0 1; do
			"$mk" --min-version=$v --from-file "$f" \
				"$build/$corpus/seed-$name-v$v.img" 2>/dev/null || true
		done
	done
	rm -rf "$seeds"
	;;
merge)
	out=$(mktemp -d)
	# shellcheck disable=SC2046
	"$build/$target" -merge=1 "$@" "$out" $(kept_inputs) "$build/$corpus"
	mkdir -p "tests/fuzz/$corpus"
	rm -f "tests/fuzz/$corpus"/*
	for f in "$out"/*; do
		if [ "$target" = fuzz-image ]; then
			gzip -9nc -- "$f" >"tests/fuzz/$corpus/$(basename "$f").gz"
		else
			cp -- "$f" "tests/fuzz/$corpus/"
		fi
	done
	rm -rf "$out"
	echo "tests/fuzz/$corpus: $(ls "tests/fuzz/$corpus" | wc -l) inputs, $(du -sh "tests/fuzz/$corpus" | cut -f1)"
	;;
*)
	# shellcheck disable=SC2046
	exec nice -n 19 "$build/$target" -max_total_time="$what" \
		-timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/artifacts/" "$@" \
		"$build/$corpus" $(kept_inputs)
	;;
esac
