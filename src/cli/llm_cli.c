/*
 * llm_cli.c - the llm-cli command-line tool over the engine.
 *
 *   llm-cli info     -m FILE [--json]
 *   llm-cli tokenize -m FILE [--json] [--special] [--bos] -- TEXT
 *   llm-cli generate -m FILE -p PROMPT [-n N] [--temp T] [--top-k K]
 *                    [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S]
 *                    [--stop STR]... [--chat] [--system TEXT] [-t THREADS]
 *                    [--json-schema FILE]
 *   llm-cli bench    -m FILE [-p 512] [-n 128] [-r 3] [-t THREADS] [-b B] [--json]
 *
 * Common options: --isa auto|scalar|avx2|avx512, --device auto|cpu|cuda,
 * -c CTX (context cap).
 * Exit status: 0 success, 1 error (message on stderr), 2 usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "llm_engine.h"

/* the embed subcommand (cli_embed.c) */
int			llm_cli_embed(int argc, char **argv);
int			llm_cli_perplexity(int argc, char **argv);

typedef struct cli_opts
{
	const char *cmd;
	const char *model;
	const char *prompt;
	const char *text;
	const char *isa;
	const char *device;
	const char *system;
	const char *json_schema;	/* file of a JSON Schema for the output */
	const char *kv_type;		/* "f32" / "f16", NULL: the default */
	const char *stop[16];
	int			n_stop;
	bool		json;
	bool		special;
	bool		bos;
	bool		chat;
	int			n_predict;
	int			n_prompt_bench;
	int			batch;			/* bench: sequences decoding together */
	int			reps;
	int			threads;
	int			ctx;
	llm_sampling_params sp;
} cli_opts;

/*
 * Print usage to stderr and return the usage exit code.
 */
static int
cli_usage(void)
{
	fprintf(stderr,
			"usage:\n"
			"  llm-cli info     -m FILE [--json]\n"
			"  llm-cli tokenize -m FILE [--json] [--special] [--bos] -- TEXT\n"
			"  llm-cli generate -m FILE -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P]\n"
			"                   [--min-p P] [--repeat-penalty R] [--seed S] [--stop STR]...\n"
			"                   [--chat] [--system TEXT] [-t THREADS] [--json-schema FILE]\n"
			"  llm-cli bench    -m FILE [-p 512] [-n 128] [-r 3] [-t THREADS] [-b B] [--json]\n"
			"  llm-cli embed    -m MODEL-DIR|FILE.gguf [--json] [--tokens] [-t THREADS] -- TEXT...\n"
			"  llm-cli perplexity -m FILE -f TEXT [-c 512] [--chunks N] [-P 8] [-t THREADS]\n"
			"                   [--kv-type f32|f16] [--json]\n"
			"common options: --isa auto|scalar|avx2|avx512, --device auto|cpu|cuda, -c CTX,\n"
			"                --kv-type f32|f16 (KV-cache element type, default f32)\n");
	return 2;
}

/*
 * Parse an integer option value; false if malformed.
 */
static bool
cli_int(const char *s, int *out)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < -2147483647L || v > 2147483647L)
		return false;
	*out = (int) v;
	return true;
}

/*
 * Parse a float option value; false if malformed.
 */
static bool
cli_float(const char *s, float *out)
{
	char	   *end;

	errno = 0;
	*out = strtof(s, &end);
	return !(errno || end == s || *end != '\0');
}

/*
 * Parse argv into o; returns false on a usage error.
 */
