"""Part import: CadQuery scripts and objects, STEP files and meshes, all turned into a repaired mesh in mm.

Sources and units:

- CadQuery script (``.py``): run through ``cadquery.cqgi`` with ``params`` overriding its top-level variables;
  the part is what the script passes to ``show_object`` (or, failing that, a top-level ``result`` variable).
  Its numbers are taken in ``units`` (default mm).
- CadQuery ``Workplane`` / ``Shape`` / ``Assembly`` objects: numbers in ``units`` (default mm).
- STEP (``.step``/``.stp``): the file carries its own length unit and OpenCASCADE converts it to mm, so ``units``
  must be left at mm.
- Meshes (``.stl``/``.obj``/``.ply``/``.off``/``.3mf``): unitless; numbers are taken in ``units``.

B-reps are tessellated with a chordal tolerance in *millimetres* (CadQuery's exporters default to a tolerance
relative to the part size: not used here). Every mesh is repaired (duplicate vertices merged, degenerate and
duplicate faces dropped, winding made consistent with outward normals) and checked for watertightness; for
B-rep sources the mesh volume is compared with the exact B-rep volume.
"""

from __future__ import annotations

import ast
import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from fab.errors import FabError

UNITS_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4, "inch": 25.4, "ft": 304.8}
MESH_SUFFIXES = {".stl", ".obj", ".ply", ".off", ".3mf"}
STEP_SUFFIXES = {".step", ".stp"}
SCRIPT_SUFFIXES = {".py"}


@dataclass
class Part:
    """A part as a repaired triangle mesh in millimetres, with where it came from."""

    mesh: trimesh.Trimesh
    source: str
    source_sha256: str
    brep_volume_mm3: float | None = None
    watertight: bool = True
    open_edges: int = 0
    repairs: dict[str, Any] = field(default_factory=dict)

    @property
    def volume_mm3(self) -> float:
        """Mesh volume; the exact B-rep volume when the mesh is open (its own volume is then meaningless)."""
        if not self.watertight and self.brep_volume_mm3 is not None:
            return self.brep_volume_mm3
        return float(abs(self.mesh.volume))

    @property
    def bbox_mm(self) -> np.ndarray:
        """(2, 3): min and max corner in mm."""
        return np.asarray(self.mesh.bounds, dtype=np.float64)

    @property
    def triangles(self) -> int:
        return int(len(self.mesh.faces))


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def unit_scale(units: str) -> float:
    """Millimetres per unit of ``units``."""
    try:
        return UNITS_TO_MM[units.strip().lower()]
    except (KeyError, AttributeError):
        raise FabError(f"unknown unit {units!r}: use one of {', '.join(sorted(UNITS_TO_MM))}") from None


def load_part(
    source: Any,
    *,
    params: dict[str, Any] | None = None,
    units: str = "mm",
    tolerance_mm: float = 0.01,
    angular_tolerance_rad: float = 0.2,
) -> Part:
    """Import a part from a file path or a CadQuery object; see the module docstring for sources and units."""
    scale = unit_scale(units)
    if not (np.isfinite(tolerance_mm) and tolerance_mm > 0):
        raise FabError(f"tessellation tolerance must be a positive number of mm, got {tolerance_mm}")
    if not isinstance(source, str | os.PathLike):
        shape = _shape_of(source, "the CadQuery object")
        return _part_from_shape(shape, "<cadquery object>", None, scale, tolerance_mm, angular_tolerance_rad)

    path = Path(source)
    if not path.exists():
        raise FabError(f"part file not found: {path}")
    if not path.is_file():
        raise FabError(f"not a file: {path}")
    suffix = path.suffix.lower()
    digest = file_sha256(path)
    if suffix in SCRIPT_SUFFIXES:
        shape = _shape_from_script(path, params or {})
        return _part_from_shape(shape, str(path), digest, scale, tolerance_mm, angular_tolerance_rad)
    if params:
        raise FabError(f"parameters apply to CadQuery scripts only, not to {suffix} files")
    if suffix in STEP_SUFFIXES:
        if scale != 1.0:
            raise FabError("STEP files carry their own units (read as mm): leave units at mm")
        shape = _shape_from_step(path)
        return _part_from_shape(shape, str(path), digest, 1.0, tolerance_mm, angular_tolerance_rad)
    if suffix in MESH_SUFFIXES:
        return _part_from_mesh(_read_mesh(path), str(path), digest, scale)
    known = sorted(SCRIPT_SUFFIXES | STEP_SUFFIXES | MESH_SUFFIXES)
    raise FabError(
        f"unknown part format {suffix or '(no extension)'!r} for {path}: use one of {', '.join(known)}"
    )


