/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Unit tests of the image reader, on images the writer makes in memory. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "composefs-c/composefs.h"
#include "format/erofs-format.h"
#include "image/image_i.h"
#include "test-util.h"

/* ------------------------------------------------------------------ */
/* Building trees and images */

struct image {
	uint8_t *data;
	size_t size;
	struct cfs_image *img;
};

static void image_write(struct cfs_node *root, uint32_t version,
			struct image *out)
{
	tu_write_image(root, version, &out->data, &out->size);
	out->img = NULL;
}

static void image_open(struct image *im)
{
	struct cfs_error err = { { 0 } };

	if (cfs_image_open_buffer(im->data, im->size, &im->img, &err) < 0)
		fail_msg("open: %s", err.message);
}

static void image_make(struct cfs_node *root, uint32_t version,
		       struct image *out)
{
	image_write(root, version, out);
	image_open(out);
}

static void image_done(struct image *im)
{
	cfs_image_free(im->img);
	free(im->data);
	memset(im, 0, sizeof(*im));
}

static struct cfs_inode inode_of(const struct image *im, uint64_t nid)
{
	struct cfs_error err = { { 0 } };
	struct cfs_inode ino;

	if (cfs_image_get_inode(im->img, nid, &ino, &err) < 0)
		fail_msg("inode %llu: %s", (unsigned long long)nid,
			 err.message);
	return ino;
}

static struct cfs_inode root_inode(const struct image *im)
{
	return inode_of(im, cfs_image_get_root_nid(im->img));
}

/* The inode at a path of names separated by '/', from the root. */
static struct cfs_inode walk_path(const struct image *im, const char *path)
{
	struct cfs_inode ino = root_inode(im);
	char *copy = strdup(path), *save = NULL;

	assert_non_null(copy);
	for (char *c = strtok_r(copy, "/", &save); c != NULL;
	     c = strtok_r(NULL, "/", &save)) {
		struct cfs_error err = { { 0 } };
		uint64_t nid;

		if (cfs_image_lookup(im->img, &ino, c, strlen(c), &nid, &err) <
		    0)
			fail_msg("lookup %s in %s: %s", c, path, err.message);
		ino = inode_of(im, nid);
	}
	free(copy);
	return ino;
}

/* ------------------------------------------------------------------ */
/* Listings */

struct entry {
	char name[CFS_NAME_MAX + 1];
	size_t len;
	uint64_t nid, index;
	uint8_t type;
};

struct listing {
	struct entry *e;
	size_t n, cap;
	size_t stop_at; /* return 42 at this index (SIZE_MAX: never) */
};

static int collect(void *userdata, const char *name, size_t len, uint64_t nid,
		   uint8_t type, uint64_t index)
{
	struct listing *l = userdata;

	if (index == l->stop_at)
		return 42;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->e = realloc(l->e, l->cap * sizeof(*l->e));
		assert_non_null(l->e);
	}
	assert_true(len >= 1 && len <= CFS_NAME_MAX);
	memcpy(l->e[l->n].name, name, len);
	l->e[l->n].name[len] = '\0';
	l->e[l->n].len = len;
	l->e[l->n].nid = nid;
	l->e[l->n].index = index;
	l->e[l->n].type = type;
	l->n++;
	return 0;
}

static struct listing list_dir(const struct image *im,
			       const struct cfs_inode *dir, uint64_t start)
{
	struct cfs_error err = { { 0 } };
	struct listing l = { .stop_at = SIZE_MAX };

	if (cfs_image_readdir(im->img, dir, start, collect, &l, &err) < 0)
		fail_msg("readdir: %s", err.message);
	return l;
}

/* EROFS order: bytes compared, a prefix first. */
static int name_cmp(const struct entry *a, const struct entry *b)
{
	int c = memcmp(a->name, b->name, a->len < b->len ? a->len : b->len);

	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

/* ------------------------------------------------------------------ */
/* Directories: names, lookup, resumed listings */

/* Names that sort around "." and "..", odd bytes, the longest names. */
static const char *const odd_names[] = {
	"!",	  "-",	   "-.",   ".!",   ".-",   "...",      "..a",
	".a",	  ".\x7f", "\x01", "\x7f", "\xff", "\xff\xff", "~",
	"..\x01", ".\x01", "a b",  "a=b",  "\\",   "0",	       "00",
};

static char long_name[3][CFS_NAME_MAX + 1];

static struct cfs_node *names_tree(size_t n_plain)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *big = tu_add(root, "big", S_IFDIR | 0755);
	char name[64];

	memset(long_name[0], 'a', CFS_NAME_MAX);
	memset(long_name[1], 'z', CFS_NAME_MAX);
	memset(long_name[2], 'y', CFS_NAME_MAX);
	long_name[2][0] = '.';
	for (size_t i = 0; i < 3; i++) {
		long_name[i][CFS_NAME_MAX] = '\0';
		tu_add(big, long_name[i], S_IFREG | 0644);
	}
	for (size_t i = 0; i < sizeof(odd_names) / sizeof(*odd_names); i++) {
		static const uint32_t modes[] = { S_IFREG, S_IFDIR, S_IFIFO,
						  S_IFSOCK };

		tu_add(big, odd_names[i], modes[i % 4] | 0644);
		tu_add(root, odd_names[i], S_IFREG | 0600);
	}
	for (size_t i = 0; i < n_plain; i++) {
		struct cfs_node *n;

		/* names of varied lengths, so blocks hold varied counts */
		snprintf(name, sizeof(name), "%0*zu", (int)(5 + i % 40), i);
		n = tu_add(big, name, (i % 3 ? S_IFREG : S_IFDIR) | 0644);
		if (i % 7 == 0 && S_ISDIR(cfs_node_get_mode(n)))
			tu_add(n, "x", S_IFREG | 0644);
	}
	return root;
}

