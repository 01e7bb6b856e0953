/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Exercising every part of the image reader on one (maybe hostile) image;
 * shared by the hostile-image test and the image fuzz target. */
#ifndef CFS_TESTS_WALK_IMAGE_H
#define CFS_TESTS_WALK_IMAGE_H

#include <stddef.h>
#include <stdio.h>

#include "composefs-c/composefs.h"

struct walk_result {
	int open_error; /* cfs_image_open_buffer(); the rest only if 0 */
	int walk_error; /* first error met while walking, 0 if none */
	int tree_error; /* cfs_image_to_tree() */
	int write_error; /* writing the tree again */
	size_t entries; /* directory entries visited */
	struct cfs_error open_err, walk_err, tree_err;
};

/* Open the image in data (which must stay unchanged meanwhile), walk every
 * directory (depth and entry count bounded: a hostile image may loop),
 * look up each name, read each symlink, inline file, xattr list and
 * overlay info, then turn it into a tree, print it as a dump and parse
 * that back, reshape it as composefs-info does and print it to out (only
 * when out is not NULL), and write it as an image again with the image's
 * version. Calls abort() when the reader breaks one
 * of its promises (an -EUCLEAN without a message, a listing out of order,
 * more bytes than asked for...), so that a fuzzer notices. */
void walk_image(const void *data, size_t size, FILE *out,
		struct walk_result *res);

#endif
