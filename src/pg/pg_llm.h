/*
 * pg_llm.h - declarations shared by the PostgreSQL layer of the llm
 * extension (src/pg_*.c).
 *
 * Architecture:
 *
 *   backends                         shared memory              worker
 *   --------                         -------------              ------
 *   llm_generate() ... builds an     LlmShared: one LWLock,     "llm worker" owns the
 *   LlmRequest, copies its text  --> llm.queue_size request --> models (mmap) and one
 *   into the DSA area, takes a       slots, model table,        llm_engine; admits queued
 *   free slot, sets the worker's     statistics; a DSA area     slots, runs continuous
 *   latch and waits on its own   <-- for prompt/result text <-- batching, writes results
 *   latch for the result.                                       and sets the owner's latch.
 *
 * A slot moves FREE -> QUEUED (backend) -> RUNNING (worker) -> DONE
 * (worker) -> FREE (backend).  A backend that gives up (cancel, timeout,
 * error, exit) frees a QUEUED or DONE slot itself and turns a RUNNING one
 * into CANCELLED, which the worker frees within one step (a RUNNING
 * embedding request whose text the worker has copied is freed by the
 * backend at once: the worker answers only a slot with its request_id).  Every
 * submission gets a new request_id, so a slot that has been reused never
 * hands a stale result to a newer request.  DSA chunks named by a slot
 * belong to that slot: whoever sets the slot FREE frees them.
 */
#ifndef PG_LLM_H
#define PG_LLM_H

#include "postgres.h"

#include <signal.h>

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "nodes/plannodes.h"
#include "storage/lwlock.h"
#include "utils/dsa.h"
#include "utils/jsonb.h"

#include "llm_embed.h"
#include "llm_engine.h"

/* limits of the shared structures */
#define LLM_NAME_LEN		64	/* model names, NUL included */
#define LLM_MAX_MODELS		16	/* models loaded at once */
/* prompt positions a model's prefix cache holds (the start of its latest prompt) */
#define LLM_PREFIX_CACHE_TOKENS 512
#define LLM_MAX_STOP		16	/* stop strings per request */
#define LLM_MSG_LEN			256 /* error message / hint / detail */
#define LLM_WAIT_EVENT		PG_WAIT_EXTENSION

/* ------------------------------------------------------------- GUCs */

typedef enum LlmDevice
{
	LLM_DEVICE_AUTO = 0,
	LLM_DEVICE_CPU,
	LLM_DEVICE_CUDA
} LlmDevice;

/* pg_guc.c: the llm.* settings */
extern void llm_define_gucs(void);
extern void llm_cuda_module_path(char *buf, size_t len);
extern char *llm_guc_model_dir;
extern char *llm_guc_default_model;
extern char *llm_guc_default_embedding_model;
extern int	llm_guc_threads;
extern int	llm_guc_ctx_size;
extern int	llm_guc_kv_cache_mb;
extern int	llm_guc_max_batch;
extern int	llm_guc_queue_size;
extern int	llm_guc_max_tokens;
extern int	llm_guc_default_max_tokens;
extern int	llm_guc_truncation;		/* an llm_truncation value */
extern int	llm_guc_device;			/* an LlmDevice value */
extern int	llm_guc_kv_type;		/* an llm_kv_type value */
extern int	llm_guc_prefill_chunk;
extern int	llm_guc_model_memory_mb;	/* 0: no budget */
extern int	llm_guc_gpu_memory_mb;	/* 0: what the GPU has */
extern int	llm_guc_max_input_kb;
extern int	llm_guc_shared_text_mb;

/* --------------------------------------------------- shared structures */

typedef enum LlmSlotState
{
	LLM_SLOT_FREE = 0,
	LLM_SLOT_QUEUED,			/* submitted, waiting for the worker */
	LLM_SLOT_RUNNING,			/* admitted by the worker */
	LLM_SLOT_DONE,				/* result (or error) ready */
	LLM_SLOT_CANCELLED			/* owner gave up while it was running */
} LlmSlotState;

typedef enum LlmReqKind
{
	LLM_REQ_GENERATE = 1,		/* input: prompt, stop strings */
	LLM_REQ_CHAT,				/* input: role/content pairs, stop strings */
	LLM_REQ_TOKENIZE,			/* input: text; output: int32[] */
	LLM_REQ_DETOKENIZE,			/* input: int32[]; output: text */
	LLM_REQ_LOAD,				/* input: absolute path */
	LLM_REQ_UNLOAD,				/* no input */
	LLM_REQ_EMBED				/* input: text; output: float4[dim] */
} LlmReqKind;

