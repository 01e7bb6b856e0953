/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "composefs-c/composefs.h"
#include "tool.h"

const char *tool_name = "composefs";
int tool_usage_status = EXIT_FAILURE;

static struct tool_output *pending_output;
/* The temporary file's name again, for the signal handler: a plain buffer
 * it can read at any moment. Cleared once the file is renamed or gone (an
 * unlink of a name already renamed fails harmlessly). */
static char signal_tmp_path[PATH_MAX];

static void remove_on_signal(int sig)
{
	int saved = errno;

	if (signal_tmp_path[0] != '\0')
		(void)unlink(signal_tmp_path);
	errno = saved;
	/* then die of the signal, as without this handler */
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The handler never sees half a name: the signals wait meanwhile. */
static void set_signal_tmp_path(const char *path)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	memcpy(signal_tmp_path, path, strlen(path) + 1);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A tool killed while writing its output leaves no temporary file. */
static void catch_fatal_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	static bool done;
	struct sigaction sa = { .sa_handler = remove_on_signal };

	if (done)
		return;
	done = true;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old;

		/* a signal ignored by the caller (nohup) stays ignored */
		if (sigaction(sigs[i], NULL, &old) == 0 &&
		    old.sa_handler != SIG_IGN)
			(void)sigaction(sigs[i], &sa, NULL);
	}
}

static void remove_pending_output(void)
{
	if (pending_output != NULL)
		tool_output_abort(pending_output);
}

void tool_init(const char *name)
{
	tool_name = name;
	atexit(remove_pending_output);
}

static void vmessage(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", tool_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void tool_die(const char *fmt, ...)
{
	va_list ap;

	/* what was printed so far comes before the message */
	fflush(stdout);
	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	exit(EXIT_FAILURE);
}

void tool_bad_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", tool_name);
	exit(tool_usage_status);
}

int tool_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	return EXIT_FAILURE;
}

void tool_print_version(void)
{
	printf("%s (composefs-c) %s\n"
	       "implements composefs %s: the libcomposefs API, its tools' "
	       "options, image formats 0 and 1\n",
	       tool_name, cfs_version(), CFS_LCFS_API_VERSION);
}

void tool_common_option(int opt, void (*usage)(FILE *out))
{
	switch (opt) {
	case TOOL_OPT_HELP:
		usage(stdout);
		exit(fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
	case TOOL_OPT_VERSION:
		tool_print_version();
		exit(fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
	default:
		fprintf(stderr, "Try '%s --help' for more information.\n",
			tool_name);
		exit(tool_usage_status);
	}
}

/* Where a symlink to a file still to be made points. */
static char *link_target(const char *path)
{
	char target[4096], *out = NULL;
	const char *slash = strrchr(path, '/');
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n < 0)
		return NULL;
	target[n] = '\0';
	if (target[0] == '/' || slash == NULL)
		return strdup(target);
	if (asprintf(&out, "%.*s%s", (int)(slash - path + 1), path, target) < 0)
		return NULL;
	return out;
}

int tool_output_open(struct tool_output *o, const char *dest)
{
	const char *slash;
	char dir[PATH_MAX];
	struct stat st;
	int r;

	*o = (struct tool_output){ .fd = -1, .dir_fd = -1 };
	if (strcmp(dest, "-") == 0) {
		o->fd = STDOUT_FILENO;
		return 0;
	}
	if (stat(dest, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		o->fd = open(dest, O_WRONLY | O_CLOEXEC);
		return o->fd < 0 ? -errno : 0;
	}
	o->path = realpath(dest, NULL);
	if (o->path == NULL && lstat(dest, &st) == 0 && S_ISLNK(st.st_mode))
		o->path = link_target(dest);
	if (o->path == NULL)
		o->path = strdup(dest);
	if (o->path == NULL)
		return -ENOMEM;
	slash = strrchr(o->path, '/');
	if (strlen(o->path) + CFS_TMPFILE_NAME_SIZE + 1 >=
	    sizeof(signal_tmp_path))
		return -ENAMETOOLONG;
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == o->path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - o->path),
			 o->path);
	o->name = slash ? slash + 1 : o->path;
	o->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->dir_fd < 0)
		return -errno;
	catch_fatal_signals();
	r = cfs_tmpfile_create(o->dir_fd, &o->tmp);
	if (r < 0) {
		(void)close(o->dir_fd);
		o->dir_fd = -1;
		return r;
	}
	o->fd = o->tmp.fd;
	/* An anonymous file goes with the process, however it dies; a named
	 * one is removed by the signal handler or at exit. */
	if (o->tmp.named) {
		/* fits: the length of o->path was checked above */
		char path[PATH_MAX + CFS_TMPFILE_NAME_SIZE + 1];

		snprintf(path, sizeof(path), "%s/%s", dir, o->tmp.name);
		set_signal_tmp_path(path);
	}
	pending_output = o;
	return 0;
}

