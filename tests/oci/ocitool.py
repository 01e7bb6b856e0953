#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
"""Helpers for tests/oci.sh: layer tars, OCI image layouts and tree listings.

  ocitool.py layers DIR
      write the test's layer tars into DIR (see LAYERS below)
  ocitool.py build LAYOUT TAG [--docker] [--arch ARCH] TAR[:COMPRESSION]...
      add an image of these layers (bottom first) to the OCI layout LAYOUT
      (made when missing) under the tag TAG; COMPRESSION is gzip (the
      default), zstd or none; --docker gives Docker's schema 2 media types
  ocitool.py multi LAYOUT TAG TAG1 TAG2...
      tag TAG: an image index of the images tagged TAG1, TAG2... (one per
      platform)
  ocitool.py layer-blob LAYOUT TAG N
      the path of the blob of layer N (from 0) and its digest
  ocitool.py diff-id LAYOUT TAG N
      the diff_id of layer N as the config says
  ocitool.py set-diff-id LAYOUT TAG N DIGEST
      rewrite layer N's diff_id in the config, and the digests of config,
      manifest and index entry that follow from it
  ocitool.py set-layer-size LAYOUT TAG N DELTA
      add DELTA to the size layer N's descriptor gives, rewriting the
      manifest's digest and the index entry
  ocitool.py annotation LAYOUT TAG KEY [--config]
      the value of the manifest's annotation KEY (--config: of the config
      descriptor's), or nothing
  ocitool.py annotate LAYOUT TAG KEY VALUE [--config]
      set that annotation (an empty VALUE removes it), rewriting the
      manifest's digest and the index entry
  ocitool.py swap-layer LAYOUT TAG N TAR[:COMPRESSION]
      put the layer TAR in place of layer N, with its diff_id in the config
      and every digest that follows rewritten, annotations and labels kept
  ocitool.py corrupt FILE
      flip one byte of FILE: in the contents of its first non-empty file
      when FILE is a tar (so that it stays a valid tar), else in its middle
  ocitool.py listing DIR [--user-xattrs]
      one line per entry of the tree DIR: type, mode, owner, mtime to the
      nanosecond, size, link count, device, link target, xattrs and a
      SHA-256 of the contents; entries an unprivileged reader cannot reach
      are listed the same way for every reader (see walk())
"""

import gzip
import hashlib
import io
import json
import os
import random
import stat
import subprocess
import sys
import tarfile

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = {
    "none": "application/vnd.docker.image.rootfs.diff.tar",
    "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
}
REF_NAME = "org.opencontainers.image.ref.name"

# ---------------------------------------------------------------------------
# Layer tars


def data(seed, size):
    return random.Random(seed).randbytes(size)


class Layer:
    def __init__(self, path, fmt=tarfile.PAX_FORMAT):
        self.tar = tarfile.open(path, "w", format=fmt)

    def add(self, name, kind=tarfile.REGTYPE, content=b"", mode=None,
            owner=(0, 0), mtime=1600000000, pax=None, **fields):
        info = tarfile.TarInfo(name)
        info.type = kind
        if mode is None:
            mode = 0o777 if kind == tarfile.SYMTYPE else 0o644
        info.mode = mode
        info.uid, info.gid = owner
        info.mtime = mtime
        if pax:
            info.pax_headers = dict(pax)
        for key, value in fields.items():
            setattr(info, key, value)
        if kind == tarfile.REGTYPE:
            info.size = len(content)
            self.tar.addfile(info, io.BytesIO(content))
        else:
            self.tar.addfile(info)

    def dir(self, name, mode=0o755, **kw):
        self.add(name, tarfile.DIRTYPE, mode=mode, **kw)

    def file(self, name, content, **kw):
        self.add(name, content=content, **kw)

    def whiteout(self, name):
        head, _, tail = name.rpartition("/")
        self.add((head + "/" if head else "") + ".wh." + tail, mode=0o600)

    def opaque(self, dirname):
        self.add(dirname + "/.wh..wh..opq", mode=0o600)

    def close(self):
        self.tar.close()


# v2 file capability: cap_net_raw effective and permitted
CAPABILITY = "\x01\x00\x00\x02\x00\x20\x00\x00" + "\x00" * 12
LONG_DIR = "long/" + "d" * 90 + "/" + "e" * 60


