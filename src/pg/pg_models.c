/*
 * pg_models.c - the models of the llm worker, and its short requests.
 *
 * Runs inside the worker process only. The worker keeps its loaded
 * models in llm_wmodels[]; entry i is published for the llm_models view
 * in llm_shared->models[i]. Models come from llm.default_model and
 * llm.default_embedding_model (at start and after a configuration
 * reload) and from llm_load_model(); a model loaded from a setting is
 * named after its file, without ".gguf".
 *
 * A model is a generation model (a GGUF llm_model), an embedding model
 * (llm_embed_model: a sentence-transformers directory or a bert GGUF),
 * or a generation model that has also been opened for embeddings (on the
 * first llm_embed() naming it: mean or last-token pooling over its hidden
 * states).
 *
 * The short requests - tokenize, detokenize, load and unload - are
 * answered here as soon as the worker takes them from the queue; they do
 * not join the batch.
 */
#include "postgres.h"

#include <limits.h>
#include <stdlib.h>
#include <dirent.h>
#include <sys/stat.h>

#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "utils/memutils.h"

#include "llm_engine.h"
#include "pg_llm.h"

LlmWModel	llm_wmodels[LLM_MAX_MODELS];

/* the worker's engine: generation models are attached to it at load */
static llm_engine *wm_engine = NULL;

/*
 * Set the engine models are attached to (the worker, once it has made it).
 */
void
llm_wm_set_engine(llm_engine *e)
{
	wm_engine = e;
}

/* llm.default_model / llm.default_embedding_model as last applied */
static char *wm_cur_default = NULL;
static char *wm_cur_embedding = NULL;

/* the files those settings name (resolved), "" when unset */
static char wm_default_path[MAXPGPATH];
static char wm_embedding_path[MAXPGPATH];

/* Whether entry mi holds a model. */
bool
llm_wm_in_use(int mi)
{
	return llm_wmodels[mi].m != NULL || llm_wmodels[mi].em != NULL;
}

