/*
 * pg_guc.c - the llm.* settings (GUCs) of the extension.
 *
 * The variables live here and every other file of the PostgreSQL layer
 * reads them; llm_define_gucs() is called once, from _PG_init (pg_llm.c).
 *
 * Who may change what: settings that protect the server (paths, memory,
 * threads, device, caps) are PGC_POSTMASTER, PGC_SIGHUP or PGC_SUSET, so
 * a plain user can neither raise a cap nor point the server at a file.
 * Settings the worker reads are PGC_SIGHUP or PGC_POSTMASTER, because a
 * session-level SET could never reach the worker process anyway.
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "llm_engine.h"
#include "pg_enrich.h"
#include "pg_llm.h"

char	   *llm_guc_model_dir = NULL;
char	   *llm_guc_default_model = NULL;
char	   *llm_guc_default_embedding_model = NULL;
int			llm_guc_threads = 0;
int			llm_guc_ctx_size = 4096;
int			llm_guc_kv_cache_mb = 512;
int			llm_guc_max_batch = 16;
int			llm_guc_queue_size = 256;
int			llm_guc_max_tokens = 4096;
int			llm_guc_default_max_tokens = 256;
int			llm_guc_truncation = LLM_TRUNC_ERROR;
int			llm_guc_device = LLM_DEVICE_AUTO;
int			llm_guc_prefill_chunk = 128;
int			llm_guc_batch_rows = 64;
int			llm_guc_model_memory_mb = 0;
int			llm_guc_gpu_memory_mb = 0;
int			llm_guc_max_input_kb = 1024;
int			llm_guc_shared_text_mb = 256;
int			llm_guc_enrich_batch_size = 64;
int			llm_guc_enrich_max_attempts = 5;
int			llm_guc_enrich_retry_delay = 1000;
int			llm_guc_enrich_naptime = 1000;
int			llm_guc_kv_type = LLM_KV_F16;

static const struct config_enum_entry llm_truncation_options[] = {
	{"error", LLM_TRUNC_ERROR, false},
	{"left", LLM_TRUNC_LEFT, false},
	{"right", LLM_TRUNC_RIGHT, false},
	{NULL, 0, false}
};

static const struct config_enum_entry llm_kv_type_options[] = {
	{"f32", LLM_KV_F32, false},
	{"f16", LLM_KV_F16, false},
	{NULL, 0, false}
};

static const struct config_enum_entry llm_device_options[] = {
	{"auto", LLM_DEVICE_AUTO, false},
	{"cpu", LLM_DEVICE_CPU, false},
	{"cuda", LLM_DEVICE_CUDA, false},
	{NULL, 0, false}
};

/*
 * Check hook of llm.device: when the CUDA module (llm_cuda.so in
 * PostgreSQL's library directory) is not installed, "cuda" is refused
 * with a clear message (ALTER SYSTEM) instead of silently running on the
 * CPU. Only the file is looked at: this process must not start CUDA (the
 * postmaster forks every backend), so whether a GPU is there is the
 * worker's to find out. At server start the value is accepted - rejecting
 * it there would only log a warning and fall back to "auto" - and the
 * worker then answers every request with the error instead (pg_worker.c).
 */
static bool
llm_check_device(int *newval, void **extra, GucSource source)
{
	char		path[MAXPGPATH];

	if (*newval == LLM_DEVICE_CUDA && !process_shared_preload_libraries_in_progress)
	{
		llm_cuda_module_path(path, sizeof(path));
		if (access(path, R_OK) != 0)
		{
			GUC_check_errcode(ERRCODE_FEATURE_NOT_SUPPORTED);
			GUC_check_errmsg("llm.device \"cuda\" is not available in this build");
			GUC_check_errdetail("The CUDA backend module \"%s\" is not installed.", path);
			GUC_check_errhint("Set llm.device to \"auto\" or \"cpu\", or build llm with nvcc.");
			return false;
		}
	}
	return true;
}

/*
 * Where the CUDA backend module is installed: $libdir/llm_cuda.so.
 */
void
llm_cuda_module_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/llm_cuda.so", pkglib_path);
}

/*
 * Check hook of llm.default_max_tokens: a SET (or ALTER ... SET) above
 * llm.max_tokens is refused at once instead of making every later call
 * fail. Values from the configuration file, the command line or a
 * role/database setting are accepted, because llm.max_tokens may be read
 * after them; parse_gen_options still refuses a default above the cap.
 */
static bool
llm_check_default_max_tokens(int *newval, void **extra, GucSource source)
{
	if (source >= PGC_S_INTERACTIVE && *newval > llm_guc_max_tokens)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("llm.default_max_tokens (%d) exceeds llm.max_tokens (%d)",
						 *newval, llm_guc_max_tokens);
		GUC_check_errhint("Set llm.default_max_tokens to at most %d; a superuser can raise llm.max_tokens.",
						  llm_guc_max_tokens);
		return false;
	}
	return true;
}

/*
 * Define every llm.* setting. Called only while shared_preload_libraries
 * is being processed, so PGC_POSTMASTER settings are allowed.
 */
