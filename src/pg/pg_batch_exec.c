/*
 * pg_batch_exec.c - the executor side of the row-batching node LlmBatch
 * (the planner side, and the shape of the plan, are in pg_batch_plan.c).
 *
 * The node pulls up to llm.batch_rows rows from its input, evaluates the
 * arguments of every hoisted llm call for each of them, builds their
 * requests with the very functions the SQL functions use
 * (llm_generate_build() and friends), hands all of them to the worker at
 * once (llm_run_requests) and waits; then it returns the rows one by one,
 * in input order, each projected through the original target list with
 * its results in place. Because the engine's results do not depend on
 * which other sequences share a step, every value is the one the call
 * would have returned row by row.
 *
 *   llm.batch_rows      read when the executor starts (so a prepared
 *                       statement follows the current setting); 1 turns
 *                       batching off (one row per batch)
 *   LIMIT n above       no batch reads past the n-th row
 *   cursors, CTEs,      batches start at 1 row and double up to
 *   non-constant LIMIT  llm.batch_rows, so the first rows come quickly
 *
 * Errors: an argument that fails validation raises its error while the
 * batch is being built (before any of the batch's requests run); a
 * request the worker fails raises the error of the first such row, after
 * the rows before it have finished (pg_queue.c). A cancel or
 * statement_timeout while waiting withdraws every request of the batch.
 */
#include "postgres.h"

#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "portability/instr_time.h"
#include "utils/memutils.h"

#include "pg_llm.h"

/* one hoisted call of the scan tuple */
typedef struct BatchCall
{
	LlmCallKind kind;
	int			nargs;
	ExprState **args;			/* over the input row (OUTER_VAR) */
	Oid			inputcollid;
	FmgrInfo	flinfo;			/* only fn_oid and fn_nargs are used */
} BatchCall;

/* execution state of an LlmBatch node */
typedef struct LlmBatchState
{
	CustomScanState css;

	/* the scan tuple: column j is input column src[j], or call -src[j]-1 */
	int			nscan;
	int		   *src;
	int			ncalls;
	BatchCall  *calls;

	/* batching */
	int			batch_rows;		/* llm.batch_rows at executor start */
	int			bound;			/* rows a LIMIT above takes (0: none) */
	bool		ramp;			/* batches of 1, 2, 4, ... rows */
	int			next_size;		/* size of the next batch when ramping */
	int64		pulled;			/* input rows read since (re)start */
	bool		input_done;

	/* the current batch */
	MemoryContext batch_cxt;	/* requests, arguments, results */
	TupleTableSlot **rows;		/* copies of the input rows */
	int			nslots;			/* slots made so far */
	int			nrows;
	int			pos;			/* next row to return */
	Datum	   *values;			/* [row * ncalls + call] */
	bool	   *isnull;

	/* EXPLAIN ANALYZE */
	int64		nbatches;
	int64		nbatch_rows;
	double		wait_ms;
} LlmBatchState;

static void batch_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *batch_exec(CustomScanState *node);
static void batch_end(CustomScanState *node);
static void batch_rescan(CustomScanState *node);
static void batch_explain(CustomScanState *node, List *ancestors, ExplainState *es);

static const CustomExecMethods llm_batch_exec_methods = {
	.CustomName = "LlmBatch",
	.BeginCustomScan = batch_begin,
	.ExecCustomScan = batch_exec,
	.EndCustomScan = batch_end,
	.ReScanCustomScan = batch_rescan,
	.ExplainCustomScan = batch_explain,
};

/*
 * CreateCustomScanState callback: an empty LlmBatchState.
 */
Node *
llm_batch_create_state(CustomScan *cscan)
{
	LlmBatchState *st = (LlmBatchState *) newNode(sizeof(LlmBatchState),
												  T_CustomScanState);

	st->css.methods = &llm_batch_exec_methods;
	return (Node *) st;
}

/*
 * BeginCustomScan: start the input, compile the calls' arguments, read
 * llm.batch_rows.
 */
