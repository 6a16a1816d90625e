/*
 * fuzz_safetensors.c - libFuzzer target: the safetensors reader
 * (llm_st_open_memory: header length, JSON header, tensor offsets).
 */
#include <stdint.h>

#include "llm_util.h"
#include "safetensors.h"

/* One input: validate it as a safetensors image and walk its tensors. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[LLM_ERRLEN];
	llm_st_file *f;

	if (llm_st_open_memory(&f, data, size, err) < 0)
		return 0;
	for (int i = 0; i < llm_st_n_tensors(f); i++)
		(void) llm_st_tensor_at(f, i);
	llm_st_close(f);
	return 0;
}