/*
 * generation options as validated by the backend; the sampling values are
 * floats, the type the engine samples with, so that the backend checks
 * exactly the values the worker passes on
 */
typedef struct LlmGenOptions
{
	int32		max_tokens;
	float		temperature;
	float		top_p;
	int32		top_k;
	float		min_p;
	float		repeat_penalty;
	uint64		seed;
	bool		seed_random;	/* seed NULL while sampling: each request draws one */
	int32		truncation;		/* llm_truncation */
	int32		n_stop;			/* stop strings after the prompt */
	bool		json_schema;	/* a JSON Schema (text) follows the stop strings */
	bool		chat_fallback;	/* LLM_REQ_CHAT: plain prompt when no template */
	int32		n_msgs;			/* LLM_REQ_CHAT: messages in the input */
	int32		ctx_size;		/* LLM_REQ_LOAD: llm.ctx_size of the caller */
	int32		memory_mb;		/* LLM_REQ_LOAD: llm.model_memory_mb of the caller */
	Oid			unload_owner;	/* LLM_REQ_UNLOAD: owner the caller may act for */
	bool		parse_special;	/* LLM_REQ_GENERATE: special-token text is special */
} LlmGenOptions;

typedef struct LlmSlot
{
	LlmSlotState state;
	LlmReqKind	kind;
	uint64		request_id;		/* 0 while FREE */
	int			owner_pid;
	int			owner_procno;	/* pgprocno, for SetLatch */
	Oid			owner_role;		/* current user of the submitter */
	bool		owner_super;	/* whether that role is a superuser */
	uint64		worker_gen;		/* generation of the worker that admitted it */
	TimestampTz enqueued_at;
	TimestampTz started_at;		/* when the worker admitted it */
	char		model[LLM_NAME_LEN];	/* "" = the default model */
	LlmGenOptions opt;

	dsa_pointer input;			/* serialized input, see pg_queue.c */
	Size		input_len;
	dsa_pointer output;			/* result bytes */
	Size		output_len;

	/* result (n_prompt, n_generated: also progress while RUNNING) */
	int32		n_prompt;
	int32		n_generated;
	int32		finish;			/* llm_finish */
	int			sqlerrcode;		/* 0: success */
	char		errmsg[LLM_MSG_LEN];
	char		errdetail[LLM_MSG_LEN];
	char		errhint[LLM_MSG_LEN];
} LlmSlot;

/* one loaded model, published by the worker for the llm_models view */
typedef struct LlmModelEntry
{
	bool		in_use;
	bool		is_default;
	char		name[LLM_NAME_LEN];
	Oid			owner;			/* role that loaded it; InvalidOid: a setting */
	char		path[MAXPGPATH];
	char		arch[32];
	char		quant[16];
	char		chat_format[32];
	bool		is_default_embedding;
	int32		embed_dim;		/* 0: not loaded for embeddings (yet) */
	char		pooling[16];	/* embedding pooling, "" when embed_dim 0 */
	int64		n_params;
	int32		n_ctx;
	int64		model_bytes;	/* the mapped file plus in-memory packed weights */
	int64		kv_bytes;		/* KV cache currently held by its sequences */
	char		device[8];		/* "cpu" or "cuda": where it runs */
	int64		gpu_bytes;		/* device memory: weights plus KV caches */
} LlmModelEntry;

typedef struct LlmShared
{
	LWLock	   *lock;			/* protects everything below */
	int			dsa_tranche;
	bool		dsa_created;
	dsa_handle	dsa;

	/* worker */
	pid_t		worker_pid;		/* 0 when not running */
	int			worker_procno;
	uint64		worker_gen;		/* bumped at every worker start */
	bool		worker_ready;	/* default models loaded (or failed) */
	TimestampTz worker_started;
	char		default_error[LLM_MSG_LEN]; /* why no default model */
	char		default_embedding_error[LLM_MSG_LEN];	/* why none for embeddings */

	uint64		next_request_id;

	/* statistics since the worker started */
	uint64		n_requests;
	uint64		prompt_tokens;
	uint64		cached_prompt_tokens;	/* of those, taken from the prefix cache */
	uint64		generated_tokens;
	uint64		embed_texts;	/* texts embedded */
	uint64		embed_tokens;	/* their tokens */
	uint64		embed_batches;	/* llm_embed_batch() calls */
	double		embed_seconds;	/* time spent in them */
	uint64		steps;
	uint64		step_seqs;		/* sum over steps of sequences per step */
	uint64		n_waits;
	double		wait_ms_total;
	double		step_seconds;	/* time spent inside llm_engine_step */

	LlmModelEntry models[LLM_MAX_MODELS];

	int			n_slots;
	LlmSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} LlmShared;

