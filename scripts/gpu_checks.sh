#!/usr/bin/env bash
# Every check that needs a GPU, in one run (issue 6): the backend tests on CuPy (the rule
# harness, batch rules, vmap, jit and training, float64 and float32), the training example on
# CuPy, and the GPU benchmark. Needs CuPy and a CUDA device; run it from the repository root:
#   bash scripts/gpu_checks.sh
set -uo pipefail
python -m pip install --quiet -e ".[test,examples,cuda]" || exit 1
python -c "import fgrad; assert 'gpu' in fgrad.devices(), 'no GPU visible to CuPy'" || exit 1
status=0
python -m pytest -q -p no:warnings tests/test_backends.py -k gpu || status=1
python examples/train_digits.py --device gpu --epochs 10 --plot /tmp/digits_gpu.png || status=1
python benchmarks/gpu.py --repeat 10 || status=1
exit $status
