#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
"""Make a small source tree for the mount tests (tests/mount.sh): every file
type, files on both sides of the inline limit and of a block, a sparse file,
hard links, xattrs (overlay ones included), odd names (option separators
',', ':', '=' and '\\' among them), large owners, special mode bits and
nanosecond times. Small enough to be read back many times in a few seconds.

Usage: mount-tree.py DIR (DIR must not exist). Needs root (devices, owners).
"""
import os
import random
import stat
import sys

from treelib import Tree, make_socket, setx, stamp_times, write

root = os.fsencode(sys.argv[1])
rng = random.Random(20250101)

p = Tree(root).p

os.makedirs(root)

os.mkdir(p("files"))
for size in (0, 1, 64, 65, 4095, 4096, 4097, 70000, 1 << 20):
    write(p("files", "size-%d" % size), rng.randbytes(size))
write(p("files", "same-as-4097"), open(p("files", "size-4097"), "rb").read())
with open(p("files", "sparse-8M"), "wb") as f:
    f.truncate(8 << 20)
    for offset in (0, 5000, 4 << 20, (8 << 20) - 3):
        f.seek(offset)
        f.write(b"xyz")

os.makedirs(p("dirs", "a", "b", "c"))
os.mkdir(p("dirs", "empty"))
write(p("dirs", "a", "b", "c", "deep"), b"deep file with content past the inline limit " * 3)
for i in range(300):
    write(p("dirs", "many-%03d" % i), b"%d\n" % i * (i % 50))

os.mkdir(p("links"))
os.symlink(b"../files/size-1", p("links", "relative"))
os.symlink(b"/etc/hostname", p("links", "absolute"))
os.symlink(b"nowhere", p("links", "dangling"))
os.symlink(b"x" * 1500, p("links", "long"))

os.mkdir(p("special"))
os.mknod(p("special", "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
os.mknod(p("special", "block"), stat.S_IFBLK | 0o600, os.makedev(8, 1))
os.mknod(p("special", "whiteout"), stat.S_IFCHR | 0o600, os.makedev(0, 0))
os.mkfifo(p("special", "fifo"), 0o640)
make_socket(p("special", "socket"))

os.mkdir(p("hardlinks"))
write(p("hardlinks", "big"), rng.randbytes(20000))
os.link(p("hardlinks", "big"), p("hardlinks", "big-2"))
os.link(p("hardlinks", "big"), p("dirs", "a", "big-3"))
write(p("hardlinks", "small"), b"small\n")
os.link(p("hardlinks", "small"), p("hardlinks", "small-2"))

os.mkdir(p("names"))
for name in [b"with space", b"comma,name", b"colon:name", b"equals=name",
             b"back\\slash", b"new\nline", b"\xff\xfe-not-utf8",
             "\u00fcn\u00efc\u00f6d\u00e9".encode(), b"n" * 255, b".hidden"]:
    write(os.path.join(p("names"), name), name * 5)

os.chown(p("files", "size-65"), 4000000000, 70000)
os.chown(p("dirs", "a"), 1234, 5678)
os.chown(p("links", "relative"), 42, 43, follow_symlinks=False)
os.chmod(p("files", "size-64"), 0o4755)
os.chmod(p("files", "size-4096"), 0o2750)
os.chmod(p("dirs", "empty"), 0o1777)
os.chmod(p("files", "size-0"), 0o000)

setx(p("files", "size-4097"), "user.plain", b"value")
setx(p("files", "size-4097"), "user.binary", bytes(range(256)))
setx(p("files", "size-4097"), "trusted.test", b"trusted")
setx(p("files", "size-4097"), "security.test", b"security")
setx(p("files", "size-4097"), "trusted.overlay.redirect", b"/escaped/redirect")
setx(p("dirs"), "user.on-dir", b"dir")
setx(p("special", "fifo"), "trusted.on-fifo", b"fifo")
setx(p("hardlinks", "big"), "user.shared", b"by all links")
setx(root, "user.on-root", b"root")

TIMES = [1700000000123456789, -1234567890987654321, 4102444800999999999, 1]
stamp_times(root, TIMES)
