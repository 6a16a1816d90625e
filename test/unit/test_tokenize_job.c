/*
 * test_tokenize_job.c - tokenizing in bounded parts (llm_tok_job) gives
 * exactly the ids of tokenizing in one go.
 *
 * Over the real tokenizers (SmolLM2: byte-level BPE, pre-tokenizer
 * smollm; Gemma 3: SentencePiece with 6,000 special tokens) and the
 * fixtures' (the SPM vocabulary, the tiny gpt2 and qwen2 models, the
 * qwen3 embedding model), for each:
 *  - a 1 MB text of words, digits, punctuation, runs of spaces, tabs and
 *    newlines, accented and CJK letters, special-token texts and invalid
 *    UTF-8, with and without parse_special, and with special tokens
 *    allowed only inside marks: the job's ids equal llm_tokenize()'s
 *    (llm_tokenize_marked()'s), and the job took many parts;
 *  - 400 short random texts of the same pieces, each in parts of a random
 *    budget from 1 byte up: no id differs;
 *  - a stop asked for between parts ends the job with LLM_ABORT_MSG;
 *  - 300 texts made to have (nearly) no place where the old split could
 *    end a window (a random walk through the special tokens' texts:
 *    every two neighbouring bytes are next to each other in some special
 *    token, "|im_start|im_start", runs of white space, near misses and
 *    whole tokens), in all three modes and parts of 1 to 200 bytes, give
 *    the ids of one go;
 *  - 1 MB with no such place at all (a piece of a special token from one
 *    byte to before the same byte again, repeated: "upyter_o", or the
 *    newlines of Gemma's run tokens, where occurrences straddle every
 *    place), with parse_special, in parts of 64 kB: the ids of one go,
 *    the split on special tokens goes over calls, none of which does
 *    more than twice its budget of work (llm_tok_job_work()); it was
 *    once done in the first call, in one piece.
 * Files that are absent are skipped.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "llm_util.h"
#include "tap.h"
#include "tokenizer.h"
#include "tokenizer_int.h"

#define N_CHECKS	10			/* per tokenizer */
#define N_RANDOM	400
#define BIG_LEN		(1u << 20)
#define WALK_LEN	(1u << 20)
#define WALK_BUDGET (64u * 1024)

/* the pieces texts are made of */
static const char *const k_pieces[] = {
	"the ", "quick ", "brown", " fox", ", ", "jumps", "  over", "   ", "\t", "\n",
	"\n\n", " \n", "12", "345", "6789 ", "3.14", "(x+y)", "'s ", "'ll", "don't ",
	"Émile ", "naïve", "déjà-vu", "日本語", "テキスト ", "Привет ", "🙂", "—",
	"<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "<eos>",
	"<s>", "</s>", "<unk>", "<|endoftext|>", "\xff", "\xe2\x96", "\xc3", "▁",
	"user\n", "a", "b", "ab", "  ", "....", "!!", "https://x.org/a?b=1", "  \t\n ",
};
#define N_PIECES ((int) (sizeof(k_pieces) / sizeof(k_pieces[0])))

/* an llm_abort callback that stops at its stop_at-th call */
typedef struct stop_count
{
	int			calls;
	int			stop_at;
} stop_count;

/* Count a call; ask to stop from the stop_at-th on. */
static int
stop_fn(void *arg)
{
	stop_count *c = arg;

	return ++c->calls >= c->stop_at;
}

/* A small deterministic generator (xorshift). */
static uint32_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t) (*s >> 16);
}

/*
 * Fill buf (cap bytes at most) with random pieces; the offsets of the
 * special-looking ones (starting with '<') go to marks. Returns the length.
 */
static size_t
make_text(char *buf, size_t cap, uint64_t *seed, llm_text_span *marks, size_t *n_marks,
		  size_t max_marks)
{
	size_t		len = 0;

	*n_marks = 0;
	for (;;)
	{
		const char *p = k_pieces[rnd(seed) % N_PIECES];
		size_t		k = strlen(p);

		if (len + k > cap)
			break;
		if (p[0] == '<' && *n_marks < max_marks && rnd(seed) % 2 == 0)
			marks[(*n_marks)++] = (llm_text_span) {len, k};
		memcpy(buf + len, p, k);
		len += k;
	}
	return len;
}

