/*
 * fuzz_json_schema.c - libFuzzer target: the JSON-schema compiler and its
 * byte matcher, and the reference validator. The input up to its first
 * NUL byte is the schema; the rest is a document fed byte by byte to the
 * compiled matcher and given, with the schema, to
 * llm_json_schema_validate().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_schema.h"
#include "llm_util.h"

/* One input: compile its schema, match and validate its document. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t		slen = nul ? (size_t) (nul - data) : size;
	const char *doc = nul ? (const char *) nul + 1 : "";
	size_t		dlen = nul ? size - slen - 1 : 0;
	char		err[LLM_ERRLEN];
	llm_json_schema *s;
	int			v;

	v = llm_json_schema_validate((const char *) data, slen, doc, dlen, err);
	if (llm_json_schema_compile(&s, (const char *) data, slen, err) < 0)
		return 0;
	{
		llm_jm_state *st = malloc(sizeof(*st));

		if (st != NULL)
		{
			bool		ok;

			llm_jm_init(s, st);
			ok = llm_jm_feed_bytes(s, st, doc, dlen);
			(void) llm_jm_string_room(s, st);
			(void) v;
			(void) ok;
			if (ok)
				(void) llm_jm_complete(s, st);
			free(st);
		}
	}
	llm_json_schema_free(s);
	return 0;
}
