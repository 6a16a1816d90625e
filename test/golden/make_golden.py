#!/usr/bin/env python3
"""Produce the golden reference data in test/golden/ from llama.cpp.

Usage:
    python3 test/golden/make_golden.py [MODEL.gguf]
        [--only tokenize|generate|long|fixtures] [--fixtures DIR] [--out DIR]

The reference implementation is llama.cpp as packaged by llama-cpp-python
(the version is written into README.md by hand; see there).  This script is
not run in CI: the committed .tsv files are its output, and the engine's
tests compare against them.

Outputs (all UTF-8 text, one record per line, TAB separated):

  tokenize.tsv  mode, hex(utf-8 text), space-separated token ids
  generate.tsv  index, hex(prompt), prompt ids, 32 greedy ids,
                32 top-2 logit margins
  logits.tsv    index, n_vocab, max, logsumexp, top-256 id:logit,
                256 fixed random id:logit
  generate_long.tsv / logits_long.tsv
                the same for LONG_PROMPTS (600-1,500 tokens)
  fixtures.tsv  fixture, prompt index, prompt ids, n_vocab, all logits,
                16 greedy ids, 16 margins (--only fixtures)

Everything here is deterministic: the corpus and prompts are literals or
built from fixed arithmetic, the random id set uses numpy's PCG64 with seed
1234, and llama.cpp runs on the CPU with a fixed thread count.
"""

import argparse
import ctypes
import math
import os
import sys

import numpy as np

DEFAULT_MODEL = os.path.join(
    os.environ.get("LLM_CACHE", os.path.expanduser("~/.cache/llm")),
    "SmolLM2-135M-Instruct.Q4_1.gguf",
)

# Settings for the generation / logits context.  Keep README.md in step.
N_CTX = 2048
N_BATCH = 512
N_THREADS = 2
N_GEN = 32
N_TOP = 256
N_RANDOM = 256
RANDOM_SEED = 1234

# ---------------------------------------------------------------------------
# Tokenizer corpus
# ---------------------------------------------------------------------------

PROSE = [
    "Hello world",
    "Hello, world!",
    " Hello world",
    "hello world",
    "HELLO WORLD",
    "The quick brown fox jumps over the lazy dog.",
    "The Quick Brown Fox Jumps Over The Lazy Dog",
    "It was the best of times, it was the worst of times.",
    "Databases store rows; extensions add functions to them.",
    "PostgreSQL is an object-relational database management system.",
    "A sentence with a semicolon; another clause: and a colon.",
    "She said, \"I'm not sure that's right.\"",
    "Mr. Smith went to Washington, D.C., on Tuesday.",
    "e.g. i.e. etc. vs. a.m. p.m.",
    "The year 1984 was not like \"1984\".",
    "Once upon a time, in a land far, far away, there lived a small dragon"
    " who was afraid of the dark.",
    "Rain fell on the tin roof all night long, and nobody slept.",
    "Question: what is the capital of France? Answer: Paris.",
    "antidisestablishmentarianism",
    "Supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "a",
    "I",
    "ab",
    "the",
    " the",
    "  the",
    "The",
    "x y z",
    "one two  three   four    five",
    "CamelCaseIdentifierName",
    "snake_case_identifier_name",
    "kebab-case-identifier-name",
    "SCREAMING_SNAKE_CASE",
    "mIxEd CaSe TeXt",
    "O'Brien's dog's bone",
    "rock 'n' roll",
    "'quoted' \"double\" `backtick`",
]

CONTRACTIONS = [
    "don't",
    "Don't",
    "DON'T",
    "I'LL",
    "I'll",
    "i'll",
    "we've",
    "We'VE",
    "they're",
    "THEY'RE",
    "she'd",
    "He'S",
    "it's",
    "I'm",
    "I'M",
    "can't won't shouldn't wouldn't",
    "y'all'd've",
    "you're we're they're",
    "'s 't 're 've 'm 'll 'd",
    "don\u2019t (curly apostrophe)",
]

