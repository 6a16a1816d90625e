/*
 * test_pack_k.c - the 8-row packed layouts of q4_K, q5_K and q6_K
 * (kernels_pack_k_*.c): for each type, on random rows (random quant bytes
 * with valid scales) against random q8_K activation rows plus one row of
 * all +127 and one of all -128 quants:
 *   - row8_to_float of every packed row has the bits of to_float (scalar
 *     and AVX2) on the row before packing;
 *   - the scalar gemm8 is within 1e-5 * sqrt(n) * (|s| + 1) of vec_dot on
 *     the unpacked rows (different float order, fma);
 *   - every table's gemm8 (scalar, AVX2, AVX-512) gives the bits of the
 *     scalar gemm8 for every batch size 1..19 and 1..3 groups, and each
 *     activation row's results are the same bits when it is alone in the
 *     call (batch invariance).
 * SIMD tables the CPU lacks are replaced by the scalar one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "llm_types.h"
#include "llm_util.h"
#include "quant.h"
#include "tap.h"

#define PK_NC 19

/*
 * xorshift64* random numbers.
 */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/*
 * A random row of type t, n elements: random bytes, then valid fp16
 * scales (d, dmin) of moderate size.
 */
static void
rnd_krow(uint64_t *s, llm_type t, char *row, int64_t n)
{
	size_t		bytes = llm_row_size(t, n),
				bs = llm_type_get(t)->type_size;

	for (size_t i = 0; i < bytes; i++)
		row[i] = (char) rnd(s);
	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		uint16_t	d = llm_fp32_to_fp16(0.0001f + 0.001f * (float) (rnd(s) % 100));
		uint16_t	m = llm_fp32_to_fp16(0.0001f + 0.001f * (float) (rnd(s) % 100));
		char	   *b = row + i * bs;

		if (t == LLM_TYPE_Q6_K)
			memcpy(b + 208, &d, 2);
		else
		{
			memcpy(b, &d, 2);
			memcpy(b + 2, &m, 2);
		}
	}
}

/*
 * nc q8_K activation rows of n elements: random floats quantized, then
 * row 1 all +127 and row 2 all -128 (with their bsums).
 */
static void
rnd_acts(uint64_t *s, const llm_kernels *k, char *a, size_t ab, int64_t n, int nc)
{
	float	   *x = malloc(sizeof(float) * (size_t) n);

	for (int c = 0; c < nc; c++)
	{
		for (int64_t j = 0; j < n; j++)
			x[j] = (float) ((double) (rnd(s) >> 11) / 9007199254740992.0 - 0.5) *
				(float) (1 + (j / 64) % 5);
		k->type[LLM_TYPE_Q8_K].from_float(x, a + c * ab, n);
		if (c == 1 || c == 2)
			for (int64_t i = 0; i < n / LLM_QK_K; i++)
			{
				llm_block_q8_K *b = (llm_block_q8_K *) (a + c * ab) + i;

				memset(b->qs, c == 1 ? 127 : 0x80, sizeof(b->qs));
				for (int j = 0; j < 16; j++)
					b->bsums[j] = (int16_t) (16 * (c == 1 ? 127 : -128));
			}
	}
	free(x);
}

/*
 * All checks for type t with the tables ks (scalar), ka (AVX2), kx
 * (AVX-512): row lengths ns, groups 1..3.
 */
