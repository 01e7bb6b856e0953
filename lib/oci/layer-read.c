/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Tar streams into layer trees (lib/oci/import_i.h), without unpacking:
 * libarchive parses the headers of what the input side (tar-input.c)
 * decompresses, file contents stream straight into the object store while
 * their digest is computed, and nothing about the importing user (owner,
 * umask, clock) reaches the tree.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "oci/import_i.h"
#include "oci/tar_input_i.h"
#include "format/erofs-format.h"
#include "format/fsverity_i.h"
#include "tree/node_i.h"
#include "store/store_i.h"
#include "format/hash_alg_i.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Reading a tar stream into a layer tree */

/*
 * The children of the layer tree's directories while the tar is read:
 * appended unsorted (a sorted insert each would make a directory of n
 * entries arriving out of order cost n^2) and found through this map of
 * (directory, name) to the child and its index; sorted once at the end.
 */
struct map_slot {
	struct cfs_node *dir, *node; /* node NULL: a free slot */
	size_t index; /* of node in dir->children */
};

struct child_map {
	struct map_slot *slots;
	size_t size, n;
};

struct reader {
	struct child_map map;
	const char *name;
	struct cfs_store *store;
	enum cfs_hash_alg alg; /* of the files' digests: the store's */
	const struct cfs_node *lower;
	struct cfs_node *root;
	struct cfs_error *err;
	struct archive *inner;
	uint64_t entry_no;
	const char *entry; /* its name as the tar has it */
	uint64_t n_objects;
	uint8_t *buf; /* CFS_INLINE_RECOMMENDED_MAX bytes */
};

