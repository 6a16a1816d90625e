/*
 * test_json_schema.c - unit tests for structured output: the schema
 * compiler and matcher (json_schema.c, json_match.c), the token masks
 * (json_mask.c) and constrained generation (gen.c).
 *
 *  - per keyword, documents the matcher must accept and reject, each
 *    accepted one also checked by the reference validator;
 *  - compile errors name the unsupported keyword, numbers are checked;
 *  - random schemas, random byte walks: every prefix the matcher accepts
 *    can be continued or is complete, every finished walk validates;
 *  - the same with tokens and random logits over a real vocabulary, the
 *    trie mask compared with the per-token reference mask;
 *  - generation with the default model: the output validates, a short
 *    max_tokens reports a partial document, a constrained and a free
 *    request in one batch give what they give alone.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_engine.h"
#include "tap.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/*
 * xorshift64* - the tests' own deterministic random numbers.
 */
static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static int
rndn(int n)
{
	return (int) (rnd() % (uint64_t) n);
}

/*
 * 1 when the compiled schema accepts doc as a complete document, 0 when
 * not, -1 when the schema does not compile.
 */
static int
accepts(const char *schema, const char *doc)
{
	llm_json_schema *s;
	llm_jm_state st;
	char		err[LLM_ERRLEN];
	int			r;

	if (llm_json_schema_compile(&s, schema, strlen(schema), err) < 0)
	{
		diag("compile %s: %s", schema, err);
		return -1;
	}
	llm_jm_init(s, &st);
	r = llm_jm_feed_bytes(s, &st, doc, strlen(doc)) && llm_jm_complete(s, &st);
	llm_json_schema_free(s);
	return r;
}

typedef struct doc_case
{
	const char *schema;
	const char *doc;
	int			want;
} doc_case;

