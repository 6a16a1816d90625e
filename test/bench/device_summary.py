#!/usr/bin/env python3
"""device_summary.py WORKDIR OUTDIR - the summary of scripts/device-check.sh.

Reads what the device check left in WORKDIR:
    meta.json     the run: mode, shape, type, device, commit, date, budget,
                  machine (GPU name, driver, nvcc) as the script found them
    steps.tsv     one line per step: name, exit status, seconds, time limit
                  (exit 124/137: the step hit its limit; -1: not run, with
                  the reason in the fourth column)
    NAME.log      each step's output; a step's result is the last line of
                  its log that parses as a JSON object
and writes OUTDIR/summary.json (everything, raw results included) and
OUTDIR/summary.md (the step table and the figures). A figure whose step
failed or did not run is reported as not measured (null), never guessed.

Derived figures:
  bytes/token   weight bytes one decode step reads: every tensor of the
                synthetic model except token_embd (one row of it is read),
                counted from test/fixtures/make_synthetic.py's tensor plan
                (a tied model reads token_embd as its output matrix)
  bw share      single-stream decode tok/s x bytes/token / the read
                bandwidth cuda_membw measured
  vs peer       llm-cli's aggregate decode tok/s over transformers' at the
                same batch
Goals (issue 13): bw share >= 0.60; at 64 sequences >= 5x transformers.
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import make_synthetic  # noqa: E402

GOAL_SHARE = 0.60
GOAL_VS_PEER = 5.0


def last_json(path):
    """The last line of file path that parses as a JSON object, or None."""
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{"):
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if isinstance(v, dict):
                return v
    return None


def tail(path, n=3):
    """The last n non-empty lines of file path (for failure notes)."""
    try:
        with open(path, errors="replace") as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])[-400:]


def read_steps(work):
    """steps.tsv -> ordered list of dicts."""
    steps = []
    p = os.path.join(work, "steps.tsv")
    if not os.path.exists(p):
        return steps
    for line in open(p):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 4:
            continue
        name, rc, secs, limit = parts[:4]
        st = {"name": name, "rc": int(rc), "seconds": float(secs)}
        if int(rc) == -1:
            st["status"] = "not run: " + limit
        else:
            st["limit_s"] = int(limit)
            st["status"] = ("ok" if st["rc"] == 0 else
                            "timed out" if st["rc"] in (124, 137) else "failed (exit %d)" % st["rc"])
            if st["rc"] != 0:
                st["note"] = tail(os.path.join(work, name + ".log"))
        steps.append(st)
    return steps


def decode_bytes(shape, ftype):
    """Bytes of weights one decode step reads (see the module comment)."""
    s = make_synthetic.SHAPES[shape]
    total = 0
    for name, ne, tt in make_synthetic.tensor_plan(s, ftype):
        if name == "token_embd.weight" and not s["tied"]:
            continue
        total += make_synthetic.nbytes_of(ne, tt)
    return total


def unit_counts(path):
    """(pass, fail, skip) from test/run-unit.sh's summary line, or None."""
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return None
    m = re.findall(r"^unit: (\d+) passed, (\d+) failed, (\d+) skipped$", text, re.M)
    return tuple(int(x) for x in m[-1]) if m else None


def build(work):
    """Collect everything into one dict."""
    meta = {}
    try:
        meta = json.load(open(os.path.join(work, "meta.json")))
    except (OSError, ValueError):
        pass
    steps = read_steps(work)
    ok = {s["name"] for s in steps if s["rc"] == 0}

    def result(name):
        return last_json(os.path.join(work, name + ".log")) if name in ok else None

    res = {"meta": meta, "steps": steps, "raw": {}}
    for s in steps:
        r = result(s["name"])
        if r is not None:
            res["raw"][s["name"]] = r
    shape, ftype = meta.get("shape"), meta.get("type")
    fig = {}
    tc = unit_counts(os.path.join(work, "test_cuda.log"))
    fig["test_cuda"] = ({"passed": tc[0], "failed": tc[1], "skipped": tc[2]} if tc else None)
    mb = result("membw")
    fig["read_gbs"] = mb.get("read_gbs") if mb else None
    fig["copy_gbs"] = mb.get("copy_gbs") if mb else None
    fig["memcpy_gbs"] = mb.get("memcpy_gbs") if mb else None
    single = result("bench_single")
    fig["pp_tok_s"] = single.get("pp_tok_s") if single else None
    fig["tg_tok_s"] = single.get("tg_tok_s") if single else None
    fig["n_prompt"] = single.get("n_prompt") if single else meta.get("pp")
    fig["n_gen"] = single.get("n_gen") if single else meta.get("tg")
    fig["bytes_per_token"] = None
    fig["bw_share"] = None
    if shape in make_synthetic.SHAPES and ftype in make_synthetic.FTYPES:
        fig["bytes_per_token"] = decode_bytes(shape, ftype)
        if fig["tg_tok_s"] and fig["read_gbs"]:
            fig["bw_share"] = round(fig["tg_tok_s"] * fig["bytes_per_token"] /
                                    (fig["read_gbs"] * 1e9), 4)
    hf = result("hf")
    hf_dec = {d["batch"]: d["tok_s"] for d in (hf or {}).get("decode", [])}
    fig["hf_pp_tok_s"] = hf.get("pp_tok_s") if hf else None
    fig["batches"] = []
    for b in meta.get("batches", []):
        r = result("bench_b%d" % b)
        ours = r.get("tg_tok_s") if r else None
        peer = hf_dec.get(b)
        fig["batches"].append({"batch": b, "tok_s": ours, "hf_tok_s": peer,
                               "vs_hf": round(ours / peer, 2) if ours and peer else None})
    fig["extra"] = []
    for t in meta.get("extra", []):
        r = result("extra_%s" % t)
        fig["extra"].append({"type": t, "pp_tok_s": r.get("pp_tok_s") if r else None,
                             "tg_tok_s": r.get("tg_tok_s") if r else None})
    b64 = [x for x in fig["batches"] if x["batch"] == 64]
    fig["goals"] = {
        "bw_share_ge_0.60": (fig["bw_share"] >= GOAL_SHARE) if fig["bw_share"] is not None else None,
        "b64_ge_5x_hf": (b64[0]["vs_hf"] >= GOAL_VS_PEER)
        if b64 and b64[0]["vs_hf"] is not None else None,
    }
    res["figures"] = fig
    return res


