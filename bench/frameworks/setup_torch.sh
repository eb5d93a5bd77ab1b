#!/usr/bin/env bash
# Creates bench/frameworks/.venv with torch and numpy from PyPI, for the PyTorch peer benchmark.
# (The default Linux torch wheel pulls CUDA packages; the benchmark runs on CPU only.)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --upgrade pip >/dev/null
.venv/bin/python -m pip install torch numpy pillow
.venv/bin/python -c 'import torch, numpy, PIL; print("torch", torch.__version__, "numpy", numpy.__version__, "pillow", PIL.__version__)'
