#!/usr/bin/env bash
# Prepares evaluation texts from what a fresh Debian machine can install, into datasets/data/
# (git-ignored). Idempotent and quick when already done.
#
#   english.txt       The Jargon File 4.4.7 (Debian package jargon-text; public domain): ~1.6 MB of
#                     natural English prose — definitions, usage notes and essays.
#   code.txt          C++ source: a fixed list of libstdc++ headers shipped with g++ (~400 KB).
#   multilingual.txt  The tokenizer test corpus (tests/tokenizer/corpus: CJK, kana, Korean,
#                     accents, emoji, code) concatenated, when present.
#   default.txt       The main job's small default text: the Jargon File's introduction
#                     (~24 KB, enough for 8 chunks of 256 tokens on the tiny preset).
# Any other UTF-8 file works with `dsv32 ppl --text`, e.g. wikitext-2's wiki.test.raw.
set -euo pipefail
cd "$(dirname "$0")"
OUT=data
mkdir -p "$OUT"

if [ ! -s "$OUT/english.txt" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download jargon-text >/dev/null 2>&1) || {
    echo "datasets/prepare.sh: error: cannot download Debian package jargon-text (run apt-get update?)" >&2; exit 1; }
  dpkg -x "$tmp"/jargon-text_*.deb "$tmp/x"
  zcat "$tmp/x/usr/share/doc/jargon-text/jargon.txt.gz" > "$OUT/english.txt.tmp"
  mv "$OUT/english.txt.tmp" "$OUT/english.txt"
  rm -rf "$tmp"
fi

if [ ! -s "$OUT/code.txt" ]; then
  inc=$(ls -d /usr/include/c++/* 2>/dev/null | sort -V | tail -1)
  [ -n "$inc" ] || { echo "datasets/prepare.sh: error: no libstdc++ headers under /usr/include/c++" >&2; exit 1; }
  : > "$OUT/code.txt.tmp"
  for f in bits/stl_vector.h bits/stl_algo.h bits/stl_tree.h bits/hashtable.h bits/basic_string.h \
           bits/shared_ptr_base.h bits/unique_ptr.h; do
    [ -f "$inc/$f" ] && cat "$inc/$f" >> "$OUT/code.txt.tmp"
  done
  mv "$OUT/code.txt.tmp" "$OUT/code.txt"
fi

if [ ! -s "$OUT/multilingual.txt" ] && ls ../tests/tokenizer/corpus/*.txt >/dev/null 2>&1; then
  cat ../tests/tokenizer/corpus/*.txt > "$OUT/multilingual.txt"
fi

if [ ! -s "$OUT/default.txt" ]; then
  # From the first chapter on: the introduction's prose, not the table of contents.
  { awk 'f || /^Chapter.*Hacker Slang and Hacker Culture/ {f=1} f' "$OUT/english.txt" || true; } | head -c 24000 > "$OUT/default.txt.tmp"  # awk ends on SIGPIPE
  [ -s "$OUT/default.txt.tmp" ] || head -c 24000 "$OUT/english.txt" > "$OUT/default.txt.tmp"
  mv "$OUT/default.txt.tmp" "$OUT/default.txt"
fi
ls -l "$OUT"
