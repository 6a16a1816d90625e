/*
 * test_gguf.c - tests of the validating GGUF reader.
 *
 *  - the real default model (skipped when absent): counts, known values,
 *    tensor shapes and types;
 *  - a small valid image built in memory by a tiny GGUF writer: getters
 *    and tensor lookup;
 *  - malformed variants of that image, each rejected with a message that
 *    names the problem;
 *  - every proper prefix of the valid image rejected (truncation sweep);
 *  - a random byte-mutation loop that must never crash;
 *  - the files of $LLM_FIXTURE_DIR (default build/fixtures) listed in
 *    cases.tsv, when that directory exists.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "llm_util.h"
#include "tap.h"

/*
 * The checks this program runs (tap_plan): 18 on the real model, and on
 * the fixtures one per valid tiny model (12), one per line of cases.tsv
 * (FIXTURE_CASES, written by test/fixtures/make_fixtures.py) and one on
 * that count; each run or skipped.
 */
#define REAL_MODEL_CHECKS 18
#define FIXTURE_CASES 34
#define FIXTURE_CHECKS (12 + FIXTURE_CASES + 1)
#define TOTAL_CHECKS 133

/* ------------------------------------------------------------- writer */

typedef struct wbuf
{
	uint8_t    *b;
	size_t		n;
	size_t		cap;
} wbuf;

/*
 * Append n bytes to w (exits the test on allocation failure).
 */
static void
wb_bytes(wbuf *w, const void *p, size_t n)
{
	if (w->n + n > w->cap)
	{
		size_t		c = w->cap ? w->cap : 256;

		while (c < w->n + n)
			c *= 2;
		w->b = realloc(w->b, c);
		if (w->b == NULL)
		{
			printf("Bail out! out of memory\n");
			exit(1);
		}
		w->cap = c;
	}
	if (n > 0)
		memcpy(w->b + w->n, p, n);
	w->n += n;
}

/*
 * Append a little-endian integer of nb bytes.
 */
static void
wb_le(wbuf *w, uint64_t v, int nb)
{
	uint8_t		tmp[8];
	int			i;

	for (i = 0; i < nb; i++)
		tmp[i] = (uint8_t) (v >> (8 * i));
	wb_bytes(w, tmp, (size_t) nb);
}

/*
 * Append a GGUF string (u64 length + bytes).
 */
static void
wb_str(wbuf *w, const char *s)
{
	wb_le(w, strlen(s), 8);
	wb_bytes(w, s, strlen(s));
}

/*
 * Append a key and value type.
 */
static void
wb_key(wbuf *w, const char *key, uint32_t type)
{
	wb_str(w, key);
	wb_le(w, type, 4);
}

/*
 * Append a float as its IEEE bits.
 */
static void
wb_f32(wbuf *w, float f)
{
	uint32_t	u;

	memcpy(&u, &f, 4);
	wb_le(w, u, 4);
}

/* Which malformation build_image() applies (V_OK: none). */
enum variant
{
	V_OK, V_BAD_MAGIC, V_VERSION1, V_VERSION9, V_BIG_ENDIAN, V_HUGE_NKV,
	V_HUGE_NTENSORS, V_HUGE_STRLEN, V_STR_PAST_END, V_BAD_VTYPE, V_NESTED,
	V_BAD_ELEMTYPE, V_HUGE_ARRAY, V_HUGE_STR_ARRAY, V_DUP_KEY, V_EMPTY_KEY,
	V_NUL_KEY, V_ALIGN0, V_ALIGN3, V_ALIGN_HUGE, V_ALIGN_TYPE, V_NDIMS0,
	V_NDIMS5, V_NEG_DIM, V_DIMS_OVERFLOW, V_BYTES_OVERFLOW, V_BAD_TYPE,
	V_OFFSET_OUT, V_MISALIGNED, V_OVERLAP, V_DUP_TENSOR, V_BLOCK,
	V_LONG_NAME, V_NUL_NAME, V_DATA_SHORT, V_ALIGN16, V_VERSION2,
	V_COUNT
};

