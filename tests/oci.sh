#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# OCI images into a repository: composefs import-tar, oci import and oci
# pull. Each image imported has the digest that mkcomposefs --hardlinks
# gives umoci's unpack of the same image (whiteouts, opaque directories,
# names that come back, hard links, devices, FIFOs, xattrs, owners,
# nanosecond mtimes; gzip, zstd, plain and Docker layers); a blob or a
# diff_id that does not match is refused and names nothing; layers already
# in the repository are reused, neither read nor downloaded again; gc keeps
# what named images need; mounts of the images show umoci's tree; and an
# unprivileged user imports and mounts too.
#
# umoci's reference trees need umoci and root (owners, devices, trusted.*
# xattrs): without them the comparisons with them are skipped, and without
# root the kernel mounts and the unprivileged user's part. The registry
# part needs skopeo and docker-registry, the FUSE mounts /dev/fuse,
# fusermount3 and composefs-fuse.
set -u

tests_dir=$(cd "$(dirname "$0")" && pwd)
. "$tests_dir/tap.sh"

cfs_require_tool COMPOSEFS composefs
cfs_require_tool MKCOMPOSEFS mkcomposefs
tap_require_commands python3 zstd gzip
INFO=$(cfs_tool composefs-info) || exit 1
FUSE=$(cfs_tool composefs-fuse) || exit 1
ocitool=(python3 "$tests_dir/oci/ocitool.py")
umask 022

