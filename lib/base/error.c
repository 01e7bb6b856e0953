/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "composefs-c/composefs.h"

int cfs_error_set(struct cfs_error *err, int errnum, const char *fmt, ...)
{
	if (err != NULL) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return errnum;
}

const char *cfs_version(void)
{
	return CFS_VERSION;
}
