/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* The repository API: init, names, images, listing, fsck, gc, locking. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "composefs-c/repo.h"
#include "test-util.h"

static char tmpdir[1024];

static void path_of(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmpdir, name);
}

static struct cfs_repo *new_repo(const char *name, unsigned flags)
{
	char path[PATH_MAX];
	struct cfs_error err = { "" };
	struct cfs_repo *repo = NULL;

	path_of(path, sizeof(path), name);
	assert_int_equal(cfs_repo_init(path, &err), 0);
	assert_int_equal(cfs_repo_open(path, flags, NULL, NULL, &repo, &err),
			 0);
	return repo;
}

/* A file of len pattern bytes in dir, its object put into the store; the
 * node of it under parent. */
static void add_file(struct cfs_store *store, struct cfs_node *parent,
		     const char *name, size_t len, unsigned seed)
{
	uint8_t *buf = malloc(len);
	uint8_t digest[CFS_DIGEST_SIZE];
	char object[CFS_OBJECT_PATH_SIZE];
	struct cfs_error err = { "" };
	struct cfs_node *node;
	int fd;

	assert_non_null(buf);
	tu_fill(buf, len, seed);
	cfs_fsverity_digest_buffer(buf, len, digest);
	fd = memfd_create("test-repo", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	if (store != NULL)
		assert_int_equal(cfs_store_add_fd(store, fd, digest, &err), 0);
	close(fd);
	free(buf);

	node = tu_add(parent, name, S_IFREG | 0644);
	cfs_node_set_size(node, len);
	cfs_node_set_digest(node, digest);
	cfs_digest_to_object_path(digest, object);
	assert_int_equal(cfs_node_set_payload(node, object), 0);
}

struct seen {
	char names[8][32];
	struct cfs_repo_image_info info[8];
	int n;
};

static int remember(void *userdata, const struct cfs_repo_image_info *info)
{
	struct seen *s = userdata;

	assert_true(s->n < 8);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", info->name);
	s->info[s->n] = *info;
	s->n++;
	return 0;
}

static void test_init_open(void **state)
{
	char path[PATH_MAX], file[PATH_MAX + 32];
	struct cfs_error err = { "" };
	struct cfs_repo *repo = NULL;
	int fd;

	path_of(path, sizeof(path), "init/deep/repo");
	assert_int_equal(cfs_repo_open(path, 0, NULL, NULL, &repo, &err),
			 -ENOENT);
	assert_non_null(strstr(err.message, "no repository"));
	assert_int_equal(cfs_repo_init(path, &err), 0);
	assert_int_equal(cfs_repo_init(path, &err), -EEXIST);
	assert_int_equal(cfs_repo_open(path, 0, NULL, NULL, &repo, &err), 0);
	assert_string_equal(cfs_repo_get_path(repo), path);
	snprintf(file, sizeof(file), "%s/objects", path);
	assert_string_equal(cfs_repo_get_objects_path(repo), file);

	/* a second shared user is fine; an exclusive one would wait */
	{
		struct cfs_repo *other = NULL;

		assert_int_equal(
			cfs_repo_open(path, 0, NULL, NULL, &other, &err), 0);
		cfs_repo_free(other);
		assert_int_equal(cfs_repo_open(path,
					       CFS_REPO_EXCLUSIVE |
						       CFS_REPO_NOWAIT,
					       NULL, NULL, &other, &err),
				 -EWOULDBLOCK);
	}
	cfs_repo_free(repo);

	/* a marker of a later format */
	snprintf(file, sizeof(file), "%s/composefs-repository", path);
	fd = open(file, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "composefs-repository 2\n", 23), 23);
	close(fd);
	assert_int_equal(cfs_repo_open(path, 0, NULL, NULL, &repo, &err),
			 -EPROTO);
	assert_non_null(strstr(err.message, "format 2"));

	/* a directory with other things in it is not made a repository */
	path_of(path, sizeof(path), "init/deep");
	assert_int_equal(cfs_repo_init(path, &err), -ENOTEMPTY);
}

static void test_names(void **state)
{
	struct cfs_error err = { "" };

	assert_int_equal(cfs_repo_check_name("fedora:40", &err), 0);
	assert_int_equal(cfs_repo_check_name("", &err), -EINVAL);
	assert_int_equal(cfs_repo_check_name(".x", &err), -EINVAL);
	assert_int_equal(cfs_repo_check_name("a/b", &err), -EINVAL);
	assert_int_equal(cfs_repo_check_name("a\nb", &err), -EINVAL);
}