/* Every entry of dir: in order, "." and ".." right, and lookup of each
 * name (and of names just beside it) agrees with the listing. */
static size_t check_dir(const struct image *im, const struct cfs_inode *dir,
			uint64_t parent_nid, const struct cfs_node *node)
{
	struct listing l = list_dir(im, dir, 0);
	size_t expected = 2 + cfs_node_get_n_children(node);

	for (size_t i = 0; i < l.n; i++) {
		const struct entry *e = &l.e[i];
		struct cfs_error err = { { 0 } };
		char near[CFS_NAME_MAX + 2];
		uint64_t nid;

		assert_int_equal(e->index, i);
		if (i > 0)
			assert_true(name_cmp(&l.e[i - 1], e) < 0);
		assert_int_equal(cfs_image_lookup(im->img, dir, e->name, e->len,
						  &nid, &err),
				 0);
		assert_int_equal(nid, e->nid);
		if (strcmp(e->name, ".") == 0) {
			assert_int_equal(e->nid, dir->nid);
		} else if (strcmp(e->name, "..") == 0) {
			assert_int_equal(e->nid, parent_nid);
		} else {
			const struct cfs_node *c = cfs_node_lookup_child(
				node, e->name);
			struct cfs_inode ino = inode_of(im, e->nid);

			if (c == NULL) {
				/* the writer's whiteouts at the root */
				assert_int_equal(e->len, 2);
				assert_true(S_ISCHR(ino.mode));
				expected++;
				continue;
			}
			assert_int_equal(ino.mode, cfs_node_get_mode(c));
			assert_int_equal(e->type, erofs_file_type(ino.mode));
		}
		/* a name one byte longer, and one byte changed, are absent */
		memcpy(near, e->name, e->len);
		if (e->len < CFS_NAME_MAX) {
			near[e->len] = '\x01';
			if (cfs_node_lookup_child(node, near) == NULL)
				assert_int_equal(cfs_image_lookup(im->img, dir,
								  near,
								  e->len + 1,
								  &nid, NULL),
						 -ENOENT);
		}
		near[e->len] = '\0';
		near[e->len - 1] ^= 0x80;
		if (cfs_node_lookup_child(node, near) == NULL &&
		    strcmp(near, ".") && strcmp(near, ".."))
			assert_int_equal(cfs_image_lookup(im->img, dir, near,
							  e->len, &nid, NULL),
					 -ENOENT);
	}
	assert_int_equal(l.n, expected);
	free(l.e);
	return expected;
}

static void test_lookup_every_name(void **state)
{
	struct cfs_node *root = names_tree(3000);
	struct cfs_node *big = cfs_node_lookup_child(root, "big");
	struct image im;
	struct cfs_inode r, b;
	uint64_t nid;

	image_make(root, 1, &im);
	r = root_inode(&im);
	b = walk_path(&im, "big");
	/* many blocks: the binary search over blocks has work to do */
	assert_true(b.size > 20 * EROFS_BLOCK_SIZE);
	check_dir(&im, &r, r.nid, root);
	check_dir(&im, &b, r.nid, big);
	for (size_t i = 0; i < cfs_node_get_n_children(big); i++) {
		struct cfs_node *c = cfs_node_get_child(big, i);
		struct cfs_inode ci;

		if (!S_ISDIR(cfs_node_get_mode(c)))
			continue;
		assert_int_equal(cfs_image_lookup(im.img, &b,
						  cfs_node_get_name(c),
						  strlen(cfs_node_get_name(c)),
						  &nid, NULL),
				 0);
		ci = inode_of(&im, nid);
		check_dir(&im, &ci, b.nid, c);
	}

	/* before the first and after the last name, empty, too long */
	assert_int_equal(cfs_image_lookup(im.img, &b, "", 0, &nid, NULL),
			 -ENOENT);
	assert_int_equal(cfs_image_lookup(im.img, &b, " ", 1, &nid, NULL),
			 -ENOENT);
	assert_int_equal(cfs_image_lookup(im.img, &b, "\xff\xff\xff", 3, &nid,
					  NULL),
			 -ENOENT);
	{
		char toolong[CFS_NAME_MAX + 2];

		memset(toolong, 'a', sizeof(toolong));
		assert_int_equal(cfs_image_lookup(im.img, &b, toolong,
						  sizeof(toolong), &nid, NULL),
				 -ENOENT);
	}
	image_done(&im);
	cfs_node_unref(root);
}

static void test_readdir_resume(void **state)
{
	struct cfs_node *root = names_tree(1200);
	struct image im;
	struct cfs_inode b;
	struct listing all;

	image_make(root, 0, &im);
	b = walk_path(&im, "big");
	all = list_dir(&im, &b, 0);
	assert_true(all.n > 1200);
	for (size_t start = 0; start <= all.n + 1; start++) {
		struct listing rest = list_dir(&im, &b, start);
		size_t want = start < all.n ? all.n - start : 0;

		assert_int_equal(rest.n, want);
		for (size_t i = 0; i < rest.n; i++) {
			const struct entry *x = &rest.e[i],
					   *y = &all.e[start + i];

			assert_int_equal(x->index, start + i);
			assert_int_equal(x->nid, y->nid);
			assert_int_equal(x->type, y->type);
			assert_int_equal(x->len, y->len);
			assert_memory_equal(x->name, y->name, x->len);
		}
		free(rest.e);
	}

	/* a callback's non-zero return stops the walk and is returned */
	for (size_t stop = 0; stop < all.n; stop += 97) {
		struct listing l = { .stop_at = stop };

		assert_int_equal(cfs_image_readdir(im.img, &b, 0, collect, &l,
						   NULL),
				 42);
		assert_int_equal(l.n, stop);
		free(l.e);
	}
	free(all.e);
	image_done(&im);
	cfs_node_unref(root);
}

