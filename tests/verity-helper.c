/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * verity-helper: the fs-verity steps of the VM test (tests/vm-verity.sh)
 * that no tool of ours does on its own, through the library's calls.
 *
 *   verity-helper enable FILE...   enable fs-verity on each FILE
 *                                  (cfs_fsverity_enable_fd)
 *   verity-helper measure FILE...  print the kernel's fs-verity digest of
 *                                  each FILE (cfs_fsverity_measure_fd)
 *   verity-helper block FILE N     print the number of the filesystem block
 *                                  (4096 bytes) holding the file's block N
 *   verity-helper read FILE        read FILE in 4096-byte blocks; print
 *                                  "ok SIZE", or "open: ERRNO" or
 *                                  "read block N: ERRNO" where it fails
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
		"Usage: %s enable FILE...\n"
		"       %s measure FILE...\n"
		"       %s block FILE N\n"
		"       %s read FILE\n",
		prog, prog, prog, prog);
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
	for (int i = 0; i < n; i++) {
		int fd = open(files[i], O_RDONLY | O_CLOEXEC), r;

		if (fd < 0)
			return fail("cannot open", files[i], errno);
		r = cfs_fsverity_enable_fd(fd);
		close(fd);
		if (r < 0)
			return fail("cannot enable fs-verity on", files[i], -r);
	}
	return 0;
}

static int measure_files(char **files, int n)
{
	for (int i = 0; i < n; i++) {
		uint8_t digest[CFS_DIGEST_SIZE];
		char hex[CFS_DIGEST_HEX_SIZE];
		int fd = open(files[i], O_RDONLY | O_CLOEXEC), r;

		if (fd < 0)
			return fail("cannot open", files[i], errno);
		r = cfs_fsverity_measure_fd(fd, digest);
		close(fd);
		if (r < 0)
			return fail("cannot measure", files[i], -r);
		cfs_digest_to_hex(digest, hex);
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

int main(int argc, char **argv)
{
	const char *command;
	int r;

	if (argc < 3)
		return usage();
	command = argv[1];
	if (strcmp(command, "enable") == 0)
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
