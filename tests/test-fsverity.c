/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* fs-verity digests, checked against the fsverity(1) tool of fsverity-utils. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "composefs-c/composefs.h"
#include "format/fsverity_i.h"
#include "format/sha256_i.h"

#define BLOCK 4096
/* one full block of hashes covers this much data */
#define LEVEL1_SPAN (128 * BLOCK)
#define LEVEL2_SPAN (128 * LEVEL1_SPAN)

/* short enough that every path built from it fits in PATH_MAX */
static char tmpdir[1024];
static bool have_tool;

/*
 * Without fsverity(1) a test whose point is the comparison with it has only
 * compared the library with itself: it is counted as skipped, with the
 * reason (tests/cmocka-tap.sh turns cmocka's "not ok # SKIP" into a skip).
 */
static void skip_without_tool(const char *test)
{
	print_message("# %s: fsverity(1) not installed, not compared with it\n",
		      test);
	skip();
}

/* Deterministic, fast pseudo-random bytes (xorshift64*). */
static void fill_pattern(uint8_t *buf, size_t len, uint64_t *state)
{
	size_t i = 0;

	while (i < len) {
		uint64_t x = *state;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		*state = x;
		x *= 0x2545F4914F6CDD1DULL;
		for (int b = 0; b < 8 && i < len; b++, i++)
			buf[i] = (uint8_t)(x >> (8 * b));
	}
}

static uint8_t *make_pattern(size_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	fill_pattern(buf, len, &seed);
	return buf;
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t done = 0;

	assert_true(fd >= 0);
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		assert_true(n > 0);
		done += n;
	}
	assert_int_equal(close(fd), 0);
}

static bool find_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (path == NULL)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

/* The digest the reference tool gives for path, as hex. */
static void tool_digest(const char *path, char hex[CFS_DIGEST_HEX_SIZE])
{
	char cmd[PATH_MAX + 128];
	char line[256];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "fsverity digest --compact --hash-alg=sha256 "
		 "--block-size=4096 '%s'",
		 path);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	line[strcspn(line, "\n")] = '\0';
	assert_int_equal(strlen(line), CFS_DIGEST_HEX_SIZE - 1);
	memcpy(hex, line, CFS_DIGEST_HEX_SIZE);
}

static void digest_hex_fd(const char *path, char hex[CFS_DIGEST_HEX_SIZE])
{
	uint8_t digest[CFS_DIGEST_SIZE];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(cfs_fsverity_digest_fd(fd, digest), 0);
	close(fd);
	cfs_digest_to_hex(digest, hex);
}

/* Write len bytes of pattern to a file; our fd and buffer digests must
 * agree with each other and, when the tool is there, with it. */
static void check_size(size_t len, uint64_t seed)
{
	char path[PATH_MAX];
	char ours_fd[CFS_DIGEST_HEX_SIZE], ours_buf[CFS_DIGEST_HEX_SIZE];
	char theirs[CFS_DIGEST_HEX_SIZE];
	uint8_t digest[CFS_DIGEST_SIZE];
	uint8_t *data = make_pattern(len, seed);

	snprintf(path, sizeof(path), "%s/size-%zu", tmpdir, len);
	write_file(path, data, len);
	cfs_fsverity_digest_buffer(data, len, digest);
	cfs_digest_to_hex(digest, ours_buf);
	digest_hex_fd(path, ours_fd);
	assert_string_equal(ours_fd, ours_buf);
	if (have_tool) {
		tool_digest(path, theirs);
		assert_string_equal(ours_fd, theirs);
	}
	free(data);
	unlink(path);
}

static const size_t fixed_sizes[] = {
	0,
	1,
	4095,
	4096,
	4097,
	8192,
	LEVEL1_SPAN - 1,
	LEVEL1_SPAN,
	LEVEL1_SPAN + 1,
	2 * LEVEL1_SPAN,
	2 * LEVEL1_SPAN + 4096 * 3 + 17,
};

static void test_known_digests(void **state)
{
	uint8_t digest[CFS_DIGEST_SIZE];
	char hex[CFS_DIGEST_HEX_SIZE];

	/* from `fsverity digest --compact` of an empty file and of "a" */
	cfs_fsverity_digest_buffer("", 0, digest);
	cfs_digest_to_hex(digest, hex);
	assert_string_equal(hex, "3d248ca542a24fc62d1c43b916eae501"
				 "6878e2533c88238480b26128a1f1af95");
	cfs_fsverity_digest_buffer("a", 1, digest);
	cfs_digest_to_hex(digest, hex);
	assert_string_equal(hex, "bce75948b9e7510293f8f2720412af96"
				 "97c1479281323f3f220623fb8e94b557");
}

