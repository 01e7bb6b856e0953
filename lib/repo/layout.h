/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The repository's layout on disk, its one owner: every name a repository
 * directory holds is defined here, and every other file asks this one
 * (lib/repo/ and lib/oci/ through these names, the tools through the
 * functions of <composefs-c/repo.h>):
 *
 *   DIR/composefs-repository   the marker: "composefs-repository FORMAT\n",
 *                              written last by init
 *   DIR/lock                   the lock file (flock(2): shared by adders
 *                              and readers, exclusive for gc and repair)
 *   DIR/objects/ab/cdef...     the object store (cfs_store), a basedir as is
 *   DIR/images/HEX             images, named by their fs-verity digest
 *   DIR/names/NAME             one line: the HEX of the image NAME names
 *   DIR/layers/DIFFHEX         one line: the HEX of the image holding the
 *                              layer tree of the layer of that diff_id
 *   DIR/layer-blobs/BLOBHEX    one line: "DIFFHEX SIZE", the layer a
 *                              (compressed) blob holds and the blob's size
 *                              in bytes (older records: "DIFFHEX" alone)
 *   DIR/oci/NAME               JSON: the manifest, config and diff_ids of
 *                              the OCI image NAME was imported from
 *   DIR/pull/XXXXXX/           OCI layouts a pull fills (skopeo) and import
 *                              empties; gc removes what is left
 *   DIR/mounts/MNTID           a mount `composefs mount` made (MNTID: its
 *                              mount ID): "HEX\nMNTID MAJ:MIN mnt:[NS]
 *                              FSTYPE\nMOUNTPOINT\n"; gc keeps the image HEX while
 *                              that mount exists and removes the record
 *                              once it is gone (lib/repo/mounts.c)
 *   DIR/quarantine/            where fsck --repair moves what is broken
 *   DIR/trees/HEX              the Merkle tree leaves (one hash a block)
 *                              of the object of digest HEX, as composefs
 *                              mount --fuse verified it (composefs-fuse's
 *                              treecache=, which checks a tree against
 *                              the digest before using it); a cache: gc
 *                              removes the trees of objects it removes,
 *                              and temporaries (".HEX.N") left an hour
 *
 * objects, images and names are made by init; the others when first
 * needed (older repositories lack them).
 */
#ifndef CFS_REPO_LAYOUT_H
#define CFS_REPO_LAYOUT_H

#define LAYOUT_MARKER "composefs-repository"
/* the format the marker names; another is refused */
#define LAYOUT_FORMAT 1
#define LAYOUT_LOCK "lock"
#define LAYOUT_OBJECTS "objects"
#define LAYOUT_IMAGES "images"
#define LAYOUT_NAMES "names"
#define LAYOUT_LAYERS "layers"
#define LAYOUT_LAYER_BLOBS "layer-blobs"
#define LAYOUT_OCI "oci"
#define LAYOUT_PULL "pull"
#define LAYOUT_MOUNTS "mounts"
#define LAYOUT_QUARANTINE "quarantine"
#define LAYOUT_TREES "trees"
/* a temporary tree file younger than this may still be being written
 * (composefs-fuse holds no lock) */
#define LAYOUT_TREES_TMP_GRACE_S 3600

#endif
