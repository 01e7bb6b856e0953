/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * composefs-fuse: serve a composefs image from userspace, without root,
 * verifying every byte served against the digests in the image.
 *
 * A thin adapter: the image reader answers lookups, attributes, listings,
 * links and xattrs straight from the image (nothing is loaded up front), the
 * verified object reader serves file contents. The tree shown is the one
 * the kernel's overlayfs mount of the image shows.
 */
#ifndef FUSE_USE_VERSION /* set by the build from libfuse's version */
#define FUSE_USE_VERSION 34
#endif

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "composefs-c/composefs.h"
#include "fuse-shared.h"
#include "read-buffer.h"
#include "tool.h"

/* The image never changes: the kernel may cache everything for long. */
#define CACHE_TIMEOUT 86400.0

struct server {
	struct cfs_image *img;
	uint8_t *image_copy; /* the measured bytes, with digest= */
	uint64_t root_nid;
	uint64_t image_blocks;
	int *basedir_fds;
	size_t n_basedirs;
	enum cfs_verify verify;
	/* one per algorithm: [0] SHA-256, [1] SHA-512, picked by each
	 * file's digest */
	struct cfs_object_cache *caches[2];
	enum cfs_hash_alg alg; /* of the image's own digest */
	bool foreground;
	bool no_opendir; /* the kernel takes ENOSYS from opendir as "none" */
	bool noacl; /* -o noacl */
	/* -o shared: serve the metadata only, for an overlayfs that reads
	 * contents from the object server (see fuse-shared.h) */
	bool overlay_xattrs;
	/* inodes whose failure was logged (nid + 1; 0 is a free slot) */
	pthread_mutex_t failed_lock;
	uint64_t *failed;
	size_t failed_size, failed_n;
	/* the names of the security.* xattrs the image has (any of them when
	 * security_any), and whether any file has an ACL: found by a walk of
	 * the image when the kernel connects */
	pthread_mutex_t kinds_lock;
	bool kinds_known;
	struct cfs_xattr_kinds kinds;
};

/* Whether a failure of inode nid is the first one: only that is logged,
 * so that a flood of bad reads of one file is one log line, and the walk
 * that finds its path runs once. */
static bool first_failure(struct server *s, uint64_t nid)
{
	bool first = true;
	size_t i;

	pthread_mutex_lock(&s->failed_lock);
	if ((s->failed_n + 1) * 2 > s->failed_size) {
		size_t size = s->failed_size ? s->failed_size * 2 : 256;
		uint64_t *slots = calloc(size, sizeof(*slots));

		if (slots == NULL)
			goto out; /* log it, remember nothing */
		for (size_t k = 0; k < s->failed_size; k++) {
			if (s->failed[k] == 0)
				continue;
			for (i = s->failed[k] & (size - 1); slots[i];
			     i = (i + 1) & (size - 1))
				;
			slots[i] = s->failed[k];
		}
		free(s->failed);
		s->failed = slots;
		s->failed_size = size;
	}
	for (i = (nid + 1) & (s->failed_size - 1); s->failed[i];
	     i = (i + 1) & (s->failed_size - 1)) {
		if (s->failed[i] == nid + 1) {
			first = false;
			goto out;
		}
	}
	s->failed[i] = nid + 1;
	s->failed_n++;
out:
	pthread_mutex_unlock(&s->failed_lock);
	return first;
}

struct handle {
	struct cfs_inode inode;
	struct cfs_object *object; /* NULL for data inside the image */
};

