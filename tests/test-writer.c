/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Unit tests of the image writer through the public API. */
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
#include <unistd.h>

#include <cmocka.h>

#include "composefs-c/composefs.h"
#include "test-util.h"

/* A tree with a bit of everything. */
static struct cfs_node *sample_tree(void)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *dir = tu_add(root, "dir", S_IFDIR | 0700);
	struct cfs_node *f = tu_add(dir, "file", S_IFREG | 0644);
	struct cfs_node *l = tu_add(root, "link", S_IFLNK | 0777);
	struct cfs_node *in = tu_add(root, "inline", S_IFREG | 0600);
	struct cfs_node *dev = tu_add(root, "null", S_IFCHR | 0666);
	struct cfs_node *hl = tu_add(root, "hardlink", S_IFREG | 0644);
	uint8_t digest[CFS_DIGEST_SIZE];

	memset(digest, 0x5a, sizeof(digest));
	cfs_node_set_size(f, 123456);
	cfs_node_set_digest(f, digest);
	assert_int_equal(cfs_node_set_payload(f, "5a/5a5a"), 0);
	assert_int_equal(cfs_node_set_xattr(f, "user.z", "1", 1), 0);
	assert_int_equal(
		cfs_node_set_xattr(f, "trusted.overlay.redirect", "/x", 2), 0);
	assert_int_equal(cfs_node_set_xattr(f, "security.a", "2", 1), 0);
	assert_int_equal(cfs_node_set_symlink_target(l, "dir/file"), 0);
	assert_int_equal(cfs_node_set_content(in, (const uint8_t *)"hello", 5),
			 0);
	cfs_node_set_rdev(dev, makedev(1, 3));
	cfs_node_set_uid(dev, 100000);
	assert_int_equal(cfs_node_make_hardlink(hl, f), 0);
	return root;
}

struct image {
	uint8_t *data;
	size_t size;
	uint8_t digest[CFS_DIGEST_SIZE];
};

static int write_image(struct cfs_node *root, uint32_t min, uint32_t max,
		       struct image *img)
{
	struct cfs_write_options opts = { min, max };
	struct cfs_error err = { { 0 } };
	int fd = memfd_create("image", MFD_CLOEXEC);
	int r;

	assert_true(fd >= 0);
	r = cfs_write_image(root, &opts, fd, img->digest, &err);
	if (r == 0) {
		off_t size = lseek(fd, 0, SEEK_END);

		assert_true(size > 0);
		img->size = (size_t)size;
		img->data = malloc(img->size);
		assert_non_null(img->data);
		assert_int_equal(pread(fd, img->data, img->size, 0),
				 (ssize_t)img->size);
	} else {
		assert_true(err.message[0] != '\0');
	}
	close(fd);
	return r;
}

static uint32_t le32_at(const struct image *img, size_t off)
{
	uint32_t v;

	memcpy(&v, img->data + off, 4);
	return le32toh(v);
}

static void test_reproducible_and_digest(void **state)
{
	struct cfs_node *root = sample_tree();
	struct image a = { 0 }, b = { 0 };
	uint8_t digest[CFS_DIGEST_SIZE];
	struct cfs_node *f = cfs_node_lookup_child(
		cfs_node_lookup_child(root, "dir"), "file");

	assert_int_equal(write_image(root, 0, 1, &a), 0);
	assert_int_equal(write_image(root, 0, 1, &b), 0);
	assert_int_equal(a.size, b.size);
	assert_memory_equal(a.data, b.data, a.size);
	assert_int_equal(a.size % 4096, 0);
	cfs_fsverity_digest_buffer(a.data, a.size, digest);
	assert_memory_equal(digest, a.digest, CFS_DIGEST_SIZE);

	/* composefs header, EROFS superblock, block count */
	assert_int_equal(le32_at(&a, 0), 0xd078629a);
	assert_int_equal(le32_at(&a, 1024), 0xE0F5E1E2);
	assert_int_equal(le32_at(&a, 1024 + 36) * 4096ull, a.size);

	/* the input tree is left as it was: no ".", "..", whiteouts, or
	 * escaped xattr names */
	assert_int_equal(cfs_node_get_n_children(root), 5);
	assert_null(cfs_node_get_xattr(f, "trusted.overlay.overlay.redirect",
				       NULL));
	assert_non_null(
		cfs_node_get_xattr(f, "trusted.overlay.redirect", NULL));
	assert_null(cfs_node_get_xattr(f, "trusted.overlay.metacopy", NULL));
	free(a.data);
	free(b.data);
	cfs_node_unref(root);
}

