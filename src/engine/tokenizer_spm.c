/*
 * tokenizer_spm.c - SentencePiece-style BPE ("llama" tokenizer model).
 *
 * As in llama.cpp: spaces become U+2581 ("▁"), a space is put in front of
 * a fragment that starts the text or follows a special token when
 * add_space_prefix is set, the fragment is cut into UTF-8 characters
 * (lengths judged from lead bytes), and neighbouring symbols are merged
 * while their concatenation is a token, highest token score first (ties:
 * leftmost first). A symbol left that is not a token is written as byte
 * tokens <0xXX> (or a one-byte token with that byte), else as the unknown
 * token.
 */
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"
#include "tokenizer_int.h"

/* a symbol: a slice of the escaped text, linked to its neighbours */
typedef struct spm_sym
{
	int32_t		prev;
	int32_t		next;
	uint32_t	start;
	uint32_t	n;
} spm_sym;

/* a candidate merge and the total size it had when queued */
typedef struct spm_pair
{
	float		score;
	int32_t		left;
	int32_t		right;
	uint32_t	size;
} spm_pair;

typedef struct spm_work
{
	const char *text;
	spm_sym    *sym;
	tok_heap	heap;			/* of spm_pair, by spm_before */
} spm_work;


/*
 * Heap order: higher score first, then the leftmost pair.
 */
static bool
spm_before(const void *a, const void *b)
{
	const spm_pair *pa = a;
	const spm_pair *pb = b;

	return pa->score > pb->score || (pa->score == pb->score && pa->left < pb->left);
}

/*
 * Queue the merge of symbols l and r if their concatenation is a token.
 */
static int
spm_add(const llm_tokenizer *t, spm_work *w, int32_t l, int32_t r)
{
	spm_pair	p;
	int32_t		id;

	if (l < 0 || r < 0)
		return 0;
	p.size = w->sym[l].n + w->sym[r].n;
	id = tok_lookup(t, w->text + w->sym[l].start, p.size);
	if (id < 0)
		return 0;
	p.score = t->score[id];
	p.left = l;
	p.right = r;
	return tok_heap_push(&w->heap, &p);
}

/*
 * Token for a raw byte: <0xXX>, else the one-byte text, else unknown.
 */
static int32_t
spm_byte_token(const llm_tokenizer *t, unsigned char b)
{
	static const char hex[] = "0123456789ABCDEF";
	char		buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
	int32_t		id = tok_lookup(t, buf, 6);

	if (id < 0)
		id = tok_lookup(t, (const char *) &b, 1);
	return id >= 0 ? id : t->unk;
}

/*
 * One SentencePiece encoding in progress (tok_spm_begin): the escaped
 * text, its symbols and the heap of candidate merges, and how far the
 * heap has been filled.
 */
struct tok_spm_run
{
	char	   *buf;
	spm_work	w;
	int32_t		ns;
	int32_t		next_pair;		/* symbol whose pair with the one before
								 * goes on the heap next */
};

/*
 * Prepare the encoding of text[0..len) (see tokenizer_int.h).
 */
int
tok_spm_begin(const llm_tokenizer *t, const char *text, size_t len, bool space_prefix,
			  tok_spm_run **out, char *err)
{
	tok_spm_run *r;
	size_t		cap,
				blen = 0;
	int32_t		ns = 0;

	*out = NULL;
	/* escape: every space (and the prefix) becomes U+2581 */
	if (!llm_add_size(len, 1, &cap) || !llm_mul_size(cap, 3, &cap) || cap > UINT32_MAX)
		return llm_err(err, "text too long to tokenize (%zu bytes)", len);
	r = calloc(1, sizeof(*r));
	if (!r)
		return llm_err(err, "out of memory while tokenizing");
	r->w = (spm_work) {.heap = TOK_HEAP_INIT(spm_pair, spm_before)};
	r->buf = malloc(cap);
	if (!r->buf)
		goto oom;
	if (space_prefix)
	{
		memcpy(r->buf, "\xe2\x96\x81", 3);
		blen = 3;
	}
	for (size_t i = 0; i < len; i++)
	{
		if (text[i] == ' ')
		{
			memcpy(r->buf + blen, "\xe2\x96\x81", 3);
			blen += 3;
		}
		else
			r->buf[blen++] = text[i];
	}
	r->w.text = r->buf;
	/* one symbol per byte at most (a lead byte may swallow part of a "▁") */
	r->w.sym = malloc((blen ? blen : 1) * sizeof(spm_sym));
	if (!r->w.sym)
		goto oom;

	for (size_t off = 0; off < blen; ns++)
	{
		size_t		cl = tok_utf8_len((unsigned char) r->buf[off]);

		if (cl > blen - off)
			cl = blen - off;
		r->w.sym[ns].start = (uint32_t) off;
		r->w.sym[ns].n = (uint32_t) cl;
		r->w.sym[ns].prev = ns - 1;
		off += cl;
		r->w.sym[ns].next = off == blen ? -1 : ns + 1;
	}
	r->ns = ns;
	r->next_pair = 1;
	*out = r;
	return 0;

oom:
	tok_spm_end(r);
	return llm_err(err, "out of memory while tokenizing");
}

