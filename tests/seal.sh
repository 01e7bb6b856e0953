#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Sealed and signed OCI images: composefs oci seal writes a sealed copy
# (composefs-rs's config label, the sealing specification's annotations,
# signatures with a key); oci import and oci pull check a seal against the
# image they compute and name nothing when it does not hold: a seal by
# another certificate, a changed annotation, a changed layer, a seal of an
# algorithm the repository cannot check, an unsealed image with
# --require-sealed. Signatures are fs-verity's: `fsverity sign` over the
# same digest gives one ours accepts, ours verifies with `openssl cms`. A
# sealed image travels through a registry (skopeo copy, docker-registry on
# 127.0.0.1) and is checked when pulled back. Bad keys, missing layer blobs
# and a missing destination leave nothing behind. composefs mount uses the
# sealed digest, --signed-by checks its signature (kernel as root, FUSE).
# The same with a SHA-512 repository (composefs init --hash-alg=sha512:
# fsverity-sha512-12 seals), and each algorithm's repository refuses the
# other's seal.
#
# Needs openssl; fsverity, skopeo and docker-registry, root and FUSE for
# their parts (skipped, counted, without).
set -u

tests_dir=$(cd "$(dirname "$0")" && pwd)
. "$tests_dir/tap.sh"

cfs_require_tool COMPOSEFS composefs
FUSE=$(cfs_tool composefs-fuse) || exit 1
tap_require_commands python3 openssl xxd base64
ocitool=(python3 "$tests_dir/oci/ocitool.py")
export COMPOSEFS_FUSE="$FUSE"
unset COMPOSEFS_REPO
umask 022

work=$(mktemp -d "${TMPDIR:-/tmp}/cfs-seal.XXXXXX")
chmod 755 "$work"
registry_pid=

