#!/usr/bin/env python3
"""minilm-to-gguf.py MODEL_DIR OUT.gguf f32|f16|q8_0

Convert a sentence-transformers BERT directory (config.json,
model.safetensors, tokenizer.json, tokenizer_config.json, 1_Pooling/) to a
GGUF file laid out the way llama.cpp's convert_hf_to_gguf.py writes BERT
models, using only numpy and the gguf package (convert_hf_to_gguf.py itself
needs torch and transformers).  The layout follows that converter:

- architecture "bert"; bert.context_length, embedding_length,
  feed_forward_length, block_count, attention.head_count,
  attention.layer_norm_epsilon, attention.causal = false, pooling_type
  from 1_Pooling/config.json (mean 1, cls 2), general.file_type;
- tokenizer.ggml.model "bert", pre "jina-v2-en" (what convert_hf_to_gguf
  derives for the bert-base-uncased vocabulary), the vocabulary in
  llama.cpp's "phantom space" form (a word start gets a U+2581 prefix, a
  "##" continuation loses its "##", control tokens stay as they are),
  token types CONTROL for the tokenizer's special added tokens and NORMAL
  otherwise, token_type_count, and the special token ids and add_* flags
  that gguf.SpecialVocab reads from the tokenizer files;
- tensors renamed to llama.cpp's names (token_embd, position_embd,
  token_types, token_embd_norm, blk.N.attn_q/k/v, attn_output,
  attn_output_norm, ffn_up, ffn_down, layer_output_norm); 1-D tensors,
  norms, position_embd and token_types in F32, the other 2-D weights in
  the requested type (gguf.quants.quantize for q8_0).

The output is deterministic: the same inputs give the same bytes.
"""

import json
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT

FILE_TYPES = {
    "f32": (QT.F32, gguf.LlamaFileType.ALL_F32),
    "f16": (QT.F16, gguf.LlamaFileType.MOSTLY_F16),
    "q8_0": (QT.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
}

# Hugging Face BERT tensor name parts -> llama.cpp names
LAYER_MAP = {
    "attention.self.query": "attn_q",
    "attention.self.key": "attn_k",
    "attention.self.value": "attn_v",
    "attention.output.dense": "attn_output",
    "attention.output.LayerNorm": "attn_output_norm",
    "intermediate.dense": "ffn_up",
    "output.dense": "ffn_down",
    "output.LayerNorm": "layer_output_norm",
}
TOP_MAP = {
    "embeddings.word_embeddings.weight": "token_embd.weight",
    "embeddings.position_embeddings.weight": "position_embd.weight",
    "embeddings.token_type_embeddings.weight": "token_types.weight",
    "embeddings.LayerNorm.weight": "token_embd_norm.weight",
    "embeddings.LayerNorm.bias": "token_embd_norm.bias",
}
SKIP = {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
ALWAYS_F32 = {"position_embd.weight", "token_types.weight"}
ST_DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    """Return {name: numpy array} of a safetensors file (F32/F16 only;
    other dtypes are returned as None so the caller can skip them)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: too short" % path)
    (hlen,) = struct.unpack("<Q", raw[:8])
    if hlen > len(raw) - 8:
        raise ValueError("%s: header length %d past the end" % (path, hlen))
    header = json.loads(raw[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = ST_DTYPES.get(info["dtype"])
        begin, end = info["data_offsets"]
        if dt is None:
            out[name] = None
            continue
        n = int(np.prod(info["shape"])) if info["shape"] else 1
        if end - begin != n * np.dtype(dt).itemsize or base + end > len(raw):
            raise ValueError("%s: tensor %s has a bad extent" % (path, name))
        arr = np.frombuffer(raw, dtype=dt, count=n, offset=base + begin)
        out[name] = arr.reshape(info["shape"]).astype(np.float32)
    return out


def gguf_name(hf):
    """llama.cpp's name for a Hugging Face BERT tensor, or None to drop."""
    if hf.startswith("bert."):
        hf = hf[5:]
    if hf in SKIP or hf.startswith("cls."):
        return None
    if hf in TOP_MAP:
        return TOP_MAP[hf]
    parts = hf.split(".")
    if len(parts) >= 5 and parts[0] == "encoder" and parts[1] == "layer":
        mid = ".".join(parts[3:-1])
        if mid in LAYER_MAP:
            return "blk.%s.%s.%s" % (parts[2], LAYER_MAP[mid], parts[-1])
    raise ValueError("unexpected tensor %s" % hf)


def vocab(model_dir):
    """Return (tokens, token types) in llama.cpp's phantom-space form."""
    with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    v = tj["model"]["vocab"]
    n = max(v.values()) + 1
    tokens = [None] * n
    for tok, i in v.items():
        tokens[i] = tok
    if any(t is None for t in tokens):
        raise ValueError("vocabulary ids are not dense")
    special = {a["id"] for a in tj.get("added_tokens", []) if a.get("special")}
    types = []
    out = []
    for i, tok in enumerate(tokens):
        if i in special:
            types.append(gguf.TokenType.CONTROL)
            out.append(tok)
        else:
            types.append(gguf.TokenType.NORMAL)
            out.append(tok[2:] if tok.startswith("##") else "\u2581" + tok)
    return out, types


def pooling(model_dir):
    """gguf pooling type from 1_Pooling/config.json (mean when absent)."""
    p = os.path.join(model_dir, "1_Pooling", "config.json")
    if not os.path.isfile(p):
        return gguf.PoolingType.MEAN
    with open(p, encoding="utf-8") as f:
        c = json.load(f)
    if c.get("pooling_mode_cls_token"):
        return gguf.PoolingType.CLS
    return gguf.PoolingType.MEAN


def main():
    """Convert argv[1] to argv[2] with weight type argv[3]."""
    if len(sys.argv) != 4 or sys.argv[3] not in FILE_TYPES:
        sys.stderr.write(__doc__.split("\n")[0] + "\n")
        return 2
    model_dir, out, wname = sys.argv[1:]
    qtype, ftype = FILE_TYPES[wname]
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        hp = json.load(f)
    if hp.get("model_type") != "bert":
        sys.stderr.write("%s: model_type is not bert\n" % model_dir)
        return 1
    tensors = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    tokens, types = vocab(model_dir)

    w = gguf.GGUFWriter(out + ".part", "bert")
    w.add_name(os.path.basename(os.path.normpath(model_dir)))
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_block_count(hp["num_hidden_layers"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_layer_norm_eps(hp["layer_norm_eps"])
    w.add_file_type(ftype)
    w.add_causal_attention(False)
    w.add_pooling_type(pooling(model_dir))
    w.add_token_type_count(hp.get("type_vocab_size", 1))
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("jina-v2-en")
    w.add_token_list(tokens)
    w.add_token_types(types)
    gguf.SpecialVocab(model_dir, n_vocab=len(tokens)).add_to_gguf(w)

    for hf in tensors:
        name = gguf_name(hf)
        if name is None:
            continue
        x = tensors[hf]
        if x is None:
            raise ValueError("tensor %s has an unsupported dtype" % hf)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim <= 1 or name.endswith("_norm.weight") or name in ALWAYS_F32 \
                or not name.endswith(".weight") or qtype == QT.F32:
            w.add_tensor(name, x)
        elif qtype == QT.F16:
            w.add_tensor(name, x.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(x, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(out + ".part", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
