/*
 * json_match.c - the pushdown matcher over the compiled schema graph.
 *
 * A state is a set of at most LLM_JM_MAX_THREADS threads; a thread is an
 * explicit stack of frames, one per value being written (the object, the
 * array inside it, the string inside that...). A byte is fed to the top
 * frame of every thread, which either consumes it, refuses it, finishes
 * without it (a number or literal ended by the byte that follows: the
 * frame is popped and the byte goes to the parent), or asks for a child
 * value to start with it. A union node, when a value of it starts, forks
 * the thread once per branch; threads that refuse a byte die, identical
 * threads are merged. Depth is bounded by LLM_JM_MAX_DEPTH.
 */
#include "json_schema_int.h"

#include <string.h>

/* frame phases */
enum
{
	/* strings */
	S_OPEN = 0, S_BODY, S_UTF8, S_ESC, S_U, S_LOWBS, S_LOWU,
	/* numbers */
	N_START = 0, N_MINUS, N_INT, N_DOT, N_FRAC,
	/* arrays */
	A_OPEN = 0, A_FIRST, A_CHILD, A_AFTER, A_ITEM,
	/* objects */
	O_OPEN = 0, O_FIRST, O_KEY, O_COLON, O_VAL, O_CHILD, O_AFTER, O_NEXT, O_GKEY
};

/* frame flags */
#define F_NEG		1			/* number: minus sign */
#define F_ZERO		2			/* number: integer part is a lone 0 */
#define F_LOW		4			/* string: \u of a low surrogate expected */

/* results of one frame's step */
typedef enum
{
	R_REJECT,
	R_CONSUMED,
	R_CONSUMED_POP,				/* consumed, and the value is complete */
	R_POP_RETRY,				/* value complete before this byte */
	R_PUSH						/* start child *child with this byte */
} js_result;

static const int64_t js_pow10[19] = {
	INT64_C(1), INT64_C(10), INT64_C(100), INT64_C(1000), INT64_C(10000),
	INT64_C(100000), INT64_C(1000000), INT64_C(10000000), INT64_C(100000000),
	INT64_C(1000000000), INT64_C(10000000000), INT64_C(100000000000),
	INT64_C(1000000000000), INT64_C(10000000000000), INT64_C(100000000000000),
	INT64_C(1000000000000000), INT64_C(10000000000000000),
	INT64_C(100000000000000000), INT64_C(1000000000000000000)
};

/*
 * Follow REF nodes to a real node; -1 when the chain is a cycle.
 */
int32_t
js_resolve(const llm_json_schema *s, int32_t node)
{
	int			i;

	for (i = 0; i < 64 && node >= 0; i++)
	{
		if (s->nodes[node].kind != JS_REF)
			return node;
		node = s->nodes[node].items;
	}
	return -1;
}

/*
 * Magnitudes (in units) the number's sign allows: [*lo, *hi]; false when
 * none.
 */
static bool
js_mag_range(const js_node *n, bool neg, int64_t *lo, int64_t *hi)
{
	if (!neg)
	{
		*lo = n->min_u > 0 ? n->min_u : 0;
		*hi = n->max_u;
	}
	else
	{
		*lo = n->max_u < 0 ? -n->max_u : 0;
		*hi = -n->min_u;
	}
	return *lo <= *hi;
}

/*
 * true when [a, b] meets [lo, hi].
 */
static inline bool
js_meets(int64_t a, int64_t b, int64_t lo, int64_t hi)
{
	return a <= hi && b >= lo;
}

/*
 * Can the number written so far (frame f) still end inside the node's
 * bounds? Enumerates the magnitudes every completion can reach, exactly,
 * in units of 1 (integers) or 10^-6.
 */