/* Two images sharing one object: listing, replacing, rm and gc. */
static void test_images_and_gc(void **state)
{
	struct cfs_repo *repo = new_repo("images", CFS_REPO_EXCLUSIVE);
	struct cfs_write_options wopts = { 0, 1 };
	struct cfs_error err = { "" };
	struct cfs_store *store = NULL;
	struct cfs_node *a = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *b = tu_add(NULL, NULL, S_IFDIR | 0755);
	uint8_t da[CFS_DIGEST_SIZE], db[CFS_DIGEST_SIZE], got[CFS_DIGEST_SIZE];
	struct cfs_repo_gc_stats gc = { 0 };
	struct cfs_repo_fsck_stats fsck = { 0 };
	struct seen seen = { 0 };
	uint8_t *data = NULL;
	size_t size;

	assert_int_equal(cfs_repo_open_store(repo, &store, &err), 0);
	add_file(store, a, "shared", 10000, 1);
	add_file(store, a, "only-a", 20000, 2);
	add_file(store, b, "shared-too", 10000, 1);
	add_file(store, b, "only-b", 30000, 3);

	assert_int_equal(cfs_repo_add_image(repo, a, &wopts, store, "a", 0, da,
					    &err),
			 0);
	assert_int_equal(cfs_repo_add_image(repo, b, &wopts, store, "b", 0, db,
					    &err),
			 0);
	/* the same name for the same image is no conflict; for another one
	 * it is, unless replacing */
	assert_int_equal(cfs_repo_add_image(repo, a, &wopts, NULL, "a", 0, got,
					    &err),
			 0);
	assert_int_equal(cfs_repo_add_image(repo, b, &wopts, NULL, "a", 0, got,
					    &err),
			 -EEXIST);
	assert_int_equal(cfs_repo_resolve(repo, "a", got, &err), 0);
	assert_memory_equal(got, da, CFS_DIGEST_SIZE);
	assert_int_equal(cfs_repo_add_image(repo, a, &wopts, NULL, "a2", 0,
					    NULL, &err),
			 0);

	assert_int_equal(cfs_repo_list_images(repo, remember, &seen, &err), 0);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.names[0], "a");
	assert_string_equal(seen.names[1], "a2");
	assert_string_equal(seen.names[2], "b");
	assert_int_equal(seen.info[0].n_objects, 2);
	assert_int_equal(seen.info[0].object_bytes, 30000);
	/* two names of one image share nothing more than one name would */
	assert_int_equal(seen.info[0].shared_bytes, 10000);
	assert_int_equal(seen.info[0].unique_bytes, 20000);
	assert_int_equal(seen.info[2].shared_bytes, 10000);
	assert_int_equal(seen.info[2].unique_bytes, 30000);

	assert_int_equal(cfs_repo_read_image(repo, db, &data, &size, &err), 0);
	assert_true(size > 0);
	free(data);

	/* b's name goes: gc removes its image and its own object only */
	assert_int_equal(cfs_repo_remove_name(repo, "b", &err), 0);
	assert_int_equal(cfs_repo_remove_name(repo, "b", &err), -ENOENT);
	assert_int_equal(cfs_repo_resolve(repo, "b", got, &err), -ENOENT);
	assert_int_equal(
		cfs_repo_gc(repo, CFS_GC_DRY_RUN, NULL, NULL, &gc, &err), 0);
	assert_int_equal(gc.n_images, 1);
	assert_int_equal(gc.n_objects, 1);
	assert_int_equal(cfs_repo_gc(repo, 0, NULL, NULL, &gc, &err), 0);
	assert_int_equal(gc.n_images, 1);
	assert_int_equal(gc.n_objects, 1);
	assert_int_equal(gc.bytes, 30000 + size);
	assert_int_equal(cfs_repo_read_image(repo, db, &data, &size, &err),
			 -ENOENT);
	assert_int_equal(cfs_repo_gc(repo, 0, NULL, NULL, &gc, &err), 0);
	assert_int_equal(gc.n_images + gc.n_objects + gc.n_leftovers, 0);

	assert_int_equal(
		cfs_repo_fsck(repo, 0, 2, NULL, NULL, NULL, &fsck, &err), 0);
	assert_int_equal(fsck.n_problems, 0);
	assert_int_equal(fsck.n_names, 2);
	assert_int_equal(fsck.n_images, 1);
	assert_int_equal(fsck.n_objects, 2);

	cfs_store_free(store);
	cfs_node_unref(a);
	cfs_node_unref(b);
	cfs_repo_free(repo);
}

/* An image naming an object the repository lacks is refused, and no name
 * appears. gc needs the lock alone. */
static void test_missing_object(void **state)
{
	struct cfs_repo *repo = new_repo("missing", 0);
	struct cfs_write_options wopts = { 0, 1 };
	struct cfs_error err = { "" };
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	uint8_t got[CFS_DIGEST_SIZE];

	add_file(NULL, root, "nowhere", 5000, 9);
	assert_int_equal(cfs_repo_add_image(repo, root, &wopts, NULL, "x", 0,
					    NULL, &err),
			 -ENOENT);
	assert_non_null(strstr(err.message, "not in the repository"));
	assert_int_equal(cfs_repo_resolve(repo, "x", got, &err), -ENOENT);
	assert_int_equal(cfs_repo_gc(repo, 0, NULL, NULL, NULL, &err), -EINVAL);
	assert_int_equal(cfs_repo_fsck(repo, CFS_FSCK_REPAIR, 0, NULL, NULL,
				       NULL, NULL, &err),
			 -EINVAL);
	cfs_node_unref(root);
	cfs_repo_free(repo);
}

static int setup(void **state)
{
	return tu_make_tmpdir(tmpdir, sizeof(tmpdir), "test-repo");
}

static int teardown(void **state)
{
	return tu_remove_tree(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_open),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_images_and_gc),
		cmocka_unit_test(test_missing_object),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
