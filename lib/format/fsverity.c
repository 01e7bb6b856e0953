/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * fs-verity digests: the Merkle tree the kernel builds over a file (SHA-256
 * or SHA-512, 4096-byte blocks, no salt), computed in userspace, plus the
 * ioctls that ask the kernel for it and the hex / object-path forms of a
 * digest.
 */
#include "config.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fsverity.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "composefs-c/composefs.h"
#include "format/fsverity_i.h"
#include "format/hash_alg_i.h"
#include "format/sha256_i.h"
#include "base/util.h"

#define FSV_BLOCK_SIZE 4096
#define FSV_LOG_BLOCK_SIZE 12
/* the largest hash (SHA-512); SHA-256's is half of it */
#define FSV_HASH_MAX CFS_DIGEST_MAX_SIZE
/*
 * Level 0 holds data blocks, level i > 0 the hashes of level i - 1. A 2^64
 * byte file has 2^52 data blocks; each level divides by 128 (2^7) with
 * SHA-256, by 64 (2^6) with SHA-512, so at most nine hash levels reach a
 * single block. One more is spare.
 */
#define FSV_LEVELS 11
/* Reads of digest_fd: large enough that syscalls cost nothing next to the
 * hashing, small enough to stay in L2. */
#define FSV_READ_CHUNK (256 * 1024)

/* The descriptor whose SHA-256 is the fs-verity digest comes from the UAPI
 * header; its size is part of every digest ever computed. */
_Static_assert(sizeof(struct fsverity_descriptor) == 256,
	       "fs-verity descriptor must be 256 bytes");

struct fsverity_level {
	uint8_t block[FSV_BLOCK_SIZE];
	size_t fill; /* bytes pending in block */
	uint64_t n_blocks; /* blocks of this level hashed so far */
};

struct cfs_fsverity {
	EVP_MD_CTX *md_ctx;
	const EVP_MD *md;
	enum cfs_hash_alg alg; /* never CFS_HASH_DEFAULT */
	size_t hash_size; /* of alg */
	size_t hashes_per_block;
	uint64_t data_size;
	bool finalized;
	struct fsverity_level level[FSV_LEVELS];
	/* optional copy of the data blocks' hashes (the tree's leaves) */
	uint8_t *leaves;
	uint64_t max_leaves;
	/* -errno once hashing failed (memory ran out): the digest is lost */
	int error;
};

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_fetched, *sha512_fetched;

/* Fetching an EVP_MD is a provider lookup under a lock; do it once for the
 * process and reuse it for every block of every file. */
static void md_fetch(void)
{
	sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
	sha512_fetched = EVP_MD_fetch(NULL, "SHA512", NULL);
}

static const EVP_MD *alg_md(enum cfs_hash_alg alg)
{
	(void)pthread_once(&md_once, md_fetch);
	if (alg == CFS_HASH_SHA512)
		return sha512_fetched != NULL ? sha512_fetched : EVP_sha512();
	return sha256_fetched != NULL ? sha256_fetched : EVP_sha256();
}

/* The implemented algorithm of alg (CFS_HASH_DEFAULT: SHA-256), or 0. */
static enum cfs_hash_alg alg_resolve(enum cfs_hash_alg alg)
{
	const struct cfsi_hash_alg *a = cfsi_hash_alg_get(alg);

	return a != NULL ? a->id : 0;
}

static size_t alg_hash_size(enum cfs_hash_alg alg)
{
	return alg == CFS_HASH_SHA512 ? 64 : 32;
}

/* With SHA-256 or SHA-512 from OpenSSL's default provider these calls only
 * fail when memory runs out: -ENOMEM then. */
