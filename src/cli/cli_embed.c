/*
 * cli_embed.c - the `llm-cli embed` subcommand.
 *
 *   llm-cli embed -m MODEL [--json] [--tokens] [-t THREADS] [--isa ISA]
 *                 [--no-truncate] -- TEXT...
 *
 * MODEL is a sentence-transformers directory, a bert GGUF file or a decoder
 * GGUF (llama, qwen2, qwen3: mean or last-token pooling). For each
 * TEXT one line is printed: the embedding as a JSON array of floats, or
 * with --json an object {"dim", "n_tokens", "embedding"}; --tokens prints
 * the token ids instead. Exit status: 0 success, 1 error, 2 usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_embed.h"
#include "llm_util.h"

int			llm_cli_embed(int argc, char **argv);

/*
 * Print the embed usage and return 2.
 */
static int
embed_usage(void)
{
	fprintf(stderr,
			"usage: llm-cli embed -m MODEL [--json] [--tokens] [-t THREADS] [--isa ISA]\n"
			"                     [--no-truncate] -- TEXT...\n"
			"  MODEL: sentence-transformers directory, bert .gguf, or llama/qwen2/qwen3 .gguf\n");
	return 2;
}

/*
 * Print a float array as JSON (9 significant digits).
 */
static void
embed_print_vec(const float *v, int n)
{
	int			i;

	putchar('[');
	for (i = 0; i < n; i++)
		printf("%s%.9g", i ? "," : "", (double) v[i]);
	putchar(']');
}

/*
 * Entry point of the subcommand; argv[1] is "embed".
 */
int
llm_cli_embed(int argc, char **argv)
{
	const char *model = NULL,
			   *isa = NULL;
	bool		json = false,
				tokens = false;
	int			threads = 2;
	llm_embed_truncation mode = LLM_TRUNCATE_END;
	int			i,
				first = -1,
				n,
				rc = 1;
	char		err[LLM_ERRLEN];
	llm_embed_model *m = NULL;
	llm_embed_ctx *c = NULL;
	llm_embed_info info;
	size_t	   *lens = NULL;
	float	   *out = NULL;

	for (i = 2; i < argc; i++)
	{
		if (strcmp(argv[i], "--") == 0)
		{
			first = i + 1;
			break;
		}
		else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
			model = argv[++i];
		else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc)
			isa = argv[++i];
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
		{
			char	   *end;
			long		v;

			errno = 0;
			v = strtol(argv[++i], &end, 10);
			if (errno || *end || v < 1 || v > 256)
				return embed_usage();
			threads = (int) v;
		}
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--tokens") == 0)
			tokens = true;
		else if (strcmp(argv[i], "--no-truncate") == 0)
			mode = LLM_TRUNCATE_ERROR;
		else
			return embed_usage();
	}
	if (!model || first < 0 || first >= argc)
		return embed_usage();
	n = argc - first;
	if (llm_embed_model_load(&m, model, err) < 0)
	{
		fprintf(stderr, "llm-cli: %s: %s\n", model, err);
		return 1;
	}
	llm_embed_model_info(m, &info);
	if (tokens)
	{
		for (i = first; i < argc; i++)
		{
			int32_t    *ids;
			int			nid,
						j;

			if (llm_embed_tokenize(m, argv[i], strlen(argv[i]), 0, &ids, &nid, err) < 0)
			{
				fprintf(stderr, "llm-cli: %s\n", err);
				goto done;
			}
			putchar('[');
			for (j = 0; j < nid; j++)
				printf("%s%d", j ? "," : "", ids[j]);
			printf("]\n");
			free(ids);
		}
		rc = 0;
		goto done;
	}
	lens = malloc((size_t) n * sizeof(size_t));
	out = malloc((size_t) n * (size_t) info.dim * sizeof(float));
	if (!lens || !out)
	{
		fprintf(stderr, "llm-cli: out of memory\n");
		goto done;
	}
	for (i = 0; i < n; i++)
		lens[i] = strlen(argv[first + i]);
	if (llm_embed_ctx_new(&c, threads, isa, err) < 0 ||
		llm_embed_batch(c, m, (const char *const *) (argv + first), lens, n, out, mode, err) < 0)
	{
		fprintf(stderr, "llm-cli: %s\n", err);
		goto done;
	}
	for (i = 0; i < n; i++)
	{
		if (json)
		{
			int32_t    *ids;
			int			nid;

			if (llm_embed_tokenize(m, argv[first + i], lens[i], info.max_seq_len, &ids, &nid, err) < 0)
			{
				fprintf(stderr, "llm-cli: %s\n", err);
				goto done;
			}
			free(ids);
			printf("{\"dim\":%d,\"n_tokens\":%d,\"pooling\":\"%s\",\"normalized\":%s,\"embedding\":",
				   info.dim, nid, llm_embed_pooling_name(info.pooling),
				   info.normalize ? "true" : "false");
			embed_print_vec(out + (size_t) i * info.dim, info.dim);
			printf("}\n");
		}
		else
		{
			embed_print_vec(out + (size_t) i * info.dim, info.dim);
			putchar('\n');
		}
	}
	rc = 0;
done:
	llm_embed_ctx_free(c);
	llm_embed_model_free(m);
	free(lens);
	free(out);
	return rc;
}