void tool_output_abort(struct tool_output *o)
{
	signal_tmp_path[0] = '\0'; /* one byte: never seen half done */
	if (o->dir_fd >= 0) {
		cfs_tmpfile_discard(&o->tmp, o->dir_fd);
		(void)close(o->dir_fd);
	} else if (o->fd > STDOUT_FILENO) {
		close(o->fd);
	}
	free(o->path);
	*o = (struct tool_output){ .fd = -1, .dir_fd = -1 };
	if (pending_output == o)
		pending_output = NULL;
}

/* The process umask, read without changing it (umask(2) can only be read
 * by setting it, which another thread's file creation could observe). */
static mode_t current_umask(void)
{
	char line[128];
	mode_t mask;
	FILE *f = fopen("/proc/self/status", "re");

	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			unsigned v;

			if (sscanf(line, "Umask: %o", &v) == 1) {
				fclose(f);
				return (mode_t)v & 0777;
			}
		}
		fclose(f);
	}
	/* no /proc (or a kernel before 4.7): the old way */
	mask = umask(0);
	umask(mask);
	return mask;
}

int tool_output_commit(struct tool_output *o)
{
	mode_t mask = current_umask();
	int r = 0;

	if (o->dir_fd < 0) {
		if (o->fd > STDOUT_FILENO && close(o->fd) < 0)
			r = -errno;
		else if (o->fd == STDOUT_FILENO && fflush(stdout) != 0)
			r = -errno;
		o->fd = -1;
		tool_output_abort(o);
		return r;
	}
	/* the temporary file is 0600; the result is as readable as any new
	 * file */
	if (fchmod(o->fd, 0666 & ~mask) < 0 || fsync(o->fd) < 0)
		r = -errno;
	if (r == 0)
		r = cfs_tmpfile_link(&o->tmp, o->dir_fd, o->name, true);
	tool_output_abort(o);
	return r < 0 ? r : 0;
}

cfs_progress_fn tool_progress_fn(void)
{
	return isatty(STDERR_FILENO) ? tool_progress_update : NULL;
}

void tool_progress_update(void *data, uint64_t done, uint64_t total)
{
	struct tool_progress *p = data;
	struct timespec now;

	p->done = done;
	p->total = total;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - p->last.tv_sec) * 1000000000L + now.tv_nsec -
		    p->last.tv_nsec <
	    100000000L)
		return;
	p->last = now;
	p->shown = true;
	fprintf(stderr, "\r%s: %llu of %llu %s", tool_name,
		(unsigned long long)done, (unsigned long long)total, p->what);
}

void tool_progress_end(struct tool_progress *p)
{
	if (p->shown)
		fprintf(stderr, "\r%s: %llu of %llu %s\n", tool_name,
			(unsigned long long)p->done,
			(unsigned long long)p->total, p->what);
}

