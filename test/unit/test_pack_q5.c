/*
 * test_pack_q5.c - the packed 8-row layouts of q4_0 and q5_0 weights
 * (llm_block_q4_0x8, llm_block_q5_0x8) and their products with q8_0
 * activation rows: the scalar reference, the AVX2 and the AVX-512 VNNI
 * gemm8 give the same bits on random inputs (odd group counts, every
 * batch size 1..PQ_NC_MAX, extreme quants and activations); a row's
 * result does not depend on how many activation rows or groups share the
 * call; row8_to_float gives the bits of to_float on the unpacked row;
 * and gemm8 agrees with vec_dot on the unpacked rows within the rounding
 * bound stated at pq_close.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "llm_types.h"
#include "llm_util.h"
#include "quant.h"
#include "tap.h"

/* activation rows per call tried: every count 1 .. PQ_NC_MAX (two chunks of 16 and more) */
#define PQ_NC_MAX 35
/* checks: 2 presence + per type (2) x per ISA (3) 3 + per type 2 row8 */
#define PQ_CHECKS (2 + 2 * 3 * 3 + 2 * 2)

static const llm_type pq_types[] = {LLM_TYPE_Q4_0, LLM_TYPE_Q5_0};
/* row lengths: one block, odd block counts, Gemma 3 270M's 640 and 2048, long */
static const int64_t pq_ns[] = {32, 96, 32 * 37, 640, 2048, 32 * 201};

/*
 * xorshift64: the next pseudo-random number of *s.
 */
static uint64_t
pq_rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * A random float in [-1, 1).
 */
