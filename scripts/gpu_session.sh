#!/usr/bin/env bash
# The first GPU session's runbook in ONE command. Run it THERE (the GPU machine's copy of the repo)
# through the session's `run` tool with carry: [".gpu-deps"] (made here by
# scripts/gather_gpu_deps.sh) and timeout_s 600:
#
#     scripts/gpu_session.sh
#
# A machine is released ~30 s after a call and a fresh one starts bare, and a session has 30 min
# of device time, so everything happens in one call, each phase under its own time limit so that a
# hang in one still leaves the others' results in $OUT:
#   1. build dsv32, test_cuda_ops and bench_cuda_ops (scripts/gpu_build.sh)
#   2. test_cuda_ops: every CUDA op against its CPU twin, plus the model-level CudaForward tests
#   3. tests/cuda/verify_cpu.sh: CPU vs CUDA dumps through `dsv32 verify`, four modes × fp32/bf16
#   4. scripts/gpu_bench.sh (no rebuild): bench_cuda_ops + the PyTorch peer + side-by-side table
# $OUT receives at most 8 files: gpu_session.log, test_cuda_ops.json/.log, verify_cpu.log,
# bench_cuda_ops.json, torch_peer.json, side_by_side.md, verify_json.tar.gz.
# Environment: DSV32_BUDGET (seconds for the whole script, default 570), DSV32_BENCH_FILTER (a
# subset of the benchmarks), DSV32_GTEST_FILTER (a subset of the op tests), DSV32_SKIP_BENCH=1,
# DSV32_SKIP_BUILD=1 (reuse $DSV32_BUILD, e.g. on a machine still warm from a first call).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root" || exit 2
build="${DSV32_BUILD:-build-gpu}"
out="${OUT:-$build/session-out}"
budget="${DSV32_BUDGET:-570}"
mkdir -p "$out"
log="$out/gpu_session.log"
: > "$log"
exec 3>&1  # the terminal, untouched by the phases' redirections into the log
say() { echo "gpu_session [$((SECONDS))s]: $*" >> "$log"; echo "gpu_session [$((SECONDS))s]: $*" >&3; }
left() { echo $((budget - SECONDS)); }
# phase NAME SECONDS CMD...: runs CMD under `timeout`, never more than what is left of the budget.
phase() {
  local name=$1 limit=$2
  shift 2
  local l
  l=$(left)
  [ "$l" -lt "$limit" ] && limit=$l
  if [ "$limit" -le 5 ]; then say "$name: SKIPPED (budget spent)"; return 1; fi
  say "$name: start (limit ${limit}s)"
  timeout --kill-after=5 "$limit" "$@"
  local rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then say "$name: TIMED OUT after ${limit}s"
  else say "$name: exit $rc"; fi
  return $rc
}

say "host: $(uname -r); $(ldd --version 2>&1 | head -1)"  # the carried .debs need glibc >= 2.36
nvidia-smi -L 2>&1 | tee -a "$log"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu --format=csv 2>&1 | tee -a "$log"

if [ "${DSV32_SKIP_BUILD:-0}" != 1 ]; then
  phase build 330 scripts/gpu_build.sh "$build" --target dsv32 test_cuda_ops bench_cuda_ops >> "$log" 2>&1 || {
    tail -40 "$log"; say "build failed: nothing else can run"; exit 1; }
fi
# shellcheck disable=SC1091
[ -f "$build/gpu-env.sh" ] && source "$build/gpu-env.sh"

phase op_tests 150 "$build/kernels/cuda/test_cuda_ops" --gtest_output=json:"$out/test_cuda_ops.json" \
  ${DSV32_GTEST_FILTER:+--gtest_filter="$DSV32_GTEST_FILTER"} > "$out/test_cuda_ops.log" 2>&1
grep -E '^\[  (PASSED|FAILED|SKIPPED) |^\[  FAILED  \]' "$out/test_cuda_ops.log" | tail -40 | tee -a "$log"

phase verify_cpu 120 tests/cuda/verify_cpu.sh "$build/bin/dsv32" "$build/test-models/tiny-fp8-s1" \
  "$build/verify-cpu" > "$out/verify_cpu.log" 2>&1
tee -a "$log" < "$out/verify_cpu.log" | grep -E 'PASS|FAIL|SKIP' || true
if [ -d "$build/verify-cpu" ]; then
  (cd "$build/verify-cpu" && find . -maxdepth 1 -name '*.json' -print0 | tar -czf "$out/verify_json.tar.gz" --null -T -) || true
fi

if [ "${DSV32_SKIP_BENCH:-0}" != 1 ]; then
  # gpu-env.sh's LD_LIBRARY_PATH must not reach python3/torch: gpu_bench.sh sources it itself.
  ( unset LD_LIBRARY_PATH
    DSV32_SKIP_BUILD=1 DSV32_BUILD="$build" phase bench "$(left)" scripts/gpu_bench.sh "$build/bench-out" ) \
    >> "$log" 2>&1
  for f in bench_cuda_ops.json torch_peer.json side_by_side.md; do
    [ -f "$build/bench-out/$f" ] && cp "$build/bench-out/$f" "$out/"
  done
  [ -f "$out/side_by_side.md" ] && tee -a "$log" < "$out/side_by_side.md"
fi
say "done; files in $out: $(find "$out" -maxdepth 1 -type f -printf '%f ')"
