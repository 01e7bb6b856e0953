/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Whole reads, writes and copies (lib/base/io.c): short transfers, the end of a
 * file, pipes, errors. Error messages (lib/base/error.c) too long for their
 * buffer. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "test-util.h"
#include "base/util.h"
#include "composefs-c/composefs.h"

static int memfd_with(const uint8_t *data, size_t len)
{
	int fd = memfd_create("io", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(cfsi_pwrite_all(fd, data, len, 0), 0);
	return fd;
}

static void test_pread_all(void **state)
{
	static uint8_t data[10000], buf[20000];
	int fd;

	tu_fill(data, sizeof(data), 1);
	fd = memfd_with(data, sizeof(data));
	/* asked for more than there is: what there is */
	assert_int_equal(cfsi_pread_all(fd, buf, sizeof(buf), 0), sizeof(data));
	assert_memory_equal(buf, data, sizeof(data));
	assert_int_equal(cfsi_pread_all(fd, buf, 500, 9000), 500);
	assert_memory_equal(buf, data + 9000, 500);
	assert_int_equal(cfsi_pread_all(fd, buf, 500, 9800), 200);
	assert_int_equal(cfsi_pread_all(fd, buf, 500, 10000), 0);
	assert_int_equal(cfsi_pread_all(fd, buf, 500, 1 << 30), 0);
	close(fd);
	assert_int_equal(cfsi_pread_all(fd, buf, 1, 0), -EBADF);
}

struct drain {
	int fd;
	uint8_t *out;
	size_t len;
};

static void *drain_pipe(void *data)
{
	struct drain *d = data;
	ssize_t n;

	while ((n = read(d->fd, d->out + d->len, 65536)) > 0)
		d->len += (size_t)n;
	return NULL;
}

/* A pipe takes 64 KiB at a time: the writes come back short. */
static void test_write_all_pipe(void **state)
{
	size_t len = 3 << 20;
	uint8_t *data = malloc(len);
	struct drain d = { .out = malloc(len + 65536) };
	pthread_t reader;
	int p[2];

	assert_non_null(data);
	assert_non_null(d.out);
	tu_fill(data, len, 2);
	assert_int_equal(pipe(p), 0);
	d.fd = p[0];
	assert_int_equal(pthread_create(&reader, NULL, drain_pipe, &d), 0);
	assert_int_equal(cfsi_write_all(p[1], data, len), 0);
	/* no positioned write on a pipe */
	assert_int_equal(cfsi_pwrite_all(p[1], data, 1, 0), -ESPIPE);
	close(p[1]);
	pthread_join(reader, NULL);
	close(p[0]);
	assert_int_equal(d.len, len);
	assert_memory_equal(d.out, data, len);
	free(data);
	free(d.out);
}

static void test_write_errors(void **state)
{
	uint8_t byte = 1;
	int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		assert_int_equal(cfsi_write_all(fd, &byte, 1), -ENOSPC);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(cfsi_write_all(fd, &byte, 1), -EBADF);
	assert_int_equal(cfsi_pwrite_all(fd, &byte, 1, 0), -EBADF);
	close(fd);
}

/* From an offset to the end, to the same offsets: more than one chunk. */
static void test_copy_data(void **state)
{
	size_t len = (3 << 20) + 12345, off = 1000;
	uint8_t *data = malloc(len), *back = malloc(len);
	int src, dst = memfd_create("dst", MFD_CLOEXEC);

	assert_non_null(data);
	assert_non_null(back);
	assert_true(dst >= 0);
	tu_fill(data, len, 3);
	src = memfd_with(data, len);
	assert_int_equal(cfsi_copy_data(src, dst, off), 0);
	assert_int_equal(lseek(dst, 0, SEEK_END), (off_t)len);
	assert_int_equal(cfsi_pread_all(dst, back, len, 0), (ssize_t)len);
	for (size_t i = 0; i < off; i++)
		assert_int_equal(back[i], 0);
	assert_memory_equal(back + off, data + off, len - off);
	/* from the end: nothing to do */
	assert_int_equal(cfsi_copy_data(src, dst, len), 0);
	assert_int_equal(lseek(dst, 0, SEEK_END), (off_t)len);
	close(src);
	close(dst);
	free(data);
	free(back);
}

/* A path thousands of levels deep does not crowd the reason out of the
 * message: its start and end are kept around "...", cut at whole UTF-8
 * characters. */
static void test_error_long_message(void **state)
{
	struct cfs_error err = { { 0 } };
	size_t n = 6000, len;
	char *path = malloc(n + 1);

	(void)state;
	assert_non_null(path);
	for (size_t i = 0; i < n; i += 3)
		memcpy(path + i, "\xc3\xa9/", 3); /* "é/" */
	path[n] = '\0';
	assert_int_equal(cfs_error_set(&err, -ENAMETOOLONG, "scan %s: %s", path,
				       "File name too long"),
			 -ENAMETOOLONG);
	len = strlen(err.message);
	assert_true(len < sizeof(err.message));
	assert_true(len > sizeof(err.message) - 8);
	assert_memory_equal(err.message, "scan \xc3\xa9/", 8);
	assert_non_null(strstr(err.message, "..."));
	assert_string_equal(err.message + len - strlen("/: File name too long"),
			    "/: File name too long");
	/* no character cut in two around the ellipsis: every lead byte
	 * of "é" is followed by its continuation, and every continuation
	 * follows its lead */
	for (const unsigned char *p = (const unsigned char *)err.message; *p;
	     p++) {
		if (*p == 0xc3)
			assert_int_equal(p[1], 0xa9);
		if (*p == 0xa9)
			assert_int_equal(p[-1], 0xc3);
	}
	/* a message that fits is left as it is */
	assert_int_equal(cfs_error_set(&err, -EIO, "%s: %s", "a/b", "bad"),
			 -EIO);
	assert_string_equal(err.message, "a/b: bad");
	/* NULL is allowed */
	assert_int_equal(cfs_error_set(NULL, -EIO, "%s", path), -EIO);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pread_all),
		cmocka_unit_test(test_write_all_pipe),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_copy_data),
		cmocka_unit_test(test_error_long_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
