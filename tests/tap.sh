# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
# TAP helpers for the shell tests; source this file.
#
#   tap_ok "description"              ok N - description
#   tap_not_ok "description" [diag]   not ok N - description, diag as "# " lines
#   tap_skip "description" "reason"   ok N - description # SKIP reason
#   tap_check "description" cmd...    runs cmd; ok, or not ok with its output
#   tap_expect STATUS "description" cmd...
#                                     runs cmd; ok when it exits with STATUS;
#                                     its output is left in $out
#   tap_diag "text"                   "# " lines (stdin when no argument)
#   tap_skip_all "reason"             1..0 # SKIP reason, then exit 0
#   tap_done                          prints the plan 1..N; exit 1 on failure
#   tap_require_root                  skip all unless run as root
#   tap_require_fs FS...              skip all unless the kernel has each
#                                     filesystem (after trying modprobe)
#   tap_require_commands CMD...       skip all unless each command is found
#   cfs_tool NAME                     path of one of our tools (see below)
#   cfs_require_tool VAR NAME         VAR=that path; "Bail out!" if missing
#
# Results are numbered as they come; the plan is printed last by tap_done.

TAP_COUNT=0
TAP_FAILED=0

tap_diag()
{
	if [ "$#" -gt 0 ]; then
		printf '%s\n' "$*" | sed 's/^/# /'
	else
		sed 's/^/# /'
	fi
}

tap_ok()
{
	TAP_COUNT=$((TAP_COUNT + 1))
	printf 'ok %d - %s\n' "$TAP_COUNT" "$1"
}

tap_not_ok()
{
	TAP_COUNT=$((TAP_COUNT + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	printf 'not ok %d - %s\n' "$TAP_COUNT" "$1"
	if [ "$#" -gt 1 ] && [ -n "$2" ]; then
		tap_diag "$2"
	fi
}

tap_skip()
{
	TAP_COUNT=$((TAP_COUNT + 1))
	printf 'ok %d - %s # SKIP %s\n' "$TAP_COUNT" "$1" "$2"
}

tap_check()
{
	local description="$1" output
	shift
	if output=$("$@" 2>&1); then
		tap_ok "$description"
	else
		tap_not_ok "$description" "$(printf 'failed: %s\n%s' "$*" "$output")"
	fi
}

tap_expect()
{
	local want="$1" description="$2" rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		tap_ok "$description (status $rc)"
	else
		tap_not_ok "$description" "status $rc, expected $want: $out"
	fi
}

tap_skip_all()
{
	printf '1..0 # SKIP %s\n' "$1"
	exit 0
}

tap_require_root()
{
	[ "$(id -u)" -eq 0 ] || tap_skip_all "needs root"
}

tap_require_fs()
{
	local fs
	for fs in "$@"; do
		grep -qw "$fs" /proc/filesystems || modprobe "$fs" >/dev/null 2>&1 || true
		grep -qw "$fs" /proc/filesystems || tap_skip_all "kernel has no $fs filesystem"
	done
}

tap_require_commands()
{
	local cmd
	for cmd in "$@"; do
		command -v "$cmd" >/dev/null || tap_skip_all "$cmd is not installed"
	done
}

tap_done()
{
	printf '1..%d\n' "$TAP_COUNT"
	[ "$TAP_FAILED" -eq 0 ]
}

# cfs_tool NAME: the tool NAME of our build, $CFS_BUILDDIR/tools/NAME. An
# environment variable named after the tool (upper case, '-' and '.' as '_',
# e.g. MKCOMPOSEFS, COMPOSEFS_INFO, MOUNT_COMPOSEFS) overrides it, to run a
# test against another build of the tool.
cfs_tool()
{
	local name="$1" var
	var=$(printf '%s' "$name" | tr 'a-z.-' 'A-Z__')
	if [ -n "${!var:-}" ]; then
		printf '%s\n' "${!var}"
	elif [ -n "${CFS_BUILDDIR:-}" ]; then
		printf '%s\n' "$CFS_BUILDDIR/tools/$name"
	else
		printf '%s: CFS_BUILDDIR is not set and %s is not given\n' "$name" "$var" >&2
		return 1
	fi
}

# cfs_require_tool VAR NAME: sets VAR to cfs_tool NAME; a tool that is
# missing or not executable ends the test with "Bail out!" (a build
# problem, not a reason to skip).
cfs_require_tool()
{
	local path
	if ! path=$(cfs_tool "$2"); then
		echo "Bail out! no $2 to test"
		exit 1
	fi
	if [ ! -x "$path" ]; then
		echo "Bail out! $2 not found at $path"
		exit 1
	fi
	printf -v "$1" '%s' "$path"
}
