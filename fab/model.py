"""The particle model of a part: voxels -> a peridynamic body with its point sets, force law and conditions.

The part's voxel grid becomes one particle per voxel (2D: the mid-plane section), the job's regions become point
sets, its loads become ``physics`` conditions. Units: the pipeline is in mm, N, N*m; ``physics`` is SI, so lengths
are converted here (``MM``), once. Bonds break at the smaller of the fracture-energy critical stretch calibrated on
the body's own lattice (physics/fracture.py: the stretch at which the law's lattice, separated across a plane,
releases the material's G0; on fab's 2D stencil, the one at which a crack runs through the lattice at G0) and the tensile strain at the material's tensile strength, sigma_t / E, so an
un-notched part cannot be stronger than its material.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from fab.errors import FabError
from fab.job import Job, PhysicsSpec, out_of_plane
from fab.materials import Material
from fab.regions import select
from fab.voxels import VoxelGrid

MM = 1e-3  # metres per millimetre: the one conversion between the pipeline and physics/
# Largest share of particles allowed to be a single particle across a feature before the pitch is refused.
THIN_LIMIT = 0.02
# A 2D model gets a note when fewer of the part's voxels than this share match its mid-plane section.
PRISMATIC_SHARE = 0.98
# Fewer particles than this (two per axis of a cube) are too coarse to simulate.
MIN_PARTICLES = 8
# 2D bodies are plane stress sections of the extruded part.
PLANE = "stress"
# A law that fixes Poisson's ratio gets a note when the material's differs by more than this.
POISSON_SLACK = 0.03
# Spread force and torque loads over the boundary layer one horizon deep behind their region.
LOAD_LAYER = True
# Indenter contact stiffness: K = INDENT_STIFFNESS * E / dx^3 (N/m^5), as LAMMPS's peri example (1e17 at
# E 14.9 GPa, dx 0.5 mm) scaled with the modulus and the lattice.
INDENT_STIFFNESS = 8.4e-4
# Approximate bytes per particle the engine needs (state, bonds, outputs): refuse bodies beyond the memory.
BYTES_PER_PARTICLE = 600
# Share of the machine's memory a body may take (the rest: the interpreter, outputs, the OS).
MEMORY_SHARE = 0.6
# Memory assumed when the OS does not say.
FALLBACK_MEMORY_BYTES = 8 * 2**30


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
    if prismatic < PRISMATIC_SHARE:
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
    if count < MIN_PARTICLES:
        raise FabError(
            f"only {count} particles at pitch {pitch:g} mm: too coarse to simulate; use a smaller pitch"
        )
    limit = _memory_bytes() * MEMORY_SHARE
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
    # Decided by the particles the region itself selects (before the load layer grows it): a load whose own
    # particles are all held is refused, whatever the layer would add.
    for i, (ld, idx) in enumerate(zip(job.load, loaded, strict=True)):
        if len(idx) and held[idx].all():
            raise FabError(
                f"load {i + 1} region {ld.region!r} selects only fixed particles: a fixed particle cannot be loaded"
            )
    if LOAD_LAYER:
        horizon_mm = job.physics.horizon * pitch
        loaded = [
            _boundary_layer(points, idx, horizon_mm) if ld.kind in ("force", "torque") else idx
            for ld, idx in zip(job.load, loaded, strict=True)
        ]
    for i, (ld, idx) in enumerate(zip(job.load, loaded, strict=True)):
        overlap = held[idx]
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
        return FALLBACK_MEMORY_BYTES


def make_law(physics: PhysicsSpec, material: Material, lattice: Any) -> tuple[Any, list[str]]:
    """The force law registered as the job's model (physics/laws/__init__.py), calibrated for this material on
    the body's ``lattice`` (physics.lattice.Lattice: dimension, spacing, horizon); notes say what the model
    cannot represent."""
    from physics.laws import law_class, law_names

    dimension = lattice.dimension
    law_type = law_class(physics.model)
    if dimension not in law_type.dimensions:
        dims = " or ".join(str(d) for d in law_type.dimensions)
        raise FabError(f"model {physics.model!r} supports dimension {dims}, not {dimension}")
    notes = []
    e, nu, g0 = material.youngs_modulus, material.poisson_ratio, material.fracture_energy
    fixed_nu = law_type.fixed_poisson_ratio(dimension, PLANE)
    if fixed_nu is not None and abs(nu - fixed_nu) > POISSON_SLACK:
        free = [n for n in law_names(material=True) if law_class(n).fixed_poisson_ratio(dimension, PLANE) is None]
        notes.append(
            f"the {physics.model} model fixes Poisson's ratio at {fixed_nu:.3g} ({material.name} has {nu:.3g})"
            + (f"; use model = {' or '.join(free)} for the material's own" if free else "")
        )
    law = law_type.from_material(
        youngs_modulus=e,
        poisson_ratio=nu,
        fracture_energy=g0,
        critical_stretch=critical_stretch(material, physics.model, dimension, lattice.horizon_cells, lattice.spacing),
        plane=PLANE,
    )
    return law, notes


def critical_stretch(
    material: Material, model: str, dimension: int, horizon_cells: float, spacing_m: float
) -> float:
    """Bond breaking stretch: min(fracture-energy stretch of the lattice, tensile strength / E).

    The fracture-energy stretch is calibrated on the body's lattice (``horizon_cells`` spacings of
    ``spacing_m`` m) for the law ``model`` actually used: every bond crossing a lattice plane at s0, the
    others unstretched, holds G0 per unit area in the law's own energy (physics/fracture.py), so separating the
    lattice costs the material's fracture energy. Where a crack running through the lattice was measured to need
    more than that (physics/fracture.py ``CRACK_RUN``: fab's 2D stencil, LPS, 1.5-1.75 x; not 3D, whose default
    stencil ran notched slabs at 1.02 G0), s0 is lowered by the square root of that ratio, so that a crack runs
    at G0. A law that cannot say its interior energy gets the bond-based continuum value, 3D s0 = sqrt(5 G0 / (9 K delta)), 2D plane stress s0 = sqrt(4 pi G0 / (9 E delta))
    (Silling & Askari 2005, Ha & Bobaru 2010). The strength limit keeps an un-notched part from outliving its
    material's strength.
    """
    from physics.fracture import crack_run_factor

    e, g0 = material.youngs_modulus, material.fracture_energy
    unit = _separation_energy_per_m(
        model, e, material.poisson_ratio, dimension, round(float(horizon_cells), 9)
    )
    if unit is not None:
        run = crack_run_factor(model, dimension, horizon_cells, material.poisson_ratio, PLANE)
        s_energy = math.sqrt(g0 / (unit * run * spacing_m))
    elif dimension == 3:
        s_energy = math.sqrt(5.0 * g0 / (9.0 * material.bulk_modulus * horizon_cells * spacing_m))
    else:
        s_energy = math.sqrt(4.0 * math.pi * g0 / (9.0 * e * horizon_cells * spacing_m))
    return min(s_energy, material.tensile_strength / e)


@lru_cache(maxsize=64)
def _separation_energy_per_m(
    model: str, youngs_modulus: float, poisson_ratio: float, dimension: int, horizon_cells: float
) -> float | None:
    """J/m^2 per m of lattice spacing at unit stretch (the separation energy scales with the spacing at a fixed
    stencil); None where the law has no ``interior_energy_density``. Once per law, material and stencil."""
    from physics import PhysicsError
    from physics.fracture import separation_energy
    from physics.laws import law_class

    try:
        law = law_class(model).from_material(
            youngs_modulus=youngs_modulus, poisson_ratio=poisson_ratio, plane=PLANE
        )
        return separation_energy(law, dimension, horizon_cells, 1.0)
    except (PhysicsError, AttributeError):  # a law without interior_energy_density (another package's)
        return None


@dataclass
class Loads:
    """The job's loads as physics conditions, with their service values so they can be scaled."""

    conditions: list
    base: list[tuple[Any, str, np.ndarray]]  # (condition, attribute, service value)
    force_n: np.ndarray  # total service force (N), sum over force loads
    torque_nm: float  # total service torque magnitude (N*m)

    def scale(self, factor: float) -> None:
        for cond, attr, value in self.base:
            setattr(cond, attr, value * factor)


def make_conditions(model: Model, job: Job, material: Material) -> Loads:
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
    loads = Loads(conditions, base, force, torque)
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


def bind_base(loads: Loads) -> None:
    """Remember each scalable load's service value (after the simulation bound the conditions)."""
    from physics import Displacement, Force, Torque

    for cond in loads.conditions:
        if isinstance(cond, Force | Torque):
            loads.base.append((cond, "density", np.array(cond.density, dtype=float)))
        elif isinstance(cond, Displacement):
            loads.base.append((cond, "vec", np.array(cond.vec, dtype=float)))


def check_supported(job: Job, model: Model) -> None:
    for i, ld in enumerate(job.load if job.physics.dimension == 2 else (), start=1):
        if (why := out_of_plane(ld)) is not None:  # a Job built in code (the CadQuery plugin) meets it here
            raise FabError(f"load {i} ({ld.region}): {why}")
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
