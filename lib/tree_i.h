/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Reshaping a node tree for display (see tree-links.c). */
#ifndef CFS_TREE_I_H
#define CFS_TREE_I_H

#include "composefs.h"

/* Drop every child of root whose name is not one of names. */
int cfsi_tree_keep_top(struct cfs_node *root, const char *const *names,
		       size_t n_names);

/* The tree as the reference's reader shows it: the first name of each
 * hard-linked inode met in a depth-first walk in name order is the file,
 * the others links to it, and devices, fifos and sockets have size 0. */
int cfsi_tree_as_shown(struct cfs_node *root);

#endif
