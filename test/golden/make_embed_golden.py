#!/usr/bin/env python3
"""Golden files for the BERT sentence-embedding engine (not run in CI).

Loads all-MiniLM-L6-v2 from the model cache with sentence-transformers
(pip install sentence-transformers; it pulls torch) and writes, for a fixed
corpus of short and long strings:

  test/golden/embed_tokens.tsv   hex(utf-8 text) TAB space-separated ids
                                 (HF tokenizer, special tokens, no truncation)
  test/golden/embed_vectors.tsv  hex(utf-8 text) TAB 384 floats (%.6g)
                                 (SentenceTransformer.encode, which truncates
                                 to the model's max_seq_length)

usage: make_embed_golden.py [MODEL_DIR]   (default $LLM_CACHE/all-MiniLM-L6-v2)
"""
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def corpus():
    """The test strings: hand-written cases plus seeded generated ones."""
    c = [
        "Hello world",
        "hello world",
        "HELLO WORLD",
        "Hello, world!",
        "The quick brown fox jumps over the lazy dog.",
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The girl is carrying a baby.",
        "A man is riding a horse.",
        "A woman is playing violin.",
        "Two men pushed carts through the woods.",
        "A man is riding a white horse on an enclosed ground.",
        "A monkey is playing drums.",
        "Someone in a gorilla costume is playing a set of drums.",
        "PostgreSQL is a powerful, open source object-relational database system.",
        "SELECT id, name FROM users WHERE age > 30 ORDER BY name;",
        "def f(x):\n    return x * 2  # double it",
        "int main(void) { printf(\"%d\\n\", 42); return 0; }",
        "for (i = 0; i < n; i++) a[i] += b[i] * c;",
        "console.log(`template ${value}`);",
        "{\"key\": [1, 2.5, -3e10], \"nested\": {\"a\": null}}",
        "https://example.com/path?query=1&other=two#fragment",
        "user.name+tag@example.co.uk",
        "Café au lait, crème brûlée, naïve façade, résumé.",
        "Ångström, Øresund, Ærø, Straße, ﬁancé",
        "Iñtërnâtiônàlizætiøn",
        "İstanbul ve Ißık; ΑΒΓΔ αβγδ; Σίσυφος ΣΟΦΙΑ",
        "Москва — столица России.",
        "Привет, как дела?",
        "שלום עולם",
        "مرحبا بالعالم",
        "नमस्ते दुनिया",
        "สวัสดีชาวโลก",
        "你好，世界！",
        "我爱北京天安门。",
        "日本語のテキストです。カタカナとひらがな。",
        "東京都は日本の首都です",
        "한국어 문장입니다. 안녕하세요!",
        "混合 text with 中文 and English words",
        "𠀀𠀁 rare CJK extension B 𪜀",
        "Emoji: 😀 😃 🎉 👍🏽 ❤️ 🇫🇷",
        "I love pizza 🍕 and beer 🍺!!!",
        "👨‍👩‍👧‍👦 family emoji zwj",
        "    leading and trailing spaces    ",
        "multiple     spaces\tand\ttabs\nand\nnewlines\r\n",
        "\u00a0non-breaking\u00a0spaces\u2003em\u2003space\u3000ideographic",
        "zero\u200bwidth\u200bspace and soft\u00adhyphen",
        "control\x07chars\x1b[0m and \x00 nul",
        "line\u2028separator\u2029paragraph",
        "1234567890",
        "3.14159 2.71828 1e-10 -42 +17 0x1F 1,000,000",
        "Version 2.0.1-beta+build.5",
        "$100.00 €50 £20 ¥1000 ₹500",
        "100% of 50% is 25%",
        "a.b.c.d.e.f.g",
        "!!!???...,,,;;;:::",
        "«quotes» „German“ ‘single’ “double” 「Japanese」",
        "em—dash en–dash minus − hyphen‐",
        "§ ¶ † ‡ • … ‰ ′ ″ ‹ › ⁂",
        "~`!@#$%^&*()_+-={}[]|\\:;\"'<>,.?/",
        "©®™ ℃ ℉ № ℗ ℠",
        "½ ¼ ¾ ² ³ ¹",
        "x² + y² = z²; E = mc²; ∑ ∫ ∂ √ ∞ ≠ ≤ ≥",
        "CamelCaseWord and snake_case_word and kebab-case-word",
        "UPPERCASE lowercase MiXeD cAsE",
        "unaffable unbelievable antidisestablishmentarianism",
        "supercalifragilisticexpialidocious",
        "a",
        "I",
        ".",
        "",
        " ",
        "[CLS]",
        "text with [SEP] in the middle and [MASK] too",
        "[UNK] [PAD] [cls] [sep]",
        "##suffix and ##",
        "don't won't can't shouldn't y'all",
        "e-mail, co-operate, re-enter",
        "The U.S.A. and the U.K. signed the treaty in 1945.",
        "Dr. Smith's patients (aged 45-60) were tested.",
        "#hashtag @mention $cashtag",
        "<html><body><p>Hello &amp; welcome</p></body></html>",
        "C:\\Program Files\\App\\bin\\app.exe --flag=value",
        "/usr/local/lib/python3.11/site-packages",
        "SELECT * FROM t; -- comment\nDROP TABLE students;",
        "The cat sat on the mat. The dog sat on the log.",
        "What is the capital of France? Paris is the capital of France.",
        "How do I install PostgreSQL extensions?",
        "Machine learning models can embed sentences into vectors.",
        "Semantic search finds documents with similar meaning.",
        "Vector databases store embeddings for fast similarity search.",
        "It was the best of times, it was the worst of times.",
        "To be, or not to be, that is the question.",
        "All happy families are alike; each unhappy family is unhappy in its own way.",
        "Call me Ishmael.",
        "ａｂｃ ＡＢＣ １２３ full-width",
        "ｶﾀｶﾅ half-width katakana",
        "Ｔｅｓｔ！",
        "combining: e\u0301 a\u0300 n\u0303 o\u0308",
        "precomposed: é à ñ ö",
        "Ǆ ǅ ǆ Ǳ ǲ ǳ titlecase digraphs",
        "ﬀ ﬁ ﬂ ﬃ ﬄ ligatures",
        "Ⅰ Ⅱ Ⅲ Ⅳ roman numerals",
        "ⓐⓑⓒ circled letters",
        "𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄 mathematical letters",
        "tab\tseparated\tvalues\t1\t2\t3",
        "a" * 99,
        "b" * 100,
        "c" * 101,
        "word " * 50,
        "verylongwordwithoutanyspacesthatkeepsgoingandgoingforeverandeverandneverstops",
    ]
    rnd = random.Random(1234)
    words = ("the of and to in is was for on that with as by at from his her "
             "database query index vector embedding model token sentence search "
             "running jumped quickly beautiful unbelievable reconstruction "
             "café naïve über straße résumé coöperate "
             "東京 北京 上海 한국 日本 こんにちは привет мир שלום مرحبا "
             "42 3.14 2024 1st 2nd #1 @home e-mail C++ node.js x86_64 "
             "😀 🎉 👍 ✔ ★ → ∞ © ®").split()
    puncts = [",", ".", "!", "?", ";", ":", " -", " (", ")", "\"", "'", "…"]
    for i in range(110):
        n = rnd.choice([3, 5, 8, 12, 20, 30])
        s = []
        for _ in range(n):
            w = rnd.choice(words)
            r = rnd.random()
            if r < 0.15:
                w = w.upper()
            elif r < 0.3:
                w = w.capitalize()
            s.append(w)
            if rnd.random() < 0.2:
                s.append(rnd.choice(puncts))
        sep = rnd.choice([" ", " ", " ", "  ", "\t", "\n"])
        c.append(sep.join(s))
    # long texts: more than 256 word pieces (truncated by the model)
    long_words = words + ["internationalization", "electroencephalography",
                          "pseudopseudohypoparathyroidism", "xylophone"]
    for i in range(12):
        n = rnd.choice([150, 220, 300, 450])
        c.append(" ".join(rnd.choice(long_words) for _ in range(n)))
    c.append("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 30)
    c.append("数据库系统" * 120)
    c.append(("The PostgreSQL extension runs language models inside the "
              "database so that queries can embed text. ") * 20)
    return c


def main():
    from sentence_transformers import SentenceTransformer

    cache = os.environ.get("LLM_CACHE", os.path.expanduser("~/.cache/llm"))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(cache, "all-MiniLM-L6-v2")
    model = SentenceTransformer(path, device="cpu")
    tok = model.tokenizer
    texts = corpus()
    assert len(texts) >= 220, len(texts)
    vecs = model.encode(texts, batch_size=16, convert_to_numpy=True)
    with open(os.path.join(HERE, "embed_tokens.tsv"), "w") as f:
        for t in texts:
            ids = tok(t, add_special_tokens=True, truncation=False)["input_ids"]
            f.write(t.encode("utf-8").hex() + "\t" + " ".join(str(i) for i in ids) + "\n")
    with open(os.path.join(HERE, "embed_vectors.tsv"), "w") as f:
        for t, v in zip(texts, vecs):
            f.write(t.encode("utf-8").hex() + "\t" + " ".join("%.6g" % x for x in v) + "\n")
    print("wrote %d strings (max_seq_length %d)" % (len(texts), model.max_seq_length))


if __name__ == "__main__":
    main()
