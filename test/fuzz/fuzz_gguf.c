/*
 * fuzz_gguf.c - libFuzzer target: the GGUF reader (gguf_open_memory) on
 * arbitrary bytes, then the tokenizer loader (BPE or SentencePiece, by the
 * file's tokenizer.ggml.model) on what parsed, and a short tokenize /
 * detokenize with the vocabulary the input defined.
 */
#include <stdint.h>
#include <stdlib.h>

#include "gguf.h"
#include "llm_util.h"
#include "tokenizer.h"

/*
 * One input: parse, walk every key and tensor, load a tokenizer when the
 * file has one and run it on a fixed text with special tokens parsed.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[LLM_ERRLEN];
	gguf_file  *f;
	llm_tokenizer *t;
	static const char text[] = "Hello world <s> \xe4\xb8\xad\xe6\x96\x87 \t\n 123 <0x41>";

	if (gguf_open_memory(&f, data, size, err) < 0)
		return 0;
	for (uint64_t i = 0; i < gguf_n_kv(f); i++)
		(void) gguf_kv_at(f, i);
	for (uint64_t i = 0; i < gguf_n_tensors(f); i++)
		(void) gguf_tensor_at(f, i);
	if (llm_tokenizer_load(&t, f, err) == 0)
	{
		int32_t    *ids;
		size_t		n;

		if (llm_tokenize(t, text, sizeof(text) - 1, true, true, &ids, &n, err) == 0)
		{
			free(llm_detokenize(t, ids, n, true, err));
			free(ids);
		}
		llm_tokenizer_free(t);
	}
	gguf_close(f);
	return 0;
}