is_root=false
[ "$(id -u)" -eq 0 ] && is_root=true
have_umoci=false
command -v umoci >/dev/null && have_umoci=true
have_fuse=false
[ -x "$FUSE" ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null &&
	have_fuse=true
have_kernel=false
if $is_root; then
	modprobe erofs >/dev/null 2>&1
	modprobe overlay >/dev/null 2>&1
	grep -qw erofs /proc/filesystems && grep -qw overlay /proc/filesystems &&
		have_kernel=true
fi
# composefs mount runs this composefs-fuse
export COMPOSEFS_FUSE="$FUSE"
unset COMPOSEFS_REPO

work=$(mktemp -d "${TMPDIR:-/tmp}/cfs-oci.XXXXXX")
chmod 755 "$work"
registry_pid=
fuse_mode=

mounts_under_work()
{
	awk -v prefix="$work/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | tac
}

cleanup()
{
	local dir
	for dir in $(mounts_under_work); do
		fusermount3 -u "$dir" 2>/dev/null || umount "$dir" 2>/dev/null ||
			umount -l "$dir" 2>/dev/null
	done
	if [ -n "$registry_pid" ]; then
		kill "$registry_pid" 2>/dev/null
		wait "$registry_pid" 2>/dev/null
	fi
	[ -n "$fuse_mode" ] && chmod "$fuse_mode" /dev/fuse
	[ -n "$(mounts_under_work)" ] || rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
cd "$work" || exit 1

# cfs REPO ARGS...: the composefs command on the repository $work/REPO
cfs()
{
	local repo="$1"
	shift
	"$COMPOSEFS" --repo "$work/$repo" "$@"
}

# capture CMD...: runs CMD; its status in $rc, stdout in $out, stderr in $err
capture()
{
	"$@" >"$work/run.out" 2>"$work/run.err"
	rc=$?
	out=$(cat "$work/run.out")
	err=$(cat "$work/run.err")
}

# run STATUS DESCRIPTION CMD...: ok when CMD exits with STATUS (captured)
run()
{
	local want="$1" description="$2"
	shift 2
	capture "$@"
	if [ "$rc" -eq "$want" ]; then
		tap_ok "$description"
	else
		tap_not_ok "$description" "status $rc, expected $want: $*
$out
$err"
	fi
}

# imports DESCRIPTION CMD...: ok when CMD exits 0 and prints a digest
imports()
{
	local description="$1"
	shift
	capture "$@"
	if [ "$rc" -ne 0 ]; then
		tap_not_ok "$description" "status $rc: $*
$out
$err"
	elif ! [[ "$out" =~ ^[0-9a-f]{64}$ ]]; then
		tap_not_ok "$description" "printed no digest but: $out"
	else
		tap_ok "$description"
	fi
}

# same DESCRIPTION GOT WANT: two digests, equal
same()
{
	if [ -n "$2" ] && [ "$2" = "$3" ]; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "'$2', expected '$3'"
	fi
}

# expect_err DESCRIPTION TEXT: the last run's stderr holds TEXT
expect_err()
{
	if grep -qF -e "$2" <<<"$err"; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "no '$2' in: $err"
	fi
}

# expect_layer N/M DIFF_ID WORD: the last run's -v lines say so of a layer
expect_layer()
{
	local line="layer $1 $2: $3"
	if sed 's/\x1b\[[0-9;]*[A-Za-z]//g; s/\r//g' <<<"$err" | grep -qxF -e "$line"; then
		tap_ok "... $line"
	else
		tap_not_ok "... $line" "-v said: $err"
	fi
}

# no_escapes DESCRIPTION: the last run wrote no terminal control
# sequences (its stderr is a file, no terminal)
no_escapes()
{
	if grep -q $'[\x1b\r]' <<<"$err"; then
		tap_not_ok "$1" "$(printf '%s' "$err" | od -c | head -5)"
	else
		tap_ok "$1"
	fi
}

# no_name REPO NAME: NAME is neither listed nor in names/
no_name()
{
	! cfs "$1" images 2>/dev/null | awk '{ print $1 }' | grep -qxF -e "$2" && [ ! -e "$work/$1/names/$2" ]
}

# reference TAG [LAYOUT [FIXUP]]: umoci unpacks LAYOUT:TAG into unpack/TAG,
# FIXUP (a function) is run on its rootfs; prints the digest of mkcomposefs
# --hardlinks of the rootfs (nothing without umoci, or without root: umoci
# could not make its owners and devices)
reference()
{
	local tag="$1" layout="${2:-$L}"
	if ! $is_root || ! $have_umoci; then
		return 0
	fi
	rm -rf "unpack/$tag"
	mkdir -p unpack
	if ! umoci unpack --image "$layout:$tag" "unpack/$tag" >"unpack/$tag.log" 2>&1; then
		tap_diag "umoci unpack $layout:$tag failed: $(cat "unpack/$tag.log")"
		return 0
	fi
	[ -n "${3:-}" ] && "$3" "unpack/$tag/rootfs"
	"$MKCOMPOSEFS" --hardlinks --print-digest-only "unpack/$tag/rootfs"
}
fix_usrmerge()
{
	touch -d @1600000000 "$1/usr" "$1/usr/lib"
	touch -d @0 "$1/usr/lib/deeper" "$1/usr/none"
}

# same_image DESCRIPTION DIGEST TAG REPO NAME: DIGEST (NAME's in REPO) is
# the reference of TAG; on a difference the two images' dumps are compared
same_image()
{
	local description="$1" got="$2" tag="$3" repo="$4" name="$5"
	local want="${ref[$tag]:-}"
	if [ -z "$want" ]; then
		tap_skip "$description" "no umoci reference (needs umoci and root)"
	elif [ "$got" = "$want" ]; then
		tap_ok "$description"
	else
		"$MKCOMPOSEFS" --hardlinks "unpack/$tag/rootfs" want.cfs >/dev/null 2>&1
		cfs "$repo" export "$name" got.cfs >/dev/null 2>&1
		tap_not_ok "$description" "$got, umoci+mkcomposefs $want:
$(diff -u <("$INFO" dump want.cfs 2>&1) <("$INFO" dump got.cfs 2>&1) | head -40)"
	fi
}

# same_tree DESCRIPTION DIR TAG [--user-xattrs]: the tree at DIR (a mount)
# lists as umoci's unpack of TAG does; "${reader[@]}", when set, is the
# user and python3 that list DIR
reader=()
same_tree()
{
	local description="$1" dir="$2" tag="$3" n
	local opt=("${@:4}")
	if [ ! -d "unpack/$tag/rootfs" ]; then
		tap_skip "$description" "no umoci reference (needs umoci and root)"
		return
	fi
	if [ "${#reader[@]}" -gt 0 ]; then
		"${reader[@]}" "$tests_dir/oci/ocitool.py" listing "$dir" "${opt[@]}" >got.list 2>&1
	else
		"${ocitool[@]}" listing "$dir" "${opt[@]}" >got.list 2>&1
	fi
	"${ocitool[@]}" listing "unpack/$tag/rootfs" "${opt[@]}" >want.list 2>&1
	n=$(wc -l <got.list)
	if [ "$n" -le 1 ] || ! grep -q '^data ' got.list; then
		tap_not_ok "$description" "the mount shows nothing: $(head -5 got.list)"
	elif diff -u want.list got.list >tree.diff; then
		tap_ok "$description ($n entries)"
	else
		tap_not_ok "$description" "$(head -40 tree.diff)"
	fi
}

# unmount DIR
unmount()
{
	fusermount3 -u "$1" 2>/dev/null || umount "$1" 2>/dev/null
}

# ------------------------------------------------------------------
# The layouts: one set of layer tars in several images

"${ocitool[@]}" layers tars || exit 1
L=$work/layout
# mounts_as DESC WHAT REPO NAME TAG: NAME of REPO mounted by the kernel and
# by composefs-fuse (each where it can be) lists as umoci's unpack of TAG
mounts_as()
{
	local desc="$1" what="$2" repo="$3" name="$4" tag="$5"
	if $have_kernel; then
		if out=$(cfs "$repo" mount "$name" mnt 2>&1); then
			same_tree "$desc (kernel): $what" mnt "$tag"
			unmount mnt
		else
			tap_not_ok "$desc (kernel)" "$out"
		fi
	else
		tap_skip "$desc (kernel)" "needs root, EROFS and overlayfs"
	fi
	if $have_fuse && $is_root; then
		if out=$(cfs "$repo" mount --fuse "$name" mnt 2>&1); then
			same_tree "$desc (FUSE): $what" mnt "$tag"
			unmount mnt
		else
			tap_not_ok "$desc (FUSE)" "$out"
		fi
	else
		tap_skip "$desc (FUSE)" "needs root, /dev/fuse and composefs-fuse"
	fi
}

build() { "${ocitool[@]}" build "$L" "$@" || exit 1; }
build main tars/base.tar tars/upper1.tar:zstd tars/upper2.tar:none
build main-gzip tars/base.tar tars/upper1.tar tars/upper2.tar
build A tars/base.tar tars/upper1.tar
build B tars/base.tar tars/alt.tar
build base tars/base.tar
build A-docker --docker tars/base.tar:gzip tars/upper1.tar:none
build B-arm64 --arch arm64/v8 tars/base.tar tars/alt.tar
build symlinks tars/symlink-modes.tar
build usrmerge tars/usrmerge.tar tars/through-symlinks.tar
"${ocitool[@]}" multi "$L" multi A B-arm64 || exit 1
diff_base=$("${ocitool[@]}" diff-id "$L" A 0)
diff_upper1=$("${ocitool[@]}" diff-id "$L" A 1)
diff_upper2=$("${ocitool[@]}" diff-id "$L" main 2)
diff_alt=$("${ocitool[@]}" diff-id "$L" B 1)
read -r _ blob_base < <("${ocitool[@]}" layer-blob "$L" A 0)
read -r _ blob_upper1 < <("${ocitool[@]}" layer-blob "$L" A 1)
read -r _ blob_upper2 < <("${ocitool[@]}" layer-blob "$L" main 2)
read -r _ blob_alt < <("${ocitool[@]}" layer-blob "$L" B 1)

# umoci 0.4.7 unpacks neither zstd nor Docker layers: the references of
# main and A-docker are the images of the same layers in gzip
declare -A ref
for tag in main-gzip A B base symlinks; do
	ref[$tag]=$(reference "$tag")
done
# usrmerge: umoci gives the directories it makes or adds to on the way
# through a symlink its clock's time; ours keep theirs (made ones: 0)
ref[usrmerge]=$(reference usrmerge "$L" fix_usrmerge)
ref[main]=${ref[main-gzip]}
ref[A-docker]=${ref[A]}
rm -rf unpack/main unpack/A-docker
[ -n "${ref[main]}" ] && ln -s main-gzip unpack/main && ln -s A unpack/A-docker
if ! $is_root || ! $have_umoci; then
	tap_diag "no umoci reference trees: they need umoci and root"
fi

# ------------------------------------------------------------------
# oci import: the same images as umoci and mkcomposefs make

run 0 "init" cfs r init
imports "oci import of layers in gzip, zstd and plain tar" cfs r oci import --as-unpacked "oci:$L:main" main
same_image "... gives umoci+mkcomposefs's image (whiteouts, opaque directories, names back, links, devices, xattrs, owners, mtimes)" "$out" main r main
d_main=$out
no_escapes "... writing no terminal control sequences to a file"
imports "oci import of the same layers all in gzip" cfs r oci import --as-unpacked "oci:$L:main-gzip" main-gzip
same "... gives the same image" "$out" "$d_main"
imports "oci import of a tag (A) of a layout of several" cfs r oci import --as-unpacked "oci:$L:A" A
same_image "... gives umoci+mkcomposefs's image of that tag" "$out" A r A
d_A=$out
imports "oci import of another tag (B) of the layout" cfs r oci import --as-unpacked "oci:$L:B" B
same_image "... gives umoci+mkcomposefs's image of that tag" "$out" B r B
d_B=$out
tap_check "... which is not A's" test "$d_A" != "$d_B"
imports "oci import of Docker media types" cfs r oci import --as-unpacked "oci:$L:A-docker" A-docker
same_image "... gives the image of the same layers in OCI media types" "$out" A-docker r A-docker
imports "oci import of a one-layer image" cfs r oci import --as-unpacked "oci:$L:base" base
same_image "... gives umoci+mkcomposefs's image" "$out" base r base
d_base=$out
imports "oci import of symlinks whose tar headers give them modes other than 0777" \
	cfs r oci import --as-unpacked "oci:$L:symlinks" symlinks
same_image "... gives umoci+mkcomposefs's image (a symlink's mode is 0777)" "$out" symlinks r symlinks
imports "oci import of entries below symlinks of a lower layer (a merged /usr)" \
	cfs r oci import --as-unpacked "oci:$L:usrmerge" usrmerge
same_image "... gives umoci+mkcomposefs's image (the entries are where the symlinks lead)" "$out" usrmerge r usrmerge

# mkcomposefs --from-oci: the same import, nothing kept but the image
out=$("$MKCOMPOSEFS" --from-oci --as-unpacked --print-digest-only "oci:$L:main" 2>&1)
same "mkcomposefs --from-oci --as-unpacked gives the image oci import --as-unpacked gives" "$out" "$d_main"
rm -rf mk-store
out=$("$MKCOMPOSEFS" --from-oci --as-unpacked --digest-store=mk-store --print-digest "oci:$L:A" mk-A.cfs 2>&1)
same "mkcomposefs --from-oci --as-unpacked --digest-store of tag A" "$out" "$d_A"
if [ "$(find mk-store -type f | wc -l)" -gt 0 ]; then
	tap_ok "... fills the store"
else
	tap_not_ok "... fills the store" "$(ls -R mk-store 2>&1 | head)"
fi

# an image that umoci repack made: its layer has an entry for the root
# and umoci's own whiteouts
cp -a "$L" repacked
if $is_root && $have_umoci && umoci unpack --image repacked:base bundle >/dev/null 2>&1; then
	rm -rf bundle/rootfs/gone bundle/rootfs/remove-me bundle/rootfs/data/big-link
	echo "added by repack" >bundle/rootfs/etc/added
	chmod 700 bundle/rootfs/home
	mkdir bundle/rootfs/newdir && ln -s ../etc/added bundle/rootfs/newdir/link
	touch -d @1600000000.5 bundle/rootfs/etc/added
	if umoci repack --image repacked:rp bundle >/dev/null 2>&1; then
		ref[rp]=$(reference rp "$work/repacked")
		imports "oci import of an image umoci repack made" cfs r oci import --as-unpacked "oci:$work/repacked:rp" rp
		same_image "... gives umoci+mkcomposefs's image" "$out" rp r rp
	else
		tap_not_ok "umoci repack of a changed tree" ""
	fi
else
	tap_skip "oci import of an image umoci repack made" "needs umoci and root"
fi

# an image umoci repack made where a directory became a symlink: umoci
# writes the symlink, then whiteouts below it in the same layer (as
# etc/skel -> a symlink, then etc/skel/.wh..bash_logout); an unpacker
# resolves them through the symlink inside the root. Once with a relative
# symlink to an empty directory (the whiteouts are no-ops there), once
# with an absolute one to a directory holding a file of the same name.
if $is_root && $have_umoci; then
	sym_repack()
	{
		local tag="$1" dir="$2" target="$3"
		rm -rf sbundle
		umoci unpack --image "$work/symrepack:$tag" sbundle >/dev/null 2>&1 &&
			rm -r "sbundle/rootfs/$dir" && ln -s "$target" "sbundle/rootfs/$dir" &&
			umoci repack --image "$work/symrepack:$tag" sbundle >/dev/null 2>&1
	}
	if umoci init --layout "$work/symrepack" >/dev/null 2>&1 &&
		umoci new --image "$work/symrepack:sr" >/dev/null 2>&1 &&
		umoci unpack --image "$work/symrepack:sr" sbundle >/dev/null 2>&1 &&
		mkdir -p sbundle/rootfs/d sbundle/rootfs/t sbundle/rootfs/etc/skel sbundle/rootfs/u &&
		echo x >sbundle/rootfs/d/f && echo y >sbundle/rootfs/etc/skel/.bash_logout &&
		echo z >sbundle/rootfs/u/.bash_logout && echo w >sbundle/rootfs/u/kept &&
		umoci repack --image "$work/symrepack:sr" sbundle >/dev/null 2>&1 &&
		sym_repack sr d t && sym_repack sr etc/skel /u; then
		ref[sr]=$(reference sr "$work/symrepack")
		imports "oci import of an image umoci repack made with whiteouts below a symlink of the same layer" \
			cfs r oci import --as-unpacked "oci:$work/symrepack:sr" symrepack
		same_image "... gives umoci+mkcomposefs's image (the whiteouts resolved through the symlinks)" "$out" sr r symrepack
		out=$("$MKCOMPOSEFS" --from-oci --as-unpacked --print-digest-only "oci:$work/symrepack:sr" 2>&1)
		same "... and mkcomposefs --from-oci gives it" "$out" "${ref[sr]:-}"
	else
		tap_not_ok "umoci repack of a directory made a symlink" ""
	fi
else
	tap_skip "oci import of an image umoci repack made with whiteouts below a symlink" "needs umoci and root"
fi

# import-tar: a tar is a one-layer image
imports "import-tar of a tar file" cfs r import-tar tars/base.tar base-tar
same "... gives the one-layer image's digest" "$out" "$d_base"
# shellcheck disable=SC2016 # (expanded by the inner shell)
imports "import-tar - reads stdin" sh -c '"$0" --repo "$1" import-tar - base-stdin <"$2"' \
	"$COMPOSEFS" "$work/r" tars/base.tar
same "... the same image" "$out" "$d_base"
gzip -n -c tars/base.tar >base.tar.gz
zstd -q -c tars/base.tar >base.tar.zst
imports "import-tar of a tar.gz" cfs r import-tar base.tar.gz base-gz
same "... the same image" "$out" "$d_base"
imports "import-tar of a tar.zst" cfs r import-tar base.tar.zst base-zst
same "... the same image" "$out" "$d_base"

# an index of two platforms
imports "oci import --platform linux/arm64/v8 of an index of two platforms" \
	cfs r oci import --as-unpacked --platform linux/arm64/v8 "oci:$L:multi" multi-arm64
same "... takes the arm64 image" "$out" "$d_B"
imports "oci import --platform linux/amd64" cfs r oci import --as-unpacked --platform linux/amd64 "oci:$L:multi" multi-amd64
same "... takes the amd64 image" "$out" "$d_A"
case "$(uname -m)" in
x86_64) host_image=$d_A ;;
aarch64) host_image=$d_B ;;
*) host_image= ;;
esac
if [ -n "$host_image" ]; then
	imports "oci import without --platform" cfs r oci import --as-unpacked "oci:$L:multi" multi-host
	same "... takes the host's platform" "$out" "$host_image"
