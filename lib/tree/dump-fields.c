/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* The fields of one composefs-dump(5) line: unescaping, numbers, times,
 * digests, xattrs, and their checks (see dump-parse.c for what differs
 * from the reference parser). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tree/dump_parse_i.h"
#include "base/util.h"

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

int cfsi_dump_error(struct dump_parser *p, int errnum, const char *fmt, ...)
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

const char *cfsi_dump_show(struct shown *b, const char *data, size_t len)
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
int cfsi_dump_unescape(struct dump_parser *p, enum dump_field f, const char *in,
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
			return cfsi_dump_error(
				p, -EINVAL, "backslash at the end of field %s",
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
				return cfsi_dump_error(
					p, -EINVAL,
					"incomplete \\x escape in field %s",
					field_names[f]);
			hi = hex_value(in[0]);
			lo = hex_value(in[1]);
			if (hi < 0 || lo < 0)
				return cfsi_dump_error(
					p, -EINVAL,
					"invalid escape '\\x%s' in field %s",
					cfsi_dump_show(&sh, in, 2),
					field_names[f]);
			*o++ = (char)(hi << 4 | lo);
			in += 2;
			break;
		default:
			return cfsi_dump_error(
				p, -EINVAL, "invalid escape '\\%s' in field %s",
				cfsi_dump_show(&sh, in - 1, 1), field_names[f]);
		}
	}
	*o = '\0';
	if (ret_len != NULL)
		*ret_len = o - out;
	return 0;
}

bool cfsi_dump_is_absent(const struct field *f)
{
	return f->len == 1 && f->data[0] == '-';
}

/* Digits in base 8 or 10 whose value fits in max. */
int cfsi_dump_parse_uint(struct dump_parser *p, enum dump_field f,
			 const char *s, size_t len, unsigned base, uint64_t max,
			 uint64_t *ret)
{
	uint64_t v = 0;
	struct shown sh;

	if (len == 0)
		return cfsi_dump_error(p, -EINVAL, "empty field %s",
				       field_names[f]);
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d >= base)
			return cfsi_dump_error(
				p, -EINVAL, "invalid integer '%s' in field %s",
				cfsi_dump_show(&sh, s, len), field_names[f]);
		if (v > (max - d) / base)
			return cfsi_dump_error(
				p, -ERANGE,
				"integer '%s' out of range in field %s",
				cfsi_dump_show(&sh, s, len), field_names[f]);
		v = v * base + d;
	}
	*ret = v;
	return 0;
}

static int parse_field_uint(struct dump_parser *p, const struct field *fields,
			    enum dump_field f, uint64_t max, uint64_t *ret)
{
	return cfsi_dump_parse_uint(p, f, fields[f].data, fields[f].len, 10,
				    max, ret);
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

		return cfsi_dump_error(
			p, -EINVAL,
			"invalid time '%s' in field MTIME (want SEC.NSEC)",
			cfsi_dump_show(&sh, s, len));
	}
	r = cfsi_dump_parse_uint(p, FIELD_MTIME, s + negative,
				 dot - s - negative, 10,
				 negative ? (uint64_t)INT64_MAX + 1 : INT64_MAX,
				 &sec);
	if (r < 0)
		return r;
	r = cfsi_dump_parse_uint(p, FIELD_MTIME, dot + 1, s + len - dot - 1, 10,
				 UINT32_MAX, &nsec);
	if (r < 0)
		return r;
	*ret_sec = negative ? (int64_t)(0 - sec) : (int64_t)sec;
	*ret_nsec = (uint32_t)nsec;
	return 0;
}

static int parse_digest(struct dump_parser *p, const char *hex, size_t len,
			uint8_t ret[CFS_DIGEST_MAX_SIZE],
			enum cfs_hash_alg *ret_alg)
{
	struct shown sh;

