/*
 * cli_perplexity.c - the `llm-cli perplexity` subcommand.
 *
 *   llm-cli perplexity -m MODEL -f TEXT [-c 512] [--chunks N] [-P 8]
 *                      [-t THREADS] [--isa ISA] [--kv-type f32|f16] [--json]
 *
 * The score llama.cpp's llama-perplexity computes by default: the text is
 * tokenized once (with BOS when the model's metadata asks for it) and cut
 * into n_chunk = n_tokens / CTX chunks of CTX tokens (the tail is dropped;
 * at least two chunks are needed). Each chunk is run on an empty context;
 * with add_bos its first token is replaced by BOS. Only the second half is
 * scored: the logits at positions CTX/2 .. CTX-2 against the tokens that
 * follow them, CTX - CTX/2 - 1 predictions per chunk. PPL = exp(mean NLL);
 * the +/- figure is PPL times the standard error of the NLL, as llama.cpp
 * prints it.
 *
 * P chunks run side by side as separate sequences of one batched step:
 * each is first filled up to position CTX/2 in one step, then all of them
 * advance one token per step, so every scored position gets the logits a
 * plain decode gives it.
 *
 * Output: a line "[i]ppl," per chunk as it completes, then
 * "Final estimate: PPL = X +/- Y"; --json prints one object instead.
 * Exit status: 0 success, 1 error, 2 usage error.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm_engine.h"

int			llm_cli_perplexity(int argc, char **argv);

/* the largest text read (bytes) */
#define PPL_MAX_TEXT ((size_t) 256 << 20)

/* running sums over all scored predictions */
typedef struct ppl_sums
{
	double		nll;			/* sum of -log p(next token) */
	double		nll2;			/* sum of its squares */
	int64_t		count;			/* predictions scored */
} ppl_sums;

/*
 * Print the usage and return 2.
 */
static int
ppl_usage(void)
{
	fprintf(stderr,
			"usage: llm-cli perplexity -m MODEL -f TEXT [-c 512] [--chunks N] [-P 8]\n"
			"                          [-t THREADS] [--isa ISA] [--kv-type f32|f16] [--json]\n");
	return 2;
}

/*
 * Parse a positive int option value; false if malformed or out of range.
 */
static bool
ppl_int(const char *s, int lo, int hi, int *out)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		return false;
	*out = (int) v;
	return true;
}

/*
 * Read a whole file into a malloc'd NUL-terminated buffer; NULL with a
 * message on stderr on failure (missing, unreadable, too large).
 */
