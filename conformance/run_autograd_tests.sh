#!/usr/bin/env bash
# Run HIPS autograd's test suite against fgrad through the shim in autograd_shim/.
# Usage: conformance/run_autograd_tests.sh PATH/TO/autograd/tests [pytest args...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tests="$1"; shift
cd "$tests"
PYTHONPATH="$here/autograd_shim:$tests" python -m pytest -c /dev/null -p no:cacheprovider --rootdir "$tests" -q "$@" .
