/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* The object store: atomic, idempotent, thread-safe additions. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
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

#include "composefs-c/composefs.h"
#include "test-util.h"

/* short enough that every path built from it fits in PATH_MAX */
static char tmpdir[1024];
static int n_tmp_files;

/* A file of len pattern bytes; returns an fd open for reading and its
 * digest. */
static int make_source(const char *name, size_t len, unsigned seed,
		       uint8_t digest[CFS_DIGEST_SIZE])
{
	char path[PATH_MAX];
	uint8_t *buf = malloc(len ? len : 1);
	int fd;

	assert_non_null(buf);
	tu_fill(buf, len, seed);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
	cfs_fsverity_digest_buffer(buf, len, digest);
	free(buf);
	return fd;
}

static void store_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmpdir, name);
}

static struct cfs_store *open_store(const char *name)
{
	char path[PATH_MAX];
	struct cfs_error err = { "" };
	struct cfs_store *store = NULL;

	store_path(path, sizeof(path), name);
	assert_int_equal(cfs_store_open(path, CFS_STORE_CREATE, &store, &err),
			 0);
	assert_non_null(store);
	return store;
}

static int count_tmp(const char *path, const struct stat *st, int type,
		     struct FTW *ftw)
{
	if (strncmp(path + ftw->base, ".tmp-", 5) == 0)
		n_tmp_files++;
	return 0;
}

static int tmp_files_in(const char *name)
{
	char path[PATH_MAX];

	store_path(path, sizeof(path), name);
	n_tmp_files = 0;
	assert_int_equal(nftw(path, count_tmp, 16, FTW_PHYS), 0);
	return n_tmp_files;
}

/* The object's content must equal the source's. */
static void assert_same_content(int object_fd, int src_fd)
{
	struct stat a, b;
	void *ma, *mb;

	assert_int_equal(fstat(object_fd, &a), 0);
	assert_int_equal(fstat(src_fd, &b), 0);
	assert_int_equal(a.st_size, b.st_size);
	if (a.st_size == 0)
		return;
	ma = mmap(NULL, a.st_size, PROT_READ, MAP_SHARED, object_fd, 0);
	mb = mmap(NULL, b.st_size, PROT_READ, MAP_SHARED, src_fd, 0);
	assert_true(ma != MAP_FAILED && mb != MAP_FAILED);
	assert_memory_equal(ma, mb, a.st_size);
	munmap(ma, a.st_size);
	munmap(mb, b.st_size);
}

static void test_add(void **state)
{
	struct cfs_store *store = open_store("add");
	struct cfs_error err = { "" };
	uint8_t digest[CFS_DIGEST_SIZE];
	char object[CFS_OBJECT_PATH_SIZE], path[PATH_MAX * 2];
	struct stat st, again;
	int src, obj;

	src = make_source("add-src", 3 * 4096 + 5, 1, digest);
	/* the file position must not matter */
	assert_int_equal(lseek(src, 777, SEEK_SET), 777);
	assert_int_equal(cfs_store_add_fd(store, src, digest, &err), 0);

	cfs_digest_to_object_path(digest, object);
	snprintf(path, sizeof(path), "%s/add/%s", tmpdir, object);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);

	obj = cfs_store_open_object(store, digest);
	assert_true(obj >= 0);
	assert_same_content(obj, src);
	close(obj);
	assert_int_equal(tmp_files_in("add"), 0);

	/* again: a no-op that leaves the object alone */
	assert_int_equal(cfs_store_add_fd(store, src, digest, &err), 0);
	assert_int_equal(lstat(path, &again), 0);
	assert_int_equal(again.st_ino, st.st_ino);
	assert_int_equal(again.st_mtime, st.st_mtime);
	assert_int_equal(tmp_files_in("add"), 0);

	/* an absent object */
	digest[0] ^= 1;
	assert_int_equal(cfs_store_open_object(store, digest), -ENOENT);

	close(src);
	cfs_store_free(store);
}

static void test_sizes(void **state)
{
	static const size_t sizes[] = { 0, 1, 4096, 1 << 20, (3 << 20) + 7 };
	struct cfs_store *store = open_store("sizes");
	struct cfs_error err = { "" };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t digest[CFS_DIGEST_SIZE], check[CFS_DIGEST_SIZE];
		int src = make_source("sizes-src", sizes[i], i + 10, digest);
		int obj;

		assert_int_equal(cfs_store_add_fd(store, src, digest, &err), 0);
		obj = cfs_store_open_object(store, digest);
		assert_true(obj >= 0);
		assert_int_equal(cfs_fsverity_digest_fd(obj, check), 0);
		assert_memory_equal(check, digest, CFS_DIGEST_SIZE);
		close(obj);
		close(src);
	}
	assert_int_equal(tmp_files_in("sizes"), 0);
	cfs_store_free(store);
}

