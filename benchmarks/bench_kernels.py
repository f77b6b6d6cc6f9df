"""One law evaluation (law.compute: what every static solve and failure test is made of), the pair kernels (each
bond once) against the whole-stencil kernels (each bond twice), in the same process, alternating.

Bodies as fab builds them (fab.model: voxels, law, critical stretch): ``bracket``, the part of
samples/bracket_job.toml (PLA, LPS, 1.25 mm: 7,008 particles) and ``cantilever``, the issue's LPS Al6061-T6 beam
80 x 10 x 6 mm at 0.5 mm (38,400 particles); each in float32 and float64. The displacement is a bending field
with a little noise (every bond stretched, none near its limit). Per repeat each kernel times ``--evals``
evaluations; printed: the median ms per evaluation of each and the median of the per-repeat ratios, with the load
average (the machine is shared: ratios in one process are the figure).

    .venv/bin/python benchmarks/bench_kernels.py [--cases bracket,cantilever] [--evals 20] [--repeats 5] [--threads 1] [--law pmb]
    .venv/bin/python benchmarks/bench_kernels.py --cases cantilever --runs 64
    .venv/bin/python benchmarks/bench_kernels.py --coarse --repeats 3
    .venv/bin/python benchmarks/bench_kernels.py --cases cantilever --stress --repeats 3
    .venv/bin/python benchmarks/bench_kernels.py --cases cantilever,bracket --break-pass --evals 10 --repeats 5

``--precision``: instead, one evaluation (pair kernels) in float32 against float64, alternating in the same process:
the cost ratio of a failure test's float32 products (physics/newton.py's MIXED_PRECISION) to its float64 ones.

``--coarse``: instead, the cantilever's failure-test coarse solve (the Galerkin level, physics/multigrid.py's
direct solve, banded where the bandwidth allows) against the dense Cholesky factor of the same matrix: CPU ms per
solve and the median ratio.

``--break-pass``: instead, the LPS law's break-only pass (a failure test's break check, physics/newton.py's
BREAK_PASS) against the float64 evaluation it replaces, alternating: CPU ms each and the median ratio.

``--stress``: instead, LPS.stress (one numba pass) against the chunked numpy formula it replaced, alternating
(CPU seconds a call; the failure test's output fields take it twice).

``--cpu``: instead, CPU ms per evaluation (pair kernels) of each precision, of the simulation itself (a state that
breaks bonds: Newton's residuals) and of a state with ``breaking`` False (Newton's tangent products, 3 of 4 of a
failure test's evaluations: the law skips its limit test), medians of ``--repeats``. Commits compare by running it
on each checkout in turn (each process compiles its own tree's kernels):

    .venv/bin/python benchmarks/bench_kernels.py --cases cantilever --cpu --threads 1 --repeats 7

``--blocks``: instead, the CPU ms of each block of the pair force pass (LPS, float32, 1 thread, breaking off) and
the larger of two threads' shares when prange hands each an equal count of blocks against PairPlan.scheduled's
groups of about equal particle counts (what the pass waits for on an idle 2-core machine):

    .venv/bin/python benchmarks/bench_kernels.py --cases cantilever --blocks

``--runs N``: instead, one evaluation (pair kernels) with the frame's runs of particles split at physics.lattice's
RUN_LENGTH against the same kernels with them split at N (e.g. 64, the length before), alternating in the same
process, each precision: the per-run cost the run length trades against the kernels' scratch in L1. Printed: ms
per evaluation (wall and CPU seconds: the machine is shared) and the median ratio of CPU times.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fab.job import Fix, Job, Load, PartSpec, PhysicsSpec, TestSpec, VoxelSpec, load_job  # noqa: E402
from fab.materials import get_material  # noqa: E402
from fab.model import build_model, make_law  # noqa: E402
from fab.voxels import VoxelGrid  # noqa: E402
from physics import Simulation, integrators  # noqa: E402


def bracket_grid() -> tuple[VoxelGrid, Job]:
    from fab.part import load_part
    from fab.voxels import voxelize

    job = load_job(ROOT / "samples" / "bracket_job.toml")
    part = load_part(job.part.source, params=job.part.params or None, units=job.part.units)
    return voxelize(part.mesh, pitch=job.voxels.pitch, count=job.voxels.count), job


def cantilever_grid() -> tuple[VoxelGrid, Job]:
    pitch = 0.5
    grid = VoxelGrid(np.ones((160, 20, 12), bool), pitch, np.full(3, pitch / 2))
    job = Job(
        part=PartSpec(source=Path("<bench>")),
        voxels=VoxelSpec(pitch=pitch),
        material=get_material("Al6061-T6"),
        physics=PhysicsSpec(model="lps"),
        fix=(Fix("x < 0.5"),),
        load=(Load(">X", "force", (0.0, 0.0, -100.0)),),
        test=TestSpec(kind="failure"),
    )
    return grid, job


def simulation(grid: VoxelGrid, job: Job, precision: str) -> Simulation:
    model = build_model(grid, job, job.material)
    law, _ = make_law(job.physics, job.material, model.body.lattice)
    sim = Simulation(model.body, law, precision=precision)
    x = sim.x0
    span = float(np.ptp(x[:, 0])) or 1.0
    rng = np.random.default_rng(0)
    # A cantilever's bending shape, 1e-4 strain scale, and noise a tenth of that per spacing.
    s = (x[:, 0] - x[:, 0].min()) / span
    sim.u[:, 2] = -1e-4 * span * s * s
    sim.u += rng.normal(0.0, 1e-5 * sim.body.lattice.spacing, sim.u.shape)
    integrators.to_grid(sim.u, sim.body.lattice.cells, sim.ux, sim.uy, sim.uz)
    return sim


def time_evals(sim: Simulation, pairs: bool, evals: int) -> float:
    sim.law.pairs = pairs
    start = time.perf_counter()
    for _ in range(evals):
        sim.law.compute(sim)
    return (time.perf_counter() - start) / evals


def compare_precisions(case: str, grid: VoxelGrid, job: Job, evals: int, repeats: int) -> None:
    """One evaluation in float32 against float64 (pair kernels), alternating per repeat: ms each, median ratio."""
    sims = {p: simulation(grid, job, p) for p in ("float32", "float64")}
    times: dict[str, list[float]] = {p: [] for p in sims}
    for sim in sims.values():
        time_evals(sim, True, 1)  # compile, warm
    load0 = os.getloadavg()[0]
    for _ in range(repeats):
        for p, sim in sims.items():
            times[p].append(time_evals(sim, True, evals))
    load1 = os.getloadavg()[0]
    ratios = [a / b for a, b in zip(times["float32"], times["float64"], strict=True)]
    law = type(sims["float32"].law).__name__
    print(
        f"{case} {law} {sims['float32'].body.count:,} particles: float32 {statistics.median(times['float32']) * 1e3:.2f} ms, "
        f"float64 {statistics.median(times['float64']) * 1e3:.2f} ms per evaluation, float32 / float64 "
        f"x{statistics.median(ratios):.2f} (per repeat {', '.join(f'{r:.2f}' for r in ratios)}); load {load0:.1f}-{load1:.1f}",
        flush=True,
    )


class _Product:
    """The simulation's displacements and bonds as a tangent product sees them: ``breaking`` False (the law may skip
    its limit test), buffers of its own for what the law writes."""

    breaking = False

    def __init__(self, sim: Simulation) -> None:
        for name in ("body", "u", "ux", "uy", "uz", "min_stretch"):
            setattr(self, name, getattr(sim, name))
        self.bits = sim.bits.copy()
        self.force = np.zeros_like(sim.force)
        self.newly_broken = np.zeros_like(sim.newly_broken)


def cpu_per_evaluation(case: str, grid: VoxelGrid, job: Job, evals: int, repeats: int) -> None:
    """CPU ms per evaluation (pair kernels) of the simulation and of a tangent product's state, each precision."""
    for precision in ("float32", "float64"):
        sim = simulation(grid, job, precision)
        states = {"residual": sim, "product": _Product(sim)}
        cpu: dict[str, list[float]] = {k: [] for k in states}
        for state in states.values():
            sim.law.compute(state)  # compile, warm
        load0 = os.getloadavg()[0]
        for _ in range(repeats):
            for name, state in states.items():
                c = time.process_time()
                for _ in range(evals):
                    sim.law.compute(state)
                cpu[name].append((time.process_time() - c) / evals)
        load1 = os.getloadavg()[0]
        print(
            f"{case} {type(sim.law).__name__} {precision} {sim.body.count:,} particles, {numba.get_num_threads()} "
            f"threads: CPU ms per evaluation {statistics.median(cpu['residual']) * 1e3:.2f} (breaking state), "
            f"{statistics.median(cpu['product']) * 1e3:.2f} (tangent product); load {load0:.1f}-{load1:.1f}",
            flush=True,
        )


