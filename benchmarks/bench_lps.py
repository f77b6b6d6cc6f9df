"""LPS against PMB on the same blocks, same process: particle-steps/s and the ratio, per repeat.

For each cube (``--sizes``, cells per side) both laws (LPS nu = 0.3 and calibrated PMB, both with their default
surface correction, no fracture) time ``--steps`` explicit steps (Simulation.run) and the same number of bare
force evaluations (law.compute), alternating PMB and LPS in every repeat so that both see the same machine load;
the ratio is taken per repeat and its median printed. A last case times adaptive dynamic relaxation iterations
(Simulation.relax, fixed iteration count) on a small 40 x 6 x 6 bar, where per-iteration Python overhead shows.

    .venv/bin/python benchmarks/bench_lps.py [--sizes 30,50] [--steps 10] [--repeats 5] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physics import PMB, Body, Fixed, Force, Simulation  # noqa: E402
from physics.laws.lps import LPS  # noqa: E402

DX, RHO, E = 1e-3, 2700.0, 70e9


def make_sim(body: Body, law: str, conditions=()) -> Simulation:
    model = LPS(E, 0.3) if law == "lps" else PMB(youngs_modulus=E)
    sim = Simulation(body, model, list(conditions))
    sim.v[:] = np.random.default_rng(0).normal(0.0, 0.01, sim.v.shape)
    return sim


def time_steps(sim: Simulation, steps: int) -> float:
    start = time.perf_counter()
    sim.run(steps)
    return time.perf_counter() - start


def time_compute(sim: Simulation, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        sim.law.compute(sim)
    return time.perf_counter() - start


def time_relax(sim: Simulation, iterations: int) -> float:
    start = time.perf_counter()
    sim.relax(max_steps=iterations, tolerance=0.0)
    return time.perf_counter() - start


def paired(sims: dict, fn, work: int, repeats: int) -> dict:
    """Alternate the two laws ``repeats`` times; rates in M particle-steps/s and the per-repeat LPS/PMB ratios."""
    rates = {"pmb": [], "lps": []}
    ratios = []
    for _ in range(repeats):
        seconds = {name: fn(sim) for name, sim in sims.items()}
        for name, s in seconds.items():
            rates[name].append(work / s / 1e6)
        ratios.append(seconds["lps"] / seconds["pmb"])
    return {
        "pmb_M_per_s": round(statistics.median(rates["pmb"]), 3),
        "lps_M_per_s": round(statistics.median(rates["lps"]), 3),
        "lps_over_pmb_time": round(statistics.median(ratios), 2),
        "ratios": [round(r, 2) for r in ratios],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="30,50", help="cube sides in cells, comma-separated")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--relax-iterations", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2, help="numba threads (0: all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    rows = []
    for side in (int(s) for s in args.sizes.split(",")):
        body = Body.from_occupancy(np.ones((side, side, side), dtype=bool), DX, RHO)
        sims = {name: make_sim(body, name) for name in ("pmb", "lps")}
        for sim in sims.values():
            sim.run(2)  # compile / load the cached kernels
        n = body.count
        rows.append(
            {"case": f"{side}^3 steps", "particles": n}
            | paired(sims, lambda s: time_steps(s, args.steps), n * args.steps, args.repeats)
        )
        rows.append(
            {"case": f"{side}^3 compute", "particles": n}
            | paired(sims, lambda s: time_compute(s, args.steps), n * args.steps, args.repeats)
        )
    body = Body.from_occupancy(np.ones((40, 6, 6), dtype=bool), DX, RHO)
    x = body.positions()
    body.point_set("left", x[:, 0] < 0.5 * DX)
    body.point_set("right", x[:, 0] > 38.5 * DX)
    conds = [Fixed("left"), Force("right", (0.0, 100.0, 0.0))]
    sims = {name: make_sim(body, name, conds) for name in ("pmb", "lps")}
    for sim in sims.values():
        sim.relax(max_steps=20, tolerance=0.0)
    it = args.relax_iterations
    rows.append(
        {"case": "40x6x6 relax", "particles": body.count}
        | paired(sims, lambda s: time_relax(s, it), body.count * it, args.repeats)
    )
    if args.json:
        print(json.dumps({"threads": numba.get_num_threads(), "rows": rows}, indent=1))
        return
    print(
        f"numba threads {numba.get_num_threads()}; M particle-steps/s (median of {args.repeats}), LPS/PMB time"
    )
    for r in rows:
        print(
            f"{r['case']:>16} {r['particles']:>8}  PMB {r['pmb_M_per_s']:7.3f}  LPS {r['lps_M_per_s']:7.3f}"
            f"  LPS/PMB {r['lps_over_pmb_time']:5.2f}  per repeat {r['ratios']}"
        )


if __name__ == "__main__":
    main()
