/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Every reader entry point on one image; see walk-image.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "composefs-c/composefs.h"
#include "fuzz/fuzz.h"
#include "walk-image.h"

/* A hostile image may hold a directory that contains itself: the walk
 * stops this deep, and after this many entries. */
#define MAX_DEPTH 48
#define MAX_ENTRIES 20000
/* Read this much of each inline file, in two pieces. */
#define READ_SIZE 6000
/* Dumps larger than this are printed but not parsed back. */
#define MAX_REPARSE (8u << 20)

struct walker {
	const struct cfs_image *img;
	struct walk_result *res;
};

struct entry {
	size_t name; /* offset in the listing's names */
	size_t len;
	uint64_t nid;
	uint8_t type;
};

struct listing {
	struct walker *w;
	struct entry *e;
	size_t n, cap;
	char *names; /* each NUL-terminated */
	size_t names_len, names_cap;
	uint64_t start;
	bool full; /* stopped at the entry budget */
};

static const char *name_of(const struct listing *l, const struct entry *e)
{
	return l->names + e->name;
}

static void listing_free(struct listing *l)
{
	free(l->e);
	free(l->names);
}

/* Record the outcome of one call: the first failure is kept, and a
 * malformed image must always come with a message. */
static void note(struct walker *w, int r, const struct cfs_error *err)
{
	if (r >= 0)
		return;
	require(r > -4096);
	require(r != -EUCLEAN || err->message[0] != '\0');
	require(memchr(err->message, '\0', sizeof(err->message)) != NULL);
	if (w->res->walk_error == 0) {
		w->res->walk_error = r;
		w->res->walk_err = *err;
	}
}

static int take_entry(void *userdata, const char *name, size_t len,
		      uint64_t nid, uint8_t type, uint64_t index)
{
	struct listing *l = userdata;

	require(index == l->start + l->n);
	require(len >= 1 && len <= CFS_NAME_MAX);
	if (l->w->res->entries >= MAX_ENTRIES) {
		l->full = true;
		return 1;
	}
	l->w->res->entries++;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct entry *e = realloc(l->e, cap * sizeof(*e));

		if (e == NULL)
			abort();
		l->e = e;
		l->cap = cap;
	}
	if (l->names_len + len + 1 > l->names_cap) {
		size_t cap = (l->names_len + len + 1) * 2;
		char *names = realloc(l->names, cap);

		if (names == NULL)
			abort();
		l->names = names;
		l->names_cap = cap;
	}
	memcpy(l->names + l->names_len, name, len);
	l->names[l->names_len + len] = '\0';
	l->e[l->n] = (struct entry){ l->names_len, len, nid, type };
	l->names_len += len + 1;
	l->n++;
	return 0;
}

struct xattr_sum {
	unsigned sum;
	size_t n;
};

static int take_xattr(void *userdata, const char *name, const void *value,
		      size_t len)
{
	struct xattr_sum *s = userdata;
	const uint8_t *v = value;

	require(name[0] != '\0' && strlen(name) < 300);
	require(len <= UINT16_MAX);
	/* touch every byte: the sanitizers see a read out of bounds */
	for (size_t i = 0; i < len; i++)
		s->sum += v[i];
	s->n++;
	return 0;
}

static void walk_file(struct walker *w, const struct cfs_inode *ino)
{
	static uint8_t buf[READ_SIZE];
	struct cfs_error err = { { 0 } };
	struct cfs_overlay_info info;
	struct xattr_sum sum = { 0, 0 };
	int r;

	if (S_ISLNK(ino->mode)) {
		const char *target;
		size_t len;

		r = cfs_image_read_symlink(w->img, ino, &target, &len, &err);
		note(w, r, &err);
		if (r == 0) {
			require(len == ino->size && len > 0);
			require(memchr(target, '\0', len) == NULL);
		}
	} else if (S_ISREG(ino->mode)) {
		ssize_t n = cfs_image_read_inline(w->img, ino, 0, buf,
						  sizeof(buf), &err);

		if (n != -ENODATA)
			note(w, (int)n, &err);
		require(n <= (ssize_t)sizeof(buf));
		require(n < 0 || (uint64_t)n <= ino->size);
		if (n >= 0 && ino->size > 4090) {
			err.message[0] = '\0';
			n = cfs_image_read_inline(w->img, ino, 4090, buf, 20,
						  &err);
			note(w, (int)n, &err);
			require(n <= 20);
		}
	}

	err.message[0] = '\0';
	r = cfs_image_list_xattrs(w->img, ino, take_xattr, &sum, &err);
	note(w, r, &err);
	err.message[0] = '\0';
	r = cfs_image_get_overlay_info(w->img, ino, &info, &err);
	note(w, r, &err);
	if (r == 0)
		require(memchr(info.object, '\0', sizeof(info.object)));
}

static struct listing list(struct walker *w, const struct cfs_inode *dir,
			   uint64_t start)
{
	struct listing l = { .w = w, .start = start };
	struct cfs_error err = { { 0 } };
	int r = cfs_image_readdir(w->img, dir, start, take_entry, &l, &err);

	if (r != 1)
		note(w, r, &err);
	return l;
}

