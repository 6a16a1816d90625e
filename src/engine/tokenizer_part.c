/*
 * tokenizer_part.c - the split of a text on special tokens, in one call
 * (tok_partition) or stopped and resumed in bounded steps
 * (tok_part_begin / tok_part_more); both run the same loops, so they give
 * the same fragments.
 *
 * The split is llama.cpp's: each special token, longest first, is looked
 * for in every raw fragment left so far, its leftmost occurrences that do
 * not overlap are cut out, and the next token goes over what is left.
 * First the byte pairs of the text are recorded, so that a token with a
 * pair of neighbouring bytes the text lacks is known to be absent
 * without a search (most of a vocabulary's thousands of special tokens,
 * on most texts). Done in steps, a run keeps the token it is at, whether it is still
 * asking if the token occurs in the text at all (the search that lets an
 * absent token skip the fragment pass), how far that search has got, the
 * fragment it is cutting and where in it the search for the next
 * occurrence goes on. A search never scans more than the step has left
 * (plus the token's length less one, so that an occurrence across the
 * end of one piece is found in it): an occurrence found from a place
 * with none before it in the fragment is the leftmost one, as the one
 * search of the whole fragment finds.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"
#include "tokenizer_int.h"

/* bytes times special tokens below which the byte-pair filter is skipped */
#define PART_SEEN_MIN 8192

/*
 * Start splitting text[0..len) (see tokenizer_int.h).
 */
int
tok_part_begin(tok_part_run *r, const llm_tokenizer *t, const char *text, size_t len,
			   bool parse_special, char *err)
{
	memset(r, 0, offsetof(tok_part_run, seen));
	r->text = text;
	r->len = len;
	r->parse_special = parse_special;
	/*
	 * recording the pairs (8 kB to clear) costs more than searching a
	 * short text for a few tokens
	 */
	r->use_seen = (uint64_t) len * t->n_specials >= PART_SEEN_MIN;
	r->pscan = r->use_seen ? 1 : len;
	if (r->use_seen)
		memset(r->seen, 0, sizeof(r->seen));
	if (len > 0 && tok_frag_push(&r->cur, -1, 0, len) < 0)
		return llm_err(err, "out of memory");
	return 0;
}

/*
 * Free what a run holds (its fragments too, unless taken).
 */
void
tok_part_end(tok_part_run *r)
{
	free(r->cur.v);
	free(r->nxt.v);
	memset(r, 0, offsetof(tok_part_run, seen));
}

/*
 * Whether every pair of neighbouring bytes of s[0..sl) is among the
 * text's: else s cannot occur in it.
 */
static bool
part_pairs_seen(const tok_part_run *r, const char *s, size_t sl)
{
	for (size_t i = 0; i + 1 < sl; i++)
		if (!tok_pair_in((const uint8_t (*)[32]) r->seen, (unsigned char) s[i],
						 (unsigned char) s[i + 1]))
			return false;
	return true;
}

/*
 * The first occurrence of s[0..sl) that starts in text[from, from + step)
 * and lies inside text[from, lim); *scanned gets the bytes looked at
 * (up to the end of the occurrence found).
 */
static const char *
part_search(const char *text, size_t from, size_t lim, const char *s, size_t sl,
			size_t step, size_t *scanned)
{
	size_t		n = lim - from;

	const char *p;

	if (step < n && sl - 1 < n - step)
		n = step + sl - 1;
	p = memmem(text + from, n, s, sl);
	/* the search stops at an occurrence */
	*scanned = p ? (size_t) (p - (text + from)) + sl : n;
	return p;
}

/*
 * Go on splitting for about budget - *used units of work (bytes searched,
 * and one for each token and fragment visited), adding them to *used;
 * 1 when the split is complete (the fragments are in r->cur), 0 when work
 * is left, -1 with err.
 */
