/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Fuzz target: any bytes as a tar layer (compressed or not). Read it into
 * a layer tree, apply it onto a small tree with directories, files and
 * symlinks (one leading to itself, one out of the root, one into a
 * directory), finish the import and write the image; then do the same
 * with the layer tree as the repository keeps it (written as an image and
 * read back), which must give the same image. Crashes, sanitizer reports,
 * hangs and a difference between the two ways are findings.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "composefs-c/composefs.h"
#include "fuzz.h"
#include "oci/import_i.h"

static struct cfs_node *add(struct cfs_node *parent, const char *name,
			    uint32_t mode, const char *target)
{
	struct cfs_node *n = cfs_node_new();

	require(n != NULL);
	require(cfs_node_set_mode(n, mode) == 0);
	if (target != NULL)
		require(cfs_node_set_symlink_target(n, target) == 0);
	require(cfs_node_add_child(parent, n, name) == 0);
	return n;
}

static struct cfs_node *lower_tree(void)
{
	struct cfs_node *root = cfsi_import_root_new(), *usr, *lib;

	require(root != NULL);
	usr = add(root, "usr", S_IFDIR | 0755, NULL);
	lib = add(usr, "lib", S_IFDIR | 0755, NULL);
	add(lib, "libc", S_IFREG | 0644, NULL);
	add(root, "lib", S_IFLNK | 0777, "usr/lib");
	add(root, "up", S_IFLNK | 0777, "../../..");
	add(root, "self", S_IFLNK | 0777, "self");
	add(root, "abs", S_IFLNK | 0777, "/usr");
	add(root, "f", S_IFREG | 0600, NULL);
	return root;
}

/* The digest of the image of layer applied onto the lower tree; 0 or
 * -errno. */
static int import_digest(const struct cfs_node *layer, uint8_t digest[32])
{
	struct cfs_node *root = lower_tree();
	struct cfs_error err;
	int r = cfsi_layer_apply(root, layer, "fuzz", &err);

	if (r == 0)
		r = cfsi_import_finish(root);
	if (r == 0)
		r = cfs_write_image(root, NULL, -1, digest, &err);
	cfs_node_unref(root);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfs_node *layer = NULL, *lower = lower_tree(), *kept = NULL;
	struct cfs_image *image = NULL;
	struct cfs_error err;
	uint8_t fresh[32], again[32];
	int fd, img_fd, r_fresh;
	off_t len;
	void *map;

	fd = memfd_create("tar", MFD_CLOEXEC);
	require(fd >= 0);
	require(write(fd, data, size) == (ssize_t)size);
	require(lseek(fd, 0, SEEK_SET) == 0);
	if (cfsi_tar_read(fd, "fuzz", NULL, CFS_HASH_SHA256, lower, NULL, NULL,
			  &layer, NULL, &err) < 0) {
		close(fd);
		cfs_node_unref(lower);
		return 0;
	}
	close(fd);
	cfs_node_unref(lower);

	r_fresh = import_digest(layer, fresh);

	/* the layer as the repository keeps it */
	img_fd = memfd_create("layer", MFD_CLOEXEC);
	require(img_fd >= 0);
	if (cfs_write_image(layer, NULL, img_fd, NULL, &err) == 0) {
		len = lseek(img_fd, 0, SEEK_END);
		map = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, img_fd,
			   0);
		require(map != MAP_FAILED);
		require(cfs_image_open_buffer(map, (size_t)len, &image, &err) ==
			0);
		require(cfs_image_to_tree(image, &kept, &err) == 0);
		require(import_digest(kept, again) == r_fresh);
		if (r_fresh == 0)
			require(memcmp(fresh, again, sizeof(fresh)) == 0);
		cfs_node_unref(kept);
		cfs_image_free(image);
		munmap(map, (size_t)len);
	}
	close(img_fd);
	cfs_node_unref(layer);
	return 0;
}