CODE = [
    "def f(x):\n    return x * 2\n",
    "def add(a, b):\n\treturn a + b\n",
    "import numpy as np\nprint(np.arange(10).sum())",
    "class Foo(Bar):\n    def __init__(self):\n        super().__init__()\n",
    "for (int i = 0; i < n; i++) {\n    sum += a[i];\n}",
    "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); return 0; }",
    "static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }",
    "fn main() {\n    let v: Vec<u8> = vec![1, 2, 3];\n    println!(\"{:?}\", v);\n}",
    "impl<T: Clone> Stack<T> { pub fn peek(&self) -> Option<&T> { self.items.last() } }",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello\")\n}",
    "const xs = [1, 2, 3].map((x) => x ** 2);",
    "async function load(url) { const r = await fetch(url); return r.json(); }",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name LIMIT 10;",
    "CREATE EXTENSION llm; SELECT llm_generate('hi', max_tokens => 16);",
    "UPDATE t SET x = x + 1 WHERE y IS NOT NULL RETURNING *;",
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "<div id='main'>\n  <span>text</span>\n</div>",
    "body { margin: 0; padding: 0 1rem; color: #333; }",
    "#!/bin/sh\nset -eu\nfor f in *.c; do gcc -c \"$f\"; done",
    "ls -la | grep '^d' | awk '{print $9}'",
    "public static void main(String[] args) { System.out.println(\"Hi\"); }",
    "std::vector<std::string> v{\"a\", \"b\"}; auto it = v.begin();",
    "x = lambda a, *args, **kw: (a, args, kw)",
    "if x != y and not (a <= b >= c): pass",
    "a += 1; b -= 2; c *= 3; d /= 4; e %= 5; f <<= 6; g >>= 7",
    "$ git commit -m \"fix: off-by-one in parser\"",
    "regex = r'^(?:[a-z0-9]+\\.)*[a-z]{2,}$'",
    "matrix[i][j] = matrix[i-1][j-1] + 1 if s[i] == t[j] else 0",
    "printf(\"%d %s %5.2f %%\\n\", n, s, x);",
    "  indented code line",
    "\tTabbed code line",
    "if (a) {\n\tif (b) {\n\t\tc();\n\t}\n}",
    "-- SQL comment\n/* C comment */\n// C++ comment\n# shell comment",
    "0x1F 0xdeadbeef 0b1010 0o755 1e-9 6.02e23",
    "foo_bar_baz = {'k': [1, 2, {'n': None}]}",
]

NUMBERS = [
    "0", "1", "12", "123", "1234", "12345", "123456", "1234567",
    "12345678", "123456789", "1234567890", "12345678901234567890",
    "3.14159", "2.718281828459045", "-42", "+7", "-0.001",
    "1,000,000", "1.000.000,00", "10 000", "100%", "$19.99", "\u20ac5,50",
    "1/2", "3/4 cup", "2^10 = 1024", "1e10", "007", "42nd", "1st 2nd 3rd 4th",
    "v1.2.3", "192.168.0.1", "+1 (555) 123-4567", "99 bottles of beer",
    "phone: 555-0100, ext. 23", "0.000000001", "9999999999999999",
    "pi is approximately 3.14159265358979323846",
]

DATES = [
    "2024-01-15",
    "2024-01-15T13:45:30Z",
    "15/01/2024",
    "01/15/2024",
    "January 15, 2024",
    "15 Jan 2024 13:45",
    "Mon, 15 Jan 2024 13:45:30 +0000",
    "12:30 pm",
    "23:59:59.999",
    "Q3 FY2023",
]

WHITESPACE = [
    "",
    " ",
    "  ",
    "   ",
    "    ",
    "        ",
    "\t",
    "\t\t",
    "\n",
    "\n\n",
    "\n\n\n",
    "\r\n",
    " \n ",
    "\t \n",
    " leading space",
    "trailing space ",
    "  two leading and two trailing  ",
    "multiple   spaces   between   words",
    "tab\tseparated\tvalues",
    "line one\nline two\nline three",
    "para one\n\npara two",
    "mixed \t \n whitespace \r\n run",
    "word\n",
    "\nword",
    "   \n\n   indented after blank lines",
    "end with newline and spaces\n   ",
    "a\u00a0non-breaking\u00a0space",
    "ideographic\u3000space",
    "zero\u200bwidth\u200bspace",
    "\u2003em\u2002en\u2009thin spaces",
]

