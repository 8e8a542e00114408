#!/usr/bin/env bash
# C++ --numerics ref1 against reference/run.py --numerics ref1 (float64 accumulation, the same
# REF-1 rounding points) on the tiny preset, all four modes: 80 ids (> index_topk = 64), 48
# prefilled and 32 decoded. Two checks per mode (why two: verify/profiles.json "ref1" doc):
#   layer 0, unpinned, profile bf16: before the first rounding flip the two agree bit for bit and
#     the first flips stay at bf16 size, so a missing or misplaced rounding point shows up here;
#   whole run, C++ pinned to the reference's top-k sets and experts, profile ref1: FP8 activation
#     quantization amplifies each flip up to e4m3 resolution within a layer or two, so deeper
#     tensors agree at that level. router_scores is left out: its -inf entries mark dropped expert
#     groups, which decorrelate like any near-tie (the pinned expert_ids make them irrelevant).
# Usage: compare_cpp_reference_ref1.sh DSV32_BIN MODEL_DIR WORK_DIR
set -euo pipefail
BIN=$1 MODEL=$2 WORK=$3
PY=/usr/bin/python3
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
IDS=$(seq -s, 0 1347 128000 | cut -d, -f1-80)
fail=0
for attn in dense sparse; do
  for mla in naive absorbed; do
    tag=${attn}_${mla}
    common=(--model "$MODEL" --ids "$IDS" --prefill 48 --attn $attn --mla $mla --numerics ref1)
    "$BIN" run "${common[@]}" --quiet --dump "$WORK/cpp_$tag.h5" >/dev/null
    $PY "$SRC/reference/run.py" "${common[@]}" --dump "$WORK/ref_$tag.h5" >/dev/null
    "$BIN" run "${common[@]}" --quiet --pin-from "$WORK/ref_$tag.h5" --dump "$WORK/pin_$tag.h5" >/dev/null
    if "$BIN" verify "$WORK/ref_$tag.h5" "$WORK/cpp_$tag.h5" --quiet --profile bf16 --tensors '^(embed$|layers/00/)' \
         --json "$WORK/verify_layer0_$tag.json"; then
      echo "PASS $tag (layer 0, bf16)"
    else
      echo "FAIL $tag (layer 0, bf16): see $WORK/verify_layer0_$tag.json"; fail=1
    fi
    if "$BIN" verify "$WORK/ref_$tag.h5" "$WORK/pin_$tag.h5" --quiet --profile ref1 --tensors '^(?!.*router_scores$)' \
         --json "$WORK/verify_pin_$tag.json"; then
      echo "PASS $tag (pinned, ref1)"
    else
      echo "FAIL $tag (pinned, ref1): see $WORK/verify_pin_$tag.json"; fail=1
    fi
  done
done
exit $fail
