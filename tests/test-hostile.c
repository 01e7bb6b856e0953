/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Hostile images: good images from the writer, damaged in many ways
 * (truncated, bits flipped, header and inode fields at their extremes,
 * directory entries and xattrs pointing anywhere, directories containing
 * themselves), each one opened and walked through every reader entry
 * point. Nothing may crash, hang or read outside the image (each image is
 * copied into a buffer of exactly its size, so that AddressSanitizer sees
 * the first byte past it); errors must come as -errno with a message.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "composefs-c/composefs.h"
#include "format/erofs-format.h"
#include "image/image_i.h"
#include "walk-image.h"
#include "test-util.h"

struct image {
	uint8_t *data;
	size_t size;
};

static struct image small, medium;
static FILE *devnull;

/* Outcomes over all cases, shown at the end. */
static struct {
	size_t cases, open_failed, walk_failed, tree_failed, clean;
} stats;

/* ------------------------------------------------------------------ */
/* Good images */

static void write_image(struct cfs_node *root, uint32_t version,
			struct image *out)
{
	tu_write_image(root, version, &out->data, &out->size);
}

/* A bit of everything, in few blocks. */
static struct cfs_node *small_tree(void)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *dir = tu_add(root, "dir", S_IFDIR | 0700);
	struct cfs_node *sub = tu_add(dir, "sub", S_IFDIR | 0700);
	struct cfs_node *file = tu_add(dir, "file", S_IFREG | 0644);
	struct cfs_node *in = tu_add(root, "inline", S_IFREG | 0600);
	struct cfs_node *link = tu_add(root, "link", S_IFLNK | 0777);
	struct cfs_node *dev = tu_add(root, "dev", S_IFCHR | 0666);
	struct cfs_node *hl = tu_add(sub, "hardlink", S_IFREG | 0644);
	uint8_t digest[CFS_DIGEST_SIZE];
	char path[CFS_OBJECT_PATH_SIZE];

	tu_add(sub, "whiteout", S_IFCHR | 0644);
	tu_add(root, "fifo", S_IFIFO | 0644);
	memset(digest, 0xa5, sizeof(digest));
	cfs_digest_to_object_path(digest, path);
	cfs_node_set_size(file, 100000);
	cfs_node_set_uid(file, 70000); /* an extended inode */
	cfs_node_set_uid(dir, 70000);
	cfs_node_set_digest(file, digest);
	assert_int_equal(cfs_node_set_payload(file, path), 0);
	assert_int_equal(
		cfs_node_set_content(in, (const uint8_t *)"hello\n", 6), 0);
	assert_int_equal(cfs_node_set_symlink_target(link, "dir/file"), 0);
	cfs_node_set_rdev(dev, makedev(1, 3));
	cfs_node_set_uid(dev, 100000);
	cfs_node_set_mtime(dev, 1, 5);
	assert_int_equal(cfs_node_make_hardlink(hl, file), 0);
	for (struct cfs_node *n = dir; n != NULL; n = n == dir ? in :
						      n == in  ? file :
								 NULL) {
		assert_int_equal(cfs_node_set_xattr(n, "user.shared", "v", 1),
				 0);
		assert_int_equal(cfs_node_set_xattr(n, "security.selinux",
						    "label", 5),
				 0);
	}
	assert_int_equal(cfs_node_set_xattr(in, "trusted.own", "x", 1), 0);
	assert_int_equal(cfs_node_set_xattr(in, "system.posix_acl_access",
					    "\2\0\0\0", 4),
			 0);
	return root;
}

/* Directory blocks, a long symlink, the largest inline file. */
static struct cfs_node *medium_tree(void)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *big = tu_add(root, "big", S_IFDIR | 0755);
	struct cfs_node *link = tu_add(root, "longlink", S_IFLNK | 0777);
	struct cfs_node *in = tu_add(root, "inline", S_IFREG | 0644);
	uint8_t content[CFS_INLINE_CONTENT_MAX];
	char target[CFS_PAYLOAD_MAX + 1], name[64];

	for (int i = 0; i < 200; i++) {
		struct cfs_node *n;

		snprintf(
			name, sizeof(name), "entry-%03d-%.*s", i, i % 50,
			"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
		n = tu_add(big, name, (i % 10 ? S_IFREG : S_IFDIR) | 0644);
		if (i % 10 == 3)
			assert_int_equal(cfs_node_set_content(
						 n, (const uint8_t *)name, 9),
					 0);
	}
	memset(target, 'a', CFS_PAYLOAD_MAX);
	target[CFS_PAYLOAD_MAX] = '\0';
	assert_int_equal(cfs_node_set_symlink_target(link, target), 0);
	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (uint8_t)(i * 31);
	assert_int_equal(cfs_node_set_content(in, content, sizeof(content)), 0);
	return root;
}

