/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* composefs-dump: an image re-encoded, or as composefs-dump(5) text. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "composefs-c/composefs.h"
#include "tool.h"

enum {
	OPT_IMAGE = TOOL_OPT_FIRST,
	OPT_TEXT,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--text] IMAGE DEST\n"
		"Read the composefs image IMAGE and write it again, with its own\n"
		"format version, to DEST (- for standard output): the same bytes\n"
		"for an image any composefs writer made.\n"
		"\n"
		"Options:\n"
		"  --text      write composefs-dump(5) text instead (as\n"
		"              `composefs-info dump` does); `mkcomposefs --from-file`\n"
		"              makes an image identical to IMAGE from it\n"
		"  --image     write an image (the default)\n"
		"  --help      show this help\n"
		"  --version   show the version\n",
		tool_name);
}

static int write_text(struct cfs_node *root, int fd)
{
	int copy = dup(fd), r;
	FILE *f;

	if (copy < 0)
		return -errno;
	f = fdopen(copy, "w");
	if (f == NULL) {
		r = -errno;
		close(copy);
		return r;
	}
	r = cfs_dump_print(root, f);
	errno = 0;
	if (fclose(f) != 0 && r == 0)
		r = errno > 0 ? -errno : -EIO;
	return r;
}

/* The algorithm of the first file digest of the tree (the image's: its
 * writer refuses to mix), 0 when it has none. */
static enum cfs_hash_alg tree_digest_alg(const struct cfs_node *node)
{
	enum cfs_hash_alg alg = cfs_node_get_digest_alg(node);

	for (size_t i = 0; alg == 0 && i < cfs_node_get_n_children(node); i++)
		alg = tree_digest_alg(cfs_node_get_child(node, i));
	return alg;
}

/* Static: the exit handler that removes it may run after main returns. */
static struct tool_output out = { .fd = -1, .dir_fd = -1 };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "image", no_argument, NULL, OPT_IMAGE },
		{ "text", no_argument, NULL, OPT_TEXT },
		TOOL_LONGOPTS,
	};
	struct cfs_error err = { { 0 } };
	struct cfs_image *image = NULL;
	struct cfs_node *root = NULL;
	const char *src, *dest;
	bool as_image = true;
	uint32_t version;
	int opt, r;

	tool_init("composefs-dump");
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_IMAGE:
			as_image = true;
			break;
		case OPT_TEXT:
			as_image = false;
			break;
		default:
			tool_common_option(opt, usage);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		tool_bad_usage("no image given");
	if (argc < 2)
		tool_bad_usage("no destination given");
	if (argc > 2)
		tool_bad_usage("too many arguments");
	src = argv[0];
	dest = argv[1];
	if (as_image && strcmp(dest, "-") == 0 && isatty(STDOUT_FILENO))
		return tool_fail("refusing to write an image to a terminal");

	r = cfs_image_open(src, &image, &err);
	if (r < 0)
		return tool_fail("%s", err.message);
	version = cfs_image_get_version(image);
	r = cfs_image_to_tree(image, &root, &err);
	cfs_image_free(image);
	if (r < 0)
		return tool_fail("%s: %s", src, err.message);

	r = tool_output_open(&out, dest);
	if (r < 0) {
		tool_output_abort(&out);
		cfs_node_unref(root);
		return tool_fail("cannot create '%s': %s", dest, strerror(-r));
	}
	if (as_image) {
		/* written with the algorithm of its digests, SHA-256 or
		 * SHA-512 */
		struct cfs_write_options opts = { version, version,
						  tree_digest_alg(root) };

		r = cfs_write_image(root, &opts, out.fd, NULL, &err);
		if (r < 0) {
			tool_output_abort(&out);
			cfs_node_unref(root);
			return tool_fail("cannot write image '%s': %s", dest,
					 err.message[0] ? err.message :
							  strerror(-r));
		}
	} else {
		r = write_text(root, out.fd);
		if (r < 0) {
			tool_output_abort(&out);
			cfs_node_unref(root);
			return tool_fail("cannot write '%s': %s", dest,
					 strerror(-r));
		}
	}
	cfs_node_unref(root);
	r = tool_output_commit(&out);
	if (r < 0)
		return tool_fail("cannot write '%s': %s", dest, strerror(-r));
	return 0;
}