static char *
ppl_read_text(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		n = 0,
				cap = 0;

	if (f == NULL)
	{
		fprintf(stderr, "llm-cli: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;)
	{
		size_t		got;

		if (n + 65536 + 1 > cap)
		{
			size_t		ncap = cap ? cap * 2 : 1 << 20;
			char	   *nb;

			if (ncap > PPL_MAX_TEXT + 1)
				ncap = PPL_MAX_TEXT + 1;
			if (n + 1 >= ncap)
			{
				fprintf(stderr, "llm-cli: %s: larger than %zu bytes\n", path, PPL_MAX_TEXT);
				goto fail;
			}
			nb = realloc(buf, ncap);
			if (nb == NULL)
			{
				fprintf(stderr, "llm-cli: out of memory reading %s\n", path);
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
	{
		fprintf(stderr, "llm-cli: %s: read error\n", path);
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;

fail:
	fclose(f);
	free(buf);
	return NULL;
}

/*
 * Seconds on the monotonic clock.
 */
static double
ppl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/*
 * -log softmax(logits)[tok] over n_vocab logits, the maximum taken first
 * and the exponentials summed in double.
 */
static double
ppl_nll(const float *logits, int32_t n_vocab, int32_t tok)
{
	float		mx = logits[0];
	double		sum = 0.0;

	for (int32_t i = 1; i < n_vocab; i++)
		if (logits[i] > mx)
			mx = logits[i];
	for (int32_t i = 0; i < n_vocab; i++)
		sum += expf(logits[i] - mx);
	return -((double) (logits[tok] - mx) - log(sum));
}

/*
 * Score chunks c0 .. c0+np-1 of toks (ctx tokens each) side by side on
 * the np sequences seqs, adding to *s. bos >= 0 replaces each chunk's
 * first token. logits holds np * n_vocab floats, items np items, head
 * ctx / 2 + 1 tokens. -1 with err on failure.
 */
static int
ppl_score_group(llm_engine *e, const llm_model *m, llm_seq **seqs, int np,
				const int32_t *toks, int64_t c0, int ctx, int32_t bos,
				float *logits, int32_t n_vocab, llm_batch_item *items,
				int32_t *head, ppl_sums *s, char *err)
{
	const int	first = ctx / 2;

	/* fill each sequence with the chunk's tokens 0 .. first (BOS first) */
	for (int k = 0; k < np; k++)
	{
		const int32_t *chunk = toks + (c0 + k) * ctx;
		llm_batch_item it;

		memcpy(head, chunk, (size_t) (first + 1) * sizeof(int32_t));
		if (bos >= 0)
			head[0] = bos;
		llm_seq_clear(seqs[k]);
		it.seq = seqs[k];
		it.tokens = head;
		it.n_tokens = first + 1;
		it.logits = logits + (size_t) k * n_vocab;
		if (llm_engine_step(e, m, &it, 1, err) < 0)
			return -1;
	}
	/* logits[k] now follow position p: score them, then feed token p + 1 */
	for (int p = first; p <= ctx - 2; p++)
	{
		for (int k = 0; k < np; k++)
		{
			const int32_t *chunk = toks + (c0 + k) * ctx;
			double		v = ppl_nll(logits + (size_t) k * n_vocab, n_vocab, chunk[p + 1]);

			s->nll += v;
			s->nll2 += v * v;
			s->count++;
		}
		if (p == ctx - 2)
			break;
		for (int k = 0; k < np; k++)
		{
			items[k].seq = seqs[k];
			items[k].tokens = toks + (c0 + k) * ctx + p + 1;
			items[k].n_tokens = 1;
			items[k].logits = logits + (size_t) k * n_vocab;
		}
		if (llm_engine_step(e, m, items, np, err) < 0)
			return -1;
	}
	return 0;
}

/*
 * Entry point of the subcommand; argv[1] is "perplexity".
 */
int
llm_cli_perplexity(int argc, char **argv)
{
	const char *model = NULL,
			   *file = NULL,
			   *isa = NULL,
			   *kv = NULL;
	llm_kv_type kv_type = LLM_KV_F32;
	int			ctx = 512,
				max_chunks = 0,
				par = 8,
				threads = 2;
	bool		json = false;
	char		err[LLM_ERRLEN];
	char	   *text = NULL;
	size_t		len = 0,
				n_tok = 0;
	int32_t    *toks = NULL;
	llm_model  *m = NULL;
	llm_engine *e = NULL;
	llm_seq   **seqs = NULL;
	llm_batch_item *items = NULL;
	int32_t    *head = NULL;
	float	   *logits = NULL;
	ppl_sums	s = {0};
	int			rc = 1,
				n_chunk,
				np_made = 0;
	int32_t		n_vocab,
				bos = -1;
	double		t0;

	for (int i = 2; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--json") == 0)
		{
			json = true;
			continue;
		}
		if (v == NULL)
			return ppl_usage();
		if (strcmp(a, "-m") == 0)
			model = v;
		else if (strcmp(a, "-f") == 0)
			file = v;
		else if (strcmp(a, "--isa") == 0)
			isa = v;
		else if (strcmp(a, "--kv-type") == 0)
		{
			kv = v;
			if (llm_kv_type_parse(kv, &kv_type) < 0)
				return ppl_usage();
		}
		else if (strcmp(a, "-c") == 0 ? !ppl_int(v, 4, 1 << 20, &ctx) :
				 strcmp(a, "--chunks") == 0 ? !ppl_int(v, 1, 1 << 30, &max_chunks) :
				 strcmp(a, "-P") == 0 ? !ppl_int(v, 1, 64, &par) :
				 strcmp(a, "-t") == 0 ? !ppl_int(v, 0, 1024, &threads) : true)
			return ppl_usage();
		i++;
	}
	if (model == NULL || file == NULL)
		return ppl_usage();

	if ((text = ppl_read_text(file, &len)) == NULL)
		return 1;
	if (llm_model_load(&m, model, 0, err) < 0)
	{
		fprintf(stderr, "llm-cli: %s: %s\n", model, err);
		goto done;
	}
	if (ctx > llm_model_get_info(m)->n_ctx)
	{
		fprintf(stderr, "llm-cli: -c %d exceeds the model's context of %d\n",
				ctx, llm_model_get_info(m)->n_ctx);
		goto done;
	}
	n_vocab = llm_model_get_info(m)->n_vocab;
	llm_model_set_kv_type(m, kv_type);
	{
		const llm_tokenizer *t = llm_model_tokenizer(m);
		bool		add_bos = llm_tokenizer_add_bos(t) && llm_tokenizer_bos(t) >= 0;

		if (add_bos)
			bos = llm_tokenizer_bos(t);
		t0 = ppl_now();
		if (llm_tokenize(t, text, len, add_bos, false, &toks, &n_tok, err) < 0)
		{
			fprintf(stderr, "llm-cli: tokenizing %s: %s\n", file, err);
			goto done;
		}
	}
	if (n_tok < (size_t) 2 * ctx)
	{
		fprintf(stderr, "llm-cli: %s has %zu tokens; -c %d needs at least %d\n",
				file, n_tok, ctx, 2 * ctx);
		goto done;
	}
	n_chunk = (int) (n_tok / ctx);
	if (max_chunks > 0 && max_chunks < n_chunk)
		n_chunk = max_chunks;
	if (par > n_chunk)
		par = n_chunk;

	{
		llm_engine_params ep = {.n_threads = threads, .isa = isa, .device = NULL};

		if (llm_engine_new(&e, &ep, err) < 0 || llm_engine_attach(e, m, err) < 0)
		{
			fprintf(stderr, "llm-cli: %s\n", err);
			goto done;
		}
	}
	seqs = calloc(par, sizeof(*seqs));
	items = calloc(par, sizeof(*items));
	head = calloc(ctx / 2 + 1, sizeof(*head));
	logits = malloc((size_t) par * n_vocab * sizeof(float));
	if (!seqs || !items || !head || !logits)
	{
		fprintf(stderr, "llm-cli: out of memory\n");
		goto done;
	}
	for (; np_made < par; np_made++)
		if ((seqs[np_made] = llm_seq_new(m, ctx, err)) == NULL)
		{
			fprintf(stderr, "llm-cli: %s\n", err);
			goto done;
		}

	if (!json)
		fprintf(stderr, "perplexity: %zu tokens, %d chunks of %d, %d side by side\n",
				n_tok, n_chunk, ctx, par);
	for (int c = 0; c < n_chunk; c += par)
	{
		int			np = n_chunk - c < par ? n_chunk - c : par;

		if (ppl_score_group(e, m, seqs, np, toks, c, ctx, bos, logits, n_vocab,
							items, head, &s, err) < 0)
		{
			fprintf(stderr, "llm-cli: chunk %d: %s\n", c + 1, err);
			goto done;
		}
		if (!json)
		{
			printf("[%d]%.4f,", c + np, exp(s.nll / (double) s.count));
			fflush(stdout);
		}
	}
	{
		double		mean = s.nll / (double) s.count;
		double		var = s.nll2 / (double) s.count - mean * mean;
		double		ppl = exp(mean);
		double		se = var > 0 && s.count > 1 ? sqrt(var / (double) (s.count - 1)) : 0.0;
		double		secs = ppl_now() - t0;

		if (json)
			printf("{\"ppl\":%.6f,\"ppl_err\":%.6f,\"nll\":%.8f,\"tokens\":%zu,"
				   "\"chunks\":%d,\"ctx\":%d,\"scored\":%lld,\"kv_type\":\"%s\",\"seconds\":%.3f}\n",
				   ppl, se * ppl, mean, n_tok, n_chunk, ctx, (long long) s.count,
				   llm_kv_type_name(kv_type), secs);
		else
			printf("\nFinal estimate: PPL = %.4f +/- %.5f (%lld predictions, %.1f s)\n",
				   ppl, se * ppl, (long long) s.count, secs);
	}
	rc = 0;

done:
	for (int k = 0; k < np_made; k++)
		llm_seq_free(seqs[k]);
	free(seqs);
	free(items);
	free(head);
	free(logits);
	free(toks);
	llm_engine_free(e);
	llm_model_free(m);
	free(text);
	return rc;
}
