/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * libcomposefs: build, write, inspect and mount composefs images (the core
 * library, libcomposefs.so.1, which needs only libcrypto). Repositories and
 * tar/OCI imports are in <composefs-c/repo.h> (libcomposefs-repo.so.0).
 *
 * Conventions of the whole API:
 *  - every public symbol starts with cfs_ / CFS_;
 *  - functions returning int return 0 (or a non-negative count) on success
 *    and -errno on failure; out-parameters named ret_* are only written on
 *    success;
 *  - where a user needs to know more than an errno (which line of a dump,
 *    which file of a tree), the function takes a struct cfs_error * (which may
 *    be NULL) and fills in a message;
 *  - the library never prints and never exits.
 *
 * Option structs (struct cfs_write_options, cfs_build_options,
 * cfs_mount_options; cfs_import_options of <composefs-c/repo.h>) end
 * with reserved space: a caller
 * zeroes the whole struct (= { 0 }) and sets what it needs. A later
 * version adds fields only in that space, where zero keeps the old
 * behaviour, so that a program built against this header keeps working
 * with a newer library (the soname, libcomposefs.so.1, changes only when
 * a symbol is removed or changes meaning; every exported symbol is listed
 * in lib/libcomposefs.sym). A function whose other structs or digest sizes
 * change keeps its old symbol version for the programs linked against it
 * (as struct cfs_overlay_info and the 32-byte digests of before SHA-512;
 * those versions refuse SHA-512 digests with -EOPNOTSUPP).
 */
#ifndef COMPOSEFS_H
#define COMPOSEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The size of a SHA-256 fs-verity digest, the default algorithm's: the
 * functions without an algorithm parameter take and give digests of this
 * size, as they always have. */
#define CFS_DIGEST_SIZE 32
/* hex digest plus NUL */
#define CFS_DIGEST_HEX_SIZE (CFS_DIGEST_SIZE * 2 + 1)
/* "ab/cdef..." plus NUL */
#define CFS_OBJECT_PATH_SIZE (CFS_DIGEST_SIZE * 2 + 2)
/* The same for the largest digest (SHA-512): the size of any buffer given
 * to a function that takes an algorithm, which writes as much of it as the
 * algorithm's digest takes. */
#define CFS_DIGEST_MAX_SIZE 64
#define CFS_DIGEST_HEX_MAX_SIZE (CFS_DIGEST_MAX_SIZE * 2 + 1)
#define CFS_OBJECT_PATH_MAX_SIZE (CFS_DIGEST_MAX_SIZE * 2 + 2)

/* Format versions this library writes. */
#define CFS_VERSION_MAX 1
#define CFS_DEFAULT_VERSION_MIN 0
#define CFS_DEFAULT_VERSION_MAX 1

/* Regular files up to this size are stored inside the image when a tree is
 * built from a directory (a digest would not be smaller). */
#define CFS_INLINE_RECOMMENDED_MAX 64
/* Largest inline content a dump may carry. */
#define CFS_INLINE_CONTENT_MAX 5000
/* Longest name of a directory entry. */
#define CFS_NAME_MAX 255
/* Longest symlink target / object path (excluding the NUL). */
#define CFS_PAYLOAD_MAX 4095
/* Budget of key + value bytes of the xattrs of one node taken from outside
 * input; half of what EROFS can hold, the rest is kept for the overlay
 * xattrs the writer adds. */
#define CFS_XATTR_EXTERNAL_MAX (UINT16_MAX / 2)

/* ------------------------------------------------------------------ */
/* Hash algorithms (lib/format/hash-alg.c)
 *
 * fs-verity's, numbered as the kernel numbers them (FS_VERITY_HASH_ALG_*),
 * with 4 KiB blocks: SHA-256 (32-byte digests, 64 hex digits, the
 * default) and SHA-512 (64 bytes, 128 hex digits), as composefs-rs's
 * "fsverity-sha256-12" and "fsverity-sha512-12". The writer, the reader,
 * the store and the mount take one as a parameter; any other number is
 * refused with -EOPNOTSUPP. */
enum cfs_hash_alg {
	CFS_HASH_DEFAULT = 0, /* SHA-256 */
	CFS_HASH_SHA256 = 1,
	CFS_HASH_SHA512 = 2,
};
/* The algorithm of fsverity-utils' name ("sha256", "sha512") into *ret:
 * -EINVAL for an unknown name, -EOPNOTSUPP for one not implemented. */
int cfs_hash_alg_from_name(const char *name, enum cfs_hash_alg *ret);
/* Its name, or NULL when not implemented. */
const char *cfs_hash_alg_name(enum cfs_hash_alg alg);
/* Its digest size in bytes, or 0 when not implemented. */
size_t cfs_hash_alg_digest_size(enum cfs_hash_alg alg);
/* The algorithm whose digests have size bytes into *ret; -EINVAL when
 * none has. */
int cfs_hash_alg_from_digest_size(size_t size, enum cfs_hash_alg *ret);

/* ------------------------------------------------------------------ */
/* Errors with detail */

struct cfs_error {
	char message[1024];
};

/* Format a message into err (a NULL err is allowed and ignored) and return
 * -errnum, so that a caller can write `return cfs_error_set(err, -EINVAL, ...)`.
 * A message longer than the buffer keeps its start and its end (where a
 * "path: reason" message has its reason) around "..." in the middle. */
