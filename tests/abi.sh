#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# The ABI of libcomposefs.so.1: the functions the public headers declare,
# the version script lists and the built library exports are one and the
# same set; the soname; every symbol in its version node; and every tool
# links the shared library instead of carrying a copy of it.
set -u
tests_dir=$(cd "$(dirname "$0")" && pwd)
. "$tests_dir/tap.sh"

src_dir=${CFS_SRCDIR:-$tests_dir/..}
[ -n "${CFS_BUILDDIR:-}" ] || tap_skip_all "CFS_BUILDDIR is not set"
tap_require_commands python3 nm readelf objdump
export LC_ALL=C

lib=$CFS_BUILDDIR/lib/libcomposefs.so.1
symfile=$src_dir/lib/libcomposefs.sym
if [ ! -f "$lib" ]; then
	echo "Bail out! no $lib"
	exit 1
fi

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

headers=("$src_dir"/include/composefs-c/*.h "$src_dir"/include/libcomposefs/*.h)
if ! python3 "$work/decls.py" "${headers[@]}" >"$work/decls" 2>"$work/err"; then
	echo "Bail out! cannot read the headers: $(cat "$work/err")"
	exit 1
fi
cut -d' ' -f2 "$work/decls" | sort -u >"$work/header.list"

# Each header declares functions of its API's prefix only.
bad=$(awk '{
	n = split($1, p, "/"); dir = p[n - 1]
	want = dir == "composefs-c" ? "^cfs_" : "^lcfs_"
	if ($2 !~ want)
		print p[n - 1] "/" p[n] ": " substr($0, length($1) + 2)
}' "$work/decls")
if [ -z "$bad" ]; then
	tap_ok "the headers declare cfs_ functions in composefs-c/, lcfs_ ones in libcomposefs/"
else
	tap_not_ok "the headers declare cfs_ functions in composefs-c/, lcfs_ ones in libcomposefs/" "$bad"
fi
for api in cfs_ lcfs_; do
	if grep -q "^$api" "$work/header.list"; then
		tap_ok "the headers declare $(grep -c "^$api" "$work/header.list") ${api} functions"
	else
		tap_not_ok "the headers declare ${api} functions" "none found in ${headers[*]}"
	fi
done

# ------------------------------------------------------------------
# The version script: "NODE NAME" for each symbol listed under global:

sed -e 's|/\*.*\*/||g' -e '/\/\*/,/\*\//d' "$symfile" | awk '
	/^[ \t]*[A-Za-z_][A-Za-z0-9_.]*[ \t]*\{/ { node = $1; sub(/\{.*/, "", node); scope = ""; next }
	/^[ \t]*\}/ { node = ""; next }
	/^[ \t]*global:/ { scope = "global"; next }
	/^[ \t]*local:/ { scope = "local"; next }
	node != "" && scope == "global" && /;/ {
		s = $0; gsub(/[ \t;]/, "", s); if (s != "") print node, s
	}' >"$work/sym.nodes"
cut -d' ' -f2 "$work/sym.nodes" | sort >"$work/sym.list"
cut -d' ' -f1 "$work/sym.nodes" | sort -u >"$work/nodes"

dups=$(uniq -d "$work/sym.list")
if [ -s "$work/sym.list" ] && [ -z "$dups" ]; then
	tap_ok "libcomposefs.sym lists $(wc -l <"$work/sym.list") symbols in $(wc -l <"$work/nodes") version node(s), each once"
else
	tap_not_ok "libcomposefs.sym lists symbols, each once" \
		"$( [ -n "$dups" ] && echo "listed twice: $(joined "$dups")" || echo "no symbol found in $symfile")"
fi
sort -u -o "$work/sym.list" "$work/sym.list"

compare_sets "the headers declare exactly the functions libcomposefs.sym lists" \
	headers "$work/header.list" libcomposefs.sym "$work/sym.list"

# ------------------------------------------------------------------
# The built library

# Defined dynamic symbols, versions taken off (nm shows NAME@@VERSION),
# the version nodes' own symbols left out.
nm -D --defined-only "$lib" >"$work/nm" 2>"$work/err" ||
	tap_diag "nm failed: $(cat "$work/err")"
awk '{ name = $NF; sub(/@.*/, "", name); print $2, name }' "$work/nm" |
	grep -vxF -f <(sed 's/^/A /' "$work/nodes") >"$work/nm.typed"
cut -d' ' -f2 "$work/nm.typed" | sort -u >"$work/lib.list"
compare_sets "libcomposefs.so.1 exports exactly the functions libcomposefs.sym lists" \
	libcomposefs.so.1 "$work/lib.list" libcomposefs.sym "$work/sym.list"

not_functions=$(awk '$1 != "T" { print $2 " (" $1 ")" }' "$work/nm.typed")
if [ -z "$not_functions" ]; then
	tap_ok "every exported symbol is a function in .text"
else
	tap_not_ok "every exported symbol is a function in .text" "$not_functions"
fi

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = libcomposefs.so.1 ]; then
	tap_ok "the soname is libcomposefs.so.1"
else
	tap_not_ok "the soname is libcomposefs.so.1" "soname: '$soname'"
fi

# objdump -T: "ADDR FLAGS SECTION<tab>SIZE VERSION NAME" for defined ones;
# a non-default version shows as "(VERSION)" and is wrong here too.
objdump -T "$lib" | awk '/^[0-9a-f]+ / && !/\*UND\*/ { print $(NF - 1), $NF }' |
	awk '$1 != $2' | sort -k2 >"$work/versions"
wrong=$(join -1 2 -2 2 -a 1 -o 1.2,1.1,2.1 "$work/versions" \
	<(sort -k2 "$work/sym.nodes") | awk '$2 != $3 {
		print $1 ": " $2 ", listed in " ($3 == "" ? "no node" : $3) }')
if [ -s "$work/versions" ] && [ -z "$wrong" ]; then
	tap_ok "every exported symbol has the version of its node in libcomposefs.sym ($(cut -d' ' -f1 "$work/versions" | sort -u | tr '\n' ' ' | sed 's/ $//'))"
else
	tap_not_ok "every exported symbol has the version of its node in libcomposefs.sym" \
		"${wrong:-objdump -T shows no versioned symbol}"
fi

# ------------------------------------------------------------------
# The tools link it

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
		sort -u | comm -12 - "$work/sym.list")
	if ! printf '%s\n' "$needed" | grep -qxF libcomposefs.so.1; then
		tap_not_ok "$t links libcomposefs.so.1" "NEEDED: $(joined "$needed")"
	elif [ -n "$carried" ]; then
		tap_not_ok "$t links libcomposefs.so.1" \
			"but defines library functions itself: $(joined "$carried")"
	else
		tap_ok "$t links libcomposefs.so.1 and defines none of its functions"
	fi
done

tap_done
