#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# The ABI of libcomposefs.so.1 and libcomposefs-repo.so.0: for each, the
# functions its public headers declare, its version script lists and the
# built library exports are one and the same set (the core's private node
# apart, which no header declares); the soname; every symbol in its version
# node, and the older versions kept for programs linked before a symbol
# changed are the ones the script lists as "compat:"; what each library
# needs (the core: libcrypto and libc alone); and
# every tool links the shared libraries instead of carrying a copy of them,
# and calls none of the core's private symbols.
set -u
tests_dir=$(cd "$(dirname "$0")" && pwd)
. "$tests_dir/tap.sh"

src_dir=${CFS_SRCDIR:-$tests_dir/..}
[ -n "${CFS_BUILDDIR:-}" ] || tap_skip_all "CFS_BUILDDIR is not set"
tap_require_commands python3 nm readelf objdump
export LC_ALL=C

for lib in libcomposefs.so.1 libcomposefs-repo.so.0; do
	if [ ! -f "$CFS_BUILDDIR/lib/$lib" ]; then
		echo "Bail out! no $CFS_BUILDDIR/lib/$lib"
		exit 1
	fi
done

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

# joined TEXT: the lines of TEXT on one line
joined() { printf '%s' "$1" | tr '\n' ' '; }

# compare_sets DESCRIPTION NAME_A FILE_A NAME_B FILE_B: the two sorted
# lists are equal; otherwise the names only one of them has, by name.
compare_sets()
{
	local only_a only_b diag=""
	only_a=$(comm -23 "$3" "$5")
	only_b=$(comm -13 "$3" "$5")
	if [ -z "$only_a" ] && [ -z "$only_b" ]; then
		tap_ok "$1 ($(wc -l <"$3") functions)"
		return
	fi
	[ -n "$only_a" ] && diag+="only in $2: "$(joined "$only_a")
	[ -n "$only_a" ] && [ -n "$only_b" ] && diag+=$'\n'
	[ -n "$only_b" ] && diag+="only in $4: "$(joined "$only_b")
	tap_not_ok "$1" "$diag"
}

# ------------------------------------------------------------------
# The functions the public headers declare

# Prints "PREFIX NAME" for each function declared at file scope in each
# header given: comments, preprocessor lines, C++ guards, attributes,
# struct and enum bodies and typedefs (function-pointer types among them)
# are left out.
# Any other file-scope declaration with a parameter list is a function;
# its name is the identifier before that list.
cat >"$work/decls.py" <<'EOF'
import re, sys

def drop_attributes(s):
    """s without its __attribute__((...)) parts"""
    while True:
        m = re.search(r"\b__attribute__\s*\(", s)
        if not m:
            return s
        depth, i = 0, m.end() - 1
        while i < len(s):
            depth += {"(": 1, ")": -1}.get(s[i], 0)
            i += 1
            if depth == 0:
                break
        s = s[: m.start()] + " " + s[i:]

def declared_functions(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"\\\n", " ", text)
    lines, skip = [], 0
    for line in text.split("\n"):
        s = line.strip()
        if s.startswith("#"):
            word = s[1:].split()
            if word and word[0] == "ifdef" and word[1:2] == ["__cplusplus"]:
                skip = 1
            elif skip and word and word[0].startswith("if"):
                skip += 1
            elif skip and word and word[0] == "endif":
                skip -= 1
            continue
        if not skip:
            lines.append(line)
    # the file-scope text, statement by statement
    depth, cur, stmts = 0, [], []
    for ch in "\n".join(lines):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            if ch == ";":
                stmts.append("".join(cur))
                cur = []
            else:
                cur.append(ch)
    for s in stmts:
        s = " ".join(drop_attributes(s).split())
        if s.startswith("typedef ") or "(" not in s:
            continue
        m = re.search(r"([A-Za-z_]\w*)\s*\($", s[: s.index("(") + 1])
        yield m.group(1) if m else "?" + s

for path in sys.argv[1:]:
    with open(path) as f:
        for name in declared_functions(f.read()):
            print(path, name)
EOF