static const doc_case doc_cases[] = {
	/* type */
	{"{\"type\":\"string\"}", "\"hi\"", 1},
	{"{\"type\":\"string\"}", "12", 0},
	{"{\"type\":\"integer\"}", "-42", 1},
	{"{\"type\":\"integer\"}", "4.5", 0},
	{"{\"type\":\"integer\"}", "007", 0},
	{"{\"type\":\"number\"}", "4.5", 1},
	{"{\"type\":\"number\"}", "-0.25", 1},
	{"{\"type\":\"number\"}", "1e5", 0},	/* exponents are never written */
	{"{\"type\":\"number\"}", "1.", 0},
	{"{\"type\":\"boolean\"}", "true", 1},
	{"{\"type\":\"boolean\"}", "false", 1},
	{"{\"type\":\"boolean\"}", "null", 0},
	{"{\"type\":\"null\"}", "null", 1},
	{"{\"type\":\"null\"}", "nul", 0},
	{"{\"type\":[\"string\",\"null\"]}", "null", 1},
	{"{\"type\":[\"string\",\"null\"]}", "\"x\"", 1},
	{"{\"type\":[\"string\",\"null\"]}", "true", 0},
	{"{\"type\":\"object\"}", "{\"any\":[1,{\"b\":null}]}", 1},
	{"{\"type\":\"object\"}", "{ }", 0},	/* compact only */
	{"{\"type\":\"array\"}", "[1,\"a\",[],{}]", 1},
	{"{}", "[true,-1.5,\"s\"]", 1},
	{"true", "{\"k\":\"v\"}", 1},
	/* properties, required, additionalProperties */
	{"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"a\"]}",
	 "{\"a\":1,\"b\":\"x\"}", 1},
	{"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"a\"]}",
	 "{\"a\":1}", 1},
	{"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"a\"]}",
	 "{\"b\":\"x\"}", 0},
	{"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"a\"]}",
	 "{\"a\":\"1\"}", 0},
	{"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
	 "{\"a\":1,\"c\":2}", 0},
	{"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
	 "{}", 1},
	{"{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}", "{}", 1},
	{"{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}", "{\"a\":1}", 0},
	{"{\"type\":\"object\",\"required\":[\"id\"]}", "{\"id\":[1]}", 1},
	{"{\"type\":\"object\",\"required\":[\"id\"]}", "{}", 0},
	{"{\"type\":\"object\",\"properties\":{\"q\\\"k\":{\"type\":\"null\"}},\"required\":[\"q\\\"k\"]}",
	 "{\"q\\\"k\":null}", 1},
	/* items, minItems, maxItems */
	{"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[1,2]", 1},
	{"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[]", 0},
	{"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[1,2,3]", 0},
	{"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[\"1\"]", 0},
	{"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[1,]", 0},
	/* enum, const */
	{"{\"enum\":[\"red\",\"green\",3,null]}", "\"green\"", 1},
	{"{\"enum\":[\"red\",\"green\",3,null]}", "3", 1},
	{"{\"enum\":[\"red\",\"green\",3,null]}", "\"blue\"", 0},
	{"{\"enum\":[\"red\",\"green\",3,null]}", "30", 0},
	{"{\"enum\":[1,12]}", "1", 1},
	{"{\"enum\":[1,12]}", "12", 1},
	{"{\"type\":\"string\",\"enum\":[\"a\",1]}", "1", 0},
	{"{\"const\":{\"k\":[1,true]}}", "{\"k\":[1,true]}", 1},
	{"{\"const\":{\"k\":[1,true]}}", "{\"k\":[1,false]}", 0},
	/* minLength, maxLength (characters, not bytes) */
	{"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"ab\"", 1},
	{"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"a\"", 0},
	{"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"abcd\"", 0},
	{"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"\xc3\xa9t\xc3\xa9\"", 1},
	{"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"\\n\\u00e9\"", 1},
	{"{\"type\":\"string\",\"maxLength\":1}", "\"\\ud83d\\ude00\"", 1},
	{"{\"type\":\"string\",\"maxLength\":1}", "\"\xf0\x9f\x98\x80\"", 1},
	/* string escapes and UTF-8 */
	{"{\"type\":\"string\"}", "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\"", 1},
	{"{\"type\":\"string\"}", "\"\\x\"", 0},
	{"{\"type\":\"string\"}", "\"\\u00\"", 0},
	{"{\"type\":\"string\"}", "\"\\u0000\"", 0},
	{"{\"type\":\"string\"}", "\"\\udc00\"", 0},	/* lone low surrogate */
	{"{\"type\":\"string\"}", "\"\\ud800x\"", 0},	/* lone high surrogate */
	{"{\"type\":\"string\"}", "\"a\nb\"", 0},	/* raw control character */
	{"{\"type\":\"string\"}", "\"\xc0\xaf\"", 0},	/* overlong */
	{"{\"type\":\"string\"}", "\"\xed\xa0\x80\"", 0},	/* UTF-8 surrogate */
	{"{\"type\":\"string\"}", "\"\xf4\x90\x80\x80\"", 0},	/* above U+10FFFF */
	{"{\"type\":\"string\"}", "\"\xe2\x82\"", 0},	/* truncated */
	{"{\"type\":\"string\"}", "\"\xe2\x82\xac\"", 1},
	/* minimum, maximum */
	{"{\"type\":\"integer\",\"minimum\":10,\"maximum\":20}", "15", 1},
	{"{\"type\":\"integer\",\"minimum\":10,\"maximum\":20}", "9", 0},
	{"{\"type\":\"integer\",\"minimum\":10,\"maximum\":20}", "21", 0},
	{"{\"type\":\"integer\",\"minimum\":10,\"maximum\":20}", "1", 0},
	{"{\"type\":\"integer\",\"minimum\":-5,\"maximum\":-2}", "-3", 1},
	{"{\"type\":\"integer\",\"minimum\":-5,\"maximum\":-2}", "-1", 0},
	{"{\"type\":\"number\",\"minimum\":0.5,\"maximum\":1.5}", "1.25", 1},
	{"{\"type\":\"number\",\"minimum\":0.5,\"maximum\":1.5}", "1.5", 1},
	{"{\"type\":\"number\",\"minimum\":0.5,\"maximum\":1.5}", "1.51", 0},
	{"{\"type\":\"number\",\"minimum\":0.5,\"maximum\":1.5}", "0.4", 0},
	{"{\"type\":\"number\",\"minimum\":0}", "-0.5", 0},
	/* anyOf, oneOf */
	{"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":2}]}", "\"ab\"", 1},
	{"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":2}]}", "7", 1},
	{"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":2}]}", "\"abc\"", 0},
	{"{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"],\"additionalProperties\":false},"
	 "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"],\"additionalProperties\":false}]}",
	 "{\"b\":\"x\"}", 1},
	{"{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"],\"additionalProperties\":false},"
	 "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"],\"additionalProperties\":false}]}",
	 "{\"a\":\"x\"}", 0},
	{"{\"oneOf\":[{\"type\":\"null\"},{\"type\":\"array\",\"items\":{\"type\":\"boolean\"}}]}", "[true,false]", 1},
	{"{\"oneOf\":[{\"type\":\"null\"},{\"type\":\"array\",\"items\":{\"type\":\"boolean\"}}]}", "[null]", 0},
	/* $ref and $defs, recursion */
	{"{\"$defs\":{\"p\":{\"type\":\"integer\",\"minimum\":0}},\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/p\"}}", "[0,5]", 1},
	{"{\"$defs\":{\"p\":{\"type\":\"integer\",\"minimum\":0}},\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/p\"}}", "[-1]", 0},
	{"{\"definitions\":{\"a~b\":{\"type\":\"null\"}},\"$ref\":\"#/definitions/a~0b\"}", "null", 1},
	{"{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"$ref\":\"#\"}},\"required\":[\"v\"]}",
	 "{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":3}}}", 1},
	{"{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"$ref\":\"#\"}},\"required\":[\"v\"]}",
	 "{\"v\":1,\"next\":{}}", 0},
	/* annotations are allowed and change nothing */
	{"{\"title\":\"t\",\"description\":\"d\",\"$schema\":\"x\",\"type\":\"boolean\",\"default\":true}", "true", 1},
	/* order: properties in schema order */
	{"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"integer\"}}}", "{\"b\":1,\"a\":2}", 0},
	/* nothing after the value */
	{"{\"type\":\"boolean\"}", "true ", 0},
	{"{\"type\":\"integer\"}", "1,", 0},
};

