/*
 * golden.h - readers for the golden files of the unit tests
 * (test/golden/NAME.tsv, written by the make_NAME_golden.py scripts there).
 *
 * A golden file is lines of tab-separated fields; a text field is its
 * bytes in hex (so any byte, tab and newline included, survives), an id
 * list is decimal ids separated by spaces, and a vector is numbers
 * separated by spaces or commas, or IEEE halves as 4 hex digits each.
 *
 *   golden_reader r;
 *   if (golden_open(&r, path))
 *       while ((line = golden_next(&r)) != NULL)
 *           ... golden_field(&line) ...
 *   golden_close(&r);
 *
 * golden_embed_tokens is the token-id comparison of the embedding tests
 * (test_embed, test_mpnet) over such a file, golden_cosine their measure
 * of a vector against its reference.
 *
 * Header-only, like tap.h: every function is static inline, so a test
 * that uses some of them builds without warnings about the others.
 */
#ifndef LLM_GOLDEN_H
#define LLM_GOLDEN_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_embed.h"
#include "tap.h"

/* a golden file read line by line (golden_open .. golden_close) */
typedef struct golden_reader
{
	FILE	   *f;
	char	   *line;
	size_t		cap;
} golden_reader;

/*
 * Path of the golden file name in $EMBED_GOLDEN_DIR, or in test/golden
 * when that is unset or empty; written to buf (size bytes) and returned.
 */
static inline const char *
golden_path(char *buf, size_t size, const char *name)
{
	const char *d = getenv("EMBED_GOLDEN_DIR");

	snprintf(buf, size, "%s/%s", d && *d ? d : "test/golden", name);
	return buf;
}

/*
 * Open the golden file at path for golden_next; false when it cannot be
 * opened (r is then still safe to pass to golden_close).
 */
static inline bool
golden_open(golden_reader *r, const char *path)
{
	r->line = NULL;
	r->cap = 0;
	r->f = fopen(path, "r");
	return r->f != NULL;
}

/*
 * The next line of r without its newline (a buffer of r's, valid until
 * the next call, that the caller may modify), or NULL at the end of the
 * file or on a read or allocation error.
 */
static inline char *
golden_next(golden_reader *r)
{
	ssize_t		n;

	if (r->f == NULL || (n = getline(&r->line, &r->cap, r->f)) <= 0)
		return NULL;
	if (r->line[n - 1] == '\n')
		r->line[n - 1] = '\0';
	return r->line;
}

/*
 * Close r and free its line buffer.
 */
static inline void
golden_close(golden_reader *r)
{
	if (r->f != NULL)
		fclose(r->f);
	free(r->line);
	r->f = NULL;
	r->line = NULL;
	r->cap = 0;
}

/*
 * The next tab-separated field of *p, cut off in place, or NULL once *p
 * is NULL (the last field has been returned). A line of golden_next has
 * no newline; one with a newline left keeps it in its last field.
 */
static inline char *
golden_field(char **p)
{
	char	   *f = *p,
			   *t;

	if (f == NULL)
		return NULL;
	t = strchr(f, '\t');
	if (t != NULL)
	{
		*t = '\0';
		*p = t + 1;
	}
	else
		*p = NULL;
	return f;
}

/*
 * Value of one hex digit, or -1 when c is not one.
 */
static inline int
golden_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode the first hl characters of h, two hex digits a byte (an odd
 * last digit is ignored), into a new NUL-terminated buffer of *len bytes
 * (the caller frees it). NULL when a character is not a hex digit or
 * memory runs out.
 */
static inline char *
golden_unhex(const char *h, size_t hl, size_t *len)
{
	size_t		n = hl / 2;
	char	   *o = malloc(n + 1);

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
	{
		int			hi = golden_hex_digit(h[2 * i]),
					lo = hi < 0 ? -1 : golden_hex_digit(h[2 * i + 1]);

		if (lo < 0)
		{
			free(o);
			return NULL;
		}
		o[i] = (char) (hi << 4 | lo);
	}
	o[n] = '\0';
	*len = n;
	return o;
}

/*
 * Read the next decimal id of *s (after any white space) into *v and
 * move *s past it; false, *s unchanged, when no number follows.
 */
static inline bool
golden_next_id(const char **s, long *v)
{
	char	   *end;

	*v = strtol(*s, &end, 10);
	if (end == *s)
		return false;
	*s = end;
	return true;
}

/*
 * Parse the space-separated decimal ids of s into out, at most cap of
 * them; returns how many were stored (parsing stops at the first thing
 * that is not a number, or at cap).
 */
static inline int
golden_ids(const char *s, int32_t *out, int cap)
{
	int			n = 0;
	long		v;

	while (n < cap && golden_next_id(&s, &v))
		out[n++] = (int32_t) v;
	return n;
}

