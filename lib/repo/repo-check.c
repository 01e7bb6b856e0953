/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * What a repository holds and whether it is sound: the images a name
 * reaches and the objects they use (listing, gc), and a check of every
 * file against what its name promises (fsck). Nothing found in the
 * repository is trusted: a file at an object's name may be anything, and
 * is looked at with lstat before it is opened (never blocking on a FIFO).
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
#include <unistd.h>

#include "composefs-c/repo.h"
#include "repo/repo_i.h"
#include "base/tmpfile_i.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Objects by digest */

static size_t map_home(const struct object_map *map, const uint8_t *digest)
{
	uint64_t h;

	memcpy(&h, digest, sizeof(h));
	return h & (map->size - 1);
}

struct object_entry *cfsi_object_map_find(const struct object_map *map,
					  const uint8_t *digest)
{
	if (map->size == 0)
		return NULL;
	for (size_t i = map_home(map, digest); map->slots[i].used;
	     i = (i + 1) & (map->size - 1))
		if (memcmp(map->slots[i].digest, digest, CFS_DIGEST_SIZE) == 0)
			return &map->slots[i];
	return NULL;
}

struct object_entry *cfsi_object_map_add(struct object_map *map,
					 const uint8_t *digest)
{
	struct object_entry *e = cfsi_object_map_find(map, digest);
	size_t i;

	if (e != NULL)
		return e;
	if ((map->n + 1) * 2 > map->size) {
		struct object_map bigger = { .size = map->size ? map->size * 2 :
								 1024 };

		bigger.slots = calloc(bigger.size, sizeof(*bigger.slots));
		if (bigger.slots == NULL)
			return NULL;
		for (size_t k = 0; k < map->size; k++) {
			if (!map->slots[k].used)
				continue;
			for (i = map_home(&bigger, map->slots[k].digest);
			     bigger.slots[i].used;
			     i = (i + 1) & (bigger.size - 1))
				;
			bigger.slots[i] = map->slots[k];
		}
		bigger.n = map->n;
		free(map->slots);
		*map = bigger;
	}
	for (i = map_home(map, digest); map->slots[i].used;
	     i = (i + 1) & (map->size - 1))
		;
	e = &map->slots[i];
	*e = (struct object_entry){ .used = true };
	memcpy(e->digest, digest, CFS_DIGEST_SIZE);
	map->n++;
	return e;
}

void cfsi_object_map_free(struct object_map *map)
{
	free(map->slots);
	*map = (struct object_map){ 0 };
}

int cfsi_tree_for_each_object(const struct cfs_node *root, tree_object_fn fn,
			      void *userdata)
{
	for (size_t i = 0; i < cfs_node_get_n_children(root); i++) {
		const struct cfs_node *n = cfs_node_get_child(root, i);
		uint32_t type = cfs_node_get_mode(n) & S_IFMT;
		const char *payload = cfs_node_get_payload(n);
		uint8_t digest[CFS_DIGEST_SIZE];
		int r;

		if (type == S_IFDIR) {
			r = cfsi_tree_for_each_object(n, fn, userdata);
		} else if (type == S_IFREG && payload != NULL &&
			   payload[0] != '\0' &&
			   cfs_node_get_content(n) == NULL &&
			   cfs_node_get_hardlink_target(n) == NULL) {
			/* what the writer points at with a redirect */
			bool ok = cfsi_object_path_to_digest(payload, digest) ==
				  0;

			r = fn(userdata, payload, ok ? digest : NULL,
			       cfs_node_get_size(n));
		} else {
			r = 0;
		}
		if (r != 0)
			return r;
	}
	return 0;
}

static bool is_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* Listing */

struct image_objects {
	uint8_t digest[CFS_DIGEST_SIZE];
	uint8_t (*objects)[CFS_DIGEST_SIZE];
	size_t n, cap;
	uint64_t image_size;
	int error;
	char *message;
};

struct collect {
	struct object_map *map;
	struct image_objects *image;
	uint32_t index; /* of the image, from 1 */
};

