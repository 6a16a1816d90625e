/*
 * tokenizer.c - vocabulary loading, special tokens, the split of a text on
 * special tokens, and detokenization. The two tokenizer models live in
 * tokenizer_bpe.c (byte-level BPE, "gpt2") and tokenizer_spm.c
 * (SentencePiece-style BPE, "llama").
 *
 * Behaviour follows llama.cpp's vocabulary code so that ids match it:
 * default special ids per model, end-of-generation tokens recognised by
 * their text, special tokens matched longest first before pre-tokenizing
 * (user-defined ones even when parse_special is false), and a leading
 * space stripped from the first piece when add_space_prefix is set.
 * Unlike llama.cpp, a special token id in the metadata that is out of range
 * is an error rather than a warning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"
#include "tokenizer_int.h"

/* cap on the vocabulary size (a real model is below 1M tokens) */
#define TOK_MAX_VOCAB	(1 << 26)

/* metadata slots for the special token ids */
enum
{
	SP_BOS, SP_EOS, SP_EOT, SP_EOM, SP_UNK, SP_SEP, SP_PAD, SP_MASK,
	SP_FIM_PRE, SP_FIM_SUF, SP_FIM_MID, SP_FIM_PAD, SP_FIM_REP, SP_FIM_SEP,
	SP_COUNT
};

static const struct
{
	const char *key;
	int			slot;
}			k_special_keys[] =
{
	{"tokenizer.ggml.bos_token_id", SP_BOS},
	{"tokenizer.ggml.eos_token_id", SP_EOS},
	{"tokenizer.ggml.eot_token_id", SP_EOT},
	{"tokenizer.ggml.eom_token_id", SP_EOM},
	{"tokenizer.ggml.unknown_token_id", SP_UNK},
	{"tokenizer.ggml.seperator_token_id", SP_SEP},
	{"tokenizer.ggml.padding_token_id", SP_PAD},
	{"tokenizer.ggml.mask_token_id", SP_MASK},
	{"tokenizer.ggml.fim_pre_token_id", SP_FIM_PRE},
	{"tokenizer.ggml.fim_suf_token_id", SP_FIM_SUF},
	{"tokenizer.ggml.fim_mid_token_id", SP_FIM_MID},
	{"tokenizer.ggml.fim_pad_token_id", SP_FIM_PAD},
	{"tokenizer.ggml.fim_rep_token_id", SP_FIM_REP},
	{"tokenizer.ggml.fim_sep_token_id", SP_FIM_SEP},
	/* older names of the FIM keys */
	{"tokenizer.ggml.prefix_token_id", SP_FIM_PRE},
	{"tokenizer.ggml.suffix_token_id", SP_FIM_SUF},
	{"tokenizer.ggml.middle_token_id", SP_FIM_MID},
};

/*
 * Texts that identify special tokens when the metadata does not name them,
 * in order of preference. Each list ends with NULL.
 */
static const char *const k_eot_texts[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
	"<\uff5cend\u2581of\u2581sentence\uff5c>", "<end_of_utterance>", NULL
};
static const char *const k_eom_texts[] = {"<|eom_id|>", NULL};
static const char *const k_fim_pre_texts[] = {
	"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\uff5cfim\u2581begin\uff5c>",
	"<PRE>", "\u2581<PRE>", "<|code_prefix|>", "<|prefix|>", NULL
};
static const char *const k_fim_suf_texts[] = {
	"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\uff5cfim\u2581hole\uff5c>",
	"<SUF>", "\u2581<SUF>", "<|code_suffix|>", "<|suffix|>", NULL
};
static const char *const k_fim_mid_texts[] = {
	"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\uff5cfim\u2581end\uff5c>",
	"<MID>", "\u2581<MID>", "<|code_middle|>", "<|middle|>", NULL
};
static const char *const k_fim_pad_texts[] = {
	"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL
};
static const char *const k_fim_rep_texts[] = {
	"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL
};
static const char *const k_fim_sep_texts[] = {"<|file_sep|>", NULL};

/* every token with one of these texts ends generation */
static const char *const k_eog_texts[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
	"<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>",
	"<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
	"<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
	"<\uff5cend\u2581of\u2581sentence\uff5c>", "[e~[", NULL
};

/* tokens that must always be rendered (gpt-oss) */
static const char *const k_user_defined_texts[] = {
	"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL
};

/* an output window that counts what would not fit */
typedef struct tok_sink
{
	char	   *buf;
	size_t		cap;
	size_t		n;
} tok_sink;


/*
 * Append id to a growable id array; -1 when memory runs out.
 */
int
tok_vec_push(tok_vec *vec, int32_t id)
{
	if (vec->n == vec->cap)
	{
		size_t		ncap = vec->cap ? vec->cap * 2 : 64;
		size_t		bytes;
		int32_t    *nv;

		if (!llm_mul_size(ncap, sizeof(int32_t), &bytes))
			return -1;
		nv = realloc(vec->v, bytes);
		if (!nv)
			return -1;
		vec->v = nv;
		vec->cap = ncap;
	}
	vec->v[vec->n++] = id;
	return 0;
}