/*
 * Compare the space-separated decimal ids of s with ids[0 .. n): true
 * when s holds exactly those ids in that order. *n_s gets how many ids s
 * holds.
 */
static inline bool
golden_ids_equal(const char *s, const int32_t *ids, int n, int *n_s)
{
	bool		eq = true;
	int			i = 0;
	long		v;

	while (golden_next_id(&s, &v))
	{
		if (i >= n || ids[i] != v)
			eq = false;
		i++;
	}
	*n_s = i;
	return eq && i == n;
}

/*
 * Parse n floats of s, each after white space and followed by white
 * space or one comma, into out; returns how many parsed (n unless s has
 * fewer or one is not a number; out[] past that is 0).
 */
static inline int
golden_floats(const char *s, float *out, int n)
{
	int			got = 0;

	for (int i = 0; i < n; i++)
	{
		char	   *end;

		out[i] = strtof(s, &end);
		if (end != s)
			got++;
		s = *end == ',' ? end + 1 : end;
	}
	return got;
}

/*
 * golden_floats for doubles (strtod): n numbers of s into out; returns
 * how many parsed.
 */
static inline int
golden_doubles(const char *s, double *out, int n)
{
	int			got = 0;

	for (int i = 0; i < n; i++)
	{
		char	   *end;

		out[i] = strtod(s, &end);
		if (end != s)
			got++;
		s = *end == ',' ? end + 1 : end;
	}
	return got;
}

/*
 * The IEEE half written as the 4 hex digits at s into *v; false, *v
 * unchanged, when s has fewer than 4 hex digits there.
 */
static inline bool
golden_half_hex(const char *s, float *v)
{
	unsigned int h = 0;
	int			e,
				m;
	float		f;

	for (int i = 0; i < 4; i++)
	{
		int			d = golden_hex_digit(s[i]);

		if (d < 0)
			return false;
		h = h << 4 | (unsigned int) d;
	}
	e = (int) (h >> 10) & 31;
	m = (int) (h & 1023);
	if (e == 0)
		f = ldexpf((float) m, -24);
	else if (e == 31)
		f = m ? NAN : INFINITY;
	else
		f = ldexpf((float) (m | 1024), e - 25);
	*v = (h & 0x8000) ? -f : f;
	return true;
}

/*
 * Decode n halves of 4 hex digits each from s (golden_half_hex) into
 * out; returns how many decoded before s ran short or held a character
 * that is not a hex digit.
 */
static inline int
golden_halves(const char *s, float *out, int n)
{
	int			i;

	for (i = 0; i < n && golden_half_hex(s + 4 * (size_t) i, &out[i]); i++)
		;
	return i;
}

/*
 * Cosine of two n-float vectors (x, a result, against y, its reference),
 * summed in double; 1e-30 in the denominator keeps a zero vector finite.
 */
static inline double
golden_cosine(const float *x, const float *y, int64_t n)
{
	double		dot = 0,
				nx = 0,
				ny = 0;

	for (int64_t j = 0; j < n; j++)
	{
		dot += (double) x[j] * y[j];
		nx += (double) x[j] * x[j];
		ny += (double) y[j] * y[j];
	}
	return dot / (sqrt(nx) * sqrt(ny) + 1e-30);
}

/*
 * Token ids of an embedding model against a golden file of lines
 * "HEX<TAB>IDS" (the text in hex, the reference's ids): tokenize each
 * text with m (llm_embed_tokenize, no flags) and compare. *total gets the
 * lines read, *same those whose ids are identical; the first failures and
 * mismatches are printed as diagnostics. False when path cannot be
 * opened.
 */
static inline bool
golden_embed_tokens(const llm_embed_model *m, const char *path, int *total, int *same)
{
	golden_reader r;
	char	   *line;
	char		err[LLM_ERRLEN];

	*total = *same = 0;
	if (!golden_open(&r, path))
		return false;
	while ((line = golden_next(&r)) != NULL)
	{
		char	   *hex = golden_field(&line),
				   *want = golden_field(&line);
		size_t		len;
		char	   *text;
		int32_t    *ids;
		int			nid,
					n_want;

		if (want == NULL)
			continue;
		text = golden_unhex(hex, strlen(hex), &len);
		(*total)++;
		if (!text || llm_embed_tokenize(m, text, len, 0, &ids, &nid, err) < 0)
		{
			diag("tokenize failed: %s", text ? err : "golden text is not hex");
			free(text);
			continue;
		}
		if (golden_ids_equal(want, ids, nid, &n_want))
			(*same)++;
		else if (*total - *same <= 5)
			diag("token mismatch for \"%.60s\" (%d vs %d ids)", text, nid, n_want);
		free(ids);
		free(text);
	}
	golden_close(&r);
	return true;
}

#endif							/* LLM_GOLDEN_H */