/* pg_queue.c */
extern LlmShared *llm_shared;
extern void llm_shmem_init_hooks(void);
extern void llm_require_shared(void);
extern dsa_area *llm_dsa(void);
extern void llm_set_proc_latch(int procno);
extern void llm_free_slot_chunks(LlmSlot *slot, dsa_pointer *chunks, int *n);

/* a request as a backend sees it */
typedef struct LlmRequest
{
	LlmReqKind	kind;
	char		model[LLM_NAME_LEN];
	LlmGenOptions opt;
	char	   *input;			/* serialized input (palloc'd) */
	Size		input_len;
	bool		skip;			/* nothing to do (e.g. NULL prompt) */

	/* progress */
	int			slot;			/* -1 when it holds no slot */
	uint64		request_id;
	bool		done;

	/* result */
	char	   *output;			/* palloc'd, NUL-terminated */
	Size		output_len;
	int32		n_prompt;
	int32		n_generated;
	int32		finish;
} LlmRequest;

extern void llm_request_init(LlmRequest *req, LlmReqKind kind);

/* pg_funcs.c: argument helpers of the SQL functions; llm_run_requests()
 * (pg_queue.c) submits requests and waits for their results */
extern void llm_parse_model_arg(FunctionCallInfo fcinfo, int argno, LlmRequest *req);
extern int	llm_text_array_arg(FunctionCallInfo fcinfo, int argno, const char *name,
							   Datum **elems, bool **nulls);
extern void llm_put_batch_rows(ReturnSetInfo *rsinfo, const LlmRequest *reqs, int n,
							   Datum (*value) (const LlmRequest *req));
extern void llm_run_requests(LlmRequest *reqs, int n);

/*
 * One SQL function call split in two, so that the batching node
 * (pg_batch_exec.c) can build the requests of many rows, run them
 * together and then make each row's value exactly as the function would:
 * build() validates the arguments and fills req, returning false (with
 * req->skip set) when the call's result is NULL without any work;
 * result() turns the finished request into the call's value.
 */
extern bool llm_generate_build(FunctionCallInfo fcinfo, LlmRequest *req);
extern bool llm_chat_build(FunctionCallInfo fcinfo, LlmRequest *req);
extern bool llm_embed_build(FunctionCallInfo fcinfo, LlmRequest *req);
extern bool llm_extract_build(FunctionCallInfo fcinfo, LlmRequest *req);
extern Datum llm_extract_result(const LlmRequest *req);
extern Datum llm_text_result(const LlmRequest *req);
extern Datum llm_embed_result(const LlmRequest *req);

/* pg_batch_plan.c / pg_batch_exec.c: the row-batching node */
typedef enum LlmCallKind
{
	LLM_CALL_NONE = 0,
	LLM_CALL_GENERATE,			/* llm_generate() */
	LLM_CALL_CHAT,				/* llm_chat() */
	LLM_CALL_EMBED,				/* llm_embed() */
	LLM_CALL_EXTRACT			/* llm_extract() */
} LlmCallKind;

extern LlmCallKind llm_call_kind(Oid funcid);
extern void llm_call_kind_init(void);
extern int	llm_guc_batch_rows;
extern void llm_batch_init(void);
extern Node *llm_batch_create_state(CustomScan *cscan);
/* pg_schema.c: the json_schema argument, checked and appended to the input */
extern void llm_json_schema_arg(FunctionCallInfo fcinfo, int argno, LlmGenOptions *opt,
								StringInfo input);
extern char *llm_json_schema_text(Jsonb *schema);

/* pg_worker.c */
extern void llm_register_worker(void);
extern PGDLLEXPORT void llm_worker_main(Datum arg);

/*
 * Inside the worker process only (pg_worker.c, pg_models.c, pg_embed.c,
 * pg_reply.c).
 */

/* a request's failure, as the worker reports it to the backend */
typedef struct LlmWErr
{
	int			code;			/* SQLSTATE */
	char		msg[LLM_MSG_LEN];
	char		detail[LLM_MSG_LEN];
	char		hint[LLM_MSG_LEN];
} LlmWErr;

