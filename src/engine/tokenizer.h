/*
 * tokenizer.h - tokenizers built from GGUF metadata.
 *
 * Supported tokenizer.ggml.model values:
 *   "gpt2"  byte-level BPE with the pre-tokenizer named in
 *           tokenizer.ggml.pre (default, gpt2, llama3/llama-bpe, smollm,
 *           qwen2, ...), merges from tokenizer.ggml.merges;
 *   "llama" SentencePiece-style BPE driven by tokenizer.ggml.scores with
 *           <0xXX> byte fallback and the "▁" space marker.
 * Control (and unknown) tokens are matched in the text only when
 * parse_special is true; user-defined tokens are matched always, as
 * llama.cpp does.
 * Token ids match llama.cpp's. When tokenizer.ggml.eot_token_id is absent,
 * EOT is the first of <|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>,
 * <|endoftext|>, ... found in the vocabulary (llama.cpp takes whichever
 * its hash map yields first); the end-of-generation set is llama.cpp's.
 */
#ifndef LLM_TOKENIZER_H
#define LLM_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "llm_util.h"

typedef struct llm_tokenizer llm_tokenizer;

/* token types as stored in tokenizer.ggml.token_type */
enum
{
	LLM_TOKEN_NORMAL = 1,
	LLM_TOKEN_UNKNOWN = 2,
	LLM_TOKEN_CONTROL = 3,
	LLM_TOKEN_USER_DEFINED = 4,
	LLM_TOKEN_UNUSED = 5,
	LLM_TOKEN_BYTE = 6
};

/*
 * Build a tokenizer from the file's metadata; validates the vocabulary
 * (array types and lengths, special token ids < vocab size, merges that
 * name existing tokens). -1 with err on failure.
 */
int			llm_tokenizer_load(llm_tokenizer **out, const gguf_file *f, char *err);
void		llm_tokenizer_free(llm_tokenizer *t);

int32_t		llm_tokenizer_n_vocab(const llm_tokenizer *t);
int32_t		llm_tokenizer_bos(const llm_tokenizer *t);	/* -1 if none */
int32_t		llm_tokenizer_eos(const llm_tokenizer *t);	/* -1 if none */
int32_t		llm_tokenizer_eot(const llm_tokenizer *t);	/* -1 if none */
bool		llm_tokenizer_add_bos(const llm_tokenizer *t);	/* metadata default */
/* true for EOS, EOT and other end-of-generation tokens */
bool		llm_tokenizer_is_eog(const llm_tokenizer *t, int32_t tok);
/* id of a token whose text is exactly s, or -1 */
int32_t		llm_tokenizer_find(const llm_tokenizer *t, const char *s);
/* raw vocabulary text of a token (NUL-terminated), NULL if out of range */
const char *llm_tokenizer_text(const llm_tokenizer *t, int32_t tok);
/*
 * Length of the longest vocabulary text (at least 1): a text of len bytes
 * has at least len / llm_tokenizer_max_text() tokens, BOS aside.
 */
size_t		llm_tokenizer_max_text(const llm_tokenizer *t);

/*
 * Tokenize len bytes of text. On success *out is a malloc'd array of *n
 * ids (caller frees). add_bos prepends BOS when the model has one.
 */
int			llm_tokenize(const llm_tokenizer *t, const char *text, size_t len,
						 bool add_bos, bool parse_special,
						 int32_t **out, size_t *n, char *err);

/* a byte range of a text */
typedef struct llm_text_span
{
	size_t		off;
	size_t		len;
} llm_text_span;

/*
 * llm_tokenize() in which special-token text (control and unknown
 * tokens) is matched only inside the n_marks ranges marks (in order, not
 * overlapping); everywhere else the text is plain, user-defined tokens
 * excepted. Splitting happens only at the ranges, so a text whose
 * special tokens all lie in them gives the same ids as llm_tokenize()
 * with parse_special.
 */
int			llm_tokenize_marked(const llm_tokenizer *t, const char *text, size_t len,
								bool add_bos, const llm_text_span *marks, size_t n_marks,
								int32_t **out, size_t *n, char *err);

/*
 * llm_tokenize() and llm_tokenize_marked() that ask ab (may be NULL) every
 * few thousand pre-tokenizer pieces, words and merges whether to stop; on
 * a stop they free what they built and return -1 with LLM_ABORT_MSG.
 */
