/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The object store: a directory of files named by their fs-verity digest,
 * DIR/ab/cdef... . This is the only code that writes objects. An object is
 * written to an anonymous file in its final directory (lib/base/tmpfile.c), made
 * durable, and only then linked in under its name, so that a reader finds a
 * complete object or none, whatever crashes or races, and a killed writer
 * leaves nothing behind.
 *
 * Batch mode stages objects (written, not yet durable, not yet named) and
 * commits them together: one syncfs for their contents, then their names,
 * then one syncfs for the names. A batch is committed as soon as it holds
 * BATCH_MAX_OBJECTS objects or BATCH_MAX_BYTES bytes, so that a long run
 * that is interrupted keeps most of its work and the open descriptors stay
 * few. A full batch goes to a committer thread of the store, which waits
 * for the disk while the adders go on filling the next one; at most one
 * batch is in its hands (an adder that fills another waits for it), so
 * at most two batches' descriptors are open.
 *
 * Threads: the staged batch, the sets of digests being written and staged
 * and the count of batches being committed are under store->lock. An adder
 * that finds its digest being written by another waits for that one to
 * finish (and writes it itself if that one failed); one that finds it
 * staged returns at once. cfs_store_commit() waits for the batches other
 * threads are committing. So when an add returns, its object is in place
 * or staged, and after a commit every add that returned before it is
 * durable and named.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "composefs-c/composefs.h"
#include "format/hash_alg_i.h"
#include "store/store_i.h"
#include "base/tmpfile_i.h"
#include "base/util.h"

#define COPY_CHUNK (1024 * 1024)
#define BATCH_MAX_OBJECTS 256
#define BATCH_MAX_BYTES (256ULL << 20)

/* An object written, waiting for its batch to be committed. */
struct staged {
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	struct cfs_tmpfile file;
	bool replace; /* a damaged file has the name */
};

struct batch {
	struct staged *items;
	size_t n, cap;
	uint64_t bytes;
};

/* Open-addressed set of digests (linear probing, deletion by shifting). */
struct digest_set {
	uint8_t (*slots)[CFS_DIGEST_MAX_SIZE];
	bool *used;
	size_t size, n;
	size_t digest_size; /* the store's algorithm's */
};

struct cfs_store {
	char *path;
	int dir_fd;
	unsigned flags;
	const struct cfsi_hash_alg *alg; /* that names the objects */

	pthread_mutex_t lock;
	pthread_cond_t idle; /* signalled when a batch commit ends */
	pthread_cond_t written; /* signalled when an add leaves `writing` */
	struct batch batch; /* staged, not committed */
	struct digest_set writing; /* being written by an adder */
	struct digest_set staged; /* written, in a batch not yet named */
	unsigned committing; /* batches being committed (adders, committer) */
	int failed; /* -errno of a batch commit that failed, sticky */
	/* The committer thread: a full batch handed to it, and whether it
	 * has one (handed or being committed). */
	pthread_t committer;
	bool committer_running, stopping, committer_busy;
	struct batch handed;
	pthread_cond_t handoff; /* signalled when committer_busy changes */
	char failed_message[sizeof(((struct cfs_error *)0)->message)];
};

static size_t digest_slot(const struct digest_set *s, const uint8_t *digest)
{
	uint64_t h;

	memcpy(&h, digest, sizeof(h));
	return h & (s->size - 1);
}

static bool set_find(const struct digest_set *s, const uint8_t *digest,
		     size_t *ret_slot)
{
	size_t slot;

	if (s->size == 0)
		return false;
	for (slot = digest_slot(s, digest); s->used[slot];
	     slot = (slot + 1) & (s->size - 1)) {
		if (memcmp(s->slots[slot], digest, s->digest_size) == 0) {
			*ret_slot = slot;
			return true;
		}
	}
	*ret_slot = slot;
	return false;
}

static int set_grow(struct digest_set *s)
{
	struct digest_set bigger = { .digest_size = s->digest_size };

	bigger.size = s->size ? s->size * 2 : 256;
	bigger.slots = calloc(bigger.size, sizeof(*bigger.slots));
	bigger.used = calloc(bigger.size, sizeof(*bigger.used));
	if (bigger.slots == NULL || bigger.used == NULL) {
		free(bigger.slots);
		free(bigger.used);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->size; i++) {
		size_t slot;

		if (!s->used[i])
			continue;
		(void)set_find(&bigger, s->slots[i], &slot);
		memcpy(bigger.slots[slot], s->slots[i], s->digest_size);
		bigger.used[slot] = true;
		bigger.n++;
	}
	free(s->slots);
	free(s->used);
	*s = bigger;
	return 0;
}

