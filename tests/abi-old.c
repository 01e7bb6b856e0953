/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * A program as it was built before SHA-512: its struct cfs_overlay_info and
 * struct cfs_repo_image_info are the old ones (declared here, as the old
 * headers had them), and it calls the old versions of the functions whose
 * digests grew (bound with .symver, as linking against the old library
 * would have bound them). Linked to the shared libraries, it checks that
 * they fill the old layouts right, write nothing past them, and refuse
 * SHA-512 digests that would not fit. TAP output.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "composefs-c/composefs.h"
#include "composefs-c/repo.h"

/* The layouts of COMPOSEFS_1.0 and COMPOSEFS_REPO_0 */
struct old_overlay_info {
	char object[CFS_PAYLOAD_MAX + 1];
	bool has_digest;
	uint8_t digest[32];
	bool metacopy;
	bool whiteout;
	bool opaque;
};

struct old_repo_image_info {
	const char *name;
	uint8_t digest[32];
	uint64_t image_size;
	uint64_t n_objects, object_bytes, shared_bytes, unique_bytes;
	int error;
	const char *message;
	const char *manifest, *config;
	size_t n_layers;
};
typedef int (*old_image_fn)(void *userdata,
			    const struct old_repo_image_info *info);

#define OLD(fn, name, ver) __asm__(".symver " #fn ", " #name "@" ver)

int old_get_overlay_info(const struct cfs_image *image,
			 const struct cfs_inode *inode,
			 struct old_overlay_info *ret_info,
			 struct cfs_error *err);
OLD(old_get_overlay_info, cfs_image_get_overlay_info, "COMPOSEFS_1.0");
int old_write_image(struct cfs_node *root, const struct cfs_write_options *opts,
		    int fd, uint8_t *ret_digest, struct cfs_error *err);
OLD(old_write_image, cfs_write_image, "COMPOSEFS_1.0");
int old_store_add_fd(struct cfs_store *store, int src_fd, const uint8_t *digest,
		     struct cfs_error *err);
OLD(old_store_add_fd, cfs_store_add_fd, "COMPOSEFS_1.0");
int old_store_open_object(struct cfs_store *store, const uint8_t *digest);
OLD(old_store_open_object, cfs_store_open_object, "COMPOSEFS_1.0");
const uint8_t *old_node_get_digest(const struct cfs_node *node);
OLD(old_node_get_digest, cfs_node_get_digest, "COMPOSEFS_1.0");
int old_mount_image(const char *image, const char *target,
		    const struct cfs_mount_options *opts,
		    struct cfs_error *err);
OLD(old_mount_image, cfs_mount_image, "COMPOSEFS_1.0");
int old_mount_image_fd(int fd, const char *target,
		       const struct cfs_mount_options *opts,
		       struct cfs_error *err);
OLD(old_mount_image_fd, cfs_mount_image_fd, "COMPOSEFS_1.0");
int old_object_cache_set_hash_alg(struct cfs_object_cache *cache,
				  enum cfs_hash_alg alg);
OLD(old_object_cache_set_hash_alg, cfs_object_cache_set_hash_alg,
    "COMPOSEFS_1.1");
int old_repo_add_image(struct cfs_repo *repo, struct cfs_node *root,
		       const struct cfs_write_options *opts,
		       struct cfs_store *store, const char *name,
		       unsigned flags, uint8_t *ret_digest,
		       struct cfs_error *err);
OLD(old_repo_add_image, cfs_repo_add_image, "COMPOSEFS_REPO_0");
int old_repo_resolve(struct cfs_repo *repo, const char *name,
		     uint8_t *ret_digest, struct cfs_error *err);
OLD(old_repo_resolve, cfs_repo_resolve, "COMPOSEFS_REPO_0");
char *old_repo_image_path(const struct cfs_repo *repo, const uint8_t *digest);
OLD(old_repo_image_path, cfs_repo_image_path, "COMPOSEFS_REPO_0");
int old_repo_list_images(struct cfs_repo *repo, old_image_fn fn, void *userdata,
			 struct cfs_error *err);
OLD(old_repo_list_images, cfs_repo_list_images, "COMPOSEFS_REPO_0");

static int n_test, n_failed;

static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++n_test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		n_failed++;
}

static void bail(const char *what, int r, const struct cfs_error *err)
{
	printf("Bail out! %s: %s (%s)\n", what, strerror(-r),
	       err ? err->message : "");
	exit(1);
}

#define CANARY 0xa5

/* A buffer of n bytes followed by canary bytes */
struct guarded {
	uint8_t *p;
	size_t n;
};