/* ------------------------------------------------------------------ */
/* Symlinks and inline data */

static const size_t link_sizes[] = { 1, 2, 100, 2000, 3000, 4000, 4095 };
static const size_t inline_sizes[] = { 1, 2, 2048, 2049, 4095, 4096, 5000 };

static uint8_t pattern(size_t size, size_t i)
{
	return (uint8_t)(i * 7 + size * 13 + i / 251);
}

static struct cfs_node *data_tree(void)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *links = tu_add(root, "links", S_IFDIR | 0755);
	struct cfs_node *files = tu_add(root, "files", S_IFDIR | 0755);
	char name[32], target[CFS_PAYLOAD_MAX + 1];
	uint8_t content[CFS_INLINE_CONTENT_MAX];

	for (size_t i = 0; i < sizeof(link_sizes) / sizeof(*link_sizes); i++) {
		size_t n = link_sizes[i];
		struct cfs_node *l;

		for (size_t j = 0; j < n; j++)
			target[j] = j % 16 == 15 ? '/' : (char)('a' + j % 26);
		target[n] = '\0';
		snprintf(name, sizeof(name), "l%zu", n);
		l = tu_add(links, name, S_IFLNK | 0777);
		assert_int_equal(cfs_node_set_symlink_target(l, target), 0);
	}
	for (size_t i = 0; i < sizeof(inline_sizes) / sizeof(*inline_sizes);
	     i++) {
		size_t n = inline_sizes[i];
		struct cfs_node *f;

		for (size_t j = 0; j < n; j++)
			content[j] = pattern(n, j);
		snprintf(name, sizeof(name), "f%zu", n);
		f = tu_add(files, name, S_IFREG | 0644);
		assert_int_equal(cfs_node_set_content(f, content, n), 0);
	}
	return root;
}

static void test_symlinks(void **state)
{
	struct cfs_node *root = data_tree();
	struct image im;

	for (uint32_t v = 0; v <= 1; v++) {
		image_make(root, v, &im);
		for (size_t i = 0; i < sizeof(link_sizes) / sizeof(*link_sizes);
		     i++) {
			size_t n = link_sizes[i], len;
			const char *target;
			char path[32];
			struct cfs_inode ino;
			struct cfsi_inode in;

			snprintf(path, sizeof(path), "links/l%zu", n);
			ino = walk_path(&im, path);
			assert_true(S_ISLNK(ino.mode));
			assert_int_equal(ino.size, n);
			assert_int_equal(cfs_image_read_symlink(im.img, &ino,
								&target, &len,
								NULL),
					 0);
			assert_int_equal(len, n);
			for (size_t j = 0; j < n; j++)
				assert_int_equal(target[j],
						 j % 16 == 15 ?
							 '/' :
							 (char)('a' + j % 26));
			/* the longest target fills a block of its own */
			assert_int_equal(cfsi_image_inode(im.img, ino.nid, &in,
							  NULL),
					 0);
			if (n == CFS_PAYLOAD_MAX) {
				assert_int_equal(in.n_blocks, 1);
				assert_int_equal(in.tail_len, 0);
			}
		}
		image_done(&im);
	}
	cfs_node_unref(root);
}

static void test_inline_data(void **state)
{
	struct cfs_node *root = data_tree();
	uint8_t buf[CFS_INLINE_CONTENT_MAX + 100];
	struct image im;

	image_make(root, 0, &im);
	for (size_t i = 0; i < sizeof(inline_sizes) / sizeof(*inline_sizes);
	     i++) {
		size_t n = inline_sizes[i];
		struct cfs_inode ino;
		char path[32];
		ssize_t r;

		snprintf(path, sizeof(path), "files/f%zu", n);
		ino = walk_path(&im, path);
		assert_true(S_ISREG(ino.mode));
		assert_int_equal(ino.size, n);

		/* all of it, with room to spare */
		memset(buf, 0xee, sizeof(buf));
		r = cfs_image_read_inline(im.img, &ino, 0, buf, sizeof(buf),
					  NULL);
		assert_int_equal(r, (ssize_t)n);
		for (size_t j = 0; j < n; j++)
			assert_int_equal(buf[j], pattern(n, j));
		assert_int_equal(buf[n], 0xee);

		/* pieces, some across the block boundary */
		for (size_t off = 0; off <= n + 1;
		     off += off < 4080 ? 509 : 3) {
			size_t len = 1 + off % 37;
			size_t want = off >= n	    ? 0 :
				      n - off < len ? n - off :
						      len;

			r = cfs_image_read_inline(im.img, &ino, off, buf, len,
						  NULL);
			assert_int_equal(r, (ssize_t)want);
			for (size_t j = 0; j < want; j++)
				assert_int_equal(buf[j], pattern(n, off + j));
		}
		assert_int_equal(cfs_image_read_inline(im.img, &ino, UINT64_MAX,
						       buf, 10, NULL),
				 0);
	}
	image_done(&im);
	cfs_node_unref(root);
}

/* ------------------------------------------------------------------ */
/* Xattrs and overlay metadata */

