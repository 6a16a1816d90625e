/*
 * json_schema.c - compiling JSON Schema into the matcher's node graph.
 *
 * The schema is parsed with the strict parser of json.c, then walked
 * recursively: each schema object becomes one node (a union node for a
 * list of types or anyOf/oneOf), $ref targets are compiled once and
 * shared, so recursive schemas become cycles in the graph. Every keyword
 * is checked against the supported set and every number against its
 * range; anything else fails with a message that names the keyword.
 * Finally a fixpoint marks the nodes some value can satisfy, so that the
 * matcher never enters a branch that cannot be completed.
 */
#include "json_schema_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "llm_util.h"

#define JS_MAX_COMPILE_DEPTH 64

/* first-byte classes of values, for the oneOf overlap check */
#define C_NULL	1
#define C_TRUE	2
#define C_FALSE 4
#define C_NUM	8
#define C_STR	16
#define C_ARR	32
#define C_OBJ	64
#define C_ALL	127

typedef struct js_memo
{
	const llm_json *target;
	int32_t		node;
} js_memo;

typedef struct js_ctx
{
	llm_json_schema *s;
	const llm_json *root;
	js_memo    *memo;
	size_t		n_memo;
	size_t		cap_memo;
	char	   *err;
} js_ctx;

static int32_t js_compile(js_ctx *c, const llm_json *j, int depth);

static const char *const js_annotations[] = {
	"title", "description", "default", "examples", "$schema", "$id", "$comment",
	"deprecated", "readOnly", "writeOnly", "$defs", "definitions", NULL
};

static const char *const js_types[] = {
	"null", "boolean", "number", "integer", "string", "array", "object", NULL
};

static const char *const js_keywords[] = {
	"type", "enum", "const", "anyOf", "oneOf", "$ref", "properties", "required",
	"additionalProperties", "items", "minItems", "maxItems", "minLength",
	"maxLength", "minimum", "maximum", NULL
};

/*
 * Is key one of the NULL-terminated list?
 */
static bool
js_in(const char *key, const char *const *list)
{
	int			i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(key, list[i]) == 0)
			return true;
	return false;
}

/*
 * Grow an array of elem-byte entries to hold one more; -1 when out of
 * memory.
 */
static int
js_grow(void **arr, uint32_t n, uint32_t *cap, size_t elem)
{
	void	   *p;
	uint32_t	nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	p = realloc(*arr, (size_t) nc * elem);
	if (p == NULL)
		return -1;
	*arr = p;
	*cap = nc;
	return 0;
}

/*
 * A new node of the given kind (zeroed, unbounded); -1 with err.
 */
static int32_t
js_new_node(js_ctx *c, js_kind kind)
{
	llm_json_schema *s = c->s;
	js_node    *n;

	if (s->n_nodes >= JS_MAX_NODES)
		return llm_err(c->err, "schema too large (more than %d nodes)", JS_MAX_NODES);
	if (js_grow((void **) &s->nodes, s->n_nodes, &s->cap_nodes, sizeof(js_node)) < 0)
		return llm_err(c->err, "out of memory");
	n = &s->nodes[s->n_nodes];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->min_u = JS_NO_MIN;
	n->max_u = JS_NO_MAX;
	n->max_n = UINT32_MAX;
	n->items = -1;
	return (int32_t) s->n_nodes++;
}

/*
 * Append bytes to a growable buffer; -1 when out of memory.
 */
