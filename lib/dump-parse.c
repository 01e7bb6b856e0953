/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Reading composefs-dump(5) text into a node tree.
 *
 * What is accepted and refused follows the reference parser
 * (mkcomposefs --from-file), with these deliberate differences, all of them
 * refusing input the reference lets through by accident:
 *  - integers are plain digits that must fit their field (the reference uses
 *    strtoull, which also takes signs, leading blanks and silently saturates
 *    on overflow, and it ignores a bad GID or RDEV when UID is non-zero);
 *    only MTIME's seconds may carry a '-', because the printer writes
 *    negative times;
 *  - DIGEST must be '-', empty or exactly 64 hex digits (the reference
 *    takes any run of hex digits, or garbage, and stores what it decoded);
 *  - a hard link to a directory is refused (the reference writes an image
 *    with a hard-linked directory);
 *  - a regular file too large for the image is refused here, with a line
 *    number, instead of when the image is written.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>

#include "node_i.h"
#include "util.h"

enum dump_field {
	FIELD_PATH,
	FIELD_SIZE,
	FIELD_MODE,
	FIELD_NLINK,
	FIELD_UID,
	FIELD_GID,
	FIELD_RDEV,
	FIELD_MTIME,
	FIELD_PAYLOAD,
	FIELD_CONTENT,
	FIELD_DIGEST,
	N_FIXED_FIELDS,
	FIELD_XATTR = N_FIXED_FIELDS,
};

static const char *const field_names[] = {
	"PATH", "SIZE",	 "MODE",    "NLINK",   "UID",	 "GID",
	"RDEV", "MTIME", "PAYLOAD", "CONTENT", "DIGEST", "XATTR",
};

/* A regular file without inline content is described by at most 1024
 * chunk indexes of at most 2^43 bytes each (EROFS chunk format), so no
 * image can hold a larger one. */
#define DUMP_FILE_SIZE_MAX (UINT64_C(1) << 53)

/* The reference refuses a line whose xattr text (still escaped) is longer
 * than this; keep the same limit so that the same dumps are accepted. */
#define DUMP_XATTR_TEXT_MAX UINT16_MAX

struct field {
	const char *data;
	size_t len;
};

/* Hard links are resolved once the whole dump is read, since a link may come
 * before its target. The target path is kept escaped, pointing into the
 * input, which outlives the parse; it was already checked to unescape. */
struct hardlink_fixup {
	struct cfs_node *node; /* borrowed from the tree */
	const char *target;
	size_t target_len;
	size_t line_no;
};

struct dump_parser {
	const char *name;
	bool strict;
	size_t line_no;
	struct cfs_error *err;

	struct cfs_node *root;

	/* Unescaped fields of the current line go here, one after another. */
	char *scratch;
	size_t scratch_cap;

	/* Dumps list a directory's entries right after it, so the directory
	 * of the previous line (and its normalised path, "" for the root,
	 * "a/b" below it) is almost always the parent of the next one or
	 * close to it in the tree. */
	struct cfs_node *dir;
	char *dir_path;
	size_t dir_path_len;
	size_t dir_path_cap;

	struct hardlink_fixup *fixups;
	size_t n_fixups;
	size_t fixups_cap;
};

static int __attribute__((format(printf, 3, 4)))
parse_error(struct dump_parser *p, int errnum, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	if (p->err == NULL)
		return errnum;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cfs_error_set(p->err, errnum, "%s:%zu: %s", p->name, p->line_no,
			     msg);
}

/* A short printable rendering of untrusted bytes, for messages. */
struct shown {
	char s[80];
};

