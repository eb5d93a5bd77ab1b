#!/usr/bin/env bash
# Creates bench/onnx/.venv for the Python side of urisc's ONNX / bioimage.io model exchange:
#   torch (export of the reference U-Net), onnx, onnxruntime (reference runtime),
#   bioimageio.core (`bioimageio test`, i.e. test_model; its ONNX backend is onnxruntime), numpy, pillow.
# Idempotent: re-running only checks the pinned versions. Versions were verified together
# (export, ORT comparison and a passing `bioimageio test`) on Python 3.11 / x86_64.
# torch is the plain PyPI wheel, used on CPU only; on Linux x86_64 that wheel drags in the
# CUDA runtime packages (several GB). Set PIP_NO_CACHE_DIR=1 to avoid a second copy in pip's cache.
# pydantic is pinned below 2.14: with pydantic 2.14 (pydantic-core 2.50) bioimageio.spec 0.5.12.0 fails every
# model with "package_file_descr_serializer: TypeError: 'index_key' is expected to be an integer or a string".
# (2.12.5 and 2.13.5 both pass; bioimageio.core 0.11.0 requires exactly bioimageio.spec 0.5.12.0.)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install \
    torch==2.15.0 \
    numpy==2.4.6 \
    onnx==1.23.2 \
    onnxruntime==1.32.0 \
    bioimageio.core==0.11.0 \
    bioimageio.spec==0.5.12.0 \
    pillow==13.0.0 \
    pydantic==2.12.5 \
    pydantic-core==2.41.5 \
    pydantic-settings==2.16.3
.venv/bin/python - <<'PY'
import importlib.metadata as md
for name in ["torch", "numpy", "onnx", "onnxruntime", "bioimageio.core", "bioimageio.spec", "pillow", "pydantic"]:
    print(f"{name}=={md.version(name)}")
import torch, onnx, onnxruntime, bioimageio.core, PIL  # noqa: F401  (import check)
PY
