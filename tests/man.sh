#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# The manual pages: each renders without a warning, carries the project's
# version, is installed, and names every long option its tool's --help
# lists (so that a new option cannot go undocumented).
set -u
tests_dir=$(cd "$(dirname "$0")" && pwd)
. "$tests_dir/tap.sh"

src_dir=${CFS_SRCDIR:-$tests_dir/..}
man_dir=$src_dir/man
[ -d "$man_dir" ] || tap_skip_all "no man/ directory in $src_dir"

pages=(mkcomposefs.1 composefs-info.1 composefs-dump.1 composefs-fuse.1
	composefs.1 composefs-dump.5 mount.composefs.8)

# The page's text as it reads: roff's minus signs, font changes and
# zero-width marks taken out, so that "\-\-from\-file" is "--from-file".
page_text()
{
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(CR//g' \
		-e 's/\\&//g' -e 's/\\%//g' "$1"
}

# The long options a help text lists, one a line, each once.
long_options()
{
	grep -oE -- '--[a-z][a-z-]*[a-z]' | sort -u
}

# check_options PAGE TOOL_PATH [HELP_ARGS...]...: every long option of the
# tool's --help, and of each further help command given as one word list
# in HELP_ARGS (split on spaces), appears in PAGE as a whole option.
check_options()
{
	local page="$1" tool="$2" help opts missing="" opt n=0 text args
	shift 2
	help=$("$tool" --help 2>&1)
	for args in "$@"; do
		# shellcheck disable=SC2086 # a word list on purpose
		help+=$'\n'$("$tool" $args --help 2>&1)
	done
	opts=$(printf '%s\n' "$help" | long_options)
	text=$(page_text "$man_dir/$page")
	for opt in $opts; do
		n=$((n + 1))
		printf '%s\n' "$text" | grep -qE -- "${opt}([^a-z-]|\$)" ||
			missing+="$opt "
	done
	if [ "$n" -eq 0 ]; then
		tap_not_ok "$page: --help of $(basename "$tool") lists long options" \
			"no option found in: $help"
	elif [ -z "$missing" ]; then
		tap_ok "$page names all $n long options of $(basename "$tool") --help"
	else
		tap_not_ok "$page names all long options of $(basename "$tool") --help" \
			"missing: $missing"
	fi
}

version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$src_dir/meson.build" | head -n 1)

for page in "${pages[@]}"; do
	if [ ! -f "$man_dir/$page" ]; then
		tap_not_ok "$page exists" "no $man_dir/$page"
		continue
	fi
	if command -v groff >/dev/null; then
		if warnings=$(groff -man -ww -z "$man_dir/$page" 2>&1) &&
			[ -z "$warnings" ]; then
			tap_ok "$page renders without warnings"
		else
			tap_not_ok "$page renders without warnings" "$warnings"
		fi
	else
		tap_skip "$page renders without warnings" "groff is not installed"
	fi
	if grep -q "^\.TH .*\"composefs-c $version\"" "$man_dir/$page"; then
		tap_ok "$page carries version $version"
	else
		tap_not_ok "$page carries version $version" "$(grep '^\.TH' "$man_dir/$page")"
	fi
	if grep -qF "'$page'" "$man_dir/meson.build"; then
		tap_ok "$page is installed by man/meson.build"
	else
		tap_not_ok "$page is installed by man/meson.build"
	fi
done

cfs_require_tool MKCOMPOSEFS mkcomposefs
cfs_require_tool INFO composefs-info
cfs_require_tool DUMP composefs-dump
cfs_require_tool MOUNT mount.composefs
cfs_require_tool COMPOSEFS composefs

check_options mkcomposefs.1 "$MKCOMPOSEFS"
check_options composefs-info.1 "$INFO"
check_options composefs-dump.1 "$DUMP"
check_options mount.composefs.8 "$MOUNT"
check_options composefs.1 "$COMPOSEFS" init add images export rm mount fsck gc \
	import-tar oci "oci import" "oci pull"

# composefs-fuse is built only where libfuse3 is found.
FUSE=$(cfs_tool composefs-fuse) || exit 1
if [ -x "$FUSE" ]; then
	check_options composefs-fuse.1 "$FUSE"
else
	tap_skip "composefs-fuse.1 names all long options of composefs-fuse --help" \
		"composefs-fuse not built (no libfuse3)"
fi

tap_done
