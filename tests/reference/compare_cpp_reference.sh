#!/usr/bin/env bash
# C++ (fp32) against the float64 PyTorch reference on the tiny preset, all four modes: 80 ids
# (> index_topk = 64), 48 prefilled and 32 decoded. Each mode must pass `dsv32 verify` (profile
# fp32) unpinned, and again with the C++ run pinned to the reference's selections.
# Usage: compare_cpp_reference.sh DSV32_BIN MODEL_DIR WORK_DIR   (env IDS: other comma-separated ids;
# a missing MODEL_DIR is synthesized as the tiny preset)
set -euo pipefail
BIN=$1 MODEL=$2 WORK=$3
PY=/usr/bin/python3
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
IDS=${IDS:-$(seq -s, 0 1347 128000 | cut -d, -f1-80)}
fail=0
for attn in dense sparse; do
  for mla in naive absorbed; do
    tag=${attn}_${mla}
    "$BIN" run --model "$MODEL" --ids "$IDS" --prefill 48 --attn $attn --mla $mla --quiet --dump "$WORK/cpp_$tag.h5" >/dev/null
    $PY "$SRC/reference/run.py" --model "$MODEL" --ids "$IDS" --prefill 48 --attn $attn --mla $mla --dump "$WORK/ref_$tag.h5" >/dev/null
    "$BIN" run --model "$MODEL" --ids "$IDS" --prefill 48 --attn $attn --mla $mla --quiet --pin-from "$WORK/ref_$tag.h5" --dump "$WORK/pin_$tag.h5" >/dev/null
    for kind in cpp pin; do
      if "$BIN" verify "$WORK/ref_$tag.h5" "$WORK/${kind}_$tag.h5" --quiet --json "$WORK/verify_${kind}_$tag.json"; then
        echo "PASS $tag ($kind)"
      else
        echo "FAIL $tag ($kind): see $WORK/verify_${kind}_$tag.json"; fail=1
      fi
    done
  done
done
exit $fail
