/*
 * test_mpnet.c - the MPNet encoder (all-mpnet-base-v2) against
 * transformers and sentence-transformers.
 *
 *  - relative position buckets: llm_mpnet_bucket for every key - query
 *    distance in -600 .. 600 against transformers' own function
 *    (test/golden/mpnet_buckets.tsv), and the per-head bias table built
 *    from them;
 *  - the special ids of a tokenizer.json post-processor (MPNet starts a
 *    text with <s> and ends it with </s>, which are not [CLS] / [SEP]);
 *  - with $LLM_MODEL_DIR/all-mpnet-base-v2 (scripts/fetch-models.sh; it
 *    is optional, LLM_NO_MPNET=1 skips it): token ids of the 247 golden
 *    strings identical to the Hugging Face tokenizer, and their vectors
 *    at cosine >= 0.9999 to sentence-transformers' (f32 and the default
 *    kernels), a batch giving each text's vector alone, and a directory
 *    without tokenizer.json refused.
 *
 * Golden files: test/golden/make_mpnet_golden.py. Skipped when absent;
 * EMBED_GOLDEN_DIR overrides their directory.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "golden.h"
#include "json.h"
#include "llm_embed.h"
#include "llm_util.h"
#include "mpnet.h"
#include "tap.h"
#include "wordpiece.h"

#define BUCKET_CHECKS 4
#define WP_CHECKS 6
#define VECTOR_CHECKS 2
#define MODEL_CHECKS (3 + 2 * VECTOR_CHECKS)
#define MPNET_PLAN (BUCKET_CHECKS + WP_CHECKS + MODEL_CHECKS)

/*
 * Buckets against transformers, the argument checks, and the bias table.
 */
static void
test_buckets(void)
{
	char		p[4096];
	FILE	   *f = fopen(golden_path(p, sizeof(p), "mpnet_buckets.tsv"), "r");
	int			rel,
				bucket,
				n = 0,
				same = 0;
	float		w[32 * 2],
			   *tab = NULL,
			   *bad_tab = NULL;
	char		err[LLM_ERRLEN];
	int			bad = 0,
				h,
				r;

	if (!f)
		skip("no %s", p);
	else
	{
		while (fscanf(f, "%d\t%d", &rel, &bucket) == 2)
		{
			int			b = llm_mpnet_bucket(rel, 32, 128);

			n++;
			if (b == bucket)
				same++;
			else if (n - same <= 5)
				diag("distance %d: bucket %d, transformers %d", rel, b, bucket);
		}
		fclose(f);
		ok(n == 1201 && same == n, "buckets of %d of %d distances as transformers computes them",
		   same, n);
	}
	ok(llm_mpnet_bucket(0, 30, 128) < 0 && llm_mpnet_bucket(0, 32, 8) < 0 &&
	   llm_mpnet_bucket(1 << 21, 32, 128) < 0 && llm_mpnet_bucket(0, 0, 128) < 0,
	   "bad bucket arguments refused");

	/* the table: head h of distance r is w[bucket(r) * heads + h] */
	for (r = 0; r < 64; r++)
		w[r] = (float) r;
	ok(llm_mpnet_bias_table(w, 32, 2, 128, 300, &tab, err) == 0, "bias table built");
	for (r = -299; tab && r <= 299; r++)
		for (h = 0; h < 2; h++)
			if (tab[(size_t) h * 599 + (size_t) (r + 299)] !=
				w[llm_mpnet_bucket(r, 32, 128) * 2 + h])
				bad++;
	ok(tab && bad == 0 && llm_mpnet_bias_table(w, 31, 2, 128, 10, &bad_tab, err) < 0 && bad_tab == NULL,
	   "bias table matches the buckets (%d wrong) and odd bucket counts are refused: %s", bad, err);
	free(tab);
}

/*
 * Encode text with wp and compare to the expected ids.
 */