static int md_hash(EVP_MD_CTX *md_ctx, const EVP_MD *md, const void *data,
		   size_t len, uint8_t *out)
{
	if (EVP_DigestInit_ex2(md_ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(md_ctx, data, len) != 1 ||
	    EVP_DigestFinal_ex(md_ctx, out, NULL) != 1)
		return -ENOMEM;
	return 0;
}

static int ctx_hash(struct cfs_fsverity *ctx, const void *data, size_t len,
		    uint8_t *out)
{
	return md_hash(ctx->md_ctx, ctx->md, data, len, out);
}

/* The hash of the next block of level lvl joins the pending block of the
 * level above, which is hashed in turn when it fills up. */
static void push_hash(struct cfs_fsverity *ctx, unsigned lvl,
		      const uint8_t *hash)
{
	uint8_t up_hash[FSV_HASH_MAX];

	for (;;) {
		struct fsverity_level *up = &ctx->level[lvl + 1];

		assert(lvl + 1 < FSV_LEVELS);
		if (lvl == 0 && ctx->leaves != NULL &&
		    ctx->level[0].n_blocks < ctx->max_leaves)
			memcpy(ctx->leaves +
				       ctx->level[0].n_blocks * ctx->hash_size,
			       hash, ctx->hash_size);
		ctx->level[lvl].n_blocks++;
		memcpy(up->block + up->fill, hash, ctx->hash_size);
		up->fill += ctx->hash_size;
		if (up->fill < FSV_BLOCK_SIZE)
			return;
		/*
		 * Hashing a full block at once is right even if it turns out
		 * to be the top one: the root hash is that block's hash.
		 */
		up->fill = 0;
		ctx->error = ctx_hash(ctx, up->block, FSV_BLOCK_SIZE, up_hash);
		if (ctx->error < 0)
			return;
		hash = up_hash;
		lvl++;
	}
}

/* Hash one full block of level lvl into the level above. */
static void hash_block(struct cfs_fsverity *ctx, unsigned lvl,
		       const uint8_t *block)
{
	uint8_t hash[FSV_HASH_MAX];

	if (ctx->error < 0)
		return;
	ctx->error = ctx_hash(ctx, block, FSV_BLOCK_SIZE, hash);
	if (ctx->error == 0)
		push_hash(ctx, lvl, hash);
}

struct cfs_fsverity *cfs_fsverity_new_alg(enum cfs_hash_alg alg)
{
	struct cfs_fsverity *ctx;

	alg = alg_resolve(alg);
	if (alg == 0) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return NULL;
	ctx->md_ctx = EVP_MD_CTX_new();
	if (ctx->md_ctx == NULL) {
		free(ctx);
		errno = ENOMEM;
		return NULL;
	}
	ctx->alg = alg;
	ctx->md = alg_md(alg);
	ctx->hash_size = alg_hash_size(alg);
	ctx->hashes_per_block = FSV_BLOCK_SIZE / ctx->hash_size;
	return ctx;
}

struct cfs_fsverity *cfs_fsverity_new(void)
{
	return cfs_fsverity_new_alg(CFS_HASH_SHA256);
}

struct cfs_fsverity *cfs_fsverity_free(struct cfs_fsverity *ctx)
{
	if (ctx != NULL) {
		EVP_MD_CTX_free(ctx->md_ctx);
		free(ctx);
	}
	return NULL;
}

int cfs_fsverity_update(struct cfs_fsverity *ctx, const void *data, size_t len)
{
	struct fsverity_level *data_level = &ctx->level[0];
	const uint8_t *p = data;

	assert(!ctx->finalized);
	ctx->data_size += len;

	if (data_level->fill > 0) {
		size_t n = FSV_BLOCK_SIZE - data_level->fill;

		if (n > len)
			n = len;
		memcpy(data_level->block + data_level->fill, p, n);
		data_level->fill += n;
		p += n;
		len -= n;
		if (data_level->fill < FSV_BLOCK_SIZE)
			return ctx->error;
		data_level->fill = 0;
		hash_block(ctx, 0, data_level->block);
	}
	/* Whole blocks are hashed straight from the caller's buffer, two at
	 * once where the CPU can. */
	if (ctx->alg == CFS_HASH_SHA256 && cfsi_sha256_4k_lanes() == 2) {
		while (len >= 2 * FSV_BLOCK_SIZE && ctx->error == 0) {
			const uint8_t *const b[2] = { p, p + FSV_BLOCK_SIZE };
			uint8_t hashes[2][32];

			cfsi_sha256_4k_x2(b, hashes);
			push_hash(ctx, 0, hashes[0]);
			if (ctx->error == 0)
				push_hash(ctx, 0, hashes[1]);
			p += 2 * FSV_BLOCK_SIZE;
			len -= 2 * FSV_BLOCK_SIZE;
		}
	}
	while (len >= FSV_BLOCK_SIZE) {
		hash_block(ctx, 0, p);
		p += FSV_BLOCK_SIZE;
		len -= FSV_BLOCK_SIZE;
	}
	if (len > 0) {
		memcpy(data_level->block, p, len);
		data_level->fill = len;
	}
	return ctx->error;
}

/*
 * count more blocks of level lvl, each of whose hash is hash. The blocks of
 * the level above that they fill whole are all the same block, so each
 * level costs one SHA-256 and at most two partial blocks of single hashes:
 * time in the tree's height, not in count.
 */
static void push_hash_run(struct cfs_fsverity *ctx, unsigned lvl,
			  const uint8_t *hash, uint64_t count)
{
	uint8_t run_hash[FSV_HASH_MAX], up_hash[FSV_HASH_MAX];

	memcpy(run_hash, hash, ctx->hash_size);
	while (count > 0 && ctx->error == 0) {
		struct fsverity_level *up = &ctx->level[lvl + 1];
		uint64_t whole;

		assert(lvl + 1 < FSV_LEVELS);
		/* single hashes until the block above starts afresh */
		while (count > 0 && up->fill > 0 && ctx->error == 0) {
			push_hash(ctx, lvl, run_hash);
			count--;
		}
		if (count < ctx->hashes_per_block) {
			while (count > 0 && ctx->error == 0) {
				push_hash(ctx, lvl, run_hash);
				count--;
			}
			return;
		}
		whole = count / ctx->hashes_per_block;
		if (lvl == 0 && ctx->leaves != NULL) {
			uint64_t first = ctx->level[0].n_blocks;

			for (uint64_t i = first;
			     i < ctx->max_leaves &&
			     i - first < whole * ctx->hashes_per_block;
			     i++)
				memcpy(ctx->leaves + i * ctx->hash_size,
				       run_hash, ctx->hash_size);
		}
		for (size_t i = 0; i < ctx->hashes_per_block; i++)
			memcpy(up->block + i * ctx->hash_size, run_hash,
			       ctx->hash_size);
		ctx->error = ctx_hash(ctx, up->block, FSV_BLOCK_SIZE, up_hash);
		if (ctx->error < 0)
			return;
		ctx->level[lvl].n_blocks += whole * ctx->hashes_per_block;
		/* the whole blocks go up as a run of their own, before the
		 * rest of this run starts the next block above */
		push_hash_run(ctx, lvl + 1, up_hash, whole);
		count -= whole * ctx->hashes_per_block;
	}
}

int cfsi_fsverity_update_zeros(struct cfs_fsverity *ctx, uint64_t len)
{
	struct fsverity_level *data_level = &ctx->level[0];
	uint8_t hash[FSV_HASH_MAX];

	assert(!ctx->finalized);
	if (len > UINT64_MAX - ctx->data_size)
		return ctx->error = -EFBIG;
	ctx->data_size += len;
	if (data_level->fill > 0) {
		size_t n = FSV_BLOCK_SIZE - data_level->fill;

		if (n > len)
			n = (size_t)len;
		memset(data_level->block + data_level->fill, 0, n);
		data_level->fill += n;
		len -= n;
		if (data_level->fill < FSV_BLOCK_SIZE)
			return ctx->error;
		data_level->fill = 0;
		hash_block(ctx, 0, data_level->block);
	}
	if (len >= FSV_BLOCK_SIZE && ctx->error == 0) {
		memset(data_level->block, 0, FSV_BLOCK_SIZE);
		ctx->error = ctx_hash(ctx, data_level->block, FSV_BLOCK_SIZE,
				      hash);
		if (ctx->error == 0)
			push_hash_run(ctx, 0, hash, len / FSV_BLOCK_SIZE);
	}
	len %= FSV_BLOCK_SIZE;
	if (len > 0) {
		memset(data_level->block, 0, len);
		data_level->fill = len;
	}
	return ctx->error;
}

int cfs_fsverity_final(struct cfs_fsverity *ctx, uint8_t *ret_digest)
{
	struct fsverity_descriptor desc = {
		.version = 1,
		.hash_algorithm = (uint8_t)ctx->alg,
		.log_blocksize = FSV_LOG_BLOCK_SIZE,
		.data_size = htole64(ctx->data_size),
	};

	assert(!ctx->finalized);
	ctx->finalized = true;

	/*
	 * Flush partial blocks (zero-padded) from the bottom up until a level
	 * has exactly one block: its hash, waiting alone in the level above,
	 * is the root. An empty file has no blocks and an all-zero root.
	 */
	for (unsigned lvl = 0; lvl + 1 < FSV_LEVELS; lvl++) {
		struct fsverity_level *l = &ctx->level[lvl];

		if (l->fill > 0) {
			memset(l->block + l->fill, 0, FSV_BLOCK_SIZE - l->fill);
			l->fill = 0;
			hash_block(ctx, lvl, l->block);
		}
		if (l->n_blocks == 0)
			break;
		if (l->n_blocks == 1) {
			memcpy(desc.root_hash, ctx->level[lvl + 1].block,
			       ctx->hash_size);
			break;
		}
	}

	if (ctx->error < 0)
		return ctx->error;
	return ctx_hash(ctx, &desc, sizeof(desc), ret_digest);
}

int cfs_fsverity_digest_buffer_alg(enum cfs_hash_alg alg, const void *data,
				   size_t len, uint8_t *ret_digest)
{
	struct cfs_fsverity *ctx = cfs_fsverity_new_alg(alg);
	int r;

	if (ctx == NULL)
		return -errno;
	r = cfs_fsverity_update(ctx, data, len);
	if (r == 0)
		r = cfs_fsverity_final(ctx, ret_digest);
	cfs_fsverity_free(ctx);
	return r;
}

/*
 * From off, the next run of data of fd: the hole before it is fed to ctx as
 * zeros and *ret_off, *ret_end are the run's bounds (both the file's size
 * when only a hole is left). -errno when fd cannot tell holes (then nothing
 * is fed and the caller reads it all).
 */
static int next_data(int fd, off_t off, off_t *ret_off, off_t *ret_end,
		     struct cfs_fsverity *ctx)
{
	off_t data = lseek(fd, off, SEEK_DATA), end;
	struct stat st;

	if (data < 0) {
		if (errno != ENXIO)
			return -errno;
		/* nothing but a hole up to the end; at the end (as far as
		 * st_size says: procfs files say 0) the reads tell */
		if (fstat(fd, &st) != 0)
			return -errno;
		if (st.st_size <= off)
			return -ENXIO;
		data = end = st.st_size;
	} else {
		end = lseek(fd, data, SEEK_HOLE);
		if (end < 0)
			return -errno;
	}
	if (data > off)
		(void)cfsi_fsverity_update_zeros(ctx, (uint64_t)(data - off));
	*ret_off = data;
	*ret_end = end > data ? end : data;
	return 0;
}

int cfs_fsverity_digest_buffer(const void *data, size_t len,
			       uint8_t ret_digest[CFS_DIGEST_SIZE])
{
	return cfs_fsverity_digest_buffer_alg(CFS_HASH_SHA256, data, len,
					      ret_digest);
}

int cfs_fsverity_digest_fd_alg(enum cfs_hash_alg alg, int fd,
			       uint8_t *ret_digest)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct cfs_fsverity *ctx;
	off_t off = 0, data_end = 0, saved_pos;
	bool seek_holes = true;
	int r;

	ctx = cfs_fsverity_new_alg(alg);
	if (ctx == NULL)
		return -errno;
	buf = malloc(FSV_READ_CHUNK);
	if (buf == NULL) {
		cfs_fsverity_free(ctx);
		return -ENOMEM;
	}

	/* Only a hint: some files (pipes, procfs) refuse it. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* looking for holes moves the file position: put back at the end */
	saved_pos = lseek(fd, 0, SEEK_CUR);

	for (;;) {
		size_t want = FSV_READ_CHUNK;
		ssize_t n;

		/* A sparse file's holes are hashed without reading them, so
		 * that its digest costs time in its data, not its size. */
		if (off >= data_end && seek_holes) {
			r = next_data(fd, off, &off, &data_end, ctx);
			if (r < 0)
				seek_holes = false;
			if (ctx->error < 0)
				break; /* final() reports it */
		}
		if (seek_holes && (uint64_t)(data_end - off) < want)
			want = (size_t)(data_end - off);
		n = pread(fd, buf, want, off);

		if (n < 0) {
			r = -errno;
			if (r == -EINTR)
				continue;
			cfs_fsverity_free(ctx);
			if (saved_pos >= 0)
				(void)lseek(fd, saved_pos, SEEK_SET);
			return r;
		}
		if (n == 0)
			break;
		if (cfs_fsverity_update(ctx, buf, n) < 0)
			break; /* final() reports it */
		off += n;
	}

	r = cfs_fsverity_final(ctx, ret_digest);
	cfs_fsverity_free(ctx);
	if (saved_pos >= 0)
		(void)lseek(fd, saved_pos, SEEK_SET);
	return r;
}

