/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Small helpers used across the library and tools. */
#ifndef CFS_UTIL_H
#define CFS_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Export fn as the version ver (a string naming a node of the library's
 * version script older than the node of name's default version) of the
 * symbol name: the implementation that programs linked against that
 * version keep calling. fn itself is not exported ("local: *"). */
#define CFS_SYMVER_COMPAT(fn, name, ver)                                       \
	__asm__(".symver " #fn ", " #name "@" ver)

static inline void cfs_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(cfs_freep)

static inline void cfs_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		(void)close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(cfs_closep)

#define TAKE_PTR(p)                                                            \
	({                                                                     \
		__typeof__(p) _p = (p);                                        \
		(p) = NULL;                                                    \
		_p;                                                            \
	})
#define TAKE_FD(fd)                                                            \
	({                                                                     \
		int _fd = (fd);                                                \
		(fd) = -1;                                                     \
		_fd;                                                           \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) ((((x) + (a)-1) / (a)) * (a))
#define DIV_ROUND_UP(x, d) (((x) + (d)-1) / (d))

/* Value of one hex digit (either case), or -1. */
static inline int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whole transfers (lib/base/io.c), short ones and EINTR retried. */
/* Up to len bytes at off: the count read, less than len only at the end of
 * the file, or -errno. */
ssize_t cfsi_pread_all(int fd, void *buf, size_t len, uint64_t off);
/* len bytes at off, or at the file position (pipes too); 0 or -errno. */
int cfsi_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
int cfsi_write_all(int fd, const void *buf, size_t len);
/* The bytes of src from off to its end, to the same offsets in dst; 0 or
 * -errno. */
int cfsi_copy_data(int src_fd, int dst_fd, uint64_t off);
/* mkdir -p: path and its missing parents; 0 or -errno. */
int cfsi_mkdir_parents(const char *path, mode_t mode);

#endif
