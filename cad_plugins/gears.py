"""Involute spur gears and racks as CadQuery solids, and the ``cq.Workplane`` plugin methods.

Units: module and lengths in mm, angles in degrees. A gear lies on its workplane with its axis along
the workplane normal, centred on the origin (or on each point of the stack), and extends ``width`` mm
along the normal from the workplane; tooth 0 is centred on the local +x axis.

B-rep: each flank is a B-spline interpolating the exact involute (points and tangents at uniform roll
angle; the measured deviation is far below a micrometre at module 2, see docs/gears.md), each root
fillet a B-spline through the exact trochoid envelope of the rack tip radius, tips and roots circular
arcs. One tooth's edges are built once and rotated for the others. The 2D geometry (conventions for
addendum, dedendum, profile shift, backlash, undercut) is in :mod:`cad_plugins.involute`.
"""

from __future__ import annotations

import math
from typing import Any

import cadquery as cq
import numpy as np

from cad_plugins.involute import (
    DEFAULT_ROOT_FILLET,
    ToothGeometry,
    base_pitch,
    check_module,
    check_pressure_angle,
    contact_ratio,
    fillet_samples,
    gear_profile,
    involute_points,
    involute_tangents,
    root_angle,
    tooth_geometry,
)
from fab.errors import FabError

__all__ = [
    "base_pitch",
    "contact_ratio",
    "gear_from_profile",
    "gear_profile",
    "rack",
    "spur_gear",
]

#: Points per involute flank in the B-spline (with tangents): ~0.003 um from the involute at module 2.
FLANK_POINTS = 16
#: Points per root fillet in the B-spline (with exact derivatives).
FILLET_POINTS = 12
#: Thinnest rim (mm per mm of module) left between the bore and the root circle.
MIN_RIM_MODULES = 1.0


