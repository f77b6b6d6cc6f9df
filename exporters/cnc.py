"""2.5D profile cutting G-code for flat parts: CNC router (end mill) and laser / waterjet.

Geometry in mm, feeds in mm/min. The stock's top face is Z = 0 and the part is cut through to
Z = -thickness. Every contour is cut at one tool radius (half the kerf for a beam) from the part:

- holes are cut inside, counter-clockwise, before the outside of their part (so the part is still held);
  in general contours are cut inside out (smallest enclosed area first), so a part nested in another
  part's hole is cut before that hole;
- each part's outside is cut outside, clockwise (both are climb milling with a clockwise spindle);
- end mills cut in equal depth passes no deeper than ``depth_per_pass_mm``; the last reaches -thickness;
- holding tabs (outside contours only): on passes below the tab top the tool rises to
  ``-(thickness - tab_height_mm)`` over each tab; a beam switches off over each tab (a micro-joint);
- a straight lead-in from a point away from the material (shortened if space is tight), where the tool
  plunges / the beam pierces, and the same line back out.

A tool that cannot make a feature raises ExportError naming it: a hole smaller than the tool, a gap or
inner corner narrower than the tool that would leave material, parts closer together than the tool.
Flavours: ``grbl`` and ``linuxcnc`` (both parse with pygcode, which follows the LinuxCNC dialect).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.ops import nearest_points, polylabel

from exporters.atomic import atomic_open
from exporters.errors import ExportError
from exporters.outline import Outline
from exporters.tools import Tool, load_tool

FLAVORS = ("grbl", "linuxcnc")
QUAD_SEGS = 16  # arc segments per quarter circle in offsets: chord error 0.12 % of the radius
# Uncut material left by a tool that is too big counts as a defect when it reaches deeper than this
# fraction of the tool radius from the tool's edge: a 90-degree inner corner leaves 0.41 r (accepted),
# a corner sharper than about 84 degrees or a gap narrower than the tool leaves more.
LEFTOVER_DEPTH = 0.5
# A tool path may come this much closer to the part than the tool radius: the chords of the offset arcs
# (0.12 % of r at QUAD_SEGS) and, on finely sampled outlines (a generated gear: 70k points), the offset's
# vertex-to-vertex shortcuts. Under 1 um is below what a router or laser positions to.
GOUGE_TOLERANCE_MM = 1e-3
GOUGE_TOLERANCE_RADII = 2e-3
DEFAULT_TABS = 4
MAX_COMMENT = 70


@dataclass(frozen=True)
class Contour:
    """One closed tool path: ``kind`` "hole" or "outside", ``path`` (n, 2) closed polyline in cutting
    order (first point repeated at the end), ``lead_in`` (2,) the entry point, ``label`` for messages."""

    kind: str
    path: np.ndarray
    lead_in: np.ndarray
    label: str


def _where(geom) -> str:
    p = geom.representative_point()
    return f"({p.x:.2f}, {p.y:.2f}) mm"


def _segments(geom) -> np.ndarray:
    """Every straight segment of ``geom``'s linework (a polygon's boundary) as 2-point LineStrings."""
    lines = geom if geom.geom_type in ("LineString", "LinearRing", "MultiLineString") else geom.boundary
    pieces = [np.asarray(part.coords) for part in shapely.get_parts(lines)]
    return shapely.linestrings(np.concatenate([np.stack([c[:-1], c[1:]], axis=1) for c in pieces]))


def _distances(points: np.ndarray, geom) -> np.ndarray:
    """Distance of each (x, y) in ``points`` to ``geom``'s linework, through an R-tree of its segments.

    GEOS measures point-to-line distance against every vertex: a generated gear's 70k-point outline took
    minutes here; the tree takes about a second."""
    tree = shapely.STRtree(_segments(geom))
    (which, _), d = tree.query_nearest(shapely.points(points), return_distance=True, all_matches=False)
    out = np.empty(len(points))
    out[which] = d
    return out


def _gap(path: np.ndarray, parts) -> float:
    """Distance between a tool path (closed polyline) and the parts (0 where it crosses or lies inside one).

    Two polylines that do not cross are closest at a vertex of one of them, so both vertex sets are
    measured against the other's segments."""
    line = LineString(path)
    if shapely.intersects(line, parts):
        return 0.0
    boundary = shapely.get_coordinates(parts.boundary)
    return float(min(_distances(path, parts).min(), _distances(boundary, line).min()))


