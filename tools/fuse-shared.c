/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * composefs-fuse -o shared: the object server and the stacking of image
 * mounts over it (see fuse-shared.h).
 *
 * Why: a FUSE server that serves a whole image reads each object itself
 * (one copy in the page cache) and hands the bytes to the kernel, which
 * keeps its own copy per mounted image. Here every image of a user reads a
 * shared file through the one object mount, so the kernel keeps one copy
 * whatever the number of images; the server drops the pages of its own
 * reads (posix_fadvise) once it has verified and served them.
 *
 * Lifetime: the object server watches the mount table; once no overlayfs
 * mount of its namespace names its mount point as a data layer, it detaches
 * its mount and ends (when the last overlay holding it goes). A mount being
 * set up holds the lock file beside the mount point from the moment it finds
 * (or starts) the server until its overlay is mounted, so that the server
 * never leaves under it. A server found dead (killed: its mount answers
 * ENOTCONN) is detached and replaced by the next mount.
 */
#ifndef FUSE_USE_VERSION /* set by the build from libfuse's version */
#define FUSE_USE_VERSION 34
#endif

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "fuse-shared.h"
#include "read-buffer.h"
#include "tool.h"

#define OBJECTS_SUBTYPE "composefs-objects"
#define CACHE_TIMEOUT 86400.0
#define FANOUT_FIRST 2 /* node IDs 2..257: the directories 00..ff */
#define MAX_DIGEST 64 /* SHA-512 */
#define NODE_BUCKETS 4096
#define DROP_BEHIND (8u << 20)

/* ------------------------------------------------------------------ */
/* The object server */

struct obj_node {
	struct obj_node *next;
	uint64_t nlookup;
	uint64_t size;
	char path[]; /* "ab/cdef..." */
};

struct object_server {
	int basedir_fd;
	enum cfs_verify verify;
	/* one cache per digest algorithm (by name length): SHA-256, SHA-512 */
	struct cfs_object_cache *caches[2];
	const char *mountpoint;
	const char *lock_path;
	uid_t uid;
	gid_t gid;
	pthread_mutex_t lock;
	struct obj_node *buckets[NODE_BUCKETS];
	struct fuse_session *se;
};

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The digest named by an object's path "ab/cdef...": its size in bytes
 * (32 or 64), or 0 for a name that is none. */
static size_t digest_of_path(const char *path, uint8_t digest[MAX_DIGEST])
{
	char hex[2 * MAX_DIGEST];
	size_t n = 0, len = strlen(path);

	if (len != 2 + 1 + 62 && len != 2 + 1 + 126)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (i == 2) {
			if (path[i] != '/')
				return 0;
			continue;
		}
		if (hex_value(path[i]) < 0)
			return 0;
		hex[n++] = path[i];
	}
	for (size_t i = 0; i < n / 2; i++)
		digest[i] = (uint8_t)(hex_value(hex[2 * i]) << 4 |
				      hex_value(hex[2 * i + 1]));
	return n / 2;
}

static size_t node_bucket(const char *path)
{
	uint64_t h = 1469598103934665603ull;

	for (; *path; path++)
		h = (h ^ (uint8_t)*path) * 1099511628211ull;
	return (size_t)(h % NODE_BUCKETS);
}

