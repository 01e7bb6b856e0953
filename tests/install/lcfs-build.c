/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * A program of the kind that uses the libcomposefs API and nothing else:
 * it builds a small tree in memory and writes its image to stdout, its
 * fs-verity digest (hex) to the file DIGEST_FILE. tests/install.sh builds
 * it against the installed header and library and compares the image with
 * what mkcomposefs makes of the same tree written as a dump:
 *
 *   /        40755 0:0
 *   /data    100644 1000:1000, 10000 bytes of 'x' as an object (payload
 *            and digest), xattr user.origin=lcfs, two names
 *   /dev     40755 0:0
 *   /dev/null 20666, device 1,3
 *   /hard    a hard link to /data
 *   /link    120777 -> data
 *   /small   100644, "hello\n" inline
 *
 * Every mtime is 1700000000.123456789.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <libcomposefs/lcfs-writer.h>

#define DATA_SIZE 10000

static struct timespec mtime = { 1700000000, 123456789 };

static int fail(const char *what)
{
	fprintf(stderr, "lcfs-build: %s: %s\n", what, strerror(errno));
	return 1;
}

static struct lcfs_node_s *new_node(uint32_t mode, uint32_t owner)
{
	struct lcfs_node_s *node = lcfs_node_new();

	if (node == NULL)
		return NULL;
	if (lcfs_node_try_set_mode(node, mode) < 0) {
		lcfs_node_unref(node);
		return NULL;
	}
	lcfs_node_set_uid(node, owner);
	lcfs_node_set_gid(node, owner);
	lcfs_node_set_mtime(node, &mtime);
	return node;
}

/* Adds child under name to parent (which takes the reference); child is
 * returned, borrowed, or NULL. */
static struct lcfs_node_s *add(struct lcfs_node_s *parent,
			       struct lcfs_node_s *child, const char *name)
{
	if (child == NULL)
		return NULL;
	if (lcfs_node_add_child(parent, child, name) < 0) {
		lcfs_node_unref(child);
		return NULL;
	}
	return child;
}

static void digest_to_hex(const uint8_t *digest, char *hex)
{
	for (int i = 0; i < LCFS_DIGEST_SIZE; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
}

/* /data: no content of its own, the object named by its digest */
static int set_object(struct lcfs_node_s *node)
{
	static uint8_t data[DATA_SIZE];
	uint8_t digest[LCFS_DIGEST_SIZE];
	char hex[2 * LCFS_DIGEST_SIZE + 1], path[2 * LCFS_DIGEST_SIZE + 2];

	memset(data, 'x', sizeof(data));
	if (lcfs_compute_fsverity_from_data(digest, data, sizeof(data)) < 0)
		return -1;
	digest_to_hex(digest, hex);
	snprintf(path, sizeof(path), "%.2s/%s", hex, hex + 2);
	lcfs_node_set_size(node, sizeof(data));
	lcfs_node_set_fsverity_digest(node, digest);
	return lcfs_node_set_payload(node, path);
}

static int build(struct lcfs_node_s *root)
{
	static const uint8_t hello[] = "hello\n";
	struct lcfs_node_s *data, *dev, *null, *hard, *link, *small;

	data = add(root, new_node(S_IFREG | 0644, 1000), "data");
	if (data == NULL || set_object(data) < 0)
		return fail("/data");
	if (lcfs_node_set_xattr(data, "user.origin", "lcfs", 4) < 0)
		return fail("/data: user.origin");

	dev = add(root, new_node(S_IFDIR | 0755, 0), "dev");
	null = dev ? add(dev, new_node(S_IFCHR | 0666, 0), "null") : NULL;
	if (null == NULL)
		return fail("/dev/null");
	lcfs_node_set_rdev64(null, makedev(1, 3));

	hard = lcfs_node_new();
	if (hard == NULL)
		return fail("/hard");
	lcfs_node_make_hardlink(hard, data);
	if (add(root, hard, "hard") == NULL)
		return fail("/hard");
	if (lcfs_node_get_hardlink_target(hard) != data ||
	    lcfs_node_get_nlink(data) != 2) {
		fprintf(stderr, "lcfs-build: /hard: not a link to /data\n");
		return 1;
	}

	link = add(root, new_node(S_IFLNK | 0777, 0), "link");
	if (link == NULL || lcfs_node_set_symlink_payload(link, "data") < 0)
		return fail("/link");

	small = add(root, new_node(S_IFREG | 0644, 0), "small");
	if (small == NULL ||
	    lcfs_node_set_content(small, hello, sizeof(hello) - 1) < 0)
		return fail("/small");
	return 0;
}

static ssize_t write_cb(void *file, void *buf, size_t count)
{
	return write(*(int *)file, buf, count);
}

int main(int argc, char **argv)
{
	struct lcfs_write_options_s options = { 0 };
	uint8_t digest[LCFS_DIGEST_SIZE];
	char hex[2 * LCFS_DIGEST_SIZE + 1];
	struct lcfs_node_s *root;
	int out = STDOUT_FILENO, r;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: lcfs-build DIGEST_FILE >IMAGE\n");
		return 2;
	}
	root = new_node(S_IFDIR | 0755, 0);
	if (root == NULL)
		return fail("/");
	r = build(root);
	if (r != 0) {
		lcfs_node_unref(root);
		return r;
	}

	options.format = LCFS_FORMAT_EROFS;
	options.version = LCFS_DEFAULT_VERSION_MIN;
	options.max_version = LCFS_DEFAULT_VERSION_MAX;
	options.digest_out = digest;
	options.file = &out;
	options.file_write_cb = write_cb;
	r = lcfs_write_to(root, &options) < 0 ? fail("lcfs_write_to") : 0;
	lcfs_node_unref(root);
	if (r != 0)
		return r;

	digest_to_hex(digest, hex);
	f = fopen(argv[1], "w");
	if (f == NULL || fprintf(f, "%s\n", hex) < 0 || fclose(f) != 0)
		return fail(argv[1]);
	return 0;
}
