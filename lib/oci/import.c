/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Imports into a repository: one tar stream, or an OCI image layout.
 *
 * An OCI import checks everything it reads against the digests that name
 * it: index.json leads to a manifest (through nested indexes, by tag and
 * platform), the manifest to the config and the layers; every blob must
 * have its descriptor's sha256 and size, every uncompressed layer the
 * diff_id the config gives it. Layers are read in order straight into the
 * store (lib/oci/tar-import.c) and applied onto each other.
 *
 * Each layer read is kept as an image of its layer tree (import_i.h):
 * DIR/layers/HEX (HEX the layer's diff_id) holds one line, the digest of
 * that image in DIR/images/. A layer already there is applied from its
 * image and its blob is never opened. DIR/oci/NAME records, as JSON, what
 * the image named NAME came from (source, manifest and config digests,
 * the config itself, the layers' diff_ids); gc keeps the layers that such
 * records of live names list.
 *
 * Order on disk: objects, layer image, layer record; final image, name,
 * then the name's record. Nothing is named before every blob and layer
 * checked out.
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
#include <sys/utsname.h>
#include <unistd.h>

#include "oci/import_i.h"
#include "oci/seal_i.h"
#include "format/hash_alg_i.h"
#include "store/store_i.h"
#include "repo/layout.h"
#include "repo/repo_i.h"
#include "base/util.h"

/* Indexes, manifests and configs bigger than this are refused. */
#define JSON_BLOB_MAX (4 << 20)
#define INDEX_DEPTH_MAX 8

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST                                                         \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define REF_NAME "org.opencontainers.image.ref.name"

static const char *const layer_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

static void emit(const struct cfs_import_options *opts,
		 struct cfs_import_event *ev)
{
	if (opts != NULL && opts->progress != NULL)
		opts->progress(opts->userdata, ev);
}

struct tar_progress {
	const struct cfs_import_options *opts;
	struct cfs_import_event *ev;
};

static void on_tar_progress(void *userdata, uint64_t bytes, uint64_t entries)
{
	struct tar_progress *tp = userdata;

	tp->ev->bytes = bytes;
	tp->ev->entries = entries;
	emit(tp->opts, tp->ev);
}

/* The tree of the tar stream on fd, as one layer onto nothing. */
static int tar_tree(int fd, const char *source, struct cfs_store *store,
		    enum cfs_hash_alg alg, cfsi_tar_progress_fn progress,
		    void *userdata, struct cfs_node **ret_root,
		    struct cfs_error *err)
{
	struct cfs_node *layer = NULL, *root = cfsi_import_root_new();
	int r;

	if (root == NULL)
		return cfs_error_set(err, -ENOMEM, "out of memory");
	r = cfsi_tar_read(fd, source, store, alg, NULL, progress, userdata,
			  &layer, NULL, err);
	if (r == 0)
		r = cfsi_layer_apply(root, layer, source, err);
	if (r == 0) {
		r = cfsi_import_finish(root);
		if (r < 0)
			cfs_error_set(err, r, "%s: %s", source, strerror(-r));
	}
	cfs_node_unref(layer);
	if (r < 0) {
		cfs_node_unref(root);
		return r;
	}
	*ret_root = root;
	return 0;
}

int cfs_build_from_tar(int fd, const char *source, struct cfs_store *store,
		       struct cfs_node **ret_root, struct cfs_error *err)
{
	return tar_tree(fd, source, store, CFS_HASH_SHA256, NULL, NULL,
			ret_root, err);
}

int cfs_build_from_tar_alg(int fd, const char *source, struct cfs_store *store,
			   enum cfs_hash_alg alg, struct cfs_node **ret_root,
			   struct cfs_error *err)
{
	if (cfs_hash_alg_digest_size(alg) == 0)
		return cfs_error_set(err, -EOPNOTSUPP,
				     "fs-verity hash algorithm %u is not "
				     "implemented",
				     alg);
	if (store != NULL && cfsi_store_hash_alg(store)->id != alg &&
	    alg != CFS_HASH_DEFAULT)
		return cfs_error_set(err, -EINVAL,
				     "digests of %s asked for, the object "
				     "store names objects by %s",
				     cfs_hash_alg_name(alg),
				     cfsi_store_hash_alg(store)->name);
	return tar_tree(fd, source, store, alg, NULL, NULL, ret_root, err);
}

int cfs_repo_import_tar(struct cfs_repo *repo, int fd, const char *source,
			const char *name, const struct cfs_import_options *opts,
			uint8_t *ret_digest, struct cfs_error *err)
{
	struct cfs_import_event ev = { .kind = CFS_IMPORT_READING };
	struct tar_progress tp = { opts, &ev };
	struct cfs_store *store = NULL;
	struct cfs_node *root = NULL;
	struct stat st;
	int r;

	r = cfs_repo_check_name(name, err);
	if (r < 0)
		return r;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		ev.total_bytes = (uint64_t)st.st_size;
	r = cfs_repo_open_store(repo, &store, err);
	if (r == 0)
		r = tar_tree(fd, source, store, CFS_HASH_DEFAULT,
			     on_tar_progress, &tp, &root, err);
	if (r == 0)
		r = cfs_repo_add_image(repo, root, opts ? opts->write : NULL,
				       store, name, opts ? opts->flags : 0,
				       ret_digest, err);
	cfs_node_unref(root);
	cfs_store_free(store);
	return r;
}

/* ------------------------------------------------------------------ */
/* OCI image layouts */

struct desc {
	const char *media_type; /* NULL when the descriptor has none */
	char digest[7 + 64 + 1]; /* "sha256:" and lowercase hex */
	uint8_t sha[32];
	int64_t size;
};

struct oci {
	struct cfs_repo *repo;
	const struct cfs_import_options *opts;
	const char *layout;
	int layout_fd;
	struct cfs_error *err;
	char os[32], arch[32], variant[32];
	/* of the files' digests without a store (with one: its own) */
	enum cfs_hash_alg alg;
};

static void sha_to_str(const uint8_t sha[32], char out[7 + 64 + 1])
{
	memcpy(out, "sha256:", 7);
	for (size_t i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", sha[i]);
}

static int parse_desc(struct oci *oci, json_object *o, const char *what,
		      struct desc *d)
{
	json_object *size;
	const char *digest = cfsi_json_str(o, "digest");
	int r;

	if (!json_object_is_type(o, json_type_object))
		return cfs_error_set(oci->err, -EINVAL,
				     "%s: %s: not a descriptor", oci->layout,
				     what);
	r = cfsi_parse_sha256(digest, d->sha);
	if (r < 0)
		return cfs_error_set(oci->err, r, "%s: %s: %s digest '%s'",
				     oci->layout, what,
				     r == -EOPNOTSUPP ? "unsupported" : "bad",
				     digest ? digest : "(none)");
	sha_to_str(d->sha, d->digest);
	if (!json_object_object_get_ex(o, "size", &size) ||
	    !json_object_is_type(size, json_type_int) ||
	    json_object_get_int64(size) < 0)
		return cfs_error_set(oci->err, -EINVAL, "%s: %s: no valid size",
				     oci->layout, what);
	d->size = json_object_get_int64(size);
	d->media_type = cfsi_json_str(o, "mediaType");
	return 0;
}

/* Open the blob of d, a regular file (nothing else is opened for reading:
 * a FIFO put there must not hang us). */
static int open_blob(struct oci *oci, const struct desc *d)
{
	char path[16 + 64];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "blobs/sha256/%s", d->digest + 7);
	fd = openat(oci->layout_fd, path,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return cfs_error_set(oci->err, -errno, "%s: blob %s: %s",
				     oci->layout, d->digest, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cfs_error_set(oci->err, -EUCLEAN,
				     "%s: blob %s: not a regular file",
				     oci->layout, d->digest);
	}
	return fd;
}

static int read_all_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap + 1);

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= max) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(buf);
		return -EFBIG;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* What is wrong with text that did not parse: json-c says "continue" of
 * text that ends early, an empty file included. */
static const char *json_error_why(enum json_tokener_error e, size_t len)
{
	if (e == json_tokener_success)
		return "trailing bytes";
	if (len == 0)
		return "empty";
	if (e == json_tokener_continue)
		return "it ends early";
	return json_tokener_error_desc(e);
}

static int parse_json(struct oci *oci, const char *text, size_t len,
		      const char *what, json_object **ret)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;

	if (tok == NULL)
		return cfs_error_set(oci->err, -ENOMEM, "out of memory");
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o == NULL || tok->char_offset != (int)len) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		json_object_put(o);
		json_tokener_free(tok);
		return cfs_error_set(oci->err, -EINVAL,
				     "%s: %s: not valid JSON: %s", oci->layout,
				     what, json_error_why(e, len));
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return cfs_error_set(oci->err, -EINVAL,
				     "%s: %s: not a JSON object", oci->layout,
				     what);
	}
	*ret = o;
	return 0;
}

