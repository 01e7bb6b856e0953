/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * An image back to a node tree, such that writing the tree again gives the
 * same image: the overlayfs xattrs the writer added become payload, digest
 * and whiteouts again, escaped names are unescaped, and the whiteouts the
 * writer adds by itself are left out.
 *
 * Hard links: the writer numbers inodes (i_ino) in the breadth-first order
 * in which it queued them, so walking the image in the same order, the
 * entry at which an inode's number equals the count of inodes met so far is
 * the one the writer had as the file; the other entries are links to it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/erofs-format.h"
#include "image/image_i.h"
#include "tree/node_i.h"
#include "base/util.h"

/* Deeper directories could not be named by a path (PATH_MAX), and every
 * consumer of a tree (printer, writer, free) recurses once per level: a
 * hostile image nesting a million directories would overflow the stack. */
#define TREE_DEPTH_MAX 2048

/* The largest regular file a dump or the writer takes (2^53 bytes). */
#define FILE_SIZE_MAX (UINT64_C(1) << 53)

struct nid_entry {
	uint64_t nid;
	bool used;
	bool is_dir;
	bool seen_whiteout;
	struct cfs_node *node; /* the file, once met */
	struct cfs_node **links; /* link nodes met before the file */
	size_t n_links;
	uint64_t taken_at; /* the count of inodes once node was taken */
	bool parent_marked; /* node's directory holds whiteouts */
};

struct dir_item {
	struct cfs_node *node;
	uint64_t nid;
	unsigned depth; /* the root's is 0 */
	bool marked; /* the writer marked it as holding whiteouts */
};

struct builder {
	const struct cfs_image *img;
	struct cfs_error *err;

	struct nid_entry *map;
	size_t map_size, map_used;

	struct dir_item *queue;
	size_t queue_len, queue_cap, queue_head;

	uint64_t counter; /* inodes met so far, in the writer's order */
	struct cfs_node *current; /* node whose xattrs are being read... */
	uint64_t current_nid; /* ...and its inode */
	unsigned xattrs_seen, xattrs_shared; /* entries met, shared ones */
	size_t from_shared; /* node xattrs that came from shared entries */

	/* Xattrs the writer adds to whiteouts and their directories, when
	 * met elsewhere, were the input's own: kept, once that is known. */
	struct held_xattr *held;
	size_t n_held, cap_held;
	bool marked; /* the current inode has the whiteouts marks */
};

struct held_xattr {
	struct cfs_node *node;
	const char *name; /* as given to the writer */
	uint8_t *value;
	size_t len;
	bool dir_only; /* the writer's on a directory holding whiteouts */
};

static struct nid_entry *map_get(struct builder *b, uint64_t nid, bool create)
{
	size_t mask, slot;

	if (create && (b->map_used + 1) * 2 > b->map_size) {
		size_t size = b->map_size ? b->map_size * 2 : 1024;
		struct nid_entry *m = calloc(size, sizeof(*m));

		if (m == NULL)
			return NULL;
		for (size_t i = 0; i < b->map_size; i++) {
			if (!b->map[i].used)
				continue;
			slot = (b->map[i].nid * 0x9E3779B97F4A7C15ull >> 20) &
			       (size - 1);
			while (m[slot].used)
				slot = (slot + 1) & (size - 1);
			m[slot] = b->map[i];
		}
		free(b->map);
		b->map = m;
		b->map_size = size;
	}
	if (b->map_size == 0)
		return NULL;
	mask = b->map_size - 1;
	for (slot = (nid * 0x9E3779B97F4A7C15ull >> 20) & mask;
	     b->map[slot].used; slot = (slot + 1) & mask)
		if (b->map[slot].nid == nid)
			return &b->map[slot];
	if (!create)
		return NULL;
	b->map[slot] = (struct nid_entry){ .nid = nid, .used = true };
	b->map_used++;
	return &b->map[slot];
}

static int push_dir(struct builder *b, struct cfs_node *node, uint64_t nid,
		    unsigned depth, bool marked)
{
	if (b->queue_len == b->queue_cap) {
		size_t cap = b->queue_cap ? b->queue_cap * 2 : 64;
		struct dir_item *q = reallocarray(b->queue, cap, sizeof(*q));

		if (q == NULL)
			return -ENOMEM;
		b->queue = q;
		b->queue_cap = cap;
	}
	b->queue[b->queue_len++] = (struct dir_item){ node, nid, depth,
						      marked };
	return 0;
}

