/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* The node tree's representation, shared inside the library only. */
#ifndef CFS_NODE_I_H
#define CFS_NODE_I_H

#include "composefs-c/composefs.h"

struct cfs_xattr {
	char *name;
	uint8_t *value;
	uint16_t len;
};

/*
 * The order of the fields is part of the ABI. A struct lcfs_node_s of the
 * libcomposefs API is a struct cfs_node, and the reference
 * implementation's tools, built against its private header, read fields of
 * it directly (its mkcomposefs reads the mode, at offset 144 on 64-bit
 * targets, to find regular files). So the fields common to both lie where
 * that header has them: reference count, parent, children, hard link
 * target, name, payload, content, xattrs, digest, then the inode's fields
 * in a struct of their own (aligned as that header's is, on any target):
 * mode, link count, owner, rdev (its low 32 bits where the reference has
 * 32), size and mtime. node.c checks the offsets at build time. New
 * fields (a longer digest among them) go at the end.
 */
struct cfs_node {
	int refcount;

	struct cfs_node *parent; /* not owned */

	struct cfs_node **children; /* sorted by name, owned */
	size_t children_cap;
	size_t n_children;

	struct cfs_node *link_to; /* hard link target, owned */

	/* Scratch space of the image writer while it runs (where the
	 * reference keeps a flag of its own). */
	const void *wr_owner;

	char *name; /* NULL for a root */
	char *payload; /* object path or symlink target */
	uint8_t *content; /* inline content, size bytes */

	struct cfs_xattr *xattrs;
	size_t n_xattrs;
	size_t xattr_budget; /* bytes counted against CFS_XATTR_EXTERNAL_MAX */

	bool has_digest;
	uint8_t digest[CFS_DIGEST_SIZE];

	struct {
		uint32_t mode;
		uint32_t nlink;
		uint32_t uid;
		uint32_t gid;
		uint64_t rdev;
		uint64_t size;
		int64_t mtime_sec;
		uint32_t mtime_nsec;
	};

	uint32_t wr_index; /* the writer's scratch too */

	/* The whole digest (digest above holds its first 32 bytes, where
	 * the reference's tools look) and its enum cfs_hash_alg. */
	uint8_t digest_alg;
	uint8_t digest_full[CFS_DIGEST_MAX_SIZE];
};

/* The size of node's digest (when has_digest). */
static inline size_t cfsi_node_digest_size(const struct cfs_node *n)
{
	return n->digest_alg == CFS_HASH_SHA512 ? 64 : 32;
}

static inline bool cfs_node_is_dir(const struct cfs_node *n)
{
	return (n->mode & 0170000) == 0040000;
}

/* cfs_node_set_xattr with another budget than CFS_XATTR_EXTERNAL_MAX (the
 * image reader takes whatever an image holds). */
int cfsi_node_set_xattr_limit(struct cfs_node *node, const char *name,
			      const void *value, size_t len, size_t limit);

/* Take child out of parent and drop the parent's reference (a hard link
 * elsewhere may keep the node alive). Nothing when child is not parent's. */
void cfsi_node_remove_child(struct cfs_node *parent, struct cfs_node *child);

/* For building a big tree fast: children appended in any order (no check
 * for a name taken), taken out by index (the last child moves there), and
 * sorted by name once the directory is complete; until then no other
 * function may look into the directory. Errors as cfs_node_add_child. */
int cfsi_node_append_child(struct cfs_node *parent, struct cfs_node *child,
			   const char *name);
void cfsi_node_remove_child_at(struct cfs_node *parent, size_t i);
void cfsi_node_sort_children(struct cfs_node *node);

/* What an inode's metadata is onto dst: mode, owner, mtime, and the xattrs
 * of src in place of dst's (but those whose name starts with skip_prefix,
 * when not NULL). dst's size, content, payload and children stay. 0 or
 * -ENOMEM. */
int cfsi_node_copy_meta(struct cfs_node *dst, const struct cfs_node *src,
			const char *skip_prefix);

enum {
	CFSI_NODE_COPY_NLINK = 1 << 0, /* the link count too */
	CFSI_NODE_COPY_LINK = 1 << 1, /* the hard link target too (a ref) */
};
/* The one node copy: a new node with src's metadata (as
 * cfsi_node_copy_meta), rdev, size, digest, payload and inline content;
 * not its name, parent or children. NULL on ENOMEM. */
struct cfs_node *cfsi_node_copy(const struct cfs_node *src, unsigned flags,
				const char *skip_prefix);

/* Follow hard links to the inode they name (links are never cyclic: the
 * constructor refuses cycles). */
static inline struct cfs_node *cfs_node_resolve(struct cfs_node *n)
{
	while (n->link_to != NULL)
		n = n->link_to;
	return n;
}

#endif
