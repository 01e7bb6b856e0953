/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Layer trees applied onto each other with the OCI image-spec's rules
 * (whiteouts, opaque directories, a directory onto a directory), entries
 * below a lower layer's symlink resolved inside the root; then the tree
 * finished as a scan of it unpacked would give it (link counts).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/import_i.h"
#include "tree/node_i.h"
#include "base/util.h"

/* Path depth and symlink hops followed before giving up. */
#define MAX_DEPTH 4096

/* ------------------------------------------------------------------ */
/* Applying layer trees */

struct pending_link {
	char *path; /* where the link goes */
	const struct cfs_node *layer_node;
};

/* A hard-linked inode of the layer and the node made of it in the tree. */
struct inode_slot {
	const struct cfs_node *layer_inode; /* NULL: free */
	struct cfs_node *node; /* a reference */
};

struct applier {
	struct cfs_node *root;
	const char *name;
	struct cfs_error *err;
	struct pending_link *links;
	size_t n_links, cap_links;
	struct inode_slot *inodes;
	size_t inodes_size, n_inodes;
};

static size_t inode_hash(const struct applier *a, const struct cfs_node *n)
{
	uint64_t h = (uintptr_t)n * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h ^ (h >> 32)) & (a->inodes_size - 1);
}

/* The node already made of the layer's inode, or NULL. */
static struct cfs_node *inode_find(const struct applier *a,
				   const struct cfs_node *inode)
{
	if (a->inodes_size == 0)
		return NULL;
	for (size_t i = inode_hash(a, inode); a->inodes[i].layer_inode != NULL;
	     i = (i + 1) & (a->inodes_size - 1))
		if (a->inodes[i].layer_inode == inode)
			return a->inodes[i].node;
	return NULL;
}

static int inode_put(struct applier *a, const struct cfs_node *inode,
		     struct cfs_node *node)
{
	size_t i;

	if ((a->n_inodes + 1) * 2 > a->inodes_size) {
		size_t size = a->inodes_size ? 2 * a->inodes_size : 64;
		struct inode_slot *slots = calloc(size, sizeof(*slots));
		struct inode_slot *old = a->inodes;
		size_t old_size = a->inodes_size;

		if (slots == NULL)
			return -ENOMEM;
		a->inodes = slots;
		a->inodes_size = size;
		for (size_t k = 0; k < old_size; k++) {
			if (old[k].layer_inode == NULL)
				continue;
			for (i = inode_hash(a, old[k].layer_inode);
			     slots[i].layer_inode != NULL;
			     i = (i + 1) & (size - 1))
				;
			slots[i] = old[k];
		}
		free(old);
	}
	for (i = inode_hash(a, inode); a->inodes[i].layer_inode != NULL;
	     i = (i + 1) & (a->inodes_size - 1))
		;
	a->inodes[i] = (struct inode_slot){ inode, cfs_node_ref(node) };
	a->n_inodes++;
	return 0;
}

/*
 * The node of the tree for the layer's file lc: a copy of its inode, or,
 * for a name of an inode the layer has under several names (a hard link
 * within the layer), a hard link to the copy its first name got.
 */
static struct cfs_node *file_node(struct applier *a, const struct cfs_node *lc,
				  int *ret_r)
{
	const struct cfs_node *inode = lc;
	bool linked = lc->link_to != NULL || lc->refcount > 1;
	struct cfs_node *first, *n;

	while (inode->link_to != NULL)
		inode = inode->link_to;
	first = linked ? inode_find(a, inode) : NULL;
	*ret_r = -ENOMEM;
	if (first != NULL) {
		n = cfs_node_new();
		if (n == NULL)
			return NULL;
		n->mode = first->mode;
		*ret_r = cfs_node_make_hardlink(n, first);
		if (*ret_r < 0)
			return cfs_node_unref(n);
		return n;
	}
	n = cfsi_layer_copy_node(inode);
	if (n == NULL)
		return NULL;
	n->mode = inode->mode;
	if (linked) {
		*ret_r = inode_put(a, inode, n);
		if (*ret_r < 0)
			return cfs_node_unref(n);
	}
	return n;
}

/* Remove what the layers below had in dir: all of its children. */
static void make_opaque(struct cfs_node *dir)
{
	while (dir->n_children > 0)
		cfsi_node_remove_child(dir, dir->children[dir->n_children - 1]);
}