/*
 * Fill buf (about cap bytes) with a random walk through the texts of the
 * special tokens that take part (user-defined ones only unless
 * all_specials): from the last byte written, go on in the same token or
 * jump to a place of another token with that byte and go on there, so
 * that every two neighbouring bytes are next to each other in some
 * special token (a restart where no token goes on is the only exception).
 * Returns the length.
 */
static size_t
walk_text(const llm_tokenizer *t, bool all_specials, char *buf, size_t cap, uint64_t *seed)
{
	int32_t    *ids = malloc(sizeof(int32_t) * (t->n_specials + 1));
	uint32_t	n = 0;
	size_t		len = 0;
	int32_t		cur = -1;
	uint32_t	p = 0;

	for (uint32_t k = 0; ids && k < t->n_specials; k++)
	{
		int32_t		id = t->specials[k];

		if (t->len[id] >= 2 &&
			(all_specials || !(t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))))
			ids[n++] = id;
	}
	while (n > 0 && len < cap)
	{
		const char *s;

		if (cur >= 0 && (rnd(seed) % 2 == 0 || p + 1 >= t->len[cur]))
		{
			/* jump to another token where the last byte also is */
			unsigned char c = (unsigned char) buf[len - 1];
			bool		found = false;

			for (int tries = 0; tries < 256 && !found; tries++)
			{
				int32_t		id = ids[rnd(seed) % n];
				const char *q = t->arena + t->off[id];
				uint32_t	l = t->len[id],
							start = rnd(seed) % l;

				for (uint32_t i = 0; i + 1 < l; i++)
				{
					uint32_t	at = (start + i) % (l - 1);

					if ((unsigned char) q[at] == c)
					{
						cur = id;
						p = at;
						found = true;
						break;
					}
				}
			}
		}
		if (cur < 0 || p + 1 >= t->len[cur])
		{
			/* a restart: the first byte of a random token */
			cur = ids[rnd(seed) % n];
			p = 0;
			buf[len++] = t->arena[t->off[cur]];
			continue;
		}
		s = t->arena + t->off[cur];
		buf[len++] = s[++p];
	}
	free(ids);
	return len;
}

/*
 * Tokenize with a job in parts of budget bytes; -1 on failure. *parts
 * gets the number of llm_tok_job_run() calls.
 */
static int
job_tokenize(const llm_tokenizer *t, const char *text, size_t len, bool bos, bool special,
			 const llm_text_span *marks, size_t n_marks, size_t budget,
			 int32_t **ids, size_t *n, int *parts, char *err)
{
	llm_tok_job *j;
	int			rc;

	*parts = 0;
	if (llm_tok_job_new(&j, t, text, len, bos, special, marks, n_marks, err) < 0)
		return -1;
	do
	{
		rc = llm_tok_job_run(j, budget, NULL, err);
		(*parts)++;
	} while (rc == 0);
	if (rc > 0)
		rc = llm_tok_job_take(j, ids, n, err);
	llm_tok_job_free(j);
	return rc < 0 ? -1 : 0;
}

/* Whether two id arrays are equal. */
static bool
same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(int32_t)) == 0);
}

/*
 * The big text in one go and in parts of 4 KB, in one of three modes:
 * 0 parse_special, 1 plain, 2 special only inside marks.
 */
static void
check_big(const llm_tokenizer *t, const char *label, const char *text, size_t len,
		  const llm_text_span *marks, size_t n_marks, int mode)
{
	static const char *const names[] = {"parse_special", "plain", "marked"};
	int32_t    *a = NULL, *b = NULL;
	size_t		na = 0, nb = 0;
	int			parts = 0;
	char		err[LLM_ERRLEN] = "";
	double		t0, t_one, t_job;
	int			rc;

	t0 = llm_time_sec();
	if (mode == 2)
		rc = llm_tokenize_marked(t, text, len, true, marks, n_marks, &a, &na, err);
	else
		rc = llm_tokenize(t, text, len, true, mode == 0, &a, &na, err);
	t_one = llm_time_sec() - t0;
	t0 = llm_time_sec();
	if (rc == 0)
		rc = job_tokenize(t, text, len, true, mode == 0, mode == 2 ? marks : NULL,
						  mode == 2 ? n_marks : 0, 4096, &b, &nb, &parts, err);
	t_job = llm_time_sec() - t0;
	ok(rc == 0 && na > 0 && same_ids(a, na, b, nb) && parts > 50,
	   "%s, %s: %zu KB in %d parts of 4 KB give the %zu ids of one go (%zu), "
	   "%.3f s in one go, %.3f s in parts %s", label, names[mode], len >> 10, parts, nb,
	   na, t_one, t_job, err);
	free(a);
	free(b);
}

