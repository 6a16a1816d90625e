/*
 * test_cuda.c - the CUDA backend (llm_cuda.so, kernels/).
 *
 * On every machine (host side, HOST_CHECKS): llm_engine_new with device
 * "cuda" fails with LLM_ERR_NO_DEVICE saying "no CUDA device was found"
 * when the module loads but sees no GPU (or "could not load" when it was
 * not built); "auto" then runs on the CPU with a note and gives exactly
 * the CPU engine's logits; a missing module, a library that is not our
 * module, a module of another ABI and an unknown device are clear
 * errors; a CPU engine refuses a sequence whose KV cache is on a device,
 * and llm_seq_free hands such a cache back to its owner.
 *
 * With a GPU (GPU_CHECKS; else they are printed as skips, which are not
 * passes), against the CPU reference on random inputs:
 *   - matrix products of every weight type (f32, f16, bf16, q4_0, q4_1,
 *     q5_0, q5_1, q8_0, q4_K, q5_K, q6_K), 64 rows of 512:
 *       decode path (3 tokens; 8-bit activations, __dp4a; float matvec for
 *       the float types): |gpu - ref| <= 2e-3 * sum|w x| for quantized
 *       types (the activations' 8-bit rounding), 1e-5 * sum|w x| for float
 *       types;
 *       prefill path (20 tokens; f16 dequantization + cublasGemmEx):
 *       |gpu - ref| <= 4e-3 * sum|w x| (inputs and weights rounded to f16);
 *     ref = the CPU's dequantized weights (to_float) times x in double;
 *   - embedding rows of every type: |gpu - to_float * scale| <= 1e-5 * (1 + |ref|);
 *   - RMSNorm, SiLU and GELU gates: |gpu - ref| <= 1e-5 * (1 + |ref|);
 *   - whole steps of every tiny fixture model (make fixtures), GPU vs CPU
 *     engine: a prefill batch of three sequences of 1, 6 and 13 tokens
 *     (cuBLAS path, mixed lengths), then a decode step of one token each
 *     (dp4a path): max |logit gpu - logit cpu| <= 5e-2 * max |logit cpu|.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model_int.h"
#include "tap.h"

#define HOST_CHECKS 9
#define N_TYPES 11
#define N_MODELS 12
#define GPU_CHECKS (2 * N_TYPES + 4 + 2 * N_MODELS)

static const llm_type types[N_TYPES] = {
	LLM_TYPE_F32, LLM_TYPE_F16, LLM_TYPE_BF16, LLM_TYPE_Q4_0, LLM_TYPE_Q4_1, LLM_TYPE_Q5_0,
	LLM_TYPE_Q5_1, LLM_TYPE_Q8_0, LLM_TYPE_Q4_K, LLM_TYPE_Q5_K, LLM_TYPE_Q6_K
};
static const char *const models[N_MODELS] = {
	"f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k", "q6_k",
	"qwen2-f32"
};

typedef int (*matmul_fn) (int, int64_t, int64_t, size_t, const void *, int64_t, const float *,
						  float *, int, char *);
typedef int (*rows_fn) (int, int64_t, int64_t, size_t, const void *, const int32_t *, int64_t,
						float, float *, char *);
typedef int (*rmsnorm_fn) (const float *, const float *, int64_t, int64_t, float, float *, char *);
typedef int (*glu_fn) (const float *, const float *, int64_t, int, float *, char *);

static uint64_t rng = 0x9E3779B97F4A7C15ull;

/* uniform in [-1, 1) */
static float
frand(void)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (float) ((double) (rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* where the module is: $LLM_CUDA_MODULE, else $BUILD/llm_cuda.so */
static const char *
module_path(void)
{
	static char buf[512];
	const char *env = getenv("LLM_CUDA_MODULE");
	const char *build = getenv("BUILD");

	if (env && env[0])
		return env;
	snprintf(buf, sizeof(buf), "%s/llm_cuda.so", build && build[0] ? build : "build");
	return buf;
}

/* a tiny fixture model's path */
static const char *
fixture(const char *name)
{
	static char buf[512];
	const char *dir = getenv("LLM_FIXTURE_DIR");

	snprintf(buf, sizeof(buf), "%s/tiny-%s.gguf", dir ? dir : "build/fixtures", name);
	return buf;
}

/* ------------------------------------------------------------ host side */

static int	released;

/* the foreign cache's release hook */
static void
fake_release(llm_seq *s)
{
	released++;
	s->dev = NULL;
	s->dev_ops = NULL;
}

/* the foreign cache's copy hook (never called here) */
static int
fake_copy(llm_seq *dst, const llm_seq *src, int32_t n, char *err)
{
	return llm_err(err, "not used");
}

static const llm_seq_dev_ops fake_ops = {fake_release, fake_copy};

/*
 * The host-side checks; *gpu is set when a GPU engine could be created.
 */
static void
host_checks(bool *gpu)
{
	char		err[LLM_ERRLEN] = "";
	llm_engine *e = NULL;
	llm_engine_params p = {.n_threads = 1, .device = "cuda", .cuda_module = module_path()};
	FILE	   *f = fopen(module_path(), "rb");
	bool		have_module = f != NULL;
	int			rc;

	if (f)
		fclose(f);
	*gpu = false;
	rc = llm_engine_new(&e, &p, err);
	if (rc == 0)
	{
		*gpu = true;
		ok(strcmp(llm_engine_device(e), "cuda") == 0, "device cuda: a GPU engine (%s)",
		   llm_engine_isa(e));
		llm_engine_free(e);
	}
	else if (have_module)
		ok(rc == LLM_ERR_NO_DEVICE && strstr(err, "no CUDA device was found") != NULL,
		   "device cuda without a GPU: LLM_ERR_NO_DEVICE, \"%s\"", err);
	else
		ok(rc == -1 && strstr(err, "could not load") != NULL,
		   "device cuda without the module (not built): \"%s\"", err);

	/* auto: the CPU when there is no GPU, with the same logits as "cpu" */
	{
		llm_engine_params pa = {.n_threads = 1, .device = "auto", .cuda_module = module_path()};
		llm_engine_params pc = {.n_threads = 1, .device = "cpu"};
		llm_engine *ea = NULL,
				   *ec = NULL;
		llm_model  *m = NULL;
		bool		same = false;

		rc = llm_engine_new(&ea, &pa, err);
		if (*gpu)
			ok(rc == 0 && strcmp(llm_engine_device(ea), "cuda") == 0, "device auto with a GPU: cuda");
		else
			ok(rc == 0 && strcmp(llm_engine_device(ea), "cpu") == 0 && llm_engine_note(ea)[0],
			   "device auto without a GPU: cpu (%s)", rc == 0 ? llm_engine_note(ea) : err);
		if (rc == 0 && llm_engine_new(&ec, &pc, err) == 0 &&
			llm_model_load(&m, fixture("q4_1"), 64, err) == 0 &&
			llm_engine_attach(ea, m, err) == 0)
		{
			int32_t		nv = llm_model_get_info(m)->n_vocab;
			int32_t		tok[4] = {1, 2, 3, 4};
			float	   *la = malloc(sizeof(float) * nv),
					   *lc = malloc(sizeof(float) * nv);
			llm_seq    *sa = llm_seq_new(m, 16, err),
					   *sc = llm_seq_new(m, 16, err);
			llm_batch_item ia = {sa, tok, 4, la},
						ic = {sc, tok, 4, lc};

			if (la && lc && sa && sc && llm_engine_step(ea, m, &ia, 1, err) == 0 &&
				llm_engine_step(ec, m, &ic, 1, err) == 0)
				same = memcmp(la, lc, sizeof(float) * nv) == 0;
			llm_seq_free(sa);
			llm_seq_free(sc);
			free(la);
			free(lc);
		}
		if (*gpu)
			skip("device auto runs on the GPU here: its logits are compared below");
		else
			ok(same, "device auto without a GPU: the CPU engine's logits, bit for bit (%s)", err);
		llm_engine_free(ea);
		llm_engine_free(ec);
		llm_model_free(m);
	}

	p.cuda_module = "/nonexistent/llm_cuda.so";
	rc = llm_engine_new(&e, &p, err);
	ok(rc == -1 && strstr(err, "could not load the CUDA backend module") != NULL,
	   "a missing module: \"%s\"", err);
	p.cuda_module = "libm.so.6";
	rc = llm_engine_new(&e, &p, err);
	ok(rc == -1 && strstr(err, "is not an llm CUDA module") != NULL,
	   "a library without the entry point: \"%s\"", err);
	if (have_module)
	{
		void	   *dl = dlopen(module_path(), RTLD_NOW | RTLD_LOCAL);
		llm_backend_entry_fn entry = NULL;
		const llm_backend_ops *ops = NULL;

		if (dl)
			*(void **) (&entry) = dlsym(dl, LLM_CUDA_ENTRY);
		if (entry)
			ops = entry(LLM_BACKEND_ABI + 1, sizeof(llm_model), sizeof(llm_seq),
						sizeof(llm_backend_ops), err);
		ok(entry && ops == NULL && strstr(err, "built for another version") != NULL,
		   "a module of another ABI is refused: \"%s\"", err);
	}
	else
		skip("llm_cuda.so was not built (no nvcc)");
	p.device = "gpu";
	p.cuda_module = NULL;
	rc = llm_engine_new(&e, &p, err);
	ok(rc == -1 && strstr(err, "unknown device") != NULL, "device gpu: \"%s\"", err);

	/* a CPU engine and a sequence whose cache is on a device */
	{
		llm_engine_params pc = {.n_threads = 1, .device = "cpu"};
		llm_model  *m = NULL;
		llm_seq    *s = NULL;
		int32_t		tok = 1;

		rc = -2;
		if (llm_engine_new(&e, &pc, err) == 0 && llm_model_load(&m, fixture("f32"), 64, err) == 0 &&
			(s = llm_seq_new(m, 8, err)) != NULL)
		{
			llm_batch_item it = {s, &tok, 1, NULL};

			s->dev_ops = &fake_ops;
			rc = llm_engine_step(e, m, &it, 1, err);
		}
		ok(rc == -1 && strstr(err, "on another device") != NULL,
		   "a CPU engine refuses a sequence cached on a device: \"%s\"", err);
		released = 0;
		llm_seq_free(s);
		ok(released == 1, "llm_seq_free hands a device cache back to its owner (%d)", released);
		llm_engine_free(e);
		llm_model_free(m);
	}
}

/* -------------------------------------------------------------- kernels */

/*
 * Products of one weight type on both paths against the dequantized
 * reference: two checks.
 */
static void
check_matmul(void *dl, const llm_kernels *k, llm_type t)
{
	matmul_fn	mm;
	const int64_t ne0 = 512,
				ne1 = 64;
	size_t		rb = llm_row_size(t, ne0);
	char	   *w = malloc(rb * ne1);
	float	   *wf = malloc(sizeof(float) * ne0 * ne1),
			   *tmp = malloc(sizeof(float) * ne0);
	char		err[LLM_ERRLEN] = "";

	*(void **) (&mm) = dlsym(dl, "llm_cuda_test_matmul");
	for (int64_t r = 0; r < ne1; r++)
	{
		for (int64_t i = 0; i < ne0; i++)
			tmp[i] = frand();
		k->type[t].from_float(tmp, w + r * rb, ne0);
		k->type[t].to_float(w + r * rb, wf + r * ne0, ne0);
	}
	for (int path = 0; path < 2; path++)
	{
		int64_t		T = path ? 20 : 3;
		float	   *x = malloc(sizeof(float) * T * ne0),
				   *y = malloc(sizeof(float) * T * ne1);
		double		tol = path ? 4e-3 : (t == LLM_TYPE_F32 || t == LLM_TYPE_F16 ||
										 t == LLM_TYPE_BF16 ? 1e-5 : 2e-3);
		double		worst = 0.0;
		int			rc;

		for (int64_t i = 0; i < T * ne0; i++)
			x[i] = frand();
		rc = mm ? mm((int) t, ne0, ne1, rb, w, T, x, y, path, err) : -1;
		for (int64_t tt = 0; rc == 0 && tt < T; tt++)
			for (int64_t r = 0; r < ne1; r++)
			{
				double		ref = 0.0,
							mag = 0.0;

				for (int64_t i = 0; i < ne0; i++)
				{
					ref += (double) wf[r * ne0 + i] * x[tt * ne0 + i];
					mag += fabs((double) wf[r * ne0 + i] * x[tt * ne0 + i]);
				}
				if (fabs(y[tt * ne1 + r] - ref) / (mag + 1e-6) > worst)
					worst = fabs(y[tt * ne1 + r] - ref) / (mag + 1e-6);
			}
		ok(rc == 0 && worst <= tol, "%s %s path: worst |gpu - ref| / sum|w x| = %.2e (bound %.0e) %s",
		   llm_type_name(t), path ? "cuBLAS" : "matvec", worst, tol, rc ? err : "");
		free(x);
		free(y);
	}
	free(w);
	free(wf);
	free(tmp);
}

/*
 * Embedding rows of every type, RMSNorm and the two gates: four checks.
 */
static void
check_elementwise(void *dl, const llm_kernels *k)
{
	rows_fn		rows;
	rmsnorm_fn	rms;
	glu_fn		glu;
	char		err[LLM_ERRLEN] = "";
	const int64_t n = 512;
	float	   *a = malloc(sizeof(float) * 4 * n),
			   *b = malloc(sizeof(float) * 4 * n),
			   *out = malloc(sizeof(float) * 4 * n);
	double		worst = 0.0;
	int			rc = 0;

	*(void **) (&rows) = dlsym(dl, "llm_cuda_test_rows");
	*(void **) (&rms) = dlsym(dl, "llm_cuda_test_rmsnorm");
	*(void **) (&glu) = dlsym(dl, "llm_cuda_test_glu");
	for (int i = 0; i < N_TYPES && rc == 0; i++)
	{
		llm_type	t = types[i];
		size_t		rb = llm_row_size(t, n);
		char	   *w = malloc(rb * 4);
		float	   *ref = malloc(sizeof(float) * 4 * n);
		int32_t		ids[3] = {2, 0, 3};

		for (int r = 0; r < 4; r++)
		{
			for (int64_t j = 0; j < n; j++)
				a[j] = frand();
			k->type[t].from_float(a, w + r * rb, n);
			k->type[t].to_float(w + r * rb, ref + r * n, n);
		}
		rc = rows ? rows((int) t, n, 4, rb, w, ids, 3, 1.5f, out, err) : -1;
		for (int r = 0; rc == 0 && r < 3; r++)
			for (int64_t j = 0; j < n; j++)
			{
				double		d = fabs(out[r * n + j] - 1.5 * ref[ids[r] * n + j]) /
					(1.0 + fabs(1.5 * ref[ids[r] * n + j]));

				if (d > worst)
					worst = d;
			}
		free(w);
		free(ref);
	}
	ok(rc == 0 && worst <= 1e-5, "embedding rows of every type: worst %.2e %s", worst, rc ? err : "");

	for (int64_t i = 0; i < 4 * n; i++)
	{
		a[i] = 3.0f * frand();
		b[i] = frand();
	}
	worst = 0.0;
	rc = rms ? rms(a, b, 4, n, 1e-5f, out, err) : -1;
	for (int r = 0; rc == 0 && r < 4; r++)
	{
		double		ss = 0.0;

		for (int64_t j = 0; j < n; j++)
			ss += (double) a[r * n + j] * a[r * n + j];
		for (int64_t j = 0; j < n; j++)
		{
			double		ref = a[r * n + j] / sqrt(ss / n + 1e-5) * b[j];

			if (fabs(out[r * n + j] - ref) / (1.0 + fabs(ref)) > worst)
				worst = fabs(out[r * n + j] - ref) / (1.0 + fabs(ref));
		}
	}
	ok(rc == 0 && worst <= 1e-5, "rmsnorm: worst %.2e %s", worst, rc ? err : "");
	for (int geglu = 0; geglu < 2; geglu++)
	{
		worst = 0.0;
		rc = glu ? glu(a, b, 4 * n, geglu, out, err) : -1;
		for (int64_t i = 0; rc == 0 && i < 4 * n; i++)
		{
			double		x = a[i],
						act = geglu ? 0.5 * x * (1.0 + tanh(0.7978845608 * x * (1.0 + 0.044715 * x * x)))
				: x / (1.0 + exp(-x));
			double		ref = act * b[i];

			if (fabs(out[i] - ref) / (1.0 + fabs(ref)) > worst)
				worst = fabs(out[i] - ref) / (1.0 + fabs(ref));
		}
		ok(rc == 0 && worst <= 1e-5, "%s gate: worst %.2e %s", geglu ? "GELU" : "SiLU", worst,
		   rc ? err : "");
	}
	free(a);
	free(b);
	free(out);
}

/* ----------------------------------------------------------- whole steps */

/* worst |a - b| over n, relative to max |b| */
static double
rel_diff(const float *a, const float *b, int64_t n)
{
	double		d = 0.0,
				mx = 1e-6;

	for (int64_t i = 0; i < n; i++)
	{
		if (fabs(a[i] - b[i]) > d)
			d = fabs(a[i] - b[i]);
		if (fabs(b[i]) > mx)
			mx = fabs(b[i]);
	}
	return d / mx;
}

/*
 * A prefill batch of three sequences (1, 6, 13 tokens) and a decode step
 * on the GPU and on the CPU: two checks.
 */
static void
check_model(llm_engine *gpu, llm_engine *cpu, const char *name)
{
	static const int32_t lens[3] = {1, 6, 13};
	char		err[LLM_ERRLEN] = "";
	llm_model  *m = NULL;
	llm_seq    *sg[3] = {NULL},
			   *sc[3] = {NULL};
	int32_t		tok[13 * 3];
	float	   *lg = NULL,
			   *lc = NULL;
	int32_t		nv = 0;
	double		d[2] = {-1.0, -1.0};
	int			rc = llm_model_load(&m, fixture(name), 64, err);

	if (rc == 0)
		rc = llm_engine_attach(gpu, m, err);
	if (rc == 0)
	{
		nv = llm_model_get_info(m)->n_vocab;
		lg = malloc(sizeof(float) * 3 * nv);
		lc = malloc(sizeof(float) * 3 * nv);
		for (int i = 0; i < 39; i++)
			tok[i] = (int32_t) ((uint32_t) (i * 2654435761u) % (uint32_t) nv);
		for (int i = 0; i < 3; i++)
		{
			sg[i] = llm_seq_new(m, 32, err);
			sc[i] = llm_seq_new(m, 32, err);
		}
	}
	for (int stage = 0; rc == 0 && stage < 2; stage++)
	{
		llm_batch_item ig[3],
					ic[3];

		for (int i = 0; i < 3; i++)
		{
			const int32_t *t = tok + 13 * i;
			int32_t		n = stage == 0 ? lens[i] : 1;

			if (stage == 1)
				t = tok + 13 * i + 12;
			ig[i] = (llm_batch_item) {sg[i], t, n, lg + (int64_t) i * nv};
			ic[i] = (llm_batch_item) {sc[i], t, n, lc + (int64_t) i * nv};
		}
		rc = llm_engine_step(gpu, m, ig, 3, err);
		if (rc == 0)
			rc = llm_engine_step(cpu, m, ic, 3, err);
		if (rc == 0)
			d[stage] = rel_diff(lg, lc, 3 * (int64_t) nv);
	}
	ok(rc == 0 && d[0] >= 0 && d[0] <= 5e-2,
	   "%s: prefill batch of 1, 6, 13 tokens: max |gpu - cpu| / max |cpu| = %.2e %s",
	   name, d[0], rc ? err : "");
	ok(rc == 0 && d[1] >= 0 && d[1] <= 5e-2,
	   "%s: decode step of three sequences: max |gpu - cpu| / max |cpu| = %.2e %s",
	   name, d[1], rc ? err : "");
	for (int i = 0; i < 3; i++)
	{
		llm_seq_free(sg[i]);
		llm_seq_free(sc[i]);
	}
	free(lg);
	free(lc);
	llm_engine_detach(gpu, m);
	llm_model_free(m);
}

int
main(void)
{
	bool		gpu;

	tap_plan(HOST_CHECKS + GPU_CHECKS);
	host_checks(&gpu);
	if (!gpu)
	{
		tap_skip_n(GPU_CHECKS, "no CUDA device (or no llm_cuda.so): GPU kernels not run");
		return tap_done();
	}
	{
		void	   *dl = dlopen(module_path(), RTLD_NOW | RTLD_LOCAL);
		llm_kernels k;
		char		err[LLM_ERRLEN] = "";
		llm_engine *eg = NULL,
				   *ec = NULL;
		llm_engine_params pg = {.n_threads = 1, .device = "cuda", .cuda_module = module_path()};
		llm_engine_params pc = {.n_threads = 1, .device = "cpu"};

		llm_kernels_init_scalar(&k);
		for (int i = 0; i < N_TYPES; i++)
			check_matmul(dl, &k, types[i]);
		check_elementwise(dl, &k);
		if (llm_engine_new(&eg, &pg, err) < 0 || llm_engine_new(&ec, &pc, err) < 0)
			for (int i = 0; i < 2 * N_MODELS; i++)
				ok(0, "whole steps: could not create the engines: %s", err);
		else
			for (int i = 0; i < N_MODELS; i++)
				check_model(eg, ec, models[i]);
		llm_engine_free(eg);
		llm_engine_free(ec);
	}
	return tap_done();
}