static int entry_fail(struct reader *rd, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int entry_fail(struct reader *rd, int r, const char *fmt, ...)
{
	char what[sizeof(((struct cfs_error *)NULL)->message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const char *entry = rd->entry ? rd->entry : "?";

	/* a name of any length is shown, its end cut */
	return cfs_error_set(rd->err, r, "%s: entry %" PRIu64 " '%.200s%s': %s",
			     rd->name, rd->entry_no, entry,
			     strlen(entry) > 200 ? "..." : "", what);
}

static int archive_fail(struct reader *rd, const char *what)
{
	const char *msg = archive_error_string(rd->inner);
	int e = archive_errno(rd->inner);

	if (rd->entry != NULL)
		return entry_fail(rd, -EIO, "%s: %s", what,
				  msg ? msg : "unknown error");
	return cfs_error_set(rd->err, e > 0 ? -e : -EIO,
			     "%s: after entry %" PRIu64 ": %s: %s", rd->name,
			     rd->entry_no, what, msg ? msg : "unknown error");
}

/* The data of the current entry into node: inline when small, else into
 * the store under its digest. Holes of sparse files read as zeros. */
static int read_content(struct reader *rd, struct cfs_node *node, uint64_t size)
{
	bool inline_it = size <= CFS_INLINE_RECOMMENDED_MAX;
	struct cfsi_store_object *obj = NULL;
	struct cfs_fsverity *fsv = NULL;
	struct cfs_error store_err = { { 0 } };
	enum cfs_hash_alg alg = rd->alg;
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	char path[CFS_OBJECT_PATH_MAX_SIZE];
	uint64_t pos = 0;
	int r = 0;

	node->size = size;
	if (inline_it && size == 0)
		goto digest_small;
	if (!inline_it) {
		fsv = cfs_fsverity_new_alg(alg);
		if (fsv == NULL)
			return -ENOMEM;
		if (rd->store != NULL) {
			r = cfsi_store_object_begin(rd->store, &obj,
						    &store_err);
			if (r < 0)
				goto store_fail;
		}
	}
	for (;;) {
		const void *block;
		size_t len;
		la_int64_t offset;
		int ar = archive_read_data_block(rd->inner, &block, &len,
						 &offset);

		if (ar == ARCHIVE_EOF) {
			offset = (la_int64_t)size;
			len = 0;
		} else if (ar < ARCHIVE_WARN) {
			r = archive_fail(rd, "reading data");
			goto out;
		}
		if (offset < 0 || (uint64_t)offset < pos ||
		    (uint64_t)offset > size || len > size - (uint64_t)offset) {
			r = entry_fail(
				rd, -EINVAL,
				"data at offset %lld past its size %" PRIu64,
				(long long)offset, size);
			goto out;
		}
		/* a hole up to offset: hashed in time of the tree's height,
		 * skipped in the object */
		if (pos < (uint64_t)offset) {
			uint64_t n = (uint64_t)offset - pos;

			if (inline_it) {
				memset(rd->buf + pos, 0, n);
			} else {
				r = cfsi_fsverity_update_zeros(fsv, n);
				if (r == 0 && obj != NULL)
					r = cfsi_store_object_hole(obj, n);
				if (r < 0)
					goto io_fail;
			}
			pos += n;
		}
		if (ar == ARCHIVE_EOF)
			break;
		if (len == 0)
			continue;
		if (inline_it) {
			memcpy(rd->buf + pos, block, len);
		} else {
			r = cfs_fsverity_update(fsv, block, len);
			if (r == 0 && obj != NULL)
				r = cfsi_store_object_write(obj, block, len);
			if (r < 0)
				goto io_fail;
		}
		pos += len;
	}

	if (inline_it) {
		r = cfs_node_set_content(node, rd->buf, size);
		if (r < 0)
			goto out;
digest_small:
		r = cfs_fsverity_digest_buffer_alg(alg, rd->buf, size, digest);
		if (r < 0)
			goto out;
	} else {
		r = cfs_fsverity_final(fsv, digest);
		if (r < 0)
			goto out;
		if (obj != NULL) {
			r = cfsi_store_object_finish(rd->store, obj, digest,
						     &store_err);
			obj = NULL;
			if (r < 0)
				goto store_fail;
			rd->n_objects += r == 0;
		}
	}
	(void)cfs_node_set_digest_alg(node, alg, digest);
	cfs_digest_to_object_path_alg(alg, digest, path);
	r = cfs_node_set_payload(node, path);
	goto out;

io_fail:
	if (r == -EFBIG)
		r = entry_fail(rd, r,
			       "writing its object: %s (its %" PRIu64
			       " bytes are more than the store's filesystem "
			       "holds)",
			       strerror(-r), size);
	else
		r = entry_fail(rd, r, "writing its object: %s", strerror(-r));
	goto out;
store_fail:
	/* out of space or of inodes: which entry it stopped at */
	r = entry_fail(rd, r, "%s", store_err.message);
out:
	cfsi_store_object_abort(rd->store, obj);
	cfs_fsverity_free(fsv);
	return r;
}

static int read_xattrs(struct reader *rd, struct archive_entry *e,
		       struct cfs_node *node)
{
	const char *name;
	const void *value;
	size_t len;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &len) == ARCHIVE_OK) {
		int r;

		if (name == NULL || str_has_prefix(name, CFSI_LAYER_PREFIX))
			continue;
		r = cfs_node_set_xattr(node, name, value, len);
		if (r < 0)
			return entry_fail(rd, r, "xattr '%s': %s", name,
					  strerror(-r));
	}
	return 0;
}

static size_t map_hash(const struct child_map *m, const struct cfs_node *dir,
		       const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL ^
		     ((uintptr_t)dir * 0x9e3779b97f4a7c15ULL);

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 29)) & (m->size - 1);
}

static struct map_slot *map_find(const struct child_map *m,
				 const struct cfs_node *dir, const char *name)
{
	if (m->size == 0)
		return NULL;
	for (size_t i = map_hash(m, dir, name); m->slots[i].node != NULL;
	     i = (i + 1) & (m->size - 1)) {
		struct map_slot *s = &m->slots[i];

		if (s->dir == dir && strcmp(s->node->name, name) == 0)
			return s;
	}
	return NULL;
}

static int map_put(struct child_map *m, struct cfs_node *dir,
		   struct cfs_node *node, size_t index)
{
	size_t i;

