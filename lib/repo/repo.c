/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Repositories: an object store, images kept by their digest, names
 * pointing at images (the layout is in composefs.h).
 *
 * Crash safety: every file is written anonymously and linked in once
 * durable (lib/base/tmpfile.c), in the order objects, image, name; so a name
 * only ever reaches a whole image whose objects are all in place, and an
 * interrupted add leaves at most objects and an image that no name
 * reaches, which gc removes.
 *
 * Locking protocol: DIR/lock is held with flock(2) by every handle, for
 * its whole life. Adders, readers, mounts and a checking fsck hold it
 * shared; gc and a repairing fsck hold it exclusive. So gc never runs
 * while an add has objects in place that no name reaches yet (it would
 * take them for garbage), and repair never moves an object that an add
 * has just found present. Writers that bypass the protocol (an
 * mkcomposefs --digest-store into DIR/objects takes the lock shared too,
 * see tools/mkcomposefs.c) are on their own.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "composefs-c/repo.h"
#include "repo/layout.h"
#include "repo/repo_i.h"
#include "store/store_i.h"
#include "format/hash_alg_i.h"
#include "base/tmpfile_i.h"
#include "base/util.h"

/* An image file bigger than this is not read into memory (no tree of a
 * real system comes near). */
#define IMAGE_SIZE_MAX (UINT64_C(4) << 30)

static const char *const subdirs[] = { LAYOUT_OBJECTS, LAYOUT_IMAGES,
				       LAYOUT_NAMES };
/* made when first needed (older repositories lack them) */
static const char *const extra_subdirs[] = { LAYOUT_LAYERS, LAYOUT_LAYER_BLOBS,
					     LAYOUT_OCI, LAYOUT_PULL,
					     LAYOUT_MOUNTS };

int cfs_repo_check_name(const char *name, struct cfs_error *err)
{
	size_t len = strlen(name);

	if (len == 0)
		return cfs_error_set(err, -EINVAL, "empty image name");
	if (len > CFS_NAME_MAX)
		return cfs_error_set(err, -EINVAL,
				     "image name longer than %d bytes",
				     CFS_NAME_MAX);
	if (name[0] == '.')
		return cfs_error_set(err, -EINVAL,
				     "image name '%s' starts with '.'", name);
	for (const char *p = name; *p; p++) {
		if (*p == '/')
			return cfs_error_set(err, -EINVAL,
					     "image name '%s' contains '/'",
					     name);
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return cfs_error_set(
				err, -EINVAL,
				"image name contains a control character");
	}
	return 0;
}

/* Write data as the file name in dir_fd, whole or not at all, durable. */
static int write_small_file(int dir_fd, const char *name, const void *data,
			    size_t len, bool replace)
{
	struct cfs_tmpfile t;
	int r;

	r = cfs_tmpfile_create(dir_fd, &t);
	if (r < 0)
		return r;
	r = cfsi_write_all(t.fd, data, len);
	if (r == 0 && fchmod(t.fd, 0644) != 0)
		r = -errno;
	if (r == 0 && fsync(t.fd) != 0)
		r = -errno;
	if (r == 0)
		r = cfs_tmpfile_link(&t, dir_fd, name, replace);
	cfs_tmpfile_discard(&t, dir_fd);
	if (r == 0 && fsync(dir_fd) != 0)
		r = -errno;
	return r;
}

/* Read a small regular file (never blocking on something else at the
 * name) into buf, NUL-terminated; the length or -errno. */
static ssize_t read_small_file(int dir_fd, const char *name, char *buf,
			       size_t size)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	ssize_t n;

	fd = openat(dir_fd, name,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return errno == ELOOP ? -EUCLEAN : -errno;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EUCLEAN;
	n = cfsi_pread_all(fd, buf, size - 1, 0);
	if (n < 0)
		return n;
	buf[n] = '\0';
	return n;
}

/* Whether dir_fd holds nothing but what init makes (a half-made init). */
static int only_repo_entries(int dir_fd)
{
	struct cfsi_dir_list l = { 0 };
	int r = cfsi_list_dir(dir_fd, ".", &l);

	if (r < 0)
		return r;
	r = 1;
	for (size_t i = 0; i < l.n && r == 1; i++) {
		bool known = strcmp(l.names[i], LAYOUT_LOCK) == 0;

		for (size_t k = 0; k < ARRAY_SIZE(subdirs); k++)
			known = known || strcmp(l.names[i], subdirs[k]) == 0;
		for (size_t k = 0; k < ARRAY_SIZE(extra_subdirs); k++)
			known = known ||
				strcmp(l.names[i], extra_subdirs[k]) == 0;
		if (!known)
			r = 0;
	}
	cfsi_dir_list_free(&l);
	return r;
}