static struct guarded guarded_new(size_t n)
{
	struct guarded g = { calloc(1, n + 64), n };

	if (g.p == NULL)
		bail("calloc", -ENOMEM, NULL);
	memset(g.p + n, CANARY, 64);
	return g;
}

static bool guarded_intact(const struct guarded *g)
{
	for (size_t i = 0; i < 64; i++)
		if (g->p[g->n + i] != CANARY)
			return false;
	return true;
}

/* A tree of one file, "file", whose data is the object of digest (of alg,
 * SHA-256 when 0) */
static struct cfs_node *tree_with_object(enum cfs_hash_alg alg,
					 const uint8_t *digest, uint64_t size)
{
	struct cfs_node *root = cfs_node_new(), *file = cfs_node_new();
	char path[CFS_OBJECT_PATH_MAX_SIZE];

	if (root == NULL || file == NULL)
		bail("cfs_node_new", -ENOMEM, NULL);
	cfs_node_set_mode(root, S_IFDIR | 0755);
	cfs_node_set_mode(file, S_IFREG | 0644);
	cfs_node_set_size(file, size);
	if (alg == 0) {
		cfs_digest_to_object_path(digest, path);
		cfs_node_set_digest(file, digest);
	} else {
		cfs_digest_to_object_path_alg(alg, digest, path);
		cfs_node_set_digest_alg(file, alg, digest);
	}
	if (cfs_node_set_payload(file, path) < 0 ||
	    cfs_node_add_child(root, file, "file") < 0)
		bail("building a tree", -ENOMEM, NULL);
	return root;
}

/* The old cfs_image_get_overlay_info() on "file" of the image of root,
 * written by the old cfs_write_image() (SHA-256) or the new one
 * (SHA-512, which the old one refuses) */
static void check_overlay(enum cfs_hash_alg alg, const uint8_t *digest)
{
	struct cfs_write_options opts = { .hash_alg = alg };
	struct cfs_node *root = tree_with_object(alg, digest, 5000);
	struct cfs_image *image = NULL;
	struct cfs_inode dir, inode;
	struct cfs_error err = { { 0 } };
	struct guarded g = guarded_new(sizeof(struct old_overlay_info));
	struct old_overlay_info *info = (void *)g.p;
	int fd = memfd_create("image", MFD_CLOEXEC);
	uint8_t image_digest[CFS_DIGEST_MAX_SIZE];
	struct stat st;
	uint64_t nid;
	void *data;
	int r;

	if (fd < 0)
		bail("memfd_create", -errno, NULL);
	if (alg == 0) {
		struct guarded d = guarded_new(32);

		r = old_write_image(root, &opts, fd, d.p, &err);
		ok(r == 0 && guarded_intact(&d),
		   "old cfs_write_image: a SHA-256 image, its digest in 32 bytes");
		free(d.p);
	} else {
		struct guarded d = guarded_new(32);
		int fd2 = memfd_create("image2", MFD_CLOEXEC);

		r = old_write_image(root, &opts, fd2, d.p, &err);
		ok(r == -EOPNOTSUPP && guarded_intact(&d) &&
			   lseek(fd2, 0, SEEK_END) == 0,
		   "old cfs_write_image refuses SHA-512 (-EOPNOTSUPP, nothing written): %s",
		   err.message);
		free(d.p);
		close(fd2);
		r = cfs_write_image(root, &opts, fd, image_digest, &err);
	}
	{
		const struct cfs_node *file = cfs_node_lookup_child(root,
								    "file");
		const uint8_t *d = old_node_get_digest(file);

		if (alg == 0)
			ok(d != NULL && memcmp(d, digest, 32) == 0,
			   "old cfs_node_get_digest: the SHA-256 digest");
		else
			ok(d == NULL && cfs_node_get_digest(file) != NULL,
			   "old cfs_node_get_digest: none for a SHA-512 one (the new one has it)");
	}
	if (r < 0)
		bail("cfs_write_image", r, &err);
	cfs_node_unref(root);
	if (fstat(fd, &st) < 0)
		bail("fstat", -errno, NULL);
	data = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (data == MAP_FAILED)
		bail("mmap", -errno, NULL);
	r = cfs_image_open_buffer(data, st.st_size, &image, &err);
	if (r == 0)
		r = cfs_image_get_inode(image, cfs_image_get_root_nid(image),
					&dir, &err);
	if (r == 0)
		r = cfs_image_lookup(image, &dir, "file", 4, &nid, &err);
	if (r == 0)
		r = cfs_image_get_inode(image, nid, &inode, &err);
	if (r < 0)
		bail("reading the image", r, &err);

	r = old_get_overlay_info(image, &inode, info, &err);
	if (alg == 0) {
		char path[CFS_OBJECT_PATH_SIZE];

		cfs_digest_to_object_path(digest, path);
		ok(r == 0, "old cfs_image_get_overlay_info: %d %s", r,
		   err.message);
		ok(info->has_digest && memcmp(info->digest, digest, 32) == 0,
		   "old struct: the metacopy digest in place");
		ok(info->metacopy && !info->whiteout && !info->opaque,
		   "old struct: metacopy set, whiteout and opaque not");
		ok(strcmp(info->object, path) == 0,
		   "old struct: the redirect '%s'", info->object);
	} else {
		ok(r == -EOPNOTSUPP,
		   "old cfs_image_get_overlay_info refuses a SHA-512 digest (-EOPNOTSUPP): %s",
		   err.message);
	}
	ok(guarded_intact(&g),
	   "nothing written past the old struct (%zu bytes)",
	   sizeof(struct old_overlay_info));
	cfs_image_free(image);
	munmap(data, st.st_size);
	close(fd);
	free(g.p);
}

