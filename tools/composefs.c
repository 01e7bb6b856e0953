/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* composefs: a repository of named images sharing one object store. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "composefs-c/repo.h"
#include "composefs-cmd.h"
#include "tool.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *repo_path;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--repo DIR] COMMAND [ARGS]\n"
		"Keep composefs images by name in a repository whose object store\n"
		"they share.\n"
		"\n"
		"Commands:\n"
		"  init                              make a new, empty repository\n"
		"  add [OPTIONS] SOURCE NAME         build an image of the directory\n"
		"                                    SOURCE (or, with --from-file, of a\n"
		"                                    composefs dump) and name it NAME\n"
		"  images [--json]                   list the named images, with the\n"
		"                                    bytes they share and do not\n"
		"  export NAME FILE                  write the image NAME to FILE (- for\n"
		"                                    stdout), checked against its digest\n"
		"  rm NAME...                        remove names (gc frees the rest)\n"
		"  mount [-o OPTIONS] [--fuse] NAME DIR\n"
		"                                    mount the image NAME on DIR\n"
		"  fsck [--json] [--repair] [--threads=N]\n"
		"                                    check every object, image and name\n"
		"  gc [--dry-run] [--verbose]        remove what no name reaches\n"
		"  import-tar [OPTIONS] FILE|- NAME  import a tar stream as NAME\n"
		"  oci import [OPTIONS] oci:DIR[:TAG] NAME\n"
		"                                    import an OCI image layout\n"
		"  oci pull [OPTIONS] TRANSPORT:REF NAME\n"
		"                                    fetch an image with skopeo and\n"
		"                                    import it\n"
		"\n"
		"Options:\n"
		"  --repo DIR    the repository (default: $COMPOSEFS_REPO, else\n"
		"                /var/lib/composefs for root, else\n"
		"                $XDG_DATA_HOME/composefs or ~/.local/share/composefs)\n"
		"  --help        show this help (COMMAND --help: the command's)\n"
		"  --version     show the version\n",
		tool_name);
}

/* The repository to use, as the options and the environment say. */
static char *default_repo(void)
{
	const char *env = getenv("COMPOSEFS_REPO");
	char *path = NULL;

	if (env != NULL && env[0] != '\0')
		return strdup(env);
	if (geteuid() == 0)
		return strdup("/var/lib/composefs");
	env = getenv("XDG_DATA_HOME");
	if (env != NULL && env[0] == '/') {
		if (asprintf(&path, "%s/composefs", env) < 0)
			return NULL;
		return path;
	}
	env = getenv("HOME");
	if (env == NULL || env[0] == '\0')
		tool_die("no repository given (--repo, COMPOSEFS_REPO) and "
			 "no HOME to find the default one");
	if (asprintf(&path, "%s/.local/share/composefs", env) < 0)
		return NULL;
	return path;
}

static void say_waiting(void *userdata, const char *path)
{
	fprintf(stderr,
		"%s: waiting for the lock of %s (in use by another "
		"command)...\n",
		tool_name, path);
}

struct cfs_repo *open_repo(unsigned flags)
{
	struct cfs_error err = { { 0 } };
	struct cfs_repo *repo = NULL;

	if (cfs_repo_open(repo_path, flags, say_waiting, NULL, &repo, &err) < 0)
		tool_die("%s", err.message);
	return repo;
}

/* Subcommand options: getopt_long over argv, with --help handled. */
int sub_getopt(int argc, char **argv, const char *shortopts,
	       const struct option *longopts, void (*sub_usage)(FILE *))
{
	int opt = getopt_long(argc, argv, shortopts, longopts, NULL);

	if (opt == TOOL_OPT_HELP || opt == '?' || opt == ':')
		tool_common_option(opt, sub_usage);
	return opt;
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* ------------------------------------------------------------------ */
/* init */

static void init_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--repo DIR] init [--hash-alg=sha256|sha512]\n"
		"Make a new, empty repository (and its missing parent "
		"directories).\n"
		"  --hash-alg=ALG   the fs-verity algorithm of its objects and\n"
		"                   images, kept for its life: sha256 (default)\n"
		"                   or sha512\n",
		tool_name);
}

