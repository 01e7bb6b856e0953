/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * mount.composefs: mount a composefs image, by hand or as the helper that
 * mount(8) runs for `mount -t composefs IMAGE TARGET -o OPTIONS`.
 *
 * Exit status 0 when mounted, 1 on any failure. Bad usage is a failure too:
 * mount(8) passes its helpers' status on, and there 1 means "incorrect
 * invocation or permissions" (2 would read as a system error).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "composefs-c/composefs.h"
#include "tool.h"

struct settings {
	char **basedirs;
	size_t n_basedirs;
	char *digest;
	char *weakdigest;
	char *hash_alg;
	char *signature;
	char **certs;
	size_t n_certs;
	char *upperdir;
	char *workdir;
	char *idmap;
	unsigned flags;
	bool sloppy, fake, verbose;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [-o OPTIONS] IMAGE TARGET\n"
		"Mount the composefs image IMAGE on the directory TARGET. mount(8)\n"
		"runs it for: mount -t composefs IMAGE TARGET -o OPTIONS\n"
		"\n"
		"Mount options (comma-separated; inside a value write a comma as \\,\n"
		"and a backslash as \\\\, or put the value in double quotes):\n"
		"  basedir=DIR[:DIR...]  object directories, searched in order\n"
		"                        (required; \\: for a colon in a name)\n"
		"  digest=HEX            the image file must have fs-verity with this\n"
		"                        digest, and every object fs-verity (implies\n"
		"                        verity); 64 hex digits for SHA-256, 128 for\n"
		"                        SHA-512\n"
		"  hash-alg=ALG          the image's fs-verity algorithm, sha256 or\n"
		"                        sha512 (default: told by digest='s length,\n"
		"                        else sha256)\n"
		"  weakdigest=HEX        weaker, for images without fs-verity: a sealed\n"
		"                        copy of the image is checked and mounted; the\n"
		"                        objects are checked as with tryverity\n"
		"  signature=FILE        the image's digest must carry this fs-verity\n"
		"                        signature (PKCS#7, DER, as fsverity sign\n"
		"                        writes it)...\n"
		"  signed-by=CERT[:CERT...]\n"
		"                        ...by one of these certificates (PEM); as\n"
		"                        digest= the image must have fs-verity (with\n"
		"                        weakdigest= a sealed copy is checked)\n"
		"  verity                every file must have an fs-verity digest that\n"
		"                        the kernel checks (refused where it cannot)\n"
		"  tryverity             as verity where the kernel can, else without\n"
		"  upperdir=DIR          a writable overlay: changes go to DIR...\n"
		"  workdir=DIR           ...with DIR as overlayfs' work directory\n"
		"  idmap=PATH            idmap the image's owners through the user\n"
		"                        namespace PATH (/proc/PID/ns/user)\n"
		"  ro, rw                read-only, read-write (the default; writable\n"
		"                        only with an upperdir)\n"
		"  nosuid, nodev, noexec, noatime\n"
		"                        the usual mount flags\n"
		"  defaults, auto, noauto, nofail, _netdev, suid, dev, exec, atime,\n"
		"  relatime, x-*, comment=*\n"
		"                        accepted and ignored\n"
		"\n"
		"Options:\n"
		"  -o OPTIONS     mount options as above (may be repeated)\n"
		"  -t composefs   the filesystem type (composefs only)\n"
		"  -s             ignore unknown mount options\n"
		"  -f             check the image and options, mount nothing\n"
		"  -n             do not write /etc/mtab (it never is)\n"
		"  -v             say what was mounted\n"
		"  -N NS          mount in the mount namespace NS (a path or a PID)\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n"
		"\n"
		"Exit status: 0 when mounted, 1 on failure or bad usage.\n",
		tool_name);
}

/* Not tool_bad_usage(): a mount helper's bad usage exits with 1, which
 * mount(8) reads as "incorrect invocation or permissions" (2 would be a
 * system error). */
