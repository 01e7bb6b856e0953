/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Private helpers of lib/mount/mount.c, visible to its unit test. */
#ifndef CFS_MOUNT_I_H
#define CFS_MOUNT_I_H

/* cfs_mount_image_fd(), but with CFS_MOUNT_VERITY or CFS_MOUNT_TRY_VERITY
 * overlayfs is asked for verity=require without a check that the kernel
 * and the object directories can enforce it (what the libcomposefs API
 * does, for lib/compat/lcfs.c: files without fs-verity then fail to open). */
struct cfs_mount_options;
struct cfs_error;
int cfsi_mount_image_fd_unchecked(int fd, const char *target,
				  const struct cfs_mount_options *opts,
				  struct cfs_error *err);

/* path with '\', ',' and ':' escaped by a backslash, as overlayfs expects
 * a layer path in an option string (it splits options at ',' and lowerdir
 * at ':', then drops each escaping backslash). malloc'd; NULL on ENOMEM. */
char *cfsi_mount_escape(const char *path);

/* A sealed copy of the whole file behind fd in a memory file: nobody can
 * write, shrink or grow it any more, so what is measured in it is what is
 * mounted. The memory file is labelled "composefs:NAME" (name may be NULL).
 * Returns the new fd (O_CLOEXEC) or -errno. */
int cfsi_mount_sealed_copy(int fd, const char *name);

#endif
