/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Unit tests of the node tree. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "composefs-c/composefs.h"

static struct cfs_node *new_node(uint32_t mode)
{
	struct cfs_node *n = cfs_node_new();

	assert_non_null(n);
	assert_int_equal(cfs_node_set_mode(n, mode), 0);
	return n;
}

static void test_children_sorted(void **state)
{
	struct cfs_node *root = new_node(S_IFDIR | 0755);
	const char *names[] = { "m", "a", "z", "b", "-", ".x", "aa" };
	const char *sorted[] = { "-", ".x", "a", "aa", "b", "m", "z" };

	for (size_t i = 0; i < 7; i++)
		assert_int_equal(cfs_node_add_child(root,
						    new_node(S_IFREG | 0644),
						    names[i]),
				 0);
	assert_int_equal(cfs_node_get_n_children(root), 7);
	for (size_t i = 0; i < 7; i++) {
		struct cfs_node *c = cfs_node_get_child(root, i);

		assert_string_equal(cfs_node_get_name(c), sorted[i]);
		assert_ptr_equal(cfs_node_get_parent(c), root);
		assert_ptr_equal(cfs_node_lookup_child(root, sorted[i]), c);
	}
	assert_null(cfs_node_lookup_child(root, "nope"));
	assert_null(cfs_node_get_child(root, 7));
	cfs_node_unref(root);
}

static void test_add_child_errors(void **state)
{
	struct cfs_node *root = new_node(S_IFDIR | 0755);
	struct cfs_node *file = new_node(S_IFREG | 0644);
	struct cfs_node *x = new_node(S_IFREG | 0644);
	char long_name[300];

	memset(long_name, 'n', sizeof(long_name));
	long_name[256] = '\0';
	assert_int_equal(cfs_node_add_child(root, x, ""), -EINVAL);
	assert_int_equal(cfs_node_add_child(root, x, "a/b"), -EINVAL);
	assert_int_equal(cfs_node_add_child(root, x, long_name), -ENAMETOOLONG);
	long_name[255] = '\0';
	assert_int_equal(cfs_node_add_child(root, file, long_name), 0);
	assert_int_equal(cfs_node_add_child(root, x, long_name), -EEXIST);
	assert_int_equal(cfs_node_add_child(file, x, "y"), -ENOTDIR);
	assert_int_equal(cfs_node_add_child(root, x, "x"), 0);
	assert_int_equal(cfs_node_add_child(root, x, "again"), -EMLINK);
	cfs_node_unref(root);
}

static void test_modes(void **state)
{
	struct cfs_node *n = cfs_node_new();
	uint32_t good[] = { S_IFREG, S_IFDIR,  S_IFLNK, S_IFBLK,
			    S_IFCHR, S_IFSOCK, S_IFIFO };

	for (size_t i = 0; i < 7; i++)
		assert_int_equal(cfs_node_set_mode(n, good[i] | 04755), 0);
	assert_int_equal(cfs_node_set_mode(n, 0644), -EINVAL);
	assert_int_equal(cfs_node_set_mode(n, 0170000), -EINVAL);
	assert_int_equal(cfs_node_get_mode(n), S_IFIFO | 04755);
	cfs_node_unref(n);
}

static void test_xattrs(void **state)
{
	struct cfs_node *n = new_node(S_IFREG | 0644);
	char name[300], big[40000];
	size_t len;

	assert_int_equal(cfs_node_set_xattr(n, "user.a", "1", 1), 0);
	assert_int_equal(cfs_node_set_xattr(n, "user.b", "", 0), 0);
	assert_int_equal(cfs_node_set_xattr(n, "user.a", "22", 2), 0);
	assert_int_equal(cfs_node_get_n_xattrs(n), 2);
	assert_memory_equal(cfs_node_get_xattr(n, "user.a", &len), "22", 2);
	assert_int_equal(len, 2);
	assert_non_null(cfs_node_get_xattr(n, "user.b", &len));
	assert_int_equal(len, 0);
	assert_int_equal(cfs_node_unset_xattr(n, "user.b"), 0);
	assert_int_equal(cfs_node_unset_xattr(n, "user.b"), -ENODATA);
	assert_null(cfs_node_get_xattr(n, "user.b", NULL));

	assert_int_equal(cfs_node_set_xattr(n, "", "x", 1), -ERANGE);
	memset(name, 'k', sizeof(name));
	memcpy(name, "user.", 5);
	name[256] = '\0';
	assert_int_equal(cfs_node_set_xattr(n, name, "x", 1), -ERANGE);
	name[255] = '\0';
	assert_int_equal(cfs_node_set_xattr(n, name, "x", 1), 0);

	memset(big, 'v', sizeof(big));
	assert_int_equal(cfs_node_set_xattr(n, "user.big", big, 70000),
			 -EINVAL);
	/* the budget for outside input is half of what EROFS holds */
	assert_int_equal(cfs_node_set_xattr(n, "user.big", big, 33000),
			 -ERANGE);
	assert_int_equal(cfs_node_set_xattr(n, "user.big", big, 30000), 0);
	assert_int_equal(cfs_node_set_xattr(n, "user.big2", big, 3000),
			 -ERANGE);
	/* replacing frees the budget the old value took */
	assert_int_equal(cfs_node_set_xattr(n, "user.big", big, 10), 0);
	assert_int_equal(cfs_node_set_xattr(n, "user.big2", big, 3000), 0);
	cfs_node_unref(n);
}

