"""Writing the Hugging Face folder: a small safetensors writer/reader (the
`safetensors` package is not in Debian; the format is an 8-byte little-endian
header length, a JSON header padded with spaces to a multiple of 8 bytes, then
the raw little-endian tensor data) and the JSON files transformers writes."""
import json
import os
import struct

import numpy as np

from common import BOS, EOS, MODEL_CONFIG, SPECIALS, UNK

TRANSFORMERS_VERSION = "4.46.3"  # the format these files follow; see README

_NP = {"F16": np.float16, "F32": np.float32, "BF16": None}


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (float16/float32), written sorted by name."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dt = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, info in header.items():
        s, e = info["data_offsets"]
        out[name] = np.frombuffer(data[base + s:base + e], dtype=np.dtype(_NP[info["dtype"]]).newbyteorder("<")).reshape(info["shape"])
    return out, meta


def config_json(cfg=MODEL_CONFIG):
    head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": cfg["bos_token_id"],
        "eos_token_id": cfg["eos_token_id"],
        "head_dim": head_dim,
        "hidden_act": "silu",
        "hidden_size": cfg["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": cfg["intermediate_size"],
        "max_position_embeddings": cfg["max_position_embeddings"],
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": cfg["num_attention_heads"],
        "num_hidden_layers": cfg["num_hidden_layers"],
        "num_key_value_heads": cfg["num_key_value_heads"],
        "pretraining_tp": 1,
        "rms_norm_eps": cfg["rms_norm_eps"],
        "rope_scaling": None,
        "rope_theta": cfg["rope_theta"],
        "tie_word_embeddings": cfg["tie_word_embeddings"],
        "torch_dtype": "float16",
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": cfg["vocab_size"],
    }


def generation_config_json(cfg=MODEL_CONFIG):
    return {
        "_from_model_config": True,
        "bos_token_id": cfg["bos_token_id"],
        "eos_token_id": cfg["eos_token_id"],
        "transformers_version": TRANSFORMERS_VERSION,
    }


# A plain-text chat format (the model was pretrained on stories only; the
# template exists so the chat code path can be exercised).
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token + '\\n' }}"
    "{% else %}{{ raise_exception('Unknown role: ' + message['role']) }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def _tok(content):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}


def tokenizer_config_json(cfg=MODEL_CONFIG):
    return {
        "added_tokens_decoder": {str(i): dict(_tok(t), special=True) for i, t in enumerate(SPECIALS)},
        "bos_token": BOS,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": EOS,
        "model_max_length": cfg["max_position_embeddings"],
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": UNK,
    }


def special_tokens_map_json():
    return {"bos_token": _tok(BOS), "eos_token": _tok(EOS), "unk_token": _tok(UNK)}


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_configs(out_dir, cfg=MODEL_CONFIG):
    write_json(os.path.join(out_dir, "config.json"), config_json(cfg))
    write_json(os.path.join(out_dir, "generation_config.json"), generation_config_json(cfg))
    write_json(os.path.join(out_dir, "tokenizer_config.json"), tokenizer_config_json(cfg))
    write_json(os.path.join(out_dir, "special_tokens_map.json"), special_tokens_map_json())
