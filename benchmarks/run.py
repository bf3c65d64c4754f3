"""Run fgrad's benchmarks against hand-written NumPy, autograd, JAX and PyTorch.

    python benchmarks/run.py [--quick] [--only NAME] [--framework SUBSTR] [--repeat N]
                             [--markdown PATH] [--fuse auto|force|off]

``--fuse`` sets fgrad's ``fgrad_fuse`` flag (``jit``'s numba kernels) for the whole run.

Adding a workload = one module exposing ``WORKLOAD`` (see ``harness.Workload``) + a line here.
"""

from __future__ import annotations

import argparse
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



def _fuse_option(argv: list[str]) -> list[str]:
    """Take ``--fuse`` out of ``argv`` (the harness knows no framework's flags)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--fuse", choices=("auto", "force", "off"))
    known, rest = parser.parse_known_args(argv)
    frameworks.FGRAD_FUSE = known.fuse
    return rest


if __name__ == "__main__":
    sys.exit(harness.main(WORKLOADS, frameworks.versions, _fuse_option(sys.argv[1:])))