/*
 * A model loaded by the worker; index i matches llm_shared->models[i].
 * A generation model (GGUF) has m; an embedding model (BERT-family
 * directory or GGUF) has only em; a generation model used for
 * embeddings gets em too, loaded from the same file on first use.
 */
typedef struct LlmWModel
{
	llm_model  *m;				/* generation model, or NULL */
	llm_embed_model *em;		/* embedding model, or NULL */
	char		path[MAXPGPATH];
	dev_t		file_dev;		/* st_dev and st_ino of path at load: the */
	ino_t		file_ino;		/* file's identity (hard links included) */
	char		name[LLM_NAME_LEN];
	size_t		kv_per_pos;
	int32		n_ctx;
	int64		kv_reserved;	/* KV bytes reserved by its running requests */
	llm_prefix_cache *prefix;	/* KV rows of its latest prompt, or NULL */
	Oid			prefix_role;	/* role whose prompt the prefix cache holds */
	Oid			owner;			/* see LlmModelEntry.owner */
	int64		bytes;			/* memory of m and em (shared ones included) */
	int32		ctx_req;		/* llm.ctx_size it was loaded with */
	llm_vocab_trie *trie;		/* its vocabulary trie, built on first use */
} LlmWModel;

extern void llm_werr_set(LlmWErr *e, int code, const char *msg,
						 const char *detail, const char *hint);

/* pg_worker_input.c: worker helpers without state (see there) */
extern bool llm_input_strings(const char *buf, Size len, Size *pos, const char **out, int n);
extern void llm_werr_from_gen(LlmWErr *e, const char *err);
extern int	llm_plain_prompt(const llm_chat_msg *msgs, int n, char **out, char *err);
/* pg_worker_slots.c: fail or free the slots of other workers (lock held) */
extern void llm_worker_fail_slots(uint64 keep_gen, bool fail_queued, const char *why,
								  int *procs, int *n);
/* pg_reply.c: publish a request's outcome; the engine's interrupt check */
extern void llm_reply_complete(int slotno, uint64 request_id, const LlmWErr *err,
								const void *data, Size len,
								int32 n_prompt, int32 n_generated, int32 finish);
extern void llm_reply_fail(int slotno, uint64 request_id, int code,
							const char *msg, const char *detail, const char *hint);
extern int	llm_worker_interrupt_check(void *arg);
extern void llm_worker_rethrow(void);

/* pg_models.c */
/* the worker's engine, which models are attached to (NULL: none yet) */
extern void llm_wm_set_engine(llm_engine *e);
extern LlmWModel llm_wmodels[LLM_MAX_MODELS];
extern int	llm_wm_find(const char *name);
extern int	llm_wm_default(void);
extern int	llm_wm_load(const char *name, const char *path, int32 ctx_size,
						Oid owner, int32 memory_mb, LlmWErr *e);
extern bool llm_wm_may_unload(const LlmSlot *s, int mi, LlmWErr *e);
extern void llm_wm_unload(int mi);
extern void llm_wm_apply_settings(void);
extern int	llm_wm_request_model(const char *name, LlmWErr *e);
extern int	llm_wm_request_gen_model(const char *name, LlmWErr *e);
/* the vocabulary trie of generation model mi (built once); NULL with *e */
extern const llm_vocab_trie *llm_wm_vocab_trie(int mi, LlmWErr *e);
extern int	llm_wm_request_embed_model(const char *name, LlmWErr *e);
extern bool llm_wm_in_use(int mi);
extern void llm_wm_do_tokens(const LlmSlot *s, int slotno, const char *input,
							 LlmWErr *e);
extern void llm_wm_do_load(const LlmSlot *s, int slotno, const char *input,
						   LlmWErr *e);

/* pg_embed.c (worker side) */
extern void llm_we_take(const LlmSlot *s, int slotno, char *input);
extern bool llm_we_pending(void);
extern bool llm_we_room(void);
extern void llm_we_run(void);
extern void llm_we_fail_model(int mi, const char *why);

/* pg_views.c */
extern int	llm_find_model_entry(const char *name);

/* pg_acl.c (backends) */
extern void llm_set_unload_owner(LlmRequest *req);
extern bool llm_may_read_paths(void);
extern bool llm_may_read_all_stats(void);

#endif							/* PG_LLM_H */
