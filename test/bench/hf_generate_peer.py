#!/usr/bin/env python3
"""hf_generate_peer.py - the PyTorch + transformers peer of the device check.

    hf_generate_peer.py [--shape llama-7b] [--batches 1,8,32,64] [--prompt 32]
                        [--gen 32] [--pp 512] [--reps 3] [--device cuda]
                        [--dtype bf16]

The same shape as test/fixtures/make_synthetic.py writes (its SHAPES table),
built from a transformers config with random initialisation: no download,
no weights on disk. Measures, each the median of --reps runs after one
warm-up, with the device synchronised before every clock read:
  pp       one forward pass over --pp tokens (batch 1, no cache): tokens/s
  decode   for each batch B: model.generate() of B random prompts of
           --prompt tokens, greedy, exactly --gen new tokens (min_new_tokens
           = max_new_tokens, so no sequence stops early), minus a generate()
           of 1 new token (the prefill); aggregate tokens/s =
           B * (gen - 1) / (t_gen - t_1)
These are the rates of plain eager generate() with transformers' default
(dynamic) KV cache and attention: what an unoptimised PyTorch server does.
Prints one JSON object: {"shape":..,"dtype":..,"device":..,"torch":..,
"transformers":..,"pp_tok_s":..,"decode":[{"batch":B,"tok_s":..},..]}.
Exit 3 when torch or transformers cannot be imported.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from make_synthetic import SHAPES  # noqa: E402


def build_model(shape, dtype, device):
    """A randomly initialised LlamaForCausalLM / Qwen2ForCausalLM of shape."""
    import torch
    import transformers

    s = SHAPES[shape]
    kw = dict(hidden_size=s["n_embd"], intermediate_size=s["n_ff"],
              num_hidden_layers=s["n_layer"], num_attention_heads=s["n_head"],
              num_key_value_heads=s["n_head_kv"], vocab_size=s["n_vocab"],
              max_position_embeddings=s["n_ctx"], rms_norm_eps=s["eps"],
              tie_word_embeddings=s["tied"])
    if s["arch"] == "qwen2":
        cfg, cls = transformers.Qwen2Config(**kw), transformers.Qwen2ForCausalLM
    else:
        cfg, cls = transformers.LlamaConfig(**kw), transformers.LlamaForCausalLM
    torch.manual_seed(0)
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = cls(cfg)
    finally:
        torch.set_default_dtype(old)
    return model.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description="transformers generate() peer")
    ap.add_argument("--shape", default="llama-7b", choices=sorted(SHAPES))
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f16", "f32"])
    a = ap.parse_args(argv)
    batches = [int(b) for b in a.batches.split(",") if b]
    if a.gen < 2 or a.prompt < 1 or a.reps < 1 or not batches or min(batches) < 1:
        ap.error("--gen must be at least 2, --prompt, --reps and each batch at least 1")
    try:
        import torch
        import transformers
    except ImportError as e:
        print("hf_generate_peer.py: %s (needs torch and transformers)" % e, file=sys.stderr)
        return 3
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("hf_generate_peer.py: no CUDA device visible to torch", file=sys.stderr)
        return 1
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[a.dtype]

    def sync():
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()

    t0 = time.time()
    model = build_model(a.shape, dtype, a.device)
    sync()
    out = {"shape": a.shape, "dtype": a.dtype, "device": a.device,
           "torch": torch.__version__, "transformers": transformers.__version__,
           "init_s": round(time.time() - t0, 2), "reps": a.reps,
           "n_prompt": a.prompt, "n_gen": a.gen}
    if a.device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(0)
    nv = SHAPES[a.shape]["n_vocab"]
    g = torch.Generator(device="cpu").manual_seed(1)

    def timed(fn):
        """Median seconds of fn over reps runs after one warm-up."""
        fn()
        sync()
        ts = []
        for _ in range(a.reps):
            t = time.perf_counter()
            fn()
            sync()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    with torch.inference_mode():
        if a.pp > 0:
            ids = torch.randint(0, nv, (1, a.pp), generator=g).to(a.device)
            t = timed(lambda: model(input_ids=ids, use_cache=False))
            out["pp_tok_s"] = round(a.pp / t, 2)
            print(json.dumps({"pp": a.pp, "tok_s": out["pp_tok_s"]}), file=sys.stderr, flush=True)
        out["decode"] = []
        for b in batches:
            ids = torch.randint(0, nv, (b, a.prompt), generator=g).to(a.device)
            mask = torch.ones_like(ids)

            def gen(n):
                return lambda: model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                              max_new_tokens=n, min_new_tokens=n, pad_token_id=0)
            t1 = timed(gen(1))
            tn = timed(gen(a.gen))
            rate = b * (a.gen - 1) / max(tn - t1, 1e-9)
            out["decode"].append({"batch": b, "tok_s": round(rate, 2),
                                  "t_prefill_s": round(t1, 4), "t_gen_s": round(tn, 4)})
            print(json.dumps(out["decode"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
