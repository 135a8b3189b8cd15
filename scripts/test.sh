#!/usr/bin/env bash
# The test command: installs what the tests need (first run only) and runs every test group.
#   core  — pure torch, in ./.venv (created here; CPU torch 2.13.0, never a multi-GB CUDA build)
#   host  — inside a real ComfyUI, with that ComfyUI's own python (see README "Tests")
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
"$py" -c "import einops, safetensors, transformers, pytest, hypothesis" || { echo "missing test dependencies"; exit 1; }

status=0
summary=()

echo "== ruff"
if "$py" -m ruff check .; then summary+=("lint: passed"); else summary+=("lint: FAILED"); status=1; fi

echo "== core tests ($py)"
"$py" -m pytest tests/core -q
rc=$?
case $rc in
  0) summary+=("core: passed") ;;
  5) summary+=("core: NO TESTS RAN"); status=1 ;;
  *) summary+=("core: FAILED"); status=1 ;;
esac

comfy=$("$py" scripts/find_comfyui.py 2>/dev/null)
if [ -n "$comfy" ]; then
  comfy_py=${COMFYUI_PYTHON:-}
  for candidate in "$comfy/../venv/bin/python" "$comfy/venv/bin/python" "$comfy/.venv/bin/python" "$comfy/../python_embeded/python"; do
    [ -z "$comfy_py" ] && [ -x "$candidate" ] && comfy_py=$candidate
  done
  comfy_py=${comfy_py:-python3}
  echo "== host tests in $comfy ($comfy_py)"
  "$comfy_py" -m pip install -q -r requirements-test.txt 2>&1 | grep -v "^WARNING: Location" || true
  COMFYUI_PATH=$comfy "$comfy_py" -m pytest tests/host -q
  rc=$?
  case $rc in
    0) summary+=("host: passed (ComfyUI at $comfy)") ;;
    5) summary+=("host: NO TESTS RAN"); status=1 ;;
    *) summary+=("host: FAILED"); status=1 ;;
  esac
else
  summary+=("host: SKIPPED (no ComfyUI found: set COMFYUI_PATH to a ComfyUI checkout, see README)")
fi

echo "== summary"
printf '  %s\n' "${summary[@]}"
exit $status
