/*
 * tokenizer_job.c - tokenizing a long text in bounded parts.
 *
 * llm_tokenize() does its work in one call; a caller that must not be
 * held up for long (the extension's worker, which runs other sessions'
 * decode steps in between) uses an llm_tok_job instead: each
 * llm_tok_job_run() call does about a given number of bytes of work and
 * returns, and the ids at the end are exactly llm_tokenize()'s (or
 * llm_tokenize_marked()'s). The work is the same; it is only cut where
 * cutting cannot change the result:
 *
 *  - the split on special tokens is done window by window, a window
 *    ending only between two bytes that no participating special token
 *    has next to each other in its text: no occurrence can then straddle
 *    the cut, and each token's longest-first search finds the same
 *    occurrences on either side (a raw fragment cut there is joined
 *    again);
 *  - byte-level BPE stops and resumes its own loops (tok_bpe_more: each
 *    regex pass, then the merges piece by piece), so nothing is cut;
 *  - SentencePiece merges run over a whole fragment with one heap, so a
 *    fragment is cut only before byte q where the three bytes before q
 *    are ASCII and not spaces (a UTF-8 lead byte cannot reach across q,
 *    so q is a symbol boundary) and byte q is ASCII: then no token text
 *    has the last byte of the left symbol followed by the first byte of
 *    the right one, no merge can ever join the two sides, and the merges
 *    of each side are those it makes in the whole (the heap orders each
 *    side's pairs the same way, the other side never interferes). Only
 *    the first part gets the space prefix.
 * Merging one long piece (BPE) or one long SPM part (a megabyte of one
 * letter, or of spaces, has no place to cut) is itself done over several
 * calls: the symbols and the heap of candidate merges wait in the run
 * (bpe_word_more, tok_spm_more) and each call does a bounded number of
 * heap operations, so no call is held up by one indivisible merge loop.
 * The split of a window is itself done in steps (tok_part_more: the
 * token, the fragment and the place in it where the search goes on wait
 * in the run), and so is the search for the window's end, so a window
 * with no place to end (megabytes of "|im_start" or of newlines under
 * Gemma's run tokens) goes over calls as well. The pair tables are built
 * once per tokenizer at load.
 */
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"
#include "tokenizer_int.h"

/*
 * units of tok_part_more() work (bytes searched or read, tokens and
 * fragments visited) that count as one byte of the job's budget: a byte
 * of BPE or SPM encoding costs more than 16 such units
 */
#define JOB_PART_UNITS 16

/* where a job stands */
typedef enum tok_job_phase
{
	JOB_PARTITION,				/* splitting on special tokens */
	JOB_ENCODE,					/* encoding the fragments */
	JOB_DONE
} tok_job_phase;

/* a range of the text split with one parse_special setting */
typedef struct tok_job_range
{
	size_t		off;
	size_t		len;
	bool		special;		/* control and unknown tokens take part */
} tok_job_range;

struct llm_tok_job
{
	const llm_tokenizer *t;
	const char *text;
	size_t		len;
	tok_job_phase phase;
	tok_job_range *ranges;
	size_t		n_ranges;
	size_t		ri;				/* range being split */
	size_t		rpos;			/* split up to here inside the text */
	tok_frags	fr;				/* fragments so far */
	bool		wfound;			/* the window's end is known: wend */
	size_t		wend;
	size_t		wscan;			/* else searched for it up to here (0: not yet) */
	bool		part_on;		/* the window is being split: part */
	tok_part_run part;
	size_t		work;			/* units counted against the budgets so far */
	size_t		fi;				/* fragment being encoded */
	size_t		foff;			/* bytes of fragment fi done (SPM) */
	tok_bpe_run *bpe;			/* fragment fi under way (BPE) */
	tok_spm_run *spm;			/* part of fragment fi under way (SPM) */
	size_t		spm_end;		/* where that part ends in the fragment */
	bool		prev_special;
	tok_vec		vec;
	tok_check	ck;
	bool		failed;
};

/*
 * Set bit b of row a of a pair table.
 */
static void
pair_set(uint8_t (*tab)[32], unsigned char a, unsigned char b)
{
	tab[a][b >> 3] |= (uint8_t) (1u << (b & 7));
}

/*
 * Record every pair of neighbouring bytes of every token text (pair_any),
 * of the special tokens (pair_special) and of those that take part in
 * the split on special tokens without parse_special (pair_user).
 */