def _check_leftover(region, path_line, r: float, message: str) -> None:
    """Raise ``message`` (formatted with the place) when the tool leaves material deeper than
    ``LEFTOVER_DEPTH * r`` in ``region`` (material the offset path cannot reach)."""
    if region.is_empty:
        return
    pts = shapely.points(shapely.get_coordinates(shapely.segmentize(region, r / 8)))
    depth = _distances(shapely.get_coordinates(pts), path_line) - r
    worst = int(np.argmax(depth))
    if depth[worst] > LEFTOVER_DEPTH * r:
        raise ExportError(message.format(where=f"({pts[worst].x:.2f}, {pts[worst].y:.2f}) mm"))


def _ring_path(ring_coords: np.ndarray, clockwise: bool) -> np.ndarray:
    pts = np.asarray(ring_coords, dtype=np.float64)[:, :2]
    ccw = shapely.is_ccw(shapely.linearrings(pts))
    if ccw == clockwise:
        pts = pts[::-1]
    return pts


def _lead_in(start: np.ndarray, parts: MultiPolygon, length: float, r: float) -> np.ndarray:
    """Entry point away from the material, on the line from the nearest part point through ``start``."""
    near = np.asarray(nearest_points(parts.boundary, Point(start))[0].coords[0])
    away = start - near
    norm = np.linalg.norm(away)
    if norm == 0 or length == 0:
        return start.copy()
    away /= norm
    for scale in (1.0, 0.5, 0.25, 0.125):
        cand = start + away * length * scale
        if LineString([cand, start]).distance(parts) >= r * (1 - 2e-3):
            return cand
    return start.copy()


def toolpaths(outline: Outline, tool: str | os.PathLike[str] | Tool) -> list[Contour]:
    """Tool-radius-compensated contours of ``outline`` for ``tool``, in cutting order (inside out)."""
    if not isinstance(outline, Outline):
        raise ExportError(f"expected an Outline, got {type(outline).__name__}")
    tool = load_tool(tool)
    r = tool.radius_mm
    parts = outline.polygons
    contours: list[Contour] = []
    for pi, poly in enumerate(parts.geoms, start=1):
        part_label = f"part {pi}" if len(parts.geoms) > 1 else "the part"
        for hi, ring in enumerate(poly.interiors, start=1):
            hole = Polygon(ring)
            label = f"hole {hi} of {part_label}"
            inner = hole.buffer(-r, quad_segs=QUAD_SEGS)
            centre = polylabel(hole, tolerance=r / 100)
            width = 2 * hole.exterior.distance(centre)
            if inner.is_empty or width <= tool.diameter_mm * (1 + 1e-3):
                raise ExportError(
                    f"{label} at ({centre.x:.2f}, {centre.y:.2f}) mm is about {width:.2f} mm across, "
                    f"smaller than the tool {tool.name} ({tool.diameter_mm} mm)"
                )
            _check_leftover(
                hole.difference(inner.buffer(r, quad_segs=QUAD_SEGS)),
                inner.boundary,
                r,
                f"{label}: a gap or corner near {{where}} is narrower than the tool {tool.name} "
                f"({tool.diameter_mm} mm) and would be left uncut",
            )
            for piece in shapely.get_parts(inner):
                contours.append(
                    Contour("hole", _ring_path(piece.exterior.coords, clockwise=False), None, label)
                )
        shell = Polygon(poly.exterior)
        outside = shell.buffer(r, quad_segs=QUAD_SEGS)
        _check_leftover(
            outside.buffer(-r, quad_segs=QUAD_SEGS).difference(shell),
            outside.exterior,
            r,
            f"{part_label}: a gap or inner corner near {{where}} is narrower than the tool {tool.name} "
            f"({tool.diameter_mm} mm) and would be left uncut",
        )
        contours.append(
            Contour("outside", _ring_path(outside.exterior.coords, clockwise=True), None, part_label)
        )
    out = []
    # Inside out: a contour encloses only smaller ones, so ascending enclosed area cuts every hole before
    # its part's outside, and a part nested in another part's hole before the hole frees its slug.
    shapely.prepare(parts)
    for c in sorted(contours, key=lambda c: Polygon(c.path).area):
        gap = _gap(c.path, parts)
        if gap < r - max(GOUGE_TOLERANCE_RADII * r, GOUGE_TOLERANCE_MM):
            raise ExportError(
                f"the tool path around {c.label} passes {gap:.2f} mm from the part near "
                f"{_where(LineString(c.path).buffer(r).intersection(parts))}, closer than the tool radius "
                f"{r:.3f} mm: parts or features are closer together than the tool {tool.name}"
            )
        start = c.path[0]
        out.append(Contour(c.kind, c.path, _lead_in(start, parts, tool.lead_in_mm, r), c.label))
    return out