/*
 * Every document case: the matcher's answer, and for accepted ones the
 * reference validator's.
 */
static void
test_doc_cases(void)
{
	size_t		i;

	for (i = 0; i < sizeof(doc_cases) / sizeof(doc_cases[0]); i++)
	{
		const doc_case *c = &doc_cases[i];
		int			r = accepts(c->schema, c->doc);
		char		err[LLM_ERRLEN];
		char		shown[256];

		/* the label without raw control characters (TAP is line based) */
		snprintf(shown, sizeof(shown), "%s", c->doc);
		for (char *q = shown; *q; q++)
			if ((unsigned char) *q < 0x20)
				*q = '?';
		ok(r == c->want, "%s %s: %s", c->want ? "accepts" : "rejects", shown, c->schema);
		if (c->want == 1)
			ok(llm_json_schema_validate(c->schema, strlen(c->schema), c->doc, strlen(c->doc), err) == 1,
			   "reference validator agrees on %s", shown);
	}
}

typedef struct err_case
{
	const char *schema;
	const char *msg;			/* must appear in the error */
} err_case;

static const err_case err_cases[] = {
	{"{\"type\":\"string\",\"pattern\":\"^a\"}", "unsupported keyword \"pattern\""},
	{"{\"type\":\"string\",\"format\":\"date\"}", "unsupported keyword \"format\""},
	{"{\"type\":\"integer\",\"exclusiveMinimum\":1}", "unsupported keyword \"exclusiveMinimum\""},
	{"{\"type\":\"array\",\"prefixItems\":[]}", "unsupported keyword \"prefixItems\""},
	{"{\"allOf\":[{}]}", "unsupported keyword \"allOf\""},
	{"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}", "\"additionalProperties\""},
	{"{\"type\":\"array\",\"items\":[{}]}", "\"items\""},
	{"{\"anyOf\":[{}],\"type\":\"string\"}", "\"type\" together with \"anyOf\""},
	{"{\"enum\":[1],\"minimum\":0}", "\"minimum\" together with \"enum\""},
	{"{\"type\":\"string\",\"minLength\":-1}", "\"minLength\" must be a non-negative integer"},
	{"{\"type\":\"string\",\"maxLength\":1.5}", "\"maxLength\" must be a non-negative integer"},
	{"{\"type\":\"array\",\"minItems\":\"2\"}", "\"minItems\" must be a non-negative integer"},
	{"{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}", "\"minLength\" is above \"maxLength\""},
	{"{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", "\"minItems\" is above \"maxItems\""},
	{"{\"type\":\"integer\",\"minimum\":1.2,\"maximum\":1.8}", "no integer lies between"},
	{"{\"type\":\"number\",\"minimum\":\"0\"}", "\"minimum\" must be a finite number"},
	{"{\"type\":\"integer\",\"minimum\":1e300}", "\"minimum\""},
	{"{\"type\":\"strin\"}", "unknown type \"strin\""},
	{"{\"type\":7}", "\"type\" must be a string"},
	{"{\"enum\":[]}", "\"enum\" must be a non-empty array"},
	{"{\"type\":\"string\",\"enum\":[1,2]}", "no value of \"enum\""},
	{"{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", "\"oneOf\""},
	{"{\"$ref\":\"#/$defs/missing\"}", "names nothing"},
	{"{\"$ref\":\"http://example.com/s\"}", "only local references"},
	{"{\"$ref\":\"#\"}", "refers only to itself"},
	{"false", "matches nothing"},
	{"{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}},\"required\":[\"a\"]}", "no finite JSON value"},
	{"{\"type\":\"object\",\"required\":[\"x\"],\"additionalProperties\":false}", "\"x\""},
	{"{\"type\":\"object\",\"required\":[\"x\",\"x\"]}", "twice"},
	{"[1]", "a schema must be an object"},
	{"{\"type\":", "JSON"},
};