static int
js_buf_add(char **buf, size_t *len, size_t *cap, const char *b, size_t n)
{
	if (*len + n + 1 > *cap)
	{
		size_t		nc = *cap ? *cap : 32;
		char	   *p;

		while (nc < *len + n + 1)
			nc *= 2;
		p = realloc(*buf, nc);
		if (p == NULL)
			return -1;
		*buf = p;
		*cap = nc;
	}
	memcpy(*buf + *len, b, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

/*
 * Append str (n bytes, UTF-8) as a compact JSON string: quotes, the
 * two-character escapes, \u00XX for other control characters.
 */
static int
js_buf_quote(char **buf, size_t *len, size_t *cap, const char *str, size_t n)
{
	size_t		i;

	if (js_buf_add(buf, len, cap, "\"", 1) < 0)
		return -1;
	for (i = 0; i < n; i++)
	{
		unsigned char ch = (unsigned char) str[i];
		char		esc[8];
		const char *e = NULL;

		switch (ch)
		{
			case '"': e = "\\\""; break;
			case '\\': e = "\\\\"; break;
			case '\b': e = "\\b"; break;
			case '\f': e = "\\f"; break;
			case '\n': e = "\\n"; break;
			case '\r': e = "\\r"; break;
			case '\t': e = "\\t"; break;
			default:
				if (ch < 0x20)
				{
					snprintf(esc, sizeof(esc), "\\u%04x", ch);
					e = esc;
				}
		}
		if (e != NULL ? js_buf_add(buf, len, cap, e, strlen(e)) < 0
			: js_buf_add(buf, len, cap, (const char *) &str[i], 1) < 0)
			return -1;
	}
	return js_buf_add(buf, len, cap, "\"", 1);
}

/*
 * Append a value as compact JSON (the literal the model has to write).
 */
static int
js_buf_value(char **buf, size_t *len, size_t *cap, const llm_json *v)
{
	char		num[40];
	size_t		i;

	switch (v->type)
	{
		case LLM_JSON_NULL:
			return js_buf_add(buf, len, cap, "null", 4);
		case LLM_JSON_BOOL:
			return v->b ? js_buf_add(buf, len, cap, "true", 4)
				: js_buf_add(buf, len, cap, "false", 5);
		case LLM_JSON_NUMBER:
			if (v->is_int)
				snprintf(num, sizeof(num), "%lld", (long long) v->i);
			else if (v->num == floor(v->num) && fabs(v->num) < 1e15)
				snprintf(num, sizeof(num), "%.0f", v->num);
			else
			{
				int			prec;

				for (prec = 15; prec <= 17; prec++)
				{
					snprintf(num, sizeof(num), "%.*g", prec, v->num);
					if (strtod(num, NULL) == v->num)
						break;
				}
			}
			if (strcmp(num, "-0") == 0)
				strcpy(num, "0");
			return js_buf_add(buf, len, cap, num, strlen(num));
		case LLM_JSON_STRING:
			return js_buf_quote(buf, len, cap, v->str, v->len);
		case LLM_JSON_ARRAY:
			if (js_buf_add(buf, len, cap, "[", 1) < 0)
				return -1;
			for (i = 0; i < v->n; i++)
				if ((i > 0 && js_buf_add(buf, len, cap, ",", 1) < 0) ||
					js_buf_value(buf, len, cap, &v->items[i]) < 0)
					return -1;
			return js_buf_add(buf, len, cap, "]", 1);
		case LLM_JSON_OBJECT:
			if (js_buf_add(buf, len, cap, "{", 1) < 0)
				return -1;
			for (i = 0; i < v->n; i++)
				if ((i > 0 && js_buf_add(buf, len, cap, ",", 1) < 0) ||
					js_buf_quote(buf, len, cap, v->keys[i], v->key_lens[i]) < 0 ||
					js_buf_add(buf, len, cap, ":", 1) < 0 ||
					js_buf_value(buf, len, cap, &v->items[i]) < 0)
					return -1;
			return js_buf_add(buf, len, cap, "}", 1);
	}
	return -1;
}

/*
 * Does value v have JSON Schema type name t?
 */
static bool
js_value_has_type(const llm_json *v, const char *t)
{
	if (strcmp(t, "null") == 0)
		return v->type == LLM_JSON_NULL;
	if (strcmp(t, "boolean") == 0)
		return v->type == LLM_JSON_BOOL;
	if (strcmp(t, "number") == 0)
		return v->type == LLM_JSON_NUMBER;
	if (strcmp(t, "integer") == 0)
		return v->type == LLM_JSON_NUMBER && (v->is_int || v->num == floor(v->num));
	if (strcmp(t, "string") == 0)
		return v->type == LLM_JSON_STRING;
	if (strcmp(t, "array") == 0)
		return v->type == LLM_JSON_ARRAY;
	if (strcmp(t, "object") == 0)
		return v->type == LLM_JSON_OBJECT;
	return false;
}

/*
 * Does v match the schema's "type" (absent: any)?
 */
static bool
js_type_ok(const llm_json *type, const llm_json *v)
{
	size_t		i;

	if (type == NULL)
		return true;
	if (type->type == LLM_JSON_STRING)
		return js_value_has_type(v, type->str);
	for (i = 0; i < type->n; i++)
		if (js_value_has_type(v, type->items[i].str))
			return true;
	return false;
}

/*
 * Add literal v to the literals of node (a LITSET); -1 with err.
 */
static int
js_add_lit(js_ctx *c, int32_t node, const llm_json *v)
{
	llm_json_schema *s = c->s;
	char	   *buf = NULL;
	size_t		len = 0, cap = 0;
	uint32_t	j;

	if (js_buf_value(&buf, &len, &cap, v) < 0)
	{
		free(buf);
		return llm_err(c->err, "out of memory");
	}
	for (j = 0; j < s->nodes[node].n; j++)
	{
		const js_lit *l = &s->lits[s->nodes[node].first + j];

		if (l->len == len && memcmp(l->bytes, buf, len) == 0)
		{
			free(buf);			/* a repeated enum value */
			return 0;
		}
	}
	if (s->nodes[node].n >= JS_MAX_PROPS)
	{
		free(buf);
		return llm_err(c->err, "\"enum\" has more than %d values", JS_MAX_PROPS);
	}
	if (len > UINT32_MAX / 2 ||
		js_grow((void **) &s->lits, s->n_lits, &s->cap_lits, sizeof(js_lit)) < 0)
	{
		free(buf);
		return llm_err(c->err, "out of memory");
	}
	s->lits[s->n_lits].bytes = buf;
	s->lits[s->n_lits].len = (uint32_t) len;
	s->n_lits++;
	s->nodes[node].n++;
	return 0;
}

/*
 * A LITSET node of literal strings given as JSON texts (NULL-ended).
 */
static int32_t
js_litset_texts(js_ctx *c, const char *const *texts)
{
	int32_t		node = js_new_node(c, JS_LITSET);
	int			i;

	if (node < 0)
		return -1;
	c->s->nodes[node].first = c->s->n_lits;
	for (i = 0; texts[i] != NULL; i++)
	{
		llm_json   *v = llm_json_parse(texts[i], strlen(texts[i]), c->err);

		if (v == NULL)
			return -1;
		if (js_add_lit(c, node, v) < 0)
		{
			llm_json_free(v);
			return -1;
		}
		llm_json_free(v);
	}
	return node;
}

/*
 * The node of the schema "true" (any value), made on first use: a union
 * of null/true/false, any number, any string, arrays and objects of any
 * values.
 */
static int32_t
js_any(js_ctx *c)
{
	llm_json_schema *s = c->s;
	static const char *const lits[] = {"null", "true", "false", NULL};
	int32_t		u, kids[5];
	int			i;

	if (s->any >= 0)
		return s->any;
	if ((u = js_new_node(c, JS_UNION)) < 0)
		return -1;
	s->any = u;
	if ((kids[0] = js_litset_texts(c, lits)) < 0 ||
		(kids[1] = js_new_node(c, JS_NUMBER)) < 0 ||
		(kids[2] = js_new_node(c, JS_STRING)) < 0 ||
		(kids[3] = js_new_node(c, JS_ARRAY)) < 0 ||
		(kids[4] = js_new_node(c, JS_GOBJECT)) < 0)
		return -1;
	s->nodes[kids[3]].items = u;
	s->nodes[kids[4]].items = u;
	s->nodes[u].first = s->n_alts;
	for (i = 0; i < 5; i++)
	{
		if (js_grow((void **) &s->alts, s->n_alts, &s->cap_alts, sizeof(int32_t)) < 0)
			return llm_err(c->err, "out of memory");
		s->alts[s->n_alts++] = kids[i];
	}
	s->nodes[u].n = 5;
	return u;
}

/*
 * A non-negative integer keyword into *out (absent: unchanged); -1 with
 * err when it is not an integer in [0, 2^31).
 */
static int
js_count_kw(js_ctx *c, const llm_json *o, const char *kw, uint32_t *out)
{
	const llm_json *v = llm_json_get(o, kw);

	if (v == NULL)
		return 0;
	if (v->type != LLM_JSON_NUMBER || v->num != floor(v->num) || v->num < 0 ||
		v->num > 2147483647.0)
		return llm_err(c->err, "\"%s\" must be a non-negative integer below 2^31", kw);
	*out = (uint32_t) v->num;
	return 0;
}

/*
 * A finite number keyword; 1 when present (into *out), 0 absent, -1 err.
 */
static int
js_num_kw(js_ctx *c, const llm_json *o, const char *kw, double *out)
{
	const llm_json *v = llm_json_get(o, kw);

	if (v == NULL)
		return 0;
	if (v->type != LLM_JSON_NUMBER || !isfinite(v->num))
		return llm_err(c->err, "\"%s\" must be a finite number", kw);
	*out = v->num;
	return 1;
}

/*
 * A number or integer node with the schema's minimum/maximum converted
 * to units (1 or 10^-6), rounded inwards.
 */
static int32_t
js_number(js_ctx *c, const llm_json *o, bool integer)
{
	int32_t		node = js_new_node(c, JS_NUMBER);
	double		unit = integer ? 1.0 : (double) JS_REAL_UNIT;
	double		lim = integer ? 1e15 : 1e12;
	double		v = 0;
	int			r;
	js_node    *n;

	if (node < 0)
		return -1;
	n = &c->s->nodes[node];
	n->integer = integer;
	if ((r = js_num_kw(c, o, "minimum", &v)) < 0)
		return -1;
	if (r == 1)
	{
		if (v >= lim)
			return llm_err(c->err, "\"minimum\" %g is beyond the largest %s written (%g digits)",
						   v, integer ? "integer" : "number", integer ? 15.0 : 12.0);
		if (v > -lim)
			n->min_u = (int64_t) ceil(v * unit);
	}
	if ((r = js_num_kw(c, o, "maximum", &v)) < 0)
		return -1;
	if (r == 1)
	{
		if (v <= -lim)
			return llm_err(c->err, "\"maximum\" %g is beyond the smallest %s written (%g digits)",
						   v, integer ? "integer" : "number", integer ? 15.0 : 12.0);
		if (v < lim)
			n->max_u = (int64_t) floor(v * unit);
	}
	if (n->min_u > n->max_u)
		return llm_err(c->err, "no %s lies between \"minimum\" and \"maximum\"",
					   integer ? "integer" : "number");
	return node;
}

/*
 * Add a union alternative; -1 with err.
 */
static int
js_add_alt(js_ctx *c, int32_t u, int32_t alt)
{
	llm_json_schema *s = c->s;

	if (js_grow((void **) &s->alts, s->n_alts, &s->cap_alts, sizeof(int32_t)) < 0)
		return llm_err(c->err, "out of memory");
	s->alts[s->n_alts++] = alt;
	s->nodes[u].n++;
	return 0;
}

/*
 * An object node: declared properties in order, required ones flagged;
 * a required name that is not declared gets the schema "true".
 */
static int32_t
js_object(js_ctx *c, const llm_json *o, int depth)
{
	const llm_json *props = llm_json_get(o, "properties");
	const llm_json *req = llm_json_get(o, "required");
	const llm_json *addl = llm_json_get(o, "additionalProperties");
	bool		closed = false;
	size_t		n_decl = props ? props->n : 0;
	int32_t		node, *kid = NULL;
	size_t		i, k, total;
	llm_json_schema *s = c->s;

	if (props != NULL && props->type != LLM_JSON_OBJECT)
		return llm_err(c->err, "\"properties\" must be an object");
	if (props != NULL && llm_json_dup_key(props) >= 0)
		return llm_err(c->err, "\"properties\" names a property twice");
	if (req != NULL && req->type != LLM_JSON_ARRAY)
		return llm_err(c->err, "\"required\" must be an array of strings");
	if (addl != NULL)
	{
		if (addl->type != LLM_JSON_BOOL)
			return llm_err(c->err, "unsupported keyword \"additionalProperties\" with a schema (only true or false)");
		closed = !addl->b;
	}
	for (i = 0; req != NULL && i < req->n; i++)
	{
		if (req->items[i].type != LLM_JSON_STRING)
			return llm_err(c->err, "\"required\" must be an array of strings");
		for (k = 0; k < i; k++)
			if (strcmp(req->items[k].str, req->items[i].str) == 0)
				return llm_err(c->err, "\"required\" names \"%s\" twice", req->items[i].str);
	}
	/* the declared properties' schemas, then the undeclared required ones */
	total = n_decl + (req ? req->n : 0);
	if (total > 0 && (kid = calloc(total, sizeof(int32_t))) == NULL)
		return llm_err(c->err, "out of memory");
	for (i = 0; i < n_decl; i++)
		if ((kid[i] = js_compile(c, &props->items[i], depth + 1)) < 0)
			goto fail;
	k = n_decl;
	for (i = 0; req != NULL && i < req->n; i++)
		if (llm_json_get(props, req->items[i].str) == NULL)
		{
			if (closed)
			{
				llm_err(c->err, "\"required\" names \"%s\", which \"properties\" lacks while \"additionalProperties\" is false",
						req->items[i].str);
				goto fail;
			}
			if ((kid[k++] = js_any(c)) < 0)
				goto fail;
		}
	if (k > JS_MAX_PROPS)
	{
		llm_err(c->err, "an object with more than %d properties", JS_MAX_PROPS);
		goto fail;
	}
	if (k == 0 && !closed)
	{
		/* no property named: any keys, any values */
		free(kid);
		if ((node = js_new_node(c, JS_GOBJECT)) < 0)
			return -1;
		k = (size_t) js_any(c);
		if ((int32_t) k < 0)
			return -1;
		s->nodes[node].items = (int32_t) k;
		return node;
	}
	if ((node = js_new_node(c, JS_OBJECT)) < 0)
		goto fail;
	s->nodes[node].first = s->n_props;
	total = k;
	k = n_decl;
	for (i = 0; i < total; i++)
	{
		const char *name;
		size_t		name_len;
		js_prop    *p;
		char	   *buf = NULL;
		size_t		len = 0, cap = 0;
		size_t		r;

		if (i < n_decl)
			name = props->keys[i], name_len = props->key_lens[i];
		else
		{
			/* the i-n_decl'th undeclared required name */
			size_t		seen = 0;

			name = NULL;
			for (r = 0; r < req->n; r++)
				if (llm_json_get(props, req->items[r].str) == NULL && seen++ == i - n_decl)
					break;
			name = req->items[r].str;
			name_len = req->items[r].len;
		}
		if (js_grow((void **) &s->props, s->n_props, &s->cap_props, sizeof(js_prop)) < 0 ||
			js_buf_quote(&buf, &len, &cap, name, name_len) < 0)
		{
			free(buf);
			llm_err(c->err, "out of memory");
			goto fail;
		}
		p = &s->props[s->n_props++];
		p->key = buf;
		p->key_len = (uint32_t) len;
		p->node = kid[i];
		p->enabled = true;
		p->required = false;
		for (r = 0; req != NULL && r < req->n; r++)
			if (req->items[r].len == name_len && memcmp(req->items[r].str, name, name_len) == 0)
				p->required = true;
		s->nodes[node].n++;
	}
	free(kid);
	return node;

fail:
	free(kid);
	return -1;
}

/*
 * The node for one type name with the keywords of schema o.
 */
static int32_t
js_typed(js_ctx *c, const llm_json *o, const char *t, int depth)
{
	static const char *const bools[] = {"true", "false", NULL};
	static const char *const nulls[] = {"null", NULL};
	int32_t		node;
	js_node    *n;

	if (strcmp(t, "null") == 0)
		return js_litset_texts(c, nulls);
	if (strcmp(t, "boolean") == 0)
		return js_litset_texts(c, bools);
	if (strcmp(t, "number") == 0 || strcmp(t, "integer") == 0)
		return js_number(c, o, t[0] == 'i');
	if (strcmp(t, "object") == 0)
		return js_object(c, o, depth);
	if (strcmp(t, "string") == 0)
	{
		if ((node = js_new_node(c, JS_STRING)) < 0)
			return -1;
		n = &c->s->nodes[node];
		if (js_count_kw(c, o, "minLength", &n->min_n) < 0 ||
			js_count_kw(c, o, "maxLength", &n->max_n) < 0)
			return -1;
		if (n->min_n > n->max_n)
			return llm_err(c->err, "\"minLength\" is above \"maxLength\"");
		return node;
	}
	if (strcmp(t, "array") == 0)
	{
		const llm_json *items = llm_json_get(o, "items");
		int32_t		it;
		uint32_t	mn = 0, mx = UINT32_MAX;

		if (items != NULL && items->type == LLM_JSON_ARRAY)
			return llm_err(c->err, "unsupported keyword \"items\" as an array (tuple form)");
		it = items ? js_compile(c, items, depth + 1) : js_any(c);
		if (it < 0)
			return -1;
		if (js_count_kw(c, o, "minItems", &mn) < 0 || js_count_kw(c, o, "maxItems", &mx) < 0)
			return -1;
		if (mn > mx)
			return llm_err(c->err, "\"minItems\" is above \"maxItems\"");
		if ((node = js_new_node(c, JS_ARRAY)) < 0)
			return -1;
		n = &c->s->nodes[node];
		n->items = it;
		n->min_n = mn;
		n->max_n = mx;
		return node;
	}
	return llm_err(c->err, "unknown type \"%s\"", t);
}

/*
 * The JSON value a local $ref names ("#", "#/$defs/x",
 * "#/definitions/x", JSON-pointer escapes ~0 ~1), or NULL with err.
 */
static const llm_json *
js_ref_target(js_ctx *c, const char *ref)
{
	const llm_json *cur = c->root;
	const char *p = ref;

	if (p[0] != '#')
	{
		llm_err(c->err, "unsupported \"$ref\" \"%s\" (only local references starting with #)", ref);
		return NULL;
	}
	p++;
	while (*p == '/')
	{
		char		tok[256];
		size_t		n = 0;

		p++;
		while (*p && *p != '/')
		{
			char		ch = *p++;

			if (ch == '~' && (*p == '0' || *p == '1'))
				ch = *p++ == '0' ? '~' : '/';
			if (n + 1 >= sizeof(tok))
			{
				llm_err(c->err, "\"$ref\" \"%s\" is too long", ref);
				return NULL;
			}
			tok[n++] = ch;
		}
		tok[n] = '\0';
		cur = llm_json_get(cur, tok);
		if (cur == NULL)
		{
			llm_err(c->err, "\"$ref\" \"%s\" names nothing in the schema", ref);
			return NULL;
		}
	}
	if (*p != '\0')
	{
		llm_err(c->err, "unsupported \"$ref\" \"%s\"", ref);
		return NULL;
	}
	return cur;
}

/*
 * A $ref: one REF node per target, so a recursive reference closes a
 * cycle instead of recursing for ever.
 */
static int32_t
js_ref(js_ctx *c, const char *ref, int depth)
{
	const llm_json *t = js_ref_target(c, ref);
	int32_t		node, target;
	size_t		i;

	if (t == NULL)
		return -1;
	for (i = 0; i < c->n_memo; i++)
		if (c->memo[i].target == t)
			return c->memo[i].node;
	if ((node = js_new_node(c, JS_REF)) < 0)
		return -1;
	if (c->n_memo == c->cap_memo)
	{
		size_t		nc = c->cap_memo ? c->cap_memo * 2 : 8;
		js_memo    *m = realloc(c->memo, nc * sizeof(js_memo));

		if (m == NULL)
			return llm_err(c->err, "out of memory");
		c->memo = m;
		c->cap_memo = nc;
	}
	c->memo[c->n_memo].target = t;
	c->memo[c->n_memo].node = node;
	c->n_memo++;
	if ((target = js_compile(c, t, depth + 1)) < 0)
		return -1;
	c->s->nodes[node].items = target;
	return node;
}

/*
 * Classes of first bytes a node's values can start with.
 */
static int
js_classes(const llm_json_schema *s, int32_t node, int depth)
{
	const js_node *n;
	int			m = 0;
	uint32_t	j;

	node = js_resolve(s, node);
	if (node < 0 || depth > 32)
		return C_ALL;
	n = &s->nodes[node];
	switch (n->kind)
	{
		case JS_LITSET:
			for (j = 0; j < n->n; j++)
			{
				char		b = s->lits[n->first + j].bytes[0];

				m |= b == 'n' ? C_NULL : b == 't' ? C_TRUE : b == 'f' ? C_FALSE :
					b == '"' ? C_STR : b == '[' ? C_ARR : b == '{' ? C_OBJ : C_NUM;
			}
			return m;
		case JS_STRING:
			return C_STR;
		case JS_NUMBER:
			return C_NUM;
		case JS_ARRAY:
			return C_ARR;
		case JS_OBJECT:
		case JS_GOBJECT:
			return C_OBJ;
		case JS_UNION:
			for (j = 0; j < n->n; j++)
				m |= js_classes(s, s->alts[n->first + j], depth + 1);
			return m;
		case JS_REF:
			return C_ALL;
	}
	return C_ALL;
}

/*
 * oneOf: accept only branches that cannot match the same value - their
 * first-byte classes differ, or both are literal sets with no common
 * literal - so that "exactly one" holds for whatever is written.
 */
static int
js_oneof_check(js_ctx *c, int32_t a, int32_t b)
{
	const llm_json_schema *s = c->s;
	int32_t		ra = js_resolve(s, a), rb = js_resolve(s, b);
	uint32_t	i, j;

	if ((js_classes(s, a, 0) & js_classes(s, b, 0)) == 0)
		return 0;
	if (ra >= 0 && rb >= 0 && s->nodes[ra].kind == JS_LITSET && s->nodes[rb].kind == JS_LITSET)
	{
		const js_node *na = &s->nodes[ra], *nb = &s->nodes[rb];

		for (i = 0; i < na->n; i++)
			for (j = 0; j < nb->n; j++)
			{
				const js_lit *la = &s->lits[na->first + i], *lb = &s->lits[nb->first + j];

				if (la->len == lb->len && memcmp(la->bytes, lb->bytes, la->len) == 0)
					goto overlap;
			}
		return 0;
	}
overlap:
	return llm_err(c->err, "unsupported \"oneOf\" whose branches can match the same value (use \"anyOf\")");
}

/*
 * Error unless every key of o is an annotation or in allowed.
 */
static int
js_only(js_ctx *c, const llm_json *o, const char *what, const char *const *allowed)
{
	size_t		i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], what) != 0 && !js_in(o->keys[i], js_annotations) &&
			!js_in(o->keys[i], allowed))
			return llm_err(c->err, "unsupported keyword \"%s\" together with \"%s\"",
						   o->keys[i], what);
	return 0;
}

