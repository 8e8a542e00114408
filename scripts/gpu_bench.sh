#!/usr/bin/env bash
# Run THERE (the GPU machine's copy of the repo, through the session's `run` tool with
# carry: [".gpu-deps"]): builds bench_cuda_ops (scripts/gpu_build.sh), runs it and the PyTorch peer
# (bench/cuda/torch_peer.py) at the V3.2 shapes with JSON out, and writes the side-by-side
# Markdown table (bench/cuda/side_by_side.py): ours vs PyTorch, speed-up, fraction of peak.
#
# Usage: scripts/gpu_bench.sh [out-dir]
#   out-dir defaults to $OUT when set (the run tool's return folder), else <build>/bench-out.
#   Results are written to <build>/bench-out first (kept while the machine stays warm, so a second
#   call can finish what a first began) and copied to out-dir: bench_cuda_ops.json/.log,
#   torch_peer.json/.log, side_by_side.md, gpu_bench.log — 6 files, within the 8 $OUT returns.
# Environment:
#   DSV32_BUILD=build-gpu      build directory (gpu_build.sh's default)
#   DSV32_BENCH_FILTER=REGEX   subset, passed to both (--benchmark_filter / --filter)
#   DSV32_SKIP_BUILD=1         reuse an existing build; DSV32_SKIP_OURS=1 / DSV32_SKIP_TORCH=1 skip
#                              a side (the table then uses the JSON left by an earlier call)
#   PYTHON=python3             the interpreter with torch (on the GPU machine: plain python3)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build="${DSV32_BUILD:-build-gpu}"
work="$build/bench-out"
dest="${1:-${OUT:-$work}}"
py="${PYTHON:-python3}"
filter="${DSV32_BENCH_FILTER:-}"
mkdir -p "$work" "$dest"
log="$work/gpu_bench.log"
: > "$log"
say() { echo "gpu_bench: $*" | tee -a "$log"; }
t0=$SECONDS

if [ "${DSV32_SKIP_BUILD:-0}" != 1 ]; then
  say "building bench_cuda_ops in $build"
  scripts/gpu_build.sh "$build" --target bench_cuda_ops >> "$log" 2>&1 || {
    tail -40 "$log"; say "build failed"; cp "$log" "$dest/" 2>/dev/null || true; exit 1; }
  say "built in $((SECONDS - t0)) s"
fi
if command -v nvidia-smi > /dev/null; then  # the card as found (clocks, temperature): read only
  nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw --format=csv 2>&1 |
    tee -a "$log" || true
fi

if [ "${DSV32_SKIP_OURS:-0}" != 1 ]; then
  t1=$SECONDS
  rm -f "$work/bench_cuda_ops.json"  # never pair a stale result with a fresh one
  # gpu-env.sh puts the carried Debian libraries on LD_LIBRARY_PATH: only for our binary (a
  # subshell), never for python3/torch, whose own libraries it could shadow.
  # shellcheck disable=SC1091
  ( source "$build/gpu-env.sh"
    "$build/bin/bench_cuda_ops" --benchmark_out="$work/bench_cuda_ops.json" --benchmark_out_format=json \
      ${filter:+--benchmark_filter="$filter"} ) 2>&1 | tee "$work/bench_cuda_ops.log" ||
    say "bench_cuda_ops FAILED (exit ${PIPESTATUS[0]}); the PyTorch peer runs anyway"
  say "bench_cuda_ops: $((SECONDS - t1)) s"
fi
if [ "${DSV32_SKIP_TORCH:-0}" != 1 ]; then
  t1=$SECONDS
  rm -f "$work/torch_peer.json"
  PYTHONUNBUFFERED=1 "$py" bench/cuda/torch_peer.py --json "$work/torch_peer.json" ${filter:+--filter "$filter"} \
    2>&1 | tee "$work/torch_peer.log" || say "torch_peer FAILED (exit ${PIPESTATUS[0]})"
  say "torch_peer: $((SECONDS - t1)) s"
fi
if [ -f "$work/bench_cuda_ops.json" ] && [ -f "$work/torch_peer.json" ]; then
  "$py" bench/cuda/side_by_side.py "$work/bench_cuda_ops.json" "$work/torch_peer.json" > "$work/side_by_side.md"
  cat "$work/side_by_side.md"
else
  say "side_by_side.md not written: needs both bench_cuda_ops.json and torch_peer.json in $work"
fi
say "total $((SECONDS - t0)) s"
if [ "$(cd "$dest" && pwd)" != "$(cd "$work" && pwd)" ]; then
  for f in bench_cuda_ops.json bench_cuda_ops.log torch_peer.json torch_peer.log side_by_side.md gpu_bench.log; do
    [ -f "$work/$f" ] && cp "$work/$f" "$dest/"
  done
fi