/*
 * Decode one code point like llama.cpp's decoder (see tokenizer_int.h).
 */
uint32_t
tok_utf8_decode(const char *s, size_t n, size_t *i)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t		p = *i;
	unsigned	c = u[p];
	uint32_t	cp;

#define CONT(k) (p + (k) < n && (u[p + (k)] & 0xC0) == 0x80)
	if (c < 0x80)
	{
		*i = p + 1;
		return c;
	}
	if ((c & 0x40) == 0)
		goto invalid;
	if ((c & 0x20) == 0)
	{
		if (!CONT(1))
			goto invalid;
		*i = p + 2;
		return ((c & 0x1F) << 6) | (u[p + 1] & 0x3F);
	}
	if ((c & 0x10) == 0)
	{
		if (!CONT(1) || !CONT(2))
			goto invalid;
		*i = p + 3;
		return ((c & 0x0F) << 12) | ((u[p + 1] & 0x3F) << 6) | (u[p + 2] & 0x3F);
	}
	if ((c & 0x08) == 0)
	{
		if (!CONT(1) || !CONT(2) || !CONT(3))
			goto invalid;
		cp = ((c & 0x07) << 18) | ((u[p + 1] & 0x3F) << 12) |
			((u[p + 2] & 0x3F) << 6) | (u[p + 3] & 0x3F);
		if (cp > 0x10FFFF)
			goto invalid;
		*i = p + 4;
		return cp;
	}
#undef CONT
invalid:
	*i = p + 1;
	return 0xFFFD;
}

/*
 * Encode a code point (at most U+10FFFF) as UTF-8; returns the length.
 */
