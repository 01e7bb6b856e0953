/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The EROFS image writer's state, shared by its three stages: the inode
 * list built from the tree (erofs-writer.c), xattr sharing and the layout
 * (erofs-layout.c), and the bytes of the image (erofs-emit.c).
 */
#ifndef CFS_EROFS_WRITER_I_H
#define CFS_EROFS_WRITER_I_H

#include <stdbool.h>
#include <stdint.h>

#include "composefs-c/composefs.h"
#include "format/erofs-format.h"
#include "format/hash_alg_i.h"
#include "base/util.h"

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
	const struct cfsi_hash_alg *alg; /* of the metacopy digests */
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

/* The chunk size (as bits) and count of a non-inline regular file. */
static inline void chunk_layout(uint64_t size, uint32_t *ret_bits,
				uint32_t *ret_count)
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

/* A directory's size once laid out: its full blocks and its tail. */
static inline uint64_t dir_size(const struct winode *wi)
{
	return (uint64_t)wi->n_blocks * EROFS_BLOCK_SIZE + wi->tail_size;
}

/* erofs-layout.c: the xattrs each inode carries in the image, in canonical
 * order, and which are shared; then every inode's size, place and nid. */
void cfsi_wxattr_set_prefix(struct wxattr *x);
int cfsi_writer_compute_xattrs(struct writer *w);
int cfsi_writer_compute_layout(struct writer *w);
/* erofs-emit.c: the image, written to fd (when >= 0) and measured into
 * ret_digest (when not NULL). */
int cfsi_writer_emit(struct writer *w, int fd, uint8_t *ret_digest);

#endif
