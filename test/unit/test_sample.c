/*
 * test_sample.c - unit tests for the token sampler (src/engine/sample.c).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"
#include "sample.h"
#include "tap.h"

/*
 * Parameters with every filter off: plain temperature sampling.
 */
static llm_sampling_params
plain_params(float temp, uint64_t seed)
{
	llm_sampling_params p;

	llm_sampling_defaults(&p);
	p.temperature = temp;
	p.top_k = 0;
	p.top_p = 1.0f;
	p.min_p = 0.0f;
	p.seed = seed;
	return p;
}

/*
 * Sample once with a fresh sampler (no history).
 */
static int32_t
sample_once(const llm_sampling_params *p, const float *logits, int32_t n)
{
	llm_sampler *s = llm_sampler_new(p, n);
	int32_t		t;

	if (s == NULL)
		return -2;
	t = llm_sampler_sample(s, logits);
	llm_sampler_free(s);
	return t;
}

/*
 * A small deterministic generator for test data (independent of the
 * sampler's own RNG).
 */
static uint32_t
test_rand(uint32_t *st)
{
	*st = *st * 1664525u + 1013904223u;
	return *st >> 8;
}

/*
 * Defaults and parameter validation.
 */
static void
test_validate(void)
{
	llm_sampling_params p;
	char		err[LLM_ERRLEN];

	llm_sampling_defaults(&p);
	ok(p.temperature == 0.0f && p.top_k == 40 && fabsf(p.top_p - 0.95f) < 1e-6f &&
	   fabsf(p.min_p - 0.05f) < 1e-6f && p.repeat_penalty == 1.0f &&
	   p.repeat_last_n == 64 && p.seed == 0, "defaults as documented");
	ok(llm_sampling_validate(&p, err) == 0, "defaults validate");

#define BAD(field, val, word) do { \
		llm_sampling_defaults(&p); p.field = (val); err[0] = 0; \
		ok(llm_sampling_validate(&p, err) == -1 && strstr(err, word) != NULL, \
		   "invalid " #field " = " #val " rejected: %s", err); \
	} while (0)

	BAD(temperature, -0.5f, "temperature");
	BAD(temperature, NAN, "temperature");
	BAD(temperature, INFINITY, "temperature");
	BAD(top_p, 0.0f, "top_p");
	BAD(top_p, 1.5f, "(0, 1]");
	BAD(top_p, NAN, "top_p");
	BAD(min_p, -0.1f, "min_p");
	BAD(min_p, 1.01f, "[0, 1]");
	BAD(top_k, -1, "top_k");
	BAD(repeat_penalty, 0.0f, "repeat_penalty");
	BAD(repeat_penalty, -1.0f, "> 0");
	BAD(repeat_penalty, NAN, "repeat_penalty");
	BAD(repeat_last_n, -1, "repeat_last_n");
#undef BAD

	llm_sampling_defaults(&p);
	p.top_p = 1.0f;
	p.min_p = 1.0f;
	p.top_k = 0;
	p.temperature = 2.0f;
	p.repeat_last_n = 0;
	ok(llm_sampling_validate(&p, err) == 0, "boundary values accepted");
	ok(llm_sampling_validate(NULL, err) == -1, "NULL params rejected");
	ok(llm_sampler_new(&p, 0) == NULL, "n_vocab 0 gives NULL");
}

/*
 * Greedy: argmax, ties to the lowest id, top-k 1 equals greedy.
 */
static void
test_greedy(void)
{
	float		l[6] = {0.5f, 2.0f, -1.0f, 3.5f, 3.5f, 1.0f};
	llm_sampling_params p = plain_params(0.0f, 1);
	llm_sampling_params pk;
	uint32_t	st = 7;
	int			i,
				all = 1;

	ok(sample_once(&p, l, 6) == 3, "greedy picks the argmax (tie 3/4 -> 3)");
	l[3] = 3.0f;
	ok(sample_once(&p, l, 6) == 4, "greedy picks the argmax");
	p.temperature = -1.0f;		/* <= 0 is greedy too (clamped) */
	ok(sample_once(&p, l, 6) == 4, "negative temperature is greedy");

	/* top_k = 1 with a high temperature equals greedy */
	pk = plain_params(5.0f, 99);
	pk.top_k = 1;
	for (i = 0; i < 200 && all; i++)
	{
		float		r[64];
		int			j,
					g;
		llm_sampling_params pg = plain_params(0.0f, 0);

		for (j = 0; j < 64; j++)
			r[j] = (float) (test_rand(&st) % 16) / 4.0f;	/* many ties */
		g = sample_once(&pg, r, 64);
		pk.seed = (uint64_t) i;
		if (sample_once(&pk, r, 64) != g)
			all = 0;
	}
	ok(all, "top_k = 1 equals greedy over 200 random rows with ties");
}