static void bad_usage(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", tool_name);
	exit(EXIT_FAILURE);
}

static void *xmalloc(size_t size)
{
	void *p = malloc(size);

	if (p == NULL)
		tool_die("out of memory");
	return p;
}

/* The end of the option starting at s: its first ',' outside quotes and
 * not escaped by a backslash, or the end of the string. */
static const char *option_end(const char *s)
{
	bool quoted = false;

	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			quoted = !quoted;
		else if (*s == ',' && !quoted)
			break;
	}
	return s;
}

/* Take the text from *src up to the first character of stops that is not
 * quoted or escaped (or up to end), without the quotes and escaping
 * backslashes; *src is left at that character. */
static char *take_token(const char **src, const char *end, const char *stops)
{
	char *out = xmalloc(end - *src + 1), *d = out;
	const char *s = *src;
	bool quoted = false;

	for (; s < end; s++) {
		if (*s == '\\' && s + 1 < end) {
			*d++ = *++s;
		} else if (*s == '"') {
			quoted = !quoted;
		} else if (!quoted && strchr(stops, *s) != NULL) {
			break;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
	*src = s;
	return out;
}

/* A colon-separated list of paths (basedir=, signed-by=). */
static void set_paths(char ***list, size_t *n, const char *key, const char *s,
		      const char *end)
{
	for (size_t i = 0; i < *n; i++)
		free((*list)[i]);
	free(*list);
	*list = xmalloc((end - s + 1) * sizeof(char *));
	*n = 0;
	for (;;) {
		char *path = take_token(&s, end, ":");

		if (path[0] == '\0')
			bad_usage("empty path in %s", key);
		(*list)[(*n)++] = path;
		if (s == end)
			break;
		s++;
	}
}

static bool ignored_option(const char *key)
{
	static const char *const ignored[] = {
		"defaults", "auto", "noauto", "nofail",	  "_netdev", "suid",
		"dev",	    "exec", "atime",  "relatime", "nouser",
	};

	if (strncmp(key, "x-", 2) == 0 || strcmp(key, "comment") == 0)
		return true;
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		if (strcmp(key, ignored[i]) == 0)
			return true;
	}
	return false;
}

/* A flag option: set it and return true, or false for another key. */
static bool set_flag(struct settings *set, const char *key)
{
	static const struct {
		const char *name;
		unsigned set, clear;
	} flags[] = {
		{ "ro", CFS_MOUNT_READONLY, 0 },
		{ "rw", 0, CFS_MOUNT_READONLY },
		{ "verity", CFS_MOUNT_VERITY, 0 },
		{ "tryverity", CFS_MOUNT_TRY_VERITY, 0 },
		{ "nosuid", CFS_MOUNT_NOSUID, 0 },
		{ "nodev", CFS_MOUNT_NODEV, 0 },
		{ "noexec", CFS_MOUNT_NOEXEC, 0 },
		{ "noatime", CFS_MOUNT_NOATIME, 0 },
	};

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (strcmp(key, flags[i].name) == 0) {
			set->flags = (set->flags | flags[i].set) &
				     ~flags[i].clear;
			return true;
		}
	}
	return false;
}

/* Where the value of a key=value option goes, or NULL for another key. */
static char **value_slot(struct settings *set, const char *key)
{
	if (strcmp(key, "digest") == 0)
		return &set->digest;
	if (strcmp(key, "weakdigest") == 0)
		return &set->weakdigest;
	if (strcmp(key, "hash-alg") == 0)
		return &set->hash_alg;
	if (strcmp(key, "signature") == 0)
		return &set->signature;
	if (strcmp(key, "upperdir") == 0)
		return &set->upperdir;
	if (strcmp(key, "workdir") == 0)
		return &set->workdir;
	if (strcmp(key, "idmap") == 0)
		return &set->idmap;
	return NULL;
}

