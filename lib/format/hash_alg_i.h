/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The fs-verity hash algorithms as the library knows them: the one place a
 * second algorithm is added (its number, name, digest size and OpenSSL
 * digest), which every part that names, writes or checks a digest asks
 * instead of assuming one.
 */
#ifndef CFS_FORMAT_HASH_ALG_I_H
#define CFS_FORMAT_HASH_ALG_I_H

#include <openssl/evp.h>
#include <stddef.h>

#include "composefs-c/composefs.h"

struct cfsi_hash_alg {
	enum cfs_hash_alg id; /* fs-verity's FS_VERITY_HASH_ALG_* number */
	const char *name; /* fsverity-utils' name: "sha256" */
	size_t digest_size; /* bytes */
	const EVP_MD *(*md)(void);
};

/* The algorithm id (CFS_HASH_DEFAULT: SHA-256); NULL when this library
 * does not implement it. */
const struct cfsi_hash_alg *cfsi_hash_alg_get(enum cfs_hash_alg id);

#endif