/*
 * Same seed, same sequence; different seeds, different sequences.
 */
static void
test_determinism(void)
{
	enum
	{
		NV = 1000, ND = 200
	};
	float	   *l = malloc(sizeof(float) * NV);
	int32_t		a[ND],
				b[ND],
				c[ND];
	llm_sampling_params p;
	llm_sampler *s1,
			   *s2,
			   *s3;
	uint32_t	st = 12345;
	int			i,
				same_ab = 1,
				same_ac = 1;

	if (l == NULL)
	{
		ok(0, "malloc");
		return;
	}
	for (i = 0; i < NV; i++)
		l[i] = (float) (test_rand(&st) % 1000) / 250.0f;
	llm_sampling_defaults(&p);
	p.temperature = 1.0f;
	p.seed = 42;
	s1 = llm_sampler_new(&p, NV);
	s2 = llm_sampler_new(&p, NV);
	p.seed = 43;
	s3 = llm_sampler_new(&p, NV);
	ok(s1 && s2 && s3, "samplers created");
	if (!(s1 && s2 && s3))
		return;
	for (i = 0; i < ND; i++)
	{
		a[i] = llm_sampler_sample(s1, l);
		b[i] = llm_sampler_sample(s2, l);
		c[i] = llm_sampler_sample(s3, l);
		llm_sampler_accept(s1, a[i]);
		llm_sampler_accept(s2, b[i]);
		llm_sampler_accept(s3, c[i]);
		if (a[i] != b[i])
			same_ab = 0;
		if (a[i] != c[i])
			same_ac = 0;
	}
	ok(same_ab, "same seed gives the same %d draws", ND);
	ok(!same_ac, "different seeds give different draws");
	/* pin the generator: these values must be identical on every platform */
	ok(a[0] == 891 && a[1] == 995 && a[2] == 457 && a[3] == 124,
	   "seed 42 gives the recorded draws (%d %d %d %d)", a[0], a[1], a[2], a[3]);
	llm_sampler_free(s1);
	llm_sampler_free(s2);
	llm_sampler_free(s3);
	free(l);
}

/*
 * Temperature sampling follows softmax(logits / T): chi-square over many
 * draws with a fixed seed.
 */
static void
test_distribution(void)
{
	enum
	{
		NV = 8, ND = 200000
	};
	float		l[NV] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, 1.5f, -2.0f, 0.25f};
	double		T = 0.8,
				prob[NV],
				sum = 0.0,
				chi = 0.0;
	long		cnt[NV] = {0};
	llm_sampling_params p = plain_params((float) T, 2024);
	llm_sampler *s = llm_sampler_new(&p, NV);
	int			i;

	if (s == NULL)
	{
		ok(0, "sampler");
		return;
	}
	for (i = 0; i < NV; i++)
		sum += (prob[i] = exp(l[i] / T));
	for (i = 0; i < ND; i++)
	{
		int32_t		t = llm_sampler_sample(s, l);

		if (t >= 0 && t < NV)
			cnt[t]++;
	}
	for (i = 0; i < NV; i++)
	{
		double		e = ND * prob[i] / sum;

		chi += (cnt[i] - e) * (cnt[i] - e) / e;
	}
	/* 7 degrees of freedom: P(chi2 > 29) is about 1.5e-4 */
	ok(chi < 29.0, "empirical distribution matches softmax(l/T): chi2 = %.2f", chi);
	llm_sampler_free(s);

	/* higher temperature flattens: token 6 (lowest) appears more often */
	{
		llm_sampling_params ph = plain_params(3.0f, 2024);
		llm_sampler *sh = llm_sampler_new(&ph, NV);
		long		c6 = 0;

		for (i = 0; i < 20000 && sh; i++)
			if (llm_sampler_sample(sh, l) == 6)
				c6++;
		ok(sh && c6 * 1.0 / 20000 > 1.5 * cnt[6] / (double) ND,
		   "higher temperature raises a low token's share (%ld / 20000)", c6);
		llm_sampler_free(sh);
	}
}

/*
 * top-p and min-p filtering, checked against brute force.
 */
