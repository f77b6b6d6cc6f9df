"""Stress testing a part: voxels -> particles -> a static, failure, shear or impact test -> results.

The part's voxel grid becomes a peridynamic body (one particle per voxel, ``physics``), the job's regions become
point sets, its loads become conditions, and the test runs:

- ``static``: quasi-static equilibrium at the full loads (adaptive dynamic relaxation; multigrid from
  physics.relaxation.MULTIGRID_MIN particles); bonds may break.
- ``failure``: the loads are multiplied by a factor until the first fracture grows through the part (the loaded
  particles are cut off from every support, or the part runs away); the factor is bracketed by doubling, then
  bisected. ``failure_load_n`` = factor x the total service force, ``safety_factor`` = factor.
- ``shear``: a prescribed displacement of the loaded region is applied in ``increments``; the reaction along it
  gives the shear stiffness (first increment) and strength (peak force before it falls to half).
- ``impact``: explicit dynamics with prescribed velocities, an initial velocity and/or a rigid spherical
  indenter; snapshots are kept for a ``.pvd`` time series.

Units: the pipeline is in mm (geometry, displacements), N, N*m, m/s; ``physics`` is SI, so lengths are converted
here, once, in both directions. Stresses are in Pa. Bonds break at the smaller of the fracture-energy critical
stretch of the horizon (Silling & Askari 2005) and the tensile strain at the material's tensile strength,
sigma_t / E, so an un-notched part cannot be stronger than its material.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fab.errors import FabError
from fab.job import (
    DEFAULT_COUNT,
    DEFAULT_HORIZON,
    MODELS,
    TESTS,
    Fix,
    Job,
    Load,
    PartSpec,
    PhysicsSpec,
    TestSpec,
    VoxelSpec,
    parse_load_flag,
)
from fab.materials import Material, get_material
from fab.progress import StageTimer, stderr_console
from fab.regions import parse_region, select
from fab.voxels import VoxelGrid

MM = 1e-3  # metres per millimetre: the one conversion between the pipeline and physics/
# Largest share of particles allowed to be a single particle across a feature before the pitch is refused.
THIN_LIMIT = 0.02
# Equilibrium solve: default cap of iterations; seconds between checks for cracks cutting the part.
DEFAULT_MAX_STEPS = 30000
WATCH_SECONDS = 2.0
# Equilibrium: net force and moment on the part within this fraction of its loads and reactions.
BALANCE = 5e-3
# Stalled solves (float32 resolution at tiny strains): iterations without progress, accepted slack on the targets.
STALL = 2000
STALL_SLACK = 4.0
# Spread force and torque loads over the boundary layer one horizon deep behind their region.
LOAD_LAYER = True
# Failure test: bisection steps after the bracket is found (2**-5 of a doubling: about 2 % on the load).
BISECTIONS = 5
# A free displacement beyond this fraction of the part's size means it ran away (no equilibrium).
RUNAWAY = 0.2
# Indenter contact stiffness: K = INDENT_STIFFNESS * E / dx^3 (N/m^5), as LAMMPS's peri example (1e17 at
# E 14.9 GPa, dx 0.5 mm) scaled with the modulus and the lattice.
INDENT_STIFFNESS = 8.4e-4
# Approximate bytes per particle the engine needs (state, bonds, outputs): refuse bodies beyond the memory.
BYTES_PER_PARTICLE = 600


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

    def show(self) -> None:
        """Print the summary table on the terminal (stderr stays free for progress)."""
        from fab.report import print_summary

        print_summary(self)

    def save_vtk(self, path: str | os.PathLike[str]) -> Path:
        """Write the particles and their fields as ``.vtu`` (or a ``.pvd`` series for an impact)."""
        from fab.report import write_results

        return write_results(self, path)

    def save_png(self, path: str | os.PathLike[str], field: str | None = None) -> Path:
        """Render the deformed part coloured by von Mises stress (or ``field="damage"``) to a PNG."""
        from fab.report import render_png

        return render_png(self, path, field=field)


# ---- building the model -------------------------------------------------------------------------------


@dataclass
class Model:
    """The particle body of a part with its point sets (mm-side bookkeeping kept next to the SI body)."""

    body: Any
    points_mm: np.ndarray
    pitch_mm: float
    thickness_mm: float | None
    fixed: list[np.ndarray]
    loaded: list[np.ndarray]
    notes: list[str]


def _section_2d(
    grid: VoxelGrid, thickness_mm: float | None
) -> tuple[np.ndarray, np.ndarray, float, list[str]]:
    """The mid-plane (z) section of an extruded part: (occupancy 2D, origin mm, thickness mm, notes)."""
    occ = grid.occupancy
    layers = np.flatnonzero(occ.any(axis=(0, 1)))
    if len(layers) == 0:
        raise FabError("the part has no voxels")
    mid = int(layers[len(layers) // 2])
    section = occ[:, :, mid]
    notes = []
    footprint = occ[:, :, layers[0] : layers[-1] + 1]
    prismatic = float((footprint == section[:, :, None]).mean())
    if prismatic < 0.98:
        notes.append(
            f"dimension = 2 models the mid-plane section; {100 * (1 - prismatic):.1f} % of the part's voxels "
            "differ from it (the part is not a straight extrusion along z)"
        )
    thickness = thickness_mm if thickness_mm is not None else len(layers) * grid.pitch
    origin = grid.origin.copy()
    origin[2] = grid.origin[2] + mid * grid.pitch
    return section, origin, float(thickness), notes


def thin_features(
    occupancy: np.ndarray, pitch_mm: float, origin_mm: np.ndarray
) -> tuple[str, int, str] | None:
    """The worst axis along which particles are a single particle across: (axis, count, where) or None."""
    occ = occupancy
    worst = None
    for axis in range(occ.ndim):
        padded = np.pad(occ, [(1, 1) if a == axis else (0, 0) for a in range(occ.ndim)])
        before = np.take(padded, np.arange(0, occ.shape[axis]), axis=axis)
        after = np.take(padded, np.arange(2, occ.shape[axis] + 2), axis=axis)
        single = occ & ~before & ~after
        n = int(np.count_nonzero(single))
        if n and (worst is None or n > worst[1]):
            ijk = np.argwhere(single)
            lo = origin_mm[: occ.ndim] + ijk.min(axis=0) * pitch_mm
            hi = origin_mm[: occ.ndim] + ijk.max(axis=0) * pitch_mm
            span = ", ".join(f"{a} {lo[i]:.4g}..{hi[i]:.4g}" for i, a in enumerate("xyz"[: occ.ndim]))
            worst = ("xyz"[axis], n, span)
    return worst


def build_model(grid: VoxelGrid, job: Job, material: Material) -> Model:
    """Particles from the grid (2D: the mid-plane section), the regions as point sets; checks the input."""
    from physics import Body

    notes: list[str] = []
    pitch = grid.pitch
    thickness = None
    if job.physics.dimension == 2:
        occ, origin, thickness, notes2 = _section_2d(grid, job.physics.thickness)
        notes += notes2
        if thickness <= 0:
            raise FabError("dimension = 2 needs a positive thickness")
    else:
        occ, origin = grid.occupancy, grid.origin
    count = int(np.count_nonzero(occ))
    if count == 0:
        raise FabError("the part has no particles at this pitch: use a smaller pitch or a larger count")
    if count < 8:
        raise FabError(
            f"only {count} particles at pitch {pitch:g} mm: too coarse to simulate; use a smaller pitch"
        )
    limit = _memory_bytes() * 0.6
    if count * BYTES_PER_PARTICLE > limit:
        raise FabError(
            f"{count:,} particles need about {count * BYTES_PER_PARTICLE / 2**30:.1f} GiB, more than this machine "
            f"can spare ({limit / 2**30:.1f} GiB): use a larger pitch or a smaller count"
        )
    thin = thin_features(occ, pitch, origin)
    if thin is not None:
        axis, n, span = thin
        share = n / count
        message = (
            f"{n} particles ({100 * share:.1f} %) are a single particle across along {axis} (at {span} mm): "
            f"the part is too thin for pitch {pitch:g} mm (a feature needs at least 2 particles across)"
        )
        if share > THIN_LIMIT:
            raise FabError(message + "; use a pitch of at most half the feature's thickness")
        notes.append(message + "; they are simulated but their stresses are unreliable")
    spacing = pitch * MM
    body = Body.from_occupancy(
        occ,
        spacing,
        material.density,
        origin=tuple(float(o) * MM for o in origin),
        horizon_cells=job.physics.horizon,
        thickness=None if thickness is None else thickness * MM,
    )
    points = body.positions() / MM
    fixed = [np.flatnonzero(select(f.region, points, pitch_mm=pitch)) for f in job.fix]
    loaded = [np.flatnonzero(select(ld.region, points, pitch_mm=pitch)) for ld in job.load]
    held = np.zeros(count, dtype=bool)
    for idx in fixed:
        held[idx] = True
    if LOAD_LAYER:
        horizon_mm = job.physics.horizon * pitch
        loaded = [
            _boundary_layer(points, idx, horizon_mm) if ld.kind in ("force", "torque") else idx
            for ld, idx in zip(job.load, loaded, strict=True)
        ]
    for i, (ld, idx) in enumerate(zip(job.load, loaded, strict=True)):
        overlap = held[idx]
        if overlap.all():
            raise FabError(
                f"load {i + 1} region {ld.region!r} selects only fixed particles: a fixed particle cannot be loaded"
            )
        if overlap.any():
            notes.append(
                f"load {i + 1} region {ld.region!r} shares {int(overlap.sum())} particles with a fixed region; "
                f"the load acts on the other {int((~overlap).sum())}"
            )
            loaded[i] = idx[~overlap]
    return Model(body, points, pitch, thickness, fixed, loaded, notes)


def _boundary_layer(points_mm: np.ndarray, idx: np.ndarray, depth_mm: float) -> np.ndarray:
    """The region's particles and those within ``depth_mm`` of them: a load is a body force over a layer one
    horizon deep (Madenci & Oterkus 2014), since a one-particle-thick loaded layer has too few bonds behind it
    and would fail early at the load instead of where the part is weakest."""
    from scipy.spatial import cKDTree

    tree = cKDTree(points_mm)
    near = tree.query_ball_point(points_mm[idx], r=depth_mm * (1 - 1e-9), return_sorted=False)
    return np.unique(np.concatenate([idx, *[np.asarray(n, dtype=np.int64) for n in near]]))


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def make_law(
    physics: PhysicsSpec, material: Material, dimension: int, horizon_m: float
) -> tuple[Any, list[str]]:
    """The force law of the job's model for this material; notes say what the model cannot represent."""
    from physics import make_law as physics_law

    notes = []
    e, nu, g0 = material.youngs_modulus, material.poisson_ratio, material.fracture_energy
    stretch = critical_stretch(material, dimension, horizon_m)
    if physics.model == "pmb":
        fixed_nu = 0.25 if dimension == 3 else 1.0 / 3.0
        if abs(nu - fixed_nu) > 0.03:
            notes.append(
                f"the bond-based model fixes Poisson's ratio at {fixed_nu:.3g} ({material.name} has {nu:.3g}); "
                "use model = lps for the material's own"
            )
        law = physics_law(
            "pmb", youngs_modulus=e, fracture_energy=g0, critical_stretch=stretch, plane="stress"
        )
    else:
        law = physics_law(
            "lps",
            youngs_modulus=e,
            poisson_ratio=nu,
            fracture_energy=g0,
            critical_stretch=stretch,
            plane="stress",
        )
    return law, notes


