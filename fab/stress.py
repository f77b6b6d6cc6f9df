"""Stress testing a part: voxels -> particles -> a static, failure, shear or impact test -> a report.

The entry points (``simulate``, ``stress_test``, ``run_test``) and the report. The seams are one module each:

- fab.model: the particle body, its point sets, force law and conditions (mm <-> SI conversion, once);
- fab.equilibrium: the quasi-static driver (multigrid or adaptive dynamic relaxation), failure watching, fields;
- fab.failure, fab.shear, fab.impact: the tests other than ``static``;
- fab.report: tables, VTU/PVD and PNG.

Tests: ``static`` (equilibrium at the full loads; bonds may break), ``failure`` (loads multiplied until a crack
cuts the part: failure load and safety factor), ``shear`` (prescribed offset: stiffness and strength), ``impact``
(explicit dynamics). Units: mm, N, N*m, m/s on this side; stresses in Pa.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fab.equilibrium import (
    DEFAULT_MAX_STEPS,
    Progress,
    equilibrium,
    not_converged_note,
    state_fields,
    watch_static,
)
from fab.errors import FabError
from fab.failure import failure_test
from fab.impact import impact_test
from fab.job import (
    DEFAULT_COUNT,
    DEFAULT_HORIZON,
    TESTS,
    Fix,
    Job,
    Load,
    PartSpec,
    PhysicsSpec,
    TestSpec,
    VoxelSpec,
    models,
    parse_load_flag,
)
from fab.live.stop import LiveStopped
from fab.materials import Material, get_material
from fab.model import bind_base, build_model, check_supported, make_conditions, make_law
from fab.progress import StageTimer
from fab.regions import parse_region
from fab.shear import shear_test
from fab.voxels import VoxelGrid

FLOAT32_TOLERANCE = 1e-4  # the float32 bond forces' resolution of the residual (physics/newton.py)


@dataclass
class StressReport:
    """What a stress test found. Scalar results are named as in ``fab simulate --json``'s ``result``.

    Per-particle arrays (``points_mm`` reference centres, ``displacement_mm``, ``damage`` 0..1, ``von_mises_pa``,
    ``fragment_id``) describe the final state: the service load for static tests, the first failed state of a
    failure test, the last increment of a shear test, the end of an impact.
    """

    test: str
    model: str
    dimension: int
    material: Material
    pitch_mm: float
    particles: int
    bonds: int
    steps: int
    converged: bool
    max_displacement_mm: float
    max_von_mises_pa: float
    reaction_force_n: list[float]
    broken_bond_fraction: float
    fragments: int
    failure_load_n: float | None
    safety_factor: float | None
    points_mm: np.ndarray
    displacement_mm: np.ndarray
    damage: np.ndarray
    von_mises_pa: np.ndarray
    fragment_id: np.ndarray
    part_volume_mm3: float | None = None
    bbox_mm: list[list[float]] | None = None
    thickness_mm: float | None = None
    failure_load_factor: float | None = None
    failure_torque_nm: float | None = None
    shear_stiffness_n_per_mm: float | None = None
    shear_strength_n: float | None = None
    curve: list[dict[str, float]] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    residual: float | None = None  # the solver's last RMS residual (relative to the bond forces)
    tolerance: float | None = None  # the residual it had to reach
    # How the person sets the solver's iteration cap, in the words of the interface they use: "steps=" (Python),
    # "--steps" (fab simulate), "[test] steps" (a job file). Not-converged messages tell them what to raise.
    steps_setting: str = "steps="
    convergence: Any = None  # a fab.convergence.ConvergenceStudy when the test was refined (--converge)

    def result_dict(self) -> dict[str, Any]:
        """The ``result`` object of ``fab simulate --json``."""
        out = {
            "test": self.test,
            "max_displacement_mm": self.max_displacement_mm,
            "max_von_mises_pa": self.max_von_mises_pa,
            "reaction_force_n": self.reaction_force_n,
            "broken_bond_fraction": self.broken_bond_fraction,
            "fragments": self.fragments,
            "failure_load_n": self.failure_load_n,
            "safety_factor": self.safety_factor,
        }
        if self.test == "failure":
            out["failure_load_factor"] = self.failure_load_factor
            out["failure_torque_nm"] = self.failure_torque_nm
        if self.test == "shear":
            out["shear_stiffness_n_per_mm"] = self.shear_stiffness_n_per_mm
            out["shear_strength_n"] = self.shear_strength_n
        if self.curve:
            out["curve"] = self.curve
        if self.notes:
            out["notes"] = self.notes
        return out

    def physics_dict(self) -> dict[str, Any]:
        """The ``physics`` object of ``fab simulate --json``."""
        return {
            "model": self.model,
            "dimension": self.dimension,
            "material": self.material.name,
            "particles": self.particles,
            "bonds": self.bonds,
            "steps": self.steps,
            "converged": self.converged,
            "seconds": round(self.seconds, 4),
        }

    def as_dict(self) -> dict[str, Any]:
        """Scalars only (no per-particle arrays), JSON-ready."""
        return {
            "part": {"volume_mm3": self.part_volume_mm3, "bbox_mm": self.bbox_mm},
            "voxels": {"pitch_mm": self.pitch_mm, "count": self.particles},
            "physics": self.physics_dict(),
            "result": self.result_dict(),
        }

    def summary(self) -> str:
        """A few readable lines (plain text)."""
        from fab.report import summary_lines

        return "\n".join(summary_lines(self))

    def __str__(self) -> str:
        return self.summary()

    @property
    def not_converged(self) -> str | None:
        """None when the solve converged; else the NOT CONVERGED line (why, the residual, what to raise)."""
        from fab.report import not_converged

        return not_converged(self)

    def show(self) -> None:
        """Print the summary table on the terminal (stderr stays free for progress)."""
        from fab.report import print_summary

        print_summary(self)

    def save_vtk(self, path: str | os.PathLike[str]) -> Path:
        """Write the particles and their fields as ``.vtu`` (or a ``.pvd`` series for an impact)."""
        from fab.report import write_results

        return write_results(self, path)

    def save_curve_png(self, path: str | os.PathLike[str]) -> Path:
        """A failure test's load-displacement curve as a PNG."""
        from fab.report import save_curve_png

        return save_curve_png(self, path)

    def save_png(self, path: str | os.PathLike[str], field: str | None = None) -> Path:
        """Render the deformed part coloured by von Mises stress (or ``field="damage"``) to a PNG."""
        from fab.report import render_png

        return render_png(self, path, field=field)


