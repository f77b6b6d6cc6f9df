"""The gear's developmental program: a rack-like cutter, rolled against a blank, removes the tooth spaces.

The genome describes the cutting process, never the tooth: the cutter tooth's flank is a cubic in the
depth ``v`` below the cutter's pitch line (in modules),

    half thickness w(v) = pi/4 + j/2 - (t1 v + c2 v^2 + c3 v^3),

its tip is rounded by a radius ``rho`` (a morphological opening of the polygon, as a ground cutter
tip would be), it plunges ``hf`` modules below the pitch line, and the blank it cuts is a disk of
radius r + ``ha`` m. Rolling: the gear turns by phi while the cutter slides by r phi along its pitch
line (r = m z / 2, the only radius at which a cutter of pitch pi m leaves z equal teeth). The swept
cutter (shapely union of its copies at many roll angles) is subtracted from the blank, once per tooth
space. Lengths in mm, angles in radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity

#: Gene names with their (low, high) range; genomes are searched in [0, 1] and mapped linearly.
GENES: tuple[tuple[str, float, float], ...] = (
    ("flank_angle_deg", 8.0, 32.0),  # atan(t1): mean inclination of the cutter flank
    ("c2", -0.1, 0.1),  # flank curvature terms, modules per module^2 and ^3
    ("c3", -0.1, 0.1),
    ("tip_radius", 0.05, 0.45),  # cutter tip radius, modules (generates the root fillet)
    ("dedendum", 1.05, 1.45),  # cutter plunge below the pitch line, modules
    ("addendum", 0.7, 1.3),  # blank radius above the pitch circle, modules
    ("thinning", -0.05, 0.15),  # extra cutter thickness at the pitch line, modules (tooth thinning)
)


@dataclass(frozen=True)
class CutterProgram:
    """Decoded genome of the cutting process (dimensionless, in modules)."""

    t1: float
    c2: float
    c3: float
    tip_radius: float
    dedendum: float
    addendum: float
    thinning: float

    @classmethod
    def from_genome(cls, genome: np.ndarray) -> CutterProgram:
        g = np.clip(np.asarray(genome, dtype=float), 0.0, 1.0)
        vals = [lo + (hi - lo) * x for (_, lo, hi), x in zip(GENES, g, strict=True)]
        return cls(math.tan(math.radians(vals[0])), *vals[1:])

    def as_dict(self) -> dict[str, float]:
        return {
            "flank_angle_deg": math.degrees(math.atan(self.t1)),
            "c2": self.c2,
            "c3": self.c3,
            "tip_radius_modules": self.tip_radius,
            "dedendum_modules": self.dedendum,
            "addendum_modules": self.addendum,
            "thinning_modules": self.thinning,
        }


def genome_of(program: CutterProgram) -> np.ndarray:
    """The [0, 1] genome that decodes to ``program`` (inverse of :meth:`CutterProgram.from_genome`)."""
    vals = [math.degrees(math.atan(program.t1)), program.c2, program.c3, program.tip_radius]
    vals += [program.dedendum, program.addendum, program.thinning]
    return np.array([(v - lo) / (hi - lo) for v, (_, lo, hi) in zip(vals, GENES, strict=True)])


@dataclass(frozen=True)
class GeneratedGear:
    """What the cutting process left: the gear outline and one tooth space's swept cutter (mm)."""

    module: float
    teeth: int
    pitch_radius: float
    tip_radius: float
    root_radius: float
    gear: shapely.Geometry | None  # blank minus all tooth spaces; tooth 0 centred on +x
    space: shapely.Geometry  # the swept cutter of one space, centred on the angle pi / teeth

    @property
    def pitch_angle(self) -> float:
        return 2 * math.pi / self.teeth


