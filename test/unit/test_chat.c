/*
 * test_chat.c - unit tests for chat template recognition and rendering
 * (src/engine/chat.c), including the jinja2 goldens in test/golden/chat.tsv
 * (made by test/golden/make_chat_golden.py).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "llm_util.h"
#include "tap.h"

/* ------------------------------------------------------------ helpers */

/*
 * Decode a hex string into a malloc'd NUL-terminated buffer; NULL on bad
 * input.
 */
static char *
hex_decode(const char *h)
{
	size_t		n = strlen(h),
				i;
	char	   *o;

	if (n % 2)
		return NULL;
	o = malloc(n / 2 + 1);
	if (o == NULL)
		return NULL;
	for (i = 0; i < n / 2; i++)
	{
		unsigned int v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
		{
			free(o);
			return NULL;
		}
		o[i] = (char) v;
	}
	o[n / 2] = '\0';
	return o;
}

/*
 * Append code point cp as UTF-8 at *o.
 */
static void
put_utf8(char **o, uint32_t cp)
{
	unsigned char *u = (unsigned char *) *o;

	if (cp < 0x80)
		*u++ = (unsigned char) cp;
	else if (cp < 0x800)
	{
		*u++ = (unsigned char) (0xc0 | (cp >> 6));
		*u++ = (unsigned char) (0x80 | (cp & 0x3f));
	}
	else if (cp < 0x10000)
	{
		*u++ = (unsigned char) (0xe0 | (cp >> 12));
		*u++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
		*u++ = (unsigned char) (0x80 | (cp & 0x3f));
	}
	else
	{
		*u++ = (unsigned char) (0xf0 | (cp >> 18));
		*u++ = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
		*u++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
		*u++ = (unsigned char) (0x80 | (cp & 0x3f));
	}
	*o = (char *) u;
}

/*
 * Parse a JSON string at *p (at the quote) into a malloc'd string; *p
 * moves past it. NULL on malformed input.
 */
static char *
json_string(const char **p)
{
	const char *s = *p;
	char	   *out,
			   *o;

	if (*s != '"')
		return NULL;
	out = malloc(strlen(s) + 1);	/* decoding never grows the text */
	if (out == NULL)
		return NULL;
	o = out;
	for (s++; *s && *s != '"'; s++)
	{
		if (*s != '\\')
		{
			*o++ = *s;
			continue;
		}
		s++;
		switch (*s)
		{
			case 'n': *o++ = '\n'; break;
			case 't': *o++ = '\t'; break;
			case 'r': *o++ = '\r'; break;
			case 'b': *o++ = '\b'; break;
			case 'f': *o++ = '\f'; break;
			case '"': *o++ = '"'; break;
			case '\\': *o++ = '\\'; break;
			case '/': *o++ = '/'; break;
			case 'u':
				{
					unsigned int cp,
								lo;

					if (sscanf(s + 1, "%4x", &cp) != 1)
						goto bad;
					s += 4;
					if (cp >= 0xd800 && cp < 0xdc00 && s[1] == '\\' && s[2] == 'u' &&
						sscanf(s + 3, "%4x", &lo) == 1 && lo >= 0xdc00 && lo < 0xe000)
					{
						cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
						s += 6;
					}
					put_utf8(&o, cp);
					break;
				}
			default:
				goto bad;
		}
	}
	if (*s != '"')
		goto bad;
	*o = '\0';
	*p = s + 1;
	return out;
bad:
	free(out);
	return NULL;
}

/*
 * Skip JSON whitespace.
 */
static const char *
json_ws(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	return s;
}

/*
 * Parse [{"role": "...", "content": "..."}, ...] into a malloc'd array
 * of messages with malloc'd strings; returns the count or -1.
 */