static void test_fixed_sizes(void **state)
{
	for (size_t i = 0; i < sizeof(fixed_sizes) / sizeof(fixed_sizes[0]);
	     i++)
		check_size(fixed_sizes[i], 1000 + i);
	if (!have_tool)
		skip_without_tool(__func__);
}

static void test_random_sizes(void **state)
{
	uint64_t seed = (uint64_t)time(NULL);

	print_message("# random sizes: seed %llu\n", (unsigned long long)seed);
	srand((unsigned)seed);
	for (int i = 0; i < 12; i++) {
		/* mostly small, some past one and two levels */
		size_t max = i < 6 ? 3 * BLOCK : 3 * LEVEL1_SPAN;

		check_size((size_t)rand() % max, seed + i);
	}
	if (!have_tool)
		skip_without_tool(__func__);
}

/* fd, mmap'ed buffer and (when there) tool digests of the file at path. */
static void check_file(const char *path, size_t len)
{
	char ours[CFS_DIGEST_HEX_SIZE], mapped[CFS_DIGEST_HEX_SIZE];
	char theirs[CFS_DIGEST_HEX_SIZE];
	uint8_t digest[CFS_DIGEST_SIZE];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *map;

	assert_true(fd >= 0);
	map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(map != MAP_FAILED);
	cfs_fsverity_digest_buffer(map, len, digest);
	cfs_digest_to_hex(digest, mapped);
	munmap(map, len);
	close(fd);

	digest_hex_fd(path, ours);
	assert_string_equal(ours, mapped);
	if (have_tool) {
		tool_digest(path, theirs);
		assert_string_equal(ours, theirs);
	}
}

/* Three levels of hashes: a 64 MiB file written in pieces, then cut to
 * exactly two full levels. */
static void test_three_levels(void **state)
{
	const size_t chunk = 1 << 20;
	uint8_t *buf = malloc(chunk);
	uint64_t seed = 42;
	char path[PATH_MAX];
	int fd;

	assert_non_null(buf);
	snprintf(path, sizeof(path), "%s/three-levels", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	for (size_t done = 0; done < LEVEL2_SPAN; done += chunk) {
		fill_pattern(buf, chunk, &seed);
		assert_int_equal(write(fd, buf, chunk), chunk);
	}
	assert_int_equal(write(fd, "x", 1), 1);
	check_file(path, LEVEL2_SPAN + 1);

	assert_int_equal(ftruncate(fd, LEVEL2_SPAN), 0);
	check_file(path, LEVEL2_SPAN);

	close(fd);
	unlink(path);
	free(buf);
	if (!have_tool)
		skip_without_tool(__func__);
}

static void digest_in_chunks(const uint8_t *data, size_t len, size_t chunk,
			     uint8_t digest[CFS_DIGEST_SIZE])
{
	struct cfs_fsverity *ctx = cfs_fsverity_new();

	assert_non_null(ctx);
	for (size_t off = 0; off < len; off += chunk)
		cfs_fsverity_update(ctx, data + off,
				    len - off < chunk ? len - off : chunk);
	cfs_fsverity_final(ctx, digest);
	assert_null(cfs_fsverity_free(ctx));
}

static void test_streaming_chunks(void **state)
{
	static const size_t chunks[] = { 1, 7, 4095, 4096, 4097, 65537 };
	static const size_t lens[] = { 0, 5, 4096, 2 * LEVEL1_SPAN + 12345 };

	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		uint8_t *data = make_pattern(lens[l], 7 + l);
		uint8_t expect[CFS_DIGEST_SIZE], got[CFS_DIGEST_SIZE];

		cfs_fsverity_digest_buffer(data, lens[l], expect);
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]);
		     c++) {
			digest_in_chunks(data, lens[l], chunks[c], got);
			assert_memory_equal(got, expect, CFS_DIGEST_SIZE);
		}

		/* uneven pieces, and empty updates on the way */
		{
			struct cfs_fsverity *ctx = cfs_fsverity_new();
			size_t off = 0;
			unsigned seed = 1;

			assert_non_null(ctx);
			while (off < lens[l]) {
				size_t n = rand_r(&seed) % 9000;

				if (n > lens[l] - off)
					n = lens[l] - off;
				cfs_fsverity_update(ctx, data + off, n);
				off += n;
			}
			cfs_fsverity_final(ctx, got);
			cfs_fsverity_free(ctx);
			assert_memory_equal(got, expect, CFS_DIGEST_SIZE);
		}
		free(data);
	}
}