struct listed {
	int calls;
	uint64_t image_size, n_objects, object_bytes;
	uint8_t digest[32];
	char name[64];
};

static int list_fn(void *userdata, const struct old_repo_image_info *info)
{
	struct listed *l = userdata;

	l->calls++;
	snprintf(l->name, sizeof(l->name), "%s", info->name);
	memcpy(l->digest, info->digest, 32);
	l->image_size = info->image_size;
	l->n_objects = info->n_objects;
	l->object_bytes = info->object_bytes;
	return info->error;
}

static void check_repo(const char *dir, enum cfs_hash_alg alg)
{
	char path[4096], *image_path;
	struct cfs_error err = { { 0 } };
	struct cfs_repo *repo = NULL;
	struct cfs_store *store = NULL;
	struct guarded added = guarded_new(32), resolved = guarded_new(32);
	uint8_t data[3000], digest[CFS_DIGEST_MAX_SIZE];
	struct listed l = { 0 };
	struct cfs_node *root;
	struct stat st;
	int fd, r;

	snprintf(path, sizeof(path), "%s/repo-%s", dir, cfs_hash_alg_name(alg));
	r = cfs_repo_init_alg(path, alg, &err);
	if (r == 0)
		r = cfs_repo_open(path, 0, NULL, NULL, &repo, &err);
	if (r == 0)
		r = cfs_repo_open_store(repo, &store, &err);
	if (r < 0)
		bail("a repository", r, &err);
	memset(data, 'x', sizeof(data));
	snprintf(path, sizeof(path), "%s/object", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, sizeof(data)) != sizeof(data))
		bail("writing an object", -errno, NULL);
	r = cfs_fsverity_digest_buffer_alg(alg, data, sizeof(data), digest);
	if (r < 0)
		bail("digest", r, NULL);

	if (alg == CFS_HASH_SHA256) {
		r = old_store_add_fd(store, fd, digest, &err);
		ok(r == 0, "old cfs_store_add_fd: %d %s", r, err.message);
		root = tree_with_object(0, digest, sizeof(data));
		r = old_repo_add_image(repo, root, NULL, store, "img", 0,
				       added.p, &err);
		ok(r == 0 && guarded_intact(&added),
		   "old cfs_repo_add_image: a 32-byte digest, nothing past it: %d %s",
		   r, err.message);
		r = old_store_open_object(store, digest);
		ok(r >= 0, "old cfs_store_open_object opens it: %d", r);
		if (r >= 0)
			close(r);
		r = old_repo_resolve(repo, "img", resolved.p, &err);
		ok(r == 0 && guarded_intact(&resolved) &&
			   memcmp(resolved.p, added.p, 32) == 0,
		   "old cfs_repo_resolve: the same 32 bytes, nothing past them");
		image_path = old_repo_image_path(repo, resolved.p);
		ok(image_path != NULL && stat(image_path, &st) == 0,
		   "old cfs_repo_image_path: %s", image_path);
		r = old_repo_list_images(repo, list_fn, &l, &err);
		ok(r == 0 && l.calls == 1 && strcmp(l.name, "img") == 0 &&
			   memcmp(l.digest, added.p, 32) == 0,
		   "old cfs_repo_list_images: one image, its name and digest (%d %s)",
		   r, err.message);
		ok(image_path != NULL && l.image_size == (uint64_t)st.st_size,
		   "old struct: image_size %llu, the image file's size",
		   (unsigned long long)l.image_size);
		ok(l.n_objects == 1 && l.object_bytes == sizeof(data),
		   "old struct: n_objects %llu, object_bytes %llu",
		   (unsigned long long)l.n_objects,
		   (unsigned long long)l.object_bytes);
		free(image_path);
	} else {
		r = old_store_add_fd(store, fd, digest, &err);
		ok(r == -EOPNOTSUPP,
		   "old cfs_store_add_fd refuses a SHA-512 store: %s",
		   err.message);
		r = cfs_store_add_fd(store, fd, digest, &err);
		if (r < 0)
			bail("cfs_store_add_fd", r, &err);
		root = tree_with_object(alg, digest, sizeof(data));
		memset(&err, 0, sizeof(err));
		r = old_repo_add_image(repo, root, NULL, store, "img", 0,
				       added.p, &err);
		ok(r == -EOPNOTSUPP && guarded_intact(&added),
		   "old cfs_repo_add_image refuses a SHA-512 repository: %s",
		   err.message);
		ok(cfs_repo_resolve(repo, "img", digest, NULL) == -ENOENT,
		   "and names nothing");
		r = cfs_repo_add_image(repo, root, NULL, store, "img", 0,
				       digest, &err);
		if (r < 0)
			bail("cfs_repo_add_image", r, &err);
		r = old_repo_resolve(repo, "img", resolved.p, &err);
		ok(r == -EOPNOTSUPP && guarded_intact(&resolved),
		   "old cfs_repo_resolve refuses a SHA-512 repository: %s",
		   err.message);
		r = old_repo_list_images(repo, list_fn, &l, &err);
		ok(r == -EOPNOTSUPP && l.calls == 0,
		   "old cfs_repo_list_images refuses a SHA-512 repository");
		errno = 0;
		image_path = old_repo_image_path(repo, digest);
		ok(image_path == NULL && errno == EOPNOTSUPP,
		   "old cfs_repo_image_path refuses a SHA-512 repository");
		free(image_path);
	}
	cfs_node_unref(root);
	close(fd);
	cfs_store_free(store);
	cfs_repo_free(repo);
	free(added.p);
	free(resolved.p);
}

