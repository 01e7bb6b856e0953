#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
"""Print a manifest of a directory tree: one line per entry, sorted by path.

Two trees with equal metadata and content print equal manifests, so a plain
diff of two manifests compares a source tree with a mounted image.

Each line holds the path relative to the root ("/" is the root itself),
then key=value fields: type, mode (permission, setuid, setgid and sticky
bits, octal), uid, gid, size (not for directories), mtime (nanoseconds),
target (symlinks), rdev (major:minor, devices), xattrs (sorted, values
hex-encoded), sha256 (regular files) and, with --hardlinks, link (the first
path, in sorted order, of the entry's hard link group). Bytes outside
printable ASCII, spaces and backslashes in paths, targets and xattr names are
written as \\xNN.

Options transform what is printed so a source tree can be compared with an
image built from it with the matching mkcomposefs options.

An overlay whiteout (a 0:0 character device) cannot appear as such in an
overlay mount: mkcomposefs stores it as an empty regular file with escaped
whiteout xattrs and marks its directory, as the reference implementation does,
so that the mounted image can itself serve as an overlay layer. With
--whiteouts-as-files the source is printed as such a mount shows it: the
whiteout as an empty file with trusted.overlay.whiteout and
user.overlay.whiteout (both empty), its directory with trusted.overlay.opaque
and user.overlay.opaque ("x") and trusted.overlay.whiteouts and
user.overlay.whiteouts (empty).
"""

import argparse
import errno
import hashlib
import os
import stat
import sys

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

WHITEOUT_XATTRS = {
    "trusted.overlay.whiteout": b"",
    "user.overlay.whiteout": b"",
}
WHITEOUT_PARENT_XATTRS = {
    "trusted.overlay.opaque": b"x",
    "trusted.overlay.whiteouts": b"",
    "user.overlay.opaque": b"x",
    "user.overlay.whiteouts": b"",
}

TYPES = [
    (stat.S_ISREG, "reg"),
    (stat.S_ISDIR, "dir"),
    (stat.S_ISLNK, "lnk"),
    (stat.S_ISCHR, "chr"),
    (stat.S_ISBLK, "blk"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "sock"),
]


def escape(data):
    if isinstance(data, str):
        data = os.fsencode(data)
    out = []
    for byte in data:
        if 0x21 <= byte <= 0x7E and byte not in (0x5C, 0x2C, 0x3D):
            out.append(chr(byte))
        else:
            out.append("\\x%02x" % byte)
    return "".join(out)


def file_type(mode):
    for test, name in TYPES:
        if test(mode):
            return name
    return "unknown"


def content_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def read_xattrs(path):
    xattrs = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return xattrs
    for name in names:
        try:
            xattrs[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as e:
            # Listed but not readable: the kernel lists user.* xattrs of
            # symlinks and devices but refuses to read them (ENODATA).
            if e.errno != errno.ENODATA:
                raise
            xattrs[name] = b"<unreadable>"
    return xattrs


def walk(root):
    """Yield (relative path, absolute path) for root and everything below."""
    yield b"/", root
    stack = [b""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            child = os.path.join(rel, entry.name) if rel else entry.name
            yield b"/" + child, os.path.join(root, child)
            if entry.is_dir(follow_symlinks=False):
                stack.append(child)


def entry_fields(path, st, args):
    """Return the fields of one entry, or None when it is left out."""
    ftype = file_type(st.st_mode)
    xattrs = read_xattrs(path)
    fields = {}

    is_whiteout = ftype == "chr" and st.st_rdev == 0
    if args.skip_devices and ftype in ("chr", "blk"):
        return None

    if args.skip_xattrs:
        xattrs = {}
    elif args.user_xattrs:
        xattrs = {k: v for k, v in xattrs.items() if k.startswith("user.")}

    if ftype == "sock" and not args.full_sockets:
        return {"type": "sock"}

    if is_whiteout and args.whiteouts_as_files:
        ftype = "reg"
        xattrs.update(WHITEOUT_XATTRS)

    fields["type"] = ftype
    fields["mode"] = "%04o" % stat.S_IMODE(st.st_mode)
    fields["uid"] = str(st.st_uid)
    fields["gid"] = str(st.st_gid)
    if ftype != "dir":
        fields["size"] = "0" if is_whiteout else str(st.st_size)
    fields["mtime"] = "0" if args.zero_mtime else str(st.st_mtime_ns)
    if ftype == "lnk":
        fields["target"] = escape(os.readlink(path))
    if ftype in ("chr", "blk"):
        fields["rdev"] = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    fields["xattrs"] = xattrs
    if ftype == "reg" and not args.no_content:
        fields["sha256"] = EMPTY_SHA256 if is_whiteout else content_sha256(path)
    if is_whiteout and args.whiteouts_as_files:
        fields["_whiteout"] = True
    return fields


def format_line(rel, fields):
    out = [escape(rel)]
    for key, value in fields.items():
        if key.startswith("_"):
            continue
        if key == "xattrs":
            if not value:
                continue
            value = ",".join("%s=%s" % (escape(k), value[k].hex()) for k in sorted(value))
        out.append("%s=%s" % (key, value))
    return " ".join(out)


def manifest(root, args):
    entries = []
    groups = {}
    for rel, path in walk(root):
        st = os.lstat(path)
        fields = entry_fields(path, st, args)
        if fields is None:
            continue
        entries.append((rel, fields))
        if not stat.S_ISDIR(st.st_mode):
            groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
            fields["_key"] = (st.st_dev, st.st_ino)

    entries.sort(key=lambda e: e[0])
    by_path = dict(entries)
    for rel, fields in entries:
        if fields.get("_whiteout"):
            parent = os.path.dirname(rel)
            by_path[parent]["xattrs"].update(WHITEOUT_PARENT_XATTRS)

    first_of_group = {key: min(paths) for key, paths in groups.items()}
    lines = []
    for rel, fields in entries:
        key = fields.get("_key")
        if args.hardlinks and key is not None and len(groups[key]) > 1:
            fields["link"] = escape(first_of_group[key])
        lines.append(format_line(rel, fields))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="directory to describe")
    parser.add_argument("--hardlinks", action="store_true",
                        help="print the hard link group of each entry")
    parser.add_argument("--whiteouts-as-files", action="store_true",
                        help="print 0:0 character devices as the empty files "
                        "with a trusted.overlay.whiteout xattr an overlay mount shows")
    parser.add_argument("--zero-mtime", action="store_true",
                        help="print every mtime as 0 (mkcomposefs --use-epoch)")
    parser.add_argument("--skip-xattrs", action="store_true",
                        help="leave out all xattrs (mkcomposefs --skip-xattrs)")
    parser.add_argument("--user-xattrs", action="store_true",
                        help="keep only user.* xattrs (mkcomposefs --user-xattrs)")
    parser.add_argument("--skip-devices", action="store_true",
                        help="leave out character and block devices "
                        "(mkcomposefs --skip-devices)")
    parser.add_argument("--full-sockets", action="store_true",
                        help="print all metadata of sockets, not only their type")
    parser.add_argument("--no-content", action="store_true",
                        help="do not read regular files (objects may be absent "
                        "or placeholders)")
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    args = parser.parse_args()

    lines = manifest(os.fsencode(args.root), args)
    out = open(args.output, "w") if args.output else sys.stdout
    with out:
        for line in lines:
            out.write(line + "\n")


if __name__ == "__main__":
    main()
