"""Issue 6, problem 1: grow a gear from random cutting programs and compare it with the standard involute.

    .venv/bin/python benchmarks/bench_morph_gear.py [--budget-minutes M] [--workers N] [--seed S] [--json]

Runs the sample job (samples/gear_morph/job.toml) end to end, then prints, measured in the same run:
the grown gear's loaded and unloaded transmission error against the standard 20 degree involute pair
of the same module and teeth (same meshing code, same centre distances), the flank's deviation from its
best-fit involute in % of the module, the effective pressure angle, contact ratios, and the wall time,
each against its target from the issue.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", default=str(ROOT / "samples" / "gear_morph" / "job.toml"))
    parser.add_argument("--budget-minutes", type=float, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from fab.morph.run import run_morph

    start = time.perf_counter()
    summary = run_morph(
        args.job, workers=args.workers, budget_minutes=args.budget_minutes, seed=args.seed, quiet=True
    )
    wall = time.perf_counter() - start
    te, te_ref = summary["transmission_error_rad"], summary["reference_transmission_error_rad"]
    rows = [
        ("cores", f"{os.cpu_count()}", ""),
        ("generations / evaluations", f"{summary['generations']} / {summary['evaluations']}", ""),
        ("wall time (search + report + files)", f"{wall:.1f} s", "<= 900 s on 2 cores"),
        ("loaded TE, grown (worst centre distance)", f"{te:.3e} rad", ""),
        ("loaded TE, standard 20 deg involute pair", f"{te_ref:.3e} rad", ""),
        ("ratio grown / involute", f"{te / te_ref:.3f}", "<= 1"),
        (
            "unloaded TE, grown / involute",
            f"{summary['unloaded_transmission_error_rad']:.2e} / "
            f"{summary['reference_unloaded_transmission_error_rad']:.2e} rad",
            "",
        ),
        ("flank vs best-fit involute", f"{summary['involute_deviation_pct_module']:.3f} % of m", "<= 2 %"),
        ("effective pressure angle", f"{summary['pressure_angle_deg']:.2f} deg", "reported"),
        (
            "contact ratio, grown / involute",
            f"{summary['contact_ratio']:.3f} / {summary['reference_contact_ratio']:.3f}",
            "",
        ),
        (
            "root stress at the torque, grown / involute",
            f"{summary['root_stress_mpa']:.1f} / {summary['reference_root_stress_mpa']:.1f} MPa",
            "traded",
        ),
        ("guards caught", ", ".join(f"{k} {v}" for k, v in summary["guards"].items()), ""),
    ]
    if args.json:
        print(json.dumps({"wall_seconds": wall, **summary}, default=float))
    else:
        width = max(len(r[0]) for r in rows)
        for name, value, target in rows:
            print(f"{name:<{width}}  {value:<28} {target}")
        ok = te <= te_ref and summary["involute_deviation_pct_module"] <= 2.0 and wall <= 900
        print("targets met" if ok else "targets NOT all met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
