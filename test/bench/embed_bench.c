/*
 * embed_bench.c - time llm_embed_batch over a file of texts (one per
 * line), the engine-level half of test/bench/bench-embed.sh.
 *
 *   embed_bench MODEL FILE THREADS [REPEATS [PER_CALL]]
 *
 * Prints one line: "rows N tokens N seconds S rows_per_s R tokens_per_s T"
 * for the fastest of REPEATS runs (default 1). With PER_CALL, the texts go
 * PER_CALL at a time into llm_embed_batch (1: what a per-row UPDATE costs
 * the engine); by default all in one call. LLM_ISA (auto, scalar, avx2,
 * avx512) chooses the kernels; the line ends with "precision f32|bf16".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_embed.h"
#include "llm_util.h"

/*
 * Read FILE into lines: texts[i] points into one buffer (newlines
 * replaced by NULs). Returns the line count or -1.
 */
static int
bench_read_lines(const char *path, char **buf, const char ***texts, size_t **lens)
{
	FILE	   *f = fopen(path, "rb");
	long		sz;
	int			n = 0,
				cap = 1024;
	char	   *p;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		return -1;
	*buf = malloc((size_t) sz + 1);
	*texts = malloc(sizeof(char *) * (size_t) cap);
	*lens = malloc(sizeof(size_t) * (size_t) cap);
	if (!*buf || !*texts || !*lens || fread(*buf, 1, (size_t) sz, f) != (size_t) sz)
		return -1;
	fclose(f);
	(*buf)[sz] = '\0';
	for (p = *buf; *p;)
	{
		char	   *nl = strchr(p, '\n');

		if (nl)
			*nl = '\0';
		if (n == cap)
		{
			cap *= 2;
			*texts = realloc(*texts, sizeof(char *) * (size_t) cap);
			*lens = realloc(*lens, sizeof(size_t) * (size_t) cap);
			if (!*texts || !*lens)
				return -1;
		}
		(*texts)[n] = p;
		(*lens)[n] = strlen(p);
		n++;
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

/*
 * Entry point.
 */
int
main(int argc, char **argv)
{
	char		err[LLM_ERRLEN];
	llm_embed_model *m = NULL;
	llm_embed_ctx *c = NULL;
	llm_embed_info info;
	char	   *buf;
	const char **texts;
	size_t	   *lens;
	int			n,
				threads,
				reps,
				per_call,
				r;
	long long	tokens = 0;
	double		best = 1e30;
	float	   *out;

	if (argc < 4)
	{
		fprintf(stderr, "usage: embed_bench MODEL FILE THREADS [REPEATS [PER_CALL]]\n");
		return 2;
	}
	threads = atoi(argv[3]);
	reps = argc > 4 ? atoi(argv[4]) : 1;
	per_call = argc > 5 ? atoi(argv[5]) : 0;
	n = bench_read_lines(argv[2], &buf, &texts, &lens);
	if (n <= 0)
	{
		fprintf(stderr, "cannot read %s\n", argv[2]);
		return 1;
	}
	if (llm_embed_model_load(&m, argv[1], err) != 0 ||
		llm_embed_ctx_new(&c, threads, getenv("LLM_ISA"), err) != 0)
	{
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	llm_embed_model_info(m, &info);
	for (int i = 0; i < n; i++)
	{
		int32_t    *ids = NULL;
		int			k = 0;

		if (llm_embed_tokenize(m, texts[i], lens[i], info.max_seq_len, &ids, &k, err) != 0)
		{
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		tokens += k;
		free(ids);
	}
	out = malloc(sizeof(float) * (size_t) n * (size_t) info.dim);
	if (!out)
		return 1;
	for (r = 0; r < reps; r++)
	{
		double		t0 = llm_time_sec(),
					dt;

		for (int i = 0; i < n; i += per_call > 0 ? per_call : n)
		{
			int			k = per_call > 0 && n - i > per_call ? per_call : n - i;

			if (llm_embed_batch(c, m, texts + i, lens + i, k, out + (size_t) i * info.dim,
								LLM_TRUNCATE_END, err) != 0)
			{
				fprintf(stderr, "%s\n", err);
				return 1;
			}
		}
		dt = llm_time_sec() - t0;
		if (dt < best)
			best = dt;
	}
	printf("rows %d tokens %lld seconds %.3f rows_per_s %.1f tokens_per_s %.0f precision %s\n",
		   n, tokens, best, n / best, tokens / best,
		   info.f32_products ? "f32" : llm_embed_ctx_precision(c));
	free(out);
	llm_embed_ctx_free(c);
	llm_embed_model_free(m);
	free(buf);
	free(texts);
	free(lens);
	return 0;
}
