/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * XXH32, the hash EROFS uses for its xattr name bloom filter. Written from
 * the published algorithm description (xxHash specification, 32-bit
 * variant).
 */
#ifndef CFS_XXHASH32_H
#define CFS_XXHASH32_H

#include <stddef.h>
#include <stdint.h>

#define XXH_P1 2654435761u
#define XXH_P2 2246822519u
#define XXH_P3 3266489917u
#define XXH_P4 668265263u
#define XXH_P5 374761393u

static inline uint32_t xxh_rotl(uint32_t v, int r)
{
	return (v << r) | (v >> (32 - r));
}

static inline uint32_t xxh_read32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint32_t xxh_lane(uint32_t acc, uint32_t lane)
{
	return xxh_rotl(acc + lane * XXH_P2, 13) * XXH_P1;
}

static inline uint32_t cfs_xxh32(const void *data, size_t len, uint32_t seed)
{
	const uint8_t *p = data, *end = p + len;
	uint32_t acc;

	if (len >= 16) {
		uint32_t v[4] = { seed + XXH_P1 + XXH_P2, seed + XXH_P2, seed,
				  seed - XXH_P1 };

		for (; end - p >= 16; p += 16)
			for (int i = 0; i < 4; i++)
				v[i] = xxh_lane(v[i], xxh_read32(p + 4 * i));
		acc = xxh_rotl(v[0], 1) + xxh_rotl(v[1], 7) +
		      xxh_rotl(v[2], 12) + xxh_rotl(v[3], 18);
	} else {
		acc = seed + XXH_P5;
	}
	acc += (uint32_t)len;

	for (; end - p >= 4; p += 4)
		acc = xxh_rotl(acc + xxh_read32(p) * XXH_P3, 17) * XXH_P4;
	for (; p < end; p++)
		acc = xxh_rotl(acc + *p * XXH_P5, 11) * XXH_P1;

	acc ^= acc >> 15;
	acc *= XXH_P2;
	acc ^= acc >> 13;
	acc *= XXH_P3;
	acc ^= acc >> 16;
	return acc;
}

#endif
