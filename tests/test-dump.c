/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* composefs-dump(5): the parser and the printer, against the reference's
 * test dumps and against hand-written cases for every rule. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "composefs-c/composefs.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define NAME "t.dump"
#define ROOT "/ 4096 40755 2 0 0 0 0.0 - - -\n"

/* ------------------------------------------------------------------ */
/* Helpers */

struct text {
	char *data;
	size_t len;
};

static void text_free(struct text *t)
{
	free(t->data);
	t->data = NULL;
	t->len = 0;
}

static struct text print_tree(const struct cfs_node *root)
{
	struct text t = { NULL, 0 };
	FILE *f = open_memstream(&t.data, &t.len);

	assert_non_null(f);
	assert_int_equal(cfs_dump_print(root, f), 0);
	assert_int_equal(fclose(f), 0);
	return t;
}

static struct cfs_node *parse_ok(const char *data, size_t len, unsigned flags)
{
	struct cfs_error err = { "" };
	struct cfs_node *root = NULL;
	int r = cfs_dump_parse_buffer(data, len, NAME, flags, &root, &err);

	if (r < 0)
		fail_msg("parse failed (%d): %s", r, err.message);
	assert_non_null(root);
	return root;
}

static struct cfs_node *reparse_strict(const char *text)
{
	return parse_ok(text, strlen(text), CFS_DUMP_STRICT);
}

static struct text reprint(const char *data, size_t len, unsigned flags)
{
	struct cfs_node *root = parse_ok(data, len, flags);
	struct text t = print_tree(root);

	cfs_node_unref(root);
	return t;
}

static void assert_text_equal(const struct text *a, const char *b, size_t len)
{
	if (a->len != len || memcmp(a->data, b, len) != 0) {
		size_t i = 0, line = 1;

		while (i < a->len && i < len && a->data[i] == b[i])
			line += a->data[i++] == '\n';
		fail_msg(
			"output differs at byte %zu (line %zu): lengths %zu and %zu",
			i, line, a->len, len);
	}
}

/* Parse must fail with errnum and name the line. */
static void expect_fail_len(const char *data, size_t len, unsigned flags,
			    int errnum, size_t line)
{
	struct cfs_error err = { "" };
	struct cfs_node *root = NULL;
	char where[64];
	int r = cfs_dump_parse_buffer(data, len, NAME, flags, &root, &err);

	snprintf(where, sizeof(where), NAME ":%zu: ", line);
	if (r != errnum || strstr(err.message, where) != err.message)
		fail_msg("want %d at '%s', got %d: '%s' for input:\n%.*s",
			 errnum, where, r, err.message, (int)MIN(len, 300),
			 data);
	assert_null(root);
}

static void expect_fail(const char *data, unsigned flags, int errnum,
			size_t line)
{
	expect_fail_len(data, strlen(data), flags, errnum, line);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	return s;
}

/* ------------------------------------------------------------------ */
/* The reference's test dumps */

struct asset {
	char *dir; /* shared by all assets, owned by the first */
	char *name;
	bool owns_dir;
};

