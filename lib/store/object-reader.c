/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Verified reads of objects: the guarantee fs-verity gives, in userspace.
 *
 * In full mode the first open of an object reads it whole, computing the
 * hash of every 4 KiB block (the Merkle tree's leaves) and from them the
 * fs-verity digest; only when that equals the digest in the image are the
 * leaves kept, in a cache keyed by digest. Every later read hashes the
 * blocks it returns and compares them with those trusted leaves, so a
 * block changed on disk after the open is refused, not served.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "composefs-c/composefs.h"
#include "format/fsverity_i.h"
#include "format/hash_alg_i.h"
#include "base/util.h"

#define BLOCK_SIZE 4096
#define DEFAULT_CACHE_BYTES (256u << 20)
#define READ_CHUNK (256 * 1024)
/* blocks of a read hashed in one call (their hashes on the stack) */
#define VERIFY_BATCH 64

struct tree {
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	uint8_t *leaves;
	uint64_t n_leaves;
	int refs; /* the cache's own plus one per open object */
	struct tree *lru_prev, *lru_next; /* in the cache, oldest first */
	struct tree *hash_next;
};

struct cfs_object_cache {
	pthread_mutex_t lock;
	size_t max_bytes, bytes;
	struct tree **buckets;
	size_t n_buckets;
	struct tree *lru_head, *lru_tail;
	int dir_fd; /* trees kept on disk, or -1 */
	const struct cfsi_hash_alg *alg; /* of the objects' digests */
};

struct cfs_object {
	int fd;
	uint64_t size;
	enum cfs_verify mode;
	struct cfs_object_cache *cache;
	struct tree *tree; /* full mode */
	char path[CFS_PAYLOAD_MAX + 1];
};

int cfs_object_cache_set_hash_alg(struct cfs_object_cache *cache,
				  enum cfs_hash_alg alg)
{
	const struct cfsi_hash_alg *a = cfsi_hash_alg_get(alg);

	if (a == NULL)
		return -EOPNOTSUPP;
	cache->alg = a;
	return 0;
}

/* COMPOSEFS_1.1's, of programs built before SHA-512, whose digests given
 * to cfs_object_open() are CFS_DIGEST_SIZE bytes: SHA-256 only, as then. */
int cfsi_object_cache_set_hash_alg_1_1(struct cfs_object_cache *cache,
				       enum cfs_hash_alg alg);
CFS_SYMVER_COMPAT(cfsi_object_cache_set_hash_alg_1_1,
		  cfs_object_cache_set_hash_alg, "COMPOSEFS_1.1");

int cfsi_object_cache_set_hash_alg_1_1(struct cfs_object_cache *cache,
				       enum cfs_hash_alg alg)
{
	if (alg != CFS_HASH_DEFAULT && alg != CFS_HASH_SHA256)
		return -EOPNOTSUPP;
	return cfs_object_cache_set_hash_alg(cache, alg);
}

struct cfs_object_cache *cfs_object_cache_new(size_t max_bytes)
{
	struct cfs_object_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->n_buckets = 4096;
	c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		free(c);
		return NULL;
	}
	c->max_bytes = max_bytes ? max_bytes : DEFAULT_CACHE_BYTES;
	c->dir_fd = -1;
	c->alg = cfsi_hash_alg_get(CFS_HASH_DEFAULT);
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void tree_free(struct tree *t)
{
	free(t->leaves);
	free(t);
}

struct cfs_object_cache *cfs_object_cache_free(struct cfs_object_cache *c)
{
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < c->n_buckets; i++) {
		while (c->buckets[i] != NULL) {
			struct tree *t = c->buckets[i];

			c->buckets[i] = t->hash_next;
			tree_free(t);
		}
	}
	free(c->buckets);
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

static size_t bucket_of(const struct cfs_object_cache *c, const uint8_t *digest)
{
	uint64_t h;

	memcpy(&h, digest, sizeof(h));
	return h % c->n_buckets;
}

static void lru_unlink(struct cfs_object_cache *c, struct tree *t)
{
	if (t->lru_prev)
		t->lru_prev->lru_next = t->lru_next;
	else
		c->lru_head = t->lru_next;
	if (t->lru_next)
		t->lru_next->lru_prev = t->lru_prev;
	else
		c->lru_tail = t->lru_prev;
	t->lru_prev = t->lru_next = NULL;
}

static void lru_append(struct cfs_object_cache *c, struct tree *t)
{
	t->lru_prev = c->lru_tail;
	t->lru_next = NULL;
	if (c->lru_tail)
		c->lru_tail->lru_next = t;
	else
		c->lru_head = t;
	c->lru_tail = t;
}

static void cache_drop(struct cfs_object_cache *c, struct tree *t)
{
	struct tree **p = &c->buckets[bucket_of(c, t->digest)];

	while (*p != t)
		p = &(*p)->hash_next;
	*p = t->hash_next;
	lru_unlink(c, t);
	c->bytes -= t->n_leaves * c->alg->digest_size;
	if (--t->refs == 0)
		tree_free(t);
}

/* A cached tree for digest, with a reference for the caller, or NULL. */
static struct tree *cache_get(struct cfs_object_cache *c, const uint8_t *digest)
{
	struct tree *t;

	pthread_mutex_lock(&c->lock);
	for (t = c->buckets[bucket_of(c, digest)]; t != NULL; t = t->hash_next)
		if (memcmp(t->digest, digest, c->alg->digest_size) == 0)
			break;
	if (t != NULL) {
		t->refs++;
		lru_unlink(c, t);
		lru_append(c, t);
	}
	pthread_mutex_unlock(&c->lock);
	return t;
}

/* Add t (whose only reference is the caller's) and return the tree to use:
 * t, or one another thread added meanwhile. Old trees go when over
 * budget. */
static struct tree *cache_put(struct cfs_object_cache *c, struct tree *t)
{
	struct tree *found;
	size_t b = bucket_of(c, t->digest);

	pthread_mutex_lock(&c->lock);
	for (found = c->buckets[b]; found != NULL; found = found->hash_next)
		if (memcmp(found->digest, t->digest, c->alg->digest_size) == 0)
			break;
	if (found != NULL) {
		found->refs++;
		pthread_mutex_unlock(&c->lock);
		tree_free(t);
		return found;
	}
	t->hash_next = c->buckets[b];
	c->buckets[b] = t;
	t->refs++; /* the cache's */
	lru_append(c, t);
	c->bytes += t->n_leaves * c->alg->digest_size;
	while (c->bytes > c->max_bytes && c->lru_head != NULL &&
	       c->lru_head != t)
		cache_drop(c, c->lru_head);
	pthread_mutex_unlock(&c->lock);
	return t;
}

static void tree_unref(struct cfs_object_cache *c, struct tree *t)
{
	pthread_mutex_lock(&c->lock);
	if (--t->refs == 0)
		tree_free(t);
	pthread_mutex_unlock(&c->lock);
}

/* ------------------------------------------------------------------ */

/* Open path below dir_fd without leaving it or following any symlink.
 * O_NONBLOCK: a FIFO or a device at an object's name must not block the
 * open (the caller refuses anything but a regular file). */
static int open_beneath(int dir_fd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));

	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS)
		/* leaving the store is refused; a symlink in it is damage */
		return errno == EXDEV ? -EACCES :
		       errno == ELOOP ? -EIO :
					-errno;

	/* No openat2: walk the components by hand, refusing ".." and
	 * symlinks at every step. */
	{
		_cleanup_free_ char *copy = strdup(path);
		char *save = NULL, *part, *next;
		int cur = dir_fd, r = -ENOENT;

		if (copy == NULL)
			return -ENOMEM;
		for (part = strtok_r(copy, "/", &save); part != NULL;
		     part = next) {
			int nfd;

			next = strtok_r(NULL, "/", &save);
			if (strcmp(part, "..") == 0) {
				r = -EACCES;
				break;
			}
			nfd = openat(cur, part,
				     O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
					     (next ? O_DIRECTORY :
						     O_NOCTTY | O_NONBLOCK));
			if (cur != dir_fd)
				close(cur);
			cur = dir_fd;
			if (nfd < 0) {
				r = errno == ELOOP ? -EIO : -errno;
				break;
			}
			cur = nfd;
			r = 0;
		}
		if (r < 0) {
			if (cur != dir_fd)
				close(cur);
			return r;
		}
		return cur == dir_fd ? -ENOENT : cur;
	}
}

