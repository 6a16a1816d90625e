/*
 * test_engine.c - the forward pass, batching and generation.
 *
 *  - batching: two sequences run in one step give the same logits as each
 *    run alone; a prompt fed in chunks gives the same logits as one step;
 *  - the scalar and AVX2 kernels give the same logits within tolerance;
 *  - every tiny fixture model (one per weight type) runs and gives finite
 *    logits;
 *  - every tiny fixture against llama.cpp (test/golden/fixtures.tsv): all
 *    next-token logits after a 9- and a 200-token prompt within a bound
 *    per weight type, same argmax, 16 teacher-forced greedy steps the same
 *    or near-ties;
 *  - golden data from llama.cpp on the default model, 26 prompts of up to
 *    316 tokens and 5 of 637..1514 tokens (several 512-token prefill
 *    chunks): next-token logits within tolerance, greedy 32-token
 *    continuations identical for a measured share of prompts with every
 *    divergence where llama.cpp's own top-2 gap is small (a near-tie),
 *    teacher-forced steps >= 95% the same;
 *  - generation driver: max_tokens, stop strings, truncation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_engine.h"
#include "tap.h"

/*
 * Bounds measured on this model (AVX2, 26 prompts, issue 19): max logit
 * diff 0.98 (prompt 19), mean 0.179; 14/26 continuations identical;
 * llama.cpp's top-2 gap at a divergence at most 0.29 (prompt 14 step 15).
 * Each bound is the measured figure plus a small margin.
 */
#define GOLDEN_LOGIT_TOL 1.1f
#define GOLDEN_LOGIT_MEAN 0.20f
/* fraction of free-running greedy continuations that must be identical */
#define GOLDEN_MIN_SAME 0.5
/* a divergence is explained when llama.cpp's own top-2 gap is below this */
#define GOLDEN_TIE_MARGIN 0.35f
/*
 * The 5 long prompts (637..1514 tokens, prefilled in 512-token chunks):
 * measured max logit diff 0.70 (prompt 0), mean 0.136; 2/5 continuations
 * identical, the 3 divergences at llama.cpp top-2 gaps 0.016, 0.032 and
 * 0.003; teacher-forced 156/160, widest gap at a differing step 0.087.
 * Five prompts make a percentage coarse: the bar is the measured 2/5.
 */
#define GOLDEN_LONG_TOL 0.8f
#define GOLDEN_LONG_MEAN 0.16f
#define GOLDEN_LONG_MIN_SAME 0.4

/* checks per fixture against llama.cpp (test_fixture_golden) */
#define FIXTURE_GOLDEN_CHECKS 2
/* checks per tiny fixture (test_batching, kernel agreement, llama.cpp), per golden set, in all */
#define ENGINE_FIXTURE_CHECKS (10 + FIXTURE_GOLDEN_CHECKS)
#define GOLDEN_CHECKS 7
#define ENGINE_PLAN 190

static char model_path[8192];

/*
 * Run tokens through a fresh sequence (in chunks of chunk tokens), return
 * the last logits in out.
 */
static int
run_prompt(llm_engine *e, const llm_model *m, const int32_t *toks, int n, int chunk,
		   float *out)
{
	char		err[LLM_ERRLEN];
	llm_seq    *s = llm_seq_new(m, n + 40, err);
	int			i;

	if (s == NULL)
	{
		diag("%s", err);
		return -1;
	}
	for (i = 0; i < n; i += chunk)
	{
		int			c = n - i < chunk ? n - i : chunk;
		llm_batch_item it = {s, toks + i, c, i + c == n ? out : NULL};

		if (llm_engine_step(e, m, &it, 1, err) < 0)
		{
			diag("%s", err);
			llm_seq_free(s);
			return -1;
		}
	}
	llm_seq_free(s);
	return 0;
}

/* largest absolute difference of two vectors */
static float
max_abs_diff(const float *a, const float *b, int n)
{
	float		d = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
		if (fabsf(a[i] - b[i]) > d || isnan(a[i] - b[i]))
			d = isnan(a[i] - b[i]) ? INFINITY : fabsf(a[i] - b[i]);
	return d;
}

