/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The image reader: bounds-checked access to a composefs EROFS image.
 *
 * Every number taken from the image is checked before it is used as an
 * offset, length or count, with overflow-safe arithmetic; nothing outside
 * [data, data + size) is ever read. Errors are -EUCLEAN with a message that
 * says what is wrong and where (which nid, which block).
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/erofs-format.h"
#include "format/hash_alg_i.h"
#include "image/image_i.h"
#include "base/util.h"

#define bad_image(err, ...) cfs_error_set(err, -EUCLEAN, __VA_ARGS__)

/* Is [off, off + len) inside the image? */
static bool in_image(const struct cfs_image *img, uint64_t off, uint64_t len)
{
	return off <= img->size && len <= img->size - off;
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static int image_validate(struct cfs_image *img, struct cfs_error *err)
{
	const uint8_t *h = img->data, *sb;
	struct cfsi_inode root;
	uint32_t blocks;
	int r;

	if (img->size < EROFS_SUPER_OFFSET + sizeof(struct erofs_super_block))
		return bad_image(err, "image too small (%zu bytes)", img->size);
	if (get32(h) != CFS_EROFS_MAGIC)
		return cfs_error_set(err, -EINVAL,
				     "not a composefs image (bad magic)");
	if (get32(h + 4) != CFS_EROFS_HEADER_VERSION)
		return cfs_error_set(err, -EOPNOTSUPP,
				     "unsupported composefs header version %u",
				     get32(h + 4));
	img->flags = get32(h + 8);
	img->version = get32(h + 12);

	sb = h + EROFS_SUPER_OFFSET;
	if (get32(sb) != EROFS_SUPER_MAGIC)
		return bad_image(err, "no EROFS superblock (bad magic)");
	if (sb[12] != EROFS_BLOCK_BITS)
		return cfs_error_set(err, -EOPNOTSUPP,
				     "unsupported EROFS block size 2^%u",
				     sb[12]);
	if (get32(sb + 80) != 0)
		return cfs_error_set(err, -EOPNOTSUPP,
				     "unsupported EROFS features 0x%x",
				     get32(sb + 80));
	img->build_time = (int64_t)get64(sb + 24);
	img->build_time_nsec = get32(sb + 32);
	blocks = get32(sb + 36);
	if ((uint64_t)blocks * EROFS_BLOCK_SIZE > img->size)
		return bad_image(err,
				 "image truncated: %u blocks of %u bytes, "
				 "file has %zu",
				 blocks, EROFS_BLOCK_SIZE, img->size);
	img->meta_start = (uint64_t)get32(sb + 40) * EROFS_BLOCK_SIZE;
	img->xattr_start = (uint64_t)get32(sb + 44) * EROFS_BLOCK_SIZE;
	if (img->meta_start >= img->size || img->xattr_start > img->size)
		return bad_image(err,
				 "metadata or xattr area outside the image");
	img->root_nid = get16(sb + 14);

	r = cfsi_image_inode(img, img->root_nid, &root, err);
	if (r < 0)
		return r;
	if ((root.pub.mode & S_IFMT) != S_IFDIR)
		return bad_image(err, "root inode %llu is not a directory",
				 (unsigned long long)img->root_nid);
	return 0;
}

int cfs_image_open_buffer(const void *data, size_t size,
			  struct cfs_image **ret_image, struct cfs_error *err)
{
	struct cfs_image *img = calloc(1, sizeof(*img));
	int r;

	if (img == NULL)
		return -ENOMEM;
	img->data = data;
	img->size = size;
	r = image_validate(img, err);
	if (r < 0) {
		free(img);
		return r;
	}
	*ret_image = img;
	return 0;
}

int cfs_image_open_fd(int fd, struct cfs_image **ret_image,
		      struct cfs_error *err)
{
	struct stat st;
	off_t size;
	void *map;
	int r;

	if (fstat(fd, &st) < 0)
		return cfs_error_set(err, -errno, "stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return cfs_error_set(err, -EINVAL,
				     "not a regular file or block device");
	/* a block device's size is not in st_size */
	size = S_ISBLK(st.st_mode) ? lseek(fd, 0, SEEK_END) : st.st_size;
	if (size < 0)
		return cfs_error_set(err, -errno, "size: %s", strerror(errno));
	if (size <
	    (off_t)(EROFS_SUPER_OFFSET + sizeof(struct erofs_super_block)))
		return bad_image(err, "image too small (%lld bytes)",
				 (long long)size);
	if ((uint64_t)size > SIZE_MAX)
		return cfs_error_set(err, -EFBIG, "image too large");
	map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return cfs_error_set(err, -errno, "mmap: %s", strerror(errno));
	r = cfs_image_open_buffer(map, (size_t)size, ret_image, err);
	if (r < 0) {
		munmap(map, (size_t)size);
		return r;
	}
	(*ret_image)->mapped = true;
	return 0;
}

int cfs_image_open(const char *path, struct cfs_image **ret_image,
		   struct cfs_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct cfs_error local = { { 0 } };
	int r;

	if (fd < 0)
		return cfs_error_set(err, -errno, "%s: %s", path,
				     strerror(errno));
	r = cfs_image_open_fd(fd, ret_image, &local);
	if (r < 0)
		return cfs_error_set(err, r, "%s: %s", path, local.message);
	return 0;
}

struct cfs_image *cfs_image_free(struct cfs_image *img)
{
	if (img != NULL) {
		if (img->mapped)
			munmap((void *)img->data, img->size);
		if (img->owned)
			free((void *)img->data);
		free(img);
	}
	return NULL;
}

uint32_t cfs_image_get_version(const struct cfs_image *img)
{
	return img->version;
}

uint64_t cfs_image_get_root_nid(const struct cfs_image *img)
{
	return img->root_nid;
}

/* ------------------------------------------------------------------ */
/* Inodes */

/* How many units of 2^bits bytes hold size bytes; unlike DIV_ROUND_UP,
 * right for sizes near 2^64 too (where rounding up wrapped to a few
 * blocks, and a directory of 2^64 - 1 bytes read as an empty one). */
static uint64_t units_of(uint64_t size, unsigned bits)
{
	return (size >> bits) + ((size & (((uint64_t)1 << bits) - 1)) != 0);
}

int cfsi_image_inode(const struct cfs_image *img, uint64_t nid,
		     struct cfsi_inode *ino, struct cfs_error *err)
{
	const uint8_t *p;
	uint64_t off, isize, nblocks, tail_off;
	uint16_t format, icount;
	uint32_t iu;
	bool compact;

	memset(ino, 0, sizeof(*ino));
	if (nid > (img->size >> EROFS_SLOT_BITS))
		return bad_image(err, "inode %llu outside the image",
				 (unsigned long long)nid);
	off = img->meta_start + (nid << EROFS_SLOT_BITS);
	if (!in_image(img, off, sizeof(struct erofs_inode_compact)))
		return bad_image(err, "inode %llu outside the image",
				 (unsigned long long)nid);
	p = img->data + off;
	format = get16(p);
	compact = ((format >> EROFS_I_VERSION_BIT) & EROFS_I_VERSION_MASK) == 0;
	ino->layout = (format >> EROFS_I_DATALAYOUT_BIT) &
		      EROFS_I_DATALAYOUT_MASK;
	isize = compact ? sizeof(struct erofs_inode_compact) :
			  sizeof(struct erofs_inode_extended);
	if (!in_image(img, off, isize))
		return bad_image(err, "inode %llu outside the image",
				 (unsigned long long)nid);

	icount = get16(p + 2);
	ino->pub.nid = nid;
	ino->pub.mode = get16(p + 4);
	iu = get32(p + 16);
	ino->pub.ino = get32(p + 20);
	if (compact) {
		ino->pub.nlink = get16(p + 6);
		ino->pub.size = get32(p + 8);
		ino->pub.uid = get16(p + 24);
		ino->pub.gid = get16(p + 26);
		ino->pub.mtime_sec = img->build_time;
		ino->pub.mtime_nsec = img->build_time_nsec;
	} else {
		ino->pub.size = get64(p + 8);
		ino->pub.uid = get32(p + 24);
		ino->pub.gid = get32(p + 28);
		ino->pub.mtime_sec = (int64_t)get64(p + 32);
		ino->pub.mtime_nsec = get32(p + 40);
		ino->pub.nlink = get32(p + 44);
	}
	if (ino->pub.mtime_nsec >= 1000000000u)
		return bad_image(err, "inode %llu: nanoseconds out of range",
				 (unsigned long long)nid);

	switch (ino->pub.mode & S_IFMT) {
	case S_IFCHR:
	case S_IFBLK:
		ino->pub.rdev = iu;
		ino->pub.size = 0;
		break;
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
		break;
	case S_IFIFO:
	case S_IFSOCK:
		ino->pub.size = 0;
		break;
	default:
		return bad_image(err,
				 "inode %llu: invalid file type in mode 0%o",
				 (unsigned long long)nid, ino->pub.mode);
	}

	ino->xattr_off = off + isize;
	ino->xattr_size = icount ? sizeof(struct erofs_xattr_ibody_header) +
					   (uint32_t)(icount - 1) * 4 :
				   0;
	if (!in_image(img, ino->xattr_off, ino->xattr_size))
		return bad_image(err, "inode %llu: xattrs outside the image",
				 (unsigned long long)nid);
	tail_off = ino->xattr_off + ino->xattr_size;

	if (S_ISCHR(ino->pub.mode) || S_ISBLK(ino->pub.mode) ||
	    S_ISFIFO(ino->pub.mode) || S_ISSOCK(ino->pub.mode))
		return 0;

	switch (ino->layout) {
	case EROFS_INODE_FLAT_PLAIN:
	case EROFS_INODE_FLAT_INLINE:
		nblocks = units_of(ino->pub.size, EROFS_BLOCK_BITS);
		ino->n_blocks = nblocks;
		if (ino->layout == EROFS_INODE_FLAT_INLINE && nblocks > 0) {
			ino->n_blocks = nblocks - 1;
			ino->tail_off = tail_off;
			ino->tail_len = ino->pub.size -
					ino->n_blocks * EROFS_BLOCK_SIZE;
			if (!in_image(img, tail_off, ino->tail_len))
				return bad_image(
					err,
					"inode %llu: inline data outside the image",
					(unsigned long long)nid);
			/* the kernel reads an inline tail from one block */
			if (tail_off % EROFS_BLOCK_SIZE + ino->tail_len >
			    EROFS_BLOCK_SIZE)
				return bad_image(
					err,
					"inode %llu: inline data crosses a block boundary",
					(unsigned long long)nid);
		}
		ino->blocks_off = (uint64_t)iu * EROFS_BLOCK_SIZE;
		if (ino->n_blocks > 0 &&
		    (ino->n_blocks > img->size / EROFS_BLOCK_SIZE ||
		     !in_image(img, ino->blocks_off,
			       ino->n_blocks * EROFS_BLOCK_SIZE)))
			return bad_image(
				err,
				"inode %llu: data blocks outside the image",
				(unsigned long long)nid);
		break;
	case EROFS_INODE_CHUNK_BASED: {
		uint16_t cformat = iu & 0xffff;
		unsigned bits = EROFS_BLOCK_BITS +
				(cformat & EROFS_CHUNK_FORMAT_BLKBITS_MASK);
		uint64_t entry = (cformat & EROFS_CHUNK_FORMAT_INDEXES) ? 8 : 4;
		uint64_t chunks = bits >= 64 ? 1 :
					       units_of(ino->pub.size, bits);

		if (!S_ISREG(ino->pub.mode))
			return bad_image(err,
					 "inode %llu: chunked non-regular file",
					 (unsigned long long)nid);
		if (chunks > img->size / entry ||
		    !in_image(img, tail_off, chunks * entry))
			return bad_image(
				err,
				"inode %llu: chunk table outside the image",
				(unsigned long long)nid);
		ino->chunked = true;
		break;
	}
	default:
		return bad_image(err, "inode %llu: unsupported data layout %u",
				 (unsigned long long)nid, ino->layout);
	}
	if (S_ISLNK(ino->pub.mode) &&
	    (ino->pub.size == 0 || ino->pub.size > CFS_PAYLOAD_MAX))
		return bad_image(err, "inode %llu: symlink of %llu bytes",
				 (unsigned long long)nid,
				 (unsigned long long)ino->pub.size);
	return 0;
}

int cfs_image_get_inode(const struct cfs_image *img, uint64_t nid,
			struct cfs_inode *ret_inode, struct cfs_error *err)
{
	struct cfsi_inode ino;
	int r = cfsi_image_inode(img, nid, &ino, err);

	if (r == 0)
		*ret_inode = ino.pub;
	return r;
}

/* Bytes [off, off + len) of an inode's flat data, which must lie within
 * one block of it; returns a pointer into the image. */
static const uint8_t *data_at(const struct cfs_image *img,
			      const struct cfsi_inode *ino, uint64_t block,
			      uint64_t *ret_len)
{
	if (block < ino->n_blocks) {
		uint64_t rest = ino->pub.size - block * EROFS_BLOCK_SIZE;

		*ret_len = rest < EROFS_BLOCK_SIZE ? rest : EROFS_BLOCK_SIZE;
		return img->data + ino->blocks_off + block * EROFS_BLOCK_SIZE;
	}
	if (block == ino->n_blocks && ino->tail_len > 0) {
		*ret_len = ino->tail_len;
		return img->data + ino->tail_off;
	}
	*ret_len = 0;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Directories */

/* Check a directory block and return its entry count. */
static int dir_block(const struct cfs_image *img, const struct cfsi_inode *dir,
		     uint64_t block, const uint8_t **ret_p, uint64_t *ret_len,
		     struct cfs_error *err)
{
	const uint8_t *p = data_at(img, dir, block, ret_len);
	uint32_t first;

	*ret_p = p;
	if (p == NULL || *ret_len < sizeof(struct erofs_dirent))
		return bad_image(err, "directory %llu: block %llu is truncated",
				 (unsigned long long)dir->pub.nid,
				 (unsigned long long)block);
	first = get16(p + 8);
	if (first < sizeof(struct erofs_dirent) ||
	    first % sizeof(struct erofs_dirent) != 0 || first >= *ret_len)
		return bad_image(
			err,
			"directory %llu: block %llu: bad first name offset %u",
			(unsigned long long)dir->pub.nid,
			(unsigned long long)block, first);
	return (int)(first / sizeof(struct erofs_dirent));
}

/* Entry i of a block of n: its name, nid and type. */
static int dir_entry(const struct cfs_image *img, const struct cfsi_inode *dir,
		     const uint8_t *p, uint64_t len, int n, int i,
		     const char **ret_name, size_t *ret_name_len,
		     uint64_t *ret_nid, uint8_t *ret_type,
		     struct cfs_error *err)
{
	const uint8_t *d = p + (size_t)i * sizeof(struct erofs_dirent);
	uint32_t start = get16(d + 8), end;

	if (i + 1 < n) {
		end = get16(d + sizeof(struct erofs_dirent) + 8);
	} else {
		/* the last name runs to the end of the block or a NUL */
		end = start;
		while (end < len && p[end] != '\0')
			end++;
	}
	if (start < (uint32_t)n * sizeof(struct erofs_dirent) || end > len ||
	    end <= start || end - start > CFS_NAME_MAX)
		return bad_image(err,
				 "directory %llu: entry name out of bounds",
				 (unsigned long long)dir->pub.nid);
	*ret_name = (const char *)p + start;
	*ret_name_len = end - start;
	*ret_nid = get64(d);
	*ret_type = d[10];
	return 0;
}

static uint64_t dir_nblocks(const struct cfsi_inode *dir)
{
	return dir->n_blocks + (dir->tail_len > 0 ? 1 : 0);
}

static int check_dir(const struct cfs_image *img, const struct cfsi_inode *dir,
		     struct cfs_error *err)
{
	if (!S_ISDIR(dir->pub.mode))
		return cfs_error_set(err, -ENOTDIR,
				     "inode %llu is not a directory",
				     (unsigned long long)dir->pub.nid);
	if (dir->chunked)
		return bad_image(err, "directory %llu is chunked",
				 (unsigned long long)dir->pub.nid);
	return 0;
}

int cfsi_image_readdir(const struct cfs_image *img,
		       const struct cfsi_inode *dir, uint64_t start,
		       cfs_dirent_fn fn, void *userdata, struct cfs_error *err)
{
	uint64_t index = 0, nblocks;
	int r = check_dir(img, dir, err);

	if (r < 0)
		return r;
	nblocks = dir_nblocks(dir);
	for (uint64_t b = 0; b < nblocks; b++) {
		const uint8_t *p;
		uint64_t len;
		int n = dir_block(img, dir, b, &p, &len, err);

		if (n < 0)
			return n;
		if (index + (uint64_t)n <= start) {
			index += n;
			continue;
		}
		for (int i = 0; i < n; i++, index++) {
			const char *name;
			size_t name_len;
			uint64_t nid;
			uint8_t type;

			if (index < start)
				continue;
			r = dir_entry(img, dir, p, len, n, i, &name, &name_len,
				      &nid, &type, err);
			if (r < 0)
				return r;
			r = fn(userdata, name, name_len, nid, type, index);
			if (r != 0)
				return r;
		}
	}
	return 0;
}

int cfs_image_readdir(const struct cfs_image *img, const struct cfs_inode *dir,
		      uint64_t start, cfs_dirent_fn fn, void *userdata,
		      struct cfs_error *err)
{
	struct cfsi_inode d;
	int r = cfsi_image_inode(img, dir->nid, &d, err);

	if (r < 0)
		return r;
	return cfsi_image_readdir(img, &d, start, fn, userdata, err);
}

/* EROFS orders names bytewise, a prefix before its extensions. */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

int cfs_image_lookup(const struct cfs_image *img, const struct cfs_inode *dir,
		     const char *name, size_t len, uint64_t *ret_nid,
		     struct cfs_error *err)
{
	struct cfsi_inode d;
	uint64_t lo = 0, hi;
	int r = cfsi_image_inode(img, dir->nid, &d, err);

	if (r < 0)
		return r;
	r = check_dir(img, &d, err);
	if (r < 0)
		return r;
	hi = dir_nblocks(&d);

	/* the block whose first name is the last one <= name */
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2, blen, nid;
		const uint8_t *p;
		const char *first;
		size_t first_len;
		uint8_t type;
		int n = dir_block(img, &d, mid, &p, &blen, err);

		if (n < 0)
			return n;
		r = dir_entry(img, &d, p, blen, n, 0, &first, &first_len, &nid,
			      &type, err);
		if (r < 0)
			return r;
		if (name_cmp(name, len, first, first_len) < 0)
			hi = mid;
		else
			lo = mid;
	}
	if (hi == 0)
		return -ENOENT;

	{
		uint64_t blen;
		const uint8_t *p;
		int n = dir_block(img, &d, lo, &p, &blen, err), a = 0, b;

		if (n < 0)
			return n;
		b = n;
		while (a < b) {
			int mid = a + (b - a) / 2, c;
			const char *e;
			size_t elen;
			uint64_t nid;
			uint8_t type;

			r = dir_entry(img, &d, p, blen, n, mid, &e, &elen, &nid,
				      &type, err);
			if (r < 0)
				return r;
			c = name_cmp(name, len, e, elen);
			if (c == 0) {
				*ret_nid = nid;
				return 0;
			}
			if (c < 0)
				b = mid;
			else
				a = mid + 1;
		}
	}
	return -ENOENT;
}

/* ------------------------------------------------------------------ */
/* File data */

int cfsi_image_flat_data(const struct cfs_image *img,
			 const struct cfsi_inode *ino, uint64_t offset,
			 void *buf, size_t len, size_t *ret_copied,
			 struct cfs_error *err)
{
	uint8_t *out = buf;
	size_t copied = 0;

	if (ino->chunked)
		return -ENODATA;
	while (copied < len && offset < ino->pub.size) {
		uint64_t block = offset / EROFS_BLOCK_SIZE, blen;
		uint64_t in = offset % EROFS_BLOCK_SIZE, n;
		const uint8_t *p = data_at(img, ino, block, &blen);

		if (p == NULL || in >= blen)
			return bad_image(err, "inode %llu: data missing",
					 (unsigned long long)ino->pub.nid);
		n = blen - in;
		if (n > len - copied)
			n = len - copied;
		memcpy(out + copied, p + in, n);
		copied += n;
		offset += n;
	}
	*ret_copied = copied;
	return 0;
}

int cfs_image_read_symlink(const struct cfs_image *img,
			   const struct cfs_inode *inode,
			   const char **ret_target, size_t *ret_len,
			   struct cfs_error *err)
{
	struct cfsi_inode ino;
	uint64_t len;
	const uint8_t *p;
	int r = cfsi_image_inode(img, inode->nid, &ino, err);

	if (r < 0)
		return r;
	if (!S_ISLNK(ino.pub.mode))
		return cfs_error_set(err, -EINVAL,
				     "inode %llu is not a symlink",
				     (unsigned long long)ino.pub.nid);
	/* a target is short enough to be in one place: a block or the tail */
	p = data_at(img, &ino, 0, &len);
	if (p == NULL || len != ino.pub.size)
		return bad_image(err,
				 "inode %llu: symlink target split or missing",
				 (unsigned long long)ino.pub.nid);
	if (memchr(p, '\0', len) != NULL)
		return bad_image(err, "inode %llu: NUL in symlink target",
				 (unsigned long long)ino.pub.nid);
	*ret_target = (const char *)p;
	*ret_len = len;
	return 0;
}

ssize_t cfs_image_read_inline(const struct cfs_image *img,
			      const struct cfs_inode *inode, uint64_t offset,
			      void *buf, size_t len, struct cfs_error *err)
{
	struct cfsi_inode ino;
	size_t copied;
	int r = cfsi_image_inode(img, inode->nid, &ino, err);

	if (r < 0)
		return r;
	if (!S_ISREG(ino.pub.mode))
		return cfs_error_set(err, -EINVAL,
				     "inode %llu is not a regular file",
				     (unsigned long long)ino.pub.nid);
	r = cfsi_image_flat_data(img, &ino, offset, buf, len, &copied, err);
	return r < 0 ? r : (ssize_t)copied;
}

/* ------------------------------------------------------------------ */
/* Xattrs */

static const char *const xattr_prefixes[] = {
	"",
	"user.",
	"system.posix_acl_access",
	"system.posix_acl_default",
	"trusted.",
	"lustre.",
	"security.",
};

/* One xattr entry at off (absolute); on success *ret_size is its aligned
 * size. */
static int xattr_entry(const struct cfs_image *img, uint64_t off,
		       uint64_t limit, cfs_xattr_fn fn, void *userdata,
		       uint64_t *ret_size, struct cfs_error *err)
{
	char name[300];
	const uint8_t *p;
	uint8_t name_len, index;
	uint16_t value_len;
	size_t prefix_len;
	uint64_t size;

	if (off > limit || limit - off < sizeof(struct erofs_xattr_entry) ||
	    !in_image(img, off, sizeof(struct erofs_xattr_entry)))
		return bad_image(err, "xattr entry at %llu out of bounds",
				 (unsigned long long)off);
	p = img->data + off;
	name_len = p[0];
	index = p[1];
	value_len = get16(p + 2);
	size = ALIGN_UP(sizeof(struct erofs_xattr_entry) + name_len +
				(uint64_t)value_len,
			4u);
	if (limit - off < sizeof(struct erofs_xattr_entry) + name_len +
				  (uint64_t)value_len ||
	    !in_image(img, off,
		      sizeof(struct erofs_xattr_entry) + name_len +
			      (uint64_t)value_len))
		return bad_image(err, "xattr entry at %llu out of bounds",
				 (unsigned long long)off);
	if (index >= ARRAY_SIZE(xattr_prefixes))
		return bad_image(err,
				 "xattr entry at %llu: unknown name prefix %u",
				 (unsigned long long)off, index);
	prefix_len = strlen(xattr_prefixes[index]);
	if (prefix_len + name_len == 0 || memchr(p + 4, '\0', name_len) != NULL)
		return bad_image(err, "xattr entry at %llu: invalid name",
				 (unsigned long long)off);
	memcpy(name, xattr_prefixes[index], prefix_len);
	memcpy(name + prefix_len, p + 4, name_len);
	name[prefix_len + name_len] = '\0';
	*ret_size = size;
	return fn(userdata, name, p + 4 + name_len, value_len);
}

int cfsi_image_xattrs(const struct cfs_image *img, const struct cfsi_inode *ino,
		      cfs_xattr_fn fn, void *userdata, struct cfs_error *err)
{
	uint64_t off, end, size;
	uint8_t shared;
	int r;

	if (ino->xattr_size == 0)
		return 0;
	end = ino->xattr_off + ino->xattr_size;
	shared = img->data[ino->xattr_off + 4];
	off = ino->xattr_off + sizeof(struct erofs_xattr_ibody_header);
	if ((uint64_t)shared * 4 > end - off)
		return bad_image(err, "inode %llu: %u shared xattrs do not fit",
				 (unsigned long long)ino->pub.nid, shared);
	for (unsigned i = 0; i < shared; i++, off += 4) {
		uint64_t at = img->xattr_start +
			      (uint64_t)get32(img->data + off) * 4;

		r = xattr_entry(img, at, img->size, fn, userdata, &size, err);
		if (r != 0)
			return r;
	}
	/* the rest, up to the end of the area, are inline entries (4-byte
	 * aligned, as is the area: nothing follows the last one, which may
	 * be a bare 4-byte header, e.g. "trusted." with an empty value) */
	while (end - off >= sizeof(struct erofs_xattr_entry)) {
		r = xattr_entry(img, off, end, fn, userdata, &size, err);
		if (r != 0)
			return r;
		off += size;
		if (off > end)
			return bad_image(err, "inode %llu: xattrs overrun",
					 (unsigned long long)ino->pub.nid);
	}
	return 0;
}

int cfs_image_list_xattrs(const struct cfs_image *img,
			  const struct cfs_inode *inode, cfs_xattr_fn fn,
			  void *userdata, struct cfs_error *err)
{
	struct cfsi_inode ino;
	int r = cfsi_image_inode(img, inode->nid, &ino, err);

	if (r < 0)
		return r;
	return cfsi_image_xattrs(img, &ino, fn, userdata, err);
}

int cfsi_overlay_xattr(const char *name, const void *value, size_t len,
		       struct cfs_overlay_info *info)
{
	const uint8_t *v = value;

	if (strcmp(name, OVL_XATTR_REDIRECT) == 0) {
		/* an absolute path in the data-only layers */
		if (len > 0 && v[0] == '/') {
			v++;
			len--;
		}
		if (len == 0 || len > CFS_PAYLOAD_MAX ||
		    memchr(v, '\0', len) != NULL)
			return -EUCLEAN;
		memcpy(info->object, v, len);
		info->object[len] = '\0';
		return 1;
	}
	if (strcmp(name, OVL_XATTR_METACOPY) == 0) {
		/* empty: data elsewhere, no digest; else overlayfs' header
		 * (version 0, the value's length, flags, algorithm) and the
		 * digest; a digest of another algorithm is none to us */
		info->metacopy = true;
		const struct cfsi_hash_alg *alg =
			len >= 4 ? cfsi_hash_alg_get(v[3]) : NULL;

		if (alg != NULL && v[3] != CFS_HASH_DEFAULT &&
		    len == 4 + alg->digest_size && v[0] == 0 &&
		    v[1] == 4 + alg->digest_size) {
			info->has_digest = true;
			info->digest_alg = alg->id;
			memcpy(info->digest, v + 4, alg->digest_size);
		}
		return 1;
	}
	if (strcmp(name, OVL_XATTR_ESCAPED_WHITEOUT) == 0) {
		info->whiteout = true;
		return 1;
	}
	if (strcmp(name, OVL_XATTR_OPAQUE) == 0) {
		info->opaque = len == 1 && v[0] == 'y';
		return 1;
	}
	return 0;
}

static int overlay_xattr(void *userdata, const char *name, const void *value,
			 size_t len)
{
	int r = cfsi_overlay_xattr(name, value, len, userdata);

	return r < 0 ? r : 0;
}

int cfs_image_get_overlay_info(const struct cfs_image *img,
			       const struct cfs_inode *inode,
			       struct cfs_overlay_info *ret_info,
			       struct cfs_error *err)
{
	struct cfs_overlay_info info;
	struct cfsi_inode ino;
	int r = cfsi_image_inode(img, inode->nid, &ino, err);

	if (r < 0)
		return r;
	memset(&info, 0, sizeof(info));
	r = cfsi_image_xattrs(img, &ino, overlay_xattr, &info, err);
	if (r == -EUCLEAN && err != NULL && err->message[0] == '\0')
		bad_image(err, "inode %llu: invalid redirect xattr",
			  (unsigned long long)ino.pub.nid);
	if (r < 0)
		return r;
	if (!S_ISREG(ino.pub.mode))
		info.whiteout = false;
	*ret_info = info;
	return 0;
}

/* COMPOSEFS_1.0's struct cfs_overlay_info, as programs built before SHA-512
 * allocate it: a SHA-256 digest and no algorithm. */
struct cfs_overlay_info_1_0 {
	char object[CFS_PAYLOAD_MAX + 1];
	bool has_digest;
	uint8_t digest[CFS_DIGEST_SIZE];
	bool metacopy;
	bool whiteout;
	bool opaque;
};

int cfsi_image_get_overlay_info_1_0(const struct cfs_image *img,
				    const struct cfs_inode *inode,
				    struct cfs_overlay_info_1_0 *ret_info,
				    struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_image_get_overlay_info_1_0, cfs_image_get_overlay_info,
		  "COMPOSEFS_1.0");

/* The same filling the old struct: a SHA-512 digest does not fit in it. */
int cfsi_image_get_overlay_info_1_0(const struct cfs_image *img,
				    const struct cfs_inode *inode,
				    struct cfs_overlay_info_1_0 *ret_info,
				    struct cfs_error *err)
{
	struct cfs_overlay_info info;
	int r = cfs_image_get_overlay_info(img, inode, &info, err);

	if (r < 0)
		return r;
	if (info.has_digest && info.digest_alg != CFS_HASH_SHA256)
		return cfs_error_set(
			err, -EOPNOTSUPP,
			"inode %llu: its %s digest does not fit in this program's struct cfs_overlay_info (built before SHA-512: rebuild it)",
			(unsigned long long)inode->nid,
			cfs_hash_alg_name(info.digest_alg));
	memset(ret_info, 0, sizeof(*ret_info));
	memcpy(ret_info->object, info.object, sizeof(ret_info->object));
	ret_info->has_digest = info.has_digest;
	if (info.has_digest)
		memcpy(ret_info->digest, info.digest, CFS_DIGEST_SIZE);
	ret_info->metacopy = info.metacopy;
	ret_info->whiteout = info.whiteout;
	ret_info->opaque = info.opaque;
	return 0;
}
