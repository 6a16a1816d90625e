/*
 * pg_worker_input.c - helpers of the llm worker that need none of its
 * state: splitting a serialized request input, turning an engine error
 * from starting a generation into a request error, and the plain prompt
 * of chat messages for a model without a chat template.
 */
#include "postgres.h"

#include <string.h>

#include "llm_engine.h"
#include "pg_llm.h"

/*
 * Split a serialized input into n NUL-terminated strings starting at
 * *pos. Returns false when the input is malformed.
 */
bool
llm_input_strings(const char *buf, Size len, Size *pos, const char **out, int n)
{
	for (int i = 0; i < n; i++)
	{
		const char *s = buf + *pos;
		const char *end;

		if (*pos >= len)
			return false;
		end = memchr(s, '\0', len - *pos);
		if (end == NULL)
			return false;
		out[i] = s;
		*pos += (end - s) + 1;
	}
	return true;
}

/*
 * Turn an engine error from llm_gen_new into a request error, with an
 * SQLSTATE and hint chosen from the kind of problem (57P01 when the
 * tokenization stopped for a shutdown).
 */
void
llm_werr_from_gen(LlmWErr *e, const char *err)
{
	if (strcmp(err, LLM_ABORT_MSG) == 0)
		llm_werr_set(e, ERRCODE_ADMIN_SHUTDOWN, "could not start the generation",
				 "The llm worker was stopped while it tokenized the prompt.",
				 "Run the query again when the worker is back.");
	else if (strstr(err, "does not fit the context"))
		llm_werr_set(e, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
				 "max_tokens does not fit in the context", err,
				 "Lower max_tokens, or load the model with a larger llm.ctx_size.");
	else if (strstr(err, "last user turn"))
		llm_werr_set(e, ERRCODE_PROGRAM_LIMIT_EXCEEDED, "prompt is too long", err,
				 "Shorten the system message or the last user message, or lower max_tokens.");
	else if (strstr(err, "would be cut"))
		llm_werr_set(e, ERRCODE_PROGRAM_LIMIT_EXCEEDED, "prompt is too long", err,
				 "Lower max_tokens: truncation keeps at least half of the prompt when max_tokens takes over half of the context.");
	else if (strstr(err, "exceeds the context") || strstr(err, "too long"))
		llm_werr_set(e, ERRCODE_PROGRAM_LIMIT_EXCEEDED, "prompt is too long", err,
				 "Shorten the prompt, lower max_tokens, or set llm.truncation to left or right.");
	else if (strstr(err, "prompt is empty"))
		llm_werr_set(e, ERRCODE_INVALID_PARAMETER_VALUE, "prompt is empty", NULL,
				 "Pass a prompt of at least one token.");
	else
		llm_werr_set(e, ERRCODE_INVALID_PARAMETER_VALUE, "invalid generation request",
				 err, "Check the prompt and the sampling options.");
}

/*
 * The prompt for chat messages when the model has no chat template
 * (llm_extract): each message's content, blank-line separated. malloc'd
 * like llm_chat_apply's result; -1 with err when out of memory.
 */
int
llm_plain_prompt(const llm_chat_msg *msgs, int n, char **out, char *err)
{
	size_t		len = 1;
	char	   *p;

	for (int i = 0; i < n; i++)
		len += strlen(msgs[i].content) + 2;
	p = malloc(len);
	if (p == NULL)
		return llm_err(err, "out of memory");
	p[0] = '\0';
	for (int i = 0; i < n; i++)
	{
		strcat(p, msgs[i].content);
		strcat(p, "\n\n");
	}
	*out = p;
	return 0;
}