EMOJI = [
    "\U0001F600",
    "I love pizza \U0001F355!",
    "\U0001F44D\U0001F3FD thumbs up, medium skin",
    "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 family",
    "\U0001F469\u200D\U0001F4BB woman technologist",
    "\U0001F3F3\uFE0F\u200D\U0001F308 rainbow flag",
    "\U0001F1FA\U0001F1F8 \U0001F1EF\U0001F1F5 \U0001F1E9\U0001F1EA \U0001F1EB\U0001F1F7",
    "\u2764\uFE0F heart with variation selector",
    "\U0001F525\U0001F525\U0001F525",
    "smile :) wink ;) frown :( \u263A",
    "\U0001F937\u200D\u2642\uFE0F shrug",
    "keycap 1\uFE0F\u20E3 #\uFE0F\u20E3",
]

SCRIPTS = [
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01",
    "\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8\u3002",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca",
    "\u3053\u3093\u306b\u3061\u306f\u3001\u5143\u6c17\u3067\u3059\u304b\uff1f",
    "\uc548\ub155\ud558\uc138\uc694, \uc138\uacc4!",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4.",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u062c\u0645\u064a\u0644\u0629",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "\u0411\u044b\u0441\u0442\u0440\u0430\u044f \u043a\u043e\u0440\u0438\u0447\u043d\u0435\u0432\u0430\u044f \u043b\u0438\u0441\u0430",
    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
    "Vi\u1ec7t Nam xin ch\u00e0o",
    "English \u4e2d\u6587 \ud55c\uad6d\uc5b4 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 mixed",
    "\u00a1Hola! \u00bfQu\u00e9 tal?",
    "Gr\u00fc\u00dfe aus M\u00fcnchen, Stra\u00dfe",
    "na\u00efve caf\u00e9 r\u00e9sum\u00e9 fa\u00e7ade",
    "nai\u0308ve cafe\u0301 re\u0301sume\u0301 fac\u0327ade",
    "\u00c5ngstr\u00f6m vs A\u030angstro\u0308m",
    "\u00f1 vs n\u0303",
    "\u0130stanbul \u0131\u015f\u0131k",
    "\u00e6\u00f8\u00e5 \u00c6\u00d8\u00c5",
    "\ufb01 ligature and \u2460 circled one and \uff21 fullwidth",
    "math: \u2200x \u2208 \u211d, x\u00b2 \u2265 0; \u221a2 \u2248 1.414",
    "\u03b1\u03b2\u03b3 \u0394\u03a3\u03a9",
    "\U0001D400\U0001D401\U0001D402 math bold",
    "\u2018single\u2019 \u201cdouble\u201d \u2014 em dash \u2013 en dash \u2026",
]

PUNCT = [
    "!!!",
    "???",
    "?!?!",
    "...",
    "......",
    "---",
    "***",
    "###",
    "===",
    "~~~",
    "@@@",
    "$$$",
    "%%%",
    "^^^",
    "&&&",
    "|||",
    "<<<>>>",
    "((()))",
    "[[[]]]",
    "{{{}}}",
    ";;;:::",
    ",,,",
    "\\\\\\",
    "///",
    "'''",
    "\"\"\"",
    "```",
    "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
    "Wait... what?!",
    "--option=value -v -- file",
]

WEB = [
    "https://www.example.com/path/to/page?query=1&x=y#frag",
    "http://localhost:8080/api/v1/users/42",
    "ftp://files.example.org/pub/file.tar.gz",
    "user.name+tag@example.co.uk",
    "mailto:someone@example.com",
    "www.postgresql.org/docs/current/xfunc-c.html",
    "{\"name\": \"Alice\", \"age\": 30, \"tags\": [\"a\", \"b\"]}",
    "{\"nested\": {\"k\": [1, 2.5, true, false, null]}, \"s\": \"\\u00e9\"}",
    "[{\"id\":1},{\"id\":2},{\"id\":3}]",
    "key: value\nlist:\n  - one\n  - two\n",
    "# Heading 1\n\n## Heading 2\n\nSome *italic* and **bold** text.",
    "- item one\n- item two\n  - nested item\n",
    "1. first\n2. second\n3. third",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "[link text](https://example.com) and ![img](a.png)",
    "> quoted line\n> another",
    "```python\nprint('hi')\n```",
    "`inline code` in a sentence",
    "<!-- html comment -->",
    "a,b,c\n1,2,3\n4,5,6",
]

