/*
 * wordpiece.c - BERT normaliser, pre-tokenizer and WordPiece model (see
 * wordpiece.h). Unicode properties come from utf8proc.
 */
#include "wordpiece.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "llm_util.h"

/* bytes of ordinary text a bounded tokenization encodes at a time */
#define WP_PART_BYTES 4096

typedef struct wp_special
{
	const char *s;				/* token text (points into tokens[]) */
	size_t		len;
	int32_t		id;
	bool		fold;			/* matched ignoring ASCII case (see
								 * llm_wp_fold_special) */
} wp_special;

struct llm_wordpiece
{
	llm_wp_options opt;
	int			n;
	char	  **tok;			/* n NUL-terminated tokens */
	size_t	   *tok_len;
	uint32_t	hmask;			/* hash table size - 1 */
	int32_t    *table;			/* token ids, -1 empty */
	int32_t		unk,
				cls,
				sep,
				pad;
	int			n_special;
	wp_special *special;
};

/* growable buffers used while encoding */
typedef struct wp_u32vec
{
	uint32_t   *v;
	size_t		n,
				cap;
} wp_u32vec;

typedef struct wp_i32vec
{
	int32_t    *v;
	size_t		n,
				cap;
} wp_i32vec;

/*
 * Append to a code point vector; false when out of memory.
 */
static bool
u32_push(wp_u32vec *a, uint32_t x)
{
	if (a->n == a->cap)
	{
		size_t		nc = a->cap ? a->cap * 2 : 64;
		uint32_t   *nv = realloc(a->v, nc * sizeof(uint32_t));

		if (!nv)
			return false;
		a->v = nv;
		a->cap = nc;
	}
	a->v[a->n++] = x;
	return true;
}

/*
 * Append to an id vector; false when out of memory.
 */
static bool
i32_push(wp_i32vec *a, int32_t x)
{
	if (a->n == a->cap)
	{
		size_t		nc = a->cap ? a->cap * 2 : 64;
		int32_t    *nv = realloc(a->v, nc * sizeof(int32_t));

		if (!nv)
			return false;
		a->v = nv;
		a->cap = nc;
	}
	a->v[a->n++] = x;
	return true;
}

/*
 * FNV-1a hash of a byte string.
 */
static uint32_t
wp_hash(const char *s, size_t n)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		h ^= (unsigned char) s[i];
		h *= 16777619u;
	}
	return h;
}

/*
 * Id of token s[0..n), -1 when not in the vocabulary.
 */
static int32_t
wp_lookup(const llm_wordpiece *wp, const char *s, size_t n)
{
	uint32_t	h = wp_hash(s, n) & wp->hmask;

	for (;;)
	{
		int32_t		id = wp->table[h];

		if (id < 0)
			return -1;
		if (wp->tok_len[id] == n && memcmp(wp->tok[id], s, n) == 0)
			return id;
		h = (h + 1) & wp->hmask;
	}
}

/*
 * Fill o with the BERT defaults.
 */
void
llm_wp_default_options(llm_wp_options *o)
{
	o->lowercase = true;
	o->strip_accents = -1;
	o->handle_chinese_chars = true;
	o->clean_text = true;
	o->max_input_chars_per_word = 100;
	o->unk_id = o->cls_id = o->sep_id = o->pad_id = -1;
}

/*
 * Free a tokenizer.
 */
void
llm_wp_free(llm_wordpiece *wp)
{
	int			i;

	if (!wp)
		return;
	if (wp->tok)
		for (i = 0; i < wp->n; i++)
			free(wp->tok[i]);
	free(wp->tok);
	free(wp->tok_len);
	free(wp->table);
	free(wp->special);
	free(wp);
}

/*
 * The id of a special token: the given one when it is in the vocabulary,
 * else the token called name (-1 when there is none).
 */
static int32_t
wp_special_id(const llm_wordpiece *wp, int32_t id, const char *name)
{
	if (id >= 0)
		return id < wp->n ? id : -1;
	return wp_lookup(wp, name, strlen(name));
}

/*
 * Build the tokenizer from a token list.
 */
