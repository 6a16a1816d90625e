#!/usr/bin/env python3
"""make_tokenizer_golden.py OUTDIR [--golden TSV] - SentencePiece-style fixture.

Writes OUTDIR/spm-vocab.gguf: a vocabulary-only GGUF with
tokenizer.ggml.model = "llama" (SentencePiece BPE driven by scores):
<unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>, a control and a
user-defined token, and a few hundred scored pieces built from a small word
list (every piece needed to reach a word by merging is present). Some
scores are equal on purpose, to exercise the leftmost-first tie rule.
add_space_prefix is left out so the default (true) applies.

With --golden TSV it also loads that file in llama-cpp-python
(vocab_only=True) and writes the reference ids of the strings below, one
line each: mode<TAB>hex(utf-8 bytes)<TAB>space-separated ids, where mode
"plain" is parse_special=false and "special" parse_special=true, never with
BOS. test/unit/test_tokenizer.c compares the C tokenizer against it.

The Makefile runs it without --golden to create the fixture; regenerate the
committed golden file with
    python3 test/golden/make_tokenizer_golden.py build/fixtures \\
        --golden test/golden/spm_tokenize.tsv
Output is deterministic: re-running it gives identical files.
"""

import argparse
import os
import random
import sys

import gguf

SP = "\u2581"   # SentencePiece's visible space

WORDS = [
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "hello",
    "world", "token", "tokens", "tokenizer", "database", "postgres", "query",
    "select", "from", "where", "and", "or", "not", "is", "in", "on", "at",
    "a", "an", "this", "that", "with", "model", "language", "large", "small",
    "test", "testing", "café", "naïve", "über", "señor", "中文", "字",
    "data", "base", "sentence", "piece", "merge", "score", "byte", "space",
    "new", "line", "one", "two", "three", "123", "2024",
]

# characters that get their own piece (others fall back to byte tokens)
CHARS = (list("abcdefghijklmnoprstuvwxy") + list("ABCDEFGHIJKLMNOPRSTUVWY") +
         list("0123456789") + list(".,!?;:'\"()-_/") +
         ["é", "ï", "ü", "ñ", "中", "文", "字", SP])

CONTROL = ["<|ctrl|>"]
USER_DEFINED = ["<|user|>"]

STRINGS = [
    "", " ", "  ", "hello", "Hello", "hello world", " hello world",
    "hello  world", "hello   world ", "the quick brown fox jumps over the lazy dog",
    "The Quick Brown Fox", "tokenizer tokens token", "testing, testing: 1 2 3.",
    "select * from database where query is not null;", "postgres\tdatabase",
    "new\nline", "two\n\nlines\n", "\n", "\t", " \n \t ", "café naïve über señor",
    "cafe\u0301", "中文字", "中文 字符", "日本語", "한국어", "emoji \U0001F999 llama",
    "\U0001F44D\U0001F3FD", "qqq zzz xxx", "QZX", "a", "ab", "abc", "aaaa",
    "2024-11-22", "123456789", "3.14159", "one two three", "large language model",
    "small data base", "data base", "sentencepiece", "merge score byte space",
    "<s>hello</s>", "<|ctrl|>hello<|ctrl|>", "<|user|>hi", "hi<|user|>",
    "<|user|><|user|>", "x<s>y</s>z", "<unk>", "<0x41>", "\u2581hello",
    "hello\u2581world", "tab\there", "(parens) [brackets] {braces}",
    "quote's \"double\"", "over-the-top", "path/to/file.txt",
    "\u00a0nbsp", "mixed Ünïcödé", "\u0000nul", "end.",
]

# byte strings that are not valid UTF-8 (tokenized byte by byte)
RAW = [b"\xff\xfe", b"caf\xc3", b"\x80abc", b"a\xe2\x96b", b"\xc3\xa9\xc3"]


def pieces():
    """Return the ordered list of normal pieces (no duplicates)."""
    out = []
    seen = set()

    def add(p):
        if p and p not in seen:
            seen.add(p)
            out.append(p)

    for c in CHARS:
        add(c)
    for w in WORDS:
        sw = SP + w
        for text in (w, sw):
            for n in range(2, len(text) + 1):      # every prefix
                add(text[:n])
            for i in range(1, len(text)):          # short substrings
                for n in (2, 3):
                    add(text[i:i + n])
    return out


def build_vocab():
    """Return tokens, scores, token types."""
    rng = random.Random(20241122)
    tokens = ["<unk>", "<s>", "</s>"]
    types = [2, 3, 3]
    scores = [0.0, 0.0, 0.0]
    for b in range(256):
        tokens.append("<0x%02X>" % b)
        types.append(6)
        scores.append(0.0)
    for t in CONTROL:
        tokens.append(t)
        types.append(3)
        scores.append(0.0)
    for t in USER_DEFINED:
        tokens.append(t)
        types.append(4)
        scores.append(0.0)
    for p in pieces():
        tokens.append(p)
        types.append(1)
        # longer pieces tend to score higher; rounding creates ties
        s = -10.0 + len(p) * 1.5 + rng.random() * 4.0
        scores.append(round(s * 2.0) / 2.0)
    return tokens, scores, types


def write_gguf(path):
    tokens, scores, types = build_vocab()
    w = gguf.GGUFWriter(path, "llama")
    w.add_string("general.name", "spm-vocab")
    w.add_uint32("llama.block_count", 1)
    w.add_uint32("llama.context_length", 128)
    w.add_uint32("llama.embedding_length", 64)
    w.add_uint32("llama.feed_forward_length", 128)
    w.add_uint32("llama.attention.head_count", 4)
    w.add_uint32("llama.attention.head_count_kv", 4)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_uint32("llama.rope.dimension_count", 16)
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_uint32("tokenizer.ggml.bos_token_id", 1)
    w.add_uint32("tokenizer.ggml.eos_token_id", 2)
    w.add_uint32("tokenizer.ggml.unknown_token_id", 0)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    return len(tokens)


def write_golden(gguf_path, tsv_path):
    from llama_cpp import Llama

    llm = Llama(model_path=gguf_path, vocab_only=True, verbose=False)
    cases = [s.encode("utf-8") for s in STRINGS] + RAW
    lines = []
    for b in cases:
        for mode, special in (("plain", False), ("special", True)):
            ids = llm.tokenize(b, add_bos=False, special=special)
            lines.append("%s\t%s\t%s" % (mode, b.hex(), " ".join(map(str, ids))))
    with open(tsv_path, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    return len(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir", help="directory for spm-vocab.gguf")
    ap.add_argument("--golden", metavar="TSV",
                    help="also write llama-cpp-python's ids to TSV")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    path = os.path.join(args.outdir, "spm-vocab.gguf")
    n = write_gguf(path)
    print("%s: %d tokens" % (path, n))
    if args.golden:
        k = write_golden(path, args.golden)
        print("%s: %d lines" % (args.golden, k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