/* The old mount and object cache: SHA-256 only, SHA-512 refused before
 * anything is read (the digests they take are 32 bytes). */
static void check_mount(void)
{
	struct cfs_object_cache *cache = cfs_object_cache_new(1 << 20);
	const char *basedirs[] = { "/nonexistent" };
	uint8_t digest[32] = { 0 };
	struct cfs_mount_options opts = {
		.basedirs = basedirs,
		.n_basedirs = 1,
		.digest = digest,
		.hash_alg = CFS_HASH_SHA512,
	};
	struct cfs_error err = { { 0 } };
	int r;

	if (cache == NULL)
		bail("cfs_object_cache_new", -ENOMEM, NULL);
	ok(old_object_cache_set_hash_alg(cache, CFS_HASH_SHA256) == 0,
	   "old cfs_object_cache_set_hash_alg: SHA-256");
	ok(old_object_cache_set_hash_alg(cache, CFS_HASH_SHA512) == -EOPNOTSUPP,
	   "old cfs_object_cache_set_hash_alg refuses SHA-512");
	cfs_object_cache_free(cache);
	r = old_mount_image("/nonexistent/image", "/nonexistent", &opts, &err);
	ok(r == -EOPNOTSUPP,
	   "old cfs_mount_image refuses SHA-512 before opening the image: %s",
	   err.message);
	memset(&err, 0, sizeof(err));
	r = old_mount_image_fd(-1, "/nonexistent", &opts, &err);
	ok(r == -EOPNOTSUPP, "old cfs_mount_image_fd refuses SHA-512: %s",
	   err.message);
	opts.hash_alg = CFS_HASH_SHA256;
	r = old_mount_image("/nonexistent/image", "/nonexistent", &opts, &err);
	ok(r == -ENOENT,
	   "old cfs_mount_image with SHA-256 goes on (-ENOENT for a missing image): %d",
	   r);
}

int main(void)
{
	char dir[] = "/tmp/abi-old.XXXXXX";
	uint8_t d256[32], d512[64];
	char cmd[64];

	for (size_t i = 0; i < sizeof(d512); i++)
		d512[i] = (uint8_t)(i * 7 + 1);
	memcpy(d256, d512, sizeof(d256));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mkdtemp(dir) == NULL)
		bail("mkdtemp", -errno, NULL);

	check_overlay(0, d256);
	check_overlay(CFS_HASH_SHA512, d512);
	check_repo(dir, CFS_HASH_SHA256);
	check_repo(dir, CFS_HASH_SHA512);
	check_mount();

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	printf("1..%d\n", n_test);
	return n_failed ? 1 : 0;
}