# Strings containing the text of special (control) tokens.  They are
# tokenized in plain mode and again in special mode.
SPECIAL = [
    "<|im_start|>user\nhi<|im_end|>",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text before<|endoftext|>text after",
    "<|im_end|><|im_start|>",
    " <|im_start|> spaced <|im_end|> ",
    "<|im_start|>assistant\nSure! Here you go.<|im_end|>\n",
    "<repo_name>llm<file_sep>src/main.c",
    "<filename>a.py\n<gh_stars>100",
    "<jupyter_start><jupyter_code>print(1)<jupyter_output>1",
    "<issue_start>bug<issue_comment>fixed<issue_closed>",
    "<empty_output>",
    "<|im_start|><|im_start|><|im_start|>",
    "<|im_start|user",
    "<|IM_START|>",
    "<|endoftext|><|endoftext|>\n<|endoftext|>",
]


def long_strings():
    """Return the long inputs: long words, repeated runs and a ~5 KB text."""
    out = [
        "a" * 100,
        "ab" * 80,
        "z" * 1000,
        "x" * 257,
        " " * 64,
        "\n" * 40,
        "\t" * 33,
        "-" * 120,
        "=" * 77,
        "ha" * 50,
        "\U0001F600" * 30,
        "\u4e2d" * 60,
        "Llanfairpwllgwyngyllgogerychwyndrobwllllantysiliogogogoch",
        "Rindfleischetikettierungs\u00fcberwachungsaufgaben\u00fcbertragungsgesetz",
        "thisisaverylongwordwithoutanyspacesatallthatgoesonandonandon" * 3,
        "0123456789" * 20,
        "3.14159" * 10,
        "word " * 200,
    ]
    sentences = [
        "The extension loads a quantized language model from a GGUF file and",
        " keeps it in the memory of each backend process that asks for it.",
        " Every query that calls the generation function tokenizes its prompt,",
        " runs the transformer over the prompt tokens in batches, and then",
        " samples one token at a time until it reaches a stop condition.",
        " Careful engineers measure before they optimize, because the slow",
        " part of a program is rarely where intuition says it will be.",
        " On a small machine with two cores, memory bandwidth decides how fast",
        " tokens can be produced, since each new token reads every weight once.",
        " Prompt processing is different: many tokens share each weight read,",
        " so arithmetic throughput matters more than bandwidth there.",
        " Tokenizers split text into pieces with a regular expression first,",
        " then merge byte pairs by rank until no listed merge applies.",
        " Numbers are split into groups of digits, contractions are kept apart,",
        " and runs of whitespace are attached to the word that follows them.",
        " Testing against a reference implementation catches subtle mistakes",
        " that unit tests written from memory would happily repeat.",
    ]
    para = []
    n = 0
    i = 0
    while n < 5000:
        s = sentences[i % len(sentences)]
        if i >= len(sentences):
            # Vary later rounds so the text is not a pure repetition.
            s = s.replace(" the ", " the %d " % i, 1)
        para.append(s)
        n += len(s)
        i += 1
    out.append("".join(para))
    return out


def corpus():
    """Return the full tokenizer corpus as a list of str, without duplicates."""
    groups = [PROSE, CONTRACTIONS, CODE, NUMBERS, DATES, WHITESPACE, EMOJI,
              SCRIPTS, PUNCT, WEB, SPECIAL, long_strings()]
    seen = set()
    out = []
    for g in groups:
        for s in g:
            if s not in seen:
                seen.add(s)
                out.append(s)
    # Numbers of every length 1..25 built from a fixed digit pattern.
    for n in range(1, 26):
        s = "".join(str((7 * k + 3) % 10) for k in range(n))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


