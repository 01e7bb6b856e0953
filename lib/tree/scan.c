/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Directory scan: a source tree to a node tree. Metadata is read in one
 * depth-first pass (entries in name order, so the result does not depend on
 * readdir order); file contents are then digested, inlined and stored by a
 * pool of worker threads.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tree/node_i.h"
#include "store/store_i.h"
#include "format/hash_alg_i.h"
#include "base/util.h"

/* Reads of a file being digested and stored. */
#define READ_CHUNK (256 * 1024)

struct work_item {
	struct cfs_node *node;
	char *path;
};

struct inode_key {
	dev_t dev;
	ino_t ino;
	struct cfs_node *node;
};

struct scan {
	const struct cfs_build_options *opts;
	unsigned flags;
	enum cfs_hash_alg alg; /* of the digests */
	struct cfs_error *err;

	struct work_item *work;
	size_t n_work, cap_work;

	/* (dev, ino) -> first node seen, for --hardlinks */
	struct inode_key *links;
	size_t links_size, links_used;

	/* Worker pool, running while the scan goes on: the scanner appends
	 * to work, workers take items in order. All under lock. */
	pthread_mutex_t lock;
	pthread_cond_t more;
	size_t next, done;
	bool scan_done;
	bool failed;
	atomic_int store_score; /* see digest_and_store() */
	int worker_error; /* the first worker failure... */
	struct cfs_error worker_err; /* ...and its message */
};

static int path_fail(struct cfs_error *err, int r, const char *path,
		     const char *what)
{
	return cfs_error_set(err, r, "%s: %s: %s", path, what, strerror(-r));
}

static int scan_fail(struct scan *s, int r, const char *path, const char *what)
{
	return path_fail(s->err, r, path, what);
}

static char *join_path(const char *dir, const char *name)
{
	size_t ld = strlen(dir), ln = strlen(name);
	char *p = malloc(ld + ln + 2);

	if (p == NULL)
		return NULL;
	memcpy(p, dir, ld);
	if (ld > 0 && dir[ld - 1] != '/')
		p[ld++] = '/';
	memcpy(p + ld, name, ln + 1);
	return p;
}

static int read_xattrs(struct scan *s, struct cfs_node *node, const char *path)
{
	_cleanup_free_ char *heap_list = NULL;
	char stack_list[1024];
	char *list = stack_list;
	ssize_t size;

	/* Most files have few or no xattrs: try a buffer on the stack first,
	 * one system call for the common case. */
	size = llistxattr(path, stack_list, sizeof(stack_list));
	while (size < 0 && errno == ERANGE) {
		size = llistxattr(path, NULL, 0);
		if (size < 0)
			break;
		free(heap_list);
		heap_list = malloc(size + 1);
		if (heap_list == NULL)
			return -ENOMEM;
		list = heap_list;
		/* ERANGE again: it grew meanwhile, ask again */
		size = llistxattr(path, list, size + 1);
	}
	if (size < 0) {
		if (errno == ENOTSUP)
			return 0;
		return scan_fail(s, -errno, path, "listing xattrs");
	}

	for (char *name = list; name < list + size; name += strlen(name) + 1) {
		char stack_buf[256];
		_cleanup_free_ char *heap_buf = NULL;
		char *value = stack_buf;
		ssize_t len;
		int r;

		if ((s->flags & CFS_BUILD_USER_XATTRS) &&
		    !str_has_prefix(name, "user."))
			continue;
		len = lgetxattr(path, name, value, sizeof(stack_buf));
		if (len < 0 && errno == ERANGE) {
			len = lgetxattr(path, name, NULL, 0);
			if (len >= 0) {
				heap_buf = malloc(len + 1);
				if (heap_buf == NULL)
					return -ENOMEM;
				value = heap_buf;
				len = lgetxattr(path, name, value, len);
			}
		}
		if (len < 0) {
			if (errno == ENODATA)
				continue; /* removed meanwhile */
			return scan_fail(s, -errno, path, "reading xattr");
		}
		r = cfs_node_set_xattr(node, name, value, len);
		if (r < 0)
			return cfs_error_set(s->err, r, "%s: xattr '%s': %s",
					     path, name, strerror(-r));
	}
	return 0;
}

