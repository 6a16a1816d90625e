/*
 * json_bench.c - decode speed with and without a JSON schema (issue 15).
 *
 *   cc -std=gnu11 -O2 -Isrc/engine test/bench/json_bench.c build/libllmengine.a \
 *      -lpcre2-8 -lutf8proc -lm -lpthread -o json_bench
 *   ./json_bench MODEL.gguf [threads=2] [batch=8] [rounds=3] [max_tokens=64]
 *
 * The same chat prompts are run as one batch of 'batch' requests, three
 * ways per round, the ways interleaved round after round: free (no
 * schema), constrained (every request under the schema below) and mixed
 * (every other request constrained, all in the same steps). Only decode
 * steps are timed (steps in which every item feeds one token), from
 * before llm_engine_step to after the last llm_gen_advance, so the
 * masking and sampling are inside the figure; the prompt prefill is not
 * (it is the same for every way). The order of the ways is reversed
 * every other round, so that a slow spell of a shared machine does not
 * land on one way only. Prints per way the median over rounds of decode
 * tokens/s, the ratio to free, the share of decode time spent computing
 * masks (llm_gen_mask_seconds), and the time llm_gen_advance() takes per
 * token for constrained and for free requests (sampling, masking and
 * matching: the only work a schema adds; the forward pass is the same).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_engine.h"

#define MAX_B 64

static const char schema_text[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"title\":{\"type\":\"string\",\"maxLength\":60},"
	"\"summary\":{\"type\":\"string\",\"minLength\":80,\"maxLength\":400},"
	"\"year\":{\"type\":\"integer\",\"minimum\":1000,\"maximum\":2100},"
	"\"rating\":{\"type\":\"number\",\"minimum\":0,\"maximum\":10},"
	"\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":20},\"maxItems\":5},"
	"\"kind\":{\"enum\":[\"book\",\"film\",\"album\"]}},"
	"\"required\":[\"title\",\"summary\",\"year\",\"rating\",\"tags\",\"kind\"],"
	"\"additionalProperties\":false}";

static const char *const topics[] = {
	"the novel Moby-Dick", "the film Casablanca", "the album Abbey Road",
	"the novel Pride and Prejudice", "the film Metropolis", "the album Kind of Blue",
	"the novel Don Quixote", "the film Seven Samurai"
};

/*
 * Compare doubles for qsort.
 */
static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/*
 * Run one batch; constrained[i] says which requests get the schema.
 * Returns decode tokens/s, and the mask share in *mask_share.
 */
typedef struct way_stats
{
	double		tps;			/* decode tokens/s */
	double		mask_share;		/* mask time / decode time */
	double		adv_c;			/* advance seconds per constrained token */
	double		adv_f;			/* advance seconds per free token */
	long		tokens;
} way_stats;

static void
run_way(llm_engine *e, const llm_model *m, const llm_json_schema *s,
		const llm_vocab_trie *v, int B, int max_tokens, const bool *constrained,
		way_stats *st)
{
	double		adv_c = 0, adv_f = 0;
	long		n_c = 0, n_f = 0;
	bool		is_c[MAX_B];
	llm_gen    *g[MAX_B];
	llm_batch_item items[MAX_B];
	llm_gen    *who[MAX_B];
	char		err[LLM_ERRLEN];
	double		t_decode = 0, t_mask = 0;
	long		n_decode = 0;
	int			i;

	for (i = 0; i < B; i++)
	{
		llm_chat_msg msg[2];
		char		user[256];
		char	   *prompt;
		llm_gen_params p;

		snprintf(user, sizeof(user), "Describe %s as JSON with a title, a long summary, "
				 "the year, a rating out of 10, tags and its kind.", topics[i % 8]);
		msg[0].role = "system";
		msg[0].content = "You answer with JSON only.";
		msg[1].role = "user";
		msg[1].content = user;
		if (llm_chat_apply(llm_model_chat_template(m), msg, 2, true, &prompt, err) < 0)
		{
			fprintf(stderr, "chat: %s\n", err);
			exit(1);
		}
		llm_gen_defaults(&p);
		p.max_tokens = max_tokens;
		if (constrained[i])
		{
			p.json_schema = s;
			p.vocab_trie = v;
		}
		if (llm_gen_new(&g[i], m, prompt, strlen(prompt), &p, err) < 0)
		{
			fprintf(stderr, "gen: %s\n", err);
			exit(1);
		}
		free(prompt);
	}
	for (;;)
	{
		int			k = 0;
		bool		decode = true;
		double		t0;

		for (i = 0; i < B; i++)
			if (llm_gen_prepare(g[i], &items[k], 512) > 0)
			{
				if (items[k].n_tokens != 1 || llm_gen_n_generated(g[i]) == 0)
					decode = false;
				is_c[k] = constrained[i];
				who[k++] = g[i];
			}
		if (k == 0)
			break;
		t0 = llm_time_sec();
		if (llm_engine_step(e, m, items, k, err) < 0)
		{
			fprintf(stderr, "step: %s\n", err);
			exit(1);
		}
		for (i = 0; i < k; i++)
		{
			double		m0 = llm_gen_mask_seconds(who[i]);
			double		a0 = llm_time_sec();

			llm_gen_advance(who[i]);
			if (decode)
			{
				double		dt = llm_time_sec() - a0;

				t_mask += llm_gen_mask_seconds(who[i]) - m0;
				if (is_c[i])
					adv_c += dt, n_c++;
				else
					adv_f += dt, n_f++;
			}
		}
		if (decode)
		{
			t_decode += llm_time_sec() - t0;
			n_decode += k;
		}
	}
	for (i = 0; i < B; i++)
	{
		if (constrained[i] && llm_gen_json_status(g[i]) != LLM_JSON_COMPLETE &&
			llm_gen_n_generated(g[i]) < max_tokens)
			fprintf(stderr, "request %d: document not complete\n", i);
		llm_gen_free(g[i]);
	}
	st->mask_share = t_decode > 0 ? t_mask / t_decode : 0;
	st->tokens = n_decode;
	st->tps = t_decode > 0 ? (double) n_decode / t_decode : 0;
	st->adv_c = n_c ? adv_c / n_c : 0;
	st->adv_f = n_f ? adv_f / n_f : 0;
}

