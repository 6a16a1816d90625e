/*
 * pg_extract.c - llm_extract(input, schema, ...): structured extraction.
 *
 * Builds a chat request whose system message holds the instructions and
 * the schema and whose user message is the input; the worker renders it
 * with the model's chat template (or, for a model without one, joins the
 * two texts) and generates under the schema, so the answer is a complete
 * JSON value of the schema or the call fails (max_tokens too small). The
 * value comes back as jsonb.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "llm_engine.h"
#include "pg_llm.h"

PG_FUNCTION_INFO_V1(llm_extract);

/* argument positions of llm_extract */
enum
{
	EX_INPUT = 0,
	EX_SCHEMA,
	EX_INSTRUCTIONS,
	EX_MODEL,
	EX_MAX_TOKENS,
	EX_TEMPERATURE,
	EX_SEED
};

#define EX_DEFAULT_INSTRUCTIONS \
	"Extract the requested information from the user's text. Answer with a " \
	"JSON value that matches the JSON Schema below, and nothing else."

/*
 * Append len bytes of database-encoded text to buf as UTF-8 plus a NUL.
 */
static void
ex_append_utf8(StringInfo buf, const char *s, int len)
{
	char	   *conv = pg_server_to_any(s, len, PG_UTF8);

	appendBinaryStringInfo(buf, conv, conv != s ? (int) strlen(conv) : len);
	appendStringInfoChar(buf, '\0');
	if (conv != s)
		pfree(conv);
}

/*
 * The generation options of llm_extract: max_tokens as llm_generate
 * checks it, greedy unless a temperature is given, no other filter.
 */
static void
ex_options(FunctionCallInfo fcinfo, LlmGenOptions *opt)
{
	double		temp;

	memset(opt, 0, sizeof(*opt));
	opt->max_tokens = PG_ARGISNULL(EX_MAX_TOKENS) ? llm_guc_default_max_tokens
		: PG_GETARG_INT32(EX_MAX_TOKENS);
	if (opt->max_tokens <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tokens must be greater than zero"),
				 errhint("Pass a positive max_tokens, or NULL for llm.default_max_tokens.")));
	if (opt->max_tokens > llm_guc_max_tokens)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tokens %d exceeds llm.max_tokens (%d)",
						opt->max_tokens, llm_guc_max_tokens),
				 errhint("Ask for at most %d tokens; a superuser can raise llm.max_tokens.",
						 llm_guc_max_tokens)));
	temp = PG_ARGISNULL(EX_TEMPERATURE) ? 0.0 : PG_GETARG_FLOAT8(EX_TEMPERATURE);
	if (!(temp >= 0.0 && temp <= 100.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("temperature must be between 0 and 100"),
				 errhint("Use 0 for greedy decoding, or a value such as 0.7 for sampling.")));
	opt->temperature = (float) temp;
	opt->top_p = 1.0f;
	opt->top_k = 0;
	opt->min_p = 0.0f;
	opt->repeat_penalty = 1.0f;
	opt->truncation = llm_guc_truncation;
	if (!PG_ARGISNULL(EX_SEED))
		opt->seed = (uint64) PG_GETARG_INT64(EX_SEED);
	else if (opt->temperature > 0.0f &&
			 !pg_strong_random(&opt->seed, sizeof(opt->seed)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random seed"),
				 errhint("Pass a seed explicitly.")));
}

/*
 * Build the request of one llm_extract call from its arguments (the SQL
 * function's, or a row's in the batching node); returns false, with
 * req->skip set, when the input is NULL (the result is NULL).
 */
bool
llm_extract_build(FunctionCallInfo fcinfo, LlmRequest *reqp)
{
	StringInfoData buf;
	StringInfoData sys;
	char	   *schema_txt;
	text	   *input;
	LlmRequest	req;

	llm_require_shared();
	if (PG_ARGISNULL(EX_INPUT))
	{
		llm_request_init(reqp, LLM_REQ_CHAT);
		reqp->skip = true;
		return false;
	}
	if (PG_ARGISNULL(EX_SCHEMA))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schema must not be NULL"),
				 errhint("Pass a JSON Schema such as '{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}}}'.")));
	input = PG_GETARG_TEXT_PP(EX_INPUT);

	llm_request_init(&req, LLM_REQ_CHAT);
	llm_parse_model_arg(fcinfo, EX_MODEL, &req);
	ex_options(fcinfo, &req.opt);
	req.opt.n_msgs = 2;
	req.opt.chat_fallback = true;

	/* system: instructions and schema; user: the input */
	schema_txt = llm_json_schema_text(PG_GETARG_JSONB_P(EX_SCHEMA));
	initStringInfo(&sys);
	if (PG_ARGISNULL(EX_INSTRUCTIONS))
		appendStringInfoString(&sys, EX_DEFAULT_INSTRUCTIONS);
	else
	{
		text	   *ins = PG_GETARG_TEXT_PP(EX_INSTRUCTIONS);
		char	   *conv = pg_server_to_any(VARDATA_ANY(ins), VARSIZE_ANY_EXHDR(ins), PG_UTF8);

		appendBinaryStringInfo(&sys, conv, conv != VARDATA_ANY(ins) ? (int) strlen(conv)
							   : (int) VARSIZE_ANY_EXHDR(ins));
	}
	appendStringInfo(&sys, "\n\nJSON Schema: %s", schema_txt);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "system");
	appendStringInfoChar(&buf, '\0');
	appendBinaryStringInfo(&buf, sys.data, sys.len);
	appendStringInfoChar(&buf, '\0');
	appendStringInfoString(&buf, "user");
	appendStringInfoChar(&buf, '\0');
	ex_append_utf8(&buf, VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input));
	llm_json_schema_arg(fcinfo, EX_SCHEMA, &req.opt, &buf);
	req.input = buf.data;
	req.input_len = buf.len;
	*reqp = req;
	return true;
}

/*
 * The jsonb value of a finished llm_extract request.
 */
Datum
llm_extract_result(const LlmRequest *req)
{
	char	   *out = pg_any_to_server(req->output, req->output_len, PG_UTF8);

	if (out == req->output)
		out = pnstrdup(req->output, req->output_len);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(out));
}

/*
 * llm_extract(input text, schema jsonb, instructions text, model text,
 *             max_tokens integer, temperature float8, seed bigint) -> jsonb
 * NULL input gives NULL.
 */
Datum
llm_extract(PG_FUNCTION_ARGS)
{
	LlmRequest	req;

	if (!llm_extract_build(fcinfo, &req))
		PG_RETURN_NULL();
	llm_run_requests(&req, 1);
	return llm_extract_result(&req);
}
