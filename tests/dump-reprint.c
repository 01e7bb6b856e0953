/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* dump-reprint [--strict] [FILE]: parse a composefs dump and print it again,
 * the library's own canonical form of it (tests compare against this). */
#include <stdio.h>
#include <string.h>

#include "composefs-c/composefs.h"

int main(int argc, char **argv)
{
	struct cfs_error err = { { 0 } };
	struct cfs_node *root = NULL;
	unsigned flags = 0;
	FILE *in = stdin;
	int i = 1, r;

	if (i < argc && strcmp(argv[i], "--strict") == 0) {
		flags |= CFS_DUMP_STRICT;
		i++;
	}
	if (i < argc && strcmp(argv[i], "-") != 0) {
		in = fopen(argv[i], "re");
		if (in == NULL) {
			perror(argv[i]);
			return 1;
		}
	}
	r = cfs_dump_parse(in, i < argc ? argv[i] : "<stdin>", flags, &root,
			   &err);
	if (in != stdin)
		fclose(in);
	if (r < 0) {
		fprintf(stderr, "dump-reprint: %s\n", err.message);
		return 1;
	}
	r = cfs_dump_print(root, stdout);
	cfs_node_unref(root);
	return r < 0 ? 1 : 0;
}
