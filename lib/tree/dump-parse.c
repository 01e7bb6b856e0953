/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Reading composefs-dump(5) text into a node tree: the lines, their place
 * in the tree, hard links (the fields of a line: dump-fields.c).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>

#include "tree/dump_parse_i.h"
#include "base/util.h"

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
			return cfsi_dump_error(p, -ENOMEM, "out of memory");
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
			return cfsi_dump_error(
				p, -ENOENT,
				"parent directory '/%s' not defined before this line",
				cfsi_dump_show(&sh, path, pos + comp_len));
		if (!cfs_node_is_dir(child))
			return cfsi_dump_error(
				p, -ENOTDIR, "parent '/%s' is not a directory",
				cfsi_dump_show(&sh, path, pos + comp_len));
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
			r = cfsi_dump_error(p, -ENOTDIR,
					    "the root must be a directory");
		else if (p->root != NULL)
			r = cfsi_dump_error(p, -EEXIST,
					    "a second root directory");
		else {
			p->root = node;
			return remember_dir(p, node, "", 0);
		}
		cfs_node_unref(node);
		return r;
	}
	if (p->root == NULL) {
		cfs_node_unref(node);
		return cfsi_dump_error(
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
		r = cfsi_dump_error(p, -EINVAL,
				    "empty file name in field PATH");
	else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		r = cfsi_dump_error(p, -EINVAL, "file name '%s' in field PATH",
				    name);
	else if (name_len > CFS_NAME_MAX)
		r = cfsi_dump_error(
			p, -ENAMETOOLONG,
			"file name longer than %d bytes in field PATH",
			CFS_NAME_MAX);
	if (r < 0)
		goto fail;

	r = cfs_node_add_child(parent, node, name);
	if (r == -EEXIST) {
		r = cfsi_dump_error(p, r, "duplicate path '/%s'",
				    cfsi_dump_show(&sh, path, len));
		goto fail;
	} else if (r < 0) {
		r = cfsi_dump_error(p, r, "cannot add '/%s': %s",
				    cfsi_dump_show(&sh, path, len),
				    strerror(-r));
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
			return cfsi_dump_error(p, -ENOMEM, "out of memory");
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

static int ensure_scratch(struct dump_parser *p, size_t len)
{
	/* Each unescaped field is no longer than its text, plus a NUL. */
	size_t need = len + 2 * N_FIXED_FIELDS + 16;

	if (need > p->scratch_cap) {
		size_t cap = MAX(need, 2 * p->scratch_cap);
		char *n = realloc(p->scratch, cap);

		if (n == NULL)
			return cfsi_dump_error(p, -ENOMEM, "out of memory");
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
		return cfsi_dump_error(p, -EINVAL, "NUL byte at column %zu",
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
	r = cfsi_dump_unescape(p, FIELD_PATH, fields[FIELD_PATH].data,
			       fields[FIELD_PATH].len, path, &path_len);
	if (r < 0)
		return r;
	if (*path == '\0')
		return cfsi_dump_error(p, -EINVAL, "empty field PATH");
	scratch = path + path_len + 1;

	mode_text = fields[FIELD_MODE].data;
	mode_len = fields[FIELD_MODE].len;
	is_hardlink = mode_len > 0 && mode_text[0] == '@';
	r = cfsi_dump_parse_uint(p, FIELD_MODE, mode_text + is_hardlink,
				 mode_len - is_hardlink, 8, UINT32_MAX, &mode);
	if (r < 0)
		return r;
	node = cfs_node_new();
	if (node == NULL)
		return cfsi_dump_error(p, -ENOMEM, "out of memory");
	if (cfs_node_set_mode(node, (uint32_t)mode) < 0) {
		cfs_node_unref(node);
		return cfsi_dump_error(
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
			return cfsi_dump_error(
				p, -EINVAL,
				"a directory cannot be a hard link (field MODE)");
		if (cfsi_dump_is_absent(target))
			return cfsi_dump_error(
				p, -EINVAL,
				"hard link without a target (field PAYLOAD)");
		r = cfsi_dump_unescape(p, FIELD_PAYLOAD, target->data,
				       target->len, scratch, NULL);
		if (r < 0)
			return r;
		return add_fixup(p, node, target);
	}

	return cfsi_dump_parse_inode_fields(p, node, fields, rest, rest_len,
					    scratch);
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
		r = cfsi_dump_unescape(p, FIELD_PAYLOAD, fix->target,
				       fix->target_len, p->scratch, NULL);
		if (r < 0)
			return r;
		target = lookup_path(p->root, p->scratch);
		if (target == NULL)
			return cfsi_dump_error(
				p, -ENOENT,
				"hard link target '%s' does not exist (field PAYLOAD)",
				cfsi_dump_show(&sh, fix->target,
					       fix->target_len));
		if (target == fix->node)
			return cfsi_dump_error(
				p, -EINVAL,
				"hard link to itself (field PAYLOAD)");
		if (cfs_node_is_dir(target))
			return cfsi_dump_error(
				p, -EINVAL,
				"hard link target '%s' is a directory (field PAYLOAD)",
				cfsi_dump_show(&sh, fix->target,
					       fix->target_len));
		/* The target's line gave its final link count already. */
		nlink = cfs_node_get_nlink(target);
		r = cfs_node_make_hardlink(fix->node, target);
		if (r < 0)
			return cfsi_dump_error(
				p, r, "cannot link to '%s': %s (field PAYLOAD)",
				cfsi_dump_show(&sh, fix->target,
					       fix->target_len),
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
				return cfsi_dump_error(
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
		return cfsi_dump_error(p, -EINVAL,
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