static void
batch_begin(CustomScanState *node, EState *estate, int eflags)
{
	LlmBatchState *st = (LlmBatchState *) node;
	CustomScan *cs = (CustomScan *) node->ss.ps.plan;
	ListCell   *lc;
	int			j = 0;
	int			cap;

	outerPlanState(node) = ExecInitNode(outerPlan(cs), estate, eflags);
	/* the arguments read our copies of the input rows, not its slot */
	node->ss.ps.outerops = &TTSOpsMinimalTuple;
	node->ss.ps.outeropsfixed = true;
	node->ss.ps.outeropsset = true;

	st->bound = intVal(linitial(cs->custom_private));
	st->ramp = intVal(lsecond(cs->custom_private)) != 0;
	st->ncalls = intVal(lthird(cs->custom_private));
	st->nscan = list_length(cs->custom_scan_tlist);
	st->src = palloc0(sizeof(int) * Max(st->nscan, 1));
	st->calls = palloc0(sizeof(BatchCall) * Max(st->ncalls, 1));
	st->ncalls = 0;
	foreach(lc, cs->custom_scan_tlist)
	{
		Expr	   *e = lfirst_node(TargetEntry, lc)->expr;

		if (IsA(e, Var) && ((Var *) e)->varno == OUTER_VAR)
			st->src[j] = ((Var *) e)->varattno;
		else if (IsA(e, FuncExpr))
		{
			FuncExpr   *f = (FuncExpr *) e;
			BatchCall  *c = &st->calls[st->ncalls];
			ListCell   *la;
			int			a = 0;

			c->kind = llm_call_kind(f->funcid);
			if (c->kind == LLM_CALL_NONE)
				elog(ERROR, "LlmBatch: function %u is not a batchable llm function",
					 f->funcid);
			c->nargs = list_length(f->args);
			c->args = palloc(sizeof(ExprState *) * Max(c->nargs, 1));
			foreach(la, f->args)
				c->args[a++] = ExecInitExpr((Expr *) lfirst(la), &node->ss.ps);
			c->inputcollid = f->inputcollid;
			c->flinfo.fn_oid = f->funcid;
			c->flinfo.fn_nargs = c->nargs;
			c->flinfo.fn_strict = false;
			c->flinfo.fn_mcxt = CurrentMemoryContext;
			c->flinfo.fn_expr = (Node *) f;
			st->src[j] = -(st->ncalls + 1);
			st->ncalls++;
		}
		else
			elog(ERROR, "LlmBatch: unexpected scan column of type %d",
				 (int) nodeTag(e));
		j++;
	}

	st->batch_rows = llm_guc_batch_rows;
	cap = st->batch_rows;
	if (st->bound > 0)
		cap = Min(cap, st->bound);
	st->batch_rows = Max(cap, 1);
	st->next_size = 1;
	st->rows = palloc0(sizeof(TupleTableSlot *) * st->batch_rows);
	st->batch_cxt = AllocSetContextCreate(estate->es_query_cxt, "LlmBatch",
										  ALLOCSET_DEFAULT_SIZES);
}

/*
 * Run one call's builder for the current input row (econtext's outer
 * tuple): evaluate the arguments, then validate them and fill req.
 */
static void
build_call(BatchCall *c, ExprContext *econtext, LlmRequest *req)
{
	LOCAL_FCINFO(fc, FUNC_MAX_ARGS);

	InitFunctionCallInfoData(*fc, &c->flinfo, c->nargs, c->inputcollid, NULL, NULL);
	for (int a = 0; a < c->nargs; a++)
		fc->args[a].value = ExecEvalExpr(c->args[a], econtext, &fc->args[a].isnull);
	switch (c->kind)
	{
		case LLM_CALL_GENERATE:
			(void) llm_generate_build(fc, req);
			break;
		case LLM_CALL_CHAT:
			(void) llm_chat_build(fc, req);
			break;
		case LLM_CALL_EMBED:
			(void) llm_embed_build(fc, req);
			break;
		case LLM_CALL_EXTRACT:
			(void) llm_extract_build(fc, req);
			break;
		default:
			elog(ERROR, "LlmBatch: bad call kind %d", (int) c->kind);
	}
}

/*
 * The value of a finished request of the given kind.
 */
static Datum
call_result(LlmCallKind kind, const LlmRequest *req)
{
	switch (kind)
	{
		case LLM_CALL_EMBED:
			return llm_embed_result(req);
		case LLM_CALL_EXTRACT:
			return llm_extract_result(req);
		default:
			return llm_text_result(req);
	}
}

/*
 * Read the next batch of input rows, run all their calls together and
 * keep the results. Leaves nrows 0 at the end of the input.
 */