def layer_base(path):
    """The bottom layer every image shares: most kinds of entry."""
    t = Layer(path)
    t.dir("etc")
    t.file("etc/hostname", b"base\n")
    t.file("etc/motd", data(1, 300), mode=0o640, owner=(0, 42))
    t.dir("data", mtime=1500000000)
    t.file("data/small", b"at most sixty-four bytes\n")
    t.file("data/exactly-64", data(2, 64))
    t.file("data/exactly-65", data(3, 65))
    t.file("data/big", data(4, 70000))
    t.file("data/empty", b"")
    t.add("data/big-link", tarfile.LNKTYPE, linkname="data/big")
    t.add("data/small-link", tarfile.LNKTYPE, linkname="data/small")
    t.add("data/to-big", tarfile.SYMTYPE, linkname="big")
    t.add("data/dangling", tarfile.SYMTYPE, linkname="/no/such/file")
    t.add("data/fifo", tarfile.FIFOTYPE, mode=0o640)
    t.add("data/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
    t.add("data/loop9", tarfile.BLKTYPE, mode=0o660, owner=(0, 6),
          devmajor=7, devminor=9)
    t.file("data/xattrs", data(5, 200), pax={
        "SCHILY.xattr.user.comment": "a user xattr",
        "SCHILY.xattr.trusted.note": "a trusted xattr",
    })
    t.file("data/ping", data(6, 100), mode=0o755,
           pax={"SCHILY.xattr.security.capability": CAPABILITY})
    t.file("data/setuid", b"#!/bin/sh\n", mode=0o4755)
    t.file("data/subsecond", data(7, 90),
           pax={"mtime": "1700000000.123456789"})
    t.file("data/subsecond-small", b"tiny",
           pax={"mtime": "1650000000.5"})
    t.dir("home")
    t.dir("home/user", mode=0o750, owner=(1000, 1000))
    t.file("home/user/notes", data(8, 1000), mode=0o600, owner=(1000, 1000))
    t.file("home/user/public", b"readable by all\n", owner=(1000, 100))
    t.dir("tmp", mode=0o1777)
    t.dir("long")
    t.dir(LONG_DIR.rsplit("/", 1)[0])
    t.dir(LONG_DIR)
    t.file(LONG_DIR + "/f" + "-" * 80, data(9, 500))
    t.add("long/link", tarfile.SYMTYPE, linkname="/" + "x" * 150)
    # to be whited out, or made opaque, above
    t.file("remove-me", data(10, 128))
    t.dir("gone")
    t.file("gone/a", data(11, 4096))
    t.dir("gone/sub", mode=0o700)
    t.file("gone/sub/b", b"b\n")
    t.file("readd-file", b"old contents\n")
    t.dir("readd-dir")
    t.file("readd-dir/old", data(12, 100))
    t.file("file-to-dir", b"a file first\n")
    t.dir("opq")
    t.file("opq/old1", data(13, 100))
    t.dir("opq/oldsub")
    t.file("opq/oldsub/x", b"x\n")
    t.dir("opq2", mtime=1400000000)
    t.file("opq2/old", b"old\n")
    t.file("same-layer", b"lower\n")
    t.file("becomes-symlink", data(14, 80))
    t.close()


def layer_upper1(path):
    """Whiteouts of every kind, opaque directories, changes of type."""
    t = Layer(path)
    t.whiteout("remove-me")
    t.whiteout("gone")
    t.whiteout("readd-file")
    t.whiteout("readd-dir")
    t.whiteout("never-existed")
    t.whiteout("data/never-existed-either")
    t.whiteout("file-to-dir")
    # opaque, with entries of this layer before and after the marker
    t.dir("opq", mode=0o775, mtime=1234567890)
    t.file("opq/new0", data(20, 100))
    t.opaque("opq")
    t.file("opq/new1", b"new1\n")
    t.dir("opq/oldsub")
    t.file("opq/oldsub/y", b"y\n")
    # opaque, without an entry for the directory itself
    t.opaque("opq2")
    t.file("opq2/fresh", data(21, 1000))
    # a whiteout of a name this layer also adds hides the lower one only
    t.file("same-layer", b"this layer\n")
    t.whiteout("same-layer")
    # a file changed, one replaced by a symlink, one added to a lower
    # directory without an entry for that directory
    t.file("etc/hostname", b"upper1\n", mtime=1600000001)
    t.add("becomes-symlink", tarfile.SYMTYPE, linkname="etc/hostname")
    t.file("data/added", data(22, 3000), owner=(123, 456))
    # hard links within the layer, one of them to a small file
    t.dir("links")
    t.file("links/one", data(23, 5000))
    t.add("links/two", tarfile.LNKTYPE, linkname="links/one")
    t.add("links/three", tarfile.LNKTYPE, linkname="links/one")
    t.file("links/s", b"s\n")
    t.add("links/s2", tarfile.LNKTYPE, linkname="links/s")
    t.close()


def layer_upper2(path):
    """Names whited out below come back; the root gets an entry."""
    t = Layer(path)
    t.dir(".", owner=(0, 10), mtime=1700000123)
    t.file("readd-file", data(30, 2000), mode=0o600)
    t.dir("readd-dir", mode=0o705, owner=(5, 5))
    t.file("readd-dir/new", b"new\n")
    t.dir("gone", mtime=1700000000)
    t.file("gone/fresh", b"fresh\n")
    t.dir("file-to-dir")
    t.file("file-to-dir/inside", data(31, 70))
    t.whiteout("opq/new0")
    t.close()


def layer_alt(path):
    """Another top for the base layer, as a GNU tar (long names)."""
    t = Layer(path, fmt=tarfile.GNU_FORMAT)
    t.dir("alt")
    t.file("alt/" + "n" * 120, data(40, 700))
    t.add("alt/longlink", tarfile.SYMTYPE, linkname="/" + "y" * 130)
    t.file("alt/big", data(41, 100000))
    t.whiteout("remove-me")
    t.file("etc/hostname", b"alt\n")
    t.close()


def layer_symlink_modes(path):
    """Symlinks whose headers give modes a Linux symlink cannot have (it
    is always 0777)."""
    t = Layer(path)
    t.file("target", b"target\n")
    t.add("link-0644", tarfile.SYMTYPE, linkname="target", mode=0o644)
    t.add("link-0755", tarfile.SYMTYPE, linkname="/" + "z" * 120,
          mode=0o755)
    t.close()


def layer_usrmerge(path):
    """A merged /usr: lib and bin are symlinks into usr."""
    t = Layer(path)
    t.dir("usr")
    t.dir("usr/lib")
    t.dir("usr/bin")
    t.file("usr/lib/libc", data(30, 200))
    t.add("lib", tarfile.SYMTYPE, linkname="usr/lib")
    t.add("bin", tarfile.SYMTYPE, linkname="/usr/bin")
    t.add("lib64", tarfile.SYMTYPE, linkname="lib")
    t.add("nowhere", tarfile.SYMTYPE, linkname="usr/none")
    t.close()


def layer_through_symlinks(path):
    """Entries below those symlinks, without entries for the directories
    on their way: they land where the symlinks lead."""
    t = Layer(path)
    t.file("lib/libfoo", data(31, 300))
    t.file("bin/tool", b"#!/bin/sh\n", mode=0o755)
    t.file("lib64/deeper/libbar", data(32, 100))
    t.file("nowhere/file", b"a symlink leading nowhere is replaced\n")
    t.close()


LAYERS = {
    "usrmerge": layer_usrmerge,
    "through-symlinks": layer_through_symlinks,
    "base": layer_base,
    "upper1": layer_upper1,
    "upper2": layer_upper2,
    "alt": layer_alt,
    "symlink-modes": layer_symlink_modes,
}


def cmd_layers(out):
    os.makedirs(out, exist_ok=True)
    for name, make in LAYERS.items():
        make(os.path.join(out, name + ".tar"))


# ---------------------------------------------------------------------------
# Layouts


def sha256(blob):
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def put_blob(layout, blob):
    digest = sha256(blob)
    path = os.path.join(layout, "blobs", "sha256", digest[7:])
    if not os.path.exists(path):
        with open(path + ".tmp", "wb") as f:
            f.write(blob)
        os.rename(path + ".tmp", path)
    return digest


def blob_path(layout, digest):
    return os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])


