/*
 * test_tokenize_tail.c - llm_tokenize_tail() gives exactly the tail of
 * llm_tokenize()'s ids (no parse_special) while tokenizing only a suffix.
 *
 * Over the real tokenizers (SmolLM2: byte-level BPE, pre-tokenizer
 * smollm; Gemma 3: SentencePiece with user-defined special tokens) and
 * the fixtures' (the SPM vocabulary, the tiny gpt2 and qwen2 models, the
 * qwen3 embedding model), for each:
 *  - 100 random texts of 200 to 1,200 bytes of the pieces below: at
 *    every place where a suffix may start (tok_tail_cut), the suffix's
 *    ids (tok_tail_encode) are the tail of the whole's;
 *  - 300 random texts of 4 to 40 kB made of words, digits, punctuation,
 *    apostrophes, runs of spaces, tabs and newlines, accented and CJK
 *    letters, invalid UTF-8, special-token texts (control ones, which do
 *    not take part here, and the tokenizer's own user-defined ones, whole
 *    and cut in two), each asked for a random number of ids: every id of
 *    the suffix equals the whole's at the same place from the end, and
 *    for the tokenizers that can be cut, most texts took a suffix;
 *  - a 4 MB text: its tail comes from a suffix, asking the abort check a
 *    few times, against hundreds for the whole;
 *  - a 240 kB repetition of " information" (one SmolLM2 token for 12
 *    bytes, so the first suffix is short of ids and is doubled): the tail;
 *  - a megabyte of one letter: BPE has no place to cut (0); SPM may cut
 *    where no token holds the letter twice, with the same tail.
 * Files that are absent are skipped.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "llm_util.h"
#include "tap.h"
#include "tokenizer_int.h"

#define N_CHECKS	7			/* per tokenizer */
#define N_SHORT		100
#define N_RANDOM	300
#define MAX_LEN		(40 * 1024)
#define BIG_LEN		(4u << 20)
#define MAX_USER	8

/* the pieces texts are made of (the user-defined tokens are added) */
static const char *const k_pieces[] = {
	"the ", "quick ", "brown", " fox", ", ", "jumps", "  over", "   ", "\t", "\n",
	"\n\n", " \n", "12", "345", "6789 ", "3.14", "(x+y)", "'s ", "'ll", "don't ",
	"it's", "O'Neil", "Émile ", "naïve", "déjà-vu", "日本語", "テキスト ", "Привет ",
	"🙂", "—", "<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>",
	"<eos>", "<s>", "</s>", "<unk>", "<|endoftext|>", "\xff", "\xe2\x96", "\xc3",
	"▁", "user\n", "a", "b", "ab", "  ", "....", "!!", "https://x.org/a?b=1",
	"  \t\n ", "Word.", "x;", "A-", "z\r\n",
};
#define N_PIECES ((int) (sizeof(k_pieces) / sizeof(k_pieces[0])))

/* A small deterministic generator (xorshift). */
static uint32_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t) (*s >> 16);
}

/* An llm_abort callback that counts its calls and never stops. */
static int
count_fn(void *arg)
{
	(*(int *) arg)++;
	return 0;
}

/*
 * Up to MAX_USER texts of user-defined special tokens of t (those that
 * take part in the split without parse_special) into user[]; the count.
 */
static int
user_tokens(const llm_tokenizer *t, const char **user, size_t *ulen)
{
	int			n = 0;

	for (uint32_t k = 0; k < t->n_specials && n < MAX_USER; k++)
	{
		int32_t		id = t->specials[k];

		if ((t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)) || t->len[id] < 2)
			continue;
		user[n] = t->arena + t->off[id];
		ulen[n++] = t->len[id];
	}
	return n;
}

/*
 * Fill buf with about len bytes of random pieces and user-token texts
 * (whole, or only their first half); the length.
 */
static size_t
make_text(char *buf, size_t len, uint64_t *seed, const char **user, const size_t *ulen,
		  int n_user)
{
	size_t		n = 0;

	for (;;)
	{
		uint32_t	r = rnd(seed);
		const char *p;
		size_t		k;

		if (n_user > 0 && r % 16 == 0)
		{
			int			u = (int) (rnd(seed) % (uint32_t) n_user);

			p = user[u];
			k = rnd(seed) % 2 ? ulen[u] : ulen[u] / 2;
		}
		else
		{
			p = k_pieces[r % N_PIECES];
			k = strlen(p);
		}
		if (n + k > len)
			return n;
		memcpy(buf + n, p, k);
		n += k;
	}
}

/*
 * Whether the n ids v are the last n of the whole's w[0..nw).
 */
static bool
is_tail(const int32_t *w, size_t nw, const int32_t *v, size_t n)
{
	return n <= nw && memcmp(w + nw - n, v, n * sizeof(int32_t)) == 0;
}

