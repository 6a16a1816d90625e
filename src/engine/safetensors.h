/*
 * safetensors.h - a validating, mmap-based reader for .safetensors files.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header,
 * then the data area. The header maps tensor names to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
 * the data area); the optional "__metadata__" object maps strings to
 * strings.
 *
 * Validation (a file that opens has all of these):
 *  - N <= LLM_ST_MAX_HEADER (100 MB) and 8 + N <= file size;
 *  - the header is strict JSON (json.h), an object, without duplicate keys;
 *  - dtype is one of the format's (F32, F16, BF16, F64, I64, U64, I32,
 *    U32, I16, U16, I8, U8, BOOL, F8_E5M2, F8_E4M3); anything else is
 *    rejected by name. Only F32/F16/BF16 tensors can be computed with:
 *    the others get type LLM_TYPE_COUNT and a loader must refuse them;
 *  - shape is an array of at most LLM_ST_MAX_DIMS non-negative integers,
 *    the element count and the byte count do not overflow;
 *  - begin <= end, end - begin == elements * dtype size;
 *  - the same policy as the reference safetensors library: sorted by
 *    offset, tensors must tile the data area exactly - no overlap, no
 *    hole between tensors, the first starts at 0 and the last ends at the
 *    end of the file.
 */
#ifndef LLM_SAFETENSORS_H
#define LLM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "llm_types.h"

#define LLM_ST_MAX_HEADER	((uint64_t) 100 * 1000 * 1000)
#define LLM_ST_MAX_DIMS		8

typedef struct llm_st_tensor
{
	char	   *name;			/* NUL-terminated */
	llm_type	type;			/* LLM_TYPE_F32, LLM_TYPE_F16, LLM_TYPE_BF16,
								 * or LLM_TYPE_COUNT for other dtypes */
	char		dtype[8];		/* the dtype name from the header */
	int			n_dims;
	int64_t		shape[LLM_ST_MAX_DIMS];	/* row-major: shape[n_dims-1] is
										 * the row length */
	uint64_t	nelements;
	uint64_t	nbytes;
	const void *data;			/* inside the mapping / memory image */
} llm_st_tensor;

typedef struct llm_st_file llm_st_file;

/* Open and validate a file (mmap, read-only); -1 with err on failure. */
int			llm_st_open(llm_st_file **out, const char *path, char *err);

/* Validate an image held in memory (not copied; must outlive the result). */
int			llm_st_open_memory(llm_st_file **out, const void *data, size_t size,
							   char *err);

void		llm_st_close(llm_st_file *f);

int			llm_st_n_tensors(const llm_st_file *f);
const llm_st_tensor *llm_st_tensor_at(const llm_st_file *f, int i);

/* Tensor by exact name, NULL if absent. */
const llm_st_tensor *llm_st_find(const llm_st_file *f, const char *name);

#endif							/* LLM_SAFETENSORS_H */
