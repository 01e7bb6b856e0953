/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The EROFS image writer.
 *
 * The layout decisions (inode order, what is inlined, which xattrs are
 * shared, where padding goes) follow the reference composefs writer exactly,
 * because images must be byte-identical to its output for the same input.
 * The input tree is never modified: the writer builds its own list of
 * inodes ("winodes") in breadth-first order, each with the xattrs the image
 * will carry (the input's, escaped, plus the overlayfs ones), then lays
 * them out and fills a zeroed buffer the size of the image.
 */
#include "config.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "erofs-format.h"
#include "node_i.h"
#include "util.h"
#include "xxhash32.h"

/* Non-inline regular files are described by one chunk index per chunk;
 * composefs keeps the whole table inside the inode's tail. */
#define MAX_NONINLINE_CHUNKS 1024

struct shared_entry;

struct wxattr {
	const char *name;
	const uint8_t *value;
	uint16_t len;
	uint8_t index; /* EROFS name prefix index */
	uint8_t prefix_len; /* bytes of name the index stands for */
	bool shared;
	struct shared_entry *entry;
};

struct wdirent {
	const char *name;
	uint16_t name_len;
	uint32_t target; /* winode index */
	struct cfs_node *target_node; /* hard link: resolved after the walk */
};

struct winode {
	struct cfs_node *node; /* NULL for the root's synthetic whiteouts */
	uint32_t mode, nlink, uid, gid, rdev, ino;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const char *symlink; /* target of a symlink */
	const uint8_t *content; /* inline content of a regular file */
	bool chunked; /* regular file whose data lives in an object */
	bool has_whiteouts; /* directory holding escaped whiteouts */

	struct wxattr *xattrs;
	uint32_t n_xattrs, cap_xattrs;
	size_t xattr_budget;

	struct wdirent *dirents;
	uint32_t n_dirents;

	/* layout */
	bool compact;
	uint32_t ipad, xattr_size, isize, n_blocks, tail_size;
	uint32_t n_shared;
	uint64_t nid;
};

struct shared_entry {
	const char *name;
	const uint8_t *value;
	uint16_t len;
	uint32_t hash;
	uint32_t count;
	uint32_t offset; /* from the start of the shared xattr area */
};

/* Bump allocator for the strings and values the writer makes up. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	uint8_t data[];
};

struct writer {
	struct winode *inodes;
	size_t n_inodes, cap_inodes;
	uint32_t version, max_version;
	int64_t min_mtime_sec;
	uint32_t min_mtime_nsec;
	bool has_acl;

	struct shared_entry *table;
	size_t table_size;
	struct shared_entry **shared;
	size_t n_shared;
	uint64_t shared_size;

	uint64_t inodes_end, data_start, n_data_blocks;
	struct arena_chunk *arena;
	struct cfs_error *err;
};

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

static void chunk_layout(uint64_t size, uint32_t *ret_bits, uint32_t *ret_count)
{
	/* As few chunks as possible, each at least a block: the smallest power
	 * of two covering the file, within what the format can express. */
	uint32_t bits = size <= 1 ? 0 : 64 - __builtin_clzll(size - 1);

	if (bits < EROFS_BLOCK_BITS)
		bits = EROFS_BLOCK_BITS;
	if (bits - EROFS_BLOCK_BITS > EROFS_CHUNK_FORMAT_BLKBITS_MASK)
		bits = EROFS_BLOCK_BITS + EROFS_CHUNK_FORMAT_BLKBITS_MASK;
	*ret_bits = bits;
	*ret_count = (uint32_t)DIV_ROUND_UP(size, (uint64_t)1 << bits);
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
			meta_len = 4 + CFS_DIGEST_SIZE;
			meta = arena_alloc(w, meta_len);
			if (meta == NULL)
				return -ENOMEM;
			meta[0] = 0; /* version */
			meta[1] = (uint8_t)meta_len;
			meta[2] = 0; /* flags */
			meta[3] = CFS_FSVERITY_HASH_ALG_SHA256;
			memcpy(meta + 4, n->digest, CFS_DIGEST_SIZE);
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

/* ------------------------------------------------------------------ */
/* Xattrs: canonical order, prefixes, sharing */

static int cmp_wxattr(const void *a, const void *b)
{
	return strcmp(((const struct wxattr *)a)->name,
		      ((const struct wxattr *)b)->name);
}

static void xattr_set_prefix(struct wxattr *x)
{
	static const struct {
		const char *prefix;
		uint8_t len, index;
	} prefixes[] = {
		{ "user.", 5, EROFS_XATTR_INDEX_USER },
		{ "system.posix_acl_access", 23,
		  EROFS_XATTR_INDEX_POSIX_ACL_ACCESS },
		{ "system.posix_acl_default", 24,
		  EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT },
		{ "trusted.", 8, EROFS_XATTR_INDEX_TRUSTED },
		{ "security.", 9, EROFS_XATTR_INDEX_SECURITY },
	};

	x->index = EROFS_XATTR_INDEX_NONE;
	x->prefix_len = 0;
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		if (strncmp(x->name, prefixes[i].prefix, prefixes[i].len) ==
		    0) {
			x->index = prefixes[i].index;
			x->prefix_len = prefixes[i].len;
			return;
		}
	}
}

