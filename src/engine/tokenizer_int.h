/*
 * tokenizer_int.h - private parts of the tokenizer (tokenizer.c,
 * tokenizer_bpe.c, tokenizer_spm.c, tokenizer_heap.c). Not installed, not
 * for other modules.
 *
 * The behaviour mirrors llama.cpp's vocabulary code so that token ids are
 * identical: token attributes are a bit set (a token may be, say, NORMAL
 * and CONTROL at once after the end-of-generation fix-ups), BPE merges are
 * ranked by their position in tokenizer.ggml.merges, SPM merges by score.
 */
#ifndef LLM_TOKENIZER_INT_H
#define LLM_TOKENIZER_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer.h"

/* token attribute bits (derived from tokenizer.ggml.token_type) */
#define TOK_ATTR_UNKNOWN	0x01
#define TOK_ATTR_UNUSED		0x02
#define TOK_ATTR_NORMAL		0x04
#define TOK_ATTR_CONTROL	0x08
#define TOK_ATTR_USER_DEF	0x10
#define TOK_ATTR_BYTE		0x20
#define TOK_ATTR_EOG		0x80	/* ends generation (our own bit) */

/* tokens the partition step matches before pre-tokenizing */
#define TOK_ATTR_SPECIAL	(TOK_ATTR_CONTROL | TOK_ATTR_USER_DEF | TOK_ATTR_UNKNOWN)

/* most regexes a pre-tokenizer applies one after the other */
#define TOK_MAX_REGEX		6

typedef enum tok_kind
{
	TOK_KIND_BPE,				/* tokenizer.ggml.model = "gpt2" */
	TOK_KIND_SPM				/* tokenizer.ggml.model = "llama" */
} tok_kind;

struct llm_tokenizer
{
	tok_kind	kind;
	int32_t		n_vocab;

	/* vocabulary: texts copied into one arena, each NUL-terminated */
	char	   *arena;
	uint32_t   *off;			/* n_vocab offsets into arena */
	uint32_t   *len;			/* n_vocab byte lengths */
	float	   *score;			/* n_vocab scores (0 when absent) */
	uint8_t    *attr;			/* n_vocab TOK_ATTR_* sets */

	/* text -> id, open addressing; -1 marks an empty slot */
	int32_t    *hash;
	uint32_t	hash_mask;

	/* BPE merges: "left right" strings, rank = index */
	uint32_t	n_merges;
	char	   *m_arena;
	uint32_t   *m_off;			/* start of the merge text (left part) */
	uint32_t   *m_left;			/* length of the left part */
	uint32_t   *m_right;		/* length of the right part */
	int32_t    *m_hash;			/* merge index or -1 */
	uint32_t	m_mask;

	/* special tokens, longest text first (ties: lower id first) */
	int32_t    *specials;
	uint32_t	n_specials;

	int32_t		bos;
	int32_t		eos;
	int32_t		eot;
	int32_t		eom;
	int32_t		unk;
	int32_t		pad;
	bool		add_bos;
	bool		add_space_prefix;
	bool		ignore_merges;	/* emit a whole word that is a token as is */
	const char *pre_name;		/* BPE: the pre-tokenizer's first name
								 * (tokenizer_bpe.c's table), for
								 * tokenizer_tail.c */

	/* BPE pre-tokenizer */
	int			n_regex;
	pcre2_code *regex[TOK_MAX_REGEX];

	/* GPT-2 byte -> printable code point, as UTF-8 (1 or 2 bytes) */
	char		byte_enc[256][2];
	uint8_t		byte_enc_len[256];

	/*
	 * Byte pairs inside token texts (bit b of row a: some text has byte a
	 * followed by byte b), for the places where a tokenization may be cut
	 * into pieces (tokenizer_job.c): of every token (SPM merges), of the
	 * special tokens, and of the user-defined ones.
	 */
	uint8_t		pair_any[256][32];
	uint8_t		pair_special[256][32];
	uint8_t		pair_user[256][32];
};

/* a piece of the input: raw text (tok < 0) or one special token */
typedef struct tok_frag
{
	int32_t		tok;
	size_t		off;
	size_t		len;
} tok_frag;

typedef struct tok_frags
{
	tok_frag   *v;
	size_t		n;
	size_t		cap;
} tok_frags;

