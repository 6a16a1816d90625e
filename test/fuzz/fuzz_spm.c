/*
 * fuzz_spm.c - libFuzzer target: the SentencePiece (llama vocabulary with scores) tokenizer on arbitrary text
 * and arbitrary token ids. The vocabulary is the fixture
 * build/fixtures/spm-vocab.gguf (make fixtures), or the GGUF file named by
 * $LLM_FUZZ_SPM_GGUF.
 */
#include "fuzz_tok.h"

/* One input: tokenize and detokenize it with the fixture's vocabulary. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_tok_one(fuzz_tok_get("LLM_FUZZ_SPM_GGUF", "build/fixtures/spm-vocab.gguf"), data, size);
	return 0;
}
