#!/usr/bin/env python3
"""Golden files for the MPNet encoder (all-mpnet-base-v2; not run in CI).

Loads all-mpnet-base-v2 from the model cache with sentence-transformers
(pip install sentence-transformers; it pulls torch and transformers) and
writes, for the corpus of make_embed_golden.py plus MPNet's own special
tokens written as text:

  test/golden/mpnet_tokens.tsv   hex(utf-8 text) TAB space-separated ids
                                 (HF tokenizer, special tokens, no truncation)
  test/golden/mpnet_vectors.tsv  hex(utf-8 text) TAB 768 values, each the
                                 4 hex digits of an IEEE half (big-endian),
                                 from SentenceTransformer.encode (which
                                 truncates to max_seq_length 384)
  test/golden/mpnet_buckets.tsv  relative position (key - query) TAB bucket,
                                 -600 .. 600, from transformers' own
                                 MPNet relative_position_bucket

Half precision keeps the file small: its rounding moves a unit vector's
cosine by about 1e-7, far inside the 1e-4 the test allows.

usage: make_mpnet_golden.py [MODEL_DIR]   (default $LLM_CACHE/all-mpnet-base-v2)
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from make_embed_golden import corpus  # noqa: E402


def mpnet_corpus():
    """The BERT corpus plus MPNet's special tokens inside text."""
    return corpus() + [
        "<s>",
        "</s>",
        "<pad>",
        "<mask>",
        "a <mask> in the middle",
        "<s> starts and ends </s>",
        "text</s>glued<s>together",
        "[CLS] is plain text for MPNet [SEP]",
        "<unknown> <sx> </s2>",
        "<UNK> and x <Unk> y: a normalized added token",
        "Sentence embeddings with MPNet: relative positions in every layer.",
    ]


def main():
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.models.mpnet import modeling_mpnet

    cache = os.environ.get("LLM_CACHE", os.path.expanduser("~/.cache/llm"))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(cache, "all-mpnet-base-v2")
    model = SentenceTransformer(path, device="cpu")
    tok = model.tokenizer
    texts = mpnet_corpus()
    vecs = model.encode(texts, batch_size=16, convert_to_numpy=True)
    with open(os.path.join(HERE, "mpnet_tokens.tsv"), "w") as f:
        for t in texts:
            ids = tok(t, add_special_tokens=True, truncation=False)["input_ids"]
            f.write(t.encode("utf-8").hex() + "\t" + " ".join(str(i) for i in ids) + "\n")
    with open(os.path.join(HERE, "mpnet_vectors.tsv"), "w") as f:
        for t, v in zip(texts, vecs):
            half = b"".join(struct.pack(">e", float(x)) for x in v)
            f.write(t.encode("utf-8").hex() + "\t" + half.hex() + "\n")
    rel = torch.arange(-600, 601)
    enc = model[0].auto_model.encoder
    buckets = enc.relative_position_bucket(rel, num_buckets=enc.relative_attention_bias.num_embeddings)
    with open(os.path.join(HERE, "mpnet_buckets.tsv"), "w") as f:
        for r, b in zip(rel.tolist(), buckets.tolist()):
            f.write("%d\t%d\n" % (r, b))
    print("wrote %d strings (max_seq_length %d), %d buckets (%s)"
          % (len(texts), model.max_seq_length, len(rel), modeling_mpnet.__name__))


if __name__ == "__main__":
    main()