int
tok_part_more(const llm_tokenizer *t, tok_part_run *r, size_t budget, size_t *used,
			  char *err)
{
	/* the byte pairs of the text */
	while (r->pscan < r->len)
	{
		size_t		stop = r->len;

		if (*used >= budget)
			return 0;
		if (budget - *used < stop - r->pscan)
			stop = r->pscan + (budget - *used);
		*used += stop - r->pscan;
		for (; r->pscan < stop; r->pscan++)
		{
			unsigned char a = (unsigned char) r->text[r->pscan - 1],
						b = (unsigned char) r->text[r->pscan];

			r->seen[a][b >> 3] |= (uint8_t) (1u << (b & 7));
		}
	}
	while (r->k < t->n_specials)
	{
		int32_t		id = t->specials[r->k];
		const char *s = t->arena + t->off[id];
		size_t		sl = t->len[id];

		if (*used >= budget)
			return 0;
		*used += 1;
		if (r->stage == 0)
		{
			size_t		scanned;

			/* does the token take part, and occur at all? */
			if ((!r->parse_special && (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) ||
				sl == 0 || sl > r->len || (r->use_seen && !part_pairs_seen(r, s, sl)))
			{
				r->k++;
				continue;
			}
			if (!part_search(r->text, r->pre, r->len, s, sl, budget - *used + 1, &scanned))
			{
				*used += scanned;
				if (scanned == r->len - r->pre)
				{
					r->k++;		/* absent */
					r->pre = 0;
				}
				else
					r->pre += scanned - (sl - 1);	/* the next piece overlaps this one */
				continue;
			}
			*used += scanned;
			r->stage = 1;
			r->pre = 0;
			r->i = 0;
			r->in_frag = false;
			r->nxt.n = 0;
		}
		/* cut the token's occurrences out of each fragment */
		while (r->i < r->cur.n)
		{
			if (!r->in_frag)
			{
				r->fg = r->cur.v[r->i];
				r->from = r->fg.off;
				r->in_frag = true;
			}
			while (r->fg.tok < 0 && r->fg.off + r->fg.len - r->from >= sl)
			{
				size_t		scanned;
				size_t		end = r->fg.off + r->fg.len;
				const char *p;

				if (*used >= budget)
					return 0;
				p = part_search(r->text, r->from, end, s, sl, budget - *used, &scanned);
				*used += scanned;
				if (!p)
				{
					if (end - r->from == scanned)
					{
						r->from = end;
						break;
					}
					r->from += scanned - (sl - 1);
					continue;
				}
				{
					size_t		at = (size_t) (p - r->text);

					if (at > r->fg.off && tok_frag_push(&r->nxt, -1, r->fg.off, at - r->fg.off) < 0)
						return llm_err(err, "out of memory");
					if (tok_frag_push(&r->nxt, id, at, sl) < 0)
						return llm_err(err, "out of memory");
					r->fg.len -= at + sl - r->fg.off;
					r->fg.off = at + sl;
					r->from = r->fg.off;
				}
			}
			if ((r->fg.tok >= 0 || r->fg.len > 0) &&
				tok_frag_push(&r->nxt, r->fg.tok, r->fg.off, r->fg.len) < 0)
				return llm_err(err, "out of memory");
			r->in_frag = false;
			r->i++;
			*used += 1;
			if (*used >= budget && r->i < r->cur.n)
				return 0;
		}
		{
			tok_frags	tmp = r->cur;

			r->cur = r->nxt;
			r->nxt = tmp;
		}
		r->stage = 0;
		r->k++;
	}
	return 1;
}

/*
 * Split text on special tokens the way llama.cpp does (control and
 * unknown tokens only with parse_special; user-defined tokens always):
 * a run without a bound. The fragments are appended to *cur.
 */
int
tok_partition(const llm_tokenizer *t, const char *text, size_t len,
			  bool parse_special, tok_frags *cur, char *err)
{
	tok_part_run r;
	size_t		used = 0;
	int			rc;

	if (tok_part_begin(&r, t, text, len, parse_special, err) < 0)
		return -1;
	rc = tok_part_more(t, &r, SIZE_MAX, &used, err);
	if (rc == 1)
		for (size_t i = 0; i < r.cur.n; i++)
			if (tok_frag_push(cur, r.cur.v[i].tok, r.cur.v[i].off, r.cur.v[i].len) < 0)
			{
				rc = llm_err(err, "out of memory");
				break;
			}
	tok_part_end(&r);
	return rc == 1 ? 0 : -1;
}
