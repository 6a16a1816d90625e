/*
 * pg_batch_plan.c - the planner side of the row-batching node.
 *
 * A plain "UPDATE docs SET summary = llm_generate(body)" evaluates its
 * target list one row at a time, so the worker would only ever see one
 * request of that statement. After the standard planner has made the
 * finished plan, llm_planner() looks at every plan node that projects a
 * target list (scans, joins, Result, Agg, ...). If an entry computes an
 * llm_generate, llm_chat or llm_embed call unconditionally, the node N is
 * split in two:
 *
 *   before:  parent -> N [tlist: id, upper(llm_generate(body, 32))]
 *
 *   after:   parent -> LlmBatch [tlist: INDEX_VAR 1, upper(INDEX_VAR 3)]
 *                        custom_scan_tlist (the "scan tuple"):
 *                          1: OUTER_VAR 1          (id)
 *                          2: OUTER_VAR 2          (body)
 *                          3: llm_generate(OUTER_VAR 2, 32)
 *                      -> N [tlist: id, body]
 *
 * N now only computes the "leaves": the parts of the expressions that
 * contain no hoisted call (its Vars, Aggrefs, sub-selects, arguments of
 * the calls). The LlmBatch node (pg_batch_exec.c) pulls up to
 * llm.batch_rows rows from N, evaluates every call's arguments, runs all
 * requests together and then projects the original target list row by
 * row, in input order. Its output columns are exactly N's old ones
 * (same resno, name, junk flag, sort/group reference), so whatever the
 * parent refers to - ModifyTable's "ctid", a Sort's key column, a join
 * clause - keeps working.
 *
 * A call is hoisted only where the executor would evaluate it for every
 * row anyway: reached from the target entry through plain function and
 * operator calls, casts, array and row constructors. Calls inside CASE,
 * COALESCE, AND/OR, NULLIF, sub-selects, aggregates, window functions,
 * arguments of set-returning functions, WHERE clauses, or nested inside
 * another llm call are left where they are and run as before.
 *
 * Nodes that are not split: ProjectSet (its rows multiply), a Result
 * without input (one row), ModifyTable itself, other extensions' custom
 * nodes, the direct inner input of a merge join (it needs mark/restore),
 * scrollable cursors (they need backward scans), and sub-plans of
 * sub-selects (EXISTS, IN, scalar sub-queries may stop after one row).
 * CTE plans are split, with small first batches.
 *
 * The plan is the one set_plan_references() finished, so the new nodes
 * are built in that form: OUTER_VAR and INDEX_VAR Vars, new plan node
 * ids, parameter sets copied from N.
 */
#include "postgres.h"

#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "optimizer/planner.h"
#include "utils/lsyscache.h"

#include "pg_llm.h"

/* the node's name in plans and EXPLAIN */
#define LLM_BATCH_NAME "LlmBatch"

static planner_hook_type prev_planner_hook = NULL;

static CustomScanMethods llm_batch_plan_methods = {
	LLM_BATCH_NAME,
	llm_batch_create_state
};

/* ---------------------------------------------- finding hoistable calls */

/*
 * Is node one of our calls in a place where it may be hoisted?
 */
static bool
is_batch_call(Node *node)
{
	return node != NULL && IsA(node, FuncExpr) &&
		!((FuncExpr *) node)->funcretset &&
		llm_call_kind(((FuncExpr *) node)->funcid) != LLM_CALL_NONE;
}

/*
 * Does the evaluation of node always evaluate all of its children (so
 * that a call below it may be computed ahead)? Only node types listed
 * here are looked into.
 */
