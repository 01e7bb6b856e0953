/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * fsck: a check of every file of a repository against what its name
 * promises (objects against their digests, images against theirs, names,
 * layer records), and with repair the broken ones moved into quarantine.
 * Nothing found in the repository is trusted: a file at an object's name
 * may be anything, and is looked at with lstat before it is opened (never
 * blocking on a FIFO).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "composefs-c/repo.h"
#include "repo/layout.h"
#include "repo/repo_i.h"
#include "base/tmpfile_i.h"
#include "base/util.h"
#include "format/fsverity_i.h"

/* ------------------------------------------------------------------ */
/* fsck */

struct fsck {
	struct cfs_repo *repo;
	unsigned flags;
	cfs_repo_problem_fn fn;
	cfs_progress_fn progress;
	void *userdata;
	struct cfs_repo_fsck_stats stats;
	int quarantine_fd;
	/* objects found good, with their sizes */
	struct object_map good;
};

/* Move what is at path (relative to the repository) into quarantine/. */
static int quarantine(struct fsck *f, const char *path)
{
	char flat[PATH_MAX], tmp[CFSI_TMP_NAME_SIZE];
	size_t j = 0;

	if (f->quarantine_fd < 0) {
		if (mkdirat(f->repo->dir_fd, LAYOUT_QUARANTINE, 0700) != 0 &&
		    errno != EEXIST)
			return -errno;
		f->quarantine_fd = openat(f->repo->dir_fd, LAYOUT_QUARANTINE,
					  O_RDONLY | O_DIRECTORY | O_CLOEXEC |
						  O_NOFOLLOW);
		if (f->quarantine_fd < 0)
			return -errno;
	}
	for (size_t i = 0; path[i] && j < sizeof(flat) - 40; i++)
		flat[j++] = path[i] == '/' ? '-' : path[i];
	cfsi_tmpfile_make_name(tmp);
	snprintf(flat + j, sizeof(flat) - j, "%s", tmp + 4);
	if (renameat(f->repo->dir_fd, path, f->quarantine_fd, flat) != 0)
		return -errno;
	return 0;
}

enum fix {
	FIX_NONE,
	FIX_REMOVE,
	FIX_QUARANTINE,
};

static void problem(struct fsck *f, const char *kind, const char *path,
		    enum fix fix, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void problem(struct fsck *f, const char *kind, const char *path,
		    enum fix fix, const char *fmt, ...)
{
	struct cfs_repo_problem p = { .kind = kind, .path = path };
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	p.message = message;
	if ((f->flags & CFS_FSCK_REPAIR) && fix != FIX_NONE) {
		int r = fix == FIX_REMOVE ?
				(unlinkat(f->repo->dir_fd, path, 0) == 0 ?
					 0 :
					 -errno) :
				quarantine(f, path);

		p.repaired = r == 0;
	}
	f->stats.n_problems++;
	if (f->fn != NULL)
		f->fn(f->userdata, &p);
}

/* Objects to hash, and what came of it. */
struct check_item {
	char path[CFS_OBJECT_PATH_MAX_SIZE + 8]; /* "objects/ab/cdef..." */
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	uint64_t size;
	int result; /* 0 good, -EILSEQ wrong content, -EUCLEAN changed type,
		       or -errno */
	uint8_t actual[CFS_DIGEST_MAX_SIZE];
};

struct hash_pool {
	struct fsck *f;
	struct check_item *items;
	size_t n;
	atomic_size_t next;
	pthread_mutex_t lock;
	uint64_t done;
};

static void check_object(struct fsck *f, struct check_item *it)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = openat(f->repo->dir_fd, it->path,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		it->result = errno == ELOOP ? -EUCLEAN : -errno;
		return;
	}
	if (fstat(fd, &st) != 0) {
		it->result = -errno;
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		it->result = -EUCLEAN;
		return;
	}
	it->size = (uint64_t)st.st_size;
	it->result = cfsi_file_digest(fd, f->repo->alg, it->actual);
	if (it->result == 0 &&
	    memcmp(it->actual, it->digest, f->repo->digest_size) != 0)
		it->result = -EILSEQ;
}

static void *hash_worker(void *data)
{
	struct hash_pool *p = data;

	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);

		if (i >= p->n)
			break;
		check_object(p->f, &p->items[i]);
		if (p->f->progress != NULL) {
			pthread_mutex_lock(&p->lock);
			p->done++;
			p->f->progress(p->f->userdata, p->done, p->n);
			pthread_mutex_unlock(&p->lock);
		}
	}
	return NULL;
}

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

