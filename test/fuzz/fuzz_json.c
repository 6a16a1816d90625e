/*
 * fuzz_json.c - libFuzzer target: the JSON parser used for config.json
 * and tokenizer.json (llm_json_parse), then the WordPiece builder from a
 * parsed tokenizer.json and a short encode with what it built.
 */
#include <stdint.h>
#include <stdlib.h>

#include "json.h"
#include "llm_util.h"
#include "wordpiece.h"

/* One input: parse it; build a WordPiece tokenizer from it when it parses. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[LLM_ERRLEN];
	llm_json   *root = llm_json_parse((const char *) data, size, err);
	llm_wordpiece *wp;

	if (root == NULL)
		return 0;
	(void) llm_json_get_int(root, "hidden_size", 0);
	(void) llm_json_get_str(root, "model_type");
	(void) llm_json_dup_key(root);
	if (llm_wp_new_tokenizer_json(&wp, root, err) == 0)
	{
		static const char text[] = "Hello, WORLD! caf\xc3\xa9 [CLS] \xe4\xb8\xad";
		int32_t    *ids;
		int			n;

		if (llm_wp_encode(wp, text, sizeof(text) - 1, true, 0, &ids, &n, err) == 0)
			free(ids);
		llm_wp_free(wp);
	}
	llm_json_free(root);
	return 0;
}