int			llm_tokenize_ex(const llm_tokenizer *t, const char *text, size_t len,
							bool add_bos, bool parse_special, const llm_abort *ab,
							int32_t **out, size_t *n, char *err);
int			llm_tokenize_marked_ex(const llm_tokenizer *t, const char *text, size_t len,
								   bool add_bos, const llm_text_span *marks,
								   size_t n_marks, const llm_abort *ab,
								   int32_t **out, size_t *n, char *err);

/*
 * Tokenizing in bounded parts (tokenizer_job.c), for a caller that must
 * not be held up for the whole of a long text: llm_tok_job_new() takes
 * the arguments of llm_tokenize() (n_marks 0), or of llm_tokenize_marked()
 * (n_marks > 0: parse_special is then ignored); text and marks must stay
 * valid until llm_tok_job_free(). Each llm_tok_job_run() does about
 * budget bytes of work (splitting on special tokens, a regex pass or the
 * merges over that many bytes of the text, or that many heap operations
 * of the merges of one long piece; the split of a window with no place
 * to end goes on over calls too), asks ab (may be NULL)
 * as llm_tokenize_ex() does and once more before it returns, and returns
 * 1 when the ids are ready, 0 when work is left, -1 with err
 * (LLM_ABORT_MSG on a stop; the job is then finished with). After 1,
 * llm_tok_job_take() hands over the ids: exactly those of llm_tokenize()
 * or llm_tokenize_marked() on the same arguments. llm_tok_job_bytes()
 * says how far the split on special tokens has come (of *total),
 * llm_tok_job_work() the units of work counted against the budgets so
 * far (a call goes past its budget by at most what one step does).
 */
typedef struct llm_tok_job llm_tok_job;

int			llm_tok_job_new(llm_tok_job **out, const llm_tokenizer *t, const char *text,
							size_t len, bool add_bos, bool parse_special,
							const llm_text_span *marks, size_t n_marks, char *err);
int			llm_tok_job_run(llm_tok_job *j, size_t budget, const llm_abort *ab, char *err);
int			llm_tok_job_take(llm_tok_job *j, int32_t **out, size_t *n, char *err);
size_t		llm_tok_job_bytes(const llm_tok_job *j, size_t *total);
/* ids made so far: always a prefix of the final ones (BOS included) */
size_t		llm_tok_job_n_ids(const llm_tok_job *j);
/* units of work done so far */
size_t		llm_tok_job_work(const llm_tok_job *j);
/* hand over those ids (malloc'd) of an unfinished job, which then ends */
int			llm_tok_job_take_prefix(llm_tok_job *j, int32_t **out, size_t *n, char *err);
void		llm_tok_job_free(llm_tok_job *j);

/*
 * The last ids of llm_tokenize(t, text, len, add_bos, false) without
 * tokenizing all of the text (tokenizer_tail.c): finds a place cut > 0
 * where the ids of text[cut..len) are provably the tail of the whole's
 * (byte-level BPE with a known pre-tokenizer, or SentencePiece; see
 * there), at least about 8 * want + 4096 bytes from the end, doubling
 * the suffix until it gives at least want ids. Returns 1 with those ids
 * in *out (malloc'd; no BOS) and the place in *cut, 0 when there is no
 * such place or the suffix would be the whole text (nothing is
 * returned: tokenize the whole), -1 with err (LLM_ABORT_MSG when ab
 * asked to stop).
 */
int			llm_tokenize_tail(const llm_tokenizer *t, const char *text, size_t len,
							  size_t want, const llm_abort *ab, int32_t **out,
							  size_t *n, size_t *cut, char *err);

/*
 * Bytes that token tok stands for in the output (byte-level decoding
 * applied; may be a fragment of a UTF-8 character). Control tokens give
 * their text only when render_special. Returns the number of bytes the
 * piece has (which may exceed cap: then only cap bytes were written), or
 * -1 for an out-of-range id.
 */
int			llm_token_to_piece(const llm_tokenizer *t, int32_t tok,
							   bool render_special, char *buf, size_t cap);

/*
 * Detokenize a whole sequence into a malloc'd NUL-terminated string.
 * Returns NULL with err on failure.
 */
char	   *llm_detokenize(const llm_tokenizer *t, const int32_t *toks, size_t n,
						   bool render_special, char *err);

#endif							/* LLM_TOKENIZER_H */
