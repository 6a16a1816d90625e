/*
 * test_embed_bound.c - an embedding text costs only the tokens kept
 * (issue 16 point 4).
 *
 * WordPiece level, over the tokenizers of all-MiniLM-L6-v2 (vocab.txt,
 * [CLS]/[SEP]) and all-mpnet-base-v2 (tokenizer.json, <s>/</s>), on 400
 * random texts of words, punctuation, white space of every kind, accents,
 * CJK, special-token texts, over-long words and invalid UTF-8:
 *  - llm_wp_job in parts of 1 to 300 bytes gives llm_wp_encode()'s ids;
 *  - llm_wp_encode_first() gives llm_wp_encode(max_len)'s ids and the
 *    whole count up to its cap;
 *  - llm_wp_encode_last() gives [CLS] + the last ids of the whole;
 *  - 400 texts of long words (letters, accents, combining marks, control
 *    and zero-width characters, invalid bytes, dotted I, CJK, special
 *    tokens, around max_input_chars_per_word code points and far over)
 *    give llm_wp_encode()'s ids in parts of 1 to 300 bytes;
 *  - a 4 MB text of one word (ASCII, and accented letters with combining
 *    marks and control characters that the normaliser drops) goes in
 *    parts of at most 4 kB + a few bytes each, with the ids of the whole
 *    (it was once normalised in one part).
 * Model level (all-MiniLM-L6-v2): a 16 MB text of sentences under each
 * truncation mode is embedded asking the abort check only a few times
 * (tokenizing it whole asks every 4,096 words: about 800 times), to the
 * same vector as its kept start (or end) alone; under LLM_TRUNCATE_ERROR
 * it is refused with a bounded count. Absent models are skipped.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "llm_embed.h"
#include "llm_util.h"
#include "tap.h"
#include "wordpiece.h"

#define N_RANDOM	400
#define TOK_CHECKS	6			/* per tokenizer */
#define MODEL_CHECKS 8
#define BIG_LEN		(16u << 20)
#define WORD_LEN	(4u << 20)
#define WORD_PART	4096

static const char *const k_pieces[] = {
	"the ", "Quick ", "brown", " fox", ", ", "jumps", "  over", "   ", "\t", "\n",
	"\r\n", "\v", "\f", "12", "345", "3.14", "(x+y)", "'s ", "don't ", "Émile ",
	"naïve", "déjà-vu", "日本語", "テキスト ", "Привет ", "🙂", "—", "，", "。",
	"\xc2\xa0", "\xe3\x80\x80", "e\xcc\x81", "\xcc\x81", "İstanbul ", "ΣΑΣ ",
	"[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]", "<s>", "</s>", "<mask>", "<pad>",
	"\xff", "\xe2\x96", "\xc3", "\x80", "a", "b", "ab", "....", "!!", "https://x.org/a?b=1",
	"supercalifragilisticexpialidociousxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", "\x01", "",
};
#define N_PIECES ((int) (sizeof(k_pieces) / sizeof(k_pieces[0])))

static const char k_sentence[] = "The quick brown fox, 12 lazy dogs; naïve café (x+y). ";

/* what long words are made of: nothing here is white space or punctuation */
static const char *const k_word_pieces[] = {
	"a", "b", "xyz", "Q", "7", "\xc3\x89", "e\xcc\x81", "\xcc\x81", "\xcc\x81\xcc\x82",
	"\x01", "\x7f", "\xe2\x80\x8b", "\xef\xbb\xbf", "\xff", "\xc3", "\xe2\x96", "\x80\x80\x80\x80",
	"\xc4\xb0", "\xc3\x9f", "\xce\xa3", "\xd0\x96", "\xef\xac\x81", "\xe2\x85\xa0",
	"\xf0\x9f\x99\x82", "\xe6\x97\xa5", "un", "aff", "##", "[UNK]", "<s>", "[unk]", " ", "-",
};
#define N_WORD_PIECES ((int) (sizeof(k_word_pieces) / sizeof(k_word_pieces[0])))

/* A small deterministic generator (xorshift). */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Append random pieces to buf up to about len bytes; returns the length. */
static size_t
random_text(char *buf, size_t len, uint32_t *seed)
{
	size_t		n = 0;

	while (n < len)
	{
		const char *p = k_pieces[rnd(seed) % N_PIECES];
		size_t		l = strlen(p);

		if (n + l > len)
			break;
		memcpy(buf + n, p, l);
		n += l;
	}
	return n;
}

/*
 * Append to buf up to about len bytes of long words: word pieces, with a
 * space or a dash now and then ("rare" in 1000 pieces each).
 */
