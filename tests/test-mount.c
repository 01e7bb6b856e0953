/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The library's mount API: option checks, escaping, the sealed copy and the
 * digest check, refusal of bad images before anything is mounted (all of
 * that without root); as root, real mounts through both the new mount API
 * and mount(2), and that a failure leaves nothing behind.
 */
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "composefs-c/composefs.h"
#include "mount/mount_i.h"

#define CONTENT "the content of the one object of the test image\n"

/* short enough that every path built from it fits in PATH_MAX */
static char tmpdir[1024];
/* paths under tmpdir */
#define TMP_PATH_SIZE 1200
static char image_path[TMP_PATH_SIZE], store_path[TMP_PATH_SIZE],
	target[TMP_PATH_SIZE];
static uint8_t image_digest[CFS_DIGEST_SIZE];

static void path_in_tmp(char *out, const char *name)
{
	snprintf(out, TMP_PATH_SIZE, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* An image of a root holding "file" (an object in the store) and "inline"
 * (content in the image), and the store with that object. */
static void make_image(void)
{
	struct cfs_write_options wopts = { 0, 1 };
	struct cfs_node *root = cfs_node_new(), *file = cfs_node_new();
	struct cfs_node *small = cfs_node_new();
	char object[CFS_OBJECT_PATH_SIZE], path[TMP_PATH_SIZE + 128];
	uint8_t digest[CFS_DIGEST_SIZE];
	struct cfs_error err;
	int fd;

	cfs_fsverity_digest_buffer(CONTENT, strlen(CONTENT), digest);
	cfs_digest_to_object_path(digest, object);
	assert_int_equal(cfs_node_set_mode(root, S_IFDIR | 0755), 0);
	assert_int_equal(cfs_node_set_mode(file, S_IFREG | 0644), 0);
	assert_int_equal(cfs_node_set_payload(file, object), 0);
	cfs_node_set_size(file, strlen(CONTENT));
	cfs_node_set_digest(file, digest);
	assert_int_equal(cfs_node_add_child(root, file, "file"), 0);
	assert_int_equal(cfs_node_set_mode(small, S_IFREG | 0600), 0);
	assert_int_equal(
		cfs_node_set_content(small, (const uint8_t *)"hi\n", 3), 0);
	assert_int_equal(cfs_node_add_child(root, small, "inline"), 0);

	fd = open(image_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(cfs_write_image(root, &wopts, fd, image_digest, &err),
			 0);
	close(fd);
	cfs_node_unref(root);

	snprintf(path, sizeof(path), "%s/%.2s", store_path, object);
	assert_int_equal(mkdir(store_path, 0755), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%s", store_path, object);
	write_file(path, CONTENT, strlen(CONTENT));
}

static struct cfs_mount_options default_options(void)
{
	static const char *basedirs[1];
	struct cfs_mount_options opts = { .idmap_fd = -1 };

	basedirs[0] = store_path;
	opts.basedirs = basedirs;
	opts.n_basedirs = 1;
	return opts;
}

static bool is_root(void)
{
	return geteuid() == 0;
}

/* Lines of /proc/self/mountinfo naming path (the target or a temporary
 * EROFS directory of ours). */
static int mounts_matching(const char *path)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, path) != NULL)
			n++;
	}
	fclose(f);
	return n;
}

static void test_escape(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "/plain/path", "/plain/path" },
		{ "", "" },
		{ "a,b", "a\\,b" },
		{ "a:b", "a\\:b" },
		{ "a\\b", "a\\\\b" },
		{ ",:\\", "\\,\\:\\\\" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = cfsi_mount_escape(cases[i].in);

		assert_non_null(s);
		assert_string_equal(s, cases[i].out);
		free(s);
	}
}

static void test_bad_options(void **state)
{
	static const char *empty[] = { "" };
	struct cfs_mount_options opts = default_options();
	struct cfs_error err;

	opts.n_basedirs = 0;
	assert_int_equal(cfs_mount_image(image_path, target, &opts, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "basedir"));

	opts = default_options();
	opts.basedirs = empty;
	assert_int_equal(cfs_mount_image(image_path, target, &opts, &err),
			 -EINVAL);

	opts = default_options();
	opts.upperdir = tmpdir;
	assert_int_equal(cfs_mount_image(image_path, target, &opts, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "workdir"));

	opts = default_options();
	opts.flags = 1u << 30;
	assert_int_equal(cfs_mount_image(image_path, target, &opts, &err),
			 -EINVAL);

	/* the hash algorithm is a parameter; one fs-verity lacks is
	 * refused */
	opts = default_options();
	opts.hash_alg = 3;
	assert_int_equal(cfs_mount_image(image_path, target, &opts, &err),
			 -EOPNOTSUPP);
	assert_non_null(strstr(err.message, "not implemented"));

	opts = default_options();
	opts.flags = CFS_MOUNT_IDMAP;
	assert_int_equal(cfs_mount_image(image_path, target, &opts, &err),
			 -EINVAL);

	assert_int_equal(cfs_mount_image(image_path, target, NULL, &err),
			 -EINVAL);
}