# ---------------------------------------------------------------------------
# Generation prompts
# ---------------------------------------------------------------------------

def chat(user, system=None):
    """Format a ChatML prompt the way SmolLM2's template does."""
    s = ""
    if system is not None:
        s += "<|im_start|>system\n" + system + "<|im_end|>\n"
    s += "<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n"
    return s


LONG_PROMPT = (
    "Read the following notes and then summarize them in one sentence.\n\n"
    "The city council met on Tuesday evening to discuss the new library. "
    "The building, which has been under construction for two years, is now "
    "expected to open in the spring. Council members praised the design, "
    "which includes a large reading room with tall windows facing the river, "
    "a children's area with soft chairs and low shelves, and a quiet floor "
    "for students. Some residents raised concerns about parking, since the "
    "lot next to the library has only forty spaces. The mayor said that the "
    "city would add bicycle racks and ask the bus company to extend one of "
    "its routes. Others asked about opening hours; the head librarian "
    "answered that the library would open at nine in the morning and close "
    "at eight in the evening on weekdays, with shorter hours on weekends. "
    "A local bakery offered to run a small cafe in the lobby. The council "
    "voted six to one to approve the cafe, with the single member against "
    "it worried about crumbs near the books. The meeting ended with a short "
    "presentation by a group of high school students who had painted a "
    "mural for the entrance hall, showing the history of the town from its "
    "founding as a mill village to the present day. Everyone applauded, and "
    "the students were invited to the opening ceremony. Before leaving, "
    "several people signed up as volunteers to help move the books from the "
    "old building, a job the librarian expects to take about three weeks, "
    "and a retired teacher promised to organize a reading club for adults "
    "that would meet on the first Monday of every month.\n\nSummary:"
)

PROMPTS = [
    "The capital of France is",
    "Once upon a time",
    "What is the largest planet in the solar system?",
    "def fibonacci(n):\n",
    "#include <stdio.h>\n\nint main(void)\n{\n",
    "SELECT name, COUNT(*) FROM orders",
    "1, 2, 3, 4, 5,",
    "Here is a list of fruits:\n1. Apple\n2.",
    "The three primary colors are",
    "Translate to French: Good morning, how are you?",
    chat("hi"),
    chat("What is the capital of Germany?"),
    chat("Write a haiku about databases."),
    chat("List three prime numbers.",
         system="You are a helpful assistant."),
    chat("Explain what a B-tree is in one sentence.",
         system="You are a concise technical writer."),
    chat("def add(a, b):\n    return a + b\n\nWhat does this function do?"),
    "Q: Why is the sky blue?\nA:",
    "import numpy as np\n\nx = np.",
    "In 1969, the first humans",
    "The recipe calls for 2 cups of flour,",
    "{\"name\": \"Alice\", \"age\":",
    "\u4f60\u597d\uff0c\u6211\u7684\u540d\u5b57\u662f",
    "Dear Sir or Madam,\n\nI am writing to",
    "To be, or not to be, that is",
    "The quick brown fox",
    LONG_PROMPT,
]


# Prompts longer than one 512-token prefill batch (llama.cpp evaluates them
# in several n_batch chunks; RoPE and attention run at positions up to
# ~1,500).  Written to generate_long.tsv / logits_long.tsv.

