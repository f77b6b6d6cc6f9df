"""Assembly-plan speed: plan, check and write a ~1 M-voxel plan (target: plan in <= 5 s); and the physics check of
every build state of a ~10,000-voxel plan (target: <= 60 s on 2 cores).

    .venv/bin/python benchmarks/bench_assembly.py [--size 100] [--json]
    .venv/bin/python benchmarks/bench_assembly.py --physics [--physics-size 22] [--max-seconds 600] [--workers 2]

Prints one row per shape: voxels, plan / check / write seconds, placements per second. The first call of
each numba kernel is compiled (or loaded from cache) in a warm-up on a small grid and not timed.
"""

from __future__ import annotations

import argparse
import json
import resource
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


PHYSICS_TARGET_S = 60.0


def _load_average() -> float:
    """The 1-minute load average (figures on a shared machine are printed beside it); nan where unknown."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its finished child processes (the check's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def physics(edge: int, max_seconds: float, part: str = "PLA-20mm-bolted", push=(0.0, 0.0, -5.0),
            workers: int = 1) -> dict:  # fmt: skip
    """Every build state of the geometric planner's order for an edge x edge x (edge - 1) block (edge 22: 10,164
    voxels), gravity and a 5 N placement force, incremental solves (warm-started two-level PCG, screened); direct
    (sparse LU) solves of the worst state and of a state from the middle check the incremental figures."""
    from fab.part_types import get_part_type
    from physics import VoxelJoint
    from physics.assembly import BuildSequence

    occ = np.ones((edge, edge, edge - 1), dtype=bool)
    plan = plan_assembly(occ, 20.0, (0.0, 0.0, 0.0))
    ijk = plan["placements"][:, 1:4]
    n = len(ijk)
    pt = get_part_type(part)
    seq = BuildSequence(ijk, np.zeros(n, int), VoxelJoint(**pt.law_parameters()), np.full(n, pt.mass_kg), 0.02)
    small = BuildSequence(ijk[:40], np.zeros(40, int), VoxelJoint(**pt.law_parameters()), np.full(40, pt.mass_kg),
                          0.02)  # fmt: skip
    small.check(push)  # compile / load the numba cache, not timed
    start = time.perf_counter()
    within_target = [0]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - start <= PHYSICS_TARGET_S:
            within_target[0] = done

    load_before = _load_average()
    cpu_before = _cpu_seconds()
    states = seq.check(push, max_seconds=max_seconds, progress=progress, workers=workers)
    cpu = _cpu_seconds() - cpu_before
    load_after = _load_average()
    done = len(states.utilisation)
    print(f"states checked {done:,} of {n:,} in {states.seconds:.2f} s, {states.iterations.mean():.1f} CG iterations "
          f"a state (checks against direct solves follow)", file=sys.stderr, flush=True)  # fmt: skip
    # the worst state (solved in full) and a state from the middle against direct sparse LU solves of the same states
    spots = sorted({states.worst_state, done // 2})
    deviation = {}
    for p in spots:
        exact = seq.solve_state(p, push)[0]
        deviation[p] = (bool(states.exact[p]), abs(states.utilisation[p] / exact - 1.0))
    return {
        "voxels": n,
        "workers": workers,
        "states_checked": done,
        "seconds": round(states.seconds, 2),
        # CPU seconds of this process and its worker processes: what the check costs whatever else the machine runs
        "cpu_seconds": round(cpu, 2),
        # each worker's run of consecutive states: the wall time follows the longest
        "run_cpu_seconds": [round(s, 1) for s in states.run_cpu_seconds],
        "states_per_s": round(done / states.seconds, 1),
        "states_within_target_s": done if states.seconds <= PHYSICS_TARGET_S else within_target[0],
        "mean_cg_iterations": round(float(states.iterations.mean()), 1),
        "states_solved_in_full": int(states.exact.sum()),
        "screen_error": float(f"{states.screen_error:.2g}"),
        "worst_state": states.worst_state,
        "worst_utilisation": round(float(states.utilisation.max()), 7),
        "worst_bound": float(f"{states.bound[states.worst_state]:.2g}"),
        # every screened state's utilisation plus its bound is under the worst: none of them can be the worst
        "screened_under_worst": bool((states.utilisation + states.bound)[~states.exact].max(initial=0.0)
                                     < states.utilisation.max()),  # fmt: skip
        "largest_screened_bound": float(f"{states.bound[~states.exact].max(initial=0.0):.2g}"),
        "load_average": [load_before, load_after],
        "deviation_from_direct": {str(p): {"solved_in_full": e, "deviation": float(f"{v:.2g}")}
                                  for p, (e, v) in deviation.items()},  # fmt: skip
        "meets_target": done == n and states.seconds <= PHYSICS_TARGET_S,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100, help="edge of the test grids in voxels (100 -> 1 M)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--physics", action="store_true", help="check every build state by physics instead")
    ap.add_argument("--physics-size", type=int, default=22, help="edge of the physics block (22 -> 10,164)")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="stop the physics check after this long")
    ap.add_argument("--workers", type=int, default=1, help="physics: processes, each a run of consecutive states")
    args = ap.parse_args()
    if args.physics:
        row = physics(args.physics_size, args.max_seconds, workers=args.workers)
        if args.json:
            print(json.dumps(row, indent=1))
            return
        print(f"physics check of every build state: {row['voxels']:,}-voxel block (PLA-20mm-bolted, gravity, "
              f"5 N placement force), {row['workers']} process(es)")  # fmt: skip
        print(f"states checked {row['states_checked']:,} of {row['voxels']:,} in {row['seconds']} s at a load average "
              f"of {row['load_average'][0]:.1f}-{row['load_average'][1]:.1f}, {row['cpu_seconds']} CPU seconds "
              f"(runs {' + '.join(f'{s:g}' for s in row['run_cpu_seconds'])}; {row['states_per_s']} states/s, "
              f"{row['mean_cg_iterations']} CG iterations a state); {row['states_solved_in_full']:,} solved in full, "
              f"the rest screened (largest bound of a screened state {row['largest_screened_bound']:.2g}, every one "
              f"under the worst with its bound: {row['screened_under_worst']}; screening error seen "
              f"{row['screen_error']:.2g}); worst state {row['worst_state']:,}, utilisation "
              f"{row['worst_utilisation']:.6g} (+- {row['worst_bound']:.2g} by its bound)")
        for p, dev in row["deviation_from_direct"].items():
            kind = "solved in full" if dev["solved_in_full"] else "screened"
            print(f"state {int(p):,} ({kind}) against a direct solve: deviation {dev['deviation']:.2g}")
        print(f"states checked within {PHYSICS_TARGET_S:g} s: {row['states_within_target_s']:,}")
        print(f"target: every state in <= {PHYSICS_TARGET_S:g} s: {'met' if row['meets_target'] else 'NOT met'}")
        return
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
