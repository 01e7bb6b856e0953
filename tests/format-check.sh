#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Check the C sources against .clang-format; list the files that differ.
#
#   tests/format-check.sh          check; exit 1 when a file differs
#   tests/format-check.sh --diff   also show how each file would change
#   tests/format-check.sh --fix    reformat the files in place
#
# CLANG_FORMAT=path picks the clang-format binary.

set -euo pipefail

cd "$(dirname "$0")/.."
clang_format=${CLANG_FORMAT:-clang-format}
mode=check
case "${1:-}" in
--diff) mode="diff" ;;
--fix) mode="fix" ;;
"") ;;
*)
	echo "usage: $0 [--diff|--fix]" >&2
	exit 2
	;;
esac

if ! command -v "$clang_format" >/dev/null; then
	echo "format-check: $clang_format is not installed" >&2
	exit 77
fi

shopt -s nullglob
files=(lib/*.c lib/*.h lib/*/*.c lib/*/*.h include/*/*.h tools/*.c tests/*.c tests/*.h tests/fuzz/*.c tests/fuzz/*.h tests/install/*.c)
if [ "${#files[@]}" -eq 0 ]; then
	echo "format-check: no C sources found" >&2
	exit 1
fi

if [ "$mode" = fix ]; then
	"$clang_format" -i "${files[@]}"
	echo "format-check: reformatted ${#files[@]} files"
	exit 0
fi

differ=()
for file in "${files[@]}"; do
	if ! "$clang_format" --dry-run -Werror "$file" >/dev/null 2>&1; then
		differ+=("$file")
		if [ "$mode" = diff ]; then
			"$clang_format" "$file" | diff -u "$file" - || true
		fi
	fi
done

if [ "${#differ[@]}" -eq 0 ]; then
	echo "format-check: ${#files[@]} files formatted as .clang-format says"
	exit 0
fi
echo "format-check: ${#differ[@]} of ${#files[@]} files differ from .clang-format" \
	"(see tests/format-check.sh --diff, fix with --fix):"
printf '  %s\n' "${differ[@]}"
exit 1
