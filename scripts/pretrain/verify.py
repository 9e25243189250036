#!/usr/bin/env python3
"""Independent checks of the shipped model folder (transformers itself cannot
be installed on the build machine):

1. model.safetensors: header 8-byte aligned, every tensor F16, names and
   shapes exactly those of transformers' LlamaForCausalLM for config.json.
2. A second, separately written NumPy LLaMA forward pass (per-head loops,
   rotary applied pairwise as (x_i, x_{i+d/2}) rotations, kv head = q head //
   group) reading the file directly must match the torch model's logits.
3. Losses of the shipped weights on train / validation text, and sample
   generations (greedy and sampled) from story-style prompts."""
import json
import os
import struct

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from common import EOS, OUT_DIR, BPETokenizer
from load import load_model


def expected_shapes(cfg):
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = cfg.get("head_dim", h // cfg["num_attention_heads"])
    nq, nkv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    out = {"model.embed_tokens.weight": [v, h], "model.norm.weight": [h]}
    if not cfg["tie_word_embeddings"]:
        out["lm_head.weight"] = [v, h]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        out.update({
            p + "input_layernorm.weight": [h], p + "post_attention_layernorm.weight": [h],
            p + "self_attn.q_proj.weight": [nq, h], p + "self_attn.k_proj.weight": [nkv, h],
            p + "self_attn.v_proj.weight": [nkv, h], p + "self_attn.o_proj.weight": [h, nq],
            p + "mlp.gate_proj.weight": [i, h], p + "mlp.up_proj.weight": [i, h], p + "mlp.down_proj.weight": [h, i],
        })
    return out


def check_file(cfg):
    path = os.path.join(OUT_DIR, "model.safetensors")
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    assert n % 8 == 0, "header not 8-byte aligned"
    exp = expected_shapes(cfg)
    assert set(header) == set(exp), (set(header) ^ set(exp))
    end = 0
    for k, info in header.items():
        assert info["dtype"] == "F16", k
        assert info["shape"] == exp[k], (k, info["shape"], exp[k])
        s, e = info["data_offsets"]
        assert e - s == 2 * int(np.prod(info["shape"])), k
        end = max(end, e)
    assert 8 + n + end == len(raw), "trailing bytes"
    params = sum(int(np.prod(s)) for s in exp.values())
    print(f"[file] {len(header)} F16 tensors, names/shapes match LlamaForCausalLM, metadata {meta}, "
          f"{params} parameters, {len(raw)} bytes")
    return {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]], dtype="<f2")
            .reshape(v["shape"]).astype(np.float64) for k, v in header.items()}


def numpy_forward(w, cfg, ids):
    """Float64 NumPy LLaMA, written independently of model.py."""
    H = cfg["hidden_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", H // nh)
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    T = len(ids)

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def rope(x):  # x: (T, hd); pairs (j, j + hd/2) rotate by angle pos * theta^(-2j/hd)
        y = np.empty_like(x)
        half = hd // 2
        for t in range(T):
            for j in range(half):
                a = t * theta ** (-2.0 * j / hd)
                c, s = np.cos(a), np.sin(a)
                x1, x2 = x[t, j], x[t, j + half]
                y[t, j] = x1 * c - x2 * s
                y[t, j + half] = x2 * c + x1 * s
        return y

    x = w["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        hN = rms(x, w[p + "input_layernorm.weight"])
        q = hN @ w[p + "self_attn.q_proj.weight"].T
        k = hN @ w[p + "self_attn.k_proj.weight"].T
        v = hN @ w[p + "self_attn.v_proj.weight"].T
        heads = []
        for h in range(nh):
            g = h // (nh // nkv)
            qh = rope(q[:, h * hd:(h + 1) * hd])
            kh = rope(k[:, g * hd:(g + 1) * hd])
            vh = v[:, g * hd:(g + 1) * hd]
            sc = qh @ kh.T / np.sqrt(hd)
            sc[np.triu_indices(T, 1)] = -np.inf
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            sc /= sc.sum(-1, keepdims=True)
            heads.append(sc @ vh)
        x = x + np.concatenate(heads, -1) @ w[p + "self_attn.o_proj.weight"].T
        hN = rms(x, w[p + "post_attention_layernorm.weight"])
        gt = hN @ w[p + "mlp.gate_proj.weight"].T
        up = hN @ w[p + "mlp.up_proj.weight"].T
        x = x + ((gt / (1 + np.exp(-gt))) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms(x, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.T


PROMPTS = [
    "Once upon a time, in a green meadow full of flowers, there lived a little rabbit named",
    "The Owl and the Race\n\nOnce upon a time,",
    "One cold night, a great storm came to the valley.",
]


def main():
    torch.set_num_threads(1)
    model, cfg, _ = load_model()
    tok = BPETokenizer(os.path.join(OUT_DIR, "tokenizer.json"))
    w = check_file(cfg)
    worst = 0.0
    for ptxt in PROMPTS:
        ids = tok.encode(ptxt)
        ref = numpy_forward(w, cfg, ids)
        with torch.no_grad():
            got = model(torch.tensor([ids]))[0].double().numpy()
        d = float(np.abs(ref - got).max())
        worst = max(worst, d)
        assert (ref.argmax(-1) == got.argmax(-1)).all()
    print(f"[numpy] independent float64 forward vs torch float32: max |logit diff| {worst:.2e} over {len(PROMPTS)} prompts; argmax identical")
    assert worst < 1e-3

    eos = tok.vocab[EOS]
    gen = torch.Generator().manual_seed(0)
    for ptxt in PROMPTS:
        ids = tok.encode(ptxt)
        g = model.generate(ids, 120, temperature=0.0, eos_id=eos)
        print(f"\n=== greedy: {ptxt!r}\n{tok.decode(g)}")
        s = model.generate(ids, 160, temperature=0.8, top_k=40, generator=gen, eos_id=eos)
        print(f"\n=== sampled (T=0.8, top-k 40, seed 0): {ptxt!r}\n{tok.decode(s)}")
    s = model.generate([tok.vocab["<s>"]], 200, temperature=1.0, generator=gen, eos_id=eos)
    print(f"\n=== sampled from <s> alone (T=1.0):\n{tok.decode(s)}")


if __name__ == "__main__":
    main()
