/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * libcomposefs-repo: repositories of composefs images (named images over
 * one shared object store, listed, checked and cleaned) and imports of tar
 * streams and OCI images into them. A library of its own,
 * libcomposefs-repo.so.0 (pkg-config: composefs-repo), because it needs
 * libarchive and json-c, which the core library (<composefs-c/composefs.h>,
 * libcomposefs.so.1) does not. The conventions of the core API hold here
 * too.
 */
#ifndef COMPOSEFS_REPO_H
#define COMPOSEFS_REPO_H

#include <composefs-c/composefs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Repositories (lib/repo/)
 *
 * A directory holding an object store shared by named images:
 *
 *   DIR/composefs-repository   format marker: "composefs-repository 1\n"
 *   DIR/lock                   the lock file (flock)
 *   DIR/objects/ab/cdef...     objects, as cfs_store writes them (a basedir
 *                              for mounts as it is)
 *   DIR/images/HEX             image files, named by their fs-verity digest
 *   DIR/names/NAME             one line: the HEX digest of the image NAME
 *                              names
 *
 * What is alive is what a name reaches: the named images and the objects
 * they use. Everything else is removed by cfs_repo_gc().
 *
 * Locking: every user of a repository holds the lock file shared, except
 * gc and a repairing fsck, which hold it alone; a handle keeps its lock
 * until it is freed.
 */

struct cfs_repo;

enum {
	/* Hold the repository's lock alone (gc, repair). */
	CFS_REPO_EXCLUSIVE = 1 << 0,
	/* Fail with -EWOULDBLOCK instead of waiting for the lock. */
	CFS_REPO_NOWAIT = 1 << 1,
};

/* Called once when the lock is held by someone else, before waiting. */
typedef void (*cfs_repo_wait_fn)(void *userdata, const char *path);

/* Make a new, empty repository at path (made with its missing parents).
 * -EEXIST when path already holds a repository, -ENOTEMPTY when it is a
 * directory holding something else. */
int cfs_repo_init(const char *path, struct cfs_error *err);
/* The same for a repository whose objects and images are named by
 * fs-verity digests of alg (CFS_HASH_SHA256, the default, or
 * CFS_HASH_SHA512): recorded in its marker, and kept; an image or a store
 * of another algorithm is refused. -EOPNOTSUPP for an algorithm not
 * implemented. */
int cfs_repo_init_alg(const char *path, enum cfs_hash_alg alg,
		      struct cfs_error *err);
/* Open the repository at path and take its lock (shared unless
 * CFS_REPO_EXCLUSIVE). -ENOENT when there is none, -EPROTO when the marker
 * names a format this library does not know. */
int cfs_repo_open(const char *path, unsigned flags, cfs_repo_wait_fn wait,
		  void *wait_userdata, struct cfs_repo **ret_repo,
		  struct cfs_error *err);
/* When the directory objects_path is the objects directory of a
 * repository, open that repository as cfs_repo_open() does (so that a
 * writer into its store holds its lock) and return 1; return 0, and set
 * *ret_repo to NULL, when it is not one. */
int cfs_repo_open_for_objects(const char *objects_path, unsigned flags,
			      cfs_repo_wait_fn wait, void *wait_userdata,
			      struct cfs_repo **ret_repo,
			      struct cfs_error *err);
/* Drop the lock; NULL-safe; returns NULL. */
struct cfs_repo *cfs_repo_free(struct cfs_repo *repo);
/* The repository's directory and its objects directory. */
const char *cfs_repo_get_path(const struct cfs_repo *repo);
const char *cfs_repo_get_objects_path(const struct cfs_repo *repo);

/* Whether name can name an image: 1 to 255 bytes, no '/', no control
 * character, not starting with '.'. 0 or -EINVAL. */
int cfs_repo_check_name(const char *name, struct cfs_error *err);

/* The fs-verity algorithm of the repository's objects and images (its
 * digests are as long as that algorithm's: CFS_DIGEST_MAX_SIZE bytes
 * suffice for any). */
enum cfs_hash_alg cfs_repo_get_hash_alg(const struct cfs_repo *repo);

/* The object store of the repository, in batch mode, for building a tree
 * whose objects go into it (cfs_build_options.store), named by the
 * repository's algorithm. Free it with
 * cfs_store_free() (after cfs_repo_add_image(), which commits it). */
int cfs_repo_open_store(struct cfs_repo *repo, struct cfs_store **ret_store,
			struct cfs_error *err);

