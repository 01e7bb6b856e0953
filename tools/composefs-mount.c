/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* composefs mount: a named image, checked against its digest, mounted by
 * the kernel as root, else served by composefs-fuse. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "composefs-cmd.h"
#include "composefs-c/repo.h"
#include "tool.h"

enum {
	OPT_FUSE = TOOL_OPT_FIRST,
	OPT_SIGNED_BY,
};

static void mount_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--repo DIR] mount [-o OPTIONS] [--fuse] [--signed-by CERT]...\n"
		"                  NAME MOUNTPOINT\n"
		"Mount the image NAME on MOUNTPOINT, with the repository's objects\n"
		"as its object directory, refusing an image file whose digest is not\n"
		"the one NAME points to (for an image imported sealed, the digest\n"
		"sealed). As root the kernel mounts it (EROFS and overlayfs);\n"
		"otherwise, or with --fuse or verify=, composefs-fuse serves it,\n"
		"checking every file's content against its digest.\n"
		"\n"
		"  --signed-by CERT     the image's seal must carry a signature of\n"
		"                       its digest by this certificate's key (PEM;\n"
		"                       repeatable: any of them)\n"
		"\n"
		"Options (-o, comma-separated):\n"
		"  ro, rw, nosuid, nodev, noexec, noatime\n"
		"  verity               every file must have fs-verity, which the\n"
		"                       kernel checks (kernel mount)\n"
		"  tryverity            the same where the kernel can\n"
		"  upperdir=DIR,workdir=DIR  a writable overlay (kernel mount)\n"
		"  verify=full|open|none how composefs-fuse checks contents\n"
		"  shared, noshared     composefs-fuse -o shared (one object server\n"
		"                       for all mounts; the default in a user\n"
		"                       namespace of one's own), or not\n"
		"  other options are passed to composefs-fuse\n",
		tool_name);
}

struct mount_settings {
	struct cfs_mount_options kernel;
	char *fuse_opts; /* extra -o for composefs-fuse, comma-separated */
	bool fuse;
	bool kernel_only; /* an option only the kernel mount has */
	int shared; /* -o shared (1), -o noshared (0), else -1: the default */
};

static void append_fuse_opt(struct mount_settings *s, const char *opt)
{
	char *joined;

	if (asprintf(&joined, "%s%s%s", s->fuse_opts ? s->fuse_opts : "",
		     s->fuse_opts ? "," : "", opt) < 0)
		tool_die("out of memory");
	free(s->fuse_opts);
	s->fuse_opts = joined;
}

static void parse_mount_options(struct mount_settings *s, char *list)
{
	static const struct {
		const char *name;
		unsigned set, clear;
		bool fuse_too;
	} flags[] = {
		{ "ro", CFS_MOUNT_READONLY, 0, false },
		{ "rw", 0, CFS_MOUNT_READONLY, false },
		{ "verity", CFS_MOUNT_VERITY, 0, false },
		{ "tryverity", CFS_MOUNT_TRY_VERITY, 0, false },
		{ "nosuid", CFS_MOUNT_NOSUID, 0, true },
		{ "nodev", CFS_MOUNT_NODEV, 0, true },
		{ "noexec", CFS_MOUNT_NOEXEC, 0, true },
		{ "noatime", CFS_MOUNT_NOATIME, 0, true },
	};
	char *save = NULL;

	for (char *opt = strtok_r(list, ",", &save); opt != NULL;
	     opt = strtok_r(NULL, ",", &save)) {
		bool known = false;

		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			if (strcmp(opt, flags[i].name) != 0)
				continue;
			s->kernel.flags = (s->kernel.flags | flags[i].set) &
					  ~flags[i].clear;
			if (flags[i].fuse_too)
				append_fuse_opt(s, opt);
			known = true;
		}
		if (known)
			continue;
		if (strncmp(opt, "upperdir=", 9) == 0) {
			s->kernel.upperdir = opt + 9;
			s->kernel_only = true;
		} else if (strncmp(opt, "workdir=", 8) == 0) {
			s->kernel.workdir = opt + 8;
			s->kernel_only = true;
		} else if (strcmp(opt, "shared") == 0) {
			s->shared = 1;
			s->fuse = true;
		} else if (strcmp(opt, "noshared") == 0) {
			s->shared = 0;
		} else if (strncmp(opt, "basedir=", 8) == 0 ||
			   strncmp(opt, "digest=", 7) == 0) {
			tool_bad_usage("mount option '%s': the repository "
				       "gives the objects and the digest",
				       opt);
		} else {
			/* verify= and the rest are composefs-fuse's */
			if (strncmp(opt, "verify=", 7) == 0)
				s->fuse = true;
			append_fuse_opt(s, opt);
		}
	}
}

