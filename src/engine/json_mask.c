/*
 * json_mask.c - which tokens may come next under a JSON-schema matcher.
 *
 * The vocabulary is held as a byte trie laid out in preorder: node i has
 * its byte, its depth and skip[i], the index just past its subtree. A
 * mask is one pass over that array with a stack of matcher states, one
 * per depth: a node whose byte the state of its parent refuses is
 * skipped with its whole subtree, so the work is proportional to the
 * prefixes still valid, not to the vocabulary's bytes. Most of the
 * vocabulary stays valid only inside a string body; there the "plain"
 * tokens (whose bytes stay inside a string body wherever they start in
 * it) are taken in bulk by their length in characters, and only the
 * others are walked in a second, smaller trie.
 */
#include "json_schema_int.h"

#include <stdlib.h>
#include <string.h>

#include "llm_util.h"

#define TRIE_MAX_PIECE 128		/* longer tokens are never allowed */

typedef struct js_trie
{
	uint32_t	n_nodes;
	uint8_t    *byte;
	uint16_t   *depth;			/* 1 for the root's children */
	uint32_t   *skip;			/* first node after the subtree */
	uint32_t   *tok_first;		/* tokens whose bytes end here: toks[first..+n) */
	uint32_t   *tok_n;
	int32_t    *toks;
} js_trie;

struct llm_vocab_trie
{
	int32_t		n_vocab;
	char	   *bytes;			/* every token's bytes, concatenated */
	uint32_t   *off;
	uint32_t   *len;			/* 0: never allowed */
	js_trie		all;
	js_trie		rest;			/* the tokens that are not plain */
	int32_t    *plain;			/* plain tokens, fewest characters first */
	uint32_t   *plain_chars;
	int32_t		n_plain;
	uint8_t    *plain_mask;		/* [n_vocab]: 1 for every plain token */
	int32_t    *eog;			/* end-of-generation tokens */
	int32_t		n_eog;
};

struct llm_json_masker
{
	llm_jm_state st[TRIE_MAX_PIECE + 1];
};

typedef struct js_sort_item
{
	const char *b;
	uint32_t	len;
	int32_t		id;
} js_sort_item;

/*
 * Byte order of two pieces, shorter first among equal prefixes, then id.
 */
