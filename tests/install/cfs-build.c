/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * A program that uses the composefs-c API (<composefs-c/composefs.h>):
 *
 *   cfs-build --version               the library's version
 *   cfs-build DUMP DIGEST_FILE >IMAGE the image of the composefs-dump(5)
 *                                     file DUMP, its digest (hex) in
 *                                     DIGEST_FILE
 *
 * tests/install.sh builds it against the installed header and library.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <composefs-c/composefs.h>

static int fail(const char *what, int r, const struct cfs_error *err)
{
	fprintf(stderr, "cfs-build: %s: %s\n", what,
		err && err->message[0] ? err->message : strerror(-r));
	return 1;
}

/* The whole file at path, malloc'd; NULL with errno set. */
static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "r");
	char *data = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (len == cap) {
			char *p = realloc(data, cap = cap ? 2 * cap : 4096);

			if (p == NULL) {
				free(data);
				fclose(f);
				return NULL;
			}
			data = p;
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		free(data);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	*ret_len = len;
	return data;
}

int main(int argc, char **argv)
{
	struct cfs_write_options opts = {
		.min_version = CFS_DEFAULT_VERSION_MIN,
		.max_version = CFS_DEFAULT_VERSION_MAX,
	};
	struct cfs_error err = { { 0 } };
	uint8_t digest[CFS_DIGEST_SIZE];
	char hex[CFS_DIGEST_HEX_SIZE];
	struct cfs_node *root = NULL;
	size_t len = 0;
	char *dump;
	FILE *f;
	int r;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("%s\n", cfs_version());
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: cfs-build DUMP DIGEST_FILE >IMAGE\n");
		return 2;
	}
	dump = read_file(argv[1], &len);
	if (dump == NULL)
		return fail(argv[1], -errno, NULL);
	r = cfs_dump_parse_buffer(dump, len, argv[1], 0, &root, &err);
	free(dump);
	if (r < 0)
		return fail("cfs_dump_parse_buffer", r, &err);
	r = cfs_write_image(root, &opts, STDOUT_FILENO, digest, &err);
	cfs_node_unref(root);
	if (r < 0)
		return fail("cfs_write_image", r, &err);

	cfs_digest_to_hex(digest, hex);
	f = fopen(argv[2], "w");
	if (f == NULL || fprintf(f, "%s\n", hex) < 0 || fclose(f) != 0)
		return fail(argv[2], -errno, NULL);
	return 0;
}