static int
json_messages(const char *s, llm_chat_msg **out)
{
	llm_chat_msg *v = NULL;
	int			n = 0;

	*out = NULL;
	s = json_ws(s);
	if (*s++ != '[')
		return -1;
	s = json_ws(s);
	while (*s == '{')
	{
		llm_chat_msg m = {NULL, NULL};
		llm_chat_msg *nv;

		s = json_ws(s + 1);
		while (*s == '"')
		{
			char	   *k = json_string(&s),
					   *val;

			if (k == NULL)
				goto bad;
			s = json_ws(s);
			if (*s++ != ':')
			{
				free(k);
				goto bad;
			}
			s = json_ws(s);
			val = json_string(&s);
			if (val == NULL)
			{
				free(k);
				goto bad;
			}
			if (strcmp(k, "role") == 0)
				m.role = val;
			else if (strcmp(k, "content") == 0)
				m.content = val;
			else
				free(val);
			free(k);
			s = json_ws(s);
			if (*s == ',')
				s = json_ws(s + 1);
		}
		if (*s++ != '}')
		{
			free((char *) m.role);
			free((char *) m.content);
			goto bad;
		}
		nv = realloc(v, sizeof(*v) * (size_t) (n + 1));
		if (nv == NULL)
			goto bad;
		v = nv;
		v[n++] = m;
		s = json_ws(s);
		if (*s == ',')
			s = json_ws(s + 1);
	}
	if (*s != ']')
		goto bad;
	*out = v;
	return n;
bad:
	while (n-- > 0)
	{
		free((char *) v[n].role);
		free((char *) v[n].content);
	}
	free(v);
	return -1;
}

/*
 * Free what json_messages() returned.
 */
static void
free_messages(llm_chat_msg *m, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		free((char *) m[i].role);
		free((char *) m[i].content);
	}
	free(m);
}

/*
 * Print a string with control characters escaped, as a diagnostic.
 */
static void
diag_str(const char *label, const char *s)
{
	printf("# %s: \"", label);
	for (; s && *s; s++)
	{
		if (*s == '\n')
			printf("\\n");
		else if (*s == '\t')
			printf("\\t");
		else if ((unsigned char) *s < 0x20)
			printf("\\x%02x", (unsigned char) *s);
		else
			putchar(*s);
	}
	printf("\"\n");
}

/*
 * Render msgs with template t; returns the malloc'd prompt or NULL (err
 * filled).
 */
static char *
render(const llm_chat_template *t, const llm_chat_msg *m, size_t n, bool add, char *err)
{
	char	   *out = NULL;

	if (llm_chat_apply(t, m, n, add, &out, err) != 0)
		return NULL;
	return out;
}

/* ------------------------------------------------------------ goldens */

typedef struct golden_tpl
{
	char		key[64];
	char		family[32];
	char	   *dsys;			/* NULL for none */
	char	   *src;
	llm_chat_template tpl;
	llm_chat_template named;	/* parsed from the family name */
	bool		parsed;
	int			n_lines;
	int			n_ok;
	int			n_named_ok;
} golden_tpl;

/*
 * Open the golden file: $LLM_GOLDEN_DIR/chat.tsv, ./test/golden/chat.tsv
 * or ../golden/chat.tsv next to this source file.
 */
static FILE *
open_golden(void)
{
	char		path[4096];
	const char *d = getenv("LLM_GOLDEN_DIR");
	const char *here = __FILE__;
	const char *slash = strrchr(here, '/');
	FILE	   *f;

	if (d && *d)
	{
		snprintf(path, sizeof(path), "%s/chat.tsv", d);
		if ((f = fopen(path, "r")) != NULL)
			return f;
	}
	if ((f = fopen("test/golden/chat.tsv", "r")) != NULL)
		return f;
	if (slash)
	{
		snprintf(path, sizeof(path), "%.*s/../golden/chat.tsv", (int) (slash - here), here);
		if ((f = fopen(path, "r")) != NULL)
			return f;
	}
	return NULL;
}

/*
 * Check every golden line: template detection (family and default system
 * text) and renderings equal to jinja2's.
 */