int cfs_fsverity_digest_fd(int fd, uint8_t ret_digest[CFS_DIGEST_SIZE])
{
	return cfs_fsverity_digest_fd_alg(CFS_HASH_SHA256, fd, ret_digest);
}

int cfs_fsverity_measure_fd_alg(int fd, enum cfs_hash_alg alg,
				uint8_t *ret_digest)
{
	union {
		struct fsverity_digest d;
		/* room for the largest digest the kernel knows (SHA-512) */
		uint8_t space[sizeof(struct fsverity_digest) + 64];
	} u = { .d.digest_size = 64 };

	alg = alg_resolve(alg);
	if (alg == 0)
		return -EOPNOTSUPP;
	if (ioctl(fd, FS_IOC_MEASURE_VERITY, &u) != 0) {
		switch (errno) {
		case ENODATA:
			return -ENODATA;
		case EOPNOTSUPP:
		case ENOTTY:
			return -EOPNOTSUPP;
		case EOVERFLOW:
			/* a digest longer than any SHA-512 one */
			return -EBADMSG;
		default:
			return -errno;
		}
	}
	if (u.d.digest_algorithm != alg ||
	    u.d.digest_size != alg_hash_size(alg))
		return -EBADMSG;
	memcpy(ret_digest, u.d.digest, u.d.digest_size);
	return 0;
}