struct leaf_job {
	enum cfs_hash_alg alg;
	size_t hash_size;
	int fd;
	uint64_t first, end; /* blocks [first, end) */
	uint64_t size;
	uint8_t *leaves;
	int error;
	pthread_t thread;
};

/* Hash the data blocks of one range of the object. */
static void *hash_range(void *data)
{
	struct leaf_job *j = data;
	uint8_t *buf = malloc(READ_CHUNK);
	uint64_t off = j->first * BLOCK_SIZE;
	uint64_t end = j->end * BLOCK_SIZE < j->size ? j->end * BLOCK_SIZE :
						       j->size;

	if (buf == NULL) {
		j->error = -ENOMEM;
		return NULL;
	}
	while (off < end) {
		size_t want = end - off < READ_CHUNK ? end - off : READ_CHUNK;
		ssize_t n = pread(j->fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			j->error = n < 0 ? -errno : -EIO;
			break;
		}
		/* only whole blocks, unless this is the end */
		if ((size_t)n < want && n % BLOCK_SIZE != 0)
			n -= n % BLOCK_SIZE;
		if (n == 0)
			continue;
		j->error = cfsi_fsverity_hash_blocks(
			j->alg, buf, (size_t)n,
			j->leaves + off / BLOCK_SIZE * j->hash_size);
		if (j->error < 0)
			break;
		off += n;
	}
	free(buf);
	return NULL;
}

