"""Load the shipped model folder into the torch model (F16 weights -> float32)."""
import json
import os

import torch

from common import OUT_DIR
from export import read_safetensors
from model import LlamaForCausalLM


def load_model(model_dir=OUT_DIR):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    tensors, _ = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    model = LlamaForCausalLM(cfg)
    sd = {k: torch.from_numpy(v.astype("float32")) for k, v in tensors.items()}
    if cfg.get("tie_word_embeddings"):
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    model.load_state_dict(sd, strict=True)
    model.eval()
    return model, cfg, tensors
