/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * The EROFS on-disk structures a composefs image uses, and the composefs
 * header in front of the superblock. All fields are little-endian.
 */
#ifndef CFS_EROFS_FORMAT_H
#define CFS_EROFS_FORMAT_H

#include <assert.h>
#include <stdint.h>
#include <sys/stat.h>

#define EROFS_BLOCK_BITS 12
#define EROFS_BLOCK_SIZE (1u << EROFS_BLOCK_BITS)
#define EROFS_SLOT_BITS 5
#define EROFS_SLOT_SIZE (1u << EROFS_SLOT_BITS)
#define EROFS_SUPER_OFFSET 1024
#define EROFS_SUPER_MAGIC 0xE0F5E1E2u

#define EROFS_FEATURE_COMPAT_SB_CHKSUM 0x1
#define EROFS_FEATURE_COMPAT_MTIME 0x2
#define EROFS_FEATURE_COMPAT_XATTR_FILTER 0x4

/* i_format: bit 0 version (0 compact, 1 extended), bits 1-3 data layout */
#define EROFS_I_VERSION_BIT 0
#define EROFS_I_VERSION_MASK 0x1
#define EROFS_I_DATALAYOUT_BIT 1
#define EROFS_I_DATALAYOUT_MASK 0x7

enum {
	EROFS_INODE_FLAT_PLAIN = 0,
	EROFS_INODE_COMPRESSED_FULL = 1,
	EROFS_INODE_FLAT_INLINE = 2,
	EROFS_INODE_COMPRESSED_COMPACT = 3,
	EROFS_INODE_CHUNK_BASED = 4,
};

#define EROFS_CHUNK_FORMAT_BLKBITS_MASK 0x1f
#define EROFS_CHUNK_FORMAT_INDEXES 0x20
#define EROFS_NULL_ADDR 0xffffffffu

/*
 * composefs describes a regular file whose data lives outside the image by
 * one chunk index (4 bytes, all holes) per chunk, the whole table inline in
 * the inode's tail, which must fit in a block: at most 1024 chunks of at
 * most 2^(12 + 31) bytes. No image holds a file over 2^53 bytes (8 PiB).
 */
#define MAX_NONINLINE_CHUNKS 1024
#define CFS_IMAGE_FILE_SIZE_MAX                                                \
	((uint64_t)MAX_NONINLINE_CHUNKS                                        \
	 << (EROFS_BLOCK_BITS + EROFS_CHUNK_FORMAT_BLKBITS_MASK))

enum {
	EROFS_FT_UNKNOWN = 0,
	EROFS_FT_REG_FILE = 1,
	EROFS_FT_DIR = 2,
	EROFS_FT_CHRDEV = 3,
	EROFS_FT_BLKDEV = 4,
	EROFS_FT_FIFO = 5,
	EROFS_FT_SOCK = 6,
	EROFS_FT_SYMLINK = 7,
};

/* The directory entry type of an inode of this mode. */
static inline uint8_t erofs_file_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return EROFS_FT_REG_FILE;
	case S_IFDIR:
		return EROFS_FT_DIR;
	case S_IFLNK:
		return EROFS_FT_SYMLINK;
	case S_IFCHR:
		return EROFS_FT_CHRDEV;
	case S_IFBLK:
		return EROFS_FT_BLKDEV;
	case S_IFIFO:
		return EROFS_FT_FIFO;
	case S_IFSOCK:
		return EROFS_FT_SOCK;
	default:
		return EROFS_FT_UNKNOWN;
	}
}

enum {
	EROFS_XATTR_INDEX_NONE = 0,
	EROFS_XATTR_INDEX_USER = 1,
	EROFS_XATTR_INDEX_POSIX_ACL_ACCESS = 2,
	EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT = 3,
	EROFS_XATTR_INDEX_TRUSTED = 4,
	EROFS_XATTR_INDEX_LUSTRE = 5,
	EROFS_XATTR_INDEX_SECURITY = 6,
};
#define EROFS_XATTR_LONG_PREFIX 0x80
#define EROFS_XATTR_FILTER_BITS 32
#define EROFS_XATTR_FILTER_DEFAULT 0xffffffffu
#define EROFS_XATTR_FILTER_SEED 0x25BBE08Fu

