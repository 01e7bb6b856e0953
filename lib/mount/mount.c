/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * Mounting an image with the kernel. The image becomes a read-only EROFS
 * mount that is never attached anywhere (a detached mount from fsmount(),
 * straight from the file where EROFS can read files, else from a loop
 * device); overlayfs is stacked on it with the object directories as
 * data-only lower layers, which resolves each file's redirect xattr to its
 * object. Once the overlay holds the EROFS mount, nothing else does, so
 * unmounting the overlay releases the EROFS superblock and with it the
 * autoclearing loop device.
 *
 * Kernels without the new mount API, or whose overlayfs lacks the
 * lowerdir+/datadir+ keys, get mount(2) with an option string. There, and
 * where overlayfs cannot take a layer from a detached mount (Linux 6.12's
 * cannot, 6.18's can), the EROFS mount lives for a moment in a private
 * temporary directory, detached again once the overlay holds it.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "composefs-c/composefs.h"
#include "format/erofs-format.h"
#include "mount/mount_i.h"
#include "base/util.h"

/* What mountinfo shows as the overlay's source. */
#define MOUNT_SOURCE "composefs"
#define LOOP_ATTEMPTS 32
/* memfd_create()'s limit on names */
#define MEMFD_NAME_MAX 249

#define ALL_FLAGS ((CFS_MOUNT_DIGEST_COPY << 1) - 1)

struct mount_state {
	const struct cfs_mount_options *opts;
	const char *target;
	/* the image file's name, to label the sealed copy and loop device */
	const char *name;
	/* ask overlayfs for verity=require... */
	bool verity;
	/* ...and fail when it cannot */
	bool verity_required;
	/* ask for it without checking that it can be had */
	bool verity_unchecked;
	bool legacy;
	bool has_acl;
	/* the image to mount: the caller's fd or our sealed copy */
	int image_fd;
	int sealed_fd;
	/* the detached EROFS mount, or the temporary directory holding it */
	int erofs_fd;
	char *erofs_dir;
	/* overlayfs refused to create the overlay while the EROFS layer was
	 * detached: the one case that attaching it may cure */
	bool detached_refused;
	/* a path to the root of the EROFS mount */
	char lower[PATH_MAX];
};

char *cfsi_mount_escape(const char *path)
{
	char *out = malloc(2 * strlen(path) + 1), *d = out;

	if (out == NULL)
		return NULL;
	for (const char *s = path; *s != '\0'; s++) {
		if (*s == '\\' || *s == ',' || *s == ':')
			*d++ = '\\';
		*d++ = *s;
	}
	*d = '\0';
	return out;
}

/* The kernel's error and warning lines about a failed fsconfig(), joined
 * with "; " ("" when it said nothing): they often say more than errno. */
static void fs_log(int fs_fd, char *buf, size_t size)
{
	size_t used = 0;
	char line[512];

	buf[0] = '\0';
	for (;;) {
		ssize_t n = read(fs_fd, line, sizeof(line) - 1);
		int w;

		if (n <= 0)
			break;
		line[n] = '\0';
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		if ((line[0] != 'e' && line[0] != 'w') || line[1] != ' ')
			continue;
		w = snprintf(buf + used, size - used, "%s%s", used ? "; " : "",
			     line + 2);
		if (w < 0 || (size_t)w >= size - used)
			break;
		used += w;
	}
}

static int fs_error(struct cfs_error *err, int fs_fd, int r, const char *what,
		    const char *name)
{
	char log[512];

	fs_log(fs_fd, log, sizeof(log));
	return cfs_error_set(err, r, "%s%s%s: %s%s%s%s", what, name ? " " : "",
			     name ? name : "", strerror(-r),
			     log[0] ? " (kernel: " : "", log,
			     log[0] ? ")" : "");
}

static int validate_options(const struct cfs_mount_options *opts,
			    const char *target, struct cfs_error *err)
{
	if (opts == NULL || target == NULL)
		return cfs_error_set(err, -EINVAL,
				     "no mount options or target");
	if ((opts->flags & ~ALL_FLAGS) != 0)
		return cfs_error_set(err, -EINVAL, "unknown mount flags 0x%x",
				     opts->flags & ~ALL_FLAGS);
	if (cfs_hash_alg_digest_size(opts->hash_alg) == 0)
		return cfs_error_set(err, -EOPNOTSUPP,
				     "fs-verity hash algorithm %u is not "
				     "implemented",
				     opts->hash_alg);
	if (opts->n_basedirs == 0 || opts->basedirs == NULL)
		return cfs_error_set(err, -EINVAL,
				     "no object directory (basedir) given");
	for (size_t i = 0; i < opts->n_basedirs; i++) {
		if (opts->basedirs[i] == NULL || opts->basedirs[i][0] == '\0')
			return cfs_error_set(err, -EINVAL,
					     "empty object directory name");
	}
	if ((opts->upperdir == NULL) != (opts->workdir == NULL))
		return cfs_error_set(
			err, -EINVAL,
			"upperdir and workdir go together: give both or neither");
	if (opts->upperdir != NULL) {
		/* overlayfs' own EINVAL for this says nothing (its reason goes
		 * to the kernel log), and would look like the refusal of a
		 * detached layer, which is retried */
		struct statx up, work;

		if (statx(AT_FDCWD, opts->upperdir, 0, STATX_MNT_ID, &up) ==
			    0 &&
		    statx(AT_FDCWD, opts->workdir, 0, STATX_MNT_ID, &work) ==
			    0 &&
		    (up.stx_mask & work.stx_mask & STATX_MNT_ID) &&
		    up.stx_mnt_id != work.stx_mnt_id)
			return cfs_error_set(
				err, -EINVAL,
				"upperdir %s and workdir %s are on different mounts: overlayfs needs them on the same one",
				opts->upperdir, opts->workdir);
	}
	if ((opts->flags & CFS_MOUNT_IDMAP) && opts->idmap_fd < 0)
		return cfs_error_set(err, -EINVAL,
				     "idmap requested without a namespace fd");
	if ((opts->flags & CFS_MOUNT_IDMAP) &&
	    (opts->flags & CFS_MOUNT_LEGACY_API))
		return cfs_error_set(
			err, -EINVAL,
			"an idmapped mount needs the new mount API");
	return 0;
}

int cfs_mount_check_verity(const char *dir, struct cfs_error *err)
{
	_cleanup_close_ int fd = -1;
	uint8_t digest[CFS_DIGEST_SIZE];
	int r;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cfs_error_set(err, -errno, "%s: %s", dir,
				     strerror(errno));
	/* Filesystems that know fs-verity answer for any inode, directories
	 * included: ENODATA when it is not enabled there. The others, and
	 * every filesystem of a kernel built without it, refuse the ioctl. */
	r = cfs_fsverity_measure_fd(fd, digest);
	if (r == 0 || r == -ENODATA || r == -EBADMSG)
		return 0;
	if (r != -EOPNOTSUPP)
		return cfs_error_set(err, r, "probing fs-verity on %s: %s", dir,
				     strerror(-r));
	/* Kernels with fs-verity register this sysctl directory. */
	if (access("/proc/sys/fs/verity", F_OK) == 0)
		return cfs_error_set(err, -EOPNOTSUPP,
				     "the filesystem of %s has no fs-verity "
				     "support",
				     dir);
	return cfs_error_set(err, -EOPNOTSUPP,
			     "this kernel has no fs-verity support "
			     "(CONFIG_FS_VERITY is not set)");
}

/* Whether and how hard to ask overlayfs for verity=require. Checked up
 * front because overlayfs accepts the option on a kernel without fs-verity
 * and then fails every read. */
static int decide_verity(struct mount_state *s, struct cfs_error *err)
{
	const struct cfs_mount_options *opts = s->opts;
	bool copy = opts->flags & CFS_MOUNT_DIGEST_COPY;
	/* a digest of the image is worth little if the files it names can
	 * be anything: it implies verity, unless the weaker check was asked */
	bool pinned = opts->digest != NULL || opts->signature != NULL;
	bool required = (opts->flags & CFS_MOUNT_VERITY) || (pinned && !copy);
	bool wanted = required || (opts->flags & CFS_MOUNT_TRY_VERITY) ||
		      pinned;

	if (!wanted)
		return 0;
	if (s->verity_unchecked) {
		/* the libcomposefs API's way: overlayfs is asked, whatever
		 * the kernel and the object directories can do */
		s->verity = true;
		s->verity_required = required;
		return 0;
	}
	for (size_t i = 0; i < opts->n_basedirs; i++) {
		struct cfs_error why;
		int r = cfs_mount_check_verity(opts->basedirs[i], &why);

		if (r == -EOPNOTSUPP && !required)
			return 0;
		if (r < 0 && r != -EOPNOTSUPP)
			return cfs_error_set(err, r, "object directory %s",
					     why.message);
		if (r < 0 && pinned && !(opts->flags & CFS_MOUNT_VERITY))
			return cfs_error_set(
				err, r,
				"cannot enforce fs-verity on the objects, which "
				"a digest requires: %s",
				why.message);
		if (r < 0)
			return cfs_error_set(
				err, r,
				"cannot enforce fs-verity (the verity option): "
				"%s; use tryverity to mount without "
				"enforcement, or the FUSE server composefs-fuse",
				why.message);
	}
	s->verity = true;
	s->verity_required = required;
	return 0;
}

int cfsi_mount_sealed_copy(int fd, const char *name)
{
	_cleanup_close_ int memfd = -1;
	char label[MEMFD_NAME_MAX + 1];
	int r;

	/* The label shows in /proc/PID/fd and as the loop device's backing
	 * file: which image this copy is. */
	snprintf(label, sizeof(label), "composefs:%s", name ? name : "image");
	memfd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0)
		return -errno;
	r = cfsi_copy_data(fd, memfd, 0);
	if (r < 0)
		return r;
	if (fcntl(memfd, F_ADD_SEALS,
		  F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	return TAKE_FD(memfd);
}

/* Make sure the bytes that will be mounted have the digest opts->digest,
 * and that their digest carries the signature asked for. */
static int pin_image(struct mount_state *s, struct cfs_error *err)
{
	char want_hex[CFS_DIGEST_HEX_MAX_SIZE];
	char found_hex[CFS_DIGEST_HEX_MAX_SIZE];
	uint8_t found[CFS_DIGEST_MAX_SIZE];
	enum cfs_hash_alg alg = s->opts->hash_alg ? s->opts->hash_alg :
						    CFS_HASH_SHA256;
	int r;

	/* A file with fs-verity cannot change, and the kernel checks every
	 * read of it against the digest it gives here. */
	r = cfs_fsverity_measure_fd_alg(s->image_fd, alg, found);
	if ((r == -ENODATA || r == -EOPNOTSUPP) &&
	    !(s->opts->flags & CFS_MOUNT_DIGEST_COPY))
		return cfs_error_set(err, -ENOTTY, "Image has no fs-verity");
	if (r == -EBADMSG && !(s->opts->flags & CFS_MOUNT_DIGEST_COPY))
		return cfs_error_set(err, -EILSEQ,
				     "Image has wrong fs-verity: its digest "
				     "is not %s",
				     alg == CFS_HASH_SHA512 ? "SHA-512" :
							      "SHA-256");
	if (r == -ENODATA || r == -EOPNOTSUPP) {
		r = cfsi_mount_sealed_copy(s->image_fd, s->name);
		if (r < 0)
			return cfs_error_set(err, r,
					     "copying the image to measure it: "
					     "%s",
					     strerror(-r));
		s->sealed_fd = r;
		s->image_fd = r;
		r = cfs_fsverity_digest_fd_alg(alg, s->sealed_fd, found);
	}
	if (r < 0)
		return cfs_error_set(err, r, "measuring the image: %s",
				     strerror(-r));
	if (s->opts->signature != NULL) {
		const struct cfs_mount_signature *sig = s->opts->signature;
		struct cfs_error why;

		r = cfs_verity_verify(alg, found, sig->sig, sig->sig_len,
				      sig->cert_paths, sig->n_certs, &why);
		if (r < 0) {
			cfs_digest_to_hex_alg(alg, found, found_hex);
			return cfs_error_set(err, r,
					     "Image has no valid signature: "
					     "its digest %s: %s",
					     found_hex, why.message);
		}
	}
	if (s->opts->digest != NULL &&
	    memcmp(found, s->opts->digest, cfs_hash_alg_digest_size(alg)) !=
		    0) {
		cfs_digest_to_hex_alg(alg, found, found_hex);
		cfs_digest_to_hex_alg(alg, s->opts->digest, want_hex);
		return cfs_error_set(err, -EILSEQ,
				     "Image has wrong fs-verity: its digest "
				     "is %s, not the expected %s",
				     found_hex, want_hex);
	}
	return 0;
}

/* Refuse a malformed image before anything is mounted, and learn from its
 * header whether it holds ACLs (EROFS is faster without them). */
static int check_image(struct mount_state *s, struct cfs_error *err)
{
	struct cfs_erofs_header header;
	struct cfs_image *image = NULL;
	struct cfs_error why;
	ssize_t n;
	int r;

	r = cfs_image_open_fd(s->image_fd, &image, &why);
	if (r < 0)
		return cfs_error_set(err, r, "not a valid composefs image: %s",
				     why.message);
	cfs_image_free(image);
	n = pread(s->image_fd, &header, sizeof(header), 0);
	if (n != (ssize_t)sizeof(header))
		return cfs_error_set(err, n < 0 ? -errno : -EUCLEAN,
				     "reading the image header failed");
	s->has_acl = le32toh(header.flags) & CFS_EROFS_FLAGS_HAS_ACL;
	return 0;
}

/* Attach the image to a free loop device, read-only and autoclearing:
 * the device goes away when its last user (our fd, then the EROFS mount)
 * does. Returns the device's fd; its path goes to ret_path. */
static int loop_attach(int image_fd, const char *name, char ret_path[PATH_MAX],
		       struct cfs_error *err)
{
	_cleanup_close_ int ctl = -1;
	struct loop_config config = {
		.fd = image_fd,
		.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR |
				 LO_FLAGS_DIRECT_IO,
	};
	struct stat st;

	if (fstat(image_fd, &st) < 0)
		return cfs_error_set(err, -errno, "image: %s", strerror(errno));
	/* EROFS blocks are 4 KiB: no smaller requests unless the image's
	 * size forces them. */
	if (st.st_size % 4096 == 0)
		config.block_size = 4096;
	snprintf((char *)config.info.lo_file_name, LO_NAME_SIZE, "composefs:%s",
		 name ? name : "image");

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return cfs_error_set(err, -errno, "/dev/loop-control: %s",
				     strerror(errno));
	/* Another process may take the free device first: try the next. */
	for (int attempt = 0; attempt < LOOP_ATTEMPTS; attempt++) {
		_cleanup_close_ int loop = -1;
		long nr = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (nr < 0)
			return cfs_error_set(err, -errno,
					     "no free loop device: %s",
					     strerror(errno));
		snprintf(ret_path, PATH_MAX, "/dev/loop%ld", nr);
		loop = open(ret_path, O_RDONLY | O_CLOEXEC);
		if (loop < 0)
			return cfs_error_set(err, -errno, "%s: %s", ret_path,
					     strerror(errno));
		if (ioctl(loop, LOOP_CONFIGURE, &config) == 0)
			return TAKE_FD(loop);
		if (errno == EINVAL &&
		    (config.info.lo_flags & LO_FLAGS_DIRECT_IO)) {
			/* direct I/O refused by an older kernel */
			config.info.lo_flags &= ~LO_FLAGS_DIRECT_IO;
			attempt--;
			continue;
		}
		if (errno != EBUSY)
			return cfs_error_set(err, -errno,
					     "setting up %s for the image: %s",
					     ret_path, strerror(errno));
	}
	return cfs_error_set(err, -EBUSY, "no free loop device: %s",
			     strerror(EBUSY));
}

/* A detached read-only EROFS mount of source. -ENOTBLK (no message) when
 * EROFS cannot read source as a file, -ENOSYS when there is no new mount
 * API. */
static int erofs_mount_detached(struct mount_state *s, const char *source,
				struct cfs_error *err)
{
	_cleanup_close_ int fs = -1, mnt = -1;

	fs = fsopen("erofs", FSOPEN_CLOEXEC);
	if (fs < 0) {
		if (errno == ENOSYS)
			return -ENOSYS;
		return cfs_error_set(err, -errno,
				     "the kernel has no EROFS filesystem: %s",
				     strerror(errno));
	}
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", source, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0 ||
	    (!s->has_acl &&
	     fsconfig(fs, FSCONFIG_SET_FLAG, "noacl", NULL, 0) < 0))
		return fs_error(err, fs, -errno, "configuring the EROFS mount",
				NULL);
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		if (errno == ENOTBLK)
			return -ENOTBLK;
		return fs_error(err, fs, -errno, "mounting the image (EROFS)",
				NULL);
	}
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
	if (mnt < 0)
		return fs_error(err, fs, -errno, "mounting the image (EROFS)",
				NULL);
	if (s->opts->flags & CFS_MOUNT_IDMAP) {
		struct mount_attr attr = {
			.attr_set = MOUNT_ATTR_IDMAP,
			.userns_fd = s->opts->idmap_fd,
		};

		if (mount_setattr(mnt, "", AT_EMPTY_PATH, &attr, sizeof(attr)) <
		    0)
			return cfs_error_set(err, -errno,
					     "idmapping the image's mount: %s",
					     strerror(errno));
	}
	s->erofs_fd = TAKE_FD(mnt);
	snprintf(s->lower, sizeof(s->lower), "/proc/self/fd/%d", s->erofs_fd);
	return 0;
}