static bool
js_num_feasible(const js_node *n, const llm_jm_frame *f)
{
	int64_t		lo, hi;
	int64_t		unit = n->integer ? 1 : JS_REAL_UNIT;
	int			maxd = n->integer ? JS_INT_DIGITS : JS_REAL_DIGITS;
	int64_t		v = (int64_t) f->w;
	int			k;

	if (!js_mag_range(n, (f->flags & F_NEG) != 0, &lo, &hi))
		return false;
	switch (f->phase)
	{
		case N_START:
		case N_MINUS:
			return js_meets(0, js_pow10[maxd] * unit - 1, lo, hi);
		case N_INT:
			if (f->flags & F_ZERO)
				return js_meets(0, unit - 1, lo, hi);
			for (k = 0; k + f->sub <= maxd; k++)
				if (js_meets(v * js_pow10[k] * unit, (v + 1) * js_pow10[k] * unit - 1, lo, hi))
					return true;
			return false;
		case N_DOT:
			return js_meets(v * unit, v * unit + unit - 1, lo, hi);
		case N_FRAC:
			{
				int64_t		sc = js_pow10[JS_FRAC_DIGITS - f->aux];

				return js_meets(v * sc, (v + 1) * sc - 1, lo, hi);
			}
	}
	return false;
}

/*
 * Does the number written so far end validly here?
 */
static bool
js_num_complete(const js_node *n, const llm_jm_frame *f)
{
	int64_t		lo, hi, v;

	if (f->phase != N_INT && f->phase != N_FRAC)
		return false;
	if (!js_mag_range(n, (f->flags & F_NEG) != 0, &lo, &hi))
		return false;
	if (f->phase == N_INT)
		v = (int64_t) f->w * (n->integer ? 1 : JS_REAL_UNIT);
	else
		v = (int64_t) f->w * js_pow10[JS_FRAC_DIGITS - f->aux];
	return v >= lo && v <= hi;
}

/*
 * One byte for a number frame.
 */
static js_result
js_step_number(const js_node *n, llm_jm_frame *f, uint8_t c)
{
	bool		digit = c >= '0' && c <= '9';
	int			maxd = n->integer ? JS_INT_DIGITS : JS_REAL_DIGITS;

	switch (f->phase)
	{
		case N_START:
			if (c == '-')
			{
				f->flags |= F_NEG;
				f->phase = N_MINUS;
				return js_num_feasible(n, f) ? R_CONSUMED : R_REJECT;
			}
			/* FALLTHROUGH */
		case N_MINUS:
			if (!digit)
				return R_REJECT;
			f->phase = N_INT;
			f->sub = 1;
			f->w = (uint64_t) (c - '0');
			if (c == '0')
				f->flags |= F_ZERO;
			return js_num_feasible(n, f) ? R_CONSUMED : R_REJECT;
		case N_INT:
			if (digit)
			{
				if ((f->flags & F_ZERO) || f->sub >= maxd)
					return R_REJECT;
				f->w = f->w * 10 + (uint64_t) (c - '0');
				f->sub++;
				return js_num_feasible(n, f) ? R_CONSUMED : R_REJECT;
			}
			if (c == '.' && !n->integer)
			{
				f->phase = N_DOT;
				f->aux = 0;
				return js_num_feasible(n, f) ? R_CONSUMED : R_REJECT;
			}
			return js_num_complete(n, f) ? R_POP_RETRY : R_REJECT;
		case N_DOT:
			if (!digit)
				return R_REJECT;
			f->phase = N_FRAC;
			f->aux = 1;
			f->w = f->w * 10 + (uint64_t) (c - '0');
			return js_num_feasible(n, f) ? R_CONSUMED : R_REJECT;
		case N_FRAC:
			if (digit)
			{
				if (f->aux >= JS_FRAC_DIGITS)
					return R_REJECT;
				f->w = f->w * 10 + (uint64_t) (c - '0');
				f->aux++;
				return js_num_feasible(n, f) ? R_CONSUMED : R_REJECT;
			}
			return js_num_complete(n, f) ? R_POP_RETRY : R_REJECT;
	}
	return R_REJECT;
}

/*
 * Value of a hex digit, or -1.
 */
static int
js_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * One byte for a string frame: escapes, UTF-8 well-formedness (no
 * overlong forms, no surrogates, nothing above U+10FFFF), the length in
 * characters.
 */
