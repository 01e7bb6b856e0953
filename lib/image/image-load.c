/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Whole images read into memory and checked against the digest they must
 * have: the one verified load of the server, the repository and the
 * tools. What is checked is the very copy that is then used, so a file
 * rewritten or truncated under a running user changes nothing (a mapping
 * of it would change or fault).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "composefs-c/composefs.h"
#include "image/image_i.h"
#include "base/util.h"

/* An image file bigger than this is not read into memory (no tree of a
 * real system comes near). */
#define IMAGE_SIZE_MAX (UINT64_C(4) << 30)

int cfs_image_read_fd(int fd, const char *name, const uint8_t *expected,
		      uint8_t *ret_found, uint8_t **ret_data, size_t *ret_size,
		      struct cfs_error *err)
{
	return cfs_image_read_fd_alg(fd, name, CFS_HASH_SHA256, expected,
				     ret_found, ret_data, ret_size, err);
}

int cfs_image_read_fd_alg(int fd, const char *name, enum cfs_hash_alg alg,
			  const uint8_t *expected, uint8_t *ret_found,
			  uint8_t **ret_data, size_t *ret_size,
			  struct cfs_error *err)
{
	size_t digest_size = cfs_hash_alg_digest_size(alg);
	uint8_t found[CFS_DIGEST_MAX_SIZE];
	char found_hex[CFS_DIGEST_HEX_MAX_SIZE];
	char want_hex[CFS_DIGEST_HEX_MAX_SIZE];
	_cleanup_free_ uint8_t *data = NULL;
	struct stat st;
	off_t size;
	ssize_t n;

	if (digest_size == 0)
		return cfs_error_set(err, -EOPNOTSUPP,
				     "fs-verity hash algorithm %u is not "
				     "implemented",
				     alg);
	if (fstat(fd, &st) < 0)
		return cfs_error_set(err, -errno, "%s: %s", name,
				     strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return cfs_error_set(err, -EINVAL,
				     "%s: not a regular file or block device",
				     name);
	/* st_size is 0 for a block device */
	size = lseek(fd, 0, SEEK_END);
	if (size < 0)
		return cfs_error_set(err, -errno, "%s: %s", name,
				     strerror(errno));
	if ((uint64_t)size > IMAGE_SIZE_MAX)
		return cfs_error_set(err, -EFBIG, "%s: too big for an image",
				     name);
	data = malloc(size ? (size_t)size : 1);
	if (data == NULL)
		return cfs_error_set(err, -ENOMEM, "%s: out of memory", name);
	n = cfsi_pread_all(fd, data, (size_t)size, 0);
	if (n < 0)
		return cfs_error_set(err, (int)n, "%s: read: %s", name,
				     strerror((int)-n));
	if (n < size)
		return cfs_error_set(err, -EIO, "%s: read: file shrank", name);
	if (expected != NULL || ret_found != NULL) {
		if (cfs_fsverity_digest_buffer_alg(alg, data, (size_t)n,
						   found) < 0)
			return cfs_error_set(err, -ENOMEM, "%s: out of memory",
					     name);
		if (ret_found != NULL)
			memcpy(ret_found, found, digest_size);
		if (expected != NULL &&
		    memcmp(found, expected, digest_size) != 0) {
			cfs_digest_to_hex_alg(alg, found, found_hex);
			cfs_digest_to_hex_alg(alg, expected, want_hex);
			return cfs_error_set(
				err, -EILSEQ,
				"%s: image digest is %s, expected %s", name,
				found_hex, want_hex);
		}
	}
	*ret_data = TAKE_PTR(data);
	*ret_size = (size_t)n;
	return 0;
}

int cfs_image_load_fd(int fd, const char *name, const uint8_t *expected,
		      struct cfs_image **ret_image, struct cfs_error *err)
{
	struct cfs_error detail = { { 0 } };
	uint8_t *data = NULL;
	size_t size = 0;
	int r;

	r = cfs_image_read_fd(fd, name, expected, NULL, &data, &size, err);
	if (r < 0)
		return r;
	r = cfs_image_open_buffer(data, size, ret_image, &detail);
	if (r < 0) {
		free(data);
		return cfs_error_set(err, r, "%s: %s", name,
				     detail.message[0] ? detail.message :
							 strerror(-r));
	}
	(*ret_image)->owned = true;
	return 0;
}