/* A private (0700) temporary directory to attach the EROFS mount to, for
 * kernels whose overlayfs cannot take a layer from a detached mount.
 * state_release() unmounts (lazily: the overlay keeps it) and removes it. */
static int make_erofs_dir(struct mount_state *s, struct cfs_error *err)
{
	char dir[] = "/tmp/.composefs-XXXXXX";

	if (s->erofs_dir != NULL)
		return 0;
	if (mkdtemp(dir) == NULL)
		return cfs_error_set(err, -errno,
				     "creating a temporary directory: %s",
				     strerror(errno));
	s->erofs_dir = strdup(dir);
	if (s->erofs_dir == NULL) {
		(void)rmdir(dir);
		return cfs_error_set(err, -ENOMEM, "out of memory");
	}
	snprintf(s->lower, sizeof(s->lower), "%s", dir);
	return 0;
}

/* mount(2) of the image on a private temporary directory. */
static int erofs_mount_legacy(struct mount_state *s, const char *source,
			      struct cfs_error *err)
{
	int r = make_erofs_dir(s, err);

	if (r < 0)
		return r;
	if (mount(source, s->erofs_dir, "erofs", MS_RDONLY | MS_SILENT,
		  s->has_acl ? NULL : "noacl") < 0) {
		r = -errno;
		if (r == -ENOTBLK)
			return r;
		return cfs_error_set(err, r, "mounting the image (EROFS): %s",
				     strerror(-r));
	}
	return 0;
}