int cfs_fsverity_measure_fd(int fd, uint8_t ret_digest[CFS_DIGEST_SIZE])
{
	return cfs_fsverity_measure_fd_alg(fd, CFS_HASH_SHA256, ret_digest);
}

int cfs_fsverity_enable_fd_alg(int fd, enum cfs_hash_alg alg)
{
	struct fsverity_enable_arg arg = {
		.version = 1,
		.block_size = FSV_BLOCK_SIZE,
	};

	alg = alg_resolve(alg);
	if (alg == 0)
		return -EOPNOTSUPP;
	arg.hash_algorithm = alg;
	if (ioctl(fd, FS_IOC_ENABLE_VERITY, &arg) != 0) {
		if (errno == ENOTTY || errno == EOPNOTSUPP)
			return -EOPNOTSUPP;
		return -errno;
	}
	return 0;
}

int cfs_fsverity_enable_fd(int fd)
{
	return cfs_fsverity_enable_fd_alg(fd, CFS_HASH_SHA256);
}

static void to_hex(const uint8_t *digest, size_t size, char *ret_hex)
{
	static const char hexdigits[] = "0123456789abcdef";

	for (size_t i = 0; i < size; i++) {
		ret_hex[2 * i] = hexdigits[digest[i] >> 4];
		ret_hex[2 * i + 1] = hexdigits[digest[i] & 0xf];
	}
	ret_hex[2 * size] = '\0';
}