/* Append a fragment; -1 when memory runs out. */
int			tok_frag_push(tok_frags *fr, int32_t tok, size_t off, size_t len);

/*
 * Split text[0..len) on special tokens (control and unknown ones only
 * with parse_special) into *cur, as llm_tokenize() does (tokenizer_part.c).
 */
int			tok_partition(const llm_tokenizer *t, const char *text, size_t len,
						  bool parse_special, tok_frags *cur, char *err);

/*
 * The same split in bounded steps (tokenizer_part.c): tok_part_begin()
 * starts it over text[0..len) (which must stay valid), each
 * tok_part_more() works until *used, to which it adds its units of work
 * (bytes searched or read for the byte pairs of the text, one per token
 * and fragment visited), reaches budget,
 * and returns 1 once the fragments (offsets into text) are in r->cur,
 * 0 when work is left, -1 with err; tok_part_end() frees the run.
 */
typedef struct tok_part_run
{
	const char *text;
	size_t		len;
	bool		parse_special;
	bool		use_seen;		/* the text is long enough for seen */
	size_t		pscan;			/* recorded in seen up to here */
	tok_frags	cur;			/* fragments after the tokens before k */
	tok_frags	nxt;			/* those being made by token k */
	uint32_t	k;				/* index into specials */
	int			stage;			/* 0: does token k occur?  1: cutting */
	size_t		pre;			/* stage 0: searched for starts before here */
	size_t		i;				/* stage 1: fragment of cur being cut */
	bool		in_frag;		/* fg and from hold fragment i's state */
	tok_frag	fg;				/* what is left of fragment i */
	size_t		from;			/* no occurrence in fg starts before here */
	uint8_t		seen[256][32];	/* byte pairs of text (as pair_* tables);
								 * last: cleared only when used */
} tok_part_run;

int			tok_part_begin(tok_part_run *r, const llm_tokenizer *t, const char *text,
						   size_t len, bool parse_special, char *err);
int			tok_part_more(const llm_tokenizer *t, tok_part_run *r, size_t budget,
						  size_t *used, char *err);
void		tok_part_end(tok_part_run *r);

/* Fill the pair_* tables of a loaded tokenizer (tokenizer_job.c). */
void		tok_pairs_build(llm_tokenizer *t);

/* Whether bit b of a pair_* row is set. */
static inline bool
tok_pair_in(const uint8_t (*tab)[32], unsigned char a, unsigned char b)
{
	return (tab[a][b >> 3] >> (b & 7)) & 1;
}

/* A growable array of token ids. */
typedef struct tok_vec
{
	int32_t    *v;
	size_t		n;
	size_t		cap;
} tok_vec;

/* Append id to vec; -1 on allocation failure. */
int			tok_vec_push(tok_vec *vec, int32_t id);

/*
 * A binary min-heap of fixed-size elements (tokenizer_heap.c): the top is
 * an element that no other is before(). Initialize it with TOK_HEAP_INIT;
 * it grows by doubling and never frees elements one at a time.
 */
typedef struct tok_heap
{
	unsigned char *data;		/* cap elements of elem bytes each */
	size_t		elem;			/* element size in bytes */
	size_t		n;				/* elements in the heap */
	size_t		cap;			/* elements allocated */
	bool		(*before) (const void *a, const void *b);	/* a goes first */
} tok_heap;

/* initializer: an empty heap of elements of type, ordered by before_fn */
#define TOK_HEAP_INIT(type, before_fn) \
	{.data = NULL, .elem = sizeof(type), .n = 0, .cap = 0, .before = (before_fn)}

/* Insert a copy of *elem (not pointing into the heap); -1 when out of memory. */
int			tok_heap_push(tok_heap *h, const void *elem);

/* Remove the top element into *out; the heap must not be empty. */
void		tok_heap_pop(tok_heap *h, void *out);

/* Free the heap's storage and leave it empty. */
void		tok_heap_free(tok_heap *h);