/*
 * Compile one schema value into a node.
 */
static int32_t
js_compile(js_ctx *c, const llm_json *j, int depth)
{
	const llm_json *type, *v;
	size_t		i;
	static const char *const with_type[] = {"type", NULL};
	static const char *const none[] = {NULL};
	static const char *const obj_kw[] = {"properties", "required", "additionalProperties", NULL};
	static const char *const arr_kw[] = {"items", "minItems", "maxItems", NULL};
	static const char *const str_kw[] = {"minLength", "maxLength", NULL};
	static const char *const num_kw[] = {"minimum", "maximum", NULL};

	if (depth > JS_MAX_COMPILE_DEPTH)
		return llm_err(c->err, "schema nested too deeply");
	if (j->type == LLM_JSON_BOOL)
	{
		if (!j->b)
			return llm_err(c->err, "the schema false matches nothing");
		return js_any(c);
	}
	if (j->type != LLM_JSON_OBJECT)
		return llm_err(c->err, "a schema must be an object or a boolean");
	if (llm_json_dup_key(j) >= 0)
		return llm_err(c->err, "a schema object names a keyword twice");
	for (i = 0; i < j->n; i++)
		if (!js_in(j->keys[i], js_annotations) && !js_in(j->keys[i], js_keywords))
			return llm_err(c->err, "unsupported keyword \"%s\"", j->keys[i]);

	type = llm_json_get(j, "type");
	if (type != NULL)
	{
		if (type->type == LLM_JSON_ARRAY)
		{
			if (type->n == 0)
				return llm_err(c->err, "\"type\" is an empty array");
			for (i = 0; i < type->n; i++)
				if (type->items[i].type != LLM_JSON_STRING)
					return llm_err(c->err, "\"type\" must be a string or an array of strings");
		}
		else if (type->type != LLM_JSON_STRING)
			return llm_err(c->err, "\"type\" must be a string or an array of strings");
		for (i = 0; i < (type->type == LLM_JSON_ARRAY ? type->n : 1); i++)
		{
			const char *t = type->type == LLM_JSON_ARRAY ? type->items[i].str : type->str;

			if (!js_in(t, js_types))
				return llm_err(c->err, "unknown type \"%s\"", t);
		}
	}

	if ((v = llm_json_get(j, "$ref")) != NULL)
	{
		if (v->type != LLM_JSON_STRING)
			return llm_err(c->err, "\"$ref\" must be a string");
		if (js_only(c, j, "$ref", none) < 0)
			return -1;
		return js_ref(c, v->str, depth);
	}
	if (llm_json_get(j, "anyOf") != NULL || llm_json_get(j, "oneOf") != NULL)
	{
		bool		one = llm_json_get(j, "anyOf") == NULL;
		const char *kw = one ? "oneOf" : "anyOf";
		int32_t		u;
		uint32_t	a, b;

		v = llm_json_get(j, kw);
		if (js_only(c, j, kw, none) < 0)
			return -1;
		if (v->type != LLM_JSON_ARRAY || v->n == 0 || v->n > JS_MAX_PROPS)
			return llm_err(c->err, "\"%s\" must be an array of 1 to %d schemas", kw, JS_MAX_PROPS);
		if ((u = js_new_node(c, JS_UNION)) < 0)
			return -1;
		/* compile the branches first: they add alternatives of their own */
		{
			int32_t		kids[JS_MAX_PROPS];

			for (i = 0; i < v->n; i++)
				if ((kids[i] = js_compile(c, &v->items[i], depth + 1)) < 0)
					return -1;
			c->s->nodes[u].first = c->s->n_alts;
			for (i = 0; i < v->n; i++)
				if (js_add_alt(c, u, kids[i]) < 0)
					return -1;
			for (a = 0; one && a < v->n; a++)
				for (b = a + 1; b < v->n; b++)
					if (js_oneof_check(c, kids[a], kids[b]) < 0)
						return -1;
		}
		return u;
	}
	if (llm_json_get(j, "enum") != NULL || llm_json_get(j, "const") != NULL)
	{
		const llm_json *e = llm_json_get(j, "enum");
		const llm_json *k = llm_json_get(j, "const");
		int32_t		node;

		if (e != NULL && k != NULL)
			return llm_err(c->err, "unsupported keyword \"const\" together with \"enum\"");
		if (js_only(c, j, e ? "enum" : "const", with_type) < 0)
			return -1;
		if (e != NULL && (e->type != LLM_JSON_ARRAY || e->n == 0))
			return llm_err(c->err, "\"enum\" must be a non-empty array");
		if ((node = js_new_node(c, JS_LITSET)) < 0)
			return -1;
		c->s->nodes[node].first = c->s->n_lits;
		for (i = 0; i < (e ? e->n : 1); i++)
		{
			const llm_json *val = e ? &e->items[i] : k;

			if (js_type_ok(type, val) && js_add_lit(c, node, val) < 0)
				return -1;
		}
		if (c->s->nodes[node].n == 0)
			return llm_err(c->err, "no value of \"%s\" has the schema's \"type\"", e ? "enum" : "const");
		return node;
	}
	if (type == NULL)
	{
		/* no type: the kind the keywords name, or any value */
		const char *const *sets[4] = {obj_kw, arr_kw, str_kw, num_kw};
		const char *names[4] = {"object", "array", "string", "number"};
		int			found = -1, s;

		for (s = 0; s < 4; s++)
			for (i = 0; i < j->n; i++)
				if (js_in(j->keys[i], sets[s]))
				{
					if (found >= 0 && found != s)
						return llm_err(c->err, "keywords of several types without \"type\" are not supported (\"%s\")",
									   j->keys[i]);
					found = s;
				}
		if (found < 0)
			return js_any(c);
		return js_typed(c, j, names[found], depth);
	}
	if (type->type == LLM_JSON_STRING)
		return js_typed(c, j, type->str, depth);
	{
		int32_t		u = js_new_node(c, JS_UNION);
		int32_t		kids[8];

		if (u < 0)
			return -1;
		if (type->n > 8)
			return llm_err(c->err, "\"type\" lists more than 8 types");
		for (i = 0; i < type->n; i++)
			if ((kids[i] = js_typed(c, j, type->items[i].str, depth)) < 0)
				return -1;
		c->s->nodes[u].first = c->s->n_alts;
		for (i = 0; i < type->n; i++)
			if (js_add_alt(c, u, kids[i]) < 0)
				return -1;
		return u;
	}
}

