/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Walks over a whole image, for what a server must know of the image as a
 * whole (which xattrs it has at all) and for messages (the path of an
 * inode). Breadth first from the root, each directory entered once: a
 * hostile image whose directories loop, or that names one directory
 * twice, is walked to its end all the same.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "composefs-c/composefs.h"
#include "base/util.h"

struct walk {
	const struct cfs_image *img;
	cfs_walk_fn fn;
	void *userdata;
	/* directories entered (nid + 1, open addressing; 0 is free) */
	uint64_t *seen;
	size_t seen_size, seen_n;
	/* directories to enter, with their paths */
	uint64_t *queue;
	char **paths;
	size_t queue_n, queue_cap;
	const char *dir_path;
	int stop; /* what fn returned to stop, or -errno */
};

static size_t seen_home(uint64_t key, size_t size)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ULL) & (size - 1));
}

/* Whether directory nid is new to the walk (and now seen); -ENOMEM. */
static int first_visit(struct walk *w, uint64_t nid)
{
	size_t i;

	if ((w->seen_n + 1) * 2 > w->seen_size) {
		size_t size = w->seen_size ? w->seen_size * 2 : 1024;
		uint64_t *slots = calloc(size, sizeof(*slots));

		if (slots == NULL)
			return -ENOMEM;
		for (size_t k = 0; k < w->seen_size; k++) {
			if (w->seen[k] == 0)
				continue;
			for (i = seen_home(w->seen[k], size); slots[i] != 0;
			     i = (i + 1) & (size - 1))
				;
			slots[i] = w->seen[k];
		}
		free(w->seen);
		w->seen = slots;
		w->seen_size = size;
	}
	for (i = seen_home(nid + 1, w->seen_size); w->seen[i] != 0;
	     i = (i + 1) & (w->seen_size - 1))
		if (w->seen[i] == nid + 1)
			return 0;
	w->seen[i] = nid + 1;
	w->seen_n++;
	return 1;
}

/* Queue directory nid at path (taken over); -ENOMEM. */
static int enqueue(struct walk *w, uint64_t nid, char *path)
{
	int r = first_visit(w, nid);

	if (r <= 0) {
		free(path);
		return r;
	}
	if (w->queue_n == w->queue_cap) {
		size_t cap = w->queue_cap ? w->queue_cap * 2 : 256;
		uint64_t *q = reallocarray(w->queue, cap, sizeof(*q));
		char **p;

		if (q == NULL) {
			free(path);
			return -ENOMEM;
		}
		w->queue = q;
		p = reallocarray(w->paths, cap, sizeof(*p));
		if (p == NULL) {
			free(path);
			return -ENOMEM;
		}
		w->paths = p;
		w->queue_cap = cap;
	}
	w->queue[w->queue_n] = nid;
	w->paths[w->queue_n++] = path;
	return 0;
}

static int walk_entry(void *userdata, const char *name, size_t len,
		      uint64_t nid, uint8_t type, uint64_t index)
{
	struct walk *w = userdata;
	char *path;
	int r;

	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	r = w->fn(w->userdata, w->dir_path, name, len, nid, type);
	if (r != 0) {
		w->stop = r;
		return 1;
	}
	if (cfs_dirent_type_to_mode(type) != S_IFDIR)
		return 0;
	if (asprintf(&path, "%s/%.*s", w->dir_path, (int)len, name) < 0) {
		w->stop = -ENOMEM;
		return 1;
	}
	r = enqueue(w, nid, path);
	if (r < 0) {
		w->stop = r;
		return 1;
	}
	return 0;
}

int cfs_image_walk(const struct cfs_image *img, cfs_walk_fn fn, void *userdata,
		   struct cfs_error *err)
{
	struct walk w = { .img = img, .fn = fn, .userdata = userdata };
	char *root = strdup("");
	int r;

