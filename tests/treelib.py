# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
"""What the source-tree generators (gen-tree.py, mount-tree.py) share."""
import os
import socket


class Tree:
    """Paths under one root, given as str or bytes components."""

    def __init__(self, root):
        self.root = os.fsencode(root)

    def p(self, *parts):
        return os.path.join(self.root, *[os.fsencode(x) for x in parts])


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def setx(path, name, value):
    os.setxattr(path, name, value, follow_symlinks=False)


def make_socket(path):
    """A bound Unix socket at path (bound from its directory: a socket path
    is limited to about 100 bytes)."""
    cwd = os.getcwd()
    os.chdir(os.path.dirname(path))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.path.basename(path))
    finally:
        sock.close()
        os.chdir(cwd)


def stamp_times(root, times):
    """Give every entry under root (root too) one of times (ns since the
    epoch) as atime and mtime, in turn; done last, as any change to a
    directory resets its mtime."""
    paths = [root]
    for dirpath, dirnames, filenames in os.walk(root):
        paths += [os.path.join(dirpath, n) for n in dirnames + filenames]
    paths.sort()
    for i, path in enumerate(reversed(paths)):
        t = times[i % len(times)]
        os.utime(path, ns=(t, t), follow_symlinks=False)