static struct timespec case_start;
static size_t cases_before;

static int begin(void **state)
{
	clock_gettime(CLOCK_MONOTONIC, &case_start);
	cases_before = stats.cases;
	return 0;
}

static int end(void **state)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	printf("# %zu images in %.2f s\n", stats.cases - cases_before,
	       (double)(now.tv_sec - case_start.tv_sec) +
		       (now.tv_nsec - case_start.tv_nsec) / 1e9);
	return 0;
}

static int setup(void **state)
{
	struct cfs_node *root = small_tree();

	write_image(root, 1, &small);
	cfs_node_unref(root);
	root = medium_tree();
	write_image(root, 0, &medium);
	cfs_node_unref(root);
	devnull = fopen("/dev/null", "we");
	return devnull == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	printf("# %zu hostile images: %zu refused at open, %zu failed in a "
	       "walk, %zu refused as a tree, %zu read cleanly\n",
	       stats.cases, stats.open_failed, stats.walk_failed,
	       stats.tree_failed, stats.clean);
	free(small.data);
	free(medium.data);
	fclose(devnull);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Running one case */

/* Walk a copy of exactly size bytes, so that the sanitizers catch the
 * first byte read past the end. */
static struct walk_result run(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size > 0 ? size : 1);
	struct walk_result res;

	assert_non_null(copy);
	memcpy(copy, data, size);
	/* reshaped and printed as composefs-info would: one in eight */
	walk_image(copy, size, stats.cases % 8 == 0 ? devnull : NULL, &res);
	free(copy);
	stats.cases++;
	if (res.open_error < 0)
		stats.open_failed++;
	else if (res.walk_error < 0)
		stats.walk_failed++;
	else if (res.tree_error < 0)
		stats.tree_failed++;
	else
		stats.clean++;
	return res;
}

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static void put(uint8_t *p, unsigned width, uint64_t v)
{
	switch (width) {
	case 1:
		*p = (uint8_t)v;
		break;
	case 2:
		put16(p, (uint16_t)v);
		break;
	case 4:
		put32(p, (uint32_t)v);
		break;
	default:
		put64(p, v);
	}
}

/* A field of width bytes at off set to v; the image is restored after. */
static struct walk_result run_with(struct image *im, size_t off, unsigned width,
				   uint64_t v)
{
	uint8_t saved[8];
	struct walk_result res;

	assert_true(off + width <= im->size);
	memcpy(saved, im->data + off, width);
	put(im->data + off, width, v);
	res = run(im->data, im->size);
	memcpy(im->data + off, saved, width);
	return res;
}

/* Extreme and near-boundary values for a field of width bytes. */
static size_t extremes(const struct image *im, unsigned width,
		       uint64_t values[16])
{
	uint64_t max = width == 8 ? UINT64_MAX : (1ull << (8 * width)) - 1;
	uint64_t blocks = im->size / EROFS_BLOCK_SIZE, slots = im->size / 32;
	uint64_t candidates[] = {
		0,	   1,	  2,	      4095,
		4096,	   4097,  blocks - 1, blocks,
		slots - 1, slots, im->size,   max / 2 + 1,
		max - 1,   max,	  1ull << 32, 1ull << 63,
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(candidates) / sizeof(*candidates); i++)
		if (candidates[i] <= max)
			values[n++] = candidates[i];
	return n;
}

/* ------------------------------------------------------------------ */
/* Finding things in a good image */

struct found {
	uint64_t nids[4096];
	uint64_t parents[4096];
	size_t n;
};

struct finding {
	struct found *f;
	uint64_t dir;
};

static int note_entry(void *userdata, const char *name, size_t len,
		      uint64_t nid, uint8_t type, uint64_t index)
{
	struct finding *fi = userdata;

	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	for (size_t i = 0; i < fi->f->n; i++)
		if (fi->f->nids[i] == nid)
			return 0;
	assert_true(fi->f->n < 4096);
	fi->f->parents[fi->f->n] = fi->dir;
	fi->f->nids[fi->f->n++] = nid;
	return 0;
}