/* expected substring of the error message for each malformed variant */
static const char *const variant_msg[V_COUNT] = {
	[V_BAD_MAGIC] = "bad magic",
	[V_VERSION1] = "version 1",
	[V_VERSION9] = "unsupported GGUF version 9",
	[V_BIG_ENDIAN] = "big-endian",
	[V_HUGE_NKV] = "n_kv",
	[V_HUGE_NTENSORS] = "n_tensors",
	[V_HUGE_STRLEN] = "string length",
	[V_STR_PAST_END] = "runs past the end",
	[V_BAD_VTYPE] = "invalid value type 13",
	[V_NESTED] = "nested arrays",
	[V_BAD_ELEMTYPE] = "invalid array element type",
	[V_HUGE_ARRAY] = "test.arr_i32: array of",
	[V_HUGE_STR_ARRAY] = "test.arr_str: array of",
	[V_DUP_KEY] = "duplicate key test.u32",
	[V_EMPTY_KEY] = "empty key",
	[V_NUL_KEY] = "NUL byte",
	[V_ALIGN0] = "general.alignment 0 is not a power of two",
	[V_ALIGN3] = "general.alignment 3 is not a power of two",
	[V_ALIGN_HUGE] = "general.alignment 2147483648 is larger",
	[V_ALIGN_TYPE] = "general.alignment has type INT32",
	[V_NDIMS0] = "tensor b: n_dims 0",
	[V_NDIMS5] = "tensor b: n_dims 5",
	[V_NEG_DIM] = "tensor b: negative dimension",
	[V_DIMS_OVERFLOW] = "tensor b: element count overflows",
	[V_BYTES_OVERFLOW] = "tensor b: byte size overflows",
	[V_BAD_TYPE] = "tensor b: unknown tensor type 99",
	[V_OFFSET_OUT] = "tensor c: data",
	[V_MISALIGNED] = "tensor c: offset 136 is not a multiple",
	[V_OVERLAP] = "overlapping",
	[V_DUP_TENSOR] = "duplicate tensor name a",
	[V_BLOCK] = "tensor b: first dimension 40 is not a multiple of the block size 32",
	[V_LONG_NAME] = "tensor name: string length 300",
	[V_NUL_NAME] = "tensor name",
	[V_DATA_SHORT] = "outside the file",
};

/*
 * Build a small GGUF image: 11 metadata pairs and 3 tensors
 *   a  f32  [4, 2]   offset 0    (32 bytes)
 *   b  q8_0 [32, 2]  offset 32   (68 bytes)
 *   c  f16  [8]      offset 128  (16 bytes, ends the file)
 * with the malformation v applied.
 */
