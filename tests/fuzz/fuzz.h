/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* What a fuzz target provides: libFuzzer's entry point, also called by the
 * replay driver (replay.c) for each file of a corpus. */
#ifndef CFS_FUZZ_H
#define CFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
