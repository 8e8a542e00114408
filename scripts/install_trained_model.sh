#!/usr/bin/env bash
# Installs a trained export (scripts/train_tiny.py --export DIR) as the built-in default model of
# `dsv32 eval` / scripts/run: copies its config.json, model.safetensors.index.json, shards,
# train_config.json, train_log.jsonl (and data_manifest.json when present) into
# datasets/model/tiny-v32, then checks it: `dsv32 info` loads config.json, and the C++ forward pass
# in all four modes verifies against the float64 reference (tests/reference/compare_trained_model.sh,
# the same check CTest's reference.trained_model runs). Commit the directory afterwards (plain git
# objects, no LFS: the shards are a few tens of MB). Idempotent: a rerun replaces the copy.
# Usage: scripts/install_trained_model.sh SRC_DIR     (env BUILD_DIR: the build with bin/dsv32)
set -euo pipefail
SRC_DIR=${1:?usage: scripts/install_trained_model.sh SRC_DIR (an export of scripts/train_tiny.py --export)}
cd "$(dirname "$0")/.."
BIN=${BUILD_DIR:-build}/bin/dsv32
DEST=datasets/model/tiny-v32
[ -x "$BIN" ] || { echo "install_trained_model: $BIN: not built (scripts/setup builds it)" >&2; exit 2; }
for f in config.json model.safetensors.index.json train_config.json train_log.jsonl; do
  [ -f "$SRC_DIR/$f" ] || { echo "install_trained_model: $SRC_DIR/$f: missing (not an export of scripts/train_tiny.py)" >&2; exit 2; }
done
shopt -s nullglob
shards=("$SRC_DIR"/*.safetensors)
[ ${#shards[@]} -gt 0 ] || { echo "install_trained_model: $SRC_DIR: no *.safetensors shards" >&2; exit 2; }
TMP=$DEST.tmp.$$
rm -rf "$TMP"
mkdir -p "$TMP"
cp "$SRC_DIR"/config.json "$SRC_DIR"/model.safetensors.index.json "$SRC_DIR"/train_config.json \
   "$SRC_DIR"/train_log.jsonl "${shards[@]}" "$TMP"/
[ -f "$SRC_DIR/data_manifest.json" ] && cp "$SRC_DIR/data_manifest.json" "$TMP"/
"$BIN" info --model "$TMP" >/dev/null || { echo "install_trained_model: $SRC_DIR does not load (dsv32 info failed)" >&2; rm -rf "$TMP"; exit 2; }
rm -rf "$DEST"
mv "$TMP" "$DEST"
echo "installed $DEST ($(du -sh "$DEST" | cut -f1)); checking against the float64 reference"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
tests/reference/compare_trained_model.sh "$BIN" "$WORK" "$DEST"
echo "ok: $DEST is the default of dsv32 eval / scripts/run. Commit it: git add $DEST"
