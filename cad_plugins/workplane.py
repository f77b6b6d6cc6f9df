"""The pipeline as ``cq.Workplane`` methods: voxelize, stress-test and export a part without leaving the script.

Importing :mod:`cad_plugins` attaches these methods (CadQuery's plugin convention, as for the gears):

- ``.voxelize(pitch=None, count=None)`` -> :class:`fab.voxels.VoxelGrid`
- ``.stress_test(material="PLA", pitch=None, fix="<X", load=">X", force=(Fx, Fy, Fz), test="static")``
  -> the report of :func:`fab.stress.stress_test` (``max_displacement_mm``, ``max_von_mises_pa``, ...,
  ``.summary()``, ``.show()``, ``.save_png(path)``)
- ``.morph("gear", module=..., teeth=..., ...)`` -> a Workplane holding the gear grown by
  :mod:`fab.morph` (chainable, placed like ``.spur_gear``)
- ``.export_stl(path)``, ``.export_gcode(path, printer=..., infill=...)``, ``.export_cnc(path, tool=...)``,
  ``.export_assembly(path, pitch=...)``: write the file through :func:`fab.export.export` (atomically: no
  half-written file on error) and return the same Workplane, so a chain goes on after them, like
  CadQuery's own ``Workplane.export``.

The part is the solids on the stack, or the solid in the chain when the stack holds none (after
``.faces(">Z")``, say). Lengths are in mm, forces in N. Bad input raises :class:`fab.errors.FabError` (or
the exporters' ``ExportError``) with a one-line message.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cadquery as cq
import numpy as np

from fab.errors import FabError

if TYPE_CHECKING:
    from fab.voxels import VoxelGrid

__all__ = ["part_shape", "register", "stress_loads"]

#: Default chordal tessellation tolerance (mm), the same as ``fab export``'s.
DEFAULT_TOLERANCE_MM = 0.01
_LOAD_KINDS = ("force", "torque", "displacement", "velocity")

PathLike = str | os.PathLike[str]


def part_shape(wp: cq.Workplane) -> cq.Shape:
    """The solid(s) a Workplane stands for: the solids on its stack, else the solid in its chain."""
    solids = [v for v in wp.vals() if isinstance(v, cq.Shape) and v.Solids()]
    if len(solids) == 1:
        return solids[0]
    if solids:
        return cq.Compound.makeCompound(solids)
    try:
        return wp.findSolid()
    except ValueError:
        raise FabError("the Workplane holds no solid: build or select a solid before this call") from None


def _export(wp: cq.Workplane, tolerance: float, summary: dict | None, progress: bool, **files: Any) -> None:
    from fab.export import export

    if summary is not None and not isinstance(summary, dict):
        raise FabError(f"summary must be a dict to fill in, got {type(summary).__name__}")
    result = export(part_shape(wp), tolerance_mm=tolerance, quiet=not progress, **files)
    if summary is not None:
        summary.update(result["outputs"])


def _wp_voxelize(
    self: cq.Workplane,
    pitch: float | None = None,
    count: int | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE_MM,
    **options: Any,
) -> VoxelGrid:
    """Voxelize the part at ``pitch`` mm (or about ``count`` filled voxels): a voxel is filled when its
    centre is inside. ``tolerance`` is the tessellation's chordal tolerance in mm; ``options`` go to
    :func:`fab.voxels.voxelize` (``memory_limit_mb``, ``material_id``, ``materials``, ...)."""
    from fab.part import load_part
    from fab.voxels import voxelize

    part = load_part(part_shape(self), tolerance_mm=tolerance)
    return voxelize(part.mesh, pitch=pitch, count=count, source_sha256=part.source_sha256, **options)


def _wp_export_stl(
    self: cq.Workplane,
    path: PathLike,
    tolerance: float = DEFAULT_TOLERANCE_MM,
    *,
    summary: dict | None = None,
    progress: bool = False,
) -> cq.Workplane:
    """Write the part as binary STL (or 3MF when ``path`` ends in ``.3mf``), tessellated within
    ``tolerance`` mm and repaired; returns this Workplane. ``summary``, when given, receives the figures
    ``fab export`` reports (``{"stl": {"triangles": ..., "volume_mm3": ..., "watertight": ...}}``)."""
    _export(self, tolerance, summary, progress, stl=path)
    return self


def _wp_export_gcode(
    self: cq.Workplane,
    path: PathLike,
    printer: PathLike | None = None,
    *,
    material: Any = None,
    filament: PathLike | None = None,
    tolerance: float = DEFAULT_TOLERANCE_MM,
    summary: dict | None = None,
    progress: bool = False,
    **printer_options: Any,
) -> cq.Workplane:
    """Slice the part into FDM G-code for ``printer`` (a built-in profile such as ``"prusa_mk3s"`` or
    ``"ender3"``, a TOML path, or None for the default); ``printer_options`` are the slicer settings
    ``fab export`` takes (``layer_height`` mm, ``infill`` 0..1, ``infill_pattern``, ``perimeters``,
    ``top_layers``, ``bottom_layers``). Returns this Workplane; ``summary`` receives ``{"gcode": {...}}``
    (layers, filament, estimated print time). ``material`` (a built-in such as ``"PETG"``, or the Material a
    stress test used) sets the temperatures and fan; ``filament`` (a TOML file) overrides it; PLA without
    either."""
    _export(
        self, tolerance, summary, progress, gcode=path, printer=printer, slicer_settings=printer_options,
        material=material, filament=filament,
    )
    return self


def _wp_export_cnc(
    self: cq.Workplane,
    path: PathLike,
    tool: PathLike | None = None,
    *,
    flavor: str = "grbl",
    tabs: int | None = None,
    dxf: PathLike | None = None,
    svg: PathLike | None = None,
    tolerance: float = DEFAULT_TOLERANCE_MM,
    summary: dict | None = None,
    progress: bool = False,
) -> cq.Workplane:
    """Cut a flat part (extruded along z): profile-cutting G-code for ``tool`` (a built-in profile such
    as ``"endmill-3.175-wood"`` or ``"laser-co2-3mm-plywood"``, or a TOML path), in ``flavor`` ``grbl`` or
    ``linuxcnc``, with ``tabs`` holding tabs per outside contour; ``dxf``/``svg`` also write the outline.
    Returns this Workplane; ``summary`` receives ``{"cnc": {...}, "dxf": ..., "svg": ...}``."""
    _export(
        self, tolerance, summary, progress, cnc=path, tool=tool, flavor=flavor, tabs=tabs, dxf=dxf, svg=svg
    )
    return self


def _wp_export_assembly(
    self: cq.Workplane,
    path: PathLike,
    pitch: float | None = None,
    *,
    count: int | None = None,
    placement_rate_per_hour: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE_MM,
    summary: dict | None = None,
    progress: bool = False,
) -> cq.Workplane:
    """Voxelize the part at ``pitch`` mm (or about ``count`` voxels) and write a voxel assembly plan
    (JSON, docs/assembly-format.md: a buildable placement order for a robot). Returns this Workplane;
    ``summary`` receives ``{"assembly": {...}}`` (voxels, layers, estimated build time)."""
    _export(
        self,
        tolerance,
        summary,
        progress,
        assembly=path,
        pitch=pitch,
        count=count,
        placement_rate_per_hour=placement_rate_per_hour,
    )
    return self


def _vector(name: str, value: Any) -> str:
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) != 3:
        raise FabError(f"{name} must be 3 numbers (x, y, z), got {value!r}")
    return ",".join(repr(v) for v in numbers)


def _regions(name: str, value: str | Sequence[str]) -> list[str]:
    regions = [value] if isinstance(value, str) else list(value)
    if not regions or not all(isinstance(r, str) and r.strip() for r in regions):
        raise FabError(f"{name} must be a region expression such as '<X' (or a list of them), got {value!r}")
    return regions


def stress_loads(
    load: str | Sequence[str],
    force: Sequence[float] | None = None,
    torque: Sequence[float] | None = None,
    displacement: Sequence[float] | None = None,
    velocity: Sequence[float] | None = None,
) -> tuple[str, ...]:
    """``--load`` strings (``REGION:force=Fx,Fy,Fz``) from load regions and the vectors applied to each.

    A region already written in the flag syntax (``">X:force=0,0,-200"``) is passed through as it is;
    every other region gets each of the vectors given (force N, torque N*m, displacement mm, velocity m/s).
    """
    vectors = {
        kind: _vector(kind, vec)
        for kind, vec in zip(_LOAD_KINDS, (force, torque, displacement, velocity), strict=True)
        if vec is not None
    }
    out: list[str] = []
    for region in _regions("load", load):
        if any(f":{k}=" in region.replace(" ", "") for k in _LOAD_KINDS):
            out.append(region)
        elif not vectors:
            raise FabError(
                f"load region {region!r} carries nothing: give force=(Fx, Fy, Fz) in N "
                "(or torque= N*m, displacement= mm, velocity= m/s)"
            )
        else:
            out.extend(f"{region}:{kind}={vec}" for kind, vec in vectors.items())
    return tuple(out)


def _wp_stress_test(
    self: cq.Workplane,
    material: str | dict = "PLA",
    pitch: float | None = None,
    fix: str | Sequence[str] = "<X",
    load: str | Sequence[str] = ">X",
    force: Sequence[float] | None = None,
    test: str = "static",
    *,
    torque: Sequence[float] | None = None,
    displacement: Sequence[float] | None = None,
    velocity: Sequence[float] | None = None,
    **options: Any,
) -> Any:
    """Stress-test the part: hold the ``fix`` region(s), load the ``load`` region(s) with ``force``
    (N, total over the region; or ``torque`` N*m, ``displacement`` mm, ``velocity`` m/s) and run ``test``
    (``static``, ``failure``, ``shear``, ``impact``) in ``material`` (a library name or a dict of SI
    properties, docs/materials.md) on a lattice of ``pitch`` mm. Regions use the ``fab simulate`` syntax
    (docs/job-file.md). ``options`` go to :func:`fab.stress.stress_test` (``count``, ``model``,
    ``dimension``, ``steps``, ``progress``).

    Returns the report, whose attributes are the ``result`` fields of ``fab simulate --json``
    (``max_displacement_mm``, ``max_von_mises_pa``, ``reaction_force_n``, ``broken_bond_fraction``,
    ``fragments``, ``failure_load_n``, ``safety_factor``) with ``.summary()``, ``.show()`` and
    ``.save_png(path)``.
    """
    from fab.stress import stress_test

    loads = stress_loads(load, force=force, torque=torque, displacement=displacement, velocity=velocity)
    return stress_test(
        part_shape(self),
        material=material,
        pitch=pitch,
        fix=tuple(_regions("fix", fix)),
        load=loads,
        test=test,
        **options,
    )


def _wp_morph(
    self: cq.Workplane,
    problem: str = "gear",
    *,
    output: PathLike = "out/morph",
    resume: bool = False,
    scheduler: str | None = None,
    summary: dict | None = None,
    progress: bool = False,
    combine: bool = True,
    clean: bool = True,
    **keys: Any,
) -> cq.Workplane:
    """Grow a design by morphogenesis (:mod:`fab.morph`) and put it on this workplane, like ``.spur_gear``.

    ``problem="gear"`` grows a spur gear by its cutting process, scored by how it meshes and how strong it
    is; ``keys`` are the ``[morph]`` keys of docs/morphogenesis.md (``module``, ``teeth``, ``face_width``,
    ``torque``, ``material``, ``bore``, ``generations``, ``population``, ``seed``, ``budget_minutes``, ...).
    The search writes its report and files into ``output``; ``resume`` continues from its checkpoint,
    ``scheduler`` is a dask scheduler address (or ``"local"``). Returns a Workplane holding the grown
    gear (one per stack point, unioned with the solid in the chain when ``combine``), built from the
    best outline with :func:`cad_plugins.gears.gear_from_profile`; ``summary`` receives what
    ``fab morph`` reports (best score, transmission error, contact ratio, files).
    """
    from pathlib import Path

    import shapely

    from fab.morph.config import morph_job_from_table
    from fab.morph.gear_report import gear_outline
    from fab.morph.run import run_morph

    if summary is not None and not isinstance(summary, dict):
        raise FabError(f"summary must be a dict to fill in, got {type(summary).__name__}")
    # Errors name the method the way a job file's name would appear; output is relative to the cwd.
    job = morph_job_from_table(
        {"morph": {"problem": problem, "output": str(output), **keys}}, Path.cwd() / "Workplane.morph"
    )
    result = run_morph(job, resume=resume, scheduler=scheduler, quiet=not progress)
    if summary is not None:
        summary.update(result)
    outline = gear_outline(job.problem, np.asarray(result["best"]["genome"], dtype=float))
    xy = shapely.get_coordinates(outline.exterior)[:-1]
    return self.gear_from_profile(xy, job.problem.face_width, job.bore, combine=combine, clean=clean)


def _wp_refine(
    self: cq.Workplane,
    material: str | dict = "PLA",
    fix: str | Sequence[str] = "<X",
    load: str | Sequence[str] = ">X",
    force: Sequence[float] | Sequence[Sequence[float]] | None = None,
    *,
    pitch: float | None = None,
    count: int | None = None,
    model: str = "lps",
    output: PathLike = "out/refine",
    failure: bool = False,
    summary: dict | None = None,
    progress: bool = False,
    **keys: Any,
) -> cq.Workplane:
    """Refine this part by 3D morphogenesis (docs/morphogenesis.md, Problem 3) and return a Workplane holding the
    refined solid (faceted, from the smooth watertight surface of the refined voxels), so ``.export_stl()``,
    ``.export_gcode()``, ``.stress_test()`` and CadQuery operations chain on it.

    ``fix`` and ``load`` are regions (docs/job-file.md); ``force`` (N, total over the load regions) is one vector,
    or a list of vectors, each its own load case (the design must hold every one). ``keys`` are the ``[morph]``
    keys of a part refinement (``goal``, ``safety_factor``, ``volume_fraction``, ``design_space``, ``keep_in``,
    ``keep_out``, ``min_thickness``, ``overhang``, ``symmetry``, ``mode``, ``steps``, ...). ``failure`` runs the
    failure tests of the original and the refined part (slow); ``summary`` receives what ``fab morph`` reports;
    the refinement's files (``refined.stl``, ``refined.step``, ``refine.png``, ``summary.json``) go to ``output``.
    """
    from pathlib import Path

    from fab.job import DEFAULT_COUNT, Fix, Job, PartSpec, PhysicsSpec, TestSpec, VoxelSpec, parse_load_flag
    from fab.materials import get_material
    from fab.part import load_part
    from fab.refine import refine, refined_solid

    if summary is not None and not isinstance(summary, dict):
        raise FabError(f"summary must be a dict to fill in, got {type(summary).__name__}")
    if force is None:
        raise FabError("refine needs force=(Fx, Fy, Fz) in N (or a list of them, one a load case)")
    forces = [force] if not isinstance(force[0], Sequence) else list(force)
    loads, cases = [], []
    for vec in forces:
        flags = stress_loads(load, force=vec)
        cases.append([len(loads) + i + 1 for i in range(len(flags))])
        loads.extend(parse_load_flag(f) for f in flags)
    if pitch is not None and count is not None:
        raise FabError("give either pitch (mm) or count, not both")
    job = Job(
        part=PartSpec(source=Path("<workplane>")),
        voxels=VoxelSpec(pitch=pitch) if pitch is not None else VoxelSpec(count=count or DEFAULT_COUNT),
        material=get_material(material),
        physics=PhysicsSpec(model=model),
        fix=tuple(Fix(f.strip()) for f in _regions("fix", fix)),
        load=tuple(loads),
        test=TestSpec(kind="failure"),
        morph={"problem": "part", "output": str(Path(output).resolve()), "cases": cases, **keys},
        path=Path.cwd() / "Workplane.refine",
    )
    result = refine(job, part=load_part(part_shape(self)), failure=failure, exports=False, quiet=not progress)
    if summary is not None:
        summary.update(result)
    return self.newObject([refined_solid(result["outputs"]["stl"])])


def register() -> None:
    """Attach the pipeline methods to ``cq.Workplane``."""
    cq.Workplane.voxelize = _wp_voxelize
    cq.Workplane.stress_test = _wp_stress_test
    cq.Workplane.export_stl = _wp_export_stl
    cq.Workplane.export_gcode = _wp_export_gcode
    cq.Workplane.export_cnc = _wp_export_cnc
    cq.Workplane.export_assembly = _wp_export_assembly
    cq.Workplane.morph = _wp_morph
    cq.Workplane.refine = _wp_refine


register()
