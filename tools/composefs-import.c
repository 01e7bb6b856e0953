/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* composefs import-tar, oci import, oci pull: container images in. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "composefs-c/repo.h"
#include "composefs-cmd.h"
#include "tool.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum {
	OPT_REPLACE = TOOL_OPT_FIRST,
	OPT_PLATFORM,
	OPT_TLS_VERIFY,
	OPT_CREDS,
	OPT_AUTHFILE,
	OPT_CERT_DIR,
	OPT_AS_UNPACKED,
	OPT_KEEP_USER_XATTRS,
	OPT_REQUIRE_SEALED,
	OPT_TRUSTED_CERT,
	OPT_SIGN_KEY,
	OPT_SIGN_CERT,
};

/* What an import shows: a progress line on a terminal, and with -v one
 * line per layer. */
struct show {
	uint64_t bytes, entries; /* the last figures of a tar read */
	bool verbose;
	bool tty;
	bool shown;
	struct timespec start, last;
};

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	       (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void on_event(void *userdata, const struct cfs_import_event *ev)
{
	struct show *s = userdata;
	char done[32], total[32], layer[64] = "";

	if (ev->n_layers > 0)
		snprintf(layer, sizeof(layer), "layer %u/%u %.19s: ", ev->layer,
			 ev->n_layers, ev->diff_id ? ev->diff_id : "");
	if (ev->kind == CFS_IMPORT_READING) {
		s->bytes = ev->bytes;
		s->entries = ev->entries;
		if (!s->tty || seconds_since(&s->last) < 0.1)
			return;
		clock_gettime(CLOCK_MONOTONIC, &s->last);
		tool_human_size(ev->bytes, done, sizeof(done));
		tool_human_size(ev->total_bytes, total, sizeof(total));
		fprintf(stderr, "\r\033[K%s: %s%s%s%s, %llu files, %.0f MiB/s",
			tool_name, layer, done, ev->total_bytes ? " of " : "",
			ev->total_bytes ? total : "",
			(unsigned long long)ev->entries,
			(double)ev->bytes / (1 << 20) /
				(seconds_since(&s->start) + 1e-9));
		s->shown = true;
		return;
	}
	if (s->shown) {
		fprintf(stderr, "\r\033[K");
		s->shown = false;
	}
	if (s->verbose || s->tty)
		fprintf(stderr, "layer %u/%u %s: %s\n", ev->layer, ev->n_layers,
			ev->diff_id,
			ev->kind == CFS_IMPORT_LAYER_REUSED ? "reused" :
							      "imported");
	clock_gettime(CLOCK_MONOTONIC, &s->start);
}

static void show_init(struct show *s, bool verbose)
{
	memset(s, 0, sizeof(*s));
	s->verbose = verbose;
	s->tty = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	s->last = s->start;
	s->last.tv_sec -= 1;
}

static void show_end(struct show *s)
{
	if (s->shown)
		fprintf(stderr, "\r\033[K");
}

/* A digest of the repository's algorithm. */
static void print_digest(struct cfs_repo *repo, const uint8_t *digest)
{
	char hex[CFS_DIGEST_HEX_MAX_SIZE];

	cfs_digest_to_hex_alg(cfs_repo_get_hash_alg(repo), digest, hex);
	printf("%s\n", hex);
	tool_check_stdout();
}

/* ------------------------------------------------------------------ */
/* import-tar */

static void import_tar_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--repo DIR] import-tar [OPTIONS] FILE|- NAME\n"
		"Import a tar stream (plain, gzip, zstd, xz or bzip2, told by its\n"
		"bytes) as the image NAME without unpacking it: owners, modes,\n"
		"times, devices, xattrs and hard links come from its headers, file\n"
		"contents go straight into the object store. Prints the image's\n"
		"digest.\n"
		"\n"
		"Options:\n"
		"  --replace       move NAME to the new image\n"
		"  -v, --verbose   say how much was read\n",
		tool_name);
}