/* Every inode of a good image, breadth first, with its parent; of the
 * writer's 256 whiteouts at the root, two will do. */
static void find_inodes(const struct image *im, struct found *f)
{
	struct cfs_image *img;
	unsigned whiteouts = 0;
	size_t kept = 0;

	f->n = 0;
	assert_int_equal(cfs_image_open_buffer(im->data, im->size, &img, NULL),
			 0);
	f->nids[f->n] = cfs_image_get_root_nid(img);
	f->parents[f->n++] = cfs_image_get_root_nid(img);
	for (size_t i = 0; i < f->n; i++) {
		struct finding fi = { f, f->nids[i] };
		struct cfs_inode ino;

		assert_int_equal(
			cfs_image_get_inode(img, f->nids[i], &ino, NULL), 0);
		if (S_ISCHR(ino.mode) && ino.rdev == 0 && ++whiteouts > 2)
			continue;
		f->nids[kept] = f->nids[i];
		f->parents[kept++] = f->parents[i];
		if (S_ISDIR(ino.mode))
			assert_int_equal(cfs_image_readdir(img, &ino, 0,
							   note_entry, &fi,
							   NULL),
					 0);
	}
	f->n = kept;
	cfs_image_free(img);
}

static struct cfsi_inode inode_at(const struct image *im, uint64_t nid)
{
	struct cfs_image *img;
	struct cfsi_inode ino;

	assert_int_equal(cfs_image_open_buffer(im->data, im->size, &img, NULL),
			 0);
	assert_int_equal(cfsi_image_inode(img, nid, &ino, NULL), 0);
	cfs_image_free(img);
	return ino;
}

static uint64_t inode_offset(const struct image *im, uint64_t nid)
{
	struct cfs_image *img;
	uint64_t off;

	assert_int_equal(cfs_image_open_buffer(im->data, im->size, &img, NULL),
			 0);
	off = img->meta_start + nid * EROFS_SLOT_SIZE;
	cfs_image_free(img);
	return off;
}

/* The directory blocks of dir: [start, start + len) each. */
static size_t dir_blocks(const struct image *im, uint64_t nid,
			 uint64_t starts[], uint64_t lens[], size_t max)
{
	struct cfsi_inode d = inode_at(im, nid);
	size_t n = 0;

	for (uint64_t b = 0; b < d.n_blocks && n < max; b++) {
		uint64_t rest = d.pub.size - b * EROFS_BLOCK_SIZE;

		starts[n] = d.blocks_off + b * EROFS_BLOCK_SIZE;
		lens[n++] = rest < EROFS_BLOCK_SIZE ? rest : EROFS_BLOCK_SIZE;
	}
	if (d.tail_len > 0 && n < max) {
		starts[n] = d.tail_off;
		lens[n++] = d.tail_len;
	}
	return n;
}

/* Offset of the directory entry name in directory dir. */
static uint64_t find_dirent(const struct image *im, uint64_t dir,
			    const char *name)
{
	uint64_t starts[64], lens[64];
	size_t nb = dir_blocks(im, dir, starts, lens, 64);

	for (size_t b = 0; b < nb; b++) {
		const uint8_t *p = im->data + starts[b];
		unsigned n = get16(p + 8) / 12;

		for (unsigned i = 0; i < n; i++) {
			unsigned s = get16(p + 12 * i + 8);
			unsigned e = i + 1 < n ? get16(p + 12 * (i + 1) + 8) :
						 (unsigned)lens[b];

			while (i + 1 == n && e > s && p[e - 1] == '\0')
				e--;
			if (e - s == strlen(name) &&
			    memcmp(p + s, name, e - s) == 0)
				return starts[b] + 12 * i;
		}
	}
	fail_msg("no entry %s in directory %llu", name,
		 (unsigned long long)dir);
	return 0;
}

static uint64_t lookup_path(const struct image *im, const char *path)
{
	struct cfs_image *img;
	struct cfs_inode ino;
	char *copy = strdup(path), *save = NULL;
	uint64_t nid;

	assert_int_equal(cfs_image_open_buffer(im->data, im->size, &img, NULL),
			 0);
	nid = cfs_image_get_root_nid(img);
	for (char *c = strtok_r(copy, "/", &save); c != NULL;
	     c = strtok_r(NULL, "/", &save)) {
		assert_int_equal(cfs_image_get_inode(img, nid, &ino, NULL), 0);
		assert_int_equal(cfs_image_lookup(img, &ino, c, strlen(c), &nid,
						  NULL),
				 0);
	}
	free(copy);
	cfs_image_free(img);
	return nid;
}