static int from_hex(const char *hex, size_t size, uint8_t *ret_digest)
{
	uint8_t digest[CFS_DIGEST_MAX_SIZE];

	if (hex == NULL || strnlen(hex, 2 * size + 1) != 2 * size)
		return -EINVAL;
	for (size_t i = 0; i < size; i++) {
		int hi = hex_value(hex[2 * i]);
		int lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		digest[i] = (uint8_t)(hi << 4 | lo);
	}
	/* only written on success */
	memcpy(ret_digest, digest, size);
	return 0;
}

static void to_object_path(const uint8_t *digest, size_t size, char *ret_path)
{
	char hex[CFS_DIGEST_HEX_MAX_SIZE];

	to_hex(digest, size, hex);
	ret_path[0] = hex[0];
	ret_path[1] = hex[1];
	ret_path[2] = '/';
	memcpy(ret_path + 3, hex + 2, 2 * size - 2 + 1);
}

void cfs_digest_to_hex(const uint8_t digest[CFS_DIGEST_SIZE],
		       char ret_hex[CFS_DIGEST_HEX_SIZE])
{
	to_hex(digest, CFS_DIGEST_SIZE, ret_hex);
}

int cfs_digest_from_hex(const char *hex, uint8_t ret_digest[CFS_DIGEST_SIZE])
{
	return from_hex(hex, CFS_DIGEST_SIZE, ret_digest);
}

