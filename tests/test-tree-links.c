/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* Reshaping a tree as composefs-info shows it (lib/tree/tree-links.c): which
 * name of a hard-linked inode is the file, sizes of special files, and the
 * top-level filter. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "composefs-c/composefs.h"
#include "test-util.h"

/*
 * /a/b/f  -> /c (a link made the other way round: c is the file)
 * /c         the file, 5 bytes "hello", user.x = "1"
 * /d/g    -> /c
 * /fifo      size 7 (the image keeps none)
 * /dev       a character device, size 3
 */
static struct cfs_node *sample(void)
{
	struct cfs_node *root = tu_add(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *a = tu_add(root, "a", S_IFDIR | 0755);
	struct cfs_node *b = tu_add(a, "b", S_IFDIR | 0755);
	struct cfs_node *d = tu_add(root, "d", S_IFDIR | 0755);
	struct cfs_node *c = tu_add(root, "c", S_IFREG | 0644);
	struct cfs_node *f = tu_add(b, "f", S_IFREG | 0644);
	struct cfs_node *g = tu_add(d, "g", S_IFREG | 0644);

	assert_int_equal(cfs_node_set_content(c, (const uint8_t *)"hello", 5),
			 0);
	assert_int_equal(cfs_node_set_xattr(c, "user.x", "1", 1), 0);
	assert_int_equal(cfs_node_make_hardlink(f, c), 0);
	assert_int_equal(cfs_node_make_hardlink(g, c), 0);
	cfs_node_set_size(tu_add(root, "fifo", S_IFIFO | 0644), 7);
	cfs_node_set_size(tu_add(root, "dev", S_IFCHR | 0600), 3);
	return root;
}

static struct cfs_node *at(struct cfs_node *root, const char *path)
{
	char copy[64], *save = NULL;
	struct cfs_node *n = root;

	snprintf(copy, sizeof(copy), "%s", path);
	for (char *p = strtok_r(copy, "/", &save); p != NULL;
	     p = strtok_r(NULL, "/", &save)) {
		n = cfs_node_lookup_child(n, p);
		if (n == NULL)
			fail_msg("no %s", path);
	}
	return n;
}

static void test_first_name_is_the_file(void **state)
{
	struct cfs_node *root = sample();
	struct cfs_node *f, *c, *g;
	const void *value;
	size_t len;

	assert_int_equal(cfs_tree_as_shown(root), 0);
	f = at(root, "a/b/f");
	c = at(root, "c");
	g = at(root, "d/g");
	/* depth first in name order: a/b/f comes before c and d/g */
	assert_null(cfs_node_get_hardlink_target(f));
	assert_ptr_equal(cfs_node_get_hardlink_target(c), f);
	assert_ptr_equal(cfs_node_get_hardlink_target(g), f);
	/* the inode's data moved with it */
	assert_true(S_ISREG(cfs_node_get_mode(f)));
	assert_int_equal(cfs_node_get_size(f), 5);
	assert_memory_equal(cfs_node_get_content(f), "hello", 5);
	value = cfs_node_get_xattr(f, "user.x", &len);
	assert_non_null(value);
	assert_int_equal(len, 1);
	assert_int_equal(cfs_node_get_nlink(f), 3);
	/* special files show no size */
	assert_int_equal(cfs_node_get_size(at(root, "fifo")), 0);
	assert_int_equal(cfs_node_get_size(at(root, "dev")), 0);
	/* and doing it again changes nothing */
	assert_int_equal(cfs_tree_as_shown(root), 0);
	assert_null(cfs_node_get_hardlink_target(at(root, "a/b/f")));
	assert_ptr_equal(cfs_node_get_hardlink_target(at(root, "c")),
			 at(root, "a/b/f"));
	cfs_node_unref(root);
}

static void test_keep_top(void **state)
{
	static const char *const names[] = { "d", "fifo", "nonexistent" };
	struct cfs_node *root = sample(), *file;

	assert_int_equal(cfs_tree_keep_top(root, names, 3), 0);
	assert_int_equal(cfs_node_get_n_children(root), 2);
	assert_string_equal(cfs_node_get_name(cfs_node_get_child(root, 0)),
			    "d");
	assert_string_equal(cfs_node_get_name(cfs_node_get_child(root, 1)),
			    "fifo");
	/* d/g still reaches its file, though /c is gone from the tree */
	file = cfs_node_get_hardlink_target(at(root, "d/g"));
	assert_non_null(file);
	assert_int_equal(cfs_node_get_size(file), 5);
	assert_int_equal(cfs_tree_keep_top(at(root, "fifo"), names, 3),
			 -ENOTDIR);
	cfs_node_unref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_name_is_the_file),
		cmocka_unit_test(test_keep_top),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