size_t
tok_utf8_encode(uint32_t c, char *out)
{
	if (c < 0x80)
	{
		out[0] = (char) c;
		return 1;
	}
	if (c < 0x800)
	{
		out[0] = (char) (0xC0 | (c >> 6));
		out[1] = (char) (0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000)
	{
		out[0] = (char) (0xE0 | (c >> 12));
		out[1] = (char) (0x80 | ((c >> 6) & 0x3F));
		out[2] = (char) (0x80 | (c & 0x3F));
		return 3;
	}
	out[0] = (char) (0xF0 | (c >> 18));
	out[1] = (char) (0x80 | ((c >> 12) & 0x3F));
	out[2] = (char) (0x80 | ((c >> 6) & 0x3F));
	out[3] = (char) (0x80 | (c & 0x3F));
	return 4;
}

/*
 * Look a token text up in the vocabulary hash; -1 when absent.
 */
int32_t
tok_lookup(const llm_tokenizer *t, const char *s, size_t len)
{
	uint32_t	h = (uint32_t) tok_hash_bytes(s, len) & t->hash_mask;

	for (;;)
	{
		int32_t		id = t->hash[h];

		if (id < 0)
			return -1;
		if (t->len[id] == len && memcmp(t->arena + t->off[id], s, len) == 0)
			return id;
		h = (h + 1) & t->hash_mask;
	}
}

/*
 * Insert token id into the hash; a later token with the same text replaces
 * an earlier one (llama.cpp keeps the last id for a duplicated text).
 */
static void
hash_insert(llm_tokenizer *t, int32_t id)
{
	const char *s = t->arena + t->off[id];
	uint32_t	h = (uint32_t) tok_hash_bytes(s, t->len[id]) & t->hash_mask;

	for (;;)
	{
		int32_t		cur = t->hash[h];

		if (cur < 0 || (t->len[cur] == t->len[id] &&
						memcmp(t->arena + t->off[cur], s, t->len[id]) == 0))
		{
			t->hash[h] = id;
			return;
		}
		h = (h + 1) & t->hash_mask;
	}
}

/*
 * Copy the token texts into one arena and build the text -> id hash.
 * An empty text becomes "[EMPTY_<id>]" and a text is cut at an embedded
 * NUL, both as llama.cpp does.
 */
static int
load_texts(llm_tokenizer *t, const gguf_kv *toks, char *err)
{
	size_t		total = 0;
	size_t		cap;
	size_t		pos = 0;
	int32_t		n = t->n_vocab;

	for (int32_t i = 0; i < n; i++)
	{
		size_t		l = strnlen(toks->v.arr.strs[i].ptr, toks->v.arr.strs[i].len);

		if (!llm_add_size(total, (l ? l : 24) + 1, &total))
			return llm_err(err, "tokenizer.ggml.tokens: vocabulary too large");
	}
	if (total > UINT32_MAX)
		return llm_err(err, "tokenizer.ggml.tokens: vocabulary text exceeds 4 GiB");

	t->arena = malloc(total);
	t->off = malloc((size_t) n * sizeof(uint32_t));
	t->len = malloc((size_t) n * sizeof(uint32_t));
	t->score = calloc((size_t) n, sizeof(float));
	t->attr = malloc((size_t) n);
	for (cap = 16; cap < (size_t) n * 2; cap <<= 1)
		;
	t->hash = malloc(cap * sizeof(int32_t));
	if (!t->arena || !t->off || !t->len || !t->score || !t->attr || !t->hash)
		return llm_err(err, "out of memory loading the vocabulary");
	t->hash_mask = (uint32_t) (cap - 1);
	memset(t->hash, 0xff, cap * sizeof(int32_t));

	for (int32_t i = 0; i < n; i++)
	{
		const char *p = toks->v.arr.strs[i].ptr;
		size_t		l = strnlen(p, toks->v.arr.strs[i].len);

		t->off[i] = (uint32_t) pos;
		if (l == 0)
			l = (size_t) snprintf(t->arena + pos, 24, "[EMPTY_%d]", (int) i);
		else
		{
			memcpy(t->arena + pos, p, l);
			t->arena[pos + l] = '\0';
		}
		t->len[i] = (uint32_t) l;
		pos += l + 1;
		hash_insert(t, i);
	}
	return 0;
}

/*
 * Check that a byte token reads exactly "<0xHH>" (hex digits in either
 * case) and return the byte, or -1.
 */
static int
parse_byte_token(const char *s, size_t len)
{
	int			v = 0;

	if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
		return -1;
	for (int k = 3; k < 5; k++)
	{
		char		c = s[k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * Whether a token's text has the shape of a byte token, "<0x" ... ">",
 * whatever its type: such a text must then be exactly <0xHH>, so that a
 * malformed one such as "<0x-1>" is not taken as a literal token. Texts
 * that merely start with "<0x" (a plausible BPE piece) are left alone.
 */
static bool
looks_like_byte_token(const char *s, size_t len)
{
	return len >= 4 && memcmp(s, "<0x", 3) == 0 && s[len - 1] == '>';
}

/*
 * Read token types and scores (both optional; when present they must be
 * INT32 / FLOAT32 arrays with one entry per token) and validate byte
 * tokens.
 */
static int
load_types_scores(llm_tokenizer *t, const gguf_file *f, char *err)
{
	const gguf_kv *kv;
	int			rc;
	char		sub[LLM_ERRLEN];

	rc = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_INT32, &kv, sub);
	if (rc < 0)
		return llm_err(err, "tokenizer.ggml.token_type must be an INT32 array (%s)", sub);
	if (rc > 0 && kv->v.arr.n != (uint64_t) t->n_vocab)
		return llm_err(err, "tokenizer.ggml.token_type has %llu entries, expected %d (tokenizer.ggml.tokens)",
					   (unsigned long long) kv->v.arr.n, (int) t->n_vocab);
	for (int32_t i = 0; i < t->n_vocab; i++)
	{
		int32_t		ty = rc > 0 ? gguf_arr_i32(kv, (uint64_t) i) : LLM_TOKEN_NORMAL;
		uint8_t		a = 0;

		switch (ty)
		{
			case LLM_TOKEN_NORMAL:
				a = TOK_ATTR_NORMAL;
				break;
			case LLM_TOKEN_UNKNOWN:
				a = TOK_ATTR_UNKNOWN;
				break;
			case LLM_TOKEN_CONTROL:
				a = TOK_ATTR_CONTROL;
				break;
			case LLM_TOKEN_USER_DEFINED:
				a = TOK_ATTR_USER_DEF;
				break;
			case LLM_TOKEN_UNUSED:
				a = TOK_ATTR_UNUSED;
				break;
			case LLM_TOKEN_BYTE:
				a = TOK_ATTR_BYTE;
				if (parse_byte_token(t->arena + t->off[i], t->len[i]) < 0)
					return llm_err(err, "tokenizer.ggml.tokens[%d] is a byte token with malformed text \"%.16s\" (expected <0xHH>)",
								   (int) i, t->arena + t->off[i]);
				break;
			default:
				a = 0;			/* undefined: never rendered */
				break;
		}
		if (a != TOK_ATTR_BYTE && looks_like_byte_token(t->arena + t->off[i], t->len[i]) &&
			parse_byte_token(t->arena + t->off[i], t->len[i]) < 0)
			return llm_err(err, "tokenizer.ggml.tokens[%d] looks like a byte token but has malformed text \"%.16s\" (expected <0xHH>)",
						   (int) i, t->arena + t->off[i]);
		t->attr[i] = a;
	}

	rc = gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_FLOAT32, &kv, sub);
	if (rc < 0)
		return llm_err(err, "tokenizer.ggml.scores must be a FLOAT32 array (%s)", sub);
	if (rc > 0)
	{
		if (kv->v.arr.n != (uint64_t) t->n_vocab)
			return llm_err(err, "tokenizer.ggml.scores has %llu entries, expected %d (tokenizer.ggml.tokens)",
						   (unsigned long long) kv->v.arr.n, (int) t->n_vocab);
		for (int32_t i = 0; i < t->n_vocab; i++)
			t->score[i] = gguf_arr_f32(kv, (uint64_t) i);
	}
	return 0;
}

/*
 * Find the first text of list that is in the vocabulary; -1 if none.
 */
static int32_t
find_first(const llm_tokenizer *t, const char *const *list)
{
	for (int k = 0; list[k]; k++)
	{
		int32_t		id = tok_lookup(t, list[k], strlen(list[k]));

		if (id >= 0)
			return id;
	}
	return -1;
}

/*
 * Read the special token ids: model defaults, then the metadata (an id
 * outside the vocabulary is an error), then ids recognised by their text
 * for EOT, EOM and the FIM tokens; such tokens are forced to CONTROL.
 */
static int
load_special_ids(llm_tokenizer *t, const gguf_file *f, int32_t *ids, char *err)
{
	static const struct
	{
		int			slot;
		const char *const *texts;
	}			detect[] =
	{
		{SP_EOT, k_eot_texts}, {SP_EOM, k_eom_texts},
		{SP_FIM_PRE, k_fim_pre_texts}, {SP_FIM_SUF, k_fim_suf_texts},
		{SP_FIM_MID, k_fim_mid_texts}, {SP_FIM_PAD, k_fim_pad_texts},
		{SP_FIM_REP, k_fim_rep_texts}, {SP_FIM_SEP, k_fim_sep_texts},
	};

	for (int k = 0; k < SP_COUNT; k++)
		ids[k] = -1;
	if (t->kind == TOK_KIND_SPM)
	{
		ids[SP_BOS] = 1;
		ids[SP_EOS] = 2;
		ids[SP_UNK] = 0;
	}
	else
	{
		ids[SP_BOS] = 11;
		ids[SP_EOS] = 11;
	}
	for (int k = 0; k < SP_COUNT; k++)
		if (ids[k] >= t->n_vocab)
			ids[k] = -1;

	for (size_t k = 0; k < sizeof(k_special_keys) / sizeof(k_special_keys[0]); k++)
	{
		uint32_t	v;
		char		sub[LLM_ERRLEN];
		int			rc = gguf_get_u32(f, k_special_keys[k].key, &v, sub);

		if (rc < 0)
			return llm_err(err, "%s: %s", k_special_keys[k].key, sub);
		if (rc == 0)
			continue;
		if (v >= (uint32_t) t->n_vocab)
			return llm_err(err, "%s = %u is out of range (vocabulary has %d tokens)",
						   k_special_keys[k].key, v, (int) t->n_vocab);
		ids[k_special_keys[k].slot] = (int32_t) v;
	}

	for (size_t k = 0; k < sizeof(detect) / sizeof(detect[0]); k++)
	{
		int32_t		id;

		if (ids[detect[k].slot] >= 0)
			continue;
		id = find_first(t, detect[k].texts);
		if (id >= 0)
		{
			ids[detect[k].slot] = id;
			t->attr[id] |= TOK_ATTR_CONTROL;
		}
	}
	return 0;
}

/*
 * Id of the token with text s if it is marked end-of-generation, else -1.
 */
static int32_t
eog_id(const llm_tokenizer *t, const char *s)
{
	int32_t		id = tok_lookup(t, s, strlen(s));

	return (id >= 0 && (t->attr[id] & TOK_ATTR_EOG)) ? id : -1;
}

/*
 * Mark end-of-generation tokens: FIM pad/repo/separator, every token whose
 * text is in k_eog_texts (forced to CONTROL), EOS, EOT and EOM; then the
 * two exceptions llama.cpp makes (<|end|> next to <|return|>/<|call|> or
 * <|calls|>/<|flush|>, and a plain </s> next to <|tool_response>).
 */
static void
mark_eog(llm_tokenizer *t, const int32_t *ids)
{
	const int	slots[] = {SP_FIM_PAD, SP_FIM_REP, SP_FIM_SEP, SP_EOS, SP_EOT, SP_EOM};
	int32_t		end_id, s_id;
	bool		has_return, has_call, has_flush, has_marker;

	for (size_t k = 0; k < sizeof(slots) / sizeof(slots[0]); k++)
		if (ids[slots[k]] >= 0)
			t->attr[ids[slots[k]]] |= TOK_ATTR_EOG;
	for (int k = 0; k_eog_texts[k]; k++)
	{
		int32_t		id = tok_lookup(t, k_eog_texts[k], strlen(k_eog_texts[k]));

		if (id >= 0)
			t->attr[id] |= TOK_ATTR_EOG | TOK_ATTR_CONTROL;
	}
	for (int k = 0; k_user_defined_texts[k]; k++)
	{
		int32_t		id = tok_lookup(t, k_user_defined_texts[k],
									strlen(k_user_defined_texts[k]));

		if (id >= 0)
			t->attr[id] = (uint8_t) ((t->attr[id] & TOK_ATTR_EOG) | TOK_ATTR_USER_DEF);
	}

	end_id = eog_id(t, "<|end|>");
	has_return = eog_id(t, "<|return|>") >= 0;
	has_call = eog_id(t, "<|call|>") >= 0 || eog_id(t, "<|calls|>") >= 0;
	has_flush = eog_id(t, "<|flush|>") >= 0;
	if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush)))
		t->attr[end_id] = TOK_ATTR_USER_DEF;

	s_id = eog_id(t, "</s>");
	has_marker = eog_id(t, "<|tool_response>") >= 0 || eog_id(t, "<|plamo:eos|>") >= 0;
	if (s_id >= 0 && has_marker)
		t->attr[s_id] = TOK_ATTR_NORMAL;
}