int cmd_import_tar(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "replace", no_argument, NULL, OPT_REPLACE },
		{ "verbose", no_argument, NULL, 'v' },
		TOOL_LONGOPTS,
	};
	struct cfs_import_options opts = { 0 };
	struct cfs_error err = { { 0 } };
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	struct show show;
	bool verbose = false;
	const char *file, *name;
	struct cfs_repo *repo;
	int opt, fd, r;

	while ((opt = sub_getopt(argc, argv, "v", longopts,
				 import_tar_usage)) != -1) {
		if (opt == OPT_REPLACE)
			opts.flags |= CFS_REPO_REPLACE;
		else if (opt == 'v')
			verbose = true;
		else
			tool_common_option(opt, import_tar_usage);
	}
	if (argc - optind != 2)
		tool_bad_usage("import-tar takes a FILE (or -) and a NAME");
	file = argv[optind];
	name = argv[optind + 1];
	if (file[0] == '\0')
		tool_bad_usage("empty file name");
	if (cfs_repo_check_name(name, &err) < 0)
		tool_bad_usage("%s", err.message);
	if (strcmp(file, "-") == 0) {
		fd = STDIN_FILENO;
		file = "<stdin>";
	} else {
		fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			tool_die("cannot open '%s': %s", file, strerror(errno));
	}
	show_init(&show, verbose);
	opts.progress = on_event;
	opts.userdata = &show;
	repo = open_repo(0);
	r = cfs_repo_import_tar(repo, fd, file, name, &opts, digest, &err);
	show_end(&show);
	if (r < 0)
		tool_die("%s", err.message);
	if (verbose)
		fprintf(stderr, "%s: %llu entries, %llu bytes read\n", file,
			(unsigned long long)show.entries,
			(unsigned long long)show.bytes);
	print_digest(repo, digest);
	cfs_repo_free(repo);
	if (fd != STDIN_FILENO)
		close(fd);
	return 0;
}

/* ------------------------------------------------------------------ */
/* oci import, oci pull */

static void oci_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--repo DIR] oci import [OPTIONS] oci:LAYOUT[:TAG] NAME\n"
		"       %s [--repo DIR] oci pull [OPTIONS] TRANSPORT:REFERENCE NAME\n"
		"       %s [--repo DIR] oci seal [--sign-key KEY.pem --sign-cert CERT.pem]\n"
		"                              oci:SRC[:TAG] oci:DEST[:TAG]\n"
		"Import an OCI image as the image NAME, without unpacking it; print\n"
		"its digest. 'import' reads an OCI image layout directory; 'pull'\n"
		"fetches the image with skopeo (any transport it knows: docker://,\n"
		"oci-archive:, docker-archive:, dir:, ...), only the layers the\n"
		"repository does not have yet. Every blob is checked against its\n"
		"digest, every layer against its diff_id; layers imported before\n"
		"are not read again. The image is composefs-rs's for the OCI image\n"
		"(the root takes /usr's metadata, /run is emptied, only the xattr\n"
		"security.capability is kept, format version 1), so that both give\n"
		"the same digest. A sealed image is checked against its seal before\n"
		"it is named. 'seal' writes a sealed copy of SRC into DEST: its digest\n"
		"in a new config and manifest (signed with a key), the same layers;\n"
		"it prints the digest sealed.\n"
		"\n"
		"Options:\n"
		"  --replace              move NAME to the new image\n"
		"  --require-sealed       refuse an image without a seal\n"
		"  --trusted-cert FILE    the seal must be signed by the key of this\n"
		"                         certificate (PEM; repeatable: any of them)\n"
		"  --as-unpacked          the tree as the layers give it (as umoci\n"
		"                         unpack writes it), untransformed\n"
		"  --keep-user-xattrs     the transform keeps user.* xattrs too\n"
		"  --platform OS/ARCH[/VARIANT]\n"
		"                         which image of a multi-platform one\n"
		"                         (default: this machine's)\n"
		"  -v, --verbose          one line per layer: imported or reused\n"
		"seal only:\n"
		"  --sign-key KEY.pem     sign the digests sealed with this private key\n"
		"  --sign-cert CERT.pem   ...whose certificate this is\n"
		"pull only (passed to skopeo):\n"
		"  --tls-verify=BOOL      require HTTPS and verify certificates\n"
		"  --creds USER[:PASS]    credentials for the registry\n"
		"  --authfile FILE        registry credentials file\n"
		"  --cert-dir DIR         certificates for the registry\n",
		tool_name, tool_name, tool_name);
}

