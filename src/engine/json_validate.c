/*
 * json_validate.c - the reference validator: a JSON document checked
 * against a JSON Schema by walking both parsed trees, keyword by
 * keyword, with no use of the compiled matcher. The tests check every
 * matcher output with it, so a matcher bug cannot hide behind itself.
 */
#include "json_schema.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "llm_util.h"

/*
 * Deep equality of two JSON values (numbers by value, object keys in
 * any order).
 */
static bool
jv_equal(const llm_json *a, const llm_json *b)
{
	size_t		i;

	if (a->type != b->type)
		return false;
	switch (a->type)
	{
		case LLM_JSON_NULL:
			return true;
		case LLM_JSON_BOOL:
			return a->b == b->b;
		case LLM_JSON_NUMBER:
			if (a->is_int && b->is_int)
				return a->i == b->i;
			return a->num == b->num;
		case LLM_JSON_STRING:
			return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
		case LLM_JSON_ARRAY:
			if (a->n != b->n)
				return false;
			for (i = 0; i < a->n; i++)
				if (!jv_equal(&a->items[i], &b->items[i]))
					return false;
			return true;
		case LLM_JSON_OBJECT:
			if (a->n != b->n)
				return false;
			for (i = 0; i < a->n; i++)
			{
				const llm_json *o = llm_json_get(b, a->keys[i]);

				if (o == NULL || !jv_equal(&a->items[i], o))
					return false;
			}
			return true;
	}
	return false;
}

/*
 * Does v have the type named t?
 */
static bool
jv_type(const llm_json *v, const char *t)
{
	if (strcmp(t, "integer") == 0)
		return v->type == LLM_JSON_NUMBER && (v->is_int || v->num == floor(v->num));
	return (strcmp(t, "null") == 0 && v->type == LLM_JSON_NULL) ||
		(strcmp(t, "boolean") == 0 && v->type == LLM_JSON_BOOL) ||
		(strcmp(t, "number") == 0 && v->type == LLM_JSON_NUMBER) ||
		(strcmp(t, "string") == 0 && v->type == LLM_JSON_STRING) ||
		(strcmp(t, "array") == 0 && v->type == LLM_JSON_ARRAY) ||
		(strcmp(t, "object") == 0 && v->type == LLM_JSON_OBJECT);
}

/*
 * Characters (code points) of a UTF-8 string.
 */
