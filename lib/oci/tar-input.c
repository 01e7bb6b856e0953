/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The input side of a tar import: the bytes of the fd, decompressed (any
 * filter libarchive knows, gzip through ISA-L where it is built in) on a
 * thread of its own, handed to the tar parser in slots. Between the two,
 * the uncompressed bytes pass through our hands, so that an OCI layer's
 * diff_id (the sha256 of its uncompressed tar) is computed on the way, as
 * is the sha256 of the bytes read from the fd (the blob's digest).
 */
#include "config.h"

#include <archive.h>
#include <errno.h>
#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci/import_i.h"
#include "oci/tar_input_i.h"
#include "base/util.h"

#define IN_BUF_SIZE (256 * 1024)
/* Uncompressed bytes between the two threads: N_SLOTS slots of SLOT_SIZE. */
#define N_SLOTS 4
#define SLOT_SIZE (1024 * 1024)

/*
 * The input side runs on a thread of its own, so that decompressing (and
 * the two sha256s) overlaps with parsing, digesting and writing objects:
 * it reads the fd through the outer reader to the very end and passes the
 * uncompressed bytes on in slots; the inner reader takes them in order.
 */
struct cfsi_tar_input {
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
static ssize_t read_input(struct cfsi_tar_input *in)
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
	struct cfsi_tar_input *in = userdata;
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
static bool publish(struct cfsi_tar_input *in, size_t len)
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
static uint8_t *fill_slot(struct cfsi_tar_input *in)
{
	return in->slot_data[(in->head + in->count) % N_SLOTS];
}

/* len uncompressed bytes were put at fill_slot() + in->fill: into the
 * diff_id, and on to the inner reader when the slot is full. 0, -ECANCELED
 * when the inner reader is gone, -ENOMEM. */
static int produced(struct cfsi_tar_input *in, size_t len)
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

static int fail_input(struct cfsi_tar_input *in, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_input(struct cfsi_tar_input *in, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(in->message, sizeof(in->message), fmt, ap);
	va_end(ap);
	return r;
}

/* Any compression libarchive knows, or none. */
static int pump_libarchive(struct cfsi_tar_input *in)
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
static int pump_gzip(struct cfsi_tar_input *in, size_t have)
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
	struct cfsi_tar_input *in = data;
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
static int next_slot(struct cfsi_tar_input *in, const void **ret_buf,
		     size_t *ret_len)
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

la_ssize_t cfsi_tar_input_read(struct archive *a, void *userdata,
			       const void **ret_buf)
{
	struct cfsi_tar_input *in = userdata;
	size_t len;
	int r = next_slot(in, ret_buf, &len);

	if (r < 0) {
		archive_set_error(a, -r, "%s", in->message);
		return -1;
	}
	return r == 0 ? 0 : (la_ssize_t)len;
}

static int input_start(struct cfsi_tar_input *in)
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
static void input_stop(struct cfsi_tar_input *in)
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

int cfsi_tar_input_open(int fd, const char *name,
			struct cfsi_tar_input **ret_in)
{
	struct cfsi_tar_input *in = calloc(1, sizeof(*in));
	int r;

	if (in == NULL)
		return -ENOMEM;
	in->fd = fd;
	in->name = name;
	in->buf = malloc(IN_BUF_SIZE);
	in->blob_md = EVP_MD_CTX_new();
	in->diff_md = EVP_MD_CTX_new();
	in->outer = archive_read_new();
	if (in->buf == NULL || in->blob_md == NULL || in->diff_md == NULL ||
	    in->outer == NULL ||
	    EVP_DigestInit_ex(in->blob_md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestInit_ex(in->diff_md, EVP_sha256(), NULL) != 1) {
		cfsi_tar_input_close(in);
		return -ENOMEM;
	}
	r = input_start(in);
	if (r < 0) {
		cfsi_tar_input_close(in);
		return r;
	}
	*ret_in = in;
	return 0;
}

uint64_t cfsi_tar_input_bytes(const struct cfsi_tar_input *in)
{
	return in->blob_bytes;
}

int cfsi_tar_input_finish(struct cfsi_tar_input *in,
			  struct cfsi_tar_result *res, struct cfs_error *err)
{
	for (;;) {
		const void *block;
		size_t len;
		int r = next_slot(in, &block, &len);

		if (r == 0)
			break;
		if (r < 0)
			return cfs_error_set(err, r, "%s: %s", in->name,
					     in->message);
	}
	memcpy(res->blob_sha256, in->blob_sha256, 32);
	memcpy(res->diff_sha256, in->diff_sha256, 32);
	res->blob_size = in->blob_bytes;
	res->diff_size = in->diff_bytes;
	return 0;
}

void cfsi_tar_input_close(struct cfsi_tar_input *in)
{
	if (in == NULL)
		return;
	input_stop(in);
	if (in->outer != NULL)
		archive_read_free(in->outer);
	EVP_MD_CTX_free(in->blob_md);
	EVP_MD_CTX_free(in->diff_md);
	free(in->buf);
	free(in);
}
