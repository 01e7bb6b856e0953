/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Seals of OCI images (lib/oci/seal.c): the check an import runs on a
 * manifest and config, and base64. Writing sealed copies and signatures
 * end to end are tests/seal.sh's. */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "composefs-c/repo.h"
#include "oci/seal_i.h"
#include "test-util.h"

#define MERGED256 CFSI_SEAL_MERGED "fsverity-sha256-12"
#define MERGED512 CFSI_SEAL_MERGED "fsverity-sha512-12"
#define CONFIG256 CFSI_SEAL_CONFIG "fsverity-sha256-12"

static const char config_text[] = "{\"rootfs\":{\"diff_ids\":[]}}";

struct fixture {
	json_object *manifest, *config;
	uint8_t digest[64];
	char hex[129];
	struct cfsi_seal_input in;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->manifest = json_tokener_parse(
		"{\"config\":{\"digest\":\"sha256:00\"},\"layers\":[]}");
	f->config = json_tokener_parse(config_text);
	assert_non_null(f->manifest);
	assert_non_null(f->config);
	for (int i = 0; i < 64; i++)
		f->digest[i] = (uint8_t)(0xa0 + i);
	/* SHA-256's: the first 32 bytes */
	for (int i = 0; i < 32; i++)
		snprintf(f->hex + 2 * i, 3, "%02x", f->digest[i]);
	f->in.layout = "layout";
	f->in.manifest_digest = "sha256:1234";
	f->in.manifest = f->manifest;
	f->in.config = f->config;
	f->in.config_text = config_text;
	f->in.config_len = strlen(config_text);
	f->in.alg = CFS_HASH_SHA256;
}

static void fixture_free(struct fixture *f)
{
	json_object_put(f->manifest);
	json_object_put(f->config);
}

static json_object *annotations(json_object *o)
{
	json_object *a;

	if (!json_object_object_get_ex(o, "annotations", &a)) {
		a = json_object_new_object();
		json_object_object_add(o, "annotations", a);
	}
	return a;
}

static void annotate(json_object *o, const char *key, const char *value)
{
	json_object_object_add(annotations(o), key,
			       json_object_new_string(value));
}

static void set_label(json_object *config, const char *value)
{
	json_object *c = json_object_new_object(),
		    *l = json_object_new_object();

	json_object_object_add(l, CFSI_SEAL_LABEL,
			       json_object_new_string(value));
	json_object_object_add(c, "Labels", l);
	json_object_object_add(config, "config", c);
}

static int check(struct fixture *f, bool *ret_sealed, char *msg, size_t size)
{
	struct cfsi_seal_found found;
	struct cfs_error err = { "" };
	int r = cfsi_seal_check(&f->in, f->digest, &found, &err);

	if (ret_sealed != NULL)
		*ret_sealed = found.sealed;
	if (msg != NULL)
		snprintf(msg, size, "%s", err.message);
	cfsi_seal_found_free(&found);
	return r;
}

static void test_unsealed(void **state)
{
	struct fixture f;
	bool sealed = true;
	char msg[1024];

	(void)state;
	fixture_init(&f);
	assert_int_equal(check(&f, &sealed, NULL, 0), 0);
	assert_false(sealed);
	f.in.require_sealed = true;
	assert_int_equal(check(&f, NULL, msg, sizeof(msg)), -ENOKEY);
	assert_non_null(strstr(msg, "not sealed"));
	fixture_free(&f);
}

static void test_annotation(void **state)
{
	struct fixture f;
	bool sealed = false;
	char msg[1024];

	(void)state;
	fixture_init(&f);
	annotate(f.manifest, MERGED256, f.hex);
	assert_int_equal(check(&f, &sealed, NULL, 0), 0);
	assert_true(sealed);
	/* the image computed is another one */
	f.digest[5] ^= 1;
	assert_int_equal(check(&f, NULL, msg, sizeof(msg)), -EILSEQ);
	assert_non_null(strstr(msg, "sealed as"));
	assert_non_null(strstr(msg, MERGED256));
	f.digest[5] ^= 1;
	/* upper case, short, not hex: malformed */
	annotate(f.manifest, MERGED256, "ABCD");
	assert_int_equal(check(&f, NULL, NULL, 0), -EINVAL);
	fixture_free(&f);
}