int
llm_wp_new(llm_wordpiece **out, const char *const *tokens, const size_t *lens,
		   int n, const bool *is_special, const llm_wp_options *opt, char *err)
{
	llm_wordpiece *wp;
	uint32_t	size = 16;
	int			i;
	static const char *const names[] = {"[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"};

	*out = NULL;
	if (n <= 0 || n > (1 << 24))
		return llm_err(err, "wordpiece: bad vocabulary size %d", n);
	wp = calloc(1, sizeof(*wp));
	if (!wp)
		return llm_err(err, "out of memory");
	wp->opt = *opt;
	if (wp->opt.max_input_chars_per_word <= 0)
		wp->opt.max_input_chars_per_word = 100;
	while (size < (uint32_t) n * 2)
		size <<= 1;
	wp->hmask = size - 1;
	wp->tok = calloc((size_t) n, sizeof(char *));
	wp->tok_len = calloc((size_t) n, sizeof(size_t));
	wp->table = malloc(size * sizeof(int32_t));
	wp->special = calloc((size_t) n + 5, sizeof(wp_special));
	if (!wp->tok || !wp->tok_len || !wp->table || !wp->special)
		goto oom;
	wp->n = n;
	memset(wp->table, 0xff, size * sizeof(int32_t));
	for (i = 0; i < n; i++)
	{
		uint32_t	h;

		wp->tok[i] = malloc(lens[i] + 1);
		if (!wp->tok[i])
			goto oom;
		memcpy(wp->tok[i], tokens[i], lens[i]);
		wp->tok[i][lens[i]] = '\0';
		wp->tok_len[i] = lens[i];
		/* a later duplicate replaces the earlier one, as a map insert does */
		h = wp_hash(tokens[i], lens[i]) & wp->hmask;
		while (wp->table[h] >= 0 &&
			   !(wp->tok_len[wp->table[h]] == lens[i] &&
				 memcmp(wp->tok[wp->table[h]], tokens[i], lens[i]) == 0))
			h = (h + 1) & wp->hmask;
		wp->table[h] = i;
	}
	wp->unk = wp_special_id(wp, opt->unk_id, "[UNK]");
	wp->cls = wp_special_id(wp, opt->cls_id, "[CLS]");
	wp->sep = wp_special_id(wp, opt->sep_id, "[SEP]");
	wp->pad = wp_special_id(wp, opt->pad_id, "[PAD]");
	if (wp->unk < 0 || wp->cls < 0 || wp->sep < 0)
	{
		llm_wp_free(wp);
		return llm_err(err, "wordpiece: vocabulary lacks its unknown, start or end token ([UNK], [CLS], [SEP])");
	}
	if (wp->pad < 0)
		wp->pad = 0;
	/* special tokens matched verbatim in the input */
	for (i = 0; i < n; i++)
	{
		bool		sp = is_special ? is_special[i] : false;
		int			k;

		if (!is_special)
			for (k = 0; k < 5; k++)
				if (strcmp(wp->tok[i], names[k]) == 0)
					sp = true;
		if (sp && wp->tok_len[i] > 0 && wp_lookup(wp, wp->tok[i], wp->tok_len[i]) == i)
			wp->special[wp->n_special++] = (wp_special) {wp->tok[i], wp->tok_len[i], i, false};
	}
	*out = wp;
	return 0;

oom:
	llm_wp_free(wp);
	return llm_err(err, "out of memory");
}

/*
 * Build from vocab.txt: one token per line, '\n' or "\r\n" separated.
 */
int
llm_wp_new_vocab_txt(llm_wordpiece **out, const char *path,
					 const llm_wp_options *opt, char *err)
{
	char	   *buf;
	size_t		len,
				pos = 0;
	int			n = 0,
				cap = 0,
				rc;
	const char **toks = NULL;
	size_t	   *lens = NULL;

	*out = NULL;
	if (llm_json_read_file(path, (size_t) 64 << 20, &buf, &len, err) < 0)
		return -1;
	while (pos < len)
	{
		size_t		e = pos;

		while (e < len && buf[e] != '\n')
			e++;
		if (n == cap)
		{
			int			nc = cap ? cap * 2 : 1024;
			const char **nt = realloc(toks, (size_t) nc * sizeof(char *));
			size_t	   *nl;

			if (!nt)
				goto oom;
			toks = nt;
			nl = realloc(lens, (size_t) nc * sizeof(size_t));
			if (!nl)
				goto oom;
			lens = nl;
			cap = nc;
		}
		toks[n] = buf + pos;
		lens[n] = e - pos;
		if (lens[n] > 0 && buf[e - 1] == '\r')
			lens[n]--;
		n++;
		pos = e + 1;
	}
	rc = llm_wp_new(out, toks, lens, n, NULL, opt, err);
	free(toks);
	free(lens);
	free(buf);
	return rc;

oom:
	free(toks);
	free(lens);
	free(buf);
	return llm_err(err, "out of memory");
}

/*
 * True when a[0..n) equals b[0..n) but for the case of ASCII letters.
 */