def failure_in_float64(sim) -> bool:
    """True when a failure test traces its load path by Newton (fab.failure) and the law computes in float64."""
    from fab import equilibrium
    from physics import newton

    return equilibrium.NEWTON and newton.supports(sim) and "float64" in getattr(sim.law, "precisions", ())


def run_test(
    grid: VoxelGrid, job: Job, *, quiet: bool = True, live: Any = None, lines: str | None = None
) -> StressReport:
    """Build the body of ``grid`` and run the job's test; returns the report (raises FabError on bad input).
    ``lines``: progress as plain stderr lines headed by this label instead of a bar (a test in a worker process).

    ``live`` (a :class:`fab.live.simulation.SimulationLive`) shows the run in the browser and takes its
    controls: pause, stop (the results so far are reported), and for a static test a new load factor, solved
    from the current state."""
    from physics import Simulation

    start = time.perf_counter()
    material = job.material
    if job.physics.model not in models():
        raise FabError(f"unknown model {job.physics.model!r}: use one of {', '.join(models())}")
    if job.test.kind not in TESTS:
        raise FabError(f"unknown test {job.test.kind!r}: use one of {', '.join(TESTS)}")
    model = build_model(grid, job, material)
    check_supported(job, model)
    body = model.body
    law, law_notes = make_law(job.physics, material, body.lattice)
    loads = make_conditions(model, job, material)
    damping = 0.0
    # The float32 bond kernels resolve the out-of-balance force to about FLOAT32_TOLERANCE of the bond forces: a
    # tighter tolerance computes them in float64 (physics: Simulation precision), where the law can.
    precise = (
        job.test.kind != "impact"
        and job.test.tolerance < FLOAT32_TOLERANCE
        and "float64" in getattr(law, "precisions", ())
    )
    sim = Simulation(body, law, loads.conditions, damping=damping, precision="float64" if precise else None)
    bind_base(loads)
    notes = model.notes + law_notes
    if precise:
        notes.append(
            f"tolerance {job.test.tolerance:g} is below what float32 bond forces resolve (about "
            f"{FLOAT32_TOLERANCE:g}): bond forces computed in float64"
        )
    elif job.test.kind == "failure" and failure_in_float64(sim):
        # Newton's tangent products are finite differences of the law: in float32 their rounding is a tenth of
        # a settle round's residual, CG stalls on it and each round costs several times the iterations (with
        # the trace's other changes: a 4,800-particle LPS cantilever's failure test 32,673 law evaluations
        # instead of 83,799, the same failure load within 0.2 %).
        sim.set_precision("float64")
        notes.append("failure test in float64 (Newton's residuals and tangent products; its preconditioner and "
                     "settle steps in float32)")  # fmt: skip
    test = job.test
    max_steps = test.steps or DEFAULT_MAX_STEPS
    extra: dict[str, Any] = {}
    if live is not None:
        live.attach(sim, model, loads, test.kind)
    with Progress(quiet, live, lines) as progress:
        if test.kind == "static":
            factor, steps = 1.0, 0
            while True:
                converged, done, reason = equilibrium(
                    sim,
                    max_steps,
                    test.tolerance,
                    progress,
                    "static equilibrium" if factor == 1.0 else f"static equilibrium at load x{factor:g}",
                    lambda: watch_static(sim, model),
                    notes,
                )
                steps += done
                # The live view may ask for another load factor, solved from the current state.
                new_factor = live.next_load_factor(converged) if live is not None else None
                if new_factor is None:
                    break
                factor = new_factor
                loads.scale(factor)
            if factor != 1.0:
                notes.append(f"loads at {factor:g} x the job's (set in the live view)")
            if not converged:
                notes.append(not_converged_note(reason, steps, test.tolerance, progress.residual))
            fields_ = state_fields(sim, model)
        else:
            try:
                if test.kind == "failure":
                    converged, steps, fields_, extra = failure_test(
                        sim, model, loads, test, max_steps, progress, notes
                    )
                elif test.kind == "shear":
                    converged, steps, fields_, extra = shear_test(sim, model, job, test, max_steps, progress, notes)
                else:
                    converged, steps, fields_, extra = impact_test(sim, model, job, material, progress)
            except LiveStopped as stop:  # the person stopped it: report the state it had reached
                converged, steps, fields_, extra = False, stop.step, state_fields(sim, model), {}
                notes.append(f"stopped from the live view ({stop.label}): results are that state's")
    bonds = int(sim.initial_bond_count.sum()) // 2
    return StressReport(
        test=test.kind,
        model=job.physics.model,
        dimension=job.physics.dimension,
        material=material,
        pitch_mm=grid.pitch,
        particles=body.count,
        bonds=bonds,
        steps=steps,
        converged=converged,
        points_mm=model.points_mm,
        thickness_mm=model.thickness_mm,
        notes=notes,
        seconds=time.perf_counter() - start,
        residual=progress.residual,
        tolerance=test.tolerance,
        **fields_,
        **{"failure_load_n": None, "safety_factor": None, **extra},
    )


