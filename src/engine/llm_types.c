/*
 * llm_types.c - block sizes and names of the tensor types.
 */
#include "llm_types.h"

#include "llm_util.h"

static const llm_type_traits llm_traits[LLM_TYPE_COUNT] = {
	[LLM_TYPE_F32] = {"f32", 1, 4, true},
	[LLM_TYPE_F16] = {"f16", 1, 2, true},
	[LLM_TYPE_Q4_0] = {"q4_0", 32, 18, true},
	[LLM_TYPE_Q4_1] = {"q4_1", 32, 20, true},
	[LLM_TYPE_Q5_0] = {"q5_0", 32, 22, true},
	[LLM_TYPE_Q5_1] = {"q5_1", 32, 24, true},
	[LLM_TYPE_Q8_0] = {"q8_0", 32, 34, true},
	[LLM_TYPE_Q8_1] = {"q8_1", 32, 36, false},
	[LLM_TYPE_Q2_K] = {"q2_k", 256, 84, false},
	[LLM_TYPE_Q3_K] = {"q3_k", 256, 110, false},
	[LLM_TYPE_Q4_K] = {"q4_k", 256, 144, true},
	[LLM_TYPE_Q5_K] = {"q5_k", 256, 176, true},
	[LLM_TYPE_Q6_K] = {"q6_k", 256, 210, true},
	[LLM_TYPE_Q8_K] = {"q8_k", 256, 292, false},
	[LLM_TYPE_I8] = {"i8", 1, 1, false},
	[LLM_TYPE_I16] = {"i16", 1, 2, false},
	[LLM_TYPE_I32] = {"i32", 1, 4, false},
	[LLM_TYPE_I64] = {"i64", 1, 8, false},
	[LLM_TYPE_F64] = {"f64", 1, 8, false},
	[LLM_TYPE_BF16] = {"bf16", 1, 2, true},
};

/*
 * Traits of type number t, or NULL when t names no type we know.
 */
const llm_type_traits *
llm_type_get(uint32_t t)
{
	if (t >= LLM_TYPE_COUNT || llm_traits[t].name == NULL)
		return NULL;
	return &llm_traits[t];
}

/*
 * Printable name of type number t.
 */
const char *
llm_type_name(uint32_t t)
{
	const llm_type_traits *tr = llm_type_get(t);

	return tr ? tr->name : "unknown";
}

/*
 * Bytes taken by n elements of type t laid out as one row; 0 when that is
 * not a valid row.
 */
size_t
llm_row_size(llm_type t, int64_t n)
{
	const llm_type_traits *tr = llm_type_get((uint32_t) t);
	size_t		bytes;

	if (tr == NULL || n < 0 || n % tr->block_size != 0)
		return 0;
	if (!llm_mul_size((size_t) n / tr->block_size, tr->type_size, &bytes))
		return 0;
	return bytes;
}