long tool_parse_number(const char *arg, const char *what, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		tool_bad_usage("invalid %s '%s' (expected %ld to %ld)", what,
			       arg, min, max);
	return v;
}

bool tool_build_option(struct tool_build *b, int opt, const char *arg)
{
	switch (opt) {
	case TOOL_OPT_SKIP_XATTRS:
		b->build.flags |= CFS_BUILD_SKIP_XATTRS;
		return true;
	case TOOL_OPT_USER_XATTRS:
		b->build.flags |= CFS_BUILD_USER_XATTRS;
		return true;
	case TOOL_OPT_SKIP_DEVICES:
		b->build.flags |= CFS_BUILD_SKIP_DEVICES;
		return true;
	case TOOL_OPT_USE_EPOCH:
		b->build.flags |= CFS_BUILD_USE_EPOCH;
		return true;
	case TOOL_OPT_HARDLINKS:
		b->build.flags |= CFS_BUILD_HARDLINKS;
		return true;
	case TOOL_OPT_FROM_FILE:
		b->from_file = true;
		return true;
	case TOOL_OPT_MIN_VERSION:
		b->version_set = true;
		b->min_version = tool_parse_number(arg, "min version", 0,
						   CFS_VERSION_MAX);
		return true;
	case TOOL_OPT_MAX_VERSION:
		b->version_set = true;
		b->max_version = tool_parse_number(arg, "max version", 0,
						   CFS_VERSION_MAX);
		return true;
	case TOOL_OPT_THREADS:
		b->build.threads = (unsigned)tool_parse_number(
			arg, "thread count", 1, 4096);
		return true;
	default:
		return false;
	}
}

void tool_build_finish(struct tool_build *b)
{
	if (b->version_set) {
		/* As the reference: naming either bound resets the other. */
		b->write.min_version = (uint32_t)b->min_version;
		b->write.max_version = (uint32_t)b->max_version;
	}
	if (b->from_file && (b->build.flags & CFS_BUILD_HARDLINKS))
		tool_bad_usage(
			"--hardlinks applies to a source directory only");
}

void tool_build_usage(FILE *out)
{
	fprintf(out,
		"  --use-epoch           set every mtime to 0\n"
		"  --skip-devices        leave out block and character devices\n"
		"  --skip-xattrs         store no xattrs\n"
		"  --user-xattrs         store only user.* xattrs\n"
		"  --from-file           SOURCE is a composefs-dump file\n"
		"  --min-version=N       lowest format version to write (default %d)\n"
		"  --max-version=N       highest format version to write (default %d)\n"
		"  --threads=N           worker threads for digests and copies\n"
		"                        (default: twice the CPUs, 4 to 64)\n"
		"  --hardlinks           keep hard links in SOURCE as hard links\n",
		CFS_DEFAULT_VERSION_MIN, CFS_DEFAULT_VERSION_MAX);
}

void tool_check_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		tool_die("writing to standard output: %s", strerror(errno));
}

void tool_human_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "B",   "KiB", "MiB",
					     "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

bool tool_split_oci_ref(char *ref, char **ret_dir, char **ret_tag)
{
	char *colon;

	if (strncmp(ref, "oci:", 4) != 0)
		return false;
	ref += 4;
	colon = strchr(ref, ':');
	if (colon != NULL)
		*colon++ = '\0';
	if (ref[0] == '\0')
		return false;
	*ret_dir = ref;
	*ret_tag = colon != NULL && colon[0] != '\0' ? colon : NULL;
	return true;
}

bool tool_in_initial_userns(void)
{
	unsigned long inside, outside, count;
	FILE *f = fopen("/proc/self/uid_map", "re");
	bool initial = true; /* without /proc, as before namespaces */

	if (f == NULL)
		return true;
	if (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) != 3 ||
	    inside != 0 || outside != 0 || count != 4294967295ul)
		initial = false;
	fclose(f);
	return initial;
}
