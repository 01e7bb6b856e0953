/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Mounts of a repository's images (DIR/mounts/, lib/repo/layout.h): what
 * `composefs mount` records of each mount it makes, and whether such a
 * mount still exists, for gc, which keeps the images of mounts that do
 * and drops the records of those that are gone.
 *
 * A mount is known by its mount ID and the device of its root, both as
 * /proc/PID/mountinfo shows them, in the mount namespace it was made in
 * (mount IDs are unique across namespaces while the mount exists), with
 * its filesystem type (a mount made later may take the ID and device of
 * one gone). Its mount point is not compared: a mount moved elsewhere
 * stays the same mount. A namespace that no process is in any more has no
 * mounts left.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "composefs-c/repo.h"
#include "repo/layout.h"
#include "repo/repo_i.h"
#include "base/util.h"

/* The mount namespace of pid ("self" or a number) as "mnt:[INODE]". */
static int mount_namespace(const char *pid, char *buf, size_t size)
{
	char path[sizeof("/proc//ns/mnt") + NAME_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%s/ns/mnt", pid);
	n = readlink(path, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* Whether the mountinfo file f lists the mount of mnt_id whose root is
 * the device dev, and its filesystem type to fstype (of size
 * FSTYPE_SIZE). */
#define FSTYPE_SIZE 64
static bool mountinfo_find(FILE *f, uint64_t mnt_id, dev_t dev, char *fstype)
{
	char *line = NULL;
	size_t cap = 0;
	bool found = false;

	while (!found && getline(&line, &cap, f) > 0) {
		unsigned long long id, parent;
		unsigned maj, min;
		const char *sep;

		if (sscanf(line, "%llu %llu %u:%u ", &id, &parent, &maj,
			   &min) != 4 ||
		    id != mnt_id || maj != major(dev) || min != minor(dev))
			continue;
		sep = strstr(line, " - ");
		if (sep != NULL && sscanf(sep + 3, "%63s", fstype) == 1)
			found = true;
	}
	free(line);
	return found;
}

/* A process in the mount namespace ns, its number in ret_pid; -ENOENT
 * when there is none. */
static int find_process_in(const char *ns, char *ret_pid, size_t size)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	char other[64];
	int r = -ENOENT;

	if (proc == NULL)
		return -errno;
	while (r == -ENOENT && (de = readdir(proc)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (mount_namespace(de->d_name, other, sizeof(other)) == 0 &&
		    strcmp(other, ns) == 0) {
			snprintf(ret_pid, size, "%s", de->d_name);
			r = 0;
		}
	}
	closedir(proc);
	return r;
}

/* Find the mount of mnt_id and dev in the namespace ns: 1 and its
 * filesystem type in fstype when it exists, 0 when it is gone, -errno
 * when that cannot be told. */
static int mount_find(const char *ns, uint64_t mnt_id, dev_t dev,
		      char fstype[FSTYPE_SIZE])
{
	char self[64], pid[NAME_MAX + 1] = "self";
	char path[sizeof("/proc//mountinfo") + NAME_MAX];
	FILE *f;
	bool found;
	int r;

	r = mount_namespace("self", self, sizeof(self));
	if (r < 0)
		return r;
	if (strcmp(self, ns) != 0) {
		r = find_process_in(ns, pid, sizeof(pid));
		if (r == -ENOENT)
			return 0; /* the namespace is gone, its mounts too */
		if (r < 0)
			return r;
	}
	snprintf(path, sizeof(path), "/proc/%s/mountinfo", pid);
	f = fopen(path, "re");
	if (f == NULL)
		/* the process went: its namespace may have too; ask again */
		return errno == ENOENT && strcmp(pid, "self") != 0 ?
			       mount_find(ns, mnt_id, dev, fstype) :
			       -errno;
	found = mountinfo_find(f, mnt_id, dev, fstype);
	fclose(f);
	return found;
}

int cfs_repo_record_mount(struct cfs_repo *repo, const char *target,
			  const uint8_t *digest, struct cfs_error *err)
{
	char hex[CFS_DIGEST_HEX_MAX_SIZE], ns[64], name[32];
	char fstype[FSTYPE_SIZE];
	_cleanup_free_ char *text = NULL, *where = NULL;
	struct statx stx;
	int r, len;

	if (statx(AT_FDCWD, target, 0, STATX_MNT_ID, &stx) != 0)
		return cfs_error_set(err, -errno, "%s: %s", target,
				     strerror(errno));
	if (!(stx.stx_mask & STATX_MNT_ID))
		return cfs_error_set(err, -EOPNOTSUPP,
				     "%s: the kernel gives no mount ID",
				     target);
	r = mount_namespace("self", ns, sizeof(ns));
	if (r < 0)
		return cfs_error_set(err, r, "/proc/self/ns/mnt: %s",
				     strerror(-r));
	r = mount_find(ns, stx.stx_mnt_id,
		       makedev(stx.stx_dev_major, stx.stx_dev_minor), fstype);
	if (r == 0)
		r = -ENOENT;
	if (r < 0)
		return cfs_error_set(
			err, r, "%s: not found in /proc/self/mountinfo: %s",
			target, strerror(-r));
	where = realpath(target, NULL);
	cfsi_repo_to_hex(repo, digest, hex);
	len = asprintf(&text, "%s\n%" PRIu64 " %u:%u %s %s\n%s\n", hex,
		       (uint64_t)stx.stx_mnt_id, stx.stx_dev_major,
		       stx.stx_dev_minor, ns, fstype, where ? where : target);
	if (len < 0) {
		text = NULL;
		return cfs_error_set(err, -ENOMEM, "out of memory");
	}
	/* a record of a mount gone with the same ID is replaced */
	snprintf(name, sizeof(name), "%" PRIu64, (uint64_t)stx.stx_mnt_id);
	return cfsi_repo_write_file(repo, LAYOUT_MOUNTS, name, text,
				    (size_t)len, err);
}

int cfsi_repo_read_mount(struct cfs_repo *repo, const char *name,
			 uint8_t *ret_digest)
{
	char buf[PATH_MAX + 256], ns[64], fstype[FSTYPE_SIZE], now[FSTYPE_SIZE];
	unsigned long long id;
	unsigned maj, min;
	char *nl;
	int r;

	if (cfsi_repo_read_file(repo, LAYOUT_MOUNTS, name, buf, sizeof(buf)) <
	    0)
		return -EINVAL;
	nl = strchr(buf, '\n');
	if (nl == NULL)
		return -EINVAL;
	*nl = '\0';
	if (!cfsi_is_lower_hex(buf, repo->digest_size * 2) ||
	    cfsi_repo_from_hex(repo, buf, ret_digest) < 0)
		return -EINVAL;
	if (sscanf(nl + 1, "%llu %u:%u %63s %63s\n", &id, &maj, &min, ns,
		   fstype) != 5)
		return -EINVAL;
	r = mount_find(ns, id, makedev(maj, min), now);
	if (r < 0)
		return r;
	/* the ID and the device may have been taken by another mount */
	return r && strcmp(now, fstype) == 0 ? 0 : -ESTALE;
}