static void test_label(void **state)
{
	struct fixture f;
	bool sealed = false;

	(void)state;
	fixture_init(&f);
	set_label(f.config, f.hex);
	assert_int_equal(check(&f, &sealed, NULL, 0), 0);
	assert_true(sealed);
	f.digest[0] ^= 0xff;
	assert_int_equal(check(&f, NULL, NULL, 0), -EILSEQ);
	fixture_free(&f);
}

static void test_other_algorithm(void **state)
{
	struct fixture f;
	char msg[1024], hex512[129];

	(void)state;
	fixture_init(&f);
	memset(hex512, 'a', 128);
	hex512[128] = '\0';
	/* a seal this repository's algorithm cannot check is refused */
	annotate(f.manifest, MERGED512, hex512);
	assert_int_equal(check(&f, NULL, msg, sizeof(msg)), -EILSEQ);
	assert_non_null(strstr(msg, "cannot check"));
	/* a label of the other size is no digest of ours either */
	json_object_object_del(annotations(f.manifest), MERGED512);
	set_label(f.config, hex512);
	assert_int_equal(check(&f, NULL, NULL, 0), -EILSEQ);
	/* with ours beside it, ours is checked */
	annotate(f.manifest, MERGED256, f.hex);
	assert_int_equal(check(&f, NULL, NULL, 0), 0);
	fixture_free(&f);
}

static void test_config_digest(void **state)
{
	struct fixture f;
	json_object *cdesc;
	uint8_t d[32];
	char hex[65], msg[1024];

	(void)state;
	fixture_init(&f);
	annotate(f.manifest, MERGED256, f.hex);
	assert_int_equal(cfs_fsverity_digest_buffer(config_text,
						    strlen(config_text), d),
			 0);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	assert_true(json_object_object_get_ex(f.manifest, "config", &cdesc));
	annotate(cdesc, CONFIG256, hex);
	assert_int_equal(check(&f, NULL, NULL, 0), 0);
	hex[0] = hex[0] == '0' ? '1' : '0';
	annotate(cdesc, CONFIG256, hex);
	assert_int_equal(check(&f, NULL, msg, sizeof(msg)), -EILSEQ);
	assert_non_null(strstr(msg, "config"));
	fixture_free(&f);
}

static void test_signature_required(void **state)
{
	static const char *const certs[] = { "/nonexistent.pem" };
	struct cfsi_seal_found found;
	struct fixture f;
	char msg[1024];

	(void)state;
	fixture_init(&f);
	f.in.certs = certs;
	f.in.n_certs = 1;
	/* unsealed, with certificates: refused */
	assert_int_equal(check(&f, NULL, NULL, 0), -ENOKEY);
	/* sealed without a signature */
	annotate(f.manifest, MERGED256, f.hex);
	assert_int_equal(check(&f, NULL, msg, sizeof(msg)), -EKEYREJECTED);
	assert_non_null(strstr(msg, "no signature"));
	/* a signature that is not base64 */
	annotate(f.manifest, MERGED256 CFSI_SEAL_SIG, "not base64!");
	assert_int_equal(check(&f, NULL, NULL, 0), -EINVAL);
	/* base64 that is no PKCS#7 signature */
	annotate(f.manifest, MERGED256 CFSI_SEAL_SIG, "AAAA");
	assert_int_equal(check(&f, NULL, msg, sizeof(msg)), -EKEYREJECTED);
	/* the same without an error to fill in */
	assert_int_equal(cfsi_seal_check(&f.in, f.digest, &found, NULL),
			 -EKEYREJECTED);
	cfsi_seal_found_free(&found);
	fixture_free(&f);
}