int cfs_error_set(struct cfs_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ */
/* The node tree */

/* A refcounted node: one inode of the tree (or a hard link to one). */
struct cfs_node;

/* A new node: mode 0, nlink 1, everything else zero. NULL on ENOMEM. */
struct cfs_node *cfs_node_new(void);
/* Take a reference; returns node. NULL-safe. */
struct cfs_node *cfs_node_ref(struct cfs_node *node);
/* Drop a reference (a whole subtree when the last one goes); returns NULL.
 * NULL-safe. */
struct cfs_node *cfs_node_unref(struct cfs_node *node);

/* Add child under name, keeping children sorted by name (strcmp). On
 * success the parent owns the caller's reference to child. Errors:
 * -ENOTDIR (parent not a directory), -EINVAL (empty name, "/" in it),
 * -ENAMETOOLONG, -EEXIST (name taken), -EMLINK (child already has a parent). */
int cfs_node_add_child(struct cfs_node *parent, struct cfs_node *child,
		       const char *name);
/* Child by name, or NULL; borrowed. */
struct cfs_node *cfs_node_lookup_child(const struct cfs_node *node,
				       const char *name);
size_t cfs_node_get_n_children(const struct cfs_node *node);
/* i-th child in name order; borrowed; NULL past the end. */
struct cfs_node *cfs_node_get_child(const struct cfs_node *node, size_t i);
/* Name in the parent, NULL for a root. Borrowed. */
const char *cfs_node_get_name(const struct cfs_node *node);
struct cfs_node *cfs_node_get_parent(const struct cfs_node *node);

uint32_t cfs_node_get_mode(const struct cfs_node *node);
/* -EINVAL unless the file type bits name one of the seven file types. */
int cfs_node_set_mode(struct cfs_node *node, uint32_t mode);
uint32_t cfs_node_get_uid(const struct cfs_node *node);
void cfs_node_set_uid(struct cfs_node *node, uint32_t uid);
uint32_t cfs_node_get_gid(const struct cfs_node *node);
void cfs_node_set_gid(struct cfs_node *node, uint32_t gid);
uint32_t cfs_node_get_nlink(const struct cfs_node *node);
void cfs_node_set_nlink(struct cfs_node *node, uint32_t nlink);
uint64_t cfs_node_get_rdev(const struct cfs_node *node);
void cfs_node_set_rdev(struct cfs_node *node, uint64_t rdev);
uint64_t cfs_node_get_size(const struct cfs_node *node);
/* Sets the size; drops inline content whose length no longer matches. */
void cfs_node_set_size(struct cfs_node *node, uint64_t size);
void cfs_node_get_mtime(const struct cfs_node *node, int64_t *sec,
			uint32_t *nsec);
void cfs_node_set_mtime(struct cfs_node *node, int64_t sec, uint32_t nsec);

/* Payload: for a regular file the object path in the store ("ab/cdef..."),
 * for a symlink its target. NULL clears. -ENAMETOOLONG past CFS_PAYLOAD_MAX. */
int cfs_node_set_payload(struct cfs_node *node, const char *payload);
const char *cfs_node_get_payload(const struct cfs_node *node);
/* Symlink target: non-empty, sets size to its length. */
int cfs_node_set_symlink_target(struct cfs_node *node, const char *target);

/* Inline content (copied); sets size to len. len 0 or data NULL clears.
 * -EFBIG past CFS_INLINE_CONTENT_MAX. */
int cfs_node_set_content(struct cfs_node *node, const uint8_t *data,
			 size_t len);
/* Inline content (size bytes) or NULL. */
const uint8_t *cfs_node_get_content(const struct cfs_node *node);

/* fs-verity SHA-256 digest of the file content. */
void cfs_node_set_digest(struct cfs_node *node,
			 const uint8_t digest[CFS_DIGEST_SIZE]);
/* The file's fs-verity digest of algorithm alg (as long as its digests;
 * CFS_HASH_DEFAULT: SHA-256). -EOPNOTSUPP for an algorithm not
 * implemented. */
int cfs_node_set_digest_alg(struct cfs_node *node, enum cfs_hash_alg alg,
			    const uint8_t *digest);
void cfs_node_clear_digest(struct cfs_node *node);
/* The digest, or NULL when none is set. */
const uint8_t *cfs_node_get_digest(const struct cfs_node *node);
/* The algorithm of the node's digest (CFS_HASH_SHA256 or CFS_HASH_SHA512),
 * 0 when none is set. */
enum cfs_hash_alg cfs_node_get_digest_alg(const struct cfs_node *node);

/* Set (or replace) an xattr. -ERANGE for an empty name, a name over 255
 * bytes, or when the node's xattrs would pass CFS_XATTR_EXTERNAL_MAX;
 * -EINVAL for a value over 65535 bytes. */
int cfs_node_set_xattr(struct cfs_node *node, const char *name,
		       const void *value, size_t len);
/* -ENODATA when absent. */
int cfs_node_unset_xattr(struct cfs_node *node, const char *name);
/* Value (len bytes, followed by a zero byte not counted in len) or NULL;
 * *ret_len set when found. */
const void *cfs_node_get_xattr(const struct cfs_node *node, const char *name,
			       size_t *ret_len);
size_t cfs_node_get_n_xattrs(const struct cfs_node *node);
/* i-th xattr (in insertion order until the tree is written, then sorted). */
const char *cfs_node_get_xattr_name(const struct cfs_node *node, size_t i);
const void *cfs_node_get_xattr_value(const struct cfs_node *node, size_t i,
				     size_t *ret_len);

/* Make node a hard link to target (which gains a reference and one nlink).
 * -EINVAL if target is node or either is a directory, -ELOOP if target is
 * itself a link to node (a cycle). */
int cfs_node_make_hardlink(struct cfs_node *node, struct cfs_node *target);
/* The node this one links to, or NULL. Borrowed. */
struct cfs_node *cfs_node_get_hardlink_target(const struct cfs_node *node);

/* ------------------------------------------------------------------ */
/* fs-verity digests (4096-byte blocks, no salt; SHA-256 unless an
 * algorithm is given) */

struct cfs_fsverity;

/* A streaming SHA-256 digest context; NULL on ENOMEM. */
struct cfs_fsverity *cfs_fsverity_new(void);
/* The same for algorithm alg; NULL with errno ENOMEM, or EOPNOTSUPP for an
 * algorithm not implemented. cfs_fsverity_final() of it writes alg's digest
 * size. */
struct cfs_fsverity *cfs_fsverity_new_alg(enum cfs_hash_alg alg);
/* Feed the next bytes of the file. 0, or -ENOMEM once hashing has failed
 * (memory ran out): the context keeps that error. */
int cfs_fsverity_update(struct cfs_fsverity *ctx, const void *data, size_t len);
/* The digest of everything fed so far: 0, or the error of a failed update
 * (ret_digest is then not written). The context may not be updated
 * afterwards. */
int cfs_fsverity_final(struct cfs_fsverity *ctx, uint8_t *ret_digest);
/* NULL-safe; returns NULL. */
struct cfs_fsverity *cfs_fsverity_free(struct cfs_fsverity *ctx);

/* Digest of a buffer: 0 or -ENOMEM. */
int cfs_fsverity_digest_buffer(const void *data, size_t len,
			       uint8_t ret_digest[CFS_DIGEST_SIZE]);
/* Digest of the whole file behind fd (read with pread from offset 0; the
 * file position is not used). */
int cfs_fsverity_digest_fd(int fd, uint8_t ret_digest[CFS_DIGEST_SIZE]);
/* Ask the kernel for the digest of an fs-verity file. -ENODATA when verity
 * is not enabled on it, -EOPNOTSUPP when the filesystem or kernel lacks it,
 * -EBADMSG when it uses another algorithm. */
int cfs_fsverity_measure_fd(int fd, uint8_t ret_digest[CFS_DIGEST_SIZE]);
/* Enable fs-verity (SHA-256, 4 KiB blocks) on fd, which must be open
 * read-only with no writer left. -EEXIST if already enabled. */
int cfs_fsverity_enable_fd(int fd);
/* The same four with an algorithm (CFS_HASH_DEFAULT: SHA-256): the digest
 * written is alg's size (ret_digest: CFS_DIGEST_MAX_SIZE bytes suffice);
 * -EOPNOTSUPP for an algorithm not implemented. measure gives -EBADMSG
 * when the file's fs-verity uses another algorithm. */
int cfs_fsverity_digest_buffer_alg(enum cfs_hash_alg alg, const void *data,
				   size_t len, uint8_t *ret_digest);
int cfs_fsverity_digest_fd_alg(enum cfs_hash_alg alg, int fd,
			       uint8_t *ret_digest);
int cfs_fsverity_measure_fd_alg(int fd, enum cfs_hash_alg alg,
				uint8_t *ret_digest);
int cfs_fsverity_enable_fd_alg(int fd, enum cfs_hash_alg alg);

/* fs-verity signatures (lib/format/verity-sig.c): PKCS#7 SignedData, DER,
 * over fs-verity's formatted digest ("FSVerity", the algorithm and the
 * digest size as little-endian 16-bit numbers, the digest), detached, no
 * signed attributes, no certificates inside: what `fsverity sign` writes
 * and the kernel's builtin signature check takes. The digest is as long
 * as alg's (SHA-256: 32 bytes, SHA-512: 64), whether or not the rest of
 * the library implements alg. */
#define CFS_VERITY_FORMATTED_MAX (12 + 64)
/* The formatted digest into ret_out: its length, or -EOPNOTSUPP for an
 * unknown alg. */
int cfs_verity_formatted_digest(enum cfs_hash_alg alg, const uint8_t *digest,
				uint8_t ret_out[CFS_VERITY_FORMATTED_MAX]);
/* Sign digest with the private key and certificate in the PEM files
 * key_path and cert_path: the signature (malloc'ed, DER) into *ret_sig and
 * its length into *ret_len. */
int cfs_verity_sign(enum cfs_hash_alg alg, const uint8_t *digest,
		    const char *key_path, const char *cert_path,
		    uint8_t **ret_sig, size_t *ret_len, struct cfs_error *err);
/* 0 when sig is a signature of digest by the key of one of the n_certs
 * certificates in the PEM files cert_paths (each trusted as it is, without
 * a chain or a validity period, as the kernel trusts its fs-verity
 * keyring); -EKEYREJECTED when it is not, -EBADMSG when sig is no PKCS#7
 * signature, another -errno when a certificate cannot be read. */
int cfs_verity_verify(enum cfs_hash_alg alg, const uint8_t *digest,
		      const uint8_t *sig, size_t sig_len,
		      const char *const *cert_paths, size_t n_certs,
		      struct cfs_error *err);

/* Lowercase hex, NUL-terminated. */
void cfs_digest_to_hex(const uint8_t digest[CFS_DIGEST_SIZE],
		       char ret_hex[CFS_DIGEST_HEX_SIZE]);
/* Parse exactly 64 hex digits; -EINVAL otherwise. */
int cfs_digest_from_hex(const char *hex, uint8_t ret_digest[CFS_DIGEST_SIZE]);
/* "ab/cdef...": the object path of a digest in a store. */
void cfs_digest_to_object_path(const uint8_t digest[CFS_DIGEST_SIZE],
			       char ret_path[CFS_OBJECT_PATH_SIZE]);
/* The same three for a digest of algorithm alg (SHA-512: 128 hex digits,
 * "ab/" and 126 more); ret_hex takes CFS_DIGEST_HEX_MAX_SIZE bytes,
 * ret_path CFS_OBJECT_PATH_MAX_SIZE. */
void cfs_digest_to_hex_alg(enum cfs_hash_alg alg, const uint8_t *digest,
			   char *ret_hex);
int cfs_digest_from_hex_alg(enum cfs_hash_alg alg, const char *hex,
			    uint8_t *ret_digest);
void cfs_digest_to_object_path_alg(enum cfs_hash_alg alg, const uint8_t *digest,
				   char *ret_path);
/* Parse a digest of either algorithm, told by its length (64 or 128 hex
 * digits): the algorithm into *ret_alg. -EINVAL for anything else. */
int cfs_digest_from_hex_any(const char *hex, enum cfs_hash_alg *ret_alg,
			    uint8_t *ret_digest);

/* ------------------------------------------------------------------ */
/* Files written whole or not at all (lib/base/tmpfile.c)
 *
 * The bytes go to an anonymous file (O_TMPFILE) in the target directory,
 * which a crash or kill -9 takes away with nothing left behind; once
 * complete (and, by the caller, made durable) it is linked in under its
 * name. Where the filesystem or the process cannot do that, a named
 * temporary ".tmp-<16 hex digits>" in the same directory stands in. */

/* ".tmp-" + 16 hex digits + NUL */
#define CFS_TMPFILE_NAME_SIZE 22

struct cfs_tmpfile {
	int fd;
	bool named; /* a named temporary, name, in its directory */
	char name[CFS_TMPFILE_NAME_SIZE];
};

/* A new empty file in dir_fd open read-write (mode 0600): anonymous where
 * the filesystem allows, else a named temporary. 0 or -errno. */
int cfs_tmpfile_create(int dir_fd, struct cfs_tmpfile *ret);
/* Swap the writable descriptor for a read-only one of the same file (as
 * fs-verity wants). */
int cfs_tmpfile_reopen_readonly(struct cfs_tmpfile *t, int dir_fd);
/* Give the file the name name in dir_fd (the directory it was created
 * in). Without replace an existing name is kept: returns 1. With replace
 * the name is switched over atomically. 0 once linked, or -errno. The
 * descriptor stays open either way. */
int cfs_tmpfile_link(struct cfs_tmpfile *t, int dir_fd, const char *name,
		     bool replace);
/* The same for a file created in src_dir_fd, to be named in dir_fd (on
 * the same filesystem). */
int cfs_tmpfile_link_from(struct cfs_tmpfile *t, int src_dir_fd, int dir_fd,
			  const char *name, bool replace);
/* Close the file; a named temporary is removed from dir_fd. */
void cfs_tmpfile_discard(struct cfs_tmpfile *t, int dir_fd);

/* ------------------------------------------------------------------ */
/* The object store (a directory of objects named by digest) */

struct cfs_store;

enum {
	/* Create the store directory if it is missing. */
	CFS_STORE_CREATE = 1 << 0,
	/* Batch durability: objects added wait under temporary names, not
	 * fsync'd one by one, until cfs_store_commit() flushes the filesystem
	 * once and renames them all into place. Much faster for many objects;
	 * objects not committed are discarded by cfs_store_free(). */
	CFS_STORE_BATCH = 1 << 1,
};
/* In the flags of cfs_store_open(): the enum cfs_hash_alg that names the
 * store's objects (0: SHA-256; SHA-512 objects have 128-hex names,
 * "ab/" and 126 digits). The digests cfs_store_add_fd() and
 * cfs_store_open_object() take are of that algorithm. */
#define CFS_STORE_HASH_ALG(alg) (((unsigned)(alg)&0xffu) << 8)

/* Open (or with CFS_STORE_CREATE, create) the store at path. A hash
 * algorithm not implemented is refused with -EOPNOTSUPP. */
int cfs_store_open(const char *path, unsigned flags,
		   struct cfs_store **ret_store, struct cfs_error *err);
/* NULL-safe; returns NULL. */
struct cfs_store *cfs_store_free(struct cfs_store *store);
/* Add the content of src_fd (whole file, read from offset 0) as the object
 * named by digest, which the caller computed. An object already present is
 * left alone. The object appears atomically (never half-written), fsync'd,
 * mode 0644, reflinked or copied in kernel where possible, with fs-verity
 * enabled where the filesystem supports it. Safe to call from several
 * threads at once. */
int cfs_store_add_fd(struct cfs_store *store, int src_fd, const uint8_t *digest,
		     struct cfs_error *err);
/* With CFS_STORE_BATCH: make every object added so far durable (one
 * syncfs), then visible under its name, then make the names durable.
 * Without it there is nothing to do and it returns 0. */
int cfs_store_commit(struct cfs_store *store, struct cfs_error *err);
/* Open the object (O_RDONLY|O_CLOEXEC); returns the fd or -errno. */
int cfs_store_open_object(struct cfs_store *store, const uint8_t *digest);

/* ------------------------------------------------------------------ */
/* Building a tree from a directory */

enum {
	CFS_BUILD_SKIP_XATTRS = 1 << 0, /* store no xattrs */
	CFS_BUILD_USER_XATTRS = 1 << 1, /* store only user.* xattrs */
	CFS_BUILD_USE_EPOCH = 1 << 2, /* all mtimes 0 */
	CFS_BUILD_SKIP_DEVICES = 1 << 3, /* leave out block/char devices */
	CFS_BUILD_HARDLINKS = 1 << 4, /* keep hard links as hard links */
	CFS_BUILD_NO_INLINE = 1 << 5, /* never store small files inline */
	CFS_BUILD_NO_DIGEST = 1 << 6, /* compute no digests */
};

/* Progress callback: done of total regular files processed. */
typedef void (*cfs_progress_fn)(void *userdata, uint64_t done, uint64_t total);

struct cfs_build_options {
	unsigned flags; /* CFS_BUILD_* */
	unsigned threads; /* digest workers; 0 = twice the processors (4-64) */
	struct cfs_store *store; /* when set, objects are added to it */
	cfs_progress_fn progress; /* may be NULL */
	void *progress_userdata;
	/* enum cfs_hash_alg of the files' digests; 0: the store's when
	 * there is one (another than the store's is refused), else
	 * SHA-256 */
	uint32_t hash_alg;
	void *reserved[3]; /* zero (see "Option structs" above) */
};

/* Scan the directory at path into a new tree: every file type, all xattrs,
 * nanosecond mtimes; regular files get their fs-verity digest and object
 * path, small ones their content inline. On failure err names the file. */
int cfs_build_from_directory(const char *path,
			     const struct cfs_build_options *opts,
			     struct cfs_node **ret_root, struct cfs_error *err);

/* ------------------------------------------------------------------ */
/* composefs-dump(5) text */

enum {
	/* The checks the reference applies with CFS_PARSE_STRICT=1: trailing
	 * newline required, no rdev on non-devices, symlink size must match. */
	CFS_DUMP_STRICT = 1 << 0,
};

/* Parse a dump into a tree. name is used in messages ("NAME:LINE: ..."). */
int cfs_dump_parse(FILE *in, const char *name, unsigned flags,
		   struct cfs_node **ret_root, struct cfs_error *err);
/* Parse a dump held in memory. */
int cfs_dump_parse_buffer(const char *data, size_t len, const char *name,
			  unsigned flags, struct cfs_node **ret_root,
			  struct cfs_error *err);
/* Print the tree as a dump. -EIO on a write error. */
int cfs_dump_print(const struct cfs_node *root, FILE *out);

/* ------------------------------------------------------------------ */
/* Writing an image */

struct cfs_write_options {
	uint32_t min_version; /* format version to write... */
	uint32_t max_version; /* ...raised up to this one when the tree needs it */
	/* enum cfs_hash_alg of the files' digests in the metacopy xattrs and
	 * of the image's digest; 0: SHA-256 */
	uint32_t hash_alg;
	uint32_t reserved[5]; /* zero (see "Option structs" above) */
};

/* Write the EROFS composefs image of root. The bytes go to fd when fd >= 0
 * (written sequentially with write(2)); the image's fs-verity digest goes to
 * ret_digest when it is not NULL (of opts->hash_alg: as long as its digests;
 * every file's digest must be of that algorithm too, -EINVAL otherwise). The tree itself is not changed except
 * that each node's xattrs end up sorted by name. */
int cfs_write_image(struct cfs_node *root, const struct cfs_write_options *opts,
		    int fd, uint8_t *ret_digest, struct cfs_error *err);

/* ------------------------------------------------------------------ */
/* Reading an image
 *
 * The one reader of composefs images. Every byte of an image is treated as
 * hostile: each offset, length, count and name is checked before use, and
 * a malformed image gives -EUCLEAN (or a more precise errno) with a message
 * saying what is wrong and where, never a read outside the image.
 */

struct cfs_image;

/* Open and validate (composefs header, EROFS superblock, root inode) the
 * image file at path; it is mapped read-only. */
int cfs_image_open(const char *path, struct cfs_image **ret_image,
		   struct cfs_error *err);
/* The same from an open file descriptor (not taken over). */
int cfs_image_open_fd(int fd, struct cfs_image **ret_image,
		      struct cfs_error *err);
/* The same over a caller's buffer, which must outlive the image. */
int cfs_image_open_buffer(const void *data, size_t size,
			  struct cfs_image **ret_image, struct cfs_error *err);
/* NULL-safe; returns NULL. */
struct cfs_image *cfs_image_free(struct cfs_image *image);

/* The composefs format version recorded in the image header. */
uint32_t cfs_image_get_version(const struct cfs_image *image);
/* nid of the root directory */
uint64_t cfs_image_get_root_nid(const struct cfs_image *image);

/* An inode as the image describes it. */
struct cfs_inode {
	uint64_t nid;
	uint32_t mode, nlink, uid, gid;
	uint32_t rdev; /* as the kernel encodes it: new_encode_dev() */
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t ino;
};

/* Decode inode nid. */
int cfs_image_get_inode(const struct cfs_image *image, uint64_t nid,
			struct cfs_inode *ret_inode, struct cfs_error *err);

/* Called for each directory entry, in name order ("." and ".." included);
 * a non-zero return stops the walk and is returned. */
typedef int (*cfs_dirent_fn)(void *userdata, const char *name, size_t len,
			     uint64_t nid, uint8_t file_type, uint64_t index);
/* Walk the entries of directory dir, starting at entry number start (for
 * resumable listings). */
int cfs_image_readdir(const struct cfs_image *image,
		      const struct cfs_inode *dir, uint64_t start,
		      cfs_dirent_fn fn, void *userdata, struct cfs_error *err);
/* Find name in directory dir (binary search over the sorted blocks);
 * -ENOENT when absent. */
int cfs_image_lookup(const struct cfs_image *image, const struct cfs_inode *dir,
		     const char *name, size_t len, uint64_t *ret_nid,
		     struct cfs_error *err);

/* Symlink target (not NUL-terminated; points into the image). */
int cfs_image_read_symlink(const struct cfs_image *image,
			   const struct cfs_inode *inode,
			   const char **ret_target, size_t *ret_len,
			   struct cfs_error *err);
/* Copy up to len bytes of an inline regular file from offset; returns the
 * number of bytes copied. -ENODATA for a file whose data is an object. */
ssize_t cfs_image_read_inline(const struct cfs_image *image,
			      const struct cfs_inode *inode, uint64_t offset,
			      void *buf, size_t len, struct cfs_error *err);

/* Called for each xattr with its full name (prefix included). */
typedef int (*cfs_xattr_fn)(void *userdata, const char *name, const void *value,
			    size_t len);
/* Walk the xattrs of an inode exactly as stored (overlay xattrs
 * included). */
int cfs_image_list_xattrs(const struct cfs_image *image,
			  const struct cfs_inode *inode, cfs_xattr_fn fn,
			  void *userdata, struct cfs_error *err);

/* What overlayfs makes of an inode's xattrs. */
struct cfs_overlay_info {
	char object[CFS_PAYLOAD_MAX + 1]; /* redirect target without the
					     leading '/', "" if none */
	bool has_digest;
	/* from the metacopy xattr: SHA-256 or SHA-512 (digest_alg) */
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	enum cfs_hash_alg digest_alg;
	bool metacopy; /* data lives in an object */
	bool whiteout; /* an escaped whiteout: overlayfs shows a 0:0 chardev */
	bool opaque;
};
int cfs_image_get_overlay_info(const struct cfs_image *image,
			       const struct cfs_inode *inode,
			       struct cfs_overlay_info *ret_info,
			       struct cfs_error *err);

/* The whole image as a node tree, such that writing that tree with the
 * image's version gives back the same bytes. Overlay xattrs become payload,
 * digest and whiteouts again; the root's 00..ff whiteouts are left out.
 * Directory loops, hard-link cycles, directories nested more than 2048
 * deep and files of more than 2^53 bytes (what a dump can hold) are
 * errors, -EUCLEAN. */
int cfs_image_to_tree(const struct cfs_image *image, struct cfs_node **ret_root,
		      struct cfs_error *err);

/* Drop every child of root whose name is not one of names (what
 * composefs-info --filter shows). */
int cfs_tree_keep_top(struct cfs_node *root, const char *const *names,
		      size_t n_names);
/* Reshape a tree read from an image as the reference implementation's
 * reader lists it: the first name of each hard-linked inode met in a
 * depth-first walk in name order is the file, the others links to it, and
 * devices, FIFOs and sockets have size 0. */
int cfs_tree_as_shown(struct cfs_node *root);

/* ------------------------------------------------------------------ */
/* The overlay view (lib/image/image-view.c)
 *
 * What the kernel mount (overlayfs over EROFS) shows of an image, for a
 * server in userspace that must show the same. */

/* The file type bits (S_IF*) of a directory entry's file type (the
 * file_type of cfs_dirent_fn), 0 for an unknown one. */
uint32_t cfs_dirent_type_to_mode(uint8_t file_type);
/* An inode's device number (cfs_inode.rdev, encoded as the kernel
 * stores it) as a dev_t. */
dev_t cfs_inode_get_rdev(const struct cfs_inode *inode);
/* Whether overlayfs hides the inode: a whiteout (a 0:0 character device),
 * as the 00..ff entries the writer puts in an image's root. */
bool cfs_inode_is_whiteout(const struct cfs_inode *inode);
/* Whether an entry of that file type may be a whiteout (its inode must
 * then be read to know). */
bool cfs_dirent_may_be_whiteout(uint8_t file_type);
/* Walk the xattrs of an inode as overlayfs shows them: its own
 * trusted.overlay.* hidden, the escaped trusted.overlay.overlay.* with one
 * level of escape taken off. */
int cfs_image_list_shown_xattrs(const struct cfs_image *image,
				const struct cfs_inode *inode, cfs_xattr_fn fn,
				void *userdata, struct cfs_error *err);

/* Whole images (lib/image/image-load.c)
 *
 * Read the whole image behind fd (a regular file or a block device, from
 * offset 0; opened by the caller, never blocking) into memory: the bytes
 * (malloc'd) to ret_data, their count to ret_size. When expected is not
 * NULL the fs-verity digest of those very bytes must be it: -EILSEQ
 * otherwise (the message gives both). The digest found goes to ret_found
 * when not NULL. name names the file in messages. */
int cfs_image_read_fd(int fd, const char *name, const uint8_t *expected,
		      uint8_t *ret_found, uint8_t **ret_data, size_t *ret_size,
		      struct cfs_error *err);
/* The same with the digests (expected, ret_found) of algorithm alg. */
int cfs_image_read_fd_alg(int fd, const char *name, enum cfs_hash_alg alg,
			  const uint8_t *expected, uint8_t *ret_found,
			  uint8_t **ret_data, size_t *ret_size,
			  struct cfs_error *err);
/* The same bytes opened as an image, which keeps them: nothing the file
 * undergoes later changes what the image reads. */
int cfs_image_load_fd(int fd, const char *name, const uint8_t *expected,
		      struct cfs_image **ret_image, struct cfs_error *err);

/* Walks over a whole image (lib/image/image-walk.c), breadth first from
 * the root, each directory entered once (an image whose directories loop
 * is walked to its end all the same).
 *
 * Called for each entry of each directory but "." and "..": dir_path is
 * the directory's path ("" for the root, else "/a/b"), name the entry's
 * name (len bytes, not NUL-terminated). A non-zero return stops the walk,
 * which returns it. */
typedef int (*cfs_walk_fn)(void *userdata, const char *dir_path,
			   const char *name, size_t len, uint64_t nid,
			   uint8_t file_type);
int cfs_image_walk(const struct cfs_image *image, cfs_walk_fn fn,
		   void *userdata, struct cfs_error *err);
/* The path of inode nid ("/a/b", the first name a walk finds) into out;
 * when no directory names it, "inode NID" and -ENOENT. */
int cfs_image_path_of(const struct cfs_image *image, uint64_t nid, char *out,
		      size_t size);

/* Which xattrs the image has at all, as the overlay view shows them. */
struct cfs_xattr_kinds {
	bool acl_any; /* some inode has a system.posix_acl_* */
	/* the names of the security.* xattrs found; security_any when there
	 * are more than the array holds (or the image could not be walked:
	 * then acl_any too) */
	bool security_any;
	size_t n_security_names;
	char *security_names[16];
};
/* Walk the whole image and fill ret (cfs_xattr_kinds_clear frees it). A
 * server answers a question about an xattr no file has "not supported",
 * which lets `ls -l` stop asking for it. */
void cfs_image_find_xattr_kinds(const struct cfs_image *image,
				struct cfs_xattr_kinds *ret);
void cfs_xattr_kinds_clear(struct cfs_xattr_kinds *kinds);

/* ------------------------------------------------------------------ */
/* Verified reads of objects
 *
 * What fs-verity gives in the kernel, in userspace: an object is only
 * served if its content matches the digest the image holds for it. */

enum cfs_verify {
	CFS_VERIFY_NONE, /* trust the store */
	CFS_VERIFY_OPEN, /* whole-file digest checked at every open */
	CFS_VERIFY_FULL, /* Merkle tree checked at first open (or taken from
			    the cache), then every block before it is read */
};

/* Merkle tree leaves of verified objects, by digest; thread-safe. */
struct cfs_object_cache;

/* A cache holding at most max_bytes of leaf hashes (each 4 KiB block of an
 * object takes 32 bytes, 64 with SHA-512); 0 picks a default. NULL on ENOMEM. */
struct cfs_object_cache *cfs_object_cache_new(size_t max_bytes);
/* NULL-safe; every object opened with it must be closed first. */
struct cfs_object_cache *cfs_object_cache_free(struct cfs_object_cache *cache);
/* Also keep trees in the directory at path (made if missing), so that
 * later processes skip reading a whole object at its first open. What is
 * read back from there is only used when the digest built from it is the
 * object's. */
int cfs_object_cache_set_dir(struct cfs_object_cache *cache, const char *path,
			     struct cfs_error *err);
/* The enum cfs_hash_alg of the digests of the objects opened with cache
 * (by default SHA-256): 0, or -EOPNOTSUPP for one not implemented. Before
 * the first object is opened. */
int cfs_object_cache_set_hash_alg(struct cfs_object_cache *cache,
				  enum cfs_hash_alg alg);

struct cfs_object;

/* Open the object at path (relative; it may not leave the directory, nor
 * go through a symlink) under the first of the basedir_fds that has it,
 * check it has size bytes, and verify it against digest as mode says.
 * -ENOENT when no basedir has it, -EIO when it does not match (size or
 * content, or a symlink, FIFO, device or directory where it should be),
 * -EACCES for a path that tries to leave the store. A NULL
 * digest is only accepted with CFS_VERIFY_NONE. */
int cfs_object_open(struct cfs_object_cache *cache, const int *basedir_fds,
		    size_t n_basedirs, const char *path, uint64_t size,
		    const uint8_t *digest, enum cfs_verify mode,
		    struct cfs_object **ret_object, struct cfs_error *err);
/* Read up to len bytes at offset; with CFS_VERIFY_FULL every block read is
 * checked first (-EIO and a message naming the block on a mismatch).
 * Returns the bytes read, fewer only at the end of the object. */
ssize_t cfs_object_pread(struct cfs_object *object, void *buf, size_t len,
			 uint64_t offset, struct cfs_error *err);
/* The object's file descriptor (owned by the object). */
int cfs_object_fd(const struct cfs_object *object);
/* The descriptor a server may have the kernel read from directly (splice)
 * when no check is due per read: the object was opened with
 * CFS_VERIFY_NONE, or CFS_VERIFY_OPEN, whose check was done at the open.
 * -1 with CFS_VERIFY_FULL: every read goes through cfs_object_pread(). */
int cfs_object_direct_fd(const struct cfs_object *object);
/* NULL-safe; returns NULL. */
struct cfs_object *cfs_object_close(struct cfs_object *object);

/* ------------------------------------------------------------------ */
/* Mounting (see lib/mount/mount.c)
 *
 * The kernel mount of an image, as root: the image as a read-only EROFS
 * filesystem (straight from the file where the kernel can, else through a
 * read-only, autoclearing loop device), overlayfs on top of it with the
 * object directories as data-only lower layers. The EROFS mount is left
 * attached nowhere (older kernels need it attached for a moment, to a
 * private temporary directory): unmounting the overlay releases it, and its
 * loop device, with it.
 */

enum {
	/* Every file must carry an fs-verity digest and the kernel checks it
	 * on open (overlayfs verity=require). Refused with -EOPNOTSUPP, and a
	 * message saying why, when the kernel or the filesystem of a basedir
	 * cannot enforce it. */
	CFS_MOUNT_VERITY = 1 << 0,
	/* As CFS_MOUNT_VERITY where the kernel and the basedirs' filesystems
	 * can enforce it; otherwise mount without. */
	CFS_MOUNT_TRY_VERITY = 1 << 1,
	/* A read-only mount, also over an upper directory. */
	CFS_MOUNT_READONLY = 1 << 2,
	/* Map the image's owners through the user namespace idmap_fd (an
	 * idmapped EROFS layer). Needs the new mount API. */
	CFS_MOUNT_IDMAP = 1 << 3,
	/* The usual mount flags, applied to the overlay. */
	CFS_MOUNT_NOSUID = 1 << 4,
	CFS_MOUNT_NODEV = 1 << 5,
	CFS_MOUNT_NOEXEC = 1 << 6,
	CFS_MOUNT_NOATIME = 1 << 7,
	/* Use mount(2) with an option string, as on kernels without the new
	 * mount API or overlayfs' lowerdir+/datadir+ (which is detected and
	 * falls back to this by itself); mainly for tests. */
	CFS_MOUNT_LEGACY_API = 1 << 8,
	/* A weaker digest check, for images stored without fs-verity: where
	 * the image file has no fs-verity, opts->digest is checked on a copy
	 * of it in a sealed memory file, and that very copy is mounted (the
	 * file cannot change between the check and the mount); the objects
	 * get CFS_MOUNT_TRY_VERITY instead of CFS_MOUNT_VERITY. */
	CFS_MOUNT_DIGEST_COPY = 1 << 9,
};

/* A signature the image's fs-verity digest must have (cfs_verity_verify):
 * so that a digest need not come from a trusted place. The digest checked
 * is the image's as the kernel measures it (an image without fs-verity is
 * refused, -ENOTTY), or with CFS_MOUNT_DIGEST_COPY the sealed copy's; with
 * opts->digest as well, both must hold. Like a digest, it implies
 * CFS_MOUNT_VERITY (with CFS_MOUNT_DIGEST_COPY: CFS_MOUNT_TRY_VERITY). A
 * refused signature is -EKEYREJECTED. */
struct cfs_mount_signature {
	const uint8_t *sig; /* PKCS#7, DER */
	size_t sig_len;
	const char *const *cert_paths; /* PEM files */
	size_t n_certs;
};

struct cfs_mount_options {
	/* Object directories (at least one), searched in this order. */
	const char *const *basedirs;
	size_t n_basedirs;
	/* When not NULL, hash_alg's digest size of bytes (CFS_DIGEST_SIZE
	 * for SHA-256, 64 for SHA-512): the fs-verity digest the
	 * image must have, as the kernel measures it. An image file without
	 * fs-verity is refused (-ENOTTY, "Image has no fs-verity"), and
	 * every object must have fs-verity too: a digest implies
	 * CFS_MOUNT_VERITY. With CFS_MOUNT_DIGEST_COPY the check is the
	 * weaker one described there. */
	const uint8_t *digest;
	/* Both or neither: a writable overlay whose changes go to upperdir. */
	const char *upperdir;
	const char *workdir;
	/* With CFS_MOUNT_IDMAP: an fd of a user namespace (not taken over). */
	int idmap_fd;
	unsigned flags; /* CFS_MOUNT_* */
	/* enum cfs_hash_alg of the image's digest (digest, signature); 0:
	 * SHA-256. The files' digests are checked by overlayfs with the
	 * algorithm their metacopy xattrs name. */
	uint32_t hash_alg;
	/* When not NULL: the image's digest must carry a valid signature by
	 * one of the trusted certificates (see struct cfs_mount_signature). */
	const struct cfs_mount_signature *signature;
	void *reserved[2]; /* zero (see "Option structs" above) */
};

/* Mount the composefs image at path image on the directory target. The
 * image is validated with the image reader first: a malformed one is refused
 * (-EUCLEAN or the reader's errno) before anything is mounted. On failure
 * everything already set up is undone and err says what failed. Errors
 * besides the kernel's: -EINVAL (bad options), -ENOTTY (a digest was given
 * and the image file has no fs-verity), -EILSEQ (the image's digest is not
 * opts->digest; the message gives both), -EOPNOTSUPP (CFS_MOUNT_VERITY, or
 * a digest, where fs-verity cannot be enforced). */
int cfs_mount_image(const char *image, const char *target,
		    const struct cfs_mount_options *opts,
		    struct cfs_error *err);
/* The same for an image open as fd (read from offset 0; not taken over). */
int cfs_mount_image_fd(int fd, const char *target,
		       const struct cfs_mount_options *opts,
		       struct cfs_error *err);
/* Whether the kernel can enforce fs-verity on files in the directory dir:
 * 0 when it can, -EOPNOTSUPP with a message naming what lacks it (the
 * kernel, or dir's filesystem), another -errno when dir cannot be opened. */
int cfs_mount_check_verity(const char *dir, struct cfs_error *err);

/* Library version string. */
const char *cfs_version(void);

#ifdef __cplusplus
}
#endif

#endif
