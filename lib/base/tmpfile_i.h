/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Files written whole before they get their name (lib/base/tmpfile.c). */
#ifndef CFS_TMPFILE_I_H
#define CFS_TMPFILE_I_H

#include <stdbool.h>

#include "composefs-c/composefs.h"

/* Named temporaries (where an anonymous file cannot be used) start with
 * this; gc and fsck recognise them as leftovers of interrupted writes. */
#define CFSI_TMP_PREFIX ".tmp-"
#define CFSI_TMP_NAME_SIZE CFS_TMPFILE_NAME_SIZE

/* A fresh random temporary name. */
void cfsi_tmpfile_make_name(char name[CFSI_TMP_NAME_SIZE]);
/* Whether name is one of those. */
bool cfsi_is_tmp_name(const char *name);

#endif
