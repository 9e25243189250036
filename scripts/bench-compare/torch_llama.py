"""PyTorch side of `npm run bench:compare`: the same LLaMA and the same work as its twin
(scripts/bench-compare/peftjs.ts). RMSNorm, RoPE, SwiGLU, no biases, grouped-query attention as
transformers does it (repeat_kv), LoRA on q,v (frozen base), AdamW. Prints one JSON line.

Run it as compare.ts does, once per thread configuration (it keeps each row's best), e.g.
`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 torch_llama.py
--shape ref --rows lora,forward,full,decode --steps 6 --threads 1`. On the 2-core VM, measured idle:
LoRA step 79 ms with 1×1 (torch × OpenBLAS threads) against 170 ms with 1×2; forward 31 ms with 1×2.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = {
    # PERFORMANCE.md's reference shape (packages/cli/bench/lora-step.ts)
    "ref": dict(vocab=512, hidden=256, layers=4, heads=4, kv_heads=4, ffn=1024, batch=8, seq=64, tied=False),
    # SmolLM-135M
    "smol": dict(vocab=49152, hidden=576, layers=30, heads=9, kv_heads=3, ffn=1536, batch=1, seq=128, tied=True),
}


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class LoraLinear(nn.Module):
    """y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with W frozen (PEFT's lora.Linear)."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


def rope(x, cos, sin):
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], -1)
    return x * cos + rot * sin


class Attention(nn.Module):
    def __init__(self, s):
        super().__init__()
        d, self.h, self.kvh = s["hidden"], s["heads"], s["kv_heads"]
        self.hd = d // self.h
        self.q_proj = nn.Linear(d, self.h * self.hd, bias=False)
        self.k_proj = nn.Linear(d, self.kvh * self.hd, bias=False)
        self.v_proj = nn.Linear(d, self.kvh * self.hd, bias=False)
        self.o_proj = nn.Linear(self.h * self.hd, d, bias=False)

    def forward(self, x, cos, sin, cache=None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kvh, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kvh, self.hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], 2)
                v = torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        S = k.shape[2]
        rep = self.h // self.kvh
        k = k.repeat_interleave(rep, 1)
        v = v.repeat_interleave(rep, 1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.hd)
        if T > 1:
            mask = torch.full((T, S), float("-inf")).triu(S - T + 1)
            scores = scores + mask
        out = torch.softmax(scores, -1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(B, T, -1))


class Block(nn.Module):
    def __init__(self, s):
        super().__init__()
        d, f = s["hidden"], s["ffn"]
        self.input_layernorm = RMSNorm(d)
        self.self_attn = Attention(s)
        self.post_attention_layernorm = RMSNorm(d)
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x, cos, sin, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.embed = nn.Embedding(s["vocab"], s["hidden"])
        self.layers = nn.ModuleList(Block(s) for _ in range(s["layers"]))
        self.norm = RMSNorm(s["hidden"])
        self.lm_head = nn.Linear(s["hidden"], s["vocab"], bias=False)
        if s["tied"]:
            self.lm_head.weight = self.embed.weight
        hd = s["hidden"] // s["heads"]
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.outer(torch.arange(4096).float(), inv)
        emb = torch.cat([ang, ang], -1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, ids, labels=None, caches=None, past=0):
        T = ids.shape[1]
        cos, sin = self.cos[past : past + T], self.sin[past : past + T]
        x = self.embed(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, None if caches is None else caches[i])
        logits = self.lm_head(self.norm(x))
        if labels is None:
            return logits
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))


def add_lora(model, r=8, alpha=16):
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.layers:
        a = layer.self_attn
        a.q_proj = LoraLinear(a.q_proj, r, alpha)
        a.v_proj = LoraLinear(a.v_proj, r, alpha)
    return [p for n, p in model.named_parameters() if "lora_" in n]


def timed(fn, steps):
    fn()  # warm-up
    fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="ref", choices=SHAPES)
    ap.add_argument("--rows", default="lora,forward,full,decode")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--seq", type=int, default=0, help="override the shape's sequence length")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    s = dict(SHAPES[args.shape])
    if args.seq:
        s["seq"] = args.seq
    rows = args.rows.split(",")
    ids = torch.randint(0, s["vocab"], (s["batch"], s["seq"]))
    out = {"shape": args.shape, "threads": torch.get_num_threads(), "torch": torch.__version__}

    if "full" in rows:
        model = Llama(s)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)

        def full_step():
            opt.zero_grad(set_to_none=True)
            model(ids, ids).backward()
            opt.step()

        out["full"] = timed(full_step, args.steps)
        del model, opt

    model = Llama(s)
    params = add_lora(model)
    if "lora" in rows:
        opt = torch.optim.AdamW(params, lr=1e-3)

        def lora_step():
            opt.zero_grad(set_to_none=True)
            model(ids, ids).backward()
            opt.step()

        out["lora"] = timed(lora_step, args.steps)
    if "forward" in rows:
        with torch.no_grad():
            out["forward"] = timed(lambda: model(ids, ids).item(), args.steps)
    if "decode" in rows:
        with torch.no_grad():
            prompt = ids[:1, :8]
            n = 32

            def decode():
                caches = [{} for _ in model.layers]
                logits = model(prompt, caches=caches)
                tok = logits[:, -1:].argmax(-1)
                t0 = time.perf_counter()
                for i in range(n):
                    logits = model(tok, caches=caches, past=8 + i)
                    tok = logits[:, -1:].argmax(-1)
                return n / (time.perf_counter() - t0)

            decode()
            out["decode"] = statistics.median(decode() for _ in range(3))
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