static int hold_xattr(struct builder *b, const char *name, const void *value,
		      size_t len, bool dir_only)
{
	struct held_xattr *h;

	if (b->n_held == b->cap_held) {
		size_t cap = b->cap_held ? b->cap_held * 2 : 16;

		h = reallocarray(b->held, cap, sizeof(*h));
		if (h == NULL)
			return -ENOMEM;
		b->held = h;
		b->cap_held = cap;
	}
	h = &b->held[b->n_held];
	h->value = malloc(len > 0 ? len : 1);
	if (h->value == NULL)
		return -ENOMEM;
	memcpy(h->value, value, len);
	h->len = len;
	h->name = name;
	h->dir_only = dir_only;
	h->node = cfs_node_ref(b->current);
	b->n_held++;
	return 0;
}

static bool has_whiteout(const struct cfs_node *dir)
{
	for (size_t i = 0; i < dir->n_children; i++)
		if (S_ISCHR(dir->children[i]->mode) &&
		    dir->children[i]->rdev == 0)
			return true;
	return false;
}

/* Give back the held xattrs the writer would not have added: to a node
 * that is no whiteout, to a directory that holds none. Done for the nodes
 * of one inode (since = where its xattrs started), or, for directories,
 * once the whole tree is there. */
static int settle_held(struct builder *b, size_t since, bool dirs)
{
	size_t kept = since;
	int r = 0;

	for (size_t i = since; i < b->n_held; i++) {
		struct held_xattr *h = &b->held[i];

		if (h->dir_only && !dirs) {
			b->held[kept++] = *h;
			continue;
		}
		if (r == 0 && !(h->dir_only ? has_whiteout(h->node) :
					      S_ISCHR(h->node->mode)))
			r = cfsi_node_set_xattr_limit(
				h->node, h->name, h->value, h->len, UINT16_MAX);
		cfs_node_unref(h->node);
		free(h->value);
	}
	b->n_held = kept;
	return r < 0 ? cfs_error_set(b->err, r == -ERANGE ? -EUCLEAN : r,
				     "xattrs: %s", strerror(-r)) :
		       0;
}

/* One stored xattr, turned back into what the writer was given. */
static int take_xattr(void *userdata, const char *name, const void *value,
		      size_t len)
{
	struct builder *b = userdata;
	struct cfs_node *n = b->current;
	char unescaped[300];
	bool shared = b->xattrs_seen++ < b->xattrs_shared;
	int r;

	if (strcmp(name, OVL_XATTR_REDIRECT) == 0 ||
	    strcmp(name, OVL_XATTR_METACOPY) == 0) {
		/* decoded as the reader decodes them (cfsi_overlay_xattr) */
		struct cfs_overlay_info info = { .metacopy = false };

		r = cfsi_overlay_xattr(name, value, len, &info);
		if (r < 0)
			return cfs_error_set(b->err, -EUCLEAN,
					     "inode %llu: invalid %s",
					     (unsigned long long)b->current_nid,
					     name);
		if (!S_ISREG(n->mode))
			return 0;
		if (info.object[0] != '\0')
			return cfs_node_set_payload(n, info.object);
		if (info.has_digest)
			(void)cfs_node_set_digest_alg(n, info.digest_alg,
						      info.digest);
		return 0;
	}
	if (strcmp(name, OVL_XATTR_ESCAPED_WHITEOUT) == 0 && S_ISREG(n->mode)) {
		n->mode = S_IFCHR | (n->mode & ~S_IFMT);
		n->rdev = 0;
		cfs_node_set_size(n, 0);
		return 0;
	}
	/* The writer adds these itself, to whiteouts and to directories
	 * holding whiteouts: held until it is known whether this is one. */
	if (strcmp(name, OVL_XATTR_USER_WHITEOUT) == 0)
		return hold_xattr(b, OVL_XATTR_USER_WHITEOUT, value, len,
				  false);
	if (strcmp(name, OVL_XATTR_USER_WHITEOUTS) == 0 && S_ISDIR(n->mode)) {
		b->marked = true;
		return hold_xattr(b, OVL_XATTR_USER_WHITEOUTS, value, len,
				  true);
	}
	if (strcmp(name, OVL_XATTR_ESCAPED_WHITEOUTS) == 0 &&
	    S_ISDIR(n->mode)) {
		b->marked = true;
		return hold_xattr(b, "trusted.overlay.whiteouts", value, len,
				  true);
	}
	if (str_has_prefix(name, OVL_XATTR_TRUSTED_PREFIX)) {
		if (!str_has_prefix(name, OVL_XATTR_ESCAPED_PREFIX))
			return 0; /* overlayfs' own */
		snprintf(unescaped, sizeof(unescaped), "%s%s",
			 OVL_XATTR_TRUSTED_PREFIX,
			 name + strlen(OVL_XATTR_ESCAPED_PREFIX));
		name = unescaped;
	}
	r = cfsi_node_set_xattr_limit(n, name, value, len, UINT16_MAX);
	if (r < 0)
		return cfs_error_set(b->err, r == -ERANGE ? -EUCLEAN : r,
				     "xattr '%s': %s", name, strerror(-r));
	if (shared)
		b->from_shared = n->n_xattrs;
	return 0;
}

