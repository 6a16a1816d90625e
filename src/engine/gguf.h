/*
 * gguf.h - a validating, mmap-based reader for GGUF v2/v3 files.
 *
 * Every number read from the file is checked before it is used (see
 * gguf.c); a file that passes gguf_open() has: unique keys, well-typed
 * values, strings and arrays inside the file, unique tensor names,
 * 1..4 dims each >= 0 (unused dims are 1), element and byte counts that do
 * not overflow, a first dim divisible by the type's block size, and data
 * ranges that are aligned, inside the file and do not overlap.
 *
 * Nothing here knows about model architectures: shape checks against the
 * architecture are done by the model loader.
 */
#ifndef LLM_GGUF_H
#define LLM_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm_types.h"

/* limits applied while parsing (a real model is far below them) */
#define GGUF_MAX_STRING		(1u << 24)	/* 16 MiB per string */
#define GGUF_MAX_ALIGNMENT	(1u << 16)	/* general.alignment cap */
#define GGUF_MAX_DIMS		4

typedef enum gguf_vtype
{
	GGUF_UINT8 = 0,
	GGUF_INT8 = 1,
	GGUF_UINT16 = 2,
	GGUF_INT16 = 3,
	GGUF_UINT32 = 4,
	GGUF_INT32 = 5,
	GGUF_FLOAT32 = 6,
	GGUF_BOOL = 7,
	GGUF_STRING = 8,
	GGUF_ARRAY = 9,
	GGUF_UINT64 = 10,
	GGUF_INT64 = 11,
	GGUF_FLOAT64 = 12,
	GGUF_VTYPE_COUNT
} gguf_vtype;

/* A string inside the mapping: not NUL-terminated. */
typedef struct gguf_str
{
	uint64_t	len;
	const char *ptr;
} gguf_str;

/* A key/value pair of the metadata. */
typedef struct gguf_kv
{
	char	   *key;			/* NUL-terminated copy */
	gguf_vtype	type;
	union
	{
		uint64_t	u64;		/* UINT8..UINT64 and BOOL, zero-extended */
		int64_t		i64;		/* INT8..INT64, sign-extended */
		double		f64;		/* FLOAT32 and FLOAT64 */
		gguf_str	str;
		struct
		{
			gguf_vtype	type;	/* element type, never ARRAY */
			uint64_t	n;
			const void *data;	/* n packed elements (unaligned) */
			gguf_str   *strs;	/* for STRING arrays: n entries */
		}			arr;
	}			v;
} gguf_kv;

typedef struct gguf_tensor
{
	char	   *name;			/* NUL-terminated copy */
	uint32_t	n_dims;
	int64_t		ne[GGUF_MAX_DIMS];	/* ne[0] is the row length; unused = 1 */
	llm_type	type;
	uint64_t	offset;			/* from the start of the data section */
	uint64_t	nbytes;
	uint64_t	nelements;
	const void *data;			/* inside the mapping */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/*
 * Open and validate a GGUF file (mmap, read-only). On failure return -1
 * with a message naming the problem in err (LLM_ERRLEN bytes).
 */
int			gguf_open(gguf_file **out, const char *path, char *err);

/* Parse a GGUF image held in memory (not copied; must outlive the result). */
int			gguf_open_memory(gguf_file **out, const void *data, size_t size,
							 char *err);

void		gguf_close(gguf_file *f);

uint32_t	gguf_version(const gguf_file *f);
uint32_t	gguf_alignment(const gguf_file *f);
size_t		gguf_file_size(const gguf_file *f);

/*
 * Hint that the n bytes at p (inside f's tensor data) will not be read
 * again for a while: the whole pages among them leave the process's
 * resident memory (a later read maps them in again from the file). Does
 * nothing for an image opened with gguf_open_memory().
 */
void		gguf_release(const gguf_file *f, const void *p, size_t n);

/* metadata */
uint64_t	gguf_n_kv(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i);
const gguf_kv *gguf_find(const gguf_file *f, const char *key);

/*
 * Typed getters. Return 1 when found and converted, 0 when the key is
 * missing (out untouched), -1 with err set when the key has a type that
 * cannot be converted or a value out of range for the target.
 * gguf_get_u32 accepts any integer type whose value fits; gguf_get_f32
 * accepts FLOAT32/FLOAT64 (and integers); gguf_get_str returns a malloc'd
 * NUL-terminated copy (rejecting embedded NULs).
 */
int			gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char *err);
int			gguf_get_f32(const gguf_file *f, const char *key, float *out, char *err);
int			gguf_get_bool(const gguf_file *f, const char *key, bool *out, char *err);
int			gguf_get_str(const gguf_file *f, const char *key, char **out, char *err);

/*
 * Array getter: 1 found with element type etype, 0 missing, -1 not an
 * array or wrong element type (err set).
 */
int			gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype etype,
						 const gguf_kv **out, char *err);

/* Read element i of a numeric array (unaligned-safe). */
int32_t		gguf_arr_i32(const gguf_kv *kv, uint64_t i);
float		gguf_arr_f32(const gguf_kv *kv, uint64_t i);

/* tensors */
uint64_t	gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

const char *gguf_vtype_name(gguf_vtype t);

#endif							/* LLM_GGUF_H */
