#!/usr/bin/env bash
# looplab and PyTorch eager side by side, one sitting: ms per training step of the same models and the ratio
# (python/looplab_torch/bench.py runs `looplab bench --json --only NAME` per entry, then the same model in
# PyTorch, alternately).
# Usage: experiments/bench-vs-torch.sh [--install] [bench.py options: --backend cpu|gpu --device cpu|cuda
#                                       --threads N --steps N --only NAME,NAME --out FILE ...]
#   --install      create the Python environment if it lacks torch: a venv at $LOOPLAB_VENV (default .venv in
#                  the repo, git-ignored) with `pip install torch numpy` (about 3 minutes and several GB)
#   LOOPLAB_VENV   the venv to use (e.g. an existing one with torch)
#   LOOPLAB_PYTHON a Python with torch to use instead of the venv (e.g. python3 on a machine with PyTorch+CUDA)
#   LOOPLAB        the looplab binary (default: target/release/looplab, built here if missing or stale)
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/looplab-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

INSTALL=0
if [ "${1:-}" = "--install" ]; then INSTALL=1; shift; fi
VENV=${LOOPLAB_VENV:-.venv}
PY=${LOOPLAB_PYTHON:-$VENV/bin/python}

if ! "$PY" -c "import torch" 2>/dev/null; then
  if [ -n "${LOOPLAB_PYTHON:-}" ] || [ "$INSTALL" = 0 ]; then
    echo "bench-vs-torch: $PY cannot import torch; run with --install (creates $VENV, ~3 min, several GB)," >&2
    echo "or point LOOPLAB_VENV / LOOPLAB_PYTHON at an environment that has it" >&2
    exit 1
  fi
  echo "== creating $VENV with torch and numpy" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet torch numpy
fi

if [ -z "${LOOPLAB:-}" ]; then
  cargo build --release --quiet
  export LOOPLAB=target/release/looplab
fi
echo "== $(date -u +%FT%TZ) on $(uname -n): $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$PY" python/looplab_torch/bench.py "$@"
