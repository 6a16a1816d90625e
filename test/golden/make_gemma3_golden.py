#!/usr/bin/env python3
"""Golden data for gemma3 (Gemma 3 270M Q4_K_M) from llama.cpp's llama-server.

Usage:
    python3 test/golden/make_gemma3_golden.py LLAMA_SERVER [MODEL.gguf] [--out DIR]

Starts LLAMA_SERVER (scripts/build-peer.sh llama-server) on the model with
2 threads on a local port, then writes into DIR (default
test/golden/gemma3):

  tokenize.tsv  "plain", hex(utf-8 text), token ids: /tokenize of every
                string of make_golden.py's corpus, no BOS, special-token
                text not parsed
  generate.tsv  index, hex(prompt), prompt ids (with BOS), 16 greedy ids,
                16 log-probability gaps between the first and second
                candidate at each step: /completion with top_k 1, its
                default f16 KV cache
  logits.tsv    index, prompt ids (with BOS), then for the first generated
                position of each prompt the N_LOGPROBS most likely ids with
                their log-probabilities (log-softmax of the logits, before
                sampling) as id:logprob

Not run in CI; the committed files are its output.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden  # noqa: E402  (corpus and prompts, no llama_cpp import at load)

N_GEN = 16
N_LOGPROBS = 32
PORT = 18931


def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("model", nargs="?", default=os.path.join(
        os.environ.get("LLM_CACHE", os.path.expanduser("~/.cache/llm")),
        "gemma-3-270m-Q4_K_M.gguf"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "gemma3"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    srv = subprocess.Popen([a.server, "-m", a.model, "-t", "2", "-c", "4096", "-np", "1",
                            "--port", str(PORT), "--host", "127.0.0.1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.5)
        with open(os.path.join(a.out, "tokenize.tsv"), "w") as f:
            for s in make_golden.corpus():
                ids = post("/tokenize", {"content": s, "add_special": False,
                                         "parse_special": False})["tokens"]
                f.write("plain\t%s\t%s\n" % (s.encode().hex(), " ".join(map(str, ids))))
        prompts = [p for p in make_golden.PROMPTS if "<|im_start|>" not in p]
        with open(os.path.join(a.out, "generate.tsv"), "w") as f:
            for i, p in enumerate(prompts):
                ptoks = post("/tokenize", {"content": p, "add_special": True,
                                           "parse_special": False})["tokens"]
                r = post("/completion", {"prompt": p, "n_predict": N_GEN, "temperature": 0,
                                         "top_k": 1, "samplers": ["top_k"], "cache_prompt": False,
                                         "n_probs": 2, "post_sampling_probs": False,
                                         "return_tokens": True, "ignore_eos": True})
                gen = r["tokens"]
                gaps = []
                for step in r["completion_probabilities"]:
                    top = step["top_logprobs"]
                    gaps.append("%.4f" % (top[0]["logprob"] - top[1]["logprob"]))
                f.write("%d\t%s\t%s\t%s\t%s\n" % (i, p.encode().hex(), " ".join(map(str, ptoks)),
                                                  " ".join(map(str, gen)), ",".join(gaps)))
        with open(os.path.join(a.out, "logits.tsv"), "w") as f:
            for i, p in enumerate(prompts):
                ptoks = post("/tokenize", {"content": p, "add_special": True,
                                           "parse_special": False})["tokens"]
                r = post("/completion", {"prompt": p, "n_predict": 1, "temperature": 0,
                                         "top_k": 1, "samplers": ["top_k"], "cache_prompt": False,
                                         "n_probs": N_LOGPROBS, "post_sampling_probs": False,
                                         "return_tokens": True})
                top = r["completion_probabilities"][0]["top_logprobs"]
                f.write("%d\t%s\t%s\n" % (i, " ".join(map(str, ptoks)),
                                           " ".join("%d:%.5f" % (t["id"], t["logprob"]) for t in top)))
    finally:
        srv.terminate()
        srv.wait()


if __name__ == "__main__":
    main()