static bool
evaluates_all_children(Node *node)
{
	switch (nodeTag(node))
	{
		case T_FuncExpr:
			return !((FuncExpr *) node)->funcretset;
		case T_OpExpr:
		case T_DistinctExpr:
			return !((OpExpr *) node)->opretset;
		case T_ScalarArrayOpExpr:
		case T_RelabelType:
		case T_CoerceViaIO:
		case T_ArrayCoerceExpr: /* its arg; elemexpr is per element */
		case T_ArrayExpr:
		case T_RowExpr:
		case T_FieldSelect:
		case T_CoerceToDomain:
		case T_CollateExpr:
		case T_MinMaxExpr:
		case T_List:
			return true;
		default:
			return false;
	}
}

/*
 * Walker: does node contain a hoistable call?
 */
static bool
contains_batch_call(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (is_batch_call(node))
		return true;
	if (!evaluates_all_children(node))
		return false;
	if (IsA(node, ArrayCoerceExpr))
		return contains_batch_call((Node *) ((ArrayCoerceExpr *) node)->arg, context);
	return expression_tree_walker(node, contains_batch_call, context);
}

/* ---------------------------------------------------- splitting a node */

/* state of splitting one node's target list */
typedef struct SplitCtx
{
	List	   *leaves;			/* N's new target list (TargetEntry) */
	List	   *scan_tlist;		/* the LlmBatch node's scan tuple */
	int			ncalls;
} SplitCtx;

/*
 * A Var of the given varno/attno with expr's type.
 */
static Var *
var_for(int varno, AttrNumber attno, Node *expr)
{
	return makeVar(varno, attno, exprType(expr), exprTypmod(expr),
				   exprCollation(expr), 0);
}

/*
 * Make expr a column computed by N (deduplicated) and return a
 * reference to it from the scan tuple's point of view: Var(OUTER_VAR).
 * Constants stay as they are.
 */
static Node *
leaf_ref(SplitCtx *cx, Node *expr)
{
	ListCell   *lc;
	TargetEntry *tle;

	if (IsA(expr, Const))
		return expr;
	foreach(lc, cx->leaves)
	{
		tle = lfirst_node(TargetEntry, lc);
		if (equal(tle->expr, expr))
			return (Node *) var_for(OUTER_VAR, tle->resno, expr);
	}
	tle = makeTargetEntry((Expr *) expr, list_length(cx->leaves) + 1, NULL, false);
	cx->leaves = lappend(cx->leaves, tle);
	return (Node *) var_for(OUTER_VAR, tle->resno, expr);
}

/*
 * Put expr (an OUTER_VAR reference or a call over them) into the scan
 * tuple, deduplicated, and return the INDEX_VAR reference to it.
 */
static Node *
scan_ref(SplitCtx *cx, Node *expr)
{
	ListCell   *lc;
	TargetEntry *tle;

	if (!IsA(expr, FuncExpr))
	{
		foreach(lc, cx->scan_tlist)
		{
			tle = lfirst_node(TargetEntry, lc);
			if (equal(tle->expr, expr))
				return (Node *) var_for(INDEX_VAR, tle->resno, expr);
		}
	}
	tle = makeTargetEntry((Expr *) expr, list_length(cx->scan_tlist) + 1, NULL, false);
	cx->scan_tlist = lappend(cx->scan_tlist, tle);
	return (Node *) var_for(INDEX_VAR, tle->resno, expr);
}

/*
 * Mutator: rewrite an expression of N's target list for the LlmBatch
 * node. Hoisted calls get their arguments computed by N and become scan
 * tuple columns; parts without such a call become N's columns; the
 * nodes in between stay and are evaluated by the LlmBatch node.
 */
static Node *
split_expr(Node *node, SplitCtx *cx)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, List))
		return expression_tree_mutator(node, split_expr, (void *) cx);
	if (is_batch_call(node))
	{
		FuncExpr   *call = (FuncExpr *) copyObject(node);
		List	   *args = NIL;
		ListCell   *lc;

		foreach(lc, call->args)
			args = lappend(args, leaf_ref(cx, (Node *) lfirst(lc)));
		call->args = args;
		cx->ncalls++;
		return scan_ref(cx, (Node *) call);
	}
	if (!contains_batch_call(node, NULL))
	{
		Node	   *ref = leaf_ref(cx, node);

		return IsA(ref, Const) ? ref : scan_ref(cx, ref);
	}
	if (IsA(node, ArrayCoerceExpr))
	{
		ArrayCoerceExpr *ac = (ArrayCoerceExpr *) copyObject(node);

		ac->arg = (Expr *) split_expr((Node *) ac->arg, cx);
		return (Node *) ac;
	}
	return expression_tree_mutator(node, split_expr, (void *) cx);
}