static void
build_image(wbuf *w, enum variant v)
{
	uint64_t	n_kv = 11;
	uint64_t	n_t = 3;
	uint32_t	align = v == V_ALIGN16 ? 16 : 32;
	size_t		i;
	uint64_t	c_off = 128;

	w->n = 0;
	wb_le(w, v == V_BAD_MAGIC ? 0x46554746u : 0x46554747u, 4);
	wb_le(w, v == V_VERSION1 ? 1 : v == V_VERSION9 ? 9 :
		  v == V_BIG_ENDIAN ? 0x03000000u : v == V_VERSION2 ? 2 : 3, 4);
	wb_le(w, v == V_HUGE_NTENSORS ? (1ull << 60) : n_t, 8);
	wb_le(w, v == V_HUGE_NKV ? UINT64_MAX / 2 : n_kv, 8);

	/* 1 */
	if (v == V_HUGE_STRLEN)
	{
		wb_le(w, 1ull << 40, 8);
		wb_bytes(w, "general.architecture", 20);
	}
	else if (v == V_STR_PAST_END)
	{
		wb_le(w, 60000, 8);
		wb_bytes(w, "general.architecture", 20);
	}
	else if (v == V_EMPTY_KEY)
		wb_str(w, "");
	else if (v == V_NUL_KEY)
	{
		wb_le(w, 6, 8);
		wb_bytes(w, "gen\0al", 6);
	}
	else
		wb_str(w, "general.architecture");
	wb_le(w, v == V_BAD_VTYPE ? 13 : GGUF_STRING, 4);
	wb_str(w, "llama");
	/* 2 */
	if (v == V_ALIGN_TYPE)
	{
		wb_key(w, "general.alignment", GGUF_INT32);
		wb_le(w, 32, 4);
	}
	else
	{
		wb_key(w, "general.alignment", GGUF_UINT32);
		wb_le(w, v == V_ALIGN0 ? 0 : v == V_ALIGN3 ? 3 :
			  v == V_ALIGN_HUGE ? 0x80000000u : align, 4);
	}
	/* 3 */
	wb_key(w, "test.u32", GGUF_UINT32);
	wb_le(w, 7, 4);
	/* 4 */
	wb_key(w, v == V_DUP_KEY ? "test.u32" : "test.i32", GGUF_INT32);
	wb_le(w, (uint32_t) -3, 4);
	/* 5 */
	wb_key(w, "test.f32", GGUF_FLOAT32);
	wb_f32(w, 1.5f);
	/* 6 */
	wb_key(w, "test.bool", GGUF_BOOL);
	wb_le(w, 1, 1);
	/* 7 */
	wb_key(w, "test.u64", GGUF_UINT64);
	wb_le(w, 1ull << 40, 8);
	/* 8 */
	wb_key(w, "test.i8", GGUF_INT8);
	wb_le(w, 0xfe, 1);
	/* 9 */
	wb_key(w, "test.arr_i32", GGUF_ARRAY);
	if (v == V_NESTED)
	{
		wb_le(w, GGUF_ARRAY, 4);
		wb_le(w, 1, 8);
	}
	else
	{
		wb_le(w, v == V_BAD_ELEMTYPE ? 77 : GGUF_INT32, 4);
		wb_le(w, v == V_HUGE_ARRAY ? (1ull << 62) + 1 : 3, 8);
		for (i = 1; i <= 3; i++)
			wb_le(w, (uint32_t) (i * 10), 4);
	}
	/* 10 */
	wb_key(w, "test.arr_str", GGUF_ARRAY);
	wb_le(w, GGUF_STRING, 4);
	wb_le(w, v == V_HUGE_STR_ARRAY ? (1ull << 61) : 3, 8);
	wb_str(w, "a");
	wb_str(w, "bc");
	wb_str(w, "");
	/* 11 */
	wb_key(w, "test.f64", GGUF_FLOAT64);
	{
		double		d = -2.25;
		uint64_t	u;

		memcpy(&u, &d, 8);
		wb_le(w, u, 8);
	}

	/* tensor infos */
	wb_str(w, "a");
	wb_le(w, 2, 4);
	wb_le(w, 4, 8);
	wb_le(w, 2, 8);
	wb_le(w, LLM_TYPE_F32, 4);
	wb_le(w, 0, 8);

	if (v == V_LONG_NAME)
	{
		char		name[301];

		memset(name, 'x', 300);
		name[300] = '\0';
		wb_str(w, name);
	}
	else if (v == V_NUL_NAME)
	{
		wb_le(w, 2, 8);
		wb_bytes(w, "b\0", 2);
	}
	else
		wb_str(w, v == V_DUP_TENSOR ? "a" : "b");
	wb_le(w, v == V_NDIMS0 ? 0 : v == V_NDIMS5 ? 5 : 2, 4);
	if (v == V_NDIMS5)
		for (i = 0; i < 3; i++)
			wb_le(w, 1, 8);
	if (v == V_NDIMS0)
		;
	else if (v == V_NEG_DIM)
	{
		wb_le(w, 32, 8);
		wb_le(w, (uint64_t) -2, 8);
	}
	else if (v == V_DIMS_OVERFLOW)
	{
		wb_le(w, 1ull << 40, 8);
		wb_le(w, 1ull << 40, 8);
	}
	else if (v == V_BYTES_OVERFLOW)
	{
		wb_le(w, 1ull << 61, 8);	/* f32: 2^62 elements, 2^64 bytes */
		wb_le(w, 2, 8);
	}
	else
	{
		wb_le(w, v == V_BLOCK ? 40 : 32, 8);
		wb_le(w, 2, 8);
	}
	wb_le(w, v == V_BAD_TYPE ? 99 : v == V_BYTES_OVERFLOW ? LLM_TYPE_F32 :
		  LLM_TYPE_Q8_0, 4);
	wb_le(w, v == V_OVERLAP ? 0 : 32, 8);

	wb_str(w, "c");
	wb_le(w, 1, 4);
	wb_le(w, 8, 8);
	wb_le(w, LLM_TYPE_F16, 4);
	if (v == V_OFFSET_OUT)
		c_off = 1ull << 50;
	else if (v == V_MISALIGNED)
		c_off = 136;
	wb_le(w, c_off, 8);

	/* padding and data: a, b, c with recognisable bytes */
	while (w->n % align != 0)
		wb_le(w, 0, 1);
	for (i = 0; i < 144 - (v == V_DATA_SHORT ? 1 : 0); i++)
		wb_le(w, (uint8_t) (i * 7 + 1), 1);
}