/* n zeros fed the plain way: as bytes, in pieces. */
static void update_plain_zeros(struct cfs_fsverity *ctx, uint64_t n)
{
	static const uint8_t zeros[65536 + 3];

	while (n > 0) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);

		assert_int_equal(cfs_fsverity_update(ctx, zeros, k), 0);
		n -= k;
	}
}

/*
 * Runs of zeros fed as holes must give the digest of the same bytes fed
 * as data: runs of every alignment, within a block, across blocks, ending
 * a level-1 block, filling level-2 blocks whole (64 MiB), between pieces
 * of data and at the end.
 */
static void test_zero_runs(void **state)
{
	static const uint64_t runs[][4] = {
		{ 1, 0, 0, 0 },
		{ BLOCK, 0, 0, 0 },
		{ 100, BLOCK - 100, 0, 0 },
		{ 127 * BLOCK, BLOCK + 1, 0, 0 },
		{ 5, LEVEL1_SPAN, 7, 3 * LEVEL1_SPAN + 4095 },
		{ 0, LEVEL2_SPAN + 129 * BLOCK + 1, 0, 0 },
		{ 33, LEVEL2_SPAN + 2 * LEVEL1_SPAN - 33, 4096, 1 },
		{ 3000, 2 * LEVEL2_SPAN, 1, 0 },
	};
	uint8_t *data = make_pattern(3 * BLOCK, 5);

	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		struct cfs_fsverity *holes = cfs_fsverity_new();
		struct cfs_fsverity *plain = cfs_fsverity_new();
		uint8_t got[CFS_DIGEST_SIZE], expect[CFS_DIGEST_SIZE];

		assert_non_null(holes);
		assert_non_null(plain);
		/* data and zeros by turns: runs[i][0] bytes of data, then
		 * runs[i][1] zeros, and so on */
		for (size_t k = 0; k < 4; k++) {
			uint64_t n = runs[i][k];

			if (k % 2 == 0) {
				n = n % (3 * BLOCK);
				assert_int_equal(
					cfs_fsverity_update(holes, data, n), 0);
				assert_int_equal(
					cfs_fsverity_update(plain, data, n), 0);
			} else {
				assert_int_equal(
					cfsi_fsverity_update_zeros(holes, n),
					0);
				update_plain_zeros(plain, n);
			}
		}
		assert_int_equal(cfs_fsverity_final(holes, got), 0);
		assert_int_equal(cfs_fsverity_final(plain, expect), 0);
		assert_memory_equal(got, expect, CFS_DIGEST_SIZE);
		cfs_fsverity_free(holes);
		cfs_fsverity_free(plain);
	}
	free(data);
}

/* 2^53 bytes of zeros (the largest file an image describes) and 2^63 - 1
 * (the largest any filesystem has) in well under a second; a total past
 * 2^64 - 1 is refused. */
static void test_zero_runs_huge(void **state)
{
	static const uint64_t sizes[] = { 1ULL << 53, (1ULL << 63) - 1 };
	uint8_t digest[CFS_DIGEST_SIZE], again[CFS_DIGEST_SIZE];
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct cfs_fsverity *ctx = cfs_fsverity_new();

		assert_non_null(ctx);
		assert_int_equal(cfsi_fsverity_update_zeros(ctx, sizes[i]), 0);
		assert_int_equal(cfs_fsverity_final(ctx, digest), 0);
		cfs_fsverity_free(ctx);

		/* the same in two halves, the first ending mid-block */
		ctx = cfs_fsverity_new();
		assert_non_null(ctx);
		assert_int_equal(cfsi_fsverity_update_zeros(ctx, 12345), 0);
		assert_int_equal(
			cfsi_fsverity_update_zeros(ctx, sizes[i] - 12345), 0);
		assert_int_equal(cfs_fsverity_final(ctx, again), 0);
		cfs_fsverity_free(ctx);
		assert_memory_equal(digest, again, CFS_DIGEST_SIZE);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000000000L +
			    (t1.tv_nsec - t0.tv_nsec) <
		    100000000L);

	{
		struct cfs_fsverity *ctx = cfs_fsverity_new();

		assert_non_null(ctx);
		assert_int_equal(cfsi_fsverity_update_zeros(ctx, UINT64_MAX),
				 0);
		assert_int_equal(cfsi_fsverity_update_zeros(ctx, 1), -EFBIG);
		assert_int_equal(cfs_fsverity_final(ctx, digest), -EFBIG);
		cfs_fsverity_free(ctx);
	}
}