def critical_stretch(material: Material, dimension: int, horizon_m: float) -> float:
    """Bond breaking stretch: min(fracture-energy stretch of the horizon, tensile strength / E).

    3D s0 = sqrt(5 G0 / (9 K delta)) and 2D plane stress s0 = sqrt(4 pi G0 / (9 E delta)) (Silling & Askari 2005,
    Ha & Bobaru 2010); the strength limit keeps an un-notched part from outliving its material's strength.
    """
    e, g0 = material.youngs_modulus, material.fracture_energy
    if dimension == 3:
        s_energy = math.sqrt(5.0 * g0 / (9.0 * material.bulk_modulus * horizon_m))
    else:
        s_energy = math.sqrt(4.0 * math.pi * g0 / (9.0 * e * horizon_m))
    return min(s_energy, material.tensile_strength / e)


@dataclass
class _Loads:
    """The job's loads as physics conditions, with their service values so they can be scaled."""

    conditions: list
    base: list[tuple[Any, str, np.ndarray]]  # (condition, attribute, service value)
    force_n: np.ndarray  # total service force (N), sum over force loads
    torque_nm: float  # total service torque magnitude (N*m)

    def scale(self, factor: float) -> None:
        for cond, attr, value in self.base:
            setattr(cond, attr, value * factor)