struct xattr_seen {
	char names[64][300];
	uint8_t values[64][64];
	size_t lens[64];
	size_t n;
};

static int take_xattr(void *userdata, const char *name, const void *value,
		      size_t len)
{
	struct xattr_seen *s = userdata;

	assert_true(s->n < 64);
	assert_true(strlen(name) < 300);
	strcpy(s->names[s->n], name);
	s->lens[s->n] = len;
	memcpy(s->values[s->n], value, len < 64 ? len : 64);
	s->n++;
	return 0;
}

static const uint8_t *seen_value(const struct xattr_seen *s, const char *name,
				 size_t *ret_len)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0) {
			*ret_len = s->lens[i];
			return s->values[i];
		}
	return NULL;
}

static struct xattr_seen xattrs_of(const struct image *im,
				   const struct cfs_inode *ino)
{
	struct xattr_seen s = { .n = 0 };
	struct cfs_error err = { { 0 } };

	if (cfs_image_list_xattrs(im->img, ino, take_xattr, &s, &err) < 0)
		fail_msg("xattrs: %s", err.message);
	return s;
}

static void expect_xattr(const struct xattr_seen *s, const char *name,
			 const void *value, size_t len)
{
	size_t got_len;
	const uint8_t *got = seen_value(s, name, &got_len);

	if (got == NULL)
		fail_msg("xattr %s missing", name);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, value, len);
}

static const uint8_t acl[] = { 2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff };

static void set_xattrs(struct cfs_node *n, bool own)
{
	/* the same on both files: stored once, shared */
	assert_int_equal(cfs_node_set_xattr(n, "security.selinux",
					    "system_u:object_r:etc_t:s0", 26),
			 0);
	assert_int_equal(cfs_node_set_xattr(n, "user.shared", "same", 4), 0);
	if (!own)
		return;
	assert_int_equal(cfs_node_set_xattr(n, "user.mine", "", 0), 0);
	assert_int_equal(cfs_node_set_xattr(n, "trusted.t", "tv", 2), 0);
	assert_int_equal(cfs_node_set_xattr(n, "security.capability",
					    "\x01\x00\x00\x02", 4),
			 0);
	assert_int_equal(cfs_node_set_xattr(n, "system.posix_acl_access", acl,
					    sizeof(acl)),
			 0);
	assert_int_equal(cfs_node_set_xattr(n, "system.posix_acl_default", acl,
					    sizeof(acl)),
			 0);
	assert_int_equal(cfs_node_set_xattr(n, "other.ns", "o", 1), 0);
	assert_int_equal(
		cfs_node_set_xattr(n, "trusted.overlay.custom", "c", 1), 0);
}

static struct cfs_node *xattr_tree(uint8_t digest[CFS_DIGEST_SIZE])
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *a = tu_add(root, "a", S_IFREG | 0644);
	struct cfs_node *b = tu_add(root, "b", S_IFREG | 0644);
	struct cfs_node *obj = tu_add(root, "obj", S_IFREG | 0644);
	struct cfs_node *nodigest = tu_add(root, "nodigest", S_IFREG | 0644);
	struct cfs_node *sub = tu_add(root, "sub", S_IFDIR | 0755);
	struct cfs_node *wh = tu_add(sub, "wh", S_IFCHR | 0644);
	char path[CFS_OBJECT_PATH_SIZE];

	set_xattrs(a, true);
	set_xattrs(b, false);
	assert_int_equal(cfs_node_set_content(a, (const uint8_t *)"hi", 2), 0);
	for (int i = 0; i < CFS_DIGEST_SIZE; i++)
		digest[i] = (uint8_t)(i * 9 + 1);
	cfs_digest_to_object_path(digest, path);
	cfs_node_set_size(obj, 1 << 20);
	cfs_node_set_digest(obj, digest);
	assert_int_equal(cfs_node_set_payload(obj, path), 0);
	cfs_node_set_size(nodigest, 10000);
	assert_int_equal(cfs_node_set_payload(nodigest, "some/object"), 0);
	cfs_node_set_rdev(wh, 0);
	return root;
}

static void test_xattrs(void **state)
{
	uint8_t digest[CFS_DIGEST_SIZE];
	struct cfs_node *root = xattr_tree(digest);
	struct cfs_inode a, b;
	struct xattr_seen s;
	struct cfsi_inode in;
	struct image im;

	image_make(root, 1, &im);
	a = walk_path(&im, "a");
	b = walk_path(&im, "b");
	s = xattrs_of(&im, &a);
	expect_xattr(&s, "security.selinux", "system_u:object_r:etc_t:s0", 26);
	expect_xattr(&s, "user.shared", "same", 4);
	expect_xattr(&s, "user.mine", "", 0);
	expect_xattr(&s, "trusted.t", "tv", 2);
	expect_xattr(&s, "security.capability", "\x01\x00\x00\x02", 4);
	expect_xattr(&s, "system.posix_acl_access", acl, sizeof(acl));
	expect_xattr(&s, "system.posix_acl_default", acl, sizeof(acl));
	expect_xattr(&s, "other.ns", "o", 1);
	/* overlayfs' namespace is escaped to keep it from overlayfs */
	expect_xattr(&s, "trusted.overlay.overlay.custom", "c", 1);
	assert_int_equal(s.n, 9);
	s = xattrs_of(&im, &b);
	assert_int_equal(s.n, 2);
	expect_xattr(&s, "user.shared", "same", 4);

	/* the two common ones are shared, the rest inline */
	assert_int_equal(cfsi_image_inode(im.img, a.nid, &in, NULL), 0);
	assert_int_equal(im.data[in.xattr_off + 4], 2);
	assert_true(in.xattr_size > 12 + 2 * 4);

	/* a stored prefix index the writer never uses: lustre. */
	{
		uint8_t *p = im.data + in.xattr_off + 12 + 2 * 4;
		uint8_t *end = im.data + in.xattr_off + in.xattr_size;
		bool patched = false;

		for (; p + 4 < end; p += (4 + p[0] + p[2] + 3) & ~3u) {
			if (p[1] == EROFS_XATTR_INDEX_TRUSTED && p[0] == 1 &&
			    p[4] == 't') {
				p[1] = 5;
				patched = true;
				break;
			}
		}
		assert_true(patched);
		s = xattrs_of(&im, &a);
		expect_xattr(&s, "lustre.t", "tv", 2);
		assert_null(seen_value(&s, "trusted.t", &s.lens[0]));
	}
	image_done(&im);
	cfs_node_unref(root);
}