static const char *show(struct shown *b, const char *data, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = data[i];

		if (o + 8 >= sizeof(b->s)) {
			memcpy(b->s + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			b->s[o++] = c;
		} else {
			snprintf(b->s + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	b->s[o] = '\0';
	return b->s;
}

/* Decode field f into out, which must have room for len + 1 bytes. The
 * result is NUL-terminated; an embedded \x00 makes C-string users see it
 * shorter, exactly as with the reference. */
static int unescape(struct dump_parser *p, enum dump_field f, const char *in,
		    size_t len, char *out, size_t *ret_len)
{
	const char *end = in + len;
	char *o = out;
	struct shown sh;

	while (in < end) {
		const char *bs = memchr(in, '\\', end - in);
		size_t n = (bs != NULL ? bs : end) - in;
		int hi, lo;

		memcpy(o, in, n);
		o += n;
		in += n;
		if (bs == NULL)
			break;
		if (++in == end)
			return parse_error(p, -EINVAL,
					   "backslash at the end of field %s",
					   field_names[f]);
		switch (*in++) {
		case '\\':
			*o++ = '\\';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'x':
			if (end - in < 2)
				return parse_error(
					p, -EINVAL,
					"incomplete \\x escape in field %s",
					field_names[f]);
			hi = hex_value(in[0]);
			lo = hex_value(in[1]);
			if (hi < 0 || lo < 0)
				return parse_error(
					p, -EINVAL,
					"invalid escape '\\x%s' in field %s",
					show(&sh, in, 2), field_names[f]);
			*o++ = (char)(hi << 4 | lo);
			in += 2;
			break;
		default:
			return parse_error(p, -EINVAL,
					   "invalid escape '\\%s' in field %s",
					   show(&sh, in - 1, 1),
					   field_names[f]);
		}
	}
	*o = '\0';
	if (ret_len != NULL)
		*ret_len = o - out;
	return 0;
}

static bool is_absent(const struct field *f)
{
	return f->len == 1 && f->data[0] == '-';
}

/* Digits in base 8 or 10 whose value fits in max. */
static int parse_uint(struct dump_parser *p, enum dump_field f, const char *s,
		      size_t len, unsigned base, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	struct shown sh;

	if (len == 0)
		return parse_error(p, -EINVAL, "empty field %s",
				   field_names[f]);
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d >= base)
			return parse_error(p, -EINVAL,
					   "invalid integer '%s' in field %s",
					   show(&sh, s, len), field_names[f]);
		if (v > (max - d) / base)
			return parse_error(
				p, -ERANGE,
				"integer '%s' out of range in field %s",
				show(&sh, s, len), field_names[f]);
		v = v * base + d;
	}
	*ret = v;
	return 0;
}

static int parse_field_uint(struct dump_parser *p, const struct field *fields,
			    enum dump_field f, uint64_t max, uint64_t *ret)
{
	return parse_uint(p, f, fields[f].data, fields[f].len, 10, max, ret);
}

/* SEC.NSEC, where SEC may be negative. */
static int parse_mtime(struct dump_parser *p, const struct field *field,
		       int64_t *ret_sec, uint32_t *ret_nsec)
{
	const char *s = field->data, *dot;
	size_t len = field->len;
	bool negative = len > 0 && s[0] == '-';
	uint64_t sec, nsec;
	int r;

	dot = memchr(s, '.', len);
	if (dot == NULL) {
		struct shown sh;

		return parse_error(
			p, -EINVAL,
			"invalid time '%s' in field MTIME (want SEC.NSEC)",
			show(&sh, s, len));
	}
	r = parse_uint(p, FIELD_MTIME, s + negative, dot - s - negative, 10,
		       negative ? (uint64_t)INT64_MAX + 1 : INT64_MAX, &sec);
	if (r < 0)
		return r;
	r = parse_uint(p, FIELD_MTIME, dot + 1, s + len - dot - 1, 10,
		       UINT32_MAX, &nsec);
	if (r < 0)
		return r;
	*ret_sec = negative ? (int64_t)(0 - sec) : (int64_t)sec;
	*ret_nsec = (uint32_t)nsec;
	return 0;
}

static int parse_digest(struct dump_parser *p, const char *hex, size_t len,
			uint8_t ret[CFS_DIGEST_SIZE])
{
	struct shown sh;

	if (len != 2 * CFS_DIGEST_SIZE)
		goto invalid;
	for (size_t i = 0; i < CFS_DIGEST_SIZE; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			goto invalid;
		ret[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
invalid:
	return parse_error(
		p, -EINVAL,
		"invalid digest '%s' in field DIGEST (want 64 hex digits or '-')",
		show(&sh, hex, len));
}

/* Drop leading slashes and fold runs of slashes into one, in place, so
 * that "//a//b" names the same file as "/a/b" (as with the reference).
 * Returns the new length. */
static size_t normalize_path(char *path)
{
	char *r = path, *w = path;

	while (*r == '/')
		r++;
	while (*r != '\0') {
		if (*r == '/') {
			*w++ = '/';
			while (*r == '/')
				r++;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return w - path;
}

/* The child of dir named by the component [name, name + len); NULL if
 * there is none (a name too long to exist included). */
static struct cfs_node *lookup_component(const struct cfs_node *dir,
					 const char *name, size_t len)
{
	char buf[CFS_NAME_MAX + 1];

	if (len > CFS_NAME_MAX)
		return NULL;
	memcpy(buf, name, len);
	buf[len] = '\0';
	return cfs_node_lookup_child(dir, buf);
}

static int remember_dir(struct dump_parser *p, struct cfs_node *dir,
			const char *path, size_t len)
{
	if (len + 1 > p->dir_path_cap) {
		size_t cap = MAX(len + 1, 2 * p->dir_path_cap);
		char *n = realloc(p->dir_path, cap);

		if (n == NULL)
			return parse_error(p, -ENOMEM, "out of memory");
		p->dir_path = n;
		p->dir_path_cap = cap;
	}
	memcpy(p->dir_path, path, len);
	p->dir_path[len] = '\0';
	p->dir_path_len = len;
	p->dir = dir;
	return 0;
}

/* Find the directory at the normalised path [path, path + len), starting
 * from the remembered directory: climb to the deepest ancestor the two
 * paths share, then walk down the rest. */
static int find_dir(struct dump_parser *p, const char *path, size_t len,
		    struct cfs_node **ret_dir)
{
	const char *cached = p->dir_path;
	size_t cached_len = p->dir_path_len, n = MIN(len, cached_len);
	size_t i = 0, shared, pos;
	struct cfs_node *node = p->dir;
	struct shown sh;

	while (i < n && cached[i] == path[i])
		i++;
	if (i == n && (i == len || path[i] == '/') &&
	    (i == cached_len || cached[i] == '/')) {
		shared = i;
	} else {
		/* back to the last separator both paths have */
		shared = i;
		while (shared > 0 && path[shared - 1] != '/')
			shared--;
		if (shared > 0)
			shared--;
	}
	if (shared == 0) {
		node = p->root;
	} else {
		for (size_t j = shared; j < cached_len; j++)
			if (cached[j] == '/')
				node = node->parent;
	}
	if (shared == len && shared == cached_len) {
		*ret_dir = node;
		return 0;
	}

	pos = shared;
	while (pos < len) {
		const char *comp, *slash;
		size_t comp_len;
		struct cfs_node *child;

		if (path[pos] == '/')
			pos++;
		comp = path + pos;
		slash = memchr(comp, '/', len - pos);
		comp_len = (slash != NULL ? (size_t)(slash - comp) : len - pos);
		child = lookup_component(node, comp, comp_len);
		if (child == NULL)
			return parse_error(
				p, -ENOENT,
				"parent directory '/%s' not defined before this line",
				show(&sh, path, pos + comp_len));
		if (!cfs_node_is_dir(child))
			return parse_error(p, -ENOTDIR,
					   "parent '/%s' is not a directory",
					   show(&sh, path, pos + comp_len));
		node = child;
		pos += comp_len;
	}
	*ret_dir = node;
	return remember_dir(p, node, path, len);
}

/* Put node (the caller's reference, taken over in all cases) at path. */
static int add_node(struct dump_parser *p, char *path, struct cfs_node *node)
{
	struct cfs_node *parent = NULL;
	const char *name;
	size_t len, name_len;
	char *slash;
	struct shown sh;
	int r;

	if (strcmp(path, "/") == 0) {
		if (!cfs_node_is_dir(node))
			r = parse_error(p, -ENOTDIR,
					"the root must be a directory");
		else if (p->root != NULL)
			r = parse_error(p, -EEXIST, "a second root directory");
		else {
			p->root = node;
			return remember_dir(p, node, "", 0);
		}
		cfs_node_unref(node);
		return r;
	}
	if (p->root == NULL) {
		cfs_node_unref(node);
		return parse_error(
			p, -EINVAL,
			"the first line must be the root directory '/'");
	}

	len = normalize_path(path);
	slash = memrchr(path, '/', len);
	name = slash != NULL ? slash + 1 : path;
	name_len = path + len - name;
	r = find_dir(p, path, slash != NULL ? (size_t)(slash - path) : 0,
		     &parent);
	if (r < 0)
		goto fail;
	if (name_len == 0)
		r = parse_error(p, -EINVAL, "empty file name in field PATH");
	else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		r = parse_error(p, -EINVAL, "file name '%s' in field PATH",
				name);
	else if (name_len > CFS_NAME_MAX)
		r = parse_error(p, -ENAMETOOLONG,
				"file name longer than %d bytes in field PATH",
				CFS_NAME_MAX);
	if (r < 0)
		goto fail;

	r = cfs_node_add_child(parent, node, name);
	if (r == -EEXIST) {
		r = parse_error(p, r, "duplicate path '/%s'",
				show(&sh, path, len));
		goto fail;
	} else if (r < 0) {
		r = parse_error(p, r, "cannot add '/%s': %s",
				show(&sh, path, len), strerror(-r));
		goto fail;
	}
	if (cfs_node_is_dir(node))
		return remember_dir(p, node, path, len);
	return 0;
fail:
	cfs_node_unref(node);
	return r;
}

static int add_fixup(struct dump_parser *p, struct cfs_node *node,
		     const struct field *target)
{
	if (p->n_fixups == p->fixups_cap) {
		size_t cap = p->fixups_cap ? 2 * p->fixups_cap : 64;
		struct hardlink_fixup *n = reallocarray(p->fixups, cap,
							sizeof(*n));

		if (n == NULL)
			return parse_error(p, -ENOMEM, "out of memory");
		p->fixups = n;
		p->fixups_cap = cap;
	}
	p->fixups[p->n_fixups++] = (struct hardlink_fixup){
		.node = node,
		.target = target->data,
		.target_len = target->len,
		.line_no = p->line_no,
	};
	return 0;
}

/* NAME=VALUE: '=' inside NAME is escaped, the first bare one splits. */
static int parse_xattr(struct dump_parser *p, struct cfs_node *node,
		       const char *text, size_t len, char *scratch)
{
	const char *eq = memchr(text, '=', len);
	char *key = scratch, *value;
	size_t key_len, value_len;
	struct shown sh;
	int r;

	if (eq == NULL)
		return parse_error(p, -EINVAL,
				   "xattr '%s' has no '=' (want NAME=VALUE)",
				   show(&sh, text, len));
	r = unescape(p, FIELD_XATTR, text, eq - text, key, NULL);
	if (r < 0)
		return r;
	key_len = strlen(key);
	value = key + (eq - text) + 1;
	r = unescape(p, FIELD_XATTR, eq + 1, text + len - eq - 1, value,
		     &value_len);
	if (r < 0)
		return r;
	if (key_len == 0)
		return parse_error(p, -EINVAL, "empty xattr name");
	if (key_len > CFS_NAME_MAX)
		return parse_error(p, -ERANGE,
				   "xattr name '%s' longer than %d bytes",
				   show(&sh, key, key_len), CFS_NAME_MAX);
	r = cfs_node_set_xattr(node, key, value, value_len);
	if (r == -ERANGE)
		return parse_error(p, r,
				   "xattrs take more than %d bytes (at '%s')",
				   CFS_XATTR_EXTERNAL_MAX,
				   show(&sh, key, key_len));
	if (r < 0)
		return parse_error(p, r, "cannot set xattr '%s': %s",
				   show(&sh, key, key_len), strerror(-r));
	return 0;
}

/* Everything but the path, mode and hard link target, which the caller
 * has handled. */
static int parse_inode_fields(struct dump_parser *p, struct cfs_node *node,
			      const struct field *fields, const char *rest,
			      size_t rest_len, char *scratch)
{
	uint32_t type = node->mode & S_IFMT;
	uint64_t size = 0, nlink = 0, uid = 0, gid = 0, rdev = 0;
	int64_t sec = 0;
	uint32_t nsec = 0;
	char *payload = NULL, *content = NULL;
	size_t content_len = 0;
	uint8_t digest[CFS_DIGEST_SIZE];
	bool has_digest = false;
	int r;

	if ((r = parse_field_uint(p, fields, FIELD_SIZE, UINT64_MAX, &size)) <
		    0 ||
	    (r = parse_field_uint(p, fields, FIELD_NLINK, UINT32_MAX, &nlink)) <
		    0 ||
	    (r = parse_field_uint(p, fields, FIELD_UID, UINT32_MAX, &uid)) <
		    0 ||
	    (r = parse_field_uint(p, fields, FIELD_GID, UINT32_MAX, &gid)) <
		    0 ||
	    (r = parse_field_uint(p, fields, FIELD_RDEV, UINT64_MAX, &rdev)) <
		    0 ||
	    (r = parse_mtime(p, &fields[FIELD_MTIME], &sec, &nsec)) < 0)
		return r;

	if (!is_absent(&fields[FIELD_PAYLOAD])) {
		payload = scratch;
		r = unescape(p, FIELD_PAYLOAD, fields[FIELD_PAYLOAD].data,
			     fields[FIELD_PAYLOAD].len, payload, NULL);
		if (r < 0)
			return r;
		scratch += fields[FIELD_PAYLOAD].len + 1;
	}
	if (!is_absent(&fields[FIELD_CONTENT])) {
		content = scratch;
		r = unescape(p, FIELD_CONTENT, fields[FIELD_CONTENT].data,
			     fields[FIELD_CONTENT].len, content, &content_len);
		if (r < 0)
			return r;
		scratch += fields[FIELD_CONTENT].len + 1;
		if (content_len != size)
			return parse_error(
				p, -EINVAL,
				"content is %zu bytes but SIZE is %llu (field CONTENT)",
				content_len, (unsigned long long)size);
	}
	/* The reference takes an empty DIGEST (typically a line that ends
	 * after CONTENT) as no digest; so do we. */
	if (!is_absent(&fields[FIELD_DIGEST]) && fields[FIELD_DIGEST].len > 0) {
		size_t hex_len;

		r = unescape(p, FIELD_DIGEST, fields[FIELD_DIGEST].data,
			     fields[FIELD_DIGEST].len, scratch, &hex_len);
		if (r < 0)
			return r;
		r = parse_digest(p, scratch, hex_len, digest);
		if (r < 0)
			return r;
		has_digest = true;
	}

	if (type != S_IFLNK)
		cfs_node_set_size(node, size);
	cfs_node_set_nlink(node, (uint32_t)nlink);
	cfs_node_set_uid(node, (uint32_t)uid);
	cfs_node_set_gid(node, (uint32_t)gid);
	if (type == S_IFCHR || type == S_IFBLK)
		cfs_node_set_rdev(node, rdev);
	else if (p->strict && rdev != 0)
		return parse_error(
			p, -EINVAL,
			"non-zero RDEV on a file that is not a device (field RDEV)");
	cfs_node_set_mtime(node, sec, nsec);

	if (type == S_IFLNK) {
		if (payload == NULL || *payload == '\0')
			return parse_error(
				p, -EINVAL,
				"symlink without a target (field PAYLOAD)");
		r = cfs_node_set_symlink_target(node, payload);
		if (r == -ENAMETOOLONG)
			return parse_error(
				p, r,
				"symlink target longer than %d bytes (field PAYLOAD)",
				CFS_PAYLOAD_MAX);
		if (r < 0)
			return parse_error(p, r, "invalid symlink target: %s",
					   strerror(-r));
		if (p->strict && size != node->size)
			return parse_error(
				p, -EINVAL,
				"symlink SIZE %llu differs from its target's length %llu (field SIZE)",
				(unsigned long long)size,
				(unsigned long long)node->size);
		if (p->strict && content_len > 0)
			return parse_error(
				p, -EINVAL,
				"a symlink cannot have content (field CONTENT)");
	} else {
		/* An empty payload names no object: the reference's image
		 * ends up without one too. */
		if (payload != NULL && *payload == '\0')
			payload = NULL;
		r = cfs_node_set_payload(node, payload);
		if (r == -ENAMETOOLONG)
			return parse_error(
				p, r,
				"payload longer than %d bytes (field PAYLOAD)",
				CFS_PAYLOAD_MAX);
		if (r < 0)
			return parse_error(p, r, "out of memory");
		if (content_len > CFS_INLINE_CONTENT_MAX)
			return parse_error(
				p, -EFBIG,
				"inline content of %zu bytes exceeds the maximum of %d (field CONTENT)",
				content_len, CFS_INLINE_CONTENT_MAX);
		if (content_len > 0) {
			r = cfs_node_set_content(node, (const uint8_t *)content,
						 content_len);
			if (r < 0)
				return parse_error(p, r, "out of memory");
		}
		if (type == S_IFREG && content_len == 0 &&
		    size > DUMP_FILE_SIZE_MAX)
			return parse_error(
				p, -EFBIG,
				"file size %llu exceeds the maximum of %llu (field SIZE)",
				(unsigned long long)size,
				(unsigned long long)DUMP_FILE_SIZE_MAX);
	}
	if (has_digest)
		cfs_node_set_digest(node, digest);

	if (rest_len > DUMP_XATTR_TEXT_MAX)
		return parse_error(p, -ERANGE,
				   "xattrs take more than %d bytes of text",
				   DUMP_XATTR_TEXT_MAX);
	/* One trailing space is tolerated, an empty xattr between two
	 * spaces is not (both as the reference). */
	while (rest_len > 0) {
		const char *sp = memchr(rest, ' ', rest_len);
		size_t len = (sp != NULL ? (size_t)(sp - rest) : rest_len);

		r = parse_xattr(p, node, rest, len, scratch);
		if (r < 0)
			return r;
		rest += len;
		rest_len -= len;
		if (sp != NULL) {
			rest++;
			rest_len--;
		}
	}
	return 0;
}

static int ensure_scratch(struct dump_parser *p, size_t len)
{
	/* Each unescaped field is no longer than its text, plus a NUL. */
	size_t need = len + 2 * N_FIXED_FIELDS + 16;

	if (need > p->scratch_cap) {
		size_t cap = MAX(need, 2 * p->scratch_cap);
		char *n = realloc(p->scratch, cap);

		if (n == NULL)
			return parse_error(p, -ENOMEM, "out of memory");
		p->scratch = n;
		p->scratch_cap = cap;
	}
	return 0;
}

static int parse_line(struct dump_parser *p, const char *line, size_t len)
{
	struct field fields[N_FIXED_FIELDS];
	const char *rest = line, *nul, *mode_text;
	size_t rest_len = len, mode_len, path_len;
	bool is_hardlink, more = true;
	uint64_t mode;
	struct cfs_node *node;
	char *path, *scratch;
	int r;

	nul = memchr(line, '\0', len);
	if (nul != NULL)
		return parse_error(p, -EINVAL, "NUL byte at column %zu",
				   (size_t)(nul - line) + 1);
	r = ensure_scratch(p, len);
	if (r < 0)
		return r;

	/* Missing trailing fields read as empty ones (as the reference):
	 * the numbers then refuse them, while an empty PAYLOAD, CONTENT or
	 * DIGEST means none. */
	for (size_t i = 0; i < N_FIXED_FIELDS; i++) {
		const char *sp;
		size_t flen;

		if (!more) {
			fields[i] = (struct field){ rest, 0 };
			continue;
		}
		sp = memchr(rest, ' ', rest_len);
		flen = (sp != NULL ? (size_t)(sp - rest) : rest_len);
		fields[i] = (struct field){ rest, flen };
		if (sp != NULL) {
			rest = sp + 1;
			rest_len -= flen + 1;
		} else {
			more = false;
			rest += flen;
			rest_len = 0;
		}
	}

	path = p->scratch;
	r = unescape(p, FIELD_PATH, fields[FIELD_PATH].data,
		     fields[FIELD_PATH].len, path, &path_len);
	if (r < 0)
		return r;
	if (*path == '\0')
		return parse_error(p, -EINVAL, "empty field PATH");
	scratch = path + path_len + 1;

	mode_text = fields[FIELD_MODE].data;
	mode_len = fields[FIELD_MODE].len;
	is_hardlink = mode_len > 0 && mode_text[0] == '@';
	r = parse_uint(p, FIELD_MODE, mode_text + is_hardlink,
		       mode_len - is_hardlink, 8, UINT32_MAX, &mode);
	if (r < 0)
		return r;
	node = cfs_node_new();
	if (node == NULL)
		return parse_error(p, -ENOMEM, "out of memory");
	if (cfs_node_set_mode(node, (uint32_t)mode) < 0) {
		cfs_node_unref(node);
		return parse_error(
			p, -EINVAL,
			"invalid file type in mode %llo (field MODE)",
			(unsigned long long)mode);
	}
	/* The tree owns node from here on, even when this fails. */
	r = add_node(p, path, node);
	if (r < 0)
		return r;

	/* A hard link line only names its target: its other fields are
	 * ignored, as the format says. */
	if (is_hardlink) {
		const struct field *target = &fields[FIELD_PAYLOAD];

		if (cfs_node_is_dir(node))
			return parse_error(
				p, -EINVAL,
				"a directory cannot be a hard link (field MODE)");
		if (is_absent(target))
			return parse_error(
				p, -EINVAL,
				"hard link without a target (field PAYLOAD)");
		r = unescape(p, FIELD_PAYLOAD, target->data, target->len,
			     scratch, NULL);
		if (r < 0)
			return r;
		return add_fixup(p, node, target);
	}

	return parse_inode_fields(p, node, fields, rest, rest_len, scratch);
}

/* The node at a hard link's target path, leading and repeated slashes
 * ignored like everywhere else. */
static struct cfs_node *lookup_path(struct cfs_node *root, const char *path)
{
	struct cfs_node *node = root;

	while (node != NULL) {
		const char *end;

		while (*path == '/')
			path++;
		if (*path == '\0')
			break;
		end = strchrnul(path, '/');
		node = lookup_component(node, path, end - path);
		path = end;
	}
	return node;
}

static int resolve_hardlinks(struct dump_parser *p)
{
	for (size_t i = 0; i < p->n_fixups; i++) {
		const struct hardlink_fixup *fix = &p->fixups[i];
		struct cfs_node *target;
		uint32_t nlink;
		struct shown sh;
		int r;

		p->line_no = fix->line_no;
		r = ensure_scratch(p, fix->target_len);
		if (r < 0)
			return r;
		r = unescape(p, FIELD_PAYLOAD, fix->target, fix->target_len,
			     p->scratch, NULL);
		if (r < 0)
			return r;
		target = lookup_path(p->root, p->scratch);
		if (target == NULL)
			return parse_error(
				p, -ENOENT,
				"hard link target '%s' does not exist (field PAYLOAD)",
				show(&sh, fix->target, fix->target_len));
		if (target == fix->node)
			return parse_error(
				p, -EINVAL,
				"hard link to itself (field PAYLOAD)");
		if (cfs_node_is_dir(target))
			return parse_error(
				p, -EINVAL,
				"hard link target '%s' is a directory (field PAYLOAD)",
				show(&sh, fix->target, fix->target_len));
		/* The target's line gave its final link count already. */
		nlink = cfs_node_get_nlink(target);
		r = cfs_node_make_hardlink(fix->node, target);
		if (r < 0)
			return parse_error(
				p, r, "cannot link to '%s': %s (field PAYLOAD)",
				show(&sh, fix->target, fix->target_len),
				r == -ELOOP ? "hard links form a cycle" :
					      strerror(-r));
		cfs_node_set_nlink(target, nlink);
	}
	return 0;
}

static int parse_all(struct dump_parser *p, const char *data, size_t len)
{
	const char *pos = data, *end = data + len;
	int r;

	while (pos < end) {
		const char *nl = memchr(pos, '\n', end - pos);

		p->line_no++;
		if (nl == NULL) {
			if (p->strict)
				return parse_error(
					p, -EINVAL,
					"missing newline at the end of the last line");
			nl = end;
		}
		r = parse_line(p, pos, nl - pos);
		if (r < 0)
			return r;
		pos = nl + 1;
	}
	if (p->root == NULL) {
		p->line_no = 1;
		return parse_error(p, -EINVAL,
				   "no root directory: the dump is empty");
	}
	return resolve_hardlinks(p);
}

int cfs_dump_parse_buffer(const char *data, size_t len, const char *name,
			  unsigned flags, struct cfs_node **ret_root,
			  struct cfs_error *err)
{
	struct dump_parser p = {
		.name = name != NULL ? name : "dump",
		.strict = (flags & CFS_DUMP_STRICT) != 0,
		.err = err,
	};
	int r;

	r = parse_all(&p, data, len);
	free(p.scratch);
	free(p.dir_path);
	free(p.fixups);
	if (r < 0) {
		cfs_node_unref(p.root);
		return r;
	}
	*ret_root = p.root;
	return 0;
}

int cfs_dump_parse(FILE *in, const char *name, unsigned flags,
		   struct cfs_node **ret_root, struct cfs_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;

	if (name == NULL)
		name = "dump";
	/* A file's size saves growing the buffer (and copying it) as it
	 * fills; the first read then finds it big enough. */
	if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > 0)
		cap = (size_t)st.st_size + 65536;
	for (;;) {
		size_t n;

		if (buf == NULL || cap - len < 65536) {
			size_t new_cap = buf == NULL ?
						 MAX(cap, (size_t)1 << 20) :
						 2 * cap;
			char *b = realloc(buf, new_cap);

			if (b == NULL)
				return cfs_error_set(err, -ENOMEM,
						     "%s: out of memory", name);
			buf = b;
			cap = new_cap;
		}
		errno = 0;
		n = fread(buf + len, 1, cap - len, in);
		len += n;
		if (n == 0) {
			int e = errno > 0 ? errno : EIO;

			if (ferror(in))
				return cfs_error_set(err, -e,
						     "%s: read error: %s", name,
						     strerror(e));
			break;
		}
	}
	return cfs_dump_parse_buffer(buf, len, name, flags, ret_root, err);
}
