/*
 * fuzz_wordpiece.c - libFuzzer target: WordPiece. The input up to its
 * first NUL byte is a vocab.txt (one token per line, the standard
 * specials added in front so the vocabulary is always usable); the rest
 * is the text encoded, with and without [CLS]/[SEP] and truncation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"
#include "wordpiece.h"

#define MAX_TOKENS 256

/* One input: build the vocabulary from its head, encode its tail. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
	const char *tokens[MAX_TOKENS];
	size_t		lens[MAX_TOKENS];
	bool		is_special[MAX_TOKENS];
	const uint8_t *nul = memchr(data, 0, size);
	size_t		head = nul ? (size_t) (nul - data) : size;
	int			n = 0;
	size_t		i = 0;
	char		err[LLM_ERRLEN];
	llm_wordpiece *wp;
	llm_wp_options opt;

	for (; n < 5; n++)
	{
		tokens[n] = specials[n];
		lens[n] = strlen(specials[n]);
		is_special[n] = false;
	}
	while (i < head && n < MAX_TOKENS)
	{
		size_t		j = i;

		while (j < head && data[j] != '\n')
			j++;
		tokens[n] = (const char *) data + i;
		lens[n] = j - i;
		is_special[n] = (lens[n] > 0 && data[i] == '<');
		n++;
		i = j + 1;
	}
	llm_wp_default_options(&opt);
	if (size > 0)
	{
		opt.lowercase = (data[0] & 1) != 0;
		opt.strip_accents = (data[0] & 2) ? 0 : -1;
	}
	if (llm_wp_new(&wp, tokens, lens, n, is_special, &opt, err) == 0)
	{
		const char *text = nul ? (const char *) nul + 1 : "";
		size_t		tlen = nul ? size - head - 1 : 0;
		int32_t    *ids;
		int			nid;

		if (llm_wp_encode(wp, text, tlen, true, 0, &ids, &nid, err) == 0)
			free(ids);
		if (llm_wp_encode(wp, text, tlen, false, 8, &ids, &nid, err) == 0)
			free(ids);
		llm_wp_free(wp);
	}
	return 0;
}
