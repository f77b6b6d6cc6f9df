"""Involute spur gears for CadQuery.

Conventions: module and lengths in mm, angles in degrees. The gear is centred on the workplane origin with its
axis along the workplane normal; tooth 0 is centred on the +x axis. Addendum 1.0 m (1 + x with profile shift x),
dedendum 1.25 m (1.25 - x). ``backlash`` (mm) thins every tooth by that arc length at the pitch circle, half on
each flank. Flanks are exact involutes of the base circle sampled densely (the polyline's chordal error is far
below a micrometre at module 2); below the base circle the flank continues radially to the root circle.
"""

from __future__ import annotations

import math

import numpy as np

from fab.errors import FabError


def involute_function(angle_rad: float | np.ndarray) -> float | np.ndarray:
    """inv(a) = tan(a) - a."""
    return np.tan(angle_rad) - angle_rad


def base_pitch(module: float, pressure_angle: float = 20.0) -> float:
    """Distance between neighbouring flanks along the line of action: pi m cos(alpha), mm."""
    return math.pi * module * math.cos(math.radians(pressure_angle))


def _check(module: float, teeth: int, width: float | None = None) -> None:
    if not (module > 0 and math.isfinite(module)):
        raise FabError(f"gear module must be a positive number of mm, got {module}")
    if int(teeth) != teeth or teeth < 6:
        raise FabError(f"a spur gear needs a whole number of at least 6 teeth, got {teeth}")
    if width is not None and not (width > 0 and math.isfinite(width)):
        raise FabError(f"gear width must be a positive number of mm, got {width}")


def gear_profile(
    module: float,
    teeth: int,
    pressure_angle: float = 20.0,
    profile_shift: float = 0.0,
    backlash: float = 0.0,
    points_per_flank: int = 40,
) -> np.ndarray:
    """Closed outline of a spur gear as an (N, 2) array in mm, counter-clockwise, first point not repeated."""
    _check(module, teeth)
    alpha = math.radians(pressure_angle)
    r = module * teeth / 2.0
    rb = r * math.cos(alpha)
    ra = r + module * (1.0 + profile_shift)
    rf = r - module * (1.25 - profile_shift)
    if rf <= 0:
        raise FabError(f"{teeth} teeth at profile shift {profile_shift} leave no root circle")
    thickness = math.pi * module / 2.0 + 2.0 * profile_shift * module * math.tan(alpha) - backlash
    half = thickness / (2.0 * r) + float(involute_function(alpha))  # half tooth angle at the base circle
    start = max(rb, rf)
    radii = np.linspace(start, ra, points_per_flank)
    pressure = np.arccos(np.clip(rb / radii, -1.0, 1.0))
    flank = half - involute_function(pressure)  # polar angle of the +side flank at each radius
    if flank[-1] <= 0:
        raise FabError(f"the teeth come to a point below the tip circle (module {module}, {teeth} teeth): reduce shift")
    pitch_angle = 2.0 * math.pi / teeth
    if half >= pitch_angle / 2.0:
        raise FabError(f"backlash {backlash} mm / shift {profile_shift} leave no space between teeth")
    # One tooth from the middle of the preceding gap to the middle of the next, counter-clockwise.
    tooth_r = [rf] if rf < rb else []
    tooth_a = [-half] if rf < rb else []
    tooth_r += list(radii) + list(radii[::-1])
    tooth_a += list(-flank) + list(flank[::-1])
    if rf < rb:
        tooth_r.append(rf)
        tooth_a.append(half)
    tooth_r = np.array(tooth_r)
    tooth_a = np.array(tooth_a)
    points = []
    for i in range(int(teeth)):
        a = tooth_a + i * pitch_angle
        points.append(np.column_stack([tooth_r * np.cos(a), tooth_r * np.sin(a)]))
    outline = np.vstack(points)
    return outline


def spur_gear(
    module: float,
    teeth: int,
    width: float,
    pressure_angle: float = 20.0,
    profile_shift: float = 0.0,
    backlash: float = 0.0,
    bore: float = 0.0,
    workplane=None,
):
    """A spur gear solid (``cq.Workplane``) extruded ``width`` mm along the workplane normal."""
    import cadquery as cq

    _check(module, teeth, width)
    outline = gear_profile(module, teeth, pressure_angle, profile_shift, backlash)
    rf = module * teeth / 2.0 - module * (1.25 - profile_shift)
    if bore < 0 or bore >= 2.0 * rf * 0.9:
        raise FabError(f"bore {bore} mm does not fit inside the root circle of diameter {2 * rf:.3f} mm")
    base = workplane if workplane is not None else cq.Workplane("XY")
    gear = base.polyline([tuple(p) for p in outline]).close().extrude(width)
    if bore > 0:
        gear = gear.faces(">Z").workplane(centerOption="CenterOfBoundBox").hole(bore)
    return gear