static int hash_all(struct fsck *f, struct check_item *items, size_t n,
		    unsigned threads)
{
	struct hash_pool pool = { .f = f, .items = items, .n = n };
	pthread_t tids[64];
	unsigned started = 0;

	if (threads == 0)
		threads = default_threads();
	if (threads > 64)
		threads = 64;
	pthread_mutex_init(&pool.lock, NULL);
	for (unsigned i = 1; i < threads && i < n; i++) {
		if (pthread_create(&tids[started], NULL, hash_worker, &pool) !=
		    0)
			break;
		started++;
	}
	hash_worker(&pool);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&pool.lock);
	return 0;
}

/* objects/: every entry looked at, every object hashed. */
static int fsck_objects(struct fsck *f, unsigned threads, struct cfs_error *err)
{
	struct cfsi_dir_list top = { 0 };
	struct check_item *items = NULL;
	size_t n_items = 0, cap = 0;
	char path[PATH_MAX];
	int r;

	r = cfsi_list_dir(f->repo->dir_fd, LAYOUT_OBJECTS, &top);
	if (r < 0)
		return cfs_error_set(err, r, "%s/" LAYOUT_OBJECTS ": %s",
				     f->repo->path, strerror(-r));
	for (size_t i = 0; i < top.n; i++) {
		struct cfsi_dir_list sub = { 0 };
		struct stat st;

		snprintf(path, sizeof(path), LAYOUT_OBJECTS "/%s",
			 top.names[i]);
		if (cfsi_is_tmp_name(top.names[i])) {
			problem(f, "leftover", path, FIX_REMOVE,
				"temporary file of an interrupted write");
			continue;
		}
		if (fstatat(f->repo->dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) !=
		    0) {
			problem(f, "unreadable", path, FIX_NONE, "%s",
				strerror(errno));
			continue;
		}
		if (!cfsi_is_lower_hex(top.names[i], 2) ||
		    !S_ISDIR(st.st_mode)) {
			problem(f, "stray", path, FIX_QUARANTINE,
				cfsi_is_lower_hex(top.names[i],
						  f->repo->digest_size * 2) ?
					"an object outside its fan-out directory" :
					"not an object directory of the store");
			continue;
		}
		r = cfsi_list_dir(f->repo->dir_fd, path, &sub);
		if (r < 0) {
			problem(f, "unreadable", path, FIX_NONE, "%s",
				strerror(-r));
			continue;
		}
		for (size_t k = 0; k < sub.n; k++) {
			const char *name = sub.names[k];

			snprintf(path, sizeof(path), LAYOUT_OBJECTS "/%s/%s",
				 top.names[i], name);
			if (cfsi_is_tmp_name(name)) {
				problem(f, "leftover", path, FIX_REMOVE,
					"temporary file of an interrupted write");
				continue;
			}
			if (!cfsi_is_lower_hex(name,
					       f->repo->digest_size * 2 - 2)) {
				problem(f, "stray", path, FIX_QUARANTINE,
					"not named as an object of the repository's algorithm (%s)",
					cfs_hash_alg_name(f->repo->alg));
				continue;
			}
			if (fstatat(f->repo->dir_fd, path, &st,
				    AT_SYMLINK_NOFOLLOW) != 0) {
				problem(f, "unreadable", path, FIX_NONE, "%s",
					strerror(errno));
				continue;
			}
			if (!S_ISREG(st.st_mode)) {
				problem(f, "not-regular", path, FIX_QUARANTINE,
					"an object that is not a regular file (%s)",
					S_ISLNK(st.st_mode)  ? "a symlink" :
					S_ISDIR(st.st_mode)  ? "a directory" :
					S_ISFIFO(st.st_mode) ? "a FIFO" :
					S_ISSOCK(st.st_mode) ? "a socket" :
							       "a device");
				continue;
			}
			if (n_items == cap) {
				void *p;

				cap = cap ? cap * 2 : 1024;
				p = reallocarray(items, cap, sizeof(*items));
				if (p == NULL) {
					cfsi_dir_list_free(&sub);
					r = cfs_error_set(err, -ENOMEM,
							  "out of memory");
					goto out;
				}
				items = p;
			}
			memset(&items[n_items], 0, sizeof(items[n_items]));
			snprintf(items[n_items].path,
				 sizeof(items[n_items].path),
				 LAYOUT_OBJECTS "/%.2s/%.126s", top.names[i],
				 name);
			{
				char obj[CFS_OBJECT_PATH_MAX_SIZE];

				snprintf(obj, sizeof(obj), "%s/%s",
					 top.names[i], name);
				(void)cfsi_object_path_to_digest(
					obj, f->repo->alg,
					items[n_items].digest);
			}
			n_items++;
		}
		cfsi_dir_list_free(&sub);
	}

	hash_all(f, items, n_items, threads);

	r = 0;
	for (size_t i = 0; i < n_items; i++) {
		struct check_item *it = &items[i];
		char hex[CFS_DIGEST_HEX_MAX_SIZE];
		struct object_entry *e;

		switch (it->result) {
		case 0:
			f->stats.n_objects++;
			f->stats.object_bytes += it->size;
			e = cfsi_object_map_add(&f->good, it->digest);
			if (e == NULL) {
				r = cfs_error_set(err, -ENOMEM,
						  "out of memory");
				goto out;
			}
			e->size = it->size;
			break;
		case -EILSEQ:
			cfsi_repo_to_hex(f->repo, it->actual, hex);
			problem(f, "corrupt-object", it->path, FIX_QUARANTINE,
				"content does not match the name (its digest is %s)",
				hex);
			break;
		case -EUCLEAN:
			problem(f, "not-regular", it->path, FIX_QUARANTINE,
				"an object that is not a regular file");
			break;
		default:
			problem(f, "unreadable", it->path, FIX_NONE, "%s",
				strerror(-it->result));
		}
	}
out:
	free(items);
	cfsi_dir_list_free(&top);
	return r;
}

