/*
 * chat.c - recognising chat templates and rendering conversations.
 *
 * No Jinja interpreter is run: the template source is mapped to one of a
 * few built-in formats by distinctive markers, and each format is rendered
 * here the way the family's canonical Jinja template renders it (checked
 * against jinja2 renderings in test/golden/chat.tsv):
 *
 *   chatml   <|im_start|>ROLE\nCONTENT<|im_end|>\n per message;
 *            generation prompt <|im_start|>assistant\n. Content as is.
 *   llama3   <|begin_of_text|> once, then
 *            <|start_header_id|>ROLE<|end_header_id|>\n\nTRIM(CONTENT)<|eot_id|>;
 *            generation prompt <|start_header_id|>assistant<|end_header_id|>\n\n.
 *   llama2   per user turn <s>[INST] STRIP(CONTENT) [/INST], per assistant
 *            turn " STRIP(CONTENT) </s>"; a leading system message becomes
 *            "<<SYS>>\nSYSTEM\n<</SYS>>\n\n" in front of the first user
 *            turn (stripped together). The prompt already ends in the open
 *            assistant turn, so add_assistant changes nothing.
 *   mistral  <s> once, then per user turn "[INST] CONTENT [/INST]" and per
 *            assistant turn "CONTENT</s>"; a leading system message is put
 *            in front of the first user turn followed by "\n\n". Like
 *            llama2, add_assistant changes nothing.
 *   zephyr   <|ROLE|>\nCONTENT</s>\n per message; generation prompt
 *            <|assistant|>\n.
 *   gemma    <bos> once, then <start_of_turn>ROLE\nTRIM(CONTENT)<end_of_turn>\n
 *            with assistant named "model"; a leading system message is
 *            folded into the first user turn as "SYSTEM\n\n" before the
 *            trimmed user text (as Gemma 3's template does); generation
 *            prompt <start_of_turn>model\n.
 *
 * TRIM/STRIP remove leading and trailing whitespace as Python's
 * str.strip() does (Unicode whitespace included), which is what Jinja's
 * trim filter and .strip() do.
 *
 * BOS: the canonical llama2, mistral, llama3 and gemma templates emit the
 * BOS text themselves (bos_token at the start, or before every [INST] for
 * llama2), so the rendered prompt contains it; llm_chat_bos_text() tells
 * the caller, which should then tokenize with special tokens parsed and
 * not add a second BOS. chatml and zephyr templates emit no BOS.
 *
 * llama2, mistral and gemma require user/assistant turns to alternate,
 * starting with user, after an optional leading system message (their
 * canonical templates raise an error otherwise); a conversation holding
 * only a system message renders it into an empty user turn.
 *
 * Default system message: some templates (SmolLM2's, Qwen's) insert a
 * fixed system turn when the conversation does not start with one, e.g.
 *   {% if loop.first and messages[0]['role'] != 'system' %}
 *     {{ '<|im_start|>system\nYou are ...<|im_end|>\n' }}{% endif %}
 * or the else-branch of "if messages[0]['role'] == 'system'". Such a
 * branch is found by a small scan of the Jinja tags; when its output is
 * made of literals only and has exactly the shape of this format's system
 * turn, the inner text becomes default_system.
 */
#include "chat.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llm_util.h"

/* ------------------------------------------------------------ buffers */

typedef struct chat_buf
{
	char	   *p;
	size_t		len;
	size_t		cap;
	bool		oom;
	llm_text_span *marks;		/* template markers written so far */
	size_t		n_marks;
	size_t		cap_marks;
} chat_buf;

/*
 * Append n bytes to b; on allocation failure b->oom is set and later
 * appends do nothing.
 */