/* A blob that is not what its descriptor says: which of its size and its
 * digest differ. */
static int blob_mismatch(struct oci *oci, const char *what,
			 const struct desc *d, uint64_t size,
			 const uint8_t sha[32])
{
	char actual[7 + 64 + 1];
	bool size_ok = size == (uint64_t)d->size;

	sha_to_str(sha, actual);
	if (size_ok)
		return cfs_error_set(oci->err, -EILSEQ,
				     "%s: %s blob %s has the %llu bytes its "
				     "descriptor says, but digest %s",
				     oci->layout, what, d->digest,
				     (unsigned long long)size, actual);
	if (memcmp(sha, d->sha, 32) == 0)
		return cfs_error_set(oci->err, -EILSEQ,
				     "%s: %s blob %s has %llu bytes, not the "
				     "%lld bytes its descriptor says (its "
				     "digest is right)",
				     oci->layout, what, d->digest,
				     (unsigned long long)size,
				     (long long)d->size);
	return cfs_error_set(oci->err, -EILSEQ,
			     "%s: %s blob %s has %llu bytes of digest %s, not "
			     "the %lld bytes and the digest its descriptor "
			     "says",
			     oci->layout, what, d->digest,
			     (unsigned long long)size, actual,
			     (long long)d->size);
}