struct image_check {
	struct fsck *f;
	const char *image_path;
};

/*
 * An object the walk of objects/ did not find good, looked at again: an add
 * running beside fsck (both hold the lock shared) may have put an image
 * and its objects in place since; its objects came first. 0 when it is
 * good now (and counted so).
 */
static int recheck_object(struct fsck *f, const uint8_t *digest,
			  const char *payload)
{
	struct check_item it = { 0 };
	struct object_entry *e;

	snprintf(it.path, sizeof(it.path), LAYOUT_OBJECTS "/%s", payload);
	memcpy(it.digest, digest, f->repo->digest_size);
	check_object(f, &it);
	if (it.result < 0)
		return it.result;
	e = cfsi_object_map_add(&f->good, digest);
	if (e == NULL)
		return -ENOMEM;
	e->size = it.size;
	return 0;
}

static int check_image_object(void *userdata, const char *payload,
			      const uint8_t *digest, uint64_t size)
{
	struct image_check *c = userdata;
	const struct object_entry *e;
	char path[PATH_MAX];

	if (digest == NULL) {
		problem(c->f, "bad-object-path", c->image_path, FIX_NONE,
			"names the object '%s', not a path of the store layout",
			payload);
		return 0;
	}
	snprintf(path, sizeof(path), LAYOUT_OBJECTS "/%s", payload);
	e = cfsi_object_map_find(&c->f->good, digest);
	if (e == NULL && recheck_object(c->f, digest, payload) == 0)
		e = cfsi_object_map_find(&c->f->good, digest);
	if (e == NULL)
		problem(c->f, "missing-object", path, FIX_NONE,
			"used by %s, not in the store (or damaged)",
			c->image_path);
	else if (e->size != size)
		problem(c->f, "missing-object", path, FIX_NONE,
			"used by %s as %llu bytes, the object has %llu",
			c->image_path, (unsigned long long)size,
			(unsigned long long)e->size);
	return 0;
}

static int fsck_images(struct fsck *f, struct cfs_error *err)
{
	struct cfsi_dir_list l = { 0 };
	char path[PATH_MAX];
	int r;

	r = cfsi_list_dir(f->repo->dir_fd, LAYOUT_IMAGES, &l);
	if (r < 0)
		return cfs_error_set(err, r, "%s/" LAYOUT_IMAGES ": %s",
				     f->repo->path, strerror(-r));
	for (size_t i = 0; i < l.n; i++) {
		struct cfs_error detail = { { 0 } };
		uint8_t digest[CFS_DIGEST_MAX_SIZE];
		struct cfs_node *root = NULL;
		struct image_check c = { f, path };

		snprintf(path, sizeof(path), LAYOUT_IMAGES "/%s", l.names[i]);
		if (cfsi_is_tmp_name(l.names[i])) {
			problem(f, "leftover", path, FIX_REMOVE,
				"temporary file of an interrupted write");
			continue;
		}
		if (!cfsi_is_lower_hex(l.names[i], f->repo->digest_size * 2) ||
		    cfsi_repo_from_hex(f->repo, l.names[i], digest) < 0) {
			problem(f, "stray", path, FIX_QUARANTINE,
				"not named as an image");
			continue;
		}
		r = cfsi_repo_load_tree(f->repo, digest, NULL, &root, &detail);
		if (r == -ENOMEM) {
			cfsi_dir_list_free(&l);
			return cfs_error_set(err, r, "out of memory");
		}
		if (r < 0) {
			problem(f, "corrupt-image", path, FIX_QUARANTINE, "%s",
				detail.message);
			continue;
		}
		f->stats.n_images++;
		r = cfsi_tree_for_each_object(root, f->repo->alg,
					      check_image_object, &c);
		cfs_node_unref(root);
	}
	cfsi_dir_list_free(&l);
	return 0;
}