static js_result
js_step_string(const js_node *n, llm_jm_frame *f, uint8_t c)
{
	int			h;

	switch (f->phase)
	{
		case S_OPEN:
			if (c != '"')
				return R_REJECT;
			f->phase = S_BODY;
			return R_CONSUMED;
		case S_BODY:
			if (c == '"')
				return f->count >= n->min_n ? R_CONSUMED_POP : R_REJECT;
			if (c < 0x20 || f->count >= n->max_n)
				return R_REJECT;
			if (c == '\\')
			{
				f->phase = S_ESC;
				return R_CONSUMED;
			}
			if (c < 0x80)
			{
				f->count++;
				return R_CONSUMED;
			}
			/* sub: continuation bytes still due; aux: range of the next */
			if (c >= 0xC2 && c <= 0xDF)
				f->sub = 1, f->aux = 0;
			else if (c == 0xE0)
				f->sub = 2, f->aux = 1;
			else if (c == 0xED)
				f->sub = 2, f->aux = 2;
			else if (c >= 0xE1 && c <= 0xEF)
				f->sub = 2, f->aux = 0;
			else if (c == 0xF0)
				f->sub = 3, f->aux = 3;
			else if (c >= 0xF1 && c <= 0xF3)
				f->sub = 3, f->aux = 0;
			else if (c == 0xF4)
				f->sub = 3, f->aux = 4;
			else
				return R_REJECT;
			f->count++;
			f->phase = S_UTF8;
			return R_CONSUMED;
		case S_UTF8:
			{
				static const uint8_t lo[5] = {0x80, 0xA0, 0x80, 0x90, 0x80};
				static const uint8_t hi[5] = {0xBF, 0xBF, 0x9F, 0xBF, 0x8F};

				if (c < lo[f->aux] || c > hi[f->aux])
					return R_REJECT;
				f->aux = 0;
				if (--f->sub == 0)
					f->phase = S_BODY;
				return R_CONSUMED;
			}
		case S_ESC:
			if (c == 'u')
			{
				f->phase = S_U;
				f->aux = 0;
				f->w = 0;
				f->flags &= (uint8_t) ~F_LOW;
				return R_CONSUMED;
			}
			if (strchr("\"\\/bfnrt", c) == NULL || c == 0)
				return R_REJECT;
			f->count++;
			f->phase = S_BODY;
			return R_CONSUMED;
		case S_U:
			if ((h = js_hex(c)) < 0)
				return R_REJECT;
			f->w = f->w * 16 + (uint64_t) h;
			f->aux++;
			if (f->aux == 2)
			{
				uint64_t	hb = f->w;	/* high byte of the code unit */

				if (f->flags & F_LOW)
				{
					if (hb < 0xDC || hb > 0xDF)
						return R_REJECT;
				}
				else if (hb >= 0xDC && hb <= 0xDF)
					return R_REJECT;	/* lone low surrogate */
			}
			if (f->aux < 4)
				return R_CONSUMED;
			if (f->flags & F_LOW)
			{
				f->flags &= (uint8_t) ~F_LOW;
				f->count++;
				f->phase = S_BODY;
				return R_CONSUMED;
			}
			if (f->w >= 0xD800 && f->w <= 0xDBFF)
			{
				f->phase = S_LOWBS;
				return R_CONSUMED;
			}
			if (f->w == 0)
				return R_REJECT;	/* \u0000: PostgreSQL's jsonb refuses it */
			f->count++;
			f->phase = S_BODY;
			return R_CONSUMED;
		case S_LOWBS:
			if (c != '\\')
				return R_REJECT;
			f->phase = S_LOWU;
			return R_CONSUMED;
		case S_LOWU:
			if (c != 'u')
				return R_REJECT;
			f->phase = S_U;
			f->aux = 0;
			f->w = 0;
			f->flags |= F_LOW;
			return R_CONSUMED;
	}
	return R_REJECT;
}

/*
 * One byte for a literal set: keep the literals that continue with c.
 */