/* A sparse file's digest from its fd (holes skipped with SEEK_DATA)
 * equals fsverity(1)'s, which reads every byte, and the digest of the
 * same bytes fed plainly. */
static void test_fd_sparse(void **state)
{
	static const struct {
		off_t at;
		size_t len;
	} pieces[] = { { 0, 10 },
		       { 3 * BLOCK + 7, 5000 },
		       { LEVEL2_SPAN + 5, 2 * BLOCK },
		       { 3 * LEVEL2_SPAN - 100, 100 } };
	const off_t size = 3 * LEVEL2_SPAN + 12345;
	uint8_t *data = make_pattern(3 * BLOCK, 17);
	char ours[CFS_DIGEST_HEX_SIZE], theirs[CFS_DIGEST_HEX_SIZE];
	uint8_t expect[CFS_DIGEST_SIZE];
	struct cfs_fsverity *plain = cfs_fsverity_new();
	char path[PATH_MAX];
	uint64_t pos = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/sparse", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_non_null(plain);
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		assert_int_equal(pwrite(fd, data, pieces[i].len, pieces[i].at),
				 (ssize_t)pieces[i].len);
		update_plain_zeros(plain, (uint64_t)pieces[i].at - pos);
		assert_int_equal(
			cfs_fsverity_update(plain, data, pieces[i].len), 0);
		pos = (uint64_t)pieces[i].at + pieces[i].len;
	}
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(close(fd), 0);
	update_plain_zeros(plain, (uint64_t)size - pos);
	assert_int_equal(cfs_fsverity_final(plain, expect), 0);
	cfs_fsverity_free(plain);

	digest_hex_fd(path, ours);
	cfs_digest_to_hex(expect, theirs);
	assert_string_equal(ours, theirs);
	if (have_tool) {
		tool_digest(path, theirs);
		assert_string_equal(ours, theirs);
	}
	unlink(path);
	free(data);
	if (!have_tool)
		skip_without_tool(__func__);
}

static void test_fd(void **state)
{
	const size_t len = 3 * BLOCK + 100;
	uint8_t *data = make_pattern(len, 99);
	uint8_t expect[CFS_DIGEST_SIZE], got[CFS_DIGEST_SIZE];
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/fd", tmpdir);
	write_file(path, data, len);
	cfs_fsverity_digest_buffer(data, len, expect);

	/* the file position does not matter */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 1234, SEEK_SET), 1234);
	assert_int_equal(cfs_fsverity_digest_fd(fd, got), 0);
	assert_memory_equal(got, expect, CFS_DIGEST_SIZE);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 1234);

	/* fs-verity itself only where the kernel and filesystem have it */
	{
		int r = cfs_fsverity_measure_fd(fd, got);

		assert_true(r == -ENODATA || r == -EOPNOTSUPP);
		r = cfs_fsverity_enable_fd(fd);
		if (r == 0) {
			assert_int_equal(cfs_fsverity_measure_fd(fd, got), 0);
			assert_memory_equal(got, expect, CFS_DIGEST_SIZE);
			assert_int_equal(cfs_fsverity_enable_fd(fd), -EEXIST);
		} else {
			print_message("# fs-verity not available here: %s\n",
				      strerror(-r));
			assert_true(r < 0);
		}
	}
	close(fd);

	assert_int_equal(cfs_fsverity_digest_fd(-1, got), -EBADF);
	fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(cfs_fsverity_digest_fd(fd, got), -EISDIR);
	close(fd);

	unlink(path);
	free(data);
}