static bool
cli_parse(int argc, char **argv, cli_opts *o)
{
	int			i;

	memset(o, 0, sizeof(*o));
	llm_sampling_defaults(&o->sp);
	o->sp.temperature = 0.0f;
	o->n_predict = -1;
	o->n_prompt_bench = -1;		/* bench: 512, or 32 with -b */
	o->reps = 3;
	if (argc < 2)
		return false;
	o->cmd = argv[1];
	for (i = 2; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool		need = true;
		bool		good = true;

		if (strcmp(a, "--") == 0)
		{
			if (i + 1 < argc)
				o->text = argv[i + 1];
			return i + 2 >= argc;
		}
		else if (strcmp(a, "--json") == 0)
			o->json = true, need = false;
		else if (strcmp(a, "--special") == 0)
			o->special = true, need = false;
		else if (strcmp(a, "--bos") == 0)
			o->bos = true, need = false;
		else if (strcmp(a, "--chat") == 0)
			o->chat = true, need = false;
		else if (v == NULL)
			return false;
		else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0)
			o->model = v;
		else if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0)
		{
			if (strcmp(o->cmd, "bench") == 0)
				good = cli_int(v, &o->n_prompt_bench);
			else
				o->prompt = v;
		}
		else if (strcmp(a, "-n") == 0)
			good = cli_int(v, &o->n_predict);
		else if (strcmp(a, "-b") == 0)
			good = cli_int(v, &o->batch) && o->batch > 0 && o->batch <= 1024;
		else if (strcmp(a, "-r") == 0)
			good = cli_int(v, &o->reps) && o->reps > 0;
		else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0)
			good = cli_int(v, &o->threads) && o->threads > 0;
		else if (strcmp(a, "-c") == 0)
			good = cli_int(v, &o->ctx) && o->ctx > 0;
		else if (strcmp(a, "--temp") == 0)
			good = cli_float(v, &o->sp.temperature);
		else if (strcmp(a, "--top-k") == 0)
			good = cli_int(v, &o->sp.top_k);
		else if (strcmp(a, "--top-p") == 0)
			good = cli_float(v, &o->sp.top_p);
		else if (strcmp(a, "--min-p") == 0)
			good = cli_float(v, &o->sp.min_p);
		else if (strcmp(a, "--repeat-penalty") == 0)
			good = cli_float(v, &o->sp.repeat_penalty);
		else if (strcmp(a, "--seed") == 0)
		{
			char	   *end;

			errno = 0;
			o->sp.seed = strtoull(v, &end, 10);
			good = !(errno || end == v || *end != '\0');
		}
		else if (strcmp(a, "--stop") == 0)
		{
			if (o->n_stop >= 16)
				return false;
			o->stop[o->n_stop++] = v;
		}
		else if (strcmp(a, "--system") == 0)
			o->system = v;
		else if (strcmp(a, "--json-schema") == 0)
			o->json_schema = v;
		else if (strcmp(a, "--isa") == 0)
			o->isa = v;
		else if (strcmp(a, "--device") == 0)
			o->device = v;
		else if (strcmp(a, "--kv-type") == 0)
			o->kv_type = v;
		else
			return false;
		if (!good)
			return false;
		if (need)
			i++;
	}
	return o->model != NULL;
}

/*
 * Write s as a JSON string literal (with quotes) to f.
 */
static void
cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/*
 * llm-cli info: print the model summary.
 */
static int
cli_info(const llm_model *m, const cli_opts *o)
{
	const llm_model_info *in = llm_model_get_info(m);
	const llm_tokenizer *tok = llm_model_tokenizer(m);

	if (o->json)
	{
		printf("{\"architecture\":");
		cli_json_str(stdout, in->arch);
		printf(",\"name\":");
		cli_json_str(stdout, in->name);
		printf(",\"quantization\":");
		cli_json_str(stdout, in->quant);
		printf(",\"n_layer\":%d,\"n_embd\":%d,\"n_head\":%d,\"n_head_kv\":%d,"
			   "\"n_ff\":%d,\"n_vocab\":%d,\"n_rot\":%d,\"n_ctx_train\":%d,\"n_ctx\":%d,"
			   "\"rope_theta\":%g,\"norm_eps\":%g,\"n_params\":%llu,\"weight_bytes\":%llu,\"packed_bytes\":%llu,"
			   "\"file_bytes\":%llu,\"bos\":%d,\"eos\":%d,\"eot\":%d,\"chat_template\":",
			   in->n_layer, in->n_embd, in->n_head, in->n_head_kv, in->n_ff, in->n_vocab,
			   in->n_rot, in->n_ctx_train, in->n_ctx, in->rope_theta, in->norm_eps,
			   (unsigned long long) in->n_params, (unsigned long long) in->weight_bytes,
			   (unsigned long long) in->packed_bytes,
			   (unsigned long long) in->file_bytes, llm_tokenizer_bos(tok),
			   llm_tokenizer_eos(tok), llm_tokenizer_eot(tok));
		if (in->chat_format)
			cli_json_str(stdout, in->chat_format);
		else
			printf("null");
		printf("}\n");
		return 0;
	}
	printf("architecture:  %s\n", in->arch);
	printf("name:          %s\n", in->name);
	printf("quantization:  %s\n", in->quant);
	printf("parameters:    %llu (%.1f MB of weights, %.1f MB repacked in memory)\n",
		   (unsigned long long) in->n_params, in->weight_bytes / 1e6, in->packed_bytes / 1e6);
	printf("layers:        %d\n", in->n_layer);
	printf("embedding:     %d (heads %d, kv heads %d, rotary dims %d)\n", in->n_embd,
		   in->n_head, in->n_head_kv, in->n_rot);
	printf("feed-forward:  %d\n", in->n_ff);
	printf("vocabulary:    %d (bos %d, eos %d, eot %d)\n", in->n_vocab,
		   llm_tokenizer_bos(tok), llm_tokenizer_eos(tok), llm_tokenizer_eot(tok));
	printf("context:       %d (trained %d)\n", in->n_ctx, in->n_ctx_train);
	printf("rope theta:    %g\n", in->rope_theta);
	printf("chat template: %s\n", in->chat_format ? in->chat_format : "(none recognised)");
	return 0;
}

