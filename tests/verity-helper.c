/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * verity-helper: the fs-verity steps of the VM test (tests/vm-verity.sh)
 * that no tool of ours does on its own, through the library's calls.
 *
 *   verity-helper enable [--sha512] FILE...
 *                                  enable fs-verity on each FILE
 *                                  (cfs_fsverity_enable_fd_alg; SHA-256
 *                                  unless --sha512)
 *   verity-helper measure FILE...  print the kernel's fs-verity digest of
 *                                  each FILE, of whichever algorithm it
 *                                  has (cfs_fsverity_measure_fd_alg: 64
 *                                  hex digits for SHA-256, 128 for
 *                                  SHA-512)
 *   verity-helper block FILE N     print the number of the filesystem block
 *                                  (4096 bytes) holding the file's block N
 *   verity-helper read FILE        read FILE in 4096-byte blocks; print
 *                                  "ok SIZE", or "open: ERRNO" or
 *                                  "read block N: ERRNO" where it fails
 *
 * and the library's fs-verity signatures, for tests/verity-sig.sh, of a
 * digest given as ALG:HEX (sha256 or sha512):
 *
 *   verity-helper formatted ALG:HEX     write the formatted digest to
 *                                       stdout
 *   verity-helper sign ALG:HEX KEY CERT write the signature (DER) to
 *                                       stdout (cfs_verity_sign)
 *   verity-helper verify ALG:HEX SIG CERT...
 *                                       check SIG (cfs_verity_verify);
 *                                       prints "ok", or the refusal and
 *                                       exits 1
 *
 * Exit status 0 on success, 1 on failure, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "composefs-c/composefs.h"

#define FS_BLOCK 4096u /* linux/fs.h has a BLOCK_SIZE of its own */

static const char *prog = "verity-helper";

static int usage(void)
{
	fprintf(stderr,
		"Usage: %s enable [--sha512] FILE...\n"
		"       %s measure FILE...\n"
		"       %s block FILE N\n"
		"       %s read FILE\n"
		"       %s formatted ALG:HEX\n"
		"       %s sign ALG:HEX KEY CERT >SIG\n"
		"       %s verify ALG:HEX SIG CERT...\n",
		prog, prog, prog, prog, prog, prog, prog);
	return 2;
}

static int fail(const char *what, const char *file, int errnum)
{
	fprintf(stderr, "%s: %s '%s': %s\n", prog, what, file,
		strerror(errnum));
	return 1;
}

static int enable_files(char **files, int n)
{
	enum cfs_hash_alg alg = CFS_HASH_SHA256;

	if (n > 0 && strcmp(files[0], "--sha512") == 0) {
		alg = CFS_HASH_SHA512;
		files++;
		n--;
	}
	for (int i = 0; i < n; i++) {
		int fd = open(files[i], O_RDONLY | O_CLOEXEC), r;

		if (fd < 0)
			return fail("cannot open", files[i], errno);
		r = cfs_fsverity_enable_fd_alg(fd, alg);
		close(fd);
		if (r < 0)
			return fail("cannot enable fs-verity on", files[i], -r);
	}
	return 0;
}

static int measure_files(char **files, int n)
{
	for (int i = 0; i < n; i++) {
		uint8_t digest[CFS_DIGEST_MAX_SIZE];
		char hex[CFS_DIGEST_HEX_MAX_SIZE];
		enum cfs_hash_alg alg = CFS_HASH_SHA256;
		int fd = open(files[i], O_RDONLY | O_CLOEXEC), r;

		if (fd < 0)
			return fail("cannot open", files[i], errno);
		r = cfs_fsverity_measure_fd_alg(fd, alg, digest);
		if (r == -EBADMSG) {
			alg = CFS_HASH_SHA512;
			r = cfs_fsverity_measure_fd_alg(fd, alg, digest);
		}
		close(fd);
		if (r < 0)
			return fail("cannot measure", files[i], -r);
		cfs_digest_to_hex_alg(alg, digest, hex);
		printf("%s\n", hex);
	}
	return 0;
}

/* The physical block behind logical block n, from the file's extent map
 * (synced first, so that delayed allocation has placed it). */