/* The checks on one tokenizer. */
static void
check_tokenizer(const llm_tokenizer *t, const char *label)
{
	char	   *text = malloc(BIG_LEN);
	llm_text_span *marks = malloc(sizeof(llm_text_span) * 65536);
	size_t		n_marks, len;
	uint64_t	seed = 0x9E3779B97F4A7C15ULL;
	int			bad = 0, multi = 0;
	char		err[LLM_ERRLEN] = "";
	char		first_bad[160] = "";

	if (!text || !marks)
	{
		printf("Bail out! out of memory\n");
		exit(1);
	}
	len = make_text(text, BIG_LEN, &seed, marks, &n_marks, 65536);
	check_big(t, label, text, len, marks, n_marks, 0);
	check_big(t, label, text, len, marks, n_marks, 1);
	check_big(t, label, text, len, marks, n_marks, 2);

	for (int k = 0; k < N_RANDOM; k++)
	{
		size_t		cap = 1 + rnd(&seed) % 600;
		size_t		budget = 1 + rnd(&seed) % (k % 4 == 0 ? 4 : 200);
		int			mode = (int) (rnd(&seed) % 3);
		bool		bos = rnd(&seed) % 2;
		int32_t    *a = NULL, *b = NULL;
		size_t		na = 0, nb = 0;
		int			parts = 0, rc;

		len = make_text(text, cap, &seed, marks, &n_marks, 64);
		if (mode == 2)
			rc = llm_tokenize_marked(t, text, len, bos, marks, n_marks, &a, &na, err);
		else
			rc = llm_tokenize(t, text, len, bos, mode == 0, &a, &na, err);
		if (rc == 0)
			rc = job_tokenize(t, text, len, bos, mode == 0, mode == 2 ? marks : NULL,
							  mode == 2 ? n_marks : 0, budget, &b, &nb, &parts, err);
		if (rc != 0 || !same_ids(a, na, b, nb))
		{
			if (bad++ == 0)
				snprintf(first_bad, sizeof(first_bad), "text %d (%zu bytes, budget %zu, mode %d): %zu vs %zu ids %s",
						 k, len, budget, mode, na, nb, err);
		}
		if (parts > 2)
			multi++;
		free(a);
		free(b);
	}
	ok(bad == 0 && multi > N_RANDOM / 2,
	   "%s: %d short random texts in parts of 1 to 200 bytes (%d in more than 2 parts) "
	   "give the ids of one go: %d differ %s", label, N_RANDOM, multi, bad, first_bad);

	/*
	 * texts without a place to cut (a megabyte of one letter, of spaces,
	 * of "ab"): one pre-tokenizer piece or SPM fragment, whose merges
	 * were once done in a single part that took nearly all the job's
	 * time (0.5 to 1.2 s); they now go on over parts
	 */
	{
		static const char *const fills[] = {"a", " ", "ab"};
		int			bad_one = 0;
		double		worst = 0;

		for (int f = 0; f < 3; f++)
		{
			size_t		fl = strlen(fills[f]);
			int32_t    *a = NULL;
			size_t		na = 0;
			llm_tok_job *j = NULL;
			double		total = 0,
						slowest = 0;
			int			rc;

			for (len = 0; len + fl <= BIG_LEN; len += fl)
				memcpy(text + len, fills[f], fl);
			if (llm_tokenize(t, text, len, false, false, &a, &na, err) < 0 ||
				llm_tok_job_new(&j, t, text, len, false, false, NULL, 0, err) < 0)
			{
				bad_one++;
				free(a);
				continue;
			}
			do
			{
				double		t0 = llm_time_sec();
				double		dt;

				rc = llm_tok_job_run(j, 64 * 1024, NULL, err);
				dt = llm_time_sec() - t0;
				total += dt;
				if (dt > slowest)
					slowest = dt;
			} while (rc == 0);
			if (rc == 1)
			{
				int32_t    *b = NULL;
				size_t		nb = 0;

				if (llm_tok_job_take(j, &b, &nb, err) < 0 || !same_ids(a, na, b, nb))
					bad_one++;
				free(b);
			}
			else
				bad_one++;
			/*
			 * a part counts only when it is itself long: 1 MB of spaces
			 * is one SentencePiece part of 0.1 - 0.3 s under the
			 * sanitizers on a busy machine, while the single part these
			 * jobs once were took 0.5 - 1.2 s (2 - 3 s under them)
			 */
			if (slowest > 0.4 && slowest / total > worst)
				worst = slowest / total;
			diag("%s: 1 MB of \"%s\": %.3f s, slowest part %.3f s", label, fills[f], total, slowest);
			llm_tok_job_free(j);
			free(a);
		}
		ok(bad_one == 0 && worst < 0.5,
		   "%s: texts without a cut give the ids of one go, no part taking over half the "
		   "job's time (at most %.0f%%)", label, 100 * worst);
	}

	/*
	 * texts with (nearly) no place to end a window by the byte pairs of
	 * the special tokens, short ones in all modes, then 4 MB of one
	 */
	{
		int			bad_walk = 0;
		size_t		places = 0,
					total = 0;
		char		first_walk[160] = "";

		for (int k = 0; k < 300; k++)
		{
			size_t		cap = 1 + rnd(&seed) % 600;
			size_t		budget = 1 + rnd(&seed) % (k % 4 == 0 ? 4 : 200);
			int			mode = (int) (rnd(&seed) % 3);
			bool		bos = rnd(&seed) % 2;
			int32_t    *a = NULL, *b = NULL;
			size_t		na = 0, nb = 0;
			int			parts = 0, rc;

			len = walk_text(t, mode != 1, text, cap, &seed);
			n_marks = 0;
			if (mode == 2)
				for (size_t at = rnd(&seed) % 8; at < len && n_marks < 64; at += 1 + rnd(&seed) % 40)
				{
					size_t		ml = 1 + rnd(&seed) % 40;

					if (ml > len - at)
						ml = len - at;
					marks[n_marks++] = (llm_text_span) {at, ml};
					at += ml;
				}
			for (size_t i = 1; i < len; i++)
				places += !tok_pair_in(mode == 1 ? t->pair_user : t->pair_special,
									   (unsigned char) text[i - 1], (unsigned char) text[i]);
			total += len;
			if (mode == 2)
				rc = llm_tokenize_marked(t, text, len, bos, marks, n_marks, &a, &na, err);
			else
				rc = llm_tokenize(t, text, len, bos, mode == 0, &a, &na, err);
			if (rc == 0)
				rc = job_tokenize(t, text, len, bos, mode == 0, mode == 2 ? marks : NULL,
								  mode == 2 ? n_marks : 0, budget, &b, &nb, &parts, err);
			if (rc != 0 || !same_ids(a, na, b, nb))
			{
				if (bad_walk++ == 0)
					snprintf(first_walk, sizeof(first_walk), "text %d (%zu bytes, budget %zu, mode %d): %zu vs %zu ids %.40s",
							 k, len, budget, mode, na, nb, err);
			}
			free(a);
			free(b);
		}
		diag("%s: walks: %zu places of the byte pairs in %zu bytes", label, places, total);
		ok(bad_walk == 0, "%s: 300 texts with almost no byte-pair place (%zu in %zu bytes) give "
		   "the ids of one go in parts: %d differ %s", label, places, total, bad_walk, first_walk);
	}
	for (int c = 0; c < 2; c++)
	{
		char	   *big = malloc(WALK_LEN);
		int32_t    *a = NULL, *b = NULL;
		size_t		na = 0, nb = 0, worst = 0, places = 0, ul = 0;
		const char *unit = NULL;
		llm_tok_job *j = NULL;
		int			rc = -1, parts = 0, split_parts = 0;

		/*
		 * the first (c 0) or last special token with a byte twice: the
		 * bytes from one to before the other, repeated, have every pair
		 * in that token
		 */
		for (uint32_t k = 0; k < t->n_specials && !unit; k++)
		{
			int32_t		id = t->specials[c == 0 ? k : t->n_specials - 1 - k];
			const char *q = t->arena + t->off[id];

			for (uint32_t x = 0; x < t->len[id] && !unit; x++)
				for (uint32_t y = x + 1; y < t->len[id]; y++)
					if (q[x] == q[y])
					{
						unit = q + x;
						ul = y - x;
						break;
					}
		}
		for (len = 0; big && unit && len + ul <= WALK_LEN; len += ul)
			memcpy(big + len, unit, ul);
		for (size_t i = 1; i < len; i++)
			places += !tok_pair_in(t->pair_special, (unsigned char) big[i - 1], (unsigned char) big[i]);
		if (len > 0 && llm_tokenize(t, big, len, false, true, &a, &na, err) == 0 &&
			llm_tok_job_new(&j, t, big, len, false, true, NULL, 0, err) == 0)
		{
			do
			{
				size_t		w0 = llm_tok_job_work(j);
				size_t		b0 = llm_tok_job_bytes(j, NULL);

				rc = llm_tok_job_run(j, WALK_BUDGET, NULL, err);
				/* a call that only split (the split is not over after it) */
				if (b0 < len && llm_tok_job_bytes(j, NULL) < len)
				{
					split_parts++;
					if (llm_tok_job_work(j) - w0 > worst)
						worst = llm_tok_job_work(j) - w0;
				}
				parts++;
			} while (rc == 0);
			if (rc == 1)
				rc = llm_tok_job_take(j, &b, &nb, err);
		}
		/*
		 * its one window was once split in the first call; now the split
		 * takes a call at least before it is over, each within budget
		 */
		ok(rc == 0 && len > 0 && places == 0 && same_ids(a, na, b, nb) &&
		   split_parts >= 1 && worst <= 2 * WALK_BUDGET,
		   "%s: 1 MB of \"%.*s\" (%zu byte-pair places) gives the %zu ids of one go in %d "
		   "parts, the split going over %d calls of at most %zu units of work (budget %u) %s",
		   label, unit && ul < 16 && unit[0] != '\n' ? (int) ul : 0, unit ? unit : "", places,
		   na, parts, split_parts, worst, WALK_BUDGET, err);
		llm_tok_job_free(j);
		free(a);
		free(b);
		free(big);
	}

	/* a stop asked for between two parts */
	{
		llm_tok_job *j = NULL;
		stop_count	c = {0, 3};
		llm_abort	ab = {stop_fn, &c};
		int			rc = -2, runs = 0;

		len = make_text(text, 256 * 1024, &seed, marks, &n_marks, 0);
		if (llm_tok_job_new(&j, t, text, len, false, true, NULL, 0, err) == 0)
		{
			do
			{
				rc = llm_tok_job_run(j, 4096, &ab, err);
				runs++;
			} while (rc == 0 && runs < 1000);
		}
		ok(rc < 0 && strcmp(err, LLM_ABORT_MSG) == 0 && runs <= 3 &&
		   llm_tok_job_run(j, 4096, NULL, err) < 0,
		   "%s: a stop at the callback's 3rd call ends the job after %d parts (%s), "
		   "and it does no more", label, runs, err);
		llm_tok_job_free(j);
	}

	/* an empty text: no id, or BOS alone */
	{
		int32_t    *b = NULL;
		size_t		nb = 99;
		int			parts = 0;
		int			rc = job_tokenize(t, "", 0, true, true, NULL, 0, 16, &b, &nb, &parts, err);
		int32_t		bos = llm_tokenizer_bos(t);

		ok(rc == 0 && b != NULL && ((bos >= 0 && nb == 1 && b[0] == bos) || (bos < 0 && nb == 0)),
		   "%s: an empty text gives %zu ids (BOS %d) %s", label, nb, (int) bos, err);
		free(b);
	}
	free(text);
	free(marks);
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
	check_tokenizer(t, label);
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
