# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
# The reference implementation's test assets and how the tests read them;
# source this file (after tap.sh).
#
#   ASSETS                    their folder: $CFS_ASSETS, else
#                             ../shared/assets/upstream-composefs beside the
#                             checkout
#   golden_dumps              the golden dumps (those with a NAME.sha256 of
#                             the reference's image), a path a line
#   golden_read PATH          a dump's text on stdout (unzipped; an asset
#                             that only names another asset, a flattened
#                             symlink, reads as that one)
#   golden_version_args PATH  --min-version=V --max-version=V, a word a line,
#                             when the dump's image has a fixed version
#   golden_strict PATH        succeeds when the dump is one the parser takes
#                             in strict mode (all but three hand-broken ones)
#   golden_mk PATH ARGS...    mkcomposefs ARGS (with the dump's version
#                             arguments first), strict where golden_strict
#                             says so; $MKCOMPOSEFS is the tool

ASSETS=${CFS_ASSETS:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../shared/assets/upstream-composefs}

golden_dumps()
{
	local f
	for f in "$ASSETS"/*.dump "$ASSETS"/*.dump.gz; do
		[ -f "$f" ] && [ -f "$f.sha256" ] || continue
		case "$(basename "$f")" in should-fail-*) continue ;; esac
		printf '%s\n' "$f"
	done
}

golden_read()
{
	local f="$1" target
	if [ "$(stat -c %s "$f")" -lt 256 ]; then
		target=$(cat "$f")
		if [ -f "$ASSETS/$target" ] && [ "$target" != "$(basename "$f")" ]; then
			f="$ASSETS/$target"
		fi
	fi
	zcat -f "$f"
}

golden_version_args()
{
	local v
	if [ -f "$1.version" ]; then
		v=$(cat "$1.version")
		printf '%s\n' "--min-version=$v" "--max-version=$v"
	fi
}

golden_strict()
{
	case "$(basename "$1")" in
	no-newline.dump | longlink.dump | honggfuzz-longlink-unterminated.dump) return 1 ;;
	esac
	return 0
}

golden_mk()
{
	local f="$1"
	local -a version_args
	shift
	mapfile -t version_args < <(golden_version_args "$f")
	if golden_strict "$f"; then
		CFS_PARSE_STRICT=1 "$MKCOMPOSEFS" "${version_args[@]}" "$@"
	else
		env -u CFS_PARSE_STRICT "$MKCOMPOSEFS" "${version_args[@]}" "$@"
	fi
}