static bool
encodes_to(const llm_wordpiece *wp, const char *text, const int32_t *want, int n_want)
{
	int32_t    *ids = NULL;
	int			n = 0;
	char		err[LLM_ERRLEN];
	bool		r;

	if (llm_wp_encode(wp, text, strlen(text), true, 0, &ids, &n, err) < 0)
		return false;
	r = n == n_want && memcmp(ids, want, (size_t) n * sizeof(int32_t)) == 0;
	if (!r)
		diag("\"%s\": %d ids, first %d last %d", text, n, n ? ids[0] : -1, n ? ids[n - 1] : -1);
	free(ids);
	return r;
}

/*
 * Build a tokenizer from a tokenizer.json text.
 */
static int
wp_from_json(llm_wordpiece **wp, const char *js, char *err)
{
	llm_json   *j = llm_json_parse(js, strlen(js), err);
	int			rc;

	if (!j)
		return -1;
	rc = llm_wp_new_tokenizer_json(wp, j, err);
	llm_json_free(j);
	return rc;
}

/*
 * Special ids chosen by the post-processor of a tokenizer.json.
 */
static void
test_wordpiece_specials(void)
{
	static const char vocab[] =
		"\"vocab\": {\"<s>\": 0, \"<pad>\": 1, \"</s>\": 2, \"[UNK]\": 3, \"[CLS]\": 4,"
		" \"[SEP]\": 5, \"hello\": 6, \"world\": 7}";
	char		js[2048],
				err[LLM_ERRLEN] = "";
	llm_wordpiece *wp = NULL;
	static const int32_t roberta[] = {0, 6, 7, 2},
				bert[] = {4, 6, 7, 5},
				special_text[] = {0, 2, 6, 2};

	/* MPNet's: RobertaProcessing with <s> and </s>; those two are added tokens */
	snprintf(js, sizeof(js),
			 "{\"added_tokens\": [{\"id\": 0, \"content\": \"<s>\", \"special\": true},"
			 " {\"id\": 2, \"content\": \"</s>\", \"special\": true}],"
			 " \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
			 " \"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 2], \"cls\": [\"<s>\", 0]},"
			 " \"padding\": {\"pad_id\": 1},"
			 " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", %s}}", vocab);
	ok(wp_from_json(&wp, js, err) == 0 && llm_wp_cls_id(wp) == 0 && llm_wp_sep_id(wp) == 2 &&
	   llm_wp_pad_id(wp) == 1, "RobertaProcessing: start <s>, end </s>, pad 1 (%s)", wp ? "" : err);
	ok(wp && encodes_to(wp, "Hello world", roberta, 4) && encodes_to(wp, "</s>hello", special_text, 4),
	   "texts wrapped in <s> ... </s>; </s> in the text is the special token");
	llm_wp_free(wp);
	wp = NULL;

	/* an added token marked "normalized" also matches its upper-case text */
	snprintf(js, sizeof(js),
			 "{\"added_tokens\": [{\"id\": 3, \"content\": \"[UNK]\", \"special\": true},"
			 " {\"id\": 8, \"content\": \"<unk>\", \"special\": true, \"normalized\": true}],"
			 " \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
			 " \"model\": {\"type\": \"WordPiece\", \"vocab\": {\"<s>\": 0, \"<pad>\": 1, \"</s>\": 2,"
			 " \"[UNK]\": 3, \"[CLS]\": 4, \"[SEP]\": 5, \"hello\": 6, \"world\": 7, \"<unk>\": 8}}}");
	{
		static const int32_t folded[] = {4, 6, 8, 8, 7, 5},
					unk_upper[] = {4, 3, 3, 3, 3, 5};

		ok(wp_from_json(&wp, js, err) == 0 && encodes_to(wp, "hello <UNK><Unk> world", folded, 6) &&
		   encodes_to(wp, "[unk] [UNK]", unk_upper, 6),
		   "a normalized added token matches any ASCII case, the others only verbatim (%s)",
		   wp ? "" : err);
		llm_wp_free(wp);
		wp = NULL;
	}

	/* BERT's TemplateProcessing names [CLS] and [SEP] through special_tokens */
	snprintf(js, sizeof(js),
			 "{\"post_processor\": {\"type\": \"TemplateProcessing\","
			 " \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}},"
			 " {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 0}}],"
			 " \"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [4], \"tokens\": [\"[CLS]\"]},"
			 " \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [5], \"tokens\": [\"[SEP]\"]}}},"
			 " \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
			 " \"model\": {\"type\": \"WordPiece\", %s}}", vocab);
	ok(wp_from_json(&wp, js, err) == 0 && encodes_to(wp, "hello world", bert, 4),
	   "TemplateProcessing: [CLS] ... [SEP] (%s)", wp ? "" : err);
	llm_wp_free(wp);
	wp = NULL;

	/* no post-processor: by name, as before */
	snprintf(js, sizeof(js), "{\"model\": {\"type\": \"WordPiece\", %s}}", vocab);
	ok(wp_from_json(&wp, js, err) == 0 && encodes_to(wp, "hello world", bert, 4),
	   "no post-processor: [CLS] and [SEP] by name (%s)", wp ? "" : err);
	llm_wp_free(wp);
	wp = NULL;

	/* a post-processor id outside the vocabulary is an error, not a bad read */
	snprintf(js, sizeof(js),
			 "{\"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 99], \"cls\": [\"<s>\", 0]},"
			 " \"model\": {\"type\": \"WordPiece\", %s}}", vocab);
	ok(wp_from_json(&wp, js, err) < 0 && strstr(err, "start or end"),
	   "an end id outside the vocabulary is refused: %s", err);
	llm_wp_free(wp);
}

