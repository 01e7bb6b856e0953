#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
"""dump-normalize.py VERSION [FILE]: a composefs dump in the form an image
of format VERSION gives it back, so that a dump given to mkcomposefs and the
dump `composefs-info` prints of the image compare equal. Run on both.

What writing an image and reading it back changes:
  - a mode keeps 16 bits (a dump may give more);
  - a directory's size is the size of its entries in the image (printed
    here as '*': only the image knows it) and its link count is 2 plus the
    number of its subdirectories;
  - devices, fifos and sockets have size 0;
  - a regular file stored inline (content given) or empty keeps neither
    payload nor digest: there is no object to point to;
  - xattrs come back in another order (the writer sorts them, the reader
    lists an inode's inline ones before its shared ones): sorted here;
  - from version 1 on, a directory holding a whiteout (a character device
    0:0) is marked opaque with trusted.overlay.opaque=x and
    user.overlay.opaque=x.
"""
import sys

S_IFMT, S_IFDIR, S_IFREG, S_IFCHR = 0o170000, 0o040000, 0o100000, 0o020000
S_IFBLK, S_IFIFO, S_IFSOCK = 0o060000, 0o010000, 0o140000


def parent(path):
    return path.rsplit('/', 1)[0] or '/'


def main():
    version = int(sys.argv[1])
    src = open(sys.argv[2], 'rb') if len(sys.argv) > 2 else sys.stdin.buffer
    entries = []
    for line in src.read().split(b'\n'):
        if line:
            entries.append(line.split(b' '))

    subdirs, whiteouts = {}, set()
    for f in entries:
        mode = int(f[2].lstrip(b'@'), 8)
        path = f[0].decode('latin-1')
        if path != '/' and not f[2].startswith(b'@'):
            if mode & S_IFMT == S_IFDIR:
                subdirs[parent(path)] = subdirs.get(parent(path), 0) + 1
            if mode & S_IFMT == S_IFCHR and f[6] == b'0':
                whiteouts.add(parent(path))

    out = sys.stdout.buffer
    for f in entries:
        link = f[2].startswith(b'@')
        mode = int(f[2].lstrip(b'@'), 8)
        kind = mode & S_IFMT
        path = f[0].decode('latin-1')
        xattrs = f[11:]
        f[2] = (b'@' if link else b'') + b'%o' % (mode & 0o177777)
        if kind == S_IFDIR:
            f[1] = b'*'
            f[3] = b'%d' % (2 + subdirs.get(path, 0))
            if version >= 1 and path in whiteouts:
                for x in (b'trusted.overlay.opaque=x', b'user.overlay.opaque=x'):
                    if x not in xattrs:
                        xattrs.append(x)
        elif kind in (S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK):
            f[1] = b'0'
        elif kind == S_IFREG and (f[9] != b'-' or f[1] == b'0'):
            if not link:
                f[8] = b'-'
            f[10] = b'-'
        out.write(b' '.join(f[:11] + sorted(xattrs)) + b'\n')


if __name__ == '__main__':
    main()