static int cmd_init(int argc, char **argv)
{
	enum {
		OPT_HASH_ALG = TOOL_OPT_FIRST
	};
	static const struct option longopts[] = {
		{ "hash-alg", required_argument, NULL, OPT_HASH_ALG },
		TOOL_LONGOPTS,
	};
	struct cfs_error err = { { 0 } };
	enum cfs_hash_alg alg = CFS_HASH_SHA256;
	int opt;

	while ((opt = sub_getopt(argc, argv, "", longopts, init_usage)) != -1) {
		if (opt != OPT_HASH_ALG)
			tool_common_option(opt, init_usage);
		else if (cfs_hash_alg_from_name(optarg, &alg) < 0)
			tool_bad_usage("unknown hash algorithm '%s' (sha256 or "
				       "sha512)",
				       optarg);
	}
	if (optind != argc)
		tool_bad_usage("init takes no argument");
	if (cfs_repo_init_alg(repo_path, alg, &err) < 0)
		tool_die("%s", err.message);
	printf("initialised an empty composefs repository (%s) in %s\n",
	       cfs_hash_alg_name(alg), repo_path);
	tool_check_stdout();
	return 0;
}

/* ------------------------------------------------------------------ */
/* add */

enum {
	OPT_REPLACE = TOOL_OPT_FIRST,
	OPT_PRINT_DIGEST,
	OPT_JSON,
	OPT_REPAIR,
	OPT_DRY_RUN,
	OPT_FUSE,
};

static void add_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--repo DIR] add [OPTIONS] SOURCE NAME\n"
		"Build the image of the directory SOURCE (its files' contents go\n"
		"into the repository's object store) and name it NAME; print its\n"
		"digest. A NAME already naming the same image is left as it is;\n"
		"naming another one is refused unless --replace is given.\n"
		"\n"
		"Options:\n"
		"  --replace             move NAME to the new image\n"
		"  (as mkcomposefs; with --from-file the dump's objects must be\n"
		"  in the repository already)\n",
		tool_name);
	tool_build_usage(out);
}

static struct cfs_node *parse_dump(const char *source)
{
	struct cfs_error err = { { 0 } };
	struct cfs_node *root = NULL;
	bool from_stdin = strcmp(source, "-") == 0;
	FILE *in = stdin;
	int r;

	if (!from_stdin) {
		in = fopen(source, "re");
		if (in == NULL)
			tool_die("cannot open '%s': %s", source,
				 strerror(errno));
	}
	r = cfs_dump_parse(in, from_stdin ? "<stdin>" : source,
			   getenv("CFS_PARSE_STRICT") ? CFS_DUMP_STRICT : 0,
			   &root, &err);
	if (!from_stdin)
		fclose(in);
	if (r < 0)
		tool_die("%s", err.message);
	return root;
}

static int cmd_add(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "replace", no_argument, NULL, OPT_REPLACE },
		{ "print-digest", no_argument, NULL, OPT_PRINT_DIGEST },
		TOOL_BUILD_LONGOPTS,
		TOOL_LONGOPTS,
	};
	struct tool_build b = TOOL_BUILD_INIT;
	struct tool_progress progress = { .what = "files digested" };
	struct cfs_error err = { { 0 } };
	unsigned flags = 0;
	struct cfs_repo *repo;
	struct cfs_store *store = NULL;
	struct cfs_node *root = NULL;
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	char hex[CFS_DIGEST_HEX_MAX_SIZE];
	const char *source, *name;
	int opt, r;

	while ((opt = sub_getopt(argc, argv, "", longopts, add_usage)) != -1) {
		if (tool_build_option(&b, opt, optarg))
			continue;
		if (opt == OPT_REPLACE)
			flags |= CFS_REPO_REPLACE;
		else if (opt != OPT_PRINT_DIGEST) /* it is always printed */
			tool_common_option(opt, add_usage);
	}
	tool_build_finish(&b);
	if (argc - optind != 2)
		tool_bad_usage("add takes a SOURCE and a NAME");
	source = argv[optind];
	name = argv[optind + 1];
	if (source[0] == '\0')
		tool_bad_usage("empty source path");
	if (cfs_repo_check_name(name, &err) < 0)
		tool_bad_usage("%s", err.message);

	repo = open_repo(0);
	if (b.from_file) {
		root = parse_dump(source);
	} else {
		if (cfs_repo_open_store(repo, &store, &err) < 0)
			tool_die("%s", err.message);
		b.build.store = store;
		b.build.progress = tool_progress_fn();
		b.build.progress_userdata = &progress;
		r = cfs_build_from_directory(source, &b.build, &root, &err);
		tool_progress_end(&progress);
		if (r < 0)
			tool_die("%s", err.message);
	}
	r = cfs_repo_add_image(repo, root, &b.write, store, name, flags, digest,
			       &err);
	if (r < 0)
		tool_die("%s", err.message);
	cfs_digest_to_hex_alg(cfs_repo_get_hash_alg(repo), digest, hex);
	printf("%s\n", hex);
	tool_check_stdout();
	cfs_store_free(store);
	cfs_node_unref(root);
	cfs_repo_free(repo);
	return 0;
}