/* The node of path, made when missing, with one more lookup. */
static struct obj_node *node_get(struct object_server *s, const char *path,
				 uint64_t size)
{
	size_t b = node_bucket(path);
	struct obj_node *n;

	pthread_mutex_lock(&s->lock);
	for (n = s->buckets[b]; n != NULL; n = n->next)
		if (strcmp(n->path, path) == 0)
			break;
	if (n == NULL) {
		n = calloc(1, sizeof(*n) + strlen(path) + 1);
		if (n != NULL) {
			strcpy(n->path, path);
			n->next = s->buckets[b];
			s->buckets[b] = n;
		}
	}
	if (n != NULL) {
		n->nlookup++;
		n->size = size;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void node_forget(struct object_server *s, struct obj_node *node,
			uint64_t count)
{
	size_t b = node_bucket(node->path);

	pthread_mutex_lock(&s->lock);
	node->nlookup = count >= node->nlookup ? 0 : node->nlookup - count;
	if (node->nlookup == 0) {
		struct obj_node **p;

		for (p = &s->buckets[b]; *p != NULL; p = &(*p)->next) {
			if (*p == node) {
				*p = node->next;
				free(node);
				break;
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static struct object_server *objsrv(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static bool is_fanout(fuse_ino_t ino)
{
	return ino >= FANOUT_FIRST && ino < FANOUT_FIRST + 256;
}

static void dir_stat(struct object_server *s, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_uid = s->uid;
	st->st_gid = s->gid;
}

static void object_stat(struct object_server *s, struct obj_node *n,
			struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)(uintptr_t)n;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_uid = s->uid;
	st->st_gid = s->gid;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)(((n->size + 4095) & ~(uint64_t)4095) / 512);
}

static void obj_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA)
		conn->want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
	conn->max_readahead = conn->capable ? 4u << 20 : conn->max_readahead;
}

static void obj_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct object_server *s = objsrv(req);
	struct fuse_entry_param e = { 0 };
	uint8_t digest[MAX_DIGEST];
	char path[2 + 1 + 2 * MAX_DIGEST + 1];
	struct obj_node *n;
	struct stat st;

	if (parent == FUSE_ROOT_ID) {
		if (strlen(name) != 2 || hex_value(name[0]) < 0 ||
		    hex_value(name[1]) < 0) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		e.ino = FANOUT_FIRST + (fuse_ino_t)(hex_value(name[0]) << 4 |
						    hex_value(name[1]));
		dir_stat(s, e.ino, &e.attr);
		e.attr_timeout = e.entry_timeout = CACHE_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if (!is_fanout(parent) || strlen(name) > 2 * MAX_DIGEST) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	snprintf(path, sizeof(path), "%02x/%s",
		 (unsigned)(parent - FANOUT_FIRST), name);
	if (digest_of_path(path, digest) == 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* objects come and go with imports and gc: an absence is not kept */
	if (fstatat(s->basedir_fd, path, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		fuse_reply_err(req, errno == ENOENT ? ENOENT : EIO);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		syslog(LOG_ERR, "object %s is not a regular file", path);
		fuse_reply_err(req, EIO);
		return;
	}
	n = node_get(s, path, (uint64_t)st.st_size);
	if (n == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	e.ino = (fuse_ino_t)(uintptr_t)n;
	object_stat(s, n, &e.attr);
	e.attr_timeout = e.entry_timeout = CACHE_TIMEOUT;
	if (fuse_reply_entry(req, &e) != 0)
		node_forget(s, n, 1);
}

static void obj_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	if (ino != FUSE_ROOT_ID && !is_fanout(ino))
		node_forget(objsrv(req), (struct obj_node *)(uintptr_t)ino,
			    nlookup);
	fuse_reply_none(req);
}

static void obj_forget_multi(fuse_req_t req, size_t count,
			     struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		if (forgets[i].ino != FUSE_ROOT_ID &&
		    !is_fanout(forgets[i].ino))
			node_forget(
				objsrv(req),
				(struct obj_node *)(uintptr_t)forgets[i].ino,
				forgets[i].nlookup);
	fuse_reply_none(req);
}

static void obj_getattr(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct object_server *s = objsrv(req);
	struct stat st;

	if (ino == FUSE_ROOT_ID || is_fanout(ino))
		dir_stat(s, ino, &st);
	else
		object_stat(s, (struct obj_node *)(uintptr_t)ino, &st);
	fuse_reply_attr(req, &st, CACHE_TIMEOUT);
}

/* Directories list nothing: overlayfs never lists a data-only layer, and
 * the store is listed where it is. */
static void obj_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	fuse_reply_buf(req, NULL, 0);
}

static void obj_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct object_server *s = objsrv(req);
	struct obj_node *n = (struct obj_node *)(uintptr_t)ino;
	struct cfs_error err = { { 0 } };
	struct cfs_object_cache *cache;
	struct cfs_object *object = NULL;
	uint8_t digest[MAX_DIGEST];
	size_t len;
	int r;

	if (ino == FUSE_ROOT_ID || is_fanout(ino)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	len = digest_of_path(n->path, digest);
	cache = s->caches[len == 64 ? 1 : 0];
	if (cache == NULL) {
		syslog(LOG_ERR, "object %s: digest algorithm not supported",
		       n->path);
		fuse_reply_err(req, EIO);
		return;
	}
	r = cfs_object_open(cache, &s->basedir_fd, 1, n->path, n->size,
			    s->verify == CFS_VERIFY_NONE ? NULL : digest,
			    s->verify, &object, &err);
	if (r < 0) {
		syslog(LOG_ERR, "open %s: %s", n->path, err.message);
		fuse_reply_err(req, r == -ENOENT ? ENOENT : EIO);
		return;
	}
	/* the first open of an object may have read it whole to check it:
	 * the page cache is for what the kernel keeps of this mount */
	(void)posix_fadvise(cfs_object_fd(object), 0, 0, POSIX_FADV_DONTNEED);
	fi->keep_cache = 1;
	fi->fh = (uint64_t)(uintptr_t)object;
	if (fuse_reply_open(req, fi) != 0)
		cfs_object_close(object);
}

static void obj_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct cfs_object *object = (struct cfs_object *)(uintptr_t)fi->fh;
	struct obj_node *n = (struct obj_node *)(uintptr_t)ino;
	struct cfs_error err = { { 0 } };
	char *buf = read_buffer(size);
	uint64_t from;
	ssize_t r;

	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = cfs_object_pread(object, buf, size, (uint64_t)off, &err);
	if (r < 0) {
		syslog(LOG_ERR, "read %s: %s", n->path, err.message);
		fuse_reply_err(req, EIO);
		return;
	}
	/* served: the kernel keeps these bytes in this mount's cache, the
	 * store's copy of them would be a second one. The store's page cache
	 * holds large folios (up to 2 MiB), dropped only when wholly inside
	 * the range: the range reaches back over what was read before. */
	from = (uint64_t)off > DROP_BEHIND ? (uint64_t)off - DROP_BEHIND : 0;
	(void)posix_fadvise(cfs_object_fd(object), (off_t)from,
			    (off_t)((uint64_t)off + (uint64_t)r - from),
			    POSIX_FADV_DONTNEED);
	fuse_reply_buf(req, buf, (size_t)r);
}

static void obj_release(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct cfs_object *object = (struct cfs_object *)(uintptr_t)fi->fh;

	/* what readahead brought beyond the last read */
	(void)posix_fadvise(cfs_object_fd(object), 0, 0, POSIX_FADV_DONTNEED);
	cfs_object_close(object);
	fuse_reply_err(req, 0);
}

static void obj_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct object_server *s = objsrv(req);
	struct statvfs sv;

	if (fstatvfs(s->basedir_fd, &sv) != 0)
		memset(&sv, 0, sizeof(sv));
	sv.f_namemax = 2 * MAX_DIGEST;
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops object_ops = {
	.init = obj_init,
	.lookup = obj_lookup,
	.forget = obj_forget,
	.forget_multi = obj_forget_multi,
	.getattr = obj_getattr,
	.readdir = obj_readdir,
	.open = obj_open,
	.read = obj_read,
	.release = obj_release,
	.statfs = obj_statfs,
};

/* ------------------------------------------------------------------ */
/* The mount table */

static void unescape_octal(char *p)
{
	char *out = p;

	while (*p != '\0') {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' &&
		    p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			*out++ = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 |
					(p[3] - '0'));
			p += 4;
		} else {
			*out++ = *p++;
		}
	}
	*out = '\0';
}

/* Whether the overlayfs super options opts name path as a data layer. */
static bool overlay_uses(const char *opts, const char *path)
{
	size_t plen = strlen(path);
	const char *p = opts;

	while ((p = strstr(p, "::")) != NULL) {
		p += 2;
		if (strncmp(p, path, plen) == 0 &&
		    (p[plen] == ',' || p[plen] == ':' || p[plen] == '\0'))
			return true;
	}
	return false;
}

enum mount_query {
	OBJECT_MOUNT_AT, /* is path an object server's mount point? */
	OVERLAY_USES, /* does an overlay take path as a data layer? */
	DETACH_OVERLAYS, /* detach every overlay that does */
};

/* Ask the mount table of this namespace; for DETACH_OVERLAYS, whether one
 * was found. */
static bool mount_table(const char *path, enum mount_query q)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;

	if (f == NULL)
		return q == OVERLAY_USES; /* in doubt, stay */
	while (getline(&line, &cap, f) > 0) {
		char *dash = strstr(line, " - "), *fields[3], *save = NULL;
		char dir[PATH_MAX];
		int i;

		if (dash == NULL ||
		    sscanf(line, "%*s %*s %*s %*s %4095s", dir) != 1)
			continue;
		unescape_octal(dir);
		fields[0] = strtok_r(dash + 3, " \n", &save);
		for (i = 1; i < 3 && fields[i - 1] != NULL; i++)
			fields[i] = strtok_r(NULL, " \n", &save);
		if (i < 3 || fields[0] == NULL || fields[2] == NULL)
			continue;
		if (q == OBJECT_MOUNT_AT) {
			if (strcmp(fields[0], "fuse." OBJECTS_SUBTYPE) == 0 &&
			    strcmp(dir, path) == 0)
				found = true;
		} else if (strcmp(fields[0], "overlay") == 0 &&
			   overlay_uses(fields[2], path)) {
			found = true;
			if (q == DETACH_OVERLAYS)
				(void)umount2(dir, MNT_DETACH);
		}
		if (found && q != DETACH_OVERLAYS)
			break;
	}
	free(line);
	fclose(f);
	return found;
}

