/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* What the repository's files (repo.c, repo-check.c) share. */
#ifndef CFS_REPO_I_H
#define CFS_REPO_I_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "composefs-c/repo.h"

struct cfs_repo {
	char *path;
	char *objects_path;
	int dir_fd, objects_fd, images_fd, names_fd;
	int lock_fd;
	unsigned flags;
	/* the fs-verity algorithm of the repository's objects and images,
	 * from its marker, and the size of its digests */
	enum cfs_hash_alg alg;
	size_t digest_size;
};

/* Objects by digest, with what the caller counts about each. */
struct object_entry {
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	uint64_t size;
	uint32_t refs; /* images using it */
	uint32_t last; /* the image that counted it last */
	bool used;
};

struct object_map {
	struct object_entry *slots;
	size_t size, n;
	size_t digest_size; /* of the digests kept; 0: SHA-256's */
};

/* The entry of digest, added (zeroed but for the digest) when missing;
 * NULL on ENOMEM. */
struct object_entry *cfsi_object_map_add(struct object_map *map,
					 const uint8_t *digest);
/* The entry of digest or NULL. */
struct object_entry *cfsi_object_map_find(const struct object_map *map,
					  const uint8_t *digest);
void cfsi_object_map_free(struct object_map *map);

/* Called for each regular file of a tree that names an object (hard links
 * once): digest is NULL when the payload is not an object path of the
 * store layout. */
typedef int (*tree_object_fn)(void *userdata, const char *payload,
			      const uint8_t *digest, uint64_t size);
int cfsi_tree_for_each_object(const struct cfs_node *root,
			      enum cfs_hash_alg alg, tree_object_fn fn,
			      void *userdata);

/* "ab/cdef..." (2 + 1 + 62 lowercase hex digits; 126 for SHA-512) to a
 * digest of alg; -EINVAL otherwise. */
int cfsi_object_path_to_digest(const char *path, enum cfs_hash_alg alg,
			       uint8_t *ret_digest);

/* The entries of name in dir_fd ("." for dir_fd itself) but "." and "..",
 * sorted. */
struct cfsi_dir_list {
	char **names;
	size_t n;
};
int cfsi_list_dir(int dir_fd, const char *name, struct cfsi_dir_list *ret);
void cfsi_dir_list_free(struct cfsi_dir_list *l);

/* The digests of the named images, sorted by name: names[i] names
 * digests[i]. A name that cannot be read is an error. */
struct name_list {
	char **names;
	uint8_t (*digests)[CFS_DIGEST_MAX_SIZE];
	size_t n;
};
int cfsi_repo_read_names(struct cfs_repo *repo, struct name_list *ret,
			 struct cfs_error *err);
void cfsi_name_list_free(struct name_list *list);

/* The tree of the image of digest, read from the repository and checked
 * against the digest. */
int cfsi_repo_load_tree(struct cfs_repo *repo, const uint8_t *digest,
			uint64_t *ret_image_size, struct cfs_node **ret_root,
			struct cfs_error *err);

/* The fs-verity digest (of alg) of the open file fd: the kernel's where
 * the file has fs-verity of alg, else computed. */
int cfsi_file_digest(int fd, enum cfs_hash_alg alg, uint8_t *ret_digest);

/* Digests of the repository's algorithm as hex (CFS_DIGEST_HEX_MAX_SIZE
 * bytes suffice) and back (-EINVAL unless exactly its hex digits). */
void cfsi_repo_to_hex(const struct cfs_repo *repo, const uint8_t *digest,
		      char *ret_hex);
int cfsi_repo_from_hex(const struct cfs_repo *repo, const char *hex,
		       uint8_t *ret_digest);

/* Write the image of root into images/ (durable, no name); its digest to
 * ret_digest. The objects it names must be in place already. */
int cfsi_repo_store_image(struct cfs_repo *repo, struct cfs_node *root,
			  const struct cfs_write_options *opts,
			  uint8_t *ret_digest, struct cfs_error *err);

/* Called by cfsi_repo_add_image_checked() with the digest of the image
 * written, before it is named: a negative return refuses the image (it
 * stays unnamed, for gc) and is returned. */
typedef int (*cfsi_image_check_fn)(void *userdata, const uint8_t *digest,
				   struct cfs_error *err);
/* cfs_repo_add_image() with check (may be NULL) run between writing the
 * image and naming it. */
int cfsi_repo_add_image_checked(struct cfs_repo *repo, struct cfs_node *root,
				const struct cfs_write_options *opts,
				struct cfs_store *store, const char *name,
				unsigned flags, cfsi_image_check_fn check,
				void *check_data, uint8_t *ret_digest,
				struct cfs_error *err);
/* Small files in the repository's subdirectories "layers" and "oci"
 * (made when first written): written whole and durable (replacing what
 * is there), read NUL-terminated into buf (the length or -errno; -ENOENT
 * when missing, -EUCLEAN when not a regular file), removed. */
int cfsi_repo_write_file(struct cfs_repo *repo, const char *subdir,
			 const char *name, const void *data, size_t len,
			 struct cfs_error *err);
ssize_t cfsi_repo_read_file(struct cfs_repo *repo, const char *subdir,
			    const char *name, char *buf, size_t size);
int cfsi_repo_remove_file(struct cfs_repo *repo, const char *subdir,
			  const char *name);

/* Parsers shared by the records and OCI's JSON (lib/repo/records.c). */
struct json_object;
/* The string member key of the JSON object o; NULL when o is NULL, has no
 * such member or its member is not a string. */
const char *cfsi_json_str(struct json_object *o, const char *key);
/* Whether s is n lowercase hex digits and its end. */
bool cfsi_is_lower_hex(const char *s, size_t n);
/* "sha256:<64 lowercase hex>" to its bytes; -EINVAL otherwise (-EOPNOTSUPP
 * for another algorithm). */
int cfsi_parse_sha256(const char *s, uint8_t ret[32]);

/* What DIR/layer-blobs/HEX says of the blob sha256:HEX: the diff_id (hex)
 * of the layer it holds and its size (-1 in records written before sizes
 * were). -ENOENT when there is no record, -EINVAL when it cannot be
 * parsed. */
int cfsi_repo_read_layer_blob(struct cfs_repo *repo, const char *hex,
			      char ret_diff[65], int64_t *ret_size);

/* What DIR/oci/NAME says of the image NAME names (lib/repo/records.c). */
struct cfsi_oci_record {
	char manifest[80], config[80]; /* "sha256:HEX" */
	char (*layers)[65]; /* diff_ids, hex */
	size_t n_layers;
};
/* -ENOENT when NAME has no record, -ESTALE when its record is of another
 * image than digest (the name was moved since), -EINVAL when it cannot be
 * parsed. */
int cfsi_repo_read_record(struct cfs_repo *repo, const char *name,
			  const uint8_t *digest, struct cfsi_oci_record *ret);
void cfsi_oci_record_free(struct cfsi_oci_record *rec);

/* The image the mount record DIR/mounts/NAME names, to ret_digest, when
 * that mount still exists (lib/repo/mounts.c): 0; -ESTALE when it is
 * gone, -EINVAL when the record cannot be read or parsed, another -errno
 * when whether it exists cannot be told (/proc not mounted, say). */
int cfsi_repo_read_mount(struct cfs_repo *repo, const char *name,
			 uint8_t *ret_digest);

#endif