/* ------------------------------------------------------------- checks */

/*
 * Open a copy of the image of exactly n bytes (so that the sanitizer sees
 * any read past the end), returning the result and filling err.
 */
static int
open_copy(const uint8_t *img, size_t n, gguf_file **f, char *err)
{
	uint8_t    *copy = malloc(n > 0 ? n : 1);
	int			rc;

	if (copy == NULL)
		return llm_err(err, "out of memory");
	if (n > 0)
		memcpy(copy, img, n);
	rc = gguf_open_memory(f, copy, n, err);
	if (rc == 0)
	{
		/* the caller does not keep the image alive: drop the result */
		gguf_close(*f);
		*f = NULL;
	}
	free(copy);
	return rc;
}

/*
 * Touch everything a successful parse exposes so that the sanitizer can
 * check the pointers; *sum accumulates bytes read (defeats dead-code
 * removal). Returns false when lookups disagree with the listing.
 */
static bool
touch_all(const gguf_file *f, unsigned *sum)
{
	bool		good = true;
	uint64_t	i;
	uint64_t	j;

	for (i = 0; i < gguf_n_kv(f); i++)
	{
		const gguf_kv *kv = gguf_kv_at(f, i);

		*sum += (unsigned) strlen(kv->key);
		if (gguf_find(f, kv->key) != kv)
			good = false;
		if (kv->type == GGUF_STRING && kv->v.str.len > 0)
			*sum += (unsigned char) kv->v.str.ptr[kv->v.str.len - 1];
		if (kv->type == GGUF_ARRAY && kv->v.arr.type == GGUF_STRING)
		{
			for (j = 0; j < kv->v.arr.n; j++)
				if (kv->v.arr.strs[j].len > 0)
					*sum += (unsigned char) kv->v.arr.strs[j].ptr[kv->v.arr.strs[j].len - 1];
		}
		else if (kv->type == GGUF_ARRAY && kv->v.arr.n > 0)
		{
			*sum += (unsigned) gguf_arr_i32(kv, 0);
			*sum += (unsigned) gguf_arr_i32(kv, kv->v.arr.n - 1);
			*sum += (unsigned) (gguf_arr_f32(kv, kv->v.arr.n - 1) != 0.0f);
		}
	}
	for (i = 0; i < gguf_n_tensors(f); i++)
	{
		const gguf_tensor *t = gguf_tensor_at(f, i);

		*sum += (unsigned) strlen(t->name);
		if (gguf_find_tensor(f, t->name) != t || t->n_dims < 1 || t->n_dims > 4)
			good = false;
		if (t->nbytes > 0)
			*sum += ((const uint8_t *) t->data)[0] +
				((const uint8_t *) t->data)[t->nbytes - 1];
	}
	return good;
}

/*
 * The valid in-memory image: counts, getters, tensors, data pointers.
 */