/*
 * Release an encoding in progress (NULL is fine).
 */
void
tok_spm_end(tok_spm_run *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r->w.sym);
	tok_heap_free(&r->w.heap);
	free(r);
}

/*
 * Go on with an encoding for about budget - *used heap operations (each
 * adds one to *used); see tokenizer_int.h.
 */
int
tok_spm_more(const llm_tokenizer *t, tok_spm_run *r, size_t budget, size_t *used,
			 tok_check *ck, tok_vec *out, char *err)
{
	spm_work   *w = &r->w;

	for (; r->next_pair < r->ns; r->next_pair++)
	{
		if (*used >= budget)
			return 0;
		(*used)++;
		if (spm_add(t, w, r->next_pair - 1, r->next_pair) < 0)
			return llm_err(err, "out of memory while tokenizing");
	}
	while (w->heap.n > 0)
	{
		spm_pair	p;
		spm_sym    *l, *rs;

		if (*used >= budget)
			return 0;
		(*used)++;
		if (tok_tick(ck))
			return llm_err(err, LLM_ABORT_MSG);
		tok_heap_pop(&w->heap, &p);
		l = &w->sym[p.left];
		rs = &w->sym[p.right];
		if (l->n == 0 || rs->n == 0 || l->n + rs->n != p.size)
			continue;			/* stale */
		l->n += rs->n;
		rs->n = 0;
		l->next = rs->next;
		if (rs->next >= 0)
			w->sym[rs->next].prev = p.left;
		if (spm_add(t, w, l->prev, p.left) < 0 || spm_add(t, w, p.left, l->next) < 0)
			return llm_err(err, "out of memory while tokenizing");
	}

	for (int32_t i = 0; i >= 0 && r->ns > 0; i = w->sym[i].next)
	{
		const char *s = r->buf + w->sym[i].start;
		int32_t		id = tok_lookup(t, s, w->sym[i].n);

		if (id >= 0)
		{
			if (tok_vec_push(out, id) < 0)
				return llm_err(err, "out of memory while tokenizing");
			continue;
		}
		for (uint32_t k = 0; k < w->sym[i].n; k++)
		{
			id = spm_byte_token(t, (unsigned char) s[k]);
			if (id < 0)
				return llm_err(err, "byte 0x%02X has no token and the vocabulary has no unknown token",
							   (unsigned char) s[k]);
			if (tok_vec_push(out, id) < 0)
				return llm_err(err, "out of memory while tokenizing");
		}
	}
	r->ns = 0;					/* its ids are out */
	return 1;
}

/*
 * Tokenize one raw-text fragment, appending ids to out. Each merge counts
 * one tick of ck; a stop returns -1 with LLM_ABORT_MSG.
 */
int
tok_spm_encode(const llm_tokenizer *t, const char *text, size_t len,
			   bool space_prefix, tok_check *ck, tok_vec *out, char *err)
{
	tok_spm_run *r;
	size_t		used = 0;
	int			rc;

	if (tok_spm_begin(t, text, len, space_prefix, &r, err) < 0)
		return -1;
	rc = tok_spm_more(t, r, SIZE_MAX, &used, ck, out, err);
	tok_spm_end(r);
	return rc < 0 ? -1 : 0;
}
