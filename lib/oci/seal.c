/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Seals of OCI images: the composefs digest of an image, as composefs-rs
 * computes it (lib/oci/transform.c), carried by the image itself.
 *
 * Two forms, both written and both checked:
 *  - composefs-rs's config label "containers.composefs.fsverity" (the
 *    digest in hex, of the repository's algorithm, told by its length);
 *  - the sealing specification's (composefs-rs's sealing_spec.rs, "inline"
 *    mode): the manifest's annotation "composefs.merged.erofs.v1.ALG"
 *    with the digest of the merged image, "composefs.config.ALG" on the
 *    config's descriptor with the fs-verity digest of the config's bytes,
 *    ALG being "fsverity-sha256-12" or "fsverity-sha512-12"; a signature
 *    is the same key with ".sig": base64 of a PKCS#7 DER signature of
 *    fs-verity's formatted digest (lib/format/verity-sig.c).
 *
 * A sealed copy is a new config and a new manifest beside the same layer
 * blobs; the layout's index.json is replaced in one rename.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/seal_i.h"
#include "repo/layout.h"
#include "repo/repo_i.h"
#include "base/tmpfile_i.h"
#include "base/util.h"

#define JSON_OUT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REF_NAME "org.opencontainers.image.ref.name"
#define INDEX_MAX (4 << 20)
#define RECORD_MAX (8 << 20)

int cfsi_seal_alg_name(enum cfs_hash_alg alg, char buf[32])
{
	const char *name = cfs_hash_alg_name(alg);

	if (name == NULL)
		return -EOPNOTSUPP;
	snprintf(buf, 32, "fsverity-%s-12", name);
	return 0;
}

char *cfsi_base64_encode(const uint8_t *data, size_t len)
{
	char *out;

	if (len > INT32_MAX / 2)
		return NULL;
	out = malloc(4 * DIV_ROUND_UP(len, 3) + 1);
	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

int cfsi_base64_decode(const char *text, uint8_t **ret, size_t *ret_len)
{
	size_t len = strlen(text), pad = 0;
	uint8_t *out;
	int n;

	if (len == 0 || len % 4 != 0 || len > INT32_MAX / 2)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (c == '=' && i >= len - 2) {
			pad++;
			continue;
		}
		if (pad > 0 ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return -EINVAL;
	}
	out = malloc(len / 4 * 3 + 1);
	if (out == NULL)
		return -ENOMEM;
	n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return -EINVAL;
	}
	*ret = out;
	*ret_len = (size_t)n - pad;
	return 0;
}