	/* the length tells the algorithm: SHA-256 or SHA-512 */
	if (cfs_hash_alg_from_digest_size(len / 2, ret_alg) < 0 || len % 2)
		goto invalid;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			goto invalid;
		ret[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
invalid:
	return cfsi_dump_error(
		p, -EINVAL,
		"invalid digest '%s' in field DIGEST (want 64 or 128 hex digits or '-')",
		cfsi_dump_show(&sh, hex, len));
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
		return cfsi_dump_error(
			p, -EINVAL, "xattr '%s' has no '=' (want NAME=VALUE)",
			cfsi_dump_show(&sh, text, len));
	r = cfsi_dump_unescape(p, FIELD_XATTR, text, eq - text, key, NULL);
	if (r < 0)
		return r;
	key_len = strlen(key);
	value = key + (eq - text) + 1;
	r = cfsi_dump_unescape(p, FIELD_XATTR, eq + 1, text + len - eq - 1,
			       value, &value_len);
	if (r < 0)
		return r;
	if (key_len == 0)
		return cfsi_dump_error(p, -EINVAL, "empty xattr name");
	if (key_len > CFS_NAME_MAX)
		return cfsi_dump_error(p, -ERANGE,
				       "xattr name '%s' longer than %d bytes",
				       cfsi_dump_show(&sh, key, key_len),
				       CFS_NAME_MAX);
	r = cfs_node_set_xattr(node, key, value, value_len);
	if (r == -ERANGE)
		return cfsi_dump_error(
			p, r, "xattrs take more than %d bytes (at '%s')",
			CFS_XATTR_EXTERNAL_MAX,
			cfsi_dump_show(&sh, key, key_len));
	if (r < 0)
		return cfsi_dump_error(p, r, "cannot set xattr '%s': %s",
				       cfsi_dump_show(&sh, key, key_len),
				       strerror(-r));
	return 0;
}

/* Everything but the path, mode and hard link target, which the caller
 * has handled. */
int cfsi_dump_parse_inode_fields(struct dump_parser *p, struct cfs_node *node,
				 const struct field *fields, const char *rest,
				 size_t rest_len, char *scratch)
{
	uint32_t type = node->mode & S_IFMT;
	uint64_t size = 0, nlink = 0, uid = 0, gid = 0, rdev = 0;
	int64_t sec = 0;
	uint32_t nsec = 0;
	char *payload = NULL, *content = NULL;
	size_t content_len = 0;
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	enum cfs_hash_alg digest_alg = 0;
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

	if (!cfsi_dump_is_absent(&fields[FIELD_PAYLOAD])) {
		payload = scratch;
		r = cfsi_dump_unescape(p, FIELD_PAYLOAD,
				       fields[FIELD_PAYLOAD].data,
				       fields[FIELD_PAYLOAD].len, payload,
				       NULL);
		if (r < 0)
			return r;
		scratch += fields[FIELD_PAYLOAD].len + 1;
	}
	if (!cfsi_dump_is_absent(&fields[FIELD_CONTENT])) {
		content = scratch;
		r = cfsi_dump_unescape(p, FIELD_CONTENT,
				       fields[FIELD_CONTENT].data,
				       fields[FIELD_CONTENT].len, content,
				       &content_len);
		if (r < 0)
			return r;
		scratch += fields[FIELD_CONTENT].len + 1;
		if (content_len != size)
			return cfsi_dump_error(
				p, -EINVAL,
				"content is %zu bytes but SIZE is %llu (field CONTENT)",
				content_len, (unsigned long long)size);
	}
	/* The reference takes an empty DIGEST (typically a line that ends
	 * after CONTENT) as no digest; so do we. */
	if (!cfsi_dump_is_absent(&fields[FIELD_DIGEST]) &&
	    fields[FIELD_DIGEST].len > 0) {
		size_t hex_len;

		r = cfsi_dump_unescape(p, FIELD_DIGEST,
				       fields[FIELD_DIGEST].data,
				       fields[FIELD_DIGEST].len, scratch,
				       &hex_len);
		if (r < 0)
			return r;
		r = parse_digest(p, scratch, hex_len, digest, &digest_alg);
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
		return cfsi_dump_error(
			p, -EINVAL,
			"non-zero RDEV on a file that is not a device (field RDEV)");
	cfs_node_set_mtime(node, sec, nsec);

	if (type == S_IFLNK) {
		if (payload == NULL || *payload == '\0')
			return cfsi_dump_error(
				p, -EINVAL,
				"symlink without a target (field PAYLOAD)");
		r = cfs_node_set_symlink_target(node, payload);
		if (r == -ENAMETOOLONG)
			return cfsi_dump_error(
				p, r,
				"symlink target longer than %d bytes (field PAYLOAD)",
				CFS_PAYLOAD_MAX);
		if (r < 0)
			return cfsi_dump_error(p, r,
					       "invalid symlink target: %s",
					       strerror(-r));
		if (p->strict && size != node->size)
			return cfsi_dump_error(
				p, -EINVAL,
				"symlink SIZE %llu differs from its target's length %llu (field SIZE)",
				(unsigned long long)size,
				(unsigned long long)node->size);
		if (p->strict && content_len > 0)
			return cfsi_dump_error(
				p, -EINVAL,
				"a symlink cannot have content (field CONTENT)");
	} else {
		/* An empty payload names no object: the reference's image
		 * ends up without one too. */
		if (payload != NULL && *payload == '\0')
			payload = NULL;
		r = cfs_node_set_payload(node, payload);
		if (r == -ENAMETOOLONG)
			return cfsi_dump_error(
				p, r,
				"payload longer than %d bytes (field PAYLOAD)",
				CFS_PAYLOAD_MAX);
		if (r < 0)
			return cfsi_dump_error(p, r, "out of memory");
		if (content_len > CFS_INLINE_CONTENT_MAX)
			return cfsi_dump_error(
				p, -EFBIG,
				"inline content of %zu bytes exceeds the maximum of %d (field CONTENT)",
				content_len, CFS_INLINE_CONTENT_MAX);
		if (content_len > 0) {
			r = cfs_node_set_content(node, (const uint8_t *)content,
						 content_len);
			if (r < 0)
				return cfsi_dump_error(p, r, "out of memory");
		}
		if (type == S_IFREG && content_len == 0 &&
		    size > DUMP_FILE_SIZE_MAX)
			return cfsi_dump_error(
				p, -EFBIG,
				"file size %llu exceeds the maximum of %llu (field SIZE)",
				(unsigned long long)size,
				(unsigned long long)DUMP_FILE_SIZE_MAX);
	}
	if (has_digest)
		(void)cfs_node_set_digest_alg(node, digest_alg, digest);

	if (rest_len > DUMP_XATTR_TEXT_MAX)
		return cfsi_dump_error(p, -ERANGE,
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