/* 1 when added, 0 when it was there already. */
static int set_add(struct digest_set *s, const uint8_t *digest)
{
	size_t slot;
	int r;

	if ((s->n + 1) * 2 > s->size) {
		r = set_grow(s);
		if (r < 0)
			return r;
	}
	if (set_find(s, digest, &slot))
		return 0;
	memcpy(s->slots[slot], digest, s->digest_size);
	s->used[slot] = true;
	s->n++;
	return 1;
}

static void set_remove(struct digest_set *s, const uint8_t *digest)
{
	size_t hole, next, mask = s->size - 1;

	if (!set_find(s, digest, &hole))
		return;
	s->used[hole] = false;
	s->n--;
	/* Shift back the entries of the run after the hole that may no
	 * longer be found past it. */
	for (next = (hole + 1) & mask; s->used[next];
	     next = (next + 1) & mask) {
		size_t home = digest_slot(s, s->slots[next]);

		if (((next - home) & mask) >= ((next - hole) & mask)) {
			memcpy(s->slots[hole], s->slots[next], s->digest_size);
			s->used[hole] = true;
			s->used[next] = false;
			hole = next;
		}
	}
}

static void set_free(struct digest_set *s)
{
	free(s->slots);
	free(s->used);
	*s = (struct digest_set){ .digest_size = s->digest_size };
}

int cfs_store_open(const char *path, unsigned flags,
		   struct cfs_store **ret_store, struct cfs_error *err)
{
	_cleanup_close_ int fd = -1;
	const struct cfsi_hash_alg *alg;
	struct cfs_store *store;
	int r;

	if (path == NULL || path[0] == '\0')
		return cfs_error_set(err, -EINVAL, "empty object store path");
	alg = cfsi_hash_alg_get((enum cfs_hash_alg)((flags >> 8) & 0xff));
	if (alg == NULL)
		return cfs_error_set(
			err, -EOPNOTSUPP,
			"object store %s: fs-verity hash algorithm "
			"%u is not implemented",
			path, (flags >> 8) & 0xff);

