/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Tar layers into node trees (tar-import.c), for the repository's imports
 * (import.c). */
#ifndef CFS_IMPORT_I_H
#define CFS_IMPORT_I_H

#include <stdbool.h>
#include <stdint.h>

#include "composefs-c/repo.h"

/*
 * A layer tree is a tar stream read into a node tree as it is, before it is
 * applied to the layers below it: whiteout entries (".wh.NAME",
 * ".wh..wh..opq") are kept as the files they are, and two kinds of node are
 * marked with an xattr of the private prefix below (an xattr of that prefix
 * in a tar is dropped):
 *  - CFSI_LAYER_IMPLICIT: a directory the tar did not have, made because
 *    an entry below it needed it (mode 0755, owner 0:0, mtime 0); applied,
 *    it leaves an existing directory as it is;
 *  - CFSI_LAYER_HARDLINK: an empty file standing for a hard link to a file
 *    of a layer below; the value is its path (relative to the root, no
 *    leading '/'). A hard link to a file of the layer itself is a hard link
 *    of the tree, to the inode the name held when the link was read.
 * A layer tree is itself a tree an image can hold, so that the repository
 * keeps imported layers as images and applies them again without reading
 * their tar.
 */
#define CFSI_LAYER_PREFIX "trusted.composefs-c.layer."
#define CFSI_LAYER_IMPLICIT CFSI_LAYER_PREFIX "implicit"
#define CFSI_LAYER_HARDLINK CFSI_LAYER_PREFIX "hardlink"

/* What reading a tar stream found out besides its tree. */
struct cfsi_tar_result {
	uint8_t blob_sha256[32]; /* of the bytes read from the fd */
	uint8_t diff_sha256[32]; /* of the uncompressed tar */
	uint64_t blob_size, diff_size;
	uint64_t n_entries, n_objects;
};

/* Called after each entry: bytes read from the fd so far, entries read. */
typedef void (*cfsi_tar_progress_fn)(void *userdata, uint64_t bytes,
				     uint64_t entries);

/* Read the tar stream on fd (plain, or compressed in any way libarchive
 * knows, detected from the bytes) to its end into a new layer tree.
 * Regular files over CFS_INLINE_RECOMMENDED_MAX bytes go to store as they
 * stream; the rest is kept in the tree. lower (may be NULL) is the tree the
 * layer goes onto: a hard link must name a file of the layer read so far
 * or of lower. name names the stream in messages. The files' digests are
 * of the store's algorithm, without a store of alg's. */
int cfsi_tar_read(int fd, const char *name, struct cfs_store *store,
		  enum cfs_hash_alg alg, const struct cfs_node *lower,
		  cfsi_tar_progress_fn progress, void *userdata,
		  struct cfs_node **ret_layer,
		  struct cfsi_tar_result *ret_result, struct cfs_error *err);

/* A new root for an import: a directory, mode 0755, owner 0:0, mtime 0. */
struct cfs_node *cfsi_import_root_new(void);

/* The parts of layer trees (lib/oci/layer-tree.c). */

/* name made relative to the root, lexically: no "", "." or ".." component
 * (".." stops at the root), no leading or trailing '/'. "" is the root.
 * Returns a malloc'd string or NULL. */
char *cfsi_clean_path(const char *name);
/* The child name of the directory dir, or NULL. */
typedef struct cfs_node *(*cfsi_child_fn)(void *userdata, struct cfs_node *dir,
					  const char *name);
/* The one walk down a tree: the node at path (clean) below root, without
 * following symlinks, children found by child (NULL: by name, as
 * cfs_node_lookup_child); NULL when there is none. */
struct cfs_node *cfsi_path_walk(struct cfs_node *root, const char *path,
				cfsi_child_fn child, void *userdata);
/* What an entry says of an inode (mode, owner, mtime, xattrs but the
 * layer's marks) onto dst; children, content and payload stay. */
int cfsi_layer_copy_meta(struct cfs_node *dst, const struct cfs_node *src);
/* A copy of src without its name, children, links and marks. */
struct cfs_node *cfsi_layer_copy_node(const struct cfs_node *src);
/* Whether n is marked CFSI_LAYER_IMPLICIT. */
bool cfsi_layer_is_implicit(const struct cfs_node *n);
/* A new directory, mode 0755, owner 0:0, mtime 0, marked implicit when
 * asked. NULL on ENOMEM. */
struct cfs_node *cfsi_layer_new_dir(bool implicit);

/* Apply the layer tree layer onto root as a layer of an OCI image goes
 * onto the layers below: whiteouts remove what they name in root, opaque
 * directories lose what they had, entries replace what is there (a
 * directory onto a directory takes its metadata and keeps its children),
 * hard links are made last. name names the layer in messages. */
int cfsi_layer_apply(struct cfs_node *root, const struct cfs_node *layer,
		     const char *name, struct cfs_error *err);

/* Make an imported tree what a scan of it written to disk gives with
 * hard links kept: each hard-linked file's link count is the number of its
 * names in the tree, and its first name in a depth-first walk in name
 * order is the file. */
int cfsi_import_finish(struct cfs_node *root);

#endif
