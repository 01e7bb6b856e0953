/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Building, writing and reading composefs images through the libcomposefs
 * API: source and binary compatible with libcomposefs 1.0, implemented over
 * this library's own node tree, writer and reader (<composefs-c/composefs.h>).
 *
 * Conventions: functions returning int give 0 on success and -1 with errno
 * set on failure, except the fs-verity helpers lcfs_fd_measure_fsverity(),
 * lcfs_fd_get_fsverity() and lcfs_fd_enable_fsverity(), which return
 * -errno; functions returning a pointer give NULL with errno set.
 */
#ifndef _LCFS_OPS_H
#define _LCFS_OPS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#ifndef LCFS_EXTERN
#define LCFS_EXTERN extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define LCFS_DIGEST_SIZE 32

/* buildflags of lcfs_build() and lcfs_load_node_from_file() */
enum {
	LCFS_BUILD_SKIP_XATTRS = (1 << 0),
	LCFS_BUILD_USE_EPOCH = (1 << 1), /* every mtime 0 */
	LCFS_BUILD_SKIP_DEVICES = (1 << 2),
	LCFS_BUILD_COMPUTE_DIGEST = (1 << 3), /* set each file's digest */
	LCFS_BUILD_NO_INLINE = (1 << 4),
	LCFS_BUILD_USER_XATTRS = (1 << 5), /* only user.* xattrs */
	/* each file's payload is its object path, ab/cdef... */
	LCFS_BUILD_BY_DIGEST = (1 << 6),
};

enum lcfs_format_t {
	LCFS_FORMAT_EROFS,
};

enum lcfs_flags_t {
	LCFS_FLAGS_NONE = 0,
	LCFS_FLAGS_MASK = 0,
};

/* Format versions: 0, and 1 (whiteouts of the tree itself marked in the
 * "xwhiteout" way, with an "x" opaque xattr on their directory). */
#define LCFS_VERSION_MAX 1
#define LCFS_DEFAULT_VERSION_MIN 0
#define LCFS_DEFAULT_VERSION_MAX 1

/* Bytes of EROFS metadata each xattr takes besides its name and value. */
#define LCFS_INODE_XATTRMETA_SIZE 4
/* What the xattrs of one inode may take (names and values) when they come
 * from outside (a dump, a directory). */
#define LCFS_INODE_EXTERNAL_XATTR_MAX (UINT16_MAX / 2)
/* The most content a file may keep inline in the image, and the most it
 * should (beyond this, a file is better an object of the store). */
#define LCFS_INLINE_CONTENT_MAX 5000
#define LCFS_RECOMMENDED_INLINE_CONTENT_MAX 64

typedef ssize_t (*lcfs_read_cb)(void *file, void *buf, size_t count);
typedef ssize_t (*lcfs_write_cb)(void *file, void *buf, size_t count);

struct lcfs_write_options_s {
	uint32_t format; /* LCFS_FORMAT_EROFS */
	/* the format version to write; raised up to max_version when the
	 * tree needs it, and then set to the version written */
	uint32_t version;
	uint32_t flags; /* LCFS_FLAGS_NONE */
	uint8_t *digest_out; /* when not NULL: the image's fs-verity digest */
	void *file; /* passed to file_write_cb */
	/* where the image goes; NULL: nowhere (the digest only) */
	lcfs_write_cb file_write_cb;
	uint32_t max_version;
	uint32_t reserved[3];
	void *reserved2[4];
};

struct lcfs_node_s;

LCFS_EXTERN struct lcfs_node_s *lcfs_node_new(void);
LCFS_EXTERN struct lcfs_node_s *lcfs_node_ref(struct lcfs_node_s *node);
LCFS_EXTERN void lcfs_node_unref(struct lcfs_node_s *node);
/* A copy of the node's data (no name, parent or children). */
LCFS_EXTERN struct lcfs_node_s *lcfs_node_clone(struct lcfs_node_s *node);
/* A copy of the whole subtree, hard links within it pointing within it. */
LCFS_EXTERN struct lcfs_node_s *lcfs_node_clone_deep(struct lcfs_node_s *node);
/* One node from the file fname in dirfd (not its children). */
LCFS_EXTERN struct lcfs_node_s *
lcfs_load_node_from_file(int dirfd, const char *fname, int buildflags);
/* The tree of an image in memory, or of the image open as fd. */
LCFS_EXTERN struct lcfs_node_s *
lcfs_load_node_from_image(const uint8_t *image_data, size_t image_data_size);

