/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The overlay view: what the kernel mount of an image (overlayfs over
 * EROFS) shows of it, so that a userspace server shows the same: file
 * types and device numbers decoded, whiteouts hidden, overlayfs' own xattrs
 * hidden and escaped ones unescaped.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "composefs-c/composefs.h"
#include "format/erofs-format.h"
#include "base/util.h"

uint32_t cfs_dirent_type_to_mode(uint8_t file_type)
{
	switch (file_type) {
	case EROFS_FT_REG_FILE:
		return S_IFREG;
	case EROFS_FT_DIR:
		return S_IFDIR;
	case EROFS_FT_CHRDEV:
		return S_IFCHR;
	case EROFS_FT_BLKDEV:
		return S_IFBLK;
	case EROFS_FT_FIFO:
		return S_IFIFO;
	case EROFS_FT_SOCK:
		return S_IFSOCK;
	case EROFS_FT_SYMLINK:
		return S_IFLNK;
	default:
		return 0;
	}
}

dev_t cfs_inode_get_rdev(const struct cfs_inode *inode)
{
	/* the kernel's new_encode_dev(): minor's low byte, major, then the
	 * rest of minor */
	uint32_t v = inode->rdev;

	return makedev((v & 0xfff00) >> 8, (v & 0xff) | ((v >> 12) & 0xfff00));
}

bool cfs_inode_is_whiteout(const struct cfs_inode *inode)
{
	return S_ISCHR(inode->mode) && inode->rdev == 0;
}

bool cfs_dirent_may_be_whiteout(uint8_t file_type)
{
	return file_type == EROFS_FT_CHRDEV;
}

struct shown {
	cfs_xattr_fn fn;
	void *userdata;
};

static int show_xattr(void *userdata, const char *name, const void *value,
		      size_t len)
{
	struct shown *sh = userdata;
	char buf[CFS_NAME_MAX + sizeof(OVL_XATTR_TRUSTED_PREFIX) + 1];

	if (!str_has_prefix(name, OVL_XATTR_TRUSTED_PREFIX))
		return sh->fn(sh->userdata, name, value, len);
	if (!str_has_prefix(name, OVL_XATTR_ESCAPED_PREFIX))
		return 0; /* overlayfs' own */
	snprintf(buf, sizeof(buf), "%s%s", OVL_XATTR_TRUSTED_PREFIX,
		 name + strlen(OVL_XATTR_ESCAPED_PREFIX));
	return sh->fn(sh->userdata, buf, value, len);
}

int cfs_image_list_shown_xattrs(const struct cfs_image *image,
				const struct cfs_inode *inode, cfs_xattr_fn fn,
				void *userdata, struct cfs_error *err)
{
	struct shown sh = { fn, userdata };

	return cfs_image_list_xattrs(image, inode, show_xattr, &sh, err);
}
