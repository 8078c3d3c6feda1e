#!/usr/bin/env bash
# Issue 18, programs in the prompt: the `automaton` preset (a 1-layer block looped 10 times, two seeds) beside its
# iso-FLOP (`automaton-ff`, 10 layers) and iso-parameter (`automaton-ff-narrow`, 10 narrow layers) feedforward
# twins, trained one at a time; then for each model the depth sweep (accuracy per split against test-time
# iterations), the probes on held-out rules (program steps per iteration: which rows of the space-time diagram
# are right after each iteration) at the training size, on the long runs with more iterations, and on the wide
# tapes; and one held-out program through `looplab solve`.
# Usage: experiments/automaton.sh OUT_DIR [STEPS]
#   BACKEND=gpu|cpu (default cpu), LOOPLAB=path to the binary (default target/release/looplab).
# A run whose folder already has a checkpoint is resumed up to STEPS; a finished one is only evaluated again.
set -uo pipefail
OUT=${1:?usage: experiments/automaton.sh OUT_DIR [STEPS]}
STEPS=${2:-6000}
BIN=${LOOPLAB:-target/release/looplab}
BACKEND=${BACKEND:-cpu}
mkdir -p "$OUT"

# train NAME PRESET SEED: a new run, or the resumption of the one in OUT/NAME.
train() {
  local name=$1 preset=$2 seed=$3
  if [ -f "$OUT/$name/model.safetensors" ]; then
    nice -n 10 "$BIN" train --resume "$OUT/$name" --backend "$BACKEND" --steps "$STEPS" >>"$OUT/$name.log" 2>&1
  else
    nice -n 10 "$BIN" train --preset "$preset" --backend "$BACKEND" --steps "$STEPS" --set seed="$seed" \
      --out "$OUT/$name" >"$OUT/$name.log" 2>&1
  fi
  echo "train exit status $?" >>"$OUT/$name.log"
}

# measure NAME: the depth sweep and the probes of one trained run.
measure() {
  local name=$1 ckpt=$OUT/$1/model.safetensors
  "$BIN" eval --backend "$BACKEND" --checkpoint "$ckpt" --iters 1,2,3,4,5,6,8,10,12,16,20 >"$OUT/$name.eval.txt" 2>&1 \
    || "$BIN" eval --backend "$BACKEND" --checkpoint "$ckpt" >"$OUT/$name.eval.txt" 2>&1
  for split in unseen seen unseen-long unseen-wide; do
    local iters=()
    [ "$split" = unseen-long ] && [ "${name#ff}" = "$name" ] && iters=(--iters 20)
    "$BIN" probe --backend "$BACKEND" --checkpoint "$ckpt" --split "$split" --examples 128 "${iters[@]}" \
      >"$OUT/$name.probe-$split.txt" 2>&1
    "$BIN" probe --backend "$BACKEND" --checkpoint "$ckpt" --split "$split" --examples 128 "${iters[@]}" --json \
      >"$OUT/$name.probe-$split.json" 2>/dev/null
  done
}

for run in "looped-s0 automaton 0" "ff automaton-ff 0" "looped-s1 automaton 1" "ff-narrow automaton-ff-narrow 0"; do
  # shellcheck disable=SC2086
  train $run
  tail -n 2 "$OUT/${run%% *}.log"
done
for name in looped-s0 looped-s1 ff ff-narrow; do measure "$name"; done
# Rule 30 is held out for seed 0: 8 steps, twice the training run.
"$BIN" solve --backend "$BACKEND" --checkpoint "$OUT/looped-s0/model.safetensors" --program "${PROGRAM:-30 0001000100 8}" \
  >"$OUT/looped-s0.solve.txt" 2>&1
