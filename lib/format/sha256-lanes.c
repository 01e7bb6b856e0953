/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
/*
 * SHA-256 of two 4096-byte blocks at once with the x86 SHA extensions.
 *
 * fs-verity hashes a file as many independent 4 KiB blocks. One SHA-256
 * computation is a chain of dependent rounds, so a single stream leaves the
 * SHA unit waiting on the latency of each round instruction; four streams
 * interleaved keep it busy (on the machines measured, 4 lanes give about
 * 1.15-1.4 times the throughput of OpenSSL's one-stream code).
 *
 * State layout used by the SHA extensions: for a state (a..h), one register
 * holds (a, b, e, f) and the other (c, d, g, h), each with its first word
 * in the highest lane. One sha256rnds2 performs two rounds; four rounds take
 * two, with the high half of the scheduled words moved down between them.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "format/sha256_i.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <cpuid.h>
#include <immintrin.h>

#define LANES 2
#define BLOCK 4096
#define TARGET __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t round_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t initial_state[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* The message block that ends every 4096-byte message: the 1 bit, zeros,
 * and the length in bits (32768) as a big-endian 64-bit number. */
static const uint8_t final_block[64] __attribute__((aligned(16))) = {
	[0] = 0x80,
	[62] = 0x80,
};

/* Byte order of each 32-bit word reversed: the message is big-endian. */
#define BSWAP32_MASK                                                           \
	_mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL)

/* Run the 64 rounds over the 64-byte block at block[l] + off of each lane
 * l, adding the result into the lanes' states. */
TARGET static inline __attribute__((always_inline)) void
compress(__m128i abef[LANES], __m128i cdgh[LANES],
	 const uint8_t *const block[LANES], size_t off)
{
	const __m128i bswap = BSWAP32_MASK;
	__m128i w[LANES][4], save_abef[LANES], save_cdgh[LANES];

#pragma GCC unroll 2
	for (int l = 0; l < LANES; l++) {
		save_abef[l] = abef[l];
		save_cdgh[l] = cdgh[l];
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			w[l][j] = _mm_shuffle_epi8(
				_mm_loadu_si128((const __m128i *)(block[l] +
								  off +
								  16 * j)),
				bswap);
	}
	/* sixteen groups of four rounds; w keeps the last 16 words */
#pragma GCC unroll 16
	for (int q = 0; q < 16; q++) {
		const __m128i k = _mm_loadu_si128(
			(const __m128i *)&round_k[4 * q]);

#pragma GCC unroll 2
		for (int l = 0; l < LANES; l++) {
			__m128i m;

			if (q >= 4) {
				/* w[i..i+3] from w[i-16..], w[i-15..],
				 * w[i-7..] and w[i-2..] */
				m = _mm_sha256msg1_epu32(w[l][q & 3],
							 w[l][(q + 1) & 3]);
				m = _mm_add_epi32(
					m,
					_mm_alignr_epi8(w[l][(q + 3) & 3],
							w[l][(q + 2) & 3], 4));
				w[l][q & 3] = _mm_sha256msg2_epu32(
					m, w[l][(q + 3) & 3]);
			}
			m = _mm_add_epi32(w[l][q & 3], k);
			cdgh[l] = _mm_sha256rnds2_epu32(cdgh[l], abef[l], m);
			m = _mm_shuffle_epi32(m, 0x0e);
			abef[l] = _mm_sha256rnds2_epu32(abef[l], cdgh[l], m);
		}
	}
	for (int l = 0; l < LANES; l++) {
		abef[l] = _mm_add_epi32(abef[l], save_abef[l]);
		cdgh[l] = _mm_add_epi32(cdgh[l], save_cdgh[l]);
	}
}

TARGET static void hash_lanes(const uint8_t *const blocks[LANES],
			      uint8_t (*out)[32])
{
	static const uint8_t *const last[LANES] = { final_block, final_block };
	__m128i abef[LANES], cdgh[LANES], t, u;

	/* (a, b, c, d) and (e, f, g, h) into (a, b, e, f), (c, d, g, h) */
	t = _mm_shuffle_epi32(
		_mm_loadu_si128((const __m128i *)&initial_state[0]), 0xb1);
	u = _mm_shuffle_epi32(
		_mm_loadu_si128((const __m128i *)&initial_state[4]), 0x1b);
	for (int l = 0; l < LANES; l++) {
		abef[l] = _mm_alignr_epi8(t, u, 8);
		cdgh[l] = _mm_blend_epi16(u, t, 0xf0);
	}
	for (size_t off = 0; off < BLOCK; off += 64)
		compress(abef, cdgh, blocks, off);
	compress(abef, cdgh, last, 0);
	for (int l = 0; l < LANES; l++) {
		t = _mm_shuffle_epi32(abef[l], 0x1b); /* (f, e, b, a) */
		u = _mm_shuffle_epi32(cdgh[l], 0xb1); /* (g, h, c, d) */
		_mm_storeu_si128((__m128i *)out[l],
				 _mm_shuffle_epi8(_mm_blend_epi16(t, u, 0xf0),
						  BSWAP32_MASK));
		_mm_storeu_si128((__m128i *)(out[l] + 16),
				 _mm_shuffle_epi8(_mm_alignr_epi8(u, t, 8),
						  BSWAP32_MASK));
	}
}

static bool generic_forced;

static bool cpu_has_sha(void)
{
	static int known; /* 0: not asked yet, 1: yes, -1: no */
	unsigned a, b, c, d;
	int has = -1;

	if (known != 0)
		return known > 0;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) &&
	    (c & bit_SSSE3) && __get_cpuid_count(7, 0, &a, &b, &c, &d) &&
	    (b & bit_SHA))
		has = 1;
	__atomic_store_n(&known, has, __ATOMIC_RELAXED);
	return has > 0;
}

size_t cfsi_sha256_4k_lanes(void)
{
	return !generic_forced && cpu_has_sha() ? LANES : 0;
}

void cfsi_sha256_4k_x2(const uint8_t *const blocks[2], uint8_t (*out)[32])
{
	hash_lanes(blocks, out);
}

void cfsi_sha256_force_generic(bool force)
{
	generic_forced = force;
}

#else

size_t cfsi_sha256_4k_lanes(void)
{
	return 0;
}

void cfsi_sha256_4k_x2(const uint8_t *const blocks[2], uint8_t (*out)[32])
{
	__builtin_trap(); /* never called: no lanes */
}

void cfsi_sha256_force_generic(bool force)
{
}

#endif
