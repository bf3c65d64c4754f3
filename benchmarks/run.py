"""Run fgrad's benchmarks against hand-written NumPy, autograd, JAX and PyTorch.

    python benchmarks/run.py [--quick] [--only NAME] [--framework SUBSTR] [--repeat N]
                             [--markdown PATH]

Adding a workload = one module exposing ``WORKLOAD`` (see ``harness.Workload``) + a line here.
"""

from __future__ import annotations

import sys

import cnn
import erm_epoch
import frameworks
import harness
import hessian
import hvp
import mlp_large
import mlp_small
import nested
import op_chain
import per_example

WORKLOADS = [
    op_chain.WORKLOAD,
    mlp_small.WORKLOAD,
    mlp_large.WORKLOAD,
    hessian.WORKLOAD,
    nested.WORKLOAD,
    hvp.WORKLOAD,
    per_example.WORKLOAD,
    erm_epoch.WORKLOAD,
    cnn.WORKLOAD,
]

if __name__ == "__main__":
    sys.exit(harness.main(WORKLOADS, frameworks.versions))
