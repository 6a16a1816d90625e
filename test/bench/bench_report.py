#!/usr/bin/env python3
"""Helpers for test/bench/bench.sh.

  bench_report.py parse-ours   < llm-cli bench --json output
      prints "PP<TAB>TG" (tokens/s) from a {"pp_tok_s":..,"tg_tok_s":..} line
  bench_report.py parse-peer   < llama-bench -o json output
      prints "PP<TAB>TG" from the pp (n_gen == 0) and tg (n_prompt == 0) tests
  bench_report.py report --raw RAW --bw BW --model GGUF ...
      prints the Markdown report (medians, ratios, bandwidth ceiling)
  bench_report.py weight-bytes GGUF
      prints the bytes of weights read per generated token
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys


def parse_ours(text):
    """Return (pp, tg) from the last JSON object line of llm-cli's output."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            obj = json.loads(line)
            return float(obj["pp_tok_s"]), float(obj["tg_tok_s"])
    raise ValueError("no JSON object in llm-cli output")


def parse_peer(text):
    """Return (pp, tg) from llama-bench's JSON array output."""
    start = text.find("[")
    if start < 0:
        raise ValueError("no JSON array in llama-bench output")
    tests = json.loads(text[start:])
    pp = tg = float("nan")
    for t in tests:
        if t.get("n_gen", 0) == 0 and t.get("n_prompt", 0) > 0:
            pp = float(t["avg_ts"])
        elif t.get("n_prompt", 0) == 0 and t.get("n_gen", 0) > 0:
            tg = float(t["avg_ts"])
    return pp, tg


def weight_bytes(path):
    """Bytes of tensor data read from memory to generate one token.

    Every weight matrix is read once per token.  When the output projection
    is tied to token_embd (no output.weight tensor), token_embd is read in
    full by the projection and so counted once; when an untied output.weight
    exists, token_embd only contributes one row per token and is left out.
    Returns (bytes_per_token, total_tensor_bytes, tied).
    """
    import gguf
    r = gguf.GGUFReader(path)
    total = 0
    embd = 0
    has_output = False
    for t in r.tensors:
        total += int(t.n_bytes)
        if t.name == "token_embd.weight":
            embd = int(t.n_bytes)
        elif t.name == "output.weight":
            has_output = True
    per_token = total - embd if has_output else total
    return per_token, total, not has_output


def fmt(x, digits=1):
    """Format a float, or '-' when it is missing (nan)."""
    if x is None or x != x:
        return "-"
    return "%.*f" % (digits, x)


def ratio(a, b):
    """a / b, or nan when either is missing or b is zero."""
    if a is None or b is None or a != a or b != b or b == 0:
        return float("nan")
    return a / b