static int fsck_names(struct fsck *f, struct cfs_error *err)
{
	struct cfsi_dir_list l = { 0 };
	char path[PATH_MAX];
	int r;

	r = cfsi_list_dir(f->repo->dir_fd, LAYOUT_NAMES, &l);
	if (r < 0)
		return cfs_error_set(err, r, "%s/" LAYOUT_NAMES ": %s",
				     f->repo->path, strerror(-r));
	for (size_t i = 0; i < l.n; i++) {
		struct cfs_error detail = { { 0 } };
		uint8_t digest[CFS_DIGEST_MAX_SIZE];
		char hex[CFS_DIGEST_HEX_MAX_SIZE], image[PATH_MAX];
		struct stat st;

		snprintf(path, sizeof(path), LAYOUT_NAMES "/%s", l.names[i]);
		if (cfsi_is_tmp_name(l.names[i])) {
			problem(f, "leftover", path, FIX_REMOVE,
				"temporary file of an interrupted write");
			continue;
		}
		if (cfs_repo_resolve(f->repo, l.names[i], digest, &detail) <
		    0) {
			problem(f, "bad-name", path, FIX_QUARANTINE, "%s",
				detail.message);
			continue;
		}
		f->stats.n_names++;
		cfsi_repo_to_hex(f->repo, digest, hex);
		snprintf(image, sizeof(image), LAYOUT_IMAGES "/%s", hex);
		if (fstatat(f->repo->dir_fd, image, &st, AT_SYMLINK_NOFOLLOW) !=
		    0)
			problem(f, "dangling-name", path, FIX_QUARANTINE,
				"names the image %s, which is missing", hex);
	}
	cfsi_dir_list_free(&l);
	return 0;
}

/* The records of imported layers: each names an image that is there. A
 * bad one only costs a later import the reading of that layer again (gc
 * removes it too). */
static void fsck_layers(struct fsck *f)
{
	struct cfsi_dir_list l = { 0 };
	char path[PATH_MAX];

	if (cfsi_list_dir(f->repo->dir_fd, LAYOUT_LAYERS, &l) < 0)
		return; /* an older repository has none */
	for (size_t i = 0; i < l.n; i++) {
		char line[CFS_DIGEST_HEX_MAX_SIZE + 8], image[PATH_MAX];
		uint8_t digest[CFS_DIGEST_MAX_SIZE];
		struct stat st;
		ssize_t n;

		snprintf(path, sizeof(path), LAYOUT_LAYERS "/%s", l.names[i]);
		if (cfsi_is_tmp_name(l.names[i])) {
			problem(f, "leftover", path, FIX_REMOVE,
				"temporary file of an interrupted write");
			continue;
		}
		n = cfsi_repo_read_file(f->repo, LAYOUT_LAYERS, l.names[i],
					line, sizeof(line));
		/* named by the layer's diff_id (sha256), holding the
		 * digest of an image of the repository */
		if (!cfsi_is_lower_hex(l.names[i], 64) ||
		    (size_t)n != f->repo->digest_size * 2 + 1 ||
		    line[n - 1] != '\n' ||
		    (line[n - 1] = '\0',
		     cfsi_repo_from_hex(f->repo, line, digest)) < 0) {
			problem(f, "bad-layer", path, FIX_QUARANTINE,
				"not a layer record (one line: an image's "
				"digest)");
			continue;
		}
		snprintf(image, sizeof(image), LAYOUT_IMAGES "/%s", line);
		if (fstatat(f->repo->dir_fd, image, &st, AT_SYMLINK_NOFOLLOW) !=
		    0)
			problem(f, "dangling-layer", path, FIX_QUARANTINE,
				"names the image %s, which is missing", line);
	}
	cfsi_dir_list_free(&l);
}

/* The Merkle trees composefs mount --fuse kept (a cache, so a bad one is
 * removed when repairing): each a regular file of the leaves of an object
 * that is there and good, from which its digest follows. A temporary file
 * younger than the grace period may still be being written. */