static void test_version_bump(void **state)
{
	struct cfs_node *root = sample_tree();
	struct image img = { 0 };

	assert_int_equal(write_image(root, 0, 1, &img), 0);
	assert_int_equal(le32_at(&img, 12), 0); /* nothing needs version 1 */
	free(img.data);

	tu_add(root, "whiteout", S_IFCHR | 0644); /* rdev 0:0 */
	assert_int_equal(write_image(root, 0, 1, &img), 0);
	assert_int_equal(le32_at(&img, 12), 1);
	free(img.data);
	assert_int_equal(write_image(root, 0, 0, &img), 0);
	assert_int_equal(le32_at(&img, 12), 0);
	free(img.data);
	assert_int_equal(write_image(root, 1, 0, &img), 0);
	assert_int_equal(le32_at(&img, 12), 1);
	free(img.data);
	assert_int_equal(write_image(root, 2, 2, &img), -EINVAL);
	cfs_node_unref(root);
}

static void test_errors(void **state)
{
	struct cfs_node *root = sample_tree();
	struct cfs_node *outside = tu_add(NULL, NULL, S_IFREG | 0644);
	struct cfs_node *link = tu_add(root, "to-outside", S_IFREG | 0644);
	struct cfs_node *file = tu_add(NULL, NULL, S_IFREG | 0644);
	struct cfs_node *big;
	struct image img = { 0 };

	assert_int_equal(cfs_node_make_hardlink(link, outside), 0);
	assert_int_equal(write_image(root, 0, 1, &img), -EINVAL);
	cfs_node_unref(root);
	cfs_node_unref(outside);

	assert_int_equal(write_image(file, 0, 1, &img), -ENOTDIR);
	cfs_node_unref(file);

	root = tu_add(NULL, NULL, S_IFDIR | 0755);
	big = tu_add(root, "big", S_IFREG | 0644);
	cfs_node_set_size(big, (1ull << 53) + 1);
	assert_int_equal(write_image(root, 0, 1, &img), -EFBIG);
	cfs_node_set_size(big, 1ull << 53);
	assert_int_equal(write_image(root, 0, 1, &img), 0);
	free(img.data);
	cfs_node_unref(root);
}

/* The hash algorithm is a parameter: SHA-256 by number or by default gives
 * the same image, with the algorithm's number in each metacopy xattr;
 * SHA-512 writes and reads back its 64-byte digests; a file's digest of
 * another algorithm than the image's, and an algorithm fs-verity does not
 * have, are refused. */
