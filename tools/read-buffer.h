/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * A read buffer per FUSE worker thread, kept between requests: reads come in
 * a steady stream of the same size, and a fresh allocation of that size is a
 * fresh mapping whose pages all fault in again. Freed when the thread ends.
 */
#ifndef READ_BUFFER_H
#define READ_BUFFER_H

#include <stddef.h>

/* This thread's buffer, grown to at least size bytes; NULL when out of
 * memory. */
char *read_buffer(size_t size);

#endif
