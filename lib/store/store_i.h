/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* The object store's helpers for the rest of the library. */
#ifndef CFS_STORE_I_H
#define CFS_STORE_I_H

#include <stdbool.h>
#include <stddef.h>

#include "composefs-c/composefs.h"

/* The hash algorithm that names the store's objects (the digests the
 * functions below take are of its size). */
struct cfsi_hash_alg;
const struct cfsi_hash_alg *cfsi_store_hash_alg(const struct cfs_store *store);

/* The path the store was opened with. */
const char *cfsi_store_path(const struct cfs_store *store);

/* Enable fs-verity on the read-only fd where the filesystem has it (errors
 * that only say it has not are ignored) and check that the kernel's digest
 * is digest: -EBADMSG when not. */
int cfsi_enable_verity(int fd, enum cfs_hash_alg alg, const uint8_t *digest);

/*
 * An object written while its digest is computed, so that one read of the
 * source feeds both: begin, write its bytes, then finish under the digest
 * they turned out to have. Its bytes go to an anonymous file of the store,
 * which finish names (or drops, when the store has the object already:
 * bytes that never reached the disk). finish and abort free o.
 */
struct cfsi_store_object;
int cfsi_store_object_begin(struct cfs_store *store,
			    struct cfsi_store_object **ret,
			    struct cfs_error *err);
int cfsi_store_object_write(struct cfsi_store_object *o, const void *data,
			    size_t len);
/* len bytes of zeros, as a hole where the filesystem has them */
int cfsi_store_object_hole(struct cfsi_store_object *o, uint64_t len);
/* 0 when this object went in, 1 when the store had it already, -errno */
int cfsi_store_object_finish(struct cfs_store *store,
			     struct cfsi_store_object *o, const uint8_t *digest,
			     struct cfs_error *err);
void cfsi_store_object_abort(struct cfs_store *store,
			     struct cfsi_store_object *o);

/* Whether the store has the object digest of size bytes (in place, or
 * staged in a batch). */
bool cfsi_store_has(struct cfs_store *store, const uint8_t *digest,
		    uint64_t size);

#endif
