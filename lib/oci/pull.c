/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Pulls: the empty OCI image layout in the repository that a registry
 * client (skopeo, run by the composefs command) fills and an OCI import
 * then reads, with the blobs the repository has already standing in as
 * empty files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "composefs-c/repo.h"
#include "repo/layout.h"
#include "repo/repo_i.h"
#include "base/util.h"

/* Write text as the file name in dir_fd (new, mode 0600). */
static int write_new_file(int dir_fd, const char *name, const char *text)
{
	_cleanup_close_ int fd = openat(
		dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	return cfsi_write_all(fd, text, strlen(text));
}

int cfs_repo_pull_layout_new(struct cfs_repo *repo, char **ret_path,
			     struct cfs_error *err)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int dir_fd = -1;
	_cleanup_close_ int blobs_fd = -1;
	char **known = NULL;
	size_t n_known = 0;
	int r;

	if (mkdirat(repo->dir_fd, LAYOUT_PULL, 0700) != 0 && errno != EEXIST)
		return cfs_error_set(err, -errno, "%s/" LAYOUT_PULL ": %s",
				     repo->path, strerror(errno));
	if (asprintf(&dir, "%s/" LAYOUT_PULL "/XXXXXX", repo->path) < 0) {
		dir = NULL;
		return cfs_error_set(err, -ENOMEM, "out of memory");
	}
	if (mkdtemp(dir) == NULL)
		return cfs_error_set(err, -errno, "%s: %s", dir,
				     strerror(errno));
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	r = dir_fd < 0 ? -errno : 0;
	if (r == 0)
		r = write_new_file(dir_fd, "oci-layout",
				   "{\"imageLayoutVersion\":\"1.0.0\"}\n");
	if (r == 0)
		r = write_new_file(dir_fd, "index.json",
				   "{\"schemaVersion\":2,\"manifests\":[]}\n");
	if (r == 0 && (mkdirat(dir_fd, "blobs", 0700) != 0 ||
		       mkdirat(dir_fd, "blobs/sha256", 0700) != 0))
		r = -errno;
	if (r == 0) {
		blobs_fd = openat(dir_fd, "blobs/sha256",
				  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (blobs_fd < 0)
			r = -errno;
	}
	if (r < 0)
		return cfs_error_set(err, r, "%s: %s", dir, strerror(-r));
	r = cfs_repo_list_layer_blobs(repo, &known, &n_known, err);
	if (r < 0)
		return r;
	/* an empty file for each blob held: a pull skips those */
	for (size_t i = 0; i < n_known; i++) {
		if (r == 0)
			r = write_new_file(blobs_fd, known[i], "");
		free(known[i]);
	}
	free(known);
	if (r < 0)
		return cfs_error_set(err, r, "%s/blobs/sha256: %s", dir,
				     strerror(-r));
	*ret_path = TAKE_PTR(dir);
	return 0;
}
