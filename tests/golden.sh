#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Images from the reference implementation's test dumps must be
# byte-identical to the reference's (their SHA-256 is in NAME.sha256), pass
# fsck.erofs, and every should-fail-*.dump must be refused with exit status 1,
# a message, and no image file left behind.
set -u
. "$(dirname "$0")/tap.sh"

MKCOMPOSEFS=$(cfs_tool mkcomposefs) || exit 1
ASSETS=${CFS_ASSETS:-$(dirname "$0")/../../shared/assets/upstream-composefs}

if [ ! -d "$ASSETS" ]; then
	tap_skip_all "reference test assets not found at $ASSETS"
fi

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

have_fsck=
command -v fsck.erofs >/dev/null && have_fsck=1

# A flattened symlink: an asset whose whole content names another asset.
asset_source()
{
	local f="$1" target
	if [ "$(stat -c %s "$f")" -lt 256 ]; then
		target=$(cat "$f")
		if [ -f "$ASSETS/$target" ] && [ "$target" != "$(basename "$f")" ]; then
			printf '%s\n' "$ASSETS/$target"
			return
		fi
	fi
	printf '%s\n' "$f"
}

# mkcomposefs, in strict parse mode when $strict is set
mk()
{
	if [ -n "$strict" ]; then
		CFS_PARSE_STRICT=1 "$MKCOMPOSEFS" "$@"
	else
		env -u CFS_PARSE_STRICT "$MKCOMPOSEFS" "$@"
	fi
}

for f in "$ASSETS"/*.dump "$ASSETS"/*.dump.gz; do
	[ -f "$f" ] || continue
	name=$(basename "$f")
	case "$name" in should-fail-*) continue ;; esac
	[ -f "$f.sha256" ] || continue

	src=$(asset_source "$f")
	version_args=()
	if [ -f "$f.version" ]; then
		v=$(cat "$f.version")
		version_args=(--min-version="$v" --max-version="$v")
	fi
	strict=1
	case "$name" in
	no-newline.dump | longlink.dump | honggfuzz-longlink-unterminated.dump) strict= ;;
	esac
	cat=cat
	case "$name" in *.gz) cat=zcat ;; esac

	img="$work/$name.img"
	out=$($cat "$src" | mk "${version_args[@]}" --from-file - "$img" 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		tap_not_ok "$name: image built" "$out"
		continue
	fi
	expected=$(cat "$f.sha256")
	actual=$(sha256sum "$img" | cut -d' ' -f1)
	if [ "$expected" = "$actual" ]; then
		tap_ok "$name: byte-identical to the reference image"
	else
		tap_not_ok "$name: byte-identical to the reference image" \
			"expected $expected, got $actual"
	fi
	if [ -n "$have_fsck" ]; then
		tap_check "$name: fsck.erofs accepts the image" fsck.erofs "$img"
	else
		tap_skip "$name: fsck.erofs accepts the image" "fsck.erofs not installed"
	fi

	# The digest printed must be the image's fs-verity digest.
	printed=$($cat "$src" | mk "${version_args[@]}" --from-file --print-digest-only - 2>&1)
	if command -v fsverity >/dev/null; then
		measured=$(fsverity digest --compact "$img")
		if [ "$printed" = "$measured" ]; then
			tap_ok "$name: --print-digest-only equals fsverity digest of the image"
		else
			tap_not_ok "$name: --print-digest-only equals fsverity digest of the image" \
				"printed $printed, fsverity says $measured"
		fi
	fi
	rm -f "$img"
done

for f in "$ASSETS"/should-fail-*.dump; do
	[ -f "$f" ] || continue
	name=$(basename "$f")
	img="$work/$name.img"
	out=$(env -u CFS_PARSE_STRICT "$MKCOMPOSEFS" --from-file "$f" "$img" 2>&1)
	rc=$?
	left=$(find "$work" -mindepth 1 -print)
	if [ $rc -eq 1 ] && [ -n "$out" ] && [ -z "$left" ]; then
		tap_ok "$name: refused ($(printf '%s' "$out" | head -n1))"
	else
		tap_not_ok "$name: refused with status 1, a message and no file" \
			"status $rc, message '$out', files left: $left"
	fi
	rm -rf "${work:?}"/* "$work"/.[!.]* 2>/dev/null
done

# A failed build never replaces an existing image either.
printf 'old image\n' >"$work/existing.img"
printf '/ 0 40755 2 0 0 0 0.0 - - -\n/a 0 10644 1 0 0 0 x.0 - - -\n' >"$work/bad.dump"
"$MKCOMPOSEFS" --from-file "$work/bad.dump" "$work/existing.img" 2>"$work/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(cat "$work/existing.img")" = "old image" ] &&
	[ "$(find "$work" -name '.existing.img*' | wc -l)" -eq 0 ]; then
	tap_ok "a failed build leaves an existing image untouched"
else
	tap_not_ok "a failed build leaves an existing image untouched" "status $rc: $(cat "$work/err")"
fi

tap_done