/* The JSON blob of d, checked against its digest and size. */
static int read_json_blob(struct oci *oci, const struct desc *d,
			  const char *what, json_object **ret, char **ret_text)
{
	_cleanup_close_ int fd = open_blob(oci, d);
	_cleanup_free_ char *text = NULL;
	uint8_t sha[32];
	size_t len;
	int r;

	if (fd < 0)
		return fd;
	if (d->size > JSON_BLOB_MAX)
		return cfs_error_set(oci->err, -EFBIG,
				     "%s: %s %s: bigger than %d bytes",
				     oci->layout, what, d->digest,
				     JSON_BLOB_MAX);
	r = read_all_fd(fd, JSON_BLOB_MAX, &text, &len);
	if (r < 0)
		return cfs_error_set(oci->err, r, "%s: %s %s: %s", oci->layout,
				     what, d->digest, strerror(-r));
	if (EVP_Digest(text, len, sha, NULL, EVP_sha256(), NULL) != 1)
		return cfs_error_set(oci->err, -ENOMEM, "sha256 failed");
	if ((int64_t)len != d->size || memcmp(sha, d->sha, 32) != 0)
		return blob_mismatch(oci, what, d, len, sha);
	r = parse_json(oci, text, len, what, ret);
	if (r == 0 && ret_text != NULL) {
		*ret_text = text;
		text = NULL;
	}
	return r;
}

static bool is_index(const struct desc *d, json_object *blob)
{
	json_object *v;

	if (d->media_type != NULL &&
	    (strcmp(d->media_type, MT_OCI_INDEX) == 0 ||
	     strcmp(d->media_type, MT_DOCKER_LIST) == 0))
		return true;
	return blob != NULL && json_object_object_get_ex(blob, "manifests", &v);
}

static void machine_platform(struct oci *oci)
{
	static const struct {
		const char *machine, *arch, *variant;
	} map[] = {
		{ "x86_64", "amd64", "" },    { "aarch64", "arm64", "" },
		{ "armv7l", "arm", "v7" },    { "armv6l", "arm", "v6" },
		{ "i686", "386", "" },	      { "i386", "386", "" },
		{ "ppc64le", "ppc64le", "" }, { "s390x", "s390x", "" },
		{ "riscv64", "riscv64", "" },
	};
	struct utsname u;

	snprintf(oci->os, sizeof(oci->os), "linux");
	if (uname(&u) != 0)
		return;
	snprintf(oci->arch, sizeof(oci->arch), "%.31s", u.machine);
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(u.machine, map[i].machine) == 0) {
			snprintf(oci->arch, sizeof(oci->arch), "%s",
				 map[i].arch);
			snprintf(oci->variant, sizeof(oci->variant), "%s",
				 map[i].variant);
		}
}

static int parse_platform(struct oci *oci, const char *platform)
{
	char buf[100];
	char *arch, *variant;

	if (strlen(platform) >= sizeof(buf))
		goto bad;
	strcpy(buf, platform);
	arch = strchr(buf, '/');
	if (arch == NULL)
		goto bad;
	*arch++ = '\0';
	variant = strchr(arch, '/');
	if (variant != NULL)
		*variant++ = '\0';
	if (buf[0] == '\0' || arch[0] == '\0' ||
	    (variant != NULL && (variant[0] == '\0' || strchr(variant, '/'))) ||
	    strlen(buf) >= sizeof(oci->os) ||
	    strlen(arch) >= sizeof(oci->arch) ||
	    (variant && strlen(variant) >= sizeof(oci->variant)))
		goto bad;
	snprintf(oci->os, sizeof(oci->os), "%s", buf);
	snprintf(oci->arch, sizeof(oci->arch), "%s", arch);
	snprintf(oci->variant, sizeof(oci->variant), "%s",
		 variant ? variant : "");
	return 0;
bad:
	return cfs_error_set(oci->err, -EINVAL,
			     "bad platform '%s' (OS/ARCH or OS/ARCH/VARIANT)",
			     platform);
}

static bool platform_matches(struct oci *oci, json_object *entry)
{
	json_object *p;
	const char *os, *arch, *variant;

	if (!json_object_object_get_ex(entry, "platform", &p))
		return false;
	os = cfsi_json_str(p, "os");
	arch = cfsi_json_str(p, "architecture");
	variant = cfsi_json_str(p, "variant");
	if (os == NULL || arch == NULL || strcmp(os, oci->os) != 0 ||
	    strcmp(arch, oci->arch) != 0)
		return false;
	/* a variant asked for must match; none asked: any (arm64's "v8"
	 * is the only one there is) */
	if (oci->variant[0] != '\0' && variant != NULL &&
	    strcmp(variant, oci->variant) != 0)
		return false;
	return true;
}

static json_object *manifests_of(json_object *index)
{
	json_object *m;

	if (!json_object_object_get_ex(index, "manifests", &m) ||
	    !json_object_is_type(m, json_type_array))
		return NULL;
	return m;
}

/* The manifest that index (the layout's index.json when depth is 0) leads
 * to for tag (top level only) and the platform. */