def _split_tabs(path: np.ndarray, n_tabs: int, tab_len: float) -> list[tuple[np.ndarray, bool]]:
    """Cut a closed path into runs (points, over_tab) with ``n_tabs`` tab intervals of ``tab_len`` each."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    total = dist[-1]
    if n_tabs <= 0 or total <= 0:
        return [(path, False)]
    n_tabs = min(n_tabs, int(total / (2 * tab_len)))
    if n_tabs == 0:
        return [(path, False)]
    centres = total * (np.arange(n_tabs) + 0.5) / n_tabs
    cuts = np.sort(np.concatenate([centres - tab_len / 2, centres + tab_len / 2]))
    all_d = np.unique(np.concatenate([dist, cuts]))
    pts = np.column_stack([np.interp(all_d, dist, path[:, 0]), np.interp(all_d, dist, path[:, 1])])
    runs: list[tuple[np.ndarray, bool]] = []
    mids = (all_d[:-1] + all_d[1:]) / 2
    in_tab = np.zeros(len(mids), dtype=bool)
    for a, b in zip(cuts[0::2], cuts[1::2], strict=True):
        in_tab |= (mids > a) & (mids < b)
    start = 0
    for i in range(1, len(mids) + 1):
        if i == len(mids) or in_tab[i] != in_tab[start]:
            runs.append((pts[start : i + 1], bool(in_tab[start])))
            start = i
    return runs


class _Writer:
    """Accumulates G-code lines and the cut length / time estimate."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.cut_mm = 0.0
        self.time_s = 0.0
        self.pos = np.zeros(3)

    def emit(self, text: str) -> None:
        self.lines.append(text)

    def comment(self, text: str) -> None:
        """A parenthesised comment: no nested parentheses, and short enough for GRBL's 80-character lines."""
        clean = text.replace("(", "[").replace(")", "]")
        self.lines.append(f"({clean[:MAX_COMMENT]})")

    def move(self, code: str, x=None, y=None, z=None, feed: float | None = None) -> None:
        target = self.pos.copy()
        words = [code]
        for axis, value in enumerate((x, y, z)):
            if value is not None:
                target[axis] = value
                words.append(f"{'XYZ'[axis]}{value:.4f}")
        if feed is not None:
            words.append(f"F{feed:.0f}")
        if len(words) == 1 or (len(words) == 2 and feed is not None):
            return
        length = float(np.linalg.norm(target - self.pos))
        if code == "G1":
            self.cut_mm += length
            self.time_s += length / self._feed * 60.0 if feed is None else length / feed * 60.0
            if feed is not None:
                self._feed = feed
        self.pos = target
        self.lines.append(" ".join(words))

    _feed = 1.0


