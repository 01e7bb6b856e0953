/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The object store: a directory of files named by their fs-verity digest,
 * DIR/ab/cdef... . This is the only code that writes objects. An object is
 * written under a temporary name in its final directory, made durable, and
 * only then renamed into place without replacing anything, so a reader
 * either finds a complete object or none, whatever crashes or races.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "composefs.h"
#include "util.h"

#define TMP_PREFIX ".tmp-"
/* ".tmp-" + 16 hex digits + NUL */
#define TMP_NAME_SIZE (sizeof(TMP_PREFIX) + 16)
#define COPY_CHUNK (1024 * 1024)

/* An object waiting for cfs_store_commit() in batch mode. */
enum pending_state {
	PENDING_FREE,
	PENDING_CLAIMED,
	PENDING_WRITTEN,
	PENDING_FAILED
};

struct pending {
	uint8_t digest[CFS_DIGEST_SIZE];
	char tmp_name[TMP_NAME_SIZE];
	enum pending_state state;
};

struct cfs_store {
	char *path;
	int dir_fd;
	unsigned flags;

	/* batch mode: open-addressed set of pending objects by digest */
	pthread_mutex_t lock;
	struct pending *pending;
	size_t pending_size, pending_used;
};

/* mkdir -p: create path and its missing parents. */
static int mkdir_parents(const char *path, mode_t mode)
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

int cfs_store_open(const char *path, unsigned flags,
		   struct cfs_store **ret_store, struct cfs_error *err)
{
	_cleanup_close_ int fd = -1;
	struct cfs_store *store;
	int r;

	if (path == NULL || path[0] == '\0')
		return cfs_error_set(err, -EINVAL, "empty object store path");

	if (flags & CFS_STORE_CREATE) {
		r = mkdir_parents(path, 0755);
		if (r < 0)
			return cfs_error_set(
				err, r, "cannot create object store %s: %s",
				path, strerror(-r));
	}

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOTDIR)
			return cfs_error_set(
				err, r, "object store %s is not a directory",
				path);
		return cfs_error_set(err, r, "cannot open object store %s: %s",
				     path, strerror(-r));
	}

	store = calloc(1, sizeof(*store));
	if (store == NULL || (store->path = strdup(path)) == NULL) {
		free(store);
		return cfs_error_set(err, -ENOMEM, "out of memory");
	}
	store->dir_fd = TAKE_FD(fd);
	store->flags = flags;
	pthread_mutex_init(&store->lock, NULL);
	*ret_store = store;
	return 0;
}

struct cfs_store *cfs_store_free(struct cfs_store *store)
{
	if (store != NULL) {
		/* uncommitted objects of a batch are dropped */
		for (size_t i = 0; i < store->pending_size; i++) {
			struct pending *p = &store->pending[i];
			char path[CFS_OBJECT_PATH_SIZE + TMP_NAME_SIZE];

			if (p->state != PENDING_WRITTEN)
				continue;
			snprintf(path, sizeof(path), "%02x/%s", p->digest[0],
				 p->tmp_name);
			(void)unlinkat(store->dir_fd, path, 0);
		}
		free(store->pending);
		pthread_mutex_destroy(&store->lock);
		(void)close(store->dir_fd);
		free(store->path);
		free(store);
	}
	return NULL;
}