def _shape_of(obj: Any, what: str):
    """The single OCC-backed ``cq.Shape`` in a Workplane, Shape, Assembly or sketch result."""
    import cadquery as cq

    if isinstance(obj, cq.Assembly):
        obj = obj.toCompound()
    if isinstance(obj, cq.Workplane):
        shapes = [o for o in obj.vals() if isinstance(o, cq.Shape)]
        if not shapes:
            raise FabError(f"{what} holds no solid")
        obj = shapes[0] if len(shapes) == 1 else cq.Compound.makeCompound(shapes)
    if not isinstance(obj, cq.Shape):
        raise FabError(f"{what} is a {type(obj).__name__}, not a CadQuery Workplane, Shape or Assembly")
    if not obj.Solids():
        raise FabError(f"{what} has no solid (only {obj.ShapeType().lower()} geometry): nothing with volume")
    return obj


def _assigns_result(script: str) -> bool:
    tree = ast.parse(script)
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "result" for t in node.targets)
        for node in tree.body
    )


def _shape_from_script(path: Path, params: dict[str, Any]):
    from cadquery import cqgi

    script = path.read_text(encoding="utf-8", errors="replace")
    try:
        model = cqgi.parse(script)
    except SyntaxError as exc:
        raise FabError(f"{path.name}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        raise FabError(f"cannot parse CadQuery script {path.name}: {exc}") from None
    unknown = sorted(set(params) - set(model.metadata.parameters))
    if unknown:
        declared = ", ".join(sorted(model.metadata.parameters)) or "none"
        raise FabError(f"{path.name} has no parameter {', '.join(unknown)} (it declares: {declared})")
    result = model.build(build_parameters=params)
    if result.success and not result.results and _assigns_result(script):
        result = cqgi.parse(script + "\nshow_object(result)\n").build(build_parameters=params)
    if not result.success:
        raise FabError(
            f"CadQuery script {path.name} failed: {_describe_script_error(result.exception, path)}"
        )
    if not result.results:
        raise FabError(
            f"CadQuery script {path.name} defines no result: call show_object(part) or assign `result`"
        )
    shapes = [_shape_of(r.shape, f"the result of {path.name}") for r in result.results]
    if len(shapes) == 1:
        return shapes[0]
    import cadquery as cq

    return cq.Compound.makeCompound(shapes)


def _describe_script_error(exc: BaseException | None, path: Path) -> str:
    if exc is None:
        return "unknown error"
    line = ""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in ("<string>", "<cqscript>"):
            line = f" (line {tb.tb_lineno})"
        tb = tb.tb_next
    return f"{type(exc).__name__}: {exc}{line}"


def _shape_from_step(path: Path):
    import cadquery as cq

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workplane = cq.importers.importStep(str(path))
    except Exception as exc:
        raise FabError(f"cannot read STEP file {path.name}: {exc}") from None
    return _shape_of(workplane, f"STEP file {path.name}")


def _part_from_shape(
    shape, source: str, digest: str | None, scale: float, tolerance_mm: float, angular_tolerance: float
) -> Part:
    if not shape.isValid():
        warnings.warn(
            f"{source}: the B-rep is not valid according to OpenCASCADE; the mesh may be wrong", stacklevel=3
        )
    if scale != 1.0:
        shape = shape.scale(scale)
    brep_volume = float(shape.Volume())
    if not np.isfinite(brep_volume) or brep_volume <= 0:
        raise FabError(f"{source}: the part has zero volume")
    vertices, triangles = _tessellate_mm(shape, tolerance_mm, angular_tolerance)
    points = np.array([(v.x, v.y, v.z) for v in vertices], dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    mesh = trimesh.Trimesh(points, faces, process=False)
    if digest is None:
        digest = hashlib.sha256(points.tobytes() + faces.tobytes()).hexdigest()
    part = _part_from_mesh(mesh, source, digest, 1.0, brep_volume=brep_volume)
    # A chordal error of t over a surface of area A moves the volume by at most ~t*A.
    allowed = max(1e-6 * brep_volume, 2.0 * tolerance_mm * float(shape.Area()))
    if part.watertight and abs(part.mesh.volume - brep_volume) > allowed:
        warnings.warn(
            f"{source}: mesh volume {part.mesh.volume:.4g} mm^3 differs from the B-rep volume "
            f"{brep_volume:.4g} mm^3 by more than the tessellation tolerance explains",
            stacklevel=3,
        )
    part.repairs["mesh_vs_brep_volume_pct"] = 100.0 * (abs(part.mesh.volume) - brep_volume) / brep_volume
    return part


def _tessellate_mm(shape, tolerance_mm: float, angular_tolerance: float):
    """Triangulate with an absolute chordal deflection in mm (CadQuery's own call uses a relative one)."""
    from OCP.BRepMesh import BRepMesh_IncrementalMesh
    from OCP.BRepTools import BRepTools

    BRepTools.Clean_s(shape.wrapped)  # drop any cached (possibly relative-tolerance) triangulation
    BRepMesh_IncrementalMesh(shape.wrapped, tolerance_mm, False, angular_tolerance, True)
    return shape.tessellate(tolerance_mm, angular_tolerance)  # reuses the triangulation made above


def _read_mesh(path: Path) -> trimesh.Trimesh:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:
        raise FabError(f"cannot read mesh {path.name}: {type(exc).__name__}: {exc}") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise FabError(f"the mesh in {path.name} is empty: no triangles")
    return loaded


def _part_from_mesh(
    mesh: trimesh.Trimesh, source: str, digest: str, scale: float, brep_volume: float | None = None
) -> Part:
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    if len(mesh.faces) == 0 or len(vertices) == 0:
        raise FabError(f"{source}: the mesh is empty: no triangles")
    if not np.isfinite(vertices).all():
        bad = int((~np.isfinite(vertices).all(axis=1)).sum())
        raise FabError(f"{source}: {bad} vertices have NaN or infinite coordinates")
    faces_before, vertices_before = len(mesh.faces), len(vertices)
    mesh = trimesh.Trimesh(vertices * scale, np.asarray(mesh.faces), process=False)
    mesh.merge_vertices()
    mesh.update_faces(mesh.nondegenerate_faces(height=1e-12))
    mesh.update_faces(mesh.unique_faces())
    mesh.remove_unreferenced_vertices()
    if len(mesh.faces) == 0:
        raise FabError(f"{source}: every triangle is degenerate: the part has zero volume")
    extent = mesh.extents
    if (extent <= 0).any():
        raise FabError(f"{source}: the part is flat (extent {np.round(extent, 6).tolist()} mm): zero volume")
    trimesh.repair.fix_normals(mesh)
    watertight = bool(mesh.is_watertight)
    open_edges = 0
    if not watertight:
        counts = np.unique(mesh.edges_sorted, axis=0, return_counts=True)[1]
        open_edges = int((counts == 1).sum())
        warnings.warn(f"{source}: the mesh is not watertight ({open_edges} open edges)", stacklevel=3)
    elif abs(mesh.volume) <= 1e-9 * float(np.prod(extent)):
        raise FabError(f"{source}: the part has zero volume")
    repairs = {
        "vertices_merged": vertices_before - len(mesh.vertices),
        "faces_dropped": faces_before - len(mesh.faces),
    }
    return Part(
        mesh=mesh,
        source=source,
        source_sha256=digest,
        brep_volume_mm3=brep_volume,
        watertight=watertight,
        open_edges=open_edges,
        repairs=repairs,
    )
