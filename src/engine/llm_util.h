/*
 * llm_util.h - small helpers shared by every engine file.
 *
 * The engine never calls PostgreSQL, never aborts and never exits: a
 * function that can fail returns a negative code (or NULL) and writes a
 * human-readable message into a caller-supplied buffer of LLM_ERRLEN bytes.
 */
#ifndef LLM_UTIL_H
#define LLM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLM_ERRLEN 256

/* Format a message into err (may be NULL) and return -1. */
int llm_err(char *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool
llm_mul_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

static inline bool
llm_add_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/* IEEE half <-> float, exact (no rounding surprises; NaN/Inf handled). */
float		llm_fp16_to_fp32(uint16_t h);
uint16_t	llm_fp32_to_fp16(float f);

/* bfloat16 <-> float (round to nearest even on the way down). */
static inline float
llm_bf16_to_fp32(uint16_t h)
{
	union { uint32_t u; float f; } v;

	v.u = (uint32_t) h << 16;
	return v.f;
}

uint16_t	llm_fp32_to_bf16(float f);

/*
 * A caller's interrupt check for long calls (model loads, embedding
 * batches). fn(arg) runs on the calling thread only, between units of
 * work, never inside a parallel region; nonzero asks the call to stop,
 * and it then frees what it made and fails with LLM_ABORT_MSG. fn must
 * return: a longjmp out of the engine would leak its memory.
 */
typedef struct llm_abort
{
	int			(*fn) (void *arg);
	void	   *arg;
} llm_abort;

#define LLM_ABORT_MSG "interrupted by the caller"

/* Whether a (may be NULL, or have no fn) asks to stop. */
static inline bool
llm_should_abort(const llm_abort *a)
{
	return a != NULL && a->fn != NULL && a->fn(a->arg) != 0;
}

/* Monotonic clock in seconds. */
double		llm_time_sec(void);

/*
 * Length of the longest prefix of buf[0..len) that ends on a UTF-8
 * character boundary (an incomplete trailing sequence is held back).
 */
size_t		llm_utf8_complete_prefix(const char *buf, size_t len);

#endif							/* LLM_UTIL_H */
