#!/usr/bin/env bash
# What one session on a lent GPU machine runs (see the README's "Reasoning results"): the adapter, the bench,
# then experiments/reasoning.sh; everything lands in $1.
set -uo pipefail
OUT=${1:?usage: experiments/device.sh OUT_DIR}
export LOOPLAB=${LOOPLAB:-target/release/looplab}
mkdir -p "$OUT"
timeout 60 "$LOOPLAB" bench --backend gpu --steps 10 >"$OUT/bench.txt" 2>&1
(sleep 120; nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1) &
experiments/reasoning.sh "$OUT/runs" "${SECONDS_PER_RUN:-390}" train >"$OUT/train.txt" 2>&1
# Histories, logs and the smaller checkpoints come back (the files returned are limited in size).
tar czf "$OUT/runs.tgz" -C "$OUT" --exclude='sudoku-6x6-*/model.safetensors' --exclude='sudoku-9x9/model.safetensors' runs
experiments/reasoning.sh "$OUT/runs" 0 eval >"$OUT/results.txt" 2>&1
