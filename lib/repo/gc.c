/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * gc: removes what no name and no existing mount recorded by composefs
 * mount reaches (images, objects, layer records, mount records and pulls
 * left behind) and leftovers of interrupted writes, with the
 * repository locked exclusive.
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
#include <time.h>
#include <unistd.h>

#include "composefs-c/repo.h"
#include "repo/layout.h"
#include "repo/repo_i.h"
#include "base/tmpfile_i.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* gc */

struct gc {
	struct cfs_repo *repo;
	unsigned flags;
	cfs_repo_gc_fn fn;
	void *userdata;
	struct cfs_repo_gc_stats stats;
};

/* Remove path (relative to the repository), a file; 0 or -errno. */
static int gc_remove(struct gc *g, const char *path, uint64_t *counter,
		     struct cfs_error *err)
{
	struct stat st;

	if (fstatat(g->repo->dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 :
					 cfs_error_set(err, -errno, "%s/%s: %s",
						       g->repo->path, path,
						       strerror(errno));
	if (S_ISDIR(st.st_mode))
		return 0; /* not ours to remove: fsck reports it */
	if (!(g->flags & CFS_GC_DRY_RUN) &&
	    unlinkat(g->repo->dir_fd, path, 0) != 0 && errno != ENOENT)
		return cfs_error_set(err, -errno, "cannot remove %s/%s: %s",
				     g->repo->path, path, strerror(errno));
	(*counter)++;
	if (S_ISREG(st.st_mode))
		g->stats.bytes += (uint64_t)st.st_size;
	if (g->fn != NULL)
		g->fn(g->userdata, path,
		      S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0);
	return 0;
}

static int keep_object(void *userdata, const char *payload,
		       const uint8_t *digest, uint64_t size)
{
	struct object_map *live = userdata;

	if (digest == NULL)
		return 0; /* not an object of this store */
	return cfsi_object_map_add(live, digest) == NULL ? -ENOMEM : 0;
}

/* The image of digest and its objects are alive. -ENOENT when the image
 * is missing, another -errno when it cannot be read. */
static int gc_keep_image(struct cfs_repo *repo, const uint8_t *digest,
			 struct object_map *live,
			 struct object_map *live_images, struct cfs_error *err)
{
	struct cfs_node *root = NULL;
	int r;

	if (cfsi_object_map_find(live_images, digest))
		return 0;
	r = cfsi_repo_load_tree(repo, digest, NULL, &root, err);
	if (r < 0)
		return r;
	if (cfsi_object_map_add(live_images, digest) == NULL) {
		cfs_node_unref(root);
		return cfs_error_set(err, -ENOMEM, "out of memory");
	}
	r = cfsi_tree_for_each_object(root, repo->alg, keep_object, live);
	cfs_node_unref(root);
	return r < 0 ? cfs_error_set(err, r, "out of memory") : 0;
}

/* The layer of diff_id hex is alive, with its image, when that can be
 * read. Only -ENOMEM is an error. */
static int gc_keep_layer(struct cfs_repo *repo, const char *hex,
			 struct object_map *live,
			 struct object_map *live_images,
			 struct object_map *live_layers)
{
	char line[CFS_DIGEST_HEX_MAX_SIZE + 8];
	uint8_t digest[CFS_DIGEST_MAX_SIZE], diff[CFS_DIGEST_SIZE];
	struct cfs_error ignored;
	ssize_t n;
	int r;

	if (cfs_digest_from_hex(hex, diff) < 0 ||
	    cfsi_object_map_find(live_layers, diff))
		return 0;
	n = cfsi_repo_read_file(repo, LAYOUT_LAYERS, hex, line, sizeof(line));
	if ((size_t)n != 2 * repo->digest_size + 1 || line[n - 1] != '\n')
		return 0;
	line[n - 1] = '\0';
	if (cfsi_repo_from_hex(repo, line, digest) < 0)
		return 0;
	r = gc_keep_image(repo, digest, live, live_images, &ignored);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return 0;
	return cfsi_object_map_add(live_layers, diff) ? 0 : -ENOMEM;
}

static int remove_tree_at(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct cfsi_dir_list l = { 0 };
	int r = 0;

	if (fd < 0)
		return unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT ?
			       0 :
			       -errno;
	r = cfsi_list_dir(fd, ".", &l);
	for (size_t i = 0; i < l.n && r == 0; i++)
		r = remove_tree_at(fd, l.names[i]);
	cfsi_dir_list_free(&l);
	close(fd);
	if (r == 0 && unlinkat(dir_fd, name, AT_REMOVEDIR) != 0 &&
	    errno != ENOENT)
		r = -errno;
	return r;
}

/* The images of the mounts recorded in DIR/mounts/ that still exist are
 * alive; the records of those gone (or unreadable) go to ret_stale, to be
 * removed once every root is known. A mount whose existence cannot be
 * told keeps its image and record. */
static int gc_keep_mounts(struct gc *g, struct object_map *live,
			  struct object_map *live_images,
			  struct cfsi_dir_list *ret_stale,
			  struct cfs_error *err)
{
	struct cfsi_dir_list l = { 0 };
	size_t n_stale = 0;
	int r = 0;

	*ret_stale = (struct cfsi_dir_list){ 0 };
	if (cfsi_list_dir(g->repo->dir_fd, LAYOUT_MOUNTS, &l) < 0)
		return 0; /* none recorded yet */
	for (size_t i = 0; i < l.n && r == 0; i++) {
		struct cfs_error detail = { { 0 } };
		uint8_t digest[CFS_DIGEST_MAX_SIZE];
		int m = cfsi_is_tmp_name(l.names[i]) ?
				-EINVAL :
				cfsi_repo_read_mount(g->repo, l.names[i],
						     digest);

		if (m == -ESTALE || m == -EINVAL) {
			/* move the name to the front: the stale ones */
			char *t = l.names[n_stale];

			l.names[n_stale++] = l.names[i];
			l.names[i] = t;
			continue;
		}
		if (m < 0)
			continue;
		r = gc_keep_image(g->repo, digest, live, live_images, &detail);
		if (r == -ENOENT)
			r = 0; /* its image file is gone already */
		else if (r < 0)
			r = cfs_error_set(
				err, -EUCLEAN,
				"the image mounted as recorded in %s/" LAYOUT_MOUNTS
				"/%s cannot be read, so what it uses is not known; nothing removed: %s",
				g->repo->path, l.names[i], detail.message);
	}
	if (r < 0) {
		cfsi_dir_list_free(&l);
		return r;
	}
	for (size_t i = n_stale; i < l.n; i++)
		free(l.names[i]);
	l.n = n_stale;
	*ret_stale = l;
	return 0;
}

/* The records of imports: those of names gone or moved, of layers no
 * record of a live name lists, and what interrupted pulls left. */
static int gc_records(struct gc *g, const struct name_list *names,
		      const struct object_map *live_layers,
		      struct cfs_error *err)
{
	struct cfs_repo *repo = g->repo;
	struct cfsi_dir_list l = { 0 };
	char path[PATH_MAX];
	int r = 0;

	if (cfsi_list_dir(repo->dir_fd, LAYOUT_OCI, &l) == 0) {
		for (size_t i = 0; i < l.n && r == 0; i++) {
			struct cfsi_oci_record rec;
			size_t k;

			for (k = 0; k < names->n; k++)
				if (strcmp(names->names[k], l.names[i]) == 0)
					break;
			if (k < names->n &&
			    cfsi_repo_read_record(repo, l.names[i],
						  names->digests[k],
						  &rec) == 0) {
				cfsi_oci_record_free(&rec);
				continue;
			}
			snprintf(path, sizeof(path), LAYOUT_OCI "/%s",
				 l.names[i]);
			r = gc_remove(g, path, &g->stats.n_leftovers, err);
		}
		cfsi_dir_list_free(&l);
	}
	if (r == 0 && cfsi_list_dir(repo->dir_fd, LAYOUT_LAYERS, &l) == 0) {
		for (size_t i = 0; i < l.n && r == 0; i++) {
			uint8_t diff[CFS_DIGEST_SIZE];

			if (cfsi_is_lower_hex(l.names[i],
					      CFS_DIGEST_SIZE * 2) &&
			    cfs_digest_from_hex(l.names[i], diff) == 0 &&
			    cfsi_object_map_find(live_layers, diff))
				continue;
			snprintf(path, sizeof(path), LAYOUT_LAYERS "/%s",
				 l.names[i]);
			r = gc_remove(g, path, &g->stats.n_leftovers, err);
		}
		cfsi_dir_list_free(&l);
	}
	if (r == 0 &&
	    cfsi_list_dir(repo->dir_fd, LAYOUT_LAYER_BLOBS, &l) == 0) {
		for (size_t i = 0; i < l.n && r == 0; i++) {
			char hex[65];
			uint8_t diff[CFS_DIGEST_SIZE];
			int64_t size;

			if (cfsi_repo_read_layer_blob(repo, l.names[i], hex,
						      &size) == 0 &&
			    cfs_digest_from_hex(hex, diff) == 0 &&
			    cfsi_object_map_find(live_layers, diff))
				continue;
			snprintf(path, sizeof(path), LAYOUT_LAYER_BLOBS "/%s",
				 l.names[i]);
			r = gc_remove(g, path, &g->stats.n_leftovers, err);
		}
		cfsi_dir_list_free(&l);
	}
	/* nothing pulls while gc holds the lock alone */
	if (r == 0 && cfsi_list_dir(repo->dir_fd, LAYOUT_PULL, &l) == 0) {
		int fd = openat(repo->dir_fd, LAYOUT_PULL,
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		for (size_t i = 0; fd >= 0 && i < l.n && r == 0; i++) {
			g->stats.n_leftovers++;
			if (g->fn != NULL) {
				snprintf(path, sizeof(path), LAYOUT_PULL "/%s",
					 l.names[i]);
				g->fn(g->userdata, path, 0);
			}
			if (!(g->flags & CFS_GC_DRY_RUN)) {
				r = remove_tree_at(fd, l.names[i]);
				if (r < 0)
					r = cfs_error_set(
						err, r,
						"cannot remove %s/" LAYOUT_PULL
						"/%s: %s",
						repo->path, l.names[i],
						strerror(-r));
			}
		}
		if (fd >= 0)
			close(fd);
		cfsi_dir_list_free(&l);
	}
	return r;
}

/* The Merkle trees composefs mount --fuse kept: those of objects no named
 * image uses go with their objects, temporaries once no server can still
 * be writing them. Anything else there is left to fsck. */
static int gc_trees(struct gc *g, const struct object_map *live,
		    struct cfs_error *err)
{
	struct cfsi_dir_list l = { 0 };
	char path[PATH_MAX];
	int r = 0;

	if (cfsi_list_dir(g->repo->dir_fd, LAYOUT_TREES, &l) < 0)
		return 0; /* none kept yet */
	for (size_t i = 0; i < l.n && r == 0; i++) {
		uint8_t digest[CFS_DIGEST_MAX_SIZE];
		struct stat st;

		snprintf(path, sizeof(path), LAYOUT_TREES "/%s", l.names[i]);
		if (l.names[i][0] == '.') {
			if (fstatat(g->repo->dir_fd, path, &st,
				    AT_SYMLINK_NOFOLLOW) == 0 &&
			    time(NULL) - st.st_mtime > LAYOUT_TREES_TMP_GRACE_S)
				r = gc_remove(g, path, &g->stats.n_leftovers,
					      err);
		} else if (cfsi_is_lower_hex(l.names[i],
					     g->repo->digest_size * 2) &&
			   cfsi_repo_from_hex(g->repo, l.names[i], digest) ==
				   0 &&
			   cfsi_object_map_find(live, digest) == NULL) {
			r = gc_remove(g, path, &g->stats.n_leftovers, err);
		}
	}
	cfsi_dir_list_free(&l);
	return r;
}

int cfs_repo_gc(struct cfs_repo *repo, unsigned flags, cfs_repo_gc_fn fn,
		void *userdata, struct cfs_repo_gc_stats *ret_stats,
		struct cfs_error *err)
{
	struct gc g = { repo, flags, fn, userdata, { 0 } };
	struct name_list names = { 0 };
	struct object_map live = { .digest_size = repo->digest_size };
	struct object_map live_images = { .digest_size = repo->digest_size };
	/* by diff_id: OCI's sha256 */
	struct object_map live_layers = { 0 };
	struct cfsi_dir_list l = { 0 };
	struct cfsi_dir_list stale_mounts = { 0 };
	char path[PATH_MAX];
	int r;

	if (!(repo->flags & CFS_REPO_EXCLUSIVE))
		return cfs_error_set(
			err, -EINVAL,
			"gc needs the repository opened exclusive");

	/* The roots, and everything they reach: any doubt stops gc before
	 * it removes anything. */
	r = cfsi_repo_read_names(repo, &names, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < names.n; i++) {
		struct cfs_error detail = { { 0 } };
		struct cfsi_oci_record rec;

		r = gc_keep_image(repo, names.digests[i], &live, &live_images,
				  &detail);
		if (r == -ENOENT)
			continue; /* a dangling name keeps nothing */
		if (r < 0) {
			r = cfs_error_set(
				err, -EUCLEAN,
				"the image named '%s' cannot be read, so what it uses is not known; nothing removed: %s",
				names.names[i], detail.message);
			goto out;
		}
		/* the layers it was imported from, while their images can
		 * be read (else they are imported again when needed) */
		if (cfsi_repo_read_record(repo, names.names[i],
					  names.digests[i], &rec) < 0)
			continue;
		for (size_t k = 0; k < rec.n_layers && r == 0; k++)
			r = gc_keep_layer(repo, rec.layers[k], &live,
					  &live_images, &live_layers);
		cfsi_oci_record_free(&rec);
		if (r < 0) {
			r = cfs_error_set(err, r, "out of memory");
			goto out;
		}
	}

	/* the images of mounts that exist (as recorded by composefs mount) */
	r = gc_keep_mounts(&g, &live, &live_images, &stale_mounts, err);
	if (r < 0)
		goto out;

	for (size_t i = 0; i < stale_mounts.n && r == 0; i++) {
		snprintf(path, sizeof(path), LAYOUT_MOUNTS "/%s",
			 stale_mounts.names[i]);
		r = gc_remove(&g, path, &g.stats.n_leftovers, err);
	}
	if (r == 0)
		r = gc_records(&g, &names, &live_layers, err);
	if (r < 0)
		goto out;

	/* Names: only leftovers go. */
	r = cfsi_list_dir(repo->dir_fd, LAYOUT_NAMES, &l);
	if (r < 0) {
		r = cfs_error_set(err, r, "%s/" LAYOUT_NAMES ": %s", repo->path,
				  strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < l.n && r == 0; i++) {
		snprintf(path, sizeof(path), LAYOUT_NAMES "/%s", l.names[i]);
		if (cfsi_is_tmp_name(l.names[i]))
			r = gc_remove(&g, path, &g.stats.n_leftovers, err);
	}
	cfsi_dir_list_free(&l);
	if (r < 0)
		goto out;

	/* Images no name reaches. */
	r = cfsi_list_dir(repo->dir_fd, LAYOUT_IMAGES, &l);
	if (r < 0) {
		r = cfs_error_set(err, r, "%s/" LAYOUT_IMAGES ": %s",
				  repo->path, strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < l.n && r == 0; i++) {
		uint8_t digest[CFS_DIGEST_MAX_SIZE];

		snprintf(path, sizeof(path), LAYOUT_IMAGES "/%s", l.names[i]);
		if (cfsi_is_tmp_name(l.names[i]))
			r = gc_remove(&g, path, &g.stats.n_leftovers, err);
		else if (cfsi_is_lower_hex(l.names[i], repo->digest_size * 2) &&
			 cfsi_repo_from_hex(repo, l.names[i], digest) == 0 &&
			 cfsi_object_map_find(&live_images, digest) == NULL)
			r = gc_remove(&g, path, &g.stats.n_images, err);
	}
	cfsi_dir_list_free(&l);
	if (r < 0)
		goto out;

	/* Objects no named image uses. */
	r = cfsi_list_dir(repo->dir_fd, LAYOUT_OBJECTS, &l);
	if (r < 0) {
		r = cfs_error_set(err, r, "%s/" LAYOUT_OBJECTS ": %s",
				  repo->path, strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < l.n && r == 0; i++) {
		struct cfsi_dir_list sub = { 0 };

		snprintf(path, sizeof(path), LAYOUT_OBJECTS "/%s", l.names[i]);
		if (cfsi_is_tmp_name(l.names[i])) {
			r = gc_remove(&g, path, &g.stats.n_leftovers, err);
			continue;
		}
		if (!cfsi_is_lower_hex(l.names[i], 2))
			continue;
		if (cfsi_list_dir(repo->dir_fd, path, &sub) < 0)
			continue; /* not a directory: fsck's to report */
		for (size_t k = 0; k < sub.n && r == 0; k++) {
			char obj[CFS_OBJECT_PATH_MAX_SIZE + 16];
			uint8_t digest[CFS_DIGEST_MAX_SIZE];

			snprintf(path, sizeof(path), LAYOUT_OBJECTS "/%s/%s",
				 l.names[i], sub.names[k]);
			snprintf(obj, sizeof(obj), "%s/%s", l.names[i],
				 sub.names[k]);
			if (cfsi_is_tmp_name(sub.names[k]))
				r = gc_remove(&g, path, &g.stats.n_leftovers,
					      err);
			else if (cfsi_object_path_to_digest(obj, repo->alg,
							    digest) == 0 &&
				 cfsi_object_map_find(&live, digest) == NULL)
				r = gc_remove(&g, path, &g.stats.n_objects,
					      err);
		}
		cfsi_dir_list_free(&sub);
	}
	cfsi_dir_list_free(&l);
	if (r == 0)
		r = gc_trees(&g, &live, err);
	if (r == 0 && !(flags & CFS_GC_DRY_RUN) && syncfs(repo->dir_fd) != 0)
		r = cfs_error_set(err, -errno, "%s: syncfs: %s", repo->path,
				  strerror(errno));
	if (r == 0 && ret_stats != NULL)
		*ret_stats = g.stats;
out:
	cfsi_dir_list_free(&stale_mounts);
	cfsi_object_map_free(&live);
	cfsi_object_map_free(&live_images);
	cfsi_object_map_free(&live_layers);
	cfsi_name_list_free(&names);
	return r;
}