static char *assets_dir(void)
{
	const char *env = getenv("CFS_ASSETS"), *src = getenv("CFS_SRCDIR");

	if (env != NULL)
		return strdup(env);
	const char *slash = strrchr(__FILE__, '/');

	if (src != NULL)
		return format("%s/../shared/assets/upstream-composefs", src);
	/* Run by hand: the compiler's path to this file is good from the
	 * directory it was compiled in, usually the one we run in. */
	if (slash == NULL)
		return strdup("../../shared/assets/upstream-composefs");
	return format("%.*s/../../shared/assets/upstream-composefs",
		      (int)(slash - __FILE__), __FILE__);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool read_stream(FILE *f, struct text *t)
{
	size_t cap = 1 << 16;

	t->data = malloc(cap);
	t->len = 0;
	assert_non_null(t->data);
	for (;;) {
		size_t n;

		if (cap - t->len < 4096) {
			cap *= 2;
			t->data = realloc(t->data, cap);
			assert_non_null(t->data);
		}
		n = fread(t->data + t->len, 1, cap - t->len, f);
		if (n == 0)
			return !ferror(f);
		t->len += n;
	}
}

static struct text read_asset(const char *dir, const char *name)
{
	char *path = format("%s/%s", dir, name);
	struct text t;

	if (has_suffix(name, ".gz")) {
		char *cmd = format("zcat < '%s'", path);
		FILE *f = popen(cmd, "r");

		assert_non_null(f);
		assert_true(read_stream(f, &t));
		assert_int_equal(pclose(f), 0);
		free(cmd);
	} else {
		FILE *f = fopen(path, "r");

		assert_non_null(f);
		assert_true(read_stream(f, &t));
		fclose(f);
	}
	free(path);
	return t;
}

/* The reference's tree has symlinks between assets; a copy that flattened
 * one left a file holding just the other's name. */
static struct text read_asset_following(const char *dir, const char *name)
{
	struct text t = read_asset(dir, name);
	char other[256];
	char *path;
	struct stat st;

	if (t.len == 0 || t.len >= sizeof(other) ||
	    memchr(t.data, '\n', t.len) || memchr(t.data, ' ', t.len) ||
	    memchr(t.data, '/', t.len))
		return t;
	memcpy(other, t.data, t.len);
	other[t.len] = '\0';
	path = format("%s/%s", dir, other);
	if (strcmp(other, name) != 0 && stat(path, &st) == 0 &&
	    S_ISREG(st.st_mode)) {
		text_free(&t);
		t = read_asset(dir, other);
	}
	free(path);
	return t;
}

/* Dumps the reference itself parses leniently (no CFS_PARSE_STRICT). */
static bool parsed_leniently(const char *name)
{
	return strcmp(name, "no-newline.dump") == 0 ||
	       strcmp(name, "longlink.dump") == 0 ||
	       strcmp(name, "honggfuzz-longlink-unterminated.dump") == 0;
}

/* Golden dumps that are not what the printer writes; for these the test
 * checks that printing is stable, print(parse(print(parse(x)))) ==
 * print(parse(x)), instead of print(parse(x)) == x:
 *  - no-newline.dump: no newline after the last line, and RDEV 10 on the
 *    root directory, which is not a device, so the tree keeps 0;
 *  - longlink.dump: symlinks with SIZE 5, while a symlink's size is its
 *    target's length (4070 and 4095 here);
 *  - honggfuzz-longlink-unterminated.dump: a symlink (mode 020720777 has
 *    S_IFLNK in its type bits) with SIZE 0 and a 4095-byte target, and its
 *    line stops after PAYLOAD; the printer writes SIZE 4095 and "- -". */
static bool not_canonical(const char *name)
{
	return parsed_leniently(name);
}

static void test_asset(void **state)
{
	const struct asset *a = *state;
	struct text in = read_asset_following(a->dir, a->name);

	if (strncmp(a->name, "should-fail-", 12) == 0) {
		for (unsigned flags = 0; flags <= CFS_DUMP_STRICT; flags++) {
			struct cfs_error err = { "" };
			struct cfs_node *root = NULL;
			int r = cfs_dump_parse_buffer(in.data, in.len, a->name,
						      flags, &root, &err);

			assert_true(r < 0);
			assert_null(root);
			assert_true(strlen(err.message) > strlen(a->name));
			assert_ptr_equal(strstr(err.message, a->name),
					 err.message);
		}
	} else {
		unsigned flags = parsed_leniently(a->name) ? 0 :
							     CFS_DUMP_STRICT;
		struct text out = reprint(in.data, in.len, flags);

		if (not_canonical(a->name)) {
			struct text again = reprint(out.data, out.len,
						    CFS_DUMP_STRICT);

			assert_text_equal(&again, out.data, out.len);
			text_free(&again);
		} else {
			assert_text_equal(&out, in.data, in.len);
		}
		text_free(&out);
	}
	text_free(&in);
}

/* Without the assets the test is skipped, visibly (tests/cmocka-tap.sh
 * turns cmocka's "not ok N # SKIP" into the TAP form of a skip). */
static void test_assets_missing(void **state)
{
	print_message("# reference dumps not found at %s (set CFS_ASSETS)\n",
		      (const char *)*state);
	skip();
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_asset_state(struct CMUnitTest *t)
{
	struct asset *a = (struct asset *)t->initial_state;

	if (t->test_func != test_asset) {
		free(t->initial_state); /* the directory's name */
		return;
	}
	if (a->owns_dir)
		free(a->dir);
	free(a->name);
	free(a);
}

/* Asset tests, one per file, appended to tests; returns their number. */
static size_t add_asset_tests(struct CMUnitTest **tests, size_t n)
{
	char *dir = assets_dir();
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n_names = 0;
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (!has_suffix(de->d_name, ".dump") &&
		    !has_suffix(de->d_name, ".dump.gz"))
			continue;
		names = realloc(names, (n_names + 1) * sizeof(*names));
		assert_non_null(names);
		names[n_names++] = strdup(de->d_name);
	}
	if (d != NULL)
		closedir(d);
	if (n_names == 0) {
		*tests = realloc(*tests, (n + 1) * sizeof(**tests));
		(*tests)[n] = (struct CMUnitTest){ "reference dumps",
						   test_assets_missing, NULL,
						   NULL, dir };
		return 1;
	}
	qsort(names, n_names, sizeof(*names), compare_names);
	*tests = realloc(*tests, (n + n_names) * sizeof(**tests));
	for (size_t i = 0; i < n_names; i++) {
		struct asset *a = malloc(sizeof(*a));

		a->dir = dir;
		a->name = names[i];
		a->owns_dir = i == 0;
		(*tests)[n + i] = (struct CMUnitTest){ names[i], test_asset,
						       NULL, NULL, a };
	}
	free(names);
	return n_names;
}

/* ------------------------------------------------------------------ */
/* Errors, one rule at a time */

static void test_path_errors(void **state)
{
	char *long_name = repeat('n', CFS_NAME_MAX + 1);
	char *ok_name = repeat('n', CFS_NAME_MAX);
	char *s;

	expect_fail(ROOT "/. 0 40755 2 0 0 0 0.0 - - -\n", 0, -EINVAL, 2);
	expect_fail(ROOT "/.. 0 40755 2 0 0 0 0.0 - - -\n", 0, -EINVAL, 2);
	expect_fail(ROOT "/d 0 40755 2 0 0 0 0.0 - - -\n"
			 "/d/.. 0 40755 2 0 0 0 0.0 - - -\n",
		    0, -EINVAL, 3);
	expect_fail(ROOT "// 0 40755 2 0 0 0 0.0 - - -\n", 0, -EINVAL, 2);
	expect_fail(ROOT "/d 0 40755 2 0 0 0 0.0 - - -\n"
			 "/d/ 0 40755 2 0 0 0 0.0 - - -\n",
		    0, -EINVAL, 3);
	expect_fail(ROOT " 0 100644 1 0 0 0 0.0 - - -\n", 0, -EINVAL, 2);
	s = format(ROOT "/%s 0 100644 1 0 0 0 0.0 - - -\n", long_name);
	expect_fail(s, 0, -ENAMETOOLONG, 2);
	free(s);
	s = format(ROOT "/%s 0 100644 1 0 0 0 0.0 - - -\n", ok_name);
	cfs_node_unref(parse_ok(s, strlen(s), CFS_DUMP_STRICT));
	free(s);
	expect_fail(ROOT "/a 0 100644 1 0 0 0 0.0 - - -\n"
			 "/a 0 100644 1 0 0 0 0.0 - - -\n",
		    0, -EEXIST, 3);
	expect_fail(ROOT "/a 0 100644 1 0 0 0 0.0 - - -\n"
			 "//a 0 100644 1 0 0 0 0.0 - - -\n",
		    0, -EEXIST, 3);
	expect_fail(ROOT ROOT, 0, -EEXIST, 2);
	expect_fail("/a 0 100644 1 0 0 0 0.0 - - -\n" ROOT, 0, -EINVAL, 1);
	expect_fail("", 0, -EINVAL, 1);
	expect_fail("/ 0 100644 1 0 0 0 0.0 - - -\n", 0, -ENOTDIR, 1);
	expect_fail(ROOT "/f 0 100644 1 0 0 0 0.0 - - -\n"
			 "/f/g 0 100644 1 0 0 0 0.0 - - -\n",
		    0, -ENOTDIR, 3);
	expect_fail(ROOT "/f 0 100644 1 0 0 0 0.0 - - -\n"
			 "/f/g/h 0 100644 1 0 0 0 0.0 - - -\n",
		    0, -ENOTDIR, 3);
	expect_fail(ROOT "/d/g 0 100644 1 0 0 0 0.0 - - -\n", 0, -ENOENT, 2);
	/* a child before its parent */
	expect_fail(ROOT "/d/e 0 40755 1 0 0 0 0.0 - - -\n"
			 "/d 0 40755 1 0 0 0 0.0 - - -\n",
		    0, -ENOENT, 2);
	/* an empty line is an entry with an empty path */
	expect_fail(ROOT "\n/a 0 100644 1 0 0 0 0.0 - - -\n", 0, -EINVAL, 2);
	free(long_name);
	free(ok_name);
}

static void test_field_errors(void **state)
{
	static const struct {
		const char *line;
		int errnum;
	} cases[] = {
		{ "/a x1 100644 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a 0 100644 x1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a 0 100644 1 x1 0 0 0.0 - - -", -EINVAL },
		{ "/a 0 100644 1 1 x1 0 0.0 - - -", -EINVAL },
		{ "/a 0 100644 1 1 0 x1 0.0 - - -", -EINVAL },
		{ "/a 0 100644 1 0 0 0 x.0 - - -", -EINVAL },
		{ "/a 0 100644 1 0 0 0 0.x - - -", -EINVAL },
		{ "/a 0 100644 1 0 0 0 0 - - -", -EINVAL },
		{ "/a 0 100644 1 0 0 0 0. - - -", -EINVAL },
		{ "/a 0 100644 1 0 0 0 0.0.0 - - -", -EINVAL },
		{ "/a 0 100648 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a 0 @ 1 0 0 0 0.0 /b - -", -EINVAL },
		{ "/a  100644 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a -1 100644 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a +1 100644 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a 0 100644 1 4294967296 0 0 0.0 - - -", -ERANGE },
		{ "/a 18446744073709551616 100644 1 0 0 0 0.0 - - -", -ERANGE },
		{ "/a 0 100644 1 0 0 0 0.4294967296 - - -", -ERANGE },
		{ "/a 0 40000000000 1 0 0 0 0.0 - - -", -ERANGE },
		{ "/a", -EINVAL },
		{ "/a 0 100644 1 0 0 0", -EINVAL },
		/* file type bits that name no file type */
		{ "/a 0 0 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a 0 644 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a 0 30644 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a 0 170644 1 0 0 0 0.0 - - -", -EINVAL },
		/* bad escapes, in every escaped field */
		{ "/a\\q 0 100644 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a\\ 0 100644 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a\\x4 0 100644 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a\\xg0 0 100644 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a 0 100644 1 0 0 0 0.0 \\X41 - -", -EINVAL },
		{ "/a 1 100644 1 0 0 0 0.0 - \\0 -", -EINVAL },
		{ "/a 0 100644 1 0 0 0 0.0 - - - user.a=\\x", -EINVAL },
		{ "/a 0 100644 1 0 0 0 0.0 - - - user\\.a=b", -EINVAL },
		{ "/a 0 @100644 1 0 0 0 0.0 /b\\ - -", -EINVAL },
		/* content */
		{ "/a 4 100644 1 0 0 0 0.0 - abc -", -EINVAL },
		{ "/a 2 100644 1 0 0 0 0.0 - abc -", -EINVAL },
		{ "/a 3 40755 1 0 0 0 0.0 - abcd -", -EINVAL },
		/* digests */
		{ "/a 0 100644 1 0 0 0 0.0 - - 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
		  -EINVAL },
		{ "/a 0 100644 1 0 0 0 0.0 - - 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
		  -EINVAL },
		{ "/a 0 100644 1 0 0 0 0.0 - - 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
		  -EINVAL },
		{ "/a 0 100644 1 0 0 0 0.0 - - x", -EINVAL },
		/* xattrs */
		{ "/a 0 100644 1 0 0 0 0.0 - - - user.a", -EINVAL },
		{ "/a 0 100644 1 0 0 0 0.0 - - - user.a=b  user.c=d", -EINVAL },
		{ "/a 0 100644 1 0 0 0 0.0 - - - =b", -EINVAL },
		{ "/a 0 100644 1 0 0 0 0.0 - - - \\x00a=b", -EINVAL },
		/* symlinks */
		{ "/a 0 120777 1 0 0 0 0.0 - - -", -EINVAL },
		{ "/a 0 120777 1 0 0 0 0.0  - -", -EINVAL },
		{ "/a 0 120777 1 0 0 0 0.0 \\x00 - -", -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *s = format(ROOT "%s\n", cases[i].line);

		expect_fail(s, 0, cases[i].errnum, 2);
		free(s);
	}
}

static void test_size_limits(void **state)
{
	char *target = repeat('t', CFS_PAYLOAD_MAX + 1);
	char *content = repeat('c', CFS_INLINE_CONTENT_MAX + 1);
	char *s;

	s = format(ROOT "/l %d 120777 1 0 0 0 0.0 %s - -\n",
		   CFS_PAYLOAD_MAX + 1, target);
	expect_fail(s, 0, -ENAMETOOLONG, 2);
	free(s);
	s = format(ROOT "/l %d 120777 1 0 0 0 0.0 %s - -\n", CFS_PAYLOAD_MAX,
		   target + 1);
	cfs_node_unref(parse_ok(s, strlen(s), CFS_DUMP_STRICT));
	free(s);
	s = format(ROOT "/f 0 100644 1 0 0 0 0.0 %s - -\n", target);
	expect_fail(s, 0, -ENAMETOOLONG, 2);
	free(s);

	s = format(ROOT "/f %d 100644 1 0 0 0 0.0 - %s -\n",
		   CFS_INLINE_CONTENT_MAX + 1, content);
	expect_fail(s, 0, -EFBIG, 2);
	free(s);
	s = format(ROOT "/f %d 100644 1 0 0 0 0.0 - %s -\n",
		   CFS_INLINE_CONTENT_MAX, content + 1);
	cfs_node_unref(parse_ok(s, strlen(s), CFS_DUMP_STRICT));
	free(s);

	/* the largest file an image can describe is 2^53 bytes */
	s = ROOT "/f 9007199254740992 100644 1 0 0 0 0.0 - - -\n";
	cfs_node_unref(parse_ok(s, strlen(s), CFS_DUMP_STRICT));
	expect_fail(ROOT "/f 9007199254740993 100644 1 0 0 0 0.0 - - -\n", 0,
		    -EFBIG, 2);
	free(target);
	free(content);
}

static void test_xattr_limits(void **state)
{
	char *name = repeat('k', 256), *value = repeat('v', 9000);
	char *big = repeat('v', 40000);
	char *s;

	s = format(ROOT "/f 0 100644 1 0 0 0 0.0 - - - %s=v\n", name);
	expect_fail(s, 0, -ERANGE, 2);
	free(s);
	s = format(ROOT "/f 0 100644 1 0 0 0 0.0 - - - %s=v\n", name + 1);
	cfs_node_unref(parse_ok(s, strlen(s), CFS_DUMP_STRICT));
	free(s);
	/* over the budget of one node, in one xattr or several */
	s = format(ROOT "/f 0 100644 1 0 0 0 0.0 - - - a=%s\n", big);
	expect_fail(s, 0, -ERANGE, 2);
	free(s);
	s = format(ROOT "/f 0 100644 1 0 0 0 0.0 - - - a=%s b=%s c=%s d=%s\n",
		   value, value, value, value);
	expect_fail(s, 0, -ERANGE, 2);
	free(s);
	s = format(ROOT "/f 0 100644 1 0 0 0 0.0 - - - a=%s b=%s c=%s\n", value,
		   value, value);
	cfs_node_unref(parse_ok(s, strlen(s), CFS_DUMP_STRICT));
	free(s);
	free(value);
	/* 20000 bytes of value that take 80000 of text */
	value = malloc(4 * 20000 + 1);
	for (size_t i = 0; i < 20000; i++)
		memcpy(value + 4 * i, "\\x01", 4);
	value[4 * 20000] = '\0';
	s = format(ROOT "/f 0 100644 1 0 0 0 0.0 - - - a=%s\n", value);
	expect_fail(s, 0, -ERANGE, 2);
	free(s);
	free(value);
	free(name);
	free(big);
}

static void test_hardlink_errors(void **state)
{
	expect_fail(ROOT "/a 0 @100644 1 0 0 0 0.0 /a - -\n", 0, -EINVAL, 2);
	expect_fail(ROOT "/a 0 @100644 1 0 0 0 0.0 //a/ - -\n", 0, -EINVAL, 2);
	expect_fail(ROOT "/d 0 40755 1 0 0 0 0.0 - - -\n"
			 "/a 0 @100644 1 0 0 0 0.0 /d - -\n",
		    0, -EINVAL, 3);
	expect_fail(ROOT "/a 0 @100644 1 0 0 0 0.0 / - -\n", 0, -EINVAL, 2);
	expect_fail(ROOT "/d 0 @40755 1 0 0 0 0.0 /f - -\n"
			 "/f 0 100644 1 0 0 0 0.0 - - -\n",
		    0, -EINVAL, 2);
	expect_fail(ROOT "/f 0 100644 1 0 0 0 0.0 - - -\n"
			 "/a 0 @100644 1 0 0 0 0.0 - - -\n",
		    0, -EINVAL, 3);
	expect_fail(ROOT "/f 0 100644 1 0 0 0 0.0 - - -\n"
			 "/a 0 @100644 1 0 0 0 0.0 /g - -\n",
		    0, -ENOENT, 3);
	expect_fail(ROOT "/a 0 @100644 1 0 0 0 0.0 /b - -\n"
			 "/b 0 @100644 1 0 0 0 0.0 /a - -\n",
		    0, -ELOOP, 3);
}

static void test_strict(void **state)
{
	static const struct {
		const char *text;
		size_t line;
	} cases[] = {
		{ ROOT "/a 0 100644 1 0 0 0 0.0 - - -", 2 },
		{ ROOT "/a 0 100644 1 0 0 5 0.0 - - -\n", 2 },
		{ ROOT "/a 0 40755 1 0 0 5 0.0 - - -\n", 2 },
		{ ROOT "/a 4 120777 1 0 0 0 0.0 abc - -\n", 2 },
		{ ROOT "/a 3 120777 1 0 0 0 0.0 abc xyz -\n", 2 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *t = cases[i].text;

		expect_fail(t, CFS_DUMP_STRICT, -EINVAL, cases[i].line);
		cfs_node_unref(parse_ok(t, strlen(t), 0));
	}
	/* devices keep their number */
	cfs_node_unref(
		reparse_strict(ROOT "/c 0 20644 1 0 0 1025 0.0 - - -\n"));
	/* errors before the unterminated last line come first */
	expect_fail(ROOT "/a x 100644 1 0 0 0 0.0 - - -\n/b", CFS_DUMP_STRICT,
		    -EINVAL, 2);
}

static void test_embedded_nul(void **state)
{
	static const char text[] = ROOT
		"/a 0 100644 1 0 0 0 0.0 - - - a=b\0c\n";

	expect_fail_len(text, sizeof(text) - 1, 0, -EINVAL, 2);
	expect_fail_len(ROOT "\0", strlen(ROOT) + 1, 0, -EINVAL, 2);
}

/* ------------------------------------------------------------------ */
/* What parses, and how it prints */

static void test_fields(void **state)
{
	static const char text[] =
		"/ 4096 40755 3 1 2 0 -5.999999999 - - - user.b=2 user.a=1\n"
		"/c 0 20644 1 0 0 2049 1.0 - - -\n"
		"/d 4096 40700 2 0 0 0 0.0 - - -\n"
		"/d/f 3 100644 1 4294967295 7 0 1700000000.5 ab/cdef abc 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
		"/d/l 3 120777 1 0 0 0 0.0 abc - -\n"
		"/p 0 10644 1 0 0 0 0.0 - - -\n"
		"/s 0 140644 1 0 0 0 0.0 - - -\n";
	struct cfs_node *root = parse_ok(text, sizeof(text) - 1,
					 CFS_DUMP_STRICT);
	struct cfs_node *d = cfs_node_lookup_child(root, "d");
	struct cfs_node *f = cfs_node_lookup_child(d, "f");
	struct cfs_node *l = cfs_node_lookup_child(d, "l");
	struct text out = print_tree(root);
	int64_t sec;
	uint32_t nsec;
	size_t len;

	assert_text_equal(&out, text, sizeof(text) - 1);
	cfs_node_get_mtime(root, &sec, &nsec);
	assert_int_equal(sec, -5);
	assert_int_equal(nsec, 999999999);
	assert_int_equal(cfs_node_get_rdev(cfs_node_lookup_child(root, "c")),
			 2049);
	assert_int_equal(cfs_node_get_uid(f), 4294967295u);
	assert_int_equal(cfs_node_get_gid(f), 7);
	assert_int_equal(cfs_node_get_size(f), 3);
	assert_memory_equal(cfs_node_get_content(f), "abc", 3);
	assert_string_equal(cfs_node_get_payload(f), "ab/cdef");
	assert_int_equal(cfs_node_get_digest(f)[31], 0xef);
	assert_string_equal(cfs_node_get_payload(l), "abc");
	assert_int_equal(cfs_node_get_n_xattrs(root), 2);
	assert_memory_equal(cfs_node_get_xattr(root, "user.a", &len), "1", 1);
	assert_null(cfs_node_get_digest(d));
	text_free(&out);
	cfs_node_unref(root);
}

static void test_lenient_forms(void **state)
{
	/* The reference accepts these; they print in canonical form. */
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "/a 0 100644 1 0 0 0 0.0 - - -",
		  "/a 0 100644 1 0 0 0 0.0 - - -" },
		{ "/a 0 100644 1 0 0 0 0.0 - - - ",
		  "/a 0 100644 1 0 0 0 0.0 - - -" },
		{ "/a 0 100644 1 0 0 0 0.0", "/a 0 100644 1 0 0 0 0.0 - - -" },
		{ "/a 0 100644 1 0 0 0 0.0 - -",
		  "/a 0 100644 1 0 0 0 0.0 - - -" },
		{ "/a 0 100644 1 0 0 0 0.0  - -",
		  "/a 0 100644 1 0 0 0 0.0 - - -" },
		{ "/a 0 100644 1 0 0 0 0.0 - - 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		  "/a 0 100644 1 0 0 0 0.0 - - 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
		{ "/\\x61 1 100644 01 0 0 0 0.000 \\x2d \\x2d -",
		  "/a 1 100644 1 0 0 0 0.0 \\x2d \\x2d -" },
		{ "/a 0 100644 1 0 0 0 0.0 - - - a=1 a=2",
		  "/a 0 100644 1 0 0 0 0.0 - - - a=2" },
		{ "/a 0 100644 1 0 0 0 0.0 - - - user.a=b=c",
		  "/a 0 100644 1 0 0 0 0.0 - - - user.a=b\\x3dc" },
		{ "/a\\x00b 0 100644 1 0 0 0 0.0 - - -",
		  "/a 0 100644 1 0 0 0 0.0 - - -" },
		/* a hard link line only needs PATH, MODE and PAYLOAD */
		{ "/a 0 100644 1 0 0 0 0.0 - - -\n/b x @100644 x x x x x /a",
		  "/a 0 100644 1 0 0 0 0.0 - - -\n/b 0 @100644 1 0 0 0 0.0 /a - -" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *in = format(ROOT "%s\n", cases[i].in);
		char *want = format(ROOT "%s\n", cases[i].out);
		struct text out = reprint(in, strlen(in), 0);

		if (strcmp(out.data, want) != 0)
			fail_msg("case %zu: got\n%s\nwant\n%s", i, out.data,
				 want);
		text_free(&out);
		free(in);
		free(want);
	}
}

static void test_repeated_slashes(void **state)
{
	static const char text[] = ROOT
		"//d 4096 40755 2 0 0 0 0.0 - - -\n"
		"d//e 4096 40755 2 0 0 0 0.0 - - -\n"
		"///d///e//f 0 100644 1 0 0 0 0.0 - - -\n"
		"/d/g 0 @100644 1 0 0 0 0.0 //d//e///f/ - -\n";
	static const char want[] = ROOT
		"/d 4096 40755 2 0 0 0 0.0 - - -\n"
		"/d/e 4096 40755 2 0 0 0 0.0 - - -\n"
		"/d/e/f 0 100644 1 0 0 0 0.0 - - -\n"
		"/d/g 0 @100644 1 0 0 0 0.0 /d/e/f - -\n";
	struct cfs_node *root = parse_ok(text, sizeof(text) - 1,
					 CFS_DUMP_STRICT);
	struct cfs_node *d = cfs_node_lookup_child(root, "d");
	struct cfs_node *e = cfs_node_lookup_child(d, "e");
	struct text out = print_tree(root);

	assert_non_null(cfs_node_lookup_child(e, "f"));
	assert_ptr_equal(
		cfs_node_get_hardlink_target(cfs_node_lookup_child(d, "g")),
		cfs_node_lookup_child(e, "f"));
	assert_text_equal(&out, want, sizeof(want) - 1);
	text_free(&out);
	cfs_node_unref(root);
}

static void test_hardlinks(void **state)
{
	/* links before and after their target; the target's NLINK stays as
	 * written; a link's own fields are the target's when printed */
	static const char text[] = ROOT
		"/a 0 @100644 9 9 9 9 9.9 /d/t - -\n"
		"/d 4096 40755 2 0 0 0 0.0 - - -\n"
		"/d/t 5 100600 3 7 8 0 12.5 - hello - user.x=y\n"
		"/z 0 @100644 1 0 0 0 0.0 /d/t - -\n";
	static const char want[] = ROOT
		"/a 5 @100600 3 7 8 0 12.5 /d/t hello - user.x=y\n"
		"/d 4096 40755 2 0 0 0 0.0 - - -\n"
		"/d/t 5 100600 3 7 8 0 12.5 - hello - user.x=y\n"
		"/z 5 @100600 3 7 8 0 12.5 /d/t hello - user.x=y\n";
	struct cfs_node *root = parse_ok(text, sizeof(text) - 1,
					 CFS_DUMP_STRICT);
	struct cfs_node *t = cfs_node_lookup_child(
		cfs_node_lookup_child(root, "d"), "t");
	struct text out = print_tree(root);

	assert_ptr_equal(
		cfs_node_get_hardlink_target(cfs_node_lookup_child(root, "a")),
		t);
	assert_ptr_equal(
		cfs_node_get_hardlink_target(cfs_node_lookup_child(root, "z")),
		t);
	assert_int_equal(cfs_node_get_nlink(t), 3);
	assert_text_equal(&out, want, sizeof(want) - 1);
	text_free(&out);
	cfs_node_unref(root);
}

/* Every byte value survives print and parse in names, payloads, content,
 * xattr names and values; the text has no raw byte outside [!-~] but the
 * field separators and line ends. */
static void test_escapes(void **state)
{
	struct cfs_node *root = cfs_node_new(), *file, *back;
	uint8_t all[256], dash = '-';
	char name[4], xname[4], payload[256];
	struct text out, again;
	size_t spaces = 0, newlines = 0, len;

	assert_int_equal(cfs_node_set_mode(root, 040755), 0);
	for (int c = 1; c < 256; c++) {
		struct cfs_node *n;

		if (c == '/')
			continue;
		n = cfs_node_new();
		name[0] = 'n';
		name[1] = (char)c;
		name[2] = '\0';
		assert_int_equal(cfs_node_set_mode(n, 0100644), 0);
		assert_int_equal(cfs_node_add_child(root, n, name), 0);
		xname[0] = 'x';
		xname[1] = (char)c;
		xname[2] = '\0';
		assert_int_equal(cfs_node_set_xattr(root, xname, name, 2), 0);
		payload[c - 1] = (char)c;
	}
	payload[255] = '\0';
	for (int c = 0; c < 256; c++)
		all[c] = (uint8_t)c;
	file = cfs_node_lookup_child(root, "na");
	assert_int_equal(cfs_node_set_content(file, all, sizeof(all)), 0);
	assert_int_equal(cfs_node_set_payload(file, payload), 0);
	assert_int_equal(cfs_node_set_xattr(file, "v", all, sizeof(all)), 0);
	/* a lone dash must not read back as "absent" */
	file = cfs_node_lookup_child(root, "n-");
	assert_int_equal(cfs_node_set_content(file, &dash, 1), 0);
	assert_int_equal(cfs_node_set_payload(file, "-"), 0);
	assert_int_equal(cfs_node_set_xattr(file, "-", "-", 1), 0);

	out = print_tree(root);
	for (size_t i = 0; i < out.len; i++) {
		unsigned char c = out.data[i];

		spaces += c == ' ';
		newlines += c == '\n';
		if (c != ' ' && c != '\n' && (c < '!' || c > '~'))
			fail_msg("raw byte 0x%02x at %zu", c, i);
	}
	assert_int_equal(newlines, 255);
	/* 10 separators a line, one more for each xattr */
	assert_int_equal(spaces, 10 * 255 + 254 + 1 + 1);
	/* '=' is escaped only in xattrs, a lone '-' only in optional fields */
	assert_non_null(strstr(
		out.data, "\n/n- 1 100644 1 0 0 0 0.0 \\x2d \\x2d - -=-\n"));
	assert_non_null(strstr(out.data, "\n/n= "));
	assert_non_null(strstr(out.data, "\n/n\\x20 "));
	assert_non_null(strstr(out.data, "\n/n\\\\ "));
	assert_non_null(strstr(out.data, "\n/n\\t "));
	assert_non_null(strstr(out.data, "\n/n\\x7f "));
	assert_non_null(strstr(out.data, "\n/n\\xff "));
	assert_non_null(strstr(out.data, " x\\x3d=n\\x3d"));

	back = parse_ok(out.data, out.len, CFS_DUMP_STRICT);
	again = print_tree(back);
	assert_text_equal(&again, out.data, out.len);
	assert_int_equal(cfs_node_get_n_children(back), 254);
	file = cfs_node_lookup_child(back, "na");
	assert_memory_equal(cfs_node_get_content(file), all, sizeof(all));
	assert_string_equal(cfs_node_get_payload(file), payload);
	assert_memory_equal(cfs_node_get_xattr(file, "v", &len), all,
			    sizeof(all));
	assert_int_equal(len, sizeof(all));
	for (int c = 1; c < 256; c++) {
		if (c == '/')
			continue;
		name[0] = 'n';
		name[1] = (char)c;
		xname[0] = 'x';
		xname[1] = (char)c;
		name[2] = xname[2] = '\0';
		assert_non_null(cfs_node_lookup_child(back, name));
		assert_memory_equal(cfs_node_get_xattr(back, xname, &len), name,
				    2);
	}
	file = cfs_node_lookup_child(back, "n-");
	assert_string_equal(cfs_node_get_payload(file), "-");
	assert_memory_equal(cfs_node_get_content(file), "-", 1);
	text_free(&out);
	text_free(&again);
	cfs_node_unref(root);
	cfs_node_unref(back);
}

static void test_parse_stream(void **state)
{
	static char text[] = ROOT "/a 0 100644 1 0 0 0 0.0 - - -\n";
	struct cfs_error err = { "" };
	struct cfs_node *root = NULL;
	FILE *f = fmemopen(text, sizeof(text) - 1, "r");

	assert_int_equal(cfs_dump_parse(f, NAME, CFS_DUMP_STRICT, &root, &err),
			 0);
	assert_non_null(cfs_node_lookup_child(root, "a"));
	cfs_node_unref(root);
	fclose(f);
}

/* A deep tree visited out of order: the parent lookup must find the right
 * directory whatever the previous line was. */
static void test_parent_lookup(void **state)
{
	static const char text[] = ROOT "/a 0 40755 1 0 0 0 0.0 - - -\n"
					"/ab 0 40755 1 0 0 0 0.0 - - -\n"
					"/a/b 0 40755 1 0 0 0 0.0 - - -\n"
					"/a/b/c 0 40755 1 0 0 0 0.0 - - -\n"
					"/ab/x 0 100644 1 0 0 0 0.0 - - -\n"
					"/a/b/c/d 0 100644 1 0 0 0 0.0 - - -\n"
					"/a/y 0 100644 1 0 0 0 0.0 - - -\n"
					"/a/b/c/e 0 100644 1 0 0 0 0.0 - - -\n"
					"/a/bc 0 40755 1 0 0 0 0.0 - - -\n"
					"/a/bc/z 0 100644 1 0 0 0 0.0 - - -\n"
					"/a/b/w 0 100644 1 0 0 0 0.0 - - -\n"
					"/r 0 100644 1 0 0 0 0.0 - - -\n";
	static const char want[] = ROOT "/a 0 40755 1 0 0 0 0.0 - - -\n"
					"/a/b 0 40755 1 0 0 0 0.0 - - -\n"
					"/a/b/c 0 40755 1 0 0 0 0.0 - - -\n"
					"/a/b/c/d 0 100644 1 0 0 0 0.0 - - -\n"
					"/a/b/c/e 0 100644 1 0 0 0 0.0 - - -\n"
					"/a/b/w 0 100644 1 0 0 0 0.0 - - -\n"
					"/a/bc 0 40755 1 0 0 0 0.0 - - -\n"
					"/a/bc/z 0 100644 1 0 0 0 0.0 - - -\n"
					"/a/y 0 100644 1 0 0 0 0.0 - - -\n"
					"/ab 0 40755 1 0 0 0 0.0 - - -\n"
					"/ab/x 0 100644 1 0 0 0 0.0 - - -\n"
					"/r 0 100644 1 0 0 0 0.0 - - -\n";
	struct text out = reprint(text, sizeof(text) - 1, CFS_DUMP_STRICT);

	assert_text_equal(&out, want, sizeof(want) - 1);
	text_free(&out);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_path_errors),
		cmocka_unit_test(test_field_errors),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_xattr_limits),
		cmocka_unit_test(test_hardlink_errors),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_lenient_forms),
		cmocka_unit_test(test_repeated_slashes),
		cmocka_unit_test(test_hardlinks),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_parse_stream),
		cmocka_unit_test(test_parent_lookup),
	};
	struct CMUnitTest *tests = malloc(sizeof(fixed));
	size_t n = ARRAY_SIZE(fixed), n_assets;
	int r;

	memcpy(tests, fixed, sizeof(fixed));
	n_assets = add_asset_tests(&tests, n);
	r = _cmocka_run_group_tests("dump", tests, n + n_assets, NULL, NULL);
	for (size_t i = n; i < n + n_assets; i++)
		free_asset_state(&tests[i]);
	free(tests);
	return r;
}