static char *join(const char *dir, const char *name)
{
	char *p = NULL;

	if (dir[0] == '\0')
		return strdup(name);
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

/* The directory the symlink link (in the directory at path dir) leads to
 * in root, its target and every symlink on the way resolved within root
 * (".." stops at the root, as for a chroot); directories missing on the
 * way are made (mode 0755, owner 0:0, mtime 0). NULL when it leads to
 * something else than a directory, through more than 40 symlinks, or out
 * of memory. */
static struct cfs_node *follow_symlink(struct cfs_node *root, const char *dir,
				       const struct cfs_node *link)
{
	_cleanup_free_ char *path = NULL;
	unsigned hops = 0;

	if (link->payload == NULL)
		return NULL;
	if (asprintf(&path, "%s/%s", link->payload[0] == '/' ? "" : dir,
		     link->payload) < 0)
		return NULL;
	for (;;) {
		_cleanup_free_ char *clean = cfsi_clean_path(path);
		struct cfs_node *n = root;
		const char *p;

		if (clean == NULL)
			return NULL;
		for (p = clean; *p;) {
			const char *end = strchrnul(p, '/');
			char comp[CFS_NAME_MAX + 1];
			size_t len = (size_t)(end - p);
			char *next;

			if (len > CFS_NAME_MAX || !cfs_node_is_dir(n))
				return NULL;
			memcpy(comp, p, len);
			comp[len] = '\0';
			next = NULL;
			{
				struct cfs_node *child = cfs_node_lookup_child(
					n, comp);

				if (child == NULL) {
					child = cfsi_layer_new_dir(false);
					if (child == NULL ||
					    cfs_node_add_child(n, child, comp) <
						    0) {
						cfs_node_unref(child);
						return NULL;
					}
				}
				n = child;
			}
			if ((n->mode & S_IFMT) == S_IFLNK) {
				if (++hops > 40 || n->payload == NULL)
					return NULL;
				/* the link's own directory, then its target,
				 * then the rest of the path */
				if (asprintf(&next, "%.*s/%s/%s",
					     n->payload[0] == '/' ?
						     0 :
						     (int)(p - clean),
					     clean, n->payload,
					     *end ? end + 1 : "") < 0)
					return NULL;
				free(path);
				path = next;
				break;
			}
			p = *end ? end + 1 : end;
		}
		if (*p == '\0')
			return cfs_node_is_dir(n) ? n : NULL;
	}
}

static int apply_dir(struct applier *a, struct cfs_node *mdir,
		     const struct cfs_node *ldir, const char *path,
		     unsigned depth)
{
	int r;

	if (depth > MAX_DEPTH)
		return cfs_error_set(a->err, -ELOOP, "%s: '%s': too deep",
				     a->name, path);
	/* Whiteouts first: they apply only to the layers below, never to
	 * what this layer itself adds, wherever they stand in the tar. */
	for (size_t i = 0; i < ldir->n_children; i++) {
		const char *name = ldir->children[i]->name;
		struct cfs_node *victim;

		if (!str_has_prefix(name, ".wh."))
			continue;
		if (strcmp(name, ".wh..wh..opq") == 0) {
			make_opaque(mdir);
			continue;
		}
		victim = cfs_node_lookup_child(mdir, name + 4);
		if (victim != NULL)
			cfsi_node_remove_child(mdir, victim);
	}

	for (size_t i = 0; i < ldir->n_children; i++) {
		const struct cfs_node *lc = ldir->children[i];
		struct cfs_node *mc = cfs_node_lookup_child(mdir, lc->name);
		_cleanup_free_ char *cpath = NULL;

		if (str_has_prefix(lc->name, ".wh."))
			continue;
		cpath = join(path, lc->name);
		if (cpath == NULL)
			return -ENOMEM;

		if (cfs_node_is_dir(lc) && cfsi_layer_is_implicit(lc) &&
		    mc != NULL && (mc->mode & S_IFMT) == S_IFLNK) {
			/* a directory the tar only passes through, where the
			 * layers below have a symlink: the entries go where
			 * it leads, as an unpacker resolving the path puts
			 * them (one leading to something else than a
			 * directory is replaced) */
			struct cfs_node *to = follow_symlink(a->root, path, mc);

			if (to != NULL) {
				r = apply_dir(a, to, lc, cpath, depth + 1);
				if (r < 0)
					return r;
				continue;
			}
		}
		if (cfs_node_is_dir(lc)) {
			if (mc == NULL || !cfs_node_is_dir(mc)) {
				if (mc != NULL)
					cfsi_node_remove_child(mdir, mc);
				mc = cfsi_layer_new_dir(false);
				if (mc == NULL)
					return -ENOMEM;
				r = cfsi_layer_copy_meta(mc, lc);
				if (r == 0)
					r = cfs_node_add_child(mdir, mc,
							       lc->name);
				if (r < 0) {
					cfs_node_unref(mc);
					return cfs_error_set(a->err, r,
							     "%s: '%s': %s",
							     a->name, cpath,
							     strerror(-r));
				}
			} else if (!cfsi_layer_is_implicit(lc)) {
				r = cfsi_layer_copy_meta(mc, lc);
				if (r < 0)
					return r;
			}
			r = apply_dir(a, mc, lc, cpath, depth + 1);
			if (r < 0)
				return r;
			continue;
		}

		if (cfs_node_get_xattr(lc, CFSI_LAYER_HARDLINK, NULL) != NULL) {
			if (a->n_links == a->cap_links) {
				size_t cap = a->cap_links ? 2 * a->cap_links :
							    16;
				struct pending_link *l = reallocarray(
					a->links, cap, sizeof(*l));

				if (l == NULL)
					return -ENOMEM;
				a->links = l;
				a->cap_links = cap;
			}
			a->links[a->n_links++] = (struct pending_link){ cpath,
									lc };
			cpath = NULL;
			continue;
		}

		if (mc != NULL)
			cfsi_node_remove_child(mdir, mc);
		mc = file_node(a, lc, &r);
		if (mc == NULL)
			return cfs_error_set(a->err, r, "%s: '%s': %s", a->name,
					     cpath, strerror(-r));
		r = cfs_node_add_child(mdir, mc, lc->name);
		if (r < 0) {
			cfs_node_unref(mc);
			return cfs_error_set(a->err, r, "%s: '%s': %s", a->name,
					     cpath, strerror(-r));
		}
	}
	return 0;
}

static int apply_link(struct applier *a, struct cfs_node *root,
		      const struct pending_link *l)
{
	size_t len;
	const char *target = cfs_node_get_xattr(l->layer_node,
						CFSI_LAYER_HARDLINK, &len);
	_cleanup_free_ char *tpath = strndup(target, len);
	char *slash = strrchr(l->path, '/');
	struct cfs_node *t, *dir, *old, *node;
	const char *name;
	int r;

	if (tpath == NULL)
		return -ENOMEM;
	t = cfsi_path_walk(root, tpath, NULL, NULL);
	if (t == NULL || cfs_node_is_dir(t))
		return cfs_error_set(a->err, -ENOENT,
				     "%s: '%s': hard link to '%s', which is "
				     "not a file",
				     a->name, l->path, tpath);
	t = cfs_node_resolve(t);
	if (slash != NULL) {
		*slash = '\0';
		dir = cfsi_path_walk(root, l->path, NULL, NULL);
		*slash = '/';
		name = slash + 1;
	} else {
		dir = root;
		name = l->path;
	}
	if (dir == NULL || !cfs_node_is_dir(dir))
		return cfs_error_set(a->err, -ENOENT,
				     "%s: '%s': its directory is gone", a->name,
				     l->path);
	node = cfs_node_new();
	if (node == NULL)
		return -ENOMEM;
	node->mode = t->mode;
	r = cfs_node_make_hardlink(node, t);
	if (r < 0) {
		cfs_node_unref(node);
		return cfs_error_set(a->err, r, "%s: '%s': hard link: %s",
				     a->name, l->path, strerror(-r));
	}
	old = cfs_node_lookup_child(dir, name);
	if (old != NULL)
		cfsi_node_remove_child(dir, old);
	r = cfs_node_add_child(dir, node, name);
	if (r < 0) {
		cfs_node_unref(node);
		return cfs_error_set(a->err, r, "%s: '%s': %s", a->name,
				     l->path, strerror(-r));
	}
	return 0;
}

int cfsi_layer_apply(struct cfs_node *root, const struct cfs_node *layer,
		     const char *name, struct cfs_error *err)
{
	struct applier a = { .root = root, .name = name, .err = err };
	int r = 0;

	if (!cfsi_layer_is_implicit(layer))
		r = cfsi_layer_copy_meta(root, layer);
	if (r == 0)
		r = apply_dir(&a, root, layer, "", 0);
	for (size_t i = 0; r == 0 && i < a.n_links; i++)
		r = apply_link(&a, root, &a.links[i]);
	for (size_t i = 0; i < a.n_links; i++)
		free(a.links[i].path);
	free(a.links);
	for (size_t i = 0; i < a.inodes_size; i++)
		cfs_node_unref(a.inodes[i].node);
	free(a.inodes);
	if (r == -ENOMEM && err != NULL && err->message[0] == '\0')
		cfs_error_set(err, r, "%s: out of memory", name);
	return r;
}

/* ------------------------------------------------------------------ */
/* Finishing */

static void count_links(struct cfs_node *dir, bool counting)
{
	for (size_t i = 0; i < dir->n_children; i++) {
		struct cfs_node *c = dir->children[i];

		if (cfs_node_is_dir(c)) {
			count_links(c, counting);
			continue;
		}
		if (counting)
			cfs_node_resolve(c)->nlink++;
		else
			cfs_node_resolve(c)->nlink = 0;
	}
}

int cfsi_import_finish(struct cfs_node *root)
{
	count_links(root, false);
	count_links(root, true);
	return cfs_tree_as_shown(root);
}
