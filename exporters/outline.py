"""2D outline of a flat part (a plate extruded along z), shared by the CNC, DXF and SVG exporters.

An ``Outline`` is a shapely MultiPolygon in mm (x, y; holes as interior rings, exteriors counter-clockwise)
plus the part's thickness in mm. It comes from a shapely polygon, from a mesh (section at mid-thickness),
or from a voxel grid (footprint of the filled voxels along z: exact voxel edges, or smoothed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
import trimesh
from scipy import ndimage
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.polygon import orient
from skimage import measure

from exporters.errors import ExportError
from exporters.grid import checked_grid

SMOOTH_SIGMA = 0.6  # blur of the footprint (pixels) before marching squares
AREA_TOLERANCE = 0.005


@dataclass(frozen=True)
class Outline:
    """Outline of a flat part: ``polygons`` (MultiPolygon, mm) and ``thickness_mm`` (extent along z)."""

    polygons: MultiPolygon
    thickness_mm: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.polygons.bounds)  # type: ignore[return-value]

    @property
    def area_mm2(self) -> float:
        return float(self.polygons.area)


def _clean(geom, what: str) -> MultiPolygon:
    if geom is None or geom.is_empty:
        raise ExportError(f"the outline from {what} is empty")
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polys = []
    for part in shapely.get_parts(geom):
        polys += [p for p in shapely.get_parts(part) if isinstance(p, Polygon) and p.area > 0]
    if not polys:
        raise ExportError(f"the outline from {what} has no area")
    return MultiPolygon([orient(p, 1.0) for p in polys])


def outline_from_polygon(polygon: Polygon | MultiPolygon, thickness_mm: float) -> Outline:
    """Outline of a shapely Polygon/MultiPolygon (mm) cut from plate ``thickness_mm`` thick."""
    if not isinstance(polygon, Polygon | MultiPolygon):
        raise ExportError(f"expected a shapely Polygon or MultiPolygon, got {type(polygon).__name__}")
    thickness = float(thickness_mm)
    if not np.isfinite(thickness) or thickness <= 0:
        raise ExportError(f"thickness must be a positive number of mm, got {thickness_mm}")
    if not np.all(np.isfinite(shapely.get_coordinates(polygon))):
        raise ExportError("the outline has NaN or infinite coordinates")
    return Outline(_clean(polygon, "the polygon"), thickness)


def outline_from_mesh(mesh: trimesh.Trimesh) -> Outline:
    """Section of a flat part (extruded along z, mm) at mid-thickness; thickness = the mesh's z extent."""
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ExportError("expected a non-empty trimesh.Trimesh")
    if not np.all(np.isfinite(mesh.vertices)):
        raise ExportError("the mesh has NaN or infinite vertex coordinates")
    z0, z1 = float(mesh.bounds[0, 2]), float(mesh.bounds[1, 2])
    if z1 - z0 <= 0:
        raise ExportError("the mesh is flat in z: a plate part needs a thickness")
    section = mesh.section(plane_origin=(0.0, 0.0, (z0 + z1) / 2), plane_normal=(0.0, 0.0, 1.0))
    if section is None:
        raise ExportError("the mesh has no cross-section at mid-thickness")
    # Project straight down (keeps x, y): a transform that only moves z to 0.
    to_2d = np.eye(4)
    to_2d[2, 3] = -(z0 + z1) / 2
    planar, _ = section.to_2D(to_2D=to_2d)
    polys = list(planar.polygons_full)
    if not polys:
        raise ExportError(
            "the mid-thickness section of the mesh is not a closed outline (is the mesh watertight?)"
        )
    return Outline(_clean(shapely.union_all(polys), "the mesh section"), z1 - z0)


def outline_from_voxels(occupancy: np.ndarray, pitch: float, origin, smooth: bool = False) -> Outline:
    """Footprint (along z) of the filled voxels; thickness = filled layers * pitch.

    ``smooth=False``: exact voxel edges (a staircase on curves). ``smooth=True``: marching squares on the
    lightly blurred footprint, the level corrected so the area matches the voxel area within 0.5 %; this
    recovers the curves a staircase approximates, which a cutter should follow rather than the steps.
    """
    occ, pitch, org = checked_grid(occupancy, pitch, origin, "cut")
    foot = occ.any(axis=2)
    layers = np.nonzero(occ.any(axis=(0, 1)))[0]
    thickness = float(layers[-1] - layers[0] + 1) * pitch
    if smooth:
        return Outline(_clean(_smooth_footprint(foot, pitch, org[:2]), "the voxel grid"), thickness)
    # One rectangle per run of filled cells along x in each row; their union is the exact pixel outline.
    padded = np.pad(foot, ((1, 1), (0, 0))).astype(np.int8)
    edges = np.diff(padded, axis=0)
    starts = np.argwhere(edges.T == 1)  # (j, i)
    stops = np.argwhere(edges.T == -1)
    x0 = org[0] - pitch / 2
    y0 = org[1] - pitch / 2
    rects = [
        box(x0 + i0 * pitch, y0 + j * pitch, x0 + i1 * pitch, y0 + (j + 1) * pitch)
        for (j, i0), (_, i1) in zip(starts, stops, strict=True)
    ]
    merged = shapely.union_all(rects).simplify(0.0)
    return Outline(_clean(merged, "the voxel grid"), thickness)


def _contour_geometry(field: np.ndarray, level: float, pitch: float, xy0: np.ndarray):
    """Even-odd union of the closed marching-squares contours of ``field`` at ``level`` (mm)."""
    geom = Polygon()
    for c in measure.find_contours(field, level):
        if len(c) >= 4:
            ring = Polygon(c * pitch + xy0)
            geom = geom.symmetric_difference(ring.buffer(0) if not ring.is_valid else ring)
    return geom


def _smooth_footprint(foot: np.ndarray, pitch: float, centre0: np.ndarray):
    pad = 2
    field = ndimage.gaussian_filter(np.pad(foot.astype(np.float64), pad), sigma=SMOOTH_SIGMA, mode="constant")
    xy0 = centre0 - pad * pitch  # field index (0, 0) sits at the centre of padded cell (0, 0)
    target = float(foot.sum()) * pitch**2
    peak = float(field.max())
    level = min(0.5, 0.5 * peak)
    geom = _contour_geometry(field, level, pitch, xy0)
    err = geom.area / target - 1.0
    prev_level, prev_err = level, err
    level += (0.05 if err > 0 else -0.05) * min(1.0, peak)
    # Secant steps on the level: the enclosed area falls as the level rises.
    for _ in range(8):
        if abs(err) <= AREA_TOLERANCE:
            break
        level = float(np.clip(level, 0.02 * peak, 0.98 * peak))
        geom = _contour_geometry(field, level, pitch, xy0)
        err = geom.area / target - 1.0
        slope = (err - prev_err) / (level - prev_level)
        prev_level, prev_err = level, err
        if slope >= 0:
            break
        level -= err / slope
    return geom