/* ------------------------------------------------------ the plan walk */

/* state of one llm_planner() pass */
typedef struct BatchPlanCtx
{
	int			next_node_id;
} BatchPlanCtx;

/*
 * May node N be split (given that its target list has a call)?
 */
static bool
splittable_node(Plan *plan)
{
	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_SampleScan:
		case T_IndexScan:
		case T_IndexOnlyScan:
		case T_BitmapHeapScan:
		case T_TidScan:
		case T_TidRangeScan:
		case T_SubqueryScan:
		case T_FunctionScan:
		case T_TableFuncScan:
		case T_ValuesScan:
		case T_CteScan:
		case T_NamedTuplestoreScan:
		case T_WorkTableScan:
		case T_ForeignScan:
		case T_NestLoop:
		case T_MergeJoin:
		case T_HashJoin:
		case T_Agg:
		case T_Group:
		case T_WindowAgg:
			return true;
		case T_Result:
			return outerPlan(plan) != NULL;
		default:
			return false;
	}
}

/*
 * The largest plan_node_id used in a plan tree.
 */
static int
max_node_id(Plan *plan)
{
	int			m;
	ListCell   *lc;

	if (plan == NULL)
		return -1;
	m = plan->plan_node_id;
	m = Max(m, max_node_id(plan->lefttree));
	m = Max(m, max_node_id(plan->righttree));
	switch (nodeTag(plan))
	{
		case T_Append:
			foreach(lc, ((Append *) plan)->appendplans)
				m = Max(m, max_node_id(lfirst(lc)));
			break;
		case T_MergeAppend:
			foreach(lc, ((MergeAppend *) plan)->mergeplans)
				m = Max(m, max_node_id(lfirst(lc)));
			break;
		case T_SubqueryScan:
			m = Max(m, max_node_id(((SubqueryScan *) plan)->subplan));
			break;
		case T_CustomScan:
			foreach(lc, ((CustomScan *) plan)->custom_plans)
				m = Max(m, max_node_id(lfirst(lc)));
			break;
		default:
			break;
	}
	return m;
}

/*
 * Split node N in place below a new LlmBatch node, which is returned.
 * bound: rows a LIMIT above will take at most (0 = unknown);
 * ramp: start with small batches.
 */
static Plan *
make_batch_node(BatchPlanCtx *ctx, Plan *plan, int64 bound, bool ramp)
{
	SplitCtx	cx;
	CustomScan *cs = makeNode(CustomScan);
	List	   *tlist = NIL;
	ListCell   *lc;

	memset(&cx, 0, sizeof(cx));
	foreach(lc, plan->targetlist)
	{
		TargetEntry *tle = flatCopyTargetEntry(lfirst_node(TargetEntry, lc));

		tle->expr = (Expr *) split_expr((Node *) tle->expr, &cx);
		tlist = lappend(tlist, tle);
	}

	cs->scan.plan.targetlist = tlist;
	cs->scan.plan.qual = NIL;
	cs->scan.plan.lefttree = plan;
	cs->scan.plan.righttree = NULL;
	cs->scan.plan.startup_cost = plan->startup_cost;
	cs->scan.plan.total_cost = plan->total_cost;
	cs->scan.plan.plan_rows = plan->plan_rows;
	cs->scan.plan.plan_width = plan->plan_width;
	cs->scan.plan.parallel_aware = false;
	cs->scan.plan.parallel_safe = plan->parallel_safe;
	cs->scan.plan.async_capable = false;
	cs->scan.plan.plan_node_id = ctx->next_node_id++;
	cs->scan.plan.extParam = bms_copy(plan->extParam);
	cs->scan.plan.allParam = bms_copy(plan->allParam);
	cs->scan.scanrelid = 0;
	cs->flags = 0;
	cs->custom_plans = NIL;
	cs->custom_exprs = NIL;
	cs->custom_scan_tlist = cx.scan_tlist;
	cs->custom_private = list_make3(makeInteger((int) Min(bound, PG_INT32_MAX)),
									makeInteger(ramp ? 1 : 0),
									makeInteger(cx.ncalls));
	cs->custom_relids = NULL;
	cs->methods = &llm_batch_plan_methods;

	plan->targetlist = cx.leaves;
	return (Plan *) cs;
}