/* One option, the text from s to end. */
static void parse_option(struct settings *set, const char *s, const char *end)
{
	char *key = take_token(&s, end, "=");
	bool has_value = s < end;
	char **slot = value_slot(set, key);

	if (has_value)
		s++;
	if (slot != NULL || strcmp(key, "basedir") == 0 ||
	    strcmp(key, "signed-by") == 0) {
		if (!has_value || s == end)
			bad_usage("mount option %s needs a value", key);
		if (strcmp(key, "basedir") == 0) {
			set_paths(&set->basedirs, &set->n_basedirs, key, s,
				  end);
		} else if (slot == NULL) {
			set_paths(&set->certs, &set->n_certs, key, s, end);
		} else {
			free(*slot);
			*slot = take_token(&s, end, "");
		}
	} else if (has_value || !set_flag(set, key)) {
		if (!ignored_option(key) && !set->sloppy)
			bad_usage("unknown mount option '%s'", key);
	}
	free(key);
}

static void parse_options(struct settings *set, const char *options)
{
	const char *s = options;

	while (*s != '\0') {
		const char *end = option_end(s);

		if (end > s)
			parse_option(set, s, end);
		s = *end == ',' ? end + 1 : end;
	}
}

static void settings_free(struct settings *set)
{
	for (size_t i = 0; i < set->n_basedirs; i++)
		free(set->basedirs[i]);
	free(set->basedirs);
	free(set->digest);
	free(set->weakdigest);
	free(set->hash_alg);
	free(set->signature);
	for (size_t i = 0; i < set->n_certs; i++)
		free(set->certs[i]);
	free(set->certs);
	free(set->upperdir);
	free(set->workdir);
	free(set->idmap);
}