static void
test_valid_image(void)
{
	wbuf		w = {0};
	gguf_file  *f;
	char		err[LLM_ERRLEN] = "";
	uint32_t	u;
	float		fl;
	bool		b;
	char	   *s = NULL;
	const gguf_kv *kv;
	const gguf_tensor *t;
	int			rc;

	build_image(&w, V_OK);
	rc = gguf_open_memory(&f, w.b, w.n, err);
	ok(rc == 0, "valid image parses (%s)", err);
	if (rc != 0)
	{
		free(w.b);
		return;
	}
	ok(gguf_version(f) == 3 && gguf_alignment(f) == 32 &&
	   gguf_file_size(f) == w.n, "version, alignment, size");
	ok(gguf_n_kv(f) == 11 && gguf_n_tensors(f) == 3, "counts");
	ok(strcmp(gguf_kv_at(f, 0)->key, "general.architecture") == 0 &&
	   gguf_kv_at(f, 11) == NULL, "kv_at order and bounds");

	ok(gguf_get_u32(f, "test.u32", &u, err) == 1 && u == 7, "get_u32 UINT32");
	ok(gguf_get_u32(f, "test.i32", &u, err) == -1 && strstr(err, "out of range"),
	   "get_u32 rejects negative INT32 (%s)", err);
	ok(gguf_get_u32(f, "test.u64", &u, err) == -1, "get_u32 rejects 2^40");
	ok(gguf_get_u32(f, "test.f32", &u, err) == -1 && strstr(err, "FLOAT32"),
	   "get_u32 rejects FLOAT32 (%s)", err);
	u = 42;
	ok(gguf_get_u32(f, "no.such.key", &u, err) == 0 && u == 42,
	   "get_u32 missing key leaves out untouched");
	ok(gguf_get_f32(f, "test.f32", &fl, err) == 1 && fl == 1.5f, "get_f32 FLOAT32");
	ok(gguf_get_f32(f, "test.f64", &fl, err) == 1 && fl == -2.25f, "get_f32 FLOAT64");
	ok(gguf_get_f32(f, "test.i32", &fl, err) == 1 && fl == -3.0f, "get_f32 INT32");
	ok(gguf_get_f32(f, "general.architecture", &fl, err) == -1, "get_f32 rejects STRING");
	ok(gguf_get_bool(f, "test.bool", &b, err) == 1 && b, "get_bool");
	ok(gguf_get_bool(f, "test.u32", &b, err) == -1, "get_bool rejects UINT32");
	ok(gguf_get_str(f, "general.architecture", &s, err) == 1 && s &&
	   strcmp(s, "llama") == 0, "get_str");
	free(s);
	s = NULL;
	ok(gguf_get_str(f, "test.u32", &s, err) == -1 && s == NULL, "get_str rejects UINT32");
	kv = gguf_find(f, "test.i8");
	ok(kv && kv->type == GGUF_INT8 && kv->v.i64 == -2, "INT8 sign-extended");

	ok(gguf_get_arr(f, "test.arr_i32", GGUF_INT32, &kv, err) == 1 &&
	   kv->v.arr.n == 3 && gguf_arr_i32(kv, 0) == 10 && gguf_arr_i32(kv, 2) == 30 &&
	   gguf_arr_f32(kv, 1) == 20.0f && gguf_arr_i32(kv, 3) == 0,
	   "INT32 array and element getters");
	ok(gguf_get_arr(f, "test.arr_i32", GGUF_FLOAT32, &kv, err) == -1 &&
	   strstr(err, "array of INT32"), "get_arr wrong element type (%s)", err);
	ok(gguf_get_arr(f, "test.u32", GGUF_INT32, &kv, err) == -1, "get_arr on a scalar");
	ok(gguf_get_arr(f, "no.such", GGUF_INT32, &kv, err) == 0, "get_arr missing");
	ok(gguf_get_arr(f, "test.arr_str", GGUF_STRING, &kv, err) == 1 &&
	   kv->v.arr.n == 3 && kv->v.arr.strs[1].len == 2 &&
	   memcmp(kv->v.arr.strs[1].ptr, "bc", 2) == 0 && kv->v.arr.strs[2].len == 0,
	   "STRING array index");

	t = gguf_find_tensor(f, "b");
	ok(t && t->type == LLM_TYPE_Q8_0 && t->n_dims == 2 && t->ne[0] == 32 &&
	   t->ne[1] == 2 && t->ne[2] == 1 && t->ne[3] == 1 && t->nbytes == 68 &&
	   t->nelements == 64 && t->offset == 32, "tensor b info");
	t = gguf_find_tensor(f, "c");
	ok(t && t->nbytes == 16 && t->data == w.b + w.n - 16 &&
	   ((const uint8_t *) t->data)[0] == (uint8_t) (128 * 7 + 1),
	   "tensor c data pointer");
	ok(gguf_find_tensor(f, "d") == NULL && gguf_tensor_at(f, 3) == NULL,
	   "missing tensor lookups");
	ok(strcmp(gguf_vtype_name(GGUF_FLOAT64), "FLOAT64") == 0 &&
	   strcmp(gguf_vtype_name((gguf_vtype) 99), "invalid") == 0, "vtype names");
	gguf_close(f);

	/* version 2 and a 64-byte alignment are accepted too */
	build_image(&w, V_VERSION2);
	rc = gguf_open_memory(&f, w.b, w.n, err);
	ok(rc == 0 && gguf_version(f) == 2, "version 2 accepted (%s)", rc ? err : "");
	gguf_close(f);
	build_image(&w, V_ALIGN16);
	rc = gguf_open_memory(&f, w.b, w.n, err);
	ok(rc == 0 && gguf_alignment(f) == 16, "alignment 16 accepted (%s)", rc ? err : "");
	gguf_close(f);
	free(w.b);
}