/* Give the detached EROFS mount a name, for an overlayfs that refuses
 * layers from detached mounts ("failed to clone lowerpath", as in 6.12). */
static int erofs_attach(struct mount_state *s, struct cfs_error *err)
{
	int r = make_erofs_dir(s, err);

	if (r < 0)
		return r;
	if (move_mount(s->erofs_fd, "", AT_FDCWD, s->erofs_dir,
		       MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return cfs_error_set(err, -errno,
				     "attaching the EROFS mount to %s: %s",
				     s->erofs_dir, strerror(errno));
	(void)close(s->erofs_fd);
	s->erofs_fd = -1;
	return 0;
}

static int erofs_mount_source(struct mount_state *s, const char *source,
			      struct cfs_error *err)
{
	int r = -ENOSYS;

	if (!s->legacy)
		r = erofs_mount_detached(s, source, err);
	if (r == -ENOSYS) {
		if (s->opts->flags & CFS_MOUNT_IDMAP)
			return cfs_error_set(err, -EOPNOTSUPP,
					     "an idmapped mount needs the new "
					     "mount API, which this kernel "
					     "lacks");
		s->legacy = true;
		r = erofs_mount_legacy(s, source, err);
	}
	return r;
}

static int erofs_mount(struct mount_state *s, struct cfs_error *err)
{
	char source[PATH_MAX];
	_cleanup_close_ int loop = -1;
	int r;

	/* EROFS reads a regular file itself where it can (Linux 6.12+): no
	 * loop device, and no double caching. */
	snprintf(source, sizeof(source), "/proc/self/fd/%d", s->image_fd);
	r = erofs_mount_source(s, source, err);
	if (r != -ENOTBLK)
		return r;
	loop = loop_attach(s->image_fd, s->name, source, err);
	if (loop < 0)
		return loop;
	r = erofs_mount_source(s, source, err);
	if (r == -ENOTBLK)
		return cfs_error_set(err, r, "mounting the image (EROFS): %s",
				     strerror(-r));
	return r;
}

static unsigned mount_attrs(unsigned flags)
{
	unsigned attrs = 0;

	if (flags & CFS_MOUNT_READONLY)
		attrs |= MOUNT_ATTR_RDONLY;
	if (flags & CFS_MOUNT_NOSUID)
		attrs |= MOUNT_ATTR_NOSUID;
	if (flags & CFS_MOUNT_NODEV)
		attrs |= MOUNT_ATTR_NODEV;
	if (flags & CFS_MOUNT_NOEXEC)
		attrs |= MOUNT_ATTR_NOEXEC;
	if (flags & CFS_MOUNT_NOATIME)
		attrs |= MOUNT_ATTR_NOATIME;
	return attrs;
}

static unsigned long legacy_mount_flags(unsigned flags)
{
	unsigned long ms = 0;

	if (flags & CFS_MOUNT_READONLY)
		ms |= MS_RDONLY;
	if (flags & CFS_MOUNT_NOSUID)
		ms |= MS_NOSUID;
	if (flags & CFS_MOUNT_NODEV)
		ms |= MS_NODEV;
	if (flags & CFS_MOUNT_NOEXEC)
		ms |= MS_NOEXEC;
	if (flags & CFS_MOUNT_NOATIME)
		ms |= MS_NOATIME;
	return ms;
}

/* Set an upperdir or workdir path; overlayfs unescapes these. */
static int set_escaped(int fs, const char *key, const char *path)
{
	_cleanup_free_ char *escaped = cfsi_mount_escape(path);

	if (escaped == NULL) {
		errno = ENOMEM;
		return -1;
	}
	return fsconfig(fs, FSCONFIG_SET_STRING, key, escaped, 0);
}

/* Give overlayfs the EROFS mount as its one metadata layer: by fd where
 * it takes layers so (Linux 6.13+), else by path. -ENOSYS (no message)
 * when it knows no lowerdir+ (before 6.7; EINVAL then, while the paths
 * themselves fail with ENOENT, ENOTDIR...). */
static int set_lower(struct mount_state *s, int fs, struct cfs_error *err)
{
	char log[512];
	int r;

	if (s->erofs_fd >= 0) {
		if (fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL,
			     s->erofs_fd) == 0)
			return 0;
		/* The complaint about the fd is no news. An overlayfs that
		 * takes no layer by fd takes none from a detached mount
		 * either: attaching it now saves a failed attempt. */
		fs_log(fs, log, sizeof(log));
		r = erofs_attach(s, err);
		if (r < 0)
			return r;
	}
	if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", s->lower, 0) == 0)
		return 0;
	if (errno == EINVAL)
		return -ENOSYS;
	return fs_error(err, fs, -errno, "using the image as a layer", NULL);
}

/* The overlay through fsopen() and friends. -ENOSYS (no message) when the
 * kernel lacks what it takes, for the caller to fall back. */
static int overlay_mount_new(struct mount_state *s, struct cfs_error *err)
{
	const struct cfs_mount_options *opts = s->opts;
	_cleanup_close_ int fs = -1, mnt = -1;
	char log[512];
	int r;

	fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0) {
		if (errno == ENOSYS)
			return -ENOSYS;
		return cfs_error_set(err, -errno,
				     "the kernel has no overlay filesystem: %s",
				     strerror(errno));
	}
	/* An overlayfs that only gathers options for mount(2) takes any
	 * key, so it would not vet ours either. Then its complaint about
	 * that key is dropped from the log. */
	if (fsconfig(fs, FSCONFIG_SET_STRING, "no-such-option", "", 0) == 0)
		return -ENOSYS;
	fs_log(fs, log, sizeof(log));
	r = set_lower(s, fs, err);
	if (r < 0)
		return r;
	/* datadir+ came with lowerdir+: EINVAL as above */
	for (size_t i = 0; i < opts->n_basedirs; i++) {
		if (fsconfig(fs, FSCONFIG_SET_STRING, "datadir+",
			     opts->basedirs[i], 0) < 0)
			return errno == EINVAL ? -ENOSYS :
						 fs_error(err, fs, -errno,
							  "object directory",
							  opts->basedirs[i]);
	}
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", MOUNT_SOURCE, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "metacopy", "on", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "redirect_dir", "on", 0) < 0)
		return fs_error(err, fs, -errno, "configuring overlayfs", NULL);
	if (s->verity &&
	    fsconfig(fs, FSCONFIG_SET_STRING, "verity", "require", 0) < 0 &&
	    s->verity_required)
		return fs_error(err, fs, -errno,
				"this kernel's overlayfs cannot enforce "
				"fs-verity",
				NULL);
	if (opts->upperdir != NULL &&
	    set_escaped(fs, "upperdir", opts->upperdir) < 0)
		return fs_error(err, fs, -errno, "upperdir", opts->upperdir);
	if (opts->workdir != NULL &&
	    set_escaped(fs, "workdir", opts->workdir) < 0)
		return fs_error(err, fs, -errno, "workdir", opts->workdir);
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		s->detached_refused = errno == EINVAL && s->erofs_fd >= 0 &&
				      s->erofs_dir == NULL;
		return fs_error(err, fs, -errno, "creating the overlay", NULL);
	}
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, mount_attrs(opts->flags));
	if (mnt < 0)
		return fs_error(err, fs, -errno, "creating the overlay", NULL);
	if (move_mount(mnt, "", AT_FDCWD, s->target, MOVE_MOUNT_F_EMPTY_PATH) <
	    0)
		return cfs_error_set(err, -errno, "mounting on %s: %s",
				     s->target, strerror(errno));
	return 0;
}

