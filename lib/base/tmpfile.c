/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Files that appear under their name whole or not at all. The bytes go to
 * an anonymous file (O_TMPFILE) in the target directory, which a crash or a
 * kill -9 takes away with nothing left behind; once complete and durable
 * it is linked in under its name. Where the filesystem or the process
 * cannot do that (no O_TMPFILE, no /proc to link through), a named
 * temporary ".tmp-<random>" in the same directory stands in: a crash can
 * leave one of those, and the repository's gc knows the pattern.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/tmpfile_i.h"
#include "base/util.h"

/* 1: O_TMPFILE files can be reopened and linked through /proc/self/fd;
 * -1: they cannot; 0: not known yet. */
static atomic_int proc_fd_usable;

static bool can_link_anonymous(void)
{
	int v = atomic_load(&proc_fd_usable);
	struct stat st;

	if (v == 0) {
		v = stat("/proc/self/fd", &st) == 0 && S_ISDIR(st.st_mode) ? 1 :
									     -1;
		atomic_store(&proc_fd_usable, v);
	}
	return v > 0;
}

void cfsi_tmpfile_make_name(char name[CFSI_TMP_NAME_SIZE])
{
	static atomic_uint_fast64_t counter;
	uint64_t v;

	/* getrandom() keeps the names of concurrent writers (threads,
	 * processes, containers sharing a store) apart; should it fail, a
	 * counter, the pid and the clock do. O_EXCL catches the rest. */
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = atomic_fetch_add(&counter, 1) ^ ((uint64_t)getpid() << 40) ^
		    (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
	}
	snprintf(name, CFSI_TMP_NAME_SIZE, CFSI_TMP_PREFIX "%016llx",
		 (unsigned long long)v);
}

bool cfsi_is_tmp_name(const char *name)
{
	return str_has_prefix(name, CFSI_TMP_PREFIX);
}

static int create_named(int dir_fd, char name[CFSI_TMP_NAME_SIZE])
{
	for (int attempt = 0; attempt < 100; attempt++) {
		int fd;

		cfsi_tmpfile_make_name(name);
		fd = openat(dir_fd, name,
			    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int cfs_tmpfile_create(int dir_fd, struct cfs_tmpfile *ret)
{
	int fd;

	*ret = (struct cfs_tmpfile){ .fd = -1 };
	if (can_link_anonymous()) {
		fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0) {
			ret->fd = fd;
			return 0;
		}
		/* Only "this filesystem has no O_TMPFILE" falls back. */
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return -errno;
	}
	fd = create_named(dir_fd, ret->name);
	if (fd < 0)
		return fd;
	ret->fd = fd;
	ret->named = true;
	return 0;
}

int cfs_tmpfile_reopen_readonly(struct cfs_tmpfile *t, int dir_fd)
{
	char proc[64];
	int fd;

	if (t->named) {
		fd = openat(dir_fd, t->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	} else {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
		fd = open(proc, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	/* The writable descriptor goes: fs-verity wants no writer left. An
	 * anonymous file lives on through the new one. */
	(void)close(t->fd);
	t->fd = fd;
	return 0;
}

/* Link the file to a fresh temporary name in dir_fd. */
static int link_to_tmp_name(struct cfs_tmpfile *t, int dir_fd,
			    char name[CFSI_TMP_NAME_SIZE])
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	for (int attempt = 0; attempt < 100; attempt++) {
		cfsi_tmpfile_make_name(name);
		if (linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) ==
		    0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int cfs_tmpfile_link(struct cfs_tmpfile *t, int dir_fd, const char *name,
		     bool replace)
{
	return cfs_tmpfile_link_from(t, dir_fd, dir_fd, name, replace);
}

int cfs_tmpfile_link_from(struct cfs_tmpfile *t, int src_dir_fd, int dir_fd,
			  const char *name, bool replace)
{
	char proc[64], tmp[CFSI_TMP_NAME_SIZE];
	int r;

	if (t->named) {
		if (replace) {
			if (renameat(src_dir_fd, t->name, dir_fd, name) != 0)
				return -errno;
			t->named = false;
			return 0;
		}
		if (renameat2(src_dir_fd, t->name, dir_fd, name,
			      RENAME_NOREPLACE) == 0) {
			t->named = false;
			return 0;
		}
		if (errno == EEXIST)
			return 1;
		if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return -errno;
		/* No RENAME_NOREPLACE here: linkat() never replaces either. */
		if (linkat(src_dir_fd, t->name, dir_fd, name, 0) != 0)
			return errno == EEXIST ? 1 : -errno;
		(void)unlinkat(src_dir_fd, t->name, 0);
		t->named = false;
		return 0;
	}

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	if (linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (!replace)
		return 1;
	/* Replacing: a name of its own first, then renamed over the old. */
	r = link_to_tmp_name(t, dir_fd, tmp);
	if (r < 0)
		return r;
	if (renameat(dir_fd, tmp, dir_fd, name) != 0) {
		r = -errno;
		(void)unlinkat(dir_fd, tmp, 0);
		return r;
	}
	return 0;
}

void cfs_tmpfile_discard(struct cfs_tmpfile *t, int dir_fd)
{
	if (t->named && dir_fd >= 0)
		(void)unlinkat(dir_fd, t->name, 0);
	t->named = false;
	if (t->fd >= 0)
		(void)close(t->fd);
	t->fd = -1;
}