/* "oci:DIR[:TAG]" into DIR and TAG (NULL when none). DIR may not hold a
 * ':', as in skopeo's own syntax. */
static void split_oci_ref(char *ref, char **ret_dir, char **ret_tag)
{
	if (strncmp(ref, "oci:", 4) != 0)
		tool_bad_usage("'%s' is not oci:DIR[:TAG] (oci pull fetches "
			       "other transports)",
			       ref);
	if (!tool_split_oci_ref(ref, ret_dir, ret_tag))
		tool_bad_usage("no directory in oci:DIR[:TAG]");
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *pull_dir;

static void on_signal(int sig)
{
	if (pull_dir != NULL)
		remove_tree(pull_dir);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Run argv (skopeo) with its stdout on our stderr; dies when it fails. */
static void run_skopeo(char **argv, bool quiet)
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		tool_die("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		(void)quiet;
		execvp(argv[0], argv);
		fprintf(stderr, "%s: cannot run skopeo: %s%s\n", tool_name,
			strerror(errno),
			errno == ENOENT ? " (install the skopeo package)" : "");
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			tool_die("waitpid: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		exit(1);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (pull_dir != NULL)
			remove_tree(pull_dir);
		tool_die("skopeo failed (%s %d)",
			 WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) :
					     WTERMSIG(status));
	}
}

static char *skopeo_opt(const char *fmt, const char *arg);

/* What skopeo inspect (args after "inspect") prints, or NULL when it
 * fails: a pull then fetches every blob. */
static char *skopeo_inspect(char **opts, size_t n_opts, const char *extra,
			    const char *source)
{
	char **argv = calloc(n_opts + 8, sizeof(*argv));
	char *out = NULL;
	size_t n = 0, len = 0, cap = 0, first_made, last_made;
	int pipe_fd[2], status;
	pid_t pid;

	if (argv == NULL || pipe2(pipe_fd, O_CLOEXEC) != 0) {
		free(argv);
		return NULL;
	}
	argv[n++] = "skopeo";
	argv[n++] = "inspect";
	if (extra != NULL)
		argv[n++] = (char *)extra;
	/* copy's --src-X options are inspect's --X (made here, freed below:
	 * those from first to last_made) */
	first_made = n;
	for (size_t i = 0; i < n_opts; i++)
		argv[n++] = strncmp(opts[i], "--src-", 6) == 0 ?
				    skopeo_opt("--%s", opts[i] + 6) :
				    strdup(opts[i]);
	last_made = n;
	argv[n++] = (char *)source;
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		dup2(null, STDIN_FILENO);
		dup2(pipe_fd[1], STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipe_fd[1]);
	for (size_t i = first_made; i < last_made; i++)
		free(argv[i]);
	free(argv);
	while (pid > 0) {
		ssize_t got;

		if (cap - len < 4096) {
			char *bigger = realloc(out, cap + 65536);

			if (bigger == NULL)
				break;
			out = bigger;
			cap += 65536;
		}
		got = read(pipe_fd[0], out + len, cap - len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(pipe_fd[0]);
	if (pid < 0)
		return NULL;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out == NULL || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(out);
		return NULL;
	}
	out[len] = '\0';
	return out;
}

/* Stand-ins for the blobs of layers the repository has by diff_id, read
 * from the config first: only the others are fetched. */
static void skip_known_layers(struct cfs_repo *repo, const char *layout,
			      char **opts, size_t n_opts, const char *source)
{
	struct cfs_error err = { { 0 } };
	char *image = skopeo_inspect(opts, n_opts, NULL, source);
	char *config = image ? skopeo_inspect(opts, n_opts, "--config",
					      source) :
			       NULL;
	size_t n;

	if (config != NULL &&
	    cfs_repo_pull_layout_skip_layers(repo, layout, image, config, &n,
					     &err) < 0)
		tool_die("%s", err.message);
	free(image);
	free(config);
}

static char *make_pull_layout(struct cfs_repo *repo)
{
	struct cfs_error err = { { 0 } };
	char *dir;

	if (cfs_repo_pull_layout_new(repo, &dir, &err) < 0)
		tool_die("%s", err.message);
	pull_dir = dir;
	return dir;
}

static int oci_pull(int argc, char **argv, struct cfs_import_options *opts,
		    char **skopeo_opts, size_t n_skopeo_opts, bool verbose)
{
	struct cfs_error err = { { 0 } };
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	const char *source = argv[optind], *name = argv[optind + 1];
	char *dest = NULL, *layout, **sargv;
	struct cfs_repo *repo;
	struct show show;
	size_t n = 0;
	int r;

	if (strchr(source, ':') == NULL)
		tool_bad_usage("'%s' is not TRANSPORT:REFERENCE "
			       "(e.g. docker://registry/name:tag)",
			       source);
	repo = open_repo(0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	layout = make_pull_layout(repo);
	if (asprintf(&dest, "oci:%s:pull", layout) < 0)
		tool_die("out of memory");
	skip_known_layers(repo, layout, skopeo_opts, n_skopeo_opts, source);

	sargv = calloc(n_skopeo_opts + 16, sizeof(*sargv));
	if (sargv == NULL)
		tool_die("out of memory");
	sargv[n++] = "skopeo";
	sargv[n++] = "copy";
	if (!verbose && !isatty(STDERR_FILENO))
		sargv[n++] = "--quiet";
	for (size_t i = 0; i < n_skopeo_opts; i++)
		sargv[n++] = skopeo_opts[i];
	sargv[n++] = (char *)source;
	sargv[n++] = dest;
	sargv[n] = NULL;
	run_skopeo(sargv, !verbose);
	free(sargv);

	show_init(&show, verbose);
	opts->progress = on_event;
	opts->userdata = &show;
	r = cfs_repo_import_oci(repo, layout, "pull", name, opts, digest, &err);
	show_end(&show);
	remove_tree(layout);
	pull_dir = NULL;
	free(layout);
	free(dest);
	if (r < 0)
		tool_die("%s (pulled from %s)", err.message, source);
	print_digest(repo, digest);
	cfs_repo_free(repo);
	return 0;
}

/* oci seal: the sealed copy of SRC into DEST. */
static int oci_seal(int argc, char **argv,
		    const struct cfs_import_options *iopts,
		    struct cfs_seal_options *opts, bool verbose)
{
	struct cfs_error err = { { 0 } };
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	char hex[CFS_DIGEST_HEX_MAX_SIZE];
	enum cfs_hash_alg alg = CFS_HASH_DEFAULT;
	char *src, *src_tag, *dest, *dest_tag;
	struct cfs_repo *repo;
	struct show show;

	if (argc - optind != 2)
		tool_bad_usage(
			"oci seal takes oci:SRC[:TAG] and oci:DEST[:TAG]");
	if (iopts->flags & (CFS_REPO_REPLACE | CFS_IMPORT_AS_UNPACKED))
		tool_bad_usage("oci seal seals the transformed image and names "
			       "nothing: no --replace, no --as-unpacked");
	if ((opts->sign_key == NULL) != (opts->sign_cert == NULL))
		tool_bad_usage("--sign-key and --sign-cert go together");
	split_oci_ref(argv[optind], &src, &src_tag);
	split_oci_ref(argv[optind + 1], &dest, &dest_tag);
	opts->flags = iopts->flags & CFS_IMPORT_KEEP_USER_XATTRS;
	opts->platform = iopts->platform;
	show_init(&show, verbose);
	opts->progress = on_event;
	opts->userdata = &show;
	repo = open_repo(0);
	if (cfs_repo_seal_oci(repo, src, src_tag, dest, dest_tag, opts, &alg,
			      digest, &err) < 0) {
		show_end(&show);
		tool_die("%s", err.message);
	}
	show_end(&show);
	cfs_digest_to_hex_alg(alg, digest, hex);
	printf("%s\n", hex);
	tool_check_stdout();
	cfs_repo_free(repo);
	return 0;
}

static char *skopeo_opt(const char *fmt, const char *arg)
{
	char *s = NULL;

	if (asprintf(&s, fmt, arg) < 0)
		tool_die("out of memory");
	return s;
}

int cmd_oci(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "replace", no_argument, NULL, OPT_REPLACE },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "as-unpacked", no_argument, NULL, OPT_AS_UNPACKED },
		{ "keep-user-xattrs", no_argument, NULL, OPT_KEEP_USER_XATTRS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "tls-verify", optional_argument, NULL, OPT_TLS_VERIFY },
		{ "creds", required_argument, NULL, OPT_CREDS },
		{ "authfile", required_argument, NULL, OPT_AUTHFILE },
		{ "cert-dir", required_argument, NULL, OPT_CERT_DIR },
		{ "require-sealed", no_argument, NULL, OPT_REQUIRE_SEALED },
		{ "trusted-cert", required_argument, NULL, OPT_TRUSTED_CERT },
		{ "sign-key", required_argument, NULL, OPT_SIGN_KEY },
		{ "sign-cert", required_argument, NULL, OPT_SIGN_CERT },
		TOOL_LONGOPTS,
	};
	struct cfs_import_options opts = { 0 };
	struct cfs_seal_options seal_opts = { 0 };
	const char **certs = NULL;
	size_t n_certs = 0;
	struct cfs_error err = { { 0 } };
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	char *skopeo_opts[8], *dir, *tag;
	size_t n_skopeo = 0;
	const char *verb, *name;
	bool verbose = false, pull, seal;
	struct cfs_repo *repo;
	struct show show;
	int opt, r;

	if (argc < 2)
		tool_bad_usage("oci takes a verb: import, pull or seal");
	verb = argv[1];
	if (strcmp(verb, "--help") == 0) {
		oci_usage(stdout);
		return 0;
	}
	if (strcmp(verb, "import") != 0 && strcmp(verb, "pull") != 0 &&
	    strcmp(verb, "seal") != 0)
		tool_bad_usage("unknown oci verb '%s' (import, pull or seal)",
			       verb);
	pull = strcmp(verb, "pull") == 0;
	seal = strcmp(verb, "seal") == 0;
	argc--;
	argv++;
	while ((opt = sub_getopt(argc, argv, "v", longopts, oci_usage)) != -1) {
		switch (opt) {
		case OPT_REPLACE:
			opts.flags |= CFS_REPO_REPLACE;
			break;
		case OPT_AS_UNPACKED:
			opts.flags |= CFS_IMPORT_AS_UNPACKED;
			break;
		case OPT_KEEP_USER_XATTRS:
			opts.flags |= CFS_IMPORT_KEEP_USER_XATTRS;
			break;
		case OPT_PLATFORM:
			opts.platform = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case OPT_REQUIRE_SEALED:
		case OPT_TRUSTED_CERT:
			if (seal)
				tool_bad_usage(
					"--%s is an option of oci import "
					"and oci pull",
					opt == OPT_REQUIRE_SEALED ?
						"require-sealed" :
						"trusted-cert");
			if (opt == OPT_REQUIRE_SEALED) {
				opts.flags |= CFS_IMPORT_REQUIRE_SEALED;
				break;
			}
			certs = realloc(certs, (n_certs + 1) * sizeof(*certs));
			if (certs == NULL)
				tool_die("out of memory");
			certs[n_certs++] = optarg;
			break;
		case OPT_SIGN_KEY:
		case OPT_SIGN_CERT:
			if (!seal)
				tool_bad_usage("--%s is an option of oci seal",
					       opt == OPT_SIGN_KEY ?
						       "sign-key" :
						       "sign-cert");
			if (opt == OPT_SIGN_KEY)
				seal_opts.sign_key = optarg;
			else
				seal_opts.sign_cert = optarg;
			break;
		case OPT_TLS_VERIFY:
		case OPT_CREDS:
		case OPT_AUTHFILE:
		case OPT_CERT_DIR:
			if (!pull)
				tool_bad_usage(
					"--%s is an option of oci pull",
					opt == OPT_TLS_VERIFY ? "tls-verify" :
					opt == OPT_CREDS      ? "creds" :
					opt == OPT_AUTHFILE   ? "authfile" :
								"cert-dir");
			if (n_skopeo + 1 >= ARRAY_SIZE(skopeo_opts))
				tool_bad_usage("too many options");
			if (opt == OPT_TLS_VERIFY) {
				const char *v = optarg ? optarg : "true";

				if (strcmp(v, "true") != 0 &&
				    strcmp(v, "false") != 0)
					tool_bad_usage("--tls-verify takes "
						       "true or false");
				skopeo_opts[n_skopeo++] = skopeo_opt(
					"--src-tls-verify=%s", v);
			} else if (opt == OPT_CREDS) {
				skopeo_opts[n_skopeo++] = skopeo_opt(
					"--src-creds=%s", optarg);
			} else if (opt == OPT_AUTHFILE) {
				skopeo_opts[n_skopeo++] = skopeo_opt(
					"--src-authfile=%s", optarg);
			} else {
				skopeo_opts[n_skopeo++] = skopeo_opt(
					"--src-cert-dir=%s", optarg);
			}
			break;
		default:
			tool_common_option(opt, oci_usage);
		}
	}
	opts.trusted_certs = certs;
	opts.n_trusted_certs = n_certs;
	if ((opts.flags & CFS_IMPORT_AS_UNPACKED) &&
	    (opts.flags & CFS_IMPORT_REQUIRE_SEALED || n_certs > 0))
		tool_bad_usage("--as-unpacked does not give the image a seal "
			       "is of: --require-sealed and --trusted-cert "
			       "need the transformed image");
	if (seal) {
		r = oci_seal(argc, argv, &opts, &seal_opts, verbose);
		free(certs);
		return r;
	}
	if (argc - optind != 2)
		tool_bad_usage("oci %s takes an image and a NAME", verb);
	name = argv[optind + 1];
	if (cfs_repo_check_name(name, &err) < 0)
		tool_bad_usage("%s", err.message);
	if (opts.platform != NULL && pull) {
		/* skopeo picks the platform of a multi-platform image */
		char os[32], arch[32], variant[32] = "";

		if (sscanf(opts.platform, "%31[^/]/%31[^/]/%31s", os, arch,
			   variant) < 2)
			tool_bad_usage("bad platform '%s' (OS/ARCH[/VARIANT])",
				       opts.platform);
		if (n_skopeo + 3 >= ARRAY_SIZE(skopeo_opts))
			tool_bad_usage("too many options");
		skopeo_opts[n_skopeo++] = skopeo_opt("--override-os=%s", os);
		skopeo_opts[n_skopeo++] = skopeo_opt("--override-arch=%s",
						     arch);
		if (variant[0] != '\0')
			skopeo_opts[n_skopeo++] = skopeo_opt(
				"--override-variant=%s", variant);
	}
	if (pull) {
		r = oci_pull(argc, argv, &opts, skopeo_opts, n_skopeo, verbose);
		for (size_t i = 0; i < n_skopeo; i++)
			free(skopeo_opts[i]);
		free(certs);
		return r;
	}

	split_oci_ref(argv[optind], &dir, &tag);
	show_init(&show, verbose);
	opts.progress = on_event;
	opts.userdata = &show;
	repo = open_repo(0);
	r = cfs_repo_import_oci(repo, dir, tag, name, &opts, digest, &err);
	show_end(&show);
	free(certs);
	if (r < 0)
		tool_die("%s", err.message);
	print_digest(repo, digest);
	cfs_repo_free(repo);
	return 0;
}
