/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * composefs-fuse -o shared: rootless mounts that share the page cache.
 *
 * One object server per mount namespace and object store serves the store's
 * objects, each block verified against the object's name; every image mount
 * is an unprivileged overlayfs of the image's metadata (served by its own
 * small server, with the overlay xattrs as user.overlay.*) over that one
 * object mount, as its data-only layer.
 */
#ifndef FUSE_SHARED_H
#define FUSE_SHARED_H

#include <stdbool.h>

#include "composefs-c/composefs.h"

struct shared_objects {
	char *mountpoint; /* where the object server is mounted */
	char *dir; /* the runtime directory holding it */
	int lock_fd; /* held until the image's overlay is mounted */
};

/*
 * Find the object server of objects_dir in this mount namespace, or start
 * one (a daemon) when there is none or the one found is dead (its mount is
 * detached), and take the lock that keeps it from exiting until
 * shared_objects_release(). verify: how objects are checked; treecache: a
 * directory of Merkle trees, or NULL. 0, or 1 with a message printed.
 */
int shared_objects_acquire(const char *objects_dir, const char *treecache,
			   enum cfs_verify verify, struct shared_objects *ret);
void shared_objects_release(struct shared_objects *o);

/* A fresh private directory for an image's metadata mount (malloc'd), or
 * NULL with a message printed. */
char *shared_meta_dir(const struct shared_objects *o);

/*
 * Mount overlayfs read-only on target: meta_dir's tree, its files' contents
 * from the object mount. The caller then detaches meta_dir's mount, so that
 * the metadata server ends with the overlay, and removes the directory. 0,
 * or 1 with a message printed.
 */
int shared_stack(const struct shared_objects *o, const char *meta_dir,
		 const char *target);

#endif