/* a special token while sorting: its text length and id */
typedef struct tok_special_key
{
	uint32_t	len;
	int32_t		id;
} tok_special_key;

/*
 * qsort comparator for special tokens: longer text first, then lower id.
 */
static int
cmp_special(const void *a, const void *b)
{
	const tok_special_key *x = a;
	const tok_special_key *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/*
 * Collect the tokens matched in raw text before pre-tokenizing, sorted
 * longest first.
 */
static int
build_specials(llm_tokenizer *t, char *err)
{
	uint32_t	n = 0;
	tok_special_key *keys;

	for (int32_t i = 0; i < t->n_vocab; i++)
		if (t->attr[i] & TOK_ATTR_SPECIAL)
			n++;
	t->specials = malloc((n ? n : 1) * sizeof(int32_t));
	keys = malloc((n ? n : 1) * sizeof(tok_special_key));
	if (!t->specials || !keys)
	{
		free(keys);
		return llm_err(err, "out of memory");
	}
	n = 0;
	for (int32_t i = 0; i < t->n_vocab; i++)
		if (t->attr[i] & TOK_ATTR_SPECIAL)
		{
			keys[n].len = t->len[i];
			keys[n].id = i;
			n++;
		}
	qsort(keys, n, sizeof(tok_special_key), cmp_special);
	for (uint32_t k = 0; k < n; k++)
		t->specials[k] = keys[k].id;
	t->n_specials = n;
	free(keys);
	return 0;
}

/*
 * Read a boolean flag if present.
 */
static int
get_flag(const gguf_file *f, const char *key, bool *out, char *err)
{
	char		sub[LLM_ERRLEN];

	if (gguf_get_bool(f, key, out, sub) < 0)
		return llm_err(err, "%s: %s", key, sub);
	return 0;
}

/*
 * Build a tokenizer from the metadata of f.
 */
int
llm_tokenizer_load(llm_tokenizer **out, const gguf_file *f, char *err)
{
	llm_tokenizer *t;
	const gguf_kv *toks;
	char	   *model = NULL;
	char	   *pre = NULL;
	char		sub[LLM_ERRLEN];
	int32_t		ids[SP_COUNT];
	int			rc;

	*out = NULL;
	rc = gguf_get_str(f, "tokenizer.ggml.model", &model, sub);
	if (rc < 0)
		return llm_err(err, "tokenizer.ggml.model: %s", sub);
	if (rc == 0)
		return llm_err(err, "tokenizer.ggml.model is missing");

	t = calloc(1, sizeof(*t));
	if (!t)
	{
		free(model);
		return llm_err(err, "out of memory");
	}
	t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = -1;

	if (strcmp(model, "gpt2") == 0)
		t->kind = TOK_KIND_BPE;
	else if (strcmp(model, "llama") == 0)
		t->kind = TOK_KIND_SPM;
	else
	{
		llm_err(err, "unsupported tokenizer.ggml.model \"%.64s\" (supported: gpt2, llama)", model);
		goto fail;
	}

	rc = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &toks, sub);
	if (rc < 0)
	{
		llm_err(err, "tokenizer.ggml.tokens must be an array of STRING (%s)", sub);
		goto fail;
	}
	if (rc == 0)
	{
		llm_err(err, "tokenizer.ggml.tokens is missing");
		goto fail;
	}
	if (toks->v.arr.n == 0 || toks->v.arr.n > TOK_MAX_VOCAB)
	{
		llm_err(err, "tokenizer.ggml.tokens has %llu entries (expected 1..%d)",
				(unsigned long long) toks->v.arr.n, TOK_MAX_VOCAB);
		goto fail;
	}
	t->n_vocab = (int32_t) toks->v.arr.n;
	if (load_texts(t, toks, err) < 0 || load_types_scores(t, f, err) < 0)
		goto fail;

	/* flags: defaults per model, then metadata */
	t->add_bos = t->kind == TOK_KIND_SPM;
	t->add_space_prefix = t->kind == TOK_KIND_SPM;
	if (t->kind == TOK_KIND_BPE)
	{
		rc = gguf_get_str(f, "tokenizer.ggml.pre", &pre, sub);
		if (rc < 0)
		{
			llm_err(err, "tokenizer.ggml.pre: %s", sub);
			goto fail;
		}
		if (tok_bpe_setup_pre(t, rc > 0 ? pre : "default", err) < 0 ||
			tok_bpe_load_merges(t, f, err) < 0)
			goto fail;
	}
	if (get_flag(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err) < 0 ||
		get_flag(f, "tokenizer.ggml.add_bos_token", &t->add_bos, err) < 0)
		goto fail;

	if (load_special_ids(t, f, ids, err) < 0)
		goto fail;
	mark_eog(t, ids);
	if (build_specials(t, err) < 0)
		goto fail;
	tok_pairs_build(t);
	t->bos = ids[SP_BOS];
	t->eos = ids[SP_EOS];
	t->eot = ids[SP_EOT];
	t->eom = ids[SP_EOM];
	t->unk = ids[SP_UNK];
	t->pad = ids[SP_PAD];

	free(model);
	free(pre);
	*out = t;
	return 0;

fail:
	free(model);
	free(pre);
	llm_tokenizer_free(t);
	return -1;
}