static int add_work(struct scan *s, struct cfs_node *node, const char *path)
{
	char *copy = strdup(path);
	int r = 0;

	if (copy == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	if (s->n_work == s->cap_work) {
		size_t cap = s->cap_work ? s->cap_work * 2 : 256;
		struct work_item *w = reallocarray(s->work, cap, sizeof(*w));

		if (w == NULL) {
			r = -ENOMEM;
			goto out;
		}
		s->work = w;
		s->cap_work = cap;
	}
	s->work[s->n_work++] = (struct work_item){ node, TAKE_PTR(copy) };
	pthread_cond_signal(&s->more);
out:
	pthread_mutex_unlock(&s->lock);
	free(copy);
	return r;
}

/* Returns the node first seen with this (dev, ino), recording node if it is
 * the first. */
static int remember_inode(struct scan *s, const struct stat *st,
			  struct cfs_node *node, struct cfs_node **ret_first)
{
	size_t mask, slot;

	if (s->links_used * 2 >= s->links_size) {
		size_t size = s->links_size ? s->links_size * 2 : 256;
		struct inode_key *t = calloc(size, sizeof(*t));

		if (t == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < s->links_size; i++) {
			struct inode_key *k = &s->links[i];

			if (k->node == NULL)
				continue;
			slot = (k->ino * 31 + k->dev) & (size - 1);
			while (t[slot].node != NULL)
				slot = (slot + 1) & (size - 1);
			t[slot] = *k;
		}
		free(s->links);
		s->links = t;
		s->links_size = size;
	}
	mask = s->links_size - 1;
	for (slot = (st->st_ino * 31 + st->st_dev) & mask;
	     s->links[slot].node != NULL; slot = (slot + 1) & mask) {
		if (s->links[slot].dev == st->st_dev &&
		    s->links[slot].ino == st->st_ino) {
			*ret_first = s->links[slot].node;
			return 0;
		}
	}
	s->links[slot] = (struct inode_key){ st->st_dev, st->st_ino, node };
	s->links_used++;
	*ret_first = node;
	return 0;
}

static int load_node(struct scan *s, int dirfd, const char *name,
		     const char *path, const struct stat *st,
		     struct cfs_node **ret_node)
{
	struct cfs_node *node = cfs_node_new();
	int r;

	if (node == NULL)
		return -ENOMEM;
	r = cfs_node_set_mode(node, st->st_mode);
	if (r < 0) {
		cfs_node_unref(node);
		return scan_fail(s, r, path, "unsupported file type");
	}
	node->uid = st->st_uid;
	node->gid = st->st_gid;
	/* The image holds a 32-bit device number, as the kernel encodes it. */
	node->rdev = (uint32_t)st->st_rdev;
	node->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	if (!(s->flags & CFS_BUILD_USE_EPOCH)) {
		node->mtime_sec = st->st_mtim.tv_sec;
		node->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	}

	if (S_ISLNK(st->st_mode)) {
		char target[CFS_PAYLOAD_MAX + 2];
		ssize_t len = readlinkat(dirfd, name, target, sizeof(target));

		if (len < 0)
			r = scan_fail(s, -errno, path, "reading symlink");
		else if (len > CFS_PAYLOAD_MAX)
			r = scan_fail(s, -ENAMETOOLONG, path, "symlink target");
		else {
			target[len] = '\0';
			r = cfs_node_set_symlink_target(node, target);
			if (r < 0)
				r = scan_fail(s, r, path, "symlink target");
		}
	}
	if (r == 0 && !(s->flags & CFS_BUILD_SKIP_XATTRS))
		r = read_xattrs(s, node, path);
	if (r < 0) {
		cfs_node_unref(node);
		return r;
	}
	*ret_node = node;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int scan_node(struct scan *s, int dirfd, const char *name,
		     const char *path, const struct stat *st,
		     struct cfs_node *node);

static int scan_dir(struct scan *s, int dirfd, const char *name,
		    const char *path, struct cfs_node *dir)
{
	int fd = openat(dirfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	int r = 0;

	if (fd < 0)
		return scan_fail(s, -errno, path, "opening directory");
	d = fdopendir(fd);
	if (d == NULL) {
		r = scan_fail(s, -errno, path, "opening directory");
		close(fd);
		return r;
	}
	for (;;) {
		struct dirent *de;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				r = scan_fail(s, -errno, path,
					      "reading directory");
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 32;
			nn = reallocarray(names, cap, sizeof(*nn));
			if (nn == NULL) {
				r = -ENOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	if (r == 0 && n > 1)
		qsort(names, n, sizeof(*names), cmp_names);

	for (size_t i = 0; i < n && r == 0; i++) {
		_cleanup_free_ char *child_path = join_path(path, names[i]);
		struct cfs_node *child;
		struct stat st;

		if (child_path == NULL) {
			r = -ENOMEM;
			break;
		}
		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = scan_fail(s, -errno, child_path, "stat");
			break;
		}
		if ((s->flags & CFS_BUILD_SKIP_DEVICES) &&
		    (S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode)))
			continue;
		r = load_node(s, fd, names[i], child_path, &st, &child);
		if (r < 0)
			break;
		r = cfs_node_add_child(dir, child, names[i]);
		if (r < 0) {
			cfs_node_unref(child);
			r = scan_fail(s, r, child_path, "adding to tree");
			break;
		}
		r = scan_node(s, fd, names[i], child_path, &st, child);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

static int scan_node(struct scan *s, int dirfd, const char *name,
		     const char *path, const struct stat *st,
		     struct cfs_node *node)
{
	if (S_ISDIR(st->st_mode))
		return scan_dir(s, dirfd, name, path, node);

	if ((s->flags & CFS_BUILD_HARDLINKS) && st->st_nlink > 1) {
		struct cfs_node *first;
		int r = remember_inode(s, st, node, &first);

		if (r < 0)
			return r;
		if (first != node) {
			/* A hard link carries no content of its own. */
			node->nlink = 1;
			return cfs_node_make_hardlink(node, first);
		}
	}
	if (S_ISREG(st->st_mode) && st->st_size > 0)
		return add_work(s, node, path);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Content: digest, inline, store */

static int read_full(int fd, uint8_t *buf, size_t len)
{
	ssize_t n = cfsi_pread_all(fd, buf, len, 0);

	if (n >= 0 && (size_t)n < len)
		return -ENODATA; /* shrank under us */
	return n < 0 ? (int)n : 0;
}

/*
 * Copy the file into the store while its digest is computed: each chunk
 * feeds the digest and the object's file, so the object holds exactly the
 * bytes its name is computed from, even if the source changes meanwhile.
 * With expected (the digest of an earlier read), the bytes must give that
 * digest again, else the file changed between the reads: -ESTALE. Returns
 * 1 when the store had the object already (the copy never reaches the
 * disk), 0 when it went in.
 */
static int copy_and_digest(struct scan *s, int fd, struct cfs_node *node,
			   const char *path, const uint8_t *expected,
			   uint8_t *digest, struct cfs_error *err)
{
	struct cfsi_store_object *obj = NULL;
	struct cfs_fsverity *ctx = NULL;
	_cleanup_free_ uint8_t *buf = malloc(READ_CHUNK);
	struct cfs_error store_err = { { 0 } };
	uint64_t off = 0;
	const char *what = "reading";
	int r;

	ctx = cfs_fsverity_new_alg(s->alg);
	if (buf == NULL || ctx == NULL) {
		cfs_fsverity_free(ctx);
		return cfs_error_set(err, -ENOMEM, "out of memory");
	}
	r = cfsi_store_object_begin(s->opts->store, &obj, &store_err);
	if (r < 0) {
		cfs_fsverity_free(ctx);
		return cfs_error_set(err, r, "%s: storing object: %s", path,
				     store_err.message);
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t n = cfsi_pread_all(fd, buf, READ_CHUNK, off);

		if (n <= 0) {
			r = (int)n;
			break;
		}
		r = cfs_fsverity_update(ctx, buf, (size_t)n);
		if (r < 0) {
			what = "computing digest";
			break;
		}
		r = cfsi_store_object_write(obj, buf, (size_t)n);
		if (r < 0) {
			what = "storing object";
			break;
		}
		off += (uint64_t)n;
	}
	if (r == 0 && off != node->size) {
		r = -ESTALE;
		what = "changed size while being read";
	}
	if (r == 0)
		r = cfs_fsverity_final(ctx, digest);
	cfs_fsverity_free(ctx);
	if (r == 0 && expected != NULL &&
	    memcmp(digest, expected, cfs_hash_alg_digest_size(s->alg)) != 0) {
		r = -ESTALE;
		what = "changed while being read";
	}
	if (r < 0) {
		cfsi_store_object_abort(s->opts->store, obj);
		if (r == -ESTALE)
			return cfs_error_set(err, r, "%s: %s", path, what);
		return path_fail(err, r, path, what);
	}
	r = cfsi_store_object_finish(s->opts->store, obj, digest, &store_err);
	if (r < 0)
		return cfs_error_set(err, r, "%s: storing object: %s", path,
				     store_err.message);
	return r;
}

/*
 * Which way to store a file pays depends on the store: into an empty one,
 * one read that feeds the digest and the copy; into one that has most
 * objects already (a second version of a tree, a run again after an
 * interruption), a read for the digest alone, and a copy (checked against
 * that digest) only for the objects missing. The last files tell which:
 * s->store_score counts up for each object found, down for each missing.
 */
#define STORE_SCORE_MAX 32

static void store_score(struct scan *s, bool found)
{
	int v = atomic_load(&s->store_score);

	if (found && v < STORE_SCORE_MAX)
		atomic_fetch_add(&s->store_score, 1);
	else if (!found && v > -STORE_SCORE_MAX)
		atomic_fetch_sub(&s->store_score, 1);
}

static int digest_and_store(struct scan *s, int fd, struct cfs_node *node,
			    const char *path, uint8_t *digest,
			    struct cfs_error *err)
{
	uint8_t first[CFS_DIGEST_MAX_SIZE];
	int r;

	if (atomic_load(&s->store_score) <= 0) {
		r = copy_and_digest(s, fd, node, path, NULL, digest, err);
		if (r >= 0)
			store_score(s, r == 1);
		return r < 0 ? r : 0;
	}
	r = cfs_fsverity_digest_fd_alg(s->alg, fd, first);
	if (r < 0)
		return path_fail(err, r, path, "computing digest");
	if (cfsi_store_has(s->opts->store, first, node->size)) {
		memcpy(digest, first, cfs_hash_alg_digest_size(s->alg));
		store_score(s, true);
		return 0;
	}
	store_score(s, false);
	r = copy_and_digest(s, fd, node, path, first, digest, err);
	return r < 0 ? r : 0;
}

static int process_file(struct scan *s, struct work_item *item,
			struct cfs_error *err)
{
	struct cfs_node *node = item->node;
	bool inline_it = !(s->flags & CFS_BUILD_NO_INLINE) &&
			 node->size <= CFS_INLINE_RECOMMENDED_MAX;
	bool digest_it = !(s->flags & CFS_BUILD_NO_DIGEST);
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	char object[CFS_OBJECT_PATH_MAX_SIZE];
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (!inline_it && !digest_it)
		return 0;
	/* O_NONBLOCK and the check after it: a file swapped for a FIFO or a
	 * device since the scan must not hang us or be read as content */
	fd = open(item->path,
		  O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return path_fail(err, -errno, item->path, "opening");
	if (fstat(fd, &st) != 0)
		return path_fail(err, -errno, item->path, "opening");
	if (!S_ISREG(st.st_mode))
		return cfs_error_set(err, -ESTALE,
				     "%s: no longer a regular file",
				     item->path);

	if (digest_it && !inline_it && s->opts->store != NULL) {
		r = digest_and_store(s, fd, node, item->path, digest, err);
		if (r < 0)
			return r;
	} else if (digest_it) {
		r = cfs_fsverity_digest_fd_alg(s->alg, fd, digest);
		if (r < 0)
			return path_fail(err, r, item->path,
					 "computing digest");
	}
	if (digest_it) {
		(void)cfs_node_set_digest_alg(node, s->alg, digest);
		cfs_digest_to_object_path_alg(s->alg, digest, object);
		r = cfs_node_set_payload(node, object);
		if (r < 0)
			return r;
	}
	if (inline_it) {
		uint8_t buf[CFS_INLINE_RECOMMENDED_MAX];

		r = read_full(fd, buf, node->size);
		if (r < 0)
			return path_fail(err, r, item->path, "reading");
		return cfs_node_set_content(node, buf, node->size);
	}
	return 0;
}

static void *worker(void *data)
{
	struct scan *s = data;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct work_item item;
		struct cfs_error err;
		int r;

		while (s->next >= s->n_work && !s->scan_done && !s->failed)
			pthread_cond_wait(&s->more, &s->lock);
		if (s->failed || s->next >= s->n_work)
			break;
		item = s->work[s->next++];
		pthread_mutex_unlock(&s->lock);

		err.message[0] = '\0';
		r = process_file(s, &item, &err);

		pthread_mutex_lock(&s->lock);
		if (r < 0) {
			if (!s->failed) {
				s->failed = true;
				s->worker_error = r;
				s->worker_err = err;
				pthread_cond_broadcast(&s->more);
			}
			break;
		}
		s->done++;
		if (s->opts->progress != NULL)
			s->opts->progress(s->opts->progress_userdata, s->done,
					  s->n_work);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static unsigned cpu_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	return 1;
}

/* Workers mostly wait for the disk when the tree is not in the page cache
 * (a cold tree digests in two thirds of the time with twice as many
 * workers as processors, and no slower warm), so more than one each. */
static unsigned default_workers(void)
{
	unsigned n = cpu_count() * 2;

	return n < 4 ? 4 : n > 64 ? 64 : n;
}

/* Scan the tree while workers digest the files found so far; the calling
 * thread joins the workers when the scan is over. */
static int scan_and_process(struct scan *s, const char *path,
			    const struct stat *st, struct cfs_node *root)
{
	unsigned n = s->opts->threads ? s->opts->threads : default_workers();
	pthread_t *threads = calloc(n, sizeof(*threads));
	unsigned started = 0;
	int r;

	if (threads == NULL)
		return -ENOMEM;
	for (unsigned i = 1; i < n; i++) {
		if (pthread_create(&threads[i], NULL, worker, s) != 0)
			break;
		started++;
	}
	r = scan_node(s, AT_FDCWD, path, path, st, root);

	pthread_mutex_lock(&s->lock);
	s->scan_done = true;
	if (r < 0)
		s->failed = true;
	pthread_cond_broadcast(&s->more);
	pthread_mutex_unlock(&s->lock);

	if (r == 0)
		worker(s);
	for (unsigned i = 1; i <= started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	if (r == 0 && s->worker_error < 0) {
		r = s->worker_error;
		if (s->err != NULL)
			*s->err = s->worker_err;
	}
	return r;
}

int cfs_build_from_directory(const char *path,
			     const struct cfs_build_options *opts,
			     struct cfs_node **ret_root, struct cfs_error *err)
{
	static const struct cfs_build_options defaults = { 0 };
	struct scan s = { .opts = opts ? opts : &defaults, .err = err };
	struct cfs_node *root = NULL;
	struct stat st;
	int r;

	s.flags = s.opts->flags;
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.more, NULL);
	if ((s.flags & CFS_BUILD_SKIP_XATTRS) &&
	    (s.flags & CFS_BUILD_USER_XATTRS)) {
		r = cfs_error_set(
			err, -EINVAL,
			"skipping xattrs and keeping user xattrs conflict");
		goto out;
	}
	/* the store's algorithm names its objects: the digests are of it */
	{
		const struct cfsi_hash_alg *alg = cfsi_hash_alg_get(
			s.opts->hash_alg);
		const struct cfsi_hash_alg *store_alg =
			s.opts->store ? cfsi_store_hash_alg(s.opts->store) :
					NULL;

		if (alg == NULL) {
			r = cfs_error_set(err, -EOPNOTSUPP,
					  "fs-verity hash algorithm %u is not "
					  "implemented",
					  s.opts->hash_alg);
			goto out;
		}
		if (store_alg != NULL && s.opts->hash_alg != CFS_HASH_DEFAULT &&
		    store_alg != alg) {
			r = cfs_error_set(err, -EINVAL,
					  "digests of %s asked for, the object "
					  "store %s names objects by %s",
					  alg->name,
					  cfsi_store_path(s.opts->store),
					  store_alg->name);
			goto out;
		}
		s.alg = store_alg ? store_alg->id : alg->id;
	}
	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = scan_fail(&s, -errno, path, "stat");
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = scan_fail(&s, -ENOTDIR, path, "source");
		goto out;
	}
	r = load_node(&s, AT_FDCWD, path, path, &st, &root);
	if (r == 0)
		r = scan_and_process(&s, path, &st, root);
	if (r == 0)
		*ret_root = TAKE_PTR(root);
out:
	if (r < 0 && err != NULL && err->message[0] == '\0')
		cfs_error_set(err, r, "%s: %s", path, strerror(-r));
	cfs_node_unref(root);
	for (size_t i = 0; i < s.n_work; i++)
		free(s.work[i].path);
	free(s.work);
	free(s.links);
	pthread_cond_destroy(&s.more);
	pthread_mutex_destroy(&s.lock);
	return r;
}