int cfs_repo_init(const char *path, struct cfs_error *err)
{
	return cfs_repo_init_alg(path, CFS_HASH_SHA256, err);
}

int cfs_repo_init_alg(const char *path, enum cfs_hash_alg alg,
		      struct cfs_error *err)
{
	_cleanup_close_ int dir_fd = -1;
	_cleanup_close_ int lock_fd = -1;
	char marker[64];
	struct stat st;
	int r, n;

	if (path == NULL || path[0] == '\0')
		return cfs_error_set(err, -EINVAL, "empty repository path");
	if (alg == CFS_HASH_DEFAULT)
		alg = CFS_HASH_SHA256;
	if (cfs_hash_alg_digest_size(alg) == 0)
		return cfs_error_set(err, -EOPNOTSUPP,
				     "fs-verity hash algorithm %u is not "
				     "implemented",
				     alg);
	r = cfsi_mkdir_parents(path, 0755);
	if (r < 0)
		return cfs_error_set(err, r, "cannot create repository %s: %s",
				     path, strerror(-r));
	dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return cfs_error_set(err, -errno,
				     "cannot open repository %s: %s", path,
				     strerror(errno));
	if (fstatat(dir_fd, LAYOUT_MARKER, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return cfs_error_set(err, -EEXIST,
				     "%s is already a composefs repository",
				     path);
	r = only_repo_entries(dir_fd);
	if (r < 0)
		return cfs_error_set(err, r, "cannot read %s: %s", path,
				     strerror(-r));
	if (r == 0)
		return cfs_error_set(
			err, -ENOTEMPTY,
			"%s is not empty: a repository is made in a new or empty directory",
			path);

	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++)
		if (mkdirat(dir_fd, subdirs[i], 0755) != 0 && errno != EEXIST)
			return cfs_error_set(err, -errno,
					     "cannot create %s/%s: %s", path,
					     subdirs[i], strerror(errno));
	lock_fd = openat(dir_fd, LAYOUT_LOCK, O_RDWR | O_CREAT | O_CLOEXEC,
			 0644);
	if (lock_fd < 0)
		return cfs_error_set(err, -errno,
				     "cannot create %s/" LAYOUT_LOCK ": %s",
				     path, strerror(errno));
	/* The marker last: a repository is whole once it is there. */
	if (alg == CFS_HASH_SHA256)
		n = snprintf(marker, sizeof(marker), "%s %d\n", LAYOUT_MARKER,
			     LAYOUT_FORMAT);
	else
		n = snprintf(marker, sizeof(marker), "%s %d %s\n",
			     LAYOUT_MARKER, LAYOUT_FORMAT,
			     cfs_hash_alg_name(alg));
	r = write_small_file(dir_fd, LAYOUT_MARKER, marker, (size_t)n, false);
	if (r == 1)
		return cfs_error_set(err, -EEXIST,
				     "%s is already a composefs repository",
				     path);
	if (r < 0)
		return cfs_error_set(err, r, "cannot write %s/%s: %s", path,
				     LAYOUT_MARKER, strerror(-r));
	return 0;
}

static int check_marker(int dir_fd, const char *path,
			enum cfs_hash_alg *ret_alg, struct cfs_error *err)
{
	enum cfs_hash_alg alg = CFS_HASH_SHA256;
	char buf[128], *end;
	ssize_t n;
	long format;