static void test_hex(void **state)
{
	uint8_t digest[CFS_DIGEST_SIZE], back[CFS_DIGEST_SIZE];
	char hex[CFS_DIGEST_HEX_SIZE], upper[CFS_DIGEST_HEX_SIZE];
	char bad[CFS_DIGEST_HEX_SIZE + 1];

	for (int i = 0; i < CFS_DIGEST_SIZE; i++)
		digest[i] = (uint8_t)(i * 37 + 5);
	cfs_digest_to_hex(digest, hex);
	assert_int_equal(strlen(hex), 64);
	assert_string_equal(hex, "052a4f7499bee3082d52779cc1e60b30"
				 "557a9fc4e90e33587da2c7ec11365b80");
	assert_int_equal(cfs_digest_from_hex(hex, back), 0);
	assert_memory_equal(back, digest, CFS_DIGEST_SIZE);

	for (int i = 0; i < 64; i++)
		upper[i] = (char)(hex[i] >= 'a' ? hex[i] - 'a' + 'A' : hex[i]);
	upper[64] = '\0';
	memset(back, 0, sizeof(back));
	assert_int_equal(cfs_digest_from_hex(upper, back), 0);
	assert_memory_equal(back, digest, CFS_DIGEST_SIZE);

	/* failures leave the output alone */
	memset(back, 0xaa, sizeof(back));
	memcpy(bad, hex, 63);
	bad[63] = '\0';
	assert_int_equal(cfs_digest_from_hex(bad, back), -EINVAL);
	memcpy(bad, hex, 64);
	bad[64] = '0';
	bad[65] = '\0';
	assert_int_equal(cfs_digest_from_hex(bad, back), -EINVAL);
	memcpy(bad, hex, 65);
	bad[10] = 'g';
	assert_int_equal(cfs_digest_from_hex(bad, back), -EINVAL);
	bad[10] = ' ';
	assert_int_equal(cfs_digest_from_hex(bad, back), -EINVAL);
	assert_int_equal(cfs_digest_from_hex("", back), -EINVAL);
	for (int i = 0; i < CFS_DIGEST_SIZE; i++)
		assert_int_equal(back[i], 0xaa);
}

static void test_object_path(void **state)
{
	uint8_t digest[CFS_DIGEST_SIZE];
	char hex[CFS_DIGEST_HEX_SIZE], path[CFS_OBJECT_PATH_SIZE];

	cfs_fsverity_digest_buffer("a", 1, digest);
	cfs_digest_to_hex(digest, hex);
	cfs_digest_to_object_path(digest, path);
	assert_string_equal(path, "bc/e75948b9e7510293f8f2720412af96"
				  "97c1479281323f3f220623fb8e94b557");
	assert_int_equal(strlen(path), CFS_OBJECT_PATH_SIZE - 1);
	assert_memory_equal(path, hex, 2);
	assert_int_equal(path[2], '/');
	assert_string_equal(path + 3, hex + 2);
}

static int setup(void **state)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test-fsverity-XXXXXX",
		 base && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	have_tool = find_in_path("fsverity");
	return 0;
}

/* Leaf hashes of many lengths and alignments, against SHA-256 of each
 * zero-padded block one at a time. */
static void check_hash_blocks(void)
{
	static const size_t blocks[] = { 0, 1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65 };
	static const size_t tails[] = { 0, 1, 100, 4095 };
	uint64_t seed = 77;
	size_t max = 66 * BLOCK;
	uint8_t *buf = malloc(max + 8);
	uint8_t *got = malloc(70 * 32);

	assert_non_null(buf);
	assert_non_null(got);
	fill_pattern(buf, max + 8, &seed);
	for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
		for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
			for (size_t align = 0; align < 8; align += 3) {
				size_t len = blocks[b] * BLOCK + tails[t];
				const uint8_t *p = buf + align;
				size_t n = (len + BLOCK - 1) / BLOCK;

				memset(got, 0xa5, 70 * 32);
				assert_int_equal(cfsi_fsverity_hash_blocks(
							 CFS_HASH_SHA256, p,
							 len, got),
						 0);
				for (size_t k = 0; k < n; k++) {
					uint8_t block[BLOCK] = { 0 };
					uint8_t want[32];
					size_t part = len - k * BLOCK < BLOCK ?
							      len - k * BLOCK :
							      BLOCK;

					memcpy(block, p + k * BLOCK, part);
					SHA256(block, BLOCK, want);
					assert_memory_equal(got + 32 * k, want,
							    32);
				}
				/* nothing written past the last hash */
				assert_int_equal(got[32 * n], 0xa5);
			}
		}
	}
	free(buf);
	free(got);
}