	if ((m->n + 1) * 2 > m->size) {
		struct child_map bigger = { NULL, m->size ? m->size * 2 : 1024,
					    0 };

		bigger.slots = calloc(bigger.size, sizeof(*bigger.slots));
		if (bigger.slots == NULL)
			return -ENOMEM;
		for (size_t k = 0; k < m->size; k++) {
			struct map_slot *s = &m->slots[k];

			if (s->node == NULL)
				continue;
			for (i = map_hash(&bigger, s->dir, s->node->name);
			     bigger.slots[i].node != NULL;
			     i = (i + 1) & (bigger.size - 1))
				;
			bigger.slots[i] = *s;
			bigger.n++;
		}
		free(m->slots);
		*m = bigger;
	}
	for (i = map_hash(m, dir, node->name); m->slots[i].node != NULL;
	     i = (i + 1) & (m->size - 1))
		;
	m->slots[i] = (struct map_slot){ dir, node, index };
	m->n++;
	return 0;
}

/* Remove slot s, shifting back the entries of its probe run. */
static void map_delete(struct child_map *m, struct map_slot *s)
{
	size_t i = (size_t)(s - m->slots), j = i;

	m->slots[i].node = NULL;
	m->n--;
	for (;;) {
		size_t home;

		j = (j + 1) & (m->size - 1);
		if (m->slots[j].node == NULL)
			return;
		home = map_hash(m, m->slots[j].dir, m->slots[j].node->name);
		/* can the entry at j move back to i? only if its home is not
		 * in the cyclic range (i, j] */
		if ((i <= j) ? (home <= i || home > j) :
			       (home <= i && home > j)) {
			m->slots[i] = m->slots[j];
			m->slots[j].node = NULL;
			i = j;
		}
	}
}

/* Drop from the map what is below dir (being removed from the tree). */
static void map_forget_below(struct child_map *m, struct cfs_node *dir)
{
	for (size_t k = 0; k < dir->n_children; k++) {
		struct cfs_node *c = dir->children[k];
		struct map_slot *s;

		if (cfs_node_is_dir(c))
			map_forget_below(m, c);
		s = map_find(m, dir, c->name);
		if (s != NULL)
			map_delete(m, s);
	}
}

static struct cfs_node *layer_child(struct reader *rd, struct cfs_node *dir,
				    const char *name)
{
	struct map_slot *s = map_find(&rd->map, dir, name);

	return s ? s->node : NULL;
}

static int layer_add(struct reader *rd, struct cfs_node *dir,
		     struct cfs_node *child, const char *name)
{
	int r = cfsi_node_append_child(dir, child, name);

	if (r < 0)
		return r;
	r = map_put(&rd->map, dir, child, dir->n_children - 1);
	if (r < 0) {
		/* undone: the caller keeps its reference */
		cfs_node_ref(child);
		cfsi_node_remove_child_at(dir, dir->n_children - 1);
	}
	return r;
}

static void layer_remove(struct reader *rd, struct cfs_node *dir,
			 struct cfs_node *child)
{
	struct map_slot *s = map_find(&rd->map, dir, child->name);
	size_t i, last = dir->n_children - 1;

	if (s == NULL)
		return;
	i = s->index;
	if (cfs_node_is_dir(child))
		map_forget_below(&rd->map, child);
	s = map_find(&rd->map, dir, child->name);
	map_delete(&rd->map, s);
	if (i != last) {
		struct map_slot *moved = map_find(&rd->map, dir,
						  dir->children[last]->name);

		if (moved != NULL)
			moved->index = i;
	}
	cfsi_node_remove_child_at(dir, i);
}

/* The node at path (clean) of the layer tree being read. */
static struct cfs_node *layer_child_fn(void *userdata, struct cfs_node *dir,
				       const char *name)
{
	return layer_child(userdata, dir, name);
}

static struct cfs_node *layer_lookup(struct reader *rd, const char *path)
{
	return cfsi_path_walk(rd->root, path, layer_child_fn, rd);
}

static void sort_tree(struct cfs_node *dir)
{
	cfsi_node_sort_children(dir);
	for (size_t k = 0; k < dir->n_children; k++)
		if (cfs_node_is_dir(dir->children[k]))
			sort_tree(dir->children[k]);
}

/* Symlinks of the layer followed on the path of one entry. */
#define MAX_SYMLINK_HOPS 40

/*
 * The path an entry below the symlink link (at path up to end) goes to: its
 * target, from the symlink's directory (from the root when absolute), then
 * the rest of path (after end), made clean, as an unpacker resolving the
 * path inside the root (".." stopping at it) finds it. NULL: no memory.
 */
