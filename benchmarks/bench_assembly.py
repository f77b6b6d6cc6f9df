"""Assembly-plan speed: plan, check and write a ~1 M-voxel plan (target: plan in <= 5 s).

    .venv/bin/python benchmarks/bench_assembly.py [--size 100] [--json]

Prints one row per shape: voxels, plan / check / write seconds, placements per second. The first call of
each numba kernel is compiled (or loaded from cache) in a warm-up on a small grid and not timed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exporters.assembly import check_assembly, plan_assembly, write_assembly  # noqa: E402

TARGET_S = 5.0


def shapes(size: int) -> dict[str, np.ndarray]:
    """A solid block and a perforated, overhanging 'gear-like' disc stack of about size^3 voxels."""
    block = np.ones((size, size, size), dtype=bool)
    n = int(size * 1.25)
    x, y = np.mgrid[:n, :n] - (n - 1) / 2
    r, th = np.hypot(x, y), np.arctan2(y, x)
    teeth = r < n / 2 * (0.85 + 0.12 * (np.sin(20 * th) > 0))
    disc = teeth & (r > n * 0.1)
    gear = np.zeros((n, n, size), dtype=bool)
    for k in range(size):
        # every fourth layer is a wider flange: voxels above it overhang -> hanging placements below flanges
        gear[:, :, k] = disc if k % 8 < 6 else disc & (r < n * 0.3)
    return {"block": block, "gear_stack": gear}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100, help="edge of the test grids in voxels (100 -> 1 M)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    plan_assembly(np.ones((4, 4, 4), dtype=bool), 1.0)  # compile / load numba cache
    check_assembly(plan_assembly(np.ones((4, 4, 4), dtype=bool), 1.0))
    rows = []
    for name, occ in shapes(args.size).items():
        t0 = time.perf_counter()
        plan = plan_assembly(occ, 1.0, (0.0, 0.0, 0.0))
        t1 = time.perf_counter()
        violations = check_assembly(plan)
        t2 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_assembly(plan, Path(tmp) / "plan.json")
        t3 = time.perf_counter()
        n = len(plan["placements"])
        rows.append(
            {
                "shape": name,
                "voxels": n,
                "plan_s": round(t1 - t0, 3),
                "check_s": round(t2 - t1, 3),
                "write_s": round(t3 - t2, 3),
                "placements_per_s": round(n / (t1 - t0)),
                "valid": not violations,
                "meets_target": (t1 - t0) * 1e6 / max(n, 1) <= TARGET_S,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(
        f"{'shape':<12}{'voxels':>10}{'plan s':>9}{'check s':>9}{'write s':>9}{'plan/s':>12}  valid  <=5 s/1M"
    )
    for r in rows:
        print(
            f"{r['shape']:<12}{r['voxels']:>10}{r['plan_s']:>9.3f}{r['check_s']:>9.3f}{r['write_s']:>9.3f}"
            f"{r['placements_per_s']:>12}  {str(r['valid']):<6} {r['meets_target']}"
        )


if __name__ == "__main__":
    main()