static void
check_type(const llm_kernels *ks, const llm_kernels *ka, const llm_kernels *kx, llm_type t)
{
	static const int64_t ns[] = {256, 1024, 2048, 256 * 13};
	const llm_kernels *tabs[3] = {ks, ka, kx};
	bool		conv = true,
				close = true,
				same[3] = {true, true, true},
				inv[3] = {true, true, true};
	uint64_t	seed = 1234 + (uint64_t) t;

	for (size_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++)
		for (int64_t ng = 1; ng <= 3; ng++)
		{
			int64_t		n = ns[ni],
						nr = 8 * ng;
			size_t		wb = llm_row_size(t, n),
						ab = llm_row_size(LLM_TYPE_Q8_K, n);
			char	   *w = malloc(wb * nr),
					   *w8 = malloc(wb * nr),
					   *a = malloc(ab * PK_NC);
			float	   *yr = malloc(sizeof(float) * nr * PK_NC),
					   *y = malloc(sizeof(float) * nr * PK_NC),
					   *y1 = malloc(sizeof(float) * nr),
					   *f = malloc(sizeof(float) * n),
					   *fr = malloc(sizeof(float) * n);

			for (int64_t r = 0; r < nr; r++)
				rnd_krow(&seed, t, w + r * wb, n);
			for (int64_t g = 0; g < ng; g++)
				ks->type[t].pack8(n, w + g * 8 * wb, wb, w8 + g * 8 * wb);
			rnd_acts(&seed, ks, a, ab, n, PK_NC);
			for (int64_t r = 0; r < nr; r++)
			{
				ks->type[t].row8_to_float(n, w8 + (r / 8) * 8 * wb, (int) (r % 8), f);
				ks->type[t].to_float(w + r * wb, fr, n);
				conv &= memcmp(f, fr, sizeof(float) * n) == 0;
				ka->type[t].to_float(w + r * wb, fr, n);
				conv &= memcmp(f, fr, sizeof(float) * n) == 0;
			}
			ks->type[t].gemm8(n, ng, PK_NC, w8, a, ab, yr, nr);
			for (int c = 0; c < PK_NC; c++)
				for (int64_t r = 0; r < nr; r++)
				{
					float		s;
					double		v = yr[c * nr + r];

					ks->type[t].vec_dot(n, &s, w + r * wb, a + c * ab);
					close &= fabs(v - s) <= 1e-5 * sqrt((double) n) * (fabs((double) s) + 1.0);
				}
			for (int k = 0; k < 3; k++)
			{
				for (int nc = 1; nc <= PK_NC; nc++)
				{
					tabs[k]->type[t].gemm8(n, ng, nc, w8, a, ab, y, nr);
					same[k] &= memcmp(y, yr, sizeof(float) * nr * nc) == 0;
				}
				for (int c = 0; c < PK_NC; c++)
				{
					tabs[k]->type[t].gemm8(n, ng, 1, w8, a + c * ab, ab, y1, nr);
					inv[k] &= memcmp(y1, yr + c * nr, sizeof(float) * nr) == 0;
				}
			}
			free(w), free(w8), free(a), free(yr), free(y), free(y1), free(f), free(fr);
		}
	ok(ks->type[t].pack8 && ks->type[t].gemm8 && ks->type[t].row8_to_float &&
	   ka->type[t].gemm8 && kx->type[t].gemm8, "%s: 8-row layout registered", llm_type_name(t));
	ok(conv, "%s: row8_to_float has the bits of to_float", llm_type_name(t));
	ok(close, "%s: scalar gemm8 close to vec_dot", llm_type_name(t));
	for (int k = 0; k < 3; k++)
	{
		ok(same[k], "%s gemm8 (%s): bits of the scalar gemm8 for batches 1..%d",
		   llm_type_name(t), tabs[k]->isa, PK_NC);
		ok(inv[k], "%s gemm8 (%s): a row alone gives the bits it gives in a batch",
		   llm_type_name(t), tabs[k]->isa);
	}
}

/*
 * Run the checks for q4_K, q5_K and q6_K.
 */
int
main(void)
{
	llm_kernels ks,
				ka,
				kx;

	llm_kernels_init_scalar(&ks);
	if (llm_cpu_has_avx2())
		llm_kernels_init(&ka, "avx2");
	else
		llm_kernels_init_scalar(&ka);
	if (llm_cpu_has_avx512())
		llm_kernels_init(&kx, "avx512");
	else
		llm_kernels_init_scalar(&kx);
	tap_plan(3 * 9);
	diag("tables: %s, %s, %s", ks.isa, ka.isa, kx.isa);
	check_type(&ks, &ka, &kx, LLM_TYPE_Q4_K);
	check_type(&ks, &ka, &kx, LLM_TYPE_Q5_K);
	check_type(&ks, &ka, &kx, LLM_TYPE_Q6_K);
	return tap_done();
}
