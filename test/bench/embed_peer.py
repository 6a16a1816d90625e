#!/usr/bin/env python3
"""Time sentence-transformers (PyTorch, CPU) on a file of texts, one per
line: the peer half of test/bench/bench-embed.sh.

usage: embed_peer.py MODEL_DIR FILE THREADS [BATCH]
Prints: "rows N seconds S rows_per_s R"
"""
import sys
import time

import torch
from sentence_transformers import SentenceTransformer


def main():
    model_dir, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    torch.set_num_threads(threads)
    with open(path, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f]
    model = SentenceTransformer(model_dir, device="cpu")
    model.encode(texts[:64], batch_size=batch)  # warm-up
    t0 = time.perf_counter()
    model.encode(texts, batch_size=batch)
    dt = time.perf_counter() - t0
    print(f"rows {len(texts)} seconds {dt:.3f} rows_per_s {len(texts) / dt:.1f}")


if __name__ == "__main__":
    main()
