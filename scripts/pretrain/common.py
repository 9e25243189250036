"""Shared pieces for the peftjs-tiny-llama reproduction: corpus split, paths,
the byte-level BPE encoder (same algorithm as Hugging Face `tokenizers`' BPE
model with a ByteLevel pre-tokenizer), and the model configuration."""
import json
import os

import regex

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(HERE, "corpus.txt")
OUT_DIR = os.path.join(REPO, "packages", "models", "assets", "peftjs-tiny-llama")
WORK_DIR = os.path.join(HERE, "work")  # checkpoints, logs (not shipped)
SEP = "<|story|>"

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
SPECIALS = [UNK, BOS, EOS]  # ids 0, 1, 2 as in LLaMA
VOCAB_SIZE = 1024

# GPT-2's pre-tokenizer pattern, exactly as the ByteLevel pre-tokenizer of
# Hugging Face tokenizers uses it (use_regex=true).
GPT2_PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

MODEL_CONFIG = dict(
    vocab_size=VOCAB_SIZE,
    hidden_size=192,
    intermediate_size=576,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
    tie_word_embeddings=False,
    bos_token_id=1,
    eos_token_id=2,
)


def load_stories():
    """All stories, in corpus order, and the train / validation split: every
    20th story (index % 20 == 19) is held out, i.e. 5% of the text."""
    with open(CORPUS, encoding="utf-8") as f:
        text = f.read()
    stories = [s.strip("\n") for s in text.split("\n" + SEP + "\n")]
    train = [s for i, s in enumerate(stories) if i % 20 != 19]
    val = [s for i, s in enumerate(stories) if i % 20 == 19]
    return stories, train, val


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


B2U = bytes_to_unicode()
U2B = {v: k for k, v in B2U.items()}


def pretokenize(text):
    return ["".join(B2U[b] for b in m.encode("utf-8")) for m in GPT2_PAT.findall(text)]


class BPETokenizer:
    """Reads the tokenizer.json this project writes and encodes like the
    Rust/JS implementations: added (special) tokens are split out first, the
    rest is pre-tokenized and each piece merged by merge rank; the post
    processor prepends <s>."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        self.vocab = tj["model"]["vocab"]
        self.inv = {i: t for t, i in self.vocab.items()}
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in tj["model"]["merges"]]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.specials = {t["content"]: t["id"] for t in tj["added_tokens"]}
        self.special_re = regex.compile("(" + "|".join(regex.escape(s) for s in self.specials) + ")")
        self.cache = {}

    def _bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            a, b = parts[best[1]], parts[best[1] + 1]
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == a and parts[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids = [self.vocab[p] for p in parts]
        self.cache[word] = ids
        return ids

    def encode(self, text, add_bos=True):
        ids = [self.vocab[BOS]] if add_bos else []
        for chunk in self.special_re.split(text):
            if not chunk:
                continue
            if chunk in self.specials:
                ids.append(self.specials[chunk])
                continue
            for w in pretokenize(chunk):
                ids.extend(self._bpe(w))
        return ids

    def decode(self, ids, skip_special=True):
        out, buf = [], []
        for i in ids:
            t = self.inv[i]
            if t in self.specials:
                if buf:
                    out.append(bytes(buf).decode("utf-8", errors="replace"))
                    buf = []
                if not skip_special:
                    out.append(t)
                continue
            buf.extend(U2B[c] for c in t)
        if buf:
            out.append(bytes(buf).decode("utf-8", errors="replace"))
        return "".join(out)
