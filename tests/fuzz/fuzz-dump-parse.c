/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Fuzz target: any bytes as composefs-dump(5) text. Parse it (lenient and
 * strict); what parses is printed, and the printed text must parse back
 * strictly to the same text; the tree is written as an image, which the
 * reader must take back as a tree that writes the very same bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "composefs-c/composefs.h"
#include "fuzz.h"

static char *print(const struct cfs_node *root, size_t *ret_len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, ret_len);

	require(f != NULL);
	require(cfs_dump_print(root, f) == 0);
	require(fclose(f) == 0);
	return text;
}

/* Write root as an image into the memory file fd; returns its bytes
 * (malloc'd) or NULL when the writer refuses the tree. */
static uint8_t *write_image(struct cfs_node *root, uint32_t min, uint32_t max,
			    int fd, size_t *ret_size)
{
	struct cfs_write_options opts = { min, max };
	struct cfs_error err = { { 0 } };
	uint8_t *bytes;
	off_t size;
	int r;

	require(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
	r = cfs_write_image(root, &opts, fd, NULL, &err);
	if (r < 0) {
		require(r != -EBADF && r != -ESPIPE);
		return NULL;
	}
	size = lseek(fd, 0, SEEK_END);
	require(size > 0);
	bytes = malloc(size);
	require(bytes != NULL);
	require(pread(fd, bytes, size, 0) == size);
	*ret_size = (size_t)size;
	return bytes;
}

/* image -> tree -> image gives the same bytes */
static void check_image(const uint8_t *bytes, size_t size, int fd)
{
	struct cfs_error err = { { 0 } };
	struct cfs_image *img = NULL;
	struct cfs_node *back = NULL;
	uint8_t *again;
	size_t again_size = 0;
	uint32_t version;
	int r;

	r = cfs_image_open_buffer(bytes, size, &img, &err);
	if (r < 0) {
		fprintf(stderr, "written image does not open: %s\n",
			err.message);
		abort();
	}
	version = cfs_image_get_version(img);
	r = cfs_image_to_tree(img, &back, &err);
	if (r < 0) {
		fprintf(stderr, "written image gives no tree: %s\n",
			err.message);
		abort();
	}
	cfs_image_free(img);
	again = write_image(back, version, version, fd, &again_size);
	require(again != NULL);
	require(again_size == size && memcmp(again, bytes, size) == 0);
	free(again);
	cfs_node_unref(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct cfs_error err = { { 0 } };
	struct cfs_node *root = NULL, *strict = NULL, *again = NULL;
	char *text, *text2;
	size_t len = 0, len2 = 0, image_size = 0;
	uint8_t *image;
	int r;

	if (fd < 0) {
		fd = memfd_create("fuzz-image", MFD_CLOEXEC);
		require(fd >= 0);
	}
	r = cfs_dump_parse_buffer((const char *)data, size, "fuzz", 0, &root,
				  &err);
	if (r < 0) {
		require(err.message[0] != '\0');
		/* what the lenient parser refuses, the strict one does too */
		require(cfs_dump_parse_buffer((const char *)data, size, "fuzz",
					      CFS_DUMP_STRICT, &strict,
					      NULL) < 0);
		return 0;
	}
	text = print(root, &len);

	/* the strict parser, where it agrees to, reads the same tree */
	if (cfs_dump_parse_buffer((const char *)data, size, "fuzz",
				  CFS_DUMP_STRICT, &strict, NULL) == 0) {
		text2 = print(strict, &len2);
		require(len2 == len && memcmp(text, text2, len) == 0);
		free(text2);
		cfs_node_unref(strict);
	}

	/* printed text is a strict dump of the same tree; but for one limit
	 * kept from the reference: a line's xattrs may take 65535 bytes of
	 * text, counted escaped, and escaping a binary value makes it up to
	 * four times longer */
	r = cfs_dump_parse_buffer(text, len, "printed", CFS_DUMP_STRICT, &again,
				  &err);
	if (r == 0) {
		text2 = print(again, &len2);
		require(len2 == len && memcmp(text, text2, len) == 0);
		free(text2);
		cfs_node_unref(again);
	} else if (r != -ERANGE || !strstr(err.message, "bytes of text")) {
		fprintf(stderr, "printed dump does not parse: %s\n",
			err.message);
		abort();
	}
	free(text);

	image = write_image(root, CFS_DEFAULT_VERSION_MIN,
			    CFS_DEFAULT_VERSION_MAX, fd, &image_size);
	if (image != NULL) {
		check_image(image, image_size, fd);
		free(image);
	}
	cfs_node_unref(root);
	return 0;
}
