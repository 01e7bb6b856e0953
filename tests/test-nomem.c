/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * When SHA-256 fails (OpenSSL out of memory), the library reports -ENOMEM
 * and never aborts: the digest functions, a file's digest, an image's
 * digest, a block check. This program defines EVP_DigestInit_ex2 itself,
 * which the library's calls then reach first: it fails while `failing` is
 * set and is OpenSSL's otherwise.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "composefs-c/composefs.h"
#include "format/fsverity_i.h"
#include "test-util.h"

static bool failing;

int EVP_DigestInit_ex2(EVP_MD_CTX *ctx, const EVP_MD *type,
		       const OSSL_PARAM params[]);

int EVP_DigestInit_ex2(EVP_MD_CTX *ctx, const EVP_MD *type,
		       const OSSL_PARAM params[])
{
	static int (*real)(EVP_MD_CTX *, const EVP_MD *, const OSSL_PARAM *);

	if (failing)
		return 0;
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "EVP_DigestInit_ex2");
	assert_non_null(real);
	return real(ctx, type, params);
}

static void test_digests_fail_cleanly(void **state)
{
	uint8_t data[3 * 4096 + 5], digest[CFS_DIGEST_SIZE],
		again[CFS_DIGEST_SIZE];
	struct cfs_fsverity *ctx;
	int fd;

	tu_fill(data, sizeof(data), 1);
	/* working first: the interposer passes calls through */
	assert_int_equal(cfs_fsverity_digest_buffer(data, sizeof(data), digest),
			 0);

	failing = true;
	assert_int_equal(cfs_fsverity_digest_buffer(data, sizeof(data), again),
			 -ENOMEM);
	ctx = cfs_fsverity_new();
	assert_non_null(ctx);
	/* the first full block fails; the context keeps the error */
	assert_int_equal(cfs_fsverity_update(ctx, data, sizeof(data)), -ENOMEM);
	assert_int_equal(cfs_fsverity_update(ctx, data, 10), -ENOMEM);
	assert_int_equal(cfs_fsverity_final(ctx, again), -ENOMEM);
	cfs_fsverity_free(ctx);
	assert_int_equal(cfsi_fsverity_hash_block(CFS_HASH_SHA256, data, 4096,
						  again),
			 -ENOMEM);

	fd = memfd_create("test-nomem", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	assert_int_equal(cfs_fsverity_digest_fd(fd, again), -ENOMEM);
	failing = false;
	assert_int_equal(cfs_fsverity_digest_fd(fd, again), 0);
	assert_memory_equal(again, digest, CFS_DIGEST_SIZE);
	close(fd);
}

static void test_image_digest_fails_cleanly(void **state)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_write_options opts = { 0, 1 };
	struct cfs_error err = { { 0 } };
	uint8_t digest[CFS_DIGEST_SIZE];

	tu_add(root, "f", S_IFREG | 0644);
	failing = true;
	assert_int_equal(cfs_write_image(root, &opts, -1, digest, &err),
			 -ENOMEM);
	failing = false;
	assert_int_equal(cfs_write_image(root, &opts, -1, digest, &err), 0);
	cfs_node_unref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digests_fail_cleanly),
		cmocka_unit_test(test_image_digest_fails_cleanly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
