/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The tree of an OCI image as composefs-rs digests it, so that the same
 * image gives the same composefs image (and digest) whether it is built
 * from its layers or from a mounted copy of it, with either
 * implementation. On the tree the layers give:
 *
 *  1. the root takes /usr's metadata: the whole mode word, owner, mtime
 *     (seconds and nanoseconds) and all its xattrs (a tar's root entry, or
 *     a runtime's root, varies from one tool to the next; /usr does not);
 *  2. /run, where there is one, is emptied and takes /usr's mtime (its own
 *     mode and owner stay): it is a runtime directory, whatever an image
 *     left in it;
 *  3. every inode keeps only the xattrs of the allowlist: security.capability
 *     (and with CFS_OCI_KEEP_USER_XATTRS those starting with "user.");
 *  4. files no name reaches any more are gone, and link counts are those
 *     of the names left.
 *
 * An image without a /usr directory has no such digest: refused.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "composefs-c/repo.h"
#include "oci/import_i.h"
#include "tree/node_i.h"
#include "base/util.h"

static bool xattr_kept(const char *name, unsigned flags)
{
	if (strcmp(name, "security.capability") == 0)
		return true;
	return (flags & CFS_OCI_KEEP_USER_XATTRS) &&
	       strncmp(name, "user.", 5) == 0;
}

static int filter_xattrs(struct cfs_node *n, unsigned flags)
{
	size_t i = 0;

	n = cfs_node_resolve(n);
	while (i < n->n_xattrs) {
		int r;

		if (xattr_kept(n->xattrs[i].name, flags)) {
			i++;
			continue;
		}
		/* the entries after it move down */
		r = cfs_node_unset_xattr(n, n->xattrs[i].name);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Every node of the tree, without recursion (an image's depth is the
 * layers' choice). */
static int filter_tree(struct cfs_node *root, unsigned flags)
{
	struct cfs_node **stack;
	size_t n = 0, cap = 64;
	int r = 0;

	stack = malloc(cap * sizeof(*stack));
	if (stack == NULL)
		return -ENOMEM;
	stack[n++] = root;
	while (n > 0 && r == 0) {
		struct cfs_node *dir = stack[--n];

		r = filter_xattrs(dir, flags);
		for (size_t i = 0; r == 0 && i < dir->n_children; i++) {
			struct cfs_node *c = dir->children[i];

			if (!cfs_node_is_dir(c)) {
				r = filter_xattrs(c, flags);
				continue;
			}
			if (n == cap) {
				struct cfs_node **bigger = realloc(
					stack, 2 * cap * sizeof(*stack));

				if (bigger == NULL) {
					r = -ENOMEM;
					break;
				}
				stack = bigger;
				cap *= 2;
			}
			stack[n++] = c;
		}
	}
	free(stack);
	return r;
}

int cfs_oci_transform(struct cfs_node *root, unsigned flags,
		      struct cfs_error *err)
{
	struct cfs_node *usr, *run;
	int r;

	if (root == NULL || !cfs_node_is_dir(root))
		return cfs_error_set(err, -EINVAL, "no root directory");
	usr = cfs_node_lookup_child(root, "usr");
	if (usr == NULL || !cfs_node_is_dir(usr))
		return cfs_error_set(
			err, usr == NULL ? -ENOENT : -ENOTDIR,
			"the image has no /usr directory%s, whose metadata "
			"the root takes in composefs-rs's digest of an OCI "
			"image (import it as unpacked instead)",
			usr == NULL ? "" : " (it is not a directory)");
	run = cfs_node_lookup_child(root, "run");
	if (run != NULL && !cfs_node_is_dir(run))
		return cfs_error_set(err, -ENOTDIR,
				     "the image's /run is not a directory, "
				     "which composefs-rs's digest of an OCI "
				     "image refuses (import it as unpacked "
				     "instead)");

	r = cfsi_node_copy_meta(root, usr, NULL);
	if (r == 0 && run != NULL) {
		run->mtime_sec = usr->mtime_sec;
		run->mtime_nsec = usr->mtime_nsec;
		while (run->n_children > 0)
			cfsi_node_remove_child(
				run, run->children[run->n_children - 1]);
	}
	if (r == 0)
		r = filter_tree(root, flags);
	if (r == 0)
		r = cfsi_import_finish(root);
	if (r < 0)
		return cfs_error_set(err, r, "transforming the tree: %s",
				     strerror(-r));
	return 0;
}