/* "lowerdir=IMAGE::DATA1::DATA2..." with sep between the layers. */
static char *legacy_lowerdir(struct mount_state *s, const char *sep)
{
	_cleanup_free_ char *lower = cfsi_mount_escape(s->lower);
	char *out = NULL;

	if (lower == NULL || asprintf(&out, "lowerdir=%s", lower) < 0)
		return NULL;
	for (size_t i = 0; i < s->opts->n_basedirs; i++) {
		_cleanup_free_ char *dir = cfsi_mount_escape(
			s->opts->basedirs[i]);
		char *longer;

		if (dir == NULL ||
		    asprintf(&longer, "%s%s%s", out, sep, dir) < 0) {
			free(out);
			return NULL;
		}
		free(out);
		out = longer;
	}
	return out;
}

static int overlay_mount_legacy_try(struct mount_state *s, const char *sep,
				    bool verity, bool last)
{
	const struct cfs_mount_options *opts = s->opts;
	_cleanup_free_ char *lower = legacy_lowerdir(s, sep);
	_cleanup_free_ char *upper = NULL, *work = NULL, *data = NULL;
	unsigned long flags = legacy_mount_flags(opts->flags);

	if (opts->upperdir != NULL) {
		upper = cfsi_mount_escape(opts->upperdir);
		work = cfsi_mount_escape(opts->workdir);
		if (upper == NULL || work == NULL)
			return -ENOMEM;
	}
	if (lower == NULL ||
	    asprintf(&data, "metacopy=on,redirect_dir=on,%s%s%s%s%s%s", lower,
		     upper ? ",upperdir=" : "", upper ? upper : "",
		     work ? ",workdir=" : "", work ? work : "",
		     verity ? ",verity=require" : "") < 0)
		return -ENOMEM;
	if (mount(MOUNT_SOURCE, s->target, "overlay",
		  flags | (last ? 0 : MS_SILENT), data) < 0)
		return -errno;
	return 0;
}

