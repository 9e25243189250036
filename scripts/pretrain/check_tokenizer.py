#!/usr/bin/env python3
"""Encode every corpus story (and some extra strings) with the Python encoder
and check that @huggingface/tokenizers (npm) produces identical ids and
round-trips the text: node scripts/pretrain/check_tokenizer.mjs."""
import json
import os
import subprocess

from common import HERE, OUT_DIR, WORK_DIR, BPETokenizer, load_stories

EXTRA = [
    "Hello World", "  two  spaces\tand a tab\n\n", "Numbers 1234 and 56.7!", "It's the fox's den; we'll see.",
    "Unicode: café, naïve, 東京, emoji 🦊", "<s>special</s> tokens <unk> inside", "",
]


def main():
    tok = BPETokenizer(os.path.join(OUT_DIR, "tokenizer.json"))
    stories, _, _ = load_stories()
    cases = []
    for t in stories + EXTRA:
        ids = tok.encode(t)
        decoded = tok.decode(ids)  # special tokens skipped
        assert decoded == t.replace("<s>", "").replace("</s>", "").replace("<unk>", ""), t
        cases.append({"text": t, "ids": ids, "decoded": decoded})
    os.makedirs(WORK_DIR, exist_ok=True)
    path = os.path.join(WORK_DIR, "tokenizer_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)
    r = subprocess.run(["node", os.path.join(HERE, "check_tokenizer.mjs"), path])
    raise SystemExit(r.returncode)


if __name__ == "__main__":
    main()
