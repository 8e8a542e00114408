#!/usr/bin/env bash
# CUDA forward pass against the CPU one through the dump/verify workflow, tiny preset, all four
# modes: 80 ids (> index_topk = 64), 48 prefilled and 32 decoded, as compare_cpp_reference.sh.
# Each mode runs once on the CPU and on the GPU with --gpu-gemm fp32 (judged with `dsv32 verify
# --profile exact`: the same exact profile, another summation order) and bf16 (--profile bf16:
# bf16-rounded GEMM inputs). The CPU dump is the reference (verify's second argument).
# bf16 mode also runs the fast decode path (model/cuda/cuda_ops.cpp, bf16 cache mirrors): decode reads bf16 mirrors
# of the latent cache (gpu::mla_decode, at r_kv 512 / d_r 64 / H % 16 == 0 only — not the tiny
# preset) and of the indexer keys (indexer_scores_bf16: tiny runs it). Each is one more bf16
# rounding of a stored value (c_KV, k_rope, indexer k; q and the softmax weights inside
# mla_decode): exactly what the bf16 profile models (u_store = 2^-8 per rounding point, c_round
# growing with the number of points), so the profile needs no change.
# Without a CUDA build or device it prints SKIP and exits 77 (CTest SKIP_RETURN_CODE).
# Usage: verify_cpu.sh DSV32_BIN MODEL_DIR WORK_DIR
set -euo pipefail
BIN=$1 MODEL=$2 WORK=$3
mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
if ! probe=$("$BIN" run --model "$MODEL" --ids 1 --device cuda --quiet 2>&1); then
  case "$probe" in
    *"no CUDA device"*|*"no CUDA support"*) echo "SKIP: $(echo "$probe" | tail -1)"; exit 77 ;;
    *) echo "FAIL: dsv32 run --device cuda: $probe"; exit 1 ;;
  esac
fi
IDS=$(seq -s, 0 1347 128000 | cut -d, -f1-80)
fail=0
for attn in dense sparse; do
  for mla in naive absorbed; do
    tag=${attn}_${mla}
    common=(--model "$MODEL" --ids "$IDS" --prefill 48 --attn $attn --mla $mla --quiet)
    "$BIN" run "${common[@]}" --dump "$WORK/cpu_$tag.h5" >/dev/null
    for gemm in fp32 bf16; do
      "$BIN" run "${common[@]}" --device cuda --gpu-gemm $gemm --dump "$WORK/cuda_${gemm}_$tag.h5" >/dev/null
      if "$BIN" verify "$WORK/cuda_${gemm}_$tag.h5" "$WORK/cpu_$tag.h5" --profile $([ $gemm = fp32 ] && echo exact || echo bf16) --quiet \
           --json "$WORK/verify_${gemm}_$tag.json"; then
        echo "PASS $tag (gpu gemm $gemm)"
      else
        echo "FAIL $tag (gpu gemm $gemm): see $WORK/verify_${gemm}_$tag.json"; fail=1
      fi
    done
  done
done
exit $fail
