/*
 * tokenizer_tail.c - the last ids of a long text without tokenizing all
 * of it (llm_tokenize_tail, for a caller that keeps only the end, as
 * truncation "left" of a decoder embedding model does).
 *
 * Only a suffix text[cut..len) is tokenized, and cut is a place where the
 * suffix's ids are provably the tail of the whole text's ids
 * (llm_tokenize(), special-token text not parsed). Three things must not
 * change at cut:
 *
 *  - the split on special tokens (user-defined ones take part): no
 *    special token has text[cut - 1] followed by text[cut] in its text
 *    (pair_user), so no occurrence straddles cut and each token's
 *    leftmost search finds the same occurrences after cut in the whole as
 *    in the suffix (the argument of tokenizer_job.c's windows);
 *  - byte-level BPE: both bytes at cut are ASCII, so decoding restarts at
 *    cut (an ASCII byte is never a continuation); text[cut - 1] is a
 *    letter and text[cut] is not (nor an apostrophe). Each pre-tokenizer
 *    handled below has a first regex whose matches tile any text (every
 *    code point starts a match) and in which no match holds a letter and
 *    then a non-letter other than an apostrophe (letters come last in
 *    their alternatives; only gpt-4o's regex lets a contraction follow
 *    them), or a first regex of runs of one class of characters (digits,
 *    punctuation) with such a tiling regex next: then cut is a piece
 *    boundary in the whole, found however the text before it is split
 *    (a match holding text[cut - 1] must end at cut), and the regexes have
 *    no look-behind, so the pieces after cut, and with them their merges,
 *    are the suffix's own. Other pre-tokenizers are not cut;
 *  - SentencePiece: cut is where tokenizer_job.c may end an SPM part (the
 *    three bytes before it ASCII and not spaces, text[cut] ASCII, and no
 *    token text has text[cut - 1] followed by text[cut]'s first escaped
 *    byte), those three bytes are no special token's last byte and no
 *    special token has any of their pairs, so they lie in the raw
 *    fragment that goes on at cut; the suffix's first fragment then gets
 *    no space prefix, as it gets none in the whole.
 *
 * The first suffix holds at least 8 bytes per id wanted plus 4 kB: it
 * starts at the last such place at least that far from the end. It is
 * doubled until it gives enough ids; with no such place the caller
 * tokenizes the whole text.
 */
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"
#include "tokenizer_int.h"

/* the first suffix: this many bytes per id wanted, plus TAIL_SLACK */
#define TAIL_BYTES_PER_ID	8
#define TAIL_SLACK			4096

/* pre-tokenizers (tokenizer_bpe.c's first names) whose pieces may be cut */
static const char *const k_cut_pre[] = {
	"default", "gpt2", "smollm", "llama3", "dbrx", "qwen2", "falcon", "tekken", "gpt-4o",
};

/* Whether c is an ASCII letter. */
static bool
ascii_letter(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/*
 * Whether t's pre-tokenizer is one whose pieces a letter-to-non-letter
 * place always ends (see the head comment).
 */
static bool
bpe_cuttable(const llm_tokenizer *t)
{
	if (t->pre_name == NULL)
		return false;
	for (size_t k = 0; k < sizeof(k_cut_pre) / sizeof(k_cut_pre[0]); k++)
		if (strcmp(t->pre_name, k_cut_pre[k]) == 0)
			return true;
	return false;
}

/*
 * Mark in last[] (256 bits) the last byte of every special token that
 * takes part in the split without parse_special.
 */
static void
special_last_bytes(const llm_tokenizer *t, uint8_t last[32])
{
	memset(last, 0, 32);
	for (uint32_t k = 0; k < t->n_specials; k++)
	{
		int32_t		id = t->specials[k];
		unsigned char b;

		if ((t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)) || t->len[id] == 0)
			continue;
		b = (unsigned char) t->arena[t->off[id] + t->len[id] - 1];
		last[b >> 3] |= (uint8_t) (1u << (b & 7));
	}
}

/*
 * Whether a suffix may start at byte q (0 < q < len) of u (see the head
 * comment); last is special_last_bytes()'s table (SPM only).
 */
