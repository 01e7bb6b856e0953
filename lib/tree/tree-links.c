/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Reshaping a tree read from an image into what the reference's
 * `composefs-info` shows: only some top-level entries, hard links whose
 * file is the first of its names met in a depth-first walk in name order,
 * and no size on devices, fifos and sockets.
 *
 * cfs_image_to_tree() picks, among the names of a hard-linked inode, the one
 * the writer treated as the file, so that writing the tree again gives the
 * same bytes. The reference's reader instead makes the first name it meets
 * the file. Both describe the same inode; only the dump text differs. So
 * with the size cfs_image_to_tree() gives a special file kept in an
 * extended inode (the image stores none).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tree/node_i.h"

static bool name_listed(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

int cfs_tree_keep_top(struct cfs_node *root, const char *const *names,
		      size_t n_names)
{
	size_t kept = 0;

	if (!cfs_node_is_dir(root))
		return -ENOTDIR;
	for (size_t i = 0; i < root->n_children; i++) {
		struct cfs_node *child = root->children[i];

		if (name_listed(child->name, names, n_names)) {
			root->children[kept++] = child;
			continue;
		}
		/* Detached as node_free() does; a hard link elsewhere may
		 * keep the node itself alive. */
		child->parent = NULL;
		free(child->name);
		child->name = NULL;
		cfs_node_unref(child);
	}
	root->n_children = kept;
	return 0;
}

struct member {
	struct cfs_node *inode; /* what the node resolves to */
	struct cfs_node *node;
	size_t order; /* position in the walk */
};

struct walk {
	struct member *m;
	size_t n, cap;
};

static int collect(struct walk *w, struct cfs_node *dir)
{
	for (size_t i = 0; i < dir->n_children; i++) {
		struct cfs_node *c = dir->children[i];
		uint32_t type = c->mode & S_IFMT;
		int r;

		if (type == S_IFCHR || type == S_IFBLK || type == S_IFIFO ||
		    type == S_IFSOCK)
			c->size = 0;

		if (cfs_node_is_dir(c)) {
			r = collect(w, c);
			if (r < 0)
				return r;
			continue;
		}
		if (w->n == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 256;
			struct member *m = reallocarray(w->m, cap, sizeof(*m));

			if (m == NULL)
				return -ENOMEM;
			w->m = m;
			w->cap = cap;
		}
		w->m[w->n] = (struct member){ cfs_node_resolve(c), c, w->n };
		w->n++;
	}
	return 0;
}

static int cmp_member(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	if (x->inode != y->inode)
		return (uintptr_t)x->inode < (uintptr_t)y->inode ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

#define SWAP(a, b)                                                             \
	do {                                                                   \
		__typeof__(a) _t = (a);                                        \
		(a) = (b);                                                     \
		(b) = _t;                                                      \
	} while (0)

/* Everything that belongs to the inode rather than to the name. */
static void swap_inode_data(struct cfs_node *a, struct cfs_node *b)
{
	SWAP(a->mode, b->mode);
	SWAP(a->nlink, b->nlink);
	SWAP(a->uid, b->uid);
	SWAP(a->gid, b->gid);
	SWAP(a->rdev, b->rdev);
	SWAP(a->size, b->size);
	SWAP(a->mtime_sec, b->mtime_sec);
	SWAP(a->mtime_nsec, b->mtime_nsec);
	SWAP(a->payload, b->payload);
	SWAP(a->content, b->content);
	SWAP(a->xattrs, b->xattrs);
	SWAP(a->n_xattrs, b->n_xattrs);
	SWAP(a->xattr_budget, b->xattr_budget);
	SWAP(a->has_digest, b->has_digest);
	SWAP(a->digest_alg, b->digest_alg);
	for (size_t i = 0; i < CFS_DIGEST_SIZE; i++)
		SWAP(a->digest[i], b->digest[i]);
	for (size_t i = 0; i < CFS_DIGEST_MAX_SIZE; i++)
		SWAP(a->digest_full[i], b->digest_full[i]);
}

/* Make first the file of its group and every other member a link to it. */
static void regroup(struct member *g, size_t n)
{
	struct cfs_node *inode = g[0].inode, *first = g[0].node;

	if (first == inode && n == 1)
		return;
	/* Hold the inode while names move: a filtered-out file may live on
	 * only through the links being redirected here. */
	cfs_node_ref(inode);
	if (first != inode) {
		swap_inode_data(first, inode);
		/* the link keeps the mode of what it names */
		inode->mode = first->mode;
	}
	/* The old file, where it is still in the tree, is a member too. */
	for (size_t i = 0; i < n; i++) {
		struct cfs_node *m = g[i].node, *old = m->link_to;

		m->link_to = m == first ? NULL : cfs_node_ref(first);
		cfs_node_unref(old);
	}
	cfs_node_unref(inode);
}

int cfs_tree_as_shown(struct cfs_node *root)
{
	struct walk w = { 0 };
	int r = collect(&w, root);

	if (r < 0) {
		free(w.m);
		return r;
	}
	if (w.n > 1)
		qsort(w.m, w.n, sizeof(*w.m), cmp_member);
	for (size_t i = 0, j; i < w.n; i = j) {
		for (j = i + 1; j < w.n && w.m[j].inode == w.m[i].inode; j++)
			;
		regroup(w.m + i, j - i);
	}
	free(w.m);
	return 0;
}