/* 64-bit FNV-1a over len bytes. */
static inline uint64_t
tok_hash_bytes(const char *s, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
	{
		h ^= (unsigned char) s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Id of the token whose text is s[0..len), or -1. */
int32_t		tok_lookup(const llm_tokenizer *t, const char *s, size_t len);

/*
 * Byte length of the UTF-8 sequence that starts with byte c, judged from
 * its top four bits only (as llama.cpp does; continuation bytes count 1).
 */
static inline size_t
tok_utf8_len(unsigned char c)
{
	static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};

	return lens[c >> 4];
}

/*
 * Decode one code point from s[*i..n) the way llama.cpp does: lead bytes
 * are trusted for the sequence length (overlong forms and surrogates pass),
 * continuation bytes must be 10xxxxxx and inside the buffer; anything else,
 * and any value above U+10FFFF, gives U+FFFD and consumes one byte.
 */
uint32_t	tok_utf8_decode(const char *s, size_t n, size_t *i);

/* Encode code point c (<= 0x10FFFF, surrogates allowed) into out; length. */
size_t		tok_utf8_encode(uint32_t c, char *out);

/*
 * Interrupt polling shared by one tokenization: tok_tick() counts a unit
 * of work (a regex piece, a word, a merge) and asks ab every
 * TOK_CHECK_EVERY units, so the callback stays off the hot path.
 */
#define TOK_CHECK_EVERY 4096

typedef struct tok_check
{
	const llm_abort *ab;		/* may be NULL: never stop */
	uint32_t	count;
} tok_check;

/* Count one unit of work; true when the caller asked to stop. */
static inline bool
tok_tick(tok_check *c)
{
	if (c == NULL || c->ab == NULL)
		return false;
	if (++c->count % TOK_CHECK_EVERY != 0)
		return false;
	return llm_should_abort(c->ab);
}

/* tokenizer_bpe.c */
int			tok_bpe_load_merges(llm_tokenizer *t, const gguf_file *f, char *err);
int			tok_bpe_setup_pre(llm_tokenizer *t, const char *pre, char *err);
void		tok_bpe_free(llm_tokenizer *t);
int			tok_bpe_encode(const llm_tokenizer *t, const char *text, size_t len,
						   tok_check *ck, tok_vec *out, char *err);

/*
 * The same encoding done in parts: tok_bpe_begin() prepares text (which
 * must stay valid), each tok_bpe_more() call works until *used, to which
 * it adds the bytes it scans with a regex or merges, reaches budget, and
 * returns 1 when the last ids are in
 * out, 0 when work is left, -1 with err. The ids are those of
 * tok_bpe_encode(): the work is the same, only stopped and resumed.
 */
typedef struct tok_bpe_run tok_bpe_run;
int			tok_bpe_begin(const llm_tokenizer *t, const char *text, size_t len,
						  tok_bpe_run **out, char *err);
int			tok_bpe_more(const llm_tokenizer *t, tok_bpe_run *r, size_t budget,
						 size_t *used, tok_check *ck, tok_vec *out, char *err);
void		tok_bpe_end(tok_bpe_run *r);

/* tokenizer_spm.c */
int			tok_spm_encode(const llm_tokenizer *t, const char *text, size_t len,
						   bool space_prefix, tok_check *ck, tok_vec *out, char *err);

/*
 * tok_spm_encode() in steps: tok_spm_begin() escapes the text and makes
 * its symbols; each tok_spm_more() fills the heap and merges for about
 * budget - *used heap operations (adding each to *used) and returns 0
 * when work is left, 1 once the ids are appended to out, -1 with err;
 * the ids are those of tok_spm_encode(). tok_spm_end() frees the run.
 */
typedef struct tok_spm_run tok_spm_run;
int			tok_spm_begin(const llm_tokenizer *t, const char *text, size_t len,
						  bool space_prefix, tok_spm_run **out, char *err);
int			tok_spm_more(const llm_tokenizer *t, tok_spm_run *r, size_t budget,
						 size_t *used, tok_check *ck, tok_vec *out, char *err);
void		tok_spm_end(tok_spm_run *r);

/*
 * tokenizer_tail.c: tok_tail_cut() is the last place q <= before (q > 0)
 * of text where llm_tokenize_tail() may start a suffix, 0 when there is
 * none (text must have a byte at before); tok_tail_encode() appends the
 * ids of such a suffix text[0..len) to vec: the tail of the whole's.
 */
size_t		tok_tail_cut(const llm_tokenizer *t, const char *text, size_t before);
int			tok_tail_encode(const llm_tokenizer *t, const char *text, size_t len,
							const llm_abort *ab, tok_vec *vec, char *err);

#endif							/* LLM_TOKENIZER_INT_H */