/*
 * llm-cli tokenize: print the ids of the text as a JSON array.
 */
static int
cli_tokenize(const llm_model *m, const cli_opts *o)
{
	char		err[LLM_ERRLEN];
	int32_t    *ids;
	size_t		n,
				i;

	if (o->text == NULL)
	{
		fprintf(stderr, "llm-cli: tokenize needs the text after --\n");
		return 2;
	}
	if (llm_tokenize(llm_model_tokenizer(m), o->text, strlen(o->text), o->bos, o->special,
					 &ids, &n, err) < 0)
	{
		fprintf(stderr, "llm-cli: %s\n", err);
		return 1;
	}
	putchar('[');
	for (i = 0; i < n; i++)
		printf(i ? ",%d" : "%d", ids[i]);
	printf("]\n");
	free(ids);
	return 0;
}

/*
 * Generate under the JSON Schema in file path: the output is a complete
 * document of the schema, or the command fails (max tokens too few).
 */
static int
cli_generate_json(llm_engine *e, const llm_model *m, const char *prompt,
				  llm_gen_params *gp, const char *path)
{
	char		err[LLM_ERRLEN];
	char	   *text = NULL;
	size_t		len = 0;
	llm_json_schema *s = NULL;
	llm_vocab_trie *v = NULL;
	llm_gen    *g = NULL;
	llm_batch_item item;
	const char *out;
	int			rc = 1;

	if (llm_json_read_file(path, 1 << 20, &text, &len, err) < 0 ||
		llm_json_schema_compile(&s, text, len, err) < 0 ||
		llm_vocab_trie_new(&v, llm_model_tokenizer(m), err) < 0)
	{
		fprintf(stderr, "llm-cli: %s: %s\n", path, err);
		goto done;
	}
	gp->json_schema = s;
	gp->vocab_trie = v;
	if (llm_gen_new(&g, m, prompt, strlen(prompt), gp, err) < 0)
	{
		fprintf(stderr, "llm-cli: %s\n", err);
		goto done;
	}
	while (llm_gen_prepare(g, &item, 512) > 0)
	{
		if (llm_engine_step(e, m, &item, 1, err) < 0)
		{
			fprintf(stderr, "llm-cli: %s\n", err);
			goto done;
		}
		llm_gen_advance(g);
	}
	if (llm_gen_json_status(g) != LLM_JSON_COMPLETE)
	{
		fprintf(stderr, "llm-cli: the JSON document is incomplete after %d tokens%s\n",
				llm_gen_n_generated(g),
				llm_gen_json_status(g) == LLM_JSON_DEAD ? " (nesting too deep)" : "; raise -n");
		goto done;
	}
	out = llm_gen_text(g, &len);
	fwrite(out, 1, len, stdout);
	if (isatty(fileno(stdout)))
		putchar('\n');
	rc = 0;
done:
	llm_gen_free(g);
	llm_vocab_trie_free(v);
	llm_json_schema_free(s);
	free(text);
	return rc;
}

/*
 * llm-cli generate: print only the generated text.
 */