/*
 * Compile errors: each names what is wrong.
 */
static void
test_errors(void)
{
	size_t		i;

	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++)
	{
		llm_json_schema *s = NULL;
		char		err[LLM_ERRLEN] = "";
		int			r = llm_json_schema_compile(&s, err_cases[i].schema,
											strlen(err_cases[i].schema), err);

		ok(r < 0 && s == NULL && strstr(err, err_cases[i].msg) != NULL,
		   "refused %s: %s", err_cases[i].schema, err);
		llm_json_schema_free(s);
	}
}

/* ------------------------------------------------------- random schemas */

typedef struct sbuf
{
	char		b[8192];
	size_t		n;
} sbuf;

/*
 * Append formatted text (truncation makes the schema invalid JSON,
 * which the caller notices).
 */
static void
sb(sbuf *s, const char *fmt, ...)
{
	va_list		ap;
	int			k;

	if (s->n >= sizeof(s->b) - 1)
		return;
	va_start(ap, fmt);
	k = vsnprintf(s->b + s->n, sizeof(s->b) - s->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		s->n += (size_t) k < sizeof(s->b) - s->n ? (size_t) k : sizeof(s->b) - 1 - s->n;
}

/*
 * A random satisfiable schema of at most 'depth' levels.
 */
static void
gen_schema(sbuf *s, int depth)
{
	int			kind = rndn(depth > 0 ? 14 : 9);
	int			i, n;

	switch (kind)
	{
		case 0:
			{
				int			a = rndn(3), b = a + rndn(6);

				sb(s, "{\"type\":\"string\"");
				if (rndn(2))
					sb(s, ",\"minLength\":%d", a);
				if (rndn(3))
					sb(s, ",\"maxLength\":%d", b);
				sb(s, "}");
				break;
			}
		case 1:
			{
				int			lo = rndn(2000) - 1000, hi = lo + rndn(3000);

				sb(s, "{\"type\":\"integer\"");
				if (rndn(2))
					sb(s, ",\"minimum\":%d", lo);
				if (rndn(2))
					sb(s, ",\"maximum\":%d", hi);
				sb(s, "}");
				break;
			}
		case 2:
			{
				double		lo = (rndn(400) - 200) / 4.0, hi = lo + rndn(100) / 8.0;

				sb(s, "{\"type\":\"number\"");
				if (rndn(2))
					sb(s, ",\"minimum\":%g", lo);
				if (rndn(2))
					sb(s, ",\"maximum\":%g", hi);
				sb(s, "}");
				break;
			}
		case 3:
			sb(s, "{\"type\":\"boolean\"}");
			break;
		case 4:
			sb(s, "{\"type\":\"null\"}");
			break;
		case 5:
			{
				static const char *const vals[] = {
					"\"red\"", "\"re\"", "\"a\\\"b\"", "1", "12", "-3.5", "null", "true",
					"[1,2]", "{\"k\":\"v\"}", "\"\\u00e9t\\u00e9\""
				};

				n = 1 + rndn(4);
				sb(s, "{\"enum\":[");
				for (i = 0; i < n; i++)
					sb(s, "%s%s", i ? "," : "", vals[rndn(11)]);
				sb(s, "]}");
				break;
			}
		case 6:
			sb(s, "{\"const\":%s}", rndn(2) ? "\"only\"" : "{\"x\":[true,null]}");
			break;
		case 7:
			sb(s, "{\"type\":[\"string\",\"null\"],\"maxLength\":%d}", rndn(5));
			break;
		case 8:
			sb(s, "{\"$ref\":\"#/$defs/d%d\"}", rndn(2));
			break;
		case 9:
		case 10:
			{
				int			mn = rndn(2), mx = mn + rndn(3);

				sb(s, "{\"type\":\"array\",\"items\":");
				gen_schema(s, depth - 1);
				sb(s, ",\"minItems\":%d", mn);
				if (rndn(3))
					sb(s, ",\"maxItems\":%d", mx);
				sb(s, "}");
				break;
			}
		case 11:
		case 12:
			{
				int			req[4];
				const char *suf[4];

				n = rndn(4);
				sb(s, "{\"type\":\"object\",\"properties\":{");
				for (i = 0; i < n; i++)
				{
					suf[i] = rndn(4) == 0 ? "\\u00e9" : "";
					sb(s, "%s\"k%d%s\":", i ? "," : "", i, suf[i]);
					gen_schema(s, depth - 1);
					req[i] = rndn(2);
				}
				sb(s, "}");
				if (n > 0)
				{
					int			first = 1;

					sb(s, ",\"required\":[");
					for (i = 0; i < n; i++)
						if (req[i])
						{
							sb(s, "%s\"k%d%s\"", first ? "" : ",", i, suf[i]);
							first = 0;
						}
					sb(s, "]");
				}
				if (rndn(2))
					sb(s, ",\"additionalProperties\":false");
				sb(s, "}");
				break;
			}
		case 13:
			n = 2 + rndn(2);
			sb(s, "{\"anyOf\":[");
			for (i = 0; i < n; i++)
			{
				if (i)
					sb(s, ",");
				gen_schema(s, depth - 1);
			}
			sb(s, "]}");
			break;
	}
}

/*
 * A random schema text with the two $defs the generator refers to.
 */
static void
gen_root(sbuf *s)
{
	s->n = 0;
	sb(s, "{\"$defs\":{\"d0\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9},"
	   "\"d1\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"boolean\"},"
	   "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/d1\"},\"maxItems\":2}},"
	   "\"required\":[\"v\"]}},\"anyOf\":[");
	gen_schema(s, 3);
	sb(s, "]}");
}

/*
 * Is doc compact (no whitespace outside strings)?
 */
static bool
compact(const char *doc, size_t n)
{
	bool		in = false, esc = false;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		char		c = doc[i];

		if (in)
		{
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in = false;
		}
		else if (c == '"')
			in = true;
		else if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
			return false;
	}
	return true;
}