/* Whether a process other than composefs servers is in this mount
 * namespace, among those this server may look at (all those of its user
 * namespace). When none is, no one can use its mounts but by entering it
 * from outside. */
static bool namespace_in_use(void)
{
	struct stat self, st;
	struct dirent *e;
	bool used = false;
	DIR *d;

	if (stat("/proc/self/ns/mnt", &self) != 0 ||
	    (d = opendir("/proc")) == NULL)
		return true;
	while (!used && (e = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/mnt", e->d_name);
		/* gone, a zombie, or not ours to look at (another user's,
		 * outside this user namespace): not a user of its mounts */
		if (stat(path, &st) != 0)
			continue;
		if (st.st_ino != self.st_ino || st.st_dev != self.st_dev)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (f != NULL) {
			if (fgets(comm, sizeof(comm), f) == NULL)
				comm[0] = '\0';
			fclose(f);
		}
		used = strcmp(comm, "composefs-objs\n") != 0 &&
		       strcmp(comm, "composefs-fuse\n") != 0;
	}
	closedir(d);
	return used;
}

/*
 * Until no overlay of this namespace uses the object mount: then detach it
 * (its server ends when the last overlay holding it is gone). Checked at
 * every change of the mount table, under the lock mounts take while they
 * set up. When only servers are left in the namespace (its user exited
 * without unmounting), twice in a row, the overlays over the object mount
 * are detached too: their metadata servers end with them, then this one.
 */
static void *watch_overlays(void *arg)
{
	struct object_server *s = arg;
	int mfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	int lock_fd = open(s->lock_path, O_RDWR | O_CLOEXEC);
	unsigned idle = 0;
	char buf[4096];

	if (mfd < 0 || lock_fd < 0)
		goto out;
	for (;;) {
		struct pollfd p = { .fd = mfd, .events = POLLPRI };
		bool used;

		while (flock(lock_fd, LOCK_EX) != 0 && errno == EINTR)
			;
		idle = namespace_in_use() ? 0 : idle + 1;
		if (idle >= 2)
			(void)mount_table(s->mountpoint, DETACH_OVERLAYS);
		used = mount_table(s->mountpoint, OVERLAY_USES);
		if (!used)
			(void)umount2(s->mountpoint, MNT_DETACH);
		(void)flock(lock_fd, LOCK_UN);
		if (!used)
			break;
		/* the event is reset by reading the file */
		(void)lseek(mfd, 0, SEEK_SET);
		while (read(mfd, buf, sizeof(buf)) > 0)
			;
		(void)poll(&p, 1, 5000);
	}
out:
	if (mfd >= 0)
		close(mfd);
	if (lock_fd >= 0)
		close(lock_fd);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Starting and finding the object server */

/* The directory for this user's shared mounts: $XDG_RUNTIME_DIR, else
 * /tmp, then composefs-fuse-UID (UID as the initial namespace knows it),
 * ours and private. */
static char *runtime_dir(void)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	unsigned long inside, outside, count, uid = geteuid();
	char *dir = NULL;
	struct stat st;
	FILE *f;

	if (base == NULL || base[0] != '/' || access(base, W_OK | X_OK) != 0)
		base = "/tmp";
	f = fopen("/proc/self/uid_map", "re");
	if (f != NULL) {
		while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
			if (uid >= inside && uid - inside < count) {
				uid = uid - inside + outside;
				break;
			}
		fclose(f);
	}
	if (asprintf(&dir, "%s/composefs-fuse-%lu", base, uid) < 0) {
		tool_fail("out of memory");
		return NULL;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		tool_fail("%s: %s", dir, strerror(errno));
		goto fail;
	}
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 0077) != 0) {
		tool_fail("%s: not a private directory of this user", dir);
		goto fail;
	}
	return dir;
