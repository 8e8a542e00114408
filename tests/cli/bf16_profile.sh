#!/usr/bin/env bash
# The CPU bf16 numerics profile end to end, tiny preset, all four modes (80 ids > index_topk = 64,
# 48 prefilled and 32 decoded, as compare_cpp_reference.sh):
#   - `--numerics bf16` dumps verify against the exact dumps under `dsv32 verify --profile bf16`
#     (bf16 GEMM inputs: u_store = 2^-8 per rounding point, verify/profiles.json) in all four modes
#     (on this checkpoint the naive modes flip the router's group choice at layer 2-3 by a tie,
#     which verify judges as a group flip: verify/router_groups.h);
#   - they are not the exact dumps (the bf16 GEMM really ran: a bitwise verify must fail);
#   - the emulated lane step (DSV32_BF16_DOT=emulated) gives the same bits as the native
#     vdpbf16ps one (kernels/cpu/linear_bf16.h); where the CPU lacks AVX512-BF16 both runs are
#     emulated and the check is vacuous (said in the output).
# Usage: bf16_profile.sh DSV32_BIN MODEL_DIR WORK_DIR
set -euo pipefail
BIN=$1 MODEL=$2 WORK=$3
mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
grep -q avx512_bf16 /proc/cpuinfo 2>/dev/null || echo "note: no avx512_bf16 here; native == emulated is vacuous"
IDS=$(seq -s, 0 1347 128000 | cut -d, -f1-80)
fail=0
for attn in dense sparse; do
  for mla in naive absorbed; do
    tag=${attn}_${mla}
    common=(--model "$MODEL" --ids "$IDS" --prefill 48 --attn $attn --mla $mla --threads 2 --quiet)
    "$BIN" run "${common[@]}" --dump "$WORK/exact_$tag.h5" >/dev/null
    "$BIN" run "${common[@]}" --numerics bf16 --dump "$WORK/bf16_$tag.h5" >/dev/null
    DSV32_BF16_DOT=emulated "$BIN" run "${common[@]}" --numerics bf16 --dump "$WORK/bf16emu_$tag.h5" >/dev/null
    if "$BIN" verify "$WORK/bf16_$tag.h5" "$WORK/exact_$tag.h5" --profile bf16 --quiet --json "$WORK/verify_$tag.json"; then
      echo "PASS $tag: bf16 vs exact under --profile bf16"
    else
      echo "FAIL $tag: bf16 vs exact, see $WORK/verify_$tag.json"; fail=1
    fi
    if "$BIN" verify "$WORK/bf16_$tag.h5" "$WORK/exact_$tag.h5" --profile bitwise --quiet >/dev/null 2>&1; then
      echo "FAIL $tag: the bf16 dump is bit-identical to the exact one (no bf16 GEMM ran?)"; fail=1
    fi
    if "$BIN" verify "$WORK/bf16emu_$tag.h5" "$WORK/bf16_$tag.h5" --profile bitwise --quiet >/dev/null; then
      echo "PASS $tag: emulated == native, bitwise"
    else
      echo "FAIL $tag: emulated and native bf16 steps differ"; fail=1
    fi
  done
done
exit $fail