static int
cli_generate(llm_engine *e, const llm_model *m, const cli_opts *o)
{
	char		err[LLM_ERRLEN];
	llm_gen_params gp;
	char	   *prompt = NULL;
	char	   *text = NULL;
	llm_text_span *marks = NULL;
	size_t		n_marks = 0;

	if (o->prompt == NULL)
	{
		fprintf(stderr, "llm-cli: generate needs -p PROMPT\n");
		return 2;
	}
	llm_gen_defaults(&gp);
	gp.sampling = o->sp;
	if (o->n_predict > 0)
		gp.max_tokens = o->n_predict;
	else if (o->n_predict == 0)
		return 0;
	gp.stop = o->stop;
	gp.n_stop = o->n_stop;
	if (o->chat)
	{
		const llm_chat_template *t = llm_model_chat_template(m);
		llm_chat_msg msgs[2];
		size_t		n = 0;

		if (t == NULL)
		{
			fprintf(stderr, "llm-cli: the model has no chat template that llm recognises\n");
			return 1;
		}
		if (o->system)
		{
			msgs[n].role = "system";
			msgs[n++].content = o->system;
		}
		msgs[n].role = "user";
		msgs[n++].content = o->prompt;
		/* only the template's markers are special; the messages are text */
		if (llm_chat_fit(m, t, msgs, n, &gp, &prompt, &marks, &n_marks, NULL, err) < 0)
		{
			fprintf(stderr, "llm-cli: %s\n", err);
			return 1;
		}
		gp.parse_special = false;
		gp.special_marks = marks;
		gp.n_special_marks = n_marks;
	}
	if (o->json_schema != NULL)
	{
		int			rc = cli_generate_json(e, m, prompt ? prompt : o->prompt, &gp, o->json_schema);

		free(prompt);
		free(marks);
		return rc;
	}
	if (llm_generate_simple(e, m, prompt ? prompt : o->prompt, &gp, &text, err) < 0)
	{
		fprintf(stderr, "llm-cli: %s\n", err);
		free(prompt);
		free(marks);
		return 1;
	}
	fputs(text, stdout);
	if (isatty(fileno(stdout)))
		putchar('\n');
	free(text);
	free(prompt);
	free(marks);
	return 0;
}

/*
 * Compare doubles for qsort.
 */
static int
cli_cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/*
 * Free what cli_bench_batch allocated (any of it may be NULL).
 */
static void
cli_bench_batch_free(llm_seq **seqs, int n, int32_t *toks, float *logits,
					 llm_batch_item *items, double *tg)
{
	int			i;

	if (seqs)
		for (i = 0; i < n; i++)
			llm_seq_free(seqs[i]);
	free(seqs);
	free(toks);
	free(logits);
	free(items);
	free(tg);
}

/*
 * llm-cli bench -b B: batched decoding, as the extension's worker runs
 * concurrent sessions. Each of B sequences first gets its own -p token
 * prompt (default 32, not timed); then -n steps are timed in which every
 * sequence decodes one token with logits. Prints the median over -r runs,
 * after one warm-up, of generated tokens per second summed over the batch.
 */