def make_conditions(model: Model, job: Job, material: Material) -> _Loads:
    """Fixed sets and loads (mm -> m), named "fix1", "load1", ... on the body."""
    from physics import Displacement, Fixed, Force, SphereIndenter, Torque, Velocity

    body = model.body
    conditions: list = []
    base: list = []
    for i, idx in enumerate(model.fixed, start=1):
        body.point_set(f"fix{i}", idx)
        conditions.append(Fixed(f"fix{i}"))
    force = np.zeros(3)
    torque = 0.0
    for i, (ld, idx) in enumerate(zip(job.load, model.loaded, strict=True), start=1):
        name = f"load{i}"
        body.point_set(name, idx)
        vec = np.asarray(ld.vector, dtype=float)
        if ld.kind == "force":
            cond = Force(name, tuple(vec))
            force += vec
        elif ld.kind == "torque":
            point = (
                np.asarray(ld.point, dtype=float)
                if ld.point is not None
                else model.points_mm[idx].mean(axis=0)
            )
            magnitude = float(np.linalg.norm(vec))
            cond = Torque(name, torque=magnitude, point=tuple(point * MM), axis=tuple(vec / magnitude))
            torque += magnitude
        elif ld.kind == "displacement":
            cond = Displacement(name, tuple(vec * MM))
        else:
            cond = Velocity(name, tuple(vec))
        conditions.append(cond)
    loads = _Loads(conditions, base, force, torque)
    indenter = job.test.indenter
    if indenter is not None:
        k = INDENT_STIFFNESS * material.youngs_modulus / (model.pitch_mm * MM) ** 3
        conditions.append(
            SphereIndenter(
                "all",
                center=tuple(np.asarray(indenter.center) * MM),
                radius=indenter.radius * MM,
                stiffness=k,
                velocity=tuple(indenter.velocity),
            )
        )
    return loads


