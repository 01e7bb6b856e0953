/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Replay a fuzz corpus without libFuzzer: each argument is an input file or
 * a directory of them (read in name order; NAME.gz files decompressed),
 * each input goes once through the target's LLVMFuzzerTestOneInput(). TAP
 * output, one line per input; a crash or a sanitizer report ends the
 * run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

static int count;

/* A stream of the file's bytes; of its decompressed bytes when it ends in
 * ".gz" (images, mostly zeros, are kept compressed), through gzip(1). */
static FILE *open_input(const char *path, pid_t *ret_pid)
{
	char *argv[] = { "gzip", "-dc", "--", (char *)path, NULL };
	posix_spawn_file_actions_t actions;
	size_t len = strlen(path);
	int fds[2], r;
	pid_t pid;

	*ret_pid = -1;
	if (len < 3 || strcmp(path + len - 3, ".gz") != 0)
		return fopen(path, "rbe");
	if (access(path, R_OK) < 0 || pipe2(fds, O_CLOEXEC) < 0)
		return NULL;
	/* posix_spawn, not fork: copying a sanitized process' huge mappings
	 * for each input would take most of the run */
	if (posix_spawn_file_actions_init(&actions) != 0)
		abort();
	posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
	r = posix_spawnp(&pid, "gzip", &actions, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	close(fds[1]);
	if (r != 0) {
		close(fds[0]);
		errno = r;
		return NULL;
	}
	*ret_pid = pid;
	return fdopen(fds[0], "rb");
}

static int replay_file(const char *path)
{
	uint8_t *data = NULL, *exact;
	size_t size = 0, cap = 0, n;
	int status = 0;
	pid_t pid;
	FILE *f = open_input(path, &pid);

	if (f == NULL) {
		printf("not ok %d - %s: %s\n", ++count, path, strerror(errno));
		return 1;
	}
	do {
		if (size == cap) {
			cap = cap ? cap * 2 : 65536;
			data = realloc(data, cap);
			if (data == NULL)
				abort();
		}
		n = fread(data + size, 1, cap - size, f);
		size += n;
	} while (n > 0);
	fclose(f);
	if (pid > 0 && (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
			WEXITSTATUS(status) != 0)) {
		printf("not ok %d - %s: gzip -dc failed\n", ++count, path);
		free(data);
		return 1;
	}
	/* an exact copy: the sanitizers see a read one byte past the end */
	exact = malloc(size > 0 ? size : 1);
	if (exact == NULL)
		abort();
	memcpy(exact, data, size);
	free(data);
	LLVMFuzzerTestOneInput(exact, size);
	free(exact);
	printf("ok %d - %s\n", ++count, path);
	fflush(stdout);
	return 0;
}

static int replay_dir(const char *path)
{
	struct dirent **entries = NULL;
	int n = scandir(path, &entries, NULL, alphasort), failed = 0;

	if (n < 0) {
		printf("not ok %d - %s: %s\n", ++count, path, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char *file;

		if (entries[i]->d_name[0] != '.' &&
		    asprintf(&file, "%s/%s", path, entries[i]->d_name) >= 0) {
			failed |= replay_file(file);
			free(file);
		}
		free(entries[i]);
	}
	free(entries);
	return failed;
}

int main(int argc, char **argv)
{
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			failed |= replay_dir(argv[i]);
		else
			failed |= replay_file(argv[i]);
	}
	printf("1..%d\n", count);
	return failed;
}
