"""What the live page costs a solver: the same static test with and without ``--live`` streaming.

A cantilever bar (PMB, default 40 x 10 x 10 = 4,000 particles, or --shape) is solved to equilibrium
alternately without a live view and with one whose page is held open by a websocket client that receives every
message (a browser without its rendering, which runs in its own process and is not the solver's cost).
Both do the same iterations (the solve is deterministic); the figure is the median wall time of --repeats
runs each, and, independent of machine noise, the share of the live run spent taking snapshots (measured
inside the solver's callback and Newton's tick). The issue's targets: at most 5 %, and a page update at least
once a second while the test runs: the longest gap between two page updates from the call of the test on
(building the body, then its first frame, the reference shape; building Newton's multigrid preconditioner, whose
tick redraws it; solving), also printed for the preconditioner's build alone.

    .venv/bin/python benchmarks/bench_live.py                # ~1 min on 2 cores
    .venv/bin/python benchmarks/bench_live.py --shape 60 16 16 --repeats 3

The page cannot update inside one evaluation of the law (a numba kernel over every bond). ``--evaluation``
measures how long one takes in a static Newton solve (its residuals, median) and the solve's peak memory per
particle (VmHWM over the process's before the body, each size in a fresh process), and prints the particle count
at which one evaluation would take 0.5 s and the memory that count needs:

    .venv/bin/python benchmarks/bench_live.py --evaluation --model lps --shapes 50x25x25 100x25x25
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fab.job import Fix, Job, PartSpec, PhysicsSpec, TestSpec, VoxelSpec, parse_load_flag  # noqa: E402
from fab.live.server import LiveServer  # noqa: E402
from fab.live.simulation import SimulationLive  # noqa: E402
from fab.materials import get_material  # noqa: E402
from fab.stress import run_test  # noqa: E402
from fab.voxels import VoxelGrid  # noqa: E402

DRAIN = """
import sys, viser
from websockets.sync.client import connect
with connect(sys.argv[1], subprotocols=["viser-v" + viser.__version__], max_size=None) as ws:
    print("connected", flush=True)
    try:
        while True:
            ws.recv()
    except Exception:
        pass
