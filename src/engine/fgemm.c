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