def cpu_name():
    """CPU model string from /proc/cpuinfo, or platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_rev(root):
    """Short commit id of the repository at root (read-only), or '?'."""
    try:
        out = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def report(args):
    """Print the Markdown report built from the raw measurement files."""
    raw = {}
    with open(args.raw) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            impl, t, _rep, pp, tg = parts
            raw.setdefault((impl, int(t)), []).append((float(pp), float(tg)))
    bw = {}
    with open(args.bw) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[1]:
                bw[int(parts[0])] = float(parts[1])

    per_tok, total, tied = weight_bytes(args.model)
    threads = sorted(set([t for _, t in raw] + list(bw)))

    def med(impl, t, k):
        vals = [v[k] for v in raw.get((impl, t), [])]
        vals = [v for v in vals if v == v]
        return statistics.median(vals) if vals else float("nan")

    peer_info = {}
    if args.peer_json and os.path.isfile(args.peer_json):
        with open(args.peer_json) as f:
            txt = f.read()
        try:
            arr = json.loads(txt[txt.find("["):])
            if arr:
                peer_info = arr[0]
        except ValueError:
            pass

    out = []
    out.append("# llm-cli vs llama.cpp (llama-bench)")
    out.append("")
    out.append("- model: `%s` (%.1f MB of tensors; %.1f MB read per generated token%s)"
               % (os.path.basename(args.model), total / 1e6, per_tok / 1e6,
                  ", tied embedding counted once" if tied else ""))
    out.append("- CPU: %s, %d logical cores" % (cpu_name(), os.cpu_count() or 0))
    out.append("- pp = prompt processing of %d tokens, tg = generation of %d tokens;"
               " tokens/s, median of %d runs each, the two programs alternating"
               % (args.np, args.ng, args.reps))
    ours_info = {}
    if args.ours_json and os.path.isfile(args.ours_json):
        with open(args.ours_json) as f:
            for line in f.read().splitlines():
                if line.strip().startswith("{"):
                    try:
                        ours_info = json.loads(line)
                    except ValueError:
                        pass
    out.append("- ours: llm-cli at commit %s, isa %s"
               % (git_rev(args.root), ours_info.get("isa", "?")))
    if peer_info:
        fa = {-1: "auto", 0: "off", 1: "on"}.get(peer_info.get("flash_attn"),
                                                  peer_info.get("flash_attn", "?"))
        out.append("- llama.cpp: llama-bench build %s (%s), backend %s,"
                   " KV cache %s/%s, flash_attn %s, n_batch %s, n_ubatch %s"
                   % (peer_info.get("build_commit", "?"),
                      peer_info.get("build_number", "?"),
                      peer_info.get("backends", "?"),
                      peer_info.get("type_k", "?"),
                      peer_info.get("type_v", "?"), fa,
                      peer_info.get("n_batch", "?"),
                      peer_info.get("n_ubatch", "?")))
    out.append("- memory bandwidth: streaming read of a 512 MiB buffer by"
               " test/bench/membw.c (best of 7 passes); tg ceiling ="
               " bandwidth / bytes read per token")
    if args.load:
        out.append("- 1-minute load average before / after: %s / %s" % tuple(args.load))
        try:
            busy = float(args.load[0]) > 0.5
        except ValueError:
            busy = False
        if busy:
            out.append("- **warning**: the machine was busy when the benchmark"
                       " started; other processes distort these numbers, the"
                       " multi-threaded runs most (llama.cpp's threads spin"
                       " while waiting for each other)")
    out.append("")
    out.append("| threads | pp ours | pp llama.cpp | pp ratio | tg ours |"
               " tg llama.cpp | tg ratio | bandwidth GB/s | tg ceiling |"
               " tg ours / ceiling |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in threads:
        pp_o, tg_o = med("ours", t, 0), med("ours", t, 1)
        pp_p, tg_p = med("llama.cpp", t, 0), med("llama.cpp", t, 1)
        g = bw.get(t, float("nan"))
        ceil = g * 1e9 / per_tok if g == g else float("nan")
        out.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            t, fmt(pp_o), fmt(pp_p), fmt(ratio(pp_o, pp_p), 2),
            fmt(tg_o), fmt(tg_p), fmt(ratio(tg_o, tg_p), 2),
            fmt(g, 2), fmt(ceil), fmt(ratio(tg_o, ceil), 2)))
    out.append("")
    out.append("Raw runs (tokens/s):")
    out.append("")
    out.append("| impl | threads | pp runs | tg runs |")
    out.append("|---|---:|---|---|")
    for (impl, t), vals in sorted(raw.items()):
        out.append("| %s | %d | %s | %s |" % (
            impl, t, ", ".join(fmt(v[0]) for v in vals),
            ", ".join(fmt(v[1]) for v in vals)))
    print("\n".join(out))


def main():
    """Dispatch the sub-command."""
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == "parse-ours":
        pp, tg = parse_ours(sys.stdin.read())
        print("%.4f\t%.4f" % (pp, tg))
    elif cmd == "parse-peer":
        pp, tg = parse_peer(sys.stdin.read())
        print("%.4f\t%.4f" % (pp, tg))
    elif cmd == "weight-bytes":
        per_tok, total, tied = weight_bytes(sys.argv[2])
        print("%d\t%d\t%s" % (per_tok, total, "tied" if tied else "untied"))
    elif cmd == "report":
        ap = argparse.ArgumentParser(prog="bench_report.py report")
        ap.add_argument("--raw", required=True)
        ap.add_argument("--bw", required=True)
        ap.add_argument("--model", required=True)
        ap.add_argument("--np", type=int, default=512)
        ap.add_argument("--ng", type=int, default=128)
        ap.add_argument("--reps", type=int, default=3)
        ap.add_argument("--peer-json", default="")
        ap.add_argument("--ours-json", default="")
        ap.add_argument("--load", nargs=2, default=None)
        ap.add_argument("--root", default=".")
        report(ap.parse_args(sys.argv[2:]))
    else:
        sys.exit("unknown command %s\n%s" % (cmd, __doc__))


if __name__ == "__main__":
    main()