"""


def job_and_grid(shape: tuple[int, int, int], model: str = "pmb") -> tuple[VoxelGrid, Job]:
    grid = VoxelGrid(np.ones(shape, dtype=bool), 1.0, (0.5, 0.5, 0.5))
    job = Job(
        part=PartSpec(source=Path("bar")),
        voxels=VoxelSpec(pitch=1.0),
        material=get_material("PLA"),
        physics=PhysicsSpec(model=model),
        fix=(Fix("x < 1"),),
        load=(parse_load_flag(">X:force=0,0,-20"),),
        test=TestSpec(kind="static", tolerance=1e-4),
    )
    return grid, job


def solve(grid, job, live: bool) -> tuple[float, int, float, int, float, float]:
    """(seconds, iterations, seconds in snapshots, snapshots, longest gap between page updates from the call
    on, longest gap while Newton's preconditioner was built)."""
    if not live:
        t0 = time.perf_counter()
        report = run_test(grid, job)
        return time.perf_counter() - t0, report.steps, 0.0, 0, 0.0, 0.0
    with LiveServer("bench", quiet=True) as server:
        view = SimulationLive(server, hold=False)
        # When the page was updated, and which updates came from inside the preconditioner's build.
        shots: list[float] = []
        building: list[bool] = []
        snapshot = view._snapshot

        def timed_snapshot(sim) -> None:
            snapshot(sim)
            shots.append(time.perf_counter())
            building.append(view.label.startswith("building"))

        view._snapshot = timed_snapshot
        client = subprocess.Popen(
            [sys.executable, "-c", DRAIN, f"ws://127.0.0.1:{server.port}"], stdout=subprocess.PIPE, text=True
        )
        try:
            if client.stdout is None or client.stdout.readline().strip() != "connected":
                raise SystemExit("the websocket client did not connect")
            t0 = time.perf_counter()
            report = run_test(grid, job, live=view)
            seconds = time.perf_counter() - t0
        finally:
            client.terminate()
            client.wait(10)
        times = np.array([t0, *shots])
        gap = float(np.diff(times).max()) if len(times) > 1 else float("nan")
        # The build: from its first frame (the reference shape) to the first update after it.
        inside = [i for i, b in enumerate(building) if b]
        build = times[inside[0] + 1 : inside[-1] + 3] if inside else times[:0]
        build_gap = float(np.diff(build).max()) if len(build) > 1 else float("nan")
        return seconds, report.steps, view.throttle.spent, view.throttle.count, gap, build_gap


def _high_water() -> int:
    """Peak resident memory of this process (bytes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no VmHWM in /proc/self/status")


def evaluation_child(shape: tuple[int, int, int], model: str) -> None:
    """One size in this (fresh) process: print particles, median seconds per residual, peak bytes per particle."""
    from physics import newton

    small, small_job = job_and_grid((12, 4, 4), model)
    run_test(small, small_job)  # imports and numba's caches
    base = _high_water()
    grid, job = job_and_grid(shape, model)
    seconds: list[float] = []
    residual = newton.Newton.residual

    def timed(self):
        t0 = time.perf_counter()
        out = residual(self)
        seconds.append(time.perf_counter() - t0)
        return out

    newton.Newton.residual = timed
    kept: list = []
    newton_for = newton.newton_for
    newton.newton_for = lambda sim, tick=None: kept.append(sim) or newton_for(sim, tick)
    run_test(grid, job)
    peak = (_high_water() - base) / grid.count
    # The observed path on a body over GROUP_PARTICLES: the kernels in groups (state.between after each) against
    # one call, on the solved state, alternated.
    from physics.laws import base as laws

    sim = kept[0]
    laws.GROUP_PARTICLES = max(1, grid.count // 3)
    one, grouped = [], []
    for _ in range(5):
        for between, out in ((None, one), (lambda: None, grouped)):
            sim.between = between
            t0 = time.perf_counter()
            sim.law.compute(sim)
            out.append(time.perf_counter() - t0)
    print(grid.count, statistics.median(seconds), peak, statistics.median(grouped) / statistics.median(one))


def evaluation(shapes: list[str], model: str) -> None:
    rows = []
    for text in shapes:
        shape = [int(v) for v in text.lower().split("x")]
        out = subprocess.run(
            [sys.executable, __file__, "--evaluation-child", *map(str, shape), "--model", model],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        n, sec, per, ratio = out.stdout.split()[-4:]
        rows.append((int(n), float(sec), float(per), float(ratio)))
    load = open("/proc/loadavg").read().split()[0]
    print(f"bench_live --evaluation: one evaluation of the {model.upper()} law in a static Newton solve of a bar "
          f"(residuals, median), peak memory of the solve (load average {load})")  # fmt: skip
    for n, sec, per, ratio in rows:
        print(f"  {n:>9,} particles  {1e3 * sec:8.1f} ms an evaluation ({1e9 * sec / n:6.0f} ns a particle), "
              f"{per:6.0f} bytes a particle at the solve's peak; the law's kernels in 3 groups (observed, "
              f"physics.laws.base.chunk_groups) {ratio:.3f} x one call")  # fmt: skip
    n, sec, per, _ = rows[-1]
    at = 0.5 * n / sec
    print(f"  one evaluation takes 0.5 s at about {at / 1e6:.2f} M particles (linear from the largest), whose solve "
          f"needs about {at * per / 2**30:.1f} GiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(40, 10, 10), help="bar voxels (1 mm)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evaluation", action="store_true", help="time one evaluation of the law (see above)")
    parser.add_argument("--shapes", nargs="+", default=["50x25x25", "100x25x25"], help="--evaluation's bars")
    parser.add_argument("--model", default="lps", help="--evaluation's law (pmb, lps)")
    parser.add_argument("--evaluation-child", type=int, nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.evaluation_child:
        evaluation_child(tuple(args.evaluation_child), args.model)
        return
    if args.evaluation:
        evaluation(args.shapes, args.model)
        return
    grid, job = job_and_grid(tuple(args.shape))
    solve(grid, job, False)  # warm numba's caches and the imports
    plain, live, shares, gaps, build_gaps = [], [], [], [], []
    steps = set()
    snapshots = 0
    for _ in range(args.repeats):
        s, n, *_ = solve(grid, job, False)
        plain.append(s)
        steps.add(n)
        s, n, spent, count, gap, build_gap = solve(grid, job, True)
        live.append(s)
        steps.add(n)
        shares.append(spent / s)
        gaps.append(gap)
        build_gaps.append(build_gap)
        snapshots = count
    if len(steps) != 1:
        raise SystemExit(f"the runs did different work (iterations {sorted(steps)}): no comparison")
    p, q = statistics.median(plain), statistics.median(live)
    share = statistics.median(shares)
    print(f"bench_live: static test, bar {args.shape[0]}x{args.shape[1]}x{args.shape[2]} = {grid.count:,} particles (PMB), "
          f"{steps.pop():,} solver steps (Newton: evaluations of the law), {args.repeats} runs each, median wall time")
    print(f"  without live view      {p:8.3f} s")
    print(f"  with live view + client{q:8.3f} s  ({snapshots} snapshots, {snapshots / q:.1f} a second)")
    print(f"  wall-time overhead     {100 * (q - p) / p:+8.2f} %   (machine noise included)")
    print(f"  time in snapshots      {100 * share:8.2f} %   of the live run (target <= 5 %)")
    print(f"  longest gap            {max(gaps):8.2f} s   between page updates from the call on, worst run (target < 1 s)")
    print(f"    of which in the build{max(build_gaps):8.2f} s   (Newton's multigrid preconditioner; nan: no multigrid)")
    print(f"  load average           {open('/proc/loadavg').read().split()[0]:>8}")


if __name__ == "__main__":
    main()