static float
pq_rndf(uint64_t *s)
{
	return (float) ((double) (pq_rnd(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/*
 * nr random rows of type t (q4_0 or q5_0), n elements, wb bytes apart:
 * random quant bits and scales; every fifth row has all quants at the
 * top (15 / 31) and every seventh all at zero (-8 / -16), the extremes.
 */
static void
pq_weights(uint64_t *s, llm_type t, char *w, size_t wb, int64_t nr, int64_t n)
{
	for (int64_t r = 0; r < nr; r++)
	{
		uint8_t    *row = (uint8_t *) (w + r * wb);

		for (size_t b = 0; b < wb; b++)
			row[b] = (uint8_t) pq_rnd(s);
		for (int64_t i = 0; i < n / LLM_QK; i++)
		{
			uint16_t	d = llm_fp32_to_fp16(0.001f + 0.05f * fabsf(pq_rndf(s)));
			int			fill = r % 5 == 0 ? 0xff : r % 7 == 0 ? 0x00 : -1;

			if (t == LLM_TYPE_Q4_0)
			{
				llm_block_q4_0 *b = (llm_block_q4_0 *) row + i;

				b->d = d;
				if (fill >= 0)
					memset(b->qs, fill, sizeof(b->qs));
			}
			else
			{
				llm_block_q5_0 *b = (llm_block_q5_0 *) row + i;

				b->d = d;
				if (fill >= 0)
					memset(b->qs, fill, sizeof(b->qs)), memset(b->qh, fill, sizeof(b->qh));
			}
		}
	}
}

/*
 * nc q8_0 activation rows of n elements, ab bytes apart: from_float of
 * random floats, except row 1 all zero, row 2 raw +127 and row 3 raw
 * -128 in every quant (the layout allows -128 though from_float never
 * makes it).
 */
static void
pq_acts(uint64_t *s, const llm_kernels *k, char *a, size_t ab, int64_t nc, int64_t n, float *x)
{
	for (int64_t c = 0; c < nc; c++)
	{
		for (int64_t j = 0; j < n; j++)
			x[j] = c == 1 ? 0.0f : pq_rndf(s);
		k->type[LLM_TYPE_Q8_0].from_float(x, a + c * ab, n);
		if (c == 2 || c == 3)
			for (int64_t i = 0; i < n / LLM_QK; i++)
				memset(((llm_block_q8_0 *) (a + c * ab))[i].qs, c == 2 ? 0x7f : 0x80, LLM_QK);
	}
}

/*
 * Packed result v close to vec_dot's s on the same pair: both sum the
 * same exact block products in different float orders, so they differ
 * by at most about (nb + 2) units of 2^-24 of the sum of the magnitudes
 * M = sum |w_j a_j| (from to_float of both rows); the bound allows 2^-23.
 */
static bool
pq_close(const llm_kernels *k, llm_type t, int64_t n, float v, float s,
		 const void *w, const void *a, float *fw, float *fa)
{
	double		m = 0.0;

	k->type[t].to_float(w, fw, n);
	k->type[LLM_TYPE_Q8_0].to_float(a, fa, n);
	for (int64_t j = 0; j < n; j++)
		m += fabs((double) fw[j] * fa[j]);
	return fabs((double) v - s) <= (double) (n / LLM_QK + 2) * m / 8388608.0 + 1e-30;
}

/*
 * One ISA's gemm8 for type t against the scalar one: for every row
 * length, random ng (1, 2 or 3 groups, odd counts included) and every
 * batch size nc = 1 .. PQ_NC_MAX, the results of one call must be the
 * bits of the scalar gemm8 (*same), of one call per activation row and
 * one call per group (*inv), and close to vec_dot (*close).
 */
static void
pq_isa(const llm_kernels *k, const llm_kernels *ks, llm_type t, uint64_t *seed,
	   bool *same, bool *inv, bool *close)
{
	for (size_t ni = 0; ni < sizeof(pq_ns) / sizeof(pq_ns[0]); ni++)
	{
		const int64_t n = pq_ns[ni];
		const size_t wb = llm_row_size(t, n),
					ab = llm_row_size(LLM_TYPE_Q8_0, n);

		for (int64_t nc = 1; nc <= PQ_NC_MAX; nc += (n > 1000 ? 3 : 1))
		{
			const int64_t ng = 1 + (int64_t) (pq_rnd(seed) % 3),
						nr = 8 * ng,
						ldy = nr + 3;
			char	   *w = malloc(wb * nr),
					   *w8 = malloc(wb * nr),
					   *a = malloc(ab * nc);
			float	   *y = malloc(sizeof(float) * ldy * nc),
					   *yr = malloc(sizeof(float) * ldy * nc),
					   *y1 = malloc(sizeof(float) * ldy * nc),
					   *yg = malloc(sizeof(float) * ldy * nc),
					   *fw = malloc(sizeof(float) * n),
					   *fa = malloc(sizeof(float) * n);

			if (!w || !w8 || !a || !y || !yr || !y1 || !yg || !fw || !fa)
			{
				*same = *inv = *close = false;
				free(w), free(w8), free(a), free(y), free(yr), free(y1), free(yg), free(fw), free(fa);
				return;
			}
			pq_weights(seed, t, w, wb, nr, n);
			for (int64_t g = 0; g < ng; g++)
				ks->type[t].pack8(n, w + g * 8 * wb, wb, w8 + g * 8 * wb);
			pq_acts(seed, ks, a, ab, nc, n, fw);
			k->type[t].gemm8(n, ng, nc, w8, a, ab, y, ldy);
			ks->type[t].gemm8(n, ng, nc, w8, a, ab, yr, ldy);
			for (int64_t c = 0; c < nc; c++)
				k->type[t].gemm8(n, ng, 1, w8, a + c * ab, ab, y1 + c * ldy, ldy);
			for (int64_t g = 0; g < ng; g++)
				k->type[t].gemm8(n, 1, nc, w8 + g * 8 * wb, a, ab, yg + 8 * g, ldy);
			for (int64_t c = 0; c < nc; c++)
				for (int64_t r = 0; r < nr; r++)
				{
					const int64_t o = c * ldy + r;
					float		s;

					*same &= memcmp(&y[o], &yr[o], sizeof(float)) == 0;
					*inv &= memcmp(&y[o], &y1[o], sizeof(float)) == 0 &&
						memcmp(&y[o], &yg[o], sizeof(float)) == 0;
					ks->type[t].vec_dot(n, &s, w + r * wb, a + c * ab);
					*close &= pq_close(ks, t, n, y[o], s, w + r * wb, a + c * ab, fw, fa);
				}
			free(w), free(w8), free(a), free(y), free(yr), free(y1), free(yg), free(fw), free(fa);
		}
	}
}

/*
 * row8_to_float of table k on every row of 3 packed groups equals
 * to_float of the scalar table and of table ka on the row before
 * packing, bit for bit.
 */
static bool
pq_row8(const llm_kernels *ks, const llm_kernels *ka, llm_type t, uint64_t *seed)
{
	bool		good = ks->type[t].row8_to_float != NULL;

	for (size_t ni = 0; good && ni < sizeof(pq_ns) / sizeof(pq_ns[0]); ni++)
	{
		const int64_t n = pq_ns[ni],
					nr = 24;
		const size_t wb = llm_row_size(t, n);
		char	   *w = malloc(wb * nr),
				   *w8 = malloc(wb * nr);
		float	   *y = malloc(sizeof(float) * n),
				   *yr = malloc(sizeof(float) * n),
				   *ya = malloc(sizeof(float) * n);

		good = w && w8 && y && yr && ya;
		if (good)
		{
			pq_weights(seed, t, w, wb, nr, n);
			for (int64_t g = 0; g < nr / 8; g++)
				ks->type[t].pack8(n, w + g * 8 * wb, wb, w8 + g * 8 * wb);
			for (int64_t r = 0; r < nr; r++)
			{
				ks->type[t].row8_to_float(n, w8 + (r / 8) * 8 * wb, (int) (r % 8), y);
				ks->type[t].to_float(w + r * wb, yr, n);
				ka->type[t].to_float(w + r * wb, ya, n);
				good &= memcmp(y, yr, sizeof(float) * n) == 0 && memcmp(y, ya, sizeof(float) * n) == 0;
			}
		}
		free(w), free(w8), free(y), free(yr), free(ya);
	}
	return good;
}

/*
 * The checks, PQ_CHECKS in all; an ISA the CPU lacks is skipped.
 */
int
main(void)
{
	static const char *isas[] = {"scalar", "avx2", "avx512"};
	llm_kernels ks;
	uint64_t	seed = 0x9e3779b97f4a7c15ull;

	tap_plan(PQ_CHECKS);
	llm_kernels_init_scalar(&ks);
	for (size_t ti = 0; ti < 2; ti++)
	{
		const llm_type_ops *op = &ks.type[pq_types[ti]];

		ok(op->pack8 && op->gemm8 && op->row8_to_float && op->vec_dot_type == LLM_TYPE_Q8_0,
		   "%s: scalar table has pack8, gemm8, row8_to_float (q8_0 activations)",
		   llm_type_name(pq_types[ti]));
	}
	for (size_t ti = 0; ti < 2; ti++)
	{
		llm_type	t = pq_types[ti];

		for (int ii = 0; ii < 3; ii++)
		{
			llm_kernels k;
			bool		same = true,
						inv = true,
						close = true;

			if (strcmp(llm_kernels_init(&k, isas[ii]), isas[ii]) != 0)
			{
				tap_skip_n(3, "%s: this CPU has no %s", llm_type_name(t), isas[ii]);
				continue;
			}
			if (k.type[t].gemm8 == NULL)
			{
				ok(false, "%s %s: no gemm8", llm_type_name(t), isas[ii]);
				tap_skip_n(2, "no gemm8");
				continue;
			}
			pq_isa(&k, &ks, t, &seed, &same, &inv, &close);
			ok(same, "%s gemm8 %s: the bits of the scalar gemm8, every batch size 1..%d, 1-3 groups",
			   llm_type_name(t), isas[ii], PQ_NC_MAX);
			ok(inv, "%s gemm8 %s: batch invariant (one row or one group per call: same bits)",
			   llm_type_name(t), isas[ii]);
			ok(close, "%s gemm8 %s: within (nb + 2) 2^-23 sum|w a| of the unpacked vec_dot",
			   llm_type_name(t), isas[ii]);
		}
	}
	for (size_t ti = 0; ti < 2; ti++)
	{
		llm_type	t = pq_types[ti];
		llm_kernels ka;

		llm_kernels_init(&ka, "auto");
		ok(pq_row8(&ks, &ka, t, &seed), "%s row8_to_float: the bits of to_float (scalar, %s) on the unpacked row",
		   llm_type_name(t), ka.isa);
		ok(ka.type[t].row8_to_float == ks.type[t].row8_to_float && ka.type[t].pack8 == ks.type[t].pack8,
		   "%s: the %s table keeps the scalar pack8 and row8_to_float (one layout)", llm_type_name(t), ka.isa);
	}
	return tap_done();
}