static void
chat_put(chat_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;
		char	   *np;

		while (cap < b->len + n + 1)
		{
			if (cap > SIZE_MAX / 2)
			{
				b->oom = true;
				return;
			}
			cap *= 2;
		}
		np = realloc(b->p, cap);
		if (np == NULL)
		{
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/*
 * Append a NUL-terminated string.
 */
static void
chat_puts(chat_buf *b, const char *s)
{
	chat_put(b, s, strlen(s));
}

/*
 * Append a marker of the template itself (such as "<|im_start|>") and
 * remember where it is: only markers may be read as special tokens.
 */
static void
chat_put_mark(chat_buf *b, const char *s)
{
	size_t		off = b->len;

	chat_puts(b, s);
	if (b->oom)
		return;
	if (b->n_marks == b->cap_marks)
	{
		size_t		cap = b->cap_marks ? b->cap_marks * 2 : 16;
		llm_text_span *nm;

		if (cap > SIZE_MAX / sizeof(llm_text_span))
		{
			b->oom = true;
			return;
		}
		nm = realloc(b->marks, cap * sizeof(llm_text_span));
		if (nm == NULL)
		{
			b->oom = true;
			return;
		}
		b->marks = nm;
		b->cap_marks = cap;
	}
	b->marks[b->n_marks].off = off;
	b->marks[b->n_marks].len = b->len - off;
	b->n_marks++;
}

/*
 * Append one Unicode code point as UTF-8.
 */
static void
chat_put_cp(chat_buf *b, uint32_t cp)
{
	char		u[4];

	if (cp < 0x80)
	{
		u[0] = (char) cp;
		chat_put(b, u, 1);
	}
	else if (cp < 0x800)
	{
		u[0] = (char) (0xc0 | (cp >> 6));
		u[1] = (char) (0x80 | (cp & 0x3f));
		chat_put(b, u, 2);
	}
	else if (cp < 0x10000)
	{
		u[0] = (char) (0xe0 | (cp >> 12));
		u[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char) (0x80 | (cp & 0x3f));
		chat_put(b, u, 3);
	}
	else
	{
		u[0] = (char) (0xf0 | (cp >> 18));
		u[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char) (0x80 | (cp & 0x3f));
		chat_put(b, u, 4);
	}
}

/* ------------------------------------------------------------- names */

static const char *const chat_names[] = {
	[LLM_CHAT_CHATML] = "chatml",
	[LLM_CHAT_LLAMA3] = "llama3",
	[LLM_CHAT_LLAMA2] = "llama2",
	[LLM_CHAT_MISTRAL] = "mistral",
	[LLM_CHAT_ZEPHYR] = "zephyr",
	[LLM_CHAT_GEMMA] = "gemma",
};

#define CHAT_N_FORMATS ((int) (sizeof(chat_names) / sizeof(chat_names[0])))

/*
 * Name of a format ("chatml", ...), "unknown" for a bad value.
 */
const char *
llm_chat_format_name(llm_chat_format f)
{
	if ((int) f < 0 || (int) f >= CHAT_N_FORMATS)
		return "unknown";
	return chat_names[f];
}

/*
 * Text of the BOS token that the rendered prompt starts with for this
 * format, or NULL when the format emits none (chatml, zephyr).
 */
const char *
llm_chat_bos_text(const llm_chat_template *t)
{
	if (t == NULL)
		return NULL;
	switch (t->format)
	{
		case LLM_CHAT_LLAMA2:
		case LLM_CHAT_MISTRAL:
			return "<s>";
		case LLM_CHAT_LLAMA3:
			return "<|begin_of_text|>";
		case LLM_CHAT_GEMMA:
			return "<bos>";
		default:
			return NULL;
	}
}

/* -------------------------------------------------------- whitespace */

/*
 * Decode the UTF-8 character at s[0..n); returns its length (1 for an
 * invalid byte, with *cp set to 0xFFFD so that it is never whitespace).
 */
static size_t
chat_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t		len,
				i;
	uint32_t	c = s[0];

	if (c < 0x80)
	{
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0)
	{
		len = 2;
		c &= 0x1f;
	}
	else if ((c & 0xf0) == 0xe0)
	{
		len = 3;
		c &= 0x0f;
	}
	else if ((c & 0xf8) == 0xf0)
	{
		len = 4;
		c &= 0x07;
	}
	else
	{
		*cp = 0xfffd;
		return 1;
	}
	if (len > n)
	{
		*cp = 0xfffd;
		return 1;
	}
	for (i = 1; i < len; i++)
	{
		if ((s[i] & 0xc0) != 0x80)
		{
			*cp = 0xfffd;
			return 1;
		}
		c = (c << 6) | (s[i] & 0x3f);
	}
	*cp = c;
	return len;
}

/*
 * True for the code points Python's str.isspace() accepts (the set
 * str.strip() removes).
 */
static bool
chat_is_py_space(uint32_t c)
{
	if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20))
		return true;
	if (c < 0x85)
		return false;
	return c == 0x85 || c == 0xa0 || c == 0x1680 ||
		(c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
		c == 0x202f || c == 0x205f || c == 0x3000;
}

/*
 * Append s[0..n) without leading and trailing whitespace (Python
 * str.strip() semantics on UTF-8 text).
 */
static void
chat_put_stripped(chat_buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t		start = 0,
				end = n;
	uint32_t	cp;

	while (start < end)
	{
		size_t		l = chat_utf8_decode(u + start, end - start, &cp);

		if (!chat_is_py_space(cp))
			break;
		start += l;
	}
	while (end > start)
	{
		size_t		k = end - 1;

		/* back up to the first byte of the last character */
		while (k > start && (u[k] & 0xc0) == 0x80 && end - k < 4)
			k--;
		if (chat_utf8_decode(u + k, end - k, &cp) != end - k)
		{
			/* not one well-formed character: stop at the last byte */
			k = end - 1;
			cp = u[k] < 0x80 ? u[k] : 0xfffd;
		}
		if (!chat_is_py_space(cp))
			break;
		end = k;
	}
	chat_put(b, s + start, end - start);
}

/* ------------------------------------------------ Jinja tag scanning */

typedef enum chat_tok_kind
{
	CHAT_TOK_RAW,				/* template text */
	CHAT_TOK_EXPR,				/* {{ ... }} */
	CHAT_TOK_STMT,				/* {% ... %} */
	CHAT_TOK_COMMENT			/* {# ... #} */
} chat_tok_kind;