/* An xattr that is a bare prefix with no value is an entry of 4 bytes,
 * nothing but its header: the last one of an inode was taken for padding
 * and lost (found by fuzzing). */
static void test_bare_prefix_xattrs(void **state)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *f = tu_add(root, "f", S_IFREG | 0644);
	struct cfs_node *back = NULL;
	struct xattr_seen s;
	struct cfs_inode ino;
	struct image im, again;

	assert_int_equal(cfs_node_set_xattr(f, "trusted.", "", 0), 0);
	assert_int_equal(cfs_node_set_xattr(f, "user.", "", 0), 0);
	image_make(root, 0, &im);
	ino = walk_path(&im, "f");
	s = xattrs_of(&im, &ino);
	assert_int_equal(s.n, 2);
	expect_xattr(&s, "trusted.", "", 0);
	expect_xattr(&s, "user.", "", 0);
	assert_int_equal(cfs_image_to_tree(im.img, &back, NULL), 0);
	image_write(back, 0, &again);
	assert_int_equal(again.size, im.size);
	assert_memory_equal(again.data, im.data, im.size);
	free(again.data);
	cfs_node_unref(back);
	image_done(&im);
	cfs_node_unref(root);
}

static void test_overlay_info(void **state)
{
	uint8_t digest[CFS_DIGEST_SIZE];
	struct cfs_node *root = xattr_tree(digest);
	char path[CFS_OBJECT_PATH_SIZE];
	struct cfs_overlay_info info;
	struct cfs_inode ino;
	struct image im;

	cfs_digest_to_object_path(digest, path);
	image_make(root, 1, &im);
	assert_int_equal(cfs_image_get_version(im.img), 1);

	ino = walk_path(&im, "obj");
	assert_int_equal(cfs_image_get_overlay_info(im.img, &ino, &info, NULL),
			 0);
	assert_string_equal(info.object, path);
	assert_true(info.has_digest);
	assert_memory_equal(info.digest, digest, CFS_DIGEST_SIZE);
	assert_true(info.metacopy);
	assert_false(info.whiteout);
	assert_int_equal(ino.size, 1 << 20);
	assert_int_equal(cfs_image_read_inline(im.img, &ino, 0, path, 1, NULL),
			 -ENODATA);

	ino = walk_path(&im, "nodigest");
	assert_int_equal(cfs_image_get_overlay_info(im.img, &ino, &info, NULL),
			 0);
	assert_string_equal(info.object, "some/object");
	assert_false(info.has_digest);

	ino = walk_path(&im, "a");
	assert_int_equal(cfs_image_get_overlay_info(im.img, &ino, &info, NULL),
			 0);
	assert_string_equal(info.object, "");
	assert_false(info.metacopy);
	assert_false(info.whiteout);

	/* a whiteout below the root is stored as an escaped one */
	ino = walk_path(&im, "sub/wh");
	assert_int_equal(cfs_image_get_overlay_info(im.img, &ino, &info, NULL),
			 0);
	assert_true(info.whiteout);
	ino = walk_path(&im, "sub");
	assert_int_equal(cfs_image_get_overlay_info(im.img, &ino, &info, NULL),
			 0);
	assert_false(info.whiteout);
	image_done(&im);
	cfs_node_unref(root);
}

/* Find needle in the image bytes (it must be there once at least). */
static uint8_t *find_bytes(struct image *im, const void *needle, size_t len)
{
	uint8_t *p = memmem(im->data, im->size, needle, len);

	assert_non_null(p);
	return p;
}

/* The overlay xattrs are decoded once: the reader's overlay info and the
 * image's tree agree on a metacopy of another version (no digest) and
 * both refuse an invalid redirect. */
static void test_overlay_decoded_once(void **state)
{
	uint8_t digest[CFS_DIGEST_SIZE];
	struct cfs_node *root = xattr_tree(digest), *tree = NULL;
	char path[CFS_OBJECT_PATH_SIZE + 1];
	struct cfs_error err = { { 0 } };
	struct cfs_overlay_info info;
	struct cfs_inode ino;
	struct image im;
	uint8_t *p;

	image_write(root, 1, &im);
	/* metacopy version 1: neither side may take its digest */
	p = find_bytes(&im, digest, CFS_DIGEST_SIZE);
	assert_int_equal(p[-4], 0);
	p[-4] = 1;
	image_open(&im);
	ino = walk_path(&im, "obj");
	assert_int_equal(cfs_image_get_overlay_info(im.img, &ino, &info, NULL),
			 0);
	assert_true(info.metacopy);
	assert_false(info.has_digest);
	assert_int_equal(cfs_image_to_tree(im.img, &tree, &err), 0);
	assert_null(cfs_node_get_digest(cfs_node_lookup_child(tree, "obj")));
	tree = cfs_node_unref(tree);
	image_done(&im);

	/* a redirect of "/" and NUL bytes: both refuse it */
	image_write(root, 1, &im);
	cfs_digest_to_object_path(digest, path + 1);
	path[0] = '/';
	p = find_bytes(&im, path, strlen(path));
	memset(p + 1, '\0', strlen(path) - 1);
	image_open(&im);
	ino = walk_path(&im, "obj");
	assert_int_equal(cfs_image_get_overlay_info(im.img, &ino, &info, NULL),
			 -EUCLEAN);
	assert_int_equal(cfs_image_to_tree(im.img, &tree, &err), -EUCLEAN);
	image_done(&im);
	cfs_node_unref(root);
}