struct erofs_super_block {
	uint32_t magic;
	uint32_t checksum;
	uint32_t feature_compat;
	uint8_t blkszbits;
	uint8_t sb_extslots;
	uint16_t root_nid;
	uint64_t inos;
	uint64_t build_time;
	uint32_t build_time_nsec;
	uint32_t blocks;
	uint32_t meta_blkaddr;
	uint32_t xattr_blkaddr;
	uint8_t uuid[16];
	uint8_t volume_name[16];
	uint32_t feature_incompat;
	uint16_t u1;
	uint16_t extra_devices;
	uint16_t devt_slotoff;
	uint8_t dirblkbits;
	uint8_t xattr_prefix_count;
	uint32_t xattr_prefix_start;
	uint64_t packed_nid;
	uint8_t xattr_filter_reserved;
	uint8_t reserved2[23];
} __attribute__((packed));

/* i_u: what the 4 bytes after the size mean depends on the file type */
union erofs_inode_i_u {
	uint32_t raw_blkaddr;
	uint32_t rdev;
	struct {
		uint16_t format;
		uint16_t reserved;
	} __attribute__((packed)) chunk;
} __attribute__((packed));

struct erofs_inode_compact {
	uint16_t i_format;
	uint16_t i_xattr_icount;
	uint16_t i_mode;
	uint16_t i_nlink;
	uint32_t i_size;
	uint32_t i_reserved;
	union erofs_inode_i_u i_u;
	uint32_t i_ino;
	uint16_t i_uid;
	uint16_t i_gid;
	uint32_t i_reserved2;
} __attribute__((packed));

struct erofs_inode_extended {
	uint16_t i_format;
	uint16_t i_xattr_icount;
	uint16_t i_mode;
	uint16_t i_reserved;
	uint64_t i_size;
	union erofs_inode_i_u i_u;
	uint32_t i_ino;
	uint32_t i_uid;
	uint32_t i_gid;
	uint64_t i_mtime;
	uint32_t i_mtime_nsec;
	uint32_t i_nlink;
	uint8_t i_reserved2[16];
} __attribute__((packed));

struct erofs_xattr_ibody_header {
	uint32_t h_name_filter;
	uint8_t h_shared_count;
	uint8_t h_reserved2[7];
} __attribute__((packed));

struct erofs_xattr_entry {
	uint8_t e_name_len;
	uint8_t e_name_index;
	uint16_t e_value_size;
} __attribute__((packed));

struct erofs_dirent {
	uint64_t nid;
	uint16_t nameoff;
	uint8_t file_type;
	uint8_t reserved;
} __attribute__((packed));

static_assert(sizeof(struct erofs_super_block) == 128, "superblock size");
static_assert(sizeof(struct erofs_inode_compact) == 32, "compact inode size");
static_assert(sizeof(struct erofs_inode_extended) == 64, "extended inode size");
static_assert(sizeof(struct erofs_xattr_ibody_header) == 12, "xattr header");
static_assert(sizeof(struct erofs_xattr_entry) == 4, "xattr entry size");
static_assert(sizeof(struct erofs_dirent) == 12, "dirent size");

/* The composefs header at offset 0, before the superblock at 1024. */
#define CFS_EROFS_MAGIC 0xd078629au
#define CFS_EROFS_HEADER_VERSION 1
#define CFS_EROFS_FLAGS_HAS_ACL (1u << 0)

struct cfs_erofs_header {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t composefs_version;
	uint32_t unused[4];
} __attribute__((packed));

static_assert(sizeof(struct cfs_erofs_header) == 32, "composefs header");

/* The overlayfs xattrs that carry composefs metadata. */
#define OVL_XATTR_TRUSTED_PREFIX "trusted.overlay."
#define OVL_XATTR_USER_PREFIX "user.overlay."
#define OVL_XATTR_ESCAPED_PREFIX "trusted.overlay.overlay."
#define OVL_XATTR_METACOPY "trusted.overlay.metacopy"
#define OVL_XATTR_REDIRECT "trusted.overlay.redirect"
#define OVL_XATTR_OPAQUE "trusted.overlay.opaque"
#define OVL_XATTR_ESCAPED_WHITEOUT "trusted.overlay.overlay.whiteout"
#define OVL_XATTR_ESCAPED_WHITEOUTS "trusted.overlay.overlay.whiteouts"
#define OVL_XATTR_ESCAPED_OPAQUE "trusted.overlay.overlay.opaque"
#define OVL_XATTR_USER_WHITEOUT "user.overlay.whiteout"
#define OVL_XATTR_USER_WHITEOUTS "user.overlay.whiteouts"
#define OVL_XATTR_USER_OPAQUE "user.overlay.opaque"

#endif