static void
fill_batch(LlmBatchState *st)
{
	PlanState  *outer = outerPlanState(&st->css);
	ExprContext *econtext = st->css.ss.ps.ps_ExprContext;
	MemoryContext oldcxt;
	LlmRequest *reqs;
	int			want = st->ramp ? Min(st->next_size, st->batch_rows) : st->batch_rows;
	int			nreq;
	instr_time	t0,
				t1;

	MemoryContextReset(st->batch_cxt);
	st->nrows = 0;
	st->pos = 0;
	if (st->bound > 0)
		want = (int) Min((int64) want, Max(st->bound - st->pulled, 1));

	while (st->nrows < want)
	{
		TupleTableSlot *in = ExecProcNode(outer);

		if (TupIsNull(in))
		{
			st->input_done = true;
			break;
		}
		if (st->nrows == st->nslots)
			st->rows[st->nslots++] =
				MakeSingleTupleTableSlot(in->tts_tupleDescriptor, &TTSOpsMinimalTuple);
		ExecCopySlot(st->rows[st->nrows], in);
		st->nrows++;
	}
	st->pulled += st->nrows;
	if (st->ramp)
		st->next_size = Min(st->next_size * 2, st->batch_rows);
	if (st->nrows == 0)
		return;

	oldcxt = MemoryContextSwitchTo(st->batch_cxt);
	nreq = st->nrows * st->ncalls;
	reqs = palloc(sizeof(LlmRequest) * nreq);
	for (int r = 0; r < st->nrows; r++)
	{
		econtext->ecxt_outertuple = st->rows[r];
		for (int c = 0; c < st->ncalls; c++)
			build_call(&st->calls[c], econtext, &reqs[r * st->ncalls + c]);
	}

	INSTR_TIME_SET_CURRENT(t0);
	llm_run_requests(reqs, nreq);
	INSTR_TIME_SET_CURRENT(t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	st->wait_ms += INSTR_TIME_GET_MILLISEC(t1);

	st->values = palloc(sizeof(Datum) * nreq);
	st->isnull = palloc(sizeof(bool) * nreq);
	for (int i = 0; i < nreq; i++)
	{
		st->isnull[i] = reqs[i].skip;
		st->values[i] = reqs[i].skip ? (Datum) 0 :
			call_result(st->calls[i % st->ncalls].kind, &reqs[i]);
	}
	MemoryContextSwitchTo(oldcxt);
	st->nbatches++;
	st->nbatch_rows += st->nrows;
}

/*
 * ExecCustomScan: the next row, in input order, with its call results.
 */
static TupleTableSlot *
batch_exec(CustomScanState *node)
{
	LlmBatchState *st = (LlmBatchState *) node;
	TupleTableSlot *scan = node->ss.ss_ScanTupleSlot;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	TupleTableSlot *row;
	int			r;

	if (st->pos >= st->nrows)
	{
		if (st->input_done)
			return NULL;
		fill_batch(st);
		if (st->nrows == 0)
			return NULL;
	}
	r = st->pos++;
	row = st->rows[r];
	slot_getallattrs(row);

	ExecClearTuple(scan);
	for (int j = 0; j < st->nscan; j++)
	{
		if (st->src[j] > 0)
		{
			scan->tts_values[j] = row->tts_values[st->src[j] - 1];
			scan->tts_isnull[j] = row->tts_isnull[st->src[j] - 1];
		}
		else
		{
			int			i = r * st->ncalls + (-st->src[j] - 1);

			scan->tts_values[j] = st->values[i];
			scan->tts_isnull[j] = st->isnull[i];
		}
	}
	ExecStoreVirtualTuple(scan);

	ResetExprContext(econtext);
	econtext->ecxt_scantuple = scan;
	if (node->ss.ps.ps_ProjInfo == NULL)
		return scan;
	return ExecProject(node->ss.ps.ps_ProjInfo);
}

/*
 * Forget the current batch (its input rows, requests and results).
 */
static void
batch_reset(LlmBatchState *st)
{
	for (int i = 0; i < st->nslots; i++)
		ExecClearTuple(st->rows[i]);
	MemoryContextReset(st->batch_cxt);
	st->nrows = 0;
	st->pos = 0;
	st->values = NULL;
	st->isnull = NULL;
}

/*
 * EndCustomScan: shut the input down and drop the row copies.
 */
static void
batch_end(CustomScanState *node)
{
	LlmBatchState *st = (LlmBatchState *) node;

	if (st->rows != NULL)
	{
		batch_reset(st);
		for (int i = 0; i < st->nslots; i++)
			ExecDropSingleTupleTableSlot(st->rows[i]);
		st->nslots = 0;
	}
	ExecEndNode(outerPlanState(node));
}

/*
 * ReScanCustomScan: start over (a new outer row of a nested loop, a
 * correlated sub-plan, an EvalPlanQual recheck).
 */
static void
batch_rescan(CustomScanState *node)
{
	LlmBatchState *st = (LlmBatchState *) node;
	PlanState  *outer = outerPlanState(node);

	batch_reset(st);
	st->input_done = false;
	st->pulled = 0;
	st->next_size = 1;
	if (outer->chgParam == NULL)
		ExecReScan(outer);
}

/*
 * ExplainCustomScan: the batch size; with ANALYZE the batches run, their
 * mean size and (with TIMING) the time spent waiting for the worker.
 */
static void
batch_explain(CustomScanState *node, List *ancestors, ExplainState *es)
{
	LlmBatchState *st = (LlmBatchState *) node;

	ExplainPropertyInteger("Batch Rows", NULL, st->batch_rows, es);
	if (st->ramp)
		ExplainPropertyText("Batch Growth", "from 1 row, doubling", es);
	ExplainPropertyInteger("Calls per Row", NULL, st->ncalls, es);
	if (es->analyze)
	{
		ExplainPropertyInteger("Batches", NULL, st->nbatches, es);
		ExplainPropertyFloat("Rows per Batch", NULL,
							 st->nbatches > 0 ? (double) st->nbatch_rows / st->nbatches : 0.0,
							 1, es);
		if (es->timing)
			ExplainPropertyFloat("Wait Time", "ms", st->wait_ms, 3, es);
	}
}
