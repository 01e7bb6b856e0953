/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Writing a node tree as composefs-dump(5) text, byte for byte what the
 * reference's `composefs-info dump` prints for the same tree. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>

#include "tree/node_i.h"
#include "base/util.h"

/* Output is assembled here and handed to stdio in large pieces: a dump
 * has millions of tiny fields and escapes. */
#define OUT_BUF_SIZE (256 * 1024)
/* The most one input byte can become (\xHH). */
#define ESCAPED_MAX 4

enum {
	ESCAPE_EQUAL = 1 << 0, /* '=' too (xattr names and values) */
	ESCAPE_LONE_DASH = 1 << 1, /* a value "-" would read as absent */
};

struct dump_out {
	FILE *f;
	char *buf;
	size_t len;
	int error;

	/* Unescaped path of the node being printed, "" for the root. */
	char *path;
	size_t path_len;
	size_t path_cap;

	char *link_path;
	size_t link_path_cap;
};

/* The error of a failed stdio call: its errno where it set one. */
static int stdio_error(void)
{
	return errno > 0 ? -errno : -EIO;
}

static void out_flush(struct dump_out *o)
{
	errno = 0;
	if (o->len > 0 && fwrite(o->buf, 1, o->len, o->f) != o->len &&
	    o->error == 0)
		o->error = stdio_error();
	o->len = 0;
}

static inline char *out_reserve(struct dump_out *o, size_t n)
{
	if (OUT_BUF_SIZE - o->len < n)
		out_flush(o);
	return o->buf + o->len;
}

static inline void out_char(struct dump_out *o, char c)
{
	*out_reserve(o, 1) = c;
	o->len++;
}

static void out_mem(struct dump_out *o, const char *s, size_t len)
{
	while (len > 0) {
		size_t n = MIN(len, (size_t)OUT_BUF_SIZE);

		memcpy(out_reserve(o, n), s, n);
		o->len += n;
		s += n;
		len -= n;
	}
}

static void out_uint(struct dump_out *o, uint64_t v, unsigned base)
{
	char tmp[24], *p = tmp + sizeof(tmp);

	do {
		*--p = (char)('0' + v % base);
		v /= base;
	} while (v != 0);
	out_mem(o, p, tmp + sizeof(tmp) - p);
}

static void out_int(struct dump_out *o, int64_t v)
{
	if (v < 0) {
		out_char(o, '-');
		out_uint(o, 0 - (uint64_t)v, 10);
	} else {
		out_uint(o, (uint64_t)v, 10);
	}
}

/* How each byte is written: 0 as itself, 'x' as \xHH, another character
 * c as \c. Printable ASCII other than space stays as is (isgraph in the C
 * locale); '=' is decided by the caller. */
static const char escape_kind[256] = {
	[0x00 ... 0x08] = 'x', ['\t'] = 't',	      ['\n'] = 'n',
	[0x0b ... 0x0c] = 'x', ['\r'] = 'r',	      [0x0e ... ' '] = 'x',
	['\\'] = '\\',	       [0x7f ... 0xff] = 'x',
};

static void out_escaped(struct dump_out *o, const uint8_t *s, size_t len,
			unsigned flags)
{
	static const char hex[] = "0123456789abcdef";
	bool escape_equal = (flags & ESCAPE_EQUAL) != 0;

	if ((flags & ESCAPE_LONE_DASH) && len == 1 && s[0] == '-') {
		out_mem(o, "\\x2d", 4);
		return;
	}
	while (len > 0) {
		/* room for the worst case of a whole chunk, so that the
		 * loop below need not check */
		size_t n = MIN(len, (size_t)OUT_BUF_SIZE / ESCAPED_MAX);
		char *d = out_reserve(o, n * ESCAPED_MAX), *start = d;

		for (size_t i = 0; i < n; i++) {
			uint8_t c = s[i];
			char kind = escape_kind[c];

			if (c == '=' && escape_equal)
				kind = 'x';
			if (kind == 0) {
				*d++ = (char)c;
			} else if (kind != 'x') {
				*d++ = '\\';
				*d++ = kind;
			} else {
				*d++ = '\\';
				*d++ = 'x';
				*d++ = hex[c >> 4];
				*d++ = hex[c & 0xf];
			}
		}
		o->len += d - start;
		s += n;
		len -= n;
	}
}

static void out_escaped_str(struct dump_out *o, const char *s, unsigned flags)
{
	out_escaped(o, (const uint8_t *)s, strlen(s), flags);
}