static size_t
random_words(char *buf, size_t len, int rare, uint32_t *seed)
{
	size_t		n = 0;

	while (n < len)
	{
		int			k = (int) (rnd(seed) % 1000) < rare ? N_WORD_PIECES - 2 + (int) (rnd(seed) % 2)
			: (int) (rnd(seed) % (N_WORD_PIECES - 2));
		const char *p = k_word_pieces[k];
		size_t		l = strlen(p);

		if (n + l > len)
			break;
		memcpy(buf + n, p, l);
		n += l;
	}
	return n;
}

/* An llm_abort callback that counts its calls and never stops. */
static int
count_fn(void *arg)
{
	(*(int *) arg)++;
	return 0;
}

/*
 * The identities of the bounded encoders against llm_wp_encode() on
 * random texts (label names the tokenizer).
 */
static void
test_tokenizer(const llm_wordpiece *wp, const char *label)
{
	static const int cuts[] = {2, 3, 5, 16, 64};
	char		err[LLM_ERRLEN];
	char		buf[2048];
	uint32_t	seed = 12345;
	int			bad_job = 0,
				bad_first = 0,
				bad_count = 0,
				bad_last = 0;

	for (int t = 0; t < N_RANDOM; t++)
	{
		size_t		len = random_text(buf, 1 + rnd(&seed) % (sizeof(buf) - 1), &seed);
		bool		add = rnd(&seed) & 1;
		int32_t    *full = NULL,
				   *ids = NULL;
		int			n_full = 0,
					n = 0,
					whole = 0,
					rc = 0;
		llm_wp_job *j = NULL;

		if (llm_wp_encode(wp, buf, len, add, 0, &full, &n_full, err) < 0)
		{
			bad_job++;
			continue;
		}
		/* in parts */
		if (llm_wp_job_new(&j, wp, buf, len, add, err) < 0)
			rc = -1;
		while (rc == 0)
			rc = llm_wp_job_run(j, 1 + rnd(&seed) % 300, NULL, err);
		if (rc < 0 || llm_wp_job_take(j, &ids, &n, err) < 0 || n != n_full ||
			(n > 0 && memcmp(ids, full, (size_t) n * sizeof(int32_t)) != 0))
			bad_job++;
		llm_wp_job_free(j);
		free(ids);
		free(full);

		/* the first or last max_len, against the whole with specials */
		if (llm_wp_encode(wp, buf, len, true, 0, &full, &n_full, err) < 0)
		{
			bad_first++;
			continue;
		}
		for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++)
		{
			int			m = cuts[c];
			int			cap = (c & 1) ? m : 3 * m;
			int			ek = n_full > m ? m : n_full;

			ids = NULL;
			if (llm_wp_encode_first(wp, buf, len, m, cap, NULL, &ids, &n, &whole, err) < 0 ||
				n != ek || memcmp(ids, full, (size_t) (ek - 1) * sizeof(int32_t)) != 0 ||
				ids[ek - 1] != full[n_full - 1])
				bad_first++;
			else if (whole != (n_full > cap ? cap + 1 : n_full))
				bad_count++;
			free(ids);
			ids = NULL;
			if (llm_wp_encode_last(wp, buf, len, m, NULL, &ids, &n, err) < 0 || n != ek ||
				ids[0] != full[0] ||
				memcmp(ids + 1, full + n_full - (ek - 1), (size_t) (ek - 1) * sizeof(int32_t)) != 0)
				bad_last++;
			free(ids);
		}
		free(full);
	}
	ok(bad_job == 0, "%s: %d random texts tokenized in parts of 1..300 bytes: %d differ",
	   label, N_RANDOM, bad_job);
	ok(bad_first == 0, "%s: llm_wp_encode_first keeps the first ids: %d differ", label, bad_first);
	ok(bad_count == 0, "%s: and counts the whole up to its cap: %d wrong", label, bad_count);
	ok(bad_last == 0, "%s: llm_wp_encode_last keeps [CLS] and the last ids: %d differ",
	   label, bad_last);
}

/*
 * Texts of long words in parts against the whole, and a 4 MB word whose
 * parts must each be bounded.
 */