/*
 * Release a tokenizer (NULL is fine).
 */
void
llm_tokenizer_free(llm_tokenizer *t)
{
	if (!t)
		return;
	tok_bpe_free(t);
	free(t->arena);
	free(t->off);
	free(t->len);
	free(t->score);
	free(t->attr);
	free(t->hash);
	free(t->specials);
	free(t);
}

/* Vocabulary size. */
int32_t
llm_tokenizer_n_vocab(const llm_tokenizer *t)
{
	return t->n_vocab;
}

/* Beginning-of-sequence id or -1. */
int32_t
llm_tokenizer_bos(const llm_tokenizer *t)
{
	return t->bos;
}

/* End-of-sequence id or -1. */
int32_t
llm_tokenizer_eos(const llm_tokenizer *t)
{
	return t->eos;
}

/* End-of-turn id or -1. */
int32_t
llm_tokenizer_eot(const llm_tokenizer *t)
{
	return t->eot;
}

/* Whether the model wants BOS prepended (tokenizer.ggml.add_bos_token). */
bool
llm_tokenizer_add_bos(const llm_tokenizer *t)
{
	return t->add_bos;
}

/* Whether tok ends generation. */
bool
llm_tokenizer_is_eog(const llm_tokenizer *t, int32_t tok)
{
	if (tok < 0 || tok >= t->n_vocab)
		return false;
	return (t->attr[tok] & TOK_ATTR_EOG) != 0;
}