/* The overlay through mount(2). Each retry drops what an older kernel may
 * lack: first an optional verity=require, then data-only layers ("::"),
 * which turns the object directories into ordinary lower layers, hidden
 * by the whiteouts of 00..ff that every image holds in its root. */
static int overlay_mount_legacy(struct mount_state *s, struct cfs_error *err)
{
	bool try_without_verity = s->verity && !s->verity_required;
	int r;

	r = overlay_mount_legacy_try(s, "::", s->verity, false);
	if (r == -EINVAL && try_without_verity)
		r = overlay_mount_legacy_try(s, "::", false, false);
	if (r == -EINVAL)
		r = overlay_mount_legacy_try(s, ":", s->verity_required, true);
	if (r < 0)
		return cfs_error_set(err, r, "mounting overlayfs on %s: %s",
				     s->target, strerror(-r));
	return 0;
}

static void state_release(struct mount_state *s)
{
	if (s->erofs_fd >= 0)
		(void)close(s->erofs_fd);
	if (s->erofs_dir != NULL) {
		/* The overlay, if up, keeps the mount alive without a name. */
		(void)umount2(s->erofs_dir, MNT_DETACH);
		(void)rmdir(s->erofs_dir);
		free(s->erofs_dir);
	}
	if (s->sealed_fd >= 0)
		(void)close(s->sealed_fd);
}