enum {
	/* Move an existing name to the new image (else -EEXIST, unless it
	 * already names this very image). */
	CFS_REPO_REPLACE = 1 << 0,
	/* cfs_repo_import_oci(): the tree as the layers give it, as `umoci
	 * unpack` writes it, not composefs-rs's transform of it */
	CFS_IMPORT_AS_UNPACKED = 1 << 1,
	/* cfs_repo_import_oci(): the transform keeps user.* xattrs too */
	CFS_IMPORT_KEEP_USER_XATTRS = 1 << 2,
	/* cfs_repo_import_oci(): refuse an image without a seal (-ENOKEY) */
	CFS_IMPORT_REQUIRE_SEALED = 1 << 3,
};

/* Write the image of root into the repository and name it name. store,
 * when not NULL, is the repository's store the tree was built into: it is
 * committed first. Without it, every object the tree names must be in the
 * repository (-ENOENT naming the first missing one). The image is
 * durable before the name, the name durable before this returns. */
int cfs_repo_add_image(struct cfs_repo *repo, struct cfs_node *root,
		       const struct cfs_write_options *opts,
		       struct cfs_store *store, const char *name,
		       unsigned flags, uint8_t *ret_digest,
		       struct cfs_error *err);
/* The digest of the image name names. -ENOENT for an unknown name. */
int cfs_repo_resolve(struct cfs_repo *repo, const char *name,
		     uint8_t *ret_digest, struct cfs_error *err);
/* Path of the image file of digest (malloc'd), whether or not it exists. */
char *cfs_repo_image_path(const struct cfs_repo *repo, const uint8_t *digest);
/* The directory where composefs-fuse keeps the Merkle trees it verified
 * (its treecache=), made if missing; its path (malloc'd) in *ret_path.
 * -errno (e.g. -EACCES for a repository this user cannot write, where it
 * is missing) when it cannot be had. */
int cfs_repo_trees_dir(struct cfs_repo *repo, char **ret_path,
		       struct cfs_error *err);
/* The bytes of the image of digest, checked against it: -EILSEQ when the
 * file has another digest, -ENOENT when it is missing. The buffer is
 * malloc'd. */
int cfs_repo_read_image(struct cfs_repo *repo, const uint8_t *digest,
			uint8_t **ret_data, size_t *ret_size,
			struct cfs_error *err);
/* Remove a name (the image and its objects stay until gc). */
int cfs_repo_remove_name(struct cfs_repo *repo, const char *name,
			 struct cfs_error *err);

/* One named image with what it holds and shares. Objects are counted once
 * per image; bytes are file sizes. shared_bytes are those of objects some
 * other image (of another digest) also uses; unique_bytes the rest. */
struct cfs_repo_image_info {
	const char *name;
	uint8_t digest[CFS_DIGEST_MAX_SIZE]; /* of the repository's algorithm */
	uint64_t image_size;
	uint64_t n_objects, object_bytes, shared_bytes, unique_bytes;
	/* 0, or -errno when the image could not be read (message says why;
	 * the counts are then 0) */
	int error;
	const char *message;
	/* For an image imported from an OCI image (cfs_repo_import_oci):
	 * its manifest's and config's digests ("sha256:HEX") and its number
	 * of layers; NULL, NULL and 0 otherwise. */
	const char *manifest, *config;
	size_t n_layers;
};
typedef int (*cfs_repo_image_fn)(void *userdata,
				 const struct cfs_repo_image_info *info);
/* Call fn for every name, sorted by name. A non-zero return of fn stops
 * the walk and is returned. */
int cfs_repo_list_images(struct cfs_repo *repo, cfs_repo_image_fn fn,
			 void *userdata, struct cfs_error *err);

/* One problem fsck found. kind is a short fixed word ("corrupt-object",
 * "missing-object", "stray", "leftover", ...), path relative to the
 * repository. */
struct cfs_repo_problem {
	const char *kind;
	const char *path;
	const char *message;
	bool repaired;
};
typedef void (*cfs_repo_problem_fn)(void *userdata,
				    const struct cfs_repo_problem *problem);

enum {
	/* Move bad objects and stray files to DIR/quarantine/ (so that the
	 * next add writes those objects again), remove leftovers of
	 * interrupted writes. Needs the repository opened exclusive. */
	CFS_FSCK_REPAIR = 1 << 0,
};

struct cfs_repo_fsck_stats {
	uint64_t n_names, n_images, n_objects, object_bytes;
	uint64_t n_problems;
};