void
llm_define_gucs(void)
{
	DefineCustomStringVariable("llm.model_dir",
							   "Directory holding GGUF model files.",
							   "Relative model paths are resolved in it; users without "
							   "pg_read_server_files may load models only from it.",
							   &llm_guc_model_dir, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("llm.default_model",
							   "Model used when a function is given no model name.",
							   "A file name inside llm.model_dir or an absolute path; "
							   "the worker loads it when it starts or reloads its "
							   "configuration.",
							   &llm_guc_default_model, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("llm.default_embedding_model",
							   "Embedding model loaded when the worker starts.",
							   "A file name inside llm.model_dir or an absolute path.",
							   &llm_guc_default_embedding_model, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.threads",
							"Threads the worker uses for inference.",
							"0 uses one thread per online CPU.",
							&llm_guc_threads, 0, 0, 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.ctx_size",
							"Upper limit of a model's context length in tokens.",
							"0 uses the length the model was trained with. The "
							"value of the session that loads a model applies to it.",
							&llm_guc_ctx_size, 4096, 0, 1048576,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.kv_cache_mb",
							"Memory for the key/value caches of running requests.",
							"The worker admits a request only when its prompt plus "
							"max_tokens positions fit in what is left.",
							&llm_guc_kv_cache_mb, 512, 1, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.max_batch",
							"Requests the worker runs together in one batch.",
							NULL,
							&llm_guc_max_batch, 16, 1, 1024,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.queue_size",
							"Request slots in shared memory.",
							"Submitters wait for a free slot when all are in use.",
							&llm_guc_queue_size, 256, 1, 65536,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.max_tokens",
							"Largest max_tokens a request may ask for.",
							NULL,
							&llm_guc_max_tokens, 4096, 1, 1048576,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.default_max_tokens",
							"max_tokens used when a call passes NULL.",
							"Must not exceed llm.max_tokens.",
							&llm_guc_default_max_tokens, 256, 1, 1048576,
							PGC_USERSET, 0, llm_check_default_max_tokens, NULL, NULL);
	DefineCustomEnumVariable("llm.truncation",
							 "What to do with a prompt longer than the context.",
							 "error raises an error, left keeps the end of the "
							 "prompt, right keeps its start.",
							 &llm_guc_truncation, LLM_TRUNC_ERROR,
							 llm_truncation_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("llm.device",
							 "Device the worker runs inference on.",
							 "auto uses the GPU when the CUDA module finds one, else "
							 "the CPU; cuda fails every request when there is none.",
							 &llm_guc_device, LLM_DEVICE_AUTO, llm_device_options,
							 PGC_POSTMASTER, 0, llm_check_device, NULL, NULL);
	DefineCustomIntVariable("llm.gpu_memory_mb",
							"GPU memory the worker may use for weights and KV caches.",
							"0 uses what the GPU has free when the worker starts "
							"(less 256 MB). A model load or request that would "
							"exceed it fails.",
							&llm_guc_gpu_memory_mb, 0, 0, INT_MAX / 2,
							PGC_POSTMASTER, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomEnumVariable("llm.kv_type",
							 "Element type of the KV cache of models loaded from now on.",
							 "f16 (the default) halves the KV memory and attention "
							 "traffic per position; f32 keeps the cache in single "
							 "precision. A model keeps the type it was loaded with.",
							 &llm_guc_kv_type, LLM_KV_F16, llm_kv_type_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.prefill_chunk",
							"Prompt tokens of one request processed per batch step.",
							"Long prompts are fed in chunks of this size so that "
							"they do not stall requests that are generating.",
							&llm_guc_prefill_chunk, 128, 1, 65536,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.model_memory_mb",
							"Memory all loaded models may take together.",
							"A load that would exceed it fails; a file loaded under "
							"several names counts once. 0 sets no limit. The value "
							"of the session that loads a model applies.",
							&llm_guc_model_memory_mb, 0, 0, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.max_input_size",
							"Largest input of one request (prompt, messages, text).",
							"Measured in bytes of UTF-8 after conversion; larger "
							"inputs are refused before they reach shared memory.",
							&llm_guc_max_input_kb, 1024, 1, 1024 * 1024,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.shared_text_mb",
							"Shared memory for the text of queued requests and results.",
							"Submitters wait while it is full.",
							&llm_guc_shared_text_mb, 256, 8, INT_MAX / 2,
							PGC_POSTMASTER, GUC_UNIT_MB, NULL, NULL, NULL);

	DefineCustomIntVariable("llm.batch_rows",
							"Rows a statement's llm calls are batched over.",
							"UPDATE, SELECT, INSERT ... SELECT and CREATE TABLE AS "
							"read this many rows, run all their llm_generate, "
							"llm_chat and llm_embed calls together, then return "
							"them in order. 1 turns batching off. Read when the "
							"statement starts.",
							&llm_guc_batch_rows, 64, 1, 10000,
							PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("llm.enrich_batch_size",
							"Rows an enrichment job computes together.",
							"Queue entries the drain worker takes per transaction, "
							"and rows per committed chunk of llm_enrich_backfill.",
							&llm_guc_enrich_batch_size, 64, 1, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.enrich_max_attempts",
							"Failed attempts after which a row moves to llm_enrich_failed.",
							NULL,
							&llm_guc_enrich_max_attempts, 5, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.enrich_retry_delay",
							"Wait before the first retry of a failed row.",
							"Each further failure doubles it, up to one hour.",
							&llm_guc_enrich_retry_delay, 1000, 0, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("llm.enrich_naptime",
							"How long the drain worker sleeps when its queues have nothing due.",
							NULL,
							&llm_guc_enrich_naptime, 1000, 10, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	MarkGUCPrefixReserved("llm");
}