	r = root == NULL ? -ENOMEM :
			   enqueue(&w, cfs_image_get_root_nid(img), root);
	for (size_t k = 0; r == 0 && k < w.queue_n && w.stop == 0; k++) {
		struct cfs_inode dir;

		w.dir_path = w.paths[k];
		r = cfs_image_get_inode(img, w.queue[k], &dir, err);
		if (r == 0)
			r = cfs_image_readdir(img, &dir, 0, walk_entry, &w,
					      err);
	}
	/* readdir returns walk_entry's 1 when the walk was stopped */
	if (w.stop != 0)
		r = w.stop;
	if (r == -ENOMEM)
		cfs_error_set(err, r, "out of memory");
	for (size_t k = 0; k < w.queue_n; k++)
		free(w.paths[k]);
	free(w.paths);
	free(w.queue);
	free(w.seen);
	return r;
}

/* ------------------------------------------------------------------ */
/* The path of an inode */

struct path_search {
	uint64_t target;
	char *out;
	size_t size;
};

static int path_entry(void *userdata, const char *dir_path, const char *name,
		      size_t len, uint64_t nid, uint8_t type)
{
	struct path_search *p = userdata;

	if (nid != p->target)
		return 0;
	snprintf(p->out, p->size, "%s/%.*s", dir_path, (int)len, name);
	return 1;
}

int cfs_image_path_of(const struct cfs_image *img, uint64_t nid, char *out,
		      size_t size)
{
	struct path_search p = { .target = nid, .out = out, .size = size };
	int r;

	if (nid == cfs_image_get_root_nid(img)) {
		snprintf(out, size, "/");
		return 0;
	}
	r = cfs_image_walk(img, path_entry, &p, NULL);
	if (r == 1)
		return 0;
	snprintf(out, size, "inode %llu", (unsigned long long)nid);
	return r < 0 ? r : -ENOENT;
}

/* ------------------------------------------------------------------ */
/* Which xattrs an image has at all */

static bool is_acl_name(const char *name)
{
	return str_has_prefix(name, "system.posix_acl_");
}

static int kind_of_xattr(void *userdata, const char *name, const void *value,
			 size_t len)
{
	struct cfs_xattr_kinds *k = userdata;

	if (is_acl_name(name)) {
		k->acl_any = true;
		return 0;
	}
	if (!str_has_prefix(name, "security.") || k->security_any)
		return 0;
	for (size_t i = 0; i < k->n_security_names; i++)
		if (strcmp(k->security_names[i], name) == 0)
			return 0;
	if (k->n_security_names == ARRAY_SIZE(k->security_names) ||
	    (k->security_names[k->n_security_names] = strdup(name)) == NULL)
		k->security_any = true; /* too many to keep: all there */
	else
		k->n_security_names++;
	return 0;
}

static int inode_kinds(const struct cfs_image *img, uint64_t nid,
		       struct cfs_xattr_kinds *k)
{
	struct cfs_inode i;
	int r = cfs_image_get_inode(img, nid, &i, NULL);

	if (r == 0)
		r = cfs_image_list_shown_xattrs(img, &i, kind_of_xattr, k,
						NULL);
	return r;
}

struct kinds_walk {
	const struct cfs_image *img;
	struct cfs_xattr_kinds *kinds;
};

static int kinds_entry(void *userdata, const char *dir_path, const char *name,
		       size_t len, uint64_t nid, uint8_t type)
{
	struct kinds_walk *w = userdata;
	int r = inode_kinds(w->img, nid, w->kinds);

	if (r < 0)
		return r;
	/* nothing more to learn */
	return w->kinds->security_any && w->kinds->acl_any ? 1 : 0;
}

void cfs_image_find_xattr_kinds(const struct cfs_image *img,
				struct cfs_xattr_kinds *ret)
{
	struct kinds_walk w = { img, ret };
	int r;

	memset(ret, 0, sizeof(*ret));
	r = inode_kinds(img, cfs_image_get_root_nid(img), ret);
	if (r == 0)
		r = cfs_image_walk(img, kinds_entry, &w, NULL);
	if (r < 0)
		ret->security_any = ret->acl_any = true;
}

void cfs_xattr_kinds_clear(struct cfs_xattr_kinds *kinds)
{
	for (size_t i = 0; i < kinds->n_security_names; i++)
		free(kinds->security_names[i]);
	memset(kinds, 0, sizeof(*kinds));
}
