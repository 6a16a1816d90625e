/*
 * pg_acl.c - who may do what with the llm extension, backend side.
 *
 * The privilege model (docs/SQL.md, "Privileges"):
 *
 *   - llm_load_model() and llm_unload_model() are revoked from PUBLIC by
 *     the install script; a superuser grants EXECUTE to whom it chooses.
 *   - A model loaded with llm_load_model() is owned by the role that
 *     loaded it; only that role, its members and superusers may unload
 *     it. The models of llm.default_model / llm.default_embedding_model
 *     belong to no role: only a superuser may unload them.
 *   - The path column of llm_models is shown to superusers and members
 *     of pg_read_server_files only; cached_prompt_tokens of llm_stats to
 *     superusers and members of pg_read_all_stats only.
 *
 * The worker has no database connection and cannot look at role
 * membership, so the backend resolves it here and sends the outcome with
 * the request (LlmGenOptions.unload_owner, LlmSlot.owner_super); the
 * worker compares it with the model table at the moment it acts.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "utils/acl.h"

#include "pg_llm.h"

/*
 * Set req->opt.unload_owner for an UNLOAD request of the current user:
 * the owner of the model named req->model when the user has that role's
 * privileges, InvalidOid otherwise (the worker then refuses, unless the
 * user is a superuser).
 */
void
llm_set_unload_owner(LlmRequest *req)
{
	Oid			owner = InvalidOid;

	req->opt.unload_owner = InvalidOid;
	LWLockAcquire(llm_shared->lock, LW_SHARED);
	for (int i = 0; i < LLM_MAX_MODELS; i++)
		if (llm_shared->models[i].in_use &&
			strcmp(llm_shared->models[i].name, req->model) == 0)
			owner = llm_shared->models[i].owner;
	LWLockRelease(llm_shared->lock);
	if (OidIsValid(owner) && has_privs_of_role(GetUserId(), owner))
		req->opt.unload_owner = owner;
}

/*
 * Whether the current user may see file paths on the server (the path
 * column of llm_models): superusers and members of pg_read_server_files.
 */
bool
llm_may_read_paths(void)
{
	return superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES);
}

/*
 * Whether the current user may see counters that reveal other roles'
 * prompts (cached_prompt_tokens of llm_stats): superusers and members of
 * pg_read_all_stats.
 */
bool
llm_may_read_all_stats(void)
{
	return superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}