def fmt(v, spec="%.1f"):
    """A figure, or 'not measured'."""
    return "not measured" if v is None else (spec % v if isinstance(v, (int, float)) else str(v))


def markdown(res):
    """The summary as markdown."""
    m, f = res["meta"], res["figures"]
    out = ["# Device check: %s" % m.get("mode", "?"), ""]
    out.append("- date: %s; commit: %s" % (m.get("date", "?"), m.get("commit", "?")))
    out.append("- machine: %s" % m.get("machine", "?"))
    out.append("- model: synthetic `%s` in `%s` (random weights, test/fixtures/make_synthetic.py); "
               "llm-cli --device %s" % (m.get("shape"), m.get("type"), m.get("device")))
    out.append("- time: %s s of a %s s budget" % (m.get("elapsed_s", "?"), m.get("budget_s", "?")))
    if m.get("mode") != "device":
        out.append("- **not a device run**: these numbers only exercise the script")
    out += ["", "## Steps", "", "| step | status | seconds |", "| --- | --- | --- |"]
    for s in res["steps"]:
        st = s["status"] + ((": " + s["note"].replace("|", "/")) if s.get("note") else "")
        out.append("| %s | %s | %.1f |" % (s["name"], st, s["seconds"]))
    tc = f["test_cuda"]
    out += ["", "## Figures", ""]
    out.append("- test_cuda: %s" % ("%d passed, %d failed, %d skipped" %
                                   (tc["passed"], tc["failed"], tc["skipped"]) if tc else "not run"))
    out.append("- memory bandwidth (cuda_membw, GB/s): read %s, copy %s, cudaMemcpy %s"
               % (fmt(f["read_gbs"]), fmt(f["copy_gbs"]), fmt(f["memcpy_gbs"])))
    out.append("- single stream (tok/s): pp%s %s, tg%s %s" %
               (f["n_prompt"], fmt(f["pp_tok_s"]), f["n_gen"], fmt(f["tg_tok_s"])))
    out.append("- bytes per decode token: %s MB; share of read bandwidth: %s (goal >= %.0f%%)" %
               (fmt(f["bytes_per_token"] / 1e6 if f["bytes_per_token"] else None),
                fmt(f["bw_share"] * 100 if f["bw_share"] is not None else None, "%.1f%%"),
                GOAL_SHARE * 100))
    out.append("- transformers (bf16, generate) pp%s: %s tok/s" % (f["n_prompt"], fmt(f["hf_pp_tok_s"])))
    out += ["", "| sequences | llm-cli tok/s | transformers tok/s | ratio |", "| --- | --- | --- | --- |"]
    for b in f["batches"]:
        out.append("| %d | %s | %s | %s |" % (b["batch"], fmt(b["tok_s"]), fmt(b["hf_tok_s"]),
                                            fmt(b["vs_hf"], "%.2fx")))
    if f["extra"]:
        out += ["", "| other type | pp tok/s | tg tok/s |", "| --- | --- | --- |"]
        for x in f["extra"]:
            out.append("| %s | %s | %s |" % (x["type"], fmt(x["pp_tok_s"]), fmt(x["tg_tok_s"])))
    g = f["goals"]
    out += ["", "Goals: bandwidth share >= 60%%: %s; 64 sequences >= 5x transformers: %s" %
            tuple({True: "met", False: "not met", None: "not measured"}[g[k]]
                  for k in ("bw_share_ge_0.60", "b64_ge_5x_hf")), ""]
    return "\n".join(out)


def main(argv):
    if len(argv) != 3:
        print("usage: device_summary.py WORKDIR OUTDIR", file=sys.stderr)
        return 2
    work, outdir = argv[1], argv[2]
    res = build(work)
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "summary.json"), "w") as fp:
        json.dump(res, fp, indent=1)
    md = markdown(res)
    with open(os.path.join(outdir, "summary.md"), "w") as fp:
        fp.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