	if (flags & CFS_STORE_CREATE) {
		r = cfsi_mkdir_parents(path, 0755);
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
	store->alg = alg;
	store->writing.digest_size = alg->digest_size;
	store->staged.digest_size = alg->digest_size;
	pthread_mutex_init(&store->lock, NULL);
	pthread_cond_init(&store->idle, NULL);
	pthread_cond_init(&store->written, NULL);
	pthread_cond_init(&store->handoff, NULL);
	*ret_store = store;
	return 0;
}

static void subdir_name(const uint8_t *digest, char dir[3])
{
	static const char hex[] = "0123456789abcdef";

	dir[0] = hex[digest[0] >> 4];
	dir[1] = hex[digest[0] & 15];
	dir[2] = '\0';
}

static void discard_batch(struct cfs_store *store, struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		cfs_tmpfile_discard(&b->items[i].file, store->dir_fd);
	free(b->items);
	*b = (struct batch){ 0 };
}

struct cfs_store *cfs_store_free(struct cfs_store *store)
{
	if (store != NULL) {
		/* a batch handed to the committer is committed; the rest of
		 * the uncommitted objects are dropped */
		if (store->committer_running) {
			pthread_mutex_lock(&store->lock);
			store->stopping = true;
			pthread_cond_broadcast(&store->handoff);
			pthread_mutex_unlock(&store->lock);
			pthread_join(store->committer, NULL);
		}
		discard_batch(store, &store->batch);
		pthread_cond_destroy(&store->handoff);
		set_free(&store->writing);
		set_free(&store->staged);
		pthread_cond_destroy(&store->written);
		pthread_cond_destroy(&store->idle);
		pthread_mutex_destroy(&store->lock);
		(void)close(store->dir_fd);
		free(store->path);
		free(store);
	}
	return NULL;
}

const struct cfsi_hash_alg *cfsi_store_hash_alg(const struct cfs_store *store)
{
	return store->alg;
}

const char *cfsi_store_path(const struct cfs_store *store)
{
	return store->path;
}

int cfs_store_open_object(struct cfs_store *store, const uint8_t *digest)
{
	char path[CFS_OBJECT_PATH_MAX_SIZE];
	int fd;

	cfs_digest_to_object_path_alg(store->alg->id, digest, path);
	fd = openat(store->dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

/* COMPOSEFS_1.0's cfs_store_open_object() and cfs_store_add_fd(), of
 * programs built before SHA-512, whose digests are CFS_DIGEST_SIZE bytes:
 * a store of longer digests would read past them, and is refused. */
int cfsi_store_open_object_1_0(struct cfs_store *store, const uint8_t *digest);
CFS_SYMVER_COMPAT(cfsi_store_open_object_1_0, cfs_store_open_object,
		  "COMPOSEFS_1.0");
int cfsi_store_add_fd_1_0(struct cfs_store *store, int src_fd,
			  const uint8_t *digest, struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_store_add_fd_1_0, cfs_store_add_fd, "COMPOSEFS_1.0");

int cfsi_store_open_object_1_0(struct cfs_store *store, const uint8_t *digest)
{
	if (store->alg->digest_size != CFS_DIGEST_SIZE)
		return -EOPNOTSUPP;
	return cfs_store_open_object(store, digest);
}

int cfsi_store_add_fd_1_0(struct cfs_store *store, int src_fd,
			  const uint8_t *digest, struct cfs_error *err)
{
	if (store->alg->digest_size != CFS_DIGEST_SIZE)
		return cfs_error_set(
			err, -EOPNOTSUPP,
			"%s: a store of %s digests, which this program (built before SHA-512) cannot name: rebuild it",
			store->path, store->alg->name);
	return cfs_store_add_fd(store, src_fd, digest, err);
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
int cfsi_enable_verity(int fd, enum cfs_hash_alg alg, const uint8_t *digest)
{
	uint8_t measured[CFS_DIGEST_MAX_SIZE];
	int r;

	r = cfs_fsverity_enable_fd_alg(fd, alg);
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
	r = cfs_fsverity_measure_fd_alg(fd, alg, measured);
	if (r < 0)
		return r;
	if (memcmp(measured, digest, cfs_hash_alg_digest_size(alg)) != 0)
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

/* What is at an object's name: 0 nothing, 1 a regular file of the right
 * size (taken as the object: fsck checks contents), 2 something else (a
 * damaged object, to be replaced), or -errno. */
static int object_state(struct cfs_store *store, const char *path,
			uint64_t size)
{
	struct stat st;

	if (fstatat(store->dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size == size)
		return 1;
	return 2;
}

/* Name every staged object of b and make the names durable; the batch is
 * emptied. Objects already named by someone else are dropped. */
static int commit_batch(struct cfs_store *store, struct batch *b,
			struct cfs_error *err)
{
	int r = 0;

	/* Contents first: one flush of the filesystem for every object. */
	if (b->n > 0 && syncfs(store->dir_fd) != 0)
		r = cfs_error_set(err, -errno, "object store %s: syncfs: %s",
				  store->path, strerror(errno));
	for (size_t i = 0; i < b->n && r == 0; i++) {
		struct staged *s = &b->items[i];
		char path[CFS_OBJECT_PATH_MAX_SIZE], dir[3];
		_cleanup_close_ int sub_fd = -1;
		bool made;

		cfs_digest_to_object_path_alg(store->alg->id, s->digest, path);
		subdir_name(s->digest, dir);
		sub_fd = open_subdir(store->dir_fd, dir, &made);
		if (sub_fd < 0) {
			r = cfs_error_set(
				err, sub_fd,
				"object %s in %s: create directory: %s", path,
				store->path, strerror(-sub_fd));
			break;
		}
		r = cfs_tmpfile_link_from(&s->file, store->dir_fd, sub_fd,
					  path + 3, s->replace);
		cfs_tmpfile_discard(&s->file, store->dir_fd);
		if (r < 0)
			r = cfs_error_set(
				err, r, "object %s in %s: link into place: %s",
				path, store->path, strerror(-r));
		else
			r = 0;
	}
	/* Then the names. */
	if (r == 0 && b->n > 0 && syncfs(store->dir_fd) != 0)
		r = cfs_error_set(err, -errno, "object store %s: syncfs: %s",
				  store->path, strerror(errno));

	pthread_mutex_lock(&store->lock);
	for (size_t i = 0; i < b->n; i++)
		set_remove(&store->staged, b->items[i].digest);
	pthread_mutex_unlock(&store->lock);
	discard_batch(store, b);
	return r;
}

/* Commit a batch taken off the store by this thread; on failure the store
 * remembers the error for cfs_store_commit(). */
static int commit_taken(struct cfs_store *store, struct batch *b,
			struct cfs_error *err)
{
	struct cfs_error local = { { 0 } };
	int r = commit_batch(store, b, &local);

	pthread_mutex_lock(&store->lock);
	if (r < 0 && store->failed == 0) {
		store->failed = r;
		memcpy(store->failed_message, local.message,
		       sizeof(local.message));
	}
	store->committing--;
	pthread_cond_broadcast(&store->idle);
	pthread_mutex_unlock(&store->lock);
	if (r < 0)
		return cfs_error_set(err, r, "%s", local.message);
	return 0;
}

int cfs_store_commit(struct cfs_store *store, struct cfs_error *err)
{
	struct batch b;
	int r;

	if (!(store->flags & CFS_STORE_BATCH))
		return 0;
	pthread_mutex_lock(&store->lock);
	b = store->batch;
	store->batch = (struct batch){ 0 };
	store->committing++;
	pthread_mutex_unlock(&store->lock);

	r = commit_taken(store, &b, err);

	pthread_mutex_lock(&store->lock);
	while (store->committing > 0)
		pthread_cond_wait(&store->idle, &store->lock);
	if (r == 0 && store->failed < 0)
		r = cfs_error_set(err, store->failed, "%s",
				  store->failed_message);
	pthread_mutex_unlock(&store->lock);
	return r;
}

static void *committer_main(void *data)
{
	struct cfs_store *store = data;

	pthread_mutex_lock(&store->lock);
	for (;;) {
		struct batch b;
		struct cfs_error ignored;

		while (!store->committer_busy && !store->stopping)
			pthread_cond_wait(&store->handoff, &store->lock);
		if (!store->committer_busy)
			break;
		b = store->handed;
		store->handed = (struct batch){ 0 };
		pthread_mutex_unlock(&store->lock);
		/* a failure is kept in store->failed for the adders */
		(void)commit_taken(store, &b, &ignored);
		pthread_mutex_lock(&store->lock);
		store->committer_busy = false;
		pthread_cond_broadcast(&store->handoff);
	}
	pthread_mutex_unlock(&store->lock);
	return NULL;
}

/* Give the full batch b (counted in store->committing) to the committer,
 * once it is free; it is committed here when no thread can be started.
 * Called with store->lock held, which it drops. */
static int hand_over(struct cfs_store *store, struct batch *b,
		     struct cfs_error *err)
{
	int r;

	if (!store->committer_running) {
		if (pthread_create(&store->committer, NULL, committer_main,
				   store) != 0) {
			pthread_mutex_unlock(&store->lock);
			return commit_taken(store, b, err);
		}
		store->committer_running = true;
	}
	while (store->committer_busy)
		pthread_cond_wait(&store->handoff, &store->lock);
	store->handed = *b;
	store->committer_busy = true;
	pthread_cond_broadcast(&store->handoff);
	r = store->failed;
	pthread_mutex_unlock(&store->lock);
	if (r < 0)
		return cfs_error_set(err, r, "%s", store->failed_message);
	return 0;
}

/* This adder is done writing digest (well or not): others may go on. */
static void done_writing(struct cfs_store *store, const uint8_t *digest)
{
	pthread_mutex_lock(&store->lock);
	set_remove(&store->writing, digest);
	pthread_cond_broadcast(&store->written);
	pthread_mutex_unlock(&store->lock);
}

/* Put a written object into the batch; commit the batch when full. On
 * failure the object is dropped. */
static int stage(struct cfs_store *store, struct staged *s, uint64_t size,
		 struct cfs_error *err)
{
	struct batch full = { 0 };
	struct batch *b;
	int r = 0;

	pthread_mutex_lock(&store->lock);
	b = &store->batch;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct staged *items = reallocarray(b->items, cap,
						    sizeof(*items));

		if (items == NULL)
			r = -ENOMEM;
		else {
			b->items = items;
			b->cap = cap;
		}
	}
	if (r == 0)
		r = set_add(&store->staged, s->digest);
	set_remove(&store->writing, s->digest);
	pthread_cond_broadcast(&store->written);
	if (r < 0) {
		pthread_mutex_unlock(&store->lock);
		cfs_tmpfile_discard(&s->file, -1);
		return cfs_error_set(err, r, "out of memory");
	}
	b->items[b->n++] = *s;
	b->bytes += size;
	if (b->n >= BATCH_MAX_OBJECTS || b->bytes >= BATCH_MAX_BYTES) {
		full = *b;
		*b = (struct batch){ 0 };
		store->committing++;
		return hand_over(store, &full, err);
	}
	pthread_mutex_unlock(&store->lock);
	return 0;
}

/*
 * Become the writer of digest: 1 when this add is to write it, 0 when it is
 * in place (a file of the right size) or staged, -errno. Waits while
 * another add writes it. *ret_replace says the name holds something that
 * is not the object.
 */
static int claim(struct cfs_store *store, const char *path,
		 const uint8_t *digest, uint64_t size, bool *ret_replace)
{
	for (;;) {
		int r = object_state(store, path, size);

		if (r < 0 || r == 1)
			return r < 0 ? r : 0;
		*ret_replace = r == 2;
		pthread_mutex_lock(&store->lock);
		if (set_find(&store->staged, digest, &(size_t){ 0 })) {
			pthread_mutex_unlock(&store->lock);
			return 0;
		}
		if (set_find(&store->writing, digest, &(size_t){ 0 })) {
			/* then look again: it may have failed */
			pthread_cond_wait(&store->written, &store->lock);
			pthread_mutex_unlock(&store->lock);
			continue;
		}
		r = set_add(&store->writing, digest);
		pthread_mutex_unlock(&store->lock);
		return r < 0 ? r : 1;
	}
}

/*
 * The end of every add: s->file holds the whole object (written, still
 * open for writing) and this thread is its writer (claim()). Make it the
 * object named s->digest: staged in a batch, or named and durable.
 */
static int settle(struct cfs_store *store, struct staged *s, uint64_t size,
		  struct cfs_error *err)
{
	char path[CFS_OBJECT_PATH_MAX_SIZE];
	_cleanup_close_ int sub_fd = -1;
	bool batch = (store->flags & CFS_STORE_BATCH) != 0;
	bool made_subdir = false;
	const char *step;
	int r;

	cfs_digest_to_object_path_alg(store->alg->id, s->digest, path);
	step = "chmod";
	if (fchmod(s->file.fd, 0644) != 0)
		goto fail_errno;
	step = "fsync";
	if (!batch && fsync(s->file.fd) != 0)
		goto fail_errno;
	/* In a batch, start writing back now so that the one flush at commit
	 * has little left to wait for; failure here only costs that overlap. */
	if (batch)
		(void)sync_file_range(s->file.fd, 0, 0, SYNC_FILE_RANGE_WRITE);

	/* fs-verity refuses files that are open for writing. */
	step = "reopen";
	r = cfs_tmpfile_reopen_readonly(&s->file, store->dir_fd);
	if (r < 0)
		goto fail;
	step = "enable fs-verity";
	r = cfsi_enable_verity(s->file.fd, store->alg->id, s->digest);
	if (r == -EBADMSG) {
		step = "fs-verity digest does not match the object name";
		goto fail;
	}
	if (r < 0)
		goto fail;

	if (batch) {
		/* made durable and named by a commit of its batch */
		return stage(store, s, size, err);
	}

	path[2] = '\0';
	sub_fd = open_subdir(store->dir_fd, path, &made_subdir);
	path[2] = '/';
	step = "create directory";
	if (sub_fd < 0) {
		r = sub_fd;
		goto fail;
	}
	step = "link into place";
	r = cfs_tmpfile_link_from(&s->file, store->dir_fd, sub_fd, path + 3,
				  s->replace);
	if (r < 0)
		goto fail;
	cfs_tmpfile_discard(&s->file, store->dir_fd);
	done_writing(store, s->digest);

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
	cfs_tmpfile_discard(&s->file, store->dir_fd);
	done_writing(store, s->digest);
	return cfs_error_set(err, r, "object %s in %s: %s: %s", path,
			     store->path, step, strerror(-r));
}

int cfs_store_add_fd(struct cfs_store *store, int src_fd, const uint8_t *digest,
		     struct cfs_error *err)
{
	char path[CFS_OBJECT_PATH_MAX_SIZE];
	struct staged s = { .file = { .fd = -1 } };
	const char *step;
	struct stat st;
	int r;

	assert(store != NULL);
	cfs_digest_to_object_path_alg(store->alg->id, digest, path);
	memcpy(s.digest, digest, store->alg->digest_size);

	if (fstat(src_fd, &st) != 0)
		return cfs_error_set(err, -errno, "object %s: source: %s", path,
				     strerror(errno));
	r = claim(store, path, digest, (uint64_t)st.st_size, &s.replace);
	if (r < 0)
		return cfs_error_set(err, r, "object %s in %s: %s", path,
				     store->path, strerror(-r));
	if (r == 0)
		return 0;

	step = "create temporary file";
	r = cfs_tmpfile_create(store->dir_fd, &s.file);
	if (r == 0) {
		step = "copy";
		r = copy_file(src_fd, s.file.fd);
	}
	if (r < 0) {
		cfs_tmpfile_discard(&s.file, store->dir_fd);
		done_writing(store, digest);
		return cfs_error_set(err, r, "object %s in %s: %s: %s", path,
				     store->path, step, strerror(-r));
	}
	return settle(store, &s, (uint64_t)st.st_size, err);
}

/* ------------------------------------------------------------------ */
/* Objects written while their digest is computed */

struct cfsi_store_object {
	struct cfs_tmpfile file;
	uint64_t size;
};

/* Why a new file could not be made: a filesystem out of inodes says "No
 * space left on device" as one out of blocks does. */
static const char *create_error(const struct cfs_store *store, int r)
{
	struct statvfs sv;

	if (r == -ENOSPC && fstatvfs(store->dir_fd, &sv) == 0 &&
	    sv.f_files > 0 && sv.f_favail == 0)
		return "no inodes left on the filesystem";
	return strerror(-r);
}

int cfsi_store_object_begin(struct cfs_store *store,
			    struct cfsi_store_object **ret,
			    struct cfs_error *err)
{
	struct cfsi_store_object *o = calloc(1, sizeof(*o));
	int r;

	if (o == NULL)
		return cfs_error_set(err, -ENOMEM, "out of memory");
	r = cfs_tmpfile_create(store->dir_fd, &o->file);
	if (r < 0) {
		free(o);
		return cfs_error_set(err, r, "object store %s: new object: %s",
				     store->path, create_error(store, r));
	}
	*ret = o;
	return 0;
}

int cfsi_store_object_write(struct cfsi_store_object *o, const void *data,
			    size_t len)
{
	int r = cfsi_write_all(o->file.fd, data, len);

	if (r == 0)
		o->size += len;
	return r;
}

int cfsi_store_object_hole(struct cfsi_store_object *o, uint64_t len)
{
	/* the size first: past what the filesystem holds that is EFBIG,
	 * where the seek would only say EINVAL */
	if (ftruncate(o->file.fd, (off_t)(o->size + len)) != 0 ||
	    lseek(o->file.fd, (off_t)len, SEEK_CUR) < 0)
		return -errno;
	o->size += len;
	return 0;
}

void cfsi_store_object_abort(struct cfs_store *store,
			     struct cfsi_store_object *o)
{
	if (o == NULL)
		return;
	cfs_tmpfile_discard(&o->file, store->dir_fd);
	free(o);
}

int cfsi_store_object_finish(struct cfs_store *store,
			     struct cfsi_store_object *o, const uint8_t *digest,
			     struct cfs_error *err)
{
	char path[CFS_OBJECT_PATH_MAX_SIZE];
	struct staged s = { .file = o->file };
	uint64_t size = o->size;
	int r;

	free(o);
	memcpy(s.digest, digest, store->alg->digest_size);
	cfs_digest_to_object_path_alg(store->alg->id, digest, path);
	r = claim(store, path, digest, size, &s.replace);
	if (r <= 0) {
		/* already there (or failed): the bytes written go */
		cfs_tmpfile_discard(&s.file, store->dir_fd);
		if (r < 0)
			return cfs_error_set(err, r, "object %s in %s: %s",
					     path, store->path, strerror(-r));
		return 1;
	}
	return settle(store, &s, size, err);
}

bool cfsi_store_has(struct cfs_store *store, const uint8_t *digest,
		    uint64_t size)
{
	char path[CFS_OBJECT_PATH_MAX_SIZE];
	size_t slot;
	bool staged;

	cfs_digest_to_object_path_alg(store->alg->id, digest, path);
	if (object_state(store, path, size) == 1)
		return true;
	pthread_mutex_lock(&store->lock);
	staged = set_find(&store->staged, digest, &slot);
	pthread_mutex_unlock(&store->lock);
	return staged;
}