static int
cli_bench_batch(llm_engine *e, const llm_model *m, const cli_opts *o)
{
	const llm_model_info *in = llm_model_get_info(m);
	int			B = o->batch,
				np = o->n_prompt_bench < 0 ? 32 : o->n_prompt_bench,
				ng = o->n_predict < 0 ? 32 : o->n_predict;
	char		err[LLM_ERRLEN];
	llm_seq   **seqs;
	int32_t    *toks;
	float	   *logits;
	llm_batch_item *items;
	double	   *tg;
	int			r,
				i,
				b;
	uint64_t	x = 42;

	if (np < 1 || ng < 1 || np + ng + 1 > in->n_ctx)
	{
		fprintf(stderr, "llm-cli: -p %d and -n %d do not fit the context of %d\n", np, ng, in->n_ctx);
		return 2;
	}
	seqs = calloc((size_t) B, sizeof(*seqs));
	toks = malloc(sizeof(int32_t) * (size_t) B * (size_t) (np + ng));
	logits = malloc(sizeof(float) * (size_t) B * (size_t) in->n_vocab);
	items = calloc((size_t) B, sizeof(*items));
	tg = calloc((size_t) o->reps, sizeof(double));
	if (!seqs || !toks || !logits || !items || !tg)
	{
		fprintf(stderr, "llm-cli: out of memory\n");
		cli_bench_batch_free(seqs, seqs ? B : 0, toks, logits, items, tg);
		return 1;
	}
	for (b = 0; b < B; b++)
		if ((seqs[b] = llm_seq_new(m, np + ng + 1, err)) == NULL)
			goto fail;
	for (i = 0; i < B * (np + ng); i++)
	{
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		toks[i] = (int32_t) ((x >> 33) % (uint64_t) in->n_vocab);
	}
	for (r = -1; r < o->reps; r++)
	{
		double		t0;

		/* the prompts, one sequence per step, untimed */
		for (b = 0; b < B; b++)
		{
			llm_seq_clear(seqs[b]);
			items[0] = (llm_batch_item) {.seq = seqs[b], .tokens = &toks[b * (np + ng)],
				.n_tokens = np, .logits = &logits[(size_t) b * in->n_vocab]};
			if (llm_engine_step(e, m, items, 1, err) < 0)
				goto fail;
		}
		t0 = llm_time_sec();
		for (i = 0; i < ng; i++)
		{
			for (b = 0; b < B; b++)
				items[b] = (llm_batch_item) {.seq = seqs[b],
					.tokens = &toks[b * (np + ng) + np + i], .n_tokens = 1,
				.logits = &logits[(size_t) b * in->n_vocab]};
			if (llm_engine_step(e, m, items, B, err) < 0)
				goto fail;
		}
		if (r >= 0)
			tg[r] = (double) B * ng / (llm_time_sec() - t0);
	}
	qsort(tg, (size_t) o->reps, sizeof(double), cli_cmp_double);
	if (o->json)
		printf("{\"batch\":%d,\"tg_tok_s\":%.2f,\"n_prompt\":%d,\"n_gen\":%d,"
			   "\"threads\":%d,\"isa\":\"%s\",\"reps\":%d}\n",
			   B, tg[o->reps / 2], np, ng, llm_engine_threads(e),
			   llm_engine_isa(e), o->reps);
	else
		printf("model %s (%s), %d threads, isa %s\n"
			   "batch %d x tg%d (after pp%d each): %.2f tok/s\n",
			   in->name, in->quant, llm_engine_threads(e), llm_engine_isa(e),
			   B, ng, np, tg[o->reps / 2]);
	cli_bench_batch_free(seqs, B, toks, logits, items, tg);
	return 0;

fail:
	fprintf(stderr, "llm-cli: %s\n", err);
	cli_bench_batch_free(seqs, B, toks, logits, items, tg);
	return 1;
}

/*
 * llm-cli bench: prompt processing (one step of -p tokens) and generation
 * (-n single-token steps from an empty context), like llama-bench's pp and
 * tg tests; prints the median over -r runs after one warm-up.
 */
