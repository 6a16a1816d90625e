/*
 * pg_schema.c - the json_schema argument of the generation functions.
 *
 * The schema (jsonb) is written out as text, converted to UTF-8 and
 * compiled here, in the calling backend, so that an unsupported keyword
 * or a bad bound fails at call time with the keyword named; the worker
 * compiles it again from the text that travels after the stop strings
 * in the request input (see pg_queue.c).
 *
 * jsonb keeps object keys sorted (shorter keys first), so the order in
 * which the matcher writes "properties" is jsonb's order, not the order
 * of the text the caller typed.
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/jsonb.h"

#include "llm_engine.h"
#include "pg_llm.h"

/*
 * The schema as UTF-8 text (palloc'd, NUL-terminated).
 */
char *
llm_json_schema_text(Jsonb *schema)
{
	char	   *txt = JsonbToCString(NULL, &schema->root, VARSIZE(schema));
	char	   *conv = pg_server_to_any(txt, strlen(txt), PG_UTF8);

	if (conv != txt)
		pfree(txt);
	return conv;
}

/*
 * Read the json_schema argument argno (absent or NULL: none). A schema
 * that does not compile is an error naming the problem; stop strings
 * cannot be combined with it. Appends the schema text and its NUL to
 * input and sets opt->json_schema.
 */
void
llm_json_schema_arg(FunctionCallInfo fcinfo, int argno, LlmGenOptions *opt,
					StringInfo input)
{
	char	   *txt;
	char		err[LLM_ERRLEN];
	llm_json_schema *s = NULL;

	opt->json_schema = false;
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return;
	if (opt->n_stop > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stop strings cannot be combined with json_schema"),
				 errhint("Pass stop => NULL: generation under a schema ends when the JSON value is complete.")));
	txt = llm_json_schema_text(PG_GETARG_JSONB_P(argno));
	if (llm_json_schema_compile(&s, txt, strlen(txt), err) < 0)
		ereport(ERROR,
				(errcode(strstr(err, "unsupported") ? ERRCODE_FEATURE_NOT_SUPPORTED
						 : ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("json_schema: %s", err),
				 errhint("See docs/SQL.md for the JSON Schema keywords llm supports.")));
	llm_json_schema_free(s);
	appendBinaryStringInfo(input, txt, strlen(txt));
	appendStringInfoChar(input, '\0');
	opt->json_schema = true;
	pfree(txt);
}