void
tok_pairs_build(llm_tokenizer *t)
{
	memset(t->pair_any, 0, sizeof(t->pair_any));
	memset(t->pair_special, 0, sizeof(t->pair_special));
	memset(t->pair_user, 0, sizeof(t->pair_user));
	for (int32_t id = 0; id < t->n_vocab; id++)
	{
		const unsigned char *s = (const unsigned char *) t->arena + t->off[id];
		uint8_t		a = t->attr[id];
		bool		special = (a & TOK_ATTR_SPECIAL) != 0;
		bool		user = special && !(a & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN));

		for (uint32_t k = 0; k + 1 < t->len[id]; k++)
		{
			pair_set(t->pair_any, s[k], s[k + 1]);
			if (special)
				pair_set(t->pair_special, s[k], s[k + 1]);
			if (user)
				pair_set(t->pair_user, s[k], s[k + 1]);
		}
	}
}

/*
 * Start a job (see tokenizer.h).
 */
int
llm_tok_job_new(llm_tok_job **out, const llm_tokenizer *t, const char *text, size_t len,
				bool add_bos, bool parse_special, const llm_text_span *marks,
				size_t n_marks, char *err)
{
	llm_tok_job *j;
	size_t		pos = 0;
	size_t		nr = 0;

	*out = NULL;
	if (!text && len > 0)
		return llm_err(err, "llm_tokenize: NULL text");
	if (n_marks > 0 && marks == NULL)
		return llm_err(err, "llm_tokenize: NULL marks");
	for (size_t k = 0; k < n_marks; k++)
	{
		if (marks[k].off < pos || marks[k].off > len || marks[k].len > len - marks[k].off)
			return llm_err(err, "llm_tokenize: mark %zu is out of order or out of range", k);
		pos = marks[k].off + marks[k].len;
	}
	j = calloc(1, sizeof(*j));
	if (j)
		j->ranges = malloc((2 * n_marks + 1) * sizeof(tok_job_range));
	if (!j || !j->ranges)
	{
		free(j);
		return llm_err(err, "out of memory while tokenizing");
	}
	j->t = t;
	j->text = text;
	j->len = len;
	j->prev_special = true;

	/* the ranges llm_tokenize_marked() splits one by one */
	pos = 0;
	for (size_t k = 0; k <= n_marks; k++)
	{
		size_t		end = k < n_marks ? marks[k].off : len;

		if (end > pos)
			j->ranges[nr++] = (tok_job_range) {pos, end - pos, n_marks == 0 && parse_special};
		if (k == n_marks)
			break;
		if (marks[k].len > 0)
			j->ranges[nr++] = (tok_job_range) {marks[k].off, marks[k].len, true};
		pos = marks[k].off + marks[k].len;
	}
	j->n_ranges = nr;
	j->rpos = nr > 0 ? j->ranges[0].off : 0;
	if (add_bos && t->bos >= 0 && tok_vec_push(&j->vec, t->bos) < 0)
	{
		llm_tok_job_free(j);
		return llm_err(err, "out of memory while tokenizing");
	}
	*out = j;
	return 0;
}

/*
 * Release a job (NULL is fine).
 */
void
llm_tok_job_free(llm_tok_job *j)
{
	if (!j)
		return;
	tok_bpe_end(j->bpe);
	tok_spm_end(j->spm);
	free(j->ranges);
	tok_part_end(&j->part);
	free(j->fr.v);
	free(j->vec.v);
	free(j);
}

/*
 * Search for the end of the window of range r that starts at pos, from
 * *scan on (0: from pos + want), for at most lim bytes: the first place
 * where no special token taking part has the bytes on either side next
 * to each other, or the end of the range. Returns true with *end, or
 * false with *scan where the search is to go on; *looked gets the bytes
 * looked at.
 */
static bool
window_end(const llm_tokenizer *t, const char *text, const tok_job_range *r,
		   size_t pos, size_t want, size_t *scan, size_t lim, size_t *end,
		   size_t *looked)
{
	const uint8_t (*tab)[32] = r->special ? t->pair_special : t->pair_user;
	size_t		rend = r->off + r->len;
	size_t		p = *scan ? *scan : pos + (want ? want : 1);
	size_t		stop;

	*looked = 0;
	if (p >= rend)
	{
		*end = rend;
		return true;
	}
	stop = rend - p > lim ? p + lim : rend;
	for (; p < stop; p++)
		if (!tok_pair_in(tab, (unsigned char) text[p - 1], (unsigned char) text[p]))
			break;
	*looked = p - (*scan ? *scan : pos + (want ? want : 1));
	if (p < rend && p == stop)
	{
		*scan = p;
		return false;
	}
	*end = p;
	return true;
}