fail:
	free(dir);
	return NULL;
}

/* Paths that overlayfs options cannot carry as they are. */
static int check_option_path(const char *path)
{
	if (strpbrk(path, ",:\\ \t\n") != NULL)
		return tool_fail("%s: a path with ',', ':', '\\' or spaces "
				 "cannot be an overlayfs layer",
				 path);
	return 0;
}

static int run_object_server(struct object_server *s, int ready_fd)
{
	char *argv[] = {
		(char *)"composefs-fuse", (char *)"-o",
		(char *)"ro,default_permissions,subtype=" OBJECTS_SUBTYPE, NULL
	};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	pthread_t watcher;
	int r, devnull;

	s->se = fuse_session_new(&args, &object_ops, sizeof(object_ops), s);
	if (s->se == NULL)
		return tool_fail("object server: cannot start");
	if (fuse_session_mount(s->se, s->mountpoint) != 0) {
		fuse_session_destroy(s->se);
		return tool_fail("object server: cannot mount %s",
				 s->mountpoint);
	}
	if (write(ready_fd, "1", 1) != 1) {
		/* the mounting process went: it cannot use us */
	}
	close(ready_fd);
	openlog("composefs-fuse", LOG_PID, LOG_DAEMON);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		close(devnull);
	}
	if (chdir("/") != 0) {
		/* relative paths are not used from here */
	}
	(void)fuse_set_signal_handlers(s->se);
	if (pthread_create(&watcher, NULL, watch_overlays, s) == 0)
		pthread_detach(watcher);
