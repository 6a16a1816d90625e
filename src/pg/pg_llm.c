/*
 * pg_llm.c - module initialisation of the llm extension.
 *
 * The library must be listed in shared_preload_libraries: _PG_init then
 * defines the llm.* settings (pg_guc.c), asks for shared memory
 * (pg_queue.c), registers the background worker that owns the models
 * (pg_worker.c) and the launcher of the enrichment workers
 * (pg_enrich_worker.c), and installs the planner hook of the row-batching
 * node (pg_batch_plan.c). When the library is loaded any other way (CREATE
 * EXTENSION without the preload), _PG_init does nothing and every SQL
 * function raises an error explaining how to preload it.
 *
 * This file is the top of the layer: it calls the others, none calls it.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "pg_enrich.h"
#include "pg_llm.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Module load callback.
 */
void
_PG_init(void)
{
	/*
	 * Without the preload there is no shared memory and no worker: define
	 * nothing, the SQL functions report the problem when called.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	llm_define_gucs();
	llm_shmem_init_hooks();
	llm_register_worker();
	llm_batch_init();
	llm_enrich_register_launcher();
}