struct shown_names {
	char names[8][64];
	int n;
};

static int collect_shown(void *userdata, const char *name, const void *value,
			 size_t len)
{
	struct shown_names *sn = userdata;

	assert_true(sn->n < 8);
	snprintf(sn->names[sn->n++], sizeof(sn->names[0]), "%s", name);
	return 0;
}

/* The overlay view: what the kernel mount shows of an image. */
static void test_overlay_view(void **state)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *dev = tu_add(root, "null", S_IFCHR | 0666);
	struct cfs_node *f = tu_add(root, "f", S_IFREG | 0644);
	struct shown_names sn = { .n = 0 };
	struct cfs_inode ino;
	struct image im;

	cfs_node_set_rdev(dev, makedev(259, 70000));
	/* an object: the writer adds overlayfs' metacopy and redirect */
	cfs_node_set_size(f, 100000);
	assert_int_equal(cfs_node_set_payload(f, "ab/cdef"), 0);
	assert_int_equal(cfs_node_set_xattr(f, "user.x", "1", 1), 0);
	assert_int_equal(
		cfs_node_set_xattr(f, "trusted.overlay.opaque", "y", 1), 0);
	image_make(root, 1, &im);

	ino = walk_path(&im, "null");
	assert_true(cfs_inode_get_rdev(&ino) == makedev(259, 70000));
	assert_false(cfs_inode_is_whiteout(&ino));
	/* the writer's whiteouts in the root: hidden by overlayfs */
	ino = walk_path(&im, "00");
	assert_true(cfs_inode_is_whiteout(&ino));

	assert_int_equal(cfs_dirent_type_to_mode(1), S_IFREG);
	assert_int_equal(cfs_dirent_type_to_mode(2), S_IFDIR);
	assert_int_equal(cfs_dirent_type_to_mode(7), S_IFLNK);
	assert_int_equal(cfs_dirent_type_to_mode(99), 0);
	assert_true(cfs_dirent_may_be_whiteout(3));
	assert_false(cfs_dirent_may_be_whiteout(1));

	/* the user's trusted.overlay.* is shown as given, overlayfs' own
	 * xattrs of the file are not */
	ino = walk_path(&im, "f");
	{
		struct cfs_overlay_info info;

		assert_int_equal(cfs_image_get_overlay_info(im.img, &ino, &info,
							    NULL),
				 0);
		assert_true(info.metacopy);
		assert_string_equal(info.object, "ab/cdef");
	}
	assert_int_equal(cfs_image_list_shown_xattrs(im.img, &ino,
						     collect_shown, &sn, NULL),
			 0);
	assert_int_equal(sn.n, 2);
	assert_string_equal(sn.names[0], "trusted.overlay.opaque");
	assert_string_equal(sn.names[1], "user.x");
	image_done(&im);
	cfs_node_unref(root);
}

/* ------------------------------------------------------------------ */
/* Inodes, version, root, the tree */

static void test_inodes_version_root(void **state)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0750);
	struct cfs_node *dev = tu_add(root, "dev", S_IFCHR | 0620);
	struct cfs_node *blk = tu_add(root, "blk", S_IFBLK | 0600);
	struct cfs_node *big = tu_add(root, "big", S_IFREG | 0644);
	struct cfs_node *hl = tu_add(root, "hl", S_IFREG | 0644);

	struct cfs_inode ino;
	struct image im;
	uint16_t sb_root;

	tu_add(root, "sock", S_IFSOCK | 0755);
	cfs_node_set_rdev(dev, makedev(1, 3));
	cfs_node_set_rdev(blk, makedev(259, 70000));
	cfs_node_set_uid(dev, 100000);
	cfs_node_set_gid(dev, 7);
	cfs_node_set_mtime(dev, -5, 999999999);
	cfs_node_set_size(big, 5ull << 32);
	assert_int_equal(cfs_node_set_payload(big, "00/big"), 0);
	assert_int_equal(cfs_node_make_hardlink(hl, big), 0);

	for (uint32_t v = 0; v <= 1; v++) {
		image_make(root, v, &im);
		assert_int_equal(cfs_image_get_version(im.img), v);
		memcpy(&sb_root, im.data + EROFS_SUPER_OFFSET + 14, 2);
		assert_int_equal(cfs_image_get_root_nid(im.img),
				 le16toh(sb_root));
		ino = root_inode(&im);
		assert_int_equal(ino.mode, S_IFDIR | 0750);
		assert_int_equal(ino.nid, le16toh(sb_root));

		ino = walk_path(&im, "dev");
		assert_int_equal(ino.mode, S_IFCHR | 0620);
		assert_int_equal(ino.rdev, 3 | (1 << 8));
		assert_int_equal(ino.uid, 100000);
		assert_int_equal(ino.gid, 7);
		assert_int_equal(ino.mtime_sec, -5);
		assert_int_equal(ino.mtime_nsec, 999999999);
		assert_int_equal(ino.size, 0);
		ino = walk_path(&im, "blk");
		assert_int_equal(ino.rdev, (70000 & 0xff) | (259 << 8) |
						   ((70000 & ~0xffu) << 12));
		ino = walk_path(&im, "big");
		assert_int_equal(ino.size, 5ull << 32);
		assert_int_equal(ino.nlink, 2);
		assert_int_equal(walk_path(&im, "hl").nid, ino.nid);
		ino = walk_path(&im, "sock");
		assert_int_equal(ino.mode, S_IFSOCK | 0755);
		image_done(&im);
	}
	cfs_node_unref(root);
}