static void test_missing_image(void **state)
{
	struct cfs_mount_options opts = default_options();
	char path[TMP_PATH_SIZE];
	struct cfs_error err;

	path_in_tmp(path, "no-such-image");
	assert_int_equal(cfs_mount_image(path, target, &opts, &err), -ENOENT);
	assert_non_null(strstr(err.message, "no-such-image"));
}

static void test_sealed_copy(void **state)
{
	char path[TMP_PATH_SIZE], buf[64];
	int fd, copy, seals;

	path_in_tmp(path, "to-copy");
	write_file(path, CONTENT, strlen(CONTENT));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	copy = cfsi_mount_sealed_copy(fd, "to-copy");
	assert_true(copy >= 0);
	close(fd);
	unlink(path);

	assert_int_equal(pread(copy, buf, sizeof(buf), 0),
			 (ssize_t)strlen(CONTENT));
	assert_memory_equal(buf, CONTENT, strlen(CONTENT));
	seals = fcntl(copy, F_GET_SEALS);
	assert_true(seals >= 0);
	assert_int_equal(seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW |
				  F_SEAL_SEAL),
			 F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW |
				 F_SEAL_SEAL);
	assert_int_equal(pwrite(copy, "x", 1, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(copy, 1), -1);
	close(copy);
}

/* A digest needs an image file with fs-verity, whatever the digest: the
 * test's image has none (a temporary file), so even the right digest is
 * refused, before anything is mounted (so it needs no root). */
static void test_digest_needs_verity(void **state)
{
	struct cfs_mount_options opts = default_options();
	struct cfs_error err;

	opts.digest = image_digest;
	assert_int_equal(cfs_mount_image(image_path, target, &opts, &err),
			 -ENOTTY);
	assert_string_equal(err.message, "Image has no fs-verity");
	assert_int_equal(mounts_matching(target), 0);
	/* unknown flags are still refused */
	opts.flags = 1u << 20;
	assert_int_equal(cfs_mount_image(image_path, target, &opts, &err),
			 -EINVAL);
}

/* With the weaker check, a wrong digest is refused before anything is
 * mounted (so it needs no root), with both digests in the message. */
static void test_wrong_digest(void **state)
{
	struct cfs_mount_options opts = default_options();
	char want[CFS_DIGEST_HEX_SIZE], found[CFS_DIGEST_HEX_SIZE];
	uint8_t wrong[CFS_DIGEST_SIZE];
	struct cfs_error err;

	memcpy(wrong, image_digest, sizeof(wrong));
	wrong[5] ^= 1;
	opts.digest = wrong;
	opts.flags = CFS_MOUNT_DIGEST_COPY;
	assert_int_equal(cfs_mount_image(image_path, target, &opts, &err),
			 -EILSEQ);
	cfs_digest_to_hex(wrong, want);
	cfs_digest_to_hex(image_digest, found);
	assert_non_null(strstr(err.message, want));
	assert_non_null(strstr(err.message, found));
	assert_int_equal(mounts_matching(target), 0);
}

