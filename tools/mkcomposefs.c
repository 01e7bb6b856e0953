/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* mkcomposefs: build a composefs image from a directory, a dump file, a
 * tar stream or an OCI image layout. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "composefs-c/repo.h"
#include "tool.h"

enum {
	OPT_DIGEST_STORE = TOOL_OPT_FIRST,
	OPT_PRINT_DIGEST,
	OPT_PRINT_DIGEST_ONLY,
	OPT_FROM_TAR,
	OPT_FROM_OCI,
	OPT_PLATFORM,
	OPT_AS_UNPACKED,
	OPT_KEEP_USER_XATTRS,
	OPT_HASH_ALG,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [OPTIONS] SOURCE IMAGE\n"
		"Build a composefs image from the directory SOURCE (or, with\n"
		"--from-file, from the composefs-dump file SOURCE; - reads stdin).\n"
		"IMAGE - writes the image to stdout.\n"
		"\n"
		"Options:\n"
		"  --digest-store=DIR    store file contents as objects in DIR\n"
		"  --print-digest        print the image's fs-verity digest\n"
		"  --print-digest-only   print the digest, write no image\n"
		"  --hash-alg=ALG        fs-verity hash algorithm of the\n"
		"                        objects and the image: sha256\n"
		"                        (default) or sha512; with\n"
		"                        --from-file, that of the dump's\n"
		"                        digests by default\n"
		"  --from-tar            SOURCE is a tar stream (plain or\n"
		"                        compressed; - reads stdin), read\n"
		"                        without unpacking it\n"
		"  --from-oci            SOURCE is an OCI image layout,\n"
		"                        oci:DIR[:TAG], its layers applied;\n"
		"                        the image is composefs-rs's for it\n"
		"                        (root from /usr, /run emptied, only\n"
		"                        security.capability, version 1)\n"
		"  --as-unpacked         with --from-oci: the tree as the layers\n"
		"                        give it, untransformed\n"
		"  --keep-user-xattrs    with --from-oci: keep user.* xattrs too\n"
		"  --platform=OS/ARCH[/VARIANT]\n"
		"                        with --from-oci: which image of a\n"
		"                        multi-platform one (default: this\n"
		"                        machine's)\n",
		tool_name);
	tool_build_usage(out);
	fprintf(out, "  --help                show this help\n"
		     "  --version             show the version\n");
}

static void say_waiting(void *userdata, const char *path)
{
	fprintf(stderr, "%s: waiting for the lock of the repository %s...\n",
		tool_name, path);
}

/*
 * A store that is the objects directory of a repository is written under
 * the repository's lock, held shared as the composefs command's adds do,
 * so that a gc never runs beside this run. (The image this run writes is
 * not named in the repository: the next gc removes its objects.)
 */
static struct cfs_repo *lock_repository(const char *store_path)
{
	struct cfs_error err = { { 0 } };
	struct cfs_repo *repo = NULL;

	if (cfs_repo_open_for_objects(store_path, 0, say_waiting, NULL, &repo,
				      &err) < 0)
		tool_die("%s", err.message);
	return repo;
}

static int build_from_tar(const char *source, struct cfs_store *store,
			  enum cfs_hash_alg alg, struct cfs_node **ret_root,
			  struct cfs_error *err)
{
	bool from_stdin = strcmp(source, "-") == 0;
	int fd = from_stdin ? STDIN_FILENO :
			      open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0)
		tool_die("cannot open '%s': %s", source, strerror(errno));
	r = cfs_build_from_tar_alg(fd, from_stdin ? "<stdin>" : source, store,
				   alg, ret_root, err);
	if (!from_stdin)
		close(fd);
	return r;
}

/* SOURCE of --from-oci: oci:DIR[:TAG] */
static int build_from_oci(const char *source, const char *platform,
			  struct cfs_store *store, enum cfs_hash_alg alg,
			  struct cfs_node **ret_root, struct cfs_error *err)
{
	char *copy, *dir, *tag;
	int r;

	copy = strdup(source);
	if (copy == NULL)
		tool_die("out of memory");
	if (!tool_split_oci_ref(copy, &dir, &tag))
		tool_bad_usage("--from-oci takes oci:DIR[:TAG], not '%s'",
			       source);
	r = cfs_build_from_oci_alg(dir, tag, platform, store, alg, ret_root,
				   err);
	free(copy);
	return r;
}