/* Id of the token whose text is exactly s, or -1. */
int32_t
llm_tokenizer_find(const llm_tokenizer *t, const char *s)
{
	if (!s)
		return -1;
	return tok_lookup(t, s, strlen(s));
}

/* Raw vocabulary text of tok, NULL when out of range. */
const char *
llm_tokenizer_text(const llm_tokenizer *t, int32_t tok)
{
	if (tok < 0 || tok >= t->n_vocab)
		return NULL;
	return t->arena + t->off[tok];
}

/*
 * Bytes of the longest vocabulary text: no token stands for more bytes of
 * the input than that (byte-level BPE texts are the byte-encoded form,
 * one or two bytes per input byte; SPM's "▁" is three for one space).
 */
size_t
llm_tokenizer_max_text(const llm_tokenizer *t)
{
	size_t		mx = 1;

	for (int32_t id = 0; id < t->n_vocab; id++)
		if (t->len[id] > mx)
			mx = t->len[id];
	return mx;
}

/*
 * Append a fragment; -1 when memory runs out.
 */
int
tok_frag_push(tok_frags *fr, int32_t tok, size_t off, size_t len)
{
	if (fr->n == fr->cap)
	{
		size_t		ncap = fr->cap ? fr->cap * 2 : 16;
		size_t		bytes;
		tok_frag   *nv;

		if (!llm_mul_size(ncap, sizeof(tok_frag), &bytes))
			return -1;
		nv = realloc(fr->v, bytes);
		if (!nv)
			return -1;
		fr->v = nv;
		fr->cap = ncap;
	}
	fr->v[fr->n].tok = tok;
	fr->v[fr->n].off = off;
	fr->v[fr->n].len = len;
	fr->n++;
	return 0;
}

/*
 * Encode the fragments of text (special tokens and raw pieces) into the
 * ids of *vec; -1 with err (LLM_ABORT_MSG when ab asked to stop).
 */
static int
encode_frags(const llm_tokenizer *t, const char *text, const tok_frags *fr,
			 const llm_abort *ab, tok_vec *vec, char *err)
{
	bool		prev_special = true;
	tok_check	ck = {.ab = ab};

	for (size_t i = 0; i < fr->n; i++)
	{
		const tok_frag *fg = &fr->v[i];
		int			rc;

		if (tok_tick(&ck))
			return llm_err(err, LLM_ABORT_MSG);
		if (fg->tok >= 0)
		{
			if (tok_vec_push(vec, fg->tok) < 0)
				return llm_err(err, "out of memory while tokenizing");
			prev_special = true;
			continue;
		}
		if (t->kind == TOK_KIND_SPM)
			rc = tok_spm_encode(t, text + fg->off, fg->len,
								t->add_space_prefix && prev_special, &ck, vec, err);
		else
			rc = tok_bpe_encode(t, text + fg->off, fg->len, &ck, vec, err);
		if (rc < 0)
			return -1;
		prev_special = false;
	}
	return 0;
}

