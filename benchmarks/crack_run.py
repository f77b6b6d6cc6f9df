"""The crack-run calibration of the critical stretch (physics/fracture.py ``crack_run_ratio``, ``CRACK_RUN``):
the G at which a crack runs through a strip of the law's lattice in fixed grip (G known exactly, independent of
the crack length), over the G0 of the plane count (every bond crossing a lattice plane at s0 at once).

    .venv/bin/python benchmarks/crack_run.py                          # fab's 2D stencil, the table's Poisson ratios
    .venv/bin/python benchmarks/crack_run.py --nu 0.22 --height 40 --length 180 --crack 60   # a taller strip
    .venv/bin/python benchmarks/crack_run.py --horizon 5.015 --nu 0.22 --height 40 --length 170 --crack 60

Each row prints the ratio, the strip, the table's value (fab's critical stretch divides the plane count's s0 by
its square root) and the wall seconds with the load average (the machine is shared). LPS, plane stress.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from physics.fracture import CRACK_RUN, crack_run_factor, crack_run_ratio  # noqa: E402
from physics.laws.lps import LPS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--horizon", type=float, default=3.015, help="horizon in lattice spacings")
    parser.add_argument("--nu", default=None, help="Poisson ratios, comma-separated (default: the table's)")
    parser.add_argument("--length", type=int, default=150, help="strip length (cells)")
    parser.add_argument("--height", type=int, default=30, help="strip height (cells)")
    parser.add_argument("--crack", type=int, default=40, help="initial cut (cells)")
    parser.add_argument("--step", type=float, default=1.005, help="grip displacement step (factor)")
    parser.add_argument("--progress", action="store_true", help="print each load step (G / G0, crack advance)")
    args = parser.parse_args()
    key = ("lps", 2, "stress", round(args.horizon, 9))
    nus = [float(x) for x in args.nu.split(",")] if args.nu else [nu for nu, _ in CRACK_RUN.get(key, ((0.22, 0),))]
    print("| horizon (spacings) | Poisson ratio | strip (cells) | G to run / G0 of the plane count | table | wall s | "
          "load average |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for nu in nus:
        start, load = time.perf_counter(), os.getloadavg()[0]

        def show(g: float, advance: int) -> None:
            print(f"    G {g:.4f} G0, crack advance {advance} cells", file=sys.stderr, flush=True)

        ratio = crack_run_ratio(LPS(72e9, nu), args.horizon, length=args.length, height=args.height,
                                crack=args.crack, step=args.step, progress=show if args.progress else None)  # fmt: skip
        table = crack_run_factor("lps", 2, args.horizon, nu)
        print(f"| {args.horizon:g} | {nu:g} | {args.length} x {args.height}, cut {args.crack} | {ratio:.3f} | "
              f"{table:.3f} | {time.perf_counter() - start:.1f} | {load:.2f} -> {os.getloadavg()[0]:.2f} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