static int
argmax(const float *x, int n)
{
	int			i,
				b = 0;

	for (i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

/* gap between the best and second best logit */
static float
top2_margin(const float *x, int n)
{
	float		a = -INFINITY,
				b = -INFINITY;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (x[i] > a)
			b = a, a = x[i];
		else if (x[i] > b)
			b = x[i];
	}
	return a - b;
}

/*
 * Batched step against separate steps, and chunked prefill against one
 * step, on model m.
 */
static void
test_batching(llm_engine *e, const llm_model *m, const char *label)
{
	const llm_model_info *in = llm_model_get_info(m);
	int			V = in->n_vocab;
	int32_t		a[37],
				b[11];
	float	   *la = malloc(sizeof(float) * V),
			   *lb = malloc(sizeof(float) * V),
			   *ba = malloc(sizeof(float) * V),
			   *bb = malloc(sizeof(float) * V),
			   *ca = malloc(sizeof(float) * V);
	char		err[LLM_ERRLEN];
	llm_seq    *sa = llm_seq_new(m, 64, err),
			   *sb = llm_seq_new(m, 64, err);
	int			i;

	for (i = 0; i < 37; i++)
		a[i] = (i * 7919 + 13) % V;
	for (i = 0; i < 11; i++)
		b[i] = (i * 104729 + 5) % V;
	ok(run_prompt(e, m, a, 37, 37, la) == 0 && run_prompt(e, m, b, 11, 11, lb) == 0,
	   "%s: single-sequence steps run", label);
	ok(run_prompt(e, m, a, 37, 5, ca) == 0, "%s: chunked prefill runs", label);
	ok(max_abs_diff(la, ca, V) < 1e-3f, "%s: chunked prefill == one-step prefill (max diff %g)",
	   label, max_abs_diff(la, ca, V));
	{
		/* a mixed batch: a's first 30 tokens, then (a's last 7 + b's 11) */
		llm_batch_item it1 = {sa, a, 30, NULL};
		llm_batch_item its[2] = {{sa, a + 30, 7, ba}, {sb, b, 11, bb}};
		int			rc = llm_engine_step(e, m, &it1, 1, err);

		if (rc == 0)
			rc = llm_engine_step(e, m, its, 2, err);
		ok(rc == 0, "%s: batched step runs %s", label, rc ? err : "");
		ok(max_abs_diff(la, ba, V) < 1e-3f && max_abs_diff(lb, bb, V) < 1e-3f,
		   "%s: batched logits == separate logits (max diff %g, %g)", label,
		   max_abs_diff(la, ba, V), max_abs_diff(lb, bb, V));
		ok(llm_seq_pos(sa) == 37 && llm_seq_pos(sb) == 11, "%s: positions advanced", label);
	}
	{
		/* errors leave the sequences untouched */
		int32_t		bad = V + 3;
		llm_batch_item it = {sa, &bad, 1, NULL};
		llm_batch_item dup[2] = {{sa, a, 1, NULL}, {sa, b, 1, NULL}};

		ok(llm_engine_step(e, m, &it, 1, err) < 0 && strstr(err, "out of range"),
		   "%s: out-of-range token rejected: %s", label, err);
		ok(llm_engine_step(e, m, dup, 2, err) < 0 && llm_seq_pos(sa) == 37,
		   "%s: shared sequence rejected: %s", label, err);
	}
	for (i = 0; i < V; i++)
		if (!isfinite(la[i]))
			break;
	ok(i == V, "%s: logits are finite", label);
	llm_seq_free(sa);
	llm_seq_free(sb);
	free(la);
	free(lb);
	free(ba);
	free(bb);
	free(ca);
}

/*
 * Parse space- or comma-separated integers into a malloc'd array.
 */
static int
parse_ids(const char *s, int32_t **out)
{
	int			n = 0,
				cap = 64;
	int32_t    *v = malloc(sizeof(int32_t) * cap);
	char	   *end;

	while (*s)
	{
		long		x = strtol(s, &end, 10);

		if (end == s)
		{
			s++;
			continue;
		}
		if (n == cap)
			v = realloc(v, sizeof(int32_t) * (cap *= 2));
		v[n++] = (int32_t) x;
		s = end;
	}
	*out = v;
	return n;
}

/*
 * Split a line on tabs in place; returns the number of fields.
 */
static int
split_tabs(char *line, char **f, int max)
{
	int			n = 0;

	f[n++] = line;
	for (; *line && n < max; line++)
		if (*line == '\t')
		{
			*line = '\0';
			f[n++] = line + 1;
		}
	line = f[n - 1] + strcspn(f[n - 1], "\r\n");
	*line = '\0';
	return n;
}

/*
 * One set of llama.cpp goldens (a generate*.tsv / logits*.tsv pair) and
 * the bounds it is held to.
 */
typedef struct golden_set
{
	const char *label;
	const char *gen_path;
	const char *logits_path;
	int			n_prompts;		/* exact number of lines expected */
	float		max_tol;		/* max |logit diff| */
	float		mean_tol;		/* mean |logit diff| */
	double		min_same;		/* fraction of identical free-running continuations */
} golden_set;

/*
 * Compare next-token logits and greedy continuations with llama.cpp's.
 *
 * This model's logits are very sensitive to rounding (4-bit weights, 8-bit
 * activations): llama.cpp itself, run with an f32 instead of f16 KV cache,
 * with flash attention, or with one-token batches, reproduces only 15-18
 * of the 26 short greedy continuations of its own default run (measured
 * with test/golden/llama_self_agreement.py), and its logits move by up to
 * ~2. The bars below are therefore set against that spread:
 *  - free-running greedy: >= GOLDEN_MIN_SAME of prompts identical (we see
 *    14 of 26; llama.cpp's own variants 15-18), every first divergence at
 *    a near-tie (llama.cpp's margin < GOLDEN_TIE_MARGIN; ours is not
 *    consulted, so a wrong logit cannot excuse itself);
 *  - teacher-forced (fed llama.cpp's tokens): >= 95% of the steps pick the
 *    same token, and every step that differs is a near-tie;
 *  - next-token logits: max |diff| <= max_tol, mean <= mean_tol.
 *
 * Each prompt is prefilled once, in chunks of 512 tokens (llama.cpp's
 * n_batch), and then fed llama.cpp's tokens: the free-running greedy
 * continuation is identical to the teacher-forced one up to the first step
 * whose argmax differs, so that step is its first divergence. A prompt
 * that fails to run, or a line that does not parse, fails the first check.
 */
static void
test_golden(llm_engine *e, const llm_model *m, const golden_set *gs)
{
	int			V = llm_model_get_info(m)->n_vocab;
	FILE	   *gf = fopen(gs->gen_path, "r");
	FILE	   *lf = fopen(gs->logits_path, "r");
	static char line[1 << 20],
				lline[1 << 20];
	int			n_prompts = 0,
				n_failed = 0,
				n_same = 0,
				n_explained = 0,
				n_steps = 0,
				n_step_same = 0,
				n_step_tie = 0;
	double		sum_diff = 0.0;
	long		n_diff = 0;
	float		worst = 0.0f,
				tf_gap = 0.0f;
	float	   *logits = malloc(sizeof(float) * V);
	char		err[LLM_ERRLEN];

	if (gf == NULL || lf == NULL || logits == NULL)
	{
		tap_skip_n(GOLDEN_CHECKS, "%s: golden files %s / %s not found", gs->label,
				   gs->gen_path, gs->logits_path);
		if (gf)
			fclose(gf);
		if (lf)
			fclose(lf);
		free(logits);
		return;
	}
	while (fgets(line, sizeof(line), gf) && fgets(lline, sizeof(lline), lf))
	{
		char	   *f[8],
				   *lfld[8];
		int32_t    *prompt,
				   *want;
		float	   *gm;
		int			np,
					nw,
					i,
					gi,
					k,
					first_diff = -1,
					failed = 0;
		float		margin_at = 0.0f,
					our_margin_at = 0.0f,
					d = 0.0f;
		char	   *p;
		llm_seq    *s;

		n_prompts++;
		if (split_tabs(line, f, 8) < 5 || split_tabs(lline, lfld, 8) < 6 ||
			strcmp(f[0], lfld[0]) != 0)
		{
			diag("%s: line %d does not parse", gs->label, n_prompts);
			n_failed++;
			continue;
		}
		np = parse_ids(f[2], &prompt);
		nw = parse_ids(f[3], &want);
		gm = calloc(nw + 1, sizeof(float));
		for (p = f[4], gi = 0; *p && gi < nw;)
		{
			gm[gi++] = strtof(p, &p);
			if (*p == ',')
				p++;
		}
		s = llm_seq_new(m, np + nw + 1, err);
		if (s == NULL || np == 0 || nw == 0 || gi != nw)
		{
			diag("%s: prompt %s: %s", gs->label, f[0], s ? "bad golden line" : err);
			n_failed++;
			llm_seq_free(s);
			free(gm);
			free(prompt);
			free(want);
			continue;
		}
		/* prefill in 512-token chunks; the last one returns the logits */
		for (i = 0; i < np && !failed; i += 512)
		{
			int			c = np - i < 512 ? np - i : 512;
			llm_batch_item it = {s, prompt + i, c, i + c == np ? logits : NULL};

			failed = llm_engine_step(e, m, &it, 1, err) < 0;
		}

		/* logits after the prompt: top-256 and fixed random ids */
		for (k = 4; k <= 5 && !failed; k++)
			for (p = lfld[k]; *p;)
			{
				char	   *end;
				long		id = strtol(p, &end, 10);
				float		want_l,
							dd;

				if (end == p || *end != ':')
					break;
				want_l = strtof(end + 1, &p);
				if (id >= 0 && id < V)
				{
					dd = fabsf(logits[id] - want_l);
					d = dd > d || isnan(dd) ? (isnan(dd) ? INFINITY : dd) : d;
					sum_diff += dd;
					n_diff++;
				}
				while (*p == ' ')
					p++;
			}
		if (d > worst)
			worst = d;

		/* teacher-forced steps; the first differing one ends free-running */
		for (i = 0; i < nw && !failed; i++)
		{
			int32_t		tok = argmax(logits, V);

			n_steps++;
			if (tok == want[i])
				n_step_same++;
			else
			{
				if (first_diff < 0)
				{
					first_diff = i;
					margin_at = gm[i];
					our_margin_at = top2_margin(logits, V);
				}
				if (gm[i] < GOLDEN_TIE_MARGIN)
				{
					n_step_tie++;
					tf_gap = gm[i] > tf_gap ? gm[i] : tf_gap;
				}
				else
					diag("%s: prompt %s step %d: ours %d, llama.cpp %d, margins %.4f / %.4f",
						 gs->label, f[0], i, tok, want[i], top2_margin(logits, V), gm[i]);
			}
			if (i + 1 < nw)
			{
				llm_batch_item next = {s, &want[i], 1, logits};

				failed = llm_engine_step(e, m, &next, 1, err) < 0;
			}
		}
		llm_seq_free(s);
		if (failed)
		{
			diag("%s: prompt %s (%d tokens) failed: %s", gs->label, f[0], np, err);
			n_failed++;
		}
		else
		{
			if (getenv("LLM_GOLDEN_VERBOSE"))
				diag("%s: prompt %s: %d tokens, max logit diff %.4f", gs->label, f[0], np, d);
			if (first_diff < 0)
				n_same++;
			else
			{
				bool		tie = margin_at < GOLDEN_TIE_MARGIN;

				if (tie)
					n_explained++;
				diag("%s: prompt %s (%d tokens) diverges at step %d: llama.cpp top-2 margin %.4f, ours %.4f%s",
					 gs->label, f[0], np, first_diff, margin_at, our_margin_at,
					 tie ? " (near-tie)" : " (NOT a near-tie)");
			}
		}
		free(gm);
		free(prompt);
		free(want);
	}
	fclose(gf);
	fclose(lf);
	free(logits);
	ok(n_prompts == gs->n_prompts && n_failed == 0, "%s: %d of %d prompts ran (%d failed)",
	   gs->label, n_prompts - n_failed, gs->n_prompts, n_failed);
	ok(n_failed == 0 && worst <= gs->max_tol,
	   "%s: next-token logits within %.2f of llama.cpp (max diff %.4f)", gs->label,
	   gs->max_tol, worst);
	ok(n_failed == 0 && n_diff > 0 && sum_diff / n_diff <= gs->mean_tol,
	   "%s: mean logit difference %.4f <= %.2f over %ld logits", gs->label,
	   n_diff ? sum_diff / n_diff : 0.0, gs->mean_tol, n_diff);
	ok(n_prompts > 0 && n_same >= gs->min_same * n_prompts,
	   "%s: %d/%d free-running greedy continuations identical (need >= %.0f%%)",
	   gs->label, n_same, n_prompts, gs->min_same * 100);
	ok(n_failed == 0 && n_same + n_explained == n_prompts,
	   "%s: every divergence is at a near-tie (%d of %d)", gs->label,
	   n_explained, n_prompts - n_failed - n_same);
	ok(n_steps > 0 && n_step_same >= 0.95 * n_steps,
	   "%s: teacher-forced, %d/%d steps pick llama.cpp's token (need >= 95%%)",
	   gs->label, n_step_same, n_steps);
	ok(n_steps > 0 && n_step_same + n_step_tie == n_steps,
	   "%s: teacher-forced, every differing step is a near-tie (%d of %d, widest llama.cpp gap %.4f)",
	   gs->label, n_step_tie, n_steps - n_step_same, tf_gap);
}

/*
 * Per-fixture bounds against llama.cpp (test/golden/fixtures.tsv): the
 * largest and mean |logit diff| over both prompts. See FIXTURE_BOUNDS.
 */
typedef struct fixture_bound
{
	const char *name;
	float		max_tol;
	float		mean_tol;
} fixture_bound;

/*
 * Measured (AVX2, issue 19) max / mean: f32 0.00122 / 0.00033, f16 0.00254
 * / 0.00057, bf16 0.0136 / 0.0032, q8_0 0.0505 / 0.0106, q4_0 0.0404 /
 * 0.0100, q4_1 0.0448 / 0.0100, q5_0 0.0505 / 0.0104, q5_1 0.0675 /
 * 0.0126, q4_k 0.0592 / 0.0149, q5_k 0.0669 / 0.0154, q6_k 0.0808 /
 * 0.0159, qwen2-f32 0.00133 / 0.00030; the logits have a spread (std) of
 * ~0.8. llama.cpp keeps K/V in f16 (the f32 floor), rounds activations to
 * bf16 for bf16 weights and to 8 bits for quantized ones; those explain
 * the rest. Each bound is about 1.4x the measured figure.
 */
static const fixture_bound fixture_bounds[] = {
	{"f32", 0.002f, 0.0005f}, {"f16", 0.0035f, 0.0008f}, {"bf16", 0.02f, 0.0045f},
	{"q8_0", 0.07f, 0.015f}, {"q4_0", 0.06f, 0.014f}, {"q4_1", 0.063f, 0.014f},
	{"q5_0", 0.07f, 0.015f}, {"q5_1", 0.095f, 0.018f}, {"q4_k", 0.083f, 0.021f},
	{"q5_k", 0.094f, 0.022f}, {"q6_k", 0.113f, 0.022f}, {"qwen2-f32", 0.002f, 0.0005f},
};

/*
 * Compare tiny fixture model m (named name, as in fixtures.tsv) with
 * llama.cpp: all next-token logits after a 9- and a 200-token prompt (the
 * latter prefilled in chunks of 64), and 16 teacher-forced greedy steps
 * after each. Two checks.
 */
static void
test_fixture_golden(llm_engine *e, const llm_model *m, const char *name, const char *label)
{
	int			V = llm_model_get_info(m)->n_vocab;
	FILE	   *gf = fopen("test/golden/fixtures.tsv", "r");
	static char line[1 << 16];
	const fixture_bound *b = NULL;
	float	   *logits = malloc(sizeof(float) * V);
	int			n_lines = 0,
				n_failed = 0,
				n_steps = 0,
				n_same = 0,
				n_tie = 0,
				n_argmax = 0;
	double		sum = 0.0;
	long		n_sum = 0;
	float		worst = 0.0f;
	char		err[LLM_ERRLEN];

	for (size_t i = 0; i < sizeof(fixture_bounds) / sizeof(fixture_bounds[0]); i++)
		if (strcmp(fixture_bounds[i].name, name) == 0)
			b = &fixture_bounds[i];
	if (gf == NULL || logits == NULL || b == NULL)
	{
		tap_skip_n(FIXTURE_GOLDEN_CHECKS, "%s: no llama.cpp golden (test/golden/fixtures.tsv, bound)",
				   label);
		if (gf)
			fclose(gf);
		free(logits);
		return;
	}
	while (fgets(line, sizeof(line), gf))
	{
		char	   *f[8],
				   *p;
		int32_t    *prompt,
				   *want;
		int			np,
					nw,
					i,
					failed = 0;
		float		gm[64];
		llm_seq    *s;

		if (split_tabs(line, f, 8) < 7 || strcmp(f[0], name) != 0)
			continue;
		n_lines++;
		np = parse_ids(f[2], &prompt);
		nw = parse_ids(f[5], &want);
		for (p = f[6], i = 0; *p && i < 64;)
		{
			gm[i++] = strtof(p, &p);
			if (*p == ',')
				p++;
		}
		s = llm_seq_new(m, np + nw + 1, err);
		if (s == NULL || atoi(f[3]) != V || i != nw || nw > 64)
		{
			diag("%s: golden line %s: %s", label, f[1], s ? "bad line or n_vocab" : err);
			n_failed++;
			llm_seq_free(s);
			free(prompt);
			free(want);
			continue;
		}
		for (i = 0; i < np && !failed; i += 64)
		{
			int			c = np - i < 64 ? np - i : 64;
			llm_batch_item it = {s, prompt + i, c, i + c == np ? logits : NULL};

			failed = llm_engine_step(e, m, &it, 1, err) < 0;
		}
		if (!failed)
		{
			float		d = 0.0f;
			int			want_top = 0;
			float		best = -INFINITY;

			for (i = 0, p = f[4]; i < V; i++)
			{
				float		ref = strtof(p, &p);
				float		dd = fabsf(logits[i] - ref);

				if (isnan(dd))
					dd = INFINITY;
				d = dd > d ? dd : d;
				sum += dd;
				n_sum++;
				if (ref > best)
					best = ref, want_top = i;
			}
			worst = d > worst ? d : worst;
			n_argmax += argmax(logits, V) == want_top;
			if (getenv("LLM_GOLDEN_VERBOSE"))
				diag("%s: prompt %s (%d tokens): max logit diff %.5f", label, f[1], np, d);
		}
		for (i = 0; i < nw && !failed; i++)
		{
			int32_t		tok = argmax(logits, V);

			n_steps++;
			if (tok == want[i])
				n_same++;
			else if (gm[i] < GOLDEN_TIE_MARGIN)
				n_tie++;
			else
				diag("%s: prompt %s step %d: ours %d, llama.cpp %d, margin %.4f", label, f[1], i,
					 tok, want[i], gm[i]);
			if (i + 1 < nw)
			{
				llm_batch_item next = {s, &want[i], 1, logits};

				failed = llm_engine_step(e, m, &next, 1, err) < 0;
			}
		}
		if (failed)
		{
			diag("%s: prompt %s failed: %s", label, f[1], err);
			n_failed++;
		}
		llm_seq_free(s);
		free(prompt);
		free(want);
	}
	fclose(gf);
	free(logits);
	ok(n_lines == 2 && n_failed == 0 && worst <= b->max_tol && n_sum > 0 &&
	   sum / n_sum <= b->mean_tol && n_argmax == n_lines,
	   "%s: logits match llama.cpp's (max diff %.5f <= %g, mean %.5f <= %g, argmax %d/%d)",
	   label, worst, b->max_tol, n_sum ? sum / n_sum : 0.0, b->mean_tol, n_argmax, n_lines);
	ok(n_lines == 2 && n_failed == 0 && n_steps == 32 && n_same + n_tie == n_steps,
	   "%s: teacher-forced greedy picks llama.cpp's token at %d/%d steps, the rest near-ties (%d)",
	   label, n_same, n_steps, n_tie);
}

/*
 * The generation driver: max_tokens, stop strings, truncation errors.
 */
static void
test_gen(llm_engine *e, const llm_model *m)
{
	llm_gen_params p;
	char		err[LLM_ERRLEN];
	char	   *out = NULL,
			   *out2 = NULL;
	llm_gen    *g;
	const char *stops[1];
	int			rc;

	llm_gen_defaults(&p);
	p.max_tokens = 12;
	rc = llm_generate_simple(e, m, "The capital of France is", &p, &out, err);
	ok(rc == 0 && out && strlen(out) > 0, "generate: produced \"%s\"", rc == 0 ? out : err);
	rc = llm_generate_simple(e, m, "The capital of France is", &p, &out2, err);
	ok(rc == 0 && strcmp(out, out2) == 0, "generate: greedy is deterministic");
	free(out2);
	out2 = NULL;
	{
		/*
		 * Stop at the first occurrence of out's bytes 2..3: the output is
		 * cut to what comes before it (2 bytes unless those bytes also
		 * occur earlier). A short output cannot run this check: it fails.
		 */
		char		stop[3] = {0};
		const char *hit;

		if (out && strlen(out) > 3)
		{
			stop[0] = out[2];
			stop[1] = out[3];
		}
		hit = stop[0] ? strstr(out, stop) : NULL;
		stops[0] = stop;
		p.stop = stops;
		p.n_stop = 1;
		rc = hit ? llm_generate_simple(e, m, "The capital of France is", &p, &out2, err) : -1;
		ok(rc == 0 && strlen(out2) == (size_t) (hit - out) && strncmp(out, out2, strlen(out2)) == 0,
		   "generate: stop string \"%s\" cuts the output to \"%s\" (%d bytes)", stop,
		   rc == 0 ? out2 : hit ? err : "(output too short)", hit ? (int) (hit - out) : -1);
		free(out2);
		p.stop = NULL;
		p.n_stop = 0;
	}
	free(out);

	p.max_tokens = 3;
	if (llm_gen_new(&g, m, "Hello", 5, &p, err) == 0)
	{
		llm_batch_item it;

		rc = 0;
		while (rc == 0 && llm_gen_prepare(g, &it, 512) > 0)
		{
			rc = llm_engine_step(e, m, &it, 1, err);
			if (rc == 0)
				llm_gen_advance(g);
		}
		/* greedy "Hello" runs to the limit on this model: exactly 3 tokens */
		ok(rc == 0 && llm_gen_n_generated(g) == 3 && llm_gen_finish(g) == LLM_FINISH_LENGTH,
		   "generate: max_tokens respected (%d, %s) %s", llm_gen_n_generated(g),
		   llm_finish_name(llm_gen_finish(g)), rc == 0 ? "" : err);
		llm_gen_free(g);
	}
	else
		ok(0, "generate: max_tokens 3: %s", err);
	p.max_tokens = llm_model_get_info(m)->n_ctx;
	ok(llm_gen_new(&g, m, "Hello", 5, &p, err) < 0 && strstr(err, "max_tokens"),
	   "generate: max_tokens beyond the context rejected: %s", err);
	p.max_tokens = 0;
	ok(llm_gen_new(&g, m, "Hello", 5, &p, err) < 0, "generate: max_tokens 0 rejected: %s", err);
	p.max_tokens = 8;
	ok(llm_gen_new(&g, m, "", 0, &p, err) < 0 && strstr(err, "empty"),
	   "generate: empty prompt rejected: %s", err);
	p.sampling.top_p = 0.0f;
	ok(llm_gen_new(&g, m, "Hi", 2, &p, err) < 0, "generate: top_p 0 rejected: %s", err);
}

/*
 * Run prompt to the end greedily (max_tokens n) through the step API,
 * optionally reusing and then feeding prefix cache c; prefill in chunks
 * of chunk tokens. The text goes to out (malloc'd), positions reused to
 * *reused. 0 or -1.
 */
static int
gen_with_cache(llm_engine *e, const llm_model *m, const char *prompt, int n, int chunk,
			   llm_prefix_cache *c, char **out, int32_t *reused)
{
	char		err[LLM_ERRLEN];
	llm_gen_params p;
	llm_gen    *g;
	llm_batch_item item;
	const char *txt;
	size_t		len;
	int			rc = 0;

	llm_gen_defaults(&p);
	p.max_tokens = n;
	*out = NULL;
	*reused = 0;
	if (llm_gen_new(&g, m, prompt, strlen(prompt), &p, err) < 0)
		return -1;
	if (c && (*reused = llm_gen_reuse_prefix(g, c, err)) < 0)
		rc = -1;
	while (rc == 0 && llm_gen_prepare(g, &item, chunk) > 0)
	{
		if (llm_engine_step(e, m, &item, 1, err) < 0)
			rc = -1;
		else
		{
			llm_gen_advance(g);
			if (c && llm_gen_store_prefix(g, c, err) < 0)
				rc = -1;
		}
	}
	txt = llm_gen_text(g, &len);
	if (rc == 0 && (*out = strndup(txt, len)) == NULL)
		rc = -1;
	llm_gen_free(g);
	return rc;
}

/*
 * Prefix cache: a prompt run after the same or a longer/shorter prompt
 * sharing its start reuses the cached rows and generates exactly what it
 * generates without the cache; a different prompt reuses nothing.
 */
static void
test_prefix_cache(llm_engine *e, const llm_model *m)
{
	static const char *const base = "Here is a long numbered list of fruits:\n1.";
	static const char *const longer = "Here is a long numbered list of fruits:\n1. Apple\n2.";
	char		err[LLM_ERRLEN];
	llm_prefix_cache *c = llm_prefix_cache_new(m, 256, err);
	char	   *ref1 = NULL,
			   *ref2 = NULL,
			   *a = NULL,
			   *b = NULL,
			   *d = NULL;
	int32_t		r0 = -1,
				r1 = -1,
				r2 = -1,
				r3 = -1,
				rx = -1;
	int			rc;

	ok(c != NULL, "prefix cache created (%s)", c ? "ok" : err);
	if (c == NULL)
		return;
	rc = gen_with_cache(e, m, base, 16, 512, NULL, &ref1, &rx) |
		gen_with_cache(e, m, longer, 16, 512, NULL, &ref2, &rx) |
		gen_with_cache(e, m, base, 16, 5, c, &a, &r0) |
		gen_with_cache(e, m, base, 16, 512, c, &b, &r1);
	ok(rc == 0 && r0 == 0 && llm_prefix_cache_len(c) > 0,
	   "prefix cache: first prompt reuses nothing and is stored (%d tokens)", llm_prefix_cache_len(c));
	ok(rc == 0 && r1 == llm_prefix_cache_len(c) - 1 && strcmp(a, ref1) == 0 && strcmp(b, ref1) == 0,
	   "prefix cache: the same prompt reuses all but its last token (%d) and generates the same text", r1);
	free(a);
	free(b);
	a = b = NULL;
	rc = gen_with_cache(e, m, longer, 16, 3, c, &a, &r2) |
		gen_with_cache(e, m, base, 16, 512, c, &b, &r3);
	ok(rc == 0 && r2 > 5 && strcmp(a, ref2) == 0,
	   "prefix cache: a longer prompt reuses the shared start (%d) and generates the same text", r2);
	ok(rc == 0 && r3 > 5 && strcmp(b, ref1) == 0,
	   "prefix cache: a shorter prompt reuses its start from the longer one (%d), same text", r3);
	rc = gen_with_cache(e, m, "Completely different words", 8, 512, c, &d, &rx);
	ok(rc == 0 && rx == 0, "prefix cache: an unrelated prompt reuses nothing (%d)", rx);
	free(ref1);
	free(ref2);
	free(a);
	free(b);
	free(d);
	llm_prefix_cache_free(c);
}

/*
 * The number of threads never changes a result: logits after prompts fed
 * one token at a time (the T = 1 path, rows split over the threads at
 * multiples of 8 for packed weights) and in chunks of 3 and 6 tokens
 * (chunks of rows taken from a shared counter) are the same bits with 1,
 * 2 and 7 threads (7 puts split points off multiples of 8).
 */
static void
test_threads(const llm_model *m)
{
	static const int threads[] = {1, 2, 7};
	static const int chunks[] = {1, 3, 6};
	int32_t		toks[6] = {1, 504, 3458, 282, 4649, 314};
	int			V = llm_model_get_info(m)->n_vocab;
	float	   *ref = malloc(sizeof(float) * V),
			   *out = malloc(sizeof(float) * V);
	bool		same = ref != NULL && out != NULL;
	char		err[LLM_ERRLEN];

	for (size_t t = 0; same && t < sizeof(threads) / sizeof(threads[0]); t++)
	{
		llm_engine_params ep = {.n_threads = threads[t]};
		llm_engine *e;

		if (llm_engine_new(&e, &ep, err) < 0)
		{
			diag("%s", err);
			same = false;
			break;
		}
		for (size_t c = 0; same && c < sizeof(chunks) / sizeof(chunks[0]); c++)
		{
			same &= run_prompt(e, m, toks, 6, chunks[c], t == 0 && c == 0 ? ref : out) == 0;
			if (same && !(t == 0 && c == 0))
				same &= memcmp(ref, out, sizeof(float) * V) == 0;
		}
		llm_engine_free(e);
	}
	ok(same, "threads: 1, 2 and 7 threads, chunks of 1, 3 and 6 tokens give the same logits bit for bit");
	free(ref);
	free(out);
}

/*
 * Truncation on a small context cap.
 */
static void
test_truncation(void)
{
	llm_model  *m;
	llm_engine *e;
	llm_engine_params ep = {.n_threads = 2};
	llm_gen_params p;
	llm_gen    *g;
	char		err[LLM_ERRLEN];
	char		text[2000];
	int			i;

	if (llm_model_load(&m, model_path, 64, err) < 0 || llm_engine_new(&e, &ep, err) < 0)
	{
		ok(0, "truncation: load with ctx cap: %s", err);
		return;
	}
	ok(llm_model_get_info(m)->n_ctx == 64, "truncation: context capped to 64");
	text[0] = '\0';
	for (i = 0; i < 60; i++)
		strcat(text, "word ");
	llm_gen_defaults(&p);
	p.max_tokens = 8;
	ok(llm_gen_new(&g, m, text, strlen(text), &p, err) < 0 && strstr(err, "exceeds the context"),
	   "truncation=error: %s", err);
	p.truncation = LLM_TRUNC_LEFT;
	ok(llm_gen_new(&g, m, text, strlen(text), &p, err) == 0 && llm_gen_n_prompt(g) == 56,
	   "truncation=left keeps 56 prompt tokens");
	llm_gen_free(g);
	p.truncation = LLM_TRUNC_RIGHT;
	ok(llm_gen_new(&g, m, text, strlen(text), &p, err) == 0 && llm_gen_n_prompt(g) == 56,
	   "truncation=right keeps 56 prompt tokens");
	{
		llm_batch_item it;
		int			rc = g ? 0 : -1,
					n_steps = 0;

		while (rc == 0 && llm_gen_prepare(g, &it, 16) > 0)
		{
			rc = llm_engine_step(e, m, &it, 1, err);
			if (rc == 0)
				llm_gen_advance(g);
			n_steps++;
		}
		/* 56 prompt tokens in chunks of 16 (4 steps), then 8 tokens (7 steps) */
		ok(rc == 0 && n_steps == 11 && llm_gen_n_generated(g) == 8,
		   "truncation: the kept prompt runs and generates (%d steps, %d tokens) %s", n_steps,
		   g ? llm_gen_n_generated(g) : 0, rc == 0 ? "" : err);
		llm_gen_free(g);
	}
	llm_engine_free(e);
	llm_model_free(m);
}

int
main(void)
{
	char		err[LLM_ERRLEN];
	llm_model  *m = NULL;
	llm_engine *e = NULL,
			   *es = NULL;
	llm_engine_params ep = {.n_threads = 2};
	llm_engine_params eps = {.n_threads = 2, .isa = "scalar"};
	const char *fix = getenv("LLM_FIXTURE_DIR");
	static const char *types[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0",
	"q5_1", "q4_k", "q5_k", "q6_k", "qwen2-f32"};
	/* the default model: 26 short prompts (<= 316 tokens), 5 long ones (637..1514) */
	static const golden_set golden_short = {"golden", "test/golden/generate.tsv",
	"test/golden/logits.tsv", 26, GOLDEN_LOGIT_TOL, GOLDEN_LOGIT_MEAN, GOLDEN_MIN_SAME};
	static const golden_set golden_long = {"golden-long", "test/golden/generate_long.tsv",
	"test/golden/logits_long.tsv", 5, GOLDEN_LONG_TOL, GOLDEN_LONG_MEAN, GOLDEN_LONG_MIN_SAME};
	size_t		i;
	int			rc;

	tap_plan(ENGINE_PLAN);
	/* create first, then report: the arguments of ok() are read before it runs */
	rc = llm_engine_new(&e, &ep, err);
	ok(rc == 0 && e && *llm_engine_isa(e), "engine created (isa %s)", rc == 0 && e ? llm_engine_isa(e) : err);
	rc = llm_engine_new(&es, &eps, err);
	ok(rc == 0 && es && strcmp(llm_engine_isa(es), "scalar") == 0, "scalar engine created (isa %s)",
	   rc == 0 && es ? llm_engine_isa(es) : err);
	if (e == NULL || es == NULL)
	{
		tap_skip_n(ENGINE_PLAN - tap_count, "no engine");
		llm_engine_free(e);
		llm_engine_free(es);
		return tap_done();
	}

	/* tiny fixture models, one per weight type */
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
	{
		char		path[4096];
		char		label[64];
		llm_model  *tm;
		FILE	   *f;

		snprintf(path, sizeof(path), "%s/tiny-%s.gguf", fix ? fix : "build/fixtures", types[i]);
		snprintf(label, sizeof(label), "tiny-%s", types[i]);
		if ((f = fopen(path, "rb")) == NULL)
		{
			tap_skip_n(ENGINE_FIXTURE_CHECKS, "%s not found", path);
			continue;
		}
		fclose(f);
		if (llm_model_load(&tm, path, 0, err) < 0)
		{
			ok(0, "%s loads: %s", label, err);
			tap_skip_n(ENGINE_FIXTURE_CHECKS - 1, "%s did not load", label);
			continue;
		}
		test_batching(e, tm, label);
		{
			/* scalar and AVX2 kernels agree */
			int			V = llm_model_get_info(tm)->n_vocab;
			float	   *a = malloc(sizeof(float) * V),
					   *b = malloc(sizeof(float) * V);
			int32_t		toks[9] = {1, 5, 9, 33, 2, 7, 100 % V, 3, 4};

			int			rk = run_prompt(e, tm, toks, 9, 9, a) | run_prompt(es, tm, toks, 9, 9, b);
			float		d = rk == 0 ? max_abs_diff(a, b, V) : INFINITY;

			ok(d < 2e-2f, "%s: %s and scalar kernels agree (max diff %g)", label,
			   llm_engine_isa(e), d);
			free(a);
			free(b);
		}
		test_fixture_golden(e, tm, types[i], label);
		llm_model_free(tm);
	}

	snprintf(model_path, sizeof(model_path), "%s/SmolLM2-135M-Instruct.Q4_1.gguf", tap_model_dir());
	if (llm_model_load(&m, model_path, 0, err) < 0)
	{
		tap_skip_n(ENGINE_PLAN - tap_count, "default model not available: %s", err);
		llm_engine_free(e);
		llm_engine_free(es);
		return tap_done();
	}
	test_batching(e, m, "smollm2");
	{
		int			V = llm_model_get_info(m)->n_vocab;
		float	   *a = malloc(sizeof(float) * V),
				   *b = malloc(sizeof(float) * V);
		int32_t		toks[6] = {1, 504, 3458, 282, 4649, 314};

		int			rk = run_prompt(e, m, toks, 6, 6, a) | run_prompt(es, m, toks, 6, 6, b);
		float		d = rk == 0 ? max_abs_diff(a, b, V) : INFINITY;
		double		mean = 0.0;
		int			j;

		/*
		 * 30 layers with 8-bit activations amplify rounding differences
		 * (summation order) in single logits: measured max 0.303, mean
		 * 0.053 on this prompt (issue 19); bound the max, the mean, and
		 * require the same choice.
		 */
		for (j = 0; j < V; j++)
			mean += fabsf(a[j] - b[j]) / V;
		ok(rk == 0 && d < 0.45f && mean < 0.08 && argmax(a, V) == argmax(b, V),
		   "smollm2: %s and scalar kernels agree (max diff %g, mean %g, argmax %d/%d)",
		   llm_engine_isa(e), d, mean, argmax(a, V), argmax(b, V));
		free(a);
		free(b);
	}
	if (getenv("LLM_SKIP_GOLDEN") == NULL)
	{
		test_golden(e, m, &golden_short);
		test_golden(e, m, &golden_long);
	}
	else
		tap_skip_n(2 * GOLDEN_CHECKS, "llama.cpp golden comparison (LLM_SKIP_GOLDEN is set)");
	test_gen(e, m);
	test_prefix_cache(e, m);
	test_threads(m);
	test_truncation();
	llm_model_free(m);
	llm_engine_free(e);
	llm_engine_free(es);
	return tap_done();
}