/*
 * Hand the ids of vec to the caller (an empty result is still an array).
 */
static int
tokens_out(tok_vec *vec, int32_t **out, size_t *n, char *err)
{
	if (!vec->v)
	{
		vec->v = malloc(sizeof(int32_t));
		if (!vec->v)
			return llm_err(err, "out of memory");
	}
	*out = vec->v;
	*n = vec->n;
	return 0;
}

/*
 * Tokenize len bytes of text into a malloc'd id array.
 */
int
llm_tokenize(const llm_tokenizer *t, const char *text, size_t len,
			 bool add_bos, bool parse_special,
			 int32_t **out, size_t *n, char *err)
{
	return llm_tokenize_ex(t, text, len, add_bos, parse_special, NULL, out, n, err);
}

/*
 * llm_tokenize() that polls ab while it works (see tokenizer.h).
 */
int
llm_tokenize_ex(const llm_tokenizer *t, const char *text, size_t len,
				bool add_bos, bool parse_special, const llm_abort *ab,
				int32_t **out, size_t *n, char *err)
{
	tok_vec		vec = {0};
	tok_frags	fr = {0};

	*out = NULL;
	*n = 0;
	if (!text && len > 0)
		return llm_err(err, "llm_tokenize: NULL text");
	if (add_bos && t->bos >= 0 && tok_vec_push(&vec, t->bos) < 0)
	{
		llm_err(err, "out of memory while tokenizing");
		goto fail;
	}
	if (tok_partition(t, text, len, parse_special, &fr, err) < 0 ||
		encode_frags(t, text, &fr, ab, &vec, err) < 0)
		goto fail;
	free(fr.v);
	return tokens_out(&vec, out, n, err);

fail:
	free(fr.v);
	free(vec.v);
	return -1;
}

/*
 * Split text[off, off + len) on special tokens (parse_special: control
 * and unknown ones too) and append its fragments, at their offsets in
 * the whole text, to *all; piece is scratch space.
 */
static int
partition_range(const llm_tokenizer *t, const char *text, size_t off, size_t len,
				bool parse_special, tok_frags *piece, tok_frags *all, char *err)
{
	if (len == 0)
		return 0;
	piece->n = 0;
	if (tok_partition(t, text + off, len, parse_special, piece, err) < 0)
		return -1;
	for (size_t i = 0; i < piece->n; i++)
		if (tok_frag_push(all, piece->v[i].tok, piece->v[i].off + off, piece->v[i].len) < 0)
			return llm_err(err, "out of memory");
	return 0;
}

/*
 * Tokenize text with special tokens matched only inside marks (see
 * tokenizer.h).
 */
int
llm_tokenize_marked(const llm_tokenizer *t, const char *text, size_t len,
					bool add_bos, const llm_text_span *marks, size_t n_marks,
					int32_t **out, size_t *n, char *err)
{
	return llm_tokenize_marked_ex(t, text, len, add_bos, marks, n_marks, NULL,
								  out, n, err);
}

/*
 * llm_tokenize_marked() that polls ab while it works (see tokenizer.h).
 */
int
llm_tokenize_marked_ex(const llm_tokenizer *t, const char *text, size_t len,
					   bool add_bos, const llm_text_span *marks, size_t n_marks,
					   const llm_abort *ab, int32_t **out, size_t *n, char *err)
{
	tok_vec		vec = {0};
	tok_frags	fr = {0};
	tok_frags	piece = {0};
	size_t		pos = 0;

	*out = NULL;
	*n = 0;
	if (!text && len > 0)
		return llm_err(err, "llm_tokenize: NULL text");
	if (n_marks > 0 && marks == NULL)
		return llm_err(err, "llm_tokenize: NULL marks");
	for (size_t k = 0; k < n_marks; k++)
	{
		if (marks[k].off < pos || marks[k].off > len || marks[k].len > len - marks[k].off)
			return llm_err(err, "llm_tokenize: mark %zu is out of order or out of range", k);
		pos = marks[k].off + marks[k].len;
	}
	if (add_bos && t->bos >= 0 && tok_vec_push(&vec, t->bos) < 0)
	{
		llm_err(err, "out of memory while tokenizing");
		goto fail;
	}
	pos = 0;
	for (size_t k = 0; k <= n_marks; k++)
	{
		size_t		end = k < n_marks ? marks[k].off : len;

		if (partition_range(t, text, pos, end - pos, false, &piece, &fr, err) < 0)
			goto fail;
		if (k == n_marks)
			break;
		if (partition_range(t, text, marks[k].off, marks[k].len, true, &piece, &fr, err) < 0)
			goto fail;
		pos = marks[k].off + marks[k].len;
	}
	if (encode_frags(t, text, &fr, ab, &vec, err) < 0)
		goto fail;
	free(fr.v);
	free(piece.v);
	return tokens_out(&vec, out, n, err);

fail:
	free(fr.v);
	free(piece.v);
	free(vec.v);
	return -1;
}