/* A memfd lives on another filesystem, so copy_file_range() gives up and
 * the read/write copy runs. */
static void test_add_from_other_fs(void **state)
{
	struct cfs_store *store = open_store("memfd");
	struct cfs_error err = { "" };
	uint8_t digest[CFS_DIGEST_SIZE], check[CFS_DIGEST_SIZE];
	size_t len = (2 << 20) + 3;
	uint8_t *buf = malloc(len);
	int src, obj;

	assert_non_null(buf);
	tu_fill(buf, len, 5);
	cfs_fsverity_digest_buffer(buf, len, digest);
	src = memfd_create("test-store", MFD_CLOEXEC);
	assert_true(src >= 0);
	assert_int_equal(write(src, buf, len), (ssize_t)len);

	assert_int_equal(cfs_store_add_fd(store, src, digest, &err), 0);
	obj = cfs_store_open_object(store, digest);
	assert_true(obj >= 0);
	assert_int_equal(cfs_fsverity_digest_fd(obj, check), 0);
	assert_memory_equal(check, digest, CFS_DIGEST_SIZE);
	close(obj);
	close(src);
	free(buf);
	cfs_store_free(store);
}

struct racer {
	struct cfs_store *store;
	pthread_barrier_t *barrier;
	int fd;
	const uint8_t *digest;
	int ret;
	bool visible;
	struct cfs_error err;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	int obj;

	pthread_barrier_wait(r->barrier);
	r->ret = cfs_store_add_fd(r->store, r->fd, r->digest, &r->err);
	/* returned: the object is in place, whichever thread wrote it */
	obj = cfs_store_open_object(r->store, r->digest);
	r->visible = obj >= 0;
	if (obj >= 0)
		close(obj);
	return NULL;
}

