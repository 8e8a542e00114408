#!/usr/bin/env bash
# CTest reference.trained_model: the committed trained checkpoint (datasets/model/tiny-v32, README
# "Training the built-in model") loaded by the C++ loader and checked against the float64 PyTorch
# reference like the synthetic presets (compare_cpp_reference.sh: all four modes, unpinned and
# pinned, 80 tokens, 48 prefilled), on the first 80 tokens of the held-out Jargon text (real text,
# so attention and the indexer see the distributions they were trained on; 80 > index_topk 64).
# Skips (exit 0, "SKIP:") while the checkpoint is not installed (scripts/install_trained_model.sh).
# Usage: compare_trained_model.sh DSV32_BIN WORK_DIR [MODEL_DIR]
set -euo pipefail
BIN=$1 WORK=$2
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
MODEL=${3:-$SRC/datasets/model/tiny-v32}
if [ ! -f "$MODEL/config.json" ]; then
  echo "SKIP: no trained checkpoint in $MODEL (scripts/install_trained_model.sh installs one)"; exit 0
fi
TEXT=$SRC/datasets/data/corpus/heldout/jargon.txt
TOK=$SRC/.cache/tokenizer/tokenizer.json
if [ -f "$TEXT" ] && [ -f "$TOK" ]; then
  # dsv32 tokenize prints the ids comma-separated (BOS first).
  IDS=$(head -n 60 "$TEXT" | "$BIN" tokenize --tokenizer "$TOK" --bos --file - 2>/dev/null | cut -d, -f1-80) || IDS=""
fi
if [ -z "${IDS:-}" ] || [ "$(echo "$IDS" | tr ',' '\n' | wc -l)" -lt 80 ]; then
  IDS=$(seq -s, 0 1347 128000 | cut -d, -f1-80)  # no tokenizer: fixed ids (out-of-training rows are zero)
fi
"$BIN" info --model "$MODEL" >/dev/null
IDS=$IDS exec "$SRC/tests/reference/compare_cpp_reference.sh" "$BIN" "$MODEL" "$WORK"
