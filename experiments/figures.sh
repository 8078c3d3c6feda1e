#!/usr/bin/env bash
# Redraws every training figure under docs/results/ from the histories committed there, with `looplab plot`
# (loss, every split's token accuracy with its phases, weight norm). Idempotent: the same histories and the same
# binary give byte-identical SVGs. Usage: experiments/figures.sh [PNG_DIR]
#   LOOPLAB=path to the binary (default target/release/looplab).
#   PNG_DIR: also write a PNG of each figure there (for looking at them, not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LOOPLAB:-target/release/looplab}
PNG=${1:-}
R=docs/results

# plot OUT.svg RUN...: one figure of the runs (overlaid when several).
plot() {
  local out=$1; shift
  "$BIN" plot "$@" --out "$out"
  if [ -n "$PNG" ]; then
    mkdir -p "$PNG"
    "$BIN" plot "$@" --out "$PNG/$(echo "${out%.svg}" | tr / _).png"
  fi
}

plot $R/2026-11-28-audit/training.svg $R/2026-11-28-audit/multiplication $R/2026-11-28-audit/multiplication-ff
plot $R/2026-11-28-composition-cpu/training.svg $R/2026-11-28-composition-cpu/{looped,ff}.history.json
plot $R/2026-11-28-stage-mirroring-cpu/training.svg $R/2026-11-28-stage-mirroring-cpu/{looped,ff}.history.json
plot $R/grokking/2026-12-01.training.svg $R/grokking/2026-12-01.history.json
plot $R/maze-cpu/training.svg $R/maze-cpu
plot $R/sudoku-6x6-cpu/training.svg $R/sudoku-6x6-cpu/{trm,hrm,looped,ff}.history.json
plot $R/bandit-cpu/training.svg $R/bandit-cpu/history.json $R/bandit-cpu/history-looped.json
# Runs that kept only history.csv (before history.json was committed beside them).
plot $R/2026-11-28-h200/sudoku-6x6.training.svg $R/2026-11-28-h200/sudoku-6x6{,-ff,-trm}.history.csv
plot $R/2026-11-28-h200/maze.training.svg $R/2026-11-28-h200/maze.history.csv
plot $R/2026-11-28-h200/prefix-sums.training.svg $R/2026-11-28-h200/prefix-sums.history.csv
plot $R/2026-11-28-depth-ablation/training.svg $R/2026-11-28-depth-ablation/{recall,norecall}-{fixed,progressive}.history.csv
plot $R/2026-11-28-depth-ablation/full-budget/training.svg $R/2026-11-28-depth-ablation/full-budget/recall-{fixed,random}.history.csv
# Four runs of five splits overlaid are too many lines for one legend (and the SVG of dashed lines too big):
# one figure per run, a colour per split.
for run in looped-s0 looped-s1 ff ff-narrow; do
  plot $R/program/$run.training.svg $R/program/$run.history.json
done