/* ------------------------------------------------------------------ */
/* images */

static void images_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--repo DIR] images [--json]\n"
		"List the named images: name, digest, objects, their bytes, and of\n"
		"those the bytes shared with other images and those only this image\n"
		"uses.\n",
		tool_name);
}

struct listing {
	enum cfs_hash_alg alg;
	bool json;
	size_t count;
	int failed;
};

static int print_image(void *userdata, const struct cfs_repo_image_info *i)
{
	struct listing *l = userdata;
	char hex[CFS_DIGEST_HEX_MAX_SIZE];

	cfs_digest_to_hex_alg(l->alg, i->digest, hex);
	if (i->error < 0) {
		l->failed = 1;
		fprintf(stderr, "%s: image '%s': %s\n", tool_name, i->name,
			i->message);
	}
	if (l->json) {
		printf("%s\n    {\"name\": ", l->count ? "," : "");
		print_json_string(i->name);
		printf(", \"digest\": \"%s\", \"image_bytes\": %llu, "
		       "\"objects\": %llu, \"object_bytes\": %llu, "
		       "\"shared_bytes\": %llu, \"unique_bytes\": %llu",
		       hex, (unsigned long long)i->image_size,
		       (unsigned long long)i->n_objects,
		       (unsigned long long)i->object_bytes,
		       (unsigned long long)i->shared_bytes,
		       (unsigned long long)i->unique_bytes);
		if (i->error < 0) {
			printf(", \"error\": ");
			print_json_string(i->message);
		}
		if (i->manifest != NULL)
			printf(", \"oci\": {\"manifest\": \"%s\", "
			       "\"config\": \"%s\", \"layers\": %zu}",
			       i->manifest, i->config, i->n_layers);
		printf("}");
	} else {
		char total[32], shared[32], unique[32];

		tool_human_size(i->object_bytes, total, sizeof(total));
		tool_human_size(i->shared_bytes, shared, sizeof(shared));
		tool_human_size(i->unique_bytes, unique, sizeof(unique));
		if (l->count == 0)
			printf("%-20s %-64s %8s %11s %11s %11s\n", "NAME",
			       "DIGEST", "OBJECTS", "SIZE", "SHARED", "UNIQUE");
		printf("%-20s %s %8llu %11s %11s %11s%s\n", i->name, hex,
		       (unsigned long long)i->n_objects, total, shared, unique,
		       i->error < 0 ? "  (unreadable)" : "");
		if (i->manifest != NULL)
			printf("%-20s from OCI manifest %s, %zu layer%s\n", "",
			       i->manifest, i->n_layers,
			       i->n_layers == 1 ? "" : "s");
	}
	l->count++;
	return 0;
}

static int cmd_images(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		TOOL_LONGOPTS,
	};
	struct listing l = { 0 };
	struct cfs_error err = { { 0 } };
	struct cfs_repo *repo;
	int opt;

	while ((opt = sub_getopt(argc, argv, "", longopts, images_usage)) !=
	       -1) {
		if (opt == OPT_JSON)
			l.json = true;
		else
			tool_common_option(opt, images_usage);
	}
	if (optind != argc)
		tool_bad_usage("images takes no argument");
	repo = open_repo(0);
	l.alg = cfs_repo_get_hash_alg(repo);
	if (l.json)
		printf("{\"images\": [");
	if (cfs_repo_list_images(repo, print_image, &l, &err) < 0)
		tool_die("%s", err.message);
	if (l.json)
		printf("%s]}\n", l.count ? "\n" : "");
	tool_check_stdout();
	cfs_repo_free(repo);
	return l.failed;
}

/* ------------------------------------------------------------------ */
/* export, rm */

static void export_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--repo DIR] export NAME FILE\n"
		"Write the image NAME, byte for byte, to FILE (- for stdout), after\n"
		"checking it against the digest NAME points to.\n",
		tool_name);
}

static struct tool_output export_out = { .fd = -1, .dir_fd = -1 };