static void
test_filters(void)
{
	float		l[6] = {3.0f, 1.0f, 0.9f, 0.0f, -1.0f, -5.0f};
	llm_sampling_params p = plain_params(1.0f, 5);
	llm_sampler *s;
	int			i,
				only0 = 1,
				seen[6] = {0},
				bad = 0;

	/* top_p tiny: only the top token survives */
	p.top_p = 0.01f;
	s = llm_sampler_new(&p, 6);
	for (i = 0; i < 500 && s; i++)
		if (llm_sampler_sample(s, l) != 0)
			only0 = 0;
	ok(s && only0, "small top_p keeps only the top token");
	llm_sampler_free(s);

	/*
	 * probabilities: 3.0 -> 0.754, 1.0 -> 0.102, 0.9 -> 0.092, ...;
	 * top_p 0.9 keeps {0, 1, 2} (0.754 + 0.102 < 0.9 <= + 0.092)
	 */
	p.top_p = 0.9f;
	p.temperature = 5.0f;		/* flatten the draw, not the filter */
	s = llm_sampler_new(&p, 6);
	for (i = 0; i < 3000 && s; i++)
	{
		int32_t		t = llm_sampler_sample(s, l);

		if (t < 0 || t > 2)
			bad = 1;
		else
			seen[t] = 1;
	}
	ok(s && !bad && seen[0] && seen[1] && seen[2],
	   "top_p 0.9 keeps exactly tokens {0,1,2} (computed before temperature)");
	llm_sampler_free(s);

	/* min_p 0.12: keep p >= 0.12 p_max, i.e. logit >= 3 + ln 0.12 = 0.88 */
	p = plain_params(5.0f, 6);
	p.min_p = 0.12f;
	memset(seen, 0, sizeof(seen));
	bad = 0;
	s = llm_sampler_new(&p, 6);
	for (i = 0; i < 3000 && s; i++)
	{
		int32_t		t = llm_sampler_sample(s, l);

		if (t < 0 || t > 2)
			bad = 1;
		else
			seen[t] = 1;
	}
	ok(s && !bad && seen[0] && seen[1] && seen[2], "min_p 0.12 keeps exactly {0,1,2}");
	llm_sampler_free(s);

	p.min_p = 0.14f;			/* threshold 1.034: only token 0 */
	s = llm_sampler_new(&p, 6);
	only0 = 1;
	for (i = 0; i < 500 && s; i++)
		if (llm_sampler_sample(s, l) != 0)
			only0 = 0;
	ok(s && only0, "min_p 0.14 keeps only token 0");
	llm_sampler_free(s);

	p.min_p = 1.0f;				/* only the max, even with a tie */
	l[1] = 3.0f;
	memset(seen, 0, sizeof(seen));
	bad = 0;
	s = llm_sampler_new(&p, 6);
	for (i = 0; i < 500 && s; i++)
	{
		int32_t		t = llm_sampler_sample(s, l);

		if (t != 0 && t != 1)
			bad = 1;
		else
			seen[t] = 1;
	}
	ok(s && !bad && seen[0] && seen[1], "min_p 1 keeps the tied maxima only");
	llm_sampler_free(s);
}

/*
 * qsort comparator: descending floats.
 */
static int
cmp_desc(const void *a, const void *b)
{
	float		x = *(const float *) a,
				y = *(const float *) b;

	return (x < y) - (x > y);
}

/*
 * A large vocabulary: draws stay within the brute-force top-k / nucleus,
 * and each draw is quick.
 */
