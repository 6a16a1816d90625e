/*
 * quant.h - block layouts of the quantized tensor types.
 *
 * Every struct is byte-for-byte the layout GGUF files use (ggml's
 * ggml-common.h): half-precision scales are stored as uint16_t, little
 * endian, and no struct has padding. Weights are read straight from the
 * mapped file through these types, so the sizes are checked at compile
 * time.
 *
 * Element order inside a 32-element block with 4-bit quants: byte j holds
 * element j in its low nibble and element j + 16 in its high nibble.
 */
#ifndef LLM_QUANT_H
#define LLM_QUANT_H

#include <stdint.h>

#define LLM_QK		32			/* elements per q4_0 ... q8_1 block */
#define LLM_QK_K	256			/* elements per K-quant super-block */
#define LLM_K_SCALE_SIZE 12		/* packed 6-bit scales of q4_K / q5_K */

/* 4-bit, symmetric: x = d * (q - 8) */
typedef struct llm_block_q4_0
{
	uint16_t	d;
	uint8_t		qs[LLM_QK / 2];
} llm_block_q4_0;

/* 4-bit with offset: x = d * q + m */
typedef struct llm_block_q4_1
{
	uint16_t	d;
	uint16_t	m;
	uint8_t		qs[LLM_QK / 2];
} llm_block_q4_1;

/* 5-bit, symmetric: x = d * (q - 16); bit 4 of element j is bit j of qh */
typedef struct llm_block_q5_0
{
	uint16_t	d;
	uint8_t		qh[4];
	uint8_t		qs[LLM_QK / 2];
} llm_block_q5_0;

/* 5-bit with offset: x = d * q + m */
typedef struct llm_block_q5_1
{
	uint16_t	d;
	uint16_t	m;
	uint8_t		qh[4];
	uint8_t		qs[LLM_QK / 2];
} llm_block_q5_1;

/* 8-bit, symmetric: x = d * q */
typedef struct llm_block_q8_0
{
	uint16_t	d;
	int8_t		qs[LLM_QK];
} llm_block_q8_0;

/*
 * Eight q4_1 rows packed together (LLM_TYPE_Q4_1 weights after
 * llm_type_ops.pack8): the same block of rows 8g .. 8g + 7. Row r's scale
 * and min are d[r], m[r]; qs holds four 32-byte vectors p = 0..3 whose
 * bytes 4r .. 4r + 3 are bytes 4p .. 4p + 3 of row r's q4_1 block, so the
 * low nibbles of vector p are elements 4p .. 4p + 3 of each row and the
 * high nibbles elements 16 + 4p .. 16 + 4p + 3.
 */
typedef struct llm_block_q4_1x8
{
	uint16_t	d[8];
	uint16_t	m[8];
	uint8_t		qs[8 * LLM_QK / 2];
} llm_block_q4_1x8;

/*
 * Eight q8_0 rows packed together (LLM_TYPE_Q8_0 weights after pack8):
 * row r's scale is d[r]; qs holds eight 32-byte vectors j = 0..7 whose
 * bytes 4r .. 4r + 3 are elements 4j .. 4j + 3 of row r.
 */
typedef struct llm_block_q8_0x8
{
	uint16_t	d[8];
	int8_t		qs[8 * LLM_QK];
} llm_block_q8_0x8;

/*
 * Eight q4_0 rows packed together (LLM_TYPE_Q4_0 weights after pack8):
 * row r's scale is d[r]; qs is interleaved as in llm_block_q4_1x8.
 */
typedef struct llm_block_q4_0x8
{
	uint16_t	d[8];
	uint8_t		qs[8 * LLM_QK / 2];
} llm_block_q4_0x8;

/*
 * Eight q5_0 rows packed together (LLM_TYPE_Q5_0 weights after pack8):
 * row r's scale is d[r]; the high bits go by nibbles: the little-endian
 * 32-bit word qh[4j .. 4j + 3] holds at bits 4r .. 4r + 3 the fifth bits
 * of row r's elements 4j .. 4j + 3, so its bit b belongs to byte b of
 * the kernels' weight vector j (a byte mask); qs is interleaved as in
 * llm_block_q4_1x8.
 */
typedef struct llm_block_q5_0x8
{
	uint16_t	d[8];
	uint8_t		qh[8 * 4];
	uint8_t		qs[8 * LLM_QK / 2];
} llm_block_q5_0x8;

/* 8-bit activations for q4_1 / q5_1: s = d * sum(qs) */
typedef struct llm_block_q8_1
{
	uint16_t	d;
	uint16_t	s;
	int8_t		qs[LLM_QK];
} llm_block_q8_1;

/*
 * 4-bit K-quant: 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit
 * min packed into scales[12]; x = d * sc * q - dmin * m. Elements 64*i ..
 * 64*i+31 are the low nibbles of qs[32*i .. 32*i+31], the next 32 the high
 * nibbles.
 */
typedef struct llm_block_q4_K
{
	uint16_t	d;
	uint16_t	dmin;
	uint8_t		scales[LLM_K_SCALE_SIZE];
	uint8_t		qs[LLM_QK_K / 2];
} llm_block_q4_K;

/* 5-bit K-quant: q4_K plus one high bit per element in qh */
typedef struct llm_block_q5_K
{
	uint16_t	d;
	uint16_t	dmin;
	uint8_t		scales[LLM_K_SCALE_SIZE];
	uint8_t		qh[LLM_QK_K / 8];
	uint8_t		qs[LLM_QK_K / 2];
} llm_block_q5_K;

