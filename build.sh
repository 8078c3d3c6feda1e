#!/usr/bin/env bash
# looplab build and test entry point.
#   ./build.sh dist [DIR]  install only what the wasm package needs (the wasm32 target, wasm-bindgen, wasm-pack),
#                      build it into www/pkg, and write the page as a folder for any static host (default dist/)
#   ./build.sh serve   ./build.sh dist, then serve dist/ on http://127.0.0.1:8080 (no test tools installed)
#   ./build.sh test    install what is missing, then: rustfmt and clippy gates, the page's JS unit tests (node),
#                      native tests, browser (wasm) tests, page (Playwright) tests
#   ./build.sh bench   native benchmarks (`looplab bench`)
#   ./build.sh python-test  the PyTorch twin's tests (python/tests): a virtual environment with torch, safetensors,
#                      numpy and pytest (.venv at the repo root, or $LOOPLAB_VENV; created once), the release binary
# Every install step checks first, so a second run installs nothing.
set -euo pipefail
CALLER_DIR="$PWD"  # a DIR given to `dist` is relative to where build.sh was called from
cd "$(dirname "$0")"

WASM_PACK_VERSION=0.15.1
PORT="${PORT:-8080}"
CHROMEDRIVER=/usr/bin/chromedriver
STAGE=""

export PATH="$HOME/.cargo/bin:$PATH"
# wgpu/Mesa warn without a private runtime dir.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/looplab-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

log() { printf '\n==> %s\n' "$*"; }
fail() { printf '\nbuild.sh: %s\n' "$1" >&2; exit 1; }

SERVER_PID=""
on_exit() {
  local status=$?
  stop_server
  if [ "$status" -ne 0 ] && [ -n "$STAGE" ]; then
    printf '\nbuild.sh: FAILED in stage "%s" (exit %s)\n' "$STAGE" "$status" >&2
  fi
}
trap on_exit EXIT

TIMINGS=()
# stage NAME COMMAND...: runs one stage, timing it; on failure the EXIT trap names the stage.
stage() {
  STAGE="$1"; shift
  log "$STAGE"
  local t0=$SECONDS
  "$@"
  local dt=$((SECONDS - t0))
  TIMINGS+=("$(printf '%-28s %4ds' "$STAGE" "$dt")")
  printf -- '--- %s: %ds\n' "$STAGE" "$dt"
  STAGE=""
}