/*
 * The rows a Limit node lets through, when both its count and offset are
 * constants (0 when unknown).
 */
static int64
limit_bound(Limit *limit)
{
	Const	   *cnt = (Const *) limit->limitCount;
	Const	   *off = (Const *) limit->limitOffset;
	int64		n;

	if (cnt == NULL || !IsA(cnt, Const) || cnt->constisnull ||
		limit->limitOption != LIMIT_OPTION_COUNT)
		return 0;
	n = DatumGetInt64(cnt->constvalue);
	if (off != NULL)
	{
		if (!IsA(off, Const))
			return 0;
		if (!off->constisnull)
			n += Max(DatumGetInt64(off->constvalue), 0);
	}
	return Max(n, 1);
}

static Plan *batch_plan_walk(BatchPlanCtx *ctx, Plan *plan, int64 bound,
							 bool ramp, bool no_split);

/*
 * Walk every plan in a list (Append members and the like).
 */
static List *
batch_plan_list(BatchPlanCtx *ctx, List *plans, bool ramp)
{
	ListCell   *lc;

	foreach(lc, plans)
		lfirst(lc) = batch_plan_walk(ctx, (Plan *) lfirst(lc), 0, ramp, false);
	return plans;
}

/*
 * Walk a plan tree bottom-up, splitting every node whose target list has
 * hoistable calls; returns the (possibly new) root. bound: the constant
 * LIMIT directly above; ramp: the consumer may stop early; no_split: the
 * parent needs this node to support mark/restore.
 */
static Plan *
batch_plan_walk(BatchPlanCtx *ctx, Plan *plan, int64 bound, bool ramp, bool no_split)
{
	ListCell   *lc;
	bool		split_here = false;

	if (plan == NULL)
		return NULL;

	switch (nodeTag(plan))
	{
		case T_Limit:
			{
				int64		b = limit_bound((Limit *) plan);

				plan->lefttree = batch_plan_walk(ctx, plan->lefttree, b,
												 ramp || b == 0, false);
				return plan;
			}
		case T_MergeJoin:
			plan->lefttree = batch_plan_walk(ctx, plan->lefttree, 0, ramp, false);
			plan->righttree = batch_plan_walk(ctx, plan->righttree, 0, ramp, true);
			break;
		case T_Result:
			/* Result passes mark/restore on to its input */
			plan->lefttree = batch_plan_walk(ctx, plan->lefttree, 0, ramp, no_split);
			break;
		case T_Append:
			((Append *) plan)->appendplans =
				batch_plan_list(ctx, ((Append *) plan)->appendplans, ramp);
			break;
		case T_MergeAppend:
			((MergeAppend *) plan)->mergeplans =
				batch_plan_list(ctx, ((MergeAppend *) plan)->mergeplans, ramp);
			break;
		case T_SubqueryScan:
			((SubqueryScan *) plan)->subplan =
				batch_plan_walk(ctx, ((SubqueryScan *) plan)->subplan, 0, ramp, false);
			break;
		case T_CustomScan:
			/* another extension's node: its inputs are its own business */
			return plan;
		case T_Sort:
		case T_Agg:
		case T_Hash:
			/* these read all their input before they return a row */
			plan->lefttree = batch_plan_walk(ctx, plan->lefttree, 0, false, false);
			break;
		default:
			plan->lefttree = batch_plan_walk(ctx, plan->lefttree, 0, ramp, false);
			plan->righttree = batch_plan_walk(ctx, plan->righttree, 0, ramp, false);
			break;
	}

	if (!no_split && splittable_node(plan))
	{
		foreach(lc, plan->targetlist)
		{
			if (contains_batch_call((Node *) lfirst_node(TargetEntry, lc)->expr, NULL))
			{
				split_here = true;
				break;
			}
		}
	}
	if (split_here)
		return make_batch_node(ctx, plan, bound, ramp);
	return plan;
}