# The symbols of the version script SYMFILE: "NODE NAME" for each listed
# under global:
sym_nodes()
{
	sed -e 's|/\*.*\*/||g' -e '/\/\*/,/\*\//d' "$1" | awk '
	/^[ \t]*[A-Za-z_][A-Za-z0-9_.]*[ \t]*\{/ { node = $1; sub(/\{.*/, "", node); scope = ""; next }
	/^[ \t]*\}/ { node = ""; next }
	/^[ \t]*global:/ { scope = "global"; next }
	/^[ \t]*local:/ { scope = "local"; next }
	node != "" && scope == "global" && /;/ {
		s = $0; gsub(/[ \t;]/, "", s); if (s != "") print node, s
	}'
}

# check_library LIB SYMFILE PRIVATE_NODE HEADER...: LIB (a file name under
# build/lib) against its version script and its public headers; symbols of
# the node PRIVATE_NODE ("" for none) are exported but in no header.
check_library()
{
	local libname=$1 symfile=$2 private=$3 w
	shift 3
	local lib=$CFS_BUILDDIR/lib/$libname symbase
	symbase=$(basename "$symfile")
	w=$work/$libname
	mkdir -p "$w"

	if ! python3 "$work/decls.py" "$@" >"$w/decls" 2>"$w/err"; then
		echo "Bail out! cannot read the headers: $(cat "$w/err")"
		exit 1
	fi
	cut -d' ' -f2 "$w/decls" | sort -u >"$w/header.list"

	# Each header declares functions of its API's prefix only.
	local bad api
	bad=$(awk '{
		n = split($1, p, "/"); dir = p[n - 1]
		want = dir == "composefs-c" ? "^cfs_" : "^lcfs_"
		if ($2 !~ want)
			print p[n - 1] "/" p[n] ": " substr($0, length($1) + 2)
	}' "$w/decls")
	if [ -z "$bad" ]; then
		tap_ok "$libname: its headers declare cfs_ functions in composefs-c/, lcfs_ ones in libcomposefs/"
	else
		tap_not_ok "$libname: its headers declare cfs_ functions in composefs-c/, lcfs_ ones in libcomposefs/" "$bad"
	fi
	for api in cfs_ lcfs_; do
		grep -q "/libcomposefs/" <<<"$*" || [ $api = cfs_ ] || continue
		if grep -q "^$api" "$w/header.list"; then
			tap_ok "$libname: its headers declare $(grep -c "^$api" "$w/header.list") ${api} functions"
		else
			tap_not_ok "$libname: its headers declare ${api} functions" "none found in $*"
		fi
	done

	sym_nodes "$symfile" >"$w/sym.nodes"
	cut -d' ' -f2 "$w/sym.nodes" | sort >"$w/sym.list"
	cut -d' ' -f1 "$w/sym.nodes" | sort -u >"$w/nodes"
	awk -v p="$private" '$1 != p { print $2 }' "$w/sym.nodes" | sort -u >"$w/public.list"
	awk -v p="$private" '$1 == p { print $2 }' "$w/sym.nodes" | sort -u >"$w/private.list"

	local dups
	dups=$(uniq -d "$w/sym.list")
	if [ -s "$w/sym.list" ] && [ -z "$dups" ]; then
		tap_ok "$symbase lists $(wc -l <"$w/sym.list") symbols in $(wc -l <"$w/nodes") version node(s), each once"
	else
		tap_not_ok "$symbase lists symbols, each once" \
			"$( [ -n "$dups" ] && echo "listed twice: $(joined "$dups")" || echo "no symbol found in $symfile")"
	fi
	sort -u -o "$w/sym.list" "$w/sym.list"

	compare_sets "$libname: the headers declare exactly the public functions $symbase lists" \
		headers "$w/header.list" "$symbase" "$w/public.list"
	if [ -n "$private" ]; then
		# each private symbol is declared in a private header of lib/
		local undeclared="" f
		for f in $(cat "$w/private.list"); do
			grep -qE "\b$f\(" "$src_dir"/lib/*/*.h || undeclared+=" $f"
		done
		if [ -s "$w/private.list" ] && [ -z "$undeclared" ]; then
			tap_ok "$libname: the $(wc -l <"$w/private.list") symbols of $private are declared in lib/'s private headers"
		else
			tap_not_ok "$libname: the symbols of $private are declared in lib/'s private headers" \
				"not declared:${undeclared:- (no symbol in the node)}"
		fi
	fi

	# Defined dynamic symbols, versions taken off (nm shows NAME@@VERSION),
	# the version nodes' own symbols left out.
	nm -D --defined-only "$lib" >"$w/nm" 2>"$w/err" ||
		tap_diag "nm failed: $(cat "$w/err")"
	awk '{ name = $NF; sub(/@.*/, "", name); print $2, name }' "$w/nm" |
		grep -vxF -f <(sed 's/^/A /' "$w/nodes") >"$w/nm.typed"
	cut -d' ' -f2 "$w/nm.typed" | sort -u >"$w/lib.list"
	compare_sets "$libname exports exactly the functions $symbase lists" \
		"$libname" "$w/lib.list" "$symbase" "$w/sym.list"

	local not_functions
	not_functions=$(awk '$1 != "T" { print $2 " (" $1 ")" }' "$w/nm.typed")
	if [ -z "$not_functions" ]; then
		tap_ok "$libname: every exported symbol is a function in .text"
	else
		tap_not_ok "$libname: every exported symbol is a function in .text" "$not_functions"
	fi

	local soname
	soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
	if [ "$soname" = "$libname" ]; then
		tap_ok "the soname is $libname"
	else
		tap_not_ok "the soname is $libname" "soname: '$soname'"
	fi

	# objdump -T: "ADDR FLAGS SECTION<tab>SIZE VERSION NAME" for defined
	# ones; a non-default version shows as "(VERSION)" and is wrong here too.
	objdump -T "$lib" | awk '/^[0-9a-f]+ / && !/\*UND\*/ { print $(NF - 1), $NF }' |
		awk '$1 != $2' | sort -k2 >"$w/all-versions"
	# The older versions a symbol keeps for programs linked before its
	# default moved to a newer node (CFS_SYMVER_COMPAT) are listed in the
	# script's comments as "compat: NAME@NODE".
	sed -n 's/^[ \t*]*compat: *\([A-Za-z_][A-Za-z0-9_]*\)@\([A-Za-z0-9_.]*\).*/\2 \1/p' \
		"$symfile" | sort >"$w/compat.listed"
	awk '$1 ~ /^\(/ { gsub(/[()]/, "", $1); print }' "$w/all-versions" |
		sort >"$w/compat.found"
	grep -v '^(' "$w/all-versions" >"$w/versions"
	local compat_wrong
	compat_wrong=$(
		comm -13 "$w/compat.listed" "$w/compat.found" | sed 's/^\(.*\) \(.*\)/not listed: \2@\1/'
		comm -23 "$w/compat.listed" "$w/compat.found" | sed 's/^\(.*\) \(.*\)/not exported: \2@\1/'
		while read -r node name; do
			grep -qxF "$node" "$w/nodes" || echo "$name@$node: no such node"
			grep -q " $name\$" "$w/sym.nodes" ||
				echo "$name@$node: no default version listed"
			grep -qxF "$node $name" "$w/sym.nodes" &&
				echo "$name@$node: also listed in that node"
		done <"$w/compat.listed")
	if [ -z "$compat_wrong" ]; then
		tap_ok "$libname: its older symbol versions are the $(wc -l <"$w/compat.listed") \"compat:\" ones $symbase lists, each of a symbol with a newer default"
	else
		tap_not_ok "$libname: its older symbol versions are the \"compat:\" ones $symbase lists" "$compat_wrong"
	fi
	local wrong
	wrong=$(join -1 2 -2 2 -a 1 -o 1.2,1.1,2.1 "$w/versions" \
		<(sort -k2 "$w/sym.nodes") | awk '$2 != $3 {
			print $1 ": " $2 ", listed in " ($3 == "" ? "no node" : $3) }')
	if [ -s "$w/versions" ] && [ -z "$wrong" ]; then
		tap_ok "$libname: every exported symbol has the version of its node in $symbase ($(cut -d' ' -f1 "$w/versions" | sort -u | tr '\n' ' ' | sed 's/ $//'))"
	else
		tap_not_ok "$libname: every exported symbol has the version of its node in $symbase" \
			"${wrong:-objdump -T shows no versioned symbol}"
	fi
}