/*
 * Median of n values (sorts them).
 */
static double
median(double *x, int n)
{
	qsort(x, (size_t) n, sizeof(double), cmp_double);
	return x[n / 2];
}

int
main(int argc, char **argv)
{
	const char *names[3] = {"free", "constrained", "mixed"};
	int			threads = argc > 2 ? atoi(argv[2]) : 2;
	int			B = argc > 3 ? atoi(argv[3]) : 8;
	int			rounds = argc > 4 ? atoi(argv[4]) : 3;
	int			max_tokens = argc > 5 ? atoi(argv[5]) : 64;
	llm_engine_params ep = {.n_threads = threads};
	llm_model  *m;
	llm_engine *e;
	llm_json_schema *s;
	llm_vocab_trie *v;
	char		err[LLM_ERRLEN];
	double		tps[3][32], share[3][32], advc[3][32], advf[3][32];
	long		toks[3] = {0, 0, 0};
	double		t0;
	int			r, w, i;

	if (argc < 2 || B < 1 || B > MAX_B || rounds < 1 || rounds > 32 || max_tokens < 1)
	{
		fprintf(stderr, "usage: json_bench MODEL.gguf [threads] [batch<=64] [rounds<=32] [max_tokens]\n");
		return 2;
	}
	if (llm_model_load(&m, argv[1], 2048, err) < 0 || llm_engine_new(&e, &ep, err) < 0 ||
		llm_json_schema_compile(&s, schema_text, strlen(schema_text), err) < 0)
	{
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	t0 = llm_time_sec();
	if (llm_vocab_trie_new(&v, llm_model_tokenizer(m), err) < 0)
	{
		fprintf(stderr, "trie: %s\n", err);
		return 1;
	}
	printf("vocabulary trie built in %.1f ms (once per model)\n", 1e3 * (llm_time_sec() - t0));
	for (r = 0; r < rounds; r++)
		for (int k = 0; k < 3; k++)
		{
			bool		c[MAX_B];
			way_stats	ws;

			w = r % 2 == 0 ? k : 2 - k;
			for (i = 0; i < B; i++)
				c[i] = w == 1 || (w == 2 && i % 2 == 0);
			run_way(e, m, s, v, B, max_tokens, c, &ws);
			tps[w][r] = ws.tps;
			share[w][r] = ws.mask_share;
			advc[w][r] = ws.adv_c;
			advf[w][r] = ws.adv_f;
			toks[w] += ws.tokens;
		}
	printf("model %s, %d threads (%s), batch %d, max_tokens %d, %d rounds (median)\n",
		   argv[1], threads, llm_engine_isa(e), B, max_tokens, rounds);
	printf("%-12s %10s %8s %11s %14s %14s %12s\n", "way", "decode t/s", "ratio", "mask share",
		   "adv us/tok (c)", "adv us/tok (f)", "tokens/round");
	{
		double		med[3];

		for (w = 0; w < 3; w++)
			med[w] = median(tps[w], rounds);
		for (w = 0; w < 3; w++)
			printf("%-12s %10.1f %7.1f%% %10.2f%% %14.1f %14.1f %12ld\n", names[w], med[w],
				   100.0 * med[w] / med[0], 100.0 * median(share[w], rounds),
				   1e6 * median(advc[w], rounds), 1e6 * median(advf[w], rounds),
				   toks[w] / rounds);
	}
	llm_vocab_trie_free(v);
	llm_json_schema_free(s);
	llm_engine_free(e);
	llm_model_free(m);
	return 0;
}