/* Run the checks on one tokenizer; cuttable: it is expected to cut. */
static void
check_tokenizer(const llm_tokenizer *t, const char *label, bool cuttable)
{
	char	   *text = malloc(BIG_LEN);
	const char *user[MAX_USER];
	size_t		ulen[MAX_USER];
	int			n_user = user_tokens(t, user, ulen);
	uint64_t	seed = 0x9E3779B97F4A7C15ULL;
	int			bad = 0,
				cut_used = 0,
				errors = 0;
	char		err[LLM_ERRLEN] = "";

	if (!text)
	{
		tap_skip_n(N_CHECKS, "%s: out of memory", label);
		return;
	}
	diag("%s: %d user-defined special tokens in the texts", label, n_user);
	for (int i = 0; i < N_RANDOM; i++)
	{
		size_t		len = make_text(text, 4096 + rnd(&seed) % (MAX_LEN - 4096), &seed,
									user, ulen, n_user);
		size_t		want = 1 + rnd(&seed) % 1200;
		int32_t    *w = NULL,
				   *v = NULL;
		size_t		nw = 0,
					nv = 0,
					cut = 0;
		int			rc;

		if (llm_tokenize(t, text, len, false, false, &w, &nw, err) < 0)
		{
			errors++;
			continue;
		}
		rc = llm_tokenize_tail(t, text, len, want, NULL, &v, &nv, &cut, err);
		if (rc < 0)
			errors++;
		else if (rc > 0)
		{
			cut_used++;
			if (nv < want || cut == 0 || !is_tail(w, nw, v, nv))
			{
				if (bad++ < 3)
					diag("%s: text %d (%zu bytes) cut at %zu: %zu ids, not the tail of %zu",
						 label, i, len, cut, nv, nw);
			}
		}
		free(w);
		free(v);
	}
	/* short texts, every place a suffix may start */
	{
		int			places = 0,
					bad_places = 0;

		for (int i = 0; i < N_SHORT; i++)
		{
			size_t		len = make_text(text, 200 + rnd(&seed) % 1000, &seed, user, ulen,
										n_user);
			int32_t    *w = NULL;
			size_t		nw = 0;

			if (len < 2 || llm_tokenize(t, text, len, false, false, &w, &nw, err) < 0)
			{
				errors += len >= 2;
				continue;
			}
			for (size_t q = tok_tail_cut(t, text, len - 1); q > 0;
				 q = tok_tail_cut(t, text, q - 1))
			{
				tok_vec		vec = {0};

				places++;
				if (tok_tail_encode(t, text + q, len - q, NULL, &vec, err) < 0)
					errors++;
				else if (!is_tail(w, nw, vec.v, vec.n) && bad_places++ < 3)
					diag("%s: short text %d (%zu bytes): cut at %zu is not the tail: "
						 "\"%.*s|%.*s\"", label, i, len, q, (int) (q < 20 ? q : 20),
						 text + q - (q < 20 ? q : 20), (int) (len - q < 20 ? len - q : 20),
						 text + q);
				free(vec.v);
			}
			free(w);
		}
		ok(bad_places == 0 && (!cuttable || places > N_SHORT),
		   "%s: every one of %d places in %d short texts gives the tail (%d wrong)",
		   label, places, N_SHORT, bad_places);
	}
	ok(errors == 0, "%s: no errors %s", label, err);
	ok(bad == 0, "%s: the suffix's ids are the tail of the whole's (%d of %d wrong)",
	   label, bad, cut_used);
	if (cuttable)
		ok(cut_used > N_RANDOM / 2, "%s: %d of %d texts tokenized from a suffix", label,
		   cut_used, N_RANDOM);
	else
		ok(cut_used == 0, "%s: not cut (%d)", label, cut_used);

	/* a 4 MB text: the tail from a suffix, the abort check asked a few times */
	{
		size_t		len = make_text(text, BIG_LEN, &seed, user, ulen, n_user);
		int			calls_tail = 0,
					calls_whole = 0;
		llm_abort	ab_tail = {count_fn, &calls_tail},
					ab_whole = {count_fn, &calls_whole};
		int32_t    *w = NULL,
				   *v = NULL;
		size_t		nw = 0,
					nv = 0,
					cut = 0;
		double		t0 = llm_time_sec(),
					t1;
		int			rc = llm_tokenize_tail(t, text, len, 512, &ab_tail, &v, &nv, &cut, err);

		t1 = llm_time_sec();
		if (llm_tokenize_ex(t, text, len, false, false, &ab_whole, &w, &nw, err) < 0)
			nw = 0;
		diag("%s: 4 MB text, 512 ids: tail %.4f s, %d abort checks; whole %.3f s, %d checks",
			 label, t1 - t0, calls_tail, llm_time_sec() - t1, calls_whole);
		if (cuttable)
			ok(rc == 1 && nv >= 512 && is_tail(w, nw, v, nv) && calls_tail <= 8 &&
			   calls_whole > 20 * calls_tail,
			   "%s: 4 MB text: tail from %zu bytes, %d abort checks (whole: %d)", label,
			   len - cut, calls_tail, calls_whole);
		else
			ok(rc == 0, "%s: 4 MB text: no cut", label);
		free(w);
		free(v);
	}

	/*
	 * few ids per byte (a long word that SmolLM2 has as one token): the
	 * first suffix is short of ids and is doubled
	 */
	{
		size_t		len = 0,
					want = 5000,
					first = want * 8 + 4096;
		int32_t    *w = NULL,
				   *v = NULL;
		size_t		nw = 0,
					nv = 0,
					cut = 0;
		int			rc;

		while (len + 12 <= 240 * 1024)
		{
			memcpy(text + len, " information", 12);
			len += 12;
		}
		rc = llm_tokenize_tail(t, text, len, want, NULL, &v, &nv, &cut, err);
		if (llm_tokenize(t, text, len, false, false, &w, &nw, err) < 0)
			nw = 0;
		diag("%s: %zu ids of a long word: suffix of %zu bytes (the first: %zu)", label, nv,
			 rc == 1 ? len - cut : 0, first);
		/* Gemma 3 has user-defined tokens holding "io" and "on": no place */
		ok((rc == 1 && nv >= want && is_tail(w, nw, v, nv)) ||
		   (rc == 0 && t->kind == TOK_KIND_SPM),
		   "%s: a text of few ids per byte: %s (%zu ids)", label,
		   rc == 1 ? "the tail of the whole" : "no place to cut", nv);
		free(w);
		free(v);
	}

	/*
	 * one letter repeated: byte-level BPE has no place to cut (one piece);
	 * SPM may cut where no token has the letter twice (the small fixture
	 * vocabulary), and the tail is then the whole's
	 */
	{
		int32_t    *v = NULL,
				   *w = NULL;
		size_t		nv = 0,
					nw = 0,
					cut = 0;
		int			rc;

		memset(text, 'a', 1u << 20);
		rc = llm_tokenize_tail(t, text, 1u << 20, 100, NULL, &v, &nv, &cut, err);
		if (rc > 0 && llm_tokenize(t, text, 1u << 20, false, false, &w, &nw, err) < 0)
			nw = 0;
		if (t->kind == TOK_KIND_BPE)
			ok(rc == 0 && v == NULL, "%s: a megabyte of one letter has no place to cut", label);
		else
			ok(rc == 0 || (rc == 1 && is_tail(w, nw, v, nv)),
			   "%s: a megabyte of one letter: %s", label,
			   rc == 0 ? "no place to cut" : "cut, the tail of the whole");
		free(v);
		free(w);
	}
	free(text);
}

