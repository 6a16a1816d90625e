/*
 * test_truncation.c - prompts and chats longer than the context, on the
 * default model with a small context cap (issue 17 point 3, issue 19).
 *
 *  - plain prompts: right keeps exactly the first tokens, left the BOS
 *    (when there is one) and the last tokens, so swapping the two fails;
 *    both refuse to cut a prompt to a sliver when max_tokens takes more
 *    than half of the context, and still cut when the cut keeps at least
 *    half of the prompt;
 *  - chats (llm_chat_fit): a long conversation loses its oldest whole
 *    turns, as few as needed; the render keeps the system message, the
 *    last user turn and the assistant opening, fits the context, and the
 *    model answers it with real text; left and right give the same
 *    render; error renders everything (llm_gen_new then fails); a last
 *    turn or system message too long alone fails with "exceeds the
 *    context"; an alternating format (llama2) stays valid.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_engine.h"
#include "tap.h"

#define TRUNC_PLAN 34

#define CHAT_CTX 256
#define CHAT_MAX_TOKENS 24
#define N_OLD 12				/* old user/assistant exchanges */

static const char *const sys_text = "You are a pirate who answers in one short sentence.";
static const char *const last_text = "What is the capital of France?";

/*
 * Tokens of text as llm_gen_new() reads a plain prompt with default
 * parameters (BOS as the model says, special text parsed).
 */
static int32_t *
tokens_of(const llm_model *m, const char *text, size_t *n, bool *bos)
{
	const llm_tokenizer *tok = llm_model_tokenizer(m);
	char		err[LLM_ERRLEN];
	int32_t    *ids = NULL;

	*bos = llm_tokenizer_add_bos(tok) && llm_tokenizer_bos(tok) >= 0;
	if (llm_tokenize(tok, text, strlen(text), *bos, true, &ids, n, err) < 0)
	{
		diag("tokenize: %s", err);
		return NULL;
	}
	return ids;
}

/*
 * Plain prompts: direction of the cut and the sliver rule.
 */