static int select_manifest(struct oci *oci, json_object *index, const char *tag,
			   unsigned depth, struct desc *ret,
			   json_object **ret_manifest, char **ret_text)
{
	json_object *list = manifests_of(index), *chosen = NULL, *blob = NULL;
	size_t n = list ? json_object_array_length(list) : 0;
	char what[64];
	int r;

	if (list == NULL)
		return cfs_error_set(oci->err, -EINVAL,
				     "%s: an index without \"manifests\"",
				     oci->layout);
	if (depth > INDEX_DEPTH_MAX)
		return cfs_error_set(oci->err, -ELOOP,
				     "%s: indexes nested more than %d deep",
				     oci->layout, INDEX_DEPTH_MAX);
	if (depth == 0 && tag != NULL) {
		for (size_t i = 0; i < n && chosen == NULL; i++) {
			json_object *e = json_object_array_get_idx(list, i), *a;
			const char *t;

			if (!json_object_object_get_ex(e, "annotations", &a))
				continue;
			t = cfsi_json_str(a, REF_NAME);
			if (t != NULL && strcmp(t, tag) == 0)
				chosen = e;
		}
		if (chosen == NULL)
			return cfs_error_set(oci->err, -ENOENT,
					     "%s: no image tagged '%s'",
					     oci->layout, tag);
	} else if (depth == 0 && n == 1) {
		chosen = json_object_array_get_idx(list, 0);
	} else if (depth == 0 && n == 0) {
		return cfs_error_set(oci->err, -ENOENT, "%s: no image in it",
				     oci->layout);
	} else if (depth == 0) {
		/* several entries: one per platform, or several tags */
		bool tagged = false;

		for (size_t i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(list, i), *a;

			if (json_object_object_get_ex(e, "annotations", &a) &&
			    cfsi_json_str(a, REF_NAME) != NULL)
				tagged = true;
		}
		if (tagged)
			return cfs_error_set(
				oci->err, -EINVAL,
				"%s: holds %zu images: name one as oci:%s:TAG",
				oci->layout, n, oci->layout);
	}
	if (chosen == NULL) {
		for (size_t i = 0; i < n && chosen == NULL; i++) {
			json_object *e = json_object_array_get_idx(list, i);

			if (platform_matches(oci, e))
				chosen = e;
		}
		if (chosen == NULL)
			return cfs_error_set(
				oci->err, -ENOENT,
				"%s: no image for the platform %s/%s%s%s",
				oci->layout, oci->os, oci->arch,
				oci->variant[0] ? "/" : "", oci->variant);
	}
	snprintf(what, sizeof(what), "manifest");
	r = parse_desc(oci, chosen, what, ret);
	if (r < 0)
		return r;
	r = read_json_blob(oci, ret, is_index(ret, NULL) ? "index" : "manifest",
			   &blob, ret_text);
	if (r < 0)
		return r;
	if (is_index(ret, blob)) {
		if (ret_text != NULL) {
			free(*ret_text);
			*ret_text = NULL;
		}
		r = select_manifest(oci, blob, NULL, depth + 1, ret,
				    ret_manifest, ret_text);
		json_object_put(blob);
		return r;
	}
	*ret_manifest = blob;
	return 0;
}

static bool layer_type_known(const char *mt)
{
	if (mt == NULL)
		return true; /* the bytes tell */
	for (size_t i = 0; i < ARRAY_SIZE(layer_types); i++)
		if (strcmp(mt, layer_types[i]) == 0)
			return true;
	return false;
}

/* The layer tree of the layer diff_id (hex) from the repository, when it
 * was imported before and its image is intact. */
static struct cfs_node *known_layer(struct oci *oci, const char *hex)
{
	char line[CFS_DIGEST_HEX_MAX_SIZE + 8];
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	struct cfs_node *tree = NULL;
	struct cfs_error ignored;
	ssize_t n;

	if (oci->repo == NULL)
		return NULL;
	n = cfsi_repo_read_file(oci->repo, LAYOUT_LAYERS, hex, line,
				sizeof(line));

	if ((size_t)n != 2 * cfs_hash_alg_digest_size(
				     cfs_repo_get_hash_alg(oci->repo)) +
				 1 ||
	    line[n - 1] != '\n')
		return NULL;
	line[n - 1] = '\0';
	if (cfs_digest_from_hex_alg(cfs_repo_get_hash_alg(oci->repo), line,
				    digest) < 0)
		return NULL;
	if (cfsi_repo_load_tree(oci->repo, digest, NULL, &tree, &ignored) < 0)
		return NULL;
	return tree;
}

/* Check the layer descriptor d and its diff_id diff against what the
 * repository knows of its blob (DIR/layer-blobs/: the layer it holds and
 * its size), and against the size of the blob in the layout when it is
 * there and not an empty stand-in: a blob checked when it was read must
 * be described the same way when it is reused. */