/* The mount on target is recorded in the repository as a root for gc;
 * when that fails it is undone, else gc could remove what it serves. */
static void record_mount(struct cfs_repo *repo, const char *name,
			 const char *target, const uint8_t *digest)
{
	struct cfs_error err = { { 0 } };

	if (cfs_repo_record_mount(repo, target, digest, &err) == 0)
		return;
	if (umount2(target, MNT_DETACH) != 0)
		tool_die("'%s' is mounted on %s but not recorded as a root "
			 "for gc (%s), and cannot be unmounted: %s",
			 name, target, err.message, strerror(errno));
	tool_die("cannot record the mount of '%s' on %s, so unmounted it: %s",
		 name, target, err.message);
}

/* Run composefs-fuse, which mounts and goes into the background, and
 * wait for it: its status, or 127 when it cannot be run. */
static int run_fuse_server(const char *server, const char *opts,
			   const char *image, const char *target)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		tool_die("fork: %s", strerror(errno));
	if (pid == 0) {
		execl(server, server, "-o", opts, image, target, (char *)NULL);
		if (strchr(server, '/') == NULL)
			execlp(server, server, "-o", opts, image, target,
			       (char *)NULL);
		fprintf(stderr, "%s: cannot run %s: %s\n", tool_name, server,
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			tool_die("waitpid: %s", strerror(errno));
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* The repository's directory of Merkle trees, for composefs-fuse to keep
 * those it verifies (a second mount need not hash a whole object at its
 * first open), or NULL where it cannot have one: a user who cannot make or
 * read it still mounts, verifying from scratch. A -o treecache= given
 * comes later and wins. */
static char *fuse_trees_dir(struct cfs_repo *repo)
{
	char *trees = NULL;

	if (cfs_repo_trees_dir(repo, &trees, NULL) < 0)
		return NULL;
	if (strchr(trees, ',') != NULL || access(trees, R_OK | X_OK) != 0) {
		free(trees);
		return NULL;
	}
	return trees;
}

/* composefs-fuse beside this program, else on the PATH. */
static char *find_fuse_server(void)
{
	const char *env = getenv("COMPOSEFS_FUSE");
	char self[PATH_MAX], *slash, *path;
	ssize_t n;

	if (env != NULL && env[0] != '\0')
		return strdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			if (asprintf(&path, "%s/composefs-fuse", self) >= 0) {
				if (access(path, X_OK) == 0)
					return path;
				free(path);
			}
		}
	}
	return strdup("composefs-fuse");
}

/* An image imported from a sealed OCI image is mounted with the digest
 * sealed, which the name must still point to; with certificates, the
 * seal's signature must verify (the digest names the image the mount
 * checks: the kernel path checks it again on what it measures). */
static void check_seal(struct cfs_repo *repo, const char *name,
		       const uint8_t *digest, const char *const *certs,
		       size_t n_certs, struct cfs_mount_signature *ret)
{
	struct cfs_error err = { { 0 } };
	uint8_t sealed[CFS_DIGEST_MAX_SIZE];
	char hex[CFS_DIGEST_HEX_MAX_SIZE], sealed_hex[CFS_DIGEST_HEX_MAX_SIZE];
	enum cfs_hash_alg alg = CFS_HASH_DEFAULT;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int r;

	r = cfs_repo_read_seal(repo, name, &alg, sealed, &sig, &sig_len, &err);
	if (r == -ENODATA && n_certs > 0)
		tool_die("'%s' has no seal whose signature --signed-by could "
			 "check: %s",
			 name, err.message);
	if (r == -ENODATA)
		return;
	if (r < 0)
		tool_die("%s", err.message);
	/* the name's digest is of the repository's algorithm */
	if (alg != cfs_repo_get_hash_alg(repo) ||
	    memcmp(sealed, digest, cfs_hash_alg_digest_size(alg)) != 0) {
		cfs_digest_to_hex_alg(cfs_repo_get_hash_alg(repo), digest, hex);
		cfs_digest_to_hex_alg(alg, sealed, sealed_hex);
		tool_die("'%s' was imported sealed as %s but names image %s",
			 name, sealed_hex, hex);
	}
	if (n_certs == 0) {
		free(sig);
		return;
	}
	if (sig == NULL)
		tool_die("'%s' is sealed without a signature (--signed-by)",
			 name);
	if (cfs_verity_verify(alg, sealed, sig, sig_len, certs, n_certs, &err) <
	    0)
		tool_die("'%s': the signature of its seal: %s", name,
			 err.message);
	ret->sig = sig;
	ret->sig_len = sig_len;
	ret->cert_paths = certs;
	ret->n_certs = n_certs;
}

