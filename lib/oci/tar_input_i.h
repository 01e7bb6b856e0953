/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* The input side of a tar import (lib/oci/tar-input.c), for the layer
 * reader (lib/oci/layer-read.c). */
#ifndef CFS_OCI_TAR_INPUT_I_H
#define CFS_OCI_TAR_INPUT_I_H

#include <archive.h>
#include <stdint.h>

#include "oci/import_i.h"

struct cfsi_tar_input;

/* Start reading the fd (name names it in messages) on a thread of its
 * own: 0 or -errno. */
int cfsi_tar_input_open(int fd, const char *name,
			struct cfsi_tar_input **ret_in);
/* libarchive's read callback for the tar parser (userdata: the input):
 * the uncompressed bytes, slot by slot. */
la_ssize_t cfsi_tar_input_read(struct archive *a, void *userdata,
			       const void **ret_buf);
/* Bytes read from the fd so far. */
uint64_t cfsi_tar_input_bytes(const struct cfsi_tar_input *in);
/* After the parser's end: the rest of the stream (the tar's padding)
 * read, the blob's and the tar's digests and sizes into res. */
int cfsi_tar_input_finish(struct cfsi_tar_input *in,
			  struct cfsi_tar_result *res, struct cfs_error *err);
/* Stop the input side and free it (NULL-safe); the parser reading from it
 * must be freed first. */
void cfsi_tar_input_close(struct cfsi_tar_input *in);

#endif