def cutter_polygon(program: CutterProgram, module: float, flank_points: int = 48) -> shapely.Polygon:
    """One cutter tooth in cutter coordinates (u along the pitch line, v depth towards the gear), mm."""
    top = -(program.addendum + 0.3)  # above the blank: the cutter body never touches the tips
    v = np.linspace(top, program.dedendum, flank_points)
    w = math.pi / 4 + program.thinning / 2 - (program.t1 * v + program.c2 * v * v + program.c3 * v**3)
    w = np.maximum(w, 0.01)  # a cutter cannot be thinner than nothing
    pts = np.concatenate([np.column_stack([-w[::-1], v[::-1]]), np.column_stack([w, v])]) * module
    poly = shapely.Polygon(pts)
    if not poly.is_valid:
        poly = shapely.make_valid(poly).buffer(0)
    rho = program.tip_radius * module
    # Opening rounds every convex corner by rho: a tip that cannot hold rho gets as round as it can.
    return poly.buffer(-rho, quad_segs=16).buffer(rho, quad_segs=16)


def generate(
    program: CutterProgram,
    module: float,
    teeth: int,
    roll_steps: int = 1500,
    arc_segments: int = 2048,
    whole: bool = True,
) -> GeneratedGear:
    """Roll the cutter against the blank and subtract its sweep from every tooth space.

    ``whole=False`` stops after the sweep (``gear`` is then None): enough for :func:`half_thickness`.
    """
    r = module * teeth / 2
    ra = r + program.addendum * module
    rf = r - program.dedendum * module
    cutter = cutter_polygon(program, module)
    ring = shapely.get_coordinates(cutter.exterior)
    half_width = float(np.abs(ring[:, 0]).max())
    # Past this roll angle the cutter tooth lies wholly outside the blank.
    reach = (math.sqrt(max(ra * ra - rf * rf, 0.0)) + half_width) / r
    copies = []
    for phi in np.linspace(-reach, reach, roll_steps):
        u = ring[:, 0] - r * phi
        y = r - ring[:, 1]
        c, s = math.cos(phi), math.sin(phi)
        copies.append(shapely.Polygon(np.column_stack([c * u + s * y, -s * u + c * y])))
    space = shapely.unary_union(copies)
    # Swept about +y; turn so the space sits at +pi/teeth and tooth 0 is centred on +x.
    space = affinity.rotate(space, math.pi / teeth - math.pi / 2, origin=(0, 0), use_radians=True)
    if not whole:
        return GeneratedGear(module, teeth, r, ra, rf, None, space)
    spaces = [
        affinity.rotate(space, k * 2 * math.pi / teeth, origin=(0, 0), use_radians=True) for k in range(teeth)
    ]
    blank = shapely.Point(0, 0).buffer(ra, quad_segs=arc_segments // 4)
    gear = blank.difference(shapely.unary_union(spaces))
    return GeneratedGear(module, teeth, r, ra, rf, gear, space)


def half_thickness(gear: GeneratedGear, radii: np.ndarray) -> np.ndarray:
    """Polar half-angle of tooth 0 at each radius (rad): the tooth spans [-h, h] about +x.

    Read off the swept space: at radius R the space covers angles pi/z +- s(R), so h = pi/z - s.
    0 where the space covers the whole pitch (no tooth left), nan above the blank.
    """
    half_pitch = math.pi / gear.teeth
    radii = np.asarray(radii, dtype=float)
    s = np.zeros_like(radii)
    geoms = shapely.get_parts(gear.space)
    for geom in geoms:
        for ring in [geom.exterior, *geom.interiors]:
            xy = shapely.get_coordinates(ring)
            rho = np.hypot(xy[:, 0], xy[:, 1])
            ang = np.arctan2(xy[:, 1], xy[:, 0]) - half_pitch
            r0, r1 = rho[:-1], rho[1:]
            a0, a1 = ang[:-1], ang[1:]
            lo, hi = np.minimum(r0, r1), np.maximum(r0, r1)
            # Crossings of every segment with every circle (segments x radii), angle by linear interpolation.
            cross = (lo[:, None] <= radii[None, :]) & (hi[:, None] > radii[None, :])
            seg, k = np.nonzero(cross)
            if len(seg) == 0:
                continue
            f = (radii[k] - r0[seg]) / (r1[seg] - r0[seg])
            off = np.abs(a0[seg] + f * (a1[seg] - a0[seg]))
            near = off < 2 * half_pitch  # the space's own edges, not a far-away sweep tail
            np.maximum.at(s, k[near], off[near])
    h = half_pitch - s
    h = np.maximum(h, 0.0)
    h[radii > gear.tip_radius] = np.nan
    return h