static void test_concurrent(void **state)
{
	struct cfs_store *store = open_store("race");

	for (unsigned round = 0; round < 50; round++) {
		uint8_t digest[CFS_DIGEST_SIZE];
		pthread_barrier_t barrier;
		struct racer r[2];
		pthread_t t[2];
		int src = make_source("race-src", 70000, round, digest);
		int obj;

		pthread_barrier_init(&barrier, NULL, 2);
		for (int i = 0; i < 2; i++) {
			r[i] = (struct racer){ .store = store,
					       .barrier = &barrier,
					       .fd = src,
					       .digest = digest,
					       .ret = -1 };
			assert_int_equal(
				pthread_create(&t[i], NULL, race, &r[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(t[i], NULL);
			assert_int_equal(r[i].ret, 0);
			assert_true(r[i].visible);
		}
		pthread_barrier_destroy(&barrier);

		/* one complete object, no litter from the loser */
		obj = cfs_store_open_object(store, digest);
		assert_true(obj >= 0);
		assert_same_content(obj, src);
		close(obj);
		assert_int_equal(tmp_files_in("race"), 0);
		close(src);
	}
	cfs_store_free(store);
}

static void test_open_errors(void **state)
{
	char path[PATH_MAX];
	struct cfs_error err = { "" };
	struct cfs_store *store = NULL;
	int fd;

	/* a regular file is no store, with or without CREATE */
	store_path(path, sizeof(path), "not-a-dir");
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(cfs_store_open(path, 0, &store, &err), -ENOTDIR);
	assert_null(store);
	assert_non_null(strstr(err.message, path));
	assert_non_null(strstr(err.message, "not a directory"));
	err.message[0] = '\0';
	assert_true(cfs_store_open(path, CFS_STORE_CREATE, &store, &err) < 0);
	assert_null(store);
	assert_non_null(strstr(err.message, path));

	/* missing: an error without CREATE, made with its parents with it */
	store_path(path, sizeof(path), "deep/er/store");
	assert_int_equal(cfs_store_open(path, 0, &store, &err), -ENOENT);
	assert_null(store);
	assert_int_equal(cfs_store_open(path, CFS_STORE_CREATE, &store, &err),
			 0);
	assert_non_null(store);
	cfs_store_free(store);
	assert_null(cfs_store_free(NULL));
}

static void test_unreadable_source(void **state)
{
	struct cfs_store *store = open_store("unreadable");
	struct cfs_error err = { "" };
	uint8_t digest[CFS_DIGEST_SIZE];
	char path[PATH_MAX], object[CFS_OBJECT_PATH_SIZE];
	int src = make_source("unreadable-src", 10000, 3, digest);
	int wronly;

	close(src);
	/* open for writing only: readable by nobody through this fd, even
	 * by root */
	snprintf(path, sizeof(path), "%s/unreadable-src", tmpdir);
	wronly = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(wronly >= 0);

	assert_int_equal(cfs_store_add_fd(store, wronly, digest, &err), -EBADF);
	cfs_digest_to_object_path(digest, object);
	assert_non_null(strstr(err.message, object));
	assert_non_null(strstr(err.message, "copy"));
	assert_int_equal(cfs_store_open_object(store, digest), -ENOENT);
	assert_int_equal(tmp_files_in("unreadable"), 0);

	close(wronly);
	cfs_store_free(store);
}

/* Batch mode: nothing is visible before the commit, everything after; a
 * store freed without commit leaves no trace. */
static void test_batch(void **state)
{
	char path[PATH_MAX];
	struct cfs_error err = { "" };
	struct cfs_store *store = NULL;
	uint8_t digest[4][CFS_DIGEST_SIZE];
	int src[4], obj;

	store_path(path, sizeof(path), "batch");
	assert_int_equal(cfs_store_open(path,
					CFS_STORE_CREATE | CFS_STORE_BATCH,
					&store, &err),
			 0);
	for (int i = 0; i < 4; i++) {
		char name[32];

		snprintf(name, sizeof(name), "batch-src-%d", i);
		/* sources 2 and 3 have the same content: one object */
		src[i] = make_source(name, 10000 + (i == 3 ? 2 : i) * 999,
				     i == 3 ? 2 : i, digest[i]);
		assert_int_equal(
			cfs_store_add_fd(store, src[i], digest[i], &err), 0);
	}
	/* staged in anonymous files: nothing named, not even a temporary */
	assert_int_equal(tmp_files_in("batch"), 0);
	assert_int_equal(cfs_store_open_object(store, digest[0]), -ENOENT);
	assert_int_equal(cfs_store_commit(store, &err), 0);
	assert_int_equal(tmp_files_in("batch"), 0);
	for (int i = 0; i < 4; i++) {
		obj = cfs_store_open_object(store, digest[i]);
		assert_true(obj >= 0);
		assert_same_content(obj, src[i]);
		close(obj);
	}
	/* a second commit with nothing new is a no-op */
	assert_int_equal(cfs_store_commit(store, &err), 0);

	/* added but never committed: discarded */
	close(src[0]);
	src[0] = make_source("batch-src-x", 7777, 42, digest[0]);
	assert_int_equal(cfs_store_add_fd(store, src[0], digest[0], &err), 0);
	cfs_store_free(store);
	assert_int_equal(tmp_files_in("batch"), 0);
	assert_true(cfs_store_open_object((store = open_store("batch")),
					  digest[0]) == -ENOENT);
	cfs_store_free(store);
	for (int i = 0; i < 4; i++)
		close(src[i]);
}

/* A long batch commits itself as it fills: an interrupted run keeps what
 * the full batches hold. */
static void test_batch_fills(void **state)
{
	char path[PATH_MAX];
	struct cfs_error err = { "" };
	struct cfs_store *store = NULL;
	int n_visible = 0;

	store_path(path, sizeof(path), "fills");
	assert_int_equal(cfs_store_open(path,
					CFS_STORE_CREATE | CFS_STORE_BATCH,
					&store, &err),
			 0);
	for (int i = 0; i < 300; i++) {
		uint8_t digest[CFS_DIGEST_SIZE];
		int src = make_source("fills-src", 100 + i, 1000 + i, digest);

		assert_int_equal(cfs_store_add_fd(store, src, digest, &err), 0);
		close(src);
	}
	/* 256 objects make a batch, which the store's committer thread
	 * names in the background: wait for it (10 s at most); the other 44
	 * stay unnamed meanwhile */
	for (int tries = 0; tries < 1000; tries++) {
		n_visible = 0;
		for (int i = 0; i < 300; i++) {
			uint8_t digest[CFS_DIGEST_SIZE];
			int src = make_source("fills-src", 100 + i, 1000 + i,
					      digest);
			int obj = cfs_store_open_object(store, digest);

			if (obj >= 0) {
				n_visible++;
				close(obj);
			}
			close(src);
		}
		if (n_visible >= 256)
			break;
		usleep(10000);
	}
	assert_int_equal(n_visible, 256);
	/* the rest goes with the store, leaving nothing */
	cfs_store_free(store);
	assert_int_equal(tmp_files_in("fills"), 0);
}

struct adder {
	struct cfs_store *store;
	unsigned seed;
	int ret;
	struct cfs_error err;
};

static void *add_many(void *arg)
{
	struct adder *a = arg;
	char name[64];

	snprintf(name, sizeof(name), "commit-race-src-%u", a->seed);
	a->ret = 0;
	for (unsigned i = 0; i < 200 && a->ret == 0; i++) {
		uint8_t digest[CFS_DIGEST_SIZE];
		/* half the contents are shared between the threads */
		unsigned seed = i % 2 ? a->seed * 1000 + i : i;
		int src = make_source(name, 5000 + seed % 97, seed, digest);

		a->ret = cfs_store_add_fd(a->store, src, digest, &a->err);
		close(src);
	}
	return NULL;
}

/* cfs_store_commit() while other threads add: every add that returned
 * before a commit is in place after it; nothing crashes or leaks. */
static void test_commit_races_adds(void **state)
{
	char path[PATH_MAX];
	struct cfs_error err = { "" };
	struct cfs_store *store = NULL;
	struct adder a[4];
	pthread_t t[4];

	store_path(path, sizeof(path), "commit-race");
	assert_int_equal(cfs_store_open(path,
					CFS_STORE_CREATE | CFS_STORE_BATCH,
					&store, &err),
			 0);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct adder){ .store = store, .seed = i + 1 };
		assert_int_equal(pthread_create(&t[i], NULL, add_many, &a[i]),
				 0);
	}
	for (int i = 0; i < 50; i++)
		assert_int_equal(cfs_store_commit(store, &err), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].ret, 0);
	}
	assert_int_equal(cfs_store_commit(store, &err), 0);
	for (unsigned k = 1; k <= 4; k++) {
		for (unsigned i = 0; i < 200; i++) {
			uint8_t digest[CFS_DIGEST_SIZE];
			unsigned seed = i % 2 ? k * 1000 + i : i;
			int src = make_source("commit-race-check",
					      5000 + seed % 97, seed, digest);
			int obj = cfs_store_open_object(store, digest);

			assert_true(obj >= 0);
			assert_same_content(obj, src);
			close(obj);
			close(src);
		}
	}
	cfs_store_free(store);
	assert_int_equal(tmp_files_in("commit-race"), 0);
}

