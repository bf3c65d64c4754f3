"""``python -m tests.fuzz``: run the differential fuzzer (see the package docstring)."""

from __future__ import annotations

import argparse
import collections
import sys
import time

from .combinations import COMBINATIONS
from .known import known_open
from .programs import generate
from .runner import check, shrink


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--programs", type=int, default=100, help="number of programs")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", type=int, nargs="*", help="run exactly these seeds")
    parser.add_argument("--combinations", nargs="*", default=list(COMBINATIONS))
    parser.add_argument("--exclude-ops", nargs="*", default=[], help="operations never drawn")
    parser.add_argument(
        "--jax",
        choices=["all", "tiebreak", "none"],
        default="all",
        help="run every combination on JAX, or only where fgrad disagrees with finite "
        "differences, or never (see runner.check)",
    )
    parser.add_argument("--no-shrink", action="store_true")
    parser.add_argument(
        "--skip-known", action="store_true", help="leave out programs showing known open bugs"
    )
    parser.add_argument("--verbose", action="store_true", help="print every program")
    args = parser.parse_args(argv)

    seeds = args.seeds if args.seeds else range(args.start, args.start + args.programs)
    counts: collections.Counter = collections.Counter()
    by_op: collections.Counter = collections.Counter()
    skipped = 0
    start = time.perf_counter()
    for seed in seeds:
        program = generate(seed, exclude=frozenset(args.exclude_ops))
        if args.skip_known and known_open(program):
            skipped += 1
            continue
        if args.verbose:
            print(program, flush=True)
        for finding in check(program, args.combinations, jax=args.jax):
            counts[finding.kind] += 1
            if not args.no_shrink:
                finding = shrink(finding, jax=args.jax)
            by_op[(finding.kind, finding.combination, finding.program.ops[-1].name)] += 1
            print(finding, "\n", flush=True)
    elapsed = time.perf_counter() - start
    n = len(seeds)
    print(
        f"{n - skipped} programs x {len(args.combinations)} combinations in {elapsed:.0f} s"
        + (f" ({skipped} showing known open bugs skipped)" if skipped else "")
    )
    print("findings:", dict(counts) or "none")
    for (kind, combo, op), count in sorted(by_op.items()):
        print(f"  {count:4d}  {kind:11s} {combo:14s} last op {op}")
    return 1 if counts.keys() - {"jax-differs", "refused"} else 0


if __name__ == "__main__":
    sys.exit(main())