static void test_sha512(void **state)
{
	struct fixture f;
	json_object *cdesc;
	uint8_t d[64];
	char hex[129], config_hex[129], msg[1024];

	(void)state;
	fixture_init(&f);
	f.in.alg = CFS_HASH_SHA512;
	for (int i = 0; i < 64; i++)
		snprintf(hex + 2 * i, 3, "%02x", f.digest[i]);
	/* a SHA-256 seal cannot be checked by a SHA-512 repository */
	annotate(f.manifest, MERGED256, f.hex);
	assert_int_equal(check(&f, NULL, msg, sizeof(msg)), -EILSEQ);
	assert_non_null(strstr(msg, "fsverity-sha512-12"));
	/* its own is; a SHA-256 label beside it is another algorithm's */
	annotate(f.manifest, MERGED512, hex);
	set_label(f.config, f.hex);
	assert_int_equal(check(&f, NULL, NULL, 0), 0);
	set_label(f.config, hex);
	assert_int_equal(check(&f, NULL, NULL, 0), 0);
	hex[127] = 'e'; /* the last byte is 0xdf */
	set_label(f.config, hex);
	assert_int_equal(check(&f, NULL, NULL, 0), -EILSEQ);
	hex[127] = 'f';
	set_label(f.config, "");
	/* the config's SHA-512 digest */
	assert_int_equal(cfs_fsverity_digest_buffer_alg(CFS_HASH_SHA512,
							config_text,
							strlen(config_text), d),
			 0);
	for (int i = 0; i < 64; i++)
		snprintf(config_hex + 2 * i, 3, "%02x", d[i]);
	assert_true(json_object_object_get_ex(f.manifest, "config", &cdesc));
	annotate(cdesc, CFSI_SEAL_CONFIG "fsverity-sha512-12", config_hex);
	json_object_object_del(annotations(f.manifest), MERGED256);
	annotate(f.manifest, MERGED512, hex);
	assert_int_equal(check(&f, NULL, NULL, 0), 0);
	/* a SHA-256-sized digest under the SHA-512 key is malformed */
	annotate(f.manifest, MERGED512, f.hex);
	assert_int_equal(check(&f, NULL, NULL, 0), -EINVAL);
	fixture_free(&f);
}

static void test_base64(void **state)
{
	uint8_t data[300], *back = NULL;
	size_t len;
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = 0; n <= 10; n++) {
		text = cfsi_base64_encode(data, n + 290);
		assert_non_null(text);
		assert_int_equal(strlen(text) % 4, 0);
		assert_int_equal(cfsi_base64_decode(text, &back, &len), 0);
		assert_int_equal(len, n + 290);
		assert_memory_equal(back, data, len);
		free(back);
		free(text);
	}
	assert_int_equal(cfsi_base64_decode("", &back, &len), -EINVAL);
	assert_int_equal(cfsi_base64_decode("abc", &back, &len), -EINVAL);
	assert_int_equal(cfsi_base64_decode("ab=c", &back, &len), -EINVAL);
	assert_int_equal(cfsi_base64_decode("a\nbc", &back, &len), -EINVAL);
	assert_int_equal(cfsi_base64_decode("QQ==", &back, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(back[0], 'A');
	free(back);
}

static void test_alg_name(void **state)
{
	char name[32];

	(void)state;
	assert_int_equal(cfsi_seal_alg_name(CFS_HASH_SHA256, name), 0);
	assert_string_equal(name, "fsverity-sha256-12");
	assert_int_equal(cfsi_seal_alg_name(CFS_HASH_SHA512, name), 0);
	assert_string_equal(name, "fsverity-sha512-12");
	assert_int_equal(cfsi_seal_alg_name((enum cfs_hash_alg)77, name),
			 -EOPNOTSUPP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unsealed),
		cmocka_unit_test(test_annotation),
		cmocka_unit_test(test_label),
		cmocka_unit_test(test_other_algorithm),
		cmocka_unit_test(test_config_digest),
		cmocka_unit_test(test_signature_required),
		cmocka_unit_test(test_sha512),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_alg_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
