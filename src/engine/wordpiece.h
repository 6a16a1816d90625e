/*
 * wordpiece.h - the BERT tokenizer: BertNormalizer + BertPreTokenizer +
 * WordPiece, matching the Hugging Face `tokenizers` library.
 *
 * Pipeline for one text:
 *  1. split out added/special tokens ([CLS], [SEP], ... matched verbatim);
 *  2. normalise: clean_text (drop NUL, U+FFFD and C* characters except
 *     tab/CR/LF; white space becomes ' '), handle_chinese_chars (spaces
 *     around CJK ideographs), strip_accents (NFD, drop Mn), lowercase;
 *  3. split on white space, isolate punctuation (ASCII punctuation and
 *     Unicode P*);
 *  4. WordPiece: greedy longest match, continuation pieces prefixed "##",
 *     a word with more than max_input_chars_per_word characters or with an
 *     unmatched remainder becomes [UNK];
 *  5. optionally wrap in [CLS] ... [SEP].
 */
#ifndef LLM_WORDPIECE_H
#define LLM_WORDPIECE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "llm_util.h"

typedef struct llm_wp_options
{
	bool		lowercase;
	int			strip_accents;	/* 1 yes, 0 no, -1 follow lowercase */
	bool		handle_chinese_chars;
	bool		clean_text;
	int			max_input_chars_per_word;	/* 100 */
	/*
	 * Ids of the unknown, sequence-start, sequence-end and padding tokens;
	 * -1 (the default) looks up [UNK], [CLS], [SEP] and [PAD] by name.
	 * MPNet's tokenizer.json names <s> and </s> in its post-processor.
	 */
	int32_t		unk_id,
				cls_id,
				sep_id,
				pad_id;
} llm_wp_options;

typedef struct llm_wordpiece llm_wordpiece;

/*
 * The BERT defaults: lowercase, accents follow lowercase, CJK, clean, 100,
 * special tokens by name.
 */
void		llm_wp_default_options(llm_wp_options *o);

/*
 * Build from a token list (id = index). Tokens are in vocab.txt form
 * (continuations start with "##"). Special tokens are found by name
 * ([UNK], [CLS], [SEP], [PAD], [MASK]) unless opt gives their ids;
 * is_special (may be NULL) marks the tokens matched verbatim in the input
 * instead of the named ones.
 */
int			llm_wp_new(llm_wordpiece **out, const char *const *tokens,
					   const size_t *lens, int n, const bool *is_special,
					   const llm_wp_options *opt, char *err);

/* Build from a vocab.txt file (one token per line). */
int			llm_wp_new_vocab_txt(llm_wordpiece **out, const char *path,
								 const llm_wp_options *opt, char *err);

/*
 * Build from a parsed tokenizer.json (model.type WordPiece, normalizer
 * BertNormalizer options and added_tokens are honoured; model.unk_token,
 * the post-processor's cls and sep (BertProcessing, RobertaProcessing or
 * TemplateProcessing) and padding.pad_id choose the special ids).
 */
int			llm_wp_new_tokenizer_json(llm_wordpiece **out, const llm_json *root,
									  char *err);

/*
 * Make the special token id also match input that the normalizer turns
 * into it (an added token marked "normalized", as MPNet's <unk>): when the
 * tokenizer lowercases and the token is lowercase ASCII, it matches
 * ignoring ASCII case ("<UNK>" is <unk>). Other normalizations (accents,
 * control characters) are not applied to such matches.
 */
void		llm_wp_fold_special(llm_wordpiece *wp, int32_t id);

void		llm_wp_free(llm_wordpiece *wp);

int			llm_wp_vocab_size(const llm_wordpiece *wp);
int32_t		llm_wp_cls_id(const llm_wordpiece *wp);
int32_t		llm_wp_sep_id(const llm_wordpiece *wp);
int32_t		llm_wp_pad_id(const llm_wordpiece *wp);

/* Token text for an id (vocab.txt form), NULL when out of range. */
const char *llm_wp_token(const llm_wordpiece *wp, int32_t id);