/* -N: a mount namespace by path, or by the PID of a process in it. */
static void enter_namespace(const char *ns)
{
	char path[64];
	int fd;

	if (ns[0] != '\0' && strspn(ns, "0123456789") == strlen(ns)) {
		snprintf(path, sizeof(path), "/proc/%s/ns/mnt", ns);
		ns = path;
	}
	fd = open(ns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		tool_die("%s: %s", ns, strerror(errno));
	if (setns(fd, CLONE_NEWNS) < 0)
		tool_die("entering the mount namespace %s: %s", ns,
			 strerror(errno));
	close(fd);
}

/* signature=FILE: its bytes (a PKCS#7 signature is a few KiB at most). */
static void read_signature(const char *path, struct cfs_mount_signature *sig)
{
	enum {
		SIG_MAX = 1 << 20
	};
	uint8_t *buf = xmalloc(SIG_MAX);
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		tool_die("signature %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		tool_die("signature %s: not a regular file", path);
	for (;;) {
		ssize_t n = read(fd, buf + len, SIG_MAX - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			tool_die("signature %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == SIG_MAX)
			tool_die("signature %s: larger than %d bytes", path,
				 SIG_MAX);
	}
	close(fd);
	sig->sig = buf;
	sig->sig_len = len;
}

/* -f: everything but the mount. */
static void check_only(const char *image_path)
{
	struct cfs_image *image = NULL;
	struct cfs_error err;
	int r;

	r = cfs_image_open(image_path, &image, &err);
	if (r < 0)
		tool_die("%s: %s", image_path, err.message);
	cfs_image_free(image);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct settings set = { 0 };
	struct cfs_mount_options opts = { .idmap_fd = -1 };
	struct cfs_mount_signature signature = { 0 };
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	enum cfs_hash_alg alg = CFS_HASH_SHA256, digest_alg;
	const char *namespace = NULL;
	char *options = NULL;
	struct cfs_error err;
	int opt, r;

	tool_init("mount.composefs");
	while ((opt = getopt_long(argc, argv, "o:t:sfnvN:hV", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'o':
			if (options == NULL) {
				options = strdup(optarg);
			} else {
				char *joined;

				if (asprintf(&joined, "%s,%s", options,
					     optarg) < 0)
					joined = NULL;
				free(options);
				options = joined;
			}
			if (options == NULL)
				tool_die("out of memory");
			break;
		case 't':
			if (strcmp(optarg, "composefs") != 0)
				bad_usage("unsupported filesystem type '%s'",
					  optarg);
			break;
		case 's':
			set.sloppy = true;
			break;
		case 'f':
			set.fake = true;
			break;
		case 'n':
			break;
		case 'v':
			set.verbose = true;
			break;
		case 'N':
			namespace
			= optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			tool_print_version();
			return EXIT_SUCCESS;
		default:
			fprintf(stderr,
				"Try '%s --help' for more information.\n",
				tool_name);
			return EXIT_FAILURE;
		}
	}
	if (argc - optind != 2)
		bad_usage(argc - optind < 2 ? "IMAGE and TARGET are required" :
					      "too many arguments");
	/* -s is honoured wherever it appears among the options. */
	if (options != NULL)
		parse_options(&set, options);
	free(options);

	if (set.n_basedirs == 0)
		bad_usage("no object directory: give -o basedir=DIR");
	if ((set.upperdir == NULL) != (set.workdir == NULL))
		bad_usage("upperdir and workdir go together");
	opts.basedirs = (const char *const *)set.basedirs;
	opts.n_basedirs = set.n_basedirs;
	opts.upperdir = set.upperdir;
	opts.workdir = set.workdir;
	opts.flags = set.flags;
	if (set.digest != NULL && set.weakdigest != NULL)
		bad_usage("digest and weakdigest exclude each other");
	if (set.weakdigest != NULL) {
		/* the image is checked on a sealed copy; the objects as with
		 * tryverity, unless verity is given too */
		free(set.digest);
		set.digest = set.weakdigest;
		set.weakdigest = NULL;
		opts.flags |= CFS_MOUNT_DIGEST_COPY;
	}
	if (set.hash_alg != NULL &&
	    cfs_hash_alg_from_name(set.hash_alg, &alg) < 0)
		bad_usage("unknown hash algorithm '%s' (sha256 or sha512)",
			  set.hash_alg);
	if (set.digest != NULL) {
		if (cfs_digest_from_hex_any(set.digest, &digest_alg, digest) <
		    0)
			bad_usage("invalid digest '%s': expected 64 (SHA-256) "
				  "or 128 (SHA-512) hex digits",
				  set.digest);
		if (set.hash_alg != NULL && digest_alg != alg)
			bad_usage("digest '%s' is no %s digest (hash-alg=%s)",
				  set.digest, set.hash_alg, set.hash_alg);
		alg = digest_alg;
		opts.digest = digest;
	}
	opts.hash_alg = alg;

	if ((set.signature == NULL) != (set.n_certs == 0))
		bad_usage("signature and signed-by go together");
	if (set.signature != NULL) {
		read_signature(set.signature, &signature);
		signature.cert_paths = (const char *const *)set.certs;
		signature.n_certs = set.n_certs;
		opts.signature = &signature;
	}

	if (namespace != NULL)
		enter_namespace(namespace);
	if (set.idmap != NULL) {
		opts.idmap_fd = open(set.idmap, O_RDONLY | O_CLOEXEC);
		if (opts.idmap_fd < 0)
			tool_die("%s: %s", set.idmap, strerror(errno));
		opts.flags |= CFS_MOUNT_IDMAP;
	}

	if (set.fake) {
		check_only(argv[optind]);
	} else {
		r = cfs_mount_image(argv[optind], argv[optind + 1], &opts,
				    &err);
		if (r < 0)
			tool_die("Failed to mount composefs %s: %s",
				 argv[optind], err.message);
		if (set.verbose)
			printf("%s: mounted %s on %s\n", tool_name,
			       argv[optind], argv[optind + 1]);
	}
	if (opts.idmap_fd >= 0)
		close(opts.idmap_fd);
	free((void *)signature.sig);
	settings_free(&set);
	return EXIT_SUCCESS;
}