static void
test_long_words(const llm_wordpiece *wp, const char *label)
{
	char		err[LLM_ERRLEN];
	char		buf[4096];
	uint32_t	seed = 777;
	int			bad = 0,
				bad_big = 0;
	size_t		worst = 0;
	char	   *big = malloc(WORD_LEN);

	for (int t = 0; t < N_RANDOM; t++)
	{
		size_t		len = random_words(buf, 1 + rnd(&seed) % (sizeof(buf) - 1),
									   (int) (rnd(&seed) % 30), &seed);
		bool		add = rnd(&seed) & 1;
		int32_t    *full = NULL,
				   *ids = NULL;
		int			n_full = 0,
					n = 0,
					rc = 0;
		llm_wp_job *j = NULL;

		if (llm_wp_encode(wp, buf, len, add, 0, &full, &n_full, err) < 0 ||
			llm_wp_job_new(&j, wp, buf, len, add, err) < 0)
			rc = -1;
		while (rc == 0)
			rc = llm_wp_job_run(j, 1 + rnd(&seed) % 300, NULL, err);
		if (rc < 0 || llm_wp_job_take(j, &ids, &n, err) < 0 || n != n_full ||
			(n > 0 && memcmp(ids, full, (size_t) n * sizeof(int32_t)) != 0))
			bad++;
		llm_wp_job_free(j);
		free(ids);
		free(full);
	}
	ok(bad == 0, "%s: %d texts of long words in parts of 1..300 bytes: %d differ",
	   label, N_RANDOM, bad);

	/* one word of 4 MB: plain letters, then letters the normaliser thins */
	for (int f = 0; f < 2 && big; f++)
	{
		static const char *const fills[] = {"a", "\xc3\x89\x01e\xcc\x81\xcc\x81\xe2\x80\x8b\xff"};
		size_t		fl = strlen(fills[f]),
					len;
		int32_t    *full = NULL,
				   *ids = NULL;
		int			n_full = 0,
					n = 0,
					rc = 0,
					parts = 0;
		llm_wp_job *j = NULL;

		for (len = 0; len + fl <= WORD_LEN; len += fl)
			memcpy(big + len, fills[f], fl);
		if (llm_wp_encode(wp, big, len, true, 0, &full, &n_full, err) < 0 ||
			llm_wp_job_new(&j, wp, big, len, true, err) < 0)
			rc = -1;
		while (rc == 0)
		{
			size_t		before = llm_wp_job_pos(j);

			rc = llm_wp_job_run(j, WORD_PART, NULL, err);
			if (llm_wp_job_pos(j) - before > worst)
				worst = llm_wp_job_pos(j) - before;
			parts++;
		}
		diag("%s: 4 MB word %d: %d parts, at most %zu bytes each, %d ids", label, f, parts,
			 worst, n_full);
		if (rc < 0 || llm_wp_job_take(j, &ids, &n, err) < 0 || n != n_full || n != 3 ||
			memcmp(ids, full, (size_t) n * sizeof(int32_t)) != 0 ||
			(size_t) parts < len / (WORD_PART + 16))
			bad_big++;
		llm_wp_job_free(j);
		free(ids);
		free(full);
	}
	ok(big && bad_big == 0 && worst <= WORD_PART + 16,
	   "%s: a 4 MB word is [UNK] in parts of at most %zu bytes (bound %d + 16) %s",
	   label, worst, WORD_PART, bad_big ? err : "");
	free(big);
}

/* Build the tokenizer of a model directory; NULL when absent. */
static llm_wordpiece *
load_wp(const char *dir, bool json)
{
	char		path[8192];
	char		err[LLM_ERRLEN];
	llm_wordpiece *wp = NULL;

	if (json)
	{
		llm_json   *root;

		snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
		root = llm_json_parse_file(path, err);
		if (root && llm_wp_new_tokenizer_json(&wp, root, err) < 0)
			wp = NULL;
		llm_json_free(root);
		return wp;
	}
	else
	{
		llm_wp_options o;

		snprintf(path, sizeof(path), "%s/vocab.txt", dir);
		llm_wp_default_options(&o);
		if (llm_wp_new_vocab_txt(&wp, path, &o, err) < 0)
			return NULL;
		return wp;
	}
}

/* The largest element difference of two vectors (here they must be equal). */
static double
max_diff(const float *a, const float *b, int n)
{
	double		d = 0;

	for (int i = 0; i < n; i++)
		if (fabsf(a[i] - b[i]) > d)
			d = fabsf(a[i] - b[i]);
	return d;
}

/*
 * A 16 MB text through llm_embed_batch() under each truncation mode.
 */
