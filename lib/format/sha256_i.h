/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* SHA-256 of several 4096-byte blocks at once, where the CPU can. */
#ifndef CFS_SHA256_I_H
#define CFS_SHA256_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How many 4096-byte blocks cfsi_sha256_4k_x2 hashes at once on this
 * machine (2), or 0 when it cannot (no SHA extensions, not x86-64, or
 * cfsi_sha256_force_generic): the caller then hashes one at a time. */
size_t cfsi_sha256_4k_lanes(void);

/* out[i] = SHA-256 of the 4096 bytes at blocks[i], for i < 2. Only when
 * cfsi_sha256_4k_lanes() is not 0. Thread-safe. */
void cfsi_sha256_4k_x2(const uint8_t *const blocks[2], uint8_t (*out)[32]);

/* Tests: hash one block at a time with OpenSSL even where lanes exist. */
void cfsi_sha256_force_generic(bool force);

#endif