def simulate(
    job: Job,
    *,
    part=None,
    grid: VoxelGrid | None = None,
    timer: StageTimer | None = None,
    quiet: bool = False,
    live: Any = None,
) -> tuple[StressReport, Any, VoxelGrid]:
    """Import (unless ``part`` or ``grid`` is given), voxelize and stress-test the job's part.

    Returns (report, part or None, grid). ``timer`` collects the stage times (import, voxelize, simulate).
    """
    from fab.part import load_part
    from fab.voxels import voxelize

    timer = timer or StageTimer(quiet=quiet)
    if grid is None:
        if part is None:
            with timer.stage("import", f"importing {job.part.source.name}"):
                part = load_part(job.part.source, params=job.part.params or None, units=job.part.units)
        with timer.stage("voxelize", "voxelizing"):
            grid = voxelize(
                part.mesh, pitch=job.voxels.pitch, count=job.voxels.count, source_sha256=part.source_sha256
            )
    start = time.perf_counter()
    report = run_test(grid, job, quiet=quiet, live=live)
    timer.seconds["simulate"] = time.perf_counter() - start
    if part is not None:
        report.part_volume_mm3 = float(part.volume_mm3)
        report.bbox_mm = part.bbox_mm.tolist()
    else:
        lo = grid.origin - grid.pitch / 2
        hi = grid.origin + (np.array(grid.shape) - 0.5) * grid.pitch
        report.part_volume_mm3 = grid.volume_mm3
        report.bbox_mm = [lo.tolist(), hi.tolist()]
    return report, part, grid


def _as_load(item: str | Load) -> Load:
    return item if isinstance(item, Load) else parse_load_flag(item)


