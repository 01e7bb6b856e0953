/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * fs-verity signatures: a PKCS#7 SignedData (DER) whose signed content is
 * fs-verity's "formatted digest" of a file, the 12-byte header "FSVerity",
 * the algorithm number and the digest size (both little-endian 16-bit),
 * then the digest. That is what `fsverity sign` writes, what the kernel
 * checks for FS_IOC_ENABLE_VERITY's builtin signatures, and what
 * composefs-rs puts, base64-encoded, in the annotations of a sealed OCI
 * image. The content is detached, and no certificate travels with the
 * signature: whoever checks names the certificates they trust.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "composefs-c/composefs.h"
#include "base/util.h"

#define FORMATTED_MAGIC "FSVerity"
#define FORMATTED_HEADER 12

/* fs-verity's algorithms by their numbers (known here whether or not the
 * rest of the library implements them: a signature names its algorithm). */
static size_t alg_size(enum cfs_hash_alg alg, const EVP_MD **md)
{
	switch (alg) {
	case CFS_HASH_DEFAULT:
	case CFS_HASH_SHA256:
		*md = EVP_sha256();
		return 32;
	case CFS_HASH_SHA512:
		*md = EVP_sha512();
		return 64;
	}
	return 0;
}

int cfs_verity_formatted_digest(enum cfs_hash_alg alg, const uint8_t *digest,
				uint8_t ret_out[CFS_VERITY_FORMATTED_MAX])
{
	const EVP_MD *md;
	size_t size = alg_size(alg, &md);
	uint16_t le;

	if (size == 0)
		return -EOPNOTSUPP;
	if (alg == CFS_HASH_DEFAULT)
		alg = CFS_HASH_SHA256;
	memcpy(ret_out, FORMATTED_MAGIC, 8);
	le = htole16((uint16_t)alg);
	memcpy(ret_out + 8, &le, 2);
	le = htole16((uint16_t)size);
	memcpy(ret_out + 10, &le, 2);
	memcpy(ret_out + FORMATTED_HEADER, digest, size);
	return (int)(FORMATTED_HEADER + size);
}

/* OpenSSL's first queued error as text, for a message; the queue is
 * emptied. */
static const char *ssl_reason(char *buf, size_t size)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, size, "unknown OpenSSL error");
	else
		ERR_error_string_n(e, buf, size);
	ERR_clear_error();
	return buf;
}

static int read_cert(const char *path, X509 **ret, struct cfs_error *err)
{
	char why[256];
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return cfs_error_set(err, -errno, "certificate %s: %s", path,
				     strerror(errno));
	*ret = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (*ret == NULL)
		return cfs_error_set(err, -EINVAL,
				     "certificate %s: not a PEM certificate "
				     "(%s)",
				     path, ssl_reason(why, sizeof(why)));
	return 0;
}

static int read_key(const char *path, EVP_PKEY **ret, struct cfs_error *err)
{
	char why[256];
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return cfs_error_set(err, -errno, "private key %s: %s", path,
				     strerror(errno));
	*ret = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (*ret == NULL)
		return cfs_error_set(err, -EINVAL,
				     "private key %s: not a PEM private key "
				     "(%s)",
				     path, ssl_reason(why, sizeof(why)));
	return 0;
}