static bool
cut_ok(const llm_tokenizer *t, const unsigned char *u, size_t q, const uint8_t last[32])
{
	if (u[q] >= 0x80 || u[q - 1] >= 0x80 ||
		tok_pair_in(t->pair_user, u[q - 1], u[q]))
		return false;
	if (t->kind == TOK_KIND_BPE)
		return ascii_letter(u[q - 1]) && !ascii_letter(u[q]) && u[q] != '\'';
	if (q < 3)
		return false;
	for (int k = 1; k <= 3; k++)
	{
		unsigned char b = u[q - k];

		if (b >= 0x80 || b == ' ' || ((last[b >> 3] >> (b & 7)) & 1))
			return false;
		if (k < 3 && tok_pair_in(t->pair_user, u[q - k - 1], b))
			return false;
	}
	/* "▁", a space's escape, begins with 0xE2 */
	return !tok_pair_in(t->pair_any, u[q - 1], u[q] == ' ' ? 0xE2 : u[q]);
}

/*
 * The last place q <= before (q > 0) where a suffix may start, else 0
 * (see tokenizer_int.h).
 */
size_t
tok_tail_cut(const llm_tokenizer *t, const char *text, size_t before)
{
	const unsigned char *u = (const unsigned char *) text;
	uint8_t		last[32] = {0};
	size_t		q;

	if (t->kind == TOK_KIND_BPE && !bpe_cuttable(t))
		return 0;
	if (t->kind == TOK_KIND_SPM)
		special_last_bytes(t, last);
	for (q = before; q > 0 && !cut_ok(t, u, q, last); q--)
		;
	return q;
}

/*
 * Tokenize text[0..len) as the part of a longer text that follows a cut
 * place (see tokenizer_int.h): the split on special tokens, then each raw
 * fragment, the first without the SPM space prefix (it goes on from
 * before the cut).
 */
int
tok_tail_encode(const llm_tokenizer *t, const char *text, size_t len,
				const llm_abort *ab, tok_vec *vec, char *err)
{
	tok_frags	fr = {0};
	tok_check	ck = {.ab = ab};
	bool		prev_special = false;
	int			rc = 0;

	if (tok_partition(t, text, len, false, &fr, err) < 0)
		return -1;
	for (size_t i = 0; i < fr.n && rc == 0; i++)
	{
		const tok_frag *fg = &fr.v[i];

		if (tok_tick(&ck))
			rc = llm_err(err, LLM_ABORT_MSG);
		else if (fg->tok >= 0)
		{
			if (tok_vec_push(vec, fg->tok) < 0)
				rc = llm_err(err, "out of memory while tokenizing");
			prev_special = true;
			continue;
		}
		else if (t->kind == TOK_KIND_SPM)
			rc = tok_spm_encode(t, text + fg->off, fg->len,
								t->add_space_prefix && prev_special, &ck, vec, err);
		else
			rc = tok_bpe_encode(t, text + fg->off, fg->len, &ck, vec, err);
		prev_special = false;
	}
	free(fr.v);
	return rc < 0 ? -1 : 0;
}

/*
 * The tail of the ids of a long text (see tokenizer.h).
 */
int
llm_tokenize_tail(const llm_tokenizer *t, const char *text, size_t len, size_t want,
				  const llm_abort *ab, int32_t **out, size_t *n, size_t *cut, char *err)
{
	size_t		span;

	*out = NULL;
	*n = 0;
	*cut = 0;
	if (want > (SIZE_MAX - TAIL_SLACK) / TAIL_BYTES_PER_ID)
		return 0;
	span = want * TAIL_BYTES_PER_ID + TAIL_SLACK;
	while (span < len)
	{
		tok_vec		vec = {0};
		size_t		q;

		/* the last place at least span bytes from the end */
		q = tok_tail_cut(t, text, len - span);
		if (q == 0)
			return 0;
		if (llm_should_abort(ab))
			return llm_err(err, LLM_ABORT_MSG);
		if (tok_tail_encode(t, text + q, len - q, ab, &vec, err) < 0)
		{
			free(vec.v);
			return -1;
		}
		if (vec.n >= want)
		{
			if (!vec.v && (vec.v = malloc(sizeof(int32_t))) == NULL)
				return llm_err(err, "out of memory while tokenizing");
			*out = vec.v;
			*n = vec.n;
			*cut = q;
			return 1;
		}
		free(vec.v);
		if (len - q > SIZE_MAX / 2)
			return 0;
		span = 2 * (len - q);
	}
	return 0;
}