/* ------------------------------------------------------------------ */
/* The cases */

static void test_good_images(void **state)
{
	struct image *ims[] = { &small, &medium };

	for (size_t i = 0; i < 2; i++) {
		struct walk_result res = run(ims[i]->data, ims[i]->size);

		assert_int_equal(res.open_error, 0);
		if (res.walk_error != 0)
			fail_msg("walk: %s", res.walk_err.message);
		assert_int_equal(res.tree_error, 0);
		assert_int_equal(res.write_error, 0);
		assert_true(res.entries > 10);
	}
}

/* Cut at length len; with fix_blocks the block count is made to agree,
 * so that the open goes through and the walk meets the missing bytes. */
static void truncated(const struct image *im, size_t len, bool fix_blocks)
{
	struct walk_result res;
	uint8_t *copy;

	/* Past the superblock, only the block count is looked at before
	 * the image is refused: no need for an exact copy. */
	if (!fix_blocks && len >= EROFS_SUPER_OFFSET + 128 && len < im->size) {
		walk_image(im->data, len, NULL, &res);
		stats.cases++;
		stats.open_failed++;
		assert_int_equal(res.open_error, -EUCLEAN);
		return;
	}
	copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	memcpy(copy, im->data, len);
	if (fix_blocks && len >= EROFS_SUPER_OFFSET + 128)
		put32(copy + EROFS_SUPER_OFFSET + 36,
		      (uint32_t)(len / EROFS_BLOCK_SIZE));
	res = run(copy, len);
	if (!fix_blocks && len < im->size) {
		assert_int_equal(res.open_error, -EUCLEAN);
		assert_true(res.open_err.message[0] != '\0');
	}
	free(copy);
}

static void test_truncated(void **state)
{
	/* the small image at every length */
	for (size_t len = 0; len <= small.size; len++)
		truncated(&small, len, false);
	for (size_t len = EROFS_SUPER_OFFSET; len <= small.size; len++)
		truncated(&small, len, true);
	/* the medium one at a spread of lengths, and around each block
	 * boundary */
	for (size_t len = 0; len <= medium.size; len += 97) {
		truncated(&medium, len, false);
		truncated(&medium, len, true);
	}
	for (size_t b = EROFS_BLOCK_SIZE; b <= medium.size;
	     b += EROFS_BLOCK_SIZE)
		for (size_t len = b - 3; len <= b + 3 && len <= medium.size;
		     len++)
			truncated(&medium, len, true);
}