def _positive(name: str, value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise FabError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise FabError(f"{name} must be > 0 mm, got {value}")
    return value


def _bore(bore: Any, max_radius: float, what: str) -> float:
    try:
        bore = float(bore)
    except (TypeError, ValueError):
        raise FabError(f"bore must be a number of mm, got {bore!r}") from None
    if not math.isfinite(bore) or bore < 0:
        raise FabError(f"bore must be >= 0 mm (0 = no bore), got {bore}")
    if bore / 2 >= max_radius:
        raise FabError(f"bore {bore} mm is too big: at most {max(2 * max_radius, 0):.3f} mm fits {what}")
    return bore


def _vec(p: np.ndarray) -> cq.Vector:
    return cq.Vector(float(p[0]), float(p[1]), 0.0)


def _arc(radius: float, a0: float, a1: float) -> cq.Edge:
    """Counter-clockwise arc of a circle about the origin from polar angle a0 to a1 (radians)."""
    mid = 0.5 * (a0 + a1)
    pts = [radius * np.array([math.cos(a), math.sin(a)]) for a in (a0, mid, a1)]
    return cq.Edge.makeThreePointArc(*(_vec(p) for p in pts))


def _spline(points: np.ndarray, derivs: np.ndarray, params: np.ndarray) -> cq.Edge:
    """Hermite B-spline through ``points`` with the given derivatives at parameter values ``params``."""
    return cq.Edge.makeSpline(
        [_vec(p) for p in points], tangents=[_vec(d) for d in derivs], parameters=list(params), scale=False
    )


def _tooth_edges(geom: ToothGeometry) -> list[cq.Edge]:
    """Edges of tooth 0 in counter-clockwise order, from its lower fillet to the next tooth's."""
    flank = involute_points(geom, FLANK_POINTS)  # upper flank, form -> tip, uniform roll
    tangents = involute_tangents(geom, flank)
    phis, fillet, fillet_d = fillet_samples(geom, FILLET_POINTS)  # upper fillet, form -> root
    mirror = np.array([1.0, -1.0])

    # Flanks: unit tangents scaled to the chord length (cadquery's scale=True) fit the involute to
    # ~0.003 um; exact derivatives would vanish at the base circle, where an undercut flank may start.
    upper_flank = cq.Edge.makeSpline(
        [_vec(p) for p in flank[::-1]], tangents=[_vec(-t) for t in tangents[::-1]]
    )
    lower_flank = cq.Edge.makeSpline(
        [_vec(p) for p in flank * mirror], tangents=[_vec(t) for t in tangents * mirror]
    )
    upper_fillet = _spline(fillet, fillet_d, phis)
    lower_fillet = _spline(fillet[::-1] * mirror, -fillet_d[::-1] * mirror, -phis[::-1])
    tip_half = float(geom.flank_angle(geom.tip_radius))
    edges = [lower_fillet, lower_flank, _arc(geom.tip_radius, -tip_half, tip_half), upper_flank, upper_fillet]
    a_root = root_angle(geom)
    a_next = 2 * math.pi / geom.teeth - a_root
    if a_next - a_root > 1e-9:
        edges.append(_arc(geom.root_radius, a_root, a_next))
    return edges


def _gear_face(geom: ToothGeometry, bore: float) -> cq.Face:
    base = _tooth_edges(geom)
    pitch = 360.0 / geom.teeth
    edges: list[cq.Edge] = []
    for k in range(geom.teeth):
        edges.extend(e.rotate(cq.Vector(), cq.Vector(0, 0, 1), k * pitch) if k else e for e in base)
    outer = cq.Wire.assembleEdges(edges)
    inner = [cq.Wire.makeCircle(bore / 2, cq.Vector(), cq.Vector(0, 0, 1))] if bore > 0 else []
    return cq.Face.makeFromWires(outer, inner)


def _extrude(face: cq.Face, width: float, check: bool = True) -> cq.Solid:
    solid = cq.Solid.extrudeLinear(face, cq.Vector(0, 0, width))
    if check and not solid.isValid():
        raise FabError("the gear outline does not make a valid solid (self-intersecting outline?)")
    return solid


def _place(
    solid: cq.Solid, workplane: cq.Workplane | None, combine: bool = False, clean: bool = True
) -> cq.Workplane:
    """One copy of ``solid`` per stack point of ``workplane`` (its origin if the stack is empty)."""
    wp = workplane if workplane is not None else cq.Workplane("XY")
    return wp.eachpoint(lambda loc: solid.moved(loc), True, combine, clean)


def spur_gear(
    module: float,
    teeth: int,
    width: float,
    pressure_angle: float = 20.0,
    profile_shift: float = 0.0,
    backlash: float = 0.0,
    bore: float = 0.0,
    root_fillet: float | None = None,
    profile: np.ndarray | None = None,
    workplane: cq.Workplane | None = None,
) -> cq.Workplane:
    """An involute spur gear: a ``cq.Workplane`` holding one solid per point of ``workplane``'s stack.

    ``module``, ``width``, ``backlash``, ``bore`` (diameter, 0 = none) and ``root_fillet`` (rack tip
    radius, default 0.38 module) in mm; ``pressure_angle`` in degrees; ``profile_shift`` in modules.
    The bore must leave a rim of at least one module under the root circle. With ``profile`` (a closed
    (N, 2) outline in mm) the gear parameters are ignored except ``width`` and ``bore``, see
    :func:`gear_from_profile`. Raises :class:`FabError` for impossible gears.
    """
    width = _positive("gear width", width)
    if profile is not None:
        return gear_from_profile(profile, width, bore, workplane=workplane)
    geom = tooth_geometry(module, teeth, pressure_angle, profile_shift, backlash, root_fillet)
    rim = MIN_RIM_MODULES * geom.module
    bore = _bore(bore, geom.root_radius - rim, f"inside the root circle with a {rim:g} mm rim")
    return _place(_extrude(_gear_face(geom, bore), width), workplane)


def gear_from_profile(
    profile_xy: np.ndarray, width: float, bore: float = 0.0, workplane: cq.Workplane | None = None
) -> cq.Workplane:
    """Extrude any closed 2D outline (mm, e.g. a morphogenesis result) into a gear-like solid.

    The outline is an (N, 2) array, either orientation, closing point optional; it is kept exactly as
    a polygon (no smoothing). ``bore`` (diameter, mm) is centred on the origin and must lie inside the
    outline. Raises :class:`FabError` for outlines that are not simple polygons.
    """
    from fab.prism import prism

    return _place(prism(profile_xy, _positive("gear width", width), bore), workplane)


def rack(
    module: float,
    length: float,
    width: float,
    height: float,
    pressure_angle: float = 20.0,
    backlash: float = 0.0,
    workplane: cq.Workplane | None = None,
) -> cq.Workplane:
    """A straight involute rack: teeth along +x, pitch line on y = 0, teeth pointing to +y.

    The rack spans x in [-length/2, length/2] with a tooth centred on x = 0, extends from y = -height
    (its back) to the tips at y = +module, and ``width`` mm along the workplane normal. Flanks are
    straight at ``pressure_angle``; addendum 1.0 m, dedendum 1.25 m, root fillets of 0.38 m (ISO 53
    profile A). ``backlash`` thins each tooth by that much at the pitch line (thickness pi m/2 - b).
    """
    m = check_module(module)
    alpha = check_pressure_angle(pressure_angle)
    length = _positive("rack length", length)
    width = _positive("rack width", width)
    height = _positive("rack height", height)
    if height <= 1.25 * m:
        raise FabError(f"rack height {height} mm must exceed the dedendum 1.25 m = {1.25 * m:g} mm")
    try:
        backlash = float(backlash)
    except (TypeError, ValueError):
        raise FabError(f"rack backlash must be a number of mm, got {backlash!r}") from None
    tan_a = math.tan(alpha)
    half_tip = math.pi * m / 4 - backlash / 2 - m * tan_a
    if not (math.isfinite(backlash) and backlash >= 0) or half_tip <= 0:
        raise FabError(f"rack backlash must be >= 0 mm and leave a tooth tip, got {backlash}")
    edges = _rack_edges(m, alpha, backlash, DEFAULT_ROOT_FILLET * m, length, height)
    face = cq.Face.makeFromWires(cq.Wire.assembleEdges(edges))
    long_bar = cq.Solid.extrudeLinear(face, cq.Vector(0, 0, width))
    box = cq.Solid.makeBox(length, height + 2 * m, width, cq.Vector(-length / 2, -height, 0))
    solid = long_bar.intersect(box)
    solids = solid.Solids()
    if len(solids) != 1 or not solids[0].isValid():
        raise FabError("rack length and module do not make one valid solid")
    return _place(solids[0], workplane)


def _rack_edges(m: float, alpha: float, backlash: float, rho: float, length: float, height: float) -> list:
    """Closed outline of a rack longer than ``length`` by at least a pitch at each end."""
    p = math.pi * m
    tan_a, sin_a, cos_a = math.tan(alpha), math.sin(alpha), math.cos(alpha)
    half_pitch_line = p / 4 - backlash / 2
    # Tooth right flank: x = half_pitch_line - y tan(alpha); root fillet tangent to it and to y = -1.25 m.
    y_root = -1.25 * m
    y_f = y_root + rho * (1 - sin_a)  # flank/fillet tangent height
    x_f = half_pitch_line - y_f * tan_a
    cx = x_f + rho * cos_a  # fillet centre (in the space to the right of the tooth)
    cy = y_root + rho
    space_mid = p / 2
    if cx > space_mid + 1e-12:
        raise FabError("rack backlash leaves no room for the root fillet")
    n = int(math.ceil((length / 2) / p)) + 1
    top = m
    x_tip = half_pitch_line - top * tan_a
    edges: list[cq.Edge] = []
    pts_prev = None

    def line(a, b):
        edges.append(cq.Edge.makeLine(cq.Vector(a[0], a[1], 0), cq.Vector(b[0], b[1], 0)))

    start = None
    for k in range(-n, n):
        x0 = k * p
        left_root = (x0 - cx, y_root)
        a_l = (x0 - x_f, y_f)
        b_l = (x0 - x_tip, top)
        b_r = (x0 + x_tip, top)
        a_r = (x0 + x_f, y_f)
        right_root = (x0 + cx, y_root)
        if start is None:
            start = left_root
        else:
            if abs(pts_prev[0] - left_root[0]) > 1e-12:
                line(pts_prev, left_root)
        # left fillet: centre (x0 - cx, cy), from its bottom to the flank tangent point (counter-clockwise)
        mid_l = (
            x0 - cx + rho * math.cos(-0.5 * (math.pi / 2 + alpha)),
            cy + rho * math.sin(-0.5 * (math.pi / 2 + alpha)),
        )
        edges.append(
            cq.Edge.makeThreePointArc(cq.Vector(*left_root, 0), cq.Vector(*mid_l, 0), cq.Vector(*a_l, 0))
        )
        line(a_l, b_l)
        line(b_l, b_r)
        line(b_r, a_r)
        ang = -0.75 * math.pi + 0.5 * alpha  # halfway from the flank tangent point to the bottom
        mid_r = (x0 + cx + rho * math.cos(ang), cy + rho * math.sin(ang))
        edges.append(
            cq.Edge.makeThreePointArc(cq.Vector(*a_r, 0), cq.Vector(*mid_r, 0), cq.Vector(*right_root, 0))
        )
        pts_prev = right_root
    back = -height - 1.0  # below the final box, cut away by the intersection
    line(pts_prev, (pts_prev[0], back))
    line((pts_prev[0], back), (start[0], back))
    line((start[0], back), start)
    return edges


# --- CadQuery plugin: importing cad_plugins attaches these to cq.Workplane ---------------------------


def _wp_spur_gear(
    self: cq.Workplane,
    module: float,
    teeth: int,
    width: float,
    *args: Any,
    combine: bool = True,
    clean: bool = True,
    **kwargs: Any,
) -> cq.Workplane:
    """``cq.Workplane().spur_gear(module, teeth, width, ...)``: see :func:`spur_gear`.

    Like ``Workplane.box``: one gear per stack point, unioned with the solid in the chain when
    ``combine`` is true.
    """
    gears = spur_gear(module, teeth, width, *args, **kwargs)
    return _place(_solid_of(gears), self, combine, clean)


def _wp_rack(
    self: cq.Workplane,
    module: float,
    length: float,
    width: float,
    height: float,
    *args: Any,
    combine: bool = True,
    clean: bool = True,
    **kwargs: Any,
) -> cq.Workplane:
    """``cq.Workplane().rack(module, length, width, height, ...)``: see :func:`rack`."""
    return _place(_solid_of(rack(module, length, width, height, *args, **kwargs)), self, combine, clean)


def _wp_gear_from_profile(
    self: cq.Workplane,
    profile_xy: np.ndarray,
    width: float,
    bore: float = 0.0,
    combine: bool = True,
    clean: bool = True,
) -> cq.Workplane:
    """``cq.Workplane().gear_from_profile(profile_xy, width, bore)``: see :func:`gear_from_profile`."""
    return _place(_solid_of(gear_from_profile(profile_xy, width, bore)), self, combine, clean)


def _solid_of(wp: cq.Workplane) -> cq.Solid:
    return wp.val()


def register() -> None:
    """Attach ``spur_gear``, ``rack`` and ``gear_from_profile`` to ``cq.Workplane``."""
    cq.Workplane.spur_gear = _wp_spur_gear
    cq.Workplane.rack = _wp_rack
    cq.Workplane.gear_from_profile = _wp_gear_from_profile


register()
