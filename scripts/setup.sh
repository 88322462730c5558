#!/usr/bin/env bash
# Create .venv with everything needed to run and test mlic.
# torch is pinned here (not in the package) to the local CPU wheel of these machines; the package
# itself asks only for torch>=2.2 so users keep their own CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q "torch==${MLIC_TORCH_VERSION:-2.13.0}"
.venv/bin/pip install -q -e ".[test,eval,train]"
