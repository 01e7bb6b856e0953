/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The EROFS image writer's last stage: a zeroed buffer the size of the
 * image filled with the superblock, inodes, xattrs, directory blocks and
 * chunk indexes, then written out and measured.
 */
#include "config.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/erofs_writer_i.h"
#include "format/xxhash32.h"

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

int cfsi_writer_emit(struct writer *w, int fd, uint8_t *ret_digest)
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

		cfsi_wxattr_set_prefix(&x);
		put_xattr(image + w->inodes_end + w->shared[i]->offset, &x);
	}

	if (ret_digest != NULL)
		r = cfs_fsverity_digest_buffer_alg(w->alg->id, image, total,
						   ret_digest);
	if (r == 0 && fd >= 0)
		r = cfsi_write_all(fd, image, total);
	free(image);
	return r;
}
