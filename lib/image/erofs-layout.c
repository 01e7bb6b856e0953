/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The EROFS image writer's middle stage: the xattrs of every inode in
 * canonical order with their name prefixes, the shared xattr area, then
 * each inode's size, padding and place (nid), as the reference writer
 * decides them.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image/erofs_writer_i.h"
#include "format/xxhash32.h"

/* ------------------------------------------------------------------ */
/* Xattrs: canonical order, prefixes, sharing */

static int cmp_wxattr(const void *a, const void *b)
{
	return strcmp(((const struct wxattr *)a)->name,
		      ((const struct wxattr *)b)->name);
}

void cfsi_wxattr_set_prefix(struct wxattr *x)
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

int cfsi_writer_compute_xattrs(struct writer *w)
{
	size_t total = 0, mask;
	uint64_t offset = 0;

	for (size_t i = 0; i < w->n_inodes; i++) {
		struct winode *wi = &w->inodes[i];

		if (wi->n_xattrs > 1)
			qsort(wi->xattrs, wi->n_xattrs, sizeof(*wi->xattrs),
			      cmp_wxattr);
		for (uint32_t j = 0; j < wi->n_xattrs; j++) {
			cfsi_wxattr_set_prefix(&wi->xattrs[j]);
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

		cfsi_wxattr_set_prefix(&tmp);
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

int cfsi_writer_compute_layout(struct writer *w)
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