/* Check the whole repository: every object's content against its name
 * (the kernel's fs-verity measurement where the object has it, else
 * computed, on threads workers, 0 for one per processor), every file in
 * objects/ for its type, name and place, every image parsed and its
 * objects present, every name resolved. fn is called for each problem, in
 * a stable order; progress (may be NULL) with objects checked so far.
 * Returns 0 when the walk could be done (problems or not: see
 * ret_stats->n_problems), else -errno. */
int cfs_repo_fsck(struct cfs_repo *repo, unsigned flags, unsigned threads,
		  cfs_repo_problem_fn fn, cfs_progress_fn progress,
		  void *userdata, struct cfs_repo_fsck_stats *ret_stats,
		  struct cfs_error *err);

enum {
	CFS_GC_DRY_RUN = 1 << 0, /* say what would go, remove nothing */
};

/* Called for each file gc removes (or would remove): its path relative to
 * the repository and its size. */
typedef void (*cfs_repo_gc_fn)(void *userdata, const char *path,
			       uint64_t bytes);
struct cfs_repo_gc_stats {
	uint64_t n_images, n_objects, n_leftovers, bytes;
};

/* Record that the image of digest is mounted on target, a mount the
 * caller has just made (the mount on top there, in this process's mount
 * namespace): gc keeps that image and its objects while the mount exists,
 * and drops the record once it is gone. Hold the repository's lock from
 * before the mount until this returns, so that no gc runs in between.
 * Mounts made without a record are no root for gc. */
int cfs_repo_record_mount(struct cfs_repo *repo, const char *target,
			  const uint8_t *digest, struct cfs_error *err);

/* Remove every image no name or recorded mount reaches, every object no
 * such image uses, and every leftover of an interrupted write; the Merkle
 * trees kept of objects removed count as leftovers. Needs the repository
 * opened
 * exclusive. An image that is named but cannot be read stops gc before
 * anything is removed (its objects cannot be known): -EUCLEAN. */
int cfs_repo_gc(struct cfs_repo *repo, unsigned flags, cfs_repo_gc_fn fn,
		void *userdata, struct cfs_repo_gc_stats *ret_stats,
		struct cfs_error *err);

/* ------------------------------------------------------------------ */
/* Imports: tar streams and OCI images into a repository (lib/oci/)
 *
 * Nothing is unpacked: owners, modes, times, devices, xattrs and hard
 * links come from the tar headers, regular files over
 * CFS_INLINE_RECOMMENDED_MAX bytes stream into the object store while
 * their digest is computed. Tar names are taken relative to the root
 * (a leading '/' dropped, ".." resolved lexically, never above the root);
 * a later entry replaces an earlier one of the same name, but a directory
 * onto a directory only takes its metadata. A directory the tar lacks but
 * an entry needs is made with mode 0755, owner 0:0 and mtime 0, and the
 * root is that too unless an entry "./" says otherwise. Layers are applied
 * in order with the OCI image-spec's whiteouts (".wh.NAME",
 * ".wh..wh..opq", which apply only to the layers below); a plain tar is
 * one layer onto nothing.
 */

enum cfs_import_event_kind {
	CFS_IMPORT_READING, /* a layer's tar is being read */
	CFS_IMPORT_LAYER_READ, /* ...and is now read and checked */
	CFS_IMPORT_LAYER_REUSED, /* a layer imported before, not read again */
};

struct cfs_import_event {
	enum cfs_import_event_kind kind;
	unsigned layer, n_layers; /* 1-based; 0 and 0 for a plain tar */
	const char *diff_id; /* "sha256:HEX", NULL for a plain tar */
	uint64_t bytes; /* read so far (compressed) */
	uint64_t total_bytes; /* the layer's size, 0 when unknown */
	uint64_t entries; /* tar entries read so far */
};
typedef void (*cfs_import_fn)(void *userdata,
			      const struct cfs_import_event *event);

struct cfs_import_options {
	/* CFS_REPO_REPLACE, CFS_IMPORT_AS_UNPACKED,
	 * CFS_IMPORT_KEEP_USER_XATTRS, CFS_IMPORT_REQUIRE_SEALED */
	unsigned flags;
	const struct cfs_write_options *write; /* NULL: the defaults */
	/* "OS/ARCH" or "OS/ARCH/VARIANT" to pick from a multi-platform
	 * image; NULL: this machine's (linux/amd64 and so on) */
	const char *platform;
	cfs_import_fn progress; /* may be NULL */
	void *userdata;
	/* cfs_repo_import_oci(): when n_trusted_certs > 0, the image must be
	 * sealed with a signature by the key of one of these certificates
	 * (PEM files), else -EKEYREJECTED (see cfs_repo_seal_oci()) */
	const char *const *trusted_certs;
	size_t n_trusted_certs;
	void *reserved[2]; /* zero (see "Option structs" above) */
};