/*
 * Least fixpoint of "some value matches": a node is satisfiable when
 * its own bounds allow a value and the children it cannot do without
 * are satisfiable. Then unions drop unsatisfiable branches, objects
 * disable optional properties that cannot be met and arrays whose items
 * cannot be met are held to zero items.
 */
static int
js_satisfiable(llm_json_schema *s, char *err)
{
	bool		changed = true;
	uint32_t	i, j;

	for (i = 0; i < s->n_nodes; i++)
		s->nodes[i].sat = false;
	while (changed)
	{
		changed = false;
		for (i = 0; i < s->n_nodes; i++)
		{
			js_node    *n = &s->nodes[i];
			bool		ok = false;

			if (n->sat)
				continue;
			switch (n->kind)
			{
				case JS_LITSET:
					ok = n->n > 0;
					break;
				case JS_STRING:
				case JS_NUMBER:
				case JS_GOBJECT:
					ok = true;	/* bounds checked when compiled */
					break;
				case JS_ARRAY:
					ok = n->min_n == 0 || s->nodes[n->items].sat;
					break;
				case JS_OBJECT:
					ok = true;
					for (j = 0; j < n->n; j++)
						if (s->props[n->first + j].required && !s->nodes[s->props[n->first + j].node].sat)
							ok = false;
					break;
				case JS_UNION:
					for (j = 0; j < n->n; j++)
						if (s->nodes[s->alts[n->first + j]].sat)
							ok = true;
					break;
				case JS_REF:
					ok = n->items >= 0 && s->nodes[n->items].sat;
					break;
			}
			if (ok)
			{
				n->sat = true;
				changed = true;
			}
		}
	}
	if (!s->nodes[s->root].sat)
		return llm_err(err, "no finite JSON value satisfies the schema");
	for (i = 0; i < s->n_nodes; i++)
	{
		js_node    *n = &s->nodes[i];

		if (n->kind == JS_UNION)
		{
			uint32_t	k = 0;

			for (j = 0; j < n->n; j++)
				if (s->nodes[s->alts[n->first + j]].sat)
					s->alts[n->first + k++] = s->alts[n->first + j];
			n->n = k;
		}
		else if (n->kind == JS_OBJECT)
		{
			for (j = 0; j < n->n; j++)
				s->props[n->first + j].enabled = s->nodes[s->props[n->first + j].node].sat;
		}
		else if (n->kind == JS_ARRAY && !s->nodes[n->items].sat)
			n->max_n = 0;
	}
	return 0;
}