/*
 * Walker collecting the sub-plan ids CteScan nodes read.
 */
static void
collect_cte_plans(Plan *plan, Bitmapset **ids)
{
	ListCell   *lc;

	if (plan == NULL)
		return;
	if (IsA(plan, CteScan))
		*ids = bms_add_member(*ids, ((CteScan *) plan)->ctePlanId);
	collect_cte_plans(plan->lefttree, ids);
	collect_cte_plans(plan->righttree, ids);
	switch (nodeTag(plan))
	{
		case T_Append:
			foreach(lc, ((Append *) plan)->appendplans)
				collect_cte_plans(lfirst(lc), ids);
			break;
		case T_MergeAppend:
			foreach(lc, ((MergeAppend *) plan)->mergeplans)
				collect_cte_plans(lfirst(lc), ids);
			break;
		case T_SubqueryScan:
			collect_cte_plans(((SubqueryScan *) plan)->subplan, ids);
			break;
		default:
			break;
	}
}

/*
 * planner_hook: plan as usual, then put LlmBatch nodes where target
 * lists compute llm calls.
 */
static PlannedStmt *
llm_planner(Query *parse, const char *query_string, int cursorOptions,
			ParamListInfo boundParams)
{
	PlannedStmt *stmt;
	BatchPlanCtx ctx;
	Bitmapset  *cte_ids = NULL;
	ListCell   *lc;
	int			i;

	if (prev_planner_hook)
		stmt = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	else
		stmt = standard_planner(parse, query_string, cursorOptions, boundParams);

	/* scrollable cursors run backwards: leave them row by row */
	if (cursorOptions & CURSOR_OPT_SCROLL)
		return stmt;

	memset(&ctx, 0, sizeof(ctx));
	ctx.next_node_id = max_node_id(stmt->planTree) + 1;
	foreach(lc, stmt->subplans)
		ctx.next_node_id = Max(ctx.next_node_id, max_node_id(lfirst(lc)) + 1);
	/* a cursor: ramp batches up from 1 row */
	stmt->planTree = batch_plan_walk(&ctx, stmt->planTree, 0,
									 (cursorOptions & CURSOR_OPT_FAST_PLAN) != 0, false);

	/* CTE plans (not sub-selects, which may stop after one row) */
	collect_cte_plans(stmt->planTree, &cte_ids);
	foreach(lc, stmt->subplans)
		collect_cte_plans(lfirst(lc), &cte_ids);
	i = 0;
	foreach(lc, stmt->subplans)
	{
		i++;
		if (lfirst(lc) != NULL && bms_is_member(i, cte_ids))
			lfirst(lc) = batch_plan_walk(&ctx, lfirst(lc), 0, true, false);
	}
	return stmt;
}

/*
 * Install the planner hook and register the node's methods (so that
 * plans can be copied to parallel workers). Called from _PG_init.
 */
void
llm_batch_init(void)
{
	RegisterCustomScanMethods(&llm_batch_plan_methods);
	llm_call_kind_init();
	prev_planner_hook = planner_hook;
	planner_hook = llm_planner;
}
