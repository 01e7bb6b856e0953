#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
"""Materialise a composefs dump (composefs-dump(5)) for the mount benchmark.

  dump-to-tree.py store DUMP DIR
      create every object the dump names (its payload paths) in DIR as a
      sparse file of the right size
  dump-to-tree.py tree DUMP DIR [--overlay]
      create the tree itself: directories, sparse regular files of the right
      sizes (inline content written out), symlinks, devices, fifos, hard
      links, owners, modes, xattrs and times. With --overlay each file that
      has a payload also gets the trusted.overlay.metacopy and
      trusted.overlay.redirect xattrs pointing at its object, so the tree can
      be an overlayfs metadata layer over the store, like a composefs image.

DUMP may be gzip-compressed (.gz). Needs root (devices, owners, trusted.*).
"""
import gzip
import os
import stat
import sys


def unescape(field):
    """Bytes of a dump field ('-' is empty)."""
    if field == b"-":
        return b""
    out = bytearray()
    i = 0
    while i < len(field):
        c = field[i]
        if c == 0x5C and i + 1 < len(field):
            n = field[i + 1]
            if n == ord("x"):
                out.append(int(field[i + 2:i + 4], 16))
                i += 4
                continue
            out.append({ord("n"): 10, ord("r"): 13, ord("t"): 9}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def entries(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        for line in f:
            fields = line.rstrip(b"\n").split(b" ")
            if len(fields) < 11:
                continue
            yield {
                "path": unescape(fields[0]),
                "size": int(fields[1]),
                "mode": fields[2].decode(),
                "nlink": int(fields[3]),
                "uid": int(fields[4]),
                "gid": int(fields[5]),
                "rdev": int(fields[6]),
                "mtime": fields[7].decode(),
                "payload": unescape(fields[8]),
                "content": unescape(fields[9]),
                "xattrs": [unescape(x) for x in fields[11:]],
            }


def make_store(dump, store):
    made = set()
    for e in entries(dump):
        if e["mode"].startswith("@") or not e["payload"]:
            continue
        if not stat.S_ISREG(int(e["mode"], 8)) or e["payload"] in made:
            continue
        made.add(e["payload"])
        obj = os.path.join(os.fsencode(store), e["payload"])
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        with open(obj, "wb") as f:
            f.truncate(e["size"])
    print("%d objects" % len(made))


def make_tree(dump, root, overlay):
    root = os.fsencode(root)
    dirs = []
    for e in entries(dump):
        path = root + e["path"]
        if e["mode"].startswith("@"):
            os.link(root + b"/" + e["payload"].lstrip(b"/"), path)
            continue
        mode = int(e["mode"], 8)
        if stat.S_ISDIR(mode):
            os.makedirs(path, exist_ok=True)
            dirs.append((path, e))
        elif stat.S_ISREG(mode):
            with open(path, "wb") as f:
                if e["content"]:
                    f.write(e["content"])
                f.truncate(e["size"])
            if overlay and e["payload"]:
                os.setxattr(path, "trusted.overlay.metacopy", b"")
                os.setxattr(path, "trusted.overlay.redirect",
                            b"/" + e["payload"].lstrip(b"/"))
        elif stat.S_ISLNK(mode):
            os.symlink(e["payload"], path)
        else:
            os.mknod(path, mode, e["rdev"])
        finish(path, e, mode)
    # Directory times last, once nothing more is created in them.
    for path, e in reversed(dirs):
        finish(path, e, int(e["mode"], 8))


def finish(path, e, mode):
    for x in e["xattrs"]:
        name, _, value = x.partition(b"=")
        os.setxattr(path, name, value, follow_symlinks=False)
    os.chown(path, e["uid"], e["gid"], follow_symlinks=False)
    if not stat.S_ISLNK(mode):
        os.chmod(path, stat.S_IMODE(mode))
    sec, _, nsec = e["mtime"].partition(".")
    t = int(sec) * 10**9 + int(nsec or 0)
    os.utime(path, ns=(t, t), follow_symlinks=False)


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("store", "tree"):
        sys.exit(__doc__)
    if sys.argv[1] == "store":
        make_store(sys.argv[2], sys.argv[3])
    else:
        make_tree(sys.argv[2], sys.argv[3], "--overlay" in sys.argv[4:])


if __name__ == "__main__":
    main()
