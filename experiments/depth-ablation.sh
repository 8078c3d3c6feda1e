#!/usr/bin/env bash
# Depth extrapolation and overthinking on prefix-sum parity, with and without input injection (recall) and
# progressive loss, and the adaptive exit at a few KL thresholds (issue 5, experiments 3 and 4).
# Usage: experiments/depth-ablation.sh OUT_DIR [STEPS] [train|eval|all]
#   BACKEND=gpu|cpu (default cpu), LOOPLAB=path to the binary (default target/release/looplab), SEED (default 0).
# Four variants of the `prefix-sums` preset (trained on 16 bits at 20 iterations), two trained at a time.
set -uo pipefail
OUT=${1:?usage: experiments/depth-ablation.sh OUT_DIR [STEPS] [train|eval|all]}
STEPS=${2:-2500}
PHASE=${3:-all}
BIN=${LOOPLAB:-target/release/looplab}
BACKEND=${BACKEND:-cpu}
SEED=${SEED:-0}
mkdir -p "$OUT"

declare -A VARIANTS=(
  [recall-progressive]="--set model.injection=true --set train.depth=progressive"
  [recall-fixed]="--set model.injection=true --set train.depth=fixed"
  [norecall-progressive]="--set model.injection=false --set train.depth=progressive"
  [norecall-fixed]="--set model.injection=false --set train.depth=fixed"
)
NAMES="recall-progressive norecall-progressive recall-fixed norecall-fixed"

train() {
  local name=$1
  # shellcheck disable=SC2086
  "$BIN" train --preset prefix-sums --backend "$BACKEND" --steps "$STEPS" --set seed="$SEED" ${VARIANTS[$name]} \
    --out "$OUT/$name" >"$OUT/$name.log" 2>&1
  echo "train exit status $?" >>"$OUT/$name.log"
}

if [ "$PHASE" != eval ]; then
  for pair in "recall-progressive norecall-progressive" "recall-fixed norecall-fixed"; do
    for name in $pair; do train "$name" & done
    wait
  done
  for name in $NAMES; do echo "== $name"; tail -n 2 "$OUT/$name.log"; done
fi
[ "$PHASE" = train ] && exit 0

for name in $NAMES; do
  for bits in 16 32 64; do
    echo "== $name, $bits bits"
    "$BIN" eval --backend "$BACKEND" --checkpoint "$OUT/$name/model.safetensors" --split test \
      --set task.test_size=$bits --set task.test_examples=200 --iters 5,10,20,40,80,160 || echo "(eval failed)"
  done
done
for name in recall-fixed recall-progressive; do
  for eps in 1e-1 1e-2 1e-3 1e-4; do
    echo "== $name, 32 bits, adaptive exit at KL < $eps (at most 160 iterations)"
    "$BIN" eval --backend "$BACKEND" --checkpoint "$OUT/$name/model.safetensors" --split test \
      --set task.test_size=32 --set task.test_examples=200 --iters 160 --exit-kl "$eps" || echo "(eval failed)"
  done
done
