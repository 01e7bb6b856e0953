#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
"""Make a source tree holding every kind of entry mkcomposefs must handle:
every file type, sizes around the inline limit and the block size, a sparse
file, hard links, xattrs (overlay ones too), odd names, big owners,
special permission bits, nanosecond and pre-1970 / post-2038 times.

Usage: gen-tree.py DIR (DIR must not exist). Needs root (devices, owners).
"""
import os
import random
import stat
import sys

from treelib import Tree, make_socket, setx, stamp_times, write

root = os.fsencode(sys.argv[1])
rng = random.Random(20240101)

p = Tree(root).p

os.makedirs(root)

# Regular files around the inline limit, the block size, and large ones.
os.mkdir(p("files"))
for size in (0, 1, 64, 65, 4095, 4096, 4097, 1 << 20):
    write(p("files", "size-%d" % size), rng.randbytes(size))
# Same content under two names: one object in the store.
write(p("files", "copy-of-4097"), open(p("files", "size-4097"), "rb").read())
sparse = p("files", "sparse-100M")
with open(sparse, "wb") as f:
    f.truncate(100 << 20)
    for offset in (0, 12345, 50 << 20, (100 << 20) - 3):
        f.seek(offset)
        f.write(b"xyz")

# Directories, nested and empty.
os.makedirs(p("dirs", "a", "b", "c", "d"))
os.mkdir(p("dirs", "empty"))
write(p("dirs", "a", "b", "c", "d", "deep-file"), b"deep\n")

# Symlinks: short, long (1000+ bytes), dangling, absolute, to a directory.
os.mkdir(p("links"))
os.symlink(b"../files/size-1", p("links", "short"))
os.symlink(b"/".join([b"component-%03d" % i for i in range(80)]), p("links", "long"))
os.symlink(b"does/not/exist", p("links", "dangling"))
os.symlink(b"/etc/hostname", p("links", "absolute"))
os.symlink(b"../dirs/a", p("links", "to-dir"))

# Special files.
os.mkdir(p("special"))
os.mknod(p("special", "char-1-3"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
os.mknod(p("special", "char-big"), stat.S_IFCHR | 0o600, os.makedev(511, 300000))
os.mknod(p("special", "block-8-1"), stat.S_IFBLK | 0o660, os.makedev(8, 1))
os.mkfifo(p("special", "fifo"), 0o640)
make_socket(p("special", "socket"))
# An overlay whiteout, with a neighbour.
os.mkdir(p("whiteouts"))
os.mknod(p("whiteouts", "whiteout"), stat.S_IFCHR | 0o600, os.makedev(0, 0))
write(p("whiteouts", "neighbour"), b"n\n")

# Hard links: an external file, an inline file, an empty file, a symlink.
os.mkdir(p("hardlinks"))
os.mkdir(p("hardlinks", "sub"))
write(p("hardlinks", "big"), rng.randbytes(10000))
os.link(p("hardlinks", "big"), p("hardlinks", "big-2"))
os.link(p("hardlinks", "big"), p("hardlinks", "sub", "big-3"))
write(p("hardlinks", "small"), b"small\n")
os.link(p("hardlinks", "small"), p("hardlinks", "sub", "small-2"))
write(p("hardlinks", "empty"), b"")
os.link(p("hardlinks", "empty"), p("hardlinks", "empty-2"))
os.symlink(b"big", p("hardlinks", "symlink"))
os.link(p("hardlinks", "symlink"), p("hardlinks", "symlink-2"), follow_symlinks=False)

# Names.
os.mkdir(p("names"))
for name in [b"with space", b"new\nline", b"tab\tname", b"a=b", b"back\\slash",
             "\u00fcn\u00efc\u00f6d\u00e9-\u65e5\u672c".encode(), b"\xff\xfe-not-utf8",
             b"-dash", b".hidden", b"n" * 255, "\u00e9".encode() * 127 + b"x"]:
    write(os.path.join(p("names"), name), name)

# A directory with many entries, over many directory blocks.
os.mkdir(p("many"))
for i in range(5000):
    write(p("many", "entry-%05d-%s" % (i, "x" * (i % 37))), b"" if i % 10 else b"%d" % i)

# Owners, including ones past 16 and 31 bits.
os.chown(p("files", "size-65"), 4000000000, 70000)
os.chown(p("dirs", "a"), 70000, 4000000000)
os.chown(p("links", "short"), 4000000000, 4000000000, follow_symlinks=False)
os.chown(p("special", "char-1-3"), 1000, 1000)
os.chown(p("special", "fifo"), 65534, 65534)
os.chown(p("names"), 12345, 54321)

# Permission bits (after chown, which clears setuid and setgid).
os.chmod(p("files", "size-1"), 0o4755)
os.chmod(p("files", "size-64"), 0o2711)
os.chmod(p("files", "size-4096"), 0o7777)
os.chmod(p("files", "size-0"), 0o000)
os.chmod(p("dirs", "empty"), 0o1777)
os.chmod(p("dirs", "a", "b"), 0o2750)

# Extended attributes.
f = p("files", "size-4097")
setx(f, "user.plain", b"value")
setx(f, "user.empty", b"")
setx(f, "user.binary", bytes(range(256)))
setx(f, "user.long", b"L" * 2000)
setx(f, "trusted.test", b"trusted value")
setx(f, "security.test", b"security value")
# Overlay xattrs of the source are escaped in the image and must come back.
setx(f, "trusted.overlay.redirect", b"/somewhere/else")
setx(f, "trusted.overlay.metacopy", b"")
setx(p("files", "size-64"), "trusted.overlay.metacopy", bytes(range(4)) + b"\0" * 32)
setx(p("files", "size-64"), "user.overlay.redirect", b"/user/redirect")
setx(p("dirs", "a", "b"), "trusted.overlay.opaque", b"y")
setx(p("dirs", "a", "b"), "trusted.overlay.redirect", b"/dirs/a/b")
for i in range(20):
    setx(p("files", "size-1"), "user.many-%02d" % i, b"v%d" % i)
setx(p("dirs"), "user.on-dir", b"dir")
setx(p("dirs"), "trusted.on-dir", b"\0\1\2")
setx(p("links", "short"), "trusted.on-symlink", b"link")
setx(p("special", "fifo"), "trusted.on-fifo", b"fifo")
setx(p("special", "char-1-3"), "trusted.on-device", b"dev")
setx(p("hardlinks", "big"), "user.shared", b"by all links")
setx(root, "user.on-root", b"root")

# Times last: nanoseconds, before 1970 and after 2038, on every entry.
TIMES = [
    1700000000123456789,
    -1234567890987654321,
    4102444800999999999,
    1,
    -1,
    2147483648000000001,
    946684800000000000,
]
stamp_times(root, TIMES)