static int mount_image_fd(int fd, const char *name, const char *target,
			  const struct cfs_mount_options *opts,
			  bool verity_unchecked, struct cfs_error *err)
{
	struct mount_state s = {
		.opts = opts,
		.target = target,
		.name = name,
		.verity_unchecked = verity_unchecked,
		.image_fd = fd,
		.sealed_fd = -1,
		.erofs_fd = -1,
	};
	int r;

	r = validate_options(opts, target, err);
	if (r < 0)
		return r;
	s.legacy = opts->flags & CFS_MOUNT_LEGACY_API;
	/* the image first, as the reference does: "Image has no fs-verity"
	 * says more than anything about the objects */
	if (opts->digest != NULL || opts->signature != NULL) {
		r = pin_image(&s, err);
		if (r < 0)
			goto out;
	}
	r = decide_verity(&s, err);
	if (r < 0)
		goto out;
	r = check_image(&s, err);
	if (r < 0)
		goto out;
	r = erofs_mount(&s, err);
	if (r < 0)
		goto out;
	r = -ENOSYS;
	if (!s.legacy) {
		r = overlay_mount_new(&s, err);
		/* an older overlayfs refusing the detached layer; other
		 * errors (a bad upperdir...) are the caller's */
		if (r == -EINVAL && s.detached_refused) {
			r = erofs_attach(&s, err);
			if (r == 0)
				r = overlay_mount_new(&s, err);
		}
	}
	if (r == -ENOSYS && s.erofs_fd >= 0)
		r = erofs_attach(&s, err);
	if (r == -ENOSYS)
		r = overlay_mount_legacy(&s, err);
out:
	state_release(&s);
	return r;
}

