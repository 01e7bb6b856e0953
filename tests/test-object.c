/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Verified object reads: paths, sizes, digests, per-block checks, cache. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "composefs-c/composefs.h"
#include "test-util.h"
#include "format/fsverity_i.h"

static char dir[PATH_MAX];
static int dir_fd = -1;

/* Write name (under dir) with len pattern bytes; its digest. */
static void put(const char *name, size_t len, unsigned seed,
		uint8_t digest[CFS_DIGEST_SIZE])
{
	uint8_t *data = malloc(len + 1);
	char path[PATH_MAX * 2];
	int fd;

	assert_non_null(data);
	tu_fill(data, len, seed);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	if (digest)
		cfs_fsverity_digest_buffer(data, len, digest);
	free(data);
}

static void flip(const char *name, off_t at)
{
	char path[PATH_MAX * 2];
	uint8_t b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

static void test_digest_from_leaves(void **state)
{
	static const size_t sizes[] = { 0,
					1,
					4095,
					4096,
					4097,
					8192,
					128 * 4096,
					128 * 4096 + 1,
					129 * 4096 * 128 + 17 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i], n = (len + 4095) / 4096;
		uint8_t *data = malloc(len + 1), *leaves = malloc(n * 32 + 1);
		uint8_t a[CFS_DIGEST_SIZE], b[CFS_DIGEST_SIZE];

		assert_non_null(data);
		assert_non_null(leaves);
		tu_fill(data, len, (unsigned)i);
		cfs_fsverity_digest_buffer(data, len, a);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(
				cfsi_fsverity_hash_block(
					CFS_HASH_SHA256, data + k * 4096,
					len - k * 4096 < 4096 ? len - k * 4096 :
								4096,
					leaves + k * 32),
				0);
		assert_int_equal(cfsi_fsverity_digest_from_leaves(
					 CFS_HASH_SHA256, leaves, n, len, b),
				 0);
		assert_memory_equal(a, b, CFS_DIGEST_SIZE);
		/* a leaf count that does not fit the size is refused */
		assert_int_equal(
			cfsi_fsverity_digest_from_leaves(CFS_HASH_SHA256,
							 leaves, n + 1, len, b),
			-EINVAL);
		free(data);
		free(leaves);
	}
}

static void test_modes(void **state)
{
	struct cfs_object_cache *cache = cfs_object_cache_new(0);
	enum cfs_verify modes[] = { CFS_VERIFY_NONE, CFS_VERIFY_OPEN,
				    CFS_VERIFY_FULL };
	uint8_t digest[CFS_DIGEST_SIZE], expect[100000], got[100000];
	struct cfs_error err = { { 0 } };

	put("obj", sizeof(expect), 7, digest);
	tu_fill(expect, sizeof(expect), 7);
	for (size_t m = 0; m < 3; m++) {
		struct cfs_object *o = NULL;

		assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "obj",
						 sizeof(expect), digest,
						 modes[m], &o, &err),
				 0);
		/* odd offsets and lengths, and past the end */
		assert_int_equal(cfs_object_pread(o, got, 5000, 3, &err), 5000);
		assert_memory_equal(got, expect + 3, 5000);
		assert_int_equal(cfs_object_pread(o, got, sizeof(got), 0, &err),
				 (ssize_t)sizeof(got));
		assert_memory_equal(got, expect, sizeof(got));
		assert_int_equal(cfs_object_pread(o, got, 100, 99950, &err),
				 50);
		assert_int_equal(cfs_object_pread(o, got, 100, 100000, &err),
				 0);
		cfs_object_close(o);
	}
	cfs_object_cache_free(cache);
}

static void test_refusals(void **state)
{
	struct cfs_object_cache *cache = cfs_object_cache_new(0);
	uint8_t digest[CFS_DIGEST_SIZE], other[CFS_DIGEST_SIZE];
	struct cfs_error err = { { 0 } };
	struct cfs_object *o = NULL;
	char path[PATH_MAX * 2];

	put("good", 9000, 1, digest);
	put("bad", 9000, 2, other);
	mkdir(strcat(strcpy(path, dir), "/sub"), 0755);
	snprintf(path, sizeof(path), "%s/sub/link", dir);
	assert_int_equal(symlink("../good", path), 0);

	/* wrong content, wrong size, missing, no digest */
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "bad", 9000, digest,
					 CFS_VERIFY_FULL, &o, &err),
			 -EIO);
	assert_non_null(strstr(err.message, "bad"));
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "bad", 9000, digest,
					 CFS_VERIFY_OPEN, &o, &err),
			 -EIO);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "good", 9001,
					 digest, CFS_VERIFY_NONE, &o, &err),
			 -EIO);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "absent", 1, digest,
					 CFS_VERIFY_NONE, &o, &err),
			 -ENOENT);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "good", 9000, NULL,
					 CFS_VERIFY_FULL, &o, &err),
			 -EIO);
	/* paths that leave the store */
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "../x", 1, digest,
					 CFS_VERIFY_NONE, &o, &err),
			 -EACCES);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "sub/../../x", 1,
					 digest, CFS_VERIFY_NONE, &o, &err),
			 -EACCES);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "/etc/passwd", 1,
					 digest, CFS_VERIFY_NONE, &o, &err),
			 -EACCES);
	/* a symlink at the name: damage, not an escape */
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "sub/link", 9000,
					 digest, CFS_VERIFY_NONE, &o, &err),
			 -EIO);
	/* anything but a regular file at the name is refused at once: a FIFO
	 * (whose open would block without a writer), a directory */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0644), 0);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "fifo", 9000,
					 digest, CFS_VERIFY_FULL, &o, &err),
			 -EIO);
	assert_non_null(strstr(err.message, "not a regular file"));
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "sub", 9000, digest,
					 CFS_VERIFY_NONE, &o, &err),
			 -EIO);
	/* a later basedir is searched when an earlier lacks the object */
	{
		int fds[2] = { open("/", O_RDONLY | O_DIRECTORY), dir_fd };

		assert_int_equal(cfs_object_open(cache, fds, 2, "good", 9000,
						 digest, CFS_VERIFY_FULL, &o,
						 &err),
				 0);
		cfs_object_close(o);
		close(fds[0]);
	}
	cfs_object_cache_free(cache);
}