CAPITALS = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"),
    ("Spain", "Madrid"), ("Portugal", "Lisbon"), ("Norway", "Oslo"),
    ("Sweden", "Stockholm"), ("Finland", "Helsinki"), ("Denmark", "Copenhagen"),
    ("Poland", "Warsaw"), ("Austria", "Vienna"), ("Hungary", "Budapest"),
    ("Greece", "Athens"), ("Ireland", "Dublin"), ("Belgium", "Brussels"),
    ("Netherlands", "Amsterdam"), ("Switzerland", "Bern"), ("Czechia", "Prague"),
    ("Romania", "Bucharest"), ("Bulgaria", "Sofia"), ("Serbia", "Belgrade"),
    ("Croatia", "Zagreb"), ("Ukraine", "Kyiv"), ("Turkey", "Ankara"),
    ("Egypt", "Cairo"), ("Kenya", "Nairobi"), ("Nigeria", "Abuja"),
    ("Ghana", "Accra"), ("Morocco", "Rabat"), ("Ethiopia", "Addis Ababa"),
    ("Japan", "Tokyo"), ("China", "Beijing"), ("India", "New Delhi"),
    ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("Indonesia", "Jakarta"),
    ("Australia", "Canberra"), ("Canada", "Ottawa"), ("Mexico", "Mexico City"),
    ("Brazil", "Brasilia"), ("Argentina", "Buenos Aires"), ("Chile", "Santiago"),
    ("Peru", "Lima"), ("Colombia", "Bogota"), ("Cuba", "Havana"),
    ("Iceland", "Reykjavik"), ("Estonia", "Tallinn"), ("Latvia", "Riga"),
    ("Lithuania", "Vilnius"), ("Slovakia", "Bratislava"), ("Slovenia", "Ljubljana"),
    ("Albania", "Tirana"), ("Georgia", "Tbilisi"), ("Armenia", "Yerevan"),
    ("Iran", "Tehran"), ("Iraq", "Baghdad"), ("Jordan", "Amman"),
    ("Lebanon", "Beirut"), ("Qatar", "Doha"), ("Nepal", "Kathmandu"),
    ("Mongolia", "Ulaanbaatar"), ("Malaysia", "Kuala Lumpur"),
    ("Philippines", "Manila"), ("New Zealand", "Wellington"),
    ("Uruguay", "Montevideo"), ("Paraguay", "Asuncion"), ("Bolivia", "La Paz"),
    ("Ecuador", "Quito"), ("Venezuela", "Caracas"), ("Senegal", "Dakar"),
]


def long_facts(n):
    """A numbered list of n capital facts ending in a question about an
    early entry, so the answer has to be read from far back."""
    lines = ["Fact %d: The capital of %s is %s." % (i + 1, c, k)
             for i, (c, k) in enumerate(CAPITALS[:n])]
    return ("Here is a list of facts.\n" + "\n".join(lines) +
            "\n\nQuestion: What is the capital of %s?\nAnswer: The capital of %s is"
            % (CAPITALS[2][0], CAPITALS[2][0]))


def long_code(n):
    """A Python module of n small numbered functions, then the start of
    one more."""
    ops = [("add", "a + b"), ("sub", "a - b"), ("mul", "a * b"),
           ("maximum", "a if a > b else b"), ("minimum", "a if a < b else b"),
           ("mean", "(a + b) / 2")]
    out = ['"""Small arithmetic helpers."""\n\nimport math\n\n']
    for i in range(n):
        name, expr = ops[i % len(ops)]
        out.append('def %s_%d(a, b):\n    """Return %s of a and b, step %d."""\n'
                   '    return %s\n\n\n' % (name, i, name, i, expr))
    out.append("def ")
    return "".join(out)


def long_essay():
    """The ~5 KB tokenizer paragraph followed by the council notes."""
    return (long_strings()[-1] + "\n\n" + LONG_PROMPT)


LONG_PROMPTS = [
    chat(LONG_PROMPT[LONG_PROMPT.index("The city"):LONG_PROMPT.index("\n\nSummary")] +
         "\n\n" + LONG_PROMPT[LONG_PROMPT.index("The city"):LONG_PROMPT.index("\n\nSummary")] +
         "\n\nHow many parking spaces does the lot next to the library have?",
         system="You answer questions about the text the user gives."),
    long_code(24),
    long_facts(70),
    long_essay(),
    long_code(46),
]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def hexs(s):
    """Hex-encode the UTF-8 bytes of s (lower case, no separators)."""
    return s.encode("utf-8").hex()


def control_texts(llm):
    """Return the texts of all control / user-defined tokens of the vocab."""
    import llama_cpp
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    out = []
    for t in range(llm.n_vocab()):
        attr = llama_cpp.llama_vocab_get_attr(vocab, t)
        if attr & (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
                   | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED):
            txt = llama_cpp.llama_vocab_get_text(vocab, t)
            if txt:
                out.append(txt.decode("utf-8", "replace"))
    return out


