#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# What `meson install` puts on a system: the build under test installed
# into a temporary root (--no-rebuild: only files are copied, nothing is
# built; the one file meson writes into the build directory, its
# install-log.txt, is put back as it was). The tools, the library with its
# links, the headers, composefs.pc, the man pages and the licence texts are
# where the build's directory options say, and nothing else is installed;
# the installed tools and libraries carry no run path; the installed
# libcomposefs.so.1 needs only libcrypto and libc; the installed tools run
# against the installed library, not the build tree's; and programs built
# with `pkg-config --cflags --libs composefs` against the installed files
# alone, one using the libcomposefs (lcfs_) API, one the composefs-c (cfs_)
# API, write the image the installed mkcomposefs makes of the same tree, as
# does one built with `pkg-config composefs-repo` (libcomposefs-repo.so.0)
# from a tar, as the installed mkcomposefs --from-tar.
set -u
tests_dir=$(cd "$(dirname "$0")" && pwd)
. "$tests_dir/tap.sh"

src_dir=${CFS_SRCDIR:-$tests_dir/..}
[ -n "${CFS_BUILDDIR:-}" ] || tap_skip_all "CFS_BUILDDIR is not set"
tap_require_commands meson python3 readelf
export LC_ALL=C

work=$(mktemp -d)
install_log=$CFS_BUILDDIR/meson-logs/install-log.txt
cleanup()
{
	if [ -f "$work/install-log.txt" ]; then
		cp -p "$work/install-log.txt" "$install_log"
	elif [ -n "${install_started:-}" ]; then
		rm -f "$install_log"
	fi
	rm -rf -- "$work"
}
trap cleanup EXIT
root=$work/root

# ------------------------------------------------------------------
# Where the build installs to

