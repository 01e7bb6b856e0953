/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* The node tree: refcounted inodes, sorted children, xattrs, hard links. */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tree/node_i.h"
#include "base/util.h"

/* The layout of the reference's node, as its private header has it (see
 * node_i.h): the fields its tools may read must lie at the same offsets in
 * ours, on any target. */
struct ref_node_layout {
	int ref_count;
	void *parent;
	void **children;
	size_t children_capacity, children_size;
	void *link_to;
	bool link_to_invalid;
	char *name, *payload;
	uint8_t *content;
	void *xattrs;
	size_t n_xattrs, xattr_size;
	bool digest_set;
	uint8_t digest[32];
	struct {
		uint32_t st_mode, st_nlink, st_uid, st_gid, st_rdev;
		uint64_t st_size;
		int64_t st_mtim_sec;
		uint32_t st_mtim_nsec;
	} inode;
};
#define SAME_OFFSET(ours, theirs)                                              \
	_Static_assert(offsetof(struct cfs_node, ours) ==                      \
			       offsetof(struct ref_node_layout, theirs),       \
		       "struct cfs_node: " #ours " is not where the "          \
		       "reference has " #theirs)
SAME_OFFSET(refcount, ref_count);
SAME_OFFSET(parent, parent);
SAME_OFFSET(children, children);
SAME_OFFSET(children_cap, children_capacity);
SAME_OFFSET(n_children, children_size);
SAME_OFFSET(link_to, link_to);
SAME_OFFSET(name, name);
SAME_OFFSET(payload, payload);
SAME_OFFSET(content, content);
SAME_OFFSET(xattrs, xattrs);
SAME_OFFSET(n_xattrs, n_xattrs);
SAME_OFFSET(has_digest, digest_set);
SAME_OFFSET(digest, digest);
SAME_OFFSET(mode, inode.st_mode);
SAME_OFFSET(nlink, inode.st_nlink);
SAME_OFFSET(uid, inode.st_uid);
SAME_OFFSET(gid, inode.st_gid);
SAME_OFFSET(rdev, inode.st_rdev);
#if __SIZEOF_POINTER__ == 8
SAME_OFFSET(size, inode.st_size);
SAME_OFFSET(mtime_sec, inode.st_mtim_sec);
SAME_OFFSET(mtime_nsec, inode.st_mtim_nsec);
_Static_assert(offsetof(struct cfs_node, mode) == 144, "node ABI");
#endif

/* Each xattr counts its key and value plus twice the entry header (less one,
 * the worst case of alignment); the first one also the ibody header. The
 * reference implementation keeps this same account, so the same dumps are
 * accepted and refused. */
#define XATTR_ENTRY_OVERHEAD (2 * 4 - 1)
#define XATTR_HEADER_SIZE 12

struct cfs_node *cfs_node_new(void)
{
	struct cfs_node *node = calloc(1, sizeof(*node));

	if (node == NULL)
		return NULL;
	node->refcount = 1;
	node->nlink = 1;
	return node;
}

struct cfs_node *cfs_node_ref(struct cfs_node *node)
{
	if (node != NULL)
		node->refcount++;
	return node;
}

static void node_free(struct cfs_node *node)
{
	for (size_t i = 0; i < node->n_children; i++) {
		struct cfs_node *child = node->children[i];

		child->parent = NULL;
		free(child->name);
		child->name = NULL;
		cfs_node_unref(child);
	}
	free(node->children);
	cfs_node_unref(node->link_to);
	free(node->name);
	free(node->payload);
	free(node->content);
	for (size_t i = 0; i < node->n_xattrs; i++) {
		free(node->xattrs[i].name);
		free(node->xattrs[i].value);
	}
	free(node->xattrs);
	free(node);
}

struct cfs_node *cfs_node_unref(struct cfs_node *node)
{
	if (node == NULL)
		return NULL;
	assert(node->refcount > 0);
	if (--node->refcount == 0)
		node_free(node);
	return NULL;
}

/* Binary search; returns the index of name or where it would go. */
static size_t child_position(const struct cfs_node *node, const char *name,
			     bool *ret_found)
{
	size_t lo = 0, hi = node->n_children;

	/* Children mostly arrive in order: try the end first. */
	if (hi > 0) {
		int c = strcmp(name, node->children[hi - 1]->name);

		if (c > 0) {
			*ret_found = false;
			return hi;
		}
		if (c == 0) {
			*ret_found = true;
			return hi - 1;
		}
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, node->children[mid]->name);

		if (c == 0) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*ret_found = false;
	return lo;
}

int cfs_node_add_child(struct cfs_node *parent, struct cfs_node *child,
		       const char *name)
{
	size_t len = strlen(name), pos;
	bool found;
	char *copy;

	if (!cfs_node_is_dir(parent))
		return -ENOTDIR;
	if (len == 0 || strchr(name, '/') != NULL)
		return -EINVAL;
	if (len > CFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (child->parent != NULL || child->name != NULL)
		return -EMLINK;

	pos = child_position(parent, name, &found);
	if (found)
		return -EEXIST;

	if (parent->n_children == parent->children_cap) {
		size_t cap = parent->children_cap ? parent->children_cap * 2 :
						    8;
		struct cfs_node **c = reallocarray(parent->children, cap,
						   sizeof(*c));

		if (c == NULL)
			return -ENOMEM;
		parent->children = c;
		parent->children_cap = cap;
	}
	copy = strdup(name);
	if (copy == NULL)
		return -ENOMEM;

	memmove(parent->children + pos + 1, parent->children + pos,
		(parent->n_children - pos) * sizeof(*parent->children));
	parent->children[pos] = child;
	parent->n_children++;
	child->parent = parent;
	child->name = copy;
	return 0;
}

void cfsi_node_remove_child(struct cfs_node *parent, struct cfs_node *child)
{
	bool found;
	size_t pos;

	if (child->parent != parent || child->name == NULL)
		return;
	pos = child_position(parent, child->name, &found);
	if (!found || parent->children[pos] != child)
		return;
	memmove(parent->children + pos, parent->children + pos + 1,
		(parent->n_children - pos - 1) * sizeof(*parent->children));
	parent->n_children--;
	/* detached as node_free() does */
	child->parent = NULL;
	free(child->name);
	child->name = NULL;
	cfs_node_unref(child);
}

int cfsi_node_append_child(struct cfs_node *parent, struct cfs_node *child,
			   const char *name)
{
	size_t len = strlen(name);
	char *copy;

	if (!cfs_node_is_dir(parent))
		return -ENOTDIR;
	if (len == 0 || strchr(name, '/') != NULL)
		return -EINVAL;
	if (len > CFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (child->parent != NULL || child->name != NULL)
		return -EMLINK;
	if (parent->n_children == parent->children_cap) {
		size_t cap = parent->children_cap ? parent->children_cap * 2 :
						    8;
		struct cfs_node **c = reallocarray(parent->children, cap,
						   sizeof(*c));

		if (c == NULL)
			return -ENOMEM;
		parent->children = c;
		parent->children_cap = cap;
	}
	copy = strdup(name);
	if (copy == NULL)
		return -ENOMEM;
	parent->children[parent->n_children++] = child;
	child->parent = parent;
	child->name = copy;
	return 0;
}

void cfsi_node_remove_child_at(struct cfs_node *parent, size_t i)
{
	struct cfs_node *child;

	if (i >= parent->n_children)
		return;
	child = parent->children[i];
	parent->children[i] = parent->children[--parent->n_children];
	child->parent = NULL;
	free(child->name);
	child->name = NULL;
	cfs_node_unref(child);
}

static int cmp_child_names(const void *a, const void *b)
{
	const struct cfs_node *x = *(struct cfs_node *const *)a;
	const struct cfs_node *y = *(struct cfs_node *const *)b;

	return strcmp(x->name, y->name);
}

void cfsi_node_sort_children(struct cfs_node *node)
{
	if (node->n_children > 1)
		qsort(node->children, node->n_children, sizeof(*node->children),
		      cmp_child_names);
}

struct cfs_node *cfs_node_lookup_child(const struct cfs_node *node,
				       const char *name)
{
	bool found;
	size_t pos = child_position(node, name, &found);

	return found ? node->children[pos] : NULL;
}

size_t cfs_node_get_n_children(const struct cfs_node *node)
{
	return node->n_children;
}

struct cfs_node *cfs_node_get_child(const struct cfs_node *node, size_t i)
{
	return i < node->n_children ? node->children[i] : NULL;
}

const char *cfs_node_get_name(const struct cfs_node *node)
{
	return node->name;
}

struct cfs_node *cfs_node_get_parent(const struct cfs_node *node)
{
	return node->parent;
}

uint32_t cfs_node_get_mode(const struct cfs_node *node)
{
	return node->mode;
}

int cfs_node_set_mode(struct cfs_node *node, uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFBLK:
	case S_IFCHR:
	case S_IFSOCK:
	case S_IFIFO:
		break;
	default:
		return -EINVAL;
	}
	node->mode = mode;
	return 0;
}

uint32_t cfs_node_get_uid(const struct cfs_node *node)
{
	return node->uid;
}

void cfs_node_set_uid(struct cfs_node *node, uint32_t uid)
{
	node->uid = uid;
}

uint32_t cfs_node_get_gid(const struct cfs_node *node)
{
	return node->gid;
}

void cfs_node_set_gid(struct cfs_node *node, uint32_t gid)
{
	node->gid = gid;
}

uint32_t cfs_node_get_nlink(const struct cfs_node *node)
{
	return node->nlink;
}

void cfs_node_set_nlink(struct cfs_node *node, uint32_t nlink)
{
	node->nlink = nlink;
}

uint64_t cfs_node_get_rdev(const struct cfs_node *node)
{
	return node->rdev;
}

void cfs_node_set_rdev(struct cfs_node *node, uint64_t rdev)
{
	node->rdev = rdev;
}

uint64_t cfs_node_get_size(const struct cfs_node *node)
{
	return node->size;
}

void cfs_node_set_size(struct cfs_node *node, uint64_t size)
{
	if (size == node->size)
		return;
	free(node->content);
	node->content = NULL;
	node->size = size;
}

void cfs_node_get_mtime(const struct cfs_node *node, int64_t *sec,
			uint32_t *nsec)
{
	*sec = node->mtime_sec;
	*nsec = node->mtime_nsec;
}

void cfs_node_set_mtime(struct cfs_node *node, int64_t sec, uint32_t nsec)
{
	node->mtime_sec = sec;
	node->mtime_nsec = nsec;
}

int cfs_node_set_payload(struct cfs_node *node, const char *payload)
{
	char *copy = NULL;

	if (payload != NULL) {
		if (strlen(payload) > CFS_PAYLOAD_MAX)
			return -ENAMETOOLONG;
		copy = strdup(payload);
		if (copy == NULL)
			return -ENOMEM;
	}
	free(node->payload);
	node->payload = copy;
	return 0;
}

const char *cfs_node_get_payload(const struct cfs_node *node)
{
	return node->payload;
}

int cfs_node_set_symlink_target(struct cfs_node *node, const char *target)
{
	int r;

	if (target == NULL || *target == '\0')
		return -EINVAL;
	r = cfs_node_set_payload(node, target);
	if (r < 0)
		return r;
	node->size = strlen(target);
	return 0;
}

int cfs_node_set_content(struct cfs_node *node, const uint8_t *data, size_t len)
{
	uint8_t *copy = NULL;

	if (data != NULL && len > 0) {
		if (len > CFS_INLINE_CONTENT_MAX)
			return -EFBIG;
		copy = malloc(len);
		if (copy == NULL)
			return -ENOMEM;
		memcpy(copy, data, len);
	} else {
		len = 0;
	}
	free(node->content);
	node->content = copy;
	node->size = len;
	return 0;
}

const uint8_t *cfs_node_get_content(const struct cfs_node *node)
{
	return node->content;
}

void cfs_node_set_digest(struct cfs_node *node,
			 const uint8_t digest[CFS_DIGEST_SIZE])
{
	(void)cfs_node_set_digest_alg(node, CFS_HASH_SHA256, digest);
}

int cfs_node_set_digest_alg(struct cfs_node *node, enum cfs_hash_alg alg,
			    const uint8_t *digest)
{
	size_t size;

	if (alg == CFS_HASH_DEFAULT)
		alg = CFS_HASH_SHA256;
	if (alg != CFS_HASH_SHA256 && alg != CFS_HASH_SHA512)
		return -EOPNOTSUPP;
	size = alg == CFS_HASH_SHA512 ? 64 : 32;
	memcpy(node->digest, digest, CFS_DIGEST_SIZE);
	memset(node->digest_full, 0, sizeof(node->digest_full));
	memcpy(node->digest_full, digest, size);
	node->digest_alg = (uint8_t)alg;
	node->has_digest = true;
	return 0;
}

enum cfs_hash_alg cfs_node_get_digest_alg(const struct cfs_node *node)
{
	return node->has_digest ? (enum cfs_hash_alg)node->digest_alg : 0;
}

void cfs_node_clear_digest(struct cfs_node *node)
{
	node->has_digest = false;
}

const uint8_t *cfs_node_get_digest(const struct cfs_node *node)
{
	return node->has_digest ? node->digest_full : NULL;
}

/* COMPOSEFS_1.0's, of programs built before SHA-512, which read
 * CFS_DIGEST_SIZE bytes from it: no digest for a SHA-512 one (as
 * lcfs_node_get_fsverity_digest()), rather than its first half. */
const uint8_t *cfsi_node_get_digest_1_0(const struct cfs_node *node);
CFS_SYMVER_COMPAT(cfsi_node_get_digest_1_0, cfs_node_get_digest,
		  "COMPOSEFS_1.0");

const uint8_t *cfsi_node_get_digest_1_0(const struct cfs_node *node)
{
	if (node->has_digest && node->digest_alg == CFS_HASH_SHA512)
		return NULL;
	return cfs_node_get_digest(node);
}

static ssize_t find_xattr(const struct cfs_node *node, const char *name)
{
	for (size_t i = 0; i < node->n_xattrs; i++)
		if (strcmp(node->xattrs[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static size_t xattr_cost(const char *name, size_t len)
{
	return XATTR_ENTRY_OVERHEAD + strlen(name) + len;
}

int cfs_node_unset_xattr(struct cfs_node *node, const char *name)
{
	ssize_t i = find_xattr(node, name);
	struct cfs_xattr *x;

	if (i < 0)
		return -ENODATA;
	x = &node->xattrs[i];
	node->xattr_budget -= xattr_cost(x->name, x->len);
	free(x->name);
	free(x->value);
	memmove(x, x + 1, (node->n_xattrs - i - 1) * sizeof(*x));
	if (--node->n_xattrs == 0)
		node->xattr_budget = 0;
	return 0;
}

int cfs_node_set_xattr(struct cfs_node *node, const char *name,
		       const void *value, size_t len)
{
	return cfsi_node_set_xattr_limit(node, name, value, len,
					 CFS_XATTR_EXTERNAL_MAX);
}

int cfsi_node_set_xattr_limit(struct cfs_node *node, const char *name,
			      const void *value, size_t len, size_t limit)
{
	size_t name_len = strlen(name), cost, budget;
	struct cfs_xattr *xs;
	ssize_t existing;
	char *n;
	uint8_t *v;

	if (name_len == 0 || name_len > 255)
		return -ERANGE;
	if (len > UINT16_MAX)
		return -EINVAL;

	existing = find_xattr(node, name);
	budget = node->xattr_budget;
	if (existing >= 0)
		budget = node->n_xattrs == 1 ?
				 0 :
				 budget -
					 xattr_cost(name,
						    node->xattrs[existing].len);
	cost = xattr_cost(name, len);
	if (node->n_xattrs == 0 || (existing >= 0 && node->n_xattrs == 1))
		cost += XATTR_HEADER_SIZE;
	if (budget + cost > limit)
		return -ERANGE;

	/* one byte more, always zero: a value read as a string ends */
	v = malloc(len + 1);
	if (v == NULL)
		return -ENOMEM;
	if (len > 0)
		memcpy(v, value, len);
	v[len] = 0;

	if (existing >= 0) {
		struct cfs_xattr *x = &node->xattrs[existing];

		free(x->value);
		x->value = v;
		x->len = (uint16_t)len;
		node->xattr_budget = budget + cost;
		return 0;
	}

	n = strdup(name);
	xs = reallocarray(node->xattrs, node->n_xattrs + 1, sizeof(*xs));
	if (n == NULL || xs == NULL) {
		free(n);
		free(v);
		if (xs != NULL)
			node->xattrs = xs;
		return -ENOMEM;
	}
	node->xattrs = xs;
	xs[node->n_xattrs++] = (struct cfs_xattr){ n, v, (uint16_t)len };
	node->xattr_budget = budget + cost;
	return 0;
}

const void *cfs_node_get_xattr(const struct cfs_node *node, const char *name,
			       size_t *ret_len)
{
	ssize_t i = find_xattr(node, name);

	if (i < 0)
		return NULL;
	if (ret_len != NULL)
		*ret_len = node->xattrs[i].len;
	return node->xattrs[i].value;
}

size_t cfs_node_get_n_xattrs(const struct cfs_node *node)
{
	return node->n_xattrs;
}

const char *cfs_node_get_xattr_name(const struct cfs_node *node, size_t i)
{
	return i < node->n_xattrs ? node->xattrs[i].name : NULL;
}

const void *cfs_node_get_xattr_value(const struct cfs_node *node, size_t i,
				     size_t *ret_len)
{
	if (i >= node->n_xattrs)
		return NULL;
	if (ret_len != NULL)
		*ret_len = node->xattrs[i].len;
	return node->xattrs[i].value;
}

int cfs_node_make_hardlink(struct cfs_node *node, struct cfs_node *target)
{
	if (node == target || cfs_node_is_dir(target) || cfs_node_is_dir(node))
		return -EINVAL;
	for (struct cfs_node *t = target; t != NULL; t = t->link_to)
		if (t == node)
			return -ELOOP;
	cfs_node_unref(node->link_to);
	node->link_to = cfs_node_ref(target);
	target->nlink++;
	return 0;
}

struct cfs_node *cfs_node_get_hardlink_target(const struct cfs_node *node)
{
	return node->link_to;
}

/* ------------------------------------------------------------------ */
/* Copies */

int cfsi_node_copy_meta(struct cfs_node *dst, const struct cfs_node *src,
			const char *skip_prefix)
{
	dst->mode = src->mode;
	dst->uid = src->uid;
	dst->gid = src->gid;
	dst->mtime_sec = src->mtime_sec;
	dst->mtime_nsec = src->mtime_nsec;
	for (size_t i = 0; i < dst->n_xattrs; i++) {
		free(dst->xattrs[i].name);
		free(dst->xattrs[i].value);
	}
	dst->n_xattrs = 0;
	dst->xattr_budget = 0;
	for (size_t i = 0; i < src->n_xattrs; i++) {
		const struct cfs_xattr *x = &src->xattrs[i];
		int r;

		if (skip_prefix != NULL && str_has_prefix(x->name, skip_prefix))
			continue;
		r = cfsi_node_set_xattr_limit(dst, x->name, x->value, x->len,
					      SIZE_MAX);
		if (r < 0)
			return r;
	}
	return 0;
}

struct cfs_node *cfsi_node_copy(const struct cfs_node *src, unsigned flags,
				const char *skip_prefix)
{
	struct cfs_node *n = cfs_node_new();

	if (n == NULL)
		return NULL;
	if (cfsi_node_copy_meta(n, src, skip_prefix) < 0)
		return cfs_node_unref(n);
	n->rdev = src->rdev;
	n->size = src->size;
	n->has_digest = src->has_digest;
	memcpy(n->digest, src->digest, CFS_DIGEST_SIZE);
	memcpy(n->digest_full, src->digest_full, CFS_DIGEST_MAX_SIZE);
	n->digest_alg = src->digest_alg;
	if (flags & CFSI_NODE_COPY_NLINK)
		n->nlink = src->nlink;
	if (flags & CFSI_NODE_COPY_LINK)
		n->link_to = cfs_node_ref(src->link_to);
	if (src->payload != NULL && cfs_node_set_payload(n, src->payload) < 0)
		return cfs_node_unref(n);
	if (src->content != NULL) {
		n->content = malloc(src->size ? src->size : 1);
		if (n->content == NULL)
			return cfs_node_unref(n);
		memcpy(n->content, src->content, src->size);
	}
	return n;
}