static void
test_golden(void)
{
	FILE	   *f = open_golden();
	golden_tpl	tpls[32];
	int			nt = 0,
				i,
				bad_lines = 0;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	bool		have_smollm = false;

	if (f == NULL)
	{
		ok(0, "golden file test/golden/chat.tsv found");
		return;
	}
	memset(tpls, 0, sizeof(tpls));
	while ((len = getline(&line, &cap, f)) > 0)
	{
		char	   *fld[6];
		int			nf = 0;
		char	   *p = line,
				   *tab;

		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		while (nf < 6)
		{
			fld[nf++] = p;
			tab = strchr(p, '\t');
			if (tab == NULL)
				break;
			*tab = '\0';
			p = tab + 1;
		}
		if (strcmp(fld[0], "template") == 0)
		{
			golden_tpl *g;
			char		err[LLM_ERRLEN];

			if (nf != 5 || nt == (int) (sizeof(tpls) / sizeof(tpls[0])))
			{
				bad_lines++;
				continue;
			}
			g = &tpls[nt++];
			snprintf(g->key, sizeof(g->key), "%s", fld[1]);
			snprintf(g->family, sizeof(g->family), "%s", fld[2]);
			g->dsys = strcmp(fld[3], "-") == 0 ? NULL : hex_decode(fld[3]);
			g->src = hex_decode(fld[4]);
			if (strcmp(g->key, "smollm2") == 0)
				have_smollm = true;
			err[0] = '\0';
			g->parsed = g->src && llm_chat_template_parse(&g->tpl, g->src, err) == 0 &&
				llm_chat_template_parse(&g->named, g->family, err) == 0;
			ok(g->parsed && strcmp(llm_chat_format_name(g->tpl.format), g->family) == 0,
			   "template %s detected as %s (got %s) %s", g->key, g->family,
			   g->parsed ? llm_chat_format_name(g->tpl.format) : "error", err);
			ok(g->parsed && ((g->dsys == NULL && g->tpl.default_system == NULL) ||
							 (g->dsys && g->tpl.default_system &&
							  strcmp(g->dsys, g->tpl.default_system) == 0)),
			   "template %s default system message %s", g->key,
			   g->dsys ? "extracted" : "absent");
			if (g->parsed && g->dsys && (!g->tpl.default_system ||
										 strcmp(g->dsys, g->tpl.default_system) != 0))
			{
				diag_str("want", g->dsys);
				diag_str("got", g->tpl.default_system);
			}
			continue;
		}

		/* a rendering line */
		{
			golden_tpl *g = NULL;
			llm_chat_msg *m = NULL;
			int			n;
			char	   *msgs_json,
					   *want,
					   *got,
					   *got2;
			char		err[LLM_ERRLEN];

			for (i = 0; i < nt; i++)
				if (strcmp(tpls[i].key, fld[0]) == 0)
					g = &tpls[i];
			if (nf != 4 || g == NULL)
			{
				bad_lines++;
				continue;
			}
			g->n_lines++;
			msgs_json = hex_decode(fld[2]);
			want = hex_decode(fld[3]);
			n = msgs_json ? json_messages(msgs_json, &m) : -1;
			if (n <= 0 || want == NULL || !g->parsed)
			{
				bad_lines++;
				free(msgs_json);
				free(want);
				free_messages(m, n > 0 ? n : 0);
				continue;
			}
			err[0] = '\0';
			got = render(&g->tpl, m, (size_t) n, fld[1][0] == '1', err);
			if (got && strcmp(got, want) == 0)
				g->n_ok++;
			else
			{
				diag("%s add=%s: mismatch for %s %s", g->key, fld[1], msgs_json, err);
				diag_str("want", want);
				diag_str("got ", got);
			}
			/* the plain family name renders the same when there is no default */
			if (g->dsys == NULL)
			{
				got2 = render(&g->named, m, (size_t) n, fld[1][0] == '1', err);
				if (got2 && strcmp(got2, want) == 0)
					g->n_named_ok++;
				free(got2);
			}
			free(got);
			free(msgs_json);
			free(want);
			free_messages(m, n);
		}
	}
	free(line);
	fclose(f);

	ok(bad_lines == 0, "golden file well formed (%d bad lines)", bad_lines);
	ok(nt >= 7, "golden file has the templates of all families (%d)", nt);
	for (i = 0; i < nt; i++)
	{
		golden_tpl *g = &tpls[i];

		ok(g->n_lines >= 16 && g->n_ok == g->n_lines,
		   "%s: %d of %d renderings equal jinja2's", g->key, g->n_ok, g->n_lines);
		if (g->dsys == NULL)
			ok(g->n_named_ok == g->n_lines,
			   "%s: format name \"%s\" renders the same (%d of %d)",
			   g->key, g->family, g->n_named_ok, g->n_lines);
		llm_chat_template_free(&g->tpl);
		llm_chat_template_free(&g->named);
		free(g->dsys);
		free(g->src);
	}
	ok(have_smollm, "default model's real template (smollm2) is among the goldens");
}