/* Sizes on files that have none: the writer stores none, but a size past
 * 32 bits still makes it choose an extended inode (found by fuzzing:
 * reading such an image back gave a tree that wrote another image). */
static struct cfs_node *special_tree(void)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);

	cfs_node_set_size(tu_add(root, "fifo", S_IFIFO | 0644), 1ull << 40);
	cfs_node_set_size(tu_add(root, "chr", S_IFCHR | 0644), 5);
	cfs_node_set_size(tu_add(root, "sock", S_IFSOCK | 0644),
			  (uint64_t)UINT32_MAX + 1);
	cfs_node_set_size(tu_add(root, "blk", S_IFBLK | 0644), UINT32_MAX);
	return root;
}

/* The xattrs the writer adds to whiteouts and their directories, given
 * by the input on other nodes too (found by fuzzing: they were dropped
 * everywhere, and the image came back different). */
static const char *const writer_names[] = {
	"user.overlay.whiteout",
	"user.overlay.whiteouts",
	"trusted.overlay.whiteout",
	"trusted.overlay.whiteouts",
};

static struct cfs_node *writer_xattrs_tree(void)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *plain = tu_add(root, "plain", S_IFDIR | 0755);
	struct cfs_node *holder = tu_add(root, "holder", S_IFDIR | 0755);
	struct cfs_node *file = tu_add(root, "file", S_IFREG | 0644);
	struct cfs_node *wh = tu_add(holder, "wh", S_IFCHR | 0644);
	struct cfs_node *nodes[] = { plain, holder, file, wh };

	for (size_t i = 0; i < 4; i++) {
		for (size_t j = 0; j < 4; j++) {
			/* a regular file with the escaped whiteout mark is
			 * a whiteout to overlayfs, and to the reader too */
			if (nodes[i] == file && j == 2)
				continue;
			assert_int_equal(cfs_node_set_xattr(nodes[i],
							    writer_names[j],
							    "v", 1),
					 0);
		}
	}
	return root;
}

/* A whiteout with a second name, met (breadth first) just before the
 * whiteout itself in another directory: either could be the file as far
 * as inode numbers tell, but only the whiteout's directory is marked
 * (found by fuzzing). */
static struct cfs_node *whiteout_links_tree(void)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *d = tu_add(root, "d", S_IFDIR | 0755);
	struct cfs_node *wh = tu_add(d, "f", S_IFCHR | 0644);

	assert_int_equal(
		cfs_node_make_hardlink(tu_add(root, "s", S_IFCHR | 0644), wh),
		0);
	return root;
}

static void test_tree_roundtrip(void **state)
{
	uint8_t digest[CFS_DIGEST_SIZE];
	struct cfs_node *trees[6] = {
		names_tree(500), data_tree(),	       xattr_tree(digest),
		special_tree(),	 writer_xattrs_tree(), whiteout_links_tree()
	};

	for (size_t t = 0; t < 6; t++) {
		for (uint32_t v = 0; v <= 1; v++) {
			struct cfs_node *back = NULL;
			struct image a, b;

			image_make(trees[t], v, &a);
			assert_int_equal(cfs_image_to_tree(a.img, &back, NULL),
					 0);
			image_write(back, v, &b);
			assert_int_equal(a.size, b.size);
			assert_memory_equal(a.data, b.data, a.size);
			cfs_node_unref(back);
			image_done(&a);
			free(b.data);
		}
		cfs_node_unref(trees[t]);
	}
}

static void test_writer_xattrs_kept(void **state)
{
	struct cfs_node *root = writer_xattrs_tree(), *back = NULL;
	struct image im;

	image_make(root, 1, &im);
	assert_int_equal(cfs_image_to_tree(im.img, &back, NULL), 0);
	/* where the writer would not have put them, they are the input's */
	for (size_t j = 0; j < 4; j++) {
		struct cfs_node *plain = cfs_node_lookup_child(back, "plain");
		struct cfs_node *file = cfs_node_lookup_child(back, "file");
		size_t len = 0;

		assert_non_null(
			cfs_node_get_xattr(plain, writer_names[j], &len));
		assert_int_equal(len, 1);
		if (j != 2)
			assert_non_null(cfs_node_get_xattr(
				file, writer_names[j], &len));
	}
	cfs_node_unref(back);
	image_done(&im);
	cfs_node_unref(root);
}

static void test_special_sizes(void **state)
{
	struct cfs_node *root = special_tree();
	struct image im;

	image_make(root, 0, &im);
	/* what stat would say: nothing */
	assert_int_equal(walk_path(&im, "fifo").size, 0);
	assert_int_equal(walk_path(&im, "sock").size, 0);
	assert_int_equal(walk_path(&im, "chr").size, 0);
	image_done(&im);
	cfs_node_unref(root);
}

/* ------------------------------------------------------------------ */
/* Errors */