static void fsck_trees(struct fsck *f)
{
	struct cfsi_dir_list l = { 0 };
	char path[PATH_MAX];
	int dir_fd;

	if (cfsi_list_dir(f->repo->dir_fd, LAYOUT_TREES, &l) < 0)
		return; /* none kept yet */
	dir_fd = openat(f->repo->dir_fd, LAYOUT_TREES,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; i < l.n && dir_fd >= 0; i++) {
		uint8_t digest[CFS_DIGEST_MAX_SIZE];
		uint8_t measured[CFS_DIGEST_MAX_SIZE];
		const size_t hash_size = f->repo->digest_size;
		_cleanup_free_ uint8_t *leaves = NULL;
		const struct object_entry *e;
		_cleanup_close_ int fd = -1;
		struct stat st;
		uint64_t n;

		snprintf(path, sizeof(path), LAYOUT_TREES "/%s", l.names[i]);
		if (fstatat(dir_fd, l.names[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* gone meanwhile */
		if (l.names[i][0] == '.') {
			if (time(NULL) - st.st_mtime > LAYOUT_TREES_TMP_GRACE_S)
				problem(f, "leftover", path, FIX_REMOVE,
					"temporary file of an interrupted "
					"write");
			continue;
		}
		if (!cfsi_is_lower_hex(l.names[i], hash_size * 2) ||
		    cfsi_repo_from_hex(f->repo, l.names[i], digest) < 0) {
			problem(f, "stray-tree", path, FIX_REMOVE,
				"not named by an object's digest");
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			problem(f, "bad-tree", path, FIX_REMOVE,
				"a Merkle tree that is not a regular file");
			continue;
		}
		e = cfsi_object_map_find(&f->good, digest);
		if (e == NULL) {
			problem(f, "orphan-tree", path, FIX_REMOVE,
				"the Merkle tree of an object that is missing "
				"or bad");
			continue;
		}
		n = DIV_ROUND_UP(e->size, 4096);
		fd = openat(dir_fd, l.names[i],
			    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
				    O_NOCTTY);
		leaves = malloc(n ? n * hash_size : 1);
		if (fd < 0 || leaves == NULL) {
			problem(f, "unreadable", path, FIX_NONE, "%s",
				strerror(fd < 0 ? errno : ENOMEM));
			continue;
		}
		if ((uint64_t)st.st_size != n * hash_size)
			problem(f, "bad-tree", path, FIX_REMOVE,
				"%llu bytes, not the %llu of its object's "
				"Merkle tree leaves",
				(unsigned long long)st.st_size,
				(unsigned long long)(n * hash_size));
		else if (cfsi_pread_all(fd, leaves, n * hash_size, 0) !=
				 (ssize_t)(n * hash_size) ||
			 cfsi_fsverity_digest_from_leaves(f->repo->alg, leaves,
							  n, e->size,
							  measured) < 0 ||
			 memcmp(measured, digest, hash_size) != 0)
			problem(f, "bad-tree", path, FIX_REMOVE,
				"its leaves do not give the object's digest");
	}
	if (dir_fd >= 0)
		close(dir_fd);
	cfsi_dir_list_free(&l);
}

int cfs_repo_fsck(struct cfs_repo *repo, unsigned flags, unsigned threads,
		  cfs_repo_problem_fn fn, cfs_progress_fn progress,
		  void *userdata, struct cfs_repo_fsck_stats *ret_stats,
		  struct cfs_error *err)
{
	struct fsck f = { .repo = repo,
			  .flags = flags,
			  .fn = fn,
			  .progress = progress,
			  .userdata = userdata,
			  .quarantine_fd = -1 };
	int r;

	f.good.digest_size = repo->digest_size;

	if ((flags & CFS_FSCK_REPAIR) && !(repo->flags & CFS_REPO_EXCLUSIVE))
		return cfs_error_set(
			err, -EINVAL,
			"repairing needs the repository opened exclusive");
	r = fsck_names(&f, err);
	if (r == 0)
		fsck_layers(&f);
	if (r == 0)
		r = fsck_objects(&f, threads, err);
	/* images last: whether their objects are there is known by now */
	if (r == 0)
		r = fsck_images(&f, err);
	if (r == 0)
		fsck_trees(&f);
	if (f.quarantine_fd >= 0)
		close(f.quarantine_fd);
	cfsi_object_map_free(&f.good);
	if (r == 0 && (flags & CFS_FSCK_REPAIR))
		(void)syncfs(repo->dir_fd);
	if (r == 0 && ret_stats != NULL)
		*ret_stats = f.stats;
	return r;
}
