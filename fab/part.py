"""Part import: CadQuery scripts and objects, STEP files and meshes, all turned into a repaired mesh in mm.

Sources and what ``units`` means for each:

- CadQuery script (``.py``): run through ``cadquery.cqgi`` with ``params`` overriding its top-level variables
  (values are converted to the type of the script's default: ``"30"`` -> 30 for an int, ``"false"`` -> False
  for a bool). The part is what the script passes to ``show_object``, or else its top-level ``result``
  variable. The script's numbers are read in ``units`` (default mm) and scaled to mm.
- CadQuery ``Workplane`` / ``Shape`` / ``Assembly`` objects: numbers read in ``units`` (default mm).
- STEP (``.step``/``.stp``): a STEP file always declares its length unit and OpenCASCADE converts it to mm,
  so ``units`` must be left at mm (anything else is an error rather than a silent double scaling).
- Meshes (``.stl``/``.obj``/``.ply``/``.off``/``.3mf``): unitless numbers, read in ``units``.

B-reps are tessellated with a chordal tolerance in *millimetres* (CadQuery's exporters default to a tolerance
relative to the part size, which is not used here). Every mesh is repaired (duplicate vertices merged,
degenerate and duplicate faces dropped, small holes of one to four edges filled, winding made consistent with
outward normals) and checked for watertightness; for B-rep sources the mesh volume is compared with the exact
B-rep volume and a warning is issued when they differ by more than the tessellation tolerance explains.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import trimesh

from fab.errors import FabError

if TYPE_CHECKING:
    import cadquery as cq

UNITS_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4, "inch": 25.4, "ft": 304.8}
MESH_SUFFIXES = {".stl", ".obj", ".ply", ".off", ".3mf"}
# A part whose largest extent is under this many mm is more likely in metres or inches than millimetres: warn.
SMALL_PART_MM = 1.0
STEP_SUFFIXES = {".step", ".stp"}
SCRIPT_SUFFIXES = {".py"}
# Surfaces whose mesh needs BRepMesh's interior deflection control. Planes and analytic surfaces are split
# exactly by their own range splitters, and a linear extrusion is straight along its direction, so its chords
# are those of its edges; controlling them anyway multiplies the triangles (about 18x on a spur gear).
_FREEFORM_SURFACES = {"BSPLINE", "BEZIER", "REVOLUTION", "OFFSET", "OTHER"}
# Height (mm) under which a triangle counts as degenerate: far below any tessellation tolerance.
_DEGENERATE_HEIGHT_MM = 1e-9


@dataclass
class Part:
    """A part as a repaired triangle mesh in millimetres, with where it came from.

    ``repairs`` records what the import did to the mesh: ``vertices_merged``, ``degenerate_faces_dropped``,
    ``duplicate_faces_dropped``, ``holes_filled`` (faces added), ``faces_flipped`` (winding made consistent
    and outward) and, for B-rep sources, ``mesh_vs_brep_volume_pct``.
    """

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
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def unit_scale(units: str) -> float:
    """Millimetres per unit of ``units`` (``mm``, ``cm``, ``m``, ``in``/``inch``, ``ft``)."""
    try:
        return UNITS_TO_MM[units.strip().lower()]
    except (KeyError, AttributeError):
        raise FabError(f"unknown unit {units!r}: use one of {', '.join(sorted(UNITS_TO_MM))}") from None


def load_part(
    source: str | os.PathLike[str] | cq.Workplane | cq.Shape | cq.Assembly,
    *,
    params: dict[str, Any] | None = None,
    units: str = "mm",
    tolerance_mm: float = 0.01,
    angular_tolerance_rad: float = 0.2,
) -> Part:
    """Import a part from a file path or a CadQuery object as a repaired mesh in mm.

    ``params`` override a CadQuery script's top-level variables; ``units`` is the unit the source's numbers
    are in (see the module docstring for each source); ``tolerance_mm`` is the largest chordal distance
    between a B-rep surface and its triangles, in mm, and ``angular_tolerance_rad`` the largest angle
    between neighbouring triangles' normals along a curved surface. Raises :class:`FabError` for bad input.
    """
    scale = unit_scale(units)
    if not (isinstance(tolerance_mm, int | float) and np.isfinite(tolerance_mm) and tolerance_mm > 0):
        raise FabError(f"tessellation tolerance must be a positive number of mm, got {tolerance_mm!r}")
    if not (isinstance(angular_tolerance_rad, int | float) and 0 < angular_tolerance_rad <= np.pi / 2):
        raise FabError(f"angular tolerance must be in (0, pi/2] radians, got {angular_tolerance_rad!r}")
    if not isinstance(source, str | os.PathLike):
        if params:
            raise FabError("parameters apply to CadQuery scripts only, not to a CadQuery object")
        shape = _shape_of(source, "the CadQuery object")
        return _checked_size(
            _part_from_shape(shape, "<cadquery object>", None, scale, tolerance_mm, angular_tolerance_rad), units
        )

    path = Path(source)
    if not path.exists():
        raise FabError(f"part file not found: {path}")
    if not path.is_file():
        raise FabError(f"not a file: {path}")
    suffix = path.suffix.lower()
    known = SCRIPT_SUFFIXES | STEP_SUFFIXES | MESH_SUFFIXES
    if suffix not in known:
        raise FabError(
            f"unknown part format {suffix or '(no extension)'!r} for {path}: use one of {', '.join(sorted(known))}"
        )
    if params and suffix not in SCRIPT_SUFFIXES:
        raise FabError(f"parameters apply to CadQuery scripts only, not to {suffix} files")
    digest = file_sha256(path)
    if suffix in SCRIPT_SUFFIXES:
        shape = _shape_from_script(path, params or {})
        return _checked_size(
            _part_from_shape(shape, str(path), digest, scale, tolerance_mm, angular_tolerance_rad), units
        )
    if suffix in STEP_SUFFIXES:
        if scale != 1.0:
            raise FabError(
                f"STEP files declare their own length unit (converted to mm): drop units={units!r}"
            )
        shape = _shape_from_step(path)
        return _part_from_shape(shape, str(path), digest, 1.0, tolerance_mm, angular_tolerance_rad)
    return _checked_size(_part_from_mesh(_read_mesh(path), str(path), digest, scale), units)


def _checked_size(part: Part, units: str) -> Part:
    """Warn when the part is implausibly small for its units (an STL in metres read as millimetres voxelizes
    silently at a micrometre pitch) and suggest the units that would make it a plausible size."""
    size = float(np.ptp(part.mesh.bounds, axis=0).max())
    if size < SMALL_PART_MM:
        per_unit = unit_scale(units)
        hints = ", ".join(
            f"--units {u} ({size / per_unit * UNITS_TO_MM[u]:.4g} mm)" for u in ("m", "in") if u != units.strip().lower()
        )
        warnings.warn(
            f"{part.source} is only {size:.4g} mm across read in {units}: if its numbers are not {units}, give "
            f"{hints}",
            stacklevel=3,
        )
    return part


def _shape_of(obj: Any, what: str) -> cq.Shape:
    """The single OCC-backed ``cq.Shape`` in a Workplane, Shape or Assembly (several solids: a compound)."""
    import cadquery as cq

    if isinstance(obj, cq.Assembly):
        obj = obj.toCompound()  # applies each child's location
    if isinstance(obj, cq.Workplane):
        shapes = [o for o in obj.vals() if isinstance(o, cq.Shape)]
        if not shapes:
            raise FabError(f"{what} holds no shape")
        obj = shapes[0] if len(shapes) == 1 else cq.Compound.makeCompound(shapes)
    if not isinstance(obj, cq.Shape):
        raise FabError(f"{what} is a {type(obj).__name__}, not a CadQuery Workplane, Shape or Assembly")
    if not obj.Solids():
        raise FabError(f"{what} has no solid (only {obj.ShapeType().lower()} geometry): it has zero volume")
    return obj


def _coerce_param(name: str, value: Any, declared: Any) -> Any:
    """``value`` converted to the type of the script's default ``declared`` (cqgi would turn "30" into 30.0)."""
    if isinstance(declared, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise FabError(f"parameter {name} must be true or false, got {value!r}")
    if isinstance(declared, int):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise FabError(f"parameter {name} must be an integer, got {value!r}") from None
        if not number.is_integer():
            raise FabError(f"parameter {name} must be an integer, got {value!r}")
        return int(number)
    if isinstance(declared, float):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise FabError(f"parameter {name} must be a number, got {value!r}") from None
        if not np.isfinite(number):
            raise FabError(f"parameter {name} must be a finite number, got {value!r}")
        return number
    if isinstance(declared, str):
        return str(value)
    return value


def _shape_from_script(path: Path, params: dict[str, Any]) -> cq.Shape:
    from cadquery import cqgi

    try:
        script = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FabError(f"CadQuery script {path.name} is not UTF-8 text") from None
    try:
        model = cqgi.parse(script)
    except SyntaxError as exc:
        raise FabError(f"{path.name}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:  # a user's script may raise anything: named in the message, kept as the cause
        raise FabError(f"cannot parse CadQuery script {path.name}: {type(exc).__name__}: {exc}") from exc
    declared = model.metadata.parameters
    unknown = sorted(set(params) - set(declared))
    if unknown:
        names = ", ".join(sorted(declared)) or "none"
        raise FabError(f"{path.name} has no parameter {', '.join(unknown)} (it declares: {names})")
    values = {k: _coerce_param(k, v, declared[k].default_value) for k, v in params.items()}
    result = model.build(build_parameters=values)
    if not result.success:
        raise FabError(f"CadQuery script {path.name} failed: {_describe_script_error(result.exception)}")
    objects = [r.shape for r in result.results]
    if not objects and getattr(result, "env", None) is not None and result.env.get("result") is not None:
        objects = [result.env["result"]]
    if not objects:
        raise FabError(
            f"CadQuery script {path.name} defines no result: call show_object(part) or assign `result`"
        )
    shapes = [_shape_of(obj, f"the result of {path.name}") for obj in objects]
    if len(shapes) == 1:
        return shapes[0]
    import cadquery as cq

    return cq.Compound.makeCompound(shapes)


def _describe_script_error(exc: BaseException | None) -> str:
    """``ValueError: boom (line 3)``: the exception and the deepest line of the script in its traceback."""
    from cadquery.cqgi import CQSCRIPT

    if exc is None:
        return "unknown error"
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == CQSCRIPT:
            line = tb.tb_lineno
        tb = tb.tb_next
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _shape_from_step(path: Path) -> cq.Shape:
    import cadquery as cq

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workplane = cq.importers.importStep(str(path))
    except Exception as exc:  # OCC raises bare exceptions for unreadable files: kept as the cause
        raise FabError(
            f"cannot read STEP file {path.name}: {' '.join(str(exc).split()) or type(exc).__name__}"
        ) from exc
    return _shape_of(workplane, f"STEP file {path.name}")


def _part_from_shape(
    shape: cq.Shape,
    source: str,
    digest: str | None,
    scale: float,
    tolerance_mm: float,
    angular_tolerance: float,
) -> Part:
    if not shape.isValid():
        warnings.warn(
            f"{source}: OpenCASCADE reports the B-rep as invalid; the mesh may be wrong", stacklevel=3
        )
    if scale != 1.0:
        shape = shape.scale(scale)
    brep_volume = float(shape.Volume())
    if not np.isfinite(brep_volume) or brep_volume <= 0:
        raise FabError(f"{source}: the part has zero volume")
    points, faces = _tessellate_mm(shape, tolerance_mm, angular_tolerance)
    if digest is None:
        digest = hashlib.sha256(points.tobytes() + faces.tobytes()).hexdigest()
    mesh = trimesh.Trimesh(points, faces, process=False)
    part = _part_from_mesh(mesh, source, digest, 1.0, brep_volume=brep_volume)
    mesh_volume = float(part.mesh.volume)
    # Chords of a convex surface cut at most tolerance x area away (concave ones add as much); 2 t A bounds both.
    allowed = max(1e-6 * brep_volume, 2.0 * tolerance_mm * float(shape.Area()))
    if part.watertight and abs(mesh_volume - brep_volume) > allowed:
        warnings.warn(
            f"{source}: mesh volume {mesh_volume:.6g} mm^3 differs from the B-rep volume {brep_volume:.6g} mm^3 "
            f"by more than the {tolerance_mm:g} mm tessellation tolerance explains",
            stacklevel=3,
        )
    part.repairs["mesh_vs_brep_volume_pct"] = 100.0 * (mesh_volume - brep_volume) / brep_volume
    return part


def _tessellate_mm(
    shape: cq.Shape, tolerance_mm: float, angular_tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate with an absolute chordal deflection in mm: (points (n, 3) float64, faces (m, 3) int64).

    Faces are wound so their normals point out of the solid (reversed B-rep faces are flipped); vertices on
    shared edges appear once per face and are merged later by the repair.
    """
    from OCP.BRep import BRep_Tool
    from OCP.BRepMesh import BRepMesh_IncrementalMesh
    from OCP.BRepTools import BRepTools
    from OCP.IMeshTools import IMeshTools_Parameters
    from OCP.TopAbs import TopAbs_REVERSED
    from OCP.TopLoc import TopLoc_Location

    faces = shape.Faces()
    parameters = IMeshTools_Parameters()
    parameters.Deflection = float(tolerance_mm)
    parameters.Angle = float(angular_tolerance)
    parameters.Relative = False
    parameters.InParallel = True
    parameters.ControlSurfaceDeflection = any(f.geomType() in _FREEFORM_SURFACES for f in faces)
    BRepTools.Clean_s(shape.wrapped)  # drop any cached triangulation made with other (e.g. relative) settings
    BRepMesh_IncrementalMesh(shape.wrapped, parameters)

    point_blocks: list[np.ndarray] = []
    face_blocks: list[np.ndarray] = []
    offset = 0
    for face in faces:
        location = TopLoc_Location()
        triangulation = BRep_Tool.Triangulation_s(face.wrapped, location)
        if triangulation is None:
            raise FabError("OpenCASCADE could not triangulate a face of the part (is the B-rep valid?)")
        # OCP exposes no array view of a triangulation: one call per node (Coord() gives all three numbers at
        # once, about 15 % faster than X(), Y(), Z()) and per triangle.
        node, triangle = triangulation.Node, triangulation.Triangle
        local = np.array(
            [node(i).Coord() for i in range(1, triangulation.NbNodes() + 1)], dtype=np.float64
        ).reshape(-1, 3)
        tris = np.array(
            [triangle(i).Get() for i in range(1, triangulation.NbTriangles() + 1)], dtype=np.int64
        ).reshape(-1, 3)
        if not location.IsIdentity():
            trsf = location.Transformation()
            matrix = np.array([[trsf.Value(r, c) for c in range(1, 5)] for r in range(1, 4)])
            local = local @ matrix[:, :3].T + matrix[:, 3]
        if face.wrapped.Orientation() == TopAbs_REVERSED:
            tris = tris[:, ::-1]
        point_blocks.append(local)
        face_blocks.append(tris - 1 + offset)
        offset += len(local)
    return np.concatenate(point_blocks), np.concatenate(face_blocks)


def _read_mesh(path: Path) -> trimesh.Trimesh:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh's loaders raise many types for a bad file: named, kept as the cause
        message = " ".join(str(exc).split()) or "unreadable"
        raise FabError(f"cannot read mesh {path.name}: {type(exc).__name__}: {message}") from exc
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise FabError(f"the mesh in {path.name} is empty: no triangles")
    return loaded


def _flatness_mm(vertices: np.ndarray) -> float:
    """Largest distance of a vertex from the vertices' best-fit plane (0 for a flat sheet at any angle)."""
    centred = vertices - vertices.mean(axis=0)
    normal = np.linalg.svd(centred.T @ centred)[0][:, -1]
    return float(np.abs(centred @ normal).max())


def _count_flipped(before: np.ndarray, after: np.ndarray) -> int:
    """Faces whose vertex order is not a rotation of what it was, i.e. whose winding was reversed."""
    same = (
        (after == before).all(axis=1)
        | (after == np.roll(before, 1, axis=1)).all(axis=1)
        | (after == np.roll(before, 2, axis=1)).all(axis=1)
    )
    return int((~same).sum())


def _part_from_mesh(
    mesh: trimesh.Trimesh, source: str, digest: str, scale: float, brep_volume: float | None = None
) -> Part:
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    if len(mesh.faces) == 0 or len(vertices) == 0:
        raise FabError(f"{source}: the mesh is empty: no triangles")
    if not np.isfinite(vertices).all():
        bad = int((~np.isfinite(vertices).all(axis=1)).sum())
        raise FabError(f"{source}: {bad} vertices have NaN or infinite coordinates")
    mesh = trimesh.Trimesh(vertices * scale, np.asarray(mesh.faces, dtype=np.int64), process=False)
    repairs: dict[str, Any] = {}

    count = len(mesh.vertices)
    mesh.merge_vertices()
    repairs["vertices_merged"] = count - len(mesh.vertices)
    count = len(mesh.faces)
    mesh.update_faces(mesh.nondegenerate_faces(height=_DEGENERATE_HEIGHT_MM))
    repairs["degenerate_faces_dropped"] = count - len(mesh.faces)
    count = len(mesh.faces)
    mesh.update_faces(mesh.unique_faces())
    repairs["duplicate_faces_dropped"] = count - len(mesh.faces)
    mesh.remove_unreferenced_vertices()
    if len(mesh.faces) == 0:
        raise FabError(f"{source}: every triangle is degenerate: the part has zero volume")
    size = float(np.linalg.norm(mesh.extents))
    if _flatness_mm(mesh.vertices) <= 1e-9 * size:
        raise FabError(f"{source}: the part is a flat sheet: it has zero volume")

    if not mesh.is_watertight:
        count = len(mesh.faces)
        trimesh.repair.fill_holes(mesh)  # only closes holes of one to four edges: a dropped triangle or quad
        repairs["holes_filled"] = len(mesh.faces) - count
    else:
        repairs["holes_filled"] = 0
    before = np.array(mesh.faces)
    trimesh.repair.fix_normals(mesh)
    repairs["faces_flipped"] = _count_flipped(before, np.asarray(mesh.faces))

    watertight = bool(mesh.is_watertight)
    open_edges = 0
    if not watertight:
        counts = np.unique(mesh.edges_sorted, axis=0, return_counts=True)[1]
        open_edges = int((counts == 1).sum())
        warnings.warn(f"{source}: the mesh is not watertight ({open_edges} open edges)", stacklevel=3)
    elif abs(mesh.volume) <= 1e-9 * size**3:
        raise FabError(f"{source}: the part has zero volume")
    return Part(
        mesh=mesh,
        source=source,
        source_sha256=digest,
        brep_volume_mm3=brep_volume,
        watertight=watertight,
        open_edges=open_edges,
        repairs=repairs,
    )