static void test_open_errors(void **state)
{
	struct cfs_node *root = data_tree();
	struct cfs_error err = { { 0 } };
	struct cfs_image *img = (struct cfs_image *)&err;
	char path[] = "/tmp/cfs-test-reader-XXXXXX";
	struct image im;
	uint8_t *copy;
	int fd, pipefd[2];

	image_write(root, 0, &im);
	copy = malloc(im.size);
	assert_non_null(copy);

	/* too small: nothing fits the superblock */
	for (size_t n = 0; n < EROFS_SUPER_OFFSET + 128; n += 97) {
		err.message[0] = '\0';
		assert_int_equal(cfs_image_open_buffer(im.data, n, &img, &err),
				 -EUCLEAN);
		assert_true(err.message[0] != '\0');
	}
	/* untouched on failure */
	assert_ptr_equal(img, (struct cfs_image *)&err);

	memcpy(copy, im.data, im.size);
	copy[0] ^= 1;
	assert_int_equal(cfs_image_open_buffer(copy, im.size, &img, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "magic"));
	memcpy(copy, im.data, im.size);
	copy[EROFS_SUPER_OFFSET] ^= 1;
	assert_int_equal(cfs_image_open_buffer(copy, im.size, &img, &err),
			 -EUCLEAN);
	/* a NULL err is allowed */
	assert_int_equal(cfs_image_open_buffer(copy, im.size, &img, NULL),
			 -EUCLEAN);
	/* cut short of its block count */
	assert_int_equal(cfs_image_open_buffer(im.data, im.size - 1, &img,
					       &err),
			 -EUCLEAN);
	assert_non_null(strstr(err.message, "truncated"));

	/* from a path and from a descriptor */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, im.data, im.size), (ssize_t)im.size);
	assert_int_equal(cfs_image_open(path, &img, &err), 0);
	assert_int_equal(
		cfs_image_get_root_nid(img),
		le16toh(*(uint16_t *)(im.data + EROFS_SUPER_OFFSET + 14)));
	cfs_image_free(img);
	assert_int_equal(cfs_image_open_fd(fd, &img, &err), 0);
	cfs_image_free(img);
	close(fd);
	unlink(path);
	assert_int_equal(cfs_image_open(path, &img, &err), -ENOENT);
	assert_non_null(strstr(err.message, path));
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(cfs_image_open_fd(pipefd[0], &img, &err), -EINVAL);
	close(pipefd[0]);
	close(pipefd[1]);
	fd = open("/", O_RDONLY | O_DIRECTORY);
	assert_int_equal(cfs_image_open_fd(fd, &img, &err), -EINVAL);
	close(fd);
	assert_null(cfs_image_free(NULL));

	free(copy);
	free(im.data);
	cfs_node_unref(root);
}

static void test_api_errors(void **state)
{
	struct cfs_node *root = data_tree();
	struct cfs_error err = { { 0 } };
	struct cfs_inode dir, file, link, bogus;
	const char *target = NULL;
	size_t len = 0;
	uint64_t nid = 12345;
	char buf[16];
	struct image im;

	image_make(root, 0, &im);
	dir = walk_path(&im, "files");
	file = walk_path(&im, "files/f1");
	link = walk_path(&im, "links/l1");

	assert_int_equal(cfs_image_get_inode(im.img, im.size, &bogus, &err),
			 -EUCLEAN);
	assert_non_null(strstr(err.message, "inode"));
	assert_int_equal(cfs_image_get_inode(im.img, UINT64_MAX, &bogus, &err),
			 -EUCLEAN);

	assert_int_equal(cfs_image_readdir(im.img, &file, 0, collect, NULL,
					   &err),
			 -ENOTDIR);
	assert_int_equal(cfs_image_lookup(im.img, &file, "x", 1, &nid, &err),
			 -ENOTDIR);
	assert_int_equal(nid, 12345);
	assert_int_equal(cfs_image_lookup(im.img, &dir, "nope", 4, &nid, &err),
			 -ENOENT);
	assert_int_equal(nid, 12345);
	assert_int_equal(cfs_image_read_symlink(im.img, &file, &target, &len,
						&err),
			 -EINVAL);
	assert_null(target);
	assert_int_equal(cfs_image_read_inline(im.img, &dir, 0, buf,
					       sizeof(buf), &err),
			 -EINVAL);
	assert_int_equal(cfs_image_read_inline(im.img, &link, 0, buf,
					       sizeof(buf), &err),
			 -EINVAL);

	/* an inode whose nid is out of range, passed in by the caller */
	bogus = file;
	bogus.nid = im.size;
	assert_int_equal(cfs_image_read_inline(im.img, &bogus, 0, buf,
					       sizeof(buf), &err),
			 -EUCLEAN);
	assert_int_equal(cfs_image_list_xattrs(im.img, &bogus, take_xattr, NULL,
					       &err),
			 -EUCLEAN);
	image_done(&im);
	cfs_node_unref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_every_name),
		cmocka_unit_test(test_readdir_resume),
		cmocka_unit_test(test_symlinks),
		cmocka_unit_test(test_inline_data),
		cmocka_unit_test(test_xattrs),
		cmocka_unit_test(test_bare_prefix_xattrs),
		cmocka_unit_test(test_overlay_info),
		cmocka_unit_test(test_overlay_decoded_once),
		cmocka_unit_test(test_overlay_view),
		cmocka_unit_test(test_inodes_version_root),
		cmocka_unit_test(test_tree_roundtrip),
		cmocka_unit_test(test_special_sizes),
		cmocka_unit_test(test_writer_xattrs_kept),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_api_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