if ! dirs=$(meson introspect "$CFS_BUILDDIR" --buildoptions --projectinfo \
	--targets |
	python3 -c '
import json, os, shlex, sys
info = json.load(sys.stdin)
opts = {o["name"]: o["value"] for o in info["buildoptions"]}
prefix = opts["prefix"]
for name in ("bindir", "sbindir", "libdir", "includedir", "mandir", "datadir"):
	print(f"{name}={shlex.quote(os.path.join(prefix, opts[name]))}")
print("version=" + shlex.quote(info["projectinfo"]["version"]))
print("sanitize=" + shlex.quote(opts.get("b_sanitize", "none")))
fuse = any(t["name"] == "composefs-fuse" for t in info["targets"])
print("fuse=" + ("1" if fuse else "0"))
' 2>&1); then
	echo "Bail out! cannot read the build's install directories: $dirs"
	exit 1
fi
bindir='' sbindir='' libdir='' includedir='' mandir='' datadir=''
version='' sanitize='' fuse=''
eval "$dirs"
# A program linking a sanitized library is built with the sanitizers too
# (their runtime must come first).
san_flags=()
[ "$sanitize" != none ] && san_flags=("-fsanitize=$sanitize")

tools=(mkcomposefs composefs-info composefs-dump composefs)
pages=(man1/mkcomposefs.1 man1/composefs-info.1 man1/composefs-dump.1
	man1/composefs.1 man5/composefs-dump.5 man8/mount.composefs.8)
if [ "$fuse" = 1 ]; then
	tools+=(composefs-fuse)
	pages+=(man1/composefs-fuse.1)
fi
headers=(libcomposefs/lcfs-writer.h libcomposefs/lcfs-mount.h
	libcomposefs/lcfs-erofs.h composefs-c/composefs.h composefs-c/repo.h)
docdir=$datadir/doc/composefs-c
licences=(COPYING LICENSES/GPL-2.0-or-later.txt LICENSES/Apache-2.0.txt)
docs=()
for f in "${licences[@]}"; do
	docs+=("$docdir/$(basename "$f")")
done

# ------------------------------------------------------------------
# The install

[ -f "$install_log" ] && cp -p "$install_log" "$work/install-log.txt"
install_started=1
if out=$(meson install -C "$CFS_BUILDDIR" --no-rebuild --destdir "$root" \
	--quiet 2>&1); then
	tap_ok "meson install --destdir into a temporary root"
else
	tap_not_ok "meson install --destdir into a temporary root" "$out"
	tap_done
	exit
fi

# joined TEXT: the lines of TEXT on one line
joined() { printf '%s' "$1" | tr '\n' ' '; }

# missing FILE...: those of the files (under $root) that are not there
missing()
{
	local f
	for f in "$@"; do
		[ -e "$root$f" ] || printf '%s ' "$f"
	done
}

# check_installed DESCRIPTION FILE...
check_installed()
{
	local what="$1" absent
	shift
	absent=$(missing "$@")
	if [ -z "$absent" ]; then
		tap_ok "$what installed ($#)"
	else
		tap_not_ok "$what installed" "missing: $absent"
	fi
}

expected=("${tools[@]/#/$bindir/}" "$sbindir/mount.composefs"
	"$libdir/libcomposefs.so" "$libdir/libcomposefs.so.1"
	"$libdir/libcomposefs.so.1.0.0" "$libdir/libcomposefs.a"
	"$libdir/pkgconfig/composefs.pc"
	"$libdir/libcomposefs-repo.so" "$libdir/libcomposefs-repo.so.0"
	"$libdir/libcomposefs-repo.so.0.0.0"
	"$libdir/pkgconfig/composefs-repo.pc"
	"${headers[@]/#/$includedir/}" "${pages[@]/#/$mandir/}" "${docs[@]}")
check_installed "tools in $bindir and mount.composefs in $sbindir" \
	"${tools[@]/#/$bindir/}" "$sbindir/mount.composefs"
check_installed "libcomposefs.so.1.0.0 with its links in $libdir" \
	"$libdir/libcomposefs.so" "$libdir/libcomposefs.so.1" \
	"$libdir/libcomposefs.so.1.0.0"
check_installed "libcomposefs.a (for static linking) in $libdir" \
	"$libdir/libcomposefs.a"
check_installed "headers in $includedir" "${headers[@]/#/$includedir/}"
check_installed "libcomposefs-repo.so.0.0.0 with its links in $libdir" \
	"$libdir/libcomposefs-repo.so" "$libdir/libcomposefs-repo.so.0" \
	"$libdir/libcomposefs-repo.so.0.0.0"
check_installed "composefs.pc and composefs-repo.pc" \
	"$libdir/pkgconfig/composefs.pc" "$libdir/pkgconfig/composefs-repo.pc"
check_installed "man pages in $mandir" "${pages[@]/#/$mandir/}"
check_installed "licence texts in $docdir" "${docs[@]}"

extra=$(comm -13 <(printf '%s\n' "${expected[@]}" | sort) \
	<(cd "$root" && find . ! -type d | sed 's|^\.||' | sort))
if [ -z "$extra" ]; then
	tap_ok "nothing else is installed"
else
	tap_not_ok "nothing else is installed" "also installed: $(joined "$extra")"
fi

different=""
for h in "${headers[@]}"; do
	cmp -s "$src_dir/include/$h" "$root$includedir/$h" || different+="$h "
done
for f in "${licences[@]}"; do
	cmp -s "$src_dir/$f" "$root$docdir/$(basename "$f")" || different+="$f "
done
if [ -z "$different" ]; then
	tap_ok "the installed headers and licence texts are the source's"
else
	tap_not_ok "the installed headers and licence texts are the source's" \
		"differ: $different"
fi

ilib=$root$libdir
link1=$(readlink "$ilib/libcomposefs.so.1")
link0=$(readlink "$ilib/libcomposefs.so")
if [ -L "$ilib/libcomposefs.so.1" ] && [ -L "$ilib/libcomposefs.so" ] &&
	[ ! -L "$ilib/libcomposefs.so.1.0.0" ] &&
	[ "$(readlink -f "$ilib/libcomposefs.so")" = \
		"$(readlink -f "$ilib/libcomposefs.so.1.0.0")" ] &&
	[ "$(readlink -f "$ilib/libcomposefs.so.1")" = \
		"$(readlink -f "$ilib/libcomposefs.so.1.0.0")" ] &&
	[ "${link0#/}" = "$link0" ] && [ "${link1#/}" = "$link1" ]; then
	tap_ok "libcomposefs.so -> $link0 and libcomposefs.so.1 -> $link1, relative links to the library"
else
	tap_not_ok "libcomposefs.so and libcomposefs.so.1 are relative links to libcomposefs.so.1.0.0" \
		"$(ls -l "$ilib" 2>&1)"
fi
soname=$(readelf -d "$ilib/libcomposefs.so.1.0.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = libcomposefs.so.1 ]; then
	tap_ok "the installed library's soname is libcomposefs.so.1"
else
	tap_not_ok "the installed library's soname is libcomposefs.so.1" "soname: '$soname'"
fi
soname=$(readelf -d "$ilib/libcomposefs-repo.so.0.0.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = libcomposefs-repo.so.0 ]; then
	tap_ok "the installed repository library's soname is libcomposefs-repo.so.0"
else
	tap_not_ok "the installed repository library's soname is libcomposefs-repo.so.0" "soname: '$soname'"
fi

# The core library is fit for an initramfs: libcrypto and libc, no more.
needed=$(readelf -d "$ilib/libcomposefs.so.1.0.0" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
# (a sanitizer build adds its runtimes, libasan and libubsan)
if [ -n "$needed" ] && [ -z "$(printf '%s\n' "$needed" | grep -v -e '^libcrypto\.so\.' -e '^libc\.so\.' \
	-e '^libasan\.so\.' -e '^libubsan\.so\.')" ]; then
	tap_ok "the installed libcomposefs.so.1 needs only $(joined "$needed")"
else
	tap_not_ok "the installed libcomposefs.so.1 needs only libcrypto and libc" "NEEDED: $(joined "$needed")"
fi

# No run path is left from the build (it named the build tree).
runpaths=""
for f in "${tools[@]/#/$bindir/}" "$sbindir/mount.composefs" \
	"$libdir/libcomposefs.so.1.0.0" "$libdir/libcomposefs-repo.so.0.0.0"; do
	rp=$(readelf -d "$root$f" 2>/dev/null | sed -n 's/.*(\(RPATH\|RUNPATH\)).*\[\(.*\)\]/\1 \2/p')
	[ -n "$rp" ] && runpaths+="$f: $rp"$'\n'
done
if [ -z "$runpaths" ]; then
	tap_ok "the installed tools and libraries carry no RPATH or RUNPATH"
else
	tap_not_ok "the installed tools and libraries carry no RPATH or RUNPATH" "$runpaths"
fi

# ------------------------------------------------------------------
# The installed tools run, on the installed library

# loaded_from PROGRAM ARGS...: the path the dynamic linker loads
# libcomposefs.so.1 from, running PROGRAM with the installed library dir
# first; PROGRAM's own output goes to $work/run.out
loaded_from()
{
	LD_LIBRARY_PATH=$ilib LD_DEBUG=libs "$@" >"$work/run.out" 2>"$work/ld.out"
	local rc=$?
	sed -n 's|.*calling init: \(.*/libcomposefs\.so\.1\)$|\1|p' "$work/ld.out" | head -n 1
	return $rc
}

# check_runs NAME FIRST_LINE PROGRAM ARGS...: PROGRAM ran with status 0,
# loaded the installed library and, unless FIRST_LINE is empty, printed a
# first line that FIRST_LINE (an extended regex) matches
check_runs()
{
	local name="$1" want="$2" from
	shift 2
	if ! from=$(loaded_from "$@"); then
		tap_not_ok "$name runs on the installed library" \
			"$(grep -v 'trying file=\|search path=' "$work/ld.out" | tail -n 5; cat "$work/run.out")"
	elif [ "${from#"$ilib"/}" = "$from" ]; then
		tap_not_ok "$name runs on the installed library" \
			"libcomposefs.so.1 loaded from '$from', not from $ilib"
	elif [ -n "$want" ] && ! head -n 1 "$work/run.out" | grep -qE -- "$want"; then
		tap_not_ok "$name runs on the installed library" \
			"its output is not /$want/: $(cat "$work/run.out")"
	else
		tap_ok "$name runs on the installed library"
		return 0
	fi
	return 1
}

vre=${version//./\\.}
for t in "${tools[@]/#/$bindir/}" "$sbindir/mount.composefs"; do
	name=$(basename "$t")
	check_runs "$name --version" "^${name//./\\.} \\(composefs-c\\) $vre\$" \
		"$root$t" --version
	if sed -n 2p "$work/run.out" | grep -qE "^implements composefs 1\\.0\\.8: "; then
		tap_ok "$name --version names the composefs level it implements (1.0.8)"
	else
		tap_not_ok "$name --version names the composefs level it implements (1.0.8)" "$(cat "$work/run.out")"
	fi
done

# ------------------------------------------------------------------
# Programs built against the installed header and library alone

mkcomposefs=$root$bindir/mkcomposefs
info=$root$bindir/composefs-info
irun() { LD_LIBRARY_PATH=$ilib "$@"; }

# The tree tests/install/lcfs-build.c builds, as a dump.
head -c 10000 /dev/zero | tr '\0' x >"$work/data"
if ! hex=$(irun "$info" measure-file "$work/data" | cut -d' ' -f1) ||
	[ ${#hex} -ne 64 ]; then
	echo "Bail out! composefs-info measure-file: $hex"
	exit 1
fi
t=1700000000.123456789
cat >"$work/tree.dump" <<EOF
/ 0 40755 3 0 0 0 $t - - -
/data 10000 100644 2 1000 1000 0 $t ${hex:0:2}/${hex:2} - $hex user.origin=lcfs
/dev 0 40755 2 0 0 0 $t - - -
/dev/null 0 20666 1 0 0 259 $t - - -
/hard 10000 @100644 2 1000 1000 0 $t /data - $hex
/link 4 120777 1 0 0 0 $t data - -
/small 6 100644 1 0 0 0 $t - hello\n -
EOF
if irun "$mkcomposefs" --print-digest --from-file "$work/tree.dump" \
	"$work/mkcomposefs.cfs" >"$work/mkcomposefs.digest" 2>"$work/err"; then
	tap_ok "the installed mkcomposefs writes the image of a dump"
else
	tap_not_ok "the installed mkcomposefs writes the image of a dump" "$(cat "$work/err")"
fi

# same_image NAME IMAGE DIGEST_FILE: IMAGE and its digest are mkcomposefs's
same_image()
{
	if cmp "$work/mkcomposefs.cfs" "$2" >"$work/cmp.out" 2>&1; then
		tap_ok "$1 writes mkcomposefs's image byte for byte"
	else
		tap_not_ok "$1 writes mkcomposefs's image byte for byte" "$(cat "$work/cmp.out")"
	fi
	if [ "$(cat "$3")" = "$(cat "$work/mkcomposefs.digest")" ]; then
		tap_ok "... and gives its digest $(cat "$3")"
	else
		tap_not_ok "... and gives its digest" \
			"$(cat "$3") vs mkcomposefs's $(cat "$work/mkcomposefs.digest")"
	fi
}

pc_dir=$ilib/pkgconfig
# the install root's .pc files first, the system's after them (for what
# they require: libcrypto, libarchive, json-c)
pkgconf()
{
	PKG_CONFIG_SYSROOT_DIR=$root \
		PKG_CONFIG_LIBDIR=$pc_dir:$(pkg-config --variable pc_path pkg-config) \
		pkg-config "$@"
}
cc=${CC:-cc}
if ! command -v pkg-config >/dev/null; then
	tap_skip "programs built with pkg-config against the install" "pkg-config is not installed"
	tap_done
	exit
fi
if ! command -v "$cc" >/dev/null; then
	tap_skip "programs built with pkg-config against the install" "no C compiler ($cc)"
	tap_done
	exit
fi

# composefs.pc's version is the level of the libcomposefs API provided
if [ "$(pkgconf --modversion composefs 2>&1)" = 1.0.8 ] &&
	pkgconf --atleast-version=1.0 composefs; then
	tap_ok "pkg-config finds composefs 1.0.8 (the libcomposefs API level) in the install root"
else
	tap_not_ok "pkg-config finds composefs 1.0.8 (the libcomposefs API level) in the install root" \
		"$(pkgconf --modversion composefs 2>&1)"
fi
if ! cflags=$(pkgconf --cflags composefs 2>&1) ||
	! libs=$(pkgconf --libs composefs 2>&1); then
	echo "Bail out! pkg-config --cflags --libs composefs: $cflags $libs"
	exit 1
fi
# shellcheck disable=SC2086 # word lists on purpose
if printf '%s\n' $cflags | grep -qxF -- "-I$root$includedir" &&
	printf '%s\n' $libs | grep -qxF -- "-L$ilib" &&
	printf '%s\n' $libs | grep -qxF -- "-lcomposefs"; then
	tap_ok "its flags name the installed headers and library:$(printf ' %s' $cflags $libs)"
else
	tap_not_ok "its flags name the installed headers and library" "$cflags $libs"
fi

# build NAME: tests/install/NAME.c built with those flags alone, strictly
build()
{
	# shellcheck disable=SC2086 # word lists on purpose
	if "$cc" -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
		"${san_flags[@]}" $cflags -o "$work/$1" \
		"$tests_dir/install/$1.c" $libs >"$work/cc.out" 2>&1; then
		tap_ok "$1.c builds against the install (-std=c11 -Wall -Wextra -Werror)"
	else
		tap_not_ok "$1.c builds against the install" "$(cat "$work/cc.out")"
		return 1
	fi
}

if build lcfs-build; then
	if check_runs "lcfs-build (the lcfs_ API)" "" "$work/lcfs-build" \
		"$work/lcfs.digest"; then
		cp "$work/run.out" "$work/lcfs.cfs"
		same_image lcfs-build "$work/lcfs.cfs" "$work/lcfs.digest"
	fi
fi

# Linked statically, as an initramfs tool is: libcomposefs.a and
# libcrypto.a, with the flags of `pkg-config --static` (composefs.pc's
# Requires.private brings libcrypto's).
if [ ${#san_flags[@]} -gt 0 ]; then
	tap_skip "lcfs-build linked statically" "a sanitizer build cannot link statically"
elif ! slibs=$(pkgconf --static --libs composefs 2>&1); then
	tap_not_ok "pkg-config --static --libs composefs" "$slibs"
elif ! printf '%s\n' $slibs | grep -qxF -- -lcrypto; then
	tap_not_ok "pkg-config --static --libs composefs names libcrypto" "$slibs"
else
	# shellcheck disable=SC2086 # word lists on purpose
	if "$cc" -static -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror $cflags \
		-o "$work/lcfs-static" "$tests_dir/install/lcfs-build.c" $slibs \
		>"$work/cc.out" 2>&1 &&
		! LC_ALL=C readelf -d "$work/lcfs-static" 2>/dev/null | grep -q NEEDED; then
		tap_ok "lcfs-build links statically with pkg-config --static:$(printf ' %s' $slibs)"
		if "$work/lcfs-static" "$work/static.digest" >"$work/static.cfs" 2>"$work/err"; then
			same_image "lcfs-build, linked statically," "$work/static.cfs" "$work/static.digest"
		else
			tap_not_ok "lcfs-build, linked statically, runs" "$(cat "$work/err")"
		fi
	else
		tap_not_ok "lcfs-build links statically with pkg-config --static" \
			"$(cat "$work/cc.out"; readelf -d "$work/lcfs-static" 2>&1 | grep NEEDED)"
	fi
fi

if build cfs-build; then
	check_runs "cfs-build --version (the cfs_ API: cfs_version() is $version)" \
		"^$vre\$" "$work/cfs-build" --version
	if irun "$work/cfs-build" "$work/tree.dump" "$work/cfs.digest" \
		>"$work/cfs.cfs" 2>"$work/err"; then
		same_image "cfs-build (cfs_dump_parse_buffer, cfs_write_image)" \
			"$work/cfs.cfs" "$work/cfs.digest"
	else
		tap_not_ok "cfs-build writes the image of the dump" "$(cat "$work/err")"
	fi
fi

# The repository library, through its own pkg-config file (which brings
# the core's flags along): a tar read as mkcomposefs --from-tar reads it.
mkdir -p "$work/tartree/d"
printf 'some content that is longer than an inline file may be, %s\n' \
	"$(seq 1 40 | tr '\n' ' ')" >"$work/tartree/d/file"
ln -s d/file "$work/tartree/link"
touch -h -d @1700000000 "$work/tartree/d/file" "$work/tartree/link" \
	"$work/tartree/d" "$work/tartree"
tar -C "$work/tartree" --owner=0 --group=0 --numeric-owner -cf "$work/tree.tar" .
if ! rcflags=$(pkgconf --cflags composefs-repo 2>&1) ||
	! rlibs=$(pkgconf --libs composefs-repo 2>&1); then
	tap_not_ok "pkg-config --cflags --libs composefs-repo" "$rcflags $rlibs"
else
	# shellcheck disable=SC2086 # word lists on purpose
	if printf '%s\n' $rlibs | grep -qxF -- "-lcomposefs-repo" &&
		printf '%s\n' $rlibs | grep -qxF -- "-lcomposefs"; then
		tap_ok "composefs-repo's flags name both libraries:$(printf ' %s' $rcflags $rlibs)"
	else
		tap_not_ok "composefs-repo's flags name both libraries" "$rcflags $rlibs"
	fi
	if irun "$mkcomposefs" --print-digest --from-tar "$work/tree.tar" \
		"$work/mkcomposefs.cfs" >"$work/mkcomposefs.digest" 2>"$work/err"; then
		tap_ok "the installed mkcomposefs writes the image of a tar"
	else
		tap_not_ok "the installed mkcomposefs writes the image of a tar" "$(cat "$work/err")"
	fi
	cflags=$rcflags libs=$rlibs
	if build repo-build; then
		if irun "$work/repo-build" "$work/tree.tar" "$work/repo.digest" \
			>"$work/repo.cfs" 2>"$work/err"; then
			same_image "repo-build (cfs_build_from_tar, cfs_write_image)" \
				"$work/repo.cfs" "$work/repo.digest"
		else
			tap_not_ok "repo-build writes the image of the tar" "$(cat "$work/err")"
		fi
	fi
fi

# The headers from C++, linked: their extern "C" is right.
cxx=${CXX:-c++}
if command -v "$cxx" >/dev/null; then
	cat >"$work/headers.cc" <<'EOF'
#include <libcomposefs/lcfs-erofs.h>
#include <libcomposefs/lcfs-mount.h>
#include <libcomposefs/lcfs-writer.h>
#include <composefs-c/composefs.h>
#include <composefs-c/repo.h>

int main()
{
	struct lcfs_node_s *node = lcfs_node_new();

	lcfs_node_unref(node);
	return cfs_version() == nullptr || sizeof(lcfs_erofs_header_s) != 32 ||
	       cfs_repo_check_name("a", nullptr) != 0;
}
EOF
	# shellcheck disable=SC2086 # word lists on purpose
	if "$cxx" -std=c++11 -Wall -Wextra -Werror "${san_flags[@]}" $cflags \
		-o "$work/headers" \
		"$work/headers.cc" $libs >"$work/cc.out" 2>&1 &&
		irun "$work/headers" >>"$work/cc.out" 2>&1; then
		tap_ok "the installed headers build and link as C++"
	else
		tap_not_ok "the installed headers build and link as C++" "$(cat "$work/cc.out")"
	fi
else
	tap_skip "the installed headers build and link as C++" "no C++ compiler ($cxx)"
fi

tap_done
