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
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
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

/* Whether the repository has the layer of diff_id hex, with its image. */
static bool layer_known(struct cfs_repo *repo, const char *hex)
{
	char line[CFS_DIGEST_HEX_MAX_SIZE + 8];
	char path[16 + CFS_DIGEST_HEX_MAX_SIZE];
	struct stat st;
	ssize_t n = cfsi_repo_read_file(repo, LAYOUT_LAYERS, hex, line,
					sizeof(line));

	if ((size_t)n != 2 * repo->digest_size + 1 || line[n - 1] != '\n')
		return false;
	line[n - 1] = '\0';
	if (!cfsi_is_lower_hex(line, repo->digest_size * 2))
		return false;
	snprintf(path, sizeof(path), LAYOUT_IMAGES "/%s", line);
	return fstatat(repo->dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

int cfs_repo_pull_layout_skip_layers(struct cfs_repo *repo, const char *layout,
				     const char *inspect_json,
				     const char *config_json, size_t *ret_n,
				     struct cfs_error *err)
{
	json_object *inspect = json_tokener_parse(inspect_json);
	json_object *config = json_tokener_parse(config_json);
	json_object *blobs, *rootfs, *diff_ids;
	_cleanup_close_ int blobs_fd = -1;
	size_t n = 0, skipped = 0;
	char path[PATH_MAX];
	int r = 0;

	*ret_n = 0;
	/* what the two do not say, or say differently, is fetched */
	if (inspect == NULL || config == NULL ||
	    !json_object_object_get_ex(inspect, "Layers", &blobs) ||
	    !json_object_is_type(blobs, json_type_array) ||
	    !json_object_object_get_ex(config, "rootfs", &rootfs) ||
	    !json_object_object_get_ex(rootfs, "diff_ids", &diff_ids) ||
	    !json_object_is_type(diff_ids, json_type_array) ||
	    (n = json_object_array_length(blobs)) !=
		    json_object_array_length(diff_ids))
		goto out;
	snprintf(path, sizeof(path), "%s/blobs/sha256", layout);
	blobs_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (blobs_fd < 0) {
		r = cfs_error_set(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		uint8_t blob[32], diff[32];
		char blob_hex[65], diff_hex[65];

		if (cfsi_parse_sha256(
			    json_object_get_string(
				    json_object_array_get_idx(blobs, i)),
			    blob) < 0 ||
		    cfsi_parse_sha256(
			    json_object_get_string(
				    json_object_array_get_idx(diff_ids, i)),
			    diff) < 0)
			continue;
		cfs_digest_to_hex(blob, blob_hex);
		cfs_digest_to_hex(diff, diff_hex);
		if (!layer_known(repo, diff_hex))
			continue;
		/* an empty stand-in: the import reuses the layer by its
		 * diff_id and never opens it */
		r = write_new_file(blobs_fd, blob_hex, "");
		if (r == -EEXIST)
			r = 0;
		else if (r == 0)
			skipped++;
		if (r < 0)
			r = cfs_error_set(err, r, "%s/%s: %s", path, blob_hex,
					  strerror(-r));
	}
	*ret_n = skipped;
out:
	json_object_put(inspect);
	json_object_put(config);
	return r;
}
