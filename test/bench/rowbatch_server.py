"""Send every prompt of a file (one per line) to llama-server's
/completion endpoint on loopback, from P parallel client threads, each
greedy with n_predict tokens; print the wall time and the tokens
generated. The peer of bench-rowbatch.sh's UPDATE: the same prompts, the
same length, what a client program would do to enrich rows outside the
database (fetch rows, call the server, write back)."""
import argparse
import json
import threading
import time
import urllib.request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--parallel", type=int, default=16)
    a = ap.parse_args()
    prompts = [l.rstrip("\n") for l in open(a.prompts, encoding="utf-8")]
    lock = threading.Lock()
    state = {"next": 0, "tokens": 0}

    def client():
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= len(prompts):
                return
            body = json.dumps({"prompt": prompts[i], "n_predict": a.max_tokens,
                               "temperature": 0, "cache_prompt": False}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{a.port}/completion", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=600) as r:
                n = json.loads(r.read())["tokens_predicted"]
            with lock:
                state["tokens"] += n

    t0 = time.time()
    ts = [threading.Thread(target=client) for _ in range(a.parallel)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"server {time.time() - t0:.3f} {state['tokens']}")


if __name__ == "__main__":
    main()
