"""Assembled voxel lattices: the structure an assembly plan builds, tested by the voxel-joint law.

- ``load_structure``: an assembly plan (docs/assembly-format.md) and its voxel part types (fab/part_types.py).
- ``simulate_plan``: ``fab simulate PLAN.json``: the finished structure under the same regions, loads and tests as a
  solid part (``static``: displacements, joint utilisation, reactions, the load factor of the first joint break;
  ``failure``: joints break one after another as the loads grow until a piece comes loose), with gravity.
- ``check_plan``: ``fab check-assembly PLAN.json --physics``: every intermediate state under gravity and the
  robot's placement force on the newest voxel; the worst state and its joint utilisation (load / strength).
- ``physics_order``: ``fab export --assembly ... --physics``: a buildable order whose every state stays under a
  utilisation limit, or the reason there is none.

Supports: unless ``--fix`` regions are given, the voxels of the ground layer (k == 0) stand on a held build plate
and are joined to it by their own joint (so the plate joints can fail too). Units: mm and N on this side, SI in
the physics (converted here, once).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fab.errors import FabError
from fab.job import Load
from fab.materials import get_material
from fab.part_types import PartType, get_part_type, load_part_types, make_part_type

MM = 1e-3
DEFAULT_GRAVITY = (0.0, 0.0, -9.81)
# The robot pressing a voxel home, N (an assumed figure for a small relative robot: give your robot's own).
DEFAULT_PLACEMENT_FORCE = (0.0, 0.0, -5.0)
TESTS = ("static", "failure")


class NoSafeOrder(FabError):
    """The physics planner found no order that keeps every state under the limit (exit status 1)."""

    exit_code = 1


@dataclass
class Structure:
    """The voxels of a plan in placement order: lattice indices, part type of each, the types, the lattice."""

    source: str
    ijk: np.ndarray
    type_index: np.ndarray
    part_types: list[PartType]
    pitch_mm: float
    origin_mm: np.ndarray

    @property
    def count(self) -> int:
        return len(self.ijk)

    @property
    def centres_mm(self) -> np.ndarray:
        return self.origin_mm + self.ijk * self.pitch_mm

    @property
    def mass_kg(self) -> np.ndarray:
        return np.array([t.mass_kg for t in self.part_types])[self.type_index]


def parse_vector(text: str | None, what: str, default) -> tuple[float, float, float]:
    """'x,y,z' -> 3 finite floats (FabError naming the option otherwise)."""
    if text is None:
        return tuple(float(v) for v in default)  # type: ignore[return-value]
    try:
        vec = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        vec = ()
    if len(vec) != 3 or not all(math.isfinite(v) for v in vec):
        raise FabError(f"{what} must be 3 numbers x,y,z, got {text!r}")
    return vec  # type: ignore[return-value]


def load_structure(plan: str | os.PathLike[str] | dict, part_types_file: str | os.PathLike[str] | None = None,
                   part_type: str | None = None) -> Structure:  # fmt: skip
    """Read a plan (or a saved voxel grid, .npz), check it is buildable, and give each voxel its part type: ``part_type`` (a name) for every
    voxel when given; else a plan part type whose ``name`` is a built-in or in ``part_types_file`` is that type,
    otherwise a bonded solid voxel of its ``material`` at the plan's pitch. A part type must have the plan's
    pitch."""
    from exporters.assembly import check_assembly, read_assembly

    source = str(plan) if not isinstance(plan, dict) else "<plan>"
    if not isinstance(plan, dict) and Path(plan).suffix.lower() == ".npz":
        # a saved voxel grid: its voxels, in the geometric planner's order (the order does not matter to a test)
        from exporters.assembly import plan_assembly
        from fab.voxels import VoxelGrid

        if not Path(plan).is_file():
            raise FabError(f"voxel grid not found: {plan}")
        grid = VoxelGrid.load(plan)
        plan = plan_assembly(grid.occupancy, grid.pitch, grid.origin, material_ids=grid.material_ids,
                             materials=grid.materials)  # fmt: skip
    if not isinstance(plan, dict):
        if not Path(plan).is_file():
            raise FabError(f"assembly plan not found: {plan}")
        plan = read_assembly(plan)
    violations = check_assembly(plan)
    if violations:
        raise FabError(f"{source}: not buildable: {violations[0].message}")
    lattice = plan["lattice"]
    try:
        pitch = float(lattice["pitch_mm"])
        origin = np.asarray(lattice.get("origin_mm", (0.0, 0.0, 0.0)), dtype=np.float64).reshape(3)
    except (KeyError, TypeError, ValueError):
        raise FabError(f"{source}: the lattice needs 'pitch_mm' and 'origin_mm' [x, y, z]") from None
    if not (math.isfinite(pitch) and pitch > 0):
        raise FabError(f"{source}: lattice pitch_mm must be positive, got {pitch}")
    table = load_part_types(part_types_file) if part_types_file is not None else {}
    types: list[PartType] = []
    ids = {}
    for k, entry in enumerate(plan.get("part_types") or []):
        name = str(entry.get("name", f"type-{k}")) if part_type is None else part_type
        try:
            part = get_part_type(name, table)
        except FabError:
            if part_type is not None:
                raise
            material = entry.get("material")
            try:
                get_material(str(material))
            except FabError:
                raise FabError(
                    f"{source}: part type {name!r} is neither a known voxel part type nor made of a library "
                    f"material ({material!r}); give --part-type NAME, or --part-types FILE.toml with a table for {name!r}"
                ) from None
            part = make_part_type(name, {"material": str(material), "pitch_mm": pitch, "joint": "bonded"})
        if not math.isclose(part.pitch_mm, pitch, rel_tol=1e-6):
            raise FabError(
                f"{source}: part type {name!r} is a {part.pitch_mm:g} mm voxel but the plan's lattice pitch is "
                f"{pitch:g} mm"
            )
        ids[int(entry.get("id", k))] = len(types)
        types.append(part)
    placements = plan["placements"]
    try:
        type_index = np.array([ids[int(t)] for t in placements[:, 4]], dtype=np.int64)
    except KeyError as exc:
        raise FabError(f"{source}: placement uses part type {exc.args[0]}, which is not in part_types") from None
    return Structure(source, placements[:, 1:4].astype(np.int64), type_index, types, pitch, origin)


def make_law(structure: Structure, breaking: bool = True):
    """The VoxelJoint law with one parameter set per part type of the structure."""
    from physics import VoxelJoint

    params = [t.law_parameters() for t in structure.part_types]
    per_type = {k: np.array([p[k] for p in params]) for k in params[0]}
    inertia = max(t.inertia_factor for t in structure.part_types)
    return VoxelJoint(**per_type, inertia_factor=inertia, breaking=breaking)


# ------------------------------------------------------------------------------------------- simulate


@dataclass
class LatticeReport:
    """What a stress test of an assembled lattice found (mm, N, N m; utilisation = load / strength of a joint)."""

    test: str
    source: str
    part_types: list[str]
    pitch_mm: float
    voxels: int
    joints: int
    converged: bool
    max_displacement_mm: float
    max_utilisation: float
    worst_joint: dict[str, Any]
    reaction_force_n: list[float]
    broken_joints: int
    fragments: int
    first_break_factor: float | None
    failure_load_factor: float | None
    failure_load_n: float | None
    safety_factor: float | None
    points_mm: np.ndarray
    displacement_mm: np.ndarray
    utilisation: np.ndarray
    damage: np.ndarray
    fragment_id: np.ndarray
    part_type_id: np.ndarray
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def result_dict(self) -> dict[str, Any]:
        out = {
            "test": self.test,
            "max_displacement_mm": self.max_displacement_mm,
            "max_joint_utilisation": self.max_utilisation,
            "worst_joint": self.worst_joint,
            "reaction_force_n": self.reaction_force_n,
            "broken_joints": self.broken_joints,
            "fragments": self.fragments,
            "first_break_load_factor": self.first_break_factor,
            "safety_factor": self.safety_factor,
        }
        if self.test == "failure":
            out["failure_load_factor"] = self.failure_load_factor
            out["failure_load_n"] = self.failure_load_n
        if self.notes:
            out["notes"] = self.notes
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.source,
            "voxels": {"pitch_mm": self.pitch_mm, "count": self.voxels, "part_types": self.part_types},
            "physics": {"model": "voxel_joint", "joints": self.joints, "converged": self.converged,
                        "seconds": round(self.seconds, 4)},  # fmt: skip
            "result": self.result_dict(),
        }

    def lines(self) -> list[str]:
        w = self.worst_joint
        out = [
            f"{self.test} test of an assembled lattice: {self.voxels:,} voxels ({', '.join(self.part_types)}, "
            f"{self.pitch_mm:g} mm), {self.joints:,} joints, voxel-joint law, {self.seconds:.2f} s",
            f"max displacement {self.max_displacement_mm:.4g} mm; max joint utilisation {self.max_utilisation:.4g} "
            f"(joint of voxel {w.get('ijk')} along {w.get('axis')})",
            "reaction at the supports " + ", ".join(f"{a} {v:.4g}" for a, v in zip("xyz", self.reaction_force_n,
                                                                                 strict=True)) + " N",  # fmt: skip
            f"broken joints {self.broken_joints}; pieces {self.fragments}",
        ]
        if self.first_break_factor is not None:
            out.append(f"first joint breaks at {self.first_break_factor:.4g} x the loads (gravity at 1 x)")
        if self.test == "failure":
            if self.failure_load_factor is None:
                out.append("no collapse found: no joint ever breaks under these loads")
            else:
                out.append(f"collapses at {self.failure_load_factor:.4g} x the loads: failure load "
                           f"{self.failure_load_n:.4g} N; safety factor {self.safety_factor:.4g}")  # fmt: skip
        return out + [f"note: {n}" for n in self.notes]

    def save_vtk(self, path: str | os.PathLike[str]) -> Path:
        """``.vtu`` of the voxel centres with displacement (mm), utilisation (largest of the voxel's joints),
        damage (broken share of its joints), fragment id and part type."""
        from exporters.vtk import write_vtu

        path = Path(path)
        if path.suffix.lower() != ".vtu":
            raise FabError(f"{path}: lattice results are written as .vtu")
        write_vtu(self.points_mm, path, {
            "displacement_mm": self.displacement_mm.astype(np.float32),
            "utilisation": self.utilisation.astype(np.float32),
            "damage": self.damage.astype(np.float32),
            "fragment_id": self.fragment_id.astype(np.int32),
            "part_type": self.part_type_id.astype(np.int32),
        })  # fmt: skip
        return path

    def save_png(self, path: str | os.PathLike[str]) -> Path:
        """The deformed lattice, each voxel a cube coloured by its joint utilisation (0..max(1, peak))."""
        import pyvista as pv

        from exporters.atomic import atomic_path
        from fab.report import SHOW_DEFORMATION, _quiet_vtk

        path = Path(path)
        if path.suffix.lower() != ".png":
            raise FabError(f"{path}: expected a .png file name")
        _quiet_vtk()
        size_mm = float(np.ptp(self.points_mm, axis=0).max() + self.pitch_mm)
        peak = float(np.linalg.norm(self.displacement_mm, axis=1).max())
        scale = min(SHOW_DEFORMATION * size_mm / peak, 1e6) if peak > 0 else 0.0
        cloud = pv.PolyData(self.points_mm + scale * self.displacement_mm)
        cloud.point_data["value"] = self.utilisation.astype(np.float32)
        cube = pv.Cube(x_length=0.95 * self.pitch_mm, y_length=0.95 * self.pitch_mm, z_length=0.95 * self.pitch_mm)
        plotter = pv.Plotter(off_screen=True, window_size=[1200, 900])
        plotter.set_background("white")
        plotter.add_mesh(cloud.glyph(geom=cube, scale=False, orient=False), scalars="value", cmap="turbo",
                         clim=(0.0, max(1.0, float(self.utilisation.max()))),
                         scalar_bar_args={"title": "", "color": "black", "vertical": False, "fmt": "%.3g",
                                          "position_x": 0.2, "position_y": 0.04, "width": 0.6, "height": 0.06})  # fmt: skip
        plotter.add_text("joint utilisation (load / strength)", position=(240, 126), font_size=9, color="black")
        plotter.add_text(f"{self.test} test, {self.voxels} voxels (displacement x{scale:.3g}); max utilisation "
                         f"{self.max_utilisation:.3g}", font_size=10, color="black")  # fmt: skip
        plotter.view_isometric()
        plotter.enable_parallel_projection()
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            plotter.screenshot(str(tmp))
        plotter.close()
        return path


def _body(structure: Structure, plate: bool):
    """(Body, particle -> plan voxel index (-1 for plate cells), types per particle, plate particles)."""
    from physics import Body

    lo = structure.ijk.min(axis=0)
    local = structure.ijk - lo + np.array([0, 0, 1 if plate else 0])
    shape = local.max(axis=0) + 1
    index = np.full(tuple(shape), -1, dtype=np.int64)
    index[tuple(local.T)] = np.arange(structure.count)
    occ = index >= 0
    plate_cells = np.zeros_like(occ)
    if plate:
        ground = local[:, 2] == 1
        plate_cells[local[ground, 0], local[ground, 1], 0] = True
        occ |= plate_cells
    origin_mm = structure.origin_mm + (lo - np.array([0, 0, 1 if plate else 0])) * structure.pitch_mm
    masses = structure.mass_kg
    body = Body.from_occupancy(occ, structure.pitch_mm * MM, float(masses.mean() / (structure.pitch_mm * MM) ** 3),
                               origin=tuple(origin_mm * MM), horizon_cells=1.0)  # fmt: skip
    cells = np.argwhere(occ)  # C order = particle order
    voxel = index[tuple(cells.T)]
    on_plate = plate_cells[tuple(cells.T)]
    # a plate cell takes the type of the voxel above it
    above = index[cells[:, 0], cells[:, 1], np.minimum(cells[:, 2] + 1, shape[2] - 1)]
    types = np.where(on_plate, structure.type_index[np.maximum(above, 0)], structure.type_index[np.maximum(voxel, 0)])
    voxel = np.where(on_plate, -1, voxel)
    return body, voxel, types, on_plate


def simulate_plan(
    plan: str | os.PathLike[str],
    *,
    fix: list[str] | None = None,
    load: list[str] | None = None,
    test: str = "static",
    part_types: str | os.PathLike[str] | None = None,
    part_type: str | None = None,
    gravity: str | None = None,
    vtk: str | os.PathLike[str] | None = None,
    png: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, Any], LatticeReport]:
    """``fab simulate PLAN.json``: the assembled structure under the regions, loads and test given as the quick
    flags' text (see the module docstring); writes the reports asked for (temp file, then rename) and returns
    (summary, report). A job file on a plan takes the same path, :func:`stress_structure`."""
    from fab.job import parse_load_flag
    from fab.regions import parse_region

    test = test.strip().lower()
    if test not in TESTS:
        raise FabError(f"--test for an assembly plan must be one of {', '.join(TESTS)}, got {test!r}")
    g = parse_vector(gravity, "--gravity", DEFAULT_GRAVITY)
    for f in fix or []:
        try:
            parse_region(f)
        except FabError as exc:
            raise FabError(f"--fix {f!r}: {exc}") from None
    loads = [parse_load_flag(t) for t in load or []]
    for ld in loads:
        if ld.kind == "velocity":
            raise FabError("--load velocity= is for impact tests; an assembly plan takes force, torque or displacement")
    return stress_structure(plan, fix=[f.strip() for f in fix or []], loads=loads, test=test, part_types=part_types,
                          part_type=part_type, gravity=g, vtk=vtk, png=png)  # fmt: skip


def stress_structure(
    plan: str | os.PathLike[str],
    *,
    fix: list[str],
    loads: list[Load],
    test: str,
    part_types: str | os.PathLike[str] | None = None,
    part_type: str | None = None,
    gravity: tuple[float, float, float] = DEFAULT_GRAVITY,
    vtk: str | os.PathLike[str] | None = None,
    png: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, Any], LatticeReport]:
    """The stress test of a plan's finished structure from checked inputs (``fab simulate PLAN.json`` and a job
    file on a plan): ``fix`` region expressions (none: the ground layer stands on the held plate), ``loads``
    (force N, torque N*m, displacement mm), ``test`` static or failure, ``gravity`` m/s^2. Writes the ``vtk``
    (.vtu) and ``png`` reports asked for and returns (summary, report)."""
    import time

    from fab.regions import select
    from physics import Displacement, Fixed, Force, Gravity, PhysicsError, Simulation, Torque

    start = time.perf_counter()
    for path, suffix in ((vtk, ".vtu"), (png, ".png")):
        if path is not None and Path(path).suffix.lower() != suffix:
            raise FabError(f"{path}: expected a {suffix} file name")
    g = gravity
    structure = load_structure(plan, part_types, part_type)
    plate = not fix
    body, voxel, types, on_plate = _body(structure, plate)
    law = make_law(structure)
    law.types = types
    points_mm = np.asarray(body.positions()) / MM
    real = voxel >= 0
    conditions: list = []
    if plate:
        body.point_set("fix1", on_plate)
        conditions.append(Fixed("fix1"))
    for i, expr in enumerate(fix or [], start=1):
        mask = np.zeros(body.count, dtype=bool)
        mask[real] = select(expr, points_mm[real], pitch_mm=structure.pitch_mm)
        body.point_set(f"fix{i}", mask)
        conditions.append(Fixed(f"fix{i}"))
    total_force = np.zeros(3)
    for i, ld in enumerate(loads, start=1):
        mask = np.zeros(body.count, dtype=bool)
        mask[real] = select(ld.region, points_mm[real], pitch_mm=structure.pitch_mm)
        name = f"load{i}"
        body.point_set(name, mask)
        vec = np.asarray(ld.vector, dtype=float)
        if ld.kind == "force":
            conditions.append(Force(name, tuple(vec)))
            total_force += vec
        elif ld.kind == "torque":
            point = np.asarray(ld.point, float) if ld.point is not None else points_mm[mask].mean(axis=0)
            magnitude = float(np.linalg.norm(vec))
            conditions.append(Torque(name, torque=magnitude, point=tuple(point * MM), axis=tuple(vec / magnitude)))
        else:
            conditions.append(Displacement(name, tuple(vec * MM)))
    rho = np.array([t.mass_kg for t in structure.part_types])[types] / (structure.pitch_mm * MM) ** 3
    gravity_cond = None
    if any(g):
        body.point_set("voxels", real)
        gravity_cond = Gravity("voxels", g=g, density=rho[real])
        conditions.append(gravity_cond)
    if not loads and gravity_cond is None:
        raise FabError("nothing loads the structure: give a load (--load, [[load]]) or a non-zero gravity")
    sim = Simulation(body, law, conditions)
    dead = [gravity_cond] if gravity_cond is not None and loads else []
    notes: list[str] = []
    try:
        first, _e = law.first_break_factor(sim, dead)
        failure_factor = None
        if test == "failure":
            info = law.failure(sim, dead_loads=dead)
            if info["collapsed"]:
                failure_factor = info["failure_factor"]
            else:
                notes.append("no piece came loose: no joint breaks under loads of this kind")
            survivors = law.intact.copy()
            # shown: the service state (all joints, 1 x the loads), damage and pieces from the failure sequence
            law.intact[:] = True
            law.relax(sim)
            law.intact[:] = survivors
            law.sync_bits(sim)
        else:
            law.relax(sim)
    except PhysicsError as exc:
        raise FabError(str(exc)) from None
    count, labels = sim.fragments()
    reaction = np.zeros(3)
    for c in conditions:
        if isinstance(c, Fixed | Displacement):
            reaction += sim.reaction(c.where)
    util_voxel = np.zeros(body.count)
    np.maximum.at(util_voxel, law.ji, law.util)
    np.maximum.at(util_voxel, law.jj, law.util)
    k = int(np.argmax(law.util)) if law.joints else -1
    worst = {}
    if k >= 0:
        i = int(law.ji[k]) if voxel[law.ji[k]] >= 0 else int(law.jj[k])
        worst = {"ijk": [int(v) for v in structure.ijk[voxel[i]]], "axis": "xyz"[int(law.axis[k])],
                 "plate": bool(on_plate[law.ji[k]]), "utilisation": float(law.util[k])}  # fmt: skip
    disp = sim.u[real] / MM
    load_n = float(np.linalg.norm(total_force))
    report = LatticeReport(
        test=test, source=structure.source, part_types=[t.name for t in structure.part_types],
        pitch_mm=structure.pitch_mm, voxels=structure.count, joints=law.joints, converged=True,
        max_displacement_mm=float(np.linalg.norm(disp, axis=1).max()), max_utilisation=float(law.util.max()),
        worst_joint=worst, reaction_force_n=[float(v) for v in reaction], broken_joints=int((~law.intact).sum()),
        fragments=int(count), first_break_factor=None if not math.isfinite(first) else first,
        failure_load_factor=failure_factor,
        failure_load_n=None if failure_factor is None or not load_n else failure_factor * load_n,
        safety_factor=failure_factor if test == "failure" else (None if not math.isfinite(first) else first),
        points_mm=points_mm[real], displacement_mm=disp, utilisation=util_voxel[real],
        damage=sim.damage()[real], fragment_id=labels[real], part_type_id=types[real], notes=notes,
    )  # fmt: skip
    report.seconds = time.perf_counter() - start  # the test, not the pictures
    outputs: dict[str, str] = {}
    if vtk is not None:
        outputs["vtk"] = str(report.save_vtk(vtk))
    if png is not None:
        outputs["png"] = str(report.save_png(png))
    summary = report.as_dict()
    summary["outputs"] = outputs
    return summary, report


# ------------------------------------------------------------------------------------------- build states


def check_plan(
    plan: str | os.PathLike[str] | dict,
    *,
    part_types: str | os.PathLike[str] | None = None,
    part_type: str | None = None,
    gravity: str | None = None,
    placement_force: str | None = None,
    limit: float = 1.0,
    method: str = "incremental",
    workers: int = 1,
    quiet: bool = True,
) -> dict[str, Any]:
    """``fab check-assembly PLAN --physics``: every state's largest joint utilisation; ``ok`` is False when a
    state goes over ``limit``. Returns a JSON-ready dict."""
    from physics import PhysicsError
    from physics.assembly import BuildSequence

    if not (math.isfinite(limit) and limit > 0):
        raise FabError(f"--max-utilisation must be a positive number, got {limit}")
    if method not in ("incremental", "direct"):
        raise FabError(f"--method must be incremental or direct, got {method!r}")
    if not (isinstance(workers, int) and workers >= 1):
        raise FabError(f"--workers must be a whole number of processes, at least 1, got {workers}")
    g = parse_vector(gravity, "--gravity", DEFAULT_GRAVITY)
    push = parse_vector(placement_force, "--placement-force", DEFAULT_PLACEMENT_FORCE)
    structure = load_structure(plan, part_types, part_type)
    law = make_law(structure)
    sequence = BuildSequence(structure.ijk, structure.type_index, law, structure.mass_kg,
                             structure.pitch_mm * MM, gravity=g)  # fmt: skip
    progress = None
    if not quiet and structure.count >= 2000:  # progress only where it takes seconds
        from fab.progress import stderr_console

        shown = [0]

        def progress(done: int, total: int) -> None:
            if done == total or done // 1024 > shown[0]:
                shown[0] = done // 1024
                stderr_console.print(f"state {done:,} of {total:,}", highlight=False)

    try:
        states = sequence.check(push, method=method, limit=limit, workers=workers, progress=progress)
    except PhysicsError as exc:
        raise FabError(str(exc)) from None
    p = states.worst_state
    e = int(states.worst_joint[p])
    voxel, other, axis = (int(v) for v in states.joints[e]) if e >= 0 else (-1, -1, -1)
    over = np.flatnonzero(states.utilisation > limit)
    return {
        "plan": structure.source,
        "states": structure.count,
        "ok": len(over) == 0,
        "limit": limit,
        "gravity_m_s2": list(g),
        "placement_force_n": list(push),
        "worst_state": p,
        "worst_utilisation": float(states.utilisation[p]),
        "worst_joint": {
            "voxel_ijk": [int(v) for v in structure.ijk[voxel]] if voxel >= 0 else None,
            "to": "plate" if other < 0 else [int(v) for v in structure.ijk[other]],
            "axis": "xyz"[axis] if axis >= 0 else None,
        },
        "first_state_over_limit": int(over[0]) if len(over) else None,
        "states_over_limit": int(len(over)),
        "method": method,
        "mean_iterations": float(states.iterations.mean()),
        # incremental: states that might be the worst or straddle the limit are solved in full, the others to a
        # screening tolerance with a bound that keeps them under the worst (and on one side of the limit)
        "states_solved_in_full": int(states.exact.sum()),
        "screen_error": float(states.screen_error),
        "worst_bound": float(states.bound[p]) if states.bound is not None else 0.0,
        "largest_screened_bound": float(states.bound[~states.exact].max()) if (~states.exact).any() else 0.0,
        "seconds": round(states.seconds, 3),
        "utilisation": states.utilisation,
    }


# ------------------------------------------------------------------------------------------- planning


def physics_order(
    plan: str | os.PathLike[str] | dict,
    *,
    part_types: str | os.PathLike[str] | None = None,
    part_type: str | None = None,
    gravity: str | None = None,
    placement_force: str | None = None,
    limit: float = 1.0,
    max_tries: int = 64,
) -> tuple[dict, dict[str, Any]]:
    """Re-order a plan's placements so that no intermediate state has a joint over ``limit`` (the physics
    planner of ``fab check-assembly --physics --replan``). Returns (new plan, check summary).

    Greedy, within the buildability rules (docs/assembly-format.md): at each step the candidates are the voxels
    that keep every rule (on the ground or face to face with the structure, extending the placed interval of
    every line they lie on, at the lowest sweep level left), tried in order: supported from below first
    (supports before overhangs), then the geometric planner's order; the first whose state stays under the limit
    is placed (each trial is one direct solve of that state). When no candidate of a step passes, it raises a
    FabError naming the step, the candidates tried and the least loaded one.
    """
    from exporters.assembly import _run_ids, _summary, _sweep_levels, read_assembly
    from physics import PhysicsError
    from physics.assembly import BuildSequence

    if not (math.isfinite(limit) and limit > 0):
        raise FabError(f"--max-utilisation must be a positive number, got {limit}")
    g = parse_vector(gravity, "--gravity", DEFAULT_GRAVITY)
    push = parse_vector(placement_force, "--placement-force", DEFAULT_PLACEMENT_FORCE)
    raw = plan if isinstance(plan, dict) else read_assembly(plan)
    structure = load_structure(raw, part_types, part_type)
    ijk = structure.ijk
    shape = tuple(int(v) for v in ijk.max(axis=0) + 1)
    occ = np.zeros(shape, dtype=bool)
    occ[tuple(ijk.T)] = True
    index = np.full(shape, -1, dtype=np.int64)
    index[tuple(ijk.T)] = np.arange(len(ijk))
    level = _sweep_levels(occ)
    runs, n_runs = _run_ids(occ)
    placed = np.zeros(shape, dtype=bool)
    run_placed = np.zeros(n_runs, dtype=np.int64)
    order: list[int] = []
    masses = structure.mass_kg
    axes = np.eye(3, dtype=np.int64)

    def inside(c) -> bool:
        return all(0 <= c[a] < shape[a] for a in range(3))

    def valid(v: int) -> bool:
        c = ijk[v]
        if placed[tuple(c)]:
            return False
        touching = c[2] == 0 or any(inside(c + s * axes[a]) and placed[tuple(c + s * axes[a])]
                                    for a in range(3) for s in (-1, 1))  # fmt: skip
        if not touching:
            return False
        for a in range(3):
            if run_placed[runs[a][tuple(c)]] > 0:
                lo, hi = c - axes[a], c + axes[a]
                if not ((inside(lo) and placed[tuple(lo)]) or (inside(hi) and placed[tuple(hi)])):
                    return False
        return True

    def state_utilisation(sequence: list[int]) -> float:
        law = make_law(structure)
        seq = np.asarray(sequence)
        bs = BuildSequence(ijk[seq], structure.type_index[seq], law, masses[seq], structure.pitch_mm * MM, gravity=g)
        p = len(seq) - 1
        return bs.solve_state(p, push)[0]

    worst = 0.0
    try:
        for step in range(len(ijk)):
            candidates = [v for v in range(len(ijk)) if valid(v)]
            if not candidates:
                raise NoSafeOrder(f"no buildable order: after {step} placements no voxel can be placed by the rules")
            lowest = min(level[tuple(ijk[v])] for v in candidates)
            candidates = [v for v in candidates if level[tuple(ijk[v])] == lowest]

            def key(v: int) -> tuple:
                c = ijk[v]
                below = c[2] == 0 or placed[c[0], c[1], c[2] - 1]
                return (not below, c[2], c[1], c[0])

            candidates.sort(key=key)
            best = (math.inf, -1)
            for v in candidates[:max_tries]:
                u = state_utilisation(order + [v])
                if u <= limit:
                    best = (u, v)
                    break
                best = min(best, (u, v))
            u, v = best
            if u > limit:
                c = tuple(int(x) for x in ijk[v])
                raise NoSafeOrder(
                    f"no order keeps every state under utilisation {limit:g}: at placement {step} all "
                    f"{min(len(candidates), max_tries)} candidate voxel(s) overload a joint, the least loaded "
                    f"{c} at {u:.3g} (stronger part types, a smaller placement force or temporary supports help)"
                )
            worst = max(worst, u)
            order.append(v)
            placed[tuple(ijk[v])] = True
            for a in range(3):
                run_placed[runs[a][tuple(ijk[v])]] += 1
    except PhysicsError as exc:
        raise FabError(str(exc)) from None
    seq = np.asarray(order)
    placements = np.column_stack([np.arange(len(seq)), ijk[seq], raw["placements"][seq, 4]]).astype(np.int64)
    new = {k: v for k, v in raw.items() if k != "placements"}
    new["placements"] = placements
    rate = float((raw.get("summary") or {}).get("placement_rate_per_hour", 360.0))
    new["summary"] = _summary(placements, raw["part_types"], rate, level)
    new["summary"]["physics"] = {"max_utilisation": worst, "limit": limit, "placement_force_n": list(push),
                                 "gravity_m_s2": list(g)}  # fmt: skip
    return new, {"worst_utilisation": worst, "states": len(seq), "limit": limit}


# ------------------------------------------------------------------------------------------- VoxCAD export


def export_vxa(
    plan: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    part_types: str | os.PathLike[str] | None = None,
    part_type: str | None = None,
    gravity: str | None = None,
) -> dict[str, Any]:
    """Write the plan's finished structure as VoxCAD / voxcraft-sim ``.vxa`` (or ``.vxc``): one palette material
    per part type with the continuum a Voxelyze beam of the same voxel needs for the joint's axial stiffness
    (E = k_a / a), the voxel's mass as density (m / a^3) and the joint's tensile strength as failure stress
    (N_u / a^2). Voxelyze derives bending, shear and torsion from E and Poisson's ratio, so only a bonded solid
    voxel keeps those exactly; bolted and snap joints are stiffer there than here."""
    from exporters.vxa import VxaMaterial, write_vxa

    g = parse_vector(gravity, "--gravity", DEFAULT_GRAVITY)
    if g[0] or g[1]:
        raise FabError("a .vxa file holds gravity along z only")
    structure = load_structure(plan, part_types, part_type)
    a = structure.pitch_mm * MM
    materials = []
    for t in structure.part_types:
        p = t.law_parameters()
        materials.append(VxaMaterial(t.name, p["axial_stiffness"] / a, t.mass_kg / a**3, t.material.poisson_ratio,
                                     p["tensile_strength"] / a**2))  # fmt: skip
    shape = tuple(int(v) for v in structure.ijk.max(axis=0) + 1)
    ids = np.zeros(shape, dtype=np.int64)
    ids[tuple(structure.ijk.T)] = structure.type_index + 1
    write_vxa(path, ids, structure.pitch_mm, materials, gravity=g[2])
    return {"path": str(path), "voxels": structure.count, "materials": len(materials)}