print_timings() {
  log "stage timings"
  printf '  %s\n' "${TIMINGS[@]}"
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_apt() {
  local missing=()
  for pkg in mesa-vulkan-drivers libvulkan1 chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then echo "apt packages present"; return; fi
  echo "installing: ${missing[*]}"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

install_rust_target() {
  if rustup target list --installed | grep -qx wasm32-unknown-unknown; then echo "wasm32 target present"; return; fi
  rustup target add wasm32-unknown-unknown
}

install_rust_components() {
  if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then echo "rustfmt and clippy present"; return; fi
  rustup component add rustfmt clippy
}

# The version of a crate pinned in Cargo.lock.
locked_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

install_wasm_bindgen_cli() {
  local want; want="$(locked_version wasm-bindgen)"
  [ -n "$want" ] || fail "wasm-bindgen not found in Cargo.lock"
  if command -v wasm-bindgen >/dev/null && [ "$(wasm-bindgen --version | awk '{print $2}')" = "$want" ]; then
    echo "wasm-bindgen-cli $want present"; return
  fi
  # Not --locked: one of its locked dependency versions is missing from the registry.
  cargo install wasm-bindgen-cli --version "$want"
}

install_wasm_pack() {
  if command -v wasm-pack >/dev/null && [ "$(wasm-pack --version | awk '{print $2}')" = "$WASM_PACK_VERSION" ]; then
    echo "wasm-pack $WASM_PACK_VERSION present"; return
  fi
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
}

install_npm() {
  # npm writes node_modules/.package-lock.json on install; newer than package-lock.json means up to date.
  if [ -f node_modules/playwright-core/package.json ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    echo "npm packages present"; return
  fi
  # Never `playwright install`: the tests drive the system Chromium.
  npm ci --no-audit --no-fund
}

# What building the wasm package needs, and nothing the tests need.
install_build() {
  install_rust_target
  install_wasm_bindgen_cli
  install_wasm_pack
}

# A fresh `./build.sh test` writes about 2.3 GiB under target/ (debug checks, release tests, wasm); running out of
# disk halfway fails deep inside cargo with an unrelated-looking error, so say it before starting.
check_disk() {
  local need_kib=$((3 * 1024 * 1024)) have_kib
  [ -d target/release ] && need_kib=$((1024 * 1024))
  have_kib="$(df -Pk . | awk 'NR == 2 { print $4 }')"
  if [ "$have_kib" -lt "$need_kib" ]; then
    fail "only $((have_kib / 1024)) MiB free on $(df -P . | awk 'NR == 2 { print $6 }'); ./build.sh test needs about $((need_kib / 1024)) MiB (target/ grows by that much); free some space and run it again"
  fi
  echo "disk: $((have_kib / 1024 / 1024)) GiB free"
}

install_all() {
  install_apt
  install_build
  install_rust_components
  install_npm
}

build_wasm() {
  # Cargo.toml turns wasm-opt off: Debian's binaryen breaks wasm-bindgen 0.2.130 output.
  wasm-pack build --release --target web --out-dir www/pkg --no-pack
}

# What the page loads, relative to www/: index.html, its modules and worker, style.css, the wasm package, the
# shipped trained models and their histories (tests/js/dist.test.mjs checks that every path the page imports or
# fetches is one of these) and the manual it links to (www/docs is a link to docs/).
dist_files() {
  (cd www && printf '%s\n' index.html style.css *.js pkg/*.js pkg/*.wasm models/manifest.json models/*.safetensors models/*.history.json docs/page.md)
}

# Copies dist_files from www/ into $1, only those that changed, and removes what is no longer shipped. A folder
# that holds something other than a looplab build is refused rather than emptied.
write_dist() {
  local dir="$1" f files
  case "$(realpath -m "$dir")/" in
    "$(realpath www)"/*) fail "$dir is inside www/, which dist copies from; give ./build.sh dist another folder" ;;
  esac
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] && ! grep -qs '<title>looplab</title>' "$dir/index.html"; then
    fail "$dir is not empty and holds no looplab page; give ./build.sh dist an empty or new folder"
  fi
  mapfile -t files < <(dist_files)
  for f in "${files[@]}"; do
    [ -f "www/$f" ] || fail "www/$f is missing (the page needs it)"
    mkdir -p "$dir/$(dirname "$f")"
    cmp -s "www/$f" "$dir/$f" || cp -p "www/$f" "$dir/$f"
  done
  (cd "$dir" && find . -type f | sed 's|^\./||') | while read -r f; do
    printf '%s\n' "${files[@]}" | grep -qxF "$f" || rm -f "$dir/$f"
  done
  find "$dir" -mindepth 1 -type d -empty -delete
  echo "$dir: $(du -sh "$dir" | cut -f1) in ${#files[@]} files"
}

# The format and lint gates, native and wasm32 (src/web is compiled only there).
lint() {
  cargo fmt --check
  cargo clippy --all-targets -- -D warnings
  cargo clippy --target wasm32-unknown-unknown --all-targets -- -D warnings
}

# The page's pure functions (ticks, formats, colours, the compare twin, phase bands): node only, no browser.
js_tests() {
  node --test tests/js/
}

native_tests() {
  cargo test --release
}

browser_tests() {
  # wasm-pack ignores $CHROMEDRIVER; Chromium flags come from webdriver.json.
  wasm-pack test --headless --chrome --chromedriver "$CHROMEDRIVER" --release --test browser
}

start_server() {
  python3 -m http.server "$PORT" --bind 127.0.0.1 --directory www >/tmp/looplab-http-$PORT.log 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the web server exited (port $PORT in use?); see /tmp/looplab-http-$PORT.log"
    # Also alive after answering: otherwise something else owns the port.
    if curl -fs -o /dev/null "http://127.0.0.1:$PORT/index.html" && kill -0 "$SERVER_PID" 2>/dev/null; then return; fi
    sleep 0.1
  done
  fail "the web server did not answer on port $PORT"
}
stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; fi
}

page_tests() {
  start_server
  LOOPLAB_URL="http://127.0.0.1:$PORT/" node --test --test-concurrency=1 tests/page/*.test.mjs
  stop_server
}

# python's http.server maps .wasm and .mjs correctly from Python 3.11 on; check instead of assuming.
check_mime() {
  python3 - <<'PY' || fail "python3's http.server does not serve .wasm/.mjs with the right MIME types"
import mimetypes
assert mimetypes.guess_type("x.wasm")[0] == "application/wasm", mimetypes.guess_type("x.wasm")
assert mimetypes.guess_type("x.mjs")[0] in ("text/javascript", "application/javascript"), mimetypes.guess_type("x.mjs")
PY
}

# The twin's virtual environment: created and filled only when something is missing.
python_venv() {
  local venv="${LOOPLAB_VENV:-$PWD/.venv}"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if "$venv/bin/python" -c "import torch, safetensors, numpy, pytest" 2>/dev/null; then
    echo "python packages present in $venv"
  else
    "$venv/bin/pip" install torch safetensors numpy pytest
  fi
  PYTHON="$venv/bin/python"
}

python_tests() {
  cargo build --release --bin looplab
  (cd python && PATH="$(dirname "$PYTHON"):$PATH" "$PYTHON" -m pytest -q tests)
}

cmd="${1:-}"
case "$cmd" in
  dist | serve)
    DIST_DIR="dist"
    if [ "$cmd" = dist ] && [ -n "${2:-}" ]; then
      case "$2" in /*) DIST_DIR="$2" ;; *) DIST_DIR="$CALLER_DIR/$2" ;; esac
    fi
    stage "install (wasm build tools)" install_build
    stage "build wasm package" build_wasm
    stage "write $DIST_DIR/" write_dist "$DIST_DIR"
    print_timings
    if [ "$cmd" = serve ]; then
      check_mime
      echo
      echo "serving $DIST_DIR/ at http://127.0.0.1:$PORT/  (Ctrl-C to stop)"
      exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$DIST_DIR"
    fi
    ;;
  test)
    t_all=$SECONDS
    check_disk
    stage "install" install_all
    stage "lint (rustfmt, clippy)" lint
    stage "JS unit tests (node)" js_tests
    stage "native tests (cargo test)" native_tests
    stage "browser tests (wasm-pack)" browser_tests
    stage "build wasm package" build_wasm
    check_mime
    stage "page tests (Playwright)" page_tests
    print_timings
    printf '  %-28s %4ds\n' "total" "$((SECONDS - t_all))"
    echo "build.sh test: all stages passed"
    ;;
  bench)
    stage "bench" cargo run --release --bin looplab -- bench "${@:2}"
    print_timings
    ;;
  python-test)
    stage "python environment" python_venv
    stage "python tests (pytest)" python_tests
    print_timings
    ;;
  *)
    echo "usage: $0 dist [DIR]|serve|test|bench|python-test" >&2
    exit 2
    ;;
esac