static int print_block(const char *file, const char *n_arg)
{
	struct {
		struct fiemap map;
		struct fiemap_extent extent;
	} fm;
	const struct fiemap_extent *e = &fm.extent;
	char *end;
	unsigned long long n;
	uint64_t offset;
	int fd;

	errno = 0;
	n = strtoull(n_arg, &end, 10);
	if (errno != 0 || end == n_arg || *end != '\0')
		return usage();
	offset = (uint64_t)n * FS_BLOCK;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("cannot open", file, errno);
	memset(&fm, 0, sizeof(fm));
	fm.map.fm_start = offset;
	fm.map.fm_length = FS_BLOCK;
	fm.map.fm_flags = FIEMAP_FLAG_SYNC;
	fm.map.fm_extent_count = 1;
	if (ioctl(fd, FS_IOC_FIEMAP, &fm.map) != 0) {
		int errnum = errno;

		close(fd);
		return fail("cannot map the blocks of", file, errnum);
	}
	close(fd);
	if (fm.map.fm_mapped_extents != 1 || e->fe_logical > offset ||
	    offset - e->fe_logical >= e->fe_length ||
	    (e->fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_ENCODED |
			    FIEMAP_EXTENT_DATA_INLINE)) != 0) {
		fprintf(stderr,
			"%s: block %llu of '%s' has no block of its own\n",
			prog, n, file);
		return 1;
	}
	printf("%llu\n", (unsigned long long)((e->fe_physical +
					       (offset - e->fe_logical)) /
					      FS_BLOCK));
	return 0;
}

/* Read block by block, so that a failure names the block it is in. The
 * errno is printed by name: that is what the test checks. */
static int read_file(const char *file)
{
	static char buf[FS_BLOCK];
	uint64_t size = 0;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		printf("open: %s\n", strerrorname_np(errno));
		return 1;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			printf("read block %" PRIu64 ": %s\n", size / FS_BLOCK,
			       strerrorname_np(errno));
			close(fd);
			return 1;
		}
		if (n == 0)
			break;
		size += n;
	}
	close(fd);
	printf("ok %" PRIu64 "\n", size);
	return 0;
}

/* "sha256:HEX" or "sha512:HEX" */
static int parse_digest(const char *arg, enum cfs_hash_alg *alg,
			uint8_t digest[64])
{
	const char *hex = strchr(arg, ':');
	size_t size, len;

	if (hex == NULL)
		return -1;
	if (strncmp(arg, "sha256:", 7) == 0)
		*alg = CFS_HASH_SHA256, size = 32;
	else if (strncmp(arg, "sha512:", 7) == 0)
		*alg = CFS_HASH_SHA512, size = 64;
	else
		return -1;
	hex++;
	len = strlen(hex);
	if (len != 2 * size)
		return -1;
	for (size_t i = 0; i < size; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		digest[i] = (uint8_t)v;
	}
	return 0;
}

static int signatures(int argc, char **argv)
{
	uint8_t digest[64], formatted[CFS_VERITY_FORMATTED_MAX];
	struct cfs_error err = { { 0 } };
	enum cfs_hash_alg alg;
	int r;

	if (parse_digest(argv[2], &alg, digest) < 0)
		return usage();
	if (strcmp(argv[1], "formatted") == 0 && argc == 3) {
		r = cfs_verity_formatted_digest(alg, digest, formatted);
		if (r < 0)
			return fail("cannot format", argv[2], -r);
		fwrite(formatted, 1, (size_t)r, stdout);
		return 0;
	}
	if (strcmp(argv[1], "sign") == 0 && argc == 5) {
		uint8_t *sig = NULL;
		size_t len = 0;

		r = cfs_verity_sign(alg, digest, argv[3], argv[4], &sig, &len,
				    &err);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", prog, err.message);
			return 1;
		}
		fwrite(sig, 1, len, stdout);
		free(sig);
		return 0;
	}
	if (strcmp(argv[1], "verify") == 0 && argc >= 5) {
		static uint8_t sig[65536];
		size_t len;
		FILE *f = fopen(argv[3], "rb");

		if (f == NULL)
			return fail("cannot open", argv[3], errno);
		len = fread(sig, 1, sizeof(sig), f);
		fclose(f);
		r = cfs_verity_verify(alg, digest, sig, len,
				      (const char *const *)argv + 4,
				      (size_t)(argc - 4), &err);
		if (r < 0) {
			printf("refused (%s): %s\n", strerrorname_np(-r),
			       err.message);
			return 1;
		}
		printf("ok\n");
		return 0;
	}
	return usage();
}

int main(int argc, char **argv)
{
	const char *command;
	int r;

	if (argc < 3)
		return usage();
	command = argv[1];
	if (strcmp(command, "formatted") == 0 || strcmp(command, "sign") == 0 ||
	    strcmp(command, "verify") == 0)
		r = signatures(argc, argv);
	else if (strcmp(command, "enable") == 0)
		r = enable_files(argv + 2, argc - 2);
	else if (strcmp(command, "measure") == 0)
		r = measure_files(argv + 2, argc - 2);
	else if (strcmp(command, "block") == 0 && argc == 4)
		r = print_block(argv[2], argv[3]);
	else if (strcmp(command, "read") == 0 && argc == 3)
		r = read_file(argv[2]);
	else
		return usage();
	if (fflush(stdout) != 0 || ferror(stdout))
		return fail("cannot write", "standard output", errno);
	return r;
}