typedef struct chat_tok
{
	chat_tok_kind kind;
	const char *s;				/* inner text (RAW: the text) */
	size_t		n;
	bool		strip_before;	/* opened with {%- / {{- / {#- */
	bool		strip_after;	/* closed with -%} / -}} / -#} */
	bool		plus_before;	/* opened with {%+ (disables lstrip_blocks) */
	bool		plus_after;		/* closed with +%} (disables trim_blocks) */
} chat_tok;

typedef struct chat_toks
{
	chat_tok   *v;
	size_t		n;
	size_t		cap;
} chat_toks;

/*
 * Append a token; false on allocation failure.
 */
static bool
chat_tok_push(chat_toks *t, const chat_tok *k)
{
	if (t->n == t->cap)
	{
		size_t		cap = t->cap ? t->cap * 2 : 64;
		chat_tok   *nv = realloc(t->v, cap * sizeof(chat_tok));

		if (nv == NULL)
			return false;
		t->v = nv;
		t->cap = cap;
	}
	t->v[t->n++] = *k;
	return true;
}

/*
 * Split Jinja source into text, expression, statement and comment tokens
 * (default delimiters). Quotes inside tags are honoured when looking for
 * the closing delimiter. Returns false on an unterminated tag or memory
 * exhaustion.
 */
static bool
chat_lex(const char *src, chat_toks *out)
{
	const char *p = src;

	while (*p)
	{
		const char *o = p;
		chat_tok	k;

		/* raw text up to the next opening delimiter */
		while (*o && !(o[0] == '{' && (o[1] == '{' || o[1] == '%' || o[1] == '#')))
			o++;
		if (o > p)
		{
			memset(&k, 0, sizeof(k));
			k.kind = CHAT_TOK_RAW;
			k.s = p;
			k.n = (size_t) (o - p);
			if (!chat_tok_push(out, &k))
				return false;
		}
		if (*o == '\0')
			break;

		memset(&k, 0, sizeof(k));
		k.kind = o[1] == '{' ? CHAT_TOK_EXPR : o[1] == '%' ? CHAT_TOK_STMT : CHAT_TOK_COMMENT;
		p = o + 2;
		if (*p == '-')
		{
			k.strip_before = true;
			p++;
		}
		else if (*p == '+')
		{
			k.plus_before = true;
			p++;
		}
		{
			char		close = k.kind == CHAT_TOK_EXPR ? '}' : k.kind == CHAT_TOK_STMT ? '%' : '#';
			const char *q = p;
			char		quote = 0;

			for (;; q++)
			{
				if (*q == '\0')
					return false;
				if (k.kind != CHAT_TOK_COMMENT)
				{
					if (quote)
					{
						if (*q == '\\' && q[1] != '\0')
							q++;
						else if (*q == quote)
							quote = 0;
						continue;
					}
					if (*q == '\'' || *q == '"')
					{
						quote = *q;
						continue;
					}
				}
				if (q[0] == close && q[1] == '}')
					break;
			}
			k.s = p;
			k.n = (size_t) (q - p);
			if (k.n > 0 && (p[k.n - 1] == '-' || p[k.n - 1] == '+'))
			{
				if (p[k.n - 1] == '-')
					k.strip_after = true;
				else
					k.plus_after = true;
				k.n--;
			}
			p = q + 2;
		}
		if (!chat_tok_push(out, &k))
			return false;
	}
	return true;
}

/*
 * First word of a statement tag ("if", "endfor", ...) into kw (size cap);
 * *rest points after it.
 */
static void
chat_stmt_keyword(const chat_tok *k, char *kw, size_t cap, const char **rest)
{
	const char *s = k->s,
			   *e = k->s + k->n;
	size_t		n = 0;

	while (s < e && isspace((unsigned char) *s))
		s++;
	while (s < e && (isalnum((unsigned char) *s) || *s == '_'))
	{
		if (n + 1 < cap)
			kw[n++] = *s;
		s++;
	}
	kw[n] = '\0';
	if (rest)
		*rest = s;
}

/*
 * Nesting effect of a statement keyword: +1 for block openers, -1 for
 * their end tags, 0 otherwise.
 */