static int
js_piece_cmp(const void *pa, const void *pb)
{
	const js_sort_item *a = pa, *b = pb;
	uint32_t	n = a->len < b->len ? a->len : b->len;
	int			r = memcmp(a->b, b->b, n);

	if (r != 0)
		return r;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/*
 * Free a trie's arrays.
 */
static void
js_trie_free(js_trie *t)
{
	free(t->byte);
	free(t->depth);
	free(t->skip);
	free(t->tok_first);
	free(t->tok_n);
	free(t->toks);
	memset(t, 0, sizeof(*t));
}

/*
 * Build the preorder trie of the n tokens in ids (pieces from v); -1
 * when out of memory.
 */
static int
js_trie_build(js_trie *t, const llm_vocab_trie *v, const int32_t *ids, int32_t n)
{
	js_sort_item *it = malloc(((size_t) n + 1) * sizeof(js_sort_item));
	uint32_t	path[TRIE_MAX_PIECE + 1];	/* node at each depth of the path */
	uint32_t	plen = 0;
	size_t		cap = 0;
	int32_t		i;
	const js_sort_item *prev = NULL;

	memset(t, 0, sizeof(*t));
	if (it == NULL)
		return -1;
	for (i = 0; i < n; i++)
	{
		it[i].b = v->bytes + v->off[ids[i]];
		it[i].len = v->len[ids[i]];
		it[i].id = ids[i];
		cap += it[i].len;
	}
	qsort(it, (size_t) n, sizeof(js_sort_item), js_piece_cmp);
	cap += 1;
	t->byte = malloc(cap);
	t->depth = malloc(cap * sizeof(uint16_t));
	t->skip = malloc(cap * sizeof(uint32_t));
	t->tok_first = malloc(cap * sizeof(uint32_t));
	t->tok_n = calloc(cap, sizeof(uint32_t));
	t->toks = malloc(((size_t) n + 1) * sizeof(int32_t));
	if (!t->byte || !t->depth || !t->skip || !t->tok_first || !t->tok_n || !t->toks)
	{
		free(it);
		js_trie_free(t);
		return -1;
	}
	for (i = 0; i < n; i++)
	{
		const js_sort_item *x = &it[i];
		uint32_t	lcp = 0;

		if (prev != NULL)
			while (lcp < prev->len && lcp < x->len && prev->b[lcp] == x->b[lcp])
				lcp++;
		/* close the nodes of the previous path below the common prefix */
		while (plen > lcp)
			t->skip[path[--plen]] = t->n_nodes;
		while (plen < x->len)
		{
			uint32_t	k = t->n_nodes++;

			t->byte[k] = (uint8_t) x->b[plen];
			t->depth[k] = (uint16_t) (plen + 1);
			t->tok_first[k] = (uint32_t) i;
			t->tok_n[k] = 0;
			path[plen++] = k;
		}
		/* x ends at the last node of the path; equal pieces are adjacent */
		if (t->tok_n[path[plen - 1]] == 0)
			t->tok_first[path[plen - 1]] = (uint32_t) i;
		t->tok_n[path[plen - 1]]++;
		t->toks[i] = x->id;
		prev = x;
	}
	while (plen > 0)
		t->skip[path[--plen]] = t->n_nodes;
	free(it);
	return 0;
}

/*
 * Build the vocabulary tries of tokenizer tok. See json_schema.h.
 */
int
llm_vocab_trie_new(llm_vocab_trie **out, const llm_tokenizer *tok, char *err)
{
	static const char str_schema[] = "{\"type\":\"string\"}";
	llm_vocab_trie *v;
	llm_json_schema *ss = NULL;
	llm_jm_state body, st;
	int32_t		n = llm_tokenizer_n_vocab(tok);
	int32_t    *ids = NULL, *rest = NULL;
	int32_t		n_ids = 0, n_rest = 0, i;
	size_t		total = 0, cap = 4096;
	char		piece[TRIE_MAX_PIECE];

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return llm_err(err, "out of memory");
	v->n_vocab = n;
	v->off = calloc((size_t) n + 1, sizeof(uint32_t));
	v->len = calloc((size_t) n + 1, sizeof(uint32_t));
	v->bytes = malloc(cap);
	ids = malloc(((size_t) n + 1) * sizeof(int32_t));
	rest = malloc(((size_t) n + 1) * sizeof(int32_t));
	v->plain = malloc(((size_t) n + 1) * sizeof(int32_t));
	v->plain_chars = malloc(((size_t) n + 1) * sizeof(uint32_t));
	v->eog = malloc(((size_t) n + 1) * sizeof(int32_t));
	if (!v->off || !v->len || !v->bytes || !ids || !rest || !v->plain || !v->plain_chars ||
		!v->eog)
		goto oom;
	for (i = 0; i < n; i++)
	{
		int			k;

		if (llm_tokenizer_is_eog(tok, i))
		{
			v->eog[v->n_eog++] = i;
			continue;
		}
		k = llm_token_to_piece(tok, i, false, piece, sizeof(piece));
		if (k <= 0 || k > TRIE_MAX_PIECE)
			continue;
		if (total + (size_t) k > cap)
		{
			char	   *nb;

			while (total + (size_t) k > cap)
				cap *= 2;
			nb = realloc(v->bytes, cap);
			if (nb == NULL)
				goto oom;
			v->bytes = nb;
		}
		memcpy(v->bytes + total, piece, (size_t) k);
		v->off[i] = (uint32_t) total;
		v->len[i] = (uint32_t) k;
		total += (size_t) k;
		ids[n_ids++] = i;
	}

	/* plain: fed from an open string body, every byte stays in the body */
	if (llm_json_schema_compile(&ss, str_schema, sizeof(str_schema) - 1, err) < 0)
		goto fail;
	llm_jm_init(ss, &body);
	if (!llm_jm_feed_bytes(ss, &body, "\"", 1))
	{
		llm_err(err, "internal error: string matcher refuses a quote");
		goto fail;
	}
	for (i = 0; i < n_ids; i++)
	{
		int32_t		id = ids[i];
		int64_t		room;

		st = body;
		if (llm_jm_feed_bytes(ss, &st, v->bytes + v->off[id], v->len[id]) &&
			st.depth[0] == 1 && (room = llm_jm_string_room(ss, &st)) >= 0)
		{
			v->plain[v->n_plain] = id;
			v->plain_chars[v->n_plain] = (uint32_t) (UINT32_MAX - room);
			v->n_plain++;
		}
		else
			rest[n_rest++] = id;
	}
	/* sort the plain tokens by characters (insertion by counting) */
	{
		uint32_t	maxc = 0;
		uint32_t   *cnt;
		int32_t    *sorted = malloc(((size_t) v->n_plain + 1) * sizeof(int32_t));
		uint32_t   *sc = malloc(((size_t) v->n_plain + 1) * sizeof(uint32_t));

		for (i = 0; i < v->n_plain; i++)
			if (v->plain_chars[i] > maxc)
				maxc = v->plain_chars[i];
		cnt = calloc((size_t) maxc + 2, sizeof(uint32_t));
		if (sorted == NULL || sc == NULL || cnt == NULL)
		{
			free(sorted);
			free(sc);
			free(cnt);
			goto oom;
		}
		for (i = 0; i < v->n_plain; i++)
			cnt[v->plain_chars[i] + 1]++;
		for (uint32_t c = 1; c <= maxc + 1; c++)
			cnt[c] += cnt[c - 1];
		for (i = 0; i < v->n_plain; i++)
		{
			uint32_t	pos = cnt[v->plain_chars[i]]++;

			sorted[pos] = v->plain[i];
			sc[pos] = v->plain_chars[i];
		}
		free(cnt);
		free(v->plain);
		free(v->plain_chars);
		v->plain = sorted;
		v->plain_chars = sc;
	}
	v->plain_mask = calloc((size_t) n + 1, 1);
	if (v->plain_mask == NULL)
		goto oom;
	for (i = 0; i < v->n_plain; i++)
		v->plain_mask[v->plain[i]] = 1;
	if (js_trie_build(&v->all, v, ids, n_ids) < 0 ||
		js_trie_build(&v->rest, v, rest, n_rest) < 0)
		goto oom;
	llm_json_schema_free(ss);
	free(ids);
	free(rest);
	*out = v;
	return 0;

oom:
	llm_err(err, "out of memory");
fail:
	llm_json_schema_free(ss);
	free(ids);
	free(rest);
	llm_vocab_trie_free(v);
	return -1;
}

/*
 * Free the tries (NULL is fine).
 */
void
llm_vocab_trie_free(llm_vocab_trie *v)
{
	if (v == NULL)
		return;
	js_trie_free(&v->all);
	js_trie_free(&v->rest);
	free(v->bytes);
	free(v->off);
	free(v->len);
	free(v->plain);
	free(v->plain_chars);
	free(v->plain_mask);
	free(v->eog);
	free(v);
}

/*
 * Set allowed[] for every end-of-generation token.
 */
void
llm_vocab_trie_allow_eog(const llm_vocab_trie *v, uint8_t *allowed)
{
	int32_t		i;

	for (i = 0; i < v->n_eog; i++)
		allowed[v->eog[i]] = 1;
}

int32_t
llm_vocab_trie_n_vocab(const llm_vocab_trie *v)
{
	return v->n_vocab;
}

/*
 * The bytes of token tok, NULL when it is never allowed.
 */
const char *
llm_vocab_trie_piece(const llm_vocab_trie *v, int32_t tok, size_t *len)
{
	if (tok < 0 || tok >= v->n_vocab || v->len[tok] == 0)
	{
		*len = 0;
		return NULL;
	}
	*len = v->len[tok];
	return v->bytes + v->off[tok];
}

/*
 * A masker's scratch (one matcher state per trie depth); NULL when out
 * of memory.
 */
llm_json_masker *
llm_json_masker_new(void)
{
	return malloc(sizeof(llm_json_masker));
}

void
llm_json_masker_free(llm_json_masker *mk)
{
	free(mk);
}

/*
 * Walk trie t from state st, setting allowed[] for every token whose
 * bytes the matcher accepts; returns how many were set.
 */
static int32_t
js_walk(llm_json_masker *mk, const js_trie *t, const llm_json_schema *s,
		const llm_jm_state *st, uint8_t *allowed)
{
	uint32_t	i = 0;
	int32_t		count = 0;

	mk->st[0] = *st;
	while (i < t->n_nodes)
	{
		uint16_t	d = t->depth[i];

		if (!llm_jm_feed(s, &mk->st[d - 1], t->byte[i], &mk->st[d]))
		{
			i = t->skip[i];
			continue;
		}
		for (uint32_t k = 0; k < t->tok_n[i]; k++)
		{
			allowed[t->toks[t->tok_first[i] + k]] = 1;
			count++;
		}
		i++;
	}
	return count;
}

/*
 * The fast mask. See json_schema.h.
 */
int32_t
llm_json_mask(llm_json_masker *mk, const llm_vocab_trie *v, const llm_json_schema *s,
			  const llm_jm_state *st, uint8_t *allowed)
{
	int64_t		room;
	int32_t		lo = 0, hi, i;

	room = st->n_threads == 0 ? -1 : llm_jm_string_room(s, st);
	if (room < 0)
	{
		memset(allowed, 0, (size_t) v->n_vocab);
		return st->n_threads == 0 ? 0 : js_walk(mk, &v->all, s, st, allowed);
	}
	/* lo := plain tokens of at most room characters (a prefix of the list) */
	hi = v->n_plain;
	while (lo < hi)
	{
		int32_t		mid = lo + (hi - lo) / 2;

		if ((int64_t) v->plain_chars[mid] <= room)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* write the shorter side: set the prefix, or copy all and clear the rest */
	if (lo <= v->n_plain / 2)
	{
		memset(allowed, 0, (size_t) v->n_vocab);
		for (i = 0; i < lo; i++)
			allowed[v->plain[i]] = 1;
	}
	else
	{
		memcpy(allowed, v->plain_mask, (size_t) v->n_vocab);
		for (i = lo; i < v->n_plain; i++)
			allowed[v->plain[i]] = 0;
	}
	return lo + js_walk(mk, &v->rest, s, st, allowed);
}

/*
 * The reference mask: every token's bytes fed one by one.
 */
int32_t
llm_json_mask_ref(const llm_vocab_trie *v, const llm_json_schema *s,
				  const llm_jm_state *st, uint8_t *allowed)
{
	llm_jm_state tmp;
	int32_t		count = 0, i;

	memset(allowed, 0, (size_t) v->n_vocab);
	for (i = 0; i < v->n_vocab; i++)
	{
		if (v->len[i] == 0)
			continue;
		tmp = *st;
		if (llm_jm_feed_bytes(s, &tmp, v->bytes + v->off[i], v->len[i]))
		{
			allowed[i] = 1;
			count++;
		}
	}
	return count;
}
