#!/usr/bin/env python3
"""Pretrain peftjs-tiny-llama on the training split of corpus.txt and write
model.safetensors (F16) plus the config files into the model folder.

Deterministic: fixed seeds, one CPU thread, fixed step count.  Writes
work/train_log.json (losses, timing) next to this file and a copy of the
summary to training_log.json (shipped)."""
import json
import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import torch
import torch.nn.functional as F

from common import BOS, EOS, HERE, MODEL_CONFIG, OUT_DIR, WORK_DIR, BPETokenizer, load_stories
from export import write_configs, write_safetensors
from model import LlamaForCausalLM

SEED = 1234
SEQ_LEN = 128
BATCH = 16
STEPS = int(os.environ.get("PRETRAIN_STEPS", 900))
WARMUP = 50
LR = 2e-3
MIN_LR = 2e-4
WEIGHT_DECAY = 0.1
EVAL_EVERY = 100


def stream(tok, stories):
    ids = []
    for s in stories:
        ids += tok.encode(s, add_bos=True) + [tok.vocab[EOS]]
    return torch.tensor(ids, dtype=torch.long)


def lr_at(step):
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    p = (step - WARMUP) / max(1, STEPS - WARMUP)
    return MIN_LR + 0.5 * (LR - MIN_LR) * (1 + math.cos(math.pi * p))


@torch.no_grad()
def evaluate(model, data):
    """Mean next-token loss over the whole stream in consecutive SEQ_LEN windows."""
    model.eval()
    total, count = 0.0, 0
    n = (len(data) - 1) // SEQ_LEN
    for i in range(0, n, BATCH):
        rows = range(i, min(n, i + BATCH))
        x = torch.stack([data[r * SEQ_LEN:(r + 1) * SEQ_LEN] for r in rows])
        y = torch.stack([data[r * SEQ_LEN + 1:(r + 1) * SEQ_LEN + 1] for r in rows])
        logits = model(x)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    model.train()
    return total / count


def main():
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    os.makedirs(WORK_DIR, exist_ok=True)
    tok = BPETokenizer(os.path.join(OUT_DIR, "tokenizer.json"))
    _, train_s, val_s = load_stories()
    train, val = stream(tok, train_s), stream(tok, val_s)
    print(f"train tokens {len(train)}, val tokens {len(val)}")

    model = LlamaForCausalLM(MODEL_CONFIG)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters {n_params}")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(SEED)
    log = {"evals": [], "train_loss": []}
    t0 = time.time()
    ema = None
    for step in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        starts = torch.randint(0, len(train) - SEQ_LEN - 1, (BATCH,), generator=gen)
        x = torch.stack([train[s:s + SEQ_LEN] for s in starts])
        y = torch.stack([train[s + 1:s + SEQ_LEN + 1] for s in starts])
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        log["train_loss"].append(round(loss.item(), 5))
        if (step + 1) % 10 == 0:
            print(f"step {step + 1} loss {loss.item():.4f} ema {ema:.4f} lr {lr_at(step):.2e} {time.time() - t0:.0f}s", flush=True)
        if (step + 1) % EVAL_EVERY == 0 or step + 1 == STEPS:
            vl = evaluate(model, val)
            log["evals"].append({"step": step + 1, "val_loss": round(vl, 5), "elapsed_s": round(time.time() - t0, 1)})
            print(f"  eval step {step + 1}: val loss {vl:.4f}", flush=True)
    train_time = time.time() - t0

    # Final losses, measured on the F16-rounded weights that ship.
    sd = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    final = {
        "train_loss_full_pass": round(evaluate(model, train), 5),
        "val_loss": round(evaluate(model, val), 5),
    }
    tensors = {k: v.numpy() for k, v in sd.items()}
    if MODEL_CONFIG["tie_word_embeddings"]:
        tensors.pop("lm_head.weight")
    write_safetensors(os.path.join(OUT_DIR, "model.safetensors"), tensors, {"format": "pt"})
    write_configs(OUT_DIR)
    summary = {
        "parameters": n_params,
        "model_config": MODEL_CONFIG,
        "seed": SEED, "seq_len": SEQ_LEN, "batch": BATCH, "steps": STEPS, "warmup": WARMUP,
        "lr": LR, "min_lr": MIN_LR, "weight_decay": WEIGHT_DECAY, "betas": [0.9, 0.95], "grad_clip": 1.0,
        "train_tokens": len(train), "val_tokens": len(val),
        "tokens_seen": STEPS * BATCH * SEQ_LEN,
        "epochs": round(STEPS * BATCH * SEQ_LEN / len(train), 2),
        "train_time_s": round(train_time, 1),
        "torch_version": torch.__version__, "threads": torch.get_num_threads(),
        "final_f16": final,
        "evals": log["evals"],
        "last_50_train_batch_loss_mean": round(sum(log["train_loss"][-50:]) / 50, 5),
    }
    with open(os.path.join(HERE, "training_log.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    with open(os.path.join(WORK_DIR, "train_loss_per_step.json"), "w") as f:
        json.dump(log["train_loss"], f)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
