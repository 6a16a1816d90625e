/*
 * json.h - a small strict JSON (RFC 8259) parser producing a tree.
 *
 * Used for safetensors headers and the configuration files of Hugging
 * Face model directories. Strings are decoded to UTF-8 (\u escapes with
 * surrogate pairs; lone surrogates and raw control characters are
 * rejected); nesting is limited to LLM_JSON_MAX_DEPTH. Object keys keep
 * their file order; duplicates are kept (see llm_json_dup_key()).
 */
#ifndef LLM_JSON_H
#define LLM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLM_JSON_MAX_DEPTH 128

typedef enum llm_json_type
{
	LLM_JSON_NULL,
	LLM_JSON_BOOL,
	LLM_JSON_NUMBER,
	LLM_JSON_STRING,
	LLM_JSON_ARRAY,
	LLM_JSON_OBJECT
} llm_json_type;

typedef struct llm_json llm_json;

struct llm_json
{
	llm_json_type type;
	bool		b;				/* BOOL */
	bool		is_int;			/* NUMBER written without fraction/exponent
								 * and fitting in int64 */
	int64_t		i;				/* NUMBER when is_int */
	double		num;			/* NUMBER */
	char	   *str;			/* STRING: NUL-terminated UTF-8 */
	size_t		len;			/* STRING: bytes (may contain NULs) */
	size_t		n;				/* ARRAY/OBJECT: number of items */
	llm_json   *items;			/* ARRAY/OBJECT: n values */
	char	  **keys;			/* OBJECT: n NUL-terminated keys */
	size_t	   *key_lens;		/* OBJECT: key lengths in bytes */
};

/* Parse text[0..len). NULL with a message (position included) on error. */
llm_json   *llm_json_parse(const char *text, size_t len, char *err);

/* Free a tree returned by llm_json_parse (NULL is fine). */
void		llm_json_free(llm_json *v);

/* Member of an object by key (first match), NULL if absent or not an object. */
const llm_json *llm_json_get(const llm_json *obj, const char *key);

/* Typed member lookups: return def when absent or of another type. */
bool		llm_json_get_bool(const llm_json *obj, const char *key, bool def);
int64_t		llm_json_get_int(const llm_json *obj, const char *key, int64_t def);
double		llm_json_get_num(const llm_json *obj, const char *key, double def);
const char *llm_json_get_str(const llm_json *obj, const char *key);

/* Index of a duplicated key in an object, or -1 when keys are unique. */
int64_t		llm_json_dup_key(const llm_json *obj);

/* Read a whole (small) file into a malloc'd NUL-terminated buffer. */
int			llm_json_read_file(const char *path, size_t max, char **out,
							   size_t *len, char *err);

/* Read and parse a JSON file; NULL with err on failure. */
llm_json   *llm_json_parse_file(const char *path, char *err);

#endif							/* LLM_JSON_H */