/*
 * Every malformed variant must be rejected with its message.
 */
static void
test_malformed(void)
{
	wbuf		w = {0};
	int			v;

	for (v = 0; v < V_COUNT; v++)
	{
		gguf_file  *f = (gguf_file *) &w;	/* must be reset to NULL */
		char		err[LLM_ERRLEN] = "";
		int			rc;

		if (variant_msg[v] == NULL)
			continue;
		build_image(&w, (enum variant) v);
		rc = open_copy(w.b, w.n, &f, err);
		ok(rc == -1 && f == NULL && strstr(err, variant_msg[v]) != NULL,
		   "variant %d rejected: want \"%s\", got \"%s\"", v, variant_msg[v], err);
	}
	free(w.b);
}

/*
 * Every proper prefix of the valid image must be rejected.
 */
static void
test_truncation(void)
{
	wbuf		w = {0};
	size_t		n;
	size_t		bad = 0;
	size_t		first_bad = 0;

	build_image(&w, V_OK);
	for (n = 0; n < w.n; n++)
	{
		gguf_file  *f = NULL;
		char		err[LLM_ERRLEN] = "";

		if (open_copy(w.b, n, &f, err) != -1 || f != NULL || err[0] == '\0')
		{
			if (bad++ == 0)
				first_bad = n;
		}
	}
	ok(bad == 0, "all %zu proper prefixes rejected (%zu accepted, first at %zu)",
	   w.n, bad, first_bad);
	free(w.b);
}

/*
 * xorshift64 step (fixed seed: the test is deterministic).
 */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Mutate copies of the valid image at random and parse them; nothing may
 * crash, and what parses must be self-consistent.
 */
static void
test_fuzz(void)
{
	wbuf		w = {0};
	uint64_t	seed = 0x9e3779b97f4a7c15ull;
	int			iter;
	int			accepted = 0;
	int			inconsistent = 0;
	unsigned	sum = 0;
	uint8_t    *copy;

	build_image(&w, V_OK);
	copy = malloc(w.n);
	if (copy == NULL)
		return;
	for (iter = 0; iter < 5000; iter++)
	{
		gguf_file  *f = NULL;
		char		err[LLM_ERRLEN];
		int			k;
		int			nmut = 1 + (int) (rnd(&seed) % 4);
		size_t		len = w.n;

		memcpy(copy, w.b, w.n);
		for (k = 0; k < nmut; k++)
		{
			size_t		pos = (size_t) (rnd(&seed) % w.n);
			uint64_t	r = rnd(&seed);

			switch (r % 4)
			{
				case 0:			/* flip one bit */
					copy[pos] ^= (uint8_t) (1u << ((r >> 8) % 8));
					break;
				case 1:			/* random byte */
					copy[pos] = (uint8_t) (r >> 16);
					break;
				case 2:			/* extreme 8-byte value */
					{
						static const uint64_t ext[] = {
							0, 1, UINT64_MAX, (uint64_t) INT64_MAX,
							(uint64_t) INT64_MAX + 1, 1ull << 32, 0xffffffffull, 255
						};
						uint64_t	x = ext[(r >> 8) % 8];
						size_t		b;

						for (b = 0; b < 8 && pos + b < w.n; b++)
							copy[pos + b] = (uint8_t) (x >> (8 * b));
						break;
					}
				default:		/* shorten */
					len = (size_t) ((r >> 8) % w.n);
					break;
			}
		}
		if (gguf_open_memory(&f, copy, len, err) == 0)
		{
			accepted++;
			if (!touch_all(f, &sum))
				inconsistent++;
			gguf_close(f);
		}
		else if (f != NULL || err[0] == '\0')
			inconsistent++;
	}
	ok(inconsistent == 0, "fuzz: 5000 mutated images, %d parsed, no crash, "
	   "consistent results (checksum %u)", accepted, sum);
	free(copy);
	free(w.b);
}