static js_result
js_step_litset(const llm_json_schema *s, const js_node *n, llm_jm_frame *f, uint8_t c)
{
	uint64_t	keep = 0;
	bool		complete = false;
	bool		longer = false;
	uint32_t	j;

	for (j = 0; j < n->n; j++)
	{
		const js_lit *l = &s->lits[n->first + j];

		if (!(f->w & (UINT64_C(1) << j)))
			continue;
		if (l->len == f->count)
			complete = true;
		else if ((uint8_t) l->bytes[f->count] == c)
			keep |= UINT64_C(1) << j;
	}
	if (keep == 0)
		return complete ? R_POP_RETRY : R_REJECT;
	f->w = keep;
	f->count++;
	complete = false;
	for (j = 0; j < n->n; j++)
		if (keep & (UINT64_C(1) << j))
		{
			if (s->lits[n->first + j].len == f->count)
				complete = true;
			else
				longer = true;
		}
	return complete && !longer ? R_CONSUMED_POP : R_CONSUMED;
}

/*
 * The properties a key may name next: from index 'from' up to and
 * including the first required one (order is the schema's).
 */
static uint64_t
js_candidates(const llm_json_schema *s, const js_node *n, uint32_t from)
{
	uint64_t	m = 0;
	uint32_t	j;

	for (j = from; j < n->n; j++)
	{
		const js_prop *p = &s->props[n->first + j];

		if (p->enabled)
			m |= UINT64_C(1) << j;
		if (p->required)
			break;
	}
	return m;
}

/*
 * true when no required property is left from index 'from'.
 */
static bool
js_can_close(const llm_json_schema *s, const js_node *n, uint32_t from)
{
	uint32_t	j;

	for (j = from; j < n->n; j++)
		if (s->props[n->first + j].required)
			return false;
	return true;
}

/*
 * One byte for an array frame.
 */
static js_result
js_step_array(const js_node *n, llm_jm_frame *f, uint8_t c, int32_t *child)
{
	switch (f->phase)
	{
		case A_OPEN:
			if (c != '[')
				return R_REJECT;
			f->phase = A_FIRST;
			return R_CONSUMED;
		case A_FIRST:
			if (c == ']')
				return n->min_n == 0 ? R_CONSUMED_POP : R_REJECT;
			if (n->max_n == 0)
				return R_REJECT;
			f->phase = A_CHILD;
			*child = n->items;
			return R_PUSH;
		case A_AFTER:
			if (c == ',' && f->count < n->max_n)
			{
				f->phase = A_ITEM;
				return R_CONSUMED;
			}
			if (c == ']' && f->count >= n->min_n)
				return R_CONSUMED_POP;
			return R_REJECT;
		case A_ITEM:
			f->phase = A_CHILD;
			*child = n->items;
			return R_PUSH;
	}
	return R_REJECT;
}

/*
 * One byte for an object frame, declared properties or (GOBJECT) any
 * keys.
 */
static js_result
js_step_object(const llm_json_schema *s, const js_node *n, llm_jm_frame *f,
			   uint8_t c, int32_t *child)
{
	bool		generic = n->kind == JS_GOBJECT;
	uint32_t	j;

	switch (f->phase)
	{
		case O_OPEN:
			if (c != '{')
				return R_REJECT;
			f->phase = O_FIRST;
			return R_CONSUMED;
		case O_FIRST:
			if (c == '}')
				return generic || js_can_close(s, n, f->aux) ? R_CONSUMED_POP : R_REJECT;
			/* FALLTHROUGH */
		case O_NEXT:
			if (c != '"')
				return R_REJECT;
			if (generic)
			{
				f->phase = O_GKEY;
				*child = s->free_string;
				return R_PUSH;
			}
			f->w = js_candidates(s, n, f->aux);
			if (f->w == 0)
				return R_REJECT;
			f->count = 1;		/* every key starts with its quote */
			f->phase = O_KEY;
			return R_CONSUMED;
		case O_KEY:
			{
				uint64_t	keep = 0;

				for (j = 0; j < n->n; j++)
				{
					const js_prop *p = &s->props[n->first + j];

					if ((f->w & (UINT64_C(1) << j)) && f->count < p->key_len &&
						(uint8_t) p->key[f->count] == c)
						keep |= UINT64_C(1) << j;
				}
				if (keep == 0)
					return R_REJECT;
				f->count++;
				f->w = keep;
				for (j = 0; j < n->n; j++)
					if ((keep & (UINT64_C(1) << j)) &&
						s->props[n->first + j].key_len == f->count)
					{
						f->sub = (uint8_t) j;
						f->phase = O_COLON;
						f->w = 0;
						f->count = 0;
					}
				return R_CONSUMED;
			}
		case O_COLON:
			if (c != ':')
				return R_REJECT;
			f->phase = O_VAL;
			return R_CONSUMED;
		case O_VAL:
			f->phase = O_CHILD;
			*child = generic ? n->items : s->props[n->first + f->sub].node;
			return R_PUSH;
		case O_AFTER:
			if (c == ',')
			{
				if (!generic && js_candidates(s, n, f->aux) == 0)
					return R_REJECT;
				f->phase = O_NEXT;
				return R_CONSUMED;
			}
			if (c == '}' && (generic || js_can_close(s, n, f->aux)))
				return R_CONSUMED_POP;
			return R_REJECT;
	}
	return R_REJECT;
}