static int
chat_stmt_depth(const char *kw)
{
	static const char *const open[] = {
		"if", "for", "macro", "call", "filter", "block", "with", "raw"
	};
	size_t		i;

	if (strncmp(kw, "end", 3) == 0 && kw[3] != '\0')
		return -1;
	for (i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		if (strcmp(kw, open[i]) == 0)
			return 1;
	return 0;
}

/*
 * Decode the Jinja string literal starting at *pp (at its quote) into b,
 * with Python's escape sequences; *pp moves past the closing quote.
 * False when the literal is unterminated or uses an unsupported escape.
 */
static bool
chat_literal(const char **pp, const char *end, chat_buf *b)
{
	const char *p = *pp;
	char		q = *p++;

	while (p < end && *p != q)
	{
		if (*p == '\r' && p + 1 < end && p[1] == '\n')
		{
			/* Jinja normalises newlines inside literals */
			p++;
			continue;
		}
		if (*p != '\\')
		{
			chat_put(b, p++, 1);
			continue;
		}
		if (p + 1 >= end)
			return false;
		p++;
		switch (*p)
		{
			case 'n': chat_puts(b, "\n"); p++; break;
			case 't': chat_puts(b, "\t"); p++; break;
			case 'r': chat_puts(b, "\r"); p++; break;
			case 'a': chat_puts(b, "\a"); p++; break;
			case 'b': chat_puts(b, "\b"); p++; break;
			case 'f': chat_puts(b, "\f"); p++; break;
			case 'v': chat_puts(b, "\v"); p++; break;
			case '\\': chat_puts(b, "\\"); p++; break;
			case '\'': chat_puts(b, "'"); p++; break;
			case '"': chat_puts(b, "\""); p++; break;
			case '\n': p++; break;	/* line continuation */
			case 'x':
			case 'u':
			case 'U':
				{
					int			digits = *p == 'x' ? 2 : *p == 'u' ? 4 : 8;
					uint32_t	cp = 0;
					int			i;

					p++;
					for (i = 0; i < digits; i++, p++)
					{
						if (p >= end || !isxdigit((unsigned char) *p))
							return false;
						cp = cp * 16 + (uint32_t) (isdigit((unsigned char) *p) ? *p - '0' :
												   (tolower((unsigned char) *p) - 'a' + 10));
					}
					if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
						return false;
					chat_put_cp(b, cp);
					break;
				}
			default:
				if (*p >= '0' && *p <= '7')
				{
					uint32_t	cp = 0;
					int			i;

					for (i = 0; i < 3 && p < end && *p >= '0' && *p <= '7'; i++, p++)
						cp = cp * 8 + (uint32_t) (*p - '0');
					chat_put_cp(b, cp);
				}
				else if (*p == 'N')
					return false;	/* \N{name}: not supported */
				else
				{
					/* unknown escape: Python keeps the backslash */
					chat_puts(b, "\\");
					chat_put(b, p++, 1);
				}
				break;
		}
	}
	if (p >= end)
		return false;
	*pp = p + 1;
	return true;
}

/*
 * Canonical spelling of a condition expression: tokens separated by one
 * space, strings in single quotes, "a.b" written "a [ 'b' ]", parentheses
 * dropped. False if the expression holds something unexpected or the
 * result does not fit in cap bytes.
 */
static bool
chat_canon_expr(const char *s, const char *e, char *out, size_t cap)
{
	size_t		n = 0;

#define CANON_ADD(str, len) do { \
		size_t _l = (len); \
		if (n + _l + 2 > cap) return false; \
		if (n > 0) out[n++] = ' '; \
		memcpy(out + n, (str), _l); n += _l; out[n] = '\0'; \
	} while (0)

	out[0] = '\0';
	while (s < e)
	{
		if (isspace((unsigned char) *s) || *s == '(' || *s == ')')
			s++;
		else if (isalpha((unsigned char) *s) || *s == '_')
		{
			const char *w = s;

			while (s < e && (isalnum((unsigned char) *s) || *s == '_'))
				s++;
			CANON_ADD(w, (size_t) (s - w));
		}
		else if (isdigit((unsigned char) *s))
		{
			const char *w = s;

			while (s < e && isdigit((unsigned char) *s))
				s++;
			CANON_ADD(w, (size_t) (s - w));
		}
		else if (*s == '\'' || *s == '"')
		{
			chat_buf	lit = {0};
			bool		good = chat_literal(&s, e, &lit);

			if (good && !lit.oom && lit.len + 4 < 64)
			{
				char		q[72];

				q[0] = '\'';
				memcpy(q + 1, lit.p ? lit.p : "", lit.len);
				q[lit.len + 1] = '\'';
				free(lit.p);	/* before CANON_ADD, which may return */
				lit.p = NULL;
				CANON_ADD(q, lit.len + 2);
			}
			else
				good = false;
			free(lit.p);
			if (!good)
				return false;
		}
		else if (*s == '.')
		{
			/* attribute access: .name -> [ 'name' ] */
			const char *w = ++s;
			char		q[72];
			size_t		l;

			while (s < e && (isalnum((unsigned char) *s) || *s == '_'))
				s++;
			l = (size_t) (s - w);
			if (l == 0 || l + 4 > sizeof(q))
				return false;
			CANON_ADD("[", 1);
			q[0] = '\'';
			memcpy(q + 1, w, l);
			q[l + 1] = '\'';
			CANON_ADD(q, l + 2);
			CANON_ADD("]", 1);
		}
		else if ((*s == '!' || *s == '=') && s + 1 < e && s[1] == '=')
		{
			CANON_ADD(s, 2);
			s += 2;
		}
		else if (*s == '[' || *s == ']')
		{
			CANON_ADD(s, 1);
			s++;
		}
		else
			return false;
	}
	return true;
#undef CANON_ADD
}

#define CHAT_FIRST_ROLE "messages [ 0 ] [ 'role' ]"

/*
 * Classify an if-condition: 1 when it means "the first message is not a
 * system one" (the body inserts the default), 2 when it is "the first
 * message is a system one" (the else branch inserts it), 0 otherwise.
 */