def _bind_base(loads: _Loads) -> None:
    """Remember each scalable load's service value (after the simulation bound the conditions)."""
    from physics import Displacement, Force, Torque

    for cond in loads.conditions:
        if isinstance(cond, Force | Torque):
            loads.base.append((cond, "density", np.array(cond.density, dtype=float)))
        elif isinstance(cond, Displacement):
            loads.base.append((cond, "vec", np.array(cond.vec, dtype=float)))


# ---- running the tests -------------------------------------------------------------------------------


class _Progress:
    """A rich progress bar on stderr (or nothing when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        self.task = None

    def __enter__(self) -> _Progress:
        if not self.quiet:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                console=stderr_console,
                transient=True,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("simulating", total=1.0, info="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def update(self, description: str, fraction: float, info: str = "") -> None:
        if self.bar is not None:
            self.bar.update(
                self.task, description=description, completed=min(max(fraction, 0.0), 1.0), info=info
            )


def _equilibrium(
    sim,
    max_steps: int,
    tolerance: float,
    progress: _Progress,
    label: str,
    watch: Callable[[], str | None] | None = None,
    notes: list[str] | None = None,
) -> tuple[bool, int, str | None]:
    """Relax to equilibrium, showing progress and watching for failure: (converged, iterations, stop reason).

    Converged: RMS residual below ``tolerance`` (relative to the bond forces) and global force and moment
    balance within BALANCE. ``watch`` (a fragment count: costly) runs at most every WATCH_SECONDS and stops the
    solve with a reason.
    """
    from physics import relaxation

    reason: list[str | None] = [None]
    balanced = [False]
    stalled: list[float | None] = [None]
    last = [time.perf_counter()]
    best: list[float] = []  # best max(residual/tolerance, imbalance/BALANCE) at each check

    # The solvers test convergence (relax's tolerance and balance) before they call back, so the callback only
    # reports progress, accepts a stall and watches for failure.
    def callback(step: int, residual: float) -> bool:
        imbalance = relaxation.imbalance(sim)
        progress.update(
            label,
            step / max_steps,
            f"residual {residual:.1e}/{tolerance:.0e}, balance {imbalance:.1e}/{BALANCE:.0e}",
        )
        score = max(residual / tolerance, imbalance / BALANCE)
        best.append(min(score, best[-1]) if best else score)
        # The float32 displacement state bounds how well tiny strains balance: when the solve stops improving
        # (no 10 % gain over the last STALL iterations) within STALL_SLACK of the targets, that is equilibrium.
        window = STALL // 20
        if len(best) > 2 * window and best[-1] > 0.9 * best[-1 - window] and score < STALL_SLACK:
            balanced[0] = True
            stalled[0] = score
            return True
        now = time.perf_counter()
        if watch is not None and now - last[0] > WATCH_SECONDS:
            reason[0] = watch()
            # On big bodies a fragment count takes seconds (a multigrid iteration too): keep it under ~10 % of
            # the solve by waiting ten times its own cost before the next one.
            cost = time.perf_counter() - now
            last[0] = time.perf_counter() + max(0.0, 10.0 * cost - WATCH_SECONDS)
        return reason[0] is not None

    # The solver tests both measures itself (relax's tolerance and balance), so multigrid and ADR stop alike.
    res = relaxation.relax(sim, max_steps, tolerance, callback=callback, balance=BALANCE)
    if res["converged"]:
        balanced[0] = True
    elif res["stalled"]:
        balanced[0] = True
        stalled[0] = res["score"]
    if watch is not None and reason[0] is None:
        reason[0] = watch()
    if stalled[0] is not None and notes is not None:
        notes.append(
            f"{label}: balanced to {stalled[0]:.2g}x the tolerances, the resolution of the float32 state at these "
            "small strains"
        )
    return balanced[0] and reason[0] is None, res["steps"], reason[0]


def _separated(sim, model: Model) -> bool:
    """True when some loaded particle no longer hangs together with any held particle (cut off by cracks)."""
    if not model.loaded:
        return False
    count, labels = sim.fragments()
    if count == 1:
        return False
    held = np.zeros(model.body.count, dtype=bool)
    for idx in model.fixed:
        held[idx] = True
    for cond in sim.conditions:
        h = cond.held()
        if h is not None:
            held[h] = True
    supported = np.unique(labels[held])
    loaded = np.concatenate(model.loaded)
    return bool(np.isin(labels[loaded], supported, invert=True).any())


def _runaway(sim, model: Model) -> bool:
    size = float(np.ptp(model.points_mm, axis=0).max() + model.pitch_mm) * MM
    return bool(np.abs(sim.u).max() > RUNAWAY * size)


def _state(sim) -> tuple[np.ndarray, np.ndarray]:
    return sim.u.copy(), sim.bits.copy()


def _restore(sim, state: tuple[np.ndarray, np.ndarray]) -> None:
    sim.u[:] = state[0]
    sim.bits[:] = state[1]
    sim.v[:] = 0.0


def _fields(sim, model: Model) -> dict[str, Any]:
    """Per-particle output fields (mm, Pa) and the scalar results of the current state."""
    disp = sim.u / MM
    damage = sim.damage()
    vm = sim.von_mises()
    count, labels = sim.fragments()
    # Held and loaded particles carry the boundary's artificial stress: the part's maximum is taken elsewhere.
    interior = np.ones(model.body.count, dtype=bool)
    for idx in (*model.fixed, *model.loaded):
        interior[idx] = False
    for cond in sim.conditions:
        h = cond.held()
        if h is not None:
            interior[h] = False
    vm_max = float(vm[interior].max()) if interior.any() else float(vm.max())
    reaction = np.zeros(3)
    for i in range(1, len(model.fixed) + 1):
        reaction += sim.reaction(f"fix{i}")
    total = int(sim.initial_bond_count.sum())
    broken = total - int(sim._bond_counts().sum())
    return {
        "displacement_mm": disp,
        "damage": damage,
        "von_mises_pa": vm,
        "fragment_id": labels.astype(np.int32),
        "max_displacement_mm": float(np.linalg.norm(disp, axis=1).max()),
        "max_von_mises_pa": vm_max,
        "reaction_force_n": [float(r) for r in reaction],
        "broken_bond_fraction": broken / max(total, 1),
        "fragments": int(count),
    }


def _check_supported(job: Job, model: Model) -> None:
    if job.test.kind == "impact":
        return
    held = bool(model.fixed) or any(ld.kind in ("displacement", "velocity") for ld in job.load)
    if not held:
        raise FabError(
            f"a {job.test.kind} test needs a support: add a [[fix]] region (or --fix) or a displacement load"
        )
    if not job.load:
        raise FabError(
            f"a {job.test.kind} test needs a load: add a [[load]] (or --load REGION:force=Fx,Fy,Fz)"
        )
    if job.test.kind == "shear" and not any(ld.kind == "displacement" for ld in job.load):
        raise FabError(
            "a shear test prescribes a displacement: give a [[load]] with displacement = [dx, dy, dz] (mm), "
            "the largest shear offset to apply"
        )
    if job.test.kind == "failure" and not any(
        ld.kind in ("force", "torque", "displacement") for ld in job.load
    ):
        raise FabError("a failure test scales the loads: give a force, torque or displacement [[load]]")
    if any(ld.kind == "velocity" for ld in job.load):
        raise FabError(f"velocity loads belong to impact tests, not {job.test.kind} tests")


def run_test(grid: VoxelGrid, job: Job, *, quiet: bool = True) -> StressReport:
    """Build the body of ``grid`` and run the job's test; returns the report (raises FabError on bad input)."""
    from physics import Simulation

    start = time.perf_counter()
    material = job.material
    if job.physics.model not in MODELS:
        raise FabError(f"unknown model {job.physics.model!r}: use one of {', '.join(MODELS)}")
    if job.test.kind not in TESTS:
        raise FabError(f"unknown test {job.test.kind!r}: use one of {', '.join(TESTS)}")
    model = build_model(grid, job, material)
    _check_supported(job, model)
    body = model.body
    law, law_notes = make_law(job.physics, material, job.physics.dimension, body.lattice.horizon)
    loads = make_conditions(model, job, material)
    damping = 0.0
    sim = Simulation(body, law, loads.conditions, damping=damping)
    _bind_base(loads)
    notes = model.notes + law_notes
    test = job.test
    max_steps = test.steps or DEFAULT_MAX_STEPS
    extra: dict[str, Any] = {}
    with _Progress(quiet) as progress:
        if test.kind == "static":
            converged, steps, reason = _equilibrium(
                sim,
                max_steps,
                test.tolerance,
                progress,
                "static equilibrium",
                lambda: _watch_static(sim, model),
                notes,
            )
            if not converged:
                notes.append(_not_converged(reason, steps, test.tolerance))
            fields_ = _fields(sim, model)
        elif test.kind == "failure":
            converged, steps, fields_, extra = _failure(sim, model, loads, test, max_steps, progress, notes)
        elif test.kind == "shear":
            converged, steps, fields_, extra = _shear(sim, model, job, test, max_steps, progress, notes)
        else:
            converged, steps, fields_, extra = _impact(sim, model, job, material, progress)
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
        **fields_,
        **{"failure_load_n": None, "safety_factor": None, **extra},
    )


