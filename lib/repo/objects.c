/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The objects of trees and repositories: objects counted by digest (an
 * open-addressed map), the objects a tree names, object paths back to
 * digests, and a file's fs-verity digest as the kernel or we compute it.
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
/* Objects by digest */

static size_t map_home(const struct object_map *map, const uint8_t *digest)
{
	uint64_t h;

	memcpy(&h, digest, sizeof(h));
	return h & (map->size - 1);
}

struct object_entry *cfsi_object_map_find(const struct object_map *map,
					  const uint8_t *digest)
{
	if (map->size == 0)
		return NULL;
	for (size_t i = map_home(map, digest); map->slots[i].used;
	     i = (i + 1) & (map->size - 1))
		if (memcmp(map->slots[i].digest, digest,
			   map->digest_size ? map->digest_size :
					      CFS_DIGEST_SIZE) == 0)
			return &map->slots[i];
	return NULL;
}

struct object_entry *cfsi_object_map_add(struct object_map *map,
					 const uint8_t *digest)
{
	struct object_entry *e = cfsi_object_map_find(map, digest);
	size_t i;

	if (e != NULL)
		return e;
	if ((map->n + 1) * 2 > map->size) {
		struct object_map bigger = {
			.size = map->size ? map->size * 2 : 1024,
			.digest_size = map->digest_size,
		};

		bigger.slots = calloc(bigger.size, sizeof(*bigger.slots));
		if (bigger.slots == NULL)
			return NULL;
		for (size_t k = 0; k < map->size; k++) {
			if (!map->slots[k].used)
				continue;
			for (i = map_home(&bigger, map->slots[k].digest);
			     bigger.slots[i].used;
			     i = (i + 1) & (bigger.size - 1))
				;
			bigger.slots[i] = map->slots[k];
		}
		bigger.n = map->n;
		free(map->slots);
		*map = bigger;
	}
	for (i = map_home(map, digest); map->slots[i].used;
	     i = (i + 1) & (map->size - 1))
		;
	e = &map->slots[i];
	*e = (struct object_entry){ .used = true };
	memcpy(e->digest, digest,
	       map->digest_size ? map->digest_size : CFS_DIGEST_SIZE);
	map->n++;
	return e;
}

void cfsi_object_map_free(struct object_map *map)
{
	free(map->slots);
	*map = (struct object_map){ .digest_size = map->digest_size };
}

int cfsi_tree_for_each_object(const struct cfs_node *root,
			      enum cfs_hash_alg alg, tree_object_fn fn,
			      void *userdata)
{
	for (size_t i = 0; i < cfs_node_get_n_children(root); i++) {
		const struct cfs_node *n = cfs_node_get_child(root, i);
		uint32_t type = cfs_node_get_mode(n) & S_IFMT;
		const char *payload = cfs_node_get_payload(n);
		uint8_t digest[CFS_DIGEST_MAX_SIZE];
		int r;

		if (type == S_IFDIR) {
			r = cfsi_tree_for_each_object(n, alg, fn, userdata);
		} else if (type == S_IFREG && payload != NULL &&
			   payload[0] != '\0' &&
			   cfs_node_get_content(n) == NULL &&
			   cfs_node_get_hardlink_target(n) == NULL) {
			/* what the writer points at with a redirect */
			bool ok = cfsi_object_path_to_digest(payload, alg,
							     digest) == 0;

			r = fn(userdata, payload, ok ? digest : NULL,
			       cfs_node_get_size(n));
		} else {
			r = 0;
		}
		if (r != 0)
			return r;
	}
	return 0;
}

int cfsi_object_path_to_digest(const char *path, enum cfs_hash_alg alg,
			       uint8_t *ret_digest)
{
	size_t size = cfs_hash_alg_digest_size(alg);
	char hex[CFS_DIGEST_HEX_MAX_SIZE];

	if (size == 0 || strlen(path) != 2 * size + 1 || path[2] != '/')
		return -EINVAL;
	memcpy(hex, path, 2);
	memcpy(hex + 2, path + 3, size * 2 - 2);
	hex[size * 2] = '\0';
	for (const char *p = hex; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return -EINVAL;
	return cfs_digest_from_hex_alg(alg, hex, ret_digest);
}

int cfsi_file_digest(int fd, enum cfs_hash_alg alg, uint8_t *ret_digest)
{
	int r = cfs_fsverity_measure_fd_alg(fd, alg, ret_digest);

	if (r == 0)
		return 0;
	return cfs_fsverity_digest_fd_alg(alg, fd, ret_digest);
}

void cfsi_repo_to_hex(const struct cfs_repo *repo, const uint8_t *digest,
		      char *ret_hex)
{
	cfs_digest_to_hex_alg(repo->alg, digest, ret_hex);
}

int cfsi_repo_from_hex(const struct cfs_repo *repo, const char *hex,
		       uint8_t *ret_digest)
{
	return cfs_digest_from_hex_alg(repo->alg, hex, ret_digest);
}
