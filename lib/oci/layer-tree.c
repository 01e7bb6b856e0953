/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * What a layer tree is made of (lib/oci/import_i.h): its paths, found
 * with one walk, its marked nodes, and the copies of nodes from a layer
 * into the tree it is applied onto. Shared by the reader of tar layers
 * (layer-read.c) and their applier (layer-apply.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/import_i.h"
#include "tree/node_i.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Paths */

/* name made relative to the root, lexically: no "", "." or ".." component
 * (".." stops at the root), no leading or trailing '/'. "" is the root.
 * Returns a malloc'd string or NULL. */
char *cfsi_clean_path(const char *name)
{
	size_t len = strlen(name);
	char *out = malloc(len + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (const char *p = name; *p;) {
		const char *end;
		size_t n;

		while (*p == '/')
			p++;
		end = strchrnul(p, '/');
		n = (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the '/' before it */
		} else {
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = end;
	}
	out[o] = '\0';
	return out;
}

static struct cfs_node *plain_child(void *userdata, struct cfs_node *dir,
				    const char *name)
{
	return cfs_node_lookup_child(dir, name);
}

struct cfs_node *cfsi_path_walk(struct cfs_node *root, const char *path,
				cfsi_child_fn child, void *userdata)
{
	struct cfs_node *n = root;
	char comp[CFS_NAME_MAX + 1];

	if (child == NULL)
		child = plain_child;
	while (*path) {
		const char *end = strchrnul(path, '/');
		size_t len = (size_t)(end - path);

		if (len > CFS_NAME_MAX || !cfs_node_is_dir(n))
			return NULL;
		memcpy(comp, path, len);
		comp[len] = '\0';
		n = child(userdata, n, comp);
		if (n == NULL)
			return NULL;
		path = *end ? end + 1 : end;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Metadata */

/* What an entry says of an inode, onto dst (a directory's children and a
 * file's content stay); the layer's own marks are not metadata. */
int cfsi_layer_copy_meta(struct cfs_node *dst, const struct cfs_node *src)
{
	return cfsi_node_copy_meta(dst, src, CFSI_LAYER_PREFIX);
}

/* A new node with everything of src but its name, children and links. */
struct cfs_node *cfsi_layer_copy_node(const struct cfs_node *src)
{
	return cfsi_node_copy(src, 0, CFSI_LAYER_PREFIX);
}

bool cfsi_layer_is_implicit(const struct cfs_node *n)
{
	return cfs_node_get_xattr(n, CFSI_LAYER_IMPLICIT, NULL) != NULL;
}

struct cfs_node *cfsi_layer_new_dir(bool implicit)
{
	struct cfs_node *n = cfs_node_new();

	if (n == NULL)
		return NULL;
	n->mode = S_IFDIR | 0755;
	if (implicit && cfs_node_set_xattr(n, CFSI_LAYER_IMPLICIT, "", 0) < 0)
		return cfs_node_unref(n);
	return n;
}

struct cfs_node *cfsi_import_root_new(void)
{
	return cfsi_layer_new_dir(false);
}