/*
 * Random byte walks over random schemas: at each step the bytes the
 * matcher allows; a state with none must be complete (no dead end); the
 * walk leans towards closing bytes as it grows; every finished document
 * must pass the reference validator and be compact.
 */
static void
test_random_bytes(void)
{
	int			n_schemas = 300, walks = 0, done = 0, bad = 0, dead = 0, cfail = 0;
	int			k;

	for (k = 0; k < n_schemas; k++)
	{
		sbuf		sc;
		llm_json_schema *s;
		char		err[LLM_ERRLEN];
		int			w;

		gen_root(&sc);
		if (llm_json_schema_compile(&s, sc.b, sc.n, err) < 0)
		{
			if (cfail++ < 3)
				diag("random schema does not compile: %s: %s", err, sc.b);
			continue;
		}
		for (w = 0; w < 4; w++)
		{
			llm_jm_state st, nx;
			char		doc[1024];
			size_t		n = 0;
			bool		finished = false;

			llm_jm_init(s, &st);
			walks++;
			while (n < sizeof(doc) - 1)
			{
				uint8_t		ok_b[256];
				int			n_ok = 0, c, pick;
				bool		complete = llm_jm_complete(s, &st);

				for (c = 0; c < 256; c++)
					if (llm_jm_feed(s, &st, (uint8_t) c, &nx))
						ok_b[n_ok++] = (uint8_t) c;
				if (n_ok == 0 && !complete)
				{
					if (dead++ < 3)
						diag("dead end after %.*s in %s", (int) n, doc, sc.b);
					break;
				}
				if (complete && (n_ok == 0 || rndn(3) == 0))
				{
					finished = true;
					break;
				}
				pick = ok_b[rndn(n_ok)];
				if (n > 40)
				{
					/* lean towards ending strings, arrays and objects */
					for (c = 0; c < n_ok; c++)
						if ((ok_b[c] == '"' || ok_b[c] == ']' || ok_b[c] == '}') && rndn(4) != 0)
							pick = ok_b[c];
					if (pick == ',' && rndn(2))
						pick = ok_b[rndn(n_ok)];
				}
				llm_jm_feed(s, &st, (uint8_t) pick, &nx);
				st = nx;
				doc[n++] = (char) pick;
			}
			doc[n] = '\0';
			if (!finished)
				continue;
			done++;
			if (llm_json_schema_validate(sc.b, sc.n, doc, n, err) != 1 || !compact(doc, n))
			{
				if (bad++ < 5)
					diag("invalid document %s for %s: %s", doc, sc.b, err);
			}
		}
		llm_json_schema_free(s);
	}
	ok(cfail == 0, "random schemas: all %d compile (%d failed)", n_schemas, cfail);
	ok(dead == 0, "random byte walks: no dead end in %d walks (%d)", walks, dead);
	ok(done > walks * 3 / 4, "random byte walks: %d of %d finished", done, walks);
	ok(bad == 0, "random byte walks: every finished document validates (%d invalid)", bad);
}

