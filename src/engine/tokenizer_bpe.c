/*
 * tokenizer_bpe.c - byte-level BPE ("gpt2" tokenizer model).
 *
 * Steps, as in llama.cpp: the text is decoded into code points (an invalid
 * byte becomes U+FFFD), split by the pre-tokenizer's regexes one after the
 * other (each regex splits every piece the previous ones left; text between
 * matches stays a piece of its own), every piece is mapped byte by byte to
 * GPT-2's printable code points, and BPE merges are applied inside each
 * piece, lowest merge rank first (ties: leftmost first).
 *
 * Regexes run on PCRE2 with UTF and UCP. llama.cpp runs them either through
 * hand-written matchers or std::regex on a text where each non-ASCII code
 * point is collapsed to its category; both treat "\s" as the Unicode
 * White_Space set, which is why the patterns below spell \p{White_Space}
 * instead of \s (PCRE2's \s also matches U+180E). Where llama.cpp matched
 * literal ranges against a text whose non-ASCII spaces had been replaced,
 * the ranges here leave those spaces out.
 */
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"
#include "tokenizer_int.h"

#define WS	"\\p{White_Space}"
#define NWS "\\P{White_Space}"

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static const char k_re_gpt2[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|"
	WS "+(?!" NWS ")|" WS "+";

#define CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"

/* Llama 3 (with \p{N}{1,3}) and Qwen 2 (with single \p{N}) */
static const char k_re_llama3[] =
	CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|"
	WS "*[\\r\\n]+|" WS "+(?!" NWS ")|" WS "+";
static const char k_re_qwen2[] =
	CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|"
	WS "*[\\r\\n]+|" WS "+(?!" NWS ")|" WS "+";

/* Tekken and GPT-4o: upper*lower+ / upper+lower* words ("upper" = a letter not a-z) */
#define UPPER "(?:(?=\\p{L})[^a-z])"
#define LOWER "(?:(?=\\p{L})[^A-Z])"
static const char k_re_tekken[] =
	"[^\\r\\n\\p{L}\\p{N}]?" UPPER "*" LOWER "+|[^\\r\\n\\p{L}\\p{N}]?" UPPER "+" LOWER "*|"
	"\\p{N}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n/]*|" WS "*[\\r\\n]+|" WS "+(?!" NWS ")|" WS "+";
static const char k_re_gpt4o[] =
	"[^\\r\\n\\p{L}\\p{N}]?" UPPER "*" LOWER "+" CONTRACTIONS "?|"
	"[^\\r\\n\\p{L}\\p{N}]?" UPPER "+" LOWER "*" CONTRACTIONS "?|"
	"\\p{N}{1,3}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n/]*|" WS "*[\\r\\n]+|" WS "+(?!" NWS ")|" WS "+";

/* CJK ranges used by the DeepSeek pre-tokenizers, white space excluded */
#define CJK "(?:(?!" WS ")[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}])+"

/* DeepSeek LLM: Latin/Greek/Cyrillic/... letters listed by range */
static const char k_re_deepseek_letters[] =
	WS "?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
	"\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
	"\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"
	"\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"
	"\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
	"\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"
	"\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}"
	"\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}"
	"\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"
	"\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
	"\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"
	"\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}"
	"\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}"
	"\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
	"\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}"
	"\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
	"\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
	"\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+";
static const char k_re_deepseek_punct[] =
	WS "?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3001}-\\x{3002}]+";

/* one pre-tokenizer: the names that select it and its regexes */
typedef struct bpe_pre
{
	const char *names[12];		/* NULL-terminated */
	const char *regex[TOK_MAX_REGEX];	/* NULL-terminated */
	bool		ignore_merges;
	bool		add_bos;
} bpe_pre;

static const bpe_pre k_pre[] = {
	{{"default"}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", k_re_gpt2, "\\p{N}+", "[0-9][0-9][0-9]"}, false, false},
	{{"gpt2", "gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion", "exaone4",
	  "granite-docling", "gigachat", "a.x-4.0", "mellum"}, {k_re_gpt2}, false, false},
	{{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone",
	  "minerva-7b", "mellum2"}, {"\\p{N}", k_re_gpt2}, false, false},
	{{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
	  "midm-2.0", "lfm2", "jina-v5-nano"}, {k_re_llama3}, true, true},
	{{"dbrx", "smaug-bpe"}, {k_re_llama3}, false, false},
	{{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2",
	  "hunyuan", "solar-open"}, {k_re_qwen2}, false, false},
	{{"deepseek-llm"}, {"[\\r\\n]", k_re_deepseek_letters, k_re_deepseek_punct,
						WS "+\\z", CJK, "\\p{N}+"}, false, false},
	{{"deepseek-coder"}, {"[\\r\\n]", WS "?\\p{L}+", WS "?\\p{P}+", CJK, "\\p{N}"}, false, false},
	{{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", k_re_gpt2, "[0-9][0-9][0-9]"}, false, false},
	{{"tekken"}, {k_re_tekken}, true, true},
	{{"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}, {k_re_gpt4o}, false, false},
};

/* a BPE symbol: a slice of the word, linked to its neighbours */
typedef struct bpe_sym
{
	int32_t		prev;
	int32_t		next;
	uint32_t	start;
	uint32_t	n;
} bpe_sym;

/* a candidate merge of symbols left and right, with their sizes then */
typedef struct bpe_pair
{
	int32_t		rank;
	int32_t		left;
	int32_t		right;
	uint32_t	ln;
	uint32_t	rn;
} bpe_pair;

/* per-call scratch space */
typedef struct bpe_work
{
	char	   *word;			/* byte-encoded piece */
	size_t		word_cap;
	bpe_sym    *sym;
	size_t		sym_cap;
	tok_heap	heap;			/* of bpe_pair, by pair_before */
	/* a word under way (bpe_word_more): what is left of it */
	int			phase;			/* BPE_WORD_IDLE, _PAIRS or _MERGE */
	size_t		len;			/* bytes of word */
	int32_t		ns;				/* its symbols */
	int32_t		next_pair;		/* symbol whose pair with the one before
								 * goes on the heap next */
} bpe_work;

enum
{
	BPE_WORD_IDLE = 0,			/* no word under way */
	BPE_WORD_PAIRS,				/* filling the heap */
	BPE_WORD_MERGE				/* merging */
};


/*
 * Hash of a merge key: the concatenated text and where it splits.
 */
static uint32_t
merge_hash(const char *s, size_t total, size_t left)
{
	uint64_t	h = tok_hash_bytes(s, total) ^ ((uint64_t) left * 0x9E3779B97F4A7C15ULL);

	h ^= h >> 29;
	return (uint32_t) h;
}

/*
 * Rank of the merge of s[0..left) with s[left..total), or -1.
 */
static int32_t
merge_rank(const llm_tokenizer *t, const char *s, size_t left, size_t total)
{
	uint32_t	h = merge_hash(s, total, left) & t->m_mask;

	for (;;)
	{
		int32_t		m = t->m_hash[h];

		if (m < 0)
			return -1;
		if (t->m_left[m] == left && t->m_left[m] + t->m_right[m] == total &&
			memcmp(t->m_arena + t->m_off[m], s, total) == 0)
			return m;
		h = (h + 1) & t->m_mask;
	}
}

/*
 * Load tokenizer.ggml.merges ("left right" strings; the split is the first
 * space after the first byte). Both halves must be tokens. A repeated merge
 * keeps its first rank.
 */
int
tok_bpe_load_merges(llm_tokenizer *t, const gguf_file *f, char *err)
{
	const gguf_kv *kv;
	char		sub[LLM_ERRLEN];
	int			rc = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_STRING, &kv, sub);
	size_t		total = 0;
	size_t		cap;
	size_t		pos = 0;
	uint32_t	n;

	if (rc < 0)
		return llm_err(err, "tokenizer.ggml.merges must be an array of STRING (%s)", sub);
	if (rc == 0)
		return llm_err(err, "tokenizer.ggml.merges is missing (required by the gpt2 tokenizer)");
	if (kv->v.arr.n > (1u << 26))
		return llm_err(err, "tokenizer.ggml.merges has too many entries (%llu)",
					   (unsigned long long) kv->v.arr.n);
	n = (uint32_t) kv->v.arr.n;
	for (uint32_t i = 0; i < n; i++)
		if (!llm_add_size(total, kv->v.arr.strs[i].len, &total))
			return llm_err(err, "tokenizer.ggml.merges too large");
	if (total > UINT32_MAX)
		return llm_err(err, "tokenizer.ggml.merges exceeds 4 GiB");

	for (cap = 16; cap < (size_t) n * 2; cap <<= 1)
		;
	t->m_arena = malloc(total ? total : 1);
	t->m_off = malloc((n ? n : 1) * sizeof(uint32_t));
	t->m_left = malloc((n ? n : 1) * sizeof(uint32_t));
	t->m_right = malloc((n ? n : 1) * sizeof(uint32_t));
	t->m_hash = malloc(cap * sizeof(int32_t));
	if (!t->m_arena || !t->m_off || !t->m_left || !t->m_right || !t->m_hash)
		return llm_err(err, "out of memory loading merges");
	memset(t->m_hash, 0xff, cap * sizeof(int32_t));
	t->m_mask = (uint32_t) (cap - 1);

	for (uint32_t i = 0; i < n; i++)
	{
		const char *s = kv->v.arr.strs[i].ptr;
		size_t		len = strnlen(s, kv->v.arr.strs[i].len);
		const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
		size_t		left, right;
		uint32_t	h;

		if (!sp)
			return llm_err(err, "tokenizer.ggml.merges[%u] is malformed (no space separating two tokens)", i);
		left = (size_t) (sp - s);
		right = len - left - 1;
		if (tok_lookup(t, s, left) < 0 || tok_lookup(t, sp + 1, right) < 0)
			return llm_err(err, "tokenizer.ggml.merges[%u] \"%.48s\" names a token not in the vocabulary",
						   i, s);
		memcpy(t->m_arena + pos, s, left);
		memcpy(t->m_arena + pos + left, sp + 1, right);
		t->m_off[i] = (uint32_t) pos;
		t->m_left[i] = (uint32_t) left;
		t->m_right[i] = (uint32_t) right;
		pos += left + right;

		h = merge_hash(t->m_arena + t->m_off[i], left + right, left) & t->m_mask;
		for (;;)
		{
			int32_t		m = t->m_hash[h];

			if (m < 0)
			{
				t->m_hash[h] = (int32_t) i;
				break;
			}
			if (t->m_left[m] == left && t->m_left[m] + t->m_right[m] == left + right &&
				memcmp(t->m_arena + t->m_off[m], t->m_arena + t->m_off[i], left + right) == 0)
				break;			/* duplicate: keep the first rank */
			h = (h + 1) & t->m_mask;
		}
	}
	t->n_merges = n;
	return 0;
}

/*
 * Select the pre-tokenizer named pre, compile its regexes and build the
 * byte -> code point table. An unknown name is an error naming it.
 */
int
tok_bpe_setup_pre(llm_tokenizer *t, const char *pre, char *err)
{
	const bpe_pre *p = NULL;
	int			n = 0;

	for (size_t k = 0; k < sizeof(k_pre) / sizeof(k_pre[0]) && !p; k++)
		for (int j = 0; j < 12 && k_pre[k].names[j]; j++)
			if (strcmp(k_pre[k].names[j], pre) == 0)
			{
				p = &k_pre[k];
				break;
			}
	if (!p)
		return llm_err(err, "unknown pre-tokenizer \"%.64s\" (tokenizer.ggml.pre)", pre);

	for (int k = 0; k < TOK_MAX_REGEX && p->regex[k]; k++)
	{
		int			ec;
		PCRE2_SIZE	eo;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR) p->regex[k], PCRE2_ZERO_TERMINATED,
									   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK,
									   &ec, &eo, NULL);

		if (!re)
		{
			PCRE2_UCHAR msg[120];

			pcre2_get_error_message(ec, msg, sizeof(msg));
			return llm_err(err, "pre-tokenizer \"%.32s\": regex %d does not compile at %zu: %s",
						   pre, k, (size_t) eo, (const char *) msg);
		}
		(void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);	/* optional speed-up */
		t->regex[n++] = re;
		t->n_regex = n;
	}
	t->ignore_merges = p->ignore_merges;
	t->pre_name = p->names[0];
	if (p->add_bos)
		t->add_bos = true;

	/* GPT-2 bytes_to_unicode: printable Latin-1 maps to itself, the rest to 256+ */
	for (int b = 0, extra = 0; b < 256; b++)
	{
		uint32_t	c;

		if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
			c = (uint32_t) b;
		else
			c = (uint32_t) (256 + extra++);
		t->byte_enc_len[b] = (uint8_t) tok_utf8_encode(c, t->byte_enc[b]);
	}
	return 0;
}

/*
 * Free the compiled regexes.
 */
void
tok_bpe_free(llm_tokenizer *t)
{
	for (int k = 0; k < t->n_regex; k++)
		pcre2_code_free(t->regex[k]);
	t->n_regex = 0;
	free(t->m_arena);
	free(t->m_off);
	free(t->m_left);
	free(t->m_right);
	free(t->m_hash);
}

/*
 * Heap order: lower rank first, then the leftmost pair.
 */
static bool
pair_before(const void *a, const void *b)
{
	const bpe_pair *pa = a;
	const bpe_pair *pb = b;

	return pa->rank < pb->rank || (pa->rank == pb->rank && pa->left < pb->left);
}

/*
 * Push a candidate merge of symbols l and r if the merge exists.
 */
static int
pair_add(const llm_tokenizer *t, bpe_work *w, int32_t l, int32_t r)
{
	bpe_pair	p;

	if (l < 0 || r < 0)
		return 0;
	p.rank = merge_rank(t, w->word + w->sym[l].start, w->sym[l].n,
						(size_t) w->sym[l].n + w->sym[r].n);
	if (p.rank < 0)
		return 0;
	p.left = l;
	p.right = r;
	p.ln = w->sym[l].n;
	p.rn = w->sym[r].n;
	return tok_heap_push(&w->heap, &p);
}

/*
 * Apply BPE to the byte-encoded word in w->word[0..w->len) and append
 * ids, doing at most about budget - *used heap operations before it
 * returns 0 (the word is then left under way in w, and the next call
 * goes on with it); 1 once its ids are appended, -1 when out of memory.
 * Each operation adds one to *used and is counted by tok_tick(); a stop
 * asked for there sets *stop and returns -1. The ids are those of doing
 * it in one go: the heap and the symbols simply wait in w. A final
 * symbol that is not a token falls back to its single bytes (each looked
 * up as a one-byte token and dropped when absent), as in llama.cpp.
 */
static int
bpe_word_more(const llm_tokenizer *t, bpe_work *w, size_t budget, size_t *used,
			  tok_check *ck, bool *stop, tok_vec *out)
{
	int32_t		id;

	if (w->phase == BPE_WORD_IDLE)
	{
		size_t		len = w->len;
		int32_t		ns = 0;

		if (t->ignore_merges && (id = tok_lookup(t, w->word, len)) >= 0)
			return tok_vec_push(out, id) < 0 ? -1 : 1;
		if (len > w->sym_cap)
		{
			bpe_sym    *sy = realloc(w->sym, len * sizeof(bpe_sym));

			if (!sy)
				return -1;
			w->sym = sy;
			w->sym_cap = len;
		}
		for (size_t off = 0; off < len; ns++)
		{
			size_t		cl = tok_utf8_len((unsigned char) w->word[off]);

			if (cl > len - off)
				cl = len - off;
			w->sym[ns].start = (uint32_t) off;
			w->sym[ns].n = (uint32_t) cl;
			w->sym[ns].prev = ns - 1;
			off += cl;
			w->sym[ns].next = off == len ? -1 : ns + 1;
		}
		w->ns = ns;
		w->heap.n = 0;
		w->next_pair = 1;
		w->phase = BPE_WORD_PAIRS;
	}
	for (; w->phase == BPE_WORD_PAIRS && w->next_pair < w->ns; w->next_pair++)
	{
		if (*used >= budget)
			return 0;
		if (tok_tick(ck))
			return *stop = true, -1;
		(*used)++;
		if (pair_add(t, w, w->next_pair - 1, w->next_pair) < 0)
			return -1;
	}
	w->phase = BPE_WORD_MERGE;
	while (w->heap.n > 0)
	{
		bpe_pair	p;
		bpe_sym    *l, *r;

		if (*used >= budget)
			return 0;
		if (tok_tick(ck))
			return *stop = true, -1;
		(*used)++;
		tok_heap_pop(&w->heap, &p);
		l = &w->sym[p.left];
		r = &w->sym[p.right];
		if (l->n == 0 || r->n == 0 || l->n != p.ln || r->n != p.rn)
			continue;			/* stale */
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			w->sym[r->next].prev = p.left;
		if (pair_add(t, w, l->prev, p.left) < 0 || pair_add(t, w, p.left, l->next) < 0)
			return -1;
	}
	w->phase = BPE_WORD_IDLE;

	for (int32_t i = 0; i >= 0 && w->ns > 0; i = w->sym[i].next)
	{
		const char *s = w->word + w->sym[i].start;

		id = tok_lookup(t, s, w->sym[i].n);
		if (id >= 0)
		{
			if (tok_vec_push(out, id) < 0)
				return -1;
			continue;
		}
		for (uint32_t k = 0; k < w->sym[i].n; k++)
		{
			id = tok_lookup(t, s + k, 1);
			if (id >= 0 && tok_vec_push(out, id) < 0)
				return -1;
		}
	}
	return 1;
}

/*
 * One byte-level BPE encoding in progress (tok_bpe_begin): the text
 * re-encoded, the piece ends of the regex pass under way, and where that
 * pass (or, after the last regex, the merging) stands.
 */
struct tok_bpe_run
{
	char	   *canon;			/* code points re-encoded as llama.cpp does */
	char	   *subj;			/* same, surrogates replaced for PCRE2 */
	uint32_t   *ends;			/* piece ends before the current regex */
	uint32_t   *nends;			/* piece ends it has produced */
	size_t		n;				/* entries of ends */
	size_t		k;				/* entries of nends so far */
	pcre2_match_data *md;
	bpe_work	w;
	int			level;			/* regex being applied; n_regex: merging */
	size_t		i;				/* piece of ends under way */
	size_t		start;			/* match start inside piece i */
	size_t		done;			/* end of the last match inside piece i */
};

/*
 * Prepare the encoding of text[0..len) (see tokenizer_int.h).
 */
int
tok_bpe_begin(const llm_tokenizer *t, const char *text, size_t len,
			  tok_bpe_run **out, char *err)
{
	tok_bpe_run *r;
	size_t		cap, clen = 0, ncp = 0;

	*out = NULL;
	if (!llm_mul_size(len, 3, &cap) || cap > UINT32_MAX)
		return llm_err(err, "text too long to tokenize (%zu bytes)", len);
	r = calloc(1, sizeof(*r));
	if (!r)
		return llm_err(err, "out of memory while tokenizing");
	r->w = (bpe_work) {.heap = TOK_HEAP_INIT(bpe_pair, pair_before)};
	r->canon = malloc(cap ? cap : 1);
	r->subj = malloc(cap ? cap : 1);
	if (!r->canon || !r->subj)
		goto oom;
	for (size_t i = 0; i < len; ncp++)
	{
		uint32_t	c = tok_utf8_decode(text, len, &i);
		size_t		k = tok_utf8_encode(c, r->canon + clen);

		if (c >= 0xD800 && c <= 0xDFFF)
			tok_utf8_encode(0xE000, r->subj + clen);	/* same length, also \p{C} */
		else
			memcpy(r->subj + clen, r->canon + clen, k);
		clen += k;
	}
	r->ends = malloc((ncp ? ncp : 1) * sizeof(uint32_t));
	r->nends = malloc((ncp ? ncp : 1) * sizeof(uint32_t));
	r->md = pcre2_match_data_create(4, NULL);
	if (!r->ends || !r->nends || !r->md)
		goto oom;
	r->ends[0] = (uint32_t) clen;
	r->n = len > 0 ? 1 : 0;
	*out = r;
	return 0;

oom:
	tok_bpe_end(r);
	return llm_err(err, "out of memory while tokenizing");
}

/*
 * Release an encoding in progress (NULL is fine).
 */
void
tok_bpe_end(tok_bpe_run *r)
{
	if (!r)
		return;
	pcre2_match_data_free(r->md);
	free(r->canon);
	free(r->subj);
	free(r->ends);
	free(r->nends);
	free(r->w.word);
	free(r->w.sym);
	tok_heap_free(&r->w.heap);
	free(r);
}

/*
 * Go on splitting the pieces of r->ends with regex re, writing the new
 * end offsets to r->nends, until the pass is over (1) or *used, to which
 * the bytes scanned are added, has reached budget (0). Each match counts
 * one tick of ck; a stop returns -1 with LLM_ABORT_MSG.
 */
static int
split_regex_more(const pcre2_code *re, tok_bpe_run *r, size_t budget,
				 size_t *used, tok_check *ck, char *err)
{
	size_t		scanned = *used;

	for (; r->i < r->n; r->i++, r->start = 0, r->done = 0)
	{
		uint32_t	base = r->i > 0 ? r->ends[r->i - 1] : 0;
		const char *ps = r->subj + base;
		size_t		plen = r->ends[r->i] - base;

		while (r->start < plen)
		{
			int			rc;
			PCRE2_SIZE *ov;

			if (scanned >= budget)
			{
				*used = scanned;
				return 0;
			}
			rc = pcre2_match(re, (PCRE2_SPTR) ps, plen, r->start,
							 PCRE2_NO_UTF_CHECK, r->md, NULL);
			if (tok_tick(ck))
				return llm_err(err, LLM_ABORT_MSG);
			if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
				rc = pcre2_match(re, (PCRE2_SPTR) ps, plen, r->start,
								 PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, r->md, NULL);
			if (rc == PCRE2_ERROR_NOMATCH)
				break;
			if (rc < 0)
			{
				PCRE2_UCHAR msg[120];

				pcre2_get_error_message(rc, msg, sizeof(msg));
				return llm_err(err, "pre-tokenizer regex failed: %s", (const char *) msg);
			}
			ov = pcre2_get_ovector_pointer(r->md);
			if (ov[1] <= ov[0])
			{
				/* empty match: skip one character */
				size_t		next = ov[0] + tok_utf8_len((unsigned char) ps[ov[0]]);

				scanned += next - r->start;
				r->start = next;
				continue;
			}
			if (ov[0] > r->done)
				r->nends[r->k++] = base + (uint32_t) ov[0];
			r->nends[r->k++] = base + (uint32_t) ov[1];
			scanned += ov[1] - r->start;
			r->done = ov[1];
			r->start = ov[1];
		}
		scanned += plen - (r->start < plen ? r->start : plen);
		if (r->done < plen)
			r->nends[r->k++] = r->ends[r->i];
	}
	*used = scanned;
	return 1;
}

/*
 * Go on with an encoding (see tokenizer_int.h): the regex passes, one
 * after the other, then BPE inside each piece; the bytes done are added
 * to *used and the call returns once it reaches budget.
 */
int
tok_bpe_more(const llm_tokenizer *t, tok_bpe_run *r, size_t budget, size_t *used,
			 tok_check *ck, tok_vec *out, char *err)
{
	size_t		cap;

	if (budget == 0)
		budget = 1;
	while (r->level < t->n_regex)
	{
		int			rc = split_regex_more(t->regex[r->level], r, budget, used, ck, err);
		uint32_t   *tmp;

		if (rc <= 0)
			return rc;
		tmp = r->ends;
		r->ends = r->nends;
		r->nends = tmp;
		r->n = r->k;
		r->k = 0;
		r->i = 0;
		r->start = 0;
		r->done = 0;
		r->level++;
		if (*used >= budget)
			return 0;
	}

	for (; r->i < r->n; r->i++)
	{
		size_t		a = r->i > 0 ? r->ends[r->i - 1] : 0;
		size_t		wl = 0;
		bool		stop = false;
		int			rc;

		if (*used >= budget)
			return 0;
		if (r->w.phase == BPE_WORD_IDLE)
		{
			/* a new piece; one under way (a long one) goes on below */
			if (tok_tick(ck))
				return llm_err(err, LLM_ABORT_MSG);
			if (!llm_mul_size(r->ends[r->i] - a, 2, &cap))
				return llm_err(err, "out of memory while tokenizing");
			if (cap > r->w.word_cap)
			{
				char	   *nw = realloc(r->w.word, cap);

				if (!nw)
					return llm_err(err, "out of memory while tokenizing");
				r->w.word = nw;
				r->w.word_cap = cap;
			}
			for (size_t b = a; b < r->ends[r->i]; b++)
			{
				unsigned char ch = (unsigned char) r->canon[b];

				memcpy(r->w.word + wl, t->byte_enc[ch], t->byte_enc_len[ch]);
				wl += t->byte_enc_len[ch];
			}
			r->w.len = wl;
		}
		rc = bpe_word_more(t, &r->w, budget, used, ck, &stop, out);
		if (rc < 0)
			return llm_err(err, stop ? LLM_ABORT_MSG : "out of memory while tokenizing");
		if (rc == 0)
			return 0;			/* the piece is left under way */

		/*
		 * its bytes count as done, but no more than the budget has left:
		 * a long piece's merges went over several calls, each counting
		 * its heap operations, and this one does not do them all again
		 */
		if (*used < budget)
			*used += r->ends[r->i] - a < budget - *used ? r->ends[r->i] - a : budget - *used;
	}
	return 1;
}

/*
 * Tokenize one raw-text fragment with byte-level BPE, appending to out.
 */
int
tok_bpe_encode(const llm_tokenizer *t, const char *text, size_t len,
			   tok_check *ck, tok_vec *out, char *err)
{
	tok_bpe_run *r;
	size_t		used = 0;
	int			rc;

	if (len == 0)
		return 0;
	if (tok_bpe_begin(t, text, len, &r, err) < 0)
		return -1;
	rc = tok_bpe_more(t, r, SIZE_MAX, &used, ck, out, err);
	tok_bpe_end(r);
	return rc < 0 ? -1 : 0;
}