/* Load the tokenizer of a GGUF file and run the checks, or skip them. */
static void
with_tokenizer(const char *path, const char *label)
{
	gguf_file  *f = NULL;
	llm_tokenizer *t = NULL;
	char		err[LLM_ERRLEN] = "";

	if (gguf_open(&f, path, err) < 0 || llm_tokenizer_load(&t, f, err) < 0)
	{
		tap_skip_n(N_CHECKS, "%s (%s) not available: %s", label, path, err);
		if (f)
			gguf_close(f);
		return;
	}
	check_tokenizer(t, label, t->kind == TOK_KIND_SPM || t->pre_name != NULL);
	llm_tokenizer_free(t);
	gguf_close(f);
}

int
main(void)
{
	char		path[4200];
	const char *fx = getenv("LLM_FIXTURE_DIR");
	const char *build = getenv("BUILD");
	char		fxbuf[4096];
	static const char *const fixtures[] = {"spm-vocab.gguf", "tiny-f32.gguf",
	"tiny-qwen2-f32.gguf", "qwen3-embed.gguf"};

	if (!fx || !*fx)
	{
		snprintf(fxbuf, sizeof(fxbuf), "%.4000s/fixtures", build && *build ? build : "build");
		fx = fxbuf;
	}
	tap_plan(6 * N_CHECKS);
	snprintf(path, sizeof(path), "%.4000s/SmolLM2-135M-Instruct.Q4_1.gguf", tap_model_dir());
	with_tokenizer(path, "SmolLM2 (BPE smollm)");
	snprintf(path, sizeof(path), "%.4000s/gemma-3-270m-Q4_K_M.gguf", tap_model_dir());
	with_tokenizer(path, "Gemma 3 (SPM)");
	for (int k = 0; k < 4; k++)
	{
		snprintf(path, sizeof(path), "%.4000s/%s", fx, fixtures[k]);
		with_tokenizer(path, fixtures[k]);
	}
	return tap_done();
}
