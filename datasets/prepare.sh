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
#   corpus/           The training corpus of scripts/train_tiny.py: English prose (the Jargon File,
#                     Debian Policy, the Python 3.11 tutorial/HOWTOs/FAQ/language reference, a
#                     fixed set of fortune files) and code (a fixed list of Python 3.11 stdlib
#                     modules), each split by datasets/split_corpus.py into train/ and heldout/
#                     (every 20th ~4 KB block, plus default.txt's Jargon introduction, is held
#                     out and never trained on). corpus/MANIFEST.json records each source's
#                     Debian package, version, files and the sha256 of what was written.
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

# ---- training corpus (scripts/train_tiny.py) -------------------------------------------------
# Each source: a Debian package (downloaded at the archive's candidate version, unpacked, never
# installed) and a fixed list of files inside it.
if [ ! -s "$OUT/corpus/MANIFEST.json" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  pkgs=(jargon-text debian-policy python3.11-doc fortunes fortunes-min libpython3.11-minimal libpython3.11-stdlib)
  (cd "$tmp" && apt-get download "${pkgs[@]}" >/dev/null 2>&1) || {
    echo "datasets/prepare.sh: error: cannot download ${pkgs[*]} (run apt-get update?)" >&2; exit 1; }
  for p in "${pkgs[@]}"; do
    deb=$(ls "$tmp"/"${p}"_*.deb)
    mkdir -p "$tmp/x/$p" && dpkg -x "$deb" "$tmp/x/$p"
    echo "$p $(dpkg-deb -f "$deb" Version)" >> "$tmp/versions"
  done
  src() { echo "$1 $2 $3" >> "$tmp/sources"; }   # source-name package path-inside-package
  src jargon jargon-text usr/share/doc/jargon-text/jargon.txt.gz
  src policy debian-policy usr/share/doc/debian-policy/policy.txt.gz
  d=usr/share/doc/python3.11/html/_sources
  for f in tutorial/{appetite,interpreter,introduction,controlflow,datastructures,modules,inputoutput,errors,classes,stdlib,stdlib2,venv,whatnow,interactive,floatingpoint,appendix} \
           howto/{descriptor,functional,logging,regex,sockets,sorting,unicode,urllib2,argparse,enum,annotations,ipaddress} \
           faq/{general,programming,design,library,extending,gui,installed,windows} \
           reference/{introduction,lexical_analysis,datamodel,executionmodel,import,expressions,simple_stmts,compound_stmts,toplevel_components} \
           glossary; do
    src pydoc python3.11-doc "$d/$f.rst.txt"
  done
  for f in wisdom science people work computers definitions; do src fortunes fortunes usr/share/games/fortunes/$f; done
  for f in fortunes literature; do src fortunes fortunes-min usr/share/games/fortunes/$f; done
  for f in argparse textwrap tempfile heapq bisect functools collections/__init__ csv inspect pathlib \
           random string calendar configparser logging/__init__ enum; do
    src pycode libpython3.11-minimal usr/lib/python3.11/$f.py
  done
  for f in shutil fractions statistics json/decoder json/encoder difflib queue sched dataclasses; do
    src pycode libpython3.11-stdlib usr/lib/python3.11/$f.py
  done
  /usr/bin/python3 split_corpus.py "$tmp/x" "$tmp/sources" "$tmp/versions" "$OUT/default.txt" "$OUT/corpus.tmp"
  rm -rf "$OUT/corpus" && mv "$OUT/corpus.tmp" "$OUT/corpus"
fi
ls -l "$OUT" "$OUT/corpus/train" "$OUT/corpus/heldout"