else
	tap_skip "oci import without --platform takes the host's" "neither x86_64 nor aarch64"
fi
run 1 "a platform the index does not have is refused" cfs r oci import --as-unpacked --platform linux/s390x "oci:$L:multi" multi-s390x
tap_check "... naming nothing" no_name r multi-s390x

# names
imports "the same image under the same name again" cfs r oci import --as-unpacked "oci:$L:A" A
same "... is a no-op with the same digest" "$out" "$d_A"
run 1 "a taken name is not moved to another image" cfs r oci import --as-unpacked "oci:$L:B" A
same "... which still names A" "$(cat r/names/A 2>/dev/null)" "$d_A"
imports "--replace moves it" cfs r oci import --as-unpacked --replace "oci:$L:B" A
same "... to B" "$(cat r/names/A 2>/dev/null)" "$d_B"
imports "--replace back" cfs r oci import --as-unpacked --replace "oci:$L:A" A
run 1 "a tag the layout does not have is refused" cfs r oci import --as-unpacked "oci:$L:nosuch" nosuch
tap_check "... naming nothing" no_name r nosuch
run 1 "a directory that is no layout is refused" cfs r oci import --as-unpacked "oci:$work/tars:A" nolayout
tap_check "... naming nothing" no_name r nolayout
run 0 "fsck is clean" cfs r fsck

