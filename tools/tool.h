/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/* What every command-line tool shares: messages, exit codes, output files. */
#ifndef CFS_TOOL_H
#define CFS_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "composefs-c/composefs.h"

/* The tool's name in messages ("mkcomposefs: ..."); set by tool_init. */
extern const char *tool_name;
/* The exit status of bad usage: 1, as the reference implementation's
 * tools exit (mkcomposefs, composefs-info, composefs-dump, composefs-fuse,
 * mount.composefs); the composefs command, which it does not have, sets 2
 * before anything else. */
extern int tool_usage_status;

void tool_init(const char *name);

/* "NAME: message" on stderr, then exit 1. */
void tool_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* "NAME: message" and a pointer to --help on stderr, then exit with
 * tool_usage_status. */
void tool_bad_usage(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* "NAME: message" on stderr; returns 1, the failure exit status. */
int tool_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Whatever was written to stdout reached it (flushed, no error); dies
 * otherwise. */
void tool_check_stdout(void);
/* bytes for people: "512 B", "1.5 KiB", "2.0 GiB"... */
void tool_human_size(uint64_t bytes, char *buf, size_t size);
/* "oci:DIR[:TAG]" split in place into DIR and TAG (NULL when none or
 * empty): false when ref is not of that form (no "oci:", or no DIR). DIR
 * may not hold a ':', as in skopeo's own syntax. */
bool tool_split_oci_ref(char *ref, char **ret_dir, char **ret_tag);
/* Whether this process is in the initial user namespace (its uid_map
 * maps every uid to itself): false in one of unshare -U's. */
bool tool_in_initial_userns(void);
/* "NAME (composefs-c) VERSION" and the libcomposefs level implemented, on
 * stdout. */
void tool_print_version(void);

/*
 * The long options every tool takes. A tool numbers its own options from
 * TOOL_OPT_FIRST, ends its table with TOOL_LONGOPTS and passes whatever
 * getopt_long returned that is not its own to tool_common_option.
 */
enum {
	TOOL_OPT_HELP = 0x1000,
	TOOL_OPT_VERSION,
	/* the options of building an image (TOOL_BUILD_LONGOPTS) */
	TOOL_OPT_SKIP_XATTRS,
	TOOL_OPT_USER_XATTRS,
	TOOL_OPT_SKIP_DEVICES,
	TOOL_OPT_USE_EPOCH,
	TOOL_OPT_FROM_FILE,
	TOOL_OPT_MIN_VERSION,
	TOOL_OPT_MAX_VERSION,
	TOOL_OPT_THREADS,
	TOOL_OPT_HARDLINKS,
	TOOL_OPT_FIRST,
};
/* clang-format off */
#define TOOL_LONGOPTS \
	{ "help", no_argument, NULL, TOOL_OPT_HELP }, \
	{ "version", no_argument, NULL, TOOL_OPT_VERSION }, \
	{ NULL, 0, NULL, 0 }
/* What mkcomposefs and composefs add take alike, before TOOL_LONGOPTS. */
#define TOOL_BUILD_LONGOPTS \
	{ "skip-xattrs", no_argument, NULL, TOOL_OPT_SKIP_XATTRS }, \
	{ "user-xattrs", no_argument, NULL, TOOL_OPT_USER_XATTRS }, \
	{ "skip-devices", no_argument, NULL, TOOL_OPT_SKIP_DEVICES }, \
	{ "use-epoch", no_argument, NULL, TOOL_OPT_USE_EPOCH }, \
	{ "from-file", no_argument, NULL, TOOL_OPT_FROM_FILE }, \
	{ "min-version", required_argument, NULL, TOOL_OPT_MIN_VERSION }, \
	{ "max-version", required_argument, NULL, TOOL_OPT_MAX_VERSION }, \
	{ "threads", required_argument, NULL, TOOL_OPT_THREADS }, \
	{ "hardlinks", no_argument, NULL, TOOL_OPT_HARDLINKS }
/* clang-format on */

/* How to build an image, as the build options say. */
struct tool_build {
	struct cfs_build_options build;
	struct cfs_write_options write;
	bool from_file;
	bool version_set;
	long min_version, max_version;
};
#define TOOL_BUILD_INIT                                                        \
	{                                                                      \
		.write = { CFS_DEFAULT_VERSION_MIN, CFS_DEFAULT_VERSION_MAX }  \
	}
/* Take opt (with its argument arg) when it is a build option: true. */
bool tool_build_option(struct tool_build *b, int opt, const char *arg);
/* After the options: the version bounds settled, conflicts refused. */
void tool_build_finish(struct tool_build *b);
/* The help lines of the build options. */
void tool_build_usage(FILE *out);

/* A number from min to max, else a usage error naming what it is. */
long tool_parse_number(const char *arg, const char *what, long min, long max);

/* --help: usage(stdout), exit 0; --version: exit 0; anything else
 * (getopt_long has said what): a pointer to --help, exit 2. */
void tool_common_option(int opt, void (*usage)(FILE *out))
	__attribute__((noreturn));

/*
 * An output file written whole or not at all: an anonymous file (or, where
 * the filesystem has none, a temporary name) beside the destination, linked
 * over it once complete. "-" is stdout; a destination that is a device or a
 * pipe is written in place; a symlink is followed (also to a file still to
 * be made). After tool_output_open, nothing is left behind if the tool
 * exits or is killed without tool_output_commit.
 */
struct tool_output {
	char *path; /* final name, NULL when written in place */
	const char *name; /* its last component */
	int dir_fd; /* its directory, -1 when written in place */
	struct cfs_tmpfile tmp;
	int fd;
};

/* 0 or -errno (-EISDIR for a directory). */
int tool_output_open(struct tool_output *o, const char *dest);
/* Make it visible (fsync'd, mode 0666 less umask); 0 or -errno, in which
 * case nothing was replaced. */
int tool_output_commit(struct tool_output *o);
/* Drop it: the temporary file is removed. */
void tool_output_abort(struct tool_output *o);

/*
 * A progress line on stderr ("NAME: DONE of TOTAL WHAT"), at most ten
 * updates a second, only when stderr is a terminal. tool_progress_update
 * has the shape of cfs_progress_fn (userdata is the struct); its caller
 * serialises the calls.
 */
struct tool_progress {
	const char *what; /* "files digested" */
	bool shown;
	uint64_t done, total;
	struct timespec last;
};
/* The callback to use, or NULL when stderr is not a terminal. */
cfs_progress_fn tool_progress_fn(void);
void tool_progress_update(void *data, uint64_t done, uint64_t total);
/* The last figures on a line of their own, when a line was shown. */
void tool_progress_end(struct tool_progress *p);

#endif