def cnc_gcode(
    outline: Outline,
    tool: str | os.PathLike[str] | Tool = "endmill-3.175-wood",
    flavor: str = "grbl",
    tabs: int | None = None,
) -> tuple[str, dict]:
    """G-code text and a summary dict for cutting ``outline`` with ``tool`` (see the module docstring).

    ``tabs``: holding tabs per outside contour; None = 4 when the tool profile defines tab sizes
    (``tab_width_mm`` and, for end mills, ``tab_height_mm``), 0 = none.
    """
    if flavor not in FLAVORS:
        raise ExportError(f"unknown G-code flavor {flavor!r}; choose one of {', '.join(FLAVORS)}")
    tool = load_tool(tool)
    thickness = float(outline.thickness_mm) if isinstance(outline, Outline) else 0.0
    contours = toolpaths(outline, tool)
    has_tab_size = tool.tab_width_mm > 0 and (tool.is_beam or tool.tab_height_mm > 0)
    n_tabs = (DEFAULT_TABS if has_tab_size else 0) if tabs is None else int(tabs)
    if n_tabs < 0:
        raise ExportError(f"tabs must be >= 0, got {tabs}")
    if n_tabs and not has_tab_size:
        raise ExportError(f"tool {tool.name} defines no tab size (tab_width_mm / tab_height_mm)")
    if n_tabs and not tool.is_beam and tool.tab_height_mm >= thickness:
        raise ExportError(
            f"tab height {tool.tab_height_mm} mm is not below the part thickness {thickness} mm"
        )
    if tool.is_beam:
        depths = [0.0] * tool.passes
    else:
        n_pass = max(1, math.ceil(thickness / tool.depth_per_pass_mm - 1e-9))
        depths = [-thickness * (i + 1) / n_pass for i in range(n_pass)]
    tab_top = -(thickness - tool.tab_height_mm)
    tab_len = tool.tab_width_mm + tool.diameter_mm

    w = _Writer()
    w.comment(f"bits2atoms 2.5D profile: {len(contours)} contours, thickness {thickness:.3f} mm")
    w.comment(f"tool {tool.name}: {tool.kind}, diameter {tool.diameter_mm} mm, flavor {flavor}")
    w.emit("G21")
    w.emit("G90")
    w.emit("G17")
    w.emit("G94")
    if flavor == "linuxcnc":
        w.emit("G40")
        w.emit("G64 P0.01")
    power = f"S{tool.power_percent * tool.max_s / 100:.0f}"
    beam_on = ("M4 " if flavor == "grbl" and tool.kind == "laser" else "M3 ") + power
    if not tool.is_beam:
        w.move("G0", z=tool.safe_z_mm)
        w.emit(f"M3 S{tool.spindle_rpm:.0f}")
    for c in contours:
        runs = _split_tabs(c.path, n_tabs if c.kind == "outside" else 0, tab_len)
        w.comment(f"cut {c.label}, {'inside' if c.kind == 'hole' else 'outside'}")
        w.move("G0", x=c.lead_in[0], y=c.lead_in[1])
        for z in depths:
            if tool.is_beam:
                w.emit(beam_on)
            else:
                w.move("G1", z=z, feed=tool.plunge_mm_min)
            w.move("G1", x=c.path[0, 0], y=c.path[0, 1], feed=tool.feed_mm_min)
            for pts, over_tab in runs:
                lift = over_tab and (tool.is_beam or z < tab_top - 1e-9)
                if lift and tool.is_beam:
                    w.emit("M5")
                    w.move("G0", x=pts[-1, 0], y=pts[-1, 1])
                    w.emit(beam_on)
                    continue
                if lift:
                    w.move("G1", z=tab_top, feed=tool.plunge_mm_min)
                first = True
                for x, y in pts[1:]:
                    w.move("G1", x=x, y=y, feed=tool.feed_mm_min if first else None)
                    first = False
                if lift:
                    w.move("G1", z=z, feed=tool.plunge_mm_min)
            w.move("G1", x=c.lead_in[0], y=c.lead_in[1], feed=tool.feed_mm_min)
            if tool.is_beam:
                w.emit("M5")
        if not tool.is_beam:
            w.move("G0", z=tool.safe_z_mm)
    if not tool.is_beam:
        w.emit("M5")
    w.emit("M2")
    summary = {
        "tool": tool.name,
        "kind": tool.kind,
        "flavor": flavor,
        "holes": sum(c.kind == "hole" for c in contours),
        "outsides": sum(c.kind == "outside" for c in contours),
        "passes": len(depths),
        "pass_depths_mm": depths,
        "tabs_per_outside": n_tabs,
        "cut_length_mm": round(w.cut_mm, 3),
        "estimated_time_s": round(w.time_s, 1),
    }
    return "\n".join(w.lines) + "\n", summary


def write_cnc(
    outline: Outline,
    path: str | os.PathLike[str],
    tool: str | os.PathLike[str] | Tool = "endmill-3.175-wood",
    flavor: str = "grbl",
    tabs: int | None = None,
) -> dict:
    """One call: write the profile-cutting G-code of ``outline`` to ``path``; return its summary."""
    text, summary = cnc_gcode(outline, tool=tool, flavor=flavor, tabs=tabs)
    with atomic_open(path, "w", encoding="ascii") as fh:
        fh.write(text)
    return summary


def export(
    outline: Outline,
    path: str | os.PathLike[str],
    tool: str | os.PathLike[str] | Tool | None = None,
    flavor: str = "grbl",
    tabs: int | None = None,
) -> dict:
    """The exporter entry point (exporters/__init__.py): ``write_cnc`` with the default tool when none is given."""
    options = {"flavor": flavor, "tabs": tabs} | ({} if tool is None else {"tool": tool})
    return write_cnc(outline, path, **options)
