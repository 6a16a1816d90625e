/*
 * gen_chat.c - fitting a chat conversation into a model's context.
 *
 * A conversation too long for the context is not cut token by token
 * (that would cut the system message or the template's assistant
 * opening): whole turns are left out, the oldest first. The system
 * messages and the last user turn (the last user message and whatever
 * follows it) are always kept, and the render always ends with the
 * assistant opening. See llm_chat_fit() in llm_engine.h. A render that
 * opens with the BOS text the tokenizer adds anyway loses that text.
 */
#include "model_int.h"

#include <stdlib.h>
#include <string.h>

/*
 * Whether generation parameters p add a BOS token to the prompt: the
 * same rule as llm_gen_new(), so that the counts here are its counts.
 */
static bool
chat_fit_bos(const llm_model *m, const llm_gen_params *p)
{
	bool		bos = p->add_bos < 0 ? llm_tokenizer_add_bos(m->tok) : p->add_bos != 0;

	return bos && llm_tokenizer_bos(m->tok) >= 0;
}

/*
 * llm_chat_apply_marked() for a prompt that llm_gen_new() tokenizes with
 * BOS added when bos is set: then a render that opens with the model's
 * BOS text as a template marker (gemma, llama3, mistral) loses it, so that
 * the prompt starts with one BOS, not two. llama.cpp's chat code does the
 * same with a rendered template's leading bos_token.
 */
static int
chat_apply_bos(const llm_model *m, const llm_chat_template *t, const llm_chat_msg *msgs,
			   size_t n, bool bos, char **out, llm_text_span **marks, size_t *n_marks,
			   char *err)
{
	const char *bt;
	size_t		bl;

	if (llm_chat_apply_marked(t, msgs, n, true, out, marks, n_marks, err) < 0)
		return -1;
	if (!bos || *n_marks == 0 || (*marks)[0].off != 0 ||
		(bt = llm_tokenizer_text(m->tok, llm_tokenizer_bos(m->tok))) == NULL)
		return 0;
	bl = strlen(bt);
	if (bl == 0 || (*marks)[0].len != bl || strncmp(*out, bt, bl) != 0)
		return 0;
	memmove(*out, *out + bl, strlen(*out + bl) + 1);
	for (size_t i = 1; i < *n_marks; i++)
	{
		(*marks)[i - 1] = (*marks)[i];
		(*marks)[i - 1].off -= bl;
	}
	(*n_marks)--;
	return 0;
}

/* a render is counted up to this many times the context (then "more") */
#define CHAT_FIT_COUNT_CAP 4

/* work of one llm_tok_job_run() while a render is counted */
#define CHAT_FIT_PART_BYTES (64 * 1024)

/*
 * Render the messages whose keep[] flag is set and count the tokens of
 * the result as llm_gen_new() will tokenize it (only the template's
 * markers special), asking ab whether to stop. The count stops once it
 * passes cap (then *n_tok is above cap, not exact): the ids made so far
 * are a prefix of the whole's (llm_tok_job), and a render too long for
 * cap tokens of the longest text is not tokenized at all, so a render
 * far too long costs little more than its rendering. On
 * success the render, its marks and the count are returned; the caller
 * frees *out and *marks.
 */
static int
chat_fit_render(const llm_model *m, const llm_chat_template *t, const llm_chat_msg *msgs,
				size_t n, const bool *keep, llm_chat_msg *scratch, bool bos,
				const llm_abort *ab, size_t cap, char **out, llm_text_span **marks,
				size_t *n_marks, size_t *n_tok, char *err)
{
	size_t		k = 0;
	llm_tok_job *job = NULL;
	int			rc;

	for (size_t i = 0; i < n; i++)
		if (keep[i])
			scratch[k++] = msgs[i];
	if (chat_apply_bos(m, t, scratch, k, bos, out, marks, n_marks, err) < 0)
		return -1;
	/*
	 * No token stands for more than max_text bytes of the text (twice
	 * that leaves room for the re-encoding of invalid UTF-8), so a render
	 * longer than that many times cap is over cap without tokenizing it.
	 */
	if (strlen(*out) / (2 * llm_tokenizer_max_text(m->tok)) > cap)
	{
		*n_tok = cap + 1;
		return 0;
	}
	rc = llm_tok_job_new(&job, m->tok, *out, strlen(*out), bos, false, *marks, *n_marks, err);
	while (rc == 0 && llm_tok_job_n_ids(job) <= cap)
		rc = llm_tok_job_run(job, CHAT_FIT_PART_BYTES, ab, err);
	if (rc >= 0)
	{
		*n_tok = llm_tok_job_n_ids(job);
		rc = 0;
	}
	llm_tok_job_free(job);
	if (rc < 0)
	{
		free(*out);
		free(*marks);
		*out = NULL;
		*marks = NULL;
		*n_marks = 0;
		return -1;
	}
	return 0;
}

/*
 * Set keep[] for the conversation without its k oldest turns: turn_of[i]
 * is the turn of message i, or -1 for a message that is always kept.
 */
static void
chat_fit_keep(const int32_t *turn_of, size_t n, int32_t k, bool *keep)
{
	for (size_t i = 0; i < n; i++)
		keep[i] = turn_of[i] < 0 || turn_of[i] >= k;
}