static char *below_symlink(const char *path, const char *end,
			   const struct cfs_node *link)
{
	const char *slash = memrchr(path, '/', (size_t)(end - path));
	int dir_len = slash == NULL ? 0 : (int)(slash - path);
	char *joined = NULL, *clean;

	if (link->payload[0] == '/')
		dir_len = 0;
	if (asprintf(&joined, "%.*s/%s/%s", dir_len, path, link->payload,
		     end + 1) < 0)
		return NULL;
	clean = cfsi_clean_path(joined);
	free(joined);
	return clean;
}

/* Put node at path (clean, not "") of the layer tree, making missing
 * parents; what is there already is replaced, but for a directory onto a
 * directory, which takes the new metadata and keeps its children. A
 * symlink of the layer on the way is followed inside the root (umoci
 * writes whiteouts below a symlink that replaced a directory). */
static int layer_put(struct reader *rd, const char *path, struct cfs_node *node)
{
	struct cfs_node *dir = rd->root, *old;
	_cleanup_free_ char *resolved = NULL;
	char comp[CFS_NAME_MAX + 1];
	const char *p = path;
	unsigned hops = 0;
	int r;

	for (;;) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		struct cfs_node *next;

		if (len > CFS_NAME_MAX)
			return entry_fail(rd, -ENAMETOOLONG,
					  "a name in its path is longer than "
					  "%d bytes",
					  CFS_NAME_MAX);
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (*end == '\0')
			break;
		next = layer_child(rd, dir, comp);
		if (next == NULL) {
			next = cfsi_layer_new_dir(true);
			if (next == NULL)
				return -ENOMEM;
			r = layer_add(rd, dir, next, comp);
			if (r < 0) {
				cfs_node_unref(next);
				return entry_fail(rd, r, "%s", strerror(-r));
			}
		} else if ((next->mode & S_IFMT) == S_IFLNK &&
			   next->payload != NULL) {
			char *to;

			if (++hops > MAX_SYMLINK_HOPS)
				return entry_fail(rd, -ELOOP,
						  "more than %d symlinks on "
						  "its path",
						  MAX_SYMLINK_HOPS);
			to = below_symlink(path, end, next);
			if (to == NULL)
				return -ENOMEM;
			free(resolved);
			resolved = to;
			path = p = resolved;
			dir = rd->root;
			continue;
		} else if (!cfs_node_is_dir(next)) {
			return entry_fail(rd, -ENOTDIR,
					  "'%.*s' on its path is not a "
					  "directory",
					  (int)(end - path), path);
		}
		dir = next;
		p = end + 1;
	}

	old = layer_child(rd, dir, comp);
	if (old != NULL && cfs_node_is_dir(old) && cfs_node_is_dir(node)) {
		r = cfsi_layer_copy_meta(old, node);
		return r < 0 ? entry_fail(rd, r, "%s", strerror(-r)) : 0;
	}
	if (old != NULL)
		layer_remove(rd, dir, old);
	r = layer_add(rd, dir, cfs_node_ref(node), comp);
	if (r < 0) {
		cfs_node_unref(node);
		return entry_fail(rd, r, "%s", strerror(-r));
	}
	return 0;
}

static bool link_target_exists(struct reader *rd, const char *target)
{
	const struct cfs_node *n = layer_lookup(rd, target);

	if (n != NULL)
		return !cfs_node_is_dir(n);
	if (rd->lower == NULL)
		return false;
	n = cfsi_path_walk((struct cfs_node *)rd->lower, target, NULL, NULL);
	return n != NULL && !cfs_node_is_dir(n);
}

/*
 * Make node the hard link to target (clean, a file of this layer read so
 * far or of the layers below). A file of this layer is linked as the inode
 * it is now, as an unpacker's link(2) does: whatever later entries do to
 * the name, the link keeps that inode. A file of the layers below (or a
 * link of this layer to one) is named by its path, for the applier.
 */
