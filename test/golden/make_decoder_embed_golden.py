#!/usr/bin/env python3
"""Golden data for embeddings from decoder GGUF models (not run in CI).

Reference: llama.cpp through llama-cpp-python 0.3.36 (see README.md),
`Llama(..., embedding=True, pooling_type=...)` and `Llama.embed(text,
normalize=True)`, one text per call, each text tokenized by llama.cpp
with its special tokens (BOS/EOS as the GGUF's metadata says).

Models:
  SmolLM2-135M-Instruct.Q4_1.gguf  (the default model, from
      ${LLM_CACHE:-~/.cache/llm}): mean pooling for every corpus string,
      last-token pooling for a few
  qwen3-embed.gguf  (written by test/fixtures/make_qwen3_fixture.py into a
      temporary directory): the pooling its metadata names (last); plus a
      greedy generation from a fixed prompt
Both with an f32 KV cache, as our engine keeps it: llama.cpp's default f16
cache alone moves SmolLM2's last-token embeddings by up to 1 - 0.9992 in
cosine (measured on "A man is eating a piece of bread."), which would
leave little room under the 0.999 bar for the test's other differences.

Output: test/golden/decoder_embed.tsv, lines of
  fixture <TAB> qwen3-embed.gguf <TAB> sha256 of the fixture
  embed <TAB> model file <TAB> mean|last <TAB> hex(utf-8 text) <TAB>
        space-separated token ids <TAB> space-separated floats (%.7g)
  gen <TAB> model file <TAB> prompt ids <TAB> greedy ids

usage: make_decoder_embed_golden.py [OUT.tsv]
"""
import hashlib
import os
import subprocess
import sys
import tempfile

import numpy as np
import llama_cpp
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("LLM_CACHE", os.path.expanduser("~/.cache/llm"))
SMOL = os.path.join(CACHE, "SmolLM2-135M-Instruct.Q4_1.gguf")


def corpus():
    """About forty strings: short, long, accents, CJK, emoji, whitespace."""
    long_en = ("PostgreSQL is a powerful, open source object-relational database "
               "system with over 35 years of active development that has earned it "
               "a strong reputation for reliability, feature robustness, and "
               "performance. ") * 6
    long_code = "\n".join("    x%d = compute(x%d, %d) * 0.%d  # step %d" % (i, i - 1, i, i, i)
                          for i in range(1, 12))
    return [
        "Hello world",
        "hello",
        "A",
        "The quick brown fox jumps over the lazy dog.",
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The girl is carrying a baby.",
        "A woman is playing violin.",
        "SELECT id, name FROM users WHERE age > 30 ORDER BY name;",
        "def f(x):\n    return x * 2  # double it",
        "int main(void) { printf(\"%d\\n\", 42); return 0; }",
        "{\"key\": [1, 2.5, -3e10], \"nested\": {\"a\": null}}",
        "https://example.com/path?query=1&other=two#fragment",
        "Café au lait, crème brûlée, naïve façade, résumé.",
        "Ångström, Øresund, Ærø, Straße",
        "Ça va? Où est la bibliothèque? Él está aquí.",
        "日本語のテキストです。東京は大きな都市です。",
        "中文句子：我喜欢用数据库。",
        "한국어 문장입니다.",
        "Привет, мир! Как дела?",
        "مرحبا بالعالم",
        "नमस्ते दुनिया",
        "Emoji: 😀🎉👍 and 👨‍👩‍👧‍👦 family, flags 🇫🇷🇯🇵",
        "🙂",
        "   leading and trailing spaces   ",
        "tabs\tand\nnewlines\r\nmixed",
        "\n\n\n",
        " ",
        "multiple     spaces    between     words",
        "1234567890 3.14159 1,000,000 2024-01-31",
        "I'm sure they'll say it's fine, won't they?",
        "ALL CAPS SENTENCE WITH SHOUTING!!!",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z",
        "<|im_start|>user literal special-token text<|im_end|>",
        "The mitochondria is the powerhouse of the cell.",
        "Machine learning models map text to vectors.",
        "Vector similarity search finds the nearest neighbours.",
        "Der schnelle braune Fuchs springt über den faulen Hund.",
        long_en,
        long_code,
    ]


def hexs(s):
    return s.encode("utf-8").hex()


def fmt(v):
    return " ".join("%.7g" % x for x in v)


def embed_lines(path, name, pooling, texts, kv_f32):
    """Embed every text with llama.cpp; return TSV lines."""
    kw = {}
    if kv_f32:
        kw = {"type_k": 0, "type_v": 0}    # GGML_TYPE_F32
    m = Llama(model_path=path, embedding=True, pooling_type=pooling, n_ctx=2048,
              n_batch=2048, n_ubatch=2048, n_threads=2, verbose=False, **kw)
    pname = {llama_cpp.LLAMA_POOLING_TYPE_MEAN: "mean",
             llama_cpp.LLAMA_POOLING_TYPE_LAST: "last"}[m.pooling_type()]
    out = []
    for t in texts:
        ids = m.tokenize(t.encode("utf-8"))
        if len(ids) == 0:
            continue
        v = np.asarray(m.embed(t, normalize=True), dtype=np.float64)
        out.append("embed\t%s\t%s\t%s\t%s\t%s\n" % (name, pname, hexs(t),
                                                   " ".join(map(str, ids)), fmt(v)))
    return out


def gen_line(path, name, prompt, n):
    """Greedy generation of n tokens after the prompt ids."""
    m = Llama(model_path=path, n_ctx=96, n_batch=96, n_ubatch=96, n_threads=2,
              type_k=0, type_v=0, logits_all=True, verbose=False)
    m.eval(prompt)
    got = []
    for _ in range(n):
        tok = int(np.argmax(m.scores[m.n_tokens - 1]))
        got.append(tok)
        m.eval([tok])
    return "gen\t%s\t%s\t%s\n" % (name, " ".join(map(str, prompt)), " ".join(map(str, got)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "decoder_embed.tsv")
    texts = corpus()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(ROOT, "test/fixtures/make_qwen3_fixture.py"),
                        tmp], check=True)
        q3 = os.path.join(tmp, "qwen3-embed.gguf")
        with open(q3, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        lines.append("fixture\tqwen3-embed.gguf\t%s\n" % digest)
        # the fixture's context is 96 tokens: only texts that fit
        short = [t for t in texts if len(t.encode("utf-8")) < 80]
        lines += embed_lines(q3, "qwen3-embed.gguf", llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED,
                             short, True)
        lines.append(gen_line(q3, "qwen3-embed.gguf", [72, 101, 108, 108, 111, 32, 119], 12))
    smol = os.path.basename(SMOL)
    lines += embed_lines(SMOL, smol, llama_cpp.LLAMA_POOLING_TYPE_MEAN, texts, True)
    lines += embed_lines(SMOL, smol, llama_cpp.LLAMA_POOLING_TYPE_LAST, texts[:6] + texts[-2:-1],
                         True)
    with open(out, "w") as f:
        f.writelines(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
