/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* The object store's helpers for the rest of the library. */
#ifndef CFS_STORE_I_H
#define CFS_STORE_I_H

#include "composefs.h"

/* The path the store was opened with. */
const char *cfsi_store_path(const struct cfs_store *store);

/* Enable fs-verity on the read-only fd where the filesystem has it (errors
 * that only say it has not are ignored) and check that the kernel's digest
 * is digest: -EBADMSG when not. */
int cfsi_enable_verity(int fd, const uint8_t digest[CFS_DIGEST_SIZE]);

#endif
