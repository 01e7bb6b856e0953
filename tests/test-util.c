/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "test-util.h"

struct cfs_node *tu_add(struct cfs_node *parent, const char *name,
			uint32_t mode)
{
	struct cfs_node *n = cfs_node_new();

	assert_non_null(n);
	assert_int_equal(cfs_node_set_mode(n, mode), 0);
	cfs_node_set_mtime(n, 1700000000, 0);
	if (parent != NULL)
		assert_int_equal(cfs_node_add_child(parent, n, name), 0);
	return n;
}

void tu_write_image(struct cfs_node *root, uint32_t version, uint8_t **data,
		    size_t *size)
{
	struct cfs_write_options opts = { version, version };
	struct cfs_error err = { { 0 } };
	int fd = memfd_create("image", MFD_CLOEXEC);
	off_t end;

	assert_true(fd >= 0);
	if (cfs_write_image(root, &opts, fd, NULL, &err) < 0)
		fail_msg("write: %s", err.message);
	end = lseek(fd, 0, SEEK_END);
	assert_true(end > 0);
	*size = (size_t)end;
	*data = malloc(*size);
	assert_non_null(*data);
	assert_int_equal(pread(fd, *data, *size, 0), (ssize_t)*size);
	close(fd);
}

void tu_fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

int tu_make_tmpdir(char *buf, size_t size, const char *name)
{
	const char *base = getenv("TMPDIR");
	int n = snprintf(buf, size, "%s/%s-XXXXXX",
			 base != NULL && *base != '\0' ? base : "/tmp", name);

	if (n < 0 || (size_t)n >= size)
		return -1;
	return mkdtemp(buf) == NULL ? -1 : 0;
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

int tu_remove_tree(const char *path)
{
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}