/* The algorithm of the first file digest in the tree (a dump's digests
 * tell it: 64 or 128 hex digits), 0 when no file has one. */
static enum cfs_hash_alg tree_digest_alg(const struct cfs_node *node)
{
	enum cfs_hash_alg alg = cfs_node_get_digest_alg(node);
	size_t n = cfs_node_get_n_children(node);

	for (size_t i = 0; alg == 0 && i < n; i++)
		alg = tree_digest_alg(cfs_node_get_child(node, i));
	return alg;
}

/* Static: the exit handler that removes it may run after main returns. */
static struct tool_output out = { .fd = -1, .dir_fd = -1 };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "digest-store", required_argument, NULL, OPT_DIGEST_STORE },
		{ "print-digest", no_argument, NULL, OPT_PRINT_DIGEST },
		{ "print-digest-only", no_argument, NULL,
		  OPT_PRINT_DIGEST_ONLY },
		{ "from-tar", no_argument, NULL, OPT_FROM_TAR },
		{ "from-oci", no_argument, NULL, OPT_FROM_OCI },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "as-unpacked", no_argument, NULL, OPT_AS_UNPACKED },
		{ "keep-user-xattrs", no_argument, NULL, OPT_KEEP_USER_XATTRS },
		{ "hash-alg", required_argument, NULL, OPT_HASH_ALG },
		TOOL_BUILD_LONGOPTS,
		TOOL_LONGOPTS,
	};
	struct tool_build b = TOOL_BUILD_INIT;
	struct cfs_build_options *bopts = &b.build;
	struct tool_progress progress = { .what = "files digested" };
	const char *store_path = NULL, *source, *image = NULL;
	bool print_digest = false, digest_only = false;
	bool from_tar = false, from_oci = false;
	bool as_unpacked = false, keep_user_xattrs = false;
	const char *platform = NULL;
	struct cfs_error err = { { 0 } };
	struct cfs_node *root = NULL;
	struct cfs_store *store = NULL;
	struct cfs_repo *repo = NULL;
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	enum cfs_hash_alg alg = CFS_HASH_SHA256;
	bool alg_given = false;
	int opt, fd = -1, r;

	tool_init("mkcomposefs");
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (tool_build_option(&b, opt, optarg))
			continue;
		switch (opt) {
		case OPT_DIGEST_STORE:
			store_path = optarg;
			break;
		case OPT_PRINT_DIGEST:
			print_digest = true;
			break;
		case OPT_PRINT_DIGEST_ONLY:
			print_digest = digest_only = true;
			break;
		case OPT_FROM_TAR:
			from_tar = true;
			break;
		case OPT_FROM_OCI:
			from_oci = true;
			break;
		case OPT_PLATFORM:
			platform = optarg;
			break;
		case OPT_AS_UNPACKED:
			as_unpacked = true;
			break;
		case OPT_KEEP_USER_XATTRS:
			keep_user_xattrs = true;
			break;
		case OPT_HASH_ALG:
			if (cfs_hash_alg_from_name(optarg, &alg) < 0)
				tool_bad_usage("unknown hash algorithm '%s' "
					       "(sha256 or sha512)",
					       optarg);
			alg_given = true;
			break;
		default:
			tool_common_option(opt, usage);
		}
	}
	tool_build_finish(&b);
	if (b.from_file + from_tar + from_oci > 1)
		tool_bad_usage("--from-file, --from-tar and --from-oci "
			       "exclude each other");
	if (platform != NULL && !from_oci)
		tool_bad_usage("--platform goes with --from-oci");
	if ((as_unpacked || keep_user_xattrs) && !from_oci)
		tool_bad_usage("--as-unpacked and --keep-user-xattrs go with "
			       "--from-oci");
	b.write.hash_alg = alg;
	bopts->hash_alg = alg;
	if (as_unpacked && keep_user_xattrs)
		tool_bad_usage("--keep-user-xattrs is for the transform, "
			       "which --as-unpacked leaves out");
	if (from_oci && !as_unpacked) {
		/* composefs-rs's image: format version 1 */
		if (b.write.max_version < 1)
			tool_bad_usage("--from-oci writes format version 1 "
				       "(composefs-rs's); --as-unpacked for "
				       "version 0");
		if (b.write.min_version < 1)
			b.write.min_version = 1;
	}

	argc -= optind;
	argv += optind;
	if (argc < 1)
		tool_bad_usage("no source given");
	source = argv[0];
	if (*source == '\0')
		tool_bad_usage("empty source path");
	if (digest_only) {
		if (argc > 1)
			tool_bad_usage(
				"no image may be given with --print-digest-only");
	} else {
		if (argc < 2)
			tool_bad_usage("no image given");
		if (argc > 2)
			tool_bad_usage("too many arguments");
		image = argv[1];
	}

	if (image != NULL && strcmp(image, "-") == 0) {
		if (isatty(STDOUT_FILENO))
			tool_die("refusing to write an image to a terminal");
		fd = STDOUT_FILENO;
	} else if (image != NULL) {
		r = tool_output_open(&out, image);
		if (r < 0)
			tool_die("cannot write image '%s': %s", image,
				 strerror(-r));
		fd = out.fd;
	}

	if (b.from_file) {
		FILE *in = stdin;
		unsigned flags = getenv("CFS_PARSE_STRICT") ? CFS_DUMP_STRICT :
							      0;

		if (strcmp(source, "-") != 0) {
			in = fopen(source, "re");
			if (in == NULL)
				tool_die("cannot open '%s': %s", source,
					 strerror(errno));
		}
		r = cfs_dump_parse(in, strcmp(source, "-") ? source : "<stdin>",
				   flags, &root, &err);
		if (in != stdin)
			fclose(in);
		if (r < 0)
			tool_die("%s", err.message);
		/* without --hash-alg, the image takes the dump's algorithm */
		if (!alg_given && tree_digest_alg(root) != 0) {
			alg = tree_digest_alg(root);
			b.write.hash_alg = alg;
		}
	} else {
		if (store_path != NULL) {
			r = cfs_store_open(store_path,
					   CFS_STORE_CREATE | CFS_STORE_BATCH |
						   CFS_STORE_HASH_ALG(alg),
					   &store, &err);
			if (r < 0)
				tool_die("%s", err.message);
			bopts->store = store;
			repo = lock_repository(store_path);
			/* a repository's objects are of its algorithm */
			if (repo != NULL && cfs_repo_get_hash_alg(repo) != alg)
				tool_die("%s is the object store of the "
					 "repository %s, whose objects are "
					 "%s: give --hash-alg=%s",
					 store_path, cfs_repo_get_path(repo),
					 cfs_hash_alg_name(
						 cfs_repo_get_hash_alg(repo)),
					 cfs_hash_alg_name(
						 cfs_repo_get_hash_alg(repo)));
		}
		if (from_tar) {
			r = build_from_tar(source, store, alg, &root, &err);
		} else if (from_oci) {
			r = build_from_oci(source, platform, store, alg, &root,
					   &err);
			if (r == 0 && !as_unpacked)
				r = cfs_oci_transform(
					root,
					keep_user_xattrs ?
						CFS_OCI_KEEP_USER_XATTRS :
						0,
					&err);
		} else {
			bopts->progress = tool_progress_fn();
			bopts->progress_userdata = &progress;
			r = cfs_build_from_directory(source, bopts, &root,
						     &err);
			tool_progress_end(&progress);
		}
		/* objects are durable and in place before any image names them */
		if (r == 0 && store != NULL)
			r = cfs_store_commit(store, &err);
		if (r < 0) {
			/* the objects not yet in place go, no temporary left */
			cfs_store_free(store);
			tool_die("%s", err.message);
		}
	}

	r = cfs_write_image(root, &b.write, fd, print_digest ? digest : NULL,
			    &err);
	if (r < 0)
		tool_die("cannot write image%s%s: %s", image ? " " : "",
			 image ? image : "", err.message);
	if (fd != STDOUT_FILENO) {
		r = tool_output_commit(&out);
		if (r < 0)
			tool_die("cannot write image %s: %s", image,
				 strerror(-r));
	}
	if (print_digest) {
		char hex[CFS_DIGEST_HEX_MAX_SIZE];

		cfs_digest_to_hex_alg(alg, digest, hex);
		printf("%s\n", hex);
	}
	if (fflush(stdout) != 0)
		tool_die("writing to stdout: %s", strerror(errno));
	cfs_node_unref(root);
	cfs_store_free(store);
	cfs_repo_free(repo);
	return 0;
}
