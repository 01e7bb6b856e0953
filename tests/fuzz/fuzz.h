/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* What a fuzz target provides: libFuzzer's entry point, also called by the
 * replay driver (replay.c) for each file of a corpus; and how a target
 * (or the image walker it shares with test-hostile) reports a finding. */
#ifndef CFS_FUZZ_H
#define CFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A broken promise of the code under test: crash loudly, so that the
 * fuzzer keeps the input and the sanitizers print a stack. */
#define require(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: broken promise: %s\n",         \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