#if FUSE_USE_VERSION >= 312
	{
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		r = cfg ? fuse_session_loop_mt(s->se, cfg) : -1;
		fuse_loop_cfg_destroy(cfg);
	}
#else
	{
		struct fuse_loop_config cfg = { .max_idle_threads = 10 };

		r = fuse_session_loop_mt(s->se, &cfg);
	}
#endif
	/* ended by a signal or by the last overlay going: either way the
	 * mount must not stay behind */
	(void)umount2(s->mountpoint, MNT_DETACH);
	fuse_remove_signal_handlers(s->se);
	fuse_session_destroy(s->se);
	return r < 0 ? 1 : 0;
}

/* Start the object server as a daemon, mounted on o->mountpoint. */
static int start_object_server(struct shared_objects *o, const char *objects,
			       const char *treecache, enum cfs_verify verify,
			       const char *lock_path)
{
	struct object_server s = { .verify = verify,
				   .mountpoint = o->mountpoint,
				   .lock_path = lock_path,
				   .uid = geteuid(),
				   .gid = getegid(),
				   .lock = PTHREAD_MUTEX_INITIALIZER };
	struct cfs_error err = { { 0 } };
	int pipefd[2], status;
	char c;
	pid_t pid;

	s.basedir_fd = open(objects, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
					     O_NONBLOCK | O_NOCTTY);
	if (s.basedir_fd < 0)
		return tool_fail("basedir %s: %s", objects, strerror(errno));
	for (int i = 0; i < 2; i++) {
		s.caches[i] = cfs_object_cache_new(0);
		if (s.caches[i] == NULL)
			return tool_fail("out of memory");
		if (i == 1 && cfs_object_cache_set_hash_alg(
				      s.caches[i], CFS_HASH_SHA512) < 0) {
			/* SHA-512 objects are refused (EIO) */
			s.caches[i] = cfs_object_cache_free(s.caches[i]);
			continue;
		}
		if (treecache != NULL &&
		    cfs_object_cache_set_dir(s.caches[i], treecache, &err) < 0)
			return tool_fail("%s", err.message);
	}
	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return tool_fail("pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return tool_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		/* the lock is the mounting process's alone */
		close(o->lock_fd);
		close(pipefd[0]);
		/* a grandchild, so that nobody has to wait for it */
		pid = fork();
		if (pid != 0)
			_exit(pid < 0 ? 1 : 0);
		setsid();
		/* what ps and pgrep show of it */
		(void)prctl(PR_SET_NAME, "composefs-objs");
		_exit(run_object_server(&s, pipefd[1]));
	}
	close(pipefd[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (int i = 0; i < 2; i++)
		cfs_object_cache_free(s.caches[i]);
	close(s.basedir_fd);
	if (read(pipefd[0], &c, 1) != 1) {
		close(pipefd[0]);
		return 1; /* the server said why */
	}
	close(pipefd[0]);
	return 0;
}

int shared_objects_acquire(const char *objects_dir, const char *treecache,
			   enum cfs_verify verify, struct shared_objects *ret)
{
	struct shared_objects o = { .lock_fd = -1 };
	char *lock_path = NULL;
	struct stat st;
	int r = 1;

	if (stat(objects_dir, &st) != 0)
		return tool_fail("basedir %s: %s", objects_dir,
				 strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return tool_fail("basedir %s: not a directory", objects_dir);
	o.dir = runtime_dir();
	if (o.dir == NULL)
		return 1;
	/* one server per way of checking: a mount that verifies never
	 * shares the server of one that does not */
	if (asprintf(&o.mountpoint, "%s/objects-%llx-%llx%s", o.dir,
		     (unsigned long long)st.st_dev,
		     (unsigned long long)st.st_ino,
		     verify == CFS_VERIFY_FULL ? "" :
		     verify == CFS_VERIFY_OPEN ? "-open" :
						 "-none") < 0 ||
	    asprintf(&lock_path, "%s.lock", o.mountpoint) < 0) {
		tool_fail("out of memory");
		goto out;
	}
	if (check_option_path(o.mountpoint) != 0)
		goto out;
	if (mkdir(o.mountpoint, 0700) != 0 && errno != EEXIST) {
		tool_fail("%s: %s", o.mountpoint, strerror(errno));
		goto out;
	}
	o.lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			 0600);
	if (o.lock_fd < 0) {
		tool_fail("%s: %s", lock_path, strerror(errno));
		goto out;
	}
	while (flock(o.lock_fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			tool_fail("%s: %s", lock_path, strerror(errno));
			goto out;
		}
	}
	/* a server found here is used; one that died (its mount answers
	 * ENOTCONN) is detached, however many are stacked there */
	while (mount_table(o.mountpoint, OBJECT_MOUNT_AT)) {
		struct statvfs sv;

		if (statvfs(o.mountpoint, &sv) == 0) {
			r = 0;
			goto out;
		}
		if (umount2(o.mountpoint, MNT_DETACH) != 0) {
			tool_fail("%s: a dead object server's mount that "
				  "cannot be removed: %s",
				  o.mountpoint, strerror(errno));
			goto out;
		}
	}
	r = start_object_server(&o, objects_dir, treecache, verify, lock_path);
out:
	free(lock_path);
	if (r == 0) {
		*ret = o;
		return 0;
	}
	shared_objects_release(&o);
	return r;
}

void shared_objects_release(struct shared_objects *o)
{
	if (o->lock_fd >= 0)
		close(o->lock_fd);
	o->lock_fd = -1;
	free(o->mountpoint);
	free(o->dir);
	o->mountpoint = o->dir = NULL;
}

char *shared_meta_dir(const struct shared_objects *o)
{
	char *dir;

	if (asprintf(&dir, "%s/image-XXXXXX", o->dir) < 0) {
		tool_fail("out of memory");
		return NULL;
	}
	if (mkdtemp(dir) == NULL) {
		tool_fail("%s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

int shared_stack(const struct shared_objects *o, const char *meta_dir,
		 const char *target)
{
	unsigned long flags = MS_RDONLY;
	char *opts = NULL;
	struct stat st;
	int r = 0;

	/* as the kernel mount: devices and setuid programs work for root;
	 * in a user namespace of one's own the kernel allows neither */
	if (geteuid() != 0 || !tool_in_initial_userns())
		flags |= MS_NOSUID | MS_NODEV;
	/* A FUSE mount's root has no permission bits until its attributes
	 * are first asked for, and overlayfs keeps the mode it finds at
	 * mount time: ask first, or every user but the mounter (who may
	 * override modes) is refused. */
	(void)stat(meta_dir, &st);
	(void)stat(o->mountpoint, &st);
	if (check_option_path(meta_dir) != 0)
		r = 1;
	else if (asprintf(&opts, "ro,userxattr,lowerdir=%s::%s", meta_dir,
			  o->mountpoint) < 0)
		r = tool_fail("out of memory");
	else if (mount("overlay", target, "overlay", flags, opts) != 0)
		r = tool_fail("mounting overlayfs on %s: %s%s", target,
			      strerror(errno),
			      errno == EPERM ? " (-o shared needs a user "
					       "namespace of one's own, as "
					       "with unshare -Urm, or root)" :
					       "");
	free(opts);
	return r;
}
