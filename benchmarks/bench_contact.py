"""Cell lists and contact: build/query speed on a random cloud, and contact's cost per step on a two-body run.

1. Cell list on ``--points`` uniform random points (unit density, cutoff 1.2: about 7 neighbours each): build
   (binning + counting sort) and a full neighbour-list query, best of ``--repeats``.
2. Two blocks (``--block`` cells, 2 x 40 x 40 x 30 = 96,000 particles by default, PMB with fracture off) side by
   side, each shifted 0.06 spacing into the other (faces 0.88 spacing apart: in contact) and moving into it at 5 m/s: ``--steps`` explicit steps without contact, with Contact() (bodies
   only) and with Contact(fragments=True) (also same-body unbonded pairs), alternating in every repeat so all
   see the same machine load (plus Contact(fragments=True, skin=0.08): a list without the bonded face neighbours).
   Contact's overhead per step is the difference to the run without contact; one list build is timed apart
   (how often it runs depends on how fast particles move: every skin / 2 of the fastest one's travel).

    .venv/bin/python benchmarks/bench_contact.py [--points 1000000] [--block 40,40,30] [--steps 20] [--repeats 3]
        [--threads 2] [--json]
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

from physics import PMB, Body, CellList, Contact, Simulation  # noqa: E402

DX, RHO, E = 1e-3, 7850.0, 200e9


def bench_cells(points: int, repeats: int) -> dict:
    x = np.random.default_rng(0).random((points, 3)) * points ** (1.0 / 3.0)
    CellList(x[:1000], 1.2).neighbours()  # compile / load the cache
    builds, queries = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        cl = CellList(x, 1.2)
        builds.append(time.perf_counter() - start)
        start = time.perf_counter()
        row, _ = cl.neighbours()
        queries.append(time.perf_counter() - start)
    return {
        "points": points,
        "build_s": min(builds),
        "query_s": min(queries),
        "neighbours_per_point": float(row[-1] / points),
    }


def two_blocks(shape: tuple[int, int, int]) -> Body:
    nx, ny, nz = shape
    occ = np.ones((2 * nx, ny, nz), dtype=bool)
    labels = np.ones(occ.shape, dtype=int)
    labels[nx:] = 2
    return Body.from_occupancy(occ, DX, RHO, labels=labels)


def bench_contact(shape: tuple[int, int, int], steps: int, repeats: int) -> dict:
    body = two_blocks(shape)
    variants = {
        "none": lambda: [],
        "bodies": lambda: [Contact()],
        "fragments": lambda: [Contact(fragments=True)],
        "fragments_skin0.08": lambda: [Contact(fragments=True, skin=0.08)],
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    info: dict[str, dict] = {}
    for _ in range(repeats):
        for name, make in variants.items():
            conditions = make()
            sim = Simulation(body, PMB(youngs_modulus=E), conditions)
            first = body.body_id == 0
            sim.u[:, 0] = np.where(first, 0.06 * DX, -0.06 * DX)
            sim.v[:, 0] = np.where(first, 5.0, -5.0)
            sim.run(1)  # first force evaluation and list build outside the timing
            start = time.perf_counter()
            sim.run(steps)
            times[name].append((time.perf_counter() - start) / steps)
            if conditions:
                c = conditions[0]
                timed_builds = c.rebuilds - 1  # the first build ran in run(1)
                start = time.perf_counter()
                c._build(sim)  # one Verlet-list build (cell list + neighbour list) on the current positions
                build = time.perf_counter() - start
                info[name] = {
                    "pairs": c.pairs,
                    "rebuilds": timed_builds,
                    "build_s": min(build, info.get(name, {}).get("build_s", build)),
                    "force_N": float(abs(c.forces[0, 0])),
                }
    base = statistics.median(times["none"])
    out = {"particles": body.count, "steps": steps, "step_s_without_contact": base}
    for name in list(variants)[1:]:
        t = statistics.median(times[name])
        out[name] = {"step_s": t, "overhead_s": t - base, "overhead_pct": 100 * (t / base - 1), **info[name]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--block", default="40,40,30")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    shape = tuple(int(s) for s in args.block.split(","))
    result = {
        "threads": numba.get_num_threads(),
        "cells": bench_cells(args.points, args.repeats),
        "contact": bench_contact(shape, args.steps, args.repeats),  # type: ignore[arg-type]
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    c = result["cells"]
    print(
        f"cell list, {c['points']:,} points, {c['neighbours_per_point']:.1f} neighbours each: build "
        f"{c['build_s'] * 1e3:.1f} ms, full neighbour list {c['query_s'] * 1e3:.1f} ms ({result['threads']} threads)"
    )
    k = result["contact"]
    print(
        f"two blocks, {k['particles']:,} particles: {k['step_s_without_contact'] * 1e3:.1f} ms/step without contact"
    )
    for name in ("bodies", "fragments", "fragments_skin0.08"):
        v = k[name]
        print(
            f"  Contact({name}): {v['step_s'] * 1e3:.1f} ms/step, overhead {v['overhead_s'] * 1e3:.2f} ms "
            f"({v['overhead_pct']:.1f} %), {v['pairs']:,} listed pairs, {v['rebuilds']} builds in the timed steps, "
            f"one build {v['build_s'] * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