/*
 * Split the text on special tokens, a window at a time: find the
 * window's end (the search for it goes on over calls, 32 bytes looked at
 * counting one unit), then split it in steps (tok_part_more, whose
 * units count JOB_PART_UNITS to a byte of budget), then append its fragments;
 * a raw fragment cut by the window's start is joined again. Adds the
 * work done to *used.
 */
static int
job_partition(llm_tok_job *j, size_t budget, size_t *used, char *err)
{
	const tok_job_range *r = &j->ranges[j->ri];
	size_t		left = budget > *used ? budget - *used : 1;
	size_t		scale = JOB_PART_UNITS;
	size_t		pu = 0;
	bool		join = j->rpos > r->off;
	int			rc;

	if (!j->part_on)
	{
		if (!j->wfound)
		{
			size_t		looked = 0;

			j->wfound = window_end(j->t, j->text, r, j->rpos, left, &j->wscan,
								   left * 32, &j->wend, &looked);
			*used += looked / 32 + 1;
			if (!j->wfound)
				return 0;
		}
		if (tok_part_begin(&j->part, j->t, j->text + j->rpos, j->wend - j->rpos,
						   r->special, err) < 0)
			return -1;
		j->part_on = true;
		if (*used >= budget)
			return 0;
		left = budget - *used;
	}
	rc = tok_part_more(j->t, &j->part, left * scale, &pu, err);
	*used += (pu + scale - 1) / scale;
	if (rc <= 0)
		return rc;
	for (size_t i = 0; i < j->part.cur.n; i++)
	{
		tok_frag	f = j->part.cur.v[i];
		tok_frag   *last = j->fr.n > 0 ? &j->fr.v[j->fr.n - 1] : NULL;

		f.off += j->rpos;
		if (i == 0 && join && f.tok < 0 && last && last->tok < 0 &&
			last->off + last->len == f.off)
			last->len += f.len;
		else if (tok_frag_push(&j->fr, f.tok, f.off, f.len) < 0)
			return llm_err(err, "out of memory while tokenizing");
	}
	tok_part_end(&j->part);
	j->part_on = false;
	j->wfound = false;
	j->wscan = 0;
	j->rpos = j->wend;
	if (j->rpos == r->off + r->len && ++j->ri < j->n_ranges)
		j->rpos = j->ranges[j->ri].off;
	return 0;
}

/*
 * Where the next part of an SPM fragment f[0..flen) that starts at pos
 * and holds at least want bytes may end (see the head comment): else
 * flen.
 */
static size_t
spm_part_end(const llm_tokenizer *t, const char *f, size_t flen, size_t pos, size_t want)
{
	const unsigned char *u = (const unsigned char *) f;
	size_t		q = pos + (want ? want : 1);

	if (want >= flen - pos)
		return flen;
	if (q < 3)
		q = 3;
	for (; q < flen; q++)
	{
		unsigned char first = u[q] == ' ' ? 0xE2 : u[q];	/* "▁" begins with 0xE2 */
		bool		ascii = u[q] < 0x80;

		for (int k = 1; k <= 3 && ascii; k++)
			ascii = u[q - k] < 0x80 && u[q - k] != ' ';
		if (ascii && !tok_pair_in(t->pair_any, u[q - 1], first))
			return q;
	}
	return flen;
}

/*
 * Encode more of fragment j->fi; adds the bytes done to *used. Returns 1
 * when the fragment is finished, 0 when the budget ran out first.
 */
static int
job_encode(llm_tok_job *j, size_t budget, size_t *used, char *err)
{
	const llm_tokenizer *t = j->t;
	const tok_frag *fg = &j->fr.v[j->fi];
	size_t		left = budget > *used ? budget - *used : 1;
	size_t		done = 0;
	int			rc;

	if (j->foff == 0 && j->bpe == NULL && j->spm == NULL && tok_tick(&j->ck))
		return llm_err(err, LLM_ABORT_MSG);
	if (fg->tok >= 0)
	{
		if (tok_vec_push(&j->vec, fg->tok) < 0)
			return llm_err(err, "out of memory while tokenizing");
		j->prev_special = true;
		*used += 1;
		return 1;
	}
	if (t->kind == TOK_KIND_SPM)
	{
		size_t		before = *used;

		if (j->spm == NULL)
		{
			j->spm_end = spm_part_end(t, j->text + fg->off, fg->len, j->foff, left);
			if (tok_spm_begin(t, j->text + fg->off + j->foff, j->spm_end - j->foff,
							  j->foff == 0 && t->add_space_prefix && j->prev_special,
							  &j->spm, err) < 0)
				return -1;
		}
		/* the merges of a part with no cut inside go on over several calls */
		rc = tok_spm_more(t, j->spm, budget, used, &j->ck, &j->vec, err);
		if (rc < 0)
			return -1;
		if (*used == before)
			*used += 1;
		if (rc == 0)
			return 0;
		tok_spm_end(j->spm);
		j->spm = NULL;
		j->foff = j->spm_end;
		if (j->spm_end < fg->len)
			return 0;
		j->foff = 0;
		j->prev_special = false;
		return 1;
	}
	if (j->bpe == NULL && tok_bpe_begin(t, j->text + fg->off, fg->len, &j->bpe, err) < 0)
		return -1;
	rc = tok_bpe_more(t, j->bpe, left, &done, &j->ck, &j->vec, err);
	if (rc < 0)
		return -1;
	*used += done > 0 ? done : 1;
	if (rc == 0)
		return 0;
	tok_bpe_end(j->bpe);
	j->bpe = NULL;
	j->prev_special = false;
	return 1;
}

