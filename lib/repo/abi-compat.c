/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The versions COMPOSEFS_REPO_0 and COMPOSEFS_REPO_0.1 of the functions
 * whose digests grew with SHA-512 (their default versions are in
 * COMPOSEFS_REPO_0.3): programs built before then pass and read
 * CFS_DIGEST_SIZE-byte digests and the struct cfs_repo_image_info of that
 * size. They keep working on SHA-256 repositories; a SHA-512 repository's
 * digests do not fit, and these refuse it with -EOPNOTSUPP before doing
 * anything.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "composefs-c/repo.h"
#include "repo/repo_i.h"
#include "base/util.h"

/* 0, or -EOPNOTSUPP when repo's digests are longer than the old ones. */
static int check_old_digests(const struct cfs_repo *repo, const char *what,
			     struct cfs_error *err)
{
	if (repo->digest_size == CFS_DIGEST_SIZE)
		return 0;
	return cfs_error_set(
		err, -EOPNOTSUPP,
		"%s: %s: a repository of %s digests, which this program (built before SHA-512) cannot hold: rebuild it",
		repo->path, what, cfs_hash_alg_name(repo->alg));
}

int cfsi_repo_add_image_0(struct cfs_repo *repo, struct cfs_node *root,
			  const struct cfs_write_options *opts,
			  struct cfs_store *store, const char *name,
			  unsigned flags, uint8_t *ret_digest,
			  struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_repo_add_image_0, cfs_repo_add_image,
		  "COMPOSEFS_REPO_0");
int cfsi_repo_add_image_0(struct cfs_repo *repo, struct cfs_node *root,
			  const struct cfs_write_options *opts,
			  struct cfs_store *store, const char *name,
			  unsigned flags, uint8_t *ret_digest,
			  struct cfs_error *err)
{
	int r = ret_digest ? check_old_digests(repo, name, err) : 0;

	return r < 0 ? r :
		       cfs_repo_add_image(repo, root, opts, store, name, flags,
					  ret_digest, err);
}

int cfsi_repo_resolve_0(struct cfs_repo *repo, const char *name,
			uint8_t *ret_digest, struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_repo_resolve_0, cfs_repo_resolve, "COMPOSEFS_REPO_0");
int cfsi_repo_resolve_0(struct cfs_repo *repo, const char *name,
			uint8_t *ret_digest, struct cfs_error *err)
{
	int r = check_old_digests(repo, name, err);

	return r < 0 ? r : cfs_repo_resolve(repo, name, ret_digest, err);
}

char *cfsi_repo_image_path_0(const struct cfs_repo *repo,
			     const uint8_t *digest);
CFS_SYMVER_COMPAT(cfsi_repo_image_path_0, cfs_repo_image_path,
		  "COMPOSEFS_REPO_0");
char *cfsi_repo_image_path_0(const struct cfs_repo *repo, const uint8_t *digest)
{
	if (repo->digest_size != CFS_DIGEST_SIZE) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	return cfs_repo_image_path(repo, digest);
}

int cfsi_repo_read_image_0(struct cfs_repo *repo, const uint8_t *digest,
			   uint8_t **ret_data, size_t *ret_size,
			   struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_repo_read_image_0, cfs_repo_read_image,
		  "COMPOSEFS_REPO_0");
int cfsi_repo_read_image_0(struct cfs_repo *repo, const uint8_t *digest,
			   uint8_t **ret_data, size_t *ret_size,
			   struct cfs_error *err)
{
	int r = check_old_digests(repo, "reading an image", err);

	return r < 0 ? r :
		       cfs_repo_read_image(repo, digest, ret_data, ret_size,
					   err);
}

int cfsi_repo_record_mount_0_1(struct cfs_repo *repo, const char *target,
			       const uint8_t *digest, struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_repo_record_mount_0_1, cfs_repo_record_mount,
		  "COMPOSEFS_REPO_0.1");
int cfsi_repo_record_mount_0_1(struct cfs_repo *repo, const char *target,
			       const uint8_t *digest, struct cfs_error *err)
{
	int r = check_old_digests(repo, target, err);

	return r < 0 ? r : cfs_repo_record_mount(repo, target, digest, err);
}

int cfsi_repo_import_tar_0(struct cfs_repo *repo, int fd, const char *source,
			   const char *name,
			   const struct cfs_import_options *opts,
			   uint8_t *ret_digest, struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_repo_import_tar_0, cfs_repo_import_tar,
		  "COMPOSEFS_REPO_0");
int cfsi_repo_import_tar_0(struct cfs_repo *repo, int fd, const char *source,
			   const char *name,
			   const struct cfs_import_options *opts,
			   uint8_t *ret_digest, struct cfs_error *err)
{
	int r = ret_digest ? check_old_digests(repo, name, err) : 0;

	return r < 0 ? r :
		       cfs_repo_import_tar(repo, fd, source, name, opts,
					   ret_digest, err);
}

int cfsi_repo_import_oci_0(struct cfs_repo *repo, const char *layout,
			   const char *tag, const char *name,
			   const struct cfs_import_options *opts,
			   uint8_t *ret_digest, struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_repo_import_oci_0, cfs_repo_import_oci,
		  "COMPOSEFS_REPO_0");
int cfsi_repo_import_oci_0(struct cfs_repo *repo, const char *layout,
			   const char *tag, const char *name,
			   const struct cfs_import_options *opts,
			   uint8_t *ret_digest, struct cfs_error *err)
{
	int r = ret_digest ? check_old_digests(repo, name, err) : 0;

	return r < 0 ? r :
		       cfs_repo_import_oci(repo, layout, tag, name, opts,
					   ret_digest, err);
}

/* COMPOSEFS_REPO_0's struct cfs_repo_image_info: a SHA-256 digest. */
struct cfs_repo_image_info_0 {
	const char *name;
	uint8_t digest[CFS_DIGEST_SIZE];
	uint64_t image_size;
	uint64_t n_objects, object_bytes, shared_bytes, unique_bytes;
	int error;
	const char *message;
	const char *manifest, *config;
	size_t n_layers;
};
typedef int (*image_fn_0)(void *userdata,
			  const struct cfs_repo_image_info_0 *info);

struct list_0 {
	image_fn_0 fn;
	void *userdata;
};

static int list_image_0(void *userdata, const struct cfs_repo_image_info *info)
{
	struct list_0 *l = userdata;
	struct cfs_repo_image_info_0 old = {
		.name = info->name,
		.image_size = info->image_size,
		.n_objects = info->n_objects,
		.object_bytes = info->object_bytes,
		.shared_bytes = info->shared_bytes,
		.unique_bytes = info->unique_bytes,
		.error = info->error,
		.message = info->message,
		.manifest = info->manifest,
		.config = info->config,
		.n_layers = info->n_layers,
	};

	memcpy(old.digest, info->digest, CFS_DIGEST_SIZE);
	return l->fn(l->userdata, &old);
}

int cfsi_repo_list_images_0(struct cfs_repo *repo, image_fn_0 fn,
			    void *userdata, struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_repo_list_images_0, cfs_repo_list_images,
		  "COMPOSEFS_REPO_0");
int cfsi_repo_list_images_0(struct cfs_repo *repo, image_fn_0 fn,
			    void *userdata, struct cfs_error *err)
{
	struct list_0 l = { fn, userdata };
	int r = check_old_digests(repo, "listing images", err);

	return r < 0 ? r : cfs_repo_list_images(repo, list_image_0, &l, err);
}
