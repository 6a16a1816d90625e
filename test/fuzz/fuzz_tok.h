/*
 * fuzz_tok.h - the body shared by the BPE and SentencePiece tokenizer
 * targets (fuzz_bpe.c, fuzz_spm.c): the tokenizer is loaded once from a
 * GGUF fixture (FUZZ_TOK_ENV names an override), then every input is
 * tokenized plain, with special tokens parsed and with marks, checked
 * (ids in range) and detokenized.
 */
#ifndef FUZZ_TOK_H
#define FUZZ_TOK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "llm_util.h"
#include "tokenizer.h"

/*
 * The tokenizer of the GGUF file named by $env (else def), loaded on the
 * first call; exits the run with a message when it cannot be loaded,
 * since every input would then test nothing.
 */
static const llm_tokenizer *
fuzz_tok_get(const char *env, const char *def)
{
	static llm_tokenizer *tok;
	static gguf_file *gf;
	char		err[LLM_ERRLEN];
	const char *path = getenv(env);

	if (tok != NULL)
		return tok;
	if (path == NULL || path[0] == '\0')
		path = def;
	if (gguf_open(&gf, path, err) < 0 || llm_tokenizer_load(&tok, gf, err) < 0)
	{
		fprintf(stderr, "fuzz: cannot load the tokenizer of %s: %s (set %s)\n",
				path, err, env);
		exit(2);
	}
	return tok;
}

/*
 * Tokenize data three ways and detokenize the results; abort (a finding)
 * when an id is out of range.
 */
static void
fuzz_tok_one(const llm_tokenizer *t, const uint8_t *data, size_t size)
{
	char		err[LLM_ERRLEN];
	int32_t		nv = llm_tokenizer_n_vocab(t);

	for (int mode = 0; mode < 3; mode++)
	{
		int32_t    *ids;
		size_t		n;
		int			rc;
		llm_text_span mark = {size / 4, size / 2};

		if (mode == 2)
			rc = llm_tokenize_marked(t, (const char *) data, size, true, &mark, 1,
									 &ids, &n, err);
		else
			rc = llm_tokenize(t, (const char *) data, size, mode == 0, mode == 1,
							  &ids, &n, err);
		if (rc < 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (ids[i] < 0 || ids[i] >= nv)
				abort();
		free(llm_detokenize(t, ids, n, mode == 1, err));
		free(ids);
	}
	{
		/* ids from the input bytes themselves, valid or not */
		size_t		n = size / 4;
		const int32_t *ids = (const int32_t *) data;
		int32_t    *copy = malloc((n ? n : 1) * sizeof(int32_t));
		char		buf[8];

		if (copy == NULL)
			return;
		for (size_t i = 0; i < n; i++)
		{
			memcpy(&copy[i], (const char *) ids + 4 * i, 4);
			(void) llm_token_to_piece(t, copy[i], true, buf, sizeof(buf));
		}
		free(llm_detokenize(t, copy, n, false, err));
		free(copy);
	}
}

#endif							/* FUZZ_TOK_H */