/*
 * Token ids of the golden strings against the Hugging Face tokenizer.
 */
static void
test_tokens(const llm_embed_model *m)
{
	char		p[4096];
	int			total,
				same;

	if (!golden_embed_tokens(m, golden_path(p, sizeof(p), "mpnet_tokens.tsv"), &total, &same))
	{
		skip("no %s", p);
		return;
	}
	ok(total == 247 && same == total, "token ids identical for %d of %d strings", same, total);
}

/*
 * Vectors of the golden strings against sentence-transformers with the
 * kernels of isa (NULL: the default), then each of the first texts alone.
 */
static void
test_vectors(const llm_embed_model *m, const char *isa, double min_cos)
{
	char		p[4096];
	golden_reader r;
	bool		opened = golden_open(&r, golden_path(p, sizeof(p), "mpnet_vectors.tsv"));
	char	   *line;
	int			n = 0,
				i,
				j,
				bad = 0;
	char	   *texts[300];
	size_t		lens[300];
	enum
	{
		DIM = 768
	};
	float	   *ref = malloc(300 * (size_t) DIM * sizeof(float)),
			   *out = malloc(300 * (size_t) DIM * sizeof(float)),
				one[DIM];
	double		minc = 2,
				md = 0;
	char		err[LLM_ERRLEN];
	llm_embed_ctx *c = NULL;

	if (!opened || !ref || !out)
	{
		tap_skip_n(VECTOR_CHECKS, "no %s", p);
		golden_close(&r);
		free(ref);
		free(out);
		return;
	}
	while (n < 300 && (line = golden_next(&r)) != NULL)
	{
		char	   *hex = golden_field(&line),
				   *vec = golden_field(&line);

		if (vec == NULL || golden_halves(vec, ref + (size_t) n * DIM, DIM) < DIM ||
			(texts[n] = golden_unhex(hex, strlen(hex), &lens[n])) == NULL)
			continue;
		n++;
	}
	golden_close(&r);
	if (llm_embed_ctx_new(&c, 2, isa, err) < 0 ||
		llm_embed_batch(c, m, (const char *const *) texts, lens, n, out, LLM_TRUNCATE_END, err) < 0)
	{
		ok(0, "embed batch: %s", err);
		skip("embed batch failed");
	}
	else
	{
		for (i = 0; i < n; i++)
		{
			double		cs = golden_cosine(out + (size_t) i * DIM, ref + (size_t) i * DIM, DIM);

			if (cs < minc)
				minc = cs;
			if (cs < min_cos && ++bad <= 5)
				diag("cosine %.6f for \"%.60s\"", cs, texts[i]);
		}
		ok(n == 247 && bad == 0,
		   "%s (%s): cosine >= 1 - %.0e to sentence-transformers for all %d strings (1 - min = %.2e)",
		   isa ? isa : "default kernels", "f32 products", 1.0 - min_cos, n, 1.0 - minc);
		for (i = 0; i < 8 && i < n; i++)
		{
			if (llm_embed_batch(c, m, (const char *const *) &texts[i], &lens[i], 1, one,
								LLM_TRUNCATE_END, err) != 0)
			{
				md = INFINITY;
				break;
			}
			for (j = 0; j < DIM; j++)
				md = fmax(md, fabs(one[j] - out[(size_t) i * DIM + j]));
		}
		ok(md < 1e-5, "a text alone gives its vector of the batch (max diff %g)", md);
	}
	llm_embed_ctx_free(c);
	for (i = 0; i < n; i++)
		free(texts[i]);
	free(ref);
	free(out);
}