static void
test_model(const char *dir)
{
	char		err[LLM_ERRLEN];
	llm_embed_model *m = NULL;
	llm_embed_ctx *c = NULL;
	llm_embed_info info;
	char	   *big = malloc(BIG_LEN);
	float	   *v1 = NULL,
			   *v2 = NULL;
	size_t		len;
	int			calls = 0;
	const char *texts[1];
	size_t		lens[1];
	size_t		cut;
	double		t0;
	int			rc;

	if (!big || llm_embed_model_load(&m, dir, err) < 0 ||
		llm_embed_ctx_new(&c, 2, NULL, err) < 0)
	{
		tap_skip_n(MODEL_CHECKS, "%s did not load: %s", dir, err);
		free(big);
		llm_embed_model_free(m);
		return;
	}
	llm_embed_model_info(m, &info);
	v1 = malloc(sizeof(float) * info.dim);
	v2 = malloc(sizeof(float) * info.dim);
	/* plain sentences: tokenized whole, the check is asked every 4,096 words */
	for (len = 0; len + sizeof(k_sentence) - 1 <= BIG_LEN; len += sizeof(k_sentence) - 1)
		memcpy(big + len, k_sentence, sizeof(k_sentence) - 1);
	texts[0] = big;
	lens[0] = len;
	llm_embed_ctx_set_abort(c, count_fn, &calls);

	/* keep the start */
	t0 = llm_time_sec();
	rc = llm_embed_batch(c, m, texts, lens, 1, v1, LLM_TRUNCATE_END, err);
	diag("16 MB text, truncation end: %.3f s, %d abort checks", llm_time_sec() - t0, calls);
	ok(rc == 0 && calls <= 8, "end: embedded asking the abort check %d times (whole: about 800)", calls);
	/* its first 64 kB, cut at a space, have the same kept ids */
	for (cut = 65536; big[cut] != ' '; cut++)
		;
	lens[0] = cut;
	ok(llm_embed_batch(c, m, texts, lens, 1, v2, LLM_TRUNCATE_END, err) == 0 &&
	   max_diff(v1, v2, info.dim) == 0.0, "end: the vector of its first 64 kB alone");

	/* keep the end */
	calls = 0;
	lens[0] = len;
	t0 = llm_time_sec();
	rc = llm_embed_batch(c, m, texts, lens, 1, v1, LLM_TRUNCATE_START, err);
	diag("16 MB text, truncation start: %.3f s, %d abort checks", llm_time_sec() - t0, calls);
	ok(rc == 0 && calls <= 8, "start: embedded asking the abort check %d times", calls);
	for (cut = len - 65536; big[cut] != ' '; cut++)
		;
	texts[0] = big + cut;
	lens[0] = len - cut;
	ok(llm_embed_batch(c, m, texts, lens, 1, v2, LLM_TRUNCATE_START, err) == 0 &&
	   max_diff(v1, v2, info.dim) == 0.0, "start: the vector of its last 64 kB alone");

	/* refuse it, counting only up to a bound */
	calls = 0;
	texts[0] = big;
	lens[0] = len;
	rc = llm_embed_batch(c, m, texts, lens, 1, v1, LLM_TRUNCATE_ERROR, err);
	ok(rc < 0 && strstr(err, "has more than") != NULL, "error: refused: %s", err);
	ok(calls <= 8, "error: asking the abort check %d times", calls);
	/* a text a little over the limit still has its exact count */
	lens[0] = 3000;
	while (big[lens[0]] != ' ')
		lens[0]++;
	rc = llm_embed_batch(c, m, texts, lens, 1, v1, LLM_TRUNCATE_ERROR, err);
	ok(rc < 0 && strstr(err, "more than") == NULL && strstr(err, " tokens, the model takes ") != NULL,
	   "error: a short over-long text has its exact count: %s", err);
	/* a stop asked for while a long text is tokenized is seen */
	{
		int			stop_calls = 0;

		llm_embed_ctx_set_abort(c, count_fn, &stop_calls);
		lens[0] = len;
		rc = llm_embed_batch(c, m, texts, lens, 1, v1, LLM_TRUNCATE_START, err);
		ok(rc == 0 && stop_calls >= 1, "the check is asked at least once (%d)", stop_calls);
	}
	free(v1);
	free(v2);
	free(big);
	llm_embed_ctx_free(c);
	llm_embed_model_free(m);
}

int
main(void)
{
	static const struct
	{
		const char *name;
		bool		json;
	}			models[] = {{"all-MiniLM-L6-v2", false}, {"all-mpnet-base-v2", true}};
	char		dir[4096 + 64];

	tap_plan(2 * TOK_CHECKS + MODEL_CHECKS);
	for (int i = 0; i < 2; i++)
	{
		llm_wordpiece *wp;

		snprintf(dir, sizeof(dir), "%s/%s", tap_model_dir(), models[i].name);
		wp = load_wp(dir, models[i].json);
		if (!wp)
		{
			tap_skip_n(TOK_CHECKS, "no tokenizer in %s", dir);
			continue;
		}
		test_tokenizer(wp, models[i].name);
		test_long_words(wp, models[i].name);
		llm_wp_free(wp);
	}
	snprintf(dir, sizeof(dir), "%s/all-MiniLM-L6-v2", tap_model_dir());
	test_model(dir);
	return tap_done();
}