/*
 * The real default model, when present.
 */
static void
test_real_model(void)
{
	char		path[4200];
	char		err[LLM_ERRLEN] = "";
	gguf_file  *f;
	FILE	   *fp;
	uint32_t	u;
	float		fl;
	char	   *s = NULL;
	const gguf_kv *kv;
	const gguf_tensor *t;

	snprintf(path, sizeof(path), "%s/SmolLM2-135M-Instruct.Q4_1.gguf",
			 tap_model_dir());
	fp = fopen(path, "rb");
	if (fp == NULL)
	{
		tap_skip_n(REAL_MODEL_CHECKS, "default model not found at %s", path);
		return;
	}
	fclose(fp);
	if (!ok(gguf_open(&f, path, err) == 0, "real model opens (%s)", err))
	{
		tap_skip_n(REAL_MODEL_CHECKS - 1, "the real model does not open");
		return;
	}
	ok(gguf_version(f) == 3 && gguf_alignment(f) == 32, "version 3, alignment 32");
	ok(gguf_n_kv(f) == 33 && gguf_n_tensors(f) == 272, "33 kv, 272 tensors (%llu, %llu)",
	   (unsigned long long) gguf_n_kv(f), (unsigned long long) gguf_n_tensors(f));
	ok(gguf_get_str(f, "general.architecture", &s, err) == 1 && strcmp(s, "llama") == 0,
	   "architecture llama");
	free(s);
	s = NULL;
	ok(gguf_get_str(f, "tokenizer.ggml.pre", &s, err) == 1 && strcmp(s, "smollm") == 0,
	   "pre-tokenizer smollm");
	free(s);
	ok(gguf_get_u32(f, "llama.block_count", &u, err) == 1 && u == 30, "30 layers");
	ok(gguf_get_u32(f, "llama.embedding_length", &u, err) == 1 && u == 576, "dim 576");
	ok(gguf_get_u32(f, "llama.attention.head_count", &u, err) == 1 && u == 9, "9 heads");
	ok(gguf_get_u32(f, "llama.attention.head_count_kv", &u, err) == 1 && u == 3, "3 kv heads");
	ok(gguf_get_f32(f, "llama.rope.freq_base", &fl, err) == 1 && fl == 100000.0f,
	   "rope freq_base 100000");
	ok(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &kv, err) == 1 &&
	   kv->v.arr.n == 49152 && kv->v.arr.strs[0].len == 13 &&
	   memcmp(kv->v.arr.strs[0].ptr, "<|endoftext|>", 13) == 0 &&
	   kv->v.arr.strs[49151].len == 7 &&
	   memcmp(kv->v.arr.strs[49151].ptr, "ectable", 7) == 0,
	   "49152 tokens, first <|endoftext|>, last 'ectable'");
	ok(gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_STRING, &kv, err) == 1 &&
	   kv->v.arr.n == 48900 && kv->v.arr.strs[0].len == 4 &&
	   memcmp(kv->v.arr.strs[0].ptr, "\xc4\xa0 t", 4) == 0, "48900 merges");
	ok(gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_INT32, &kv, err) == 1 &&
	   kv->v.arr.n == 49152 && gguf_arr_i32(kv, 0) == 3, "token types");
	t = gguf_find_tensor(f, "token_embd.weight");
	ok(t && t->type == LLM_TYPE_Q8_0 && t->ne[0] == 576 && t->ne[1] == 49152 &&
	   t->nbytes == 30081024 && t->offset == 0, "token_embd q8_0 [576, 49152]");
	t = gguf_find_tensor(f, "blk.0.attn_k.weight");
	ok(t && t->type == LLM_TYPE_Q4_1 && t->ne[0] == 576 && t->ne[1] == 192,
	   "blk.0.attn_k q4_1 [576, 192]");
	t = gguf_find_tensor(f, "blk.29.ffn_down.weight");
	ok(t && t->type == LLM_TYPE_Q4_1 && t->ne[0] == 1536 && t->ne[1] == 576,
	   "blk.29.ffn_down q4_1 [1536, 576]");
	t = gguf_find_tensor(f, "output_norm.weight");
	ok(t && t->type == LLM_TYPE_F32 && t->n_dims == 1 && t->ne[0] == 576 &&
	   (const uint8_t *) t->data + t->nbytes <=
	   (const uint8_t *) gguf_tensor_at(f, 0)->data - gguf_tensor_at(f, 0)->offset + gguf_file_size(f),
	   "output_norm f32 [576] inside the mapping");
	ok(gguf_find_tensor(f, "output.weight") == NULL, "no output.weight (tied)");
	gguf_close(f);
}

