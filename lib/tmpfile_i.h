/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Files written whole before they get their name (lib/tmpfile.c). */
#ifndef CFS_TMPFILE_I_H
#define CFS_TMPFILE_I_H

#include <stdbool.h>

/* Named temporaries (where an anonymous file cannot be used) start with
 * this; gc and fsck recognise them as leftovers of interrupted writes. */
#define CFSI_TMP_PREFIX ".tmp-"
/* ".tmp-" + 16 hex digits + NUL */
#define CFSI_TMP_NAME_SIZE (sizeof(CFSI_TMP_PREFIX) + 16)

struct cfsi_tmpfile {
	int fd;
	bool named; /* a named temporary, name, in its directory */
	char name[CFSI_TMP_NAME_SIZE];
};

/* A new empty file in dir_fd open read-write (mode 0600): anonymous where
 * the filesystem allows, else a named temporary. 0 or -errno. */
int cfsi_tmpfile_create(int dir_fd, struct cfsi_tmpfile *ret);
/* Swap the writable descriptor for a read-only one of the same file. */
int cfsi_tmpfile_reopen_readonly(struct cfsi_tmpfile *t, int dir_fd);
/* Give the file the name name in dir_fd (the directory it was created
 * in). Without replace an existing name is kept: returns 1. With replace
 * the name is switched over atomically. 0 once linked, or -errno. The
 * descriptor stays open either way. */
int cfsi_tmpfile_link(struct cfsi_tmpfile *t, int dir_fd, const char *name,
		      bool replace);
/* The same for a file created in src_dir_fd, to be named in dir_fd (on
 * the same filesystem). */
int cfsi_tmpfile_link_from(struct cfsi_tmpfile *t, int src_dir_fd, int dir_fd,
			   const char *name, bool replace);
/* Close the file; a named temporary is removed. */
void cfsi_tmpfile_discard(struct cfsi_tmpfile *t, int dir_fd);

/* A fresh random temporary name. */
void cfsi_tmpfile_make_name(char name[CFSI_TMP_NAME_SIZE]);
/* Whether name is one of those. */
bool cfsi_is_tmp_name(const char *name);

#endif
