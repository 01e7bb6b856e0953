/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Listing a repository: the images its names reach, and the objects each
 * uses, shared or its own. Nothing found in the repository is trusted.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "composefs-c/repo.h"
#include "repo/layout.h"
#include "repo/repo_i.h"
#include "base/tmpfile_i.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Listing */

struct image_objects {
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	uint8_t (*objects)[CFS_DIGEST_MAX_SIZE];
	size_t n, cap;
	uint64_t image_size;
	int error;
	char *message;
};

struct collect {
	struct object_map *map;
	struct image_objects *image;
	uint32_t index; /* of the image, from 1 */
};

static int collect_object(void *userdata, const char *payload,
			  const uint8_t *digest, uint64_t size)
{
	struct collect *c = userdata;
	struct object_entry *e;

	if (digest == NULL)
		return 0; /* not an object of this store: counted by nobody */
	e = cfsi_object_map_add(c->map, digest);
	if (e == NULL)
		return -ENOMEM;
	if (e->last == c->index)
		return 0;
	e->last = c->index;
	e->refs++;
	e->size = size;
	if (c->image == NULL)
		return 0;
	if (c->image->n == c->image->cap) {
		size_t cap = c->image->cap ? c->image->cap * 2 : 256;
		void *p = reallocarray(c->image->objects, cap,
				       sizeof(*c->image->objects));

		if (p == NULL)
			return -ENOMEM;
		c->image->objects = p;
		c->image->cap = cap;
	}
	memcpy(c->image->objects[c->image->n++], digest, c->map->digest_size);
	return 0;
}

int cfs_repo_list_images(struct cfs_repo *repo, cfs_repo_image_fn fn,
			 void *userdata, struct cfs_error *err)
{
	struct name_list names = { 0 };
	struct object_map map = { .digest_size = repo->digest_size };
	struct image_objects *images = NULL;
	size_t n_images = 0;
	int r;

	r = cfsi_repo_read_names(repo, &names, err);
	if (r < 0)
		return r;
	images = calloc(names.n ? names.n : 1, sizeof(*images));
	if (images == NULL) {
		r = cfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* Each distinct image once: two names of one image share nothing. */
	for (size_t i = 0; i < names.n; i++) {
		struct cfs_error detail = { { 0 } };
		struct image_objects *img = NULL;
		struct cfs_node *root = NULL;
		struct collect c;

		for (size_t k = 0; k < n_images && img == NULL; k++)
			if (memcmp(images[k].digest, names.digests[i],
				   repo->digest_size) == 0)
				img = &images[k];
		if (img != NULL)
			continue;
		img = &images[n_images++];
		memcpy(img->digest, names.digests[i], repo->digest_size);
		r = cfsi_repo_load_tree(repo, img->digest, &img->image_size,
					&root, &detail);
		if (r < 0) {
			img->error = r;
			img->message = strdup(detail.message);
			continue;
		}
		c = (struct collect){ &map, img, (uint32_t)n_images };
		r = cfsi_tree_for_each_object(root, repo->alg, collect_object,
					      &c);
		cfs_node_unref(root);
		if (r < 0) {
			r = cfs_error_set(err, r, "out of memory");
			goto out;
		}
	}
	r = 0;
	for (size_t i = 0; i < names.n && r == 0; i++) {
		struct cfs_repo_image_info info = { .name = names.names[i] };
		struct image_objects *img = NULL;
		struct cfsi_oci_record rec = { 0 };

		for (size_t k = 0; k < n_images && img == NULL; k++)
			if (memcmp(images[k].digest, names.digests[i],
				   repo->digest_size) == 0)
				img = &images[k];
		memcpy(info.digest, img->digest, repo->digest_size);
		info.image_size = img->image_size;
		info.error = img->error;
		info.message = img->message ? img->message : "";
		for (size_t k = 0; k < img->n; k++) {
			const struct object_entry *e = cfsi_object_map_find(
				&map, img->objects[k]);

			info.n_objects++;
			info.object_bytes += e->size;
			if (e->refs > 1)
				info.shared_bytes += e->size;
			else
				info.unique_bytes += e->size;
		}
		if (cfsi_repo_read_record(repo, names.names[i],
					  names.digests[i], &rec) == 0) {
			info.manifest = rec.manifest;
			info.config = rec.config;
			info.n_layers = rec.n_layers;
		}
		r = fn(userdata, &info);
		cfsi_oci_record_free(&rec);
	}
out:
	for (size_t k = 0; k < n_images; k++) {
		free(images[k].objects);
		free(images[k].message);
	}
	free(images);
	cfsi_object_map_free(&map);
	cfsi_name_list_free(&names);
	return r;
}
