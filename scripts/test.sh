#!/usr/bin/env bash
# The test command: installs what the tests need (first run only) and runs every test group.
#   core  — pure torch, in ./.venv (created here; CPU torch 2.13.0, never a multi-GB CUDA build)
#   js    — the box editor's pure model, node --test
#   host  — inside a real ComfyUI, with that ComfyUI's own python (see README "Tests")
#   browser — the canvas editors in headless Debian chromium (playwright-core) against a live ComfyUI, in three
#             frontend modes: the host's own, the newest frontend package (classic canvas, Nodes 2.0)
# Exits non-zero when a group fails or when no test ran at all.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${DIFFSENSEI_VENV:-$root/.venv}

if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv"
  python3 -m venv "$venv" || exit 1
fi
py=$venv/bin/python
if ! "$py" -c "import torch" 2>/dev/null; then
  echo "== installing CPU torch 2.13.0 into $venv"
  "$py" -m pip install -q torch==2.13.0 || exit 1
fi
"$py" -m pip install -q -r requirements-test.txt 2>&1 | grep -v "^WARNING: Location" || true
"$py" -c "import einops, safetensors, transformers, PIL, pytest, hypothesis" || { echo "missing test dependencies"; exit 1; }

status=0
summary=()
record() {  # record GROUP PYTEST_EXIT_CODE [NOTE]
  case $2 in
    0) summary+=("$1: passed ${3:-}") ;;
    5) summary+=("$1: NO TESTS RAN"); status=1 ;;
    *) summary+=("$1: FAILED"); status=1 ;;
  esac
}

echo "== ruff"
if "$py" -m ruff check .; then summary+=("lint: passed"); else summary+=("lint: FAILED"); status=1; fi

echo "== core tests ($py)"
"$py" -m pytest tests/core -q
record core $?

echo "== js unit tests (box editor model)"
if ! command -v node >/dev/null; then
  summary+=("js: SKIPPED (node not found: install Node.js 18 or newer)")
elif node --test tests/web/js/; then
  summary+=("js: passed")
else
  summary+=("js: FAILED"); status=1
fi

comfy=$("$py" scripts/find_comfyui.py 2>/dev/null)
if [ -n "$comfy" ]; then
  comfy_py=${COMFYUI_PYTHON:-$("$py" scripts/find_comfyui.py --python 2>/dev/null)}
  comfy_py=${comfy_py:-python3}
  "$comfy_py" -m pip install -q -r requirements-test.txt 2>&1 | grep -v "^WARNING: Location" || true

  echo "== host tests in $comfy ($comfy_py)"
  COMFYUI_PATH=$comfy "$comfy_py" -m pytest tests/host -q
  record host $? "(ComfyUI at $comfy)"

  # browser tests: Debian's chromium driven by playwright-core from npm (no browser download)
  chromium=${CHROMIUM:-/usr/bin/chromium}
  if [ ! -x "$chromium" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing chromium (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if command -v npm >/dev/null && [ ! -d tests/web/node_modules/playwright-core ]; then
    echo "== installing playwright-core (npm, tests/web)"
    npm ci --prefix tests/web --no-audit --no-fund --loglevel=error
  fi
  if [ ! -d tests/web/.frontend ]; then
    echo "== installing the newest ComfyUI frontend for the browser tests (pip --target tests/web/.frontend)"
  fi
  "$py" tests/web/install_frontend.py >/dev/null || echo "   not installed: the newest-frontend browser modes skip"
  echo "== browser tests in $comfy ($comfy_py)"
  COMFYUI_PATH=$comfy COMFYUI_PYTHON=$comfy_py CHROMIUM=$chromium "$comfy_py" -m pytest tests/web -q -rs
  record browser $? "(ComfyUI at $comfy)"
else
  summary+=("host: SKIPPED (no ComfyUI found: set COMFYUI_PATH to a ComfyUI checkout, see README)")
  summary+=("browser: SKIPPED (no ComfyUI found)")
fi

echo "== summary"
printf '  %s\n' "${summary[@]}"
exit $status