/*
 * Random logits over a real vocabulary: each step masks with the trie
 * (every 5th step compared with the reference mask), picks the best
 * allowed token of random logits (end-of-generation strongly favoured
 * once complete, closing tokens favoured late), feeds it; every
 * finished document validates.
 */
static void
test_random_tokens(const llm_tokenizer *tok, const char *label)
{
	llm_vocab_trie *v;
	llm_json_masker *mk = llm_json_masker_new();
	char		err[LLM_ERRLEN];
	int32_t		nv = llm_tokenizer_n_vocab(tok);
	uint8_t    *a = malloc((size_t) nv), *b = malloc((size_t) nv);
	int			k, runs = 0, done = 0, bad = 0, dead = 0, cmp = 0, diff = 0, steps = 0;
	double		t_fast = 0, t_ref = 0;

	if (llm_vocab_trie_new(&v, tok, err) < 0 || mk == NULL || a == NULL || b == NULL)
	{
		ok(0, "%s: vocabulary trie: %s", label, err);
		free(a);
		free(b);
		llm_json_masker_free(mk);
		return;
	}
	for (k = 0; k < 60; k++)
	{
		sbuf		sc;
		llm_json_schema *s;
		llm_jm_state st;
		char		doc[4096];
		size_t		n = 0;
		int			step;
		bool		finished = false;

		gen_root(&sc);
		if (llm_json_schema_compile(&s, sc.b, sc.n, err) < 0)
			continue;
		llm_jm_init(s, &st);
		runs++;
		for (step = 0; step < 200; step++)
		{
			double		t0 = llm_time_sec();
			int32_t		na = llm_json_mask(mk, v, s, &st, a);
			bool		complete = llm_jm_complete(s, &st);
			int32_t		best = -1, i;
			float		bestv = -INFINITY;

			t_fast += llm_time_sec() - t0;
			steps++;
			if (step % 5 == 0)
			{
				int32_t		nb;

				t0 = llm_time_sec();
				nb = llm_json_mask_ref(v, s, &st, b);
				t_ref += llm_time_sec() - t0;
				cmp++;
				if (na != nb || memcmp(a, b, (size_t) nv) != 0)
				{
					if (diff++ < 3)
						diag("%s: trie mask (%d) differs from reference (%d) after %.*s",
							 label, na, nb, (int) n, doc);
				}
			}
			if (na == 0)
			{
				finished = complete;
				if (!complete && dead++ < 3)
					diag("%s: dead end after %.*s", label, (int) n, doc);
				break;
			}
			if (complete && rndn(2) == 0)
			{
				finished = true;	/* end-of-generation chosen */
				break;
			}
			for (i = 0; i < nv; i++)
			{
				float		x;
				size_t		len;
				const char *p;

				if (!a[i])
					continue;
				x = (float) (rnd() >> 40) / (float) (1 << 24);
				if (step > 20 && (p = llm_vocab_trie_piece(v, i, &len)) != NULL &&
					(memchr(p, '"', len) || memchr(p, ']', len) || memchr(p, '}', len)))
					x += 0.5f;
				if (x > bestv)
					bestv = x, best = i;
			}
			{
				size_t		len;
				const char *p = llm_vocab_trie_piece(v, best, &len);

				if (p == NULL || !llm_jm_feed_bytes(s, &st, p, len))
				{
					diff++;
					diag("%s: an allowed token is refused", label);
					break;
				}
				if (n + len < sizeof(doc))
				{
					memcpy(doc + n, p, len);
					n += len;
				}
			}
		}
		if (finished)
		{
			done++;
			if (llm_json_schema_validate(sc.b, sc.n, doc, n, err) != 1)
			{
				if (bad++ < 5)
					diag("%s: invalid document %.*s for %s: %s", label, (int) n, doc, sc.b, err);
			}
		}
		llm_json_schema_free(s);
	}
	/* string bodies with every amount of room left: both bulk paths */
	for (k = 0; k <= 12; k++)
	{
		char		sc[96];
		llm_json_schema *s;
		llm_jm_state st;

		if (k == 12)
			snprintf(sc, sizeof(sc), "{\"type\":\"string\"}");
		else
			snprintf(sc, sizeof(sc), "{\"type\":\"string\",\"maxLength\":%d}", k + 2);
		if (llm_json_schema_compile(&s, sc, strlen(sc), err) < 0)
			continue;
		llm_jm_init(s, &st);
		llm_jm_feed_bytes(s, &st, "\"ab", 3);
		cmp++;
		if (llm_json_mask(mk, v, s, &st, a) != llm_json_mask_ref(v, s, &st, b) ||
			memcmp(a, b, (size_t) nv) != 0)
		{
			diff++;
			diag("%s: trie mask differs from reference for %s", label, sc);
		}
		llm_json_schema_free(s);
	}
	ok(diff == 0, "%s: trie mask equals the reference mask in %d states (%d differ)", label, cmp, diff);
	ok(dead == 0, "%s: random logits: no dead end in %d runs", label, runs);
	ok(done > runs / 2, "%s: random logits: %d of %d runs finished", label, done, runs);
	ok(bad == 0, "%s: random logits: every finished document validates (%d invalid)", label, bad);
	diag("%s: mask %.3f ms per step, reference %.3f ms", label,
		 1e3 * t_fast / (steps ? steps : 1), 1e3 * t_ref / (cmp ? cmp : 1));
	llm_vocab_trie_free(v);
	llm_json_masker_free(mk);
	free(a);
	free(b);
}

