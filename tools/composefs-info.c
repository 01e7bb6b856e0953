/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* composefs-info: list, dump and inspect composefs images. */
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
	OPT_BASEDIR = TOOL_OPT_FIRST,
	OPT_FILTER,
	OPT_HASH_ALG,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [OPTIONS] COMMAND IMAGE...\n"
		"       %s measure-file FILE...\n"
		"Inspect composefs images.\n"
		"\n"
		"Commands:\n"
		"  ls               list every path, with symlink targets and the\n"
		"                   object each file's content lives in\n"
		"  dump             print each image as composefs-dump(5) text\n"
		"  objects          list the objects the images use, sorted, once\n"
		"  missing-objects  list the objects found under no --basedir\n"
		"  measure-file     print the fs-verity digest of each FILE\n"
		"                   (of --hash-alg)\n"
		"\n"
		"Options:\n"
		"  --basedir=DIR    an object directory (may be repeated)\n"
		"  --filter=NAME    only the top-level entry NAME (may be repeated)\n"
		"  --hash-alg=ALG   measure-file's algorithm: sha256 (default)\n"
		"                   or sha512\n"
		"  --help           show this help\n"
		"  --version        show the version\n",
		tool_name, tool_name);
}

/* ------------------------------------------------------------------ */
/* Loading */

struct options {
	const char **basedirs;
	size_t n_basedirs;
	const char **filters;
	size_t n_filters;
};

static struct cfs_node *load_tree(const char *path, const struct options *o)
{
	struct cfs_error err = { { 0 } };
	struct cfs_image *image = NULL;
	struct cfs_node *root = NULL;
	int r;

	r = cfs_image_open(path, &image, &err);
	if (r < 0)
		tool_die("%s", err.message);
	r = cfs_image_to_tree(image, &root, &err);
	cfs_image_free(image);
	if (r < 0)
		tool_die("%s: %s", path, err.message);
	if (o->n_filters > 0) {
		r = cfs_tree_keep_top(root, o->filters, o->n_filters);
	}
	/* Show the tree as the reference does (see tree-links.c). */
	if (r == 0)
		r = cfs_tree_as_shown(root);
	if (r < 0) {
		cfs_node_unref(root);
		tool_die("%s: %s", path, strerror(-r));
	}
	return root;
}

/* ------------------------------------------------------------------ */
/* ls */

enum {
	KEEP_SPACE = 1 << 0, /* a space is printed as is */
};

/* The escapes of the dump format: \\ \n \r \t, \xHH for the rest of what
 * is not printable ASCII. */
static void print_escaped(const char *s, unsigned flags)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '\\':
			fputs("\\\\", stdout);
			break;
		case '\n':
			fputs("\\n", stdout);
			break;
		case '\r':
			fputs("\\r", stdout);
			break;
		case '\t':
			fputs("\\t", stdout);
			break;
		default:
			if ((c > ' ' && c < 0x7f) ||
			    (c == ' ' && (flags & KEEP_SPACE)))
				putchar(c);
			else
				printf("\\x%.2x", c);
		}
	}
}

struct path {
	char *buf;
	size_t len, cap;
};

static void path_push(struct path *p, const char *name)
{
	size_t n = strlen(name);

	if (p->len + n + 2 > p->cap) {
		size_t cap = (p->len + n + 2) * 2;
		char *b = realloc(p->buf, cap);

		if (b == NULL)
			tool_die("out of memory");
		p->buf = b;
		p->cap = cap;
	}
	p->buf[p->len++] = '/';
	memcpy(p->buf + p->len, name, n + 1);
	p->len += n;
}

static void list_dir(const struct cfs_node *dir, struct path *path)
{
	for (size_t i = 0; i < cfs_node_get_n_children(dir); i++) {
		const struct cfs_node *n = cfs_node_get_child(dir, i);
		uint32_t type = cfs_node_get_mode(n) & S_IFMT;
		const char *payload = cfs_node_get_payload(n);
		size_t saved = path->len;

		path_push(path, cfs_node_get_name(n));
		print_escaped(path->buf, KEEP_SPACE);
		/* A second name of an inode is shown as a bare path. */
		if (cfs_node_get_hardlink_target(n) != NULL) {
			;
		} else if (type == S_IFDIR) {
			fputs("/\t", stdout);
		} else if (type == S_IFLNK && payload != NULL) {
			fputs("\t-> ", stdout);
			print_escaped(payload, 0);
		} else if (type == S_IFREG && payload != NULL) {
			fputs("\t@ ", stdout);
			print_escaped(payload, 0);
		}
		putchar('\n');
		if (type == S_IFDIR)
			list_dir(n, path);
		path->len = saved;
		path->buf[saved] = '\0';
	}
}

/* ------------------------------------------------------------------ */
/* objects and missing-objects */

struct object_list {
	char **names;
	size_t n, cap;
};

static void collect_objects(const struct cfs_node *dir, struct object_list *l)
{
	for (size_t i = 0; i < cfs_node_get_n_children(dir); i++) {
		const struct cfs_node *n = cfs_node_get_child(dir, i);
		uint32_t type = cfs_node_get_mode(n) & S_IFMT;
		const char *payload = cfs_node_get_payload(n);

		if (type == S_IFDIR) {
			collect_objects(n, l);
			continue;
		}
		if (type != S_IFREG || payload == NULL ||
		    cfs_node_get_hardlink_target(n) != NULL)
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 1024;
			char **names = reallocarray(l->names, cap,
						    sizeof(*names));

			if (names == NULL)
				tool_die("out of memory");
			l->names = names;
			l->cap = cap;
		}
		l->names[l->n] = strdup(payload);
		if (l->names[l->n] == NULL)
			tool_die("out of memory");
		l->n++;
	}
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is the object under one of the directories (open as fds)? */
static bool object_present(const char *object, const int *dirfds, size_t n)
{
	struct stat st;

	while (*object == '/')
		object++;
	for (size_t i = 0; i < n; i++)
		if (fstatat(dirfds[i], object, &st, 0) == 0)
			return true;
	return false;
}

