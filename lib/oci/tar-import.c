/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Tar streams into node trees, without unpacking: libarchive reads the
 * headers, file contents stream straight into the object store while their
 * digest is computed, and nothing about the importing user (owner, umask,
 * clock) reaches the tree. Layer trees (import_i.h) are then applied onto
 * each other with the OCI image-spec's whiteouts.
 *
 * The stream is read through two libarchive readers: the outer one only
 * decompresses (any filter, the "raw" format), the inner one parses tar
 * from what the outer one gives. Between them the uncompressed bytes pass
 * through our hands, so that an OCI layer's diff_id (the sha256 of its
 * uncompressed tar) is computed on the way, as is the sha256 of the bytes
 * read from the fd (the blob's digest).
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "oci/import_i.h"
#include "tree/node_i.h"
#include "store/store_i.h"
#include "base/util.h"

#define IN_BUF_SIZE (256 * 1024)
/* Uncompressed bytes between the two threads: N_SLOTS slots of SLOT_SIZE. */
#define N_SLOTS 4
#define SLOT_SIZE (1024 * 1024)
/* Path depth and symlink hops followed before giving up. */
#define MAX_DEPTH 4096

/*
 * The input side runs on a thread of its own, so that decompressing (and
 * the two sha256s) overlaps with parsing, digesting and writing objects:
 * it reads the fd through the outer reader to the very end and passes the
 * uncompressed bytes on in slots; the inner reader takes them in order.
 */
struct tar_in {
	int fd;
	const char *name;
	uint8_t *buf; /* what read() fills */
	EVP_MD_CTX *blob_md, *diff_md;
	_Atomic uint64_t blob_bytes;
	uint64_t diff_bytes;
	struct archive *outer;
	int read_errno;
	ssize_t peeked; /* bytes in buf read (and digested) but not taken */
	size_t fill; /* bytes in the slot being filled */

	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *slot_data[N_SLOTS];
	size_t slot_len[N_SLOTS];
	unsigned head, count; /* slots filled, from head */
	bool holding; /* the inner reader has the head slot */
	bool done, cancel;
	int error; /* -errno when the input side failed; message below */
	char message[256];
	uint8_t blob_sha256[32], diff_sha256[32];
};

/* Read the next bytes of the fd into in->buf, into the blob's digest:
 * their count, 0 at the end, -errno. */
static ssize_t read_input(struct tar_in *in)
{
	ssize_t n;

	do
		n = read(in->fd, in->buf, IN_BUF_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		in->read_errno = errno;
		return -errno;
	}
	if (n > 0 && EVP_DigestUpdate(in->blob_md, in->buf, (size_t)n) != 1) {
		in->read_errno = ENOMEM;
		return -ENOMEM;
	}
	in->blob_bytes += (uint64_t)n;
	return n;
}

static la_ssize_t outer_read(struct archive *a, void *userdata,
			     const void **ret_buf)
{
	struct tar_in *in = userdata;
	ssize_t n;

	if (in->peeked > 0) {
		/* what was read (and digested) to tell the compression */
		n = in->peeked;
		in->peeked = 0;
	} else {
		n = read_input(in);
	}
	if (n < 0) {
		archive_set_error(a, (int)-n, "reading: %s", strerror((int)-n));
		return -1;
	}
	*ret_buf = in->buf;
	return n;
}

/* Publish slot (head + count) holding len bytes; false when cancelled. */
static bool publish(struct tar_in *in, size_t len)
{
	bool go_on;

	pthread_mutex_lock(&in->lock);
	in->slot_len[(in->head + in->count) % N_SLOTS] = len;
	in->count++;
	pthread_cond_broadcast(&in->cond);
	while (in->count == N_SLOTS && !in->cancel)
		pthread_cond_wait(&in->cond, &in->lock);
	go_on = !in->cancel;
	pthread_mutex_unlock(&in->lock);
	return go_on;
}

/* The slot being filled. */
static uint8_t *fill_slot(struct tar_in *in)
{
	return in->slot_data[(in->head + in->count) % N_SLOTS];
}

/* len uncompressed bytes were put at fill_slot() + in->fill: into the
 * diff_id, and on to the inner reader when the slot is full. 0, -ECANCELED
 * when the inner reader is gone, -ENOMEM. */
static int produced(struct tar_in *in, size_t len)
{
	if (len > 0 &&
	    EVP_DigestUpdate(in->diff_md, fill_slot(in) + in->fill, len) != 1)
		return -ENOMEM;
	in->diff_bytes += len;
	in->fill += len;
	if (in->fill == SLOT_SIZE) {
		in->fill = 0;
		if (!publish(in, SLOT_SIZE))
			return -ECANCELED;
	}
	return 0;
}

static int fail_input(struct tar_in *in, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_input(struct tar_in *in, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(in->message, sizeof(in->message), fmt, ap);
	va_end(ap);
	return r;
}

/* Any compression libarchive knows, or none. */
static int pump_libarchive(struct tar_in *in)
{
	struct archive_entry *e;
	int r;

	if (archive_read_support_filter_all(in->outer) < ARCHIVE_WARN ||
	    archive_read_support_format_raw(in->outer) != ARCHIVE_OK ||
	    archive_read_open(in->outer, in, NULL, outer_read, NULL) !=
		    ARCHIVE_OK ||
	    archive_read_next_header(in->outer, &e) != ARCHIVE_OK)
		return fail_input(in, in->read_errno ? -in->read_errno : -EIO,
				  "%s",
				  archive_error_string(in->outer) ?
					  archive_error_string(in->outer) :
					  "empty or unreadable stream");
	for (;;) {
		const void *block;
		size_t size;
		la_int64_t offset;
		int ar = archive_read_data_block(in->outer, &block, &size,
						 &offset);

		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN)
			return fail_input(
				in, in->read_errno ? -in->read_errno : -EIO,
				"%s", archive_error_string(in->outer));
		while (size > 0) {
			size_t n = size < SLOT_SIZE - in->fill ?
					   size :
					   SLOT_SIZE - in->fill;

			memcpy(fill_slot(in) + in->fill, block, n);
			block = (const uint8_t *)block + n;
			size -= n;
			r = produced(in, n);
			if (r < 0)
				return r;
		}
	}
	/* the rest of the compressed stream, for the blob's digest */
	for (;;) {
		ssize_t n = read_input(in);

		if (n < 0)
			return fail_input(in, (int)n, "reading: %s",
					  strerror((int)-n));
		if (n == 0)
			return 0;
	}
}

#ifdef HAVE_ISAL
/* gzip, decompressed with ISA-L's inflate (about twice zlib's speed): one
 * member or several, then nothing but zeros. */
static int pump_gzip(struct tar_in *in, size_t have)
{
	struct inflate_state st;
	bool eof = false;
	int r;

	isal_inflate_init(&st);
	st.crc_flag = ISAL_GZIP;
	st.next_in = in->buf;
	st.avail_in = (uint32_t)have;
	for (;;) {
		size_t room = SLOT_SIZE - in->fill;
		int ir;

		if (st.avail_in == 0 && !eof) {
			ssize_t n = read_input(in);

			if (n < 0)
				return fail_input(in, (int)n, "reading: %s",
						  strerror((int)-n));
			eof = n == 0;
			st.next_in = in->buf;
			st.avail_in = (uint32_t)n;
		}
		st.next_out = fill_slot(in) + in->fill;
		st.avail_out = (uint32_t)room;
		ir = isal_inflate(&st);
		room -= st.avail_out;
		r = produced(in, room);
		if (r < 0)
			return r;
		if (ir < 0)
			return fail_input(in, -EBADMSG, "%s",
					  ir == ISAL_INCORRECT_CHECKSUM ?
						  "gzip checksum mismatch" :
						  "damaged gzip data");
		if (st.block_state == ISAL_BLOCK_FINISH) {
			/* another member, or the end */
			if (st.avail_in < 2 && !eof) {
				size_t left = st.avail_in;
				ssize_t n;

				memmove(in->buf, st.next_in, left);
				do
					n = read(in->fd, in->buf + left,
						 IN_BUF_SIZE - left);
				while (n < 0 && errno == EINTR);
				if (n < 0)
					return fail_input(in, -errno,
							  "reading: %s",
							  strerror(errno));
				if (n > 0 && EVP_DigestUpdate(in->blob_md,
							      in->buf + left,
							      (size_t)n) != 1)
					return -ENOMEM;
				in->blob_bytes += (uint64_t)n;
				eof = n == 0;
				st.next_in = in->buf;
				st.avail_in = (uint32_t)(left + (size_t)n);
			}
			if (st.avail_in >= 2 && st.next_in[0] == 0x1f &&
			    st.next_in[1] == 0x8b) {
				uint8_t *next = st.next_in;
				uint32_t avail = st.avail_in;

				isal_inflate_reset(&st);
				st.crc_flag = ISAL_GZIP;
				st.next_in = next;
				st.avail_in = avail;
				continue;
			}
			break;
		}
		if (eof && st.avail_in == 0 && room == 0)
			return fail_input(in, -EBADMSG,
					  "truncated gzip stream");
	}
	/* after the last member: padding of zeros at most */
	for (;;) {
		for (uint32_t i = 0; i < st.avail_in; i++)
			if (st.next_in[i] != 0)
				return fail_input(
					in, -EBADMSG,
					"data after the end of the gzip stream");
		if (eof)
			return 0;
		ssize_t n = read_input(in);

		if (n < 0)
			return fail_input(in, (int)n, "reading: %s",
					  strerror((int)-n));
		eof = n == 0;
		st.next_in = in->buf;
		st.avail_in = (uint32_t)n;
	}
}
#endif

static void *input_main(void *data)
{
	struct tar_in *in = data;
	unsigned md_len;
	ssize_t n;
	int r;

	/* the first bytes tell the compression */
	n = read_input(in);
	if (n < 0) {
		r = fail_input(in, (int)n, "reading: %s", strerror((int)-n));
		goto out;
	}
#ifdef HAVE_ISAL
	if (n >= 2 && in->buf[0] == 0x1f && in->buf[1] == 0x8b) {
		r = pump_gzip(in, (size_t)n);
		goto done;
	}
#endif
	in->peeked = n;
	r = pump_libarchive(in);
#ifdef HAVE_ISAL
done:
#endif
	if (r == 0 && in->fill > 0 && !publish(in, in->fill))
		r = -ECANCELED;
	if (r == 0 &&
	    (EVP_DigestFinal_ex(in->blob_md, in->blob_sha256, &md_len) != 1 ||
	     EVP_DigestFinal_ex(in->diff_md, in->diff_sha256, &md_len) != 1))
		r = fail_input(in, -ENOMEM, "sha256 failed");
out:
	pthread_mutex_lock(&in->lock);
	in->error = r;
	in->done = true;
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->lock);
	return NULL;
}