/*
 * The fixture files listed in cases.tsv: gguf-level cases (bad-gguf-*)
 * must fail with the listed message; model-level ones (bad-model-*) and
 * the valid tiny models must parse.
 */
static void
test_fixtures(void)
{
	const char *dir = getenv("LLM_FIXTURE_DIR");
	char		path[4096];
	char		line[1024];
	FILE	   *fp;
	static const char *const valid[] = {
		"tiny-f32.gguf", "tiny-f16.gguf", "tiny-bf16.gguf", "tiny-q8_0.gguf",
		"tiny-q4_0.gguf", "tiny-q4_1.gguf", "tiny-q5_0.gguf", "tiny-q5_1.gguf",
		"tiny-q4_k.gguf", "tiny-q5_k.gguf", "tiny-q6_k.gguf",
		"tiny-qwen2-f32.gguf",
	};
	size_t		i;
	int			ncases = 0;

	if (dir == NULL || *dir == '\0')
		dir = "build/fixtures";
	snprintf(path, sizeof(path), "%s/cases.tsv", dir);
	fp = fopen(path, "r");
	if (fp == NULL)
	{
		tap_skip_n(FIXTURE_CHECKS, "no fixtures at %s (run make fixtures)", dir);
		return;
	}
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
	{
		gguf_file  *f = NULL;
		char		err[LLM_ERRLEN] = "";

		snprintf(path, sizeof(path), "%s/%s", dir, valid[i]);
		ok(gguf_open(&f, path, err) == 0 && gguf_find_tensor(f, "token_embd.weight"),
		   "fixture %s parses (%s)", valid[i], err);
		gguf_close(f);
	}
	while (fgets(line, sizeof(line), fp) != NULL)
	{
		char	   *tab = strchr(line, '\t');
		char	   *msg;
		gguf_file  *f = NULL;
		char		err[LLM_ERRLEN] = "";
		int			rc;

		if (tab == NULL || line[0] == '#')
			continue;
		*tab = '\0';
		msg = tab + 1;
		msg[strcspn(msg, "\r\n")] = '\0';
		snprintf(path, sizeof(path), "%s/%s", dir, line);
		rc = gguf_open(&f, path, err);
		ncases++;
		if (strncmp(line, "bad-model-", 10) == 0)
			ok(rc == 0, "fixture %s parses at the gguf level (%s)", line, err);
		else
			ok(rc == -1 && strstr(err, msg) != NULL,
			   "fixture %s rejected: want \"%s\", got \"%s\"", line, msg, err);
		gguf_close(f);
	}
	fclose(fp);
	ok(ncases == FIXTURE_CASES, "cases.tsv lists %d cases (%d planned)", ncases, FIXTURE_CASES);
}

/*
 * Opening a path that does not exist fails cleanly.
 */
static void
test_open_errors(void)
{
	gguf_file  *f = (gguf_file *) &f;
	char		err[LLM_ERRLEN] = "";

	ok(gguf_open(&f, "/nonexistent/x.gguf", err) == -1 && f == NULL &&
	   strstr(err, "cannot open"), "missing file (%s)", err);
	ok(gguf_open(&f, "/tmp", err) == -1 && strstr(err, "not a regular file"),
	   "directory rejected (%s)", err);
	ok(gguf_open_memory(&f, "", 0, err) == -1 && strstr(err, "truncated"),
	   "empty image (%s)", err);
	gguf_close(NULL);
}

int
main(void)
{
	tap_plan(TOTAL_CHECKS);
	test_real_model();
	test_valid_image();
	test_malformed();
	test_truncation();
	test_fuzz();
	test_open_errors();
	test_fixtures();
	return tap_done();
}