static void test_hash_alg(void **state)
{
	struct cfs_node *root = sample_tree();
	struct cfs_write_options opts = { 0, 1, CFS_HASH_SHA256 };
	struct cfs_error err = { { 0 } };
	struct cfs_image *image;
	struct cfs_inode ino;
	struct cfs_overlay_info info;
	struct image a = { 0 };
	uint8_t digest[CFS_DIGEST_SIZE], digest512[CFS_DIGEST_MAX_SIZE];
	struct cfs_node *f = cfs_node_lookup_child(
		cfs_node_lookup_child(root, "dir"), "file");
	enum cfs_hash_alg alg = CFS_HASH_DEFAULT;
	uint64_t nid;
	int fd = memfd_create("image", MFD_CLOEXEC);

	assert_int_equal(write_image(root, 0, 1, &a), 0);
	assert_true(fd >= 0);
	assert_int_equal(cfs_write_image(root, &opts, fd, digest, &err), 0);
	assert_memory_equal(digest, a.digest, CFS_DIGEST_SIZE);
	close(fd);

	assert_int_equal(cfs_image_open_buffer(a.data, a.size, &image, &err),
			 0);
	assert_int_equal(cfs_image_get_inode(image,
					     cfs_image_get_root_nid(image),
					     &ino, &err),
			 0);
	assert_int_equal(cfs_image_lookup(image, &ino, "dir", 3, &nid, &err),
			 0);
	assert_int_equal(cfs_image_get_inode(image, nid, &ino, &err), 0);
	assert_int_equal(cfs_image_lookup(image, &ino, "file", 4, &nid, &err),
			 0);
	assert_int_equal(cfs_image_get_inode(image, nid, &ino, &err), 0);
	assert_int_equal(cfs_image_get_overlay_info(image, &ino, &info, &err),
			 0);
	assert_true(info.metacopy);
	assert_true(info.has_digest);
	cfs_image_free(image);
	free(a.data);

	/* a SHA-256 digest in an image written with SHA-512 is refused,
	 * naming the file, and nothing is written */
	opts.hash_alg = CFS_HASH_SHA512;
	fd = memfd_create("image", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(cfs_write_image(root, &opts, fd, digest512, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "'file' has a sha256 digest"));
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);

	/* with SHA-512 digests: a metacopy xattr of 4 + 64 bytes naming
	 * algorithm 2, read back as it was written; the image's digest is
	 * its SHA-512 fs-verity digest */
	memset(digest512, 0xa5, sizeof(digest512));
	digest512[63] = 0x01;
	assert_int_equal(cfs_node_set_digest_alg(f, CFS_HASH_SHA512, digest512),
			 0);
	assert_int_equal(cfs_node_get_digest_alg(f), CFS_HASH_SHA512);
	assert_int_equal(cfs_write_image(root, &opts, fd, digest512, &err), 0);
	{
		off_t size = lseek(fd, 0, SEEK_END);
		uint8_t *data = malloc((size_t)size),
			again[CFS_DIGEST_MAX_SIZE];
		struct cfs_node *back = NULL;
		const uint8_t *meta;
		size_t meta_len;

		assert_non_null(data);
		assert_int_equal(pread(fd, data, (size_t)size, 0), size);
		assert_int_equal(
			cfs_fsverity_digest_buffer_alg(CFS_HASH_SHA512, data,
						       (size_t)size, again),
			0);
		assert_memory_equal(again, digest512, 64);
		assert_int_equal(cfs_image_open_buffer(data, (size_t)size,
						       &image, &err),
				 0);
		assert_int_equal(cfs_image_get_inode(
					 image, cfs_image_get_root_nid(image),
					 &ino, &err),
				 0);
		assert_int_equal(
			cfs_image_lookup(image, &ino, "dir", 3, &nid, &err), 0);
		assert_int_equal(cfs_image_get_inode(image, nid, &ino, &err),
				 0);
		assert_int_equal(cfs_image_lookup(image, &ino, "file", 4, &nid,
						  &err),
				 0);
		assert_int_equal(cfs_image_get_inode(image, nid, &ino, &err),
				 0);
		assert_int_equal(cfs_image_get_overlay_info(image, &ino, &info,
							    &err),
				 0);
		assert_true(info.has_digest);
		assert_int_equal(info.digest_alg, CFS_HASH_SHA512);
		memset(again, 0xa5, sizeof(again));
		again[63] = 0x01;
		assert_memory_equal(info.digest, again, 64);
		assert_int_equal(cfs_image_to_tree(image, &back, &err), 0);
		f = cfs_node_lookup_child(cfs_node_lookup_child(back, "dir"),
					  "file");
		assert_int_equal(cfs_node_get_digest_alg(f), CFS_HASH_SHA512);
		meta = cfs_node_get_digest(f);
		assert_memory_equal(meta, again, 64);
		meta = cfs_node_get_xattr(f, "trusted.overlay.metacopy",
					  &meta_len);
		assert_null(meta); /* the overlay xattrs become the digest */
		cfs_node_unref(back);
		cfs_image_free(image);
		free(data);
	}
	close(fd);

	/* an algorithm fs-verity does not have is refused */
	opts.hash_alg = 3;
	fd = memfd_create("image", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(cfs_write_image(root, &opts, fd, digest512, &err),
			 -EOPNOTSUPP);
	assert_non_null(strstr(err.message, "not implemented"));
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	close(fd);

	assert_int_equal(cfs_hash_alg_from_name("sha256", &alg), 0);
	assert_int_equal(alg, CFS_HASH_SHA256);
	assert_int_equal(cfs_hash_alg_digest_size(alg), 32);
	assert_string_equal(cfs_hash_alg_name(CFS_HASH_DEFAULT), "sha256");
	assert_int_equal(cfs_hash_alg_from_name("sha512", &alg), 0);
	assert_int_equal(alg, CFS_HASH_SHA512);
	assert_int_equal(cfs_hash_alg_from_name("md5", &alg), -EINVAL);
	assert_int_equal(cfs_hash_alg_digest_size(CFS_HASH_SHA512), 64);
	assert_string_equal(cfs_hash_alg_name(CFS_HASH_SHA512), "sha512");
	assert_int_equal(cfs_hash_alg_from_digest_size(64, &alg), 0);
	assert_int_equal(alg, CFS_HASH_SHA512);
	assert_int_equal(cfs_hash_alg_from_digest_size(48, &alg), -EINVAL);
	assert_null(cfs_hash_alg_name(3));

	/* the store and the object reader take it too */
	{
		char dir[] = "/tmp/cfs-test-alg.XXXXXX";
		struct cfs_object_cache *cache = cfs_object_cache_new(0);
		struct cfs_store *store = NULL;

		assert_non_null(mkdtemp(dir));
		assert_int_equal(cfs_store_open(dir, CFS_STORE_HASH_ALG(3),
						&store, &err),
				 -EOPNOTSUPP);
		assert_non_null(strstr(err.message, "not implemented"));
		assert_int_equal(
			cfs_store_open(dir, CFS_STORE_HASH_ALG(CFS_HASH_SHA256),
				       &store, &err),
			0);
		cfs_store_free(store);
		assert_non_null(cache);
		assert_int_equal(cfs_object_cache_set_hash_alg(cache, 3),
				 -EOPNOTSUPP);
		assert_int_equal(cfs_object_cache_set_hash_alg(cache,
							       CFS_HASH_SHA512),
				 0);
		assert_int_equal(cfs_object_cache_set_hash_alg(cache,
							       CFS_HASH_SHA256),
				 0);
		cfs_object_cache_free(cache);
		assert_int_equal(rmdir(dir), 0);
	}
	cfs_node_unref(root);
}

static void test_fsck(void **state)
{
	struct cfs_node *root = sample_tree();
	struct image img = { 0 };
	char path[] = "/tmp/cfs-test-writer-XXXXXX";
	char cmd[256];
	int fd;

	if (system("command -v fsck.erofs >/dev/null 2>&1") != 0) {
		cfs_node_unref(root);
		skip();
	}
	/* many entries: directory blocks beyond the inline tail */
	for (int i = 0; i < 2000; i++) {
		char name[64];
		struct cfs_node *n;

		snprintf(name, sizeof(name), "entry-with-a-long-name-%05d", i);
		n = tu_add(cfs_node_lookup_child(root, "dir"), name,
			   S_IFREG | 0644);
		cfs_node_set_mtime(n, 1700000000 + i, (uint32_t)i);
	}
	assert_int_equal(write_image(root, 0, 1, &img), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, img.data, img.size), (ssize_t)img.size);
	close(fd);
	snprintf(cmd, sizeof(cmd), "fsck.erofs %s >/dev/null 2>&1", path);
	assert_int_equal(system(cmd), 0);
	unlink(path);
	free(img.data);
	cfs_node_unref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reproducible_and_digest),
		cmocka_unit_test(test_version_bump),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_hash_alg),
		cmocka_unit_test(test_fsck),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
