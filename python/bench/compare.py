"""Two builds of the SDK side by side, under the same load: runs
``call_tool.py`` (this directory's, so that both are measured alike) with
``PYTHONPATH`` set to each source tree's ``python/`` in turn, in the order
before, after, after, before, ... and prints each variant's median ratio
over the processes of each side, and the range of those processes.

    python/.venv/bin/python python/bench/compare.py BEFORE_DIR AFTER_DIR [--pairs N] [-- BENCH ARGS]

Each directory is a ``python/`` directory holding ``execlave/`` with its
built ``_native`` extension (``maturin develop --release`` there, or a copy
of the release extension when the Rust side is the same).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).with_name("call_tool.py")


def run(tree: Path, bench_args: list[str]) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(
        [sys.executable, str(BENCH), "--json", *bench_args], env=env, check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    if Path(result["execlave"]).resolve() != (tree / "execlave").resolve():
        raise SystemExit(f"{tree}: the bench imported execlave from {result['execlave']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--pairs", type=int, default=3, help="processes per side")
    args, bench_args = parser.parse_known_args()
    bench_args = [a for a in bench_args if a != "--"]
    sides: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    order = ["before", "after", "after", "before"]
    for i in range(args.pairs * 2):
        side = order[i % 4]
        sides[side].append(run(getattr(args, side), bench_args))
        print(f"  {side} process done", file=sys.stderr)
    first = sides["before"][0]
    print(
        f"python {first['python']}, mcp {first['mcp']}; per process {first['runs']} runs x "
        f"{first['rounds']} rounds x {first['batch']} calls per side; {args.pairs} processes per side, "
        "alternating before/after"
    )
    for clock in ("cpu", "wall"):
        print(f"\n{clock} time: governed / bare, median of the processes' medians (range)")
        print(f"{'variant':<40} {'before':>20} {'bare µs':>8} {'after':>20} {'bare µs':>8}")
        for variant in first["variants"]:
            cells = []
            for side in ("before", "after"):
                ratios = [r["variants"][variant][clock]["ratio"] for r in sides[side]]
                bare = statistics.median(r["variants"][variant][clock]["bare_us"] for r in sides[side])
                cells.append(f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) {bare:>8.0f}")
            print(f"{variant:<40} {cells[0]:>29} {cells[1]:>29}")
    print("\nthe wrapper alone (stub call_tool, CPU µs per call over bare)")
    for side in ("before", "after"):
        gaps = [r["stub_governed_us"] - r["stub_bare_us"] for r in sides[side]]
        print(f"  {side:<7} +{statistics.median(gaps):.2f} µs ({min(gaps):.2f}-{max(gaps):.2f})")


if __name__ == "__main__":
    main()
