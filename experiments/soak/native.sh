#!/usr/bin/env bash
# Soak: trains STEPS steps natively (default 10,000 on the gpu backend, a small model) and samples the process's
# resident memory once a second; prints the RSS after warm-up (10% of the run), its largest value after that and
# the last, and writes the samples to OUT/rss.csv (seconds, kB).
# Usage: experiments/soak/native.sh [STEPS] [BACKEND] [OUT]   (run from the repository root after a release build)
set -euo pipefail
STEPS=${1:-10000}
BACKEND=${2:-gpu}
OUT=${3:-runs/soak-native-$BACKEND}
BIN=${LOOPLAB_BIN:-target/release/looplab}
mkdir -p "$OUT"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/looplab-xdg-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
"$BIN" train --preset modular-small --backend "$BACKEND" --steps "$STEPS" --out "$OUT" \
  --set model.d_model=16 --set model.mlp_hidden=32 --set train.eval_every=500 2>"$OUT/train.log" &
PID=$!
echo "seconds,rss_kb" >"$OUT/rss.csv"
START=$(date +%s)
while kill -0 "$PID" 2>/dev/null; do
  RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status" 2>/dev/null || true)
  [ -n "$RSS" ] && echo "$(( $(date +%s) - START )),$RSS" >>"$OUT/rss.csv"
  sleep 1
done
wait "$PID"
python3 - "$OUT/rss.csv" <<'PY'
import csv, sys
rows = [(int(s), int(r)) for s, r in list(csv.reader(open(sys.argv[1])))[1:]]
warm = rows[len(rows) // 10][1]
after = [r for _, r in rows[len(rows) // 10:]]
print(f"{len(rows)} samples over {rows[-1][0]} s; RSS after warm-up {warm} kB, largest after it {max(after)} kB "
      f"({100 * (max(after) - warm) / warm:+.1f}%), last {rows[-1][1]} kB ({100 * (rows[-1][1] - warm) / warm:+.1f}%)")
PY
tail -1 "$OUT/train.log"