static int grow(char **buf, size_t *cap, size_t need)
{
	char *n;
	size_t new_cap;

	if (need <= *cap)
		return 0;
	new_cap = MAX(need, 2 * *cap);
	n = realloc(*buf, new_cap);
	if (n == NULL)
		return -ENOMEM;
	*buf = n;
	*cap = new_cap;
	return 0;
}

/* The absolute path of node ("/a/b"), in o->link_path. */
static const char *link_target_path(struct dump_out *o,
				    const struct cfs_node *node)
{
	size_t len = 0;
	char *p;

	for (const struct cfs_node *n = node; n->parent != NULL; n = n->parent)
		len += 1 + strlen(n->name);
	if (grow(&o->link_path, &o->link_path_cap, len + 1) < 0)
		return NULL;
	p = o->link_path + len;
	*p = '\0';
	for (const struct cfs_node *n = node; n->parent != NULL;
	     n = n->parent) {
		size_t name_len = strlen(n->name);

		p -= name_len;
		memcpy(p, n->name, name_len);
		*--p = '/';
	}
	return o->link_path;
}

static void print_node(struct dump_out *o, const struct cfs_node *node)
{
	const struct cfs_node *inode = node;
	const char *link_path = NULL;

	/* A hard link shows the inode it names, and that inode's path. */
	while (inode->link_to != NULL)
		inode = inode->link_to;
	if (inode != node) {
		link_path = link_target_path(o, inode);
		if (link_path == NULL) {
			o->error = -ENOMEM;
			return;
		}
	}

	if (o->path_len == 0)
		out_char(o, '/');
	else
		out_escaped(o, (const uint8_t *)o->path, o->path_len, 0);
	out_char(o, ' ');
	out_uint(o, inode->size, 10);
	out_char(o, ' ');
	if (link_path != NULL)
		out_char(o, '@');
	out_uint(o, inode->mode, 8);
	out_char(o, ' ');
	out_uint(o, inode->nlink, 10);
	out_char(o, ' ');
	out_uint(o, inode->uid, 10);
	out_char(o, ' ');
	out_uint(o, inode->gid, 10);
	out_char(o, ' ');
	out_uint(o, inode->rdev, 10);
	out_char(o, ' ');
	out_int(o, inode->mtime_sec);
	out_char(o, '.');
	out_uint(o, inode->mtime_nsec, 10);
	out_char(o, ' ');

	if (link_path != NULL)
		out_escaped_str(o, link_path, ESCAPE_LONE_DASH);
	else if (inode->payload != NULL)
		out_escaped_str(o, inode->payload, ESCAPE_LONE_DASH);
	else
		out_char(o, '-');
	out_char(o, ' ');
	if (inode->content != NULL)
		out_escaped(o, inode->content, inode->size, ESCAPE_LONE_DASH);
	else
		out_char(o, '-');
	out_char(o, ' ');
	if (inode->has_digest) {
		char hex[CFS_DIGEST_HEX_MAX_SIZE];
		static const char digits[] = "0123456789abcdef";
		size_t size = cfsi_node_digest_size(inode);

		for (size_t i = 0; i < size; i++) {
			hex[2 * i] = digits[inode->digest_full[i] >> 4];
			hex[2 * i + 1] = digits[inode->digest_full[i] & 0xf];
		}
		out_mem(o, hex, 2 * size);
	} else {
		out_char(o, '-');
	}
	for (size_t i = 0; i < inode->n_xattrs; i++) {
		const struct cfs_xattr *x = &inode->xattrs[i];

		out_char(o, ' ');
		out_escaped_str(o, x->name, ESCAPE_EQUAL);
		out_char(o, '=');
		out_escaped(o, x->value, x->len, ESCAPE_EQUAL);
	}
	out_char(o, '\n');

	for (size_t i = 0; i < node->n_children && o->error == 0; i++) {
		const struct cfs_node *child = node->children[i];
		size_t saved = o->path_len, name_len = strlen(child->name);

		if (grow(&o->path, &o->path_cap, saved + name_len + 2) < 0) {
			o->error = -ENOMEM;
			return;
		}
		o->path[saved] = '/';
		memcpy(o->path + saved + 1, child->name, name_len);
		o->path_len = saved + 1 + name_len;
		print_node(o, child);
		o->path_len = saved;
	}
}

int cfs_dump_print(const struct cfs_node *root, FILE *out)
{
	struct dump_out o = { .f = out };

	o.buf = malloc(OUT_BUF_SIZE);
	if (o.buf == NULL)
		return -ENOMEM;
	print_node(&o, root);
	out_flush(&o);
	free(o.buf);
	free(o.path);
	free(o.link_path);
	errno = 0;
	if (o.error == 0 && (fflush(out) != 0 || ferror(out)))
		o.error = stdio_error();
	return o.error;
}