/* The next slot for the inner reader: 1 with *ret_buf and *ret_len, 0 at
 * the end, -errno when the input side failed. */
static int next_slot(struct tar_in *in, const void **ret_buf, size_t *ret_len)
{
	int r;

	pthread_mutex_lock(&in->lock);
	if (in->holding) {
		in->head = (in->head + 1) % N_SLOTS;
		in->count--;
		in->holding = false;
		pthread_cond_broadcast(&in->cond);
	}
	while (in->count == 0 && !in->done)
		pthread_cond_wait(&in->cond, &in->lock);
	if (in->count > 0) {
		*ret_buf = in->slot_data[in->head];
		*ret_len = in->slot_len[in->head];
		in->holding = true;
		r = 1;
	} else {
		r = in->error;
	}
	pthread_mutex_unlock(&in->lock);
	return r;
}

static la_ssize_t inner_read(struct archive *a, void *userdata,
			     const void **ret_buf)
{
	struct tar_in *in = userdata;
	size_t len;
	int r = next_slot(in, ret_buf, &len);

	if (r < 0) {
		archive_set_error(a, -r, "%s", in->message);
		return -1;
	}
	return r == 0 ? 0 : (la_ssize_t)len;
}

static int input_start(struct tar_in *in)
{
	for (size_t i = 0; i < N_SLOTS; i++) {
		in->slot_data[i] = malloc(SLOT_SIZE);
		if (in->slot_data[i] == NULL)
			return -ENOMEM;
	}
	pthread_mutex_init(&in->lock, NULL);
	pthread_cond_init(&in->cond, NULL);
	if (pthread_create(&in->thread, NULL, input_main, in) != 0) {
		pthread_cond_destroy(&in->cond);
		pthread_mutex_destroy(&in->lock);
		return -EAGAIN;
	}
	in->started = true;
	return 0;
}