def read_json(path):
    with open(path, "rb") as f:
        return json.load(f)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def open_layout(layout):
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    marker = os.path.join(layout, "oci-layout")
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
    index_path = os.path.join(layout, "index.json")
    if os.path.exists(index_path):
        return read_json(index_path)
    return {"schemaVersion": 2, "manifests": []}


def save_index(layout, index):
    with open(os.path.join(layout, "index.json"), "wb") as f:
        f.write(dumps(index))


def set_tag(layout, index, tag, descriptor):
    descriptor = dict(descriptor)
    descriptor["annotations"] = {REF_NAME: tag}
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get(REF_NAME) != tag]
    index["manifests"].append(descriptor)
    save_index(layout, index)


def find_tag(index, tag):
    for i, m in enumerate(index["manifests"]):
        if m.get("annotations", {}).get(REF_NAME) == tag:
            return i, m
    sys.exit(f"ocitool: no tag {tag}")


def compress(raw, how):
    if how == "none":
        return raw
    if how == "gzip":
        return gzip.compress(raw, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=raw, check=True,
                              capture_output=True).stdout
    sys.exit(f"ocitool: unknown compression {how}")


def cmd_build(layout, tag, args):
    docker = False
    arch = "amd64"
    specs = []
    while args:
        a = args.pop(0)
        if a == "--docker":
            docker = True
        elif a == "--arch":
            arch = args.pop(0)
        else:
            specs.append(a)
    index = open_layout(layout)
    layers, diff_ids = [], []
    for spec in specs:
        path, _, how = spec.partition(":")
        how = how or "gzip"
        with open(path, "rb") as f:
            raw = f.read()
        blob = compress(raw, how)
        media = (DOCKER_LAYER if docker else OCI_LAYER)[how]
        layers.append({"mediaType": media, "digest": put_blob(layout, blob),
                       "size": len(blob)})
        diff_ids.append(sha256(raw))
    variant = None
    if "/" in arch:
        arch, variant = arch.split("/", 1)
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "tests/oci/ocitool.py " + s}
                    for s in specs],
    }
    if variant:
        config["variant"] = variant
    config_blob = dumps(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                   "digest": put_blob(layout, config_blob),
                   "size": len(config_blob)},
        "layers": layers,
    }
    manifest_blob = dumps(manifest)
    descriptor = {"mediaType": manifest["mediaType"],
                  "digest": put_blob(layout, manifest_blob),
                  "size": len(manifest_blob),
                  "platform": {"architecture": arch, "os": "linux"}}
    if variant:
        descriptor["platform"]["variant"] = variant
    set_tag(layout, index, tag, descriptor)


