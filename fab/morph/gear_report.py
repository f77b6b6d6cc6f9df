"""After the gear search: compare with the standard involute, measure the flank, write the files.

This is the only place the involute appears, as the yardstick, never in the search:

* the reference pair is a standard 20 degree involute gear of the same module and tooth count from
  :mod:`geometry.involute` (exact flank, ISO 53 root fillet), thinned to the middle of the backlash
  band, and meshed by exactly the same code as the grown gear;
* the grown flank's deviation from its best-fit involute (least squares over base radius and phase on
  the working flank, normal distance r_b * d(theta)) and its effective pressure angle acos(r_b / r).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from scipy.optimize import least_squares

from exporters.atomic import atomic_open
from fab.morph.gear import PROFILE_RADII, GearProblem
from fab.morph.gear_cutter import CutterProgram, generate
from fab.morph.gear_mesh import ToothProfile

REFERENCE_PRESSURE_ANGLE = 20.0


def reference_backlash(problem: GearProblem) -> float:
    """Circular backlash (mm, the pair) of the reference: enough at the closest centre distance, else mid-band."""
    closing = 2 * problem.centre_error * problem.module * math.tan(math.radians(REFERENCE_PRESSURE_ANGLE))
    return max(0.5 * (problem.backlash_min + problem.backlash_max), problem.backlash_min + 1.2 * closing)


def reference_profile(problem: GearProblem) -> ToothProfile:
    """h(R) of the standard 20 degree involute gear: exact flank above the form radius, fillet below."""
    from geometry.involute import gear_profile, tooth_geometry

    b = reference_backlash(problem) / 2  # each gear thinned by half the pair's backlash
    geo = tooth_geometry(problem.module, problem.teeth, REFERENCE_PRESSURE_ANGLE, backlash=b)
    radii = np.linspace(geo.root_radius, geo.tip_radius, PROFILE_RADII)
    outline = gear_profile(
        problem.module, problem.teeth, REFERENCE_PRESSURE_ANGLE, backlash=b, points_per_flank=200
    )
    h = _half_angle_of_outline(outline, problem.teeth, radii)
    on_flank = radii >= geo.form_radius
    h[on_flank] = geo.flank_angle(radii[on_flank])
    return ToothProfile(problem.module, problem.teeth, radii, h)


def _half_angle_of_outline(outline: np.ndarray, teeth: int, radii: np.ndarray) -> np.ndarray:
    """h(R) of tooth 0 (centred on +x) read off a closed gear outline by circle crossings."""
    xy = np.vstack([outline, outline[:1]])
    rho = np.hypot(xy[:, 0], xy[:, 1])
    ang = np.arctan2(xy[:, 1], xy[:, 0])
    half_pitch = math.pi / teeth
    h = np.full(len(radii), half_pitch)
    lo, hi = np.minimum(rho[:-1], rho[1:]), np.maximum(rho[:-1], rho[1:])
    for i, radius in enumerate(radii):
        idx = np.nonzero((lo <= radius) & (hi > radius))[0]
        f = (radius - rho[idx]) / (rho[idx + 1] - rho[idx])
        a = ang[idx] + f * (ang[idx + 1] - ang[idx])
        a = a[(a > 0) & (a < 1.5 * half_pitch)]
        if len(a):
            h[i] = a.min()
    return h


@dataclass(frozen=True)
class InvoluteFit:
    base_radius: float
    pressure_angle_deg: float
    max_deviation_mm: float
    radii: np.ndarray
    flank: np.ndarray
    fitted: np.ndarray
    deviation_mm: np.ndarray


def fit_involute(profile: ToothProfile, r_lo: float, r_hi: float) -> InvoluteFit:
    """Least-squares involute through the flank between radii ``r_lo`` and ``r_hi`` (the working flank)."""
    from geometry.involute import inv

    keep = (profile.radii >= r_lo) & (profile.radii <= r_hi) & (profile.half_angle > 0)
    radii, flank = profile.radii[keep], profile.half_angle[keep]
    r = profile.pitch_radius

    def model(p: np.ndarray) -> np.ndarray:
        rb, phase = p
        return phase - inv(np.arccos(np.clip(rb / radii, -1.0, 1.0)))

    def residual(p: np.ndarray) -> np.ndarray:
        return (flank - model(p)) * p[0]

    rb0 = r * math.cos(math.radians(20.0))
    start = np.array([min(rb0, 0.999 * radii.min()), float(np.mean(flank))])
    start[1] += float(np.mean(flank - model(start)))
    fit = least_squares(residual, start, bounds=([0.3 * r, -1.0], [0.99999 * radii.min(), 1.0]), xtol=1e-14)
    rb = float(fit.x[0])
    fitted = model(fit.x)
    dev = (flank - fitted) * rb
    return InvoluteFit(
        base_radius=rb,
        pressure_angle_deg=math.degrees(math.acos(min(rb / r, 1.0))),
        max_deviation_mm=float(np.abs(dev).max()),
        radii=radii,
        flank=flank,
        fitted=fitted,
        deviation_mm=dev,
    )


def gear_outline(problem: GearProblem, genome: np.ndarray) -> shapely.Polygon:
    """The whole grown gear (all teeth, fine roll steps) as a shapely polygon in mm, simplified to 1 um."""
    gear = generate(CutterProgram.from_genome(genome), problem.module, problem.teeth, problem.fine_roll_steps)
    outline = gear.gear
    if outline.geom_type != "Polygon":  # keep the body; the guards already reported loose pieces
        outline = max(shapely.get_parts(outline), key=lambda p: p.area)
    return shapely.Polygon(outline.exterior).simplify(1e-3)


def write_outline_csv(polygon: shapely.Polygon, path: Path) -> None:
    """x,y points (mm) of the outline, counter-clockwise, first point not repeated."""
    xy = shapely.get_coordinates(shapely.geometry.polygon.orient(polygon, 1.0).exterior)[:-1]
    with atomic_open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["x_mm", "y_mm"])
        for x, y in xy:
            w.writerow([f"{x:.6f}", f"{y:.6f}"])


FORMATS = ("csv", "outline_dxf", "dxf", "nc", "stl", "gcode", "step")


def write_fabrication(
    polygon: shapely.Polygon,
    out: Path,
    stem: str,
    width: float,
    bore: float,
    printer: str | None,
    tool: str,
    formats: tuple[str, ...] = FORMATS,
    errors: dict[str, str] | None = None,
) -> dict[str, str]:
    """Write the requested ``formats``; returns kind -> path.

    csv / outline_dxf: the bare outline (x, y in mm); dxf / nc: the flat part with its bore (DXF, CNC or
    laser G-code); stl / gcode: the extruded part (a prism of the same outline, trimesh) and its FDM
    G-code; step: the B-rep from :func:`fab.prism.prism`. A format whose exporter
    refuses the part is skipped and its one-line reason put in ``errors``.
    """
    import trimesh

    from exporters.cnc import write_cnc
    from exporters.dxf import write_dxf
    from exporters.gcode import export_gcode
    from exporters.outline import outline_from_polygon
    from exporters.stl import write_stl
    from fab.errors import user_errors

    errors = {} if errors is None else errors
    names = {
        "csv": f"{stem}_outline.csv",
        "outline_dxf": f"{stem}_outline.dxf",
        "dxf": f"{stem}.dxf",
        "nc": f"{stem}.nc",
        "stl": f"{stem}.stl",
        "gcode": f"{stem}.gcode",
        "step": f"{stem}.step",
    }
    paths = {k: out / names[k] for k in formats}
    part = polygon.difference(shapely.Point(0, 0).buffer(bore / 2, quad_segs=64)) if bore > 0 else polygon
    mesh = None

    def stl_mesh():
        nonlocal mesh
        if mesh is None:
            mesh = trimesh.creation.extrude_polygon(part, width)
        return mesh

    def step(path: Path) -> None:
        import cadquery as cq

        from exporters.atomic import atomic_path
        from fab.prism import prism

        solid = prism(shapely.get_coordinates(polygon.exterior)[:-1], width, bore=bore)
        with atomic_path(path) as tmp:
            cq.exporters.export(solid, str(tmp))

    writers = {
        "csv": lambda p: write_outline_csv(polygon, p),
        "outline_dxf": lambda p: write_dxf(outline_from_polygon(polygon, width), p),
        "dxf": lambda p: write_dxf(outline_from_polygon(part, width), p),
        "nc": lambda p: write_cnc(outline_from_polygon(part, width), p, tool=tool),
        "stl": lambda p: write_stl(stl_mesh(), p),
        "gcode": lambda p: export_gcode(stl_mesh(), p, printer),
        "step": step,
    }
    written: dict[str, str] = {}
    for kind, path in paths.items():
        # One exporter refusing (e.g. a tool too big for the tooth spaces) must not cost the other files.
        try:
            writers[kind](path)
        except user_errors() as exc:
            errors[kind] = str(exc)
            continue
        written[kind] = str(path)
    return written
