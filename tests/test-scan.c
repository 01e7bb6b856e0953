/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* The directory scan: what cfs_build_from_directory makes of a real tree,
 * with each build flag, with a store, with hard links, and its errors. */
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "composefs-c/composefs.h"
#include "test-util.h"

static char tmpdir[1024];
static char src[1100]; /* tmpdir + "/src" */
static uint8_t big[100000], small[10];
static bool have_trusted, have_device;

static void path_in(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", src, name);
}

static void write_file(const char *name, const uint8_t *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	path_in(path, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void set_time(const char *name, int64_t sec, long nsec)
{
	char path[PATH_MAX];
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };

	path_in(path, name);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/*
 * src/: small (10 bytes), big (100000), empty, link -> big, fifo, sub/,
 * sub/nested, hard (a hard link to big), and, as root, null (1:3). big
 * has user.color and, where the filesystem allows, trusted.note.
 */
static int setup(void **state)
{
	char path[PATH_MAX];

	if (tu_make_tmpdir(tmpdir, sizeof(tmpdir), "cfs-test-scan") < 0)
		return -1;
	snprintf(src, sizeof(src), "%s/src", tmpdir);
	if (mkdir(src, 0755) < 0)
		return -1;
	tu_fill(big, sizeof(big), 1);
	tu_fill(small, sizeof(small), 2);
	write_file("small", small, sizeof(small));
	write_file("big", big, sizeof(big));
	write_file("empty", NULL, 0);
	path_in(path, "sub");
	mkdir(path, 0700);
	write_file("sub/nested", small, 3);
	path_in(path, "link");
	if (symlink("big", path) < 0)
		return -1;
	path_in(path, "fifo");
	if (mkfifo(path, 0600) < 0)
		return -1;
	path_in(path, "big");
	if (setxattr(path, "user.color", "blue", 4, 0) < 0)
		return -1;
	have_trusted = setxattr(path, "trusted.note", "t", 1, 0) == 0;
	{
		char hard[PATH_MAX];

		path_in(hard, "hard");
		if (link(path, hard) < 0)
			return -1;
	}
	path_in(path, "null");
	have_device = mknod(path, S_IFCHR | 0666, makedev(1, 3)) == 0 &&
		      chmod(path, 0666) == 0; /* whatever the umask */
	set_time("big", 1700000000, 123456789);
	set_time("link", -1000, 5);
	return 0;
}

static int teardown(void **state)
{
	return tu_remove_tree(tmpdir);
}

static struct cfs_node *build(unsigned flags, unsigned threads,
			      struct cfs_store *store)
{
	struct cfs_build_options opts = { .flags = flags,
					  .threads = threads,
					  .store = store };
	struct cfs_error err = { { 0 } };
	struct cfs_node *root = NULL;

	if (cfs_build_from_directory(src, &opts, &root, &err) < 0)
		fail_msg("build: %s", err.message);
	assert_non_null(root);
	return root;
}

static struct cfs_node *child(struct cfs_node *dir, const char *name)
{
	struct cfs_node *n = cfs_node_lookup_child(dir, name);

	if (n == NULL)
		fail_msg("no entry '%s'", name);
	return n;
}

static void test_every_kind(void **state)
{
	struct cfs_node *root = build(0, 2, NULL), *n;
	uint8_t digest[CFS_DIGEST_SIZE];
	char object[CFS_OBJECT_PATH_SIZE];
	const void *value;
	size_t len;
	int64_t sec;
	uint32_t nsec;

	assert_true(S_ISDIR(cfs_node_get_mode(root)));
	assert_int_equal(cfs_node_get_n_children(root), have_device ? 8 : 7);

	/* a small file: its content inline (the writer stores it in the
	 * image), its digest still known */
	n = child(root, "small");
	assert_int_equal(cfs_node_get_mode(n), S_IFREG | 0640);
	assert_int_equal(cfs_node_get_size(n), sizeof(small));
	assert_non_null(cfs_node_get_content(n));
	assert_memory_equal(cfs_node_get_content(n), small, sizeof(small));
	cfs_fsverity_digest_buffer(small, sizeof(small), digest);
	assert_memory_equal(cfs_node_get_digest(n), digest, CFS_DIGEST_SIZE);

	/* a large one: its digest and object path */
	n = child(root, "big");
	cfs_fsverity_digest_buffer(big, sizeof(big), digest);
	cfs_digest_to_object_path(digest, object);
	assert_int_equal(cfs_node_get_size(n), sizeof(big));
	assert_null(cfs_node_get_content(n));
	assert_non_null(cfs_node_get_digest(n));
	assert_memory_equal(cfs_node_get_digest(n), digest, CFS_DIGEST_SIZE);
	assert_string_equal(cfs_node_get_payload(n), object);
	value = cfs_node_get_xattr(n, "user.color", &len);
	assert_non_null(value);
	assert_int_equal(len, 4);
	assert_memory_equal(value, "blue", 4);
	if (have_trusted)
		assert_non_null(cfs_node_get_xattr(n, "trusted.note", &len));
	cfs_node_get_mtime(n, &sec, &nsec);
	assert_int_equal(sec, 1700000000);
	assert_int_equal(nsec, 123456789);
	assert_int_equal(cfs_node_get_uid(n), getuid());

	/* without hard links kept, the other name is a file of its own */
	n = child(root, "hard");
	assert_null(cfs_node_get_hardlink_target(n));
	assert_memory_equal(cfs_node_get_digest(n), digest, CFS_DIGEST_SIZE);

	n = child(root, "empty");
	assert_int_equal(cfs_node_get_size(n), 0);
	assert_null(cfs_node_get_content(n));

	n = child(root, "link");
	assert_true(S_ISLNK(cfs_node_get_mode(n)));
	assert_string_equal(cfs_node_get_payload(n), "big");
	assert_int_equal(cfs_node_get_size(n), 3);
	cfs_node_get_mtime(n, &sec, &nsec);
	assert_int_equal(sec, -1000);
	assert_int_equal(nsec, 5);

	assert_int_equal(cfs_node_get_mode(child(root, "fifo")),
			 S_IFIFO | 0600);
	n = child(root, "sub");
	assert_int_equal(cfs_node_get_mode(n), S_IFDIR | 0700);
	assert_int_equal(cfs_node_get_size(child(n, "nested")), 3);
	if (have_device) {
		n = child(root, "null");
		assert_int_equal(cfs_node_get_mode(n), S_IFCHR | 0666);
		assert_int_equal(cfs_node_get_rdev(n), makedev(1, 3));
	}
	cfs_node_unref(root);
}

static void test_flags(void **state)
{
	struct cfs_node *root;
	int64_t sec;
	uint32_t nsec;

	root = build(CFS_BUILD_SKIP_XATTRS, 0, NULL);
	assert_int_equal(cfs_node_get_n_xattrs(child(root, "big")), 0);
	cfs_node_unref(root);

	root = build(CFS_BUILD_USER_XATTRS, 0, NULL);
	assert_non_null(
		cfs_node_get_xattr(child(root, "big"), "user.color", NULL));
	assert_null(
		cfs_node_get_xattr(child(root, "big"), "trusted.note", NULL));
	cfs_node_unref(root);

	root = build(CFS_BUILD_USE_EPOCH, 0, NULL);
	cfs_node_get_mtime(child(root, "big"), &sec, &nsec);
	assert_int_equal(sec, 0);
	assert_int_equal(nsec, 0);
	cfs_node_unref(root);

	/* no inline content: the small file becomes an object too */
	root = build(CFS_BUILD_NO_INLINE, 0, NULL);
	assert_null(cfs_node_get_content(child(root, "small")));
	assert_non_null(cfs_node_get_payload(child(root, "small")));
	cfs_node_unref(root);

	root = build(CFS_BUILD_NO_DIGEST, 0, NULL);
	assert_null(cfs_node_get_digest(child(root, "big")));
	cfs_node_unref(root);

	if (have_device) {
		root = build(CFS_BUILD_SKIP_DEVICES, 0, NULL);
		assert_null(cfs_node_lookup_child(root, "null"));
		assert_non_null(cfs_node_lookup_child(root, "fifo"));
		cfs_node_unref(root);
	}
}

static void test_hardlinks(void **state)
{
	struct cfs_node *root = build(CFS_BUILD_HARDLINKS, 0, NULL);
	struct cfs_node *a = child(root, "big"), *b = child(root, "hard");
	struct cfs_node *ta = cfs_node_get_hardlink_target(a);
	struct cfs_node *tb = cfs_node_get_hardlink_target(b);

	/* one of the names is the file, the other links to it */
	assert_true((ta == NULL && tb == a) || (tb == NULL && ta == b));
	assert_int_equal(cfs_node_get_nlink(ta ? ta : a), 2);
	cfs_node_unref(root);
}

/* Objects land in the store under the names the tree gives them. */
static void test_store(void **state)
{
	char path[PATH_MAX];
	struct cfs_error err = { { 0 } };
	struct cfs_store *store = NULL;
	struct cfs_node *root;
	uint8_t got[CFS_DIGEST_SIZE];
	int fd;

	snprintf(path, sizeof(path), "%s/store", tmpdir);
	assert_int_equal(cfs_store_open(path, CFS_STORE_CREATE, &store, &err),
			 0);
	root = build(0, 3, store);
	fd = cfs_store_open_object(store,
				   cfs_node_get_digest(child(root, "big")));
	assert_true(fd >= 0);
	assert_int_equal(cfs_fsverity_digest_fd(fd, got), 0);
	assert_memory_equal(got, cfs_node_get_digest(child(root, "big")),
			    CFS_DIGEST_SIZE);
	close(fd);
	snprintf(path, sizeof(path), "%s/store/%s", tmpdir,
		 cfs_node_get_payload(child(root, "big")));
	assert_int_equal(access(path, R_OK), 0);
	cfs_node_unref(root);
	cfs_store_free(store);
}

static void image_of(struct cfs_node *root, uint8_t **data, size_t *size)
{
	tu_write_image(root, 1, data, size);
	cfs_node_unref(root);
}

/* The number of digest workers never changes the result. */
static void test_threads(void **state)
{
	uint8_t *a, *b;
	size_t alen, blen;

	image_of(build(0, 1, NULL), &a, &alen);
	image_of(build(0, 8, NULL), &b, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
}

static void test_errors(void **state)
{
	struct cfs_build_options opts = { 0 };
	struct cfs_error err = { { 0 } };
	struct cfs_node *root = NULL;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/nonexistent", tmpdir);
	assert_int_equal(cfs_build_from_directory(path, &opts, &root, &err),
			 -ENOENT);
	assert_null(root);
	assert_non_null(strstr(err.message, path));

	path_in(path, "small");
	err.message[0] = '\0';
	assert_int_equal(cfs_build_from_directory(path, &opts, &root, &err),
			 -ENOTDIR);
	assert_null(root);
	assert_non_null(strstr(err.message, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_kind),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_hardlinks),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