static void test_hash_blocks_generic(void **state)
{
	cfsi_sha256_force_generic(true);
	assert_int_equal(cfsi_sha256_4k_lanes(), 0);
	check_hash_blocks();
	cfsi_sha256_force_generic(false);
}

static void test_hash_blocks_lanes(void **state)
{
	if (cfsi_sha256_4k_lanes() == 0) {
		print_message("# this CPU has no SHA extensions: blocks are "
			      "hashed one at a time (tested above)\n");
		skip();
	}
	check_hash_blocks();
}

/* Digests through the two-lane hashing equal those of one block at a
 * time, fed in chunks that split blocks and pairs of blocks anywhere. */
static void test_lanes_same_digests(void **state)
{
	static const size_t sizes[] = { 4 * BLOCK, 5 * BLOCK - 1,
					LEVEL1_SPAN + 3 * BLOCK + 17,
					3 * LEVEL1_SPAN };
	static const size_t chunks[] = { 1000, 4 * BLOCK + 1, 1 << 20 };
	size_t max = 3 * LEVEL1_SPAN;
	uint8_t *buf = malloc(max);
	uint64_t seed = 5;

	if (cfsi_sha256_4k_lanes() == 0) {
		free(buf);
		print_message("# this CPU has no SHA extensions\n");
		skip();
	}
	assert_non_null(buf);
	fill_pattern(buf, max, &seed);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t want[CFS_DIGEST_SIZE], got[CFS_DIGEST_SIZE];

		cfsi_sha256_force_generic(true);
		assert_int_equal(
			cfs_fsverity_digest_buffer(buf, sizes[i], want), 0);
		cfsi_sha256_force_generic(false);
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]);
		     c++) {
			struct cfs_fsverity *ctx = cfs_fsverity_new();

			assert_non_null(ctx);
			for (size_t at = 0; at < sizes[i]; at += chunks[c])
				assert_int_equal(
					cfs_fsverity_update(
						ctx, buf + at,
						sizes[i] - at < chunks[c] ?
							sizes[i] - at :
							chunks[c]),
					0);
			assert_int_equal(cfs_fsverity_final(ctx, got), 0);
			cfs_fsverity_free(ctx);
			assert_memory_equal(got, want, CFS_DIGEST_SIZE);
		}
	}
	free(buf);
}

/* ------------------------------------------------------------------ */
/* SHA-512: 64 hashes to a block, so a level spans 256 KiB, two 16 MiB */

#define SHA512_LEVEL1_SPAN (64 * BLOCK)
#define SHA512_LEVEL2_SPAN (64 * SHA512_LEVEL1_SPAN)

static void tool_digest512(const char *path, char hex[CFS_DIGEST_HEX_MAX_SIZE])
{
	char cmd[PATH_MAX + 128];
	char line[256];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "fsverity digest --compact --hash-alg=sha512 "
		 "--block-size=4096 '%s'",
		 path);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	line[strcspn(line, "\n")] = '\0';
	assert_int_equal(strlen(line), 128);
	memcpy(hex, line, 129);
}

static void test_sha512_known(void **state)
{
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	char hex[CFS_DIGEST_HEX_MAX_SIZE];
	struct cfs_fsverity *ctx;

	/* from `fsverity digest --compact --hash-alg=sha512` of an empty
	 * file and of "a" */
	assert_int_equal(cfs_fsverity_digest_buffer_alg(CFS_HASH_SHA512, "", 0,
							digest),
			 0);
	cfs_digest_to_hex_alg(CFS_HASH_SHA512, digest, hex);
	assert_string_equal(hex, "ccf9e5aea1c2a64efa2f2354a6024b90"
				 "dffde6bbc017825045dce374474e13d1"
				 "0adb9dadcc6ca8e17a3c075fbd31336e"
				 "8f266ae6fa93a6c3bed66f9e784e5abf");
	ctx = cfs_fsverity_new_alg(CFS_HASH_SHA512);
	assert_non_null(ctx);
	assert_int_equal(cfs_fsverity_update(ctx, "a", 1), 0);
	assert_int_equal(cfs_fsverity_final(ctx, digest), 0);
	cfs_fsverity_free(ctx);
	cfs_digest_to_hex_alg(CFS_HASH_SHA512, digest, hex);
	assert_string_equal(hex, "829b82e4646ed8804b8481d26202f11d"
				 "afed5acde87623a34e9e813fed884e86"
				 "a787bb38095921f6128e2a53f116145b"
				 "4528b2bfe218c6df6717a03d0be90f4b");
	/* the default is SHA-256; an algorithm fs-verity lacks is refused */
	assert_int_equal(cfs_fsverity_digest_buffer_alg(CFS_HASH_DEFAULT, "a",
							1, digest),
			 0);
	cfs_digest_to_hex_alg(CFS_HASH_DEFAULT, digest, hex);
	assert_string_equal(hex, "bce75948b9e7510293f8f2720412af96"
				 "97c1479281323f3f220623fb8e94b557");
	errno = 0;
	assert_null(cfs_fsverity_new_alg(3));
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(cfs_fsverity_digest_buffer_alg(3, "a", 1, digest),
			 -EOPNOTSUPP);
}