/* Static, as are the options: what a failure leaves for exit() to free is
 * still reachable, not a leak. */
static struct object_list objects;
static int *dirfds;

static int list_objects(char **images, int n_images, const struct options *o,
			bool missing)
{
	struct object_list *l = &objects;

	if (missing && o->n_basedirs > 0) {
		dirfds = calloc(o->n_basedirs, sizeof(*dirfds));
		if (dirfds == NULL)
			tool_die("out of memory");
		for (size_t i = 0; i < o->n_basedirs; i++) {
			dirfds[i] = open(o->basedirs[i],
					 O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (dirfds[i] < 0)
				tool_die("cannot open basedir '%s': %s",
					 o->basedirs[i], strerror(errno));
		}
	}
	for (int i = 0; i < n_images; i++) {
		struct cfs_node *root = load_tree(images[i], o);

		collect_objects(root, l);
		cfs_node_unref(root);
	}
	if (l->n > 1)
		qsort(l->names, l->n, sizeof(*l->names), cmp_name);
	for (size_t i = 0; i < l->n; i++) {
		if (i > 0 && strcmp(l->names[i], l->names[i - 1]) == 0)
			continue;
		if (missing && dirfds != NULL &&
		    object_present(l->names[i], dirfds, o->n_basedirs))
			continue;
		printf("%s\n", l->names[i]);
	}
	tool_check_stdout();
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	l->names = NULL;
	for (size_t i = 0; dirfds != NULL && i < o->n_basedirs; i++)
		close(dirfds[i]);
	free(dirfds);
	dirfds = NULL;
	return 0;
}

/* ------------------------------------------------------------------ */
/* measure-file */

static int measure_files(char **files, int n, enum cfs_hash_alg alg)
{
	for (int i = 0; i < n; i++) {
		uint8_t digest[CFS_DIGEST_MAX_SIZE];
		char hex[CFS_DIGEST_HEX_MAX_SIZE];
		struct stat st;
		int fd = open(files[i], O_RDONLY | O_CLOEXEC), r;

		if (fd < 0)
			tool_die("cannot open '%s': %s", files[i],
				 strerror(errno));
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
			tool_die("cannot measure '%s': %s", files[i],
				 strerror(EISDIR));
		r = cfs_fsverity_digest_fd_alg(alg, fd, digest);
		close(fd);
		if (r < 0)
			tool_die("cannot measure '%s': %s", files[i],
				 strerror(-r));
		cfs_digest_to_hex_alg(alg, digest, hex);
		printf("%s\n", hex);
	}
	tool_check_stdout();
	return 0;
}

/* ------------------------------------------------------------------ */

static void add_arg(const char ***list, size_t *n, const char *arg)
{
	const char **l = reallocarray(*list, *n + 1, sizeof(*l));

	if (l == NULL)
		tool_die("out of memory");
	l[(*n)++] = arg;
	*list = l;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "basedir", required_argument, NULL, OPT_BASEDIR },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "hash-alg", required_argument, NULL, OPT_HASH_ALG },
		TOOL_LONGOPTS,
	};
	static struct options o;
	enum cfs_hash_alg alg = CFS_HASH_SHA256;
	const char *command;
	int opt, r = 0;

	tool_init("composefs-info");
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_BASEDIR:
			add_arg(&o.basedirs, &o.n_basedirs, optarg);
			break;
		case OPT_FILTER:
			if (strchr(optarg, '/') != NULL)
				tool_bad_usage(
					"a filter is one name, without '/': "
					"'%s'",
					optarg);
			add_arg(&o.filters, &o.n_filters, optarg);
			break;
		case OPT_HASH_ALG:
			if (cfs_hash_alg_from_name(optarg, &alg) < 0)
				tool_bad_usage("unknown hash algorithm '%s' "
					       "(sha256 or sha512)",
					       optarg);
			break;
		default:
			tool_common_option(opt, usage);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		tool_bad_usage("no command given");
	command = argv[0];
	argc--;
	argv++;

	if (strcmp(command, "measure-file") == 0) {
		if (argc < 1)
			tool_bad_usage("no file given");
		return measure_files(argv, argc, alg);
	}
	if (strcmp(command, "ls") != 0 && strcmp(command, "dump") != 0 &&
	    strcmp(command, "objects") != 0 &&
	    strcmp(command, "missing-objects") != 0)
		tool_bad_usage("unknown command '%s'", command);
	if (argc < 1)
		tool_bad_usage("no image given");

	if (strcmp(command, "objects") == 0 ||
	    strcmp(command, "missing-objects") == 0) {
		r = list_objects(argv, argc, &o,
				 strcmp(command, "missing-objects") == 0);
	} else {
		for (int i = 0; i < argc && r == 0; i++) {
			struct cfs_node *root = load_tree(argv[i], &o);

			if (strcmp(command, "ls") == 0) {
				struct path path = { 0 };

				list_dir(root, &path);
				free(path.buf);
			} else {
				r = cfs_dump_print(root, stdout);
			}
			cfs_node_unref(root);
			if (r < 0)
				tool_die("writing to standard output: %s",
					 strerror(-r));
			tool_check_stdout();
		}
	}
	free(o.basedirs);
	free(o.filters);
	return r;
}