/* -------------------------------------------------------- detection */

/*
 * Detection from markers and names, and the unknown-template error.
 */
static void
test_detect(void)
{
	static const struct
	{
		const char *src;
		llm_chat_format f;
	}			cases[] = {
		{"{{ '<|im_start|>' + m['role'] }}", LLM_CHAT_CHATML},
		{"{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>' }}", LLM_CHAT_LLAMA3},
		{"{{ bos_token + '[INST] <<SYS>>\\n' }}", LLM_CHAT_LLAMA2},
		{"{{ bos_token + '[INST] ' + m['content'] + ' [/INST]' }}", LLM_CHAT_MISTRAL},
		{"{{ '<|user|>\\n' + m['content'] + eos_token }}", LLM_CHAT_ZEPHYR},
		{"{{ '<start_of_turn>' + role }}", LLM_CHAT_GEMMA},
		{"chatml", LLM_CHAT_CHATML},
		{"  LLaMA3 \n", LLM_CHAT_LLAMA3},
		{"llama2", LLM_CHAT_LLAMA2},
		{"Mistral", LLM_CHAT_MISTRAL},
		{"zephyr", LLM_CHAT_ZEPHYR},
		{"GEMMA", LLM_CHAT_GEMMA},
	};
	size_t		i;
	llm_chat_template t;
	char		err[LLM_ERRLEN];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int			rc = llm_chat_template_parse(&t, cases[i].src, err);

		ok(rc == 0 && t.format == cases[i].f && t.default_system == NULL,
		   "detect %s from \"%s\"", llm_chat_format_name(cases[i].f), cases[i].src);
		llm_chat_template_free(&t);
	}

	err[0] = '\0';
	ok(llm_chat_template_parse(&t, "{{ '### Instruction:\\n' + content }}", err) == -1 &&
	   strstr(err, "unknown chat template") != NULL, "unknown template: %s", err);
	err[0] = '\0';
	ok(llm_chat_template_parse(&t, "vicuna", err) == -1 &&
	   strstr(err, "unknown chat template") != NULL, "unknown name: %s", err);
	err[0] = '\0';
	ok(llm_chat_template_parse(&t, "{{ '<|user|>\\n' + c + '<|end|>\\n' }}", err) == -1 &&
	   strstr(err, "unknown chat template") != NULL, "Phi-3 style <|user|>..<|end|> is not zephyr");
	err[0] = '\0';
	ok(llm_chat_template_parse(&t, NULL, err) == -1 && strstr(err, "unknown chat template"),
	   "NULL template rejected: %s", err);
	ok(llm_chat_template_parse(&t, "", err) == -1, "empty template rejected");

	ok(strcmp(llm_chat_format_name(LLM_CHAT_GEMMA), "gemma") == 0 &&
	   strcmp(llm_chat_format_name((llm_chat_format) 99), "unknown") == 0,
	   "format names");
	{
		llm_chat_template a = {LLM_CHAT_CHATML, NULL},
					b = {LLM_CHAT_LLAMA3, NULL},
					c = {LLM_CHAT_LLAMA2, NULL},
					d = {LLM_CHAT_GEMMA, NULL};

		ok(llm_chat_bos_text(&a) == NULL && strcmp(llm_chat_bos_text(&b), "<|begin_of_text|>") == 0 &&
		   strcmp(llm_chat_bos_text(&c), "<s>") == 0 && strcmp(llm_chat_bos_text(&d), "<bos>") == 0,
		   "BOS text per format");
	}
	{
		llm_chat_template g = {LLM_CHAT_CHATML, NULL},
					h = {LLM_CHAT_GEMMA, NULL};
		bool		gem = true;

		for (int k = 0; k < 3; k++)
			gem = gem && llm_chat_template_for_arch(&g, (const char *[]) {"gemma", "gemma2", "gemma3"}[k],
													 err) == 0 && g.format == LLM_CHAT_GEMMA &&
				g.default_system == NULL;
		err[0] = '\0';
		ok(gem && llm_chat_template_for_arch(&h, "llama", err) == -1 && h.format == LLM_CHAT_CHATML &&
		   strstr(err, "\"llama\"") != NULL && llm_chat_template_for_arch(&h, NULL, err) == -1 &&
		   llm_chat_template_for_arch(&h, "gemma3x", err) == -1,
		   "format by architecture: gemma, gemma2, gemma3 get gemma; llama, gemma3x, none: %s", err);
	}
}

