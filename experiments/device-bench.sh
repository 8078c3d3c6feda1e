#!/usr/bin/env bash
# One session on a machine with a real GPU (e.g. an NVIDIA H200 with PyTorch+CUDA as `python3`, no network):
# build, looplab beside PyTorch CUDA (experiments/bench-vs-torch.sh), matmul up to 4096³, and the per-kernel
# profile, all written under docs/results/DATE-DEVICE/ (at most 8 files) and packed into one tar.
# Usage: experiments/device-bench.sh [--short] [RESULTS_DIR]
#   --short     a quick check of the script itself (two small entries, 1 step; for a software adapter)
#   LOOPLAB     a looplab binary to use when this machine cannot build one (no cargo, or no crates offline)
#   LOOPLAB_PYTHON  the Python with torch (default python3); DEVICE names the results folder (default from
#   nvidia-smi, e.g. h200); BUDGET_S the whole run's time limit (default 450 s: finished inside 8 minutes);
#   OUT, when set (the device tool's output folder), receives the tar. Through the device tool: carry a
#   target/release/looplab built here (and .gl, the Vulkan loader, if that machine lacks one; see its notes).
# Every part runs under its own timeout within the budget and logs its exit status in log.txt: a failing or
# slow part costs its own results only.
set -uo pipefail
cd "$(dirname "$0")/.."
SHORT=0
if [ "${1:-}" = "--short" ]; then SHORT=1; shift; fi
BUDGET=${BUDGET_S:-450}
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/looplab-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export PYTHONUNBUFFERED=1
PY=${LOOPLAB_PYTHON:-python3}
# The NVIDIA Vulkan driver's manifest where the loader may not find it by itself (see the device notes).
ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$ICD" ]; then export VK_DRIVER_FILES=$ICD; fi

if [ -z "${DEVICE:-}" ]; then
  DEVICE=$( (nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || true) | head -1 | awk '{print tolower($NF)}')
  DEVICE=${DEVICE:-gpu}
  [ "$SHORT" = 1 ] && DEVICE="$DEVICE-short"
fi
RES=${1:-docs/results/$(date -u +%F)-$DEVICE}
mkdir -p "$RES"
LOG=$RES/log.txt
: >"$LOG"
note() { echo "$*" | tee -a "$LOG"; }

# part NAME CAP_SECONDS OUTFILE COMMAND...: runs COMMAND with stdout to OUTFILE, stderr to the log, under
# min(CAP, what is left of the budget); logs its exit status (124: stopped at its timeout).
part() {
  local name=$1 cap=$2 outfile=$3; shift 3
  local left=$((BUDGET - SECONDS - 10))
  [ "$cap" -gt "$left" ] && cap=$left
  if [ "$cap" -lt 5 ]; then note "== $name: skipped, the ${BUDGET}s budget is spent"; return; fi
  note "== $name (at ${SECONDS}s, limit ${cap}s): $*"
  local t0=$SECONDS
  timeout "$cap" "$@" >>"$outfile" 2>>"$LOG"
  note "== $name: exit $? after $((SECONDS - t0))s"
}

if [ "$SHORT" = 1 ]; then
  ENTRIES=ref:grok-ff1,grokking STEPS=1 PROFILED="grokking" TORCH_DEVICE=${TORCH_DEVICE:-cpu}
else
  ENTRIES=ref:grok-ff1,ref:sudoku6-loop,ref:maze15-loop,grokking,sudoku-6x6,sudoku-6x6-trm,sudoku-6x6-hrm,sudoku-9x9,maze
  STEPS=10 PROFILED="sudoku-6x6 sudoku-9x9 ref:maze15-loop ref:sudoku6-loop" TORCH_DEVICE=${TORCH_DEVICE:-cuda}
fi

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -n) $(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | wc -l) changed files"
  if command -v nvidia-smi >/dev/null; then nvidia-smi 2>&1 | head -20; else echo "no nvidia-smi"; fi
} >"$RES/env.txt"

# Build here when possible; else use a binary brought along (LOOPLAB, or target/release/looplab).
if command -v cargo >/dev/null; then
  part build 150 "$LOG" cargo build --release --offline
fi
BIN=${LOOPLAB:-target/release/looplab}
if [ ! -x "$BIN" ]; then note "no looplab binary at $BIN: nothing to measure"; exit 1; fi
export LOOPLAB=$BIN
part devices 20 "$RES/env.txt" "$BIN" devices
part torch 30 "$RES/env.txt" "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"

# The side-by-side table: looplab's gpu backend and PyTorch eager, entry by entry.
part vs-torch 240 "$RES/vs-torch.txt" env LOOPLAB_PYTHON="$PY" experiments/bench-vs-torch.sh \
  --backend gpu --device "$TORCH_DEVICE" --steps "$STEPS" --only "$ENTRIES" --entry-timeout 90 --out "$RES/vs-torch.json"

# Matmul: 256³ to 4096³ (4096³ is skipped on software adapters, with a note).
part matmul 60 "$RES/matmul.txt" "$BIN" bench --backend gpu --only matmul --save "$RES/matmul.json"

# The per-kernel profile (GPU timestamps where the adapter has them), entry by entry into one text and one JSON.
TMP=$(mktemp -d)
for e in $PROFILED; do
  part "profile $e" 60 "$RES/profile.txt" "$BIN" bench --backend gpu --profile --only "$e" --steps 3 \
    --save "$TMP/$(echo "$e" | tr -c 'a-z0-9\n' _).json"
done
"$PY" - "$RES/profile.json" "$TMP"/*.json <<'EOF' 2>>"$LOG"
import json, sys
reports = [json.load(open(f)) for f in sys.argv[2:]]
json.dump(reports, open(sys.argv[1], "w"), indent=1)
EOF
rm -rf "$TMP"

note "== done in ${SECONDS}s: $(ls "$RES" | tr '\n' ' ')"
TAR=${OUT:-$(dirname "$RES")}/device-bench-$(basename "$RES").tgz
tar czf "$TAR" -C "$(dirname "$RES")" "$(basename "$RES")" && note "packed into $TAR"