struct lcfs_read_options_s {
	/* NULL-terminated: keep only these entries of the root */
	const char *const *toplevel_entries;
	uint32_t reserved[3];
	void *reserved2[4];
};

LCFS_EXTERN struct lcfs_node_s *
lcfs_load_node_from_image_ext(const uint8_t *image_data, size_t image_data_size,
			      const struct lcfs_read_options_s *opts);
LCFS_EXTERN struct lcfs_node_s *lcfs_load_node_from_fd(int fd);
LCFS_EXTERN struct lcfs_node_s *
lcfs_load_node_from_fd_ext(int fd, const struct lcfs_read_options_s *opts);
/* The format version of the image open as fd, or -1 (errno EINVAL when it
 * is not a composefs image). */
LCFS_EXTERN int lcfs_version_from_fd(int fd);

LCFS_EXTERN const char *lcfs_node_get_xattr(struct lcfs_node_s *node,
					    const char *name, size_t *length);
LCFS_EXTERN int lcfs_node_set_xattr(struct lcfs_node_s *node, const char *name,
				    const char *value, size_t value_len);
LCFS_EXTERN int lcfs_node_unset_xattr(struct lcfs_node_s *node,
				      const char *name);
LCFS_EXTERN size_t lcfs_node_get_n_xattr(struct lcfs_node_s *node);
LCFS_EXTERN const char *lcfs_node_get_xattr_name(struct lcfs_node_s *node,
						 size_t index);

/* A regular file's object path (the overlay redirect), a symlink's
 * target. */
LCFS_EXTERN int lcfs_node_set_payload(struct lcfs_node_s *node,
				      const char *payload);
/* A symlink's target (not empty); sets the size to its length. */
LCFS_EXTERN int lcfs_node_set_symlink_payload(struct lcfs_node_s *node,
					      const char *payload);
LCFS_EXTERN const char *lcfs_node_get_payload(struct lcfs_node_s *node);

/* Inline content (at most LCFS_INLINE_CONTENT_MAX bytes); sets the
 * size. */
LCFS_EXTERN int lcfs_node_set_content(struct lcfs_node_s *node,
				      const uint8_t *data, size_t data_size);
LCFS_EXTERN const uint8_t *lcfs_node_get_content(struct lcfs_node_s *node);

LCFS_EXTERN struct lcfs_node_s *lcfs_node_lookup_child(struct lcfs_node_s *node,
						       const char *name);
LCFS_EXTERN struct lcfs_node_s *lcfs_node_get_parent(struct lcfs_node_s *node);
/* Takes over the caller's reference to child on success. */
LCFS_EXTERN int lcfs_node_add_child(struct lcfs_node_s *parent,
				    struct lcfs_node_s *child,
				    const char *name);
LCFS_EXTERN const char *lcfs_node_get_name(struct lcfs_node_s *node);
LCFS_EXTERN size_t lcfs_node_get_n_children(struct lcfs_node_s *node);
LCFS_EXTERN struct lcfs_node_s *lcfs_node_get_child(struct lcfs_node_s *node,
						    size_t i);
/* node becomes a hard link to target (a link to a directory, or one that
 * would make a cycle, makes lcfs_write_to() fail with EINVAL). */
LCFS_EXTERN void lcfs_node_make_hardlink(struct lcfs_node_s *node,
					 struct lcfs_node_s *target);
LCFS_EXTERN struct lcfs_node_s *
lcfs_node_get_hardlink_target(struct lcfs_node_s *node);

