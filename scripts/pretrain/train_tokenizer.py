#!/usr/bin/env python3
"""Train the byte-level BPE tokenizer of peftjs-tiny-llama on the training
split of corpus.txt and write a standard Hugging Face tokenizer.json (BPE model,
ByteLevel pre-tokenizer and decoder, TemplateProcessing that prepends <s>).

Plain Python (needs only the `regex` module: Debian's python3-regex); the
algorithm is the classic one: count adjacent symbol pairs over the
pre-tokenized words, merge the most frequent (ties broken by the pair itself,
so the result is deterministic), repeat until the vocabulary is full."""
import collections
import json
import os

from common import B2U, BOS, EOS, OUT_DIR, SPECIALS, VOCAB_SIZE, load_stories, pretokenize


def train_bpe(texts, vocab_size):
    words = collections.Counter()
    for t in texts:
        words.update(pretokenize(t))
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab[B2U[b]] = len(vocab)
    seqs = {w: list(w) for w in words}
    merges = []
    while len(vocab) < vocab_size:
        pairs = collections.Counter()
        for w, n in words.items():
            s = seqs[w]
            for i in range(len(s) - 1):
                pairs[(s[i], s[i + 1])] += n
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        a, b = best
        merges.append(best)
        vocab[a + b] = len(vocab)
        for w in words:
            s = seqs[w]
            if len(s) < 2:
                continue
            out, i = [], 0
            while i < len(s):
                if i < len(s) - 1 and s[i] == a and s[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return vocab, merges


def tokenizer_json(vocab, merges):
    added = [
        {"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for s in SPECIALS
    ]
    bos = {"SpecialToken": {"id": BOS, "type_id": 0}}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": BOS, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {BOS: {"id": BOS, "ids": [vocab[BOS]], "tokens": [BOS]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [a + " " + b for a, b in merges],
        },
    }


def main():
    _, train, _ = load_stories()
    vocab, merges = train_bpe(train, VOCAB_SIZE)
    assert len(vocab) == VOCAB_SIZE, len(vocab)
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, merges), f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"wrote {path}: {len(vocab)} tokens, {len(merges)} merges")


if __name__ == "__main__":
    main()
