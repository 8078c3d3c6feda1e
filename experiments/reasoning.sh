#!/usr/bin/env bash
# The reasoning results of the README, trained side by side and then evaluated:
#   Sudoku 6x6 (looped, TRM, HRM and the feedforward twin), Sudoku 9x9, maze size extrapolation, prefix-sum
#   length extrapolation.
# Usage: experiments/reasoning.sh OUT_DIR [SECONDS_PER_RUN] [train|eval|all]
#   BACKEND=gpu|cpu (default gpu), LOOPLAB=path to the binary (default target/release/looplab).
# Every training run stops at its preset's step count or after SECONDS_PER_RUN, whichever comes first; `train`
# writes its checkpoint and history at every evaluation, so a stopped run keeps its last evaluated state, and
# the logs say which step each run reached.
set -uo pipefail
OUT=${1:?usage: experiments/reasoning.sh OUT_DIR [SECONDS_PER_RUN]}
LIMIT=${2:-400}
PHASE=${3:-all}
BIN=${LOOPLAB:-target/release/looplab}
BACKEND=${BACKEND:-gpu}
mkdir -p "$OUT"

train() {
  local name=$1; shift
  ( timeout "$LIMIT" "$BIN" train --backend "$BACKEND" --out "$OUT/$name" "$@" >"$OUT/$name.log" 2>&1
    echo "train exit status $? (124: stopped after ${LIMIT}s)" >>"$OUT/$name.log" ) &
}

ev() {
  local name=$1; shift
  echo "== $name: looplab eval $*"
  "$BIN" eval --backend "$BACKEND" --checkpoint "$OUT/$name/model.safetensors" "$@" || echo "(eval failed)"
}

# RUNS picks presets (default: all of them); each trains under its own name.
RUNS=${RUNS:-sudoku-6x6 sudoku-6x6-ff sudoku-6x6-trm sudoku-6x6-hrm sudoku-9x9 maze prefix-sums}
has() { [[ " $RUNS " == *" $1 "* ]]; }

if [ "$PHASE" != eval ]; then
"$BIN" devices
for name in $RUNS; do train "$name" --preset "$name"; done
wait
for f in "$OUT"/*.log; do echo "== $f"; tail -n 3 "$f"; done
fi
[ "$PHASE" = train ] && exit 0

for name in sudoku-6x6 sudoku-6x6-ff sudoku-6x6-trm sudoku-6x6-hrm sudoku-9x9; do
  has "$name" && ev "$name" --split test
done
has sudoku-6x6 && ev sudoku-6x6 --split test --iters 1,2,4,8,12,16,24,32
if has maze; then
  for cells in 4 6 8 10; do
    ev maze --split test --set task.test_size=$cells --set task.test_examples=200 --iters 5,10,20,30,40,60,80
  done
  ev maze --split test --set task.test_size=8 --set task.test_examples=200 --iters 80 --exit-kl 1e-3
fi
if has prefix-sums; then
  for bits in 16 32 64 128; do
    ev prefix-sums --split test --set task.test_size=$bits --set task.test_examples=200 --iters 10,20,40,80,160
  done
fi