/*
 * The parent of a finished child moves on.
 */
static void
js_child_done(const llm_json_schema *s, llm_jm_frame *f)
{
	const js_node *n = &s->nodes[f->node];

	if (n->kind == JS_ARRAY)
	{
		f->count++;
		f->phase = A_AFTER;
	}
	else if (f->phase == O_GKEY)
		f->phase = O_COLON;
	else
	{
		if (n->kind == JS_OBJECT)
			f->aux = (uint8_t) (f->sub + 1);
		f->phase = O_AFTER;
	}
}

/*
 * A fresh frame for (non-union, resolved) node.
 */
static void
js_frame_init(const llm_json_schema *s, llm_jm_frame *f, int32_t node)
{
	const js_node *n = &s->nodes[node];

	memset(f, 0, sizeof(*f));
	f->node = (uint16_t) node;
	if (n->kind == JS_LITSET)
		f->w = n->n >= 64 ? UINT64_MAX : (UINT64_C(1) << n->n) - 1;
}

/*
 * Add a thread (stack stk of depth frames) to out unless out already
 * holds the same one or is full.
 */
static void
js_emit(llm_jm_state *out, const llm_jm_frame *stk, int depth)
{
	int			t;

	for (t = 0; t < out->n_threads; t++)
		if (out->depth[t] == depth &&
			memcmp(out->f[t], stk, (size_t) depth * sizeof(llm_jm_frame)) == 0)
			return;
	if (out->n_threads >= LLM_JM_MAX_THREADS)
		return;
	t = out->n_threads++;
	out->depth[t] = (uint8_t) depth;
	memcpy(out->f[t], stk, (size_t) depth * sizeof(llm_jm_frame));
}

/*
 * Run byte c (or, c < 0, nothing) through one thread, first pushing
 * node 'push' when >= 0; every surviving thread is emitted into out.
 * stk is the thread's stack, modified.
 */
static void
js_run(const llm_json_schema *s, llm_jm_state *out, llm_jm_frame *stk, int depth,
	   int c, int32_t push)
{
	for (;;)
	{
		js_result	r;
		int32_t		child = -1;
		llm_jm_frame *f;
		const js_node *n;

		if (push >= 0)
		{
			int32_t		node = js_resolve(s, push);

			push = -1;
			if (node < 0 || depth >= LLM_JM_MAX_DEPTH)
				return;
			if (s->nodes[node].kind == JS_UNION)
			{
				const js_node *u = &s->nodes[node];
				uint32_t	a;

				for (a = 0; a < u->n; a++)
				{
					llm_jm_frame copy[LLM_JM_MAX_DEPTH];

					memcpy(copy, stk, (size_t) depth * sizeof(llm_jm_frame));
					js_run(s, out, copy, depth, c, s->alts[u->first + a]);
				}
				return;
			}
			js_frame_init(s, &stk[depth], node);
			depth++;
		}
		if (c < 0)
		{
			js_emit(out, stk, depth);
			return;
		}
		if (depth == 0)
			return;				/* the value is complete: nothing may follow */
		f = &stk[depth - 1];
		n = &s->nodes[f->node];
		switch (n->kind)
		{
			case JS_LITSET:
				r = js_step_litset(s, n, f, (uint8_t) c);
				break;
			case JS_STRING:
				r = js_step_string(n, f, (uint8_t) c);
				break;
			case JS_NUMBER:
				r = js_step_number(n, f, (uint8_t) c);
				break;
			case JS_ARRAY:
				r = js_step_array(n, f, (uint8_t) c, &child);
				break;
			case JS_OBJECT:
			case JS_GOBJECT:
				r = js_step_object(s, n, f, (uint8_t) c, &child);
				break;
			default:
				r = R_REJECT;
				break;
		}
		switch (r)
		{
			case R_REJECT:
				return;
			case R_CONSUMED:
				js_emit(out, stk, depth);
				return;
			case R_CONSUMED_POP:
				depth--;
				if (depth > 0)
					js_child_done(s, &stk[depth - 1]);
				js_emit(out, stk, depth);
				return;
			case R_POP_RETRY:
				depth--;
				if (depth == 0)
					return;
				js_child_done(s, &stk[depth - 1]);
				continue;
			case R_PUSH:
				push = child;
				continue;
		}
		return;
	}
}