static uint32_t xattr_entry_size(const struct wxattr *x)
{
	return ALIGN_UP(sizeof(struct erofs_xattr_entry) + strlen(x->name) -
				x->prefix_len + x->len,
			4u);
}

static uint32_t hash_xattr(const struct wxattr *x)
{
	uint32_t h = 2166136261u;

	for (const char *p = x->name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (uint16_t i = 0; i < x->len; i++)
		h = (h ^ x->value[i]) * 16777619u;
	return h;
}

/* The order the reference gives the shared xattr area: names descending,
 * then longer values first, then values descending. */
static int cmp_shared(const void *a, const void *b)
{
	const struct shared_entry *x = *(const struct shared_entry *const *)a;
	const struct shared_entry *y = *(const struct shared_entry *const *)b;
	int r = strcmp(y->name, x->name);

	if (r != 0)
		return r;
	if (x->len != y->len)
		return (int)y->len - (int)x->len;
	return memcmp(y->value, x->value, x->len);
}

static int compute_xattrs(struct writer *w)
{
	size_t total = 0, mask;
	uint64_t offset = 0;

	for (size_t i = 0; i < w->n_inodes; i++) {
		struct winode *wi = &w->inodes[i];

		if (wi->n_xattrs > 1)
			qsort(wi->xattrs, wi->n_xattrs, sizeof(*wi->xattrs),
			      cmp_wxattr);
		for (uint32_t j = 0; j < wi->n_xattrs; j++) {
			xattr_set_prefix(&wi->xattrs[j]);
			if (strcmp(wi->xattrs[j].name,
				   "system.posix_acl_access") == 0 ||
			    strcmp(wi->xattrs[j].name,
				   "system.posix_acl_default") == 0)
				w->has_acl = true;
		}
		total += wi->n_xattrs;
	}

	w->table_size = 16;
	while (w->table_size < total * 2)
		w->table_size *= 2;
	mask = w->table_size - 1;
	w->table = calloc(w->table_size, sizeof(*w->table));
	if (w->table == NULL)
		return -ENOMEM;

	for (size_t i = 0; i < w->n_inodes; i++) {
		struct winode *wi = &w->inodes[i];

		for (uint32_t j = 0; j < wi->n_xattrs; j++) {
			struct wxattr *x = &wi->xattrs[j];
			uint32_t h = hash_xattr(x);
			size_t slot = h & mask;

			for (;; slot = (slot + 1) & mask) {
				struct shared_entry *e = &w->table[slot];

				if (e->name == NULL) {
					*e = (struct shared_entry){
						x->name, x->value, x->len,
						h,	 0,	   0
					};
					break;
				}
				if (e->hash == h && e->len == x->len &&
				    strcmp(e->name, x->name) == 0 &&
				    memcmp(e->value, x->value, x->len) == 0)
					break;
			}
			w->table[slot].count++;
			x->entry = &w->table[slot];
		}
	}

	/* Values used more than once are stored once and referenced. */
	w->shared = calloc(total ? total : 1, sizeof(*w->shared));
	if (w->shared == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < w->table_size; i++)
		if (w->table[i].count > 1)
			w->shared[w->n_shared++] = &w->table[i];
	qsort(w->shared, w->n_shared, sizeof(*w->shared), cmp_shared);
	for (size_t i = 0; i < w->n_shared; i++) {
		struct wxattr tmp = { .name = w->shared[i]->name,
				      .len = w->shared[i]->len };

		xattr_set_prefix(&tmp);
		w->shared[i]->offset = (uint32_t)offset;
		offset += xattr_entry_size(&tmp);
	}
	w->shared_size = offset;
	if (offset > UINT32_MAX)
		return -EFBIG;

	for (size_t i = 0; i < w->n_inodes; i++) {
		struct winode *wi = &w->inodes[i];
		uint32_t unshared = 0;

		for (uint32_t j = 0; j < wi->n_xattrs; j++) {
			struct wxattr *x = &wi->xattrs[j];

			/* the inode header counts shared ones in a byte */
			if (x->entry->count > 1 &&
			    wi->n_shared < EROFS_XATTR_LONG_PREFIX) {
				x->shared = true;
				wi->n_shared++;
			} else {
				unshared += xattr_entry_size(x);
			}
		}
		if (wi->n_xattrs > 0)
			wi->xattr_size = ALIGN_UP(
				sizeof(struct erofs_xattr_ibody_header) +
					wi->n_shared * 4 + unshared,
				4u);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Layout */

static uint64_t dir_size(const struct winode *wi)
{
	return (uint64_t)wi->n_blocks * EROFS_BLOCK_SIZE + wi->tail_size;
}

static void size_directory(struct winode *wi)
{
	uint32_t blocks = 0, used = 0;

	for (uint32_t i = 0; i < wi->n_dirents; i++) {
		uint32_t len = sizeof(struct erofs_dirent) +
			       wi->dirents[i].name_len;

		if (used + len > EROFS_BLOCK_SIZE) {
			blocks++;
			used = 0;
		}
		used += len;
	}
	/* A tail over half a block gets a block of its own. */
	if (used > EROFS_BLOCK_SIZE / 2) {
		blocks++;
		used = 0;
	}
	wi->n_blocks = blocks;
	wi->tail_size = used;
}

static void size_inode(struct winode *wi)
{
	uint32_t type = wi->mode & S_IFMT;

	wi->n_blocks = 0;
	wi->tail_size = 0;
	if (type == S_IFDIR) {
		size_directory(wi);
	} else if (type == S_IFLNK) {
		wi->tail_size = (uint32_t)strlen(wi->symlink);
	} else if (wi->content != NULL) {
		wi->n_blocks = (uint32_t)(wi->size / EROFS_BLOCK_SIZE);
		wi->tail_size = (uint32_t)(wi->size % EROFS_BLOCK_SIZE);
		if (wi->tail_size > EROFS_BLOCK_SIZE / 2) {
			wi->n_blocks++;
			wi->tail_size = 0;
		}
	} else if (wi->chunked) {
		uint32_t bits, count;

		chunk_layout(wi->size, &bits, &count);
		wi->tail_size = count * 4;
	}
}

static bool fits_compact(const struct writer *w, const struct winode *wi)
{
	uint64_t size = (wi->mode & S_IFMT) == S_IFDIR ? dir_size(wi) :
							 wi->size;

	return wi->mtime_sec == w->min_mtime_sec &&
	       wi->mtime_nsec == w->min_mtime_nsec && wi->nlink <= UINT16_MAX &&
	       wi->uid <= UINT16_MAX && wi->gid <= UINT16_MAX &&
	       size <= UINT32_MAX;
}

/* Padding before an inode so that its inline tail does not cross a block
 * boundary (EROFS reads a tail from a single block). May decide that the
 * tail goes to a block of its own instead. */
static uint64_t tail_padding(struct winode *wi, uint64_t pos, uint32_t isize)
{
	uint64_t head = isize + wi->xattr_size;
	uint64_t total = head + wi->tail_size;
	uint64_t room, pad;

	if ((wi->mode & S_IFMT) == S_IFLNK) {
		/* A symlink keeps inode and target together in one block;
		 * when they cannot fit in any block the target moves out. */
		if (total / EROFS_BLOCK_SIZE > 0) {
			wi->n_blocks++;
			wi->tail_size = 0;
		}
		if (pos / EROFS_BLOCK_SIZE !=
		    (pos + total - 1) / EROFS_BLOCK_SIZE)
			return ALIGN_UP(pos, EROFS_BLOCK_SIZE) - pos;
		return 0;
	}

	room = EROFS_BLOCK_SIZE - (pos + head) % EROFS_BLOCK_SIZE;
	if (room >= wi->tail_size)
		return 0;
	pad = ALIGN_UP(room, EROFS_SLOT_SIZE);
	room = EROFS_BLOCK_SIZE - (pos + head + pad) % EROFS_BLOCK_SIZE;
	if (wi->tail_size <= room)
		return pad;
	wi->n_blocks++;
	wi->tail_size = 0;
	return ALIGN_UP(pos, EROFS_BLOCK_SIZE) - pos;
}

static int compute_layout(struct writer *w)
{
	uint64_t pos = EROFS_SUPER_OFFSET + sizeof(struct erofs_super_block);
	uint64_t meta_start = pos / EROFS_BLOCK_SIZE * EROFS_BLOCK_SIZE;

	w->min_mtime_sec = w->inodes[0].mtime_sec;
	w->min_mtime_nsec = w->inodes[0].mtime_nsec;
	for (size_t i = 0; i < w->n_inodes; i++) {
		struct winode *wi = &w->inodes[i];

		if (wi->mtime_sec < w->min_mtime_sec ||
		    (wi->mtime_sec == w->min_mtime_sec &&
		     wi->mtime_nsec < w->min_mtime_nsec)) {
			w->min_mtime_sec = wi->mtime_sec;
			w->min_mtime_nsec = wi->mtime_nsec;
		}
	}

	for (size_t i = 0; i < w->n_inodes; i++) {
		struct winode *wi = &w->inodes[i];
		uint32_t isize;
		uint64_t aligned, pad;

		size_inode(wi);
		wi->compact = fits_compact(w, wi);
		isize = wi->compact ? sizeof(struct erofs_inode_compact) :
				      sizeof(struct erofs_inode_extended);
		if (wi->xattr_size > 0 &&
		    (wi->xattr_size - sizeof(struct erofs_xattr_ibody_header)) /
					    4 +
				    1 >
			    UINT16_MAX)
			return cfs_error_set(w->err, -E2BIG,
					     "too many xattrs on one inode");

		aligned = ALIGN_UP(pos, EROFS_SLOT_SIZE);
		pad = tail_padding(wi, aligned, isize);
		wi->ipad = (uint32_t)(aligned - pos + pad);
		pos = aligned + pad;
		wi->isize = isize + wi->xattr_size + wi->tail_size;
		wi->nid = (pos - meta_start) / EROFS_SLOT_SIZE;
		w->n_data_blocks += wi->n_blocks;
		pos += wi->isize;
	}
	if (w->inodes[0].nid > UINT16_MAX)
		return cfs_error_set(w->err, -EFBIG, "root inode out of reach");

	w->inodes_end = ALIGN_UP(pos, EROFS_SLOT_SIZE);
	w->data_start = ALIGN_UP(w->inodes_end + w->shared_size,
				 EROFS_BLOCK_SIZE);
	if (w->data_start / EROFS_BLOCK_SIZE + w->n_data_blocks > UINT32_MAX)
		return cfs_error_set(w->err, -EFBIG, "image too large");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Output */

static uint8_t *put_xattr(uint8_t *p, const struct wxattr *x)
{
	struct erofs_xattr_entry e = {
		.e_name_len = (uint8_t)(strlen(x->name) - x->prefix_len),
		.e_name_index = x->index,
		.e_value_size = htole16(x->len),
	};
	uint8_t *start = p;

	memcpy(p, &e, sizeof(e));
	p += sizeof(e);
	memcpy(p, x->name + x->prefix_len, e.e_name_len);
	p += e.e_name_len;
	if (x->len > 0)
		memcpy(p, x->value, x->len);
	p += x->len;
	return start + ALIGN_UP((size_t)(p - start), 4u);
}

/* Entries [first, first + count) of a directory as one EROFS dirent block:
 * the dirent array, then the names. */
static uint8_t *put_dirents(const struct writer *w, uint8_t *p,
			    const struct winode *wi, uint32_t first,
			    uint32_t count)
{
	uint16_t nameoff = (uint16_t)(count * sizeof(struct erofs_dirent));
	uint8_t *names = p + nameoff;

	for (uint32_t i = first; i < first + count; i++) {
		const struct wdirent *d = &wi->dirents[i];
		struct erofs_dirent de = {
			.nid = htole64(w->inodes[d->target].nid),
			.nameoff = htole16(nameoff),
			.file_type = erofs_file_type(w->inodes[d->target].mode),
		};

		memcpy(p, &de, sizeof(de));
		p += sizeof(de);
		memcpy(names, d->name, d->name_len);
		names += d->name_len;
		nameoff += d->name_len;
	}
	return names;
}

/* Write a directory's full blocks at data (block-aligned) and its tail, if
 * any, at tail. Returns the number of blocks written. */
static uint32_t put_directory(const struct writer *w, const struct winode *wi,
			      uint8_t *data, uint8_t *tail)
{
	uint32_t first = 0, used = 0, blocks = 0;

	for (uint32_t i = 0; i < wi->n_dirents; i++) {
		uint32_t len = sizeof(struct erofs_dirent) +
			       wi->dirents[i].name_len;

		if (used + len > EROFS_BLOCK_SIZE) {
			put_dirents(w, data + (size_t)blocks * EROFS_BLOCK_SIZE,
				    wi, first, i - first);
			blocks++;
			used = 0;
			first = i;
		}
		used += len;
	}
	if (blocks < wi->n_blocks) {
		put_dirents(w, data + (size_t)blocks * EROFS_BLOCK_SIZE, wi,
			    first, wi->n_dirents - first);
		blocks++;
	} else if (used > 0) {
		put_dirents(w, tail, wi, first, wi->n_dirents - first);
	}
	return blocks;
}

static void put_inode(struct writer *w, uint8_t *image, uint64_t pos,
		      struct winode *wi, uint64_t *data_end)
{
	uint32_t type = wi->mode & S_IFMT;
	uint16_t layout = wi->tail_size > 0 ? EROFS_INODE_FLAT_INLINE :
					      EROFS_INODE_FLAT_PLAIN;
	union erofs_inode_i_u iu = { 0 };
	uint64_t size = 0;
	uint32_t icount = 0;
	uint8_t *p = image + pos;
	uint8_t *blocks = image + *data_end;

	if (wi->n_blocks > 0) {
		iu.raw_blkaddr = htole32(
			(uint32_t)(*data_end / EROFS_BLOCK_SIZE));
		*data_end += (uint64_t)wi->n_blocks * EROFS_BLOCK_SIZE;
	}
	switch (type) {
	case S_IFDIR:
		size = dir_size(wi);
		break;
	case S_IFREG:
		size = wi->size;
		if (wi->chunked) {
			uint32_t bits, count;

			chunk_layout(wi->size, &bits, &count);
			layout = EROFS_INODE_CHUNK_BASED;
			iu.chunk.format = htole16(bits - EROFS_BLOCK_BITS);
		}
		break;
	case S_IFLNK:
		size = wi->n_blocks == 0 ? wi->tail_size : strlen(wi->symlink);
		break;
	case S_IFCHR:
	case S_IFBLK:
		iu.rdev = htole32(wi->rdev);
		break;
	}
	if (wi->xattr_size > 0)
		icount = (wi->xattr_size -
			  sizeof(struct erofs_xattr_ibody_header)) /
				 4 +
			 1;

	if (wi->compact) {
		struct erofs_inode_compact i = {
			.i_format = htole16(layout << EROFS_I_DATALAYOUT_BIT),
			.i_xattr_icount = htole16((uint16_t)icount),
			.i_mode = htole16((uint16_t)wi->mode),
			.i_nlink = htole16((uint16_t)wi->nlink),
			.i_size = htole32((uint32_t)size),
			.i_u = iu,
			.i_ino = htole32(wi->ino),
			.i_uid = htole16((uint16_t)wi->uid),
			.i_gid = htole16((uint16_t)wi->gid),
		};

		memcpy(p, &i, sizeof(i));
		p += sizeof(i);
	} else {
		struct erofs_inode_extended i = {
			.i_format = htole16(layout << EROFS_I_DATALAYOUT_BIT |
					    1 << EROFS_I_VERSION_BIT),
			.i_xattr_icount = htole16((uint16_t)icount),
			.i_mode = htole16((uint16_t)wi->mode),
			.i_size = htole64(size),
			.i_u = iu,
			.i_ino = htole32(wi->ino),
			.i_uid = htole32(wi->uid),
			.i_gid = htole32(wi->gid),
			.i_mtime = htole64((uint64_t)wi->mtime_sec),
			.i_mtime_nsec = htole32(wi->mtime_nsec),
			.i_nlink = htole32(wi->nlink),
		};

		memcpy(p, &i, sizeof(i));
		p += sizeof(i);
	}

	if (wi->xattr_size > 0) {
		struct erofs_xattr_ibody_header h = {
			.h_shared_count = (uint8_t)wi->n_shared,
		};
		uint32_t filter = 0;
		uint8_t *start = p;

		for (uint32_t j = 0; j < wi->n_xattrs; j++) {
			const struct wxattr *x = &wi->xattrs[j];
			const char *suffix = x->name + x->prefix_len;

			filter |= 1u << (cfs_xxh32(suffix, strlen(suffix),
						   EROFS_XATTR_FILTER_SEED +
							   x->index) &
					 (EROFS_XATTR_FILTER_BITS - 1));
		}
		h.h_name_filter = htole32(EROFS_XATTR_FILTER_DEFAULT & ~filter);
		memcpy(p, &h, sizeof(h));
		p += sizeof(h);
		for (uint32_t j = 0; j < wi->n_xattrs; j++) {
			const struct wxattr *x = &wi->xattrs[j];
			uint32_t id;

			if (!x->shared)
				continue;
			id = htole32(
				(uint32_t)((w->inodes_end % EROFS_BLOCK_SIZE +
					    x->entry->offset) /
					   4));
			memcpy(p, &id, 4);
			p += 4;
		}
		for (uint32_t j = 0; j < wi->n_xattrs; j++)
			if (!wi->xattrs[j].shared)
				p = put_xattr(p, &wi->xattrs[j]);
		assert((uint32_t)(p - start) == wi->xattr_size);
	}

	switch (type) {
	case S_IFDIR:
		put_directory(w, wi, blocks, p);
		break;
	case S_IFLNK:
		if (wi->n_blocks == 0)
			memcpy(p, wi->symlink, wi->tail_size);
		else
			memcpy(blocks, wi->symlink, strlen(wi->symlink));
		break;
	case S_IFREG:
		if (wi->chunked) {
			/* every chunk is a hole: the data is in the object */
			memset(wi->n_blocks ? blocks : p, 0xff,
			       wi->n_blocks ? EROFS_BLOCK_SIZE : wi->tail_size);
		} else if (wi->content != NULL) {
			uint64_t in_blocks = (uint64_t)wi->n_blocks *
					     EROFS_BLOCK_SIZE;

			if (in_blocks > 0)
				memcpy(blocks, wi->content,
				       in_blocks < wi->size ? in_blocks :
							      wi->size);
			if (wi->tail_size > 0)
				memcpy(p,
				       wi->content + wi->size - wi->tail_size,
				       wi->tail_size);
		}
		break;
	}
}

static int emit_image(struct writer *w, int fd,
		      uint8_t ret_digest[CFS_DIGEST_SIZE])
{
	uint64_t total = w->data_start + w->n_data_blocks * EROFS_BLOCK_SIZE;
	uint64_t pos = EROFS_SUPER_OFFSET + sizeof(struct erofs_super_block);
	uint64_t data_end = w->data_start;
	uint8_t *image;
	int r = 0;

	image = calloc(1, total);
	if (image == NULL)
		return -ENOMEM;

	struct cfs_erofs_header header = {
		.magic = htole32(CFS_EROFS_MAGIC),
		.version = htole32(CFS_EROFS_HEADER_VERSION),
		.flags = htole32(w->has_acl ? CFS_EROFS_FLAGS_HAS_ACL : 0),
		.composefs_version = htole32(w->version),
	};
	struct erofs_super_block sb = {
		.magic = htole32(EROFS_SUPER_MAGIC),
		.feature_compat = htole32(EROFS_FEATURE_COMPAT_MTIME |
					  EROFS_FEATURE_COMPAT_XATTR_FILTER),
		.blkszbits = EROFS_BLOCK_BITS,
		.root_nid = htole16((uint16_t)w->inodes[0].nid),
		.inos = htole64(w->n_inodes),
		.build_time = htole64((uint64_t)w->min_mtime_sec),
		.build_time_nsec = htole32(w->min_mtime_nsec),
		.blocks = htole32((uint32_t)(total / EROFS_BLOCK_SIZE)),
		.meta_blkaddr = htole32((uint32_t)(pos / EROFS_BLOCK_SIZE)),
		.xattr_blkaddr = htole32(
			(uint32_t)(w->inodes_end / EROFS_BLOCK_SIZE)),
	};
	memcpy(image, &header, sizeof(header));
	memcpy(image + EROFS_SUPER_OFFSET, &sb, sizeof(sb));

	for (size_t i = 0; i < w->n_inodes; i++) {
		struct winode *wi = &w->inodes[i];

		pos += wi->ipad;
		put_inode(w, image, pos, wi, &data_end);
		pos += wi->isize;
	}
	assert(ALIGN_UP(pos, EROFS_SLOT_SIZE) == w->inodes_end);
	assert(data_end == total);

	for (size_t i = 0; i < w->n_shared; i++) {
		struct wxattr x = { .name = w->shared[i]->name,
				    .value = w->shared[i]->value,
				    .len = w->shared[i]->len };

		xattr_set_prefix(&x);
		put_xattr(image + w->inodes_end + w->shared[i]->offset, &x);
	}

	if (ret_digest != NULL)
		cfs_fsverity_digest_buffer(image, total, ret_digest);
	if (fd >= 0)
		r = cfsi_write_all(fd, image, total);
	free(image);
	return r;
}

int cfs_write_image(struct cfs_node *root, const struct cfs_write_options *opts,
		    int fd, uint8_t ret_digest[CFS_DIGEST_SIZE],
		    struct cfs_error *err)
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

	r = build_inodes(&w, root);
	if (r == 0)
		r = compute_xattrs(&w);
	if (r == 0)
		r = compute_layout(&w);
	if (r == 0)
		r = emit_image(&w, fd, ret_digest);
	if (r < 0 && err != NULL && err->message[0] == '\0')
		cfs_error_set(err, r, "%s", strerror(-r));

	for (size_t i = 0; i < w.n_inodes; i++)
		if (w.inodes[i].node != NULL)
			w.inodes[i].node->wr_owner = NULL;
	writer_free(&w);
	return r;
}
