/*
 * test_kernels.c - unit tests of the CPU kernels (kernels.h).
 *
 *   test_kernels          run the checks (TAP)
 *   test_kernels --bench  time q4_1 / q8_0 vec_dot over 576x1536 matrices
 *
 * LLM_TEST_NO_AVX2=1 runs the checks as on a CPU without AVX2.
 *
 * The scalar kernels are checked against plain double-precision math, and
 * against gguf-py when the fixtures of test/fixtures/make_quant_vectors.py
 * exist ($LLM_FIXTURE_DIR/quant, else $BUILD/fixtures/quant, else
 * build/fixtures/quant). The AVX2 kernels, when the CPU has AVX2, are
 * checked against the scalar ones: dequantization and activation
 * quantization must give identical bits, dot products agree to 1e-4 of the
 * sum of the absolute products.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "llm_types.h"
#include "llm_util.h"
#include "quant.h"
#include "tap.h"

#define MAX_N 4096

/*
 * Checks (tap_plan): KERNELS_CHECKS in all, KERNELS_AVX2_ONLY of them on
 * the AVX2 kernels (skipped together where the CPU lacks AVX2), and the
 * AVX512_CHECKS of test_gemm8_avx512 (skipped together without VNNI)
 * plus the 4 of test_f32_rows on the avx512 table.
 */
#define KERNELS_CHECKS 137
#define KERNELS_AVX2_ONLY 57
#define AVX512_CHECKS 7

/* the weight types with a vec_dot, and the pairing ggml uses */
static const struct
{
	llm_type	t;
	llm_type	act;
} weight_types[] = {
	{LLM_TYPE_F32, LLM_TYPE_F32},
	{LLM_TYPE_F16, LLM_TYPE_F16},
	{LLM_TYPE_BF16, LLM_TYPE_BF16},
	{LLM_TYPE_Q4_0, LLM_TYPE_Q8_0},
	{LLM_TYPE_Q4_1, LLM_TYPE_Q8_1},
	{LLM_TYPE_Q5_0, LLM_TYPE_Q8_0},
	{LLM_TYPE_Q5_1, LLM_TYPE_Q8_1},
	{LLM_TYPE_Q8_0, LLM_TYPE_Q8_0},
	{LLM_TYPE_Q4_K, LLM_TYPE_Q8_K},
	{LLM_TYPE_Q5_K, LLM_TYPE_Q8_K},
	{LLM_TYPE_Q6_K, LLM_TYPE_Q8_K},
};
#define N_WEIGHT_TYPES ((int) (sizeof(weight_types) / sizeof(weight_types[0])))

static const llm_type act_types[] = {
	LLM_TYPE_Q8_0, LLM_TYPE_Q8_1, LLM_TYPE_Q8_K, LLM_TYPE_F16, LLM_TYPE_BF16, LLM_TYPE_F32,
};
#define N_ACT_TYPES ((int) (sizeof(act_types) / sizeof(act_types[0])))

/*
 * xorshift64* random numbers (fixed seed per test).
 */
