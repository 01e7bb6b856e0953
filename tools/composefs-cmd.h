/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* What the composefs command's files share. */
#ifndef CFS_COMPOSEFS_CMD_H
#define CFS_COMPOSEFS_CMD_H

#include <getopt.h>
#include <stdio.h>

#include "composefs-c/repo.h"

/* The repository chosen by --repo or the defaults, opened with flags
 * (CFS_REPO_*), saying so when it has to wait; dies on failure. */
struct cfs_repo *open_repo(unsigned flags);
/* getopt_long over a command's arguments, with --help and errors handled
 * through sub_usage. */
int sub_getopt(int argc, char **argv, const char *shortopts,
	       const struct option *longopts, void (*sub_usage)(FILE *));

int cmd_mount(int argc, char **argv);
int cmd_import_tar(int argc, char **argv);
int cmd_oci(int argc, char **argv);

#endif
