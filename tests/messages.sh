#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# Error messages say what is wrong and where: the entry of a tar that ran
# the filesystem out of inodes, a FIFO given as an OCI layout's index.json,
# and which of a blob's size and digest differ from its descriptor's.
# (Paths too long for a message: mkcomposefs-cli.sh and test-io; libfuse's
# thread warning: fuse.sh.)
set -u

tests_dir=$(cd "$(dirname "$0")" && pwd)
. "$tests_dir/tap.sh"

cfs_require_tool COMPOSEFS composefs
tap_require_commands python3 tar
ocitool=(python3 "$tests_dir/oci/ocitool.py")
work=$(mktemp -d)
trap 'umount "$work/small" 2>/dev/null; rm -rf -- "$work"' EXIT
cd "$work" || exit 1
unset COMPOSEFS_REPO

# expect_message DESCRIPTION PATTERN COMMAND...: COMMAND fails with status
# 1 and its message matches the extended regular expression PATTERN
expect_message()
{
	local what="$1" pattern="$2" out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && grep -Eq -- "$pattern" <<<"$out"; then
		tap_ok "$what: $out"
	else
		tap_not_ok "$what" "status $rc: $out"
	fi
}

# --- out of inodes during import-tar: the entry is named
mkdir tsrc
for i in $(seq 1 100); do head -c 5000 /dev/urandom >"tsrc/f$i"; done
tar -cf t.tar -C tsrc .
if [ "$(id -u)" -ne 0 ]; then
	tap_skip "import-tar out of inodes names the entry" "needs root (a small tmpfs)"
else
	mkdir small
	mount -t tmpfs -o size=50m,nr_inodes=60 tmpfs small
	"$COMPOSEFS" --repo small/r init >/dev/null
	expect_message "import-tar out of inodes names the entry and says inodes" \
		"^composefs: t\.tar: entry [0-9]+ '\./f[0-9]+': .*no inodes left" \
		"$COMPOSEFS" --repo small/r import-tar t.tar x
	umount small
fi

# --- OCI layouts
"${ocitool[@]}" layers tars >/dev/null || exit 1
"${ocitool[@]}" build L t tars/base.tar:none || exit 1
"$COMPOSEFS" --repo r init >/dev/null

cp -a L fifo && rm fifo/index.json && mkfifo fifo/index.json
expect_message "a FIFO as index.json: not a regular file, at once" \
	"fifo: index\.json: not a regular file$" \
	timeout 10 "$COMPOSEFS" --repo r oci import oci:fifo:t x
cp -a L empty && : >empty/index.json
expect_message "an empty index.json: says empty" \
	"empty: index\.json: not valid JSON: empty$" \
	"$COMPOSEFS" --repo r oci import oci:empty:t x
cp -a L short && head -c 20 L/index.json >short/index.json
expect_message "a cut index.json: says it ends early" \
	"short: index\.json: not valid JSON: it ends early$" \
	"$COMPOSEFS" --repo r oci import oci:short:t x

# the layer blob with the right size and another content
cp -a L digest
read -r blob _ < <("${ocitool[@]}" layer-blob digest t 0)
size=$(stat -c %s "$blob")
"${ocitool[@]}" corrupt "$blob" >/dev/null
expect_message "a blob of the right size and the wrong digest: says the digest differs" \
	"layer blob sha256:[0-9a-f]{64} has the $size bytes its descriptor says, but digest sha256:[0-9a-f]{64}$" \
	"$COMPOSEFS" --repo r oci import oci:digest:t x

# the descriptor says one byte more than the blob (and the blob is right)
cp -a L size
python3 - size t <<'EOF_PY' || exit 1
import hashlib, json, os, sys
layout, tag = sys.argv[1:]
def blob(d):
    return os.path.join(layout, "blobs", "sha256", d.split(":")[1])
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(blob(d), "wb") as f:
        f.write(data)
    return d
index = json.load(open(os.path.join(layout, "index.json")))
for m in index["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
        manifest = json.load(open(blob(m["digest"])))
        manifest["layers"][0]["size"] += 1
        data = json.dumps(manifest).encode()
        m["digest"], m["size"] = put(data), len(data)
json.dump(index, open(os.path.join(layout, "index.json"), "w"))
EOF_PY
# (the blob file's size is checked before it is read, so its digest is
# not known then)
expect_message "a descriptor one byte off: says the sizes" \
	"layer blob sha256:[0-9a-f]{64} has $size bytes, not the $((size + 1)) bytes its descriptor says( \(its digest is right\))?$" \
	"$COMPOSEFS" --repo r oci import oci:size:t x

tap_done
