/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The libcomposefs (lcfs_) API, used as a program written for the
 * reference implementation uses it, linked to the shared library: trees of
 * every file type built node by node, written through a write callback and
 * compared with what this library makes of the equivalent dump (what
 * mkcomposefs --from-file writes); images loaded back and written again;
 * the golden images of the reference's test data rebuilt through
 * lcfs_load_node_from_image() and lcfs_write_to(); lcfs_build(); errors
 * with the API's errno values; mounts with each option (as root).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include <libcomposefs/lcfs-erofs.h>
#include <libcomposefs/lcfs-mount.h>
#include <libcomposefs/lcfs-writer.h>

/* The baseline only: a dump parsed and written by this library. */
#include "composefs-c/composefs.h"
#include "test-util.h"

struct buf {
	uint8_t *data;
	size_t len, cap;
};

static ssize_t buf_write(void *file, void *data, size_t count)
{
	struct buf *b = file;

	/* a short write each time, which the writer must go on after */
	if (count > 1000)
		count = 1000;
	if (b->len + count > b->cap) {
		b->cap = (b->len + count) * 2;
		b->data = realloc(b->data, b->cap);
		assert_non_null(b->data);
	}
	memcpy(b->data + b->len, data, count);
	b->len += count;
	return (ssize_t)count;
}

/* lcfs_write_to() of root into out, its digest into digest. */
static void lcfs_image(struct lcfs_node_s *root, uint32_t version,
		       uint32_t max_version, struct buf *out,
		       uint8_t digest[LCFS_DIGEST_SIZE])
{
	struct lcfs_write_options_s o = { 0 };

	memset(out, 0, sizeof(*out));
	o.format = LCFS_FORMAT_EROFS;
	o.version = version;
	o.max_version = max_version;
	o.file = out;
	o.file_write_cb = buf_write;
	o.digest_out = digest;
	assert_int_equal(lcfs_write_to(root, &o), 0);
	assert_true(out->len > 0);
}

/* The image this library writes of the dump text (mkcomposefs
 * --from-file). */
static void dump_image(const char *text, uint32_t min, uint32_t max,
		       uint8_t **data, size_t *size)
{
	struct cfs_write_options wo = { min, max };
	struct cfs_error err = { { 0 } };
	struct cfs_node *root = NULL;
	FILE *f;
	char *mem = NULL;
	int fd;
	off_t len;

	if (cfs_dump_parse_buffer(text, strlen(text), "dump", 0, &root, &err) <
	    0)
		fail_msg("%s", err.message);
	fd = memfd_create("img", 0);
	assert_true(fd >= 0);
	assert_int_equal(cfs_write_image(root, &wo, fd, NULL, &err), 0);
	len = lseek(fd, 0, SEEK_END);
	mem = malloc((size_t)len);
	assert_int_equal(pread(fd, mem, (size_t)len, 0), len);
	close(fd);
	cfs_node_unref(root);
	(void)f;
	*data = (uint8_t *)mem;
	*size = (size_t)len;
}

