/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* What the unit tests share: building node trees, writing images to memory.
 * Failures end the running cmocka test. */
#ifndef CFS_TEST_UTIL_H
#define CFS_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "composefs-c/composefs.h"

/* A new node of MODE with mtime 1700000000.0, added to PARENT as NAME
 * unless PARENT is NULL (a root). The reference stays with the parent. */
struct cfs_node *tu_add(struct cfs_node *parent, const char *name,
			uint32_t mode);

/* The image of ROOT at format VERSION, in a malloc'd buffer of exactly its
 * size (so that AddressSanitizer sees the first byte past it). */
void tu_write_image(struct cfs_node *root, uint32_t version, uint8_t **data,
		    size_t *size);

/* LEN bytes of a pattern that SEED determines. */
void tu_fill(uint8_t *buf, size_t len, unsigned seed);

/* A new directory $TMPDIR/NAME-XXXXXX (/tmp without TMPDIR) in buf; 0 or
 * -1 (for a cmocka group setup). */
int tu_make_tmpdir(char *buf, size_t size, const char *name);
/* Remove path and everything under it; 0 or -1. */
int tu_remove_tree(const char *path);

#endif
