"""Static solves: plain adaptive dynamic relaxation against the multigrid solver (physics/multigrid.py).

    .venv/bin/python benchmarks/bench_relax.py                          # every row
    .venv/bin/python benchmarks/bench_relax.py --cases block30k --adr-steps 20000
    .venv/bin/python benchmarks/bench_relax.py --cases bracket-pmb,bracket-lps --solvers mg

Rows:
- block30k / block200k: a PMB cantilever block of PLA (E 3.5 GPa) at 0.5 mm, 100 x 20 x 15 (30,000 particles)
  or 200 x 40 x 25 (200,000), clamped over its first two layers at x = 0, 10 N in -z spread over its last two;
  solved to the relax tolerance 1e-3 (RMS out-of-balance over RMS bond force density).
- bracket-pmb / bracket-lps: the L-bracket of benchmarks/bench_stress.py through fab.stress.stress_test at
  count=200000 (static test: tolerance 2e-3 plus global force/moment balance, the pipeline's own criterion).
Each row is solved by plain ADR (multigrid off) and by multigrid; columns: fine-level iterations (evaluations
of the law on the body), seconds of the solve, converged, and the mean displacement of the loaded set.
ADR rows stop at --adr-steps iterations (it needs tens of thousands at 200k particles).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from physics import Body, Fixed, Force, Simulation, make_law, relaxation  # noqa: E402

DX = 0.5e-3
BLOCKS = {"block30k": (100, 20, 15), "block200k": (200, 40, 25)}
CASES = ["block30k", "block200k", "bracket-pmb", "bracket-lps"]


def block(shape: tuple[int, int, int]) -> Simulation:
    nx = shape[0]
    body = Body.from_occupancy(np.ones(shape, dtype=bool), DX, 1240.0)
    body.point_set("clamp", lambda x: x[:, 0] < 1.5 * DX)
    body.point_set("tip", lambda x: x[:, 0] > (nx - 2.5) * DX)
    law = make_law("pmb", youngs_modulus=3.5e9)
    return Simulation(body, law, [Fixed("clamp"), Force("tip", value=(0.0, 0.0, -10.0))])


def run_block(name: str, solver: str, adr_steps: int) -> dict:
    sim = block(BLOCKS[name])
    start = time.perf_counter()
    max_steps = adr_steps if solver == "adr" else 20000
    info = relaxation.relax(sim, max_steps, 1e-3, multigrid=solver == "mg")
    seconds = time.perf_counter() - start
    tip = float(sim.u[sim.body.sets["tip"], 2].mean()) * 1e3
    return {"particles": sim.body.count, "steps": info["steps"], "seconds": seconds,
            "converged": info["converged"], "mean_mm": tip}  # fmt: skip


def run_bracket(step: Path, model: str, solver: str, adr_steps: int) -> dict:
    from bench_stress import CASES as STRESS_CASES
    from bench_stress import run_ours

    saved = relaxation.MULTIGRID_MIN
    relaxation.MULTIGRID_MIN = 10**12 if solver == "adr" else 0
    try:
        report, face, _wall = run_ours(
            step, STRESS_CASES["bracket"], model, pitch=None, count=200_000,
            steps=adr_steps if solver == "adr" else None,
        )  # fmt: skip
    finally:
        relaxation.MULTIGRID_MIN = saved
    return {"particles": report.particles, "steps": report.steps, "seconds": report.seconds,
            "converged": bool(report.converged), "mean_mm": face}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(CASES), help="comma list of: " + ", ".join(CASES))
    ap.add_argument("--solvers", default="adr,mg", help="comma list of: adr, mg")
    ap.add_argument("--adr-steps", type=int, default=30000, help="iteration cap of the plain ADR rows")
    args = ap.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    bad = [c for c in cases if c not in CASES] + [s for s in solvers if s not in ("adr", "mg")]
    if bad:
        sys.exit(f"unknown case/solver {', '.join(bad)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        step = None
        for case in cases:
            for solver in solvers:
                if case in BLOCKS:
                    row = run_block(case, solver, args.adr_steps)
                else:
                    if step is None:
                        from fe_reference import bracket_shape, write_step

                        step = write_step(bracket_shape(), Path(tmp) / "bracket.step")
                    row = run_bracket(step, case.split("-")[1], solver, args.adr_steps)
                row.update(case=case, solver=solver)
                rows.append(row)
                print(
                    f"{case:12s} {solver:4s} {row['particles']:8d} particles  {row['steps']:6d} iterations  "
                    f"{row['seconds']:7.1f} s  converged {row['converged']!s:5s}  mean {row['mean_mm']:.5f} mm",
                    flush=True,
                )
    print("\n| case | solver | particles | iterations | seconds | converged | loaded-set mean (mm) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['solver']} | {r['particles']} | {r['steps']} | {r['seconds']:.1f} | "
            f"{r['converged']} | {r['mean_mm']:.5f} |"
        )


if __name__ == "__main__":
    main()