static int check_known_blob(struct oci *oci, const struct desc *d,
			    const struct desc *diff)
{
	char known_diff[65], path[16 + 64];
	int64_t known_size;
	struct stat st;
	int r;

	if (oci->repo != NULL) {
		r = cfsi_repo_read_layer_blob(oci->repo, d->digest + 7,
					      known_diff, &known_size);
		if (r == 0 && strcmp(known_diff, diff->digest + 7) != 0)
			return cfs_error_set(
				oci->err, -EILSEQ,
				"%s: layer blob %s holds the layer of diff_id "
				"sha256:%s (as read into %s), not the diff_id "
				"%s of the config",
				oci->layout, d->digest, known_diff,
				cfs_repo_get_path(oci->repo), diff->digest);
		if (r == 0 && known_size >= 0 && known_size != d->size)
			return cfs_error_set(
				oci->err, -EILSEQ,
				"%s: layer blob %s has %lld bytes (as read "
				"into %s), not the %lld bytes its descriptor "
				"says",
				oci->layout, d->digest, (long long)known_size,
				cfs_repo_get_path(oci->repo),
				(long long)d->size);
	}
	snprintf(path, sizeof(path), "blobs/sha256/%s", d->digest + 7);
	if (fstatat(oci->layout_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size != d->size)
		return cfs_error_set(oci->err, -EILSEQ,
				     "%s: layer blob %s has %lld bytes, not "
				     "the %lld bytes its descriptor says",
				     oci->layout, d->digest,
				     (long long)st.st_size, (long long)d->size);
	return 0;
}

/* Read the layer of d (diff_id in diff) into a layer tree, check both its
 * digests, keep it in the repository. */
static int read_layer(struct oci *oci, struct cfs_store *store,
		      const struct cfs_node *lower, const struct desc *d,
		      const struct desc *diff, struct cfs_import_event *ev,
		      struct cfs_node **ret_layer)
{
	struct tar_progress tp = { oci->opts, ev };
	struct cfsi_tar_result res;
	struct cfs_node *layer = NULL;
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	char actual[7 + 64 + 1], what[128], line[CFS_DIGEST_HEX_MAX_SIZE + 1];
	_cleanup_close_ int fd = -1;
	int r;

	if (!layer_type_known(d->media_type))
		return cfs_error_set(oci->err, -EOPNOTSUPP,
				     "%s: layer %s: unsupported media type %s",
				     oci->layout, d->digest, d->media_type);
	fd = open_blob(oci, d);
	if (fd < 0)
		return fd;
	snprintf(what, sizeof(what), "%s: layer %s", oci->layout, d->digest);
	r = cfsi_tar_read(fd, what, store, oci->alg, lower, on_tar_progress,
			  &tp, &layer, &res, oci->err);
	if (r < 0)
		return r;
	if (res.blob_size != (uint64_t)d->size ||
	    memcmp(res.blob_sha256, d->sha, 32) != 0) {
		r = blob_mismatch(oci, "layer", d, res.blob_size,
				  res.blob_sha256);
		goto out;
	}
	if (memcmp(res.diff_sha256, diff->sha, 32) != 0) {
		sha_to_str(res.diff_sha256, actual);
		r = cfs_error_set(oci->err, -EILSEQ,
				  "%s: layer blob %s uncompressed has digest "
				  "%s, not the diff_id %s of the config",
				  oci->layout, d->digest, actual, diff->digest);
		goto out;
	}
	if (oci->repo == NULL)
		goto out;
	/* kept: its objects, its image, then the record naming it */
	r = cfs_store_commit(store, oci->err);
	if (r < 0)
		goto out;
	r = cfsi_repo_store_image(oci->repo, layer, NULL, digest, oci->err);
	if (r < 0)
		goto out;
	cfs_digest_to_hex_alg(cfs_repo_get_hash_alg(oci->repo), digest, line);
	strcat(line, "\n");
	r = cfsi_repo_write_file(oci->repo, LAYOUT_LAYERS, diff->digest + 7,
				 line, strlen(line), oci->err);
	/* and which blob it came from, for pulls to skip */
	if (r == 0) {
		char blob_line[64 + 24];

		snprintf(blob_line, sizeof(blob_line), "%s %lld\n",
			 diff->digest + 7, (long long)d->size);
		r = cfsi_repo_write_file(oci->repo, LAYOUT_LAYER_BLOBS,
					 d->digest + 7, blob_line,
					 strlen(blob_line), oci->err);
	}
out:
	if (r < 0)
		cfs_node_unref(layer);
	else
		*ret_layer = layer;
	return r;
}

/* DIR/oci/NAME: where the image came from. */
static int write_record(struct oci *oci, const char *name,
			const uint8_t *digest, const char *source,
			const struct desc *manifest, const struct desc *config,
			json_object *config_json, json_object *diff_ids,
			const struct cfsi_seal_found *seal,
			enum cfs_hash_alg alg)
{
	json_object *rec = json_object_new_object();
	char hex[CFS_DIGEST_HEX_MAX_SIZE];
	const char *text;
	int r;

	if (rec == NULL)
		return cfs_error_set(oci->err, -ENOMEM, "out of memory");
	cfs_digest_to_hex_alg(cfs_repo_get_hash_alg(oci->repo), digest, hex);
	json_object_object_add(rec, "image", json_object_new_string(hex));
	json_object_object_add(rec, "source", json_object_new_string(source));
	json_object_object_add(rec, "manifest",
			       json_object_new_string(manifest->digest));
	json_object_object_add(rec, "config",
			       json_object_new_string(config->digest));
	json_object_object_add(rec, "layers", json_object_get(diff_ids));
	json_object_object_add(rec, "image-config",
			       json_object_get(config_json));
	if (seal != NULL && seal->sealed) {
		/* what composefs mount checks: the digest sealed (the one
		 * computed, which matched) and its signature */
		json_object *s = json_object_new_object();
		char alg_name[32];

		if (s == NULL || cfsi_seal_alg_name(alg, alg_name) < 0) {
			json_object_put(s);
			json_object_put(rec);
			return cfs_error_set(oci->err, -ENOMEM,
					     "out of memory");
		}
		json_object_object_add(s, "algorithm",
				       json_object_new_string(alg_name));
		json_object_object_add(s, "digest",
				       json_object_new_string(hex));
		if (seal->signature != NULL)
			json_object_object_add(
				s, "signature",
				json_object_new_string(seal->signature));
		json_object_object_add(rec, "seal", s);
	}
	text = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN);
	r = text == NULL ? cfs_error_set(oci->err, -ENOMEM, "out of memory") :
			   cfsi_repo_write_file(oci->repo, LAYOUT_OCI, name,
						text, strlen(text), oci->err);
	json_object_put(rec);
	return r;
}