static struct lcfs_node_s *add(struct lcfs_node_s *parent, const char *name,
			       uint32_t mode)
{
	struct lcfs_node_s *n = lcfs_node_new();
	struct timespec t = { 1700000000, 123456789 };

	assert_non_null(n);
	lcfs_node_set_mode(n, mode);
	lcfs_node_set_mtime(n, &t);
	if (parent != NULL)
		assert_int_equal(lcfs_node_add_child(parent, n, name), 0);
	return n;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

/* A tree of every file type, and the dump that describes it. */
static struct lcfs_node_s *every_type(char **ret_dump)
{
	static uint8_t big[100000];
	uint8_t digest[LCFS_DIGEST_SIZE], small[] = "small inline content\n";
	char hex[65], path[80], *dump = NULL;
	struct lcfs_node_s *root = add(NULL, NULL, S_IFDIR | 0755);
	struct lcfs_node_s *dir, *n, *link;

	fill(big, sizeof(big), 1);
	assert_int_equal(
		lcfs_compute_fsverity_from_data(digest, big, sizeof(big)), 0);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	snprintf(path, sizeof(path), "%.2s/%s", hex, hex + 2);

	n = add(root, "big", S_IFREG | 0644);
	lcfs_node_set_size(n, sizeof(big));
	assert_int_equal(lcfs_node_set_payload(n, path), 0);
	lcfs_node_set_fsverity_digest(n, digest);
	assert_int_equal(lcfs_node_set_xattr(n, "user.note", "a note", 6), 0);
	assert_int_equal(lcfs_node_set_xattr(n, "trusted.t", "\0\1\2", 3), 0);
	n = add(root, "small", S_IFREG | 0600);
	lcfs_node_set_uid(n, 1000);
	lcfs_node_set_gid(n, 100);
	assert_int_equal(lcfs_node_set_content(n, small, sizeof(small) - 1), 0);
	add(root, "empty", S_IFREG | 0644);
	n = add(root, "link", S_IFLNK | 0777);
	assert_int_equal(lcfs_node_set_symlink_payload(n, "small"), 0);
	n = add(root, "null", S_IFCHR | 0666);
	lcfs_node_set_rdev64(n, makedev(1, 3));
	n = add(root, "loop0", S_IFBLK | 0660);
	lcfs_node_set_rdev64(n, makedev(7, 0));
	add(root, "fifo", S_IFIFO | 0644);
	add(root, "sock", S_IFSOCK | 0755);
	dir = add(root, "dir", S_IFDIR | 0700);
	assert_int_equal(lcfs_node_set_xattr(dir, "user.d", "x", 1), 0);
	link = lcfs_node_new();
	assert_non_null(link);
	lcfs_node_make_hardlink(link, lcfs_node_lookup_child(root, "big"));
	assert_int_equal(lcfs_node_add_child(dir, link, "hardlink"), 0);

	assert_true(
		asprintf(
			&dump,
			"/ 4096 40755 3 0 0 0 1700000000.123456789 - - -\n"
			"/big 100000 100644 2 0 0 0 1700000000.123456789 %s - %s trusted.t=\\x00\\x01\\x02 user.note=a\\x20note\n"
			"/dir 4096 40700 2 0 0 0 1700000000.123456789 - - - user.d=x\n"
			"/dir/hardlink 0 @120000 - - - - 0.0 /big - -\n"
			"/empty 0 100644 1 0 0 0 1700000000.123456789 - - -\n"
			"/fifo 0 10644 1 0 0 0 1700000000.123456789 - - -\n"
			"/link 5 120777 1 0 0 0 1700000000.123456789 small - -\n"
			"/loop0 0 60660 1 0 0 1792 1700000000.123456789 - - -\n"
			"/null 0 20666 1 0 0 259 1700000000.123456789 - - -\n"
			"/small 21 100600 1 1000 100 0 1700000000.123456789 - small\\x20inline\\x20content\\n -\n"
			"/sock 0 140755 1 0 0 0 1700000000.123456789 - - -\n",
			path, hex) > 0);
	*ret_dump = dump;
	return root;
}

static void test_tree_as_mkcomposefs(void **state)
{
	char *dump;
	struct lcfs_node_s *root = every_type(&dump);
	uint8_t digest[LCFS_DIGEST_SIZE], want_digest[LCFS_DIGEST_SIZE];
	struct buf img;
	uint8_t *want;
	size_t want_size;

	for (uint32_t v = 0; v <= 1; v++) {
		lcfs_image(root, v, v, &img, digest);
		dump_image(dump, v, v, &want, &want_size);
		assert_int_equal(img.len, want_size);
		assert_memory_equal(img.data, want, want_size);
		assert_int_equal(lcfs_compute_fsverity_from_data(
					 want_digest, want, want_size),
				 0);
		assert_memory_equal(digest, want_digest, LCFS_DIGEST_SIZE);
		free(img.data);
		free(want);
	}
	free(dump);
	lcfs_node_unref(root);
}

static void test_load_back(void **state)
{
	char *dump, path[PATH_MAX];
	struct lcfs_node_s *root = every_type(&dump), *again, *n;
	const char *const top[] = { "dir", "small", NULL };
	struct lcfs_read_options_s ro = { .toplevel_entries = top };
	uint8_t d1[LCFS_DIGEST_SIZE], d2[LCFS_DIGEST_SIZE];
	struct buf a, b;
	size_t len;
	int fd;

	lcfs_image(root, 0, 1, &a, d1);
	again = lcfs_load_node_from_image(a.data, a.len);
	assert_non_null(again);
	lcfs_image(again, 0, 1, &b, d2);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_memory_equal(d1, d2, LCFS_DIGEST_SIZE);
	n = lcfs_node_lookup_child(again, "big");
	assert_non_null(n);
	assert_string_equal(lcfs_node_get_xattr(n, "user.note", &len),
			    "a note");
	assert_int_equal(len, 6);
	assert_int_equal(lcfs_node_get_size(n), 100000);
	assert_non_null(lcfs_node_get_fsverity_digest(n));
	assert_int_equal(lcfs_node_get_nlink(n), 2);
	n = lcfs_node_lookup_child(again, "null");
	assert_int_equal(lcfs_node_get_rdev64(n), makedev(1, 3));
	lcfs_node_unref(again);
	free(b.data);

	/* from an fd, filtered to some top-level entries */
	snprintf(path, sizeof(path), "%s/lcfs-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, a.data, a.len), (ssize_t)a.len);
	assert_int_equal(lcfs_version_from_fd(fd), 0);
	again = lcfs_load_node_from_fd_ext(fd, &ro);
	assert_non_null(again);
	assert_int_equal(lcfs_node_get_n_children(again), 2);
	assert_string_equal(lcfs_node_get_name(lcfs_node_get_child(again, 0)),
			    "dir");
	lcfs_node_unref(again);
	again = lcfs_load_node_from_fd(fd);
	assert_int_equal(lcfs_node_get_n_children(again), 9);
	lcfs_node_unref(again);

	/* not an image */
	memset(a.data, 0, 64);
	assert_null(lcfs_load_node_from_image(a.data, a.len));
	assert_true(errno != 0);
	assert_int_equal(pwrite(fd, a.data, 64, 0), 64);
	errno = 0;
	assert_int_equal(lcfs_version_from_fd(fd), -1);
	assert_int_equal(errno, EINVAL);
	close(fd);
	free(a.data);
	free(dump);
	lcfs_node_unref(root);
}

static void test_clone(void **state)
{
	char *dump;
	struct lcfs_node_s *root = every_type(&dump), *copy, *one;
	uint8_t d1[LCFS_DIGEST_SIZE], d2[LCFS_DIGEST_SIZE];
	struct buf a, b;

	copy = lcfs_node_clone_deep(root);
	assert_non_null(copy);
	lcfs_image(root, 0, 1, &a, d1);
	lcfs_image(copy, 0, 1, &b, d2);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	/* the copy's hard link points into the copy */
	assert_ptr_equal(
		lcfs_node_get_hardlink_target(lcfs_node_lookup_child(
			lcfs_node_lookup_child(copy, "dir"), "hardlink")),
		lcfs_node_lookup_child(copy, "big"));
	one = lcfs_node_clone(lcfs_node_lookup_child(root, "small"));
	assert_non_null(one);
	assert_null(lcfs_node_get_name(one));
	assert_int_equal(lcfs_node_get_uid(one), 1000);
	assert_memory_equal(lcfs_node_get_content(one), "small inline", 12);
	lcfs_node_unref(one);
	lcfs_node_unref(copy);
	lcfs_node_unref(root);
	free(a.data);
	free(b.data);
	free(dump);
}

static ssize_t read_mem(void *file, void *buf, size_t count)
{
	struct buf *b = file;
	size_t n = b->len - b->cap < count ? b->len - b->cap : count;

	/* cap is the read position here */
	memcpy(buf, b->data + b->cap, n);
	b->cap += n;
	return (ssize_t)n;
}

static void test_fsverity(void **state)
{
	static uint8_t data[70000];
	uint8_t a[LCFS_DIGEST_SIZE], b[LCFS_DIGEST_SIZE], c[LCFS_DIGEST_SIZE];
	struct buf src = { data, sizeof(data), 0 };
	struct lcfs_node_s *n = lcfs_node_new();
	char path[PATH_MAX];
	int fd;

	fill(data, sizeof(data), 3);
	assert_int_equal(lcfs_compute_fsverity_from_data(a, data, sizeof(data)),
			 0);
	assert_int_equal(lcfs_compute_fsverity_from_content(b, &src, read_mem),
			 0);
	assert_memory_equal(a, b, LCFS_DIGEST_SIZE);
	snprintf(path, sizeof(path), "%s/lcfs-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(lcfs_compute_fsverity_from_fd(c, fd), 0);
	assert_memory_equal(a, c, LCFS_DIGEST_SIZE);
	/* no fs-verity on this file: measured, ENOVERITY; got, computed */
	errno = 0;
	assert_int_equal(lcfs_fd_measure_fsverity(c, fd), -ENOVERITY);
	memset(c, 0, sizeof(c));
	assert_int_equal(lcfs_fd_get_fsverity(c, fd), 0);
	assert_memory_equal(a, c, LCFS_DIGEST_SIZE);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(lcfs_node_set_fsverity_from_fd(n, fd), 0);
	assert_memory_equal(lcfs_node_get_fsverity_digest(n), a,
			    LCFS_DIGEST_SIZE);
	/* a SHA-512 digest (this library's own API sets one) is none to the
	 * API of SHA-256 digests, not its first 32 bytes */
	{
		uint8_t d512[CFS_DIGEST_MAX_SIZE];

		memset(d512, 0x42, sizeof(d512));
		assert_int_equal(cfs_node_set_digest_alg((struct cfs_node *)n,
							 CFS_HASH_SHA512, d512),
				 0);
		assert_null(lcfs_node_get_fsverity_digest(n));
		lcfs_node_set_fsverity_digest(n, a);
		assert_memory_equal(lcfs_node_get_fsverity_digest(n), a,
				    LCFS_DIGEST_SIZE);
	}
	close(fd);
	lcfs_node_unref(n);
}

static void test_errors(void **state)
{
	struct lcfs_node_s *root = add(NULL, NULL, S_IFDIR | 0755);
	struct lcfs_node_s *f = add(root, "f", S_IFREG | 0644), *x;
	struct lcfs_write_options_s o = { 0 };
	static uint8_t big[LCFS_INLINE_CONTENT_MAX + 1];
	char name[300], payload[5000];

	x = lcfs_node_new();
	errno = 0;
	assert_int_equal(lcfs_node_add_child(f, x, "x"), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_int_equal(lcfs_node_add_child(root, x, ""), -1);
	assert_int_equal(errno, EINVAL);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(lcfs_node_add_child(root, x, name), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_int_equal(lcfs_node_add_child(root, x, "f"), -1);
	assert_int_equal(errno, EEXIST);
	lcfs_node_unref(x);
	assert_int_equal(lcfs_node_add_child(root, f, "g"), -1);
	assert_int_equal(errno, EMLINK);

	assert_int_equal(lcfs_node_set_content(f, big, sizeof(big)), -1);
	assert_int_equal(errno, EINVAL);
	memset(payload, 'p', sizeof(payload) - 1);
	payload[sizeof(payload) - 1] = '\0';
	assert_int_equal(lcfs_node_set_payload(f, payload), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_int_equal(lcfs_node_unset_xattr(f, "user.none"), -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(lcfs_node_set_xattr(f, "", "v", 1), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(lcfs_node_try_set_mode(f, 0170644), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(lcfs_node_get_mode(f), S_IFREG | 0644);

	/* write options */
	o.format = 1;
	assert_int_equal(lcfs_write_to(root, &o), -1);
	assert_int_equal(errno, EINVAL);
	o.format = LCFS_FORMAT_EROFS;
	o.flags = 1;
	assert_int_equal(lcfs_write_to(root, &o), -1);
	assert_int_equal(errno, EINVAL);
	o.flags = 0;
	o.version = 2;
	assert_int_equal(lcfs_write_to(root, &o), -1);
	assert_int_equal(errno, EINVAL);
	o.version = 0;
	assert_int_equal(lcfs_write_to(root, &o), 0); /* digest only */
	/* an unknown file type set without checking: refused on write */
	lcfs_node_set_mode(f, 0170644);
	assert_int_equal(lcfs_write_to(root, &o), -1);
	assert_int_equal(errno, EINVAL);
	lcfs_node_set_mode(f, S_IFREG | 0644);
	/* a hard link to a directory: refused on write */
	x = lcfs_node_new();
	lcfs_node_make_hardlink(x, root);
	assert_int_equal(lcfs_node_add_child(root, x, "dirlink"), 0);
	assert_int_equal(lcfs_write_to(root, &o), -1);
	assert_int_equal(errno, EINVAL);
	lcfs_node_unref(root);
}

/* The loaders speak of malformed input as the reference's do: EINVAL
 * (an unknown header version: ENOTSUP), never this library's own values. */
#define expect_load_error(d, l, w) expect_load_error_at(d, l, w, __LINE__)
static void expect_load_error_at(const void *data, size_t len, int want,
				 int line)
{
	struct lcfs_node_s *n;

	errno = 0;
	n = lcfs_load_node_from_image(data, len);
	if (n != NULL)
		fail_msg("line %d: an image of %zu bytes loaded", line, len);
	if (errno != want)
		fail_msg("line %d: errno %d (%s), not %d", line, errno,
			 strerror(errno), want);
}

static void test_load_errors(void **state)
{
	struct lcfs_node_s *root = add(NULL, NULL, S_IFDIR | 0755), *wh, *link;
	uint8_t digest[LCFS_DIGEST_SIZE], zeros[8192] = { 0 };
	struct lcfs_node_s *loaded;
	struct buf a;
	uint8_t *copy;

	add(root, "file", S_IFREG | 0644);
	wh = add(root, "wh", S_IFCHR | 0644);
	lcfs_node_set_rdev64(wh, 0);
	lcfs_image(root, 0, 1, &a, digest);

	/* a whiteout of one link loads */
	loaded = lcfs_load_node_from_image(a.data, a.len);
	assert_non_null(loaded);
	lcfs_node_unref(loaded);

	expect_load_error(a.data, 0, EINVAL); /* empty */
	expect_load_error(NULL, 0, EINVAL);
	expect_load_error(a.data, 100, EINVAL); /* truncated in the header */
	expect_load_error(a.data, 1100, EINVAL); /* in the superblock */
	expect_load_error(a.data, a.len - 1, EINVAL); /* by one byte */
	expect_load_error(zeros, sizeof(zeros), EINVAL); /* not an image */
	copy = malloc(a.len);
	assert_non_null(copy);
	memcpy(copy, a.data, a.len);
	copy[4] ^= 0x40; /* the composefs header's version */
	expect_load_error(copy, a.len, EOPNOTSUPP);
	memcpy(copy, a.data, a.len);
	copy[1024] ^= 1; /* the EROFS magic */
	expect_load_error(copy, a.len, EINVAL);
	free(copy);
	free(a.data);

	/* a whiteout of two links, which this library's writer never makes
	 * (it stores whiteouts escaped) but an image can hold: a device of
	 * two links whose rdev is then cleared in the image */
	lcfs_node_set_rdev64(wh, makedev(0xabc, 0x5d));
	link = lcfs_node_new();
	lcfs_node_make_hardlink(link, wh);
	assert_int_equal(lcfs_node_add_child(root, link, "wh2"), 0);
	lcfs_image(root, 0, 1, &a, digest);
	loaded = lcfs_load_node_from_image(a.data, a.len);
	assert_non_null(loaded);
	lcfs_node_unref(loaded);
	{
		/* the kernel's encoding: minor's low byte, major, the rest */
		const uint8_t rdev[4] = { 0x5d, 0xbc, 0x0a, 0x00 };
		uint8_t *at = NULL;

		for (size_t i = 0; i + 4 <= a.len; i += 4) {
			if (memcmp(a.data + i, rdev, 4) == 0) {
				assert_null(at); /* just one */
				at = a.data + i;
			}
		}
		assert_non_null(at);
		memset(at, 0, 4);
	}
	expect_load_error(a.data, a.len, EINVAL);
	free(a.data);
	lcfs_node_unref(root);
}

/* The reference's tools, built with its private header, read a node's
 * mode straight from the struct (at offset 144 on 64-bit targets, where
 * that header puts it): it must be there in ours. */
static void test_node_layout(void **state)
{
#if __SIZEOF_POINTER__ == 8
	struct lcfs_node_s *node = lcfs_node_new();
	uint32_t mode, nlink, uid;

	lcfs_node_set_mode(node, S_IFREG | 0640);
	lcfs_node_set_nlink(node, 3);
	lcfs_node_set_uid(node, 1234);
	memcpy(&mode, (const char *)node + 144, sizeof(mode));
	memcpy(&nlink, (const char *)node + 148, sizeof(nlink));
	memcpy(&uid, (const char *)node + 152, sizeof(uid));
	assert_int_equal(mode, S_IFREG | 0640);
	assert_int_equal(nlink, 3);
	assert_int_equal(uid, 1234);
	lcfs_node_set_mode(node, S_IFDIR | 0755);
	memcpy(&mode, (const char *)node + 144, sizeof(mode));
	assert_int_equal(mode, S_IFDIR | 0755);
	lcfs_node_unref(node);
#else
	skip();
#endif
}

/* The version written: raised to max_version when the tree needs it. */
static void test_version(void **state)
{
	struct lcfs_node_s *root = add(NULL, NULL, S_IFDIR | 0755);
	struct lcfs_node_s *wh = add(root, "wh", S_IFCHR | 0644);
	struct lcfs_write_options_s o = { 0 };

	lcfs_node_set_rdev64(wh, 0); /* a whiteout */
	o.max_version = 1;
	assert_int_equal(lcfs_write_to(root, &o), 0);
	assert_int_equal(o.version, 1);
	o.version = 0;
	o.max_version = 0;
	assert_int_equal(lcfs_write_to(root, &o), 0);
	assert_int_equal(o.version, 0);
	lcfs_node_unref(root);
}

/* lcfs_build() of a directory against this library's scan of it
 * (what mkcomposefs writes), for each combination of digest flags. */
static void test_build(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	static uint8_t data[9000];
	const int flags[] = {
		LCFS_BUILD_COMPUTE_DIGEST | LCFS_BUILD_BY_DIGEST,
		LCFS_BUILD_COMPUTE_DIGEST | LCFS_BUILD_BY_DIGEST |
			LCFS_BUILD_USE_EPOCH | LCFS_BUILD_NO_INLINE,
	};
	struct cfs_build_options bo = { 0 };
	struct cfs_error err;
	char *failed = NULL;
	FILE *f;

	assert_int_equal(tu_make_tmpdir(dir, sizeof(dir), "lcfs-build"), 0);
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0750), 0);
	snprintf(path, sizeof(path), "%s/sub/data", dir);
	f = fopen(path, "w");
	fill(data, sizeof(data), 9);
	fwrite(data, 1, sizeof(data), f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/small", dir);
	f = fopen(path, "w");
	fputs("tiny\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/empty", dir);
	f = fopen(path, "w");
	fclose(f);
	snprintf(path, sizeof(path), "%s/ln", dir);
	assert_int_equal(symlink("small", path), 0);

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		struct lcfs_node_s *root = lcfs_build(AT_FDCWD, dir, flags[i],
						      &failed);
		struct cfs_node *want = NULL;
		uint8_t d1[LCFS_DIGEST_SIZE];
		struct buf a;
		uint8_t *b;
		size_t b_size;
		int fd;

		assert_non_null(root);
		lcfs_image(root, 0, 1, &a, d1);
		bo.flags = (flags[i] & LCFS_BUILD_USE_EPOCH ?
				    CFS_BUILD_USE_EPOCH :
				    0) |
			   (flags[i] & LCFS_BUILD_NO_INLINE ?
				    CFS_BUILD_NO_INLINE :
				    0);
		assert_int_equal(
			cfs_build_from_directory(dir, &bo, &want, &err), 0);
		fd = memfd_create("img", 0);
		assert_int_equal(cfs_write_image(want, NULL, fd, NULL, &err),
				 0);
		b_size = (size_t)lseek(fd, 0, SEEK_END);
		b = malloc(b_size);
		assert_int_equal(pread(fd, b, b_size, 0), (ssize_t)b_size);
		close(fd);
		assert_int_equal(a.len, b_size);
		assert_memory_equal(a.data, b, b_size);
		free(a.data);
		free(b);
		cfs_node_unref(want);
		lcfs_node_unref(root);
	}
	/* without the digest flags no file has a digest or an object path */
	{
		struct lcfs_node_s *root = lcfs_build(AT_FDCWD, dir, 0, NULL);
		struct lcfs_node_s *d = lcfs_node_lookup_child(
			lcfs_node_lookup_child(root, "sub"), "data");

		assert_null(lcfs_node_get_fsverity_digest(d));
		assert_null(lcfs_node_get_payload(d));
		assert_non_null(lcfs_node_get_content(
			lcfs_node_lookup_child(root, "small")));
		lcfs_node_unref(root);
	}
	/* a missing path names itself */
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_null(lcfs_build(AT_FDCWD, path, 0, &failed));
	assert_int_equal(errno, ENOENT);
	assert_non_null(failed);
	free(failed);
	assert_null(lcfs_build(AT_FDCWD, dir, 1 << 20, NULL));
	assert_int_equal(errno, EINVAL);
	tu_remove_tree(dir);
}

/* Each golden dump of the reference's tests: the image this library makes
 * of it, loaded through lcfs_load_node_from_image() and written again
 * with lcfs_write_to(), has the reference's checksum. */
static void test_golden(void **state)
{
	const char *assets = getenv("CFS_ASSETS");
	const char *names[] = { "bigfile.dump",
				"bigfile-xattr.dump",
				"longlink.dump",
				"no-newline.dump",
				"special.dump",
				"special_v1.dump",
				"config.dump.gz",
				"config-with-hard-link.dump.gz",
				"cs9-x86_64-minimal.dump.gz" };
	size_t checked = 0;

	if (assets == NULL || access(assets, R_OK) != 0)
		skip();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[PATH_MAX], cmd[PATH_MAX + 32], want_hex[80] = "";
		unsigned v = 0;
		bool fixed = false;
		char *text = NULL;
		size_t cap = 0, len = 0;
		uint8_t *img, sha[32];
		size_t img_size;
		struct lcfs_node_s *root;
		struct buf out;
		uint8_t digest[LCFS_DIGEST_SIZE];
		char got_hex[80];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s.sha256", assets, names[i]);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		assert_non_null(fgets(want_hex, sizeof(want_hex), f));
		fclose(f);
		want_hex[strcspn(want_hex, " \n")] = '\0';
		snprintf(path, sizeof(path), "%s/%s.version", assets, names[i]);
		f = fopen(path, "r");
		if (f != NULL) {
			fixed = fscanf(f, "%u", &v) == 1;
			fclose(f);
		}
		/* a file that only names another one stands for it (a
		 * symbolic link of the reference's repository) */
		{
			char target[128] = "";
			struct stat st;

			snprintf(path, sizeof(path), "%s/%s", assets, names[i]);
			f = fopen(path, "r");
			if (f != NULL && fstat(fileno(f), &st) == 0 &&
			    st.st_size < 100 &&
			    fgets(target, sizeof(target), f) != NULL &&
			    strchr(target, '\n') == NULL &&
			    strchr(target, ' ') == NULL)
				snprintf(path, sizeof(path), "%s/%s", assets,
					 target);
			if (f != NULL)
				fclose(f);
		}
		snprintf(cmd, sizeof(cmd), "zcat -f '%s'", path);
		f = popen(cmd, "r");
		assert_non_null(f);
		for (;;) {
			if (len + 65536 > cap) {
				cap = (len + 65536) * 2;
				text = realloc(text, cap + 1);
			}
			size_t n = fread(text + len, 1, 65536, f);
			if (n == 0)
				break;
			len += n;
		}
		pclose(f);
		text[len] = '\0';
		dump_image(text, fixed ? v : 0, fixed ? v : 1, &img, &img_size);
		root = lcfs_load_node_from_image(img, img_size);
		assert_non_null(root);
		lcfs_image(root, fixed ? v : 0, fixed ? v : 1, &out, digest);
		EVP_Digest(out.data, out.len, sha, NULL, EVP_sha256(), NULL);
		for (int k = 0; k < 32; k++)
			snprintf(got_hex + 2 * k, 3, "%02x", sha[k]);
		if (strcmp(got_hex, want_hex) != 0)
			fail_msg("%s: %s, the reference's %s", names[i],
				 got_hex, want_hex);
		checked++;
		lcfs_node_unref(root);
		free(out.data);
		free(img);
		free(text);
	}
	assert_true(checked >= 5);
}

/* ------------------------------------------------------------------ */
/* Mounts, as root */

struct mount_env {
	char dir[PATH_MAX], image[PATH_MAX + 16], store[PATH_MAX + 16],
		target[PATH_MAX + 16];
	char hex[65];
};

static void make_mount_env(struct mount_env *e)
{
	struct cfs_build_options bo = { 0 };
	struct cfs_store *store = NULL;
	struct cfs_node *root = NULL;
	struct cfs_error err;
	uint8_t digest[32];
	char path[PATH_MAX + 32];
	FILE *f;
	int fd;

	assert_int_equal(tu_make_tmpdir(e->dir, sizeof(e->dir), "lcfs-mount"),
			 0);
	snprintf(path, sizeof(path), "%s/src", e->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/src/hello", e->dir);
	f = fopen(path, "w");
	for (int i = 0; i < 1000; i++)
		fprintf(f, "hello %d\n", i);
	fclose(f);
	snprintf(e->store, sizeof(e->store), "%s/store", e->dir);
	assert_int_equal(
		cfs_store_open(e->store, CFS_STORE_CREATE, &store, &err), 0);
	bo.store = store;
	snprintf(path, sizeof(path), "%s/src", e->dir);
	assert_int_equal(cfs_build_from_directory(path, &bo, &root, &err), 0);
	assert_int_equal(cfs_store_commit(store, &err), 0);
	snprintf(e->image, sizeof(e->image), "%s/image", e->dir);
	fd = open(e->image, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(cfs_write_image(root, NULL, fd, digest, &err), 0);
	close(fd);
	cfs_digest_to_hex(digest, e->hex);
	cfs_node_unref(root);
	cfs_store_free(store);
	snprintf(e->target, sizeof(e->target), "%s/mnt", e->dir);
	assert_int_equal(mkdir(e->target, 0755), 0);
}

static bool mounted_hello(const char *target)
{
	char path[PATH_MAX + 16], line[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/hello", target);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	return strcmp(line, "hello 0\n") == 0;
}

static void test_mount(void **state)
{
	struct mount_env e;
	const char *objdirs[1];
	struct lcfs_mount_options_s o;
	char upper[PATH_MAX + 16], work[PATH_MAX + 16];

	if (geteuid() != 0)
		skip();
	make_mount_env(&e);
	objdirs[0] = e.store;

	/* plain, then read-only, then with an image_mountdir */
	memset(&o, 0, sizeof(o));
	o.objdirs = objdirs;
	o.n_objdirs = 1;
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), 0);
	assert_true(mounted_hello(e.target));
	assert_int_equal(umount(e.target), 0);
	o.flags = LCFS_MOUNT_FLAGS_READONLY;
	o.image_mountdir = e.dir;
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), 0);
	assert_true(mounted_hello(e.target));
	assert_int_equal(umount(e.target), 0);

	/* an upper directory: writable */
	snprintf(upper, sizeof(upper), "%s/upper", e.dir);
	snprintf(work, sizeof(work), "%s/work", e.dir);
	assert_int_equal(mkdir(upper, 0755), 0);
	assert_int_equal(mkdir(work, 0755), 0);
	memset(&o, 0, sizeof(o));
	o.objdirs = objdirs;
	o.n_objdirs = 1;
	o.upperdir = upper;
	o.workdir = work;
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), 0);
	{
		char p[PATH_MAX + 32];
		FILE *f;

		snprintf(p, sizeof(p), "%s/new", e.target);
		f = fopen(p, "w");
		assert_non_null(f);
		fclose(f);
		snprintf(p, sizeof(p), "%s/new", upper);
		assert_int_equal(access(p, F_OK), 0);
	}
	assert_int_equal(umount(e.target), 0);

	/* fs-verity asked of overlayfs as the libcomposefs API does, whatever
	 * the kernel can do: the mount succeeds; here, where neither the
	 * kernel nor the store has fs-verity, a file from the store then
	 * fails to open */
	memset(&o, 0, sizeof(o));
	o.objdirs = objdirs;
	o.n_objdirs = 1;
	o.flags = LCFS_MOUNT_FLAGS_REQUIRE_VERITY;
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), 0);
	{
		char p[PATH_MAX + 32];
		struct stat st;
		int fd;

		assert_int_equal(stat(e.target, &st), 0);
		snprintf(p, sizeof(p), "%s/hello", e.target);
		int open_errno;

		fd = open(p, O_RDONLY);
		open_errno = errno;
		if (access("/proc/sys/fs/verity", F_OK) != 0) {
			assert_int_equal(fd, -1);
			assert_int_equal(open_errno, EIO);
		}
		if (fd >= 0)
			close(fd);
	}
	assert_int_equal(umount(e.target), 0);
	o.flags = LCFS_MOUNT_FLAGS_TRY_VERITY;
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), 0);
	assert_int_equal(umount(e.target), 0);

	/* an expected digest: the image file has no fs-verity here */
	o.flags = 0;
	o.expected_fsverity_digest = e.hex;
	errno = 0;
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), -1);
	assert_int_equal(errno, ENOVERITY);
	o.expected_fsverity_digest = "abcd"; /* any even length: measured */
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), -1);
	assert_int_equal(errno, ENOVERITY);
	o.expected_fsverity_digest = "not hex";
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), -1);
	assert_int_equal(errno, EINVAL);
	o.expected_fsverity_digest = ""; /* none */
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), 0);
	assert_true(mounted_hello(e.target));
	assert_int_equal(umount(e.target), 0);
	o.expected_fsverity_digest = NULL;

	/* bad options */
	o.n_objdirs = 0;
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), -1);
	assert_int_equal(errno, EINVAL);
	o.n_objdirs = 1;
	o.upperdir = upper;
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), -1);
	assert_int_equal(errno, EINVAL);
	o.upperdir = NULL;
	o.flags = LCFS_MOUNT_FLAGS_IDMAP;
	o.idmap_fd = -1;
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), -1);
	assert_int_equal(errno, EINVAL);
	o.flags = 1u << 7;
	assert_int_equal(lcfs_mount_image(e.image, e.target, &o), -1);
	assert_int_equal(errno, EINVAL);
	o.flags = 0;
	/* not an image: a directory, a file of something else */
	assert_int_equal(lcfs_mount_image(e.store, e.target, &o), -1);
	assert_int_equal(errno, EISDIR);
	{
		char p[PATH_MAX + 32];

		snprintf(p, sizeof(p), "%s/src/hello", e.dir);
		assert_int_equal(lcfs_mount_image(p, e.target, &o), -1);
		assert_int_equal(errno, EINVAL);
	}
	/* nothing is left mounted */
	assert_false(mounted_hello(e.target));
	tu_remove_tree(e.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_as_mkcomposefs),
		cmocka_unit_test(test_load_back),
		cmocka_unit_test(test_clone),
		cmocka_unit_test(test_fsverity),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_node_layout),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_mount),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