/* Import the tar stream on fd (plain, gzip, zstd, xz, bzip2: detected
 * from the bytes) as the image name. source names the stream in
 * messages. Errors name the entry that caused them. */
int cfs_repo_import_tar(struct cfs_repo *repo, int fd, const char *source,
			const char *name, const struct cfs_import_options *opts,
			uint8_t *ret_digest, struct cfs_error *err);

/* Import the OCI image in the image layout at the directory layout (its
 * image tagged tag, or its only image when tag is NULL; through nested
 * indexes by platform) as the image name. Every blob is checked against
 * its digest and size and every layer against its diff_id: -EILSEQ naming
 * the blob when one does not match, and nothing is named. Layers imported
 * before (by diff_id) are not read again. The repository records, in
 * DIR/oci/NAME, the manifest, the config and the layers of the image, and
 * keeps each layer as an image of its own until no name needs it.
 *
 * A sealed image (see cfs_repo_seal_oci(); composefs-rs's config label or
 * the sealing specification's annotations) is checked against the image
 * computed, before anything is named: -EILSEQ when a digest sealed differs
 * from it, or when no digest sealed is of the repository's algorithm (it
 * cannot be checked); -EKEYREJECTED when opts->trusted_certs are given and
 * the seal has no valid signature by one of them; -ENOKEY for an unsealed
 * image with CFS_IMPORT_REQUIRE_SEALED or trusted certificates. With
 * CFS_IMPORT_AS_UNPACKED, which is not the image sealed, the seal is not
 * looked at and those two options are -EINVAL. */
int cfs_repo_import_oci(struct cfs_repo *repo, const char *layout,
			const char *tag, const char *name,
			const struct cfs_import_options *opts,
			uint8_t *ret_digest, struct cfs_error *err);

/* The tree of the tar stream on fd, read as cfs_repo_import_tar() reads
 * it; the contents of its files go into store when not NULL (a store of
 * cfs_store_open(), committed by the caller), else they are only
 * digested. source names the stream in messages. */
int cfs_build_from_tar(int fd, const char *source, struct cfs_store *store,
		       struct cfs_node **ret_root, struct cfs_error *err);
/* The tree of the image tagged tag (NULL: the only one) of the OCI image
 * layout at the directory layout, every blob and layer checked as
 * cfs_repo_import_oci() checks them; platform as in cfs_import_options;
 * store as for cfs_build_from_tar(). */
int cfs_build_from_oci(const char *layout, const char *tag,
		       const char *platform, struct cfs_store *store,
		       struct cfs_node **ret_root, struct cfs_error *err);
/* The same two with the files' digests of alg (CFS_HASH_DEFAULT:
 * SHA-256) where there is no store; with one, alg must be the store's
 * (-EINVAL otherwise). */
int cfs_build_from_tar_alg(int fd, const char *source, struct cfs_store *store,
			   enum cfs_hash_alg alg, struct cfs_node **ret_root,
			   struct cfs_error *err);
int cfs_build_from_oci_alg(const char *layout, const char *tag,
			   const char *platform, struct cfs_store *store,
			   enum cfs_hash_alg alg, struct cfs_node **ret_root,
			   struct cfs_error *err);

enum {
	/* keep the xattrs starting with "user." too */
	CFS_OCI_KEEP_USER_XATTRS = 1 << 0,
};
/* The tree of an OCI image (as cfs_build_from_oci() gives it) made what
 * composefs-rs digests, so that an image gives the same composefs image
 * with either implementation, written in format version 1
 * (cfs_write_options.min_version = 1): the root takes /usr's mode, owner,
 * mtime and xattrs; /run is emptied and takes /usr's mtime; every inode
 * keeps only the xattr security.capability (and user.* with
 * CFS_OCI_KEEP_USER_XATTRS); link counts are recounted. -ENOENT (or
 * -ENOTDIR) when the tree has no /usr directory, -ENOTDIR when its /run
 * is not a directory. */
int cfs_oci_transform(struct cfs_node *root, unsigned flags,
		      struct cfs_error *err);

/* Sealing (lib/oci/seal.c) */