/*
 * Variants of the default-system construct.
 */
static void
test_default_system(void)
{
	static const struct
	{
		const char *src;
		const char *want;		/* NULL: no default expected */
		const char *what;
	}			cases[] = {
		{"{%- for message in messages %}{%- if loop.first and messages[0].role != \"system\" -%}"
			"{{- \"<|im_start|>system\\nBe kind.<|im_end|>\\n\" -}}{%- endif -%}"
			"{{ '<|im_start|>' + message.role }}{% endfor %}",
		"Be kind.", "attribute access, double quotes, whitespace control"},
		{"{%- if tools %}{{- '<|im_start|>system\\n' }}"
			"{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}"
			"{%- else %}{{- 'You are Qwen.' }}{%- endif %}"
			"{%- else %}{%- if messages[0]['role'] == 'system' %}"
			"{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
			"{%- else %}{{- '<|im_start|>system\\n' + 'You are Qwen.' + '<|im_end|>\\n' }}"
			"{%- endif %}{%- endif %}",
		"You are Qwen.", "Qwen-like nested else branches, concatenated literals"},
		{"{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n' + default_sys + "
			"'<|im_end|>\\n' }}{% endif %}",
		NULL, "non-literal body gives no default"},
		{"{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nHi' }}{% endif %}",
		NULL, "body not shaped like a system turn"},
		{"{% if messages[0]['role'] != 'user' %}{{ '<|im_start|>system\\nX<|im_end|>\\n' }}{% endif %}",
		NULL, "other conditions ignored"},
		{"{{ '<|im_start|>' }}{% if messages[0]['role'] != 'system' %}",
		NULL, "unterminated if"},
		{"{{ '<|im_start|>' }}{% if messages[0]['role'] != 'system'",
		NULL, "unterminated tag"},
		{"{% if messages[0]['role'] != 'system' %}{{ '<|start_header_id|>system<|end_header_id|>"
			"\\n\\nToday is \\u00e9t\\u00e9.<|eot_id|>' }}{% endif %}",
		"Today is \xc3\xa9t\xc3\xa9.", "llama3 system turn with \\u escapes"},
	};
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		llm_chat_template t;
		char		err[LLM_ERRLEN];
		int			rc = llm_chat_template_parse(&t, cases[i].src, err);

		ok(rc == 0 && ((cases[i].want == NULL && t.default_system == NULL) ||
					   (cases[i].want && t.default_system &&
						strcmp(cases[i].want, t.default_system) == 0)),
		   "default system: %s", cases[i].what);
		if (rc == 0 && cases[i].want && t.default_system)
			diag_str("got", t.default_system);
		llm_chat_template_free(&t);
	}

	/* the default is used only when the first message is not a system one */
	{
		llm_chat_template t;
		char		err[LLM_ERRLEN];
		llm_chat_msg m1[] = {{"user", "hi"}};
		llm_chat_msg m2[] = {{"system", "S"}, {"user", "hi"}};
		char	   *a,
				   *b;

		llm_chat_template_parse(&t, cases[0].src, err);
		a = render(&t, m1, 1, true, err);
		b = render(&t, m2, 2, false, err);
		ok(a && strcmp(a, "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
					   "<|im_start|>assistant\n") == 0, "default system inserted");
		ok(b && strcmp(b, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n") == 0,
		   "given system message replaces the default");
		free(a);
		free(b);
		llm_chat_template_free(&t);
	}
}