def stress_test(
    part,
    *,
    material: str | dict | Material = "PLA",
    pitch: float | None = None,
    count: int | None = None,
    fix: str | Sequence[str] = (),
    load: str | Load | Sequence[str | Load] = (),
    test: str = "static",
    model: str = "lps",
    dimension: int = 3,
    steps: int | None = None,
    progress: bool = False,
    converge: bool = False,
    max_particles: int | None = None,
    steps_setting: str = "steps=",
    **test_options: Any,
) -> StressReport:
    """Stress-test a part from Python (the CadQuery plugin's ``.stress_test`` calls this).

    ``part``: a file path, a CadQuery Workplane/Shape, a :class:`fab.part.Part` or a voxel grid. ``fix``: region
    expressions; ``load``: ``"REGION:force=Fx,Fy,Fz"`` (N), ``torque=`` (N*m), ``displacement=`` (mm),
    ``velocity=`` (m/s) strings or :class:`fab.job.Load`. ``test_options``: the other ``[test]`` keys
    (tolerance, increments, max_factor, duration, frames, initial_velocity). ``converge=True`` reruns the test at
    pitch / 1.4, / 1.4^2 ... until the results change by less than 2 % or the next run would pass
    ``max_particles`` (default 200,000): the finest run's report is returned, its ``convergence`` the study
    (series, extrapolated values, what stopped it; fab/convergence.py). ``steps_setting``: how the caller's
    user raises the iteration cap (``steps=`` here; a script passes its own flag), named by NOT CONVERGED.
    """
    from fab.part import Part, load_part

    fixes = [fix] if isinstance(fix, str) else list(fix)
    loads = [load] if isinstance(load, str | Load) else list(load)
    for f in fixes:
        parse_region(f)
    if pitch is not None and count is not None:
        raise FabError("give either pitch (mm) or count, not both")
    if model not in models():
        raise FabError(f"model must be one of {', '.join(models())}, got {model!r}")
    if test not in TESTS:
        raise FabError(f"test must be one of {', '.join(TESTS)}, got {test!r}")
    if dimension not in (2, 3):
        raise FabError(f"dimension must be 3 or 2, got {dimension!r}")
    allowed = {"tolerance", "increments", "max_factor", "duration", "frames", "initial_velocity"}
    unknown = sorted(set(test_options) - allowed)
    if unknown:
        import difflib

        keywords = sorted(allowed | {"material", "pitch", "count", "fix", "load", "test", "model", "dimension",
                                     "steps", "steps_setting", "progress", "converge", "max_particles", "force", "torque", "displacement", "velocity"})
        close = difflib.get_close_matches(unknown[0], keywords, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise FabError(f"unknown keyword {unknown[0]}{hint}; stress_test takes {', '.join(keywords)}")
    grid = part if isinstance(part, VoxelGrid) else None
    loaded_part = None
    if grid is None:
        loaded_part = part if isinstance(part, Part) else load_part(part)
    job = Job(
        part=PartSpec(source=Path(str(part)) if isinstance(part, str | os.PathLike) else Path("<object>")),
        voxels=VoxelSpec(pitch=pitch) if pitch is not None else VoxelSpec(count=count or DEFAULT_COUNT),
        material=get_material(material),
        physics=PhysicsSpec(model=model, dimension=dimension, horizon=DEFAULT_HORIZON),
        fix=tuple(Fix(f.strip()) for f in fixes),
        load=tuple(_as_load(x) for x in loads),
        test=TestSpec(kind=test, steps=steps, **test_options),
    )
    if converge:
        from fab.convergence import DEFAULT_MAX_PARTICLES
        from fab.convergence import converge as refine

        if grid is not None:
            raise FabError("converge=True refines the lattice of a part: give the part, not a voxel grid")

        def one(j: Job):
            report, _part, g = simulate(j, part=loaded_part, quiet=not progress)
            return report, g

        study = refine(job, one, max_particles=max_particles or DEFAULT_MAX_PARTICLES)
        report = study.reports[-1]
        report.convergence = study
    else:
        report, _part, _grid = simulate(job, part=loaded_part, grid=grid, quiet=not progress)
    report.steps_setting = steps_setting
    if not report.converged:  # a Python caller reading report.max_von_mises_pa should not miss it
        import warnings

        warnings.warn(report.not_converged, RuntimeWarning, stacklevel=2)
    return report