cleanup()
{
	local dir
	for dir in $(awk -v prefix="$work/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | tac); do
		fusermount3 -u "$dir" 2>/dev/null || umount "$dir" 2>/dev/null ||
			umount -l "$dir" 2>/dev/null
	done
	if [ -n "$registry_pid" ]; then
		kill "$registry_pid" 2>/dev/null
		wait "$registry_pid" 2>/dev/null
	fi
	rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
cd "$work" || exit 1

# run STATUS DESCRIPTION REPO ARGS...: composefs --repo REPO ARGS exits
# with STATUS; its output in $out
run()
{
	local want="$1" what="$2" repo="$3"
	shift 3
	tap_expect "$want" "$what" "$COMPOSEFS" --repo "$repo" "$@"
}

# refused DESCRIPTION PATTERN REPO NAME ARGS...: composefs --repo REPO ARGS
# fails with a message matching PATTERN, and NAME names nothing after it
refused()
{
	local what="$1" pattern="$2" repo="$3" name="$4" rc
	shift 4
	out=$("$COMPOSEFS" --repo "$repo" "$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -qE -- "$pattern" &&
		[ ! -e "$repo/names/$name" ]; then
		tap_ok "$what"
		tap_diag "$out"
	else
		tap_not_ok "$what" "status $rc, names/$name $(test -e "$repo/names/$name" && echo exists || echo absent): $out"
	fi
}

# listing DIR: every file under DIR with its size and digest
listing()
{
	(cd "$1" && find . -printf '%p %y %s\n' | sort &&
		find . -type f -exec sha256sum {} + | sort)
}

ann() { "${ocitool[@]}" annotation "$@"; }
key256=composefs.merged.erofs.v1.fsverity-sha256-12
cfg256=composefs.config.fsverity-sha256-12

# keys and self-signed certificates (no CA)
for k in a b; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout $k.key -out $k.pem \
		-subj "/CN=composefs seal test $k" -days 2 2>/dev/null
done
if [ -s a.pem ] && [ -s b.pem ]; then
	tap_ok "openssl made two keys and self-signed certificates"
else
	echo "Bail out! openssl could not make the test keys"
	exit 1
fi

# the image: one layer with /usr (composefs-rs's transform needs it),
# files big enough to be objects
mkdir -p tree/usr/bin tree/etc tree/run
head -c 20000 /dev/urandom >tree/usr/bin/tool
echo hello >tree/etc/motd
tar -C tree -cf layer.tar usr etc run
cp -a tree tree2
echo changed >>tree2/usr/bin/tool
tar -C tree2 -cf layer2.tar usr etc run
"${ocitool[@]}" build src t layer.tar:gzip
run 0 "init a repository" repo init
run 0 "import the unsealed image" repo oci import oci:src:t plain
plain=$out

run 0 "oci seal writes a sealed copy" repo oci seal oci:src:t oci:sealed:s
if [ "$out" = "$plain" ]; then
	tap_ok "the digest sealed is the image's ($out)"
else
	tap_not_ok "the digest sealed is the image's" "$out vs $plain"
fi
if [ "$(ann sealed s $key256)" = "$plain" ]; then
	tap_ok "the manifest has $key256"
else
	tap_not_ok "the manifest has $key256" "$(ann sealed s $key256)"
fi
label=$(python3 - sealed s <<'EOF'
import json, sys
layout, tag = sys.argv[1], sys.argv[2]
index = json.load(open(layout + "/index.json"))
m = [m for m in index["manifests"]
     if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
manifest = json.load(open(layout + "/blobs/sha256/" + m["digest"][7:]))
config = json.load(open(layout + "/blobs/sha256/" + manifest["config"]["digest"][7:]))
print(config["config"]["Labels"]["containers.composefs.fsverity"])
EOF
)
if [ "$label" = "$plain" ]; then
	tap_ok "the config has composefs-rs's label containers.composefs.fsverity"
else
	tap_not_ok "the config has composefs-rs's label" "$label"
fi
cfg=$(ann sealed s $cfg256 --config)
cfgblob=$(python3 -c 'import json,sys; i=json.load(open("sealed/index.json")); m=json.load(open("sealed/blobs/sha256/"+i["manifests"][0]["digest"][7:])); print("sealed/blobs/sha256/"+m["config"]["digest"][7:])')
if command -v fsverity >/dev/null; then
	if [ "$cfg" = "$(fsverity digest --compact "$cfgblob")" ]; then
		tap_ok "the config descriptor has $cfg256, fsverity digest's of the config"
	else
		tap_not_ok "the config descriptor's $cfg256" "$cfg vs $(fsverity digest --compact "$cfgblob")"
	fi
else
	tap_skip "the config descriptor's $cfg256" "needs fsverity"
fi
layer=$("${ocitool[@]}" layer-blob src t 0 | cut -d' ' -f2)
if [ "$(stat -c %i "src/blobs/sha256/${layer#sha256:}")" = "$(stat -c %i "sealed/blobs/sha256/${layer#sha256:}")" ]; then
	tap_ok "the layer blob is shared (one inode)"
else
	tap_not_ok "the layer blob is shared"
fi
run 0 "the sealed copy imports" repo oci import oci:sealed:s sealed
if [ "$out" = "$plain" ]; then
	tap_ok "...as the same image"
else
	tap_not_ok "...as the same image" "$out"
fi
run 0 "--require-sealed takes it" repo oci import --require-sealed oci:sealed:s sealed2
refused "--require-sealed refuses an unsealed image" "not sealed" repo unsealed \
	oci import --require-sealed oci:src:t unsealed
refused "--trusted-cert refuses an unsigned seal" "has no signature" repo unsigned \
	oci import --trusted-cert a.pem oci:sealed:s unsigned
run 2 "--as-unpacked with --require-sealed is bad usage" repo \
	oci import --as-unpacked --require-sealed oci:sealed:s x

# signed
run 0 "oci seal --sign-key --sign-cert signs" repo oci seal --sign-key a.key \
	--sign-cert a.pem oci:src:t oci:sealed:signed
sig=$(ann sealed signed $key256.sig)
if [ -n "$sig" ] && [ -n "$(ann sealed signed $cfg256.sig --config)" ]; then
	tap_ok "the manifest has $key256.sig, the config descriptor $cfg256.sig"
else
	tap_not_ok "signature annotations" "$sig"
fi
run 0 "accepted with the right certificate" repo oci import --trusted-cert a.pem \
	oci:sealed:signed signed
run 0 "accepted when one of several certificates is right" repo oci import \
	--trusted-cert b.pem --trusted-cert a.pem oci:sealed:signed signed2
refused "refused with another certificate" "does not verify" repo other \
	oci import --trusted-cert b.pem oci:sealed:signed other

# tampered copies
cp -a sealed tampered
"${ocitool[@]}" annotate tampered signed $key256 "$(printf '%064d' 0)"
refused "refused with a changed digest annotation" "sealed as 0+ .*but its layers give $plain" \
	repo changed oci import oci:tampered:signed changed
refused "...also without a certificate" "sealed as 0+" \
	repo changed oci import oci:tampered:signed changed
cp -a sealed tampered2
"${ocitool[@]}" annotate tampered2 signed $key256.sig "$(ann sealed signed $key256.sig | tr 'A-M' 'N-Z')"
refused "refused with a changed signature annotation" "signature|PKCS" \
	repo changed oci import --trusted-cert a.pem oci:tampered2:signed changed
cp -a sealed swapped
"${ocitool[@]}" swap-layer swapped signed 0 layer2.tar:gzip
refused "refused with a changed layer (descriptors and diff_id made to match)" \
	"sealed as $plain.*but its layers give" repo changed oci import oci:swapped:signed changed
cp -a sealed other-alg
"${ocitool[@]}" annotate other-alg s $key256 ""
"${ocitool[@]}" annotate other-alg s composefs.merged.erofs.v1.fsverity-sha512-12 "$(printf '%0128d' 7)"
python3 - other-alg s <<'EOF'
import json, sys, hashlib, os
layout, tag = sys.argv[1], sys.argv[2]
def blob(d): return os.path.join(layout, "blobs/sha256", d[7:])
def put(b):
    d = "sha256:" + hashlib.sha256(b).hexdigest()
    open(blob(d), "wb").write(b)
    return d, len(b)
index = json.load(open(layout + "/index.json"))
i = [n for n, m in enumerate(index["manifests"])
     if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
manifest = json.load(open(blob(index["manifests"][i]["digest"])))
config = json.load(open(blob(manifest["config"]["digest"])))
del config["config"]["Labels"]["containers.composefs.fsverity"]
manifest["config"]["annotations"] = {}
manifest["config"]["digest"], manifest["config"]["size"] = put(json.dumps(config).encode())
index["manifests"][i]["digest"], index["manifests"][i]["size"] = put(json.dumps(manifest).encode())
open(layout + "/index.json", "w").write(json.dumps(index))
EOF
refused "refused with a seal of the other algorithm only (sha512 in a sha256 repository)" \
	"fsverity-sha512-12.*cannot check" repo otheralg oci import oci:other-alg:s otheralg

# fs-verity's own tools
"$COMPOSEFS" --repo repo export signed signed.cfs
printf 'FSVerity\001\000\040\000' >formatted
printf '%s' "$plain" | xxd -r -p >>formatted
ann sealed signed $key256.sig | base64 -d >ours.der
if out=$(openssl cms -verify -binary -inform DER -in ours.der -content formatted \
	-certfile a.pem -CAfile a.pem -purpose any -out /dev/null 2>&1); then
	tap_ok "our signature verifies with openssl cms over fs-verity's formatted digest"
else
	tap_not_ok "our signature verifies with openssl cms" "$out"
fi
if out=$(openssl cms -verify -binary -inform DER -in ours.der -content formatted \
	-certfile b.pem -CAfile b.pem -purpose any -out /dev/null 2>&1); then
	tap_not_ok "openssl cms refuses it with the other certificate" "$out"
else
	tap_ok "openssl cms refuses it with the other certificate"
fi
if command -v fsverity >/dev/null; then
	if fsverity sign signed.cfs fsv.der --key=a.key --cert=a.pem >/dev/null 2>err; then
		tap_ok "fsverity sign signs the exported image ($(fsverity digest --compact signed.cfs))"
	else
		tap_not_ok "fsverity sign" "$(cat err)"
	fi
	if cmp -s fsv.der ours.der; then
		tap_ok "our signature is fsverity sign's, byte for byte (RSA)"
	else
		tap_not_ok "our signature is fsverity sign's, byte for byte"
	fi
	cp -a sealed fsv
	"${ocitool[@]}" annotate fsv s $key256.sig "$(base64 -w0 fsv.der)"
	run 0 "a seal signed by fsverity sign is accepted" repo oci import \
		--trusted-cert a.pem oci:fsv:s fsvsigned
else
	tap_skip "fsverity sign's signatures" "needs fsverity (fsverity-utils)"
fi

# failures leave nothing behind
listing sealed >before
run 1 "a key that is not a key: refused" repo oci seal --sign-key a.pem \
	--sign-cert a.pem oci:src:t oci:sealed:badkey
listing sealed >after
if cmp -s before after && printf '%s' "$out" | grep -q "a.pem.*not a PEM private key"; then
	tap_ok "...naming it, and the destination is as it was"
else
	tap_not_ok "...naming it, and the destination is as it was" "$out $(diff before after)"
fi
run 1 "a key of another certificate: refused" repo oci seal --sign-key b.key \
	--sign-cert a.pem oci:src:t oci:newdest
if [ ! -e newdest ] && printf '%s' "$out" | grep -q "does not belong"; then
	tap_ok "...and no destination made"
else
	tap_not_ok "...and no destination made" "$out"
fi
run 1 "a destination whose parent is missing: refused" repo oci seal oci:src:t oci:missing/dest
if [ ! -e missing ] && printf '%s' "$out" | grep -q "missing/dest: No such file"; then
	tap_ok "...naming it"
else
	tap_not_ok "...naming it" "$out"
fi
mkdir notlayout && echo x >notlayout/file
run 1 "a destination that is no layout and not empty: refused" repo oci seal oci:src:t oci:notlayout
cp -a src nolayer
rm "nolayer/blobs/sha256/${layer#sha256:}"
run 1 "a layer blob missing from the source (its layer known to the repository): refused" \
	repo oci seal oci:nolayer:t oci:nolayer-dest
if [ ! -e nolayer-dest ] && printf '%s' "$out" | grep -q "layer blob"; then
	tap_ok "...saying so, nothing made"
else
	tap_not_ok "...saying so, nothing made" "$out"
fi
run 0 "sealing into the source layout itself, another tag" repo oci seal \
	oci:src:t oci:src:t-sealed
run 0 "...which imports" repo oci import --require-sealed oci:src:t-sealed insrc
run 0 "...and the old tag is still there" repo oci import oci:src:t plain

# SHA-512: a repository of fsverity-sha512-12 seals with that algorithm;
# each algorithm's repository refuses the other's seal
if ! "$COMPOSEFS" --repo repo512 init --hash-alg=sha512 >/dev/null 2>&1; then
	tap_skip "SHA-512 seals" "composefs init --hash-alg=sha512 is not available"
else
	tap_ok "init a SHA-512 repository"
	key512=composefs.merged.erofs.v1.fsverity-sha512-12
	cfg512=composefs.config.fsverity-sha512-12
	run 0 "sha512: oci seal --sign-key" repo512 oci seal --sign-key a.key \
		--sign-cert a.pem oci:src:t oci:sealed512:t
	d512=$out
	if [ ${#d512} -eq 128 ] && [ "$(ann sealed512 t $key512)" = "$d512" ] &&
		[ -z "$(ann sealed512 t $key256)" ]; then
		tap_ok "sha512: the digest sealed has 128 hex digits, in $key512"
	else
		tap_not_ok "sha512: the digest sealed, in $key512" "$d512 / $(ann sealed512 t $key512)"
	fi
	cfgblob512=$(python3 -c 'import json,sys; i=json.load(open("sealed512/index.json")); m=json.load(open("sealed512/blobs/sha256/"+i["manifests"][0]["digest"][7:])); print("sealed512/blobs/sha256/"+m["config"]["digest"][7:])')
	if command -v fsverity >/dev/null; then
		if [ "$(ann sealed512 t $cfg512 --config)" = "$(fsverity digest --hash-alg=sha512 --compact "$cfgblob512")" ]; then
			tap_ok "sha512: $cfg512 is fsverity digest --hash-alg=sha512's of the config"
		else
			tap_not_ok "sha512: $cfg512" "$(ann sealed512 t $cfg512 --config)"
		fi
	fi
	run 0 "sha512: the sealed copy imports with --trusted-cert" repo512 \
		oci import --trusted-cert a.pem oci:sealed512:t signed512
	if [ "$out" = "$d512" ]; then
		tap_ok "sha512: ...as the image sealed"
	else
		tap_not_ok "sha512: ...as the image sealed" "$out"
	fi
	refused "sha512: refused with another certificate" "does not verify" repo512 other512 \
		oci import --trusted-cert b.pem oci:sealed512:t other512
	refused "a sha512 seal refused by a sha256 repository" "fsverity-sha512-12.*cannot check" \
		repo from512 oci import oci:sealed512:t from512
	refused "a sha256 seal refused by a sha512 repository" "fsverity-sha256-12.*cannot check" \
		repo512 from256 oci import oci:sealed:signed from256
	printf 'FSVerity\002\000\100\000' >formatted512
	printf '%s' "$d512" | xxd -r -p >>formatted512
	ann sealed512 t $key512.sig | base64 -d >ours512.der
	if out=$(openssl cms -verify -binary -inform DER -in ours512.der -content formatted512 \
		-certfile a.pem -CAfile a.pem -purpose any -out /dev/null 2>&1); then
		tap_ok "sha512: our signature verifies with openssl cms"
	else
		tap_not_ok "sha512: our signature verifies with openssl cms" "$out"
	fi
	if command -v fsverity >/dev/null &&
		"$COMPOSEFS" --repo repo512 export signed512 signed512.cfs &&
		fsverity sign --hash-alg=sha512 signed512.cfs fsv512.der --key=a.key \
			--cert=a.pem >/dev/null 2>&1; then
		cp -a sealed512 fsv512
		"${ocitool[@]}" annotate fsv512 t $key512.sig "$(base64 -w0 fsv512.der)"
		run 0 "sha512: a seal signed by fsverity sign --hash-alg=sha512 is accepted" repo512 \
			oci import --trusted-cert a.pem oci:fsv512:t fsv512
	else
		tap_skip "sha512: fsverity sign's signature" "needs fsverity"
	fi
	if [ -x "$FUSE" ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
		mkdir -p mnt512
		if out=$("$COMPOSEFS" --repo repo512 mount --fuse --signed-by a.pem signed512 mnt512 2>&1) &&
			cmp -s mnt512/usr/bin/tool tree/usr/bin/tool; then
			tap_ok "sha512: composefs mount --signed-by of the sealed image (FUSE)"
		else
			tap_not_ok "sha512: composefs mount --signed-by of the sealed image (FUSE)" "$out"
		fi
		fusermount3 -u mnt512 2>/dev/null
		out=$("$COMPOSEFS" --repo repo512 mount --fuse --signed-by b.pem signed512 mnt512 2>&1)
		if [ $? -eq 1 ] && ! mountpoint -q mnt512; then
			tap_ok "sha512: ...refused --signed-by another certificate"
		else
			tap_not_ok "sha512: ...refused --signed-by another certificate" "$out"
			fusermount3 -u mnt512 2>/dev/null
		fi
	fi
	modprobe erofs >/dev/null 2>&1
	modprobe overlay >/dev/null 2>&1
	if [ "$(id -u)" -eq 0 ] && grep -qw erofs /proc/filesystems &&
		grep -qw overlay /proc/filesystems; then
		mkdir -p mnt512
		if out=$("$COMPOSEFS" --repo repo512 mount --signed-by a.pem signed512 mnt512 2>&1) &&
			cmp -s mnt512/usr/bin/tool tree/usr/bin/tool; then
			tap_ok "sha512: composefs mount --signed-by of the sealed image (kernel)"
		else
			tap_not_ok "sha512: composefs mount --signed-by of the sealed image (kernel)" "$out"
		fi
		umount mnt512 2>/dev/null
		out=$("$COMPOSEFS" --repo repo512 mount --signed-by b.pem signed512 mnt512 2>&1)
		if [ $? -eq 1 ] && ! mountpoint -q mnt512; then
			tap_ok "sha512: ...refused --signed-by another certificate (kernel)"
		else
			tap_not_ok "sha512: ...refused --signed-by another certificate (kernel)" "$out"
			umount mnt512 2>/dev/null
		fi
	else
		tap_skip "sha512: composefs mount of the sealed image (kernel)" "needs root, EROFS and overlayfs"
	fi
fi

# through a registry: skopeo copy pushes, oci pull checks
# start_registry: docker-registry on a free port of 127.0.0.1, its log in
# registry/log; sets port and registry_pid
start_registry()
{
	local _try _i
	mkdir -p registry
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
if ! command -v skopeo >/dev/null || ! command -v docker-registry >/dev/null; then
	tap_skip "sealed images through a registry" "needs skopeo and docker-registry"
elif ! start_registry; then
	tap_not_ok "docker-registry starts" "$(cat registry/log)"
else
	tap_ok "docker-registry starts on 127.0.0.1:$port"
	reg=127.0.0.1:$port
	push=(skopeo copy --quiet --dest-tls-verify=false)
	tap_check "skopeo pushes the sealed, signed image" "${push[@]}" oci:sealed:signed "docker://$reg/seal:signed"
	tap_check "...the one with a changed annotation" "${push[@]}" oci:tampered:signed "docker://$reg/seal:annotation"
	tap_check "...the one with a changed layer" "${push[@]}" oci:swapped:signed "docker://$reg/seal:layer"
	tap_check "...the one sealed for sha512 only" "${push[@]}" oci:other-alg:s "docker://$reg/seal:sha512"
	run 0 "init a repository for pulls" pulled init
	refused "pull: refused with another certificate" "does not verify" pulled p1 \
		oci pull --tls-verify=false --trusted-cert b.pem "docker://$reg/seal:signed" p1
	refused "pull: refused with a changed annotation" "sealed as 0+" pulled p2 \
		oci pull --tls-verify=false --trusted-cert a.pem "docker://$reg/seal:annotation" p2
	refused "pull: refused with a changed layer" "sealed as $plain.*but its layers give" pulled p3 \
		oci pull --tls-verify=false --trusted-cert a.pem "docker://$reg/seal:layer" p3
	refused "pull: refused with a seal of the other algorithm" "fsverity-sha512-12.*cannot check" pulled p4 \
		oci pull --tls-verify=false "docker://$reg/seal:sha512" p4
	run 0 "pull: accepted with the right certificate" pulled \
		oci pull --tls-verify=false --trusted-cert a.pem "docker://$reg/seal:signed" p5
	if [ "$out" = "$plain" ] && [ -n "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("seal", {}).get("signature", ""))' pulled/oci/p5)" ]; then
		tap_ok "...as the image sealed, its seal and signature recorded"
	else
		tap_not_ok "...as the image sealed, its seal and signature recorded" "$out"
	fi
	if [ -z "$(ls pulled/names)" ] || [ "$(ls pulled/names)" = p5 ]; then
		tap_ok "the refused pulls named nothing"
	else
		tap_not_ok "the refused pulls named nothing" "$(ls pulled/names)"
	fi
	if [ -d sealed512 ]; then
		tap_check "skopeo pushes the SHA-512 sealed image" "${push[@]}" oci:sealed512:t "docker://$reg/seal:sealed512"
		run 0 "sha512: init a repository for pulls" pulled512 init --hash-alg=sha512
		refused "sha512: pull refused with another certificate" "does not verify" pulled512 q1 \
			oci pull --tls-verify=false --trusted-cert b.pem "docker://$reg/seal:sealed512" q1
		run 0 "sha512: pull accepted with the right certificate" pulled512 \
			oci pull --tls-verify=false --trusted-cert a.pem "docker://$reg/seal:sealed512" q2
		if [ "$out" = "$d512" ]; then
			tap_ok "sha512: ...as the image sealed"
		else
			tap_not_ok "sha512: ...as the image sealed" "$out"
		fi
	fi
fi

# composefs mount: the digest sealed, --signed-by; composefs-fuse's
# signature=, signed-by=
have_fuse=false
[ -x "$FUSE" ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null &&
	have_fuse=true
have_kernel=false
if [ "$(id -u)" -eq 0 ]; then
	modprobe erofs >/dev/null 2>&1
	modprobe overlay >/dev/null 2>&1
	grep -qw erofs /proc/filesystems && grep -qw overlay /proc/filesystems &&
		have_kernel=true
fi
mkdir -p mnt
# mounted WHAT ARGS...: composefs mount ARGS mnt works and shows the tree;
# unmounted after
mounted()
{
	local what="$1"
	shift
	if out=$("$COMPOSEFS" --repo repo mount "$@" mnt 2>&1) &&
		cmp -s mnt/usr/bin/tool tree/usr/bin/tool; then
		tap_ok "$what"
	else
		tap_not_ok "$what" "$out"
	fi
	fusermount3 -u mnt 2>/dev/null || umount mnt 2>/dev/null
}
# not_mounted WHAT PATTERN ARGS...: composefs mount ARGS mnt refused
not_mounted()
{
	local what="$1" pattern="$2" rc
	shift 2
	out=$("$COMPOSEFS" --repo repo mount "$@" mnt 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -qE -- "$pattern" &&
		! mountpoint -q mnt; then
		tap_ok "$what"
		tap_diag "$out"
	else
		tap_not_ok "$what" "status $rc: $out"
		fusermount3 -u mnt 2>/dev/null || umount mnt 2>/dev/null
	fi
}
for how in kernel fuse; do
	flag=()
	[ $how = fuse ] && flag=(--fuse)
	if [ $how = kernel ] && ! $have_kernel; then
		tap_skip "composefs mount of sealed images (kernel)" "needs root, EROFS and overlayfs"
		continue
	fi
	if [ $how = fuse ] && ! $have_fuse; then
		tap_skip "composefs mount of sealed images (FUSE)" "needs /dev/fuse, fusermount3 and composefs-fuse"
		continue
	fi
	mounted "$how: a sealed, signed image mounts" "${flag[@]}" signed
	mounted "$how: ...with --signed-by its certificate" "${flag[@]}" --signed-by a.pem signed
	mounted "$how: ...with --signed-by another and its certificate" "${flag[@]}" \
		--signed-by b.pem --signed-by a.pem signed
	not_mounted "$how: ...not with --signed-by another certificate" "does not verify|no valid signature" \
		"${flag[@]}" --signed-by b.pem signed
	not_mounted "$how: an unsealed image with --signed-by: refused" "no seal" \
		"${flag[@]}" --signed-by a.pem plain
	not_mounted "$how: a sealed image without a signature, --signed-by: refused" "without a signature" \
		"${flag[@]}" --signed-by a.pem sealed
done
cp repo/oci/signed signed.record
python3 -c '
import json, sys
rec = json.load(open(sys.argv[1]))
rec["seal"]["digest"] = "0" * len(rec["seal"]["digest"])
open(sys.argv[1], "w").write(json.dumps(rec))
' repo/oci/signed
if $have_kernel || $have_fuse; then
	flag=()
	$have_kernel || flag=(--fuse)
	not_mounted "a name whose sealed digest is not its image's: refused" \
		"imported sealed as 0+ but names image $plain" "${flag[@]}" signed
else
	tap_skip "a name whose sealed digest is not its image's" "no kernel mount, no FUSE"
fi
cp signed.record repo/oci/signed
if $have_fuse; then
	if out=$("$FUSE" -o basedir=repo/objects,signature=ours.der,signed-by=b.pem:a.pem \
		signed.cfs mnt 2>&1) && cmp -s mnt/usr/bin/tool tree/usr/bin/tool; then
		tap_ok "composefs-fuse -o signature=,signed-by= serves a signed image"
	else
		tap_not_ok "composefs-fuse -o signature=,signed-by= serves a signed image" "$out"
	fi
	fusermount3 -u mnt 2>/dev/null
	out=$("$FUSE" -o basedir=repo/objects,signature=ours.der,signed-by=b.pem signed.cfs mnt 2>&1)
	if [ $? -ne 0 ] && ! mountpoint -q mnt && printf '%s' "$out" | grep -q "no valid signature"; then
		tap_ok "composefs-fuse refuses it signed-by another certificate"
		tap_diag "$out"
	else
		tap_not_ok "composefs-fuse refuses it signed-by another certificate" "$out"
		fusermount3 -u mnt 2>/dev/null
	fi
	"${ocitool[@]}" build src2 t layer2.tar:gzip
	"$COMPOSEFS" --repo repo oci import oci:src2:t second >/dev/null
	"$COMPOSEFS" --repo repo export second second.cfs
	out=$("$FUSE" -o basedir=repo/objects,signature=ours.der,signed-by=a.pem second.cfs mnt 2>&1)
	if [ $? -ne 0 ] && ! mountpoint -q mnt; then
		tap_ok "composefs-fuse refuses the signature for another image"
	else
		tap_not_ok "composefs-fuse refuses the signature for another image" "$out"
		fusermount3 -u mnt 2>/dev/null
	fi
else
	tap_skip "composefs-fuse signature=, signed-by=" "needs /dev/fuse, fusermount3 and composefs-fuse"
fi

tap_done
