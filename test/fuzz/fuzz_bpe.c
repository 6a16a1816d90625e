/*
 * fuzz_bpe.c - libFuzzer target: the byte-level BPE (gpt2 vocabulary with merges) tokenizer on arbitrary text
 * and arbitrary token ids. The vocabulary is the fixture
 * build/fixtures/tiny-f32.gguf (make fixtures), or the GGUF file named by
 * $LLM_FUZZ_BPE_GGUF.
 */
#include "fuzz_tok.h"

/* One input: tokenize and detokenize it with the fixture's vocabulary. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_tok_one(fuzz_tok_get("LLM_FUZZ_BPE_GGUF", "build/fixtures/tiny-f32.gguf"), data, size);
	return 0;
}