int cfs_mount_image_fd(int fd, const char *target,
		       const struct cfs_mount_options *opts,
		       struct cfs_error *err)
{
	return mount_image_fd(fd, NULL, target, opts, false, err);
}

int cfsi_mount_image_fd_unchecked(int fd, const char *target,
				  const struct cfs_mount_options *opts,
				  struct cfs_error *err)
{
	return mount_image_fd(fd, NULL, target, opts, true, err);
}

int cfs_mount_image(const char *image, const char *target,
		    const struct cfs_mount_options *opts, struct cfs_error *err)
{
	_cleanup_close_ int fd = -1;
	const char *base;

	if (image == NULL)
		return cfs_error_set(err, -EINVAL, "no image given");
	fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cfs_error_set(err, -errno, "%s: %s", image,
				     strerror(errno));
	base = strrchr(image, '/');
	return mount_image_fd(fd, base ? base + 1 : image, target, opts, false,
			      err);
}

/* COMPOSEFS_1.0's cfs_mount_image() and cfs_mount_image_fd(), of programs
 * built before SHA-512: their opts->digest is CFS_DIGEST_SIZE bytes, so
 * SHA-256 is the only hash_alg they can give (as then: another is
 * refused, before anything is read). */
int cfsi_mount_image_1_0(const char *image, const char *target,
			 const struct cfs_mount_options *opts,
			 struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_mount_image_1_0, cfs_mount_image, "COMPOSEFS_1.0");