/*
 * The start state: the root value not begun (unions already forked).
 */
void
llm_jm_init(const llm_json_schema *s, llm_jm_state *st)
{
	st->started = 0;
	st->n_threads = 1;
	st->depth[0] = 0;
}

/*
 * Feed one byte. See json_schema.h.
 */
bool
llm_jm_feed(const llm_json_schema *s, const llm_jm_state *in, uint8_t c,
			llm_jm_state *out)
{
	int			t;

	out->n_threads = 0;
	out->started = 1;
	if (!in->started)
	{
		llm_jm_frame stk[LLM_JM_MAX_DEPTH];

		js_run(s, out, stk, 0, c, s->root);
		return out->n_threads > 0;
	}
	for (t = 0; t < in->n_threads; t++)
	{
		llm_jm_frame stk[LLM_JM_MAX_DEPTH];

		memcpy(stk, in->f[t], (size_t) in->depth[t] * sizeof(llm_jm_frame));
		js_run(s, out, stk, in->depth[t], c, -1);
	}
	return out->n_threads > 0;
}

/*
 * Feed n bytes in place.
 */
bool
llm_jm_feed_bytes(const llm_json_schema *s, llm_jm_state *st, const char *bytes,
				  size_t n)
{
	llm_jm_state tmp;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		if (!llm_jm_feed(s, st, (uint8_t) bytes[i], &tmp))
		{
			st->n_threads = 0;
			return false;
		}
		st->started = 1;
		st->n_threads = tmp.n_threads;
		memcpy(st->depth, tmp.depth, sizeof(st->depth));
		for (int t = 0; t < tmp.n_threads; t++)
			memcpy(st->f[t], tmp.f[t], (size_t) tmp.depth[t] * sizeof(llm_jm_frame));
	}
	return true;
}

/*
 * Complete: some thread has finished its value, or holds only a number
 * or literal that may end here.
 */
bool
llm_jm_complete(const llm_json_schema *s, const llm_jm_state *st)
{
	int			t;

	if (!st->started)
		return false;
	for (t = 0; t < st->n_threads; t++)
	{
		const llm_jm_frame *f;
		const js_node *n;

		if (st->depth[t] == 0)
			return true;
		if (st->depth[t] != 1)
			continue;
		f = &st->f[t][0];
		n = &s->nodes[f->node];
		if (n->kind == JS_NUMBER && js_num_complete(n, f))
			return true;
		if (n->kind == JS_LITSET)
		{
			uint32_t	j;

			for (j = 0; j < n->n; j++)
				if ((f->w & (UINT64_C(1) << j)) && s->lits[n->first + j].len == f->count)
					return true;
		}
	}
	return false;
}

/*
 * Room left in a string body. See json_schema.h.
 */
int64_t
llm_jm_string_room(const llm_json_schema *s, const llm_jm_state *st)
{
	const llm_jm_frame *f;
	const js_node *n;

	if (!st->started || st->n_threads != 1 || st->depth[0] == 0)
		return -1;
	f = &st->f[0][st->depth[0] - 1];
	n = &s->nodes[f->node];
	if (n->kind != JS_STRING || f->phase != S_BODY)
		return -1;
	return (int64_t) n->max_n - (int64_t) f->count;
}