static void logmsg(struct server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void logmsg(struct server *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (s->foreground) {
		fprintf(stderr, "%s: ", tool_name);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(LOG_ERR, fmt, ap);
	}
	va_end(ap);
}

/* FUSE's root is inode 1; every other image inode is its nid + 2. */
static uint64_t nid_of(struct server *s, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? s->root_nid : (uint64_t)ino - 2;
}

static fuse_ino_t ino_of(struct server *s, uint64_t nid)
{
	return nid == s->root_nid ? FUSE_ROOT_ID : (fuse_ino_t)(nid + 2);
}

static struct server *server_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Errors from a hostile image become EIO for the caller and a log line. */
static int image_error(struct server *s, int r, const struct cfs_error *err)
{
	if (r == -EUCLEAN) {
		logmsg(s, "corrupt image: %s", err->message);
		return EIO;
	}
	return -r;
}

static int get_inode(struct server *s, fuse_ino_t ino, struct cfs_inode *out)
{
	struct cfs_error err = { { 0 } };
	int r = cfs_image_get_inode(s->img, nid_of(s, ino), out, &err);

	return r < 0 ? image_error(s, r, &err) : 0;
}

static void fill_stat(struct server *s, const struct cfs_inode *i,
		      struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino_of(s, i->nid);
	st->st_mode = i->mode;
	st->st_nlink = i->nlink;
	st->st_uid = i->uid;
	st->st_gid = i->gid;
	st->st_rdev = cfs_inode_get_rdev(i);
	st->st_size = (off_t)i->size;
	st->st_blksize = 4096;
	/* as EROFS counts them, and overlayfs for a file whose object it has
	 * not looked up yet: whole blocks */
	st->st_blocks = (blkcnt_t)(((i->size + 4095) & ~(uint64_t)4095) / 512);
	st->st_mtim.tv_sec = i->mtime_sec;
	st->st_mtim.tv_nsec = i->mtime_nsec;
	/* EROFS keeps one time; the kernel shows it for all three */
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static void fill_entry(struct server *s, const struct cfs_inode *i,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_of(s, i->nid);
	e->attr_timeout = CACHE_TIMEOUT;
	e->entry_timeout = CACHE_TIMEOUT;
	fill_stat(s, i, &e->attr);
}

static void find_xattr_kinds(struct server *s);

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* Nothing ever changes: cache symlinks, keep data until told
	 * otherwise (never), list and stat in one go. */
	struct server *s = userdata;

	if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
		s->no_opendir = true;
	}
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA)
		conn->want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
	if (conn->capable & FUSE_CAP_READDIRPLUS) {
		conn->want |= FUSE_CAP_READDIRPLUS;
		conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	}
	/* ACLs, where the image has any, are enforced by the kernel and
	 * cached there. Where it has none, the kernel checks the modes alone
	 * (as it does for a mount of the image) and a question about an ACL
	 * is answered "not supported" (see find_xattr_kinds). */
	find_xattr_kinds(s);
	if (s->kinds.acl_any && (conn->capable & FUSE_CAP_POSIX_ACL))
		conn->want |= FUSE_CAP_POSIX_ACL;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/* as much as the kernel takes (see raise_readahead) */
	conn->max_readahead = conn->capable ? 4u << 20 : conn->max_readahead;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct server *s = server_of(req);
	struct cfs_error err = { { 0 } };
	struct cfs_inode dir, child;
	struct fuse_entry_param e;
	uint64_t nid;
	int r;

	r = get_inode(s, parent, &dir);
	if (r != 0) {
		fuse_reply_err(req, r);
		return;
	}
	r = cfs_image_lookup(s->img, &dir, name, strlen(name), &nid, &err);
	if (r == 0)
		r = cfs_image_get_inode(s->img, nid, &child, &err);
	if (r == 0 && cfs_inode_is_whiteout(&child))
		r = -ENOENT;
	if (r < 0) {
		if (r == -ENOENT) {
			/* remember the absence as long as anything else */
			memset(&e, 0, sizeof(e));
			e.entry_timeout = CACHE_TIMEOUT;
			fuse_reply_entry(req, &e);
			return;
		}
		fuse_reply_err(req, image_error(s, r, &err));
		return;
	}
	fill_entry(s, &child, &e);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct server *s = server_of(req);
	struct cfs_inode i;
	struct stat st;
	int r = get_inode(s, ino, &i);

	if (r != 0) {
		fuse_reply_err(req, r);
		return;
	}
	fill_stat(s, &i, &st);
	fuse_reply_attr(req, &st, CACHE_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct server *s = server_of(req);
	struct cfs_error err = { { 0 } };
	char target[CFS_PAYLOAD_MAX + 1];
	struct cfs_inode i;
	const char *t;
	size_t len;
	int r = get_inode(s, ino, &i);

	if (r != 0) {
		fuse_reply_err(req, r);
		return;
	}
	r = cfs_image_read_symlink(s->img, &i, &t, &len, &err);
	if (r < 0) {
		fuse_reply_err(req, image_error(s, r, &err));
		return;
	}
	memcpy(target, t, len);
	target[len] = '\0';
	fuse_reply_readlink(req, target);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct server *s = server_of(req);

	/* No state to keep per open directory: where the kernel allows it,
	 * say so once, and it stops asking (and keeps listings cached). */
	if (s->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	/* listings never change: the kernel may keep them */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

struct listing {
	struct server *s;
	fuse_req_t req;
	char *buf;
	size_t size, used;
	bool plus;
	int error;
};

static int list_entry(void *userdata, const char *name, size_t len,
		      uint64_t nid, uint8_t type, uint64_t index)
{
	struct listing *l = userdata;
	struct server *s = l->s;
	struct cfs_error err = { { 0 } };
	char cname[CFS_NAME_MAX + 1];
	struct cfs_inode i;
	bool dot = (len == 1 && name[0] == '.') ||
		   (len == 2 && name[0] == '.' && name[1] == '.');
	size_t n;
	int r;

	memcpy(cname, name, len);
	cname[len] = '\0';
	if (!dot && (l->plus || cfs_dirent_may_be_whiteout(type))) {
		r = cfs_image_get_inode(s->img, nid, &i, &err);
		if (r < 0) {
			l->error = image_error(s, r, &err);
			return 1;
		}
		if (cfs_inode_is_whiteout(&i))
			return 0;
	}
	if (l->plus) {
		struct fuse_entry_param e;

		if (dot) {
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = ino_of(s, nid);
			e.attr.st_mode = S_IFDIR;
		} else {
			fill_entry(s, &i, &e);
		}
		n = fuse_add_direntry_plus(l->req, l->buf + l->used,
					   l->size - l->used, cname, &e,
					   (off_t)index + 1);
	} else {
		struct stat st = { .st_ino = ino_of(s, nid) };

		st.st_mode = cfs_dirent_type_to_mode(type);
		n = fuse_add_direntry(l->req, l->buf + l->used,
				      l->size - l->used, cname, &st,
				      (off_t)index + 1);
	}
	if (n > l->size - l->used)
		return 1; /* full: the next call starts here */
	l->used += n;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       bool plus)
{
	struct server *s = server_of(req);
	struct cfs_error err = { { 0 } };
	struct listing l = { s, req, NULL, size, 0, plus, 0 };
	struct cfs_inode dir;
	int r = get_inode(s, ino, &dir);

	if (r != 0) {
		fuse_reply_err(req, r);
		return;
	}
	l.buf = malloc(size);
	if (l.buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* offsets are entry numbers: stable however listings interleave */
	r = cfs_image_readdir(s->img, &dir, (uint64_t)off, list_entry, &l,
			      &err);
	if (r < 0)
		fuse_reply_err(req, image_error(s, r, &err));
	else if (l.error != 0 && l.used == 0)
		fuse_reply_err(req, l.error);
	else
		fuse_reply_buf(req, l.buf, l.used);
	free(l.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, true);
}

/* Where a file is, for messages: the first path to its inode. */

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct server *s = server_of(req);
	struct cfs_error err = { { 0 } };
	struct cfs_overlay_info info;
	struct handle *h;
	char buf[16];
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = get_inode(s, ino, &h->inode);
	if (r != 0)
		goto fail;
	if (!S_ISREG(h->inode.mode)) {
		r = EINVAL;
		goto fail;
	}
	/* data inside the image: readable as it is */
	if (cfs_image_read_inline(s->img, &h->inode, 0, buf, 0, &err) !=
	    -ENODATA)
		goto done;

	r = cfs_image_get_overlay_info(s->img, &h->inode, &info, &err);
	if (r < 0) {
		r = image_error(s, r, &err);
		goto fail;
	}
	if (s->overlay_xattrs) {
		/* overlayfs reads these from the object mount */
		r = EIO;
		err.message[0] = '\0';
		cfs_error_set(&err, -EIO, "contents are the object server's");
	} else if (!info.metacopy || info.object[0] == '\0') {
		r = EIO;
		err.message[0] = '\0';
		cfs_error_set(&err, -EIO, "no object named for its content");
	} else {
		r = -cfs_object_open(
			s->caches[info.has_digest &&
				  info.digest_alg == CFS_HASH_SHA512],
			s->basedir_fds, s->n_basedirs, info.object,
			h->inode.size, info.has_digest ? info.digest : NULL,
			s->verify, &h->object, &err);
	}
	if (r != 0) {
		char path[4096];

		if (first_failure(s, h->inode.nid)) {
			(void)cfs_image_path_of(s->img, h->inode.nid, path,
						sizeof(path));
			logmsg(s, "open %s: %s", path, err.message);
		}
		goto fail;
	}
done:
	fi->keep_cache = 1;
	fi->fh = (uint64_t)(uintptr_t)h;
	fuse_reply_open(req, fi);
	return;
fail:
	free(h);
	fuse_reply_err(req, r);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct server *s = server_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct cfs_error err = { { 0 } };
	ssize_t n;
	char *buf;

	if (h->object != NULL && cfs_object_direct_fd(h->object) >= 0) {
		/* nothing to check per block: let the kernel splice it */
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

		if ((uint64_t)off >= h->inode.size) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		if (size > h->inode.size - (uint64_t)off)
			bv.buf[0].size = h->inode.size - (uint64_t)off;
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = cfs_object_direct_fd(h->object);
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	buf = read_buffer(size);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (h->object != NULL)
		n = cfs_object_pread(h->object, buf, size, (uint64_t)off, &err);
	else
		n = cfs_image_read_inline(s->img, &h->inode, (uint64_t)off, buf,
					  size, &err);
	if (n < 0) {
		char path[4096];

		if (first_failure(s, h->inode.nid)) {
			(void)cfs_image_path_of(s->img, h->inode.nid, path,
						sizeof(path));
			logmsg(s, "read %s: %s", path, err.message);
		}
		fuse_reply_err(req, EIO);
	} else {
		fuse_reply_buf(req, buf, (size_t)n);
	}
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	cfs_object_close(h->object);
	free(h);
	fuse_reply_err(req, 0);
}

/* ------------------------------------------------------------------ */
/* Xattrs as overlayfs shows them (cfs_image_list_shown_xattrs) */

struct xattr_query {
	const char *name; /* getxattr: the shown name asked for */
	char *out;
	size_t size, len;
	bool found;
	bool escape; /* -o shared: user.overlay.X shown as user.overlay.overlay.X */
};

#define USER_OVERLAY "user.overlay."

/* The name a shown xattr has for the server's reader: under -o shared that
 * is overlayfs with userxattr, which takes user.overlay.* for its own and
 * shows user.overlay.overlay.X as user.overlay.X. */
static const char *served_name(const struct xattr_query *q, const char *name,
			       char *buf, size_t size)
{
	if (!q->escape || strncmp(name, USER_OVERLAY, 13) != 0)
		return name;
	snprintf(buf, size, USER_OVERLAY "overlay.%s", name + 13);
	return buf;
}

static int xattr_get(void *userdata, const char *name, const void *value,
		     size_t len)
{
	struct xattr_query *q = userdata;
	char buf[CFS_NAME_MAX + 32];

	if (strcmp(served_name(q, name, buf, sizeof(buf)), q->name) != 0)
		return 0;
	q->found = true;
	q->len = len;
	if (q->size > 0 && len <= q->size)
		memcpy(q->out, value, len);
	return 1;
}

static int xattr_list(void *userdata, const char *name, const void *value,
		      size_t len)
{
	struct xattr_query *q = userdata;
	char buf[CFS_NAME_MAX + 32];
	size_t n;

	name = served_name(q, name, buf, sizeof(buf));
	n = strlen(name) + 1;

	if (q->size > 0 && q->len + n <= q->size)
		memcpy(q->out + q->len, name, n);
	q->len += n;
	return 0;
}

static bool is_acl_name(const char *name)
{
	return strncmp(name, "system.posix_acl_", 17) == 0;
}

/* Find out, once, which security.* xattrs the image has at all, and whether
 * any file has an ACL. A question about an xattr that no file has is
 * answered "not supported" rather than "no such xattr": true of this
 * filesystem, and what lets `ls -l` stop asking for the SELinux label and
 * the ACLs of every file (it remembers that per filesystem), a round trip a
 * file over FUSE. */
static void find_xattr_kinds(struct server *s)
{
	pthread_mutex_lock(&s->kinds_lock);
	if (!s->kinds_known) {
		cfs_image_find_xattr_kinds(s->img, &s->kinds);
		/* -o noacl: as if no file had an ACL, as the reference's
		 * option does */
		if (s->noacl)
			s->kinds.acl_any = false;
		s->kinds_known = true;
	}
	pthread_mutex_unlock(&s->kinds_lock);
}

/* Under -o shared, a regular file whose content is an object carries
 * user.overlay.metacopy (empty: no digest, the object server checks it) and
 * user.overlay.redirect (the object's path in the object mount): listed, or
 * the one q asks for. */
static int overlay_xattrs(struct server *s, const struct cfs_inode *i,
			  struct xattr_query *q)
{
	struct cfs_error err = { { 0 } };
	struct cfs_overlay_info info;
	char redirect[CFS_PAYLOAD_MAX + 2];
	int r;

	if (!S_ISREG(i->mode))
		return 0;
	r = cfs_image_get_overlay_info(s->img, i, &info, &err);
	if (r < 0)
		return -image_error(s, r, &err);
	if (!info.metacopy || info.object[0] == '\0')
		return 0;
	snprintf(redirect, sizeof(redirect), "/%s", info.object);
	q->escape = false;
	if (q->name != NULL) {
		if (strcmp(q->name, USER_OVERLAY "metacopy") == 0)
			xattr_get(q, q->name, "", 0);
		else if (strcmp(q->name, USER_OVERLAY "redirect") == 0)
			xattr_get(q, q->name, redirect, strlen(redirect));
	} else {
		xattr_list(q, USER_OVERLAY "metacopy", NULL, 0);
		xattr_list(q, USER_OVERLAY "redirect", NULL, 0);
	}
	q->escape = true;
	return 0;
}

static void do_xattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		     size_t size)
{
	struct server *s = server_of(req);
	struct cfs_error err = { { 0 } };
	struct xattr_query q = { name, NULL, size, 0, false, s->overlay_xattrs };
	struct cfs_inode i;
	int r;

	if (name != NULL && is_acl_name(name) && !s->kinds.acl_any) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (name != NULL && strncmp(name, "security.", 9) == 0) {
		bool known = false;

		find_xattr_kinds(s);
		known = s->kinds.security_any;
		for (size_t k = 0; k < s->kinds.n_security_names && !known; k++)
			known = strcmp(s->kinds.security_names[k], name) == 0;
		if (!known) {
			fuse_reply_err(req, EOPNOTSUPP);
			return;
		}
	}
	r = get_inode(s, ino, &i);
	if (r != 0) {
		fuse_reply_err(req, r);
		return;
	}
	if (size > 0) {
		q.out = malloc(size);
		if (q.out == NULL) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	if (s->overlay_xattrs && name != NULL &&
	    strncmp(name, USER_OVERLAY, 13) == 0 &&
	    strncmp(name, USER_OVERLAY "overlay.", 21) != 0) {
		/* overlayfs' own: only what points it at the object */
		r = overlay_xattrs(s, &i, &q);
		if (r == 0 && !q.found)
			r = -ENODATA;
	} else {
		r = cfs_image_list_shown_xattrs(
			s->img, &i, name ? xattr_get : xattr_list, &q, &err);
		if (r >= 0 && s->overlay_xattrs && name == NULL)
			r = overlay_xattrs(s, &i, &q);
	}
	if (r == -ENODATA)
		fuse_reply_err(req, ENODATA);
	else if (r < 0)
		fuse_reply_err(req, image_error(s, r, &err));
	else if (name != NULL && !q.found)
		fuse_reply_err(req, ENODATA);
	else if (size == 0)
		fuse_reply_xattr(req, q.len);
	else if (q.len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, q.out, q.len);
	free(q.out);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	do_xattr(req, ino, name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	do_xattr(req, ino, NULL, size);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct server *s = server_of(req);
	struct statvfs sv = {
		.f_bsize = 4096,
		.f_frsize = 4096,
		.f_blocks = s->image_blocks,
		.f_namemax = CFS_NAME_MAX,
	};

	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.statfs = op_statfs,
};

/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* Options */

struct options {
	char *image;
	char *source; /* -o source=IMAGE, the reference's form */
	char *basedir;
	char *digest;
	char *hash_alg;
	char *verify;
	char *treecache;
	char *signature;
	char *signed_by;
	int noacl;
	int shared;
};

static const struct fuse_opt option_spec[] = {
	{ "source=%s", offsetof(struct options, source), 0 },
	{ "basedir=%s", offsetof(struct options, basedir), 0 },
	{ "digest=%s", offsetof(struct options, digest), 0 },
	{ "hash-alg=%s", offsetof(struct options, hash_alg), 0 },
	{ "verify=%s", offsetof(struct options, verify), 0 },
	{ "treecache=%s", offsetof(struct options, treecache), 0 },
	{ "signature=%s", offsetof(struct options, signature), 0 },
	{ "signed-by=%s", offsetof(struct options, signed_by), 0 },
	{ "noacl", offsetof(struct options, noacl), 1 },
	{ "shared", offsetof(struct options, shared), 1 },
	FUSE_OPT_END,
};

static int option_proc(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct options *o = data;

	/* with -o source=, every free argument is libfuse's (the mount
	 * point) */
	if (key == FUSE_OPT_KEY_NONOPT && o->image == NULL &&
	    o->source == NULL) {
		o->image = strdup(arg);
		return 0; /* consumed: the first free argument is the image */
	}
	return 1;
}

static void usage(void)
{
	printf("Usage: %s [OPTIONS] IMAGE MOUNTPOINT\n"
	       "       %s [OPTIONS] -o source=IMAGE MOUNTPOINT\n"
	       "Serve the composefs image IMAGE at MOUNTPOINT, reading file\n"
	       "contents from the object directories and verifying them.\n"
	       "\n"
	       "  -o source=IMAGE          the image (instead of the argument)\n"
	       "  -o basedir=DIR[:DIR...]  object directories, searched in order\n"
	       "  -o digest=HEX            the image's fs-verity digest: refuse\n"
	       "                           to serve any other image (64 hex\n"
	       "                           digits: SHA-256, 128: SHA-512)\n"
	       "  -o hash-alg=ALG          the image's algorithm, sha256 or\n"
	       "                           sha512 (default: digest='s, else\n"
	       "                           sha256); files are checked with\n"
	       "                           their own digest's algorithm\n"
	       "  -o verify=full           check every block read against the\n"
	       "                           digest in the image (default)\n"
	       "  -o verify=open           check the whole object at each open\n"
	       "  -o verify=none           trust the object directories\n"
	       "  -o treecache=DIR         keep verified Merkle trees in DIR for\n"
	       "                           later mounts (checked again on use)\n"
	       "  -o shared                share the object store's page cache\n"
	       "                           with every mount of this user: one\n"
	       "                           verified object server, overlayfs\n"
	       "                           over it (in a user namespace of\n"
	       "                           one's own, or as root)\n"
	       "  -o signature=FILE        the image's digest must carry this\n"
	       "                           fs-verity signature (PKCS#7, DER, as\n"
	       "                           fsverity sign writes it)...\n"
	       "  -o signed-by=CERT[:CERT...]\n"
	       "                           ...by the key of one of these\n"
	       "                           certificates (PEM)\n"
	       "  -o noacl                 ignore the image's ACLs: permissions\n"
	       "                           from the modes alone, ACL xattrs\n"
	       "                           answered \"not supported\"\n"
	       "  -f                       stay in the foreground\n"
	       "  -s                       single-threaded\n"
	       "  -o OPT                   other FUSE mount options (as root\n"
	       "                           the default is allow_other,dev,suid,\n"
	       "                           as the kernel mount; -o nodev,nosuid\n"
	       "                           restricts it)\n"
	       "  -h, --help               this help\n"
	       "  -V, --version            the version\n",
	       tool_name, tool_name);
}

/*
 * The whole image read into memory, and served from that copy: the bytes
 * served are the bytes measured (with digest=), and a file truncated or
 * rewritten under a running server changes nothing.
 */
static int load_image_fd(struct server *s, int fd, const char *path,
			 const char *hex, uint8_t *ret_found)
{
	uint8_t want[CFS_DIGEST_MAX_SIZE];
	struct cfs_error err = { { 0 } };
	size_t size;

	if (hex != NULL && cfs_digest_from_hex_alg(s->alg, hex, want) < 0)
		return tool_fail("invalid digest '%s' (%zu hex digits "
				 "expected)",
				 hex, 2 * cfs_hash_alg_digest_size(s->alg));
	if (cfs_image_read_fd_alg(fd, path, s->alg, hex != NULL ? want : NULL,
				  ret_found, &s->image_copy, &size, &err) < 0)
		return tool_fail("%s", err.message);
	if (cfs_image_open_buffer(s->image_copy, size, &s->img, &err) < 0)
		return tool_fail("%s: %s", path,
				 err.message[0] ? err.message :
						  "out of memory");
	s->image_blocks = (uint64_t)size / 4096;
	return 0;
}

static int load_image(struct server *s, const char *path, const char *hex,
		      uint8_t *ret_found)
{
	/* O_NONBLOCK: a FIFO given as the image must not hang the start */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	int r;

	if (fd < 0)
		return tool_fail("%s: %s", path, strerror(errno));
	r = load_image_fd(s, fd, path, hex, ret_found);
	close(fd);
	return r;
}

/* signature=FILE,signed-by=CERT[:CERT...]: the digest of the bytes
 * served must carry that signature by one of those certificates. */
static int check_signature(const char *sig_path, char *signed_by,
			   enum cfs_hash_alg alg, const uint8_t *digest)
{
	enum {
		SIG_MAX = 1 << 20
	};
	struct cfs_error err = { { 0 } };
	const char **certs = NULL;
	uint8_t *sig = NULL;
	size_t n_certs = 0, len = 0;
	char *save = NULL;
	struct stat st;
	int fd, r = -1;

	fd = open(sig_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		tool_fail("signature %s: %s", sig_path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SIG_MAX) {
		tool_fail("signature %s: not a regular file of at most %d "
			  "bytes",
			  sig_path, SIG_MAX);
		goto out;
	}
	sig = malloc((size_t)st.st_size + 1);
	if (sig == NULL) {
		tool_fail("out of memory");
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, sig + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			tool_fail("signature %s: %s", sig_path,
				  n < 0 ? strerror(errno) : "it shrank");
			goto out;
		}
		len += (size_t)n;
	}
	for (char *c = strtok_r(signed_by, ":", &save); c != NULL;
	     c = strtok_r(NULL, ":", &save)) {
		const char **more = reallocarray(certs, n_certs + 1,
						 sizeof(*certs));

		if (more == NULL) {
			tool_fail("out of memory");
			goto out;
		}
		certs = more;
		certs[n_certs++] = c;
	}
	if (cfs_verity_verify(alg, digest, sig, len, certs, n_certs, &err) <
	    0) {
		tool_fail("Image has no valid signature: %s", err.message);
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(sig);
	free(certs);
	return r;
}

static int open_basedirs(struct server *s, char *list)
{
	char *save = NULL;

	for (char *d = strtok_r(list, ":", &save); d != NULL;
	     d = strtok_r(NULL, ":", &save)) {
		/* O_DIRECTORY refuses anything else before it is opened:
		 * a FIFO given here never blocks the start */
		int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
					 O_NONBLOCK | O_NOCTTY);
		int *fds;

		if (fd < 0)
			return tool_fail("basedir %s: %s", d,
					 errno == ENOTDIR ? "not a directory" :
							    strerror(errno));
		fds = reallocarray(s->basedir_fds, s->n_basedirs + 1,
				   sizeof(*fds));
		if (fds == NULL)
			return tool_fail("out of memory");
		s->basedir_fds = fds;
		s->basedir_fds[s->n_basedirs++] = fd;
	}
	return 0;
}

/* A mount point from /proc/self/mountinfo, where space, tab, newline and
 * backslash are written as three octal digits after a backslash. */
static void unescape_mountinfo(char *p)
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

/*
 * The kernel reads ahead of a reader of this mount at most what the mount's
 * backing device info allows, 128 KiB unless raised, whatever the server
 * offers at INIT. 128 KiB at a time is one or two requests in flight: one
 * core hashes while the other waits. Where we may (as root), let this mount
 * (its own device, gone with it) read 4 MiB ahead: requests come several at
 * once and are verified on every core. Without the right, reads stay as
 * they are. The mount is found in /proc/self/mountinfo: asking the mount
 * itself would wait for this server, which does not serve yet.
 */
static void raise_readahead(const char *mountpoint)
{
	char *line = NULL, *real = realpath(mountpoint, NULL);
	size_t cap = 0;
	unsigned maj = 0, min = 0;
	bool found = false;
	FILE *f;

	if (geteuid() != 0 || real == NULL ||
	    (f = fopen("/proc/self/mountinfo", "re")) == NULL) {
		free(real);
		return;
	}
	/* the last mount on that path is ours */
	while (getline(&line, &cap, f) > 0) {
		char dir[4096], type[256];
		unsigned a, b;

		if (sscanf(line, "%*s %*s %u:%u %*s %4095s %*[^-]- %255s", &a,
			   &b, dir, type) != 4)
			continue;
		unescape_mountinfo(dir);
		if (strcmp(dir, real) == 0 &&
		    strncmp(type, "fuse.composefs", 14) == 0) {
			maj = a;
			min = b;
			found = true;
		}
	}
	fclose(f);
	free(line);
	free(real);
	if (found) {
		char path[64];
		int fd;

		snprintf(path, sizeof(path),
			 "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "4096\n", 5) != 5) {
				/* only a hint: reads work either way */
			}
			close(fd);
		}
	}
}

/*
 * The multithreaded loop with the command line's -o clone_fd,
 * max_idle_threads and (libfuse 3.12 on) max_threads. An option not given
 * is UINT_MAX in cmd and left to libfuse's default: passed on, libfuse
 * would reject it with a message at every start.
 */
static int run_loop_mt(struct fuse_session *se,
		       const struct fuse_cmdline_opts *cmd)
{
#if FUSE_USE_VERSION >= 312
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int r;

	if (cfg == NULL) {
		tool_fail("out of memory");
		return -1;
	}
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned)cmd->clone_fd);
	if (cmd->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(cfg, cmd->max_idle_threads);
	if (cmd->max_threads != UINT_MAX && cmd->max_threads != 0)
		fuse_loop_cfg_set_max_threads(cfg, cmd->max_threads);
	r = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r;
#else
	struct fuse_loop_config cfg = {
		.clone_fd = cmd->clone_fd,
		/* libfuse's default before 3.12 */
		.max_idle_threads = cmd->max_idle_threads != UINT_MAX ?
					    cmd->max_idle_threads :
					    10,
	};

	return fuse_session_loop_mt(se, &cfg);
#endif
}

/* A daemon's standard streams: /dev/null, and messages to syslog. */
static void detach_streams(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	openlog(tool_name, LOG_PID, LOG_DAEMON);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	if (chdir("/") != 0) {
		/* nothing relative is used from here */
	}
}

/* The overlay holds the metadata mount; nothing else may: detached (lazily,
 * by libfuse, which then lets go of the session's descriptor in this
 * process) and its directory removed. */
static void detach_meta(struct fuse_session *se, const char *meta)
{
	fuse_session_unmount(se);
	(void)rmdir(meta);
}

/*
 * -o shared: the object server found or started, this image's metadata
 * served on a private directory, overlayfs stacked on the mount point.
 * In the background (the default) the server is a child and this process
 * returns once the overlay is mounted; with -f the child stacks and this
 * process serves. Either way the metadata mount is only the overlay's:
 * unmounting the overlay ends the server. The exit status.
 */
static int serve_shared(struct server *s, struct fuse_session *se,
			struct shared_objects *objs,
			const struct fuse_cmdline_opts *cmd)
{
	char *meta = NULL;
	int r = 1, status;
	pid_t pid;

	meta = shared_meta_dir(objs);
	if (meta == NULL)
		goto out;
	if (fuse_session_mount(se, meta) != 0) {
		(void)rmdir(meta);
		goto out;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		tool_fail("fork: %s", strerror(errno));
		detach_meta(se, meta);
		goto out;
	}
	if (!cmd->foreground) {
		if (pid == 0) {
			close(objs->lock_fd);
			setsid();
			detach_streams();
			s->foreground = false;
			/* one thread: metadata requests are few and cheap
			 * (the kernel caches what they answer) */
			_exit(fuse_session_loop(se) < 0 ? 1 : 0);
		}
		r = shared_stack(objs, meta, cmd->mountpoint);
		detach_meta(se, meta);
		goto out;
	}
	if (pid == 0) {
		r = shared_stack(objs, meta, cmd->mountpoint);
		detach_meta(se, meta);
		_exit(r);
	}
	/* the child holds the lock (the same open file) until it is done */
	close(objs->lock_fd);
	objs->lock_fd = -1;
	r = fuse_session_loop(se) < 0 ? 1 : 0;
	fuse_session_unmount(se); /* gone already: frees what remains */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			break;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		r = 1;
out:
	free(meta);
	return r;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct options o = { 0 };
	struct server s = { .verify = CFS_VERIFY_FULL,
			    .failed_lock = PTHREAD_MUTEX_INITIALIZER,
			    .kinds_lock = PTHREAD_MUTEX_INITIALIZER };
	struct cfs_error err = { { 0 } };
	struct shared_objects objs = { .lock_fd = -1 };
	struct fuse_session *se = NULL;
	struct cfs_inode root;
	char *mount_opts = NULL;
	uint8_t measured[CFS_DIGEST_MAX_SIZE];
	int ret = 1;

	tool_init("composefs-fuse");
	if (fuse_opt_parse(&args, &o, option_spec, option_proc) < 0)
		return tool_usage_status;
	if (o.source != NULL) {
		/* -o source=IMAGE MOUNTPOINT: a free argument taken for the
		 * image before the option was seen is the mount point */
		if (o.image != NULL && fuse_opt_add_arg(&args, o.image) != 0)
			return 1;
		free(o.image);
		o.image = o.source;
		o.source = NULL;
	}
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		return tool_usage_status;
	if (cmd.show_help) {
		usage();
		ret = 0;
		goto out;
	}
	if (cmd.show_version) {
		tool_print_version();
		printf("libfuse %s\n", fuse_pkgversion());
		ret = 0;
		goto out;
	}
	if (o.image == NULL || cmd.mountpoint == NULL) {
		fprintf(stderr, "%s: usage: %s [OPTIONS] IMAGE MOUNTPOINT\n",
			tool_name, tool_name);
		ret = tool_usage_status;
		goto out;
	}
	s.foreground = cmd.foreground;
	s.noacl = o.noacl;
	if (o.verify == NULL || strcmp(o.verify, "full") == 0) {
		s.verify = CFS_VERIFY_FULL;
	} else if (strcmp(o.verify, "open") == 0) {
		s.verify = CFS_VERIFY_OPEN;
	} else if (strcmp(o.verify, "none") == 0) {
		s.verify = CFS_VERIFY_NONE;
	} else {
		fprintf(stderr, "%s: invalid verify=%s (full, open or none)\n",
			tool_name, o.verify);
		ret = tool_usage_status;
		goto out;
	}
	if (o.basedir != NULL && open_basedirs(&s, o.basedir) != 0)
		goto out;

	if ((o.signature == NULL) != (o.signed_by == NULL)) {
		fprintf(stderr, "%s: signature and signed-by go together\n",
			tool_name);
		ret = tool_usage_status;
		goto out;
	}
	/* -o shared: the object server first, so that it is not a fork of a
	 * process holding the image (one that ends unused if the image is
	 * refused) */
	if (o.shared) {
		if (s.n_basedirs != 1) {
			fprintf(stderr, "%s: -o shared takes one basedir\n",
				tool_name);
			ret = tool_usage_status;
			goto out;
		}
		if (shared_objects_acquire(o.basedir, o.treecache, s.verify,
					   &objs) != 0)
			goto out;
	}
	/* the image's algorithm: hash-alg=, else told by digest='s length */
	s.alg = CFS_HASH_SHA256;
	if (o.hash_alg != NULL &&
	    cfs_hash_alg_from_name(o.hash_alg, &s.alg) < 0) {
		fprintf(stderr,
			"%s: unknown hash algorithm '%s' (sha256 or sha512)\n",
			tool_name, o.hash_alg);
		ret = tool_usage_status;
		goto out;
	}
	if (o.hash_alg == NULL && o.digest != NULL &&
	    strlen(o.digest) == 2 * 64)
		s.alg = CFS_HASH_SHA512;
	if (load_image(&s, o.image, o.digest, measured) != 0)
		goto out;
	if (o.signature != NULL &&
	    check_signature(o.signature, o.signed_by, s.alg, measured) != 0)
		goto out;
	s.root_nid = cfs_image_get_root_nid(s.img);
	if (cfs_image_get_inode(s.img, s.root_nid, &root, &err) < 0) {
		tool_fail("%s: %s", o.image, err.message);
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		s.caches[i] = cfs_object_cache_new(0);
		if (s.caches[i] == NULL) {
			tool_fail("out of memory");
			goto out;
		}
		if (i == 1)
			(void)cfs_object_cache_set_hash_alg(s.caches[i],
							    CFS_HASH_SHA512);
		if (o.treecache != NULL &&
		    cfs_object_cache_set_dir(s.caches[i], o.treecache, &err) <
			    0) {
			tool_fail("%s", err.message);
			goto out;
		}
	}

	/* Read-only, permissions checked by the kernel as on any file
	 * system, and as root like the kernel mount (mount.composefs):
	 * visible to all, with devices and setuid programs working (a system
	 * tree in a chroot needs its /dev/null; libfuse would mount nodev,
	 * nosuid). Put first, so that the caller's -o nodev, nosuid... win;
	 * without root the kernel and fusermount3 impose nodev,nosuid. */
	if (asprintf(&mount_opts,
		     "-oro,default_permissions,subtype=composefs%s",
		     geteuid() == 0 ? ",allow_other,dev,suid" : "") < 0 ||
	    fuse_opt_insert_arg(&args, 1, mount_opts) < 0) {
		tool_fail("out of memory");
		goto out;
	}

	se = fuse_session_new(&args, &ops, sizeof(ops), &s);
	if (se == NULL)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (o.shared) {
		s.overlay_xattrs = true;
		ret = serve_shared(&s, se, &objs, &cmd);
		fuse_remove_signal_handlers(se);
		goto out;
	}
	if (fuse_session_mount(se, cmd.mountpoint) != 0) {
		fuse_remove_signal_handlers(se);
		goto out;
	}
	raise_readahead(cmd.mountpoint);
	if (!cmd.foreground)
		openlog(tool_name, LOG_PID, LOG_DAEMON);
	fuse_daemonize(cmd.foreground);
	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		ret = run_loop_mt(se, &cmd);
	}
	/* a signal (SIGTERM, SIGINT) ends the loop as asked: success */
	ret = ret < 0 ? 1 : 0;
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
out:
	if (se != NULL)
		fuse_session_destroy(se);
	shared_objects_release(&objs);
	for (int i = 0; i < 2; i++)
		cfs_object_cache_free(s.caches[i]);
	cfs_image_free(s.img);
	free(s.image_copy);
	free(s.failed);
	for (size_t i = 0; i < s.n_basedirs; i++)
		close(s.basedir_fds[i]);
	free(s.basedir_fds);
	free(mount_opts);
	free(cmd.mountpoint);
	free(o.image);
	free(o.basedir);
	free(o.digest);
	free(o.hash_alg);
	free(o.verify);
	free(o.treecache);
	free(o.signature);
	free(o.signed_by);
	cfs_xattr_kinds_clear(&s.kinds);
	fuse_opt_free_args(&args);
	return ret;
}