int cfsi_mount_image_fd_1_0(int fd, const char *target,
			    const struct cfs_mount_options *opts,
			    struct cfs_error *err);
CFS_SYMVER_COMPAT(cfsi_mount_image_fd_1_0, cfs_mount_image_fd, "COMPOSEFS_1.0");

static int check_old_hash_alg(const struct cfs_mount_options *opts,
			      struct cfs_error *err)
{
	if (opts == NULL || opts->hash_alg == CFS_HASH_DEFAULT ||
	    opts->hash_alg == CFS_HASH_SHA256)
		return 0;
	return cfs_error_set(
		err, -EOPNOTSUPP,
		"fs-verity hash algorithm %u: its digests do not fit in the options of this program (built before SHA-512: rebuild it)",
		opts->hash_alg);
}

int cfsi_mount_image_1_0(const char *image, const char *target,
			 const struct cfs_mount_options *opts,
			 struct cfs_error *err)
{
	int r = check_old_hash_alg(opts, err);

	return r < 0 ? r : cfs_mount_image(image, target, opts, err);
}

int cfsi_mount_image_fd_1_0(int fd, const char *target,
			    const struct cfs_mount_options *opts,
			    struct cfs_error *err)
{
	int r = check_old_hash_alg(opts, err);

	return r < 0 ? r : cfs_mount_image_fd(fd, target, opts, err);
}
