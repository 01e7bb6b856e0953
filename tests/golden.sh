#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Images from the reference implementation's test dumps must be
# byte-identical to the reference's (their SHA-256 is in NAME.sha256), pass
# fsck.erofs, and every should-fail-*.dump must be refused with exit status 1,
# a message, and no image file left behind.
set -u
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/assets.sh"

MKCOMPOSEFS=$(cfs_tool mkcomposefs) || exit 1

if [ ! -d "$ASSETS" ]; then
	tap_skip_all "reference test assets not found at $ASSETS"
fi

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

have_fsck=
command -v fsck.erofs >/dev/null && have_fsck=1

while read -r f <&3; do
	name=$(basename "$f")
	img="$work/$name.img"
	out=$(golden_read "$f" | golden_mk "$f" --from-file - "$img" 2>&1)
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
	printed=$(golden_read "$f" | golden_mk "$f" --from-file --print-digest-only - 2>&1)
	if command -v fsverity >/dev/null; then
		measured=$(fsverity digest --compact "$img")
		if [ "$printed" = "$measured" ]; then
			tap_ok "$name: --print-digest-only equals fsverity digest of the image"
		else
			tap_not_ok "$name: --print-digest-only equals fsverity digest of the image" \
				"printed $printed, fsverity says $measured"
		fi
	else
		tap_skip "$name: --print-digest-only equals fsverity digest of the image" \
			"fsverity(1) is not installed"
	fi
	rm -f "$img"
done 3< <(golden_dumps)

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
