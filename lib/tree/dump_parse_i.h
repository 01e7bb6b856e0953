/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* The dump parser's state, shared by its two halves: the fields of one line
 * (dump-fields.c) and the lines placed in the tree (dump-parse.c). */
#ifndef CFS_DUMP_PARSE_I_H
#define CFS_DUMP_PARSE_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tree/node_i.h"

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

/* A short printable rendering of untrusted bytes, for messages. */
struct shown {
	char s[80];
};

/* An error at the current line: "NAME:LINE: message"; returns errnum. */
int cfsi_dump_error(struct dump_parser *p, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* data as printable text (escaped, cut short), in b. */
const char *cfsi_dump_show(struct shown *b, const char *data, size_t len);
/* Field f unescaped into out (room for len + 1 bytes), NUL-terminated. */
int cfsi_dump_unescape(struct dump_parser *p, enum dump_field f, const char *in,
		       size_t len, char *out, size_t *ret_len);
/* The field is "-". */
bool cfsi_dump_is_absent(const struct field *f);
/* Digits in base 8 or 10 whose value fits in max. */
int cfsi_dump_parse_uint(struct dump_parser *p, enum dump_field f,
			 const char *s, size_t len, unsigned base, uint64_t max,
			 uint64_t *ret);
/* Every field of a line but the path, mode and hard link target; rest is
 * the xattr text; scratch has room for the longest field unescaped. */
int cfsi_dump_parse_inode_fields(struct dump_parser *p, struct cfs_node *node,
				 const struct field *fields, const char *rest,
				 size_t rest_len, char *scratch);

#endif