/*
 * Render a conversation for a generation, leaving out the oldest turns
 * when it does not fit. See llm_engine.h.
 */
int
llm_chat_fit(const llm_model *m, const llm_chat_template *t, const llm_chat_msg *msgs,
			 size_t n, const llm_gen_params *p, char **out, llm_text_span **marks,
			 size_t *n_marks, size_t *n_dropped, char *err)
{
	int32_t		n_ctx = m->info.n_ctx;
	bool		bos = chat_fit_bos(m, p);
	int32_t    *turn_of = NULL;
	bool	   *keep = NULL;
	llm_chat_msg *scratch = NULL;
	size_t		last_user;
	size_t		n_tok;
	int32_t		n_turns = 0;
	int32_t		lo,
				hi;
	int			rc = -1;
	size_t		cap = (size_t) CHAT_FIT_COUNT_CAP * (size_t) (n_ctx > 0 ? n_ctx : 1);

	*out = NULL;
	*marks = NULL;
	*n_marks = 0;
	if (n_dropped)
		*n_dropped = 0;
	if (msgs == NULL || n == 0)
		return llm_err(err, "chat: no messages given");
	/* the full conversation; llm_gen_new() reports what does not fit */
	if (p->truncation == LLM_TRUNC_ERROR || p->max_tokens <= 0 || p->max_tokens >= n_ctx)
		return chat_apply_bos(m, t, msgs, n, bos, out, marks, n_marks, err);

	turn_of = malloc(n * sizeof(int32_t));
	keep = malloc(n * sizeof(bool));
	scratch = malloc(n * sizeof(llm_chat_msg));
	if (turn_of == NULL || keep == NULL || scratch == NULL)
	{
		llm_err(err, "out of memory");
		goto done;
	}

	/*
	 * Turns: a user message and the messages up to the next user message.
	 * System messages and the last user turn are never left out.
	 */
	last_user = n - 1;
	for (size_t i = n; i-- > 0;)
		if (msgs[i].role != NULL && strcmp(msgs[i].role, "user") == 0)
		{
			last_user = i;
			break;
		}
	for (size_t i = 0; i < n; i++)
	{
		bool		sys = msgs[i].role != NULL && strcmp(msgs[i].role, "system") == 0;
		bool		user = msgs[i].role != NULL && strcmp(msgs[i].role, "user") == 0;

		if (i >= last_user || sys)
		{
			turn_of[i] = -1;
			continue;
		}
		if (user || n_turns == 0)
			n_turns++;
		turn_of[i] = n_turns - 1;
	}

	/* the whole conversation first */
	chat_fit_keep(turn_of, n, 0, keep);
	if (chat_fit_render(m, t, msgs, n, keep, scratch, bos, p->abort, cap, out, marks,
						n_marks, &n_tok, err) < 0)
		goto done;
	if (n_tok + (size_t) p->max_tokens <= (size_t) n_ctx)
	{
		rc = 0;
		goto done;
	}
	free(*out);
	free(*marks);
	*out = NULL;
	*marks = NULL;

	/* then only the messages that are always kept */
	chat_fit_keep(turn_of, n, n_turns, keep);
	if (chat_fit_render(m, t, msgs, n, keep, scratch, bos, p->abort, cap, out, marks,
						n_marks, &n_tok, err) < 0)
		goto done;
	if (n_tok + (size_t) p->max_tokens > (size_t) n_ctx)
	{
		llm_err(err, "chat of %s%zu tokens with only the system message and the last user "
				"turn plus max_tokens %d exceeds the context of %d tokens",
				n_tok > cap ? "more than " : "", n_tok > cap ? cap : n_tok,
				p->max_tokens, n_ctx);
		goto done;
	}

	/*
	 * The fewest turns to leave out: dropping k fails to fit, dropping hi
	 * fits. A render that fits is at hand whatever the counts do.
	 */
	lo = 0;
	hi = n_turns;
	while (hi - lo > 1)
	{
		int32_t		mid = lo + (hi - lo) / 2;
		char	   *mo = NULL;
		llm_text_span *mm = NULL;
		size_t		mn = 0;

		chat_fit_keep(turn_of, n, mid, keep);
		if (chat_fit_render(m, t, msgs, n, keep, scratch, bos, p->abort, cap, &mo, &mm,
							&mn, &n_tok, err) < 0)
			goto done;
		if (n_tok + (size_t) p->max_tokens <= (size_t) n_ctx)
		{
			free(*out);
			free(*marks);
			*out = mo;
			*marks = mm;
			*n_marks = mn;
			hi = mid;
		}
		else
		{
			free(mo);
			free(mm);
			lo = mid;
		}
	}
	if (n_dropped)
	{
		for (size_t i = 0; i < n; i++)
			if (turn_of[i] >= 0 && turn_of[i] < hi)
				(*n_dropped)++;
	}
	rc = 0;

done:
	if (rc < 0)
	{
		free(*out);
		free(*marks);
		*out = NULL;
		*marks = NULL;
		*n_marks = 0;
	}
	free(turn_of);
	free(keep);
	free(scratch);
	return rc;
}