int cmd_mount(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "fuse", no_argument, NULL, OPT_FUSE },
		{ "signed-by", required_argument, NULL, OPT_SIGNED_BY },
		TOOL_LONGOPTS,
	};
	struct cfs_mount_signature signature = { 0 };
	const char **certs = NULL;
	size_t n_certs = 0;
	struct mount_settings s = { .kernel = { .idmap_fd = -1 },
				    .shared = -1 };
	struct cfs_error err = { { 0 } };
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	char hex[CFS_DIGEST_HEX_MAX_SIZE];
	struct cfs_repo *repo;
	const char *name, *target, *objects;
	char *image;
	int opt, status;

	while ((opt = sub_getopt(argc, argv, "o:", longopts, mount_usage)) !=
	       -1) {
		if (opt == 'o')
			parse_mount_options(&s, optarg);
		else if (opt == OPT_FUSE)
			s.fuse = true;
		else if (opt == OPT_SIGNED_BY) {
			certs = reallocarray(certs, n_certs + 1,
					     sizeof(*certs));
			if (certs == NULL)
				tool_die("out of memory");
			certs[n_certs++] = optarg;
		} else
			tool_common_option(opt, mount_usage);
	}
	if (argc - optind != 2)
		tool_bad_usage("mount takes a NAME and a MOUNTPOINT");
	name = argv[optind];
	target = argv[optind + 1];
	if (geteuid() != 0)
		s.fuse = true;
	/* root of a user namespace of one's own: no EROFS mounts, but
	 * overlayfs, so composefs-fuse -o shared (one page-cache copy of a
	 * file however many images share it) */
	if (geteuid() == 0 && !tool_in_initial_userns()) {
		s.fuse = true;
		if (s.shared < 0)
			s.shared = 1;
	}
	if (s.shared == 1)
		append_fuse_opt(&s, "shared");
	if (s.fuse && s.kernel_only)
		tool_bad_usage("upperdir and workdir need the kernel mount "
			       "(as root, without --fuse or verify=)");
	if ((s.kernel.upperdir == NULL) != (s.kernel.workdir == NULL))
		tool_bad_usage("upperdir and workdir go together");

	repo = open_repo(0);
	if (cfs_repo_resolve(repo, name, digest, &err) < 0)
		tool_die("%s", err.message);
	check_seal(repo, name, digest, certs, n_certs, &signature);
	image = cfs_repo_image_path(repo, digest);
	if (image == NULL)
		tool_die("out of memory");
	objects = cfs_repo_get_objects_path(repo);
	cfs_digest_to_hex_alg(cfs_repo_get_hash_alg(repo), digest, hex);

	if (!s.fuse) {
		const char *basedirs[] = { objects };

		s.kernel.basedirs = basedirs;
		s.kernel.n_basedirs = 1;
		/* the library checks the image against it, on a copy it then
		 * mounts where the file has no fs-verity (a repository's
		 * images need not have it); the objects as with tryverity
		 * unless -o verity */
		s.kernel.digest = digest;
		s.kernel.hash_alg = cfs_repo_get_hash_alg(repo);
		s.kernel.flags |= CFS_MOUNT_DIGEST_COPY;
		/* the library checks it on the digest it measures */
		if (n_certs > 0)
			s.kernel.signature = &signature;
		if (cfs_mount_image(image, target, &s.kernel, &err) < 0)
			tool_die("cannot mount '%s' on %s: %s", name, target,
				 err.message);
		/* still under the lock taken before the mount: no gc ran */
		record_mount(repo, name, target, digest);
		cfs_repo_free(repo);
		free(image);
		free(s.fuse_opts);
		free((void *)signature.sig);
		free(certs);
		return 0;
	} else {
		char *server = find_fuse_server(), *opts;

		if (server == NULL)
			tool_die("out of memory");
		if (strchr(objects, ',') != NULL)
			tool_die("the repository path %s has a ',', which "
				 "composefs-fuse options cannot carry",
				 objects);
		char *trees = fuse_trees_dir(repo);

		if (asprintf(&opts, "basedir=%s,digest=%s%s%s%s%s", objects,
			     hex, trees ? ",treecache=" : "",
			     trees ? trees : "", s.fuse_opts ? "," : "",
			     s.fuse_opts ? s.fuse_opts : "") < 0)
			tool_die("out of memory");
		free(trees);
		/* the server does not inherit the lock (close-on-exec), which
		 * is held until the mount is recorded: no gc runs between */
		status = run_fuse_server(server, opts, image, target);
		if (status == 0)
			record_mount(repo, name, target, digest);
		cfs_repo_free(repo);
		free(image);
		free(server);
		free(opts);
		free(s.fuse_opts);
		free((void *)signature.sig);
		free(certs);
		return status;
	}
}