/* Index of the loaded model with this name, or -1. */
int
llm_wm_find(const char *name)
{
	for (int i = 0; i < LLM_MAX_MODELS; i++)
		if (llm_wm_in_use(i) && strcmp(llm_wmodels[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * Publish the embedding properties of entry mi (dimension, pooling).
 */
static void
wm_publish_embed(int mi)
{
	llm_embed_info info;

	llm_embed_model_info(llm_wmodels[mi].em, &info);
	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	llm_shared->models[mi].embed_dim = info.dim;
	strlcpy(llm_shared->models[mi].pooling, llm_embed_pooling_name(info.pooling),
			sizeof(llm_shared->models[mi].pooling));
	LWLockRelease(llm_shared->lock);
}

/* Index of the default model, or -1. */
int
llm_wm_default(void)
{
	int			found = -1;

	LWLockAcquire(llm_shared->lock, LW_SHARED);
	for (int i = 0; i < LLM_MAX_MODELS; i++)
		if (llm_shared->models[i].in_use && llm_shared->models[i].is_default)
			found = i;
	LWLockRelease(llm_shared->lock);
	return found >= 0 && llm_wmodels[found].m ? found : -1;
}

/*
 * Bytes of a model file, or of the regular files directly inside a model
 * directory (0 when unreadable).
 */
static int64
wm_path_bytes(const char *path)
{
	struct stat st;
	DIR		   *dir;
	struct dirent *de;
	int64		total = 0;

	if (stat(path, &st) != 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return (int64) st.st_size;
	dir = opendir(path);
	if (dir == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL)
	{
		char		f[MAXPGPATH];

		snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
		if (stat(f, &st) == 0 && S_ISREG(st.st_mode))
			total += (int64) st.st_size;
	}
	closedir(dir);
	return total;
}

/*
 * Whether entry mi shares its generation or embedding model with another
 * loaded entry (the same file loaded under several names).
 */
static bool
wm_shared_with_other(int mi, bool embedding)
{
	for (int i = 0; i < LLM_MAX_MODELS; i++)
	{
		if (i == mi || !llm_wm_in_use(i))
			continue;
		if (!embedding && llm_wmodels[mi].m && llm_wmodels[i].m == llm_wmodels[mi].m)
			return true;
		if (embedding && llm_wmodels[mi].em && llm_wmodels[i].em == llm_wmodels[mi].em)
			return true;
	}
	return false;
}

/*
 * Memory of all loaded models: a copy shared by several names counts
 * once.
 */
static int64
wm_total_bytes(void)
{
	int64		total = 0;

	for (int i = 0; i < LLM_MAX_MODELS; i++)
	{
		bool		counted = false;

		if (!llm_wm_in_use(i))
			continue;
		for (int j = 0; j < i && !counted; j++)
			counted = llm_wm_in_use(j) &&
				(llm_wmodels[i].m ? llm_wmodels[j].m == llm_wmodels[i].m
				 : llm_wmodels[j].em == llm_wmodels[i].em);
		if (!counted)
			total += llm_wmodels[i].bytes;
	}
	return total;
}

/*
 * Check that bytes more of models fit in llm.model_memory_mb (memory_mb,
 * 0: no limit); false with *e filled otherwise.
 */
static bool
wm_fits_budget(const char *name, int64 bytes, int32 memory_mb, LlmWErr *e)
{
	int64		budget = (int64) memory_mb * 1024 * 1024;
	int64		used;
	char		msg[LLM_MSG_LEN];
	char		detail[LLM_MSG_LEN];

	if (memory_mb <= 0)
		return true;
	used = wm_total_bytes();
	if (used + bytes <= budget)
		return true;
	snprintf(msg, sizeof(msg), "model \"%s\" does not fit in llm.model_memory_mb", name);
	snprintf(detail, sizeof(detail),
			 "The model needs %lld kB; loaded models take %lld kB of the %lld kB allowed.",
			 (long long) (bytes / 1024), (long long) (used / 1024),
			 (long long) (budget / 1024));
	llm_werr_set(e, ERRCODE_CONFIGURATION_LIMIT_EXCEEDED, msg, detail,
				 "Unload a model with llm_unload_model() first, or ask a superuser to raise llm.model_memory_mb.");
	return false;
}

/*
 * Whether loaded entry mi has the context a load capped at ctx_size
 * (llm.ctx_size, 0: none) would give: only then can it be shared.
 */
static bool
wm_same_context(int mi, int32 ctx_size)
{
	int32		train;

	if (llm_wmodels[mi].m == NULL)
		return llm_wmodels[mi].ctx_req == ctx_size;
	train = llm_model_get_info(llm_wmodels[mi].m)->n_ctx_train;
	return (ctx_size > 0 && ctx_size < train ? ctx_size : train) == llm_wmodels[mi].n_ctx;
}

/*
 * Load name as one more name of the loaded entry src (the same file):
 * the weights, tokenizer and embedding model are shared, not copied.
 */
static int
wm_load_alias(int idx, int src, const char *name, Oid owner)
{
	LlmModelEntry *ent;

	memcpy(&llm_wmodels[idx], &llm_wmodels[src], sizeof(LlmWModel));
	strlcpy(llm_wmodels[idx].name, name, LLM_NAME_LEN);
	llm_wmodels[idx].owner = owner;
	llm_wmodels[idx].kv_reserved = 0;
	llm_wmodels[idx].prefix = NULL;
	llm_wmodels[idx].prefix_role = InvalidOid;

	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	ent = &llm_shared->models[idx];
	memcpy(ent, &llm_shared->models[src], sizeof(*ent));
	strlcpy(ent->name, name, LLM_NAME_LEN);
	ent->owner = owner;
	ent->is_default = false;
	ent->is_default_embedding = false;
	ent->kv_bytes = 0;
	LWLockRelease(llm_shared->lock);

	ereport(LOG,
			(errmsg("llm worker loaded model \"%s\" as another name of \"%s\"",
					name, llm_wmodels[src].name)));
	return idx;
}

/*
 * Load a model file under a name and publish it in the model table; its
 * context is capped at ctx_size tokens (0: no cap), owner is the role
 * that loads it (InvalidOid for a setting) and memory_mb the budget of
 * all models (llm.model_memory_mb). A file that is already loaded gets
 * one more name for the same copy (when its context length is the same).
 * Returns the model index, or -1 with
 * *e filled.
 */
int
llm_wm_load(const char *name, const char *path, int32 ctx_size, Oid owner,
			int32 memory_mb, LlmWErr *e)
{
	char		err[LLM_ERRLEN];
	char		msg[LLM_MSG_LEN];
	llm_model  *m = NULL;
	const llm_model_info *info;
	llm_embed_model *em = NULL;
	llm_abort	ab = {llm_worker_interrupt_check, NULL};
	int			idx = -1;
	int			rc;
	LlmModelEntry *ent;
	struct stat st;
	bool		is_dir = false;

	if (llm_wm_find(name) >= 0)
	{
		snprintf(msg, sizeof(msg), "model \"%s\" is already loaded", name);
		llm_werr_set(e, ERRCODE_DUPLICATE_OBJECT, msg, NULL,
				 "Unload it first with llm_unload_model(), or choose another name.");
		return -1;
	}
	for (int i = 0; i < LLM_MAX_MODELS; i++)
		if (!llm_wm_in_use(i))
		{
			idx = i;
			break;
		}
	if (idx < 0)
	{
		snprintf(msg, sizeof(msg), "cannot load more than %d models", LLM_MAX_MODELS);
		llm_werr_set(e, ERRCODE_CONFIGURATION_LIMIT_EXCEEDED, msg, NULL,
				 "Unload a model with llm_unload_model() first.");
		return -1;
	}

	/*
	 * The same file is found by its identity, not its path: a hard link
	 * (or any other path to it) shares the loaded copy.
	 */
	if (stat(path, &st) == 0)
		for (int i = 0; i < LLM_MAX_MODELS; i++)
			if (llm_wm_in_use(i) && llm_wmodels[i].file_dev == st.st_dev &&
				llm_wmodels[i].file_ino == st.st_ino && wm_same_context(i, ctx_size))
				return wm_load_alias(idx, i, name, owner);
	if (!wm_fits_budget(name, wm_path_bytes(path), memory_mb, e))
		return -1;

	/*
	 * A directory is a sentence-transformers model; a file is tried as a
	 * generation GGUF first, then as an embedding model (bert GGUF).
	 */
	err[0] = '\0';
	rc = -1;
	memset(&st, 0, sizeof(st));
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		is_dir = true;
	else
	{
		rc = llm_model_load_ex(&m, path, ctx_size, &ab, err);
		llm_worker_rethrow();
	}
	if (rc != 0 && strcmp(err, LLM_ABORT_MSG) == 0)
	{
		/* the worker is shutting down: no second try as an embedding model */
		snprintf(msg, sizeof(msg), "could not load model \"%s\"", name);
		llm_werr_set(e, ERRCODE_ADMIN_SHUTDOWN, msg,
					 "The llm worker was stopped while it loaded the model.",
					 "Load it again when the worker is back.");
		return -1;
	}
	if (rc != 0 || m == NULL)
	{
		char		eerr[LLM_ERRLEN];

		m = NULL;
		eerr[0] = '\0';
		rc = llm_embed_model_load_ex(&em, path, &ab, eerr);
		llm_worker_rethrow();
		if (rc == 0 && em != NULL && llm_embed_model_cap_seq(em, ctx_size, eerr) != 0)
		{
			llm_embed_model_free(em);
			em = NULL;
			rc = -1;
		}
		if (rc != 0 || em == NULL)
		{
			/* report the embedding loader's reason where it applies */
			if (is_dir || strstr(err, "architecture") != NULL || err[0] == '\0')
				strlcpy(err, eerr, sizeof(err));
			snprintf(msg, sizeof(msg), "could not load model \"%s\"", name);
			llm_werr_set(e, ERRCODE_INVALID_PARAMETER_VALUE, msg, err,
						 is_dir ? "Check that the directory holds a sentence-transformers model (config.json, model.safetensors, tokenizer.json or vocab.txt)."
						 : "Check that the file is a GGUF model of a supported architecture.");
			return -1;
		}
	}

	/* in memory, the packed copies of the weights come on top of the file */
	{
		int64		bytes = m ? (int64) (llm_model_get_info(m)->file_bytes +
										 llm_model_get_info(m)->packed_bytes)
			: wm_path_bytes(path);

		if (!wm_fits_budget(name, bytes, memory_mb, e))
		{
			if (m)
				llm_model_free(m);
			if (em)
				llm_embed_model_free(em);
			return -1;
		}
		memset(&llm_wmodels[idx], 0, sizeof(LlmWModel));
		llm_wmodels[idx].bytes = bytes;
	}
	llm_wmodels[idx].m = m;
	llm_wmodels[idx].em = em;
	llm_wmodels[idx].owner = owner;
	llm_wmodels[idx].ctx_req = ctx_size;
	strlcpy(llm_wmodels[idx].path, path, MAXPGPATH);
	llm_wmodels[idx].file_dev = st.st_dev;
	llm_wmodels[idx].file_ino = st.st_ino;
	strlcpy(llm_wmodels[idx].name, name, LLM_NAME_LEN);
	if (m == NULL)
	{
		llm_embed_info einfo;

		llm_embed_model_info(em, &einfo);
		LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
		ent = &llm_shared->models[idx];
		memset(ent, 0, sizeof(*ent));
		strlcpy(ent->name, name, LLM_NAME_LEN);
		ent->owner = owner;
		strlcpy(ent->path, path, MAXPGPATH);
		strlcpy(ent->arch, "bert", sizeof(ent->arch));
		strlcpy(ent->device, "cpu", sizeof(ent->device));
		ent->n_params = einfo.n_params;
		ent->n_ctx = einfo.max_seq_len;
		ent->model_bytes = wm_path_bytes(path);
		ent->embed_dim = einfo.dim;
		strlcpy(ent->pooling, llm_embed_pooling_name(einfo.pooling), sizeof(ent->pooling));
		ent->in_use = true;
		LWLockRelease(llm_shared->lock);
		ereport(LOG,
				(errmsg("llm worker loaded embedding model \"%s\" from \"%s\"", name, path)));
		return idx;
	}

	info = llm_model_get_info(m);
	/* the KV type is fixed for the model's life: set before any sequence */
	llm_model_set_kv_type(m, llm_guc_kv_type == LLM_KV_F16 ? LLM_KV_F16 : LLM_KV_F32);
	/* on a GPU engine: the weights go to the device now, once */
	if (wm_engine && (rc = llm_engine_attach(wm_engine, m, err)) < 0)
	{
		bool		oom = strncmp(err, "out of GPU memory", 17) == 0;

		if (rc == LLM_ERR_DEVICE_LOST)
		{
			/* the GPU is gone: a new worker starts (on the CPU under auto) */
			ereport(LOG,
					(errmsg("llm worker exits: the GPU failed while loading model \"%s\"", name),
					 errdetail_internal("%s", err)));
			proc_exit(1);
		}

		llm_model_free(m);
		memset(&llm_wmodels[idx], 0, sizeof(LlmWModel));
		snprintf(msg, sizeof(msg), "could not load model \"%s\" on the GPU", name);
		llm_werr_set(e, oom ? ERRCODE_OUT_OF_MEMORY : ERRCODE_FEATURE_NOT_SUPPORTED, msg, err,
					 oom ? "Raise llm.gpu_memory_mb, unload a model, or use a smaller quantization."
					 : "Set llm.device to \"cpu\" (or \"auto\" on a machine without a GPU) to run it on the CPU.");
		return -1;
	}
	llm_wmodels[idx].kv_per_pos = llm_model_kv_bytes_per_pos(m);
	llm_wmodels[idx].n_ctx = info->n_ctx;
	llm_wmodels[idx].kv_reserved = 0;

	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	ent = &llm_shared->models[idx];
	memset(ent, 0, sizeof(*ent));
	strlcpy(ent->name, name, LLM_NAME_LEN);
	ent->owner = owner;
	strlcpy(ent->path, path, MAXPGPATH);
	strlcpy(ent->arch, info->arch, sizeof(ent->arch));
	strlcpy(ent->quant, info->quant, sizeof(ent->quant));
	strlcpy(ent->chat_format, info->chat_format ? info->chat_format : "",
			sizeof(ent->chat_format));
	ent->n_params = (int64) info->n_params;
	ent->n_ctx = info->n_ctx;
	ent->model_bytes = (int64) (info->file_bytes + info->packed_bytes);
	ent->kv_bytes = 0;
	strlcpy(ent->device, wm_engine ? llm_engine_device(wm_engine) : "cpu",
			sizeof(ent->device));
	ent->gpu_bytes = wm_engine ?
		(int64) llm_engine_device_bytes(wm_engine, m) : 0;
	ent->in_use = true;
	LWLockRelease(llm_shared->lock);

	ereport(LOG,
			(errmsg("llm worker loaded model \"%s\" from \"%s\" (KV cache %s)", name, path,
					llm_kv_type_name(llm_model_kv_type(m)))));
	return idx;
}

/*
 * Unload model mi: its shared entry is cleared, then the file is unmapped.
 * The caller (the worker loop) has already failed the model's running
 * generation and embedding requests.
 */
void
llm_wm_unload(int mi)
{
	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	if (llm_shared->models[mi].is_default)
		snprintf(llm_shared->default_error, LLM_MSG_LEN,
				 "the default model \"%s\" was unloaded", llm_wmodels[mi].name);
	if (llm_shared->models[mi].is_default_embedding)
		snprintf(llm_shared->default_embedding_error, LLM_MSG_LEN,
				 "the default embedding model \"%s\" was unloaded", llm_wmodels[mi].name);
	memset(&llm_shared->models[mi], 0, sizeof(LlmModelEntry));
	LWLockRelease(llm_shared->lock);

	ereport(LOG, (errmsg("llm worker unloaded model \"%s\"", llm_wmodels[mi].name)));
	llm_prefix_cache_free(llm_wmodels[mi].prefix);
	llm_vocab_trie_free(llm_wmodels[mi].trie);
	llm_wmodels[mi].trie = NULL;
	/* a copy that another name still uses stays */
	if (llm_wmodels[mi].m && !wm_shared_with_other(mi, false))
	{
		llm_engine_detach(wm_engine, llm_wmodels[mi].m);
		llm_model_free(llm_wmodels[mi].m);
	}
	if (llm_wmodels[mi].em && !wm_shared_with_other(mi, true))
		llm_embed_model_free(llm_wmodels[mi].em);
	memset(&llm_wmodels[mi], 0, sizeof(LlmWModel));
}

/*
 * Resolve a model setting (file name inside llm.model_dir, or a path) to
 * a path and a model name (the file name without ".gguf").
 */
static void
wm_resolve_setting(const char *setting, char *path, char *name)
{
	const char *base;
	size_t		len;
	char		resolved[PATH_MAX];

	if (strchr(setting, '/') == NULL && llm_guc_model_dir && llm_guc_model_dir[0])
		snprintf(path, MAXPGPATH, "%s/%s", llm_guc_model_dir, setting);
	else
		strlcpy(path, setting, MAXPGPATH);
	if (realpath(path, resolved) != NULL)
		strlcpy(path, resolved, MAXPGPATH);

	base = strrchr(setting, '/');
	base = base ? base + 1 : setting;
	len = strlen(base);
	if (len > 5 && strcmp(base + len - 5, ".gguf") == 0)
		len -= 5;
	if (len >= LLM_NAME_LEN)
		len = LLM_NAME_LEN - 1;
	memcpy(name, base, len);
	name[len] = '\0';
}

/*
 * Load the model named by a setting (llm.default_model or
 * llm.default_embedding_model). The outcome is recorded in shared memory:
 * which model is the default (for generation or for embeddings), or why
 * there is none.
 */
static void
wm_load_setting(const char *setting, bool is_default)
{
	char		path[MAXPGPATH];
	char		name[LLM_NAME_LEN];
	char		why[LLM_MSG_LEN];
	LlmWErr		e;
	int			mi = -1;

	why[0] = '\0';
	path[0] = '\0';
	if (setting == NULL || setting[0] == '\0')
		strlcpy(why, is_default ? "llm.default_model is not set"
				: "llm.default_embedding_model is not set", sizeof(why));
	else
	{
		wm_resolve_setting(setting, path, name);
		mi = llm_wm_find(name);
		if (mi < 0)
		{
			mi = llm_wm_load(name, path, llm_guc_ctx_size, InvalidOid,
							 llm_guc_model_memory_mb, &e);
			if (mi < 0)
			{
				ereport(WARNING,
						(errmsg("llm worker: %s", e.msg),
						 e.detail[0] ? errdetail_internal("%s", e.detail) : 0));
				snprintf(why, sizeof(why), "%s: %s", e.msg, e.detail);
			}
		}
	}
	strlcpy(is_default ? wm_default_path : wm_embedding_path, path, MAXPGPATH);
	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < LLM_MAX_MODELS; i++)
	{
		if (is_default)
			llm_shared->models[i].is_default = (i == mi);
		else
			llm_shared->models[i].is_default_embedding = (i == mi);
	}
	strlcpy(is_default ? llm_shared->default_error : llm_shared->default_embedding_error,
			why, LLM_MSG_LEN);
	LWLockRelease(llm_shared->lock);
}

/* Index of the default embedding model, or -1. */
static int
wm_default_embedding(void)
{
	int			found = -1;

	LWLockAcquire(llm_shared->lock, LW_SHARED);
	for (int i = 0; i < LLM_MAX_MODELS; i++)
		if (llm_shared->models[i].in_use && llm_shared->models[i].is_default_embedding)
			found = i;
	LWLockRelease(llm_shared->lock);
	return found;
}

/*
 * Apply llm.default_model / llm.default_embedding_model if they changed
 * since they were last applied, or if the model they name is not loaded
 * (it failed to load or was unloaded): at start and after SIGHUP.
 */
void
llm_wm_apply_settings(void)
{
	const char *def = llm_guc_default_model ? llm_guc_default_model : "";
	const char *emb = llm_guc_default_embedding_model ? llm_guc_default_embedding_model : "";

	if (wm_cur_default == NULL || strcmp(wm_cur_default, def) != 0 ||
		(def[0] != '\0' && llm_wm_default() < 0))
	{
		if (wm_cur_default)
			pfree(wm_cur_default);
		wm_cur_default = MemoryContextStrdup(TopMemoryContext, def);
		wm_load_setting(def, true);
	}
	if (wm_cur_embedding == NULL || strcmp(wm_cur_embedding, emb) != 0 ||
		(emb[0] != '\0' && wm_default_embedding() < 0))
	{
		if (wm_cur_embedding)
			pfree(wm_cur_embedding);
		wm_cur_embedding = MemoryContextStrdup(TopMemoryContext, emb);
		wm_load_setting(emb, false);
	}
}

/*
 * Resolve a request's model name; -1 with *e filled when unknown.
 */
int
llm_wm_request_model(const char *name, LlmWErr *e)
{
	char		msg[LLM_MSG_LEN];
	int			mi;

	if (name[0] == '\0')
	{
		mi = llm_wm_default();
		if (mi < 0)
		{
			char		why[LLM_MSG_LEN];

			LWLockAcquire(llm_shared->lock, LW_SHARED);
			strlcpy(why, llm_shared->default_error, sizeof(why));
			LWLockRelease(llm_shared->lock);
			llm_werr_set(e, ERRCODE_UNDEFINED_OBJECT, "no default model is loaded", why,
					 "Set llm.default_model, or pass the name of a model loaded with llm_load_model().");
		}
		return mi;
	}
	mi = llm_wm_find(name);
	if (mi < 0)
	{
		snprintf(msg, sizeof(msg), "model \"%s\" is not loaded", name);
		llm_werr_set(e, ERRCODE_UNDEFINED_OBJECT, msg, NULL,
				 "Load it with llm_load_model(); the llm_models view lists the models.");
	}
	return mi;
}

/*
 * Resolve a request's model for generation, chat or detokenization: it
 * must be a generation model. -1 with *e filled otherwise.
 */
int
llm_wm_request_gen_model(const char *name, LlmWErr *e)
{
	char		msg[LLM_MSG_LEN];
	int			mi = llm_wm_request_model(name, e);

	if (mi >= 0 && llm_wmodels[mi].m == NULL)
	{
		snprintf(msg, sizeof(msg), "model \"%s\" is an embedding model", llm_wmodels[mi].name);
		llm_werr_set(e, ERRCODE_WRONG_OBJECT_TYPE, msg, NULL,
					 "Use it with llm_embed(); llm_generate() and llm_chat() need a generation model.");
		return -1;
	}
	return mi;
}

/*
 * Resolve a request's model for embeddings: "" is
 * llm.default_embedding_model. A generation model is opened for
 * embeddings on first use. -1 with *e filled when there is none.
 */
int
llm_wm_request_embed_model(const char *name, LlmWErr *e)
{
	char		msg[LLM_MSG_LEN];
	char		err[LLM_ERRLEN];
	int			mi = -1;
	llm_abort	ab = {llm_worker_interrupt_check, NULL};
	int			rc;

	if (name[0] == '\0')
	{
		char		why[LLM_MSG_LEN];

		LWLockAcquire(llm_shared->lock, LW_SHARED);
		for (int i = 0; i < LLM_MAX_MODELS; i++)
			if (llm_shared->models[i].in_use && llm_shared->models[i].is_default_embedding)
				mi = i;
		strlcpy(why, llm_shared->default_embedding_error, sizeof(why));
		LWLockRelease(llm_shared->lock);
		if (mi < 0 || !llm_wm_in_use(mi))
		{
			llm_werr_set(e, ERRCODE_UNDEFINED_OBJECT, "no default embedding model is loaded",
						 why, "Set llm.default_embedding_model, or pass the name of a model loaded with llm_load_model().");
			return -1;
		}
	}
	else
	{
		mi = llm_wm_find(name);
		if (mi < 0)
		{
			snprintf(msg, sizeof(msg), "model \"%s\" is not loaded", name);
			llm_werr_set(e, ERRCODE_UNDEFINED_OBJECT, msg, NULL,
						 "Load it with llm_load_model(); the llm_models view lists the models.");
			return -1;
		}
	}
	if (llm_wmodels[mi].em != NULL)
		return mi;

	/* another name of the same file may have opened it already */
	for (int i = 0; i < LLM_MAX_MODELS; i++)
		if (i != mi && llm_wm_in_use(i) && llm_wmodels[i].m == llm_wmodels[mi].m &&
			llm_wmodels[i].em != NULL)
		{
			llm_wmodels[mi].em = llm_wmodels[i].em;
			wm_publish_embed(mi);
			return mi;
		}

	/* a generation model: open its file for embeddings once */
	err[0] = '\0';
	rc = llm_embed_model_load_ex(&llm_wmodels[mi].em, llm_wmodels[mi].path, &ab, err);
	llm_worker_rethrow();
	if (rc == 0 && llm_wmodels[mi].em != NULL)
	{
		/* texts get no more positions than generation has (llm.ctx_size) */
		if (llm_embed_model_cap_seq(llm_wmodels[mi].em, llm_wmodels[mi].n_ctx, err) != 0)
		{
			llm_embed_model_free(llm_wmodels[mi].em);
			rc = -1;
		}
	}
	if (rc != 0 && strcmp(err, LLM_ABORT_MSG) == 0)
	{
		llm_wmodels[mi].em = NULL;
		snprintf(msg, sizeof(msg), "could not open model \"%s\" for embeddings",
				 llm_wmodels[mi].name);
		llm_werr_set(e, ERRCODE_ADMIN_SHUTDOWN, msg,
					 "The llm worker was stopped while it opened the model.",
					 "Run the query again when the worker is back.");
		return -1;
	}
	if (rc != 0 || llm_wmodels[mi].em == NULL)
	{
		llm_wmodels[mi].em = NULL;
		snprintf(msg, sizeof(msg), "model \"%s\" cannot compute embeddings",
				 llm_wmodels[mi].name);
		llm_werr_set(e, ERRCODE_FEATURE_NOT_SUPPORTED, msg, err,
					 "Load an embedding model (for example all-MiniLM-L6-v2) and pass its name.");
		return -1;
	}
	wm_publish_embed(mi);
	return mi;
}

/*
 * Answer a TOKENIZE or DETOKENIZE request on the spot.
 */
void
llm_wm_do_tokens(const LlmSlot *s, int slotno, const char *input, LlmWErr *e)
{
	char		err[LLM_ERRLEN];
	char		msg[LLM_MSG_LEN];
	const llm_tokenizer *tok;
	int			mi = llm_wm_request_model(s->model, e);

	if (mi < 0)
	{
		llm_reply_complete(slotno, s->request_id, e, NULL, 0, 0, 0, 0);
		return;
	}
	if (llm_wmodels[mi].m == NULL && s->kind == LLM_REQ_TOKENIZE)
	{
		/*
		 * an embedding model: its own tokenizer, specials included (a
		 * text over 64 kB is tokenized in parts instead, pg_worker.c)
		 */
		int32_t    *ids = NULL;
		int			n = 0;

		err[0] = '\0';
		if (llm_embed_tokenize(llm_wmodels[mi].em, input, s->input_len, 0, &ids, &n, err) != 0)
		{
			llm_werr_set(e, ERRCODE_INVALID_PARAMETER_VALUE, "could not tokenize the text",
						 err, "Check that the text is valid UTF-8.");
			llm_reply_complete(slotno, s->request_id, e, NULL, 0, 0, 0, 0);
			return;
		}
		llm_reply_complete(slotno, s->request_id, NULL, ids, (Size) n * sizeof(int32_t),
							(int32) n, 0, 0);
		free(ids);
		return;
	}
	mi = llm_wm_request_gen_model(s->model, e);
	if (mi < 0)
	{
		llm_reply_complete(slotno, s->request_id, e, NULL, 0, 0, 0, 0);
		return;
	}
	tok = llm_model_tokenizer(llm_wmodels[mi].m);
	err[0] = '\0';
	if (s->kind == LLM_REQ_TOKENIZE)
	{
		int32_t    *ids = NULL;
		size_t		n = 0;
		llm_abort	ab = {llm_worker_interrupt_check, NULL};
		int			rc;

		/* a long text's tokenization serves interrupts (issue 17) */
		rc = llm_tokenize_ex(tok, input, s->input_len, false, true, &ab, &ids, &n, err);
		llm_worker_rethrow();
		if (rc != 0 && strcmp(err, LLM_ABORT_MSG) == 0)
		{
			llm_werr_set(e, ERRCODE_ADMIN_SHUTDOWN, "could not tokenize the text",
						 "The llm worker was stopped while it tokenized the text.",
						 "Run the query again when the worker is back.");
			llm_reply_complete(slotno, s->request_id, e, NULL, 0, 0, 0, 0);
			return;
		}
		if (rc != 0)
		{
			llm_werr_set(e, ERRCODE_INVALID_PARAMETER_VALUE, "could not tokenize the text",
					 err, "Check that the text is valid UTF-8.");
			llm_reply_complete(slotno, s->request_id, e, NULL, 0, 0, 0, 0);
			return;
		}
		llm_reply_complete(slotno, s->request_id, NULL, ids, n * sizeof(int32_t),
						(int32) n, 0, 0);
		free(ids);
	}
	else
	{
		const int32_t *ids = (const int32_t *) input;
		size_t		n = s->input_len / sizeof(int32_t);
		int32_t		n_vocab = llm_tokenizer_n_vocab(tok);
		char	   *text;

		for (size_t i = 0; i < n; i++)
			if (ids[i] < 0 || ids[i] >= n_vocab)
			{
				snprintf(msg, sizeof(msg), "token id %d is out of range", (int) ids[i]);
				snprintf(err, sizeof(err),
						 "Token ids of model \"%s\" are between 0 and %d.",
						 llm_wmodels[mi].name, (int) n_vocab - 1);
				llm_werr_set(e, ERRCODE_INVALID_PARAMETER_VALUE, msg, NULL, err);
				llm_reply_complete(slotno, s->request_id, e, NULL, 0, 0, 0, 0);
				return;
			}
		text = llm_detokenize(tok, ids, n, true, err);
		if (text == NULL)
		{
			llm_werr_set(e, ERRCODE_INVALID_PARAMETER_VALUE, "could not detokenize", err, NULL);
			llm_reply_complete(slotno, s->request_id, e, NULL, 0, 0, 0, 0);
			return;
		}
		llm_reply_complete(slotno, s->request_id, NULL, text, strlen(text), 0, 0, 0);
		free(text);
	}
}

/*
 * A model just loaded from the file of llm.default_model (or of
 * llm.default_embedding_model) while that default is not loaded becomes
 * the default again.
 */
static void
wm_restore_default(int mi)
{
	bool		gen = llm_wmodels[mi].m != NULL && wm_default_path[0] != '\0' &&
		strcmp(llm_wmodels[mi].path, wm_default_path) == 0 && llm_wm_default() < 0;
	bool		emb = wm_embedding_path[0] != '\0' &&
		strcmp(llm_wmodels[mi].path, wm_embedding_path) == 0 && wm_default_embedding() < 0;

	if (!gen && !emb)
		return;
	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	if (gen)
	{
		llm_shared->models[mi].is_default = true;
		llm_shared->default_error[0] = '\0';
	}
	if (emb)
	{
		llm_shared->models[mi].is_default_embedding = true;
		llm_shared->default_embedding_error[0] = '\0';
	}
	LWLockRelease(llm_shared->lock);
	ereport(LOG,
			(errmsg("llm worker: model \"%s\" is the default %smodel again",
					llm_wmodels[mi].name, gen ? "" : "embedding ")));
}

/*
 * Whether the request s may unload model mi: superusers may unload any
 * model; other roles only models whose owner they act for
 * (opt.unload_owner, checked by the backend with role membership), and
 * never a default model. False with *e filled otherwise.
 */
bool
llm_wm_may_unload(const LlmSlot *s, int mi, LlmWErr *e)
{
	char		msg[LLM_MSG_LEN];
	bool		is_default;

	if (s->owner_super)
		return true;
	LWLockAcquire(llm_shared->lock, LW_SHARED);
	is_default = llm_shared->models[mi].is_default ||
		llm_shared->models[mi].is_default_embedding;
	LWLockRelease(llm_shared->lock);
	snprintf(msg, sizeof(msg), "permission denied to unload model \"%s\"",
			 llm_wmodels[mi].name);
	if (is_default)
	{
		llm_werr_set(e, ERRCODE_INSUFFICIENT_PRIVILEGE, msg,
					 "It is a default model (llm.default_model or llm.default_embedding_model).",
					 "Only a superuser can unload a default model.");
		return false;
	}
	if (!OidIsValid(llm_wmodels[mi].owner) || llm_wmodels[mi].owner != s->opt.unload_owner)
	{
		llm_werr_set(e, ERRCODE_INSUFFICIENT_PRIVILEGE, msg,
					 "Only the role that loaded a model, its members and superusers may unload it.",
					 "The owner column of llm_models names the role that loaded it.");
		return false;
	}
	return true;
}

/*
 * Answer a LOAD request on the spot. (UNLOAD is the worker loop's: the
 * model's running requests must fail first, see pg_worker.c.)
 */
void
llm_wm_do_load(const LlmSlot *s, int slotno, const char *input, LlmWErr *e)
{
	int			mi = llm_wm_load(s->model, input, s->opt.ctx_size, s->owner_role,
								 s->opt.memory_mb, e);

	if (mi < 0)
		llm_reply_complete(slotno, s->request_id, e, NULL, 0, 0, 0, 0);
	else
	{
		wm_restore_default(mi);
		llm_reply_complete(slotno, s->request_id, NULL, NULL, 0, 0, 0, 0);
	}
}


/*
 * The vocabulary trie of generation model mi, for schema-constrained
 * requests: built on the first such request and kept until the model is
 * unloaded. NULL with *e when it cannot be built.
 */
const llm_vocab_trie *
llm_wm_vocab_trie(int mi, LlmWErr *e)
{
	char		err[LLM_ERRLEN];

	if (llm_wmodels[mi].trie == NULL &&
		llm_vocab_trie_new(&llm_wmodels[mi].trie, llm_model_tokenizer(llm_wmodels[mi].m), err) < 0)
	{
		llm_werr_set(e, ERRCODE_OUT_OF_MEMORY, "could not build the vocabulary trie", err,
					 "Free memory in the server, or call without json_schema.");
		return NULL;
	}
	return llm_wmodels[mi].trie;
}