/*
 * A copy of the model directory without tokenizer.json must be refused
 * (vocab.txt alone does not say that <s> and </s> wrap a text).
 */
static void
test_no_tokenizer_json(const char *dir)
{
	char		tmp[] = "/tmp/llm-mpnet-XXXXXX";
	char		a[4300],
				b[4300],
				err[LLM_ERRLEN];
	static const char *const files[] = {"config.json", "model.safetensors", "vocab.txt",
	"modules.json", "sentence_bert_config.json"};
	llm_embed_model *m = NULL;
	size_t		i;
	int			rc;

	if (!mkdtemp(tmp))
	{
		ok(0, "mkdtemp");
		return;
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
	{
		snprintf(a, sizeof(a), "%s/%s", dir, files[i]);
		snprintf(b, sizeof(b), "%s/%s", tmp, files[i]);
		if (symlink(a, b) < 0)
			diag("symlink %s failed", b);
	}
	rc = llm_embed_model_load(&m, tmp, err);
	ok(rc < 0 && strstr(err, "tokenizer.json"), "mpnet without tokenizer.json refused: %s", err);
	llm_embed_model_free(m);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
	{
		snprintf(b, sizeof(b), "%s/%s", tmp, files[i]);
		unlink(b);
	}
	rmdir(tmp);
}

/*
 * all-mpnet-base-v2 itself.
 */
static void
test_model(void)
{
	char		dir[4200];
	struct stat st;
	llm_embed_model *m;
	llm_embed_info info;
	char		err[LLM_ERRLEN];

	snprintf(dir, sizeof(dir), "%s/all-mpnet-base-v2", tap_model_dir());
	if (stat(dir, &st) < 0)
	{
		tap_skip_n(MODEL_CHECKS, "no model at %s (scripts/fetch-models.sh; it is optional)", dir);
		return;
	}
	if (llm_embed_model_load(&m, dir, err) < 0)
	{
		ok(0, "load %s: %s", dir, err);
		tap_skip_n(MODEL_CHECKS - 1, "model did not load");
		return;
	}
	llm_embed_model_info(m, &info);
	ok(info.dim == 768 && info.n_layers == 12 && info.n_heads == 12 && info.max_positions == 512 &&
	   info.max_seq_len == 384 && info.pooling == LLM_EMBED_POOL_MEAN && info.normalize &&
	   info.n_vocab == 30527 && info.f32_products, "model info (dim %d, layers %d, positions %d, seq %d, pooling %s)",
	   info.dim, info.n_layers, info.max_positions, info.max_seq_len,
	   llm_embed_pooling_name(info.pooling));
	test_tokens(m);
	/*
	 * AVX2 kernels, then the default ones: MPNet keeps f32 products even
	 * where the default for BERT is bf16 (bert.c)
	 */
	test_vectors(m, "avx2", 1.0 - 1e-4);
	test_vectors(m, NULL, 1.0 - 1e-4);
	llm_embed_model_free(m);
	test_no_tokenizer_json(dir);
}

int
main(void)
{
	tap_plan(MPNET_PLAN);
	test_buckets();
	test_wordpiece_specials();
	test_model();
	return tap_done();
}
