#!/usr/bin/env bash
# Every check that needs a GPU, in one run (issue 6): the backend tests on CuPy (the rule
# harness, batch rules, vmap, jit and training, float64 and float32), the training example on
# CuPy, and the GPU benchmark. Run it from the repository root on a machine with CuPy, a CUDA
# device, pytest, hypothesis and scikit-learn already installed (nothing is installed here, so
# it also runs offline):  bash scripts/gpu_checks.sh
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
$PY -c "import fgrad; assert 'gpu' in fgrad.devices(), 'no GPU visible to CuPy'" || exit 1
status=0
$PY -m pytest -q -p no:warnings -p no:cacheprovider tests/test_backends.py -k gpu || status=1
$PY examples/train_digits.py --device gpu --epochs 10 --plot "$(mktemp -d)/digits_gpu.png" || status=1
$PY benchmarks/gpu.py --repeat 10 || status=1
exit $status
