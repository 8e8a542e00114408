#!/usr/bin/env bash
# Tensor parallelism (and EP x TP) against one process: `mpirun -np N dsv32 run --tp T [--ep E]`
# on the tiny preset (8 heads, 16 experts, 4 layers; 70 ids, 56 prefilled, 14 decoded), in the
# given modes; `dsv32 verify --profile exact` must pass on the whole dump, and the run must report
# the layout (so the test fails if TP silently did not engage).
#
# Why the exact profile is the bound: TP changes nothing but summation order. o_proj's dot
# products of length L = H·d_v = 256 (and down_proj's, L = I = 512 dense / 128 shared) become T
# partial dot products of length L/T, summed in rank order (T − 1 more additions); the exact
# profile's fp32 model (verify/profiles.json: relative error ~ c_acc·u·sqrt(L/2) per reduction
# of length L, u = 2^-24, c_acc = 4, growing 0.25 per layer) then holds with L → L/T + T ≤ L + T,
# a factor sqrt(1 + T/L) ≤ 1.03 (T ≤ 4, L ≥ 128) inside its c_acc margin of ~4. Ties in the
# indexer top-k or the router are excused by the profile only within 4·beta of the cut-off, so a
# flip caused by the reordering is also caught. Derivation: model/tensor_parallel.cpp.
# Usage: tp_exact.sh DSV32_BIN MODEL_DIR WORK_DIR NRANKS TP EP MPIEXEC MODE...
#        (EP 0 = every rank; MODE = attn/mla, e.g. sparse/absorbed)
set -euo pipefail
BIN=$1 MODEL=$2 WORK=$3 N=$4 TP=$5 EP=$6 MPIEXEC=$7
shift 7
mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
MPIRUN=("$MPIEXEC" --allow-run-as-root --oversubscribe -np "$N")
IDS=$(seq -s, 0 1347 128000 | cut -d, -f1-70)
EPX=$([ "$EP" = 0 ] && echo "$N" || echo "$EP")
fail=0
for mode in "$@"; do
  attn=${mode%/*} mla=${mode#*/} tag=${mode/\//_}
  common=(--model "$MODEL" --ids "$IDS" --prefill 56 --attn $attn --mla $mla --threads 1 --quiet)
  "$BIN" run "${common[@]}" --parallel none --dump "$WORK/one_$tag.h5" >/dev/null
  out=$("${MPIRUN[@]}" "$BIN" run "${common[@]}" --tp "$TP" --ep "$EP" --dump "$WORK/tp_$tag.h5")
  if ! grep -q "^ranks   $N (expert-parallel over $EPX: .*tensor-parallel over $TP:" <<<"$out"; then
    echo "FAIL $tag: the run did not report $N ranks as TP $TP x EP $EPX:"; echo "$out"; fail=1; continue
  fi
  if "$BIN" verify "$WORK/tp_$tag.h5" "$WORK/one_$tag.h5" --profile exact --quiet --json "$WORK/verify_$tag.json"; then
    echo "PASS $tag (np $N, tp $TP, ep $EPX within the exact profile of one process)"
  else
    echo "FAIL $tag (np $N, tp $TP, ep $EPX): see $WORK/verify_$tag.json"; fail=1
  fi
done
exit $fail
