/*
 * sample.h - choosing the next token from logits.
 *
 * Order of the steps (as in llama.cpp's default chain): repetition
 * penalty, top-k, top-p, min-p, temperature, then a draw from the
 * softmax with the sampler's own RNG. temperature <= 0 means greedy
 * (argmax of the penalised logits; ties go to the lowest id).
 */
#ifndef LLM_SAMPLE_H
#define LLM_SAMPLE_H

#include <stdint.h>

typedef struct llm_sampling_params
{
	float		temperature;	/* 0 = greedy */
	int32_t		top_k;			/* <= 0: off */
	float		top_p;			/* 1.0: off */
	float		min_p;			/* 0.0: off */
	float		repeat_penalty; /* 1.0: off */
	int32_t		repeat_last_n;	/* how many recent tokens the penalty sees */
	uint64_t	seed;			/* same seed, same output */
} llm_sampling_params;

/* Defaults: greedy, top_k 40, top_p 0.95, min_p 0.05, no penalty, n 64, seed 0. */
void		llm_sampling_defaults(llm_sampling_params *p);

/* -1 with err when a parameter is out of range (e.g. top_p not in (0,1]). */
int			llm_sampling_validate(const llm_sampling_params *p, char *err);

typedef struct llm_sampler llm_sampler;

/* NULL on allocation failure. */
llm_sampler *llm_sampler_new(const llm_sampling_params *p, int32_t n_vocab);
void		llm_sampler_free(llm_sampler *s);

/* Pick a token; logits has n_vocab entries and is not modified. */
int32_t		llm_sampler_sample(llm_sampler *s, const float *logits);

/* Record a token (prompt or generated) for the repetition penalty. */
void		llm_sampler_accept(llm_sampler *s, int32_t tok);

#endif							/* LLM_SAMPLE_H */
