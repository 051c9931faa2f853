#!/usr/bin/env bash
# The learning comparison of docs/learning.md: every configuration on the same train problems and
# seeds, each run stopped at the same budget of sampled forward tokens, then one plot and table.
#   scripts/rl-compare.sh [OUT] [BUDGET] [SEEDS...]
# Defaults: .cache/rl-compare, 1,000,000 tokens, seeds 1 2 3. Runs two at a time (each uses about
# one core); a finished run (its metrics.jsonl ends at the budget) is not run again.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/.cache/rl-compare}
BUDGET=${2:-1000000}
shift $(( $# > 2 ? 2 : $# ))
if [ $# -gt 0 ]; then SEEDS=("$@"); else SEEDS=(1 2 3); fi
CONFIGS=(grpo-independent treepo-trees spo-trees rose-trees)
# The recipe: 64 problems x 4 answers per step, uniform groups filtered, lr 5e-5 after 5 warm-up
# steps and down to 5e-6 along a cosine by the budget, held-out accuracy on 512 problems every 10 steps.
COMMON=(--problems-per-step 64 --answers 4 --filter-uniform --lr 5e-5 --warmup 5 --decay
  --token-budget "$BUDGET" --eval-every 10 --eval-problems 512)

"$ROOT/treeroll" --version >/dev/null   # builds once, before the runs start in parallel
run() { # config seed
  local dir="$OUT/$1/seed-$2"
  if [ -f "$dir/done" ]; then echo "$1 seed $2: done before"; return; fi
  mkdir -p "$dir"
  "$ROOT/treeroll" train-rl --config "$1" --seed "$2" "${COMMON[@]}" --out "$dir" >"$dir/log.txt" 2>&1
  touch "$dir/done"
  echo "$1 seed $2: $(tail -n 1 "$dir/metrics.jsonl")"
}
jobs=()
for seed in "${SEEDS[@]}"; do
  for c in "${CONFIGS[@]}"; do
    jobs+=("$c $seed")
  done
done
for ((i = 0; i < ${#jobs[@]}; i += 2)); do
  run ${jobs[i]} &
  if ((i + 1 < ${#jobs[@]})); then run ${jobs[i+1]} & fi
  wait
done
"$ROOT/treeroll" train-rl --compare "${CONFIGS[@]/#/$OUT/}" --out "$OUT"
