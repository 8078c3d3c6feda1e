#!/usr/bin/env bash
# Issue 5, experiments 1 and 2: each looped preset beside its iso-FLOP feedforward twin, trained two at a time,
# then the looped model's depth sweep and `looplab probe --twin` (CKA stage mirroring, convergence, phases).
#   composition:     two-hop composition, a 1-layer block looped 4 times vs 4 layers run once
#   stage-mirroring: three-hop composition, the same shapes (presets `stage-mirroring` and `stage-mirroring-ff`)
# Usage: experiments/composition.sh OUT_DIR [STEPS] [composition|stage-mirroring|both]
#   BACKEND=gpu|cpu (default cpu), LOOPLAB=path to the binary (default target/release/looplab), SEED (default 0).
# A run whose folder already has a checkpoint is resumed (optimizer, sampler and history included) up to STEPS,
# so a stopped experiment continues where it was; a finished one is only evaluated again.
set -uo pipefail
OUT=${1:?usage: experiments/composition.sh OUT_DIR [STEPS] [composition|stage-mirroring|both]}
STEPS=${2:-20000}
WHICH=${3:-both}
BIN=${LOOPLAB:-target/release/looplab}
BACKEND=${BACKEND:-cpu}
SEED=${SEED:-0}
mkdir -p "$OUT"

# train NAME PRESET [--set ...]: a new run, or the resumption of the one in OUT/NAME.
train() {
  local name=$1 preset=$2; shift 2
  if [ -f "$OUT/$name/model.safetensors" ]; then
    "$BIN" train --resume "$OUT/$name" --backend "$BACKEND" --steps "$STEPS" >>"$OUT/$name.log" 2>&1
  else
    "$BIN" train --preset "$preset" --backend "$BACKEND" --steps "$STEPS" --set seed="$SEED" --set train.eval_every=500 \
      "$@" --out "$OUT/$name" >"$OUT/$name.log" 2>&1
  fi
  echo "train exit status $?" >>"$OUT/$name.log"
}

# experiment NAME LOOPED_PRESET TWIN_PRESET [TWIN --set ...]
experiment() {
  local name=$1 looped=$2 twin=$3; shift 3
  train "$name-looped" "$looped" &
  train "$name-ff" "$twin" "$@" &
  wait
  for run in "$name-looped" "$name-ff"; do echo "== $run"; tail -n 2 "$OUT/$run.log"; done
  echo "== $name-looped: accuracy against test-time iterations (trained at 4)"
  "$BIN" eval --backend "$BACKEND" --checkpoint "$OUT/$name-looped/model.safetensors" --iters 1,2,3,4,6,8,12 || echo "(eval failed)"
  echo "== $name: looplab probe, looped vs its feedforward twin"
  "$BIN" probe --backend "$BACKEND" --checkpoint "$OUT/$name-looped/model.safetensors" \
    --twin "$OUT/$name-ff/model.safetensors" --examples 256 || echo "(probe failed)"
  "$BIN" probe --backend "$BACKEND" --checkpoint "$OUT/$name-looped/model.safetensors" \
    --twin "$OUT/$name-ff/model.safetensors" --examples 256 --json >"$OUT/$name-probe.json" || echo "(probe --json failed)"
}

case $WHICH in
  composition|stage-mirroring|both) ;;
  *) echo "unknown experiment '$WHICH' (allowed: composition, stage-mirroring, both)" >&2; exit 2 ;;
esac
if [ "$WHICH" != stage-mirroring ]; then
  experiment composition composition composition --set model.arch=feedforward --set model.layers=4 --set model.loops=1
fi
if [ "$WHICH" != composition ]; then
  experiment stage-mirroring stage-mirroring stage-mirroring-ff
fi