static void reverse_xattrs(struct cfs_xattr *x, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		struct cfs_xattr t = x[i];

		x[i] = x[n - 1 - i];
		x[n - 1 - i] = t;
	}
}

/* The writer stores no size for a device, fifo or socket, but gives it an
 * extended inode when the size it was given passes 32 bits. Such an inode,
 * extended for no other reason, must be given a size past 32 bits again,
 * or writing the tree would not give the same image. */
static bool special_sized(const struct cfs_image *img,
			  const struct cfsi_inode *ino)
{
	const struct cfs_inode *i = &ino->pub;
	uint8_t format =
		img->data[img->meta_start + (i->nid << EROFS_SLOT_BITS)];

	return (S_ISCHR(i->mode) || S_ISBLK(i->mode) || S_ISFIFO(i->mode) ||
		S_ISSOCK(i->mode)) &&
	       (format >> EROFS_I_VERSION_BIT & EROFS_I_VERSION_MASK) != 0 &&
	       i->mtime_sec == img->build_time &&
	       i->mtime_nsec == img->build_time_nsec &&
	       i->nlink <= UINT16_MAX && i->uid <= UINT16_MAX &&
	       i->gid <= UINT16_MAX;
}

/* Fill node from inode ino: metadata, content, xattrs. */
static int load_inode(struct builder *b, struct cfs_node *n,
		      const struct cfsi_inode *ino)
{
	const struct cfs_inode *i = &ino->pub;
	size_t held;
	int r;

	/* A larger file could be neither dumped nor written again: the dump
	 * format and the writer stop here. */
	if (S_ISREG(i->mode) && i->size > FILE_SIZE_MAX)
		return cfs_error_set(b->err, -EUCLEAN,
				     "inode %llu: file size %llu out of range",
				     (unsigned long long)i->nid,
				     (unsigned long long)i->size);
	n->mode = i->mode;
	n->nlink = i->nlink;
	n->uid = i->uid;
	n->gid = i->gid;
	n->rdev = i->rdev;
	n->size = i->size;
	n->mtime_sec = i->mtime_sec;
	n->mtime_nsec = i->mtime_nsec;
	if (special_sized(b->img, ino))
		n->size = (uint64_t)UINT32_MAX + 1;

	if (S_ISLNK(i->mode)) {
		char target[CFS_PAYLOAD_MAX + 1];
		size_t copied;

		r = cfsi_image_flat_data(b->img, ino, 0, target, i->size,
					 &copied, b->err);
		if (r < 0 || copied != i->size || memchr(target, 0, copied))
			return r < 0 ? r :
				       cfs_error_set(
					       b->err, -EUCLEAN,
					       "inode %llu: bad symlink",
					       (unsigned long long)i->nid);
		target[copied] = '\0';
		r = cfs_node_set_symlink_target(n, target);
		if (r < 0)
			return r;
	} else if (S_ISREG(i->mode) && i->size > 0 && !ino->chunked) {
		uint8_t content[CFS_INLINE_CONTENT_MAX];
		size_t copied;

		if (i->size > CFS_INLINE_CONTENT_MAX)
			return cfs_error_set(
				b->err, -EUCLEAN,
				"inode %llu: %llu bytes of inline content",
				(unsigned long long)i->nid,
				(unsigned long long)i->size);
		r = cfsi_image_flat_data(b->img, ino, 0, content, i->size,
					 &copied, b->err);
		if (r < 0)
			return r;
		r = cfs_node_set_content(n, content, copied);
		if (r < 0)
			return r;
	}

	b->current = n;
	b->current_nid = i->nid;
	b->xattrs_seen = 0;
	b->xattrs_shared = ino->xattr_size ? b->img->data[ino->xattr_off + 4] :
					     0;
	b->from_shared = 0;
	b->marked = false;
	held = b->n_held;
	r = cfsi_image_xattrs(b->img, ino, take_xattr, b, b->err);
	if (r < 0)
		return r;
	/* The reader walks shared entries first; the reference lists the
	 * inline ones first, and `composefs-info dump` must print what it
	 * prints (the writer sorts them again anyway). */
	if (b->from_shared > 0 && b->from_shared < n->n_xattrs) {
		reverse_xattrs(n->xattrs, b->from_shared);
		reverse_xattrs(n->xattrs + b->from_shared,
			       n->n_xattrs - b->from_shared);
		reverse_xattrs(n->xattrs, n->n_xattrs);
	}
	return settle_held(b, held, false);
}