/* Stop the input side (when it is not done) and wait for it. */
static void input_stop(struct tar_in *in)
{
	if (in->started) {
		pthread_mutex_lock(&in->lock);
		in->cancel = true;
		pthread_cond_broadcast(&in->cond);
		pthread_mutex_unlock(&in->lock);
		pthread_join(in->thread, NULL);
		pthread_cond_destroy(&in->cond);
		pthread_mutex_destroy(&in->lock);
		in->started = false;
	}
	for (size_t i = 0; i < N_SLOTS; i++) {
		free(in->slot_data[i]);
		in->slot_data[i] = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Paths */

/* name made relative to the root, lexically: no "", "." or ".." component
 * (".." stops at the root), no leading or trailing '/'. "" is the root.
 * Returns a malloc'd string or NULL. */
static char *clean_path(const char *name)
{
	size_t len = strlen(name);
	char *out = malloc(len + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (const char *p = name; *p;) {
		const char *end;
		size_t n;

		while (*p == '/')
			p++;
		end = strchrnul(p, '/');
		n = (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the '/' before it */
		} else {
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = end;
	}
	out[o] = '\0';
	return out;
}

/* The node at path (clean) in root, without following symlinks; NULL when
 * there is none. */
static struct cfs_node *tree_lookup(const struct cfs_node *root,
				    const char *path)
{
	struct cfs_node *n = (struct cfs_node *)root;
	char comp[CFS_NAME_MAX + 1];

	while (*path) {
		const char *end = strchrnul(path, '/');
		size_t len = (size_t)(end - path);

		if (len > CFS_NAME_MAX || !cfs_node_is_dir(n))
			return NULL;
		memcpy(comp, path, len);
		comp[len] = '\0';
		n = cfs_node_lookup_child(n, comp);
		if (n == NULL)
			return NULL;
		path = *end ? end + 1 : end;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Metadata */

static void clear_xattrs(struct cfs_node *node)
{
	while (node->n_xattrs > 0) {
		char name[CFS_NAME_MAX + 32];

		snprintf(name, sizeof(name), "%s",
			 node->xattrs[node->n_xattrs - 1].name);
		if (cfs_node_unset_xattr(node, name) < 0)
			break;
	}
}

static int copy_xattrs(struct cfs_node *dst, const struct cfs_node *src,
		       bool skip_private)
{
	clear_xattrs(dst);
	for (size_t i = 0; i < src->n_xattrs; i++) {
		const struct cfs_xattr *x = &src->xattrs[i];
		int r;

		if (skip_private && str_has_prefix(x->name, CFSI_LAYER_PREFIX))
			continue;
		r = cfsi_node_set_xattr_limit(dst, x->name, x->value, x->len,
					      SIZE_MAX);
		if (r < 0)
			return r;
	}
	return 0;
}

/* What an entry says of an inode, onto dst (a directory's children and a
 * file's content stay). */
static int copy_meta(struct cfs_node *dst, const struct cfs_node *src)
{
	dst->mode = src->mode;
	dst->uid = src->uid;
	dst->gid = src->gid;
	dst->mtime_sec = src->mtime_sec;
	dst->mtime_nsec = src->mtime_nsec;
	return copy_xattrs(dst, src, true);
}

/* A new node with everything of src but its name, children and links. */
static struct cfs_node *copy_node(const struct cfs_node *src)
{
	struct cfs_node *n = cfs_node_new();

	if (n == NULL)
		return NULL;
	n->rdev = src->rdev;
	n->size = src->size;
	n->has_digest = src->has_digest;
	memcpy(n->digest, src->digest, CFS_DIGEST_SIZE);
	if (copy_meta(n, src) < 0 ||
	    (src->payload != NULL &&
	     cfs_node_set_payload(n, src->payload) < 0)) {
		cfs_node_unref(n);
		return NULL;
	}
	if (src->content != NULL) {
		n->content = malloc(src->size);
		if (n->content == NULL) {
			cfs_node_unref(n);
			return NULL;
		}
		memcpy(n->content, src->content, src->size);
	}
	return n;
}

static bool is_implicit(const struct cfs_node *n)
{
	return cfs_node_get_xattr(n, CFSI_LAYER_IMPLICIT, NULL) != NULL;
}

static struct cfs_node *new_dir(bool implicit)
{
	struct cfs_node *n = cfs_node_new();

	if (n == NULL)
		return NULL;
	n->mode = S_IFDIR | 0755;
	if (implicit && cfs_node_set_xattr(n, CFSI_LAYER_IMPLICIT, "", 0) < 0)
		return cfs_node_unref(n);
	return n;
}

struct cfs_node *cfsi_import_root_new(void)
{
	return new_dir(false);
}

/* ------------------------------------------------------------------ */
/* Reading a tar stream into a layer tree */

/*
 * The children of the layer tree's directories while the tar is read:
 * appended unsorted (a sorted insert each would make a directory of n
 * entries arriving out of order cost n^2) and found through this map of
 * (directory, name) to the child and its index; sorted once at the end.
 */
struct map_slot {
	struct cfs_node *dir, *node; /* node NULL: a free slot */
	size_t index; /* of node in dir->children */
};

struct child_map {
	struct map_slot *slots;
	size_t size, n;
};

struct reader {
	struct child_map map;
	const char *name;
	struct cfs_store *store;
	const struct cfs_node *lower;
	struct cfs_node *root;
	struct cfs_error *err;
	struct archive *inner;
	uint64_t entry_no;
	const char *entry; /* its name as the tar has it */
	uint64_t n_objects;
	uint8_t *buf; /* CFS_INLINE_RECOMMENDED_MAX bytes */
};

static int entry_fail(struct reader *rd, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int entry_fail(struct reader *rd, int r, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const char *entry = rd->entry ? rd->entry : "?";

	/* a name of any length is shown, its end cut */
	return cfs_error_set(rd->err, r, "%s: entry %" PRIu64 " '%.200s%s': %s",
			     rd->name, rd->entry_no, entry,
			     strlen(entry) > 200 ? "..." : "", what);
}

static int archive_fail(struct reader *rd, const char *what)
{
	const char *msg = archive_error_string(rd->inner);
	int e = archive_errno(rd->inner);

	if (rd->entry != NULL)
		return entry_fail(rd, -EIO, "%s: %s", what,
				  msg ? msg : "unknown error");
	return cfs_error_set(rd->err, e > 0 ? -e : -EIO,
			     "%s: after entry %" PRIu64 ": %s: %s", rd->name,
			     rd->entry_no, what, msg ? msg : "unknown error");
}

/* The data of the current entry into node: inline when small, else into
 * the store under its digest. Holes of sparse files read as zeros. */
static int read_content(struct reader *rd, struct cfs_node *node, uint64_t size)
{
	static const uint8_t zeros[64 * 1024];
	bool inline_it = size <= CFS_INLINE_RECOMMENDED_MAX;
	struct cfsi_store_object *obj = NULL;
	struct cfs_fsverity *fsv = NULL;
	uint8_t digest[CFS_DIGEST_SIZE];
	char path[CFS_OBJECT_PATH_SIZE];
	uint64_t pos = 0;
	int r = 0;

	node->size = size;
	if (inline_it && size == 0)
		goto digest_small;
	if (!inline_it) {
		fsv = cfs_fsverity_new();
		if (fsv == NULL)
			return -ENOMEM;
		if (rd->store != NULL) {
			r = cfsi_store_object_begin(rd->store, &obj, rd->err);
			if (r < 0)
				goto out;
		}
	}
	for (;;) {
		const void *block;
		size_t len;
		la_int64_t offset;
		int ar = archive_read_data_block(rd->inner, &block, &len,
						 &offset);

		if (ar == ARCHIVE_EOF) {
			offset = (la_int64_t)size;
			len = 0;
		} else if (ar < ARCHIVE_WARN) {
			r = archive_fail(rd, "reading data");
			goto out;
		}
		if (offset < 0 || (uint64_t)offset < pos ||
		    (uint64_t)offset > size || len > size - (uint64_t)offset) {
			r = entry_fail(
				rd, -EINVAL,
				"data at offset %lld past its size %" PRIu64,
				(long long)offset, size);
			goto out;
		}
		/* a hole up to offset */
		while (pos < (uint64_t)offset) {
			size_t n = (uint64_t)offset - pos < sizeof(zeros) ?
					   (size_t)((uint64_t)offset - pos) :
					   sizeof(zeros);

			if (inline_it) {
				memset(rd->buf + pos, 0, n);
			} else {
				r = cfs_fsverity_update(fsv, zeros, n);
				if (r == 0 && obj != NULL)
					r = cfsi_store_object_hole(obj, n);
				if (r < 0)
					goto io_fail;
			}
			pos += n;
		}
		if (ar == ARCHIVE_EOF)
			break;
		if (len == 0)
			continue;
		if (inline_it) {
			memcpy(rd->buf + pos, block, len);
		} else {
			r = cfs_fsverity_update(fsv, block, len);
			if (r == 0 && obj != NULL)
				r = cfsi_store_object_write(obj, block, len);
			if (r < 0)
				goto io_fail;
		}
		pos += len;
	}

	if (inline_it) {
		r = cfs_node_set_content(node, rd->buf, size);
		if (r < 0)
			goto out;
digest_small:
		r = cfs_fsverity_digest_buffer(rd->buf, size, digest);
		if (r < 0)
			goto out;
	} else {
		r = cfs_fsverity_final(fsv, digest);
		if (r < 0)
			goto out;
		if (obj != NULL) {
			r = cfsi_store_object_finish(rd->store, obj, digest,
						     rd->err);
			obj = NULL;
			if (r < 0)
				goto out;
			rd->n_objects += r == 0;
		}
	}
	cfs_node_set_digest(node, digest);
	cfs_digest_to_object_path(digest, path);
	r = cfs_node_set_payload(node, path);
	goto out;

io_fail:
	r = entry_fail(rd, r, "writing its object: %s", strerror(-r));
out:
	cfsi_store_object_abort(rd->store, obj);
	cfs_fsverity_free(fsv);
	return r;
}

static int read_xattrs(struct reader *rd, struct archive_entry *e,
		       struct cfs_node *node)
{
	const char *name;
	const void *value;
	size_t len;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &len) == ARCHIVE_OK) {
		int r;

		if (name == NULL || str_has_prefix(name, CFSI_LAYER_PREFIX))
			continue;
		r = cfs_node_set_xattr(node, name, value, len);
		if (r < 0)
			return entry_fail(rd, r, "xattr '%s': %s", name,
					  strerror(-r));
	}
	return 0;
}

static size_t map_hash(const struct child_map *m, const struct cfs_node *dir,
		       const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL ^
		     ((uintptr_t)dir * 0x9e3779b97f4a7c15ULL);

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 29)) & (m->size - 1);
}

static struct map_slot *map_find(const struct child_map *m,
				 const struct cfs_node *dir, const char *name)
{
	if (m->size == 0)
		return NULL;
	for (size_t i = map_hash(m, dir, name); m->slots[i].node != NULL;
	     i = (i + 1) & (m->size - 1)) {
		struct map_slot *s = &m->slots[i];

		if (s->dir == dir && strcmp(s->node->name, name) == 0)
			return s;
	}
	return NULL;
}

static int map_put(struct child_map *m, struct cfs_node *dir,
		   struct cfs_node *node, size_t index)
{
	size_t i;

	if ((m->n + 1) * 2 > m->size) {
		struct child_map bigger = { NULL, m->size ? m->size * 2 : 1024,
					    0 };

		bigger.slots = calloc(bigger.size, sizeof(*bigger.slots));
		if (bigger.slots == NULL)
			return -ENOMEM;
		for (size_t k = 0; k < m->size; k++) {
			struct map_slot *s = &m->slots[k];

			if (s->node == NULL)
				continue;
			for (i = map_hash(&bigger, s->dir, s->node->name);
			     bigger.slots[i].node != NULL;
			     i = (i + 1) & (bigger.size - 1))
				;
			bigger.slots[i] = *s;
			bigger.n++;
		}
		free(m->slots);
		*m = bigger;
	}
	for (i = map_hash(m, dir, node->name); m->slots[i].node != NULL;
	     i = (i + 1) & (m->size - 1))
		;
	m->slots[i] = (struct map_slot){ dir, node, index };
	m->n++;
	return 0;
}

/* Remove slot s, shifting back the entries of its probe run. */
static void map_delete(struct child_map *m, struct map_slot *s)
{
	size_t i = (size_t)(s - m->slots), j = i;

	m->slots[i].node = NULL;
	m->n--;
	for (;;) {
		size_t home;

		j = (j + 1) & (m->size - 1);
		if (m->slots[j].node == NULL)
			return;
		home = map_hash(m, m->slots[j].dir, m->slots[j].node->name);
		/* can the entry at j move back to i? only if its home is not
		 * in the cyclic range (i, j] */
		if ((i <= j) ? (home <= i || home > j) :
			       (home <= i && home > j)) {
			m->slots[i] = m->slots[j];
			m->slots[j].node = NULL;
			i = j;
		}
	}
}

/* Drop from the map what is below dir (being removed from the tree). */
static void map_forget_below(struct child_map *m, struct cfs_node *dir)
{
	for (size_t k = 0; k < dir->n_children; k++) {
		struct cfs_node *c = dir->children[k];
		struct map_slot *s;

		if (cfs_node_is_dir(c))
			map_forget_below(m, c);
		s = map_find(m, dir, c->name);
		if (s != NULL)
			map_delete(m, s);
	}
}

static struct cfs_node *layer_child(struct reader *rd, struct cfs_node *dir,
				    const char *name)
{
	struct map_slot *s = map_find(&rd->map, dir, name);

	return s ? s->node : NULL;
}

static int layer_add(struct reader *rd, struct cfs_node *dir,
		     struct cfs_node *child, const char *name)
{
	int r = cfsi_node_append_child(dir, child, name);

	if (r < 0)
		return r;
	r = map_put(&rd->map, dir, child, dir->n_children - 1);
	if (r < 0) {
		/* undone: the caller keeps its reference */
		cfs_node_ref(child);
		cfsi_node_remove_child_at(dir, dir->n_children - 1);
	}
	return r;
}

static void layer_remove(struct reader *rd, struct cfs_node *dir,
			 struct cfs_node *child)
{
	struct map_slot *s = map_find(&rd->map, dir, child->name);
	size_t i, last = dir->n_children - 1;

	if (s == NULL)
		return;
	i = s->index;
	if (cfs_node_is_dir(child))
		map_forget_below(&rd->map, child);
	s = map_find(&rd->map, dir, child->name);
	map_delete(&rd->map, s);
	if (i != last) {
		struct map_slot *moved = map_find(&rd->map, dir,
						  dir->children[last]->name);

		if (moved != NULL)
			moved->index = i;
	}
	cfsi_node_remove_child_at(dir, i);
}

/* The node at path (clean) of the layer tree being read. */
static struct cfs_node *layer_lookup(struct reader *rd, const char *path)
{
	struct cfs_node *n = rd->root;
	char comp[CFS_NAME_MAX + 1];

	while (*path) {
		const char *end = strchrnul(path, '/');
		size_t len = (size_t)(end - path);

		if (len > CFS_NAME_MAX || !cfs_node_is_dir(n))
			return NULL;
		memcpy(comp, path, len);
		comp[len] = '\0';
		n = layer_child(rd, n, comp);
		if (n == NULL)
			return NULL;
		path = *end ? end + 1 : end;
	}
	return n;
}

static void sort_tree(struct cfs_node *dir)
{
	cfsi_node_sort_children(dir);
	for (size_t k = 0; k < dir->n_children; k++)
		if (cfs_node_is_dir(dir->children[k]))
			sort_tree(dir->children[k]);
}

/* Put node at path (clean, not "") of the layer tree, making missing
 * parents; what is there already is replaced, but for a directory onto a
 * directory, which takes the new metadata and keeps its children. */
static int layer_put(struct reader *rd, const char *path, struct cfs_node *node)
{
	struct cfs_node *dir = rd->root, *old;
	char comp[CFS_NAME_MAX + 1];
	const char *p = path;
	int r;

	for (;;) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		struct cfs_node *next;

		if (len > CFS_NAME_MAX)
			return entry_fail(rd, -ENAMETOOLONG,
					  "a name in its path is longer than "
					  "%d bytes",
					  CFS_NAME_MAX);
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (*end == '\0')
			break;
		next = layer_child(rd, dir, comp);
		if (next == NULL) {
			next = new_dir(true);
			if (next == NULL)
				return -ENOMEM;
			r = layer_add(rd, dir, next, comp);
			if (r < 0) {
				cfs_node_unref(next);
				return entry_fail(rd, r, "%s", strerror(-r));
			}
		} else if (!cfs_node_is_dir(next)) {
			return entry_fail(rd, -ENOTDIR,
					  "'%.*s' on its path is not a "
					  "directory",
					  (int)(end - path), path);
		}
		dir = next;
		p = end + 1;
	}

	old = layer_child(rd, dir, comp);
	if (old != NULL && cfs_node_is_dir(old) && cfs_node_is_dir(node)) {
		r = copy_meta(old, node);
		return r < 0 ? entry_fail(rd, r, "%s", strerror(-r)) : 0;
	}
	if (old != NULL)
		layer_remove(rd, dir, old);
	r = layer_add(rd, dir, cfs_node_ref(node), comp);
	if (r < 0) {
		cfs_node_unref(node);
		return entry_fail(rd, r, "%s", strerror(-r));
	}
	return 0;
}

static bool link_target_exists(struct reader *rd, const char *target)
{
	const struct cfs_node *n = layer_lookup(rd, target);

	if (n != NULL)
		return !cfs_node_is_dir(n);
	if (rd->lower == NULL)
		return false;
	n = tree_lookup(rd->lower, target);
	return n != NULL && !cfs_node_is_dir(n);
}

static int read_entry(struct reader *rd, struct archive_entry *e)
{
	_cleanup_free_ char *path = NULL, *target = NULL;
	const char *link = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	struct cfs_node *node;
	int r = 0;

	path = clean_path(rd->entry);
	if (path == NULL)
		return -ENOMEM;
	/* as for a path on disk: which also bounds the depth of the tree */
	if (strlen(path) >= PATH_MAX)
		return entry_fail(rd, -ENAMETOOLONG,
				  "its name is longer than %d bytes", PATH_MAX);
	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return entry_fail(rd, -ERANGE, "owner %lld:%lld out of range",
				  (long long)uid, (long long)gid);

	node = cfs_node_new();
	if (node == NULL)
		return -ENOMEM;
	node->uid = (uint32_t)uid;
	node->gid = (uint32_t)gid;
	if (archive_entry_mtime_is_set(e)) {
		node->mtime_sec = archive_entry_mtime(e);
		node->mtime_nsec = (uint32_t)archive_entry_mtime_nsec(e);
	}

	if (link != NULL) {
		target = clean_path(link);
		if (target == NULL) {
			r = -ENOMEM;
			goto out;
		}
		if (strlen(target) >= PATH_MAX) {
			r = entry_fail(rd, -ENAMETOOLONG,
				       "hard link to a name longer than %d "
				       "bytes",
				       PATH_MAX);
			goto out;
		}
		if (!link_target_exists(rd, target)) {
			r = entry_fail(rd, -ENOENT,
				       "hard link to '%s', which is not a file "
				       "of the archive before it",
				       link);
			goto out;
		}
		if (strcmp(target, path) == 0) {
			r = entry_fail(rd, -ELOOP, "hard link to itself");
			goto out;
		}
		node->mode = S_IFREG | (archive_entry_perm(e) & 07777);
		r = cfs_node_set_xattr(node, CFSI_LAYER_HARDLINK, target,
				       strlen(target));
		if (r < 0) {
			r = entry_fail(rd, r, "hard link target: %s",
				       strerror(-r));
			goto out;
		}
	} else {
		switch (type) {
		case AE_IFREG:
		case AE_IFDIR:
		case AE_IFLNK:
		case AE_IFCHR:
		case AE_IFBLK:
		case AE_IFIFO:
			break;
		default:
			r = entry_fail(rd, -EINVAL, "unsupported file type 0%o",
				       (unsigned)type);
			goto out;
		}
		/* a symlink's mode is 0777 wherever it is unpacked */
		node->mode = type | (type == AE_IFLNK ?
					     0777 :
					     (archive_entry_perm(e) & 07777));
		if (type == AE_IFCHR || type == AE_IFBLK)
			node->rdev = (uint32_t)makedev(
				archive_entry_rdevmajor(e),
				archive_entry_rdevminor(e));
		if (type == AE_IFLNK) {
			const char *t = archive_entry_symlink(e);

			if (t == NULL || t[0] == '\0') {
				r = entry_fail(rd, -EINVAL,
					       "symlink without a target");
				goto out;
			}
			r = cfs_node_set_symlink_target(node, t);
			if (r < 0) {
				r = entry_fail(rd, r, "symlink target: %s",
					       strerror(-r));
				goto out;
			}
		}
	}
	r = read_xattrs(rd, e, node);
	if (r < 0)
		goto out;
	if (link == NULL && type == AE_IFREG) {
		la_int64_t size = archive_entry_size(e);

		if (size < 0) {
			r = entry_fail(rd, -EINVAL, "negative size");
			goto out;
		}
		r = read_content(rd, node, (uint64_t)size);
		if (r < 0)
			goto out;
	}

	if (path[0] == '\0') {
		/* "./": the root's own metadata */
		if (type != AE_IFDIR || link != NULL)
			r = entry_fail(rd, -EINVAL,
				       "the root must be a directory");
		else
			r = copy_meta(rd->root, node);
		goto out;
	}
	r = layer_put(rd, path, node);
out:
	cfs_node_unref(node);
	return r;
}

int cfsi_tar_read(int fd, const char *name, struct cfs_store *store,
		  const struct cfs_node *lower, cfsi_tar_progress_fn progress,
		  void *userdata, struct cfs_node **ret_layer,
		  struct cfsi_tar_result *ret_result, struct cfs_error *err)
{
	struct tar_in in = { .fd = fd, .name = name };
	struct reader rd = {
		.name = name, .store = store, .lower = lower, .err = err
	};
	struct cfsi_tar_result res = { 0 };
	struct archive_entry *e;
	int r = 0, ar;

	in.buf = malloc(IN_BUF_SIZE);
	rd.buf = malloc(CFS_INLINE_RECOMMENDED_MAX + 1);
	in.blob_md = EVP_MD_CTX_new();
	in.diff_md = EVP_MD_CTX_new();
	in.outer = archive_read_new();
	rd.inner = archive_read_new();
	rd.root = new_dir(true);
	if (in.buf == NULL || rd.buf == NULL || in.blob_md == NULL ||
	    in.diff_md == NULL || in.outer == NULL || rd.inner == NULL ||
	    rd.root == NULL ||
	    EVP_DigestInit_ex(in.blob_md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestInit_ex(in.diff_md, EVP_sha256(), NULL) != 1) {
		r = cfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}

	r = input_start(&in);
	if (r < 0) {
		r = cfs_error_set(err, r, "%s: cannot start reading: %s", name,
				  strerror(-r));
		goto out;
	}
	/* the inner reader: tar (ustar, pax, GNU) from those bytes */
	if (archive_read_support_format_tar(rd.inner) != ARCHIVE_OK ||
	    archive_read_open(rd.inner, &in, NULL, inner_read, NULL) !=
		    ARCHIVE_OK) {
		r = archive_fail(&rd, "not a tar stream");
		goto out;
	}

	for (;;) {
		ar = archive_read_next_header(rd.inner, &e);
		if (ar == ARCHIVE_EOF)
			break;
		rd.entry = NULL;
		if (ar < ARCHIVE_WARN) {
			r = archive_fail(&rd, res.n_entries == 0 ?
						      "not a tar stream" :
						      "reading a header");
			goto out;
		}
		rd.entry_no++;
		rd.entry = archive_entry_pathname(e);
		if (rd.entry == NULL || rd.entry[0] == '\0') {
			rd.entry = NULL;
			r = archive_fail(&rd, "an entry without a name");
			goto out;
		}
		r = read_entry(&rd, e);
		if (r < 0)
			goto out;
		res.n_entries++;
		if (progress != NULL)
			progress(userdata, in.blob_bytes, res.n_entries);
	}
	rd.entry = NULL;

	/* what follows the tar's end (its padding, for the diff_id) and
	 * the end of the input side */
	for (;;) {
		const void *block;
		size_t len;

		r = next_slot(&in, &block, &len);
		if (r == 0)
			break;
		if (r < 0) {
			r = cfs_error_set(err, r, "%s: %s", name, in.message);
			goto out;
		}
	}
	memcpy(res.blob_sha256, in.blob_sha256, 32);
	memcpy(res.diff_sha256, in.diff_sha256, 32);
	res.blob_size = in.blob_bytes;
	res.diff_size = in.diff_bytes;
	res.n_objects = rd.n_objects;
	if (ret_result != NULL)
		*ret_result = res;
	sort_tree(rd.root);
	*ret_layer = rd.root;
	rd.root = NULL;
out:
	/* the inner reader first: it may still hold a slot */
	if (rd.inner != NULL)
		archive_read_free(rd.inner);
	input_stop(&in);
	if (in.outer != NULL)
		archive_read_free(in.outer);
	EVP_MD_CTX_free(in.blob_md);
	EVP_MD_CTX_free(in.diff_md);
	free(in.buf);
	free(rd.buf);
	cfs_node_unref(rd.root);
	free(rd.map.slots);
	return r;
}

/* ------------------------------------------------------------------ */
/* Applying layer trees */

struct pending_link {
	char *path; /* where the link goes */
	const struct cfs_node *layer_node;
};

struct applier {
	struct cfs_node *root;
	const char *name;
	struct cfs_error *err;
	struct pending_link *links;
	size_t n_links, cap_links;
};

/* Remove what the layers below had in dir: all of its children. */
static void make_opaque(struct cfs_node *dir)
{
	while (dir->n_children > 0)
		cfsi_node_remove_child(dir, dir->children[dir->n_children - 1]);
}

static char *join(const char *dir, const char *name)
{
	char *p = NULL;

	if (dir[0] == '\0')
		return strdup(name);
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

/* The directory the symlink link (in the directory at path dir) leads to
 * in root, its target and every symlink on the way resolved within root
 * (".." stops at the root, as for a chroot); directories missing on the
 * way are made (mode 0755, owner 0:0, mtime 0). NULL when it leads to
 * something else than a directory, through more than 40 symlinks, or out
 * of memory. */
static struct cfs_node *follow_symlink(struct cfs_node *root, const char *dir,
				       const struct cfs_node *link)
{
	_cleanup_free_ char *path = NULL;
	unsigned hops = 0;

	if (link->payload == NULL)
		return NULL;
	if (asprintf(&path, "%s/%s", link->payload[0] == '/' ? "" : dir,
		     link->payload) < 0)
		return NULL;
	for (;;) {
		_cleanup_free_ char *clean = clean_path(path);
		struct cfs_node *n = root;
		const char *p;

		if (clean == NULL)
			return NULL;
		for (p = clean; *p;) {
			const char *end = strchrnul(p, '/');
			char comp[CFS_NAME_MAX + 1];
			size_t len = (size_t)(end - p);
			char *next;

			if (len > CFS_NAME_MAX || !cfs_node_is_dir(n))
				return NULL;
			memcpy(comp, p, len);
			comp[len] = '\0';
			next = NULL;
			{
				struct cfs_node *child = cfs_node_lookup_child(
					n, comp);

				if (child == NULL) {
					child = new_dir(false);
					if (child == NULL ||
					    cfs_node_add_child(n, child, comp) <
						    0) {
						cfs_node_unref(child);
						return NULL;
					}
				}
				n = child;
			}
			if ((n->mode & S_IFMT) == S_IFLNK) {
				if (++hops > 40 || n->payload == NULL)
					return NULL;
				/* the link's own directory, then its target,
				 * then the rest of the path */
				if (asprintf(&next, "%.*s/%s/%s",
					     n->payload[0] == '/' ?
						     0 :
						     (int)(p - clean),
					     clean, n->payload,
					     *end ? end + 1 : "") < 0)
					return NULL;
				free(path);
				path = next;
				break;
			}
			p = *end ? end + 1 : end;
		}
		if (*p == '\0')
			return cfs_node_is_dir(n) ? n : NULL;
	}
}

static int apply_dir(struct applier *a, struct cfs_node *mdir,
		     const struct cfs_node *ldir, const char *path,
		     unsigned depth)
{
	int r;

	if (depth > MAX_DEPTH)
		return cfs_error_set(a->err, -ELOOP, "%s: '%s': too deep",
				     a->name, path);
	/* Whiteouts first: they apply only to the layers below, never to
	 * what this layer itself adds, wherever they stand in the tar. */
	for (size_t i = 0; i < ldir->n_children; i++) {
		const char *name = ldir->children[i]->name;
		struct cfs_node *victim;

		if (!str_has_prefix(name, ".wh."))
			continue;
		if (strcmp(name, ".wh..wh..opq") == 0) {
			make_opaque(mdir);
			continue;
		}
		victim = cfs_node_lookup_child(mdir, name + 4);
		if (victim != NULL)
			cfsi_node_remove_child(mdir, victim);
	}

	for (size_t i = 0; i < ldir->n_children; i++) {
		const struct cfs_node *lc = ldir->children[i];
		struct cfs_node *mc = cfs_node_lookup_child(mdir, lc->name);
		_cleanup_free_ char *cpath = NULL;

		if (str_has_prefix(lc->name, ".wh."))
			continue;
		cpath = join(path, lc->name);
		if (cpath == NULL)
			return -ENOMEM;

		if (cfs_node_is_dir(lc) && is_implicit(lc) && mc != NULL &&
		    (mc->mode & S_IFMT) == S_IFLNK) {
			/* a directory the tar only passes through, where the
			 * layers below have a symlink: the entries go where
			 * it leads, as an unpacker resolving the path puts
			 * them (one leading to something else than a
			 * directory is replaced) */
			struct cfs_node *to = follow_symlink(a->root, path, mc);

			if (to != NULL) {
				r = apply_dir(a, to, lc, cpath, depth + 1);
				if (r < 0)
					return r;
				continue;
			}
		}
		if (cfs_node_is_dir(lc)) {
			if (mc == NULL || !cfs_node_is_dir(mc)) {
				if (mc != NULL)
					cfsi_node_remove_child(mdir, mc);
				mc = new_dir(false);
				if (mc == NULL)
					return -ENOMEM;
				r = copy_meta(mc, lc);
				if (r == 0)
					r = cfs_node_add_child(mdir, mc,
							       lc->name);
				if (r < 0) {
					cfs_node_unref(mc);
					return cfs_error_set(a->err, r,
							     "%s: '%s': %s",
							     a->name, cpath,
							     strerror(-r));
				}
			} else if (!is_implicit(lc)) {
				r = copy_meta(mc, lc);
				if (r < 0)
					return r;
			}
			r = apply_dir(a, mc, lc, cpath, depth + 1);
			if (r < 0)
				return r;
			continue;
		}

		if (cfs_node_get_xattr(lc, CFSI_LAYER_HARDLINK, NULL) != NULL) {
			if (a->n_links == a->cap_links) {
				size_t cap = a->cap_links ? 2 * a->cap_links :
							    16;
				struct pending_link *l = reallocarray(
					a->links, cap, sizeof(*l));

				if (l == NULL)
					return -ENOMEM;
				a->links = l;
				a->cap_links = cap;
			}
			a->links[a->n_links++] = (struct pending_link){ cpath,
									lc };
			cpath = NULL;
			continue;
		}

		if (mc != NULL)
			cfsi_node_remove_child(mdir, mc);
		mc = copy_node(lc);
		if (mc == NULL)
			return -ENOMEM;
		mc->mode = lc->mode;
		r = cfs_node_add_child(mdir, mc, lc->name);
		if (r < 0) {
			cfs_node_unref(mc);
			return cfs_error_set(a->err, r, "%s: '%s': %s", a->name,
					     cpath, strerror(-r));
		}
	}
	return 0;
}

static int apply_link(struct applier *a, struct cfs_node *root,
		      const struct pending_link *l)
{
	size_t len;
	const char *target = cfs_node_get_xattr(l->layer_node,
						CFSI_LAYER_HARDLINK, &len);
	_cleanup_free_ char *tpath = strndup(target, len);
	char *slash = strrchr(l->path, '/');
	struct cfs_node *t, *dir, *old, *node;
	const char *name;
	int r;

	if (tpath == NULL)
		return -ENOMEM;
	t = tree_lookup(root, tpath);
	if (t == NULL || cfs_node_is_dir(t))
		return cfs_error_set(a->err, -ENOENT,
				     "%s: '%s': hard link to '%s', which is "
				     "not a file",
				     a->name, l->path, tpath);
	t = cfs_node_resolve(t);
	if (slash != NULL) {
		*slash = '\0';
		dir = tree_lookup(root, l->path);
		*slash = '/';
		name = slash + 1;
	} else {
		dir = root;
		name = l->path;
	}
	if (dir == NULL || !cfs_node_is_dir(dir))
		return cfs_error_set(a->err, -ENOENT,
				     "%s: '%s': its directory is gone", a->name,
				     l->path);
	node = cfs_node_new();
	if (node == NULL)
		return -ENOMEM;
	node->mode = t->mode;
	r = cfs_node_make_hardlink(node, t);
	if (r < 0) {
		cfs_node_unref(node);
		return cfs_error_set(a->err, r, "%s: '%s': hard link: %s",
				     a->name, l->path, strerror(-r));
	}
	old = cfs_node_lookup_child(dir, name);
	if (old != NULL)
		cfsi_node_remove_child(dir, old);
	r = cfs_node_add_child(dir, node, name);
	if (r < 0) {
		cfs_node_unref(node);
		return cfs_error_set(a->err, r, "%s: '%s': %s", a->name,
				     l->path, strerror(-r));
	}
	return 0;
}

int cfsi_layer_apply(struct cfs_node *root, const struct cfs_node *layer,
		     const char *name, struct cfs_error *err)
{
	struct applier a = { .root = root, .name = name, .err = err };
	int r = 0;

	if (!is_implicit(layer))
		r = copy_meta(root, layer);
	if (r == 0)
		r = apply_dir(&a, root, layer, "", 0);
	for (size_t i = 0; r == 0 && i < a.n_links; i++)
		r = apply_link(&a, root, &a.links[i]);
	for (size_t i = 0; i < a.n_links; i++)
		free(a.links[i].path);
	free(a.links);
	if (r == -ENOMEM && err != NULL && err->message[0] == '\0')
		cfs_error_set(err, r, "%s: out of memory", name);
	return r;
}

/* ------------------------------------------------------------------ */
/* Finishing */

static void count_links(struct cfs_node *dir, bool counting)
{
	for (size_t i = 0; i < dir->n_children; i++) {
		struct cfs_node *c = dir->children[i];

		if (cfs_node_is_dir(c)) {
			count_links(c, counting);
			continue;
		}
		if (counting)
			cfs_node_resolve(c)->nlink++;
		else
			cfs_node_resolve(c)->nlink = 0;
	}
}

int cfsi_import_finish(struct cfs_node *root)
{
	count_links(root, false);
	count_links(root, true);
	return cfs_tree_as_shown(root);
}