static int
chat_classify_cond(const char *s, const char *e)
{
	char		c[256];

	if (!chat_canon_expr(s, e, c, sizeof(c)))
		return 0;
	if (strcmp(c, CHAT_FIRST_ROLE " != 'system'") == 0 ||
		strcmp(c, "loop [ 'first' ] and " CHAT_FIRST_ROLE " != 'system'") == 0 ||
		strcmp(c, CHAT_FIRST_ROLE " != 'system' and loop [ 'first' ]") == 0 ||
		strcmp(c, "'system' != " CHAT_FIRST_ROLE) == 0)
		return 1;
	if (strcmp(c, CHAT_FIRST_ROLE " == 'system'") == 0 ||
		strcmp(c, "'system' == " CHAT_FIRST_ROLE) == 0)
		return 2;
	return 0;
}

/*
 * Is token k a block tag (statement or comment)?
 */
static bool
chat_is_block(const chat_tok *k)
{
	return k->kind == CHAT_TOK_STMT || k->kind == CHAT_TOK_COMMENT;
}

/*
 * Render the raw text token t[i] into b with the whitespace rules used by
 * Hugging Face's chat templates: "-" markers strip all adjacent
 * whitespace, trim_blocks drops the first newline after a block tag, and
 * lstrip_blocks drops spaces and tabs between a line start and a block
 * tag.
 */