def _watch_static(sim, model: Model) -> str | None:
    if _separated(sim, model):
        return "cracks cut the loaded region off its supports: the part fails under this load"
    if _runaway(sim, model):
        return "displacements ran away (no equilibrium): the part fails or is not held"
    return None


def _not_converged(reason: str | None, steps: int, tolerance: float) -> str:
    if reason is not None:
        return f"no equilibrium after {steps} iterations: {reason}"
    return (
        f"did not reach equilibrium within {steps} iterations (tolerance {tolerance:g}); results are the last "
        "iterate: raise [test] steps"
    )


def _failure(
    sim, model, loads: _Loads, test: TestSpec, max_steps: int, progress: _Progress, notes: list[str]
):
    """Bracket the failure load factor by doubling (or halving), then bisect; state restored between tries."""
    curve: list[dict[str, float]] = []
    total_steps = 0

    def attempt(factor: float, label: str) -> tuple[bool, int]:
        loads.scale(factor)
        ok, steps, reason = _equilibrium(
            sim, max_steps, test.tolerance, progress, label, lambda: _watch_static(sim, model)
        )
        failed = (not ok) or _separated(sim, model)
        curve.append(
            {
                "factor": factor,
                "max_displacement_mm": float(np.abs(sim.u).max() / MM),
                "broken_bond_fraction": float(
                    1.0 - sim._bond_counts().sum() / max(int(sim.initial_bond_count.sum()), 1)
                ),
                "failed": float(failed),
            }
        )
        return failed, steps

    unloaded = _state(sim)
    service_failed, steps = attempt(1.0, "service load")
    total_steps += steps
    service = _fields(sim, model)
    lo_state = _state(sim)
    if service_failed:
        lo, hi, hi_state = 0.0, 1.0, _state(sim)
        lo_state = unloaded
        factor = 1.0
        while True:
            factor *= 0.5
            if factor < 1.0 / test.max_factor:
                notes.append(f"the part fails even at 1/{test.max_factor:g} of the service load")
                lo = 0.0
                break
            _restore(sim, lo_state)
            failed, steps = attempt(factor, f"load x{factor:.3g}")
            total_steps += steps
            if failed:
                hi, hi_state = factor, _state(sim)
            else:
                lo, lo_state = factor, _state(sim)
                break
    else:
        lo, hi, hi_state = 1.0, None, None
        factor = 1.0
        while hi is None:
            factor *= 2.0
            if factor > test.max_factor:
                break
            _restore(sim, lo_state)
            failed, steps = attempt(factor, f"load x{factor:.3g}")
            total_steps += steps
            if failed:
                hi, hi_state = factor, _state(sim)
            else:
                lo, lo_state = factor, _state(sim)
    if hi is None:
        notes.append(f"no failure up to {test.max_factor:g} x the service load ([test] max_factor)")
        _restore(sim, lo_state)
        fields_ = _fields(sim, model)
        extra = {"curve": curve, "failure_load_factor": None}
        return True, total_steps, {**fields_, **_service(service)}, extra
    for _ in range(BISECTIONS if lo > 0 else 0):
        mid = 0.5 * (lo + hi)
        _restore(sim, lo_state)
        failed, steps = attempt(mid, f"load x{mid:.3g}")
        total_steps += steps
        if failed:
            hi, hi_state = mid, _state(sim)
        else:
            lo, lo_state = mid, _state(sim)
    _restore(sim, hi_state)
    failed_fields = _fields(sim, model)
    factor = 0.5 * (lo + hi)
    force = float(np.linalg.norm(loads.force_n))
    extra = {
        "curve": curve,
        "failure_load_factor": factor,
        "safety_factor": factor,
        "failure_load_n": factor * force if force > 0 else None,
        "failure_torque_nm": factor * loads.torque_nm if loads.torque_nm > 0 else None,
    }
    notes.append(f"failure between {lo:.4g} and {hi:.4g} x the service load")
    fields_ = {**failed_fields, **_service(service)}
    return True, total_steps, fields_, extra


