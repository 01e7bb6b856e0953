/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* composefs-dump: an image as composefs-dump(5) text, or re-encoded. */
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

#include "composefs.h"

static const char *prog = "composefs-dump";

enum {
	OPT_IMAGE = 256,
	OPT_HELP,
	OPT_VERSION,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--image] IMAGE DUMPFILE\n"
		"Write the composefs image IMAGE as composefs-dump(5) text to\n"
		"DUMPFILE (- for standard output). Writing that text back with\n"
		"`mkcomposefs --from-file` gives an image identical to IMAGE.\n"
		"\n"
		"Options:\n"
		"  --image     write a new image instead of text: IMAGE read and\n"
		"              written again with its own format version (what the\n"
		"              reference implementation's composefs-dump does)\n"
		"  --help      show this help\n"
		"  --version   show the version\n",
		prog);
}

static void bad_usage(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
	exit(2);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILURE;
}

/* The output: a temporary file beside the destination, renamed over it
 * once complete; a destination that is a device or a pipe (or stdout) is
 * written in place. */
struct output {
	char *path; /* the final name, NULL when writing in place */
	char *tmp_path;
	int fd;
};

static int output_open(struct output *o, const char *dest)
{
	const char *slash;
	struct stat st;

	*o = (struct output){ .fd = -1 };
	if (strcmp(dest, "-") == 0) {
		o->fd = STDOUT_FILENO;
		return 0;
	}
	if (stat(dest, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		o->fd = open(dest, O_WRONLY | O_CLOEXEC);
		return o->fd < 0 ? -errno : 0;
	}
	/* an existing file is replaced where it is, also behind a symlink */
	o->path = realpath(dest, NULL);
	if (o->path == NULL)
		o->path = strdup(dest);
	if (o->path == NULL)
		return -ENOMEM;
	slash = strrchr(o->path, '/');
	if (asprintf(&o->tmp_path, "%.*s.%s.XXXXXX",
		     slash ? (int)(slash - o->path + 1) : 0, o->path,
		     slash ? slash + 1 : o->path) < 0) {
		o->tmp_path = NULL;
		return -ENOMEM;
	}
	o->fd = mkostemp(o->tmp_path, O_CLOEXEC);
	return o->fd < 0 ? -errno : 0;
}

static void output_abort(struct output *o)
{
	if (o->tmp_path != NULL && o->fd >= 0)
		(void)unlink(o->tmp_path);
	if (o->fd > STDOUT_FILENO)
		close(o->fd);
	free(o->tmp_path);
	free(o->path);
	*o = (struct output){ .fd = -1 };
}

static int output_commit(struct output *o)
{
	mode_t mask = umask(0);
	int r = 0;

	umask(mask);
	if (o->tmp_path == NULL) {
		if (o->fd > STDOUT_FILENO && close(o->fd) < 0)
			r = -errno;
		o->fd = -1;
		output_abort(o);
		return r;
	}
	/* mkostemp makes 0600; the result is as readable as any new file */
	if (fchmod(o->fd, 0666 & ~mask) < 0 || fsync(o->fd) < 0 ||
	    rename(o->tmp_path, o->path) < 0) {
		r = -errno;
		output_abort(o);
		return r;
	}
	if (close(o->fd) < 0)
		r = -errno;
	o->fd = -1;
	output_abort(o);
	return r;
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
	if (fclose(f) != 0 && r == 0)
		r = -EIO;
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "image", no_argument, NULL, OPT_IMAGE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct cfs_error err = { { 0 } };
	struct cfs_image *image = NULL;
	struct cfs_node *root = NULL;
	struct output out;
	const char *src, *dest;
	bool as_image = false;
	uint32_t version;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_IMAGE:
			as_image = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("%s (composefs-c) %s\n", prog, cfs_version());
			return 0;
		default:
			fprintf(stderr,
				"Try '%s --help' for more information.\n",
				prog);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		bad_usage("no image given");
	if (argc < 2)
		bad_usage("no destination given");
	if (argc > 2)
		bad_usage("too many arguments");
	src = argv[0];
	dest = argv[1];
	if (as_image && strcmp(dest, "-") == 0 && isatty(STDOUT_FILENO))
		return fail("refusing to write an image to a terminal");

	r = cfs_image_open(src, &image, &err);
	if (r < 0)
		return fail("%s", err.message);
	version = cfs_image_get_version(image);
	r = cfs_image_to_tree(image, &root, &err);
	cfs_image_free(image);
	if (r < 0)
		return fail("%s: %s", src, err.message);

	r = output_open(&out, dest);
	if (r < 0) {
		output_abort(&out);
		cfs_node_unref(root);
		return fail("cannot create '%s': %s", dest, strerror(-r));
	}
	if (as_image) {
		struct cfs_write_options opts = { version, version };

		r = cfs_write_image(root, &opts, out.fd, NULL, &err);
		if (r < 0) {
			output_abort(&out);
			cfs_node_unref(root);
			return fail("cannot write image '%s': %s", dest,
				    err.message[0] ? err.message :
						     strerror(-r));
		}
	} else {
		r = write_text(root, out.fd);
		if (r < 0) {
			output_abort(&out);
			cfs_node_unref(root);
			return fail("cannot write '%s': %s", dest,
				    strerror(-r));
		}
	}
	cfs_node_unref(root);
	r = output_commit(&out);
	if (r < 0)
		return fail("cannot write '%s': %s", dest, strerror(-r));
	return 0;
}