# ------------------------------------------------------------------
# Blobs and diff_ids that do not match are refused

# each in a repository of its own: a failed import may keep the layers it
# finished, and a layer kept is not read again
cp -a "$L" L-bad1
"${ocitool[@]}" corrupt "L-bad1/blobs/sha256/${blob_upper2#sha256:}"
cfs bad1 init >/dev/null
run 1 "a plain tar layer with a flipped byte in a file (still a valid tar) is refused" \
	cfs bad1 oci import --as-unpacked "oci:$work/L-bad1:main" main
expect_err "... naming the blob" "${blob_upper2#sha256:}"
tap_check "... naming nothing" no_name bad1 main
run 0 "... fsck is clean" cfs bad1 fsck
imports "... the image itself then imports" cfs bad1 oci import --as-unpacked -v "oci:$L:main" main
same "... as it should" "$out" "$d_main"
expect_layer 3/3 "$diff_upper2" imported

cp -a "$L" L-bad2
"${ocitool[@]}" corrupt "L-bad2/blobs/sha256/${blob_upper1#sha256:}"
cfs bad2 init >/dev/null
run 1 "a gzip layer with a flipped byte is refused" cfs bad2 oci import --as-unpacked "oci:$work/L-bad2:A" A
expect_err "... naming the blob" "${blob_upper1#sha256:}"
tap_check "... naming nothing" no_name bad2 A

cp -a "$L" L-bad3
truncate -s 100 "L-bad3/blobs/sha256/${blob_upper1#sha256:}"
cfs bad3 init >/dev/null
run 1 "a truncated layer is refused" cfs bad3 oci import --as-unpacked "oci:$work/L-bad3:A" A
expect_err "... naming the blob" "${blob_upper1#sha256:}"
tap_check "... naming nothing" no_name bad3 A

# the config says upper1's diff_id is alt's: a layer recorded under the
# wrong diff_id would later stand in for alt
cp -a "$L" L-bad4
"${ocitool[@]}" set-diff-id L-bad4 A 1 "$diff_alt"
cfs bad4 init >/dev/null
run 1 "a layer whose diff_id is not the config's is refused" cfs bad4 oci import --as-unpacked "oci:$work/L-bad4:A" A
expect_err "... naming the blob" "${blob_upper1#sha256:}"
tap_check "... naming nothing" no_name bad4 A
run 0 "... fsck is clean" cfs bad4 fsck
imports "... then B imports" cfs bad4 oci import --as-unpacked -v "oci:$L:B" B
same "... as it should (the refused layer stands in for nothing)" "$out" "$d_B"
expect_layer 2/2 "$diff_alt" imported

# a layer descriptor one byte off: refused whether the blob is read or
# reused, the repository knowing the blob's size from its first import
cp -a "$L" L-size
"${ocitool[@]}" set-layer-size L-size A 1 1
cfs size init >/dev/null
run 1 "a layer descriptor one byte off is refused (fresh repository)" \
	cfs size oci import --as-unpacked "oci:$work/L-size:A" A