static int cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = { TOOL_LONGOPTS };
	struct cfs_error err = { { 0 } };
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	uint8_t *data = NULL;
	struct cfs_repo *repo;
	const char *name, *file;
	size_t size;
	int r;

	while (sub_getopt(argc, argv, "", longopts, export_usage) != -1)
		;
	if (argc - optind != 2)
		tool_bad_usage("export takes a NAME and a FILE");
	name = argv[optind];
	file = argv[optind + 1];
	repo = open_repo(0);
	if (cfs_repo_resolve(repo, name, digest, &err) < 0 ||
	    cfs_repo_read_image(repo, digest, &data, &size, &err) < 0)
		tool_die("%s", err.message);
	if (strcmp(file, "-") == 0 && isatty(STDOUT_FILENO))
		tool_die("refusing to write an image to a terminal");
	r = tool_output_open(&export_out, file);
	if (r < 0)
		tool_die("cannot write '%s': %s", file, strerror(-r));
	for (size_t done = 0; done < size;) {
		ssize_t n = write(export_out.fd, data + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			tool_die("cannot write '%s': %s", file,
				 strerror(n < 0 ? errno : EIO));
		done += (size_t)n;
	}
	r = tool_output_commit(&export_out);
	if (r < 0)
		tool_die("cannot write '%s': %s", file, strerror(-r));
	free(data);
	cfs_repo_free(repo);
	return 0;
}

static void rm_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--repo DIR] rm NAME...\n"
		"Remove names. The images and objects only they reached stay until\n"
		"the next gc.\n",
		tool_name);
}

static int cmd_rm(int argc, char **argv)
{
	static const struct option longopts[] = { TOOL_LONGOPTS };
	struct cfs_error err = { { 0 } };
	struct cfs_repo *repo;
	int status = 0;

	while (sub_getopt(argc, argv, "", longopts, rm_usage) != -1)
		;
	if (optind >= argc)
		tool_bad_usage("rm takes at least one NAME");
	repo = open_repo(0);
	for (int i = optind; i < argc; i++)
		if (cfs_repo_remove_name(repo, argv[i], &err) < 0)
			status = tool_fail("%s", err.message);
	cfs_repo_free(repo);
	return status;
}

/* ------------------------------------------------------------------ */
/* fsck */

static void fsck_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--repo DIR] fsck [--json] [--repair] [--threads=N]\n"
		"Check that every object's content matches its name, that nothing\n"
		"else is in the store, that every image reads and has its objects,\n"
		"and that every name reaches an image. One line per problem; exit\n"
		"status 1 when there is any.\n"
		"\n"
		"  --json        the result as JSON\n"
		"  --repair      move damaged objects, damaged images and stray files\n"
		"                to DIR/quarantine/ (an add then writes such objects\n"
		"                again) and remove leftovers of interrupted writes;\n"
		"                holds the repository alone while it runs\n"
		"  --threads=N   objects hashed at once (default: one per processor)\n",
		tool_name);
}

struct fsck_output {
	bool json;
	size_t count;
	struct tool_progress progress;
};

static void print_problem(void *userdata, const struct cfs_repo_problem *p)
{
	struct fsck_output *o = userdata;

	if (o->progress.shown) {
		/* the problem on a line of its own, the progress goes on */
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
	if (o->json) {
		printf("%s\n    {\"kind\": \"%s\", \"path\": ",
		       o->count ? "," : "", p->kind);
		print_json_string(p->path);
		printf(", \"message\": ");
		print_json_string(p->message);
		printf(", \"repaired\": %s}", p->repaired ? "true" : "false");
	} else {
		printf("%s: %s: %s%s\n", p->kind, p->path, p->message,
		       p->repaired ? " (repaired)" : "");
	}
	fflush(stdout);
	o->count++;
}

static int cmd_fsck(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "repair", no_argument, NULL, OPT_REPAIR },
		{ "threads", required_argument, NULL, TOOL_OPT_THREADS },
		TOOL_LONGOPTS,
	};
	struct fsck_output o = { .progress = { .what = "objects checked" } };
	struct cfs_repo_fsck_stats stats = { 0 };
	struct cfs_error err = { { 0 } };
	unsigned flags = 0, threads = 0;
	struct cfs_repo *repo;
	int opt;

	while ((opt = sub_getopt(argc, argv, "", longopts, fsck_usage)) != -1) {
		switch (opt) {
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_REPAIR:
			flags |= CFS_FSCK_REPAIR;
			break;
		case TOOL_OPT_THREADS:
			threads = (unsigned)tool_parse_number(
				optarg, "thread count", 1, 64);
			break;
		default:
			tool_common_option(opt, fsck_usage);
		}
	}
	if (optind != argc)
		tool_bad_usage("fsck takes no argument");
	repo = open_repo((flags & CFS_FSCK_REPAIR) ? CFS_REPO_EXCLUSIVE : 0);
	if (o.json)
		printf("{\"problems\": [");
	if (cfs_repo_fsck(repo, flags, threads, print_problem,
			  tool_progress_fn(), &o, &stats, &err) < 0) {
		tool_progress_end(&o.progress);
		tool_die("%s", err.message);
	}
	tool_progress_end(&o.progress);
	if (o.json)
		printf("%s],\n \"names\": %llu, \"images\": %llu, "
		       "\"objects\": %llu, \"object_bytes\": %llu}\n",
		       o.count ? "\n" : "", (unsigned long long)stats.n_names,
		       (unsigned long long)stats.n_images,
		       (unsigned long long)stats.n_objects,
		       (unsigned long long)stats.object_bytes);
	else
		fprintf(stderr,
			"%s: %llu names, %llu images, %llu objects (%llu "
			"bytes) checked: %llu problem%s\n",
			tool_name, (unsigned long long)stats.n_names,
			(unsigned long long)stats.n_images,
			(unsigned long long)stats.n_objects,
			(unsigned long long)stats.object_bytes,
			(unsigned long long)stats.n_problems,
			stats.n_problems == 1 ? "" : "s");
	tool_check_stdout();
	cfs_repo_free(repo);
	return stats.n_problems > 0 ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* gc */