/* exactly 2 * size lowercase hex digits */
static int parse_hex(const char *s, size_t size, uint8_t *out)
{
	if (s == NULL || !cfsi_is_lower_hex(s, 2 * size))
		return -EINVAL;
	for (size_t i = 0; i < size; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return 0;
}

static void to_hex(const uint8_t *d, size_t size, char *out)
{
	for (size_t i = 0; i < size; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The fs-verity digest, of alg, of a buffer. */
static int buffer_digest(enum cfs_hash_alg alg, const void *data, size_t len,
			 uint8_t *ret)
{
	return cfs_fsverity_digest_buffer_alg(alg, data, len, ret);
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* The label composefs-rs reads: config.Labels[CFSI_SEAL_LABEL]. */
static const char *config_label(json_object *config)
{
	return cfsi_json_str(member(member(config, "config"), "Labels"),
			     CFSI_SEAL_LABEL);
}

void cfsi_seal_found_free(struct cfsi_seal_found *f)
{
	free(f->signature);
	memset(f, 0, sizeof(*f));
}

/* The signature of key in annotations, when there is one, checked against
 * digest with the trusted certificates. */
static int check_signature(const struct cfsi_seal_input *in,
			   json_object *annotations, const char *key,
			   const uint8_t *digest, bool required,
			   struct cfsi_seal_found *found, struct cfs_error *err)
{
	char sig_key[128];
	const char *text;
	uint8_t *sig = NULL;
	size_t sig_len;
	int r;

	snprintf(sig_key, sizeof(sig_key), "%s" CFSI_SEAL_SIG, key);
	text = cfsi_json_str(annotations, sig_key);
	if (found != NULL && text != NULL) {
		found->signature = strdup(text);
		if (found->signature == NULL)
			return cfs_error_set(err, -ENOMEM, "out of memory");
	}
	if (in->n_certs == 0)
		return 0;
	if (text == NULL)
		return required ? cfs_error_set(err, -EKEYREJECTED,
						"%s: manifest %s: the seal %s "
						"has no signature (%s)",
						in->layout, in->manifest_digest,
						key, sig_key) :
				  0;
	if (cfsi_base64_decode(text, &sig, &sig_len) < 0)
		return cfs_error_set(err, -EINVAL,
				     "%s: manifest %s: %s is not base64",
				     in->layout, in->manifest_digest, sig_key);
	r = cfs_verity_verify(in->alg, digest, sig, sig_len, in->certs,
			      in->n_certs, err);
	free(sig);
	if (r < 0) {
		char why[sizeof(err->message)];

		snprintf(why, sizeof(why), "%s", err ? err->message : "");
		return cfs_error_set(err, r == -EBADMSG ? -EKEYREJECTED : r,
				     "%s: manifest %s: %s: %s", in->layout,
				     in->manifest_digest, sig_key, why);
	}
	return 0;
}

/* Whether the manifest's annotations hold a merged digest of some
 * algorithm (a seal this library may not be able to check). */
static const char *any_merged_key(json_object *annotations)
{
	if (annotations == NULL ||
	    !json_object_is_type(annotations, json_type_object))
		return NULL;
	json_object_object_foreach(annotations, key, val)
	{
		size_t n = strlen(key);

		(void)val;
		if (strncmp(key, CFSI_SEAL_MERGED, strlen(CFSI_SEAL_MERGED)) ==
			    0 &&
		    (n < 4 || strcmp(key + n - 4, CFSI_SEAL_SIG) != 0))
			return key;
	}
	return NULL;
}

int cfsi_seal_check(const struct cfsi_seal_input *in, const uint8_t *digest,
		    struct cfsi_seal_found *ret, struct cfs_error *err)
{
	json_object *annotations = member(in->manifest, "annotations");
	json_object *cdesc_ann = member(member(in->manifest, "config"),
					"annotations");
	size_t size = cfs_hash_alg_digest_size(in->alg);
	const char *label = config_label(in->config), *other, *value;
	char alg[32], key[96], hex[2 * 64 + 1], sealed_hex[2 * 64 + 1];
	uint8_t sealed[64], config_digest[64];
	bool checked = false;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = cfsi_seal_alg_name(in->alg, alg);
	if (r < 0 || size == 0 || size > sizeof(sealed))
		return cfs_error_set(err, -EOPNOTSUPP,
				     "hash algorithm %u not implemented",
				     (unsigned)in->alg);
	other = any_merged_key(annotations);
	if (label == NULL && other == NULL) {
		if (in->require_sealed || in->n_certs > 0)
			return cfs_error_set(
				err, -ENOKEY,
				"%s: manifest %s: the image is not "
				"sealed",
				in->layout, in->manifest_digest);
		return 0;
	}
	to_hex(digest, size, hex);
	snprintf(key, sizeof(key), CFSI_SEAL_MERGED "%s", alg);
	value = cfsi_json_str(annotations, key);
	if (value != NULL) {
		if (parse_hex(value, size, sealed) < 0)
			return cfs_error_set(err, -EINVAL,
					     "%s: manifest %s: the annotation "
					     "%s is not %zu lowercase hex "
					     "digits",
					     in->layout, in->manifest_digest,
					     key, 2 * size);
		if (memcmp(sealed, digest, size) != 0)
			return cfs_error_set(err, -EILSEQ,
					     "%s: manifest %s: the image is "
					     "sealed as %s (%s), but its "
					     "layers give %s",
					     in->layout, in->manifest_digest,
					     value, key, hex);
		checked = true;
	}
	if (label != NULL && strlen(label) == 2 * size) {
		if (parse_hex(label, size, sealed) < 0)
			return cfs_error_set(
				err, -EINVAL,
				"%s: config: the label " CFSI_SEAL_LABEL
				" is not lowercase hex",
				in->layout);
		if (memcmp(sealed, digest, size) != 0)
			return cfs_error_set(
				err, -EILSEQ,
				"%s: manifest %s: the image is "
				"sealed as %s (config label " CFSI_SEAL_LABEL
				"), but its "
				"layers give %s",
				in->layout, in->manifest_digest, label, hex);
		checked = true;
	}
	if (!checked) {
		snprintf(sealed_hex, sizeof(sealed_hex), "%s",
			 other ? other : "the config label " CFSI_SEAL_LABEL);
		return cfs_error_set(err, -EILSEQ,
				     "%s: manifest %s: sealed by %s, which is "
				     "no %s digest: this repository (%s) "
				     "cannot check it",
				     in->layout, in->manifest_digest,
				     sealed_hex, alg, alg);
	}
	ret->sealed = true;
	snprintf(key, sizeof(key), CFSI_SEAL_MERGED "%s", alg);
	r = check_signature(in, annotations, key, digest, true, ret, err);
	if (r < 0)
		return r;
	/* the config's own digest, where the seal has it */
	snprintf(key, sizeof(key), CFSI_SEAL_CONFIG "%s", alg);
	value = cfsi_json_str(cdesc_ann, key);
	if (value != NULL) {
		if (parse_hex(value, size, sealed) < 0)
			return cfs_error_set(err, -EINVAL,
					     "%s: manifest %s: the config's "
					     "annotation %s is not %zu "
					     "lowercase hex digits",
					     in->layout, in->manifest_digest,
					     key, 2 * size);
		r = buffer_digest(in->alg, in->config_text, in->config_len,
				  config_digest);
		if (r < 0)
			return cfs_error_set(err, r, "digest of the config: %s",
					     strerror(-r));
		if (memcmp(sealed, config_digest, size) != 0) {
			to_hex(config_digest, size, hex);
			return cfs_error_set(err, -EILSEQ,
					     "%s: manifest %s: the config's "
					     "%s is %s, but the config has %s",
					     in->layout, in->manifest_digest,
					     key, value, hex);
		}
		r = check_signature(in, cdesc_ann, key, config_digest, false,
				    NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writing a sealed copy */

/* What has been added to the destination, to take back on failure. */
struct dest {
	const char *path;
	int fd, blobs_fd;
	bool made_dir, made_blobs, made_sha256, made_layout_file;
	char (*added)[64 + 1];
	size_t n_added;
	struct cfs_error *err;
};

static void dest_undo(struct dest *d)
{
	for (size_t i = 0; i < d->n_added; i++)
		(void)unlinkat(d->blobs_fd, d->added[i], 0);
	if (d->fd >= 0 && d->made_layout_file)
		(void)unlinkat(d->fd, "oci-layout", 0);
	if (d->fd >= 0 && d->made_sha256)
		(void)unlinkat(d->fd, "blobs/sha256", AT_REMOVEDIR);
	if (d->fd >= 0 && d->made_blobs)
		(void)unlinkat(d->fd, "blobs", AT_REMOVEDIR);
	if (d->made_dir)
		(void)rmdir(d->path);
}

static void dest_close(struct dest *d)
{
	if (d->blobs_fd >= 0)
		close(d->blobs_fd);
	if (d->fd >= 0)
		close(d->fd);
	free(d->added);
}

static int mkdir_at(int fd, const char *name, bool *made)
{
	if (mkdirat(fd, name, 0755) == 0) {
		*made = true;
		return 0;
	}
	return errno == EEXIST ? 0 : -errno;
}

/* The destination: an OCI image layout, an empty directory, or nothing
 * yet (made; its parent must exist). */
static int dest_open(struct dest *d)
{
	struct stat st;
	int r;

	if (mkdir(d->path, 0755) == 0)
		d->made_dir = true;
	else if (errno != EEXIST)
		return cfs_error_set(d->err, -errno, "%s: %s", d->path,
				     strerror(errno));
	d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0)
		return cfs_error_set(d->err, -errno, "%s: %s", d->path,
				     strerror(errno));
	if (fstatat(d->fd, "oci-layout", &st, AT_SYMLINK_NOFOLLOW) != 0) {
		_cleanup_(cfsi_dir_list_free) struct cfsi_dir_list l = { 0 };

		r = cfsi_list_dir(d->fd, ".", &l);
		if (r < 0)
			return cfs_error_set(d->err, r, "%s: %s", d->path,
					     strerror(-r));
		if (l.n > 0)
			return cfs_error_set(d->err, -ENOTEMPTY,
					     "%s: neither an OCI image layout "
					     "(no oci-layout) nor empty",
					     d->path);
	}
	r = mkdir_at(d->fd, "blobs", &d->made_blobs);
	if (r == 0)
		r = mkdir_at(d->fd, "blobs/sha256", &d->made_sha256);
	if (r < 0)
		return cfs_error_set(d->err, r, "%s/blobs/sha256: %s", d->path,
				     strerror(-r));
	d->blobs_fd = openat(d->fd, "blobs/sha256",
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (d->blobs_fd < 0)
		return cfs_error_set(d->err, -errno, "%s/blobs/sha256: %s",
				     d->path, strerror(errno));
	return 0;
}

static int dest_note(struct dest *d, const char *hex)
{
	char(*n)[65] = realloc(d->added, (d->n_added + 1) * sizeof(*n));

	if (n == NULL)
		return cfs_error_set(d->err, -ENOMEM, "out of memory");
	d->added = n;
	snprintf(d->added[d->n_added++], 65, "%s", hex);
	return 0;
}

/* Write data under name in dir_fd: whole and durable before it has its
 * name. replace: an existing file is replaced (else it is kept, and 1
 * returned). */
static int write_whole(int dir_fd, const char *name, const void *data,
		       size_t len, bool replace)
{
	char tmp[CFSI_TMP_NAME_SIZE];
	int fd, r = 0;

	cfsi_tmpfile_make_name(tmp);
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = cfsi_write_all(fd, data, len);
	if (r == 0 && fsync(fd) != 0)
		r = -errno;
	close(fd);
	if (r == 0 && !replace) {
		if (linkat(dir_fd, tmp, dir_fd, name, 0) != 0)
			r = errno == EEXIST ? 1 : -errno;
		(void)unlinkat(dir_fd, tmp, 0);
		return r;
	}
	if (r == 0 && renameat(dir_fd, tmp, dir_fd, name) != 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(dir_fd, tmp, 0);
	return r;
}

/* A blob of these bytes into the destination; its digest into ret. */
static int put_blob(struct dest *d, const char *text, size_t len,
		    char ret[7 + 64 + 1])
{
	uint8_t sha[32];
	int r;

	if (EVP_Digest(text, len, sha, NULL, EVP_sha256(), NULL) != 1)
		return cfs_error_set(d->err, -ENOMEM, "sha256 failed");
	memcpy(ret, "sha256:", 7);
	to_hex(sha, 32, ret + 7);
	r = write_whole(d->blobs_fd, ret + 7, text, len, false);
	if (r < 0)
		return cfs_error_set(d->err, r, "%s/blobs/sha256/%s: %s",
				     d->path, ret + 7, strerror(-r));
	return r == 0 ? dest_note(d, ret + 7) : 0;
}

/* Copy the blob hex from src_fd's blobs into the destination, checked
 * against its digest and size as it is copied. */
static int copy_blob(struct dest *d, int src_blobs, const char *src,
		     const char *hex, int64_t size)
{
	_cleanup_close_ int in = -1, out = -1;
	char tmp[CFSI_TMP_NAME_SIZE], buf[64 * 1024], actual[65];
	EVP_MD_CTX *ctx = NULL;
	uint8_t sha[32];
	uint64_t total = 0;
	int r = 0;

	in = openat(src_blobs, hex,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (in < 0)
		return cfs_error_set(d->err, -errno, "%s: blob sha256:%s: %s",
				     src, hex, strerror(errno));
	cfsi_tmpfile_make_name(tmp);
	out = openat(d->blobs_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		     0644);
	if (out < 0)
		return cfs_error_set(d->err, -errno, "%s/blobs/sha256: %s",
				     d->path, strerror(errno));
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = cfs_error_set(d->err, -ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = cfs_error_set(d->err, -errno,
					  "%s: blob sha256:%s: %s", src, hex,
					  strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
		r = cfsi_write_all(out, buf, (size_t)n);
		if (r < 0) {
			r = cfs_error_set(d->err, r, "%s/blobs/sha256: %s",
					  d->path, strerror(-r));
			goto out;
		}
	}
	EVP_DigestFinal_ex(ctx, sha, NULL);
	to_hex(sha, 32, actual);
	if (strcmp(actual, hex) != 0 || total != (uint64_t)size) {
		r = cfs_error_set(d->err, -EILSEQ,
				  "%s: layer blob sha256:%s has %llu bytes of "
				  "digest sha256:%s, not what its descriptor "
				  "says",
				  src, hex, (unsigned long long)total, actual);
		goto out;
	}
	if (fsync(out) != 0) {
		r = cfs_error_set(d->err, -errno, "%s/blobs/sha256: %s",
				  d->path, strerror(errno));
		goto out;
	}
	if (linkat(d->blobs_fd, tmp, d->blobs_fd, hex, 0) == 0)
		r = dest_note(d, hex);
	else if (errno != EEXIST)
		r = cfs_error_set(d->err, -errno, "%s/blobs/sha256/%s: %s",
				  d->path, hex, strerror(errno));
out:
	(void)unlinkat(d->blobs_fd, tmp, 0);
	EVP_MD_CTX_free(ctx);
	return r;
}

/* Every layer blob of manifest present in src, of its size (checked
 * before anything is written). */
static int check_layers(int src_blobs, const char *src, json_object *layers)
{
	(void)src;
	for (size_t i = 0; i < json_object_array_length(layers); i++) {
		json_object *l = json_object_array_get_idx(layers, i);
		const char *digest = cfsi_json_str(l, "digest");
		struct stat st;

		if (digest == NULL || strncmp(digest, "sha256:", 7) != 0 ||
		    !cfsi_is_lower_hex(digest + 7, 64))
			return -EINVAL;
		if (fstatat(src_blobs, digest + 7, &st, AT_SYMLINK_NOFOLLOW) !=
		    0)
			return -errno;
		if (!S_ISREG(st.st_mode) ||
		    st.st_size != json_object_get_int64(member(l, "size")))
			return -EUCLEAN;
	}
	return 0;
}

/* The layer blobs into the destination: the same file where it can be (a
 * hard link), else a copy. */
static int put_layers(struct dest *d, int src_blobs, const char *src,
		      json_object *layers)
{
	for (size_t i = 0; i < json_object_array_length(layers); i++) {
		json_object *l = json_object_array_get_idx(layers, i);
		const char *hex = cfsi_json_str(l, "digest") + 7;
		struct stat st;
		int r;

		if (fstatat(d->blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) &&
		    st.st_size == json_object_get_int64(member(l, "size")))
			continue; /* there already (src is dest, say) */
		if (linkat(src_blobs, hex, d->blobs_fd, hex, 0) == 0) {
			r = dest_note(d, hex);
			if (r < 0)
				return r;
			continue;
		}
		r = copy_blob(d, src_blobs, src, hex,
			      json_object_get_int64(member(l, "size")));
		if (r < 0)
			return r;
	}
	return 0;
}

/* Drop the annotations "composefs.*" (a seal of the source, stale). */
static void drop_seal_annotations(json_object *annotations)
{
	struct cfsi_dir_list keys = { 0 };

	if (annotations == NULL ||
	    !json_object_is_type(annotations, json_type_object))
		return;
	json_object_object_foreach(annotations, key, val)
	{
		(void)val;
		if (strncmp(key, CFSI_SEAL_PREFIX, strlen(CFSI_SEAL_PREFIX)) !=
		    0)
			continue;
		char **n = realloc(keys.names,
				   (keys.n + 1) * sizeof(*keys.names));
		if (n == NULL)
			break;
		keys.names = n;
		keys.names[keys.n] = strdup(key);
		if (keys.names[keys.n] != NULL)
			keys.n++;
	}
	for (size_t i = 0; i < keys.n; i++)
		json_object_object_del(annotations, keys.names[i]);
	cfsi_dir_list_free(&keys);
}

/* The object o's member key, an object (made, or replacing a member of
 * another type). */
static json_object *object_member(json_object *o, const char *key)
{
	json_object *v = member(o, key);

	if (v != NULL && json_object_is_type(v, json_type_object))
		return v;
	v = json_object_new_object();
	if (v != NULL)
		json_object_object_add(o, key, v);
	return v;
}

/* key = hex of digest in annotations, and key.sig its signature when
 * signing. */
static int annotate(json_object *annotations, const char *key,
		    enum cfs_hash_alg alg, const uint8_t *digest, size_t size,
		    const struct cfs_seal_options *opts, struct cfs_error *err)
{
	char hex[2 * 64 + 1], sig_key[128];
	uint8_t *sig = NULL;
	size_t sig_len;
	char *b64;
	int r;

	to_hex(digest, size, hex);
	json_object_object_add(annotations, key, json_object_new_string(hex));
	if (opts == NULL || opts->sign_key == NULL)
		return 0;
	r = cfs_verity_sign(alg, digest, opts->sign_key, opts->sign_cert, &sig,
			    &sig_len, err);
	if (r < 0)
		return r;
	b64 = cfsi_base64_encode(sig, sig_len);
	free(sig);
	if (b64 == NULL)
		return cfs_error_set(err, -ENOMEM, "out of memory");
	snprintf(sig_key, sizeof(sig_key), "%s" CFSI_SEAL_SIG, key);
	json_object_object_add(annotations, sig_key,
			       json_object_new_string(b64));
	free(b64);
	return 0;
}

/* The new index.json of the destination: its entries but those the new
 * one replaces (of the same tag; untagged ones when untagged), then the
 * new one. */
static int new_index(struct dest *d, const char *tag, const char *media_type,
		     const char *digest, size_t size, char **ret_text)
{
	json_object *index = NULL, *list, *entry, *fresh = NULL;
	_cleanup_free_ char *old = NULL;
	_cleanup_close_ int fd = -1;
	const char *text;
	int r = 0;

	fd = openat(d->fd, "index.json",
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd >= 0) {
		struct stat st;
		ssize_t n;

		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size > INDEX_MAX)
			return cfs_error_set(d->err, -EUCLEAN,
					     "%s/index.json: not a regular "
					     "file of at most %d bytes",
					     d->path, INDEX_MAX);
		old = malloc((size_t)st.st_size + 1);
		if (old == NULL)
			return cfs_error_set(d->err, -ENOMEM, "out of memory");
		n = cfsi_pread_all(fd, old, (size_t)st.st_size, 0);
		if (n != st.st_size)
			return cfs_error_set(d->err, -EIO,
					     "%s/index.json: cannot be read",
					     d->path);
		old[n] = '\0';
		index = json_tokener_parse(old);
		if (index == NULL ||
		    !json_object_is_type(index, json_type_object) ||
		    !json_object_is_type(member(index, "manifests"),
					 json_type_array)) {
			json_object_put(index);
			return cfs_error_set(d->err, -EINVAL,
					     "%s/index.json: not an OCI index",
					     d->path);
		}
	} else if (errno != ENOENT) {
		return cfs_error_set(d->err, -errno, "%s/index.json: %s",
				     d->path, strerror(errno));
	} else {
		index = json_object_new_object();
		if (index == NULL)
			return cfs_error_set(d->err, -ENOMEM, "out of memory");
		json_object_object_add(index, "schemaVersion",
				       json_object_new_int(2));
		json_object_object_add(index, "manifests",
				       json_object_new_array());
	}
	list = member(index, "manifests");
	fresh = json_object_new_array();
	for (size_t i = 0; fresh && i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);
		const char *t = cfsi_json_str(member(e, "annotations"),
					      REF_NAME);

		if (tag != NULL ? (t != NULL && strcmp(t, tag) == 0) :
				  t == NULL)
			continue;
		json_object_array_add(fresh, json_object_get(e));
	}
	entry = json_object_new_object();
	if (fresh == NULL || entry == NULL) {
		json_object_put(entry);
		r = cfs_error_set(d->err, -ENOMEM, "out of memory");
		goto out;
	}
	json_object_object_add(entry, "mediaType",
			       json_object_new_string(media_type));
	json_object_object_add(entry, "digest", json_object_new_string(digest));
	json_object_object_add(entry, "size", json_object_new_int64(size));
	if (tag != NULL) {
		json_object *a = json_object_new_object();

		json_object_object_add(a, REF_NAME,
				       json_object_new_string(tag));
		json_object_object_add(entry, "annotations", a);
	}
	json_object_array_add(fresh, entry);
	json_object_object_add(index, "manifests", json_object_get(fresh));
	text = json_object_to_json_string_ext(index, JSON_OUT);
	*ret_text = text ? strdup(text) : NULL;
	if (*ret_text == NULL)
		r = cfs_error_set(d->err, -ENOMEM, "out of memory");
out:
	json_object_put(fresh);
	json_object_put(index);
	return r;
}

/* The new config and manifest of the sealed copy: their texts. */
static int seal_json(struct cfsi_oci_computed *c,
		     const struct cfs_seal_options *opts, char **ret_config,
		     char **ret_manifest, struct cfs_error *err)
{
	size_t size = cfs_hash_alg_digest_size(c->alg);
	json_object *labels, *cdesc, *cann, *mann;
	uint8_t config_digest[CFS_DIGEST_MAX_SIZE], sha[32];
	char alg[32], key[96], hex[CFS_DIGEST_HEX_MAX_SIZE];
	char config_id[7 + 64 + 1];
	const char *text;
	int r;

	r = cfsi_seal_alg_name(c->alg, alg);
	if (r < 0 || size == 0 || size > sizeof(config_digest))
		return cfs_error_set(err, -EOPNOTSUPP,
				     "hash algorithm %u not implemented",
				     (unsigned)c->alg);
	/* composefs-rs's label */
	labels = object_member(object_member(c->config, "config"), "Labels");
	if (labels == NULL)
		return cfs_error_set(err, -ENOMEM, "out of memory");
	to_hex(c->digest, size, hex);
	json_object_object_add(labels, CFSI_SEAL_LABEL,
			       json_object_new_string(hex));
	text = json_object_to_json_string_ext(c->config, JSON_OUT);
	if (text == NULL || (*ret_config = strdup(text)) == NULL)
		return cfs_error_set(err, -ENOMEM, "out of memory");
	r = buffer_digest(c->alg, *ret_config, strlen(*ret_config),
			  config_digest);
	if (r < 0)
		return cfs_error_set(err, r, "digest of the config: %s",
				     strerror(-r));
	if (EVP_Digest(*ret_config, strlen(*ret_config), sha, NULL,
		       EVP_sha256(), NULL) != 1)
		return cfs_error_set(err, -ENOMEM, "sha256 failed");
	memcpy(config_id, "sha256:", 7);
	to_hex(sha, 32, config_id + 7);

	/* the manifest: the new config's descriptor, the annotations */
	cdesc = object_member(c->manifest, "config");
	cann = cdesc ? object_member(cdesc, "annotations") : NULL;
	mann = object_member(c->manifest, "annotations");
	if (cann == NULL || mann == NULL)
		return cfs_error_set(err, -ENOMEM, "out of memory");
	json_object_object_add(cdesc, "digest",
			       json_object_new_string(config_id));
	json_object_object_add(
		cdesc, "size",
		json_object_new_int64((int64_t)strlen(*ret_config)));
	drop_seal_annotations(cann);
	drop_seal_annotations(mann);
	snprintf(key, sizeof(key), CFSI_SEAL_CONFIG "%s", alg);
	r = annotate(cann, key, c->alg, config_digest, size, opts, err);
	if (r < 0)
		return r;
	snprintf(key, sizeof(key), CFSI_SEAL_MERGED "%s", alg);
	r = annotate(mann, key, c->alg, c->digest, size, opts, err);
	if (r < 0)
		return r;
	text = json_object_to_json_string_ext(c->manifest, JSON_OUT);
	if (text == NULL || (*ret_manifest = strdup(text)) == NULL)
		return cfs_error_set(err, -ENOMEM, "out of memory");
	return 0;
}

int cfs_repo_seal_oci(struct cfs_repo *repo, const char *src,
		      const char *src_tag, const char *dest,
		      const char *dest_tag, const struct cfs_seal_options *opts,
		      enum cfs_hash_alg *ret_alg, uint8_t *ret_digest,
		      struct cfs_error *err)
{
	struct cfs_import_options iopts = { 0 };
	struct cfsi_oci_computed c = { 0 };
	struct dest d = { .path = dest, .fd = -1, .blobs_fd = -1, .err = err };
	_cleanup_free_ char *config = NULL, *manifest = NULL, *index = NULL;
	_cleanup_close_ int src_blobs = -1;
	char config_id[7 + 64 + 1], manifest_id[7 + 64 + 1], path[4096];
	const char *media_type;
	json_object *layers;
	int r;

	if (opts != NULL &&
	    (opts->sign_key == NULL) != (opts->sign_cert == NULL))
		return cfs_error_set(err, -EINVAL,
				     "signing needs both a key and its "
				     "certificate");
	if (dest_tag != NULL && dest_tag[0] == '\0')
		return cfs_error_set(err, -EINVAL, "%s: an empty tag", dest);
	if (opts != NULL) {
		iopts.flags = opts->flags & CFS_IMPORT_KEEP_USER_XATTRS;
		iopts.platform = opts->platform;
		iopts.progress = opts->progress;
		iopts.userdata = opts->userdata;
	}
	r = cfsi_oci_compute(repo, src, src_tag, &iopts, &c, err);
	if (r < 0)
		return r;
	layers = member(c.manifest, "layers");
	snprintf(path, sizeof(path), "%s/blobs/sha256", src);
	src_blobs = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src_blobs < 0) {
		r = cfs_error_set(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* every layer blob at hand (a layer reused from the repository was
	 * not read), before anything is written */
	r = check_layers(src_blobs, src, layers);
	if (r < 0) {
		r = cfs_error_set(err, r,
				  "%s: a layer blob of manifest %s is missing "
				  "or not of its descriptor's size: the sealed "
				  "copy needs every layer",
				  src, c.manifest_digest);
		goto out;
	}
	/* signed (a bad key found) before anything is written */
	r = seal_json(&c, opts, &config, &manifest, err);
	if (r < 0)
		goto out;
	media_type = cfsi_json_str(c.manifest, "mediaType");
	if (media_type == NULL)
		media_type = MT_MANIFEST;

	r = dest_open(&d);
	if (r == 0)
		r = put_layers(&d, src_blobs, src, layers);
	if (r == 0)
		r = put_blob(&d, config, strlen(config), config_id);
	if (r == 0)
		r = put_blob(&d, manifest, strlen(manifest), manifest_id);
	if (r >= 0)
		r = new_index(&d, dest_tag, media_type, manifest_id,
			      strlen(manifest), &index);
	if (r == 0) {
		static const char layout_file[] =
			"{\"imageLayoutVersion\":\"1.0.0\"}";

		r = write_whole(d.fd, "oci-layout", layout_file,
				strlen(layout_file), false);
		if (r == 0)
			d.made_layout_file = true;
		if (r < 0)
			r = cfs_error_set(err, r, "%s/oci-layout: %s", dest,
					  strerror(-r));
	}
	if (r >= 0) {
		r = write_whole(d.fd, "index.json", index, strlen(index), true);
		if (r < 0)
			r = cfs_error_set(err, r, "%s/index.json: %s", dest,
					  strerror(-r));
	}
	if (r >= 0 && fsync(d.fd) != 0)
		r = cfs_error_set(err, -errno, "%s: %s", dest, strerror(errno));
	if (r < 0)
		dest_undo(&d);
	else
		r = 0;
	if (r == 0 && ret_digest != NULL)
		memcpy(ret_digest, c.digest, cfs_hash_alg_digest_size(c.alg));
	if (r == 0 && ret_alg != NULL)
		*ret_alg = c.alg;
out:
	dest_close(&d);
	cfsi_oci_computed_free(&c);
	return r;
}

/* ------------------------------------------------------------------ */
/* The seal recorded at import */

/* "fsverity-sha256-12" into its algorithm: -EINVAL for anything else. */
static int alg_from_seal_name(const char *name, enum cfs_hash_alg *ret)
{
	char alg[32];

	for (unsigned a = CFS_HASH_SHA256; a <= CFS_HASH_SHA512; a++)
		if (name != NULL &&
		    cfsi_seal_alg_name((enum cfs_hash_alg)a, alg) == 0 &&
		    strcmp(name, alg) == 0) {
			*ret = (enum cfs_hash_alg)a;
			return 0;
		}
	return -EINVAL;
}

int cfs_repo_read_seal(struct cfs_repo *repo, const char *name,
		       enum cfs_hash_alg *ret_alg, uint8_t *ret_digest,
		       uint8_t **ret_sig, size_t *ret_sig_len,
		       struct cfs_error *err)
{
	_cleanup_free_ char *buf = malloc(RECORD_MAX);
	uint8_t digest[CFS_DIGEST_MAX_SIZE] = { 0 },
		sealed[CFS_DIGEST_MAX_SIZE];
	char hex[CFS_DIGEST_HEX_MAX_SIZE];
	enum cfs_hash_alg alg = CFS_HASH_DEFAULT;
	json_object *rec = NULL, *seal;
	const char *value, *sig_text;
	uint8_t *sig = NULL;
	size_t sig_len = 0, size;
	ssize_t n;
	int r;

	r = cfs_repo_resolve(repo, name, digest, err);
	if (r < 0)
		return r;
	if (buf == NULL)
		return cfs_error_set(err, -ENOMEM, "out of memory");
	n = cfsi_repo_read_file(repo, LAYOUT_OCI, name, buf, RECORD_MAX);
	if (n == -ENOENT)
		return cfs_error_set(err, -ENODATA,
				     "'%s' was not imported from an OCI image",
				     name);
	if (n < 0)
		return cfs_error_set(err, (int)n, "%s/" LAYOUT_OCI "/%s: %s",
				     cfs_repo_get_path(repo), name,
				     strerror((int)-n));
	rec = json_tokener_parse(buf);
	seal = member(rec, "seal");
	if (seal == NULL) {
		r = cfs_error_set(err, -ENODATA,
				  "'%s' was imported from an unsealed OCI "
				  "image",
				  name);
		goto out;
	}
	/* a seal is of the repository's algorithm: the name's digest is as
	 * long as the seal's */
	r = alg_from_seal_name(cfsi_json_str(seal, "algorithm"), &alg);
	size = cfs_hash_alg_digest_size(alg);
	value = cfsi_json_str(rec, "image");
	if (r == 0 && size > 0)
		to_hex(digest, size, hex);
	if (r == 0 && size > 0 && (value == NULL || strcmp(value, hex) != 0)) {
		/* the record of an image the name no longer names */
		r = cfs_error_set(err, -ENODATA,
				  "'%s' was not imported from an OCI image",
				  name);
		goto out;
	}
	value = cfsi_json_str(seal, "digest");
	if (r < 0 || size == 0 || parse_hex(value, size, sealed) < 0) {
		r = cfs_error_set(err, -EINVAL,
				  "%s/" LAYOUT_OCI "/%s: a seal that cannot "
				  "be read",
				  cfs_repo_get_path(repo), name);
		goto out;
	}
	sig_text = cfsi_json_str(seal, "signature");
	if (sig_text != NULL &&
	    cfsi_base64_decode(sig_text, &sig, &sig_len) < 0) {
		r = cfs_error_set(err, -EINVAL,
				  "%s/" LAYOUT_OCI "/%s: a signature that "
				  "cannot be read",
				  cfs_repo_get_path(repo), name);
		goto out;
	}
	if (ret_alg != NULL)
		*ret_alg = alg;
	if (ret_digest != NULL)
		memcpy(ret_digest, sealed, size);
	if (ret_sig != NULL) {
		*ret_sig = TAKE_PTR(sig);
		*ret_sig_len = sig_len;
	}
	r = 0;
out:
	free(sig);
	json_object_put(rec);
	return r;
}
