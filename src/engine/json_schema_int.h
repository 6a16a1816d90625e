/*
 * json_schema_int.h - the compiled schema graph, shared by the compiler
 * (json_schema.c) and the matcher (json_match.c).
 */
#ifndef LLM_JSON_SCHEMA_INT_H
#define LLM_JSON_SCHEMA_INT_H

#include "json_schema.h"

#define JS_MAX_NODES	4096
#define JS_MAX_PROPS	64		/* properties of one object, values of one enum */
#define JS_INT_DIGITS	15		/* integer type: digits written at most */
#define JS_REAL_DIGITS	12		/* number type: integer digits at most */
#define JS_FRAC_DIGITS	6		/* number type: fraction digits at most */
#define JS_REAL_UNIT	1000000 /* 10^JS_FRAC_DIGITS */
#define JS_NO_MIN		(-(INT64_C(4000000000000000000)))
#define JS_NO_MAX		(INT64_C(4000000000000000000))

typedef enum js_kind
{
	JS_LITSET,					/* one of a few literal byte strings */
	JS_STRING,
	JS_NUMBER,
	JS_ARRAY,
	JS_OBJECT,					/* declared properties */
	JS_GOBJECT,					/* any keys, values of node 'items' */
	JS_UNION,
	JS_REF						/* stands for node 'items' */
} js_kind;

typedef struct js_prop
{
	char	   *key;			/* the key as compact JSON: "..." with quotes */
	uint32_t	key_len;
	int32_t		node;
	bool		required;
	bool		enabled;		/* false: its schema can never be met */
} js_prop;

typedef struct js_lit
{
	char	   *bytes;			/* compact JSON text of the value */
	uint32_t	len;
} js_lit;

typedef struct js_node
{
	js_kind		kind;
	bool		integer;		/* NUMBER: integers only */
	bool		sat;			/* some value matches */
	int64_t		min_u;			/* NUMBER: bounds in units (1 or 10^-6) */
	int64_t		max_u;
	uint32_t	min_n;			/* STRING chars / ARRAY items */
	uint32_t	max_n;
	int32_t		items;			/* ARRAY item node, GOBJECT value node, REF target */
	uint32_t	first;			/* UNION: alts[]; OBJECT: props[]; LITSET: lits[] */
	uint32_t	n;
} js_node;

struct llm_json_schema
{
	js_node    *nodes;
	uint32_t	n_nodes;
	uint32_t	cap_nodes;
	int32_t    *alts;
	uint32_t	n_alts;
	uint32_t	cap_alts;
	js_prop    *props;
	uint32_t	n_props;
	uint32_t	cap_props;
	js_lit	   *lits;
	uint32_t	n_lits;
	uint32_t	cap_lits;
	int32_t		root;
	int32_t		any;			/* node of the schema "true", -1 until needed */
	int32_t		free_string;	/* node of a string without limits (keys) */
};

/* follow REF nodes (bounded); -1 on a cycle of REFs */
int32_t		js_resolve(const llm_json_schema *s, int32_t node);

#endif							/* LLM_JSON_SCHEMA_INT_H */