/*
 * Write k bytes to the sink, keeping what fits and counting the rest.
 */
static void
sink_put(tok_sink *sk, const char *p, size_t k)
{
	if (sk->n < sk->cap)
	{
		size_t		room = sk->cap - sk->n;

		memcpy(sk->buf + sk->n, p, k < room ? k : room);
	}
	sk->n += k;
}

/*
 * Inverse of the GPT-2 byte mapping: the byte code point c stands for,
 * or -1 when c is not one of the 256 mapped code points.
 */
static int
byte_decode_cp(uint32_t c)
{
	if ((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))
		return (int) c;
	if (c >= 256 && c < 256 + 33)
		return (int) (c - 256);			/* 0x00..0x20 */
	if (c >= 256 + 33 && c < 256 + 67)
		return (int) (0x7F + c - 289);	/* 0x7F..0xA0 */
	if (c == 256 + 67)
		return 0xAD;
	return -1;
}

/*
 * Byte-level decoding of a BPE token text; a code point outside the map
 * gives "[UNK_BYTE_0x<hex><text>]" as llama.cpp writes it.
 */
static void
bpe_piece(const char *s, size_t len, tok_sink *sk)
{
	size_t		i = 0;

	while (i < len)
	{
		uint32_t	c = tok_utf8_decode(s, len, &i);
		int			b = byte_decode_cp(c);

		if (b >= 0)
		{
			char		ch = (char) b;

			sink_put(sk, &ch, 1);
		}
		else
		{
			char		enc[4];
			size_t		el = tok_utf8_encode(c, enc);
			char		hex[3];

			sink_put(sk, "[UNK_BYTE_0x", 12);
			for (size_t k = 0; k < el; k++)
			{
				snprintf(hex, sizeof(hex), "%02x", (unsigned char) enc[k]);
				sink_put(sk, hex, 2);
			}
			sink_put(sk, s, len);
			sink_put(sk, "]", 1);
		}
	}
}

/*
 * SentencePiece piece: the text with every U+2581 turned into a space.
 */
static void
spm_piece(const char *s, size_t len, tok_sink *sk)
{
	size_t		i = 0;

	while (i < len)
	{
		if (i + 3 <= len && memcmp(s + i, "\xe2\x96\x81", 3) == 0)
		{
			sink_put(sk, " ", 1);
			i += 3;
		}
		else
		{
			sink_put(sk, s + i, 1);
			i++;
		}
	}
}

/*
 * Bytes that token tok stands for (see tokenizer.h).
 */
int
llm_token_to_piece(const llm_tokenizer *t, int32_t tok,
				   bool render_special, char *buf, size_t cap)
{
	tok_sink	sk = {buf, buf ? cap : 0, 0};
	uint8_t		a;
	const char *s;
	size_t		len;

	if (tok < 0 || tok >= t->n_vocab)
		return -1;
	a = t->attr[tok];
	s = t->arena + t->off[tok];
	len = t->len[tok];
	if (!render_special && (a & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)))
		return 0;
	if (a & TOK_ATTR_SPECIAL)
		sink_put(&sk, s, len);
	else if (a & TOK_ATTR_NORMAL)
	{
		if (t->kind == TOK_KIND_BPE)
			bpe_piece(s, len, &sk);
		else
			spm_piece(s, len, &sk);
	}
	else if (a & TOK_ATTR_BYTE)
	{
		char		ch = (char) parse_byte_token(s, len);

		sink_put(&sk, &ch, 1);
	}
	if (sk.n > INT32_MAX)
		return INT32_MAX;
	return (int) sk.n;
}

/*
 * Concatenate the pieces of toks into a malloc'd string. With
 * add_space_prefix, one leading space of the first piece is dropped (as
 * llama.cpp's detokenizer does with remove_special off).
 */
char *
llm_detokenize(const llm_tokenizer *t, const int32_t *toks, size_t n,
			   bool render_special, char *err)
{
	size_t		total = 0;
	size_t		pos = 0;
	char	   *out;

	if (!toks && n > 0)
	{
		llm_err(err, "llm_detokenize: NULL token array");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
	{
		int			k = llm_token_to_piece(t, toks[i], render_special, NULL, 0);

		if (k < 0)
		{
			llm_err(err, "token id %d at position %zu is out of range (vocabulary has %d tokens)",
					(int) toks[i], i, (int) t->n_vocab);
			return NULL;
		}
		if (!llm_add_size(total, (size_t) k, &total))
		{
			llm_err(err, "detokenized text too large");
			return NULL;
		}
	}
	if (!llm_add_size(total, 1, &total) || !(out = malloc(total)))
	{
		llm_err(err, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
	{
		int			k = llm_token_to_piece(t, toks[i], render_special,
										   out + pos, total - 1 - pos);

		if (i == 0 && t->add_space_prefix && k > 0 && out[pos] == ' ')
		{
			memmove(out + pos, out + pos + 1, (size_t) k - 1);
			k--;
		}
		pos += (size_t) k;
	}
	out[pos] = '\0';
	return out;
}