static void test_corrupt_images(void **state)
{
	struct cfs_mount_options opts = default_options();
	char path[TMP_PATH_SIZE];
	struct cfs_error err;
	uint8_t *data;
	struct stat st;
	int fd;

	fd = open(image_path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	data = malloc(st.st_size);
	assert_non_null(data);
	assert_int_equal(read(fd, data, st.st_size), st.st_size);
	close(fd);

	path_in_tmp(path, "bad-magic.img");
	data[0] ^= 0xff;
	write_file(path, data, st.st_size);
	data[0] ^= 0xff;
	assert_true(cfs_mount_image(path, target, &opts, &err) < 0);
	assert_non_null(strstr(err.message, "not a valid composefs image"));
	assert_int_equal(mounts_matching(target), 0);
	unlink(path);

	path_in_tmp(path, "truncated.img");
	write_file(path, data, 1100);
	assert_true(cfs_mount_image(path, target, &opts, &err) < 0);
	assert_non_null(strstr(err.message, "not a valid composefs image"));
	assert_int_equal(mounts_matching(target), 0);
	unlink(path);

	path_in_tmp(path, "empty.img");
	write_file(path, data, 0);
	assert_true(cfs_mount_image(path, target, &opts, &err) < 0);
	assert_int_equal(mounts_matching(target), 0);
	unlink(path);
	free(data);
}

static void test_check_verity(void **state)
{
	struct cfs_mount_options opts = default_options();
	char path[TMP_PATH_SIZE];
	struct cfs_error err;
	int r;

	path_in_tmp(path, "no-such-dir");
	assert_int_equal(cfs_mount_check_verity(path, &err), -ENOENT);

	r = cfs_mount_check_verity(store_path, &err);
	if (r == 0) {
		print_message("# fs-verity available for %s\n", store_path);
		return;
	}
	assert_int_equal(r, -EOPNOTSUPP);
	assert_non_null(strstr(err.message, "fs-verity"));

	/* Then the verity option is refused, pointing to the ways out. */
	opts.flags = CFS_MOUNT_VERITY;
	assert_int_equal(cfs_mount_image(image_path, target, &opts, &err),
			 -EOPNOTSUPP);
	assert_non_null(strstr(err.message, "tryverity"));
	assert_non_null(strstr(err.message, "composefs-fuse"));
	assert_int_equal(mounts_matching(target), 0);
}

static void read_back(const char *name, const char *expected)
{
	char path[TMP_PATH_SIZE + NAME_MAX], buf[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", target, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(expected));
	assert_memory_equal(buf, expected, n);
}

static void mount_and_check(unsigned flags, const uint8_t *digest)
{
	struct cfs_mount_options opts = default_options();
	struct cfs_error err = { "" };
	int r;

	opts.flags = flags;
	opts.digest = digest;
	/* the image is a temporary file without fs-verity */
	if (digest != NULL)
		opts.flags |= CFS_MOUNT_DIGEST_COPY;
	r = cfs_mount_image(image_path, target, &opts, &err);
	if (r < 0)
		fail_msg("mount failed: %s", err.message);
	assert_int_equal(mounts_matching(target), 1);
	read_back("file", CONTENT);
	read_back("inline", "hi\n");
	assert_int_equal(umount(target), 0);
	assert_int_equal(mounts_matching(target), 0);
	/* no temporary EROFS mount point left, mounted or not */
	assert_int_equal(mounts_matching("/.composefs-"), 0);
}

static void test_mount_new_api(void **state)
{
	if (!is_root())
		skip();
	mount_and_check(0, NULL);
	mount_and_check(CFS_MOUNT_READONLY | CFS_MOUNT_NODEV, image_digest);
}

static void test_mount_legacy_api(void **state)
{
	if (!is_root())
		skip();
	mount_and_check(CFS_MOUNT_LEGACY_API, NULL);
	mount_and_check(CFS_MOUNT_LEGACY_API | CFS_MOUNT_TRY_VERITY,
			image_digest);
}

static int count_fds(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

/* Many mounts and unmounts, from a file and from a sealed copy, keep
 * no fd or mount behind. */
static void test_cycles_leak_nothing(void **state)
{
	int fds;

	if (!is_root())
		skip();
	fds = count_fds();
	for (int i = 0; i < 25; i++) {
		mount_and_check(0, NULL);
		mount_and_check(0, image_digest);
	}
	assert_int_equal(count_fds(), fds);
	assert_int_equal(mounts_matching(tmpdir), 0);
}

/* A failure after the EROFS mount (here: the target is missing) undoes
 * it. */
static void test_failure_leaves_nothing(void **state)
{
	struct cfs_mount_options opts = default_options();
	char missing[TMP_PATH_SIZE];
	struct cfs_error err;
	unsigned variants[] = { 0, CFS_MOUNT_LEGACY_API };

	if (!is_root())
		skip();
	path_in_tmp(missing, "missing-target");
	for (size_t i = 0; i < 2; i++) {
		opts.flags = variants[i];
		assert_int_equal(cfs_mount_image(image_path, missing, &opts,
						 &err),
				 -ENOENT);
		assert_non_null(strstr(err.message, "missing-target"));
		assert_int_equal(mounts_matching(tmpdir), 0);
		assert_int_equal(mounts_matching("/.composefs-"), 0);
	}
}

static int setup(void **state)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test-mount-XXXXXX",
		 base && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	path_in_tmp(image_path, "test.img");
	path_in_tmp(store_path, "store");
	path_in_tmp(target, "mnt");
	if (mkdir(target, 0755) < 0)
		return -1;
	make_image();
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)umount2(target, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_missing_image),
		cmocka_unit_test(test_sealed_copy),
		cmocka_unit_test(test_digest_needs_verity),
		cmocka_unit_test(test_wrong_digest),
		cmocka_unit_test(test_corrupt_images),
		cmocka_unit_test(test_check_verity),
		cmocka_unit_test(test_mount_new_api),
		cmocka_unit_test(test_mount_legacy_api),
		cmocka_unit_test(test_failure_leaves_nothing),
		cmocka_unit_test(test_cycles_leak_nothing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
