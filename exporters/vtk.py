"""VTK files for ParaView: voxel grids as ``.vti``, particle results as ``.vtu``, time series as ``.pvd``.

Geometry stays in millimetres (VTK has no unit; the field names say what they hold, e.g.
``displacement_mm``). A voxel becomes one VTK cell: the image's points are voxel *corners*, so the
ImageData origin is ``origin - pitch / 2``.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pyvista as pv

from exporters.atomic import atomic_open, atomic_path
from exporters.errors import ExportError
from exporters.grid import checked_grid


def voxel_image(
    occupancy: np.ndarray, pitch: float, origin, cell_data: dict[str, np.ndarray] | None = None
) -> pv.ImageData:
    """pyvista ImageData with one cell per voxel: ``occupancy`` (uint8) plus any per-voxel arrays."""
    occ, pitch, org = checked_grid(occupancy, pitch, origin, None)
    image = pv.ImageData(
        dimensions=tuple(s + 1 for s in occ.shape), spacing=(pitch,) * 3, origin=tuple(org - pitch / 2)
    )
    # VTK numbers cells with x fastest: Fortran order of an [x, y, z] array.
    image.cell_data["occupancy"] = occ.astype(np.uint8).ravel(order="F")
    for name, values in (cell_data or {}).items():
        arr = _vtk_array(values)
        if arr.shape[:3] != occ.shape:
            raise ExportError(
                f"cell_data[{name!r}] has shape {arr.shape}, expected {occ.shape} (+ components)"
            )
        comps = arr.shape[3:]
        image.cell_data[name] = arr.reshape(occ.size, *comps, order="F") if comps else arr.ravel(order="F")
    return image


def write_vti(
    occupancy: np.ndarray,
    pitch: float,
    origin,
    path: str | os.PathLike[str],
    cell_data: dict[str, np.ndarray] | None = None,
) -> None:
    """Write a voxel grid (mm) as VTK ImageData ``.vti`` with ``occupancy`` and optional per-voxel arrays."""
    _check_suffix(path, ".vti")
    image = voxel_image(occupancy, pitch, origin, cell_data)
    with atomic_path(path) as tmp:
        image.save(tmp, binary=True)


def particle_cloud(
    points_mm: np.ndarray, point_data: dict[str, np.ndarray] | None = None
) -> pv.UnstructuredGrid:
    """pyvista UnstructuredGrid of vertex cells, one per particle, carrying the per-particle arrays."""
    pts = np.asarray(points_mm, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ExportError(f"points must be an (N, 3) array with N > 0, got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ExportError("points contain NaN or infinite coordinates")
    n = len(pts)
    cells = np.column_stack([np.ones(n, dtype=np.int64), np.arange(n, dtype=np.int64)]).ravel()
    grid = pv.UnstructuredGrid(cells, np.full(n, pv.CellType.VERTEX, dtype=np.uint8), pts)
    for name, values in (point_data or {}).items():
        arr = _vtk_array(values)
        if arr.ndim == 0 or arr.shape[0] != n:
            raise ExportError(
                f"point_data[{name!r}] has {arr.shape[0]} rows, expected one per particle ({n})"
            )
        grid.point_data[name] = arr
    return grid


def write_vtu(
    points_mm: np.ndarray, path: str | os.PathLike[str], point_data: dict[str, np.ndarray] | None = None
) -> None:
    """Write particles (mm) as ``.vtu`` with point arrays (displacement, damage, von Mises, fragment id ...)."""
    _check_suffix(path, ".vtu")
    grid = particle_cloud(points_mm, point_data)
    with atomic_path(path) as tmp:
        grid.save(tmp, binary=True)


def write_pvd(entries: list[tuple[float, str | os.PathLike[str]]], path: str | os.PathLike[str]) -> None:
    """Write a ParaView collection: ``entries`` = [(time, file), ...]; files are stored relative to the .pvd."""
    _check_suffix(path, ".pvd")
    if not entries:
        raise ExportError("a .pvd collection needs at least one (time, file) entry")
    base = Path(path).resolve().parent
    lines = []
    for entry in entries:
        try:
            time, file = entry
            time = float(time)
        except (TypeError, ValueError):
            raise ExportError(f"pvd entries must be (time, path) pairs, got {entry!r}") from None
        if not np.isfinite(time):
            raise ExportError(f"pvd time must be finite, got {time}")
        target = Path(file).resolve()
        rel = os.path.relpath(target, base)
        lines.append(f'    <DataSet timestep="{time!r}" group="" part="0" file={quoteattr(rel)}/>')
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(
            '<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1" byte_order="LittleEndian">\n'
        )
        fh.write("  <Collection>\n" + "\n".join(lines) + "\n  </Collection>\n</VTKFile>\n")


def _vtk_array(values) -> np.ndarray:
    """VTK has no boolean arrays: store masks as uint8."""
    arr = np.asarray(values)
    return arr.astype(np.uint8) if arr.dtype == bool else arr


def _check_suffix(path: str | os.PathLike[str], suffix: str) -> None:
    if Path(path).suffix.lower() != suffix:
        raise ExportError(f"{path}: expected a {suffix} file name")


def export(grid, path: str | os.PathLike[str]) -> dict:
    """The exporter entry point (exporters/__init__.py): the voxel grid as a VTK image (.vti)."""
    write_vti(grid.occupancy, grid.pitch, grid.origin, path)
    return {"voxels": grid.count}
