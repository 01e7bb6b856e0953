/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Whole reads and writes: short transfers and EINTR retried. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

ssize_t cfsi_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* At off, or at the file position when at_pos is set. */
static int write_loop(int fd, const void *buf, size_t len, uint64_t off,
		      bool at_pos)
{
	size_t done = 0;

	while (done < len) {
		const char *p = (const char *)buf + done;
		ssize_t n = at_pos ? write(fd, p, len - done) :
				     pwrite(fd, p, len - done,
					    (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int cfsi_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	return write_loop(fd, buf, len, off, false);
}

int cfsi_write_all(int fd, const void *buf, size_t len)
{
	return write_loop(fd, buf, len, 0, true);
}

int cfsi_copy_data(int src_fd, int dst_fd, uint64_t off)
{
	enum {
		CHUNK = 1024 * 1024
	};
	_cleanup_free_ uint8_t *buf = malloc(CHUNK);

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		ssize_t n = cfsi_pread_all(src_fd, buf, CHUNK, off);
		int r;

		if (n <= 0)
			return (int)n;
		r = cfsi_pwrite_all(dst_fd, buf, (size_t)n, off);
		if (r < 0)
			return r;
		off += (uint64_t)n;
	}
}

int cfsi_mkdir_parents(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);

	if (p == NULL)
		return -ENOMEM;
	for (char *slash = p;; slash++) {
		slash = strchr(slash, '/');
		if (slash == p)
			continue; /* the root directory */
		if (slash != NULL)
			*slash = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST)
			return -errno;
		if (slash == NULL)
			return 0;
		*slash = '/';
	}
}
