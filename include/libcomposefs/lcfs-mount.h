/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Mounting composefs images, through the libcomposefs API (source and
 * binary compatible with libcomposefs 1.0; implemented over
 * cfs_mount_image_fd(), see <composefs-c/composefs.h>).
 */
#ifndef _LCFS_MOUNT_H
#define _LCFS_MOUNT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#ifndef LCFS_EXTERN
#define LCFS_EXTERN extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* errno values of lcfs_mount_image() and the fs-verity functions: */
#define ENOVERITY ENOTTY /* the file has no fs-verity (or the kernel none) */
#define EWRONGVERITY EILSEQ /* its fs-verity digest is not the expected one */
#define ENOSIGNATURE EBADMSG /* a signature was needed and there is none */

enum lcfs_mount_flags_t {
	LCFS_MOUNT_FLAGS_NONE = 0,
	/* every file must have fs-verity, checked by the kernel on open */
	LCFS_MOUNT_FLAGS_REQUIRE_VERITY = (1 << 0),
	LCFS_MOUNT_FLAGS_READONLY = (1 << 1),
	/* owners mapped through the user namespace idmap_fd */
	LCFS_MOUNT_FLAGS_IDMAP = (1 << 3),
	/* as REQUIRE_VERITY where the kernel can enforce it */
	LCFS_MOUNT_FLAGS_TRY_VERITY = (1 << 4),

	LCFS_MOUNT_FLAGS_MASK = (1 << 5) - 1,
};

struct lcfs_mount_options_s {
	const char **objdirs; /* object directories, at least one */
	size_t n_objdirs;
	const char *workdir; /* both or neither: a writable overlay */
	const char *upperdir;
	/* hex fs-verity digest the image file must have (measured by the
	 * kernel: the image file needs fs-verity), or NULL */
	const char *expected_fsverity_digest;
	uint32_t flags; /* enum lcfs_mount_flags_t */
	int idmap_fd; /* user namespace fd, with LCFS_MOUNT_FLAGS_IDMAP */
	/* accepted for compatibility; the image's EROFS mount is never
	 * attached anywhere, so no directory is needed */
	const char *image_mountdir;

	uint32_t reserved[4];
	void *reserved2[4];
};

/* Mount the image at path (or open as fd) on mountpoint. 0, or -1 with
 * errno set: EINVAL for bad options or a malformed image, ENOVERITY and
 * EWRONGVERITY as above, or the kernel's errno. */
LCFS_EXTERN int lcfs_mount_image(const char *path, const char *mountpoint,
				 struct lcfs_mount_options_s *options);
LCFS_EXTERN int lcfs_mount_fd(int fd, const char *mountpoint,
			      struct lcfs_mount_options_s *options);

#ifdef __cplusplus
}
#endif

#endif