def _service(service: dict[str, Any]) -> dict[str, Any]:
    """The scalar results at the service load (the arrays stay those of the failed state)."""
    keys = (
        "max_displacement_mm",
        "max_von_mises_pa",
        "reaction_force_n",
        "broken_bond_fraction",
        "fragments",
    )
    return {k: service[k] for k in keys}


def _shear(sim, model, job: Job, test: TestSpec, max_steps: int, progress: _Progress, notes: list[str]):
    """Apply the displacement loads in increments; stiffness from the first, strength = peak reaction."""
    index = next(i for i, ld in enumerate(job.load) if ld.kind == "displacement")
    direction = np.asarray(job.load[index].vector, dtype=float)
    offset_mm = float(np.linalg.norm(direction))
    if offset_mm == 0:
        raise FabError("the shear displacement is zero: give the largest offset to apply, in mm")
    direction /= offset_mm
    name = f"load{index + 1}"
    curve: list[dict[str, float]] = []
    peak, total_steps, converged = 0.0, 0, True
    stiffness = None
    n = test.increments
    loads = _Loads(sim.conditions, [], np.zeros(3), 0.0)
    _bind_base(loads)
    for k in range(1, n + 1):
        loads.scale(k / n)
        ok, steps, reason = _equilibrium(
            sim, max_steps, test.tolerance, progress, f"shear {k}/{n}", lambda: _watch_static(sim, model)
        )
        total_steps += steps
        # Force the driver exerts on the part along the shear direction.
        force = float(sim.reaction(name) @ direction)
        delta = offset_mm * k / n
        curve.append({"displacement_mm": delta, "force_n": force, "converged": float(ok)})
        if k == 1:
            stiffness = force / delta
        peak = max(peak, force)
        if reason is not None or _separated(sim, model) or (peak > 0 and force < 0.5 * peak):
            notes.append(f"sheared through at {delta:.4g} mm (increment {k} of {n})")
            break
        converged = converged and ok
    else:
        if curve and curve[-1]["force_n"] >= peak:
            notes.append(
                f"the force still rises at the largest offset {offset_mm:g} mm: the shear strength is at least "
                f"{peak:.4g} N (give a larger displacement to find it)"
            )
            peak_value = None
        else:
            peak_value = peak
        extra = {"curve": curve, "shear_stiffness_n_per_mm": stiffness, "shear_strength_n": peak_value}
        return converged, total_steps, _fields(sim, model), extra
    extra = {"curve": curve, "shear_stiffness_n_per_mm": stiffness, "shear_strength_n": peak}
    return converged, total_steps, _fields(sim, model), extra