/* 6-bit K-quant: 16 sub-blocks of 16 with int8 scales; x = d * sc * (q - 32) */
typedef struct llm_block_q6_K
{
	uint8_t		ql[LLM_QK_K / 2];
	uint8_t		qh[LLM_QK_K / 4];
	int8_t		scales[LLM_QK_K / 16];
	uint16_t	d;
} llm_block_q6_K;

/*
 * Eight K-quant rows packed together (LLM_TYPE_Q4_K / Q5_K / Q6_K weights
 * after pack8): super-block i of the group holds super-block i of rows
 * 8g .. 8g + 7, eight bytes for each row's four-byte slice so that a
 * 32-byte vector holds the same slice of every row (row r at bytes
 * 4r .. 4r + 3). Written by kernels_pack_k_ref.c; the layouts are:
 *
 * q4_K x8: d[r], dmin[r] as in row r; qs vector v (0..31) holds bytes
 * 4v .. 4v + 3 of row r's qs, so its low nibbles are elements 64 (v / 8)
 * + 4 (v % 8) .. + 3 (sub-block 2 (v / 8)) and its high nibbles the same
 * positions of sub-block 2 (v / 8) + 1. scales holds the 128 six-bit
 * values val[16 p + 2 r + h] = p < 4 ? scale of sub-block 2p + h of row r
 * : min of sub-block 2 (p - 4) + h, as four 32-byte vectors D0..D3 (val[0
 * .. 31], ...): bytes 0..31 are D0 | D2 << 4 (low four bits each), bytes
 * 32..63 D1 | D3 << 4, bytes 64..95 the top two bits of D0, D1, D2, D3 in
 * bits 0-1, 2-3, 4-5, 6-7.
 *
 * q5_K x8: as q4_K x8, plus qh vector e (0..7) holding bytes 4e .. 4e + 3
 * of row r's qh (bit j: the fifth bit of element 32 j + 4e + k).
 *
 * q6_K x8: d[r] as in row r; scales[16 p + 2 r + h] is scale 2p + h of
 * row r; ql vector v (0..31) holds bytes 4v .. 4v + 3 of row r's ql, qh
 * vector u (0..15) bytes 4u .. 4u + 3 of row r's qh.
 */
typedef struct llm_block_q4_Kx8
{
	uint16_t	d[8];
	uint16_t	dmin[8];
	uint8_t		scales[8 * LLM_K_SCALE_SIZE];
	uint8_t		qs[8 * LLM_QK_K / 2];
} llm_block_q4_Kx8;

typedef struct llm_block_q5_Kx8
{
	uint16_t	d[8];
	uint16_t	dmin[8];
	uint8_t		scales[8 * LLM_K_SCALE_SIZE];
	uint8_t		qh[8 * LLM_QK_K / 8];
	uint8_t		qs[8 * LLM_QK_K / 2];
} llm_block_q5_Kx8;

typedef struct llm_block_q6_Kx8
{
	uint16_t	d[8];
	int8_t		scales[8 * LLM_QK_K / 16];
	uint8_t		ql[8 * LLM_QK_K / 2];
	uint8_t		qh[8 * LLM_QK_K / 4];
} llm_block_q6_Kx8;

/* 8-bit activations for K-quants: float scale and sums of 16 quants */
typedef struct llm_block_q8_K
{
	float		d;
	int8_t		qs[LLM_QK_K];
	int16_t		bsums[LLM_QK_K / 16];
} llm_block_q8_K;

_Static_assert(sizeof(llm_block_q4_0) == 18, "q4_0 block size");
_Static_assert(sizeof(llm_block_q4_1) == 20, "q4_1 block size");
_Static_assert(sizeof(llm_block_q4_1x8) == 8 * sizeof(llm_block_q4_1), "q4_1x8 block size");
_Static_assert(sizeof(llm_block_q8_0x8) == 8 * sizeof(llm_block_q8_0), "q8_0x8 block size");
_Static_assert(sizeof(llm_block_q4_0x8) == 8 * sizeof(llm_block_q4_0), "q4_0x8 block size");
_Static_assert(sizeof(llm_block_q5_0x8) == 8 * sizeof(llm_block_q5_0), "q5_0x8 block size");
_Static_assert(sizeof(llm_block_q5_0) == 22, "q5_0 block size");
_Static_assert(sizeof(llm_block_q5_1) == 24, "q5_1 block size");
_Static_assert(sizeof(llm_block_q8_0) == 34, "q8_0 block size");
_Static_assert(sizeof(llm_block_q8_1) == 36, "q8_1 block size");
_Static_assert(sizeof(llm_block_q4_K) == 144, "q4_K block size");
_Static_assert(sizeof(llm_block_q5_K) == 176, "q5_K block size");
_Static_assert(sizeof(llm_block_q6_K) == 210, "q6_K block size");
_Static_assert(sizeof(llm_block_q8_K) == 292, "q8_K block size");
_Static_assert(sizeof(llm_block_q4_Kx8) == 8 * sizeof(llm_block_q4_K), "q4_Kx8 block size");
_Static_assert(sizeof(llm_block_q5_Kx8) == 8 * sizeof(llm_block_q5_K), "q5_Kx8 block size");
_Static_assert(sizeof(llm_block_q6_Kx8) == 8 * sizeof(llm_block_q6_K), "q6_Kx8 block size");

/*
 * Scale and min number j (0..7) of a q4_K / q5_K super-block from its
 * packed 12 bytes: the first four pairs are the low 6 bits of bytes 0..7,
 * the last four take their low 4 bits from bytes 8..11 and their top 2
 * bits from the spare top bits of bytes 0..7.
 */
static inline void
llm_k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	if (j < 4)
	{
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	}
	else
	{
		*sc = (uint8_t) ((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t) ((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

#endif							/* LLM_QUANT_H */