LCFS_EXTERN bool lcfs_node_dirp(struct lcfs_node_s *node);
LCFS_EXTERN uint32_t lcfs_node_get_mode(struct lcfs_node_s *node);
/* Any mode; lcfs_write_to() refuses an unknown file type. */
LCFS_EXTERN void lcfs_node_set_mode(struct lcfs_node_s *node, uint32_t mode);
/* -1/EINVAL for an unknown file type. */
LCFS_EXTERN int lcfs_node_try_set_mode(struct lcfs_node_s *node, uint32_t mode);
LCFS_EXTERN uint32_t lcfs_node_get_uid(struct lcfs_node_s *node);
LCFS_EXTERN void lcfs_node_set_uid(struct lcfs_node_s *node, uint32_t uid);
LCFS_EXTERN uint32_t lcfs_node_get_gid(struct lcfs_node_s *node);
LCFS_EXTERN void lcfs_node_set_gid(struct lcfs_node_s *node, uint32_t gid);
/* The 32-bit forms truncate. */
LCFS_EXTERN uint32_t lcfs_node_get_rdev(struct lcfs_node_s *node)
	__attribute__((deprecated));
LCFS_EXTERN uint64_t lcfs_node_get_rdev64(struct lcfs_node_s *node);
LCFS_EXTERN void lcfs_node_set_rdev(struct lcfs_node_s *node, uint32_t rdev)
	__attribute__((deprecated));
LCFS_EXTERN void lcfs_node_set_rdev64(struct lcfs_node_s *node, uint64_t rdev);
LCFS_EXTERN uint32_t lcfs_node_get_nlink(struct lcfs_node_s *node);
LCFS_EXTERN void lcfs_node_set_nlink(struct lcfs_node_s *node, uint32_t nlink);
LCFS_EXTERN uint64_t lcfs_node_get_size(struct lcfs_node_s *node);
/* Drops inline content when the size changes. */
LCFS_EXTERN void lcfs_node_set_size(struct lcfs_node_s *node, uint64_t size);
LCFS_EXTERN void lcfs_node_set_mtime(struct lcfs_node_s *node,
				     struct timespec *time);
LCFS_EXTERN void lcfs_node_get_mtime(struct lcfs_node_s *node,
				     struct timespec *time);

/* The fs-verity digest the file's object must have (NULL: none). */
LCFS_EXTERN const uint8_t *
lcfs_node_get_fsverity_digest(struct lcfs_node_s *node);
LCFS_EXTERN void
lcfs_node_set_fsverity_digest(struct lcfs_node_s *node,
			      uint8_t digest[LCFS_DIGEST_SIZE]);
LCFS_EXTERN int lcfs_node_set_fsverity_from_content(struct lcfs_node_s *node,
						    void *file,
						    lcfs_read_cb read_cb);
LCFS_EXTERN int lcfs_node_set_fsverity_from_fd(struct lcfs_node_s *node,
					       int fd);

/* The tree of the file or directory fname in dirfd; on failure, when
 * failed_path_out is not NULL, the path that failed (malloc'd). */
LCFS_EXTERN struct lcfs_node_s *lcfs_build(int dirfd, const char *fname,
					   int buildflags,
					   char **failed_path_out);

/* Write the image of root (see struct lcfs_write_options_s). */
LCFS_EXTERN int lcfs_write_to(struct lcfs_node_s *root,
			      struct lcfs_write_options_s *options);

/* fs-verity digests: of what read_cb reads from file, of what fd reads
 * from its position, of data; the kernel's measurement of fd (-ENOVERITY
 * when it has none); that, else computed from fd's start; and enabling
 * fs-verity on fd. */
LCFS_EXTERN int lcfs_compute_fsverity_from_content(uint8_t *digest, void *file,
						   lcfs_read_cb read_cb);
LCFS_EXTERN int lcfs_compute_fsverity_from_fd(uint8_t *digest, int fd);
LCFS_EXTERN int lcfs_compute_fsverity_from_data(uint8_t *digest, uint8_t *data,
						size_t data_len);
LCFS_EXTERN int lcfs_fd_measure_fsverity(uint8_t *digest, int fd);
LCFS_EXTERN int lcfs_fd_get_fsverity(uint8_t *digest, int fd);

/* A regular file node's digest, payload and inline content from the file
 * fname in dirfd, as buildflags say. */
LCFS_EXTERN int lcfs_node_set_from_content(struct lcfs_node_s *node, int dirfd,
					   const char *fname, int buildflags);

LCFS_EXTERN int lcfs_fd_enable_fsverity(int fd);

#ifdef __cplusplus
}
#endif

#endif
