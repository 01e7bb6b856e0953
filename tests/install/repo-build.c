/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * A program that uses the repository library (<composefs-c/repo.h>,
 * libcomposefs-repo.so.0):
 *
 *   repo-build TAR DIGEST_FILE >IMAGE   the image of the tar file TAR, read
 *                                       as mkcomposefs --from-tar reads
 *                                       it, its digest (hex) in DIGEST_FILE
 *
 * tests/install.sh builds it against the installed headers and libraries.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <composefs-c/repo.h>

static int fail(const char *what, int r, const struct cfs_error *err)
{
	fprintf(stderr, "repo-build: %s: %s\n", what,
		err && err->message[0] ? err->message : strerror(-r));
	return 1;
}

int main(int argc, char **argv)
{
	struct cfs_error err = { { 0 } };
	struct cfs_write_options opts = {
		.min_version = CFS_DEFAULT_VERSION_MIN,
		.max_version = CFS_DEFAULT_VERSION_MAX,
	};
	uint8_t digest[CFS_DIGEST_SIZE];
	char hex[CFS_DIGEST_HEX_SIZE];
	struct cfs_node *root = NULL;
	FILE *out;
	int fd, r;

	if (argc != 3) {
		fprintf(stderr, "usage: repo-build TAR DIGEST_FILE >IMAGE\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(argv[1], -errno, NULL);
	r = cfs_build_from_tar(fd, argv[1], NULL, &root, &err);
	close(fd);
	if (r < 0)
		return fail("cfs_build_from_tar", r, &err);
	r = cfs_write_image(root, &opts, STDOUT_FILENO, digest, &err);
	cfs_node_unref(root);
	if (r < 0)
		return fail("cfs_write_image", r, &err);
	cfs_digest_to_hex(digest, hex);
	out = fopen(argv[2], "w");
	if (out == NULL || fprintf(out, "%s\n", hex) < 0 || fclose(out) != 0)
		return fail(argv[2], -errno, NULL);
	return 0;
}