def write_tokenize(model, outdir):
    """Write tokenize.tsv using a vocab-only model."""
    from llama_cpp import Llama
    llm = Llama(model_path=model, vocab_only=True, verbose=False)
    specials = control_texts(llm)
    items = corpus()
    lines = []
    n_special = 0
    for s in items:
        b = s.encode("utf-8")
        ids = llm.tokenize(b, add_bos=False, special=False)
        lines.append("plain\t%s\t%s" % (b.hex(), " ".join(map(str, ids))))
    for s in items:
        if any(sp in s for sp in specials):
            b = s.encode("utf-8")
            ids = llm.tokenize(b, add_bos=False, special=True)
            lines.append("special\t%s\t%s" % (b.hex(), " ".join(map(str, ids))))
            n_special += 1
    path = os.path.join(outdir, "tokenize.tsv")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print("tokenize.tsv: %d strings, %d lines (%d special)"
          % (len(items), len(lines), n_special))
    del llm


def last_logits(llm):
    """Copy the logits of the last evaluated token out of the context.

    With logits_all=False this version of llama-cpp-python no longer stores
    the logits in llm.scores (sampling moved into the native sampler), so
    they are read directly with llama_get_logits_ith(ctx, -1).
    """
    import llama_cpp
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    n = llm.n_vocab()
    arr = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)),
                                shape=(n,))
    return np.array(arr, dtype=np.float32, copy=True)


def top_order(logits):
    """Indices sorted by logit descending, ties broken by lower id first."""
    ids = np.arange(logits.shape[0])
    return np.lexsort((ids, -logits.astype(np.float64)))


def write_generate(model, outdir, prompts=None, stem=""):
    """Write generate{stem}.tsv and logits{stem}.tsv for prompts (default
    PROMPTS) with a full model on the CPU."""
    if prompts is None:
        prompts = PROMPTS
    from llama_cpp import Llama
    llm = Llama(model_path=model, n_ctx=N_CTX, n_batch=N_BATCH,
                n_threads=N_THREADS, n_threads_batch=N_THREADS,
                logits_all=False, seed=0, verbose=False)
    n_vocab = llm.n_vocab()
    rng = np.random.Generator(np.random.PCG64(RANDOM_SEED))
    rand_ids = np.sort(rng.choice(n_vocab, size=N_RANDOM, replace=False))

    gen_lines = []
    log_lines = []
    for idx, prompt in enumerate(prompts):
        ptoks = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        llm.reset()
        llm.eval(ptoks)
        logits = last_logits(llm)

        # logits.tsv record for the state right after the prompt.
        l64 = logits.astype(np.float64)
        mx = float(l64.max())
        lse = mx + math.log(float(np.exp(l64 - mx).sum()))
        order = top_order(logits)[:N_TOP]
        top = " ".join("%d:%.6f" % (int(t), float(logits[t])) for t in order)
        rnd = " ".join("%d:%.6f" % (int(t), float(logits[t])) for t in rand_ids)
        log_lines.append("%d\t%d\t%.6f\t%.6f\t%s\t%s"
                         % (idx, n_vocab, mx, lse, top, rnd))

        # Greedy continuation; EOS does not stop it.
        gen = []
        margins = []
        for _ in range(N_GEN):
            order2 = top_order(logits)[:2]
            t0, t1 = int(order2[0]), int(order2[1])
            gen.append(t0)
            margins.append(float(logits[t0]) - float(logits[t1]))
            if len(gen) == N_GEN:
                break
            llm.eval([t0])
            logits = last_logits(llm)
        gen_lines.append("%d\t%s\t%s\t%s\t%s" % (
            idx, hexs(prompt), " ".join(map(str, ptoks)),
            " ".join(map(str, gen)), ",".join("%.4f" % m for m in margins)))
        print("prompt %2d: %3d tokens -> %s" % (
            idx, len(ptoks),
            llm.detokenize(gen, special=True).decode("utf-8", "replace")[:60]
            .replace("\n", "\\n")))

    gname = "generate%s.tsv" % stem
    lname = "logits%s.tsv" % stem
    with open(os.path.join(outdir, gname), "w", encoding="utf-8",
              newline="\n") as f:
        f.write("\n".join(gen_lines) + "\n")
    with open(os.path.join(outdir, lname), "w", encoding="utf-8",
              newline="\n") as f:
        f.write("\n".join(log_lines) + "\n")
    print("%s / %s: %d prompts" % (gname, lname, len(prompts)))