/* Every way of computing a SHA-512 digest agrees with the others and
 * with fsverity-utils: buffer, fd, streaming in odd chunks, leaves and
 * the tree built from them. */
static void check_size512(size_t len, uint64_t seed)
{
	static const size_t chunks[] = { 7, 4097, 65536 };
	char path[PATH_MAX];
	char buf_hex[CFS_DIGEST_HEX_MAX_SIZE], fd_hex[CFS_DIGEST_HEX_MAX_SIZE];
	char theirs[CFS_DIGEST_HEX_MAX_SIZE];
	uint8_t want[CFS_DIGEST_MAX_SIZE], got[CFS_DIGEST_MAX_SIZE];
	uint8_t *data = make_pattern(len, seed);
	size_t n_leaves = (len + BLOCK - 1) / BLOCK;
	uint8_t *leaves = malloc(n_leaves ? n_leaves * 64 : 1);
	int fd;

	assert_non_null(leaves);
	snprintf(path, sizeof(path), "%s/sha512-%zu", tmpdir, len);
	write_file(path, data, len);
	assert_int_equal(cfs_fsverity_digest_buffer_alg(CFS_HASH_SHA512, data,
							len, want),
			 0);
	cfs_digest_to_hex_alg(CFS_HASH_SHA512, want, buf_hex);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(cfs_fsverity_digest_fd_alg(CFS_HASH_SHA512, fd, got),
			 0);
	close(fd);
	cfs_digest_to_hex_alg(CFS_HASH_SHA512, got, fd_hex);
	assert_string_equal(fd_hex, buf_hex);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct cfs_fsverity *ctx = cfs_fsverity_new_alg(
			CFS_HASH_SHA512);

		assert_non_null(ctx);
		for (size_t at = 0; at < len; at += chunks[c])
			assert_int_equal(
				cfs_fsverity_update(ctx, data + at,
						    len - at < chunks[c] ?
							    len - at :
							    chunks[c]),
				0);
		assert_int_equal(cfs_fsverity_final(ctx, got), 0);
		cfs_fsverity_free(ctx);
		assert_memory_equal(got, want, 64);
	}
	assert_int_equal(cfsi_fsverity_hash_blocks(CFS_HASH_SHA512, data, len,
						   leaves),
			 0);
	assert_int_equal(cfsi_fsverity_digest_from_leaves(
				 CFS_HASH_SHA512, leaves, n_leaves, len, got),
			 0);
	assert_memory_equal(got, want, 64);
	if (have_tool) {
		tool_digest512(path, theirs);
		assert_string_equal(buf_hex, theirs);
	}
	free(leaves);
	free(data);
	unlink(path);
}

static void test_sha512_sizes(void **state)
{
	static const size_t sizes[] = {
		0,
		1,
		4095,
		4096,
		4097,
		8192,
		SHA512_LEVEL1_SPAN - 1,
		SHA512_LEVEL1_SPAN,
		SHA512_LEVEL1_SPAN + 1,
		(1 << 20) + 1,
		SHA512_LEVEL2_SPAN,
		SHA512_LEVEL2_SPAN + 4096 * 3 + 17,
	};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_size512(sizes[i], 5000 + i);
	if (!have_tool)
		skip_without_tool(__func__);
}