static void
chat_emit_raw(const chat_toks *t, size_t i, chat_buf *b)
{
	const chat_tok *k = &t->v[i];
	const chat_tok *prev = i > 0 ? &t->v[i - 1] : NULL;
	const chat_tok *next = i + 1 < t->n ? &t->v[i + 1] : NULL;
	const char *s = k->s,
			   *e = k->s + k->n;

	if (prev && prev->strip_after)
	{
		while (s < e && isspace((unsigned char) *s))
			s++;
	}
	else if (prev && chat_is_block(prev) && !prev->plus_after)
	{
		if (s < e && *s == '\n')
			s++;
		else if (e - s >= 2 && s[0] == '\r' && s[1] == '\n')
			s += 2;
	}
	if (next && next->strip_before)
	{
		while (e > s && isspace((unsigned char) e[-1]))
			e--;
	}
	else if (next && chat_is_block(next) && !next->plus_before)
	{
		const char *q = e;

		while (q > s && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		/* only when the tag starts its line (or the text is all blanks) */
		if (q == k->s || q[-1] == '\n')
			e = q;
	}
	while (s < e)
	{
		/* Jinja normalises \r\n to \n in template data */
		if (*s == '\r' && s + 1 < e && s[1] == '\n')
			s++;
		chat_put(b, s++, 1);
	}
}

/*
 * Evaluate tokens t[from..to) as literal output into b: text, comments
 * and {{ }} expressions made of string literals joined by + or ~.
 * False when anything else appears.
 */
static bool
chat_eval_literal_body(const chat_toks *t, size_t from, size_t to, chat_buf *b)
{
	size_t		i;

	for (i = from; i < to; i++)
	{
		const chat_tok *k = &t->v[i];

		if (k->kind == CHAT_TOK_COMMENT)
			continue;
		if (k->kind == CHAT_TOK_STMT)
			return false;
		if (k->kind == CHAT_TOK_RAW)
		{
			chat_emit_raw(t, i, b);
			continue;
		}
		{
			const char *s = k->s,
					   *e = k->s + k->n;
			bool		want_lit = true;

			while (s < e)
			{
				if (isspace((unsigned char) *s) || *s == '(' || *s == ')')
					s++;
				else if (want_lit && (*s == '\'' || *s == '"'))
				{
					if (!chat_literal(&s, e, b))
						return false;
					want_lit = false;
				}
				else if (!want_lit && (*s == '+' || *s == '~'))
				{
					s++;
					want_lit = true;
				}
				else
					return false;
			}
			if (want_lit)
				return false;
		}
	}
	return !b->oom;
}

/*
 * Opening and closing text of a standalone system turn in format f, used
 * to recognise a default system message; false for formats that fold the
 * system text into the first user turn.
 */
static bool
chat_system_wrap(llm_chat_format f, const char **pre, const char **post)
{
	switch (f)
	{
		case LLM_CHAT_CHATML:
			*pre = "<|im_start|>system\n";
			*post = "<|im_end|>\n";
			return true;
		case LLM_CHAT_LLAMA3:
			*pre = "<|start_header_id|>system<|end_header_id|>\n\n";
			*post = "<|eot_id|>";
			return true;
		case LLM_CHAT_ZEPHYR:
			*pre = "<|system|>\n";
			*post = "</s>\n";
			return true;
		default:
			return false;
	}
}

/*
 * Look for a default system message in the template source (see the
 * file comment). Returns a malloc'd string, or NULL when there is none
 * (or memory ran out: a default is an optional refinement).
 */
static char *
chat_find_default_system(const char *src, llm_chat_format f)
{
	chat_toks	t = {0};
	const char *pre,
			   *post;
	char	   *found = NULL;
	size_t		i;

	if (!chat_system_wrap(f, &pre, &post))
		return NULL;
	if (!chat_lex(src, &t))
	{
		free(t.v);
		return NULL;
	}
	for (i = 0; i < t.n && found == NULL; i++)
	{
		char		kw[16];
		const char *rest;
		int			cls,
					depth = 0;
		size_t		j,
					body = 0,
					body_end = 0;
		bool		ok = false;

		if (t.v[i].kind != CHAT_TOK_STMT)
			continue;
		chat_stmt_keyword(&t.v[i], kw, sizeof(kw), &rest);
		if (strcmp(kw, "if") != 0)
			continue;
		cls = chat_classify_cond(rest, t.v[i].s + t.v[i].n);
		if (cls == 0)
			continue;

		/* find the branch that inserts the default */
		if (cls == 1)
			body = i + 1;
		for (j = i + 1; j < t.n; j++)
		{
			char		kw2[16];
			int			d;

			if (t.v[j].kind != CHAT_TOK_STMT)
				continue;
			chat_stmt_keyword(&t.v[j], kw2, sizeof(kw2), NULL);
			d = chat_stmt_depth(kw2);
			if (depth == 0 && (strcmp(kw2, "else") == 0 || strcmp(kw2, "elif") == 0 ||
							   strcmp(kw2, "endif") == 0))
			{
				if (cls == 1)
				{
					body_end = j;
					ok = true;
					break;
				}
				if (strcmp(kw2, "else") == 0 && body == 0)
					body = j + 1;
				else if (strcmp(kw2, "endif") == 0 && body != 0)
				{
					body_end = j;
					ok = true;
					break;
				}
				else
					break;		/* elif, or endif without else */
				continue;
			}
			depth += d;
			if (depth < 0)
				break;
		}
		if (ok)
		{
			chat_buf	b = {0};
			size_t		lp = strlen(pre),
						lq = strlen(post);

			if (chat_eval_literal_body(&t, body, body_end, &b) && b.p != NULL &&
				b.len >= lp + lq && memcmp(b.p, pre, lp) == 0 &&
				memcmp(b.p + b.len - lq, post, lq) == 0)
			{
				found = malloc(b.len - lp - lq + 1);
				if (found)
				{
					memcpy(found, b.p + lp, b.len - lp - lq);
					found[b.len - lp - lq] = '\0';
				}
			}
			free(b.p);
		}
	}
	free(t.v);
	return found;
}

/* ---------------------------------------------------------- parsing */

/*
 * Recognise a template: a plain format name (case-insensitive, blanks
 * around it ignored) or Jinja source with a family's markers.
 */
int
llm_chat_template_parse(llm_chat_template *out, const char *src, char *err)
{
	const char *s,
			   *e;
	int			i;
	int			fmt = -1;

	if (out == NULL)
		return llm_err(err, "chat template: no output given");
	out->format = LLM_CHAT_CHATML;
	out->default_system = NULL;
	if (src == NULL)
		return llm_err(err, "unknown chat template: no template given");

	/* a format name? */
	s = src;
	while (isspace((unsigned char) *s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char) e[-1]))
		e--;
	for (i = 0; i < CHAT_N_FORMATS; i++)
	{
		size_t		l = strlen(chat_names[i]);

		if ((size_t) (e - s) == l && strncasecmp(s, chat_names[i], l) == 0)
		{
			out->format = (llm_chat_format) i;
			return 0;
		}
	}

	/* Jinja source: distinctive markers, most specific first */
	if (strstr(src, "<|im_start|>"))
		fmt = LLM_CHAT_CHATML;
	else if (strstr(src, "<|start_header_id|>"))
		fmt = LLM_CHAT_LLAMA3;
	else if (strstr(src, "<start_of_turn>"))
		fmt = LLM_CHAT_GEMMA;
	else if (strstr(src, "[INST]"))
		fmt = strstr(src, "<<SYS>>") ? LLM_CHAT_LLAMA2 : LLM_CHAT_MISTRAL;
	else if (strstr(src, "<|user|>") && !strstr(src, "<|end|>"))
	{
		/* Phi-3 also uses <|user|> but ends turns with <|end|>: not zephyr */
		fmt = LLM_CHAT_ZEPHYR;
	}
	if (fmt < 0)
	{
		size_t		l = (size_t) (e - s);

		return llm_err(err, "unknown chat template \"%.40s%s\" (known formats: "
					   "chatml, llama3, llama2, mistral, zephyr, gemma)",
					   s, l > 40 ? "..." : "");
	}
	out->format = (llm_chat_format) fmt;
	out->default_system = chat_find_default_system(src, out->format);
	return 0;
}

/*
 * The format of an architecture whose files may come without a template
 * (see chat.h). Gemma GGUFs converted from the base checkpoints often
 * carry none, yet the instruction-tuned weights in them expect Gemma's
 * turns; llama.cpp would fall back to chatml there.
 */