static bool
wp_ascii_caseeq(const char *a, const char *b, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		unsigned char x = (unsigned char) a[i],
					y = (unsigned char) b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char) (x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char) (y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/*
 * Let the special token id match text that normalizes to it (see
 * wordpiece.h).
 */
void
llm_wp_fold_special(llm_wordpiece *wp, int32_t id)
{
	int			k;
	size_t		i;

	for (k = 0; k < wp->n_special; k++)
	{
		wp_special *sp = &wp->special[k];
		bool		lower_ascii = wp->opt.lowercase;

		if (sp->id != id)
			continue;
		/* folding is what the normalizer does only to lowercase ASCII */
		for (i = 0; i < sp->len && lower_ascii; i++)
			if ((unsigned char) sp->s[i] >= 0x80 || (sp->s[i] >= 'A' && sp->s[i] <= 'Z') ||
				(unsigned char) sp->s[i] < 0x20)
				lower_ascii = false;
		sp->fold = lower_ascii;
	}
}

/*
 * The id of a [text, id] pair (a BertProcessing / RobertaProcessing cls or
 * sep), -1 when v is not one.
 */
static int32_t
wp_json_pair_id(const llm_json *v)
{
	if (!v || v->type != LLM_JSON_ARRAY || v->n != 2 ||
		v->items[1].type != LLM_JSON_NUMBER || !v->items[1].is_int ||
		v->items[1].i < 0 || v->items[1].i > INT32_MAX)
		return -1;
	return (int32_t) v->items[1].i;
}

/*
 * The id of one end of a TemplateProcessing "single" template: its first
 * (last false) or last element when that is a special token with one id
 * in special_tokens; -1 otherwise.
 */
static int32_t
wp_json_template_id(const llm_json *pp, bool last)
{
	const llm_json *single = llm_json_get(pp, "single");
	const llm_json *st,
			   *ids;
	const char *name;

	if (!single || single->type != LLM_JSON_ARRAY || single->n == 0)
		return -1;
	st = llm_json_get(&single->items[last ? single->n - 1 : 0], "SpecialToken");
	name = llm_json_get_str(st, "id");
	if (!name)
		return -1;
	ids = llm_json_get(llm_json_get(llm_json_get(pp, "special_tokens"), name), "ids");
	if (!ids || ids->type != LLM_JSON_ARRAY || ids->n != 1 ||
		ids->items[0].type != LLM_JSON_NUMBER || !ids->items[0].is_int ||
		ids->items[0].i < 0 || ids->items[0].i > INT32_MAX)
		return -1;
	return (int32_t) ids->items[0].i;
}

/*
 * Read the special ids of a tokenizer.json into opt: the unknown token of
 * the model, the sequence start and end of the post-processor, the pad id.
 * toks[0..n) is the vocabulary by id.
 */
static void
wp_json_special_ids(const llm_json *root, const char *const *toks, size_t n,
					llm_wp_options *opt)
{
	const llm_json *pp = llm_json_get(root, "post_processor");
	const char *ppt = llm_json_get_str(pp, "type");
	const char *unk = llm_json_get_str(llm_json_get(root, "model"), "unk_token");
	int64_t		pad = llm_json_get_int(llm_json_get(root, "padding"), "pad_id", -1);
	size_t		i;

	if (unk)
		for (i = 0; i < n; i++)
			if (toks[i] && strcmp(toks[i], unk) == 0)
				opt->unk_id = (int32_t) i;
	if (ppt && (strcmp(ppt, "BertProcessing") == 0 || strcmp(ppt, "RobertaProcessing") == 0))
	{
		opt->cls_id = wp_json_pair_id(llm_json_get(pp, "cls"));
		opt->sep_id = wp_json_pair_id(llm_json_get(pp, "sep"));
	}
	else if (ppt && strcmp(ppt, "TemplateProcessing") == 0)
	{
		opt->cls_id = wp_json_template_id(pp, false);
		opt->sep_id = wp_json_template_id(pp, true);
	}
	if (pad >= 0 && (size_t) pad < n)
		opt->pad_id = (int32_t) pad;
}

/*
 * Build from a tokenizer.json tree.
 */
int
llm_wp_new_tokenizer_json(llm_wordpiece **out, const llm_json *root, char *err)
{
	const llm_json *model = llm_json_get(root, "model");
	const llm_json *vocab = llm_json_get(model, "vocab");
	const llm_json *norm = llm_json_get(root, "normalizer");
	const llm_json *added = llm_json_get(root, "added_tokens");
	const char *type = llm_json_get_str(model, "type");
	const char *prefix = llm_json_get_str(model, "continuing_subword_prefix");
	const llm_json *sa;
	llm_wp_options opt;
	const char **toks = NULL;
	size_t	   *lens = NULL;
	bool	   *special = NULL;
	size_t		i,
				n;
	int			rc;

	*out = NULL;
	if (!type || strcmp(type, "WordPiece") != 0)
		return llm_err(err, "tokenizer.json: model type is %s, not WordPiece", type ? type : "missing");
	if (prefix && strcmp(prefix, "##") != 0)
		return llm_err(err, "tokenizer.json: continuing_subword_prefix '%.16s' is not supported", prefix);
	if (!vocab || vocab->type != LLM_JSON_OBJECT || vocab->n == 0 || vocab->n > (1 << 24))
		return llm_err(err, "tokenizer.json: model.vocab missing or empty");
	llm_wp_default_options(&opt);
	opt.max_input_chars_per_word = (int) llm_json_get_int(model, "max_input_chars_per_word", 100);
	if (opt.max_input_chars_per_word <= 0 || opt.max_input_chars_per_word > 1000000)
		opt.max_input_chars_per_word = 100;
	if (norm && norm->type == LLM_JSON_OBJECT)
	{
		const char *nt = llm_json_get_str(norm, "type");

		if (!nt || strcmp(nt, "BertNormalizer") != 0)
			return llm_err(err, "tokenizer.json: normalizer %s is not supported", nt ? nt : "?");
		opt.lowercase = llm_json_get_bool(norm, "lowercase", true);
		opt.clean_text = llm_json_get_bool(norm, "clean_text", true);
		opt.handle_chinese_chars = llm_json_get_bool(norm, "handle_chinese_chars", true);
		sa = llm_json_get(norm, "strip_accents");
		opt.strip_accents = (sa && sa->type == LLM_JSON_BOOL) ? (sa->b ? 1 : 0) : -1;
	}
	else
	{
		opt.lowercase = false;
		opt.clean_text = false;
		opt.handle_chinese_chars = false;
		opt.strip_accents = 0;
	}
	n = vocab->n;
	toks = calloc(n, sizeof(char *));
	lens = calloc(n, sizeof(size_t));
	special = calloc(n, sizeof(bool));
	if (!toks || !lens || !special)
	{
		rc = llm_err(err, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++)
	{
		const llm_json *v = &vocab->items[i];

		if (v->type != LLM_JSON_NUMBER || !v->is_int || v->i < 0 || (size_t) v->i >= n)
		{
			rc = llm_err(err, "tokenizer.json: bad id for token '%.32s'", vocab->keys[i]);
			goto done;
		}
		if (toks[v->i])
		{
			rc = llm_err(err, "tokenizer.json: id %lld used twice", (long long) v->i);
			goto done;
		}
		toks[v->i] = vocab->keys[i];
		lens[v->i] = vocab->key_lens[i];
	}
	if (added && added->type == LLM_JSON_ARRAY)
		for (i = 0; i < added->n; i++)
		{
			int64_t		id = llm_json_get_int(&added->items[i], "id", -1);
			const char *c = llm_json_get_str(&added->items[i], "content");

			if (id >= 0 && (size_t) id < n && c && strcmp(c, toks[id]) == 0)
				special[id] = true;
		}
	wp_json_special_ids(root, toks, n, &opt);
	rc = llm_wp_new(out, toks, lens, (int) n, special, &opt, err);
	/* added tokens marked "normalized" match the normalized text */
	if (rc == 0 && added && added->type == LLM_JSON_ARRAY)
		for (i = 0; i < added->n; i++)
		{
			int64_t		id = llm_json_get_int(&added->items[i], "id", -1);

			if (id >= 0 && (size_t) id < n && special[id] &&
				llm_json_get_bool(&added->items[i], "normalized", false))
				llm_wp_fold_special(*out, (int32_t) id);
		}
done:
	free(toks);
	free(lens);
	free(special);
	return rc;
}

/*
 * Accessors.
 */
int
llm_wp_vocab_size(const llm_wordpiece *wp)
{
	return wp->n;
}

int32_t
llm_wp_cls_id(const llm_wordpiece *wp)
{
	return wp->cls;
}

int32_t
llm_wp_sep_id(const llm_wordpiece *wp)
{
	return wp->sep;
}

int32_t
llm_wp_pad_id(const llm_wordpiece *wp)
{
	return wp->pad;
}

const char *
llm_wp_token(const llm_wordpiece *wp, int32_t id)
{
	return (id >= 0 && id < wp->n) ? wp->tok[id] : NULL;
}

/*
 * White space as Rust's char::is_whitespace (Unicode White_Space).
 */
static bool
wp_is_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
		c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
		c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/*
 * Control/other characters removed by clean_text (C* except tab/CR/LF).
 */
static bool
wp_is_control(uint32_t c)
{
	utf8proc_category_t cat;

	if (c == '\t' || c == '\n' || c == '\r')
		return false;
	cat = utf8proc_category((utf8proc_int32_t) c);
	return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
		cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CO ||
		cat == UTF8PROC_CATEGORY_CN;
}

/*
 * Punctuation as BERT sees it: ASCII punctuation or Unicode P*.
 */
static bool
wp_is_punct(uint32_t c)
{
	utf8proc_category_t cat;

	if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
		(c >= 123 && c <= 126))
		return true;
	if (c < 128)
		return false;
	cat = utf8proc_category((utf8proc_int32_t) c);
	return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/*
 * CJK ideograph blocks padded with spaces by handle_chinese_chars.
 */
static bool
wp_is_cjk(uint32_t c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
		(c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
		(c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
		(c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/*
 * Decode UTF-8 text into code points (invalid bytes become U+FFFD).
 */
static bool
wp_decode(const char *s, size_t len, wp_u32vec *out)
{
	size_t		pos = 0;

	while (pos < len)
	{
		utf8proc_int32_t cp;
		utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *) s + pos,
											  (utf8proc_ssize_t) (len - pos), &cp);

		if (r <= 0)
		{
			cp = 0xFFFD;
			r = 1;
		}
		if (!u32_push(out, (uint32_t) cp))
			return false;
		pos += (size_t) r;
	}
	return true;
}

/*
 * Apply the BertNormalizer steps to in, writing code points to out.
 */
static bool
wp_normalize(const llm_wp_options *o, const wp_u32vec *in, wp_u32vec *out)
{
	bool		strip = o->strip_accents < 0 ? o->lowercase : o->strip_accents > 0;
	size_t		i;

	for (i = 0; i < in->n; i++)
	{
		uint32_t	c = in->v[i];
		utf8proc_int32_t dec[32];
		utf8proc_ssize_t nd;
		utf8proc_ssize_t k;

		if (o->clean_text)
		{
			if (c == 0 || c == 0xFFFD || wp_is_control(c))
				continue;
			if (wp_is_space(c))
				c = ' ';
		}
		if (o->handle_chinese_chars && wp_is_cjk(c))
		{
			if (!u32_push(out, ' ') || !u32_push(out, c) || !u32_push(out, ' '))
				return false;
			continue;
		}
		if (strip)
		{
			int			last = 0;

			nd = utf8proc_decompose_char((utf8proc_int32_t) c, dec, 32,
										 UTF8PROC_DECOMPOSE, &last);
			if (nd < 0 || nd > 32)
			{
				dec[0] = (utf8proc_int32_t) c;
				nd = 1;
			}
		}
		else
		{
			dec[0] = (utf8proc_int32_t) c;
			nd = 1;
		}
		for (k = 0; k < nd; k++)
		{
			uint32_t	d = (uint32_t) dec[k];

			if (strip && utf8proc_category(dec[k]) == UTF8PROC_CATEGORY_MN)
				continue;
			if (o->lowercase)
			{
				if (d == 0x130)
				{
					/* the only unconditional multi-character lowercase */
					if (!u32_push(out, 'i') || !u32_push(out, 0x307))
						return false;
					continue;
				}
				d = (uint32_t) utf8proc_tolower((utf8proc_int32_t) d);
			}
			if (!u32_push(out, d))
				return false;
		}
	}
	return true;
}

/*
 * WordPiece one word (code points w[0..n)), appending ids. buf and tmp
 * have room for 4 * n + 2 bytes, bound for n + 1 offsets.
 */
static bool
wp_word(const llm_wordpiece *wp, const uint32_t *w, size_t n, wp_i32vec *ids,
		char *buf, char *tmp, size_t *bound)
{
	size_t		blen = 0,
				i,
				start;
	size_t		first = ids->n;

	if (n > (size_t) wp->opt.max_input_chars_per_word)
		return i32_push(ids, wp->unk);
	for (i = 0; i < n; i++)
	{
		bound[i] = blen;
		blen += (size_t) utf8proc_encode_char((utf8proc_int32_t) w[i],
											  (utf8proc_uint8_t *) buf + blen);
	}
	bound[n] = blen;
	start = 0;
	while (start < n)
	{
		size_t		end = n;
		int32_t		id = -1;

		while (end > start)
		{
			size_t		l = bound[end] - bound[start];

			if (start > 0)
			{
				tmp[0] = '#';
				tmp[1] = '#';
				memcpy(tmp + 2, buf + bound[start], l);
				id = wp_lookup(wp, tmp, l + 2);
			}
			else
				id = wp_lookup(wp, buf, l);
			if (id >= 0)
				break;
			end--;
		}
		if (id < 0)
		{
			ids->n = first;
			return i32_push(ids, wp->unk);
		}
		if (!i32_push(ids, id))
			return false;
		start = end;
	}
	return true;
}

/*
 * Pre-tokenize a normalised segment and WordPiece each word.
 */
static bool
wp_segment(const llm_wordpiece *wp, const wp_u32vec *cps, wp_i32vec *ids,
		   const llm_abort *ab, bool *aborted)
{
	size_t		i = 0,
				words = 0;
	char	   *buf = malloc(cps->n * 4 + 8);
	char	   *tmp = malloc(cps->n * 4 + 8);
	size_t	   *bound = malloc((cps->n + 2) * sizeof(size_t));
	bool		okk = buf && tmp && bound;

	while (okk && i < cps->n)
	{
		size_t		j;

		if (wp_is_space(cps->v[i]))
		{
			i++;
			continue;
		}
		if (wp_is_punct(cps->v[i]))
		{
			okk = wp_word(wp, cps->v + i, 1, ids, buf, tmp, bound);
			i++;
			continue;
		}
		j = i;
		while (j < cps->n && !wp_is_space(cps->v[j]) && !wp_is_punct(cps->v[j]))
			j++;
		okk = wp_word(wp, cps->v + i, j - i, ids, buf, tmp, bound);
		i = j;
		/* a long text: ask the caller's check every 4096 words */
		if (okk && (++words & 4095) == 0 && llm_should_abort(ab))
		{
			*aborted = true;
			okk = false;
		}
	}
	free(buf);
	free(tmp);
	free(bound);
	return okk;
}

/*
 * The longest special token that starts at text[pos] (pos < len), or -1:
 * the test every encoder makes at each byte.
 */
static int
wp_special_at(const llm_wordpiece *wp, const char *text, size_t len, size_t pos)
{
	int			best = -1;

	for (int k = 0; k < wp->n_special; k++)
	{
		const wp_special *sp = &wp->special[k];

		if (sp->len <= len - pos &&
			(sp->fold ? wp_ascii_caseeq(text + pos, sp->s, sp->len)
			 : memcmp(text + pos, sp->s, sp->len) == 0) &&
			(best < 0 || sp->len > wp->special[best].len))
			best = k;
	}
	return best;
}

/*
 * Tokenize a text (see wordpiece.h).
 */
int
llm_wp_encode(const llm_wordpiece *wp, const char *text, size_t len,
			  bool add_special, int max_len, int32_t **ids, int *n_ids, char *err)
{
	return llm_wp_encode_ex(wp, text, len, add_special, max_len, NULL, ids, n_ids, err);
}

/*
 * llm_wp_encode asking ab (may be NULL) every 4096 words whether to stop
 * (see wordpiece.h).
 */
int
llm_wp_encode_ex(const llm_wordpiece *wp, const char *text, size_t len,
				 bool add_special, int max_len, const llm_abort *ab,
				 int32_t **ids, int *n_ids, char *err)
{
	bool		aborted = false;
	wp_i32vec	out = {0};
	wp_u32vec	raw = {0},
				norm = {0};
	size_t		pos = 0,
				seg = 0;
	bool		okk = true;

	*ids = NULL;
	*n_ids = 0;
	if (add_special)
		okk = i32_push(&out, wp->cls);
	while (okk && seg <= len)
	{
		/* the special token starting at pos, if any */
		int			best = pos < len ? wp_special_at(wp, text, len, pos) : -1;

		if (best < 0 && pos < len)
		{
			pos++;
			continue;
		}
		/* process text[seg..pos) as ordinary text */
		raw.n = 0;
		norm.n = 0;
		okk = wp_decode(text + seg, pos - seg, &raw) &&
			wp_normalize(&wp->opt, &raw, &norm) &&
			wp_segment(wp, &norm, &out, ab, &aborted);
		if (!okk || best < 0)
			break;
		okk = i32_push(&out, wp->special[best].id);
		pos += wp->special[best].len;
		seg = pos;
	}
	if (okk && add_special)
		okk = i32_push(&out, wp->sep);
	free(raw.v);
	free(norm.v);
	if (!okk)
	{
		free(out.v);
		return llm_err(err, aborted ? LLM_ABORT_MSG : "out of memory while tokenizing");
	}
	if (out.n > (size_t) INT32_MAX)
	{
		free(out.v);
		return llm_err(err, "text too long");
	}
	if (max_len > 0 && out.n > (size_t) max_len)
	{
		if (add_special && max_len >= 2)
		{
			out.v[max_len - 1] = wp->sep;
			out.n = (size_t) max_len;
		}
		else
			out.n = (size_t) max_len;
	}
	*ids = out.v;
	*n_ids = (int) out.n;
	return 0;
}

/* ---------------------------------------------------------------- */
/* bounded tokenization                                              */
/* ---------------------------------------------------------------- */

/* a text tokenized in parts (see wordpiece.h) */
struct llm_wp_job
{
	const llm_wordpiece *wp;
	const char *text;
	size_t		len;
	bool		add_special;
	size_t		pos;			/* scanned for special tokens up to here */
	size_t		seg;			/* ordinary text not yet normalised starts here */
	bool		done;
	bool		failed;
	wp_i32vec	out;
	wp_u32vec	raw,
				norm;

	/*
	 * The word a part ended inside, carried to the next part: its
	 * normalised code points while it has at most max chars per word, or
	 * long once it has more (its [UNK] is then out and the rest of it is
	 * only skipped).
	 */
	wp_u32vec	word;
	bool		long_word;
	size_t		words;			/* words encoded, for the abort check */
	char	   *wbuf;			/* wp_word's scratch for the word */
	char	   *wtmp;
	size_t	   *wbound;
	size_t		wcap;			/* code points they have room for */
};

/*
 * Whether ordinary text may be cut before byte pos without changing its
 * ids: the byte starts a code point (it is no UTF-8 continuation byte,
 * and decoding, which takes one byte of any invalid sequence, always
 * starts afresh at such a byte), the code point is valid, and its
 * normalised form begins with white space or punctuation, so that the
 * word before it ends there in the whole text too. The normaliser works
 * code point by code point, so both sides normalise as in the whole.
 * (Where llm_wp_encode_last() may start its suffix.)
 */
static bool
wp_cut_at(const llm_wordpiece *wp, const char *text, size_t len, size_t pos)
{
	unsigned char b = (unsigned char) text[pos];
	utf8proc_int32_t cp;
	utf8proc_ssize_t r;
	uint32_t	one;
	wp_u32vec	in = {&one, 1, 1};

	/*
	 * one code point normalises to at most 2 code points for each of the
	 * 32 of wp_normalize's decomposition buffer, or 3 (CJK padding): never
	 * more than the room here, so u32_push never reallocates this stack
	 * buffer
	 */
	uint32_t	outv[72];
	wp_u32vec	outn = {outv, 0, 72};

	if (b == ' ' || b == '\t' || b == '\n' || b == '\r')
		return true;
	if (b < 0x80)
		return wp_is_punct(b);
	if (b < 0xC0)
		return false;
	r = utf8proc_iterate((const utf8proc_uint8_t *) text + pos,
						 (utf8proc_ssize_t) (len - pos), &cp);
	if (r <= 0)
		return false;
	one = (uint32_t) cp;
	if (!wp_normalize(&wp->opt, &in, &outn))
		return false;
	return outn.n > 0 && (wp_is_space(outv[0]) || wp_is_punct(outv[0]));
}

/*
 * Start tokenizing text[0..len) in parts (see wordpiece.h).
 */
int
llm_wp_job_new(llm_wp_job **out, const llm_wordpiece *wp, const char *text, size_t len,
			   bool add_special, char *err)
{
	llm_wp_job *j;

	*out = NULL;
	if (!text && len > 0)
		return llm_err(err, "wordpiece: NULL text");
	j = calloc(1, sizeof(*j));
	if (!j)
		return llm_err(err, "out of memory");
	j->wp = wp;
	j->text = text;
	j->len = len;
	j->add_special = add_special;
	if (add_special && !i32_push(&j->out, wp->cls))
	{
		free(j);
		return llm_err(err, "out of memory");
	}
	*out = j;
	return 0;
}

/*
 * Release a job (NULL is fine).
 */
void
llm_wp_job_free(llm_wp_job *j)
{
	if (!j)
		return;
	free(j->out.v);
	free(j->raw.v);
	free(j->norm.v);
	free(j->word.v);
	free(j->wbuf);
	free(j->wtmp);
	free(j->wbound);
	free(j);
}

/*
 * Encode the job's carried word, if any (it ends here), and forget it;
 * every 4096 words ask ab whether to stop.
 */
static bool
wp_job_end_word(llm_wp_job *j, const llm_abort *ab, bool *aborted)
{
	bool		okk = true;

	if (j->word.n > 0)
	{
		if (j->word.n > j->wcap)
		{
			size_t		nc = j->word.n;
			char	   *b = realloc(j->wbuf, nc * 4 + 8);
			char	   *t;
			size_t	   *bd;

			if (b)
				j->wbuf = b;
			t = b ? realloc(j->wtmp, nc * 4 + 8) : NULL;
			if (t)
				j->wtmp = t;
			bd = t ? realloc(j->wbound, (nc + 2) * sizeof(size_t)) : NULL;
			if (!bd)
				return false;
			j->wbound = bd;
			j->wcap = nc;
		}
		okk = wp_word(j->wp, j->word.v, j->word.n, &j->out, j->wbuf, j->wtmp, j->wbound);
	}
	if (j->word.n > 0 || j->long_word)
	{
		if (okk && (++j->words & 4095) == 0 && llm_should_abort(ab))
		{
			*aborted = true;
			okk = false;
		}
	}
	j->word.n = 0;
	j->long_word = false;
	return okk;
}

/*
 * Feed normalised code points to the job's pre-tokenizer and WordPiece:
 * what wp_segment() does to the whole ordinary text, with the word at
 * the end carried over (a word of more than max chars per word is one
 * [UNK] whatever follows, so its code points are not kept once it is
 * that long).
 */
static bool
wp_job_feed(llm_wp_job *j, const wp_u32vec *cps, const llm_abort *ab, bool *aborted)
{
	const llm_wordpiece *wp = j->wp;
	size_t		max = (size_t) wp->opt.max_input_chars_per_word;

	for (size_t i = 0; i < cps->n; i++)
	{
		uint32_t	c = cps->v[i];

		if (wp_is_space(c))
		{
			if (!wp_job_end_word(j, ab, aborted))
				return false;
			continue;
		}
		if (wp_is_punct(c))
		{
			uint32_t	one = c;
			char		b[8],
						t[8];
			size_t		bd[2];

			if (!wp_job_end_word(j, ab, aborted) ||
				!wp_word(wp, &one, 1, &j->out, b, t, bd))
				return false;
			continue;
		}
		if (j->long_word)
			continue;
		if (!u32_push(&j->word, c))
			return false;
		if (j->word.n > max)
		{
			j->word.n = 0;
			j->long_word = true;
			if (!i32_push(&j->out, wp->unk))
				return false;
		}
	}
	return true;
}

/*
 * Normalise and encode the ordinary text text[seg..end) of a job; last
 * when the ordinary text ends at end (a special token or the end of the
 * text follows), so that its last word ends there too.
 */
static bool
wp_job_flush(llm_wp_job *j, size_t end, bool last, const llm_abort *ab, bool *aborted)
{
	j->raw.n = 0;
	j->norm.n = 0;
	if (!wp_decode(j->text + j->seg, end - j->seg, &j->raw) ||
		!wp_normalize(&j->wp->opt, &j->raw, &j->norm) ||
		!wp_job_feed(j, &j->norm, ab, aborted))
		return false;
	return !last || wp_job_end_word(j, ab, aborted);
}

/*
 * Whether the decoding of ordinary text passes through byte pos, so that
 * it may be cut there: no UTF-8 sequence can reach over pos when byte pos
 * is no continuation byte or the three bytes before it are (a lead byte
 * takes at most three), and decoding takes one byte of any invalid
 * sequence, so it always starts afresh at such a place.
 */
static bool
wp_decode_cut(const char *text, size_t seg, size_t pos)
{
	if (((unsigned char) text[pos] & 0xC0) != 0x80)
		return true;
	if (pos - seg < 3)
		return false;
	for (int k = 1; k <= 3; k++)
		if (((unsigned char) text[pos - k] & 0xC0) != 0x80)
			return false;
	return true;
}

/*
 * Do about budget bytes of a job's work (see wordpiece.h): the scan goes
 * on as llm_wp_encode_ex()'s does, but once budget bytes of ordinary text
 * are pending it normalises and encodes them at the next place where
 * decoding starts afresh (wp_decode_cut), the word they end in being
 * carried to the next part, and returns after budget bytes in all.
 */
int
llm_wp_job_run(llm_wp_job *j, size_t budget, const llm_abort *ab, char *err)
{
	const llm_wordpiece *wp = j->wp;
	size_t		start = j->pos;
	bool		aborted = false;
	bool		okk = true;

	if (j->failed)
		return llm_err(err, "llm_wp_job_run: the job has failed");
	if (budget == 0)
		budget = 1;
	if (llm_should_abort(ab))
		aborted = true, okk = false;
	while (okk && !j->done)
	{
		int			best = -1;
		bool		cut = false;

		if (j->pos < j->len)
		{
			best = wp_special_at(wp, j->text, j->len, j->pos);
			if (best < 0)
			{
				cut = j->pos - j->seg >= budget && wp_decode_cut(j->text, j->seg, j->pos);
				if (!cut)
				{
					j->pos++;
					continue;
				}
			}
		}
		okk = wp_job_flush(j, j->pos, !cut, ab, &aborted);
		if (!okk)
			break;
		j->seg = j->pos;
		if (cut)
			break;				/* budget bytes were encoded */
		if (best < 0)
		{
			if (j->add_special)
				okk = i32_push(&j->out, wp->sep);
			j->done = true;
			break;
		}
		okk = i32_push(&j->out, wp->special[best].id);
		j->pos += wp->special[best].len;
		j->seg = j->pos;
		if (j->pos - start >= budget)
			break;
	}
	if (okk && j->out.n > (size_t) INT32_MAX)
	{
		j->failed = true;
		return llm_err(err, "text too long");
	}
	if (!okk)
	{
		j->failed = true;
		return llm_err(err, aborted ? LLM_ABORT_MSG : "out of memory while tokenizing");
	}
	return j->done ? 1 : 0;
}

/*
 * Bytes of the text the job has done so far.
 */
size_t
llm_wp_job_pos(const llm_wp_job *j)
{
	return j->seg;
}

/*
 * Ids the job has made so far: a prefix of the final ones.
 */
size_t
llm_wp_job_n_ids(const llm_wp_job *j)
{
	return j->out.n;
}

/*
 * Hand over the ids made so far (see wordpiece.h); the job is then
 * finished with.
 */
int
llm_wp_job_take(llm_wp_job *j, int32_t **ids, int *n_ids, char *err)
{
	*ids = NULL;
	*n_ids = 0;
	if (j->failed)
		return llm_err(err, "llm_wp_job_take: the job has failed");
	if (!j->out.v && (j->out.v = malloc(sizeof(int32_t))) == NULL)
		return llm_err(err, "out of memory");
	*ids = j->out.v;
	*n_ids = (int) j->out.n;
	j->out = (wp_i32vec) {0};
	j->failed = true;
	return 0;
}

/*
 * The ids of text with [CLS] ... [SEP] cut to its first max_len, made in
 * parts that stop once the whole text is known to have more than
 * count_cap ids (see wordpiece.h).
 */
int
llm_wp_encode_first(const llm_wordpiece *wp, const char *text, size_t len, int max_len,
					int count_cap, const llm_abort *ab, int32_t **ids, int *n_ids,
					int *n_whole, char *err)
{
	llm_wp_job *j;
	int			rc = 0;

	*ids = NULL;
	*n_ids = 0;
	*n_whole = 0;
	if (max_len < 2 || count_cap < max_len)
		return llm_err(err, "wordpiece: bad cut %d / count cap %d", max_len, count_cap);
	if (llm_wp_job_new(&j, wp, text, len, true, err) < 0)
		return -1;
	while (rc == 0 && j->out.n <= (size_t) count_cap)
		rc = llm_wp_job_run(j, WP_PART_BYTES, ab, err);
	if (rc < 0 || llm_wp_job_take(j, ids, n_ids, err) < 0)
	{
		llm_wp_job_free(j);
		return -1;
	}
	llm_wp_job_free(j);
	/* stopped early: more than count_cap ids, the [SEP] not yet counted */
	*n_whole = rc == 1 && *n_ids <= count_cap ? *n_ids : count_cap + 1;
	if (*n_ids > max_len)
	{
		(*ids)[max_len - 1] = wp->sep;
		*n_ids = max_len;
	}
	return 0;
}

/*
 * Mark in inner[] the bytes that lie inside (not at the start of) some
 * special token's text: a cut before such a byte could split an
 * occurrence.
 */
static void
wp_special_inner(const llm_wordpiece *wp, bool *inner)
{
	memset(inner, 0, 256 * sizeof(bool));
	for (int k = 0; k < wp->n_special; k++)
		for (size_t i = 1; i < wp->special[k].len; i++)
		{
			unsigned char c = (unsigned char) wp->special[k].s[i];

			inner[c] = true;
			/* a folded token also occurs with its letters in upper case */
			if (wp->special[k].fold && c >= 'a' && c <= 'z')
				inner[c - 'a' + 'A'] = true;
		}
}

/*
 * llm_wp_encode(wp, text, len, false, 0) done by a job in parts of
 * WP_PART_BYTES, asking ab before each: its memory is that of one part
 * and the ids, whatever the text.
 */
static int
wp_encode_parts(const llm_wordpiece *wp, const char *text, size_t len,
				const llm_abort *ab, int32_t **ids, int *n_ids, char *err)
{
	llm_wp_job *j;
	int			rc = 0;

	*ids = NULL;
	*n_ids = 0;
	if (llm_wp_job_new(&j, wp, text, len, false, err) < 0)
		return -1;
	while (rc == 0)
		rc = llm_wp_job_run(j, WP_PART_BYTES, ab, err);
	if (rc < 0 || llm_wp_job_take(j, ids, n_ids, err) < 0)
		rc = -1;
	llm_wp_job_free(j);
	return rc < 0 ? -1 : 0;
}

/*
 * The ids of text with [CLS] ... [SEP] keeping its last max_len (see
 * wordpiece.h): a suffix of the text, cut where neither the split on
 * special tokens (no special token has the byte there after its first)
 * nor the words (wp_cut_at) can differ from the whole text, is tokenized
 * alone, its ids being then the last ids of the whole; a suffix with too
 * few is doubled until it has enough or is the whole text.
 */
int
llm_wp_encode_last(const llm_wordpiece *wp, const char *text, size_t len, int max_len,
				   const llm_abort *ab, int32_t **ids, int *n_ids, char *err)
{
	size_t		want;			/* ids between [CLS] and [SEP] */
	size_t		window;
	bool		inner[256];

	*ids = NULL;
	*n_ids = 0;
	if (max_len < 2)
		return llm_err(err, "wordpiece: bad cut %d", max_len);
	want = (size_t) max_len - 2;
	window = 8 * want + 4096;
	wp_special_inner(wp, inner);
	for (;;)
	{
		size_t		c = len > window ? len - window : 0;
		int32_t    *v = NULL;
		int			n = 0;

		/* back to the nearest place where the suffix may start */
		while (c > 0 && (!wp_cut_at(wp, text, len, c) || inner[(unsigned char) text[c]]))
			c--;
		if (wp_encode_parts(wp, text + c, len - c, ab, &v, &n, err) < 0)
			return -1;
		if ((size_t) n >= want || c == 0)
		{
			size_t		keep = (size_t) n < want ? (size_t) n : want;
			int32_t    *res = malloc((keep + 2) * sizeof(int32_t));

			if (!res)
			{
				free(v);
				return llm_err(err, "out of memory");
			}
			res[0] = wp->cls;
			if (keep > 0)
				memcpy(res + 1, v + (size_t) n - keep, keep * sizeof(int32_t));
			res[keep + 1] = wp->sep;
			free(v);
			*ids = res;
			*n_ids = (int) keep + 2;
			return 0;
		}
		free(v);
		if (window > len)
			window = len;		/* the whole text next */
		else
			window *= 2;
	}
}