def _impact(sim, model, job: Job, material: Material, progress: _Progress):
    """Explicit dynamics for the test's duration, keeping ``frames`` snapshots."""
    test = job.test
    if test.initial_velocity is not None:
        sim.v[sim.free] = np.asarray(test.initial_velocity, dtype=float)
    dt = sim.stable_time_step()
    size = float(np.ptp(model.points_mm, axis=0).max() + model.pitch_mm) * MM
    wave = material.wave_speed
    duration = test.duration if test.duration is not None else 10.0 * size / wave
    total = test.steps or max(1, int(math.ceil(duration / dt)))
    frames = min(test.frames, total)
    per_frame = [total // frames + (1 if i < total % frames else 0) for i in range(frames)]
    snapshots: list[dict[str, Any]] = []
    done = 0
    for i, steps in enumerate(per_frame):
        res = sim.run(steps, dt=dt)
        done += steps
        progress.update("impact", done / total, f"t = {res.time * 1e6:.1f} us")
        _count, labels = sim.fragments() if i == frames - 1 else (0, None)
        snapshots.append(
            {
                "time_s": float(res.time),
                "displacement_mm": (sim.u / MM).astype(np.float32),
                "damage": res.damage.astype(np.float32),
                "speed_m_s": np.linalg.norm(sim.v, axis=1).astype(np.float32),
            }
        )
    fields_ = _fields(sim, model)
    return True, done, fields_, {"frames": snapshots}


# ---- entry points ----------------------------------------------------------------------------------------


def simulate(
    job: Job,
    *,
    part=None,
    grid: VoxelGrid | None = None,
    timer: StageTimer | None = None,
    quiet: bool = False,
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
    report = run_test(grid, job, quiet=quiet)
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
    **test_options: Any,
) -> StressReport:
    """Stress-test a part from Python (the CadQuery plugin's ``.stress_test`` calls this).

    ``part``: a file path, a CadQuery Workplane/Shape, a :class:`fab.part.Part` or a voxel grid. ``fix``: region
    expressions; ``load``: ``"REGION:force=Fx,Fy,Fz"`` (N), ``torque=`` (N*m), ``displacement=`` (mm),
    ``velocity=`` (m/s) strings or :class:`fab.job.Load`. ``test_options``: the other ``[test]`` keys
    (tolerance, increments, max_factor, duration, frames, initial_velocity).
    """
    from fab.part import Part, load_part

    fixes = [fix] if isinstance(fix, str) else list(fix)
    loads = [load] if isinstance(load, str | Load) else list(load)
    for f in fixes:
        parse_region(f)
    if pitch is not None and count is not None:
        raise FabError("give either pitch (mm) or count, not both")
    if model not in MODELS:
        raise FabError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if test not in TESTS:
        raise FabError(f"test must be one of {', '.join(TESTS)}, got {test!r}")
    if dimension not in (2, 3):
        raise FabError(f"dimension must be 3 or 2, got {dimension!r}")
    allowed = {"tolerance", "increments", "max_factor", "duration", "frames", "initial_velocity"}
    unknown = set(test_options) - allowed
    if unknown:
        raise FabError(
            f"unknown test option(s) {', '.join(sorted(unknown))}: allowed {', '.join(sorted(allowed))}"
        )
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
    report, _part, _grid = simulate(job, part=loaded_part, grid=grid, quiet=not progress)
    return report
