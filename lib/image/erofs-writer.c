/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The EROFS image writer: the entry point, and the list of inodes the
 * image will hold, built from the tree.
 *
 * The layout decisions (inode order, what is inlined, which xattrs are
 * shared, where padding goes) follow the reference composefs writer exactly,
 * because images must be byte-identical to its output for the same input.
 * The input tree is never modified: the writer builds its own list of
 * inodes ("winodes") in breadth-first order, each with the xattrs the image
 * will carry (the input's, escaped, plus the overlayfs ones), then lays
 * them out (erofs-layout.c) and fills a zeroed buffer the size of the
 * image (erofs-emit.c).
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "image/erofs_writer_i.h"
#include "tree/node_i.h"

static void *arena_alloc(struct writer *w, size_t size)
{
	struct arena_chunk *c = w->arena;

	size = ALIGN_UP(size, 8);
	if (c == NULL || c->size - c->used < size) {
		size_t chunk = size > 65536 ? size : 65536;

		c = malloc(sizeof(*c) + chunk);
		if (c == NULL)
			return NULL;
		c->next = w->arena;
		c->used = 0;
		c->size = chunk;
		w->arena = c;
	}
	c->used += size;
	return c->data + c->used - size;
}

static char *arena_concat(struct writer *w, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = arena_alloc(w, la + lb + 1);

	if (s != NULL) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}

static void writer_free(struct writer *w)
{
	for (size_t i = 0; i < w->n_inodes; i++) {
		free(w->inodes[i].xattrs);
		free(w->inodes[i].dirents);
	}
	free(w->inodes);
	free(w->table);
	free(w->shared);
	while (w->arena != NULL) {
		struct arena_chunk *next = w->arena->next;

		free(w->arena);
		w->arena = next;
	}
}

/* ------------------------------------------------------------------ */
/* The tree as the image will hold it */

#define XATTR_COST(name, len) (2 * 4 - 1 + strlen(name) + (len))

/* Set an xattr on a winode, replacing one of the same name, keeping the
 * same budget as cfs_node_set_xattr. */
static int winode_set_xattr(struct writer *w, struct winode *wi,
			    const char *name, const void *value, size_t len)
{
	size_t budget = wi->xattr_budget, cost = XATTR_COST(name, len);

	for (uint32_t i = 0; i < wi->n_xattrs; i++) {
		struct wxattr *x = &wi->xattrs[i];

		if (strcmp(x->name, name) != 0)
			continue;
		budget = wi->n_xattrs == 1 ? 0 :
					     budget - XATTR_COST(name, x->len);
		if (wi->n_xattrs == 1)
			cost += 12;
		if (budget + cost > CFS_XATTR_EXTERNAL_MAX)
			return -ERANGE;
		x->value = value;
		x->len = (uint16_t)len;
		wi->xattr_budget = budget + cost;
		return 0;
	}
	if (wi->n_xattrs == 0)
		cost += 12;
	if (budget + cost > CFS_XATTR_EXTERNAL_MAX)
		return -ERANGE;
	if (wi->n_xattrs == wi->cap_xattrs) {
		uint32_t cap = wi->cap_xattrs ? wi->cap_xattrs * 2 : 4;
		struct wxattr *x = reallocarray(wi->xattrs, cap, sizeof(*x));

		if (x == NULL)
			return -ENOMEM;
		wi->xattrs = x;
		wi->cap_xattrs = cap;
	}
	wi->xattrs[wi->n_xattrs++] = (struct wxattr){
		.name = name,
		.value = value,
		.len = (uint16_t)len,
	};
	wi->xattr_budget = budget + cost;
	return 0;
}

static int add_winode(struct writer *w, struct cfs_node *node,
		      uint32_t *ret_index)
{
	if (w->n_inodes == w->cap_inodes) {
		size_t cap = w->cap_inodes ? w->cap_inodes * 2 : 1024;
		struct winode *n = reallocarray(w->inodes, cap, sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		w->inodes = n;
		w->cap_inodes = cap;
	}
	if (w->n_inodes >= UINT32_MAX)
		return -EFBIG;
	memset(&w->inodes[w->n_inodes], 0, sizeof(w->inodes[0]));
	w->inodes[w->n_inodes].node = node;
	*ret_index = (uint32_t)w->n_inodes++;
	return 0;
}

/* Copy a node's metadata and xattrs into its winode, escaping
 * trusted.overlay.* names and adding the overlayfs xattrs. */
static int fill_winode(struct writer *w, uint32_t idx)
{
	struct winode *wi = &w->inodes[idx];
	struct cfs_node *n = wi->node;
	uint32_t type = n->mode & S_IFMT;
	int r;

	wi->mode = n->mode;
	wi->nlink = n->nlink;
	wi->uid = n->uid;
	wi->gid = n->gid;
	wi->rdev = (uint32_t)n->rdev;
	wi->size = n->size;
	wi->mtime_sec = n->mtime_sec;
	wi->mtime_nsec = n->mtime_nsec;
	wi->ino = idx;

	switch (type) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	default:
		return cfs_error_set(w->err, -EINVAL,
				     "'%s' has mode 0%o, of no file type",
				     n->name ? n->name : "/",
				     (unsigned)n->mode);
	}
	if (type == S_IFLNK) {
		if (n->payload == NULL || n->payload[0] == '\0')
			return cfs_error_set(w->err, -EINVAL,
					     "symlink '%s' has no target",
					     n->name ? n->name : "/");
		wi->symlink = n->payload;
	} else if (type == S_IFREG && n->size > 0) {
		if (n->content != NULL) {
			wi->content = n->content;
		} else {
			uint32_t bits, count;

			chunk_layout(n->size, &bits, &count);
			if (count > MAX_NONINLINE_CHUNKS)
				return cfs_error_set(
					w->err, -EFBIG,
					"file '%s' is too large (%llu bytes)",
					n->name ? n->name : "/",
					(unsigned long long)n->size);
			wi->chunked = true;
		}
	}

	wi->xattr_budget = 0;
	for (size_t i = 0; i < n->n_xattrs; i++) {
		const char *name = n->xattrs[i].name;

		if (str_has_prefix(name, OVL_XATTR_TRUSTED_PREFIX)) {
			name = arena_concat(
				w, OVL_XATTR_ESCAPED_PREFIX,
				name + strlen(OVL_XATTR_TRUSTED_PREFIX));
			if (name == NULL)
				return -ENOMEM;
		}
		r = winode_set_xattr(w, wi, name, n->xattrs[i].value,
				     n->xattrs[i].len);
		if (r < 0)
			return r;
	}
	/* The budget counts names as the input had them. */
	wi->xattr_budget = n->xattr_budget;

	if (wi->chunked) {
		uint8_t *meta = NULL;
		size_t meta_len = 0;

		if (n->has_digest) {
			/* one algorithm for the whole image: the mount
			 * checks every object with the image's */
			if (n->digest_alg != w->alg->id)
				return cfs_error_set(
					w->err, -EINVAL,
					"file '%s' has a %s digest, the image is written with %s",
					n->name ? n->name : "/",
					cfs_hash_alg_name(n->digest_alg),
					w->alg->name);
			meta_len = 4 + w->alg->digest_size;
			meta = arena_alloc(w, meta_len);
			if (meta == NULL)
				return -ENOMEM;
			meta[0] = 0; /* version */
			meta[1] = (uint8_t)meta_len;
			meta[2] = 0; /* flags */
			meta[3] = (uint8_t)w->alg->id;
			memcpy(meta + 4, n->digest_full, w->alg->digest_size);
		}
		/* an empty value still needs a valid pointer for comparisons */
		r = winode_set_xattr(w, wi, OVL_XATTR_METACOPY,
				     meta ? meta : (const uint8_t *)"",
				     meta_len);
		if (r < 0)
			return r;
		if (n->payload != NULL && n->payload[0] != '\0') {
			char *redirect = arena_concat(w, "/", n->payload);

			if (redirect == NULL)
				return -ENOMEM;
			r = winode_set_xattr(w, wi, OVL_XATTR_REDIRECT,
					     redirect, strlen(redirect));
			if (r < 0)
				return r;
		}
	}

	/* A 0:0 character device is an overlayfs whiteout; the image must show
	 * it as such to overlayfs users, so it is escaped into a regular file
	 * that overlayfs turns back into a whiteout. */
	if (type == S_IFCHR && wi->rdev == 0) {
		struct winode *parent =
			&w->inodes[n->parent ? n->parent->wr_index : idx];

		wi->mode = S_IFREG | (wi->mode & ~S_IFMT);
		wi->size = 0;
		r = winode_set_xattr(w, wi, OVL_XATTR_ESCAPED_WHITEOUT, "", 0);
		if (r == 0)
			r = winode_set_xattr(w, wi, OVL_XATTR_USER_WHITEOUT, "",
					     0);
		if (r == 0)
			r = winode_set_xattr(
				w, parent, OVL_XATTR_ESCAPED_WHITEOUTS, "", 0);
		if (r == 0)
			r = winode_set_xattr(w, parent,
					     OVL_XATTR_USER_WHITEOUTS, "", 0);
		if (r < 0)
			return r;
		parent->has_whiteouts = true;
		if (w->version < 1 && w->max_version >= 1)
			w->version = 1;
	}
	return 0;
}

static int cmp_dirent(const void *a, const void *b)
{
	return strcmp(((const struct wdirent *)a)->name,
		      ((const struct wdirent *)b)->name);
}

static const char hex_names[256][3] = {
#define H(x)                                                                   \
	{                                                                      \
		"0123456789abcdef"[(x) >> 4], "0123456789abcdef"[(x)&15], 0    \
	}
#define H4(x) H(x), H(x + 1), H(x + 2), H(x + 3)
#define H16(x) H4(x), H4(x + 4), H4(x + 8), H4(x + 12)
#define H64(x) H16(x), H16(x + 16), H16(x + 32), H16(x + 48)
	H64(0), H64(64), H64(128), H64(192)
#undef H
#undef H4
#undef H16
#undef H64
};

/* Build the directory entries of winode idx (a directory), queueing the
 * inodes they introduce. */
static int build_dirents(struct writer *w, uint32_t idx)
{
	struct cfs_node *n = w->inodes[idx].node;
	bool is_root = n->parent == NULL;
	size_t cap = n->n_children + 2 + (is_root ? 256 : 0), count = 0;
	struct wdirent *d = calloc(cap, sizeof(*d));
	bool has_dot = false, has_dotdot = false;
	int r;

	if (d == NULL)
		return -ENOMEM;
	w->inodes[idx].dirents = d;

	for (size_t i = 0; i < n->n_children; i++) {
		struct cfs_node *c = n->children[i];

		d[count].name = c->name;
		d[count].name_len = (uint16_t)strlen(c->name);
		if (strcmp(c->name, ".") == 0)
			has_dot = true;
		else if (strcmp(c->name, "..") == 0)
			has_dotdot = true;
		d[count++].target_node = c;
	}
	/* "." and ".." are ordinary sorted entries in EROFS */
	if (!has_dot)
		d[count++] = (struct wdirent){ ".", 1, idx, NULL };
	if (!has_dotdot)
		d[count++] = (struct wdirent){
			"..", 2, is_root ? idx : n->parent->wr_index, NULL
		};
	if (is_root) {
		/* Overlayfs whiteouts for 00..ff at the root keep object
		 * directories of a lower layer from showing through. */
		for (int i = 0; i < 256; i++) {
			if (cfs_node_lookup_child(n, hex_names[i]) != NULL)
				continue;
			d[count].name = hex_names[i];
			d[count].name_len = 2;
			d[count].target = UINT32_MAX; /* synthetic */
			count++;
		}
	}
	qsort(d, count, sizeof(*d), cmp_dirent);
	w->inodes[idx].n_dirents = (uint32_t)count;

	for (size_t i = 0; i < count; i++) {
		struct cfs_node *c = d[i].target_node;
		uint32_t child;

		if (c == NULL && d[i].target != UINT32_MAX)
			continue; /* "." or ".." */
		if (c != NULL && c->link_to != NULL) {
			if (cfs_node_is_dir(c) ||
			    cfs_node_is_dir(cfs_node_resolve(c)))
				return cfs_error_set(
					w->err, -EINVAL,
					"hard link '%s' to a directory",
					c->name);
			continue; /* resolved once every inode is known */
		}
		r = add_winode(w, c, &child);
		if (r < 0)
			return r;
		d = w->inodes[idx].dirents;
		d[i].target = child;
		d[i].target_node = NULL;
		if (c == NULL) {
			/* synthetic whiteout, owned like the root */
			struct winode *wi = &w->inodes[child];
			const void *label;
			size_t label_len;

			wi->mode = S_IFCHR | 0644;
			wi->nlink = 1;
			wi->uid = n->uid;
			wi->gid = n->gid;
			wi->mtime_sec = n->mtime_sec;
			wi->mtime_nsec = n->mtime_nsec;
			wi->ino = child;
			label = cfs_node_get_xattr(n, "security.selinux",
						   &label_len);
			if (label != NULL) {
				r = winode_set_xattr(w, wi, "security.selinux",
						     label, label_len);
				if (r < 0)
					return r;
			}
		} else {
			if (c->wr_owner == w)
				return cfs_error_set(
					w->err, -ELOOP,
					"'%s' is in the tree twice", c->name);
			c->wr_owner = w;
			c->wr_index = child;
		}
	}
	return 0;
}

static int build_inodes(struct writer *w, struct cfs_node *root)
{
	uint32_t idx;
	int r;

	if (!cfs_node_is_dir(root))
		return cfs_error_set(w->err, -ENOTDIR,
				     "the root is not a directory");
	r = add_winode(w, root, &idx);
	if (r < 0)
		return r;
	root->wr_owner = w;
	root->wr_index = idx;

	/* Breadth first: the queue is the inode array itself. */
	for (size_t i = 0; i < w->n_inodes; i++) {
		struct cfs_node *n = w->inodes[i].node;

		if (n == NULL)
			continue;
		if (!cfs_node_is_dir(n) && n->n_children > 0)
			return cfs_error_set(w->err, -EINVAL,
					     "non-directory '%s' has children",
					     n->name);
		r = fill_winode(w, (uint32_t)i);
		if (r < 0)
			return r;
		if (cfs_node_is_dir(n)) {
			r = build_dirents(w, (uint32_t)i);
			if (r < 0)
				return r;
		}
	}

	/* Hard links point at their target's inode, which must be in the tree. */
	for (size_t i = 0; i < w->n_inodes; i++) {
		struct winode *wi = &w->inodes[i];
		uint32_t nlink = 2;

		for (uint32_t j = 0; j < wi->n_dirents; j++) {
			struct wdirent *d = &wi->dirents[j];
			struct cfs_node *t;

			if (d->target_node == NULL)
				continue;
			t = cfs_node_resolve(d->target_node);
			if (t->wr_owner != w)
				return cfs_error_set(
					w->err, -EINVAL,
					"hard link '%s' points outside the tree",
					d->name);
			d->target = t->wr_index;
		}
		if (wi->node == NULL || !cfs_node_is_dir(wi->node))
			continue;
		/* A directory's link count: itself, its entry, each subdir. */
		for (size_t j = 0; j < wi->node->n_children; j++)
			if (cfs_node_is_dir(wi->node->children[j]))
				nlink++;
		wi->nlink = nlink;
	}

	/* Format version 1 marks directories holding whiteouts as opaque "x". */
	for (size_t i = 0; i < w->n_inodes && w->version >= 1; i++) {
		struct winode *wi = &w->inodes[i];

		if (!wi->has_whiteouts)
			continue;
		r = winode_set_xattr(w, wi, OVL_XATTR_ESCAPED_OPAQUE, "x", 1);
		if (r == 0)
			r = winode_set_xattr(w, wi, OVL_XATTR_USER_OPAQUE, "x",
					     1);
		if (r < 0)
			return r;
	}
	return winode_set_xattr(w, &w->inodes[0], OVL_XATTR_OPAQUE, "y", 1);
}

int cfs_write_image(struct cfs_node *root, const struct cfs_write_options *opts,
		    int fd, uint8_t *ret_digest, struct cfs_error *err)
{
	struct writer w = { .err = err };
	int r;

	w.version = opts ? opts->min_version : CFS_DEFAULT_VERSION_MIN;
	w.max_version = opts ? opts->max_version : CFS_DEFAULT_VERSION_MAX;
	if (w.version > CFS_VERSION_MAX || w.max_version > CFS_VERSION_MAX)
		return cfs_error_set(err, -EINVAL,
				     "unsupported format version (at most %d)",
				     CFS_VERSION_MAX);
	if (w.max_version < w.version)
		w.max_version = w.version;
	w.alg = cfsi_hash_alg_get(opts ? opts->hash_alg : CFS_HASH_DEFAULT);
	if (w.alg == NULL)
		return cfs_error_set(err, -EOPNOTSUPP,
				     "fs-verity hash algorithm %u is not "
				     "implemented",
				     opts->hash_alg);

	r = build_inodes(&w, root);
	if (r == 0)
		r = cfsi_writer_compute_xattrs(&w);
	if (r == 0)
		r = cfsi_writer_compute_layout(&w);
	if (r == 0)
		r = cfsi_writer_emit(&w, fd, ret_digest);
	if (r < 0 && err != NULL && err->message[0] == '\0')
		cfs_error_set(err, r, "%s", strerror(-r));

	for (size_t i = 0; i < w.n_inodes; i++)
		if (w.inodes[i].node != NULL)
			w.inodes[i].node->wr_owner = NULL;
	writer_free(&w);
	return r;
}

/* COMPOSEFS_1.0's cfs_write_image(), of programs built before SHA-512:
 * ret_digest holds CFS_DIGEST_SIZE bytes, so SHA-256 is the only algorithm
 * it can be given (as it was then). */
int cfsi_write_image_1_0(struct cfs_node *root,
			 const struct cfs_write_options *opts, int fd,
			 uint8_t *ret_digest, struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_write_image_1_0, cfs_write_image, "COMPOSEFS_1.0");

int cfsi_write_image_1_0(struct cfs_node *root,
			 const struct cfs_write_options *opts, int fd,
			 uint8_t *ret_digest, struct cfs_error *err)
{
	if (opts != NULL && opts->hash_alg != CFS_HASH_DEFAULT &&
	    opts->hash_alg != CFS_HASH_SHA256)
		return cfs_error_set(
			err, -EOPNOTSUPP,
			"fs-verity hash algorithm %u: its digests do not fit in the buffer of this program (built before SHA-512: rebuild it)",
			opts->hash_alg);
	return cfs_write_image(root, opts, fd, ret_digest, err);
}