/* Read the whole object, computing its leaves (on several threads for a
 * large one) and from them its digest. */
static int build_tree(struct cfs_object *o, const uint8_t *digest,
		      struct tree **ret, struct cfs_error *err)
{
	const struct cfsi_hash_alg *alg = o->cache->alg;
	const size_t hash_size = alg->digest_size;
	struct tree *t = calloc(1, sizeof(*t));
	uint8_t measured[CFS_DIGEST_MAX_SIZE];
	struct leaf_job jobs[8];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n_jobs = 1, started = 0;
	int r = 0;

	if (t == NULL)
		return -ENOMEM;
	t->n_leaves = DIV_ROUND_UP(o->size, BLOCK_SIZE);
	t->leaves = malloc(t->n_leaves ? t->n_leaves * hash_size : 1);
	if (t->leaves == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* threads pay off from a few MiB on */
	if (t->n_leaves >= 2048 && cpus > 1)
		n_jobs = cpus < (long)ARRAY_SIZE(jobs) ? (unsigned)cpus :
							 ARRAY_SIZE(jobs);
	(void)posix_fadvise(o->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (unsigned i = 0; i < n_jobs; i++) {
		jobs[i] = (struct leaf_job){
			.alg = alg->id,
			.hash_size = hash_size,
			.fd = o->fd,
			.first = t->n_leaves * i / n_jobs,
			.end = t->n_leaves * (i + 1) / n_jobs,
			.size = o->size,
			.leaves = t->leaves,
		};
		if (i + 1 < n_jobs &&
		    pthread_create(&jobs[i].thread, NULL, hash_range,
				   &jobs[i]) == 0) {
			started++;
			continue;
		}
		/* the last range (or one no thread took) runs here */
		if (i + 1 == n_jobs || started < i + 1) {
			hash_range(&jobs[i]);
			jobs[i].thread = 0;
		}
	}
	for (unsigned i = 0; i < n_jobs; i++) {
		if (jobs[i].thread != 0)
			pthread_join(jobs[i].thread, NULL);
		if (jobs[i].error < 0 && r == 0)
			r = cfs_error_set(err, jobs[i].error,
					  "object %s: reading it failed: %s",
					  o->path, strerror(-jobs[i].error));
	}
	if (r < 0)
		goto out;
	r = cfsi_fsverity_digest_from_leaves(alg->id, t->leaves, t->n_leaves,
					     o->size, measured);
	if (r < 0)
		goto out;
	if (memcmp(measured, digest, hash_size) != 0) {
		char want[CFS_DIGEST_HEX_MAX_SIZE],
			got[CFS_DIGEST_HEX_MAX_SIZE];

		cfs_digest_to_hex_alg(alg->id, digest, want);
		cfs_digest_to_hex_alg(alg->id, measured, got);
		r = cfs_error_set(err, -EIO,
				  "object %s: content has digest %s, the image "
				  "expects %s",
				  o->path, got, want);
		goto out;
	}
	memcpy(t->digest, digest, hash_size);
	t->refs = 1;
	*ret = TAKE_PTR(t);
out:
	if (t != NULL)
		tree_free(t);
	return r;
}

int cfs_object_cache_set_dir(struct cfs_object_cache *c, const char *path,
			     struct cfs_error *err)
{
	int fd;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return cfs_error_set(err, -errno, "tree cache %s: %s", path,
				     strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return cfs_error_set(err, -errno, "tree cache %s: %s", path,
				     errno == ENOTDIR ? "not a directory" :
							strerror(errno));
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	c->dir_fd = fd;
	return 0;
}

/* A tree from the disk cache. Nothing there is trusted: the leaves are
 * only used if the digest built from them is the one asked for. */
static struct tree *disk_load(struct cfs_object_cache *c, const uint8_t *digest,
			      uint64_t size)
{
	const size_t hash_size = c->alg->digest_size;
	char name[CFS_DIGEST_HEX_MAX_SIZE];
	uint8_t measured[CFS_DIGEST_MAX_SIZE];
	struct tree *t;
	struct stat st;
	_cleanup_close_ int fd = -1;
	uint64_t n = DIV_ROUND_UP(size, BLOCK_SIZE);

	if (c->dir_fd < 0 || n == 0)
		return NULL;
	cfs_digest_to_hex_alg(c->alg->id, digest, name);
	/* Whatever sits at the name: a FIFO or a device must not block the
	 * open, and only a regular file of the tree's exact size is read.
	 * Anything else is ignored: the tree is rebuilt from the object and
	 * saved over it. */
	fd = openat(c->dir_fd, name,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != n * hash_size)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->n_leaves = n;
	t->leaves = malloc(n * hash_size);
	if (t->leaves == NULL ||
	    cfsi_pread_all(fd, t->leaves, n * hash_size, 0) !=
		    (ssize_t)(n * hash_size) ||
	    cfsi_fsverity_digest_from_leaves(c->alg->id, t->leaves, n, size,
					     measured) < 0 ||
	    memcmp(measured, digest, hash_size) != 0) {
		tree_free(t);
		return NULL;
	}
	memcpy(t->digest, digest, hash_size);
	t->refs = 1;
	return t;
}

/* Keep a verified tree on disk for later mounts; failure only costs a
 * rebuild next time. Written under a temporary name, then renamed. */
static void disk_save(struct cfs_object_cache *c, const struct tree *t)
{
	char name[CFS_DIGEST_HEX_MAX_SIZE], tmp[CFS_DIGEST_HEX_MAX_SIZE + 32];
	uint64_t len = t->n_leaves * c->alg->digest_size;
	int fd, r;

	if (c->dir_fd < 0 || len == 0)
		return;
	cfs_digest_to_hex_alg(c->alg->id, t->digest, name);
	snprintf(tmp, sizeof(tmp), ".%s.%ld", name, (long)gettid());
	/* a new file only: opening a FIFO left at that name would block */
	(void)unlinkat(c->dir_fd, tmp, 0);
	fd = openat(c->dir_fd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	r = cfsi_pwrite_all(fd, t->leaves, len, 0);
	close(fd);
	if (r < 0 || renameat(c->dir_fd, tmp, c->dir_fd, name) < 0)
		(void)unlinkat(c->dir_fd, tmp, 0);
}

int cfs_object_open(struct cfs_object_cache *cache, const int *basedir_fds,
		    size_t n_basedirs, const char *path, uint64_t size,
		    const uint8_t *digest, enum cfs_verify mode,
		    struct cfs_object **ret_object, struct cfs_error *err)
{
	struct cfs_object *o;
	struct stat st;
	int r = -ENOENT;

	if (path == NULL || path[0] == '\0' || path[0] == '/' ||
	    strlen(path) > CFS_PAYLOAD_MAX)
		return cfs_error_set(err, -EACCES, "object path '%s' refused",
				     path ? path : "");
	if (digest == NULL && mode != CFS_VERIFY_NONE)
		return cfs_error_set(err, -EIO,
				     "object %s: the image has no digest to "
				     "verify it with",
				     path);
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return -ENOMEM;
	strcpy(o->path, path);
	o->fd = -1;
	o->size = size;
	o->mode = mode;
	o->cache = cache;

	for (size_t i = 0; i < n_basedirs && o->fd < 0; i++) {
		r = open_beneath(basedir_fds[i], path);
		if (r >= 0)
			o->fd = r;
		else if (r != -ENOENT)
			break;
	}
	if (o->fd < 0) {
		r = cfs_error_set(err, r,
				  r == -ENOENT ? "object %s: missing" :
						 "object %s: %s",
				  path, strerror(-r));
		goto fail;
	}
	if (fstat(o->fd, &st) < 0) {
		r = cfs_error_set(err, -errno, "object %s: %s", path,
				  strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
		r = S_ISREG(st.st_mode) ?
			    cfs_error_set(err, -EIO,
					  "object %s: wrong size (%lld bytes, "
					  "the image says %llu)",
					  path, (long long)st.st_size,
					  (unsigned long long)size) :
			    cfs_error_set(err, -EIO,
					  "object %s: not a regular file",
					  path);
		goto fail;
	}

	if (mode == CFS_VERIFY_OPEN) {
		const struct cfsi_hash_alg *alg =
			cache != NULL ? cache->alg :
					cfsi_hash_alg_get(CFS_HASH_DEFAULT);
		uint8_t measured[CFS_DIGEST_MAX_SIZE];

		r = cfs_fsverity_digest_fd_alg(alg->id, o->fd, measured);
		if (r < 0) {
			cfs_error_set(err, r, "object %s: %s", path,
				      strerror(-r));
			goto fail;
		}
		if (memcmp(measured, digest, alg->digest_size) != 0) {
			r = cfs_error_set(err, -EIO,
					  "object %s: content does not match "
					  "its digest",
					  path);
			goto fail;
		}
	} else if (mode == CFS_VERIFY_FULL) {
		o->tree = cache_get(cache, digest);
		if (o->tree == NULL) {
			struct tree *t = disk_load(cache, digest, size);

			if (t == NULL) {
				r = build_tree(o, digest, &t, err);
				if (r < 0)
					goto fail;
				disk_save(cache, t);
			}
			o->tree = cache_put(cache, t);
		}
	}
	*ret_object = o;
	return 0;
fail:
	cfs_object_close(o);
	return r;
}

ssize_t cfs_object_pread(struct cfs_object *o, void *buf, size_t len,
			 uint64_t offset, struct cfs_error *err)
{
	uint64_t first, end, span;
	_cleanup_free_ uint8_t *blocks = NULL;
	ssize_t n;

	if (offset >= o->size || len == 0)
		return 0;
	if (len > o->size - offset)
		len = o->size - offset;
	if (o->mode != CFS_VERIFY_FULL) {
		n = cfsi_pread_all(o->fd, buf, len, offset);
		if (n >= 0 && (size_t)n < len)
			n = cfs_error_set(err, -EIO, "object %s: truncated",
					  o->path);
		return n;
	}

	/* whole blocks, each checked against its trusted leaf hash */
	first = offset / BLOCK_SIZE * BLOCK_SIZE;
	end = ALIGN_UP(offset + len, (uint64_t)BLOCK_SIZE);
	if (end > o->size)
		end = o->size;
	span = end - first;
	if (first == offset && span == len) {
		blocks = NULL; /* the caller's buffer is block-aligned */
	} else {
		blocks = malloc(span);
		if (blocks == NULL)
			return -ENOMEM;
	}
	n = cfsi_pread_all(o->fd, blocks ? blocks : buf, span, first);
	if (n < 0)
		return cfs_error_set(err, n, "object %s: %s", o->path,
				     strerror(-n));
	if ((uint64_t)n < span)
		return cfs_error_set(err, -EIO, "object %s: truncated",
				     o->path);
	for (uint64_t at = 0; at < span; at += VERIFY_BATCH * BLOCK_SIZE) {
		uint8_t *p = (blocks ? blocks : (uint8_t *)buf) + at;
		uint64_t blen = span - at < VERIFY_BATCH * BLOCK_SIZE ?
					span - at :
					VERIFY_BATCH * BLOCK_SIZE;
		uint64_t index = (first + at) / BLOCK_SIZE;
		const size_t hash_size = o->cache->alg->digest_size;
		uint8_t hashes[VERIFY_BATCH * CFS_DIGEST_MAX_SIZE];
		int r = cfsi_fsverity_hash_blocks(o->cache->alg->id, p, blen,
						  hashes);

		if (r < 0)
			return r;
		for (uint64_t k = 0; k < DIV_ROUND_UP(blen, BLOCK_SIZE); k++) {
			uint64_t b = index + k;
			uint64_t last = b * BLOCK_SIZE + BLOCK_SIZE - 1;

			if (memcmp(hashes + k * hash_size,
				   o->tree->leaves + b * hash_size,
				   hash_size) == 0)
				continue;
			return cfs_error_set(
				err, -EIO,
				"object %s: block %llu (bytes %llu-%llu) does "
				"not match its digest",
				o->path, (unsigned long long)b,
				(unsigned long long)(b * BLOCK_SIZE),
				(unsigned long long)(last < end ? last :
								  end - 1));
		}
	}
	if (blocks != NULL)
		memcpy(buf, blocks + (offset - first), len);
	return (ssize_t)len;
}

int cfs_object_fd(const struct cfs_object *o)
{
	return o->fd;
}

int cfs_object_direct_fd(const struct cfs_object *o)
{
	return o->mode == CFS_VERIFY_FULL ? -1 : o->fd;
}

struct cfs_object *cfs_object_close(struct cfs_object *o)
{
	if (o == NULL)
		return NULL;
	if (o->tree != NULL)
		tree_unref(o->cache, o->tree);
	if (o->fd >= 0)
		close(o->fd);
	free(o);
	return NULL;
}
