/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Fuzz target: any bytes as a composefs image. Open, walk every directory,
 * look up every name, read symlinks, inline data, xattrs and overlay info,
 * turn it into a tree, print that as a dump and parse it back, reshape it
 * as composefs-info does and print it again, write it as an image again
 * (walk-image.c). Crashes, sanitizer reports and broken promises of the
 * reader (abort()) are findings.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../walk-image.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct walk_result res;

	if (devnull == NULL) {
		devnull = fopen("/dev/null", "we");
		if (devnull == NULL)
			abort();
	}
	walk_image(data, size, devnull, &res);
	return 0;
}
