/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Seals of OCI images (seal.c), shared with the imports (import.c): the
 * composefs digest of an image carried in its config and manifest, in the
 * forms composefs-rs reads and its sealing specification writes, with
 * optional fs-verity signatures.
 */
#ifndef CFS_OCI_SEAL_I_H
#define CFS_OCI_SEAL_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "composefs-c/repo.h"

struct json_object;

/* composefs-rs's config label (config.Labels) holding the digest. */
#define CFSI_SEAL_LABEL "containers.composefs.fsverity"
/* The sealing specification's annotation keys: these prefixes, then the
 * algorithm ("fsverity-sha256-12"); a signature's key adds ".sig". */
#define CFSI_SEAL_MERGED "composefs.merged.erofs.v1."
#define CFSI_SEAL_CONFIG "composefs.config."
#define CFSI_SEAL_PREFIX "composefs."
#define CFSI_SEAL_SIG ".sig"

/* What the import has of an OCI image, for the seal check. */
struct cfsi_seal_input {
	const char *layout; /* names the image in messages */
	const char *manifest_digest; /* "sha256:HEX" */
	struct json_object *manifest, *config;
	const char *config_text; /* the config blob's bytes */
	size_t config_len;
	enum cfs_hash_alg alg; /* the repository's */
	bool require_sealed;
	const char *const *certs; /* trusted certificates (PEM files) */
	size_t n_certs;
};

/* What the check found, for the repository's record. */
struct cfsi_seal_found {
	bool sealed;
	char *signature; /* the merged image's signature (base64), or NULL */
};

/* Check the seal of in's image, if any, against digest, the digest of the
 * image computed from its layers: 0 when there is none (and none is
 * required) or it holds; -EILSEQ when a digest sealed is not the one
 * computed (or no digest sealed is of in->alg: it cannot be checked),
 * -EKEYREJECTED when trusted certificates are given and the seal has no
 * valid signature by one of them, -ENOKEY when a seal is required and the
 * image has none, -EINVAL for a malformed seal. ret->signature is
 * malloc'd: free ret with cfsi_seal_found_free(), after a failure too. */
int cfsi_seal_check(const struct cfsi_seal_input *in, const uint8_t *digest,
		    struct cfsi_seal_found *ret, struct cfs_error *err);
void cfsi_seal_found_free(struct cfsi_seal_found *f);

/* "fsverity-sha256-12": the algorithm's name in seals, into buf; -EOPNOTSUPP
 * for one not implemented. */
int cfsi_seal_alg_name(enum cfs_hash_alg alg, char buf[32]);

/* An OCI image of a layout computed as cfs_repo_import_oci() computes it
 * (layers reused from and kept in the repository, the transform), not
 * named: what sealing it needs. */
struct cfsi_oci_computed {
	struct json_object *manifest, *config; /* owned */
	char *config_text; /* the config blob's bytes (malloc'd) */
	size_t config_len;
	char manifest_digest[80];
	enum cfs_hash_alg alg;
	uint8_t digest[CFS_DIGEST_MAX_SIZE]; /* of the composefs image */
};
int cfsi_oci_compute(struct cfs_repo *repo, const char *layout, const char *tag,
		     const struct cfs_import_options *opts,
		     struct cfsi_oci_computed *ret, struct cfs_error *err);
void cfsi_oci_computed_free(struct cfsi_oci_computed *c);

/* base64 (standard alphabet, padded, no line breaks) of len bytes, and
 * back: NULL / -EINVAL for text that is not that. */
char *cfsi_base64_encode(const uint8_t *data, size_t len);
int cfsi_base64_decode(const char *text, uint8_t **ret, size_t *ret_len);

#endif
