/*
 * fuzz_model.c - libFuzzer target: the full model loader (llm_model_load:
 * GGUF container, hyper-parameters, tensor table, tokenizer, chat
 * template) on arbitrary bytes written to a temporary file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "llm_engine.h"

/*
 * One input: write it to a private temporary file and load it as a
 * model; a model that loads is freed at once.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	char		err[LLM_ERRLEN];
	llm_model  *m;
	FILE	   *fp;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/fuzz_model.%d.gguf", (int) getpid());
	fp = fopen(path, "wb");
	if (fp == NULL)
		return 0;
	if (size > 0 && fwrite(data, 1, size, fp) != size)
	{
		fclose(fp);
		return 0;
	}
	fclose(fp);
	if (llm_model_load(&m, path, 64, err) == 0)
		llm_model_free(m);
	unlink(path);
	return 0;
}