/* What oci_tree() found: the tree, and what the repository records. */
struct oci_result {
	struct desc mdesc, cdesc;
	json_object *manifest; /* owned */
	json_object *config; /* owned */
	char *config_text; /* the config blob's bytes */
	json_object *diff_ids; /* within config */
	struct cfs_node *root;
};

static void oci_result_free(struct oci_result *res)
{
	json_object_put(res->manifest);
	free(res->config_text);
	json_object_put(res->config);
	cfs_node_unref(res->root);
	memset(res, 0, sizeof(*res));
}

/* Open the layout oci->layout and set the platform: 0 or -errno. */
static int oci_open(struct oci *oci, const char *platform)
{
	int r;

	machine_platform(oci);
	if (platform != NULL) {
		r = parse_platform(oci, platform);
		if (r < 0)
			return r;
	}
	oci->layout_fd = open(oci->layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (oci->layout_fd < 0)
		return cfs_error_set(oci->err, -errno, "%s: %s", oci->layout,
				     strerror(errno));
	return 0;
}

/* The tree of the image tagged tag (NULL: the only one) of the open
 * layout, its layers' files into store (may be NULL: digests only). With
 * a repository, layers it has are taken from it and layers read are kept
 * in it. */
static int oci_tree(struct oci *oci, const char *tag, struct cfs_store *store,
		    struct oci_result *res)
{
	const char *layout = oci->layout;
	struct cfs_error *err = oci->err;
	json_object *index = NULL, *manifest = NULL, *config = NULL;
	json_object *layers, *rootfs;
	char *text = NULL;
	size_t n_layers, len;
	struct stat st;
	int r, fd;

	memset(res, 0, sizeof(*res));
	fd = openat(oci->layout_fd, "index.json",
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return cfs_error_set(
			err, -errno,
			"%s: index.json: %s (not an OCI image layout?)", layout,
			strerror(errno));
	/* opened without blocking: a FIFO there reads as nothing, so that
	 * anything but a regular file is refused here, by name */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cfs_error_set(err, -EUCLEAN,
				     "%s: index.json: not a regular file",
				     layout);
	}
	r = read_all_fd(fd, JSON_BLOB_MAX, &text, &len);
	close(fd);
	if (r < 0)
		return cfs_error_set(err, r, "%s: index.json: %s", layout,
				     strerror(-r));
	r = parse_json(oci, text, len, "index.json", &index);
	free(text);
	if (r < 0)
		goto out;
	r = select_manifest(oci, index, tag, 0, &res->mdesc, &manifest, NULL);
	if (r < 0)
		goto out;

	if (!json_object_object_get_ex(manifest, "config", &config)) {
		r = cfs_error_set(err, -EINVAL, "%s: manifest %s: no config",
				  layout, res->mdesc.digest);
		goto out;
	}
	r = parse_desc(oci, config, "config", &res->cdesc);
	if (r < 0)
		goto out;
	if (!json_object_object_get_ex(manifest, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array)) {
		r = cfs_error_set(err, -EINVAL, "%s: manifest %s: no layers",
				  layout, res->mdesc.digest);
		goto out;
	}
	r = read_json_blob(oci, &res->cdesc, "config", &res->config,
			   &res->config_text);
	if (r < 0)
		goto out;
	n_layers = json_object_array_length(layers);
	if (!json_object_object_get_ex(res->config, "rootfs", &rootfs) ||
	    !json_object_object_get_ex(rootfs, "diff_ids", &res->diff_ids) ||
	    !json_object_is_type(res->diff_ids, json_type_array) ||
	    json_object_array_length(res->diff_ids) != n_layers) {
		r = cfs_error_set(err, -EINVAL,
				  "%s: config %s: rootfs.diff_ids does not "
				  "list one diff_id per layer (%zu)",
				  layout, res->cdesc.digest, n_layers);
		goto out;
	}

	res->root = cfsi_import_root_new();
	if (res->root == NULL) {
		r = cfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_layers; i++) {
		struct cfs_import_event ev = { .layer = (unsigned)i + 1,
					       .n_layers = (unsigned)n_layers };
		struct desc ld, dd;
		struct cfs_node *layer = NULL;
		char what[96];

		snprintf(what, sizeof(what), "layer %zu", i + 1);
		r = parse_desc(oci, json_object_array_get_idx(layers, i), what,
			       &ld);
		if (r < 0)
			goto out;
		r = cfsi_parse_sha256(
			json_object_get_string(
				json_object_array_get_idx(res->diff_ids, i)),
			dd.sha);
		if (r < 0) {
			r = cfs_error_set(err, r,
					  "%s: config %s: diff_id %zu is not "
					  "a sha256 digest",
					  layout, res->cdesc.digest, i + 1);
			goto out;
		}
		sha_to_str(dd.sha, dd.digest);
		ev.diff_id = dd.digest;
		ev.total_bytes = (uint64_t)ld.size;
		r = check_known_blob(oci, &ld, &dd);
		if (r < 0)
			goto out;
		layer = known_layer(oci, dd.digest + 7);
		if (layer != NULL) {
			ev.kind = CFS_IMPORT_LAYER_REUSED;
		} else {
			ev.kind = CFS_IMPORT_READING;
			r = read_layer(oci, store, res->root, &ld, &dd, &ev,
				       &layer);
			if (r < 0)
				goto out;
			ev.kind = CFS_IMPORT_LAYER_READ;
		}
		emit(oci->opts, &ev);
		snprintf(what, sizeof(what), "%s: layer %s", layout, ld.digest);
		r = cfsi_layer_apply(res->root, layer, what, err);
		cfs_node_unref(layer);
		if (r < 0)
			goto out;
	}
	r = cfsi_import_finish(res->root);
	if (r < 0)
		r = cfs_error_set(err, r, "%s: %s", layout, strerror(-r));
out:
	res->manifest = manifest;
	json_object_put(index);
	if (r < 0)
		oci_result_free(res);
	return r;
}

/* composefs-rs's image of it: transformed, format 1 (wopts from opts). */
static int transform(struct oci_result *res,
		     const struct cfs_import_options *opts,
		     struct cfs_write_options *wopts, struct cfs_error *err)
{
	unsigned flags = opts ? opts->flags : 0;
	int r;

	r = cfs_oci_transform(res->root,
			      flags & CFS_IMPORT_KEEP_USER_XATTRS ?
				      CFS_OCI_KEEP_USER_XATTRS :
				      0,
			      err);
	memset(wopts, 0, sizeof(*wopts));
	if (opts != NULL && opts->write != NULL)
		*wopts = *opts->write;
	if (wopts->min_version < 1)
		wopts->min_version = 1;
	if (wopts->max_version < wopts->min_version)
		wopts->max_version = wopts->min_version;
	return r;
}

/* The algorithm of the image's digest: the repository's, which is its
 * store's. */
static enum cfs_hash_alg image_alg(const struct cfs_store *store)
{
	return cfsi_store_hash_alg(store)->id;
}

struct seal_check {
	struct cfsi_seal_input in;
	struct cfsi_seal_found found;
};

static int check_seal(void *userdata, const uint8_t *digest,
		      struct cfs_error *err)
{
	struct seal_check *c = userdata;

	return cfsi_seal_check(&c->in, digest, &c->found, err);
}

int cfs_repo_import_oci(struct cfs_repo *repo, const char *layout,
			const char *tag, const char *name,
			const struct cfs_import_options *opts,
			uint8_t *ret_digest, struct cfs_error *err)
{
	struct oci oci = { .repo = repo,
			   .opts = opts,
			   .layout = layout,
			   .layout_fd = -1,
			   .err = err };
	struct oci_result res = { 0 };
	struct cfs_store *store = NULL;
	_cleanup_free_ char *source = NULL;
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	unsigned flags = opts ? opts->flags : 0;
	const struct cfs_write_options *write = opts ? opts->write : NULL;
	struct cfs_write_options wopts = { 0 };
	struct seal_check check = { 0 };
	int r;

	r = cfs_repo_check_name(name, err);
	if (r < 0)
		return r;
	if ((flags & CFS_IMPORT_AS_UNPACKED) &&
	    ((flags & CFS_IMPORT_REQUIRE_SEALED) ||
	     (opts != NULL && opts->n_trusted_certs > 0)))
		return cfs_error_set(err, -EINVAL,
				     "a seal is of the transformed image, not "
				     "of the one --as-unpacked gives: it "
				     "cannot be required or checked there");
	if (asprintf(&source, "oci:%s%s%s", layout, tag ? ":" : "",
		     tag ? tag : "") < 0) {
		source = NULL;
		return cfs_error_set(err, -ENOMEM, "out of memory");
	}
	r = oci_open(&oci, opts ? opts->platform : NULL);
	if (r == 0)
		r = cfs_repo_open_store(repo, &store, err);
	if (r == 0)
		r = oci_tree(&oci, tag, store, &res);
	if (r == 0 && !(flags & CFS_IMPORT_AS_UNPACKED)) {
		r = transform(&res, opts, &wopts, err);
		/* the repository's algorithm, for the seal too */
		if (wopts.hash_alg == CFS_HASH_DEFAULT)
			wopts.hash_alg = cfs_repo_get_hash_alg(repo);
		write = &wopts;
		/* the seal, if any, is checked before the image is named */
		check.in = (struct cfsi_seal_input){
			.layout = layout,
			.manifest_digest = res.mdesc.digest,
			.manifest = res.manifest,
			.config = res.config,
			.config_text = res.config_text,
			.config_len = (size_t)res.cdesc.size,
			.alg = image_alg(store),
			.require_sealed = flags & CFS_IMPORT_REQUIRE_SEALED,
			.certs = opts ? opts->trusted_certs : NULL,
			.n_certs = opts ? opts->n_trusted_certs : 0,
		};
	}
	if (r == 0)
		r = cfsi_repo_add_image_checked(
			repo, res.root, write, store, name,
			flags & CFS_REPO_REPLACE,
			flags & CFS_IMPORT_AS_UNPACKED ? NULL : check_seal,
			&check, digest, err);
	if (r == 0)
		r = write_record(&oci, name, digest, source, &res.mdesc,
				 &res.cdesc, res.config, res.diff_ids,
				 &check.found, check.in.alg);
	cfsi_seal_found_free(&check.found);
	if (r == 0 && ret_digest != NULL)
		memcpy(ret_digest, digest,
		       cfs_hash_alg_digest_size(cfs_repo_get_hash_alg(repo)));
	oci_result_free(&res);
	cfs_store_free(store);
	if (oci.layout_fd >= 0)
		close(oci.layout_fd);
	return r;
}

int cfs_build_from_oci(const char *layout, const char *tag,
		       const char *platform, struct cfs_store *store,
		       struct cfs_node **ret_root, struct cfs_error *err)
{
	return cfs_build_from_oci_alg(layout, tag, platform, store,
				      CFS_HASH_DEFAULT, ret_root, err);
}

int cfs_build_from_oci_alg(const char *layout, const char *tag,
			   const char *platform, struct cfs_store *store,
			   enum cfs_hash_alg alg, struct cfs_node **ret_root,
			   struct cfs_error *err)
{
	struct oci oci = {
		.layout = layout, .layout_fd = -1, .err = err, .alg = alg
	};
	struct oci_result res = { 0 };
	int r;

	if (alg != CFS_HASH_DEFAULT && cfs_hash_alg_digest_size(alg) == 0)
		return cfs_error_set(err, -EOPNOTSUPP,
				     "fs-verity hash algorithm %u is not "
				     "implemented",
				     alg);
	if (store != NULL && alg != CFS_HASH_DEFAULT &&
	    cfsi_store_hash_alg(store)->id != alg)
		return cfs_error_set(err, -EINVAL,
				     "digests of %s asked for, the object "
				     "store names objects by %s",
				     cfs_hash_alg_name(alg),
				     cfsi_store_hash_alg(store)->name);
	r = oci_open(&oci, platform);

	if (r == 0)
		r = oci_tree(&oci, tag, store, &res);
	if (r == 0) {
		*ret_root = res.root;
		res.root = NULL;
	}
	oci_result_free(&res);
	if (oci.layout_fd >= 0)
		close(oci.layout_fd);
	return r;
}

int cfsi_oci_compute(struct cfs_repo *repo, const char *layout, const char *tag,
		     const struct cfs_import_options *opts,
		     struct cfsi_oci_computed *ret, struct cfs_error *err)
{
	struct oci oci = { .repo = repo,
			   .opts = opts,
			   .layout = layout,
			   .layout_fd = -1,
			   .err = err };
	struct oci_result res = { 0 };
	struct cfs_store *store = NULL;
	struct cfs_write_options wopts;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = oci_open(&oci, opts ? opts->platform : NULL);
	if (r == 0)
		r = cfs_repo_open_store(repo, &store, err);
	if (r == 0)
		r = oci_tree(&oci, tag, store, &res);
	if (r == 0)
		r = transform(&res, opts, &wopts, err);
	if (r == 0)
		wopts.hash_alg = image_alg(store);
	/* its objects kept, as an import's: importing the sealed copy next
	 * writes nothing again */
	if (r == 0)
		r = cfs_store_commit(store, err);
	if (r == 0)
		r = cfs_write_image(res.root, &wopts, -1, ret->digest, err);
	if (r == 0) {
		ret->alg = image_alg(store);
		ret->manifest = TAKE_PTR(res.manifest);
		ret->config = TAKE_PTR(res.config);
		ret->config_text = TAKE_PTR(res.config_text);
		ret->config_len = (size_t)res.cdesc.size;
		snprintf(ret->manifest_digest, sizeof(ret->manifest_digest),
			 "%s", res.mdesc.digest);
	}
	oci_result_free(&res);
	cfs_store_free(store);
	if (oci.layout_fd >= 0)
		close(oci.layout_fd);
	return r;
}

void cfsi_oci_computed_free(struct cfsi_oci_computed *c)
{
	json_object_put(c->manifest);
	json_object_put(c->config);
	free(c->config_text);
	memset(c, 0, sizeof(*c));
}