/*
 * Compile schema text. See json_schema.h.
 */
int
llm_json_schema_compile(llm_json_schema **out, const char *text, size_t len, char *err)
{
	llm_json_schema *s;
	llm_json   *root;
	js_ctx		c;
	int32_t		r;

	*out = NULL;
	root = llm_json_parse(text, len, err);
	if (root == NULL)
		return -1;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
	{
		llm_json_free(root);
		return llm_err(err, "out of memory");
	}
	s->any = -1;
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.root = root;
	c.err = err;
	r = js_compile(&c, root, 0);
	if (r >= 0)
	{
		s->root = r;
		s->free_string = js_new_node(&c, JS_STRING);
		if (s->free_string < 0)
			r = -1;
	}
	if (r >= 0 && js_resolve(s, s->root) < 0)
		r = llm_err(err, "\"$ref\" refers only to itself");
	if (r >= 0 && js_satisfiable(s, err) < 0)
		r = -1;
	free(c.memo);
	llm_json_free(root);
	if (r < 0)
	{
		llm_json_schema_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

/*
 * Free a compiled schema (NULL is fine).
 */
void
llm_json_schema_free(llm_json_schema *s)
{
	uint32_t	i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_props; i++)
		free(s->props[i].key);
	for (i = 0; i < s->n_lits; i++)
		free(s->lits[i].bytes);
	free(s->props);
	free(s->lits);
	free(s->alts);
	free(s->nodes);
	free(s);
}