void cfs_digest_to_object_path(const uint8_t digest[CFS_DIGEST_SIZE],
			       char ret_path[CFS_OBJECT_PATH_SIZE])
{
	to_object_path(digest, CFS_DIGEST_SIZE, ret_path);
}

void cfs_digest_to_hex_alg(enum cfs_hash_alg alg, const uint8_t *digest,
			   char *ret_hex)
{
	to_hex(digest, alg_hash_size(alg), ret_hex);
}

int cfs_digest_from_hex_alg(enum cfs_hash_alg alg, const char *hex,
			    uint8_t *ret_digest)
{
	if (alg_resolve(alg) == 0)
		return -EOPNOTSUPP;
	return from_hex(hex, alg_hash_size(alg), ret_digest);
}

int cfs_digest_from_hex_any(const char *hex, enum cfs_hash_alg *ret_alg,
			    uint8_t *ret_digest)
{
	size_t len = hex != NULL ? strnlen(hex, 2 * CFS_DIGEST_MAX_SIZE + 1) :
				   0;
	enum cfs_hash_alg alg;
	int r;

	if (len == 2 * 32)
		alg = CFS_HASH_SHA256;
	else if (len == 2 * 64)
		alg = CFS_HASH_SHA512;
	else
		return -EINVAL;
	r = from_hex(hex, len / 2, ret_digest);
	if (r == 0)
		*ret_alg = alg;
	return r;
}

void cfs_digest_to_object_path_alg(enum cfs_hash_alg alg, const uint8_t *digest,
				   char *ret_path)
{
	to_object_path(digest, alg_hash_size(alg), ret_path);
}

void cfsi_fsverity_collect_leaves(struct cfs_fsverity *ctx, uint8_t *leaves,
				  uint64_t max_leaves)
{
	ctx->leaves = leaves;
	ctx->max_leaves = max_leaves;
}

/* One EVP context per thread for block checks: readers verify blocks from
 * many threads at once. */
static pthread_key_t block_ctx_key;
static pthread_once_t block_ctx_once = PTHREAD_ONCE_INIT;

static void block_ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static int block_ctx_error;

static void block_ctx_init(void)
{
	if (pthread_key_create(&block_ctx_key, block_ctx_free) != 0)
		block_ctx_error = -EAGAIN;
}