def block_costs(case: str, grid: VoxelGrid, job: Job, evals: int, repeats: int) -> None:
    """CPU ms per block of the LPS pair force pass and the 2-thread shares: equal counts against scheduled groups."""
    from physics.laws import lps_kernels as kern
    from physics.laws.base import frame_inputs

    numba.set_num_threads(1)
    sim = simulation(grid, job, "float32")
    law = sim.law
    law.compute(sim)
    frame, plan = law.body.lattice.frame, law._plan
    ux, uy, uz, bits = frame_inputs(law, sim)
    acc = plan.grid(law, ux.dtype)
    one = np.array([0, 1], dtype=np.int64)
    cost = []
    for c in range(len(plan.blocks)):
        block = np.ascontiguousarray(plan.blocks[c : c + 1])
        times = []
        for _ in range(repeats):
            t = time.process_time()
            for _ in range(evals):
                kern.lps_pair_forces(
                    frame.runs, block, one, ux, uy, uz, law.fields, None, bits, frame.flat_offset, plan.half,
                    law.xix, law.xiy, law.xiz, law.length, law.inv_len, law.pq, law.phi, law.wd, law.xd, law.terms,
                    acc,
                )  # fmt: skip
            times.append((time.process_time() - t) / evals * 1e3)
        cost.append(statistics.median(times))
    acc[:] = 0.0
    half = -(-len(cost) // 2)  # prange: the first thread takes the first ceil(m / 2) blocks
    equal = (sum(cost[:half]), sum(cost[half:]))
    start = {int(r): k for k, r in enumerate(plan.blocks[:, 0])}
    grouped, bounds = plan.scheduled(0, 2)[0]
    shares = [sum(cost[start[int(r)]] for r in grouped[a:b, 0]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    print(
        f"{case} {sim.body.count:,} particles, {len(cost)} blocks ({', '.join(str(int(n)) for n in plan.block_particles)} "
        f"particles): CPU ms per block of the force pass {', '.join(f'{x:.3f}' for x in cost)}; 2 threads, equal "
        f"counts {equal[0]:.3f} / {equal[1]:.3f}, scheduled groups {' / '.join(f'{x:.3f}' for x in shares)} "
        f"(even split {sum(cost) / 2:.3f}); load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def split_runs(law, length: int):
    """The law's (runs, run_chunks, pair plan) with its frame's runs split at ``length`` particles."""
    from physics import lattice as lat_module
    from physics.laws.pmb_kernels import PairPlan

    frame = law.body.lattice.frame
    saved = lat_module.RUN_LENGTH
    lat_module.RUN_LENGTH = length
    try:
        runs = lat_module.runs_of(frame.cells, int(np.prod(frame.shape)), int(frame.flat_offset.max()))
    finally:
        lat_module.RUN_LENGTH = saved
    chunks = lat_module.run_chunks_of(runs, frame.count)
    view = dataclasses.replace(frame, runs=runs, run_chunks=chunks)
    return runs, chunks, PairPlan(law.body.lattice, view, law.order)


def _use_runs(law, setup) -> None:
    frame = law.body.lattice.frame
    frame.runs, frame.run_chunks, law._plan = setup


def compare_runs(case: str, grid: VoxelGrid, job: Job, length: int, evals: int, repeats: int) -> None:
    """One evaluation with the frame's runs as built (RUN_LENGTH) against runs split at ``length``, alternating."""
    from physics.lattice import RUN_LENGTH

    for precision in ("float32", "float64"):
        sim = simulation(grid, job, precision)
        law = sim.law
        frame = law.body.lattice.frame
        setups = {RUN_LENGTH: (frame.runs, frame.run_chunks, law._plan), length: split_runs(law, length)}
        forces, wall, cpu = {}, {k: [] for k in setups}, {k: [] for k in setups}

        for key in setups:
            _use_runs(law, setups[key])
            time_evals(sim, True, 1)  # compile, warm
            forces[key] = sim.force.copy()
        load0 = os.getloadavg()[0]
        for _ in range(repeats):
            for key in setups:
                _use_runs(law, setups[key])
                c = time.process_time()
                wall[key].append(time_evals(sim, True, evals))
                cpu[key].append((time.process_time() - c) / evals)
        _use_runs(law, setups[RUN_LENGTH])
        load1 = os.getloadavg()[0]
        diff = float(np.abs(forces[RUN_LENGTH] - forces[length]).max() / np.abs(forces[length]).max())
        ratios = [a / b for a, b in zip(cpu[RUN_LENGTH], cpu[length], strict=True)]
        print(
            f"{case} {type(law).__name__} {precision} {sim.body.count:,} particles: runs <= {RUN_LENGTH} "
            f"({len(setups[RUN_LENGTH][0]):,}) {statistics.median(wall[RUN_LENGTH]) * 1e3:.2f} ms wall "
            f"{statistics.median(cpu[RUN_LENGTH]) * 1e3:.2f} ms CPU, runs <= {length} ({len(setups[length][0]):,}) "
            f"{statistics.median(wall[length]) * 1e3:.2f} ms wall {statistics.median(cpu[length]) * 1e3:.2f} ms CPU per "
            f"evaluation; CPU x{statistics.median(ratios):.2f} (per repeat {', '.join(f'{r:.2f}' for r in ratios)}); "
            f"max |difference| / max |force| {diff:.1e}; load {load0:.1f}-{load1:.1f}",
            flush=True,
        )


def compare_coarse(repeats: int, solves: int = 200) -> None:
    """The failure test's Galerkin coarse level of the cantilever (fab's failure test up to its build:
    Newton.coarse_level about the unloaded state): its direct solve (multigrid.Level.direct, a banded factor where
    the bandwidth allows) against the dense Cholesky factor of the same assembled matrix, alternating."""
    import bench_failure as bf
    import scipy.linalg

    from physics import multigrid as mg
    from physics import newton

    def coarse(sim, *args, **kwargs):
        solver = newton.newton_for(sim)
        solver.coarse_level()
        raise _Built(solver.mg.levels[-1])

    class _Built(Exception):
        pass

    bf.failure_test = coarse
    try:
        bf.case_cantilever(0.5)
        raise SystemExit("no Galerkin level built")
    except _Built as built:
        level = built.args[0]
    dense = scipy.linalg.cho_factor(level.assembled())

    def by_dense(r: np.ndarray) -> np.ndarray:
        z = np.zeros(3 * level.count)
        with mg._one_blas_thread():
            z[level.dofs] = scipy.linalg.cho_solve(dense, r.reshape(-1)[level.dofs], check_finite=False)
        return z.reshape(-1, 3)

    r = np.random.default_rng(0).standard_normal((level.count, 3)) * level.free
    diff = float(np.abs(level.direct(r) - by_dense(r)).max() / np.abs(by_dense(r)).max())
    cpu: dict[str, list[float]] = {"level": [], "dense": []}
    load0 = os.getloadavg()[0]
    for _ in range(repeats):
        for name, solve in (("level", level.direct), ("dense", by_dense)):
            c = time.process_time()
            for _ in range(solves):
                solve(r)
            cpu[name].append((time.process_time() - c) / solves)
    load1 = os.getloadavg()[0]
    ratios = [a / b for a, b in zip(cpu["dense"], cpu["level"], strict=True)]
    kind = f"banded (band {level.factor[0].shape[0] - 1})" if level.banded else "dense"
    print(
        f"cantilever Galerkin level {len(level.dofs):,} dofs, its factor {kind}: {statistics.median(cpu['level']) * 1e3:.3f} "
        f"ms CPU per solve, dense factor {statistics.median(cpu['dense']) * 1e3:.3f} ms: x{statistics.median(ratios):.1f} "
        f"(per repeat {', '.join(f'{x:.1f}' for x in ratios)}); max |difference| / max |z| {diff:.1e}; "
        f"load {load0:.1f}-{load1:.1f}",
        flush=True,
    )


def compare_stress(grid: VoxelGrid, job: Job, repeats: int) -> None:
    """LPS.stress (one numba pass, physics/laws/lps_kernels.py lps_stress) against the chunked numpy formula it
    replaced (LPS._states, still the strain energy's), alternating: CPU seconds a call, the median ratio."""
    sim = simulation(grid, job, "float64")
    law = sim.law

    def by_numpy() -> np.ndarray:
        out = np.zeros((law.body.count, 3, 3))
        for sl, y, r, vw, _theta, _beta, _ed, t in law._states(sim):
            out[sl] = np.einsum("mba,bc->mac", (vw * t / np.maximum(r, 1e-300))[:, :, None] * y, law._xi)
        return out

    diff = float(np.abs(law.stress(sim) - by_numpy()).max() / np.abs(by_numpy()).max())
    cpu: dict[str, list[float]] = {"kernel": [], "numpy": []}
    load0 = os.getloadavg()[0]
    for _ in range(repeats):
        for name, call in (("kernel", lambda: law.stress(sim)), ("numpy", by_numpy)):
            c = time.process_time()
            call()
            cpu[name].append(time.process_time() - c)
    load1 = os.getloadavg()[0]
    ratios = [a / b for a, b in zip(cpu["numpy"], cpu["kernel"], strict=True)]
    print(
        f"LPS.stress, {sim.body.count:,} particles: kernel {statistics.median(cpu['kernel']):.3f} s CPU, numpy "
        f"{statistics.median(cpu['numpy']):.3f} s: x{statistics.median(ratios):.1f}; max |difference| / max |stress| "
        f"{diff:.1e}; load {load0:.1f}-{load1:.1f}",
        flush=True,
    )


def compare_break_pass(case: str, grid: VoxelGrid, job: Job, evals: int, repeats: int) -> None:
    """A failure test's break check by the law's break-only pass (physics/laws/break_kernels.py, LPS
    .break_over_limit) against the whole float64 evaluation it replaces (physics/newton.py's BREAK_PASS),
    alternating: CPU ms each and the median ratio. The state has no bond near its limit, as nearly all of a
    check's particles (the clearing pass runs only where a bond is over)."""
    sim = simulation(grid, job, "float64")
    law = sim.law
    cpu: dict[str, list[float]] = {"evaluation": [], "break pass": []}
    calls = {"evaluation": lambda: law.compute(sim), "break pass": lambda: law.break_over_limit(sim)}
    for call in calls.values():
        call()  # compile, warm
    load0 = os.getloadavg()[0]
    for _ in range(repeats):
        for name, call in calls.items():
            c = time.process_time()
            for _ in range(evals):
                call()
            cpu[name].append((time.process_time() - c) / evals)
    load1 = os.getloadavg()[0]
    ratios = [a / b for a, b in zip(cpu["break pass"], cpu["evaluation"], strict=True)]
    print(
        f"{case} {type(law).__name__} float64 {sim.body.count:,} particles: evaluation "
        f"{statistics.median(cpu['evaluation']) * 1e3:.2f} ms CPU, break-only pass {statistics.median(cpu['break pass']) * 1e3:.2f} "
        f"ms: x{statistics.median(ratios):.2f} (per repeat {', '.join(f'{r:.2f}' for r in ratios)}); load {load0:.1f}-{load1:.1f}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="bracket,cantilever")
    ap.add_argument("--precisions", default="float32,float64")
    ap.add_argument("--evals", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--law", default="", help="pmb: the same bodies with the bond-based law (surface-corrected)")
    ap.add_argument("--threads", type=int, default=0, help="numba threads (default: numba's, 2 here)")
    ap.add_argument("--precision", action="store_true", help="float32 against float64 (pair kernels), alternating")
    ap.add_argument("--runs", type=int, default=0, help="runs split at RUN_LENGTH against runs split at this length")
    ap.add_argument("--coarse", action="store_true",
                    help="the failure test's Galerkin coarse solve (cantilever): its factor against a dense one")
    ap.add_argument("--stress", action="store_true", help="LPS.stress's kernel against the numpy formula")
    ap.add_argument("--blocks", action="store_true", help="CPU ms per block of the LPS pair force pass, 2-thread shares")
    ap.add_argument("--cpu", action="store_true",
                    help="CPU ms per evaluation, a breaking state and a tangent product's (pair kernels)")
    ap.add_argument("--break-pass", action="store_true",
                    help="the law's break-only pass against a float64 evaluation (a failure test's break check)")
    args = ap.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    print(f"{numba.get_num_threads()} numba threads", flush=True)
    if args.coarse:
        compare_coarse(args.repeats)
        return
    makers = {"bracket": bracket_grid, "cantilever": cantilever_grid}
    for case in args.cases.split(","):
        grid, job = makers[case]()
        if args.law:
            job = dataclasses.replace(job, physics=dataclasses.replace(job.physics, model=args.law))
        if args.stress:
            compare_stress(grid, job, args.repeats)
            continue
        if args.precision:
            compare_precisions(case, grid, job, args.evals, args.repeats)
            continue
        if args.blocks:
            block_costs(case, grid, job, args.evals, args.repeats)
            continue
        if args.cpu:
            cpu_per_evaluation(case, grid, job, args.evals, args.repeats)
            continue
        if args.break_pass:
            compare_break_pass(case, grid, job, args.evals, args.repeats)
            continue
        if args.runs:
            compare_runs(case, grid, job, args.runs, args.evals, args.repeats)
            continue
        for precision in args.precisions.split(","):
            sim = simulation(grid, job, precision)
            forces = {}
            for pairs in (False, True):  # compile, warm, and the two kernels' forces side by side
                time_evals(sim, pairs, 1)
                forces[pairs] = sim.force.copy()
            diff = float(np.abs(forces[True] - forces[False]).max() / np.abs(forces[False]).max())
            old, new, ratios = [], [], []
            load0 = os.getloadavg()[0]
            for _ in range(args.repeats):
                a = time_evals(sim, False, args.evals)
                b = time_evals(sim, True, args.evals)
                old.append(a)
                new.append(b)
                ratios.append(a / b)
            load1 = os.getloadavg()[0]
            print(
                f"{case} {type(sim.law).__name__} {precision} {sim.body.count:,} particles: whole stencil {statistics.median(old) * 1e3:.2f} ms, "
                f"pairs {statistics.median(new) * 1e3:.2f} ms per evaluation, speed-up x{statistics.median(ratios):.2f} "
                f"(per repeat {', '.join(f'{r:.2f}' for r in ratios)}); max |difference| / max |force| {diff:.1e}; "
                f"load {load0:.1f}-{load1:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
