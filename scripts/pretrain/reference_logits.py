#!/usr/bin/env python3
"""Write packages/models/assets/peftjs-tiny-llama-reference.json: a prompt,
its token ids (Python-side encoder, identical to @huggingface/tokenizers, see
check_tokenizer.py), float32 logits of the torch implementation (F16 weights
upcast to float32, float32 compute) and a 20-token greedy continuation, so the
TypeScript implementation can be checked against this one."""
import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from common import OUT_DIR, REPO, BPETokenizer
from load import load_model

PROMPT = "Once upon a time, in a quiet valley by the river, there lived a little fox named"
PATH = os.path.join(REPO, "packages", "models", "assets", "peftjs-tiny-llama-reference.json")


def main():
    torch.set_num_threads(1)
    model, cfg, _ = load_model()
    tok = BPETokenizer(os.path.join(OUT_DIR, "tokenizer.json"))
    ids = tok.encode(PROMPT)  # starts with <s> (id 1), as the tokenizer's post-processor adds it
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0].float()
    last = logits[-1]
    greedy = model.generate(ids, 20, temperature=0.0)[len(ids):]  # pure greedy, no EOS stop
    ref = {
        "model": "peftjs-tiny-llama",
        "description": "float32 reference from scripts/pretrain (torch LLaMA, weights = model.safetensors F16 upcast to float32)",
        "prompt": PROMPT,
        "add_special_tokens": True,
        "input_ids": ids,
        "last_position": {
            "logits_first16": [float(v) for v in last[:16]],
            "argmax": int(last.argmax()),
            "max": float(last.max()),
            "mean": float(last.mean()),
            "std": float(last.std(unbiased=False)),
        },
        "first_position_logits_first16": [float(v) for v in logits[0, :16]],
        "greedy_new_ids": greedy,
        "greedy_text": tok.decode(greedy),
        "greedy_note": "20 tokens of argmax decoding after the prompt, no stopping at EOS, no KV cache needed",
        "tolerance_hint": "expect |diff| < 1e-3 on logits with float32 compute",
    }
    with open(PATH, "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    print(json.dumps(ref, indent=2))


if __name__ == "__main__":
    main()
