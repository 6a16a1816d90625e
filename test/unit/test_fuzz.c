/*
 * test_fuzz.c - the whole loader and the tokenizer on hostile input.
 *
 *  - mutated copies of a tiny model (bytes flipped in the header, the
 *    metadata and the tensor table; extreme 32/64-bit values written over
 *    counts) go through llm_model_load(): each must load or fail with a
 *    message, never crash (sanitizers watch), and every model that loads
 *    must run a step that succeeds and writes its logits;
 *  - random byte strings, including invalid UTF-8 and special-token text,
 *    go through the default model's tokenizer: tokenize must succeed and
 *    every id must be in range, detokenize must succeed, and valid UTF-8
 *    must round-trip.
 * Fixed seeds: the same inputs every run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llm_engine.h"
#include "tap.h"

/* splitmix64: a small deterministic generator for the mutations */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t	z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* read a whole file into memory */
static unsigned char *
slurp(const char *path, size_t *n)
{
	FILE	   *f = fopen(path, "rb");
	unsigned char *buf;
	long		len;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) len);
	if (buf == NULL || fread(buf, 1, (size_t) len, f) != (size_t) len)
	{
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*n = (size_t) len;
	return buf;
}

/*
 * true when s[0..n) is valid UTF-8 with no C0 control characters other
 * than tab, newline and carriage return (this model's vocabulary has no
 * token for the others, and, like llama.cpp, the tokenizer drops them)
 */
static bool
valid_utf8(const unsigned char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = s[i];
		size_t		k,
					len;
		uint32_t	cp;

		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return false;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			len = 2, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			len = 3, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (i + len > n)
			return false;
		for (k = 1; k < len; k++)
		{
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
			cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/*
 * true when a step wrote the n logits: none keeps the all-ones bits the
 * buffer was filled with (a computed NaN has other bits)
 */
static bool
logits_written(const float *logits, int32_t n)
{
	int32_t		i;
	uint32_t	b;

	for (i = 0; i < n; i++)
	{
		memcpy(&b, &logits[i], sizeof(b));
		if (b == 0xffffffffu)
			return false;
	}
	return true;
}

/*
 * Mutate the first part of a tiny model (where all the metadata and the
 * tensor table live) and load it through the full loader.
 */
static void
fuzz_loader(const char *path, int iters)
{
	size_t		n;
	unsigned char *orig = slurp(path, &n);
	unsigned char *buf;
	char		tmp[] = "/tmp/llm-fuzz-XXXXXX";
	int			fd,
				i,
				loaded = 0,
				rejected = 0,
				ran = 0;
	uint64_t	seed = 12345;
	size_t		head;
	llm_engine *e;
	llm_engine_params ep = {.n_threads = 1};
	char		err[LLM_ERRLEN];

	if (orig == NULL)
	{
		tap_skip_n(2, "fixture %s not found", path);
		return;
	}
	fd = mkstemp(tmp);
	if (fd < 0 || llm_engine_new(&e, &ep, err) < 0)
	{
		ok(0, "fuzz setup");
		skip("no fuzz run");
		free(orig);
		return;
	}
	buf = malloc(n);
	head = n < 16384 ? n : 16384;
	for (i = 0; i < iters; i++)
	{
		int			k,
					nmut = 1 + (int) (rnd(&seed) % 4);
		llm_model  *m;
		size_t		len = n;

		memcpy(buf, orig, n);
		for (k = 0; k < nmut; k++)
		{
			size_t		at = (size_t) (rnd(&seed) % head);
			uint64_t	kind = rnd(&seed) % 5;

			if (kind == 0)
				buf[at] ^= (unsigned char) (1u << (rnd(&seed) % 8));
			else if (kind == 1)
				buf[at] = (unsigned char) rnd(&seed);
			else if (kind == 2 && at + 8 <= n)
			{
				static const uint64_t ext[] = {0, 1, 0xffffffffULL, 0x7fffffffULL, 0x80000000ULL,
				UINT64_MAX, 0x7fffffffffffffffULL, 0x100000000ULL};
				uint64_t	v = ext[rnd(&seed) % 8];

				memcpy(buf + at, &v, 8);
			}
			else if (kind == 3 && at + 4 <= n)
			{
				uint32_t	v = (uint32_t) (rnd(&seed) % 1024);

				memcpy(buf + at, &v, 4);
			}
			else
				len = at + 1 < len ? at + 1 : len;	/* truncate */
		}
		if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, len, 0) != (ssize_t) len)
		{
			ok(0, "fuzz: writing %s", tmp);
			break;
		}
		if (llm_model_load(&m, tmp, 0, err) == 0)
		{
			int32_t		tok[3] = {0, 1, 2};
			llm_seq    *s = llm_seq_new(m, 8, err);
			int32_t		nv = llm_model_get_info(m)->n_vocab;
			float	   *logits = malloc(sizeof(float) * nv);
			llm_batch_item it = {s, tok, 3, logits};

			loaded++;
			if (logits)			/* all-ones bits: no computed value has them */
				memset(logits, 0xff, sizeof(float) * nv);
			if (s && logits && llm_engine_step(e, m, &it, 1, err) == 0 &&
				logits_written(logits, nv))
				ran++;
			else if (loaded - ran == 1)
				diag("mutation %d loads but its step fails: %s", i, s ? err : "no sequence");
			free(logits);
			llm_seq_free(s);
			llm_model_free(m);
		}
		else if (err[0] != '\0')
			rejected++;
		err[0] = '\0';
	}
	close(fd);
	unlink(tmp);
	ok(loaded + rejected == iters, "fuzz: %d mutated models: %d loaded, %d rejected with a message",
	   iters, loaded, rejected);
	ok(loaded > 0 && ran == loaded, "fuzz: each of the %d loaded models ran a step that wrote logits (%d did)",
	   loaded, ran);
	llm_engine_free(e);
	free(buf);
	free(orig);
}

