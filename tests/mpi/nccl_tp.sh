#!/usr/bin/env bash
# Tensor or expert parallelism over two GPUs through NCCL (model/mpi/nccl_ops.cpp): `mpirun -np 2
# dsv32 run --device cuda --tp T --ep E` against a one-GPU run, all four modes, verified with
# PROFILE: `exact` for TP (the same reordered-reduction bound as tests/mpi/tp_exact.sh) and for EP
# (which computes every expert row with the same kernels on the same inputs and combines in the
# same order, so bitwise is expected; exact allows cuBLAS a different algorithm choice when a
# rank's grouped GEMM has fewer problems). Skips (77) without two GPUs.
# Usage: nccl_tp.sh DSV32_BIN MODEL_DIR WORK_DIR MPIEXEC [TP EP PROFILE]   (default 2 1 exact)
set -euo pipefail
BIN=$1 MODEL=$2 WORK=$3 MPIEXEC=$4 TP=${5:-2} EP=${6:-1} PROFILE=${7:-exact}
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
[ "${gpus:-0}" -ge 2 ] || { echo "SKIP: needs 2 GPUs, nvidia-smi lists ${gpus:-0}"; exit 77; }
mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
IDS=$(seq -s, 0 1347 128000 | cut -d, -f1-70)
fail=0
for attn in dense sparse; do
  for mla in naive absorbed; do
    tag=${attn}_${mla}
    common=(--model "$MODEL" --ids "$IDS" --prefill 56 --attn $attn --mla $mla --device cuda --quiet)
    "$BIN" run "${common[@]}" --parallel none --dump "$WORK/one_$tag.h5" >/dev/null
    "$MPIEXEC" --allow-run-as-root -np 2 "$BIN" run "${common[@]}" --tp "$TP" --ep "$EP" --dump "$WORK/tp_$tag.h5" >/dev/null
    if "$BIN" verify "$WORK/tp_$tag.h5" "$WORK/one_$tag.h5" --profile "$PROFILE" --quiet; then echo "PASS $tag (TP $TP, EP $EP)"
    else echo "FAIL $tag"; fail=1; fi
  done
done
exit $fail