# Tiny fixture models of test/fixtures/make_fixtures.py (random weights,
# one per weight type, plus qwen2).  llama.cpp needs them written with
# --pre gpt-2; the weights are the same bytes as in build/fixtures.
FIXTURES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
            "q4_k", "q5_k", "q6_k", "qwen2-f32"]
FIX_CTX = 256
FIX_GEN = 16


def fixture_prompts(n_vocab):
    """Two token prompts: 9 tokens, and 200 tokens (several of our prefill
    chunks and positions up to 215)."""
    short = [1, 5, 9, 33, 2, 7, 100 % n_vocab, 3, 4]
    long_ = [(i * 37 + 11) % n_vocab for i in range(200)]
    return [short, long_]


def write_fixtures(fixdir, outdir):
    """Write fixtures.tsv: for each tiny fixture and prompt, all next-token
    logits after the prompt and a FIX_GEN-step greedy continuation."""
    from llama_cpp import Llama
    lines = []
    for name in FIXTURES:
        path = os.path.join(fixdir, "tiny-%s.gguf" % name)
        llm = Llama(model_path=path, n_ctx=FIX_CTX, n_batch=512,
                    n_threads=N_THREADS, n_threads_batch=N_THREADS,
                    logits_all=False, seed=0, verbose=False)
        n_vocab = llm.n_vocab()
        for pi, ptoks in enumerate(fixture_prompts(n_vocab)):
            llm.reset()
            llm.eval(ptoks)
            logits = last_logits(llm)
            first = logits.copy()
            gen = []
            margins = []
            for _ in range(FIX_GEN):
                order2 = top_order(logits)[:2]
                t0, t1 = int(order2[0]), int(order2[1])
                gen.append(t0)
                margins.append(float(logits[t0]) - float(logits[t1]))
                if len(gen) == FIX_GEN:
                    break
                llm.eval([t0])
                logits = last_logits(llm)
            lines.append("%s\t%d\t%s\t%d\t%s\t%s\t%s" % (
                name, pi, " ".join(map(str, ptoks)), n_vocab,
                " ".join("%.6f" % float(x) for x in first),
                " ".join(map(str, gen)), ",".join("%.4f" % m for m in margins)))
            print("fixture %-9s prompt %d: %3d tokens, top %d, margin %.4f"
                  % (name, pi, len(ptoks), gen[0], margins[0]))
        del llm
    with open(os.path.join(outdir, "fixtures.tsv"), "w", encoding="utf-8",
              newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print("fixtures.tsv: %d lines" % len(lines))


def main():
    """Parse arguments and write the requested golden files."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    ap.add_argument("--only", choices=["tokenize", "generate", "long", "fixtures"])
    ap.add_argument("--fixtures", metavar="DIR",
                    help="tiny fixtures written by make_fixtures.py --pre gpt-2 "
                         "(needed by --only fixtures)")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    if not os.path.isfile(args.model):
        sys.exit("model not found: %s" % args.model)
    import llama_cpp
    print("llama-cpp-python %s" % llama_cpp.__version__)
    if args.only in (None, "tokenize"):
        write_tokenize(args.model, args.out)
    if args.only in (None, "generate"):
        write_generate(args.model, args.out)
    if args.only in (None, "long"):
        write_generate(args.model, args.out, LONG_PROMPTS, "_long")
    if args.only == "fixtures":
        if not args.fixtures:
            sys.exit("--only fixtures needs --fixtures DIR")
        write_fixtures(args.fixtures, args.out)


if __name__ == "__main__":
    main()
