#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
"""dump-expect.py ls|objects [FILE]: what `composefs-info ls` and
`composefs-info objects` print for an image of the composefs dump FILE,
worked out from the dump alone.

ls prints each path but the root (a space as is, other bytes outside
printable ASCII escaped as in a dump), then for a directory "/" and a tab,
for a symlink a tab, "-> " and its target, for a regular file with an
object a tab, "@ " and the object path (these two escaped as in a dump);
a second name of a hard-linked inode shows the bare path. objects prints
the object paths of the regular files, sorted bytewise, each once.
"""
import sys

S_IFMT, S_IFDIR, S_IFREG, S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000
SPECIAL = {ord('\\'): b'\\\\', ord('\n'): b'\\n', ord('\r'): b'\\r',
           ord('\t'): b'\\t'}


def unescape(field):
    out, i = bytearray(), 0
    while i < len(field):
        c = field[i]
        if c == ord('\\') and i + 1 < len(field):
            n = chr(field[i + 1])
            if n == 'x':
                out.append(int(field[i + 2:i + 4], 16))
                i += 4
                continue
            out += {'n': b'\n', 'r': b'\r', 't': b'\t'}.get(n, n.encode())
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


SAFE = bytes(range(0x21, 0x7f)).replace(b'\\', b'')


def escape(raw, keep_space):
    if not raw.translate(None, SAFE + (b' ' if keep_space else b'')):
        return raw
    out = bytearray()
    for c in raw:
        if c in SPECIAL:
            out += SPECIAL[c]
        elif 0x20 < c < 0x7f or (c == 0x20 and keep_space):
            out.append(c)
        else:
            out += b'\\x%02x' % c
    return bytes(out)


def main():
    what = sys.argv[1]
    src = open(sys.argv[2], 'rb') if len(sys.argv) > 2 else sys.stdin.buffer
    out = sys.stdout.buffer
    objects = set()
    for line in src.read().split(b'\n'):
        if not line:
            continue
        f = line.split(b' ')
        link = f[2].startswith(b'@')
        kind = int(f[2].lstrip(b'@'), 8) & S_IFMT
        path = unescape(f[0])
        payload = None if f[8] == b'-' else unescape(f[8])
        if what == 'objects':
            if kind == S_IFREG and not link and payload is not None:
                objects.add(payload)
            continue
        if path == b'/':
            continue
        out.write(escape(path, True))
        if link:
            pass
        elif kind == S_IFDIR:
            out.write(b'/\t')
        elif kind == S_IFLNK:
            out.write(b'\t-> ' + escape(payload, False))
        elif kind == S_IFREG and payload is not None:
            out.write(b'\t@ ' + escape(payload, False))
        out.write(b'\n')
    for o in sorted(objects):
        out.write(o + b'\n')


if __name__ == '__main__':
    main()