/* Runs of zeros (a sparse file's holes) hashed in the tree's height give
 * the digest of the zeros fed as data, with SHA-512's 64-hash blocks. */
static void test_sha512_zero_runs(void **state)
{
	static const size_t lens[] = { 5, 4096, SHA512_LEVEL1_SPAN + 5,
				       SHA512_LEVEL2_SPAN + 3 * BLOCK };
	size_t max = SHA512_LEVEL2_SPAN + 3 * BLOCK;
	uint8_t *zeros = calloc(1, max);

	assert_non_null(zeros);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t want[CFS_DIGEST_MAX_SIZE], got[CFS_DIGEST_MAX_SIZE];
		struct cfs_fsverity *ctx = cfs_fsverity_new_alg(
			CFS_HASH_SHA512);

		assert_int_equal(cfs_fsverity_digest_buffer_alg(
					 CFS_HASH_SHA512, zeros, lens[i], want),
				 0);
		assert_non_null(ctx);
		/* a little data, then the rest as a hole */
		assert_int_equal(cfs_fsverity_update(ctx, zeros, 3), 0);
		assert_int_equal(cfsi_fsverity_update_zeros(ctx, lens[i] - 3),
				 0);
		assert_int_equal(cfs_fsverity_final(ctx, got), 0);
		cfs_fsverity_free(ctx);
		assert_memory_equal(got, want, 64);
	}
	free(zeros);
}

static void test_sha512_hex(void **state)
{
	uint8_t digest[CFS_DIGEST_MAX_SIZE], back[CFS_DIGEST_MAX_SIZE];
	char hex[CFS_DIGEST_HEX_MAX_SIZE], path[CFS_OBJECT_PATH_MAX_SIZE];
	enum cfs_hash_alg alg = 0;

	for (size_t i = 0; i < sizeof(digest); i++)
		digest[i] = (uint8_t)(i * 7 + 1);
	cfs_digest_to_hex_alg(CFS_HASH_SHA512, digest, hex);
	assert_int_equal(strlen(hex), 128);
	assert_int_equal(cfs_digest_from_hex_alg(CFS_HASH_SHA512, hex, back),
			 0);
	assert_memory_equal(back, digest, 64);
	assert_int_equal(cfs_digest_from_hex_any(hex, &alg, back), 0);
	assert_int_equal(alg, CFS_HASH_SHA512);
	/* a SHA-256 parse of 128 digits fails, and the other way round */
	assert_int_equal(cfs_digest_from_hex(hex, back), -EINVAL);
	assert_int_equal(cfs_digest_from_hex_alg(CFS_HASH_SHA256, hex, back),
			 -EINVAL);
	hex[64] = '\0';
	assert_int_equal(cfs_digest_from_hex_alg(CFS_HASH_SHA512, hex, back),
			 -EINVAL);
	assert_int_equal(cfs_digest_from_hex_any(hex, &alg, back), 0);
	assert_int_equal(alg, CFS_HASH_SHA256);
	hex[63] = '\0';
	assert_int_equal(cfs_digest_from_hex_any(hex, &alg, back), -EINVAL);

	cfs_digest_to_object_path_alg(CFS_HASH_SHA512, digest, path);
	assert_int_equal(strlen(path), 129);
	assert_int_equal(path[2], '/');
	cfs_digest_to_hex_alg(CFS_HASH_SHA512, digest, hex);
	assert_memory_equal(path, hex, 2);
	assert_string_equal(path + 3, hex + 2);
}

static int teardown(void **state)
{
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_digests),
		cmocka_unit_test(test_fixed_sizes),
		cmocka_unit_test(test_random_sizes),
		cmocka_unit_test(test_three_levels),
		cmocka_unit_test(test_streaming_chunks),
		cmocka_unit_test(test_fd),
		cmocka_unit_test(test_zero_runs),
		cmocka_unit_test(test_zero_runs_huge),
		cmocka_unit_test(test_fd_sparse),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_object_path),
		cmocka_unit_test(test_hash_blocks_generic),
		cmocka_unit_test(test_hash_blocks_lanes),
		cmocka_unit_test(test_lanes_same_digests),
		cmocka_unit_test(test_sha512_known),
		cmocka_unit_test(test_sha512_sizes),
		cmocka_unit_test(test_sha512_zero_runs),
		cmocka_unit_test(test_sha512_hex),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