static void
test_large_vocab(void)
{
	enum
	{
		NV = 152064, ND = 200
	};
	float	   *l = malloc(sizeof(float) * NV);
	float	   *sorted = malloc(sizeof(float) * NV);
	unsigned char *hit = calloc(NV, 1);
	llm_sampling_params p;
	llm_sampler *s;
	uint32_t	st = 99;
	int			i,
				bad = 0,
				distinct = 0;
	float		kth;
	double		t0,
				t1,
				tot = 0.0,
				cum = 0.0;

	if (l == NULL || sorted == NULL || hit == NULL)
	{
		ok(0, "malloc");
		free(l);
		free(sorted);
		free(hit);
		return;
	}
	for (i = 0; i < NV; i++)
		l[i] = (float) (test_rand(&st) % 100000) / 10000.0f;
	memcpy(sorted, l, sizeof(float) * NV);
	qsort(sorted, NV, sizeof(float), cmp_desc);
	kth = sorted[39];

	llm_sampling_defaults(&p);
	p.temperature = 1.0f;
	p.min_p = 0.0f;
	p.top_p = 1.0f;
	p.seed = 3;
	s = llm_sampler_new(&p, NV);
	t0 = llm_time_sec();
	for (i = 0; i < ND && s; i++)
	{
		int32_t		t = llm_sampler_sample(s, l);

		if (t < 0 || t >= NV || l[t] < kth)
			bad = 1;
	}
	t1 = llm_time_sec();
	ok(s && !bad, "top_k 40 on %d logits stays within the top 40", NV);
	diag("top_k 40: %.3f ms per draw", (t1 - t0) * 1000.0 / ND);
	llm_sampler_free(s);

	/* a large k (quickselect path), near-uniform draw among the kept */
	p.top_k = 3000;
	p.temperature = 1e6f;
	kth = sorted[2999];
	s = llm_sampler_new(&p, NV);
	for (i = 0; i < 20000 && s; i++)
	{
		int32_t		t = llm_sampler_sample(s, l);

		if (t < 0 || t >= NV || l[t] < kth)
			bad = 1;
		else if (!hit[t])
		{
			hit[t] = 1;
			distinct++;
		}
	}
	ok(s && !bad && distinct > 2500,
	   "top_k 3000 keeps the top 3000 (%d distinct seen)", distinct);
	llm_sampler_free(s);

	/* top_k off, top_p 0.95 over a flat distribution: needs the full sort */
	p.top_k = 0;
	p.top_p = 0.95f;
	p.temperature = 1.0f;
	for (i = 0; i < NV; i++)
		tot += exp((double) sorted[i] - sorted[0]);
	for (i = 0; i < NV; i++)
	{
		cum += exp((double) sorted[i] - sorted[0]);
		if (cum >= 0.95 * tot)
			break;
	}
	kth = sorted[i];
	s = llm_sampler_new(&p, NV);
	t0 = llm_time_sec();
	for (i = 0; i < 20 && s; i++)
	{
		int32_t		t = llm_sampler_sample(s, l);

		if (t < 0 || t >= NV || l[t] < kth)
			bad = 1;
	}
	t1 = llm_time_sec();
	ok(s && !bad, "top_p 0.95 without top_k on %d logits stays in the nucleus", NV);
	diag("top_p only (flat logits): %.3f ms per draw", (t1 - t0) * 1000.0 / 20);
	ok((t1 - t0) / 20 < 2.0, "top_p without top_k is not quadratic");
	llm_sampler_free(s);
	free(l);
	free(sorted);
	free(hit);
}

/*
 * Repetition penalty: divides positive logits, multiplies negative ones,
 * counts each distinct token once, and only within the window.
 */
static void
test_penalty(void)
{
	float		l[4] = {2.0f, 1.9f, -1.0f, -1.1f};
	llm_sampling_params p = plain_params(0.0f, 0);
	llm_sampler *s;
	int			i;

	p.repeat_penalty = 1.2f;
	p.repeat_last_n = 4;
	s = llm_sampler_new(&p, 4);
	if (s == NULL)
	{
		ok(0, "sampler");
		return;
	}
	ok(llm_sampler_sample(s, l) == 0, "no history: argmax 0");
	llm_sampler_accept(s, 0);
	ok(llm_sampler_sample(s, l) == 1, "penalty on token 0 (2.0/1.2 < 1.9) -> 1");
	llm_sampler_free(s);

	/* negative logits get multiplied: -1.0 * 1.2 = -1.2 < -1.1 */
	{
		float		n[2] = {-1.0f, -1.1f};

		s = llm_sampler_new(&p, 2);
		llm_sampler_accept(s, 0);
		ok(s && llm_sampler_sample(s, n) == 1, "negative logit multiplied by the penalty");
		llm_sampler_free(s);
	}

	/* distinct tokens are penalised once: 2.0/1.2 = 1.67 > 1.5 */
	{
		float		m[2] = {2.0f, 1.5f};

		s = llm_sampler_new(&p, 2);
		for (i = 0; i < 3; i++)
			llm_sampler_accept(s, 0);
		ok(s && llm_sampler_sample(s, m) == 0, "a repeated token is penalised once");
		llm_sampler_free(s);
	}

	/* window: token 0 falls out after repeat_last_n newer tokens */
	s = llm_sampler_new(&p, 4);
	llm_sampler_accept(s, 0);
	for (i = 0; i < 4; i++)
		llm_sampler_accept(s, 3);
	ok(s && llm_sampler_sample(s, l) == 0, "token out of the window is not penalised");
	llm_sampler_accept(s, 99);	/* out of range: ignored */
	llm_sampler_accept(s, -1);
	ok(s && llm_sampler_sample(s, l) == 0, "out-of-range accepted ids ignored");
	llm_sampler_free(s);

	/* penalty 1 changes nothing */
	p.repeat_penalty = 1.0f;
	s = llm_sampler_new(&p, 4);
	llm_sampler_accept(s, 0);
	ok(s && llm_sampler_sample(s, l) == 0, "penalty 1.0 is off");
	llm_sampler_free(s);

	/* with temperature sampling, the penalised token becomes rarer */
	{
		llm_sampling_params q = plain_params(1.0f, 11);
		llm_sampler *a,
				   *b;
		long		ca = 0,
					cb = 0;

		q.repeat_penalty = 3.0f;
		a = llm_sampler_new(&q, 4);
		q.repeat_penalty = 1.0f;
		b = llm_sampler_new(&q, 4);
		llm_sampler_accept(a, 0);
		llm_sampler_accept(b, 0);
		for (i = 0; i < 5000 && a && b; i++)
		{
			ca += llm_sampler_sample(a, l) == 0;
			cb += llm_sampler_sample(b, l) == 0;
		}
		ok(a && b && ca * 2 < cb, "penalty lowers the share of a seen token (%ld vs %ld)", ca, cb);
		llm_sampler_free(a);
		llm_sampler_free(b);
	}
}

