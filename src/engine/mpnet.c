/*
 * mpnet.c - MPNet's relative position buckets and the per-head bias table
 * built from them (mpnet.h).
 *
 * For a distance n = |query - key| within a direction: n itself below
 * max_exact = n_buckets / 4; above it
 *   max_exact + trunc(log(n / max_exact) / log(max_distance / max_exact)
 *                     * (n_buckets / 2 - max_exact))
 * capped at n_buckets / 2 - 1; keys after the query use the upper half.
 * The logarithm is taken in single precision, as the reference (PyTorch)
 * does, so that the truncation falls the same way at the bucket edges
 * (16, 32 and 64 for 32 buckets and distance 128 are exact powers).
 */
#include "mpnet.h"

#include <math.h>
#include <stdlib.h>

#include "llm_util.h"

/*
 * The bucket of a relative position (see mpnet.h).
 */
int
llm_mpnet_bucket(int rel, int n_buckets, int max_distance)
{
	int			half = n_buckets / 2,
				max_exact = half / 2,
				ret = 0,
				n,
				large;
	float		v;

	if (n_buckets < 4 || n_buckets % 4 != 0 || n_buckets > 1024 ||
		max_distance <= max_exact || max_distance > (1 << 20) ||
		rel < -(1 << 20) || rel > (1 << 20))
		return -1;
	n = -rel;
	if (n < 0)
	{
		ret = half;
		n = -n;
	}
	if (n < max_exact)
		return ret + n;
	v = logf((float) n / (float) max_exact) /
		(float) log((double) max_distance / max_exact) * (float) (half - max_exact);
	large = max_exact + (int) v;
	if (large > half - 1)
		large = half - 1;
	return ret + large;
}

/*
 * Expand the model's bucket table into a bias per head and distance (see
 * mpnet.h).
 */
int
llm_mpnet_bias_table(const float *w, int n_buckets, int n_heads,
					 int max_distance, int max_len, float **out, char *err)
{
	size_t		width;
	float	   *t;
	int			r,
				h;

	*out = NULL;
	if (n_heads <= 0 || n_heads > 4096 || max_len <= 0 || max_len > (1 << 20) ||
		llm_mpnet_bucket(0, n_buckets, max_distance) < 0)
		return llm_err(err, "mpnet: bad relative attention settings (%d buckets, distance %d, %d heads)",
					   n_buckets, max_distance, n_heads);
	width = 2 * (size_t) max_len - 1;
	t = malloc(width * (size_t) n_heads * sizeof(float));
	if (!t)
		return llm_err(err, "out of memory");
	for (r = -(max_len - 1); r <= max_len - 1; r++)
	{
		int			b = llm_mpnet_bucket(r, n_buckets, max_distance);

		for (h = 0; h < n_heads; h++)
			t[(size_t) h * width + (size_t) (r + max_len - 1)] = w[(size_t) b * n_heads + h];
	}
	*out = t;
	return 0;
}