/* xorshift64*: the same flips on every run */
static uint64_t next_random(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static void flips(struct image *im, uint64_t seed, size_t count)
{
	size_t *nonzero = malloc(im->size * sizeof(*nonzero)), n_nonzero = 0;

	assert_non_null(nonzero);
	for (size_t i = 0; i < im->size; i++)
		if (im->data[i] != 0)
			nonzero[n_nonzero++] = i;
	for (size_t i = 0; i < count; i++) {
		uint64_t r = next_random(&seed);
		/* half anywhere, half where the image says something */
		size_t pos = i % 2 ? (r >> 3) % im->size :
				     nonzero[(r >> 3) % n_nonzero];
		uint8_t bit = (uint8_t)(1u << (r & 7));

		im->data[pos] ^= bit;
		run(im->data, im->size);
		/* now and then a second flip on top */
		if (i % 5 == 0) {
			size_t pos2 = nonzero[(r >> 20) % n_nonzero];

			im->data[pos2] ^= (uint8_t)(1u << ((r >> 40) & 7));
			run(im->data, im->size);
			im->data[pos2] ^= (uint8_t)(1u << ((r >> 40) & 7));
		}
		im->data[pos] ^= bit;
	}
	free(nonzero);
}

static void test_bit_flips(void **state)
{
	flips(&small, 0x9E3779B97F4A7C15ull, 2500);
	flips(&medium, 0xD1B54A32D192ED03ull, 500);
}

static const struct {
	const char *name;
	size_t off;
	unsigned width;
} header_fields[] = {
	{ "composefs magic", 0, 4 },
	{ "composefs header version", 4, 4 },
	{ "composefs flags", 8, 4 },
	{ "composefs version", 12, 4 },
	{ "magic", EROFS_SUPER_OFFSET + 0, 4 },
	{ "checksum", EROFS_SUPER_OFFSET + 4, 4 },
	{ "feature_compat", EROFS_SUPER_OFFSET + 8, 4 },
	{ "blkszbits", EROFS_SUPER_OFFSET + 12, 1 },
	{ "sb_extslots", EROFS_SUPER_OFFSET + 13, 1 },
	{ "root_nid", EROFS_SUPER_OFFSET + 14, 2 },
	{ "inos", EROFS_SUPER_OFFSET + 16, 8 },
	{ "build_time", EROFS_SUPER_OFFSET + 24, 8 },
	{ "build_time_nsec", EROFS_SUPER_OFFSET + 32, 4 },
	{ "blocks", EROFS_SUPER_OFFSET + 36, 4 },
	{ "meta_blkaddr", EROFS_SUPER_OFFSET + 40, 4 },
	{ "xattr_blkaddr", EROFS_SUPER_OFFSET + 44, 4 },
	{ "feature_incompat", EROFS_SUPER_OFFSET + 80, 4 },
};

static void test_superblock_fields(void **state)
{
	struct image *ims[] = { &small, &medium };
	struct found f;

	for (size_t i = 0; i < 2; i++) {
		struct image *im = ims[i];
		uint64_t values[16];
		size_t nv;

		for (size_t j = 0;
		     j < sizeof(header_fields) / sizeof(*header_fields); j++) {
			nv = extremes(im, header_fields[j].width, values);
			for (size_t k = 0; k < nv; k++)
				run_with(im, header_fields[j].off,
					 header_fields[j].width, values[k]);
		}
		/* the root at every inode there is, and between them */
		find_inodes(im, &f);
		for (size_t k = 0; k < f.n; k++) {
			run_with(im, EROFS_SUPER_OFFSET + 14, 2, f.nids[k]);
			run_with(im, EROFS_SUPER_OFFSET + 14, 2, f.nids[k] + 1);
		}
	}
}

/* The fields of both inode layouts: offset and width. */
static const struct {
	size_t off;
	unsigned width;
} compact_fields[] = { { 0, 2 },  { 2, 2 },  { 4, 2 },	{ 6, 2 }, { 8, 4 },
		       { 16, 4 }, { 20, 4 }, { 24, 2 }, { 26, 2 } },
  extended_fields[] = { { 0, 2 },  { 2, 2 },  { 4, 2 },	 { 8, 8 },
			{ 16, 4 }, { 20, 4 }, { 24, 4 }, { 28, 4 },
			{ 32, 8 }, { 40, 4 }, { 44, 4 } };

/* Every field of the inodes of im (of one inode in step). */
static void inode_fields(struct image *im, size_t step)
{
	struct found f;

	find_inodes(im, &f);
	for (size_t i = 0; i < f.n; i += i < 6 ? 1 : step) {
		uint64_t off = inode_offset(im, f.nids[i]);
		bool compact = (im->data[off] & 1) == 0;
		size_t n = compact ? sizeof(compact_fields) /
					     sizeof(*compact_fields) :
				     sizeof(extended_fields) /
					     sizeof(*extended_fields);
		uint16_t mode = get16(im->data + off + 4);
		static const uint32_t types[] = { 0,	   S_IFIFO,  S_IFCHR,
						  S_IFDIR, S_IFBLK,  S_IFREG,
						  S_IFLNK, S_IFSOCK, 0xf000 };
		uint64_t values[16];

		for (size_t j = 0; j < n; j++) {
			size_t foff = compact ? compact_fields[j].off :
						extended_fields[j].off;
			unsigned width = compact ? compact_fields[j].width :
						   extended_fields[j].width;
			size_t nv = extremes(im, width, values);

			for (size_t k = 0; k < nv; k++)
				run_with(im, off + foff, width, values[k]);
		}
		/* every layout and version bit */
		for (uint16_t format = 0; format < 16; format++)
			run_with(im, off, 2, format);
		/* every file type on every inode */
		for (size_t t = 0; t < sizeof(types) / sizeof(*types); t++)
			run_with(im, off + 4, 2, types[t] | (mode & 07777));
	}
}

static void test_inode_fields(void **state)
{
	inode_fields(&small, 1);
	/* the medium image: the root, its entries, some of the big
	 * directory's */
	inode_fields(&medium, 100);
}

/* Each entry of each directory: its target, name offset and type. */
static void dirent_fields(struct image *im)
{
	struct found f;
	uint64_t starts[64], lens[64];

	find_inodes(im, &f);
	for (size_t i = 0; i < f.n; i++) {
		struct cfsi_inode d = inode_at(im, f.nids[i]);
		size_t nb;

		if (!S_ISDIR(d.pub.mode))
			continue;
		nb = dir_blocks(im, f.nids[i], starts, lens, 64);
		for (size_t b = 0; b < nb; b++) {
			uint8_t *p = im->data + starts[b];
			unsigned n = get16(p + 8) / 12;
			/* the medium image's big directory: some entries */
			unsigned step = n > 40 ? 37 : 1;

			for (unsigned e = 0; e < n; e += step) {
				uint8_t *de = p + 12 * e;
				uint64_t nids[] = {
					0,
					f.nids[i],
					f.parents[i],
					f.nids[0],
					f.nids[f.n - 1],
					f.nids[f.n / 2],
					get16(de) + 1,
					im->size / 32,
					UINT64_MAX,
					1ull << 59,
				};
				uint16_t offs[] = {
					0,
					1,
					11,
					12,
					(uint16_t)(get16(de + 8) - 1),
					(uint16_t)(get16(de + 8) + 1),
					(uint16_t)(lens[b] - 1),
					(uint16_t)lens[b],
					(uint16_t)(lens[b] + 1),
					4096,
					0xffff,
				};

				for (size_t k = 0; k < sizeof(nids) / 8; k++)
					run_with(im, starts[b] + 12 * e, 8,
						 nids[k]);
				for (size_t k = 0; k < sizeof(offs) / 2; k++)
					run_with(im, starts[b] + 12 * e + 8, 2,
						 offs[k]);
				/* the type only goes to readdir's caller */
				run_with(im, starts[b] + 12 * e + 10, 1, 0);
				run_with(im, starts[b] + 12 * e + 10, 1, 0xff);
			}
			/* the last name unterminated up to the block's end */
			{
				uint8_t *saved = malloc(lens[b]);
				unsigned last = get16(p + 12 * (n - 1) + 8);

				memcpy(saved, p, lens[b]);
				for (size_t k = last; k < lens[b]; k++)
					if (p[k] == '\0')
						p[k] = 'x';
				run(im->data, im->size);
				memcpy(p, saved, lens[b]);
				free(saved);
			}
		}
	}
}

static void test_dirent_fields(void **state)
{
	dirent_fields(&small);
	dirent_fields(&medium);
}

/* The xattr area of every inode that has one: header, shared ids, entry
 * fields. */
static void test_xattr_fields(void **state)
{
	struct found f;

	find_inodes(&small, &f);
	for (size_t i = 0; i < f.n; i++) {
		struct cfsi_inode ino = inode_at(&small, f.nids[i]);
		uint64_t x = ino.xattr_off, end = x + ino.xattr_size;
		uint8_t shared;
		uint64_t p;

		if (ino.xattr_size == 0)
			continue;
		shared = small.data[x + 4];
		for (unsigned v = 0; v < 256; v += v < 8 ? 1 : 31)
			run_with(&small, x + 4, 1, v);
		for (unsigned s = 0; s < shared; s++) {
			uint32_t ids[] = { 0,
					   1,
					   0xffffffff,
					   0x3fffffff,
					   (uint32_t)small.size / 4,
					   (uint32_t)small.size / 4 - 1 };

			for (size_t k = 0; k < sizeof(ids) / 4; k++)
				run_with(&small, x + 12 + 4 * s, 4, ids[k]);
		}
		for (p = x + 12 + 4 * shared; p + 4 <= end;
		     p = p +
			 ((4 + small.data[p] + get16(small.data + p + 2) + 3) &
			  ~3u)) {
			for (unsigned v = 0; v < 256; v += v < 8 ? 1 : 17) {
				run_with(&small, p, 1, v); /* name length */
				run_with(&small, p + 1, 1, v); /* prefix */
			}
			for (unsigned v = 0; v < 0x10000; v += 0x1111)
				run_with(&small, p + 2, 2, v); /* value size */
			if (small.data[p] == 0)
				break;
		}
		/* the icount over the end of the image, or just short */
		run_with(&small, inode_offset(&small, f.nids[i]) + 2, 2,
			 0xffff);
		run_with(&small, inode_offset(&small, f.nids[i]) + 2, 2,
			 small.data[inode_offset(&small, f.nids[i]) + 2] - 1);
	}
	/* the shared area anywhere */
	for (uint32_t v = 0; v < small.size / EROFS_BLOCK_SIZE + 2; v++)
		run_with(&small, EROFS_SUPER_OFFSET + 44, 4, v);
}

/* ------------------------------------------------------------------ */
/* Specific damage, specific errors */

static void expect_tree_error(struct image *im, size_t off, unsigned width,
			      uint64_t v, const char *what)
{
	struct walk_result res = run_with(im, off, width, v);

	assert_int_equal(res.open_error, 0);
	assert_int_equal(res.tree_error, -EUCLEAN);
	if (strstr(res.tree_err.message, what) == NULL)
		fail_msg("expected '%s' in '%s'", what, res.tree_err.message);
}

static void expect_open_error(struct image *im, size_t off, unsigned width,
			      uint64_t v, int error, const char *what)
{
	struct walk_result res = run_with(im, off, width, v);

	assert_int_equal(res.open_error, error);
	if (strstr(res.open_err.message, what) == NULL)
		fail_msg("expected '%s' in '%s'", what, res.open_err.message);
}

static void test_loops(void **state)
{
	uint64_t root = lookup_path(&small, "");
	uint64_t dir = lookup_path(&small, "dir");
	uint64_t sub = lookup_path(&small, "dir/sub");
	uint64_t file = lookup_path(&small, "dir/file");
	struct walk_result res;

	/* a directory that contains itself, or its parent, or its
	 * grandparent */
	expect_tree_error(&small, find_dirent(&small, root, "dir"), 8, root,
			  "appears twice");
	expect_tree_error(&small, find_dirent(&small, dir, "sub"), 8, dir,
			  "appears twice");
	expect_tree_error(&small, find_dirent(&small, sub, "hardlink"), 8, root,
			  "appears twice");
	expect_tree_error(&small, find_dirent(&small, dir, "sub"), 8, root,
			  "appears twice");
	/* one directory under two names */
	expect_tree_error(&small, find_dirent(&small, root, "inline"), 8, sub,
			  "appears twice");
	/* more names of a file: hard links, not an error */
	res = run_with(&small, find_dirent(&small, root, "inline"), 8, file);
	assert_int_equal(res.tree_error, 0);
	assert_int_equal(res.walk_error, 0);
	/* an entry's file type is not trusted: the inode's mode decides */
	res = run_with(&small, find_dirent(&small, dir, "sub"), 8, file);
	assert_int_equal(res.tree_error, 0);
	/* "." and ".." are not followed, whatever they say */
	res = run_with(&small, find_dirent(&small, dir, ".."), 8, sub);
	assert_int_equal(res.tree_error, 0);
}

static void test_specific_errors(void **state)
{
	uint64_t root = lookup_path(&small, "");
	uint64_t dir = lookup_path(&small, "dir");
	uint64_t link = lookup_path(&small, "link");
	uint64_t in = lookup_path(&small, "inline");
	uint64_t link_off = inode_offset(&small, link);
	uint64_t in_off = inode_offset(&small, in);
	struct cfsi_inode ino;

	expect_open_error(&small, EROFS_SUPER_OFFSET + 36, 4, UINT32_MAX,
			  -EUCLEAN, "truncated");
	expect_open_error(&small, EROFS_SUPER_OFFSET + 40, 4, UINT32_MAX,
			  -EUCLEAN, "outside the image");
	expect_open_error(&small, EROFS_SUPER_OFFSET + 14, 2, in, -EUCLEAN,
			  "not a directory");
	expect_open_error(&small, EROFS_SUPER_OFFSET + 14, 2, 0xffff, -EUCLEAN,
			  "outside the image");
	expect_open_error(&small, EROFS_SUPER_OFFSET, 4, 0, -EUCLEAN,
			  "superblock");
	expect_open_error(&small, 0, 4, 0, -EINVAL, "magic");
	expect_open_error(&small, EROFS_SUPER_OFFSET + 12, 1, 9, -EOPNOTSUPP,
			  "block size");

	/* a directory entry to an inode past the end */
	expect_tree_error(&small, find_dirent(&small, root, "dir"), 8,
			  small.size, "outside the image");
	/* a symlink of no bytes, or longer than any path */
	expect_tree_error(&small, link_off + 8, 4, 0, "symlink of 0 bytes");
	expect_tree_error(&small, link_off + 8, 4, 5000,
			  "symlink of 5000 bytes");
	/* an unknown file type, an unknown data layout */
	expect_tree_error(&small, in_off + 4, 2, 0xf000 | 0644,
			  "invalid file type");
	expect_tree_error(&small, in_off, 2, (uint16_t)(1 << 1 | 1 << 3),
			  "unsupported data layout");
	/* inline data larger than its block */
	expect_tree_error(&small, in_off + 8, 4, 4000, "inline data");
	/* a directory block whose first name offset is nonsense */
	ino = inode_at(&small, dir);
	expect_tree_error(&small,
			  (ino.tail_len ? ino.tail_off : ino.blocks_off) + 8, 2,
			  7, "bad first name offset");
	/* xattrs past the inode's area */
	expect_tree_error(&small, in_off + 2, 2, 0xffff, "xattr");

	/* a directory of 2^64 - 1 bytes: rounding its size up to blocks
	 * wrapped, and it read as empty */
	{
		uint64_t off = inode_offset(&small, dir);

		assert_int_equal(small.data[off] & 1, 1); /* extended */
		expect_tree_error(&small, off + 8, 8, UINT64_MAX,
				  "inline data");
	}

	/* names out of order (lookups would miss them; adding them to the
	 * tree cost a move of all children each), a NUL in a name */
	{
		uint64_t at = find_dirent(&small, dir, "file");
		uint64_t name = at - at % EROFS_BLOCK_SIZE +
				get16(small.data + at + 8);

		if (inode_at(&small, dir).tail_len > 0)
			name = inode_at(&small, dir).tail_off +
			       get16(small.data + at + 8);
		assert_memory_equal(small.data + name, "file", 4);
		expect_tree_error(&small, name, 1, 'z', "out of order");
		expect_tree_error(&small, name + 2, 1, 0, "NUL in name");
	}

	/* a file larger than any dump or the writer takes (2^53 bytes),
	 * whose chunk table still fits in the image: found as a dump that
	 * printed but did not parse back */
	{
		uint64_t file = lookup_path(&small, "dir/file");
		uint64_t off = inode_offset(&small, file);
		uint8_t saved[8];
		struct walk_result res;

		assert_int_equal(small.data[off] & 1, 1); /* extended */
		memcpy(saved, small.data + off + 16, 2);
		put16(small.data + off + 16, 31); /* chunks of 2^43 bytes */
		res = run_with(&small, off + 8, 8, (1ull << 53) + 1);
		memcpy(small.data + off + 16, saved, 2);
		assert_int_equal(res.open_error, 0);
		assert_int_equal(res.tree_error, -EUCLEAN);
		assert_non_null(strstr(res.tree_err.message, "out of range"));
	}
}

/* Nesting: the tree refuses more than 2048 levels, the one thing about
 * an image deeper than any path that would make its consumers recurse too
 * deep; the reader's own calls do not care. */
static void test_deep(void **state)
{
	for (int depth = 2047; depth <= 2049; depth++) {
		struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
		struct cfs_node *d = root;
		struct walk_result res;
		struct image im;

		for (int i = 0; i < depth; i++)
			d = tu_add(d, "d", S_IFDIR | 0755);
		tu_add(d, "f", S_IFREG | 0644);
		write_image(root, 0, &im);
		cfs_node_unref(root);
		res = run(im.data, im.size);
		assert_int_equal(res.open_error, 0);
		assert_int_equal(res.walk_error, 0);
		if (depth <= 2048) {
			assert_int_equal(res.tree_error, 0);
		} else {
			assert_int_equal(res.tree_error, -EUCLEAN);
			assert_non_null(
				strstr(res.tree_err.message, "nested deeper"));
		}
		free(im.data);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_images, begin, end),
		cmocka_unit_test_setup_teardown(test_truncated, begin, end),
		cmocka_unit_test_setup_teardown(test_bit_flips, begin, end),
		cmocka_unit_test_setup_teardown(test_superblock_fields, begin,
						end),
		cmocka_unit_test_setup_teardown(test_inode_fields, begin, end),
		cmocka_unit_test_setup_teardown(test_dirent_fields, begin, end),
		cmocka_unit_test_setup_teardown(test_xattr_fields, begin, end),
		cmocka_unit_test_setup_teardown(test_loops, begin, end),
		cmocka_unit_test_setup_teardown(test_specific_errors, begin,
						end),
		cmocka_unit_test_setup_teardown(test_deep, begin, end),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
