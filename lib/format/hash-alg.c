/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* fs-verity's hash algorithms (hash_alg_i.h). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "composefs-c/composefs.h"
#include "format/hash_alg_i.h"
#include "base/util.h"

/* Implemented ones, by fs-verity's numbers. */
static const struct cfsi_hash_alg algs[] = {
	{ CFS_HASH_SHA256, "sha256", 32, EVP_sha256 },
	{ CFS_HASH_SHA512, "sha512", 64, EVP_sha512 },
};

static const char *const known_names[] = {
	[CFS_HASH_SHA256] = "sha256",
	[CFS_HASH_SHA512] = "sha512",
};

const struct cfsi_hash_alg *cfsi_hash_alg_get(enum cfs_hash_alg id)
{
	if (id == CFS_HASH_DEFAULT)
		id = CFS_HASH_SHA256;
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
		if (algs[i].id == id)
			return &algs[i];
	return NULL;
}

int cfs_hash_alg_from_name(const char *name, enum cfs_hash_alg *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(known_names); i++) {
		if (known_names[i] == NULL || strcmp(known_names[i], name) != 0)
			continue;
		if (cfsi_hash_alg_get((enum cfs_hash_alg)i) == NULL)
			return -EOPNOTSUPP;
		*ret = (enum cfs_hash_alg)i;
		return 0;
	}
	return -EINVAL;
}

const char *cfs_hash_alg_name(enum cfs_hash_alg id)
{
	const struct cfsi_hash_alg *alg = cfsi_hash_alg_get(id);

	return alg ? alg->name : NULL;
}

size_t cfs_hash_alg_digest_size(enum cfs_hash_alg id)
{
	const struct cfsi_hash_alg *alg = cfsi_hash_alg_get(id);

	return alg ? alg->digest_size : 0;
}

int cfs_hash_alg_from_digest_size(size_t size, enum cfs_hash_alg *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
		if (algs[i].digest_size == size) {
			*ret = algs[i].id;
			return 0;
		}
	}
	return -EINVAL;
}