int cfsi_fsverity_hash_block(enum cfs_hash_alg alg, const void *data,
			     size_t len, uint8_t *ret_hash)
{
	EVP_MD_CTX *md_ctx;
	uint8_t block[FSV_BLOCK_SIZE];

	alg = alg_resolve(alg);
	if (len > FSV_BLOCK_SIZE || alg == 0)
		return -EINVAL;
	(void)pthread_once(&block_ctx_once, block_ctx_init);
	if (block_ctx_error < 0)
		return block_ctx_error;
	md_ctx = pthread_getspecific(block_ctx_key);
	if (md_ctx == NULL) {
		md_ctx = EVP_MD_CTX_new();
		if (md_ctx == NULL)
			return -ENOMEM;
		(void)pthread_setspecific(block_ctx_key, md_ctx);
	}
	/* the last block of a file is hashed zero-padded */
	if (len < FSV_BLOCK_SIZE) {
		memcpy(block, data, len);
		memset(block + len, 0, FSV_BLOCK_SIZE - len);
		data = block;
	}
	return md_hash(md_ctx, alg_md(alg), data, FSV_BLOCK_SIZE, ret_hash);
}

int cfsi_fsverity_hash_blocks(enum cfs_hash_alg alg, const void *data,
			      size_t len, uint8_t *ret_hashes)
{
	const uint8_t *p = data;
	size_t hash_size;

	alg = alg_resolve(alg);
	if (alg == 0)
		return -EINVAL;
	hash_size = alg_hash_size(alg);
	if (alg == CFS_HASH_SHA256 && cfsi_sha256_4k_lanes() == 2) {
		while (len >= 2 * FSV_BLOCK_SIZE) {
			const uint8_t *const b[2] = { p, p + FSV_BLOCK_SIZE };

			cfsi_sha256_4k_x2(b, (uint8_t(*)[32])ret_hashes);
			p += 2 * FSV_BLOCK_SIZE;
			len -= 2 * FSV_BLOCK_SIZE;
			ret_hashes += 2 * hash_size;
		}
	}
	while (len > 0) {
		size_t n = len < FSV_BLOCK_SIZE ? len : FSV_BLOCK_SIZE;
		int r = cfsi_fsverity_hash_block(alg, p, n, ret_hashes);

		if (r < 0)
			return r;
		p += n;
		len -= n;
		ret_hashes += hash_size;
	}
	return 0;
}

int cfsi_fsverity_digest_from_leaves(enum cfs_hash_alg alg,
				     const uint8_t *leaves, uint64_t n_leaves,
				     uint64_t data_size, uint8_t *ret_digest)
{
	struct fsverity_descriptor desc = {
		.version = 1,
		.log_blocksize = FSV_LOG_BLOCK_SIZE,
		.data_size = htole64(data_size),
	};
	_cleanup_free_ uint8_t *level = NULL;
	const uint8_t *hashes = leaves;
	uint64_t n = n_leaves;
	size_t hash_size, per_block;
	EVP_MD_CTX *md_ctx;
	int r = 0;

	alg = alg_resolve(alg);
	if (alg == 0 || n_leaves != DIV_ROUND_UP(data_size, FSV_BLOCK_SIZE))
		return -EINVAL;
	desc.hash_algorithm = (uint8_t)alg;
	hash_size = alg_hash_size(alg);
	per_block = FSV_BLOCK_SIZE / hash_size;
	md_ctx = EVP_MD_CTX_new();
	if (md_ctx == NULL)
		return -ENOMEM;
	/* Each level packs the hashes below it into blocks (the last one
	 * zero-padded) and hashes those, until a single hash remains: the
	 * root. One data block: its hash is the root; none: all zeros. */
	while (n > 1 && r == 0) {
		uint64_t blocks = DIV_ROUND_UP(n, per_block);
		uint8_t *next = malloc(blocks * hash_size);

		if (next == NULL) {
			EVP_MD_CTX_free(md_ctx);
			return -ENOMEM;
		}
		/* the hashes of a level, packed, are its blocks */
		r = cfsi_fsverity_hash_blocks(alg, hashes, n * hash_size, next);
		free(level);
		level = next;
		hashes = level;
		n = blocks;
	}
	if (r == 0 && n == 1)
		memcpy(desc.root_hash, hashes, hash_size);
	if (r == 0)
		r = md_hash(md_ctx, alg_md(alg), &desc, sizeof(desc),
			    ret_digest);
	EVP_MD_CTX_free(md_ctx);
	return r;
}