static int collect_object(void *userdata, const char *payload,
			  const uint8_t *digest, uint64_t size)
{
	struct collect *c = userdata;
	struct object_entry *e;

	if (digest == NULL)
		return 0; /* not an object of this store: counted by nobody */
	e = cfsi_object_map_add(c->map, digest);
	if (e == NULL)
		return -ENOMEM;
	if (e->last == c->index)
		return 0;
	e->last = c->index;
	e->refs++;
	e->size = size;
	if (c->image == NULL)
		return 0;
	if (c->image->n == c->image->cap) {
		size_t cap = c->image->cap ? c->image->cap * 2 : 256;
		void *p = reallocarray(c->image->objects, cap,
				       sizeof(*c->image->objects));

		if (p == NULL)
			return -ENOMEM;
		c->image->objects = p;
		c->image->cap = cap;
	}
	memcpy(c->image->objects[c->image->n++], digest, CFS_DIGEST_SIZE);
	return 0;
}

int cfs_repo_list_images(struct cfs_repo *repo, cfs_repo_image_fn fn,
			 void *userdata, struct cfs_error *err)
{
	struct name_list names = { 0 };
	struct object_map map = { 0 };
	struct image_objects *images = NULL;
	size_t n_images = 0;
	int r;

	r = cfsi_repo_read_names(repo, &names, err);
	if (r < 0)
		return r;
	images = calloc(names.n ? names.n : 1, sizeof(*images));
	if (images == NULL) {
		r = cfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* Each distinct image once: two names of one image share nothing. */
	for (size_t i = 0; i < names.n; i++) {
		struct cfs_error detail = { { 0 } };
		struct image_objects *img = NULL;
		struct cfs_node *root = NULL;
		struct collect c;

		for (size_t k = 0; k < n_images && img == NULL; k++)
			if (memcmp(images[k].digest, names.digests[i],
				   CFS_DIGEST_SIZE) == 0)
				img = &images[k];
		if (img != NULL)
			continue;
		img = &images[n_images++];
		memcpy(img->digest, names.digests[i], CFS_DIGEST_SIZE);
		r = cfsi_repo_load_tree(repo, img->digest, &img->image_size,
					&root, &detail);
		if (r < 0) {
			img->error = r;
			img->message = strdup(detail.message);
			continue;
		}
		c = (struct collect){ &map, img, (uint32_t)n_images };
		r = cfsi_tree_for_each_object(root, collect_object, &c);
		cfs_node_unref(root);
		if (r < 0) {
			r = cfs_error_set(err, r, "out of memory");
			goto out;
		}
	}
	r = 0;
	for (size_t i = 0; i < names.n && r == 0; i++) {
		struct cfs_repo_image_info info = { .name = names.names[i] };
		struct image_objects *img = NULL;
		struct cfsi_oci_record rec = { 0 };

		for (size_t k = 0; k < n_images && img == NULL; k++)
			if (memcmp(images[k].digest, names.digests[i],
				   CFS_DIGEST_SIZE) == 0)
				img = &images[k];
		memcpy(info.digest, img->digest, CFS_DIGEST_SIZE);
		info.image_size = img->image_size;
		info.error = img->error;
		info.message = img->message ? img->message : "";
		for (size_t k = 0; k < img->n; k++) {
			const struct object_entry *e = cfsi_object_map_find(
				&map, img->objects[k]);

			info.n_objects++;
			info.object_bytes += e->size;
			if (e->refs > 1)
				info.shared_bytes += e->size;
			else
				info.unique_bytes += e->size;
		}
		if (cfsi_repo_read_record(repo, names.names[i],
					  names.digests[i], &rec) == 0) {
			info.manifest = rec.manifest;
			info.config = rec.config;
			info.n_layers = rec.n_layers;
		}
		r = fn(userdata, &info);
		cfsi_oci_record_free(&rec);
	}
out:
	for (size_t k = 0; k < n_images; k++) {
		free(images[k].objects);
		free(images[k].message);
	}
	free(images);
	cfsi_object_map_free(&map);
	cfsi_name_list_free(&names);
	return r;
}

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
		if (mkdirat(f->repo->dir_fd, "quarantine", 0700) != 0 &&
		    errno != EEXIST)
			return -errno;
		f->quarantine_fd = openat(f->repo->dir_fd, "quarantine",
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
	char path[CFS_OBJECT_PATH_SIZE + 8]; /* "objects/ab/cdef..." */
	uint8_t digest[CFS_DIGEST_SIZE];
	uint64_t size;
	int result; /* 0 good, -EILSEQ wrong content, -EUCLEAN changed type,
		       or -errno */
	uint8_t actual[CFS_DIGEST_SIZE];
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
	it->result = cfsi_file_digest(fd, it->actual);
	if (it->result == 0 &&
	    memcmp(it->actual, it->digest, CFS_DIGEST_SIZE) != 0)
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

	r = cfsi_list_dir(f->repo->dir_fd, "objects", &top);
	if (r < 0)
		return cfs_error_set(err, r, "%s/objects: %s", f->repo->path,
				     strerror(-r));
	for (size_t i = 0; i < top.n; i++) {
		struct cfsi_dir_list sub = { 0 };
		struct stat st;

		snprintf(path, sizeof(path), "objects/%s", top.names[i]);
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
		if (!is_hex(top.names[i], 2) || !S_ISDIR(st.st_mode)) {
			problem(f, "stray", path, FIX_QUARANTINE,
				is_hex(top.names[i], CFS_DIGEST_SIZE * 2) ?
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

			snprintf(path, sizeof(path), "objects/%s/%s",
				 top.names[i], name);
			if (cfsi_is_tmp_name(name)) {
				problem(f, "leftover", path, FIX_REMOVE,
					"temporary file of an interrupted write");
				continue;
			}
			if (!is_hex(name, CFS_DIGEST_SIZE * 2 - 2)) {
				problem(f, "stray", path, FIX_QUARANTINE,
					"not named as an object");
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
				 "objects/%.2s/%.62s", top.names[i], name);
			{
				char obj[CFS_OBJECT_PATH_SIZE];

				snprintf(obj, sizeof(obj), "%s/%s",
					 top.names[i], name);
				(void)cfsi_object_path_to_digest(
					obj, items[n_items].digest);
			}
			n_items++;
		}
		cfsi_dir_list_free(&sub);
	}

	hash_all(f, items, n_items, threads);

	r = 0;
	for (size_t i = 0; i < n_items; i++) {
		struct check_item *it = &items[i];
		char hex[CFS_DIGEST_HEX_SIZE];
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
			cfs_digest_to_hex(it->actual, hex);
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

	snprintf(it.path, sizeof(it.path), "objects/%s", payload);
	memcpy(it.digest, digest, CFS_DIGEST_SIZE);
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
	snprintf(path, sizeof(path), "objects/%s", payload);
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

	r = cfsi_list_dir(f->repo->dir_fd, "images", &l);
	if (r < 0)
		return cfs_error_set(err, r, "%s/images: %s", f->repo->path,
				     strerror(-r));
	for (size_t i = 0; i < l.n; i++) {
		struct cfs_error detail = { { 0 } };
		uint8_t digest[CFS_DIGEST_SIZE];
		struct cfs_node *root = NULL;
		struct image_check c = { f, path };

		snprintf(path, sizeof(path), "images/%s", l.names[i]);
		if (cfsi_is_tmp_name(l.names[i])) {
			problem(f, "leftover", path, FIX_REMOVE,
				"temporary file of an interrupted write");
			continue;
		}
		if (!is_hex(l.names[i], CFS_DIGEST_SIZE * 2) ||
		    cfs_digest_from_hex(l.names[i], digest) < 0) {
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
		r = cfsi_tree_for_each_object(root, check_image_object, &c);
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

	r = cfsi_list_dir(f->repo->dir_fd, "names", &l);
	if (r < 0)
		return cfs_error_set(err, r, "%s/names: %s", f->repo->path,
				     strerror(-r));
	for (size_t i = 0; i < l.n; i++) {
		struct cfs_error detail = { { 0 } };
		uint8_t digest[CFS_DIGEST_SIZE];
		char hex[CFS_DIGEST_HEX_SIZE], image[PATH_MAX];
		struct stat st;

		snprintf(path, sizeof(path), "names/%s", l.names[i]);
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
		cfs_digest_to_hex(digest, hex);
		snprintf(image, sizeof(image), "images/%s", hex);
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

	if (cfsi_list_dir(f->repo->dir_fd, "layers", &l) < 0)
		return; /* an older repository has none */
	for (size_t i = 0; i < l.n; i++) {
		char line[CFS_DIGEST_HEX_SIZE + 8], image[PATH_MAX];
		uint8_t digest[CFS_DIGEST_SIZE];
		struct stat st;
		ssize_t n;

		snprintf(path, sizeof(path), "layers/%s", l.names[i]);
		if (cfsi_is_tmp_name(l.names[i])) {
			problem(f, "leftover", path, FIX_REMOVE,
				"temporary file of an interrupted write");
			continue;
		}
		n = cfsi_repo_read_file(f->repo, "layers", l.names[i], line,
					sizeof(line));
		if (!is_hex(l.names[i], CFS_DIGEST_SIZE * 2) ||
		    n != CFS_DIGEST_HEX_SIZE || line[n - 1] != '\n' ||
		    (line[n - 1] = '\0', cfs_digest_from_hex(line, digest)) <
			    0) {
			problem(f, "bad-layer", path, FIX_QUARANTINE,
				"not a layer record (one line: an image's "
				"digest)");
			continue;
		}
		snprintf(image, sizeof(image), "images/%s", line);
		if (fstatat(f->repo->dir_fd, image, &st, AT_SYMLINK_NOFOLLOW) !=
		    0)
			problem(f, "dangling-layer", path, FIX_QUARANTINE,
				"names the image %s, which is missing", line);
	}
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
	if (f.quarantine_fd >= 0)
		close(f.quarantine_fd);
	cfsi_object_map_free(&f.good);
	if (r == 0 && (flags & CFS_FSCK_REPAIR))
		(void)syncfs(repo->dir_fd);
	if (r == 0 && ret_stats != NULL)
		*ret_stats = f.stats;
	return r;
}

/* ------------------------------------------------------------------ */
/* gc */

struct gc {
	struct cfs_repo *repo;
	unsigned flags;
	cfs_repo_gc_fn fn;
	void *userdata;
	struct cfs_repo_gc_stats stats;
};

/* Remove path (relative to the repository), a file; 0 or -errno. */
static int gc_remove(struct gc *g, const char *path, uint64_t *counter,
		     struct cfs_error *err)
{
	struct stat st;

	if (fstatat(g->repo->dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 :
					 cfs_error_set(err, -errno, "%s/%s: %s",
						       g->repo->path, path,
						       strerror(errno));
	if (S_ISDIR(st.st_mode))
		return 0; /* not ours to remove: fsck reports it */
	if (!(g->flags & CFS_GC_DRY_RUN) &&
	    unlinkat(g->repo->dir_fd, path, 0) != 0 && errno != ENOENT)
		return cfs_error_set(err, -errno, "cannot remove %s/%s: %s",
				     g->repo->path, path, strerror(errno));
	(*counter)++;
	if (S_ISREG(st.st_mode))
		g->stats.bytes += (uint64_t)st.st_size;
	if (g->fn != NULL)
		g->fn(g->userdata, path,
		      S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0);
	return 0;
}

/* The image of digest and its objects are alive. -ENOENT when the image
 * is missing, another -errno when it cannot be read. */
static int gc_keep_image(struct cfs_repo *repo,
			 const uint8_t digest[CFS_DIGEST_SIZE],
			 struct object_map *live,
			 struct object_map *live_images, struct cfs_error *err)
{
	struct cfs_node *root = NULL;
	struct collect c = { live, NULL, 1 };
	int r;

	if (cfsi_object_map_find(live_images, digest))
		return 0;
	r = cfsi_repo_load_tree(repo, digest, NULL, &root, err);
	if (r < 0)
		return r;
	if (cfsi_object_map_add(live_images, digest) == NULL) {
		cfs_node_unref(root);
		return cfs_error_set(err, -ENOMEM, "out of memory");
	}
	r = cfsi_tree_for_each_object(root, collect_object, &c);
	cfs_node_unref(root);
	return r < 0 ? cfs_error_set(err, r, "out of memory") : 0;
}

/* The layer of diff_id hex is alive, with its image, when that can be
 * read. Only -ENOMEM is an error. */
static int gc_keep_layer(struct cfs_repo *repo, const char *hex,
			 struct object_map *live,
			 struct object_map *live_images,
			 struct object_map *live_layers)
{
	char line[CFS_DIGEST_HEX_SIZE + 8];
	uint8_t digest[CFS_DIGEST_SIZE], diff[CFS_DIGEST_SIZE];
	struct cfs_error ignored;
	ssize_t n;
	int r;

	if (cfs_digest_from_hex(hex, diff) < 0 ||
	    cfsi_object_map_find(live_layers, diff))
		return 0;
	n = cfsi_repo_read_file(repo, "layers", hex, line, sizeof(line));
	if (n != CFS_DIGEST_HEX_SIZE || line[n - 1] != '\n')
		return 0;
	line[n - 1] = '\0';
	if (cfs_digest_from_hex(line, digest) < 0)
		return 0;
	r = gc_keep_image(repo, digest, live, live_images, &ignored);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return 0;
	return cfsi_object_map_add(live_layers, diff) ? 0 : -ENOMEM;
}

static int remove_tree_at(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct cfsi_dir_list l = { 0 };
	int r = 0;

	if (fd < 0)
		return unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT ?
			       0 :
			       -errno;
	r = cfsi_list_dir(fd, ".", &l);
	for (size_t i = 0; i < l.n && r == 0; i++)
		r = remove_tree_at(fd, l.names[i]);
	cfsi_dir_list_free(&l);
	close(fd);
	if (r == 0 && unlinkat(dir_fd, name, AT_REMOVEDIR) != 0 &&
	    errno != ENOENT)
		r = -errno;
	return r;
}

/* The records of imports: those of names gone or moved, of layers no
 * record of a live name lists, and what interrupted pulls left. */
static int gc_records(struct gc *g, const struct name_list *names,
		      const struct object_map *live_layers,
		      struct cfs_error *err)
{
	struct cfs_repo *repo = g->repo;
	struct cfsi_dir_list l = { 0 };
	char path[PATH_MAX];
	int r = 0;

	if (cfsi_list_dir(repo->dir_fd, "oci", &l) == 0) {
		for (size_t i = 0; i < l.n && r == 0; i++) {
			struct cfsi_oci_record rec;
			size_t k;

			for (k = 0; k < names->n; k++)
				if (strcmp(names->names[k], l.names[i]) == 0)
					break;
			if (k < names->n &&
			    cfsi_repo_read_record(repo, l.names[i],
						  names->digests[k],
						  &rec) == 0) {
				cfsi_oci_record_free(&rec);
				continue;
			}
			snprintf(path, sizeof(path), "oci/%s", l.names[i]);
			r = gc_remove(g, path, &g->stats.n_leftovers, err);
		}
		cfsi_dir_list_free(&l);
	}
	if (r == 0 && cfsi_list_dir(repo->dir_fd, "layers", &l) == 0) {
		for (size_t i = 0; i < l.n && r == 0; i++) {
			uint8_t diff[CFS_DIGEST_SIZE];

			if (is_hex(l.names[i], CFS_DIGEST_SIZE * 2) &&
			    cfs_digest_from_hex(l.names[i], diff) == 0 &&
			    cfsi_object_map_find(live_layers, diff))
				continue;
			snprintf(path, sizeof(path), "layers/%s", l.names[i]);
			r = gc_remove(g, path, &g->stats.n_leftovers, err);
		}
		cfsi_dir_list_free(&l);
	}
	if (r == 0 && cfsi_list_dir(repo->dir_fd, "layer-blobs", &l) == 0) {
		for (size_t i = 0; i < l.n && r == 0; i++) {
			char line[CFS_DIGEST_HEX_SIZE + 8];
			uint8_t diff[CFS_DIGEST_SIZE];
			ssize_t n = cfsi_repo_read_file(repo, "layer-blobs",
							l.names[i], line,
							sizeof(line));

			if (n == CFS_DIGEST_HEX_SIZE && line[n - 1] == '\n') {
				line[n - 1] = '\0';
				if (cfs_digest_from_hex(line, diff) == 0 &&
				    cfsi_object_map_find(live_layers, diff))
					continue;
			}
			snprintf(path, sizeof(path), "layer-blobs/%s",
				 l.names[i]);
			r = gc_remove(g, path, &g->stats.n_leftovers, err);
		}
		cfsi_dir_list_free(&l);
	}
	/* nothing pulls while gc holds the lock alone */
	if (r == 0 && cfsi_list_dir(repo->dir_fd, "pull", &l) == 0) {
		int fd = openat(repo->dir_fd, "pull",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		for (size_t i = 0; fd >= 0 && i < l.n && r == 0; i++) {
			g->stats.n_leftovers++;
			if (g->fn != NULL) {
				snprintf(path, sizeof(path), "pull/%s",
					 l.names[i]);
				g->fn(g->userdata, path, 0);
			}
			if (!(g->flags & CFS_GC_DRY_RUN)) {
				r = remove_tree_at(fd, l.names[i]);
				if (r < 0)
					r = cfs_error_set(
						err, r,
						"cannot remove %s/pull/%s: %s",
						repo->path, l.names[i],
						strerror(-r));
			}
		}
		if (fd >= 0)
			close(fd);
		cfsi_dir_list_free(&l);
	}
	return r;
}

int cfs_repo_gc(struct cfs_repo *repo, unsigned flags, cfs_repo_gc_fn fn,
		void *userdata, struct cfs_repo_gc_stats *ret_stats,
		struct cfs_error *err)
{
	struct gc g = { repo, flags, fn, userdata, { 0 } };
	struct name_list names = { 0 };
	struct object_map live = { 0 };
	struct object_map live_images = { 0 };
	struct object_map live_layers = { 0 };
	struct cfsi_dir_list l = { 0 };
	char path[PATH_MAX];
	int r;

	if (!(repo->flags & CFS_REPO_EXCLUSIVE))
		return cfs_error_set(
			err, -EINVAL,
			"gc needs the repository opened exclusive");

	/* The roots, and everything they reach: any doubt stops gc before
	 * it removes anything. */
	r = cfsi_repo_read_names(repo, &names, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < names.n; i++) {
		struct cfs_error detail = { { 0 } };
		struct cfsi_oci_record rec;

		r = gc_keep_image(repo, names.digests[i], &live, &live_images,
				  &detail);
		if (r == -ENOENT)
			continue; /* a dangling name keeps nothing */
		if (r < 0) {
			r = cfs_error_set(
				err, -EUCLEAN,
				"the image named '%s' cannot be read, so what it uses is not known; nothing removed: %s",
				names.names[i], detail.message);
			goto out;
		}
		/* the layers it was imported from, while their images can
		 * be read (else they are imported again when needed) */
		if (cfsi_repo_read_record(repo, names.names[i],
					  names.digests[i], &rec) < 0)
			continue;
		for (size_t k = 0; k < rec.n_layers && r == 0; k++)
			r = gc_keep_layer(repo, rec.layers[k], &live,
					  &live_images, &live_layers);
		cfsi_oci_record_free(&rec);
		if (r < 0) {
			r = cfs_error_set(err, r, "out of memory");
			goto out;
		}
	}

	r = gc_records(&g, &names, &live_layers, err);
	if (r < 0)
		goto out;

	/* Names: only leftovers go. */
	r = cfsi_list_dir(repo->dir_fd, "names", &l);
	if (r < 0) {
		r = cfs_error_set(err, r, "%s/names: %s", repo->path,
				  strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < l.n && r == 0; i++) {
		snprintf(path, sizeof(path), "names/%s", l.names[i]);
		if (cfsi_is_tmp_name(l.names[i]))
			r = gc_remove(&g, path, &g.stats.n_leftovers, err);
	}
	cfsi_dir_list_free(&l);
	if (r < 0)
		goto out;

	/* Images no name reaches. */
	r = cfsi_list_dir(repo->dir_fd, "images", &l);
	if (r < 0) {
		r = cfs_error_set(err, r, "%s/images: %s", repo->path,
				  strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < l.n && r == 0; i++) {
		uint8_t digest[CFS_DIGEST_SIZE];

		snprintf(path, sizeof(path), "images/%s", l.names[i]);
		if (cfsi_is_tmp_name(l.names[i]))
			r = gc_remove(&g, path, &g.stats.n_leftovers, err);
		else if (is_hex(l.names[i], CFS_DIGEST_SIZE * 2) &&
			 cfs_digest_from_hex(l.names[i], digest) == 0 &&
			 cfsi_object_map_find(&live_images, digest) == NULL)
			r = gc_remove(&g, path, &g.stats.n_images, err);
	}
	cfsi_dir_list_free(&l);
	if (r < 0)
		goto out;

	/* Objects no named image uses. */
	r = cfsi_list_dir(repo->dir_fd, "objects", &l);
	if (r < 0) {
		r = cfs_error_set(err, r, "%s/objects: %s", repo->path,
				  strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < l.n && r == 0; i++) {
		struct cfsi_dir_list sub = { 0 };

		snprintf(path, sizeof(path), "objects/%s", l.names[i]);
		if (cfsi_is_tmp_name(l.names[i])) {
			r = gc_remove(&g, path, &g.stats.n_leftovers, err);
			continue;
		}
		if (!is_hex(l.names[i], 2))
			continue;
		if (cfsi_list_dir(repo->dir_fd, path, &sub) < 0)
			continue; /* not a directory: fsck's to report */
		for (size_t k = 0; k < sub.n && r == 0; k++) {
			char obj[CFS_OBJECT_PATH_SIZE + 16];
			uint8_t digest[CFS_DIGEST_SIZE];

			snprintf(path, sizeof(path), "objects/%s/%s",
				 l.names[i], sub.names[k]);
			snprintf(obj, sizeof(obj), "%s/%s", l.names[i],
				 sub.names[k]);
			if (cfsi_is_tmp_name(sub.names[k]))
				r = gc_remove(&g, path, &g.stats.n_leftovers,
					      err);
			else if (cfsi_object_path_to_digest(obj, digest) == 0 &&
				 cfsi_object_map_find(&live, digest) == NULL)
				r = gc_remove(&g, path, &g.stats.n_objects,
					      err);
		}
		cfsi_dir_list_free(&sub);
	}
	cfsi_dir_list_free(&l);
	if (r == 0 && !(flags & CFS_GC_DRY_RUN) && syncfs(repo->dir_fd) != 0)
		r = cfs_error_set(err, -errno, "%s: syncfs: %s", repo->path,
				  strerror(errno));
	if (r == 0 && ret_stats != NULL)
		*ret_stats = g.stats;
out:
	cfsi_object_map_free(&live);
	cfsi_object_map_free(&live_images);
	cfsi_object_map_free(&live_layers);
	cfsi_name_list_free(&names);
	return r;
}
