/*
 * prefix_cache.h - internal part of the prefix cache (the public part is
 * in llm_engine.h): used by gen.c.
 */
#ifndef LLM_PREFIX_CACHE_H
#define LLM_PREFIX_CACHE_H

#include <stdbool.h>

#include "llm_engine.h"

/* common prefix length of the cached tokens and tok[0..n) */
int32_t		llm_prefix_cache_match(const llm_prefix_cache *c, const int32_t *tok, int32_t n);
/* whether the cache holds exactly tok[0..n) (cut to its size) */
bool		llm_prefix_cache_holds(const llm_prefix_cache *c, const int32_t *tok, int32_t n);
/* copy the first n cached positions into the empty sequence dst */
int			llm_prefix_cache_load(const llm_prefix_cache *c, llm_seq *dst, int32_t n, char *err);
/* replace the cache with the first n positions of src (tokens tok) */
int			llm_prefix_cache_store(llm_prefix_cache *c, const llm_seq *src, const int32_t *tok,
								   int32_t n, char *err);

#endif							/* LLM_PREFIX_CACHE_H */