/* Whatever sits at an object's name that cannot be the object (a symlink,
 * a file of another size, a FIFO) is replaced by the next add. */
static void test_damaged_replaced(void **state)
{
	struct cfs_store *store = open_store("damaged");
	struct cfs_error err = { "" };
	char object[CFS_OBJECT_PATH_SIZE], path[PATH_MAX * 2];

	for (int kind = 0; kind < 3; kind++) {
		uint8_t digest[CFS_DIGEST_SIZE];
		int src = make_source("damaged-src", 9000 + kind, 77 + kind,
				      digest);
		struct stat st;
		int obj;

		cfs_digest_to_object_path(digest, object);
		snprintf(path, sizeof(path), "%s/damaged/%.2s", tmpdir, object);
		(void)mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/damaged/%s", tmpdir, object);
		if (kind == 0) {
			assert_int_equal(symlink("/etc/passwd", path), 0);
		} else if (kind == 1) {
			int fd = open(path, O_WRONLY | O_CREAT, 0644);

			assert_true(fd >= 0);
			assert_int_equal(write(fd, "short", 5), 5);
			close(fd);
		} else {
			assert_int_equal(mkfifo(path, 0644), 0);
		}
		assert_int_equal(cfs_store_add_fd(store, src, digest, &err), 0);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		obj = cfs_store_open_object(store, digest);
		assert_true(obj >= 0);
		assert_same_content(obj, src);
		close(obj);
		close(src);
	}
	assert_int_equal(tmp_files_in("damaged"), 0);
	cfs_store_free(store);
}

static int setup(void **state)
{
	return tu_make_tmpdir(tmpdir, sizeof(tmpdir), "test-store");
}

static int teardown(void **state)
{
	return tu_remove_tree(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_add_from_other_fs),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_unreadable_source),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_batch_fills),
		cmocka_unit_test(test_commit_races_adds),
		cmocka_unit_test(test_damaged_replaced),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