check_library libcomposefs.so.1 "$src_dir/lib/libcomposefs.sym" \
	COMPOSEFS_C_PRIVATE "$src_dir"/include/composefs-c/composefs.h \
	"$src_dir"/include/libcomposefs/*.h
check_library libcomposefs-repo.so.0 "$src_dir/lib/libcomposefs-repo.sym" "" \
	"$src_dir"/include/composefs-c/repo.h

# Every public header belongs to one of the two.
others=$(ls "$src_dir"/include/*/*.h | grep -v -e '/composefs-c/composefs\.h$' \
	-e '/composefs-c/repo\.h$' -e '/libcomposefs/lcfs-[a-z]*\.h$')
if [ -z "$others" ]; then
	tap_ok "every public header is one of a library's"
else
	tap_not_ok "every public header is one of a library's" "others: $(joined "$others")"
fi

# ------------------------------------------------------------------
# What each library needs

needed_of() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort; }
# (a sanitizer build adds its runtimes, libasan and libubsan)
core_needed=$(needed_of "$CFS_BUILDDIR/lib/libcomposefs.so.1")
if [ "$(printf '%s\n' "$core_needed" | grep -v -e '^libcrypto\.so\.' -e '^libc\.so\.' \
	-e '^libasan\.so\.' -e '^libubsan\.so\.')" = "" ] &&
	printf '%s\n' "$core_needed" | grep -q '^libcrypto\.so\.'; then
	tap_ok "libcomposefs.so.1 needs only libcrypto and libc ($(joined "$core_needed"))"
