/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* The image reader's internals, shared inside the library only. */
#ifndef CFS_IMAGE_I_H
#define CFS_IMAGE_I_H

#include "composefs-c/composefs.h"

struct cfs_image {
	const uint8_t *data;
	size_t size;
	bool mapped;
	bool owned; /* data is malloc'd and freed with the image */

	uint32_t version, flags;
	uint64_t meta_start, xattr_start, root_nid;
	int64_t build_time;
	uint32_t build_time_nsec;
};

/* An inode with where its parts are, every range checked to lie inside the
 * image. */
struct cfsi_inode {
	struct cfs_inode pub;
	uint16_t layout;
	bool chunked;
	uint64_t xattr_off; /* absolute */
	uint32_t xattr_size;
	uint64_t blocks_off; /* absolute offset of the full blocks */
	uint64_t n_blocks; /* full blocks outside the inode */
	uint64_t tail_off, tail_len; /* inline tail */
};

int cfsi_image_inode(const struct cfs_image *img, uint64_t nid,
		     struct cfsi_inode *ino, struct cfs_error *err);
int cfsi_image_readdir(const struct cfs_image *img,
		       const struct cfsi_inode *dir, uint64_t start,
		       cfs_dirent_fn fn, void *userdata, struct cfs_error *err);
int cfsi_image_xattrs(const struct cfs_image *img, const struct cfsi_inode *ino,
		      cfs_xattr_fn fn, void *userdata, struct cfs_error *err);
/* Copy flat (non-chunked) data; -ENODATA for a chunked file. */
int cfsi_image_flat_data(const struct cfs_image *img,
			 const struct cfsi_inode *ino, uint64_t offset,
			 void *buf, size_t len, size_t *ret_copied,
			 struct cfs_error *err);

/* One overlay xattr as overlayfs reads it, the one decoding of them for
 * the reader's overlay info and the tree builder: 1 when name is one of
 * them (info updated), 0 when not, -EUCLEAN for an invalid value (an
 * empty or over-long redirect). */
int cfsi_overlay_xattr(const char *name, const void *value, size_t len,
		       struct cfs_overlay_info *info);

#endif