static void test_content_and_payload(void **state)
{
	struct cfs_node *n = new_node(S_IFREG | 0644);
	uint8_t data[6000] = { 1, 2, 3 };
	char target[5000];
	uint8_t digest[CFS_DIGEST_SIZE] = { 0xab };

	assert_int_equal(cfs_node_set_content(n, data, 3), 0);
	assert_int_equal(cfs_node_get_size(n), 3);
	assert_memory_equal(cfs_node_get_content(n), data, 3);
	cfs_node_set_size(n, 3);
	assert_non_null(cfs_node_get_content(n));
	cfs_node_set_size(n, 4);
	assert_null(cfs_node_get_content(n));
	assert_int_equal(cfs_node_set_content(n, data, 6000), -EFBIG);
	assert_int_equal(cfs_node_set_content(n, data, 5000), 0);

	memset(target, 't', sizeof(target));
	target[4096] = '\0';
	assert_int_equal(cfs_node_set_payload(n, target), -ENAMETOOLONG);
	target[4095] = '\0';
	assert_int_equal(cfs_node_set_payload(n, target), 0);
	assert_int_equal(strlen(cfs_node_get_payload(n)), 4095);
	assert_int_equal(cfs_node_set_payload(n, NULL), 0);
	assert_null(cfs_node_get_payload(n));

	assert_null(cfs_node_get_digest(n));
	cfs_node_set_digest(n, digest);
	assert_memory_equal(cfs_node_get_digest(n), digest, CFS_DIGEST_SIZE);
	cfs_node_clear_digest(n);
	assert_null(cfs_node_get_digest(n));
	cfs_node_unref(n);

	n = new_node(S_IFLNK | 0777);
	assert_int_equal(cfs_node_set_symlink_target(n, ""), -EINVAL);
	assert_int_equal(cfs_node_set_symlink_target(n, "abc"), 0);
	assert_int_equal(cfs_node_get_size(n), 3);
	cfs_node_unref(n);
}

static void test_hardlinks(void **state)
{
	struct cfs_node *root = new_node(S_IFDIR | 0755);
	struct cfs_node *a = new_node(S_IFREG | 0644);
	struct cfs_node *b = new_node(S_IFREG | 0644);
	struct cfs_node *c = new_node(S_IFREG | 0644);
	struct cfs_node *d = new_node(S_IFDIR | 0755);

	assert_int_equal(cfs_node_add_child(root, a, "a"), 0);
	assert_int_equal(cfs_node_add_child(root, b, "b"), 0);
	assert_int_equal(cfs_node_add_child(root, c, "c"), 0);
	assert_int_equal(cfs_node_add_child(root, d, "d"), 0);
	assert_int_equal(cfs_node_make_hardlink(a, a), -EINVAL);
	assert_int_equal(cfs_node_make_hardlink(b, d), -EINVAL);
	assert_int_equal(cfs_node_make_hardlink(b, a), 0);
	assert_int_equal(cfs_node_get_nlink(a), 2);
	assert_ptr_equal(cfs_node_get_hardlink_target(b), a);
	assert_int_equal(cfs_node_make_hardlink(c, b), 0);
	/* a cycle is refused */
	assert_int_equal(cfs_node_make_hardlink(a, c), -ELOOP);
	/* the link keeps its target alive beyond the tree */
	cfs_node_ref(b);
	cfs_node_unref(root);
	assert_int_equal(cfs_node_get_mode(cfs_node_get_hardlink_target(b)),
			 S_IFREG | 0644);
	cfs_node_unref(b);
}

static void test_refcount(void **state)
{
	struct cfs_node *n = cfs_node_new();

	assert_null(cfs_node_ref(NULL));
	assert_null(cfs_node_unref(NULL));
	assert_ptr_equal(cfs_node_ref(n), n);
	assert_null(cfs_node_unref(n));
	assert_null(cfs_node_unref(n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_children_sorted),
		cmocka_unit_test(test_add_child_errors),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_xattrs),
		cmocka_unit_test(test_content_and_payload),
		cmocka_unit_test(test_hardlinks),
		cmocka_unit_test(test_refcount),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