/*
 * Random byte strings through the default model's tokenizer.
 */
static void
fuzz_tokenizer(const llm_tokenizer *t, int iters)
{
	static const char *frag[] = {"<|im_start|>", "<|im_end|>", "<|endoftext|>", " ", "\n",
		"\xe2\x96\x81", "\xf0\x9f\x98\x80", "\xc3", "\xa9", "\xff", "don't", "123456", "\t\t",
	"\xe4\xb8\xad"};
	uint64_t	seed = 777;
	int			i,
				bad_ids = 0,
				bad_rt = 0,
				failed = 0,
				n_valid = 0;
	int32_t		nv = llm_tokenizer_n_vocab(t);

	for (i = 0; i < iters; i++)
	{
		unsigned char txt[256];
		size_t		len = 0,
					n,
					j;
		int32_t    *ids;
		char		err[LLM_ERRLEN];
		bool		special = rnd(&seed) % 2;
		int			parts = (int) (rnd(&seed) % 12);

		while (parts-- > 0 && len < 200)
		{
			if (rnd(&seed) % 3 == 0)
			{
				const char *f = frag[rnd(&seed) % (sizeof(frag) / sizeof(frag[0]))];
				size_t		fl = strlen(f);

				memcpy(txt + len, f, fl);
				len += fl;
			}
			else
			{
				size_t		k = 1 + rnd(&seed) % 8;

				while (k-- > 0)
				{
					unsigned char c = (unsigned char) rnd(&seed);

					txt[len++] = c ? c : ' ';
				}
			}
		}
		if (llm_tokenize(t, (const char *) txt, len, false, special, &ids, &n, err) < 0)
		{
			failed++;
			continue;
		}
		for (j = 0; j < n; j++)
			if (ids[j] < 0 || ids[j] >= nv)
				bad_ids++;
		{
			char	   *back = llm_detokenize(t, ids, n, special, err);

			if (back == NULL)
				failed++;
			else if (valid_utf8(txt, len))
			{
				n_valid++;
				if (strlen(back) != len || memcmp(back, txt, len) != 0)
				{
					size_t		q;

					bad_rt++;
					printf("# round-trip differs (special=%d): in ", special);
					for (q = 0; q < len; q++)
						printf("%02x", txt[q]);
					printf(" out ");
					for (q = 0; back[q]; q++)
						printf("%02x", (unsigned char) back[q]);
					printf("\n");
				}
			}
			free(back);
		}
		free(ids);
	}
	ok(failed == 0, "tokenizer fuzz: %d random strings tokenized and detokenized (%d failures)",
	   iters, failed);
	ok(bad_ids == 0, "tokenizer fuzz: every id in range (%d out of range)", bad_ids);
	ok(bad_rt == 0, "tokenizer fuzz: %d valid UTF-8 strings without control characters round-trip (%d differ)", n_valid, bad_rt);
}

int
main(void)
{
	const char *fix = getenv("LLM_FIXTURE_DIR");
	char		path[8192];
	char		err[LLM_ERRLEN];
	llm_model  *m;

	snprintf(path, sizeof(path), "%s/tiny-q4_0.gguf", fix ? fix : "build/fixtures");
	tap_plan(5);
	fuzz_loader(path, 1500);
	snprintf(path, sizeof(path), "%s/SmolLM2-135M-Instruct.Q4_1.gguf", tap_model_dir());
	if (llm_model_load(&m, path, 0, err) < 0)
		tap_skip_n(3, "default model not available: %s", err);
	else
	{
		fuzz_tokenizer(llm_model_tokenizer(m), 3000);
		llm_model_free(m);
	}
	return tap_done();
}
