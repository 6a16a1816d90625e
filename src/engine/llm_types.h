/*
 * llm_types.h - tensor element types, numbered as in the GGUF format.
 *
 * Quantized types store weights in blocks: block_size elements packed into
 * type_size bytes. A row of n elements takes n / block_size * type_size
 * bytes and n must be a multiple of block_size.
 */
#ifndef LLM_TYPES_H
#define LLM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum llm_type
{
	LLM_TYPE_F32 = 0,
	LLM_TYPE_F16 = 1,
	LLM_TYPE_Q4_0 = 2,
	LLM_TYPE_Q4_1 = 3,
	LLM_TYPE_Q5_0 = 6,
	LLM_TYPE_Q5_1 = 7,
	LLM_TYPE_Q8_0 = 8,
	LLM_TYPE_Q8_1 = 9,
	LLM_TYPE_Q2_K = 10,
	LLM_TYPE_Q3_K = 11,
	LLM_TYPE_Q4_K = 12,
	LLM_TYPE_Q5_K = 13,
	LLM_TYPE_Q6_K = 14,
	LLM_TYPE_Q8_K = 15,
	LLM_TYPE_I8 = 24,
	LLM_TYPE_I16 = 25,
	LLM_TYPE_I32 = 26,
	LLM_TYPE_I64 = 27,
	LLM_TYPE_F64 = 28,
	LLM_TYPE_BF16 = 30,
	LLM_TYPE_COUNT = 40			/* upper bound of the numbering, not a type */
} llm_type;

typedef struct llm_type_traits
{
	const char *name;			/* "q4_1"; NULL when the number is not a type */
	uint32_t	block_size;		/* elements per block */
	uint32_t	type_size;		/* bytes per block */
	bool		is_weight;		/* we can load and multiply tensors of this type */
} llm_type_traits;

/* Traits of a type number read from a file; NULL for unknown numbers. */
const llm_type_traits *llm_type_get(uint32_t type);

/* Name of a type, "unknown" if it is not one. */
const char *llm_type_name(uint32_t type);

/*
 * Bytes in a row of n elements of type t; 0 if t is unknown, n is not a
 * multiple of the block size, or the size overflows.
 */
size_t		llm_row_size(llm_type t, int64_t n);

#endif							/* LLM_TYPES_H */