expect_err "... naming the blob" "${blob_upper1#sha256:}"
tap_check "... naming nothing" no_name size A
imports "... the right image imports" cfs size oci import --as-unpacked "oci:$L:A" A
run 1 "... then the descriptor one byte off is refused (blob recorded)" \
	cfs size oci import --as-unpacked "oci:$work/L-size:A" A-off
expect_err "... naming the blob" "${blob_upper1#sha256:}"
expect_err "... and the size recorded" "has $(stat -c %s "$L/blobs/sha256/${blob_upper1#sha256:}") bytes (as read into"
: >"L-size/blobs/sha256/${blob_upper1#sha256:}"
run 1 "... also with the blob an empty stand-in (as a pull leaves it)" \
	cfs size oci import --as-unpacked "oci:$work/L-size:A" A-off
expect_err "... naming the blob" "${blob_upper1#sha256:}"
tap_check "... naming nothing" no_name size A-off
# a record of the format before sizes is still read
blobrec="size/layer-blobs/${blob_upper1#sha256:}"
cut -d' ' -f1 "$blobrec" >"$blobrec.old" && mv "$blobrec.old" "$blobrec"
imports "a blob record without its size (older format) is read" cfs size oci import --as-unpacked -v "oci:$L:A" A-again
expect_layer 2/2 "$diff_upper1" reused
run 0 "... gc keeps it" cfs size gc
tap_check "... still there" test -s "$blobrec"

# ------------------------------------------------------------------
# Layers shared between images

run 0 "init a third repository" cfs share init
imports "oci import -v of A" cfs share oci import --as-unpacked -v "oci:$L:A" A
no_escapes "... into a file: no terminal control sequences"
expect_layer 1/2 "$diff_base" imported
expect_layer 2/2 "$diff_upper1" imported
imports "oci import -v of B, with the same base layer" cfs share oci import --as-unpacked -v "oci:$L:B" B
same "... gives B" "$out" "$d_B"
expect_layer 1/2 "$diff_base" reused
expect_layer 2/2 "$diff_alt" imported

# reused layers are not read: their blobs may be anything
cp -a "$L" garbage
for n in 0 1; do
	read -r path _ < <("${ocitool[@]}" layer-blob garbage B "$n")
	size=$(stat -c %s "$path")
	yes garbage | head -c "$size" >"$path"
done
imports "an import of layers all in the repository" cfs share oci import --as-unpacked -v "oci:$work/garbage:B" B-again
same "... reads none of their blobs (garbage there) and gives B" "$out" "$d_B"
expect_layer 1/2 "$diff_base" reused
expect_layer 2/2 "$diff_alt" reused

# ------------------------------------------------------------------
# gc keeps what the named images need

run 0 "rm A" cfs share rm A
run 0 "rm B-again" cfs share rm B-again
out=$(cfs share gc 2>&1)
tap_check "gc" test $? -eq 0
tap_diag "gc: $out"
run 0 "fsck after gc" cfs share fsck
mkdir -p mnt
mounts_as "B mounts" "after gc, umoci's tree" share B B
imports "oci import -v of A again" cfs share oci import --as-unpacked -v "oci:$L:A" A
same "... gives A" "$out" "$d_A"
expect_layer 1/2 "$diff_base" reused
expect_layer 2/2 "$diff_upper1" imported
run 0 "fsck" cfs share fsck

# a layer whose image is gone: fsck says so, repair and gc clear it, and
# the next import reads that layer again
layer_image=$(cat "$work/share/layers/${diff_base#sha256:}")
rm -f "$work/share/images/$layer_image"
run 1 "fsck finds a layer record whose image is missing" cfs share fsck
if grep -q "^dangling-layer: layers/${diff_base#sha256:}" <<<"$out"; then
	tap_ok "... and names it (dangling-layer)"
else
	tap_not_ok "... and names it (dangling-layer)" "$out"
fi
run 1 "fsck --repair (exit 1: there were problems, now repaired)" cfs share fsck --repair
run 0 "... then fsck is clean" cfs share fsck
imports "oci import -v of B after that" cfs share oci import --as-unpacked -v --replace "oci:$L:B" B
expect_layer 1/2 "$diff_base" imported
run 0 "... and fsck is clean" cfs share fsck

# ------------------------------------------------------------------
# oci pull --as-unpacked from local transports skopeo knows

if command -v skopeo >/dev/null; then
	if skopeo copy -q "oci:$L:A" "oci-archive:$work/A.tar:A" 2>"$work/skopeo.log" &&
		skopeo copy -q "oci:$L:A" "dir:$work/A.dir" 2>>"$work/skopeo.log"; then
		run 0 "init a repository for local pulls" cfs local init
		imports "oci pull oci-archive:" cfs local oci pull --as-unpacked "oci-archive:$work/A.tar:A" from-archive
		same "... gives A" "$out" "$d_A"
		imports "oci pull -v dir: (after the same image from the archive)" cfs local oci pull --as-unpacked -v "dir:$work/A.dir" from-dir
		same "... gives A" "$out" "$d_A"
		expect_layer 1/2 "$diff_base" reused
		expect_layer 2/2 "$diff_upper1" reused
		if [ -z "$(ls -A "$work/local/pull" 2>/dev/null)" ]; then
			tap_ok "... and no pull layout is left behind"
		else
			tap_not_ok "... and no pull layout is left behind" "$(ls -A "$work/local/pull")"
		fi
		run 1 "oci pull of a missing archive fails" cfs local oci pull --as-unpacked "oci-archive:$work/none.tar" nothing
		tap_check "... naming nothing" no_name local nothing
	else
		tap_not_ok "skopeo copies the layout to oci-archive: and dir:" "$(cat "$work/skopeo.log")"
	fi
else
	tap_skip "oci pull from local transports" "skopeo is not installed"
fi

# ------------------------------------------------------------------
# oci pull --as-unpacked from a registry

# htpasswd_line USER PASSWORD: a bcrypt htpasswd line, or nothing
htpasswd_line()
{
	python3 -W ignore -c 'import crypt, sys
print(sys.argv[1] + ":" + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' "$1" "$2" 2>/dev/null ||
		htpasswd -nbB -C 4 "$1" "$2" 2>/dev/null
}

# start_registry: docker-registry on a free port of 127.0.0.1, with basic
# authentication when registry/htpasswd is there, its log in registry/log;
# sets port and registry_pid
start_registry()
{
	local _try _i
	for _try in 1 2 3; do
		port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		cat >registry/config.yml <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $work/registry/data
http:
  addr: 127.0.0.1:$port
EOF
		[ -s registry/htpasswd ] && cat >>registry/config.yml <<EOF
auth:
  htpasswd:
    realm: test
    path: $work/registry/htpasswd
EOF
		docker-registry serve registry/config.yml >registry/log 2>&1 &
		registry_pid=$!
		for _i in $(seq 1 100); do
			kill -0 "$registry_pid" 2>/dev/null || break
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				return 0
			fi
			sleep 0.05
		done
		kill "$registry_pid" 2>/dev/null
		wait "$registry_pid" 2>/dev/null
		registry_pid=
	done
	return 1
}

# blob_gets DIGEST: how many times the registry served the blob
blob_gets()
{
	grep -c "\"GET /v2/test/blobs/$1 HTTP/[0-9.]*\" 200 " registry/log
}

mkdir -p registry
htpasswd_line tester 's3cret pass' >registry/htpasswd
if ! command -v skopeo >/dev/null || ! command -v docker-registry >/dev/null; then
	tap_skip "oci pull from a registry" "needs skopeo and docker-registry"
elif ! start_registry; then
	tap_not_ok "docker-registry starts" "$(cat registry/log)"
else
	tap_ok "docker-registry starts on 127.0.0.1:$port"
	reg=127.0.0.1:$port
	creds=()
	auth=()
	push=(skopeo copy --quiet --dest-tls-verify=false)
	if [ -s registry/htpasswd ]; then
		creds=(--creds 'tester:s3cret pass')
		printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$reg" \
			"$(printf '%s' 'tester:s3cret pass' | base64 -w0)" >auth.json
		auth=(--authfile "$work/auth.json")
		push+=(--dest-creds 'tester:s3cret pass')
	fi
	tap_check "skopeo pushes A as test:t1" "${push[@]}" "oci:$L:A" "docker://$reg/test:t1"
	tap_check "skopeo pushes B as test:t2" "${push[@]}" "oci:$L:B" "docker://$reg/test:t2"
	run 0 "init a fourth repository" cfs pulled init
	if [ -s registry/htpasswd ]; then
		run 1 "oci pull without credentials from a registry that wants them is refused" \
			cfs pulled oci pull --as-unpacked --tls-verify=false "docker://$reg/test:t1" t1
		tap_check "... naming nothing" no_name pulled t1
	else
		tap_skip "oci pull --creds and --authfile" "no bcrypt for an htpasswd file"
	fi
	imports "oci pull -v ${creds[*]:0:1} docker://…/test:t1" \
		cfs pulled oci pull --as-unpacked -v --tls-verify=false "${creds[@]}" "docker://$reg/test:t1" t1
	same "... gives A" "$out" "$d_A"
	expect_layer 1/2 "$diff_base" imported
	tap_check "... the base blob was served once" test "$(blob_gets "$blob_base")" -eq 1
	mounts_as "the pulled image mounts" "umoci's tree of A" pulled t1 A
	imports "oci pull -v ${auth[*]:0:1} of a second tag with the same base layer" \
		cfs pulled oci pull --as-unpacked -v --tls-verify=false "${auth[@]}" "docker://$reg/test:t2" t2
	same "... gives B" "$out" "$d_B"
	expect_layer 1/2 "$diff_base" reused
	expect_layer 2/2 "$diff_alt" imported
	n=$(blob_gets "$blob_base")
	if [ "$n" -eq 1 ]; then
		tap_ok "... and does not download the base blob again"
	else
		tap_not_ok "... and does not download the base blob again" \
			"GET $n times: $(grep "GET /v2/test/blobs/$blob_base" registry/log)"
	fi
	tap_check "... but downloads B's own layer" test "$(blob_gets "$blob_alt")" -eq 1
	# the same layers recompressed: the config's diff_ids show the
	# repository has them, so no layer blob is fetched
	"${ocitool[@]}" build "$work/Lz" A tars/base.tar:zstd tars/upper1.tar:zstd || exit 1
	read -r _ zblob_base < <("${ocitool[@]}" layer-blob "$work/Lz" A 0)
	read -r _ zblob_upper1 < <("${ocitool[@]}" layer-blob "$work/Lz" A 1)
	tap_check "skopeo pushes A with its layers zstd-compressed as test:t1z" \
		"${push[@]}" "oci:$work/Lz:A" "docker://$reg/test:t1z"
	gets_before=$(grep -c '"GET /v2/test/blobs/' registry/log)
	imports "oci pull -v of A recompressed (zstd) after A (gzip)" \
		cfs pulled oci pull --as-unpacked -v --tls-verify=false "${creds[@]}" "docker://$reg/test:t1z" t1z
	same "... gives A" "$out" "$d_A"
	expect_layer 1/2 "$diff_base" reused
	expect_layer 2/2 "$diff_upper1" reused
	zgets="$(blob_gets "$zblob_base") $(blob_gets "$zblob_upper1")"
	tap_check "... fetches neither layer blob ($(stat -c %s "$work/Lz/blobs/sha256/${zblob_base#sha256:}") + $(stat -c %s "$work/Lz/blobs/sha256/${zblob_upper1#sha256:}") bytes; GETs: $zgets)" \
		test "$zgets" = "0 0"
	tap_diag "blob GETs during the zstd pull: $(($(grep -c '"GET /v2/test/blobs/' registry/log) - gets_before)), none of a layer"
	run 1 "oci pull of a tag the registry does not have is refused" \
		cfs pulled oci pull --as-unpacked --tls-verify=false "${creds[@]}" "docker://$reg/test:nosuch" nosuch
	tap_check "... naming nothing" no_name pulled nosuch
	run 0 "fsck" cfs pulled fsck
fi

# ------------------------------------------------------------------
# An unprivileged user

if ! $is_root || ! command -v setpriv >/dev/null || ! id nobody >/dev/null 2>&1; then
	tap_skip "an unprivileged user imports and mounts" "needs root, setpriv and a user nobody"
else
	nobody=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups)
	mkdir user && chown "$(id -u nobody):$(id -g nobody)" user
	run 0 "nobody: init in a directory of nobody's" "${nobody[@]}" "$COMPOSEFS" --repo "$work/user/repo" init
	imports "nobody: oci import" "${nobody[@]}" "$COMPOSEFS" --repo "$work/user/repo" oci import --as-unpacked "oci:$L:A" A
	same_image "... gives the image root imports (owners and devices kept)" "$out" A user/repo A
	if ! $have_fuse; then
		tap_skip "nobody: mount (FUSE)" "no /dev/fuse, fusermount3 or composefs-fuse"
	else
		# distributions ship /dev/fuse 0666, which unprivileged mounts need
		if [ "$(stat -c %a /dev/fuse)" != 666 ]; then
			fuse_mode=$(stat -c %a /dev/fuse)
			chmod 0666 /dev/fuse
		fi
		mkdir user/mnt && chown "$(id -u nobody):$(id -g nobody)" user/mnt
		if out=$("${nobody[@]}" "$COMPOSEFS" --repo "$work/user/repo" mount A "$work/user/mnt" 2>&1); then
			tap_ok "nobody: mount (FUSE)"
			# a python3 that nobody may run (not one under /root)
			for py in $(type -ap python3) /usr/bin/python3 ""; do
				[ -n "$py" ] && "${nobody[@]}" "$py" -c '' 2>/dev/null && break
			done
			if [ -n "$py" ]; then
				reader=("${nobody[@]}" "$py")
				same_tree "... shows umoci's tree of A to nobody" user/mnt A --user-xattrs
				reader=()
			else
				tap_skip "... shows umoci's tree of A to nobody" "no python3 nobody may run"
			fi
			tap_check "... unmounts with fusermount3 -u" "${nobody[@]}" fusermount3 -u "$work/user/mnt"
		else
			tap_not_ok "nobody: mount (FUSE)" "$out"
		fi
		if [ -n "$fuse_mode" ]; then
			chmod "$fuse_mode" /dev/fuse
			fuse_mode=
		fi
	fi
	run 0 "nobody: fsck" "${nobody[@]}" "$COMPOSEFS" --repo "$work/user/repo" fsck
fi

tap_diag "$SECONDS s"
# ------------------------------------------------------------------
# composefs-rs's image of an OCI image (the default of oci import, oci pull
# and mkcomposefs --from-oci): the root takes /usr's metadata, /run is
# emptied, only security.capability is kept, format version 1

mkdir -p "$work/rs"
python3 - "$work/rs" <<'PYEOF'
import io, sys, tarfile
out = sys.argv[1]

def add(t, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, mtime=1234567890,
        uid=0, gid=0, link="", pax=None):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.uid, ti.gid = kind, mode, mtime, uid, gid
    ti.linkname = link
    if pax:
        ti.pax_headers = pax
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

# composefs-rs's own test fixture (its CLI tests pin the image's id)
with tarfile.open(out + "/fixture.tar", "w", format=tarfile.GNU_FORMAT) as t:
    add(t, "usr/", tarfile.DIRTYPE, mode=0o755)
    add(t, "hello.txt", data=b"hello from test layer\n")
    add(t, "hello-link.txt", tarfile.LNKTYPE, mode=0, link="hello.txt")

# the rules, one by one
with tarfile.open(out + "/rules.tar", "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "./", tarfile.DIRTYPE, mode=0o700, mtime=5)
    add(t, "usr/", tarfile.DIRTYPE, mode=0o751, uid=3, gid=4,
        pax={"mtime": "1700000000.25", "SCHILY.xattr.user.usr": "u",
             "SCHILY.xattr.security.capability": "cap-of-usr",
             "SCHILY.xattr.trusted.note": "t"})
    add(t, "usr/bin/", tarfile.DIRTYPE, mode=0o755)
    add(t, "usr/bin/ping", data=b"#!/bin/sh\necho a ping tool of some length\n" * 3,
        mode=0o755, pax={"SCHILY.xattr.security.capability": "net-raw",
                         "SCHILY.xattr.security.selinux": "system_u:bin_t",
                         "SCHILY.xattr.user.note": "kept with --keep-user-xattrs"})
    add(t, "run/", tarfile.DIRTYPE, mode=0o710, uid=7, mtime=99)
    add(t, "run/lock/", tarfile.DIRTYPE)
    add(t, "run/pid", data=b"1234\n")
    add(t, "keep", tarfile.LNKTYPE, link="run/pid")

with tarfile.open(out + "/nousr.tar", "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "etc/", tarfile.DIRTYPE)
    add(t, "etc/motd", data=b"no usr here\n")
PYEOF
for t in fixture rules nousr; do
	"${ocitool[@]}" build "$work/rs/layout" "$t" "$work/rs/$t.tar:none" >/dev/null
done

run 0 "mkcomposefs --from-oci of composefs-rs's test fixture" \
	"$MKCOMPOSEFS" --from-oci "oci:$work/rs/layout:fixture" "$work/rs/fixture.cfs"
if ! command -v fsverity >/dev/null; then
	tap_skip "... is composefs-rs's image: its pinned V1 id" "fsverity (fsverity-utils) is not installed"
else
	# crates/composefs-integration-tests/src/tests/cli.rs, OCI_LAYOUT_COMPOSEFS_V1_ID
	rs_v1=d06f1f6a73f62ed48e05ce9442ff045cdf2a9f5ba1ec623795de3d6177a253d91076459795d94f55d8c3d71dab458bb3fc0071255a50c0a4896d86ffdc870b9a
	same "... is composefs-rs's image: its SHA-512 fs-verity digest is their pinned V1 id" \
		"$(fsverity digest --hash-alg=sha512 "$work/rs/fixture.cfs" | cut -d' ' -f1)" "sha512:$rs_v1"
fi
same "... in format version 1" "$(od -An -tu4 -j12 -N4 "$work/rs/fixture.cfs" | tr -d ' ')" 1
run 0 "composefs init" cfs rsrepo init
imports "oci import of the fixture" cfs rsrepo oci import "oci:$work/rs/layout:fixture" fixture
same "... gives mkcomposefs --from-oci's image" "$out" \
	"$("$MKCOMPOSEFS" --from-oci --print-digest-only "oci:$work/rs/layout:fixture")"
d_fixture=$out
imports "oci import --as-unpacked of the fixture" cfs rsrepo oci import --as-unpacked "oci:$work/rs/layout:fixture" fixture-unpacked
same "... gives mkcomposefs --from-oci --as-unpacked's image" "$out" \
	"$("$MKCOMPOSEFS" --from-oci --as-unpacked --print-digest-only "oci:$work/rs/layout:fixture")"
if [ -n "$out" ] && [ "$out" != "$d_fixture" ]; then
	tap_ok "... which is not the transformed one (the root keeps mtime 0, format 0)"
else
	tap_not_ok "... which is not the transformed one" "$out"
fi
# the same fixture in a SHA-512 repository, composefs-rs's default: the id
# printed, the name's digest and the exported image's SHA-512 fs-verity
# digest are their pinned V1 id
run 0 "composefs init --hash-alg=sha512" cfs rsrepo512 init --hash-alg=sha512
capture cfs rsrepo512 oci import "oci:$work/rs/layout:fixture" fixture
if [ "$rc" -eq 0 ] && [ -n "${rs_v1:-}" ] && [ "$out" = "$rs_v1" ]; then
	tap_ok "oci import of the fixture into a SHA-512 repository prints composefs-rs's pinned V1 id"
elif [ -z "${rs_v1:-}" ]; then
	tap_skip "oci import into a SHA-512 repository" "fsverity (fsverity-utils) is not installed"
else
	tap_not_ok "oci import into a SHA-512 repository" "status $rc: $out $err"
fi
if [ -n "${rs_v1:-}" ]; then
	cfs rsrepo512 export fixture "$work/rs/fixture512.cfs"
	same "... exported, its fsverity digest --hash-alg=sha512 is that id" \
		"$(fsverity digest --compact --hash-alg=sha512 "$work/rs/fixture512.cfs")" "$rs_v1"
	same "... and the image file is named by it" \
		"$(ls "$work/rsrepo512/images" | grep -c "^$rs_v1\$")" 1
fi
# with a file the image does not hold inline (rules: usr/bin/ping), its
# SHA-512 digest in the metacopy xattr: mkcomposefs computes without a
# store what the SHA-512 repository imports
capture cfs rsrepo512 oci import "oci:$work/rs/layout:rules" rules
same "mkcomposefs --from-oci --hash-alg=sha512 --print-digest-only gives a SHA-512 repository's oci import digest" \
	"$("$MKCOMPOSEFS" --from-oci --hash-alg=sha512 --print-digest-only "oci:$work/rs/layout:rules")" "$out"

# the rules, read off the dump of the image
dump_of()
{
	"$INFO" dump "$1" | sed -n "s|^$2 |&|p"
}
run 0 "mkcomposefs --from-oci of an image with /usr, /run, xattrs" \
	"$MKCOMPOSEFS" --from-oci "oci:$work/rs/layout:rules" "$work/rs/rules.cfs"
"$INFO" dump "$work/rs/rules.cfs" >"$work/rs/rules.dump"
root_line=$(grep '^/ ' "$work/rs/rules.dump")
case "$root_line" in
"/ 4096 40751 "*" 3 4 0 1700000000.250000000 - - - security.capability=cap-of-usr")
	tap_ok "the root takes /usr's mode, owner, mtime (to the nanosecond) and xattrs, filtered" ;;
*) tap_not_ok "the root takes /usr's mode, owner, mtime and xattrs, filtered" "$root_line" ;;
esac
run_line=$(grep '^/run ' "$work/rs/rules.dump")
case "$run_line" in
"/run "*" 40710 2 7 0 0 1700000000.250000000 - - -")
	tap_ok "/run is emptied, takes /usr's mtime and keeps its mode and owner" ;;
*) tap_not_ok "/run is emptied, takes /usr's mtime and keeps its mode and owner" "$run_line" ;;
esac
if grep -q '^/run/' "$work/rs/rules.dump"; then
	tap_not_ok "nothing is left below /run" "$(grep '^/run/' "$work/rs/rules.dump")"