static void gc_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--repo DIR] gc [--dry-run] [--verbose]\n"
		"Remove the images no name reaches, the objects no named image uses\n"
		"and the leftovers of interrupted writes. Holds the repository alone\n"
		"while it runs (other commands wait).\n"
		"\n"
		"  --dry-run     list what would go, remove nothing\n"
		"  --verbose     list what goes\n",
		tool_name);
}

static void print_removed(void *userdata, const char *path, uint64_t bytes)
{
	if (userdata != NULL)
		printf("%s\t%llu\n", path, (unsigned long long)bytes);
}

static int cmd_gc(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "verbose", no_argument, NULL, 'v' },
		TOOL_LONGOPTS,
	};
	struct cfs_repo_gc_stats stats = { 0 };
	struct cfs_error err = { { 0 } };
	struct cfs_repo *repo;
	unsigned flags = 0;
	bool verbose = false;
	char size[32];
	int opt;

	while ((opt = sub_getopt(argc, argv, "v", longopts, gc_usage)) != -1) {
		if (opt == OPT_DRY_RUN)
			flags |= CFS_GC_DRY_RUN;
		else if (opt == 'v')
			verbose = true;
		else
			tool_common_option(opt, gc_usage);
	}
	if (optind != argc)
		tool_bad_usage("gc takes no argument");
	repo = open_repo(CFS_REPO_EXCLUSIVE);
	if (cfs_repo_gc(repo, flags, print_removed,
			verbose || (flags & CFS_GC_DRY_RUN) ? repo : NULL,
			&stats, &err) < 0)
		tool_die("%s", err.message);
	tool_human_size(stats.bytes, size, sizeof(size));
	printf("%s %llu images, %llu objects, %llu leftovers: %llu bytes "
	       "(%s)\n",
	       (flags & CFS_GC_DRY_RUN) ? "would remove" : "removed",
	       (unsigned long long)stats.n_images,
	       (unsigned long long)stats.n_objects,
	       (unsigned long long)stats.n_leftovers,
	       (unsigned long long)stats.bytes, size);
	tool_check_stdout();
	cfs_repo_free(repo);
	return 0;
}

/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "init", cmd_init },
	{ "add", cmd_add },
	{ "images", cmd_images },
	{ "export", cmd_export },
	{ "rm", cmd_rm },
	{ "mount", cmd_mount },
	{ "fsck", cmd_fsck },
	{ "gc", cmd_gc },
	{ "import-tar", cmd_import_tar },
	{ "oci", cmd_oci },
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, 'r' },
		TOOL_LONGOPTS,
	};
	const char *command;
	int opt;

	tool_init("composefs");
	tool_usage_status = 2;
	/* "+": the options before the command are ours */
	while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (opt == 'r')
			repo_path = optarg;
		else
			tool_common_option(opt, usage);
	}
	if (optind >= argc)
		tool_bad_usage("no command given");
	if (repo_path != NULL && repo_path[0] == '\0')
		tool_bad_usage("empty repository path");
	if (repo_path == NULL) {
		repo_path = default_repo();
		if (repo_path == NULL)
			tool_die("out of memory");
	}
	command = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0; /* a fresh getopt scan of the command's arguments */
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		if (strcmp(command, commands[i].name) == 0)
			return commands[i].run(argc, argv);
	tool_bad_usage("unknown command '%s'", command);
}
