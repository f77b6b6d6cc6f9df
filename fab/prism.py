"""A flat outline extruded into a CadQuery solid: a grown gear or any flat part written as STEP, and the gear
plugin's ``gear_from_profile``. Lengths in mm; the outline lies in the XY plane, the solid spans z in [0, width].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from fab.errors import FabError

# Consecutive outline points closer than this (mm) are one point (a zero-length edge breaks the face).
MERGE_MM = 1e-9


def prism(outline_xy: Any, width: float, bore: float = 0.0) -> Any:
    """The solid of a closed (N, 2) outline (either orientation, closing point optional; kept exactly as a
    polygon) extruded by ``width`` mm, with a through ``bore`` (diameter, mm) centred on the origin. Raises
    FabError for outlines that are not simple polygons or a bore that does not fit inside."""
    import cadquery as cq

    if not (isinstance(width, int | float) and math.isfinite(width) and width > 0):
        raise FabError(f"extrusion width must be > 0 mm, got {width!r}")
    try:
        pts = np.asarray(outline_xy, dtype=float)
    except (TypeError, ValueError):
        raise FabError("gear profile must be an (N, 2) array of numbers in mm") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise FabError(f"gear profile must be an (N, 2) array with N >= 3, got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise FabError("gear profile contains NaN or infinite coordinates")
    if np.allclose(pts[0], pts[-1]):
        pts = pts[:-1]
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.linalg.norm(np.diff(pts, axis=0), axis=1) > MERGE_MM
    pts = pts[keep]
    poly = shapely.Polygon(pts)
    if len(pts) < 3 or not poly.is_valid or poly.area <= 0:
        raise FabError("gear profile is not a simple closed outline (it self-intersects or has no area)")
    if not poly.exterior.is_ccw:
        pts = pts[::-1]
    origin = shapely.Point(0, 0)
    room = float(poly.exterior.distance(origin)) if poly.contains(origin) else 0.0
    bore = _bore(bore, room)
    wire = cq.Wire.makePolygon([cq.Vector(float(x), float(y), 0.0) for x, y in pts], close=True)
    inner = [cq.Wire.makeCircle(bore / 2, cq.Vector(), cq.Vector(0, 0, 1))] if bore > 0 else []
    # shapely has already proven the outline simple; OCC's own check costs seconds on long polygons.
    return cq.Solid.extrudeLinear(cq.Face.makeFromWires(wire, inner), cq.Vector(0, 0, width))


def _bore(bore: Any, max_radius: float) -> float:
    try:
        bore = float(bore)
    except (TypeError, ValueError):
        raise FabError(f"bore must be a number of mm, got {bore!r}") from None
    if not math.isfinite(bore) or bore < 0:
        raise FabError(f"bore must be >= 0 mm (0 = no bore), got {bore}")
    if bore / 2 >= max_radius:
        raise FabError(
            f"bore {bore} mm is too big: at most {max(2 * max_radius, 0):.3f} mm fits inside the profile around "
            "the origin"
        )
    return bore