static uint64_t
rnd_u64(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/*
 * Uniform float in [-1, 1).
 */
static float
rnd_f(uint64_t *s)
{
	return (float) ((double) (rnd_u64(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/*
 * A random positive or negative half of moderate size (2^-10 .. 2^-1).
 */
static uint16_t
rnd_half_scale(uint64_t *s)
{
	float		v = (0.5f + 0.5f * fabsf(rnd_f(s))) * ldexpf(1.0f, -(int) (rnd_u64(s) % 10));

	if (rnd_u64(s) % 5 == 0)
		v = -v;
	return llm_fp32_to_fp16(v);
}

/*
 * Random floats with a magnitude that changes every 32 values.
 */
static void
rnd_floats(uint64_t *s, float *x, int64_t n)
{
	float		scale = 1.0f;

	for (int64_t i = 0; i < n; i++)
	{
		if (i % 32 == 0)
			scale = ldexpf(1.0f, (int) (rnd_u64(s) % 12) - 8);
		x[i] = rnd_f(s) * scale;
	}
}

/*
 * A row of n random elements of type t: random quant bytes with valid
 * half-precision scales, or random finite floats for f32/f16/bf16.
 */
static void
rnd_row(uint64_t *s, llm_type t, void *row, int64_t n)
{
	const llm_type_traits *tr = llm_type_get(t);
	size_t		bytes = llm_row_size(t, n);
	int64_t		nb = n / tr->block_size;
	uint8_t    *b = row;
	int			offs[2] = {-1, -1};

	if (t == LLM_TYPE_F32 || t == LLM_TYPE_F16 || t == LLM_TYPE_BF16)
	{
		float		tmp[MAX_N];
		llm_kernels k;

		rnd_floats(s, tmp, n);
		llm_kernels_init_scalar(&k);
		k.type[t].from_float(tmp, row, n);
		return;
	}
	for (size_t i = 0; i < bytes; i++)
		b[i] = (uint8_t) rnd_u64(s);
	switch (t)
	{
		case LLM_TYPE_Q4_1:
		case LLM_TYPE_Q5_1:
		case LLM_TYPE_Q8_1:
		case LLM_TYPE_Q4_K:
		case LLM_TYPE_Q5_K:
			offs[1] = 2;
			/* fall through */
		case LLM_TYPE_Q4_0:
		case LLM_TYPE_Q5_0:
		case LLM_TYPE_Q8_0:
			offs[0] = 0;
			break;
		case LLM_TYPE_Q6_K:
			offs[0] = 208;
			break;
		case LLM_TYPE_Q8_K:
			for (int64_t i = 0; i < nb; i++)
			{
				float		d = llm_fp16_to_fp32(rnd_half_scale(s));

				memcpy(b + i * tr->type_size, &d, sizeof(d));
			}
			return;
		default:
			return;
	}
	for (int64_t i = 0; i < nb; i++)
		for (int k = 0; k < 2; k++)
			if (offs[k] >= 0)
			{
				uint16_t	h = rnd_half_scale(s);

				memcpy(b + i * tr->type_size + offs[k], &h, 2);
			}
}

/*
 * Number of elements of x and y whose bits differ.
 */
static int64_t
count_bit_diffs(const float *x, const float *y, int64_t n)
{
	int64_t		bad = 0;

	for (int64_t i = 0; i < n; i++)
		if (memcmp(&x[i], &y[i], sizeof(float)) != 0)
			bad++;
	return bad;
}

/*
 * Read a whole file; NULL if it cannot be read.
 */
static void *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	void	   *buf = NULL;
	long		sz;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0)
	{
		buf = malloc((size_t) sz);
		if (buf != NULL && fread(buf, 1, (size_t) sz, f) != (size_t) sz)
		{
			free(buf);
			buf = NULL;
		}
		*len = (size_t) sz;
	}
	fclose(f);
	return buf;
}

/*
 * Directory of the gguf-py fixtures.
 */
static void
fixture_dir(char *buf, size_t len)
{
	const char *d = getenv("LLM_FIXTURE_DIR");
	const char *b = getenv("BUILD");

	if (d && *d)
		snprintf(buf, len, "%s/quant", d);
	else
		snprintf(buf, len, "%s/fixtures/quant", b && *b ? b : "build");
}

/* -------------------------------------------------------------- the tests */

/*
 * The kernel tables: isa choice, every expected entry present, ggml's
 * vec_dot pairing, block sizes equal to llm_types.
 */
static void
test_tables(const llm_kernels *ks, const llm_kernels *ka, int have_avx2)
{
	llm_kernels tmp;
	int			good = 1;
	int			cpu_avx2 = llm_cpu_has_avx2();
	const char *best = llm_cpu_has_avx512() ? "avx512" : cpu_avx2 ? "avx2" : "scalar";
	static const struct
	{
		llm_type	t;
		size_t		size;
	}			sizes[] = {
		{LLM_TYPE_Q4_0, sizeof(llm_block_q4_0)}, {LLM_TYPE_Q4_1, sizeof(llm_block_q4_1)},
		{LLM_TYPE_Q5_0, sizeof(llm_block_q5_0)}, {LLM_TYPE_Q5_1, sizeof(llm_block_q5_1)},
		{LLM_TYPE_Q8_0, sizeof(llm_block_q8_0)}, {LLM_TYPE_Q8_1, sizeof(llm_block_q8_1)},
		{LLM_TYPE_Q4_K, sizeof(llm_block_q4_K)}, {LLM_TYPE_Q5_K, sizeof(llm_block_q5_K)},
		{LLM_TYPE_Q6_K, sizeof(llm_block_q6_K)}, {LLM_TYPE_Q8_K, sizeof(llm_block_q8_K)},
	};

	ok(strcmp(llm_kernels_init(&tmp, "scalar"), "scalar") == 0, "init \"scalar\" gives scalar");
	ok(strcmp(llm_kernels_init(&tmp, NULL), best) == 0, "init NULL gives %s", best);
	ok(strcmp(llm_kernels_init(&tmp, "avx2"), cpu_avx2 ? "avx2" : "scalar") == 0,
	   "init \"avx2\" gives %s", cpu_avx2 ? "avx2" : "scalar");
	ok(strcmp(llm_kernels_init(&tmp, "avx512"), best) == 0, "init \"avx512\" gives %s", best);
	ok(strcmp(llm_kernels_init(&tmp, "auto"), best) == 0, "init \"auto\" gives %s", best);
	ok(strcmp(llm_kernels_init(&tmp, "auto"), tmp.isa) == 0 && strcmp(ks->isa, "scalar") == 0,
	   "isa names");

	for (int i = 0; i < (int) (sizeof(sizes) / sizeof(sizes[0])); i++)
		if (llm_type_get(sizes[i].t)->type_size != sizes[i].size ||
			llm_row_size(sizes[i].t, 256) != sizes[i].size * (256 / llm_type_get(sizes[i].t)->block_size))
			good = 0;
	ok(good, "block structs match llm_types sizes");

	for (int w = 0; w < 2; w++)
	{
		const llm_kernels *k = w ? ka : ks;

		good = k->dot_f32 && k->axpy_f32 && k->scale_f32;
		for (int i = 0; i < N_WEIGHT_TYPES; i++)
		{
			const llm_type_ops *o = &k->type[weight_types[i].t];

			if (!o->to_float || !o->from_float || !o->vec_dot || o->vec_dot_type != weight_types[i].act)
				good = 0;
		}
		for (int i = 0; i < N_ACT_TYPES; i++)
			if (!k->type[act_types[i]].to_float || !k->type[act_types[i]].from_float)
				good = 0;
		ok(good, "%s table complete with ggml's vec_dot pairing", k->isa);
		if (!have_avx2)
			break;
	}
}

/*
 * Half and bfloat16 conversions: edge cases through the kernels, and every
 * one of the 65536 halves.
 */
static void
test_half(const llm_kernels *ks, const llm_kernels *ka, int have_avx2)
{
	static const struct
	{
		float		f;
		uint16_t	h;
	}			cases[] = {
		{0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3c00}, {-2.0f, 0xc000},
		{65504.0f, 0x7bff}, {65519.0f, 0x7bff}, {65520.0f, 0x7c00}, {1e10f, 0x7c00},
		{-1e10f, 0xfc00}, {INFINITY, 0x7c00}, {-INFINITY, 0xfc00},
		{5.9604645e-08f, 0x0001},	/* 2^-24, smallest subnormal */
		{2.98023224e-08f, 0x0000},	/* 2^-25: tie, to even (0) */
		{8.94069672e-08f, 0x0002},	/* 3 * 2^-25: tie, to even (2) */
		{6.10351562e-05f, 0x0400},	/* smallest normal */
		{1.00048828f, 0x3c00},	/* 1 + 2^-11: tie, to even */
		{1.00146484f, 0x3c02},	/* 1 + 3 * 2^-11: tie, to even */
		{0.333333343f, 0x3555},
	};
	static const struct
	{
		uint32_t	f;
		uint16_t	b;
	}			bcases[] = {
		{0x3f800000, 0x3f80}, {0x3f808000, 0x3f80},	/* tie, to even */
		{0x3f818000, 0x3f82}, {0x3f808001, 0x3f81}, {0x7f7fffff, 0x7f80},	/* max -> inf */
		{0xff800000, 0xff80}, {0x80000000, 0x8000}, {0x00000001, 0x0000},
	};
	const int	nc = (int) (sizeof(cases) / sizeof(cases[0]));
	float		x[64];
	uint16_t	h[64];
	uint16_t	h2[64];
	int			good;
	float	   *all;
	float	   *all2;
	uint16_t   *hall;

	for (int w = 0; w < 1 + have_avx2; w++)
	{
		const llm_kernels *k = w ? ka : ks;

		/* 3 copies so that the AVX2 code sees them in vectors and tails */
		for (int r = 0; r < 3; r++)
			for (int i = 0; i < nc; i++)
				x[r * nc + i] = cases[i].f;
		k->type[LLM_TYPE_F16].from_float(x, h, 3 * nc);
		good = 1;
		for (int i = 0; i < 3 * nc; i++)
			if (h[i] != cases[i % nc].h)
			{
				good = 0;
				diag("f16(%.9g) = 0x%04x, want 0x%04x", cases[i % nc].f, h[i], cases[i % nc].h);
			}
		ok(good, "%s: f32 -> f16 edge cases (RNE, subnormals, overflow)", k->isa);

		for (int i = 0; i < 40; i++)
			x[i] = (i % 3) ? NAN : -NAN;
		k->type[LLM_TYPE_F16].from_float(x, h, 40);
		good = 1;
		for (int i = 0; i < 40; i++)
			if ((h[i] & 0x7c00) != 0x7c00 || (h[i] & 0x3ff) == 0)
				good = 0;
		ok(good, "%s: f32 NaN -> f16 NaN", k->isa);

		for (int r = 0; r < 3; r++)
			for (int i = 0; i < 8; i++)
				memcpy(&x[r * 8 + i], &bcases[i].f, 4);
		k->type[LLM_TYPE_BF16].from_float(x, h, 24);
		good = 1;
		for (int i = 0; i < 24; i++)
			if (h[i] != bcases[i % 8].b)
			{
				good = 0;
				diag("bf16(0x%08x) = 0x%04x, want 0x%04x", bcases[i % 8].f, h[i], bcases[i % 8].b);
			}
		x[0] = NAN;
		x[1] = -NAN;
		k->type[LLM_TYPE_BF16].from_float(x, h2, 2);
		if ((h2[0] & 0x7f80) != 0x7f80 || (h2[0] & 0x7f) == 0 || (h2[1] & 0x7f) == 0)
			good = 0;
		ok(good, "%s: f32 -> bf16 edge cases (RNE, overflow, NaN)", k->isa);
	}

	/* all halves: f16 -> f32 -> f16 gives the same bits (NaN stays NaN) */
	all = malloc(65536 * sizeof(float));
	all2 = malloc(65536 * sizeof(float));
	hall = malloc(65536 * sizeof(uint16_t));
	if (!all || !all2 || !hall)
	{
		ok(0, "out of memory");
		free(all);
		free(all2);
		free(hall);
		return;
	}
	for (int w = 0; w < 1 + have_avx2; w++)
	{
		const llm_kernels *k = w ? ka : ks;
		uint16_t	src[256];
		int			bad = 0;

		for (int i = 0; i < 65536; i += 256)
		{
			for (int j = 0; j < 256; j++)
				src[j] = (uint16_t) (i + j);
			k->type[LLM_TYPE_F16].to_float(src, all + i, 256);
			k->type[LLM_TYPE_F16].from_float(all + i, hall + i, 256);
		}
		for (int i = 0; i < 65536; i++)
		{
			int			isnan_h = (i & 0x7c00) == 0x7c00 && (i & 0x3ff) != 0;

			if (isnan_h ? !isnan(all[i]) || (hall[i] & 0x7c00) != 0x7c00 || (hall[i] & 0x3ff) == 0
				: hall[i] != i)
				bad++;
			if (!isnan_h && (double) all[i] != (double) llm_fp16_to_fp32((uint16_t) i))
				bad++;
		}
		ok(bad == 0, "%s: all 65536 halves round-trip through f32 (%d bad)", k->isa, bad);
		if (w == 0)
			memcpy(all2, all, 65536 * sizeof(float));
		else
			ok(count_bit_diffs(all, all2, 65536) == 0, "avx2 f16 -> f32 bit-identical to scalar on all halves");
	}
	free(all);
	free(all2);
	free(hall);
}

/*
 * gguf-py fixtures: our scalar (and AVX2) dequantization is bit-identical
 * to gguf.quants.dequantize; our activation quantizers to gguf-py's.
 */
static void
test_fixtures(const llm_kernels *ks, const llm_kernels *ka, int have_avx2)
{
	static const struct
	{
		const char *name;
		llm_type	t;
	}			files[] = {
		{"q4_0", LLM_TYPE_Q4_0}, {"q4_1", LLM_TYPE_Q4_1}, {"q5_0", LLM_TYPE_Q5_0},
		{"q5_1", LLM_TYPE_Q5_1}, {"q8_0", LLM_TYPE_Q8_0}, {"q4_k", LLM_TYPE_Q4_K},
		{"q5_k", LLM_TYPE_Q5_K}, {"q6_k", LLM_TYPE_Q6_K}, {"f16", LLM_TYPE_F16},
		{"bf16", LLM_TYPE_BF16},
	};
	static const struct
	{
		const char *name;
		llm_type	t;
	}			acts[] = {
		{"act_q8_0", LLM_TYPE_Q8_0}, {"act_f16", LLM_TYPE_F16}, {"act_bf16", LLM_TYPE_BF16},
	};
	char		dir[1024];
	char		path[1200];
	size_t		alen = 0;
	float	   *act;

	fixture_dir(dir, sizeof(dir));
	for (int i = 0; i < (int) (sizeof(files) / sizeof(files[0])); i++)
	{
		size_t		qlen = 0;
		size_t		flen = 0;
		void	   *q;
		float	   *want;
		float	   *got;
		int64_t		n;

		snprintf(path, sizeof(path), "%s/%s.bin", dir, files[i].name);
		q = read_file(path, &qlen);
		snprintf(path, sizeof(path), "%s/%s.f32", dir, files[i].name);
		want = read_file(path, &flen);
		n = (int64_t) (flen / sizeof(float));
		if (q == NULL || want == NULL)
		{
			tap_skip_n(1 + have_avx2, "no fixture %s (run test/fixtures/make_quant_vectors.py)", path);
			free(q);
			free(want);
			continue;
		}
		if (llm_row_size(files[i].t, n) != qlen || (got = malloc(flen)) == NULL)
		{
			ok(0, "fixture %s has a consistent size", files[i].name);
			free(q);
			free(want);
			continue;
		}
		for (int w = 0; w < 1 + have_avx2; w++)
		{
			const llm_kernels *k = w ? ka : ks;
			int64_t		bad;

			memset(got, 0, flen);
			k->type[files[i].t].to_float(q, got, n);
			bad = count_bit_diffs(got, want, n);
			ok(bad == 0, "%s: %s dequantization bit-identical to gguf-py (%lld values, %lld differ)",
			   k->isa, files[i].name, (long long) n, (long long) bad);
		}
		free(got);
		free(q);
		free(want);
	}

	snprintf(path, sizeof(path), "%s/act.f32", dir);
	act = read_file(path, &alen);
	for (int i = 0; i < (int) (sizeof(acts) / sizeof(acts[0])); i++)
	{
		size_t		wlen = 0;
		uint8_t    *want;
		uint8_t    *got;
		int64_t		n = (int64_t) (alen / sizeof(float));

		snprintf(path, sizeof(path), "%s/%s.bin", dir, acts[i].name);
		want = act ? read_file(path, &wlen) : NULL;
		if (want == NULL)
		{
			tap_skip_n(1 + have_avx2, "no fixture %s", path);
			continue;
		}
		if (llm_row_size(acts[i].t, n) != wlen || (got = malloc(wlen)) == NULL)
		{
			ok(0, "fixture %s has a consistent size", acts[i].name);
			free(want);
			continue;
		}
		for (int w = 0; w < 1 + have_avx2; w++)
		{
			const llm_kernels *k = w ? ka : ks;

			memset(got, 0, wlen);
			k->type[acts[i].t].from_float(act, got, n);
			ok(memcmp(got, want, wlen) == 0, "%s: %s quantization byte-identical to gguf-py",
			   k->isa, acts[i].name);
		}
		free(got);
		free(want);
	}
	free(act);
}

/*
 * to_float of random rows: AVX2 bit-identical to scalar.
 */
static void
test_to_float(const llm_kernels *ks, const llm_kernels *ka)
{
	static const llm_type types[] = {
		LLM_TYPE_F32, LLM_TYPE_F16, LLM_TYPE_BF16, LLM_TYPE_Q4_0, LLM_TYPE_Q4_1,
		LLM_TYPE_Q5_0, LLM_TYPE_Q5_1, LLM_TYPE_Q8_0, LLM_TYPE_Q8_1, LLM_TYPE_Q4_K,
		LLM_TYPE_Q5_K, LLM_TYPE_Q6_K, LLM_TYPE_Q8_K,
	};
	static uint8_t row[MAX_N * 4];
	static float ys[MAX_N];
	static float ya[MAX_N];
	uint64_t	s = 42;

	for (int i = 0; i < (int) (sizeof(types) / sizeof(types[0])); i++)
	{
		llm_type	t = types[i];
		int64_t		n = llm_type_get(t)->block_size == 256 ? 2048 : 1024 + 32;
		int64_t		bad = 0;

		if (llm_type_get(t)->block_size == 1)
			n = 1000 + 7;		/* a tail for the vector loops */
		for (int rep = 0; rep < 4; rep++)
		{
			rnd_row(&s, t, row, n);
			ks->type[t].to_float(row, ys, n);
			memset(ya, 0xff, sizeof(ya));
			ka->type[t].to_float(row, ya, n);
			bad += count_bit_diffs(ys, ya, n);
		}
		ok(bad == 0, "avx2 %s to_float bit-identical to scalar (%lld differ)",
		   llm_type_name(t), (long long) bad);
	}
}

/*
 * from_float of activation types: AVX2 byte-identical to scalar, and the
 * scalar rounding rules of ggml's reference quantizers on exact ties.
 */
static void
test_from_float(const llm_kernels *ks, const llm_kernels *ka, int have_avx2)
{
	static float x[MAX_N];
	static uint8_t qs[MAX_N * 4];
	static uint8_t qa[MAX_N * 4];
	uint64_t	s = 7;
	const int64_t n = 2048;
	llm_block_q8_0 b0;
	llm_block_q8_1 b1;
	llm_block_q8_K bk;
	float		t[256];
	int			good;

	/* q8_0 / q8_1: amax 127 gives d = 1, so x.5 is an exact tie: away from 0 */
	for (int i = 0; i < 32; i++)
		t[i] = (float) i - 15.5f;
	t[0] = -127.0f;
	ks->type[LLM_TYPE_Q8_0].from_float(t, &b0, 32);
	ks->type[LLM_TYPE_Q8_1].from_float(t, &b1, 32);
	good = llm_fp16_to_fp32(b0.d) == 1.0f && b0.qs[0] == -127;
	for (int i = 1; i < 32; i++)
		if (b0.qs[i] != (int) roundf(t[i]) || b1.qs[i] != b0.qs[i])
			good = 0;
	ok(good && b0.qs[1] == -15 && b0.qs[16] == 1 && b0.qs[15] == -1,
	   "scalar q8_0/q8_1 round half away from zero (ggml roundf)");
	{
		int			sum = 0;

		for (int i = 0; i < 32; i++)
			sum += b1.qs[i];
		ok(b1.s == llm_fp32_to_fp16((float) sum * llm_fp16_to_fp32(b1.d)), "q8_1 s = d * sum(q)");
	}

	/* q8_K: scale -127 / max, ties to even */
	for (int i = 0; i < 256; i++)
		t[i] = (float) (i % 64) - 31.5f;
	t[0] = -127.0f;
	ks->type[LLM_TYPE_Q8_K].from_float(t, &bk, 256);
	good = bk.d == 1.0f && bk.qs[0] == -127 && bk.qs[1] == -30 && bk.qs[2] == -30 && bk.qs[3] == -28;
	for (int j = 0; j < 16; j++)
	{
		int			sum = 0;

		for (int l = 0; l < 16; l++)
			sum += bk.qs[16 * j + l];
		if (bk.bsums[j] != sum)
			good = 0;
	}
	ok(good, "scalar q8_K: d = -max/127, round half to even, bsums");

	if (!have_avx2)
	{
		skip("no AVX2: from_float comparison");
		return;
	}
	for (int i = 0; i < N_ACT_TYPES; i++)
	{
		llm_type	at = act_types[i];
		size_t		bytes = llm_row_size(at, n);
		int			same = 1;

		for (int rep = 0; rep < 6; rep++)
		{
			rnd_floats(&s, x, n);
			if (rep == 1)
				memset(x + 256, 0, 256 * sizeof(float));	/* all-zero blocks */
			if (rep == 2)
				for (int j = 0; j < n; j++)
					x[j] = (float) ((j % 255) - 127) * 0.5f;	/* many ties */
			if (rep == 3)
				for (int j = 0; j < n; j++)
					x[j] = (j % 2 ? 1.0f : -1.0f) * (float) (j % 7);	/* +-max ties */
			if (rep == 4)
				for (int j = 0; j < n; j++)
					x[j] = ldexpf(rnd_f(&s), -20 - (j % 7));	/* tiny, subnormal halves */
			memset(qs, 0x55, bytes);
			memset(qa, 0xaa, bytes);
			ks->type[at].from_float(x, qs, n);
			ka->type[at].from_float(x, qa, n);
			if (memcmp(qs, qa, bytes) != 0)
				same = 0;
		}
		ok(same, "avx2 %s from_float byte-identical to scalar", llm_type_name(at));
	}
}

/*
 * Weight quantizers: from_float then to_float stays within the step of
 * the format.
 */
static void
test_roundtrip(const llm_kernels *ks)
{
	static float x[MAX_N];
	static float y[MAX_N];
	static uint8_t q[MAX_N * 4];
	uint64_t	s = 99;
	const int64_t n = 2048;

	for (int i = 0; i < N_WEIGHT_TYPES; i++)
	{
		llm_type	t = weight_types[i].t;
		int			bs = (int) llm_type_get(t)->block_size;
		int			blk = bs == 1 ? 32 : bs;
		double		worst = 0.0;
		double		rel;

		/* error allowed, relative to the block's largest |x| */
		switch (t)
		{
			case LLM_TYPE_F32:
				rel = 0.0;
				break;
			case LLM_TYPE_F16:
				rel = 1.0 / 2048;
				break;
			case LLM_TYPE_BF16:
				rel = 1.0 / 256;
				break;
			case LLM_TYPE_Q4_0:
				rel = 1.0 / 8 + 1e-3;
				break;
			case LLM_TYPE_Q4_1:
				rel = 2.0 / 30 + 2e-3;
				break;
			case LLM_TYPE_Q5_0:
				rel = 1.0 / 16 + 1e-3;
				break;
			case LLM_TYPE_Q5_1:
				rel = 2.0 / 62 + 2e-3;
				break;
			case LLM_TYPE_Q8_0:
				rel = 1.0 / 254 + 1e-3;
				break;
			case LLM_TYPE_Q4_K:
				rel = 0.15;
				break;
			case LLM_TYPE_Q5_K:
				rel = 0.08;
				break;
			default:			/* q6_K */
				rel = 0.04;
				break;
		}
		for (int rep = 0; rep < 4; rep++)
		{
			rnd_floats(&s, x, n);
			if (rep == 1)
				for (int j = 0; j < n; j++)
					x[j] = fabsf(x[j]) + 0.25f;	/* all positive */
			if (rep == 2)
				memset(x, 0, 64 * sizeof(float));
			ks->type[t].from_float(x, q, n);
			ks->type[t].to_float(q, y, n);
			for (int64_t b = 0; b < n; b += blk)
			{
				double		amax = 0.0;
				double		err = 0.0;

				for (int j = 0; j < blk; j++)
				{
					amax = fmax(amax, fabs(x[b + j]));
					err = fmax(err, fabs((double) x[b + j] - y[b + j]));
				}
				if (amax > 0)
					worst = fmax(worst, err / amax);
				else if (err > 0)
					worst = INFINITY;
			}
		}
		ok(worst <= rel, "%s from_float/to_float round trip: max error %.4f of block max (limit %.4f)",
		   llm_type_name(t), worst, rel);
	}
}

/*
 * vec_dot: scalar against a double-precision dot of the dequantized rows,
 * AVX2 against scalar.
 */
static void
test_vec_dot(const llm_kernels *ks, const llm_kernels *ka, int have_avx2)
{
	static uint8_t wq[MAX_N * 4];
	static uint8_t aq[MAX_N * 4];
	static float wf[MAX_N];
	static float af[MAX_N];
	static float x[MAX_N];
	uint64_t	s = 1234;

	for (int i = 0; i < N_WEIGHT_TYPES; i++)
	{
		llm_type	t = weight_types[i].t;
		llm_type	at = weight_types[i].act;
		int			bs = (int) llm_type_get(t)->block_size;
		int			good_ref = 1;
		int			good_avx = 1;
		double		worst_ref = 0.0;
		double		worst_avx = 0.0;

		for (int rep = 0; rep < 12; rep++)
		{
			/* lengths with odd block counts and vector tails */
			int64_t		n = bs == 256 ? 256 * (1 + rep % 6) : bs == 32 ? 32 * (1 + 7 * rep) : 1 + 67 * rep;
			double		exact = 0.0;
			double		mag = 0.0;
			double		extra = 0.0;
			float		rs;
			float		ra;

			if (rep % 2 == 0)
				rnd_row(&s, t, wq, n);	/* random bits */
			else
			{
				rnd_floats(&s, x, n);	/* quantized data */
				ks->type[t].from_float(x, wq, n);
			}
			rnd_floats(&s, x, n);
			ks->type[at].from_float(x, aq, n);
			ks->type[t].to_float(wq, wf, n);
			ks->type[at].to_float(aq, af, n);
			for (int64_t j = 0; j < n; j++)
			{
				exact += (double) wf[j] * af[j];
				mag += fabs((double) wf[j] * af[j]);
			}
			/* q4_1 / q5_1 use s = fp16(d * sum(q)): one half rounding per block */
			if (at == LLM_TYPE_Q8_1)
				for (int64_t b = 0; b < n / 32; b++)
				{
					const llm_block_q8_1 *ab = (const llm_block_q8_1 *) aq + b;
					uint16_t	m = t == LLM_TYPE_Q4_1 ? ((const llm_block_q4_1 *) wq)[b].m
						: ((const llm_block_q5_1 *) wq)[b].m;

					extra += fabs(llm_fp16_to_fp32(m) * llm_fp16_to_fp32(ab->s)) / 1024.0;
				}
			ks->type[t].vec_dot(n, &rs, wq, aq);
			if (fabs(rs - exact) > 1e-5 * mag + extra + 1e-30)
				good_ref = 0;
			worst_ref = fmax(worst_ref, fabs(rs - exact) / (mag + extra + 1e-30));
			if (have_avx2)
			{
				ka->type[t].vec_dot(n, &ra, wq, aq);
				if (!(fabs(ra - rs) <= 1e-4 * mag + 1e-30))
					good_avx = 0;
				worst_avx = fmax(worst_avx, fabs(ra - rs) / (mag + 1e-30));
			}
		}
		ok(good_ref, "scalar vec_dot %s.%s matches the double dot of the dequantized rows (worst %.2g)",
		   llm_type_name(t), llm_type_name(at), worst_ref);
		if (have_avx2)
			ok(good_avx, "avx2 vec_dot %s.%s matches scalar (worst %.2g of sum |w a|)",
			   llm_type_name(t), llm_type_name(at), worst_avx);
	}
}

/*
 * dot_f32, axpy_f32, scale_f32: scalar against double math, AVX2 against
 * scalar, over lengths that exercise the vector tails.
 */
static void
test_f32_helpers(const llm_kernels *ks, const llm_kernels *ka, int have_avx2)
{
	static const int lens[] = {0, 1, 5, 8, 13, 32, 33, 100, 1000, 1031};
	static float x[2048];
	static float y0[2048];
	static float y1[2048];
	static float y2[2048];
	uint64_t	s = 5;
	int			good_dot = 1;
	int			good_axpy = 1;
	int			good_scale = 1;

	for (int li = 0; li < (int) (sizeof(lens) / sizeof(lens[0])); li++)
	{
		int			n = lens[li];
		double		exact = 0.0;
		double		mag = 0.0;
		float		a = rnd_f(&s) * 3.0f;

		rnd_floats(&s, x, n);
		rnd_floats(&s, y0, n);
		for (int j = 0; j < n; j++)
		{
			exact += (double) x[j] * y0[j];
			mag += fabs((double) x[j] * y0[j]);
		}
		if (fabs(ks->dot_f32(n, x, y0) - exact) > 1e-6 * mag)
			good_dot = 0;
		if (have_avx2 && fabs(ka->dot_f32(n, x, y0) - exact) > 1e-5 * mag)
			good_dot = 0;

		memcpy(y1, y0, n * sizeof(float));
		memcpy(y2, y0, n * sizeof(float));
		ks->axpy_f32(n, a, x, y1);
		if (have_avx2)
			ka->axpy_f32(n, a, x, y2);
		for (int j = 0; j < n; j++)
		{
			double		want = (double) y0[j] + (double) a * x[j];
			double		tol = 1.2e-7 * (fabs(a * x[j]) + fabs(y0[j])) + 1e-38;

			if (fabs(y1[j] - want) > tol || (have_avx2 && fabs(y2[j] - want) > tol))
				good_axpy = 0;
		}

		memcpy(y1, y0, n * sizeof(float));
		memcpy(y2, y0, n * sizeof(float));
		ks->scale_f32(n, a, y1);
		if (have_avx2)
			ka->scale_f32(n, a, y2);
		for (int j = 0; j < n; j++)
			if (y1[j] != y0[j] * a || (have_avx2 && y2[j] != y1[j]))
				good_scale = 0;
	}
	ok(good_dot, "dot_f32 (scalar%s) within rounding of the double dot", have_avx2 ? ", avx2" : "");
	ok(good_axpy, "axpy_f32 (scalar%s) within rounding of y + a x", have_avx2 ? ", avx2" : "");
	ok(good_scale, "scale_f32 (scalar%s) exact", have_avx2 ? ", avx2" : "");
}

/*
 * dot_f32_rows and axpy_f32_rows: bit-identical, for each kernel set, to
 * the loops of dot_f32 and axpy_f32 they stand for (the attention of a
 * token must not change when it is computed this way), over head sizes
 * with and without vector tails and row counts around the 4-row groups.
 * Their f16 forms (the f16 KV cache) must give the bits of the f32 ones
 * on the rows widened from f16, so that cache changes attention only by
 * the rounding of the stored values.
 */
static void
test_f32_rows(const llm_kernels *k, const char *isa)
{
	static const int lens[] = {8, 13, 32, 64, 72, 128, 130};
	static float x[16 * 160];
	static float q[160];
	static float a[16];
	static float got[16];
	static float y1[160];
	static float y2[160];
	static uint16_t h[16 * 160];
	static float want[16];
	uint64_t	s = 11;
	int			good_dot = 1;
	int			good_axpy = 1;
	int			good_dot16 = 1;
	int			good_axpy16 = 1;

	for (int li = 0; li < (int) (sizeof(lens) / sizeof(lens[0])); li++)
		for (int rows = 0; rows <= 9; rows++)
		{
			int			n = lens[li];
			int			stride = n + 3;
			float		scale = 0.125f + rnd_f(&s);

			rnd_floats(&s, x, rows * stride);
			rnd_floats(&s, q, n);
			rnd_floats(&s, a, rows);
			rnd_floats(&s, y1, n);
			memcpy(y2, y1, n * sizeof(float));
			k->dot_f32_rows(n, q, x, stride, rows, scale, got);
			for (int r = 0; r < rows; r++)
				if (memcmp(&got[r], &(float) {k->dot_f32(n, q, x + r * stride) * scale}, sizeof(float)) != 0)
					good_dot = 0;
			k->axpy_f32_rows(n, a, x, stride, rows, y1);
			for (int r = 0; r < rows; r++)
				k->axpy_f32(n, a[r], x + r * stride, y2);
			if (memcmp(y1, y2, n * sizeof(float)) != 0)
				good_axpy = 0;
			/* the same rows through f16 */
			for (int i = 0; i < rows * stride; i++)
			{
				h[i] = llm_fp32_to_fp16(x[i]);
				x[i] = llm_fp16_to_fp32(h[i]);
			}
			memcpy(y2, y1, n * sizeof(float));
			k->dot_f16_rows(n, q, h, stride, rows, scale, got);
			k->dot_f32_rows(n, q, x, stride, rows, scale, want);
			if (rows > 0 && memcmp(got, want, rows * sizeof(float)) != 0)
				good_dot16 = 0;
			k->axpy_f16_rows(n, a, h, stride, rows, y1);
			k->axpy_f32_rows(n, a, x, stride, rows, y2);
			if (memcmp(y1, y2, n * sizeof(float)) != 0)
				good_axpy16 = 0;
		}
	ok(good_dot, "%s dot_f32_rows bit-identical to dot_f32 row by row", isa);
	ok(good_axpy, "%s axpy_f32_rows bit-identical to axpy_f32 row by row", isa);
	ok(good_dot16, "%s dot_f16_rows bit-identical to dot_f32_rows on the widened rows", isa);
	ok(good_axpy16, "%s axpy_f16_rows bit-identical to axpy_f32_rows on the widened rows", isa);
}

/*
 * One gemm check of table k for weight type t: nr random weight rows
 * against nc random activation rows of n elements, output rows of ldy
 * floats. The gemm results must be the bits of vec_dot on every pair (so
 * batching never changes results), also when the activation rows are
 * split into two calls at split; padding past nr must stay untouched.
 * With ref (the scalar table) given, the results must also be close to
 * the scalar gemm's. Returns false on any failure; worst gets the largest
 * relative difference from the scalar gemm.
 */
static bool
gemm_case(const llm_kernels *k, const llm_kernels *ref, llm_type t, uint64_t *seed,
		  int64_t n, int64_t nr, int64_t nc, int64_t split, double *worst)
{
	const llm_type_ops *op = &k->type[t];
	llm_type	at = op->vec_dot_type;
	size_t		wb = llm_row_size(t, n),
				ab = llm_row_size(at, n);
	int64_t		ldy = nr + 3;
	char	   *w = malloc(wb * (size_t) nr);
	char	   *a = malloc(ab * (size_t) nc);
	float	   *x = malloc(sizeof(float) * (size_t) n);
	float	   *wf = malloc(sizeof(float) * (size_t) n);
	float	   *af = malloc(sizeof(float) * (size_t) n);
	float	   *y = malloc(sizeof(float) * (size_t) (ldy * nc));
	float	   *y2 = malloc(sizeof(float) * (size_t) (ldy * nc));
	float	   *yr = malloc(sizeof(float) * (size_t) (ldy * nc));
	bool		good = true;

	if (!w || !a || !x || !wf || !af || !y || !y2 || !yr)
	{
		free(w), free(a), free(x), free(wf), free(af), free(y), free(y2), free(yr);
		return false;
	}
	for (int64_t r = 0; r < nr; r++)
		rnd_row(seed, t, w + r * wb, n);
	for (int64_t c = 0; c < nc; c++)
	{
		rnd_floats(seed, x, n);
		if (c == 1)
			memset(x, 0, sizeof(float) * (size_t) n);	/* an all-zero row */
		k->type[at].from_float(x, a + c * ab, n);
	}
	for (int64_t i = 0; i < ldy * nc; i++)
		y[i] = y2[i] = yr[i] = -12345.0f;
	op->gemm(n, nr, nc, w, wb, a, ab, y, ldy);
	op->gemm(n, nr, split, w, wb, a, ab, y2, ldy);
	op->gemm(n, nr, nc - split, w, wb, a + split * ab, ab, y2 + split * ldy, ldy);
	if (ref)
		ref->type[t].gemm(n, nr, nc, w, wb, a, ab, yr, ldy);
	for (int64_t c = 0; c < nc; c++)
	{
		for (int64_t r = 0; r < ldy; r++)
		{
			float		s;

			if (r >= nr)
			{
				good &= y[c * ldy + r] == -12345.0f && y2[c * ldy + r] == -12345.0f;
				continue;
			}
			op->vec_dot(n, &s, w + r * wb, a + c * ab);
			good &= memcmp(&s, &y[c * ldy + r], sizeof(s)) == 0;
			good &= memcmp(&s, &y2[c * ldy + r], sizeof(s)) == 0;
			if (ref)
			{
				double		mag = 0.0,
							d = fabs((double) yr[c * ldy + r] - s);

				k->type[t].to_float(w + r * wb, wf, n);
				k->type[at].to_float(a + c * ab, af, n);
				for (int64_t j = 0; j < n; j++)
					mag += fabs((double) wf[j] * af[j]);
				if (!(d <= 1e-4 * mag + 1e-30))
					good = false;
				*worst = fmax(*worst, d / (mag + 1e-30));
			}
		}
	}
	free(w), free(a), free(x), free(wf), free(af), free(y), free(y2), free(yr);
	return good;
}

/*
 * Every gemm kernel (a block of weight rows against a block of activation
 * rows) must give exactly the bits of vec_dot on each pair, whatever the
 * numbers of rows (1..17 activation rows, odd block counts, rows longer
 * than the AVX2 kernel's stack buffers); the AVX2 ones must also be close
 * to the scalar ones.
 */
static void
test_gemm(const llm_kernels *ks, const llm_kernels *ka, int have_avx2)
{
	static const int64_t ns[] = {32, 96, 576, 32 * 37, 32 * 300};
	uint64_t	seed = 99;
	int			n_checked = 0;

	for (int isa = 0; isa < (have_avx2 ? 2 : 1); isa++)
	{
		const llm_kernels *k = isa ? ka : ks;

		for (int t = 0; t < LLM_TYPE_COUNT; t++)
		{
			bool		good = true;
			double		worst = 0.0;

			if (k->type[t].gemm == NULL)
				continue;
			for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
				for (int64_t nc = 1; nc <= 17; nc += (ns[i] > 1000 ? 8 : 1))
				{
					int64_t		nr = 1 + (int64_t) (rnd_u64(&seed) % 13);
					int64_t		split = (int64_t) (rnd_u64(&seed) % (uint64_t) (nc + 1));

					good &= gemm_case(k, isa ? ks : NULL, (llm_type) t, &seed, ns[i], nr,
									  nc, split, &worst);
				}
			ok(good, "%s gemm == vec_dot bit for bit for every pair and grouping (%s)%s",
			   llm_type_name(t), k->isa, isa ? ", close to scalar gemm" : "");
			if (isa)
				diag("%s gemm: worst relative difference avx2 vs scalar %.2g",
					 llm_type_name(t), worst);
			n_checked++;
		}
	}
	ok(ks->type[LLM_TYPE_Q4_1].gemm != NULL && ks->type[LLM_TYPE_Q8_0].gemm != NULL,
	   "scalar table has the q4_1 and q8_0 gemm references");
	if (n_checked == 0)
		skip("no gemm kernels");
}

/*
 * One check of the packed 8-row products of table k for weight type t:
 * ng groups of random rows (with extreme blocks: every q4_1 nibble 15, or
 * every q8_0 value 127 or -128, against activations of +-127, the int16
 * worst cases of the AVX2 kernel) packed
 * with pack8, against nc activation rows of n elements. Results must be
 * the same bits when the activation rows or the groups are split over two
 * calls, the bits of ref's gemm8 when ref is given, and close to vec_dot
 * of the unpacked rows; padding past the rows must stay untouched.
 */
static bool
gemm8_case(const llm_kernels *k, const llm_kernels *ref, llm_type t, uint64_t *seed,
		   int64_t n, int64_t ng, int64_t nc, int64_t split, int64_t gsplit)
{
	const llm_type_ops *op = &k->type[t];
	llm_type	at = op->vec_dot_type;
	int64_t		nr = 8 * ng,
				ldy = nr + 5;
	size_t		wb = llm_row_size(t, n),
				ab = llm_row_size(at, n);
	char	   *w = malloc(wb * (size_t) nr);
	char	   *w8 = malloc(wb * (size_t) nr);
	char	   *a = malloc(ab * (size_t) nc);
	float	   *x = malloc(sizeof(float) * (size_t) n);
	float	   *y = malloc(sizeof(float) * (size_t) (ldy * nc));
	float	   *y2 = malloc(sizeof(float) * (size_t) (ldy * nc));
	float	   *y3 = malloc(sizeof(float) * (size_t) (ldy * nc));
	float	   *yr = malloc(sizeof(float) * (size_t) (ldy * nc));
	bool		good = true;

	if (!w || !w8 || !a || !x || !y || !y2 || !y3 || !yr)
	{
		free(w), free(w8), free(a), free(x), free(y), free(y2), free(y3), free(yr);
		return false;
	}
	for (int64_t r = 0; r < nr; r++)
	{
		rnd_row(seed, t, w + r * wb, n);
		if (t == LLM_TYPE_Q4_1 && r % 3 == 0)
			memset(((llm_block_q4_1 *) (w + r * wb))->qs, 0xff, LLM_QK / 2);
		if (t == LLM_TYPE_Q8_0 && r % 3 == 0)
			memset(((llm_block_q8_0 *) (w + r * wb))->qs, r % 2 ? 0x7f : 0x80, LLM_QK);
	}
	for (int64_t g = 0; g < ng; g++)
		op->pack8(n, w + g * 8 * wb, wb, w8 + g * 8 * wb);
	for (int64_t c = 0; c < nc; c++)
	{
		rnd_floats(seed, x, n);
		if (c == 1)
			memset(x, 0, sizeof(float) * (size_t) n);	/* an all-zero row */
		if (c == 2 || c == 3)	/* block 0 all +127, or all -127 */
			for (int64_t j = 0; j < LLM_QK; j++)
				x[j] = c == 2 ? 1.0f : -1.0f;
		k->type[at].from_float(x, a + c * ab, n);
	}
	for (int64_t i = 0; i < ldy * nc; i++)
		y[i] = y2[i] = y3[i] = yr[i] = -12345.0f;
	op->gemm8(n, ng, nc, w8, a, ab, y, ldy);
	op->gemm8(n, ng, split, w8, a, ab, y2, ldy);
	op->gemm8(n, ng, nc - split, w8, a + split * ab, ab, y2 + split * ldy, ldy);
	op->gemm8(n, gsplit, nc, w8, a, ab, y3, ldy);
	op->gemm8(n, ng - gsplit, nc, w8 + gsplit * 8 * wb, a, ab, y3 + 8 * gsplit, ldy);
	if (ref)
		ref->type[t].gemm8(n, ng, nc, w8, a, ab, yr, ldy);
	for (int64_t c = 0; c < nc; c++)
		for (int64_t r = 0; r < ldy; r++)
		{
			float		v = y[c * ldy + r],
						s;

			if (r >= nr)
			{
				good &= v == -12345.0f && y2[c * ldy + r] == -12345.0f &&
					y3[c * ldy + r] == -12345.0f;
				continue;
			}
			good &= memcmp(&v, &y2[c * ldy + r], sizeof(v)) == 0;
			good &= memcmp(&v, &y3[c * ldy + r], sizeof(v)) == 0;
			if (ref)
				good &= memcmp(&v, &yr[c * ldy + r], sizeof(v)) == 0;
			op->vec_dot(n, &s, w + r * wb, a + c * ab);
			good &= fabs((double) v - s) <= 1e-5 * (fabs((double) s) + 1.0) * sqrt((double) n);
		}
	free(w), free(w8), free(a), free(x), free(y), free(y2), free(y3), free(yr);
	return good;
}

/*
 * All-extreme blocks for the packed products of table k against ref, bit
 * for bit: 16 rows (2 groups) of 4 blocks of one constant weight (q4_1:
 * nibbles 15 or 0 with random scales; q8_0: 127, -128, -127 or 0) against
 * 8 activation rows whose blocks are one constant byte (+127, -127, or,
 * q8_0 only, -128, which from_float never makes but the layout allows),
 * so that every block sum is at its extreme.
 */
static bool
gemm8_extreme(const llm_kernels *k, const llm_kernels *ref, llm_type t)
{
	enum
	{
	NB = 4, NG = 2, NR = 8 * NG, NC = 8};
	static const int8_t wq8[] = {127, -128, -127, 0};
	static const int8_t aq[] = {127, -127, -128, 127, -128, -127, 0, 127};
	const llm_type_ops *op = &k->type[t];
	const bool	q41 = t == LLM_TYPE_Q4_1;
	size_t		wb = llm_row_size(t, NB * LLM_QK),
				ab = llm_row_size(op->vec_dot_type, NB * LLM_QK);
	char		w[NR * NB * sizeof(llm_block_q4_1x8)],
				w8[NR * NB * sizeof(llm_block_q4_1x8)],
				a[NC * NB * sizeof(llm_block_q8_1)];
	float		y[NC * NR],
				yr[NC * NR];
	uint64_t	seed = 99;

	for (int r = 0; r < NR; r++)
		for (int i = 0; i < NB; i++)
		{
			uint16_t	d = llm_fp32_to_fp16(0.001f + 0.01f * (float) (rnd_u64(&seed) % 100));

			if (q41)
			{
				llm_block_q4_1 *b = (llm_block_q4_1 *) (w + r * wb) + i;

				b->d = d;
				b->m = llm_fp32_to_fp16(-0.5f + 0.01f * (float) (rnd_u64(&seed) % 100));
				memset(b->qs, (r + i) % 4 == 3 ? 0x00 : 0xff, sizeof(b->qs));
			}
			else
			{
				llm_block_q8_0 *b = (llm_block_q8_0 *) (w + r * wb) + i;

				b->d = d;
				memset(b->qs, (uint8_t) wq8[(r + i) % 4], sizeof(b->qs));
			}
		}
	for (int g = 0; g < NG; g++)
		op->pack8(NB * LLM_QK, w + g * 8 * wb, wb, w8 + g * 8 * wb);
	for (int c = 0; c < NC; c++)
		for (int i = 0; i < NB; i++)
		{
			int8_t		q = aq[(c + i) % 8];
			uint16_t	d = llm_fp32_to_fp16(0.002f + 0.001f * (float) (rnd_u64(&seed) % 100));

			if (q41 && q == -128)
				q = -127;
			if (q41)
			{
				llm_block_q8_1 *b = (llm_block_q8_1 *) (a + c * ab) + i;

				b->d = d;
				b->s = llm_fp32_to_fp16(llm_fp16_to_fp32(d) * 32.0f * q);
				memset(b->qs, (uint8_t) q, sizeof(b->qs));
			}
			else
			{
				llm_block_q8_0 *b = (llm_block_q8_0 *) (a + c * ab) + i;

				b->d = d;
				memset(b->qs, (uint8_t) q, sizeof(b->qs));
			}
		}
	op->gemm8(NB * LLM_QK, NG, NC, w8, a, ab, y, NR);
	ref->type[t].gemm8(NB * LLM_QK, NG, NC, w8, a, ab, yr, NR);
	return memcmp(y, yr, sizeof(y)) == 0;
}

/*
 * Every packed 8-row product (gemm8) must give the same bits for any split
 * of its groups and activation rows, the AVX2 kernels the bits of the
 * scalar reference (so the packed layout makes results independent of the
 * batch and of the ISA), on rows short and long enough for every path of
 * the AVX2 kernel (in-register unpacking, scratch copy, fewer activation
 * rows per call as rows get long, up to LLM_GEMM8_MAX_N); and close to
 * vec_dot of the unpacked rows.
 */
static void
test_gemm8(const llm_kernels *ks, const llm_kernels *ka, int have_avx2)
{
	static const int64_t ns[] = {32, 96, 576, 32 * 37, 32 * 200, 32 * 600, LLM_GEMM8_MAX_N};
	uint64_t	seed = 4242;

	ok(ks->type[LLM_TYPE_Q4_1].pack8 != NULL && ks->type[LLM_TYPE_Q4_1].gemm8 != NULL,
	   "scalar table has the q4_1 8-row pack and product");
	for (int isa = 0; isa < (have_avx2 ? 2 : 1); isa++)
	{
		const llm_kernels *k = isa ? ka : ks;

		for (int t = 0; t < LLM_TYPE_COUNT; t++)
		{
			bool		good = true;

			/* the K-quants' layouts are tested by test_pack_k.c */
			if (k->type[t].gemm8 == NULL || llm_type_get((llm_type) t)->block_size != LLM_QK)
				continue;
			for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
				for (int64_t nc = 1; nc <= 19; nc += (ns[i] > 100000 ? 9 : ns[i] > 1000 ? 6 : 1))
				{
					int64_t		ng = 1 + (int64_t) (rnd_u64(&seed) % 3);
					int64_t		split = (int64_t) (rnd_u64(&seed) % (uint64_t) (nc + 1));
					int64_t		gsplit = (int64_t) (rnd_u64(&seed) % (uint64_t) (ng + 1));

					good &= gemm8_case(k, isa ? ks : NULL, (llm_type) t, &seed, ns[i], ng, nc,
									   split, gsplit);
				}
			ok(good, "%s gemm8 (%s): same bits for every split%s, close to vec_dot",
			   llm_type_name(t), k->isa, isa ? " and as the scalar gemm8" : "");
		}
	}
}

/*
 * Every type with an 8-row layout has row8_to_float, and row r of a packed
 * group of random rows unpacks to the same bits as to_float (of the
 * scalar table and of the AVX2 one) on row r before packing, for short
 * and long rows and several groups: what the tied token embedding lookup
 * reads from the packed copy.
 */
static void
test_row8_to_float(const llm_kernels *ks, const llm_kernels *ka)
{
	static const llm_type types[] = {LLM_TYPE_Q4_1, LLM_TYPE_Q8_0};
	static const int64_t ns[] = {32, 576, 32 * 37};
	uint64_t	seed = 777;

	for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++)
	{
		llm_type	t = types[ti];
		const llm_type_ops *op = &ks->type[t];
		bool		good = op->pack8 != NULL && op->row8_to_float != NULL &&
			ka->type[t].row8_to_float != NULL;

		for (size_t i = 0; good && i < sizeof(ns) / sizeof(ns[0]); i++)
		{
			int64_t		n = ns[i],
						ng = 3;
			size_t		wb = llm_row_size(t, n);
			char	   *w = malloc(8 * ng * wb),
					   *w8 = malloc(8 * ng * wb);
			float	   *y = malloc(sizeof(float) * n),
					   *yr = malloc(sizeof(float) * n),
					   *ya = malloc(sizeof(float) * n);

			if (w == NULL || w8 == NULL || y == NULL || yr == NULL || ya == NULL)
				good = false;
			for (int64_t r = 0; good && r < 8 * ng; r++)
				rnd_row(&seed, t, w + r * wb, n);
			for (int64_t g = 0; good && g < ng; g++)
				op->pack8(n, w + g * 8 * wb, wb, w8 + g * 8 * wb);
			for (int64_t r = 0; good && r < 8 * ng; r++)
			{
				const char *grp = w8 + (r / 8) * 8 * wb;

				op->to_float(w + r * wb, yr, n);
				op->row8_to_float(n, grp, (int) (r % 8), y);
				ka->type[t].row8_to_float(n, grp, (int) (r % 8), ya);
				if (memcmp(y, yr, sizeof(float) * n) != 0 || memcmp(ya, yr, sizeof(float) * n) != 0)
					good = false;
				ka->type[t].to_float(w + r * wb, yr, n);
				if (memcmp(y, yr, sizeof(float) * n) != 0)
					good = false;
			}
			free(w);
			free(w8);
			free(y);
			free(yr);
			free(ya);
		}
		ok(good, "%s row8_to_float: every row of packed groups has the bits of to_float (%s, %s)",
		   llm_type_name(t), ks->isa, ka->isa);
	}
}

/*
 * The AVX-512 VNNI packed products (table kx) against the scalar
 * reference, bit for bit: the cases of test_gemm8 (every row length path,
 * activation-row counts 1..19 so that every tile size 8, 4, 2, 1 occurs,
 * random splits of rows and groups, the extreme blocks of gemm8_case),
 * then every split of a 19-row batch and of 3 groups on short rows, and
 * blocks of all-extreme weights against all-extreme activations (q4_1
 * nibbles 15 against +-127; q8_0 +127 and -128 against +-127 and -128,
 * which the xor-128 form must get right too). Prints a SKIP line when
 * the CPU lacks AVX-512 VNNI.
 */
static void
test_gemm8_avx512(const llm_kernels *ks, const llm_kernels *kx, int have_avx512)
{
	static const int64_t ns[] = {32, 96, 576, 32 * 37, 32 * 200, 32 * 600, LLM_GEMM8_MAX_N};
	static const llm_type ts[] = {LLM_TYPE_Q4_1, LLM_TYPE_Q8_0};
	uint64_t	seed = 777;

	if (!have_avx512)
	{
		tap_skip_n(AVX512_CHECKS, "no AVX-512 VNNI: avx512 gemm8 comparison");
		return;
	}
	ok(strcmp(kx->isa, "avx512") == 0 &&
	   kx->type[LLM_TYPE_Q4_1].gemm8 != ks->type[LLM_TYPE_Q4_1].gemm8 &&
	   kx->type[LLM_TYPE_Q8_0].gemm8 != ks->type[LLM_TYPE_Q8_0].gemm8,
	   "avx512 table has its own q4_1 and q8_0 gemm8");
	for (size_t ti = 0; ti < sizeof(ts) / sizeof(ts[0]); ti++)
	{
		llm_type	t = ts[ti];
		bool		good = true;

		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
			for (int64_t nc = 1; nc <= 19; nc += (ns[i] > 100000 ? 9 : ns[i] > 1000 ? 6 : 1))
			{
				int64_t		ng = 1 + (int64_t) (rnd_u64(&seed) % 3);
				int64_t		split = (int64_t) (rnd_u64(&seed) % (uint64_t) (nc + 1));
				int64_t		gsplit = (int64_t) (rnd_u64(&seed) % (uint64_t) (ng + 1));

				good &= gemm8_case(kx, ks, t, &seed, ns[i], ng, nc, split, gsplit);
			}
		ok(good, "%s gemm8 (avx512): same bits as the scalar gemm8 for every length path", llm_type_name(t));

		good = true;
		for (int64_t split = 0; split <= 19; split++)
			for (int64_t gsplit = 0; gsplit <= 3; gsplit++)
				good &= gemm8_case(kx, ks, t, &seed, 96, 3, 19, split, gsplit);
		ok(good, "%s gemm8 (avx512): same bits as the scalar gemm8 for every row and group split",
		   llm_type_name(t));
		good = gemm8_extreme(kx, ks, t);
		ok(good, "%s gemm8 (avx512): same bits as the scalar gemm8 on all-extreme blocks", llm_type_name(t));
	}
}

/*
 * Run all checks (or the benchmark with --bench).
 */
int
main(void)
{
	llm_kernels ks;
	llm_kernels ka;
	llm_kernels kx;
	int			have_avx2 = llm_cpu_has_avx2();
	int			have_avx512 = llm_cpu_has_avx512();

	/* LLM_TEST_NO_AVX2=1 runs the checks as on a CPU without AVX2 */
	if (getenv("LLM_TEST_NO_AVX2") && *getenv("LLM_TEST_NO_AVX2"))
		have_avx2 = have_avx512 = 0;
	/* LLM_TEST_NO_AVX512=1 as on a CPU without AVX-512 VNNI */
	if (getenv("LLM_TEST_NO_AVX512") && *getenv("LLM_TEST_NO_AVX512"))
		have_avx512 = 0;
	llm_kernels_init_scalar(&ks);
	if (have_avx512)
		llm_kernels_init(&kx, "avx512");
	else
		llm_kernels_init_scalar(&kx);
	if (have_avx2)
		llm_kernels_init(&ka, "avx2");
	else
		llm_kernels_init_scalar(&ka);
	tap_plan(KERNELS_CHECKS);

	diag("cpu has avx2: %s, avx512 vnni: %s", have_avx2 ? "yes" : "no", have_avx512 ? "yes" : "no");
	test_tables(&ks, &ka, have_avx2);
	test_half(&ks, &ka, have_avx2);
	test_fixtures(&ks, &ka, have_avx2);
	if (have_avx2)
		test_to_float(&ks, &ka);
	else
		skip("no AVX2: to_float comparison");
	test_from_float(&ks, &ka, have_avx2);
	test_roundtrip(&ks);
	test_vec_dot(&ks, &ka, have_avx2);
	test_f32_helpers(&ks, &ka, have_avx2);
	test_f32_rows(&ks, "scalar");
	if (have_avx2)
		test_f32_rows(&ka, "avx2");
	test_gemm(&ks, &ka, have_avx2);
	test_gemm8(&ks, &ka, have_avx2);
	test_row8_to_float(&ks, &ka);
	test_gemm8_avx512(&ks, &kx, have_avx512);
	if (have_avx512)
		test_f32_rows(&kx, "avx512");
	else
		tap_skip_n(4, "no AVX-512: its attention helpers");
	if (!have_avx2)
		tap_skip_n(KERNELS_AVX2_ONLY, "no AVX2: the checks of the avx2 kernels");
	return tap_done();
}
