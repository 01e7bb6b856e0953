/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* fs-verity internals for the verified object reader. */
#ifndef CFS_FSVERITY_I_H
#define CFS_FSVERITY_I_H

#include "composefs-c/composefs.h"

/* Also copy the hash of each data block (the Merkle tree's leaves: the
 * context's hash size each) into leaves, up to max_leaves of them, as data is fed. Call before the first
 * update. */
void cfsi_fsverity_collect_leaves(struct cfs_fsverity *ctx, uint8_t *leaves,
				  uint64_t max_leaves);

/* Feed len zero bytes (a file's hole) to ctx, as cfs_fsverity_update() of
 * that many zeros would, in time proportional to the Merkle tree's height
 * rather than to len. Returns 0, or -errno once hashing failed (-EFBIG
 * when the total passes 2^64 - 1 bytes). */
int cfsi_fsverity_update_zeros(struct cfs_fsverity *ctx, uint64_t len);

/* The leaf hash of one data block of len <= 4096 bytes (zero-padded as
 * fs-verity does for a file's last block). Thread-safe. */
int cfsi_fsverity_hash_block(enum cfs_hash_alg alg, const void *data,
			     size_t len, uint8_t *ret_hash);

/* The leaf hashes of the blocks of the len bytes at data, one per 4096
 * bytes, of alg's size, (the last block zero-padded when short) into ret_hashes: two
 * blocks at once where the CPU can. Thread-safe. */
int cfsi_fsverity_hash_blocks(enum cfs_hash_alg alg, const void *data,
			      size_t len, uint8_t *ret_hashes);

/* The fs-verity digest of data_size bytes whose data block hashes are
 * leaves (n_leaves of them, one per 4 KiB block, of alg's size): the upper levels of the
 * Merkle tree are built from them. */
int cfsi_fsverity_digest_from_leaves(enum cfs_hash_alg alg,
				     const uint8_t *leaves, uint64_t n_leaves,
				     uint64_t data_size, uint8_t *ret_digest);

#endif