else
	tap_not_ok "libcomposefs.so.1 needs only libcrypto and libc" "NEEDED: $(joined "$core_needed")"
fi
repo_needed=$(needed_of "$CFS_BUILDDIR/lib/libcomposefs-repo.so.0")
if printf '%s\n' "$repo_needed" | grep -qxF libcomposefs.so.1; then
	tap_ok "libcomposefs-repo.so.0 links libcomposefs.so.1 ($(joined "$repo_needed"))"
else
	tap_not_ok "libcomposefs-repo.so.0 links libcomposefs.so.1" "NEEDED: $(joined "$repo_needed")"
fi
# No function of the core is compiled into the repository library as well.
core_funcs=$(cat "$work/libcomposefs.so.1/sym.list")
carried=$(nm --defined-only "$CFS_BUILDDIR/lib/libcomposefs-repo.so.0" | awk '$2 ~ /[Tt]/ { print $3 }' |
	sort -u | comm -12 - <(printf '%s\n' "$core_funcs"))
if [ -z "$carried" ]; then
	tap_ok "libcomposefs-repo.so.0 carries no copy of a function of libcomposefs.so.1"
else
	tap_not_ok "libcomposefs-repo.so.0 carries no copy of a function of libcomposefs.so.1" "$(joined "$carried")"
fi

# The private node is exactly what the repository library calls of it.
nm -D --undefined-only "$CFS_BUILDDIR/lib/libcomposefs-repo.so.0" |
	awk '$NF ~ /@COMPOSEFS_C_PRIVATE$/ { sub(/@.*/, "", $NF); print $NF }' |
	sort -u >"$work/private.used"
compare_sets "COMPOSEFS_C_PRIVATE lists exactly what libcomposefs-repo.so.0 calls of it" \
	libcomposefs.sym "$work/libcomposefs.so.1/private.list" \
	libcomposefs-repo.so.0 "$work/private.used"

# ------------------------------------------------------------------
# The tools link them

cat "$work/libcomposefs.so.1/sym.list" "$work/libcomposefs-repo.so.0/sym.list" |
	sort -u >"$work/all.list"
tools=(mkcomposefs composefs-info composefs-dump composefs mount.composefs)
[ -e "$CFS_BUILDDIR/tools/composefs-fuse" ] && tools+=(composefs-fuse)
for t in "${tools[@]}"; do
	path=$CFS_BUILDDIR/tools/$t
	if [ ! -x "$path" ]; then
		tap_not_ok "$t is built" "no $path"
		continue
	fi
	needed=$(readelf -d "$path" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	# Its own definitions of library functions: a copy of the library
	carried=$(nm --defined-only "$path" 2>/dev/null | awk '{ print $NF }' |
		sort -u | comm -12 - "$work/all.list")
	# The core's private symbols are the repository library's alone
	private=$(nm -D --undefined-only "$path" | awk '{ print $NF }' |
		grep '@COMPOSEFS_C_PRIVATE' || true)
	if ! printf '%s\n' "$needed" | grep -qxF libcomposefs.so.1; then
		tap_not_ok "$t links libcomposefs.so.1" "NEEDED: $(joined "$needed")"
	elif [ -n "$carried" ]; then
		tap_not_ok "$t links libcomposefs.so.1" \
			"but defines library functions itself: $(joined "$carried")"
	elif [ -n "$private" ]; then
		tap_not_ok "$t links libcomposefs.so.1" \
			"but calls its private symbols: $(joined "$private")"
	else
		tap_ok "$t links libcomposefs.so.1, calls none of its private symbols and defines none of the libraries' functions"
	fi
done

tap_done