	n = read_small_file(dir_fd, LAYOUT_MARKER, buf, sizeof(buf));
	if (n == -ENOENT)
		return cfs_error_set(
			err, -ENOENT,
			"%s is not a composefs repository (no %s file; 'composefs init' makes one)",
			path, LAYOUT_MARKER);
	if (n < 0)
		return cfs_error_set(err, (int)n, "%s/%s: %s", path,
				     LAYOUT_MARKER,
				     n == -EUCLEAN ? "not a regular file" :
						     strerror((int)-n));
	if (!str_has_prefix(buf, LAYOUT_MARKER " "))
		return cfs_error_set(err, -EPROTO,
				     "%s/%s: not a composefs repository marker",
				     path, LAYOUT_MARKER);
	errno = 0;
	format = strtol(buf + strlen(LAYOUT_MARKER) + 1, &end, 10);
	/* "FORMAT ALG": the repository's fs-verity algorithm, when not
	 * SHA-256 (which versions before it refuse: they read no more
	 * than the format) */
	if (errno == 0 && *end == ' ') {
		char *alg_end = end + 1 + strcspn(end + 1, "\n");
		char save = *alg_end;

		*alg_end = '\0';
		if (cfs_hash_alg_from_name(end + 1, &alg) < 0)
			return cfs_error_set(
				err, -EPROTO,
				"%s/%s: unknown fs-verity algorithm '%s'", path,
				LAYOUT_MARKER, end + 1);
		*alg_end = save;
		end = alg_end;
	}
	if (errno != 0 || end == buf + strlen(LAYOUT_MARKER) + 1 ||
	    (*end != '\n' && *end != '\0'))
		return cfs_error_set(err, -EPROTO,
				     "%s/%s: unreadable format version", path,
				     LAYOUT_MARKER);
	if (format != LAYOUT_FORMAT)
		return cfs_error_set(
			err, -EPROTO,
			"%s: repository format %ld, this version knows format %d",
			path, format, LAYOUT_FORMAT);
	*ret_alg = alg;
	return 0;
}

static int take_lock(struct cfs_repo *repo, cfs_repo_wait_fn wait,
		     void *userdata, struct cfs_error *err)
{
	int op = (repo->flags & CFS_REPO_EXCLUSIVE) ? LOCK_EX : LOCK_SH;

	repo->lock_fd = openat(repo->dir_fd, LAYOUT_LOCK,
			       O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	/* A repository one may only read is locked through a read-only
	 * descriptor (flock does not care). */
	if (repo->lock_fd < 0 && (errno == EACCES || errno == EROFS))
		repo->lock_fd = openat(repo->dir_fd, LAYOUT_LOCK,
				       O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (repo->lock_fd < 0)
		return cfs_error_set(err, -errno, "%s/" LAYOUT_LOCK ": %s",
				     repo->path, strerror(errno));
	if (flock(repo->lock_fd, op | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return cfs_error_set(err, -errno,
				     "%s/" LAYOUT_LOCK ": flock: %s",
				     repo->path, strerror(errno));
	if (repo->flags & CFS_REPO_NOWAIT)
		return cfs_error_set(
			err, -EWOULDBLOCK,
			"repository %s is locked by another process",
			repo->path);
	if (wait != NULL)
		wait(userdata, repo->path);
	while (flock(repo->lock_fd, op) != 0)
		if (errno != EINTR)
			return cfs_error_set(err, -errno,
					     "%s/" LAYOUT_LOCK ": flock: %s",
					     repo->path, strerror(errno));
	return 0;
}

static int open_subdir(struct cfs_repo *repo, const char *name,
		       struct cfs_error *err)
{
	int fd = openat(repo->dir_fd, name,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return cfs_error_set(err, -errno, "repository %s: %s/: %s",
				     repo->path, name, strerror(errno));
	return fd;
}

int cfs_repo_open(const char *path, unsigned flags, cfs_repo_wait_fn wait,
		  void *wait_userdata, struct cfs_repo **ret_repo,
		  struct cfs_error *err)
{
	struct cfs_repo *repo;
	int r;

	if (path == NULL || path[0] == '\0')
		return cfs_error_set(err, -EINVAL, "empty repository path");
	repo = calloc(1, sizeof(*repo));
	if (repo == NULL)
		return cfs_error_set(err, -ENOMEM, "out of memory");
	repo->dir_fd = repo->objects_fd = repo->images_fd = repo->names_fd =
		repo->lock_fd = -1;
	repo->flags = flags;
	repo->path = strdup(path);
	if (repo->path == NULL ||
	    asprintf(&repo->objects_path, "%s/" LAYOUT_OBJECTS, path) < 0) {
		repo->objects_path = NULL;
		r = cfs_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	repo->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (repo->dir_fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			r = cfs_error_set(
				err, r,
				"no repository at %s ('composefs init' makes one)",
				path);
		else
			r = cfs_error_set(err, r,
					  "cannot open repository %s: %s", path,
					  strerror(-r));
		goto fail;
	}
	r = check_marker(repo->dir_fd, path, &repo->alg, err);
	if (r == 0)
		repo->digest_size = cfs_hash_alg_digest_size(repo->alg);
	if (r < 0)
		goto fail;
	r = take_lock(repo, wait, wait_userdata, err);
	if (r < 0)
		goto fail;
	r = repo->objects_fd = open_subdir(repo, LAYOUT_OBJECTS, err);
	if (r < 0)
		goto fail;
	r = repo->images_fd = open_subdir(repo, LAYOUT_IMAGES, err);
	if (r < 0)
		goto fail;
	r = repo->names_fd = open_subdir(repo, LAYOUT_NAMES, err);
	if (r < 0)
		goto fail;
	*ret_repo = repo;
	return 0;
fail:
	cfs_repo_free(repo);
	return r;
}

int cfs_repo_open_for_objects(const char *objects_path, unsigned flags,
			      cfs_repo_wait_fn wait, void *wait_userdata,
			      struct cfs_repo **ret_repo, struct cfs_error *err)
{
	_cleanup_free_ char *real = realpath(objects_path, NULL);
	_cleanup_close_ int dir_fd = -1;
	char *slash;
	struct stat st;
	int r;

	*ret_repo = NULL;
	if (real == NULL || (slash = strrchr(real, '/')) == NULL ||
	    strcmp(slash + 1, LAYOUT_OBJECTS) != 0)
		return 0;
	if (slash == real)
		slash[1] = '\0'; /* the root directory's objects */
	else
		*slash = '\0';
	dir_fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0 ||
	    fstatat(dir_fd, LAYOUT_MARKER, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	r = cfs_repo_open(real, flags, wait, wait_userdata, ret_repo, err);
	return r < 0 ? r : 1;
}

struct cfs_repo *cfs_repo_free(struct cfs_repo *repo)
{
	if (repo == NULL)
		return NULL;
	/* closing the lock file drops the lock */
	int fds[] = { repo->lock_fd, repo->names_fd, repo->images_fd,
		      repo->objects_fd, repo->dir_fd };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			(void)close(fds[i]);
	free(repo->objects_path);
	free(repo->path);
	free(repo);
	return NULL;
}

const char *cfs_repo_get_path(const struct cfs_repo *repo)
{
	return repo->path;
}

const char *cfs_repo_get_objects_path(const struct cfs_repo *repo)
{
	return repo->objects_path;
}

int cfs_repo_open_store(struct cfs_repo *repo, struct cfs_store **ret_store,
			struct cfs_error *err)
{
	return cfs_store_open(repo->objects_path,
			      CFS_STORE_BATCH | CFS_STORE_HASH_ALG(repo->alg),
			      ret_store, err);
}

enum cfs_hash_alg cfs_repo_get_hash_alg(const struct cfs_repo *repo)
{
	return repo->alg;
}

char *cfs_repo_image_path(const struct cfs_repo *repo, const uint8_t *digest)
{
	char hex[CFS_DIGEST_HEX_MAX_SIZE], *path;

	cfsi_repo_to_hex(repo, digest, hex);
	if (asprintf(&path, "%s/" LAYOUT_IMAGES "/%s", repo->path, hex) < 0)
		return NULL;
	return path;
}

int cfs_repo_trees_dir(struct cfs_repo *repo, char **ret_path,
		       struct cfs_error *err)
{
	struct stat st;
	char *path;

	if (mkdirat(repo->dir_fd, LAYOUT_TREES, 0755) != 0 && errno != EEXIST)
		return cfs_error_set(err, -errno, "%s/" LAYOUT_TREES ": %s",
				     repo->path, strerror(errno));
	if (fstatat(repo->dir_fd, LAYOUT_TREES, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return cfs_error_set(err, -errno, "%s/" LAYOUT_TREES ": %s",
				     repo->path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cfs_error_set(err, -ENOTDIR,
				     "%s/" LAYOUT_TREES ": not a directory",
				     repo->path);
	if (asprintf(&path, "%s/" LAYOUT_TREES, repo->path) < 0)
		return cfs_error_set(err, -ENOMEM, "out of memory");
	*ret_path = path;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Names */

int cfs_repo_resolve(struct cfs_repo *repo, const char *name,
		     uint8_t *ret_digest, struct cfs_error *err)
{
	char buf[CFS_DIGEST_HEX_MAX_SIZE + 2];
	ssize_t n;
	int r;

	r = cfs_repo_check_name(name, err);
	if (r < 0)
		return r;
	n = read_small_file(repo->names_fd, name, buf, sizeof(buf));
	if (n == -ENOENT)
		return cfs_error_set(err, -ENOENT, "no image named '%s' in %s",
				     name, repo->path);
	if (n < 0)
		return cfs_error_set(err, (int)n, "%s/" LAYOUT_NAMES "/%s: %s",
				     repo->path, name,
				     n == -EUCLEAN ? "not a regular file" :
						     strerror((int)-n));
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if ((size_t)n != repo->digest_size * 2 ||
	    cfsi_repo_from_hex(repo, buf, ret_digest) < 0)
		return cfs_error_set(err, -EUCLEAN,
				     "%s/" LAYOUT_NAMES
				     "/%s: not an image digest",
				     repo->path, name);
	return 0;
}

int cfs_repo_remove_name(struct cfs_repo *repo, const char *name,
			 struct cfs_error *err)
{
	int r = cfs_repo_check_name(name, err);

	if (r < 0)
		return r;
	if (unlinkat(repo->names_fd, name, 0) != 0) {
		if (errno == ENOENT)
			return cfs_error_set(err, -ENOENT,
					     "no image named '%s' in %s", name,
					     repo->path);
		return cfs_error_set(err, -errno, "%s/" LAYOUT_NAMES "/%s: %s",
				     repo->path, name, strerror(errno));
	}
	if (fsync(repo->names_fd) != 0)
		return cfs_error_set(err, -errno,
				     "%s/" LAYOUT_NAMES ": fsync: %s",
				     repo->path, strerror(errno));
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void cfsi_name_list_free(struct name_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->names[i]);
	free(list->names);
	free(list->digests);
	*list = (struct name_list){ 0 };
}

int cfsi_repo_read_names(struct cfs_repo *repo, struct name_list *ret,
			 struct cfs_error *err)
{
	struct cfsi_dir_list l = { 0 };
	struct name_list list = { 0 };
	int r;

	r = cfsi_list_dir(repo->dir_fd, LAYOUT_NAMES, &l);
	if (r < 0)
		return cfs_error_set(err, r, "%s/" LAYOUT_NAMES ": %s",
				     repo->path, strerror(-r));
	list.names = calloc(l.n ? l.n : 1, sizeof(*list.names));
	list.digests = calloc(l.n ? l.n : 1, sizeof(*list.digests));
	if (list.names == NULL || list.digests == NULL) {
		cfsi_dir_list_free(&l);
		cfsi_name_list_free(&list);
		return cfs_error_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < l.n; i++) {
		/* leftovers of interrupted writes are no names */
		if (l.names[i][0] == '.')
			continue;
		list.names[list.n] = TAKE_PTR(l.names[i]);
		r = cfs_repo_resolve(repo, list.names[list.n],
				     list.digests[list.n], err);
		list.n++;
		if (r < 0) {
			cfsi_dir_list_free(&l);
			cfsi_name_list_free(&list);
			return r;
		}
	}
	cfsi_dir_list_free(&l);
	*ret = list;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Directory listings, sorted */

void cfsi_dir_list_free(struct cfsi_dir_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	*l = (struct cfsi_dir_list){ 0 };
}

/* The entries of name in dir_fd ("." for dir_fd itself), but "." and "..". */
int cfsi_list_dir(int dir_fd, const char *name, struct cfsi_dir_list *ret)
{
	struct cfsi_dir_list l = { 0 };
	size_t cap = 0;
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	fd = openat(dir_fd, name,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		r = -errno;
		close(fd);
		return r;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (l.n == cap) {
			char **names;

			cap = cap ? cap * 2 : 64;
			names = reallocarray(l.names, cap, sizeof(*names));
			if (names == NULL) {
				r = -ENOMEM;
				break;
			}
			l.names = names;
		}
		l.names[l.n] = strdup(de->d_name);
		if (l.names[l.n] == NULL) {
			r = -ENOMEM;
			break;
		}
		l.n++;
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	if (r < 0) {
		cfsi_dir_list_free(&l);
		return r;
	}
	if (l.n > 0)
		qsort(l.names, l.n, sizeof(*l.names), cmp_str);
	*ret = l;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Images */

int cfs_repo_read_image(struct cfs_repo *repo, const uint8_t *digest,
			uint8_t **ret_data, size_t *ret_size,
			struct cfs_error *err)
{
	char hex[CFS_DIGEST_HEX_MAX_SIZE], actual_hex[CFS_DIGEST_HEX_MAX_SIZE];
	uint8_t actual[CFS_DIGEST_MAX_SIZE];
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *data = NULL;
	char name[PATH_MAX];
	struct stat st;
	size_t size;
	int r;

	cfsi_repo_to_hex(repo, digest, hex);
	fd = openat(repo->images_fd, hex,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return cfs_error_set(err, -ENOENT,
					     "%s/" LAYOUT_IMAGES
					     "/%s is missing",
					     repo->path, hex);
		return cfs_error_set(
			err, errno == ELOOP ? -EUCLEAN : -errno,
			"%s/" LAYOUT_IMAGES "/%s: %s", repo->path, hex,
			errno == ELOOP ? "a symlink" : strerror(errno));
	}
	if (fstat(fd, &st) != 0)
		return cfs_error_set(err, -errno, "%s/" LAYOUT_IMAGES "/%s: %s",
				     repo->path, hex, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cfs_error_set(err, -EUCLEAN,
				     "%s/" LAYOUT_IMAGES
				     "/%s: not a regular file",
				     repo->path, hex);
	if ((uint64_t)st.st_size > IMAGE_SIZE_MAX)
		return cfs_error_set(err, -EFBIG,
				     "%s/" LAYOUT_IMAGES
				     "/%s: too big for an image",
				     repo->path, hex);
	/* The digest of the very bytes handed out: a file changed under us
	 * cannot slip through. */
	snprintf(name, sizeof(name), "%s/" LAYOUT_IMAGES "/%s", repo->path,
		 hex);
	r = cfs_image_read_fd_alg(fd, name, repo->alg, digest, actual, &data,
				  &size, err);
	if (r == -EILSEQ) {
		cfsi_repo_to_hex(repo, actual, actual_hex);
		return cfs_error_set(
			err, -EILSEQ,
			"%s: the file's digest is %s: it is not the image it is named after",
			name, actual_hex);
	}
	if (r < 0)
		return r;
	*ret_data = TAKE_PTR(data);
	*ret_size = size;
	return 0;
}

int cfsi_repo_load_tree(struct cfs_repo *repo, const uint8_t *digest,
			uint64_t *ret_image_size, struct cfs_node **ret_root,
			struct cfs_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	struct cfs_image *image = NULL;
	char hex[CFS_DIGEST_HEX_MAX_SIZE];
	struct cfs_error detail = { { 0 } };
	size_t size;
	int r;

	r = cfs_repo_read_image(repo, digest, &data, &size, err);
	if (r < 0)
		return r;
	cfsi_repo_to_hex(repo, digest, hex);
	r = cfs_image_open_buffer(data, size, &image, &detail);
	if (r == 0)
		r = cfs_image_to_tree(image, ret_root, &detail);
	cfs_image_free(image);
	if (r < 0)
		return cfs_error_set(err, r, "%s/" LAYOUT_IMAGES "/%s: %s",
				     repo->path, hex, detail.message);
	if (ret_image_size != NULL)
		*ret_image_size = size;
	return 0;
}

struct presence {
	struct cfs_repo *repo;
	struct cfs_error *err;
};

static int check_present(void *userdata, const char *payload,
			 const uint8_t *digest, uint64_t size)
{
	struct presence *p = userdata;
	struct stat st;

	if (digest == NULL)
		return cfs_error_set(
			p->err, -EINVAL,
			"the image names the object '%s', which is not a path of the store's layout (%s: ab/ and %zu hex digits)",
			payload, cfs_hash_alg_name(p->repo->alg),
			2 * p->repo->digest_size - 2);
	if (fstatat(p->repo->objects_fd, payload, &st, AT_SYMLINK_NOFOLLOW) !=
		    0 ||
	    !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return cfs_error_set(
			p->err, -ENOENT,
			"object %s (%llu bytes) is not in the repository %s",
			payload, (unsigned long long)size, p->repo->path);
	return 0;
}

/* Whether images/HEX is a regular file of size bytes with that digest. */
static bool image_file_is(struct cfs_repo *repo, const char *hex, off_t size,
			  const uint8_t *digest)
{
	uint8_t actual[CFS_DIGEST_MAX_SIZE];
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = openat(repo->images_fd, hex,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size != size)
		return false;
	return cfsi_file_digest(fd, repo->alg, actual) == 0 &&
	       memcmp(actual, digest, repo->digest_size) == 0;
}

/* Put the image of root into images/, durable; its digest to ret_digest. */
int cfsi_repo_store_image(struct cfs_repo *repo, struct cfs_node *root,
			  const struct cfs_write_options *opts,
			  uint8_t *ret_digest, struct cfs_error *err)
{
	char hex[CFS_DIGEST_HEX_MAX_SIZE];
	struct cfs_error detail = { { 0 } };
	struct cfs_write_options wopts = { 0 };
	struct cfs_tmpfile t;
	struct stat ours;
	const char *step;
	int r;

	/* the repository's algorithm, whatever the caller asked for: one
	 * of another is refused */
	if (opts != NULL)
		wopts = *opts;
	if (wopts.hash_alg != CFS_HASH_DEFAULT &&
	    wopts.hash_alg != (uint32_t)repo->alg)
		return cfs_error_set(
			err, -EINVAL,
			"an image of %s digests asked for, the repository %s holds %s ones",
			cfs_hash_alg_name(wopts.hash_alg) ?
				cfs_hash_alg_name(wopts.hash_alg) :
				"unknown",
			repo->path, cfs_hash_alg_name(repo->alg));
	wopts.hash_alg = repo->alg;
	opts = &wopts;

	r = cfs_tmpfile_create(repo->images_fd, &t);
	if (r < 0)
		return cfs_error_set(err, r,
				     "%s/" LAYOUT_IMAGES ": new file: %s",
				     repo->path, strerror(-r));
	r = cfs_write_image(root, opts, t.fd, ret_digest, &detail);
	if (r < 0) {
		cfs_tmpfile_discard(&t, repo->images_fd);
		return cfs_error_set(err, r, "cannot write image: %s",
				     detail.message);
	}
	cfsi_repo_to_hex(repo, ret_digest, hex);
	step = "write";
	if (fchmod(t.fd, 0644) != 0 || fsync(t.fd) != 0 ||
	    fstat(t.fd, &ours) != 0)
		goto fail_errno;
	step = "reopen";
	r = cfs_tmpfile_reopen_readonly(&t, repo->images_fd);
	if (r < 0)
		goto fail;
	step = "enable fs-verity";
	r = cfsi_enable_verity(t.fd, repo->alg, ret_digest);
	if (r < 0)
		goto fail;
	/* The same image may be there already; anything else at its name
	 * (a damaged or swapped file) is replaced. */
	if (image_file_is(repo, hex, ours.st_size, ret_digest)) {
		cfs_tmpfile_discard(&t, repo->images_fd);
		return 0;
	}
	step = "link into place";
	r = cfs_tmpfile_link(&t, repo->images_fd, hex, true);
	if (r < 0)
		goto fail;
	cfs_tmpfile_discard(&t, repo->images_fd);
	if (fsync(repo->images_fd) != 0)
		return cfs_error_set(err, -errno,
				     "%s/" LAYOUT_IMAGES ": fsync: %s",
				     repo->path, strerror(errno));
	return 0;

fail_errno:
	r = -errno;
fail:
	cfs_tmpfile_discard(&t, repo->images_fd);
	return cfs_error_set(err, r, "%s/" LAYOUT_IMAGES "/%s: %s: %s",
			     repo->path, hex, step, strerror(-r));
}

int cfs_repo_add_image(struct cfs_repo *repo, struct cfs_node *root,
		       const struct cfs_write_options *opts,
		       struct cfs_store *store, const char *name,
		       unsigned flags, uint8_t *ret_digest,
		       struct cfs_error *err)
{
	return cfsi_repo_add_image_checked(repo, root, opts, store, name, flags,
					   NULL, NULL, ret_digest, err);
}

int cfsi_repo_add_image_checked(struct cfs_repo *repo, struct cfs_node *root,
				const struct cfs_write_options *opts,
				struct cfs_store *store, const char *name,
				unsigned flags, cfsi_image_check_fn check,
				void *check_data, uint8_t *ret_digest,
				struct cfs_error *err)
{
	struct presence presence = { repo, err };
	uint8_t digest[CFS_DIGEST_MAX_SIZE], old[CFS_DIGEST_MAX_SIZE] = { 0 };
	char hex[CFS_DIGEST_HEX_MAX_SIZE + 1];
	char old_hex[CFS_DIGEST_HEX_MAX_SIZE];
	struct cfs_error ignored;
	bool exists;
	int r;

	r = cfs_repo_check_name(name, err);
	if (r < 0)
		return r;
	/* A name taken by the same image is no conflict: known only once
	 * the image is written. */
	exists = cfs_repo_resolve(repo, name, old, &ignored) == 0;
	cfsi_repo_to_hex(repo, old, old_hex);
	if (store != NULL && cfsi_store_hash_alg(store)->id != repo->alg)
		return cfs_error_set(
			err, -EINVAL,
			"a store of %s objects given for the repository %s, whose objects are %s",
			cfsi_store_hash_alg(store)->name, repo->path,
			cfs_hash_alg_name(repo->alg));
	if (store != NULL) {
		r = cfs_store_commit(store, err);
		if (r < 0)
			return r;
	}
	/* A tree built into store has every object in it (each was added or
	 * found there); any other tree is checked. */
	if (store == NULL) {
		r = cfsi_tree_for_each_object(root, repo->alg, check_present,
					      &presence);
		if (r < 0)
			return r;
	}
	r = cfsi_repo_store_image(repo, root, opts, digest, err);
	if (r < 0)
		return r;
	if (check != NULL) {
		r = check(check_data, digest, err);
		if (r < 0)
			return r;
	}
	if (ret_digest != NULL)
		memcpy(ret_digest, digest, repo->digest_size);
	if (exists && memcmp(old, digest, repo->digest_size) == 0)
		return 0;
	if (exists && !(flags & CFS_REPO_REPLACE))
		return cfs_error_set(
			err, -EEXIST,
			"the name '%s' is taken by image %s (--replace moves it to the new one)",
			name, old_hex);

	cfsi_repo_to_hex(repo, digest, hex);
	strcat(hex, "\n");
	r = write_small_file(repo->names_fd, name, hex, strlen(hex),
			     (flags & CFS_REPO_REPLACE) != 0);
	if (r == 1)
		return cfs_error_set(
			err, -EEXIST,
			"the name '%s' was taken meanwhile by another add",
			name);
	if (r < 0)
		return cfs_error_set(err, r, "%s/" LAYOUT_NAMES "/%s: %s",
				     repo->path, name, strerror(-r));
	return 0;
}

/* The fd of subdir (one of extra_subdirs), made when missing. */
static int extra_subdir(struct cfs_repo *repo, const char *subdir)
{
	int fd;

	if (mkdirat(repo->dir_fd, subdir, 0755) != 0 && errno != EEXIST)
		return -errno;
	fd = openat(repo->dir_fd, subdir,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

int cfsi_repo_write_file(struct cfs_repo *repo, const char *subdir,
			 const char *name, const void *data, size_t len,
			 struct cfs_error *err)
{
	_cleanup_close_ int fd = extra_subdir(repo, subdir);
	int r = fd;

	if (fd >= 0)
		r = write_small_file(fd, name, data, len, true);
	if (r < 0)
		return cfs_error_set(err, r, "%s/%s/%s: %s", repo->path, subdir,
				     name, strerror(-r));
	return 0;
}

ssize_t cfsi_repo_read_file(struct cfs_repo *repo, const char *subdir,
			    const char *name, char *buf, size_t size)
{
	_cleanup_close_ int fd = openat(repo->dir_fd, subdir,
					O_RDONLY | O_DIRECTORY | O_CLOEXEC |
						O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	return read_small_file(fd, name, buf, size);
}

int cfsi_repo_remove_file(struct cfs_repo *repo, const char *subdir,
			  const char *name)
{
	_cleanup_close_ int fd = openat(repo->dir_fd, subdir,
					O_RDONLY | O_DIRECTORY | O_CLOEXEC |
						O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	if (unlinkat(fd, name, 0) != 0)
		return -errno;
	return 0;
}
