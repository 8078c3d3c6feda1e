#!/usr/bin/env bash
# Passkey retrieval vs distance (README, "Feedback memory"): `passkey-fam` and `passkey-window` for 3 seeds on
# the cpu backend, then each run's accuracy per test distance at its last evaluation.
set -euo pipefail
OUT=${1:-runs/passkey}
LOOPLAB=${LOOPLAB:-target/release/looplab}
mkdir -p "$OUT"
for preset in passkey-fam passkey-window; do
  for seed in 0 1 2; do
    grep -qs "^done:" "$OUT/$preset-$seed.log" || "$LOOPLAB" train --preset "$preset" --backend cpu --set seed=$seed --out "$OUT/$preset-$seed" >"$OUT/$preset-$seed.log" 2>&1
  done &
done
wait
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
for preset in ["passkey-fam", "passkey-window"]:
    runs = [json.load(open(f"{out}/{preset}-{s}/history.json"))[-1] for s in range(3)]
    names = [s["split"] for s in runs[0]["splits"]]
    cells = []
    for i, name in enumerate(names):
        acc = [r["splits"][i]["accuracy"] * 100 for r in runs]
        cells.append(f"{name} {statistics.mean(acc):5.1f} ± {statistics.stdev(acc):4.1f}")
    print(f"{preset:15} step {runs[0]['step']}: " + " | ".join(cells))
PY
