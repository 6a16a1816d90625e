/*
 * json_schema.h - JSON Schema compiled into a byte-level matcher, and the
 * token masks that keep a generation inside it.
 *
 * llm_json_schema_compile() turns a schema (JSON text) into an immutable
 * graph of nodes. The subset understood: type (object, array, string,
 * number, integer, boolean, null, and arrays of them), properties,
 * required, additionalProperties (true/false), items, minItems, maxItems,
 * enum, const, minLength, maxLength, minimum, maximum, anyOf, oneOf
 * (branches that cannot match the same value), local $ref ("#",
 * "#/$defs/...", "#/definitions/...") with $defs/definitions, and the
 * annotations title, description, default, examples, $schema, $id,
 * $comment, deprecated, readOnly, writeOnly. Any other keyword is an
 * error that names it.
 *
 * The language matched is a subset of the values the schema allows:
 * compact JSON (no whitespace), object properties in schema order (an
 * optional one may be left out), only declared properties when the
 * schema declares any, numbers without exponent (integers up to 15
 * digits; other numbers up to 12 integer and 6 fraction digits), no
 * \u0000 escape. Every prefix the matcher accepts can still be completed
 * to a valid document, except for recursion deeper than
 * LLM_JM_MAX_DEPTH.
 *
 * A matcher state (llm_jm_state) is a plain struct: a small set of
 * alternative parse stacks (threads), one per union branch still alive
 * (a union forks when its value starts, so only the branches whose first
 * byte matched are kept; beyond LLM_JM_MAX_THREADS live branches the
 * later ones are dropped, which narrows the language, never widens it).
 * Copy it by value; it holds no pointers.
 */
#ifndef LLM_JSON_SCHEMA_H
#define LLM_JSON_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

#define LLM_JM_MAX_THREADS	4	/* union branches alive at once */
#define LLM_JM_MAX_DEPTH	20	/* nesting of arrays/objects/values */

typedef struct llm_json_schema llm_json_schema;

/* one entry of a parse stack; fields are used per node kind */
typedef struct llm_jm_frame
{
	uint16_t	node;
	uint8_t		phase;
	uint8_t		sub;
	uint8_t		aux;
	uint8_t		flags;
	uint16_t	pad;
	uint32_t	count;
	uint32_t	pad2;
	uint64_t	w;
} llm_jm_frame;

typedef struct llm_jm_state
{
	uint8_t		started;		/* 0: nothing fed yet (the root value is due) */
	uint8_t		n_threads;		/* 0: dead (nothing can follow) */
	uint8_t		depth[LLM_JM_MAX_THREADS];	/* 0: that thread's value is complete */
	llm_jm_frame f[LLM_JM_MAX_THREADS][LLM_JM_MAX_DEPTH];
} llm_jm_state;

/*
 * Compile schema text (len bytes). -1 with err naming the problem (an
 * unsupported keyword is named in quotes).
 */
int			llm_json_schema_compile(llm_json_schema **out, const char *text,
									size_t len, char *err);
void		llm_json_schema_free(llm_json_schema *s);

/* the state before any byte */
void		llm_jm_init(const llm_json_schema *s, llm_jm_state *st);

/*
 * The state after byte c from state in, into *out. false when c cannot
 * continue a valid prefix (then *out is dead).
 */
bool		llm_jm_feed(const llm_json_schema *s, const llm_jm_state *in,
						uint8_t c, llm_jm_state *out);

/* feed n bytes in place; false (state dead) at the first refused byte */
bool		llm_jm_feed_bytes(const llm_json_schema *s, llm_jm_state *st,
							  const char *bytes, size_t n);

/* true when the bytes fed so far form a complete valid document */
bool		llm_jm_complete(const llm_json_schema *s, const llm_jm_state *st);

/*
 * When the state's only thread is inside the body of an unconstrained
 * run of string characters: the characters it may still add (UINT32_MAX
 * for no limit). -1 otherwise. Used by the masker's fast path.
 */
int64_t		llm_jm_string_room(const llm_json_schema *s, const llm_jm_state *st);

/* ------------------------------------------------------------ token masks */

/*
 * The vocabulary of a tokenizer as byte tries, built once per model:
 * every token whose output bytes are not empty (control tokens are
 * never allowed), plus the split the fast path uses: "plain" tokens
 * (their bytes stay inside a JSON string body) counted in characters,
 * and a trie of the others.
 */
typedef struct llm_vocab_trie llm_vocab_trie;

int			llm_vocab_trie_new(llm_vocab_trie **out, const llm_tokenizer *t, char *err);
void		llm_vocab_trie_free(llm_vocab_trie *v);
int32_t		llm_vocab_trie_n_vocab(const llm_vocab_trie *v);

/* per-request scratch for mask computation (one DFS stack of states) */
typedef struct llm_json_masker llm_json_masker;

llm_json_masker *llm_json_masker_new(void);
void		llm_json_masker_free(llm_json_masker *mk);

/*
 * allowed[0..n_vocab) := 1 for every token whose bytes can all be fed
 * from st, else 0 (end-of-generation tokens are left 0: the caller
 * allows them when llm_jm_complete()). Returns the number allowed.
 * Walks the token trie, pruning at the first refused byte, and takes
 * plain tokens in bulk inside string bodies.
 */
int32_t		llm_json_mask(llm_json_masker *mk, const llm_vocab_trie *v,
						  const llm_json_schema *s, const llm_jm_state *st,
						  uint8_t *allowed);

/* The reference: the same result, feeding every token's bytes one by one. */
int32_t		llm_json_mask_ref(const llm_vocab_trie *v, const llm_json_schema *s,
							  const llm_jm_state *st, uint8_t *allowed);

/* allowed[t] := 1 for every end-of-generation token t */
void		llm_vocab_trie_allow_eog(const llm_vocab_trie *v, uint8_t *allowed);

/* bytes of token tok as the trie holds them (NULL when never allowed) */
const char *llm_vocab_trie_piece(const llm_vocab_trie *v, int32_t tok, size_t *len);

/* ------------------------------------------------------ reference validator */

/*
 * Validate the JSON document doc against the schema text, straight from
 * the two parsed trees (no compiled matcher involved): the independent
 * check of the tests. 1 valid, 0 invalid (why in err), -1 error (err).
 */
int			llm_json_schema_validate(const char *schema, size_t schema_len,
									 const char *doc, size_t doc_len, char *err);

#endif							/* LLM_JSON_SCHEMA_H */