/* Bytes compared, a prefix first: the order of EROFS directories. */
static int name_order(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

struct listing {
	struct builder *b;
	struct cfs_node *dir;
	unsigned depth;
	bool marked; /* dir holds whiteouts, says the image */
	int error;
	uint64_t nid; /* of dir */
	char prev[CFS_NAME_MAX]; /* the entry before, prev_len > 0 */
	size_t prev_len;
};

static bool is_whiteout(const struct cfs_node *n)
{
	return S_ISCHR(n->mode) && n->rdev == 0;
}

/*
 * Which name of a hard-linked inode the writer had as the file cannot
 * always be told from the inode numbers: a link met just before its file,
 * with no inode numbered between them, looks the same. Either way the
 * image is the same, but for a whiteout, whose directory the writer marks:
 * so a whiteout taken under an unmarked directory moves to a name in a
 * marked one met before any other inode (found by fuzzing).
 */
static int rename_file(struct builder *b, struct nid_entry *e,
		       struct cfs_node *n, const struct cfsi_inode *ino,
		       bool marked)
{
	struct cfs_node *old = e->node;
	int r = load_inode(b, n, ino);

	if (r < 0)
		return r;
	/* the old name becomes a link; links to it follow it to n */
	free(old->payload);
	old->payload = NULL;
	free(old->content);
	old->content = NULL;
	for (size_t i = 0; i < old->n_xattrs; i++) {
		free(old->xattrs[i].name);
		free(old->xattrs[i].value);
	}
	free(old->xattrs);
	old->xattrs = NULL;
	old->n_xattrs = 0;
	old->xattr_budget = 0;
	old->link_to = cfs_node_ref(n);
	e->node = n;
	e->parent_marked = marked;
	return 0;
}

static int add_entry(void *userdata, const char *name, size_t len, uint64_t nid,
		     uint8_t type, uint64_t index)
{
	struct listing *l = userdata;
	struct builder *b = l->b;
	struct cfsi_inode ino;
	struct nid_entry *e;
	struct cfs_node *n;
	char cname[CFS_NAME_MAX + 1];
	int r;

	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	/* EROFS keeps names sorted (lookups depend on it): out of order is
	 * damage, and would cost a move of the children for each entry. */
	if (l->prev_len > 0 && name_order(l->prev, l->prev_len, name, len) >= 0)
		return cfs_error_set(b->err, -EUCLEAN,
				     "directory %llu: entry %llu out of order",
				     (unsigned long long)l->nid,
				     (unsigned long long)index);
	if (memchr(name, '\0', len) != NULL)
		return cfs_error_set(b->err, -EUCLEAN,
				     "directory %llu: entry %llu: NUL in name",
				     (unsigned long long)l->nid,
				     (unsigned long long)index);
	memcpy(l->prev, name, len);
	l->prev_len = len;
	memcpy(cname, name, len);
	cname[len] = '\0';

	r = cfsi_image_inode(b->img, nid, &ino, b->err);
	if (r < 0)
		return r;
	e = map_get(b, nid, true);
	if (e == NULL)
		return -ENOMEM;
	if (e->is_dir || (e->node != NULL && S_ISDIR(ino.pub.mode)))
		return cfs_error_set(b->err, -EUCLEAN,
				     "directory %llu appears twice "
				     "(a loop or a hard-linked directory)",
				     (unsigned long long)nid);

	/* Real whiteouts are the writer's own (the root's 00..ff). */
	if (S_ISCHR(ino.pub.mode) && ino.pub.rdev == 0) {
		if (ino.pub.nlink > 1)
			return cfs_error_set(b->err, -EUCLEAN,
					     "whiteout %llu has hard links",
					     (unsigned long long)nid);
		if (!e->seen_whiteout)
			b->counter++;
		e->seen_whiteout = true;
		return 0;
	}

	n = cfs_node_new();
	if (n == NULL)
		return -ENOMEM;
	r = cfs_node_add_child(l->dir, n, cname);
	if (r < 0) {
		cfs_node_unref(n);
		return cfs_error_set(b->err, -EUCLEAN,
				     "directory entry '%s': %s", cname,
				     strerror(-r));
	}

	if (S_ISDIR(ino.pub.mode)) {
		if (l->depth >= TREE_DEPTH_MAX)
			return cfs_error_set(
				b->err, -EUCLEAN,
				"directory %llu nested deeper than %d levels",
				(unsigned long long)nid, TREE_DEPTH_MAX);
		e->is_dir = true;
		e->node = n;
		b->counter++;
		r = load_inode(b, n, &ino);
		return r < 0 ? r : push_dir(b, n, nid, l->depth + 1, b->marked);
	}
	if (e->node != NULL && e->taken_at == b->counter &&
	    is_whiteout(e->node) && !e->parent_marked && l->marked)
		return rename_file(b, e, n, &ino, l->marked);
	if (e->node == NULL && ino.pub.ino == b->counter) {
		/* the writer's file: links met before it now have a target */
		e->node = n;
		b->counter++;
		e->taken_at = b->counter;
		e->parent_marked = l->marked;
		r = load_inode(b, n, &ino);
		for (size_t i = 0; i < e->n_links && r == 0; i++) {
			e->links[i]->link_to = cfs_node_ref(n);
			e->links[i]->mode = n->mode;
		}
		free(e->links);
		e->links = NULL;
		e->n_links = 0;
		return r;
	}
	if (e->node != NULL) {
		n->link_to = cfs_node_ref(e->node);
		n->mode = e->node->mode;
		return 0;
	}
	/* a link met before its file: resolved when the file comes */
	{
		struct cfs_node **links = reallocarray(e->links, e->n_links + 1,
						       sizeof(*links));

		if (links == NULL)
			return -ENOMEM;
		e->links = links;
		e->links[e->n_links++] = n;
	}
	return 0;
}

/* Links whose file never came (an image another writer made): the first
 * becomes the file. */
static int settle_links(struct builder *b)
{
	for (size_t i = 0; i < b->map_size; i++) {
		struct nid_entry *e = &b->map[i];
		struct cfsi_inode ino;
		struct cfs_node *file;
		int r;

		if (!e->used || e->n_links == 0)
			continue;
		file = e->links[0];
		r = cfsi_image_inode(b->img, e->nid, &ino, b->err);
		if (r == 0)
			r = load_inode(b, file, &ino);
		for (size_t j = 1; j < e->n_links && r == 0; j++) {
			e->links[j]->link_to = cfs_node_ref(file);
			e->links[j]->mode = file->mode;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int cfs_image_to_tree(const struct cfs_image *img, struct cfs_node **ret_root,
		      struct cfs_error *err)
{
	struct builder b = { .img = img, .err = err };
	struct cfsi_inode root_ino;
	struct cfs_node *root = cfs_node_new();
	struct nid_entry *e;
	int r;

	if (root == NULL)
		return -ENOMEM;
	r = cfsi_image_inode(img, img->root_nid, &root_ino, err);
	if (r == 0)
		r = load_inode(&b, root, &root_ino);
	if (r == 0) {
		e = map_get(&b, img->root_nid, true);
		if (e == NULL) {
			r = -ENOMEM;
		} else {
			e->is_dir = true;
			e->node = root;
			b.counter = 1;
			r = push_dir(&b, root, img->root_nid, 0, b.marked);
		}
	}
	while (r == 0 && b.queue_head < b.queue_len) {
		struct dir_item d = b.queue[b.queue_head++];
		struct listing l = { .b = &b,
				     .dir = d.node,
				     .depth = d.depth,
				     .marked = d.marked,
				     .nid = d.nid };
		struct cfsi_inode dir;

		r = cfsi_image_inode(img, d.nid, &dir, err);
		if (r == 0)
			r = cfsi_image_readdir(img, &dir, 0, add_entry, &l,
					       err);
	}
	if (r == 0)
		r = settle_held(&b, 0, true);
	if (r == 0)
		r = settle_links(&b);

	for (size_t i = 0; i < b.n_held; i++) {
		cfs_node_unref(b.held[i].node);
		free(b.held[i].value);
	}
	free(b.held);
	for (size_t i = 0; i < b.map_size; i++)
		free(b.map[i].links);
	free(b.map);
	free(b.queue);
	if (r < 0) {
		if (err != NULL && err->message[0] == '\0')
			cfs_error_set(err, r, "%s", strerror(-r));
		cfs_node_unref(root);
		return r;
	}
	*ret_root = root;
	return 0;
}
