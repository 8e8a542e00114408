# Sourced by the shell tests: synth_model_once BIN MODEL_DIR [synth options...] writes the synthetic
# checkpoint MODEL_DIR (default: the tiny preset, seed 1, FP8 weights) unless it is there already.
# It is written under a temporary name and renamed, so tests running in parallel that ask for the
# same directory never see a half-written one (the loser of the rename drops its copy).
synth_model_once() {
  local bin=$1 model=$2
  shift 2
  [ $# -gt 0 ] || set -- --preset tiny --seed 1 --weights fp8
  [ -f "$model/config.json" ] && return 0
  "$bin" synth "$@" --out "$model.tmp.$$" >/dev/null
  mv "$model.tmp.$$" "$model" 2>/dev/null || rm -rf "$model.tmp.$$"
}