static void
test_plain(const llm_model *m)
{
	char		err[LLM_ERRLEN];
	char		text[4000];
	llm_gen_params p;
	llm_gen    *g = NULL;
	int32_t    *full;
	size_t		n_full = 0;
	bool		bos;
	int32_t		room;
	int			i;
	int			rc;

	text[0] = '\0';
	for (i = 0; i < 40; i++)
	{
		char		w[32];

		snprintf(w, sizeof(w), "item%d is %s. ", i, i % 2 ? "red" : "blue");
		strcat(text, w);
	}
	full = tokens_of(m, text, &n_full, &bos);
	ok(full != NULL && n_full > 100, "plain: the prompt has %zu tokens (> 100)", n_full);
	if (full == NULL)
	{
		tap_skip_n(9, "no tokens");
		return;
	}

	llm_gen_defaults(&p);
	p.max_tokens = 8;
	room = 64 - p.max_tokens;

	p.truncation = LLM_TRUNC_RIGHT;
	rc = llm_gen_new(&g, m, text, strlen(text), &p, err);
	ok(rc == 0, "plain right: starts (%s)", rc == 0 ? "ok" : err);
	ok(g != NULL && llm_gen_n_prompt(g) == room &&
	   memcmp(llm_gen_prompt(g), full, (size_t) room * sizeof(int32_t)) == 0,
	   "plain right: keeps exactly the first %d tokens", room);
	llm_gen_free(g);
	g = NULL;

	p.truncation = LLM_TRUNC_LEFT;
	rc = llm_gen_new(&g, m, text, strlen(text), &p, err);
	ok(rc == 0, "plain left: starts (%s)", rc == 0 ? "ok" : err);
	{
		int32_t		keep = bos ? 1 : 0;
		bool		same = g != NULL && llm_gen_n_prompt(g) == room;

		if (same && keep == 1)
			same = llm_gen_prompt(g)[0] == full[0];
		if (same)
			same = memcmp(llm_gen_prompt(g) + keep, full + n_full - (room - keep),
						  (size_t) (room - keep) * sizeof(int32_t)) == 0;
		ok(same, "plain left: keeps %s the last %d tokens", bos ? "BOS and" : "exactly",
		   room - keep);
	}
	llm_gen_free(g);
	g = NULL;

	/* max_tokens 40 of 64: 24 of 100+ tokens would be kept */
	p.max_tokens = 40;
	p.truncation = LLM_TRUNC_RIGHT;
	ok(llm_gen_new(&g, m, text, strlen(text), &p, err) < 0 && g == NULL &&
	   strstr(err, "would be cut") != NULL,
	   "plain right: max_tokens 40 of 64 refuses to cut %zu tokens to 24: %s", n_full, err);
	llm_gen_free(g);
	g = NULL;
	p.truncation = LLM_TRUNC_LEFT;
	ok(llm_gen_new(&g, m, text, strlen(text), &p, err) < 0 && g == NULL &&
	   strstr(err, "would be cut") != NULL,
	   "plain left: the same refusal: %s", err);
	llm_gen_free(g);
	g = NULL;
	/* max_tokens 32 is half of the context, not more: the cut happens */
	p.max_tokens = 32;
	p.truncation = LLM_TRUNC_RIGHT;
	rc = llm_gen_new(&g, m, text, strlen(text), &p, err);
	ok(rc == 0 && llm_gen_n_prompt(g) == 32,
	   "plain right: max_tokens 32 of 64 still cuts to 32 tokens (%s)", rc == 0 ? "ok" : err);
	llm_gen_free(g);
	g = NULL;

	/* a prompt of 40 tokens and max_tokens 40: keeping 24 of 40 is fine */
	{
		char		small[4000];
		int32_t    *st;
		size_t		ns = 0;
		bool		sb;

		small[0] = '\0';
		for (i = 0; i < 40 && strlen(small) < sizeof(small) - 40; i++)
		{
			size_t		before = strlen(small);

			strcat(small, i % 2 ? "red " : "blue ");
			st = tokens_of(m, small, &ns, &sb);
			free(st);
			if ((int32_t) ns > 40)
			{
				small[before] = '\0';
				break;
			}
		}
		st = tokens_of(m, small, &ns, &sb);
		free(st);
		p.max_tokens = 40;
		ok(ns > 24 && 2 * 24 >= (int) ns && llm_gen_new(&g, m, small, strlen(small), &p, err) == 0 &&
		   llm_gen_n_prompt(g) == 24,
		   "plain right: max_tokens 40 cuts a prompt of %zu tokens to 24 (over half kept)", ns);
		llm_gen_free(g);
		g = NULL;
		p.max_tokens = 8;
		p.truncation = LLM_TRUNC_ERROR;
		ok(llm_gen_new(&g, m, text, strlen(text), &p, err) < 0 &&
		   strstr(err, "exceeds the context") != NULL, "plain error: fails: %s", err);
		llm_gen_free(g);
	}
	free(full);
}

/*
 * Number of tokens llm_gen_new() gives a chat render with these marks.
 */
static size_t
render_tokens(const llm_model *m, const char *r, const llm_text_span *marks, size_t n_marks)
{
	const llm_tokenizer *tok = llm_model_tokenizer(m);
	char		err[LLM_ERRLEN];
	int32_t    *ids = NULL;
	size_t		n = 0;
	bool		bos = llm_tokenizer_add_bos(tok) && llm_tokenizer_bos(tok) >= 0;

	if (llm_tokenize_marked(tok, r, strlen(r), bos, marks, n_marks, &ids, &n, err) < 0)
	{
		diag("tokenize: %s", err);
		return SIZE_MAX;
	}
	free(ids);
	return n;
}

/*
 * Whether s ends with suffix.
 */