/*
 * Run a batch of generations to the end, all in the same steps.
 */
static int
run_batch(llm_engine *e, const llm_model *m, llm_gen **g, int n, char *err)
{
	for (;;)
	{
		llm_batch_item items[4];
		int			k = 0, i;
		llm_gen    *who[4];

		for (i = 0; i < n; i++)
			if (llm_gen_prepare(g[i], &items[k], 64) > 0)
				who[k++] = g[i];
		if (k == 0)
			return 0;
		if (llm_engine_step(e, m, items, k, err) < 0)
			return -1;
		for (i = 0; i < k; i++)
			llm_gen_advance(who[i]);
	}
}

/*
 * Constrained generation with a real model.
 */
static void
test_generation(const char *model_path)
{
	static const char schema[] =
		"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":20},"
		"\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},"
		"\"city\":{\"enum\":[\"Paris\",\"Berlin\",\"Rome\"]}},"
		"\"required\":[\"name\",\"age\",\"city\"],\"additionalProperties\":false}";
	static const char prompt[] =
		"<|im_start|>user\nExtract as JSON: Anna is 31 and lives in Rome.<|im_end|>\n<|im_start|>assistant\n";
	llm_model  *m;
	llm_engine *e;
	llm_engine_params ep = {.n_threads = 2};
	llm_json_schema *s;
	llm_vocab_trie *v;
	llm_gen_params p, pf;
	llm_gen    *g[2], *solo;
	char		err[LLM_ERRLEN];
	const char *t;
	size_t		len;
	char		solo_text[2048], free_text[2048];

	if (llm_model_load(&m, model_path, 1024, err) < 0)
	{
		tap_skip_n(14, "default model not available: %s", err);
		return;
	}
	if (llm_engine_new(&e, &ep, err) < 0 ||
		llm_json_schema_compile(&s, schema, sizeof(schema) - 1, err) < 0 ||
		llm_vocab_trie_new(&v, llm_model_tokenizer(m), err) < 0)
	{
		ok(0, "generation setup: %s", err);
		return;
	}
	test_random_tokens(llm_model_tokenizer(m), "smollm2");

	err[0] = '\0';
	llm_gen_defaults(&p);
	p.max_tokens = 80;
	p.json_schema = s;
	p.vocab_trie = v;
	ok(llm_gen_new(&solo, m, prompt, strlen(prompt), &p, err) == 0 &&
	   run_batch(e, m, &solo, 1, err) == 0, "constrained generation runs: %s", err);
	t = llm_gen_text(solo, &len);
	snprintf(solo_text, sizeof(solo_text), "%.*s", (int) len, t);
	diag("constrained output: %s", solo_text);
	ok(llm_gen_json_status(solo) == LLM_JSON_COMPLETE && llm_gen_finish(solo) == LLM_FINISH_EOS,
	   "constrained generation completes the document (finish %s)", llm_finish_name(llm_gen_finish(solo)));
	err[0] = '\0';
	ok(llm_json_schema_validate(schema, sizeof(schema) - 1, t, len, err) == 1,
	   "constrained output validates%s%s", err[0] ? ": " : "", err);
	ok(llm_gen_mask_seconds(solo) > 0, "mask time is measured (%.3f ms)", 1e3 * llm_gen_mask_seconds(solo));
	llm_gen_free(solo);

	/* the same, beside a free request in the same steps */
	err[0] = '\0';
	llm_gen_defaults(&pf);
	pf.max_tokens = 30;
	ok(llm_gen_new(&g[0], m, prompt, strlen(prompt), &p, err) == 0 &&
	   llm_gen_new(&g[1], m, prompt, strlen(prompt), &pf, err) == 0 &&
	   run_batch(e, m, g, 2, err) == 0, "mixed batch runs: %s", err);
	t = llm_gen_text(g[0], &len);
	ok(strlen(solo_text) == len && memcmp(solo_text, t, len) == 0,
	   "constrained request in a mixed batch gives its solo output");
	t = llm_gen_text(g[1], &len);
	snprintf(free_text, sizeof(free_text), "%.*s", (int) len, t);
	for (char *q = free_text; *q; q++)
		if (*q == '\n')
			*q = ' ';
	ok(llm_gen_json_status(g[1]) == LLM_JSON_OFF && len > 0,
	   "free request in the same batch is unconstrained: %s", free_text);
	llm_gen_free(g[0]);
	llm_gen_free(g[1]);

	/* max_tokens too small: a partial document, reported as such */
	p.max_tokens = 3;
	ok(llm_gen_new(&solo, m, prompt, strlen(prompt), &p, err) == 0 &&
	   run_batch(e, m, &solo, 1, err) == 0, "short constrained generation runs");
	ok(llm_gen_finish(solo) == LLM_FINISH_LENGTH && llm_gen_json_status(solo) == LLM_JSON_PARTIAL,
	   "max_tokens 3: finish length, document partial");
	llm_gen_free(solo);

	/* stop strings and a schema do not mix */
	{
		const char *stops[] = {"}"};

		p.max_tokens = 10;
		p.stop = stops;
		p.n_stop = 1;
		ok(llm_gen_new(&solo, m, prompt, strlen(prompt), &p, err) < 0 && strstr(err, "stop strings"),
		   "stop strings with a schema are refused: %s", err);
	}
	llm_vocab_trie_free(v);
	llm_json_schema_free(s);
	llm_engine_free(e);
	llm_model_free(m);
}

int
main(void)
{
	char		path[8192];

	tap_plan(186);				/* 14 of them in test_generation */
	test_doc_cases();
	test_errors();
	test_random_bytes();
	snprintf(path, sizeof(path), "%s/SmolLM2-135M-Instruct.Q4_1.gguf", tap_model_dir());
	test_generation(path);
	return tap_done();
}
