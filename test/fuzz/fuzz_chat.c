/*
 * fuzz_chat.c - libFuzzer target: chat templates. The input up to its
 * first NUL byte is a template (Jinja source or a format name) for
 * llm_chat_template_parse(); the rest is split at 0x01 bytes into
 * alternating role and content strings rendered by llm_chat_apply_marked().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "llm_util.h"

#define MAX_MSGS 16

/* One input: recognise its template, render its messages with it. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const roles[] = {"system", "user", "assistant"};
	char	   *copy = malloc(size + 1);
	char	   *nul,
			   *p;
	char		err[LLM_ERRLEN];
	llm_chat_template t;
	llm_chat_msg msgs[MAX_MSGS];
	size_t		n = 0;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	nul = memchr(copy, 0, size);
	if (llm_chat_template_parse(&t, copy, err) < 0)
	{
		free(copy);
		return 0;
	}
	(void) llm_chat_bos_text(&t);
	p = nul ? nul + 1 : copy + size;
	while (n < MAX_MSGS && p < copy + size)
	{
		char	   *sep = strchr(p, '\x01');

		if (sep)
			*sep = '\0';
		/* a role byte: one of the three, or the text itself when odd */
		msgs[n].role = (*p & 1) ? p : roles[(unsigned char) *p % 3];
		msgs[n].content = p;
		n++;
		if (sep == NULL)
			break;
		p = sep + 1;
	}
	for (int add = 0; add < 2; add++)
	{
		char	   *out;
		llm_text_span *marks;
		size_t		n_marks;

		if (llm_chat_apply_marked(&t, msgs, n, add, &out, &marks, &n_marks, err) == 0)
		{
			for (size_t i = 0; i < n_marks; i++)
				if (marks[i].off + marks[i].len > strlen(out))
					abort();
			free(out);
			free(marks);
		}
	}
	llm_chat_template_free(&t);
	free(copy);
	return 0;
}