int cfs_verity_sign(enum cfs_hash_alg alg, const uint8_t *digest,
		    const char *key_path, const char *cert_path,
		    uint8_t **ret_sig, size_t *ret_len, struct cfs_error *err)
{
	/* the signature's form: detached content, taken as bytes, no signed
	 * attributes, no certificates inside */
	const int flags = PKCS7_BINARY | PKCS7_DETACHED | PKCS7_NOATTR |
			  PKCS7_NOCERTS | PKCS7_PARTIAL;
	uint8_t formatted[CFS_VERITY_FORMATTED_MAX];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	PKCS7 *p7 = NULL;
	BIO *content = NULL;
	const EVP_MD *md = NULL;
	unsigned char *der = NULL;
	char why[256];
	int len, r;

	len = cfs_verity_formatted_digest(alg, digest, formatted);
	if (len < 0)
		return cfs_error_set(err, len,
				     "fs-verity hash algorithm %u is unknown",
				     (unsigned)alg);
	alg_size(alg, &md);
	r = read_cert(cert_path, &cert, err);
	if (r < 0)
		return r;
	r = read_key(key_path, &key, err);
	if (r < 0)
		goto out;
	if (X509_check_private_key(cert, key) != 1) {
		r = cfs_error_set(err, -EINVAL,
				  "private key %s does not belong to the "
				  "certificate %s",
				  key_path, cert_path);
		goto out;
	}
	content = BIO_new_mem_buf(formatted, len);
	p7 = content ? PKCS7_sign(NULL, NULL, NULL, NULL, flags) : NULL;
	if (p7 == NULL ||
	    PKCS7_sign_add_signer(p7, cert, key, md, flags) == NULL ||
	    PKCS7_final(p7, content, flags) != 1) {
		r = cfs_error_set(err, -EINVAL, "signing with %s: %s", key_path,
				  ssl_reason(why, sizeof(why)));
		goto out;
	}
	len = i2d_PKCS7(p7, &der);
	if (len <= 0) {
		r = cfs_error_set(err, -ENOMEM, "encoding the signature: %s",
				  ssl_reason(why, sizeof(why)));
		goto out;
	}
	*ret_sig = malloc((size_t)len);
	if (*ret_sig == NULL) {
		r = cfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(*ret_sig, der, (size_t)len);
	*ret_len = (size_t)len;
	r = 0;
out:
	OPENSSL_free(der);
	BIO_free(content);
	PKCS7_free(p7);
	EVP_PKEY_free(key);
	X509_free(cert);
	return r;
}

int cfs_verity_verify(enum cfs_hash_alg alg, const uint8_t *digest,
		      const uint8_t *sig, size_t sig_len,
		      const char *const *cert_paths, size_t n_certs,
		      struct cfs_error *err)
{
	uint8_t formatted[CFS_VERITY_FORMATTED_MAX];
	STACK_OF(X509) *certs = NULL;
	X509_STORE *store = NULL;
	const unsigned char *p = sig;
	PKCS7 *p7 = NULL;
	BIO *content = NULL;
	char why[256];
	int len, r;

	len = cfs_verity_formatted_digest(alg, digest, formatted);
	if (len < 0)
		return cfs_error_set(err, len,
				     "fs-verity hash algorithm %u is unknown",
				     (unsigned)alg);
	if (n_certs == 0)
		return cfs_error_set(err, -EINVAL,
				     "no trusted certificate given");
	if (sig_len > (size_t)INT32_MAX ||
	    (p7 = d2i_PKCS7(NULL, &p, (long)sig_len)) == NULL ||
	    p != sig + sig_len || !PKCS7_type_is_signed(p7)) {
		r = cfs_error_set(err, -EBADMSG,
				  "the signature is not a PKCS#7 signature "
				  "(DER)");
		ERR_clear_error();
		goto out;
	}
	certs = sk_X509_new_null();
	store = X509_STORE_new();
	if (certs == NULL || store == NULL) {
		r = cfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/*
	 * The certificates named are trusted as they are, each one alone, as
	 * the kernel trusts the keys of its fs-verity keyring: one of them
	 * signed, or the signature is refused. Validity periods are not
	 * checked either (the kernel does not; an image signed once stays
	 * signed).
	 */
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN |
					    X509_V_FLAG_NO_CHECK_TIME);
	for (size_t i = 0; i < n_certs; i++) {
		X509 *cert = NULL;

		r = read_cert(cert_paths[i], &cert, err);
		if (r < 0)
			goto out;
		if (X509_STORE_add_cert(store, cert) != 1 ||
		    sk_X509_push(certs, cert) == 0) {
			X509_free(cert);
			r = cfs_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	content = BIO_new_mem_buf(formatted, len);
	if (content == NULL) {
		r = cfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* PKCS7_NOINTERN: the signer is looked for among the trusted
	 * certificates only, never among any the signature carries */
	if (PKCS7_verify(p7, certs, store, content, NULL,
			 PKCS7_BINARY | PKCS7_NOINTERN) != 1) {
		r = cfs_error_set(err, -EKEYREJECTED,
				  "the signature does not verify against the "
				  "digest with the trusted certificate%s (%s)",
				  n_certs > 1 ? "s" : "",
				  ssl_reason(why, sizeof(why)));
		goto out;
	}
	r = 0;
out:
	BIO_free(content);
	X509_STORE_free(store);
	sk_X509_pop_free(certs, X509_free);
	PKCS7_free(p7);
	return r;
}