/*
 * Tokenize text[0..len). *ids is malloc'd (caller frees), *n_ids its
 * length. add_special wraps the result in [CLS] ... [SEP]. max_len > 0
 * truncates to max_len ids (specials included); 0 means no limit.
 */
int			llm_wp_encode(const llm_wordpiece *wp, const char *text, size_t len,
						  bool add_special, int max_len, int32_t **ids,
						  int *n_ids, char *err);
/*
 * llm_wp_encode that asks ab (may be NULL) every 4096 words whether to
 * stop; a stop returns -1 with LLM_ABORT_MSG and frees everything.
 */
int			llm_wp_encode_ex(const llm_wordpiece *wp, const char *text, size_t len,
							 bool add_special, int max_len, const llm_abort *ab,
							 int32_t **ids, int *n_ids, char *err);

/*
 * Tokenizing in bounded parts, for a caller that must not spend the time
 * of a whole long text at once or keeps only some of its ids. A job scans
 * the text as llm_wp_encode_ex() does, but hands ordinary text to the
 * normaliser and WordPiece about budget bytes at a time, cut at the next
 * byte where decoding starts afresh (no UTF-8 sequence reaches over it);
 * the normaliser works code point by code point, and the word a part
 * ends inside is carried to the next one: its normalised code points
 * while it has at most max_input_chars_per_word of them, else only the
 * fact that it is one [UNK] whatever follows. So no part does more than
 * about budget bytes (plus one special token) and the job holds no more
 * than one part and one word besides its ids, whatever the text; its ids
 * are always a prefix of llm_wp_encode()'s on the same text (no max_len),
 * and all of them once llm_wp_job_run() has returned 1 (0: work is left,
 * -1 with err, LLM_ABORT_MSG when ab asked to stop; it asks ab at the
 * start of each call as well). text must stay valid until
 * llm_wp_job_free(). llm_wp_job_pos() is the number of bytes done,
 * llm_wp_job_take() hands over the ids made so far (malloc'd).
 */
typedef struct llm_wp_job llm_wp_job;

int			llm_wp_job_new(llm_wp_job **out, const llm_wordpiece *wp, const char *text,
						   size_t len, bool add_special, char *err);
int			llm_wp_job_run(llm_wp_job *j, size_t budget, const llm_abort *ab, char *err);
size_t		llm_wp_job_n_ids(const llm_wp_job *j);
size_t		llm_wp_job_pos(const llm_wp_job *j);
int			llm_wp_job_take(llm_wp_job *j, int32_t **ids, int *n_ids, char *err);
void		llm_wp_job_free(llm_wp_job *j);

/*
 * The ids llm_wp_encode(wp, text, len, true, max_len) gives (max_len >= 2),
 * made in parts that stop as soon as more than count_cap (>= max_len) ids
 * are made: the work is that of the first count_cap ids and one part, not
 * of the whole text. *n_whole is the number of ids of the whole text,
 * [CLS] and [SEP] included, when that is at most count_cap, else
 * count_cap + 1.
 */
int			llm_wp_encode_first(const llm_wordpiece *wp, const char *text, size_t len,
								int max_len, int count_cap, const llm_abort *ab,
								int32_t **ids, int *n_ids, int *n_whole, char *err);

/*
 * [CLS], the last max_len - 2 ids of the text (all when it has fewer) and
 * [SEP] (max_len >= 2): what cutting llm_wp_encode(wp, text, len, true, 0)
 * to its last max_len ids and restoring [CLS] in front gives. Only a
 * suffix of the text is tokenized: it starts where a cut can change no
 * id (before a code point as the jobs above are cut, and not at a byte
 * that occurs after the first byte of a special token's text), holds
 * about 8 * max_len + 4096 bytes and is doubled until it has enough ids;
 * each suffix is tokenized by a job in parts (asking ab before each).
 */
int			llm_wp_encode_last(const llm_wordpiece *wp, const char *text, size_t len,
							   int max_len, const llm_abort *ab, int32_t **ids,
							   int *n_ids, char *err);

#endif							/* LLM_WORDPIECE_H */
