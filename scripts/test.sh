#!/usr/bin/env bash
# The test command: installs what the tests need (first run only) and runs every test group.
#   lint    — ruff
#   core    — pure torch, in ./.venv (created here; CPU torch 2.13.0, never a multi-GB CUDA build)
#   js      — the canvas editors' pure models, node --test
#   host    — inside a real ComfyUI, with that ComfyUI's own python, once per ComfyUI found (see README "Tests")
#   browser — the editors in headless Debian chromium (playwright-core) against a live ComfyUI, once per ComfyUI found,
#             in three frontend modes: the host's own, the newest frontend package (classic canvas, Nodes 2.0)
# Hosts: $COMFYUI_PATHS (separated by ':'), else $COMFYUI_PATH, the ComfyUI this pack sits in, ~/comfy/ComfyUI and
# ~/comfy-new/ComfyUI — each found one gets its own summary lines.
# A test that skips because its data, host or browser is missing fails instead when this script found them
# (DIFFSENSEI_REQUIRE, see tests/support/skips.py). Exits non-zero when a group fails or no test ran at all.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$(date +%s)
venv=${DIFFSENSEI_VENV:-$root/.venv}
logs=$(mktemp -d)

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
"$py" -c "import einops, safetensors, sentencepiece, transformers, PIL, pytest, hypothesis" || { echo "missing test dependencies"; exit 1; }

status=0
summary=()
counts() {  # the counts of pytest's last summary line in log $1, e.g. "253 passed, 2 skipped"
  tail -n 5 "$1" | grep -E "[0-9]+ (passed|failed|skipped|error)" | tail -n 1 | sed -E 's/^=+ //; s/ in [0-9.]+s.*$//; s/ =+$//'
}
pytest_group() {  # pytest_group LABEL LOG PYTHON ARGS... : run pytest, keep its log, record one summary line
  local label=$1 log=$2 python=$3
  shift 3
  "$python" -m pytest "$@" 2>&1 | tee "$log"
  local code=${PIPESTATUS[0]}
  case $code in
    0) summary+=("$label: passed ($(counts "$log"))") ;;
    5) summary+=("$label: NO TESTS RAN"); status=1 ;;
    *) summary+=("$label: FAILED ($(counts "$log"))"); status=1 ;;
  esac
}

golden=""
[ -f "$root/../shared/golden/golden.safetensors" ] && golden=golden

echo "== ruff"
if "$py" -m ruff check .; then summary+=("lint: passed"); else summary+=("lint: FAILED"); status=1; fi

echo "== core tests ($py)"
DIFFSENSEI_REQUIRE=$golden pytest_group core "$logs/core.log" "$py" tests/core -q

echo "== js unit tests (canvas editors' models)"
if ! command -v node >/dev/null; then
  summary+=("js: SKIPPED (node not found: install Node.js 18 or newer)")
elif node --test tests/web/js/ 2>&1 | tee "$logs/js.log"; then
  summary+=("js: passed ($(grep -E '^# (pass|skip)' "$logs/js.log" | tr '\n' ' '))")
else
  summary+=("js: FAILED"); status=1
fi

hosts=$("$py" headless/find_comfyui.py --all 2>/dev/null || true)
if [ -z "$hosts" ]; then
  summary+=("host: SKIPPED (no ComfyUI found: set COMFYUI_PATH or COMFYUI_PATHS to ComfyUI checkouts, see README)")
  summary+=("browser: SKIPPED (no ComfyUI found)")
else
  # browser tests: Debian's chromium driven by playwright-core from npm (no browser download); Noto CJK (Simplified
  # Chinese and Japanese glyphs: the lettering tests and the zh/ja screenshots) and DejaVu fonts
  chromium=${CHROMIUM:-/usr/bin/chromium}
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    [ -x "$chromium" ] || missing+=(chromium)
    fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
    fc-list 2>/dev/null | grep -qi "DejaVu Sans" || missing+=(fonts-dejavu-core)
    if [ ${#missing[@]} -gt 0 ]; then
      echo "== installing ${missing[*]} (apt)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
  fi
  if command -v npm >/dev/null && [ ! -d tests/web/node_modules/playwright-core ]; then
    echo "== installing playwright-core (npm, tests/web)"
    npm ci --prefix tests/web --no-audit --no-fund --loglevel=error
  fi
  if [ ! -d tests/web/.frontend ]; then
    echo "== installing the newest ComfyUI frontend for the browser tests (pip --target tests/web/.frontend)"
  fi
  "$py" tests/web/install_frontend.py >/dev/null || echo "   not installed: the newest-frontend browser modes cannot run"
  browser_require=""
  [ -x "$chromium" ] && command -v node >/dev/null && [ -d tests/web/node_modules/playwright-core ] && browser_require=browser

  while IFS=$'\t' read -r comfy comfy_py version; do
    [ -n "$comfy" ] || continue
    comfy_py=${comfy_py:-python3}
    name="ComfyUI $version"
    "$comfy_py" -m pip install -q -r requirements-test.txt "ray>=2.59" 2>&1 | grep -v "^WARNING: Location" || true
    host_require=$golden,host
    "$comfy_py" -c "import ray" 2>/dev/null && host_require=$host_require,ray

    echo "== host tests in $comfy ($name, $comfy_py)"
    DIFFSENSEI_REQUIRE=$host_require COMFYUI_PATH=$comfy \
      pytest_group "host, $name" "$logs/host-$version.log" "$comfy_py" tests/host -q

    echo "== browser tests in $comfy ($name, $comfy_py)"
    DIFFSENSEI_REQUIRE=$browser_require COMFYUI_PATH=$comfy COMFYUI_PYTHON=$comfy_py CHROMIUM=$chromium \
      pytest_group "browser, $name" "$logs/browser-$version.log" "$comfy_py" tests/web -q -rs
  done <<< "$hosts"
fi

echo "== summary ($(( $(date +%s) - started )) s)"
printf '  %s\n' "${summary[@]}"
rm -rf "$logs"
exit $status