/* A block changed after the object was verified at open is refused; the
 * others still read. */
static void test_block_check(void **state)
{
	struct cfs_object_cache *cache = cfs_object_cache_new(0);
	uint8_t digest[CFS_DIGEST_SIZE], buf[3 * 4096], expect[3 * 4096];
	struct cfs_error err = { { 0 } };
	struct cfs_object *o = NULL;

	put("blocks", sizeof(buf), 3, digest);
	tu_fill(expect, sizeof(expect), 3);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "blocks",
					 sizeof(buf), digest, CFS_VERIFY_FULL,
					 &o, &err),
			 0);
	flip("blocks", 4096 + 7);
	assert_int_equal(cfs_object_pread(o, buf, 4096, 0, &err), 4096);
	assert_memory_equal(buf, expect, 4096);
	assert_int_equal(cfs_object_pread(o, buf, 4096, 8192, &err), 4096);
	assert_memory_equal(buf, expect + 8192, 4096);
	err.message[0] = '\0';
	assert_int_equal(cfs_object_pread(o, buf, 10, 4100, &err), -EIO);
	assert_non_null(strstr(err.message, "block 1"));
	assert_int_equal(cfs_object_pread(o, buf, sizeof(buf), 0, &err), -EIO);
	cfs_object_close(o);

	/* the tree is cached: a second open does not read the object again,
	 * and its reads are still checked */
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "blocks",
					 sizeof(buf), digest, CFS_VERIFY_FULL,
					 &o, &err),
			 0);
	assert_int_equal(cfs_object_pread(o, buf, 4096, 4096, &err), -EIO);
	cfs_object_close(o);
	/* open mode reads it whole and refuses it now */
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "blocks",
					 sizeof(buf), digest, CFS_VERIFY_OPEN,
					 &o, &err),
			 -EIO);
	cfs_object_cache_free(cache);
}

/* SHA-512 objects: verified with a cache of that algorithm, whole and
 * block by block (a tree of 64-byte leaves built on several threads for a
 * big one, kept on disk and read back); a SHA-256 digest is no SHA-512
 * one. */
static void test_sha512(void **state)
{
	const size_t len = 3 * 1024 * 1024 + 5;
	struct cfs_object_cache *cache = cfs_object_cache_new(0);
	uint8_t digest[CFS_DIGEST_MAX_SIZE], sha256[CFS_DIGEST_SIZE];
	uint8_t *expect = malloc(len), *got = malloc(len);
	struct cfs_error err = { { 0 } };
	struct cfs_object *o = NULL;
	char trees[PATH_MAX * 2];

	assert_non_null(expect);
	assert_non_null(got);
	assert_non_null(cache);
	snprintf(trees, sizeof(trees), "%s/trees512", dir);
	assert_int_equal(cfs_object_cache_set_hash_alg(cache, CFS_HASH_SHA512),
			 0);
	assert_int_equal(cfs_object_cache_set_dir(cache, trees, &err), 0);
	put("big512", len, 9, sha256);
	tu_fill(expect, len, 9);
	assert_int_equal(cfs_fsverity_digest_buffer_alg(CFS_HASH_SHA512, expect,
							len, digest),
			 0);
	for (int m = CFS_VERIFY_OPEN; m <= CFS_VERIFY_FULL; m++) {
		assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "big512",
						 len, digest, m, &o, &err),
				 0);
		assert_int_equal(cfs_object_pread(o, got, len, 0, &err),
				 (ssize_t)len);
		assert_memory_equal(got, expect, len);
		cfs_object_close(o);
	}
	/* the SHA-256 digest (zero-padded to 64 bytes) is refused */
	memset(digest + 32, 0, 32);
	memcpy(digest, sha256, 32);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "big512", len,
					 digest, CFS_VERIFY_FULL, &o, &err),
			 -EIO);
	/* a changed block: EIO for that block, the others read; a new cache
	 * takes the tree kept on disk */
	assert_int_equal(cfs_fsverity_digest_buffer_alg(CFS_HASH_SHA512, expect,
							len, digest),
			 0);
	cfs_object_cache_free(cache);
	cache = cfs_object_cache_new(0);
	assert_int_equal(cfs_object_cache_set_hash_alg(cache, CFS_HASH_SHA512),
			 0);
	assert_int_equal(cfs_object_cache_set_dir(cache, trees, &err), 0);
	flip("big512", 2 * 4096 + 1);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "big512", len,
					 digest, CFS_VERIFY_FULL, &o, &err),
			 0);
	assert_int_equal(cfs_object_pread(o, got, 4096, 0, &err), 4096);
	assert_memory_equal(got, expect, 4096);
	err.message[0] = '\0';
	assert_int_equal(cfs_object_pread(o, got, 4096, 2 * 4096, &err), -EIO);
	assert_non_null(strstr(err.message, "block 2"));
	cfs_object_close(o);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "big512", len,
					 digest, CFS_VERIFY_OPEN, &o, &err),
			 -EIO);
	cfs_object_cache_free(cache);
	free(expect);
	free(got);
}