int cfs_store_open_object(struct cfs_store *store,
			  const uint8_t digest[CFS_DIGEST_SIZE])
{
	char path[CFS_OBJECT_PATH_SIZE];
	int fd;

	cfs_digest_to_object_path(digest, path);
	fd = openat(store->dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

/*
 * A fresh temporary name. getrandom() keeps names of concurrent writers
 * (threads, processes, containers sharing the store) apart; should it fail,
 * a per-process counter, the pid and the clock do. O_EXCL catches the rest.
 */
static void make_tmp_name(char name[TMP_NAME_SIZE])
{
	static atomic_uint_fast64_t counter;
	uint64_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = atomic_fetch_add(&counter, 1) ^ ((uint64_t)getpid() << 40) ^
		    (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
	}
	snprintf(name, TMP_NAME_SIZE, TMP_PREFIX "%016llx",
		 (unsigned long long)v);
}

static int create_tmp(int dir_fd, char name[TMP_NAME_SIZE])
{
	for (int attempt = 0; attempt < 100; attempt++) {
		int fd;

		make_tmp_name(name);
		fd = openat(dir_fd, name,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
				    O_NOFOLLOW,
			    0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static bool copy_file_range_unsupported(int errnum)
{
	switch (errnum) {
	case EXDEV:
	case EINVAL:
	case EOPNOTSUPP:
	case ENOSYS:
	case EPERM:
	case EBADF:
		return true;
	default:
		return false;
	}
}

/* Copy the whole of src_fd (from offset 0, whatever its position) into the
 * empty dst_fd: a reflink where the filesystem shares extents, an in-kernel
 * copy where it can, read/write otherwise. */
static int copy_file(int src_fd, int dst_fd)
{
	loff_t in_off = 0, out_off = 0;

	if (ioctl(dst_fd, FICLONE, src_fd) == 0)
		return 0;

	for (;;) {
		ssize_t n = copy_file_range(src_fd, &in_off, dst_fd, &out_off,
					    COPY_CHUNK, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (!copy_file_range_unsupported(errno))
				return -errno;
			break;
		}
		/*
		 * 0 is the end of the file, or a file (procfs, some FUSE)
		 * that copy_file_range cannot read: read() tells which.
		 */
		if (n == 0)
			break;
	}
	assert(in_off == out_off);
	return cfsi_copy_data(src_fd, dst_fd, in_off);
}

/* fs-verity where the filesystem has it. Errors that only say it has not
 * are ignored; an error of a filesystem that has it is not. When enabled,
 * the kernel's digest must be the one the object is named by. */
static int enable_verity(int fd, const uint8_t digest[CFS_DIGEST_SIZE])
{
	uint8_t measured[CFS_DIGEST_SIZE];
	int r;

	r = cfs_fsverity_enable_fd(fd);
	switch (r) {
	case 0:
	case -EEXIST:
		break;
	case -EIO:
	case -ENOSPC:
	case -EDQUOT:
	case -ENOMEM:
		return r;
	default:
		return 0;
	}
	r = cfs_fsverity_measure_fd(fd, measured);
	if (r < 0)
		return r;
	if (memcmp(measured, digest, CFS_DIGEST_SIZE) != 0)
		return -EBADMSG;
	return 0;
}

/* Open the "ab" directory of an object, creating it if needed. */
static int open_subdir(int dir_fd, const char *name, bool *ret_made)
{
	int fd;

	*ret_made = false;
	if (mkdirat(dir_fd, name, 0755) == 0)
		*ret_made = true;
	else if (errno != EEXIST)
		return -errno;
	fd = openat(dir_fd, name,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

/* Move tmp_name to name in dir_fd unless name exists. Returns 0 when ours
 * went in, 1 when another writer's object was already there. */
static int publish(int dir_fd, const char *tmp_name, const char *name)
{
	if (renameat2(dir_fd, tmp_name, dir_fd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 1;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -errno;

	/* No RENAME_NOREPLACE here: linkat() never replaces either. */
	if (linkat(dir_fd, tmp_name, dir_fd, name, 0) != 0)
		return errno == EEXIST ? 1 : -errno;
	/* Our object is in place; a leftover temp name is only litter. */
	(void)unlinkat(dir_fd, tmp_name, 0);
	return 0;
}

/* Batch mode bookkeeping; all under store->lock. */
static struct pending *pending_find(struct cfs_store *store,
				    const uint8_t digest[CFS_DIGEST_SIZE])
{
	size_t mask = store->pending_size - 1, slot;
	uint64_t h;

	if (store->pending_size == 0)
		return NULL;
	memcpy(&h, digest, sizeof(h));
	for (slot = h & mask; store->pending[slot].state != PENDING_FREE;
	     slot = (slot + 1) & mask)
		if (memcmp(store->pending[slot].digest, digest,
			   CFS_DIGEST_SIZE) == 0)
			return &store->pending[slot];
	return &store->pending[slot];
}

static int pending_grow(struct cfs_store *store)
{
	size_t size = store->pending_size ? store->pending_size * 2 : 1024;
	struct pending *old = store->pending;
	size_t old_size = store->pending_size;

	store->pending = calloc(size, sizeof(*store->pending));
	if (store->pending == NULL) {
		store->pending = old;
		return -ENOMEM;
	}
	store->pending_size = size;
	for (size_t i = 0; i < old_size; i++)
		if (old[i].state != PENDING_FREE)
			*pending_find(store, old[i].digest) = old[i];
	free(old);
	return 0;
}

/* Claim digest for this writer: 1 if claimed, 0 if another add of the same
 * object is already under way or done. */
static int pending_claim(struct cfs_store *store,
			 const uint8_t digest[CFS_DIGEST_SIZE])
{
	struct pending *p;
	int r = 1;

	pthread_mutex_lock(&store->lock);
	if ((store->pending_used + 1) * 2 > store->pending_size) {
		r = pending_grow(store);
		if (r < 0)
			goto out;
		r = 1;
	}
	p = pending_find(store, digest);
	if (p->state == PENDING_CLAIMED || p->state == PENDING_WRITTEN) {
		r = 0;
		goto out;
	}
	if (p->state == PENDING_FREE)
		store->pending_used++;
	memcpy(p->digest, digest, CFS_DIGEST_SIZE);
	p->state = PENDING_CLAIMED;
out:
	pthread_mutex_unlock(&store->lock);
	return r;
}

static void pending_settle(struct cfs_store *store,
			   const uint8_t digest[CFS_DIGEST_SIZE],
			   const char *tmp_name, bool ok)
{
	struct pending *p;

	pthread_mutex_lock(&store->lock);
	p = pending_find(store, digest);
	p->state = ok ? PENDING_WRITTEN : PENDING_FAILED;
	if (ok)
		memcpy(p->tmp_name, tmp_name, TMP_NAME_SIZE);
	pthread_mutex_unlock(&store->lock);
}

int cfs_store_commit(struct cfs_store *store, struct cfs_error *err)
{
	int r = 0;

	if (!(store->flags & CFS_STORE_BATCH) || store->pending_used == 0)
		return 0;
	/* Contents first: one flush of the filesystem for every object. */
	if (syncfs(store->dir_fd) != 0)
		return cfs_error_set(err, -errno, "object store %s: syncfs: %s",
				     store->path, strerror(errno));
	pthread_mutex_lock(&store->lock);
	for (size_t i = 0; i < store->pending_size && r == 0; i++) {
		struct pending *p = &store->pending[i];
		char path[CFS_OBJECT_PATH_SIZE], dir[3];
		_cleanup_close_ int sub_fd = -1;

		if (p->state != PENDING_WRITTEN)
			continue;
		cfs_digest_to_object_path(p->digest, path);
		memcpy(dir, path, 2);
		dir[2] = '\0';
		sub_fd = openat(store->dir_fd, dir,
				O_RDONLY | O_DIRECTORY | O_CLOEXEC |
					O_NOFOLLOW);
		if (sub_fd < 0) {
			r = cfs_error_set(err, -errno, "object %s in %s: %s",
					  path, store->path, strerror(errno));
			break;
		}
		r = publish(sub_fd, p->tmp_name, path + 3);
		if (r > 0)
			(void)unlinkat(sub_fd, p->tmp_name, 0);
		if (r < 0) {
			r = cfs_error_set(
				err, r,
				"object %s in %s: rename into place: %s", path,
				store->path, strerror(-r));
			break;
		}
		r = 0;
		p->state = PENDING_FREE;
	}
	if (r == 0) {
		/* nothing is pending any more: give the table back */
		free(store->pending);
		store->pending = NULL;
		store->pending_size = 0;
		store->pending_used = 0;
	}
	pthread_mutex_unlock(&store->lock);
	/* Then the names. */
	if (r == 0 && syncfs(store->dir_fd) != 0)
		r = cfs_error_set(err, -errno, "object store %s: syncfs: %s",
				  store->path, strerror(errno));
	return r;
}

int cfs_store_add_fd(struct cfs_store *store, int src_fd,
		     const uint8_t digest[CFS_DIGEST_SIZE],
		     struct cfs_error *err)
{
	char path[CFS_OBJECT_PATH_SIZE];
	char tmp_name[TMP_NAME_SIZE];
	_cleanup_close_ int sub_fd = -1;
	_cleanup_close_ int tmp_fd = -1;
	const char *name = path + 3; /* inside the "ab" directory */
	const char *step;
	bool made_subdir = false;
	bool batch;
	struct stat st;
	int r;

	assert(store != NULL);
	batch = (store->flags & CFS_STORE_BATCH) != 0;
	cfs_digest_to_object_path(digest, path);

	if (fstatat(store->dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return cfs_error_set(err, -errno, "object %s in %s: stat: %s",
				     path, store->path, strerror(errno));
	if (batch) {
		r = pending_claim(store, digest);
		if (r <= 0)
			return r < 0 ? cfs_error_set(err, r, "out of memory") :
				       0;
	}

	path[2] = '\0';
	sub_fd = open_subdir(store->dir_fd, path, &made_subdir);
	path[2] = '/';
	if (sub_fd < 0) {
		if (batch)
			pending_settle(store, digest, NULL, false);
		return cfs_error_set(err, sub_fd,
				     "object %s in %s: create directory: %s",
				     path, store->path, strerror(-sub_fd));
	}

	tmp_fd = create_tmp(sub_fd, tmp_name);
	if (tmp_fd < 0) {
		if (batch)
			pending_settle(store, digest, NULL, false);
		return cfs_error_set(
			err, tmp_fd,
			"object %s in %s: create temporary file: %s", path,
			store->path, strerror(-tmp_fd));
	}

	step = "copy";
	r = copy_file(src_fd, tmp_fd);
	if (r < 0)
		goto fail;
	step = "chmod";
	if (fchmod(tmp_fd, 0644) != 0)
		goto fail_errno;
	step = "fsync";
	if (!batch && fsync(tmp_fd) != 0)
		goto fail_errno;
	/* In a batch, start writing back now so that the one flush at commit
	 * has little left to wait for; failure here only costs that overlap. */
	if (batch)
		(void)sync_file_range(tmp_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	step = "close";
	if (close(TAKE_FD(tmp_fd)) != 0)
		goto fail_errno;

	/* fs-verity refuses files that are open for writing. */
	step = "reopen";
	tmp_fd = openat(sub_fd, tmp_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (tmp_fd < 0)
		goto fail_errno;
	step = "enable fs-verity";
	r = enable_verity(tmp_fd, digest);
	if (r == -EBADMSG) {
		step = "fs-verity digest does not match the object name";
		goto fail;
	}
	if (r < 0)
		goto fail;

	if (batch) {
		/* cfs_store_commit() makes it durable and visible */
		pending_settle(store, digest, tmp_name, true);
		return 0;
	}

	step = "rename into place";
	r = publish(sub_fd, tmp_name, name);
	if (r < 0)
		goto fail;
	if (r > 0)
		/* Another writer got there first with the same content. */
		(void)unlinkat(sub_fd, tmp_name, 0);

	/*
	 * The object is complete and visible; now make its name durable (also
	 * when another writer put it there, as it may not have got that far).
	 */
	if (fsync(sub_fd) != 0 || (made_subdir && fsync(store->dir_fd) != 0))
		return cfs_error_set(err, -errno,
				     "object %s in %s: fsync directory: %s",
				     path, store->path, strerror(errno));
	return 0;

fail_errno:
	r = -errno;
fail:
	(void)unlinkat(sub_fd, tmp_name, 0);
	if (batch)
		pending_settle(store, digest, NULL, false);
	return cfs_error_set(err, r, "object %s in %s: %s: %s", path,
			     store->path, step, strerror(-r));
}