static void walk_dir(struct walker *w, const struct cfs_inode *dir,
		     unsigned depth)
{
	struct listing l = list(w, dir, 0);

	/* A listing resumed half-way is the second half of the whole one. */
	if (!l.full && l.n > 1 && w->res->entries < MAX_ENTRIES) {
		struct listing half = list(w, dir, l.n / 2);

		if (!half.full) {
			require(half.n == l.n - l.n / 2);
			for (size_t i = 0; i < half.n; i++) {
				const struct entry *a = &half.e[i];
				const struct entry *b = &l.e[l.n / 2 + i];

				require(a->nid == b->nid && a->len == b->len &&
					memcmp(name_of(&half, a),
					       name_of(&l, b), a->len) == 0);
			}
		}
		listing_free(&half);
	}

	for (size_t i = 0; i < l.n; i++) {
		const struct entry *e = &l.e[i];
		const char *name = name_of(&l, e);
		struct cfs_error err = { { 0 } };
		struct cfs_inode ino;
		uint64_t nid = UINT64_MAX;
		int r;

		r = cfs_image_lookup(w->img, dir, name, e->len, &nid, &err);
		if (r != -ENOENT)
			note(w, r, &err);
		if (r == -ENOENT)
			require(nid == UINT64_MAX);
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		err.message[0] = '\0';
		r = cfs_image_get_inode(w->img, e->nid, &ino, &err);
		note(w, r, &err);
		if (r < 0)
			continue;
		require(ino.nid == e->nid);
		walk_file(w, &ino);
		if (S_ISDIR(ino.mode) && depth < MAX_DEPTH)
			walk_dir(w, &ino, depth + 1);
	}
	listing_free(&l);
}

/* print(parse(print(tree))) must be print(tree): what the printer writes,
 * the parser reads back as the same tree. */
static void check_reprint(const char *text, size_t len)
{
	struct cfs_error err = { { 0 } };
	struct cfs_node *again = NULL;
	char *text2 = NULL;
	size_t len2 = 0;
	FILE *f;
	int r;

	r = cfs_dump_parse_buffer(text, len, "printed", 0, &again, &err);
	/* A limit kept from the reference: a line's xattrs may take 65535
	 * bytes of text, counted escaped, which binary values of less than
	 * that can pass once escaped. */
	if (r == -ERANGE && strstr(err.message, "bytes of text") != NULL)
		return;
	if (r < 0) {
		fprintf(stderr, "printed dump does not parse: %s\n",
			err.message);
		abort();
	}
	f = open_memstream(&text2, &len2);
	require(f != NULL);
	require(cfs_dump_print(again, f) == 0);
	require(fclose(f) == 0);
	require(len2 == len && memcmp(text, text2, len) == 0);
	free(text2);
	cfs_node_unref(again);
}

static void walk_tree(struct walker *w, FILE *out)
{
	struct walk_result *res = w->res;
	struct cfs_node *root = NULL;
	struct cfs_write_options opts = { 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	res->tree_error = cfs_image_to_tree(w->img, &root, &res->tree_err);
	require(res->tree_error <= 0);
	if (res->tree_error < 0) {
		require(res->tree_err.message[0] != '\0');
		return;
	}

	/* as composefs-dump prints it, and as composefs-info does */
	f = open_memstream(&text, &len);
	require(f != NULL);
	require(cfs_dump_print(root, f) == 0);
	require(fclose(f) == 0);
	if (len <= MAX_REPARSE)
		check_reprint(text, len);
	free(text);
	if (out != NULL) {
		r = cfs_tree_as_shown(root);
		require(r == 0 || r == -ENOMEM);
		require(cfs_dump_print(root, out) == 0);
	}

	/* and as composefs-dump --image writes it */
	opts.min_version = opts.max_version = cfs_image_get_version(w->img);
	res->write_error = cfs_write_image(root, &opts, -1, NULL, NULL);
	cfs_node_unref(root);
}

/* The library's own whole-image walks end on any image (directories that
 * loop are entered once) and agree with each other: the path of every
 * entry they meet names that entry. */
struct whole_walk {
	const struct cfs_image *img;
	size_t entries;
};

static int count_entry(void *userdata, const char *dir_path, const char *name,
		       size_t len, uint64_t nid, uint8_t type)
{
	struct whole_walk *ww = userdata;
	char path[4096];

	/* a path for the first few: each is a walk of its own */
	if (ww->entries++ < 4) {
		int r = cfs_image_path_of(ww->img, nid, path, sizeof(path));

		require(r == 0 || r == -ENOENT || r == -EUCLEAN ||
			r == -ENOMEM);
		require(path[0] != '\0');
	}
	require(len > 0 && (dir_path[0] == '\0' || dir_path[0] == '/'));
	return 0;
}

static void walk_whole(const struct cfs_image *img)
{
	struct whole_walk ww = { img, 0 };
	struct cfs_xattr_kinds kinds;
	int r = cfs_image_walk(img, count_entry, &ww, NULL);

	require(r <= 0);
	cfs_image_find_xattr_kinds(img, &kinds);
	require(kinds.n_security_names <=
		sizeof(kinds.security_names) / sizeof(kinds.security_names[0]));
	for (size_t i = 0; i < kinds.n_security_names; i++)
		require(strncmp(kinds.security_names[i], "security.", 9) == 0);
	cfs_xattr_kinds_clear(&kinds);
}

void walk_image(const void *data, size_t size, FILE *out,
		struct walk_result *res)
{
	struct cfs_image *img = NULL;
	struct walker w = { NULL, res };
	struct cfs_inode root;
	struct cfs_error err = { { 0 } };
	int r;

	memset(res, 0, sizeof(*res));
	res->open_error = cfs_image_open_buffer(data, size, &img,
						&res->open_err);
	require(res->open_error <= 0);
	if (res->open_error < 0) {
		require(res->open_err.message[0] != '\0');
		return;
	}
	w.img = img;
	r = cfs_image_get_inode(img, cfs_image_get_root_nid(img), &root, &err);
	/* open checked the root already */
	require(r == 0 && S_ISDIR(root.mode));
	walk_file(&w, &root);
	walk_dir(&w, &root, 0);
	walk_tree(&w, out);
	walk_whole(img);
	cfs_image_free(img);
}