int
llm_chat_template_for_arch(llm_chat_template *out, const char *arch, char *err)
{
	static const char *const gemma[] = {"gemma", "gemma2", "gemma3"};

	if (out == NULL)
		return llm_err(err, "chat template: no output given");
	out->format = LLM_CHAT_CHATML;
	out->default_system = NULL;
	for (size_t i = 0; arch != NULL && i < sizeof(gemma) / sizeof(gemma[0]); i++)
		if (strcmp(arch, gemma[i]) == 0)
		{
			out->format = LLM_CHAT_GEMMA;
			return 0;
		}
	return llm_err(err, "no chat format is known for architecture \"%.40s\"",
				   arch ? arch : "(none)");
}

/*
 * Release what a parsed template owns (the struct itself is the
 * caller's).
 */
void
llm_chat_template_free(llm_chat_template *t)
{
	if (t == NULL)
		return;
	free(t->default_system);
	t->default_system = NULL;
}

/* -------------------------------------------------------- rendering */

typedef enum chat_role
{
	CHAT_SYSTEM,
	CHAT_USER,
	CHAT_ASSISTANT
} chat_role;

static const char *const chat_role_names[] = {"system", "user", "assistant"};

/*
 * Render a format whose turns must alternate user/assistant after an
 * optional leading system message (llama2, mistral, gemma).
 */
static int
chat_render_alternating(llm_chat_format f, const llm_chat_msg *msgs,
						const chat_role *roles, size_t n, const char *sys,
						bool add_assistant, chat_buf *b, char *err)
{
	size_t		i;
	size_t		turn = 0;
	bool		any = false;

	if (f == LLM_CHAT_MISTRAL)
		chat_put_mark(b, "<s>");
	else if (f == LLM_CHAT_GEMMA)
		chat_put_mark(b, "<bos>");

	for (i = 0; i <= n; i++)
	{
		const char *content;
		chat_role	r;

		if (i == n)
		{
			/* a conversation of only a system message: empty user turn */
			if (any || sys == NULL)
				break;
			r = CHAT_USER;
			content = "";
		}
		else
		{
			r = roles[i];
			content = msgs[i].content;
		}
		if (r == CHAT_SYSTEM)
			return llm_err(err, "the %s chat format accepts a system message only "
						   "as the first message (message %zu)",
						   llm_chat_format_name(f), i + 1);
		if ((r == CHAT_USER) != (turn % 2 == 0))
			return llm_err(err, "the %s chat format needs user and assistant messages "
						   "to alternate, starting with user (message %zu is %s)",
						   llm_chat_format_name(f), i + 1, chat_role_names[r]);
		any = true;
		switch (f)
		{
			case LLM_CHAT_LLAMA2:
				if (r == CHAT_USER)
				{
					chat_buf	c = {0};

					if (turn == 0 && sys != NULL)
					{
						chat_puts(&c, "<<SYS>>\n");
						chat_puts(&c, sys);
						chat_puts(&c, "\n<</SYS>>\n\n");
					}
					chat_puts(&c, content);
					chat_put_mark(b, "<s>");
					chat_puts(b, "[INST] ");
					if (c.oom)
						b->oom = true;
					else
						chat_put_stripped(b, c.p ? c.p : "", c.len);
					free(c.p);
					chat_puts(b, " [/INST]");
				}
				else
				{
					chat_puts(b, " ");
					chat_put_stripped(b, content, strlen(content));
					chat_puts(b, " ");
					chat_put_mark(b, "</s>");
				}
				break;
			case LLM_CHAT_MISTRAL:
				if (r == CHAT_USER)
				{
					chat_puts(b, "[INST] ");
					if (turn == 0 && sys != NULL)
					{
						chat_puts(b, sys);
						chat_puts(b, "\n\n");
					}
					chat_puts(b, content);
					chat_puts(b, " [/INST]");
				}
				else
				{
					chat_puts(b, content);
					chat_put_mark(b, "</s>");
				}
				break;
			default:			/* gemma */
				chat_put_mark(b, "<start_of_turn>");
				chat_puts(b, r == CHAT_USER ? "user" : "model");
				chat_puts(b, "\n");
				if (turn == 0 && sys != NULL)
				{
					chat_puts(b, sys);
					chat_puts(b, "\n\n");
				}
				chat_put_stripped(b, content, strlen(content));
				chat_put_mark(b, "<end_of_turn>");
				chat_puts(b, "\n");
				break;
		}
		turn++;
	}
	if (add_assistant && f == LLM_CHAT_GEMMA)
	{
		chat_put_mark(b, "<start_of_turn>");
		chat_puts(b, "model\n");
	}
	return 0;
}

/*
 * Append one message of a format with standalone turns (chatml, llama3,
 * zephyr).
 */
