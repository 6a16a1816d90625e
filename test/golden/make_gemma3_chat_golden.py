#!/usr/bin/env python3
"""Golden chat prompts and replies for gemma3 against llama.cpp.

Usage:
    python3 test/golden/make_gemma3_chat_golden.py LLAMA_SERVER [MODEL.gguf] [--out DIR]

Gemma 3 270M Q4_K_M carries no tokenizer.chat_template, so llm renders its
chats in the Gemma format chosen by architecture. This script takes the
conversations of make_chat_golden.py whose turns alternate (plus three
few-shot ones, EXTRA) and writes their prompt token ids as llama.cpp
makes them, from two renderings:

  jinja2   make_chat_golden.py's T_GEMMA (the Gemma 3 turn format as a
           Jinja template) rendered by jinja2 with Hugging Face's settings,
           as transformers renders Gemma 3's own template
  builtin  llama.cpp's C++ gemma format: LLAMA_SERVER (scripts/build-peer.sh
           llama-server) started with --no-jinja --chat-template gemma,
           /apply-template

each then tokenized by that server's /tokenize with special text parsed
and one BOS (a render starting with "<bos>" loses it and the tokenizer adds
BOS, as llama.cpp's chat code does). llama-server renders a conversation
that ends with an assistant message as a reply to continue (no new model
turn), so those have no builtin line. Writes DIR/chat.tsv (default
test/golden/gemma3), one line per conversation and rendering:

  REF <TAB> INDEX <TAB> ROLES <TAB> CONTENTS <TAB> IDS

ROLES comma-separated, CONTENTS the hex UTF-8 contents comma-separated
(an empty content is an empty item), IDS the prompt's token ids (the
generation prompt <start_of_turn>model\n included). Then, for the first
N_REPLY conversations and the EXTRA ones, lines

  reply <TAB> INDEX <TAB> IDS <TAB> GAPS <TAB> STOP

with llama.cpp's greedy reply (/completion on the jinja2 IDS, top_k 1, up
to N_GEN tokens, stopping at end of generation, which for Gemma 3 is
<end_of_turn>): the generated ids (an end-of-generation token is not among
them), per generated token the log-probability gap between llama.cpp's
first and second candidate (its default f16 KV cache), and STOP: "eos"
when it stopped at an end-of-generation token, "limit" when it ran N_GEN
tokens.

Not run in CI; the committed file is its output.
"""

import argparse
import os
import subprocess
import sys
import time
import json
import urllib.request

from jinja2.sandbox import ImmutableSandboxedEnvironment

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_chat_golden  # noqa: E402  (conversations and the Gemma template)

PORT = 18933
N_REPLY = 4
N_GEN = 32

U, A = make_chat_golden.U, make_chat_golden.A
# few-shot conversations, more replies to compare (Gemma 3 270M is the
# base model: in none of the replies here does it end its turn with
# <end_of_turn> within N_GEN tokens, so every STOP is "limit")
EXTRA = [
    make_chat_golden.msgs((U, "Say OK."), (A, "OK"), (U, "Say OK."), (A, "OK"), (U, "Say OK.")),
    make_chat_golden.msgs((U, "2+2?"), (A, "4"), (U, "3+3?"), (A, "6"), (U, "5+5?")),
    make_chat_golden.msgs((U, "Capital of Italy?"), (A, "Rome."), (U, "Capital of Spain?"),
                          (A, "Madrid."), (U, "Capital of France?")),
]


def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def serve(server, model, extra):
    srv = subprocess.Popen([server, "-m", model, "-t", "2", "-c", "4096", "-np", "1",
                            "--port", str(PORT), "--host", "127.0.0.1"] + extra,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=2) as r:
                if r.status == 200:
                    return srv
        except Exception:
            time.sleep(0.5)
    srv.terminate()
    raise SystemExit("llama-server did not start")


def tokenize(text):
    """llama.cpp's ids of a rendered chat: one BOS, special text parsed."""
    if text.startswith("<bos>"):
        text = text[len("<bos>"):]
    return post("/tokenize", {"content": text, "add_special": True,
                              "parse_special": True})["tokens"]


def line(ref, i, conv, ids):
    return "%s\t%d\t%s\t%s\t%s\n" % (
        ref, i, ",".join(m["role"] for m in conv),
        ",".join(m["content"].encode().hex() for m in conv), " ".join(map(str, ids)))


def reply(ids):
    r = post("/completion", {"prompt": ids, "n_predict": N_GEN, "temperature": 0,
                             "top_k": 1, "samplers": ["top_k"], "cache_prompt": False,
                             "n_probs": 2, "post_sampling_probs": False,
                             "return_tokens": True})
    gen = list(r["tokens"])
    gaps = []
    for step in r["completion_probabilities"]:
        top = step["top_logprobs"]
        gaps.append("%.4f" % (top[0]["logprob"] - top[1]["logprob"]))
    return gen, gaps, r.get("stop_type")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("model", nargs="?", default=os.path.join(
        os.environ.get("LLM_CACHE", os.path.expanduser("~/.cache/llm")),
        "gemma-3-270m-Q4_K_M.gguf"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "gemma3"))
    a = ap.parse_args()
    convs = [c for c in make_chat_golden.CONVERSATIONS if make_chat_golden.alternates(c)] + EXTRA
    lines = []
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    tmpl = env.from_string(make_chat_golden.T_GEMMA)
    srv = serve(a.server, a.model, ["--no-jinja", "--chat-template", "gemma"])
    try:
        for i, c in enumerate(convs):
            text = tmpl.render(messages=c, add_generation_prompt=True, bos_token="<bos>",
                               eos_token="<eos>", raise_exception=make_chat_golden.raise_exception)
            ids = tokenize(text)
            lines.append(line("jinja2", i, c, ids))
            if i < N_REPLY or i >= len(convs) - len(EXTRA):
                gen, gaps, stop = reply(ids)
                print("reply %d: %d tokens, stop %s" % (i, len(gen), stop), file=sys.stderr)
                lines.append("reply\t%d\t%s\t%s\t%s\n" % (
                    i, " ".join(map(str, gen)), ",".join(gaps), stop))
            if c[-1]["role"] != U:
                continue
            text = post("/apply-template", {"messages": c, "add_generation_prompt": True})["prompt"]
            lines.append(line("builtin", i, c, tokenize(text)))
    finally:
        srv.terminate()
        srv.wait()
    with open(os.path.join(a.out, "chat.tsv"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