static bool
ends_with(const char *s, const char *suffix)
{
	size_t		a = strlen(s),
				b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/*
 * Run a generation of render r (with its marks) to the end; malloc'd
 * text or NULL.
 */
static char *
answer(llm_engine *e, const llm_model *m, const char *r, const llm_text_span *marks,
	   size_t n_marks, char *err)
{
	llm_gen_params p;
	llm_gen    *g;
	llm_batch_item it;
	const char *txt;
	size_t		len;
	char	   *out;

	llm_gen_defaults(&p);
	p.max_tokens = CHAT_MAX_TOKENS;
	p.parse_special = false;
	p.special_marks = marks;
	p.n_special_marks = n_marks;
	if (llm_gen_new(&g, m, r, strlen(r), &p, err) < 0)
		return NULL;
	while (llm_gen_prepare(g, &it, 64) > 0)
	{
		if (llm_engine_step(e, m, &it, 1, err) < 0)
		{
			llm_gen_free(g);
			return NULL;
		}
		llm_gen_advance(g);
	}
	txt = llm_gen_text(g, &len);
	out = strndup(txt, len);
	llm_gen_free(g);
	return out;
}

/*
 * Chats: whole turns left out, oldest first.
 */
static void
test_chat(llm_engine *e, const llm_model *m)
{
	const llm_chat_template *t = llm_model_chat_template(m);
	char		err[LLM_ERRLEN];
	llm_chat_msg msgs[2 + 2 * N_OLD];
	char		texts[2 * N_OLD][200];
	size_t		n = 0;
	llm_gen_params p;
	char	   *r = NULL,
			   *r2 = NULL;
	llm_text_span *mk = NULL,
			   *mk2 = NULL;
	size_t		n_mk = 0,
				n_mk2 = 0,
				dropped = 0,
				dropped2 = 0,
				nt;
	llm_gen    *g = NULL;
	char		head[300],
				tail[300];
	char	   *ans;
	int			i;
	int			rc;

	if (t == NULL)
	{
		tap_skip_n(19, "the default model has no chat template");
		return;
	}
	msgs[n].role = "system";
	msgs[n++].content = sys_text;
	for (i = 0; i < N_OLD; i++)
	{
		snprintf(texts[2 * i], sizeof(texts[0]),
				 "Old question %02d: tell me a long story about the ship number %d and its crew.",
				 i, i);
		snprintf(texts[2 * i + 1], sizeof(texts[0]),
				 "Old answer %02d: the ship number %d sailed far with a brave crew of many sailors.",
				 i, i);
		msgs[n].role = "user";
		msgs[n++].content = texts[2 * i];
		msgs[n].role = "assistant";
		msgs[n++].content = texts[2 * i + 1];
	}
	msgs[n].role = "user";
	msgs[n++].content = last_text;
	snprintf(head, sizeof(head), "<|im_start|>system\n%s<|im_end|>\n", sys_text);
	snprintf(tail, sizeof(tail), "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n",
			 last_text);

	llm_gen_defaults(&p);
	p.max_tokens = CHAT_MAX_TOKENS;

	/* error: everything rendered, and it does not fit */
	p.truncation = LLM_TRUNC_ERROR;
	ok(llm_chat_fit(m, t, msgs, n, &p, &r, &mk, &n_mk, &dropped, err) == 0 && dropped == 0,
	   "chat error: the whole conversation is rendered");
	nt = r ? render_tokens(m, r, mk, n_mk) : 0;
	ok(r != NULL && nt + CHAT_MAX_TOKENS > CHAT_CTX,
	   "chat error: %zu tokens + %d exceed the context of %d", nt, CHAT_MAX_TOKENS, CHAT_CTX);
	{
		llm_gen_params gp = p;

		gp.parse_special = false;
		gp.special_marks = mk;
		gp.n_special_marks = n_mk;
		ok(r != NULL && llm_gen_new(&g, m, r, strlen(r), &gp, err) < 0 &&
		   strstr(err, "exceeds the context") != NULL, "chat error: llm_gen_new fails: %s", err);
		llm_gen_free(g);
		g = NULL;
	}
	free(r);
	free(mk);
	r = NULL;
	mk = NULL;

	/* left: the oldest turns go */
	p.truncation = LLM_TRUNC_LEFT;
	rc = llm_chat_fit(m, t, msgs, n, &p, &r, &mk, &n_mk, &dropped, err);
	ok(rc == 0 && r != NULL, "chat left: fits (%s)", rc == 0 ? "ok" : err);
	if (r == NULL)
	{
		tap_skip_n(15, "no render");
		return;
	}
	nt = render_tokens(m, r, mk, n_mk);
	ok(nt + CHAT_MAX_TOKENS <= CHAT_CTX, "chat left: %zu tokens + %d fit the context of %d",
	   nt, CHAT_MAX_TOKENS, CHAT_CTX);
	ok(strncmp(r, head, strlen(head)) == 0, "chat left: starts with the system message");
	ok(ends_with(r, tail), "chat left: ends with the last user turn and the assistant opening");
	ok(dropped > 0 && dropped % 2 == 0 && dropped < 2 * N_OLD,
	   "chat left: %zu messages (whole exchanges) left out of %d", dropped, 2 * N_OLD);
	ok(strstr(r, "Old question 00") == NULL && strstr(r, "Old answer 00") == NULL,
	   "chat left: the oldest turn is gone");
	{
		char		newest_q[40],
					newest_a[40],
					first_kept[40];

		snprintf(newest_q, sizeof(newest_q), "Old question %02d", N_OLD - 1);
		snprintf(newest_a, sizeof(newest_a), "Old answer %02d", N_OLD - 1);
		snprintf(first_kept, sizeof(first_kept), "Old question %02d", (int) (dropped / 2));
		ok(strstr(r, newest_q) != NULL && strstr(r, newest_a) != NULL,
		   "chat left: the newest old turn is kept");
		ok(strstr(r, first_kept) != NULL && strstr(r, first_kept) ==
		   strstr(r, "<|im_start|>user\n") + strlen("<|im_start|>user\n"),
		   "chat left: the first kept turn (%s) follows the system message", first_kept);
	}
	/* as few as needed: putting back one more exchange does not fit */
	{
		llm_chat_msg more[2 + 2 * N_OLD];
		size_t		k = 0;
		char	   *r3 = NULL;
		llm_text_span *mk3 = NULL;
		size_t		n_mk3 = 0;

		more[k++] = msgs[0];
		for (i = dropped >= 2 ? 1 + (int) dropped - 2 : 1; i < (int) n; i++)
			more[k++] = msgs[i];
		ok(dropped >= 2 && llm_chat_apply_marked(t, more, k, true, &r3, &mk3, &n_mk3, err) == 0 &&
		   render_tokens(m, r3, mk3, n_mk3) + CHAT_MAX_TOKENS > CHAT_CTX,
		   "chat left: one more exchange would not fit (fewest turns left out)");
		free(r3);
		free(mk3);
	}

	/* right: the same render */
	p.truncation = LLM_TRUNC_RIGHT;
	ok(llm_chat_fit(m, t, msgs, n, &p, &r2, &mk2, &n_mk2, &dropped2, err) == 0 && r2 != NULL &&
	   strcmp(r, r2) == 0 && dropped2 == dropped && n_mk2 == n_mk,
	   "chat right: the same render as left");
	free(r2);
	free(mk2);
	r2 = NULL;
	mk2 = NULL;

	/* the model answers the kept render with real text */
	ans = answer(e, m, r, mk, n_mk, err);
	{
		bool		alpha = false;

		for (const char *c = ans; c && *c; c++)
			if (isalpha((unsigned char) *c))
				alpha = true;
		ok(ans != NULL && alpha, "chat left: the answer is text: \"%s\"", ans ? ans : err);
	}
	free(ans);
	free(r);
	free(mk);
	r = NULL;
	mk = NULL;

	/* a last user message too long alone */
	{
		static char big[4000];
		llm_chat_msg two[2];

		big[0] = '\0';
		for (i = 0; i < 80; i++)
			strcat(big, "Tell me more about pirates. ");
		two[0].role = "system";
		two[0].content = sys_text;
		two[1].role = "user";
		two[1].content = big;
		msgs[n - 1].content = big;
		ok(llm_chat_fit(m, t, msgs, n, &p, &r, &mk, &n_mk, NULL, err) < 0 && r == NULL &&
		   strstr(err, "exceeds the context") != NULL && strstr(err, "last user turn") != NULL,
		   "chat right: a last user turn too long fails: %s", err);
		p.truncation = LLM_TRUNC_LEFT;
		ok(llm_chat_fit(m, t, two, 2, &p, &r, &mk, &n_mk, NULL, err) < 0 && r == NULL &&
		   strstr(err, "exceeds the context") != NULL,
		   "chat left: system + one long user message fails: %s", err);
		/* a system message too long alone */
		two[0].content = big;
		two[1].content = last_text;
		ok(llm_chat_fit(m, t, two, 2, &p, &r, &mk, &n_mk, NULL, err) < 0 && r == NULL &&
		   strstr(err, "exceeds the context") != NULL,
		   "chat left: a system message too long fails: %s", err);
		msgs[n - 1].content = last_text;
	}

	/* an alternating format keeps alternating */
	{
		llm_chat_template l2;

		if (llm_chat_template_parse(&l2, "llama2", err) < 0)
		{
			ok(0, "llama2 template: %s", err);
			ok(0, "llama2 template");
		}
		else
		{
			rc = llm_chat_fit(m, &l2, msgs, n, &p, &r, &mk, &n_mk, &dropped, err);
			ok(rc == 0 && dropped > 0 && dropped % 2 == 0,
			   "chat llama2: fits by leaving out %zu messages (%s)", dropped,
			   rc == 0 ? "ok" : err);
			ok(r != NULL && strncmp(r, "<s>[INST] <<SYS>>\n", 18) == 0 &&
			   strstr(r, sys_text) != NULL && ends_with(r, "What is the capital of France? [/INST]"),
			   "chat llama2: system message kept, ends with the last user turn");
			free(r);
			free(mk);
			r = NULL;
			mk = NULL;
			llm_chat_template_free(&l2);
		}
	}
}

/* An llm_abort callback that counts its calls and never stops. */
static int
count_calls(void *arg)
{
	(*(int *) arg)++;
	return 0;
}

/*
 * A chat whose oldest turn holds 4 MB of text: under truncation left the
 * turn goes, and the renders that hold it are counted only until they
 * are known not to fit (4 times the context), not tokenized whole (each
 * of those asked the abort check about 200 times).
 */
static void
test_chat_huge(const llm_model *m)
{
	const llm_chat_template *t = llm_model_chat_template(m);
	size_t		big_len = 4u << 20;
	char	   *big = malloc(big_len + 1);
	char	   *r = NULL,
			   *r2 = NULL;
	llm_text_span *mk = NULL,
			   *mk2 = NULL;
	size_t		n_mk = 0,
				n_mk2 = 0,
				dropped = 0;
	llm_chat_msg msgs[4];
	llm_gen_params p;
	int			calls = 0;
	llm_abort	ab = {count_calls, &calls};
	char		err[LLM_ERRLEN] = "";
	int			rc;

	if (t == NULL || big == NULL)
	{
		tap_skip_n(4, "no chat template or no memory");
		free(big);
		return;
	}
	for (size_t i = 0; i < big_len; i++)
		big[i] = "the cat sat on a mat. "[i % 22];
	big[big_len] = '\0';
	msgs[0] = (llm_chat_msg) {"user", big};
	msgs[1] = (llm_chat_msg) {"assistant", "Yes."};
	msgs[2] = (llm_chat_msg) {"user", last_text};
	llm_gen_defaults(&p);
	p.max_tokens = CHAT_MAX_TOKENS;
	p.truncation = LLM_TRUNC_LEFT;
	p.abort = &ab;
	rc = llm_chat_fit(m, t, msgs, 3, &p, &r, &mk, &n_mk, &dropped, err);
	ok(rc == 0 && dropped == 2, "huge old turn: left out (%zu messages) %s", dropped, err);
	ok(calls <= 20, "huge old turn: counted only up to a bound (abort check asked %d times)",
	   calls);
	/* the render is that of the conversation without the turn */
	rc = rc == 0 ? llm_chat_fit(m, t, msgs + 2, 1, &p, &r2, &mk2, &n_mk2, NULL, err) : -1;
	ok(rc == 0 && r != NULL && r2 != NULL && strcmp(r, r2) == 0 && n_mk == n_mk2,
	   "huge old turn: the render is the last turn's alone");
	/* a system message far too long: the count stops, the message says so */
	msgs[0] = (llm_chat_msg) {"system", big};
	free(r);
	free(mk);
	r = NULL;
	mk = NULL;
	rc = llm_chat_fit(m, t, msgs, 3, &p, &r, &mk, &n_mk, NULL, err);
	ok(rc < 0 && strstr(err, "chat of more than 1024 tokens") != NULL,
	   "huge system message: %s", err);
	free(r);
	free(mk);
	free(r2);
	free(mk2);
	free(big);
}

int
main(void)
{
	char		err[LLM_ERRLEN];
	char		path[8192];
	llm_model  *m = NULL;
	llm_engine *e = NULL;
	llm_engine_params ep = {.n_threads = 2};

	tap_plan(TRUNC_PLAN);
	snprintf(path, sizeof(path), "%s/SmolLM2-135M-Instruct.Q4_1.gguf", tap_model_dir());
	if (llm_model_load(&m, path, 64, err) < 0)
	{
		tap_skip_n(TRUNC_PLAN, "default model not available: %s", err);
		return tap_done();
	}
	ok(llm_model_get_info(m)->n_ctx == 64, "context capped to 64");
	test_plain(m);
	llm_model_free(m);
	if (llm_model_load(&m, path, CHAT_CTX, err) < 0 || llm_engine_new(&e, &ep, err) < 0)
	{
		ok(0, "load with a context of %d: %s", CHAT_CTX, err);
		llm_model_free(m);
		return tap_done();
	}
	test_chat(e, m);
	test_chat_huge(m);
	llm_engine_free(e);
	llm_model_free(m);
	return tap_done();
}