/*
 * Do about budget bytes of work (see tokenizer.h).
 */
int
llm_tok_job_run(llm_tok_job *j, size_t budget, const llm_abort *ab, char *err)
{
	size_t		used = 0;

	if (j->failed)
		return llm_err(err, "llm_tok_job_run: the job has failed");
	j->ck.ab = ab;
	if (budget == 0)
		budget = 1;
	while (j->phase != JOB_DONE && used < budget)
	{
		int			rc = 0;

		if (j->phase == JOB_PARTITION)
		{
			if (j->ri >= j->n_ranges)
				j->phase = JOB_ENCODE;
			else
				rc = job_partition(j, budget, &used, err);
		}
		else if (j->fi >= j->fr.n)
			j->phase = JOB_DONE;
		else if ((rc = job_encode(j, budget, &used, err)) == 1)
			j->fi++;
		if (rc < 0)
		{
			j->failed = true;
			j->ck.ab = NULL;
			return -1;
		}
		/* one check per call at least: a stop is seen between parts */
		if (j->phase != JOB_DONE && used >= budget && ab && llm_should_abort(ab))
		{
			j->failed = true;
			j->ck.ab = NULL;
			return llm_err(err, LLM_ABORT_MSG);
		}
	}
	j->ck.ab = NULL;
	j->work += used;
	return j->phase == JOB_DONE ? 1 : 0;
}

/*
 * Units of work the job's calls have counted against their budgets, in
 * all (a call may go past its budget by what one step does).
 */
size_t
llm_tok_job_work(const llm_tok_job *j)
{
	return j->work;
}

/*
 * Hand the ids of a finished job to the caller (see tokenizer.h).
 */
int
llm_tok_job_take(llm_tok_job *j, int32_t **out, size_t *n, char *err)
{
	*out = NULL;
	*n = 0;
	if (j->phase != JOB_DONE || j->failed)
		return llm_err(err, "llm_tok_job_take: the tokenization is not finished");
	if (!j->vec.v)
	{
		j->vec.v = malloc(sizeof(int32_t));
		if (!j->vec.v)
			return llm_err(err, "out of memory");
	}
	*out = j->vec.v;
	*n = j->vec.n;
	j->vec = (tok_vec) {0};
	return 0;
}

/*
 * Bytes of the text the job has split on special tokens so far, and in
 * all (for progress reports).
 */
size_t
llm_tok_job_bytes(const llm_tok_job *j, size_t *total)
{
	if (total)
		*total = j->len;
	return j->phase == JOB_PARTITION ? j->rpos : j->len;
}

/*
 * Ids the job has made so far: fragments are encoded in order and a
 * fragment's ids are appended only once final, so they are a prefix of
 * the final ids.
 */
size_t
llm_tok_job_n_ids(const llm_tok_job *j)
{
	return j->vec.n;
}

/*
 * Hand over the ids made so far by an unfinished job (a prefix of the
 * final ones); the job is then finished with.
 */
int
llm_tok_job_take_prefix(llm_tok_job *j, int32_t **out, size_t *n, char *err)
{
	*out = NULL;
	*n = 0;
	if (j->failed)
		return llm_err(err, "llm_tok_job_take_prefix: the job has failed");
	if (!j->vec.v)
	{
		j->vec.v = malloc(sizeof(int32_t));
		if (!j->vec.v)
			return llm_err(err, "out of memory");
	}
	*out = j->vec.v;
	*n = j->vec.n;
	j->vec = (tok_vec) {0};
	j->failed = true;
	return 0;
}