static size_t
jv_chars(const char *s, size_t len)
{
	size_t		n = 0, i;

	for (i = 0; i < len; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/*
 * The schema a local $ref names, or NULL.
 */
static const llm_json *
jv_ref(const llm_json *root, const char *ref)
{
	const llm_json *cur = root;
	const char *p = ref;

	if (*p++ != '#')
		return NULL;
	while (*p == '/')
	{
		char		tok[256];
		size_t		n = 0;

		p++;
		while (*p && *p != '/' && n + 1 < sizeof(tok))
		{
			char		ch = *p++;

			if (ch == '~' && (*p == '0' || *p == '1'))
				ch = *p++ == '0' ? '~' : '/';
			tok[n++] = ch;
		}
		tok[n] = '\0';
		if ((cur = llm_json_get(cur, tok)) == NULL)
			return NULL;
	}
	return *p == '\0' ? cur : NULL;
}

/*
 * 1 when v satisfies schema sc (root for $ref), 0 when not (why in err).
 */
static int
jv_check(const llm_json *root, const llm_json *sc, const llm_json *v, int depth,
		 char *err)
{
	const llm_json *k;
	size_t		i;

	if (depth > 200)
		return llm_err(err, "validator recursion too deep"), 0;
	if (sc->type == LLM_JSON_BOOL)
		return sc->b ? 1 : (llm_err(err, "schema false"), 0);
	if ((k = llm_json_get(sc, "$ref")) != NULL)
	{
		const llm_json *t;

		if (k->type != LLM_JSON_STRING)
			return llm_err(err, "$ref is not a string"), 0;
		t = jv_ref(root, k->str);

		if (t == NULL)
			return llm_err(err, "bad $ref %s", k->str), 0;
		return jv_check(root, t, v, depth + 1, err);
	}
	if ((k = llm_json_get(sc, "type")) != NULL)
	{
		bool		hit = false;

		if (k->type == LLM_JSON_STRING)
			hit = jv_type(v, k->str);
		for (i = 0; k->type == LLM_JSON_ARRAY && i < k->n; i++)
			hit = hit || (k->items[i].type == LLM_JSON_STRING &&
						  jv_type(v, k->items[i].str));
		if (!hit)
			return llm_err(err, "wrong type"), 0;
	}
	if ((k = llm_json_get(sc, "enum")) != NULL)
	{
		bool		hit = false;

		for (i = 0; i < k->n; i++)
			hit = hit || jv_equal(&k->items[i], v);
		if (!hit)
			return llm_err(err, "not in enum"), 0;
	}
	if ((k = llm_json_get(sc, "const")) != NULL && !jv_equal(k, v))
		return llm_err(err, "not the const"), 0;
	if ((k = llm_json_get(sc, "anyOf")) != NULL)
	{
		bool		hit = false;

		for (i = 0; i < k->n && !hit; i++)
			hit = jv_check(root, &k->items[i], v, depth + 1, err) == 1;
		if (!hit)
			return llm_err(err, "no anyOf branch"), 0;
	}
	if ((k = llm_json_get(sc, "oneOf")) != NULL)
	{
		int			hits = 0;

		for (i = 0; i < k->n; i++)
			hits += jv_check(root, &k->items[i], v, depth + 1, err) == 1;
		if (hits != 1)
			return llm_err(err, "%d oneOf branches match", hits), 0;
	}
	if (v->type == LLM_JSON_STRING)
	{
		size_t		n = jv_chars(v->str, v->len);

		if ((k = llm_json_get(sc, "minLength")) != NULL && (double) n < k->num)
			return llm_err(err, "shorter than minLength"), 0;
		if ((k = llm_json_get(sc, "maxLength")) != NULL && (double) n > k->num)
			return llm_err(err, "longer than maxLength"), 0;
	}
	if (v->type == LLM_JSON_NUMBER)
	{
		if ((k = llm_json_get(sc, "minimum")) != NULL && v->num < k->num)
			return llm_err(err, "below minimum"), 0;
		if ((k = llm_json_get(sc, "maximum")) != NULL && v->num > k->num)
			return llm_err(err, "above maximum"), 0;
	}
	if (v->type == LLM_JSON_ARRAY)
	{
		if ((k = llm_json_get(sc, "minItems")) != NULL && (double) v->n < k->num)
			return llm_err(err, "fewer than minItems"), 0;
		if ((k = llm_json_get(sc, "maxItems")) != NULL && (double) v->n > k->num)
			return llm_err(err, "more than maxItems"), 0;
		if ((k = llm_json_get(sc, "items")) != NULL)
			for (i = 0; i < v->n; i++)
				if (jv_check(root, k, &v->items[i], depth + 1, err) != 1)
					return 0;
	}
	if (v->type == LLM_JSON_OBJECT)
	{
		const llm_json *props = llm_json_get(sc, "properties");
		const llm_json *add = llm_json_get(sc, "additionalProperties");

		if ((k = llm_json_get(sc, "required")) != NULL)
			for (i = 0; k->type == LLM_JSON_ARRAY && i < k->n; i++)
			{
				if (k->items[i].type != LLM_JSON_STRING)
					return llm_err(err, "required holds a non-string"), 0;
				if (llm_json_get(v, k->items[i].str) == NULL)
					return llm_err(err, "required \"%s\" missing", k->items[i].str), 0;
			}
		for (i = 0; i < v->n; i++)
		{
			const llm_json *ps = llm_json_get(props, v->keys[i]);

			if (ps != NULL)
			{
				if (jv_check(root, ps, &v->items[i], depth + 1, err) != 1)
					return 0;
			}
			else if (add != NULL && add->type == LLM_JSON_BOOL && !add->b)
				return llm_err(err, "additional property \"%s\"", v->keys[i]), 0;
		}
	}
	return 1;
}

/*
 * Validate doc against schema. See json_schema.h.
 */
int
llm_json_schema_validate(const char *schema, size_t schema_len, const char *doc,
						 size_t doc_len, char *err)
{
	llm_json   *sc = llm_json_parse(schema, schema_len, err);
	llm_json   *v;
	int			r;

	if (sc == NULL)
		return -1;
	v = llm_json_parse(doc, doc_len, err);
	if (v == NULL)
	{
		llm_json_free(sc);
		return 0;				/* not JSON at all: invalid */
	}
	r = jv_check(sc, sc, v, 0, err);
	llm_json_free(v);
	llm_json_free(sc);
	return r;
}
