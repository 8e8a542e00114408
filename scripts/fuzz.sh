#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (ASan + UBSan, -DDSV32_FUZZ=ON, in
# ${FUZZ_BUILD_DIR:-build-fuzz}) and runs each for SECONDS (default 60) on a copy of its committed
# seed corpus (fuzz/corpus/<target>/), so the repository's corpus stays small and fixed.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 600 fuzz_dump
#   scripts/fuzz.sh --seeds                   rebuild the seed corpora (after a format change)
#
# Prints executions and wall time per target; exits 1 if any target found a crash (the
# reproducer is left in $FUZZ_BUILD_DIR/findings/<target>/crash-*, a regression test's input).
# Needs clang++ with libFuzzer (Debian: clang-14). CTest runs this as fuzz.smoke (30 s each).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$repo/build-fuzz}"
all=(fuzz_safetensors fuzz_config fuzz_tokenizer_load fuzz_tokenizer_roundtrip fuzz_dump fuzz_logits_store)

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang)"; exit 2; }
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDSV32_FUZZ=ON -DDSV32_NATIVE=OFF >/dev/null
fi
jobs="${FUZZ_JOBS:-2}"
if [ "${1:-}" = "--seeds" ]; then
  cmake --build "$build" -j"$jobs" --target fuzz_make_seeds
  DSV32_H5_CONTAIN=0 "$build/fuzz/fuzz_make_seeds"
  exit 0
fi
secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

# The innermost frame of a crash that is neither sanitizer, libFuzzer nor libc/libstdc++: whose bug.
owner() {
  local first
  first=$(grep -E '^ *#[0-9]+ ' | grep -v -E 'interceptor|sysdeps|__mem[a-z_0-9]*|__str[a-z_0-9]*|libasan|libubsan|asan_|__sanitizer|compiler-rt|fuzzer::|libc\.so|libstdc\+\+|libgcc|[^_]malloc|calloc|realloc|operator new|abort|raise' | head -1)
  if [ -z "$first" ]; then echo unreproduced
  elif echo "$first" | grep -q libhdf5; then echo libhdf5
  else echo project; fi
}

status=0
for t in "${targets[@]}"; do
  work="$build/corpus-work/$t" findings="$build/findings/$t"
  rm -rf "$work" "$findings"
  mkdir -p "$work" "$findings"
  cp "$repo/fuzz/corpus/$t/"* "$work/"
  log="$build/findings/$t.log"
  bin="$build/fuzz/$t"
  start=$(date +%s)
  export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
  # -rss_limit_mb / -malloc_limit_mb: a terabyte allocation is a finding, not an OOM-killed machine.
  common=(-max_total_time="$secs" -rss_limit_mb=4096 -malloc_limit_mb=4096 -timeout=20 -print_final_stats=1
          -artifact_prefix="$findings/")
  # FUZZ_SEED (CTest's smoke run sets it): the same mutation sequence every run, so CI replays what
  # was fuzzed before it landed instead of drawing new inputs; unset, every run explores afresh.
  [ -z "${FUZZ_SEED:-}" ] || common+=(-seed="$FUZZ_SEED")
  case $t in
    fuzz_dump|fuzz_logits_store)
      # libhdf5's own bugs would stop a plain run at the first one: keep going, sort them after.
      "$bin" "${common[@]}" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 "$work" >"$log" 2>&1 || true
      execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
      ;;
    *)
      "$bin" "${common[@]}" "$work" >"$log" 2>&1 || true
      execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
      ;;
  esac
  ours=0 hdf5=0 uncontained=0
  for art in "$findings"/crash-* "$findings"/oom-* "$findings"/timeout-* "$findings"/leak-*; do
    [ -e "$art" ] || continue
    who=$("$bin" -rss_limit_mb=4096 -malloc_limit_mb=4096 -timeout=20 "$art" 2>&1 | owner || true)
    if [ "$who" = libhdf5 ]; then
      hdf5=$((hdf5 + 1))
      # The CLI's path: the same input with the containment on must end as a dsv32::Error.
      DSV32_H5_CHECK_SECONDS=10 DSV32_FUZZ_CONTAINED=1 "$bin" -rss_limit_mb=4096 -malloc_limit_mb=4096 -timeout=200 "$art" >/dev/null 2>&1 || { uncontained=$((uncontained + 1)); echo "fuzz: $t: NOT CONTAINED: $art"; }
    elif [ "$who" = unreproduced ]; then
      echo "fuzz: $t: note: $art did not reproduce alone (kept for inspection)"
    elif [ "$who" = project ]; then
      ours=$((ours + 1))
      echo "fuzz: $t: PROJECT FINDING: $art (replay: $bin $art)"
    fi
  done
  verdict=ok
  [ $ours -eq 0 ] && [ $uncontained -eq 0 ] || { verdict="FOUND (see $log)"; status=1; }
  extra=""
  [ $hdf5 -eq 0 ] || extra=" ($hdf5 libhdf5 crashes, each contained)"
  echo "fuzz: $t: ${execs:-?} executions in $(( $(date +%s) - start )) s: $verdict$extra"
done
exit $status