static void
chat_render_turn(llm_chat_format f, chat_role r, const char *content, chat_buf *b)
{
	const char *role = chat_role_names[r];

	switch (f)
	{
		case LLM_CHAT_CHATML:
			chat_put_mark(b, "<|im_start|>");
			chat_puts(b, role);
			chat_puts(b, "\n");
			chat_puts(b, content);
			chat_put_mark(b, "<|im_end|>");
			chat_puts(b, "\n");
			break;
		case LLM_CHAT_LLAMA3:
			chat_put_mark(b, "<|start_header_id|>");
			chat_puts(b, role);
			chat_put_mark(b, "<|end_header_id|>");
			chat_puts(b, "\n\n");
			chat_put_stripped(b, content, strlen(content));
			chat_put_mark(b, "<|eot_id|>");
			break;
		default:				/* zephyr */
			chat_put_mark(b, r == CHAT_SYSTEM ? "<|system|>"
						  : r == CHAT_USER ? "<|user|>" : "<|assistant|>");
			chat_puts(b, "\n");
			chat_puts(b, content);
			chat_put_mark(b, "</s>");
			chat_puts(b, "\n");
			break;
	}
}

/*
 * Render a conversation (see chat.h and the file comment).
 */
int
llm_chat_apply(const llm_chat_template *t, const llm_chat_msg *msgs,
			   size_t n, bool add_assistant, char **out, char *err)
{
	return llm_chat_apply_marked(t, msgs, n, add_assistant, out, NULL, NULL, err);
}

/*
 * Render a conversation and tell where the template's markers are (see
 * chat.h).
 */
int
llm_chat_apply_marked(const llm_chat_template *t, const llm_chat_msg *msgs,
					  size_t n, bool add_assistant, char **out,
					  llm_text_span **marks, size_t *n_marks, char *err)
{
	chat_role  *roles;
	chat_buf	b = {0};
	size_t		i;
	int			rc = 0;
	llm_chat_format f;

	if (out == NULL)
		return llm_err(err, "chat: no output given");
	*out = NULL;
	if (marks)
		*marks = NULL;
	if (n_marks)
		*n_marks = 0;
	if (t == NULL)
		return llm_err(err, "chat: no template given");
	f = t->format;
	if ((int) f < 0 || (int) f >= CHAT_N_FORMATS)
		return llm_err(err, "chat: invalid format %d", (int) f);
	if (msgs == NULL || n == 0)
		return llm_err(err, "chat: no messages given");

	roles = malloc(n * sizeof(chat_role));
	if (roles == NULL)
		return llm_err(err, "chat: out of memory");
	for (i = 0; i < n; i++)
	{
		const char *r = msgs[i].role;

		if (r == NULL)
		{
			free(roles);
			return llm_err(err, "chat: message %zu has no role", i + 1);
		}
		if (strcmp(r, "system") == 0)
			roles[i] = CHAT_SYSTEM;
		else if (strcmp(r, "user") == 0)
			roles[i] = CHAT_USER;
		else if (strcmp(r, "assistant") == 0)
			roles[i] = CHAT_ASSISTANT;
		else
		{
			free(roles);
			return llm_err(err, "chat: message %zu has unknown role \"%.40s\" "
						   "(expected system, user or assistant)", i + 1, r);
		}
		if (msgs[i].content == NULL)
		{
			free(roles);
			return llm_err(err, "chat: message %zu (%s) has no content", i + 1, r);
		}
	}

	if (f == LLM_CHAT_LLAMA2 || f == LLM_CHAT_MISTRAL || f == LLM_CHAT_GEMMA)
	{
		const char *sys = NULL;
		size_t		skip = 0;

		if (roles[0] == CHAT_SYSTEM)
		{
			sys = msgs[0].content;
			skip = 1;
		}
		else if (t->default_system != NULL)
			sys = t->default_system;
		rc = chat_render_alternating(f, msgs + skip, roles + skip, n - skip, sys,
									 add_assistant, &b, err);
	}
	else
	{
		if (f == LLM_CHAT_LLAMA3)
			chat_put_mark(&b, "<|begin_of_text|>");
		if (roles[0] != CHAT_SYSTEM && t->default_system != NULL)
			chat_render_turn(f, CHAT_SYSTEM, t->default_system, &b);
		for (i = 0; i < n; i++)
			chat_render_turn(f, roles[i], msgs[i].content, &b);
		if (add_assistant)
		{
			if (f == LLM_CHAT_CHATML)
			{
				chat_put_mark(&b, "<|im_start|>");
				chat_puts(&b, "assistant\n");
			}
			else if (f == LLM_CHAT_LLAMA3)
			{
				chat_put_mark(&b, "<|start_header_id|>");
				chat_puts(&b, "assistant");
				chat_put_mark(&b, "<|end_header_id|>");
				chat_puts(&b, "\n\n");
			}
			else
			{
				chat_put_mark(&b, "<|assistant|>");
				chat_puts(&b, "\n");
			}
		}
	}
	free(roles);
	if (rc == 0 && b.oom)
		rc = llm_err(err, "chat: out of memory");
	if (rc == 0 && b.p == NULL)
		chat_puts(&b, "");		/* empty result still needs a string */
	if (rc == 0 && b.oom)
		rc = llm_err(err, "chat: out of memory");
	if (rc != 0)
	{
		free(b.p);
		free(b.marks);
		return rc;
	}
	*out = b.p;
	if (marks && n_marks)
	{
		*marks = b.marks;
		*n_marks = b.n_marks;
	}
	else
		free(b.marks);
	return 0;
}