static int make_link(struct reader *rd, struct cfs_node *node,
		     const char *target)
{
	struct cfs_node *t = layer_lookup(rd, target);
	const char *below = target;
	size_t len = strlen(target);
	int r;

	if (t != NULL) {
		below = cfs_node_get_xattr(t, CFSI_LAYER_HARDLINK, &len);
		if (below == NULL) {
			t = cfs_node_resolve(t);
			node->mode = t->mode;
			r = cfs_node_make_hardlink(node, t);
			goto out;
		}
	}
	r = cfs_node_set_xattr(node, CFSI_LAYER_HARDLINK, below, len);
out:
	return r < 0 ? entry_fail(rd, r, "hard link: %s", strerror(-r)) : 0;
}

static int read_entry(struct reader *rd, struct archive_entry *e)
{
	_cleanup_free_ char *path = NULL, *target = NULL;
	const char *link = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	struct cfs_node *node;
	int r = 0;

	path = cfsi_clean_path(rd->entry);
	if (path == NULL)
		return -ENOMEM;
	/* as for a path on disk: which also bounds the depth of the tree */
	if (strlen(path) >= PATH_MAX)
		return entry_fail(rd, -ENAMETOOLONG,
				  "its name is longer than %d bytes", PATH_MAX);
	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return entry_fail(rd, -ERANGE, "owner %lld:%lld out of range",
				  (long long)uid, (long long)gid);

	node = cfs_node_new();
	if (node == NULL)
		return -ENOMEM;
	node->uid = (uint32_t)uid;
	node->gid = (uint32_t)gid;
	if (archive_entry_mtime_is_set(e)) {
		node->mtime_sec = archive_entry_mtime(e);
		node->mtime_nsec = (uint32_t)archive_entry_mtime_nsec(e);
	}

	if (link != NULL) {
		target = cfsi_clean_path(link);
		if (target == NULL) {
			r = -ENOMEM;
			goto out;
		}
		if (strlen(target) >= PATH_MAX) {
			r = entry_fail(rd, -ENAMETOOLONG,
				       "hard link to a name longer than %d "
				       "bytes",
				       PATH_MAX);
			goto out;
		}
		if (!link_target_exists(rd, target)) {
			r = entry_fail(rd, -ENOENT,
				       "hard link to '%s', which is not a file "
				       "of the archive before it",
				       link);
			goto out;
		}
		if (strcmp(target, path) == 0) {
			r = entry_fail(rd, -ELOOP, "hard link to itself");
			goto out;
		}
		node->mode = S_IFREG | (archive_entry_perm(e) & 07777);
		r = make_link(rd, node, target);
		if (r < 0)
			goto out;
	} else {
		switch (type) {
		case AE_IFREG:
		case AE_IFDIR:
		case AE_IFLNK:
		case AE_IFCHR:
		case AE_IFBLK:
		case AE_IFIFO:
			break;
		default:
			r = entry_fail(rd, -EINVAL, "unsupported file type 0%o",
				       (unsigned)type);
			goto out;
		}
		/* a symlink's mode is 0777 wherever it is unpacked */
		node->mode = type | (type == AE_IFLNK ?
					     0777 :
					     (archive_entry_perm(e) & 07777));
		if (type == AE_IFCHR || type == AE_IFBLK)
			node->rdev = (uint32_t)makedev(
				archive_entry_rdevmajor(e),
				archive_entry_rdevminor(e));
		if (type == AE_IFLNK) {
			const char *t = archive_entry_symlink(e);

			if (t == NULL || t[0] == '\0') {
				r = entry_fail(rd, -EINVAL,
					       "symlink without a target");
				goto out;
			}
			r = cfs_node_set_symlink_target(node, t);
			if (r < 0) {
				r = entry_fail(rd, r, "symlink target: %s",
					       strerror(-r));
				goto out;
			}
		}
	}
	r = read_xattrs(rd, e, node);
	if (r < 0)
		goto out;
	if (link == NULL && type == AE_IFREG) {
		la_int64_t size = archive_entry_size(e);

		if (size < 0) {
			r = entry_fail(rd, -EINVAL, "negative size");
			goto out;
		}
		/* refused before any of it is hashed or stored */
		if ((uint64_t)size > CFS_IMAGE_FILE_SIZE_MAX) {
			r = entry_fail(rd, -EFBIG,
				       "its size, %lld bytes, is more than a "
				       "composefs image can describe (2^53 "
				       "bytes: 1024 chunks of 8 TiB)",
				       (long long)size);
			goto out;
		}
		r = read_content(rd, node, (uint64_t)size);
		if (r < 0)
			goto out;
	}

	if (path[0] == '\0') {
		/* "./": the root's own metadata */
		if (type != AE_IFDIR || link != NULL)
			r = entry_fail(rd, -EINVAL,
				       "the root must be a directory");
		else
			r = cfsi_layer_copy_meta(rd->root, node);
		goto out;
	}
	r = layer_put(rd, path, node);
out:
	cfs_node_unref(node);
	return r;
}