/*
 * NaN and infinities never crash nor pick garbage.
 */
static void
test_nonfinite(void)
{
	float		l[5] = {NAN, 1.0f, NAN, 2.0f, -INFINITY};
	float		all_ninf[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
	float		all_nan[3] = {NAN, NAN, NAN};
	float		pinf[4] = {0.0f, INFINITY, 1e30f, INFINITY};
	llm_sampling_params g = plain_params(0.0f, 0);
	llm_sampling_params t = plain_params(1.0f, 0);
	llm_sampling_params d;
	llm_sampler *s;
	int			i,
				bad = 0,
				seen1 = 0,
				seen3 = 0;

	ok(sample_once(&g, l, 5) == 3, "greedy ignores NaN");
	ok(sample_once(&g, all_ninf, 4) == 0, "greedy on all -inf gives 0");
	ok(sample_once(&g, all_nan, 3) == 0, "greedy on all NaN gives 0");
	ok(sample_once(&t, all_ninf, 4) == 0, "sampling on all -inf gives 0");
	ok(sample_once(&t, all_nan, 3) == 0, "sampling on all NaN gives 0");

	llm_sampling_defaults(&d);
	d.temperature = 0.7f;
	ok(sample_once(&d, all_nan, 3) == 0, "default chain on all NaN gives 0");

	s = llm_sampler_new(&t, 5);
	for (i = 0; i < 2000 && s; i++)
	{
		int32_t		r = llm_sampler_sample(s, l);

		if (r == 1)
			seen1 = 1;
		else if (r == 3)
			seen3 = 1;
		else
			bad = 1;
	}
	ok(s && !bad && seen1 && seen3, "sampling never picks NaN or -inf tokens");
	llm_sampler_free(s);

	bad = 0;
	seen1 = seen3 = 0;
	s = llm_sampler_new(&d, 4);
	for (i = 0; i < 2000 && s; i++)
	{
		int32_t		r = llm_sampler_sample(s, pinf);

		if (r == 1)
			seen1 = 1;
		else if (r == 3)
			seen3 = 1;
		else
			bad = 1;
	}
	ok(s && !bad && seen1 && seen3, "+inf logits share all the probability");
	ok(sample_once(&g, pinf, 4) == 1, "greedy with +inf ties picks the lowest id");
	llm_sampler_free(s);

	/* a tiny temperature behaves like greedy without overflow trouble */
	t.temperature = 1e-30f;
	ok(sample_once(&t, pinf + 0, 3) == 1, "tiny temperature picks the maximum");
	{
		float		q[3] = {1.0f, 3.0f, 2.0f};

		ok(sample_once(&t, q, 3) == 1, "tiny temperature on finite logits picks the argmax");
	}
	ok(llm_sampler_sample(NULL, l) == -1, "NULL sampler gives -1");
}

/*
 * Entry point.
 */
int
main(void)
{
	tap_plan(57);
	test_validate();
	test_greedy();
	test_determinism();
	test_distribution();
	test_filters();
	test_large_vocab();
	test_penalty();
	test_nonfinite();
	return tap_done();
}