/* ------------------------------------------------------------ errors */

/*
 * Bad conversations are rejected with a message.
 */
static void
test_errors(void)
{
	llm_chat_template t = {LLM_CHAT_CHATML, NULL};
	char		err[LLM_ERRLEN];
	char	   *out = (char *) 1;
	llm_chat_msg tool[] = {{"user", "x"}, {"tool", "y"}};
	llm_chat_msg nul[] = {{"user", NULL}};
	llm_chat_msg norole[] = {{NULL, "x"}};
	llm_chat_msg upper[] = {{"User", "x"}};
	llm_chat_msg twice[] = {{"user", "a"}, {"user", "b"}};
	llm_chat_msg asst_first[] = {{"assistant", "a"}, {"user", "b"}};
	llm_chat_msg mid_sys[] = {{"user", "a"}, {"assistant", "b"}, {"system", "c"}, {"user", "d"}};
	llm_chat_format alt[] = {LLM_CHAT_LLAMA2, LLM_CHAT_MISTRAL, LLM_CHAT_GEMMA};
	size_t		i;

	err[0] = '\0';
	ok(llm_chat_apply(&t, tool, 2, true, &out, err) == -1 && out == NULL &&
	   strstr(err, "tool") && strstr(err, "role"), "unknown role rejected: %s", err);
	ok(llm_chat_apply(&t, upper, 1, true, &out, err) == -1, "roles are case-sensitive: %s", err);
	ok(llm_chat_apply(&t, nul, 1, true, &out, err) == -1 && strstr(err, "content"),
	   "NULL content rejected: %s", err);
	ok(llm_chat_apply(&t, norole, 1, true, &out, err) == -1, "NULL role rejected: %s", err);
	ok(llm_chat_apply(&t, tool, 0, true, &out, err) == -1 && strstr(err, "no messages"),
	   "no messages rejected: %s", err);
	ok(llm_chat_apply(NULL, tool, 1, true, &out, err) == -1, "NULL template rejected");

	for (i = 0; i < sizeof(alt) / sizeof(alt[0]); i++)
	{
		t.format = alt[i];
		err[0] = '\0';
		ok(llm_chat_apply(&t, twice, 2, true, &out, err) == -1 && strstr(err, "alternate"),
		   "%s: user twice rejected: %s", llm_chat_format_name(alt[i]), err);
		ok(llm_chat_apply(&t, asst_first, 2, true, &out, err) == -1,
		   "%s: assistant first rejected", llm_chat_format_name(alt[i]));
		ok(llm_chat_apply(&t, mid_sys, 4, true, &out, err) == -1 && strstr(err, "system"),
		   "%s: system in the middle rejected: %s", llm_chat_format_name(alt[i]), err);
	}
	/* formats with standalone turns accept any order */
	t.format = LLM_CHAT_LLAMA3;
	out = NULL;
	ok(llm_chat_apply(&t, mid_sys, 4, false, &out, err) == 0 && out != NULL,
	   "llama3 accepts a system message in the middle");
	free(out);
}

/*
 * Entry point.
 */
int
main(void)
{
	tap_plan(79);
	test_detect();
	test_default_system();
	test_errors();
	test_golden();
	return tap_done();
}
