/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The libcomposefs API (<libcomposefs/lcfs-writer.h>): a thin layer over
 * this library's own node tree, directory scan, writer and reader. A
 * struct lcfs_node_s is a struct cfs_node; errors follow that API's
 * conventions (-1 and errno, see the header) instead of ours (-errno and a
 * message).
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "format/erofs-format.h"
#include "libcomposefs/lcfs-erofs.h"
#include "libcomposefs/lcfs-mount.h"
#include "libcomposefs/lcfs-writer.h"
#include "mount/mount_i.h"
#include "tree/node_i.h"
#include "base/util.h"

/* The exported functions (the version script lists them). */
#define LCFS_API

static inline struct cfs_node *N(struct lcfs_node_s *node)
{
	return (struct cfs_node *)node;
}

static inline struct lcfs_node_s *L(struct cfs_node *node)
{
	return (struct lcfs_node_s *)node;
}

/* -errno to -1 with errno. */
static int fail(int r)
{
	errno = r < 0 ? -r : EIO;
	return -1;
}

static void *fail_null(int r)
{
	errno = r < 0 ? -r : EIO;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Nodes */

LCFS_API struct lcfs_node_s *lcfs_node_new(void)
{
	struct cfs_node *n = cfs_node_new();

	return n ? L(n) : fail_null(-ENOMEM);
}

LCFS_API struct lcfs_node_s *lcfs_node_ref(struct lcfs_node_s *node)
{
	return L(cfs_node_ref(N(node)));
}

LCFS_API void lcfs_node_unref(struct lcfs_node_s *node)
{
	cfs_node_unref(N(node));
}

/* Everything of src but its place in a tree. */
static struct cfs_node *clone_data(const struct cfs_node *src)
{
	return cfsi_node_copy(src, CFSI_NODE_COPY_NLINK | CFSI_NODE_COPY_LINK,
			      NULL);
}

LCFS_API struct lcfs_node_s *lcfs_node_clone(struct lcfs_node_s *node)
{
	struct cfs_node *n = clone_data(N(node));

	return n ? L(n) : fail_null(-ENOMEM);
}

struct clone_map {
	struct cfs_node **from, **to;
	size_t n, cap;
};

static struct cfs_node *clone_tree(const struct cfs_node *src,
				   struct clone_map *map)
{
	struct cfs_node *n = clone_data(src);

	if (n == NULL)
		return NULL;
	if (map->n == map->cap) {
		size_t cap = map->cap ? 2 * map->cap : 64;
		struct cfs_node **f = reallocarray(map->from, cap, sizeof(*f));
		struct cfs_node **t;

		if (f == NULL)
			return cfs_node_unref(n);
		map->from = f;
		t = reallocarray(map->to, cap, sizeof(*t));
		if (t == NULL)
			return cfs_node_unref(n);
		map->to = t;
		map->cap = cap;
	}
	map->from[map->n] = (struct cfs_node *)src;
	map->to[map->n++] = n;
	for (size_t i = 0; i < src->n_children; i++) {
		struct cfs_node *c = clone_tree(src->children[i], map);

		if (c == NULL ||
		    cfs_node_add_child(n, c, src->children[i]->name) < 0) {
			cfs_node_unref(c);
			return NULL; /* n is in map->to, freed by the caller */
		}
	}
	return n;
}

LCFS_API struct lcfs_node_s *lcfs_node_clone_deep(struct lcfs_node_s *node)
{
	struct clone_map map = { 0 };
	struct cfs_node *root = clone_tree(N(node), &map);

	/* links to nodes of the subtree point to their clones */
	for (size_t i = 0; root != NULL && i < map.n; i++) {
		struct cfs_node *c = map.to[i];

		for (size_t k = 0; c->link_to != NULL && k < map.n; k++)
			if (c->link_to == map.from[k]) {
				cfs_node_unref(c->link_to);
				c->link_to = cfs_node_ref(map.to[k]);
				break;
			}
	}
	if (root == NULL && map.n > 0)
		cfs_node_unref(map.to[0]);
	free(map.from);
	free(map.to);
	return root ? L(root) : fail_null(-ENOMEM);
}

LCFS_API const char *lcfs_node_get_xattr(struct lcfs_node_s *node,
					 const char *name, size_t *length)
{
	return (const char *)cfs_node_get_xattr(N(node), name, length);
}

LCFS_API int lcfs_node_set_xattr(struct lcfs_node_s *node, const char *name,
				 const char *value, size_t value_len)
{
	int r = cfs_node_set_xattr(N(node), name, value, value_len);

	return r < 0 ? fail(r) : 0;
}

LCFS_API int lcfs_node_unset_xattr(struct lcfs_node_s *node, const char *name)
{
	int r = cfs_node_unset_xattr(N(node), name);

	return r < 0 ? fail(r) : 0;
}

LCFS_API size_t lcfs_node_get_n_xattr(struct lcfs_node_s *node)
{
	return cfs_node_get_n_xattrs(N(node));
}

LCFS_API const char *lcfs_node_get_xattr_name(struct lcfs_node_s *node,
					      size_t index)
{
	return cfs_node_get_xattr_name(N(node), index);
}

LCFS_API int lcfs_node_set_payload(struct lcfs_node_s *node,
				   const char *payload)
{
	int r = cfs_node_set_payload(N(node), payload);

	return r < 0 ? fail(r) : 0;
}

LCFS_API int lcfs_node_set_symlink_payload(struct lcfs_node_s *node,
					   const char *payload)
{
	int r = cfs_node_set_symlink_target(N(node), payload);

	return r < 0 ? fail(r) : 0;
}

LCFS_API const char *lcfs_node_get_payload(struct lcfs_node_s *node)
{
	return cfs_node_get_payload(N(node));
}

LCFS_API int lcfs_node_set_content(struct lcfs_node_s *node,
				   const uint8_t *data, size_t data_size)
{
	int r = cfs_node_set_content(N(node), data, data_size);

	if (r == -EFBIG)
		r = -EINVAL;
	if (r == 0)
		N(node)->size = data_size; /* also without data */
	return r < 0 ? fail(r) : 0;
}

LCFS_API const uint8_t *lcfs_node_get_content(struct lcfs_node_s *node)
{
	return cfs_node_get_content(N(node));
}

LCFS_API struct lcfs_node_s *lcfs_node_lookup_child(struct lcfs_node_s *node,
						    const char *name)
{
	return L(cfs_node_lookup_child(N(node), name));
}

LCFS_API struct lcfs_node_s *lcfs_node_get_parent(struct lcfs_node_s *node)
{
	return L(cfs_node_get_parent(N(node)));
}

LCFS_API int lcfs_node_add_child(struct lcfs_node_s *parent,
				 struct lcfs_node_s *child, const char *name)
{
	int r = cfs_node_add_child(N(parent), N(child), name);

	return r < 0 ? fail(r) : 0;
}

LCFS_API const char *lcfs_node_get_name(struct lcfs_node_s *node)
{
	return cfs_node_get_name(N(node));
}

LCFS_API size_t lcfs_node_get_n_children(struct lcfs_node_s *node)
{
	return cfs_node_get_n_children(N(node));
}

LCFS_API struct lcfs_node_s *lcfs_node_get_child(struct lcfs_node_s *node,
						 size_t i)
{
	return L(cfs_node_get_child(N(node), i));
}

LCFS_API void lcfs_node_make_hardlink(struct lcfs_node_s *node,
				      struct lcfs_node_s *target)
{
	/* No error to return here: a refused link leaves a mode the writer
	 * refuses (EINVAL), as the API promises. */
	if (cfs_node_make_hardlink(N(node), N(target)) < 0)
		N(node)->mode = 0;
}

LCFS_API struct lcfs_node_s *
lcfs_node_get_hardlink_target(struct lcfs_node_s *node)
{
	return L(cfs_node_get_hardlink_target(N(node)));
}

LCFS_API bool lcfs_node_dirp(struct lcfs_node_s *node)
{
	return cfs_node_is_dir(N(node));
}

LCFS_API uint32_t lcfs_node_get_mode(struct lcfs_node_s *node)
{
	return N(node)->mode;
}

LCFS_API void lcfs_node_set_mode(struct lcfs_node_s *node, uint32_t mode)
{
	N(node)->mode = mode;
}

LCFS_API int lcfs_node_try_set_mode(struct lcfs_node_s *node, uint32_t mode)
{
	int r = cfs_node_set_mode(N(node), mode);

	return r < 0 ? fail(r) : 0;
}

LCFS_API uint32_t lcfs_node_get_uid(struct lcfs_node_s *node)
{
	return N(node)->uid;
}

LCFS_API void lcfs_node_set_uid(struct lcfs_node_s *node, uint32_t uid)
{
	N(node)->uid = uid;
}

LCFS_API uint32_t lcfs_node_get_gid(struct lcfs_node_s *node)
{
	return N(node)->gid;
}

LCFS_API void lcfs_node_set_gid(struct lcfs_node_s *node, uint32_t gid)
{
	N(node)->gid = gid;
}

LCFS_API uint32_t lcfs_node_get_rdev(struct lcfs_node_s *node)
{
	return (uint32_t)N(node)->rdev;
}

LCFS_API uint64_t lcfs_node_get_rdev64(struct lcfs_node_s *node)
{
	return N(node)->rdev;
}

LCFS_API void lcfs_node_set_rdev(struct lcfs_node_s *node, uint32_t rdev)
{
	N(node)->rdev = rdev;
}

LCFS_API void lcfs_node_set_rdev64(struct lcfs_node_s *node, uint64_t rdev)
{
	N(node)->rdev = rdev;
}

LCFS_API uint32_t lcfs_node_get_nlink(struct lcfs_node_s *node)
{
	return N(node)->nlink;
}

LCFS_API void lcfs_node_set_nlink(struct lcfs_node_s *node, uint32_t nlink)
{
	N(node)->nlink = nlink;
}

LCFS_API uint64_t lcfs_node_get_size(struct lcfs_node_s *node)
{
	return N(node)->size;
}

LCFS_API void lcfs_node_set_size(struct lcfs_node_s *node, uint64_t size)
{
	if (size == N(node)->size)
		return;
	free(N(node)->content);
	N(node)->content = NULL;
	N(node)->size = size;
}

LCFS_API void lcfs_node_set_mtime(struct lcfs_node_s *node,
				  struct timespec *time)
{
	N(node)->mtime_sec = time->tv_sec;
	N(node)->mtime_nsec = (uint32_t)time->tv_nsec;
}

LCFS_API void lcfs_node_get_mtime(struct lcfs_node_s *node,
				  struct timespec *time)
{
	time->tv_sec = N(node)->mtime_sec;
	time->tv_nsec = N(node)->mtime_nsec;
}

LCFS_API const uint8_t *lcfs_node_get_fsverity_digest(struct lcfs_node_s *node)
{
	/* the API's digests are SHA-256 ones, LCFS_DIGEST_SIZE bytes: a
	 * SHA-512 digest (an image of composefs-rs's default) is none to
	 * it, as to the reference's reader */
	if (cfs_node_get_digest_alg(N(node)) != CFS_HASH_SHA256)
		return NULL;
	return cfs_node_get_digest(N(node));
}

LCFS_API void lcfs_node_set_fsverity_digest(struct lcfs_node_s *node,
					    uint8_t digest[LCFS_DIGEST_SIZE])
{
	cfs_node_set_digest(N(node), digest);
}

/* ------------------------------------------------------------------ */
/* fs-verity */

LCFS_API int lcfs_compute_fsverity_from_content(uint8_t *digest, void *file,
						lcfs_read_cb read_cb)
{
	struct cfs_fsverity *ctx = cfs_fsverity_new();
	uint8_t buf[64 * 1024];
	int r = 0;

	if (ctx == NULL)
		return fail(-ENOMEM);
	for (;;) {
		ssize_t n = read_cb(file, buf, sizeof(buf));

		if (n < 0) {
			r = errno ? -errno : -EIO;
			break;
		}
		if (n == 0)
			break;
		r = cfs_fsverity_update(ctx, buf, (size_t)n);
		if (r < 0)
			break;
	}
	if (r == 0)
		r = cfs_fsverity_final(ctx, digest);
	cfs_fsverity_free(ctx);
	return r < 0 ? fail(r) : 0;
}

static ssize_t read_fd_cb(void *file, void *buf, size_t count)
{
	ssize_t n;

	do
		n = read(*(int *)file, buf, count);
	while (n < 0 && errno == EINTR);
	return n;
}

LCFS_API int lcfs_compute_fsverity_from_fd(uint8_t *digest, int fd)
{
	return lcfs_compute_fsverity_from_content(digest, &fd, read_fd_cb);
}

LCFS_API int lcfs_compute_fsverity_from_data(uint8_t *digest, uint8_t *data,
					     size_t data_len)
{
	int r = cfs_fsverity_digest_buffer(data, data_len, digest);

	return r < 0 ? fail(r) : 0;
}

LCFS_API int lcfs_fd_measure_fsverity(uint8_t *digest, int fd)
{
	int r = cfs_fsverity_measure_fd(fd, digest);

	if (r == -ENODATA || r == -EOPNOTSUPP || r == -ENOTTY)
		r = -ENOVERITY;
	if (r == -EBADMSG)
		r = -EWRONGVERITY; /* fs-verity of another algorithm */
	if (r < 0)
		errno = -r;
	return r;
}

LCFS_API int lcfs_fd_get_fsverity(uint8_t *digest, int fd)
{
	int r = lcfs_fd_measure_fsverity(digest, fd);

	if (r != -ENOVERITY)
		return r;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	r = lcfs_compute_fsverity_from_fd(digest, fd);
	return r < 0 ? -errno : 0;
}

LCFS_API int lcfs_fd_enable_fsverity(int fd)
{
	int r = cfs_fsverity_enable_fd(fd);

	if (r < 0)
		errno = -r;
	return r;
}

LCFS_API int lcfs_node_set_fsverity_from_content(struct lcfs_node_s *node,
						 void *file,
						 lcfs_read_cb read_cb)
{
	uint8_t digest[LCFS_DIGEST_SIZE];

	if (lcfs_compute_fsverity_from_content(digest, file, read_cb) < 0)
		return -1;
	cfs_node_set_digest(N(node), digest);
	return 0;
}

LCFS_API int lcfs_node_set_fsverity_from_fd(struct lcfs_node_s *node, int fd)
{
	return lcfs_node_set_fsverity_from_content(node, &fd, read_fd_cb);
}

/* ------------------------------------------------------------------ */
/* Nodes from files */

#define BUILD_FLAGS_ALL                                                        \
	(LCFS_BUILD_SKIP_XATTRS | LCFS_BUILD_USE_EPOCH |                       \
	 LCFS_BUILD_SKIP_DEVICES | LCFS_BUILD_COMPUTE_DIGEST |                 \
	 LCFS_BUILD_NO_INLINE | LCFS_BUILD_USER_XATTRS | LCFS_BUILD_BY_DIGEST)

static bool bad_build_flags(int flags)
{
	return (flags & ~BUILD_FLAGS_ALL) != 0 ||
	       ((flags & LCFS_BUILD_SKIP_XATTRS) &&
		(flags & LCFS_BUILD_USER_XATTRS));
}

LCFS_API int lcfs_node_set_from_content(struct lcfs_node_s *node, int dirfd,
					const char *fname, int buildflags)
{
	struct cfs_node *n = N(node);
	bool want_digest = buildflags & LCFS_BUILD_COMPUTE_DIGEST;
	bool by_digest = buildflags & LCFS_BUILD_BY_DIGEST;
	bool digest_it = n->size > 0 && (want_digest || by_digest);
	bool inline_it = n->size > 0 && !(buildflags & LCFS_BUILD_NO_INLINE) &&
			 n->size <= LCFS_RECOMMENDED_INLINE_CONTENT_MAX;
	uint8_t digest[LCFS_DIGEST_SIZE];
	_cleanup_close_ int fd = -1;
	int r;

	if (node == NULL)
		return fail(-EINVAL);
	if (!digest_it && !inline_it)
		return 0;
	fd = openat(dirfd, fname, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (digest_it) {
		r = cfs_fsverity_digest_fd(fd, digest);
		if (r < 0)
			return fail(r);
		if (want_digest)
			cfs_node_set_digest(n, digest);
		if (by_digest) {
			char path[CFS_OBJECT_PATH_SIZE];

			cfs_digest_to_object_path(digest, path);
			r = cfs_node_set_payload(n, path);
			if (r < 0)
				return fail(r);
		}
	}
	if (inline_it) {
		uint8_t buf[LCFS_RECOMMENDED_INLINE_CONTENT_MAX];
		ssize_t got = cfsi_pread_all(fd, buf, n->size, 0);

		if (got < 0)
			return fail((int)got);
		if ((uint64_t)got != n->size)
			return fail(-ENODATA);
		r = cfs_node_set_content(n, buf, n->size);
		if (r < 0)
			return fail(r);
	}
	return 0;
}

static int read_xattrs(struct cfs_node *n, int dirfd, const char *fname,
		       bool user_only)
{
	_cleanup_close_ int fd = openat(dirfd, fname,
					O_PATH | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_free_ char *list = NULL;
	char path[64];
	ssize_t size;

	if (fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	size = llistxattr(path, NULL, 0);
	if (size < 0)
		return errno == ENOTSUP ? 0 : -errno;
	list = malloc((size_t)size + 1);
	if (list == NULL)
		return -ENOMEM;
	size = llistxattr(path, list, (size_t)size);
	if (size < 0)
		return -errno;
	for (const char *name = list; name < list + size;
	     name += strlen(name) + 1) {
		_cleanup_free_ char *value = NULL;
		ssize_t len;
		int r;

		if (user_only && !str_has_prefix(name, "user."))
			continue;
		len = lgetxattr(path, name, NULL, 0);
		if (len < 0)
			return -errno;
		value = malloc((size_t)len + 1);
		if (value == NULL)
			return -ENOMEM;
		len = lgetxattr(path, name, value, (size_t)len);
		if (len < 0)
			return -errno;
		r = cfs_node_set_xattr(n, name, value, (size_t)len);
		if (r < 0)
			return r;
	}
	return 0;
}

LCFS_API struct lcfs_node_s *
lcfs_load_node_from_file(int dirfd, const char *fname, int buildflags)
{
	struct cfs_node *n;
	struct stat st;
	int r = 0;

	if (bad_build_flags(buildflags))
		return fail_null(-EINVAL);
	if (fstatat(dirfd, fname, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return NULL;
	n = cfs_node_new();
	if (n == NULL)
		return fail_null(-ENOMEM);
	n->mode = st.st_mode;
	n->uid = st.st_uid;
	n->gid = st.st_gid;
	n->rdev = st.st_rdev;
	n->size = (uint64_t)st.st_size;
	if (S_ISREG(st.st_mode)) {
		if (lcfs_node_set_from_content(L(n), dirfd, fname, buildflags) <
		    0) {
			r = -errno;
			goto out;
		}
	} else if (S_ISLNK(st.st_mode)) {
		char target[CFS_PAYLOAD_MAX + 2];
		ssize_t len = readlinkat(dirfd, fname, target,
					 sizeof(target) - 1);

		if (len < 0) {
			r = -errno;
			goto out;
		}
		target[len] = '\0';
		r = cfs_node_set_symlink_target(n, target);
		if (r < 0)
			goto out;
	}
	if (!(buildflags & LCFS_BUILD_USE_EPOCH)) {
		n->mtime_sec = st.st_mtim.tv_sec;
		n->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	}
	if (!(buildflags & LCFS_BUILD_SKIP_XATTRS))
		r = read_xattrs(n, dirfd, fname,
				buildflags & LCFS_BUILD_USER_XATTRS);
out:
	if (r < 0) {
		cfs_node_unref(n);
		return fail_null(r);
	}
	return L(n);
}

/* What a scan sets that the build flags did not ask for: digests without
 * COMPUTE_DIGEST, object paths without BY_DIGEST; and neither on empty
 * files. */
static void trim_scan(struct cfs_node *dir, int flags)
{
	for (size_t i = 0; i < dir->n_children; i++) {
		struct cfs_node *c = dir->children[i];

		if (cfs_node_is_dir(c)) {
			trim_scan(c, flags);
			continue;
		}
		if ((c->mode & S_IFMT) != S_IFREG || c->link_to != NULL)
			continue;
		if (!(flags & LCFS_BUILD_COMPUTE_DIGEST) || c->size == 0)
			cfs_node_clear_digest(c);
		if (!(flags & LCFS_BUILD_BY_DIGEST) || c->size == 0)
			cfs_node_set_payload(c, NULL);
	}
}

LCFS_API struct lcfs_node_s *lcfs_build(int dirfd, const char *fname,
					int buildflags, char **failed_path_out)
{
	struct cfs_build_options opts = { 0 };
	struct cfs_error err = { { 0 } };
	struct cfs_node *root = NULL;
	_cleanup_free_ char *path = NULL;
	struct stat st;
	int r;

	if (failed_path_out != NULL)
		*failed_path_out = NULL;
	if (bad_build_flags(buildflags))
		return fail_null(-EINVAL);
	if (fstatat(dirfd, fname, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		r = -errno;
		goto failed;
	}
	if (!S_ISDIR(st.st_mode)) {
		struct lcfs_node_s *n = lcfs_load_node_from_file(dirfd, fname,
								 buildflags);

		if (n == NULL) {
			r = -errno;
			goto failed;
		}
		return n;
	}
	if (fname[0] == '/' || dirfd == AT_FDCWD)
		path = strdup(fname);
	else if (asprintf(&path, "/proc/self/fd/%d/%s", dirfd, fname) < 0)
		path = NULL;
	if (path == NULL)
		return fail_null(-ENOMEM);

	if (buildflags & LCFS_BUILD_SKIP_XATTRS)
		opts.flags |= CFS_BUILD_SKIP_XATTRS;
	if (buildflags & LCFS_BUILD_USER_XATTRS)
		opts.flags |= CFS_BUILD_USER_XATTRS;
	if (buildflags & LCFS_BUILD_USE_EPOCH)
		opts.flags |= CFS_BUILD_USE_EPOCH;
	if (buildflags & LCFS_BUILD_SKIP_DEVICES)
		opts.flags |= CFS_BUILD_SKIP_DEVICES;
	if (buildflags & LCFS_BUILD_NO_INLINE)
		opts.flags |= CFS_BUILD_NO_INLINE;
	if (!(buildflags & (LCFS_BUILD_COMPUTE_DIGEST | LCFS_BUILD_BY_DIGEST)))
		opts.flags |= CFS_BUILD_NO_DIGEST;
	r = cfs_build_from_directory(path, &opts, &root, &err);
	if (r < 0) {
		/* messages start with the path that failed */
		if (failed_path_out != NULL) {
			const char *colon = strstr(err.message, ": ");

			*failed_path_out =
				colon ? strndup(err.message,
						(size_t)(colon - err.message)) :
					strdup(fname);
		}
		return fail_null(r);
	}
	trim_scan(root, buildflags);
	return L(root);

failed:
	if (failed_path_out != NULL)
		*failed_path_out = strdup(fname);
	return fail_null(r);
}

/* ------------------------------------------------------------------ */
/* Writing */

LCFS_API int lcfs_write_to(struct lcfs_node_s *root,
			   struct lcfs_write_options_s *options)
{
	struct cfs_write_options wo = { 0 };
	struct cfs_error err;
	struct lcfs_erofs_header_s header;
	uint8_t digest[CFS_DIGEST_SIZE];
	_cleanup_close_ int fd = -1;
	uint8_t *buf = NULL;
	off_t size, pos = 0;
	int r;

	if (options->format != LCFS_FORMAT_EROFS ||
	    (options->flags & ~LCFS_FLAGS_MASK) != 0 ||
	    options->version > LCFS_VERSION_MAX ||
	    options->max_version > LCFS_VERSION_MAX)
		return fail(-EINVAL);
	if (options->max_version < options->version)
		options->max_version = options->version;
	wo.min_version = options->version;
	wo.max_version = options->max_version;

	/* The writer writes to an fd; the image goes to the callback from a
	 * memory file, which also tells the version written. */
	fd = memfd_create("lcfs-image", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	r = cfs_write_image(N(root), &wo, fd, digest, &err);
	if (r < 0)
		return fail(r == -EUCLEAN ? -EINVAL : r);
	if (pread(fd, &header, sizeof(header), 0) == sizeof(header))
		options->version = le32toh(header.composefs_version);
	size = lseek(fd, 0, SEEK_END);
	if (options->file_write_cb != NULL && size > 0) {
		buf = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
		if (buf == MAP_FAILED)
			return -1;
		while (pos < size) {
			ssize_t n = options->file_write_cb(
				options->file, buf + pos, (size_t)(size - pos));

			if (n <= 0) {
				int e = n < 0 && errno ? errno : EIO;

				munmap(buf, (size_t)size);
				errno = e;
				return -1;
			}
			pos += n;
		}
		munmap(buf, (size_t)size);
	}
	if (options->digest_out != NULL)
		memcpy(options->digest_out, digest, CFS_DIGEST_SIZE);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reading */

/* The reference's loader speaks of a malformed image as EINVAL (and of an
 * unknown header version as ENOTSUP, which is EOPNOTSUPP here too), where
 * the cfs_ reader says what is wrong with its own values. */
static int load_errno(int r)
{
	switch (r) {
	case -ENOMEM:
	case -EOPNOTSUPP:
		return r;
	default:
		return -EINVAL;
	}
}

/* A whiteout stands for the absence of a file: the reference's loader
 * refuses one with more than one link (EINVAL), and so does this one,
 * although the cfs_ reader takes it. */
static int refuse_linked_whiteout(void *userdata, const char *dir_path,
				  const char *name, size_t len, uint64_t nid,
				  uint8_t file_type)
{
	const struct cfs_image *image = userdata;
	struct cfs_inode inode;
	struct cfs_error err;
	int r;

	(void)dir_path;
	(void)name;
	(void)len;
	if (file_type != EROFS_FT_CHRDEV)
		return 0;
	r = cfs_image_get_inode(image, nid, &inode, &err);
	if (r < 0)
		return r;
	if (S_ISCHR(inode.mode) && inode.rdev == 0 && inode.nlink > 1)
		return -EINVAL;
	return 0;
}

LCFS_API struct lcfs_node_s *
lcfs_load_node_from_image_ext(const uint8_t *image_data, size_t image_data_size,
			      const struct lcfs_read_options_s *opts)
{
	struct cfs_image *image = NULL;
	struct cfs_node *root = NULL;
	struct cfs_error err;
	int r;

	r = cfs_image_open_buffer(image_data, image_data_size, &image, &err);
	if (r == 0)
		r = cfs_image_walk(image, refuse_linked_whiteout, image, &err);
	if (r == 0)
		r = cfs_image_to_tree(image, &root, &err);
	cfs_image_free(image);
	if (r == 0 && opts != NULL && opts->toplevel_entries != NULL) {
		size_t n = 0;

		while (opts->toplevel_entries[n] != NULL)
			n++;
		r = cfs_tree_keep_top(root, opts->toplevel_entries, n);
	}
	if (r < 0) {
		cfs_node_unref(root);
		return fail_null(load_errno(r));
	}
	return L(root);
}

LCFS_API struct lcfs_node_s *
lcfs_load_node_from_image(const uint8_t *image_data, size_t image_data_size)
{
	return lcfs_load_node_from_image_ext(image_data, image_data_size, NULL);
}

LCFS_API struct lcfs_node_s *
lcfs_load_node_from_fd_ext(int fd, const struct lcfs_read_options_s *opts)
{
	struct lcfs_node_s *node;
	struct stat st;
	void *data;
	int e;

	if (fstat(fd, &st) != 0)
		return NULL;
	if (st.st_size == 0)
		return fail_null(-EINVAL);
	data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (data == MAP_FAILED)
		return NULL;
	node = lcfs_load_node_from_image_ext(data, (size_t)st.st_size, opts);
	e = errno;
	munmap(data, (size_t)st.st_size);
	errno = e;
	return node;
}

LCFS_API struct lcfs_node_s *lcfs_load_node_from_fd(int fd)
{
	return lcfs_load_node_from_fd_ext(fd, NULL);
}

LCFS_API int lcfs_version_from_fd(int fd)
{
	struct lcfs_erofs_header_s header;
	ssize_t n = pread(fd, &header, sizeof(header), 0);

	if (n < 0)
		return -1;
	if (n != sizeof(header) || le32toh(header.magic) != LCFS_EROFS_MAGIC ||
	    le32toh(header.version) != LCFS_EROFS_VERSION)
		return fail(-EINVAL);
	return (int)le32toh(header.composefs_version);
}

/* ------------------------------------------------------------------ */
/* Mounting */

/* The expected digest as the libcomposefs API takes it: hex of an even
 * length up to 128 digits (a digest of any algorithm), "" for none. The
 * number of bytes, or -EINVAL. */
static int parse_expected_digest(const char *hex, uint8_t raw[64])
{
	size_t len = strlen(hex);

	if (len % 2 != 0 || len > 128)
		return -EINVAL;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		raw[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(len / 2);
}

static int mount_fd(int fd, const char *mountpoint,
		    struct lcfs_mount_options_s *o)
{
	struct cfs_mount_options mo = { 0 };
	uint8_t want[64], have[CFS_DIGEST_SIZE];
	struct cfs_error err;
	struct stat st;
	int r, want_len = 0;

	if (o == NULL || (o->flags & ~LCFS_MOUNT_FLAGS_MASK) != 0 ||
	    o->n_objdirs == 0 || o->objdirs == NULL ||
	    (o->upperdir == NULL) != (o->workdir == NULL) ||
	    ((o->flags & LCFS_MOUNT_FLAGS_IDMAP) && o->idmap_fd < 0))
		return fail(-EINVAL);
	if (o->expected_fsverity_digest != NULL) {
		want_len = parse_expected_digest(o->expected_fsverity_digest,
						 want);
		if (want_len < 0)
			return fail(-EINVAL);
	}
	if (fstat(fd, &st) != 0)
		return -1;
	if (S_ISDIR(st.st_mode))
		return fail(-EISDIR);
	if (want_len > 0) {
		/* the kernel's measurement of the image: a file without
		 * fs-verity is refused (ENOVERITY) */
		r = lcfs_fd_measure_fsverity(have, fd);
		if (r < 0)
			return fail(r);
		if (want_len != CFS_DIGEST_SIZE ||
		    memcmp(want, have, CFS_DIGEST_SIZE) != 0)
			return fail(-EWRONGVERITY);
	}
	mo.basedirs = o->objdirs;
	mo.n_basedirs = o->n_objdirs;
	mo.upperdir = o->upperdir;
	mo.workdir = o->workdir;
	mo.idmap_fd = o->idmap_fd;
	if (o->flags & LCFS_MOUNT_FLAGS_REQUIRE_VERITY)
		mo.flags |= CFS_MOUNT_VERITY;
	if (o->flags & LCFS_MOUNT_FLAGS_TRY_VERITY)
		mo.flags |= CFS_MOUNT_TRY_VERITY;
	if (o->flags & LCFS_MOUNT_FLAGS_READONLY)
		mo.flags |= CFS_MOUNT_READONLY;
	if (o->flags & LCFS_MOUNT_FLAGS_IDMAP)
		mo.flags |= CFS_MOUNT_IDMAP;
	r = cfsi_mount_image_fd_unchecked(fd, mountpoint, &mo, &err);
	if (r == -EUCLEAN)
		r = -EINVAL; /* not a composefs image */
	return r < 0 ? fail(r) : 0;
}

LCFS_API int lcfs_mount_fd(int fd, const char *mountpoint,
			   struct lcfs_mount_options_s *options)
{
	return mount_fd(fd, mountpoint, options);
}

LCFS_API int lcfs_mount_image(const char *path, const char *mountpoint,
			      struct lcfs_mount_options_s *options)
{
	int fd, r, e;

	if (options == NULL)
		return fail(-EINVAL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = mount_fd(fd, mountpoint, options);
	e = errno;
	close(fd);
	errno = e;
	return r;
}