def cmd_multi(layout, tag, tags):
    index = open_layout(layout)
    entries = []
    for t in tags:
        _, m = find_tag(index, t)
        m = dict(m)
        del m["annotations"]
        entries.append(m)
    blob = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                  "manifests": entries})
    set_tag(layout, index, tag, {"mediaType": OCI_INDEX,
                                 "digest": put_blob(layout, blob),
                                 "size": len(blob)})


def load_manifest(layout, tag):
    index = open_layout(layout)
    _, m = find_tag(index, tag)
    return read_json(blob_path(layout, m["digest"]))


def cmd_layer_blob(layout, tag, n):
    layer = load_manifest(layout, tag)["layers"][n]
    print(blob_path(layout, layer["digest"]), layer["digest"])


def cmd_diff_id(layout, tag, n):
    manifest = load_manifest(layout, tag)
    config = read_json(blob_path(layout, manifest["config"]["digest"]))
    print(config["rootfs"]["diff_ids"][n])


def cmd_set_diff_id(layout, tag, n, digest):
    index = open_layout(layout)
    i, descriptor = find_tag(index, tag)
    manifest = read_json(blob_path(layout, descriptor["digest"]))
    config = read_json(blob_path(layout, manifest["config"]["digest"]))
    config["rootfs"]["diff_ids"][n] = digest
    config_blob = dumps(config)
    manifest["config"]["digest"] = put_blob(layout, config_blob)
    manifest["config"]["size"] = len(config_blob)
    manifest_blob = dumps(manifest)
    descriptor["digest"] = put_blob(layout, manifest_blob)
    descriptor["size"] = len(manifest_blob)
    index["manifests"][i] = descriptor
    save_index(layout, index)


def cmd_set_layer_size(layout, tag, n, delta):
    index = open_layout(layout)
    i, descriptor = find_tag(index, tag)
    manifest = read_json(blob_path(layout, descriptor["digest"]))
    manifest["layers"][n]["size"] += delta
    manifest_blob = dumps(manifest)
    descriptor["digest"] = put_blob(layout, manifest_blob)
    descriptor["size"] = len(manifest_blob)
    index["manifests"][i] = descriptor
    save_index(layout, index)


def save_manifest(layout, index, i, descriptor, manifest):
    manifest_blob = dumps(manifest)
    descriptor["digest"] = put_blob(layout, manifest_blob)
    descriptor["size"] = len(manifest_blob)
    index["manifests"][i] = descriptor
    save_index(layout, index)


def annotations_of(manifest, config):
    return (manifest["config"] if config else manifest).setdefault(
        "annotations", {})


def cmd_annotation(layout, tag, key, args):
    manifest = load_manifest(layout, tag)
    value = annotations_of(manifest, "--config" in args).get(key)
    if value is not None:
        print(value)