static int
cli_bench(llm_engine *e, const llm_model *m, const cli_opts *o)
{
	const llm_model_info *in = llm_model_get_info(m);
	int			np = o->n_prompt_bench < 0 ? 512 : o->n_prompt_bench,
				ng = o->n_predict < 0 ? 128 : o->n_predict;
	char		err[LLM_ERRLEN];
	int32_t    *toks;
	float	   *logits;
	double	   *pp,
			   *tg;
	llm_seq    *s;
	int			r,
				i,
				nt;
	uint64_t	x = 42;

	if (np < 0 || ng < 0 || np + ng + 1 > in->n_ctx)
	{
		fprintf(stderr, "llm-cli: -p %d and -n %d do not fit the context of %d\n", np, ng, in->n_ctx);
		return 2;
	}
	/* the prompt's tokens, and those the generation feeds one by one */
	nt = (np > ng ? np : ng) + 1;
	toks = malloc(sizeof(int32_t) * (size_t) nt);
	logits = malloc(sizeof(float) * (size_t) in->n_vocab);
	pp = calloc((size_t) o->reps, sizeof(double));
	tg = calloc((size_t) o->reps, sizeof(double));
	s = llm_seq_new(m, in->n_ctx, err);
	if (!toks || !logits || !pp || !tg || !s)
	{
		fprintf(stderr, "llm-cli: out of memory\n");
		return 1;
	}
	for (i = 0; i < nt; i++)
	{
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		toks[i] = (int32_t) ((x >> 33) % (uint64_t) in->n_vocab);
	}
	for (r = -1; r < o->reps; r++)
	{
		llm_batch_item it;
		double		t0;

		if (np > 0)
		{
			llm_seq_clear(s);
			it = (llm_batch_item) {.seq = s, .tokens = toks, .n_tokens = np, .logits = logits};
			t0 = llm_time_sec();
			if (llm_engine_step(e, m, &it, 1, err) < 0)
				goto fail;
			if (r >= 0)
				pp[r] = np / (llm_time_sec() - t0);
		}
		if (ng > 0)
		{
			llm_seq_clear(s);
			t0 = llm_time_sec();
			for (i = 0; i < ng; i++)
			{
				it = (llm_batch_item) {.seq = s, .tokens = &toks[i], .n_tokens = 1, .logits = logits};
				if (llm_engine_step(e, m, &it, 1, err) < 0)
					goto fail;
			}
			if (r >= 0)
				tg[r] = ng / (llm_time_sec() - t0);
		}
	}
	qsort(pp, (size_t) o->reps, sizeof(double), cli_cmp_double);
	qsort(tg, (size_t) o->reps, sizeof(double), cli_cmp_double);
	if (o->json)
		printf("{\"pp_tok_s\":%.2f,\"tg_tok_s\":%.2f,\"n_prompt\":%d,\"n_gen\":%d,"
			   "\"threads\":%d,\"isa\":\"%s\",\"reps\":%d}\n",
			   pp[o->reps / 2], tg[o->reps / 2], np, ng, llm_engine_threads(e),
			   llm_engine_isa(e), o->reps);
	else
		printf("model %s (%s), %d threads, isa %s\npp%d: %.2f tok/s\ntg%d: %.2f tok/s\n",
			   in->name, in->quant, llm_engine_threads(e), llm_engine_isa(e),
			   np, pp[o->reps / 2], ng, tg[o->reps / 2]);
	llm_seq_free(s);
	free(toks);
	free(logits);
	free(pp);
	free(tg);
	return 0;

fail:
	fprintf(stderr, "llm-cli: %s\n", err);
	llm_seq_free(s);
	free(toks);
	free(logits);
	free(pp);
	free(tg);
	return 1;
}

int
main(int argc, char **argv)
{
	cli_opts	o;
	char		err[LLM_ERRLEN];
	llm_model  *m;
	llm_engine *e = NULL;
	int			rc;

	if (argc > 1 && strcmp(argv[1], "embed") == 0)
		return llm_cli_embed(argc, argv);
	if (argc > 1 && strcmp(argv[1], "perplexity") == 0)
		return llm_cli_perplexity(argc, argv);
	if (!cli_parse(argc, argv, &o))
		return cli_usage();
	if (strcmp(o.cmd, "info") != 0 && strcmp(o.cmd, "tokenize") != 0 &&
		strcmp(o.cmd, "generate") != 0 && strcmp(o.cmd, "bench") != 0)
		return cli_usage();
	if (llm_model_load(&m, o.model, o.ctx, err) < 0)
	{
		fprintf(stderr, "llm-cli: %s: %s\n", o.model, err);
		return 1;
	}
	if (o.kv_type != NULL)
	{
		llm_kv_type kt;

		if (llm_kv_type_parse(o.kv_type, &kt) < 0)
		{
			fprintf(stderr, "llm-cli: --kv-type must be f32 or f16, not \"%s\"\n", o.kv_type);
			llm_model_free(m);
			return 2;
		}
		llm_model_set_kv_type(m, kt);
	}
	if (strcmp(o.cmd, "generate") == 0 || strcmp(o.cmd, "bench") == 0)
	{
		llm_engine_params ep = {.n_threads = o.threads, .isa = o.isa, .device = o.device};

		if (llm_engine_new(&e, &ep, err) < 0 || llm_engine_attach(e, m, err) < 0)
		{
			fprintf(stderr, "llm-cli: %s\n", err);
			llm_engine_free(e);
			llm_model_free(m);
			return 1;
		}
	}
	if (strcmp(o.cmd, "info") == 0)
		rc = cli_info(m, &o);
	else if (strcmp(o.cmd, "tokenize") == 0)
		rc = cli_tokenize(m, &o);
	else if (strcmp(o.cmd, "generate") == 0)
		rc = cli_generate(e, m, &o);
	else if (o.batch > 0)
		rc = cli_bench_batch(e, m, &o);
	else
		rc = cli_bench(e, m, &o);
	llm_engine_free(e);
	llm_model_free(m);
	return rc;
}
