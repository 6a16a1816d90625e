/*
 * fgemm.c - packing, the scalar reference product and the split over
 * threads (see fgemm.h).
 */
#include "fgemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"
#include "threadpool.h"

/*
 * See fgemm.h.
 */
int
llm_fgemm_pack(llm_fgemm_b *b, int64_t n, int64_t k, const void *w, size_t row_bytes,
			  llm_to_float_fn to_float, char *err)
{
	float	   *row;
	size_t		bytes;
	int64_t		r,
				kk;

	memset(b, 0, sizeof(*b));
	if (n <= 0 || k <= 0 || n > (INT64_C(1) << 31) || k > (INT64_C(1) << 31))
		return llm_err(err, "cannot pack a %lld x %lld matrix", (long long) n, (long long) k);
	b->n = n;
	b->k = k;
	b->n_panels = (n + LLM_FGEMM_PANEL - 1) / LLM_FGEMM_PANEL;
	if (!llm_mul_size((size_t) b->n_panels * LLM_FGEMM_PANEL, (size_t) k, &bytes) ||
		!llm_mul_size(bytes, sizeof(float), &bytes))
		return llm_err(err, "matrix of %lld x %lld is too large", (long long) n, (long long) k);
	bytes = (bytes + 63) / 64 * 64;
	b->data = aligned_alloc(64, bytes);	/* the kernels load panels aligned */
	if (b->data)
		memset(b->data, 0, bytes);
	row = malloc((size_t) k * sizeof(float));
	if (!b->data || !row)
	{
		free(b->data);
		free(row);
		b->data = NULL;
		return llm_err(err, "out of memory packing a %lld x %lld matrix", (long long) n,
					   (long long) k);
	}
	for (r = 0; r < n; r++)
	{
		float	   *panel = b->data + (r / LLM_FGEMM_PANEL) * k * LLM_FGEMM_PANEL;

		to_float((const char *) w + (size_t) r * row_bytes, row, k);
		for (kk = 0; kk < k; kk++)
			panel[kk * LLM_FGEMM_PANEL + r % LLM_FGEMM_PANEL] = row[kk];
	}
	free(row);
	return 0;
}

/*
 * See fgemm.h.
 */
void
llm_fgemm_b_free(llm_fgemm_b *b)
{
	if (b)
	{
		free(b->data);
		b->data = NULL;
	}
}

/*
 * Scalar reference: each element one fmaf chain over k (see fgemm.h).
 */
void
llm_fgemm_ref(int64_t m, const float *a, int64_t lda, const llm_fgemm_b *b, int64_t p0,
			 int64_t p1, const float *bias, float *c, int64_t ldc)
{
	for (int64_t p = p0; p < p1; p++)
	{
		const float *panel = b->data + p * b->k * LLM_FGEMM_PANEL;
		int64_t		j0 = p * LLM_FGEMM_PANEL,
					nj = b->n - j0 < LLM_FGEMM_PANEL ? b->n - j0 : LLM_FGEMM_PANEL;

		for (int64_t i = 0; i < m; i++)
			for (int64_t j = 0; j < nj; j++)
			{
				float		s = bias ? bias[j0 + j] : 0.0f;

				for (int64_t kk = 0; kk < b->k; kk++)
					s = fmaf(a[i * lda + kk], panel[kk * LLM_FGEMM_PANEL + j], s);
				c[i * ldc + j0 + j] = s;
			}
	}
}

/*
 * See fgemm.h. NaN keeps its sign and becomes a quiet NaN.
 */
uint16_t
llm_f32_to_bf16_rne(float x)
{
	uint32_t	u;

	memcpy(&u, &x, sizeof(u));
	if ((u & 0x7f800000u) == 0)
		return (uint16_t) ((u >> 16) & 0x8000u);	/* zero or denormal */
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t) ((u >> 16) | 0x0040u);	/* NaN */
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t) (u >> 16);
}

/*
 * bfloat16 bits to f32 (exact).
 */
static inline float
bf16_to_f32(uint16_t h)
{
	uint32_t	u = (uint32_t) h << 16;
	float		f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/*
 * A denormal f32 becomes a zero of its sign (vdpbf16ps flushes its sums).
 */
static inline float
flush_denormal(float x)
{
	uint32_t	u;

	memcpy(&u, &x, sizeof(u));
	if ((u & 0x7f800000u) == 0)
		u &= 0x80000000u;
	memcpy(&x, &u, sizeof(x));
	return x;
}

/*
 * Scalar reference of the bfloat16 product (see fgemm.h). The products
 * of two bfloat16 values are exact in f32, so s + p is one rounding.
 */
void
llm_fgemm_bf16_ref(int64_t m, const float *a, int64_t lda, const llm_fgemm_b *b, int64_t p0,
				  int64_t p1, const float *bias, float *c, int64_t ldc)
{
	int64_t		k = b->k;

	for (int64_t p = p0; p < p1; p++)
	{
		const float *panel = b->data + p * k * LLM_FGEMM_PANEL;
		int64_t		j0 = p * LLM_FGEMM_PANEL,
					nj = b->n - j0 < LLM_FGEMM_PANEL ? b->n - j0 : LLM_FGEMM_PANEL;

		for (int64_t i = 0; i < m; i++)
			for (int64_t j = 0; j < nj; j++)
			{
				float		s = flush_denormal(bias ? bias[j0 + j] : 0.0f);

				for (int64_t kk = 0; kk < k; kk += 2)
				{
					float		alo = bf16_to_f32(llm_f32_to_bf16_rne(a[i * lda + kk])),
								blo = bf16_to_f32(llm_f32_to_bf16_rne(panel[kk * LLM_FGEMM_PANEL + j])),
								ahi = 0.0f,
								bhi = 0.0f;

					if (kk + 1 < k)
					{
						ahi = bf16_to_f32(llm_f32_to_bf16_rne(a[i * lda + kk + 1]));
						bhi = bf16_to_f32(llm_f32_to_bf16_rne(panel[(kk + 1) * LLM_FGEMM_PANEL + j]));
					}
					s = flush_denormal(s + ahi * bhi);
					s = flush_denormal(s + alo * blo);
				}
				c[i * ldc + j0 + j] = s;
			}
	}
}

/*
 * See fgemm.h.
 */
void
llm_fgemm_part(llm_fgemm_fn fn, int64_t m, const float *a, int64_t lda, const llm_fgemm_b *b,
			  const float *bias, float *c, int64_t ldc, int ith, int nth, int64_t *c0,
			  int64_t *c1)
{
	int64_t		p0,
				p1;

	llm_split_range(b->n_panels, ith, nth, &p0, &p1);
	*c0 = p0 * LLM_FGEMM_PANEL;
	*c1 = p1 * LLM_FGEMM_PANEL < b->n ? p1 * LLM_FGEMM_PANEL : b->n;
	if (p1 > p0 && m > 0)
		fn(m, a, lda, b, p0, p1, bias, c, ldc);
}