int cfsi_tar_read(int fd, const char *name, struct cfs_store *store,
		  enum cfs_hash_alg alg, const struct cfs_node *lower,
		  cfsi_tar_progress_fn progress, void *userdata,
		  struct cfs_node **ret_layer,
		  struct cfsi_tar_result *ret_result, struct cfs_error *err)
{
	struct cfsi_tar_input *in = NULL;
	struct reader rd = { .name = name,
			     .store = store,
			     .alg = store != NULL ?
					    cfsi_store_hash_alg(store)->id :
				    alg != CFS_HASH_DEFAULT ? alg :
							      CFS_HASH_SHA256,
			     .lower = lower,
			     .err = err };
	struct cfsi_tar_result res = { 0 };
	struct archive_entry *e;
	int r = 0, ar;

	rd.buf = malloc(CFS_INLINE_RECOMMENDED_MAX + 1);
	rd.inner = archive_read_new();
	rd.root = cfsi_layer_new_dir(true);
	if (rd.buf == NULL || rd.inner == NULL || rd.root == NULL) {
		r = cfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}

	r = cfsi_tar_input_open(fd, name, &in);
	if (r < 0) {
		r = cfs_error_set(err, r, "%s: cannot start reading: %s", name,
				  strerror(-r));
		goto out;
	}
	/* the inner reader: tar (ustar, pax, GNU) from those bytes */
	if (archive_read_support_format_tar(rd.inner) != ARCHIVE_OK ||
	    archive_read_open(rd.inner, in, NULL, cfsi_tar_input_read, NULL) !=
		    ARCHIVE_OK) {
		r = archive_fail(&rd, "not a tar stream");
		goto out;
	}

	for (;;) {
		ar = archive_read_next_header(rd.inner, &e);
		if (ar == ARCHIVE_EOF)
			break;
		rd.entry = NULL;
		if (ar < ARCHIVE_WARN) {
			r = archive_fail(&rd, res.n_entries == 0 ?
						      "not a tar stream" :
						      "reading a header");
			goto out;
		}
		rd.entry_no++;
		rd.entry = archive_entry_pathname(e);
		if (rd.entry == NULL || rd.entry[0] == '\0') {
			rd.entry = NULL;
			r = archive_fail(&rd, "an entry without a name");
			goto out;
		}
		r = read_entry(&rd, e);
		if (r < 0)
			goto out;
		res.n_entries++;
		if (progress != NULL)
			progress(userdata, cfsi_tar_input_bytes(in),
				 res.n_entries);
	}
	rd.entry = NULL;

	/* what follows the tar's end (its padding, for the diff_id) and
	 * the end of the input side */
	r = cfsi_tar_input_finish(in, &res, err);
	if (r < 0)
		goto out;
	res.n_objects = rd.n_objects;
	if (ret_result != NULL)
		*ret_result = res;
	sort_tree(rd.root);
	/* a file whose name a later entry took lives on through its links:
	 * the first of them becomes the file, so the tree is one an image
	 * holds */
	r = cfs_tree_as_shown(rd.root);
	if (r < 0) {
		r = cfs_error_set(err, r, "%s: %s", name, strerror(-r));
		goto out;
	}
	*ret_layer = rd.root;
	rd.root = NULL;
out:
	/* the inner reader first: it may still hold a slot */
	if (rd.inner != NULL)
		archive_read_free(rd.inner);
	cfsi_tar_input_close(in);
	free(rd.buf);
	cfs_node_unref(rd.root);
	free(rd.map.slots);
	return r;
}
