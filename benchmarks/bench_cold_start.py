"""Cold start on a fresh clone (issue 14): what the first ``fab simulate`` after ``make setup`` spends compiling.

    .venv/bin/python benchmarks/bench_cold_start.py            # every job, twice each, and fab --help
    .venv/bin/python benchmarks/bench_cold_start.py --jobs failure-lps-3d,static-lps-3d

A ``git clone`` of this repository's HEAD into a temporary folder (so no numba cache exists: no ``*.nbi`` /
``*.nbc``), run with this virtualenv's Python and the clone first on PYTHONPATH; there ``python -m fab.warm``
(what ``make setup`` runs), then each job's ``fab simulate JOB --json`` twice with ``NUMBA_DEBUG_CACHE=1``.
The jobs: a 20 x 4 x 4 mm bar at 1 mm, held at <X; glass failure tests (20 N along x; traced in float64, as fab
runs them) and PLA static tests (5 N along -y, in the plane of the plane-stress jobs); LPS and PMB, 3D and
plane. Each run prints its CPU seconds (user + system of the child: the machine is shared, so wall seconds
measure the queue too; printed with the load average) and how many kernels numba compiled and saved into the
cache ("data saved") or loaded from it ("data loaded"). A first run that compiles nothing costs what the second
does; target: the first spends <= 5 s more. Then ``fab --help`` five times (CPU and wall; target <= 0.5 s).
Uncommitted changes are not in the clone.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

JOB = """[part]
source = "bar.stl"
[voxels]
pitch = 1.0
[material]
name = "{material}"
[physics]
model = "{model}"
dimension = {dimension}
[[fix]]
region = "<X"
[[load]]
region = ">X"
force = {force}
[test]
kind = "{kind}"
"""
JOBS = {
    f"{kind}-{model}-{'3d' if dimension == 3 else 'plane'}": (kind, model, dimension)
    for kind in ("failure", "static")
    for model in ("lps", "pmb")
    for dimension in (3, 2)
}


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(CPU seconds of the child, wall seconds, its stdout + stderr); raises on a non-zero exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return cpu, wall, out.stdout + out.stderr


def write_jobs(folder: Path, names: list[str]) -> None:
    import trimesh

    bar = trimesh.creation.box((20.0, 4.0, 4.0))
    bar.apply_translation((10.0, 2.0, 2.0))
    bar.export(folder / "bar.stl")
    for name in names:
        kind, model, dimension = JOBS[name]
        material, force = ("Glass", "[20, 0, 0]") if kind == "failure" else ("PLA", "[0, -5, 0]")  # in plane
        text = JOB.format(material=material, model=model, dimension=dimension, force=force, kind=kind)
        (folder / f"{name}.toml").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated, of: {', '.join(JOBS)}")
    args = parser.parse_args()
    names = [n for n in args.jobs.split(",") if n]
    unknown = [n for n in names if n not in JOBS]
    if unknown:
        raise SystemExit(f"unknown jobs {', '.join(unknown)}; jobs: {', '.join(JOBS)}")
    with tempfile.TemporaryDirectory(prefix="fab-cold-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        stale = [p for p in clone.rglob("*") if p.suffix in (".nbi", ".nbc")]
        assert not stale, f"a fresh clone holds numba caches: {stale[:3]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
        env["PYTHONPATH"] = str(clone)
        jobs = Path(tmp) / "jobs"
        jobs.mkdir()
        write_jobs(jobs, names)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True)
        print(f"fresh clone of {head.stdout.strip()} in {clone}", flush=True)
        load = os.getloadavg()[0]
        cpu, wall, _ = timed([str(BIN / "python"), "-m", "fab.warm"], clone, env)
        print(f"python -m fab.warm: {cpu:.1f} s of CPU, {wall:.1f} s wall, load average {load:.2f} -> "
              f"{os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
        env["NUMBA_DEBUG_CACHE"] = "1"
        rows = []
        for name in names:
            runs = []
            for _ in range(2):
                load = os.getloadavg()[0]
                cpu, wall, text = timed([str(BIN / "fab"), "simulate", str(jobs / f"{name}.toml"), "--json"], clone,
                                        env)  # fmt: skip
                runs.append((cpu, wall, text.count("data saved"), text.count("data loaded"), load))
            rows.append((name, runs))
            (c1, w1, s1, l1, a1), (c2, w2, s2, l2, a2) = runs
            print(f"{name}: first {c1:.2f} s of CPU ({w1:.1f} wall, compiled {s1}, loaded {l1}), second {c2:.2f} "
                  f"({w2:.1f} wall, compiled {s2}, loaded {l2}), load average {a1:.2f}", flush=True)  # fmt: skip
        env.pop("NUMBA_DEBUG_CACHE")
        helps = []
        for _ in range(5):
            load = os.getloadavg()[0]
            cpu, wall, _ = timed([str(BIN / "fab"), "--help"], clone, env)
            helps.append((cpu, wall, load))
    print()
    print("| job | first run CPU s | second run CPU s | first - second | kernels compiled (first, second) | "
          "load average |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, ((c1, _, s1, _, a1), (c2, _, s2, _, _)) in rows:
        print(f"| {name} | {c1:.2f} | {c2:.2f} | {c1 - c2:+.2f} | {s1}, {s2} | {a1:.2f} |")
    worst = max((r[0][0] - r[1][0] for _, r in rows), default=0.0)
    compiled = sum(r[0][2] for _, r in rows)
    print(f"\nfirst run after set-up: at most {worst:+.2f} s of CPU over the second, {compiled} kernels compiled "
          f"(target <= 5 s)")  # fmt: skip
    cpus, walls, loads = zip(*helps, strict=True)
    print(f"fab --help: {min(cpus):.2f}-{max(cpus):.2f} s of CPU, {min(walls):.2f}-{max(walls):.2f} s wall at load "
          f"average {min(loads):.2f}-{max(loads):.2f} (target <= 0.5 s)")  # fmt: skip


if __name__ == "__main__":
    main()