def cmd_annotate(layout, tag, key, value, args):
    index = open_layout(layout)
    i, descriptor = find_tag(index, tag)
    manifest = read_json(blob_path(layout, descriptor["digest"]))
    annotations = annotations_of(manifest, "--config" in args)
    if value:
        annotations[key] = value
    else:
        annotations.pop(key, None)
    save_manifest(layout, index, i, descriptor, manifest)


def cmd_swap_layer(layout, tag, n, spec):
    path, _, how = spec.partition(":")
    how = how or "gzip"
    with open(path, "rb") as f:
        raw = f.read()
    blob = compress(raw, how)
    index = open_layout(layout)
    i, descriptor = find_tag(index, tag)
    manifest = read_json(blob_path(layout, descriptor["digest"]))
    config = read_json(blob_path(layout, manifest["config"]["digest"]))
    config["rootfs"]["diff_ids"][n] = sha256(raw)
    config_blob = dumps(config)
    manifest["config"]["digest"] = put_blob(layout, config_blob)
    manifest["config"]["size"] = len(config_blob)
    manifest["layers"][n]["digest"] = put_blob(layout, blob)
    manifest["layers"][n]["size"] = len(blob)
    save_manifest(layout, index, i, descriptor, manifest)


def cmd_corrupt(path):
    offset = None
    try:
        with tarfile.open(path, "r:") as t:
            for member in t:
                if member.isreg() and member.size > 0:
                    offset = member.offset_data + member.size // 2
                    break
    except tarfile.TarError:
        pass
    with open(path, "r+b") as f:
        if offset is None:
            offset = os.fstat(f.fileno()).st_size // 2
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


# ---------------------------------------------------------------------------
# Tree listings


def walk(root, user_xattrs_only):
    """Lines for every entry under root, sorted by path.

    What a reader without privileges cannot see is left out for every
    reader alike, so that a listing made as root and one made as nobody of
    the same tree are equal: the children of a directory that is not both
    readable and searchable by others, the contents of a file not readable
    by others, and every xattr but user.* when user_xattrs_only.
    """
    lines = []

    def visit(rel):
        path = os.path.join(root, rel) if rel else root
        st = os.lstat(path)
        mode = st.st_mode
        kind = stat.S_IFMT(mode)
        fields = [rel or ".", oct(mode), f"{st.st_uid}:{st.st_gid}",
                  str(st.st_mtime_ns)]
        if kind != stat.S_IFDIR:
            fields.append(f"size={st.st_size} nlink={st.st_nlink}")
        if kind in (stat.S_IFCHR, stat.S_IFBLK):
            fields.append(f"dev={os.major(st.st_rdev)}:{os.minor(st.st_rdev)}")
        if kind == stat.S_IFLNK:
            fields.append("-> " + os.readlink(path))
        xattrs = []
        for name in sorted(os.listxattr(path, follow_symlinks=False)):
            if user_xattrs_only and not name.startswith("user."):
                continue
            value = os.getxattr(path, name, follow_symlinks=False)
            xattrs.append(f"{name}={value.hex()}")
        fields.append("xattrs[" + ",".join(xattrs) + "]")
        if kind == stat.S_IFREG and mode & stat.S_IROTH:
            with open(path, "rb") as f:
                fields.append(hashlib.sha256(f.read()).hexdigest())
        lines.append(" ".join(fields))
        if kind == stat.S_IFDIR and (mode & 0o005) == 0o005:
            for name in sorted(os.listdir(path)):
                visit(os.path.join(rel, name) if rel else name)

    visit("")
    return lines


def cmd_listing(root, args):
    for line in walk(root, "--user-xattrs" in args):
        print(line)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "layers":
        cmd_layers(args[0])
    elif cmd == "build":
        cmd_build(args[0], args[1], args[2:])
    elif cmd == "multi":
        cmd_multi(args[0], args[1], args[2:])
    elif cmd == "layer-blob":
        cmd_layer_blob(args[0], args[1], int(args[2]))
    elif cmd == "diff-id":
        cmd_diff_id(args[0], args[1], int(args[2]))
    elif cmd == "set-diff-id":
        cmd_set_diff_id(args[0], args[1], int(args[2]), args[3])
    elif cmd == "set-layer-size":
        cmd_set_layer_size(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "annotation":
        cmd_annotation(args[0], args[1], args[2], args[3:])
    elif cmd == "annotate":
        cmd_annotate(args[0], args[1], args[2], args[3], args[4:])
    elif cmd == "swap-layer":
        cmd_swap_layer(args[0], args[1], int(args[2]), args[3])
    elif cmd == "corrupt":
        cmd_corrupt(args[0])
    elif cmd == "listing":
        cmd_listing(args[0], args[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
