#!/usr/bin/env bash
# Rebuilds packages/models/assets/peftjs-tiny-llama from scratch and checks it.
# Needs Debian bookworm packages (see README.md) and node (for the tokenizer check).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-/usr/bin/python3}   # Debian's python, where python3-torch is installed
"$PY" make_corpus.py --check      # corpus.txt is exactly what make_corpus.py writes
"$PY" train_tokenizer.py          # -> tokenizer.json
"$PY" train.py                    # -> model.safetensors, config files, training_log.json
"$PY" reference_logits.py         # -> ../../packages/models/assets/peftjs-tiny-llama-reference.json
"$PY" check_tokenizer.py          # Python encoder == @huggingface/tokenizers on the whole corpus
"$PY" verify.py                   # file layout, independent NumPy forward, samples