else
	tap_ok "nothing is left below /run"
fi
keep_line=$(grep '^/keep ' "$work/rs/rules.dump")
case "$keep_line" in
"/keep 5 100644 1 "*) tap_ok "a hard link to a file of /run stays, its link count now 1" ;;
*) tap_not_ok "a hard link to a file of /run stays, its link count now 1" "$keep_line" ;;
esac
ping_line=$(grep '^/usr/bin/ping ' "$work/rs/rules.dump")
case "$ping_line" in
*" security.capability=net-raw") tap_ok "only security.capability is kept (security.selinux, user.*, trusted.* go)" ;;
*) tap_not_ok "only security.capability is kept" "$ping_line" ;;
esac
run 0 "mkcomposefs --from-oci --keep-user-xattrs" \
	"$MKCOMPOSEFS" --from-oci --keep-user-xattrs "oci:$work/rs/layout:rules" "$work/rs/rules-user.cfs"
ping_line=$("$INFO" dump "$work/rs/rules-user.cfs" | grep '^/usr/bin/ping ')
case "$ping_line" in
*security.capability=net-raw*user.note=kept*) tap_ok "... keeps user.* xattrs too" ;;
*) tap_not_ok "... keeps user.* xattrs too" "$ping_line" ;;
esac
imports "oci import --keep-user-xattrs" cfs rsrepo oci import --keep-user-xattrs "oci:$work/rs/layout:rules" rules-user
same "... gives mkcomposefs's image" "$out" \
	"$("$MKCOMPOSEFS" --from-oci --keep-user-xattrs --print-digest-only "oci:$work/rs/layout:rules")"

run 1 "an image without /usr is refused, saying why" cfs rsrepo oci import "oci:$work/rs/layout:nousr" nousr
expect_err "... (no /usr directory; --as-unpacked named)" "no /usr directory"
if cfs rsrepo images | grep -q '^nousr '; then
	tap_not_ok "... and nothing is named" "$(cfs rsrepo images)"
else
	tap_ok "... and nothing is named"
fi
run 1 "mkcomposefs --from-oci refuses it too" "$MKCOMPOSEFS" --from-oci "oci:$work/rs/layout:nousr" "$work/rs/nousr.cfs"
imports "oci import --as-unpacked takes it" cfs rsrepo oci import --as-unpacked "oci:$work/rs/layout:nousr" nousr
run 1 "mkcomposefs --as-unpacked without --from-oci is a usage error" \
	"$MKCOMPOSEFS" --as-unpacked "$work/rs" "$work/rs/x.cfs"

tap_done
