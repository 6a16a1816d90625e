/*
 * sample.c - choosing the next token from a row of logits.
 *
 * The chain follows llama.cpp's default order: repetition penalty, top-k,
 * top-p, min-p, temperature, then a draw from the softmax of what is left.
 * top-p and min-p look at the probabilities before the temperature is
 * applied (as llama.cpp does); the temperature only shapes the final draw.
 *
 * Determinism: candidates are ordered by a strict total order (higher
 * logit first, lower id first among equal logits), so every selection and
 * sort gives one well-defined result whatever the algorithm or the C
 * library; the random numbers come from the sampler's own xoshiro256**
 * generator seeded through splitmix64, and the softmax is computed in
 * double precision. The same seed and logits therefore give the same
 * tokens everywhere (up to last-bit differences of exp() between C
 * libraries, which could only matter for a draw falling exactly on a
 * boundary).
 *
 * Non-finite logits: NaN is treated as -inf; -inf tokens are never drawn;
 * +inf tokens, when present, share all of the probability. If every logit
 * is -inf (or NaN) the result is token 0.
 */
#include "sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"

/* first-pass size for top-p when no top-k cut came before it */
#define SAMPLE_TOPP_FIRST	256
/* up to this k, top-k selection uses a bounded heap, else quickselect */
#define SAMPLE_HEAP_MAX		1024

typedef struct sample_cand
{
	int32_t		id;
	float		logit;
} sample_cand;

struct llm_sampler
{
	llm_sampling_params p;
	int32_t		n_vocab;
	uint64_t	rng[4];			/* xoshiro256** state */
	int32_t    *hist;			/* ring of the last repeat_last_n tokens */
	int32_t		hist_len;		/* tokens stored (<= repeat_last_n) */
	int32_t		hist_pos;		/* next slot to write */
	uint8_t    *seen;			/* n_vocab bits, scratch for dedup */
	sample_cand *cand;			/* n_vocab candidates, scratch */
	float	   *work;			/* n_vocab logits, scratch for greedy */
	double	   *prob;			/* n_vocab weights, scratch */
};

/*
 * Fill p with the documented defaults.
 */
void
llm_sampling_defaults(llm_sampling_params *p)
{
	if (p == NULL)
		return;
	memset(p, 0, sizeof(*p));
	p->temperature = 0.0f;
	p->top_k = 40;
	p->top_p = 0.95f;
	p->min_p = 0.05f;
	p->repeat_penalty = 1.0f;
	p->repeat_last_n = 64;
	p->seed = 0;
}

/*
 * Check every parameter's range; the message names the parameter, the
 * allowed range and the value given. The comparisons are written so that
 * NaN fails them.
 */
int
llm_sampling_validate(const llm_sampling_params *p, char *err)
{
	if (p == NULL)
		return llm_err(err, "sampling parameters are missing");
	if (!(p->temperature >= 0.0f) || !isfinite(p->temperature))
		return llm_err(err, "temperature must be a finite number >= 0 (0 = greedy), got %g",
					   (double) p->temperature);
	if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
		return llm_err(err, "top_p must be in (0, 1] (1 = off), got %g",
					   (double) p->top_p);
	if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
		return llm_err(err, "min_p must be in [0, 1] (0 = off), got %g",
					   (double) p->min_p);
	if (p->top_k < 0)
		return llm_err(err, "top_k must be >= 0 (0 = off), got %d",
					   (int) p->top_k);
	if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty))
		return llm_err(err, "repeat_penalty must be a finite number > 0 (1 = off), got %g",
					   (double) p->repeat_penalty);
	if (p->repeat_last_n < 0)
		return llm_err(err, "repeat_last_n must be >= 0 (0 = no penalty window), got %d",
					   (int) p->repeat_last_n);
	return 0;
}

/*
 * splitmix64 step: used only to spread the user's seed over the
 * xoshiro256** state (which must not be all zero).
 */
