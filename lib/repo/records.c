/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * What a repository records of its imports (the files of DIR/layers/,
 * DIR/layer-blobs/ and DIR/oci/, lib/repo/layout.h), read here for the
 * listing, gc, fsck and pulls; lib/oci/ writes them. Also the small
 * parsers those records and OCI's JSON share (sha256 digests, strings).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "composefs-c/repo.h"
#include "repo/layout.h"
#include "repo/repo_i.h"
#include "base/util.h"

/* A record bigger than this is not read. */
#define RECORD_MAX (8 << 20)

const char *cfsi_json_str(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool cfsi_is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

/* "sha256:<64 hex>" to its bytes; -EINVAL otherwise (-EOPNOTSUPP for
 * another algorithm). */
int cfsi_parse_sha256(const char *s, uint8_t ret[32])
{
	if (s == NULL)
		return -EINVAL;
	if (!str_has_prefix(s, "sha256:"))
		return strchr(s, ':') != NULL ? -EOPNOTSUPP : -EINVAL;
	s += 7;
	if (!cfsi_is_lower_hex(s, 64))
		return -EINVAL;
	for (size_t i = 0; i < 32; i++)
		ret[i] = (uint8_t)(hex_value(s[2 * i]) << 4 |
				   hex_value(s[2 * i + 1]));
	return 0;
}

int cfsi_repo_read_record(struct cfs_repo *repo, const char *name,
			  const uint8_t *digest, struct cfsi_oci_record *ret)
{
	_cleanup_free_ char *buf = malloc(RECORD_MAX);
	char hex[CFS_DIGEST_HEX_MAX_SIZE];
	json_object *rec = NULL, *layers;
	const char *image;
	ssize_t n;
	int r = -EINVAL;

	memset(ret, 0, sizeof(*ret));
	if (buf == NULL)
		return -ENOMEM;
	n = cfsi_repo_read_file(repo, LAYOUT_OCI, name, buf, RECORD_MAX);
	if (n < 0)
		return (int)n;
	rec = json_tokener_parse(buf);
	if (rec == NULL || !json_object_is_type(rec, json_type_object))
		goto out;
	cfsi_repo_to_hex(repo, digest, hex);
	image = cfsi_json_str(rec, "image");
	if (image == NULL || strcmp(image, hex) != 0) {
		r = -ESTALE; /* of an image the name no longer names */
		goto out;
	}
	if (!json_object_object_get_ex(rec, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array))
		goto out;
	ret->n_layers = json_object_array_length(layers);
	ret->layers = calloc(ret->n_layers ? ret->n_layers : 1,
			     sizeof(*ret->layers));
	if (ret->layers == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ret->n_layers; i++) {
		uint8_t sha[32];

		if (cfsi_parse_sha256(
			    json_object_get_string(
				    json_object_array_get_idx(layers, i)),
			    sha) < 0)
			goto out;
		for (size_t k = 0; k < 32; k++)
			snprintf(ret->layers[i] + 2 * k, 3, "%02x", sha[k]);
	}
	snprintf(ret->manifest, sizeof(ret->manifest), "%s",
		 cfsi_json_str(rec, "manifest") ?
			 cfsi_json_str(rec, "manifest") :
			 "");
	snprintf(ret->config, sizeof(ret->config), "%s",
		 cfsi_json_str(rec, "config") ? cfsi_json_str(rec, "config") :
						"");
	r = 0;
out:
	json_object_put(rec);
	if (r < 0)
		cfsi_oci_record_free(ret);
	return r;
}

void cfsi_oci_record_free(struct cfsi_oci_record *rec)
{
	free(rec->layers);
	rec->layers = NULL;
	rec->n_layers = 0;
}

int cfsi_repo_read_layer_blob(struct cfs_repo *repo, const char *hex,
			      char ret_diff[65], int64_t *ret_size)
{
	char line[128], *end;
	long long size = -1;
	ssize_t n;

	if (!cfsi_is_lower_hex(hex, 64))
		return -EINVAL;
	n = cfsi_repo_read_file(repo, LAYOUT_LAYER_BLOBS, hex, line,
				sizeof(line));
	if (n < 0)
		return (int)n;
	if (n < 65 || line[n - 1] != '\n')
		return -EINVAL;
	line[n - 1] = '\0';
	if (line[64] == ' ') {
		/* the blob's size, recorded since; older records lack it */
		errno = 0;
		size = strtoll(line + 65, &end, 10);
		if (errno != 0 || *end != '\0' || end == line + 65 ||
		    line[65] < '0' || line[65] > '9')
			return -EINVAL;
		line[64] = '\0';
	}
	if (!cfsi_is_lower_hex(line, 64))
		return -EINVAL;
	memcpy(ret_diff, line, 65);
	*ret_size = size;
	return 0;
}

int cfs_repo_list_layer_blobs(struct cfs_repo *repo, char ***ret_hex,
			      size_t *ret_n, struct cfs_error *err)
{
	int dir_fd = openat(repo->dir_fd, LAYOUT_LAYER_BLOBS,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct cfsi_dir_list l = { 0 };
	char **out;
	size_t n = 0;
	int r;

	*ret_hex = NULL;
	*ret_n = 0;
	if (dir_fd < 0)
		return errno == ENOENT ?
			       0 :
			       cfs_error_set(err, -errno,
					     "%s/" LAYOUT_LAYER_BLOBS ": %s",
					     repo->path, strerror(errno));
	r = cfsi_list_dir(dir_fd, ".", &l);
	close(dir_fd);
	if (r < 0)
		return cfs_error_set(err, r, "%s/" LAYOUT_LAYER_BLOBS ": %s",
				     repo->path, strerror(-r));
	out = calloc(l.n ? l.n : 1, sizeof(*out));
	if (out == NULL) {
		cfsi_dir_list_free(&l);
		return cfs_error_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < l.n; i++) {
		char diff[65],
			path[sizeof(LAYOUT_LAYERS "/") + 64] = LAYOUT_LAYERS
			"/";
		int64_t size;
		struct stat st;

		if (cfsi_repo_read_layer_blob(repo, l.names[i], diff, &size) <
		    0)
			continue;
		memcpy(path + sizeof(LAYOUT_LAYERS "/") - 1, diff, 65);
		if (fstatat(repo->dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) !=
			    0 ||
		    !S_ISREG(st.st_mode))
			continue;
		out[n++] = l.names[i];
		l.names[i] = NULL;
	}
	cfsi_dir_list_free(&l);
	*ret_hex = out;
	*ret_n = n;
	return 0;
}
