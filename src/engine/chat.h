/*
 * chat.h - chat templates.
 *
 * A model's tokenizer.chat_template (Jinja source) is recognised by
 * distinctive markers and mapped to one of the built-in formats; no Jinja
 * interpreter is run.
 */
#ifndef LLM_CHAT_H
#define LLM_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "tokenizer.h"

typedef enum llm_chat_format
{
	LLM_CHAT_CHATML,			/* <|im_start|>role\n...<|im_end|>\n */
	LLM_CHAT_LLAMA3,			/* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
	LLM_CHAT_LLAMA2,			/* [INST] <<SYS>>...<</SYS>> ... [/INST] */
	LLM_CHAT_MISTRAL,			/* [INST] ... [/INST] without <<SYS>> */
	LLM_CHAT_ZEPHYR,			/* <|user|>\n...</s>\n */
	LLM_CHAT_GEMMA				/* <start_of_turn>user\n...<end_of_turn>\n */
} llm_chat_format;

typedef struct llm_chat_template
{
	llm_chat_format format;
	char	   *default_system; /* system text the template inserts when the
								 * conversation has none (NULL if none) */
} llm_chat_template;

typedef struct llm_chat_msg
{
	const char *role;			/* "system", "user", "assistant" */
	const char *content;
} llm_chat_msg;

/*
 * Recognise a template from its Jinja source, or from a format name
 * ("chatml", "llama3", ...). -1 with err naming the problem when unknown.
 */
int			llm_chat_template_parse(llm_chat_template *out, const char *src, char *err);
void		llm_chat_template_free(llm_chat_template *t);

/*
 * The format a model of architecture arch (general.architecture) is
 * trained on, for a file that carries no tokenizer.chat_template: gemma
 * for "gemma", "gemma2" and "gemma3". -1 with err for any other
 * architecture (no format is guessed).
 */
int			llm_chat_template_for_arch(llm_chat_template *out, const char *arch, char *err);
const char *llm_chat_format_name(llm_chat_format f);

/*
 * Text of the BOS token that llm_chat_apply() output starts with for this
 * template ("<s>", "<|begin_of_text|>", "<bos>"), or NULL when the format
 * renders none (chatml, zephyr). When non-NULL, tokenize the prompt with
 * special tokens parsed and without adding another BOS.
 */
const char *llm_chat_bos_text(const llm_chat_template *t);

/*
 * Render messages into a prompt (malloc'd, NUL-terminated); with
 * add_assistant the prompt ends with the opening of the assistant turn.
 * -1 with err on bad input (unknown role, NULL content, no messages).
 */
int			llm_chat_apply(const llm_chat_template *t, const llm_chat_msg *msgs,
						   size_t n, bool add_assistant, char **out, char *err);

/*
 * llm_chat_apply() that also returns where the template's own markers
 * (such as "<|im_start|>", "</s>") are in the prompt: *marks (malloc'd,
 * caller frees; NULL when there are none) gets *n_marks byte ranges in
 * order. Tokenize the prompt with llm_tokenize_marked() so that only the
 * markers can become special tokens: text inside a message's content
 * that looks like one stays plain text and cannot forge a turn.
 */
int			llm_chat_apply_marked(const llm_chat_template *t, const llm_chat_msg *msgs,
								  size_t n, bool add_assistant, char **out,
								  llm_text_span **marks, size_t *n_marks, char *err);

#endif							/* LLM_CHAT_H */