static uint64_t
sample_splitmix64(uint64_t *x)
{
	uint64_t	z;

	*x += 0x9e3779b97f4a7c15ULL;
	z = *x;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Rotate a 64-bit word left by k bits (0 < k < 64).
 */
static inline uint64_t
sample_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/*
 * Next 64 random bits from the xoshiro256** generator.
 */
static uint64_t
sample_rng_next(uint64_t *s)
{
	uint64_t	result = sample_rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = sample_rotl(s[3], 45);
	return result;
}

/*
 * A uniform double in [0, 1) with 53 random bits.
 */
static double
sample_rng_uniform(uint64_t *s)
{
	return (double) (sample_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * Create a sampler for a vocabulary of n_vocab tokens. Parameters are
 * expected to have passed llm_sampling_validate(); out-of-range values
 * are nevertheless clamped to something harmless here. NULL when n_vocab
 * is not positive or memory runs out.
 */
llm_sampler *
llm_sampler_new(const llm_sampling_params *p, int32_t n_vocab)
{
	llm_sampler *s;
	uint64_t	x;
	size_t		nv;
	int			i;

	if (p == NULL || n_vocab <= 0)
		return NULL;
	nv = (size_t) n_vocab;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->p = *p;
	s->n_vocab = n_vocab;

	/* defensive clamps; validate() reports these as errors */
	if (!(s->p.temperature >= 0.0f) || !isfinite(s->p.temperature))
		s->p.temperature = 0.0f;
	if (!(s->p.top_p > 0.0f && s->p.top_p <= 1.0f))
		s->p.top_p = 1.0f;
	if (!(s->p.min_p >= 0.0f && s->p.min_p <= 1.0f))
		s->p.min_p = 0.0f;
	if (s->p.top_k < 0)
		s->p.top_k = 0;
	if (!(s->p.repeat_penalty > 0.0f) || !isfinite(s->p.repeat_penalty))
		s->p.repeat_penalty = 1.0f;
	if (s->p.repeat_last_n < 0)
		s->p.repeat_last_n = 0;

	x = p->seed;
	for (i = 0; i < 4; i++)
		s->rng[i] = sample_splitmix64(&x);

	if (s->p.repeat_last_n > 0)
	{
		s->hist = malloc(sizeof(int32_t) * (size_t) s->p.repeat_last_n);
		s->seen = calloc((nv + 7) / 8, 1);
		if (s->hist == NULL || s->seen == NULL)
			goto fail;
	}
	s->cand = malloc(sizeof(sample_cand) * nv);
	s->work = malloc(sizeof(float) * nv);
	s->prob = malloc(sizeof(double) * nv);
	if (s->cand == NULL || s->work == NULL || s->prob == NULL)
		goto fail;
	return s;

fail:
	llm_sampler_free(s);
	return NULL;
}

/*
 * Release a sampler (NULL is fine).
 */
void
llm_sampler_free(llm_sampler *s)
{
	if (s == NULL)
		return;
	free(s->hist);
	free(s->seen);
	free(s->cand);
	free(s->work);
	free(s->prob);
	free(s);
}

/*
 * Remember a token for the repetition penalty; ids outside the
 * vocabulary are ignored.
 */
void
llm_sampler_accept(llm_sampler *s, int32_t tok)
{
	if (s == NULL || s->hist == NULL || tok < 0 || tok >= s->n_vocab)
		return;
	s->hist[s->hist_pos] = tok;
	s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
	if (s->hist_len < s->p.repeat_last_n)
		s->hist_len++;
}

/*
 * Apply the repetition penalty to vals (indexed by token id): each
 * distinct token of the window is penalised once - a positive logit is
 * divided by the penalty, a zero or negative one multiplied by it.
 */
static void
sample_apply_penalty(llm_sampler *s, float *vals, size_t stride)
{
	float		pen = s->p.repeat_penalty;
	int32_t		i;

	if (pen == 1.0f || s->hist_len == 0)
		return;
	for (i = 0; i < s->hist_len; i++)
	{
		int32_t		t = s->hist[i];
		float	   *v = (float *) ((char *) vals + (size_t) t * stride);

		if (s->seen[t >> 3] & (1u << (t & 7)))
			continue;
		s->seen[t >> 3] |= (uint8_t) (1u << (t & 7));
		if (*v <= 0.0f)
			*v *= pen;
		else
			*v /= pen;
	}
	/* clear only the bits that were set */
	for (i = 0; i < s->hist_len; i++)
	{
		int32_t		t = s->hist[i];

		s->seen[t >> 3] = 0;
	}
}

/*
 * True when a comes before b: higher logit first, lower id on ties. This
 * is a strict total order because ids are distinct and NaN was removed.
 */
static inline int
sample_before(const sample_cand *a, const sample_cand *b)
{
	if (a->logit != b->logit)
		return a->logit > b->logit;
	return a->id < b->id;
}

/*
 * qsort comparator for the total order above.
 */
static int
sample_cmp(const void *pa, const void *pb)
{
	const sample_cand *a = pa;
	const sample_cand *b = pb;

	if (sample_before(a, b))
		return -1;
	if (sample_before(b, a))
		return 1;
	return 0;
}

/*
 * Swap two candidates.
 */
static inline void
sample_swap(sample_cand *a, sample_cand *b)
{
	sample_cand t = *a;

	*a = *b;
	*b = t;
}

/*
 * Rearrange c[0..n) so that its first k entries are the k first ones in
 * the total order (in no particular order among themselves). Quickselect
 * with a median-of-three pivot, expected O(n); after too many rounds it
 * falls back to sorting the remaining range, which bounds the worst case
 * at O(n log n).
 */
static void
sample_select(sample_cand *c, size_t n, size_t k)
{
	size_t		lo = 0,
				hi = n;			/* the k-th boundary lies in [lo, hi) */
	int			rounds = 0;
	int			max_rounds = 64;

	if (k == 0 || k >= n)
		return;
	while (hi - lo > 16)
	{
		size_t		mid = lo + (hi - lo) / 2;
		size_t		i,
					store;
		sample_cand pivot;

		if (++rounds > max_rounds)
			break;
		/* median of three moved to hi-1 */
		if (sample_before(&c[mid], &c[lo]))
			sample_swap(&c[mid], &c[lo]);
		if (sample_before(&c[hi - 1], &c[lo]))
			sample_swap(&c[hi - 1], &c[lo]);
		if (sample_before(&c[mid], &c[hi - 1]))
			sample_swap(&c[mid], &c[hi - 1]);
		pivot = c[hi - 1];

		/* Lomuto partition: entries before the pivot go left */
		store = lo;
		for (i = lo; i < hi - 1; i++)
		{
			if (sample_before(&c[i], &pivot))
			{
				sample_swap(&c[i], &c[store]);
				store++;
			}
		}
		sample_swap(&c[store], &c[hi - 1]);

		if (store == k || store + 1 == k)
			return;
		if (store > k)
			hi = store;
		else
			lo = store + 1;
	}
	/* small or stubborn range: sort it, which also fixes the boundary */
	qsort(c + lo, hi - lo, sizeof(sample_cand), sample_cmp);
}

/*
 * Restore the heap property below node i of a heap h[0..k) whose root is
 * the entry that comes last in the total order (the weakest kept).
 */
static void
sample_sift_down(sample_cand *h, size_t k, size_t i)
{
	for (;;)
	{
		size_t		l = 2 * i + 1,
					r = l + 1,
					m = i;

		if (l < k && sample_before(&h[m], &h[l]))
			m = l;
		if (r < k && sample_before(&h[m], &h[r]))
			m = r;
		if (m == i)
			return;
		sample_swap(&h[i], &h[m]);
		i = m;
	}
}

/*
 * Move the k first entries (total order) of c[0..n) to c[0..k) with a
 * bounded heap: one comparison per entry for most of the array, which is
 * much cheaper than partitioning when k is small.
 */
static void
sample_select_heap(sample_cand *c, size_t n, size_t k)
{
	size_t		i;

	for (i = k / 2; i-- > 0;)
		sample_sift_down(c, k, i);
	for (i = k; i < n; i++)
	{
		if (sample_before(&c[i], &c[0]))
		{
			sample_swap(&c[i], &c[0]);
			sample_sift_down(c, k, 0);
		}
	}
}

/*
 * Sort the first k entries of c[0..n) into the total order, making them
 * the k first of the whole array.
 */
static void
sample_sort_prefix(sample_cand *c, size_t n, size_t k)
{
	if (k > n)
		k = n;
	if (k == 0)
		return;
	if (k <= SAMPLE_HEAP_MAX)
		sample_select_heap(c, n, k);
	else
		sample_select(c, n, k);
	qsort(c, k, sizeof(sample_cand), sample_cmp);
}

/*
 * Largest logit of c[0..n) (-inf for an empty range).
 */
static double
sample_max(const sample_cand *c, size_t n)
{
	double		mx = -INFINITY;
	size_t		i;

	for (i = 0; i < n; i++)
		if (c[i].logit > mx)
			mx = c[i].logit;
	return mx;
}

/*
 * Relative weights exp((l - mx) / temp) of c[from..to) into w[from..to),
 * in double; returns their sum. When mx is +inf, the +inf entries get
 * weight 1 and the rest 0.
 */
static double
sample_weights(const sample_cand *c, size_t from, size_t to, double mx,
			   double temp, double *w)
{
	double		sum = 0.0;
	size_t		i;

	for (i = from; i < to; i++)
	{
		double		l = c[i].logit;

		if (isinf(mx) && mx > 0)
			w[i] = (l == mx) ? 1.0 : 0.0;
		else
			w[i] = exp((l - mx) / temp);
		sum += w[i];
	}
	return sum;
}

/*
 * Nucleus filter: keep the smallest prefix (in probability order) whose
 * probabilities add up to at least top_p, and at least one token. The
 * first n_sorted entries of c are already in order. Without a previous
 * cut, only the best SAMPLE_TOPP_FIRST are ordered first, and the rest
 * only when they are needed. Returns the new count.
 */
static size_t
sample_top_p(llm_sampler *s, sample_cand *c, size_t n, size_t n_sorted)
{
	double		mx,
				sum,
				cum = 0.0,
				target;
	double	   *w = s->prob;
	size_t		i,
				have = n_sorted;

	if (n <= 1)
		return n;
	if (have == 0)
	{
		have = n < SAMPLE_TOPP_FIRST ? n : SAMPLE_TOPP_FIRST;
		sample_sort_prefix(c, n, have);
	}
	/* the total does not depend on the order */
	mx = sample_max(c, n);
	sum = sample_weights(c, 0, n, mx, 1.0, w);
	target = (double) s->p.top_p * sum;
	for (i = 0; i < n; i++)
	{
		if (i == have)
		{
			/* the first part was not enough: order the rest too */
			qsort(c + have, n - have, sizeof(sample_cand), sample_cmp);
			sample_weights(c, have, n, mx, 1.0, w);
			have = n;
		}
		cum += w[i];
		if (cum >= target)
			return i + 1;
	}
	return n;
}

/*
 * min-p filter: keep the tokens whose probability is at least min_p times
 * that of the most likely one, i.e. logit >= max + log(min_p). Order is
 * preserved. Returns the new count (never 0).
 */
static size_t
sample_min_p(const llm_sampler *s, sample_cand *c, size_t n)
{
	double		mx = sample_max(c, n);
	double		thr;
	size_t		i,
				m = 0;

	thr = (double) mx + log((double) s->p.min_p);
	for (i = 0; i < n; i++)
		if ((double) c[i].logit >= thr || (double) c[i].logit == mx)
			c[m++] = c[i];
	return m;
}

/*
 * Greedy choice: the highest penalised logit, ties to the lowest id; NaN
 * counts as -inf, so an all -inf/NaN row gives 0.
 */
static int32_t
sample_greedy(llm_sampler *s, const float *logits)
{
	const float *v = logits;
	int32_t		best = 0,
				i;
	float		bv = -INFINITY;

	if (s->p.repeat_penalty != 1.0f && s->hist_len > 0)
	{
		memcpy(s->work, logits, sizeof(float) * (size_t) s->n_vocab);
		sample_apply_penalty(s, s->work, sizeof(float));
		v = s->work;
	}
	for (i = 0; i < s->n_vocab; i++)
	{
		if (v[i] > bv)			/* false for NaN */
		{
			bv = v[i];
			best = i;
		}
	}
	return best;
}

/*
 * Run the whole chain on logits (n_vocab entries, not modified) and
 * return the chosen token id; -1 only for NULL arguments.
 */
int32_t
llm_sampler_sample(llm_sampler *s, const float *logits)
{
	sample_cand *c;
	size_t		n = 0,
				n_sorted = 0,
				i;
	double		sum,
				r,
				acc;
	int32_t		last = -1;

	if (s == NULL || logits == NULL)
		return -1;
	if (s->p.temperature <= 0.0f)
		return sample_greedy(s, logits);

	/* candidates, by id; NaN becomes -inf */
	c = s->cand;
	for (i = 0; i < (size_t) s->n_vocab; i++)
	{
		c[i].id = (int32_t) i;
		c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
	}
	sample_apply_penalty(s, &c[0].logit, sizeof(sample_cand));

	/* drop impossible tokens; if nothing is left, answer 0 */
	for (i = 0; i < (size_t) s->n_vocab; i++)
		if (c[i].logit > -INFINITY)
			c[n++] = c[i];
	if (n == 0)
		return 0;

	if (s->p.top_k > 0 && (size_t) s->p.top_k < n)
	{
		sample_sort_prefix(c, n, (size_t) s->p.top_k);
		n = (size_t) s->p.top_k;
		n_sorted = n;
	}
	if (s->p.top_p < 1.0f)
		n = sample_top_p(s, c, n, n_sorted);
	if (s->p.min_p > 0.0f)
		n = sample_min_p(s, c, n);

	/* temperature, softmax and the draw */
	sum = sample_weights(c, 0, n, sample_max(c, n),
						 (double) s->p.temperature, s->prob);
	r = sample_rng_uniform(s->rng) * sum;
	acc = 0.0;
	for (i = 0; i < n; i++)
	{
		if (s->prob[i] <= 0.0)
			continue;
		acc += s->prob[i];
		last = c[i].id;
		if (r < acc)
			return c[i].id;
	}
	/* rounding left r at the very top: take the last possible token */
	return last >= 0 ? last : c[0].id;
}