struct cfs_seal_options {
	unsigned flags; /* CFS_IMPORT_KEEP_USER_XATTRS */
	const char *platform; /* as in cfs_import_options */
	/* Both or neither: a private key and its certificate (PEM files) to
	 * sign the digests sealed with */
	const char *sign_key, *sign_cert;
	cfs_import_fn progress; /* may be NULL */
	void *userdata;
	void *reserved[4]; /* zero (see "Option structs" above) */
};

/* Write a sealed copy of the OCI image of the layout src (tagged src_tag,
 * NULL: its only image) into the layout dest (made when missing, its
 * parent must exist), tagged dest_tag (NULL: untagged, replacing untagged
 * entries): its composefs image is computed as cfs_repo_import_oci()
 * computes it (layers reused from and kept in the repository, not named)
 * and its digest, of the repository's algorithm ALG ("fsverity-sha256-12"),
 * goes into a new config (label "containers.composefs.fsverity", as
 * composefs-rs reads it) and a new manifest (annotation
 * "composefs.merged.erofs.v1.ALG"; on the config's descriptor
 * "composefs.config.ALG", the fs-verity digest of the new config's
 * bytes), as composefs-rs's sealing specification has them; annotations
 * "composefs.*" of src are dropped. With a key, each digest gets a
 * signature annotation (the key with ".sig": base64 of the PKCS#7 DER
 * signature cfs_verity_sign() makes). The layers' blobs are shared (hard
 * links where they can be, else copies checked against their digests).
 * Blobs are written whole before they are named, index.json is replaced
 * in one rename; on failure whatever was added to dest is removed. The
 * algorithm into *ret_alg and the digest sealed into ret_digest (either
 * may be NULL; as long as the algorithm's digests, CFS_DIGEST_MAX_SIZE
 * bytes suffice). */
int cfs_repo_seal_oci(struct cfs_repo *repo, const char *src,
		      const char *src_tag, const char *dest,
		      const char *dest_tag, const struct cfs_seal_options *opts,
		      enum cfs_hash_alg *ret_alg, uint8_t *ret_digest,
		      struct cfs_error *err);

/* The seal of the image name names, as checked when it was imported: its
 * algorithm into *ret_alg, the digest sealed into ret_digest (as long as
 * that algorithm's digests; CFS_DIGEST_MAX_SIZE bytes suffice), the
 * signature of the seal (DER, malloc'd; NULL and 0 when unsigned) into
 * *ret_sig and *ret_sig_len (any may be NULL). -ENODATA when that image
 * was not imported from a sealed OCI image (or the name has moved since),
 * -ENOENT for an unknown name. */
int cfs_repo_read_seal(struct cfs_repo *repo, const char *name,
		       enum cfs_hash_alg *ret_alg, uint8_t *ret_digest,
		       uint8_t **ret_sig, size_t *ret_sig_len,
		       struct cfs_error *err);

/* The sha256 digests (hex, malloc'd, as is the array) of the layer blobs
 * whose layers the repository holds: a pull need not fetch them. */
int cfs_repo_list_layer_blobs(struct cfs_repo *repo, char ***ret_hex,
			      size_t *ret_n, struct cfs_error *err);

/* A new, empty OCI image layout in the repository's place for pulls (a
 * fresh directory, its path malloc'd into ret_path), for a registry client
 * to fill and cfs_repo_import_oci() to read: the blobs of the layers the
 * repository holds are there as empty files, so that a client that skips
 * blobs present does not fetch them again. The caller removes it when
 * done; gc removes any left behind. */
int cfs_repo_pull_layout_new(struct cfs_repo *repo, char **ret_path,
			     struct cfs_error *err);
/* Put empty stand-ins into the pull layout (made by
 * cfs_repo_pull_layout_new()) for the layer blobs of an image whose
 * diff_ids the repository has, however those layers were compressed when
 * imported: inspect_json is what `skopeo inspect` says of the image (its
 * "Layers"), config_json its config (`skopeo inspect --config`, its
 * rootfs.diff_ids), paired by position. A pull then fetches only the
 * other blobs; an import reuses those layers by diff_id and never opens
 * their stand-ins. What cannot be parsed or paired adds nothing. The
 * number of stand-ins added to ret_n. */
int cfs_repo_pull_layout_skip_layers(struct cfs_repo *repo, const char *layout,
				     const char *inspect_json,
				     const char *config_json, size_t *ret_n,
				     struct cfs_error *err);

#ifdef __cplusplus
}
#endif

#endif
