"""Load llama-server's /completion endpoint on loopback from N client
threads for a fixed time; print generated tokens/s per client count.

Bounded: each client loops until the deadline, then stops; only
127.0.0.1 is contacted. The prompt and length match bench-pg.sh (greedy,
a numbered list that does not stop early)."""
import argparse
import json
import threading
import time
import urllib.request

PROMPT = "Here is a long numbered list of fruits:\n1."


def client(port, deadline, max_tokens, out):
    body = json.dumps({"prompt": PROMPT, "n_predict": max_tokens, "temperature": 0,
                       "cache_prompt": False}).encode()
    while time.time() < deadline:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            out.append(json.loads(r.read())["tokens_predicted"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--clients", default="1 4 16")
    a = ap.parse_args()
    print("| clients | generated tok/s | vs 1 client |")
    print("|---:|---:|---:|")
    base = None
    for c in [int(x) for x in a.clients.split()]:
        out = []
        t0 = time.time()
        deadline = t0 + a.duration
        ts = [threading.Thread(target=client, args=(a.port, deadline, a.max_tokens, out))
              for _ in range(c)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        tps = sum(out) / (time.time() - t0)
        base = base or tps
        print(f"| {c} | {tps:.1f} | {tps / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