/* A big object: its tree is built on several threads. */
static void test_large(void **state)
{
	struct cfs_object_cache *cache = cfs_object_cache_new(1 << 20);
	size_t len = 40 * 1024 * 1024 + 123;
	uint8_t digest[CFS_DIGEST_SIZE], buf[8192];
	struct cfs_error err = { { 0 } };
	struct cfs_object *o = NULL;

	put("large", len, 11, digest);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "large", len,
					 digest, CFS_VERIFY_FULL, &o, &err),
			 0);
	assert_int_equal(cfs_object_pread(o, buf, sizeof(buf), len - 100, &err),
			 100);
	flip("large", 20 * 1024 * 1024);
	assert_int_equal(cfs_object_pread(o, buf, 4096, 20 * 1024 * 1024, &err),
			 -EIO);
	cfs_object_close(o);
	/* the newest tree stays cached even over the budget; reads of the
	 * changed block are still refused */
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "large", len,
					 digest, CFS_VERIFY_FULL, &o, &err),
			 0);
	assert_int_equal(cfs_object_pread(o, buf, 4096, 20 * 1024 * 1024, &err),
			 -EIO);
	cfs_object_close(o);
	cfs_object_cache_free(cache);
}

/* Trees kept on disk serve a later cache; a tampered one is not used. */
static void test_disk_cache(void **state)
{
	struct cfs_object_cache *cache = cfs_object_cache_new(0);
	uint8_t digest[CFS_DIGEST_SIZE], buf[4096];
	char trees[PATH_MAX * 2], tree[PATH_MAX * 3], hex[CFS_DIGEST_HEX_SIZE];
	struct cfs_error err = { { 0 } };
	struct cfs_object *o = NULL;
	size_t len = 50 * 4096;
	int fd;

	snprintf(trees, sizeof(trees), "%s/trees", dir);
	put("cached", len, 21, digest);
	assert_int_equal(cfs_object_cache_set_dir(cache, trees, &err), 0);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "cached", len,
					 digest, CFS_VERIFY_FULL, &o, &err),
			 0);
	cfs_object_close(o);
	cfs_object_cache_free(cache);
	cfs_digest_to_hex(digest, hex);
	snprintf(tree, sizeof(tree), "%s/%s", trees, hex);
	assert_int_equal(access(tree, R_OK), 0);

	/* a new cache takes the tree from disk: the object is not read whole
	 * at open (so a changed block only shows at its read) */
	flip("cached", 10 * 4096);
	cache = cfs_object_cache_new(0);
	assert_int_equal(cfs_object_cache_set_dir(cache, trees, &err), 0);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "cached", len,
					 digest, CFS_VERIFY_FULL, &o, &err),
			 0);
	assert_int_equal(cfs_object_pread(o, buf, 4096, 0, &err), 4096);
	assert_int_equal(cfs_object_pread(o, buf, 4096, 10 * 4096, &err), -EIO);
	cfs_object_close(o);
	cfs_object_cache_free(cache);

	/* a tampered tree is not believed: the object is read again at open,
	 * and refused since it changed */
	fd = open(tree, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XXXX", 4, 320), 4);
	close(fd);
	cache = cfs_object_cache_new(0);
	assert_int_equal(cfs_object_cache_set_dir(cache, trees, &err), 0);
	assert_int_equal(cfs_object_open(cache, &dir_fd, 1, "cached", len,
					 digest, CFS_VERIFY_FULL, &o, &err),
			 -EIO);
	cfs_object_cache_free(cache);
}

static int setup(void **state)
{
	if (tu_make_tmpdir(dir, sizeof(dir), "cfs-test-object") < 0)
		return -1;
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY);
	return dir_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	close(dir_fd);
	return tu_remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_from_leaves),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_block_check),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_disk_cache),
		cmocka_unit_test(test_sha512),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
